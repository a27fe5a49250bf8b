/*
 * Memory security, proven by reading the enclave process (DESIGN §6-7; docs/MEMORY.md).
 *
 * `eml enclave --nsm sim` runs as a child of the test. For each case a random model (its weights
 * are high-entropy canaries) is decomposed, a request runs through the host, and after the
 * response every readable mapping of the enclave (/proc/PID/maps + /proc/PID/mem; the tests run
 * as root, which is why PR_SET_DUMPABLE=0 does not stop them) is searched for every distinctive
 * 16-byte window of the plaintext weights, the secret parts of the topology key, the inputs and
 * the outputs. Zero hits are required. Two controls show the scanner is not blind: the test-only
 * build eml-test-nowipe (no wiping) leaves canaries that the same scan finds, and a scan taken
 * while the enclave is paused right after an inference (eml-test-hooks) finds them too.
 * Property 14 runs the same battery with the enclave's folders watched: nothing is written.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/host_client.h"
#include "common/mem.h"
#include "e2e.h"
#include "e2e_case.h"
#include "eml/client.h"
#include "prop.h"

static char variant_bin[4096];

/* The path of a test-only variant next to eml. */
static const char *variant(const char *name)
{
	snprintf(variant_bin, sizeof(variant_bin), "%s", eml_test_bin());
	char *slash = strrchr(variant_bin, '/');
	size_t off = slash != NULL ? (size_t)(slash - variant_bin) + 1 : 0;
	snprintf(variant_bin + off, sizeof(variant_bin) - off, "eml-test-%s", name);
	return variant_bin;
}

static int infer_case(eml_e2e *e, eml_case *c)
{
	eml_client *cl = NULL;
	eml_client_result *r = NULL;
	eml_client_opts o = {.host = e->client_addr, .policy_path = e->policy, .timeout_ms = 30000};
	int rc = eml_host_upload(e->client_addr, c->blob, c->blob_len, 30000, NULL);
	if (rc == EML_OK)
		rc = eml_client_connect(&o, &cl);
	if (rc == EML_OK)
		rc = eml_client_infer(cl, c->tkey, c->tkey_len, c->in, c->info.n_inputs, &r);
	if (rc == EML_OK)
		eml_case_add_outputs(c, r);
	eml_client_result_free(r);
	eml_client_free(cl);
	return rc;
}

/* Search the enclave's memory for the case's plaintext. Returns the needle tag or -1. */
static int scan_enclave(eml_e2e *e, eml_case *c, size_t *scanned)
{
	uint8_t *mem;
	size_t n;
	cr_assert_eq(eml_e2e_read_process_memory(e->enclave_pid, &mem, &n), 0,
	             "cannot read the enclave's memory");
	*scanned = n;
	int t = eml_case_find(c, mem, n);
	eml_free(mem);
	return t;
}

static void scan_battery(const eml_e2e_opts *opts)
{
	eml_e2e e;
	eml_e2e_opts o = *opts;
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	PROP_FOR_EACH_CASE(rng)
	{
		eml_case c;
		PROP_ASSERT(eml_case_new(&rng, 3, &c) == 0, "generate");
		int rc = infer_case(&e, &c);
		PROP_ASSERT(rc == EML_OK, "inference failed: %s", eml_err_name(rc));
		size_t n = 0;
		int t = scan_enclave(&e, &c, &n);
		char where[1200] = "";
		if (t >= 0) {
			const eml_window_set *sets[] = {NULL, c.inputs, c.outputs, c.tkey_secret,
			                                c.weights};
			eml_e2e_locate(e.enclave_pid, sets[t], where, sizeof(where));
		}
		PROP_ASSERT(t < 0,
		            "plaintext %s found in the enclave's memory after the request: %s",
		            eml_needle_name(t), where);
		PROP_ASSERT(n > 1 << 20, "the scan read too little memory (%zu bytes)", n);
		eml_case_free(&c);
	}
	eml_e2e_stop(&e);
}

#define P5                                                                                         \
	"Feature: ephemeral-inference, Property 5: Ephemeral round trip. Assembling a model "      \
	"from a topology key and its blob and then destroying it leaves no recoverable model "     \
	"artifact in process memory."
/* Feature: ephemeral-inference, Property 5: Ephemeral round trip. Assembling a model from a
 * topology key and its blob and then destroying it leaves no recoverable model artifact in
 * process memory. */
Test(prop, ephemeral_round_trip_memory_scan, .description = P5, .timeout = 900)
{
	eml_e2e_opts o = {0};
	scan_battery(&o);
}

#define P10                                                                                        \
	"Feature: ephemeral-inference, Property 10: Memory security. After each assembly and "     \
	"inference, every location that held topology, weight mappings or intermediate "           \
	"results has been overwritten."
/* Feature: ephemeral-inference, Property 10: Memory security. After each assembly and inference,
 * every location that held topology, weight mappings or intermediate results has been
 * overwritten. */
Test(prop, memory_security_memory_scan, .description = P10, .timeout = 900)
{
	eml_e2e_opts o = {0};
	scan_battery(&o);
}

/* The same battery with every request's input and output hashing on a second thread, beside the
 * assembly and the wipe (the path large tensors take; the test binary lowers its threshold to
 * zero): the side threads leave nothing behind either. */
Test(memory, overlapped_hashing_leaves_no_plaintext, .timeout = 900)
{
	eml_e2e_opts o = {.enclave_bin = variant("hooks"),
	                  .enclave_env = "EML_TEST_OVERLAP_MIN_BYTES=0"};
	scan_battery(&o);
}

/* Negative control: without wiping, the same scan finds the canaries. */
Test(memory, scanner_sees_unwiped_plaintext, .timeout = 300)
{
	eml_e2e e;
	eml_e2e_opts o = {.enclave_bin = variant("nowipe")};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_rng rng;
	eml_rng_seed(&rng, 11);
	int hits = 0;
	for (int i = 0; i < 5; i++) {
		eml_case c;
		cr_assert_eq(eml_case_new(&rng, 3, &c), 0);
		int rc = infer_case(&e, &c);
		cr_assert_eq(rc, EML_OK, "inference failed: %s", eml_err_name(rc));
		size_t n;
		hits += scan_enclave(&e, &c, &n) >= 0;
		eml_case_free(&c);
	}
	eml_e2e_stop(&e);
	cr_assert_gt(hits, 0, "the scanner found nothing in an enclave that does not wipe");
}

/* waitpid with a deadline: the pid's status, or -1 when nothing happened within timeout_ms. */
static int wait_bounded(pid_t pid, int flags, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		int st = 0;
		pid_t r = waitpid(pid, &st, flags | WNOHANG);
		if (r == pid)
			return st;
		usleep(10000);
	}
	return -1;
}

struct bg_infer {
	eml_e2e *e;
	eml_case *c;
	int rc;
};

static void *bg_main(void *arg)
{
	struct bg_infer *b = arg;
	b->rc = infer_case(b->e, b->c);
	return NULL;
}

/* During an inference the plaintext is there (and the scan sees it); afterwards it is gone. */
Test(memory, plaintext_lives_only_during_the_request, .timeout = 300)
{
	eml_e2e e;
	eml_e2e_opts o = {.enclave_bin = variant("hooks"),
	                  .enclave_env = "EML_TEST_PAUSE_AFTER_RUN=1"};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_rng rng;
	eml_rng_seed(&rng, 12);
	for (int i = 0; i < 3; i++) {
		eml_case c;
		cr_assert_eq(eml_case_new(&rng, 3, &c), 0);
		struct bg_infer b = {.e = &e, .c = &c};
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, bg_main, &b), 0);
		int st = wait_bounded(e.enclave_pid, WUNTRACED, 30000);
		if (st == -1 || !WIFSTOPPED(st)) {
			kill(e.enclave_pid, SIGKILL);
			pthread_join(t, NULL);
			cr_assert_fail("the enclave did not pause at the test hook (%s)",
			               eml_err_name(b.rc));
		}
		uint8_t *mem;
		size_t n;
		cr_assert_eq(eml_e2e_read_process_memory(e.enclave_pid, &mem, &n), 0);
		int in_found = eml_window_set_find(c.inputs, mem, n, NULL) >= 0;
		int key_found = eml_window_set_find(c.tkey_secret, mem, n, NULL) >= 0;
		eml_free(mem);
		kill(e.enclave_pid, SIGCONT);
		pthread_join(t, NULL);
		cr_assert_eq(b.rc, EML_OK, "inference failed: %s", eml_err_name(b.rc));
		cr_assert(in_found, "the paused scan did not find the inputs");
		cr_assert(key_found, "the paused scan did not find the topology key");
		size_t m;
		int after = scan_enclave(&e, &c, &m);
		cr_assert(after < 0, "plaintext %s left after the request", eml_needle_name(after));
		eml_case_free(&c);
	}
	eml_e2e_stop(&e);
}

/* Names, sizes and modification times of the entries of a folder (not recursive). */
static char *listing(const char *dir)
{
	eml_buf b;
	eml_buf_init(&b, 0);
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			char p[4096], line[4400];
			struct stat st;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			if (lstat(p, &st) != 0)
				continue;
			int k = snprintf(line, sizeof(line), "%s %lld %lld\n", de->d_name,
			                 (long long)st.st_size, (long long)st.st_mtime);
			eml_buf_put(&b, line, (size_t)k);
		}
		closedir(d);
	}
	eml_buf_u8(&b, 0);
	size_t n;
	return (char *)eml_buf_take(&b, &n);
}

static int count_entries(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

#define P14                                                                                        \
	"Feature: ephemeral-inference, Property 14: No persistence. No component writes "          \
	"assembled models, topology-weight mappings or decrypted data to persistent storage."
/* Feature: ephemeral-inference, Property 14: No persistence. No component writes assembled
 * models, topology-weight mappings or decrypted data to persistent storage. */
Test(prop, no_persistence, .description = P14, .timeout = 900)
{
	eml_e2e e;
	eml_e2e_opts o = {0};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	const char *home = getenv("HOME");
	char *home_before = listing(home != NULL ? home : "/root");
	char *tmp_before = listing("/tmp");
	char blobs[700];
	snprintf(blobs, sizeof(blobs), "%s/blobs", e.store);
	PROP_FOR_EACH_CASE(rng)
	{
		eml_case c;
		PROP_ASSERT(eml_case_new(&rng, 2, &c) == 0, "generate");
		int rc = infer_case(&e, &c);
		PROP_ASSERT(rc == EML_OK, "inference failed: %s", eml_err_name(rc));
		/* The enclave's own folders stay empty; the store holds only ciphertext. */
		PROP_ASSERT(count_entries(e.enclave_cwd) == 0, "the enclave wrote in its folder");
		PROP_ASSERT(count_entries(e.enclave_home) == 0, "the enclave wrote in its HOME");
		uint8_t *store;
		size_t n;
		PROP_ASSERT(eml_e2e_read_tree(e.store, &store, &n) == 0, "read store");
		int t = eml_case_find(&c, store, n);
		eml_free(store);
		PROP_ASSERT(t < 0, "decrypted %s found in the host's store", eml_needle_name(t));
		PROP_ASSERT(count_entries(blobs) <= eml_prop_case_cur + 1,
		            "the store grew by more than the uploads");
		eml_case_free(&c);
	}
	char *home_after = listing(home != NULL ? home : "/root");
	char *tmp_after = listing("/tmp");
	cr_assert_str_eq(home_before, home_after, "something changed in $HOME during the battery");
	/* /tmp is shared with other processes of this machine; only look for our names. */
	cr_assert(strstr(tmp_after, "eml-write-attempt") == NULL);
	eml_free(home_before);
	eml_free(home_after);
	eml_free(tmp_before);
	eml_free(tmp_after);
	eml_e2e_stop(&e);
}

/* The sandbox works: a deliberate write from the (test-only) hook kills the enclave. */
Test(memory, write_attempt_kills_the_sandboxed_enclave, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {.enclave_bin = variant("hooks"),
	                  .enclave_env = "EML_TEST_WRITE_ATTEMPT=1"};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_rng rng;
	eml_rng_seed(&rng, 13);
	eml_case c;
	cr_assert_eq(eml_case_new(&rng, 2, &c), 0);
	int rc = infer_case(&e, &c);
	cr_assert_neq(rc, EML_OK, "the request succeeded although the enclave tried to write");
	int st = wait_bounded(e.enclave_pid, 0, 30000);
	cr_assert_neq(st, -1, "the enclave is still running");
	e.enclave_pid = 0;
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "not killed by seccomp (status %d)",
	          st);
	cr_assert_eq(count_entries(e.enclave_cwd), 0, "the write went through");
	eml_case_free(&c);
	eml_e2e_stop(&e);
}

/* Resource exhaustion during assembly: a request whose arena would pass --max-memory fails with
 * ENGINE_MEMORY_LIMIT, what was partially assembled is gone from memory, and the enclave keeps
 * serving smaller requests. */
Test(memory, memory_limit_fails_closed_wipes_and_keeps_serving, .timeout = 300)
{
	eml_e2e e;
	eml_e2e_opts o = {.extra_enclave_arg = "--max-memory", .extra_enclave_val = "60000"};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_rng rng;
	eml_rng_seed(&rng, 14);
	int refused = 0, served = 0;
	for (int i = 0; i < 40 && (refused < 3 || served < 3); i++) {
		eml_case c;
		cr_assert_eq(eml_case_new(&rng, 3, &c), 0);
		int rc = infer_case(&e, &c);
		size_t n;
		int t = scan_enclave(&e, &c, &n);
		cr_assert(t < 0, "plaintext %s left after a %s request", eml_needle_name(t),
		          rc == EML_OK ? "served" : "refused");
		if (rc == EML_E_ENGINE_MEMORY_LIMIT)
			refused++;
		else if (rc == EML_OK)
			served++;
		else
			cr_assert_fail("unexpected result %s", eml_err_name(rc));
		eml_case_free(&c);
	}
	cr_assert_geq(refused, 1, "no request hit the memory limit");
	cr_assert_geq(served, 1, "no request fitted under the memory limit");
	eml_e2e_stop(&e);
}

/* No core file from a crashing sandboxed enclave. */
Test(memory, sigabrt_leaves_no_core_file, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {0};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	kill(e.enclave_pid, SIGABRT);
	int st = wait_bounded(e.enclave_pid, 0, 30000);
	cr_assert_neq(st, -1, "the enclave is still running");
	e.enclave_pid = 0;
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	cr_assert(!WCOREDUMP(st), "a core dump was written");
	cr_assert_eq(count_entries(e.enclave_cwd), 0, "a file appeared in the enclave's folder");
	eml_e2e_stop(&e);
}
