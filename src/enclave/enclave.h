/*
 * The enclave daemon (`eml enclave`): per-boot keys, attestation, sessions, one inference per
 * request, every byte wiped (DESIGN §2, §5-7; docs/PROTOCOL.md).
 *
 * Start-up: harden the process (not dumpable, no core), generate the per-boot HPKE (X25519) key
 * and the Ed25519 receipt/audit key, open the NSM, listen, enter the seccomp sandbox. Then one
 * thread per client connection (a session: hello → attestation document carrying the client's
 * nonce, the HPKE key as public_key and the Ed25519 key bound in user_data → requests in
 * sequence). Each request: open (HPKE), fetch the weight blob for its model id from the host over
 * the host channel, join, plan, run, seal the outputs to the client, wipe. At most max_concurrent
 * requests run at once; one more is refused with ENCLAVE_BUSY. Any refusal sends an ERROR frame
 * with the code (fixed generic text) and closes that connection; the daemon keeps serving.
 *
 * Audit (docs/AUDIT.md): at start the enclave asks its NSM for a document binding the Ed25519 key
 * and emits the start record carrying it; then one signed, hash-chained record per security event
 * (attestation served, request stages, refusals, session close, stop), sent in chain order over
 * the host channel (queued while the host is away). Each response carries a signed receipt.
 */
#ifndef EML_ENCLAVE_ENCLAVE_H
#define EML_ENCLAVE_ENCLAVE_H

#include <signal.h>
#include <stdint.h>

#include "wire/frame.h"

typedef struct eml_enclave_config {
	const char *listen;       /* client port (the host forwards to it) */
	const char *host_channel; /* the host's enclave-channel address (blobs, audit) */
	const char *nsm_mode;     /* auto | device | sim */
	const char *sim_ca_dir;   /* sim only; NULL = default */
	int threads;              /* engine threads per request; 0 = all cores */
	int max_concurrent;       /* requests running at once */
	int max_conns;            /* client connections at once */
	uint64_t max_memory;      /* per-request arena limit; 0 = none */
	int no_sandbox;           /* debugging only: skip seccomp (loud) */
	int idle_timeout_ms;      /* a connection silent this long is closed */
	int io_timeout_ms;        /* one frame, and one host-channel exchange */
	eml_frame_limits limits;
	uint64_t
	    blob_cache_bytes; /* fetched ciphertext kept across requests; 0 = fetch every time */
	uint64_t arena_pool_bytes; /* wiped locked memory kept for the next request; 0 = unmap */
} eml_enclave_config;

void eml_enclave_config_defaults(eml_enclave_config *c);

/* Serve until *stop becomes non-zero. Returns EML_OK after a requested stop, or the start-up
 * failure. When ready, prints one line "eml enclave: ready" on stderr (info level or not). */
int eml_enclave_run(const eml_enclave_config *c, const volatile sig_atomic_t *stop);

#endif
