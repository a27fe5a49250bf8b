/*
 * Differential kernels: the optimized kernels (SGEMM with every ISA available here, Conv, pooling,
 * vector math) against naive reference implementations written in this file, on random shapes.
 * Pass criterion: max |a - b| <= 1e-4 * max(1, |b|) elementwise.
 * (Not a DESIGN §11 property: named "differential kernels".)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/conv.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/vmath.h"
#include "engine/kernels/vmath_internal.h"
#include "engine/threadpool.h"
#include "prop.h"

/* prop.h's PROP_ASSERT puts the replay arguments after the caller's (it mismatches its format);
 * this one puts them first, so that messages with %s are safe. */
#define KASSERT(cond, fmt, ...)                                                                    \
	cr_assert((cond), "[replay: EML_PROP_SEED=%llu, case %d] " fmt,                            \
	          (unsigned long long)eml_prop_seed_cur, eml_prop_case_cur, __VA_ARGS__)

static const char *const isas[] = {"portable", "avx2", "avx512"};

static float *rand_buf(eml_rng *r, size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof(float));
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = eml_rng_float(r, -1.0f, 1.0f);
	return p;
}

static size_t pick_dim(eml_rng *r, size_t max)
{
	static const size_t special[] = {1, 2, 3, 5, 7, 13, 14, 15, 16, 17, 31, 32, 33, 47, 64, 97};
	if (eml_rng_chance(r, 0.5))
		return special[eml_rng_below(r, sizeof(special) / sizeof(special[0]))];
	return 1 + (size_t)eml_rng_below(r, max);
}

static double act_ref(double x, int act, double a, double b)
{
	switch (act) {
	case EML_ACT_RELU:
		return x > 0 ? x : 0;
	case EML_ACT_CLIP:
		return x < a ? a : (x > b ? b : x);
	case EML_ACT_SIGMOID:
		return 1.0 / (1.0 + exp(-x));
	case EML_ACT_HARDSIGMOID: {
		double v = a * x + b;
		return v < 0 ? 0 : (v > 1 ? 1 : v);
	}
	case EML_ACT_HARDSWISH: {
		double v = x / 6.0 + 0.5;
		return x * (v < 0 ? 0 : (v > 1 ? 1 : v));
	}
	case EML_ACT_LEAKYRELU:
		return x >= 0 ? x : a * x;
	case EML_ACT_TANH:
		return tanh(x);
	default:
		return x;
	}
}

static void random_epilogue(eml_rng *r, eml_epilogue *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->bias_kind = (int)eml_rng_below(r, 4);
	ep->act = (int)eml_rng_below(r, 8);
	ep->beta = eml_rng_float(r, -2.0f, 2.0f);
	switch (ep->act) {
	case EML_ACT_CLIP:
		ep->act_a = eml_rng_float(r, -1.0f, 0.0f);
		ep->act_b = eml_rng_float(r, 0.0f, 1.0f);
		break;
	case EML_ACT_HARDSIGMOID:
		ep->act_a = 0.2f;
		ep->act_b = 0.5f;
		break;
	case EML_ACT_LEAKYRELU:
		ep->act_a = 0.01f + eml_rng_float(r, 0.0f, 0.3f);
		break;
	default:
		break;
	}
}

/* max |got - want| / max(1, |want|) over an m x n matrix. */
static double max_rel_err(const float *got, size_t ldg, const double *want, size_t m, size_t n)
{
	double worst = 0;
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			double w = want[i * n + j];
			double g = got[i * ldg + j];
			double e = g == w ? 0 : fabs(g - w) / (fabs(w) > 1 ? fabs(w) : 1);
			if (!(e <= worst))
				worst = e; /* NaN makes the error NaN, which fails */
		}
	return worst;
}

static void gemm_case(eml_rng *r, eml_threadpool *pool)
{
	size_t M = pick_dim(r, 150), N = pick_dim(r, 150), K = pick_dim(r, 300);
	if (eml_rng_chance(r, 0.05))
		K = 0;
	if (eml_rng_chance(r, 0.1))
		K = 1000 + (size_t)eml_rng_below(r, 1200);
	else if (eml_rng_chance(r, 0.08)) {
		/* big enough to be split across the pool's threads */
		M = 100 + (size_t)eml_rng_below(r, 200);
		N = 100 + (size_t)eml_rng_below(r, 200);
		K = 150 + (size_t)eml_rng_below(r, 200);
	}
	int ta = (int)eml_rng_below(r, 2), tb = (int)eml_rng_below(r, 2);
	size_t lda = (ta ? M : K) + (size_t)eml_rng_below(r, 3);
	size_t ldb = (tb ? K : N) + (size_t)eml_rng_below(r, 3);
	size_t ldc = N + (size_t)eml_rng_below(r, 3);
	float alpha = eml_rng_chance(r, 0.5) ? 1.0f : eml_rng_float(r, -2.0f, 2.0f);
	int use_packed = eml_rng_chance(r, 0.4);
	int use_packed_a = eml_rng_chance(r, 0.3);
	if (use_packed_a)
		alpha = 1.0f;
	int use_ep = eml_rng_chance(r, 0.7);
	eml_epilogue ep;
	random_epilogue(r, &ep);
	int in_place = 0;

	float *A = rand_buf(r, (ta ? K : M) * lda);
	float *B = rand_buf(r, (tb ? N : K) * ldb);
	float *C = rand_buf(r, M * ldc);
	float *bias = NULL;
	size_t ld_bias = 0;
	if (ep.bias_kind == EML_BIAS_ROW)
		bias = rand_buf(r, M);
	else if (ep.bias_kind == EML_BIAS_COL)
		bias = rand_buf(r, N);
	else if (ep.bias_kind == EML_BIAS_FULL) {
		int mode = (int)eml_rng_below(r, 3);
		if (mode == 0) {
			ld_bias = 0;
			bias = rand_buf(r, N);
		} else if (mode == 1) {
			ld_bias = N + (size_t)eml_rng_below(r, 3);
			bias = rand_buf(r, M * ld_bias);
		} else {
			in_place = 1;
			ld_bias = ldc;
		}
	}
	ep.bias = in_place ? C : bias;
	ep.ld_bias = ld_bias;

	double *want = calloc(M * N, sizeof(double));
	cr_assert_not_null(want);
	for (size_t i = 0; i < M; i++)
		for (size_t j = 0; j < N; j++) {
			double s = 0;
			for (size_t k = 0; k < K; k++) {
				double a = ta ? A[k * lda + i] : A[i * lda + k];
				double b = tb ? B[j * ldb + k] : B[k * ldb + j];
				s += a * b;
			}
			s *= alpha;
			if (use_ep) {
				if (ep.bias_kind == EML_BIAS_ROW)
					s += bias[i];
				else if (ep.bias_kind == EML_BIAS_COL)
					s += bias[j];
				else if (ep.bias_kind == EML_BIAS_FULL)
					s += (double)ep.beta *
					     (in_place ? C[i * ldc + j] : bias[i * ld_bias + j]);
				s = act_ref(s, ep.act, ep.act_a, ep.act_b);
			}
			want[i * N + j] = s;
		}

	/* Sometimes pack under another ISA than the one that runs (other panel widths): the
	 * driver must notice and fall back to the portable kernel with the packing's widths. */
	char run_isa[16];
	snprintf(run_isa, sizeof(run_isa), "%s", eml_sgemm_isa());
	int foreign = (use_packed || use_packed_a) && eml_rng_chance(r, 0.2);
	if (foreign)
		eml_sgemm_force_isa(isas[eml_rng_below(r, 3)]); /* may fail: then same ISA */
	float *packed = NULL;
	if (use_packed) {
		packed = malloc(eml_sgemm_packed_b_size(K, N));
		cr_assert_not_null(packed);
		eml_sgemm_pack_b(B, ldb, tb, K, N, packed);
	}
	float *packed_a = NULL;
	if (use_packed_a) {
		packed_a = malloc(eml_sgemm_packed_a_size(M, K));
		cr_assert_not_null(packed_a);
		eml_sgemm_pack_a(A, lda, ta, M, K, packed_a);
	}
	if (foreign)
		cr_assert_eq(eml_sgemm_force_isa(run_isa), 0);
	size_t ws = eml_sgemm_work_size(M, N, K, eml_threadpool_threads(pool));
	/* Guard bytes after the work area catch overruns of eml_sgemm_work_size. */
	unsigned char *work = malloc(ws + 256);
	cr_assert_not_null(work);
	memset(work + ws, 0xA5, 256);
	if (use_packed_a)
		eml_sgemm_packed_a(pool, M, N, K, packed_a, B, ldb, tb, C, ldc, use_ep ? &ep : NULL,
		                   work);
	else
		eml_sgemm(pool, M, N, K, alpha, A, lda, ta, packed ? NULL : B, ldb, tb, packed, C,
		          ldc, use_ep ? &ep : NULL, work);
	for (int i = 0; i < 256; i++)
		KASSERT(work[ws + (size_t)i] == 0xA5, "work area overrun at %d", i);
	double err = max_rel_err(C, ldc, want, M, N);
	KASSERT(err <= 1e-4,
	        "gemm %s M=%zu N=%zu K=%zu ta=%d tb=%d packed=%d/%d ep=%d bias=%d act=%d err=%g",
	        eml_sgemm_isa(), M, N, K, ta, tb, use_packed, use_packed_a, use_ep, ep.bias_kind,
	        ep.act, err);
	free(work);
	free(packed_a);
	free(packed);
	free(want);
	free(bias);
	free(A);
	free(B);
	free(C);
}

/* differential kernels: SGEMM vs a naive double-precision reference, under every ISA. */
Test(prop, differential_kernels_gemm, .description = "differential kernels: SGEMM")
{
	eml_threadpool *pool = NULL;
	cr_assert_eq(eml_threadpool_new(2, &pool), 0);
	int ran = 0;
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++) {
		if (eml_sgemm_force_isa(isas[ii]) != 0)
			continue;
		ran++;
		PROP_FOR_EACH_CASE(rng)
		{
			gemm_case(&rng, eml_rng_chance(&rng, 0.5) ? pool : NULL);
		}
	}
	eml_sgemm_force_isa(NULL);
	cr_assert_geq(ran, 1);
	eml_threadpool_free(pool);
}

/* ---- Conv / ConvTranspose ---- */

static size_t prodv(const size_t *v, int n)
{
	size_t p = 1;
	for (int i = 0; i < n; i++)
		p *= v[i];
	return p;
}

/* 1: rand_conv draws only large direct-path convolutions (differential_kernels_conv_banded). */
static int g_big;

/* Random valid conv parameters; kind 0 = Conv, 1 = ConvTranspose. Returns 0 when valid. */
static int rand_conv(eml_rng *r, eml_conv_params *p, int transpose)
{
	memset(p, 0, sizeof(*p));
	int shape = (int)eml_rng_below(r, 10);
	p->nd = shape < 6 ? 2 : (shape < 8 ? 1 : 3);
	p->batch = 1 + eml_rng_below(r, 2);
	int gk = (int)eml_rng_below(r, 4);
	size_t cg = 1 + eml_rng_below(r, 5), mg = 1 + eml_rng_below(r, 6);
	if (gk == 0) { /* depthwise, with a channel multiplier */
		p->group = 1 + eml_rng_below(r, 6);
		cg = 1;
		mg = 1 + eml_rng_below(r, 2);
	} else if (gk == 1) {
		p->group = 1 + eml_rng_below(r, 3);
	} else {
		p->group = 1;
		cg = 1 + eml_rng_below(r, 12);
		mg = 1 + eml_rng_below(r, 20);
	}
	p->in_c = cg * p->group;
	p->out_c = mg * p->group;
	int pointwise = !transpose && eml_rng_chance(r, 0.15);
	size_t maxs = p->nd == 3 ? 6 : (p->nd == 2 ? 12 : 24);
	for (int i = 0; i < p->nd; i++) {
		p->in[i] = 1 + eml_rng_below(r, eml_rng_chance(r, 0.1) ? 3 * maxs : maxs);
		p->kernel[i] = 1 + eml_rng_below(r, p->nd == 1 ? 5 : 3);
		p->stride[i] = 1 + eml_rng_below(r, 3);
		p->dilation[i] = eml_rng_chance(r, 0.25) ? 2 : 1;
		p->pad_begin[i] = eml_rng_below(r, 3);
		p->pad_end[i] = eml_rng_below(r, 3);
		if (transpose)
			p->output_padding[i] = eml_rng_below(
			    r, p->stride[i] > p->dilation[i] ? p->stride[i] : p->dilation[i]);
		if (pointwise) {
			p->kernel[i] = 1;
			p->stride[i] = 1;
			p->pad_begin[i] = p->pad_end[i] = 0;
		}
	}
	if (!transpose && eml_rng_chance(r, 0.04)) {
		/* Large reduction: several im2col column chunks. */
		p->nd = 2;
		p->group = 1;
		p->in_c = 512;
		p->out_c = 3;
		p->batch = 1;
		for (int i = 0; i < 2; i++) {
			p->in[i] = 20;
			p->kernel[i] = 3;
			p->stride[i] = 1;
			p->dilation[i] = 1;
			p->pad_begin[i] = p->pad_end[i] = 1;
		}
	}
	if (!transpose && eml_rng_chance(r, 0.2)) {
		/* 2-D, rows that fill most vector lanes or not: the direct path (no im2col) under
		 * AVX-512, or im2col; strides 1-3 (phased rows), several panels of 14 output
		 * channels, a partial one, groups, dilation, asymmetric pads. */
		p->nd = 2;
		p->batch = 1 + eml_rng_below(r, 2);
		p->group = 1 + eml_rng_below(r, 2);
		p->in_c = p->group * (1 + eml_rng_below(r, 8));
		p->out_c = p->group * (1 + eml_rng_below(r, 30));
		size_t out[2] = {1 + eml_rng_below(r, 5), eml_rng_chance(r, 0.25)
		                                              ? 144 + eml_rng_below(r, 24)
		                                              : 8 + eml_rng_below(r, 60)};
		for (int i = 0; i < 2; i++) {
			p->kernel[i] = 1 + eml_rng_below(r, 4);
			p->stride[i] = eml_rng_chance(r, 0.3) ? 2 + eml_rng_below(r, 2) : 1;
			p->dilation[i] = eml_rng_chance(r, 0.25) ? 2 : 1;
			p->pad_begin[i] = eml_rng_below(r, 3);
			p->pad_end[i] = eml_rng_below(r, 3);
		}
		if (p->kernel[0] == 1 && p->kernel[1] == 1)
			p->kernel[1] = 3;
		for (int i = 0; i < 2; i++) {
			/* an input that gives this output: out = (in + pads - eff) / stride + 1 */
			size_t eff = (p->kernel[i] - 1) * p->dilation[i] + 1;
			size_t span = (out[i] - 1) * p->stride[i] + eff +
			              eml_rng_below(r, p->stride[i]); /* any remainder */
			if (span <= p->pad_begin[i] + p->pad_end[i])
				p->pad_begin[i] = p->pad_end[i] = 0;
			p->in[i] = span - p->pad_begin[i] - p->pad_end[i];
		}
	}
	if (!transpose && g_big) {
		/* An input whose padded copy passes 1 MiB: the direct path pads it in bands of
		 * output rows, one buffer per thread. */
		p->nd = 2;
		p->batch = 1;
		p->group = 1;
		p->in_c = 48 + eml_rng_below(r, 24);
		p->out_c = 1 + eml_rng_below(r, 16);
		for (int i = 0; i < 2; i++) {
			p->kernel[i] = 1 + eml_rng_below(r, 3);
			p->stride[i] = 1 + eml_rng_below(r, 2);
			p->dilation[i] = eml_rng_chance(r, 0.2) ? 2 : 1;
			p->pad_begin[i] = eml_rng_below(r, 3);
			p->pad_end[i] = eml_rng_below(r, 3);
		}
		if (p->kernel[0] == 1 && p->kernel[1] == 1)
			p->kernel[0] = 3;
		p->in[0] = 36 + eml_rng_below(r, 20);
		p->in[1] = 96 + eml_rng_below(r, 40);
	}
	if (transpose && eml_rng_chance(r, 0.2)) {
		/* Taps that do not overlap (stride = kernel, no dilation or padding: upsampling
		 * heads): the kernel writes each output row once instead of scatter-adding. */
		p->nd = 2;
		for (int i = 0; i < 2; i++) {
			p->kernel[i] = 1 + eml_rng_below(r, 3);
			p->stride[i] = p->kernel[i];
			p->dilation[i] = 1;
			p->pad_begin[i] = p->pad_end[i] = p->output_padding[i] = 0;
		}
	}
	p->act = (int)eml_rng_below(r, 8);
	p->act_a = p->act == EML_ACT_CLIP ? -0.5f : (p->act == EML_ACT_HARDSIGMOID ? 0.2f : 0.1f);
	p->act_b = p->act == EML_ACT_CLIP ? 0.5f : 0.5f;
	return transpose ? eml_convt_out_shape(p) : eml_conv_out_shape(p);
}

static void conv_ref(const eml_conv_params *p, const float *X, const float *W, const float *bias,
                     double *Y)
{
	const int nd = p->nd;
	size_t is = prodv(p->in, nd), os = prodv(p->out, nd), kp = prodv(p->kernel, nd);
	size_t cg = p->in_c / p->group, mg = p->out_c / p->group;
	for (size_t n = 0; n < p->batch; n++)
		for (size_t m = 0; m < p->out_c; m++) {
			size_t g = m / mg;
			for (size_t o = 0; o < os; o++) {
				size_t oc[EML_CONV_MAX_ND], t = o;
				for (int d = nd - 1; d >= 0; d--) {
					oc[d] = t % p->out[d];
					t /= p->out[d];
				}
				double s = bias ? bias[m] : 0;
				for (size_t c = 0; c < cg; c++)
					for (size_t k = 0; k < kp; k++) {
						size_t kc[EML_CONV_MAX_ND], u = k, off = 0;
						int ok = 1;
						for (int d = nd - 1; d >= 0; d--) {
							kc[d] = u % p->kernel[d];
							u /= p->kernel[d];
						}
						for (int d = 0; d < nd; d++) {
							long long id =
							    (long long)(oc[d] * p->stride[d] +
							                kc[d] * p->dilation[d]) -
							    (long long)p->pad_begin[d];
							if (id < 0 || id >= (long long)p->in[d])
								ok = 0;
							off = off * p->in[d] + (size_t)id;
						}
						if (!ok)
							continue;
						s += (double)
						         X[(n * p->in_c + g * cg + c) * is + off] *
						     W[(m * cg + c) * kp + k];
					}
				Y[(n * p->out_c + m) * os + o] =
				    act_ref(s, p->act, p->act_a, p->act_b);
			}
		}
}

static void convt_ref(const eml_conv_params *p, const float *X, const float *W, const float *bias,
                      double *Y)
{
	const int nd = p->nd;
	size_t is = prodv(p->in, nd), os = prodv(p->out, nd), kp = prodv(p->kernel, nd);
	size_t cg = p->in_c / p->group, mg = p->out_c / p->group;
	for (size_t n = 0; n < p->batch; n++)
		for (size_t m = 0; m < p->out_c; m++)
			for (size_t o = 0; o < os; o++)
				Y[(n * p->out_c + m) * os + o] = bias ? bias[m] : 0;
	for (size_t n = 0; n < p->batch; n++)
		for (size_t c = 0; c < p->in_c; c++) {
			size_t g = c / cg;
			for (size_t i = 0; i < is; i++) {
				size_t ic[EML_CONV_MAX_ND], t = i;
				for (int d = nd - 1; d >= 0; d--) {
					ic[d] = t % p->in[d];
					t /= p->in[d];
				}
				double xv = X[(n * p->in_c + c) * is + i];
				for (size_t mm = 0; mm < mg; mm++)
					for (size_t k = 0; k < kp; k++) {
						size_t kc[EML_CONV_MAX_ND], u = k, off = 0;
						int ok = 1;
						for (int d = nd - 1; d >= 0; d--) {
							kc[d] = u % p->kernel[d];
							u /= p->kernel[d];
						}
						for (int d = 0; d < nd; d++) {
							long long od =
							    (long long)(ic[d] * p->stride[d] +
							                kc[d] * p->dilation[d]) -
							    (long long)p->pad_begin[d];
							if (od < 0 || od >= (long long)p->out[d])
								ok = 0;
							off = off * p->out[d] + (size_t)od;
						}
						if (!ok)
							continue;
						Y[(n * p->out_c + g * mg + mm) * os + off] +=
						    xv * W[(c * mg + mm) * kp + k];
					}
			}
		}
	for (size_t i = 0; i < p->batch * p->out_c * os; i++)
		Y[i] = act_ref(Y[i], p->act, p->act_a, p->act_b);
}

static void conv_case(eml_rng *r, eml_threadpool *pool, int transpose)
{
	eml_conv_params p;
	while (rand_conv(r, &p, transpose) != 0)
		;
	size_t is = prodv(p.in, p.nd), os = prodv(p.out, p.nd), kp = prodv(p.kernel, p.nd);
	size_t wn =
	    transpose ? p.in_c * (p.out_c / p.group) * kp : p.out_c * (p.in_c / p.group) * kp;
	float *X = rand_buf(r, p.batch * p.in_c * is);
	float *W = rand_buf(r, wn);
	float *bias = eml_rng_chance(r, 0.7) ? rand_buf(r, p.out_c) : NULL;
	size_t yn = p.batch * p.out_c * os;
	float *Y = rand_buf(r, yn);
	double *want = calloc(yn, sizeof(double));
	cr_assert_not_null(want);
	int prepacked = eml_rng_chance(r, 0.5);
	int threads = eml_threadpool_threads(pool);
	size_t ps = transpose ? eml_convt_packed_size(&p) : eml_conv_packed_size(&p);
	size_t ws;
	if (prepacked)
		ws = transpose ? eml_convt_work_size_prepacked(&p, threads)
		               : eml_conv_work_size_prepacked(&p, threads);
	else
		ws = transpose ? eml_convt_work_size(&p, threads) : eml_conv_work_size(&p, threads);
	float *packed = prepacked ? malloc(ps) : NULL;
	unsigned char *work = malloc(ws + 256);
	cr_assert_not_null(work);
	memset(work + ws, 0xA5, 256);
	if (transpose) {
		convt_ref(&p, X, W, bias, want);
		if (packed)
			eml_convt_prepare(&p, W, packed);
		eml_convt(pool, &p, X, packed ? NULL : W, packed, bias, Y, work);
	} else if (packed && eml_rng_chance(r, 0.4)) {
		/* weights packed with a per-output-channel scale (folded BatchNormalization): the
		 * reference takes the scaled weights */
		float *scale = rand_buf(r, p.out_c);
		float *Ws = malloc(wn * sizeof(float));
		cr_assert_not_null(Ws);
		for (size_t i = 0; i < wn; i++)
			Ws[i] = W[i] * scale[i / (wn / p.out_c)];
		conv_ref(&p, X, Ws, bias, want);
		eml_conv_prepare_scaled(&p, W, scale, packed);
		eml_conv(pool, &p, X, NULL, packed, bias, Y, work);
		free(Ws);
		free(scale);
	} else {
		conv_ref(&p, X, W, bias, want);
		if (packed)
			eml_conv_prepare(&p, W, packed);
		eml_conv(pool, &p, X, packed ? NULL : W, packed, bias, Y, work);
	}
	for (int i = 0; i < 256; i++)
		KASSERT(work[ws + (size_t)i] == 0xA5, "conv work area overrun at %d", i);
	double err = max_rel_err(Y, yn, want, 1, yn);
	KASSERT(err <= 1e-4,
	        "%s %s nd=%d N=%zu C=%zu M=%zu G=%zu in0=%zu k0=%zu s0=%zu d0=%zu "
	        "pads0=%zu/%zu act=%d err=%g",
	        transpose ? "convT" : "conv", eml_sgemm_isa(), p.nd, p.batch, p.in_c, p.out_c,
	        p.group, p.in[0], p.kernel[0], p.stride[0], p.dilation[0], p.pad_begin[0],
	        p.pad_end[0], p.act, err);
	free(work);
	free(packed);
	free(want);
	free(Y);
	free(bias);
	free(W);
	free(X);
}

/* differential kernels: Conv and ConvTranspose vs naive references, under every ISA. */
Test(prop, differential_kernels_conv, .description = "differential kernels: Conv, ConvTranspose")
{
	eml_threadpool *pool = NULL;
	cr_assert_eq(eml_threadpool_new(2, &pool), 0);
	int ran = 0;
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++) {
		if (eml_sgemm_force_isa(isas[ii]) != 0)
			continue;
		ran++;
		PROP_FOR_EACH_CASE(rng)
		{
			eml_threadpool *pl = eml_rng_chance(&rng, 0.5) ? pool : NULL;
			conv_case(&rng, pl, 0);
			conv_case(&rng, pl, 1);
		}
	}
	eml_sgemm_force_isa(NULL);
	cr_assert_geq(ran, 1);
	eml_threadpool_free(pool);
}

/* Large inputs on the direct path: banded padding, 1 and 2 threads, strides 1 and 2. */
Test(prop, differential_kernels_conv_banded,
     .description = "differential kernels: Conv, direct path padded in bands")
{
	eml_threadpool *pool = NULL;
	cr_assert_eq(eml_threadpool_new(2, &pool), 0);
	g_big = 1;
	PROP_FOR_EACH_CASE(rng)
	{
		if (eml_prop_case_cur >= 12) /* each case is tens of MFLOP against a naive loop */
			break;
		conv_case(&rng, eml_prop_case_cur % 2 ? pool : NULL, 0);
	}
	g_big = 0;
	eml_threadpool_free(pool);
}

/* ---- pooling ---- */

static void pool_ref(const eml_pool_params *p, const float *X, double *Y, int64_t *I, int is_max)
{
	const int nd = p->nd;
	size_t is = prodv(p->in, nd), os = prodv(p->out, nd), kp = prodv(p->kernel, nd);
	for (size_t pl = 0; pl < p->batch * p->channels; pl++)
		for (size_t o = 0; o < os; o++) {
			size_t oc[EML_POOL_MAX_ND], t = o;
			for (int d = nd - 1; d >= 0; d--) {
				oc[d] = t % p->out[d];
				t /= p->out[d];
			}
			double best = -INFINITY, sum = 0;
			size_t n = 0, npad = 0, best_i = 0;
			for (size_t k = 0; k < kp; k++) {
				size_t u = k, off = 0, coff = 0, mul = 1;
				int ok = 1, inpad = 1;
				long long id[EML_POOL_MAX_ND];
				for (int d = nd - 1; d >= 0; d--) {
					size_t kc = u % p->kernel[d];
					u /= p->kernel[d];
					id[d] = (long long)(oc[d] * p->stride[d] +
					                    kc * p->dilation[d]) -
					        (long long)p->pad_begin[d];
					if (id[d] < 0 || id[d] >= (long long)p->in[d])
						ok = 0;
					if (id[d] >= (long long)(p->in[d] + p->pad_end[d]))
						inpad = 0;
				}
				npad += (size_t)inpad;
				if (!ok)
					continue;
				for (int d = 0; d < nd; d++)
					off = off * p->in[d] + (size_t)id[d];
				for (int d = 0; d < nd; d++) {
					coff += (size_t)id[d] * mul;
					mul *= p->in[d];
				}
				double v = X[pl * is + off];
				n++;
				sum += v;
				if (v > best) {
					best = v;
					best_i = p->storage_order ? coff : off;
				}
			}
			if (is_max) {
				Y[pl * os + o] = best;
				I[pl * os + o] = (int64_t)(pl * is + best_i);
			} else {
				size_t div = p->count_include_pad ? npad : n;
				Y[pl * os + o] = div ? sum / (double)div : 0;
			}
		}
}

static void pool_case(eml_rng *r, eml_threadpool *pool)
{
	eml_pool_params p;
	do {
		memset(&p, 0, sizeof(p));
		int shape = (int)eml_rng_below(r, 10);
		p.nd = shape < 6 ? 2 : (shape < 8 ? 1 : 3);
		p.batch = 1 + eml_rng_below(r, 2);
		p.channels = 1 + eml_rng_below(r, 4);
		for (int i = 0; i < p.nd; i++) {
			p.in[i] = 1 + eml_rng_below(
			                  r, p.nd == 3 ? 7 : (eml_rng_chance(r, 0.2) ? 50 : 14));
			p.kernel[i] = 1 + eml_rng_below(r, 4);
			p.stride[i] = 1 + eml_rng_below(r, 3);
			p.dilation[i] = eml_rng_chance(r, 0.25) ? 2 : 1;
			/* pads smaller than the kernel, as ONNX requires */
			p.pad_begin[i] = eml_rng_below(r, p.kernel[i]);
			p.pad_end[i] = eml_rng_below(r, p.kernel[i]);
		}
		p.ceil_mode = eml_rng_chance(r, 0.5);
		p.count_include_pad = eml_rng_chance(r, 0.5);
		p.storage_order = eml_rng_chance(r, 0.3);
	} while (eml_pool_out_shape(&p) != 0);
	size_t is = prodv(p.in, p.nd), os = prodv(p.out, p.nd), planes = p.batch * p.channels;
	float *X = rand_buf(r, planes * is);
	float *Y = rand_buf(r, planes * os);
	int64_t *I = calloc(planes * os, sizeof(int64_t));
	int64_t *Iw = calloc(planes * os, sizeof(int64_t));
	double *want = calloc(planes * os, sizeof(double));
	cr_assert(I && Iw && want);
	int is_max = eml_rng_chance(r, 0.5);
	int with_ind = eml_rng_chance(r, 0.5);
	pool_ref(&p, X, want, Iw, is_max);
	if (is_max)
		eml_maxpool(pool, &p, X, Y, with_ind ? I : NULL);
	else
		eml_avgpool(pool, &p, X, Y);
	double err = max_rel_err(Y, planes * os, want, 1, planes * os);
	KASSERT(err <= 1e-4,
	        "%s %s nd=%d in0=%zu k0=%zu s0=%zu d0=%zu pads0=%zu/%zu ceil=%d cip=%d err=%g",
	        eml_sgemm_isa(), is_max ? "maxpool" : "avgpool", p.nd, p.in[0], p.kernel[0],
	        p.stride[0], p.dilation[0], p.pad_begin[0], p.pad_end[0], p.ceil_mode,
	        p.count_include_pad, err);
	if (is_max && with_ind)
		for (size_t i = 0; i < planes * os; i++)
			KASSERT(I[i] == Iw[i], "maxpool index %zu: %lld vs %lld (order %d)", i,
			        (long long)I[i], (long long)Iw[i], p.storage_order);
	free(want);
	free(Iw);
	free(I);
	free(Y);
	free(X);
}

/* differential kernels: MaxPool/AveragePool vs a naive reference (the SIMD rows follow the
 * GEMM ISA choice, so every ISA is run). */
Test(prop, differential_kernels_pool, .description = "differential kernels: pooling")
{
	eml_threadpool *pool = NULL;
	cr_assert_eq(eml_threadpool_new(2, &pool), 0);
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++) {
		if (eml_sgemm_force_isa(isas[ii]) != 0)
			continue;
		PROP_FOR_EACH_CASE(rng)
		{
			pool_case(&rng, eml_rng_chance(&rng, 0.5) ? pool : NULL);
		}
	}
	eml_sgemm_force_isa(NULL);
	eml_threadpool_free(pool);
}

/* Known output shapes (ONNX operator examples and PyTorch's ceil_mode rule). */
Test(kernels, pool_out_shape)
{
	eml_pool_params p = {.nd = 2, .batch = 1, .channels = 1};
	for (int i = 0; i < 2; i++) {
		p.in[i] = 4;
		p.kernel[i] = 3;
		p.stride[i] = 2;
		p.dilation[i] = 1;
	}
	p.ceil_mode = 1; /* onnx maxpool_2d_ceil: 4x4, k3, s2 -> 2x2 */
	cr_assert_eq(eml_pool_out_shape(&p), 0);
	cr_assert_eq(p.out[0], 2);
	p.ceil_mode = 0;
	cr_assert_eq(eml_pool_out_shape(&p), 0);
	cr_assert_eq(p.out[0], 1);
	/* 5, k2, s2, ceil: windows at 0, 2, 4 -> 3. With pads 1/1 the padded row is -1..5: windows
	 * at -1, 1, 3 and one at 5 that would start in the end padding, which is dropped -> 3. */
	p.in[0] = 5;
	p.kernel[0] = 2;
	p.ceil_mode = 1;
	cr_assert_eq(eml_pool_out_shape(&p), 0);
	cr_assert_eq(p.out[0], 3);
	p.pad_begin[0] = p.pad_end[0] = 1;
	cr_assert_eq(eml_pool_out_shape(&p), 0);
	cr_assert_eq(p.out[0], 3);
	p.pad_begin[0] = 2; /* -2..5: windows at -2, 0, 2, 4 -> 4 */
	cr_assert_eq(eml_pool_out_shape(&p), 0);
	cr_assert_eq(p.out[0], 4);
	p.pad_begin[0] = 1;
	p.in[0] = 2;
	p.kernel[0] = 3;
	cr_assert_eq(eml_pool_out_shape(&p), -1 + 1); /* 2+2=4 >= 3 */
	p.pad_begin[0] = p.pad_end[0] = 0;
	cr_assert_eq(eml_pool_out_shape(&p), -1);
}

Test(kernels, global_pool)
{
	float x[2 * 7], y[2];
	for (int i = 0; i < 14; i++)
		x[i] = (float)(i - 3);
	eml_global_avgpool(NULL, 2, 7, x, y);
	cr_assert_float_eq(y[0], 0.0f, 1e-6);
	cr_assert_float_eq(y[1], 7.0f, 1e-6);
	eml_global_maxpool(NULL, 2, 7, x, y);
	cr_assert_float_eq(y[0], 3.0f, 1e-6);
	cr_assert_float_eq(y[1], 10.0f, 1e-6);
}

/* ---- vector math ---- */

typedef void (*vfn)(float *, const float *, size_t);

static double ref_sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

typedef struct vm_set {
	const char *isa;
	vfn f[4];
} vm_set;

/* differential kernels: vectorized exp/sigmoid/tanh/erf (every ISA instance and the dispatcher)
 * vs libm in double, rounded to float. */
Test(prop, differential_kernels_vmath, .description = "differential kernels: vector math")
{
	const vm_set sets[] = {
		{"dispatch", {eml_vexp, eml_vsigmoid, eml_vtanh, eml_verf}},
		{"generic",
		 {eml_vexp_generic, eml_vsigmoid_generic, eml_vtanh_generic, eml_verf_generic}},
#if defined(__x86_64__)
		{"avx2", {eml_vexp_avx2, eml_vsigmoid_avx2, eml_vtanh_avx2, eml_verf_avx2}},
		{"avx512",
		 {eml_vexp_avx512, eml_vsigmoid_avx512, eml_vtanh_avx512, eml_verf_avx512}},
#endif
	};
	double (*const refs[])(double) = {exp, ref_sigmoid, tanh, erf};
	const char *const names[] = {"exp", "sigmoid", "tanh", "erf"};
	for (size_t si = 0; si < sizeof(sets) / sizeof(sets[0]); si++) {
		if (!eml_test_isa_supported(sets[si].isa))
			continue;
		const vfn *fns = sets[si].f;
		PROP_FOR_EACH_CASE(rng)
		{
			size_t n = 1 + eml_rng_below(&rng, 300);
			float range = eml_rng_chance(&rng, 0.5) ? 5.0f : 90.0f;
			float *x = rand_buf(&rng, n), *y = rand_buf(&rng, n);
			for (size_t i = 0; i < n; i++)
				x[i] *= range;
			for (int f = 0; f < 4; f++) {
				int in_place = eml_rng_chance(&rng, 0.3);
				if (in_place)
					memcpy(y, x, n * sizeof(float));
				fns[f](y, in_place ? y : x, n);
				for (size_t i = 0; i < n; i++) {
					/* the float-rounded libm result (exp overflows where double
					 * does not) */
					double w = (float)refs[f]((double)x[i]);
					double e;
					if (isinf(w))
						e = isinf(y[i]) && (w > 0) == (y[i] > 0) ? 0 : 1;
					else
						e = fabs(y[i] - w) /
						    (fabs(w) > 1e-30 ? fabs(w) : 1e-30);
					/* relative 2e-6; absolute 1e-7 near zero for sigmoid, tanh,
					 * erf; exp results below 1e-37 (denormals) both tiny */
					int ok = e <= 2e-6 || (f > 0 && fabs(y[i] - w) <= 1e-7) ||
					         (f == 0 && w < 1e-37 && y[i] < 1e-37);
					KASSERT(ok, "%s %s(%.9g) = %.9g, want %.9g", sets[si].isa,
					        names[f], (double)x[i], (double)y[i], w);
				}
			}
			free(x);
			free(y);
		}
		float sp[6] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 88.8f}, out[6];
		fns[0](out, sp, 6);
		cr_assert(isnan(out[0]) && isinf(out[1]) && out[2] == 0.0f && out[3] == 1.0f &&
		          isinf(out[5]));
		fns[1](out, sp, 6);
		cr_assert(isnan(out[0]) && out[1] == 1.0f && out[2] == 0.0f && out[3] == 0.5f);
		fns[2](out, sp, 6);
		cr_assert(isnan(out[0]) && out[1] == 1.0f && out[2] == -1.0f && out[3] == 0.0f);
		fns[3](out, sp, 6);
		cr_assert(isnan(out[0]) && out[1] == 1.0f && out[2] == -1.0f && out[3] == 0.0f);
	}
}
