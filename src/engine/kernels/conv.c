/*
 * Convolution kernels (see conv.h). ONNX Conv/ConvTranspose semantics
 * (https://onnx.ai/onnx/operators/onnx__Conv.html, onnx__ConvTranspose.html).
 *
 * Conv as GEMM per (image, group): Y_g (M/G x OS) = W_g (M/G x Kg) * col_g (Kg x OS) with
 * Kg = C/G * prod(kernel), OS = prod(out). The weights are the left operand, so they are packed
 * once as GEMM "A" panels. col_g is built by im2col in chunks of output columns so the scratch
 * stays bounded; a 1x1/stride-1/no-pad conv uses the input itself as col_g. Depthwise convs
 * (one input channel per group) skip GEMM: a row-accumulating direct loop is both simpler and
 * faster there.
 */
#include "engine/kernels/conv.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/conv_internal.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/gemm_internal.h"
#include "engine/kernels/vmath.h"

#define COL_BUDGET_FLOATS ((size_t)1 << 20) /* 4 MiB of im2col scratch per thread */
#define COL_MIN_CHUNK 256

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

static size_t prod(const size_t *v, int n)
{
	size_t p = 1;
	for (int i = 0; i < n; i++)
		p *= v[i];
	return p;
}

static int check_common(const eml_conv_params *p)
{
	if (p->nd < 1 || p->nd > EML_CONV_MAX_ND || p->group == 0 || p->in_c % p->group != 0 ||
	    p->out_c % p->group != 0)
		return -1;
	for (int i = 0; i < p->nd; i++)
		if (p->stride[i] == 0 || p->dilation[i] == 0 || p->kernel[i] == 0)
			return -1;
	return 0;
}

int eml_conv_out_shape(eml_conv_params *p)
{
	if (check_common(p) != 0)
		return -1;
	for (int i = 0; i < p->nd; i++) {
		size_t span = (p->kernel[i] - 1) * p->dilation[i] + 1;
		size_t padded = p->in[i] + p->pad_begin[i] + p->pad_end[i];
		if (padded < span)
			return -1;
		p->out[i] = (padded - span) / p->stride[i] + 1;
	}
	return 0;
}

int eml_convt_out_shape(eml_conv_params *p)
{
	if (check_common(p) != 0)
		return -1;
	for (int i = 0; i < p->nd; i++) {
		if (p->in[i] == 0)
			return -1;
		size_t full = p->stride[i] * (p->in[i] - 1) + p->output_padding[i] +
		              (p->kernel[i] - 1) * p->dilation[i] + 1;
		if (full <= p->pad_begin[i] + p->pad_end[i])
			return -1;
		p->out[i] = full - p->pad_begin[i] - p->pad_end[i];
	}
	return 0;
}

/* ---- path selection ---- */

enum conv_path { PATH_POINTWISE, PATH_DEPTHWISE, PATH_IM2COL, PATH_DIRECT };

/*
 * Direct path (AVX-512): a stride-1 2-D convolution with a kernel larger than 1x1 reads its
 * input straight from one zero-padded copy (eml_ukernel_offsets_avx512) instead of writing the
 * im2col matrix (kernel-area times the input) and reading it back: on OCR det's 3x3 96->24
 * convolutions at 160x160 the im2col traffic, not the arithmetic, was the bound. Taken when
 * the output rows fill at least DIRECT_MIN_LANES of the vector lanes they use (a row is tiles
 * of 32 columns, the last one 16 or 32 lanes wide: 40 columns use 48 lanes, 20 use 32) and the
 * padded copy stays within DIRECT_MAX_FLOATS. Measured against im2col + SGEMM on this
 * machine's shapes: faster or equal from 80 % of the lanes up, slower below (7x7, 20x20).
 */
#define DIRECT_MAX_FLOATS ((size_t)1 << 24) /* 64 MiB */
#define DIRECT_MIN_LANES 0.8
#define DIRECT_MAX_PHASES 4 /* horizontal strides up to this */

/*
 * The padded copy: R rows per channel; a horizontal stride s stores each padded row as s
 * phases (columns q, q + s, q + 2s, ... for q < s), each direct_phase_len floats long, so that
 * the columns one tap reads for consecutive outputs are contiguous again. A vertical stride is
 * only a row step. Stride 1: one phase, the plain padded row.
 */
static size_t direct_rows(const eml_conv_params *p)
{
	return p->pad_begin[0] + p->in[0] + p->pad_end[0];
}

static size_t direct_phase_len(const eml_conv_params *p)
{
	size_t c = p->pad_begin[1] + p->in[1] + p->pad_end[1], s = p->stride[1];
	return (c + s - 1) / s;
}

static size_t direct_cols(const eml_conv_params *p)
{
	return p->stride[1] * direct_phase_len(p);
}

static int direct_ok(const eml_conv_params *p)
{
	if (p->nd != 2 || p->stride[1] > DIRECT_MAX_PHASES ||
	    (p->kernel[0] == 1 && p->kernel[1] == 1) || strcmp(eml_sgemm_isa(), "avx512") != 0 ||
	    eml_sgemm_nr() != 32)
		return 0;
	size_t ow = p->out[1], rem = ow % 32;
	size_t lanes = ow - rem + (rem == 0 ? 0 : (rem <= 16 ? 16 : 32));
	if ((double)ow < DIRECT_MIN_LANES * (double)lanes)
		return 0;
	size_t cg = p->in_c / p->group, plane = direct_rows(p) * direct_cols(p);
	if (plane == 0 || plane > DIRECT_MAX_FLOATS / cg ||
	    cg * p->kernel[0] * p->kernel[1] > INT32_MAX / 2)
		return 0;
	return 1;
}

static int conv_path(const eml_conv_params *p)
{
	if (p->group == p->in_c && p->group > 1 && p->nd <= 2)
		return PATH_DEPTHWISE;
	for (int i = 0; i < p->nd; i++)
		if (p->kernel[i] != 1 || p->stride[i] != 1 || p->pad_begin[i] != 0 ||
		    p->pad_end[i] != 0)
			return direct_ok(p) ? PATH_DIRECT : PATH_IM2COL;
	return PATH_POINTWISE;
}

static size_t conv_kg(const eml_conv_params *p)
{
	return p->in_c / p->group * prod(p->kernel, p->nd);
}

#define CONV_SPLIT_MIN_FLOPS 100000.0

static size_t col_chunk(size_t rows, size_t cols)
{
	size_t c = COL_BUDGET_FLOATS / (rows ? rows : 1);
	if (c < COL_MIN_CHUNK)
		c = COL_MIN_CHUNK;
	if (c >= cols)
		return cols;
	return c / 64 * 64;
}

size_t eml_conv_packed_size(const eml_conv_params *p)
{
	if (conv_path(p) == PATH_DEPTHWISE)
		return align64(p->out_c * prod(p->kernel, p->nd) * sizeof(float));
	return p->group * align64(eml_sgemm_packed_a_size(p->out_c / p->group, conv_kg(p)));
}

void eml_conv_prepare(const eml_conv_params *p, const float *W, float *packed)
{
	if (conv_path(p) == PATH_DEPTHWISE) {
		memcpy(packed, W, p->out_c * prod(p->kernel, p->nd) * sizeof(float));
		return;
	}
	size_t mg = p->out_c / p->group, kg = conv_kg(p);
	size_t stride = align64(eml_sgemm_packed_a_size(mg, kg)) / sizeof(float);
	for (size_t g = 0; g < p->group; g++)
		eml_sgemm_pack_a(W + g * mg * kg, kg, 0, mg, kg, packed + g * stride);
}

void eml_conv_prepare_scaled(const eml_conv_params *p, const float *W, const float *row_scale,
                             float *packed)
{
	eml_conv_prepare(p, W, packed);
	if (row_scale == NULL)
		return;
	if (conv_path(p) == PATH_DEPTHWISE) {
		size_t kk = prod(p->kernel, p->nd);
		for (size_t m = 0; m < p->out_c; m++)
			for (size_t i = 0; i < kk; i++)
				packed[m * kk + i] *= row_scale[m];
		return;
	}
	size_t mg = p->out_c / p->group, kg = conv_kg(p);
	size_t stride = align64(eml_sgemm_packed_a_size(mg, kg)) / sizeof(float);
	for (size_t g = 0; g < p->group; g++)
		eml_sgemm_packed_a_scale_rows(packed + g * stride, row_scale + g * mg);
}

static size_t dw_work_size(const eml_conv_params *p, int threads);

/*
 * Small 2-D inputs take the gather im2col (AVX-512): the group's channels are copied once into a
 * zero-padded buffer, then every panel row is two gathers with precomputed offsets, instead of
 * the run-by-run copy whose per-run overhead dominates when rows are short (MNIST: 28 wide).
 * Eligible when that buffer is at most GATHER_MAX_FLOATS (per thread) and offsets fit int32.
 */
#define GATHER_MAX_FLOATS ((size_t)1 << 16)

static int gather_geom(const eml_conv_params *p, size_t *rows, size_t *cols)
{
	if (p->nd != 2 || conv_path(p) != PATH_IM2COL || strcmp(eml_sgemm_isa(), "avx512") != 0)
		return 0;
	size_t nr = eml_sgemm_nr();
	if (nr != 16 && nr != 32)
		return 0;
	size_t r = (p->out[0] - 1) * p->stride[0] + (p->kernel[0] - 1) * p->dilation[0] + 1;
	size_t c = (p->out[1] - 1) * p->stride[1] + (p->kernel[1] - 1) * p->dilation[1] + 1;
	if (r < p->pad_begin[0] + p->in[0])
		r = p->pad_begin[0] + p->in[0];
	if (c < p->pad_begin[1] + p->in[1])
		c = p->pad_begin[1] + p->in[1];
	size_t cg = p->in_c / p->group;
	if (r > GATHER_MAX_FLOATS || c > GATHER_MAX_FLOATS || r * c > GATHER_MAX_FLOATS / cg)
		return 0;
	*rows = r;
	*cols = c;
	return 1;
}

/* Extra per-thread floats of the gather path: padded input, row offsets, column indices. */
static size_t gather_floats(const eml_conv_params *p, size_t chunk)
{
	size_t r, c;
	if (!gather_geom(p, &r, &c))
		return 0;
	size_t nr = eml_sgemm_nr();
	return align64(p->in_c / p->group * r * c * sizeof(float)) / sizeof(float) +
	       align64(conv_kg(p) * sizeof(int32_t)) / sizeof(float) +
	       align64((chunk + nr) * sizeof(int32_t)) / sizeof(float);
}

/* Per-thread slot: im2col chunk + GEMM scratch (enough for a GEMM using all threads). */
static size_t conv_slot(const eml_conv_params *p, int threads, size_t *col_floats)
{
	size_t mg = p->out_c / p->group, kg = conv_kg(p), os = prod(p->out, p->nd);
	size_t chunk = conv_path(p) == PATH_IM2COL ? col_chunk(kg, os) : os;
	size_t nr = eml_sgemm_nr();
	/* im2col writes SGEMM's packed-B layout: header + whole panels of nr columns */
	*col_floats = conv_path(p) == PATH_IM2COL
	                  ? EML_SGEMM_PACKED_HDR_FLOATS + kg * ((chunk + nr - 1) / nr * nr)
	                  : 0;
	return align64(*col_floats * sizeof(float)) +
	       align64(eml_sgemm_work_size(mg, chunk, kg, threads)) +
	       gather_floats(p, chunk) * sizeof(float);
}

/*
 * A large input is padded in bands of output rows, each thread into its own buffer of
 * DIRECT_BAND_BYTES that stays in its L2 while the band's tiles read it, instead of one padded
 * copy of the whole input written to memory and read back (OCR det's 96x160x160 input: 10 MB
 * each way per convolution). A small input is padded whole, once (it stays in cache anyway),
 * and so is one with too few output rows to give every thread bands.
 */
#define DIRECT_BAND_BYTES ((size_t)512 << 10)
#define DIRECT_WHOLE_BYTES ((size_t)1 << 20)

/* Output rows per band, or 0 to pad the input whole. */
static size_t direct_band(const eml_conv_params *p, int threads)
{
	size_t cg = p->in_c / p->group, row = cg * direct_cols(p) * sizeof(float);
	size_t keff = (p->kernel[0] - 1) * p->dilation[0] + 1, s0 = p->stride[0];
	if (cg * direct_rows(p) * direct_cols(p) * sizeof(float) <= DIRECT_WHOLE_BYTES)
		return 0;
	size_t rows = DIRECT_BAND_BYTES / row; /* padded rows that fit the budget */
	size_t band = rows > keff ? (rows - keff) / s0 + 1 : 1;
	/* at least two bands per thread */
	size_t most = p->out[0] / (2 * (size_t)(threads > 0 ? threads : 1));
	if (most < 1)
		return 0;
	return band < most ? band : most;
}

/* Padded rows a band of `band` output rows reads. */
static size_t direct_band_rows(const eml_conv_params *p, size_t band)
{
	return (band - 1) * p->stride[0] + (p->kernel[0] - 1) * p->dilation[0] + 1;
}

/* The direct path's scratch: the zero-padded input of one group (whole, or one band per thread),
 * then the tap offsets. */
static size_t direct_work_size(const eml_conv_params *p, int threads)
{
	size_t cg = p->in_c / p->group, band = direct_band(p, threads);
	size_t pad =
	    band == 0
	        ? align64(cg * direct_rows(p) * direct_cols(p) * sizeof(float))
	        : (size_t)(threads > 0 ? threads : 1) *
	              align64(cg * direct_band_rows(p, band) * direct_cols(p) * sizeof(float));
	return 64 + pad + align64((conv_kg(p) + EML_UKERNEL_PREFETCH_TAPS) * sizeof(int32_t));
}

size_t eml_conv_work_size_prepacked(const eml_conv_params *p, int threads)
{
	if (threads < 1)
		threads = 1;
	if (conv_path(p) == PATH_DEPTHWISE)
		return dw_work_size(p, threads);
	if (conv_path(p) == PATH_DIRECT)
		return direct_work_size(p, threads);
	size_t colf;
	return 64 + (size_t)threads * conv_slot(p, threads, &colf);
}

size_t eml_conv_work_size(const eml_conv_params *p, int threads)
{
	if (conv_path(p) == PATH_DEPTHWISE)
		return dw_work_size(p, threads);
	return eml_conv_work_size_prepacked(p, threads) + eml_conv_packed_size(p);
}

/* ---- im2col (N-D; the last spatial dim is the inner loop) ---- */

/* Column j of row r goes to dst[(j / nr) * ps + r * nr + j % nr]: SGEMM's packed-B panels (nr
 * columns each, ps = K * nr floats apart), so that the GEMM needs no packing pass of its own. */
static void put_zero(float *dst, size_t nr, size_t ps, size_t j, size_t len)
{
	/* nr is a power of two (SGEMM panel widths): masks, not divisions */
	while (len) {
		size_t off = j & (nr - 1), seg = min_sz(len, nr - off);
		float *d = dst + (j >> __builtin_ctzl(nr)) * ps + off;
		memset(d, 0, seg * sizeof(float));
		j += seg;
		len -= seg;
	}
}

static void put_copy(float *dst, size_t nr, size_t ps, size_t j, const float *src, size_t s,
                     size_t len)
{
	while (len) {
		size_t off = j & (nr - 1), seg = min_sz(len, nr - off);
		float *d = dst + (j >> __builtin_ctzl(nr)) * ps + off;
		if (s == 1 && seg == 32)
			memcpy(d, src, 32 * sizeof(float)); /* constant size: inlined moves */
		else if (s == 1 && seg == 16)
			memcpy(d, src, 16 * sizeof(float));
		else if (s == 1)
			memcpy(d, src, seg * sizeof(float)); /* -O2 leaves a copy loop scalar */
		else
			for (size_t i = 0; i < seg; i++)
				d[i] = src[i * s];
		src += seg * s;
		j += seg;
		len -= seg;
	}
}

/* Fill the packed panels (see put_zero) with the input patches (kg rows) for output positions
 * [c0, c0+cn). */
static void im2col(const eml_conv_params *p, const float *x, size_t c0, size_t cn, float *col,
                   size_t nr, size_t ps)
{
	const int nd = p->nd, last = nd - 1;
	const size_t cg = p->in_c / p->group;
	const size_t kp = prod(p->kernel, nd), is = prod(p->in, nd);
	const size_t ow_n = p->out[last], iw_n = p->in[last];
	const size_t sw = p->stride[last], dw = p->dilation[last], pw = p->pad_begin[last];
	for (size_t r = 0; r < cg * kp; r++) {
		size_t ci = r / kp, kr = r % kp;
		size_t k[EML_CONV_MAX_ND];
		for (int d = nd - 1; d >= 0; d--) {
			k[d] = kr % p->kernel[d];
			kr /= p->kernel[d];
		}
		const float *xc = x + ci * is;
		float *dst = col + r * nr;
		/* output coordinates of c0 */
		size_t o[EML_CONV_MAX_ND], t = c0;
		for (int d = nd - 1; d >= 0; d--) {
			o[d] = t % p->out[d];
			t /= p->out[d];
		}
		size_t done = 0;
		while (done < cn) {
			size_t run = min_sz(ow_n - o[last], cn - done);
			/* leading dims: one input row or none */
			int valid = 1;
			size_t off = 0;
			for (int d = 0; d < last; d++) {
				long long id =
				    (long long)(o[d] * p->stride[d] + k[d] * p->dilation[d]) -
				    (long long)p->pad_begin[d];
				if (id < 0 || id >= (long long)p->in[d]) {
					valid = 0;
					break;
				}
				off = off * p->in[d] + (size_t)id;
			}
			if (!valid) {
				put_zero(dst, nr, ps, done, run);
			} else {
				const float *xr = xc + off * iw_n;
				long long base = (long long)(k[last] * dw) - (long long)pw;
				/* iw = (o + j)*sw + base is inside [0, iw_n) for j in [lo, hi): zero
				 * the rest, copy the middle. */
				long long s = (long long)sw, o0 = (long long)o[last];
				long long first = o0 * s + base;
				long long lim = (long long)iw_n - first; /* j*s < lim */
				long long lo, hi;
				if (s == 1) { /* no divisions on the common path */
					lo = first >= 0 ? 0 : -first;
					hi = lim <= 0 ? 0 : lim;
				} else {
					lo = first >= 0 ? 0 : (-first + s - 1) / s;
					hi = lim <= 0 ? 0 : (lim + s - 1) / s;
				}
				if (hi > (long long)run)
					hi = (long long)run;
				if (lo > hi)
					lo = hi;
				put_zero(dst, nr, ps, done, (size_t)lo);
				if (hi > lo)
					put_copy(dst, nr, ps, done + (size_t)lo,
					         xr + first + lo * s, sw, (size_t)(hi - lo));
				put_zero(dst, nr, ps, done + (size_t)hi, run - (size_t)hi);
			}
			done += run;
			o[last] += run;
			for (int d = last; d > 0 && o[d] == p->out[d]; d--) {
				o[d] = 0;
				o[d - 1]++;
			}
		}
	}
}

/* ---- depthwise (nd 1 or 2, group == C, M = C * multiplier) ---- */

/* The SIMD row follows the GEMM ISA choice, so eml_sgemm_force_isa covers it in tests. */
static eml_dw_row_fn dw_row_simd(void)
{
#if defined(__x86_64__)
	const char *isa = eml_sgemm_isa();
	if (strcmp(isa, "avx512") == 0)
		return eml_dw_row_avx512;
	if (strcmp(isa, "avx2") == 0)
		return eml_dw_row_avx2;
#endif
	return NULL;
}

static eml_dw_plane_fn dw_plane_simd(void)
{
#if defined(__x86_64__)
	if (strcmp(eml_sgemm_isa(), "avx512") == 0)
		return eml_dw_plane_avx512;
#endif
	return NULL;
}

typedef struct dw_job {
	const eml_conv_params *p;
	const float *x, *w, *bias;
	float *y;
	eml_dw_geom g;
	eml_dw_row_fn row;     /* SIMD row kernel, or NULL for the portable loop */
	eml_dw_plane_fn plane; /* SIMD whole-plane kernel for padded planes, or NULL */
	float *pad;            /* per-thread zero-padded plane (dw_pad_geom), or NULL */
	size_t pad_rows, pad_cols, pad_stride;
} dw_job;

/* Zero-padded copy of one input plane, big enough that every tap of every 16-lane block reads
 * inside it: the SIMD rows then take their interior path everywhere (no per-tap edge masks).
 * Returns the floats per thread, 0 when not worth it (planes over DW_PAD_MAX_FLOATS). */
#define DW_PAD_MAX_FLOATS ((size_t)1 << 22)
static size_t dw_pad_geom(const eml_dw_geom *g, size_t *rows, size_t *cols)
{
	size_t r = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
	size_t c = (g->ow + 15) / 16 * 16 * g->sw + (g->kw - 1) * g->dw + 32;
	if (r < g->ph + g->ih)
		r = g->ph + g->ih;
	if (c < g->pw + g->iw)
		c = g->pw + g->iw;
	c = (c + 15) / 16 * 16;
	*rows = r;
	*cols = c;
	if (g->sw > 2 || r > DW_PAD_MAX_FLOATS / c)
		return 0;
	return r * c;
}

static void dw_geom(const eml_conv_params *p, eml_dw_geom *g)
{
	if (p->nd == 2) {
		g->ih = p->in[0], g->iw = p->in[1], g->oh = p->out[0], g->ow = p->out[1];
		g->kh = p->kernel[0], g->kw = p->kernel[1], g->sh = p->stride[0],
		g->sw = p->stride[1];
		g->dh = p->dilation[0], g->dw = p->dilation[1], g->ph = p->pad_begin[0];
		g->pw = p->pad_begin[1];
	} else {
		g->ih = 1, g->iw = p->in[0], g->oh = 1, g->ow = p->out[0];
		g->kh = 1, g->kw = p->kernel[0], g->sh = 1, g->sw = p->stride[0];
		g->dh = 1, g->dw = p->dilation[0], g->ph = 0, g->pw = p->pad_begin[0];
	}
}

static size_t dw_work_size(const eml_conv_params *p, int threads)
{
	eml_dw_geom g;
	size_t r, c;
	dw_geom(p, &g);
	size_t f = dw_pad_geom(&g, &r, &c);
	if (threads < 1)
		threads = 1;
	return 64 + (f ? (size_t)threads * align64(f * sizeof(float)) : 0);
}

/* Portable row: accumulate tap by tap over the valid output range of each tap. */
static void dw_row_portable(const eml_dw_geom *g, const float *x, const float *w, float b,
                            size_t oh, float *yr)
{
	for (size_t ow = 0; ow < g->ow; ow++)
		yr[ow] = b;
	for (size_t kh = 0; kh < g->kh; kh++) {
		long long ih = (long long)(oh * g->sh + kh * g->dh) - (long long)g->ph;
		if (ih < 0 || ih >= (long long)g->ih)
			continue;
		const float *xr = x + (size_t)ih * g->iw;
		for (size_t kw = 0; kw < g->kw; kw++) {
			float wv = w[kh * g->kw + kw];
			/* ow range with 0 <= ow*sw + kw*dw - pw < iw */
			long long off = (long long)(kw * g->dw) - (long long)g->pw;
			long long sw = (long long)g->sw;
			size_t lo = 0, hi = g->ow;
			if (off < 0)
				lo = (size_t)((-off + sw - 1) / sw);
			long long lim = (long long)g->iw - off; /* ow*sw < lim */
			if (lim <= 0)
				continue;
			size_t h2 = (size_t)((lim + sw - 1) / sw);
			if (h2 < hi)
				hi = h2;
			for (size_t ow = lo; ow < hi; ow++)
				yr[ow] += wv * xr[(long long)ow * sw + off];
		}
	}
}

static void dw_task(void *ctx, size_t task, int thread)
{
	const dw_job *j = ctx;
	const eml_conv_params *p = j->p;
	const eml_dw_geom *g = &j->g;
	size_t mult = p->out_c / p->in_c;
	size_t n = task / p->out_c, m = task % p->out_c, c = m / mult;
	const float *x = j->x + (n * p->in_c + c) * g->ih * g->iw;
	const float *w = j->w + m * g->kh * g->kw;
	float *y = j->y + (n * p->out_c + m) * g->oh * g->ow;
	float b = j->bias ? j->bias[m] : 0.0f;
	eml_dw_geom gp;
	if (j->pad) {
		float *buf = j->pad + (size_t)thread * j->pad_stride;
		size_t rows = j->pad_rows, cols = j->pad_cols;
		memset(buf, 0, g->ph * cols * sizeof(float));
		for (size_t r = 0; r < g->ih; r++) {
			float *d = buf + (g->ph + r) * cols;
			memset(d, 0, g->pw * sizeof(float));
			memcpy(d + g->pw, x + r * g->iw, g->iw * sizeof(float));
			memset(d + g->pw + g->iw, 0, (cols - g->pw - g->iw) * sizeof(float));
		}
		memset(buf + (g->ph + g->ih) * cols, 0,
		       (rows - g->ph - g->ih) * cols * sizeof(float));
		gp = *g;
		gp.ih = rows, gp.iw = cols, gp.ph = 0, gp.pw = 0;
		g = &gp;
		x = buf;
		if (j->plane != NULL) {
			j->plane(g, x, w, b, y);
			size_t plane = g->oh * g->ow;
			eml_act_apply(y, plane, p->act, p->act_a, p->act_b);
			if (p->post)
				eml_affine_apply(y, plane, p->post_s, p->post_t);
			return;
		}
	}
	for (size_t oh = 0; oh < g->oh; oh++) {
		if (j->row)
			j->row(g, x, w, b, oh, y + oh * g->ow);
		else
			dw_row_portable(g, x, w, b, oh, y + oh * g->ow);
		/* while the row is still in L1 */
		eml_act_apply(y + oh * g->ow, g->ow, p->act, p->act_a, p->act_b);
		if (p->post)
			eml_affine_apply(y + oh * g->ow, g->ow, p->post_s, p->post_t);
	}
}

static void conv_depthwise(eml_threadpool *pool, const eml_conv_params *p, const float *X,
                           const float *W, const float *bias, float *Y, void *work)
{
	dw_job j = {.p = p, .x = X, .w = W, .bias = bias, .y = Y};
	eml_dw_geom *g = &j.g;
	dw_geom(p, g);
	/* The SIMD rows use 32-bit gather indices and lane arithmetic. */
	if (g->iw * g->sw + g->kw * g->dw + g->pw < ((size_t)1 << 30)) {
		j.row = dw_row_simd();
		size_t f = dw_pad_geom(g, &j.pad_rows, &j.pad_cols);
		if (j.row && f && work && j.pad_cols < ((size_t)1 << 30)) {
			j.pad = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
			j.pad_stride = align64(f * sizeof(float)) / sizeof(float);
			j.plane = dw_plane_simd();
		}
	}
	eml_threadpool_run(pool, p->batch * p->out_c, dw_task, &j);
}

/* ---- GEMM paths ---- */

typedef struct conv_job {
	const eml_conv_params *p;
	const float *x, *packed, *bias;
	float *y;
	unsigned char *slots;
	size_t slot_bytes, col_floats;
	size_t mg, cg, kg, is, os, chunk, nchunks, pa_stride, nr;
	int path;
	int gather;                         /* gather im2col (gather_geom) */
	size_t g_rows, g_cols, gwork_bytes; /* its padded plane; the GEMM scratch before it */
	eml_threadpool
	    *gemm_pool; /* pool for the GEMM inside a task (NULL when tasks run in parallel) */
} conv_job;

/* Padded rows [r0, r0 + n) of one input plane (ih x iw) into d (n rows of C floats): the input
 * sits ph rows and pw columns in, zero around it; each row stored as s phases of plen floats
 * (columns q, q + s, ... for q < s; s = 1, plen = C: the plain padded row). */
static void pad_rows(const float *x, size_t ih, size_t iw, size_t ph, size_t pw, size_t s,
                     size_t plen, size_t C, size_t r0, size_t n, float *d)
{
	for (size_t r = 0; r < n; r++) {
		float *dr = d + r * C;
		size_t pr = r0 + r;
		if (pr < ph || pr - ph >= ih) {
			memset(dr, 0, C * sizeof(float));
			continue;
		}
		const float *xr = x + (pr - ph) * iw;
		if (s == 1) {
			memset(dr, 0, pw * sizeof(float));
			memcpy(dr + pw, xr, iw * sizeof(float));
			memset(dr + pw + iw, 0, (C - pw - iw) * sizeof(float));
			continue;
		}
		memset(dr, 0, C * sizeof(float));
		/* phase q takes the input columns c with (pw + c) % s == q: every s-th from c0 */
		for (size_t q = 0; q < s; q++) {
			size_t c0 = (q + s - pw % s) % s;
			float *dq = dr + q * plen + (pw + c0) / s;
			for (size_t c = c0, t = 0; c < iw; c += s, t++)
				dq[t] = xr[c];
		}
	}
}

/* Offsets of the taps (channel, kernel row, kernel column: im2col's row order) in a padded
 * input of R rows of C floats per channel, each row s phases of plen floats (s = 1, plen = C:
 * plain rows; see direct_cols). */
static void tap_offsets(const eml_conv_params *p, size_t cg, size_t R, size_t C, size_t s,
                        size_t plen, int32_t *off)
{
	size_t kh = p->kernel[0], kw = p->kernel[1], r = 0;
	for (size_t ci = 0; ci < cg; ci++)
		for (size_t a = 0; a < kh; a++)
			for (size_t b = 0; b < kw; b++) {
				size_t col = b * p->dilation[1];
				off[r++] = (int32_t)(ci * R * C + a * p->dilation[0] * C +
				                     col % s * plen + col / s);
			}
}

static void im2col_gather(const conv_job *j, const float *x, size_t c0, size_t cn, float *panels,
                          float *buf)
{
	const eml_conv_params *p = j->p;
	size_t R = j->g_rows, C = j->g_cols, plane = R * C, cg = j->cg;
	size_t ih = p->in[0], iw = p->in[1];
	float *pad = buf;
	int32_t *rowoff = (int32_t *)(buf + align64(cg * plane * sizeof(float)) / sizeof(float));
	int32_t *colidx = rowoff + align64(j->kg * sizeof(int32_t)) / sizeof(int32_t);
	for (size_t ci = 0; ci < cg; ci++)
		pad_rows(x + ci * ih * iw, ih, iw, p->pad_begin[0], p->pad_begin[1], 1, C, C, 0, R,
		         pad + ci * plane);
	tap_offsets(p, cg, R, C, 1, C, rowoff);
	size_t ow = p->out[1], oh = c0 / ow, owi = c0 % ow;
	for (size_t q = 0; q < cn; q++) {
		colidx[q] = (int32_t)(oh * p->stride[0] * C + owi * p->stride[1]);
		if (++owi == ow) {
			owi = 0;
			oh++;
		}
	}
#if defined(__x86_64__)
	eml_im2col_gather_avx512(pad, rowoff, j->kg, colidx, cn, panels, j->nr, j->kg * j->nr);
#else
	(void)panels; /* gather_geom selects this path only with the AVX-512 kernels */
#endif
}

static void conv_task(void *ctx, size_t task, int thread)
{
	const conv_job *j = ctx;
	const eml_conv_params *p = j->p;
	size_t chunk_i = task % j->nchunks, ng = task / j->nchunks;
	size_t g = ng % p->group, n = ng / p->group;
	unsigned char *slot = j->slots + (size_t)thread * j->slot_bytes;
	float *col = (float *)slot;
	void *gwork = slot + align64(j->col_floats * sizeof(float));
	const float *x = j->x + (n * p->in_c + g * j->cg) * j->is;
	float *y = j->y + (n * p->out_c + g * j->mg) * j->os;
	eml_epilogue ep = {.bias_kind = j->bias ? EML_BIAS_ROW : EML_BIAS_NONE,
	                   .bias = j->bias ? j->bias + g * j->mg : NULL,
	                   .act = p->act,
	                   .act_a = p->act_a,
	                   .act_b = p->act_b,
	                   .post = p->post,
	                   .post_s = p->post_s,
	                   .post_t = p->post_t};
	const float *pa = j->packed + g * j->pa_stride;
	if (j->path == PATH_POINTWISE) {
		eml_sgemm_packed_a(j->gemm_pool, j->mg, j->os, j->kg, pa, x, j->is, 0, y, j->os,
		                   &ep, gwork);
		return;
	}
	size_t c0 = chunk_i * j->chunk, cn = min_sz(j->chunk, j->os - c0);
	size_t nr = j->nr, ps = j->kg * nr, tail = cn % nr;
	float *panels = col + EML_SGEMM_PACKED_HDR_FLOATS;
	eml_sgemm_packed_b_header(j->kg, cn, col);
	if (j->gather) {
		im2col_gather(j, x, c0, cn, panels,
		              (float *)((unsigned char *)gwork + j->gwork_bytes));
		tail = 0; /* the gathers wrote zeros past cn */
	} else {
		im2col(p, x, c0, cn, panels, nr, ps);
	}
	if (tail) /* columns past cn in the last panel */
		for (size_t r = 0; r < j->kg; r++)
			memset(panels + (cn / nr) * ps + r * nr + tail, 0,
			       (nr - tail) * sizeof(float));
	eml_sgemm_packed_ab(j->gemm_pool, j->mg, cn, j->kg, pa, col, y + c0, j->os, &ep, gwork);
}

/* ---- direct path (PATH_DIRECT) ---- */

#define DIRECT_MR EML_AVX512_MR /* the packed A panels' height */
#define DIRECT_NR 32            /* output columns per tile */

typedef struct direct_job {
	const eml_conv_params *p;
	const float *x; /* this group's input channels */
	float *pad;     /* its zero-padded copy: whole, or a band per thread (pad_stride apart) */
	size_t band, band_rows, pad_stride;
	const int32_t *off;
	const float *panels; /* this group's packed A panels (after the header) */
	const float *bias;   /* this group's bias, or NULL */
	float *y;            /* this group's output channels */
	size_t R, C, K, mg, oh, ow, mpanels, xtiles;
	size_t xper, xtasks; /* tiles of a row per task; tasks per row and panel */
} direct_job;

/* A task is at least this much work (about a microsecond): with few input channels (a short
 * K) one tile is too little to be worth a dispatch. */
#define DIRECT_TASK_FLOPS 200000.0

/* Padded rows [r0, r0 + n) of input channel ci into d. */
static void direct_pad_rows(const direct_job *j, size_t ci, size_t r0, size_t n, float *d)
{
	const eml_conv_params *p = j->p;
	size_t ih = p->in[0], iw = p->in[1], s = p->stride[1];
	pad_rows(j->x + ci * ih * iw, ih, iw, p->pad_begin[0], p->pad_begin[1], s, j->C / s, j->C,
	         r0, n, d);
}

static void direct_pad_task(void *ctx, size_t ci, int thread)
{
	(void)thread;
	const direct_job *j = ctx;
	direct_pad_rows(j, ci, 0, j->R, j->pad + ci * j->R * j->C);
}

/* One tile: DIRECT_NR columns of one output row for one panel of output channels, then its
 * epilogue while the tile is in cache. */
static void direct_tile(const direct_job *j, const float *rows, size_t oy, size_t mp, size_t xt)
{
	const eml_conv_params *p = j->p;
	size_t x0 = xt * DIRECT_NR, w = min_sz(DIRECT_NR, j->ow - x0);
	size_t m0 = mp * DIRECT_MR, h = min_sz(DIRECT_MR, j->mg - m0), ldc = j->oh * j->ow;
	float *c = j->y + m0 * ldc + oy * j->ow + x0;
#if defined(__x86_64__)
	eml_ukernel_offsets_avx512(j->K, j->panels + mp * j->K * DIRECT_MR, rows + x0, j->off, c,
	                           ldc, (int)h, (int)w);
#else
	(void)c;      /* direct_ok selects this path only with the AVX-512 kernels */
#endif
	if (j->bias == NULL && p->act == EML_ACT_NONE && !p->post)
		return;
	for (size_t i = 0; i < h; i++) {
		float *ci = c + i * ldc;
		eml_vbias_act(ci, w, j->bias ? j->bias[m0 + i] : -0.0f, p->act, p->act_a, p->act_b);
		if (p->post)
			eml_affine_apply(ci, w, p->post_s, p->post_t);
	}
}

/* A task: xper consecutive tiles of one output row and panel. */
static void direct_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	const direct_job *j = ctx;
	size_t xc = t % j->xtasks, r = t / j->xtasks;
	size_t mp = r % j->mpanels, oy = r / j->mpanels;
	size_t xe = min_sz((xc + 1) * j->xper, j->xtiles);
	const float *rows = j->pad + oy * j->p->stride[0] * j->C;
	for (size_t xt = xc * j->xper; xt < xe; xt++)
		direct_tile(j, rows, oy, mp, xt);
}

/* A band task: pad the band's rows into this thread's buffer, then every tile of the band. */
static void direct_band_task(void *ctx, size_t b, int thread)
{
	const direct_job *j = ctx;
	const eml_conv_params *p = j->p;
	size_t cg = p->in_c / p->group, oy0 = b * j->band, oy1 = min_sz(oy0 + j->band, j->oh);
	float *buf = j->pad + (size_t)thread * j->pad_stride;
	for (size_t ci = 0; ci < cg; ci++)
		direct_pad_rows(j, ci, oy0 * p->stride[0], j->band_rows,
		                buf + ci * j->band_rows * j->C);
	for (size_t mp = 0; mp < j->mpanels; mp++)
		for (size_t oy = oy0; oy < oy1; oy++) {
			const float *rows = buf + (oy - oy0) * p->stride[0] * j->C;
			for (size_t xt = 0; xt < j->xtiles; xt++)
				direct_tile(j, rows, oy, mp, xt);
		}
}

static void conv_direct(eml_threadpool *pool, const eml_conv_params *p, const float *X,
                        const float *packed_w, const float *bias, float *Y, void *work)
{
	direct_job j = {.p = p};
	size_t cg = p->in_c / p->group;
	j.R = direct_rows(p);
	j.C = direct_cols(p);
	j.K = conv_kg(p);
	j.mg = p->out_c / p->group;
	j.oh = p->out[0];
	j.ow = p->out[1];
	j.mpanels = (j.mg + DIRECT_MR - 1) / DIRECT_MR;
	j.xtiles = (j.ow + DIRECT_NR - 1) / DIRECT_NR;
	j.xper = (size_t)(DIRECT_TASK_FLOPS / (2.0 * DIRECT_MR * DIRECT_NR * (double)j.K)) + 1;
	if (j.xper > j.xtiles)
		j.xper = j.xtiles;
	j.xtasks = (j.xtiles + j.xper - 1) / j.xper;
	int threads = eml_threadpool_threads(pool);
	j.band = direct_band(p, threads);
	j.pad = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
	size_t plane_rows = j.R, pad_bytes = align64(cg * j.R * j.C * sizeof(float));
	if (j.band > 0) {
		j.band_rows = direct_band_rows(p, j.band);
		plane_rows = j.band_rows;
		j.pad_stride = align64(cg * j.band_rows * j.C * sizeof(float)) / sizeof(float);
		pad_bytes = (size_t)(threads > 0 ? threads : 1) * j.pad_stride * sizeof(float);
	}
	int32_t *off = (int32_t *)((unsigned char *)j.pad + pad_bytes);
	tap_offsets(p, cg, plane_rows, j.C, p->stride[1], j.C / p->stride[1], off);
	for (size_t k = j.K; k < j.K + EML_UKERNEL_PREFETCH_TAPS; k++)
		off[k] = off[j.K - 1];
	j.off = off;
	size_t is = p->in[0] * p->in[1], os = j.oh * j.ow;
	size_t pa_stride = align64(eml_sgemm_packed_a_size(j.mg, j.K)) / sizeof(float);
	for (size_t n = 0; n < p->batch; n++)
		for (size_t g = 0; g < p->group; g++) {
			j.x = X + (n * p->in_c + g * cg) * is;
			j.y = Y + (n * p->out_c + g * j.mg) * os;
			j.panels = packed_w + g * pa_stride + EML_SGEMM_PACKED_HDR_FLOATS;
			j.bias = bias ? bias + g * j.mg : NULL;
			if (j.band > 0) {
				eml_threadpool_run(pool, (j.oh + j.band - 1) / j.band,
				                   direct_band_task, &j);
			} else {
				eml_threadpool_run(pool, cg, direct_pad_task, &j);
				eml_threadpool_run(pool, j.oh * j.mpanels * j.xtasks, direct_task,
				                   &j);
			}
		}
}

void eml_conv(eml_threadpool *pool, const eml_conv_params *p, const float *X, const float *W,
              const float *packed_w, const float *bias, float *Y, void *work)
{
	int path = conv_path(p);
	if (p->batch == 0 || p->out_c == 0 || prod(p->out, p->nd) == 0)
		return;
	if (path == PATH_DEPTHWISE) {
		conv_depthwise(pool, p, X, packed_w ? packed_w : W, bias, Y, work);
		return;
	}
	int threads = eml_threadpool_threads(pool);
	unsigned char *w = (unsigned char *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
	if (!packed_w) {
		eml_conv_prepare(p, W, (float *)w);
		packed_w = (const float *)w;
		w += eml_conv_packed_size(p);
	}
	if (path == PATH_DIRECT) {
		conv_direct(pool, p, X, packed_w, bias, Y, w);
		return;
	}
	conv_job j = {.p = p, .x = X, .packed = packed_w, .bias = bias, .y = Y, .slots = w};
	j.slot_bytes = conv_slot(p, threads, &j.col_floats);
	j.path = path;
	j.mg = p->out_c / p->group;
	j.cg = p->in_c / p->group;
	j.kg = conv_kg(p);
	j.is = prod(p->in, p->nd);
	j.os = prod(p->out, p->nd);
	j.chunk = path == PATH_IM2COL ? col_chunk(j.kg, j.os) : j.os;
	j.nchunks = (j.os + j.chunk - 1) / j.chunk;
	j.pa_stride = align64(eml_sgemm_packed_a_size(j.mg, j.kg)) / sizeof(float);
	j.nr = eml_sgemm_nr();
	assert(j.nr && (j.nr & (j.nr - 1)) == 0); /* put_zero/put_copy index with masks */
	j.gather = gather_geom(p, &j.g_rows, &j.g_cols);
	j.gwork_bytes = align64(eml_sgemm_work_size(j.mg, j.chunk, j.kg, threads));
	size_t tasks = p->batch * p->group * j.nchunks;
	int split = 0;
	/* A small convolution is one chunk of columns, which left the other threads idle (MNIST's
	 * two convolutions: 0.3 and 1.3 MFLOP). Its columns are cut into one share per thread when
	 * each share is still worth a dispatch (workers spin between steps, so a dispatch costs
	 * well under a microsecond; CONV_SPLIT_MIN_FLOPS is ~1.5 us of work). */
	if (path == PATH_IM2COL && threads > 1 && tasks < (size_t)threads) {
		size_t per = (j.os + (size_t)threads - 1) / (size_t)threads;
		per = (per + j.nr - 1) / j.nr * j.nr;
		if (per < j.chunk &&
		    2.0 * (double)j.mg * (double)j.kg * (double)per >= CONV_SPLIT_MIN_FLOPS) {
			j.chunk = per;
			j.nchunks = (j.os + per - 1) / per;
			j.gwork_bytes = align64(eml_sgemm_work_size(j.mg, j.chunk, j.kg, threads));
			tasks = p->batch * p->group * j.nchunks;
			split = 1;
		}
	}
	if (threads > 1 && (tasks >= (size_t)threads * 2 || split)) {
		j.gemm_pool = NULL;
		eml_threadpool_run(pool, tasks, conv_task, &j);
	} else {
		j.gemm_pool = pool;
		for (size_t t = 0; t < tasks; t++)
			conv_task(&j, t, 0);
	}
}

/* ---- ConvTranspose ---- */

/* Kc = M/G * prod(kernel): rows of the column matrix W_g^T X_g. */
static size_t convt_rows(const eml_conv_params *p)
{
	return p->out_c / p->group * prod(p->kernel, p->nd);
}

size_t eml_convt_packed_size(const eml_conv_params *p)
{
	return p->group * align64(eml_sgemm_packed_a_size(convt_rows(p), p->in_c / p->group));
}

void eml_convt_prepare(const eml_conv_params *p, const float *W, float *packed)
{
	size_t cg = p->in_c / p->group, rows = convt_rows(p);
	size_t stride = align64(eml_sgemm_packed_a_size(rows, cg)) / sizeof(float);
	/* W_g is cg x rows (row stride rows); A = W_g^T. */
	for (size_t g = 0; g < p->group; g++)
		eml_sgemm_pack_a(W + g * cg * rows, rows, 1, rows, cg, packed + g * stride);
}

static size_t convt_chunk(const eml_conv_params *p)
{
	return col_chunk(convt_rows(p), prod(p->in, p->nd));
}

size_t eml_convt_work_size_prepacked(const eml_conv_params *p, int threads)
{
	if (threads < 1)
		threads = 1;
	size_t rows = convt_rows(p), chunk = convt_chunk(p);
	return 64 + align64(rows * chunk * sizeof(float)) +
	       align64(eml_sgemm_work_size(rows, chunk, p->in_c / p->group, threads));
}

size_t eml_convt_work_size(const eml_conv_params *p, int threads)
{
	return eml_convt_work_size_prepacked(p, threads) + eml_convt_packed_size(p);
}

typedef struct col2im_job {
	const eml_conv_params *p;
	const float *col;  /* rows x cn */
	float *y;          /* group's first output channel of this image */
	const float *bias; /* group's first bias (disjoint path), or NULL */
	size_t c0, cn, kp, os;
} col2im_job;

/* 2-D ConvTranspose whose taps do not overlap: stride = kernel, no dilation, no padding, no
 * output padding (the 2x upsampling of segmentation heads). Every output element is one tap of
 * one input element, so each output row is written once from the column rows, with the bias,
 * activation and post-affine on the way, instead of a bias pass, a scatter-add and an
 * activation pass over the whole output. */
static int convt_disjoint(const eml_conv_params *p)
{
	if (p->nd != 2)
		return 0;
	for (int d = 0; d < 2; d++)
		if (p->stride[d] != p->kernel[d] || p->dilation[d] != 1 || p->pad_begin[d] != 0 ||
		    p->out[d] != p->in[d] * p->kernel[d])
			return 0;
	return 1;
}

/* Output channel m for the chunk's whole input rows (c0 and cn are multiples of the row). */
static void col2im_disjoint_task(void *ctx, size_t m, int thread)
{
	(void)thread;
	const col2im_job *j = ctx;
	const eml_conv_params *p = j->p;
	const size_t iw_n = p->in[1], kh_n = p->kernel[0], kw_n = p->kernel[1], ow_n = p->out[1];
	const size_t ih0 = j->c0 / iw_n, nrows = j->cn / iw_n;
	const float b = j->bias != NULL ? j->bias[m] : 0.0f;
	for (size_t r = 0; r < nrows; r++)
		for (size_t kh = 0; kh < kh_n; kh++) {
			float *yr = j->y + m * j->os + ((ih0 + r) * kh_n + kh) * ow_n;
			for (size_t kw = 0; kw < kw_n; kw++) {
				const float *src =
				    j->col + (m * j->kp + kh * kw_n + kw) * j->cn + r * iw_n;
				for (size_t iw = 0; iw < iw_n; iw++)
					yr[iw * kw_n + kw] = src[iw] + b;
			}
			eml_act_apply(yr, ow_n, p->act, p->act_a, p->act_b);
			if (p->post)
				eml_affine_apply(yr, ow_n, p->post_s, p->post_t);
		}
}

/* Scatter-add the column rows of output channel `m` (one task per channel: no write races). */
static void col2im_task(void *ctx, size_t m, int thread)
{
	(void)thread;
	const col2im_job *j = ctx;
	const eml_conv_params *p = j->p;
	const int nd = p->nd;
	float *y = j->y + m * j->os;
	if (nd == 2) {
		/* 2-D: whole input-row runs, the valid column range computed once per tap */
		const size_t ih_n = p->in[0], iw_n = p->in[1], oh_n = p->out[0], ow_n = p->out[1];
		const size_t kw_n = p->kernel[1];
		const long long sw = (long long)p->stride[1];
		for (size_t kr0 = 0; kr0 < j->kp; kr0++) {
			size_t kh = kr0 / kw_n, kw = kr0 % kw_n;
			const float *src = j->col + (m * j->kp + kr0) * j->cn;
			long long base =
			    (long long)(kw * p->dilation[1]) - (long long)p->pad_begin[1];
			/* 0 <= iw*sw + base < ow_n for iw in [lo, hi) */
			long long lo = base >= 0 ? 0 : (-base + sw - 1) / sw;
			long long lim = (long long)ow_n - base;
			long long hi = lim <= 0 ? 0 : (lim + sw - 1) / sw;
			if (hi > (long long)iw_n)
				hi = (long long)iw_n;
			size_t c = 0, ih = j->c0 / iw_n, iw = j->c0 % iw_n;
			while (c < j->cn && ih < ih_n) {
				size_t run = min_sz(iw_n - iw, j->cn - c);
				long long oh =
				    (long long)(ih * p->stride[0] + kh * p->dilation[0]) -
				    (long long)p->pad_begin[0];
				if (oh >= 0 && oh < (long long)oh_n) {
					float *yr = y + (size_t)oh * ow_n;
					long long a = (long long)iw > lo ? (long long)iw : lo;
					long long b =
					    (long long)(iw + run) < hi ? (long long)(iw + run) : hi;
					const float *sr = src + c - iw;
					for (long long x = a; x < b; x++)
						yr[x * sw + base] += sr[x];
				}
				c += run;
				ih++;
				iw = 0;
			}
		}
		return;
	}
	for (size_t kr0 = 0; kr0 < j->kp; kr0++) {
		size_t k[EML_CONV_MAX_ND], kr = kr0;
		for (int d = nd - 1; d >= 0; d--) {
			k[d] = kr % p->kernel[d];
			kr /= p->kernel[d];
		}
		const float *src = j->col + (m * j->kp + kr0) * j->cn;
		size_t i[EML_CONV_MAX_ND], t = j->c0;
		for (int d = nd - 1; d >= 0; d--) {
			i[d] = t % p->in[d];
			t /= p->in[d];
		}
		for (size_t c = 0; c < j->cn; c++) {
			size_t off = 0;
			int valid = 1;
			for (int d = 0; d < nd; d++) {
				long long od =
				    (long long)(i[d] * p->stride[d] + k[d] * p->dilation[d]) -
				    (long long)p->pad_begin[d];
				if (od < 0 || od >= (long long)p->out[d]) {
					valid = 0;
					break;
				}
				off = off * p->out[d] + (size_t)od;
			}
			if (valid)
				y[off] += src[c];
			for (int d = nd - 1; d >= 0; d--) {
				if (++i[d] < p->in[d])
					break;
				i[d] = 0;
			}
		}
	}
}

typedef struct act_job {
	const eml_conv_params *p;
	float *y;
	size_t os;
} act_job;

static void act_task(void *ctx, size_t plane, int thread)
{
	(void)thread;
	const act_job *j = ctx;
	eml_act_apply(j->y + plane * j->os, j->os, j->p->act, j->p->act_a, j->p->act_b);
	if (j->p->post)
		eml_affine_apply(j->y + plane * j->os, j->os, j->p->post_s, j->p->post_t);
}

void eml_convt(eml_threadpool *pool, const eml_conv_params *p, const float *X, const float *W,
               const float *packed_w, const float *bias, float *Y, void *work)
{
	size_t os = prod(p->out, p->nd), is = prod(p->in, p->nd);
	size_t mg = p->out_c / p->group, cg = p->in_c / p->group, rows = convt_rows(p);
	size_t kp = prod(p->kernel, p->nd);
	if (p->batch == 0 || p->out_c == 0 || os == 0)
		return;
	size_t chunk = convt_chunk(p);
	/* the disjoint path takes whole input rows per chunk (never more than the scratch holds) */
	int disjoint = convt_disjoint(p) && chunk >= p->in[1];
	if (disjoint)
		chunk = chunk / p->in[1] * p->in[1];
	else
		for (size_t n = 0; n < p->batch; n++)
			for (size_t m = 0; m < p->out_c; m++) {
				float b = bias ? bias[m] : 0.0f;
				float *y = Y + (n * p->out_c + m) * os;
				for (size_t i = 0; i < os; i++)
					y[i] = b;
			}
	unsigned char *w = (unsigned char *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
	if (!packed_w) {
		eml_convt_prepare(p, W, (float *)w);
		packed_w = (const float *)w;
		w += eml_convt_packed_size(p);
	}
	float *col = (float *)w;
	void *gwork = w + align64(rows * chunk * sizeof(float));
	size_t pa_stride = align64(eml_sgemm_packed_a_size(rows, cg)) / sizeof(float);
	for (size_t n = 0; n < p->batch; n++)
		for (size_t g = 0; g < p->group; g++) {
			const float *x = X + (n * p->in_c + g * cg) * is;
			for (size_t c0 = 0; c0 < is; c0 += chunk) {
				size_t cn = min_sz(chunk, is - c0);
				eml_sgemm_packed_a(pool, rows, cn, cg, packed_w + g * pa_stride,
				                   x + c0, is, 0, col, cn, NULL, gwork);
				col2im_job cj = {.p = p,
				                 .col = col,
				                 .y = Y + (n * p->out_c + g * mg) * os,
				                 .bias = bias != NULL ? bias + g * mg : NULL,
				                 .c0 = c0,
				                 .cn = cn,
				                 .kp = kp,
				                 .os = os};
				eml_threadpool_run(
				    pool, mg, disjoint ? col2im_disjoint_task : col2im_task, &cj);
			}
		}
	if (!disjoint && (p->act != EML_ACT_NONE || p->post)) {
		act_job aj = {.p = p, .y = Y, .os = os};
		eml_threadpool_run(pool, p->batch * p->out_c, act_task, &aj);
	}
}
