/*
 * Fault scenarios of issue 10 (docs/RELIABILITY.md), each bounded and loopback-only, through real
 * `eml host` and `eml enclave --nsm sim` processes on Unix sockets (e2e harness):
 *
 *  1. the enclave is killed (SIGKILL) mid-request: clear errors, the host keeps serving and
 *     reconnects to the new enclave, store and audit log intact;
 *  2. the host is killed mid-upload: no partial blob is ever visible, the retried upload works;
 *  3. slow and hostile peers against the host and the enclave listener;
 *  4. the store runs out of space (quota, and a real EFBIG through RLIMIT_FSIZE);
 *  5. a corrupted blob on disk is refused (by the host's digest check, and by the enclave's own
 *     check when the host serves it anyway);
 *  6. per-request limits in the enclave: input elements, memory, time.
 *
 * Figures (times to detect, counts) are printed on stderr for docs/RELIABILITY.md.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "e2e.h"
#include "host/store.h"
#include "e2e_case.h"
#include "engine/engine.h"
#include "eml/client.h"
#include "model/model.h"
#include "net/addr.h"
#include "net/sock.h"
#include "prop.h"
#include "topo/topo.h"
#include "wire/frame.h"
#include "wire/msg.h"

/* ------------------------------------------------------------------ helpers */

static int64_t now_ms(void)
{
	return eml_net_now_ms();
}

/* A test-only variant of eml next to it (eml-test-hooks, eml-test-nowipe). */
static void variant_bin(const char *name, char *bin, size_t cap)
{
	snprintf(bin, cap, "%s", eml_test_bin());
	char *slash = strrchr(bin, '/');
	cr_assert_not_null(slash);
	snprintf(slash + 1, cap - (size_t)(slash + 1 - bin), "eml-test-%s", name);
	cr_assert_eq(access(bin, X_OK), 0, "%s is missing (built with the tests)", bin);
}

static void hooks_bin(char *bin, size_t cap)
{
	variant_bin("hooks", bin, cap);
}

static int infer_case_timeout(const char *addr, const char *policy, eml_case *c, int timeout_ms)
{
	eml_client *cl = NULL;
	eml_client_result *r = NULL;
	eml_client_opts o = {.host = addr, .policy_path = policy, .timeout_ms = timeout_ms};
	int rc = eml_client_connect(&o, &cl);
	if (rc == EML_OK)
		rc = eml_client_infer(cl, c->tkey, c->tkey_len, c->in, c->info.n_inputs, &r);
	eml_client_result_free(r);
	eml_client_free(cl);
	return rc;
}

static int infer_case(eml_e2e *e, eml_case *c)
{
	return infer_case_timeout(e->client_addr, e->policy, c, 30000);
}

/* Wait until the peer closes fd (EOF or reset), reading and discarding; returns the time it took
 * in ms, or -1 past timeout_ms. *error_code gets the code of an ERROR frame seen first (0 if
 * none). */
static int64_t wait_closed(int fd, int timeout_ms, int *error_code)
{
	int64_t t0 = now_ms();
	uint8_t buf[4096];
	size_t have = 0;
	uint8_t first[16];
	if (error_code != NULL)
		*error_code = 0;
	for (;;) {
		int64_t left = t0 + timeout_ms - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {fd, POLLIN, 0};
		int k = poll(&p, 1, (int)left);
		if (k <= 0)
			continue;
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r > 0) {
			for (ssize_t i = 0; i < r && have < sizeof(first); i++)
				first[have++] = buf[i];
			if (error_code != NULL && *error_code == 0 && have >= 7 &&
			    first[4] == EML_FT_ERROR)
				*error_code = first[5] << 8 | first[6];
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return now_ms() - t0;
	}
}

static void send_all(int fd, const void *p, size_t n)
{
	cr_assert_eq(eml_net_write_all(fd, p, n, now_ms() + 5000), EML_OK);
}

static void frame_header(uint8_t h[EML_FRAME_HEADER_LEN], uint32_t len, uint8_t type)
{
	h[0] = (uint8_t)(len >> 24), h[1] = (uint8_t)(len >> 16), h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)len, h[4] = type;
}

static int count_entries(const char *dir, int *temps)
{
	DIR *d = opendir(dir);
	int n = 0;
	*temps = 0;
	if (d == NULL)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strstr(de->d_name, ".tmp-") != NULL)
			(*temps)++;
		else
			n++;
	}
	closedir(d);
	return n;
}

/* Every blob under its final name in store/blobs is complete: its SHA-256 is its name. */
static int blobs_all_complete(const char *store, int *n_final)
{
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/blobs", store);
	DIR *d = opendir(dir);
	*n_final = 0;
	if (d == NULL)
		return 1; /* no blobs folder: nothing visible */
	struct dirent *de;
	int ok = 1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp-") != NULL)
			continue;
		char p[1400], hex[65];
		uint8_t *b = NULL, dg[32];
		size_t n = 0;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (eml_file_read(p, (size_t)1 << 30, &b, &n) != EML_OK) {
			ok = 0;
			continue;
		}
		eml_sha256(b, n, dg);
		eml_hex(dg, 32, hex);
		if (strcmp(hex, de->d_name) != 0)
			ok = 0;
		(*n_final)++;
		eml_free(b);
	}
	closedir(d);
	return ok;
}

static int host_alive(eml_e2e *e)
{
	return e->host_pid > 0 && waitpid(e->host_pid, NULL, WNOHANG) == 0 &&
	       kill(e->host_pid, 0) == 0;
}

static int enclave_alive(eml_e2e *e)
{
	return e->enclave_pid > 0 && waitpid(e->enclave_pid, NULL, WNOHANG) == 0 &&
	       kill(e->enclave_pid, 0) == 0;
}

static void kill9(pid_t *pid)
{
	cr_assert_gt(*pid, 0);
	cr_assert_eq(kill(*pid, SIGKILL), 0);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

static int fd_count(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(p);
	int n = 0;
	if (d == NULL)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int file_contains(const char *path, const char *needle)
{
	uint8_t *b = NULL;
	size_t n = 0;
	if (eml_file_read(path, 1 << 24, &b, &n) != EML_OK)
		return 0;
	uint8_t *z = eml_alloc(n + 1);
	memcpy(z, b, n);
	z[n] = 0;
	int found = strstr((char *)z, needle) != NULL;
	eml_free(z);
	eml_free(b);
	return found;
}

/* A generated case whose blob uploads; seeds are fixed so every run is the same. */
static void new_case(uint64_t seed, eml_case *c)
{
	eml_rng rng;
	eml_rng_seed(&rng, seed);
	cr_assert_eq(eml_case_new(&rng, 2, c), 0);
}

struct bg {
	const char *addr, *policy;
	eml_case *c;
	int rc;
	int64_t done_ms;
};

static void *bg_main(void *arg)
{
	struct bg *b = arg;
	b->rc = infer_case_timeout(b->addr, b->policy, b->c, 30000);
	b->done_ms = now_ms();
	return NULL;
}

/* A slow model: K MatMul nodes in a chain, first X[N,N] @ W[N,N] (W the identity), then each
 * result times itself. With X all 1/N the values stay 1/N (no overflow, no denormals), each node
 * is ~2 N^3 flops, and only W is pre-packed (once), so assembly stays cheap and the run takes
 * about K times one node. */
static eml_model *chain_model(int n, int k)
{
	eml_model *m = eml_model_new();
	cr_assert_not_null(m);
	m->ir_version = 8;
	m->n_opsets = 1;
	m->opsets = eml_calloc(1, sizeof(eml_opset));
	m->opsets[0].domain = eml_strdup("");
	m->opsets[0].version = 13;
	m->n_values = (uint32_t)k + 2;
	m->values = eml_calloc(m->n_values, sizeof(eml_value));
	for (uint32_t v = 0; v < m->n_values; v++) {
		m->values[v].dtype = EML_DT_UNDEFINED;
		m->values[v].rank = -1;
		m->values[v].tensor = -1;
	}
	for (int v = 0; v < 2; v++) {
		m->values[v].dtype = EML_DT_FLOAT;
		m->values[v].rank = 2;
		m->values[v].dims[0].value = n;
		m->values[v].dims[1].value = n;
	}
	m->values[1].tensor = 0;
	m->n_tensors = 1;
	m->tensors = eml_calloc(1, sizeof(eml_tensor));
	m->tensors[0].dtype = EML_DT_FLOAT;
	m->tensors[0].rank = 2;
	m->tensors[0].dims[0] = n;
	m->tensors[0].dims[1] = n;
	m->tensors[0].length = (uint64_t)n * (uint64_t)n * 4;
	m->data_len = m->tensors[0].length;
	m->data = eml_calloc(1, m->data_len);
	for (int i = 0; i < n; i++)
		((float *)m->data)[(size_t)i * (size_t)n + (size_t)i] = 1.f;
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	eml_graph *g = &m->graphs[0];
	g->parent = -1;
	g->n_inputs = 1;
	g->inputs = eml_calloc(1, sizeof(int32_t));
	g->inputs[0] = 0;
	g->n_initializers = 1;
	g->initializers = eml_calloc(1, sizeof(int32_t));
	g->initializers[0] = 1;
	g->n_outputs = 1;
	g->outputs = eml_calloc(1, sizeof(int32_t));
	g->outputs[0] = k + 1;
	g->n_nodes = (uint32_t)k;
	g->nodes = eml_calloc((size_t)k, sizeof(eml_node));
	for (int i = 0; i < k; i++) {
		eml_node *nd = &g->nodes[i];
		nd->op_type = eml_strdup("MatMul");
		nd->domain = eml_strdup("");
		nd->n_inputs = 2;
		nd->n_outputs = 1;
		nd->inputs = eml_calloc(2, sizeof(int32_t));
		nd->outputs = eml_calloc(1, sizeof(int32_t));
		nd->inputs[0] = i == 0 ? 0 : i + 1;
		nd->inputs[1] = i == 0 ? 1 : i + 1;
		nd->outputs[0] = i + 2;
	}
	return m;
}

/* Run the chain locally (one thread) and return the run time in ms. */
static int64_t local_run_ms(const eml_model *m, const float *x, int n)
{
	eml_io_tensor in = {.dtype = EML_DT_FLOAT,
	                    .rank = 2,
	                    .dims = {n, n},
	                    .data = (const uint8_t *)x,
	                    .bytes = (uint64_t)n * (uint64_t)n * 4};
	eml_engine_opts eo = {.threads = 1};
	eml_plan *p = NULL;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, &eo, &p, NULL), EML_OK);
	int64_t t0 = now_ms();
	cr_assert_eq(eml_plan_run(p), EML_OK);
	int64_t ms = now_ms() - t0;
	eml_plan_free(p);
	return ms;
}

/* A case from the chain model (inputs x, n*n floats, owned by the caller). */
static void chain_case(int n, int k, const float *x, eml_case *c)
{
	memset(c, 0, sizeof(*c));
	eml_model *m = chain_model(n, k);
	eml_decompose_opts d = {0};
	cr_assert_eq(eml_topo_decompose(m, &d, &c->tkey, &c->tkey_len, &c->blob, &c->blob_len),
	             EML_OK);
	eml_model_free(m);
	c->info.n_inputs = 1;
	c->in[0] = (eml_client_tensor){.dtype = EML_DT_FLOAT,
	                               .rank = 2,
	                               .dims = {n, n},
	                               .data = x,
	                               .bytes = (uint64_t)n * (uint64_t)n * 4};
}

static void chain_case_free(eml_case *c)
{
	eml_free(c->tkey);
	eml_free(c->blob);
	memset(c, 0, sizeof(*c));
}

/* All about 1/n (within 10 %, random, so its bytes are distinctive for memory scans): X @ X
 * stays near 1/n, with no overflow and no denormals. */
static float *chain_input(int n)
{
	float *x = malloc((size_t)n * (size_t)n * 4);
	cr_assert_not_null(x);
	eml_rng r;
	eml_rng_seed(&r, (uint64_t)n);
	for (int i = 0; i < n * n; i++)
		x[i] = eml_rng_float(&r, 0.9f, 1.1f) / (float)n;
	return x;
}

/* ------------------------------------------------------------------ 1. enclave killed */

/* The enclave (eml-test-hooks, holding each request 10 s after its run) is killed by SIGKILL
 * while two sessions have a request in flight and a third session is open but idle. */
Test(faults, enclave_killed_mid_request, .timeout = 120)
{
	char bin[4096];
	hooks_bin(bin, sizeof(bin));
	eml_e2e e;
	eml_e2e_opts held = {
	    .enclave_bin = bin, .enclave_env = "EML_TEST_HOLD_AFTER_RUN_MS=10000", .audit = 1};
	eml_e2e_opts normal = {.enclave_bin = bin, .audit = 1};
	cr_assert_eq(eml_e2e_start(&e, &held), 0, "could not start host and enclave");
	eml_case c;
	new_case(101, &c);
	cr_assert_eq(eml_host_upload(e.client_addr, c.blob, c.blob_len, 10000, NULL), EML_OK);
	uint8_t *store_before = NULL, *store_after = NULL;
	size_t sb_len = 0, sa_len = 0;
	cr_assert_eq(eml_e2e_read_tree(e.store, &store_before, &sb_len), 0);

	/* An idle, established session. */
	eml_client *idle = NULL;
	eml_client_opts co = {.host = e.client_addr, .policy_path = e.policy, .timeout_ms = 30000};
	cr_assert_eq(eml_client_connect(&co, &idle), EML_OK);
	/* Two requests in flight, held inside the enclave. */
	struct bg b[2];
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		b[i] = (struct bg){.addr = e.client_addr, .policy = e.policy, .c = &c};
		cr_assert_eq(pthread_create(&t[i], NULL, bg_main, &b[i]), 0);
	}
	usleep(2000 * 1000);
	int64_t killed_at = now_ms();
	kill9(&e.enclave_pid);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(b[i].rc, EML_E_HOST_UNAVAILABLE, "in-flight request %d: %s", i,
		             eml_err_name(b[i].rc));
		cr_assert_lt(b[i].done_ms - killed_at, 2000, "in-flight request %d took %lld ms", i,
		             (long long)(b[i].done_ms - killed_at));
	}
	fprintf(stderr, "faults: enclave killed: in-flight requests failed after %lld / %lld ms\n",
	        (long long)(b[0].done_ms - killed_at), (long long)(b[1].done_ms - killed_at));

	/* The idle session's next request: a clear error at once, not a hang. */
	eml_client_result *r = NULL;
	int64_t t0 = now_ms();
	int rc = eml_client_infer(idle, c.tkey, c.tkey_len, c.in, c.info.n_inputs, &r);
	int64_t idle_ms = now_ms() - t0;
	cr_assert_neq(rc, EML_OK);
	cr_assert(rc == EML_E_HOST_UNAVAILABLE || rc == EML_E_NET_CLOSED,
	          "idle session after the kill: %s", eml_err_name(rc));
	cr_assert_lt(idle_ms, 2000, "idle session took %lld ms", (long long)idle_ms);
	eml_client_free(idle);
	fprintf(stderr, "faults: enclave killed: idle session's next request: %s after %lld ms\n",
	        eml_err_name(rc), (long long)idle_ms);

	/* While no enclave listens: a new session is refused at once, the host stays up. */
	t0 = now_ms();
	rc = infer_case(&e, &c);
	cr_assert_eq(rc, EML_E_HOST_UNAVAILABLE, "new session without enclave: %s",
	             eml_err_name(rc));
	cr_assert_lt(now_ms() - t0, 2000);
	cr_assert(host_alive(&e), "the host died with the enclave");

	/* A new enclave on the same address: the host reaches it with no restart of its own. */
	cr_assert_eq(eml_e2e_restart_enclave(&e, &normal), 0);
	/* The policy pins the binary, not the boot: the same policy verifies the new enclave. */
	rc = infer_case(&e, &c);
	cr_assert_eq(rc, EML_OK, "after the enclave came back: %s", eml_err_name(rc));

	/* The store is byte-identical; the audit log verifies (the killed boot counts as
	 * unclosed, which the verifier reports without failing). */
	cr_assert_eq(eml_e2e_read_tree(e.store, &store_after, &sa_len), 0);
	cr_assert(sb_len == sa_len && memcmp(store_before, store_after, sb_len) == 0,
	          "the store changed");
	usleep(300 * 1000); /* the last records are on their way to the host */
	char out[16384];
	int st = eml_e2e_run(out, sizeof(out), 30000, "audit", "verify", e.audit_log, "--policy",
	                     e.policy, "--json", NULL);
	cr_assert_eq(st, 0, "audit verify: %s", out);
	cr_assert(strstr(out, "\"unclosed_boots\":1") != NULL ||
	              strstr(out, "\"unclosed_boots\": 1") != NULL,
	          "the killed boot is not reported as unclosed: %s", out);
	cr_assert(host_alive(&e));
	eml_e2e_stop(&e);
	eml_free(store_before);
	eml_free(store_after);
	eml_case_free(&c);
}

/* ------------------------------------------------------------------ 2. host killed */

/* Send an UPLOAD frame of blob: all of it, or only `part` bytes of the payload. */
static int upload_raw(const char *sock, const uint8_t *blob, size_t n, size_t part)
{
	int fd = eml_e2e_unix_connect(sock);
	cr_assert_geq(fd, 0);
	uint8_t h[EML_FRAME_HEADER_LEN];
	frame_header(h, (uint32_t)n, EML_FT_UPLOAD);
	send_all(fd, h, sizeof(h));
	send_all(fd, blob, part);
	return fd;
}

Test(faults, host_killed_mid_upload, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {0};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_case big;
	float *x = chain_input(1536);
	chain_case(1536, 1, x, &big); /* a 9 MiB weight */
	fprintf(stderr, "faults: host killed mid-upload: blob of %zu bytes\n", big.blob_len);
	cr_assert_gt(big.blob_len, (size_t)1 << 20);
	char blobs[700], models[700];
	snprintf(blobs, sizeof(blobs), "%s/blobs", e.store);
	snprintf(models, sizeof(models), "%s/models", e.store);
	int killed_in_write = 0, rounds = 0;
	/* Kill points: half of the payload sent; then the whole frame sent and the host killed
	 * 0, 5, 10, ... ms later (inside hashing, writing, fsync or renaming). */
	for (int k = -1; k < 8; k++, rounds++) {
		int fd = upload_raw(e.host_listen, big.blob, big.blob_len,
		                    k < 0 ? big.blob_len / 2 : big.blob_len);
		if (k > 0)
			usleep((useconds_t)k * 5000);
		kill9(&e.host_pid);
		close(fd);
		/* What a crash leaves on disk: at most temp files; every final name complete. */
		int n_final = 0, temps = 0;
		cr_assert(blobs_all_complete(e.store, &n_final),
		          "a partial blob is visible under its final name (kill point %d)", k);
		int n_models = count_entries(models, &temps);
		cr_assert_leq(n_models, n_final, "an index entry without its blob (kill point %d)",
		              k);
		count_entries(blobs, &temps);
		killed_in_write += temps > 0;
		/* Restart: temp files are swept, the store lists only complete entries. */
		cr_assert_eq(eml_e2e_restart_host(&e, &o), 0);
		cr_assert_eq(count_entries(blobs, &temps), n_final);
		cr_assert_eq(temps, 0, "temp files left after the restart");
		eml_store_entry *list = NULL;
		size_t count = 0;
		cr_assert_eq(eml_host_store_list(e.client_addr, 5000, &list, &count), EML_OK);
		for (size_t i = 0; i < count; i++)
			cr_assert_eq(list[i].size, big.blob_len,
			             "a listed blob has the wrong size");
		uint8_t id[EML_WIRE_MODEL_ID_LEN];
		if (count > 0)
			memcpy(id, list[0].model_id, sizeof(id));
		eml_free(list);
		/* Remove what got through, so the next round starts empty. */
		if (count > 0)
			cr_assert_eq(eml_host_store_remove(e.client_addr, id, 5000), EML_OK);
	}
	fprintf(stderr,
	        "faults: host killed mid-upload: %d kill points, %d of them left a temp file "
	        "(killed inside the write); no partial blob visible\n",
	        rounds, killed_in_write);
	/* The retried upload succeeds and the blob is served whole. */
	eml_store_entry ent;
	cr_assert_eq(eml_host_upload(e.client_addr, big.blob, big.blob_len, 20000, &ent), EML_OK);
	cr_assert_eq(ent.size, big.blob_len);
	int n_final = 0;
	cr_assert(blobs_all_complete(e.store, &n_final));
	cr_assert_eq(n_final, 1);
	eml_e2e_stop(&e);
	chain_case_free(&big);
	free(x);
}

/* ------------------------------------------------------------------ 3. hostile peers */

#define HS_MS 1500    /* handshake timeout given to host and enclave in these tests */
#define FRAME_MS 2500 /* host frame timeout */
#define IDLE_CONNS 1500

/* Open n connections to path, as fast as possible; returns how many opened. */
static int open_many(const char *path, int *fds, int n)
{
	int k = 0;
	for (; k < n; k++) {
		fds[k] = eml_e2e_unix_connect(path);
		if (fds[k] < 0)
			break;
	}
	return k;
}

/* Wait until every fd is closed by the peer; returns how many were, within timeout_ms. */
static int wait_all_closed(int *fds, int n, int timeout_ms, int64_t *last_ms)
{
	int64_t t0 = now_ms();
	int closed = 0;
	char *done = calloc((size_t)n, 1);
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	cr_assert(done != NULL && p != NULL);
	*last_ms = 0;
	while (closed < n && now_ms() - t0 < timeout_ms) {
		int m = 0;
		for (int i = 0; i < n; i++)
			if (!done[i])
				p[m++] = (struct pollfd){fds[i], POLLIN, 0};
		if (poll(p, (nfds_t)m, 100) <= 0)
			continue;
		for (int j = 0; j < m; j++) {
			if (!(p[j].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			uint8_t junk[256];
			ssize_t r = recv(p[j].fd, junk, sizeof(junk), MSG_DONTWAIT);
			if (r > 0)
				continue; /* an ERROR frame before the close */
			for (int i = 0; i < n; i++)
				if (fds[i] == p[j].fd && !done[i]) {
					done[i] = 1;
					closed++;
				}
			*last_ms = now_ms() - t0;
		}
	}
	free(done);
	free(p);
	return closed;
}

/* Raise RLIMIT_NOFILE for `want` connections plus margin, up to the hard limit; returns how
 * many connections the test can open (at least `least`, or the test fails). */
static int raise_nofile(int want, int least)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rlim_t need = (rlim_t)want + 256;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	int can = rl.rlim_cur > 256 ? (int)(rl.rlim_cur - 256) : 0;
	if (can > want)
		can = want;
	cr_assert_geq(can, least, "RLIMIT_NOFILE (hard %llu) leaves room for only %d connections",
	              (unsigned long long)rl.rlim_max, can);
	return can;
}

struct served {
	const char *addr, *policy;
	eml_case *c;
	int ok, fail;
	volatile int stop;
};

static void *serve_loop(void *arg)
{
	struct served *s = arg;
	while (!s->stop) {
		int rc = infer_case_timeout(s->addr, s->policy, s->c, 10000);
		if (rc == EML_OK)
			s->ok++;
		else {
			fprintf(stderr, "faults: normal client during the attack: %s\n",
			        eml_err_name(rc));
			s->fail++;
		}
	}
	return NULL;
}

Test(faults, hostile_peers_against_the_host, .timeout = 120)
{
	static const char *host_args[] = {"--handshake-timeout-ms",
	                                  "1500",
	                                  "--frame-timeout-ms",
	                                  "2500",
	                                  "--idle-timeout-ms",
	                                  "4000",
	                                  "--max-conns",
	                                  "256",
	                                  NULL};
	/* 1500, or what the descriptor limit allows, but at least 3x the host's cap. */
	int n_idle = raise_nofile(IDLE_CONNS, 768);
	eml_e2e e;
	eml_e2e_opts o = {.host_args = host_args};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_case c;
	new_case(303, &c);
	cr_assert_eq(eml_host_upload(e.client_addr, c.blob, c.blob_len, 10000, NULL), EML_OK);
	int base_fds = fd_count(e.host_pid);
	int code = 0;
	int64_t ms;
	uint8_t h[EML_FRAME_HEADER_LEN];

	/* A normal client keeps inferring during everything below. */
	struct served sv = {.addr = e.client_addr, .policy = e.policy, .c = &c};
	pthread_t st;
	cr_assert_eq(pthread_create(&st, NULL, serve_loop, &sv), 0);

	/* Slowloris on the first header: one byte every 400 ms. */
	int fd = eml_e2e_unix_connect(e.host_listen);
	cr_assert_geq(fd, 0);
	frame_header(h, 16, EML_FT_STORE_LIST);
	int64_t t0 = now_ms();
	int sent = 0;
	for (; sent < 5 && now_ms() - t0 < HS_MS + 2000; sent++) {
		if (send(fd, h + sent, 1, MSG_NOSIGNAL) != 1)
			break;
		usleep(400 * 1000);
	}
	ms = wait_closed(fd, 5000, NULL);
	cr_assert_geq(ms, 0, "a header trickle was not cut off");
	fprintf(stderr, "faults: slowloris (header, 1 B / 400 ms): closed %lld ms after connect\n",
	        (long long)(now_ms() - t0));
	cr_assert_lt(now_ms() - t0, HS_MS + 1500);
	close(fd);

	/* Slowloris inside a frame: an UPLOAD header announcing 1 MiB, then a trickle. */
	fd = eml_e2e_unix_connect(e.host_listen);
	frame_header(h, 1 << 20, EML_FT_UPLOAD);
	send_all(fd, h, sizeof(h));
	t0 = now_ms();
	while (now_ms() - t0 < FRAME_MS + 2000) {
		if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
			break;
		usleep(200 * 1000);
	}
	ms = wait_closed(fd, 3000, NULL);
	cr_assert_geq(ms, 0, "a payload trickle was not cut off");
	fprintf(stderr, "faults: slowloris (payload, 5 B/s): closed %lld ms after its header\n",
	        (long long)(now_ms() - t0));
	cr_assert_lt(now_ms() - t0, FRAME_MS + 1500);
	close(fd);

	/* Half-open: half a header, then the writing half shut: the host closes at once. */
	fd = eml_e2e_unix_connect(e.host_listen);
	send_all(fd, h, 2);
	shutdown(fd, SHUT_WR);
	ms = wait_closed(fd, 3000, NULL);
	cr_assert_geq(ms, 0);
	cr_assert_lt(ms, 1000, "half-closed peer kept %lld ms", (long long)ms);
	close(fd);
	/* Silent after connect: cut at the handshake timeout. */
	fd = eml_e2e_unix_connect(e.host_listen);
	ms = wait_closed(fd, HS_MS + 3000, NULL);
	cr_assert_geq(ms, HS_MS - 200);
	cr_assert_lt(ms, HS_MS + 1500);
	fprintf(stderr, "faults: silent connection: closed after %lld ms\n", (long long)ms);
	close(fd);

	/* Frames announcing gigabytes, for each first-frame kind: refused on the header. */
	const uint8_t types[] = {EML_FT_UPLOAD, EML_FT_CLIENT_HELLO, EML_FT_REQUEST,
	                         EML_FT_STORE_LIST};
	for (size_t i = 0; i < sizeof(types); i++) {
		fd = eml_e2e_unix_connect(e.host_listen);
		frame_header(h, 0xFFFFFFF0u, types[i]);
		send_all(fd, h, sizeof(h));
		ms = wait_closed(fd, 3000, &code);
		cr_assert_geq(ms, 0);
		cr_assert_eq(code, EML_E_FRAME_TOO_LARGE, "type %d: %s", types[i],
		             eml_err_name(code));
		cr_assert_lt(ms, 1000);
		close(fd);
	}

	/* Garbage after a valid frame: the valid one is answered, then ERROR, then close. */
	fd = eml_e2e_unix_connect(e.host_listen);
	uint8_t msg[EML_FRAME_HEADER_LEN + 64];
	frame_header(msg, 0, EML_FT_STORE_LIST);
	for (size_t i = EML_FRAME_HEADER_LEN; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(0xA5 ^ i * 37);
	send_all(fd, msg, sizeof(msg));
	eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;
	uint8_t type = 0, *payload = NULL;
	uint32_t len = 0;
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 5000, &type, &payload, &len), EML_OK);
	cr_assert_eq(type, EML_FT_STORE_LIST_RESULT);
	eml_free(payload);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 5000, &type, &payload, &len), EML_OK);
	cr_assert_eq(type, EML_FT_ERROR, "garbage after a valid frame was not refused");
	cr_assert_eq(eml_msg_error_decode(payload, len, &code), EML_OK);
	eml_free(payload);
	fprintf(stderr, "faults: garbage after a valid frame: answered, then ERROR %s\n",
	        eml_err_name(code));
	close(fd);

	/* Many idle connections (6x the cap): the oldest silent ones are evicted to make room,
	 * the rest are cut at the handshake timeout; the normal client is served throughout. */
	int *fds = calloc((size_t)n_idle, sizeof(int));
	cr_assert_not_null(fds);
	int ok_before = sv.ok;
	t0 = now_ms();
	int opened = open_many(e.host_listen, fds, n_idle);
	int64_t open_ms = now_ms() - t0;
	cr_assert_eq(opened, n_idle, "only %d connections opened", opened);
	int64_t last = 0;
	int closed = wait_all_closed(fds, opened, HS_MS + 4000, &last);
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	fprintf(stderr,
	        "faults: %d idle connections (opened in %lld ms, cap 256): all %d closed by the "
	        "host within %lld ms; normal requests served meanwhile: %d\n",
	        opened, (long long)open_ms, closed, (long long)last, sv.ok - ok_before);
	cr_assert_eq(closed, opened, "%d of %d idle connections still open", opened - closed,
	             opened);
	sv.stop = 1;
	pthread_join(st, NULL);
	cr_assert_eq(sv.fail, 0, "the normal client failed %d times during the attack", sv.fail);
	cr_assert_gt(sv.ok - ok_before, 0, "no normal request completed during the flood");
	/* Everything freed: the host holds the descriptors it started with. */
	usleep(300 * 1000);
	int end_fds = fd_count(e.host_pid);
	fprintf(stderr, "faults: host descriptors before %d, after %d\n", base_fds, end_fds);
	cr_assert_leq(end_fds, base_fds + 2);
	cr_assert(host_alive(&e));
	cr_assert_eq(infer_case(&e, &c), EML_OK);
	eml_case_free(&c);
	eml_e2e_stop(&e);
}

/* The enclave's own listener (reachable only by the host in production, but the host is
 * untrusted): silent and trickling connections are cut at the handshake timeout, gigabyte
 * frames refused on their header, while the enclave keeps serving through the host. */
Test(faults, hostile_peers_against_the_enclave_listener, .timeout = 120)
{
	static const char *enclave_args[] = {"--handshake-timeout-ms", "1500", NULL};
	eml_e2e e;
	eml_e2e_opts o = {.enclave_args = enclave_args};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_case c;
	new_case(304, &c);
	cr_assert_eq(eml_host_upload(e.client_addr, c.blob, c.blob_len, 10000, NULL), EML_OK);
	int n = 200; /* below the enclave's --max-conns (256): each is a thread until cut */
	int *fds = calloc((size_t)n, sizeof(int));
	cr_assert_not_null(fds);
	int opened = open_many(e.enclave_listen, fds, n);
	cr_assert_eq(opened, n);
	/* A gigabyte frame and a trickle too. */
	uint8_t h[EML_FRAME_HEADER_LEN];
	int big = eml_e2e_unix_connect(e.enclave_listen);
	frame_header(h, 0xFFFFFFF0u, EML_FT_CLIENT_HELLO);
	send_all(big, h, sizeof(h));
	int trickle = eml_e2e_unix_connect(e.enclave_listen);
	send_all(trickle, h, 1);
	int code = 0;
	int64_t big_ms = wait_closed(big, 3000, &code);
	cr_assert_geq(big_ms, 0);
	cr_assert_eq(code, EML_E_FRAME_TOO_LARGE, "%s", eml_err_name(code));
	/* Served while the idle connections hold their threads. */
	cr_assert_eq(infer_case(&e, &c), EML_OK);
	int64_t t0 = now_ms();
	int64_t ms = wait_closed(trickle, HS_MS + 3000, NULL);
	cr_assert_geq(ms, 0, "a trickling peer was not cut");
	int64_t last = 0;
	int closed = wait_all_closed(fds, opened, HS_MS + 3000, &last);
	fprintf(stderr,
	        "faults: enclave listener: %d idle connections all closed within %lld ms; "
	        "gigabyte frame refused in %lld ms; trickle cut after %lld ms\n",
	        closed, (long long)(now_ms() - t0), (long long)big_ms, (long long)ms);
	cr_assert_eq(closed, opened);
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	close(big);
	close(trickle);
	cr_assert(enclave_alive(&e));
	cr_assert_eq(infer_case(&e, &c), EML_OK);
	eml_case_free(&c);
	eml_e2e_stop(&e);
}

/* ------------------------------------------------------------------ 4. disk full */

static void check_store_intact(eml_e2e *e, eml_case *kept, const uint8_t *tree, size_t tree_len)
{
	uint8_t *now = NULL;
	size_t now_len = 0;
	int temps = 0;
	char blobs[700];
	snprintf(blobs, sizeof(blobs), "%s/blobs", e->store);
	cr_assert_eq(count_entries(blobs, &temps), 1);
	cr_assert_eq(temps, 0, "a temp file was left behind");
	cr_assert_eq(eml_e2e_read_tree(e->store, &now, &now_len), 0);
	cr_assert(now_len == tree_len && memcmp(now, tree, tree_len) == 0, "the store changed");
	eml_free(now);
	cr_assert(host_alive(e));
	/* What was stored before still serves. */
	int rc = infer_case(e, kept);
	cr_assert_eq(rc, EML_OK, "the stored model after the refused upload: %s", eml_err_name(rc));
}

Test(faults, store_out_of_space, .timeout = 120)
{
	/* Two models whose blobs differ in size (64 KiB and 1 MiB of weights). */
	eml_case small, large;
	float *xs = chain_input(128), *xl = chain_input(512);
	chain_case(128, 2, xs, &small);
	chain_case(512, 2, xl, &large);
	cr_assert_gt(large.blob_len, small.blob_len + 4096);
	/* Quota: room for the small blob only. */
	char quota[32];
	snprintf(quota, sizeof(quota), "%zu", small.blob_len + 2048);
	const char *host_args[] = {"--store-max-bytes", quota, NULL};
	eml_e2e e;
	eml_e2e_opts o = {.host_args = host_args};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	cr_assert_eq(eml_host_upload(e.client_addr, small.blob, small.blob_len, 10000, NULL),
	             EML_OK);
	uint8_t *tree = NULL;
	size_t tree_len = 0;
	cr_assert_eq(eml_e2e_read_tree(e.store, &tree, &tree_len), 0);
	int rc = eml_host_upload(e.client_addr, large.blob, large.blob_len, 10000, NULL);
	cr_assert_eq(rc, EML_E_STORE_FULL, "upload past the quota: %s", eml_err_name(rc));
	check_store_intact(&e, &small, tree, tree_len);
	/* The CLI says it in words. */
	char wt[700], out[4096];
	snprintf(wt, sizeof(wt), "%s/large.weights", e.dir);
	cr_assert_eq(eml_file_write_atomic(wt, large.blob, large.blob_len, 0600), EML_OK);
	int st = eml_e2e_run(out, sizeof(out), 20000, "upload", wt, "--host", e.client_addr, NULL);
	cr_assert_neq(st, 0);
	cr_assert(strstr(out, "out of space") != NULL, "upload message: %s", out);
	fprintf(stderr, "faults: store quota: `eml upload` says: %s", out);
	eml_free(tree);

	/* A real write failure: the host's file size limit (RLIMIT_FSIZE) set between the two
	 * sizes, with no quota: write() fails with EFBIG part-way, as on a full disk. */
	struct rlimit keep, rl;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &keep), 0);
	rl = keep;
	rl.rlim_cur = small.blob_len + 2048; /* inherited by the host started now */
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	int hrc = eml_e2e_restart_host(&e, NULL);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &keep), 0);
	cr_assert_eq(hrc, 0);
	cr_assert_eq(eml_e2e_read_tree(e.store, &tree, &tree_len), 0);
	rc = eml_host_upload(e.client_addr, large.blob, large.blob_len, 10000, NULL);
	cr_assert_eq(rc, EML_E_STORE_FULL, "upload past the file size limit: %s", eml_err_name(rc));
	check_store_intact(&e, &small, tree, tree_len);
	/* Space again: the same upload goes through. */
	cr_assert_eq(eml_e2e_restart_host(&e, NULL), 0);
	cr_assert_eq(eml_host_upload(e.client_addr, large.blob, large.blob_len, 10000, NULL),
	             EML_OK);
	cr_assert_eq(infer_case(&e, &large), EML_OK);
	eml_free(tree);
	chain_case_free(&small);
	chain_case_free(&large);
	free(xs);
	free(xl);
	eml_e2e_stop(&e);
}

/* ------------------------------------------------------------------ 5. corrupted blob */

static void flip_byte(const char *path, size_t at)
{
	uint8_t *b = NULL;
	size_t n = 0;
	cr_assert_eq(eml_file_read(path, (size_t)1 << 30, &b, &n), EML_OK);
	cr_assert_lt(at, n);
	b[at] ^= 0x40;
	int fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, b + at, 1, (off_t)at), 1);
	close(fd);
	eml_free(b);
}

static void stored_blob_path(eml_e2e *e, const eml_case *c, char *out, size_t cap)
{
	uint8_t dg[32];
	char hex[65];
	eml_sha256(c->blob, c->blob_len, dg);
	eml_hex(dg, 32, hex);
	snprintf(out, cap, "%s/blobs/%s", e->store, hex);
}

Test(faults, corrupted_blob_on_disk, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {0};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_case a, b;
	new_case(500, &a);
	new_case(501, &b);
	cr_assert_eq(eml_host_upload(e.client_addr, a.blob, a.blob_len, 10000, NULL), EML_OK);
	cr_assert_eq(eml_host_upload(e.client_addr, b.blob, b.blob_len, 10000, NULL), EML_OK);
	/* Model a is not used before it is corrupted: the enclave keeps fetched ciphertext (blob
	 * cache, docs/MEMORY.md), so a model it already holds is not fetched again. */
	cr_assert_eq(infer_case(&e, &b), EML_OK);
	char pa[1400];
	stored_blob_path(&e, &a, pa, sizeof(pa));

	/* (a) Bit rot: the host's digest check refuses to serve it; the client is told. */
	flip_byte(pa, a.blob_len / 2);
	int rc = infer_case(&e, &a);
	cr_assert_eq(rc, EML_E_STORE_REFUSED, "corrupted blob: %s", eml_err_name(rc));
	char log[700];
	snprintf(log, sizeof(log), "%s/host.log", e.dir);
	cr_assert(file_contains(log, "digest check"), "the host did not report the corruption");
	cr_assert_eq(infer_case(&e, &b), EML_OK, "another model after the refusal");

	/* (b) A host that serves the corrupted bytes anyway (its index rewritten to their digest):
	 * the enclave's own check against the digest pinned in the topology key refuses it. */
	uint8_t *bad = NULL, dg[32];
	size_t n = 0;
	char hex[65], idhex[33], idx[1400], pbad[1400], line[66];
	cr_assert_eq(eml_file_read(pa, (size_t)1 << 30, &bad, &n), EML_OK);
	eml_sha256(bad, n, dg);
	eml_hex(dg, 32, hex);
	snprintf(pbad, sizeof(pbad), "%s/blobs/%s", e.store, hex);
	cr_assert_eq(rename(pa, pbad), 0);
	uint8_t id[EML_WIRE_MODEL_ID_LEN];
	cr_assert_eq(eml_store_blob_model_id(a.blob, a.blob_len, id), EML_OK);
	eml_hex(id, 16, idhex);
	snprintf(idx, sizeof(idx), "%s/models/%s", e.store, idhex);
	memcpy(line, hex, 64);
	line[64] = '\n';
	cr_assert_eq(eml_file_write_atomic(idx, line, 65, 0600), EML_OK);
	rc = infer_case(&e, &a);
	fprintf(stderr,
	        "faults: corrupted blob: host refuses (STORE_REFUSED); served anyway, the "
	        "enclave refuses with %s\n",
	        eml_err_name(rc));
	cr_assert_neq(rc, EML_OK, "the enclave used a corrupted blob");
	cr_assert(rc == EML_E_BLOB_DIGEST || rc == EML_E_BLOB_CHUNK_AUTH,
	          "served corrupted blob refused with %s", eml_err_name(rc));
	cr_assert(enclave_alive(&e));
	cr_assert_eq(infer_case(&e, &b), EML_OK, "another model after the refusal");
	/* Re-uploading the genuine blob repairs the store. */
	cr_assert_eq(eml_host_upload(e.client_addr, a.blob, a.blob_len, 10000, NULL), EML_OK);
	cr_assert_eq(infer_case(&e, &a), EML_OK);
	/* (c) Corrupted again once the enclave holds a verified copy: requests keep using that
	 * copy (digest pinned by the key, chunks authenticated every request), the disk is not
	 * read for it. */
	flip_byte(pa, a.blob_len / 3);
	cr_assert_eq(infer_case(&e, &a), EML_OK, "a cached model after its file was corrupted");
	eml_free(bad);
	eml_case_free(&a);
	eml_case_free(&b);
	eml_e2e_stop(&e);
}

/* ------------------------------------------------------------------ 6. per-request limits */

static uint64_t case_elements(const eml_case *c)
{
	uint64_t t = 0;
	for (uint32_t i = 0; i < c->info.n_inputs; i++) {
		uint64_t n = 1;
		for (uint32_t d = 0; d < c->in[i].rank; d++)
			n *= (uint64_t)c->in[i].dims[d];
		t += n;
	}
	return t;
}

Test(faults, per_request_limits, .timeout = 180)
{
	/* Elements and memory: two cases, the smaller within the limits, the larger past them. */
	eml_case small, large;
	new_case(600, &small);
	for (uint64_t s = 601;; s++) {
		new_case(s, &large);
		if (case_elements(&large) > case_elements(&small))
			break;
		eml_case_free(&large);
		cr_assert_lt(s, 650);
	}
	char elems[32];
	snprintf(elems, sizeof(elems), "%llu", (unsigned long long)case_elements(&small));
	const char *limit_args[] = {"--max-elements", elems, NULL};
	eml_e2e e;
	eml_e2e_opts o = {.enclave_args = limit_args};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	cr_assert_eq(eml_host_upload(e.client_addr, small.blob, small.blob_len, 10000, NULL),
	             EML_OK);
	cr_assert_eq(eml_host_upload(e.client_addr, large.blob, large.blob_len, 10000, NULL),
	             EML_OK);
	int rc = infer_case(&e, &large);
	cr_assert_eq(rc, EML_E_ENCLAVE_LIMIT, "past --max-elements: %s", eml_err_name(rc));
	cr_assert_eq(infer_case(&e, &small), EML_OK, "within --max-elements");

	const char *mem_args[] = {"--max-memory", "64", NULL};
	eml_e2e_opts om = {.enclave_args = mem_args};
	cr_assert_eq(eml_e2e_restart_enclave(&e, &om), 0);
	rc = infer_case(&e, &small);
	cr_assert_eq(rc, EML_E_ENGINE_MEMORY_LIMIT, "past --max-memory: %s", eml_err_name(rc));
	cr_assert(enclave_alive(&e));

	/* Time: a chain slow enough locally (at least 1.5 s on one thread, measured here), and a
	 * limit of 400 ms: the enclave stops it between two nodes, well before it would end. */
	int n = 768, k = 4;
	float *x = chain_input(n);
	int64_t full = 0;
	/* Grow the chain until it runs at least 1.5 s locally (the machine's speed varies). */
	for (int round = 0; round < 6; round++) {
		eml_model *m = chain_model(n, k);
		full = local_run_ms(m, x, n);
		eml_model_free(m);
		if (full >= 1500 || k >= 400)
			break;
		int grow = full > 0 ? (int)(1800 / full) : 8;
		k = k * (grow < 2 ? 2 : grow > 8 ? 8 : grow);
		if (k > 400)
			k = 400;
	}
	fprintf(stderr, "faults: time limit: chain of %d MatMul %dx%d runs %lld ms locally\n", k, n,
	        n, (long long)full);
	cr_assert_geq(full, 1000, "the chain is too fast to test the time limit");
	eml_case slow;
	chain_case(n, k, x, &slow);
	const char *time_args[] = {"--max-request-ms", "400", "--threads", "1", NULL};
	eml_e2e_opts ot = {.enclave_args = time_args};
	cr_assert_eq(eml_e2e_restart_enclave(&e, &ot), 0);
	cr_assert_eq(eml_host_upload(e.client_addr, slow.blob, slow.blob_len, 10000, NULL), EML_OK);
	eml_client *cl = NULL;
	eml_client_opts co = {.host = e.client_addr, .policy_path = e.policy, .timeout_ms = 30000};
	cr_assert_eq(eml_client_connect(&co, &cl), EML_OK);
	eml_client_result *r = NULL;
	int64_t t0 = now_ms();
	rc = eml_client_infer(cl, slow.tkey, slow.tkey_len, slow.in, 1, &r);
	int64_t took = now_ms() - t0;
	eml_client_free(cl);
	fprintf(stderr,
	        "faults: time limit 400 ms: refused with %s after %lld ms (full run %lld "
	        "ms)\n",
	        eml_err_name(rc), (long long)took, (long long)full);
	cr_assert_eq(rc, EML_E_ENCLAVE_TIMEOUT, "past --max-request-ms: %s", eml_err_name(rc));
	cr_assert_lt(took, full / 2 + 400, "the run was not stopped early (%lld ms)",
	             (long long)took);
	/* The enclave keeps serving. */
	cr_assert(enclave_alive(&e));
	cr_assert_eq(infer_case(&e, &small), EML_OK, "a quick request after the timeout");
	free(x);
	chain_case_free(&slow);
	eml_case_free(&small);
	eml_case_free(&large);
	eml_e2e_stop(&e);
}

/* ------------------------------------------------------------------ store, in process */

/* The quota counts a replaced blob once, refuses before writing, and a write that hits a file
 * size limit (EFBIG, as a full disk gives ENOSPC) is STORE_FULL with nothing left behind. */
Test(faults, store_quota_and_write_failure_in_process, .timeout = 60)
{
	char *dir = eml_test_tmpdir();
	cr_assert_not_null(dir);
	char sdir[600], blobs[700];
	snprintf(sdir, sizeof(sdir), "%s/store", dir);
	snprintf(blobs, sizeof(blobs), "%s/blobs", sdir);
	float *xs = chain_input(128), *xl = chain_input(512);
	eml_case a, a2, b;
	chain_case(128, 2, xs, &a);
	chain_case(128, 2, xs, &a2); /* same shape, fresh key: same size, another model id */
	chain_case(512, 2, xl, &b);
	eml_store *s = NULL;
	cr_assert_eq(eml_store_open(sdir, (uint64_t)1 << 30, &s), EML_OK);
	eml_store_set_quota(s, a.blob_len + a2.blob_len + 100);
	eml_store_entry e;
	cr_assert_eq(eml_store_put(s, a.blob, a.blob_len, &e), EML_OK);
	/* The same model again replaces itself: counted once. */
	cr_assert_eq(eml_store_put(s, a.blob, a.blob_len, &e), EML_OK);
	cr_assert_eq(eml_store_put(s, a2.blob, a2.blob_len, &e), EML_OK);
	cr_assert_eq(eml_store_put(s, b.blob, b.blob_len, &e), EML_E_STORE_FULL);
	int temps = 0;
	cr_assert_eq(count_entries(blobs, &temps), 2);
	cr_assert_eq(temps, 0);
	/* No quota, a file size limit between the sizes: the write fails part-way. */
	eml_store_set_quota(s, 0);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit keep, rl;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &keep), 0);
	rl = keep;
	rl.rlim_cur = a.blob_len + 4096;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	int rc = eml_store_put(s, b.blob, b.blob_len, &e);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &keep), 0);
	cr_assert_eq(rc, EML_E_STORE_FULL, "%s", eml_err_name(rc));
	cr_assert_eq(count_entries(blobs, &temps), 2);
	cr_assert_eq(temps, 0, "the temp file of the failed write is left");
	uint8_t *got = NULL;
	size_t n = 0;
	uint8_t id[EML_WIRE_MODEL_ID_LEN];
	cr_assert_eq(eml_store_blob_model_id(a.blob, a.blob_len, id), EML_OK);
	cr_assert_eq(eml_store_get(s, id, &got, &n), EML_OK);
	cr_assert(n == a.blob_len && memcmp(got, a.blob, n) == 0);
	eml_free(got);
	cr_assert_eq(eml_store_put(s, b.blob, b.blob_len, &e), EML_OK);
	eml_store_close(s);
	chain_case_free(&a);
	chain_case_free(&a2);
	chain_case_free(&b);
	free(xs);
	free(xl);
	eml_test_rmtree(dir);
	free(dir);
}

/* A request stopped by the time limit leaves none of its input in the enclave's memory (its
 * plaintext and arena are wiped and unmapped); control: the same with eml-test-nowipe, where
 * the scan must find it (so the scan can see what it looks for). */
static int timed_out_input_found(const char *bin)
{
	int n = 512;
	float *x = chain_input(n);
	eml_case slow;
	chain_case(n, 1500, x, &slow); /* seconds to run: always past 300 ms */
	eml_window_set *needles = eml_window_set_new();
	eml_window_set_add(needles, (const uint8_t *)x, (size_t)n * (size_t)n * 4, 1);
	cr_assert_gt(eml_window_set_count(needles), 1000);
	const char *args[] = {"--max-request-ms", "300", "--threads", "1", NULL};
	eml_e2e e;
	eml_e2e_opts o = {.enclave_bin = bin, .enclave_args = args};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	cr_assert_eq(eml_host_upload(e.client_addr, slow.blob, slow.blob_len, 10000, NULL), EML_OK);
	int rc = infer_case(&e, &slow);
	cr_assert_eq(rc, EML_E_ENCLAVE_TIMEOUT, "%s", eml_err_name(rc));
	usleep(200 * 1000); /* the connection thread finishes its cleanup */
	uint8_t *mem = NULL;
	size_t len = 0;
	cr_assert_eq(eml_e2e_read_process_memory(e.enclave_pid, &mem, &len), 0);
	cr_assert_gt(len, (size_t)1 << 20, "the scan read too little memory");
	int found = eml_window_set_find(needles, mem, len, NULL) >= 0;
	eml_free(mem);
	eml_window_set_free(needles);
	eml_e2e_stop(&e);
	chain_case_free(&slow);
	free(x);
	return found;
}

Test(faults, timed_out_request_is_wiped, .timeout = 120)
{
	char bin[4096];
	variant_bin("nowipe", bin, sizeof(bin));
	cr_assert(timed_out_input_found(bin),
	          "control: the scan did not find the input in the non-wiping enclave");
	cr_assert(!timed_out_input_found(eml_test_bin()),
	          "input plaintext left in the enclave after a timed-out request");
}
