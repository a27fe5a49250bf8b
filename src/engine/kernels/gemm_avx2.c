/*
 * AVX2/FMA SGEMM micro-kernel: up to 6 x 16 tile in 12 ymm accumulators; per k two ymm loads of B
 * and six broadcasts of A. Edge tiles are handled here: the row count selects a specialization,
 * columns use maskload/maskstore, one vector only when 8 columns or fewer remain.
 */
#include <immintrin.h>

#include "engine/kernels/gemm_internal.h"

#define AMR EML_AVX2_MR

static inline __attribute__((always_inline)) void kern(const int R, const int V, size_t kc,
                                                       const float *a, const float *b, size_t ldb,
                                                       float *c, size_t ldc, int accumulate,
                                                       __m256i m0, __m256i m1)
{
	__m256 acc0[AMR], acc1[AMR];
#pragma GCC unroll 6
	for (int i = 0; i < R; i++) {
		acc0[i] = _mm256_setzero_ps();
		acc1[i] = _mm256_setzero_ps();
	}
#pragma GCC unroll 6
	for (int i = 0; i < R; i++)
		_mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
	for (size_t k = 0; k < kc; k++) {
		_mm_prefetch((const char *)(b + 8 * ldb), _MM_HINT_T0);
		_mm_prefetch((const char *)(a + 8 * AMR), _MM_HINT_T0);
		__m256 b0 = _mm256_loadu_ps(b);
		__m256 b1 = V == 2 ? _mm256_loadu_ps(b + 8) : b0;
#pragma GCC unroll 6
		for (int i = 0; i < R; i++) {
			__m256 av = _mm256_broadcast_ss(a + i);
			acc0[i] = _mm256_fmadd_ps(av, b0, acc0[i]);
			if (V == 2)
				acc1[i] = _mm256_fmadd_ps(av, b1, acc1[i]);
		}
		a += AMR;
		b += ldb;
	}
#pragma GCC unroll 6
	for (int i = 0; i < R; i++) {
		float *ci = c + (size_t)i * ldc;
		if (accumulate) {
			acc0[i] = _mm256_add_ps(_mm256_maskload_ps(ci, m0), acc0[i]);
			if (V == 2)
				acc1[i] = _mm256_add_ps(_mm256_maskload_ps(ci + 8, m1), acc1[i]);
		}
		_mm256_maskstore_ps(ci, m0, acc0[i]);
		if (V == 2)
			_mm256_maskstore_ps(ci + 8, m1, acc1[i]);
	}
}

static __m256i lane_mask(int n)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

#define KCASE(R)                                                                                   \
	case R:                                                                                    \
		if (w > 8)                                                                         \
			kern(R, 2, kc, a, b, ldb, c, ldc, accumulate, m0, m1);                     \
		else                                                                               \
			kern(R, 1, kc, a, b, ldb, c, ldc, accumulate, m0, m1);                     \
		break;

void eml_ukernel_avx2(size_t kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                      int accumulate, int h, int w)
{
	__m256i m0 = lane_mask(w), m1 = lane_mask(w - 8);
	switch (h) {
		KCASE(1)
		KCASE(2)
		KCASE(3)
		KCASE(4)
		KCASE(5)
	default:
		if (w > 8)
			kern(AMR, 2, kc, a, b, ldb, c, ldc, accumulate, m0, m1);
		else
			kern(AMR, 1, kc, a, b, ldb, c, ldc, accumulate, m0, m1);
		break;
	}
}

void eml_gemm_small_m_avx2(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                           int trans_a, const float *B, size_t ldb, float *C, size_t ldc,
                           int accumulate)
{
	size_t nv = N / 8, rem = N % 8;
	__m256i mt = lane_mask((int)rem);
	if (!accumulate)
		for (size_t m = 0; m < M; m++)
			for (size_t j = 0; j < N; j++)
				C[m * ldc + j] = 0.0f;
	for (size_t k = 0; k < K; k++) {
		const float *b = B + k * ldb;
		for (size_t m = 0; m < M; m++) {
			__m256 a =
			    _mm256_set1_ps(alpha * (trans_a ? A[k * lda + m] : A[m * lda + k]));
			float *c = C + m * ldc;
			size_t v = 0;
			for (; v + 4 <= nv; v += 4) {
				__m256 c0 = _mm256_loadu_ps(c + 8 * v);
				__m256 c1 = _mm256_loadu_ps(c + 8 * v + 8);
				__m256 c2 = _mm256_loadu_ps(c + 8 * v + 16);
				__m256 c3 = _mm256_loadu_ps(c + 8 * v + 24);
				c0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 8 * v), c0);
				c1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 8 * v + 8), c1);
				c2 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 8 * v + 16), c2);
				c3 = _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 8 * v + 24), c3);
				_mm256_storeu_ps(c + 8 * v, c0);
				_mm256_storeu_ps(c + 8 * v + 8, c1);
				_mm256_storeu_ps(c + 8 * v + 16, c2);
				_mm256_storeu_ps(c + 8 * v + 24, c3);
			}
			for (; v < nv; v++)
				_mm256_storeu_ps(c + 8 * v,
				                 _mm256_fmadd_ps(a, _mm256_loadu_ps(b + 8 * v),
				                                 _mm256_loadu_ps(c + 8 * v)));
			if (rem)
				_mm256_maskstore_ps(
				    c + 8 * nv, mt,
				    _mm256_fmadd_ps(a, _mm256_maskload_ps(b + 8 * nv, mt),
				                    _mm256_maskload_ps(c + 8 * nv, mt)));
		}
	}
}

void eml_pack_b_avx2(const float *B, size_t ldb, size_t k0, size_t kc, size_t n0, size_t nc,
                     float *dst, size_t ps)
{
	for (size_t j0 = 0; j0 < nc; j0 += EML_AVX2_NR) {
		float *p = dst + (j0 / EML_AVX2_NR) * ps;
		size_t w = nc - j0 < EML_AVX2_NR ? nc - j0 : EML_AVX2_NR;
		const float *src = B + k0 * ldb + n0 + j0;
		if (w == EML_AVX2_NR) {
			for (size_t k = 0; k < kc; k++, src += ldb, p += EML_AVX2_NR) {
				_mm256_storeu_ps(p, _mm256_loadu_ps(src));
				_mm256_storeu_ps(p + 8, _mm256_loadu_ps(src + 8));
			}
		} else {
			__m256i m0 = lane_mask((int)w), m1 = lane_mask((int)w - 8);
			for (size_t k = 0; k < kc; k++, src += ldb, p += EML_AVX2_NR) {
				_mm256_storeu_ps(p, _mm256_maskload_ps(src, m0));
				_mm256_storeu_ps(p + 8, _mm256_maskload_ps(src + 8, m1));
			}
		}
	}
}

/* 8 x 8 transpose (the usual unpack / shuffle / 128-bit permute network). */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8])
{
	__m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
	__m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
	__m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
	__m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
	__m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
	__m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
	__m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
	__m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
	r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
	r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
	r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
	r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
	r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
	r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
	r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
	r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

void eml_pack_a_avx2(const float *src, size_t lda, size_t kc, float *p)
{
	const __m256i m6 = lane_mask(EML_AVX2_MR);
	size_t k0 = 0;
	for (; k0 + 8 <= kc; k0 += 8) {
		__m256 r[8];
#pragma GCC unroll 6
		for (int i = 0; i < EML_AVX2_MR; i++)
			r[i] = _mm256_loadu_ps(src + (size_t)i * lda + k0);
		r[6] = r[7] = _mm256_setzero_ps();
		transpose8(r);
		/* row j of the transpose is k = k0 + j: 6 values, one panel row */
#pragma GCC unroll 8
		for (int j = 0; j < 8; j++)
			_mm256_maskstore_ps(p + (k0 + (size_t)j) * EML_AVX2_MR, m6, r[j]);
	}
	for (; k0 < kc; k0++)
		for (int i = 0; i < EML_AVX2_MR; i++)
			p[k0 * EML_AVX2_MR + (size_t)i] = src[(size_t)i * lda + k0];
}
