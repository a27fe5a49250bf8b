/*
 * Property 1 (DESIGN §11): decomposition separation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "prop.h"
#include "../unit/test_topo_models.h"
#include "topo/topo.h"

/* The generator of tests/support/gen_onnx.c may not be linked in yet (it is being written on
 * another branch): bind weakly and fall back to random IR models passed through the real ONNX
 * saver and loader. */
#pragma weak eml_gen_model

/* Byte-frequency chi-square statistic (255 degrees of freedom). */
static double chi_square(const uint64_t counts[256], uint64_t n)
{
	double e = (double)n / 256.0, x = 0;
	for (int i = 0; i < 256; i++) {
		double d = (double)counts[i] - e;
		x += d * d / e;
	}
	return x;
}

/* Upper critical value of chi-square with k dof at tail probability p(z) (Wilson-Hilferty). */
static double chi_crit(double k, double z)
{
	double a = 2.0 / (9.0 * k);
	double c = 1.0 - a + z * sqrt(a);
	return k * c * c * c;
}

/*
 * Feature: ephemeral-inference, Property 1: Decomposition separation. For any supported ONNX
 * model, the weight blob carries no architectural information (indistinguishable from random
 * bytes of a bucketed size) and the topology key carries no tensor values.
 *
 * Cases alternate between models from the ONNX generator (saved to ONNX bytes, loaded by the real
 * loader: MLPs, CNNs, Constant forms, If) and random IR models with every attribute type and
 * dtype. Per case: (1) no distinctive 16-byte window of any tensor's bytes occurs in the .tkey
 * (nor in the blob); (2) the blob body passes a byte-frequency chi-square test (p < 1e-6 per case,
 * and p < 1e-4 over all cases pooled) and its padded size is a bucket size, with exactly
 * header + bucket + 16 bytes per chunk on disk; (3) the .tkey parses back to the same topology
 * and joining it with the blob gives the same tensor bytes.
 */
Test(prop, decomposition_separation,
     .description = "Feature: ephemeral-inference, Property 1: Decomposition separation. For any "
                    "supported ONNX model, the weight blob carries no architectural information "
                    "(indistinguishable from random bytes of a bucketed size) and the topology "
                    "key carries no tensor values.")
{
	static uint64_t pooled[256];
	uint64_t pooled_n = 0;
	int cases = 0, gen_cases = 0;
	memset(pooled, 0, sizeof(pooled));
	PROP_FOR_EACH_CASE(rng)
	{
		eml_model *m = NULL;
		int from_gen = (eml_prop_case_cur % 3) != 2 && eml_gen_model != NULL;
		if (from_gen) {
			/* wide enough that the pooled chi-square below gets > 1 MiB of blob bytes */
			eml_gen_opts go = {.max_features = 96, .max_channels = 16};
			uint8_t *onnx;
			size_t len;
			PROP_ASSERT(eml_gen_model(&rng, &go, &onnx, &len, NULL) == EML_OK, "gen");
			PROP_ASSERT(eml_onnx_load_bytes(onnx, len, NULL, &m) == EML_OK, "load");
			eml_free(onnx);
			gen_cases++;
		} else {
			m = tm_random_model(&rng, 1 + eml_rng_below(&rng, 20000));
			if (eml_prop_case_cur % 3 != 2) {
				/* through ONNX bytes and the real loader */
				uint8_t *onnx;
				size_t len;
				eml_model *l = NULL;
				int src = eml_onnx_save(m, &onnx, &len);
				PROP_ASSERT(src == EML_OK, "save: %s", eml_err_name(src));
				int rc = eml_onnx_load_bytes(onnx, len, NULL, &l);
				PROP_ASSERT(rc == EML_OK, "load: %s", eml_err_name(rc));
				eml_free(onnx);
				eml_model_free(m);
				m = l;
				gen_cases++;
			}
		}
		eml_decompose_opts o = {.keep_io_names = (int)eml_rng_below(&rng, 2),
		                        .chunk_size = eml_rng_chance(&rng, 0.5) ? 4096 : 0};
		uint8_t *tk, *blob;
		size_t tkl, bl;
		PROP_ASSERT(eml_topo_decompose(m, &o, &tk, &tkl, &blob, &bl) == EML_OK,
		            "decompose");

		/* (1) the key carries no tensor value (nor the blob, in the clear) */
		winset ws;
		winset_init(&ws, blob, bl);
		for (uint32_t i = 0; i < m->n_tensors; i++) {
			const eml_tensor *t = &m->tensors[i];
			size_t ho, no;
			PROP_ASSERT(!eml_find_distinctive_window(tk, tkl, m->data + t->offset,
			                                         (size_t)t->length, &ho, &no),
			            "tensor %u bytes at %zu found in the tkey at %zu", i, no, ho);
			PROP_ASSERT(!winset_find(&ws, m->data + t->offset, (size_t)t->length, &no),
			            "tensor %u bytes found in the blob", i);
		}
		free(ws.h);

		/* (2) the blob is random bytes of a bucketed size */
		eml_blob_info bi;
		PROP_ASSERT(eml_blob_parse_header(blob, bl, &bi) == EML_OK, "header");
		PROP_ASSERT(eml_blob_bucket(bi.total_len) == bi.total_len, "bucket size");
		PROP_ASSERT(eml_blob_expected_len(&bi) == bl, "blob length");
		uint64_t counts[256] = {0};
		for (size_t i = EML_BLOB_HEADER_LEN; i < bl; i++) {
			counts[blob[i]]++;
			pooled[blob[i]]++;
		}
		uint64_t body = bl - EML_BLOB_HEADER_LEN;
		pooled_n += body;
		double x = chi_square(counts, body);
		PROP_ASSERT(x < chi_crit(255, 4.753), "blob body chi-square %.1f over %llu bytes",
		            x, (unsigned long long)body);

		/* (3) parse back: same topology, same tensor bytes */
		eml_tkey *k;
		PROP_ASSERT(eml_tkey_parse(tk, tkl, &k) == EML_OK, "parse");
		PROP_ASSERT(eml_tkey_plaintext_len(k) <= bi.total_len,
		            "plaintext within the bucket");
		int d = tm_models_differ(m, eml_tkey_model(k), 0);
		PROP_ASSERT(d == 0, "tkey topology differs (%d)", d);
		eml_model *j;
		uint32_t bad;
		PROP_ASSERT(eml_topo_join(k, blob, bl, &j, &bad) == EML_OK, "join");
		PROP_ASSERT(tm_tensors_differ(m, j) == 0, "tensor bytes differ after join");
		if (from_gen && o.keep_io_names) {
			char why[128] = "";
			PROP_ASSERT(eml_gen_model_diff(m, j, why, sizeof(why)) == 0, "diff: %s",
			            why);
		}
		eml_model_free(j);
		eml_tkey_free(k);
		eml_free(tk);
		eml_free(blob);
		eml_model_free(m);
		cases++;
	}
	cr_assert_geq(cases, eml_prop_iters());
	cr_assert_gt(gen_cases, cases / 2);
	if (eml_gen_model == NULL)
		fprintf(stderr,
		        "note: gen_onnx generator not linked: used random IR models through "
		        "the ONNX saver and loader instead\n");
	/* The pooled test needs > 1 MiB of blob bytes, which the default 100 cases always give; a
	 * reduced run (the sanitizer pass uses 10 cases) says so instead of testing too little. */
	if (eml_prop_iters() < 100) {
		fprintf(stderr, "note: %d cases: pooled chi-square test left to the full run\n",
		        eml_prop_iters());
		return;
	}
	double x = chi_square(pooled, pooled_n);
	cr_assert_lt(x, chi_crit(255, 3.719), "pooled chi-square %.1f over %llu bytes", x,
	             (unsigned long long)pooled_n);
	cr_assert_gt(pooled_n, (uint64_t)1 << 20, "enough bytes for the pooled test");
}

/* Negative controls: the checks above can fail. A key with a tensor window spliced in is caught,
 * and plain (unencrypted) tensor bytes fail the chi-square test. */
Test(prop, separation_checks_can_fail)
{
	eml_rng r;
	eml_rng_seed(&r, 3);
	eml_model *m = tm_random_model(&r, 5000);
	while (m->n_tensors == 0 || m->tensors[0].length < 64) {
		eml_model_free(m);
		m = tm_random_model(&r, 5000);
	}
	uint8_t *tk, *blob;
	size_t tkl, bl;
	cr_assert_eq(eml_topo_decompose(m, NULL, &tk, &tkl, &blob, &bl), EML_OK);
	uint8_t *leak = eml_alloc(tkl + 64);
	memcpy(leak, tk, tkl);
	/* find a distinctive window of some tensor and splice it in */
	int spliced = 0;
	for (uint32_t i = 0; i < m->n_tensors && !spliced; i++)
		for (uint64_t o = 0; o + 16 <= m->tensors[i].length && !spliced; o++)
			if (eml_window_distinctive(m->data + m->tensors[i].offset + o)) {
				memcpy(leak + tkl, m->data + m->tensors[i].offset + o, 16);
				spliced = 1;
			}
	cr_assert(spliced);
	int hit = 0;
	for (uint32_t i = 0; i < m->n_tensors; i++)
		hit |= eml_find_distinctive_window(leak, tkl + 16, m->data + m->tensors[i].offset,
		                                   (size_t)m->tensors[i].length, NULL, NULL);
	cr_assert(hit);
	/* weights as they are in the clear: 64 KiB of normal floats */
	uint64_t counts[256] = {0};
	for (int i = 0; i < 16384; i++) {
		float f = eml_rng_normal(&r) * 0.1f;
		uint8_t b[4];
		memcpy(b, &f, 4);
		for (int j = 0; j < 4; j++)
			counts[b[j]]++;
	}
	cr_assert_gt(chi_square(counts, 65536), chi_crit(255, 4.753));
	eml_free(leak);
	eml_free(tk);
	eml_free(blob);
	eml_model_free(m);
}
