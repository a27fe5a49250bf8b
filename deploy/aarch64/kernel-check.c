/*
 * The portable GEMM path checked on aarch64 (Graviton), built by deploy/aarch64/check with
 * Debian's cross compiler and run under qemu-user. On aarch64 the AVX kernels are not compiled
 * (CMakeLists.txt filters *_avx2.c / *_avx512.c), so eml_sgemm runs the portable micro-kernel;
 * this checks it against a double-precision reference on random shapes (edge sizes included),
 * transposes, pre-packed A and B, every epilogue, and 1 to 3 threads.
 *
 *   kernel-check [CASES] [SEED]      exit 0 when every case is within tolerance
 * With KERNEL_CHECK_CORRUPT=1 one output value per case is changed after the kernel ran: the
 * check must then fail (the negative control of deploy/aarch64/check).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "engine/kernels/gemm.h"
#include "engine/threadpool.h"
#include "eml/error.h"

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static size_t dim(void)
{
	static const size_t edge[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65};
	if (rnd() % 3 == 0)
		return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
	return 1 + (size_t)(rnd() % 150);
}
static float val(void)
{
	return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static double act(double x, int a, double pa, double pb)
{
	switch (a) {
	case EML_ACT_RELU:
		return x > 0 ? x : 0;
	case EML_ACT_CLIP:
		return x < pa ? pa : x > pb ? pb : x;
	case EML_ACT_SIGMOID:
		return 1.0 / (1.0 + exp(-x));
	case EML_ACT_HARDSIGMOID: {
		double y = pa * x + pb;
		return y < 0 ? 0 : y > 1 ? 1 : y;
	}
	case EML_ACT_HARDSWISH: {
		double y = x / 6 + 0.5;
		return x * (y < 0 ? 0 : y > 1 ? 1 : y);
	}
	case EML_ACT_LEAKYRELU:
		return x >= 0 ? x : pa * x;
	case EML_ACT_TANH:
		return tanh(x);
	default:
		return x;
	}
}

int main(int argc, char **argv)
{
	int cases = argc > 1 ? atoi(argv[1]) : 200;
	rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261125;
	eml_threadpool *pools[3] = {NULL, NULL, NULL};
	for (int t = 2; t <= 3; t++)
		if (eml_threadpool_new(t, &pools[t - 1]) != EML_OK)
			return 2;
	int bad = 0;
	for (int c = 0; c < cases; c++) {
		size_t M = dim(), N = dim(), K = rnd() % 8 == 0 ? 0 : dim();
		int ta = (int)(rnd() % 2), tb = (int)(rnd() % 2), mode = (int)(rnd() % 3);
		int th = 1 + (int)(rnd() % 3);
		float alpha = mode == 2 ? 1.0f : (rnd() % 2 ? 1.0f : val() * 2);
		eml_epilogue ep;
		memset(&ep, 0, sizeof(ep));
		ep.act = (int)(rnd() % 8);
		ep.act_a = ep.act == EML_ACT_CLIP ? -0.5f : 0.2f;
		ep.act_b = ep.act == EML_ACT_CLIP ? 0.5f : 0.5f;
		ep.bias_kind = (int)(rnd() % 3); /* none, row, col */
		size_t lda = (ta ? M : K) + rnd() % 3, ldb = (tb ? K : N) + rnd() % 3;
		size_t ldc = N + rnd() % 3;
		float *A = malloc(sizeof(float) * (lda * (ta ? K : M) + 1));
		float *B = malloc(sizeof(float) * (ldb * (tb ? N : K) + 1));
		float *C = malloc(sizeof(float) * (ldc * M + 1));
		float *bias = malloc(sizeof(float) * (M + N + 1));
		for (size_t i = 0; i < lda * (ta ? K : M); i++)
			A[i] = val();
		for (size_t i = 0; i < ldb * (tb ? N : K); i++)
			B[i] = val();
		for (size_t i = 0; i < M + N; i++)
			bias[i] = val();
		ep.bias = bias;
		size_t ws = eml_sgemm_work_size(M, N, K, th);
		void *work = aligned_alloc(64, (ws + 63) / 64 * 64 + 64);
		float *pk = NULL;
		if (mode == 1) {
			pk = aligned_alloc(64, (eml_sgemm_packed_b_size(K, N) + 63) / 64 * 64 + 64);
			eml_sgemm_pack_b(B, ldb, tb, K, N, pk);
			eml_sgemm(pools[th - 1], M, N, K, alpha, A, lda, ta, NULL, 0, 0, pk, C, ldc,
			          &ep, work);
		} else if (mode == 2) {
			pk = aligned_alloc(64, (eml_sgemm_packed_a_size(M, K) + 63) / 64 * 64 + 64);
			eml_sgemm_pack_a(A, lda, ta, M, K, pk);
			eml_sgemm_packed_a(pools[th - 1], M, N, K, pk, B, ldb, tb, C, ldc, &ep,
			                   work);
		} else {
			eml_sgemm(pools[th - 1], M, N, K, alpha, A, lda, ta, B, ldb, tb, NULL, C,
			          ldc, &ep, work);
		}
		if (getenv("KERNEL_CHECK_CORRUPT") != NULL && M > 0 && N > 0)
			C[(rnd() % M) * ldc + rnd() % N] += 0.25f;
		double worst = 0;
		for (size_t m = 0; m < M; m++)
			for (size_t n = 0; n < N; n++) {
				double s = 0, mag = 0;
				for (size_t k = 0; k < K; k++) {
					double a = ta ? A[k * lda + m] : A[m * lda + k];
					double b = tb ? B[n * ldb + k] : B[k * ldb + n];
					s += a * b;
					mag += fabs(a * b);
				}
				s *= alpha;
				if (ep.bias_kind == EML_BIAS_ROW)
					s += bias[m];
				else if (ep.bias_kind == EML_BIAS_COL)
					s += bias[n];
				double want = act(s, ep.act, ep.act_a, ep.act_b);
				double err =
				    fabs(C[m * ldc + n] - want) / (1e-6 + 1e-5 * (mag + 1));
				if (!(err <= worst))
					worst = err; /* NaN counts as worst */
			}
		if (!(worst <= 1.0)) {
			fprintf(
			    stderr,
			    "kernel-check: case %d FAILED: M=%zu N=%zu K=%zu ta=%d tb=%d mode=%d "
			    "threads=%d act=%d bias=%d (error %.3g of tolerance)\n",
			    c, M, N, K, ta, tb, mode, th, ep.act, ep.bias_kind, worst);
			bad++;
		}
		free(A);
		free(B);
		free(C);
		free(bias);
		free(work);
		free(pk);
	}
	for (int t = 0; t < 3; t++)
		eml_threadpool_free(pools[t]);
	printf("kernel-check: %d cases, %d failed\n", cases, bad);
	return bad ? 1 : 0;
}
