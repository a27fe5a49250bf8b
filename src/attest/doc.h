/*
 * Nitro attestation documents (AWS aws-nitro-enclaves-nsm-api, docs/attestation_process.md):
 * COSE_Sign1 (RFC 9052 §4.2) with protected header {1: -35} (ES384) over a CBOR map
 * {module_id, digest, timestamp, pcrs, certificate, cabundle, public_key, user_data, nonce}.
 *
 * Parsing is strict (libcbor, the only code that includes it is src/attest/): tagged (18) or
 * untagged COSE_Sign1; definite or indefinite-length items; no duplicate keys, no unknown
 * payload keys, no unknown critical headers, no trailing bytes; sizes within the spec.
 * Encoding (for the simulated NSM and the NSM device requests) is a small deterministic writer.
 *
 * Thread-safety: reentrant. eml_attest_doc_cleanup wipes.
 */
#ifndef EML_ATTEST_DOC_H
#define EML_ATTEST_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"

/* Limits from the Nitro attestation document specification (attestation_process.md §3.2). */
#define EML_ATTEST_PAYLOAD_MAX 16384 /* the payload map */
#define EML_ATTEST_DOC_MAX (EML_ATTEST_PAYLOAD_MAX + 1024)
#define EML_ATTEST_FIELD_MAX 1024 /* public_key, user_data, nonce */
#define EML_ATTEST_CERT_MAX 1024  /* certificate and each cabundle entry */
#define EML_ATTEST_CABUNDLE_MAX 16
#define EML_ATTEST_PCR_SLOTS 32 /* indices 0..31 */
#define EML_ATTEST_PCR_MAXLEN 64
#define EML_ATTEST_MODULE_ID_MAX 256
#define EML_ATTEST_PROTECTED_MAX 64
#define EML_ATTEST_SIG_LEN 96           /* ES384 raw r||s */
#define EML_ATTEST_HEADER_LABELS_MAX 16 /* labels in each COSE header bucket */

typedef struct eml_attest_doc {
	int tagged;
	uint8_t *protected_hdr;
	size_t protected_len;
	uint8_t *payload;
	size_t payload_len;
	uint8_t sig[EML_ATTEST_SIG_LEN];

	char module_id[EML_ATTEST_MODULE_ID_MAX + 1];
	uint64_t timestamp_ms;
	uint32_t pcr_mask; /* bit i set when PCR i is present */
	uint8_t pcr_len[EML_ATTEST_PCR_SLOTS];
	uint8_t pcrs[EML_ATTEST_PCR_SLOTS][EML_ATTEST_PCR_MAXLEN];
	uint8_t *certificate;
	size_t certificate_len;
	size_t cabundle_n;
	uint8_t *cabundle[EML_ATTEST_CABUNDLE_MAX];
	size_t cabundle_len[EML_ATTEST_CABUNDLE_MAX];
	int has_public_key, has_user_data, has_nonce;
	uint8_t public_key[EML_ATTEST_FIELD_MAX];
	size_t public_key_len;
	uint8_t user_data[EML_ATTEST_FIELD_MAX];
	size_t user_data_len;
	uint8_t nonce[EML_ATTEST_FIELD_MAX];
	size_t nonce_len;
} eml_attest_doc;

/*
 * Parse and check the structure of a document. *d is overwritten (no need to initialise) and must
 * be released with eml_attest_doc_cleanup, also after a failure.
 * Returns EML_OK or one of EML_E_ATTEST_ENCODING (not CBOR/COSE_Sign1, trailing bytes),
 * EML_E_ATTEST_HEADER (algorithm other than ES384, critical headers), EML_E_ATTEST_FIELD
 * (missing, duplicate, unknown or mistyped field), EML_E_ATTEST_SIZE (sizes outside the spec),
 * EML_E_NOMEM.
 */
int eml_attest_doc_parse(const uint8_t *doc, size_t len, eml_attest_doc *d);
void eml_attest_doc_cleanup(eml_attest_doc *d);

/* Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4), eml_alloc'd. */
int eml_attest_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                             size_t payload_len, uint8_t **out, size_t *out_len);

/* Fields of a document to encode (the simulated NSM). NULL pointers encode as CBOR null. */
typedef struct eml_attest_fields {
	const char *module_id;
	uint64_t timestamp_ms;
	uint32_t pcr_mask;
	const uint8_t (*pcrs)[EML_ATTEST_PCR_MAXLEN];
	size_t pcr_len; /* every PCR present has this length (48 for SHA384) */
	const uint8_t *certificate;
	size_t certificate_len;
	const uint8_t *const *cabundle;
	const size_t *cabundle_len;
	size_t cabundle_n;
	const uint8_t *public_key, *user_data, *nonce;
	size_t public_key_len, user_data_len, nonce_len;
} eml_attest_fields;

/* The payload map in the NSM's key order, definite lengths (eml_alloc'd). */
int eml_attest_payload_encode(const eml_attest_fields *f, uint8_t **out, size_t *out_len);
/* The untagged COSE_Sign1 array [protected, {}, payload, signature] (eml_alloc'd). */
int eml_attest_cose_encode(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                           size_t payload_len, const uint8_t sig[EML_ATTEST_SIG_LEN], uint8_t **out,
                           size_t *out_len);
/* The protected header NSM uses: a1 01 38 22 = {1: -35}. */
extern const uint8_t eml_attest_es384_protected[4];

/*
 * Structural pre-check of untrusted CBOR before libcbor sees it: exactly one well-formed item
 * (no trailing bytes), nesting at most EML_CBOR_MAX_DEPTH, and no declared length or element
 * count larger than the bytes that remain (libcbor 0.8 allocates for a declared count before
 * reading the elements). EML_OK or EML_E_ATTEST_ENCODING.
 */
#define EML_CBOR_MAX_DEPTH 16
int eml_cbor_precheck(const uint8_t *p, size_t len);

/* A small deterministic CBOR writer (RFC 8949 §3, shortest-form heads, definite lengths). */
void eml_cbor_head(eml_buf *b, unsigned major, uint64_t v);
void eml_cbor_bytes(eml_buf *b, const uint8_t *p, size_t n); /* NULL p: null */
void eml_cbor_text(eml_buf *b, const char *s);
void eml_cbor_uint(eml_buf *b, uint64_t v);
void eml_cbor_null(eml_buf *b);

/* Decode base64 (standard alphabet, '=' padding, ASCII whitespace ignored), eml_alloc'd. */
int eml_attest_b64_decode(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

#endif
