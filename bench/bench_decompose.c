/*
 * Decomposition throughput and memory (one core).
 *
 *   cmake --build build --target bench_decompose && ./build/bench_decompose [MODEL.onnx ...]
 *
 * Rows: the largest real model (PaddleOCR rec, ~11 MB, from the cache) or the models given on the
 * command line, then a synthetic 256 MiB float model built in memory (size in MiB from
 * EML_BENCH_SYNTH_MB). Throughput is MB (10^6 bytes) of tensor data per second through
 * eml_topo_decompose (layout + padding + AES-256-GCM + SHA-256 + key serialization), best of
 * several runs; join is eml_tkey_parse + eml_topo_join (digest + decryption into locked memory).
 * Peak RSS is getrusage's ru_maxrss right after the first decomposition of the row (the loaded
 * model included), compared with the model's tensor bytes; rows run smallest first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"
#include "topo/topo.h"

/* Wall clock, or this process's CPU time when EML_BENCH_CPU=1 (the build machine is shared:
 * CPU time is the one-core figure when other jobs compete for the cores). */
static double now_s(void)
{
	static int cpu = -1;
	if (cpu < 0) {
		const char *e = getenv("EML_BENCH_CPU");
		cpu = e != NULL && e[0] == '1';
	}
	struct timespec ts;
	clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static eml_model *synthetic(size_t mb)
{
	eml_model *m = eml_model_new();
	uint32_t nt = 64;
	uint64_t per = ((uint64_t)mb << 20) / nt / 4; /* floats per tensor */
	m->ir_version = 8;
	m->n_opsets = 1;
	m->opsets = eml_calloc(1, sizeof(eml_opset));
	m->opsets[0].domain = eml_strdup("");
	m->opsets[0].version = 17;
	m->n_tensors = nt;
	m->tensors = eml_calloc(nt, sizeof(eml_tensor));
	m->n_values = nt + 1;
	m->values = eml_calloc(nt + 1, sizeof(eml_value));
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	m->graphs[0].n_initializers = nt;
	m->graphs[0].initializers = eml_calloc(nt, sizeof(int32_t));
	m->data_len = (uint64_t)nt * per * 4;
	m->data = eml_alloc((size_t)m->data_len);
	if (m->data == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	uint32_t x = 12345;
	float *f = (float *)m->data;
	for (uint64_t i = 0; i < (uint64_t)nt * per; i++) {
		x = x * 1664525u + 1013904223u;
		f[i] = (float)(int32_t)x * (1.0f / 2147483648.0f);
	}
	m->values[0].tensor = -1;
	m->values[0].rank = -1;
	for (uint32_t t = 0; t < nt; t++) {
		m->tensors[t].dtype = EML_DT_FLOAT;
		m->tensors[t].rank = 2;
		m->tensors[t].dims[0] = (int64_t)(per / 256);
		m->tensors[t].dims[1] = 256;
		m->tensors[t].length = (per / 256) * 256 * 4;
		m->tensors[t].offset = (uint64_t)t * per * 4;
		m->values[t + 1].tensor = (int32_t)t;
		m->values[t + 1].dtype = EML_DT_FLOAT;
		m->values[t + 1].rank = -1;
		m->graphs[0].initializers[t] = (int32_t)(t + 1);
	}
	return m;
}

static void row(const char *name, eml_model *m, int runs)
{
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < m->n_tensors; i++)
		bytes += m->tensors[i].length;
	double best = 1e30, best_into = 1e30, best_join = 1e30;
	double rss_dec = 0;
	size_t tkl = 0, bl = 0;
	uint8_t *reuse = NULL;
	for (int r = 0; r < runs; r++) {
		uint8_t *tk, *blob;
		double t0 = now_s();
		int rc = eml_topo_decompose(m, NULL, &tk, &tkl, &blob, &bl);
		double t1 = now_s();
		if (rc != EML_OK) {
			fprintf(stderr, "%s: decompose failed: %s\n", name, eml_err_name(rc));
			exit(1);
		}
		if (r == 0)
			rss_dec = peak_rss_mb(); /* model + one decomposition, before any join */
		if (t1 - t0 < best)
			best = t1 - t0;
		eml_tkey *k;
		eml_model *j;
		uint32_t bad;
		t0 = now_s();
		rc = eml_tkey_parse(tk, tkl, &k);
		if (rc == EML_OK)
			rc = eml_topo_join(k, blob, bl, &j, &bad);
		t1 = now_s();
		if (rc != EML_OK) {
			fprintf(stderr, "%s: join failed: %s\n", name, eml_err_name(rc));
			exit(1);
		}
		if (t1 - t0 < best_join)
			best_join = t1 - t0;
		eml_model_free(j);
		eml_tkey_free(k);
		eml_free(tk);
		/* keep the last blob's memory (already faulted in) for the reuse runs */
		eml_free(reuse);
		reuse = blob;
	}
	for (int r = 0; r < runs; r++) {
		uint8_t *tk;
		double t0 = now_s();
		int rc = eml_topo_decompose_into(m, NULL, &tk, &tkl, reuse, bl);
		double t1 = now_s();
		if (rc != EML_OK) {
			fprintf(stderr, "%s: decompose_into failed: %s\n", name, eml_err_name(rc));
			exit(1);
		}
		if (t1 - t0 < best_into)
			best_into = t1 - t0;
		eml_free(tk);
	}
	eml_free(reuse);
	double mib = (double)bytes / (1 << 20);
	printf("| %-20s | %8.1f | %8.1f | %8.0f | %8.0f | %8.0f | %7.1f | %8.1f | %5.2fx |\n", name,
	       (double)bytes / 1e6, (double)bl / 1e6, (double)bytes / 1e6 / best,
	       (double)bytes / 1e6 / best_into, (double)bytes / 1e6 / best_join, (double)tkl / 1e3,
	       rss_dec, rss_dec / mib);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	printf("| %-20s | %8s | %8s | %8s | %8s | %8s | %7s | %8s | %6s |\n", "model", "MB",
	       "blob MB", "dec MB/s", "warm MB/s", "join MB/s", "tkey kB", "peak MB", "/model");
	printf(
	    "|----------------------|----------|----------|----------|----------|----------|------"
	    "---|----------|--------|\n");
	char def[4096];
	const char *home = getenv("HOME");
	snprintf(def, sizeof(def), "%s/.cache/eml/models/ocr/rec.onnx", home ? home : "/tmp");
	const char *const *paths = (const char *const *)argv + 1;
	int np = argc - 1;
	const char *defs[] = {def};
	if (np == 0) {
		paths = defs;
		np = 1;
	}
	for (int i = 0; i < np; i++) {
		eml_model *m = NULL;
		int rc = eml_onnx_load_file(paths[i], &m);
		if (rc != EML_OK) {
			fprintf(stderr, "%s: %s (run scripts/fetch-testdata)\n", paths[i],
			        eml_err_name(rc));
			return 1;
		}
		const char *b = strrchr(paths[i], '/');
		row(b ? b + 1 : paths[i], m, 20);
		eml_model_free(m);
	}
	const char *e = getenv("EML_BENCH_SYNTH_MB");
	size_t mb = e != NULL ? (size_t)strtoul(e, NULL, 10) : 256;
	eml_model *s = synthetic(mb);
	char name[64];
	snprintf(name, sizeof(name), "synthetic %zu MiB", mb);
	row(name, s, 3);
	eml_model_free(s);
	printf("clock: %s\n", getenv("EML_BENCH_CPU") && getenv("EML_BENCH_CPU")[0] == '1'
	                          ? "process CPU time (EML_BENCH_CPU=1)"
	                          : "wall (EML_BENCH_CPU=1 for CPU time)");
	printf("dec: eml_topo_decompose (fresh blob allocation, page faults included); warm: "
	       "eml_topo_decompose_into a reused buffer;\njoin: eml_tkey_parse + eml_topo_join; "
	       "peak: ru_maxrss after the first decomposition (loaded model included), /model: "
	       "that over the tensor bytes\n");
	return 0;
}
