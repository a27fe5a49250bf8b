/*
 * Property 13 through real processes: random batteries of requests (good ones, a missing blob, a
 * corrupted blob, a mis-shaped input, a forged request that fails decryption, a replayed sequence
 * number, a policy refusal on the client side) against `eml host --audit-log` and `eml enclave`.
 * After each action the new records of the log must be exactly the security-relevant events of
 * that action, once each, in order, with the right result codes; the whole log must verify
 * (signatures, chain, start attestation against the policy); receipts of good requests verify and
 * bind the inputs and outputs; and no byte window of inputs, outputs, weights or topology key may
 * appear in the log.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"
#include "e2e.h"
#include "eml/client.h"
#include "gen_onnx.h"
#include "net/addr.h"
#include "net/sock.h"
#include "prop.h"
#include "topo/topo.h"
#include "wire/msg.h"
#include "wire/session.h"

enum action { A_GOOD, A_MISSING_BLOB, A_CORRUPT_BLOB, A_BAD_INPUT, A_FORGED, A_REPLAY, A_COUNT };

typedef struct mcase {
	uint8_t *tkey, *blob;
	size_t tkey_len, blob_len;
	eml_gen_info info;
	eml_window_set *secrets;
	float *data[4];
	eml_client_tensor in[4];
} mcase;

static void mcase_new(eml_rng *rng, mcase *mc)
{
	memset(mc, 0, sizeof(*mc));
	eml_gen_opts go = {.max_layers = 2};
	eml_model *m;
	PROP_ASSERT(eml_gen_model_ir(rng, &go, &m, &mc->info) == EML_OK, "generate");
	eml_decompose_opts d = {0};
	PROP_ASSERT(eml_topo_decompose(m, &d, &mc->tkey, &mc->tkey_len, &mc->blob, &mc->blob_len) ==
	                EML_OK,
	            "decompose");
	mc->secrets = eml_window_set_new();
	for (uint32_t i = 0; i < m->n_tensors; i++)
		eml_window_set_add(mc->secrets, m->data + m->tensors[i].offset,
		                   (size_t)m->tensors[i].length, 1);
	eml_window_set_add(mc->secrets, mc->tkey + 32, 32, 2); /* the blob key */
	for (uint32_t i = 0; i < mc->info.n_inputs; i++) {
		const eml_gen_input *gi = &mc->info.inputs[i];
		uint64_t n = 1;
		for (uint32_t k = 0; k < gi->rank; k++)
			n *= (uint64_t)gi->dims[k];
		mc->data[i] = eml_alloc(n * 4 + 4);
		for (uint64_t k = 0; k < n; k++)
			mc->data[i][k] = eml_rng_normal(rng);
		eml_window_set_add(mc->secrets, (uint8_t *)mc->data[i], n * 4, 3);
		mc->in[i] = (eml_client_tensor){
		    .dtype = gi->dtype, .rank = gi->rank, .data = mc->data[i], .bytes = n * 4};
		memcpy(mc->in[i].dims, gi->dims, sizeof(gi->dims));
	}
	eml_model_free(m);
}

static void mcase_free(mcase *mc)
{
	eml_free(mc->tkey);
	eml_free(mc->blob);
	eml_window_set_free(mc->secrets);
	for (int i = 0; i < 4; i++)
		eml_free(mc->data[i]);
}

static void client_hash(const eml_client_tensor *t, size_t n, uint8_t out[32])
{
	eml_audit_tensor at[8];
	for (size_t i = 0; i < n; i++)
		at[i] = (eml_audit_tensor){.dtype = t[i].dtype,
		                           .rank = t[i].rank,
		                           .dims = t[i].dims,
		                           .data = t[i].data,
		                           .bytes = t[i].bytes};
	cr_assert_eq(eml_audit_tensors_hash(at, n, out), EML_OK);
}

/* A good or failing inference through the client library; a good one's receipt is checked, and
 * its RESPONSE record (the receipt is that signed record) copied to *rec for the log check. */
static int infer(eml_e2e *e, const eml_policy *pol, mcase *mc, eml_client_tensor *in, uint8_t **rec,
                 size_t *rec_len)
{
	eml_client *c = NULL;
	eml_client_result *r = NULL;
	eml_client_opts co = {
	    .host = e->client_addr, .policy_path = e->policy, .timeout_ms = 20000};
	int rc = eml_client_connect(&co, &c);
	if (rc == EML_OK)
		rc = eml_client_infer(c, mc->tkey, mc->tkey_len, in, mc->info.n_inputs, &r);
	if (rc == EML_OK) {
		size_t rl = 0, no = eml_client_result_count(r);
		const uint8_t *rb = eml_client_result_receipt(r, &rl);
		uint8_t hin[32], hout[32];
		eml_client_tensor outs[8];
		PROP_ASSERT(rb != NULL && no <= 8, "no receipt");
		for (size_t i = 0; i < no; i++) {
			outs[i] = *eml_client_result_tensor(r, i);
			/* Outputs must not leak into the log either. */
			eml_window_set_add(mc->secrets, outs[i].data, (size_t)outs[i].bytes, 4);
		}
		client_hash(in, mc->info.n_inputs, hin);
		client_hash(outs, no, hout);
		eml_receipt rr;
		int vr = eml_receipt_verify(rb, rl, pol, hin, hout, &rr);
		PROP_ASSERT(vr == EML_OK, "receipt refused: %s", eml_err_name(vr));
		if (rec != NULL) {
			*rec = eml_memdup(rr.record, rr.record_len);
			*rec_len = rr.record_len;
		}
		hin[0] ^= 1;
		PROP_ASSERT(eml_receipt_verify(rb, rl, pol, hin, hout, NULL) == EML_E_RECEIPT_INPUT,
		            "receipt accepted other inputs");
	}
	eml_client_result_free(r);
	eml_client_free(c);
	return rc;
}

/* A session up to the server hello, then one REQUEST frame with a random ciphertext: at seq 0
 * it fails decryption, at another seq it is a replay. Returns the code of the ERROR reply. */
static int forged_request(eml_rng *rng, eml_e2e *e, uint64_t seq)
{
	eml_addr a;
	eml_client_session *s = NULL;
	eml_buf h, f;
	uint8_t type, *p = NULL;
	uint32_t n;
	int fd = -1, code = -1;
	eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;
	eml_msg_server_hello sh;
	eml_buf_init(&h, 0);
	eml_buf_init(&f, 0);
	PROP_ASSERT(eml_addr_parse(e->client_addr, &a) == EML_OK &&
	                eml_net_connect(&a, 5000, &fd) == EML_OK,
	            "connect");
	eml_client_session_new(&s);
	eml_client_session_hello(s, &h);
	PROP_ASSERT(eml_net_write_all(fd, h.p, h.len, eml_net_now_ms() + 5000) == EML_OK, "hello");
	PROP_ASSERT(eml_net_recv_frame(fd, &lim, 10000, &type, &p, &n) == EML_OK &&
	                type == EML_FT_SERVER_HELLO,
	            "server hello");
	PROP_ASSERT(eml_msg_server_hello_decode(p, n, &sh) == EML_OK, "server hello decode");
	uint8_t ct[64];
	eml_rng_bytes(rng, ct, sizeof(ct));
	eml_msg_request rq = {.seq = seq, .ct = ct, .ct_len = sizeof(ct)};
	memcpy(rq.session_id, sh.session_id, sizeof(rq.session_id));
	eml_rng_bytes(rng, rq.enc, sizeof(rq.enc));
	eml_buf body;
	eml_buf_init(&body, 0);
	eml_msg_request_encode(&body, &rq);
	eml_free(p);
	p = NULL;
	PROP_ASSERT(eml_net_send_frame(fd, EML_FT_REQUEST, body.p, body.len, 5000) == EML_OK,
	            "send");
	eml_buf_cleanup(&body);
	if (eml_net_recv_frame(fd, &lim, 10000, &type, &p, &n) == EML_OK && type == EML_FT_ERROR)
		(void)eml_msg_error_decode(p, n, &code);
	eml_free(p);
	close(fd);
	eml_buf_cleanup(&h);
	eml_buf_cleanup(&f);
	eml_client_session_free(s);
	return code;
}

typedef struct logview {
	uint8_t *p;
	size_t n;
	size_t count;
	eml_audit_record r[64];
} logview;

/* Records of the log from byte offset off (at most 64). */
static void log_read(const char *path, size_t off, logview *v)
{
	eml_free(v->p);
	memset(v, 0, sizeof(*v));
	if (eml_file_read(path, (size_t)1 << 28, &v->p, &v->n) != EML_OK)
		return;
	size_t o = off;
	while (o + 4 <= v->n && v->count < 64) {
		uint32_t l = ((uint32_t)v->p[o] << 24) | ((uint32_t)v->p[o + 1] << 16) |
		             ((uint32_t)v->p[o + 2] << 8) | v->p[o + 3];
		if (l > v->n - o - 4 ||
		    eml_audit_record_decode(v->p + o + 4, l, &v->r[v->count]) != EML_OK)
			break;
		v->count++;
		o += 4 + l;
	}
}

/* Wait (bounded) until the log holds `want` records past off. */
static void log_wait(const char *path, size_t off, size_t want, logview *v)
{
	for (int i = 0; i < 500; i++) {
		log_read(path, off, v);
		if (v->count >= want) {
			/* A little longer: nothing more may come. */
			usleep(20000);
			log_read(path, off, v);
			return;
		}
		usleep(10000);
	}
}

static void battery(void)
{
	eml_e2e e;
	/* No blob cache: a corrupted blob uploaded after a good request must reach the enclave
	 * (with the cache, the enclave keeps serving the verified copy it fetched before). */
	eml_e2e_opts o = {.audit = 1,
	                  .audit_no_fsync = 1,
	                  .extra_enclave_arg = "--blob-cache-bytes",
	                  .extra_enclave_val = "0"};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_policy *pol = NULL;
	cr_assert_eq(eml_policy_load_file(e.policy, &pol), EML_OK);
	logview v = {0};
	/* The start record arrives once the host is up. */
	log_wait(e.audit_log, 0, 1, &v);
	cr_assert_eq(v.count, 1, "no start record");
	cr_assert_eq(v.r[0].event, EML_AEV_START);
	size_t off = v.n;
	int seen[A_COUNT] = {0};
	PROP_FOR_EACH_CASE(rng)
	{
		mcase mc;
		mcase_new(&rng, &mc);
		int steps = 1 + (int)eml_rng_below(&rng, 3);
		for (int s = 0; s < steps; s++) {
			int a = (int)eml_rng_below(&rng, A_COUNT);
			seen[a]++;
			int rc = EML_OK;
			uint8_t want[8], *rrec = NULL;
			size_t rrec_len = 0;
			int nw = 0;
			if (a == A_GOOD || a == A_CORRUPT_BLOB || a == A_BAD_INPUT) {
				uint8_t *b = eml_memdup(mc.blob, mc.blob_len);
				if (a == A_CORRUPT_BLOB)
					b[64 + eml_rng_below(&rng, mc.blob_len - 64)] ^= 0x10;
				PROP_ASSERT(eml_host_upload(e.client_addr, b, mc.blob_len, 20000,
				                            NULL) == EML_OK,
				            "upload");
				eml_free(b);
			}
			switch (a) {
			case A_GOOD:
				rc = infer(&e, pol, &mc, mc.in, &rrec, &rrec_len);
				PROP_ASSERT(rc == EML_OK, "good request: %s", eml_err_name(rc));
				memcpy(want,
				       (uint8_t[]){EML_AEV_ATTEST, EML_AEV_REQUEST,
				                   EML_AEV_ASSEMBLY, EML_AEV_INFERENCE,
				                   EML_AEV_WIPE, EML_AEV_RESPONSE,
				                   EML_AEV_SESSION_CLOSE},
				       7);
				nw = 7;
				break;
			case A_MISSING_BLOB: {
				mcase other;
				mcase_new(&rng, &other); /* never uploaded */
				rc = infer(&e, pol, &other, other.in, NULL, NULL);
				mcase_free(&other);
				PROP_ASSERT(rc == EML_E_STORE_NOT_FOUND, "missing blob: %s",
				            eml_err_name(rc));
				goto refused_request;
			}
			case A_CORRUPT_BLOB:
			case A_BAD_INPUT: {
				eml_client_tensor in[4];
				memcpy(in, mc.in, sizeof(in));
				float *d = NULL;
				if (a == A_BAD_INPUT) {
					/* One more rank: refused by the engine's input check. */
					in[0].dims[in[0].rank++] = 2;
					in[0].bytes *= 2;
					d = eml_calloc(1, (size_t)in[0].bytes);
					in[0].data = d;
				}
				rc = infer(&e, pol, &mc, in, NULL, NULL);
				eml_free(d);
				PROP_ASSERT(rc != EML_OK, "bad request %d accepted", a);
				if (a == A_CORRUPT_BLOB) /* restore for later good requests */
					PROP_ASSERT(eml_host_upload(e.client_addr, mc.blob,
					                            mc.blob_len, 20000,
					                            NULL) == EML_OK,
					            "upload");
				goto refused_request;
			}
			refused_request:
				memcpy(want,
				       (uint8_t[]){EML_AEV_ATTEST, EML_AEV_REQUEST, EML_AEV_REFUSAL,
				                   EML_AEV_SESSION_CLOSE},
				       4);
				nw = 4;
				break;
			case A_FORGED:
			case A_REPLAY:
				rc = forged_request(&rng, &e, a == A_FORGED ? 0 : 7);
				PROP_ASSERT(rc == (a == A_FORGED ? EML_E_AUTH : EML_E_REPLAY),
				            "forged request answered %d", rc);
				memcpy(want,
				       (uint8_t[]){EML_AEV_ATTEST, EML_AEV_REFUSAL,
				                   EML_AEV_SESSION_CLOSE},
				       3);
				nw = 3;
				break;
			}
			log_wait(e.audit_log, off, (size_t)nw, &v);
			PROP_ASSERT(v.count == (size_t)nw,
			            "action %d (rc %s): %zu records (first %s), want %d", a,
			            eml_err_name(rc), v.count,
			            v.count ? eml_audit_event_name(v.r[0].event) : "-", nw);
			for (int i = 0; i < nw; i++) {
				const eml_audit_record *r = &v.r[i];
				PROP_ASSERT(r->event == want[i], "action %d record %d: %s, want %s",
				            a, i, eml_audit_event_name(r->event),
				            eml_audit_event_name(want[i]));
				if (r->event == EML_AEV_REFUSAL)
					PROP_ASSERT(r->result == rc,
					            "refusal records %d, client saw %d", r->result,
					            rc);
				else
					PROP_ASSERT(r->result == EML_OK, "event with a result");
				/* One session per action: every record names it. */
				PROP_ASSERT(memcmp(r->session_id, v.r[0].session_id, 16) == 0,
				            "session id changes within a session");
				PROP_ASSERT(i == 0 || r->time_ms >= v.r[i - 1].time_ms,
				            "time goes back");
				/* One request per session: its stages are request number 0. */
				PROP_ASSERT(r->request_seq == 0, "request_seq %llu",
				            (unsigned long long)r->request_seq);
			}
			/* The receipt is the log's RESPONSE record, byte for byte (one signature). */
			if (a == A_GOOD)
				PROP_ASSERT(rrec != NULL && v.n > off &&
				                memmem(v.p + off, v.n - off, rrec, rrec_len) !=
				                    NULL,
				            "the receipt's record is not in the log");
			eml_free(rrec);
			off = v.n;
		}
		/* The whole log so far verifies, and holds no plaintext window. */
		eml_audit_report rep;
		eml_audit_verify_opts vo = {.policy = pol};
		int vr = eml_audit_verify_mem(v.p, v.n, &vo, &rep);
		PROP_ASSERT(vr == EML_OK, "log refused: %s at %llu", eml_err_name(vr),
		            (unsigned long long)rep.bad_index);
		PROP_ASSERT(eml_window_set_find(mc.secrets, v.p, v.n, NULL) < 0,
		            "the audit log carries plaintext");
		mcase_free(&mc);
	}
	for (int a = 0; a < A_COUNT && eml_prop_iters() >= 100; a++)
		cr_assert_gt(seen[a], 0, "action %d never drawn", a);
	eml_free(v.p);
	eml_policy_free(pol);
	eml_e2e_stop(&e);
}

#define P13                                                                                        \
	"Feature: ephemeral-inference, Property 13: Audit completeness. Every security-relevant "  \
	"event produces a tamper-evident, timestamped audit record that contains no secret."
/* Feature: ephemeral-inference, Property 13: Audit completeness. Every security-relevant event
 * produces a tamper-evident, timestamped audit record that contains no secret. */
Test(prop, audit_completeness, .description = P13, .timeout = 900)
{
	battery();
}
