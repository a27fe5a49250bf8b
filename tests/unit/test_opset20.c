/*
 * Opsets 19 and 20 (docs/DECISIONS.md, "Opsets 19 and 20"): every operator version newly claimed
 * at 19/20 against ONNX Runtime, and the refusals.
 *
 * Debian's libonnx-testdata node suite is ONNX 1.12 (opsets <= 17): it has no test of a 19/20
 * version. So small models are built here (tests/unit/test_engine_mb.h), written with our ONNX
 * saver, loaded back with our loader (`eml check`'s table must report nothing unsupported), run
 * by the engine (also through decompose -> topology key + blob -> join: the same bytes) and
 * compared with onnxruntime-node (tools/ort_ref.js --batch: one node process
 * for every reference missing from the cache ~/.cache/eml/ref/opset20-<sha256 of model and
 * inputs>): max |a-b| <= 1e-5 + 1e-3 |b| for reals (NaN matches NaN, infinities match exactly),
 * exact for integers and bools. Covered: Gelu (both approximations, large |x|, NaN, +-inf), Pad-19
 * wrap (positive, negative, mixed pads, axes, pads beyond the dimension), AveragePool-19
 * dilations (1-D/2-D/3-D, ceil_mode, count_include_pad, auto_pad), Resize-19
 * half_pixel_symmetric (nearest/linear/cubic) and keep_aspect_ratio_policy with sizes and axes,
 * antialias (linear and cubic, down- and up-scaling), ReduceMax/ReduceMin-20 over bool,
 * GridSample-20 (2-D and 3-D grids, every mode, padding and align_corners; cubic + border against
 * the reference by hand, as ORT differs there) and GridSample-16 at opset 19, AffineGrid-20,
 * DeformConv-19 (groups, offset groups, mask, bias, strides, pads, dilations), and each
 * version that only adds types at least once (Cast/CastLike with saturate, Constant, Equal,
 * Identity, If, Loop, Scan, Reshape, Shape, Size, QuantizeLinear/DequantizeLinear incl. float16
 * scales, ConstantOfShape, IsInf, IsNaN), plus unchanged operators at opsets 19 and 20.
 *
 * Without node or onnxruntime-node the test FAILS ("run scripts/fetch-testdata"): never a skip.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "engine/engine.h"
#include "engine/kernels/gelu.h"
#include "engine/ops/ops.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"
#include "onnx/onnx.pb-c.h"
#include "prop.h"
#include "tensor/tensor_io.h"
#include "topo/topo.h"
/* the engine tests' model builder (after engine.h, which it needs) */
#include "test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})
#define D(...) ((const int64_t[]){__VA_ARGS__})

#define RTOL 1e-3
#define ATOL 1e-5
#define MAX_IN 4
#define MAX_CASES 96

typedef struct tcase {
	char id[64];
	eml_model *m;
	size_t n_in;
	eml_tensor_file in[MAX_IN];
	char dir[PATH_MAX];
} tcase;

static tcase g_cases[MAX_CASES];
static size_t g_n;

/* ---- building cases ---- */

static tcase *tc_new(const char *id, int64_t opset)
{
	cr_assert(g_n < MAX_CASES);
	tcase *c = &g_cases[g_n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->m = mb_new(opset);
	c->m->ir_version = 9; /* ONNX 1.14/1.15 (opsets 19/20) */
	return c;
}

static uint64_t g_seed = 0x0f5e7200u;

/* A graph input of dtype/shape with the given bytes (copied). */
static int32_t tc_input(tcase *c, int32_t dtype, uint32_t rank, const int64_t *dims,
                        const void *bytes)
{
	cr_assert(c->n_in < MAX_IN);
	int32_t v = mb_value(c->m, dtype, (int32_t)rank, dims);
	mb_input(c->m, v);
	eml_tensor_file *t = &c->in[c->n_in++];
	memset(t, 0, sizeof(*t));
	t->dtype = dtype;
	t->rank = rank;
	uint64_t n = 1;
	for (uint32_t i = 0; i < rank; i++) {
		t->dims[i] = dims[i];
		n *= (uint64_t)dims[i];
	}
	t->bytes = n * eml_dtype_size(dtype);
	t->data = eml_calloc(1, t->bytes + 1);
	if (t->bytes)
		memcpy(t->data, bytes, t->bytes);
	return v;
}

/* A float input, uniform in [lo, hi) from the seeded PRNG. */
static int32_t tc_input_f(tcase *c, uint32_t rank, const int64_t *dims, float lo, float hi)
{
	uint64_t n = 1;
	for (uint32_t i = 0; i < rank; i++)
		n *= (uint64_t)dims[i];
	float *x = eml_calloc(n + 1, sizeof(float));
	eml_rng r;
	eml_rng_seed(&r, g_seed++);
	for (uint64_t i = 0; i < n; i++)
		x[i] = eml_rng_float(&r, lo, hi);
	int32_t v = tc_input(c, EML_DT_FLOAT, rank, dims, x);
	eml_free(x);
	return v;
}

/* A node output that is a graph output, with its element type declared. */
static int32_t tc_output(tcase *c, int32_t dtype)
{
	int32_t v = mb_value(c->m, dtype, -1, NULL);
	mb_output(c->m, v);
	return v;
}

static int32_t c_i64(tcase *c, uint32_t n, const int64_t *v)
{
	int64_t d = n;
	return mb_const(c->m, EML_DT_INT64, 1, &d, v);
}

static int32_t c_f32(tcase *c, uint32_t n, const float *v)
{
	int64_t d = n;
	return mb_const(c->m, EML_DT_FLOAT, 1, &d, v);
}

static void graph_input(eml_model *m, int32_t gi, int32_t v)
{
	eml_graph *g = &m->graphs[gi];
	g->inputs = eml_realloc(g->inputs, (g->n_inputs + 1) * 4);
	g->inputs[g->n_inputs++] = v;
}

/* ---- the cases ---- */

static void cases_gelu(void)
{
	enum { N = 1040 };
	static float x[N];
	for (int i = 0; i < 1000; i++)
		x[i] = -12.0f + 24.0f * (float)i / 999.0f;
	const float special[] = {
	    NAN,    INFINITY, -INFINITY, 0.0f,   -0.0f,  1e30f,  -1e30f, 1e-30f, -1e-30f, 20.0f,
	    -20.0f, 100.0f,   -100.0f,   3e19f,  -3e19f, 5e12f,  -5e12f, 0.5f,   -0.5f,   1.0f,
	    -1.0f,  3.0f,     -3.0f,     7.5f,   -7.5f,  2e-3f,  -2e-3f, 40.0f,  -40.0f,  1e6f,
	    -1e6f,  9.0f,     -9.0f,     -5.25f, 5.25f,  -30.0f, 30.0f,  1e-7f,  -1e-7f,  65504.0f};
	for (int i = 0; i < 40; i++)
		x[1000 + i] = special[i];
	for (int form = 0; form < 2; form++) {
		tcase *c = tc_new(form ? "gelu-tanh" : "gelu-none", 20);
		int32_t in = tc_input(c, EML_DT_FLOAT, 1, D(N), x);
		eml_node *n = mb_node(c->m, "Gelu", I(in), I(tc_output(c, EML_DT_FLOAT)));
		if (form)
			mb_attr_s(n, "approximate", "tanh");
	}
	/* explicit approximate="none", rank 3, inside a chain (MatMul -> Gelu -> Add) */
	tcase *c = tc_new("gelu-none-chain", 20);
	int32_t a = tc_input_f(c, 3, D(2, 5, 8), -3, 3);
	float w[8 * 6];
	for (int i = 0; i < 48; i++)
		w[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
	int32_t W = mb_const(c->m, EML_DT_FLOAT, 2, D(8, 6), w);
	int32_t mm = mb_tmp(c->m), g = mb_tmp(c->m);
	mb_node(c->m, "MatMul", I(a, W), I(mm));
	mb_attr_s(mb_node(c->m, "Gelu", I(mm), I(g)), "approximate", "none");
	float b6[6] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f};
	mb_node(c->m, "Add", I(g, c_f32(c, 6, b6)), I(tc_output(c, EML_DT_FLOAT)));
}

static void pad_case(const char *id, uint32_t rank, const int64_t *dims, uint32_t np,
                     const int64_t *pads, uint32_t na, const int64_t *axes, const char *mode)
{
	tcase *c = tc_new(id, 19);
	int32_t x = tc_input_f(c, rank, dims, -5, 5);
	int32_t p = c_i64(c, np, pads);
	int32_t ins[5] = {x, p, MB_END, MB_END, MB_END};
	if (na) {
		float zero = 0;
		ins[2] = mb_const(c->m, EML_DT_FLOAT, 0, NULL, &zero);
		ins[3] = c_i64(c, na, axes);
	}
	mb_attr_s(mb_node(c->m, "Pad", ins, I(tc_output(c, EML_DT_FLOAT))), "mode", mode);
}

static void cases_pad(void)
{
	pad_case("pad-wrap-2d", 2, D(3, 4), 4, D(1, 2, 2, 3), 0, NULL, "wrap");
	pad_case("pad-wrap-neg", 3, D(2, 3, 5), 6, D(0, -1, 2, 1, 2, -1), 0, NULL, "wrap");
	pad_case("pad-wrap-axes", 3, D(2, 5, 3), 2, D(-1, 3), 1, D(1), "wrap");
	pad_case("pad-wrap-axes-neg", 3, D(2, 5, 4), 4, D(2, -2, -1, 3), 2, D(-1, 1), "wrap");
	pad_case("pad-wrap-twice", 2, D(4, 3), 4, D(0, 3, 3, 2), 0, NULL, "wrap");
	pad_case("pad-reflect-19", 2, D(4, 5), 4, D(1, 2, 3, 1), 0, NULL, "reflect");
	pad_case("pad-edge-19", 2, D(4, 5), 4, D(2, 0, 1, 3), 0, NULL, "edge");
	pad_case("pad-constant-19", 2, D(3, 3), 4, D(1, -1, 2, 1), 0, NULL, "constant");
}

static void avgpool_case(const char *id, uint32_t rank, const int64_t *dims, const int64_t *k,
                         const int64_t *dil, const int64_t *st, const int64_t *pads, int ceil,
                         int cip, const char *auto_pad)
{
	tcase *c = tc_new(id, 19);
	int32_t x = tc_input_f(c, rank, dims, -4, 4);
	eml_node *n = mb_node(c->m, "AveragePool", I(x), I(tc_output(c, EML_DT_FLOAT)));
	uint32_t nd = rank - 2;
	mb_attr_ints(n, "kernel_shape", nd, k);
	mb_attr_ints(n, "dilations", nd, dil);
	if (st)
		mb_attr_ints(n, "strides", nd, st);
	if (pads)
		mb_attr_ints(n, "pads", 2 * nd, pads);
	if (auto_pad)
		mb_attr_s(n, "auto_pad", auto_pad);
	mb_attr_i(n, "ceil_mode", ceil);
	mb_attr_i(n, "count_include_pad", cip);
}

static void cases_avgpool(void)
{
	for (int ceil = 0; ceil < 2; ceil++)
		for (int cip = 0; cip < 2; cip++) {
			char id[48];
			snprintf(id, sizeof(id), "avgpool-dil-2d-c%d-p%d", ceil, cip);
			avgpool_case(id, 4, D(1, 2, 9, 10), D(3, 3), D(2, 2), D(1, 2),
			             D(1, 1, 2, 0), ceil, cip, NULL);
		}
	avgpool_case("avgpool-dil-1d", 3, D(2, 3, 13), D(3), D(3), D(2), D(2, 1), 1, 1, NULL);
	avgpool_case("avgpool-dil-1d-nopad", 3, D(1, 2, 11), D(2), D(4), D(3), NULL, 1, 0, NULL);
	avgpool_case("avgpool-dil-3d", 5, D(1, 1, 5, 6, 7), D(2, 2, 2), D(2, 1, 3), D(1, 2, 1),
	             NULL, 0, 0, NULL);
	avgpool_case("avgpool-dil-valid", 4, D(1, 1, 7, 8), D(3, 3), D(2, 2), D(2, 2), NULL, 0, 0,
	             "VALID");
	avgpool_case("avgpool-dil-1", 4, D(1, 3, 6, 6), D(2, 3), D(1, 1), D(2, 1), D(0, 1, 1, 1), 1,
	             1, NULL);
}

/* Resize of a [1, 2, 5, 6] (or given) input; scales or sizes (with axes when na < rank). */
static void resize_case(const char *id, uint32_t rank, const int64_t *dims, const char *mode,
                        const char *ct, const float *scales, const int64_t *sizes, uint32_t na,
                        const int64_t *axes, const char *policy, int antialias, int excl)
{
	tcase *c = tc_new(id, 19);
	int32_t x = tc_input_f(c, rank, dims, -3, 3);
	int32_t sc = scales ? c_f32(c, na, scales) : -1;
	int32_t sz = sizes ? c_i64(c, na, sizes) : -1;
	int32_t ins[5] = {x, -1, sc, sizes ? sz : MB_END, MB_END};
	eml_node *n = mb_node(c->m, "Resize", ins, I(tc_output(c, EML_DT_FLOAT)));
	mb_attr_s(n, "mode", mode);
	if (ct)
		mb_attr_s(n, "coordinate_transformation_mode", ct);
	if (axes)
		mb_attr_ints(n, "axes", na, axes);
	if (policy)
		mb_attr_s(n, "keep_aspect_ratio_policy", policy);
	if (antialias)
		mb_attr_i(n, "antialias", 1);
	if (excl)
		mb_attr_i(n, "exclude_outside", 1);
}

static void cases_resize(void)
{
	const int64_t *d4 = D(1, 2, 5, 6);
	resize_case("resize-hps-linear", 4, d4, "linear", "half_pixel_symmetric",
	            (const float[]){1, 1, 0.7f, 1.3f}, NULL, 4, NULL, NULL, 0, 0);
	resize_case("resize-hps-cubic", 4, d4, "cubic", "half_pixel_symmetric",
	            (const float[]){1, 1, 1.6f, 0.55f}, NULL, 4, NULL, NULL, 0, 0);
	resize_case("resize-hps-nearest", 4, d4, "nearest", "half_pixel_symmetric",
	            (const float[]){1, 1, 2.3f, 0.75f}, NULL, 4, NULL, NULL, 0, 0);
	resize_case("resize-hps-sizes-notlarger", 4, d4, "linear", "half_pixel_symmetric", NULL,
	            (const int64_t[]){1, 2, 7, 11}, 4, NULL, "not_larger", 0, 0);
	resize_case("resize-notlarger-linear", 4, D(1, 2, 4, 5), "linear", NULL, NULL,
	            (const int64_t[]){1, 2, 7, 9}, 4, NULL, "not_larger", 0, 0);
	resize_case("resize-notsmaller-axes", 4, D(1, 1, 6, 5), "cubic", NULL, NULL,
	            (const int64_t[]){3, 8}, 2, D(2, 3), "not_smaller", 0, 0);
	resize_case("resize-notsmaller-nearest", 4, D(1, 1, 6, 5), "nearest", "asymmetric", NULL,
	            (const int64_t[]){9, 4}, 2, D(2, 3), "not_smaller", 0, 0);
	/* align_corners where in * scale is whole: ORT divides by the rounded output length, the
	 * ONNX reference by in * scale (both agree then) */
	resize_case("resize-axes-scales", 3, D(2, 4, 6), "linear", "align_corners",
	            (const float[]){0.5f, 1.5f}, NULL, 2, D(-1, 1), NULL, 0, 0);
}

static void cases_resize_antialias(void)
{
	const int64_t *d4 = D(1, 2, 9, 12);
	resize_case("resize-aa-linear-down", 4, d4, "linear", NULL,
	            (const float[]){1, 1, 0.5f, 0.6f}, NULL, 4, NULL, NULL, 1, 0);
	resize_case("resize-aa-cubic-down", 4, d4, "cubic", NULL,
	            (const float[]){1, 1, 0.45f, 0.7f}, NULL, 4, NULL, NULL, 1, 0);
	resize_case("resize-aa-cubic-down-a05", 4, d4, "cubic", "pytorch_half_pixel",
	            (const float[]){1, 1, 0.34f, 0.5f}, NULL, 4, NULL, NULL, 1, 0);
	resize_case("resize-aa-linear-up", 4, D(1, 1, 4, 5), "linear", NULL,
	            (const float[]){1, 1, 1.5f, 2.0f}, NULL, 4, NULL, NULL, 1, 0);
	resize_case("resize-aa-cubic-up", 4, D(1, 1, 4, 5), "cubic", NULL,
	            (const float[]){1, 1, 1.75f, 2.5f}, NULL, 4, NULL, NULL, 1, 0);
	resize_case("resize-aa-linear-sizes", 4, d4, "linear", "align_corners", NULL,
	            (const int64_t[]){1, 2, 4, 5}, 4, NULL, NULL, 1, 0);
	resize_case("resize-aa-cubic-mixed", 4, d4, "cubic", "asymmetric",
	            (const float[]){1, 1, 0.4f, 1.5f}, NULL, 4, NULL, NULL, 1, 0);
	resize_case("resize-aa-cubic-excl", 4, d4, "cubic", NULL,
	            (const float[]){1, 1, 0.5f, 0.75f}, NULL, 4, NULL, NULL, 1, 1);
}

static void reduce_bool_case(const char *id, const char *op, uint32_t na, const int64_t *axes,
                             int keep, int noop)
{
	tcase *c = tc_new(id, 20);
	uint8_t b[3 * 4 * 5];
	eml_rng r;
	eml_rng_seed(&r, g_seed++);
	for (int i = 0; i < 60; i++)
		b[i] = eml_rng_chance(&r, strcmp(op, "ReduceMax") == 0 ? 0.15 : 0.85);
	int32_t x = tc_input(c, EML_DT_BOOL, 3, D(3, 4, 5), b);
	int32_t ins[3] = {x, na ? c_i64(c, na, axes) : MB_END, MB_END};
	eml_node *n = mb_node(c->m, op, ins, I(tc_output(c, EML_DT_BOOL)));
	mb_attr_i(n, "keepdims", keep);
	if (noop)
		mb_attr_i(n, "noop_with_empty_axes", 1);
}

static void cases_reduce_bool(void)
{
	reduce_bool_case("reducemax-bool-ax1", "ReduceMax", 1, D(1), 1, 0);
	reduce_bool_case("reducemin-bool-ax02", "ReduceMin", 2, D(0, -1), 0, 0);
	reduce_bool_case("reducemax-bool-all", "ReduceMax", 0, NULL, 0, 0);
	reduce_bool_case("reducemin-bool-all", "ReduceMin", 0, NULL, 1, 0);
	reduce_bool_case("reducemin-bool-noop", "ReduceMin", 0, NULL, 1, 1);
	reduce_bool_case("reducemax-bool-ax2", "ReduceMax", 1, D(2), 0, 0);
	/* float ReduceMax at 20 (unchanged semantics) */
	tcase *c = tc_new("reducemax-float-20", 20);
	int32_t x = tc_input_f(c, 3, D(3, 4, 5), -2, 2);
	mb_attr_i(
	    mb_node(c->m, "ReduceMax", I(x, c_i64(c, 1, D(1))), I(tc_output(c, EML_DT_FLOAT))),
	    "keepdims", 0);
}

/* Versions that only add types we do not load (float8, bfloat16, string), once each. */
static void cases_dtype_only(void)
{
	tcase *c = tc_new("cast-19-saturate", 19);
	int32_t x = tc_input_f(c, 2, D(4, 6), -300, 300);
	eml_node *n = mb_node(c->m, "Cast", I(x), I(tc_output(c, EML_DT_INT32)));
	mb_attr_i(n, "to", EML_DT_INT32);
	n = mb_node(c->m, "Cast", I(x), I(tc_output(c, EML_DT_FLOAT16)));
	mb_attr_i(n, "to", EML_DT_FLOAT16);
	/* saturate (float8 only) is ignored by us; ORT refuses it on a float16 Cast, so it is set
	 * on CastLike and QuantizeLinear below only */
	float big[3] = {1e5f, -1e6f, 70000.0f};
	n = mb_node(c->m, "Cast", I(c_f32(c, 3, big)), I(tc_output(c, EML_DT_FLOAT16)));
	mb_attr_i(n, "to", EML_DT_FLOAT16);

	c = tc_new("castlike-19", 19);
	x = tc_input_f(c, 1, D(7), -50, 50);
	int64_t like = 0;
	int32_t lk = mb_const(c->m, EML_DT_INT64, 1, D(1), &like);
	mb_attr_i(mb_node(c->m, "CastLike", I(x, lk), I(tc_output(c, EML_DT_INT64))), "saturate",
	          1);

	c = tc_new("constant-equal-identity-19", 19);
	x = tc_input_f(c, 2, D(2, 3), -1, 1);
	float cv[6] = {1, 2, 3, 4, 5, 6};
	int32_t t = mb_tensor(c->m, EML_DT_FLOAT, 2, D(2, 3), cv);
	int32_t k = mb_tmp(c->m), s = mb_tmp(c->m), id = mb_tmp(c->m), rd = mb_tmp(c->m);
	eml_node *cn = mb_node(c->m, "Constant", I(MB_END), I(k)); /* no inputs */
	eml_attr *ta = mb_attr(cn, "value", EML_ATTR_TENSOR);
	ta->tensor = t;
	mb_node(c->m, "Add", I(x, k), I(s));
	mb_node(c->m, "Identity", I(s), I(id));
	mb_node(c->m, "Round", I(id), I(rd));
	mb_node(c->m, "Equal", I(rd, k), I(tc_output(c, EML_DT_BOOL)));
	mb_node(c->m, "Identity", I(id), I(tc_output(c, EML_DT_FLOAT)));

	c = tc_new("reshape-shape-size-19", 19);
	x = tc_input_f(c, 3, D(2, 3, 4), -1, 1);
	int32_t rs = mb_tmp(c->m);
	mb_node(c->m, "Reshape", I(x, c_i64(c, 2, D(4, -1))), I(rs));
	mb_node(c->m, "Identity", I(rs), I(tc_output(c, EML_DT_FLOAT)));
	n = mb_node(c->m, "Shape", I(x), I(tc_output(c, EML_DT_INT64)));
	mb_attr_i(n, "start", 1);
	mb_attr_i(n, "end", -1);
	mb_node(c->m, "Size", I(rs), I(tc_output(c, EML_DT_INT64)));
	n = mb_node(c->m, "Reshape", I(x, c_i64(c, 3, D(0, 0, 4))), I(tc_output(c, EML_DT_FLOAT)));
	mb_attr_i(n, "allowzero", 0);

	c = tc_new("quant-19", 19);
	x = tc_input_f(c, 2, D(3, 8), -6, 6);
	float sc = 0.05f;
	uint8_t zp = 117;
	int8_t zpi = -3;
	int32_t S = mb_const(c->m, EML_DT_FLOAT, 0, NULL, &sc);
	int32_t Z = mb_const(c->m, EML_DT_UINT8, 0, NULL, &zp);
	int32_t Zi = mb_const(c->m, EML_DT_INT8, 0, NULL, &zpi);
	int32_t q = mb_tmp(c->m), qi = mb_tmp(c->m);
	mb_node(c->m, "QuantizeLinear", I(x, S, Z), I(q));
	mb_node(c->m, "QuantizeLinear", I(x, S, Zi), I(qi));
	mb_node(c->m, "Identity", I(q), I(tc_output(c, EML_DT_UINT8)));
	mb_node(c->m, "DequantizeLinear", I(q, S, Z), I(tc_output(c, EML_DT_FLOAT)));
	mb_node(c->m, "DequantizeLinear", I(qi, S, Zi), I(tc_output(c, EML_DT_FLOAT)));
	float pa[3] = {0.1f, 0.02f, 0.5f};
	uint8_t pz[3] = {128, 10, 0};
	int32_t q2 = mb_tmp(c->m);
	n = mb_node(c->m, "QuantizeLinear",
	            I(x, c_f32(c, 3, pa), mb_const(c->m, EML_DT_UINT8, 1, D(3), pz)), I(q2));
	mb_attr_i(n, "axis", 0);
	mb_attr_i(n, "saturate", 1);
	mb_node(c->m, "Identity", I(q2), I(tc_output(c, EML_DT_UINT8)));

	/* float16 scale (Q/DQ-19): DequantizeLinear outputs float16; QuantizeLinear takes float16 */
	c = tc_new("quant-19-float16", 19);
	uint8_t qv[12];
	for (int i = 0; i < 12; i++)
		qv[i] = (uint8_t)(i * 21 + 3);
	x = tc_input(c, EML_DT_UINT8, 2, D(3, 4), qv);
	/* float16 scales as graph inputs */
	uint16_t hs = eml_f32_to_f16(0.125f), hs2 = eml_f32_to_f16(0.0625f);
	uint8_t hz = 100;
	int32_t HS = tc_input(c, EML_DT_FLOAT16, 0, NULL, &hs);
	int32_t HS2 = tc_input(c, EML_DT_FLOAT16, 0, NULL, &hs2);
	int32_t HZ = mb_const(c->m, EML_DT_UINT8, 0, NULL, &hz);
	int32_t dq = mb_tmp(c->m);
	mb_node(c->m, "DequantizeLinear", I(x, HS, HZ), I(dq));
	mb_node(c->m, "Identity", I(dq), I(tc_output(c, EML_DT_FLOAT16)));
	mb_node(c->m, "QuantizeLinear", I(dq, HS2, HZ), I(tc_output(c, EML_DT_UINT8)));
	/* and with a float16 initializer scale (widened at assembly; the output stays float16) */
	uint16_t hs3 = eml_f32_to_f16(0.375f);
	int32_t HS3 = mb_const(c->m, EML_DT_FLOAT16, 0, NULL, &hs3);
	mb_node(c->m, "DequantizeLinear", I(x, HS3, HZ), I(tc_output(c, EML_DT_FLOAT16)));
	/* and with the float16 scale from a Constant node (an undeclared value: its type is the
	 * Constant's tensor's) */
	uint16_t hs4 = eml_f32_to_f16(0.25f);
	int32_t HS4 = mb_tmp(c->m);
	mb_attr(mb_node(c->m, "Constant", I(MB_END), I(HS4)), "value", EML_ATTR_TENSOR)->tensor =
	    mb_tensor(c->m, EML_DT_FLOAT16, 0, NULL, &hs4);
	mb_node(c->m, "DequantizeLinear", I(x, HS4, HZ), I(tc_output(c, EML_DT_FLOAT16)));

	c = tc_new("constantofshape-isinf-isnan-20", 20);
	float sp[8] = {1, INFINITY, -INFINITY, NAN, 0, -2, 3e38f, -0.0f};
	x = tc_input(c, EML_DT_FLOAT, 1, D(8), sp);
	mb_node(c->m, "IsInf", I(x), I(tc_output(c, EML_DT_BOOL)));
	mb_attr_i(mb_node(c->m, "IsInf", I(x), I(tc_output(c, EML_DT_BOOL))), "detect_negative", 0);
	mb_attr_i(mb_node(c->m, "IsInf", I(x), I(tc_output(c, EML_DT_BOOL))), "detect_positive", 0);
	mb_node(c->m, "IsNaN", I(x), I(tc_output(c, EML_DT_BOOL)));
	float fill = 2.5f;
	int32_t ft = mb_tensor(c->m, EML_DT_FLOAT, 1, D(1), &fill);
	n = mb_node(c->m, "ConstantOfShape", I(c_i64(c, 2, D(2, 3))),
	            I(tc_output(c, EML_DT_FLOAT)));
	mb_attr(n, "value", EML_ATTR_TENSOR)->tensor = ft;
	mb_node(c->m, "ConstantOfShape", I(c_i64(c, 1, D(4))), I(tc_output(c, EML_DT_FLOAT)));
}

/* If-19, Loop-19, Scan-19 (subgraphs). */
static void cases_control(void)
{
	/* If: cond from the data (ReduceSum > 0) picks x + 10 or x * 2 */
	tcase *c = tc_new("if-19", 19);
	eml_model *m = c->m;
	int32_t x = tc_input_f(c, 1, D(5), -1, 1.5f);
	float ten = 10, two = 2, zero = 0;
	int32_t c10 = mb_const(m, EML_DT_FLOAT, 0, NULL, &ten);
	int32_t c2 = mb_const(m, EML_DT_FLOAT, 0, NULL, &two);
	int32_t c0 = mb_const(m, EML_DT_FLOAT, 0, NULL, &zero);
	int32_t sum = mb_tmp(m), cond = mb_tmp(m);
	mb_attr_i(mb_node(m, "ReduceSum", I(x), I(sum)), "keepdims", 0);
	mb_node(m, "Greater", I(sum, c0), I(cond));
	int32_t gt = mb_graph(m, 0), ge = mb_graph(m, 0);
	int32_t tv = mb_value(m, EML_DT_FLOAT, -1, NULL), ev = mb_value(m, EML_DT_FLOAT, -1, NULL);
	mb_node_g(m, gt, "Add", I(x, c10), I(tv));
	mb_graph_output(m, gt, tv);
	mb_node_g(m, ge, "Mul", I(x, c2), I(ev));
	mb_graph_output(m, ge, ev);
	eml_node *n = mb_node(m, "If", I(cond), I(tc_output(c, EML_DT_FLOAT)));
	mb_attr_g(n, "then_branch", gt);
	mb_attr_g(n, "else_branch", ge);

	/* Loop: 4 iterations of acc = acc * 0.5 + x, scan output of each acc */
	c = tc_new("loop-19", 19);
	m = c->m;
	x = tc_input_f(c, 1, D(3), -2, 2);
	int64_t M = 4;
	uint8_t tr = 1;
	float half = 0.5f;
	int32_t mv = mb_const(m, EML_DT_INT64, 0, NULL, &M);
	int32_t cv = mb_const(m, EML_DT_BOOL, 0, NULL, &tr);
	int32_t ch = mb_const(m, EML_DT_FLOAT, 0, NULL, &half);
	float z3[3] = {0, 0, 0};
	int32_t a0 = mb_const(m, EML_DT_FLOAT, 1, D(3), z3);
	int32_t body = mb_graph(m, 0);
	int32_t it = mb_value(m, EML_DT_INT64, 0, NULL);
	int32_t cin = mb_value(m, EML_DT_BOOL, 0, NULL);
	int32_t acc = mb_value(m, EML_DT_FLOAT, 1, D(3));
	graph_input(m, body, it);
	graph_input(m, body, cin);
	graph_input(m, body, acc);
	int32_t h = mb_tmp(m);
	int32_t acc2 = mb_value(m, EML_DT_FLOAT, 1, D(3));
	int32_t cout = mb_value(m, EML_DT_BOOL, 0, NULL);
	int32_t sout = mb_value(m, EML_DT_FLOAT, 1, D(3));
	mb_node_g(m, body, "Mul", I(acc, ch), I(h));
	mb_node_g(m, body, "Add", I(h, x), I(acc2));
	mb_node_g(m, body, "Identity", I(cin), I(cout));
	mb_node_g(m, body, "Identity", I(acc2), I(sout));
	mb_graph_output(m, body, cout);
	mb_graph_output(m, body, acc2);
	mb_graph_output(m, body, sout);
	n = mb_node(m, "Loop", I(mv, cv, a0),
	            I(tc_output(c, EML_DT_FLOAT), tc_output(c, EML_DT_FLOAT)));
	mb_attr_g(n, "body", body);

	/* Scan: running sum over the rows of a [4, 3] input */
	c = tc_new("scan-19", 19);
	m = c->m;
	x = tc_input_f(c, 2, D(4, 3), -1, 1);
	int32_t s0 = mb_const(m, EML_DT_FLOAT, 1, D(3), z3);
	body = mb_graph(m, 0);
	int32_t st = mb_value(m, EML_DT_FLOAT, 1, D(3));
	int32_t row = mb_value(m, EML_DT_FLOAT, 1, D(3));
	graph_input(m, body, st);
	graph_input(m, body, row);
	int32_t st2 = mb_value(m, EML_DT_FLOAT, 1, D(3));
	int32_t so = mb_value(m, EML_DT_FLOAT, 1, D(3));
	mb_node_g(m, body, "Add", I(st, row), I(st2));
	mb_node_g(m, body, "Identity", I(st2), I(so));
	mb_graph_output(m, body, st2);
	mb_graph_output(m, body, so);
	n = mb_node(m, "Scan", I(s0, x), I(tc_output(c, EML_DT_FLOAT), tc_output(c, EML_DT_FLOAT)));
	mb_attr_g(n, "body", body);
	mb_attr_i(n, "num_scan_inputs", 1);
}

/* Operators whose 19/20 versions did not change, at opsets 19 and 20: a small CNN + MLP. */
static void cases_unchanged(void)
{
	for (int opset = 19; opset <= 20; opset++) {
		tcase *c = tc_new(opset == 19 ? "cnn-19" : "cnn-20", opset);
		eml_model *m = c->m;
		int32_t x = tc_input_f(c, 4, D(1, 2, 8, 8), -1, 1);
		float w[3 * 2 * 3 * 3], b[3], fw[48 * 5];
		for (int i = 0; i < 54; i++)
			w[i] = (float)((i * 29) % 13) / 6.0f - 1.0f;
		for (int i = 0; i < 3; i++)
			b[i] = 0.1f * (float)i - 0.1f;
		for (int i = 0; i < 240; i++)
			fw[i] = (float)((i * 17) % 19) / 9.0f - 1.0f;
		int32_t W = mb_const(m, EML_DT_FLOAT, 4, D(3, 2, 3, 3), w);
		int32_t B = mb_const(m, EML_DT_FLOAT, 1, D(3), b);
		int32_t FW = mb_const(m, EML_DT_FLOAT, 2, D(48, 5), fw);
		int32_t cv = mb_tmp(m), r = mb_tmp(m), p = mb_tmp(m), f = mb_tmp(m), mm = mb_tmp(m),
		        sg = mb_tmp(m), ln = mb_tmp(m);
		eml_node *n = mb_node(m, "Conv", I(x, W, B), I(cv));
		mb_attr_ints(n, "pads", 4, D(1, 1, 1, 1));
		mb_node(m, "Relu", I(cv), I(r));
		n = mb_node(m, "MaxPool", I(r), I(p));
		mb_attr_ints(n, "kernel_shape", 2, D(2, 2));
		mb_attr_ints(n, "strides", 2, D(2, 2));
		mb_node(m, "Flatten", I(p), I(f));
		mb_node(m, "MatMul", I(f, FW), I(mm));
		mb_node(m, "Sigmoid", I(mm), I(sg));
		float g[5] = {1, 1.5f, 0.5f, 2, 1}, be[5] = {0, 0.1f, -0.1f, 0, 0.2f};
		n = mb_node(m, "LayerNormalization", I(sg, c_f32(c, 5, g), c_f32(c, 5, be)), I(ln));
		mb_attr_i(n, "axis", -1);
		mb_node(m, "Softmax", I(ln), I(tc_output(c, EML_DT_FLOAT)));
	}
}

/* GridSample-20: N-D grids (2-D and 3-D spatial here), modes linear/nearest/cubic, paddings,
 * align_corners; grid values reach past [-1, 1] so every padding rule is exercised. */
static void gridsample_case(const char *id, uint32_t rank, const int64_t *xd, const int64_t *gd,
                            const char *mode, const char *pad, int align)
{
	tcase *c = tc_new(id, 20);
	int32_t x = tc_input_f(c, rank, xd, -2, 2);
	int32_t g = tc_input_f(c, rank, gd, -1.3f, 1.3f);
	eml_node *n = mb_node(c->m, "GridSample", I(x, g), I(tc_output(c, EML_DT_FLOAT)));
	mb_attr_s(n, "mode", mode);
	mb_attr_s(n, "padding_mode", pad);
	mb_attr_i(n, "align_corners", align);
}

static void cases_gridsample(void)
{
	static const char *modes[] = {"linear", "nearest", "cubic"};
	static const char *pads[] = {"zeros", "border", "reflection"};
	char id[64];
	/* cubic + border is checked against the ONNX reference instead (ORT does not fold the
	 * coordinates there; test gridsample_cubic_border_folds_per_axis) */
	for (int m = 0; m < 3; m++)
		for (int p = 0; p < 3; p++)
			for (int al = 0; al < 2; al++) {
				if (m == 2 && p == 1)
					continue;
				snprintf(id, sizeof(id), "gridsample20-2d-%s-%s-a%d", modes[m],
				         pads[p], al);
				gridsample_case(id, 4, D(2, 3, 5, 6), D(2, 4, 3, 2), modes[m],
				                pads[p], al);
			}
	/* GridSample-16 (2-D, modes bilinear / bicubic) at opset 19 */
	gridsample_case("gridsample16-at-19", 4, D(1, 2, 4, 5), D(1, 3, 3, 2), "bicubic", "zeros",
	                0);
	g_cases[g_n - 1].m->opsets[0].version = 19;
	gridsample_case("gridsample16-at-19-lin", 4, D(1, 2, 4, 5), D(1, 3, 3, 2), "bilinear",
	                "reflection", 1);
	g_cases[g_n - 1].m->opsets[0].version = 19;
	for (int m = 0; m < 2; m++)
		for (int p = 0; p < 3; p++)
			for (int al = 0; al < 2; al++) {
				snprintf(id, sizeof(id), "gridsample20-3d-%s-%s-a%d", modes[m],
				         pads[p], al);
				gridsample_case(id, 5, D(1, 2, 4, 5, 6), D(1, 3, 2, 4, 3), modes[m],
				                pads[p], al);
			}
}

/* AffineGrid-20: 2-D and 3-D, align_corners 0/1, a dimension of 1; its grid fed to GridSample. */
static void cases_affinegrid(void)
{
	for (int al = 0; al < 2; al++) {
		char id[48];
		snprintf(id, sizeof(id), "affinegrid-2d-a%d", al);
		tcase *c = tc_new(id, 20);
		int32_t th = tc_input_f(c, 3, D(2, 2, 3), -1.5f, 1.5f);
		mb_attr_i(mb_node(c->m, "AffineGrid", I(th, c_i64(c, 4, D(2, 3, 4, 5))),
		                  I(tc_output(c, EML_DT_FLOAT))),
		          "align_corners", al);
		snprintf(id, sizeof(id), "affinegrid-3d-a%d", al);
		c = tc_new(id, 20);
		th = tc_input_f(c, 3, D(1, 3, 4), -1.5f, 1.5f);
		mb_attr_i(mb_node(c->m, "AffineGrid", I(th, c_i64(c, 5, D(1, 2, 3, al ? 4 : 1, 5))),
		                  I(tc_output(c, EML_DT_FLOAT))),
		          "align_corners", al);
	}
	/* the spatial-transformer pattern: AffineGrid -> GridSample */
	tcase *c = tc_new("affinegrid-gridsample", 20);
	int32_t x = tc_input_f(c, 4, D(1, 2, 6, 7), -1, 1);
	float tv[6] = {0.9f, -0.2f, 0.1f, 0.25f, 1.1f, -0.05f};
	int32_t th = mb_const(c->m, EML_DT_FLOAT, 3, D(1, 2, 3), tv);
	int32_t g = mb_tmp(c->m);
	mb_node(c->m, "AffineGrid", I(th, c_i64(c, 4, D(1, 2, 5, 4))), I(g));
	mb_attr_s(mb_node(c->m, "GridSample", I(x, g), I(tc_output(c, EML_DT_FLOAT))), "mode",
	          "linear");
}

/* DeformConv-19: 2-D with groups, offset groups, mask, bias, strides, pads, dilations; 1-D. */
static void deform_case(const char *id, int64_t opset, uint32_t r, const int64_t *xd,
                        const int64_t *wd, int64_t og, int group, int mask, int bias,
                        const int64_t *st, const int64_t *pd, const int64_t *dl)
{
	tcase *c = tc_new(id, opset);
	int32_t x = tc_input_f(c, r + 2, xd, -1, 1);
	/* output size */
	int64_t od[EML_MAX_RANK], K = 1;
	od[0] = xd[0];
	od[1] = wd[0];
	for (uint32_t a = 0; a < r; a++) {
		int64_t span = (wd[2 + a] - 1) * (dl ? dl[a] : 1) + 1;
		od[2 + a] =
		    (xd[2 + a] + (pd ? pd[a] + pd[a + r] : 0) - span) / (st ? st[a] : 1) + 1;
		K *= wd[2 + a];
	}
	float w[512];
	uint64_t nw = 1;
	for (uint32_t a = 0; a < r + 2; a++)
		nw *= (uint64_t)wd[a];
	cr_assert(nw <= 512);
	for (uint64_t i = 0; i < nw; i++)
		w[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
	int32_t W = mb_const(c->m, EML_DT_FLOAT, r + 2, wd, w);
	int64_t ofd[EML_MAX_RANK];
	memcpy(ofd, od, sizeof(od));
	ofd[1] = og * K * (int64_t)r;
	int32_t off = tc_input_f(c, r + 2, ofd, -1.8f, 1.8f);
	int32_t ins[6] = {x, W, off, MB_END, MB_END, MB_END};
	int k = 3;
	if (bias || mask) {
		float bv[16];
		for (int i = 0; i < 16; i++)
			bv[i] = 0.1f * (float)i - 0.5f;
		ins[k++] = bias ? mb_const(c->m, EML_DT_FLOAT, 1, &wd[0], bv) : -1;
	}
	if (mask) {
		int64_t md[EML_MAX_RANK];
		memcpy(md, od, sizeof(od));
		md[1] = og * K;
		ins[k++] = tc_input_f(c, r + 2, md, 0, 1);
	}
	eml_node *n = mb_node(c->m, "DeformConv", ins, I(tc_output(c, EML_DT_FLOAT)));
	if (group > 1)
		mb_attr_i(n, "group", group);
	if (og > 1)
		mb_attr_i(n, "offset_group", og);
	if (st)
		mb_attr_ints(n, "strides", r, st);
	if (pd)
		mb_attr_ints(n, "pads", 2 * r, pd);
	if (dl)
		mb_attr_ints(n, "dilations", r, dl);
	mb_attr_ints(n, "kernel_shape", r, wd + 2);
}

static void cases_deformconv(void)
{
	deform_case("deformconv-2d-plain", 19, 2, D(1, 2, 5, 6), D(3, 2, 3, 3), 1, 1, 0, 0, NULL,
	            NULL, NULL);
	deform_case("deformconv-2d-mask-bias", 19, 2, D(2, 4, 6, 5), D(4, 2, 2, 3), 2, 2, 1, 1,
	            D(2, 1), D(1, 0, 1, 2), D(1, 2));
	deform_case("deformconv-2d-og4-20", 20, 2, D(1, 4, 5, 5), D(2, 4, 3, 3), 4, 1, 1, 0,
	            D(1, 2), D(1, 1, 1, 1), NULL);
	deform_case("deformconv-2d-bias-only", 19, 2, D(1, 3, 4, 4), D(3, 1, 2, 2), 1, 3, 0, 1,
	            NULL, D(0, 1, 1, 0), D(2, 1));
}

/* ---- running ---- */

static void hash_case(const tcase *c, const uint8_t *model, size_t mlen, char hex[33])
{
	size_t total = mlen;
	for (size_t i = 0; i < c->n_in; i++)
		total += c->in[i].bytes + 64;
	uint8_t *buf = eml_calloc(1, total + 1);
	size_t off = 0;
	memcpy(buf, model, mlen);
	off += mlen;
	for (size_t i = 0; i < c->n_in; i++) {
		const eml_tensor_file *t = &c->in[i];
		memcpy(buf + off, &t->dtype, 4);
		memcpy(buf + off + 4, &t->rank, 4);
		memcpy(buf + off + 8, t->dims, 8 * t->rank);
		off += 64;
		memcpy(buf + off, t->data, t->bytes);
		off += t->bytes;
	}
	uint8_t h[32];
	cr_assert_eq(eml_sha256(buf, off, h), EML_OK);
	eml_free(buf);
	eml_hex(h, 16, hex);
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* Save every case (model + inputs) under its cache directory; run ORT once for all that have
 * no reference yet. */
static void references(void)
{
	char node_path[PATH_MAX], probe[PATH_MAX + 32];
	eml_test_pathf(node_path, sizeof(node_path), "%s/ort/node_modules", eml_test_cache_dir());
	eml_test_pathf(probe, sizeof(probe), "%s/onnxruntime-node/package.json", node_path);
	cr_assert(exists(probe),
	          "ONNX Runtime (onnxruntime-node) is missing in %s: run scripts/fetch-testdata",
	          node_path);
	char manifest[PATH_MAX];
	char *tmp = eml_test_tmpdir();
	eml_test_pathf(manifest, sizeof(manifest), "%s/manifest.json", tmp);
	FILE *mf = fopen(manifest, "w");
	cr_assert(mf != NULL);
	fprintf(mf, "[");
	size_t pending = 0;
	for (size_t k = 0; k < g_n; k++) {
		tcase *c = &g_cases[k];
		uint8_t *mb = NULL;
		size_t ml = 0;
		cr_assert_eq(eml_onnx_save(c->m, &mb, &ml), EML_OK, "%s: save", c->id);
		char hex[33];
		hash_case(c, mb, ml, hex);
		eml_test_pathf(c->dir, sizeof(c->dir), "%s/ref/opset20-%s-%s", eml_test_cache_dir(),
		               c->id, hex);
		char done[PATH_MAX + 16], mpath[PATH_MAX + 16], ipath[PATH_MAX + 32];
		eml_test_pathf(done, sizeof(done), "%s/.done", c->dir);
		if (exists(done)) {
			eml_free(mb);
			continue;
		}
		cr_assert_eq(mkdir_p(c->dir), 0, "cannot create %s", c->dir);
		eml_test_pathf(mpath, sizeof(mpath), "%s/model.onnx", c->dir);
		cr_assert_eq(eml_file_write_atomic(mpath, mb, ml, 0600), EML_OK);
		eml_free(mb);
		fprintf(mf, "%s{\"model\": \"%s\", \"out\": \"%s\", \"inputs\": [",
		        pending ? ", " : "", mpath, c->dir);
		for (size_t i = 0; i < c->n_in; i++) {
			eml_test_pathf(ipath, sizeof(ipath), "%s/input_%zu.npy", c->dir, i);
			cr_assert_eq(eml_tensor_write_file(ipath, &c->in[i]), EML_OK);
			fprintf(mf, "%s\"%s\"", i ? ", " : "", ipath);
		}
		fprintf(mf, "]}");
		pending++;
	}
	fprintf(mf, "]\n");
	fclose(mf);
	if (pending > 0) {
		char script[PATH_MAX], err[PATH_MAX + 16];
		eml_test_pathf(script, sizeof(script), "%s/tools/ort_ref.js",
		               eml_test_source_dir());
		eml_test_pathf(err, sizeof(err), "%s/ort.err", tmp);
		char *argv[] = {"node", script, "--batch", manifest, NULL};
		int rc = eml_test_run_proc(argv, node_path, NULL, err);
		char *msg = eml_test_slurp_text(err);
		cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
		          "tools/ort_ref.js --batch failed (%s): run scripts/install-deps and "
		          "scripts/fetch-testdata",
		          msg);
		free(msg);
	}
	eml_test_rmtree(tmp);
	free(tmp);
}

static int real_close(double a, double b)
{
	if (isnan(b))
		return isnan(a);
	if (isinf(b))
		return a == b;
	return fabs(a - b) <= ATOL + RTOL * fabs(b);
}

/* Run one case through load -> check -> engine and compare with ORT; returns 1 when it agrees,
 * else 0 with the reason in why. */
static int run_case(const tcase *c, char *why, size_t cap)
{
	char p[PATH_MAX + 32];
	eml_test_pathf(p, sizeof(p), "%s/ort_error.txt", c->dir);
	if (exists(p)) {
		char *msg = eml_test_slurp_text(p);
		snprintf(why, cap, "ONNX Runtime refused the model: %.300s", msg);
		free(msg);
		return 0;
	}
	uint8_t *mb = NULL;
	size_t ml = 0;
	cr_assert_eq(eml_onnx_save(c->m, &mb, &ml), EML_OK);
	eml_model *m = NULL;
	int rc = eml_onnx_load_bytes(mb, ml, NULL, &m);
	eml_free(mb);
	if (rc != EML_OK) {
		snprintf(why, cap, "load: %s", eml_err_name(rc));
		return 0;
	}
	eml_unsupported_op *list = NULL;
	size_t nu = 0;
	cr_assert_eq(eml_onnx_check(m, &list, &nu), EML_OK);
	if (nu != 0) {
		snprintf(why, cap, "eml check: %s %lld unsupported", list[0].op_type,
		         (long long)list[0].opset);
		eml_onnx_unsupported_free(list, nu);
		eml_model_free(m);
		return 0;
	}
	eml_io_tensor io[MAX_IN];
	for (size_t i = 0; i < c->n_in; i++)
		io[i] = mb_io(c->in[i].dtype, c->in[i].rank, c->in[i].dims, c->in[i].data);
	eml_engine_opts opts = {.threads = 2};
	eml_plan *plan = NULL;
	int bad = -1;
	rc = eml_engine_assemble(m, io, c->n_in, &opts, &plan, &bad);
	if (rc == EML_OK)
		rc = eml_plan_run(plan);
	int ok = rc == EML_OK;
	if (!ok)
		snprintf(why, cap, "engine: %s", eml_err_name(rc));
	size_t no = ok ? eml_plan_n_outputs(plan) : 0;
	for (size_t k = 0; ok && k < no; k++) {
		eml_test_pathf(p, sizeof(p), "%s/output_%zu.npy", c->dir, k);
		eml_tensor_file ref;
		if (eml_tensor_read_file(p, &ref) != EML_OK) {
			snprintf(why, cap, "no reference output %zu", k);
			ok = 0;
			break;
		}
		eml_io_tensor o;
		cr_assert_eq(eml_plan_output(plan, k, &o), EML_OK);
		if (o.dtype != ref.dtype || o.rank != ref.rank ||
		    memcmp(o.dims, ref.dims, 8 * o.rank) != 0 || o.bytes != ref.bytes) {
			snprintf(why, cap, "output %zu: dtype %d/%d rank %u/%u bytes %llu/%llu", k,
			         o.dtype, ref.dtype, o.rank, ref.rank, (unsigned long long)o.bytes,
			         (unsigned long long)ref.bytes);
			ok = 0;
		} else if (eml_dt_is_real(o.dtype)) {
			size_t es = eml_dtype_size(o.dtype);
			for (uint64_t i = 0; ok && i < o.bytes / es; i++) {
				double a = eml_ld_f(o.data, o.dtype, i),
				       b = eml_ld_f(ref.data, ref.dtype, i);
				/* float16 results also carry one float16 rounding */
				int close =
				    real_close(a, b) || (o.dtype == EML_DT_FLOAT16 &&
				                         fabs(a - b) <= 1e-3 * fabs(b) + 1e-3);
				if (!close) {
					snprintf(why, cap, "output %zu [%llu]: %.9g vs ORT %.9g", k,
					         (unsigned long long)i, a, b);
					ok = 0;
				}
			}
		} else if (memcmp(o.data, ref.data, o.bytes) != 0) {
			size_t es = eml_dtype_size(o.dtype);
			uint64_t i = 0;
			while (memcmp((const uint8_t *)o.data + i * es, ref.data + i * es, es) == 0)
				i++;
			snprintf(why, cap, "output %zu [%llu]: %lld vs ORT %lld", k,
			         (unsigned long long)i, (long long)eml_ld_i(o.data, o.dtype, i),
			         (long long)eml_ld_i(ref.data, ref.dtype, i));
			ok = 0;
		}
		eml_tensor_file_cleanup(&ref);
	}
	if (ok) {
		eml_test_pathf(p, sizeof(p), "%s/output_%zu.npy", c->dir, no);
		if (exists(p)) {
			snprintf(why, cap, "ORT has more outputs than the plan (%zu)", no);
			ok = 0;
		}
	}
	if (ok) {
		/* decompose -> topology key + blob -> join: the same bytes out */
		uint8_t *tkey = NULL, *blob = NULL;
		size_t tl = 0, bl = 0;
		cr_assert_eq(eml_topo_decompose(m, NULL, &tkey, &tl, &blob, &bl), EML_OK, "%s",
		             c->id);
		eml_tkey *k = NULL;
		cr_assert_eq(eml_tkey_parse(tkey, tl, &k), EML_OK);
		eml_model *joined = NULL;
		uint32_t bad_chunk = 0;
		cr_assert_eq(eml_topo_join(k, blob, bl, &joined, &bad_chunk), EML_OK);
		eml_plan *pj = NULL;
		cr_assert_eq(eml_engine_assemble(joined, io, c->n_in, &opts, &pj, &bad), EML_OK);
		cr_assert_eq(eml_plan_run(pj), EML_OK);
		for (size_t k2 = 0; k2 < no; k2++) {
			eml_io_tensor oa, ob;
			cr_assert_eq(eml_plan_output(plan, k2, &oa), EML_OK);
			cr_assert_eq(eml_plan_output(pj, k2, &ob), EML_OK);
			if (oa.bytes != ob.bytes || memcmp(oa.data, ob.data, oa.bytes) != 0) {
				snprintf(why, cap, "output %zu differs after decompose/join", k2);
				ok = 0;
			}
		}
		eml_plan_free(pj);
		eml_model_free(joined);
		eml_tkey_free(k);
		eml_free(tkey);
		eml_free(blob);
	}
	eml_plan_free(plan);
	eml_model_free(m);
	return ok;
}

static void free_cases(void)
{
	for (size_t k = 0; k < g_n; k++) {
		eml_model_free(g_cases[k].m);
		for (size_t i = 0; i < g_cases[k].n_in; i++)
			eml_tensor_file_cleanup(&g_cases[k].in[i]);
	}
	g_n = 0;
}

/* Every opset-19/20 version we claim, against ONNX Runtime. */
Test(opset20, new_versions_agree_with_onnx_runtime, .timeout = 120)
{
	cases_gelu();
	cases_pad();
	cases_avgpool();
	cases_resize();
	cases_resize_antialias();
	cases_reduce_bool();
	cases_dtype_only();
	cases_control();
	cases_unchanged();
	cases_gridsample();
	cases_affinegrid();
	cases_deformconv();
	references();
	int failed = 0;
	for (size_t k = 0; k < g_n; k++) {
		char why[512] = "";
		if (!run_case(&g_cases[k], why, sizeof(why))) {
			fprintf(stderr, "opset20: %s: %s\n", g_cases[k].id, why);
			failed++;
		}
	}
	size_t n = g_n;
	free_cases();
	cr_assert_eq(failed, 0, "%d of %zu cases disagree with ONNX Runtime (see stderr)", failed,
	             n);
}

/* ---- refusals ---- */

/* Save, then let mutate() edit the ModelProto (types we cannot build in the IR), then load. */
static int load_mutated(eml_model *m, void (*mutate)(Onnx__ModelProto *), eml_model **out)
{
	uint8_t *b = NULL;
	size_t n = 0;
	cr_assert_eq(eml_onnx_save(m, &b, &n), EML_OK);
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, b);
	cr_assert(mp != NULL);
	mutate(mp);
	size_t n2 = onnx__model_proto__get_packed_size(mp);
	uint8_t *b2 = malloc(n2 + 1);
	onnx__model_proto__pack(mp, b2);
	onnx__model_proto__free_unpacked(mp, NULL);
	eml_free(b);
	int rc = eml_onnx_load_bytes(b2, n2, NULL, out);
	free(b2);
	return rc;
}

/* The unpacked message is freed by protobuf-c's default (malloc) allocator. */
static void set_raw(Onnx__TensorProto *t, int32_t dtype, size_t len)
{
	t->data_type = dtype;
	t->has_data_type = 1;
	t->n_float_data = 0;
	t->n_int32_data = 0;
	t->has_raw_data = 1;
	free(t->raw_data.data);
	t->raw_data.data = calloc(1, len);
	t->raw_data.len = len;
}

static void mut_float8_initializer(Onnx__ModelProto *mp)
{
	cr_assert(mp->graph->n_initializer >= 1);
	set_raw(mp->graph->initializer[0], 17 /* FLOAT8E4M3FN */, 4);
}

static void mut_bfloat16_value(Onnx__ModelProto *mp)
{
	Onnx__NodeProto *nd = mp->graph->node[0];
	cr_assert(nd->n_attribute >= 1 && nd->attribute[0]->t != NULL);
	set_raw(nd->attribute[0]->t, 16 /* BFLOAT16 */, 2);
}

static void mut_string_inputs(Onnx__ModelProto *mp)
{
	for (size_t i = 0; i < mp->graph->n_input; i++)
		mp->graph->input[i]->type->tensor_type->elem_type = EML_DT_STRING;
}

static void mut_none(Onnx__ModelProto *mp)
{
	(void)mp;
}

/* m loads as built, and is refused with `want` once `mutate` rewrote its ONNX bytes; m is freed. */
static void refused_after(eml_model *m, void (*mutate)(Onnx__ModelProto *), int want)
{
	eml_model *out = NULL;
	cr_assert_eq(load_mutated(m, mut_none, &out), EML_OK);
	eml_model_free(out);
	cr_assert_eq(load_mutated(m, mutate, &out), want);
	eml_model_free(m);
}

static int assemble_rc(const eml_model *m, const eml_io_tensor *io, size_t n)
{
	eml_plan *p = NULL;
	int bad = -1;
	int rc = eml_engine_assemble(m, io, n, NULL, &p, &bad);
	cr_assert((rc == EML_OK) == (p != NULL));
	eml_plan_free(p);
	return rc;
}

/* Assemble and run m on io; its first output in *o (valid until the plan is freed). */
static eml_plan *run_plan(const eml_model *m, const eml_io_tensor *io, size_t n, eml_io_tensor *o)
{
	eml_plan *p = NULL;
	int bad = -1;
	cr_assert_eq(eml_engine_assemble(m, io, n, NULL, &p, &bad), EML_OK);
	cr_assert_eq(eml_plan_run(p), EML_OK);
	cr_assert_eq(eml_plan_output(p, 0, o), EML_OK);
	return p;
}

/* The versions' new types are refused with the type errors: float8 / bfloat16 tensors and
 * string inputs at load, a Cast to float8 at assembly. */
Test(opset20, new_types_of_19_and_20_are_refused_with_the_type_error)
{
	eml_model *out = NULL;
	/* Add-14 over a float8 initializer at opset 19 */
	eml_model *m = mb_new(19);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(4));
	mb_input(m, x);
	float w[4] = {1, 2, 3, 4};
	int32_t y = mb_value(m, EML_DT_FLOAT, -1, NULL);
	mb_node(m, "Add", I(x, mb_const(m, EML_DT_FLOAT, 1, D(4), w)), I(y));
	mb_output(m, y);
	refused_after(m, mut_float8_initializer, EML_E_ONNX_DTYPE);

	/* ConstantOfShape-20 with a bfloat16 value */
	m = mb_new(20);
	int64_t shp[2] = {2, 2};
	y = mb_value(m, EML_DT_FLOAT, -1, NULL);
	float one = 1;
	eml_node *n =
	    mb_node(m, "ConstantOfShape", I(mb_const(m, EML_DT_INT64, 1, D(2), shp)), I(y));
	mb_attr(n, "value", EML_ATTR_TENSOR)->tensor = mb_tensor(m, EML_DT_FLOAT, 1, D(1), &one);
	mb_output(m, y);
	refused_after(m, mut_bfloat16_value, EML_E_ONNX_DTYPE);

	/* Equal-19 on strings */
	m = mb_new(19);
	int32_t a = mb_value(m, EML_DT_FLOAT, 1, D(3)), b = mb_value(m, EML_DT_FLOAT, 1, D(3));
	mb_input(m, a);
	mb_input(m, b);
	y = mb_value(m, EML_DT_BOOL, -1, NULL);
	mb_node(m, "Equal", I(a, b), I(y));
	mb_output(m, y);
	refused_after(m, mut_string_inputs, EML_E_ONNX_STRING_TENSOR);

	/* Cast-19 to float8 (and back): nothing declares the type, the engine refuses the Cast */
	for (int to = 16; to <= 20; to++) {
		m = mb_new(19);
		x = mb_value(m, EML_DT_FLOAT, 1, D(3));
		mb_input(m, x);
		int32_t t = mb_tmp(m);
		y = mb_value(m, EML_DT_FLOAT, -1, NULL);
		n = mb_node(m, "Cast", I(x), I(t));
		mb_attr_i(n, "to", to);
		mb_attr_i(n, "saturate", 0);
		mb_attr_i(mb_node(m, "Cast", I(t), I(y)), "to", EML_DT_FLOAT);
		mb_output(m, y);
		cr_assert_eq(load_mutated(m, mut_none, &out), EML_OK);
		float xv[3] = {1, 2, 3};
		eml_io_tensor io = mb_io(EML_DT_FLOAT, 1, D(3), xv);
		cr_assert_eq(assemble_rc(out, &io, 1), EML_E_UNSUPPORTED, "Cast to %d", to);
		eml_model_free(out);
		eml_model_free(m);
	}
}

static eml_model *single_float_op(int64_t opset, const char *op)
{
	eml_model *m = mb_new(opset);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(4));
	mb_input(m, x);
	int32_t y = mb_value(m, EML_DT_FLOAT, -1, NULL);
	mb_node(m, op, I(x), I(y));
	mb_output(m, y);
	return m;
}

/* A model importing opset 21 is refused as a whole (ONNX_OPSET), by the loader and `eml check`;
 * the engine refuses every operator at 21. */
/* `eml check` on a model's ONNX bytes: its wait status, and its stdout / stderr when asked. */
static int eml_check_bytes(const uint8_t *b, size_t n, char **out, char **err)
{
	char *tmp = eml_test_tmpdir(), path[PATH_MAX], so[PATH_MAX], se[PATH_MAX];
	eml_test_pathf(path, sizeof(path), "%s/m.onnx", tmp);
	eml_test_pathf(so, sizeof(so), "%s/out.txt", tmp);
	eml_test_pathf(se, sizeof(se), "%s/err.txt", tmp);
	cr_assert_eq(eml_file_write_atomic(path, b, n, 0600), EML_OK);
	char *argv[] = {(char *)eml_test_bin(), "check", path, NULL};
	int st = eml_test_run_proc(argv, NULL, so, se);
	if (out != NULL)
		*out = eml_test_slurp_text(so);
	if (err != NULL)
		*err = eml_test_slurp_text(se);
	eml_test_rmtree(tmp);
	free(tmp);
	return st;
}

Test(opset20, opset_21_is_refused)
{
	eml_model *m = single_float_op(21, "Relu");
	uint8_t *b = NULL;
	size_t n = 0;
	cr_assert_eq(eml_onnx_save(m, &b, &n), EML_OK);
	eml_model *out = NULL;
	cr_assert_eq(eml_onnx_load_bytes(b, n, NULL, &out), EML_E_ONNX_OPSET);
	float xv[4] = {1, -2, 3, -4};
	eml_io_tensor io = mb_io(EML_DT_FLOAT, 1, D(4), xv);
	cr_assert_eq(assemble_rc(m, &io, 1), EML_E_UNSUPPORTED);
	cr_assert_not(eml_onnx_op_supported("", "Relu", 21));
	cr_assert_not(eml_onnx_op_supported("", "Gelu", 21));
	char *err = NULL;
	int st = eml_check_bytes(b, n, NULL, &err);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "eml check exit %d", WEXITSTATUS(st));
	cr_assert(strstr(err, "opset") != NULL, "eml check said: %s", err);
	free(err);
	eml_free(b);
	eml_model_free(m);
}

/* A model using an operator not claimed at its opset is refused with the operator named:
 * `eml check` lists it (exit 3, and only it) and the engine does not assemble it. Also Gelu below
 * 20. */
Test(opset20, ops_not_claimed_at_their_opset_are_named)
{
	/* Col2Im (18, not implemented) at 19, ImageDecoder (20, out of scope) at 20 */
	eml_unsupported_op *list = NULL;
	size_t nu = 0;
	for (int64_t opset = 19; opset <= 20; opset++) {
		const char *op = opset == 20 ? "ImageDecoder" : "Col2Im";
		eml_model *m = mb_new(opset);
		int32_t x = mb_value(m, EML_DT_FLOAT, 4, D(1, 1, 3, 3));
		int32_t g = mb_value(m, EML_DT_FLOAT, 4, D(1, 2, 2, 2));
		mb_input(m, x);
		mb_input(m, g);
		int32_t y = mb_value(m, EML_DT_FLOAT, -1, NULL);
		mb_node(m, op, I(x, g), I(y));
		int32_t r = mb_value(m, EML_DT_FLOAT, -1, NULL);
		mb_node(m, "Relu", I(x), I(r));
		mb_output(m, y);
		mb_output(m, r);
		uint8_t *b = NULL;
		size_t n = 0;
		cr_assert_eq(eml_onnx_save(m, &b, &n), EML_OK);
		eml_model *lm = NULL;
		cr_assert_eq(eml_onnx_load_bytes(b, n, NULL, &lm), EML_OK);
		cr_assert_eq(eml_onnx_check(lm, &list, &nu), EML_OK);
		cr_assert_eq(nu, 1);
		cr_assert_str_eq(list[0].op_type, op);
		cr_assert_eq(list[0].opset, opset);
		eml_onnx_unsupported_free(list, nu);
		float xv[9] = {0}, gv[8] = {0};
		eml_io_tensor io[2] = {mb_io(EML_DT_FLOAT, 4, D(1, 1, 3, 3), xv),
		                       mb_io(EML_DT_FLOAT, 4, D(1, 2, 2, 2), gv)};
		cr_assert_eq(assemble_rc(lm, io, 2), EML_E_UNSUPPORTED);
		char want[64], *out = NULL;
		int st = eml_check_bytes(b, n, &out, NULL);
		snprintf(want, sizeof(want), " %lld ", (long long)opset);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "eml check exit %d",
		          WEXITSTATUS(st));
		cr_assert(strstr(out, op) != NULL && strstr(out, want) != NULL &&
		              strstr(out, "Relu") == NULL,
		          "eml check said: %s", out);
		free(out);
		eml_free(b);
		eml_model_free(lm);
		eml_model_free(m);
	}

	/* Gelu exists from opset 20 only */
	for (int v = 7; v <= 21; v++)
		cr_assert_eq(eml_onnx_op_supported("", "Gelu", v), v == 20, "Gelu at %d", v);
	eml_model *m = single_float_op(19, "Gelu");
	cr_assert_eq(eml_onnx_check(m, &list, &nu), EML_OK);
	cr_assert(nu == 1 && strcmp(list[0].op_type, "Gelu") == 0 && list[0].opset == 19);
	eml_onnx_unsupported_free(list, nu);
	float xv4[4] = {1, 2, 3, 4};
	eml_io_tensor io4 = mb_io(EML_DT_FLOAT, 1, D(4), xv4);
	cr_assert_eq(assemble_rc(m, &io4, 1), EML_E_UNSUPPORTED);
	eml_model_free(m);
	m = single_float_op(20, "Gelu");
	cr_assert_eq(assemble_rc(m, &io4, 1), EML_OK);
	eml_model_free(m);
}

/* What 19/20 added stays refused at the opsets before them. */
Test(opset20, new_semantics_are_refused_before_their_opset)
{
	float xv[12];
	for (int i = 0; i < 12; i++)
		xv[i] = (float)i;
	eml_io_tensor io = mb_io(EML_DT_FLOAT, 2, D(3, 4), xv);
	for (int64_t opset = 18; opset <= 19; opset++) {
		/* Pad mode "wrap" (Pad-19) */
		eml_model *m = mb_new(opset);
		int32_t x = mb_value(m, EML_DT_FLOAT, 2, D(3, 4));
		mb_input(m, x);
		int64_t pads[4] = {1, 1, 1, 1};
		int32_t y = mb_tmp(m);
		mb_attr_s(mb_node(m, "Pad", I(x, mb_const(m, EML_DT_INT64, 1, D(4), pads)), I(y)),
		          "mode", "wrap");
		mb_output(m, y);
		cr_assert_eq(assemble_rc(m, &io, 1), opset >= 19 ? EML_OK : EML_E_UNSUPPORTED);
		eml_model_free(m);
		/* Resize half_pixel_symmetric (Resize-19) */
		m = mb_new(opset);
		x = mb_value(m, EML_DT_FLOAT, 2, D(3, 4));
		mb_input(m, x);
		float sc[2] = {2, 0.5f};
		y = mb_tmp(m);
		eml_node *n =
		    mb_node(m, "Resize", I(x, -1, mb_const(m, EML_DT_FLOAT, 1, D(2), sc)), I(y));
		mb_attr_s(n, "coordinate_transformation_mode", "half_pixel_symmetric");
		mb_output(m, y);
		cr_assert_eq(assemble_rc(m, &io, 1), opset >= 19 ? EML_OK : EML_E_UNSUPPORTED);
		eml_model_free(m);
	}
	/* GridSample: mode names linear/cubic and N-D from 20; bilinear/bicubic before */
	float gx[8] = {0}, xx[12] = {0};
	for (int64_t opset = 19; opset <= 20; opset++)
		for (int k = 0; k < 3; k++) {
			eml_model *m = mb_new(opset);
			uint32_t rk = k == 2 ? 3 : 4;
			const int64_t *xd = rk == 3 ? D(1, 3, 4) : D(1, 1, 3, 4);
			const int64_t *gd = rk == 3 ? D(1, 4, 1) : D(1, 2, 2, 2);
			int32_t x = mb_value(m, EML_DT_FLOAT, (int32_t)rk, xd);
			int32_t g = mb_value(m, EML_DT_FLOAT, (int32_t)rk, gd);
			mb_input(m, x);
			mb_input(m, g);
			int32_t y = mb_tmp(m);
			eml_node *n = mb_node(m, "GridSample", I(x, g), I(y));
			mb_attr_s(n, "mode", k == 0 ? "linear" : (k == 1 ? "bicubic" : "nearest"));
			mb_output(m, y);
			eml_io_tensor gio[2] = {mb_io(EML_DT_FLOAT, rk, xd, xx),
			                        mb_io(EML_DT_FLOAT, rk, gd, gx)};
			int want_ok = k == 1 ? opset == 19 : opset == 20;
			int rc = assemble_rc(m, gio, 2);
			cr_assert(want_ok ? rc == EML_OK : rc != EML_OK,
			          "GridSample %d at %lld: %s", k, (long long)opset,
			          eml_err_name(rc));
			eml_model_free(m);
		}
	/* ReduceMax / ReduceMin over bool (20) */
	uint8_t bv[6] = {1, 0, 0, 1, 1, 1};
	eml_io_tensor bio = mb_io(EML_DT_BOOL, 2, D(2, 3), bv);
	for (int64_t opset = 19; opset <= 20; opset++)
		for (int mx = 0; mx < 2; mx++) {
			eml_model *m = mb_new(opset);
			int32_t x = mb_value(m, EML_DT_BOOL, 2, D(2, 3));
			mb_input(m, x);
			int32_t y = mb_tmp(m);
			mb_node(m, mx ? "ReduceMax" : "ReduceMin", I(x), I(y));
			mb_output(m, y);
			eml_plan *p = NULL;
			int bad = -1;
			int rc = eml_engine_assemble(m, &bio, 1, NULL, &p, &bad);
			cr_assert(opset >= 20 ? rc == EML_OK : rc != EML_OK, "opset %lld: %s",
			          (long long)opset, eml_err_name(rc));
			if (rc == EML_OK) {
				cr_assert_eq(eml_plan_run(p), EML_OK);
				eml_io_tensor o;
				cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
				cr_assert_eq(o.dtype, EML_DT_BOOL);
				cr_assert_eq(*(const uint8_t *)o.data, mx ? 1 : 0);
			}
			eml_plan_free(p);
			eml_model_free(m);
		}
}

/* Pad wrap by more than the dimension (ONNX reference: numpy "wrap", repeating); ONNX Runtime
 * 1.30 returns unset memory there, so this is checked against the definition. */
Test(opset20, pad_wrap_beyond_the_dimension_repeats)
{
	eml_model *m = mb_new(19);
	int32_t x = mb_value(m, EML_DT_FLOAT, 2, D(2, 3));
	mb_input(m, x);
	int64_t pads[4] = {1, 4, 2, 5}; /* rows: 1 before, 2 after; cols: 4 before, 5 after */
	int32_t y = mb_tmp(m);
	mb_attr_s(mb_node(m, "Pad", I(x, mb_const(m, EML_DT_INT64, 1, D(4), pads)), I(y)), "mode",
	          "wrap");
	mb_output(m, y);
	float xv[6] = {0, 1, 2, 3, 4, 5};
	eml_io_tensor io = mb_io(EML_DT_FLOAT, 2, D(2, 3), xv);
	eml_io_tensor o;
	eml_plan *p = run_plan(m, &io, 1, &o);
	cr_assert(o.rank == 2 && o.dims[0] == 5 && o.dims[1] == 12);
	const float *yv = o.data;
	for (int r = 0; r < 5; r++)
		for (int c = 0; c < 12; c++) {
			int sr = ((r - 1) % 2 + 2) % 2, sc = ((c - 4) % 3 + 3) % 3;
			cr_assert_eq(yv[r * 12 + c], xv[sr * 3 + sc], "[%d][%d]", r, c);
		}
	eml_plan_free(p);
	eml_model_free(m);
}

/* AveragePool-19 with auto_pad SAME_UPPER and dilations: the spec pads by
 * (out - 1) * stride + (k - 1) * d + 1 - in (ONNX Runtime 1.30 leaves the dilation out and
 * gets a smaller output), checked against a direct computation. */
Test(opset20, avgpool_same_upper_with_dilations_follows_the_spec)
{
	enum { H = 7, W = 8, K = 3, DL = 2, S = 2 };
	eml_model *m = mb_new(19);
	int32_t x = mb_value(m, EML_DT_FLOAT, 4, D(1, 1, H, W));
	mb_input(m, x);
	int32_t y = mb_tmp(m);
	eml_node *n = mb_node(m, "AveragePool", I(x), I(y));
	mb_attr_ints(n, "kernel_shape", 2, D(K, K));
	mb_attr_ints(n, "dilations", 2, D(DL, DL));
	mb_attr_ints(n, "strides", 2, D(S, S));
	mb_attr_s(n, "auto_pad", "SAME_UPPER");
	mb_output(m, y);
	float xv[H * W];
	for (int i = 0; i < H * W; i++)
		xv[i] = (float)((i * 7) % 11) - 5.0f;
	eml_io_tensor io = mb_io(EML_DT_FLOAT, 4, D(1, 1, H, W), xv);
	eml_io_tensor o;
	eml_plan *p = run_plan(m, &io, 1, &o);
	int oh = (H + S - 1) / S, ow = (W + S - 1) / S;
	cr_assert(o.dims[2] == oh && o.dims[3] == ow);
	int span = (K - 1) * DL + 1;
	int ph = ((oh - 1) * S + span - H) / 2, pw = ((ow - 1) * S + span - W) / 2;
	const float *yv = o.data;
	for (int i = 0; i < oh; i++)
		for (int j = 0; j < ow; j++) {
			double sum = 0;
			int cnt = 0;
			for (int a = 0; a < K; a++)
				for (int b2 = 0; b2 < K; b2++) {
					int r = i * S + a * DL - ph, c = j * S + b2 * DL - pw;
					if (r >= 0 && r < H && c >= 0 && c < W) {
						sum += xv[r * W + c];
						cnt++;
					}
				}
			cr_assert_float_eq(yv[i * ow + j], (float)(sum / cnt), 1e-5, "[%d][%d]", i,
			                   j);
		}
	eml_plan_free(p);
	eml_model_free(m);
}

/* GridSample-20 cubic with border padding, against the ONNX reference's rule computed by hand:
 * each coordinate past its border is clamped (per axis), then the 4 taps per axis read with
 * border padding. ONNX Runtime 1.30 gives other values there. Cubic weights (A = -0.75) at
 * t = 0.5: -0.09375, 0.59375, 0.59375, -0.09375; at t = 0.7 the last one is -0.11025. */
Test(opset20, gridsample_cubic_border_folds_per_axis)
{
	/* 1-D: X = 0 1 2 3 4, align_corners: x = 2 (g + 1) */
	eml_model *m = mb_new(20);
	int32_t x = mb_value(m, EML_DT_FLOAT, 3, D(1, 1, 5));
	int32_t g = mb_value(m, EML_DT_FLOAT, 3, D(1, 3, 1));
	mb_input(m, x);
	mb_input(m, g);
	int32_t y = mb_tmp(m);
	eml_node *n = mb_node(m, "GridSample", I(x, g), I(y));
	mb_attr_s(n, "mode", "cubic");
	mb_attr_s(n, "padding_mode", "border");
	mb_attr_i(n, "align_corners", 1);
	mb_output(m, y);
	float xv[5] = {0, 1, 2, 3, 4}, gv[3] = {-1.25f, -0.25f, 1.5f};
	eml_io_tensor io[2] = {mb_io(EML_DT_FLOAT, 3, D(1, 1, 5), xv),
	                       mb_io(EML_DT_FLOAT, 3, D(1, 3, 1), gv)};
	eml_io_tensor o;
	eml_plan *p = run_plan(m, io, 2, &o);
	const float *yv = o.data;
	/* x = -0.5 -> clamped to 0 (ORT: -0.09375); x = 1.5 -> 1.5; x = 5 -> clamped to 4 */
	cr_assert_float_eq(yv[0], 0.0f, 1e-6);
	cr_assert_float_eq(yv[1], 1.5f, 1e-6);
	cr_assert_float_eq(yv[2], 4.0f, 1e-6);
	eml_plan_free(p);
	eml_model_free(m);

	/* 2-D, no align_corners (border [-0.5, 4.5]): X[r][c] = (c == 1); y = -1 is past the border
	 * and clamped to 0, x = -0.3 is inside its border and stays: taps c = -2..1 read
	 * 0 0 0 1, weight of c = 1 at t = 0.7 -> -0.11025 (folding x too would give 0) */
	m = mb_new(20);
	x = mb_value(m, EML_DT_FLOAT, 4, D(1, 1, 5, 5));
	g = mb_value(m, EML_DT_FLOAT, 4, D(1, 1, 1, 2));
	mb_input(m, x);
	mb_input(m, g);
	y = mb_tmp(m);
	n = mb_node(m, "GridSample", I(x, g), I(y));
	mb_attr_s(n, "mode", "cubic");
	mb_attr_s(n, "padding_mode", "border");
	mb_output(m, y);
	float x2[25] = {0};
	for (int r = 0; r < 5; r++)
		x2[r * 5 + 1] = 1;
	/* x = ((gx + 1) * 5 - 1) / 2 = -0.3 -> gx = -0.92; y = -1 -> gy = -1.2 */
	float g2[2] = {-0.92f, -1.2f};
	eml_io_tensor io2[2] = {mb_io(EML_DT_FLOAT, 4, D(1, 1, 5, 5), x2),
	                        mb_io(EML_DT_FLOAT, 4, D(1, 1, 1, 2), g2)};
	p = run_plan(m, io2, 2, &o);
	cr_assert_float_eq(*(const float *)o.data, -0.11025f, 1e-4, "%g", *(const float *)o.data);
	eml_plan_free(p);
	eml_model_free(m);
}

/* ---- operators unchanged at 19/20 behave alike at 18 and 20 ---- */

typedef struct gen_node {
	eml_model *m;
	size_t n_io;
	eml_io_tensor io[4];
	float data[4][64];
	int64_t dims[4][4];
} gen_node;

/* A random single-node graph of `op` (inputs, shapes, attributes; many invalid), drawn from r. */
static void gen_node_build(eml_rng *r, const char *op, int64_t opset, gen_node *gn)
{
	static const char *int_attrs[] = {"axis",
	                                  "keepdims",
	                                  "group",
	                                  "transA",
	                                  "transB",
	                                  "to",
	                                  "ceil_mode",
	                                  "count_include_pad",
	                                  "allowzero",
	                                  "noop_with_empty_axes",
	                                  "start",
	                                  "end",
	                                  "exclude_outside",
	                                  "select_last_index",
	                                  "detect_negative"};
	static const char *ints_attrs[] = {"axes",    "perm",      "kernel_shape", "pads",
	                                   "strides", "dilations", "starts",       "ends"};
	static const char *f_attrs[] = {"alpha", "beta", "epsilon", "min", "max", "value"};
	static const char *s_vals[] = {"nearest",  "linear",  "cubic", "SAME_UPPER",    "VALID",
	                               "constant", "reflect", "edge",  "align_corners", "bogus"};
	static const char *s_attrs[] = {"mode", "auto_pad", "coordinate_transformation_mode",
	                                "nearest_mode"};
	memset(gn, 0, sizeof(*gn));
	eml_model *m = mb_new(opset);
	gn->m = m;
	int32_t ins[5], outl[3];
	uint32_t nin = (uint32_t)eml_rng_range(r, 1, 3);
	for (uint32_t k = 0; k < nin; k++) {
		uint32_t rank = (uint32_t)eml_rng_below(r, 5);
		uint64_t ne = 1;
		for (uint32_t d = 0; d < rank; d++) {
			gn->dims[k][d] = eml_rng_range(r, ne > 16 ? 1 : 0, 3);
			ne *= (uint64_t)gn->dims[k][d];
		}
		if (k > 0 && eml_rng_chance(r, 0.4)) {
			int64_t iv[3];
			for (int q = 0; q < 3; q++)
				iv[q] = eml_rng_range(r, -3, 4);
			int64_t d1 = eml_rng_range(r, 1, 3);
			ins[k] = mb_const(m, EML_DT_INT64, 1, &d1, iv);
		} else {
			for (uint64_t q = 0; q < ne && q < 64; q++)
				gn->data[k][q] = eml_rng_float(r, -3, 3);
			ins[k] = mb_value(m, EML_DT_FLOAT, (int32_t)rank, gn->dims[k]);
			mb_input(m, ins[k]);
			gn->io[gn->n_io++] = mb_io(EML_DT_FLOAT, rank, gn->dims[k], gn->data[k]);
		}
	}
	ins[nin] = MB_END;
	uint32_t nout = (uint32_t)eml_rng_range(r, 1, 2);
	for (uint32_t k = 0; k < nout; k++)
		outl[k] = mb_tmp(m);
	outl[nout] = MB_END;
	eml_node *n = mb_node(m, op, ins, outl);
	int na = (int)eml_rng_below(r, 4);
	for (int a = 0; a < na; a++) {
		switch (eml_rng_below(r, 4)) {
		case 0:
			mb_attr_i(n, int_attrs[eml_rng_below(r, EML_ARRAY_LEN(int_attrs))],
			          eml_rng_range(r, -2, 12));
			break;
		case 1: {
			int64_t v[8];
			uint32_t cnt = (uint32_t)eml_rng_below(r, 9);
			for (uint32_t q = 0; q < cnt; q++)
				v[q] = eml_rng_range(r, -3, 4);
			mb_attr_ints(n, ints_attrs[eml_rng_below(r, EML_ARRAY_LEN(ints_attrs))],
			             cnt, v);
			break;
		}
		case 2:
			mb_attr_f(n, f_attrs[eml_rng_below(r, EML_ARRAY_LEN(f_attrs))],
			          eml_rng_float(r, -2, 2));
			break;
		default:
			mb_attr_s(n, s_attrs[eml_rng_below(r, EML_ARRAY_LEN(s_attrs))],
			          s_vals[eml_rng_below(r, EML_ARRAY_LEN(s_vals))]);
			break;
		}
	}
	for (uint32_t k = 0; k < nout; k++)
		mb_output(m, outl[k]);
}

/* Feature: ephemeral-inference, Property 2: Compatibility validation. A model is accepted for
 * decomposition if and only if every operator in it (subgraphs included) is supported; the
 * refusal names the unsupported operator types.
 * At opsets 19 and 20: `eml check`'s table claims the operators whose 19/20 versions did not
 * change (or only added types we do not load) at the same semantics as at 18, so a random
 * single-node graph of such an operator is accepted, refused, and computed alike at 18 and 20
 * (same result code, same output bytes), and `eml check` agrees with the engine at 20. */
Test(opset20, unchanged_operators_behave_alike_at_18_and_20,
     .description = "Feature: ephemeral-inference, Property 2: Compatibility validation. A model "
                    "is accepted for decomposition if and only if every operator in it "
                    "(subgraphs included) is supported; the refusal names the unsupported "
                    "operator types.")
{
	size_t n_ops = 0;
	const eml_engine_op_info *tab = eml_engine_op_table(&n_ops);
	int ok_runs = 0, cases = 0;
	PROP_FOR_EACH_CASE(rng)
	{
		for (int rep = 0; rep < 4; rep++) {
			const eml_engine_op_info *e = &tab[eml_rng_below(&rng, n_ops)];
			/* GridSample-20 renamed its modes; the subgraph operators need bodies */
			if (e->since > 18 || e->until < 20 || strcmp(e->op, "GridSample") == 0 ||
			    strcmp(e->op, "If") == 0 || strcmp(e->op, "Loop") == 0 ||
			    strcmp(e->op, "Scan") == 0)
				continue;
			PROP_ASSERT(eml_onnx_op_supported("", e->op, 19) &&
			                eml_onnx_op_supported("", e->op, 20),
			            "%s is in the engine's table at 20 but not in eml check's",
			            e->op);
			eml_rng r18 = rng, r20 = rng;
			gen_node a, b;
			gen_node_build(&r18, e->op, 18, &a);
			gen_node_build(&r20, e->op, 20, &b);
			rng = r18;
			eml_unsupported_op *list = NULL;
			size_t nu = 0;
			PROP_ASSERT(eml_onnx_check(b.m, &list, &nu) == EML_OK && nu == 0,
			            "eml check refuses %s at 20", e->op);
			eml_plan *pa = NULL, *pb = NULL;
			int bad = -1;
			int ra = eml_engine_assemble(a.m, a.io, a.n_io, NULL, &pa, &bad);
			int rb = eml_engine_assemble(b.m, b.io, b.n_io, NULL, &pb, &bad);
			if (ra == EML_OK)
				ra = eml_plan_run(pa);
			if (rb == EML_OK)
				rb = eml_plan_run(pb);
			PROP_ASSERT(ra == rb, "%s: %s at 18, %s at 20", e->op, eml_err_name(ra),
			            eml_err_name(rb));
			if (ra == EML_OK) {
				size_t no = eml_plan_n_outputs(pa);
				PROP_ASSERT(no == eml_plan_n_outputs(pb), "%s: output count",
				            e->op);
				for (size_t k = 0; k < no; k++) {
					eml_io_tensor oa, ob;
					PROP_ASSERT(eml_plan_output(pa, k, &oa) == EML_OK &&
					                eml_plan_output(pb, k, &ob) == EML_OK,
					            "%s: output %zu", e->op, k);
					PROP_ASSERT(
					    oa.dtype == ob.dtype && oa.rank == ob.rank &&
					        memcmp(oa.dims, ob.dims, 8 * oa.rank) == 0 &&
					        oa.bytes == ob.bytes &&
					        (oa.bytes == 0 ||
					         memcmp(oa.data, ob.data, oa.bytes) == 0),
					    "%s: output %zu differs between 18 and 20", e->op, k);
				}
				ok_runs++;
			}
			cases++;
			eml_plan_free(pa);
			eml_plan_free(pb);
			eml_model_free(a.m);
			eml_model_free(b.m);
		}
	}
	cr_assert_gt(cases, 0);
	cr_assert_gt(ok_runs, 0);
	fprintf(stderr, "opset20: %d random nodes, %d ran at both opsets\n", cases, ok_runs);
}

/* The Gelu kernel's every ISA instance (and the dispatcher) against the formula in double: the
 * tests above run only the one this CPU dispatches to. */
typedef void (*gelu_fn)(float *, const float *, size_t, int);

Test(opset20, gelu_kernel_every_isa_matches_the_formula)
{
	const struct {
		const char *isa;
		gelu_fn f;
	} sets[] = {
		{"dispatch", eml_vgelu},
		{"generic", eml_vgelu_generic},
#if defined(__x86_64__)
		{"avx2", eml_vgelu_avx2},
		{"avx512", eml_vgelu_avx512},
#endif
	};
	enum { N = 4099 }; /* not a multiple of any width: the tail runs too */
	static float x[N], y[N];
	int tested = 0;
	for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
		if (!eml_test_isa_supported(sets[si].isa))
			continue;
		tested++;
		for (int form = 0; form < 2; form++) {
			eml_rng r;
			eml_rng_seed(&r, 77 + (uint64_t)form);
			for (int i = 0; i < N; i++)
				x[i] = i < 2000 ? -15.0f + 30.0f * (float)i / 1999.0f
				                : eml_rng_float(&r, -1, 1) * (i % 3 ? 8.0f : 1e4f);
			int in_place = form == 1;
			if (in_place)
				memcpy(y, x, sizeof(x));
			sets[si].f(y, in_place ? y : x, N, form);
			for (int i = 0; i < N; i++) {
				double v = x[i], w = eml_test_gelu_ref(v, form);
				/* relative 1e-5 where the result is not tiny; where 1 + erf/tanh cancels
				 * (large negative x) the error is that of erf/tanh near -1, times |x| */
				double tol = 1e-5 * fabs(w) + 2e-6 * fabs(v) + 1e-30;
				cr_assert(fabs(y[i] - w) <= tol,
				          "%s %s gelu(%.9g) = %.9g, want %.9g", sets[si].isa,
				          form ? "tanh" : "erf", v, (double)y[i], w);
			}
		}
		/* special values, as ONNX Runtime evaluates the formula */
		float sp[5] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f}, out[5];
		for (int form = 0; form < 2; form++) {
			sets[si].f(out, sp, 5, form);
			cr_assert(isnan(out[0]) && isinf(out[1]) && out[1] > 0 && isnan(out[2]) &&
			              out[3] == 0.0f && out[4] == 0.0f,
			          "%s special values", sets[si].isa);
		}
	}
	cr_assert_geq(tested, 2);
}

/* DeformConv's general path (any rank, any real type) against its 2-D float32 path (which ONNX
 * Runtime checks above): a 1-D float model equals the 2-D one with H = 1 and zero offsets along
 * H, and the 2-D model in double equals it in float. */
static const float *deform_run(eml_model *m, const eml_io_tensor *io, size_t n_io, eml_plan **p)
{
	int bad = -1;
	cr_assert_eq(eml_engine_assemble(m, io, n_io, NULL, p, &bad), EML_OK);
	cr_assert_eq(eml_plan_run(*p), EML_OK);
	eml_io_tensor o;
	cr_assert_eq(eml_plan_output(*p, 0, &o), EML_OK);
	return o.data;
}

Test(opset20, deformconv_general_path_matches_the_2d_float_path)
{
	enum { L = 9, KW = 3, OW = 9 }; /* pads 1 1: OW = L */
	float x[2 * L], w[3 * 2 * KW], off1[KW * OW], off2[2 * KW * OW];
	double xd[2 * L], wd[3 * 2 * KW], off2d[2 * KW * OW];
	eml_rng r;
	eml_rng_seed(&r, 2026);
	for (int i = 0; i < 2 * L; i++)
		xd[i] = x[i] = eml_rng_float(&r, -1, 1);
	for (int i = 0; i < 3 * 2 * KW; i++)
		wd[i] = w[i] = eml_rng_float(&r, -1, 1);
	for (int i = 0; i < KW * OW; i++)
		off1[i] = eml_rng_float(&r, -2, 2);
	/* 2-D offsets: channel 2k is along H (0), 2k+1 along W (the 1-D offsets) */
	for (int k = 0; k < KW; k++)
		for (int o = 0; o < OW; o++) {
			off2[(2 * k) * OW + o] = 0;
			off2[(2 * k + 1) * OW + o] = off1[k * OW + o];
		}
	for (int i = 0; i < 2 * KW * OW; i++)
		off2d[i] = off2[i];
	const float *y[3];
	eml_plan *p[3] = {NULL, NULL, NULL};
	eml_model *m[3];
	for (int v = 0; v < 3; v++) {
		int dt = v == 2 ? EML_DT_DOUBLE : EML_DT_FLOAT;
		int two = v > 0;
		m[v] = mb_new(19);
		const int64_t *xdims = two ? D(1, 2, 1, L) : D(1, 2, L);
		const int64_t *odims = two ? D(1, 2 * KW, 1, OW) : D(1, KW, OW);
		uint32_t rk = two ? 4 : 3;
		int32_t xv = mb_value(m[v], dt, (int32_t)rk, xdims);
		int32_t ov = mb_value(m[v], dt, (int32_t)rk, odims);
		mb_input(m[v], xv);
		mb_input(m[v], ov);
		const int64_t *wdims = two ? D(3, 2, 1, KW) : D(3, 2, KW);
		/* double initializers are widened to float at assembly: the double weights are an
		 * input */
		int32_t W = dt == EML_DT_DOUBLE ? mb_value(m[v], dt, (int32_t)rk, wdims)
		                                : mb_const(m[v], dt, rk, wdims, w);
		if (dt == EML_DT_DOUBLE)
			mb_input(m[v], W);
		int32_t yv = mb_tmp(m[v]);
		eml_node *n = mb_node(m[v], "DeformConv", I(xv, W, ov), I(yv));
		mb_attr_ints(n, "pads", two ? 4 : 2, two ? D(0, 1, 0, 1) : D(1, 1));
		mb_output(m[v], yv);
		eml_io_tensor io[3] = {
		    mb_io(dt, rk, xdims, dt == EML_DT_DOUBLE ? (const void *)xd : (const void *)x),
		    mb_io(dt, rk, odims,
		          dt == EML_DT_DOUBLE ? (const void *)off2d
		                              : (two ? (const void *)off2 : (const void *)off1)),
		    mb_io(dt, rk, wdims, wd)};
		y[v] = deform_run(m[v], io, dt == EML_DT_DOUBLE ? 3 : 2, &p[v]);
	}
	const double *yd = (const double *)(const void *)y[2];
	for (int i = 0; i < 3 * OW; i++) {
		cr_assert(fabsf(y[0][i] - y[1][i]) <= 1e-5f * (1 + fabsf(y[1][i])),
		          "1-D [%d]: %g vs %g", i, (double)y[0][i], (double)y[1][i]);
		cr_assert(fabs(yd[i] - y[1][i]) <= 1e-5 * (1 + fabs(yd[i])),
		          "double [%d]: %g vs %g", i, yd[i], (double)y[1][i]);
	}
	for (int v = 0; v < 3; v++) {
		eml_plan_free(p[v]);
		eml_model_free(m[v]);
	}
}
