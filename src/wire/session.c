#include "wire/session.h"

#include <assert.h>
#include <string.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/hpke.h"
#include "crypto/ohttp.h"
#include "wire/frame.h"

const uint16_t eml_wire_versions[] = {EML_WIRE_VERSION_1};
const size_t eml_wire_versions_count = EML_ARRAY_LEN(eml_wire_versions);

enum { ST_INIT, ST_HELLO, ST_READY, ST_BUSY, ST_FAILED };

struct eml_client_session {
	int state;
	uint16_t version;
	uint8_t nonce[EML_WIRE_NONCE_LEN];
	uint8_t session_id[EML_WIRE_SESSION_ID_LEN];
	uint8_t pk[32];
	uint8_t doc_hash[32];
	uint64_t next_seq;
	/* The outstanding request: its context and enc, needed to open its response. */
	eml_hpke_ctx *ctx;
	uint8_t enc[EML_WIRE_ENC_LEN];
	/* The next request's context, set up ahead (eml_client_session_prepare): fresh, unused. */
	eml_hpke_ctx *next_ctx;
	uint8_t next_enc[EML_WIRE_ENC_LEN];
};

struct eml_enclave_session {
	int state;
	uint8_t sk[32], pk[32];
	uint16_t version;
	uint8_t session_id[EML_WIRE_SESSION_ID_LEN];
	uint8_t doc_hash[32];
	uint64_t next_seq;
	eml_hpke_ctx *ctx;
	uint8_t enc[EML_WIRE_ENC_LEN];
};

/* info = "eml/1 request" || SHA-256(doc) */
static void make_info(const uint8_t doc_hash[32], uint8_t *info, size_t *len)
{
	size_t l = strlen(EML_SESSION_LABEL_REQUEST);
	memcpy(info, EML_SESSION_LABEL_REQUEST, l);
	memcpy(info + l, doc_hash, 32);
	*len = l + 32;
}

/* label || session_id || u64be seq */
static void make_aad(const char *label, const uint8_t sid[16], uint64_t seq, uint8_t *aad,
                     size_t *len)
{
	size_t l = strlen(label);
	memcpy(aad, label, l);
	memcpy(aad + l, sid, EML_WIRE_SESSION_ID_LEN);
	for (int i = 0; i < 8; i++)
		aad[l + 16 + i] = (uint8_t)(seq >> (8 * (7 - i)));
	*len = l + 16 + 8;
}

#define AAD_MAX 64
#define INFO_MAX 64

/* Wrap a message payload (built in `msg`) into a frame appended to `frame`. */
static int emit(eml_buf *frame, uint8_t type, eml_buf *msg)
{
	int rc = eml_buf_error(msg);
	if (rc == EML_OK)
		rc = eml_frame_encode(frame, NULL, type, msg->p, msg->len);
	return rc;
}

/* A sealed message is written in place: the frame header and the message's fields (head), then
 * ct_len bytes the caller's cipher fills (*ct). One allocation of the final size, no copy of the
 * ciphertext: requests and responses carry megabytes of tensors. */
static int emit_sealed(eml_buf *frame, uint8_t type, const eml_buf *head, size_t ct_len,
                       uint8_t **ct)
{
	int rc = EML_OK;
	size_t len, total;
	EML_GUARD(eml_buf_error(head));
	EML_GUARD(eml_add_size(head->len, ct_len, &len));
	EML_GUARD(eml_add_size(len, EML_FRAME_HEADER_LEN, &total));
	EML_GUARD(eml_buf_reserve(frame, total));
	EML_GUARD(eml_frame_encode_head(frame, NULL, type, len));
	eml_buf_put(frame, head->p, head->len);
	*ct = eml_buf_extend(frame, ct_len);
	EML_ENSURE(*ct != NULL, eml_buf_error(frame));
out:
	return rc;
}

int eml_session_error_frame(eml_buf *frame, int code)
{
	int rc = EML_OK;
	eml_buf msg;
	eml_buf_init(&msg, 0);
	EML_GUARD(eml_msg_error_encode(&msg, code));
	EML_GUARD(emit(frame, EML_FT_ERROR, &msg));
out:
	eml_buf_cleanup(&msg);
	return rc;
}

/* ------------------------------------------------------------------ client */

int eml_client_session_new(eml_client_session **out)
{
	eml_client_session *s = eml_calloc(1, sizeof(*s));
	if (s == NULL)
		return EML_E_NOMEM;
	s->state = ST_INIT;
	*out = s;
	return EML_OK;
}

void eml_client_session_free(eml_client_session *s)
{
	if (s == NULL)
		return;
	eml_hpke_ctx_free(s->ctx);
	eml_hpke_ctx_free(s->next_ctx);
	eml_free(s);
}

int eml_client_session_prepare(eml_client_session *s)
{
	uint8_t info[INFO_MAX];
	size_t info_len;
	if ((s->state != ST_READY && s->state != ST_BUSY) || s->next_ctx != NULL)
		return EML_OK;
	make_info(s->doc_hash, info, &info_len);
	return eml_hpke_setup_sender(s->pk, info, info_len, s->next_enc, &s->next_ctx);
}

int eml_client_session_hello(eml_client_session *s, eml_buf *frame)
{
	int rc = EML_OK;
	eml_msg_client_hello h;
	eml_buf msg;
	eml_buf_init(&msg, 0);
	EML_ENSURE(s->state == ST_INIT, EML_E_SESSION_STATE);
	memset(&h, 0, sizeof(h));
	h.n_versions = (uint8_t)eml_wire_versions_count;
	memcpy(h.versions, eml_wire_versions, eml_wire_versions_count * sizeof(uint16_t));
	EML_GUARD(eml_random_bytes(s->nonce, EML_WIRE_NONCE_LEN));
	memcpy(h.nonce, s->nonce, EML_WIRE_NONCE_LEN);
	EML_GUARD(eml_msg_client_hello_encode(&msg, &h));
	EML_GUARD(emit(frame, EML_FT_CLIENT_HELLO, &msg));
	s->state = ST_HELLO;
out:
	eml_buf_cleanup(&msg);
	return rc;
}

static int remote_error(const uint8_t *payload, size_t len)
{
	int code;
	int rc = eml_msg_error_decode(payload, len, &code);
	return rc == EML_OK ? code : rc;
}

int eml_client_session_accept(eml_client_session *s, uint8_t type, const uint8_t *payload,
                              size_t len, eml_attest_verify_fn verify, void *arg)
{
	int rc = EML_OK;
	eml_msg_server_hello h;
	uint8_t want_hash[32], got_hash[32];
	int offered = 0;
	EML_ENSURE(s->state == ST_HELLO, EML_E_SESSION_STATE);
	if (type == EML_FT_ERROR)
		EML_FAIL(remote_error(payload, len));
	EML_ENSURE(type == EML_FT_SERVER_HELLO, EML_E_MSG_UNEXPECTED);
	EML_GUARD(eml_msg_server_hello_decode(payload, len, &h));
	for (size_t i = 0; i < eml_wire_versions_count; i++)
		offered |= h.version == eml_wire_versions[i];
	EML_ENSURE(offered, EML_E_VERSION);
	EML_ENSURE(verify != NULL, EML_E_ARG);
	EML_GUARD(verify(arg, h.doc, h.doc_len, s->nonce, s->pk, got_hash));
	/* The verifier's hash must be of exactly these bytes: it is bound into HPKE's info. */
	EML_GUARD(eml_sha256(h.doc, h.doc_len, want_hash));
	EML_ENSURE(eml_ct_eq(want_hash, got_hash, 32), EML_E_AUTH);
	memcpy(s->doc_hash, want_hash, 32);
	memcpy(s->session_id, h.session_id, EML_WIRE_SESSION_ID_LEN);
	s->version = h.version;
	s->next_seq = 0;
	s->state = ST_READY;
out:
	if (rc != EML_OK)
		s->state = ST_FAILED;
	return rc;
}

int eml_client_session_seal_request(eml_client_session *s, const uint8_t *pt, size_t pt_len,
                                    eml_buf *frame)
{
	eml_iov one = {pt, pt_len};
	return eml_client_session_seal_request_iov(s, &one, 1, frame);
}

int eml_client_session_seal_request_iov(eml_client_session *s, const eml_iov *parts, size_t n,
                                        eml_buf *frame)
{
	int rc = EML_OK;
	size_t pt_len = 0;
	uint8_t info[INFO_MAX], aad[AAD_MAX];
	size_t info_len, aad_len, ct_len;
	uint8_t *ct = NULL;
	eml_msg_request r;
	eml_buf msg;
	eml_buf_init(&msg, 0);
	size_t start = frame->len;
	EML_ENSURE(s->state == ST_READY, EML_E_SESSION_STATE);
	for (size_t i = 0; i < n; i++)
		EML_GUARD(eml_add_size(pt_len, parts[i].n, &pt_len));
	EML_ENSURE(pt_len <= EML_FRAME_DEFAULT_CLIENT_MAX - 128, EML_E_LIMIT);
	EML_GUARD(eml_add_size(pt_len, EML_HPKE_TAG_LEN, &ct_len));
	make_info(s->doc_hash, info, &info_len);
	make_aad(EML_SESSION_LABEL_REQUEST, s->session_id, s->next_seq, aad, &aad_len);
	/* A fresh HPKE setup per request: the context seals exactly this one message (it may
	 * have been set up ahead, while the previous response was awaited). */
	eml_hpke_ctx_free(s->ctx);
	s->ctx = NULL;
	if (s->next_ctx != NULL) {
		s->ctx = s->next_ctx;
		s->next_ctx = NULL;
		memcpy(s->enc, s->next_enc, EML_WIRE_ENC_LEN);
	} else {
		EML_GUARD(eml_hpke_setup_sender(s->pk, info, info_len, s->enc, &s->ctx));
	}
	memset(&r, 0, sizeof(r));
	memcpy(r.session_id, s->session_id, EML_WIRE_SESSION_ID_LEN);
	r.seq = s->next_seq;
	memcpy(r.enc, s->enc, EML_WIRE_ENC_LEN);
	r.ct_len = (uint32_t)ct_len;
	EML_GUARD(eml_msg_request_encode_head(&msg, &r));
	EML_GUARD(emit_sealed(frame, EML_FT_REQUEST, &msg, ct_len, &ct));
	EML_GUARD(eml_hpke_seal_iov(s->ctx, aad, aad_len, parts, n, ct));
	s->state = ST_BUSY;
out:
	eml_buf_cleanup(&msg);
	/* no half-written frame (its bytes are wiped with the buffer) */
	if (rc != EML_OK && frame->len > start)
		frame->len = start;
	if (rc != EML_OK && s->state == ST_READY) {
		eml_hpke_ctx_free(s->ctx);
		s->ctx = NULL;
	}
	return rc;
}

/* Both forms of open_response, as open_request above. */
static int open_response(eml_client_session *s, uint8_t type, const uint8_t *payload, uint8_t *rw,
                         size_t len, uint8_t **owned, const uint8_t **pt, size_t *pt_len)
{
	int rc = EML_OK;
	eml_msg_response m;
	uint8_t aad[AAD_MAX];
	size_t aad_len;
	uint8_t *out = NULL, *dst;
	EML_ENSURE(s->state == ST_BUSY, EML_E_SESSION_STATE);
	if (type == EML_FT_ERROR)
		EML_FAIL(remote_error(payload, len));
	EML_ENSURE(type == EML_FT_RESPONSE, EML_E_MSG_UNEXPECTED);
	EML_GUARD(eml_msg_response_decode(payload, len, &m));
	EML_ENSURE(m.seq == s->next_seq, EML_E_REPLAY);
	make_aad(EML_SESSION_LABEL_RESPONSE, s->session_id, m.seq, aad, &aad_len);
	if (rw != NULL) {
		dst = rw + (m.ct - payload);
	} else {
		out = eml_alloc(m.ct_len - EML_HPKE_TAG_LEN + 1);
		EML_ENSURE(out != NULL, EML_E_NOMEM);
		dst = out;
	}
	rc = eml_ohttp_response_open(s->ctx, s->enc, m.nonce, m.nonce_len, aad, aad_len, m.ct,
	                             m.ct_len, dst);
	if (rc != EML_OK && rw != NULL)
		eml_wipe(dst, m.ct_len - EML_HPKE_TAG_LEN);
	EML_GUARD(rc);
	*pt = dst;
	*pt_len = m.ct_len - EML_HPKE_TAG_LEN;
	if (owned != NULL)
		*owned = out;
	out = NULL;
	s->next_seq++;
	s->state = ST_READY;
out:
	eml_free(out);
	/* The request's context is done either way: never reuse it. */
	if (s->state != ST_BUSY || rc != EML_OK) {
		eml_hpke_ctx_free(s->ctx);
		s->ctx = NULL;
	}
	if (rc != EML_OK)
		s->state = ST_FAILED;
	return rc;
}

int eml_client_session_open_response(eml_client_session *s, uint8_t type, const uint8_t *payload,
                                     size_t len, uint8_t **pt, size_t *pt_len)
{
	const uint8_t *view = NULL;
	return open_response(s, type, payload, NULL, len, pt, &view, pt_len);
}

int eml_client_session_open_response_inplace(eml_client_session *s, uint8_t type, uint8_t *payload,
                                             size_t len, const uint8_t **pt, size_t *pt_len)
{
	return open_response(s, type, payload, payload, len, NULL, pt, pt_len);
}

uint16_t eml_client_session_version(const eml_client_session *s)
{
	return s->version;
}

void eml_client_session_id(const eml_client_session *s, uint8_t id[EML_WIRE_SESSION_ID_LEN])
{
	memcpy(id, s->session_id, EML_WIRE_SESSION_ID_LEN);
}

/* ------------------------------------------------------------------ enclave */

int eml_enclave_session_new(const uint8_t sk[32], const uint8_t pk[32], eml_enclave_session **out)
{
	eml_enclave_session *s = eml_calloc(1, sizeof(*s));
	if (s == NULL)
		return EML_E_NOMEM;
	memcpy(s->sk, sk, 32);
	memcpy(s->pk, pk, 32);
	s->state = ST_INIT;
	*out = s;
	return EML_OK;
}

void eml_enclave_session_free(eml_enclave_session *s)
{
	if (s == NULL)
		return;
	eml_hpke_ctx_free(s->ctx);
	eml_free(s); /* wipes sk */
}

int eml_enclave_session_hello(eml_enclave_session *s, const uint8_t *payload, size_t len,
                              eml_attest_doc_fn make_doc, void *arg, eml_buf *frame)
{
	int rc = EML_OK;
	eml_msg_client_hello h;
	eml_msg_server_hello sh;
	uint8_t *doc = NULL;
	size_t doc_len = 0;
	uint16_t chosen = 0;
	eml_buf msg;
	eml_buf_init(&msg, 0);
	EML_ENSURE(s->state == ST_INIT, EML_E_SESSION_STATE);
	EML_GUARD(eml_msg_client_hello_decode(payload, len, &h));
	/* Pick the highest version both sides speak (ours are listed highest first). */
	for (size_t i = 0; i < eml_wire_versions_count && chosen == 0; i++)
		for (unsigned j = 0; j < h.n_versions; j++)
			if (h.versions[j] == eml_wire_versions[i])
				chosen = eml_wire_versions[i];
	EML_ENSURE(chosen != 0, EML_E_VERSION);
	EML_ENSURE(make_doc != NULL, EML_E_ARG);
	EML_GUARD(make_doc(arg, h.nonce, s->pk, &doc, &doc_len));
	EML_ENSURE(doc_len >= 1 && doc_len <= EML_WIRE_MAX_ATTEST_DOC, EML_E_LIMIT);
	EML_GUARD(eml_sha256(doc, doc_len, s->doc_hash));
	EML_GUARD(eml_random_bytes(s->session_id, EML_WIRE_SESSION_ID_LEN));
	memset(&sh, 0, sizeof(sh));
	sh.version = chosen;
	memcpy(sh.session_id, s->session_id, EML_WIRE_SESSION_ID_LEN);
	sh.doc = doc;
	sh.doc_len = (uint32_t)doc_len;
	EML_GUARD(eml_msg_server_hello_encode(&msg, &sh));
	EML_GUARD(emit(frame, EML_FT_SERVER_HELLO, &msg));
	s->version = chosen;
	s->next_seq = 0;
	s->state = ST_READY;
out:
	eml_free(doc);
	eml_buf_cleanup(&msg);
	if (rc != EML_OK)
		s->state = ST_FAILED;
	return rc;
}

/* Both forms of open_request: the plaintext goes to a fresh allocation (*owned, rw NULL) or over
 * the ciphertext inside the payload itself (rw = the same payload, writable). */
static int open_request(eml_enclave_session *s, const uint8_t *payload, uint8_t *rw, size_t len,
                        uint8_t **owned, const uint8_t **pt, size_t *pt_len)
{
	int rc = EML_OK;
	eml_msg_request r;
	uint8_t info[INFO_MAX], aad[AAD_MAX];
	size_t info_len, aad_len;
	uint8_t *out = NULL, *dst;
	EML_ENSURE(s->state == ST_READY, EML_E_SESSION_STATE);
	EML_GUARD(eml_msg_request_decode(payload, len, &r));
	EML_ENSURE(eml_ct_eq(r.session_id, s->session_id, EML_WIRE_SESSION_ID_LEN),
	           EML_E_SESSION_UNKNOWN);
	/* Replay and reorder: exactly the next sequence number, nothing else. */
	EML_ENSURE(r.seq == s->next_seq, EML_E_REPLAY);
	make_info(s->doc_hash, info, &info_len);
	make_aad(EML_SESSION_LABEL_REQUEST, s->session_id, r.seq, aad, &aad_len);
	EML_GUARD(eml_hpke_setup_receiver_pk(r.enc, s->sk, s->pk, info, info_len, &s->ctx));
	if (rw != NULL) {
		dst = rw + (r.ct - payload);
	} else {
		out = eml_alloc(r.ct_len - EML_HPKE_TAG_LEN + 1);
		EML_ENSURE(out != NULL, EML_E_NOMEM);
		dst = out;
	}
	rc = eml_hpke_open(s->ctx, aad, aad_len, r.ct, r.ct_len, dst);
	/* GCM writes the plaintext before it checks the tag: a forgery's output is wiped. */
	if (rc != EML_OK && rw != NULL)
		eml_wipe(dst, r.ct_len - EML_HPKE_TAG_LEN);
	EML_GUARD(rc);
	memcpy(s->enc, r.enc, EML_WIRE_ENC_LEN);
	*pt = dst;
	*pt_len = r.ct_len - EML_HPKE_TAG_LEN;
	if (owned != NULL)
		*owned = out;
	out = NULL;
	s->state = ST_BUSY;
out:
	eml_free(out);
	if (rc != EML_OK) {
		eml_hpke_ctx_free(s->ctx);
		s->ctx = NULL;
		s->state = ST_FAILED;
	}
	return rc;
}

int eml_enclave_session_open_request(eml_enclave_session *s, const uint8_t *payload, size_t len,
                                     uint8_t **pt, size_t *pt_len)
{
	const uint8_t *view = NULL;
	return open_request(s, payload, NULL, len, pt, &view, pt_len);
}

int eml_enclave_session_open_request_inplace(eml_enclave_session *s, uint8_t *payload, size_t len,
                                             const uint8_t **pt, size_t *pt_len)
{
	return open_request(s, payload, payload, len, NULL, pt, pt_len);
}

int eml_enclave_session_seal_response(eml_enclave_session *s, const uint8_t *pt, size_t pt_len,
                                      eml_buf *frame)
{
	eml_iov one = {pt, pt_len};
	return eml_enclave_session_seal_response_iov(s, &one, 1, frame);
}

int eml_enclave_session_seal_response_iov(eml_enclave_session *s, const eml_iov *parts, size_t n,
                                          eml_buf *frame)
{
	int rc = EML_OK;
	size_t pt_len = 0;
	eml_msg_response m;
	uint8_t aad[AAD_MAX];
	size_t aad_len, ct_len;
	uint8_t *ct = NULL;
	eml_buf msg;
	eml_buf_init(&msg, 0);
	size_t start = frame->len;
	EML_ENSURE(s->state == ST_BUSY && s->ctx != NULL, EML_E_SESSION_STATE);
	for (size_t i = 0; i < n; i++)
		EML_GUARD(eml_add_size(pt_len, parts[i].n, &pt_len));
	EML_ENSURE(pt_len <= EML_FRAME_DEFAULT_CLIENT_MAX - 128, EML_E_LIMIT);
	EML_GUARD(eml_add_size(pt_len, EML_HPKE_TAG_LEN, &ct_len));
	memset(&m, 0, sizeof(m));
	m.seq = s->next_seq;
	m.nonce_len = (uint8_t)eml_ohttp_nonce_len(s->ctx);
	make_aad(EML_SESSION_LABEL_RESPONSE, s->session_id, m.seq, aad, &aad_len);
	/* The response nonce is fresh randomness drawn by the sealer; the head (which carries it)
	 * is written after sealing, into the bytes reserved in front of the ciphertext. */
	m.ct_len = (uint32_t)ct_len;
	EML_GUARD(eml_msg_response_encode_head(&msg, &m));
	EML_GUARD(emit_sealed(frame, EML_FT_RESPONSE, &msg, ct_len, &ct));
	EML_GUARD(eml_ohttp_response_seal_iov(s->ctx, s->enc, aad, aad_len, parts, n, m.nonce, ct));
	/* the head again, now with the drawn nonce: same length, same place */
	size_t head_len = msg.len;
	eml_buf_cleanup(&msg);
	eml_buf_init(&msg, 0);
	EML_GUARD(eml_msg_response_encode_head(&msg, &m));
	assert(msg.len == head_len);
	memcpy(ct - head_len, msg.p, head_len);
	s->next_seq++;
	s->state = ST_READY;
out:
	/* One response per request context, then it is gone. */
	eml_hpke_ctx_free(s->ctx);
	s->ctx = NULL;
	eml_buf_cleanup(&msg);
	if (rc != EML_OK && frame->len > start)
		frame->len = start;
	if (rc != EML_OK)
		s->state = ST_FAILED;
	return rc;
}

void eml_enclave_session_doc_hash(const eml_enclave_session *s, uint8_t out[32])
{
	memcpy(out, s->doc_hash, 32);
}

void eml_enclave_session_id(const eml_enclave_session *s, uint8_t id[EML_WIRE_SESSION_ID_LEN])
{
	memcpy(id, s->session_id, EML_WIRE_SESSION_ID_LEN);
}
