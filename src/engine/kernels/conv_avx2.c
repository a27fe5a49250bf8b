/*
 * AVX2 depthwise conv row: the AVX-512 scheme (conv_avx512.c) with 8 lanes; padding taps are
 * masked-out lanes of maskload / masked gathers.
 */
#include <immintrin.h>

#include "engine/kernels/conv_internal.h"

static __m256i lanes_between(long long lo, long long hi)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i ge = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32((int)lo - 1));
	__m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), idx);
	return _mm256_and_si256(ge, lt);
}

void eml_dw_row_avx2(const eml_dw_geom *g, const float *x, const float *w, float bias, size_t oh,
                     float *y)
{
	const long long iw_n = (long long)g->iw, sw = (long long)g->sw;
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	for (size_t ow0 = 0; ow0 < g->ow; ow0 += 8) {
		size_t nl = g->ow - ow0 < 8 ? g->ow - ow0 : 8;
		__m256 acc = _mm256_set1_ps(bias);
		/* Interior block at stride 1: every tap of all 8 lanes inside the row. */
		long long first0 = (long long)ow0 * sw - (long long)g->pw;
		long long last =
		    (long long)(ow0 + 7) * sw + (long long)((g->kw - 1) * g->dw) - (long long)g->pw;
		int interior = nl == 8 && sw == 1 && first0 >= 0 && last < iw_n;
		for (size_t kh = 0; kh < g->kh; kh++) {
			long long ih = (long long)(oh * g->sh + kh * g->dh) - (long long)g->ph;
			if (ih < 0 || ih >= (long long)g->ih)
				continue;
			const float *xr = x + (size_t)ih * g->iw;
			if (interior) {
				for (size_t kw = 0; kw < g->kw; kw++)
					acc = _mm256_fmadd_ps(
					    _mm256_set1_ps(w[kh * g->kw + kw]),
					    _mm256_loadu_ps(xr + first0 + (long long)(kw * g->dw)),
					    acc);
				continue;
			}
			for (size_t kw = 0; kw < g->kw; kw++) {
				long long first = (long long)ow0 * sw + (long long)(kw * g->dw) -
				                  (long long)g->pw;
				long long lim = iw_n - first, lo, hi;
				if (sw == 1) { /* no divisions on the common path */
					lo = first >= 0 ? 0 : -first;
					hi = lim <= 0 ? 0 : lim;
				} else {
					lo = first >= 0 ? 0 : (-first + sw - 1) / sw;
					hi = lim <= 0 ? 0 : (lim + sw - 1) / sw;
				}
				if (hi > (long long)nl)
					hi = (long long)nl;
				if (lo >= hi)
					continue;
				__m256i m = lanes_between(lo, hi);
				__m256 wv = _mm256_set1_ps(w[kh * g->kw + kw]);
				__m256 xv;
				if (sw == 1) {
					/* Masked-off lanes are not accessed, wherever they point. */
					xv = _mm256_maskload_ps(xr + first, m);
				} else {
					__m256i idx = _mm256_add_epi32(
					    _mm256_set1_epi32((int)first),
					    _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)sw)));
					xv = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), xr, idx,
					                              _mm256_castsi256_ps(m), 4);
				}
				acc = _mm256_fmadd_ps(wv, xv, acc);
			}
		}
		_mm256_maskstore_ps(y + ow0, lanes_between(0, (long long)nl), acc);
	}
}
