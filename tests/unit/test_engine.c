/* Engine: end-to-end plans on hand-built models, fusion equivalence, errors, arena wipe. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "eml/error.h"
#include "prop.h"
#include "test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})
#define D(...) ((const int64_t[]){__VA_ARGS__})

/* x[B,3] -> Gemm(W1^T, b1) -> act -> MatMul(W2) -> Add(b2) */
static eml_model *mlp(int fusible, const char *act)
{
	static const float w1[4 * 3] = {0.1f,  -0.2f, 0.3f, 0.4f, 0.5f,  -0.6f,
	                                -0.7f, 0.8f,  0.9f, 1.0f, -1.1f, 1.2f};
	static const float b1[4] = {0.01f, -0.02f, 0.03f, -0.5f};
	static const float w2[4 * 2] = {1, -1, 0.5f, 0.25f, -2, 1, 0.75f, -0.5f};
	static const float b2[2] = {0.125f, -0.25f};
	eml_model *m = mb_new(13);
	int64_t xd[2] = {-1, 3};
	int32_t x = mb_value(m, EML_DT_FLOAT, 2, xd);
	m->values[x].dims[0].sym = 1;
	mb_input(m, x);
	int32_t W1 = mb_const(m, EML_DT_FLOAT, 2, D(4, 3), w1);
	int32_t B1 = mb_const(m, EML_DT_FLOAT, 1, D(4), b1);
	int32_t W2 = mb_const(m, EML_DT_FLOAT, 2, D(4, 2), w2);
	int32_t B2 = mb_const(m, EML_DT_FLOAT, 1, D(2), b2);
	int32_t h = mb_tmp(m), a = mb_tmp(m), mm = mb_tmp(m), y = mb_tmp(m);
	eml_node *n = mb_node(m, "Gemm", I(x, W1, B1), I(h));
	mb_attr_i(n, "transB", 1);
	mb_node(m, act, I(h), I(a));
	mb_node(m, "MatMul", I(a, W2), I(mm));
	mb_node(m, "Add", I(mm, B2), I(y));
	mb_output(m, y);
	if (!fusible)
		mb_output(m, h); /* h is a graph output: no fusion possible */
	return m;
}

static void mlp_ref(const float *x, int rows, float *y)
{
	static const float w1[4 * 3] = {0.1f,  -0.2f, 0.3f, 0.4f, 0.5f,  -0.6f,
	                                -0.7f, 0.8f,  0.9f, 1.0f, -1.1f, 1.2f};
	static const float b1[4] = {0.01f, -0.02f, 0.03f, -0.5f};
	static const float w2[4 * 2] = {1, -1, 0.5f, 0.25f, -2, 1, 0.75f, -0.5f};
	static const float b2[2] = {0.125f, -0.25f};
	for (int r = 0; r < rows; r++) {
		float h[4];
		for (int j = 0; j < 4; j++) {
			float s = b1[j];
			for (int k = 0; k < 3; k++)
				s += x[r * 3 + k] * w1[j * 3 + k];
			h[j] = s > 0 ? s : 0;
		}
		for (int j = 0; j < 2; j++) {
			float s = b2[j];
			for (int k = 0; k < 4; k++)
				s += h[k] * w2[k * 2 + j];
			y[r * 2 + j] = s;
		}
	}
}

Test(engine, mlp_end_to_end_with_symbolic_batch)
{
	for (int fusible = 0; fusible < 2; fusible++) {
		eml_model *m = mlp(fusible, "Relu");
		for (int rows = 1; rows <= 5; rows += 2) {
			float x[15], ref[10];
			for (int i = 0; i < rows * 3; i++)
				x[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
			mlp_ref(x, rows, ref);
			eml_io_tensor in = mb_io(EML_DT_FLOAT, 2, D(rows, 3), x);
			eml_plan *p = NULL;
			int bad = 99;
			eml_engine_opts o = {.threads = 1, .max_memory = 0};
			cr_assert_eq(eml_engine_assemble(m, &in, 1, &o, &p, &bad), EML_OK);
			cr_assert_gt(eml_plan_arena_bytes(p), 0);
			cr_assert_eq(eml_plan_run(p), EML_OK);
			cr_assert_eq(eml_plan_n_outputs(p), fusible ? 1u : 2u);
			eml_io_tensor out;
			cr_assert_eq(eml_plan_output(p, 0, &out), EML_OK);
			cr_assert_eq(out.rank, 2);
			cr_assert_eq(out.dims[0], rows);
			cr_assert_eq(out.dims[1], 2);
			const float *y = out.data;
			for (int i = 0; i < rows * 2; i++)
				cr_assert_float_eq(y[i], ref[i], 1e-5, "i=%d fusible=%d", i,
				                   fusible);
			/* runs again with the same result */
			cr_assert_eq(eml_plan_run(p), EML_OK);
			for (int i = 0; i < rows * 2; i++)
				cr_assert_float_eq(y[i], ref[i], 1e-5);
			eml_plan_free(p);
		}
		eml_model_free(m);
	}
}

Test(engine, model_may_be_freed_after_assembly)
{
	eml_model *m = mlp(1, "Relu");
	float x[3] = {1, 2, 3}, ref[2];
	mlp_ref(x, 1, ref);
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 2, D(1, 3), x);
	eml_plan *p = NULL;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, NULL), EML_OK);
	eml_model_free(m);
	memset(x, 0, sizeof(x));
	cr_assert_eq(eml_plan_run(p), EML_OK);
	eml_io_tensor out;
	eml_plan_output(p, 0, &out);
	cr_assert_float_eq(((const float *)out.data)[0], ref[0], 1e-5);
	cr_assert_float_eq(((const float *)out.data)[1], ref[1], 1e-5);
	eml_plan_free(p);
}

Test(engine, input_errors_set_bad_input)
{
	eml_model *m = mlp(1, "Relu");
	float x[6] = {0};
	eml_plan *p = NULL;
	int bad = 99;
	/* missing */
	cr_assert_eq(eml_engine_assemble(m, NULL, 0, NULL, &p, &bad), EML_E_ENGINE_INPUT_MISSING);
	cr_assert_eq(bad, 0);
	cr_assert_null(p);
	/* wrong dtype */
	eml_io_tensor in = mb_io(EML_DT_INT32, 2, D(2, 3), x);
	bad = 99;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_E_ENGINE_INPUT_DTYPE);
	cr_assert_eq(bad, 0);
	/* wrong rank */
	in = mb_io(EML_DT_FLOAT, 1, D(6), x);
	bad = 99;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_E_ENGINE_INPUT_RANK);
	cr_assert_eq(bad, 0);
	/* wrong fixed dim */
	in = mb_io(EML_DT_FLOAT, 2, D(3, 2), x);
	bad = 99;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_E_ENGINE_INPUT_SHAPE);
	cr_assert_eq(bad, 0);
	/* byte count disagreeing with the shape */
	in = mb_io(EML_DT_FLOAT, 2, D(2, 3), x);
	in.bytes = 4;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_E_ENGINE_INPUT_SHAPE);
	/* absurd dims */
	in = mb_io(EML_DT_FLOAT, 2, D(2, 3), x);
	in.dims[0] = (int64_t)1 << 40;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_E_ENGINE_INPUT_SHAPE);
	in.dims[0] = -5;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_E_ENGINE_INPUT_SHAPE);
	/* unknown name */
	in = mb_io(EML_DT_FLOAT, 2, D(2, 3), x);
	in.name = "nope";
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_E_ENGINE_INPUT_UNKNOWN);
	/* memory limit */
	in = mb_io(EML_DT_FLOAT, 2, D(2, 3), x);
	eml_engine_opts o = {.threads = 1, .max_memory = 64};
	cr_assert_eq(eml_engine_assemble(m, &in, 1, &o, &p, &bad), EML_E_ENGINE_MEMORY_LIMIT);
	cr_assert_null(p);
	eml_model_free(m);
}

Test(engine, shape_that_breaks_the_graph_names_the_input)
{
	/* y = MatMul(a, b): inner dims must agree */
	eml_model *m = mb_new(13);
	int32_t a = mb_value(m, EML_DT_FLOAT, 2, D(-1, -1));
	int32_t b = mb_value(m, EML_DT_FLOAT, 2, D(-1, -1));
	int32_t y = mb_tmp(m);
	mb_input(m, a);
	mb_input(m, b);
	mb_node(m, "MatMul", I(a, b), I(y));
	mb_output(m, y);
	float d[12] = {0};
	eml_io_tensor in[2] = {mb_io(EML_DT_FLOAT, 2, D(2, 3), d),
	                       mb_io(EML_DT_FLOAT, 2, D(4, 2), d)};
	eml_plan *p = NULL;
	int bad = 99;
	cr_assert_eq(eml_engine_assemble(m, in, 2, NULL, &p, &bad), EML_E_ENGINE_INPUT_SHAPE);
	cr_assert(bad == 0 || bad == 1);
	cr_assert_null(p);
	in[1] = mb_io(EML_DT_FLOAT, 2, D(3, 4), d);
	cr_assert_eq(eml_engine_assemble(m, in, 2, NULL, &p, &bad), EML_OK);
	eml_plan_free(p);
	eml_model_free(m);
}

/* Arena wipe: copy the arena range from the unmap hook (after the wipe, before munmap). */
static unsigned char *g_copy;
static size_t g_copy_len;
static void grab(const void *p, size_t len, void *ctx)
{
	(void)ctx;
	free(g_copy);
	g_copy = malloc(len);
	memcpy(g_copy, p, len);
	g_copy_len = len;
}

Test(engine, arena_is_wiped_on_free)
{
	eml_model *m = mlp(1, "Relu");
	float x[6] = {1.5f, 2.5f, 3.5f, -4.5f, 5.5f, 6.5f};
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 2, D(2, 3), x);
	eml_plan *p = NULL;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, NULL), EML_OK);
	cr_assert_eq(eml_plan_run(p), EML_OK);
	eml_secmem_set_unmap_hook(grab, NULL);
	eml_plan_free(p);
	eml_secmem_set_unmap_hook(NULL, NULL);
	cr_assert_not_null(g_copy);
	cr_assert_geq(g_copy_len, 64);
	size_t nz = 0;
	for (size_t i = 0; i < g_copy_len; i++)
		nz += g_copy[i] != 0;
	cr_assert_eq(nz, 0, "arena not wiped: %zu non-zero bytes", nz);
	free(g_copy);
	g_copy = NULL;
	eml_model_free(m);
}

Test(engine, op_table_lists_claimed_ops)
{
	size_t n = 0;
	const eml_engine_op_info *t = eml_engine_op_table(&n);
	cr_assert_gt(n, 40);
	int found_if = 0, found_conv = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert(t[i].since >= 1 && t[i].since <= t[i].until);
		found_if |= strcmp(t[i].op, "If") == 0;
		found_conv |= strcmp(t[i].op, "Gemm") == 0;
	}
	cr_assert(found_if && found_conv);
}

/* If whose condition depends on computed data: both branches planned, one runs. */
Test(engine, if_with_runtime_condition_runs_the_taken_branch)
{
	eml_model *m = mb_new(13);
	int32_t a = mb_value(m, EML_DT_FLOAT, 1, D(1));
	int32_t bb = mb_value(m, EML_DT_FLOAT, 1, D(1));
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(3));
	mb_input(m, a);
	mb_input(m, bb);
	mb_input(m, x);
	float two = 2.0f, ten = 10.0f;
	int32_t c2 = mb_const(m, EML_DT_FLOAT, 0, NULL, &two);
	int32_t c10 = mb_const(m, EML_DT_FLOAT, 0, NULL, &ten);
	int32_t cond = mb_tmp(m), y = mb_tmp(m), z = mb_tmp(m);
	mb_node(m, "Equal", I(a, bb), I(cond));
	int32_t gt = mb_graph(m, 0), ge = mb_graph(m, 0);
	int32_t tv = mb_tmp(m), ev = mb_tmp(m);
	mb_node_g(m, gt, "Add", I(x, c10), I(tv));
	mb_graph_output(m, gt, tv);
	mb_node_g(m, ge, "Mul", I(x, c2), I(ev));
	mb_graph_output(m, ge, ev);
	eml_node *n = mb_node(m, "If", I(cond), I(y));
	mb_attr_g(n, "then_branch", gt);
	mb_attr_g(n, "else_branch", ge);
	mb_node(m, "Neg", I(y), I(z));
	mb_output(m, z);
	float xs[3] = {1, 2, 3};
	for (int eq = 0; eq < 2; eq++) {
		float av = 1.0f, bv = eq ? 1.0f : 5.0f;
		eml_io_tensor in[3] = {mb_io(EML_DT_FLOAT, 1, D(1), &av),
		                       mb_io(EML_DT_FLOAT, 1, D(1), &bv),
		                       mb_io(EML_DT_FLOAT, 1, D(3), xs)};
		eml_plan *p = NULL;
		cr_assert_eq(eml_engine_assemble(m, in, 3, NULL, &p, NULL), EML_OK);
		cr_assert_eq(eml_plan_run(p), EML_OK);
		eml_io_tensor out;
		cr_assert_eq(eml_plan_output(p, 0, &out), EML_OK);
		const float *o = out.data;
		for (int i = 0; i < 3; i++)
			cr_assert_float_eq(o[i], eq ? -(xs[i] + 10) : -(xs[i] * 2), 1e-6, "eq=%d",
			                   eq);
		eml_plan_free(p);
	}
	eml_model_free(m);
}

/* A constant-foldable node with a huge output is not materialized on the heap at assembly: the
 * arena limit refuses it instead (and nothing crashes). */
Test(engine, huge_constant_of_shape_is_refused_by_the_memory_limit)
{
	eml_model *m = mb_new(13);
	int64_t shape[2] = {(int64_t)1 << 20, 1 << 10}; /* 4 GiB of float */
	int32_t s = mb_const(m, EML_DT_INT64, 1, D(2), shape);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(1));
	int32_t c = mb_tmp(m), y = mb_tmp(m);
	mb_input(m, x);
	mb_node(m, "ConstantOfShape", I(s), I(c));
	mb_node(m, "Add", I(c, x), I(y));
	mb_output(m, y);
	float one = 1;
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 1, D(1), &one);
	eml_plan *p = NULL;
	eml_engine_opts o = {.threads = 1, .max_memory = (uint64_t)64 << 20};
	int bad = 99;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, &o, &p, &bad), EML_E_ENGINE_MEMORY_LIMIT);
	cr_assert_null(p);
	eml_model_free(m);
}

/* Symbolic dims bind from the request and must agree between inputs sharing the symbol. */
Test(engine, symbolic_dims_must_agree_across_inputs)
{
	eml_model *m = mb_new(13);
	int32_t a = mb_value(m, EML_DT_FLOAT, 2, D(-1, 2));
	int32_t b = mb_value(m, EML_DT_FLOAT, 2, D(-1, 2));
	m->values[a].dims[0].sym = 7;
	m->values[b].dims[0].sym = 7;
	int32_t y = mb_tmp(m);
	mb_input(m, a);
	mb_input(m, b);
	mb_node(m, "Add", I(a, b), I(y));
	mb_output(m, y);
	float d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	eml_io_tensor in[2] = {mb_io(EML_DT_FLOAT, 2, D(3, 2), d),
	                       mb_io(EML_DT_FLOAT, 2, D(1, 2), d)};
	eml_plan *p = NULL;
	int bad = 99;
	cr_assert_eq(eml_engine_assemble(m, in, 2, NULL, &p, &bad), EML_E_ENGINE_INPUT_SHAPE);
	cr_assert_eq(bad, 1);
	in[1] = mb_io(EML_DT_FLOAT, 2, D(3, 2), d + 2);
	cr_assert_eq(eml_engine_assemble(m, in, 2, NULL, &p, &bad), EML_OK);
	cr_assert_eq(eml_plan_run(p), EML_OK);
	eml_io_tensor o;
	eml_plan_output(p, 0, &o);
	cr_assert_eq(o.dims[0], 3);
	cr_assert_float_eq(((const float *)o.data)[5], 6.0f + 8.0f, 1e-6);
	eml_plan_free(p);
	eml_model_free(m);
}
