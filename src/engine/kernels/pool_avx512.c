/*
 * AVX-512 2-D pooling row: 16 outputs per vector; window taps outside the input are masked-out
 * lanes (read as -inf for max, 0 for average), stride 2 reads two vectors and keeps the even
 * lanes, other strides gather. Max propagates NaN like the portable path (a NaN anywhere in
 * the window gives NaN); average divides by the per-lane count of the portable path.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "engine/kernels/pool_internal.h"

static long long min_ll(long long a, long long b)
{
	return a < b ? a : b;
}

static long long max_ll(long long a, long long b)
{
	return a > b ? a : b;
}

void eml_pool2d_row_avx512(const eml_pool2d_geom *g, const float *x, size_t oh, float *y)
{
	const long long H = (long long)g->ih, W = (long long)g->iw, sw = (long long)g->sw;
	const __m512i lane =
	    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	const __m512i even =
	    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512 fill = _mm512_set1_ps(g->is_max ? -INFINITY : 0.0f);
	long long hs = (long long)(oh * g->sh) - (long long)g->ph;
	long long he = hs + (long long)g->kh;
	long long h0 = max_ll(hs, 0), h1 = min_ll(he, H);
	long long hpe = min_ll(he, H + (long long)g->peh);
	for (size_t ow0 = 0; ow0 < g->ow; ow0 += 16) {
		size_t nl = g->ow - ow0 < 16 ? g->ow - ow0 : 16;
		__mmask16 out_mask = (__mmask16)((1u << nl) - 1);
		__m512 acc = fill;
		__mmask16 nan = 0;
		for (long long h = h0; h < h1; h++) {
			const float *xr = x + h * W;
			for (size_t kw = 0; kw < g->kw; kw++) {
				long long first =
				    (long long)ow0 * sw + (long long)kw - (long long)g->pw;
				__m512 xv;
				if (sw <= 2) {
					/* inputs first .. first + 16*sw - 1, out-of-row ones masked */
					long long span = 16 * sw;
					long long jlo = first >= 0 ? 0 : -first;
					long long jhi = min_ll(W - first, span);
					if (jlo >= jhi)
						continue;
					uint32_t m32 =
					    (uint32_t)((jhi >= 32 ? ~0ull : (1ull << jhi) - 1) &
					               ~((1ull << jlo) - 1));
					__m512 a0 =
					    _mm512_mask_loadu_ps(fill, (__mmask16)m32, xr + first);
					if (sw == 1) {
						xv = a0;
					} else {
						__m512 a1 = _mm512_mask_loadu_ps(
						    fill, (__mmask16)(m32 >> 16), xr + first + 16);
						xv = _mm512_permutex2var_ps(a0, even, a1);
					}
				} else {
					long long lo = first >= 0 ? 0 : (-first + sw - 1) / sw;
					long long lim = W - first;
					long long hi = lim <= 0 ? 0 : (lim + sw - 1) / sw;
					hi = min_ll(hi, 16);
					if (lo >= hi)
						continue;
					__mmask16 m = (__mmask16)(((1u << (unsigned)hi) - 1) &
					                          ~((1u << (unsigned)lo) - 1));
					__m512i idx = _mm512_add_epi32(
					    _mm512_set1_epi32((int)first),
					    _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sw)));
					xv = _mm512_mask_i32gather_ps(fill, m, idx, xr, 4);
				}
				if (g->is_max) {
					nan |= _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q);
					acc = _mm512_max_ps(acc, xv);
				} else {
					acc = _mm512_add_ps(acc, xv);
				}
			}
		}
		if (g->is_max) {
			acc = _mm512_mask_mov_ps(acc, nan, _mm512_set1_ps(NAN));
		} else {
			/* per-lane divisor, as the portable path computes it */
			float div[16];
			for (size_t l = 0; l < 16; l++) {
				long long ws = (long long)((ow0 + l) * g->sw) - (long long)g->pw;
				long long we = ws + (long long)g->kw;
				long long d;
				if (g->count_include_pad)
					d = (hpe - hs) * (min_ll(we, W + (long long)g->pew) - ws);
				else
					d = (h1 - h0) * (min_ll(we, W) - max_ll(ws, 0));
				if (h1 <= h0 || min_ll(we, W) <= max_ll(ws, 0))
					d = g->count_include_pad ? d : 0;
				div[l] = d > 0 ? 1.0f / (float)d : 0.0f;
			}
			acc = _mm512_mul_ps(acc, _mm512_loadu_ps(div));
		}
		_mm512_mask_storeu_ps(y + ow0, out_mask, acc);
	}
}
