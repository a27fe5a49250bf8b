/*
 * Helpers shared by the attestation tests: re-encoding a parsed document with one field changed,
 * removed, duplicated or mistyped; loading the real AWS vectors; writing policies.
 */
#ifndef EML_TEST_ATTEST_UTIL_H
#define EML_TEST_ATTEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/doc.h"
#include "attest/nsm.h"
#include "attest/verify.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/sig.h"
#include "crypto/x509.h"
#include "eml/error.h"
#include "prop.h"

enum { FM_KEEP, FM_CHANGE, FM_REMOVE, FM_DUP, FM_WRONGTYPE, FM__N };
enum {
	FI_MODULE_ID,
	FI_DIGEST,
	FI_TIMESTAMP,
	FI_PCRS,
	FI_CERTIFICATE,
	FI_CABUNDLE,
	FI_PUBLIC_KEY,
	FI_USER_DATA,
	FI_NONCE,
	FI__N
};
static const char *const tp_names[FI__N] = {"module_id",  "digest",      "timestamp",
                                            "pcrs",       "certificate", "cabundle",
                                            "public_key", "user_data",   "nonce"};

/* A mutable view of a document's fields. */
typedef struct tp_doc {
	const char *module_id;
	uint64_t timestamp_ms;
	uint32_t pcr_mask;
	uint8_t pcr_len[EML_ATTEST_PCR_SLOTS];
	uint8_t pcrs[EML_ATTEST_PCR_SLOTS][EML_ATTEST_PCR_MAXLEN];
	const uint8_t *cert;
	size_t cert_len;
	const uint8_t *bundle[EML_ATTEST_CABUNDLE_MAX];
	size_t bundle_len[EML_ATTEST_CABUNDLE_MAX];
	size_t bundle_n;
	const uint8_t *opt[3]; /* public_key, user_data, nonce; NULL = null */
	size_t opt_len[3];
} tp_doc;

static inline void tp_from(tp_doc *t, const eml_attest_doc *d)
{
	memset(t, 0, sizeof(*t));
	t->module_id = d->module_id;
	t->timestamp_ms = d->timestamp_ms;
	t->pcr_mask = d->pcr_mask;
	memcpy(t->pcr_len, d->pcr_len, sizeof(t->pcr_len));
	memcpy(t->pcrs, d->pcrs, sizeof(t->pcrs));
	t->cert = d->certificate;
	t->cert_len = d->certificate_len;
	t->bundle_n = d->cabundle_n;
	for (size_t i = 0; i < d->cabundle_n; i++) {
		t->bundle[i] = d->cabundle[i];
		t->bundle_len[i] = d->cabundle_len[i];
	}
	t->opt[0] = d->has_public_key ? d->public_key : NULL;
	t->opt_len[0] = d->public_key_len;
	t->opt[1] = d->has_user_data ? d->user_data : NULL;
	t->opt_len[1] = d->user_data_len;
	t->opt[2] = d->has_nonce ? d->nonce : NULL;
	t->opt_len[2] = d->nonce_len;
}

/* Flip one byte of a copy (in static scratch space per field). */
static inline const uint8_t *tp_flip(const uint8_t *p, size_t n, size_t at, uint8_t *scratch)
{
	memcpy(scratch, p, n);
	scratch[at % n] ^= 0x01;
	return scratch;
}

static inline void tp_value(eml_buf *b, const tp_doc *t, int f, int mode)
{
	static uint8_t scratch[4096];
	int ch = mode == FM_CHANGE;
	if (mode == FM_WRONGTYPE) {
		/* a type the field never has: text for byte/uint fields, uint for text fields */
		if (f == FI_MODULE_ID || f == FI_DIGEST)
			eml_cbor_uint(b, 7);
		else if (f == FI_TIMESTAMP)
			eml_cbor_text(b, "1695049410860");
		else if (f == FI_PCRS || f == FI_CABUNDLE)
			eml_cbor_bytes(b, (const uint8_t *)"x", 1);
		else
			eml_cbor_text(b, "x");
		return;
	}
	switch (f) {
	case FI_MODULE_ID: {
		char m[300];
		snprintf(m, sizeof(m), "%s", t->module_id);
		if (ch)
			m[strlen(m) - 1] ^= 0x01;
		eml_cbor_text(b, m);
		break;
	}
	case FI_DIGEST:
		eml_cbor_text(b, ch ? "SHA256" : "SHA384");
		break;
	case FI_TIMESTAMP:
		eml_cbor_uint(b, t->timestamp_ms + (ch ? 1 : 0));
		break;
	case FI_PCRS: {
		unsigned n = 0;
		for (unsigned i = 0; i < 32; i++)
			n += (t->pcr_mask >> i) & 1u;
		eml_cbor_head(b, 5, n);
		for (unsigned i = 0; i < 32; i++) {
			if (!((t->pcr_mask >> i) & 1u))
				continue;
			eml_cbor_uint(b, i);
			if (ch && i == 0)
				eml_cbor_bytes(b, tp_flip(t->pcrs[i], t->pcr_len[i], 5, scratch),
				               t->pcr_len[i]);
			else
				eml_cbor_bytes(b, t->pcrs[i], t->pcr_len[i]);
		}
		break;
	}
	case FI_CERTIFICATE:
		eml_cbor_bytes(
		    b, ch ? tp_flip(t->cert, t->cert_len, t->cert_len / 2, scratch) : t->cert,
		    t->cert_len);
		break;
	case FI_CABUNDLE:
		eml_cbor_head(b, 4, t->bundle_n);
		for (size_t i = 0; i < t->bundle_n; i++) {
			if (ch && i == t->bundle_n - 1)
				eml_cbor_bytes(b,
				               tp_flip(t->bundle[i], t->bundle_len[i],
				                       t->bundle_len[i] / 2, scratch),
				               t->bundle_len[i]);
			else
				eml_cbor_bytes(b, t->bundle[i], t->bundle_len[i]);
		}
		break;
	default: {
		int k = f - FI_PUBLIC_KEY;
		if (ch && t->opt[k] == NULL)
			eml_cbor_bytes(b, (const uint8_t *)"x", 1);
		else if (ch)
			eml_cbor_bytes(b, tp_flip(t->opt[k], t->opt_len[k], 0, scratch),
			               t->opt_len[k]);
		else
			eml_cbor_bytes(b, t->opt[k], t->opt_len[k]);
	}
	}
}

/* The payload map, field `f` in `mode` (f < 0: all kept). */
static inline void tp_payload(const tp_doc *t, int f, int mode, eml_buf *b)
{
	size_t n = FI__N + (mode == FM_DUP ? 1 : 0) - (mode == FM_REMOVE ? 1 : 0);
	eml_cbor_head(b, 5, n);
	for (int i = 0; i < FI__N; i++) {
		int m = i == f ? mode : FM_KEEP;
		if (m == FM_REMOVE)
			continue;
		eml_cbor_text(b, tp_names[i]);
		tp_value(b, t, i, m == FM_DUP ? FM_KEEP : m);
		if (m == FM_DUP) {
			eml_cbor_text(b, tp_names[i]);
			tp_value(b, t, i, FM_KEEP);
		}
	}
}

/* COSE_Sign1 around the given parts; tag >= 0 wraps it in that tag. */
static inline void tp_cose(eml_buf *b, const uint8_t *prot, size_t prot_len, const uint8_t *pl,
                           size_t pl_len, const uint8_t *sig, size_t sig_len, long tag)
{
	if (tag >= 0)
		eml_cbor_head(b, 6, (uint64_t)tag);
	eml_cbor_head(b, 4, 4);
	eml_cbor_bytes(b, prot, prot_len);
	eml_cbor_head(b, 5, 0);
	eml_cbor_bytes(b, pl, pl_len);
	eml_cbor_bytes(b, sig, sig_len);
}

static inline uint8_t *tp_read(const char *rel, size_t *len)
{
	char path[4096];
	uint8_t *p = NULL;
	snprintf(path, sizeof(path), "%s/%s", eml_test_vectors_dir(), rel);
	cr_assert_eq(eml_file_read(path, 1 << 20, &p, len), EML_OK, "cannot read %s", path);
	return p;
}

static inline eml_policy *tp_policy(const char *json)
{
	eml_policy *p = NULL;
	int rc = eml_policy_parse_json(json, strlen(json), NULL, &p);
	cr_assert_eq(rc, EML_OK, "policy refused (%s): %s", eml_err_name(rc), json);
	return p;
}

#define BETA_FILE "nitro/evervault_beta_2022-10-13.cbor"
#define GA_FILE "nitro/evervault_ga_2023-09-18.cbor"
#define BETA_TS 1665651482136LL
#define GA_TS 1695049410860LL
#define BETA_PCR0                                                                                  \
	"f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf1" \
	"5"                                                                                        \
	"0142d8b"
#define ZERO48                                                                                     \
	"0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" \
	"00000000"

#endif
