/* Message codecs; byte layouts in docs/PROTOCOL.md §3. */
#include "wire/msg.h"

#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "wire/frame.h"

/* A field read failed because the payload ended inside it. */
#define RD(expr)                                                                                   \
	do {                                                                                       \
		if ((expr) != EML_OK) {                                                            \
			rc = EML_E_MSG_TRUNCATED;                                                  \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

#define END(c) EML_ENSURE(eml_cur_remaining(c) == 0, EML_E_MSG_TRAILING)

/* ------------------------------------------------------------------ hellos */

int eml_msg_client_hello_encode(eml_buf *b, const eml_msg_client_hello *m)
{
	if (m->n_versions == 0 || m->n_versions > EML_WIRE_MAX_VERSIONS)
		return EML_E_ARG;
	eml_buf_u8(b, m->n_versions);
	for (unsigned i = 0; i < m->n_versions; i++)
		eml_wire_put_u16(b, m->versions[i]);
	eml_buf_put(b, m->nonce, EML_WIRE_NONCE_LEN);
	return eml_buf_error(b);
}

int eml_msg_client_hello_decode(const uint8_t *p, size_t n, eml_msg_client_hello *m)
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	memset(m, 0, sizeof(*m));
	RD(eml_cur_u8(&c, &m->n_versions));
	EML_ENSURE(m->n_versions >= 1 && m->n_versions <= EML_WIRE_MAX_VERSIONS,
	           EML_E_MSG_MALFORMED);
	for (unsigned i = 0; i < m->n_versions; i++) {
		RD(eml_wire_u16(&c, &m->versions[i]));
		EML_ENSURE(m->versions[i] != 0, EML_E_MSG_MALFORMED);
	}
	RD(eml_cur_copy(&c, m->nonce, EML_WIRE_NONCE_LEN));
	END(&c);
out:
	return rc;
}

int eml_msg_server_hello_encode(eml_buf *b, const eml_msg_server_hello *m)
{
	if (m->version == 0 || m->doc_len == 0 || m->doc_len > EML_WIRE_MAX_ATTEST_DOC)
		return EML_E_ARG;
	eml_wire_put_u16(b, m->version);
	eml_buf_put(b, m->session_id, EML_WIRE_SESSION_ID_LEN);
	eml_wire_put_u32(b, m->doc_len);
	eml_buf_put(b, m->doc, m->doc_len);
	return eml_buf_error(b);
}

int eml_msg_server_hello_decode(const uint8_t *p, size_t n, eml_msg_server_hello *m)
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	memset(m, 0, sizeof(*m));
	RD(eml_wire_u16(&c, &m->version));
	EML_ENSURE(m->version != 0, EML_E_MSG_MALFORMED);
	RD(eml_cur_copy(&c, m->session_id, EML_WIRE_SESSION_ID_LEN));
	RD(eml_wire_u32(&c, &m->doc_len));
	EML_ENSURE(m->doc_len >= 1 && m->doc_len <= EML_WIRE_MAX_ATTEST_DOC, EML_E_MSG_MALFORMED);
	RD(eml_cur_view(&c, m->doc_len, &m->doc));
	END(&c);
out:
	return rc;
}

/* ------------------------------------------------------------------ request / response */

int eml_msg_request_encode_head(eml_buf *b, const eml_msg_request *m)
{
	if (m->ct_len < EML_WIRE_TAG_LEN)
		return EML_E_ARG;
	eml_buf_put(b, m->session_id, EML_WIRE_SESSION_ID_LEN);
	eml_wire_put_u64(b, m->seq);
	eml_buf_put(b, m->enc, EML_WIRE_ENC_LEN);
	eml_wire_put_u32(b, m->ct_len);
	return eml_buf_error(b);
}

int eml_msg_request_encode(eml_buf *b, const eml_msg_request *m)
{
	int rc = eml_msg_request_encode_head(b, m);
	if (rc == EML_OK)
		eml_buf_put(b, m->ct, m->ct_len);
	return rc != EML_OK ? rc : eml_buf_error(b);
}

int eml_msg_request_decode(const uint8_t *p, size_t n, eml_msg_request *m)
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	memset(m, 0, sizeof(*m));
	RD(eml_cur_copy(&c, m->session_id, EML_WIRE_SESSION_ID_LEN));
	RD(eml_wire_u64(&c, &m->seq));
	RD(eml_cur_copy(&c, m->enc, EML_WIRE_ENC_LEN));
	RD(eml_wire_u32(&c, &m->ct_len));
	EML_ENSURE(m->ct_len >= EML_WIRE_TAG_LEN, EML_E_MSG_MALFORMED);
	RD(eml_cur_view(&c, m->ct_len, &m->ct));
	END(&c);
out:
	return rc;
}

int eml_msg_response_encode_head(eml_buf *b, const eml_msg_response *m)
{
	if (m->ct_len < EML_WIRE_TAG_LEN || m->nonce_len == 0 ||
	    m->nonce_len > EML_WIRE_MAX_RESPONSE_NONCE)
		return EML_E_ARG;
	eml_wire_put_u64(b, m->seq);
	eml_buf_u8(b, m->nonce_len);
	eml_buf_put(b, m->nonce, m->nonce_len);
	eml_wire_put_u32(b, m->ct_len);
	return eml_buf_error(b);
}

int eml_msg_response_encode(eml_buf *b, const eml_msg_response *m)
{
	int rc = eml_msg_response_encode_head(b, m);
	if (rc == EML_OK)
		eml_buf_put(b, m->ct, m->ct_len);
	return rc != EML_OK ? rc : eml_buf_error(b);
}

int eml_msg_response_decode(const uint8_t *p, size_t n, eml_msg_response *m)
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	memset(m, 0, sizeof(*m));
	RD(eml_wire_u64(&c, &m->seq));
	RD(eml_cur_u8(&c, &m->nonce_len));
	EML_ENSURE(m->nonce_len >= 1 && m->nonce_len <= EML_WIRE_MAX_RESPONSE_NONCE,
	           EML_E_MSG_MALFORMED);
	RD(eml_cur_copy(&c, m->nonce, m->nonce_len));
	RD(eml_wire_u32(&c, &m->ct_len));
	EML_ENSURE(m->ct_len >= EML_WIRE_TAG_LEN, EML_E_MSG_MALFORMED);
	RD(eml_cur_view(&c, m->ct_len, &m->ct));
	END(&c);
out:
	return rc;
}

int eml_msg_error_encode(eml_buf *b, int code)
{
	if (code <= 0 || code > 0xFFFF)
		return EML_E_ARG;
	eml_wire_put_u16(b, (uint16_t)code);
	return eml_buf_error(b);
}

int eml_msg_error_decode(const uint8_t *p, size_t n, int *code)
{
	int rc = EML_OK;
	uint16_t v;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	RD(eml_wire_u16(&c, &v));
	END(&c);
	/* Only codes of our table are passed on; anything else is a generic remote failure. */
	*code = (v != 0 && strcmp(eml_err_name(v), "UNKNOWN") != 0) ? (int)v : EML_E_REMOTE;
out:
	return rc;
}

/* ------------------------------------------------------------------ tensors */

/*
 * Plaintexts as pieces (eml_pt_parts): the small fields are written to `meta`, reserved at its
 * exact size first so its bytes never move; the tensors' data, the topology key and the receipt
 * are referenced where they lie. The sealer streams over the pieces, so megabytes of inputs and
 * outputs are never copied into a plaintext buffer (and never need wiping there).
 */
static size_t tensor_meta_len(const eml_wire_tensor *t)
{
	return 2 + (size_t)t->name_len + 2 + 8 * (size_t)t->rank + 8;
}

static void parts_flush(eml_pt_parts *pp)
{
	size_t len = pp->meta.len - pp->mark;
	if (len == 0)
		return;
	if (pp->n >= EML_WIRE_PT_MAX_PARTS) {
		pp->meta.err = pp->meta.err != EML_OK ? pp->meta.err : EML_E_LIMIT;
		return;
	}
	pp->part[pp->n++] = (eml_iov){pp->meta.p + pp->mark, len};
	pp->mark = pp->meta.len;
}

static void parts_ext(eml_pt_parts *pp, const uint8_t *p, size_t n)
{
	parts_flush(pp);
	if (n == 0)
		return;
	if (pp->n >= EML_WIRE_PT_MAX_PARTS) {
		pp->meta.err = pp->meta.err != EML_OK ? pp->meta.err : EML_E_LIMIT;
		return;
	}
	pp->part[pp->n++] = (eml_iov){p, n};
	pp->total += n;
}

static int parts_begin(eml_pt_parts *pp, size_t meta_len)
{
	memset(pp, 0, sizeof(*pp));
	eml_buf_init(&pp->meta, 0);
	return eml_buf_reserve(&pp->meta, meta_len);
}

static int parts_end(eml_pt_parts *pp)
{
	parts_flush(pp);
	pp->total += pp->meta.len;
	return eml_buf_error(&pp->meta);
}

void eml_pt_parts_cleanup(eml_pt_parts *pp)
{
	eml_buf_cleanup(&pp->meta);
	memset(pp, 0, sizeof(*pp));
}

int eml_pt_parts_flatten(const eml_pt_parts *pp, eml_buf *b)
{
	int rc = eml_buf_reserve(b, pp->total);
	for (size_t i = 0; rc == EML_OK && i < pp->n; i++)
		eml_buf_put(b, pp->part[i].p, pp->part[i].n);
	return rc != EML_OK ? rc : eml_buf_error(b);
}

static int tensor_encode(eml_pt_parts *pp, const eml_wire_tensor *t)
{
	eml_buf *b = &pp->meta;
	if (t->name_len > EML_WIRE_MAX_NAME_LEN || t->rank > EML_MAX_RANK)
		return EML_E_ARG;
	eml_wire_put_u16(b, t->name_len);
	eml_buf_put(b, t->name, t->name_len);
	eml_buf_u8(b, t->dtype);
	eml_buf_u8(b, t->rank);
	for (unsigned i = 0; i < t->rank; i++)
		eml_wire_put_u64(b, t->dims[i]);
	eml_wire_put_u64(b, t->data_len);
	if (t->data_len > SIZE_MAX)
		return EML_E_ARG;
	parts_ext(pp, t->data, (size_t)t->data_len);
	return eml_buf_error(b);
}

static int tensor_decode(eml_cursor *c, eml_wire_tensor *t)
{
	int rc = EML_OK;
	uint64_t numel = 1;
	size_t esize;
	memset(t, 0, sizeof(*t));
	RD(eml_wire_u16(c, &t->name_len));
	EML_ENSURE(t->name_len <= EML_WIRE_MAX_NAME_LEN, EML_E_MSG_MALFORMED);
	RD(eml_cur_view(c, t->name_len, &t->name));
	EML_ENSURE(memchr(t->name, 0, t->name_len) == NULL, EML_E_MSG_MALFORMED);
	RD(eml_cur_u8(c, &t->dtype));
	esize = eml_dtype_size(t->dtype);
	EML_ENSURE(esize != 0, EML_E_MSG_MALFORMED);
	RD(eml_cur_u8(c, &t->rank));
	EML_ENSURE(t->rank <= EML_MAX_RANK, EML_E_MSG_MALFORMED);
	for (unsigned i = 0; i < t->rank; i++) {
		RD(eml_wire_u64(c, &t->dims[i]));
		/* Each factor and the running product stay <= EML_MAX_TENSOR_ELEMS (2^32), so the
		 * product of two never overflows 64 bits. */
		EML_ENSURE(t->dims[i] <= EML_MAX_TENSOR_ELEMS, EML_E_MSG_MALFORMED);
		numel *= t->dims[i];
		EML_ENSURE(numel <= EML_MAX_TENSOR_ELEMS, EML_E_MSG_MALFORMED);
	}
	RD(eml_wire_u64(c, &t->data_len));
	EML_ENSURE(t->data_len == numel * esize, EML_E_MSG_MALFORMED);
	EML_ENSURE(t->data_len <= eml_cur_remaining(c), EML_E_MSG_TRUNCATED);
	RD(eml_cur_view(c, (size_t)t->data_len, &t->data));
out:
	return rc;
}

static int tensors_decode(eml_cursor *c, uint16_t *count, eml_wire_tensor **out)
{
	int rc = EML_OK;
	eml_wire_tensor *ts = NULL;
	RD(eml_wire_u16(c, count));
	EML_ENSURE(*count <= EML_WIRE_MAX_TENSORS, EML_E_MSG_MALFORMED);
	if (*count > 0) {
		ts = eml_calloc(*count, sizeof(*ts));
		EML_ENSURE(ts != NULL, EML_E_NOMEM);
	}
	for (unsigned i = 0; i < *count; i++)
		EML_GUARD(tensor_decode(c, &ts[i]));
	*out = ts;
	ts = NULL;
out:
	eml_free(ts);
	return rc;
}

int eml_request_pt_parts(eml_pt_parts *pp, const eml_request_pt *m)
{
	int rc = EML_OK;
	size_t meta = EML_WIRE_MODEL_ID_LEN + 4 + 2;
	EML_ENSURE(m->n_inputs <= EML_WIRE_MAX_TENSORS, EML_E_ARG);
	for (unsigned i = 0; i < m->n_inputs; i++)
		meta += tensor_meta_len(&m->inputs[i]);
	EML_GUARD(parts_begin(pp, meta));
	eml_buf_put(&pp->meta, m->model_id, EML_WIRE_MODEL_ID_LEN);
	eml_wire_put_u32(&pp->meta, m->tkey_len);
	parts_ext(pp, m->tkey, m->tkey_len);
	eml_wire_put_u16(&pp->meta, m->n_inputs);
	for (unsigned i = 0; i < m->n_inputs; i++)
		EML_GUARD(tensor_encode(pp, &m->inputs[i]));
	rc = parts_end(pp);
out:
	return rc;
}

int eml_request_pt_encode(eml_buf *b, const eml_request_pt *m)
{
	eml_pt_parts pp;
	int rc = eml_request_pt_parts(&pp, m);
	if (rc == EML_OK)
		rc = eml_pt_parts_flatten(&pp, b);
	eml_pt_parts_cleanup(&pp);
	return rc;
}

int eml_request_pt_decode(const uint8_t *p, size_t n, eml_request_pt *m)
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	memset(m, 0, sizeof(*m));
	RD(eml_cur_copy(&c, m->model_id, EML_WIRE_MODEL_ID_LEN));
	RD(eml_wire_u32(&c, &m->tkey_len));
	EML_ENSURE(m->tkey_len >= 1, EML_E_MSG_MALFORMED);
	RD(eml_cur_view(&c, m->tkey_len, &m->tkey));
	EML_GUARD(tensors_decode(&c, &m->n_inputs, &m->inputs));
	END(&c);
out:
	if (rc != EML_OK)
		eml_request_pt_cleanup(m);
	return rc;
}

void eml_request_pt_cleanup(eml_request_pt *m)
{
	eml_free(m->inputs);
	memset(m, 0, sizeof(*m));
}

int eml_response_pt_parts(eml_pt_parts *pp, const eml_response_pt *m)
{
	int rc = EML_OK;
	size_t meta = 2 + 4;
	EML_ENSURE(m->n_outputs <= EML_WIRE_MAX_TENSORS && m->receipt_len <= EML_WIRE_MAX_RECEIPT,
	           EML_E_ARG);
	for (unsigned i = 0; i < m->n_outputs; i++)
		meta += tensor_meta_len(&m->outputs[i]);
	EML_GUARD(parts_begin(pp, meta));
	eml_wire_put_u16(&pp->meta, m->n_outputs);
	for (unsigned i = 0; i < m->n_outputs; i++)
		EML_GUARD(tensor_encode(pp, &m->outputs[i]));
	eml_wire_put_u32(&pp->meta, m->receipt_len);
	parts_ext(pp, m->receipt, m->receipt_len);
	rc = parts_end(pp);
out:
	return rc;
}

int eml_response_pt_encode(eml_buf *b, const eml_response_pt *m)
{
	eml_pt_parts pp;
	int rc = eml_response_pt_parts(&pp, m);
	if (rc == EML_OK)
		rc = eml_pt_parts_flatten(&pp, b);
	eml_pt_parts_cleanup(&pp);
	return rc;
}

int eml_response_pt_decode(const uint8_t *p, size_t n, eml_response_pt *m)
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	memset(m, 0, sizeof(*m));
	EML_GUARD(tensors_decode(&c, &m->n_outputs, &m->outputs));
	RD(eml_wire_u32(&c, &m->receipt_len));
	EML_ENSURE(m->receipt_len <= EML_WIRE_MAX_RECEIPT, EML_E_MSG_MALFORMED);
	RD(eml_cur_view(&c, m->receipt_len, &m->receipt));
	END(&c);
out:
	if (rc != EML_OK)
		eml_response_pt_cleanup(m);
	return rc;
}

void eml_response_pt_cleanup(eml_response_pt *m)
{
	eml_free(m->outputs);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ host channel, store */

int eml_msg_model_id_encode(eml_buf *b, const uint8_t id[EML_WIRE_MODEL_ID_LEN])
{
	eml_buf_put(b, id, EML_WIRE_MODEL_ID_LEN);
	return eml_buf_error(b);
}

int eml_msg_model_id_decode(const uint8_t *p, size_t n, uint8_t id[EML_WIRE_MODEL_ID_LEN])
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	RD(eml_cur_copy(&c, id, EML_WIRE_MODEL_ID_LEN));
	END(&c);
out:
	return rc;
}

static void entry_put(eml_buf *b, const eml_store_entry *e)
{
	eml_buf_put(b, e->model_id, EML_WIRE_MODEL_ID_LEN);
	eml_buf_put(b, e->sha256, EML_WIRE_SHA256_LEN);
	eml_wire_put_u64(b, e->size);
}

static int entry_get(eml_cursor *c, eml_store_entry *e)
{
	int rc = EML_OK;
	RD(eml_cur_copy(c, e->model_id, EML_WIRE_MODEL_ID_LEN));
	RD(eml_cur_copy(c, e->sha256, EML_WIRE_SHA256_LEN));
	RD(eml_wire_u64(c, &e->size));
out:
	return rc;
}

int eml_msg_store_entry_encode(eml_buf *b, const eml_store_entry *e)
{
	entry_put(b, e);
	return eml_buf_error(b);
}

int eml_msg_store_entry_decode(const uint8_t *p, size_t n, eml_store_entry *e)
{
	int rc = EML_OK;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	EML_GUARD(entry_get(&c, e));
	END(&c);
out:
	return rc;
}

int eml_msg_store_list_encode(eml_buf *b, const eml_store_entry *e, size_t count)
{
	if (count > EML_WIRE_MAX_STORE_ENTRIES)
		return EML_E_ARG;
	eml_wire_put_u32(b, (uint32_t)count);
	for (size_t i = 0; i < count; i++)
		entry_put(b, &e[i]);
	return eml_buf_error(b);
}

int eml_msg_store_list_decode(const uint8_t *p, size_t n, eml_store_entry **out, size_t *count)
{
	int rc = EML_OK;
	uint32_t k;
	eml_store_entry *e = NULL;
	eml_cursor c;
	eml_cur_init(&c, p, n);
	RD(eml_wire_u32(&c, &k));
	EML_ENSURE(k <= EML_WIRE_MAX_STORE_ENTRIES, EML_E_MSG_MALFORMED);
	/* 56 bytes per entry: refuse a count the payload cannot hold before allocating. */
	EML_ENSURE((uint64_t)k * 56 <= eml_cur_remaining(&c), EML_E_MSG_TRUNCATED);
	e = eml_calloc(k > 0 ? k : 1, sizeof(*e));
	EML_ENSURE(e != NULL, EML_E_NOMEM);
	for (uint32_t i = 0; i < k; i++)
		EML_GUARD(entry_get(&c, &e[i]));
	END(&c);
	*out = e;
	*count = k;
	e = NULL;
out:
	eml_free(e);
	return rc;
}

int eml_msg_empty_decode(const uint8_t *p, size_t n)
{
	(void)p;
	return n == 0 ? EML_OK : EML_E_MSG_TRAILING;
}

int eml_msg_audit_record_check(const uint8_t *p, size_t n)
{
	(void)p;
	if (n == 0)
		return EML_E_MSG_TRUNCATED;
	return n <= EML_WIRE_MAX_AUDIT_RECORD ? EML_OK : EML_E_MSG_MALFORMED;
}
