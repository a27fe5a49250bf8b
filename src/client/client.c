/* The attested inference client (include/eml/client.h). */
#include "eml/client.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attest/verify.h"
#include "common/guard.h"
#include "kms/enclave_kms.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "net/addr.h"
#include "net/sock.h"
#include "topo/topo.h"
#include "wire/msg.h"
#include "wire/session.h"

#define EML_CLIENT_DEFAULT_TIMEOUT_MS 60000

struct eml_client {
	int fd;
	int timeout_ms;
	eml_frame_limits limits;
	eml_policy *policy;
	eml_client_session *s;
	eml_client_attestation att;
	int dead;     /* after a refusal the session is closed */
	eml_buf req;  /* the REQUEST frame (ciphertext), kept across requests: no page faults */
	eml_buf resp; /* the RESPONSE frame, kept likewise; its plaintext is wiped after each */
};

/* A response buffer that grew past this is not kept for the next request. */
#define EML_CLIENT_KEEP_BUF_BYTES ((size_t)16 << 20)

struct eml_client_result {
	size_t n;
	eml_client_tensor *t;
	char **names;
	uint8_t *data; /* the outputs, each 64-byte aligned */
	uint8_t *receipt;
	size_t receipt_len;
};

/* Session verifier callback: the document must satisfy the policy and carry our nonce; its
 * public_key is the enclave's HPKE key. */
static int verify_doc(void *arg, const uint8_t *doc, size_t doc_len,
                      const uint8_t nonce[EML_WIRE_NONCE_LEN], uint8_t pk_out[32],
                      uint8_t doc_hash_out[32])
{
	eml_client *c = arg;
	int rc = EML_OK;
	eml_attest_claims *cl = eml_calloc(1, sizeof(*cl));
	if (cl == NULL)
		return EML_E_NOMEM;
	eml_verify_opts vo = {.nonce = nonce, .nonce_len = EML_WIRE_NONCE_LEN};
	EML_GUARD(eml_attest_verify(doc, doc_len, c->policy, &vo, cl));
	EML_ENSURE(cl->has_public_key && cl->public_key_len == 32, EML_E_ATTEST_KEY_BINDING);
	memcpy(pk_out, cl->public_key, 32);
	memcpy(doc_hash_out, cl->doc_sha256, 32);
	eml_client_attestation *a = &c->att;
	memset(a, 0, sizeof(*a));
	snprintf(a->module_id, sizeof(a->module_id), "%s", cl->module_id);
	a->timestamp_ms = cl->timestamp_ms;
	uint8_t *pcr[3] = {a->pcr0, a->pcr1, a->pcr2};
	for (int i = 0; i < 3; i++)
		if ((cl->pcr_mask >> i) & 1)
			memcpy(pcr[i], cl->pcrs[i], cl->pcr_len[i] < 48 ? cl->pcr_len[i] : 48);
	memcpy(a->doc_sha256, cl->doc_sha256, 32);
	EML_GUARD(eml_sha256(cl->public_key, 32, a->enclave_key_sha256));
	a->simulated = cl->simulated;
	a->debug_mode = cl->debug_mode;
out:
	eml_attest_claims_cleanup(cl);
	eml_free(cl);
	return rc;
}

void eml_client_free(eml_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	eml_client_session_free(c->s);
	eml_policy_free(c->policy);
	eml_buf_cleanup(&c->req);
	eml_buf_cleanup(&c->resp);
	eml_free(c);
}

int eml_client_connect(const eml_client_opts *o, eml_client **out)
{
	int rc = EML_OK;
	eml_client *c = NULL;
	eml_addr addr;
	eml_buf hello;
	uint8_t type = 0, *payload = NULL;
	uint32_t len = 0;
	eml_buf_init(&hello, 0);
	EML_ENSURE(o != NULL && o->host != NULL && o->policy_path != NULL, EML_E_ARG);
	c = eml_calloc(1, sizeof(*c));
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	c->fd = -1;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : EML_CLIENT_DEFAULT_TIMEOUT_MS;
	c->limits = (eml_frame_limits)EML_FRAME_LIMITS_DEFAULT;
	EML_GUARD(eml_policy_load_file(o->policy_path, &c->policy));
	EML_GUARD(eml_addr_parse(o->host, &addr));
	EML_GUARD(eml_net_connect(&addr, c->timeout_ms, &c->fd));
	EML_GUARD(eml_client_session_new(&c->s));
	EML_GUARD(eml_client_session_hello(c->s, &hello));
	EML_GUARD(eml_net_write_all(c->fd, hello.p, hello.len, eml_net_now_ms() + c->timeout_ms));
	EML_GUARD(eml_net_recv_frame(c->fd, &c->limits, c->timeout_ms, &type, &payload, &len));
	EML_GUARD(eml_client_session_accept(c->s, type, payload, len, verify_doc, c));
	*out = c;
	c = NULL;
out:
	eml_buf_cleanup(&hello);
	eml_free(payload);
	eml_client_free(c);
	return rc;
}

void eml_client_attestation_get(const eml_client *c, eml_client_attestation *out)
{
	*out = c->att;
}

size_t eml_client_result_count(const eml_client_result *r)
{
	return r->n;
}

const eml_client_tensor *eml_client_result_tensor(const eml_client_result *r, size_t i)
{
	return i < r->n ? &r->t[i] : NULL;
}

const uint8_t *eml_client_result_receipt(const eml_client_result *r, size_t *len)
{
	*len = r->receipt_len;
	return r->receipt_len > 0 ? r->receipt : NULL;
}

void eml_client_result_free(eml_client_result *r)
{
	if (r == NULL)
		return;
	if (r->names != NULL)
		for (size_t i = 0; i < r->n; i++)
			eml_free(r->names[i]);
	eml_free(r->names);
	eml_free(r->t);
	eml_free(r->data); /* wipes the outputs */
	eml_free(r->receipt);
	eml_free(r);
}

/* Outputs are copied out of the response plaintext into one block where each tensor starts
 * 64-byte aligned, so callers can read them as arrays of their element type; the receipt is
 * copied too. The plaintext itself stays in the client's buffer, which the caller wipes. */
static int result_from_pt(eml_client_result *r, const uint8_t *pt, size_t pt_len)
{
	int rc = EML_OK;
	size_t total = 0;
	eml_response_pt resp;
	memset(&resp, 0, sizeof(resp));
	EML_GUARD(eml_response_pt_decode(pt, pt_len, &resp));
	if (resp.receipt_len > 0) {
		r->receipt = eml_memdup(resp.receipt, resp.receipt_len);
		EML_ENSURE(r->receipt != NULL, EML_E_NOMEM);
		r->receipt_len = resp.receipt_len;
	}
	r->n = resp.n_outputs;
	r->t = eml_calloc(r->n != 0 ? r->n : 1, sizeof(*r->t));
	r->names = eml_calloc(r->n != 0 ? r->n : 1, sizeof(*r->names));
	EML_ENSURE(r->t != NULL && r->names != NULL, EML_E_NOMEM);
	for (size_t i = 0; i < r->n; i++) {
		size_t padded = ((size_t)resp.outputs[i].data_len + 63) & ~(size_t)63;
		EML_GUARD(eml_add_size(total, padded, &total));
	}
	EML_GUARD(eml_add_size(total, 64, &total));
	r->data = eml_alloc(total);
	EML_ENSURE(r->data != NULL, EML_E_NOMEM);
	uint8_t *base = (uint8_t *)(((uintptr_t)r->data + 63) & ~(uintptr_t)63);
	for (size_t i = 0; i < r->n; i++) {
		const eml_wire_tensor *w = &resp.outputs[i];
		EML_ENSURE(w->rank <= EML_CLIENT_MAX_RANK, EML_E_MSG_MALFORMED);
		if (w->name_len > 0) {
			r->names[i] = eml_calloc(1, (size_t)w->name_len + 1);
			EML_ENSURE(r->names[i] != NULL, EML_E_NOMEM);
			memcpy(r->names[i], w->name, w->name_len);
		}
		eml_client_tensor *t = &r->t[i];
		t->name = r->names[i];
		t->dtype = w->dtype;
		t->rank = w->rank;
		for (uint32_t d = 0; d < w->rank; d++)
			t->dims[d] = (int64_t)w->dims[d];
		if (w->data_len > 0)
			memcpy(base, w->data, (size_t)w->data_len);
		t->data = base;
		t->bytes = w->data_len;
		base += ((size_t)w->data_len + 63) & ~(size_t)63;
	}
out:
	eml_response_pt_cleanup(&resp);
	return rc;
}

int eml_client_infer(eml_client *c, const uint8_t *tkey, size_t tkey_len,
                     const eml_client_tensor *inputs, size_t n_inputs, eml_client_result **out)
{
	int rc = EML_OK;
	eml_wire_tensor *win = NULL;
	eml_pt_parts *pp = NULL;
	uint8_t type = 0;
	const uint8_t *pt = NULL;
	size_t pt_len = 0;
	eml_client_result *r = NULL;
	c->req.len = 0;
	EML_ENSURE(!c->dead, EML_E_SESSION_STATE);
	EML_ENSURE(n_inputs <= EML_WIRE_MAX_TENSORS, EML_E_LIMIT);
	EML_ENSURE(tkey_len <= UINT32_MAX, EML_E_LIMIT);
	/* Only the key's header is read here, for its model id (the enclave parses and checks the
	 * whole key). A KMS-sealed key (docs/KMS.md) names its model in its header; the enclave
	 * unseals it. */
	eml_request_pt rq;
	memset(&rq, 0, sizeof(rq));
	if (eml_kms_is_sealed(tkey, tkey_len)) {
		EML_GUARD(eml_kms_sealed_model_id(tkey, tkey_len, rq.model_id));
	} else {
		EML_GUARD(eml_tkey_peek_model_id(tkey, tkey_len, rq.model_id));
	}
	rq.tkey = tkey;
	rq.tkey_len = (uint32_t)tkey_len;
	rq.n_inputs = (uint16_t)n_inputs;
	win = eml_calloc(n_inputs != 0 ? n_inputs : 1, sizeof(*win));
	EML_ENSURE(win != NULL, EML_E_NOMEM);
	for (size_t i = 0; i < n_inputs; i++) {
		const eml_client_tensor *t = &inputs[i];
		size_t nl = t->name != NULL ? strlen(t->name) : 0;
		EML_ENSURE(nl <= EML_WIRE_MAX_NAME_LEN && t->rank <= EML_CLIENT_MAX_RANK &&
		               t->dtype > 0 && t->dtype < 256,
		           EML_E_ARG);
		win[i].name = (const uint8_t *)t->name;
		win[i].name_len = (uint16_t)nl;
		win[i].dtype = (uint8_t)t->dtype;
		win[i].rank = (uint8_t)t->rank;
		for (uint32_t d = 0; d < t->rank; d++) {
			EML_ENSURE(t->dims[d] >= 0, EML_E_ARG);
			win[i].dims[d] = (uint64_t)t->dims[d];
		}
		win[i].data = t->data;
		win[i].data_len = t->bytes;
	}
	rq.inputs = win;
	/* The plaintext is sealed from its pieces (the caller's tensors where they lie) straight
	 * into the frame: no plaintext copy exists to wipe. */
	pp = eml_calloc(1, sizeof(*pp));
	EML_ENSURE(pp != NULL, EML_E_NOMEM);
	EML_GUARD(eml_request_pt_parts(pp, &rq));
	EML_GUARD(eml_client_session_seal_request_iov(c->s, pp->part, pp->n, &c->req));
	EML_GUARD(eml_net_write_all(c->fd, c->req.p, c->req.len, eml_net_now_ms() + c->timeout_ms));
	/* The next request's key set-up, while the enclave works on this one (a failure here only
	 * means the next seal does it itself). */
	(void)eml_client_session_prepare(c->s);
	if (c->resp.cap > EML_CLIENT_KEEP_BUF_BYTES || c->resp.err != EML_OK) {
		eml_buf_cleanup(&c->resp);
		eml_buf_init(&c->resp, 0);
	}
	EML_GUARD(eml_net_recv_frame_buf(c->fd, &c->limits, c->timeout_ms, &type, &c->resp));
	r = eml_calloc(1, sizeof(*r));
	EML_ENSURE(r != NULL, EML_E_NOMEM);
	EML_GUARD(eml_client_session_open_response_inplace(c->s, type, c->resp.p, c->resp.len, &pt,
	                                                   &pt_len));
	EML_GUARD(result_from_pt(r, pt, pt_len));
	*out = r;
	r = NULL;
out:
	if (rc != EML_OK)
		c->dead = 1;
	/* the response plaintext, decrypted in place: the outputs were copied out */
	eml_wipe(c->resp.p, c->resp.len);
	eml_client_result_free(r);
	if (pp != NULL)
		eml_pt_parts_cleanup(pp); /* the fields' bytes; the tensors stay the caller's */
	eml_free(pp);
	eml_free(win);
	return rc;
}
