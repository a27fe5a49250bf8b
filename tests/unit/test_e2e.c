/*
 * End to end through real processes (eml host + eml enclave --nsm sim) on Unix sockets: the
 * enclave's answers equal local `eml run`, a replayed request is refused, and the host stays
 * blind to what it forwards.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/verify.h"
#include "common/file.h"
#include "common/mem.h"
#include "e2e.h"
#include "e2e_case.h"
#include "client/host_client.h"
#include <pthread.h>
#include "eml/client.h"
#include "net/addr.h"
#include "net/sock.h"
#include "prop.h"
#include "tensor/tensor_io.h"
#include "topo/topo.h"
#include "wire/msg.h"
#include "wire/session.h"

static int files_equal(const char *a, const char *b)
{
	uint8_t *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;
	int eq = eml_file_read(a, 1 << 30, &x, &nx) == EML_OK &&
	         eml_file_read(b, 1 << 30, &y, &ny) == EML_OK && nx == ny && memcmp(x, y, nx) == 0;
	eml_free(x);
	eml_free(y);
	return eq;
}

/* decompose MODEL, upload, infer INPUT through the host; compare with a local run. */
static void remote_equals_local(eml_e2e *e, const char *model, const char *input)
{
	char out[8192], tk[700], wt[700], in_arg[PATH_MAX + 8], rdir[700], ldir[700], r0[800],
	    l0[800];
	int st = eml_e2e_run(out, sizeof(out), 60000, "decompose", model, "-o", e->dir, "--name",
	                     "m", NULL);
	cr_assert_eq(st, 0, "decompose: %s", out);
	snprintf(tk, sizeof(tk), "%s/m.tkey", e->dir);
	snprintf(wt, sizeof(wt), "%s/m.weights", e->dir);
	st = eml_e2e_run(out, sizeof(out), 60000, "upload", wt, "--host", e->client_addr, NULL);
	cr_assert_eq(st, 0, "upload: %s", out);
	snprintf(in_arg, sizeof(in_arg), "0=%s", input);
	snprintf(rdir, sizeof(rdir), "%s/remote", e->dir);
	snprintf(ldir, sizeof(ldir), "%s/local", e->dir);
	st = eml_e2e_run(out, sizeof(out), 60000, "infer", "--host", e->client_addr, "--policy",
	                 e->policy, "--key", tk, "--input", in_arg, "--output-dir", rdir, NULL);
	cr_assert_eq(st, 0, "infer: %s", out);
	cr_assert(strstr(out, "SIMULATED") != NULL, "the simulation is not labelled: %s", out);
	st = eml_e2e_run(out, sizeof(out), 60000, "run", model, "--input", in_arg, "--output-dir",
	                 ldir, NULL);
	cr_assert_eq(st, 0, "run: %s", out);
	snprintf(r0, sizeof(r0), "%s/output_0.npy", rdir);
	snprintf(l0, sizeof(l0), "%s/output_0.npy", ldir);
	cr_assert(files_equal(r0, l0), "the enclave's output differs from the local run");
}

Test(e2e, mnist_through_host_and_enclave_equals_local_run, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {0};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	char model[PATH_MAX], input[PATH_MAX];
	snprintf(model, sizeof(model), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	snprintf(input, sizeof(input), "%s/models/mnist-8/test_data_set_0/input_0.pb",
	         eml_test_vectors_dir());
	remote_equals_local(&e, model, input);
	eml_e2e_stop(&e);
}

Test(e2e, ocr_classifier_through_host_and_enclave_equals_local_run, .timeout = 120)
{
	char model[PATH_MAX];
	snprintf(model, sizeof(model), "%s/models/ocr/cls.onnx", eml_test_cache_dir());
	cr_assert_eq(access(model, R_OK), 0, "%s is missing: run scripts/fetch-testdata", model);
	eml_e2e e;
	eml_e2e_opts o = {0};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	/* A deterministic input 1x3x48x192. */
	eml_tensor_file t;
	memset(&t, 0, sizeof(t));
	t.dtype = 1;
	t.rank = 4;
	int64_t dims[4] = {1, 3, 48, 192};
	memcpy(t.dims, dims, sizeof(dims));
	t.bytes = 3 * 48 * 192 * 4;
	t.data = eml_alloc(t.bytes);
	eml_rng r;
	eml_rng_seed(&r, 7);
	for (size_t i = 0; i < t.bytes / 4; i++)
		((float *)t.data)[i] = eml_rng_float(&r, 0.f, 1.f);
	char input[700];
	snprintf(input, sizeof(input), "%s/x.npy", e.dir);
	cr_assert_eq(eml_tensor_write_file(input, &t), EML_OK);
	eml_tensor_file_cleanup(&t);
	remote_equals_local(&e, model, input);
	eml_e2e_stop(&e);
}

struct bg {
	eml_e2e *e;
	eml_case *c;
	int rc;
};

static int infer_case(eml_e2e *e, eml_case *c)
{
	eml_client *cl = NULL;
	eml_client_result *r = NULL;
	eml_client_opts o = {.host = e->client_addr, .policy_path = e->policy, .timeout_ms = 30000};
	int rc = eml_client_connect(&o, &cl);
	if (rc == EML_OK)
		rc = eml_client_infer(cl, c->tkey, c->tkey_len, c->in, c->info.n_inputs, &r);
	eml_client_result_free(r);
	eml_client_free(cl);
	return rc;
}

static void *bg_main(void *arg)
{
	struct bg *b = arg;
	b->rc = infer_case(b->e, b->c);
	return NULL;
}

/* Past --max-concurrent the client gets a clear "busy", not a hang; then service resumes. The
 * test-only eml-test-hooks binary holds the first request's thread after its run. */
Test(e2e, busy_enclave_refuses_clearly_then_serves, .timeout = 120)
{
	char bin[4096];
	snprintf(bin, sizeof(bin), "%s", eml_test_bin());
	char *slash = strrchr(bin, '/');
	snprintf(slash + 1, sizeof(bin) - (size_t)(slash + 1 - bin), "eml-test-hooks");
	eml_e2e e;
	eml_e2e_opts o = {.max_concurrent = 1,
	                  .enclave_bin = bin,
	                  .enclave_env = "EML_TEST_HOLD_AFTER_RUN_MS=8000"};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_rng rng;
	eml_rng_seed(&rng, 21);
	eml_case c;
	cr_assert_eq(eml_case_new(&rng, 2, &c), 0);
	cr_assert_eq(eml_host_upload(e.client_addr, c.blob, c.blob_len, 10000, NULL), EML_OK);
	struct bg b = {.e = &e, .c = &c};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, bg_main, &b), 0);
	usleep(2000 * 1000); /* the first request is now held inside the enclave */
	int64_t t0 = eml_net_now_ms();
	int rc = infer_case(&e, &c);
	int64_t waited = eml_net_now_ms() - t0;
	pthread_join(t, NULL);
	cr_assert_eq(b.rc, EML_OK, "first request: %s", eml_err_name(b.rc));
	cr_assert_eq(rc, EML_E_ENCLAVE_BUSY, "second request: %s", eml_err_name(rc));
	cr_assert_lt(waited, 5000, "the busy answer took %lld ms", (long long)waited);
	rc = infer_case(&e, &c);
	cr_assert_eq(rc, EML_OK, "after the first request finished: %s", eml_err_name(rc));
	eml_case_free(&c);
	eml_e2e_stop(&e);
}

/* The session's verifier for raw-protocol tests: the policy and the nonce, as the client does. */
static int accept_any(void *arg, const uint8_t *doc, size_t doc_len,
                      const uint8_t nonce[EML_WIRE_NONCE_LEN], uint8_t pk_out[32],
                      uint8_t doc_hash_out[32])
{
	eml_policy *p = arg;
	eml_attest_claims c;
	eml_verify_opts vo = {.nonce = nonce, .nonce_len = EML_WIRE_NONCE_LEN};
	int rc = eml_attest_verify(doc, doc_len, p, &vo, &c);
	if (rc != EML_OK)
		return rc;
	memcpy(pk_out, c.public_key, 32);
	memcpy(doc_hash_out, c.doc_sha256, 32);
	eml_attest_claims_cleanup(&c);
	return EML_OK;
}

Test(e2e, replayed_request_is_refused, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {.record = 1};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	char model[PATH_MAX], out[4096], tk[700], wt[700];
	snprintf(model, sizeof(model), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	cr_assert_eq(eml_e2e_run(out, sizeof(out), 60000, "decompose", model, "-o", e.dir, "--name",
	                         "m", NULL),
	             0);
	snprintf(tk, sizeof(tk), "%s/m.tkey", e.dir);
	snprintf(wt, sizeof(wt), "%s/m.weights", e.dir);
	cr_assert_eq(
	    eml_e2e_run(out, sizeof(out), 60000, "upload", wt, "--host", e.client_addr, NULL), 0,
	    "%s", out);
	uint8_t *tkey;
	size_t tkey_len;
	cr_assert_eq(eml_file_read(tk, 1 << 24, &tkey, &tkey_len), EML_OK);
	eml_policy *pol;
	cr_assert_eq(eml_policy_load_file(e.policy, &pol), EML_OK);

	/* Session 1: hello, one request, its response; then the same request frame again. */
	eml_addr a;
	int fd;
	cr_assert_eq(eml_addr_parse(e.client_addr, &a), EML_OK);
	cr_assert_eq(eml_net_connect(&a, 5000, &fd), EML_OK);
	eml_client_session *s;
	eml_buf hello, req, pt;
	eml_buf_init(&hello, 0);
	eml_buf_init(&req, 0);
	eml_buf_init(&pt, 0);
	cr_assert_eq(eml_client_session_new(&s), EML_OK);
	cr_assert_eq(eml_client_session_hello(s, &hello), EML_OK);
	cr_assert_eq(eml_net_write_all(fd, hello.p, hello.len, eml_net_now_ms() + 5000), EML_OK);
	eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;
	uint8_t type, *payload;
	uint32_t len;
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 5000, &type, &payload, &len), EML_OK);
	cr_assert_eq(eml_client_session_accept(s, type, payload, len, accept_any, pol), EML_OK);
	eml_free(payload);
	float x[784];
	for (int i = 0; i < 784; i++)
		x[i] = (float)(i % 17) / 17.f;
	eml_wire_tensor in = {.dtype = 1,
	                      .rank = 4,
	                      .dims = {1, 1, 28, 28},
	                      .data = (uint8_t *)x,
	                      .data_len = sizeof(x)};
	eml_request_pt rq = {
	    .tkey = tkey, .tkey_len = (uint32_t)tkey_len, .n_inputs = 1, .inputs = &in};
	eml_tkey *k;
	cr_assert_eq(eml_tkey_parse(tkey, tkey_len, &k), EML_OK);
	eml_tkey_model_id(k, rq.model_id);
	eml_tkey_free(k);
	cr_assert_eq(eml_request_pt_encode(&pt, &rq), EML_OK);
	cr_assert_eq(eml_client_session_seal_request(s, pt.p, pt.len, &req), EML_OK);
	cr_assert_eq(eml_net_write_all(fd, req.p, req.len, eml_net_now_ms() + 5000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 30000, &type, &payload, &len), EML_OK);
	cr_assert_eq(type, EML_FT_RESPONSE, "the first request was not answered");
	uint8_t *rpt;
	size_t rpt_len;
	cr_assert_eq(eml_client_session_open_response(s, type, payload, len, &rpt, &rpt_len),
	             EML_OK);
	eml_free(rpt);
	eml_free(payload);

	/* The captured request frame, re-sent on the same session: refused as a replay. */
	int code = 0;
	cr_assert_eq(eml_net_write_all(fd, req.p, req.len, eml_net_now_ms() + 5000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 30000, &type, &payload, &len), EML_OK);
	cr_assert_eq(type, EML_FT_ERROR, "a replayed request was answered");
	cr_assert_eq(eml_msg_error_decode(payload, len, &code), EML_OK);
	cr_assert_eq(code, EML_E_REPLAY, "refused with %s instead of REPLAY", eml_err_name(code));
	eml_free(payload);
	close(fd);

	/* The whole captured conversation replayed on a new connection: the new session has a new
	 * document and session id, so the old request does not open. */
	cr_assert_eq(eml_net_connect(&a, 5000, &fd), EML_OK);
	cr_assert_eq(eml_net_write_all(fd, hello.p, hello.len, eml_net_now_ms() + 5000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 5000, &type, &payload, &len), EML_OK);
	cr_assert_eq(type, EML_FT_SERVER_HELLO);
	eml_free(payload);
	cr_assert_eq(eml_net_write_all(fd, req.p, req.len, eml_net_now_ms() + 5000), EML_OK);
	int rc = eml_net_recv_frame(fd, &lim, 30000, &type, &payload, &len);
	if (rc == EML_OK) {
		cr_assert_eq(type, EML_FT_ERROR,
		             "a request replayed into another session was answered");
		eml_free(payload);
	}
	eml_client_session_free(s);
	eml_buf_cleanup(&hello);
	eml_buf_cleanup(&req);
	eml_buf_cleanup(&pt);
	close(fd);
	eml_policy_free(pol);
	eml_free(tkey);
	eml_e2e_stop(&e);
}

/* The enclave's cache of fetched ciphertext (docs/MEMORY.md): once a blob was fetched, hashed
 * and decrypted, a host that later corrupts its stored copy changes nothing (the enclave uses the
 * bytes it verified); without the cache the same corruption is refused. */
static void corrupt_after_good(int cache, int want_rc)
{
	eml_e2e e;
	eml_e2e_opts o = {.extra_enclave_arg = cache ? NULL : "--blob-cache-bytes",
	                  .extra_enclave_val = cache ? NULL : "0"};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	eml_rng rng;
	eml_rng_seed(&rng, 33);
	eml_case c;
	cr_assert_eq(eml_case_new(&rng, 2, &c), 0);
	cr_assert_eq(eml_host_upload(e.client_addr, c.blob, c.blob_len, 10000, NULL), EML_OK);
	cr_assert_eq(infer_case(&e, &c), EML_OK);
	uint8_t *bad = eml_memdup(c.blob, c.blob_len);
	bad[c.blob_len - 1] ^= 0x01; /* last tag byte */
	cr_assert_eq(eml_host_upload(e.client_addr, bad, c.blob_len, 10000, NULL), EML_OK);
	int rc = infer_case(&e, &c);
	cr_assert_eq(rc, want_rc, "cache %d: %s", cache, eml_err_name(rc));
	eml_free(bad);
	eml_case_free(&c);
	eml_e2e_stop(&e);
}

Test(e2e, blob_cache_keeps_serving_verified_bytes, .timeout = 120)
{
	corrupt_after_good(1, EML_OK);
	corrupt_after_good(0, EML_E_BLOB_CHUNK_AUTH);
}
