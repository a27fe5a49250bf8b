/*
 * Load test (issue 10, docs/RELIABILITY.md): C concurrent clients, each with its own attested
 * session, send R mnist inferences each through one host and one enclave (real processes, e2e
 * harness). Every result must equal the local engine's output for the same input, with zero
 * errors; p50/p99 latency and throughput are printed; host and enclave RSS after warm-up (every
 * client has finished its first 10 % of requests) and at the end must not grow by more than 1 %
 * (or 512 KiB, the allocator's granularity on these small processes, whichever is larger).
 *
 *   make test:  EML_LOAD_CLIENTS=8, EML_LOAD_REQUESTS=25 (a few seconds)
 *   make soak:  EML_LOAD_CLIENTS=64, EML_LOAD_REQUESTS=200 (the full figure)
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "common/file.h"
#include "common/mem.h"
#include "e2e.h"
#include "eml/client.h"
#include "prop.h"
#include "tensor/tensor_io.h"

typedef struct load {
	const char *host, *policy;
	const uint8_t *tkey;
	size_t tkey_len;
	const eml_tensor_file *in, *ref;
	int requests;
	uint64_t *lat_ns; /* clients * requests */
	atomic_int errors, wrong, warm;
	int clients;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int go_on; /* set by the main thread once the warm-up RSS is read */
} load;

typedef struct worker {
	load *l;
	int id;
} worker;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void *client_main(void *arg)
{
	worker *w = arg;
	load *l = w->l;
	eml_client *c = NULL;
	eml_client_opts o = {.host = l->host, .policy_path = l->policy, .timeout_ms = 60000};
	int warm_at = l->requests / 10 > 0 ? l->requests / 10 : 1;
	if (eml_client_connect(&o, &c) != EML_OK) {
		atomic_fetch_add(&l->errors, l->requests);
		atomic_fetch_add(&l->warm, 1);
		return NULL;
	}
	eml_client_tensor in = {
	    .dtype = l->in->dtype, .rank = l->in->rank, .data = l->in->data, .bytes = l->in->bytes};
	memcpy(in.dims, l->in->dims, sizeof(int64_t) * l->in->rank);
	for (int i = 0; i < l->requests; i++) {
		if (i == warm_at) {
			/* Wait until every client is warm and the main thread has read the RSS. */
			pthread_mutex_lock(&l->mu);
			atomic_fetch_add(&l->warm, 1);
			pthread_cond_broadcast(&l->cv);
			while (!l->go_on)
				pthread_cond_wait(&l->cv, &l->mu);
			pthread_mutex_unlock(&l->mu);
		}
		eml_client_result *r = NULL;
		uint64_t t0 = now_ns();
		int rc = eml_client_infer(c, l->tkey, l->tkey_len, &in, 1, &r);
		l->lat_ns[(size_t)w->id * (size_t)l->requests + (size_t)i] = now_ns() - t0;
		if (rc != EML_OK) {
			fprintf(stderr, "load: client %d request %d: %s\n", w->id, i,
			        eml_err_str(rc));
			atomic_fetch_add(&l->errors, 1);
			eml_client_free(c);
			c = NULL;
			if (eml_client_connect(&o, &c) != EML_OK) {
				atomic_fetch_add(&l->errors, l->requests - i - 1);
				if (i < warm_at)
					atomic_fetch_add(&l->warm, 1);
				return NULL;
			}
			continue;
		}
		const eml_client_tensor *t =
		    eml_client_result_count(r) == 1 ? eml_client_result_tensor(r, 0) : NULL;
		if (t == NULL || t->bytes != l->ref->bytes ||
		    memcmp(t->data, l->ref->data, l->ref->bytes) != 0)
			atomic_fetch_add(&l->wrong, 1);
		eml_client_result_free(r);
	}
	eml_client_free(c);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v != NULL && atoi(v) > 0 ? atoi(v) : def;
}

static int rss_stable(long before, long after)
{
	long growth = after - before, allowed = before / 100 > 512 ? before / 100 : 512;
	return growth <= allowed;
}

Test(load, concurrent_clients_through_one_host_and_enclave, .timeout = 900)
{
	int clients = env_int("EML_LOAD_CLIENTS", 8), requests = env_int("EML_LOAD_REQUESTS", 25);
	char threads[16];
	snprintf(threads, sizeof(threads), "%d", 1);
	eml_e2e e;
	eml_e2e_opts o = {.max_concurrent = clients,
	                  .extra_enclave_arg = "--threads",
	                  .extra_enclave_val = threads};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");

	char model[PATH_MAX], input[PATH_MAX], out[8192], tk[700], wt[700], ldir[700], l0[800],
	    in_arg[PATH_MAX + 8];
	snprintf(model, sizeof(model), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	snprintf(input, sizeof(input), "%s/models/mnist-8/test_data_set_0/input_0.pb",
	         eml_test_vectors_dir());
	cr_assert_eq(eml_e2e_run(out, sizeof(out), 60000, "decompose", model, "-o", e.dir, "--name",
	                         "m", NULL),
	             0, "decompose: %s", out);
	snprintf(tk, sizeof(tk), "%s/m.tkey", e.dir);
	snprintf(wt, sizeof(wt), "%s/m.weights", e.dir);
	cr_assert_eq(
	    eml_e2e_run(out, sizeof(out), 60000, "upload", wt, "--host", e.client_addr, NULL), 0,
	    "upload: %s", out);
	/* The reference: the same input through the local engine. */
	snprintf(in_arg, sizeof(in_arg), "0=%s", input);
	snprintf(ldir, sizeof(ldir), "%s/local", e.dir);
	cr_assert_eq(eml_e2e_run(out, sizeof(out), 60000, "run", model, "--input", in_arg,
	                         "--output-dir", ldir, NULL),
	             0, "run: %s", out);
	snprintf(l0, sizeof(l0), "%s/output_0.npy", ldir);
	eml_tensor_file in, ref;
	cr_assert_eq(eml_tensor_read_file(input, &in), EML_OK);
	cr_assert_eq(eml_tensor_read_file(l0, &ref), EML_OK);
	uint8_t *tkey;
	size_t tkey_len;
	cr_assert_eq(eml_file_read(tk, 1 << 24, &tkey, &tkey_len), EML_OK);

	load l = {.host = e.client_addr,
	          .policy = e.policy,
	          .tkey = tkey,
	          .tkey_len = tkey_len,
	          .in = &in,
	          .ref = &ref,
	          .requests = requests,
	          .clients = clients};
	l.lat_ns = calloc((size_t)clients * (size_t)requests, sizeof(uint64_t));
	cr_assert_not_null(l.lat_ns);
	pthread_mutex_init(&l.mu, NULL);
	pthread_cond_init(&l.cv, NULL);
	pthread_t *th = calloc((size_t)clients, sizeof(pthread_t));
	worker *ws = calloc((size_t)clients, sizeof(worker));
	cr_assert(th != NULL && ws != NULL);
	uint64_t t0 = now_ns();
	for (int i = 0; i < clients; i++) {
		ws[i] = (worker){.l = &l, .id = i};
		cr_assert_eq(pthread_create(&th[i], NULL, client_main, &ws[i]), 0);
	}
	pthread_mutex_lock(&l.mu);
	while (atomic_load(&l.warm) < clients)
		pthread_cond_wait(&l.cv, &l.mu);
	long host0 = rss_kb(e.host_pid), encl0 = rss_kb(e.enclave_pid);
	l.go_on = 1;
	pthread_cond_broadcast(&l.cv);
	pthread_mutex_unlock(&l.mu);
	for (int i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	long host1 = rss_kb(e.host_pid), encl1 = rss_kb(e.enclave_pid);

	size_t total = (size_t)clients * (size_t)requests;
	qsort(l.lat_ns, total, sizeof(uint64_t), cmp_u64);
	double p50 = (double)l.lat_ns[total / 2] / 1e6,
	       p99 = (double)l.lat_ns[total * 99 / 100] / 1e6;
	fprintf(stderr,
	        "load: %d clients x %d requests: %zu requests in %.2f s = %.0f req/s; latency p50 "
	        "%.2f ms p99 %.2f ms; errors %d wrong %d; RSS host %ld -> %ld kB, enclave %ld -> "
	        "%ld kB\n",
	        clients, requests, total, secs, (double)total / secs, p50, p99,
	        atomic_load(&l.errors), atomic_load(&l.wrong), host0, host1, encl0, encl1);

	cr_expect_eq(atomic_load(&l.errors), 0, "requests failed under load");
	cr_expect_eq(atomic_load(&l.wrong), 0, "results differ from the local run under load");
	cr_expect(host0 > 0 && encl0 > 0, "could not read the processes' RSS");
	int host_ok = rss_stable(host0, host1), encl_ok = rss_stable(encl0, encl1);
#if defined(__SANITIZE_ADDRESS__)
	(void)host_ok;
	(void)encl_ok;
	/* Under ASan freed memory sits in the quarantine (256 MiB by default), so RSS says nothing
	 * about leaks there; LeakSanitizer and the normal build's run check them instead. */
	fprintf(stderr, "load: RSS stability not checked under ASan (quarantine)\n");
#else
	cr_expect(host_ok, "host RSS grew from %ld to %ld kB", host0, host1);
	cr_expect(encl_ok, "enclave RSS grew from %ld to %ld kB", encl0, encl1);
#endif

	free(th);
	free(ws);
	free(l.lat_ns);
	eml_free(tkey);
	eml_tensor_file_cleanup(&in);
	eml_tensor_file_cleanup(&ref);
	eml_e2e_stop(&e);
}
