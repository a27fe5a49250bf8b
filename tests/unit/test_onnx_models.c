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
	/* the data area is sized once from the tensor bytes present in the file */
	cr_assert_geq(eml_alloc_size(m->data), m->data_len);
	cr_assert_lt(eml_alloc_size(m->data), m->data_len + EML_DATA_ALIGN, "%s: %zu for %llu",
	             path, eml_alloc_size(m->data), (unsigned long long)m->data_len);
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

/* load -> save gives a model that ONNX Runtime runs to bit-identical outputs (onnxruntime-node
 * from the cache; ~2 s). Inputs are deterministic pseudo-random values. */
static const char ort_cmp_script[] =
    "const ort=require('onnxruntime-node');const fs=require('fs');"
    "const man=JSON.parse(fs.readFileSync(process.argv[2]));(async()=>{let bad=0;"
    "for(const e of man){try{const a=await ort.InferenceSession.create(e.orig);"
    "const b=await ort.InferenceSession.create(e.saved);const feeds={};let seed=1;"
    "const rnd=()=>{seed=(seed*1103515245+12345)%2147483648;return seed/2147483648-0.5;};"
    "for(const n of a.inputNames){const sz=e.shape.reduce((x,y)=>x*y,1);"
    "feeds[n]=new ort.Tensor('float32',Float32Array.from({length:sz},rnd),e.shape);}"
    "const ra=await a.run(feeds),rb=await b.run(feeds);"
    "for(const k of a.outputNames){const x=ra[k].data,y=rb[k].data;"
    "if(x.length!==y.length)throw new Error('length');"
    "for(let i=0;i<x.length;i++)if(!(x[i]===y[i]||(isNaN(x[i])&&isNaN(y[i]))))"
    "throw new Error('output differs');}}"
    "catch(err){bad++;console.log('FAIL',e.orig,err.message.slice(0,200));}}"
    "console.log('ORT_BAD='+bad);})();";

Test(onnx_models, onnx_runtime_outputs_identical_after_save, .timeout = 300)
{
	struct {
		const char *rel;
		int in_vectors;
		const char *shape;
	} models[] = {
	    {"models/mnist-8/model.onnx", 1, "[1,1,28,28]"},
	    {"models/openwakeword/hello_deepa.onnx", 0, "[1,25,96]"},
	    {"models/ocr/cls.onnx", 0, "[1,3,48,192]"},
	    {"models/ocr/det.onnx", 0, "[1,3,64,96]"},
	};
	char ort[4096];
	snprintf(ort, sizeof(ort), "%s/ort/node_modules/onnxruntime-node", eml_test_cache_dir());
	if (access(ort, R_OK) != 0)
		cr_assert_fail("%s is missing: run scripts/fetch-testdata", ort);
	char *dir = eml_test_tmpdir();
	char man[4096], js[4096], orig[4096], saved[4096];
	snprintf(man, sizeof(man), "%s/manifest.json", dir);
	snprintf(js, sizeof(js), "%s/cmp.js", dir);
	FILE *mf = fopen(man, "w");
	cr_assert_not_null(mf);
	fputc('[', mf);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		snprintf(orig, sizeof(orig), "%s/%s",
		         models[i].in_vectors ? eml_test_vectors_dir() : eml_test_cache_dir(),
		         models[i].rel);
		need_file(orig);
		snprintf(saved, sizeof(saved), "%s/m%zu.onnx", dir, i);
		eml_model *m = NULL;
		cr_assert_eq(eml_onnx_load_file(orig, &m), EML_OK);
		cr_assert_eq(eml_onnx_save_file(m, saved), EML_OK);
		eml_model_free(m);
		fprintf(mf, "%s{\"orig\":\"%s\",\"saved\":\"%s\",\"shape\":%s}", i ? "," : "", orig,
		        saved, models[i].shape);
	}
	fputs("]\n", mf);
	fclose(mf);
	FILE *jf = fopen(js, "w");
	cr_assert_not_null(jf);
	fputs(ort_cmp_script, jf);
	fclose(jf);
	char cmd[16384];
	snprintf(cmd, sizeof(cmd), "NODE_PATH='%s/ort/node_modules' node '%s' '%s' 2>&1",
	         eml_test_cache_dir(), js, man);
	FILE *pp = popen(cmd, "r");
	cr_assert_not_null(pp);
	char line[1024];
	int bad = -1;
	while (fgets(line, sizeof(line), pp) != NULL) {
		if (strncmp(line, "ORT_BAD=", 8) == 0)
			bad = atoi(line + 8);
		else
			fprintf(stderr, "%s", line);
	}
	cr_assert_eq(pclose(pp), 0, "node failed (is nodejs installed?)");
	cr_assert_eq(bad, 0, "%d models give different outputs after load -> save", bad);
	eml_test_rmtree(dir);
	free(dir);
}
