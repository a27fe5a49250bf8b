/*
 * Issue-9 operators on hand-built graphs, beyond ONNX's node suite: Einsum with "..." and
 * implicit outputs against a naive batched matmul, Mod's two sign conventions, TopK tie order,
 * recurrent layouts and sequence lengths, QLinearMatMul against a float reference within one
 * quantization step, and how data-dependent shapes are planned (NonZero of a graph input runs;
 * NonZero of a computed value is refused).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/internal.h"
#include "eml/error.h"
#include "test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})
#define D(...) ((const int64_t[]){__VA_ARGS__})

static float frand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((*s >> 40) & 0xffff) / 32768.0f - 1.0f;
}

static eml_plan *plan_n(eml_model *m, const eml_io_tensor *in, size_t n)
{
	eml_plan *p = NULL;
	int bad = 0;
	int rc = eml_engine_assemble(m, in, n, NULL, &p, &bad);
	cr_assert_eq(rc, EML_OK, "assemble: %s (input %d)", eml_err_name(rc), bad);
	cr_assert_eq(eml_plan_run(p), EML_OK);
	return p;
}

Test(engine_ops2, einsum_ellipsis_and_implicit_match_naive_matmul)
{
	uint64_t seed = 7;
	static const char *eqs[] = {"...ij,...jk->...ik", "...ij,...jk"};
	for (int e = 0; e < 2; e++) {
		eml_model *m = mb_new(13);
		int32_t a = mb_value(m, EML_DT_FLOAT, 3, D(2, 3, 4));
		int32_t b = mb_value(m, EML_DT_FLOAT, 3, D(2, 4, 5));
		mb_input(m, a);
		mb_input(m, b);
		int32_t y = mb_tmp(m);
		eml_node *n = mb_node(m, "Einsum", I(a, b), I(y));
		mb_attr_s(n, "equation", eqs[e]);
		mb_output(m, y);
		float av[24], bv[40];
		for (int i = 0; i < 24; i++)
			av[i] = frand(&seed);
		for (int i = 0; i < 40; i++)
			bv[i] = frand(&seed);
		eml_io_tensor in[2] = {mb_io(EML_DT_FLOAT, 3, D(2, 3, 4), av),
		                       mb_io(EML_DT_FLOAT, 3, D(2, 4, 5), bv)};
		eml_plan *p = plan_n(m, in, 2);
		eml_io_tensor o;
		cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
		cr_assert_eq(o.rank, 3);
		/* implicit: "..." first, then the labels used once (i, k) in alphabetical order */
		cr_assert(o.dims[0] == 2 && o.dims[1] == 3 && o.dims[2] == 5);
		const float *yv = o.data;
		for (int bt = 0; bt < 2; bt++)
			for (int i = 0; i < 3; i++)
				for (int k = 0; k < 5; k++) {
					float r = 0;
					for (int j = 0; j < 4; j++)
						r += av[bt * 12 + i * 4 + j] *
						     bv[bt * 20 + j * 5 + k];
					cr_assert_float_eq(yv[bt * 15 + i * 5 + k], r, 1e-5f);
				}
		eml_plan_free(p);
		eml_model_free(m);
	}
}

Test(engine_ops2, mod_sign_conventions)
{
	int32_t xs[4] = {-7, 7, -7, 7}, ys[4] = {3, -3, -3, 3};
	for (int fm = 0; fm < 2; fm++) {
		eml_model *m = mb_new(13);
		int32_t a = mb_value(m, EML_DT_INT32, 1, D(4));
		int32_t b = mb_value(m, EML_DT_INT32, 1, D(4));
		mb_input(m, a);
		mb_input(m, b);
		int32_t y = mb_tmp(m);
		eml_node *n = mb_node(m, "Mod", I(a, b), I(y));
		mb_attr_i(n, "fmod", fm);
		mb_output(m, y);
		eml_io_tensor in[2] = {mb_io(EML_DT_INT32, 1, D(4), xs),
		                       mb_io(EML_DT_INT32, 1, D(4), ys)};
		eml_plan *p = plan_n(m, in, 2);
		eml_io_tensor o;
		cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
		const int32_t *r = o.data;
		for (int i = 0; i < 4; i++) {
			/* fmod=1: C's %, sign of the dividend; fmod=0: sign of the divisor */
			int32_t want = xs[i] % ys[i];
			if (!fm && want != 0 && ((want < 0) != (ys[i] < 0)))
				want += ys[i];
			cr_assert_eq(r[i], want, "fmod=%d elem %d: %d vs %d", fm, i, r[i], want);
		}
		cr_assert_eq(r[0], fm ? -1 : 2);
		eml_plan_free(p);
		eml_model_free(m);
	}
}

Test(engine_ops2, topk_ties_keep_lower_index_first)
{
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(6));
	mb_input(m, x);
	int64_t k = 4;
	int32_t kv = mb_const(m, EML_DT_INT64, 1, D(1), &k);
	int32_t v = mb_tmp(m), ix = mb_tmp(m);
	mb_node(m, "TopK", I(x, kv), I(v, ix));
	mb_output(m, v);
	mb_output(m, ix);
	float xv[6] = {1, 3, 2, 3, 1, 2};
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 1, D(6), xv);
	eml_plan *p = plan_n(m, &in, 1);
	eml_io_tensor o;
	cr_assert_eq(eml_plan_output(p, 1, &o), EML_OK);
	const int64_t *r = o.data;
	int64_t want[4] = {1, 3, 2, 5};
	for (int i = 0; i < 4; i++)
		cr_assert_eq(r[i], want[i], "index %d: %lld", i, (long long)r[i]);
	eml_plan_free(p);
	eml_model_free(m);
}

/* LSTM bidirectional with sequence lengths: layout 1 gives the transposed layout-0 answer, Y is
 * zero past each sequence's length and Y_h equals the last valid step of the forward Y. */
Test(engine_ops2, lstm_layouts_and_sequence_lengths_agree)
{
	enum { S = 4, B = 2, IN = 3, H = 5, DIRS = 2 };
	uint64_t seed = 11;
	float x0[S * B * IN], x1[B * S * IN], w[DIRS * 4 * H * IN], r[DIRS * 4 * H * H];
	float bias[DIRS * 8 * H], pp[DIRS * 3 * H];
	for (size_t i = 0; i < sizeof(x0) / 4; i++)
		x0[i] = frand(&seed);
	for (int t = 0; t < S; t++)
		for (int b = 0; b < B; b++)
			memcpy(&x1[(b * S + t) * IN], &x0[(t * B + b) * IN], IN * sizeof(float));
	for (size_t i = 0; i < sizeof(w) / 4; i++)
		w[i] = frand(&seed);
	for (size_t i = 0; i < sizeof(r) / 4; i++)
		r[i] = frand(&seed);
	for (size_t i = 0; i < sizeof(bias) / 4; i++)
		bias[i] = frand(&seed);
	for (size_t i = 0; i < sizeof(pp) / 4; i++)
		pp[i] = frand(&seed);
	int32_t lens[B] = {4, 2};
	float outs[2][S * DIRS * B * H], hs[2][DIRS * B * H];
	for (int layout = 0; layout < 2; layout++) {
		eml_model *m = mb_new(14);
		int32_t x = mb_value(m, EML_DT_FLOAT, 3, layout ? D(B, S, IN) : D(S, B, IN));
		mb_input(m, x);
		int32_t wv = mb_const(m, EML_DT_FLOAT, 3, D(DIRS, 4 * H, IN), w);
		int32_t rv = mb_const(m, EML_DT_FLOAT, 3, D(DIRS, 4 * H, H), r);
		int32_t bv = mb_const(m, EML_DT_FLOAT, 2, D(DIRS, 8 * H), bias);
		int32_t lv = mb_const(m, EML_DT_INT32, 1, D(B), lens);
		int32_t pv = mb_const(m, EML_DT_FLOAT, 2, D(DIRS, 3 * H), pp);
		int32_t y = mb_tmp(m), yh = mb_tmp(m);
		eml_node *n = mb_node(m, "LSTM", I(x, wv, rv, bv, lv, -1, -1, pv), I(y, yh));
		mb_attr_s(n, "direction", "bidirectional");
		mb_attr_i(n, "hidden_size", H);
		mb_attr_i(n, "layout", layout);
		mb_output(m, y);
		mb_output(m, yh);
		eml_io_tensor in =
		    mb_io(EML_DT_FLOAT, 3, layout ? D(B, S, IN) : D(S, B, IN), layout ? x1 : x0);
		eml_plan *p = plan_n(m, &in, 1);
		eml_io_tensor o, oh;
		cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
		cr_assert_eq(eml_plan_output(p, 1, &oh), EML_OK);
		cr_assert_eq(o.bytes, sizeof(outs[0]));
		const float *yv = o.data, *hv = oh.data;
		/* store both in layout 0 order: Y[t][d][b][h], Y_h[d][b][h] */
		for (int t = 0; t < S; t++)
			for (int d = 0; d < DIRS; d++)
				for (int b = 0; b < B; b++)
					for (int h = 0; h < H; h++)
						outs[layout][((t * DIRS + d) * B + b) * H + h] =
						    layout ? yv[((b * S + t) * DIRS + d) * H + h]
						           : yv[((t * DIRS + d) * B + b) * H + h];
		for (int d = 0; d < DIRS; d++)
			for (int b = 0; b < B; b++)
				for (int h = 0; h < H; h++)
					hs[layout][(d * B + b) * H + h] =
					    layout ? hv[(b * DIRS + d) * H + h]
					           : hv[(d * B + b) * H + h];
		eml_plan_free(p);
		eml_model_free(m);
	}
	for (size_t i = 0; i < S * DIRS * B * H; i++)
		cr_assert_float_eq(outs[0][i], outs[1][i], 1e-6f, "Y elem %zu", i);
	for (size_t i = 0; i < DIRS * B * H; i++)
		cr_assert_float_eq(hs[0][i], hs[1][i], 1e-6f, "Y_h elem %zu", i);
	int nonzero = 0;
	for (int b = 0; b < B; b++)
		for (int t = 0; t < S; t++)
			for (int d = 0; d < DIRS; d++)
				for (int h = 0; h < H; h++) {
					float v = outs[0][((t * DIRS + d) * B + b) * H + h];
					if (t >= lens[b])
						cr_assert_eq(v, 0.0f,
						             "Y past the length must be 0");
					else
						nonzero += v != 0;
					/* forward Y_h = Y at the last valid step; reverse at t = 0 */
					int last = d == 0 ? lens[b] - 1 : 0;
					if (t == last)
						cr_assert_float_eq(hs[0][(d * B + b) * H + h], v,
						                   1e-7f);
				}
	cr_assert_gt(nonzero, 0);
}

/* 100 random QLinearMatMul cases against (a - za) * sa @ (b - zb) * sb in float, requantized:
 * within one quantization step of y. */
Test(engine_ops2, qlinearmatmul_within_one_step_of_float_reference)
{
	uint64_t seed = 3;
	for (int cs = 0; cs < 100; cs++) {
		int M = 1 + cs % 4, K = 1 + (cs * 7) % 9, N = 1 + (cs * 5) % 6;
		uint8_t av[64], bv[128];
		for (int i = 0; i < M * K; i++)
			av[i] = (uint8_t)(frand(&seed) * 127 + 128);
		for (int i = 0; i < K * N; i++)
			bv[i] = (uint8_t)(frand(&seed) * 127 + 128);
		float sa = 0.01f + fabsf(frand(&seed)) * 0.05f,
		      sb = 0.01f + fabsf(frand(&seed)) * 0.05f;
		float sy = 0.05f + fabsf(frand(&seed)) * 0.2f;
		uint8_t za = (uint8_t)(120 + cs % 16), zb = (uint8_t)(128 - cs % 8),
		        zy = (uint8_t)(100 + cs % 50);
		eml_model *m = mb_new(13);
		int32_t a = mb_value(m, EML_DT_UINT8, 2, D(M, K));
		mb_input(m, a);
		int32_t b = mb_const(m, EML_DT_UINT8, 2, D(K, N), bv);
		int32_t vsa = mb_const(m, EML_DT_FLOAT, 0, NULL, &sa);
		int32_t vsb = mb_const(m, EML_DT_FLOAT, 0, NULL, &sb);
		int32_t vsy = mb_const(m, EML_DT_FLOAT, 0, NULL, &sy);
		int32_t vza = mb_const(m, EML_DT_UINT8, 0, NULL, &za);
		int32_t vzb = mb_const(m, EML_DT_UINT8, 0, NULL, &zb);
		int32_t vzy = mb_const(m, EML_DT_UINT8, 0, NULL, &zy);
		int32_t y = mb_tmp(m);
		mb_node(m, "QLinearMatMul", I(a, vsa, vza, b, vsb, vzb, vsy, vzy), I(y));
		mb_output(m, y);
		eml_io_tensor in = mb_io(EML_DT_UINT8, 2, D(M, K), av);
		eml_plan *p = plan_n(m, &in, 1);
		eml_io_tensor o;
		cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
		const uint8_t *yv = o.data;
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++) {
				float r = 0;
				for (int k = 0; k < K; k++)
					r += ((float)av[i * K + k] - za) * sa *
					     ((float)bv[k * N + j] - zb) * sb;
				float q = r / sy + zy;
				q = q < 0 ? 0 : (q > 255 ? 255 : q);
				cr_assert(fabsf((float)yv[i * N + j] - q) <= 1.0f,
				          "case %d (%d,%d): %u vs %g", cs, i, j, yv[i * N + j], q);
			}
		eml_plan_free(p);
		eml_model_free(m);
	}
}

/* NonZero's output shape is its count: planned from a graph input's bytes (per request); from a
 * value computed inside the graph it is refused, cleanly. */
Test(engine_ops2, nonzero_is_planned_per_request)
{
	float xv[6] = {0, 1, 0, 2, 3, 0};
	for (int computed = 0; computed < 2; computed++) {
		eml_model *m = mb_new(13);
		int32_t x = mb_value(m, EML_DT_FLOAT, 2, D(2, 3));
		mb_input(m, x);
		int32_t src = x, y = mb_tmp(m);
		if (computed) {
			src = mb_tmp(m);
			mb_node(m, "Relu", I(x), I(src));
		}
		mb_node(m, "NonZero", I(src), I(y));
		mb_output(m, y);
		eml_io_tensor in = mb_io(EML_DT_FLOAT, 2, D(2, 3), xv);
		eml_plan *p = NULL;
		int bad = 0;
		int rc = eml_engine_assemble(m, &in, 1, NULL, &p, &bad);
		if (computed) {
			cr_assert_eq(rc, EML_E_UNSUPPORTED, "%s", eml_err_name(rc));
		} else {
			cr_assert_eq(rc, EML_OK);
			cr_assert_eq(eml_plan_run(p), EML_OK);
			eml_io_tensor o;
			cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
			cr_assert(o.rank == 2 && o.dims[0] == 2 && o.dims[1] == 3);
			const int64_t *r = o.data;
			int64_t want[6] = {0, 1, 1, 1, 0, 1};
			for (int i = 0; i < 6; i++)
				cr_assert_eq(r[i], want[i]);
		}
		eml_plan_free(p);
		eml_model_free(m);
	}
}
