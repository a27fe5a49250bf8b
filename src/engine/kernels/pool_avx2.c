/*
 * AVX2 2-D pooling row: the AVX-512 scheme (pool_avx512.c) with 8 lanes. Out-of-row taps are
 * masked-out lanes of maskload, replaced by the fill value (-inf for max, 0 for average);
 * stride 2 reads two vectors and keeps the even lanes; other strides gather.
 */
#include <immintrin.h>
#include <math.h>

#include "engine/kernels/pool_internal.h"

static long long min_ll(long long a, long long b)
{
	return a < b ? a : b;
}

static long long max_ll(long long a, long long b)
{
	return a > b ? a : b;
}

/* lanes l with lo <= l < hi */
static __m256i lanes_between(long long lo, long long hi)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i ge = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32((int)lo - 1));
	__m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), idx);
	return _mm256_and_si256(ge, lt);
}

static __m256 load_fill(const float *p, __m256i m, __m256 fill)
{
	return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}

void eml_pool2d_row_avx2(const eml_pool2d_geom *g, const float *x, size_t oh, float *y)
{
	const long long H = (long long)g->ih, W = (long long)g->iw, sw = (long long)g->sw;
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	const __m256 fill = _mm256_set1_ps(g->is_max ? -INFINITY : 0.0f);
	long long hs = (long long)(oh * g->sh) - (long long)g->ph;
	long long he = hs + (long long)g->kh;
	long long h0 = max_ll(hs, 0), h1 = min_ll(he, H);
	long long hpe = min_ll(he, H + (long long)g->peh);
	for (size_t ow0 = 0; ow0 < g->ow; ow0 += 8) {
		size_t nl = g->ow - ow0 < 8 ? g->ow - ow0 : 8;
		__m256 acc = fill;
		__m256 nan = _mm256_setzero_ps();
		for (long long h = h0; h < h1; h++) {
			const float *xr = x + h * W;
			for (size_t kw = 0; kw < g->kw; kw++) {
				long long first =
				    (long long)ow0 * sw + (long long)kw - (long long)g->pw;
				__m256 xv;
				if (sw <= 2) {
					long long span = 8 * sw;
					long long jlo = first >= 0 ? 0 : -first;
					long long jhi = min_ll(W - first, span);
					if (jlo >= jhi)
						continue;
					/* Masked-off lanes are not accessed, wherever they point. */
					__m256 a0 =
					    load_fill(xr + first, lanes_between(jlo, jhi), fill);
					if (sw == 1) {
						xv = a0;
					} else {
						__m256 a1 = load_fill(
						    xr + first + 8, lanes_between(jlo - 8, jhi - 8),
						    fill);
						__m256 ev = _mm256_shuffle_ps(
						    a0, a1, _MM_SHUFFLE(2, 0, 2, 0));
						xv = _mm256_castpd_ps(_mm256_permute4x64_pd(
						    _mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
					}
				} else {
					long long lo = first >= 0 ? 0 : (-first + sw - 1) / sw;
					long long lim = W - first;
					long long hi = lim <= 0 ? 0 : (lim + sw - 1) / sw;
					hi = min_ll(hi, 8);
					if (lo >= hi)
						continue;
					__m256i idx = _mm256_add_epi32(
					    _mm256_set1_epi32((int)first),
					    _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)sw)));
					xv = _mm256_mask_i32gather_ps(
					    fill, xr, idx,
					    _mm256_castsi256_ps(lanes_between(lo, hi)), 4);
				}
				if (g->is_max) {
					nan =
					    _mm256_or_ps(nan, _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
					acc = _mm256_max_ps(acc, xv);
				} else {
					acc = _mm256_add_ps(acc, xv);
				}
			}
		}
		if (g->is_max) {
			acc = _mm256_blendv_ps(acc, _mm256_set1_ps(NAN), nan);
		} else {
			float div[8];
			for (size_t l = 0; l < 8; l++) {
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
			acc = _mm256_mul_ps(acc, _mm256_loadu_ps(div));
		}
		_mm256_maskstore_ps(y + ow0, lanes_between(0, (long long)nl), acc);
	}
}
