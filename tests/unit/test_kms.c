/*
 * Local KMS service and the enclave's KMS client end to end over loopback HTTP: CreateKey with a
 * PCR0 key policy, GenerateDataKey, sealing, Decrypt with Recipient from a simulated enclave
 * (opens for the right binary only), SigV4 refusal, durable state and its 0600 master key.
 */
#include <sys/stat.h>

#include "kms/sealed.h"
#include "test_kms_fixture.h"

Test(kms, seal_and_unseal_through_local_service)
{
	kms_fx f;
	kf_init(&f);
	const char *exe_a = eml_test_bin();
	const char *exe_b = "/bin/true";
	char pa[97];
	kf_pcr0_hex(exe_a, pa);
	const char *allowed[] = {pa, NULL};
	char *kid = NULL;
	cr_assert_eq(
	    eml_kms_create_key(&f.cfg, kf_policy(allowed, "kms:RecipientAttestation:PCR0"), &kid),
	    EML_OK);
	uint8_t *tk, *blob, *sealed, *out;
	size_t tl, bl, sl, ol;
	uint8_t dk[32];
	kf_tkey(eml_prop_base_seed(), &tk, &tl);
	eml_tkey *k;
	cr_assert_eq(eml_tkey_parse(tk, tl, &k), EML_OK);
	uint8_t mid[16];
	eml_tkey_model_id(k, mid);
	eml_tkey_free(k);
	char ctx[128];
	cr_assert_eq(eml_sealed_context_json(mid, ctx, sizeof(ctx)), EML_OK);
	cr_assert_eq(eml_kms_generate_data_key(&f.cfg, kid, ctx, dk, &blob, &bl), EML_OK);
	cr_assert_eq(eml_sealed_seal(tk, tl, dk, kid, blob, bl, &sealed, &sl), EML_OK);

	/* the owner (no Recipient) may not Decrypt: the policy requires attestation */
	uint8_t dk2[32];
	cr_assert_eq(eml_kms_decrypt(&f.cfg, kid, blob, bl, ctx, NULL, 0, NULL, dk2),
	             EML_E_KMS_ACCESS_DENIED);

	/* the right enclave opens it */
	kf_enclave ea = {f.ca, exe_a, 0};
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &ea, &out, &ol), EML_OK);
	cr_assert_eq(ol, tl);
	cr_assert_eq(memcmp(out, tk, tl), 0);
	eml_free(out);
	/* another binary (different PCR0) is refused */
	kf_enclave eb = {f.ca, exe_b, 0};
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &eb, &out, &ol),
	             EML_E_KMS_ACCESS_DENIED);
	cr_assert_null(out);

	/* a wrong secret fails SigV4 */
	eml_kms_cfg bad = f.cfg;
	bad.creds.secret_key = "wrong";
	cr_assert_eq(eml_kms_unseal(&bad, sealed, sl, kf_attest, &ea, &out, &ol),
	             EML_E_KMS_ACCESS_DENIED);
	/* a wrong encryption context is refused by KMS */
	cr_assert_eq(
	    eml_kms_decrypt(&f.cfg, kid, blob, bl, "{\"eml:format\":\"2\"}", NULL, 0, NULL, dk2),
	    EML_E_KMS_ACCESS_DENIED);
	/* an unknown key */
	cr_assert_eq(eml_kms_generate_data_key(&f.cfg, "nope", ctx, dk2, &out, &ol),
	             EML_E_KMS_NOT_FOUND);

	/* state survives a restart; the master key is 0600 and refused when group-readable */
	kf_stop(&f);
	char mk[1100];
	snprintf(mk, sizeof(mk), "%s/master.key", f.state);
	struct stat st;
	cr_assert_eq(stat(mk, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	kf_start(&f);
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &ea, &out, &ol), EML_OK);
	eml_free(out);
	kf_stop(&f);
	chmod(mk, 0640);
	eml_kms_server_cfg sc = {.state_dir = f.state,
	                         .trust_root_pem = f.root,
	                         .access_key = KF_AK,
	                         .secret_key = KF_SK};
	eml_kms_server *s2 = NULL;
	cr_assert_eq(eml_kms_server_open(&sc, &s2), EML_E_KMS_STATE);

	eml_free(kid);
	eml_free(tk);
	eml_free(blob);
	eml_free(sealed);
	kf_fini(&f);
}

Test(kms, b64_roundtrip)
{
	for (size_t n = 0; n < 10; n++) {
		uint8_t in[10], *out;
		size_t ol;
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(i * 37 + n);
		char *e = eml_b64_encode(in, n);
		cr_assert_eq(eml_b64_decode(e, &out, &ol), EML_OK);
		cr_assert_eq(ol, n);
		cr_assert_eq(memcmp(in, out, n), 0);
		eml_free(out);
		eml_free(e);
	}
	uint8_t *o;
	size_t l;
	cr_assert_neq(eml_b64_decode("abc", &o, &l), EML_OK);
}
