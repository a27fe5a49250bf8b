/*
 * HPKE (RFC 9180) against every X25519 base-mode vector of the RFC (all AEADs, both KDFs, every
 * encryption and export), plus the response sealing (RFC 9458 §4.4 construction).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/hpke.h"
#include "crypto/kdf.h"
#include "crypto/ohttp.h"
#include "eml/error.h"
#include "prop.h"

/* Hex field of a JSON object into a fresh malloc'd buffer. */
static uint8_t *hexfield(json_t *o, const char *k, size_t *len)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_string(v), "field %s", k);
	const char *s = json_string_value(v);
	size_t n = strlen(s) / 2;
	uint8_t *b = malloc(n + 1);
	cr_assert_eq(eml_unhex(s, b, n), EML_OK, "hex of %s", k);
	*len = n;
	return b;
}

static void expect_eq(json_t *o, const char *k, const uint8_t *got, size_t got_len)
{
	size_t n;
	uint8_t *want = hexfield(o, k, &n);
	cr_assert_eq(n, got_len, "length of %s", k);
	cr_assert(memcmp(want, got, n) == 0, "value of %s", k);
	free(want);
}

static json_t *load_vectors(void)
{
	char path[4096];
	json_error_t err;
	snprintf(path, sizeof(path), "%s/hpke/rfc9180_x25519_base_mode.json",
	         eml_test_vectors_dir());
	json_t *root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "cannot read %s: %s", path, err.text);
	cr_assert(json_is_array(root));
	return root;
}

Test(hpke, rfc9180_every_x25519_base_mode_vector)
{
	json_t *root = load_vectors();
	size_t idx, cases = 0, seals = 0, exports = 0, seen_aead[4] = {0}, seen_kdf[2] = {0};
	json_t *tv;
	json_array_foreach(root, idx, tv)
	{
		eml_hpke_suite s = {
		    .kdf = (uint16_t)json_integer_value(json_object_get(tv, "kdf_id")),
		    .aead = (uint16_t)json_integer_value(json_object_get(tv, "aead_id"))};
		cr_assert_eq(json_integer_value(json_object_get(tv, "mode")), 0);
		cr_assert_eq(json_integer_value(json_object_get(tv, "kem_id")), 0x20);
		size_t info_len, ikmR_len, ikmE_len, n;
		uint8_t *info = hexfield(tv, "info", &info_len);
		uint8_t *ikmR = hexfield(tv, "ikmR", &ikmR_len);
		uint8_t *ikmE = hexfield(tv, "ikmE", &ikmE_len);
		uint8_t skR[32], pkR[32], skE[32], pkE[32], enc[32];

		/* DeriveKeyPair for both sides. */
		cr_assert_eq(eml_hpke_keypair_derive(ikmR, ikmR_len, skR, pkR), EML_OK);
		expect_eq(tv, "skRm", skR, 32);
		expect_eq(tv, "pkRm", pkR, 32);
		cr_assert_eq(eml_hpke_keypair_derive(ikmE, ikmE_len, skE, pkE), EML_OK);
		expect_eq(tv, "skEm", skE, 32);
		expect_eq(tv, "pkEm", pkE, 32);

		eml_hpke_ctx *sender = NULL, *receiver = NULL;
		cr_assert_eq(eml_hpke_setup_sender_suite(s, pkR, info, info_len, ikmE, ikmE_len,
		                                         enc, &sender),
		             EML_OK);
		expect_eq(tv, "enc", enc, 32);
		cr_assert_eq(eml_hpke_setup_receiver_suite(s, enc, skR, info, info_len, &receiver),
		             EML_OK);
		eml_hpke_kat ks, kr;
		eml_hpke_ctx_kat(sender, &ks);
		eml_hpke_ctx_kat(receiver, &kr);
		expect_eq(tv, "shared_secret", ks.shared_secret, 32);
		expect_eq(tv, "shared_secret", kr.shared_secret, 32);
		expect_eq(tv, "key_schedule_context", ks.key_schedule_context,
		          ks.key_schedule_context_len);
		expect_eq(tv, "key", ks.key, ks.key_len);
		expect_eq(tv, "key", kr.key, kr.key_len);
		expect_eq(tv, "base_nonce", ks.base_nonce, ks.nonce_len);
		expect_eq(tv, "exporter_secret", ks.exporter_secret, ks.exporter_secret_len);
		expect_eq(tv, "exporter_secret", kr.exporter_secret, kr.exporter_secret_len);

		/* Every encryption, in sequence order, on both sides. */
		size_t ei;
		json_t *e;
		json_array_foreach(json_object_get(tv, "encryptions"), ei, e)
		{
			size_t aad_len, pt_len, nonce_len, ct_len;
			uint8_t *aad = hexfield(e, "aad", &aad_len);
			uint8_t *pt = hexfield(e, "pt", &pt_len);
			uint8_t *nonce = hexfield(e, "nonce", &nonce_len);
			uint8_t *ct = hexfield(e, "ct", &ct_len);
			/* ComputeNonce(seq) = base_nonce XOR seq, checked independently. */
			uint8_t want_nonce[12];
			memcpy(want_nonce, ks.base_nonce, 12);
			for (int b = 0; b < 8; b++)
				want_nonce[11 - b] ^= (uint8_t)((uint64_t)ei >> (8 * b));
			cr_assert_eq(nonce_len, 12);
			cr_assert(memcmp(nonce, want_nonce, 12) == 0, "nonce %zu", ei);
			uint8_t *out = malloc(pt_len + 16), *back = malloc(pt_len + 1);
			cr_assert_eq(eml_hpke_seal(sender, aad, aad_len, pt, pt_len, out), EML_OK);
			cr_assert_eq(ct_len, pt_len + 16);
			cr_assert(memcmp(out, ct, ct_len) == 0, "case %zu encryption %zu", idx, ei);
			cr_assert_eq(eml_hpke_open(receiver, aad, aad_len, ct, ct_len, back),
			             EML_OK);
			cr_assert(memcmp(back, pt, pt_len) == 0);
			free(aad), free(pt), free(nonce), free(ct), free(out), free(back);
			seals++;
		}
		/* Every export, on both sides. */
		json_t *x;
		json_array_foreach(json_object_get(tv, "exports"), ei, x)
		{
			size_t ctx_len, L = (size_t)json_integer_value(json_object_get(x, "L"));
			uint8_t *ectx = hexfield(x, "exporter_context", &ctx_len);
			uint8_t out[256];
			cr_assert(L <= sizeof(out));
			cr_assert_eq(eml_hpke_export(sender, ectx, ctx_len, L, out), EML_OK);
			expect_eq(x, "exported_value", out, L);
			cr_assert_eq(eml_hpke_export(receiver, ectx, ctx_len, L, out), EML_OK);
			expect_eq(x, "exported_value", out, L);
			free(ectx);
			exports++;
		}
		if (s.aead == EML_HPKE_AEAD_EXPORT_ONLY) {
			uint8_t o[32];
			cr_assert_eq(eml_hpke_seal(sender, NULL, 0, o, 0, o), EML_E_UNSUPPORTED);
			seen_aead[0]++;
		} else {
			seen_aead[s.aead]++;
		}
		seen_kdf[s.kdf == EML_HPKE_KDF_SHA512]++;
		(void)n;
		eml_hpke_ctx_free(sender);
		eml_hpke_ctx_free(receiver);
		free(info), free(ikmR), free(ikmE);
		cases++;
	}
	/* The file holds 8 cases: 4 AEAD choices x 2 KDFs, 257 encryptions each (none for the
	 * export-only ones) and 3 exports each. */
	cr_assert_eq(cases, 8);
	cr_assert_eq(seals, 6 * 257);
	cr_assert_eq(exports, 8 * 3);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(seen_aead[i], 2, "AEAD %d", i);
	cr_assert_eq(seen_kdf[0], 4);
	cr_assert_eq(seen_kdf[1], 4);
	json_decref(root);
}

Test(hpke, product_suite_round_trip_and_refusals)
{
	uint8_t skR[32], pkR[32], sk2[32], pk2[32], enc[32];
	const uint8_t info[] = "eml/1 request test";
	cr_assert_eq(eml_hpke_keypair_generate(skR, pkR), EML_OK);
	cr_assert_eq(eml_hpke_keypair_generate(sk2, pk2), EML_OK);
	eml_hpke_ctx *s, *r, *r2, *r3;
	cr_assert_eq(eml_hpke_setup_sender(pkR, info, sizeof(info), enc, &s), EML_OK);
	cr_assert_eq(eml_hpke_ctx_suite(s).aead, EML_HPKE_AEAD_AES256GCM);
	uint8_t pt[100], ct[116], back[100];
	memset(pt, 0x5a, sizeof(pt));
	cr_assert_eq(eml_hpke_seal(s, (const uint8_t *)"aad", 3, pt, 100, ct), EML_OK);
	/* Another receiver key, or another info, does not open. */
	cr_assert_eq(eml_hpke_setup_receiver(enc, sk2, info, sizeof(info), &r2), EML_OK);
	cr_assert_eq(eml_hpke_open(r2, (const uint8_t *)"aad", 3, ct, 116, back), EML_E_AUTH);
	cr_assert_eq(eml_hpke_setup_receiver(enc, skR, info, sizeof(info) - 1, &r3), EML_OK);
	cr_assert_eq(eml_hpke_open(r3, (const uint8_t *)"aad", 3, ct, 116, back), EML_E_AUTH);
	cr_assert_eq(eml_hpke_setup_receiver(enc, skR, info, sizeof(info), &r), EML_OK);
	/* Wrong AAD fails and does not advance the sequence. */
	cr_assert_eq(eml_hpke_open(r, (const uint8_t *)"aaD", 3, ct, 116, back), EML_E_AUTH);
	cr_assert_eq(eml_hpke_open(r, (const uint8_t *)"aad", 3, ct, 116, back), EML_OK);
	cr_assert(memcmp(back, pt, 100) == 0);
	/* The same ciphertext again is refused: the receiver moved to sequence 1. */
	cr_assert_eq(eml_hpke_open(r, (const uint8_t *)"aad", 3, ct, 116, back), EML_E_AUTH);
	/* Roles are enforced. */
	cr_assert_eq(eml_hpke_open(s, NULL, 0, ct, 116, back), EML_E_ARG);
	cr_assert_eq(eml_hpke_seal(r, NULL, 0, pt, 100, ct), EML_E_ARG);
	/* An all-zero (small-order) enc is refused. */
	uint8_t zero[32] = {0};
	eml_hpke_ctx *bad = NULL;
	cr_assert_eq(eml_hpke_setup_receiver(zero, skR, info, sizeof(info), &bad), EML_E_AUTH);
	cr_assert_null(bad);
	eml_hpke_ctx_free(s);
	eml_hpke_ctx_free(r);
	eml_hpke_ctx_free(r2);
	eml_hpke_ctx_free(r3);
}

Test(hpke, response_sealing_round_trip_and_tamper)
{
	uint8_t skR[32], pkR[32], enc[32];
	cr_assert_eq(eml_hpke_keypair_generate(skR, pkR), EML_OK);
	eml_hpke_ctx *s, *r;
	cr_assert_eq(eml_hpke_setup_sender(pkR, NULL, 0, enc, &s), EML_OK);
	cr_assert_eq(eml_hpke_setup_receiver(enc, skR, NULL, 0, &r), EML_OK);
	cr_assert_eq(eml_ohttp_nonce_len(r), 32);
	const char *msg = "the outputs of one inference";
	size_t n = strlen(msg);
	uint8_t nonce[32], nonce2[32], ct[128], ct2[128], back[128];
	const uint8_t aad[] = "sid|seq";
	cr_assert_eq(
	    eml_ohttp_response_seal(r, enc, aad, sizeof(aad), (const uint8_t *)msg, n, nonce, ct),
	    EML_OK);
	cr_assert_eq(eml_ohttp_response_open(s, enc, nonce, 32, aad, sizeof(aad), ct, n + 16, back),
	             EML_OK);
	cr_assert(memcmp(back, msg, n) == 0);
	/* Fresh nonce each time: a second sealing of the same text differs. */
	cr_assert_eq(
	    eml_ohttp_response_seal(r, enc, aad, sizeof(aad), (const uint8_t *)msg, n, nonce2, ct2),
	    EML_OK);
	cr_assert(memcmp(nonce, nonce2, 32) != 0);
	cr_assert(memcmp(ct, ct2, n + 16) != 0);
	/* Every flipped bit of nonce, ciphertext or enc, and a different AAD, are refused. */
	for (size_t i = 0; i < 32 * 8; i++) {
		nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert_eq(
		    eml_ohttp_response_open(s, enc, nonce, 32, aad, sizeof(aad), ct, n + 16, back),
		    EML_E_AUTH);
		nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < (n + 16) * 8; i++) {
		ct[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert_eq(
		    eml_ohttp_response_open(s, enc, nonce, 32, aad, sizeof(aad), ct, n + 16, back),
		    EML_E_AUTH);
		ct[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	enc[0] ^= 1;
	cr_assert_eq(eml_ohttp_response_open(s, enc, nonce, 32, aad, sizeof(aad), ct, n + 16, back),
	             EML_E_AUTH);
	enc[0] ^= 1;
	cr_assert_eq(
	    eml_ohttp_response_open(s, enc, nonce, 32, aad, sizeof(aad) - 1, ct, n + 16, back),
	    EML_E_AUTH);
	cr_assert_eq(eml_ohttp_response_open(s, enc, nonce, 31, aad, sizeof(aad), ct, n + 16, back),
	             EML_E_AUTH);
	/* Truncated ciphertext. */
	cr_assert_eq(eml_ohttp_response_open(s, enc, nonce, 32, aad, sizeof(aad), ct, 15, back),
	             EML_E_AUTH);
	/* Another HPKE context (another request) derives another key. */
	eml_hpke_ctx *s2;
	uint8_t enc2[32];
	cr_assert_eq(eml_hpke_setup_sender(pkR, NULL, 0, enc2, &s2), EML_OK);
	cr_assert_eq(
	    eml_ohttp_response_open(s2, enc, nonce, 32, aad, sizeof(aad), ct, n + 16, back),
	    EML_E_AUTH);
	eml_hpke_ctx_free(s);
	eml_hpke_ctx_free(s2);
	eml_hpke_ctx_free(r);
}

/* RFC 5869 A.1 and A.3 (HKDF-SHA256; A.3 has an empty salt and info), and the empty-IKM path
 * (checked against HMAC with the all-zero salt of RFC 5869 §2.2). */
Test(hkdf, rfc5869_known_answers)
{
	uint8_t ikm[22], salt[13], info[10], prk[32], okm[42], want[42];
	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	cr_assert_eq(eml_hkdf_extract(EML_KDF_HKDF_SHA256, salt, 13, ikm, 22, prk), EML_OK);
	eml_unhex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5", want, 32);
	cr_assert(memcmp(prk, want, 32) == 0);
	cr_assert_eq(eml_hkdf_expand(EML_KDF_HKDF_SHA256, prk, 32, info, 10, okm, 42), EML_OK);
	eml_unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b88718"
	          "5865",
	          want, 42);
	cr_assert(memcmp(okm, want, 42) == 0);

	cr_assert_eq(eml_hkdf_extract(EML_KDF_HKDF_SHA256, NULL, 0, ikm, 22, prk), EML_OK);
	eml_unhex("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04", want, 32);
	cr_assert(memcmp(prk, want, 32) == 0);
	cr_assert_eq(eml_hkdf_expand(EML_KDF_HKDF_SHA256, prk, 32, NULL, 0, okm, 42), EML_OK);
	eml_unhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a"
	          "96c8",
	          want, 42);
	cr_assert(memcmp(okm, want, 42) == 0);

	uint8_t zeros[32] = {0}, h[32];
	cr_assert_eq(eml_hkdf_extract(EML_KDF_HKDF_SHA256, NULL, 0, NULL, 0, prk), EML_OK);
	cr_assert_eq(eml_hmac_sha256(zeros, 32, "", 0, h), EML_OK);
	cr_assert(memcmp(prk, h, 32) == 0);
	/* Limits: L above 255 * Nh, unknown KDF. */
	uint8_t big[255 * 32 + 1];
	cr_assert_eq(eml_hkdf_expand(EML_KDF_HKDF_SHA256, prk, 32, NULL, 0, big, sizeof(big)),
	             EML_E_ARG);
	cr_assert_eq(eml_hkdf_extract(7, NULL, 0, ikm, 22, prk), EML_E_ARG);
}

/* The receiver set-up with the public key supplied (the enclave's per-boot pair) derives the
 * same context as the one that computes pk(skR); a different public key gives another context
 * (the key is bound into the KEM context, RFC 9180 §4.1). */
Test(hpke, receiver_with_known_public_key)
{
	uint8_t sk[32], pk[32], sk2[32], pk2[32], enc[32];
	cr_assert_eq(eml_hpke_keypair_generate(sk, pk), EML_OK);
	cr_assert_eq(eml_hpke_keypair_generate(sk2, pk2), EML_OK);
	eml_hpke_ctx *s = NULL, *a = NULL, *b = NULL, *c = NULL;
	cr_assert_eq(eml_hpke_setup_sender(pk, (const uint8_t *)"info", 4, enc, &s), EML_OK);
	cr_assert_eq(eml_hpke_setup_receiver(enc, sk, (const uint8_t *)"info", 4, &a), EML_OK);
	cr_assert_eq(eml_hpke_setup_receiver_pk(enc, sk, pk, (const uint8_t *)"info", 4, &b),
	             EML_OK);
	cr_assert_eq(eml_hpke_setup_receiver_pk(enc, sk, pk2, (const uint8_t *)"info", 4, &c),
	             EML_OK);
	eml_hpke_kat ks, ka, kb, kc;
	eml_hpke_ctx_kat(s, &ks);
	eml_hpke_ctx_kat(a, &ka);
	eml_hpke_ctx_kat(b, &kb);
	eml_hpke_ctx_kat(c, &kc);
	cr_assert(memcmp(ka.shared_secret, ks.shared_secret, 32) == 0);
	cr_assert(memcmp(kb.shared_secret, ks.shared_secret, 32) == 0);
	cr_assert(memcmp(kb.key, ka.key, ka.key_len) == 0);
	cr_assert(memcmp(kc.shared_secret, ks.shared_secret, 32) != 0);
	eml_hpke_ctx_free(s);
	eml_hpke_ctx_free(a);
	eml_hpke_ctx_free(b);
	eml_hpke_ctx_free(c);
}
