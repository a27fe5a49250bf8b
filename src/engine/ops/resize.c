/*
 * Resize (ONNX opsets 10-20): modes nearest and linear (N-D, every axis), all coordinate
 * transformation modes (half_pixel, pytorch_half_pixel, align_corners, asymmetric,
 * tf_half_pixel_for_nn, tf_crop_and_resize with roi and extrapolation_value, and Resize-19's
 * half_pixel_symmetric), all nearest_mode
 * roundings, scales or sizes, opset 18 axes, keep_aspect_ratio_policy and antialias (linear
 * and cubic, float; every axis filtered separately with the filter stretched by 1/scale when
 * downscaling, as ONNX Runtime and Pillow do). Opset 10 (X, scales) is
 * asymmetric with floor rounding, like Upsample. The per-axis source indices and weights are
 * computed at assembly; running only gathers.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

enum { CT_HALF, CT_PT_HALF, CT_ALIGN, CT_ASYM, CT_TF_NN, CT_TF_CROP, CT_HALF_SYM };
enum { NM_RPF, NM_RPC, NM_FLOOR, NM_CEIL };

typedef struct rs_axis {
	uint32_t first; /* the taps: source indices (clamped: edge padding) TI[first .. first+n)
	                 * and their weights TW[...] */
	uint16_t n;     /* 1 (nearest or exact), 2 (linear), 4 (cubic), more with antialias */
	uint8_t outside;
} rs_axis;

typedef struct resize_state {
	int linear;
	int direct; /* every output reads one input element with weight 1, none outside (nearest) */
	float extrap;
	uint32_t rank;
	int64_t in[EML_MAX_RANK], out[EML_MAX_RANK];
	size_t off[EML_MAX_RANK]; /* start of axis d's table in tab[] */
	size_t ntab, ntaps;
	rs_axis tab[]; /* ntab entries, then int32_t ti[ntaps], then float tw[ntaps] */
} resize_state;

static const int32_t *rs_ti(const resize_state *s)
{
	return (const int32_t *)(const void *)(s->tab + s->ntab);
}

static const float *rs_tw(const resize_state *s)
{
	return (const float *)(const void *)(rs_ti(s) + s->ntaps);
}

/* Antialias filters (Resize-18+, ONNX reference and ONNX Runtime): triangle for linear, Keys'
 * cubic with coefficient A for cubic, stretched by 1/scale when downscaling. */
static double aa_filter(int cubic, double A, double x)
{
	x = fabs(x);
	if (!cubic)
		return x < 1 ? 1 - x : 0;
	if (x < 1)
		return ((A + 2) * x - (A + 3)) * x * x + 1;
	if (x < 2)
		return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
	return 0;
}

/* out is in * scale unrounded, out_int the output dimension. */
static double coord(int ct, double x, double scale, double in, double out, double out_int,
                    double r0, double r1, int *outside)
{
	*outside = 0;
	switch (ct) {
	case CT_HALF_SYM: {
		/* Resize-19: half_pixel about the centre of the input, so that the rounding of the
		 * output size shifts both edges alike */
		double adj = out > 0 ? out_int / out : 1.0;
		return in / 2 * (1 - adj) + (x + 0.5) / scale - 0.5;
	}
	case CT_PT_HALF:
		return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
	case CT_ALIGN:
		return out == 1 ? 0.0 : x * (in - 1) / (out - 1);
	case CT_ASYM:
		return x / scale;
	case CT_TF_NN:
		return (x + 0.5) / scale;
	case CT_TF_CROP: {
		double v = out > 1 ? r0 * (in - 1) + x * (r1 - r0) * (in - 1) / (out - 1)
		                   : 0.5 * (r0 + r1) * (in - 1);
		if (v < 0 || v > in - 1)
			*outside = 1;
		return v;
	}
	default:
		return (x + 0.5) / scale - 0.5;
	}
}

static int64_t nearest(int nm, double v, int64_t in)
{
	double f = floor(v), r;
	switch (nm) {
	case NM_FLOOR:
		r = f;
		break;
	case NM_CEIL:
		r = ceil(v);
		break;
	case NM_RPC:
		r = (v - f == 0.5) ? f + 1 : floor(v + 0.5);
		break;
	default:
		r = (v - f == 0.5) ? f : floor(v + 0.5);
		break;
	}
	int64_t i = (int64_t)r;
	return i < 0 ? 0 : (i >= in ? in - 1 : i);
}

static int resize_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	resize_state *s;
	EML_ENSURE(c->n_in >= 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	uint32_t r = X->rank;
	EML_ENSURE(X->dtype == EML_DT_FLOAT || X->dtype == EML_DT_UINT8 ||
	               X->dtype == EML_DT_INT8 || X->dtype == EML_DT_INT32 ||
	               X->dtype == EML_DT_INT64,
	           EML_E_ENGINE_SHAPE);
	int linear; /* 0 nearest, 1 linear, 2 cubic */
	if (eml_attr_s_eq(c->node, "mode", "nearest", 1))
		linear = 0;
	else if (eml_attr_s_eq(c->node, "mode", "linear", 0))
		linear = 1;
	else if (eml_attr_s_eq(c->node, "mode", "cubic", 0))
		linear = 2;
	else
		EML_FAIL(EML_E_UNSUPPORTED);
	float A = eml_attr_f(c->node, "cubic_coeff_a", -0.75f);
	int excl = (int)eml_attr_i(c->node, "exclude_outside", 0);
	/* antialias (Resize-18+) changes linear and cubic only; computed for float */
	int aa = linear != 0 && eml_attr_i(c->node, "antialias", 0) != 0;
	EML_ENSURE(!aa || X->dtype == EML_DT_FLOAT, EML_E_UNSUPPORTED);
	int ct = CT_HALF, nm = NM_RPF;
	if (c->opset < 11) {
		ct = CT_ASYM;
		nm = NM_FLOOR;
	} else {
		static const char *cts[] = {"half_pixel",           "pytorch_half_pixel",
		                            "align_corners",        "asymmetric",
		                            "tf_half_pixel_for_nn", "tf_crop_and_resize",
		                            "half_pixel_symmetric"};
		static const char *nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
		                            "ceil"};
		int found = eml_node_attr(c->node, "coordinate_transformation_mode") == NULL;
		/* half_pixel_symmetric is Resize-19's */
		for (int i = 0; i < (c->opset >= 19 ? 7 : 6); i++)
			if (eml_attr_s_eq(c->node, "coordinate_transformation_mode", cts[i], 0)) {
				ct = i;
				found = 1;
			}
		EML_ENSURE(found, EML_E_UNSUPPORTED);
		found = eml_node_attr(c->node, "nearest_mode") == NULL;
		for (int i = 0; i < 4; i++)
			if (eml_attr_s_eq(c->node, "nearest_mode", nms[i], 0)) {
				nm = i;
				found = 1;
			}
		EML_ENSURE(found, EML_E_UNSUPPORTED);
	}
	/* inputs: opset 10: X, scales; 11+: X, roi, scales, sizes */
	const eml_rt *roi = NULL, *scales = NULL, *sizes = NULL;
	if (c->opset < 11) {
		scales = c->n_in >= 2 ? c->in[1] : NULL;
	} else {
		roi = c->n_in >= 2 ? c->in[1] : NULL;
		scales = c->n_in >= 3 ? c->in[2] : NULL;
		sizes = c->n_in >= 4 ? c->in[3] : NULL;
	}
	if (scales != NULL && scales->elems == 0)
		scales = NULL;
	if (sizes != NULL && sizes->elems == 0)
		sizes = NULL;
	if (roi != NULL && roi->elems == 0)
		roi = NULL;
	EML_ENSURE((scales != NULL) != (sizes != NULL), EML_E_ENGINE_SHAPE);
	int64_t axes[EML_MAX_RANK];
	size_t na = r;
	uint32_t cnt;
	const int64_t *ax = eml_attr_ints(c->node, "axes", &cnt);
	if (ax != NULL) {
		EML_ENSURE(cnt <= r, EML_E_ENGINE_SHAPE);
		na = cnt;
		for (size_t i = 0; i < na; i++) {
			uint32_t a;
			EML_GUARD(eml_axis(ax[i], r, &a));
			axes[i] = a;
		}
	} else {
		for (uint32_t i = 0; i < r; i++)
			axes[i] = i;
	}
	double sc[EML_MAX_RANK], r0[EML_MAX_RANK], r1[EML_MAX_RANK];
	int64_t od[EML_MAX_RANK];
	for (uint32_t i = 0; i < r; i++) {
		sc[i] = 1.0;
		od[i] = X->dims[i];
		r0[i] = 0;
		r1[i] = 1;
	}
	const eml_rt *src = scales ? scales : sizes;
	EML_ENSURE(eml_rt_known(src) && src->elems == na, EML_E_ENGINE_SHAPE);
	if (scales != NULL) {
		EML_ENSURE(scales->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
		for (size_t i = 0; i < na; i++) {
			double v = ((const float *)scales->data)[i];
			EML_ENSURE(v > 0 && v < 1e6, EML_E_ENGINE_SHAPE);
			sc[axes[i]] = v;
			od[axes[i]] = (int64_t)floor((double)X->dims[axes[i]] * v);
		}
	} else {
		EML_ENSURE(sizes->dtype == EML_DT_INT64, EML_E_ENGINE_SHAPE);
		int pol = 0; /* stretch */
		if (eml_attr_s_eq(c->node, "keep_aspect_ratio_policy", "not_larger", 0))
			pol = 1;
		else if (eml_attr_s_eq(c->node, "keep_aspect_ratio_policy", "not_smaller", 0))
			pol = 2;
		double keep = pol == 1 ? INFINITY : 0;
		for (size_t i = 0; i < na; i++) {
			int64_t v = eml_rt_get_i(sizes, i);
			EML_ENSURE(v >= 0 && v < EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
			double in = (double)X->dims[axes[i]];
			double f = in > 0 ? (double)v / in : 1.0;
			if (pol == 1 && f < keep)
				keep = f;
			if (pol == 2 && f > keep)
				keep = f;
			od[axes[i]] = v;
			sc[axes[i]] = f;
		}
		if (pol != 0)
			for (size_t i = 0; i < na; i++) {
				sc[axes[i]] = keep;
				od[axes[i]] = (int64_t)floor((double)X->dims[axes[i]] * keep + 0.5);
			}
	}
	if (ct == CT_TF_CROP) {
		EML_ENSURE(roi != NULL && eml_rt_known(roi) && roi->elems == 2 * na,
		           EML_E_ENGINE_SHAPE);
		for (size_t i = 0; i < na; i++) {
			r0[axes[i]] = eml_rt_get_f(roi, i);
			r1[axes[i]] = eml_rt_get_f(roi, i + na);
		}
	}
	size_t total = 0, taps = 0;
	double support[EML_MAX_RANK];
	for (uint32_t i = 0; i < r; i++) {
		EML_ENSURE(od[i] >= 0 && od[i] < EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
		total += (size_t)od[i];
		/* taps per output: antialias covers |x - x_ori| < support = (1 or 2) / min(scale, 1) */
		support[i] = (linear == 2 ? 2.0 : 1.0) / (sc[i] > 0 && sc[i] < 1 ? sc[i] : 1.0);
		double win = aa ? 2 * ceil(support[i]) + 1 : 4;
		EML_ENSURE(win <= 4096, EML_E_ENGINE_SHAPE);
		taps += (size_t)od[i] * (size_t)win;
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, r, od));
	/* the per-axis tables live on the heap for the plan's life: keep them bounded */
	EML_ENSURE(total < ((size_t)1 << 22) && taps < ((size_t)1 << 24), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c,
	                       sizeof(*s) + (total + 1) * sizeof(rs_axis) +
	                           (taps + 1) * (sizeof(int32_t) + sizeof(float)),
	                       (void **)&s));
	s->ntab = total + 1;
	s->ntaps = taps + 1;
	int32_t *TI = (int32_t *)(void *)(s->tab + s->ntab);
	float *TW = (float *)(void *)(TI + s->ntaps);
	uint32_t nt = 0; /* taps used */
	s->linear = linear;
	s->extrap = eml_attr_f(c->node, "extrapolation_value", 0.0f);
	s->rank = r;
	size_t pos = 0;
	for (uint32_t d = 0; d < r; d++) {
		s->in[d] = X->dims[d];
		s->out[d] = od[d];
		s->off[d] = pos;
		for (int64_t o = 0; o < od[d]; o++) {
			rs_axis *t = &s->tab[pos + (size_t)o];
			t->first = nt;
			int outside;
			/* "length_resized" of the spec is in * scale, unrounded (as the ONNX
			 * reference evaluates it) */
			double v = coord(ct, (double)o, sc[d], (double)X->dims[d],
			                 (double)X->dims[d] * sc[d], (double)od[d], r0[d], r1[d],
			                 &outside);
			t->outside = (uint8_t)outside;
			int64_t in = X->dims[d];
			if (in == 0) {
				t->outside = 1;
				continue;
			}
			if (!linear) {
				t->n = 1;
				TI[nt] = (int32_t)nearest(nm, v, in);
				TW[nt++] = 1.0f;
				continue;
			}
			if (aa) {
				/* as ONNX Runtime (and Pillow) window it: taps j in
				 * [floor(v - support + 1), floor(v + support + 1)), weight
				 * filter((j - v) * min(scale, 1)), normalized; out-of-range taps
				 * read the edge (or are dropped with exclude_outside) */
				double sup = support[d], k = sc[d] < 1 ? sc[d] : 1.0, sum = 0;
				int64_t j0 = (int64_t)floor(v - sup + 1),
				        j1 = (int64_t)floor(v + sup + 1);
				if (j1 - j0 > (int64_t)(2 * ceil(sup) + 1))
					j1 = j0 + (int64_t)(2 * ceil(sup) + 1);
				uint32_t n0 = nt;
				for (int64_t j = j0; j < j1; j++) {
					if (excl && (j < 0 || j >= in))
						continue;
					double w = aa_filter(linear == 2, A, ((double)j - v) * k);
					TI[nt] = (int32_t)(j < 0 ? 0 : (j >= in ? in - 1 : j));
					TW[nt++] = (float)w;
					sum += w;
				}
				for (uint32_t q = n0; q < nt; q++)
					TW[q] = (float)(sum != 0 ? TW[q] / sum : TW[q]);
				if (nt == n0) {
					TI[nt] = 0;
					TW[nt++] = 0.0f;
				}
				t->n = (uint16_t)(nt - n0);
				continue;
			}
			/* ONNX reference: taps around floor(v), edge-padded; cubic per Keys with
			 * coefficient A; exclude_outside renormalizes over in-range taps */
			double f = floor(v), rr = v - f;
			int n = linear == 1 ? 2 : 4;
			int64_t first = (int64_t)f - (n == 4 ? 1 : 0);
			double w[4];
			if (n == 2) {
				w[0] = 1 - rr;
				w[1] = rr;
			} else {
				double x1 = rr + 1, x2 = 1 - rr, x3 = 2 - rr;
				w[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
				w[1] = ((A + 2) * rr - (A + 3)) * rr * rr + 1;
				w[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
				w[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
			}
			double sum = 0;
			for (int k = 0; k < n; k++) {
				int64_t ix = first + k;
				if (excl && (ix < 0 || ix >= in))
					w[k] = 0;
				sum += w[k];
				TI[nt + (uint32_t)k] =
				    (int32_t)(ix < 0 ? 0 : (ix >= in ? in - 1 : ix));
			}
			for (int k = 0; k < n; k++)
				TW[nt + (uint32_t)k] =
				    (float)(excl && sum != 0 ? w[k] / sum : w[k]);
			t->n = (uint16_t)n;
			if (rr == 0 && !excl) {
				/* exact position: one tap */
				t->n = 1;
				TI[nt] =
				    (int32_t)(f < 0 ? 0 : (f >= (double)in ? (double)in - 1 : f));
				TW[nt] = 1.0f;
			}
			nt += t->n;
		}
		pos += (size_t)od[d];
	}
	s->direct = 1;
	for (size_t i = 0; i + 1 < s->ntab && s->direct; i++)
		if (s->tab[i].outside || s->tab[i].n != 1 || TW[s->tab[i].first] != 1.0f)
			s->direct = 0;
out:
	return rc;
}

/* Float path: rows along the last axis; outer interpolated axes combine whole rows. */
typedef struct rs_job {
	const resize_state *s;
	const float *x;
	float *y;
	int64_t xst[EML_MAX_RANK];
} rs_job;

static void rs_rows(void *ctx, size_t r0, size_t r1)
{
	const rs_job *j = ctx;
	const resize_state *s = j->s;
	uint32_t r = s->rank, last = r - 1;
	int64_t W = s->out[last];
	const rs_axis *lt = &s->tab[s->off[last]];
	const int32_t *TI = rs_ti(s);
	const float *TW = rs_tw(s);
	int64_t idx[EML_MAX_RANK] = {0};
	size_t rem = r0;
	for (int d = (int)r - 2; d >= 0; d--) {
		idx[d] = (int64_t)(rem % (size_t)s->out[d]);
		rem /= (size_t)s->out[d];
	}
	int64_t prev = -1;
	for (size_t row = r0; row < r1; row++) {
		float *y = j->y + row * (size_t)W;
		const rs_axis *t[EML_MAX_RANK];
		if (s->direct) {
			/* Nearest: a gather along the row; an upscaled row that reads the same input
			 * row as the one above it is a copy of it. */
			int64_t b = 0;
			for (uint32_t d = 0; d < last; d++)
				b += (int64_t)TI[s->tab[s->off[d] + (size_t)idx[d]].first] *
				     j->xst[d];
			if (b == prev) {
				memcpy(y, y - W, (size_t)W * sizeof(float));
			} else {
				const float *xr = j->x + b;
				for (int64_t o = 0; o < W; o++)
					y[o] = xr[TI[lt[o].first]];
			}
			prev = b;
		} else {
			uint32_t lin[EML_MAX_RANK];
			int nlin = 0, outside = 0;
			int64_t base = 0;
			for (uint32_t d = 0; d < last; d++) {
				t[d] = &s->tab[s->off[d] + (size_t)idx[d]];
				outside |= t[d]->outside;
				if (t[d]->n == 1)
					base += (int64_t)TI[t[d]->first] * j->xst[d];
				else
					lin[nlin++] = d;
			}
			if (outside) {
				for (int64_t o = 0; o < W; o++)
					y[o] = s->extrap;
			} else {
				memset(y, 0, (size_t)W * sizeof(float));
				uint32_t k[EML_MAX_RANK] = {0};
				for (;;) {
					int64_t off = base;
					float w = 1.0f;
					for (int q = 0; q < nlin; q++) {
						const rs_axis *a = t[lin[q]];
						off +=
						    (int64_t)TI[a->first + k[q]] * j->xst[lin[q]];
						w *= TW[a->first + k[q]];
					}
					const float *xr = j->x + off;
					for (int64_t o = 0; o < W; o++) {
						const rs_axis *a = &lt[o];
						const int32_t *ai = TI + a->first;
						const float *aw = TW + a->first;
						float v = aw[0] * xr[ai[0]];
						for (int q = 1; q < a->n; q++)
							v += aw[q] * xr[ai[q]];
						y[o] += w * v;
					}
					int q = 0;
					while (q < nlin && ++k[q] >= t[lin[q]]->n)
						k[q++] = 0;
					if (q == nlin)
						break;
				}
				for (int64_t o = 0; o < W; o++)
					if (lt[o].outside)
						y[o] = s->extrap;
			}
		}
		for (int d = (int)r - 2; d >= 0; d--) {
			if (++idx[d] < s->out[d])
				break;
			idx[d] = 0;
		}
	}
}

static int resize_run(eml_op_ctx *c)
{
	{
		const resize_state *s = c->state;
		const eml_rt *X0 = c->in[0];
		if (X0->dtype == EML_DT_FLOAT && s->rank >= 1 && c->out[0]->elems > 0) {
			rs_job j;
			j.s = s;
			j.x = X0->data;
			j.y = c->out[0]->data;
			int64_t st = 1;
			for (int d = (int)s->rank - 1; d >= 0; d--) {
				j.xst[d] = st;
				st *= s->in[d];
			}
			size_t rows = (size_t)(c->out[0]->elems / (uint64_t)s->out[s->rank - 1]);
			eml_parallel_for(c->pool, c->threads, rows, 64, rs_rows, &j);
			return EML_OK;
		}
	}
	const resize_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	uint32_t r = s->rank;
	int64_t xst[EML_MAX_RANK], st = 1;
	for (int d = (int)r - 1; d >= 0; d--) {
		xst[d] = st;
		st *= s->in[d];
	}
	int64_t idx[EML_MAX_RANK] = {0};
	const int32_t *TI = rs_ti(s);
	const float *TW = rs_tw(s);
	int isf = X->dtype == EML_DT_FLOAT;
	for (uint64_t e = 0; e < Y->elems; e++) {
		const rs_axis *t[EML_MAX_RANK];
		int outside = 0, nlin = 0;
		uint32_t lin[EML_MAX_RANK];
		int64_t base = 0;
		for (uint32_t d = 0; d < r; d++) {
			t[d] = &s->tab[s->off[d] + (size_t)idx[d]];
			outside |= t[d]->outside;
			if (t[d]->n == 1)
				base += (int64_t)TI[t[d]->first] * xst[d];
			else
				lin[nlin++] = d;
		}
		double v;
		if (outside) {
			v = s->extrap;
		} else if (nlin == 0) {
			v = isf ? ((const float *)X->data)[base]
			        : (double)eml_ld_i(X->data, X->dtype, (size_t)base);
		} else {
			/* sum over all tap combinations of the interpolated axes */
			uint32_t k[EML_MAX_RANK] = {0};
			v = 0;
			for (;;) {
				int64_t off = base;
				double w = 1;
				for (int q = 0; q < nlin; q++) {
					const rs_axis *a = t[lin[q]];
					off += (int64_t)TI[a->first + k[q]] * xst[lin[q]];
					w *= TW[a->first + k[q]];
				}
				double xv = isf ? ((const float *)X->data)[off]
				                : (double)eml_ld_i(X->data, X->dtype, (size_t)off);
				v += w * xv;
				int q = 0;
				while (q < nlin && ++k[q] >= t[lin[q]]->n)
					k[q++] = 0;
				if (q == nlin)
					break;
			}
		}
		if (isf)
			((float *)Y->data)[e] = (float)v;
		else
			eml_st_i(Y->data, Y->dtype, e, (int64_t)(s->linear ? floor(v + 0.5) : v));
		for (int d = (int)r - 1; d >= 0; d--) {
			if (++idx[d] < s->out[d])
				break;
			idx[d] = 0;
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_resize = {"Resize", 1, 99, resize_prep, resize_run, NULL, NULL};
