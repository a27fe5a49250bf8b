/*
 * Pooling kernels (see pool.h). Semantics from the ONNX operator specs
 * (https://onnx.ai/onnx/operators/onnx__MaxPool.html, onnx__AveragePool.html); the ceil_mode
 * rule "a window may not start in the end padding" follows PyTorch's pooling_output_shape, which
 * ONNX's reference implementation adopted.
 */
#include "engine/kernels/pool.h"

#include <math.h>
#include <string.h>

#include "engine/kernels/gemm.h"
#include "engine/kernels/pool_internal.h"

static size_t prod(const size_t *v, int n)
{
	size_t p = 1;
	for (int i = 0; i < n; i++)
		p *= v[i];
	return p;
}

int eml_pool_out_shape(eml_pool_params *p)
{
	if (p->nd < 1 || p->nd > EML_POOL_MAX_ND)
		return -1;
	for (int i = 0; i < p->nd; i++) {
		if (p->kernel[i] == 0 || p->stride[i] == 0 || p->dilation[i] == 0)
			return -1;
		size_t span = (p->kernel[i] - 1) * p->dilation[i] + 1;
		size_t padded = p->in[i] + p->pad_begin[i] + p->pad_end[i];
		if (padded < span)
			return -1;
		size_t num = padded - span;
		size_t out = num / p->stride[i] + 1;
		if (p->ceil_mode && num % p->stride[i] != 0) {
			out++;
			if ((out - 1) * p->stride[i] >= p->in[i] + p->pad_begin[i])
				out--;
		}
		p->out[i] = out;
	}
	return 0;
}

enum { POOL_MAX, POOL_AVG };

typedef struct pool_job {
	const eml_pool_params *p;
	const float *x;
	float *y;
	int64_t *ind;
	int kind;
	int simd; /* 0 portable, 1 AVX-512 rows, 2 AVX2 rows */
	size_t is, os;
} pool_job;

/* Column-major flattened offset of a row-major offset (storage_order 1). */
static size_t colmajor_offset(const eml_pool_params *p, size_t off)
{
	size_t idx[EML_POOL_MAX_ND];
	for (int d = p->nd - 1; d >= 0; d--) {
		idx[d] = off % p->in[d];
		off /= p->in[d];
	}
	size_t r = 0, mul = 1;
	for (int d = 0; d < p->nd; d++) {
		r += idx[d] * mul;
		mul *= p->in[d];
	}
	return r;
}

/* Generic N-D: one plane. */
static void pool_plane_nd(const pool_job *j, size_t plane)
{
	const eml_pool_params *p = j->p;
	const int nd = p->nd;
	const float *x = j->x + plane * j->is;
	float *y = j->y + plane * j->os;
	size_t o[EML_POOL_MAX_ND] = {0};
	size_t kp = prod(p->kernel, nd);
	for (size_t oi = 0; oi < j->os; oi++) {
		float best = -INFINITY;
		size_t best_off = 0;
		int have = 0;
		double sum = 0;
		size_t count = 0, count_pad = 0;
		for (size_t kr0 = 0; kr0 < kp; kr0++) {
			size_t kr = kr0, off = 0;
			int valid = 1, in_padded = 1;
			long long id[EML_POOL_MAX_ND];
			for (int d = nd - 1; d >= 0; d--) {
				size_t k = kr % p->kernel[d];
				kr /= p->kernel[d];
				id[d] = (long long)(o[d] * p->stride[d] + k * p->dilation[d]) -
				        (long long)p->pad_begin[d];
				if (id[d] < 0 || id[d] >= (long long)p->in[d])
					valid = 0;
				if (id[d] >= (long long)(p->in[d] + p->pad_end[d]))
					in_padded = 0;
			}
			count_pad += (size_t)in_padded;
			if (!valid)
				continue;
			for (int d = 0; d < nd; d++)
				off = off * p->in[d] + (size_t)id[d];
			float v = x[off];
			count++;
			sum += v;
			if (!have || v > best || isnan(v)) {
				if (!(have && isnan(best))) {
					best = v;
					best_off = off;
				}
				have = 1;
			}
		}
		if (j->kind == POOL_MAX) {
			y[oi] = best;
			if (j->ind)
				j->ind[plane * j->os + oi] =
				    (int64_t)(plane * j->is + (p->storage_order
				                                   ? colmajor_offset(p, best_off)
				                                   : best_off));
		} else {
			size_t div = p->count_include_pad ? count_pad : count;
			y[oi] = div ? (float)(sum / (double)div) : 0.0f;
		}
		for (int d = nd - 1; d >= 0; d--) {
			if (++o[d] < p->out[d])
				break;
			o[d] = 0;
		}
	}
}

/* 2-D fast path (no dilation): window bounds clipped once per output. */
static void pool_plane_2d(const pool_job *j, size_t plane)
{
	const eml_pool_params *p = j->p;
	const size_t H = p->in[0], W = p->in[1], OH = p->out[0], OW = p->out[1];
	const float *x = j->x + plane * j->is;
	float *y = j->y + plane * j->os;
	for (size_t oh = 0; oh < OH; oh++) {
		long long hs = (long long)(oh * p->stride[0]) - (long long)p->pad_begin[0];
		long long he = hs + (long long)p->kernel[0];
		long long hpe =
		    he < (long long)(H + p->pad_end[0]) ? he : (long long)(H + p->pad_end[0]);
		long long h0 = hs < 0 ? 0 : hs, h1 = he < (long long)H ? he : (long long)H;
		for (size_t ow = 0; ow < OW; ow++) {
			long long ws = (long long)(ow * p->stride[1]) - (long long)p->pad_begin[1];
			long long we = ws + (long long)p->kernel[1];
			long long wpe = we < (long long)(W + p->pad_end[1])
			                    ? we
			                    : (long long)(W + p->pad_end[1]);
			long long w0 = ws < 0 ? 0 : ws, w1 = we < (long long)W ? we : (long long)W;
			size_t oi = oh * OW + ow;
			if (j->kind == POOL_MAX) {
				float best = -INFINITY;
				size_t bo = 0;
				int have = 0;
				for (long long h = h0; h < h1; h++)
					for (long long w = w0; w < w1; w++) {
						float v = x[h * (long long)W + w];
						if (!have || v > best ||
						    (isnan(v) && !isnan(best))) {
							best = v;
							bo = (size_t)(h * (long long)W + w);
							have = 1;
						}
					}
				y[oi] = best;
				if (j->ind) {
					size_t off = bo;
					if (p->storage_order)
						off = (bo % W) * H + bo / W;
					j->ind[plane * j->os + oi] = (int64_t)(plane * j->is + off);
				}
			} else {
				double sum = 0;
				for (long long h = h0; h < h1; h++)
					for (long long w = w0; w < w1; w++)
						sum += x[h * (long long)W + w];
				long long div;
				if (p->count_include_pad)
					div = (hpe - hs) * (wpe - ws);
				else
					div = (h1 - h0) * (w1 - w0);
				if (h1 <= h0 || w1 <= w0)
					div = p->count_include_pad ? div : 0;
				y[oi] = div > 0 ? (float)(sum / (double)div) : 0.0f;
			}
		}
	}
}

/* SIMD rows for 2-D pooling without dilation or indices: 1 AVX-512, 2 AVX2, 0 none. */
static int simd_pool_ok(const pool_job *j)
{
#if defined(__x86_64__)
	const eml_pool_params *p = j->p;
	if (j->ind || p->nd != 2 || p->dilation[0] != 1 || p->dilation[1] != 1 ||
	    p->in[1] * p->stride[1] + p->kernel[1] + p->pad_begin[1] >= ((size_t)1 << 30))
		return 0;
	/* Follows the GEMM ISA choice, so eml_sgemm_force_isa covers every path in tests. */
	if (strcmp(eml_sgemm_isa(), "avx512") == 0)
		return 1;
	if (strcmp(eml_sgemm_isa(), "avx2") == 0)
		return 2;
	return 0;
#else
	(void)j;
	return 0;
#endif
}

static void pool_plane_simd(const pool_job *j, size_t plane)
{
#if defined(__x86_64__)
	const eml_pool_params *p = j->p;
	eml_pool2d_geom g = {.ih = p->in[0],
	                     .iw = p->in[1],
	                     .oh = p->out[0],
	                     .ow = p->out[1],
	                     .kh = p->kernel[0],
	                     .kw = p->kernel[1],
	                     .sh = p->stride[0],
	                     .sw = p->stride[1],
	                     .ph = p->pad_begin[0],
	                     .pw = p->pad_begin[1],
	                     .peh = p->pad_end[0],
	                     .pew = p->pad_end[1],
	                     .is_max = j->kind == POOL_MAX,
	                     .count_include_pad = p->count_include_pad};
	const float *x = j->x + plane * j->is;
	float *y = j->y + plane * j->os;
	for (size_t oh = 0; oh < g.oh; oh++) {
		if (j->simd == 1)
			eml_pool2d_row_avx512(&g, x, oh, y + oh * g.ow);
		else
			eml_pool2d_row_avx2(&g, x, oh, y + oh * g.ow);
	}
#else
	(void)j;
	(void)plane;
#endif
}

static void pool_task(void *ctx, size_t plane, int thread)
{
	(void)thread;
	const pool_job *j = ctx;
	const eml_pool_params *p = j->p;
	if (j->simd)
		pool_plane_simd(j, plane);
	else if (p->nd == 2 && p->dilation[0] == 1 && p->dilation[1] == 1)
		pool_plane_2d(j, plane);
	else
		pool_plane_nd(j, plane);
}

static void pool_run(eml_threadpool *pool, const eml_pool_params *p, const float *X, float *Y,
                     int64_t *indices, int kind)
{
	pool_job j = {.p = p,
	              .x = X,
	              .y = Y,
	              .ind = indices,
	              .kind = kind,
	              .is = prod(p->in, p->nd),
	              .os = prod(p->out, p->nd)};
	if (j.os == 0)
		return;
	j.simd = simd_pool_ok(&j);
	eml_threadpool_run(pool, p->batch * p->channels, pool_task, &j);
}

void eml_maxpool(eml_threadpool *pool, const eml_pool_params *p, const float *X, float *Y,
                 int64_t *indices)
{
	pool_run(pool, p, X, Y, indices, POOL_MAX);
}

void eml_avgpool(eml_threadpool *pool, const eml_pool_params *p, const float *X, float *Y)
{
	pool_run(pool, p, X, Y, NULL, POOL_AVG);
}

typedef struct gpool_job {
	const float *x;
	float *y;
	size_t size;
	int kind;
} gpool_job;

static void gpool_task(void *ctx, size_t plane, int thread)
{
	(void)thread;
	const gpool_job *j = ctx;
	const float *x = j->x + plane * j->size;
	if (j->kind == POOL_AVG) {
		/* Four partial sums: vectorizes and halves the rounding drift of one long sum. */
		float s[4] = {0, 0, 0, 0};
		size_t i = 0;
		for (; i + 4 <= j->size; i += 4)
			for (int l = 0; l < 4; l++)
				s[l] += x[i + (size_t)l];
		double sum = (double)s[0] + s[1] + s[2] + s[3];
		for (; i < j->size; i++)
			sum += x[i];
		j->y[plane] = j->size ? (float)(sum / (double)j->size) : 0.0f;
	} else {
		float best = -INFINITY;
		for (size_t i = 0; i < j->size; i++)
			if (x[i] > best || isnan(x[i]))
				best = x[i];
		j->y[plane] = best;
	}
}

void eml_global_avgpool(eml_threadpool *pool, size_t planes, size_t size, const float *X, float *Y)
{
	gpool_job j = {.x = X, .y = Y, .size = size, .kind = POOL_AVG};
	eml_threadpool_run(pool, planes, gpool_task, &j);
}

void eml_global_maxpool(eml_threadpool *pool, size_t planes, size_t size, const float *X, float *Y)
{
	gpool_job j = {.x = X, .y = Y, .size = size, .kind = POOL_MAX};
	eml_threadpool_run(pool, planes, gpool_task, &j);
}
