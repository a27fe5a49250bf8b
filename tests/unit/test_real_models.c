/*
 * Decomposition of the real models: MNIST (vectors), openWakeWord and PaddleOCR (cache; the OCR
 * models keep their weights in Constant nodes). For each: every operator is supported, decompose
 * then recompose (join, save to ONNX, load again) gives byte-identical tensors per tensor in IR
 * order, and the topology key holds no distinctive window of any tensor's bytes, nor the original
 * I/O names.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "eml/error.h"
#include "onnx/onnx.h"
#include "prop.h"
#include "test_topo_models.h"
#include "topo/topo.h"

static void check_model(const char *path)
{
	if (access(path, R_OK) != 0)
		cr_assert_fail("%s is missing: run scripts/fetch-testdata", path);
	eml_model *m = NULL;
	cr_assert_eq(eml_onnx_load_file(path, &m), EML_OK, "load %s", path);
	eml_unsupported_op *list = NULL;
	size_t nu = 0;
	cr_assert_eq(eml_onnx_check(m, &list, &nu), EML_OK);
	for (size_t i = 0; i < nu; i++)
		cr_log_error("%s: unsupported %s %s", path, list[i].domain, list[i].op_type);
	cr_assert_eq(nu, 0, "%s: %zu unsupported operator kinds", path, nu);
	cr_assert_gt(m->n_tensors, 0);

	uint8_t *tk, *blob;
	size_t tkl, bl;
	cr_assert_eq(eml_topo_decompose(m, NULL, &tk, &tkl, &blob, &bl), EML_OK);
	eml_tkey *k;
	cr_assert_eq(eml_tkey_parse(tk, tkl, &k), EML_OK);
	cr_assert_eq(tm_models_differ(m, eml_tkey_model(k), 0), 0);

	/* recompose: join, write ONNX, read it back */
	eml_model *j;
	uint32_t bad;
	cr_assert_eq(eml_topo_join(k, blob, bl, &j, &bad), EML_OK);
	uint8_t *onnx;
	size_t onnx_len;
	cr_assert_eq(eml_onnx_save(j, &onnx, &onnx_len), EML_OK);
	eml_model *r = NULL;
	cr_assert_eq(eml_onnx_load_bytes(onnx, onnx_len, NULL, &r), EML_OK);
	cr_assert_eq(r->n_tensors, m->n_tensors);
	for (uint32_t i = 0; i < m->n_tensors; i++) {
		const eml_tensor *a = &m->tensors[i], *b = &r->tensors[i];
		cr_assert_eq(a->dtype, b->dtype, "%s tensor %u dtype", path, i);
		cr_assert_eq(a->length, b->length, "%s tensor %u length", path, i);
		cr_assert(a->length == 0 ||
		              memcmp(m->data + a->offset, r->data + b->offset, a->length) == 0,
		          "%s tensor %u bytes differ", path, i);
	}
	cr_assert_eq(tm_models_differ(m, r, 0), 0, "%s: recomposed graph differs (%d)", path,
	             tm_models_differ(m, r, 0));

	/* the key holds no tensor bytes (and the checker sees a planted window) */
	winset ws;
	winset_init(&ws, tk, tkl);
	uint64_t checked = 0;
	for (uint32_t i = 0; i < m->n_tensors; i++) {
		size_t where;
		cr_assert(!winset_find(&ws, m->data + m->tensors[i].offset,
		                       (size_t)m->tensors[i].length, &where),
		          "%s: tensor %u bytes at %zu appear in the tkey", path, i, where);
		checked += m->tensors[i].length;
	}
	cr_assert_gt(checked, 1000);
	free(ws.h);
	uint8_t *planted = malloc(tkl + 16);
	memcpy(planted, tk, tkl);
	int planted_ok = 0;
	for (uint32_t i = 0; i < m->n_tensors && !planted_ok; i++)
		for (uint64_t o = 0; o + 16 <= m->tensors[i].length && o < 4096 && !planted_ok; o++)
			if (eml_window_distinctive(m->data + m->tensors[i].offset + o)) {
				memcpy(planted + tkl, m->data + m->tensors[i].offset + o, 16);
				planted_ok = 1;
				winset_init(&ws, planted, tkl + 16);
				size_t where;
				cr_assert(winset_find(&ws, m->data + m->tensors[i].offset,
				                      (size_t)m->tensors[i].length, &where),
				          "negative control: a planted window is found");
				free(ws.h);
			}
	cr_assert(planted_ok);
	free(planted);
	/* original I/O names are gone */
	for (uint32_t i = 0; i < m->n_values; i++) {
		const char *nm = m->values[i].name;
		if (nm != NULL && strlen(nm) >= 4)
			cr_assert_null(memmem(tk, tkl, nm, strlen(nm)), "%s: I/O name kept", path);
	}

	eml_model_free(r);
	eml_free(onnx);
	eml_model_free(j);
	eml_tkey_free(k);
	eml_free(tk);
	eml_free(blob);
	eml_onnx_unsupported_free(list, nu);
	eml_model_free(m);
}

static void cache_model(const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/models/%s", eml_test_cache_dir(), rel);
	check_model(p);
}

Test(real_models, mnist)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	check_model(p);
}

Test(real_models, openwakeword_hello_deepa)
{
	cache_model("openwakeword/hello_deepa.onnx");
}

Test(real_models, openwakeword_hello_deepa_old)
{
	cache_model("openwakeword/hello_deepa_old.onnx");
}

Test(real_models, openwakeword_namaste_deepa)
{
	cache_model("openwakeword/namaste_deepa.onnx");
}

Test(real_models, ocr_cls)
{
	cache_model("ocr/cls.onnx");
}

Test(real_models, ocr_det)
{
	cache_model("ocr/det.onnx");
}

Test(real_models, ocr_rec)
{
	cache_model("ocr/rec.onnx");
}
