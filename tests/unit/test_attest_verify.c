/*
 * Verification of the real AWS Nitro documents in ../shared/vectors/nitro/ (see its README and
 * manifest.json) and a tamper matrix over them: each tamper refused with the expected code.
 */
#include "test_attest_util.h"

static const char *POL_BETA = "{\"root\":\"aws-nitro-g1\",\"pcrs\":[{\"0\":\"" BETA_PCR0 "\"}]}";
static const char *POL_GA_DEBUG =
    "{\"root\":\"aws-nitro-g1\",\"allow_debug\":true,\"pcrs\":[{\"0\":\"" ZERO48 "\"}]}";

static int verify_at_doc(const uint8_t *doc, size_t len, const char *policy, eml_attest_claims *c)
{
	eml_policy *p = tp_policy(policy);
	eml_verify_opts o = {.at_document_time = 1};
	int rc = eml_attest_verify(doc, len, p, &o, c);
	eml_policy_free(p);
	return rc;
}

Test(attest_real, beta_verifies_at_its_timestamp_with_pinned_pcr0)
{
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	eml_attest_claims c;
	cr_assert_eq(verify_at_doc(doc, len, POL_BETA, &c), EML_OK);
	cr_assert_str_eq(c.module_id, "i-020b6af9246d90e92-enc0183d09086c24190");
	cr_assert_eq(c.timestamp_ms, (uint64_t)BETA_TS);
	cr_assert_eq(c.pcr_mask, 0xffffu);
	char hex[200];
	eml_hex(c.pcrs[0], c.pcr_len[0], hex);
	cr_assert_str_eq(hex, BETA_PCR0);
	eml_hex(c.root_sha256, 32, hex);
	cr_assert_str_eq(hex, EML_AWS_NITRO_ROOT_G1_SHA256);
	cr_assert(!c.has_public_key && !c.has_user_data && c.has_nonce && c.nonce_len == 256);
	cr_assert(!c.debug_mode && !c.simulated && c.at_document_time);
	/* doc hash is of the bytes given */
	eml_hex(c.doc_sha256, 32, hex);
	cr_assert_str_eq(hex, "a72552688ab6de06b9039ebda2bd5ae9285860ec886f841da94351681dfb3eb6");
	eml_free(doc);
}

Test(attest_real, both_refused_as_expired_at_current_time)
{
	const char *files[] = {BETA_FILE, GA_FILE};
	const char *pols[] = {POL_BETA, POL_GA_DEBUG};
	for (int i = 0; i < 2; i++) {
		size_t len;
		uint8_t *doc = tp_read(files[i], &len);
		eml_policy *p = tp_policy(pols[i]);
		cr_assert_eq(eml_attest_verify(doc, len, p, NULL, NULL), EML_E_ATTEST_EXPIRED);
		/* policy-driven document time works like the flag */
		eml_policy_free(p);
		eml_free(doc);
	}
}

Test(attest_real, cached_prefix_never_masks_expiry)
{
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	eml_policy *p = tp_policy(POL_BETA);
	eml_verify_opts at = {.at_document_time = 1};
	eml_x509_cache_clear();
	cr_assert_eq(eml_attest_verify(doc, len, p, &at, NULL), EML_OK); /* warms the cache */
	cr_assert_eq(eml_attest_verify(doc, len, p, NULL, NULL), EML_E_ATTEST_EXPIRED);
	/* just after the leaf's notAfter (11:58:02Z) and just before its notBefore */
	eml_verify_opts o = {.now_ms = 1665662282000LL + 1000, .at_document_time = 0};
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, NULL), EML_E_ATTEST_EXPIRED);
	o.now_ms = 1665651479000LL - 1000;
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, NULL), EML_E_ATTEST_EXPIRED);
	/* inside the window but past the policy's maximum age (5 min) */
	o.now_ms = BETA_TS + 10 * 60 * 1000;
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, NULL), EML_E_ATTEST_TOO_OLD);
	o.now_ms = BETA_TS + 60 * 1000;
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, NULL), EML_OK);
	eml_policy_free(p);
	eml_free(doc);
}

Test(attest_real, policy_check_validity_at_document)
{
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	eml_policy *p = tp_policy("{\"root\":\"aws-nitro-g1\",\"check_validity_at\":\"document\","
	                          "\"pcrs\":[{\"0\":\"" BETA_PCR0 "\"}]}");
	cr_assert_eq(eml_attest_verify(doc, len, p, NULL, NULL), EML_OK);
	eml_policy_free(p);
	eml_free(doc);
}

Test(attest_real, beta_wrong_pcr0_refused_and_second_set_accepts)
{
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	cr_assert_eq(verify_at_doc(doc, len, "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}]}", NULL),
	             EML_E_ATTEST_PCR);
	/* rolling deploy: old and new image both allowed */
	cr_assert_eq(verify_at_doc(doc, len,
	                           "{\"pcrs\":[{\"0\":\"" ZERO48 "\"},{\"0\":\"" BETA_PCR0 "\"}]}",
	                           NULL),
	             EML_OK);
	/* a set must match completely: right PCR0, wrong PCR1 */
	cr_assert_eq(verify_at_doc(doc, len,
	                           "{\"pcrs\":[{\"0\":\"" BETA_PCR0 "\",\"1\":\"" ZERO48 "\"}]}",
	                           NULL),
	             EML_E_ATTEST_PCR);
	/* PCR of the wrong length never matches */
	cr_assert_eq(verify_at_doc(doc, len,
	                           "{\"pcrs\":[{\"0\":\"" ZERO48 "\",\"5\":\"" ZERO48 "\"},"
	                           "{\"3\":\"4a9329d69c836267b18abbf9f4a38889124490453419e426818626"
	                           "348d21f989\"}]}",
	                           NULL),
	             EML_E_ATTEST_PCR);
	eml_free(doc);
}

Test(attest_real, ga_debug_refused_unless_allowed)
{
	size_t len;
	uint8_t *doc = tp_read(GA_FILE, &len);
	eml_attest_claims c;
	cr_assert_eq(verify_at_doc(doc, len, "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}]}", NULL),
	             EML_E_ATTEST_DEBUG);
	cr_assert_eq(verify_at_doc(doc, len,
	                           "{\"allow_debug\":false,\"pcrs\":[{\"0\":\"" BETA_PCR0 "\"}]}",
	                           NULL),
	             EML_E_ATTEST_DEBUG);
	cr_assert_eq(verify_at_doc(doc, len, POL_GA_DEBUG, &c), EML_OK);
	cr_assert(c.debug_mode);
	cr_assert(c.has_user_data && c.user_data_len == 91 && !c.has_public_key);
	cr_assert_eq(c.timestamp_ms, (uint64_t)GA_TS);
	eml_free(doc);
}

Test(attest_real, base64_form_is_the_same_document)
{
	size_t blen, clen, dlen;
	uint8_t *b64 = tp_read("nitro/evervault_ga_2023-09-18.b64", &blen);
	uint8_t *cb = tp_read(GA_FILE, &clen);
	uint8_t *dec = NULL;
	cr_assert_eq(eml_attest_b64_decode(b64, blen, &dec, &dlen), EML_OK);
	cr_assert_eq(dlen, clen);
	cr_assert(memcmp(dec, cb, clen) == 0);
	cr_assert_neq(eml_attest_b64_decode((const uint8_t *)"QQ=A", 4, &dec, &dlen), EML_OK);
	eml_free(dec);
	eml_free(b64);
	eml_free(cb);
}

Test(attest_real, nonce_expected_and_mismatched)
{
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	eml_attest_doc d;
	cr_assert_eq(eml_attest_doc_parse(doc, len, &d), EML_OK);
	eml_policy *p = tp_policy(POL_BETA);
	eml_verify_opts o = {.at_document_time = 1, .nonce = d.nonce, .nonce_len = d.nonce_len};
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, NULL), EML_OK);
	uint8_t other[256];
	memcpy(other, d.nonce, 256);
	other[255] ^= 0x80;
	o.nonce = other;
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, NULL), EML_E_ATTEST_NONCE);
	o.nonce_len = 32; /* prefix of the right nonce */
	o.nonce = d.nonce;
	cr_assert_eq(eml_attest_verify(doc, len, p, &o, NULL), EML_E_ATTEST_NONCE);
	eml_policy_free(p);
	/* nonce in the policy (hex) */
	char pol[1200], hex[600];
	eml_hex(other, 256, hex);
	snprintf(pol, sizeof(pol), "{\"nonce\":\"%s\",\"pcrs\":[{\"0\":\"%s\"}]}", hex, BETA_PCR0);
	cr_assert_eq(verify_at_doc(doc, len, pol, NULL), EML_E_ATTEST_NONCE);
	eml_hex(d.nonce, 256, hex);
	snprintf(pol, sizeof(pol), "{\"nonce\":\"%s\",\"pcrs\":[{\"0\":\"%s\"}]}", hex, BETA_PCR0);
	cr_assert_eq(verify_at_doc(doc, len, pol, NULL), EML_OK);
	eml_attest_doc_cleanup(&d);
	eml_free(doc);
}

/* ---- tamper matrix ---- */

typedef struct real {
	uint8_t *doc;
	size_t len;
	eml_attest_doc d;
	const char *policy;
} real;

static void real_load(real *r, int which)
{
	r->doc = tp_read(which ? GA_FILE : BETA_FILE, &r->len);
	cr_assert_eq(eml_attest_doc_parse(r->doc, r->len, &r->d), EML_OK);
	r->policy = which ? POL_GA_DEBUG : POL_BETA;
}

static void real_free(real *r)
{
	eml_attest_doc_cleanup(&r->d);
	eml_free(r->doc);
}

/* Rebuild the document with the payload from t (field f in mode), original header/signature. */
static int rebuild_verify(real *r, const tp_doc *t, int f, int mode, const uint8_t *sig, long tag)
{
	eml_buf pl, doc;
	int rc;
	eml_buf_init(&pl, 0);
	eml_buf_init(&doc, 0);
	tp_payload(t, f, mode, &pl);
	tp_cose(&doc, r->d.protected_hdr, r->d.protected_len, pl.p, pl.len, sig ? sig : r->d.sig,
	        EML_ATTEST_SIG_LEN, tag);
	rc = verify_at_doc(doc.p, doc.len, r->policy, NULL);
	eml_buf_cleanup(&pl);
	eml_buf_cleanup(&doc);
	return rc;
}

Test(attest_tamper, reencoding_unchanged_is_byte_identical_and_valid)
{
	for (int w = 0; w < 2; w++) {
		real r;
		tp_doc t;
		eml_buf pl, doc;
		real_load(&r, w);
		tp_from(&t, &r.d);
		eml_buf_init(&pl, 0);
		eml_buf_init(&doc, 0);
		tp_payload(&t, -1, FM_KEEP, &pl);
		cr_assert_eq(pl.len, r.d.payload_len);
		cr_assert(memcmp(pl.p, r.d.payload, pl.len) == 0);
		tp_cose(&doc, r.d.protected_hdr, r.d.protected_len, pl.p, pl.len, r.d.sig, 96, -1);
		cr_assert_eq(doc.len, r.len);
		cr_assert(memcmp(doc.p, r.doc, r.len) == 0);
		cr_assert_eq(rebuild_verify(&r, &t, -1, FM_KEEP, NULL, -1), EML_OK);
		eml_buf_cleanup(&pl);
		eml_buf_cleanup(&doc);
		real_free(&r);
	}
}

Test(attest_tamper, every_payload_field_changed_removed_duplicated_mistyped)
{
	int checked = 0;
	for (int w = 0; w < 2; w++) {
		real r;
		tp_doc t;
		real_load(&r, w);
		tp_from(&t, &r.d);
		for (int f = 0; f < FI__N; f++) {
			for (int m = FM_CHANGE; m < FM__N; m++) {
				int want;
				if (m == FM_DUP || m == FM_WRONGTYPE)
					want = EML_E_ATTEST_FIELD;
				else if (m == FM_REMOVE)
					want = f <= FI_CABUNDLE ? EML_E_ATTEST_FIELD
					                        : EML_E_ATTEST_SIGNATURE;
				else if (f == FI_DIGEST)
					want = EML_E_ATTEST_FIELD; /* only SHA384 exists */
				else if (f == FI_CERTIFICATE || f == FI_CABUNDLE)
					want = EML_E_ATTEST_CHAIN;
				else
					want = EML_E_ATTEST_SIGNATURE;
				int rc = rebuild_verify(&r, &t, f, m, NULL, -1);
				cr_assert_eq(rc, want, "doc %d field %s mode %d: got %s want %s", w,
				             tp_names[f], m, eml_err_name(rc), eml_err_name(want));
				checked++;
			}
		}
		real_free(&r);
	}
	cr_assert_eq(checked, 2 * FI__N * 4);
}

Test(attest_tamper, every_signature_byte_flipped)
{
	for (int w = 0; w < 2; w++) {
		real r;
		tp_doc t;
		real_load(&r, w);
		tp_from(&t, &r.d);
		for (int i = 0; i < EML_ATTEST_SIG_LEN; i++) {
			uint8_t sig[96];
			memcpy(sig, r.d.sig, 96);
			sig[i] ^= (uint8_t)(1u << (i % 8));
			cr_assert_eq(rebuild_verify(&r, &t, -1, FM_KEEP, sig, -1),
			             EML_E_ATTEST_SIGNATURE, "byte %d", i);
		}
		/* all-zero and all-0xff signatures (r or s out of range) */
		uint8_t z[96];
		memset(z, 0, 96);
		cr_assert_eq(rebuild_verify(&r, &t, -1, FM_KEEP, z, -1), EML_E_ATTEST_SIGNATURE);
		memset(z, 0xff, 96);
		cr_assert_eq(rebuild_verify(&r, &t, -1, FM_KEEP, z, -1), EML_E_ATTEST_SIGNATURE);
		real_free(&r);
	}
}

static uint8_t *lookalike(size_t *len, int ca)
{
	eml_p384_key *k = NULL;
	uint8_t *der = NULL;
	cr_assert_eq(eml_p384_generate(&k), EML_OK);
	cr_assert_eq(eml_x509_issue("aws.nitro-enclaves", ca, -1, k, k, NULL, 0, 1500000000,
	                            2500000000LL, 1, &der, len),
	             EML_OK);
	eml_p384_key_free(k);
	return der;
}

Test(attest_tamper, chain_swapped_dropped_reordered_replaced)
{
	size_t ll, la;
	uint8_t *look_ca = lookalike(&la, 1), *look_leaf = lookalike(&ll, 0);
	for (int w = 0; w < 2; w++) {
		real r;
		tp_doc t, u;
		real_load(&r, w);
		tp_from(&t, &r.d);
		size_t n = t.bundle_n;
		cr_assert_eq(n, 4);
		/* certificate swapped with the last cabundle entry */
		u = t;
		u.cert = t.bundle[n - 1];
		u.cert_len = t.bundle_len[n - 1];
		u.bundle[n - 1] = t.cert;
		u.bundle_len[n - 1] = t.cert_len;
		cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_CHAIN);
		/* each cabundle entry dropped */
		for (size_t drop = 0; drop < n; drop++) {
			u = t;
			for (size_t i = drop; i + 1 < n; i++) {
				u.bundle[i] = t.bundle[i + 1];
				u.bundle_len[i] = t.bundle_len[i + 1];
			}
			u.bundle_n = n - 1;
			cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1),
			             drop == 0 ? EML_E_ATTEST_ROOT : EML_E_ATTEST_CHAIN, "drop %zu",
			             drop);
		}
		/* each adjacent pair swapped (reordered) */
		for (size_t i = 0; i + 1 < n; i++) {
			u = t;
			u.bundle[i] = t.bundle[i + 1];
			u.bundle_len[i] = t.bundle_len[i + 1];
			u.bundle[i + 1] = t.bundle[i];
			u.bundle_len[i + 1] = t.bundle_len[i];
			cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1),
			             i == 0 ? EML_E_ATTEST_ROOT : EML_E_ATTEST_CHAIN, "swap %zu",
			             i);
		}
		/* the whole bundle reversed (leaf-first order) */
		u = t;
		for (size_t i = 0; i < n; i++) {
			u.bundle[i] = t.bundle[n - 1 - i];
			u.bundle_len[i] = t.bundle_len[n - 1 - i];
		}
		cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_ROOT);
		/* the leaf itself in the bundle, twice the intermediate */
		u = t;
		u.bundle[n] = t.bundle[n - 1];
		u.bundle_len[n] = t.bundle_len[n - 1];
		u.bundle_n = n + 1;
		cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_CHAIN);
		/* each entry replaced by a look-alike: same names, validity, serial and extensions,
		 * an attacker's key, self-signed (root) or signed by the attacker (the others) */
		eml_p384_key *ak = NULL;
		cr_assert_eq(eml_p384_generate(&ak), EML_OK);
		for (size_t i = 0; i < n; i++) {
			uint8_t *clone = NULL;
			size_t cl = 0;
			cr_assert_eq(eml_x509_clone_resigned(t.bundle[i], t.bundle_len[i], ak, ak,
			                                     &clone, &cl),
			             EML_OK);
			u = t;
			u.bundle[i] = clone;
			u.bundle_len[i] = cl;
			cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1),
			             i == 0 ? EML_E_ATTEST_ROOT : EML_E_ATTEST_CHAIN, "replace %zu",
			             i);
			eml_free(clone);
		}
		/* the whole chain re-made by the attacker from the root down, leaf included, and the
		 * document re-signed with the attacker's leaf: the root fingerprint gives it away */
		{
			uint8_t *cl[5] = {NULL};
			size_t cll[5] = {0};
			for (size_t i = 0; i < n; i++)
				cr_assert_eq(eml_x509_clone_resigned(t.bundle[i], t.bundle_len[i],
				                                     ak, ak, &cl[i], &cll[i]),
				             EML_OK);
			cr_assert_eq(
			    eml_x509_clone_resigned(t.cert, t.cert_len, ak, ak, &cl[n], &cll[n]),
			    EML_OK);
			u = t;
			for (size_t i = 0; i < n; i++) {
				u.bundle[i] = cl[i];
				u.bundle_len[i] = cll[i];
			}
			u.cert = cl[n];
			u.cert_len = cll[n];
			eml_buf pl, tbs_doc;
			eml_buf_init(&pl, 0);
			eml_buf_init(&tbs_doc, 0);
			tp_payload(&u, -1, FM_KEEP, &pl);
			uint8_t *tbs = NULL, sig[96];
			size_t tl = 0;
			cr_assert_eq(eml_attest_sig_structure(r.d.protected_hdr, r.d.protected_len,
			                                      pl.p, pl.len, &tbs, &tl),
			             EML_OK);
			cr_assert_eq(eml_p384_sign_es384(ak, tbs, tl, sig), EML_OK);
			tp_cose(&tbs_doc, r.d.protected_hdr, r.d.protected_len, pl.p, pl.len, sig,
			        96, -1);
			cr_assert_eq(verify_at_doc(tbs_doc.p, tbs_doc.len, r.policy, NULL),
			             EML_E_ATTEST_ROOT);
			/* ...and a policy that pinned the attacker's root would accept it: the root
			 * pin is what refuses it above */
			char dir_pol[8192], *tdir = eml_test_tmpdir(), pem[4200];
			snprintf(pem, sizeof(pem), "%s/evil.pem", tdir);
			cr_assert_eq(eml_x509_write_pem(pem, cl[0], cll[0], 0644), EML_OK);
			snprintf(
			    dir_pol, sizeof(dir_pol),
			    "{\"root\":\"%s\",\"allow_debug\":true,\"pcrs\":[{\"3\":\"%s\"}]}", pem,
			    "4a9329d69c836267b18abbf9f4a38889124490453419e426818626348d21f989dc930b"
			    "1562682a9082887454e53425aa");
			cr_assert_eq(verify_at_doc(tbs_doc.p, tbs_doc.len, dir_pol, NULL), EML_OK);
			eml_test_rmtree(tdir);
			free(tdir);
			eml_free(tbs);
			eml_buf_cleanup(&pl);
			eml_buf_cleanup(&tbs_doc);
			for (size_t i = 0; i <= n; i++)
				eml_free(cl[i]);
		}
		eml_p384_key_free(ak);
		u = t;
		u.cert = look_leaf;
		u.cert_len = ll;
		cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_CHAIN);
		/* not a certificate at all */
		u = t;
		u.cert = (const uint8_t *)"not a certificate";
		u.cert_len = 17;
		cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_CHAIN);
		real_free(&r);
	}
	eml_free(look_ca);
	eml_free(look_leaf);
}

Test(attest_tamper, root_replaced_in_policy)
{
	char *dir = eml_test_tmpdir();
	size_t la;
	uint8_t *look = lookalike(&la, 1);
	char path[4096], pol[8192];
	snprintf(path, sizeof(path), "%s/fake-root.pem", dir);
	cr_assert_eq(eml_x509_write_pem(path, look, la, 0644), EML_OK);
	snprintf(pol, sizeof(pol), "{\"root\":\"%s\",\"pcrs\":[{\"0\":\"%s\"}]}", path, BETA_PCR0);
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	cr_assert_eq(verify_at_doc(doc, len, pol, NULL), EML_E_ATTEST_ROOT);
	/* a policy pinning the AWS root by PEM path is the AWS root */
	snprintf(pol, sizeof(pol),
	         "{\"root\":\"%s/nitro/aws_nitro_enclaves_root_g1.pem\","
	         "\"root_sha256\":\"%s\",\"pcrs\":[{\"0\":\"%s\"}]}",
	         eml_test_vectors_dir(), EML_AWS_NITRO_ROOT_G1_SHA256, BETA_PCR0);
	cr_assert_eq(verify_at_doc(doc, len, pol, NULL), EML_OK);
	/* a root_sha256 that does not match the PEM makes the policy invalid */
	eml_policy *p = NULL;
	snprintf(pol, sizeof(pol),
	         "{\"root\":\"%s\",\"root_sha256\":\"%s\",\"pcrs\":[{\"0\":\"%s\"}]}", path,
	         EML_AWS_NITRO_ROOT_G1_SHA256, BETA_PCR0);
	cr_assert_eq(eml_policy_parse_json(pol, strlen(pol), NULL, &p), EML_E_ATTEST_POLICY);
	eml_free(doc);
	eml_free(look);
	eml_test_rmtree(dir);
	free(dir);
}

static int with_header(real *r, const uint8_t *prot, size_t prot_len, long tag)
{
	eml_buf doc;
	int rc;
	eml_buf_init(&doc, 0);
	tp_cose(&doc, prot, prot_len, r->d.payload, r->d.payload_len, r->d.sig, 96, tag);
	rc = verify_at_doc(doc.p, doc.len, r->policy, NULL);
	eml_buf_cleanup(&doc);
	return rc;
}

Test(attest_tamper, protected_header_and_tag)
{
	for (int w = 0; w < 2; w++) {
		real r;
		real_load(&r, w);
		static const uint8_t es256[] = {0xa1, 0x01, 0x26};         /* {1: -7} */
		static const uint8_t es512[] = {0xa1, 0x01, 0x38, 0x23};   /* {1: -36} */
		static const uint8_t alg_txt[] = {0xa1, 0x01, 0x61, 0x78}; /* {1: "x"} */
		static const uint8_t crit[] = {0xa2, 0x01, 0x38, 0x22, 0x02, 0x81, 0x18, 0x63};
		static const uint8_t extra[] = {0xa2, 0x01, 0x38, 0x22, 0x04, 0x41, 0x01};
		static const uint8_t dup[] = {0xa2, 0x01, 0x38, 0x22, 0x01, 0x38, 0x22};
		static const uint8_t none[] = {0xa0};
		static const uint8_t trail[] = {0xa1, 0x01, 0x38, 0x22, 0x00};
		cr_assert_eq(with_header(&r, es256, sizeof(es256), -1), EML_E_ATTEST_HEADER);
		cr_assert_eq(with_header(&r, es512, sizeof(es512), -1), EML_E_ATTEST_HEADER);
		cr_assert_eq(with_header(&r, alg_txt, sizeof(alg_txt), -1), EML_E_ATTEST_HEADER);
		cr_assert_eq(with_header(&r, crit, sizeof(crit), -1), EML_E_ATTEST_HEADER);
		cr_assert_eq(with_header(&r, dup, sizeof(dup), -1), EML_E_ATTEST_HEADER);
		cr_assert_eq(with_header(&r, none, sizeof(none), -1), EML_E_ATTEST_HEADER);
		cr_assert_eq(with_header(&r, none, 0, -1), EML_E_ATTEST_HEADER);
		cr_assert_eq(with_header(&r, trail, sizeof(trail), -1), EML_E_ATTEST_HEADER);
		/* an extra, non-critical header is tolerated by the parser, but it is signed */
		cr_assert_eq(with_header(&r, extra, sizeof(extra), -1), EML_E_ATTEST_SIGNATURE);
		/* tag 18 (COSE_Sign1_Tagged) added: the same document, accepted */
		cr_assert_eq(with_header(&r, r.d.protected_hdr, r.d.protected_len, 18), EML_OK);
		/* any other tag (COSE_Sign = 98, COSE_Mac0 = 17, CWT = 61): refused */
		cr_assert_eq(with_header(&r, r.d.protected_hdr, r.d.protected_len, 98),
		             EML_E_ATTEST_ENCODING);
		cr_assert_eq(with_header(&r, r.d.protected_hdr, r.d.protected_len, 17),
		             EML_E_ATTEST_ENCODING);
		/* unprotected header carrying alg or crit */
		eml_buf doc;
		eml_buf_init(&doc, 0);
		eml_cbor_head(&doc, 4, 4);
		eml_cbor_bytes(&doc, r.d.protected_hdr, r.d.protected_len);
		eml_cbor_head(&doc, 5, 1);
		eml_cbor_uint(&doc, 1);
		eml_buf_u8(&doc, 0x26);
		eml_cbor_bytes(&doc, r.d.payload, r.d.payload_len);
		eml_cbor_bytes(&doc, r.d.sig, 96);
		cr_assert_eq(verify_at_doc(doc.p, doc.len, r.policy, NULL), EML_E_ATTEST_HEADER);
		eml_buf_cleanup(&doc);
		real_free(&r);
	}
}

Test(attest_tamper, tag_removed_from_tagged_document)
{
	real r;
	real_load(&r, 0);
	eml_buf tagged;
	eml_buf_init(&tagged, 0);
	tp_cose(&tagged, r.d.protected_hdr, r.d.protected_len, r.d.payload, r.d.payload_len,
	        r.d.sig, 96, 18);
	eml_attest_doc d2;
	cr_assert_eq(eml_attest_doc_parse(tagged.p, tagged.len, &d2), EML_OK);
	cr_assert(d2.tagged);
	eml_attest_doc_cleanup(&d2);
	/* removing the tag gives the original bytes back, which verify */
	cr_assert_eq(verify_at_doc(tagged.p + 1, tagged.len - 1, r.policy, NULL), EML_OK);
	cr_assert_eq(tagged.len - 1, r.len);
	eml_buf_cleanup(&tagged);
	real_free(&r);
}

Test(attest_tamper, truncations_every_97th_byte_and_trailing_garbage)
{
	for (int w = 0; w < 2; w++) {
		real r;
		real_load(&r, w);
		int n = 0;
		for (size_t cut = 0; cut < r.len; cut += 97, n++) {
			int rc = verify_at_doc(r.doc, cut, r.policy, NULL);
			cr_assert_eq(rc, EML_E_ATTEST_ENCODING, "cut at %zu: %s", cut,
			             eml_err_name(rc));
		}
		cr_assert_eq(verify_at_doc(r.doc, r.len - 1, r.policy, NULL),
		             EML_E_ATTEST_ENCODING);
		cr_assert_gt(n, 40);
		uint8_t *big = eml_alloc(r.len + 8);
		memcpy(big, r.doc, r.len);
		static const uint8_t garbage[][8] = {
		    {0x00}, {0xf6}, {0xff}, {0x84, 0x40, 0xa0, 0x40, 0x40}};
		static const size_t glen[] = {1, 1, 1, 5};
		for (int g = 0; g < 4; g++) {
			memcpy(big + r.len, garbage[g], glen[g]);
			cr_assert_eq(verify_at_doc(big, r.len + glen[g], r.policy, NULL),
			             EML_E_ATTEST_ENCODING);
		}
		eml_free(big);
		real_free(&r);
	}
}

/* Indefinite-length outer array, chunked byte strings, indefinite unprotected map: accepted, as
 * real NSM output varies and none of that is covered by the signature. */
Test(attest_tamper, indefinite_length_encodings_accepted)
{
	real r;
	real_load(&r, 0);
	eml_buf b;
	eml_buf_init(&b, 0);
	eml_buf_u8(&b, 0x9f); /* array, indefinite */
	eml_buf_u8(&b, 0x5f); /* protected as chunked bstr */
	eml_cbor_bytes(&b, r.d.protected_hdr, 1);
	eml_cbor_bytes(&b, r.d.protected_hdr + 1, r.d.protected_len - 1);
	eml_buf_u8(&b, 0xff);
	eml_buf_u8(&b, 0xbf); /* unprotected: indefinite empty map */
	eml_buf_u8(&b, 0xff);
	eml_buf_u8(&b, 0x5f); /* payload chunked in three */
	eml_cbor_bytes(&b, r.d.payload, 100);
	eml_cbor_bytes(&b, r.d.payload + 100, 0);
	eml_cbor_bytes(&b, r.d.payload + 100, r.d.payload_len - 100);
	eml_buf_u8(&b, 0xff);
	eml_cbor_bytes(&b, r.d.sig, 96);
	eml_buf_u8(&b, 0xff);
	cr_assert_eq(verify_at_doc(b.p, b.len, r.policy, NULL), EML_OK);
	/* five elements in an indefinite array: refused */
	b.len -= 1;
	eml_cbor_uint(&b, 0);
	eml_buf_u8(&b, 0xff);
	cr_assert_eq(verify_at_doc(b.p, b.len, r.policy, NULL), EML_E_ATTEST_ENCODING);
	eml_buf_cleanup(&b);
	real_free(&r);
}

Test(attest_tamper, size_limits)
{
	real r;
	tp_doc t;
	real_load(&r, 0);
	tp_from(&t, &r.d);
	static uint8_t big[1100];
	memset(big, 0x41, sizeof(big));
	/* nonce of 1025 bytes */
	tp_doc u = t;
	u.opt[2] = big;
	u.opt_len[2] = 1025;
	cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_SIZE);
	u.opt_len[2] = 1024; /* at the limit: parses, then the signature fails */
	cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_SIGNATURE);
	u = t;
	u.opt[1] = big;
	u.opt_len[1] = 1025;
	cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_SIZE);
	u = t;
	u.opt[0] = big;
	u.opt_len[0] = 1025;
	cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_SIZE);
	/* PCR lengths other than 32/48/64 */
	u = t;
	u.pcr_len[3] = 47;
	cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_SIZE);
	u.pcr_len[3] = 32;
	cr_assert_eq(rebuild_verify(&r, &u, -1, FM_KEEP, NULL, -1), EML_E_ATTEST_SIGNATURE);
	/* PCR index 32 */
	u = t;
	u.pcr_mask = 0xffffu;
	eml_buf pl, doc;
	eml_buf_init(&pl, 0);
	eml_buf_init(&doc, 0);
	eml_cbor_head(&pl, 5, 1);
	eml_cbor_text(&pl, "pcrs");
	eml_cbor_head(&pl, 5, 1);
	eml_cbor_uint(&pl, 32);
	eml_cbor_bytes(&pl, big, 48);
	tp_cose(&doc, r.d.protected_hdr, r.d.protected_len, pl.p, pl.len, r.d.sig, 96, -1);
	cr_assert_eq(verify_at_doc(doc.p, doc.len, r.policy, NULL), EML_E_ATTEST_SIZE);
	eml_buf_cleanup(&doc);
	eml_buf_cleanup(&pl);
	/* payload over 16 KiB */
	uint8_t *huge = eml_calloc(1, 16385);
	eml_buf_init(&doc, 0);
	tp_cose(&doc, r.d.protected_hdr, r.d.protected_len, huge, 16385, r.d.sig, 96, -1);
	cr_assert_eq(verify_at_doc(doc.p, doc.len, r.policy, NULL), EML_E_ATTEST_SIZE);
	eml_buf_cleanup(&doc);
	eml_free(huge);
	/* signature of 95 bytes */
	eml_buf_init(&doc, 0);
	tp_cose(&doc, r.d.protected_hdr, r.d.protected_len, r.d.payload, r.d.payload_len, r.d.sig,
	        95, -1);
	cr_assert_eq(verify_at_doc(doc.p, doc.len, r.policy, NULL), EML_E_ATTEST_SIZE);
	eml_buf_cleanup(&doc);
	/* unknown payload key */
	eml_buf_init(&pl, 0);
	eml_buf_init(&doc, 0);
	tp_payload(&t, -1, FM_KEEP, &pl);
	pl.p[0] = 0xaa; /* 10 entries */
	eml_cbor_text(&pl, "extra");
	eml_cbor_uint(&pl, 1);
	tp_cose(&doc, r.d.protected_hdr, r.d.protected_len, pl.p, pl.len, r.d.sig, 96, -1);
	cr_assert_eq(verify_at_doc(doc.p, doc.len, r.policy, NULL), EML_E_ATTEST_FIELD);
	eml_buf_cleanup(&doc);
	eml_buf_cleanup(&pl);
	real_free(&r);
}

Test(attest_policy, malformed_policies_refused)
{
	const char *bad[] = {
	    "",
	    "[]",
	    "{}",
	    "{\"pcrs\":[]}",
	    "{\"pcrs\":[{}]}",
	    "{\"pcrs\":[{\"0\":\"zz\"}]}",
	    "{\"pcrs\":[{\"16\":\"" ZERO48 "\"}]}",
	    "{\"pcrs\":[{\"0\":\"00\"}]}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}],\"allow_debg\":true}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}],\"allow_debug\":1}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}],\"max_age_ms\":-1}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}],\"root\":\"/nonexistent/root.pem\"}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}],\"check_validity_at\":\"later\"}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}],\"version\":2}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\"}],\"pcrs\":[{\"0\":\"" ZERO48 "\"}]}",
	    "{\"pcrs\":[{\"0\":\"" ZERO48 "\",\"pcr0\":\"" ZERO48 "\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		eml_policy *p = NULL;
		cr_assert_eq(eml_policy_parse_json(bad[i], strlen(bad[i]), NULL, &p),
		             EML_E_ATTEST_POLICY, "accepted: %s", bad[i]);
		cr_assert_null(p);
	}
	eml_policy *p = tp_policy("{\"version\":1,\"pcrs\":[{\"pcr0\":\"" ZERO48 "\"}]}");
	cr_assert(eml_policy_root_is_aws(p));
	eml_policy_free(p);
}

/* libcbor 0.8 allocates for a declared element count before reading the elements, and its
 * release is recursive: the pre-check refuses both shapes before libcbor sees them. */
Test(attest_tamper, hostile_cbor_shapes)
{
	static const uint8_t huge_array[] = {0x84, 0x9b, 0x00, 0x00, 0x00, 0x10, 0, 0, 0, 0};
	static const uint8_t huge_map[] = {0xbb, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0x00};
	static const uint8_t huge_bytes[] = {0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00};
	static const uint8_t reserved[] = {0x1c};
	static const uint8_t stray_break[] = {0x84, 0xff};
	cr_assert_eq(eml_cbor_precheck(huge_array, sizeof(huge_array)), EML_E_ATTEST_ENCODING);
	cr_assert_eq(eml_cbor_precheck(huge_map, sizeof(huge_map)), EML_E_ATTEST_ENCODING);
	cr_assert_eq(eml_cbor_precheck(huge_bytes, sizeof(huge_bytes)), EML_E_ATTEST_ENCODING);
	cr_assert_eq(eml_cbor_precheck(reserved, 1), EML_E_ATTEST_ENCODING);
	cr_assert_eq(eml_cbor_precheck(stray_break, 2), EML_E_ATTEST_ENCODING);
	/* nesting: 16 levels pass the pre-check, 17 do not */
	uint8_t deep[64];
	memset(deep, 0x81, sizeof(deep));
	deep[15] = 0x00;
	cr_assert_eq(eml_cbor_precheck(deep, 16), EML_OK);
	deep[15] = 0x81;
	deep[16] = 0x00;
	cr_assert_eq(eml_cbor_precheck(deep, 17), EML_E_ATTEST_ENCODING);
	/* a document that is deeply nested all the way down */
	static uint8_t nest[EML_ATTEST_DOC_MAX];
	memset(nest, 0x9f, sizeof(nest));
	eml_attest_doc d;
	cr_assert_eq(eml_attest_doc_parse(nest, sizeof(nest), &d), EML_E_ATTEST_ENCODING);
	eml_attest_doc_cleanup(&d);
	cr_assert_eq(eml_attest_doc_parse(huge_array, sizeof(huge_array), &d),
	             EML_E_ATTEST_ENCODING);
	eml_attest_doc_cleanup(&d);
	/* both real documents pass the pre-check */
	size_t len;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	cr_assert_eq(eml_cbor_precheck(doc, len), EML_OK);
	eml_free(doc);
}

/* ---- basicConstraints / keyUsage / path length, on chains built here ---- */

typedef struct chain_spec {
	int inter_ca;    /* the intermediate is a CA */
	int extra_inter; /* a second intermediate below the first (pathlen 0 forbids it) */
	int leaf_ca;     /* the leaf claims to be a CA */
	int warm;        /* first verify a good leaf under the same CAs (prefix remembered) */
} chain_spec;

static uint8_t *sign_doc(const uint8_t *ld, size_t ll, const uint8_t *const *bundle,
                         const size_t *blen, size_t bn, eml_p384_key *lk, int64_t t, size_t *dl)
{
	uint8_t pcrs[EML_ATTEST_PCR_SLOTS][EML_ATTEST_PCR_MAXLEN];
	memset(pcrs, 0x11, sizeof(pcrs));
	eml_attest_fields f = {.module_id = "i-test-enc",
	                       .timestamp_ms = (uint64_t)t * 1000,
	                       .pcr_mask = 0xffff,
	                       .pcrs = (const uint8_t(*)[EML_ATTEST_PCR_MAXLEN])pcrs,
	                       .pcr_len = 48,
	                       .certificate = ld,
	                       .certificate_len = ll,
	                       .cabundle = bundle,
	                       .cabundle_len = blen,
	                       .cabundle_n = bn};
	uint8_t *pl, *tbs, *doc, sig[96];
	size_t pll, tl;
	cr_assert_eq(eml_attest_payload_encode(&f, &pl, &pll), EML_OK);
	cr_assert_eq(eml_attest_sig_structure(eml_attest_es384_protected, 4, pl, pll, &tbs, &tl),
	             EML_OK);
	cr_assert_eq(eml_p384_sign_es384(lk, tbs, tl, sig), EML_OK);
	cr_assert_eq(eml_attest_cose_encode(eml_attest_es384_protected, 4, pl, pll, sig, &doc, dl),
	             EML_OK);
	eml_free(pl);
	eml_free(tbs);
	return doc;
}

static int verify_built_chain(const chain_spec *cs)
{
	eml_p384_key *rk, *ik, *i2k, *lk;
	uint8_t *rd, *id, *i2d = NULL, *ld;
	size_t rl, il, i2l = 0, ll;
	int64_t t = 1700000000;
	cr_assert_eq(eml_p384_generate(&rk), EML_OK);
	cr_assert_eq(eml_p384_generate(&ik), EML_OK);
	cr_assert_eq(eml_p384_generate(&i2k), EML_OK);
	cr_assert_eq(eml_p384_generate(&lk), EML_OK);
	cr_assert_eq(
	    eml_x509_issue("root", 1, -1, rk, rk, NULL, 0, t - 86400, t + 86400, 1, &rd, &rl),
	    EML_OK);
	cr_assert_eq(eml_x509_issue("inter", cs->inter_ca, 0, ik, rk, rd, rl, t - 86400, t + 86400,
	                            2, &id, &il),
	             EML_OK);
	const uint8_t *bundle[3] = {rd, id, NULL};
	size_t blen[3] = {rl, il, 0};
	size_t bn = 2;
	const uint8_t *issuer = id;
	size_t issuer_len = il;
	eml_p384_key *issuer_key = ik;
	if (cs->extra_inter) {
		cr_assert_eq(eml_x509_issue("inter2", 1, -1, i2k, ik, id, il, t - 86400, t + 86400,
		                            3, &i2d, &i2l),
		             EML_OK);
		bundle[2] = i2d;
		blen[2] = i2l;
		bn = 3;
		issuer = i2d;
		issuer_len = i2l;
		issuer_key = i2k;
	}
	cr_assert_eq(eml_x509_issue("leaf", cs->leaf_ca, -1, lk, issuer_key, issuer, issuer_len,
	                            t - 3600, t + 3600, 4, &ld, &ll),
	             EML_OK);
	size_t dl;
	uint8_t *doc = sign_doc(ld, ll, bundle, blen, bn, lk, t, &dl);
	char *dir = eml_test_tmpdir(), pem[4200], pol[8192], h[97];
	uint8_t p0[48];
	memset(p0, 0x11, sizeof(p0));
	snprintf(pem, sizeof(pem), "%s/root.pem", dir);
	cr_assert_eq(eml_x509_write_pem(pem, rd, rl, 0644), EML_OK);
	eml_hex(p0, 48, h);
	snprintf(pol, sizeof(pol), "{\"root\":\"%s\",\"pcrs\":[{\"0\":\"%s\"}]}", pem, h);
	eml_policy *p = tp_policy(pol);
	eml_verify_opts o = {.at_document_time = 1};
	eml_x509_cache_clear();
	if (cs->warm) {
		eml_p384_key *gk;
		uint8_t *gd, *gdoc;
		size_t gl, gdl;
		cr_assert_eq(eml_p384_generate(&gk), EML_OK);
		cr_assert_eq(eml_x509_issue("good leaf", 0, -1, gk, issuer_key, issuer, issuer_len,
		                            t - 3600, t + 3600, 5, &gd, &gl),
		             EML_OK);
		gdoc = sign_doc(gd, gl, bundle, blen, bn, gk, t, &gdl);
		cr_assert_eq(eml_attest_verify(gdoc, gdl, p, &o, NULL), EML_OK, "warm-up document");
		eml_free(gdoc);
		eml_free(gd);
		eml_p384_key_free(gk);
	}
	int rc = eml_attest_verify(doc, dl, p, &o, NULL);
	eml_policy_free(p);
	eml_test_rmtree(dir);
	free(dir);
	eml_free(doc);
	eml_free(rd);
	eml_free(id);
	eml_free(i2d);
	eml_free(ld);
	eml_p384_key_free(rk);
	eml_p384_key_free(ik);
	eml_p384_key_free(i2k);
	eml_p384_key_free(lk);
	return rc;
}

Test(attest_chain, basic_constraints_key_usage_path_length)
{
	chain_spec ok = {.inter_ca = 1};
	cr_assert_eq(verify_built_chain(&ok), EML_OK); /* positive control */
	chain_spec not_ca = {.inter_ca = 0};           /* CA:FALSE, keyUsage digitalSignature */
	cr_assert_eq(verify_built_chain(&not_ca), EML_E_ATTEST_CHAIN);
	chain_spec leaf_ca = {.inter_ca = 1, .leaf_ca = 1};
	cr_assert_eq(verify_built_chain(&leaf_ca), EML_E_ATTEST_CHAIN);
	chain_spec too_deep = {.inter_ca = 1, .extra_inter = 1}; /* pathlen 0 exceeded */
	cr_assert_eq(verify_built_chain(&too_deep), EML_E_ATTEST_CHAIN);
	/* the same with the CA prefix already remembered (warm path) */
	chain_spec ok_w = {.inter_ca = 1, .warm = 1};
	cr_assert_eq(verify_built_chain(&ok_w), EML_OK);
	chain_spec leaf_ca_w = {.inter_ca = 1, .leaf_ca = 1, .warm = 1};
	cr_assert_eq(verify_built_chain(&leaf_ca_w), EML_E_ATTEST_CHAIN);
}

Test(attest_tamper, header_label_limits_and_arguments)
{
	real r;
	real_load(&r, 0);
	eml_buf doc;
	eml_buf_init(&doc, 0);
	eml_cbor_head(&doc, 4, 4);
	eml_cbor_bytes(&doc, r.d.protected_hdr, r.d.protected_len);
	eml_cbor_head(&doc, 5, 17); /* 17 unprotected labels */
	for (unsigned i = 0; i < 17; i++) {
		eml_cbor_uint(&doc, 100 + i);
		eml_cbor_uint(&doc, i);
	}
	eml_cbor_bytes(&doc, r.d.payload, r.d.payload_len);
	eml_cbor_bytes(&doc, r.d.sig, 96);
	cr_assert_eq(verify_at_doc(doc.p, doc.len, r.policy, NULL), EML_E_ATTEST_HEADER);
	eml_buf_cleanup(&doc);
	/* 16 harmless unprotected labels: not covered by the signature, accepted */
	eml_buf_init(&doc, 0);
	eml_cbor_head(&doc, 4, 4);
	eml_cbor_bytes(&doc, r.d.protected_hdr, r.d.protected_len);
	eml_cbor_head(&doc, 5, 16);
	for (unsigned i = 0; i < 16; i++) {
		eml_cbor_uint(&doc, 100 + i);
		eml_cbor_uint(&doc, i);
	}
	eml_cbor_bytes(&doc, r.d.payload, r.d.payload_len);
	eml_cbor_bytes(&doc, r.d.sig, 96);
	cr_assert_eq(verify_at_doc(doc.p, doc.len, r.policy, NULL), EML_OK);
	eml_buf_cleanup(&doc);
	eml_verify_opts neg = {.now_ms = -1};
	eml_policy *p = tp_policy(r.policy);
	cr_assert_eq(eml_attest_verify(r.doc, r.len, NULL, NULL, NULL), EML_E_ARG);
	cr_assert_eq(eml_attest_verify(r.doc, r.len, p, &neg, NULL), EML_E_ARG);
	cr_assert_eq(eml_attest_verify(NULL, 0, p, NULL, NULL), EML_E_ATTEST_ENCODING);
	eml_policy_free(p);
	real_free(&r);
}
