/*
 * ONNX backend node tests (Debian libonnx-testdata) for every operator the engine claims: each
 * test model whose operators (subgraphs included) are all in eml_engine_op_table() must assemble,
 * run and match the expected outputs (rtol 1e-3, atol 1e-7; exact for integers and bools).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "eml/error.h"
#include "engine/ops/ops.h"
#include "test_engine_onnxmini.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

static int claimed(const eml_model *m, int64_t opset)
{
	size_t n;
	const eml_engine_op_info *t = eml_engine_op_table(&n);
	for (uint32_t g = 0; g < m->n_graphs; g++)
		for (uint32_t i = 0; i < m->graphs[g].n_nodes; i++) {
			const eml_node *nd = &m->graphs[g].nodes[i];
			int ok = 0;
			for (size_t k = 0; k < n && !ok; k++)
				ok = strcmp(t[k].op, nd->op_type) == 0 && opset >= t[k].since &&
				     opset <= t[k].until;
			if (!ok)
				return 0;
		}
	return 1;
}

static int close_enough(const eml_io_tensor *got, const eml_io_tensor *want, char *why, size_t cap)
{
	if (got->dtype != want->dtype) {
		snprintf(why, cap, "dtype %d vs %d", got->dtype, want->dtype);
		return 0;
	}
	if (got->rank != want->rank) {
		snprintf(why, cap, "rank %u vs %u", got->rank, want->rank);
		return 0;
	}
	for (uint32_t i = 0; i < got->rank; i++)
		if (got->dims[i] != want->dims[i]) {
			snprintf(why, cap, "dim %u: %lld vs %lld", i, (long long)got->dims[i],
			         (long long)want->dims[i]);
			return 0;
		}
	if (got->bytes != want->bytes) {
		snprintf(why, cap, "bytes");
		return 0;
	}
	if (eml_dt_is_real(got->dtype)) {
		size_t es = eml_dtype_size(got->dtype);
		/* float16 results carry float16 rounding */
		float atol = got->dtype == EML_DT_FLOAT16 ? 1e-3f : 1e-7f;
		for (uint64_t i = 0; i < got->bytes / es; i++) {
			float a = (float)eml_ld_f(got->data, got->dtype, i);
			float b = (float)eml_ld_f(want->data, want->dtype, i);
			if (isnan(b) && isnan(a))
				continue;
			if (isinf(b) && a == b)
				continue;
			if (!(fabsf(a - b) <= atol + 1e-3f * fabsf(b))) {
				snprintf(why, cap, "elem %llu: %g vs %g", (unsigned long long)i, a,
				         b);
				return 0;
			}
		}
		return 1;
	}
	if (memcmp(got->data, want->data, got->bytes) != 0) {
		snprintf(why, cap, "bytes differ");
		return 0;
	}
	return 1;
}

/* 1 pass, 0 fail, -1 not claimed. */
static int run_case(const char *dir, int threads, char *why, size_t cap)
{
	char path[1400];
	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	eml_model *m = om_load(path);
	if (m == NULL) {
		snprintf(why, cap, "load failed");
		return -1;
	}
	int64_t opset = eml_model_opset(m, "");
	if (!claimed(m, opset)) {
		eml_model_free(m);
		return -1;
	}
	int res = 0;
	eml_io_tensor in[16], want[16];
	uint8_t *ind[16] = {0}, *wd[16] = {0};
	size_t nin = 0, nout = 0;
	eml_plan *p = NULL;
	for (nin = 0; nin < 16; nin++) {
		snprintf(path, sizeof(path), "%s/test_data_set_0/input_%zu.pb", dir, nin);
		struct stat st;
		if (stat(path, &st) != 0 || om_load_pb(path, &in[nin], &ind[nin]) != 0)
			break;
	}
	for (nout = 0; nout < 16; nout++) {
		snprintf(path, sizeof(path), "%s/test_data_set_0/output_%zu.pb", dir, nout);
		struct stat st;
		if (stat(path, &st) != 0 || om_load_pb(path, &want[nout], &wd[nout]) != 0)
			break;
	}
	int bad = -1;
	eml_engine_opts o = {.threads = threads, .max_memory = 0};
	int rc = eml_engine_assemble(m, in, nin, &o, &p, &bad);
	if (rc != EML_OK) {
		snprintf(why, cap, "assemble: %s (input %d)", eml_err_name(rc), bad);
		goto out;
	}
	rc = eml_plan_run(p);
	if (rc != EML_OK) {
		snprintf(why, cap, "run: %s", eml_err_name(rc));
		goto out;
	}
	if (eml_plan_n_outputs(p) != nout) {
		snprintf(why, cap, "outputs %zu vs %zu", eml_plan_n_outputs(p), nout);
		goto out;
	}
	res = 1;
	for (size_t i = 0; i < nout && res; i++) {
		eml_io_tensor got;
		eml_plan_output(p, i, &got);
		char w[200];
		if (!close_enough(&got, &want[i], w, sizeof(w))) {
			snprintf(why, cap, "output %zu: %s", i, w);
			res = 0;
		}
	}
out:
	eml_plan_free(p);
	for (size_t i = 0; i < 16; i++) {
		free(ind[i]);
		free(wd[i]);
	}
	eml_model_free(m);
	return res;
}

/* Node tests of claimed operators that are out of scope by design (DESIGN §6: inference only,
 * tensors only, float32 compute with float16/double storage): each with its reason. */
static const struct {
	const char *name;
	const char *why;
} k_excluded[] = {
    {"test_cast_BFLOAT16_to_FLOAT", "bfloat16 is not a supported dtype"},
    {"test_cast_FLOAT_to_BFLOAT16", "bfloat16 is not a supported dtype"},
    {"test_castlike_BFLOAT16_to_FLOAT", "bfloat16 is not a supported dtype"},
    {"test_castlike_FLOAT_to_BFLOAT16", "bfloat16 is not a supported dtype"},
    {"test_castlike_FLOAT_to_STRING", "string tensors are not supported"},
    {"test_castlike_STRING_to_FLOAT", "string tensors are not supported"},
    {"test_castlike_BFLOAT16_to_FLOAT_expanded", "bfloat16 is not a supported dtype"},
    {"test_castlike_FLOAT_to_BFLOAT16_expanded", "bfloat16 is not a supported dtype"},
    {"test_cast_FLOAT_to_STRING", "string tensors are not supported"},
    {"test_cast_STRING_to_FLOAT", "string tensors are not supported"},
    {"test_castlike_FLOAT_to_STRING_expanded", "string tensors are not supported"},
    {"test_castlike_STRING_to_FLOAT_expanded", "string tensors are not supported"},
    {"test_identity_opt", "optional values are not supported"},
    {"test_identity_sequence", "sequence values are not supported"},
    /* These six run, and pass, in test_conformance (the real ONNX loader, libonnx-testdata's
     * node suite); the model this runner's minimal reader builds from them is refused
     * (UNSUPPORTED), so here they are listed rather than counted. */
    {"test_blackmanwindow_expanded", "covered by test_conformance (real loader)"},
    {"test_blackmanwindow_symmetric_expanded", "covered by test_conformance (real loader)"},
    {"test_hammingwindow_expanded", "covered by test_conformance (real loader)"},
    {"test_hammingwindow_symmetric_expanded", "covered by test_conformance (real loader)"},
    {"test_hannwindow_expanded", "covered by test_conformance (real loader)"},
    {"test_hannwindow_symmetric_expanded", "covered by test_conformance (real loader)"},
};

static int excluded(const char *name)
{
	for (size_t i = 0; i < sizeof(k_excluded) / sizeof(k_excluded[0]); i++)
		if (strcmp(k_excluded[i].name, name) == 0)
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(engine_conformance, every_node_test_of_every_claimed_op_passes, .timeout = 300)
{
	DIR *d = opendir(NODE_DIR);
	if (d == NULL)
		cr_assert_fail("libonnx-testdata is not installed");
	char *names[2048];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 2048)
		if (strncmp(e->d_name, "test_", 5) == 0)
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_str);
	const char *filter = getenv("EML_CONF_FILTER");
	int verbose = getenv("EML_CONF_VERBOSE") != NULL;
	size_t pass = 0, fail = 0, skip = 0;
	for (size_t i = 0; i < n; i++) {
		if ((filter != NULL && strstr(names[i], filter) == NULL) || excluded(names[i])) {
			free(names[i]);
			continue;
		}
		char dir[600], why[300] = "";
		snprintf(dir, sizeof(dir), "%s/%s", NODE_DIR, names[i]);
		if (verbose) {
			fprintf(stderr, "RUN  %s\n", names[i]);
			fflush(stderr);
		}
		/* single-threaded, then with a pool of 3 (parallel paths on any machine) */
		int r = run_case(dir, 1, why, sizeof(why));
		if (r == 1)
			r = run_case(dir, 3, why, sizeof(why));
		if (r == 1) {
			pass++;
			if (verbose)
				printf("PASS %s\n", names[i]);
		} else if (r == 0) {
			fail++;
			printf("FAIL %s: %s\n", names[i], why);
		} else {
			skip++;
		}
		free(names[i]);
	}
	printf("conformance: %zu passed, %zu failed, %zu not claimed\n", pass, fail, skip);
	fflush(stdout);
	/* a drop in the count means a claimed test silently stopped being recognised */
	if (filter == NULL)
		cr_expect_geq(pass, 737, "only %zu node tests passed", pass);
	cr_expect_gt(pass, 0);
	cr_expect_eq(fail, 0, "%zu claimed node tests failed", fail);
}
