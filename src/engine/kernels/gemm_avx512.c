/*
 * AVX-512 SGEMM micro-kernel: 14 x 32 tile in 28 zmm accumulators; per k one row of B (two zmm
 * loads) and 14 broadcasts of A (folded into the FMAs as embedded broadcasts).
 */
#include <immintrin.h>

#include "engine/kernels/gemm_internal.h"

void eml_ukernel_avx512(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                        int accumulate, int mr, int nr)
{
	(void)mr;
	(void)nr;
	__m512 acc0[EML_AVX512_MR], acc1[EML_AVX512_MR];
#pragma GCC unroll 14
	for (int i = 0; i < EML_AVX512_MR; i++) {
		acc0[i] = _mm512_setzero_ps();
		acc1[i] = _mm512_setzero_ps();
	}
	for (size_t k = 0; k < kc; k++) {
		__m512 b0 = _mm512_loadu_ps(b);
		__m512 b1 = _mm512_loadu_ps(b + 16);
		_mm_prefetch((const char *)(b + 8 * EML_AVX512_NR), _MM_HINT_T0);
#pragma GCC unroll 14
		for (int i = 0; i < EML_AVX512_MR; i++) {
			__m512 av = _mm512_set1_ps(a[i]);
			acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
			acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
		}
		a += EML_AVX512_MR;
		b += EML_AVX512_NR;
	}
	if (accumulate) {
#pragma GCC unroll 14
		for (int i = 0; i < EML_AVX512_MR; i++) {
			float *ci = c + (size_t)i * ldc;
			_mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc0[i]));
			_mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc1[i]));
		}
	} else {
#pragma GCC unroll 14
		for (int i = 0; i < EML_AVX512_MR; i++) {
			float *ci = c + (size_t)i * ldc;
			_mm512_storeu_ps(ci, acc0[i]);
			_mm512_storeu_ps(ci + 16, acc1[i]);
		}
	}
}
