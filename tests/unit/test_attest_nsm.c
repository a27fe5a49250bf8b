/*
 * NSM backends: device request/response byte fixtures and open failure (no /dev/nsm here),
 * and the simulated NSM: CA creation, document format, verification with the simulated root,
 * refusal with the AWS root, PCR measurement.
 */
#include <sys/stat.h>

#include "crypto/hash.h"
#include "attest/bind.h"
#include "wire/session.h"
#include "test_attest_util.h"

static void hex_of(const eml_buf *b, char *out)
{
	eml_hex(b->p, b->len, out);
}

Test(nsm_device, request_encodings)
{
	eml_buf b;
	char hex[512];
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_nsm_req_get_random(&b), EML_OK);
	hex_of(&b, hex);
	cr_assert_str_eq(hex, "6947657452616e646f6d"); /* "GetRandom" */
	eml_buf_cleanup(&b);

	eml_buf_init(&b, 0);
	cr_assert_eq(eml_nsm_req_describe_pcr(3, &b), EML_OK);
	hex_of(&b, hex);
	/* {"DescribePCR": {"index": 3}} */
	cr_assert_str_eq(hex, "a16b4465736372696265504352a165696e64657803");
	eml_buf_cleanup(&b);
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_nsm_req_describe_pcr(32, &b), EML_E_ARG);
	eml_buf_cleanup(&b);

	eml_buf_init(&b, 0);
	static const uint8_t ud[2] = {1, 2};
	cr_assert_eq(eml_nsm_req_attestation(ud, 2, NULL, 0, NULL, 0, &b), EML_OK);
	hex_of(&b, hex);
	/* {"Attestation": {"user_data": h'0102', "nonce": null, "public_key": null}} */
	cr_assert_str_eq(hex, "a16b4174746573746174696f6ea369757365725f6461746142010265"
	                      "6e6f6e6365f66a7075626c69635f6b6579f6");
	eml_buf_cleanup(&b);

	/* limits: each field at most 1024 bytes */
	static uint8_t big[1025];
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_nsm_req_attestation(NULL, 0, NULL, 0, big, 1024, &b), EML_OK);
	cr_assert_lt(b.len, EML_NSM_REQUEST_MAX);
	eml_buf_cleanup(&b);
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_nsm_req_attestation(NULL, 0, big, 1025, NULL, 0, &b), EML_E_ATTEST_SIZE);
	eml_buf_cleanup(&b);
}

/* {"<variant>": {<key>: <bytes>}} */
static void resp_map(eml_buf *b, const char *variant, const char *key, const uint8_t *p, size_t n)
{
	eml_cbor_head(b, 5, 1);
	eml_cbor_text(b, variant);
	eml_cbor_head(b, 5, 1);
	eml_cbor_text(b, key);
	eml_cbor_bytes(b, p, n);
}

Test(nsm_device, response_decodings)
{
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	eml_buf b;
	uint8_t *out = NULL;
	size_t out_len = 0;
	eml_buf_init(&b, 0);
	resp_map(&b, "Attestation", "document", doc, len);
	cr_assert_eq(eml_nsm_resp_attestation(b.p, b.len, &out, &out_len), EML_OK);
	cr_assert_eq(out_len, len);
	cr_assert(memcmp(out, doc, len) == 0);
	eml_free(out);
	/* trailing byte */
	eml_buf_u8(&b, 0);
	cr_assert_eq(eml_nsm_resp_attestation(b.p, b.len, &out, &out_len), EML_E_ATTEST_NSM);
	eml_buf_cleanup(&b);
	/* wrong variant, wrong key */
	eml_buf_init(&b, 0);
	resp_map(&b, "GetRandom", "document", doc, len);
	cr_assert_eq(eml_nsm_resp_attestation(b.p, b.len, &out, &out_len), EML_E_ATTEST_NSM);
	eml_buf_cleanup(&b);
	eml_buf_init(&b, 0);
	resp_map(&b, "Attestation", "doc", doc, len);
	cr_assert_eq(eml_nsm_resp_attestation(b.p, b.len, &out, &out_len), EML_E_ATTEST_NSM);
	eml_buf_cleanup(&b);
	/* {"Error": "InvalidArgument"} */
	eml_buf_init(&b, 0);
	eml_cbor_head(&b, 5, 1);
	eml_cbor_text(&b, "Error");
	eml_cbor_text(&b, "InvalidArgument");
	cr_assert_eq(eml_nsm_resp_attestation(b.p, b.len, &out, &out_len), EML_E_ATTEST_NSM);
	eml_buf_cleanup(&b);
	/* over the NSM's response size */
	uint8_t *huge = eml_calloc(1, EML_NSM_RESPONSE_MAX + 1);
	cr_assert_eq(eml_nsm_resp_attestation(huge, EML_NSM_RESPONSE_MAX + 1, &out, &out_len),
	             EML_E_ATTEST_NSM);
	eml_free(huge);

	/* DescribePCR */
	uint8_t pcr[48], val[64];
	size_t vlen = 0;
	int locked = 0;
	memset(pcr, 0xab, sizeof(pcr));
	eml_buf_init(&b, 0);
	eml_cbor_head(&b, 5, 1);
	eml_cbor_text(&b, "DescribePCR");
	eml_cbor_head(&b, 5, 2);
	eml_cbor_text(&b, "lock");
	eml_buf_u8(&b, 0xf5);
	eml_cbor_text(&b, "data");
	eml_cbor_bytes(&b, pcr, 48);
	cr_assert_eq(eml_nsm_resp_describe_pcr(b.p, b.len, val, &vlen, &locked), EML_OK);
	cr_assert(vlen == 48 && locked == 1 && memcmp(val, pcr, 48) == 0);
	eml_buf_cleanup(&b);
	eml_buf_init(&b, 0);
	resp_map(&b, "DescribePCR", "data", pcr, 47); /* no lock, odd length */
	cr_assert_eq(eml_nsm_resp_describe_pcr(b.p, b.len, val, &vlen, &locked), EML_E_ATTEST_NSM);
	eml_buf_cleanup(&b);

	/* GetRandom */
	uint8_t rnd[32], got[256];
	size_t n = 0;
	memset(rnd, 0x5a, sizeof(rnd));
	eml_buf_init(&b, 0);
	resp_map(&b, "GetRandom", "random", rnd, 32);
	cr_assert_eq(eml_nsm_resp_get_random(b.p, b.len, got, sizeof(got), &n), EML_OK);
	cr_assert(n == 32 && memcmp(got, rnd, 32) == 0);
	cr_assert_eq(eml_nsm_resp_get_random(b.p, b.len, got, 16, &n), EML_E_ATTEST_NSM);
	eml_buf_cleanup(&b);
	eml_free(doc);
}

Test(nsm_device, open_failure_is_clear_and_auto_never_simulates)
{
	eml_nsm *n = NULL;
	eml_nsm_opts o = {.device_path = "/nonexistent/dev/nsm"};
	cr_assert_eq(eml_nsm_open("device", &o, &n), EML_E_ATTEST_NO_DEVICE);
	cr_assert_null(n);
	cr_assert_eq(eml_nsm_open("auto", &o, &n), EML_E_ATTEST_NO_DEVICE);
	cr_assert_null(n);
	cr_assert_str_eq(eml_err_str(EML_E_ATTEST_NO_DEVICE),
	                 "no NSM device; use --nsm sim for development");
	cr_assert_eq(eml_nsm_open("simulated", &o, &n), EML_E_USAGE);
	/* This machine is not a Nitro enclave: the real default path is absent as well. */
	struct stat st;
	if (stat("/dev/nsm", &st) != 0)
		cr_assert_eq(eml_nsm_open("auto", NULL, &n), EML_E_ATTEST_NO_DEVICE);
}

/* ---- simulated NSM ---- */

static char *g_dir;

static void sim_setup(void)
{
	g_dir = eml_test_tmpdir();
}

static void sim_teardown(void)
{
	eml_test_rmtree(g_dir);
	free(g_dir);
}

static eml_nsm *sim_open(const char *dir)
{
	eml_nsm *n = NULL;
	eml_nsm_opts o = {.sim_ca_dir = dir};
	int rc = eml_nsm_open("sim", &o, &n);
	cr_assert_eq(rc, EML_OK, "sim open: %s", eml_err_name(rc));
	return n;
}

static eml_policy *sim_policy(const char *dir, const char *extra)
{
	uint8_t pcrs[3][48];
	char h0[97], json[2048];
	cr_assert_eq(eml_nsm_sim_pcrs(NULL, pcrs), EML_OK);
	eml_hex(pcrs[0], 48, h0);
	snprintf(json, sizeof(json), "{\"root\":\"%s/root.pem\",\"pcrs\":[{\"0\":\"%s\"}]%s}", dir,
	         h0, extra ? extra : "");
	return tp_policy(json);
}

Test(nsm_sim, ca_created_private_and_reused, .init = sim_setup, .fini = sim_teardown)
{
	char sub[4096], p[4200];
	struct stat st;
	snprintf(sub, sizeof(sub), "%s/a/b/sim-ca", g_dir);
	eml_nsm *n1 = sim_open(sub);
	cr_assert(eml_nsm_is_simulated(n1));
	cr_assert_eq(stat(sub, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	const char *keys[] = {"root.key", "intermediate.key"};
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", sub, keys[i]);
		cr_assert_eq(stat(p, &st), 0, "%s", keys[i]);
		cr_assert_eq(st.st_mode & 0777, 0600, "%s", keys[i]);
	}
	uint8_t *r1 = NULL, *r2 = NULL;
	size_t l1, l2;
	cr_assert_eq(eml_nsm_sim_ca_ensure(sub, &r1, &l1), EML_OK);
	eml_nsm *n2 = sim_open(sub);
	cr_assert_eq(eml_nsm_sim_ca_ensure(sub, &r2, &l2), EML_OK);
	cr_assert(l1 == l2 && memcmp(r1, r2, l1) == 0, "the CA is created once and reused");
	eml_nsm_free(n1);
	eml_nsm_free(n2);
	/* a key readable by others is refused */
	snprintf(p, sizeof(p), "%s/intermediate.key", sub);
	cr_assert_eq(chmod(p, 0644), 0);
	eml_nsm *n3 = NULL;
	eml_nsm_opts o = {.sim_ca_dir = sub};
	cr_assert_eq(eml_nsm_open("sim", &o, &n3), EML_E_ATTEST_SIM_CA);
	eml_free(r1);
	eml_free(r2);
}

Test(nsm_sim, documents_verify_with_sim_root_not_aws, .init = sim_setup, .fini = sim_teardown)
{
	eml_nsm *n = sim_open(g_dir);
	uint8_t nonce[32], pk[32], ud[EML_USER_DATA_LEN], ed[32];
	eml_random_bytes(nonce, 32);
	eml_random_bytes(pk, 32);
	eml_random_bytes(ed, 32);
	cr_assert_eq(eml_attest_user_data_build(ed, ud), EML_OK);
	uint8_t *doc = NULL;
	size_t len = 0;
	cr_assert_eq(eml_nsm_attest(n, ud, sizeof(ud), nonce, 32, pk, 32, &doc, &len), EML_OK);
	/* format: untagged COSE_Sign1, {1:-35}, 16 PCRs of 48 bytes, cabundle root first */
	eml_attest_doc d;
	cr_assert_eq(eml_attest_doc_parse(doc, len, &d), EML_OK);
	cr_assert(!d.tagged);
	cr_assert(d.protected_len == 4 && memcmp(d.protected_hdr, "\xa1\x01\x38\x22", 4) == 0);
	cr_assert_eq(d.pcr_mask, 0xffffu);
	cr_assert_eq(d.cabundle_n, 2);
	uint8_t *root = NULL;
	size_t root_len = 0;
	cr_assert_eq(eml_nsm_sim_ca_ensure(g_dir, &root, &root_len), EML_OK);
	cr_assert(d.cabundle_len[0] == root_len && memcmp(d.cabundle[0], root, root_len) == 0);
	eml_attest_doc_cleanup(&d);

	eml_policy *p = sim_policy(g_dir, NULL);
	eml_verify_opts o = {.nonce = nonce, .nonce_len = 32};
	eml_attest_claims c;
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, &c), EML_OK);
	cr_assert(c.simulated && !c.debug_mode && !c.at_document_time);
	cr_assert(c.has_public_key && c.public_key_len == 32 && memcmp(c.public_key, pk, 32) == 0);
	cr_assert_eq(eml_attest_user_data_check(&c, ed), EML_OK);
	ed[0] ^= 1;
	cr_assert_eq(eml_attest_user_data_check(&c, ed), EML_E_ATTEST_KEY_BINDING);
	cr_assert(strncmp(c.module_id, "i-sim", 5) == 0);
	/* the same document against the AWS root */
	eml_policy *aws =
	    tp_policy("{\"root\":\"aws-nitro-g1\",\"pcrs\":[{\"0\":\"" ZERO48 "\"}]}");
	cr_assert_eq(eml_attest_verify(doc, len, aws, &o, NULL), EML_E_ATTEST_ROOT);
	eml_policy_free(aws);
	/* tagged form verifies too */
	uint8_t *tagged = eml_alloc(len + 1);
	tagged[0] = 0xd2;
	memcpy(tagged + 1, doc, len);
	cr_assert_eq(eml_attest_verify(tagged, len + 1, p, &o, NULL), EML_OK);
	eml_free(tagged);
	/* freshness */
	eml_verify_opts late = {.now_ms = (int64_t)c.timestamp_ms + 6 * 60 * 1000};
	cr_assert_eq(eml_attest_verify(doc, len, p, &late, NULL), EML_E_ATTEST_TOO_OLD);
	eml_verify_opts early = {.now_ms = (int64_t)c.timestamp_ms - 2 * 60 * 1000};
	cr_assert_eq(eml_attest_verify(doc, len, p, &early, NULL), EML_E_ATTEST_FUTURE);
	eml_verify_opts skew = {.now_ms = (int64_t)c.timestamp_ms - 30 * 1000};
	cr_assert_eq(eml_attest_verify(doc, len, p, &skew, NULL), EML_OK);
	/* after the leaf expired (3 h) */
	eml_verify_opts exp = {.now_ms = (int64_t)c.timestamp_ms + 4 * 3600 * 1000LL};
	cr_assert_eq(eml_attest_verify(doc, len, p, &exp, NULL), EML_E_ATTEST_EXPIRED);
	eml_policy_free(p);
	eml_policy *noage = sim_policy(g_dir, ",\"max_age_ms\":0");
	late.now_ms = (int64_t)c.timestamp_ms + 3600 * 1000LL;
	cr_assert_eq(eml_attest_verify(doc, len, noage, &late, NULL), EML_OK);
	eml_policy_free(noage);
	eml_free(root);
	eml_free(doc);
	eml_nsm_free(n);
}

Test(nsm_sim, other_ca_refused_and_no_optional_fields, .init = sim_setup, .fini = sim_teardown)
{
	char other[4200];
	snprintf(other, sizeof(other), "%s/other", g_dir);
	eml_nsm *n = sim_open(g_dir);
	eml_nsm *m = sim_open(other);
	uint8_t *doc = NULL;
	size_t len = 0;
	cr_assert_eq(eml_nsm_attest(m, NULL, 0, NULL, 0, NULL, 0, &doc, &len), EML_OK);
	eml_policy *p = sim_policy(g_dir, NULL);
	cr_assert_eq(eml_attest_verify(doc, len, p, NULL, NULL), EML_E_ATTEST_ROOT);
	eml_policy *q = sim_policy(other, NULL);
	eml_attest_claims c;
	cr_assert_eq(eml_attest_verify(doc, len, q, NULL, &c), EML_OK);
	cr_assert(!c.has_nonce && !c.has_user_data && !c.has_public_key);
	/* a nonce was sent but the document has none */
	eml_verify_opts o = {.nonce = (const uint8_t *)"abc", .nonce_len = 3};
	cr_assert_eq(eml_attest_verify(doc, len, q, &o, NULL), EML_E_ATTEST_NONCE);
	eml_policy_free(p);
	eml_policy_free(q);
	eml_free(doc);
	/* sizes the NSM refuses */
	static uint8_t big[1025];
	cr_assert_eq(eml_nsm_attest(n, big, 1025, NULL, 0, NULL, 0, &doc, &len), EML_E_ATTEST_SIZE);
	/* an RSA-2048 SPKI DER (about 294 bytes) fits as public_key for KMS */
	cr_assert_eq(eml_nsm_attest(n, NULL, 0, NULL, 0, big, 294, &doc, &len), EML_OK);
	eml_free(doc);
	eml_nsm_free(n);
	eml_nsm_free(m);
}

Test(nsm_sim, describe_pcr_random_and_pcr0_measures_the_binary, .init = sim_setup,
     .fini = sim_teardown)
{
	eml_nsm *n = sim_open(g_dir);
	uint8_t pcrs[3][48], v[64];
	size_t vl = 0;
	int locked = 0;
	cr_assert_eq(eml_nsm_sim_pcrs(NULL, pcrs), EML_OK);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(eml_nsm_describe_pcr(n, i, v, &vl, &locked), EML_OK);
		cr_assert(vl == 48 && locked && memcmp(v, pcrs[i], 48) == 0);
	}
	static const uint8_t zero[48];
	cr_assert_eq(eml_nsm_describe_pcr(n, 7, v, &vl, &locked), EML_OK);
	cr_assert(memcmp(v, zero, 48) == 0);
	cr_assert_eq(eml_nsm_describe_pcr(n, 16, v, &vl, &locked), EML_E_ATTEST_NSM);
	uint8_t r1[300], r2[300];
	cr_assert_eq(eml_nsm_get_random(n, r1, sizeof(r1)), EML_OK);
	cr_assert_eq(eml_nsm_get_random(n, r2, sizeof(r2)), EML_OK);
	cr_assert(memcmp(r1, r2, sizeof(r1)) != 0);
	eml_nsm_free(n);

	/* PCR0 = SHA-384(0^48 || SHA-384(binary)); one changed byte changes it */
	char a[4200];
	snprintf(a, sizeof(a), "%s/bin", g_dir);
	uint8_t body[1000], m[48], buf[96], want[48], p1[3][48], p2[3][48];
	memset(body, 0x90, sizeof(body));
	cr_assert_eq(eml_file_write_atomic(a, body, sizeof(body), 0700), EML_OK);
	cr_assert_eq(eml_nsm_sim_pcrs(a, p1), EML_OK);
	eml_sha384(body, sizeof(body), m);
	memset(buf, 0, 48);
	memcpy(buf + 48, m, 48);
	eml_sha384(buf, 96, want);
	cr_assert(memcmp(p1[0], want, 48) == 0);
	body[500] ^= 1;
	cr_assert_eq(eml_file_write_atomic(a, body, sizeof(body), 0700), EML_OK);
	cr_assert_eq(eml_nsm_sim_pcrs(a, p2), EML_OK);
	cr_assert(memcmp(p1[0], p2[0], 48) != 0);
	cr_assert(memcmp(p1[1], p2[1], 48) == 0 && memcmp(p1[2], p2[2], 48) == 0);
	/* PCR1/PCR2 from their documented inputs */
	eml_sha384(EML_SIM_PCR1_INPUT, strlen(EML_SIM_PCR1_INPUT), m);
	memset(buf, 0, 48);
	memcpy(buf + 48, m, 48);
	eml_sha384(buf, 96, want);
	cr_assert(memcmp(p1[1], want, 48) == 0);
	/* a PCR policy for another binary refuses this one's documents */
	cr_assert(memcmp(p1[0], pcrs[0], 48) != 0);
}

Test(nsm_sim, session_adapters_round_trip, .init = sim_setup, .fini = sim_teardown)
{
	/* the adapters have exactly the session layer's callback types */
	eml_attest_verify_fn vf = eml_attest_session_verify;
	eml_attest_doc_fn df = eml_attest_session_doc;
	cr_assert(vf != NULL && df != NULL);
	eml_nsm *n = sim_open(g_dir);
	uint8_t nonce[32], hpke_pk[32], ed[32], ud[EML_USER_DATA_LEN], pk_out[32], h[32],
	    want_h[32];
	eml_random_bytes(nonce, 32);
	eml_random_bytes(hpke_pk, 32);
	eml_random_bytes(ed, 32);
	eml_attest_user_data_build(ed, ud);
	eml_attest_producer prod = {.nsm = n, .user_data = ud, .user_data_len = sizeof(ud)};
	uint8_t *doc = NULL;
	size_t len = 0;
	cr_assert_eq(eml_attest_session_doc(&prod, nonce, hpke_pk, &doc, &len), EML_OK);
	eml_policy *p = sim_policy(g_dir, NULL);
	eml_attest_verifier v = {.policy = p, .receipt_pub = ed};
	cr_assert_eq(eml_attest_session_verify(&v, doc, len, nonce, pk_out, h), EML_OK);
	cr_assert(memcmp(pk_out, hpke_pk, 32) == 0);
	eml_sha256(doc, len, want_h);
	cr_assert(memcmp(h, want_h, 32) == 0);
	/* a replayed document for another nonce, or a different receipt key */
	uint8_t other[32];
	memcpy(other, nonce, 32);
	other[31] ^= 1;
	cr_assert_eq(eml_attest_session_verify(&v, doc, len, other, pk_out, h), EML_E_ATTEST_NONCE);
	uint8_t ed2[32];
	memcpy(ed2, ed, 32);
	ed2[0] ^= 1;
	v.receipt_pub = ed2;
	cr_assert_eq(eml_attest_session_verify(&v, doc, len, nonce, pk_out, h),
	             EML_E_ATTEST_KEY_BINDING);
	eml_free(doc);
	/* a document without the HPKE key cannot open a session */
	cr_assert_eq(eml_nsm_attest(n, NULL, 0, nonce, 32, NULL, 0, &doc, &len), EML_OK);
	v.receipt_pub = NULL;
	cr_assert_eq(eml_attest_session_verify(&v, doc, len, nonce, pk_out, h),
	             EML_E_ATTEST_KEY_BINDING);
	eml_free(doc);
	eml_policy_free(p);
	eml_nsm_free(n);
}

Test(nsm_sim, default_ca_dir_and_relative_policy_root, .init = sim_setup, .fini = sim_teardown)
{
	/* the default folder follows XDG_DATA_HOME (never the user's real one in tests) */
	cr_assert_eq(setenv("XDG_DATA_HOME", g_dir, 1), 0);
	char want[4200], got[4200];
	snprintf(want, sizeof(want), "%s/eml/sim-ca", g_dir);
	cr_assert_eq(eml_nsm_sim_default_ca_dir(got, sizeof(got)), EML_OK);
	cr_assert_str_eq(got, want);
	eml_nsm *n = NULL;
	cr_assert_eq(eml_nsm_open("sim", NULL, &n), EML_OK);
	char p[4300];
	snprintf(p, sizeof(p), "%s/root.key", want);
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	uint8_t nonce[32] = {1};
	uint8_t *doc = NULL;
	size_t len = 0;
	cr_assert_eq(eml_nsm_attest(n, NULL, 0, nonce, 32, NULL, 0, &doc, &len), EML_OK);
	/* a policy file naming its root relative to its own folder */
	uint8_t pcrs[3][48];
	char h0[97], json[1024], pol[4300];
	cr_assert_eq(eml_nsm_sim_pcrs(NULL, pcrs), EML_OK);
	eml_hex(pcrs[0], 48, h0);
	snprintf(json, sizeof(json), "{\"root\":\"root.pem\",\"pcrs\":[{\"0\":\"%s\"}]}", h0);
	snprintf(pol, sizeof(pol), "%s/policy.json", want);
	cr_assert_eq(eml_file_write_atomic(pol, json, strlen(json), 0644), EML_OK);
	eml_policy *pp = NULL;
	cr_assert_eq(eml_policy_load_file(pol, &pp), EML_OK);
	cr_assert(!eml_policy_root_is_aws(pp));
	eml_verify_opts o = {.nonce = nonce, .nonce_len = 32};
	cr_assert_eq(eml_attest_verify(doc, len, pp, &o, NULL), EML_OK);
	eml_policy_free(pp);
	eml_free(doc);
	eml_nsm_free(n);
	/* a missing policy file, or one too large */
	snprintf(pol, sizeof(pol), "%s/none.json", want);
	cr_assert_eq(eml_policy_load_file(pol, &pp), EML_E_NOT_FOUND);
}
