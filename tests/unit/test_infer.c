/*
 * eml_enclave_infer's overlapped work (eml_infer_overlap): with_assembly is called exactly once
 * on every path, success or failure, on a second thread when the inputs are large; with_wipe
 * once on success only, with the outputs already copied out, and the outputs are right. A
 * Relu-times-0.5 model over a tensor of 300,000 floats (1.2 MB, above
 * EML_INFER_OVERLAP_MIN_BYTES) and of 1,000 floats (in line).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "common/mem.h"
#include "crypto/hash.h"
#include "enclave/infer.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "eml/error.h"
#include "model/model.h"
#include "topo/topo.h"
/* the engine tests' model builder (after engine.h, which it needs) */
#include "test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})

typedef struct blobsrc {
	uint8_t *blob;
	size_t len;
	int corrupt;
} blobsrc;

static int fetch(void *ctx, const uint8_t id[EML_MODEL_ID_BYTES], uint8_t **blob, size_t *len)
{
	(void)id;
	blobsrc *b = ctx;
	*blob = eml_memdup(b->blob, b->len);
	*len = b->len;
	if (*blob != NULL && b->corrupt)
		(*blob)[b->len - 1] ^= 1; /* the last chunk's tag */
	return *blob ? EML_OK : EML_E_NOMEM;
}

typedef struct counts {
	int assembly, wipe;
	int assembly_elsewhere; /* with_assembly ran on another thread */
	pthread_t caller;
	size_t out_n;
	uint64_t out_bytes;
	float out0;
} counts;

static void with_assembly(void *arg)
{
	counts *c = arg;
	c->assembly++;
	c->assembly_elsewhere = !pthread_equal(pthread_self(), c->caller);
}

static void with_wipe(void *arg, const eml_infer_out *o)
{
	counts *c = arg;
	c->wipe++;
	c->out_n = o->n;
	c->out_bytes = o->n > 0 ? o->t[0].bytes : 0;
	c->out0 = o->n > 0 && o->t[0].bytes >= 4 ? ((const float *)o->t[0].data)[0] : 0.0f;
}

static void make_model(int64_t n, uint8_t **tk, size_t *tl, blobsrc *b)
{
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 2, (const int64_t[]){1, n});
	mb_input(m, x);
	int32_t y = mb_value(m, EML_DT_FLOAT, 2, (const int64_t[]){1, n});
	float half = 0.5f;
	int32_t c = mb_const(m, EML_DT_FLOAT, 0, NULL, &half);
	int32_t t = mb_tmp(m);
	mb_node(m, "Relu", I(x), I(t));
	mb_node(m, "Mul", I(t, c), I(y));
	mb_output(m, y);
	cr_assert_eq(eml_topo_decompose(m, NULL, tk, tl, &b->blob, &b->len), EML_OK);
	eml_model_free(m);
}

static int run(int64_t n, int corrupt, counts *c, eml_infer_out *o)
{
	uint8_t *tk;
	size_t tl;
	blobsrc b = {.corrupt = corrupt};
	make_model(n, &tk, &tl, &b);
	float *x = eml_alloc((size_t)n * 4);
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)(i % 7) - 3.0f;
	eml_io_tensor in = {
	    .dtype = EML_DT_FLOAT, .rank = 2, .dims = {1, n}, .data = x, .bytes = (uint64_t)n * 4};
	eml_infer_stats st;
	eml_engine_opts eo = {.threads = 2};
	eml_infer_overlap ov = {.with_assembly = with_assembly, .with_wipe = with_wipe, .arg = c};
	memset(c, 0, sizeof(*c));
	c->caller = pthread_self();
	int bad = -1;
	int rc = eml_enclave_infer(tk, tl, &in, 1, fetch, &b, NULL, &eo, &ov, o, &st, &bad);
	eml_free(x);
	eml_free(tk);
	eml_free(b.blob);
	return rc;
}

Test(infer, overlapped_work_runs_once_on_every_path)
{
	for (int big = 0; big < 2; big++) {
		int64_t n = big ? 300000 : 1000;
		counts c;
		eml_infer_out o;
		cr_assert_eq(run(n, 0, &c, &o), EML_OK);
		cr_assert_eq(c.assembly, 1, "n %lld", (long long)n);
		cr_assert_eq(c.assembly_elsewhere, big,
		             "large inputs are hashed beside the assembly");
		cr_assert_eq(c.wipe, 1);
		cr_assert_eq(c.out_n, 1);
		cr_assert_eq(c.out_bytes, (uint64_t)n * 4);
		cr_assert_float_eq(c.out0, 0.0f, 0.0f); /* relu(-3) * 0.5 */
		cr_assert_float_eq(((const float *)o.t[0].data)[6], 1.5f, 0.0f);
		eml_infer_out_cleanup(&o);
		/* a corrupted blob: the request fails, the assembly's work still ran once, no
		 * outputs and no with_wipe */
		cr_assert_eq(run(n, 1, &c, &o), EML_E_BLOB_CHUNK_AUTH);
		cr_assert_eq(c.assembly, 1);
		cr_assert_eq(c.wipe, 0);
		cr_assert_eq(o.n, 0);
	}
}
