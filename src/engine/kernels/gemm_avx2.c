/*
 * AVX2/FMA SGEMM micro-kernel: 6 x 16 tile in 12 ymm accumulators; per k two ymm loads of B and
 * six broadcasts of A.
 */
#include <immintrin.h>

#include "engine/kernels/gemm_internal.h"

void eml_ukernel_avx2(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                      int accumulate, int mr, int nr)
{
	(void)mr;
	(void)nr;
	__m256 acc0[EML_AVX2_MR], acc1[EML_AVX2_MR];
#pragma GCC unroll 6
	for (int i = 0; i < EML_AVX2_MR; i++) {
		acc0[i] = _mm256_setzero_ps();
		acc1[i] = _mm256_setzero_ps();
	}
	for (size_t k = 0; k < kc; k++) {
		__m256 b0 = _mm256_loadu_ps(b);
		__m256 b1 = _mm256_loadu_ps(b + 8);
		_mm_prefetch((const char *)(b + 8 * EML_AVX2_NR), _MM_HINT_T0);
#pragma GCC unroll 6
		for (int i = 0; i < EML_AVX2_MR; i++) {
			__m256 av = _mm256_broadcast_ss(a + i);
			acc0[i] = _mm256_fmadd_ps(av, b0, acc0[i]);
			acc1[i] = _mm256_fmadd_ps(av, b1, acc1[i]);
		}
		a += EML_AVX2_MR;
		b += EML_AVX2_NR;
	}
	if (accumulate) {
#pragma GCC unroll 6
		for (int i = 0; i < EML_AVX2_MR; i++) {
			float *ci = c + (size_t)i * ldc;
			_mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), acc0[i]));
			_mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc1[i]));
		}
	} else {
#pragma GCC unroll 6
		for (int i = 0; i < EML_AVX2_MR; i++) {
			float *ci = c + (size_t)i * ldc;
			_mm256_storeu_ps(ci, acc0[i]);
			_mm256_storeu_ps(ci + 8, acc1[i]);
		}
	}
}
