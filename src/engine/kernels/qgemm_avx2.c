/*
 * Integer GEMM micro-kernel with AVX2 on int16 operands (zero points already subtracted, so
 * values lie in [-255, 255]): vpmaddwd multiplies pairs and adds each pair into an int32 lane
 * (at most 2 * 255^2, never saturating). Exact for every uint8/int8 combination, unlike
 * vpmaddubsw, whose int16 pair sums saturate (2 * 255 * 128 > 32767). Contract in
 * qgemm_internal.h. 6 rows x 16 columns (two 8-column panels): 12 accumulators.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/qgemm_internal.h"

void eml_qgemm_ukernel_i16_avx2(size_t kp, const int16_t *a, size_t lda, int h, const int16_t *b0,
                                const int16_t *b1, int32_t *acc)
{
	const int16_t *ar[EML_QG_I16_MR];
	for (int r = 0; r < EML_QG_I16_MR; r++)
		ar[r] = a + (size_t)(r < h ? r : 0) * lda;
	__m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
	        c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	const int16_t *bb1 = b1 != NULL ? b1 : b0;
	for (size_t p = 0; p < kp; p++) {
		__m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(b0 + p * 16));
		__m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(bb1 + p * 16));
		int32_t w;
#define ROW(r, lo, hi)                                                                             \
	memcpy(&w, ar[r] + 2 * p, 4);                                                              \
	{                                                                                          \
		__m256i av = _mm256_set1_epi32(w);                                                 \
		lo = _mm256_add_epi32(lo, _mm256_madd_epi16(av, x0));                              \
		hi = _mm256_add_epi32(hi, _mm256_madd_epi16(av, x1));                              \
	}
		ROW(0, c00, c01)
		ROW(1, c10, c11)
		ROW(2, c20, c21)
		ROW(3, c30, c31)
		ROW(4, c40, c41)
		ROW(5, c50, c51)
#undef ROW
	}
	const int PW = EML_QG_I16_PW;
	_mm256_storeu_si256((__m256i *)(void *)(acc + 0 * 2 * PW), c00);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 0 * 2 * PW + PW), c01);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 1 * 2 * PW), c10);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 1 * 2 * PW + PW), c11);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 2 * 2 * PW), c20);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 2 * 2 * PW + PW), c21);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 3 * 2 * PW), c30);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 3 * 2 * PW + PW), c31);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 4 * 2 * PW), c40);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 4 * 2 * PW + PW), c41);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 5 * 2 * PW), c50);
	_mm256_storeu_si256((__m256i *)(void *)(acc + 5 * 2 * PW + PW), c51);
}

void eml_minmax_avx2(const float *x, size_t n, float *mn, float *mx)
{
	__m256 lo = _mm256_setzero_ps(), hi = lo;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		/* minps/maxps return the second operand when either is NaN: NaN is ignored */
		lo = _mm256_min_ps(v, lo);
		hi = _mm256_max_ps(v, hi);
	}
	float l[8], h[8];
	_mm256_storeu_ps(l, lo);
	_mm256_storeu_ps(h, hi);
	float a = 0, b = 0;
	for (int k = 0; k < 8; k++) {
		a = l[k] < a ? l[k] : a;
		b = h[k] > b ? h[k] : b;
	}
	for (; i < n; i++) {
		a = x[i] < a ? x[i] : a;
		b = x[i] > b ? x[i] : b;
	}
	*mn = a;
	*mx = b;
}

void eml_quant_u8_avx2(const float *x, size_t n, float scale, int32_t zp, uint8_t *y)
{
	const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps((float)zp);
	const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 q = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
		q = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, z), lo), hi);
		__m256i v = _mm256_cvtps_epi32(q);
		__m128i w =
		    _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
		w = _mm_packus_epi16(w, w);
		_mm_storel_epi64((__m128i *)(void *)(y + i), w);
	}
	for (; i < n; i++) {
		float q = __builtin_nearbyintf(x[i] / scale) + (float)zp;
		y[i] = (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
	}
}
