/*
 * Property 4 (KMS part): sealed topology keys, random key policies and simulated enclaves with
 * varied measurements (different binaries -> different PCR0). A key opens if and only if the
 * enclave's PCRs satisfy the policy and the encryption context matches; a replayed or altered
 * Recipient response, a KMS answer for another key, or a forged CiphertextForRecipient from a
 * relaying host all fail closed.
 */
#include <jansson.h>

#include "crypto/cms.h"
#include "crypto/rsa.h"
#include "kms/sealed.h"
#include "../unit/test_kms_fixture.h"

#define NB 4
#define NPOOL 3

static char *call(eml_kms_server *s, const char *op, json_t *req, int *st)
{
	char *body = json_dumps(req, JSON_COMPACT), *resp = NULL;
	char tgt[64];
	snprintf(tgt, sizeof(tgt), "TrentService.%s", op);
	cr_assert_eq(eml_kms_server_dispatch(s, tgt, body, &resp, st), EML_OK);
	free(body);
	json_decref(req);
	return resp;
}

static const char *jstr(const char *resp, const char *k, json_t **hold)
{
	*hold = json_loads(resp, 0, NULL);
	cr_assert(*hold);
	return json_string_value(json_object_get(*hold, k));
}

static void hex_case(char *h, eml_rng *r)
{
	int up = eml_rng_chance(r, 0.3);
	for (; *h; h++)
		if (up && *h >= 'a' && *h <= 'f')
			*h = (char)(*h - 32);
}

/* Feature: ephemeral-inference, Property 4: Encryption bound to enclave identity. Data the client
 * seals (directly, or through KMS) can be opened only by an enclave whose measured identity
 * matches the binding. */
Test(prop, kms_encryption_bound_to_enclave_identity,
     .description = "Feature: ephemeral-inference, Property 4: Encryption bound to enclave "
                    "identity. Data the client seals (directly, or through KMS) can be opened "
                    "only by an enclave whose measured identity matches the binding.",
     .timeout = 600)
{
	kms_fx f;
	kf_init(&f);
	kf_stop(&f); /* requests go straight to the dispatcher (HTTP and SigV4: test_kms.c) */
	eml_kms_server_cfg sc = {.state_dir = f.state,
	                         .trust_root_pem = f.root,
	                         .access_key = KF_AK,
	                         .secret_key = KF_SK};
	eml_kms_server *s;
	cr_assert_eq(eml_kms_server_open(&sc, &s), EML_OK);
	const char *bins[NB] = {eml_test_bin(), "/bin/true", "/bin/false", "/bin/cat"};
	char pcr0[NB][97], pcr1[97];
	uint8_t p3[3][48];
	for (int i = 0; i < NB; i++)
		kf_pcr0_hex(bins[i], pcr0[i]);
	cr_assert_eq(eml_nsm_sim_pcrs(bins[0], p3), EML_OK);
	for (int i = 0; i < 48; i++)
		sprintf(pcr1 + 2 * i, "%02x", p3[1][i]);
	uint8_t *tks[2];
	size_t tls[2];
	uint8_t mids[2][16];
	for (int i = 0; i < 2; i++) {
		kf_tkey(eml_prop_base_seed() + (uint64_t)i, &tks[i], &tls[i]);
		eml_tkey *k;
		cr_assert_eq(eml_tkey_parse(tks[i], tls[i], &k), EML_OK);
		eml_tkey_model_id(k, mids[i]);
		eml_tkey_free(k);
	}
	EVP_PKEY *intruder, *pool[NPOOL];
	cr_assert_eq(eml_rsa_generate(&intruder), EML_OK);
	for (int i = 0; i < NPOOL; i++)
		cr_assert_eq(eml_rsa_generate(&pool[i]), EML_OK);
	int opened = 0, refused = 0;
	PROP_FOR_EACH_CASE(r)
	{
		/* random key policy: allowed binaries, condition key, letter case, extra PCR1. Every
		 * third case is made to open and the next to be refused, so both outcomes occur even
		 * with few cases (the sanitizer pass runs 10). */
		int must_open = (opened + refused) % 3 == 0,
		    must_refuse = (opened + refused) % 3 == 1;
		int e_force = (int)eml_rng_below(&r, NB);
		int allowed[NB], na = 0;
		json_t *vals = json_array();
		for (int i = 0; i < NB; i++) {
			allowed[i] = eml_rng_chance(&r, 0.4) || (must_open && i == e_force);
			if (allowed[i]) {
				char h[97];
				strcpy(h, pcr0[i]);
				hex_case(h, &r);
				json_array_append_new(vals, json_string(h));
				na++;
			}
		}
		if (!na)
			json_array_append_new(vals, json_string("00"));
		json_t *cond = json_object();
		json_object_set_new(cond,
		                    eml_rng_chance(&r, 0.5)
		                        ? "kms:RecipientAttestation:PCR0"
		                        : "kms:RecipientAttestation:ImageSha384",
		                    vals);
		int pcr1_mode = (int)eml_rng_below(&r, 3); /* 0 none, 1 right, 2 wrong */
		if (must_open && pcr1_mode == 2)
			pcr1_mode = 1;
		if (pcr1_mode) {
			char h[97];
			strcpy(h, pcr1);
			if (pcr1_mode == 2)
				h[5] = h[5] == '0' ? '1' : '0';
			json_object_set_new(cond, "kms:RecipientAttestation:PCR1", json_string(h));
		}
		json_t *c2 = json_object();
		json_object_set_new(c2, "StringEqualsIgnoreCase", cond);
		json_t *pj = json_pack("{s:s,s:[{s:s,s:s,s:[s,s]},{s:s,s:s,s:o}]}", "Version",
		                       "2012-10-17", "Statement", "Effect", "Allow", "Resource",
		                       "*", "Action", "kms:GenerateDataKey", "kms:CreateKey",
		                       "Effect", "Allow", "Action", "kms:Decrypt", "Condition", c2);
		char *pol = json_dumps(pj, JSON_COMPACT);
		json_decref(pj);
		int st;
		json_t *h1, *h2, *h3;
		char *resp = call(s, "CreateKey", json_pack("{s:s}", "Policy", pol), &st);
		free(pol);
		PROP_ASSERT(st == 200, "CreateKey status %d", st);
		json_t *meta = json_loads(resp, 0, NULL);
		char kid[64];
		strcpy(kid, json_string_value(
		                json_object_get(json_object_get(meta, "KeyMetadata"), "KeyId")));
		json_decref(meta);
		eml_free(resp);

		/* owner seals model m */
		int m = (int)eml_rng_below(&r, 2);
		char ctx[128];
		cr_assert_eq(eml_sealed_context_json(mids[m], ctx, sizeof(ctx)), EML_OK);
		resp = call(s, "GenerateDataKey",
		            json_pack("{s:s,s:s,s:o}", "KeyId", kid, "KeySpec", "AES_256",
		                      "EncryptionContext", json_loads(ctx, 0, NULL)),
		            &st);
		PROP_ASSERT(st == 200, "GenerateDataKey status %d", st);
		uint8_t *dk, *blob, *sealed;
		size_t dkl, bl, sl;
		cr_assert_eq(eml_b64_decode(jstr(resp, "Plaintext", &h1), &dk, &dkl), EML_OK);
		cr_assert_eq(eml_b64_decode(jstr(resp, "CiphertextBlob", &h2), &blob, &bl), EML_OK);
		json_decref(h1);
		json_decref(h2);
		eml_free(resp);
		cr_assert_eq(eml_sealed_seal(tks[m], tls[m], dk, kid, blob, bl, &sealed, &sl),
		             EML_OK);
		eml_free(dk);

		/* an enclave built from binary e asks for it, sometimes with the wrong context */
		int e = must_open ? e_force : (int)eml_rng_below(&r, NB);
		int wrong_ctx = must_refuse || (!must_open && eml_rng_chance(&r, 0.15));
		int expect = allowed[e] && pcr1_mode != 2 && !wrong_ctx;
		/* per-boot recipient keys: drawn from a small pool to keep RSA key generation cheap */
		EVP_PKEY *rsa = pool[eml_rng_below(&r, NPOOL)];
		uint8_t *spki, *doc;
		size_t spl, dl;
		cr_assert_eq(eml_rsa_spki(rsa, &spki, &spl), EML_OK);
		kf_enclave en = {f.ca, bins[e], 0};
		cr_assert_eq(kf_attest(&en, spki, spl, &doc, &dl), EML_OK);
		eml_sealed sd;
		cr_assert_eq(eml_sealed_parse(sealed, sl, &sd), EML_OK);
		char ctx2[128];
		cr_assert_eq(
		    eml_sealed_context_json(mids[wrong_ctx ? 1 - m : m], ctx2, sizeof(ctx2)),
		    EML_OK);
		char *b64b = eml_b64_encode(sd.kms_blob, sd.kms_blob_len),
		     *b64d = eml_b64_encode(doc, dl);
		resp = call(s, "Decrypt",
		            json_pack("{s:s,s:s,s:o,s:{s:s,s:s}}", "KeyId", sd.key_id,
		                      "CiphertextBlob", b64b, "EncryptionContext",
		                      json_loads(ctx2, 0, NULL), "Recipient", "AttestationDocument",
		                      b64d, "KeyEncryptionAlgorithm", "RSAES_OAEP_SHA_256"),
		            &st);
		eml_free(b64b);
		eml_free(b64d);
		uint8_t *cms = NULL, *dk2 = NULL, *tk = NULL;
		size_t cl = 0, dk2l = 0, tl = 0;
		int ok = 0;
		const char *cfr = jstr(resp, "CiphertextForRecipient", &h3);
		PROP_ASSERT(!json_object_get(h3, "Plaintext"), "plaintext returned with Recipient");
		if (st == 200 && cfr) {
			cr_assert_eq(eml_b64_decode(cfr, &cms, &cl), EML_OK);
			if (eml_cms_decrypt(cms, cl, rsa, &dk2, &dk2l) == EML_OK && dk2l == 32 &&
			    eml_sealed_open(&sd, dk2, &tk, &tl) == EML_OK) {
				ok = 1;
				PROP_ASSERT(tl == tls[m] && !memcmp(tk, tks[m], tl),
				            "wrong topology key");
				eml_free(tk);
			}
		}
		json_decref(h3);
		eml_free(resp);
		PROP_ASSERT(ok == expect,
		            "binary %d allowed %d pcr1 %d wrong_ctx %d: opened %d, expected %d", e,
		            allowed[e], pcr1_mode, wrong_ctx, ok, expect);
		opened += ok;
		refused += !ok;

		if (ok) {
			/* a relaying host: replay to another key, alter, answer for another key, forge */
			uint8_t *x = NULL;
			size_t xl = 0;
			PROP_ASSERT(eml_cms_decrypt(cms, cl, intruder, &x, &xl) != EML_OK,
			            "replayed response opened under another recipient key");
			uint8_t *alt = eml_memdup(cms, cl);
			size_t pos = (size_t)eml_rng_below(&r, cl);
			alt[pos] ^= (uint8_t)(1 + eml_rng_below(&r, 255));
			if (eml_cms_decrypt(alt, cl, rsa, &x, &xl) == EML_OK) {
				/* CMS has no MAC: a change to a field that does not feed decryption (the
				 * recipient identifier) goes unnoticed, but then the released key is the
				 * genuine one; any change that alters the key must fail at the GCM tag */
				if (xl == 32 && eml_sealed_open(&sd, x, &tk, &tl) == EML_OK) {
					PROP_ASSERT(
					    !memcmp(x, dk2, 32),
					    "altered response (byte %zu) released another key",
					    pos);
					eml_free(tk);
				}
				eml_free(x);
			}
			eml_free(alt);
			/* forged CiphertextForRecipient: anyone can encrypt to the public SPKI */
			uint8_t fake[32], *fc;
			size_t fcl;
			eml_rng_bytes(&r, fake, 32);
			if (eml_rng_chance(&r, 0.5))
				memcpy(fake, dk2, 32), fake[eml_rng_below(&r, 32)] ^= 1;
			cr_assert_eq(eml_cms_encrypt(spki, spl, fake, 32, &fc, &fcl), EML_OK);
			cr_assert_eq(eml_cms_decrypt(fc, fcl, rsa, &x, &xl), EML_OK);
			PROP_ASSERT(eml_sealed_open(&sd, x, &tk, &tl) == EML_E_KMS_UNSEAL,
			            "forged CiphertextForRecipient accepted");
			eml_free(x);
			eml_free(fc);
		}
		eml_free(cms);
		eml_free(dk2);
		eml_free(spki);
		eml_free(doc);
		eml_free(blob);
		eml_free(sealed);
	}
	/* the generators must exercise both outcomes */
	cr_assert(opened > 0 && refused > 0, "opened %d refused %d", opened, refused);
	eml_rsa_free(intruder);
	for (int i = 0; i < NPOOL; i++)
		eml_rsa_free(pool[i]);
	for (int i = 0; i < 2; i++)
		eml_free(tks[i]);
	eml_kms_server_free(s);
	kf_fini(&f);
}
