/*
 * End-to-end test harness: real `eml host` and `eml enclave --nsm sim` processes on Unix sockets
 * in a fresh temporary folder, optionally with recording proxies in the test process on every
 * connection of the host, so a test sees every byte the host receives and sends:
 *
 *   client ──► [rec client] ──► host ──► [rec enclave] ──► enclave
 *                                host ◄── [rec channel] ◄── enclave (blob fetch, audit)
 *
 * The harness starts and stops the processes itself (SIGTERM, then SIGKILL after a bounded
 * wait) and leaves none behind. Not thread-safe; one harness per test.
 */
#ifndef EML_TEST_E2E_H
#define EML_TEST_E2E_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct eml_rec eml_rec;

/* Bytes seen by a recording proxy: up = towards the target, down = back from it, each the
 * concatenation over all connections in order. */
typedef struct eml_rec_bytes {
	uint8_t *up, *down;
	size_t up_len, down_len;
	int conns;
} eml_rec_bytes;

typedef struct eml_e2e_opts {
	int record;         /* put recording proxies on the host's three connections */
	int max_concurrent; /* enclave --max-concurrent (0 = default) */
	int no_sandbox;     /* enclave --no-sandbox */
	int idle_timeout_ms;
	const char *extra_enclave_arg; /* one extra flag for the enclave, or NULL */
	const char *extra_enclave_val;
	const char *enclave_bin; /* another eml build for the enclave (test variants), or NULL */
	const char *enclave_env; /* one extra "NAME=VALUE" for the enclave's environment, or NULL */
	int audit;               /* host --audit-log DIR/audit.log (path in eml_e2e.audit_log) */
	const char *audit_rotate_bytes;  /* host --audit-rotate-bytes, or NULL */
	int audit_no_fsync;              /* host --audit-fsync none */
	const char *const *host_args;    /* extra host flags and values, NULL-terminated, or NULL */
	const char *const *enclave_args; /* the same for the enclave */
	const char *extra_host_arg;      /* one extra flag for the host (with its value), or NULL */
	const char *extra_host_val;
} eml_e2e_opts;

typedef struct eml_e2e {
	char dir[512];
	char client_addr[600]; /* what clients connect to (the proxy when recording) */
	char host_listen[600], enclave_listen[600], channel_listen[600];
	char store[600], policy[600], sim_ca[600];
	char enclave_cwd[600], enclave_home[600]; /* the enclave runs here, with HOME there */
	pid_t host_pid, enclave_pid;
	eml_rec *rec_client, *rec_enclave, *rec_channel;
	char audit_log[600]; /* set when opts.audit */
} eml_e2e;

/* Start everything and write a policy pinned to the simulated enclave. 0 on success. */
int eml_e2e_start(eml_e2e *e, const eml_e2e_opts *o);
/* A blocking connection to a Unix socket path; -1 on failure. */
int eml_e2e_unix_connect(const char *path);
/* Stop the processes and proxies, remove the folder. Safe on a failed start. */
void eml_e2e_stop(eml_e2e *e);
/* Restart only the enclave (e.g. after a test killed it). */
int eml_e2e_restart_enclave(eml_e2e *e, const eml_e2e_opts *o);
/* Restart only the host on the same addresses and store, with the host options of o (audit log,
 * host_args; o may be NULL), e.g. after a test killed it (then set host_pid to 0 after reaping
 * it yourself). */
int eml_e2e_restart_host(eml_e2e *e, const eml_e2e_opts *o);

/* Snapshot of a proxy's recording (copies; free with eml_rec_bytes_free). */
void eml_rec_snapshot(eml_rec *r, eml_rec_bytes *out);
void eml_rec_bytes_free(eml_rec_bytes *b);
/* Forget everything recorded so far. */
void eml_rec_clear(eml_rec *r);

/* Run `eml ARGS...` (NULL-terminated), capturing stdout+stderr into out (NUL-terminated, may be
 * NULL); returns the exit status (or 128+signal), -1 on spawn failure. Bounded by timeout_ms. */
int eml_e2e_run(char *out, size_t out_cap, int timeout_ms, const char *arg0, ...);

/* Concatenation of every regular file under dir (recursive), eml_alloc'd. */
int eml_e2e_read_tree(const char *dir, uint8_t **out, size_t *len);

/* Read every readable mapping of process pid (/proc/PID/maps + /proc/PID/mem) into one
 * eml_alloc'd buffer (regions separated by 16 zero bytes so windows never span two regions). */
int eml_e2e_read_process_memory(pid_t pid, uint8_t **out, size_t *len);

/* For failure messages: the /proc/PID/maps line of the first mapping where some window of set
 * occurs, and the offset in it (writes "" when none). */
struct eml_window_set;
void eml_e2e_locate(pid_t pid, const struct eml_window_set *set, char *out, size_t cap);

#endif
