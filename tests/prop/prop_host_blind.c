/*
 * Properties 6, 7, 8 and 9 through real processes: random models and inputs go from a client
 * through `eml host` to `eml enclave --nsm sim`, with recording proxies on every connection of
 * the host (what it receives from clients, what it sends to and gets from the enclave, what the
 * enclave asks of it on the host channel). A search for every distinctive 16-byte window (at least
 * 8 distinct byte values) of the plaintext input, output, topology key and weights runs over all
 * of it, over the host's store, and (Property 9) over the host process's whole memory.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "e2e.h"
#include "eml/client.h"
#include "engine/engine.h"
#include "e2e_case.h"
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "prop.h"
#include "topo/topo.h"

/* One case: the shared random case (model, key, blob, inputs, window sets) plus what this test
 * learns from the run. */
typedef struct blind_case {
	eml_case c;
	eml_window_set *secrets; /* topology key (secret parts) + plaintext weights */
	int outputs_match;
} blind_case;

static void case_cleanup(blind_case *bc)
{
	eml_window_set_free(bc->secrets);
	eml_case_free(&bc->c);
}

/* Generate, upload, attest, infer; compare with an in-process run of the same engine on the
 * plain model. */
static void run_case(eml_rng *rng, eml_e2e *e, blind_case *bc)
{
	memset(bc, 0, sizeof(*bc));
	eml_case *c = &bc->c;
	PROP_ASSERT(eml_case_new(rng, 3, c) == 0, "generate");
	bc->secrets = eml_window_set_new();
	eml_tkey_secret_windows(bc->secrets, c->tkey, c->tkey_len, c->blob, c->blob_len,
	                        EML_NEEDLE_TKEY);
	for (uint32_t i = 0; i < c->model->n_tensors; i++)
		eml_window_set_add(bc->secrets, c->model->data + c->model->tensors[i].offset,
		                   (size_t)c->model->tensors[i].length, EML_NEEDLE_WEIGHTS);
	PROP_ASSERT(eml_host_upload(e->client_addr, c->blob, c->blob_len, 30000, NULL) == EML_OK,
	            "upload");

	/* Local reference: the same engine, in this process, on the plain model. */
	eml_io_tensor io[4];
	memset(io, 0, sizeof(io));
	for (uint32_t i = 0; i < c->info.n_inputs; i++) {
		io[i].dtype = c->in[i].dtype;
		io[i].rank = c->in[i].rank;
		memcpy(io[i].dims, c->in[i].dims, sizeof(io[i].dims));
		io[i].data = c->in[i].data;
		io[i].bytes = c->in[i].bytes;
	}
	eml_plan *plan = NULL;
	eml_engine_opts eo = {.threads = 1};
	int bad = -1;
	int arc = eml_engine_assemble(c->model, io, c->info.n_inputs, &eo, &plan, &bad);
	PROP_ASSERT(arc == EML_OK, "local assemble: %s", eml_err_name(arc));
	PROP_ASSERT(eml_plan_run(plan) == EML_OK, "local run");

	eml_client *cl = NULL;
	eml_client_opts co = {.host = e->client_addr, .policy_path = e->policy};
	int crc = eml_client_connect(&co, &cl);
	PROP_ASSERT(crc == EML_OK, "connect/attest: %s", eml_err_name(crc));
	eml_client_result *r = NULL;
	int irc = eml_client_infer(cl, c->tkey, c->tkey_len, c->in, c->info.n_inputs, &r);
	PROP_ASSERT(irc == EML_OK, "infer: %s", eml_err_name(irc));
	PROP_ASSERT(eml_client_result_count(r) == eml_plan_n_outputs(plan), "output count");
	eml_case_add_outputs(c, r);
	bc->outputs_match = 1;
	for (size_t i = 0; i < eml_client_result_count(r); i++) {
		const eml_client_tensor *t = eml_client_result_tensor(r, i);
		eml_io_tensor lo;
		PROP_ASSERT(eml_plan_output(plan, i, &lo) == EML_OK, "local output");
		if (t->bytes != lo.bytes || t->rank != lo.rank || t->dtype != lo.dtype) {
			bc->outputs_match = 0;
			continue;
		}
		if (t->dtype == EML_DT_FLOAT) {
			const float *a = t->data, *b = lo.data;
			for (size_t k = 0; k < t->bytes / 4; k++)
				if (!(fabsf(a[k] - b[k]) <= 1e-5f * fmaxf(1.f, fabsf(b[k]))) &&
				    !(isnan(a[k]) && isnan(b[k])))
					bc->outputs_match = 0;
		} else if (memcmp(t->data, lo.data, (size_t)t->bytes) != 0) {
			bc->outputs_match = 0;
		}
	}
	/* Control: the search does see plaintext where it is (the client's own buffers). */
	if (c->info.n_inputs > 0 && c->in[0].bytes >= EML_WINDOW * 2)
		PROP_ASSERT(eml_window_set_find(c->inputs, c->in[0].data, (size_t)c->in[0].bytes,
		                                NULL) == EML_NEEDLE_INPUT,
		            "the window search is blind");
	eml_client_result_free(r);
	eml_client_free(cl);
	eml_plan_free(plan);
}

/* The first needle of `set` found in any recording of the host, or -1. */
static int seen_by_host(eml_e2e *e, const eml_window_set *set, const char **where)
{
	eml_rec *recs[3] = {e->rec_client, e->rec_enclave, e->rec_channel};
	const char *names[3] = {"client connection", "enclave connection", "host channel"};
	for (int i = 0; i < 3; i++) {
		eml_rec_bytes b;
		eml_rec_snapshot(recs[i], &b);
		int t = eml_window_set_find(set, b.up, b.up_len, NULL);
		if (t < 0)
			t = eml_window_set_find(set, b.down, b.down_len, NULL);
		eml_rec_bytes_free(&b);
		if (t >= 0) {
			*where = names[i];
			return t;
		}
	}
	uint8_t *store;
	size_t n;
	if (eml_e2e_read_tree(e->store, &store, &n) == 0) {
		int t = eml_window_set_find(set, store, n, NULL);
		eml_free(store);
		if (t >= 0) {
			*where = "store";
			return t;
		}
	}
	return -1;
}

static void clear_recordings(eml_e2e *e)
{
	eml_rec_clear(e->rec_client);
	eml_rec_clear(e->rec_enclave);
	eml_rec_clear(e->rec_channel);
}

static void start(eml_e2e *e)
{
	eml_e2e_opts o = {.record = 1};
	cr_assert_eq(eml_e2e_start(e, &o), 0, "could not start host and enclave");
}

#define P6                                                                                         \
	"Feature: ephemeral-inference, Property 6: Inference isolation. Every computation "        \
	"happens inside the enclave; nothing the host sees carries intermediate results, "         \
	"structure or plaintext data."
/* Feature: ephemeral-inference, Property 6: Inference isolation. Every computation happens inside
 * the enclave; nothing the host sees carries intermediate results, structure or plaintext data. */
Test(prop, inference_isolation, .description = P6, .timeout = 600)
{
	eml_e2e e;
	start(&e);
	PROP_FOR_EACH_CASE(rng)
	{
		blind_case bc;
		run_case(&rng, &e, &bc);
		PROP_ASSERT(bc.outputs_match, "the enclave's outputs differ from a local run");
		const char *where = "";
		int t = seen_by_host(&e, bc.c.inputs, &where);
		PROP_ASSERT(t < 0, "plaintext %s seen by the host (%s)", eml_needle_name(t), where);
		t = seen_by_host(&e, bc.secrets, &where);
		PROP_ASSERT(t < 0, "%s seen by the host (%s)", eml_needle_name(t), where);
		case_cleanup(&bc);
		clear_recordings(&e);
	}
	eml_e2e_stop(&e);
}

#define P7                                                                                         \
	"Feature: ephemeral-inference, Property 7: Encrypted output only. Every result leaves "    \
	"the enclave sealed to the requesting client."
/* Feature: ephemeral-inference, Property 7: Encrypted output only. Every result leaves the enclave
 * sealed to the requesting client. */
Test(prop, encrypted_output_only, .description = P7, .timeout = 600)
{
	eml_e2e e;
	start(&e);
	size_t checked = 0;
	PROP_FOR_EACH_CASE(rng)
	{
		blind_case bc;
		run_case(&rng, &e, &bc);
		PROP_ASSERT(bc.outputs_match, "the client did not get the right outputs");
		const char *where = "";
		int t = seen_by_host(&e, bc.c.outputs, &where);
		PROP_ASSERT(t < 0, "a plaintext output left the enclave (%s)", where);
		checked += eml_window_set_count(bc.c.outputs) > 0;
		case_cleanup(&bc);
		clear_recordings(&e);
	}
	/* The check must not be vacuous: most cases have outputs of 16 bytes or more. */
	cr_assert_gt(checked, (size_t)eml_prop_iters() / 2,
	             "too few outputs had searchable windows");
	eml_e2e_stop(&e);
}

#define P8                                                                                         \
	"Feature: ephemeral-inference, Property 8: Host proxy transparency. The host forwards "    \
	"sealed payloads unmodified and uninspected, and persists none of them."
/* Feature: ephemeral-inference, Property 8: Host proxy transparency. The host forwards sealed
 * payloads unmodified and uninspected, and persists none of them. */
Test(prop, host_proxy_transparency_real_sessions, .description = P8, .timeout = 600)
{
	eml_e2e e;
	start(&e);
	size_t stored = 0;
	PROP_FOR_EACH_CASE(rng)
	{
		blind_case bc;
		run_case(&rng, &e, &bc);
		eml_rec_bytes cl, en;
		eml_rec_snapshot(e.rec_client, &cl);
		eml_rec_snapshot(e.rec_enclave, &en);
		/* Session traffic only (uploads are host business, not forwarded). The upload is
		 * the first client connection; the session starts after it. */
		PROP_ASSERT(en.up_len > 0 && cl.up_len >= en.up_len, "nothing forwarded");
		PROP_ASSERT(memcmp(cl.up + (cl.up_len - en.up_len), en.up, en.up_len) == 0,
		            "client frames were changed on their way to the enclave");
		PROP_ASSERT(
		    cl.down_len >= en.down_len &&
		        memcmp(cl.down + (cl.down_len - en.down_len), en.down, en.down_len) == 0,
		    "enclave frames were changed on their way to the client");
		eml_rec_bytes_free(&cl);
		eml_rec_bytes_free(&en);
		/* The store holds exactly the uploaded ciphertext, nothing of the session. */
		uint8_t *tree;
		size_t n;
		char blobs[700];
		snprintf(blobs, sizeof(blobs), "%s/blobs", e.store);
		PROP_ASSERT(eml_e2e_read_tree(blobs, &tree, &n) == 0, "read store");
		PROP_ASSERT(memmem(tree, n, bc.c.blob, bc.c.blob_len) != NULL,
		            "blob not stored as sent");
		stored += bc.c.blob_len + EML_WINDOW;
		PROP_ASSERT(n == stored + 1, "the store holds more than the uploaded blobs");
		eml_free(tree);
		case_cleanup(&bc);
		clear_recordings(&e);
	}
	eml_e2e_stop(&e);
}

#define P9                                                                                         \
	"Feature: ephemeral-inference, Property 9: Host compromise resilience. In any state, "     \
	"the host holds no functional model, topology key, decryption key or plaintext."
/* Feature: ephemeral-inference, Property 9: Host compromise resilience. In any state, the host
 * holds no functional model, topology key, decryption key or plaintext. (The topology key
 * contains the blob key, so a window search for the key covers the decryption key.) */
Test(prop, host_compromise_resilience, .description = P9, .timeout = 900)
{
	eml_e2e e;
	start(&e);
	PROP_FOR_EACH_CASE(rng)
	{
		blind_case bc;
		run_case(&rng, &e, &bc);
		const char *where = "";
		int t = seen_by_host(&e, bc.secrets, &where);
		PROP_ASSERT(t < 0, "%s reached the host (%s)", eml_needle_name(t), where);
		t = seen_by_host(&e, bc.c.inputs, &where);
		PROP_ASSERT(t < 0, "input reached the host (%s)", where);
		t = seen_by_host(&e, bc.c.outputs, &where);
		PROP_ASSERT(t < 0, "output reached the host (%s)", where);
		/* Every 10th case, and the last: the host process's whole memory. */
		if (eml_prop_case_cur % 10 == 0 || eml_prop_case_cur == eml_prop_iters() - 1) {
			uint8_t *mem;
			size_t n;
			PROP_ASSERT(eml_e2e_read_process_memory(e.host_pid, &mem, &n) == 0,
			            "read host memory");
			size_t off = 0;
			t = eml_window_set_find(bc.secrets, mem, n, &off);
			int t2 = eml_window_set_find(bc.c.inputs, mem, n, NULL);
			int t3 = eml_window_set_find(bc.c.outputs, mem, n, NULL);
			eml_free(mem);
			PROP_ASSERT(t < 0 && t2 < 0 && t3 < 0, "host memory holds plaintext (%s)",
			            eml_needle_name(t >= 0    ? t
			                            : t2 >= 0 ? t2
			                                      : t3));
		}
		case_cleanup(&bc);
		clear_recordings(&e);
	}
	eml_e2e_stop(&e);
}
