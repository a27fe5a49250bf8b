/*
 * `eml host` as a separate process, with a fake enclave in the test process (a Unix listener that
 * records and echoes frames). Unix sockets only; every process started here is stopped here.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/host_client.h"
#include "host/channel.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "eml/error.h"
#include "net/addr.h"
#include "net/sock.h"
#include "prop.h"
#include "topo/topo.h"
#include "wire/frame.h"
#include "wire/msg.h"

struct env {
	char *dir;
	char listen[512], enclave[512], channel[512], store[512], audit[512];
	pid_t pid;
	/* fake enclave */
	int efd;
	pthread_t eth;
	volatile int estop;
	pthread_mutex_t mu;
	uint8_t *seen; /* every byte the enclave received, in order */
	size_t seen_len, seen_cap;
};

static struct env E;

static void *enclave_main(void *arg)
{
	(void)arg;
	while (!E.estop) {
		int fd;
		if (eml_net_accept(E.efd, 50, &fd) != EML_OK)
			continue;
		/* Record and echo frames until EOF; the echo goes back through the host. */
		for (;;) {
			uint8_t t, *p = NULL;
			uint32_t n;
			int rc = eml_net_recv_frame(fd, NULL, 200, &t, &p, &n);
			if (rc == EML_E_NET_TIMEOUT && !E.estop)
				continue;
			if (rc != EML_OK)
				break;
			uint8_t hdr[5] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
			                  (uint8_t)n, t};
			pthread_mutex_lock(&E.mu);
			if (E.seen_len + n + 5 > E.seen_cap) {
				E.seen_cap = (E.seen_len + n + 5) * 2;
				E.seen = realloc(E.seen, E.seen_cap);
			}
			memcpy(E.seen + E.seen_len, hdr, 5);
			memcpy(E.seen + E.seen_len + 5, p, n);
			E.seen_len += n + 5;
			pthread_mutex_unlock(&E.mu);
			rc = eml_net_send_frame(fd, t, p, n, 2000);
			eml_free(p);
			if (rc != EML_OK)
				break;
		}
		close(fd);
	}
	return NULL;
}

static void start_enclave(void)
{
	eml_addr a;
	cr_assert_eq(eml_addr_parse(E.enclave, &a), EML_OK);
	cr_assert_eq(eml_net_listen(&a, &E.efd), EML_OK);
	E.estop = 0;
	pthread_create(&E.eth, NULL, enclave_main, NULL);
}

static void stop_enclave(void)
{
	if (E.efd < 0)
		return;
	E.estop = 1;
	pthread_join(E.eth, NULL);
	close(E.efd);
	E.efd = -1;
	unlink(E.enclave + 5);
}

static void start_host(const char *max_blob)
{
	const char *argv[20];
	int k = 0;
	argv[k++] = eml_test_bin();
	argv[k++] = "host";
	argv[k++] = "--listen";
	argv[k++] = E.listen;
	argv[k++] = "--enclave";
	argv[k++] = E.enclave;
	argv[k++] = "--enclave-channel";
	argv[k++] = E.channel;
	argv[k++] = "--store";
	argv[k++] = E.store;
	argv[k++] = "--audit-log";
	argv[k++] = E.audit;
	if (max_blob != NULL) {
		argv[k++] = "--max-blob";
		argv[k++] = max_blob;
	}
	argv[k] = NULL;
	E.pid = fork();
	cr_assert_neq(E.pid, -1);
	if (E.pid == 0) {
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	/* Ready when the channel socket accepts (the listener is bound before it). Bounded. */
	eml_addr a;
	cr_assert_eq(eml_addr_parse(E.channel, &a), EML_OK);
	for (int i = 0; i < 250; i++) {
		int fd;
		if (eml_net_connect(&a, 100, &fd) == EML_OK) {
			close(fd);
			return;
		}
		int st;
		cr_assert_eq(waitpid(E.pid, &st, WNOHANG), 0, "eml host exited early");
		usleep(20000);
	}
	cr_assert_fail("eml host did not come up");
}

/* SIGTERM, then wait (bounded); SIGKILL as a last resort. Returns the exit status. */
static int stop_host(void)
{
	int st = -1;
	if (E.pid <= 0)
		return -1;
	kill(E.pid, SIGTERM);
	for (int i = 0; i < 250; i++) {
		if (waitpid(E.pid, &st, WNOHANG) == E.pid) {
			E.pid = 0;
			return st;
		}
		usleep(20000);
	}
	kill(E.pid, SIGKILL);
	waitpid(E.pid, &st, 0);
	E.pid = 0;
	return -1;
}

static void setup(void)
{
	memset(&E, 0, sizeof(E));
	pthread_mutex_init(&E.mu, NULL);
	E.efd = -1;
	E.dir = eml_test_tmpdir();
	snprintf(E.listen, sizeof(E.listen), "unix:%s/host.sock", E.dir);
	snprintf(E.enclave, sizeof(E.enclave), "unix:%s/enclave.sock", E.dir);
	snprintf(E.channel, sizeof(E.channel), "unix:%s/channel.sock", E.dir);
	snprintf(E.store, sizeof(E.store), "%s/store", E.dir);
	snprintf(E.audit, sizeof(E.audit), "%s/audit.log", E.dir);
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	stop_host();
	stop_enclave();
	eml_test_rmtree(E.dir);
	free(E.dir);
	free(E.seen);
}

/* A structurally valid weight blob (public header as src/topo writes it: chunk size 4096, padded
 * plaintext of bucket size `total`, one 16-byte tag per chunk) with a random body. The host can
 * only check that much; it never has the key. */
static uint8_t *fake_blob(eml_rng *r, uint64_t total, uint8_t id[16], size_t *n)
{
	cr_assert_eq(eml_blob_bucket(total), total);
	eml_blob_info bi = {.version = EML_BLOB_VERSION,
	                    .chunk_size = 4096,
	                    .chunk_count = (uint32_t)((total + 4095) / 4096),
	                    .total_len = total};
	*n = (size_t)eml_blob_expected_len(&bi);
	uint8_t *b = malloc(*n);
	memset(b, 0, 48);
	memcpy(b, "EMLWGHT1", 8);
	b[8] = 1;
	b[13] = 0x10; /* chunk size 4096, little-endian */
	eml_rng_bytes(r, id, 16);
	memcpy(b + 16, id, 16);
	memcpy(b + 32, &bi.chunk_count, 4);
	memcpy(b + 40, &bi.total_len, 8);
	eml_rng_bytes(r, b + 48, *n - 48);
	eml_blob_info check;
	cr_assert_eq(eml_blob_parse_header(b, *n, &check), EML_OK);
	return b;
}

static size_t count_files(const char *dir, int *temps)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	cr_assert_not_null(d, "%s", dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (temps != NULL && strstr(e->d_name, ".tmp") != NULL)
			(*temps)++;
	}
	closedir(d);
	return n;
}

static int run_cli(const char *const *args, char *out, size_t out_len)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execv(args[0], (char **)args);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t r;
	while (got + 1 < out_len && (r = read(pfd[0], out + got, out_len - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TestSuite(host, .init = setup, .fini = teardown, .timeout = 60);

Test(host, forwards_client_frames_byte_identical)
{
	start_enclave();
	start_host(NULL);
	eml_addr a;
	cr_assert_eq(eml_addr_parse(E.listen, &a), EML_OK);
	int fd;
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	eml_rng r;
	eml_rng_seed(&r, 42);
	eml_buf sent;
	eml_buf_init(&sent, 0);
	static const uint8_t types[] = {EML_FT_CLIENT_HELLO, EML_FT_REQUEST, EML_FT_REQUEST,
	                                EML_FT_ERROR, EML_FT_RESPONSE};
	for (size_t i = 0; i < sizeof(types); i++) {
		size_t n = i == 2 ? 3u << 20 : (size_t)eml_rng_below(&r, 3000);
		uint8_t *p = malloc(n + 1);
		eml_rng_bytes(&r, p, n);
		cr_assert_eq(eml_frame_encode(&sent, NULL, types[i], p, n), EML_OK);
		cr_assert_eq(eml_net_send_frame(fd, types[i], p, n, 5000), EML_OK);
		uint8_t t, *q;
		uint32_t m;
		cr_assert_eq(eml_net_recv_frame(fd, NULL, 5000, &t, &q, &m), EML_OK);
		cr_assert_eq(t, types[i]);
		cr_assert_eq(m, n);
		cr_assert(memcmp(p, q, n) == 0, "frame %zu changed in transit", i);
		eml_free(q);
		free(p);
	}
	close(fd);
	pthread_mutex_lock(&E.mu);
	cr_assert_eq(E.seen_len, sent.len);
	cr_assert(memcmp(E.seen, sent.p, sent.len) == 0, "the enclave saw other bytes");
	pthread_mutex_unlock(&E.mu);
	eml_buf_cleanup(&sent);
	/* The host persisted nothing of it. */
	char p[600];
	snprintf(p, sizeof(p), "%s/blobs", E.store);
	cr_assert_eq(count_files(p, NULL), 0);
	snprintf(p, sizeof(p), "%s/models", E.store);
	cr_assert_eq(count_files(p, NULL), 0);
	struct stat st;
	cr_assert_eq(stat(E.audit, &st), 0);
	cr_assert_eq(st.st_size, 0);
	/* A clean stop removes the sockets. */
	int status = stop_host();
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	cr_assert_neq(access(E.listen + 5, F_OK), 0);
	cr_assert_neq(access(E.channel + 5, F_OK), 0);
}

Test(host, upload_ls_rm_and_store_files)
{
	start_host(NULL);
	eml_rng r;
	eml_rng_seed(&r, 7);
	uint8_t id1[16], id2[16];
	size_t n1, n2;
	uint8_t *b1 = fake_blob(&r, 4096, id1, &n1), *b2 = fake_blob(&r, 69632, id2, &n2);
	eml_store_entry e;
	cr_assert_eq(eml_host_upload(E.listen, b1, n1, 5000, &e), EML_OK);
	cr_assert(memcmp(e.model_id, id1, 16) == 0);
	cr_assert_eq(e.size, n1);
	uint8_t d[32];
	eml_sha256(b1, n1, d);
	cr_assert(memcmp(e.sha256, d, 32) == 0);

	/* The CLI, with a file. */
	char file[600], out[4096], sha[65], idhex[33];
	snprintf(file, sizeof(file), "%s/m.weights", E.dir);
	cr_assert_eq(eml_file_write_atomic(file, b2, n2, 0600), EML_OK);
	const char *up[] = {eml_test_bin(), "upload", file, "--host", E.listen, "--json", NULL};
	cr_assert_eq(run_cli(up, out, sizeof(out)), 0, "%s", out);
	eml_hex(id2, 16, idhex);
	cr_assert_not_null(strstr(out, idhex), "%s", out);

	/* Store files are exactly the uploaded bytes, named by their SHA-256; no temp files. */
	char p[700];
	uint8_t *got;
	size_t gl;
	eml_hex(d, 32, sha);
	snprintf(p, sizeof(p), "%s/blobs/%s", E.store, sha);
	cr_assert_eq(eml_file_read(p, 1 << 20, &got, &gl), EML_OK);
	cr_assert(gl == n1 && memcmp(got, b1, n1) == 0);
	eml_free(got);
	int temps = 0;
	snprintf(p, sizeof(p), "%s/blobs", E.store);
	cr_assert_eq(count_files(p, &temps), 2);
	snprintf(p, sizeof(p), "%s/models", E.store);
	cr_assert_eq(count_files(p, &temps), 2);
	cr_assert_eq(temps, 0);

	/* ls, through the library and the CLI. */
	eml_store_entry *list;
	size_t count;
	cr_assert_eq(eml_host_store_list(E.listen, 5000, &list, &count), EML_OK);
	cr_assert_eq(count, 2);
	int found = 0;
	for (size_t i = 0; i < count; i++)
		found += (memcmp(list[i].model_id, id1, 16) == 0 && list[i].size == n1) +
		         (memcmp(list[i].model_id, id2, 16) == 0 && list[i].size == n2);
	cr_assert_eq(found, 2);
	eml_free(list);
	const char *ls[] = {eml_test_bin(), "store", "ls", "--host", E.listen, "--json", NULL};
	cr_assert_eq(run_cli(ls, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, idhex));
	cr_assert_eq(out[0], '[');

	/* The enclave's channel serves the blob back unchanged, or says not found. */
	eml_addr ca;
	int fd;
	cr_assert_eq(eml_addr_parse(E.channel, &ca), EML_OK);
	cr_assert_eq(eml_net_connect(&ca, 1000, &fd), EML_OK);
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_BLOB_FETCH, id2, 16, 2000), EML_OK);
	uint8_t t, *q;
	uint32_t m;
	cr_assert_eq(eml_net_recv_frame(fd, NULL, 5000, &t, &q, &m), EML_OK);
	cr_assert_eq(t, EML_FT_BLOB_DATA);
	cr_assert(m == n2 && memcmp(q, b2, n2) == 0);
	eml_free(q);
	uint8_t nope[16] = {9};
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_BLOB_FETCH, nope, 16, 2000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, NULL, 5000, &t, &q, &m), EML_OK);
	cr_assert_eq(t, EML_FT_BLOB_NOT_FOUND);
	cr_assert(m == 16 && memcmp(q, nope, 16) == 0);
	eml_free(q);
	/* Audit records are appended as u32be length | record. */
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_AUDIT_RECORD, "record-1", 8, 2000), EML_OK);
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_AUDIT_RECORD, "rec2", 4, 2000), EML_OK);
	/* A fetch after them orders the check: the records were handled first. */
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_BLOB_FETCH, nope, 16, 2000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, NULL, 5000, &t, &q, &m), EML_OK);
	eml_free(q);
	close(fd);
	uint8_t *audit;
	size_t al;
	cr_assert_eq(eml_file_read(E.audit, 4096, &audit, &al), EML_OK);
	cr_assert_eq(al, 4 + 8 + 4 + 4);
	cr_assert(memcmp(audit, "\0\0\0\x08record-1\0\0\0\x04rec2", al) == 0);
	eml_free(audit);

	/* rm: through the CLI, then the library; a second rm is "not found". */
	const char *rm[] = {eml_test_bin(), "store", "rm", idhex, "--host", E.listen, NULL};
	cr_assert_eq(run_cli(rm, out, sizeof(out)), 0);
	cr_assert_eq(eml_host_store_remove(E.listen, id1, 5000), EML_OK);
	cr_assert_eq(eml_host_store_remove(E.listen, id1, 5000), EML_E_STORE_NOT_FOUND);
	cr_assert_eq(eml_host_store_list(E.listen, 5000, &list, &count), EML_OK);
	cr_assert_eq(count, 0);
	eml_free(list);
	snprintf(p, sizeof(p), "%s/blobs", E.store);
	cr_assert_eq(count_files(p, NULL), 0);
	snprintf(p, sizeof(p), "%s/models", E.store);
	cr_assert_eq(count_files(p, NULL), 0);
	/* Re-uploading replaces, leaving one blob per model id. */
	cr_assert_eq(eml_host_upload(E.listen, b1, n1, 5000, NULL), EML_OK);
	b1[100] ^= 1;
	cr_assert_eq(eml_host_upload(E.listen, b1, n1, 5000, NULL), EML_OK);
	snprintf(p, sizeof(p), "%s/blobs", E.store);
	cr_assert_eq(count_files(p, NULL), 1);
	free(b1);
	free(b2);
}

Test(host, refuses_oversize_and_malformed_uploads)
{
	start_host("8192");
	eml_rng r;
	eml_rng_seed(&r, 9);
	uint8_t id[16];
	size_t nbig, n;
	uint8_t *big = fake_blob(&r, 8192, id, &nbig), *ok = fake_blob(&r, 4096, id, &n);
	cr_assert_gt(nbig, 8192);
	cr_assert_eq(eml_host_upload(E.listen, big, nbig, 5000, NULL), EML_E_STORE_TOO_LARGE);
	/* A large one is refused from its frame header: the host does not read 4 MiB to say no. */
	size_t nhuge;
	uint8_t *huge = fake_blob(&r, (uint64_t)4 << 20, id, &nhuge);
	int64_t t0 = eml_net_now_ms();
	cr_assert_eq(eml_host_upload(E.listen, huge, nhuge, 5000, NULL), EML_E_STORE_TOO_LARGE);
	cr_assert_lt(eml_net_now_ms() - t0, 4000);
	free(huge);
	/* Not a weight blob: bad magic, bad version, header only, cut short, one byte extra, a
	 * header that disagrees with the length, empty. */
	uint8_t *bad = malloc(n + 1);
	struct {
		size_t off;
		uint8_t val;
		long delta;
	} cases[] = {{0, 'X', 0}, {8, 2, 0},     {0, 'E', -(long)n + 48}, {0, 'E', -1},
	             {0, 'E', 1}, {40, 0x20, 0}, {12, 0x01, 0},           {0, 'E', -(long)n}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, ok, n);
		bad[n] = 0;
		bad[cases[i].off] = cases[i].val;
		size_t len = (size_t)((long)n + cases[i].delta);
		cr_assert_eq(eml_host_upload(E.listen, bad, len, 5000, NULL), EML_E_STORE_REFUSED,
		             "case %zu", i);
	}
	/* Nothing was written, and a good blob still goes in. */
	char p[600];
	int temps = 0;
	snprintf(p, sizeof(p), "%s/blobs", E.store);
	cr_assert_eq(count_files(p, &temps), 0);
	cr_assert_eq(eml_host_upload(E.listen, ok, n, 5000, NULL), EML_OK);
	cr_assert_eq(count_files(p, &temps), 1);
	cr_assert_eq(temps, 0);
	free(bad);
	free(big);
	free(ok);
}

/* The real thing: `eml decompose` a public model, `eml upload` its blob, fetch it back. */
Test(host, decompose_then_upload_real_blob)
{
	char model[600], out[4096], wfile[700];
	snprintf(model, sizeof(model), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	cr_assert_eq(access(model, R_OK), 0, "missing %s", model);
	start_host(NULL);
	const char *dec[] = {eml_test_bin(), "decompose", model,   "-o",
	                     E.dir,          "--name",    "mnist", NULL};
	cr_assert_eq(run_cli(dec, out, sizeof(out)), 0, "%s", out);
	snprintf(wfile, sizeof(wfile), "%s/mnist.weights", E.dir);
	uint8_t *blob;
	size_t n;
	cr_assert_eq(eml_file_read(wfile, 1 << 30, &blob, &n), EML_OK);
	eml_blob_info bi;
	cr_assert_eq(eml_blob_parse_header(blob, n, &bi), EML_OK);
	const char *up[] = {eml_test_bin(), "upload", wfile, "--host", E.listen, NULL};
	cr_assert_eq(run_cli(up, out, sizeof(out)), 0, "%s", out);
	char idhex[33];
	eml_hex(bi.model_id, 16, idhex);
	cr_assert_not_null(strstr(out, idhex), "%s", out);
	eml_addr ca;
	int fd;
	cr_assert_eq(eml_addr_parse(E.channel, &ca), EML_OK);
	cr_assert_eq(eml_net_connect(&ca, 1000, &fd), EML_OK);
	/* Through the enclave-side channel API. */
	uint8_t *q;
	size_t m;
	cr_assert_eq(eml_channel_fetch_blob(fd, bi.model_id, NULL, 5000, &q, &m), EML_OK);
	cr_assert(m == n && memcmp(q, blob, n) == 0);
	eml_free(q);
	uint8_t other[16] = {1, 2, 3};
	q = NULL;
	cr_assert_eq(eml_channel_fetch_blob(fd, other, NULL, 5000, &q, &m), EML_E_STORE_NOT_FOUND);
	cr_assert_null(q);
	cr_assert_eq(eml_channel_send_audit(fd, (const uint8_t *)"audit", 5, 2000), EML_OK);
	cr_assert_eq(eml_channel_send_audit(fd, (const uint8_t *)"", 0, 2000), EML_E_MSG_TRUNCATED);
	/* A blob larger than the enclave's limit is refused from the frame header. */
	eml_frame_limits small = {.client_max = 1024, .weight_max = 1024};
	cr_assert_eq(eml_channel_fetch_blob(fd, bi.model_id, &small, 5000, &q, &m),
	             EML_E_FRAME_TOO_LARGE);
	eml_free(blob);
	close(fd);
	/* The audit record reached the log. */
	uint8_t *audit;
	size_t al;
	for (int i = 0; i < 100; i++) {
		struct stat st;
		if (stat(E.audit, &st) == 0 && st.st_size == 9)
			break;
		usleep(10000);
	}
	cr_assert_eq(eml_file_read(E.audit, 4096, &audit, &al), EML_OK);
	cr_assert(al == 9 && memcmp(audit,
	                            "\0\0\0\x05"
	                            "audit",
	                            9) == 0);
	eml_free(audit);
}

Test(host, survives_garbage)
{
	start_enclave();
	start_host(NULL);
	eml_addr a, ca;
	cr_assert_eq(eml_addr_parse(E.listen, &a), EML_OK);
	cr_assert_eq(eml_addr_parse(E.channel, &ca), EML_OK);
	struct {
		const eml_addr *to;
		uint8_t bytes[16];
		size_t n;
		int want; /* code of the ERROR reply */
	} cases[] = {
	    {&a, {0, 0, 0, 0, 0x99}, 5, EML_E_FRAME_TYPE},
	    {&a, {0xff, 0xff, 0xff, 0xff, EML_FT_REQUEST}, 5, EML_E_FRAME_TOO_LARGE},
	    {&a, {0, 0, 0, 2, EML_FT_SERVER_HELLO, 1, 2}, 7, EML_E_MSG_UNEXPECTED},
	    {&a, {0, 0, 0, 0, EML_FT_BLOB_FETCH}, 5, EML_E_MSG_UNEXPECTED},
	    {&ca, {0, 0, 0, 0, EML_FT_UPLOAD}, 5, EML_E_MSG_UNEXPECTED},
	    {&ca, {0, 0, 0, 1, EML_FT_BLOB_FETCH, 7}, 6, EML_E_MSG_TRUNCATED},
	    {&ca, {0, 0, 0, 0, EML_FT_AUDIT_RECORD}, 5, EML_E_MSG_TRUNCATED},
	    {&ca, {'G', 'E', 'T', ' ', '/', ' ', 'H'}, 7, EML_E_FRAME_TYPE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd;
		cr_assert_eq(eml_net_connect(cases[i].to, 1000, &fd), EML_OK);
		cr_assert_eq(eml_net_write_all(fd, cases[i].bytes, cases[i].n, -1), EML_OK);
		uint8_t t, *q;
		uint32_t m;
		cr_assert_eq(eml_net_recv_frame(fd, NULL, 3000, &t, &q, &m), EML_OK, "case %zu", i);
		cr_assert_eq(t, EML_FT_ERROR);
		cr_assert_eq(m, 2);
		cr_assert_eq(q[0] << 8 | q[1], cases[i].want, "case %zu", i);
		eml_free(q);
		cr_assert_eq(eml_net_recv_frame(fd, NULL, 3000, &t, &q, &m), EML_E_NET_CLOSED);
		close(fd);
	}
	/* Random bytes and abrupt disconnects mid-frame. */
	eml_rng r;
	eml_rng_seed(&r, 1234);
	for (int i = 0; i < 20; i++) {
		int fd;
		uint8_t junk[64];
		eml_rng_bytes(&r, junk, sizeof(junk));
		cr_assert_eq(eml_net_connect(i % 2 ? &a : &ca, 1000, &fd), EML_OK);
		eml_net_write_all(fd, junk, (size_t)eml_rng_range(&r, 1, 64), 1000);
		close(fd);
	}
	/* Still serving both sides. */
	eml_store_entry *list;
	size_t count;
	cr_assert_eq(eml_host_store_list(E.listen, 5000, &list, &count), EML_OK);
	eml_free(list);
	int fd;
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_CLIENT_HELLO, "hi", 2, 1000), EML_OK);
	uint8_t t, *q;
	uint32_t m;
	cr_assert_eq(eml_net_recv_frame(fd, NULL, 3000, &t, &q, &m), EML_OK);
	cr_assert(t == EML_FT_CLIENT_HELLO && m == 2 && memcmp(q, "hi", 2) == 0);
	eml_free(q);
	close(fd);
	/* With the enclave gone, a client gets HOST_UNAVAILABLE, and the host stays up. */
	stop_enclave();
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_CLIENT_HELLO, "hi", 2, 1000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, NULL, 8000, &t, &q, &m), EML_OK);
	cr_assert_eq(t, EML_FT_ERROR);
	cr_assert_eq(q[0] << 8 | q[1], EML_E_HOST_UNAVAILABLE);
	eml_free(q);
	close(fd);
	cr_assert_eq(eml_host_store_list(E.listen, 5000, &list, &count), EML_OK);
	eml_free(list);
	int status = stop_host();
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The CLI against a host that is gone: "unreachable" exit code 5, no crash. */
	char out[256];
	const char *ls[] = {eml_test_bin(), "store", "ls", "--host", E.listen, NULL};
	cr_assert_eq(run_cli(ls, out, sizeof(out)), 5);
	const char *bad[] = {eml_test_bin(), "store", "rm", "xyz", "--host", E.listen, NULL};
	cr_assert_eq(run_cli(bad, out, sizeof(out)), 2);
}

/*
 * Feature: ephemeral-inference, Property 8: Host proxy transparency. The host forwards sealed
 * payloads unmodified and uninspected, and persists none of them.
 * Random client frames (every client type, random sizes and bytes, over several connections)
 * reach the enclave byte for byte and come back byte for byte; afterwards the store and the
 * audit log are still empty.
 */
Test(host, prop_proxy_transparency,
     .description = "Feature: ephemeral-inference, Property 8: Host proxy transparency. The host "
                    "forwards sealed payloads unmodified and uninspected, and persists none of "
                    "them.")
{
	start_enclave();
	start_host(NULL);
	eml_addr a;
	cr_assert_eq(eml_addr_parse(E.listen, &a), EML_OK);
	eml_buf sent;
	eml_buf_init(&sent, 0);
	int fd = -1;
	PROP_FOR_EACH_CASE(rng)
	{
		int fresh = 0;
		if (fd < 0 || eml_rng_chance(&rng, 0.1)) {
			if (fd >= 0)
				close(fd);
			PROP_ASSERT(eml_net_connect(&a, 1000, &fd) == EML_OK, "connect");
			fresh = 1;
		}
		/* A connection starts with a type that opens a client session (hello or request);
		 * after that any client type is forwarded. */
		uint8_t t = fresh
		                ? (eml_rng_chance(&rng, 0.5) ? EML_FT_CLIENT_HELLO : EML_FT_REQUEST)
		                : (uint8_t)eml_rng_range(&rng, EML_FT_CLIENT_HELLO, EML_FT_ERROR);
		size_t n = (size_t)(eml_rng_chance(&rng, 0.05) ? eml_rng_below(&rng, 1 << 20)
		                                               : eml_rng_below(&rng, 2048));
		uint8_t *p = malloc(n + 1);
		eml_rng_bytes(&rng, p, n);
		PROP_ASSERT(eml_frame_encode(&sent, NULL, t, p, n) == EML_OK, "encode");
		PROP_ASSERT(eml_net_send_frame(fd, t, p, n, 5000) == EML_OK, "send");
		uint8_t rt, *q;
		uint32_t m;
		int rc = eml_net_recv_frame(fd, NULL, 5000, &rt, &q, &m);
		PROP_ASSERT(rc == EML_OK, "receive: %s", eml_err_name(rc));
		PROP_ASSERT(rt == t && m == n && memcmp(p, q, n) == 0, "changed in transit");
		eml_free(q);
		free(p);
	}
	close(fd);
	/* Let the enclave thread finish recording, then compare everything it saw. */
	usleep(50000);
	pthread_mutex_lock(&E.mu);
	cr_assert_eq(E.seen_len, sent.len);
	cr_assert(memcmp(E.seen, sent.p, sent.len) == 0);
	pthread_mutex_unlock(&E.mu);
	eml_buf_cleanup(&sent);
	char p[600];
	snprintf(p, sizeof(p), "%s/blobs", E.store);
	cr_assert_eq(count_files(p, NULL), 0);
	snprintf(p, sizeof(p), "%s/models", E.store);
	cr_assert_eq(count_files(p, NULL), 0);
	struct stat st;
	cr_assert_eq(stat(E.audit, &st), 0);
	cr_assert_eq(st.st_size, 0);
}
