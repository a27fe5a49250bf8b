/*
 * Differential kernels: the optimized kernels (SGEMM with every ISA available here, Conv, pooling,
 * vector math) against naive reference implementations written in this file, on random shapes.
 * Pass criterion: max |a - b| <= 1e-4 * max(1, |b|) elementwise.
 * (Not a DESIGN §11 property: named "differential kernels".)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/gemm.h"
#include "engine/threadpool.h"
#include "prop.h"

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
			double e = fabs(g - w) / (fabs(w) > 1 ? fabs(w) : 1);
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
	int ta = (int)eml_rng_below(r, 2), tb = (int)eml_rng_below(r, 2);
	size_t lda = (ta ? M : K) + (size_t)eml_rng_below(r, 3);
	size_t ldb = (tb ? K : N) + (size_t)eml_rng_below(r, 3);
	size_t ldc = N + (size_t)eml_rng_below(r, 3);
	float alpha = eml_rng_chance(r, 0.5) ? 1.0f : eml_rng_float(r, -2.0f, 2.0f);
	int use_packed = eml_rng_chance(r, 0.4);
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

	float *packed = NULL;
	if (use_packed) {
		packed = malloc(eml_sgemm_packed_b_size(K, N));
		cr_assert_not_null(packed);
		eml_sgemm_pack_b(B, ldb, tb, K, N, packed);
	}
	size_t ws = eml_sgemm_work_size(M, N, K, eml_threadpool_threads(pool));
	/* Guard bytes after the work area catch overruns of eml_sgemm_work_size. */
	unsigned char *work = malloc(ws + 256);
	cr_assert_not_null(work);
	memset(work + ws, 0xA5, 256);
	eml_sgemm(pool, M, N, K, alpha, A, lda, ta, packed ? NULL : B, ldb, tb, packed, C, ldc,
	          use_ep ? &ep : NULL, work);
	for (int i = 0; i < 256; i++)
		PROP_ASSERT(work[ws + (size_t)i] == 0xA5, "work area overrun");
	double err = max_rel_err(C, ldc, want, M, N);
	PROP_ASSERT(err <= 1e-4,
	            "gemm %s M=%zu N=%zu K=%zu ta=%d tb=%d packed=%d ep=%d bias=%d act=%d err=%g",
	            eml_sgemm_isa(), M, N, K, ta, tb, use_packed, use_ep, ep.bias_kind, ep.act,
	            err);
	free(work);
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
