/* Engine operators on hand-built graphs: folding, fusion equivalence, broadcasting edge cases. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/internal.h"
#include "eml/error.h"
#include "onnx/onnx.h"
#include "prop.h"
#include "tensor/tensor_io.h"
#include "test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})
#define D(...) ((const int64_t[]){__VA_ARGS__})

static float frand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((*s >> 40) & 0xffff) / 32768.0f - 1.0f;
}

static eml_plan *plan1(eml_model *m, const eml_io_tensor *in, size_t n)
{
	eml_plan *p = NULL;
	int bad = 0;
	int rc = eml_engine_assemble(m, in, n, NULL, &p, &bad);
	cr_assert_eq(rc, EML_OK, "assemble: %s (input %d)", eml_err_name(rc), bad);
	cr_assert_eq(eml_plan_run(p), EML_OK);
	return p;
}

static const float *out_f(eml_plan *p, size_t i, eml_io_tensor *o)
{
	cr_assert_eq(eml_plan_output(p, i, o), EML_OK);
	return o->data;
}

Test(engine_ops, shape_chains_fold_to_nothing)
{
	/* y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) : only a view remains */
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 3, D(-1, 2, 3));
	mb_input(m, x);
	int64_t zero = 0, minus1[1] = {-1}, ax0[1] = {0};
	int32_t i0 = mb_const(m, EML_DT_INT64, 0, NULL, &zero);
	int32_t m1 = mb_const(m, EML_DT_INT64, 1, D(1), minus1);
	int32_t axes = mb_const(m, EML_DT_INT64, 1, D(1), ax0);
	int32_t sh = mb_tmp(m), g = mb_tmp(m), u = mb_tmp(m), cc = mb_tmp(m), y = mb_tmp(m);
	mb_node(m, "Shape", I(x), I(sh));
	eml_node *n = mb_node(m, "Gather", I(sh, i0), I(g));
	mb_attr_i(n, "axis", 0);
	mb_node(m, "Unsqueeze", I(g, axes), I(u));
	n = mb_node(m, "Concat", I(u, m1), I(cc));
	mb_attr_i(n, "axis", 0);
	mb_node(m, "Reshape", I(x, cc), I(y));
	mb_output(m, y);
	float xs[4 * 6];
	for (int i = 0; i < 24; i++)
		xs[i] = (float)i;
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 3, D(4, 2, 3), xs);
	eml_plan *p = plan1(m, &in, 1);
	cr_assert_eq(eml_plan_n_steps(p), 1, "Shape/Gather/Unsqueeze/Concat were not folded");
	eml_io_tensor o;
	const float *y0 = out_f(p, 0, &o);
	cr_assert_eq(o.rank, 2);
	cr_assert_eq(o.dims[0], 4);
	cr_assert_eq(o.dims[1], 6);
	for (int i = 0; i < 24; i++)
		cr_assert_eq(y0[i], xs[i]);
	eml_plan_free(p);
	eml_model_free(m);
}

/* Conv -> BatchNormalization -> Add(bias) -> Relu : fused into one step, same results as the
 * unfused plan (made unfusible by exposing the intermediates as graph outputs). */
static eml_model *conv_bn(int expose, const char *act)
{
	uint64_t seed = 42;
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 4, D(1, 3, 7, 6));
	mb_input(m, x);
	float w[4 * 3 * 3 * 3], b[4], sc[4], bb[4], mean[4], var[4], ab[4];
	for (size_t i = 0; i < sizeof(w) / 4; i++)
		w[i] = frand(&seed);
	for (int i = 0; i < 4; i++) {
		b[i] = frand(&seed);
		sc[i] = 1.0f + 0.5f * frand(&seed);
		bb[i] = frand(&seed);
		mean[i] = frand(&seed);
		var[i] = 1.0f + 0.9f * frand(&seed);
		ab[i] = frand(&seed);
	}
	int32_t W = mb_const(m, EML_DT_FLOAT, 4, D(4, 3, 3, 3), w);
	int32_t B = mb_const(m, EML_DT_FLOAT, 1, D(4), b);
	int32_t S = mb_const(m, EML_DT_FLOAT, 1, D(4), sc),
	        BB = mb_const(m, EML_DT_FLOAT, 1, D(4), bb);
	int32_t MU = mb_const(m, EML_DT_FLOAT, 1, D(4), mean),
	        VA = mb_const(m, EML_DT_FLOAT, 1, D(4), var);
	int32_t AB = mb_const(m, EML_DT_FLOAT, 3, D(4, 1, 1), ab);
	int32_t c = mb_tmp(m), bn = mb_tmp(m), ad = mb_tmp(m), y = mb_tmp(m);
	eml_node *n = mb_node(m, "Conv", I(x, W, B), I(c));
	mb_attr_ints(n, "pads", 4, D(1, 1, 1, 1));
	mb_attr_ints(n, "strides", 2, D(2, 1));
	n = mb_node(m, "BatchNormalization", I(c, S, BB, MU, VA), I(bn));
	mb_attr_f(n, "epsilon", 1e-3f);
	mb_node(m, "Add", I(bn, AB), I(ad));
	n = mb_node(m, act, I(ad), I(y));
	if (strcmp(act, "LeakyRelu") == 0)
		mb_attr_f(n, "alpha", 0.1f);
	mb_output(m, y);
	if (expose) {
		mb_output(m, c);
		mb_output(m, bn);
		mb_output(m, ad);
	}
	return m;
}

Test(engine_ops, conv_bn_bias_activation_fusion_is_equivalent)
{
	const char *acts[] = {"Relu", "LeakyRelu", "Sigmoid", "HardSwish", "HardSigmoid", "Tanh"};
	float xs[3 * 7 * 6];
	uint64_t seed = 7;
	for (size_t i = 0; i < sizeof(xs) / 4; i++)
		xs[i] = 2 * frand(&seed);
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 4, D(1, 3, 7, 6), xs);
	for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++) {
		eml_model *mf = conv_bn(0, acts[a]), *mu = conv_bn(1, acts[a]);
		eml_plan *pf = plan1(mf, &in, 1), *pu = plan1(mu, &in, 1);
		cr_assert_eq(eml_plan_n_steps(pf), 1, "%s: not fused", acts[a]);
		cr_assert_eq(eml_plan_n_steps(pu), 4, "%s", acts[a]);
		eml_io_tensor of, ou;
		const float *yf = out_f(pf, 0, &of), *yu = out_f(pu, 0, &ou);
		cr_assert_eq(of.bytes, ou.bytes);
		cr_assert_eq(of.dims[2], 4);
		for (size_t i = 0; i < of.bytes / 4; i++)
			cr_assert(fabsf(yf[i] - yu[i]) <= 1e-4f * (1 + fabsf(yu[i])),
			          "%s [%zu]: %g vs %g", acts[a], i, yf[i], yu[i]);
		eml_plan_free(pf);
		eml_plan_free(pu);
		eml_model_free(mf);
		eml_model_free(mu);
	}
}

Test(engine_ops, matmul_broadcasting_batches_matches_reference)
{
	eml_model *m = mb_new(13);
	int32_t a = mb_value(m, EML_DT_FLOAT, 4, D(2, 1, 3, 4));
	int32_t b = mb_value(m, EML_DT_FLOAT, 3, D(3, 4, 5));
	int32_t y = mb_tmp(m);
	mb_input(m, a);
	mb_input(m, b);
	mb_node(m, "MatMul", I(a, b), I(y));
	mb_output(m, y);
	float A[2 * 3 * 4], B[3 * 4 * 5];
	uint64_t seed = 3;
	for (int i = 0; i < 24; i++)
		A[i] = frand(&seed);
	for (int i = 0; i < 60; i++)
		B[i] = frand(&seed);
	eml_io_tensor in[2] = {mb_io(EML_DT_FLOAT, 4, D(2, 1, 3, 4), A),
	                       mb_io(EML_DT_FLOAT, 3, D(3, 4, 5), B)};
	eml_plan *p = plan1(m, in, 2);
	eml_io_tensor o;
	const float *Y = out_f(p, 0, &o);
	cr_assert_eq(o.rank, 4);
	cr_assert(o.dims[0] == 2 && o.dims[1] == 3 && o.dims[2] == 3 && o.dims[3] == 5);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 3; j++)
			for (int r = 0; r < 3; r++)
				for (int cc = 0; cc < 5; cc++) {
					float s = 0;
					for (int k = 0; k < 4; k++)
						s += A[i * 12 + r * 4 + k] * B[j * 20 + k * 5 + cc];
					cr_assert_float_eq(Y[((i * 3 + j) * 3 + r) * 5 + cc], s,
					                   1e-5);
				}
	eml_plan_free(p);
	eml_model_free(m);
}

/* Binary op on two inputs of the given shapes; returns the plan (output 0). */
static eml_plan *bin_plan(const char *op, int32_t dt, uint32_t ra, const int64_t *da, const void *a,
                          uint32_t rb, const int64_t *db, const void *bv, eml_model **mo)
{
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, dt, (int32_t)ra, da), y = mb_value(m, dt, (int32_t)rb, db);
	int32_t z = mb_tmp(m);
	mb_input(m, x);
	mb_input(m, y);
	mb_node(m, op, I(x, y), I(z));
	mb_output(m, z);
	eml_io_tensor in[2] = {mb_io(dt, ra, da, a), mb_io(dt, rb, db, bv)};
	*mo = m;
	return plan1(m, in, 2);
}

Test(engine_ops, broadcasting_edge_cases)
{
	eml_model *m;
	eml_io_tensor o;
	/* scalar with matrix */
	float s = 2.0f, mat[6] = {1, 2, 3, 4, 5, 6};
	eml_plan *p = bin_plan("Sub", EML_DT_FLOAT, 0, NULL, &s, 2, D(2, 3), mat, &m);
	const float *r = out_f(p, 0, &o);
	cr_assert_eq(o.rank, 2);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(r[i], 2.0f - mat[i]);
	eml_plan_free(p);
	eml_model_free(m);
	/* [2,1,3] with [4,1] -> [2,4,3] */
	float a[6] = {1, 2, 3, 4, 5, 6}, b[4] = {10, 20, 30, 40};
	p = bin_plan("Add", EML_DT_FLOAT, 3, D(2, 1, 3), a, 2, D(4, 1), b, &m);
	r = out_f(p, 0, &o);
	cr_assert(o.rank == 3 && o.dims[0] == 2 && o.dims[1] == 4 && o.dims[2] == 3);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 4; j++)
			for (int k = 0; k < 3; k++)
				cr_assert_eq(r[(i * 4 + j) * 3 + k], a[i * 3 + k] + b[j]);
	eml_plan_free(p);
	eml_model_free(m);
	/* empty: [0,3] * [3] -> [0,3] */
	float e3[3] = {1, 2, 3};
	p = bin_plan("Mul", EML_DT_FLOAT, 2, D(0, 3), NULL, 1, D(3), e3, &m);
	out_f(p, 0, &o);
	cr_assert(o.rank == 2 && o.dims[0] == 0 && o.dims[1] == 3 && o.bytes == 0);
	eml_plan_free(p);
	eml_model_free(m);
	/* int64 division and Equal giving bools */
	int64_t ia[4] = {7, -9, 100, 5}, ib[1] = {2};
	p = bin_plan("Div", EML_DT_INT64, 1, D(4), ia, 1, D(1), ib, &m);
	const int64_t *ir = (const int64_t *)(const void *)out_f(p, 0, &o);
	cr_assert_eq(o.dtype, EML_DT_INT64);
	cr_assert(ir[0] == 3 && ir[1] == -4 && ir[2] == 50 && ir[3] == 2);
	eml_plan_free(p);
	eml_model_free(m);
	p = bin_plan("Equal", EML_DT_INT64, 1, D(4), ia, 0, NULL, &ia[2], &m);
	const uint8_t *br = (const uint8_t *)(const void *)out_f(p, 0, &o);
	cr_assert_eq(o.dtype, EML_DT_BOOL);
	cr_assert(br[0] == 0 && br[1] == 0 && br[2] == 1 && br[3] == 0);
	eml_plan_free(p);
	eml_model_free(m);
	/* incompatible shapes are an input-shape error naming an input */
	m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(-1)), y = mb_value(m, EML_DT_FLOAT, 1, D(-1));
	int32_t z = mb_tmp(m);
	mb_input(m, x);
	mb_input(m, y);
	mb_node(m, "Add", I(x, y), I(z));
	mb_output(m, z);
	eml_io_tensor in[2] = {mb_io(EML_DT_FLOAT, 1, D(3), a), mb_io(EML_DT_FLOAT, 1, D(2), a)};
	int bad = 99;
	cr_assert_eq(eml_engine_assemble(m, in, 2, NULL, &p, &bad), EML_E_ENGINE_INPUT_SHAPE);
	cr_assert(bad == 0 || bad == 1);
	eml_model_free(m);
}

Test(engine_ops, transpose_rank5_and_slice_negative_steps)
{
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 5, D(2, 3, 1, 4, 2));
	int32_t t = mb_tmp(m), sl = mb_tmp(m);
	mb_input(m, x);
	eml_node *n = mb_node(m, "Transpose", I(x), I(t));
	mb_attr_ints(n, "perm", 5, D(3, 0, 4, 2, 1));
	int64_t st[1] = {-1}, en[1] = {INT64_MIN}, ax[1] = {0}, sp[1] = {-2};
	int32_t S = mb_const(m, EML_DT_INT64, 1, D(1), st),
	        E = mb_const(m, EML_DT_INT64, 1, D(1), en);
	int32_t A = mb_const(m, EML_DT_INT64, 1, D(1), ax),
	        P = mb_const(m, EML_DT_INT64, 1, D(1), sp);
	mb_node(m, "Slice", I(t, S, E, A, P), I(sl));
	mb_output(m, t);
	mb_output(m, sl);
	float xs[48];
	for (int i = 0; i < 48; i++)
		xs[i] = (float)i;
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 5, D(2, 3, 1, 4, 2), xs);
	eml_plan *p = plan1(m, &in, 1);
	eml_io_tensor o, os;
	const float *r = out_f(p, 0, &o);
	const int64_t od[5] = {4, 2, 2, 1, 3};
	for (int i = 0; i < 5; i++)
		cr_assert_eq(o.dims[i], od[i]);
	for (int d3 = 0; d3 < 4; d3++)
		for (int d0 = 0; d0 < 2; d0++)
			for (int d4 = 0; d4 < 2; d4++)
				for (int d1 = 0; d1 < 3; d1++) {
					float want = xs[((d0 * 3 + d1) * 4 + d3) * 2 + d4];
					cr_assert_eq(r[((d3 * 2 + d0) * 2 + d4) * 3 + d1], want);
				}
	/* rows 3 and 1 of the transposed tensor, in that order */
	const float *q = out_f(p, 1, &os);
	cr_assert_eq(os.dims[0], 2);
	cr_assert_eq(memcmp(q, r + 3 * 12, 12 * 4), 0);
	cr_assert_eq(memcmp(q + 12, r + 1 * 12, 12 * 4), 0);
	eml_plan_free(p);
	eml_model_free(m);
}

/* MNIST (vectors/models/mnist-8) against its shipped test data, through the ONNX loader. */
Test(engine_ops, mnist_matches_shipped_outputs)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	eml_model *m = NULL;
	cr_assert_eq(eml_onnx_load_file(path, &m), EML_OK, "mnist missing: %s", path);
	for (int set = 0; set < 3; set++) {
		eml_tensor_file in, want;
		snprintf(path, sizeof(path), "%s/models/mnist-8/test_data_set_%d/input_0.pb",
		         eml_test_vectors_dir(), set);
		cr_assert_eq(eml_tensor_read_file(path, &in), EML_OK);
		snprintf(path, sizeof(path), "%s/models/mnist-8/test_data_set_%d/output_0.pb",
		         eml_test_vectors_dir(), set);
		cr_assert_eq(eml_tensor_read_file(path, &want), EML_OK);
		eml_io_tensor io = mb_io(in.dtype, in.rank, in.dims, in.data);
		eml_plan *p = plan1(m, &io, 1);
		eml_io_tensor o;
		const float *y = out_f(p, 0, &o);
		cr_assert_eq(o.bytes, want.bytes);
		const float *w = (const float *)(const void *)want.data;
		for (size_t i = 0; i < o.bytes / 4; i++)
			cr_assert(fabsf(y[i] - w[i]) <= 1e-3f * fabsf(w[i]) + 1e-4f,
			          "set %d [%zu]: %g vs %g", set, i, y[i], w[i]);
		eml_plan_free(p);
		eml_tensor_file_cleanup(&in);
		eml_tensor_file_cleanup(&want);
	}
	eml_model_free(m);
}

/* The engine's operator table and `eml check`'s support table (src/onnx/support.c) agree. */
Test(engine_ops, op_table_agrees_with_onnx_support_table)
{
	size_t ne = 0, ns = 0;
	const eml_engine_op_info *e = eml_engine_op_table(&ne);
	const eml_op_support *s = eml_onnx_support_table(&ns);
	for (size_t i = 0; i < ns; i++) {
		if (s[i].domain != NULL && s[i].domain[0] != 0)
			continue;
		int found = 0;
		for (size_t j = 0; j < ne && !found; j++)
			found = strcmp(e[j].op, s[i].op_type) == 0 && e[j].since == s[i].since &&
			        e[j].until == s[i].until;
		cr_expect(found, "support table lists %s %d-%d, the engine does not", s[i].op_type,
		          s[i].since, s[i].until);
	}
	for (size_t j = 0; j < ne; j++) {
		int found = 0;
		for (size_t i = 0; i < ns && !found; i++)
			found = strcmp(e[j].op, s[i].op_type) == 0 && e[j].since == s[i].since &&
			        e[j].until == s[i].until;
		cr_expect(found,
		          "the engine implements %s %d-%d, the support table does not list it",
		          e[j].op, e[j].since, e[j].until);
	}
}

/* Conv -> Mul(per-channel const) -> Add(const) -> x*Clip(x+3,0,6)/6 (HardSwish written out, both
 * operand orders): fused into one Conv step, same values as the unfused plan. With `scalars`
 * (PP-LCNet's "learnable affine" blocks) the scale and shift are one-element tensors and a scalar
 * Mul and Add follow the activation too (the epilogue's post-activation affine). */
static eml_model *conv_affine_hs(int expose, int order, int scalars)
{
	uint64_t seed = 11;
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 4, D(1, 2, 5, 5));
	mb_input(m, x);
	float w[3 * 2 * 3 * 3], sc[3], sh[3];
	for (size_t i = 0; i < sizeof(w) / 4; i++)
		w[i] = frand(&seed);
	for (int i = 0; i < 3; i++) {
		sc[i] = 2 * frand(&seed);
		sh[i] = frand(&seed);
	}
	float three = 3, zero = 0, six = 6;
	int32_t W = mb_const(m, EML_DT_FLOAT, 4, D(3, 2, 3, 3), w);
	int32_t S = scalars ? mb_const(m, EML_DT_FLOAT, 1, D(1), sc)
	                    : mb_const(m, EML_DT_FLOAT, 4, D(1, 3, 1, 1), sc);
	int32_t H = scalars ? mb_const(m, EML_DT_FLOAT, 1, D(1), sh)
	                    : mb_const(m, EML_DT_FLOAT, 3, D(3, 1, 1), sh);
	float ps = 0.75f, pt = -0.25f;
	int32_t PS = mb_const(m, EML_DT_FLOAT, 1, D(1), &ps);
	int32_t PT = mb_const(m, EML_DT_FLOAT, 1, D(1), &pt);
	int32_t C3 = mb_const(m, EML_DT_FLOAT, 0, NULL, &three);
	int32_t C0 = mb_const(m, EML_DT_FLOAT, 0, NULL, &zero);
	int32_t C6 = mb_const(m, EML_DT_FLOAT, 0, NULL, &six);
	int32_t c = mb_tmp(m), ms = mb_tmp(m), a = mb_tmp(m), a3 = mb_tmp(m), cl = mb_tmp(m),
	        t = mb_tmp(m), y = mb_tmp(m);
	eml_node *n = mb_node(m, "Conv", I(x, W), I(c));
	mb_attr_ints(n, "pads", 4, D(1, 1, 1, 1));
	mb_node(m, "Mul", I(S, c), I(ms));
	mb_node(m, "Add", I(ms, H), I(a));
	mb_node(m, "Add", I(a, C3), I(a3));
	mb_node(m, "Clip", I(a3, C0, C6), I(cl));
	if (order == 0) {
		mb_node(m, "Mul", I(a, cl), I(t));
		mb_node(m, "Div", I(t, C6), I(y));
	} else {
		mb_node(m, "Div", I(cl, C6), I(t));
		mb_node(m, "Mul", I(t, a), I(y));
	}
	if (scalars) {
		int32_t y2 = mb_tmp(m), y3 = mb_tmp(m);
		mb_node(m, "Mul", I(PS, y), I(y2));
		mb_node(m, "Add", I(y2, PT), I(y3));
		mb_output(m, y3);
		if (expose)
			mb_output(m, y);
	} else {
		mb_output(m, y);
	}
	if (expose) {
		mb_output(m, ms);
		mb_output(m, a3);
	}
	return m;
}

Test(engine_ops, hardswish_pattern_and_affine_fold_into_conv)
{
	float xs[50];
	uint64_t seed = 5;
	for (int i = 0; i < 50; i++)
		xs[i] = 4 * frand(&seed);
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 4, D(1, 2, 5, 5), xs);
	for (int order = 0; order < 4; order++) {
		eml_model *mf = conv_affine_hs(0, order % 2, order / 2),
		          *mu = conv_affine_hs(1, order % 2, order / 2);
		eml_plan *pf = plan1(mf, &in, 1), *pu = plan1(mu, &in, 1);
		cr_assert_eq(eml_plan_n_steps(pf), 1, "order %d: not fused into one step", order);
		cr_assert_gt(eml_plan_n_steps(pu), 4);
		eml_io_tensor of, ou;
		const float *yf = out_f(pf, 0, &of), *yu = out_f(pu, 0, &ou);
		cr_assert_eq(of.bytes, ou.bytes);
		int nonzero = 0;
		for (size_t i = 0; i < of.bytes / 4; i++) {
			cr_assert(fabsf(yf[i] - yu[i]) <= 1e-4f * (1 + fabsf(yu[i])),
			          "[%zu]: %g vs %g", i, yf[i], yu[i]);
			nonzero += yu[i] != 0;
		}
		cr_assert_gt(nonzero, 10);
		eml_plan_free(pf);
		eml_plan_free(pu);
		eml_model_free(mf);
		eml_model_free(mu);
	}
}

static eml_model *gemm_bn(int expose, int with_c, int transb)
{
	uint64_t seed = 21;
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 2, D(3, 4));
	mb_input(m, x);
	float w[20], cc[5], sc[5], bb[5], mu[5], va[5];
	for (int i = 0; i < 20; i++)
		w[i] = frand(&seed);
	for (int i = 0; i < 5; i++) {
		cc[i] = frand(&seed);
		sc[i] = 1 + 0.5f * frand(&seed);
		bb[i] = frand(&seed);
		mu[i] = frand(&seed);
		va[i] = 1 + 0.5f * frand(&seed);
	}
	int32_t W = transb ? mb_const(m, EML_DT_FLOAT, 2, D(5, 4), w)
	                   : mb_const(m, EML_DT_FLOAT, 2, D(4, 5), w);
	int32_t C = mb_const(m, EML_DT_FLOAT, 1, D(5), cc);
	int32_t S = mb_const(m, EML_DT_FLOAT, 1, D(5), sc),
	        B = mb_const(m, EML_DT_FLOAT, 1, D(5), bb);
	int32_t MU = mb_const(m, EML_DT_FLOAT, 1, D(5), mu),
	        V = mb_const(m, EML_DT_FLOAT, 1, D(5), va);
	int32_t g = mb_tmp(m), y = mb_tmp(m);
	eml_node *n =
	    with_c ? mb_node(m, "Gemm", I(x, W, C), I(g)) : mb_node(m, "Gemm", I(x, W), I(g));
	mb_attr_f(n, "alpha", 0.75f);
	mb_attr_f(n, "beta", 1.5f);
	mb_attr_i(n, "transB", transb);
	mb_node(m, "BatchNormalization", I(g, S, B, MU, V), I(y));
	mb_output(m, y);
	if (expose)
		mb_output(m, g);
	return m;
}

Test(engine_ops, gemm_batchnorm_fusion_is_equivalent)
{
	float xs[12];
	uint64_t seed = 9;
	for (int i = 0; i < 12; i++)
		xs[i] = 2 * frand(&seed);
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 2, D(3, 4), xs);
	for (int v = 0; v < 4; v++) {
		eml_model *mf = gemm_bn(0, v & 1, v >> 1), *mu = gemm_bn(1, v & 1, v >> 1);
		eml_plan *pf = plan1(mf, &in, 1), *pu = plan1(mu, &in, 1);
		cr_assert_eq(eml_plan_n_steps(pf), 1, "variant %d not fused", v);
		cr_assert_eq(eml_plan_n_steps(pu), 2);
		eml_io_tensor of, ou;
		const float *yf = out_f(pf, 0, &of), *yu = out_f(pu, 0, &ou);
		for (size_t i = 0; i < of.bytes / 4; i++)
			cr_assert(fabsf(yf[i] - yu[i]) <= 1e-4f * (1 + fabsf(yu[i])),
			          "v%d [%zu] %g vs %g", v, i, yf[i], yu[i]);
		eml_plan_free(pf);
		eml_plan_free(pu);
		eml_model_free(mf);
		eml_model_free(mu);
	}
}

/* Generated broadcasting cases (at least EML_PROP_ITERS): random ranks 0-4, dims 0-4, operand
 * dims equal or 1, random op; invalid pairs must fail with ENGINE_INPUT_SHAPE, never crash. */
static float ref_op(int op, float x, float y)
{
	switch (op) {
	case 0:
		return x + y;
	case 1:
		return x - y;
	case 2:
		return x * y;
	case 3:
		return x / y;
	case 4:
		return x > y ? x : y;
	default:
		return x < y ? x : y;
	}
}

/* (prop.h's PROP_ASSERT appends the replay arguments after the caller's, so with arguments of
 * its own a message would be misformatted: this puts them first.) */
#define GEN_ASSERT(cond, fmt, ...)                                                                 \
	cr_assert((cond), "[replay: EML_PROP_SEED=%llu, case %d] " fmt,                            \
	          (unsigned long long)eml_prop_seed_cur, eml_prop_case_cur, ##__VA_ARGS__)

Test(engine_ops, generated_broadcasting_cases_match_reference, .timeout = 120)
{
	static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};
	PROP_FOR_EACH_CASE(rng)
	{
		uint32_t ro = (uint32_t)eml_rng_below(&rng, 5);
		int64_t od[4];
		for (uint32_t i = 0; i < ro; i++)
			od[i] = eml_rng_chance(&rng, 0.05) ? 0 : eml_rng_range(&rng, 1, 4);
		uint32_t ra = (uint32_t)eml_rng_below(&rng, ro + 1), rb = ro;
		if (eml_rng_chance(&rng, 0.5)) {
			rb = (uint32_t)eml_rng_below(&rng, ro + 1);
			ra = ro;
		}
		int64_t da[4], db[4];
		for (uint32_t i = 0; i < ra; i++)
			da[i] = eml_rng_chance(&rng, 0.4) ? 1 : od[ro - ra + i];
		for (uint32_t i = 0; i < rb; i++)
			db[i] = eml_rng_chance(&rng, 0.4) ? 1 : od[ro - rb + i];
		int invalid = 0;
		if (ra > 0 && eml_rng_chance(&rng, 0.15)) {
			uint32_t k = (uint32_t)eml_rng_below(&rng, ra);
			int64_t other = ro - ra + k >= ro - rb ? db[k + rb - ra] : 1;
			int64_t want = od[ro - ra + k];
			if (want > 1 && other != 1) {
				da[k] = want + 1; /* neither equal nor 1 */
				invalid = 1;
			}
		}
		/* the real output dims are the broadcast of da, db */
		for (uint32_t i = 0; i < ro; i++) {
			int64_t x = i >= ro - ra ? da[i - (ro - ra)] : 1;
			int64_t y = i >= ro - rb ? db[i - (ro - rb)] : 1;
			od[i] = x == 1 ? y : x;
		}
		uint64_t na = 1, nb = 1, no = 1;
		for (uint32_t i = 0; i < ra; i++)
			na *= (uint64_t)da[i];
		for (uint32_t i = 0; i < rb; i++)
			nb *= (uint64_t)db[i];
		for (uint32_t i = 0; i < ro; i++)
			no *= (uint64_t)od[i];
		float A[256], B[256];
		for (uint64_t i = 0; i < na; i++)
			A[i] = eml_rng_float(&rng, -2, 2);
		for (uint64_t i = 0; i < nb; i++)
			B[i] = eml_rng_float(&rng, 0.5f, 2);
		int op = (int)eml_rng_below(&rng, 6);
		eml_model *m = mb_new(13);
		int32_t x = mb_value(m, EML_DT_FLOAT, (int32_t)ra, da);
		int32_t y = mb_value(m, EML_DT_FLOAT, (int32_t)rb, db), z = mb_tmp(m);
		mb_input(m, x);
		mb_input(m, y);
		mb_node(m, ops[op], I(x, y), I(z));
		mb_output(m, z);
		eml_io_tensor in[2] = {mb_io(EML_DT_FLOAT, ra, da, A),
		                       mb_io(EML_DT_FLOAT, rb, db, B)};
		eml_plan *p = NULL;
		int bad = 99;
		int rc = eml_engine_assemble(m, in, 2, NULL, &p, &bad);
		if (invalid) {
			GEN_ASSERT(rc == EML_E_ENGINE_INPUT_SHAPE && p == NULL &&
			               (bad == 0 || bad == 1),
			           "invalid shapes gave %s", eml_err_name(rc));
			eml_model_free(m);
			continue;
		}
		GEN_ASSERT(rc == EML_OK, "assemble %s", eml_err_name(rc));
		GEN_ASSERT(eml_plan_run(p) == EML_OK, "run");
		eml_io_tensor o;
		eml_plan_output(p, 0, &o);
		GEN_ASSERT(o.rank == ro && o.bytes == no * 4,
		           "shape: rank %u vs %u bytes %llu vs %llu ra %u rb %u a %lld %lld %lld "
		           "%lld b %lld %lld %lld %lld o %lld %lld %lld %lld",
		           o.rank, ro, (unsigned long long)o.bytes, (unsigned long long)no * 4, ra,
		           rb, (long long)da[0], (long long)da[1], (long long)da[2],
		           (long long)da[3], (long long)db[0], (long long)db[1], (long long)db[2],
		           (long long)db[3], (long long)o.dims[0], (long long)o.dims[1],
		           (long long)o.dims[2], (long long)o.dims[3]);
		const float *Z = o.data;
		for (uint64_t e = 0; e < no; e++) {
			uint64_t rem = e, ia = 0, ib = 0, sa = 1, sb = 1;
			for (int d = (int)ro - 1; d >= 0; d--) {
				uint64_t idx = rem % (uint64_t)od[d];
				rem /= (uint64_t)od[d];
				int a_d = d - (int)(ro - ra), b_d = d - (int)(ro - rb);
				if (a_d >= 0) {
					ia += (da[a_d] == 1 ? 0 : idx) * sa;
					sa *= (uint64_t)da[a_d];
				}
				if (b_d >= 0) {
					ib += (db[b_d] == 1 ? 0 : idx) * sb;
					sb *= (uint64_t)db[b_d];
				}
			}
			float want = ref_op(op, A[ia], B[ib]);
			GEN_ASSERT(fabsf(Z[e] - want) <= 1e-6f * (1 + fabsf(want)),
			           "%s elem %llu: %g vs %g", ops[op], (unsigned long long)e, Z[e],
			           want);
		}
		eml_plan_free(p);
		eml_model_free(m);
	}
}

/* Generated single-node graphs of every claimed operator with random inputs, shapes and
 * attributes (many invalid): assembly fails with a result code or the plan runs; never a crash
 * (run under ASan/UBSan in the sanitizer build). */
Test(engine_ops, generated_random_nodes_never_crash, .timeout = 300)
{
	static const char *int_attrs[] = {"axis",          "keepdims",
	                                  "group",         "transA",
	                                  "transB",        "to",
	                                  "ceil_mode",     "count_include_pad",
	                                  "allowzero",     "noop_with_empty_axes",
	                                  "start",         "end",
	                                  "storage_order", "exclude_outside",
	                                  "training_mode"};
	static const char *ints_attrs[] = {
	    "axes",  "perm",           "kernel_shape", "pads",   "strides", "dilations",
	    "split", "output_padding", "output_shape", "starts", "ends",    "shape"};
	static const char *f_attrs[] = {"alpha", "beta", "epsilon", "min", "max", "value"};
	static const char *s_vals[] = {
	    "nearest",  "linear",  "cubic", "SAME_UPPER",    "SAME_LOWER",         "VALID",
	    "constant", "reflect", "edge",  "align_corners", "tf_crop_and_resize", "bogus"};
	static const char *s_attrs[] = {"mode", "auto_pad", "coordinate_transformation_mode",
	                                "nearest_mode"};
	size_t n_ops = 0;
	const eml_engine_op_info *tab = eml_engine_op_table(&n_ops);
	int ok_runs = 0;
	PROP_FOR_EACH_CASE(rng)
	{
		for (int rep = 0; rep < 3; rep++) {
			const char *op = tab[eml_rng_below(&rng, n_ops)].op;
			if (strcmp(op, "If") == 0)
				continue;
			eml_model *m = mb_new(eml_rng_range(&rng, 7, 20));
			int32_t ins[4];
			eml_io_tensor io[4];
			float data[4][64];
			int64_t dims[4][4];
			uint32_t ranks[4];
			size_t n_graph_in = 0;
			uint32_t nin = (uint32_t)eml_rng_range(&rng, 0, 4);
			for (uint32_t k = 0; k < nin; k++) {
				ranks[k] = (uint32_t)eml_rng_below(&rng, 5);
				uint64_t ne = 1;
				for (uint32_t d = 0; d < ranks[k]; d++) {
					dims[k][d] = eml_rng_range(&rng, ne > 16 ? 1 : 0, 3);
					ne *= (uint64_t)dims[k][d];
				}
				if (eml_rng_chance(&rng, 0.4) && ranks[k] <= 1) {
					int64_t iv[3];
					for (int q = 0; q < 3; q++)
						iv[q] = eml_rng_range(&rng, -3, 4);
					int64_t d1 =
					    ranks[k] ? (dims[k][0] < 3 ? dims[k][0] : 3) : 0;
					ins[k] = mb_const(m, EML_DT_INT64, ranks[k], &d1, iv);
				} else {
					for (uint64_t q = 0; q < ne && q < 64; q++)
						data[k][q] = eml_rng_float(&rng, -3, 3);
					ins[k] =
					    mb_value(m, EML_DT_FLOAT, (int32_t)ranks[k], dims[k]);
					mb_input(m, ins[k]);
					io[n_graph_in++] =
					    mb_io(EML_DT_FLOAT, ranks[k], dims[k], data[k]);
				}
			}
			int32_t inl[5], outl[3];
			for (uint32_t k = 0; k < nin; k++)
				inl[k] = ins[k];
			inl[nin] = MB_END;
			uint32_t nout = (uint32_t)eml_rng_range(&rng, 1, 2);
			for (uint32_t k = 0; k < nout; k++)
				outl[k] = mb_tmp(m);
			outl[nout] = MB_END;
			eml_node *n = mb_node(m, op, inl, outl);
			int na = (int)eml_rng_below(&rng, 4);
			for (int a = 0; a < na; a++) {
				switch (eml_rng_below(&rng, 4)) {
				case 0:
					mb_attr_i(n, int_attrs[eml_rng_below(&rng, 15)],
					          eml_rng_range(&rng, -2, 12));
					break;
				case 1: {
					int64_t v[8];
					uint32_t cnt = (uint32_t)eml_rng_below(&rng, 9);
					for (uint32_t q = 0; q < cnt; q++)
						v[q] = eml_rng_range(&rng, -3, 4);
					mb_attr_ints(n, ints_attrs[eml_rng_below(&rng, 12)], cnt,
					             v);
					break;
				}
				case 2:
					mb_attr_f(n, f_attrs[eml_rng_below(&rng, 6)],
					          eml_rng_float(&rng, -2, 2));
					break;
				default:
					mb_attr_s(n, s_attrs[eml_rng_below(&rng, 4)],
					          s_vals[eml_rng_below(&rng, 12)]);
					break;
				}
			}
			for (uint32_t k = 0; k < nout; k++)
				mb_output(m, outl[k]);
			eml_plan *p = NULL;
			int bad = 99;
			int rc = eml_engine_assemble(m, io, n_graph_in, NULL, &p, &bad);
			GEN_ASSERT(rc != EML_OK || p != NULL, "%s: OK without a plan", op);
			GEN_ASSERT(rc == EML_OK || p == NULL, "%s: a plan with an error", op);
			GEN_ASSERT(bad >= -1 && bad < (int)n_graph_in + 1, "%s: bad_input %d", op,
			           bad);
			if (rc == EML_OK) {
				GEN_ASSERT(eml_plan_run(p) == EML_OK, "%s: run failed", op);
				ok_runs++;
			}
			eml_plan_free(p);
			eml_model_free(m);
		}
	}
	cr_assert_gt(ok_runs, 0);
}

/* x * s + t with per-channel constants: one step, same values as computed separately. */
Test(engine_ops, affine_mul_add_fuse_into_one_pass)
{
	for (int expose = 0; expose < 2; expose++) {
		eml_model *m = mb_new(13);
		int32_t x = mb_value(m, EML_DT_FLOAT, 4, D(2, 3, 2, 2));
		mb_input(m, x);
		float sv[3] = {0.5f, -2, 3}, tv[3] = {1, 2, -3}, one = 4;
		int32_t S = mb_const(m, EML_DT_FLOAT, 3, D(3, 1, 1), sv);
		int32_t T = mb_const(m, EML_DT_FLOAT, 3, D(3, 1, 1), tv);
		int32_t U = mb_const(m, EML_DT_FLOAT, 0, NULL, &one);
		int32_t a = mb_tmp(m), b = mb_tmp(m), y = mb_tmp(m);
		mb_node(m, "Mul", I(x, S), I(a));
		mb_node(m, "Add", I(T, a), I(b));
		(void)U;
		mb_node(m, "Relu", I(b), I(y));
		mb_output(m, y);
		if (expose)
			mb_output(m, a);
		float xs[24];
		for (int i = 0; i < 24; i++)
			xs[i] = (float)i - 7;
		eml_io_tensor in = mb_io(EML_DT_FLOAT, 4, D(2, 3, 2, 2), xs);
		eml_plan *p = plan1(m, &in, 1);
		cr_assert_eq(eml_plan_n_steps(p), expose ? 3u : 2u);
		eml_io_tensor o;
		const float *r = out_f(p, 0, &o);
		for (int i = 0; i < 24; i++) {
			int ch = (i / 4) % 3;
			float v = xs[i] * sv[ch] + tv[ch];
			cr_assert_float_eq(r[i], v > 0 ? v : 0, 1e-5, "[%d]", i);
		}
		eml_plan_free(p);
		eml_model_free(m);
	}
}

/* Elementwise steps overwrite an input that dies with them: same values, smaller arena. */
Test(engine_ops, elementwise_in_place_reuses_dying_inputs)
{
	uint64_t arena[2];
	float res[2][1000];
	float xs[1000];
	for (int i = 0; i < 1000; i++)
		xs[i] = (float)(i % 17) / 8.0f - 1.0f;
	for (int expose = 0; expose < 2; expose++) {
		eml_model *m = mb_new(13);
		int32_t x = mb_value(m, EML_DT_FLOAT, 2, D(10, 100));
		float bias[100];
		for (int i = 0; i < 100; i++)
			bias[i] = (float)i / 100.0f;
		int32_t B = mb_const(m, EML_DT_FLOAT, 1, D(100), bias);
		mb_input(m, x);
		int32_t a = mb_tmp(m), e = mb_tmp(m), s = mb_tmp(m), y = mb_tmp(m);
		mb_node(m, "Neg", I(x), I(a));
		mb_node(m, "Exp", I(a), I(e));
		mb_node(m, "Sub", I(e, a), I(s)); /* a read twice: not in place for Exp */
		mb_node(m, "Add", I(s, B), I(y));
		mb_output(m, y);
		if (expose) {
			mb_output(m, e);
			mb_output(m, s);
		}
		eml_io_tensor in = mb_io(EML_DT_FLOAT, 2, D(10, 100), xs);
		eml_plan *p = plan1(m, &in, 1);
		arena[expose] = eml_plan_arena_bytes(p);
		eml_io_tensor o;
		memcpy(res[expose], out_f(p, 0, &o), sizeof(res[0]));
		for (int i = 0; i < 1000; i++) {
			float want = expf(-xs[i]) + xs[i] + bias[i % 100];
			cr_assert(fabsf(res[expose][i] - want) <= 1e-5f * (1 + fabsf(want)), "[%d]",
			          i);
		}
		eml_plan_free(p);
		eml_model_free(m);
	}
	cr_assert_lt(arena[0], arena[1], "in place did not shrink the arena (%llu vs %llu)",
	             (unsigned long long)arena[0], (unsigned long long)arena[1]);
}
