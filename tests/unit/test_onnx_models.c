/*
 * Real public models: they load, pass `check`, and survive load -> save -> load with identical
 * tensor bytes and graph structure. A missing cache is a failure (run scripts/fetch-testdata).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "eml/error.h"
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "prop.h"

static void need_file(const char *path)
{
	if (access(path, R_OK) != 0)
		cr_assert_fail("test model %s is missing: run scripts/fetch-testdata", path);
}

static void roundtrip(const char *path, uint32_t min_nodes, int want_constant_tensors)
{
	need_file(path);
	eml_model *m = NULL, *m2 = NULL;
	cr_assert_eq(eml_onnx_load_file(path, &m), EML_OK, "load %s", path);
	uint32_t nodes = 0, const_tensors = 0;
	for (uint32_t g = 0; g < m->n_graphs; g++) {
		nodes += m->graphs[g].n_nodes;
		for (uint32_t i = 0; i < m->graphs[g].n_nodes; i++) {
			const eml_node *n = &m->graphs[g].nodes[i];
			if (strcmp(n->op_type, "Constant") == 0 && n->n_attrs == 1 &&
			    n->attrs[0].type == EML_ATTR_TENSOR && n->attrs[0].tensor >= 0)
				const_tensors++;
		}
	}
	cr_assert_geq(nodes, min_nodes, "%s: %u nodes", path, nodes);
	if (want_constant_tensors)
		cr_assert_gt(const_tensors, 0, "%s keeps weights in Constant nodes", path);
	cr_assert_gt(m->graphs[0].n_inputs, 0);
	cr_assert_not_null(m->values[m->graphs[0].inputs[0]].name, "I/O names are kept at load");

	eml_unsupported_op *list = NULL;
	size_t n = 99;
	cr_assert_eq(eml_onnx_check(m, &list, &n), EML_OK);
	cr_assert_eq(n, 0, "%s: %zu unsupported ops (first %s)", path, n, n ? list[0].op_type : "");

	uint8_t *bytes = NULL;
	size_t len = 0;
	cr_assert_eq(eml_onnx_save(m, &bytes, &len), EML_OK);
	cr_assert_eq(eml_onnx_load_bytes(bytes, len, NULL, &m2), EML_OK);
	char why[160] = "";
	cr_assert_eq(eml_gen_model_diff(m, m2, why, sizeof(why)), 0, "%s round trip: %s", path,
	             why);
	/* save -> save is byte-stable (deterministic serialization) */
	uint8_t *bytes2 = NULL;
	size_t len2 = 0;
	cr_assert_eq(eml_onnx_save(m2, &bytes2, &len2), EML_OK);
	cr_assert(len == len2 && memcmp(bytes, bytes2, len) == 0, "%s: save not stable", path);
	eml_free(bytes);
	eml_free(bytes2);
	eml_onnx_unsupported_free(list, n);
	eml_model_free(m);
	eml_model_free(m2);
}

static char *cache_path(const char *rel)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s", eml_test_cache_dir(), rel);
	return buf;
}

Test(onnx_models, mnist8_roundtrip)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	roundtrip(p, 10, 0);
}

Test(onnx_models, openwakeword_roundtrip)
{
	const char *names[] = {"hello_deepa", "hello_deepa_old", "namaste_deepa"};
	for (size_t i = 0; i < 3; i++) {
		char rel[256];
		snprintf(rel, sizeof(rel), "models/openwakeword/%s.onnx", names[i]);
		roundtrip(cache_path(rel), 10, 0);
	}
}

Test(onnx_models, ocr_roundtrip, .timeout = 120)
{
	roundtrip(cache_path("models/ocr/cls.onnx"), 100, 1);
	roundtrip(cache_path("models/ocr/det.onnx"), 100, 1);
	roundtrip(cache_path("models/ocr/rec.onnx"), 100, 1);
}

Test(onnx_models, save_file_then_load_file)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	need_file(p);
	eml_model *m = NULL, *m2 = NULL;
	cr_assert_eq(eml_onnx_load_file(p, &m), EML_OK);
	char *dir = eml_test_tmpdir();
	char out[4096];
	snprintf(out, sizeof(out), "%s/copy.onnx", dir);
	cr_assert_eq(eml_onnx_save_file(m, out), EML_OK);
	cr_assert_eq(eml_onnx_load_file(out, &m2), EML_OK);
	char why[160] = "";
	cr_assert_eq(eml_gen_model_diff(m, m2, why, sizeof(why)), 0, "%s", why);
	eml_model_free(m);
	eml_model_free(m2);
	eml_test_rmtree(dir);
	free(dir);
}
