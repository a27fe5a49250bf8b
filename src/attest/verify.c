/*
 * Attestation verification (DESIGN §5; AWS attestation_process.md §3: "syntactical
 * validation", "semantic validation", "certificates validity", "COSE signature").
 */
#include "attest/verify.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/sig.h"
#include "crypto/x509.h"

typedef struct pcr_set {
	uint32_t mask;
	uint8_t len[EML_ATTEST_PCR_SLOTS];
	uint8_t val[EML_ATTEST_PCR_SLOTS][EML_ATTEST_PCR_MAXLEN];
} pcr_set;

struct eml_policy {
	uint8_t *root_der;
	size_t root_len;
	int root_is_aws;
	size_t n_sets;
	pcr_set sets[EML_POLICY_MAX_SETS];
	uint64_t max_age_ms; /* 0: no limit */
	int allow_debug;
	int at_document_time;
	int has_nonce;
	uint8_t nonce[EML_ATTEST_FIELD_MAX];
	size_t nonce_len;
};

void eml_policy_free(eml_policy *p)
{
	if (p == NULL)
		return;
	eml_free(p->root_der);
	eml_free(p);
}

int eml_policy_root_is_aws(const eml_policy *p)
{
	return p->root_is_aws;
}

/* Hex of 1..max bytes into out; EML_E_ATTEST_POLICY when malformed. */
static int policy_hex(const json_t *v, uint8_t *out, size_t max, size_t *len)
{
	const char *s;
	size_t n;
	if (!json_is_string(v))
		return EML_E_ATTEST_POLICY;
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return EML_E_ATTEST_POLICY;
	if (eml_unhex(s, out, n / 2) != EML_OK)
		return EML_E_ATTEST_POLICY;
	*len = n / 2;
	return EML_OK;
}

static int load_root(eml_policy *p, const char *root, const char *base_dir)
{
	int rc = EML_OK;
	char path[4096];
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	uint8_t fp[32], want[32];
	if (strcmp(root, "aws-nitro-g1") == 0) {
		p->root_der = eml_memdup(eml_aws_nitro_root_g1_der, eml_aws_nitro_root_g1_der_len);
		EML_ENSURE(p->root_der != NULL, EML_E_NOMEM);
		p->root_len = eml_aws_nitro_root_g1_der_len;
		/* Self-check of the built-in copy against the published fingerprint. */
		EML_GUARD(eml_sha256(p->root_der, p->root_len, fp));
		EML_GUARD(eml_unhex(EML_AWS_NITRO_ROOT_G1_SHA256, want, 32));
		EML_ENSURE(eml_ct_eq(fp, want, 32), EML_E_INTERNAL);
		p->root_is_aws = 1;
		goto out;
	}
	if (root[0] != '/' && base_dir != NULL && base_dir[0] != '\0')
		EML_ENSURE(snprintf(path, sizeof(path), "%s/%s", base_dir, root) <
		               (int)sizeof(path),
		           EML_E_ATTEST_POLICY);
	else
		EML_ENSURE(snprintf(path, sizeof(path), "%s", root) < (int)sizeof(path),
		           EML_E_ATTEST_POLICY);
	rc = eml_file_read(path, 64 * 1024, &pem, &pem_len);
	EML_ENSURE(rc == EML_OK, rc == EML_E_NOMEM ? rc : EML_E_ATTEST_POLICY);
	rc = eml_x509_pem_to_der(pem, pem_len, &p->root_der, &p->root_len);
	EML_ENSURE(rc == EML_OK, rc == EML_E_NOMEM ? rc : EML_E_ATTEST_POLICY);
	/* A PEM that happens to be AWS's root is still AWS's root. */
	EML_GUARD(eml_sha256(p->root_der, p->root_len, fp));
	EML_GUARD(eml_unhex(EML_AWS_NITRO_ROOT_G1_SHA256, want, 32));
	p->root_is_aws = eml_ct_eq(fp, want, 32);
out:
	eml_free(pem);
	return rc;
}

static int parse_pcr_set(const json_t *o, pcr_set *s)
{
	const char *k;
	json_t *v;
	if (!json_is_object(o) || json_object_size(o) == 0)
		return EML_E_ATTEST_POLICY;
	json_object_foreach((json_t *)o, k, v)
	{
		char *end = NULL;
		size_t len = 0;
		long idx;
		/* Keys are "0".."15" (PCR0..15), or "pcrN". (json_object_foreach needs k intact.) */
		const char *num = k;
		if (strncmp(num, "pcr", 3) == 0 || strncmp(num, "PCR", 3) == 0)
			num += 3;
		if (num[0] < '0' || num[0] > '9')
			return EML_E_ATTEST_POLICY;
		idx = strtol(num, &end, 10);
		if (*end != '\0' || idx < 0 || idx > 15 || (s->mask & (1u << idx)))
			return EML_E_ATTEST_POLICY;
		if (policy_hex(v, s->val[idx], EML_ATTEST_PCR_MAXLEN, &len) != EML_OK)
			return EML_E_ATTEST_POLICY;
		if (len != 32 && len != 48 && len != 64)
			return EML_E_ATTEST_POLICY;
		s->len[idx] = (uint8_t)len;
		s->mask |= 1u << idx;
	}
	return EML_OK;
}

int eml_policy_parse_json(const char *json, size_t len, const char *base_dir, eml_policy **out)
{
	int rc = EML_OK;
	json_error_t jerr;
	json_t *j = NULL, *v;
	eml_policy *p = NULL;
	const char *k;
	const char *root = "aws-nitro-g1";
	const char *want_fp = NULL;
	static const char *const known[] = {
	    "version",     "root",  "root_sha256",       "pcrs",   "max_age_ms",
	    "allow_debug", "nonce", "check_validity_at", "comment"};
	EML_ENSURE(len <= EML_POLICY_MAX_BYTES, EML_E_ATTEST_POLICY);
	j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	EML_ENSURE(j != NULL && json_is_object(j), EML_E_ATTEST_POLICY);
	p = eml_calloc(1, sizeof(*p));
	EML_ENSURE(p != NULL, EML_E_NOMEM);
	p->max_age_ms = EML_POLICY_DEFAULT_MAX_AGE_MS;
	/* Unknown keys are refused: a typo must not silently weaken a security policy. */
	json_object_foreach(j, k, v)
	{
		size_t i;
		for (i = 0; i < EML_ARRAY_LEN(known); i++)
			if (strcmp(k, known[i]) == 0)
				break;
		EML_ENSURE(i < EML_ARRAY_LEN(known), EML_E_ATTEST_POLICY);
	}
	v = json_object_get(j, "version");
	EML_ENSURE(v == NULL || (json_is_integer(v) && json_integer_value(v) == 1),
	           EML_E_ATTEST_POLICY);
	v = json_object_get(j, "root");
	if (v != NULL) {
		EML_ENSURE(json_is_string(v) && json_string_length(v) > 0, EML_E_ATTEST_POLICY);
		root = json_string_value(v);
	}
	v = json_object_get(j, "root_sha256");
	if (v != NULL) {
		EML_ENSURE(json_is_string(v) && json_string_length(v) == 64, EML_E_ATTEST_POLICY);
		want_fp = json_string_value(v);
	}
	EML_GUARD(load_root(p, root, base_dir));
	if (want_fp != NULL) {
		uint8_t fp[32], want[32];
		EML_ENSURE(eml_unhex(want_fp, want, 32) == EML_OK, EML_E_ATTEST_POLICY);
		EML_GUARD(eml_sha256(p->root_der, p->root_len, fp));
		EML_ENSURE(eml_ct_eq(fp, want, 32), EML_E_ATTEST_POLICY);
	}
	/* PCR sets: at least one, each with at least one PCR (a policy that pins nothing would
	 * accept any enclave image). */
	v = json_object_get(j, "pcrs");
	EML_ENSURE(json_is_array(v) && json_array_size(v) >= 1 &&
	               json_array_size(v) <= EML_POLICY_MAX_SETS,
	           EML_E_ATTEST_POLICY);
	for (size_t i = 0; i < json_array_size(v); i++)
		EML_GUARD(parse_pcr_set(json_array_get(v, i), &p->sets[i]));
	p->n_sets = json_array_size(v);
	v = json_object_get(j, "max_age_ms");
	if (v != NULL) {
		EML_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, EML_E_ATTEST_POLICY);
		p->max_age_ms = (uint64_t)json_integer_value(v);
	}
	v = json_object_get(j, "allow_debug");
	if (v != NULL) {
		EML_ENSURE(json_is_boolean(v), EML_E_ATTEST_POLICY);
		p->allow_debug = json_is_true(v);
	}
	v = json_object_get(j, "nonce");
	if (v != NULL) {
		EML_GUARD(policy_hex(v, p->nonce, sizeof(p->nonce), &p->nonce_len));
		p->has_nonce = 1;
	}
	v = json_object_get(j, "check_validity_at");
	if (v != NULL) {
		EML_ENSURE(json_is_string(v), EML_E_ATTEST_POLICY);
		if (strcmp(json_string_value(v), "document") == 0)
			p->at_document_time = 1;
		else
			EML_ENSURE(strcmp(json_string_value(v), "now") == 0, EML_E_ATTEST_POLICY);
	}
	*out = p;
	p = NULL;
out:
	if (j != NULL)
		json_decref(j);
	eml_policy_free(p);
	return rc;
}

int eml_policy_load_file(const char *path, eml_policy **out)
{
	int rc = EML_OK;
	uint8_t *buf = NULL;
	size_t len = 0;
	char dir[4096];
	const char *slash;
	rc = eml_file_read(path, EML_POLICY_MAX_BYTES, &buf, &len);
	EML_ENSURE(rc == EML_OK, rc == EML_E_LIMIT ? EML_E_ATTEST_POLICY : rc);
	slash = strrchr(path, '/');
	if (slash == NULL) {
		dir[0] = '\0';
	} else {
		size_t n = (size_t)(slash - path);
		EML_ENSURE(n < sizeof(dir), EML_E_ATTEST_POLICY);
		memcpy(dir, path, n);
		dir[n] = '\0';
		if (n == 0)
			strcpy(dir, "/");
	}
	EML_GUARD(eml_policy_parse_json((const char *)buf, len, dir, out));
out:
	eml_free(buf);
	return rc;
}

static int64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Constant-time match of the document's PCRs against one set: every pinned PCR must be present
 * with the same length and value. */
static int set_matches(const pcr_set *s, const eml_attest_doc *d)
{
	unsigned ok = 1;
	for (unsigned i = 0; i < EML_ATTEST_PCR_SLOTS; i++) {
		if (!(s->mask & (1u << i)))
			continue;
		if (!(d->pcr_mask & (1u << i)) || d->pcr_len[i] != s->len[i]) {
			ok = 0;
			continue;
		}
		ok &= (unsigned)eml_ct_eq(d->pcrs[i], s->val[i], s->len[i]);
	}
	return (int)ok;
}

static int is_debug(const eml_attest_doc *d)
{
	static const uint8_t zero[EML_ATTEST_PCR_MAXLEN];
	for (unsigned i = 0; i < 3; i++)
		if (!(d->pcr_mask & (1u << i)) || !eml_ct_eq(d->pcrs[i], zero, d->pcr_len[i]))
			return 0;
	return 1;
}

int eml_attest_verify(const uint8_t *doc, size_t len, const eml_policy *pol,
                      const eml_verify_opts *opts, eml_attest_claims *out)
{
	int rc = EML_OK;
	eml_attest_doc d;
	eml_der_view leaf, bundle[EML_ATTEST_CABUNDLE_MAX];
	uint8_t *tbs = NULL;
	size_t tbs_len = 0;
	int64_t now_ms;
	int at_doc;
	int matched = -1;
	const uint8_t *want_nonce = NULL;
	size_t want_nonce_len = 0;
	static const eml_verify_opts no_opts;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (opts == NULL)
		opts = &no_opts;
	memset(&d, 0, sizeof(d)); /* so that the cleanup at out: is safe on every path */
	EML_ENSURE(pol != NULL && opts->now_ms >= 0, EML_E_ARG);
	now_ms = opts->now_ms != 0 ? opts->now_ms : clock_ms();
	at_doc = opts->at_document_time || pol->at_document_time;

	/* 1. Structure, field types and sizes. */
	EML_GUARD(eml_attest_doc_parse(doc, len, &d));

	/* 2. Chain: certificate <- cabundle (reversed) <- pinned root, at now or document time;
	 * 3. then ES384 over Sig_structure (RFC 9052 §4.4) with the leaf's key. */
	leaf.der = d.certificate;
	leaf.len = d.certificate_len;
	for (size_t i = 0; i < d.cabundle_n; i++) {
		bundle[i].der = d.cabundle[i];
		bundle[i].len = d.cabundle_len[i];
	}
	EML_GUARD(eml_attest_sig_structure(d.protected_hdr, d.protected_len, d.payload,
	                                   d.payload_len, &tbs, &tbs_len));
	EML_GUARD(eml_x509_verify_chain(&leaf, bundle, d.cabundle_n, pol->root_der, pol->root_len,
	                                at_doc ? (int64_t)(d.timestamp_ms / 1000) : now_ms / 1000,
	                                tbs, tbs_len, d.sig));

	/* 4. Debug mode: Nitro zeroes PCR0..2 for enclaves run with --debug-mode. */
	EML_ENSURE(!is_debug(&d) || pol->allow_debug, EML_E_ATTEST_DEBUG);

	/* 5. PCRs: the document must satisfy at least one allowed set (all sets are evaluated). */
	for (size_t i = 0; i < pol->n_sets; i++)
		if (set_matches(&pol->sets[i], &d) && matched < 0)
			matched = (int)i;
	EML_ENSURE(matched >= 0, EML_E_ATTEST_PCR);

	/* 6. Nonce. */
	if (opts->nonce != NULL) {
		want_nonce = opts->nonce;
		want_nonce_len = opts->nonce_len;
	} else if (pol->has_nonce) {
		want_nonce = pol->nonce;
		want_nonce_len = pol->nonce_len;
	}
	if (want_nonce != NULL)
		EML_ENSURE(d.has_nonce && d.nonce_len == want_nonce_len &&
		               eml_ct_eq(d.nonce, want_nonce, want_nonce_len),
		           EML_E_ATTEST_NONCE);

	/* 7. Freshness (skipped for document-time audits, whose "now" is the document's time). */
	if (!at_doc) {
		EML_ENSURE(d.timestamp_ms <= (uint64_t)now_ms + EML_ATTEST_MAX_SKEW_MS,
		           EML_E_ATTEST_FUTURE);
		if (pol->max_age_ms != 0 && d.timestamp_ms < (uint64_t)now_ms)
			EML_ENSURE((uint64_t)now_ms - d.timestamp_ms <= pol->max_age_ms,
			           EML_E_ATTEST_TOO_OLD);
	}

	if (out != NULL) {
		memcpy(out->module_id, d.module_id, sizeof(out->module_id));
		out->timestamp_ms = d.timestamp_ms;
		out->pcr_mask = d.pcr_mask;
		memcpy(out->pcr_len, d.pcr_len, sizeof(out->pcr_len));
		memcpy(out->pcrs, d.pcrs, sizeof(out->pcrs));
		out->has_public_key = d.has_public_key;
		out->has_user_data = d.has_user_data;
		out->has_nonce = d.has_nonce;
		memcpy(out->public_key, d.public_key, d.public_key_len);
		out->public_key_len = d.public_key_len;
		memcpy(out->user_data, d.user_data, d.user_data_len);
		out->user_data_len = d.user_data_len;
		memcpy(out->nonce, d.nonce, d.nonce_len);
		out->nonce_len = d.nonce_len;
		EML_GUARD(eml_sha256(d.certificate, d.certificate_len, out->leaf_sha256));
		EML_GUARD(eml_sha256(pol->root_der, pol->root_len, out->root_sha256));
		EML_GUARD(eml_sha256(doc, len, out->doc_sha256));
		out->debug_mode = is_debug(&d);
		out->simulated = !pol->root_is_aws;
		out->at_document_time = at_doc;
		out->matched_set = matched;
	}
out:
	if (rc != EML_OK && out != NULL)
		eml_attest_claims_cleanup(out);
	eml_free(tbs);
	eml_attest_doc_cleanup(&d);
	return rc;
}

void eml_attest_claims_cleanup(eml_attest_claims *c)
{
	if (c != NULL)
		eml_wipe(c, sizeof(*c));
}

int eml_attest_user_data_build(const uint8_t ed25519_pub[32], uint8_t out[EML_USER_DATA_LEN])
{
	memcpy(out, "EML1", 4);
	return eml_sha256(ed25519_pub, 32, out + 4);
}

int eml_attest_user_data_check(const eml_attest_claims *c, const uint8_t ed25519_pub[32])
{
	uint8_t want[EML_USER_DATA_LEN];
	int rc = eml_attest_user_data_build(ed25519_pub, want);
	if (rc != EML_OK)
		return rc;
	if (!c->has_user_data || c->user_data_len != EML_USER_DATA_LEN ||
	    !eml_ct_eq(c->user_data, want, EML_USER_DATA_LEN))
		return EML_E_ATTEST_KEY_BINDING;
	return EML_OK;
}
