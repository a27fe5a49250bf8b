/*
 * ONNX conformance: ONNX's own backend test data (Debian package libonnx-testdata), suites node,
 * pytorch-converted, pytorch-operator and simple. A test is *claimed* when its model loads and
 * eml_onnx_check reports no unsupported operator; every claimed test runs every one of its
 * test_data_set_* folders through the engine and compares outputs the way ONNX's backend test
 * runner does (onnx/backend/test/runner: np.testing.assert_allclose with rtol 1e-3, atol 1e-7;
 * NaN equals NaN; integers and booleans exactly; shapes and dtypes must match).
 *
 * Each test runs in a forked child (a crash or a hang is a recorded failure, not the end of the
 * report). The summary "N passed, M failed" and every skipped test with its reason (the
 * unsupported operators, or the loader's refusal) go to stdout and to conformance.txt next to
 * this binary (build/conformance.txt). The test FAILS if any claimed test fails.
 *
 * EML_CONFORMANCE_FILTER=substring runs only matching tests (for debugging);
 * Every data set runs at 1 and at 2 engine threads (both must pass); EML_CONFORMANCE_THREADS=N
 * runs at N threads only.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"
#include "engine/engine.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"
#include "onnx/onnx.pb-c.h"
#include "prop.h"
#include "tensor/tensor_io.h"

#define DATA_ROOT "/usr/share/libonnx-testdata/data"
#define RTOL 1e-3
#define ATOL 1e-7
#define TEST_TIMEOUT_S 120
#define MAX_TESTS 4096
#define MAX_IO 64

static const char *suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

enum { R_PASS = 0, R_FAIL = 1, R_SKIP_OP = 2, R_SKIP_LOAD = 3, R_REFUSED = 4 };

/*
 * Claimed operators used in a mode the engine refuses, cleanly, at assembly (EML_E_UNSUPPORTED):
 * training mode (running statistics, random dropout masks), which an inference engine has no use
 * for and whose random outputs no reference can match. Such a test counts as "refused", not
 * failed, ONLY when it is listed here AND the engine refuses it with UNSUPPORTED; any other
 * refusal or wrong answer of a claimed test is a failure.
 */
static const struct {
	const char *name;
	const char *why;
} refusals[] = {
    {"node/test_batchnorm_epsilon_training_mode", "BatchNormalization training_mode=1"},
    {"node/test_batchnorm_example_training_mode", "BatchNormalization training_mode=1"},
    {"node/test_training_dropout", "Dropout training_mode=true (random mask)"},
    {"node/test_training_dropout_default", "Dropout training_mode=true (random mask)"},
    {"node/test_training_dropout_default_mask", "Dropout training_mode=true (random mask)"},
    {"node/test_training_dropout_mask", "Dropout training_mode=true (random mask)"},
};

static const char *refusal_reason(const char *name)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		if (strcmp(refusals[i].name, name) == 0)
			return refusals[i].why;
	return NULL;
}

struct result {
	int status;
	int datasets;
	char reason[480];
};

struct entry {
	char name[160];
	struct result r;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted sub-folder (or file) names of dir matching prefix; caller frees. */
static size_t list_dir(const char *dir, const char *prefix, char ***out)
{
	DIR *d = opendir(dir);
	*out = NULL;
	if (d == NULL)
		return 0;
	size_t n = 0, cap = 0;
	char **v = NULL;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof(*v));
		}
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Element i of a tensor as a double (for the float comparisons). */
static double elem_f(int dtype, const uint8_t *p, uint64_t i)
{
	switch (dtype) {
	case EML_DT_FLOAT: {
		float f;
		memcpy(&f, p + 4 * i, 4);
		return f;
	}
	case EML_DT_DOUBLE: {
		double f;
		memcpy(&f, p + 8 * i, 8);
		return f;
	}
	case EML_DT_FLOAT16: {
		uint16_t h;
		memcpy(&h, p + 2 * i, 2);
		int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
		double v;
		if (e == 0)
			v = ldexp(m, -24);
		else if (e == 31)
			v = m ? NAN : INFINITY;
		else
			v = ldexp(m + 1024, e - 25);
		return s ? -v : v;
	}
	default:
		return 0;
	}
}

static int is_float(int dtype)
{
	return dtype == EML_DT_FLOAT || dtype == EML_DT_DOUBLE || dtype == EML_DT_FLOAT16;
}

/* Compare one output with its reference; on mismatch fill reason and return 0. */
static int compare(size_t k, const eml_io_tensor *got, const eml_tensor_file *want, char *reason,
                   size_t cap)
{
	if (got->dtype != want->dtype) {
		snprintf(reason, cap, "output %zu: dtype %s, expected %s", k,
		         eml_dtype_name(got->dtype), eml_dtype_name(want->dtype));
		return 0;
	}
	int shape_ok = got->rank == want->rank;
	for (uint32_t d = 0; shape_ok && d < got->rank; d++)
		shape_ok = got->dims[d] == want->dims[d];
	if (!shape_ok) {
		char a[160] = "", b[160] = "";
		size_t la = 0, lb = 0;
		for (uint32_t d = 0; d < got->rank && la < sizeof(a) - 24; d++)
			la += (size_t)snprintf(a + la, sizeof(a) - la, "%s%lld", d ? "," : "",
			                       (long long)got->dims[d]);
		for (uint32_t d = 0; d < want->rank && lb < sizeof(b) - 24; d++)
			lb += (size_t)snprintf(b + lb, sizeof(b) - lb, "%s%lld", d ? "," : "",
			                       (long long)want->dims[d]);
		snprintf(reason, cap, "output %zu: shape [%s], expected [%s]", k, a, b);
		return 0;
	}
	if (got->bytes != want->bytes) {
		snprintf(reason, cap, "output %zu: %llu bytes, expected %llu", k,
		         (unsigned long long)got->bytes, (unsigned long long)want->bytes);
		return 0;
	}
	const uint8_t *g = got->data;
	if (!is_float(want->dtype)) {
		if (want->bytes != 0 && memcmp(g, want->data, want->bytes) != 0) {
			size_t esz = eml_dtype_size(want->dtype), i = 0;
			while (memcmp(g + i * esz, want->data + i * esz, esz) == 0)
				i++;
			snprintf(reason, cap,
			         "output %zu (%s): element %zu differs (exact compare)", k,
			         eml_dtype_name(want->dtype), i);
			return 0;
		}
		return 1;
	}
	uint64_t n = want->bytes / eml_dtype_size(want->dtype);
	for (uint64_t i = 0; i < n; i++) {
		double a = elem_f(want->dtype, g, i), b = elem_f(want->dtype, want->data, i);
		if (isnan(a) && isnan(b))
			continue;
		if (a == b)
			continue;
		if (!(fabs(a - b) <= ATOL + RTOL * fabs(b))) {
			snprintf(reason, cap, "output %zu: element %llu = %.9g, expected %.9g", k,
			         (unsigned long long)i, a, b);
			return 0;
		}
	}
	return 1;
}

static int run_dataset(const eml_model *m, const char *ddir, int threads, char *reason, size_t cap)
{
	eml_tensor_file ins[MAX_IO], outs[MAX_IO];
	eml_io_tensor io[MAX_IO];
	size_t n_in = 0, n_out = 0;
	eml_plan *plan = NULL;
	int ok = 0;
	char path[PATH_MAX];
	memset(ins, 0, sizeof(ins));
	memset(outs, 0, sizeof(outs));
	memset(io, 0, sizeof(io));

	for (;; n_in++) {
		eml_test_pathf(path, sizeof(path), "%s/input_%zu.pb", ddir, n_in);
		if (access(path, F_OK) != 0 || n_in == MAX_IO)
			break;
		int rc = eml_tensor_read_file(path, &ins[n_in]);
		if (rc != EML_OK) {
			snprintf(reason, cap, "input_%zu.pb: %s", n_in, eml_err_name(rc));
			goto out;
		}
		io[n_in].dtype = ins[n_in].dtype;
		io[n_in].rank = ins[n_in].rank;
		memcpy(io[n_in].dims, ins[n_in].dims, sizeof(io[n_in].dims));
		io[n_in].data = ins[n_in].data;
		io[n_in].bytes = ins[n_in].bytes;
	}
	for (;; n_out++) {
		eml_test_pathf(path, sizeof(path), "%s/output_%zu.pb", ddir, n_out);
		if (access(path, F_OK) != 0 || n_out == MAX_IO)
			break;
		int rc = eml_tensor_read_file(path, &outs[n_out]);
		if (rc != EML_OK) {
			snprintf(reason, cap, "output_%zu.pb: %s", n_out, eml_err_name(rc));
			goto out;
		}
	}
	eml_engine_opts opts = {.threads = threads, .max_memory = 0};
	int bad = -1;
	int rc = eml_engine_assemble(m, io, n_in, &opts, &plan, &bad);
	if (rc != EML_OK) {
		snprintf(reason, cap, "assemble: %s (input %d)", eml_err_name(rc), bad);
		goto out;
	}
	rc = eml_plan_run(plan);
	if (rc != EML_OK) {
		snprintf(reason, cap, "run: %s", eml_err_name(rc));
		goto out;
	}
	if (eml_plan_n_outputs(plan) != n_out) {
		snprintf(reason, cap, "%zu outputs, expected %zu", eml_plan_n_outputs(plan), n_out);
		goto out;
	}
	for (size_t k = 0; k < n_out; k++) {
		eml_io_tensor o;
		rc = eml_plan_output(plan, k, &o);
		if (rc != EML_OK) {
			snprintf(reason, cap, "output %zu: %s", k, eml_err_name(rc));
			goto out;
		}
		if (!compare(k, &o, &outs[k], reason, cap))
			goto out;
	}
	ok = 1;
out:
	eml_plan_free(plan);
	for (size_t i = 0; i < MAX_IO; i++) {
		eml_tensor_file_cleanup(&ins[i]);
		eml_tensor_file_cleanup(&outs[i]);
	}
	return ok;
}

/* Say which opsets / IR version the refused model has (the loader's code alone is terse). */
static void describe_imports(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return;
	static uint8_t buf[1 << 22];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, buf);
	if (mp == NULL)
		return;
	size_t l = (size_t)snprintf(out, cap, " (ir %lld; opset", (long long)mp->ir_version);
	for (size_t i = 0; i < mp->n_opset_import && l < cap; i++) {
		const char *d = mp->opset_import[i]->domain;
		l += (size_t)snprintf(out + l, cap - l, " %s=%lld", d && *d ? d : "ai.onnx",
		                      (long long)mp->opset_import[i]->version);
	}
	if (l < cap)
		snprintf(out + l, cap - l, ")");
	onnx__model_proto__free_unpacked(mp, NULL);
}

/* Runs in the child. */
static void run_test(const char *tdir, int threads, struct result *r)
{
	char path[PATH_MAX];
	eml_model *m = NULL;
	memset(r, 0, sizeof(*r));
	eml_test_pathf(path, sizeof(path), "%s/model.onnx", tdir);
	int rc = eml_onnx_load_file(path, &m);
	if (rc != EML_OK) {
		r->status = R_SKIP_LOAD;
		size_t l = (size_t)snprintf(r->reason, sizeof(r->reason), "not loadable: %s",
		                            eml_err_name(rc));
		describe_imports(path, r->reason + l, sizeof(r->reason) - l);
		return;
	}
	eml_unsupported_op *list = NULL;
	size_t n = 0;
	rc = eml_onnx_check(m, &list, &n);
	if (rc != EML_OK) {
		r->status = R_FAIL;
		snprintf(r->reason, sizeof(r->reason), "eml_onnx_check: %s", eml_err_name(rc));
		eml_model_free(m);
		return;
	}
	if (n > 0) {
		r->status = R_SKIP_OP;
		size_t l = 0;
		l += (size_t)snprintf(r->reason, sizeof(r->reason), "unsupported:");
		for (size_t i = 0; i < n && l < sizeof(r->reason) - 1; i++)
			l += (size_t)snprintf(r->reason + l, sizeof(r->reason) - l, " %s%s%s@%lld",
			                      list[i].domain, list[i].domain[0] ? "." : "",
			                      list[i].op_type, (long long)list[i].opset);
		eml_onnx_unsupported_free(list, n);
		eml_model_free(m);
		return;
	}
	char **sets;
	size_t ns = list_dir(tdir, "test_data_set_", &sets);
	r->status = R_PASS;
	if (ns == 0) {
		r->status = R_FAIL;
		snprintf(r->reason, sizeof(r->reason), "no test_data_set folder");
	}
	/* threads == 0: every data set at 1 and at 2 threads (the parallel paths must agree). */
	int tlist[2] = {threads > 0 ? threads : 1, 2};
	int nt = threads > 0 ? 1 : 2;
	for (size_t i = 0; i < ns && r->status == R_PASS; i++) {
		char ddir[PATH_MAX], why[400] = "";
		eml_test_pathf(ddir, sizeof(ddir), "%s/%s", tdir, sets[i]);
		for (int t = 0; t < nt; t++) {
			if (!run_dataset(m, ddir, tlist[t], why, sizeof(why))) {
				r->status = R_FAIL;
				snprintf(r->reason, sizeof(r->reason), "%s (%d thread%s): %s",
				         sets[i], tlist[t], tlist[t] == 1 ? "" : "s", why);
				break;
			}
		}
		if (r->status == R_PASS)
			r->datasets++;
	}
	free_list(sets, ns);
	eml_model_free(m);
}

/* Fork, run, collect; a signal or a timeout is a failure with that reason. */
static void run_isolated(const char *tdir, int threads, struct result *r)
{
	int fds[2];
	memset(r, 0, sizeof(*r));
	cr_assert_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork failed");
	if (pid == 0) {
		close(fds[0]);
		alarm(TEST_TIMEOUT_S);
		struct result cr;
		run_test(tdir, threads, &cr);
		ssize_t w = write(fds[1], &cr, sizeof(cr));
		_exit(w == (ssize_t)sizeof(cr) ? 0 : 1);
	}
	close(fds[1]);
	size_t got = 0;
	while (got < sizeof(*r)) {
		ssize_t k = read(fds[0], (char *)r + got, sizeof(*r) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fds[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got != sizeof(*r)) {
		memset(r, 0, sizeof(*r));
		r->status = R_FAIL;
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			snprintf(r->reason, sizeof(r->reason), "timeout (%d s)", TEST_TIMEOUT_S);
		else if (WIFSIGNALED(st))
			snprintf(r->reason, sizeof(r->reason), "crashed (signal %d: %s)",
			         WTERMSIG(st), strsignal(WTERMSIG(st)));
		else
			snprintf(r->reason, sizeof(r->reason), "child exited %d without a result",
			         WEXITSTATUS(st));
	}
}

/* build/conformance.txt: next to this test binary. */
static FILE *open_report(char *path, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return NULL;
	*slash = '\0';
	eml_test_pathf(path, cap, "%s/conformance.txt", exe);
	return fopen(path, "w");
}

Test(conformance, onnx_backend_tests_for_every_claimed_operator)
{
	const char *filter = getenv("EML_CONFORMANCE_FILTER");
	int threads =
	    getenv("EML_CONFORMANCE_THREADS") ? atoi(getenv("EML_CONFORMANCE_THREADS")) : 0;
	struct entry *all = calloc(MAX_TESTS, sizeof(*all));
	cr_assert_not_null(all);
	size_t n_all = 0;
	size_t count[4][5] = {{0}}; /* [suite][status] */
	struct stat st;
	cr_assert_eq(stat(DATA_ROOT, &st), 0,
	             "%s is missing: install libonnx-testdata (scripts/install-deps)", DATA_ROOT);

	for (size_t s = 0; s < EML_ARRAY_LEN(suites); s++) {
		char sdir[PATH_MAX];
		eml_test_pathf(sdir, sizeof(sdir), "%s/%s", DATA_ROOT, suites[s]);
		char **tests;
		size_t nt = list_dir(sdir, "", &tests);
		cr_assert(nt > 0, "no tests in %s", sdir);
		for (size_t t = 0; t < nt; t++) {
			char tdir[PATH_MAX], mpath[PATH_MAX + 16];
			eml_test_pathf(tdir, sizeof(tdir), "%s/%s", sdir, tests[t]);
			eml_test_pathf(mpath, sizeof(mpath), "%s/model.onnx", tdir);
			if (access(mpath, F_OK) != 0)
				continue;
			struct entry *e = &all[n_all];
			snprintf(e->name, sizeof(e->name), "%s/%s", suites[s], tests[t]);
			if (filter != NULL && strstr(e->name, filter) == NULL)
				continue;
			cr_assert(n_all + 1 < MAX_TESTS);
			run_isolated(tdir, threads, &e->r);
			const char *why = refusal_reason(e->name);
			if (e->r.status == R_FAIL && why != NULL &&
			    strstr(e->r.reason, "assemble: UNSUPPORTED") != NULL) {
				e->r.status = R_REFUSED;
				snprintf(e->r.reason, sizeof(e->r.reason),
				         "refused at assembly: %s", why);
			}
			count[s][e->r.status]++;
			n_all++;
		}
		free_list(tests, nt);
	}

	size_t pass = 0, fail = 0, skip_op = 0, skip_load = 0, refused = 0, datasets = 0;
	for (size_t i = 0; i < n_all; i++) {
		pass += all[i].r.status == R_PASS;
		fail += all[i].r.status == R_FAIL;
		skip_op += all[i].r.status == R_SKIP_OP;
		skip_load += all[i].r.status == R_SKIP_LOAD;
		refused += all[i].r.status == R_REFUSED;
		if (all[i].r.status == R_PASS)
			datasets += (size_t)all[i].r.datasets;
	}

	char rpath[PATH_MAX];
	FILE *rep = open_report(rpath, sizeof(rpath));
	FILE *outs[2] = {stdout, rep};
	for (int o = 0; o < 2; o++) {
		FILE *f = outs[o];
		if (f == NULL)
			continue;
		fprintf(f, "ONNX conformance (libonnx-testdata %s)\n", DATA_ROOT);
		fprintf(f,
		        "%zu passed, %zu failed (claimed tests; %zu data sets passed); %zu refused "
		        "(claimed operator, mode refused at assembly); %zu skipped (unsupported "
		        "operators), "
		        "%zu skipped (model not loadable); %zu total\n",
		        pass, fail, datasets, refused, skip_op, skip_load, n_all);
		fprintf(f, "\n%-20s %8s %8s %8s %12s %12s\n", "suite", "passed", "failed",
		        "refused", "skip(ops)", "skip(load)");
		for (size_t s = 0; s < EML_ARRAY_LEN(suites); s++)
			fprintf(f, "%-20s %8zu %8zu %8zu %12zu %12zu\n", suites[s],
			        count[s][R_PASS], count[s][R_FAIL], count[s][R_REFUSED],
			        count[s][R_SKIP_OP], count[s][R_SKIP_LOAD]);
		fprintf(f, "\nFailed:\n");
		for (size_t i = 0; i < n_all; i++)
			if (all[i].r.status == R_FAIL)
				fprintf(f, "  FAIL %s: %s\n", all[i].name, all[i].r.reason);
		fprintf(f, "\nRefused (listed, claimed operator in an unsupported mode):\n");
		for (size_t i = 0; i < n_all; i++)
			if (all[i].r.status == R_REFUSED)
				fprintf(f, "  REFUSED %s: %s\n", all[i].name, all[i].r.reason);
		/* The full lists go to the report file; stdout gets them too (CI logs). */
		fprintf(f, "\nSkipped (not claimed):\n");
		for (size_t i = 0; i < n_all; i++)
			if (all[i].r.status == R_SKIP_OP || all[i].r.status == R_SKIP_LOAD)
				fprintf(f, "  SKIP %s: %s\n", all[i].name, all[i].r.reason);
		fprintf(f, "\nPassed:\n");
		for (size_t i = 0; i < n_all; i++)
			if (all[i].r.status == R_PASS)
				fprintf(f, "  PASS %s (%d data set%s)\n", all[i].name,
				        all[i].r.datasets, all[i].r.datasets == 1 ? "" : "s");
	}
	if (rep != NULL) {
		fclose(rep);
		printf("report written to %s\n", rpath);
	}
	free(all);
	if (filter == NULL)
		cr_assert(pass > 0, "no claimed test passed: is the support table empty?");
	cr_assert_eq(fail, 0, "%zu claimed conformance tests failed (see the list above)", fail);
}

/* Negative controls: the comparison must be able to fail. A claimed test (Relu) whose expected
 * output is perturbed beyond ONNX's tolerance, or reshaped, fails; within tolerance it passes. */
static void copy_file(const char *from, const char *to)
{
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	cr_assert(a != NULL && b != NULL);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
		cr_assert_eq(fwrite(buf, 1, n, b), n);
	fclose(a);
	fclose(b);
}

static int relu_with_expected(const char *tmp, float scale, int reshape)
{
	const char *src = DATA_ROOT "/node/test_relu";
	char p[PATH_MAX], q[PATH_MAX];
	eml_test_pathf(p, sizeof(p), "%s/test_data_set_0", tmp);
	mkdir(p, 0700);
	eml_test_pathf(p, sizeof(p), "%s/model.onnx", src);
	eml_test_pathf(q, sizeof(q), "%s/model.onnx", tmp);
	copy_file(p, q);
	eml_test_pathf(p, sizeof(p), "%s/test_data_set_0/input_0.pb", src);
	eml_test_pathf(q, sizeof(q), "%s/test_data_set_0/input_0.pb", tmp);
	copy_file(p, q);
	eml_tensor_file out;
	eml_test_pathf(p, sizeof(p), "%s/test_data_set_0/output_0.pb", src);
	cr_assert_eq(eml_tensor_read_file(p, &out), EML_OK);
	float *v = (float *)(void *)out.data;
	uint64_t n = out.bytes / 4, big = 0;
	for (uint64_t i = 1; i < n; i++)
		if (fabsf(v[i]) > fabsf(v[big]))
			big = i;
	v[big] *= scale;
	if (reshape) {
		out.dims[out.rank] = 1;
		out.rank++;
	}
	eml_test_pathf(q, sizeof(q), "%s/test_data_set_0/output_0.pb", tmp);
	cr_assert_eq(eml_tensor_write_file(q, &out), EML_OK);
	eml_tensor_file_cleanup(&out);
	struct result r;
	run_isolated(tmp, 1, &r);
	return r.status;
}

Test(conformance, the_comparison_can_fail)
{
	char tmpl[] = "/tmp/eml-conf-XXXXXX";
	char *tmp = mkdtemp(tmpl);
	cr_assert_not_null(tmp);
	/* rtol 1e-3: a 1e-4 relative change passes, a 3e-3 one fails. */
	cr_assert_eq(relu_with_expected(tmp, 1.0f + 1e-4f, 0), R_PASS);
	cr_assert_eq(relu_with_expected(tmp, 1.0f + 3e-3f, 0), R_FAIL);
	cr_assert_eq(relu_with_expected(tmp, 1.0f, 1), R_FAIL);
	cr_assert_eq(relu_with_expected(tmp, 1.0f, 0), R_PASS);

	/* NaN equals NaN; exact comparison for integers. */
	eml_tensor_file want;
	memset(&want, 0, sizeof(want));
	float fw[2] = {NAN, 1.0f}, fg[2] = {NAN, 1.0f};
	want.dtype = EML_DT_FLOAT;
	want.rank = 1;
	want.dims[0] = 2;
	want.bytes = 8;
	want.data = (uint8_t *)fw;
	eml_io_tensor got = {.dtype = EML_DT_FLOAT, .rank = 1, .dims = {2}, .data = fg, .bytes = 8};
	char why[128];
	cr_assert(compare(0, &got, &want, why, sizeof(why)));
	fg[0] = 0.0f;
	cr_assert(!compare(0, &got, &want, why, sizeof(why)));
	int64_t iw[2] = {5, 1000000000000}, ig[2] = {5, 1000000000001};
	want.dtype = got.dtype = EML_DT_INT64;
	want.data = (uint8_t *)iw;
	want.bytes = got.bytes = 16;
	got.data = ig;
	cr_assert(!compare(0, &got, &want, why, sizeof(why)), "int64 must compare exactly");
	ig[1] = iw[1];
	cr_assert(compare(0, &got, &want, why, sizeof(why)));
	got.dtype = EML_DT_INT32; /* same bytes, other dtype */
	cr_assert(!compare(0, &got, &want, why, sizeof(why)));

	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}
