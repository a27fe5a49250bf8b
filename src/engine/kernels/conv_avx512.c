/*
 * AVX-512 depthwise conv row: 16 outputs per vector accumulate every tap in a register; the taps
 * that fall into the padding are masked-out lanes (masked loads read nothing there, and give 0),
 * so there is no separate edge code. Stride 1 reads contiguous input; other strides gather.
 */
#include <immintrin.h>

#include "engine/kernels/conv_internal.h"

void eml_dw_row_avx512(const eml_dw_geom *g, const float *x, const float *w, float bias, size_t oh,
                       float *y)
{
	const long long iw_n = (long long)g->iw, sw = (long long)g->sw;
	const __m512i lane =
	    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	for (size_t ow0 = 0; ow0 < g->ow; ow0 += 16) {
		size_t nl = g->ow - ow0 < 16 ? g->ow - ow0 : 16;
		__mmask16 out_mask = (__mmask16)((1u << nl) - 1);
		__m512 acc = _mm512_set1_ps(bias);
		for (size_t kh = 0; kh < g->kh; kh++) {
			long long ih = (long long)(oh * g->sh + kh * g->dh) - (long long)g->ph;
			if (ih < 0 || ih >= (long long)g->ih)
				continue;
			const float *xr = x + (size_t)ih * g->iw;
			for (size_t kw = 0; kw < g->kw; kw++) {
				long long first = (long long)ow0 * sw + (long long)(kw * g->dw) -
				                  (long long)g->pw;
				/* lanes l with 0 <= first + l*sw < iw */
				long long lo = first >= 0 ? 0 : (-first + sw - 1) / sw;
				long long lim = iw_n - first;
				long long hi = lim <= 0 ? 0 : (lim + sw - 1) / sw;
				if (hi > (long long)nl)
					hi = (long long)nl;
				if (lo >= hi)
					continue;
				__mmask16 m = (__mmask16)(((1u << (unsigned)hi) - 1) &
				                          ~((1u << (unsigned)lo) - 1));
				__m512 wv = _mm512_set1_ps(w[kh * g->kw + kw]);
				__m512 xv;
				if (sw == 1) {
					/* Masked-off lanes are not accessed, wherever they point. */
					xv = _mm512_maskz_loadu_ps(m, xr + first);
				} else {
					__m512i idx = _mm512_add_epi32(
					    _mm512_set1_epi32((int)first),
					    _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sw)));
					xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx,
					                              xr, 4);
				}
				acc = _mm512_fmadd_ps(wv, xv, acc);
			}
		}
		_mm512_mask_storeu_ps(y + ow0, out_mask, acc);
	}
}
