/*
 * Differential kernels, quantized operators: ConvInteger, QLinearConv, MatMulInteger and
 * QLinearMatMul through the engine (ops/quant.c on the integer GEMM, im2col, 1x1 and depthwise
 * paths) against naive loops written here from the ONNX definitions, on random shapes: groups
 * (depthwise, with a channel multiplier, grouped, dense), 1-D/2-D kernels, strides, dilations,
 * pads, uint8/int8 inputs and weights, zero points (per output channel for the weights), bias,
 * batched and broadcast MatMul. Integer outputs must agree exactly; the requantized outputs too
 * (the same double-precision formula as the ONNX reference: round half to even of
 * acc * (sa * sb / sy) plus the zero point, saturated).
 * (Not a DESIGN §11 property: named "differential kernels", as prop_kernels.c.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/kernels/qgemm.h"
#include "eml/error.h"
#include "prop.h"
/* the engine tests' model builder (after engine.h, which it needs) */
#include "../unit/test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})

static int32_t rd8(const uint8_t *p, int sgn, size_t i)
{
	return sgn ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
}

static void fill8(eml_rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = eml_rng_chance(r, 0.2) ? (eml_rng_chance(r, 0.5) ? 0xFF : 0x80)
		                              : (uint8_t)eml_rng_below(r, 256);
}

static int64_t requant(int64_t acc, float sa, float sb, float sy, int64_t zy, int out_signed)
{
	double v = nearbyint((double)(int32_t)acc * ((double)sa * sb / sy)) + (double)zy;
	double lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
	return (int64_t)(v < lo ? lo : (v > hi ? hi : v));
}

static void conv_case(eml_rng *r)
{
	int qlinear = eml_rng_chance(r, 0.5);
	int nsp = eml_rng_chance(r, 0.8) ? 2 : 1;
	int64_t G, CG, OG;
	int kind = (int)eml_rng_below(r, 4);
	if (kind == 0) { /* depthwise */
		G = 1 + (int64_t)eml_rng_below(r, 6);
		CG = 1;
		OG = 1;
	} else if (kind == 1) { /* depthwise with a multiplier */
		G = 1 + (int64_t)eml_rng_below(r, 4);
		CG = 1;
		OG = 2 + (int64_t)eml_rng_below(r, 3);
	} else if (kind == 2) {
		G = 2 + (int64_t)eml_rng_below(r, 2);
		CG = 1 + (int64_t)eml_rng_below(r, 4);
		OG = 1 + (int64_t)eml_rng_below(r, 5);
	} else {
		G = 1;
		CG = 1 + (int64_t)eml_rng_below(r, 20);
		OG = 1 + (int64_t)eml_rng_below(r, 40);
	}
	int64_t N = 1 + (int64_t)eml_rng_below(r, 2), C = G * CG, OC = G * OG;
	int64_t in[2] = {1, 1}, k[2] = {1, 1}, st[2] = {1, 1}, dl[2] = {1, 1}, pb[2] = {0, 0};
	int64_t pe[2] = {0, 0}, od[2] = {1, 1};
	int pointwise = eml_rng_chance(r, 0.2);
	for (int d = 0; d < nsp; d++) {
		in[d] = 1 + (int64_t)eml_rng_below(r, nsp == 2 ? 14 : 30);
		k[d] = pointwise ? 1 : 1 + (int64_t)eml_rng_below(r, 4);
		st[d] = pointwise ? 1 : 1 + (int64_t)eml_rng_below(r, 2);
		dl[d] = pointwise ? 1 : 1 + (int64_t)eml_rng_below(r, 2);
		pb[d] = pointwise ? 0 : (int64_t)eml_rng_below(r, (uint64_t)k[d]);
		pe[d] = pointwise ? 0 : (int64_t)eml_rng_below(r, (uint64_t)k[d]);
		int64_t ek = (k[d] - 1) * dl[d] + 1;
		if (in[d] + pb[d] + pe[d] < ek)
			in[d] = ek; /* at least one output */
		od[d] = (in[d] + pb[d] + pe[d] - ek) / st[d] + 1;
	}
	int xs = eml_rng_chance(r, 0.5), ws = eml_rng_chance(r, 0.5), ys = eml_rng_chance(r, 0.5);
	int64_t isp = 1, osp = 1, ksp = 1;
	for (int d = 0; d < nsp; d++) {
		isp *= in[d];
		osp *= od[d];
		ksp *= k[d];
	}
	size_t nx = (size_t)(N * C * isp), nw = (size_t)(OC * CG * ksp);
	uint8_t *x = malloc(nx), *w = malloc(nw);
	cr_assert(x && w);
	fill8(r, x, nx);
	fill8(r, w, nw);
	uint8_t zx = (uint8_t)eml_rng_below(r, 256), zy = (uint8_t)eml_rng_below(r, 256);
	int per_ch = eml_rng_chance(r, 0.5);
	uint8_t *zw = malloc((size_t)OC);
	float *sw = malloc((size_t)OC * sizeof(float));
	int32_t *bias = malloc((size_t)OC * sizeof(int32_t));
	cr_assert(zw && sw && bias);
	for (int64_t o = 0; o < OC; o++) {
		/* ONNX: QLinearConv's w_zero_point is per channel; ConvInteger's one or per channel */
		zw[o] = per_ch || o == 0 ? (uint8_t)eml_rng_below(r, 256) : zw[0];
		sw[o] = eml_rng_float(r, 0.001f, 0.05f);
		bias[o] = (int32_t)eml_rng_range(r, -5000, 5000);
	}
	float sx = eml_rng_float(r, 0.001f, 0.05f), sy = eml_rng_float(r, 0.01f, 0.5f);
	int has_bias = qlinear && eml_rng_chance(r, 0.6);
	int32_t xdt = xs ? EML_DT_INT8 : EML_DT_UINT8, wdt = ws ? EML_DT_INT8 : EML_DT_UINT8;
	int32_t ydt = ys ? EML_DT_INT8 : EML_DT_UINT8;

	eml_model *m = mb_new(13);
	int64_t xd[4] = {N, C, in[0], in[1]}, wd[4] = {OC, CG, k[0], k[1]};
	int32_t vx = mb_value(m, xdt, 2 + nsp, xd);
	mb_input(m, vx);
	int32_t vw = mb_const(m, wdt, (uint32_t)(2 + nsp), wd, w);
	int64_t one = OC;
	int32_t vzx = mb_const(m, xdt, 0, NULL, &zx);
	int32_t vzw = per_ch ? mb_const(m, wdt, 1, &one, zw) : mb_const(m, wdt, 0, NULL, zw);
	int32_t y = mb_tmp(m);
	eml_node *nd;
	if (qlinear) {
		int32_t vsx = mb_const(m, EML_DT_FLOAT, 0, NULL, &sx);
		int32_t vsw = per_ch ? mb_const(m, EML_DT_FLOAT, 1, &one, sw)
		                     : mb_const(m, EML_DT_FLOAT, 0, NULL, sw);
		int32_t vsy = mb_const(m, EML_DT_FLOAT, 0, NULL, &sy);
		int32_t vzy = mb_const(m, ydt, 0, NULL, &zy);
		int32_t vb = has_bias ? mb_const(m, EML_DT_INT32, 1, &one, bias) : MB_END;
		nd = mb_node(m, "QLinearConv", I(vx, vsx, vzx, vw, vsw, vzw, vsy, vzy, vb), I(y));
	} else {
		nd = mb_node(m, "ConvInteger", I(vx, vw, vzx, vzw), I(y));
	}
	int64_t pads[4] = {pb[0], nsp == 2 ? pb[1] : pe[0], pe[0], pe[1]};
	if (nsp == 1)
		pads[1] = pe[0];
	mb_attr_ints(nd, "kernel_shape", (uint32_t)nsp, k);
	mb_attr_ints(nd, "strides", (uint32_t)nsp, st);
	mb_attr_ints(nd, "dilations", (uint32_t)nsp, dl);
	mb_attr_ints(nd, "pads", (uint32_t)(2 * nsp), pads);
	mb_attr_i(nd, "group", G);
	mb_output(m, y);

	eml_io_tensor io = mb_io(xdt, (uint32_t)(2 + nsp), xd, x);
	eml_engine_opts opts = {.threads = 1 + (int)eml_rng_below(r, 2), .max_memory = 0};
	eml_plan *p = NULL;
	int bad = -1;
	int rc = eml_engine_assemble(m, &io, 1, &opts, &p, &bad);
	PROP_ASSERT(rc == EML_OK, "assemble: %s", eml_err_name(rc));
	PROP_ASSERT(eml_plan_run(p) == EML_OK, "run");
	eml_io_tensor o;
	cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
	PROP_ASSERT(o.dims[1] == OC && o.dims[2] == od[0], "output shape");
	for (int64_t n = 0; n < N; n++)
		for (int64_t oc = 0; oc < OC; oc++) {
			int64_t g = oc / OG;
			for (int64_t op = 0; op < osp; op++) {
				int64_t o0 = nsp == 2 ? op / od[1] : op,
				        o1 = nsp == 2 ? op % od[1] : 0;
				int64_t acc = 0;
				for (int64_t ic = 0; ic < CG; ic++)
					for (int64_t k0 = 0; k0 < k[0]; k0++)
						for (int64_t k1 = 0; k1 < (nsp == 2 ? k[1] : 1);
						     k1++) {
							int64_t i0 =
							    o0 * st[0] + k0 * dl[0] - pb[0];
							int64_t i1 =
							    nsp == 2
							        ? o1 * st[1] + k1 * dl[1] - pb[1]
							        : 0;
							if (i0 < 0 || i0 >= in[0] ||
							    (nsp == 2 && (i1 < 0 || i1 >= in[1])))
								continue;
							size_t xi =
							    (size_t)(((n * C + g * CG + ic) *
							                  in[0] +
							              i0) *
							                 (nsp == 2 ? in[1] : 1) +
							             i1);
							size_t wi =
							    (size_t)(((oc * CG + ic) * k[0] + k0) *
							                 (nsp == 2 ? k[1] : 1) +
							             k1);
							acc += (int64_t)(rd8(x, xs, xi) -
							                 rd8(&zx, xs, 0)) *
							       (rd8(w, ws, wi) -
							        rd8(zw, ws, (size_t)oc));
						}
				size_t yo = (size_t)((n * OC + oc) * osp + op);
				if (!qlinear) {
					int32_t got = ((const int32_t *)o.data)[yo];
					PROP_ASSERT(
					    got == (int32_t)acc,
					    "ConvInteger y[%zu] = %d, want %lld (G %lld CG %lld OG "
					    "%lld)",
					    yo, got, (long long)acc, (long long)G, (long long)CG,
					    (long long)OG);
				} else {
					if (has_bias)
						acc += bias[oc];
					int64_t want = requant(acc, sx, sw[per_ch ? oc : 0], sy,
					                       rd8(&zy, ys, 0), ys);
					int64_t got = ys ? ((const int8_t *)o.data)[yo]
					                 : ((const uint8_t *)o.data)[yo];
					PROP_ASSERT(
					    got == want,
					    "QLinearConv y[%zu] = %lld, want %lld (G %lld CG %lld "
					    "OG %lld)",
					    yo, (long long)got, (long long)want, (long long)G,
					    (long long)CG, (long long)OG);
				}
			}
		}
	eml_plan_free(p);
	eml_model_free(m);
	free(x);
	free(w);
	free(zw);
	free(sw);
	free(bias);
}

static void matmul_case(eml_rng *r)
{
	int qlinear = eml_rng_chance(r, 0.5);
	int64_t Bt = 1 + (int64_t)eml_rng_below(r, 3), M = 1 + (int64_t)eml_rng_below(r, 20);
	int64_t K = 1 + (int64_t)eml_rng_below(r, 70), N = 1 + (int64_t)eml_rng_below(r, 40);
	int b_const = eml_rng_chance(r, 0.6); /* constant 2-D B: packed at assembly */
	int as = eml_rng_chance(r, 0.5), bs = eml_rng_chance(r, 0.5), ys = eml_rng_chance(r, 0.5);
	size_t na = (size_t)(Bt * M * K), nb = (size_t)((b_const ? 1 : Bt) * K * N);
	uint8_t *a = malloc(na), *b = malloc(nb);
	cr_assert(a && b);
	fill8(r, a, na);
	fill8(r, b, nb);
	uint8_t za = (uint8_t)eml_rng_below(r, 256), zb = (uint8_t)eml_rng_below(r, 256);
	uint8_t zy = (uint8_t)eml_rng_below(r, 256);
	float sa = eml_rng_float(r, 0.001f, 0.05f), sb = eml_rng_float(r, 0.001f, 0.05f);
	float sy = eml_rng_float(r, 0.01f, 0.5f);
	int32_t adt = as ? EML_DT_INT8 : EML_DT_UINT8, bdt = bs ? EML_DT_INT8 : EML_DT_UINT8;
	int32_t ydt = ys ? EML_DT_INT8 : EML_DT_UINT8;
	eml_model *m = mb_new(13);
	int64_t ad[3] = {Bt, M, K}, bd3[3] = {Bt, K, N}, bd2[2] = {K, N};
	int32_t va = mb_value(m, adt, 3, ad);
	mb_input(m, va);
	eml_io_tensor io[2];
	size_t nio = 0;
	io[nio++] = mb_io(adt, 3, ad, a);
	int32_t vb;
	if (b_const) {
		vb = mb_const(m, bdt, 2, bd2, b);
	} else {
		vb = mb_value(m, bdt, 3, bd3);
		mb_input(m, vb);
		io[nio++] = mb_io(bdt, 3, bd3, b);
	}
	int32_t vza = mb_const(m, adt, 0, NULL, &za), vzb = mb_const(m, bdt, 0, NULL, &zb);
	int32_t y = mb_tmp(m);
	if (qlinear) {
		int32_t vsa = mb_const(m, EML_DT_FLOAT, 0, NULL, &sa);
		int32_t vsb = mb_const(m, EML_DT_FLOAT, 0, NULL, &sb);
		int32_t vsy = mb_const(m, EML_DT_FLOAT, 0, NULL, &sy);
		int32_t vzy = mb_const(m, ydt, 0, NULL, &zy);
		mb_node(m, "QLinearMatMul", I(va, vsa, vza, vb, vsb, vzb, vsy, vzy), I(y));
	} else {
		mb_node(m, "MatMulInteger", I(va, vb, vza, vzb), I(y));
	}
	mb_output(m, y);
	eml_engine_opts opts = {.threads = 1 + (int)eml_rng_below(r, 2), .max_memory = 0};
	eml_plan *p = NULL;
	int bad = -1;
	int rc = eml_engine_assemble(m, io, nio, &opts, &p, &bad);
	PROP_ASSERT(rc == EML_OK, "assemble: %s", eml_err_name(rc));
	PROP_ASSERT(eml_plan_run(p) == EML_OK, "run");
	eml_io_tensor o;
	cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
	for (int64_t t = 0; t < Bt; t++)
		for (int64_t i = 0; i < M; i++)
			for (int64_t j = 0; j < N; j++) {
				int64_t acc = 0;
				for (int64_t q = 0; q < K; q++)
					acc += (int64_t)(rd8(a, as, (size_t)((t * M + i) * K + q)) -
					                 rd8(&za, as, 0)) *
					       (rd8(b, bs,
					            (size_t)(((b_const ? 0 : t) * K + q) * N + j)) -
					        rd8(&zb, bs, 0));
				size_t yo = (size_t)((t * M + i) * N + j);
				int64_t got, want;
				if (qlinear) {
					want = requant(acc, sa, sb, sy, rd8(&zy, ys, 0), ys);
					got = ys ? ((const int8_t *)o.data)[yo]
					         : ((const uint8_t *)o.data)[yo];
				} else {
					want = (int32_t)acc;
					got = ((const int32_t *)o.data)[yo];
				}
				PROP_ASSERT(got == want,
				            "%s y[%zu] = %lld, want %lld (M %lld K %lld N %lld)",
				            qlinear ? "QLinearMatMul" : "MatMulInteger", yo,
				            (long long)got, (long long)want, (long long)M,
				            (long long)K, (long long)N);
			}
	eml_plan_free(p);
	eml_model_free(m);
	free(a);
	free(b);
}

Test(prop, differential_kernels_quantized_operators,
     .description = "differential kernels: ConvInteger, QLinearConv, MatMulInteger, "
                    "QLinearMatMul (exact, every integer GEMM ISA of this CPU)")
{
	static const char *const isas[] = {"portable", "avx2", "avx512vnni"};
	int ran = 0;
	for (size_t i = 0; i < sizeof(isas) / sizeof(isas[0]); i++) {
		if (eml_qgemm_force_isa(isas[i]) != 0)
			continue;
		ran++;
		PROP_FOR_EACH_CASE(rng)
		{
			conv_case(&rng);
			matmul_case(&rng);
		}
	}
	eml_qgemm_force_isa(NULL);
	cr_assert_geq(ran, 1);
}
