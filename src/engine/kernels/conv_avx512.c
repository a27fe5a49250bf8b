/*
 * AVX-512 depthwise conv row: 16 outputs per vector accumulate every tap in a register; the taps
 * that fall into the padding are masked-out lanes (masked loads read nothing there, and give 0),
 * so there is no separate edge code. Stride 1 reads contiguous input; other strides gather.
 */
#include <immintrin.h>
#include <stdint.h>

#include "engine/kernels/conv_internal.h"

void eml_dw_row_avx512(const eml_dw_geom *g, const float *x, const float *w, float bias, size_t oh,
                       float *y)
{
	const long long iw_n = (long long)g->iw, sw = (long long)g->sw;
	const __m512i lane =
	    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	const __m512i even =
	    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	for (size_t ow0 = 0; ow0 < g->ow; ow0 += 16) {
		size_t nl = g->ow - ow0 < 16 ? g->ow - ow0 : 16;
		__mmask16 out_mask = (__mmask16)((1u << nl) - 1);
		__m512 acc = _mm512_set1_ps(bias);
		/* Interior block: every tap of all 16 lanes is inside the row (stride 1 and 2 read
		 * whole vectors, no mask arithmetic). */
		long long first0 = (long long)ow0 * sw - (long long)g->pw;
		long long last = (long long)(ow0 + 15) * sw + (long long)((g->kw - 1) * g->dw) -
		                 (long long)g->pw;
		int interior =
		    nl == 16 && first0 >= 0 && last + (sw == 2 ? 1 : 0) < iw_n && sw <= 2;
		for (size_t kh = 0; kh < g->kh; kh++) {
			long long ih = (long long)(oh * g->sh + kh * g->dh) - (long long)g->ph;
			if (ih < 0 || ih >= (long long)g->ih)
				continue;
			const float *xr = x + (size_t)ih * g->iw;
			if (interior) {
				for (size_t kw = 0; kw < g->kw; kw++) {
					const float *xp = xr + first0 + (long long)(kw * g->dw);
					__m512 wv = _mm512_set1_ps(w[kh * g->kw + kw]);
					__m512 xv;
					if (sw == 1)
						xv = _mm512_loadu_ps(xp);
					else
						xv = _mm512_permutex2var_ps(
						    _mm512_loadu_ps(xp), even,
						    _mm512_loadu_ps(xp + 16));
					acc = _mm512_fmadd_ps(wv, xv, acc);
				}
				continue;
			}
			for (size_t kw = 0; kw < g->kw; kw++) {
				long long first = (long long)ow0 * sw + (long long)(kw * g->dw) -
				                  (long long)g->pw;
				if (sw == 2) {
					/* 32 consecutive inputs from `first`, out-of-row ones masked
					 * off (read as 0), then the even ones. */
					long long jlo = first >= 0 ? 0 : -first;
					long long jhi = iw_n - first;
					if (jhi > 32)
						jhi = 32;
					if (jlo >= jhi)
						continue;
					uint32_t m32 =
					    (uint32_t)((jhi >= 32 ? ~0ull : (1ull << jhi) - 1) &
					               ~((1ull << jlo) - 1));
					__m512 a0 =
					    _mm512_maskz_loadu_ps((__mmask16)m32, xr + first);
					__m512 a1 = _mm512_maskz_loadu_ps((__mmask16)(m32 >> 16),
					                                  xr + first + 16);
					acc = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * g->kw + kw]),
					                      _mm512_permutex2var_ps(a0, even, a1),
					                      acc);
					continue;
				}
				/* lanes l with 0 <= first + l*sw < iw */
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

/*
 * A whole zero-padded plane (every tap of every lane inside `x`, rows g->iw floats apart, no
 * padding left: g->ph = g->pw = 0, stride 1 or 2). Output blocks of 16 lanes are taken four at a
 * time, across rows when a row is narrow, so four independent accumulators hide the FMA latency
 * that a single chain of kh*kw taps would expose.
 */
void eml_dw_plane_avx512(const eml_dw_geom *g, const float *x, const float *w, float bias, float *y)
{
	const __m512i even =
	    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const size_t bpr = (g->ow + 15) / 16, nblk = g->oh * bpr, ntap = g->kh * g->kw;
	/* Tap offsets once per plane (kernels up to DW_PLANE_MAX_TAPS; larger ones recompute). */
	size_t offs[DW_PLANE_MAX_TAPS];
	int table = ntap <= DW_PLANE_MAX_TAPS;
	if (table)
		for (size_t k = 0; k < ntap; k++)
			offs[k] = (k / g->kw) * g->dh * g->iw + (k % g->kw) * g->dw;
	for (size_t t0 = 0; t0 < nblk; t0 += 4) {
		size_t nb = nblk - t0 < 4 ? nblk - t0 : 4;
		const float *xb[4];
		float *yb[4];
		__mmask16 mk[4];
		for (size_t b = 0; b < 4; b++) {
			size_t t = t0 + (b < nb ? b : 0);
			size_t oh = t / bpr, ow0 = (t % bpr) * 16;
			size_t nl = g->ow - ow0 < 16 ? g->ow - ow0 : 16;
			xb[b] = x + oh * g->sh * g->iw + ow0 * g->sw;
			yb[b] = y + oh * g->ow + ow0;
			mk[b] = (__mmask16)((1u << nl) - 1);
		}
		const float *x0 = xb[0], *x1 = xb[1], *x2 = xb[2], *x3 = xb[3];
		__m512 a0 = _mm512_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
		if (g->sw == 1) {
			for (size_t k = 0; k < ntap; k++) {
				size_t off =
				    table ? offs[k]
				          : (k / g->kw) * g->dh * g->iw + (k % g->kw) * g->dw;
				__m512 wv = _mm512_set1_ps(w[k]);
				a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x0 + off), a0);
				a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x1 + off), a1);
				a2 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x2 + off), a2);
				a3 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x3 + off), a3);
			}
		} else {
			for (size_t k = 0; k < ntap; k++) {
				size_t off =
				    table ? offs[k]
				          : (k / g->kw) * g->dh * g->iw + (k % g->kw) * g->dw;
				__m512 wv = _mm512_set1_ps(w[k]);
#define EML_DW_S2(p) _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps((p) + 16))
				a0 = _mm512_fmadd_ps(wv, EML_DW_S2(x0 + off), a0);
				a1 = _mm512_fmadd_ps(wv, EML_DW_S2(x1 + off), a1);
				a2 = _mm512_fmadd_ps(wv, EML_DW_S2(x2 + off), a2);
				a3 = _mm512_fmadd_ps(wv, EML_DW_S2(x3 + off), a3);
#undef EML_DW_S2
			}
		}
		_mm512_mask_storeu_ps(yb[0], mk[0], a0);
		if (nb > 1)
			_mm512_mask_storeu_ps(yb[1], mk[1], a1);
		if (nb > 2)
			_mm512_mask_storeu_ps(yb[2], mk[2], a2);
		if (nb > 3)
			_mm512_mask_storeu_ps(yb[3], mk[3], a3);
	}
}

/*
 * im2col by gathers, into SGEMM's packed-B panels (nr = 16 or 32 columns): column j of row r is
 * x[rowoff[r] + colidx[j]] of a zero-padded input (every index inside it). Lanes past cn are 0.
 */
void eml_im2col_gather_avx512(const float *x, const int32_t *rowoff, size_t rows,
                              const int32_t *colidx, size_t cn, float *panels, size_t nr, size_t ps)
{
	const __m512 zero = _mm512_setzero_ps();
	for (size_t j0 = 0; j0 < cn; j0 += nr) {
		float *dst = panels + (j0 / nr) * ps;
		size_t left = cn - j0;
		__mmask16 m0 = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
		__mmask16 m1 =
		    (__mmask16)(left >= 32 ? 0xFFFF : (left > 16 ? (1u << (left - 16)) - 1 : 0));
		__m512i i0 = _mm512_maskz_loadu_epi32(m0, colidx + j0);
		if (nr == 16) {
			for (size_t r = 0; r < rows; r++) {
				__m512 v = _mm512_mask_i32gather_ps(zero, m0, i0, x + rowoff[r], 4);
				_mm512_storeu_ps(dst + r * 16, v);
			}
			continue;
		}
		__m512i i1 = _mm512_maskz_loadu_epi32(m1, colidx + j0 + 16);
		for (size_t r = 0; r < rows; r++) {
			const float *b = x + rowoff[r];
			__m512 v0 = _mm512_mask_i32gather_ps(zero, m0, i0, b, 4);
			__m512 v1 = _mm512_mask_i32gather_ps(zero, m1, i1, b, 4);
			_mm512_storeu_ps(dst + r * 32, v0);
			_mm512_storeu_ps(dst + r * 32 + 16, v1);
		}
	}
}
