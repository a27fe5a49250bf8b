/*
 * End-to-end benchmark (make bench): real `eml host` + `eml enclave --nsm sim` on Unix sockets.
 *
 *  - per model: request latency through host and enclave with the session already attested,
 *    against ONNX Runtime warm (in-process) and cold (session create + run), same threads, same
 *    run; the enclave's own breakdown (fetch, join, plan, run, wipe) from its log;
 *  - session set-up (connect + hello + attestation verification);
 *  - what the host proxy adds (through the host vs straight to the enclave socket);
 *  - throughput with 1, 2, 8, 32 concurrent clients;
 *  - the cost of the protections: wipe bandwidth, mlock, sandbox on vs off.
 *
 * Figures only; nothing here is asserted (DEVELOPERS: performance is never a timed test).
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"
#include "e2e.h"
#include "eml/client.h"
#include "onnx/onnx.h"
#include "prop.h"
#include "tensor/tensor_io.h"
#include "topo/topo.h"

#define REQS 15

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* This thread's CPU time: wipe and mlock costs without the noise of a shared machine. */
static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	int i = (int)(p * (n - 1) + 0.5);
	return v[i];
}

typedef struct bmodel {
	const char *name;
	char path[PATH_MAX];
	int64_t dims[4];
	uint32_t rank;
	uint8_t *tkey;
	size_t tkey_len;
	float *x;
	uint64_t bytes;
	char xfile[PATH_MAX];
} bmodel;

static int prepare(eml_e2e *e, bmodel *m)
{
	eml_model *mm = NULL;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	if (eml_onnx_load_file(m->path, &mm) != EML_OK)
		return -1;
	eml_decompose_opts o = {0};
	int rc = eml_topo_decompose(mm, &o, &m->tkey, &m->tkey_len, &blob, &blob_len);
	eml_model_free(mm);
	if (rc != EML_OK || eml_host_upload(e->client_addr, blob, blob_len, 60000, NULL) != EML_OK)
		return -1;
	eml_free(blob);
	uint64_t n = 1;
	for (uint32_t i = 0; i < m->rank; i++)
		n *= (uint64_t)m->dims[i];
	m->bytes = n * 4;
	m->x = eml_alloc(m->bytes);
	eml_rng r;
	eml_rng_seed(&r, 5);
	for (uint64_t i = 0; i < n; i++)
		m->x[i] = eml_rng_float(&r, 0.f, 1.f);
	eml_tensor_file t = {
	    .dtype = 1, .rank = m->rank, .data = (uint8_t *)m->x, .bytes = m->bytes};
	memcpy(t.dims, m->dims, sizeof(m->dims));
	snprintf(m->xfile, sizeof(m->xfile), "%s/%s.npy", e->dir, m->name);
	return eml_tensor_write_file(m->xfile, &t) == EML_OK ? 0 : -1;
}

static eml_client_tensor input_of(const bmodel *m)
{
	eml_client_tensor t = {.dtype = 1, .rank = m->rank, .data = m->x, .bytes = m->bytes};
	memcpy(t.dims, m->dims, sizeof(m->dims));
	return t;
}

/* Median and p99 of REQS requests on one attested session; -1 on failure. */
static int latency(const char *addr, const char *policy, const bmodel *m, double *med, double *p99)
{
	eml_client *c = NULL;
	eml_client_opts o = {.host = addr, .policy_path = policy, .timeout_ms = 120000};
	double v[REQS];
	eml_client_tensor in = input_of(m);
	if (eml_client_connect(&o, &c) != EML_OK)
		return -1;
	for (int i = 0; i < REQS + 1; i++) {
		eml_client_result *r = NULL;
		double t0 = now_ms();
		int rc = eml_client_infer(c, m->tkey, m->tkey_len, &in, 1, &r);
		double dt = now_ms() - t0;
		eml_client_result_free(r);
		if (rc != EML_OK) {
			eml_client_free(c);
			return -1;
		}
		if (i > 0)
			v[i - 1] = dt; /* the first request warms caches */
	}
	eml_client_free(c);
	*med = pct(v, REQS, 0.5);
	*p99 = pct(v, REQS, 0.99);
	return 0;
}

/* ONNX Runtime warm and cold medians through tools/ort_ref.js. */
static int ort(const bmodel *m, int threads, double *warm, double *cold)
{
	char cmd[3 * PATH_MAX], line[8192];
	snprintf(
	    cmd, sizeof(cmd),
	    "NODE_PATH=%s/ort/node_modules node %s/tools/ort_ref.js %s --input 0=%s --threads %d "
	    "--bench 10 --json 2>/dev/null",
	    eml_test_cache_dir(), eml_test_source_dir(), m->path, m->xfile, threads);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(line, 1, sizeof(line) - 1, p);
	line[n] = '\0';
	pclose(p);
	char *w = strstr(line, "\"warm_ms_median\":"), *c = strstr(line, "\"cold_ms_median\":");
	if (w == NULL || c == NULL)
		return -1;
	*warm = strtod(w + 17, NULL);
	*cold = strtod(c + 17, NULL);
	return 0;
}

/* Median request latency of model m on a freshly started host + enclave (for A/B runs). */
/* What the host proxy adds: two attested sessions, one through the host and one straight to the
 * enclave's socket, used alternately (so load bursts hit both alike), n requests each. */
#define PROXY_REQS 400
static int proxy_added(const char *via_host, const char *direct, const char *policy,
                       const bmodel *m, double *hm, double *hp, double *dm, double *dp)
{
	eml_client *c[2] = {NULL, NULL};
	const char *addr[2] = {via_host, direct};
	static double v[2][PROXY_REQS];
	eml_client_tensor in = input_of(m);
	int rc = 0;
	for (int k = 0; k < 2 && rc == 0; k++) {
		eml_client_opts o = {.host = addr[k], .policy_path = policy, .timeout_ms = 60000};
		if (eml_client_connect(&o, &c[k]) != EML_OK)
			rc = -1;
	}
	for (int i = 0; i < PROXY_REQS + 5 && rc == 0; i++)
		for (int k = 0; k < 2 && rc == 0; k++) {
			eml_client_result *r = NULL;
			double t0 = now_ms();
			if (eml_client_infer(c[k], m->tkey, m->tkey_len, &in, 1, &r) != EML_OK)
				rc = -1;
			double dt = now_ms() - t0;
			eml_client_result_free(r);
			if (i >= 5)
				v[k][i - 5] = dt; /* the first requests warm both paths up */
		}
	for (int k = 0; k < 2; k++)
		eml_client_free(c[k]);
	if (rc != 0)
		return -1;
	*hm = pct(v[0], PROXY_REQS, 0.5);
	*hp = pct(v[0], PROXY_REQS, 0.99);
	*dm = pct(v[1], PROXY_REQS, 0.5);
	*dp = pct(v[1], PROXY_REQS, 0.99);
	return 0;
}

static double fresh_median(const eml_e2e_opts *o, const bmodel *m)
{
	eml_e2e e;
	eml_e2e_opts dflt = {0};
	double med = -1, p99;
	if (eml_e2e_start(&e, o != NULL ? o : &dflt) != 0)
		return -1;
	bmodel copy = *m;
	copy.tkey = NULL;
	copy.x = NULL;
	if (prepare(&e, &copy) == 0 && latency(e.client_addr, e.policy, &copy, &med, &p99) != 0)
		med = -1;
	eml_free(copy.tkey);
	eml_free(copy.x);
	eml_e2e_stop(&e);
	return med;
}

struct tp_arg {
	const char *addr, *policy;
	const bmodel *m;
	int n, ok;
};

static void *tp_main(void *arg)
{
	struct tp_arg *a = arg;
	eml_client *c = NULL;
	eml_client_opts o = {.host = a->addr, .policy_path = a->policy, .timeout_ms = 120000};
	eml_client_tensor in = input_of(a->m);
	if (eml_client_connect(&o, &c) != EML_OK)
		return NULL;
	for (int i = 0; i < a->n; i++) {
		eml_client_result *r = NULL;
		if (eml_client_infer(c, a->m->tkey, a->m->tkey_len, &in, 1, &r) == EML_OK)
			a->ok++;
		eml_client_result_free(r);
	}
	eml_client_free(c);
	return NULL;
}

/* Prints the enclave's timings of its last request; returns the median of the wipe phase's part
 * on the request's path (us) over the model's REQS + 1 requests (the last lines of the enclave's
 * log). */
static double breakdown(const eml_e2e *e, const char *model, FILE *out)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/enclave.log", e->dir);
	FILE *f = fopen(path, "r");
	char line[1024], last[1024] = "";
	double wipes[REQS + 1];
	int nw = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "request timings") == NULL)
			continue;
		snprintf(last, sizeof(last), "%s", line);
		/* "wipe W us (P us on the request's path)": P is what the wipe adds to the
		 * request's latency (the rest runs beside the output hash) */
		char *w = strstr(line, "wipe ");
		char *pp = w != NULL ? strchr(w, '(') : NULL;
		/* a ring of the last REQS + 1 values */
		wipes[nw % (REQS + 1)] = pp != NULL ? atof(pp + 1) : (w != NULL ? atof(w + 5) : -1);
		nw++;
	}
	if (f != NULL)
		fclose(f);
	char *p = strstr(last, "request timings");
	fprintf(out, "   %s, enclave breakdown (last request): %s", model, p != NULL ? p : "n/a\n");
	int n = nw < REQS + 1 ? nw : REQS + 1;
	return n > 0 ? pct(wipes, n, 0.5) : -1;
}

int main(void)
{
	bmodel models[] = {
	    {.name = "mnist", .dims = {1, 1, 28, 28}, .rank = 4},
	    {.name = "ocr-cls", .dims = {1, 3, 48, 192}, .rank = 4},
	    {.name = "ocr-rec", .dims = {1, 3, 48, 320}, .rank = 4},
	    {.name = "ocr-det", .dims = {1, 3, 640, 640}, .rank = 4},
	};
	snprintf(models[0].path, PATH_MAX, "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	snprintf(models[1].path, PATH_MAX, "%s/models/ocr/cls.onnx", eml_test_cache_dir());
	snprintf(models[2].path, PATH_MAX, "%s/models/ocr/rec.onnx", eml_test_cache_dir());
	snprintf(models[3].path, PATH_MAX, "%s/models/ocr/det.onnx", eml_test_cache_dir());
	const int nm = (int)(sizeof(models) / sizeof(models[0]));

	eml_e2e e;
	eml_e2e_opts o = {.enclave_env = "EML_LOG=info", .max_concurrent = 64};
	if (eml_e2e_start(&e, &o) != 0) {
		printf("could not start host and enclave\n");
		return 1;
	}
	for (int i = 0; i < nm; i++)
		if (prepare(&e, &models[i]) != 0) {
			printf("cannot prepare %s (run scripts/fetch-testdata)\n", models[i].name);
			eml_e2e_stop(&e);
			return 1;
		}
	int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	printf("End to end through eml host + eml enclave --nsm sim (Unix sockets), session "
	       "attested;\n"
	       "%d requests per model; ONNX Runtime (onnxruntime-node) with %d threads in the same "
	       "run.\n\n",
	       REQS, threads);
	printf(
	    "| model | e2e median ms | e2e p99 ms | ORT warm ms | ORT cold ms | e2e / ORT warm | "
	    "e2e / ORT cold |\n|---|---|---|---|---|---|---|\n");
	double rec_wipe_us = -1, rec_med = -1;
	char lines[4][1200];
	for (int i = 0; i < nm; i++) {
		double med = 0, p99 = 0, warm = 0, cold = 0;
		int ok = latency(e.client_addr, e.policy, &models[i], &med, &p99);
		int ook = ort(&models[i], threads, &warm, &cold);
		if (ok != 0) {
			printf("| %s | failed | | | | | |\n", models[i].name);
			continue;
		}
		if (ook != 0)
			printf("| %s | %.2f | %.2f | n/a | n/a | | |\n", models[i].name, med, p99);
		else
			printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", models[i].name,
			       med, p99, warm, cold, med / warm, med / cold);
		/* the enclave's breakdown of this model's last request, printed after the table */
		fflush(stdout);
		char *buf = NULL;
		size_t blen = 0;
		FILE *mf = open_memstream(&buf, &blen);
		double wus = -1;
		if (mf != NULL) {
			wus = breakdown(&e, models[i].name, mf);
			fclose(mf);
		}
		snprintf(lines[i], sizeof(lines[i]), "%s", buf != NULL ? buf : "");
		free(buf);
		if (i == 2) {
			rec_wipe_us = wus;
			rec_med = med;
		}
	}
	printf("\n");
	for (int i = 0; i < nm; i++)
		printf("%s", lines[i]);

	/* Session set-up: connect + hello + attestation document + verification. */
	double s[20];
	for (int i = 0; i < 20; i++) {
		eml_client *c = NULL;
		eml_client_opts co = {.host = e.client_addr, .policy_path = e.policy};
		double t0 = now_ms();
		int rc = eml_client_connect(&co, &c);
		s[i] = now_ms() - t0;
		eml_client_free(c);
		if (rc != EML_OK)
			s[i] = -1;
	}
	printf("\nsession set-up (attestation + verify): median %.2f ms, p99 %.2f ms\n",
	       pct(s, 20, 0.5), pct(s, 20, 0.99));

	/* Host proxy: through the host vs straight to the enclave's socket (mnist). */
	char direct[700];
	snprintf(direct, sizeof(direct), "unix:%s", e.enclave_listen);
	double hm, hp, dm, dp;
	if (proxy_added(e.client_addr, direct, e.policy, &models[0], &hm, &hp, &dm, &dp) == 0)
		printf(
		    "host proxy (mnist, %d requests each way, alternating): through host median "
		    "%.3f ms p99 %.3f ms; direct median %.3f ms p99 %.3f ms; added median %.3f ms, "
		    "p99 %.3f ms\n",
		    PROXY_REQS, hm, hp, dm, dp, hm - dm, hp - dp);

	/* Throughput with concurrent clients (mnist). */
	printf("\n| concurrent clients | requests | seconds | requests/s |\n|---|---|---|---|\n");
	int counts[] = {1, 2, 8, 32};
	for (int k = 0; k < 4; k++) {
		int nc = counts[k];
		struct tp_arg args[32];
		pthread_t t[32];
		double t0 = now_ms();
		for (int i = 0; i < nc; i++) {
			args[i] = (struct tp_arg){.addr = e.client_addr,
			                          .policy = e.policy,
			                          .m = &models[0],
			                          .n = 160 / nc};
			pthread_create(&t[i], NULL, tp_main, &args[i]);
		}
		int done = 0;
		for (int i = 0; i < nc; i++) {
			pthread_join(t[i], NULL);
			done += args[i].ok;
		}
		double sec = (now_ms() - t0) / 1e3;
		printf("| %d | %d | %.2f | %.0f |\n", nc, done, sec, done / sec);
	}
	eml_e2e_stop(&e);

	/* Protections: wipe bandwidth, mlock, sandbox on vs off (ocr-rec). */
	size_t big = (size_t)256 << 20;
	void *p;
	size_t len;
	if (eml_secmem_map(big, &p, &len) == EML_OK) {
		memset(p, 1, big);
		double t0 = cpu_ms();
		for (int i = 0; i < 4; i++)
			eml_wipe(p, big);
		double dt = (cpu_ms() - t0) / 4;
		printf(
		    "\nwipe bandwidth: %.1f GB/s (explicit_bzero over 256 MiB, thread CPU time)\n",
		    big / dt / 1e6);
		munlock(p, len);
		t0 = cpu_ms();
		int lk = mlock(p, len);
		printf("mlock of 256 MiB (resident): %.2f ms CPU%s\n", cpu_ms() - t0,
		       lk != 0 ? " (refused)" : "");
		eml_secmem_unmap(p, len);
	}
	/* Sandbox on vs off, alternating twice, best median of each (the machine may be shared). */
	double med_sb = -1, med_nosb = -1;
	eml_e2e_opts nosb = {.no_sandbox = 1};
	for (int r = 0; r < 2; r++) {
		double a = fresh_median(NULL, &models[2]), b = fresh_median(&nosb, &models[2]);
		if (a > 0 && (med_sb < 0 || a < med_sb))
			med_sb = a;
		if (b > 0 && (med_nosb < 0 || b < med_nosb))
			med_nosb = b;
	}
	if (med_sb > 0 && med_nosb > 0)
		printf(
		    "sandbox cost (ocr-rec e2e median): with %.2f ms, without %.2f ms (%+.1f %%)\n",
		    med_sb, med_nosb, 100.0 * (med_sb - med_nosb) / med_nosb);
	/* Per request, the protections are the wipe phase's time on the request's path (every
	 * buffer wiped; the locked regions return to the pool, so no mlock/munmap after the first
	 * request; a large request's plan is wiped beside its output hash, and only the part of
	 * the wipe beyond that hash delays the answer) plus the sandbox's difference when
	 * positive. */
	if (rec_wipe_us >= 0 && rec_med > 0) {
		double sb = med_sb > 0 && med_nosb > 0 && med_sb > med_nosb ? med_sb - med_nosb : 0;
		double prot = rec_wipe_us / 1000.0 + sb;
		printf("protections per ocr-rec request: wipe phase on its path %.2f ms + sandbox "
		       "%.2f "
		       "ms = %.2f "
		       "ms = %.1f %% of its e2e median (%.2f ms); mlock: only when the pool of "
		       "locked regions grows (first requests)\n",
		       rec_wipe_us / 1000.0, sb, prot, 100.0 * prot / rec_med, rec_med);
	}
	for (int i = 0; i < nm; i++) {
		eml_free(models[i].tkey);
		eml_free(models[i].x);
	}
	return 0;
}
