/*
 * Property 3 over documents from the simulated NSM: each case issues a document, tampers with it
 * in one of the tamper-matrix ways (or not), draws a random policy (PCR sets, nonce, maximum age,
 * root) and a random "now", and checks that verification accepts if and only if every check
 * holds — and that a refusal carries the code of the first failing check.
 */
#include "../unit/test_attest_util.h"

enum {
	T_NONE,
	T_ADD_TAG, /* harmless: COSE_Sign1_Tagged */
	T_SIG_FLIP,
	T_FIELD,
	T_TRUNCATE,
	T_TRAILING,
	T_HEADER_ALG,
	T_DROP_ROOT,
	T_DROP_INTERMEDIATE,
	T_SWAP_BUNDLE,
	T_FOREIGN_CA,
	T_POLICY_AWS,
	T__N
};

static int field_expect(int f, int m)
{
	if (m == FM_DUP || m == FM_WRONGTYPE)
		return EML_E_ATTEST_FIELD;
	if (m == FM_REMOVE)
		return f <= FI_CABUNDLE ? EML_E_ATTEST_FIELD : EML_E_ATTEST_SIGNATURE;
	if (f == FI_DIGEST)
		return EML_E_ATTEST_FIELD;
	if (f == FI_CERTIFICATE || f == FI_CABUNDLE)
		return EML_E_ATTEST_CHAIN;
	return EML_E_ATTEST_SIGNATURE;
}

static void rebuild(const eml_attest_doc *d, const tp_doc *t, int f, int m, long tag,
                    const uint8_t *prot, size_t prot_len, eml_buf *out)
{
	eml_buf pl;
	eml_buf_init(&pl, 0);
	tp_payload(t, f, m, &pl);
	tp_cose(out, prot ? prot : d->protected_hdr, prot ? prot_len : d->protected_len, pl.p,
	        pl.len, d->sig, EML_ATTEST_SIG_LEN, tag);
	eml_buf_cleanup(&pl);
}

/* Feature: ephemeral-inference, Property 3: Attestation verification. The client opens a
 * channel if and only if the document is well formed, its chain leads to the pinned root, its
 * signature verifies, and its PCRs, nonce and age satisfy the policy. */
Test(prop, attestation_verification,
     .description = "Feature: ephemeral-inference, Property 3: Attestation verification. The "
                    "client opens a channel if and only if the document is well formed, its "
                    "chain leads to the pinned root, its signature verifies, and its PCRs, "
                    "nonce and age satisfy the policy.",
     .timeout = 600)
{
	char *dir = eml_test_tmpdir();
	char other[4200];
	snprintf(other, sizeof(other), "%s/other", dir);
	eml_nsm_opts oa = {.sim_ca_dir = dir}, ob = {.sim_ca_dir = other};
	eml_nsm *na = NULL, *nb = NULL;
	cr_assert_eq(eml_nsm_open("sim", &oa, &na), EML_OK);
	cr_assert_eq(eml_nsm_open("sim", &ob, &nb), EML_OK);
	uint8_t pcr[16][48];
	for (unsigned i = 0; i < 16; i++) {
		size_t vl;
		int lk;
		cr_assert_eq(eml_nsm_describe_pcr(na, i, pcr[i], &vl, &lk), EML_OK);
	}
	int accepted = 0, refused = 0, per_kind[T__N] = {0};

	PROP_FOR_EACH_CASE(rng)
	{
		uint8_t nonce[64], ud[100], pk[32];
		size_t nonce_len =
		    eml_rng_chance(&rng, 0.2) ? 0 : (size_t)eml_rng_range(&rng, 1, 64);
		size_t ud_len = (size_t)eml_rng_range(&rng, 0, 100);
		int has_ud = eml_rng_chance(&rng, 0.5), has_pk = eml_rng_chance(&rng, 0.7);
		eml_rng_bytes(&rng, nonce, sizeof(nonce));
		eml_rng_bytes(&rng, ud, sizeof(ud));
		eml_rng_bytes(&rng, pk, sizeof(pk));
		/* untampered in at least every fourth case, so acceptances are never rare */
		int kind = (accepted + refused) % 4 == 0 || eml_rng_chance(&rng, 0.4)
		               ? T_NONE
		               : (int)eml_rng_below(&rng, T__N);
		per_kind[kind]++;

		uint8_t *doc = NULL;
		size_t len = 0;
		PROP_ASSERT(eml_nsm_attest(kind == T_FOREIGN_CA ? nb : na, has_ud ? ud : NULL,
		                           has_ud ? ud_len : 0, nonce_len ? nonce : NULL, nonce_len,
		                           has_pk ? pk : NULL, has_pk ? 32 : 0, &doc,
		                           &len) == EML_OK,
		            "issue");
		eml_attest_doc d;
		PROP_ASSERT(eml_attest_doc_parse(doc, len, &d) == EML_OK, "parse own document");
		tp_doc t;
		tp_from(&t, &d);

		/* tamper */
		eml_buf b;
		eml_buf_init(&b, 0);
		int want_tamper = EML_OK;
		switch (kind) {
		case T_NONE:
		case T_FOREIGN_CA:
		case T_POLICY_AWS:
			eml_buf_put(&b, doc, len);
			if (kind != T_NONE)
				want_tamper = EML_E_ATTEST_ROOT;
			break;
		case T_ADD_TAG:
			rebuild(&d, &t, -1, FM_KEEP, 18, NULL, 0, &b);
			break;
		case T_SIG_FLIP:
			eml_buf_put(&b, doc, len);
			b.p[len - 1 - eml_rng_below(&rng, 96)] ^=
			    (uint8_t)(1u << eml_rng_below(&rng, 8));
			want_tamper = EML_E_ATTEST_SIGNATURE;
			break;
		case T_FIELD: {
			int f = (int)eml_rng_below(&rng, FI__N);
			int m = (int)eml_rng_range(&rng, FM_CHANGE, FM__N - 1);
			rebuild(&d, &t, f, m, -1, NULL, 0, &b);
			want_tamper = field_expect(f, m);
			break;
		}
		case T_TRUNCATE:
			eml_buf_put(&b, doc, (size_t)eml_rng_below(&rng, len));
			want_tamper = EML_E_ATTEST_ENCODING;
			break;
		case T_TRAILING: {
			uint8_t g[8];
			eml_rng_bytes(&rng, g, sizeof(g));
			eml_buf_put(&b, doc, len);
			eml_buf_put(&b, g, (size_t)eml_rng_range(&rng, 1, 8));
			want_tamper = EML_E_ATTEST_ENCODING;
			break;
		}
		case T_HEADER_ALG: {
			static const uint8_t es256[] = {0xa1, 0x01, 0x26};
			rebuild(&d, &t, -1, FM_KEEP, -1, es256, sizeof(es256), &b);
			want_tamper = EML_E_ATTEST_HEADER;
			break;
		}
		case T_DROP_ROOT:
		case T_DROP_INTERMEDIATE: {
			tp_doc u = t;
			size_t keep = kind == T_DROP_ROOT ? 1 : 0;
			u.bundle[0] = t.bundle[keep];
			u.bundle_len[0] = t.bundle_len[keep];
			u.bundle_n = 1;
			rebuild(&d, &u, -1, FM_KEEP, -1, NULL, 0, &b);
			want_tamper = kind == T_DROP_ROOT ? EML_E_ATTEST_ROOT : EML_E_ATTEST_CHAIN;
			break;
		}
		case T_SWAP_BUNDLE: {
			tp_doc u = t;
			u.bundle[0] = t.bundle[1];
			u.bundle_len[0] = t.bundle_len[1];
			u.bundle[1] = t.bundle[0];
			u.bundle_len[1] = t.bundle_len[0];
			rebuild(&d, &u, -1, FM_KEEP, -1, NULL, 0, &b);
			want_tamper = EML_E_ATTEST_ROOT;
			break;
		}
		}

		/* random policy */
		char json[8192];
		size_t jn = 0;
		int n_sets = (int)eml_rng_range(&rng, 1, 3), pcr_ok = 0;
		if (kind == T_POLICY_AWS)
			jn += (size_t)snprintf(json + jn, sizeof(json) - jn,
			                       "{\"root\":\"aws-nitro-g1\",\"pcrs\":[");
		else
			jn += (size_t)snprintf(json + jn, sizeof(json) - jn,
			                       "{\"root\":\"%s/root.pem\",\"pcrs\":[", dir);
		for (int s = 0; s < n_sets; s++) {
			uint32_t mask = (uint32_t)eml_rng_below(&rng, 0xffff) + 1;
			int wrong = eml_rng_chance(&rng, 0.4);
			int wrong_idx = -1;
			if (wrong) {
				unsigned k = (unsigned)eml_rng_below(&rng, 16);
				mask |= 1u << k;
				wrong_idx = (int)k;
			}
			pcr_ok |= !wrong;
			jn += (size_t)snprintf(json + jn, sizeof(json) - jn, "%s{", s ? "," : "");
			int first = 1;
			for (unsigned i = 0; i < 16; i++) {
				if (!(mask & (1u << i)))
					continue;
				uint8_t v[48];
				char hx[97];
				memcpy(v, pcr[i], 48);
				if ((int)i == wrong_idx)
					v[eml_rng_below(&rng, 48)] ^=
					    (uint8_t)(1u + eml_rng_below(&rng, 255));
				eml_hex(v, 48, hx);
				jn += (size_t)snprintf(json + jn, sizeof(json) - jn,
				                       "%s\"%u\":\"%s\"", first ? "" : ",", i, hx);
				first = 0;
			}
			jn += (size_t)snprintf(json + jn, sizeof(json) - jn, "}");
		}
		static const int64_t ages[] = {0, 1000, 60000, 600000};
		int64_t max_age = ages[eml_rng_below(&rng, 4)];
		jn += (size_t)snprintf(json + jn, sizeof(json) - jn, "],\"max_age_ms\":%lld",
		                       (long long)max_age);
		/* expected nonce: none, the right one, or a wrong one; via opts or the policy */
		int nonce_mode = (int)eml_rng_below(&rng, 3); /* 0 none, 1 right, 2 wrong */
		uint8_t want_nonce[64];
		size_t want_nonce_len = nonce_len ? nonce_len : 16;
		memcpy(want_nonce, nonce, sizeof(want_nonce));
		if (nonce_mode == 2) {
			if (nonce_len > 1 && eml_rng_chance(&rng, 0.3))
				want_nonce_len = nonce_len - 1; /* a prefix */
			else
				want_nonce[eml_rng_below(&rng, want_nonce_len)] ^= 0x40;
		}
		int nonce_via_policy = eml_rng_chance(&rng, 0.5);
		if (nonce_mode != 0 && nonce_via_policy) {
			char hx[129];
			eml_hex(want_nonce, want_nonce_len, hx);
			jn +=
			    (size_t)snprintf(json + jn, sizeof(json) - jn, ",\"nonce\":\"%s\"", hx);
		}
		snprintf(json + jn, sizeof(json) - jn, "}");
		int nonce_ok = nonce_mode == 0 || (nonce_mode == 1 && nonce_len > 0);

		eml_verify_opts o = {0};
		int64_t delta = eml_rng_range(&rng, -240000, 1200000);
		o.now_ms = (int64_t)d.timestamp_ms + delta;
		o.at_document_time = eml_rng_chance(&rng, 0.15);
		if (nonce_mode != 0 && !nonce_via_policy) {
			o.nonce = want_nonce;
			o.nonce_len = want_nonce_len;
		}
		int time_ok = 1, want_time = EML_OK;
		if (!o.at_document_time) {
			if (delta < -EML_ATTEST_MAX_SKEW_MS) {
				time_ok = 0;
				want_time = EML_E_ATTEST_FUTURE;
			} else if (max_age != 0 && delta > max_age) {
				time_ok = 0;
				want_time = EML_E_ATTEST_TOO_OLD;
			}
		}

		eml_policy *pol = tp_policy(json);
		int rc = eml_attest_verify(b.p, b.len, pol, &o, NULL);
		int all_hold = want_tamper == EML_OK && pcr_ok && nonce_ok && time_ok;
		int want = want_tamper != EML_OK ? want_tamper
		           : !pcr_ok             ? EML_E_ATTEST_PCR
		           : !nonce_ok           ? EML_E_ATTEST_NONCE
		                                 : want_time;
		PROP_ASSERT((rc == EML_OK) == all_hold,
		            "kind %d: accepted=%d but all checks hold=%d (%s)", kind, rc == EML_OK,
		            all_hold, eml_err_name(rc));
		PROP_ASSERT(rc == want, "kind %d: got %s, want %s", kind, eml_err_name(rc),
		            eml_err_name(want));
		if (rc == EML_OK)
			accepted++;
		else
			refused++;
		eml_policy_free(pol);
		eml_buf_cleanup(&b);
		eml_attest_doc_cleanup(&d);
		eml_free(doc);
	}
	/* the generator must exercise both outcomes */
	if (eml_prop_iters() >= 100) {
		/* about 13 acceptances are expected; more than 2 is far from chance */
		cr_assert_gt(accepted, 2, "accepted %d", accepted);
		cr_assert_gt(refused, 5, "refused %d", refused);
	}
	eml_nsm_free(na);
	eml_nsm_free(nb);
	eml_test_rmtree(dir);
	free(dir);
}
