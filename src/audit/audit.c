#include "audit/audit.h"

#include <stdio.h>
#include <string.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/ed25519.h"
#include "crypto/hash.h"

/* Domain separation from every other Ed25519 signature made with this key or format. A receipt
 * is a RESPONSE record (same signature), so it has no label of its own (docs/AUDIT.md §3). */
#define AUDIT_SIG_LABEL "eml/1 audit record"

static const uint8_t zero32[32];

const char *eml_audit_event_name(int ev)
{
	static const char *const names[] = {"?",        "start",    "attest",    "session_close",
	                                    "request",  "assembly", "inference", "wipe",
	                                    "response", "refusal",  "stop"};
	return ev >= 1 && ev <= EML_AEV_MAX_ ? names[ev] : "?";
}

/* Ed25519 over label || SHA-256(body): fixed-size messages, no copy of the body. */
static int sig_message(const char *label, const uint8_t *body, size_t n, uint8_t msg[64],
                       size_t *len)
{
	size_t l = strlen(label);
	memcpy(msg, label, l);
	*len = l + 32;
	return eml_sha256(body, n, msg + l);
}

int eml_audit_event_signed(int ev)
{
	return !(ev == EML_AEV_REQUEST || ev == EML_AEV_ASSEMBLY || ev == EML_AEV_INFERENCE ||
	         ev == EML_AEV_WIPE);
}

int eml_audit_chain_init(eml_audit_chain *c, const uint8_t seed[32],
                         const uint8_t pk[EML_AUDIT_PK_LEN])
{
	memset(c, 0, sizeof(*c));
	memcpy(c->pk, pk, EML_AUDIT_PK_LEN);
	return eml_ed25519_key_from_seed(seed, &c->key);
}

void eml_audit_chain_cleanup(eml_audit_chain *c)
{
	eml_ed25519_key_free(c->key);
	eml_wipe(c, sizeof(*c));
}

static void record_body(eml_buf *b, const eml_audit_record *r)
{
	eml_buf_put(b, "EMLA", 4);
	eml_buf_u8(b, EML_AUDIT_VERSION);
	eml_buf_u8(b, r->event);
	eml_buf_u64(b, r->seq);
	eml_buf_u64(b, r->time_ms);
	eml_buf_put(b, r->prev, 32);
	eml_buf_put(b, r->session_id, 16);
	eml_buf_put(b, r->model_id, 16);
	eml_buf_u64(b, r->request_seq);
	eml_buf_u16(b, r->result);
	eml_buf_u64(b, r->duration_us);
	eml_buf_put(b, r->input_hash, 32);
	eml_buf_put(b, r->output_hash, 32);
	eml_buf_put(b, r->blob_hash, 32);
	eml_buf_put(b, r->doc_hash, 32);
	eml_buf_put(b, r->start_doc_hash, 32);
	eml_buf_put(b, r->pk, 32);
	eml_buf_u32(b, r->doc_len);
	if (r->doc_len > 0)
		eml_buf_put(b, r->doc, r->doc_len);
}

/* Encodes r (all fields set), signs it when its event is a signed one, appends it to out. */
static int record_encode_sign(const eml_ed25519_key *key, eml_audit_record *r, eml_buf *out)
{
	int rc = EML_OK;
	uint8_t msg[64];
	size_t ml, start = out->len;
	record_body(out, r);
	EML_GUARD(eml_buf_error(out));
	memset(r->sig, 0, 64);
	if (eml_audit_event_signed(r->event)) {
		EML_GUARD(sig_message(AUDIT_SIG_LABEL, out->p + start, out->len - start, msg, &ml));
		EML_GUARD(eml_ed25519_key_sign(key, msg, ml, r->sig));
	}
	eml_buf_put(out, r->sig, 64);
	EML_GUARD(eml_buf_error(out));
out:
	return rc;
}

int eml_audit_chain_append(eml_audit_chain *c, eml_audit_record *r, eml_buf *out)
{
	int rc = EML_OK;
	size_t start = out->len;
	EML_ENSURE(r->doc_len <= EML_AUDIT_MAX_DOC && (r->doc_len == 0 || r->doc != NULL),
	           EML_E_LIMIT);
	/* Only the start record carries a document (the decoder insists). */
	EML_ENSURE((r->event == EML_AEV_START) == (r->doc_len > 0), EML_E_ARG);
	if (r->event == EML_AEV_START) {
		EML_GUARD(eml_sha256(r->doc, r->doc_len, c->start_doc_hash));
		memcpy(r->doc_hash, c->start_doc_hash, 32);
	}
	r->seq = c->next_seq;
	memcpy(r->prev, c->prev, 32);
	memcpy(r->pk, c->pk, 32);
	memcpy(r->start_doc_hash, c->start_doc_hash, 32);
	EML_GUARD(record_encode_sign(c->key, r, out));
	EML_GUARD(eml_sha256(out->p + start, out->len - start, c->prev));
	c->next_seq++;
out:
	return rc;
}

#define RD(x) EML_ENSURE((x) == EML_OK, EML_E_AUDIT_MALFORMED)

int eml_audit_record_decode(const uint8_t *p, size_t n, eml_audit_record *r)
{
	int rc = EML_OK;
	eml_cursor c;
	uint8_t magic[4], ver;
	memset(r, 0, sizeof(*r));
	EML_ENSURE(n >= EML_AUDIT_FIXED_LEN && n <= EML_AUDIT_MAX_RECORD, EML_E_AUDIT_MALFORMED);
	eml_cur_init(&c, p, n);
	RD(eml_cur_copy(&c, magic, 4));
	EML_ENSURE(memcmp(magic, "EMLA", 4) == 0, EML_E_AUDIT_MALFORMED);
	RD(eml_cur_u8(&c, &ver));
	EML_ENSURE(ver == EML_AUDIT_VERSION, EML_E_AUDIT_MALFORMED);
	RD(eml_cur_u8(&c, &r->event));
	EML_ENSURE(r->event >= 1 && r->event <= EML_AEV_MAX_, EML_E_AUDIT_MALFORMED);
	RD(eml_cur_u64(&c, &r->seq));
	RD(eml_cur_u64(&c, &r->time_ms));
	RD(eml_cur_copy(&c, r->prev, 32));
	RD(eml_cur_copy(&c, r->session_id, 16));
	RD(eml_cur_copy(&c, r->model_id, 16));
	RD(eml_cur_u64(&c, &r->request_seq));
	RD(eml_cur_u16(&c, &r->result));
	RD(eml_cur_u64(&c, &r->duration_us));
	RD(eml_cur_copy(&c, r->input_hash, 32));
	RD(eml_cur_copy(&c, r->output_hash, 32));
	RD(eml_cur_copy(&c, r->blob_hash, 32));
	RD(eml_cur_copy(&c, r->doc_hash, 32));
	RD(eml_cur_copy(&c, r->start_doc_hash, 32));
	RD(eml_cur_copy(&c, r->pk, 32));
	RD(eml_cur_u32(&c, &r->doc_len));
	EML_ENSURE(r->doc_len <= EML_AUDIT_MAX_DOC, EML_E_AUDIT_MALFORMED);
	/* Only the start record carries a document. */
	EML_ENSURE((r->event == EML_AEV_START) == (r->doc_len > 0), EML_E_AUDIT_MALFORMED);
	RD(eml_cur_view(&c, r->doc_len, &r->doc));
	RD(eml_cur_copy(&c, r->sig, 64));
	EML_ENSURE(eml_cur_end(&c) == EML_OK, EML_E_AUDIT_MALFORMED);
	/* Unsigned records exist only for the intermediate stages of a request. */
	EML_ENSURE(eml_audit_event_signed(r->event) || memcmp(r->sig, zero32, 32) == 0,
	           EML_E_AUDIT_SIGNATURE);
	EML_ENSURE(eml_audit_event_signed(r->event) || memcmp(r->sig + 32, zero32, 32) == 0,
	           EML_E_AUDIT_SIGNATURE);
out:
	return rc;
}

int eml_audit_record_check_sig(const uint8_t *p, size_t n, const eml_audit_record *r)
{
	uint8_t msg[64];
	size_t ml;
	if (n < 64 || sig_message(AUDIT_SIG_LABEL, p, n - 64, msg, &ml) != EML_OK)
		return EML_E_AUDIT_SIGNATURE;
	return eml_ed25519_verify(r->pk, msg, ml, r->sig) == EML_OK ? EML_OK
	                                                            : EML_E_AUDIT_SIGNATURE;
}

static void hash_u64(eml_hash *h, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	eml_hash_update(h, b, 8);
}

int eml_audit_tensors_hash(const eml_audit_tensor *t, size_t n, uint8_t out[EML_AUDIT_HASH_LEN])
{
	int rc = EML_OK;
	eml_hash *h = NULL;
	EML_ENSURE(n <= 0xffff, EML_E_LIMIT);
	EML_GUARD(eml_hash_new(EML_HASH_SHA256, &h));
	uint8_t cnt[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
	EML_GUARD(eml_hash_update(h, cnt, 2));
	for (size_t i = 0; i < n; i++) {
		uint8_t hd[2] = {(uint8_t)t[i].dtype, (uint8_t)t[i].rank};
		EML_GUARD(eml_hash_update(h, hd, 2));
		for (uint32_t d = 0; d < t[i].rank; d++)
			hash_u64(h, (uint64_t)t[i].dims[d]);
		hash_u64(h, t[i].bytes);
		if (t[i].bytes > 0)
			EML_GUARD(eml_hash_update(h, t[i].data, (size_t)t[i].bytes));
	}
	rc = eml_hash_final(h, out); /* frees h */
	h = NULL;
out:
	eml_hash_free(h);
	return rc;
}

/* ------------------------------------------------------------------ log verification */

#define AUDIT_MAX_PENDING 16 /* unsigned records in a row (a request has 4) */

typedef struct pending {
	uint64_t index, offset;
	uint8_t hash[32], prev[32];
	int foreign_doc; /* its start_doc_hash is not the boot's (checked once it is covered) */
} pending;

typedef struct vstate {
	const eml_audit_verify_opts *o;
	eml_audit_report *rep;
	int in_boot;
	uint8_t pk[32];
	uint8_t start_doc_hash[32]; /* the boot's start document */
	eml_ed25519_key *key;       /* the boot's key, prepared once */
	uint64_t next_seq;
	uint8_t prev[32];        /* hash of the last record read */
	uint8_t signed_prev[32]; /* hash of the last signed (verified) record */
	uint64_t index;
	const char *name;
	uint64_t offset;
	pending pend[AUDIT_MAX_PENDING];
	size_t n_pend;
	uint64_t pend_last_seq;
} vstate;

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Peek at the sequence number of the record after offset off (-1: none readable). */
static int peek_seq(const uint8_t *p, size_t n, size_t off, uint64_t *seq)
{
	eml_audit_record r;
	if (n - off < 4)
		return -1;
	uint32_t l = be32(p + off);
	if (l > n - off - 4 || eml_audit_record_decode(p + off + 4, l, &r) != EML_OK)
		return -1;
	*seq = r.seq;
	return 0;
}

static int check_start(vstate *s, const eml_audit_record *r)
{
	int rc = EML_OK;
	eml_attest_claims cl;
	eml_verify_opts vo = {.at_document_time = 1};
	uint8_t h[32];
	EML_ENSURE(r->seq == 0 && memcmp(r->prev, zero32, 32) == 0, EML_E_AUDIT_CHAIN);
	EML_GUARD(eml_sha256(r->doc, r->doc_len, h));
	EML_ENSURE(memcmp(h, r->doc_hash, 32) == 0 && memcmp(h, r->start_doc_hash, 32) == 0,
	           EML_E_AUDIT_MALFORMED);
	EML_ENSURE(eml_attest_verify(r->doc, r->doc_len, s->o->policy, &vo, &cl) == EML_OK,
	           EML_E_AUDIT_ATTEST);
	rc = eml_attest_user_data_check(&cl, r->pk) == EML_OK ? EML_OK : EML_E_AUDIT_ATTEST;
	eml_attest_claims_cleanup(&cl);
out:
	return rc;
}

static int check_sig(vstate *s, const uint8_t *rec, size_t n, const eml_audit_record *r)
{
	uint8_t msg[64];
	size_t ml;
	if (s->key == NULL)
		return eml_audit_record_check_sig(rec, n, r);
	if (sig_message(AUDIT_SIG_LABEL, rec, n - 64, msg, &ml) != EML_OK)
		return EML_E_AUDIT_SIGNATURE;
	return eml_ed25519_key_verify(s->key, msg, ml, r->sig) == EML_OK ? EML_OK
	                                                                 : EML_E_AUDIT_SIGNATURE;
}

/* A signed record with prev `prev` arrived: walk the unsigned records before it backwards; each
 * must hash to its successor's prev, and the first must follow the last signed record. On a
 * mismatch the record blamed is the one whose hash is wrong (it was modified). */
static int settle(vstate *s, const uint8_t prev[32], uint64_t *bad_index, uint64_t *bad_offset)
{
	const uint8_t *want = prev;
	for (size_t i = s->n_pend; i-- > 0;) {
		if (memcmp(s->pend[i].hash, want, 32) != 0) {
			*bad_index = s->pend[i].index;
			*bad_offset = s->pend[i].offset;
			return EML_E_AUDIT_SIGNATURE;
		}
		want = s->pend[i].prev;
	}
	if (memcmp(want, s->signed_prev, 32) != 0) {
		if (s->n_pend > 0) {
			*bad_index = s->pend[0].index;
			*bad_offset = s->pend[0].offset;
		}
		return EML_E_AUDIT_CHAIN;
	}
	for (size_t i = 0; i < s->n_pend; i++)
		if (s->pend[i].foreign_doc) {
			*bad_index = s->pend[i].index;
			*bad_offset = s->pend[i].offset;
			return EML_E_AUDIT_MALFORMED;
		}
	return EML_OK;
}

/* One framed record at p[off..]; *adv = bytes consumed. */
static int verify_one(vstate *s, const uint8_t *p, size_t n, size_t off, size_t *adv)
{
	int rc = EML_OK;
	eml_audit_record r;
	const uint8_t *rec;
	uint8_t h[32];
	EML_ENSURE(n - off >= 4, EML_E_AUDIT_TORN);
	uint32_t l = be32(p + off);
	EML_ENSURE(l >= EML_AUDIT_FIXED_LEN && l <= EML_AUDIT_MAX_RECORD, EML_E_AUDIT_MALFORMED);
	EML_ENSURE(l <= n - off - 4, EML_E_AUDIT_TORN);
	*adv = 4 + (size_t)l;
	rec = p + off + 4;
	s->rep->records++;
	EML_GUARD(eml_audit_record_decode(rec, l, &r));
	int is_signed = eml_audit_event_signed(r.event);
	EML_GUARD(eml_sha256(rec, l, h));
	if (r.event == EML_AEV_START) {
		EML_GUARD(eml_audit_record_check_sig(rec, l, &r));
		EML_GUARD(check_start(s, &r));
		if (s->in_boot && !s->rep->closed)
			s->rep->unclosed_boots++;
		s->in_boot = 1;
		s->rep->boots++;
		memcpy(s->pk, r.pk, 32);
		memcpy(s->start_doc_hash, r.start_doc_hash, 32);
		eml_ed25519_key_free(s->key);
		s->key = NULL;
		(void)eml_ed25519_key_from_pk(r.pk, &s->key); /* NULL: the slow path */
		s->n_pend = 0;
		memcpy(s->signed_prev, h, 32);
	} else {
		EML_ENSURE(s->in_boot, EML_E_AUDIT_START);
		if (!eml_ct_eq(r.pk, s->pk, 32)) {
			/* Another key: validly signed by it means spliced from another boot. */
			if (is_signed)
				EML_GUARD(eml_audit_record_check_sig(rec, l, &r));
			EML_FAIL(EML_E_AUDIT_FOREIGN);
		}
		if (is_signed) {
			EML_GUARD(check_sig(s, rec, l, &r));
			/* Signed by the boot's key, so made by the enclave: names its boot's document. */
			EML_ENSURE(memcmp(r.start_doc_hash, s->start_doc_hash, 32) == 0,
			           EML_E_AUDIT_MALFORMED);
		}
		if (r.seq < s->next_seq)
			EML_FAIL(EML_E_AUDIT_REORDERED);
		if (r.seq > s->next_seq) {
			uint64_t nx;
			if (peek_seq(p, n, off + *adv, &nx) == 0 && nx <= s->next_seq)
				EML_FAIL(EML_E_AUDIT_REORDERED);
			EML_FAIL(EML_E_AUDIT_REMOVED);
		}
		if (!is_signed) {
			EML_ENSURE(s->n_pend < AUDIT_MAX_PENDING, EML_E_AUDIT_MALFORMED);
			pending *q = &s->pend[s->n_pend++];
			q->index = s->index;
			q->offset = off;
			memcpy(q->hash, h, 32);
			memcpy(q->prev, r.prev, 32);
			q->foreign_doc = memcmp(r.start_doc_hash, s->start_doc_hash, 32) != 0;
			memcpy(s->prev, h, 32);
			s->next_seq = r.seq + 1;
			s->rep->closed = 0;
			s->rep->unsigned_tail = s->n_pend;
			goto out;
		}
		uint64_t bi = s->index, bo = off;
		rc = settle(s, r.prev, &bi, &bo);
		if (rc != EML_OK) {
			s->index = bi;
			s->offset = bo;
			goto out;
		}
		s->rep->good += s->n_pend;
		s->n_pend = 0;
		memcpy(s->signed_prev, h, 32);
	}
	memcpy(s->prev, h, 32);
	s->next_seq = r.seq + 1;
	s->rep->closed = r.event == EML_AEV_STOP;
	s->rep->unsigned_tail = 0;
	s->rep->good++;
	s->rep->has_last_good = 1;
	s->rep->last_good_seq = r.seq;
out:
	return rc;
}

static int verify_buf(vstate *s, const uint8_t *p, size_t n, const char *name)
{
	int rc = EML_OK;
	size_t off = 0;
	while (off < n) {
		size_t adv = 0;
		s->offset = off;
		rc = verify_one(s, p, n, off, &adv);
		if (rc != EML_OK) {
			s->rep->bad_index = s->index;
			s->rep->bad_offset = s->offset;
			snprintf(s->rep->bad_file, sizeof(s->rep->bad_file), "%s", name);
			return rc;
		}
		off += adv;
		s->index++;
	}
	return rc;
}

static int finish(vstate *s, int rc)
{
	eml_ed25519_key_free(s->key);
	s->key = NULL;
	if (rc == EML_OK && !s->in_boot)
		rc = EML_E_AUDIT_START; /* an empty log proves nothing */
	if (rc == EML_OK && s->o->require_stop && !s->rep->closed) {
		rc = EML_E_AUDIT_OPEN;
		s->rep->bad_index = s->index;
	}
	s->rep->rc = rc;
	return rc;
}

int eml_audit_verify_mem(const uint8_t *p, size_t n, const eml_audit_verify_opts *o,
                         eml_audit_report *rep)
{
	vstate s = {.o = o, .rep = rep};
	memset(rep, 0, sizeof(*rep));
	if (o == NULL || o->policy == NULL)
		return EML_E_ARG;
	return finish(&s, verify_buf(&s, p, n, "(memory)"));
}

int eml_audit_verify_files(const char *const *paths, size_t n, const eml_audit_verify_opts *o,
                           eml_audit_report *rep)
{
	vstate s = {.o = o, .rep = rep};
	int rc = EML_OK;
	memset(rep, 0, sizeof(*rep));
	if (o == NULL || o->policy == NULL || n == 0)
		return EML_E_ARG;
	for (size_t i = 0; i < n && rc == EML_OK; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		/* Rotated files are bounded by the host's rotation size; 1 GiB is far above it. */
		rc = eml_file_read(paths[i], (size_t)1 << 30, &buf, &len);
		if (rc != EML_OK) {
			snprintf(rep->bad_file, sizeof(rep->bad_file), "%s", paths[i]);
			rep->rc = rc;
			return rc;
		}
		rc = verify_buf(&s, buf, len, paths[i]);
		eml_free(buf);
	}
	return finish(&s, rc);
}

/* ------------------------------------------------------------------ receipts */

int eml_receipt_wrap(const uint8_t *record, size_t record_len, const uint8_t *doc, size_t doc_len,
                     eml_buf *out)
{
	int rc = EML_OK;
	EML_ENSURE(record != NULL && record_len >= EML_AUDIT_FIXED_LEN &&
	               record_len <= EML_AUDIT_MAX_RECORD,
	           EML_E_ARG);
	EML_ENSURE(doc != NULL && doc_len > 0 && doc_len <= EML_AUDIT_MAX_DOC, EML_E_LIMIT);
	eml_buf_put(out, "EMLR", 4);
	eml_buf_u8(out, EML_AUDIT_VERSION);
	eml_buf_u32(out, (uint32_t)record_len);
	eml_buf_put(out, record, record_len);
	eml_buf_u32(out, (uint32_t)doc_len);
	eml_buf_put(out, doc, doc_len);
	EML_GUARD(eml_buf_error(out));
out:
	return rc;
}

int eml_receipt_sign(eml_receipt *r, const uint8_t seed[32], eml_buf *out)
{
	eml_ed25519_key *k = NULL;
	int rc = eml_ed25519_key_from_seed(seed, &k);
	if (rc == EML_OK)
		rc = eml_receipt_sign_key(r, k, out);
	eml_ed25519_key_free(k);
	return rc;
}

int eml_receipt_sign_key(eml_receipt *r, const eml_ed25519_key *key, eml_buf *out)
{
	int rc = EML_OK;
	eml_audit_record a;
	eml_buf rec;
	eml_buf_init(&rec, EML_AUDIT_MAX_RECORD);
	EML_ENSURE(r->doc != NULL && r->doc_len > 0 && r->doc_len <= EML_AUDIT_MAX_DOC,
	           EML_E_LIMIT);
	EML_GUARD(eml_sha256(r->doc, r->doc_len, r->start_doc_hash));
	memset(&a, 0, sizeof(a));
	a.event = EML_AEV_RESPONSE;
	a.seq = r->audit_seq;
	a.time_ms = r->time_ms;
	memcpy(a.prev, r->prev, 32);
	memcpy(a.session_id, r->session_id, 16);
	memcpy(a.model_id, r->model_id, 16);
	a.request_seq = r->request_seq;
	a.duration_us = r->duration_us;
	memcpy(a.input_hash, r->input_hash, 32);
	memcpy(a.output_hash, r->output_hash, 32);
	memcpy(a.blob_hash, r->blob_hash, 32);
	memcpy(a.doc_hash, r->session_doc_hash, 32);
	memcpy(a.start_doc_hash, r->start_doc_hash, 32);
	memcpy(a.pk, r->pk, 32);
	EML_GUARD(record_encode_sign(key, &a, &rec));
	memcpy(r->sig, a.sig, 64);
	EML_GUARD(eml_receipt_wrap(rec.p, rec.len, r->doc, r->doc_len, out));
out:
	eml_buf_cleanup(&rec);
	return rc;
}

#undef RD
#define RD(x) EML_ENSURE((x) == EML_OK, EML_E_RECEIPT_MALFORMED)

/* Decodes the receipt and its record (a is the record, views into p). */
static int receipt_decode(const uint8_t *p, size_t n, eml_receipt *r, eml_audit_record *a)
{
	int rc = EML_OK;
	eml_cursor c;
	uint8_t magic[4], ver;
	uint32_t rl = 0;
	memset(r, 0, sizeof(*r));
	EML_ENSURE(n <= EML_RECEIPT_MAX, EML_E_RECEIPT_MALFORMED);
	eml_cur_init(&c, p, n);
	RD(eml_cur_copy(&c, magic, 4));
	EML_ENSURE(memcmp(magic, "EMLR", 4) == 0, EML_E_RECEIPT_MALFORMED);
	RD(eml_cur_u8(&c, &ver));
	EML_ENSURE(ver == EML_AUDIT_VERSION, EML_E_RECEIPT_MALFORMED);
	RD(eml_cur_u32(&c, &rl));
	EML_ENSURE(rl >= EML_AUDIT_FIXED_LEN && rl <= EML_AUDIT_MAX_RECORD,
	           EML_E_RECEIPT_MALFORMED);
	RD(eml_cur_view(&c, rl, &r->record));
	r->record_len = rl;
	RD(eml_cur_u32(&c, &r->doc_len));
	EML_ENSURE(r->doc_len > 0 && r->doc_len <= EML_AUDIT_MAX_DOC, EML_E_RECEIPT_MALFORMED);
	RD(eml_cur_view(&c, r->doc_len, &r->doc));
	EML_ENSURE(eml_cur_end(&c) == EML_OK, EML_E_RECEIPT_MALFORMED);
	/* Only a successful request's RESPONSE record is a receipt: a refusal, a session record or
	 * an intermediate stage signed (or chained) by the same key is not. */
	EML_ENSURE(eml_audit_record_decode(r->record, rl, a) == EML_OK, EML_E_RECEIPT_MALFORMED);
	EML_ENSURE(a->event == EML_AEV_RESPONSE && a->result == EML_OK, EML_E_RECEIPT_MALFORMED);
	r->audit_seq = a->seq;
	memcpy(r->session_id, a->session_id, 16);
	r->request_seq = a->request_seq;
	r->time_ms = a->time_ms;
	r->duration_us = a->duration_us;
	memcpy(r->prev, a->prev, 32);
	memcpy(r->model_id, a->model_id, 16);
	memcpy(r->blob_hash, a->blob_hash, 32);
	memcpy(r->input_hash, a->input_hash, 32);
	memcpy(r->output_hash, a->output_hash, 32);
	memcpy(r->session_doc_hash, a->doc_hash, 32);
	memcpy(r->start_doc_hash, a->start_doc_hash, 32);
	memcpy(r->pk, a->pk, 32);
	memcpy(r->sig, a->sig, 64);
out:
	return rc;
}

int eml_receipt_decode(const uint8_t *p, size_t n, eml_receipt *r)
{
	eml_audit_record a;
	return receipt_decode(p, n, r, &a);
}

int eml_receipt_verify(const uint8_t *p, size_t n, const eml_policy *policy,
                       const uint8_t *input_hash, const uint8_t *output_hash, eml_receipt *out)
{
	int rc = EML_OK;
	eml_receipt r;
	eml_audit_record a;
	eml_attest_claims cl;
	eml_verify_opts vo = {.at_document_time = 1};
	uint8_t h[32];
	memset(&cl, 0, sizeof(cl));
	EML_GUARD(receipt_decode(p, n, &r, &a));
	/* The signature covers start_doc_hash; the document must be the one it names. */
	EML_GUARD(eml_sha256(r.doc, r.doc_len, h));
	EML_ENSURE(memcmp(h, r.start_doc_hash, 32) == 0, EML_E_RECEIPT_ATTEST);
	EML_ENSURE(eml_attest_verify(r.doc, r.doc_len, policy, &vo, &cl) == EML_OK,
	           EML_E_RECEIPT_ATTEST);
	EML_ENSURE(eml_attest_user_data_check(&cl, r.pk) == EML_OK, EML_E_RECEIPT_ATTEST);
	EML_ENSURE(eml_audit_record_check_sig(r.record, r.record_len, &a) == EML_OK,
	           EML_E_RECEIPT_SIGNATURE);
	EML_ENSURE(input_hash == NULL || memcmp(input_hash, r.input_hash, 32) == 0,
	           EML_E_RECEIPT_INPUT);
	EML_ENSURE(output_hash == NULL || memcmp(output_hash, r.output_hash, 32) == 0,
	           EML_E_RECEIPT_OUTPUT);
	if (out != NULL)
		*out = r;
out:
	eml_attest_claims_cleanup(&cl);
	return rc;
}
