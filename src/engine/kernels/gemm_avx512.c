/*
 * AVX-512 SGEMM micro-kernel: up to 14 x 32 tile in 28 zmm accumulators; per k one row of B (two
 * zmm loads) and 14 broadcasts of A. Edge tiles are handled here rather than through a scratch
 * tile: the row count selects a specialization (no work on missing rows), and columns use masked
 * loads/stores, one vector only when 16 columns or fewer remain.
 */
#include <immintrin.h>
#include <stdint.h>

#include "engine/kernels/gemm_internal.h"

#define AMR EML_AVX512_MR

/* OFFS = 0: row k of B at b + k * ldb (the packed or unpacked B of a GEMM). OFFS = 1: at
 * b + off[k] (eml_ukernel_offsets_avx512), prefetched EML_UKERNEL_PREFETCH_TAPS rows ahead since
 * the rows jump around. */
static inline __attribute__((always_inline)) void kern(const int R, const int V, const int OFFS,
                                                       size_t kc, const float *a, const float *b,
                                                       size_t ldb, const int32_t *off, float *c,
                                                       size_t ldc, int accumulate, __mmask16 m0,
                                                       __mmask16 m1)
{
	__m512 acc0[AMR], acc1[AMR];
#pragma GCC unroll 14
	for (int i = 0; i < R; i++) {
		acc0[i] = _mm512_setzero_ps();
		acc1[i] = _mm512_setzero_ps();
	}
#pragma GCC unroll 14
	for (int i = 0; i < R; i++)
		_mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
	for (size_t k = 0; k < kc; k++) {
		const float *bk = OFFS ? b + off[k] : b;
		const float *bn = OFFS ? b + off[k + EML_UKERNEL_PREFETCH_TAPS] : b + 8 * ldb;
		_mm_prefetch((const char *)bn, _MM_HINT_T0);
		_mm_prefetch((const char *)(bn + 16), _MM_HINT_T0);
		_mm_prefetch((const char *)(a + 8 * AMR), _MM_HINT_T0);
		/* masked: only valid columns are read (B may be unpacked) */
		__m512 b0 = V == 2 ? _mm512_loadu_ps(bk) : _mm512_maskz_loadu_ps(m0, bk);
		__m512 b1 = V == 2 ? _mm512_maskz_loadu_ps(m1, bk + 16) : b0;
#pragma GCC unroll 14
		for (int i = 0; i < R; i++) {
			__m512 av = _mm512_set1_ps(a[i]);
			acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
			if (V == 2)
				acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
		}
		a += AMR;
		if (!OFFS)
			b += ldb;
	}
#pragma GCC unroll 14
	for (int i = 0; i < R; i++) {
		float *ci = c + (size_t)i * ldc;
		if (accumulate) {
			acc0[i] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), acc0[i]);
			if (V == 2)
				acc1[i] =
				    _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), acc1[i]);
		}
		_mm512_mask_storeu_ps(ci, m0, acc0[i]);
		if (V == 2)
			_mm512_mask_storeu_ps(ci + 16, m1, acc1[i]);
	}
}

/* The row count selects a specialization; more than 16 columns take two vectors. */
#define KCASE(R, OFFS)                                                                             \
	case R:                                                                                    \
		if (w > 16)                                                                        \
			kern(R, 2, OFFS, kc, a, b, ldb, off, c, ldc, accumulate, 0xFFFF, m1);      \
		else                                                                               \
			kern(R, 1, OFFS, kc, a, b, ldb, off, c, ldc, accumulate, m0, 0);           \
		break;

#define KSWITCH(OFFS)                                                                              \
	__mmask16 m0 = (__mmask16)(w >= 16 ? 0xFFFF : (1u << w) - 1);                              \
	__mmask16 m1 = (__mmask16)(w >= 32 ? 0xFFFF : (w > 16 ? (1u << (w - 16)) - 1 : 0));        \
	switch (h) {                                                                               \
		KCASE(1, OFFS)                                                                     \
		KCASE(2, OFFS)                                                                     \
		KCASE(3, OFFS)                                                                     \
		KCASE(4, OFFS)                                                                     \
		KCASE(5, OFFS)                                                                     \
		KCASE(6, OFFS)                                                                     \
		KCASE(7, OFFS)                                                                     \
		KCASE(8, OFFS)                                                                     \
		KCASE(9, OFFS)                                                                     \
		KCASE(10, OFFS)                                                                    \
		KCASE(11, OFFS)                                                                    \
		KCASE(12, OFFS)                                                                    \
		KCASE(13, OFFS)                                                                    \
	default:                                                                                   \
		KCASE(AMR, OFFS)                                                                   \
	}

void eml_ukernel_avx512(size_t kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                        int accumulate, int h, int w)
{
	const int32_t *off = NULL;
	KSWITCH(0)
}

void eml_ukernel_offsets_avx512(size_t kc, const float *a, const float *b, const int32_t *off,
                                float *c, size_t ldc, int h, int w)
{
	const size_t ldb = 0;
	const int accumulate = 0;
	KSWITCH(1)
}

void eml_gemm_small_m_avx512(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                             int trans_a, const float *B, size_t ldb, float *C, size_t ldc,
                             int accumulate)
{
	size_t nv = N / 16, rem = N % 16;
	__mmask16 mt = (__mmask16)((1u << rem) - 1);
	if (!accumulate)
		for (size_t m = 0; m < M; m++)
			for (size_t j = 0; j < N; j++)
				C[m * ldc + j] = 0.0f;
	for (size_t k = 0; k < K; k++) {
		const float *b = B + k * ldb;
		for (size_t m = 0; m < M; m++) {
			float av = alpha * (trans_a ? A[k * lda + m] : A[m * lda + k]);
			__m512 a = _mm512_set1_ps(av);
			float *c = C + m * ldc;
			size_t v = 0;
			for (; v + 4 <= nv; v += 4) {
				__m512 c0 = _mm512_loadu_ps(c + 16 * v);
				__m512 c1 = _mm512_loadu_ps(c + 16 * v + 16);
				__m512 c2 = _mm512_loadu_ps(c + 16 * v + 32);
				__m512 c3 = _mm512_loadu_ps(c + 16 * v + 48);
				c0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(b + 16 * v), c0);
				c1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(b + 16 * v + 16), c1);
				c2 = _mm512_fmadd_ps(a, _mm512_loadu_ps(b + 16 * v + 32), c2);
				c3 = _mm512_fmadd_ps(a, _mm512_loadu_ps(b + 16 * v + 48), c3);
				_mm512_storeu_ps(c + 16 * v, c0);
				_mm512_storeu_ps(c + 16 * v + 16, c1);
				_mm512_storeu_ps(c + 16 * v + 32, c2);
				_mm512_storeu_ps(c + 16 * v + 48, c3);
			}
			for (; v < nv; v++)
				_mm512_storeu_ps(c + 16 * v,
				                 _mm512_fmadd_ps(a, _mm512_loadu_ps(b + 16 * v),
				                                 _mm512_loadu_ps(c + 16 * v)));
			if (rem)
				_mm512_mask_storeu_ps(
				    c + 16 * nv, mt,
				    _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(mt, b + 16 * nv),
				                    _mm512_maskz_loadu_ps(mt, c + 16 * nv)));
		}
	}
}

void eml_pack_b_avx512(const float *B, size_t ldb, size_t k0, size_t kc, size_t n0, size_t nc,
                       float *dst, size_t ps)
{
	for (size_t j0 = 0; j0 < nc; j0 += EML_AVX512_NR) {
		float *p = dst + (j0 / EML_AVX512_NR) * ps;
		size_t w = nc - j0 < EML_AVX512_NR ? nc - j0 : EML_AVX512_NR;
		const float *src = B + k0 * ldb + n0 + j0;
		if (w == EML_AVX512_NR) {
			for (size_t k = 0; k < kc; k++, src += ldb, p += EML_AVX512_NR) {
				_mm512_storeu_ps(p, _mm512_loadu_ps(src));
				_mm512_storeu_ps(p + 16, _mm512_loadu_ps(src + 16));
			}
		} else {
			__mmask16 m0 = (__mmask16)(w >= 16 ? 0xFFFF : (1u << w) - 1);
			__mmask16 m1 = (__mmask16)(w > 16 ? (1u << (w - 16)) - 1 : 0);
			for (size_t k = 0; k < kc; k++, src += ldb, p += EML_AVX512_NR) {
				_mm512_storeu_ps(p, _mm512_maskz_loadu_ps(m0, src));
				_mm512_storeu_ps(p + 16, _mm512_maskz_loadu_ps(m1, src + 16));
			}
		}
	}
}

/* 16 x 16 transpose in four butterfly stages of two-source permutes (block sizes 8, 4, 2, 1:
 * rows i and i + b exchange their off-diagonal b-blocks). Fully unrolled: r stays in registers. */
static inline __attribute__((always_inline)) void tr_stage(__m512 r[16], const int b, __m512i lo,
                                                           __m512i hi)
{
#pragma GCC unroll 16
	for (int i = 0; i < 16; i++) {
		if ((i / b) % 2 == 0) {
			__m512 a = r[i], c = r[i + b];
			r[i] = _mm512_permutex2var_ps(a, lo, c);
			r[i + b] = _mm512_permutex2var_ps(a, hi, c);
		}
	}
}

void eml_pack_a_avx512(const float *src, size_t lda, size_t kc, float *p)
{
	const __m512i lo8 =
	    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	const __m512i hi8 =
	    _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	const __m512i lo4 =
	    _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	const __m512i hi4 =
	    _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	const __m512i lo2 =
	    _mm512_setr_epi32(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	const __m512i hi2 =
	    _mm512_setr_epi32(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	const __m512i lo1 =
	    _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	const __m512i hi1 =
	    _mm512_setr_epi32(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	size_t k0 = 0;
	for (; k0 + 16 <= kc; k0 += 16) {
		__m512 r[16];
#pragma GCC unroll 14
		for (int i = 0; i < EML_AVX512_MR; i++)
			r[i] = _mm512_loadu_ps(src + (size_t)i * lda + k0);
		r[14] = r[15] = _mm512_setzero_ps();
		tr_stage(r, 8, lo8, hi8);
		tr_stage(r, 4, lo4, hi4);
		tr_stage(r, 2, lo2, hi2);
		tr_stage(r, 1, lo1, hi1);
		/* row j of the transpose is k = k0 + j: 14 values, one panel row */
#pragma GCC unroll 16
		for (int j = 0; j < 16; j++)
			_mm512_mask_storeu_ps(p + (k0 + (size_t)j) * EML_AVX512_MR, 0x3FFF, r[j]);
	}
	for (; k0 < kc; k0++)
		for (int i = 0; i < EML_AVX512_MR; i++)
			p[k0 * EML_AVX512_MR + (size_t)i] = src[(size_t)i * lda + k0];
}
