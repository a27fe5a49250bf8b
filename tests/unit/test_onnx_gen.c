/*
 * The random model generator (tests/support/gen_onnx.c) and save/load on its output:
 * generated models load, pass check, round-trip exactly, and ONNX Runtime accepts them and
 * computes outputs of the announced shape.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "prop.h"

Test(onnx_gen, generated_models_load_check_and_round_trip)
{
	int families[3] = {0, 0, 0}, with_if = 0, opsets[21] = {0};
	for (uint64_t seed = 1; seed <= 120; seed++) {
		eml_rng r;
		eml_rng_seed(&r, seed);
		eml_gen_opts o;
		memset(&o, 0, sizeof(o));
		eml_gen_info info;
		uint8_t *b1 = NULL, *b2 = NULL, *b3 = NULL;
		size_t l1, l2, l3;
		cr_assert_eq(eml_gen_model(&r, &o, &b1, &l1, &info), EML_OK, "seed %llu",
		             (unsigned long long)seed);
		eml_model *m1 = NULL, *m2 = NULL;
		cr_assert_eq(eml_onnx_load_bytes(b1, l1, NULL, &m1), EML_OK, "seed %llu",
		             (unsigned long long)seed);
		cr_assert_eq(eml_model_opset(m1, ""), info.opset);
		eml_unsupported_op *list = NULL;
		size_t n = 1;
		cr_assert_eq(eml_onnx_check(m1, &list, &n), EML_OK);
		cr_assert_eq(n, 0, "seed %llu: generated %s unsupported", (unsigned long long)seed,
		             n ? list[0].op_type : "");
		uint32_t nodes = 0;
		for (uint32_t g = 0; g < m1->n_graphs; g++)
			nodes += m1->graphs[g].n_nodes;
		cr_assert_eq(nodes, info.n_nodes);
		const eml_value *in = &m1->values[m1->graphs[0].inputs[0]];
		cr_assert_str_eq(in->name, "input");
		cr_assert_eq((uint32_t)in->rank, info.inputs[0].rank);
		for (uint32_t d = 1; d < info.inputs[0].rank; d++)
			cr_assert_eq(in->dims[d].value, info.inputs[0].dims[d]);
		cr_assert_eq(eml_onnx_save(m1, &b2, &l2), EML_OK);
		cr_assert_eq(eml_onnx_load_bytes(b2, l2, NULL, &m2), EML_OK);
		char why[160] = "";
		cr_assert_eq(eml_gen_model_diff(m1, m2, why, sizeof(why)), 0, "seed %llu: %s",
		             (unsigned long long)seed, why);
		cr_assert_eq(eml_onnx_save(m2, &b3, &l3), EML_OK);
		cr_assert(l2 == l3 && memcmp(b2, b3, l2) == 0, "save is deterministic");
		families[info.family]++;
		with_if += info.has_if;
		opsets[info.opset]++;
		eml_free(b1);
		eml_free(b2);
		eml_free(b3);
		eml_model_free(m1);
		eml_model_free(m2);
	}
	cr_assert_gt(families[EML_GEN_MLP], 10);
	cr_assert_gt(families[EML_GEN_CNN], 10);
	cr_assert_gt(with_if, 5);
	for (int v = 7; v <= 20; v++)
		cr_assert_gt(opsets[v], 0, "opset %d never generated", v);
}

Test(onnx_gen, options_are_respected)
{
	for (uint64_t seed = 1; seed <= 40; seed++) {
		eml_rng r;
		eml_rng_seed(&r, seed * 7919);
		eml_gen_opts o;
		memset(&o, 0, sizeof(o));
		o.families = seed % 2 ? EML_GEN_MLP : EML_GEN_CNN;
		o.opset = 7 + (int)(seed % 14);
		o.no_if = 1;
		o.no_dtypes = 1;
		eml_model *m = NULL;
		eml_gen_info info;
		cr_assert_eq(eml_gen_model_ir(&r, &o, &m, &info), EML_OK);
		cr_assert_eq(info.family, (int)o.families);
		cr_assert_eq(info.opset, o.opset);
		cr_assert_eq(info.has_if, 0);
		cr_assert_eq(m->n_graphs, 1);
		for (uint32_t t = 0; t < m->n_tensors; t++)
			cr_assert(m->tensors[t].dtype == EML_DT_FLOAT ||
			          m->tensors[t].dtype == EML_DT_INT64);
		eml_model_free(m);
	}
}

/* ONNX Runtime (onnxruntime-node from the cache) loads generated models and runs them; the
 * output shape must be the one the generator announced. ~2 s for 40 models. */
static const char ort_script[] =
    "const ort=require('onnxruntime-node');const fs=require('fs');"
    "const man=JSON.parse(fs.readFileSync(process.argv[2]));(async()=>{let bad=0;"
    "for(const e of man){try{const s=await ort.InferenceSession.create(e.file);"
    "const sz=e.shape.reduce((a,b)=>a*b,1);"
    "const x=new ort.Tensor('float32',Float32Array.from({length:sz},(_,i)=>Math.sin(i)),e.shape);"
    "const r=await s.run({input:x});"
    "if(JSON.stringify(r.output.dims)!==JSON.stringify(e.oshape))throw new Error('shape');"
    "for(const v of r.output.data)if(!Number.isFinite(v))throw new Error('nonfinite');}"
    "catch(err){bad++;console.log('FAIL',e.file,err.message.slice(0,200));}}"
    "console.log('ORT_BAD='+bad);})();";

Test(onnx_gen, onnx_runtime_accepts_generated_models, .timeout = 300)
{
	char ort[4096];
	snprintf(ort, sizeof(ort), "%s/ort/node_modules/onnxruntime-node", eml_test_cache_dir());
	if (access(ort, R_OK) != 0)
		cr_assert_fail("%s is missing: run scripts/fetch-testdata", ort);
	char *dir = eml_test_tmpdir();
	char man[4096], js[4096], p[4096];
	snprintf(man, sizeof(man), "%s/manifest.json", dir);
	snprintf(js, sizeof(js), "%s/check.js", dir);
	FILE *mf = fopen(man, "w");
	cr_assert_not_null(mf);
	fputc('[', mf);
	for (int i = 0; i < 40; i++) {
		eml_rng r;
		eml_rng_seed(&r, 5000 + (uint64_t)i);
		eml_gen_opts o;
		memset(&o, 0, sizeof(o));
		eml_gen_info info;
		uint8_t *b = NULL;
		size_t len = 0;
		cr_assert_eq(eml_gen_model(&r, &o, &b, &len, &info), EML_OK);
		snprintf(p, sizeof(p), "%s/m%02d.onnx", dir, i);
		cr_assert_eq(eml_file_write_atomic(p, b, len, 0600), EML_OK);
		eml_free(b);
		fprintf(mf, "%s{\"file\":\"%s\",\"shape\":[", i ? "," : "", p);
		for (uint32_t d = 0; d < info.inputs[0].rank; d++)
			fprintf(mf, "%s%lld", d ? "," : "", (long long)info.inputs[0].dims[d]);
		fprintf(mf, "],\"oshape\":[");
		for (uint32_t d = 0; d < info.outputs[0].rank; d++)
			fprintf(mf, "%s%lld", d ? "," : "", (long long)info.outputs[0].dims[d]);
		fprintf(mf, "]}");
	}
	fputs("]\n", mf);
	fclose(mf);
	FILE *jf = fopen(js, "w");
	cr_assert_not_null(jf);
	fputs(ort_script, jf);
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
	int st = pclose(pp);
	cr_assert_eq(st, 0, "node failed (is nodejs installed?)");
	cr_assert_eq(bad, 0, "ONNX Runtime refused %d of 40 generated models", bad);
	eml_test_rmtree(dir);
	free(dir);
}

/* Corrupted generated models (byte flips, truncations, spliced garbage) never crash the loader,
 * never return a model together with an error, and fail only with ONNX codes. */
Test(onnx_gen, corrupted_models_fail_cleanly, .timeout = 300)
{
	eml_rng r;
	eml_rng_seed(&r, 0xC0FFEE);
	int refused = 0, total = 0;
	for (int i = 0; i < 30; i++) {
		eml_gen_opts o;
		memset(&o, 0, sizeof(o));
		o.max_layers = 2;
		o.max_features = 8;
		o.max_channels = 4;
		uint8_t *b = NULL;
		size_t len = 0;
		cr_assert_eq(eml_gen_model(&r, &o, &b, &len, NULL), EML_OK);
		for (int k = 0; k < 40; k++) {
			size_t n = len;
			uint8_t *c = malloc(len);
			memcpy(c, b, len);
			switch (k % 3) {
			case 0:
				for (int f = 0; f < 1 + (int)eml_rng_below(&r, 4); f++)
					c[eml_rng_below(&r, len)] ^=
					    (uint8_t)(1u << eml_rng_below(&r, 8));
				break;
			case 1:
				n = (size_t)eml_rng_below(&r, len);
				break;
			default: {
				size_t at = (size_t)eml_rng_below(&r, len);
				size_t span = 1 + (size_t)eml_rng_below(&r, 16);
				if (at + span > len)
					span = len - at;
				eml_rng_bytes(&r, c + at, span);
			}
			}
			eml_model *m = NULL;
			int rc = eml_onnx_load_bytes(c, n, NULL, &m);
			cr_assert(rc == EML_OK ? m != NULL : m == NULL);
			cr_assert(rc == EML_OK || (rc >= 100 && rc < 200), "code %d", rc);
			if (rc == EML_OK) {
				eml_unsupported_op *l = NULL;
				size_t nl = 0;
				cr_assert_eq(eml_onnx_check(m, &l, &nl), EML_OK);
				eml_onnx_unsupported_free(l, nl);
				uint8_t *s = NULL;
				size_t sl = 0;
				cr_assert_eq(eml_onnx_save(m, &s, &sl), EML_OK);
				eml_free(s);
			}
			refused += rc != EML_OK;
			total++;
			eml_model_free(m);
			free(c);
		}
		eml_free(b);
	}
	cr_assert_gt(refused, total / 3, "corruption is mostly detected (%d of %d)", refused,
	             total);
}
