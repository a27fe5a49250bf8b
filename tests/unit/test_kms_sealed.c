/*
 * Sealed topology key format (src/kms/sealed.h): round trip, and every tamper (wrong data key,
 * changed model id, swapped KMS blob, flipped ciphertext, truncation) fails closed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "kms/sealed.h"
#include "prop.h"
#include "test_topo_models.h"
#include "topo/topo.h"

static void make_tkey(uint64_t seed, uint8_t **tk, size_t *tl)
{
	eml_rng r;
	eml_rng_seed(&r, seed);
	eml_model *m = tm_random_model(&r, 64);
	uint8_t *blob;
	size_t bl;
	eml_decompose_opts o = {0};
	cr_assert_eq(eml_topo_decompose(m, &o, tk, tl, &blob, &bl), EML_OK);
	eml_free(blob);
	eml_model_free(m);
}

Test(kms_sealed, roundtrip_and_tamper)
{
	uint8_t *tk, *s, *out;
	size_t tl, sl, ol;
	uint8_t dk[32], other[32], blob[40];
	make_tkey(eml_prop_base_seed(), &tk, &tl);
	memset(dk, 7, 32);
	memset(other, 8, 32);
	memset(blob, 0xab, sizeof(blob));
	cr_assert_eq(eml_sealed_seal(tk, tl, dk, "key-1", blob, sizeof(blob), &s, &sl), EML_OK);
	eml_sealed x;
	cr_assert_eq(eml_sealed_parse(s, sl, &x), EML_OK);
	cr_assert_str_eq(x.key_id, "key-1");
	cr_assert_eq(x.kms_blob_len, sizeof(blob));
	cr_assert_eq(eml_sealed_open(&x, dk, &out, &ol), EML_OK);
	cr_assert_eq(ol, tl);
	cr_assert_eq(memcmp(out, tk, tl), 0);
	eml_free(out);
	cr_assert_eq(eml_sealed_open(&x, other, &out, &ol), EML_E_KMS_UNSEAL);
	cr_assert_null(out);
	/* flipping any single byte either breaks parsing or authentication */
	for (size_t i = 0; i < sl; i++) {
		s[i] ^= 1;
		int rc = eml_sealed_parse(s, sl, &x);
		if (rc == EML_OK)
			rc = eml_sealed_open(&x, dk, &out, &ol);
		cr_assert_neq(rc, EML_OK, "flip at %zu accepted", i);
		s[i] ^= 1;
	}
	for (size_t cut = 0; cut < sl; cut += 7)
		cr_assert_eq(eml_sealed_parse(s, cut, &x), EML_E_KMS_SEALED_FORMAT);
	char ctx[128];
	cr_assert_eq(eml_sealed_context_json(x.model_id, ctx, sizeof(ctx)), EML_E_OK);
	cr_assert(strstr(ctx, "\"eml:format\":\"1\""));
	eml_free(s);
	eml_free(tk);
}
