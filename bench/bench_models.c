/*
 * bench_models: the engine against ONNX Runtime on the real models, as a markdown table.
 *
 *   bench_models [--models a,b,...] [--threads 1,2] [--budget-ms MS] [--rounds R] [--no-ort]
 *
 * For each model and thread count, in the same process run:
 *   - eml: the model is decomposed in memory; then "assembly" = topology key parse + blob
 *     digest check and decryption into locked memory (join) + engine plan/fold/pack
 *     (eml_engine_assemble); one warm-up run, then N timed runs (median). Peak arena bytes.
 *   - ORT: tools/ort_ref.js --bench N --threads T (same input, ORT's default graph
 *     optimizations, intra-op threads T): median warm run, median cold (session create + first
 *     run), peak RSS growth of the node process over its baseline.
 * N is chosen so each side spends about --budget-ms (default 1500) on warm runs (3..200). The
 * two sides alternate for --rounds rounds (default 2) and each keeps its best round: the machine
 * may be shared, and load bursts should not decide the ratio.
 *
 * Environment: EML_SOURCE_DIR (for tools/ort_ref.js; default: the current folder), EML_CACHE
 * (models and onnxruntime-node; default ~/.cache/eml), EML_VECTORS (MNIST; default
 * $EML_SOURCE_DIR/../shared/vectors).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "engine/engine.h"
#include "eml/error.h"
#include "onnx/onnx.h"
#include "tensor/tensor_io.h"
#include "topo/topo.h"

/* Steady-state assemblies timed per model and thread count. */
#define WARM_ASM 5
#define EML_STR2(x) #x
#define EML_STR(x) EML_STR2(x)

struct bmodel {
	const char *id;
	int in_cache;
	const char *rel;
	uint32_t rank;
	int64_t dims[4];
	int vad; /* Silero VAD: also sr (int64 16000) and the h, c states [2, 1, 64] */
};

#define MAX_IN 4

static const struct bmodel models[] = {
    {"mnist", 0, "models/mnist-8/model.onnx", 4, {1, 1, 28, 28}, 0},
    {"hello_deepa", 1, "models/openwakeword/hello_deepa.onnx", 3, {1, 25, 96, 0}, 0},
    {"hello_deepa_old", 1, "models/openwakeword/hello_deepa_old.onnx", 3, {1, 24, 96, 0}, 0},
    {"namaste_deepa", 1, "models/openwakeword/namaste_deepa.onnx", 3, {1, 24, 96, 0}, 0},
    {"ocr_cls", 1, "models/ocr/cls.onnx", 4, {1, 3, 48, 192}, 0},
    {"ocr_rec", 1, "models/ocr/rec.onnx", 4, {1, 3, 48, 320}, 0},
    {"ocr_det", 1, "models/ocr/det.onnx", 4, {1, 3, 640, 640}, 0},
    /* recurrent (LSTM) and int8 models (scripts/fetch-testdata; docs/CONFORMANCE.md) */
    {"silero_vad", 1, "models/silero/silero_vad.onnx", 2, {1, 1536, 0, 0}, 1},
    {"mnist_int8", 1, "models/int8/mnist_int8.onnx", 4, {1, 1, 28, 28}, 0},
    {"ocr_det_int8", 1, "models/int8/det_int8.onnx", 4, {1, 3, 640, 640}, 0},
};

/* snprintf for paths; a truncated path is a fatal configuration error here. */
static void pathf(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "bench_models: path too long\n");
		exit(2);
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *env_or(const char *k, const char *d)
{
	const char *v = getenv(k);
	return v != NULL && *v != '\0' ? v : d;
}

static char cache_dir[PATH_MAX], vectors_dir[PATH_MAX], source_dir[PATH_MAX];

static void init_dirs(void)
{
	snprintf(source_dir, sizeof(source_dir), "%s", env_or("EML_SOURCE_DIR", "."));
	const char *c = getenv("EML_CACHE");
	if (c != NULL && *c != '\0')
		snprintf(cache_dir, sizeof(cache_dir), "%s", c);
	else
		pathf(cache_dir, sizeof(cache_dir), "%s/.cache/eml", env_or("HOME", "/tmp"));
	const char *v = getenv("EML_VECTORS");
	if (v != NULL && *v != '\0')
		snprintf(vectors_dir, sizeof(vectors_dir), "%s", v);
	else
		pathf(vectors_dir, sizeof(vectors_dir), "%s/../shared/vectors", source_dir);
}

/* splitmix64: a deterministic input, the same on every run. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void make_input(const struct bmodel *m, eml_tensor_file *t)
{
	memset(t, 0, sizeof(*t));
	t->dtype = EML_DT_FLOAT;
	t->rank = m->rank;
	uint64_t n = 1;
	for (uint32_t i = 0; i < m->rank; i++) {
		t->dims[i] = m->dims[i];
		n *= (uint64_t)m->dims[i];
	}
	t->bytes = n * 4;
	t->data = eml_alloc(t->bytes);
	uint64_t s = 0xBE7C4;
	for (uint64_t i = 0; i < n; i++) {
		float v = (float)((double)(mix(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
		memcpy(t->data + 4 * i, &v, 4);
	}
}

/* All graph inputs of a model, in order; returns the count. */
static size_t make_inputs(const struct bmodel *m, eml_tensor_file *t)
{
	make_input(m, &t[0]);
	if (!m->vad)
		return 1;
	memset(&t[1], 0, 3 * sizeof(t[0]));
	t[1].dtype = EML_DT_INT64;
	t[1].bytes = 8;
	t[1].data = eml_alloc(8);
	int64_t sr = 16000;
	memcpy(t[1].data, &sr, 8);
	uint64_t s = 0x5EED;
	for (int k = 2; k < 4; k++) {
		t[k].dtype = EML_DT_FLOAT;
		t[k].rank = 3;
		t[k].dims[0] = 2, t[k].dims[1] = 1, t[k].dims[2] = 64;
		t[k].bytes = 128 * 4;
		t[k].data = eml_alloc(t[k].bytes);
		for (int i = 0; i < 128; i++) {
			float v = (float)((double)(mix(&s) >> 11) / 9007199254740992.0 - 0.5);
			memcpy(t[k].data + 4 * i, &v, 4);
		}
	}
	return 4;
}

struct eml_fig {
	double join_ms, asm_ms, first_ms, median_ms;
	double warm_join_ms, warm_asm_ms; /* steady state: known digest, pooled locked memory */
	uint64_t arena;
	uint64_t rss_growth; /* VmHWM after the runs minus VmRSS before the join */
	int runs;
	int ok;
};

static uint64_t status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t v = 0;
	size_t l = strlen(field);
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, l) == 0 && line[l] == ':')
			v = strtoull(line + l + 1, NULL, 10);
	fclose(f);
	return v;
}

static void bench_eml_here(const uint8_t *tkey, size_t tl, const uint8_t *blob, size_t bl,
                           const eml_tensor_file *in, size_t n_in, int threads, double budget_ms,
                           struct eml_fig *f)
{
	memset(f, 0, sizeof(*f));
	/* Peak RSS is reset (clear_refs 5, Linux >= 4.0) so VmHWM measures this run only. */
	FILE *cr = fopen("/proc/self/clear_refs", "w");
	if (cr != NULL) {
		fputs("5", cr);
		fclose(cr);
	}
	uint64_t rss0 = status_kb("VmRSS");
	eml_tkey *k = NULL;
	eml_model *m = NULL;
	eml_plan *p = NULL;
	uint32_t bad_chunk;
	double t0 = now_ms();
	int rc = eml_tkey_parse(tkey, tl, &k);
	if (rc == EML_OK)
		rc = eml_topo_join(k, blob, bl, &m, &bad_chunk);
	f->join_ms = now_ms() - t0;
	if (rc != EML_OK) {
		fprintf(stderr, "bench_models: join: %s\n", eml_err_name(rc));
		goto out;
	}
	eml_io_tensor io[MAX_IN];
	memset(io, 0, sizeof(io));
	for (size_t i = 0; i < n_in; i++) {
		io[i].dtype = in[i].dtype;
		io[i].rank = in[i].rank;
		memcpy(io[i].dims, in[i].dims, sizeof(io[i].dims));
		io[i].data = in[i].data;
		io[i].bytes = in[i].bytes;
	}
	eml_engine_opts o = {.threads = threads, .max_memory = 0};
	int bad = -1;
	t0 = now_ms();
	rc = eml_engine_assemble(m, io, n_in, &o, &p, &bad);
	f->asm_ms = now_ms() - t0;
	if (rc != EML_OK) {
		fprintf(stderr, "bench_models: assemble: %s\n", eml_err_name(rc));
		goto out;
	}
	eml_model_free(m);
	m = NULL;
	t0 = now_ms();
	rc = eml_plan_run(p);
	f->first_ms = now_ms() - t0;
	if (rc != EML_OK) {
		fprintf(stderr, "bench_models: run: %s\n", eml_err_name(rc));
		goto out;
	}
	int n = (int)fmin(200, fmax(3, ceil(budget_ms / fmax(f->first_ms, 0.01))));
	double *lat = calloc((size_t)n, sizeof(double));
	for (int i = 0; i < n && rc == EML_OK; i++) {
		t0 = now_ms();
		rc = eml_plan_run(p);
		lat[i] = now_ms() - t0;
	}
	if (rc == EML_OK) {
		f->median_ms = median(lat, n);
		f->runs = n;
		f->arena = eml_plan_arena_bytes(p);
		uint64_t hwm = status_kb("VmHWM");
		f->rss_growth = hwm > rss0 ? (hwm - rss0) * 1024 : 0;
		f->ok = 1;
	}
	free(lat);
	/* Steady state, as in the enclave from its second request on: the blob's digest is known
	 * (computed once when it was fetched: the blob cache), chunks are decrypted on the request's
	 * threads, and the locked regions come from the pool of wiped regions. */
	eml_plan_free(p);
	p = NULL;
	{
		uint8_t digest[32];
		double jw[WARM_ASM], aw[WARM_ASM];
		int nw = 0;
		if (rc == EML_OK)
			rc = eml_sha256(blob, bl, digest);
		for (; nw < WARM_ASM && rc == EML_OK; nw++) {
			eml_join_opts jo = {.blob_sha256 = digest, .threads = threads};
			t0 = now_ms();
			rc = eml_topo_join_opts(k, blob, bl, &jo, &m, &bad_chunk);
			jw[nw] = now_ms() - t0;
			t0 = now_ms();
			if (rc == EML_OK)
				rc = eml_engine_assemble(m, io, n_in, &o, &p, &bad);
			aw[nw] = now_ms() - t0;
			eml_model_free(m);
			m = NULL;
			eml_plan_free(p);
			p = NULL;
		}
		if (rc == EML_OK && nw > 0) {
			f->warm_join_ms = median(jw, nw);
			f->warm_asm_ms = median(aw, nw);
		} else {
			f->ok = 0;
		}
	}
out:
	eml_plan_free(p);
	eml_model_free(m);
	eml_tkey_free(k);
}

/* Each measurement runs in a child process, so its peak RSS is its own (as ORT's is node's). */
static void bench_eml(const uint8_t *tkey, size_t tl, const uint8_t *blob, size_t bl,
                      const eml_tensor_file *in, size_t n_in, int threads, double budget_ms,
                      struct eml_fig *f)
{
	int fds[2];
	memset(f, 0, sizeof(*f));
	if (pipe(fds) != 0)
		return;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		struct eml_fig r;
		bench_eml_here(tkey, tl, blob, bl, in, n_in, threads, budget_ms, &r);
		ssize_t w = write(fds[1], &r, sizeof(r));
		_exit(w == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	size_t got = 0;
	while (got < sizeof(*f)) {
		ssize_t k = read(fds[0], (char *)f + got, sizeof(*f) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fds[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got != sizeof(*f))
		memset(f, 0, sizeof(*f));
}

struct ort_fig {
	double median_ms, cold_ms;
	uint64_t rss_growth;
	int ok;
	char version[32];
};

static void bench_ort(const char *model, char in_npy[][PATH_MAX + 32], size_t n_in, int threads,
                      int runs, struct ort_fig *f)
{
	memset(f, 0, sizeof(*f));
	char script[PATH_MAX], spec[MAX_IN][PATH_MAX + 48], nthreads[16], nruns[16],
	    node_path[PATH_MAX];
	char out_path[] = "/tmp/eml-bench-ort-XXXXXX";
	pathf(script, sizeof(script), "%s/tools/ort_ref.js", source_dir);
	for (size_t i = 0; i < n_in; i++)
		pathf(spec[i], sizeof(spec[i]), "%zu=%s", i, in_npy[i]);
	snprintf(nthreads, sizeof(nthreads), "%d", threads);
	snprintf(nruns, sizeof(nruns), "%d", runs);
	pathf(node_path, sizeof(node_path), "%s/ort/node_modules", cache_dir);
	int fd = mkstemp(out_path);
	if (fd < 0)
		return;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("NODE_PATH", node_path, 1);
		dup2(fd, 1);
		char *argv[10 + 2 * MAX_IN];
		int a = 0;
		argv[a++] = "node";
		argv[a++] = script;
		argv[a++] = (char *)model;
		for (size_t i = 0; i < n_in; i++) {
			argv[a++] = "--input";
			argv[a++] = spec[i];
		}
		argv[a++] = "--threads";
		argv[a++] = nthreads;
		argv[a++] = "--bench";
		argv[a++] = nruns;
		argv[a++] = "--json";
		argv[a] = NULL;
		execvp("node", argv);
		_exit(127);
	}
	close(fd);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		json_error_t err;
		json_t *j = json_load_file(out_path, 0, &err);
		if (j != NULL) {
			f->median_ms = json_number_value(json_object_get(j, "warm_ms_median"));
			f->cold_ms = json_number_value(json_object_get(j, "cold_ms_median"));
			f->rss_growth = (uint64_t)json_number_value(
			    json_object_get(j, "peak_rss_growth_bytes"));
			const char *v = json_string_value(json_object_get(j, "ort_version"));
			snprintf(f->version, sizeof(f->version), "%s", v ? v : "?");
			f->ok = f->median_ms > 0;
			json_decref(j);
		}
	} else {
		fprintf(stderr, "bench_models: ONNX Runtime failed (run scripts/fetch-testdata)\n");
	}
	unlink(out_path);
}

static int selected(const char *list, const char *id)
{
	if (list == NULL)
		return 1;
	size_t l = strlen(id);
	for (const char *p = list; (p = strstr(p, id)) != NULL; p += l)
		if ((p == list || p[-1] == ',') && (p[l] == ',' || p[l] == '\0'))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int threads[8] = {1, 2}, n_threads = 2, use_ort = 1;
	double budget = 1500;
	int rounds = 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			n_threads = 0;
			for (char *s = strtok(argv[++i], ","); s && n_threads < 8;
			     s = strtok(NULL, ","))
				threads[n_threads++] = atoi(s);
		} else if (strcmp(argv[i], "--budget-ms") == 0 && i + 1 < argc) {
			budget = atof(argv[++i]);
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1 || rounds > 20)
				rounds = 2;
		} else if (strcmp(argv[i], "--no-ort") == 0) {
			use_ort = 0;
		} else {
			fprintf(stderr, "usage: bench_models [--models a,b] [--threads 1,2] "
			                "[--budget-ms MS] [--rounds R] [--no-ort]\n");
			return 2;
		}
	}
	init_dirs();
	char tmpd[] = "/tmp/eml-bench-XXXXXX";
	if (mkdtemp(tmpd) == NULL)
		return 1;
	char ort_version[32] = "n/a";
	int failures = 0;

	printf(
	    "| model | threads | eml median ms | ORT median ms | eml / ORT | eml assembly ms "
	    "(decrypt + plan/pack) | assembly / run | first assembly ms | eml cold ms | ORT cold "
	    "ms | eml arena MiB | eml RSS growth MiB | ORT RSS growth MiB | runs |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	fflush(stdout);
	for (size_t mi = 0; mi < sizeof(models) / sizeof(models[0]); mi++) {
		const struct bmodel *bm = &models[mi];
		if (!selected(only, bm->id))
			continue;
		char path[PATH_MAX], in_npy[MAX_IN][PATH_MAX + 32];
		pathf(path, sizeof(path), "%s/%s", bm->in_cache ? cache_dir : vectors_dir, bm->rel);
		eml_model *m = NULL;
		int rc = eml_onnx_load_file(path, &m);
		if (rc != EML_OK) {
			printf(
			    "| %s | - | load failed: %s (run scripts/fetch-testdata) ||||||||||\n",
			    bm->id, eml_err_name(rc));
			failures++;
			continue;
		}
		uint8_t *tkey = NULL, *blob = NULL;
		size_t tl = 0, bl = 0;
		rc = eml_topo_decompose(m, NULL, &tkey, &tl, &blob, &bl);
		eml_model_free(m);
		if (rc != EML_OK) {
			printf("| %s | - | decompose failed: %s ||||||||||\n", bm->id,
			       eml_err_name(rc));
			failures++;
			continue;
		}
		eml_tensor_file in[MAX_IN];
		size_t n_in = make_inputs(bm, in);
		for (size_t i = 0; i < n_in; i++) {
			pathf(in_npy[i], sizeof(in_npy[i]), "%s/%s-%zu.npy", tmpd, bm->id, i);
			eml_tensor_write_file(in_npy[i], &in[i]);
		}
		for (int ti = 0; ti < n_threads; ti++) {
			struct eml_fig ef;
			struct ort_fig of;
			memset(&of, 0, sizeof(of));
			/* The machine is shared: eml and ORT alternate for `rounds` rounds and each
			 * side keeps its best round (lowest median), so a burst of load on one side
			 * does not decide the ratio. */
			memset(&ef, 0, sizeof(ef));
			for (int round = 0; round < rounds; round++) {
				struct eml_fig e1;
				bench_eml(tkey, tl, blob, bl, in, n_in, threads[ti], budget, &e1);
				if (!e1.ok) {
					ef.ok = 0;
					break;
				}
				if (!ef.ok) {
					ef = e1;
				} else {
					ef.median_ms = fmin(ef.median_ms, e1.median_ms);
					ef.join_ms = fmin(ef.join_ms, e1.join_ms);
					ef.asm_ms = fmin(ef.asm_ms, e1.asm_ms);
					ef.first_ms = fmin(ef.first_ms, e1.first_ms);
					ef.warm_join_ms = fmin(ef.warm_join_ms, e1.warm_join_ms);
					ef.warm_asm_ms = fmin(ef.warm_asm_ms, e1.warm_asm_ms);
					if (e1.rss_growth > ef.rss_growth)
						ef.rss_growth = e1.rss_growth;
					ef.runs += e1.runs;
				}
				if (!use_ort)
					continue;
				/* Same budget for ORT: its run count comes from a short probe. */
				struct ort_fig o1;
				bench_ort(path, in_npy, n_in, threads[ti], 3, &o1);
				if (o1.ok) {
					int runs =
					    (int)fmin(200, fmax(3, ceil(budget / o1.median_ms)));
					bench_ort(path, in_npy, n_in, threads[ti], runs, &o1);
				}
				if (!o1.ok)
					continue;
				snprintf(ort_version, sizeof(ort_version), "%s", o1.version);
				if (!of.ok) {
					of = o1;
				} else {
					of.median_ms = fmin(of.median_ms, o1.median_ms);
					of.cold_ms = fmin(of.cold_ms, o1.cold_ms);
					of.rss_growth = o1.rss_growth > of.rss_growth
					                    ? o1.rss_growth
					                    : of.rss_growth;
				}
			}
			if (!ef.ok) {
				printf("| %s | %d | eml failed ||||||||||\n", bm->id, threads[ti]);
				failures++;
				continue;
			}
			char ratio[32] = "n/a", ortm[32] = "n/a", ortc[32] = "n/a",
			     ortr[32] = "n/a";
			if (of.ok) {
				snprintf(ratio, sizeof(ratio), "%.2f", ef.median_ms / of.median_ms);
				snprintf(ortm, sizeof(ortm), "%.3f", of.median_ms);
				snprintf(ortc, sizeof(ortc), "%.1f", of.cold_ms);
				snprintf(ortr, sizeof(ortr), "%.1f",
				         (double)of.rss_growth / 1048576.0);
			} else if (use_ort) {
				failures++;
			}
			printf("| %s | %d | %.3f | %s | %s | %.2f (%.2f + %.2f) | %.0f %% | %.2f | "
			       "%.1f | "
			       "%s | %.1f "
			       "| %.1f | %s | %d |\n",
			       bm->id, threads[ti], ef.median_ms, ortm, ratio,
			       ef.warm_join_ms + ef.warm_asm_ms, ef.warm_join_ms, ef.warm_asm_ms,
			       100.0 * (ef.warm_join_ms + ef.warm_asm_ms) / ef.median_ms,
			       ef.join_ms + ef.asm_ms, ef.join_ms + ef.asm_ms + ef.first_ms, ortc,
			       (double)ef.arena / 1048576.0, (double)ef.rss_growth / 1048576.0,
			       ortr, ef.runs);
			fflush(stdout);
		}
		for (size_t i = 0; i < n_in; i++) {
			eml_tensor_file_cleanup(&in[i]);
			unlink(in_npy[i]);
		}
		eml_free(tkey);
		eml_free(blob);
	}
	rmdir(tmpd);
	printf(
	    "\nONNX Runtime: onnxruntime-node %s, default graph optimizations, sequential "
	    "execution, intra-op threads as listed. Each side: best of %d alternating rounds "
	    "(median of its warm runs per round; runs = total). eml / ORT < 1 means eml is "
	    "faster. Assembly = steady state as in the enclave from a model's second request on "
	    "(blob digest known from the fetch, chunks decrypted on the request's threads, locked "
	    "regions from the pool of wiped regions; median of " EML_STR(
	        WARM_ASM) "); first "
	                  "assembly = the first in a fresh process (blob hashed, every region "
	                  "mapped and "
	                  "locked anew). Cold = first assembly (or session creation) + first run. "
	                  "ORT RSS growth = node's VmHWM after "
	                  "the runs minus VmRSS before the session (includes ORT's own allocations "
	                  "and "
	                  "arenas); eml arena = the engine's one arena for all intermediates and "
	                  "packed "
	                  "weights; eml RSS growth = the same measure for a child process doing "
	                  "the join, "
	                  "assembly and runs (VmHWM reset with clear_refs, minus VmRSS before the "
	                  "join).\n",
	    ort_version, rounds);
	return failures ? 1 : 0;
}
