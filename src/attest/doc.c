/*
 * Nitro attestation document parsing (libcbor) and encoding (own writer).
 * Spec: aws-nitro-enclaves-nsm-api docs/attestation_process.md; COSE_Sign1: RFC 9052 §4.2.
 */
#include "attest/doc.h"

#include <cbor.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"

const uint8_t eml_attest_es384_protected[4] = {0xa1, 0x01, 0x38, 0x22};

/* Bytes of a byte string (definite or indefinite) into a fresh buffer; at most max bytes. */
static int get_bytes(const cbor_item_t *it, size_t max, uint8_t *dst, size_t *len)
{
	size_t n = 0;
	if (!cbor_isa_bytestring(it))
		return EML_E_ATTEST_FIELD;
	if (cbor_bytestring_is_definite(it)) {
		n = cbor_bytestring_length(it);
		if (n > max)
			return EML_E_ATTEST_SIZE;
		if (n > 0)
			memcpy(dst, cbor_bytestring_handle(it), n);
	} else {
		cbor_item_t **ch = cbor_bytestring_chunks_handle(it);
		size_t k = cbor_bytestring_chunk_count(it);
		for (size_t i = 0; i < k; i++) {
			size_t m;
			if (!cbor_isa_bytestring(ch[i]) || !cbor_bytestring_is_definite(ch[i]))
				return EML_E_ATTEST_ENCODING;
			m = cbor_bytestring_length(ch[i]);
			if (m > max - n)
				return EML_E_ATTEST_SIZE;
			if (m > 0)
				memcpy(dst + n, cbor_bytestring_handle(ch[i]), m);
			n += m;
		}
	}
	*len = n;
	return EML_OK;
}

/* Total length of a byte string, for allocating before copying. */
static int bytes_len(const cbor_item_t *it, size_t *len)
{
	size_t n = 0;
	if (!cbor_isa_bytestring(it))
		return EML_E_ATTEST_FIELD;
	if (cbor_bytestring_is_definite(it)) {
		*len = cbor_bytestring_length(it);
		return EML_OK;
	}
	cbor_item_t **ch = cbor_bytestring_chunks_handle(it);
	for (size_t i = 0; i < cbor_bytestring_chunk_count(it); i++) {
		if (!cbor_isa_bytestring(ch[i]) || !cbor_bytestring_is_definite(ch[i]))
			return EML_E_ATTEST_ENCODING;
		n += cbor_bytestring_length(ch[i]);
	}
	*len = n;
	return EML_OK;
}

static int dup_bytes(const cbor_item_t *it, size_t min, size_t max, uint8_t **out, size_t *len)
{
	int rc = EML_OK;
	size_t n = 0;
	uint8_t *p = NULL;
	EML_GUARD(bytes_len(it, &n));
	EML_ENSURE(n >= min && n <= max, EML_E_ATTEST_SIZE);
	p = eml_alloc(n ? n : 1);
	EML_ENSURE(p != NULL, EML_E_NOMEM);
	EML_GUARD(get_bytes(it, n, p, len));
	*out = p;
	p = NULL;
out:
	eml_free(p);
	return rc;
}

/* Text string into dst (NUL-terminated, at most max bytes of text). */
static int get_text(const cbor_item_t *it, char *dst, size_t max, size_t *len)
{
	size_t n = 0;
	if (!cbor_isa_string(it))
		return EML_E_ATTEST_FIELD;
	if (cbor_string_is_definite(it)) {
		n = cbor_string_length(it);
		if (n > max)
			return EML_E_ATTEST_SIZE;
		if (n > 0)
			memcpy(dst, cbor_string_handle(it), n);
	} else {
		cbor_item_t **ch = cbor_string_chunks_handle(it);
		for (size_t i = 0; i < cbor_string_chunk_count(it); i++) {
			size_t m;
			if (!cbor_isa_string(ch[i]) || !cbor_string_is_definite(ch[i]))
				return EML_E_ATTEST_ENCODING;
			m = cbor_string_length(ch[i]);
			if (m > max - n)
				return EML_E_ATTEST_SIZE;
			if (m > 0)
				memcpy(dst + n, cbor_string_handle(ch[i]), m);
			n += m;
		}
	}
	dst[n] = '\0';
	if (memchr(dst, '\0', n) != NULL)
		return EML_E_ATTEST_FIELD;
	if (len != NULL)
		*len = n;
	return EML_OK;
}

static int get_uint(const cbor_item_t *it, uint64_t *v)
{
	if (!cbor_isa_uint(it))
		return EML_E_ATTEST_FIELD;
	*v = cbor_get_int(it);
	return EML_OK;
}

/* Equality of two map keys of the kinds we accept (uint, negint, text), for duplicate checks. */
static int key_eq(const cbor_item_t *a, const cbor_item_t *b)
{
	char ta[EML_ATTEST_MODULE_ID_MAX + 1], tb[EML_ATTEST_MODULE_ID_MAX + 1];
	size_t la, lb;
	if (cbor_typeof(a) != cbor_typeof(b))
		return 0;
	if (cbor_isa_uint(a) || cbor_isa_negint(a))
		return cbor_get_int(a) == cbor_get_int(b);
	if (cbor_isa_string(a)) {
		if (get_text(a, ta, sizeof(ta) - 1, &la) != EML_OK ||
		    get_text(b, tb, sizeof(tb) - 1, &lb) != EML_OK)
			return 1; /* unreadable keys are refused by the caller anyway */
		return la == lb && memcmp(ta, tb, la) == 0;
	}
	return 1; /* other key types are refused by callers; treat as clash */
}

static int map_has_duplicates(const cbor_item_t *map)
{
	struct cbor_pair *p = cbor_map_handle(map);
	size_t n = cbor_map_size(map);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (key_eq(p[i].key, p[j].key))
				return 1;
	return 0;
}

int eml_cbor_precheck(const uint8_t *p, size_t len)
{
	struct {
		uint64_t left;
		int indef;
	} st[EML_CBOR_MAX_DEPTH];
	size_t depth = 1;
	eml_cursor c;
	eml_cur_init(&c, p, len);
	st[0].left = 1;
	st[0].indef = 0;
	while (depth > 0) {
		uint8_t b, major, ai;
		uint64_t val = 0;
		if (!st[depth - 1].indef && st[depth - 1].left == 0) {
			depth--;
			continue;
		}
		if (eml_cur_u8(&c, &b) != EML_OK)
			return EML_E_ATTEST_ENCODING;
		if (b == 0xff) { /* "break" ends an indefinite-length item, nothing else */
			if (!st[depth - 1].indef)
				return EML_E_ATTEST_ENCODING;
			depth--;
			continue;
		}
		if (!st[depth - 1].indef)
			st[depth - 1].left--;
		major = b >> 5;
		ai = b & 0x1f;
		if (ai < 24) {
			val = ai;
		} else if (ai <= 27) {
			size_t n = (size_t)1 << (ai - 24);
			const uint8_t *v;
			if (eml_cur_view(&c, n, &v) != EML_OK)
				return EML_E_ATTEST_ENCODING;
			for (size_t i = 0; i < n; i++)
				val = (val << 8) | v[i];
		} else if (ai != 31 || major == 0 || major == 1 || major == 6 || major == 7) {
			return EML_E_ATTEST_ENCODING; /* reserved, or indefinite where not allowed */
		}
		size_t rem = eml_cur_remaining(&c);
		int push = 0, indef = ai == 31;
		uint64_t items = 0;
		switch (major) {
		case 2:
		case 3:
			if (indef)
				push = 1;
			else if (val > rem)
				return EML_E_ATTEST_ENCODING;
			else
				eml_cur_skip(&c, (size_t)val);
			break;
		case 4:
		case 5:
			/* Every element takes at least one byte: a declared count beyond what remains is
			 * refused before libcbor allocates for it. */
			if (!indef && (val > rem || (major == 5 && val > rem / 2)))
				return EML_E_ATTEST_ENCODING;
			items = major == 5 ? 2 * val : val;
			push = 1;
			break;
		case 6:
			items = 1;
			push = 1;
			break;
		default:
			break;
		}
		if (push) {
			if (depth >= EML_CBOR_MAX_DEPTH)
				return EML_E_ATTEST_ENCODING;
			st[depth].left = items;
			st[depth].indef = indef;
			depth++;
		}
	}
	return eml_cur_end(&c) == EML_OK ? EML_OK : EML_E_ATTEST_ENCODING;
}

/* Decode exactly one CBOR item from bytes; trailing bytes or errors: EML_E_ATTEST_ENCODING. */
static int load_exact(const uint8_t *p, size_t len, cbor_item_t **out)
{
	struct cbor_load_result res;
	cbor_item_t *it;
	int rc;
	if (len == 0)
		return EML_E_ATTEST_ENCODING;
	rc = eml_cbor_precheck(p, len);
	if (rc != EML_OK)
		return rc;
	it = cbor_load(p, len, &res);
	if (it == NULL) {
		if (res.error.code == CBOR_ERR_MEMERROR)
			return EML_E_NOMEM;
		return EML_E_ATTEST_ENCODING;
	}
	if (res.error.code != CBOR_ERR_NONE || res.read != len) {
		cbor_decref(&it);
		return EML_E_ATTEST_ENCODING;
	}
	*out = it;
	return EML_OK;
}

/* RFC 9052 §3.1: the protected header must name ES384 (-35); no critical (2) headers are
 * understood, so any crit is refused. Other labels are tolerated but never duplicated. */
static int check_protected(const uint8_t *p, size_t len)
{
	int rc = EML_OK;
	cbor_item_t *h = NULL;
	int have_alg = 0;
	EML_ENSURE(len > 0 && len <= EML_ATTEST_PROTECTED_MAX, EML_E_ATTEST_HEADER);
	rc = load_exact(p, len, &h);
	if (rc == EML_E_ATTEST_ENCODING)
		rc = EML_E_ATTEST_HEADER;
	EML_GUARD(rc);
	EML_ENSURE(cbor_isa_map(h), EML_E_ATTEST_HEADER);
	EML_ENSURE(cbor_map_size(h) <= EML_ATTEST_HEADER_LABELS_MAX, EML_E_ATTEST_HEADER);
	EML_ENSURE(!map_has_duplicates(h), EML_E_ATTEST_HEADER);
	struct cbor_pair *pr = cbor_map_handle(h);
	for (size_t i = 0; i < cbor_map_size(h); i++) {
		const cbor_item_t *k = pr[i].key, *v = pr[i].value;
		EML_ENSURE(cbor_isa_uint(k) || cbor_isa_negint(k) || cbor_isa_string(k),
		           EML_E_ATTEST_HEADER);
		if (!cbor_isa_uint(k))
			continue;
		if (cbor_get_int(k) == 1) {
			/* alg: -35 is negint with value 34 */
			EML_ENSURE(cbor_isa_negint(v) && cbor_get_int(v) == 34,
			           EML_E_ATTEST_HEADER);
			have_alg = 1;
		} else if (cbor_get_int(k) == 2) {
			EML_FAIL(EML_E_ATTEST_HEADER);
		}
	}
	EML_ENSURE(have_alg, EML_E_ATTEST_HEADER);
out:
	if (h != NULL)
		cbor_decref(&h);
	return rc;
}

static int parse_pcrs(const cbor_item_t *m, eml_attest_doc *d)
{
	if (!cbor_isa_map(m))
		return EML_E_ATTEST_FIELD;
	size_t n = cbor_map_size(m);
	struct cbor_pair *p = cbor_map_handle(m);
	if (n == 0 || n > EML_ATTEST_PCR_SLOTS)
		return EML_E_ATTEST_SIZE;
	for (size_t i = 0; i < n; i++) {
		uint64_t idx;
		size_t len = 0;
		int rc;
		if (get_uint(p[i].key, &idx) != EML_OK)
			return EML_E_ATTEST_FIELD;
		if (idx >= EML_ATTEST_PCR_SLOTS)
			return EML_E_ATTEST_SIZE;
		if (d->pcr_mask & (1u << idx))
			return EML_E_ATTEST_FIELD; /* duplicate index */
		rc = get_bytes(p[i].value, EML_ATTEST_PCR_MAXLEN, d->pcrs[idx], &len);
		if (rc != EML_OK)
			return rc;
		if (len != 32 && len != 48 && len != 64)
			return EML_E_ATTEST_SIZE;
		d->pcr_len[idx] = (uint8_t)len;
		d->pcr_mask |= 1u << idx;
	}
	return EML_OK;
}

static int parse_opt_bytes(const cbor_item_t *v, uint8_t *dst, size_t *len, int *has)
{
	if (cbor_is_null(v)) {
		*has = 0;
		*len = 0;
		return EML_OK;
	}
	*has = 1;
	return get_bytes(v, EML_ATTEST_FIELD_MAX, dst, len);
}

enum {
	F_MODULE_ID = 1u << 0,
	F_DIGEST = 1u << 1,
	F_TIMESTAMP = 1u << 2,
	F_PCRS = 1u << 3,
	F_CERTIFICATE = 1u << 4,
	F_CABUNDLE = 1u << 5,
	F_PUBLIC_KEY = 1u << 6,
	F_USER_DATA = 1u << 7,
	F_NONCE = 1u << 8,
	F_REQUIRED = F_MODULE_ID | F_DIGEST | F_TIMESTAMP | F_PCRS | F_CERTIFICATE | F_CABUNDLE,
};

static const char *const field_names[] = {"module_id",  "digest",      "timestamp",
                                          "pcrs",       "certificate", "cabundle",
                                          "public_key", "user_data",   "nonce"};

static int parse_payload(const cbor_item_t *m, eml_attest_doc *d)
{
	int rc = EML_OK;
	unsigned seen = 0;
	char key[16], digest[16];
	size_t n;
	struct cbor_pair *p;
	EML_ENSURE(cbor_isa_map(m), EML_E_ATTEST_FIELD);
	n = cbor_map_size(m);
	p = cbor_map_handle(m);
	EML_ENSURE(n <= EML_ARRAY_LEN(field_names), EML_E_ATTEST_FIELD);
	for (size_t i = 0; i < n; i++) {
		size_t f = EML_ARRAY_LEN(field_names);
		const cbor_item_t *v = p[i].value;
		rc = get_text(p[i].key, key, sizeof(key) - 1, NULL);
		EML_ENSURE(rc == EML_OK, rc == EML_E_ATTEST_ENCODING ? rc : EML_E_ATTEST_FIELD);
		for (size_t j = 0; j < EML_ARRAY_LEN(field_names); j++)
			if (strcmp(key, field_names[j]) == 0)
				f = j;
		EML_ENSURE(f < EML_ARRAY_LEN(field_names), EML_E_ATTEST_FIELD);
		EML_ENSURE(!(seen & (1u << f)), EML_E_ATTEST_FIELD); /* duplicate key */
		seen |= 1u << f;
		switch (1u << f) {
		case F_MODULE_ID: {
			size_t len = 0;
			EML_GUARD(get_text(v, d->module_id, EML_ATTEST_MODULE_ID_MAX, &len));
			EML_ENSURE(len > 0, EML_E_ATTEST_SIZE);
			break;
		}
		case F_DIGEST:
			EML_GUARD(get_text(v, digest, sizeof(digest) - 1, NULL));
			/* Nitro uses SHA384 for every PCR bank it issues. */
			EML_ENSURE(strcmp(digest, "SHA384") == 0, EML_E_ATTEST_FIELD);
			break;
		case F_TIMESTAMP:
			EML_GUARD(get_uint(v, &d->timestamp_ms));
			EML_ENSURE(d->timestamp_ms > 0, EML_E_ATTEST_FIELD);
			break;
		case F_PCRS:
			EML_GUARD(parse_pcrs(v, d));
			break;
		case F_CERTIFICATE:
			EML_GUARD(dup_bytes(v, 1, EML_ATTEST_CERT_MAX, &d->certificate,
			                    &d->certificate_len));
			break;
		case F_CABUNDLE: {
			EML_ENSURE(cbor_isa_array(v), EML_E_ATTEST_FIELD);
			size_t k = cbor_array_size(v);
			cbor_item_t **a = cbor_array_handle(v);
			EML_ENSURE(k >= 1 && k <= EML_ATTEST_CABUNDLE_MAX, EML_E_ATTEST_SIZE);
			for (size_t j = 0; j < k; j++) {
				EML_GUARD(dup_bytes(a[j], 1, EML_ATTEST_CERT_MAX, &d->cabundle[j],
				                    &d->cabundle_len[j]));
				d->cabundle_n = j + 1;
			}
			break;
		}
		case F_PUBLIC_KEY:
			EML_GUARD(parse_opt_bytes(v, d->public_key, &d->public_key_len,
			                          &d->has_public_key));
			break;
		case F_USER_DATA:
			EML_GUARD(
			    parse_opt_bytes(v, d->user_data, &d->user_data_len, &d->has_user_data));
			break;
		case F_NONCE:
			EML_GUARD(parse_opt_bytes(v, d->nonce, &d->nonce_len, &d->has_nonce));
			break;
		default:
			EML_FAIL(EML_E_INTERNAL);
		}
	}
	EML_ENSURE((seen & F_REQUIRED) == F_REQUIRED, EML_E_ATTEST_FIELD);
out:
	return rc;
}

/* Decode a major-type-6 head (the tag number) with a bounds-checked cursor. */
static int tag_head(const uint8_t *p, size_t len, uint64_t *tag, size_t *skip)
{
	eml_cursor c;
	uint8_t b, ai;
	eml_cur_init(&c, p, len);
	if (eml_cur_u8(&c, &b) != EML_OK)
		return EML_E_ATTEST_ENCODING;
	ai = b & 0x1f;
	if (ai < 24) {
		*tag = ai;
	} else if (ai == 24) {
		uint8_t v;
		if (eml_cur_u8(&c, &v) != EML_OK)
			return EML_E_ATTEST_ENCODING;
		*tag = v;
	} else if (ai == 25) {
		const uint8_t *v;
		if (eml_cur_view(&c, 2, &v) != EML_OK)
			return EML_E_ATTEST_ENCODING;
		*tag = ((uint64_t)v[0] << 8) | v[1];
	} else if (ai == 26) {
		uint32_t v;
		if (eml_cur_u32_be(&c, &v) != EML_OK)
			return EML_E_ATTEST_ENCODING;
		*tag = v;
	} else {
		return EML_E_ATTEST_ENCODING; /* 64-bit tags and reserved values: never 18 */
	}
	*skip = c.pos;
	return EML_OK;
}

int eml_attest_doc_parse(const uint8_t *doc, size_t len, eml_attest_doc *d)
{
	int rc = EML_OK;
	cbor_item_t *root = NULL, *arr, *payload = NULL;
	cbor_item_t **a;
	size_t n = 0;
	memset(d, 0, sizeof(*d));
	EML_ENSURE(doc != NULL && len > 0, EML_E_ATTEST_ENCODING);
	EML_ENSURE(len <= EML_ATTEST_DOC_MAX, EML_E_ATTEST_SIZE);
	/* RFC 9052 §2: COSE_Sign1_Tagged = #6.18(COSE_Sign1). The tag is read here, not by
	 * libcbor: libcbor 0.8 refuses the one-byte head 0xd2 (tags 6..20 were unassigned in
	 * RFC 7049), which is exactly how COSE_Sign1_Tagged is encoded. */
	if ((doc[0] >> 5) == 6) {
		uint64_t tag = 0;
		size_t skip = 0;
		EML_GUARD(tag_head(doc, len, &tag, &skip));
		EML_ENSURE(tag == 18, EML_E_ATTEST_ENCODING);
		doc += skip;
		len -= skip;
		d->tagged = 1;
	}
	EML_GUARD(load_exact(doc, len, &root));
	arr = root;
	EML_ENSURE(cbor_isa_array(arr) && cbor_array_size(arr) == 4, EML_E_ATTEST_ENCODING);
	a = cbor_array_handle(arr);
	/* [0] protected: bstr .cbor header_map */
	EML_ENSURE(cbor_isa_bytestring(a[0]), EML_E_ATTEST_ENCODING);
	EML_GUARD(
	    dup_bytes(a[0], 0, EML_ATTEST_PROTECTED_MAX, &d->protected_hdr, &d->protected_len));
	EML_GUARD(check_protected(d->protected_hdr, d->protected_len));
	/* [1] unprotected: a map; nothing in it is used, but it must be well-formed. */
	EML_ENSURE(cbor_isa_map(a[1]), EML_E_ATTEST_ENCODING);
	/* The NSM sends an empty map; a handful of labels is plenty and bounds the duplicate scan. */
	EML_ENSURE(cbor_map_size(a[1]) <= EML_ATTEST_HEADER_LABELS_MAX, EML_E_ATTEST_HEADER);
	EML_ENSURE(!map_has_duplicates(a[1]), EML_E_ATTEST_HEADER);
	for (size_t i = 0; i < cbor_map_size(a[1]); i++) {
		const cbor_item_t *k = cbor_map_handle(a[1])[i].key;
		/* crit or alg outside the protected bucket is not allowed (RFC 9052 §3.1). */
		EML_ENSURE(!(cbor_isa_uint(k) && (cbor_get_int(k) == 1 || cbor_get_int(k) == 2)),
		           EML_E_ATTEST_HEADER);
	}
	/* [2] payload: bstr .cbor map (not detached: nil is refused). */
	EML_ENSURE(cbor_isa_bytestring(a[2]), EML_E_ATTEST_ENCODING);
	EML_GUARD(bytes_len(a[2], &n));
	EML_ENSURE(n <= EML_ATTEST_PAYLOAD_MAX, EML_E_ATTEST_SIZE);
	EML_GUARD(dup_bytes(a[2], 1, EML_ATTEST_PAYLOAD_MAX, &d->payload, &d->payload_len));
	/* [3] signature: ES384 raw r||s. */
	EML_ENSURE(cbor_isa_bytestring(a[3]), EML_E_ATTEST_ENCODING);
	EML_GUARD(bytes_len(a[3], &n));
	EML_ENSURE(n == EML_ATTEST_SIG_LEN, EML_E_ATTEST_SIZE);
	EML_GUARD(get_bytes(a[3], EML_ATTEST_SIG_LEN, d->sig, &n));

	EML_GUARD(load_exact(d->payload, d->payload_len, &payload));
	EML_ENSURE(cbor_isa_map(payload), EML_E_ATTEST_FIELD);
	EML_GUARD(parse_payload(payload, d));
out:
	if (payload != NULL)
		cbor_decref(&payload);
	if (root != NULL)
		cbor_decref(&root);
	return rc;
}

void eml_attest_doc_cleanup(eml_attest_doc *d)
{
	if (d == NULL)
		return;
	eml_free(d->protected_hdr);
	eml_free(d->payload);
	eml_free(d->certificate);
	for (size_t i = 0; i < EML_ATTEST_CABUNDLE_MAX; i++)
		eml_free(d->cabundle[i]);
	eml_wipe(d, sizeof(*d));
}

/* ---- encoding ---- */

void eml_cbor_head(eml_buf *b, unsigned major, uint64_t v)
{
	uint8_t m = (uint8_t)(major << 5);
	if (v < 24) {
		eml_buf_u8(b, (uint8_t)(m | v));
	} else if (v <= 0xff) {
		eml_buf_u8(b, m | 24);
		eml_buf_u8(b, (uint8_t)v);
	} else if (v <= 0xffff) {
		eml_buf_u8(b, m | 25);
		eml_buf_u8(b, (uint8_t)(v >> 8));
		eml_buf_u8(b, (uint8_t)v);
	} else if (v <= 0xffffffffu) {
		eml_buf_u8(b, m | 26);
		eml_buf_u32_be(b, (uint32_t)v);
	} else {
		eml_buf_u8(b, m | 27);
		eml_buf_u32_be(b, (uint32_t)(v >> 32));
		eml_buf_u32_be(b, (uint32_t)v);
	}
}

void eml_cbor_null(eml_buf *b)
{
	eml_buf_u8(b, 0xf6);
}

void eml_cbor_bytes(eml_buf *b, const uint8_t *p, size_t n)
{
	if (p == NULL) {
		eml_cbor_null(b);
		return;
	}
	eml_cbor_head(b, 2, n);
	eml_buf_put(b, p, n);
}

void eml_cbor_text(eml_buf *b, const char *s)
{
	size_t n = strlen(s);
	eml_cbor_head(b, 3, n);
	eml_buf_put(b, s, n);
}

void eml_cbor_uint(eml_buf *b, uint64_t v)
{
	eml_cbor_head(b, 0, v);
}

int eml_attest_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                             size_t payload_len, uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	eml_buf b;
	eml_buf_init(&b, 0);
	eml_cbor_head(&b, 4, 4);
	eml_cbor_text(&b, "Signature1");
	eml_cbor_head(&b, 2, prot_len);
	eml_buf_put(&b, prot, prot_len);
	eml_cbor_head(&b, 2, 0); /* external_aad: empty */
	eml_cbor_head(&b, 2, payload_len);
	eml_buf_put(&b, payload, payload_len);
	EML_GUARD(eml_buf_error(&b));
	*out = eml_buf_take(&b, out_len);
out:
	eml_buf_cleanup(&b);
	return rc;
}

int eml_attest_payload_encode(const eml_attest_fields *f, uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	eml_buf b;
	unsigned npcr = 0;
	eml_buf_init(&b, EML_ATTEST_PAYLOAD_MAX);
	for (unsigned i = 0; i < EML_ATTEST_PCR_SLOTS; i++)
		npcr += (f->pcr_mask >> i) & 1u;
	eml_cbor_head(&b, 5, 9);
	eml_cbor_text(&b, "module_id");
	eml_cbor_text(&b, f->module_id);
	eml_cbor_text(&b, "digest");
	eml_cbor_text(&b, "SHA384");
	eml_cbor_text(&b, "timestamp");
	eml_cbor_uint(&b, f->timestamp_ms);
	eml_cbor_text(&b, "pcrs");
	eml_cbor_head(&b, 5, npcr);
	for (unsigned i = 0; i < EML_ATTEST_PCR_SLOTS; i++) {
		if (!((f->pcr_mask >> i) & 1u))
			continue;
		eml_cbor_uint(&b, i);
		eml_cbor_bytes(&b, f->pcrs[i], f->pcr_len);
	}
	eml_cbor_text(&b, "certificate");
	eml_cbor_bytes(&b, f->certificate, f->certificate_len);
	eml_cbor_text(&b, "cabundle");
	eml_cbor_head(&b, 4, f->cabundle_n);
	for (size_t i = 0; i < f->cabundle_n; i++)
		eml_cbor_bytes(&b, f->cabundle[i], f->cabundle_len[i]);
	eml_cbor_text(&b, "public_key");
	eml_cbor_bytes(&b, f->public_key, f->public_key_len);
	eml_cbor_text(&b, "user_data");
	eml_cbor_bytes(&b, f->user_data, f->user_data_len);
	eml_cbor_text(&b, "nonce");
	eml_cbor_bytes(&b, f->nonce, f->nonce_len);
	rc = eml_buf_error(&b);
	EML_ENSURE(rc == EML_OK, rc == EML_E_LIMIT ? EML_E_ATTEST_SIZE : rc);
	*out = eml_buf_take(&b, out_len);
out:
	eml_buf_cleanup(&b);
	return rc;
}

int eml_attest_cose_encode(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                           size_t payload_len, const uint8_t sig[EML_ATTEST_SIG_LEN], uint8_t **out,
                           size_t *out_len)
{
	int rc = EML_OK;
	eml_buf b;
	eml_buf_init(&b, 0);
	eml_cbor_head(&b, 4, 4);
	eml_cbor_bytes(&b, prot, prot_len);
	eml_cbor_head(&b, 5, 0);
	eml_cbor_bytes(&b, payload, payload_len);
	eml_cbor_bytes(&b, sig, EML_ATTEST_SIG_LEN);
	EML_GUARD(eml_buf_error(&b));
	*out = eml_buf_take(&b, out_len);
out:
	eml_buf_cleanup(&b);
	return rc;
}

/* ---- base64 (RFC 4648 §4) ---- */

static int b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int eml_attest_b64_decode(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	uint8_t *o = eml_alloc(len / 4 * 3 + 3);
	size_t n = 0, pad = 0, q = 0;
	uint32_t acc = 0;
	EML_ENSURE(o != NULL, EML_E_NOMEM);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		int v;
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			EML_ENSURE(pad <= 2, EML_E_ATTEST_ENCODING);
			continue;
		}
		EML_ENSURE(pad == 0, EML_E_ATTEST_ENCODING); /* data after padding */
		v = b64_val(c);
		EML_ENSURE(v >= 0, EML_E_ATTEST_ENCODING);
		acc = (acc << 6) | (uint32_t)v;
		if (++q == 4) {
			o[n++] = (uint8_t)(acc >> 16);
			o[n++] = (uint8_t)(acc >> 8);
			o[n++] = (uint8_t)acc;
			q = 0;
			acc = 0;
		}
	}
	if (q == 2) {
		o[n++] = (uint8_t)(acc >> 4);
	} else if (q == 3) {
		o[n++] = (uint8_t)(acc >> 10);
		o[n++] = (uint8_t)(acc >> 2);
	} else {
		EML_ENSURE(q == 0, EML_E_ATTEST_ENCODING);
	}
	EML_ENSURE(pad == 0 || q + pad == 4, EML_E_ATTEST_ENCODING);
	*out = o;
	*out_len = n;
	o = NULL;
out:
	eml_free(o);
	return rc;
}
