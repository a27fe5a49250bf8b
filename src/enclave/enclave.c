#include "enclave/enclave.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/nsm.h"
#include "audit/audit.h"
#include "attest/verify.h"
#include "common/guard.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/regs.h"
#include "crypto/ed25519.h"
#include "crypto/hash.h"
#include "host/channel.h"
#include "crypto/hpke.h"
#include "enclave/infer.h"
#include "enclave/sandbox.h"
#include "kms/enclave_kms.h"
#include "net/addr.h"
#include "net/sock.h"
#include "wire/msg.h"
#include "wire/session.h"

/* Named limits and defaults. */
#define EML_ENCLAVE_DEFAULT_MAX_CONCURRENT 4
#define EML_ENCLAVE_DEFAULT_MAX_CONNS 256
/* A connection keeps its request and response buffers between requests up to this size each
 * (larger ones are freed after the request, so idle connections hold little memory). */
#define EML_ENCLAVE_KEEP_BUF_BYTES ((size_t)16 << 20)
#define EML_ENCLAVE_DEFAULT_IDLE_MS 60000
#define EML_ENCLAVE_DEFAULT_IO_MS 30000
/* A client sends its hello right after connecting; a connection silent for longer holds a
 * thread and a slot for nothing (slowloris, half-open peers). */
#define EML_ENCLAVE_DEFAULT_HANDSHAKE_MS 10000
/* Generous for CPU inference of the models we serve (seconds), small enough that a runaway
 * request cannot hold a request slot for long. */
#define EML_ENCLAVE_DEFAULT_REQUEST_MS 120000
/* 2^26 input elements (256 MiB of float32) over all inputs of one request. */
#define EML_ENCLAVE_DEFAULT_MAX_ELEMENTS ((uint64_t)1 << 26)
/* Fetched ciphertext kept for later requests (public bytes; docs/MEMORY.md). */
#define EML_ENCLAVE_DEFAULT_BLOB_CACHE ((uint64_t)256 << 20)
/* Wiped, locked memory kept for the next request's arena and decrypted weights. */
#define EML_ENCLAVE_DEFAULT_ARENA_POOL ((uint64_t)512 << 20)
#define EML_ENCLAVE_ACCEPT_POLL_MS 200
/* Audit records waiting for the host (it may not be up yet, or be restarting). Beyond this the
 * newest are dropped, which a verifier sees as removed records: the host can always drop. */
#define EML_ENCLAVE_AUDIT_QUEUE 4096
#define EML_ENCLAVE_AUDIT_CONNECT_MS 1000
#define EML_ENCLAVE_AUDIT_RETRY_MS 100

typedef struct enclave {
	const eml_enclave_config *cfg;
	eml_addr host_channel;
	eml_nsm *nsm;
	pthread_mutex_t nsm_lock; /* the NSM handle is used by one thread at a time */
	uint8_t hpke_sk[EML_HPKE_SK_LEN], hpke_pk[EML_HPKE_PK_LEN];
	uint8_t sign_seed[EML_ED25519_SEED_LEN], sign_pk[EML_ED25519_PK_LEN];
	atomic_int active_requests;
	atomic_int conns;
	/* Audit (DESIGN §8, docs/AUDIT.md): one chain per boot, records sent in chain order. */
	pthread_mutex_t audit_lock;
	eml_audit_chain chain;
	uint8_t *start_doc; /* the start attestation document binding sign_pk */
	size_t start_doc_len;
	uint8_t start_doc_hash[32];
	int audit_fd;
	int64_t audit_retry_ms; /* no reconnection attempt before this (eml_net_now_ms clock) */
	uint8_t *queue[EML_ENCLAVE_AUDIT_QUEUE];
	size_t queue_len[EML_ENCLAVE_AUDIT_QUEUE];
	size_t queued;
	eml_blobcache *blobs; /* fetched ciphertext (public), enclave/blobcache.h */
} enclave;

/* The per-request time limit: one thread per connection (started at its first request, so a
 * request does not pay a thread creation), armed for each request, that sets `fired` (the
 * engine's cancellation flag) when the deadline passes before the request disarms it. */
typedef struct watchdog {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, armed, running;
	int64_t deadline_ms; /* eml_net_now_ms clock (CLOCK_MONOTONIC) */
	atomic_int fired;
	pthread_t t;
} watchdog;

typedef struct conn {
	enclave *e;
	int fd;
	watchdog wd;
	uint8_t session_id[EML_AUDIT_ID_LEN]; /* zero until the hello succeeded */
	uint64_t requests;                    /* the next request's number in the session */
} conn;

/* ------------------------------------------------------------------ audit */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Send what is queued, in order; keeps the rest when the host is away. Caller holds the lock. */
static void audit_flush_locked(enclave *e)
{
	size_t sent = 0;
	if (e->queued == 0)
		return;
	if (e->audit_fd < 0) {
		/* At most one connection attempt per retry interval while the host is away, so
		 * requests are not slowed down by one connect timeout per record. */
		int64_t now = eml_net_now_ms();
		if (now < e->audit_retry_ms)
			return;
		if (eml_net_connect(&e->host_channel, EML_ENCLAVE_AUDIT_CONNECT_MS, &e->audit_fd) !=
		    EML_OK) {
			e->audit_fd = -1;
			e->audit_retry_ms = eml_net_now_ms() + EML_ENCLAVE_AUDIT_RETRY_MS;
			return;
		}
	}
	while (sent < e->queued) {
		if (eml_channel_send_audit(e->audit_fd, e->queue[sent], e->queue_len[sent],
		                           e->cfg->io_timeout_ms) != EML_OK) {
			close(e->audit_fd);
			e->audit_fd = -1;
			break;
		}
		eml_free(e->queue[sent]);
		sent++;
	}
	memmove(e->queue, e->queue + sent, (e->queued - sent) * sizeof(e->queue[0]));
	memmove(e->queue_len, e->queue_len + sent, (e->queued - sent) * sizeof(e->queue_len[0]));
	e->queued -= sent;
}

/* Chain, sign and queue one record; copy (optional) gets the encoded record (the RESPONSE record
 * is also the receipt, docs/AUDIT.md §3). flush: send the queue to the host now; a request's
 * intermediate records (REQUEST, ASSEMBLY, INFERENCE, WIPE) wait for its RESPONSE or refusal,
 * so the host is woken once per request, not in the middle of its inference. Returns the
 * chain's result; callers other than the response ignore it: a lost record shows as a gap in
 * the chain, it never fails the request. */
static int audit_emit(enclave *e, eml_audit_record *r, eml_buf *copy, int flush)
{
	eml_buf b;
	int rc;
	eml_buf_init(&b, EML_AUDIT_MAX_RECORD);
	pthread_mutex_lock(&e->audit_lock);
	r->time_ms = wall_ms();
	rc = eml_audit_chain_append(&e->chain, r, &b);
	if (rc == EML_OK) {
		if (copy != NULL) {
			eml_buf_put(copy, b.p, b.len);
			rc = eml_buf_error(copy);
		}
		if (e->queued < EML_ENCLAVE_AUDIT_QUEUE) {
			size_t n = 0;
			uint8_t *p = eml_buf_take(&b, &n);
			if (p != NULL) {
				e->queue[e->queued] = p;
				e->queue_len[e->queued] = n;
				e->queued++;
			}
		}
	}
	if (flush)
		audit_flush_locked(e);
	pthread_mutex_unlock(&e->audit_lock);
	eml_buf_cleanup(&b);
	return rc;
}

static void audit_event(enclave *e, const conn *c, int event, int result)
{
	eml_audit_record r;
	memset(&r, 0, sizeof(r));
	r.event = (uint8_t)event;
	r.result = (uint16_t)result;
	if (c != NULL)
		memcpy(r.session_id, c->session_id, EML_AUDIT_ID_LEN);
	(void)audit_emit(e, &r, NULL, 1);
}

static int io_hash(const eml_io_tensor *t, size_t n, uint8_t out[32])
{
	eml_audit_tensor at[EML_WIRE_MAX_TENSORS];
	if (n > EML_WIRE_MAX_TENSORS)
		return EML_E_LIMIT;
	for (size_t i = 0; i < n; i++)
		at[i] = (eml_audit_tensor){.dtype = t[i].dtype,
		                           .rank = t[i].rank,
		                           .dims = t[i].dims,
		                           .data = t[i].data,
		                           .bytes = t[i].bytes};
	return eml_audit_tensors_hash(at, n, out);
}

/* A request's tensor hashes for its audit records, computed alongside its inference
 * (eml_infer_overlap): the inputs' while the model is assembled, the outputs' while the plan is
 * wiped. */
typedef struct hash_job {
	const eml_io_tensor *in;
	size_t n_in;
	int in_done, in_rc, out_rc;
	uint64_t in_us;
	uint8_t in_hash[32], out_hash[32];
} hash_job;

static void hash_inputs(void *arg)
{
	hash_job *j = arg;
	uint64_t t0 = mono_us();
	j->in_rc = io_hash(j->in, j->n_in, j->in_hash);
	j->in_us = mono_us() - t0;
	j->in_done = 1;
}

static void hash_outputs(void *arg, const eml_infer_out *o)
{
	hash_job *j = arg;
	j->out_rc = io_hash(o->t, o->n, j->out_hash);
}

void eml_enclave_config_defaults(eml_enclave_config *c)
{
	memset(c, 0, sizeof(*c));
	c->nsm_mode = "auto";
	c->max_concurrent = EML_ENCLAVE_DEFAULT_MAX_CONCURRENT;
	c->max_conns = EML_ENCLAVE_DEFAULT_MAX_CONNS;
	c->idle_timeout_ms = EML_ENCLAVE_DEFAULT_IDLE_MS;
	c->io_timeout_ms = EML_ENCLAVE_DEFAULT_IO_MS;
	c->handshake_timeout_ms = EML_ENCLAVE_DEFAULT_HANDSHAKE_MS;
	c->max_request_ms = EML_ENCLAVE_DEFAULT_REQUEST_MS;
	c->max_elements = EML_ENCLAVE_DEFAULT_MAX_ELEMENTS;
	c->limits = (eml_frame_limits)EML_FRAME_LIMITS_DEFAULT;
	c->blob_cache_bytes = EML_ENCLAVE_DEFAULT_BLOB_CACHE;
	c->arena_pool_bytes = EML_ENCLAVE_DEFAULT_ARENA_POOL;
}

/* Attestation document for a session: the client's nonce, our HPKE key as public_key, and the
 * Ed25519 receipt/audit key bound by hash in user_data (docs/ATTESTATION.md). */
static int make_doc(void *arg, const uint8_t nonce[EML_WIRE_NONCE_LEN], const uint8_t hpke_pk[32],
                    uint8_t **doc, size_t *doc_len)
{
	enclave *e = arg;
	uint8_t ud[EML_USER_DATA_LEN];
	int rc = eml_attest_user_data_build(e->sign_pk, ud);
	if (rc != EML_OK)
		return rc;
	pthread_mutex_lock(&e->nsm_lock);
	rc = eml_nsm_attest(e->nsm, ud, sizeof(ud), nonce, EML_WIRE_NONCE_LEN, hpke_pk, 32, doc,
	                    doc_len);
	pthread_mutex_unlock(&e->nsm_lock);
	return rc;
}

/* Blob fetch over the host channel: one connection per fetch, so a restarted host is simply
 * reconnected to. The host is untrusted; the caller checks the digest. */
static int fetch_blob(void *ctx, const uint8_t model_id[EML_MODEL_ID_BYTES], uint8_t **blob,
                      size_t *len)
{
	enclave *e = ctx;
	int rc = EML_OK, fd = -1;
	uint8_t type = 0, *payload = NULL;
	uint32_t plen = 0;
	EML_GUARD(eml_net_connect(&e->host_channel, e->cfg->io_timeout_ms, &fd));
	EML_GUARD(eml_net_send_frame(fd, EML_FT_BLOB_FETCH, model_id, EML_MODEL_ID_BYTES,
	                             e->cfg->io_timeout_ms));
	EML_GUARD(
	    eml_net_recv_frame(fd, &e->cfg->limits, e->cfg->io_timeout_ms, &type, &payload, &plen));
	if (type == EML_FT_BLOB_NOT_FOUND)
		EML_FAIL(EML_E_STORE_NOT_FOUND);
	if (type == EML_FT_ERROR) {
		/* The host refused (e.g. a stored blob failed its digest check): pass on its store
		 * codes, which only ever make us refuse; anything else is a generic host failure. */
		int code = EML_E_REMOTE;
		if (eml_msg_error_decode(payload, plen, &code) != EML_OK ||
		    (code != EML_E_STORE_REFUSED && code != EML_E_STORE_NOT_FOUND))
			code = EML_E_HOST_UNAVAILABLE;
		EML_FAIL(code);
	}
	EML_ENSURE(type == EML_FT_BLOB_DATA, EML_E_MSG_UNEXPECTED);
	*blob = payload;
	*len = plen;
	payload = NULL;
out:
	eml_free(payload);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* AWS credentials for the KMS client, asked of the host over the host channel (docs/KMS.md): in
 * Nitro the enclave has no IMDS and no credentials of its own. Not secret from the host; wiped by
 * the caller after the KMS call. */
static int fetch_kms_creds(void *ctx, eml_kms_creds *out)
{
	enclave *e = ctx;
	int rc = EML_OK, fd = -1, code = 0;
	uint8_t type = 0, *payload = NULL;
	uint32_t plen = 0;
	EML_GUARD(eml_net_connect(&e->host_channel, e->cfg->io_timeout_ms, &fd));
	EML_GUARD(eml_net_send_frame(fd, EML_FT_KMS_CREDS_FETCH, NULL, 0, e->cfg->io_timeout_ms));
	EML_GUARD(
	    eml_net_recv_frame(fd, &e->cfg->limits, e->cfg->io_timeout_ms, &type, &payload, &plen));
	if (type == EML_FT_ERROR) {
		/* The host's reason (e.g. KMS_CREDENTIALS: it was started without any). */
		EML_GUARD(eml_msg_error_decode(payload, plen, &code));
		EML_FAIL(code >= 800 && code <= 899 ? code : EML_E_KMS_CREDENTIALS);
	}
	EML_ENSURE(type == EML_FT_KMS_CREDS, EML_E_MSG_UNEXPECTED);
	EML_GUARD(eml_kms_creds_decode(payload, plen, out));
out:
	eml_free(payload); /* wipes */
	if (fd >= 0)
		close(fd);
	return rc;
}

static void send_error(conn *c, int code)
{
	eml_buf b;
	eml_buf_init(&b, 0);
	if (eml_msg_error_encode(&b, code) == EML_OK)
		(void)eml_net_send_frame(c->fd, EML_FT_ERROR, b.p, b.len, c->e->cfg->io_timeout_ms);
	eml_buf_cleanup(&b);
}

/* Wire tensors → engine inputs. Names are copied NUL-terminated (empty name = by position). */
static int inputs_from_wire(const eml_request_pt *rq, eml_io_tensor **out, char ***names_out)
{
	int rc = EML_OK;
	size_t n = rq->n_inputs;
	eml_io_tensor *in = eml_calloc(n != 0 ? n : 1, sizeof(*in));
	char **names = eml_calloc(n != 0 ? n : 1, sizeof(*names));
	EML_ENSURE(in != NULL && names != NULL, EML_E_NOMEM);
	for (size_t i = 0; i < n; i++) {
		const eml_wire_tensor *w = &rq->inputs[i];
		EML_ENSURE(w->rank <= EML_MAX_RANK, EML_E_MSG_MALFORMED);
		if (w->name_len > 0) {
			names[i] = eml_calloc(1, (size_t)w->name_len + 1);
			EML_ENSURE(names[i] != NULL, EML_E_NOMEM);
			memcpy(names[i], w->name, w->name_len);
		}
		in[i].name = names[i];
		in[i].dtype = w->dtype;
		in[i].rank = w->rank;
		for (uint32_t d = 0; d < w->rank; d++)
			in[i].dims[d] = (int64_t)w->dims[d];
		in[i].data = w->data;
		in[i].bytes = w->data_len;
	}
	*out = in;
	*names_out = names;
	in = NULL;
	names = NULL;
out:
	if (names != NULL)
		for (size_t i = 0; i < n; i++)
			eml_free(names[i]);
	eml_free(names);
	eml_free(in);
	return rc;
}

static void free_names(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		eml_free(names[i]);
	eml_free(names);
}

/* Elements over every input tensor of a request (saturating), for max_elements. */
static uint64_t input_elements(const eml_request_pt *rq)
{
	uint64_t total = 0;
	for (size_t i = 0; i < rq->n_inputs; i++) {
		uint64_t n = 1;
		for (uint32_t d = 0; d < rq->inputs[i].rank && d < EML_MAX_RANK; d++) {
			uint64_t k = rq->inputs[i].dims[d];
			n = k != 0 && n > UINT64_MAX / k ? UINT64_MAX : n * k;
		}
		total = n > UINT64_MAX - total ? UINT64_MAX : total + n;
	}
	return total;
}

static void *watchdog_main(void *arg)
{
	watchdog *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (!w->armed) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		int64_t left = w->deadline_ms - eml_net_now_ms();
		if (left <= 0) {
			atomic_store(&w->fired, 1);
			w->armed = 0;
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(left / 1000);
		ts.tv_nsec += (long)(left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Arms the connection's watchdog for ms (<= 0: no limit), starting its thread the first time. */
static int watchdog_arm(watchdog *w, int ms)
{
	if (ms <= 0)
		return EML_OK;
	if (!w->running) {
		pthread_condattr_t ca;
		atomic_init(&w->fired, 0);
		w->stop = w->armed = 0;
		pthread_mutex_init(&w->mu, NULL);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->cv, &ca);
		pthread_condattr_destroy(&ca);
		if (eml_thread_create_clean(&w->t, watchdog_main, w) != 0) {
			pthread_cond_destroy(&w->cv);
			pthread_mutex_destroy(&w->mu);
			return EML_E_NOMEM;
		}
		w->running = 1;
	}
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->fired, 0);
	w->deadline_ms = eml_net_now_ms() + ms;
	w->armed = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return EML_OK;
}

/* Under the lock: once disarmed, the request's flag can no longer be set. */
static void watchdog_disarm(watchdog *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->mu);
	w->armed = 0;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void watchdog_free(watchdog *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->t, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->running = 0;
}

/* One request: open, run, seal. On EML_OK the RESPONSE frame is in *frame. */
static int serve_request(conn *c, eml_enclave_session *s, uint8_t *payload, size_t len,
                         eml_buf *frame)
{
	enclave *e = c->e;
	int rc = EML_OK, counted = 0, bad_input = -1;
	const uint8_t *pt = NULL; /* inside payload, which the caller wipes */
	size_t pt_len = 0;
	eml_request_pt rq;
	eml_io_tensor *inputs = NULL;
	char **names = NULL;
	eml_infer_out outs;
	eml_infer_stats st;
	eml_wire_tensor *wout = NULL;
	eml_pt_parts *pp = NULL;
	uint8_t *unsealed = NULL; /* the topology key opened through KMS, when it came sealed */
	size_t unsealed_len = 0;
	eml_buf receipt, rrec;
	eml_audit_record ar;
	hash_job hj = {.in_rc = EML_E_INTERNAL, .out_rc = EML_E_INTERNAL};
	watchdog *wd = &c->wd;
	uint64_t t0 = mono_us();
	/* The time limit runs from here (the request has arrived whole) to the sealed response. */
	int wrc = watchdog_arm(wd, e->cfg->max_request_ms);
	memset(&ar, 0, sizeof(ar));
	memcpy(ar.session_id, c->session_id, EML_AUDIT_ID_LEN);
	ar.request_seq = c->requests;
	eml_buf_init(&receipt, EML_WIRE_MAX_RECEIPT);
	eml_buf_init(&rrec, EML_AUDIT_MAX_RECORD);
	memset(&rq, 0, sizeof(rq));
	memset(&outs, 0, sizeof(outs));

	EML_GUARD(wrc);
	EML_GUARD(eml_enclave_session_open_request_inplace(s, payload, len, &pt, &pt_len));
	EML_GUARD(eml_request_pt_decode(pt, pt_len, &rq));
	EML_ENSURE(e->cfg->max_elements == 0 || input_elements(&rq) <= e->cfg->max_elements,
	           EML_E_ENCLAVE_LIMIT);
	if (atomic_fetch_add(&e->active_requests, 1) >= e->cfg->max_concurrent) {
		atomic_fetch_sub(&e->active_requests, 1);
		EML_FAIL(EML_E_ENCLAVE_BUSY);
	}
	counted = 1;
	EML_GUARD(inputs_from_wire(&rq, &inputs, &names));
	memcpy(ar.model_id, rq.model_id, EML_AUDIT_ID_LEN);
	hj.in = inputs;
	hj.n_in = rq.n_inputs;
	uint64_t decode_us = mono_us() - t0;

	/* The key must be for the model the client named: the blob is fetched by the key's id. */
	eml_engine_opts eo = {
	    .threads = e->cfg->threads, .max_memory = e->cfg->max_memory, .cancel = &wd->fired};
	eml_infer_overlap ov = {
	    .with_assembly = hash_inputs, .with_wipe = hash_outputs, .arg = &hj};
	/* A sealed topology key (docs/KMS.md) is opened by KMS for this attested enclave only. */
	int irc = eml_kms_enclave_unseal(e->nsm, &e->nsm_lock, rq.tkey, rq.tkey_len,
	                                 fetch_kms_creds, e, &unsealed, &unsealed_len);
	if (irc == EML_OK)
		irc = eml_enclave_infer(unsealed != NULL ? unsealed : rq.tkey,
		                        unsealed != NULL ? unsealed_len : rq.tkey_len, inputs,
		                        rq.n_inputs, fetch_blob, e, e->blobs, &eo, &ov, &outs, &st,
		                        &bad_input);
	/* The REQUEST record comes first in the chain whatever happened next; its input hash was
	 * computed alongside the assembly (or here, if the key never reached it). */
	if (!hj.in_done)
		hash_inputs(&hj);
	EML_GUARD(hj.in_rc);
	memcpy(ar.input_hash, hj.in_hash, 32);
	ar.event = EML_AEV_REQUEST;
	ar.duration_us = decode_us + hj.in_us;
	(void)audit_emit(e, &ar, NULL, 0);
	/* Past the deadline nothing is answered but the refusal, however far the request got (the
	 * plan, arena included, is already wiped and freed by eml_enclave_infer). */
	EML_ENSURE(!atomic_load(&wd->fired), EML_E_ENCLAVE_TIMEOUT);
	EML_GUARD(irc);
	EML_ENSURE(memcmp(st.model_id, rq.model_id, EML_MODEL_ID_BYTES) == 0, EML_E_MODEL_MISMATCH);
	memcpy(ar.blob_hash, st.blob_digest, 32);
	ar.event = EML_AEV_ASSEMBLY;
	ar.duration_us = st.fetch_us + st.join_us + st.plan_us;
	(void)audit_emit(e, &ar, NULL, 0);
	ar.event = EML_AEV_INFERENCE;
	ar.duration_us = st.run_us;
	(void)audit_emit(e, &ar, NULL, 0);
	ar.event = EML_AEV_WIPE;
	ar.duration_us = st.wipe_us;
	(void)audit_emit(e, &ar, NULL, 0);
	EML_GUARD(hj.out_rc);
	memcpy(ar.output_hash, hj.out_hash, 32);

	EML_ENSURE(outs.n <= EML_WIRE_MAX_TENSORS, EML_E_LIMIT);
	wout = eml_calloc(outs.n != 0 ? outs.n : 1, sizeof(*wout));
	EML_ENSURE(wout != NULL, EML_E_NOMEM);
	for (size_t i = 0; i < outs.n; i++) {
		const eml_io_tensor *t = &outs.t[i];
		size_t nl = t->name != NULL ? strlen(t->name) : 0;
		EML_ENSURE(nl <= EML_WIRE_MAX_NAME_LEN, EML_E_LIMIT);
		wout[i].name = (const uint8_t *)t->name;
		wout[i].name_len = (uint16_t)nl;
		wout[i].dtype = (uint8_t)t->dtype;
		wout[i].rank = (uint8_t)t->rank;
		for (uint32_t d = 0; d < t->rank; d++)
			wout[i].dims[d] = (uint64_t)t->dims[d];
		wout[i].data = t->data;
		wout[i].data_len = t->bytes;
	}
	/* The RESPONSE record is emitted before sealing: signed once, it is both the log's record
	 * and the client's receipt (wrapped with the start document, docs/AUDIT.md §3). */
	eml_enclave_session_doc_hash(s, ar.doc_hash);
	ar.event = EML_AEV_RESPONSE;
	ar.duration_us = mono_us() - t0;
	EML_GUARD(audit_emit(e, &ar, &rrec, 1));
	EML_GUARD(eml_receipt_wrap(rrec.p, rrec.len, e->start_doc, e->start_doc_len, &receipt));
	eml_response_pt resp = {.n_outputs = (uint16_t)outs.n,
	                        .outputs = wout,
	                        .receipt = receipt.p,
	                        .receipt_len = (uint32_t)receipt.len};
	/* Sealed from the outputs where they lie: no plaintext copy of them is made. */
	pp = eml_calloc(1, sizeof(*pp));
	EML_ENSURE(pp != NULL, EML_E_NOMEM);
	EML_GUARD(eml_response_pt_parts(pp, &resp));
	EML_ENSURE(!atomic_load(&wd->fired), EML_E_ENCLAVE_TIMEOUT);
	EML_GUARD(eml_enclave_session_seal_response_iov(s, pp->part, pp->n, frame));
out:
	watchdog_disarm(wd);
	if (counted)
		atomic_fetch_sub(&e->active_requests, 1);
	c->requests++;
	eml_buf_cleanup(&receipt);
	eml_buf_cleanup(&rrec);
	if (pp != NULL)
		eml_pt_parts_cleanup(pp);
	eml_free(pp);
	eml_free(wout);
	eml_infer_out_cleanup(&outs);
	free_names(names, rq.n_inputs);
	eml_free(inputs);
	eml_request_pt_cleanup(&rq);
	eml_free(unsealed);
	return rc;
}

static void *conn_main(void *arg)
{
	conn *c = arg;
	enclave *e = c->e;
	const eml_enclave_config *cfg = e->cfg;
	eml_enclave_session *s = NULL;
	uint8_t type = 0, *payload = NULL;
	uint32_t len = 0;
	eml_buf frame, in;
	int rc, opened = 0;
	eml_buf_init(&frame, 0);
	eml_buf_init(&in, 0);

	rc = eml_enclave_session_new(e->hpke_sk, e->hpke_pk, &s);
	if (rc != EML_OK)
		goto out;
	/* The hello has the (short) handshake deadline for the whole frame, so a silent or
	 * trickling peer frees its thread and slot soon. */
	rc = eml_net_recv_frame(c->fd, &cfg->limits,
	                        cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms
	                                                      : cfg->idle_timeout_ms,
	                        &type, &payload, &len);
	if (rc != EML_OK)
		goto out;
	if (type != EML_FT_CLIENT_HELLO) {
		rc = EML_E_MSG_UNEXPECTED;
		goto out;
	}
	rc = eml_enclave_session_hello(s, payload, len, make_doc, e, &frame);
	eml_free(payload);
	payload = NULL;
	if (rc != EML_OK)
		goto out;
	{
		eml_audit_record r;
		memset(&r, 0, sizeof(r));
		r.event = EML_AEV_ATTEST;
		eml_enclave_session_id(s, c->session_id);
		memcpy(r.session_id, c->session_id, EML_AUDIT_ID_LEN);
		eml_enclave_session_doc_hash(s, r.doc_hash);
		(void)audit_emit(e, &r, NULL, 1);
		opened = 1;
	}
	rc = eml_net_write_all(c->fd, frame.p, frame.len, eml_net_now_ms() + cfg->io_timeout_ms);
	if (rc != EML_OK)
		goto out;
	for (;;) {
		/* The request and response buffers are kept across requests (no page faults per
		 * request) unless they grew past EML_ENCLAVE_KEEP_BUF_BYTES. */
		if (frame.cap > EML_ENCLAVE_KEEP_BUF_BYTES || frame.err != EML_OK) {
			eml_buf_cleanup(&frame);
			eml_buf_init(&frame, 0);
		}
		frame.len = 0;
		if (in.cap > EML_ENCLAVE_KEEP_BUF_BYTES || in.err != EML_OK) {
			eml_buf_cleanup(&in);
			eml_buf_init(&in, 0);
		}
		rc = eml_net_recv_frame_buf(c->fd, &cfg->limits, cfg->idle_timeout_ms, &type, &in);
		if (rc != EML_OK)
			break;
		if (type != EML_FT_REQUEST) {
			rc = EML_E_MSG_UNEXPECTED;
			break;
		}
		rc = serve_request(c, s, in.p, in.len, &frame);
		/* the request, decrypted in place: topology key and inputs are wiped here */
		eml_wipe(in.p, in.len);
		/* Whatever the request left on this thread's stack (crypto, kernels) goes too. */
		eml_stack_scrub(EML_STACK_SCRUB_BYTES);
		if (rc != EML_OK)
			break;
		rc = eml_net_write_all(c->fd, frame.p, frame.len,
		                       eml_net_now_ms() + cfg->io_timeout_ms);
		if (rc != EML_OK)
			break;
	}
out:
	/* A closed or silent peer is normal; everything else is refused with its code. */
	if (rc != EML_OK && rc != EML_E_NET_CLOSED && rc != EML_E_NET_TIMEOUT &&
	    rc != EML_E_NET_IO && rc != EML_E_FRAME_TRUNCATED) {
		eml_log_info("request refused: %s (%s)", eml_err_str(rc), eml_err_name(rc));
		audit_event(e, c, EML_AEV_REFUSAL, rc);
		send_error(c, rc);
	}
	if (opened)
		audit_event(e, c, EML_AEV_SESSION_CLOSE, EML_OK);
	eml_free(payload);
	eml_buf_cleanup(&frame);
	eml_buf_cleanup(&in);
	eml_enclave_session_free(s);
	eml_stack_scrub(EML_STACK_SCRUB_BYTES);
	watchdog_free(&c->wd);
	close(c->fd);
	atomic_fetch_sub(&e->conns, 1);
	eml_free(c);
	return NULL;
}

static int start_conn(enclave *e, int fd)
{
	if (atomic_fetch_add(&e->conns, 1) >= e->cfg->max_conns) {
		atomic_fetch_sub(&e->conns, 1);
		conn tmp = {.e = e, .fd = fd};
		audit_event(e, NULL, EML_AEV_REFUSAL, EML_E_NET_BUSY);
		send_error(&tmp, EML_E_NET_BUSY);
		close(fd);
		return EML_OK;
	}
	conn *c = eml_calloc(1, sizeof(*c));
	pthread_t t;
	pthread_attr_t attr;
	if (c == NULL)
		goto fail;
	c->e = e;
	c->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&t, &attr, conn_main, c);
	pthread_attr_destroy(&attr);
	if (err == 0)
		return EML_OK;
fail:
	eml_free(c);
	close(fd);
	atomic_fetch_sub(&e->conns, 1);
	return EML_E_NOMEM;
}

int eml_enclave_run(const eml_enclave_config *cfg, const volatile sig_atomic_t *stop)
{
	int rc = EML_OK, lfd = -1;
	enclave *e = NULL;
	eml_addr listen_addr;

	eml_sandbox_opts so = {.families = 0, .lock_memory = 1};
	e = eml_calloc(1, sizeof(*e));
	EML_ENSURE(e != NULL, EML_E_NOMEM);
	e->cfg = cfg;
	pthread_mutex_init(&e->nsm_lock, NULL);
	pthread_mutex_init(&e->audit_lock, NULL);
	e->audit_fd = -1;
	EML_ENSURE(cfg->listen != NULL && cfg->host_channel != NULL, EML_E_USAGE);
	EML_GUARD(eml_addr_parse(cfg->listen, &listen_addr));
	EML_GUARD(eml_addr_parse(cfg->host_channel, &e->host_channel));
	EML_GUARD(eml_sandbox_harden(&so));
	EML_GUARD(eml_blobcache_new(cfg->blob_cache_bytes, &e->blobs));
	/* Released arenas are wiped and kept locked for the next request (docs/MEMORY.md). */
	eml_secmem_set_pool_limit((size_t)cfg->arena_pool_bytes);

	/* Per-boot keys: they never leave this process. */
	EML_GUARD(eml_hpke_keypair_generate(e->hpke_sk, e->hpke_pk));
	EML_GUARD(eml_ed25519_keypair_generate(e->sign_seed, e->sign_pk));

	eml_nsm_opts no = {.sim_ca_dir = cfg->sim_ca_dir};
	EML_GUARD(eml_nsm_open(cfg->nsm_mode, &no, &e->nsm));
	if (eml_nsm_is_simulated(e->nsm))
		eml_log_warn(
		    "SIMULATED enclave: attestation documents are signed by a local test CA, "
		    "not by AWS; clients accept them only with a policy naming that root");

	/* The start record: an attestation document binding the signing key (no nonce), so the
	 * log and every receipt verify offline against a policy (docs/AUDIT.md). */
	{
		uint8_t ud[EML_USER_DATA_LEN];
		eml_audit_record r;
		EML_GUARD(eml_attest_user_data_build(e->sign_pk, ud));
		EML_GUARD(eml_nsm_attest(e->nsm, ud, sizeof(ud), NULL, 0, NULL, 0, &e->start_doc,
		                         &e->start_doc_len));
		EML_ENSURE(e->start_doc_len <= EML_AUDIT_MAX_DOC, EML_E_LIMIT);
		EML_GUARD(eml_sha256(e->start_doc, e->start_doc_len, e->start_doc_hash));
		EML_GUARD(eml_audit_chain_init(&e->chain, e->sign_seed, e->sign_pk));
		memset(&r, 0, sizeof(r));
		r.event = EML_AEV_START;
		r.doc = e->start_doc;
		r.doc_len = (uint32_t)e->start_doc_len;
		memcpy(r.doc_hash, e->start_doc_hash, 32);
		(void)audit_emit(e, &r, NULL, 1);
	}

	EML_GUARD(eml_net_listen(&listen_addr, &lfd));
	const eml_addr *addrs[2] = {&listen_addr, &e->host_channel};
	for (int i = 0; i < 2; i++) {
		if (addrs[i]->kind == EML_ADDR_UNIX)
			so.families |= EML_SANDBOX_AF_UNIX;
		else if (addrs[i]->kind == EML_ADDR_TCP)
			so.families |= EML_SANDBOX_AF_INET;
		else if (addrs[i]->kind == EML_ADDR_VSOCK)
			so.families |= EML_SANDBOX_AF_VSOCK;
	}
	/* The KMS client (sealed topology keys, docs/KMS.md) reaches its endpoint over TCP. */
	if (getenv("EML_KMS_ENDPOINT") != NULL) {
		/* ...or over the transport EML_KMS_VIA names (vsock to the parent's vsock-proxy). */
		eml_addr via;
		const char *v = getenv("EML_KMS_VIA");
		if (v == NULL || eml_addr_parse(v, &via) != EML_OK || via.kind == EML_ADDR_TCP)
			so.families |= EML_SANDBOX_AF_INET;
		else if (via.kind == EML_ADDR_UNIX)
			so.families |= EML_SANDBOX_AF_UNIX;
		else if (via.kind == EML_ADDR_VSOCK)
			so.families |= EML_SANDBOX_AF_VSOCK;
	}
	if (cfg->no_sandbox)
		eml_log_warn("--no-sandbox: the seccomp filter is OFF; never run like this in "
		             "production");
	else
		EML_GUARD(eml_sandbox_enter(&so));

	fprintf(stderr, "eml enclave: ready (%s)\n",
	        eml_nsm_is_simulated(e->nsm) ? "SIMULATED NSM" : "NSM device");
	while (stop == NULL || !*stop) {
		int fd = -1;
		int arc = eml_net_accept(lfd, EML_ENCLAVE_ACCEPT_POLL_MS, &fd);
		if (arc == EML_E_NET_TIMEOUT) {
			/* Idle: hand over records the host could not take earlier. */
			pthread_mutex_lock(&e->audit_lock);
			audit_flush_locked(e);
			pthread_mutex_unlock(&e->audit_lock);
			continue;
		}
		if (arc != EML_OK)
			continue; /* a failed accept does not stop the service */
		(void)start_conn(e, fd);
	}
	/* Let connection threads finish (bounded). */
	for (int i = 0; i < 100 && atomic_load(&e->conns) > 0; i++)
		usleep(50 * 1000);
	audit_event(e, NULL, EML_AEV_STOP, EML_OK);
out:
	if (lfd >= 0)
		close(lfd);
	if (e != NULL && atomic_load(&e->conns) == 0) {
		eml_nsm_free(e->nsm);
		pthread_mutex_destroy(&e->nsm_lock);
		for (size_t i = 0; i < e->queued; i++)
			eml_free(e->queue[i]);
		if (e->audit_fd >= 0)
			close(e->audit_fd);
		eml_free(e->start_doc);
		eml_audit_chain_cleanup(&e->chain);
		pthread_mutex_destroy(&e->audit_lock);
		eml_blobcache_free(e->blobs);
		eml_free(e); /* wipes the per-boot keys */
	}
	return rc;
}
