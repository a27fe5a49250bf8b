/*
 * The channel end to end with real attestation documents from the simulated NSM (src/attest/):
 * the client's verifier callback is eml_attest_verify against a policy that pins the simulation
 * root and this binary's PCR0; the enclave's producer is eml_nsm_attest. The last test runs the
 * whole path through a real `eml host` process with an in-process enclave.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest/nsm.h"
#include "attest/verify.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/hpke.h"
#include "eml/error.h"
#include "net/addr.h"
#include "net/sock.h"
#include "prop.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/session.h"

static char *g_dir;
static eml_nsm *g_nsm;
static eml_policy *g_policy;
static uint8_t g_sk[32], g_pk[32];

static void setup(void)
{
	char ca[2048], json[4608], h0[97];
	uint8_t pcrs[3][48];
	g_dir = eml_test_tmpdir();
	snprintf(ca, sizeof(ca), "%s/sim-ca", g_dir);
	eml_nsm_opts o = {.sim_ca_dir = ca};
	cr_assert_eq(eml_nsm_open("sim", &o, &g_nsm), EML_OK);
	cr_assert_eq(eml_nsm_sim_pcrs(NULL, pcrs), EML_OK);
	eml_hex(pcrs[0], 48, h0);
	snprintf(json, sizeof(json), "{\"root\":\"%s/root.pem\",\"pcrs\":[{\"0\":\"%s\"}]}", ca,
	         h0);
	cr_assert_eq(eml_policy_parse_json(json, strlen(json), g_dir, &g_policy), EML_OK);
	cr_assert_eq(eml_hpke_keypair_generate(g_sk, g_pk), EML_OK);
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	eml_policy_free(g_policy);
	eml_nsm_free(g_nsm);
	eml_test_rmtree(g_dir);
	free(g_dir);
}

/* Enclave side: an NSM document carrying the client's nonce and our HPKE public key. */
static int nsm_doc(void *arg, const uint8_t nonce[32], const uint8_t pk[32], uint8_t **doc,
                   size_t *len)
{
	(void)arg;
	return eml_nsm_attest(g_nsm, NULL, 0, nonce, 32, pk, 32, doc, len);
}

/* Client side: the attestation verifier with the session's nonce. */
static int attest_verify(void *arg, const uint8_t *doc, size_t len, const uint8_t nonce[32],
                         uint8_t pk[32], uint8_t hash[32])
{
	(void)arg;
	eml_verify_opts o = {.nonce = nonce, .nonce_len = 32};
	eml_attest_claims c;
	int rc = eml_attest_verify(doc, len, g_policy, &o, &c);
	if (rc != EML_OK)
		return rc;
	if (!c.has_public_key || c.public_key_len != 32) {
		eml_attest_claims_cleanup(&c);
		return EML_E_AUTH;
	}
	memcpy(pk, c.public_key, 32);
	memcpy(hash, c.doc_sha256, 32);
	eml_attest_claims_cleanup(&c);
	return EML_OK;
}

static void split(const eml_buf *f, uint8_t *t, const uint8_t **p, uint32_t *n)
{
	size_t used;
	cr_assert_eq(eml_frame_decode(f->p, f->len, NULL, t, p, n, &used), EML_OK);
}

TestSuite(attested, .init = setup, .fini = teardown, .timeout = 120);

Test(attested, session_with_real_documents)
{
	eml_client_session *c, *c2;
	eml_enclave_session *e;
	eml_buf f1, f2, f3, r, s;
	uint8_t t;
	const uint8_t *p;
	uint32_t n;
	eml_buf_init(&f1, 0), eml_buf_init(&f2, 0), eml_buf_init(&f3, 0);
	eml_buf_init(&r, 0), eml_buf_init(&s, 0);
	cr_assert_eq(eml_client_session_new(&c), EML_OK);
	cr_assert_eq(eml_enclave_session_new(g_sk, g_pk, &e), EML_OK);
	cr_assert_eq(eml_client_session_hello(c, &f1), EML_OK);
	split(&f1, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_hello(e, p, n, nsm_doc, NULL, &f2), EML_OK);

	/* The same SERVER_HELLO replayed to another client (another nonce) is refused. */
	cr_assert_eq(eml_client_session_new(&c2), EML_OK);
	cr_assert_eq(eml_client_session_hello(c2, &f3), EML_OK);
	split(&f2, &t, &p, &n);
	int rc = eml_client_session_accept(c2, t, p, n, attest_verify, NULL);
	cr_assert_eq(rc, EML_E_ATTEST_NONCE, "%s", eml_err_name(rc));
	eml_client_session_free(c2);
	/* A document with one byte changed (here: inside the signature) is refused. */
	cr_assert_eq(eml_client_session_new(&c2), EML_OK);
	eml_buf_cleanup(&f3);
	eml_buf_init(&f3, 0);
	cr_assert_eq(eml_client_session_hello(c2, &f3), EML_OK);
	uint8_t *bad = malloc(f2.len);
	memcpy(bad, f2.p, f2.len);
	bad[f2.len - 5] ^= 1;
	size_t used;
	cr_assert_eq(eml_frame_decode(bad, f2.len, NULL, &t, &p, &n, &used), EML_OK);
	cr_assert_neq(eml_client_session_accept(c2, t, p, n, attest_verify, NULL), EML_OK);
	eml_client_session_free(c2);
	free(bad);

	/* The genuine one opens the channel; a request and its response go through. */
	split(&f2, &t, &p, &n);
	cr_assert_eq(eml_client_session_accept(c, t, p, n, attest_verify, NULL), EML_OK);
	cr_assert_eq(eml_client_session_seal_request(c, (const uint8_t *)"query", 5, &r), EML_OK);
	split(&r, &t, &p, &n);
	uint8_t *pt;
	size_t pt_len;
	cr_assert_eq(eml_enclave_session_open_request(e, p, n, &pt, &pt_len), EML_OK);
	cr_assert(pt_len == 5 && memcmp(pt, "query", 5) == 0);
	eml_free(pt);
	cr_assert_eq(eml_enclave_session_seal_response(e, (const uint8_t *)"reply", 5, &s), EML_OK);
	split(&s, &t, &p, &n);
	cr_assert_eq(eml_client_session_open_response(c, t, p, n, &pt, &pt_len), EML_OK);
	cr_assert(pt_len == 5 && memcmp(pt, "reply", 5) == 0);
	eml_free(pt);
	eml_client_session_free(c);
	eml_enclave_session_free(e);
	eml_buf_cleanup(&f1), eml_buf_cleanup(&f2), eml_buf_cleanup(&f3);
	eml_buf_cleanup(&r), eml_buf_cleanup(&s);
}

/* ------------------------------------------------------------------ through `eml host` */

struct world {
	char listen[600], enclave[600], channel[600], store[600];
	pid_t host;
	int efd;
	pthread_t th;
	volatile int stop;
	int served;
};

/* The enclave: per connection one session; each request's outputs are its inputs with every
 * byte complemented (a stand-in for inference), sealed back. */
static void serve(int fd, struct world *w)
{
	eml_enclave_session *s = NULL;
	eml_buf out;
	eml_buf_init(&out, 0);
	if (eml_enclave_session_new(g_sk, g_pk, &s) != EML_OK)
		return;
	for (;;) {
		uint8_t t, *p = NULL, *pt = NULL;
		uint32_t n;
		size_t pt_len;
		int rc = eml_net_recv_frame(fd, NULL, 200, &t, &p, &n);
		if (rc == EML_E_NET_TIMEOUT && !w->stop)
			continue;
		if (rc != EML_OK)
			break;
		out.len = 0;
		if (t == EML_FT_CLIENT_HELLO) {
			rc = eml_enclave_session_hello(s, p, n, nsm_doc, NULL, &out);
		} else if (t == EML_FT_REQUEST) {
			rc = eml_enclave_session_open_request(s, p, n, &pt, &pt_len);
			eml_request_pt req;
			if (rc == EML_OK)
				rc = eml_request_pt_decode(pt, pt_len, &req);
			if (rc == EML_OK) {
				eml_wire_tensor o[EML_WIRE_MAX_TENSORS];
				uint8_t *datas[EML_WIRE_MAX_TENSORS];
				for (unsigned i = 0; i < req.n_inputs; i++) {
					o[i] = req.inputs[i];
					datas[i] = eml_alloc(o[i].data_len + 1);
					for (uint64_t k = 0; k < o[i].data_len; k++)
						datas[i][k] = (uint8_t)~o[i].data[k];
					o[i].data = datas[i];
				}
				eml_response_pt resp = {.n_outputs = req.n_inputs,
				                        .outputs = o,
				                        .receipt = (const uint8_t *)"receipt",
				                        .receipt_len = 7};
				eml_buf rb;
				eml_buf_init(&rb, 0);
				rc = eml_response_pt_encode(&rb, &resp);
				if (rc == EML_OK)
					rc = eml_enclave_session_seal_response(s, rb.p, rb.len,
					                                       &out);
				eml_buf_cleanup(&rb);
				for (unsigned i = 0; i < req.n_inputs; i++)
					eml_free(datas[i]);
				eml_request_pt_cleanup(&req);
				w->served++;
			}
			eml_free(pt);
		} else {
			rc = EML_E_MSG_UNEXPECTED;
		}
		eml_free(p);
		if (rc != EML_OK) {
			out.len = 0;
			eml_session_error_frame(&out, rc);
		}
		if (eml_net_write_all(fd, out.p, out.len, eml_net_now_ms() + 2000) != EML_OK ||
		    rc != EML_OK)
			break;
	}
	eml_buf_cleanup(&out);
	eml_enclave_session_free(s);
}

static void *enclave_main(void *arg)
{
	struct world *w = arg;
	while (!w->stop) {
		int fd;
		if (eml_net_accept(w->efd, 50, &fd) != EML_OK)
			continue;
		serve(fd, w);
		close(fd);
	}
	return NULL;
}

static void world_start(struct world *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->listen, sizeof(w->listen), "unix:%s/h.sock", g_dir);
	snprintf(w->enclave, sizeof(w->enclave), "unix:%s/e.sock", g_dir);
	snprintf(w->channel, sizeof(w->channel), "unix:%s/c.sock", g_dir);
	snprintf(w->store, sizeof(w->store), "%s/store", g_dir);
	eml_addr a;
	cr_assert_eq(eml_addr_parse(w->enclave, &a), EML_OK);
	cr_assert_eq(eml_net_listen(&a, &w->efd), EML_OK);
	pthread_create(&w->th, NULL, enclave_main, w);
	w->host = fork();
	if (w->host == 0) {
		execl(eml_test_bin(), eml_test_bin(), "host", "--listen", w->listen, "--enclave",
		      w->enclave, "--enclave-channel", w->channel, "--store", w->store,
		      (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(eml_addr_parse(w->channel, &a), EML_OK);
	for (int i = 0; i < 250; i++) {
		int fd;
		if (eml_net_connect(&a, 100, &fd) == EML_OK) {
			close(fd);
			return;
		}
		usleep(20000);
	}
	cr_assert_fail("eml host did not come up");
}

static void world_stop(struct world *w)
{
	int st;
	kill(w->host, SIGTERM);
	for (int i = 0; i < 250 && waitpid(w->host, &st, WNOHANG) != w->host; i++)
		usleep(20000);
	if (waitpid(w->host, &st, WNOHANG) == 0) {
		kill(w->host, SIGKILL);
		waitpid(w->host, &st, 0);
	}
	w->stop = 1;
	pthread_join(w->th, NULL);
	close(w->efd);
}

/* Send a frame, receive one; return the raw received frame (what crossed the host). */
static void call(int fd, const eml_buf *f, uint8_t *t, uint8_t **p, uint32_t *n, eml_buf *raw)
{
	cr_assert_eq(eml_net_write_all(fd, f->p, f->len, eml_net_now_ms() + 5000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, NULL, 10000, t, p, n), EML_OK);
	raw->len = 0;
	uint8_t hdr[5] = {(uint8_t)(*n >> 24), (uint8_t)(*n >> 16), (uint8_t)(*n >> 8), (uint8_t)*n,
	                  *t};
	eml_buf_put(raw, hdr, 5);
	eml_buf_put(raw, *p, *n);
}

/*
 * Feature: ephemeral-inference, Property 7: Encrypted output only. Every result leaves the enclave
 * sealed to the requesting client.
 * Random requests go client -> eml host -> enclave and back. Every response frame that crossed the
 * host carries no distinctive window of the outputs (nor the request frame of the inputs or the
 * topology key), and the outputs open only in the requesting client's session.
 */
Test(attested, prop_encrypted_output_only,
     .description = "Feature: ephemeral-inference, Property 7: Encrypted output only. Every "
                    "result leaves the enclave sealed to the requesting client.")
{
	struct world w;
	world_start(&w);
	eml_addr a;
	cr_assert_eq(eml_addr_parse(w.listen, &a), EML_OK);
	int fd = -1;
	eml_client_session *c = NULL;
	eml_buf f, raw;
	eml_buf_init(&f, 0);
	eml_buf_init(&raw, 0);
	int cases = 0;
	PROP_FOR_EACH_CASE(rng)
	{
		/* A new connection (new session, new attestation) now and then. */
		if (fd < 0 || eml_rng_chance(&rng, 0.1)) {
			if (fd >= 0)
				close(fd);
			eml_client_session_free(c);
			PROP_ASSERT(eml_net_connect(&a, 1000, &fd) == EML_OK, "connect");
			PROP_ASSERT(eml_client_session_new(&c) == EML_OK, "new");
			f.len = 0;
			PROP_ASSERT(eml_client_session_hello(c, &f) == EML_OK, "hello");
			uint8_t t, *p;
			uint32_t n;
			call(fd, &f, &t, &p, &n, &raw);
			int rc = eml_client_session_accept(c, t, p, n, attest_verify, NULL);
			PROP_ASSERT(rc == EML_OK, "attested: %s", eml_err_name(rc));
			eml_free(p);
		}
		/* A request with a random topology key and 1..3 float tensors. */
		uint8_t tkey[200];
		eml_rng_bytes(&rng, tkey, sizeof(tkey));
		eml_wire_tensor in[3];
		float *vals[3];
		unsigned k = (unsigned)eml_rng_range(&rng, 1, 3);
		for (unsigned i = 0; i < k; i++) {
			uint64_t cnt = (uint64_t)eml_rng_range(&rng, 16, 400);
			vals[i] = malloc(cnt * sizeof(float));
			for (uint64_t j = 0; j < cnt; j++)
				vals[i][j] = eml_rng_normal(&rng);
			in[i] = (eml_wire_tensor){.name = (const uint8_t *)"x",
			                          .name_len = 1,
			                          .dtype = EML_DT_FLOAT,
			                          .rank = 1,
			                          .dims = {cnt},
			                          .data = (const uint8_t *)vals[i],
			                          .data_len = cnt * sizeof(float)};
		}
		eml_request_pt req = {
		    .tkey = tkey, .tkey_len = sizeof(tkey), .n_inputs = (uint16_t)k, .inputs = in};
		eml_rng_bytes(&rng, req.model_id, 16);
		eml_buf pt;
		eml_buf_init(&pt, 0);
		PROP_ASSERT(eml_request_pt_encode(&pt, &req) == EML_OK, "encode");
		f.len = 0;
		PROP_ASSERT(eml_client_session_seal_request(c, pt.p, pt.len, &f) == EML_OK, "seal");
		/* What the host forwards toward the enclave: no input or key material in clear. */
		size_t ho, no;
		PROP_ASSERT(!eml_find_distinctive_window(f.p, f.len, tkey, sizeof(tkey), &ho, &no),
		            "topology key bytes visible in the request frame");
		for (unsigned i = 0; i < k; i++)
			PROP_ASSERT(!eml_find_distinctive_window(f.p, f.len, in[i].data,
			                                         (size_t)in[i].data_len, &ho, &no),
			            "input bytes visible in the request frame");
		uint8_t t, *p;
		uint32_t n;
		call(fd, &f, &t, &p, &n, &raw);
		PROP_ASSERT(t == EML_FT_RESPONSE, "type %u", t);
		/* The expected outputs (complemented inputs) must not be visible either. */
		for (unsigned i = 0; i < k; i++) {
			uint8_t *exp = malloc((size_t)in[i].data_len);
			for (uint64_t j = 0; j < in[i].data_len; j++)
				exp[j] = (uint8_t)~in[i].data[j];
			PROP_ASSERT(!eml_find_distinctive_window(raw.p, raw.len, exp,
			                                         (size_t)in[i].data_len, &ho, &no),
			            "output bytes visible in the response frame");
			free(exp);
		}
		/* Only the requesting session opens it. */
		uint8_t *rpt;
		size_t rpt_len;
		PROP_ASSERT(eml_client_session_open_response(c, t, p, n, &rpt, &rpt_len) == EML_OK,
		            "open");
		eml_response_pt resp;
		PROP_ASSERT(eml_response_pt_decode(rpt, rpt_len, &resp) == EML_OK, "decode");
		PROP_ASSERT(resp.n_outputs == k, "outputs");
		for (unsigned i = 0; i < k; i++) {
			PROP_ASSERT(resp.outputs[i].data_len == in[i].data_len, "length");
			for (uint64_t j = 0; j < in[i].data_len; j++) {
				uint8_t want = (uint8_t)~in[i].data[j];
				PROP_ASSERT(resp.outputs[i].data[j] == want, "value");
			}
		}
		eml_response_pt_cleanup(&resp);
		eml_free(rpt);
		eml_free(p);
		eml_buf_cleanup(&pt);
		for (unsigned i = 0; i < k; i++)
			free(vals[i]);
		cases++;
	}
	close(fd);
	eml_client_session_free(c);
	eml_buf_cleanup(&f);
	eml_buf_cleanup(&raw);
	world_stop(&w);
	cr_assert_eq(w.served, cases);
}
