/*
 * Det (11+): determinants of the trailing square matrices, by Gaussian elimination with partial
 * pivoting in double.
 * NonMaxSuppression (10+): per batch and class, boxes whose score exceeds score_threshold, taken
 * greedily by descending score (ties: lower index first) while no already-selected box overlaps
 * with IoU > iou_threshold, at most max_output_boxes_per_class; center_point_box 0 (corner pairs
 * in either order) or 1 (center, width, height). The output's row count depends on the values:
 * boxes, scores and the thresholds must be known at assembly (constants or graph inputs; the plan
 * is per request).
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

/* ----- Det ----- */

static int det_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 2 && eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	int64_t n = X->dims[X->rank - 1];
	EML_ENSURE(X->dims[X->rank - 2] == n && n <= 4096, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank - 2, X->dims));
	c->scratch_bytes = (size_t)(n * n) * sizeof(double);
out:
	return rc;
}

static int det_run(eml_op_ctx *c)
{
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	int64_t n = X->dims[X->rank - 1];
	double *a = c->scratch;
	for (uint64_t m = 0; m < Y->elems; m++) {
		for (int64_t i = 0; i < n * n; i++)
			a[i] = eml_ld_f(X->data, X->dtype,
			                (size_t)(m * (uint64_t)(n * n) + (uint64_t)i));
		double det = 1;
		for (int64_t k = 0; k < n; k++) {
			int64_t p = k;
			for (int64_t i = k + 1; i < n; i++)
				if (fabs(a[i * n + k]) > fabs(a[p * n + k]))
					p = i;
			if (a[p * n + k] == 0) {
				det = 0;
				break;
			}
			if (p != k) {
				for (int64_t j = 0; j < n; j++) {
					double t = a[k * n + j];
					a[k * n + j] = a[p * n + j];
					a[p * n + j] = t;
				}
				det = -det;
			}
			det *= a[k * n + k];
			for (int64_t i = k + 1; i < n; i++) {
				double f = a[i * n + k] / a[k * n + k];
				for (int64_t j = k; j < n; j++)
					a[i * n + j] -= f * a[k * n + j];
			}
		}
		eml_st_f(Y->data, Y->dtype, m, det);
	}
	return EML_OK;
}

const eml_op_def eml_op_det = {"Det", 11, 18, det_prep, det_run, NULL, NULL};

/* ----- NonMaxSuppression ----- */

typedef struct nms_state {
	int center;
	int64_t max_out;
	float iou, score;
	int has_score;
} nms_state;

static void box_corners(const float *b, int center, float *y1, float *x1, float *y2, float *x2)
{
	if (center) {
		/* [x_center, y_center, width, height] */
		*x1 = b[0] - b[2] / 2;
		*x2 = b[0] + b[2] / 2;
		*y1 = b[1] - b[3] / 2;
		*y2 = b[1] + b[3] / 2;
	} else {
		*y1 = fminf(b[0], b[2]);
		*y2 = fmaxf(b[0], b[2]);
		*x1 = fminf(b[1], b[3]);
		*x2 = fmaxf(b[1], b[3]);
	}
}

static float iou_of(const float *a, const float *b, int center)
{
	float ay1, ax1, ay2, ax2, by1, bx1, by2, bx2;
	box_corners(a, center, &ay1, &ax1, &ay2, &ax2);
	box_corners(b, center, &by1, &bx1, &by2, &bx2);
	float iy = fminf(ay2, by2) - fmaxf(ay1, by1), ix = fminf(ax2, bx2) - fmaxf(ax1, bx1);
	if (iy <= 0 || ix <= 0)
		return 0;
	float inter = iy * ix;
	float ua = (ay2 - ay1) * (ax2 - ax1) + (by2 - by1) * (bx2 - bx1) - inter;
	return ua > 0 ? inter / ua : 0;
}

/* Runs the selection; writes rows into out (when non-NULL, at most cap); returns the count.
 * order/sel: scratch of N indices each. */
static int64_t nms_select(const nms_state *s, const eml_rt *Bx, const eml_rt *Sc, int64_t *order,
                          int64_t *sel, int64_t *out, int64_t cap)
{
	int64_t NB = Sc->dims[0], NC = Sc->dims[1], N = Sc->dims[2], rows = 0;
	const float *boxes = Bx->data, *scores = Sc->data;
	for (int64_t b = 0; b < NB; b++)
		for (int64_t cl = 0; cl < NC; cl++) {
			const float *sc = scores + (b * NC + cl) * N;
			int64_t n = 0;
			for (int64_t i = 0; i < N; i++)
				if (!s->has_score || sc[i] > s->score)
					order[n++] = i;
			/* insertion sort by descending score, stable (lower index first on ties) */
			for (int64_t i = 1; i < n; i++) {
				int64_t v = order[i], j = i - 1;
				while (j >= 0 && sc[order[j]] < sc[v]) {
					order[j + 1] = order[j];
					j--;
				}
				order[j + 1] = v;
			}
			int64_t ns = 0;
			for (int64_t i = 0; i < n && ns < s->max_out; i++) {
				const float *bi = boxes + (b * N + order[i]) * 4;
				int keep = 1;
				for (int64_t k = 0; k < ns && keep; k++)
					keep = !(iou_of(bi, boxes + (b * N + sel[k]) * 4,
					                s->center) > s->iou);
				if (!keep)
					continue;
				sel[ns++] = order[i];
				if (out != NULL && rows < cap) {
					out[rows * 3] = b;
					out[rows * 3 + 1] = cl;
					out[rows * 3 + 2] = order[i];
				}
				rows++;
			}
		}
	return rows;
}

static int nms_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	nms_state *s;
	int64_t *scr = NULL;
	EML_ENSURE(c->n_in >= 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *Bx = c->in[0], *Sc = c->in[1];
	EML_ENSURE(Bx->dtype == EML_DT_FLOAT && Sc->dtype == EML_DT_FLOAT && Bx->rank == 3 &&
	               Sc->rank == 3 && Bx->dims[2] == 4 && Bx->dims[0] == Sc->dims[0] &&
	               Bx->dims[1] == Sc->dims[2],
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->center = (int)eml_attr_i(c->node, "center_point_box", 0);
	EML_ENSURE(s->center == 0 || s->center == 1, EML_E_ENGINE_SHAPE);
	/* the selected count is the output's shape: every input must be known now */
	for (uint32_t k = 0; k < c->n_in; k++)
		if (c->in[k] != NULL)
			EML_ENSURE(eml_rt_known(c->in[k]), EML_E_UNSUPPORTED);
	if (c->n_in > 2 && c->in[2] != NULL && c->in[2]->elems > 0)
		s->max_out = eml_rt_get_i(c->in[2], 0);
	if (c->n_in > 3 && c->in[3] != NULL && c->in[3]->elems > 0)
		s->iou = (float)eml_rt_get_f(c->in[3], 0);
	if (c->n_in > 4 && c->in[4] != NULL && c->in[4]->elems > 0) {
		s->score = (float)eml_rt_get_f(c->in[4], 0);
		s->has_score = 1;
	}
	EML_ENSURE(s->max_out >= 0 && s->iou >= 0 && s->iou <= 1, EML_E_ENGINE_SHAPE);
	int64_t N = Sc->dims[2];
	EML_ENSURE(N <= EML_ENGINE_MAX_DIM / 4, EML_E_ENGINE_SHAPE);
	scr = eml_calloc((size_t)(2 * N + 1), sizeof(int64_t));
	EML_ENSURE(scr != NULL, EML_E_NOMEM);
	int64_t rows = nms_select(s, Bx, Sc, scr, scr + N, NULL, 0);
	int64_t d[2] = {rows, 3};
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_INT64, 2, d));
	c->scratch_bytes = (size_t)(2 * N + 1) * sizeof(int64_t);
out:
	eml_free(scr);
	return rc;
}

static int nms_run(eml_op_ctx *c)
{
	const nms_state *s = c->state;
	const eml_rt *Sc = c->in[1];
	int64_t N = Sc->dims[2];
	int64_t *scr = c->scratch;
	eml_rt *Y = c->out[0];
	int64_t rows = nms_select(s, c->in[0], Sc, scr, scr + N, Y->data, Y->dims[0]);
	return rows == Y->dims[0] ? EML_OK : EML_E_ENGINE_OP;
}

const eml_op_def eml_op_nms = {"NonMaxSuppression", 10, 18, nms_prep, nms_run, NULL, NULL};

/* ----- Unique (11+): unique elements (no axis: flattened) or slices along axis; sorted (default)
 * lexicographically ascending, else in order of first occurrence. Outputs Y, indices (first
 * occurrence), inverse_indices, counts. The unique count is the output shape: X must be known at
 * assembly (constant or graph input). ----- */

typedef struct uniq_state {
	int sorted;
	uint32_t axis; /* in the (outer, n, inner) view */
	uint64_t outer, n, inner;
	int64_t u;
} uniq_state;

static int uniq_cmp(const eml_rt *X, const uniq_state *s, uint64_t a, uint64_t b)
{
	int real = eml_dt_is_real(X->dtype);
	for (uint64_t o = 0; o < s->outer; o++)
		for (uint64_t i = 0; i < s->inner; i++) {
			size_t ia = (size_t)((o * s->n + a) * s->inner + i);
			size_t ib = (size_t)((o * s->n + b) * s->inner + i);
			if (real) {
				double x = eml_ld_f(X->data, X->dtype, ia),
				       y = eml_ld_f(X->data, X->dtype, ib);
				if (x != y)
					return x < y ? -1 : 1;
			} else {
				int64_t x = eml_ld_i(X->data, X->dtype, ia),
				        y = eml_ld_i(X->data, X->dtype, ib);
				if (x != y)
					return x < y ? -1 : 1;
			}
		}
	return 0;
}

/* first occurrences into list (sorted if asked); returns the count */
static int64_t uniq_list(const eml_rt *X, const uniq_state *s, int64_t *list)
{
	int64_t u = 0;
	for (uint64_t k = 0; k < s->n; k++) {
		int64_t j = 0;
		while (j < u && uniq_cmp(X, s, (uint64_t)list[j], k) != 0)
			j++;
		if (j == u)
			list[u++] = (int64_t)k;
	}
	if (s->sorted)
		for (int64_t i = 1; i < u; i++) {
			int64_t v = list[i], j = i - 1;
			while (j >= 0 && uniq_cmp(X, s, (uint64_t)list[j], (uint64_t)v) > 0) {
				list[j + 1] = list[j];
				j--;
			}
			list[j + 1] = v;
		}
	return u;
}

static int uniq_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	uniq_state *s;
	int64_t *list = NULL;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->n_out >= 1, EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(eml_dt_is_real(X->dtype) ||
	               (eml_dtype_size(X->dtype) != 0 && X->dtype != EML_DT_STRING),
	           EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_rt_known(X), EML_E_UNSUPPORTED);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->sorted = (int)eml_attr_i(c->node, "sorted", 1);
	const eml_attr *a = eml_node_attr(c->node, "axis");
	int64_t d[EML_MAX_RANK];
	uint32_t r, ax = 0;
	s->outer = s->inner = 1;
	if (a == NULL) {
		s->n = X->elems;
		r = 1;
	} else {
		EML_GUARD(eml_axis(a->i, X->rank, &ax));
		for (uint32_t i = 0; i < X->rank; i++) {
			if (i < ax)
				s->outer *= (uint64_t)X->dims[i];
			else if (i > ax)
				s->inner *= (uint64_t)X->dims[i];
		}
		s->n = (uint64_t)X->dims[ax];
		memcpy(d, X->dims, sizeof(d));
		r = X->rank;
	}
	EML_ENSURE(s->n <= (uint64_t)EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
	list = eml_calloc((size_t)s->n + 1, sizeof(int64_t));
	EML_ENSURE(list != NULL, EML_E_NOMEM);
	s->u = uniq_list(X, s, list);
	d[a == NULL ? 0 : ax] = s->u;
	if (c->out[0] != NULL)
		EML_GUARD(eml_rt_set(c->out[0], X->dtype, r, d));
	int64_t du = s->u, dn = (int64_t)s->n;
	for (uint32_t k = 1; k < c->n_out && k < 4; k++)
		if (c->out[k] != NULL)
			EML_GUARD(eml_rt_set(c->out[k], EML_DT_INT64, 1, k == 2 ? &dn : &du));
	EML_ENSURE(c->n_out <= 4, EML_E_ENGINE_SHAPE);
	c->scratch_bytes = ((size_t)s->n + 1) * sizeof(int64_t);
out:
	eml_free(list);
	return rc;
}

static int uniq_run(eml_op_ctx *c)
{
	const uniq_state *s = c->state;
	const eml_rt *X = c->in[0];
	int64_t *list = c->scratch;
	if (uniq_list(X, s, list) != s->u)
		return EML_E_ENGINE_OP;
	size_t es = eml_dtype_size(X->dtype);
	eml_rt *Y = c->out[0], *I = c->n_out > 1 ? c->out[1] : NULL;
	eml_rt *V = c->n_out > 2 ? c->out[2] : NULL, *C = c->n_out > 3 ? c->out[3] : NULL;
	if (C != NULL)
		memset(C->data, 0, C->bytes);
	for (int64_t j = 0; j < s->u; j++) {
		if (Y != NULL)
			for (uint64_t o = 0; o < s->outer; o++)
				memcpy((uint8_t *)Y->data +
				           ((o * (uint64_t)s->u + (uint64_t)j) * s->inner) * es,
				       (const uint8_t *)X->data +
				           ((o * s->n + (uint64_t)list[j]) * s->inner) * es,
				       s->inner * es);
		if (I != NULL)
			((int64_t *)I->data)[j] = list[j];
	}
	for (uint64_t k = 0; k < s->n; k++) {
		int64_t j = 0;
		while (j < s->u && uniq_cmp(X, s, (uint64_t)list[j], k) != 0)
			j++;
		if (j == s->u)
			return EML_E_ENGINE_OP;
		if (V != NULL)
			((int64_t *)V->data)[k] = j;
		if (C != NULL)
			((int64_t *)C->data)[j]++;
	}
	return EML_OK;
}

const eml_op_def eml_op_unique = {"Unique", 11, 18, uniq_prep, uniq_run, NULL, NULL};

/* ----- GridSample (16+): input (N, C, D1..Dr), grid (N, D1_out..Dr_out, r) of normalized
 * coordinates, the last grid axis in reverse axis order (x for the last input axis, then y, z);
 * GridSample-16 is 2-D (r = 2) with modes bilinear / nearest / bicubic, GridSample-20 any r >= 1
 * with the modes renamed linear / nearest / cubic (N-linear and N-cubic: the tensor product of
 * the 1-D weights). Nearest rounds half to even; cubic uses A = -0.75; padding zeros / border /
 * reflection; align_corners. Follows the ONNX reference and ONNX Runtime step for step
 * (denormalize, fold out-of-range coordinates, then fetch samples with the padding rule). ----- */

enum { GS_LINEAR = 0, GS_NEAREST, GS_CUBIC };
enum { GS_ZEROS = 0, GS_BORDER, GS_REFLECT };
#define GS_MAX_R (EML_MAX_RANK - 2)

typedef struct gs_state {
	int mode, pad, align;
} gs_state;

static int gs_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	gs_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0], *G = c->in[1];
	int v20 = c->opset >= 20;
	uint32_t r = X->rank >= 3 ? X->rank - 2 : 0;
	EML_ENSURE(v20 ? X->rank >= 3 : X->rank == 4, EML_E_ENGINE_SHAPE);
	EML_ENSURE(G->rank == X->rank && G->dims[0] == X->dims[0] &&
	               G->dims[G->rank - 1] == (int64_t)r,
	           EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_dt_is_real(X->dtype) && eml_dt_is_real(G->dtype), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	if (eml_attr_s_eq(c->node, "mode", v20 ? "linear" : "bilinear", 1))
		s->mode = GS_LINEAR;
	else if (eml_attr_s_eq(c->node, "mode", "nearest", 0))
		s->mode = GS_NEAREST;
	else if (eml_attr_s_eq(c->node, "mode", v20 ? "cubic" : "bicubic", 0))
		s->mode = GS_CUBIC;
	else
		EML_FAIL(EML_E_ENGINE_SHAPE);
	if (eml_attr_s_eq(c->node, "padding_mode", "zeros", 1))
		s->pad = GS_ZEROS;
	else if (eml_attr_s_eq(c->node, "padding_mode", "border", 0))
		s->pad = GS_BORDER;
	else if (eml_attr_s_eq(c->node, "padding_mode", "reflection", 0))
		s->pad = GS_REFLECT;
	else
		EML_FAIL(EML_E_ENGINE_SHAPE);
	s->align = (int)eml_attr_i(c->node, "align_corners", 0);
	int64_t d[EML_MAX_RANK];
	d[0] = X->dims[0];
	d[1] = X->dims[1];
	for (uint32_t a = 0; a < r; a++)
		d[2 + a] = G->dims[1 + a];
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, d));
out:
	return rc;
}

static double gs_reflect(double x, double lo, double hi)
{
	double range = hi - lo;
	if (x < lo) {
		double dx = lo - x;
		int n = (int)(dx / range);
		double r = dx - n * range;
		return n % 2 == 0 ? lo + r : hi - r;
	}
	if (x > hi) {
		double dx = x - hi;
		int n = (int)(dx / range);
		double r = dx - n * range;
		return n % 2 == 0 ? hi - r : lo + r;
	}
	return x;
}

static void gs_cubic_coeffs(double x, double *k)
{
	const double A = -0.75;
	x = fabs(x);
	k[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
	k[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
	k[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
	k[3] = ((A * (2 - x) - 5 * A) * (2 - x) + 8 * A) * (2 - x) - 4 * A;
}

typedef struct gs_geom {
	uint32_t r;
	int64_t in[GS_MAX_R];
	double lo[GS_MAX_R], hi[GS_MAX_R]; /* the border of each axis */
} gs_geom;

/* The sample at integer position idx[] with the padding rule (0 outside for zeros). */
static double gs_sample(const gs_state *s, const gs_geom *g, const eml_rt *X, size_t base,
                        const int64_t *idx)
{
	size_t off = 0;
	for (uint32_t a = 0; a < g->r; a++) {
		int64_t i = idx[a], n = g->in[a];
		if (s->pad == GS_ZEROS) {
			if (i < 0 || i >= n)
				return 0;
		} else if (s->pad == GS_BORDER) {
			i = i < 0 ? 0 : (i >= n ? n - 1 : i);
		} else {
			i = (int64_t)gs_reflect((double)i, g->lo[a], g->hi[a]);
		}
		off = off * (size_t)n + (size_t)i;
	}
	return eml_ld_f(X->data, X->dtype, base + off);
}

static int gs_run(eml_op_ctx *c)
{
	const gs_state *s = c->state;
	const eml_rt *X = c->in[0], *G = c->in[1];
	eml_rt *Y = c->out[0];
	gs_geom g;
	g.r = X->rank - 2;
	uint32_t r = g.r;
	int64_t N = X->dims[0], C = X->dims[1];
	size_t in_sp = 1, out_sp = 1;
	for (uint32_t a = 0; a < r; a++) {
		int64_t n = X->dims[2 + a];
		g.in[a] = n;
		in_sp *= (size_t)n;
		out_sp *= (size_t)Y->dims[2 + a];
		g.lo[a] = s->align ? 0 : -0.5;
		g.hi[a] = s->align ? (double)(n - 1) : (double)n - 0.5;
	}
	int taps1 = s->mode == GS_NEAREST ? 1 : (s->mode == GS_LINEAR ? 2 : 4);
	size_t ncomb = 1;
	for (uint32_t a = 0; a < r; a++)
		ncomb *= (size_t)taps1;
	for (int64_t n = 0; n < N; n++)
		for (size_t o = 0; o < out_sp; o++) {
			/* coordinates (and taps) are the same for every channel */
			double x[GS_MAX_R], w[GS_MAX_R][4];
			int64_t first[GS_MAX_R];
			size_t gi = ((size_t)n * out_sp + o) * r;
			for (uint32_t a = 0; a < r; a++) {
				double gv = eml_ld_f(G->data, G->dtype, gi + (r - 1 - a));
				double len = (double)g.in[a];
				x[a] =
				    s->align ? (gv + 1) / 2 * (len - 1) : ((gv + 1) * len - 1) / 2;
				if (s->mode == GS_NEAREST)
					x[a] = nearbyint(x[a]);
				/* a coordinate past its axis' border is folded back, per axis as the
				 * ONNX reference does (ONNX Runtime differs for cubic + border:
				 * docs/DECISIONS.md) */
				if (x[a] < g.lo[a] || x[a] > g.hi[a]) {
					if (s->pad == GS_BORDER)
						x[a] = x[a] < 0 ? 0
						                : (x[a] > len - 1 ? len - 1 : x[a]);
					else if (s->pad == GS_REFLECT)
						x[a] = gs_reflect(x[a], g.lo[a], g.hi[a]);
				}
			}
			for (uint32_t a = 0; a < r; a++) {
				if (s->mode == GS_NEAREST) {
					first[a] = (int64_t)x[a];
					w[a][0] = 1;
				} else if (s->mode == GS_LINEAR) {
					first[a] = (int64_t)floor(x[a]);
					w[a][0] = (double)(first[a] + 1) - x[a];
					w[a][1] = x[a] - (double)first[a];
				} else {
					first[a] = (int64_t)floor(x[a]) - 1;
					gs_cubic_coeffs(x[a] - (double)first[a] - 1, w[a]);
				}
			}
			for (int64_t ch = 0; ch < C; ch++) {
				size_t base = (size_t)(n * C + ch) * in_sp;
				double v = 0;
				for (size_t comb = 0; comb < ncomb; comb++) {
					/* last axis fastest, as the 2-D form sums rows of taps */
					int64_t idx[GS_MAX_R];
					double wt = 1;
					size_t rem = comb;
					for (int a = (int)r - 1; a >= 0; a--) {
						int k = (int)(rem % (size_t)taps1);
						rem /= (size_t)taps1;
						idx[a] = first[a] + k;
						wt *= w[a][k];
					}
					v += wt * gs_sample(s, &g, X, base, idx);
				}
				eml_st_f(Y->data, Y->dtype, (size_t)(n * C + ch) * out_sp + o, v);
			}
		}
	return EML_OK;
}

const eml_op_def eml_op_gridsample = {"GridSample", 16, 20, gs_prep, gs_run, NULL, NULL};

/* ----- RoiAlign (10+; coordinate_transformation_mode 16+, default half_pixel from 16,
 * output_half_pixel before): bilinear samples on a sampling_ratio grid per bin (adaptive when 0),
 * averaged (avg) or the maximum of the weighted corner values (max), as ONNX Runtime computes it.
 * ----- */

typedef struct roi_state {
	int max_mode, half_pixel;
	int64_t oh, ow, ratio;
	float scale;
} roi_state;

static int roi_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	roi_state *s;
	EML_ENSURE(c->n_in == 3 && c->in[0] && c->in[1] && c->in[2] && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0], *R = c->in[1], *Bi = c->in[2];
	EML_ENSURE(X->rank == 4 && eml_dt_is_real(X->dtype) && R->rank == 2 && R->dims[1] == 4 &&
	               R->dtype == X->dtype && Bi->rank == 1 && Bi->dims[0] == R->dims[0] &&
	               (Bi->dtype == EML_DT_INT64 || Bi->dtype == EML_DT_INT32),
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->max_mode = eml_attr_s_eq(c->node, "mode", "max", 0);
	EML_ENSURE(s->max_mode || eml_attr_s_eq(c->node, "mode", "avg", 1), EML_E_ENGINE_SHAPE);
	if (c->opset >= 16) {
		s->half_pixel =
		    eml_attr_s_eq(c->node, "coordinate_transformation_mode", "half_pixel", 1);
		EML_ENSURE(s->half_pixel || eml_attr_s_eq(c->node, "coordinate_transformation_mode",
		                                          "output_half_pixel", 0),
		           EML_E_ENGINE_SHAPE);
	}
	s->oh = eml_attr_i(c->node, "output_height", 1);
	s->ow = eml_attr_i(c->node, "output_width", 1);
	s->ratio = eml_attr_i(c->node, "sampling_ratio", 0);
	s->scale = eml_attr_f(c->node, "spatial_scale", 1.0f);
	EML_ENSURE(s->oh >= 1 && s->ow >= 1 && s->ratio >= 0 && s->oh <= 65536 && s->ow <= 65536,
	           EML_E_ENGINE_SHAPE);
	int64_t d[4] = {R->dims[0], X->dims[1], s->oh, s->ow};
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, 4, d));
out:
	return rc;
}

static int roi_run(eml_op_ctx *c)
{
	const roi_state *s = c->state;
	const eml_rt *X = c->in[0], *R = c->in[1], *Bi = c->in[2];
	eml_rt *Y = c->out[0];
	int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], W = X->dims[3];
	int32_t dt = X->dtype;
	for (int64_t n = 0; n < R->dims[0]; n++) {
		int64_t b = eml_rt_get_i(Bi, (uint64_t)n);
		if (b < 0 || b >= N)
			return EML_E_ENGINE_OP;
		double off = s->half_pixel ? 0.5 : 0.0;
		double sw = eml_ld_f(R->data, dt, (size_t)(n * 4)) * s->scale - off;
		double sh = eml_ld_f(R->data, dt, (size_t)(n * 4 + 1)) * s->scale - off;
		double ew = eml_ld_f(R->data, dt, (size_t)(n * 4 + 2)) * s->scale - off;
		double eh = eml_ld_f(R->data, dt, (size_t)(n * 4 + 3)) * s->scale - off;
		double rw = ew - sw, rh = eh - sh;
		if (!s->half_pixel) {
			rw = rw > 1 ? rw : 1;
			rh = rh > 1 ? rh : 1;
		}
		double bh = rh / (double)s->oh, bw = rw / (double)s->ow;
		int64_t gh = s->ratio > 0 ? s->ratio : (int64_t)ceil(rh / (double)s->oh);
		int64_t gw = s->ratio > 0 ? s->ratio : (int64_t)ceil(rw / (double)s->ow);
		if (gh > 4096 || gw > 4096)
			return EML_E_ENGINE_OP;
		double count = (double)(gh * gw > 1 ? gh * gw : 1);
		for (int64_t ch = 0; ch < C; ch++) {
			size_t base = (size_t)((b * C + ch) * H * W);
			for (int64_t ph = 0; ph < s->oh; ph++)
				for (int64_t pw = 0; pw < s->ow; pw++) {
					double acc = 0;
					int seen = 0;
					for (int64_t iy = 0; iy < gh; iy++)
						for (int64_t ix = 0; ix < gw; ix++) {
							double y =
							    sh + (double)ph * bh +
							    ((double)iy + 0.5) * bh / (double)gh;
							double x =
							    sw + (double)pw * bw +
							    ((double)ix + 0.5) * bw / (double)gw;
							double v1 = 0, v2 = 0, v3 = 0, v4 = 0;
							double w1 = 0, w2 = 0, w3 = 0, w4 = 0;
							if (!(y < -1.0 || y > (double)H ||
							      x < -1.0 || x > (double)W)) {
								if (y <= 0)
									y = 0;
								if (x <= 0)
									x = 0;
								int64_t yl = (int64_t)y,
								        xl = (int64_t)x, yh, xh;
								if (yl >= H - 1) {
									yh = yl = H - 1;
									y = (double)yl;
								} else {
									yh = yl + 1;
								}
								if (xl >= W - 1) {
									xh = xl = W - 1;
									x = (double)xl;
								} else {
									xh = xl + 1;
								}
								double ly = y - (double)yl,
								       lx = x - (double)xl;
								double hy = 1 - ly, hx = 1 - lx;
								w1 = hy * hx;
								w2 = hy * lx;
								w3 = ly * hx;
								w4 = ly * lx;
								v1 = eml_ld_f(
								    X->data, dt,
								    base + (size_t)(yl * W + xl));
								v2 = eml_ld_f(
								    X->data, dt,
								    base + (size_t)(yl * W + xh));
								v3 = eml_ld_f(
								    X->data, dt,
								    base + (size_t)(yh * W + xl));
								v4 = eml_ld_f(
								    X->data, dt,
								    base + (size_t)(yh * W + xh));
							}
							if (s->max_mode) {
								double v = fmax(
								    fmax(fmax(w1 * v1, w2 * v2),
								         w3 * v3),
								    w4 * v4);
								acc = seen ? fmax(acc, v) : v;
								seen = 1;
							} else {
								acc += w1 * v1 + w2 * v2 + w3 * v3 +
								       w4 * v4;
							}
						}
					if (!s->max_mode)
						acc /= count;
					eml_st_f(Y->data, dt,
					         (size_t)(((n * C + ch) * s->oh + ph) * s->ow + pw),
					         acc);
				}
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_roialign = {"RoiAlign", 10, 18, roi_prep, roi_run, NULL, NULL};

/* ----- MaxUnpool (9+): Y = 0, Y.flat[I[j]] = X.flat[j] (I indexes the whole output, as
 * MaxPool's Indices output does) in the default shape (in - 1) * stride + kernel - pads; with an
 * output_shape input (it must be known: it is the shape) each index keeps its coordinates in the
 * default shape, placed into the larger output (as the ONNX reference does). ----- */

typedef struct unpool_state {
	int64_t def[EML_MAX_RANK];
} unpool_state;

static int unpool_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in >= 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0], *I = c->in[1];
	EML_ENSURE(X->rank >= 3 && I->dtype == EML_DT_INT64 && I->elems == X->elems,
	           EML_E_ENGINE_SHAPE);
	uint32_t nsp = X->rank - 2, cnt;
	const int64_t *ks = eml_attr_ints(c->node, "kernel_shape", &cnt);
	EML_ENSURE(ks != NULL && cnt == nsp, EML_E_ENGINE_SHAPE);
	const int64_t *st = eml_attr_ints(c->node, "strides", &cnt);
	EML_ENSURE(st == NULL || cnt == nsp, EML_E_ENGINE_SHAPE);
	const int64_t *pd = eml_attr_ints(c->node, "pads", &cnt);
	EML_ENSURE(pd == NULL || cnt == 2 * nsp, EML_E_ENGINE_SHAPE);
	unpool_state *us;
	EML_GUARD(eml_op_state(c, sizeof(*us), (void **)&us));
	int64_t d[EML_MAX_RANK];
	us->def[0] = X->dims[0];
	us->def[1] = X->dims[1];
	for (uint32_t i = 0; i < nsp; i++) {
		int64_t s = st ? st[i] : 1;
		EML_ENSURE(s >= 1 && ks[i] >= 1, EML_E_ENGINE_SHAPE);
		us->def[2 + i] = (X->dims[2 + i] - 1) * s + ks[i] - (pd ? pd[i] + pd[nsp + i] : 0);
		EML_ENSURE(us->def[2 + i] >= 1, EML_E_ENGINE_SHAPE);
	}
	if (c->n_in > 2 && c->in[2] != NULL) {
		size_t n = 0;
		EML_ENSURE(eml_rt_known(c->in[2]), EML_E_UNSUPPORTED);
		EML_GUARD(eml_rt_ints(c->in[2], d, EML_MAX_RANK, &n));
		EML_ENSURE(n == X->rank && d[0] == X->dims[0] && d[1] == X->dims[1],
		           EML_E_ENGINE_SHAPE);
		for (uint32_t i = 2; i < X->rank; i++)
			EML_ENSURE(d[i] >= us->def[i], EML_E_ENGINE_SHAPE);
	} else {
		memcpy(d, us->def, sizeof(d));
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, d));
out:
	return rc;
}

static int unpool_run(eml_op_ctx *c)
{
	const unpool_state *us = c->state;
	const eml_rt *X = c->in[0], *I = c->in[1];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(X->dtype);
	memset(Y->data, 0, Y->bytes);
	const int64_t *ix = I->data;
	uint64_t total = 1;
	for (uint32_t i = 0; i < X->rank; i++)
		total *= (uint64_t)us->def[i];
	for (uint64_t j = 0; j < X->elems; j++) {
		if (ix[j] < 0 || (uint64_t)ix[j] >= total)
			return EML_E_ENGINE_OP;
		/* coordinates in the default shape, re-flattened in the output shape */
		uint64_t rem = (uint64_t)ix[j], at = 0, mul = 1;
		for (int d = (int)X->rank - 1; d >= 0; d--) {
			at += (rem % (uint64_t)us->def[d]) * mul;
			rem /= (uint64_t)us->def[d];
			mul *= (uint64_t)Y->dims[d];
		}
		memcpy((uint8_t *)Y->data + (size_t)at * es, (const uint8_t *)X->data + j * es, es);
	}
	return EML_OK;
}

const eml_op_def eml_op_maxunpool = {"MaxUnpool", 9, 18, unpool_prep, unpool_run, NULL, NULL};
