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
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "prop.h"
#include "topo/topo.h"

enum { NEEDLE_INPUT = 1, NEEDLE_OUTPUT, NEEDLE_TKEY, NEEDLE_WEIGHTS };

static const char *needle_name(int t)
{
	switch (t) {
	case NEEDLE_INPUT:
		return "input";
	case NEEDLE_OUTPUT:
		return "output";
	case NEEDLE_TKEY:
		return "topology key";
	case NEEDLE_WEIGHTS:
		return "weights";
	default:
		return "nothing";
	}
}

/* One case: what the client sent and got, and what must never be seen by the host. */
typedef struct blind_case {
	eml_window_set *inputs, *outputs, *secrets; /* secrets: tkey + plaintext weights */
	uint8_t *blob;
	size_t blob_len;
	int outputs_match;
	size_t out_bytes;
} blind_case;

static void blob_digest(const uint8_t *blob, size_t n, uint8_t d[32])
{
	cr_assert_eq(eml_sha256(blob, n, d), EML_OK);
}

/* Windows of the eml binary itself: public to anyone, host included. */
static eml_window_set *binary_windows(void)
{
	static eml_window_set *bin;
	if (bin == NULL) {
		uint8_t *b;
		size_t n;
		bin = eml_window_set_new();
		cr_assert_eq(eml_file_read(eml_test_bin(), (size_t)1 << 30, &b, &n), EML_OK);
		eml_window_set_add(bin, b, n, 0);
		eml_free(b);
	}
	return bin;
}

static void case_cleanup(blind_case *c)
{
	eml_window_set_free(c->inputs);
	eml_window_set_free(c->outputs);
	eml_window_set_free(c->secrets);
	eml_free(c->blob);
	memset(c, 0, sizeof(*c));
}

/* Generate a model and inputs, decompose, upload, attest, infer; compare with an in-process
 * run of the same engine on the plain model. */
static void run_case(eml_rng *rng, eml_e2e *e, blind_case *bc)
{
	memset(bc, 0, sizeof(*bc));
	bc->inputs = eml_window_set_new();
	bc->outputs = eml_window_set_new();
	bc->secrets = eml_window_set_new();
	eml_gen_opts go = {.max_layers = 3};
	eml_gen_info info;
	eml_model *m = NULL;
	PROP_ASSERT(eml_gen_model_ir(rng, &go, &m, &info) == EML_OK, "generate");
	eml_decompose_opts dopt = {.keep_io_names = (int)eml_rng_below(rng, 2)};
	uint8_t *tkey, *blob;
	size_t tkey_len, blob_len;
	PROP_ASSERT(eml_topo_decompose(m, &dopt, &tkey, &tkey_len, &blob, &blob_len) == EML_OK,
	            "decompose");
	/* The key also carries public facts the host legitimately has: the model id (in the blob
	 * header), the blob's SHA-256 (of bytes the host stores), and the vocabulary of operator and
	 * attribute names (in every eml binary). A window of the key counts as secret only when at
	 * least half of its bytes are not covered by such public windows. */
	eml_window_set *pub = eml_window_set_new();
	uint8_t digest[32];
	eml_window_set_add(pub, blob, blob_len, 0);
	blob_digest(blob, blob_len, digest);
	eml_window_set_add(pub, digest, sizeof(digest), 0);
	uint8_t *covered = eml_calloc(tkey_len + 1, 1);
	for (size_t i = 0; i + EML_WINDOW <= tkey_len; i++)
		if (eml_window_set_find(pub, tkey + i, EML_WINDOW, NULL) >= 0 ||
		    eml_window_set_find(binary_windows(), tkey + i, EML_WINDOW, NULL) >= 0)
			memset(covered + i, 1, EML_WINDOW);
	for (size_t i = 0; i + EML_WINDOW <= tkey_len; i++) {
		int open = 0;
		for (int k = 0; k < EML_WINDOW; k++)
			open += !covered[i + (size_t)k];
		if (open >= EML_WINDOW / 2)
			eml_window_set_add(bc->secrets, tkey + i, EML_WINDOW, NEEDLE_TKEY);
	}
	eml_free(covered);
	eml_window_set_free(pub);
	for (uint32_t i = 0; i < m->n_tensors; i++)
		eml_window_set_add(bc->secrets, m->data + m->tensors[i].offset,
		                   (size_t)m->tensors[i].length, NEEDLE_WEIGHTS);
	PROP_ASSERT(eml_host_upload(e->client_addr, blob, blob_len, 30000, NULL) == EML_OK,
	            "upload");
	bc->blob = blob;
	bc->blob_len = blob_len;

	/* Random inputs, in graph-input order. */
	eml_client_tensor in[4];
	eml_io_tensor io[4];
	float *data[4] = {0};
	memset(in, 0, sizeof(in));
	memset(io, 0, sizeof(io));
	for (uint32_t i = 0; i < info.n_inputs; i++) {
		const eml_gen_input *gi = &info.inputs[i];
		uint64_t n = 1;
		for (uint32_t d = 0; d < gi->rank; d++)
			n *= (uint64_t)gi->dims[d];
		PROP_ASSERT(gi->dtype == EML_DT_FLOAT, "generator input is not float");
		data[i] = eml_alloc(n * 4 + 4);
		for (uint64_t k = 0; k < n; k++)
			data[i][k] = eml_rng_normal(rng);
		eml_window_set_add(bc->inputs, (uint8_t *)data[i], n * 4, NEEDLE_INPUT);
		in[i].name = dopt.keep_io_names ? gi->name : NULL;
		in[i].dtype = gi->dtype;
		in[i].rank = gi->rank;
		memcpy(in[i].dims, gi->dims, sizeof(gi->dims));
		in[i].data = data[i];
		in[i].bytes = n * 4;
		io[i].dtype = gi->dtype;
		io[i].rank = gi->rank;
		memcpy(io[i].dims, gi->dims, sizeof(gi->dims));
		io[i].data = data[i];
		io[i].bytes = n * 4;
	}

	/* Local reference: the same engine, in this process, on the plain model. */
	eml_plan *plan = NULL;
	eml_engine_opts eo = {.threads = 1};
	int bad = -1;
	int arc = eml_engine_assemble(m, io, info.n_inputs, &eo, &plan, &bad);
	PROP_ASSERT(arc == EML_OK, "local assemble: %s", eml_err_name(arc));
	PROP_ASSERT(eml_plan_run(plan) == EML_OK, "local run");

	eml_client *c = NULL;
	eml_client_opts co = {.host = e->client_addr, .policy_path = e->policy};
	int crc = eml_client_connect(&co, &c);
	PROP_ASSERT(crc == EML_OK, "connect/attest: %s", eml_err_name(crc));
	eml_client_result *r = NULL;
	int irc = eml_client_infer(c, tkey, tkey_len, in, info.n_inputs, &r);
	PROP_ASSERT(irc == EML_OK, "infer: %s", eml_err_name(irc));
	PROP_ASSERT(eml_client_result_count(r) == eml_plan_n_outputs(plan), "output count");
	bc->outputs_match = 1;
	for (size_t i = 0; i < eml_client_result_count(r); i++) {
		const eml_client_tensor *t = eml_client_result_tensor(r, i);
		eml_io_tensor lo;
		PROP_ASSERT(eml_plan_output(plan, i, &lo) == EML_OK, "local output");
		eml_window_set_add(bc->outputs, t->data, (size_t)t->bytes, NEEDLE_OUTPUT);
		bc->out_bytes += (size_t)t->bytes;
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
	if (info.n_inputs > 0 && in[0].bytes >= EML_WINDOW * 2)
		PROP_ASSERT(eml_window_set_find(bc->inputs, in[0].data, (size_t)in[0].bytes,
		                                NULL) == NEEDLE_INPUT,
		            "the window search is blind");
	eml_client_result_free(r);
	eml_client_free(c);
	eml_plan_free(plan);
	for (int i = 0; i < 4; i++)
		eml_free(data[i]);
	eml_free(tkey);
	eml_model_free(m);
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
		int t = seen_by_host(&e, bc.inputs, &where);
		PROP_ASSERT(t < 0, "plaintext %s seen by the host (%s)", needle_name(t), where);
		t = seen_by_host(&e, bc.secrets, &where);
		PROP_ASSERT(t < 0, "%s seen by the host (%s)", needle_name(t), where);
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
		int t = seen_by_host(&e, bc.outputs, &where);
		PROP_ASSERT(t < 0, "a plaintext output left the enclave (%s)", where);
		checked += eml_window_set_count(bc.outputs) > 0;
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
		PROP_ASSERT(memmem(tree, n, bc.blob, bc.blob_len) != NULL,
		            "blob not stored as sent");
		stored += bc.blob_len + EML_WINDOW;
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
		PROP_ASSERT(t < 0, "%s reached the host (%s)", needle_name(t), where);
		t = seen_by_host(&e, bc.inputs, &where);
		PROP_ASSERT(t < 0, "input reached the host (%s)", where);
		t = seen_by_host(&e, bc.outputs, &where);
		PROP_ASSERT(t < 0, "output reached the host (%s)", where);
		/* Every 10th case, and the last: the host process's whole memory. */
		if (eml_prop_case_cur % 10 == 0 || eml_prop_case_cur == eml_prop_iters() - 1) {
			uint8_t *mem;
			size_t n;
			PROP_ASSERT(eml_e2e_read_process_memory(e.host_pid, &mem, &n) == 0,
			            "read host memory");
			size_t off = 0;
			t = eml_window_set_find(bc.secrets, mem, n, &off);
			int t2 = eml_window_set_find(bc.inputs, mem, n, NULL);
			int t3 = eml_window_set_find(bc.outputs, mem, n, NULL);
			eml_free(mem);
			PROP_ASSERT(t < 0 && t2 < 0 && t3 < 0, "host memory holds plaintext (%s)",
			            needle_name(t >= 0    ? t
			                        : t2 >= 0 ? t2
			                                  : t3));
		}
		case_cleanup(&bc);
		clear_recordings(&e);
	}
	eml_e2e_stop(&e);
}
