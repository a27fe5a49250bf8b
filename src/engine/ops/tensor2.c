/*
 * Data-movement and indexing operators (ONNX operator docs, opsets 7-20): CumSum (11+), Tile,
 * Range (11+), Trilu (14+), DepthToSpace (DCR/CRD), SpaceToDepth, GatherElements (11+),
 * GatherND (11+, batch_dims 12+), Scatter (9-10), ScatterElements (11+, reduction 16+/18+),
 * ScatterND (11+, reduction 16+/18+), TopK (k attribute before 10, input after; largest/sorted
 * 11+), NonZero (9+).
 *
 * Shape-deciding inputs (Tile repeats, Range bounds, Trilu k, CumSum axis, TopK k) and NonZero's
 * input must be known at assembly: the plan is per request (DESIGN §6), so a graph input or a
 * constant (or anything folded from them) decides the output shape before the arena is placed.
 * A data-dependent shape computed from intermediate values is refused (UNSUPPORTED).
 * Indices are checked at run time; an index out of range fails the run with ENGINE_OP.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

static int is_idx_dt(int32_t dt)
{
	return dt == EML_DT_INT64 || dt == EML_DT_INT32;
}

static void unravel(uint64_t i, uint32_t rank, const int64_t *dims, int64_t *idx)
{
	for (int d = (int)rank - 1; d >= 0; d--) {
		idx[d] = (int64_t)(i % (uint64_t)dims[d]);
		i /= (uint64_t)dims[d];
	}
}

static void strides_of(uint32_t rank, const int64_t *dims, int64_t *st)
{
	int64_t s = 1;
	for (int d = (int)rank - 1; d >= 0; d--) {
		st[d] = s;
		s *= dims[d];
	}
}

/* ----- CumSum ----- */

typedef struct cumsum_state {
	uint64_t outer, n, inner;
	int excl, rev;
} cumsum_state;

static int cumsum_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	cumsum_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 1, EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_rt_known(c->in[1]) && c->in[1]->elems == 1 && is_idx_dt(c->in[1]->dtype),
	           EML_E_UNSUPPORTED);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	uint32_t ax;
	EML_GUARD(eml_axis(eml_rt_get_i(c->in[1], 0), X->rank, &ax));
	s->excl = (int)eml_attr_i(c->node, "exclusive", 0);
	s->rev = (int)eml_attr_i(c->node, "reverse", 0);
	s->outer = s->inner = 1;
	for (uint32_t i = 0; i < X->rank; i++) {
		if (i < ax)
			s->outer *= (uint64_t)X->dims[i];
		else if (i > ax)
			s->inner *= (uint64_t)X->dims[i];
	}
	s->n = (uint64_t)X->dims[ax];
	EML_ENSURE(eml_dt_is_real(X->dtype) || X->dtype == EML_DT_INT32 ||
	               X->dtype == EML_DT_INT64 || X->dtype == EML_DT_UINT32 ||
	               X->dtype == EML_DT_UINT64,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, X->dims));
out:
	return rc;
}

static int cumsum_run(eml_op_ctx *c)
{
	const cumsum_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	int32_t dt = X->dtype;
	int real = eml_dt_is_real(dt);
	for (uint64_t o = 0; o < s->outer; o++)
		for (uint64_t in = 0; in < s->inner; in++) {
			double fa = 0;
			int64_t ia = 0;
			for (uint64_t k = 0; k < s->n; k++) {
				uint64_t kk = s->rev ? s->n - 1 - k : k;
				size_t at = (size_t)((o * s->n + kk) * s->inner + in);
				if (real) {
					double v = eml_ld_f(X->data, dt, at);
					if (!s->excl)
						fa += v;
					eml_st_f(Y->data, dt, at, fa);
					if (s->excl)
						fa += v;
				} else {
					int64_t v = eml_ld_i(X->data, dt, at);
					if (!s->excl)
						ia += v;
					eml_st_i(Y->data, dt, at, ia);
					if (s->excl)
						ia += v;
				}
			}
		}
	return EML_OK;
}

const eml_op_def eml_op_cumsum = {"CumSum", 11, 18, cumsum_prep, cumsum_run, NULL, NULL};

/* ----- Tile ----- */

static int tile_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	int64_t rep[EML_MAX_RANK], d[EML_MAX_RANK];
	size_t nr = 0;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(eml_rt_known(c->in[1]), EML_E_UNSUPPORTED);
	EML_GUARD(eml_rt_ints(c->in[1], rep, EML_MAX_RANK, &nr));
	EML_ENSURE(nr == X->rank, EML_E_ENGINE_SHAPE);
	for (uint32_t i = 0; i < X->rank; i++) {
		EML_ENSURE(rep[i] >= 0 && rep[i] <= EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
		d[i] = X->dims[i] * rep[i];
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, d));
out:
	return rc;
}

static int tile_run(eml_op_ctx *c)
{
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(X->dtype);
	int64_t xst[EML_MAX_RANK], idx[EML_MAX_RANK];
	strides_of(X->rank, X->dims, xst);
	for (uint64_t i = 0; i < Y->elems; i++) {
		unravel(i, Y->rank, Y->dims, idx);
		int64_t src = 0;
		for (uint32_t d = 0; d < X->rank; d++)
			src += (idx[d] % X->dims[d]) * xst[d];
		memcpy((uint8_t *)Y->data + i * es, (const uint8_t *)X->data + (size_t)src * es,
		       es);
	}
	return EML_OK;
}

const eml_op_def eml_op_tile = {"Tile", 7, 18, tile_prep, tile_run, NULL, NULL};

/* ----- Range ----- */

typedef struct range_state {
	double start, delta;
	int64_t istart, idelta;
} range_state;

static int range_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	range_state *s;
	EML_ENSURE(c->n_in == 3 && c->in[0] && c->in[1] && c->in[2] && c->out[0],
	           EML_E_ENGINE_SHAPE);
	for (int k = 0; k < 3; k++) {
		EML_ENSURE(eml_rt_known(c->in[k]), EML_E_UNSUPPORTED);
		EML_ENSURE(c->in[k]->elems == 1 && c->in[k]->dtype == c->in[0]->dtype,
		           EML_E_ENGINE_SHAPE);
	}
	int32_t dt = c->in[0]->dtype;
	EML_ENSURE(dt == EML_DT_FLOAT || dt == EML_DT_DOUBLE || dt == EML_DT_INT16 ||
	               dt == EML_DT_INT32 || dt == EML_DT_INT64,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	int64_t n;
	if (eml_dt_is_real(dt)) {
		double a = eml_rt_get_f(c->in[0], 0), l = eml_rt_get_f(c->in[1], 0),
		       dl = eml_rt_get_f(c->in[2], 0);
		EML_ENSURE(dl != 0 && isfinite(a) && isfinite(l) && isfinite(dl),
		           EML_E_ENGINE_SHAPE);
		double q = ceil((l - a) / dl);
		EML_ENSURE(q <= (double)EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
		n = q > 0 ? (int64_t)q : 0;
		s->start = a;
		s->delta = dl;
	} else {
		int64_t a = eml_rt_get_i(c->in[0], 0), l = eml_rt_get_i(c->in[1], 0),
		        dl = eml_rt_get_i(c->in[2], 0);
		EML_ENSURE(dl != 0, EML_E_ENGINE_SHAPE);
		double q = ceil(((double)l - (double)a) / (double)dl);
		EML_ENSURE(q <= (double)EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
		n = q > 0 ? (int64_t)q : 0;
		s->istart = a;
		s->idelta = dl;
	}
	EML_GUARD(eml_rt_set(c->out[0], dt, 1, &n));
out:
	return rc;
}

static int range_run(eml_op_ctx *c)
{
	const range_state *s = c->state;
	eml_rt *Y = c->out[0];
	for (uint64_t i = 0; i < Y->elems; i++) {
		if (eml_dt_is_real(Y->dtype))
			/* repeated addition in the output type, as the reference does */
			eml_st_f(Y->data, Y->dtype, i, s->start + (double)i * s->delta);
		else
			eml_st_i(Y->data, Y->dtype, i, s->istart + (int64_t)i * s->idelta);
	}
	return EML_OK;
}

const eml_op_def eml_op_range = {"Range", 11, 18, range_prep, range_run, NULL, NULL};

/* ----- Trilu ----- */

typedef struct trilu_state {
	int upper;
	int64_t k;
} trilu_state;

static int trilu_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	trilu_state *s;
	EML_ENSURE(c->n_in >= 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_ENSURE(c->in[0]->rank >= 2, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->upper = (int)eml_attr_i(c->node, "upper", 1);
	if (c->n_in >= 2 && c->in[1] != NULL) {
		EML_ENSURE(eml_rt_known(c->in[1]), EML_E_UNSUPPORTED);
		EML_ENSURE(c->in[1]->elems == 1 && is_idx_dt(c->in[1]->dtype), EML_E_ENGINE_SHAPE);
		s->k = eml_rt_get_i(c->in[1], 0);
	}
	EML_GUARD(eml_rt_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims));
	c->inplace = 1;
out:
	return rc;
}

static int trilu_run(eml_op_ctx *c)
{
	const trilu_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(X->dtype);
	int64_t R = X->dims[X->rank - 2], C = X->dims[X->rank - 1];
	uint64_t mats = (R > 0 && C > 0) ? X->elems / (uint64_t)(R * C) : 0;
	for (uint64_t m = 0; m < mats; m++)
		for (int64_t i = 0; i < R; i++)
			for (int64_t j = 0; j < C; j++) {
				size_t at = (size_t)((m * (uint64_t)R + (uint64_t)i) * (uint64_t)C +
				                     (uint64_t)j) *
				            es;
				int keep = s->upper ? (j - i >= s->k) : (j - i <= s->k);
				if (keep) {
					if (Y->data != X->data)
						memcpy((uint8_t *)Y->data + at,
						       (const uint8_t *)X->data + at, es);
				} else {
					memset((uint8_t *)Y->data + at, 0, es);
				}
			}
	return EML_OK;
}

const eml_op_def eml_op_trilu = {"Trilu", 14, 18, trilu_prep, trilu_run, NULL, NULL};

/* ----- DepthToSpace / SpaceToDepth ----- */

typedef struct d2s_state {
	int s2d, crd;
	int64_t b;
} d2s_state;

static int d2s_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	d2s_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank == 4, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->s2d = strcmp(c->node->op_type, "SpaceToDepth") == 0;
	s->b = eml_attr_i(c->node, "blocksize", 0);
	EML_ENSURE(s->b >= 1 && s->b <= 4096, EML_E_ENGINE_SHAPE);
	if (!s->s2d) {
		EML_ENSURE(eml_attr_s_eq(c->node, "mode", "DCR", 1) ||
		               eml_attr_s_eq(c->node, "mode", "CRD", 0),
		           EML_E_ENGINE_SHAPE);
		s->crd = eml_attr_s_eq(c->node, "mode", "CRD", 0);
	}
	int64_t b = s->b, d[4];
	if (s->s2d) {
		EML_ENSURE(X->dims[2] % b == 0 && X->dims[3] % b == 0, EML_E_ENGINE_SHAPE);
		d[0] = X->dims[0];
		d[1] = X->dims[1] * b * b;
		d[2] = X->dims[2] / b;
		d[3] = X->dims[3] / b;
	} else {
		EML_ENSURE(X->dims[1] % (b * b) == 0, EML_E_ENGINE_SHAPE);
		d[0] = X->dims[0];
		d[1] = X->dims[1] / (b * b);
		d[2] = X->dims[2] * b;
		d[3] = X->dims[3] * b;
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, 4, d));
out:
	return rc;
}

static int d2s_run(eml_op_ctx *c)
{
	const d2s_state *s = c->state;
	/* always iterate over the space-side (large H, W) tensor */
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	const eml_rt *sp = s->s2d ? X : Y, *dp = s->s2d ? Y : X;
	size_t es = eml_dtype_size(X->dtype);
	int64_t b = s->b, N = sp->dims[0], C = sp->dims[1], H = sp->dims[2], W = sp->dims[3];
	int64_t DC = dp->dims[1], DH = dp->dims[2], DW = dp->dims[3];
	for (int64_t n = 0; n < N; n++)
		for (int64_t ch = 0; ch < C; ch++)
			for (int64_t y = 0; y < H; y++)
				for (int64_t x = 0; x < W; x++) {
					int64_t h = y / b, i = y % b, w = x / b, j = x % b;
					int64_t dc =
					    s->crd ? ch * b * b + i * b + j : (i * b + j) * C + ch;
					size_t si = (size_t)(((n * C + ch) * H + y) * W + x);
					size_t di = (size_t)(((n * DC + dc) * DH + h) * DW + w);
					if (s->s2d)
						memcpy((uint8_t *)Y->data + di * es,
						       (const uint8_t *)X->data + si * es, es);
					else
						memcpy((uint8_t *)Y->data + si * es,
						       (const uint8_t *)X->data + di * es, es);
				}
	return EML_OK;
}

const eml_op_def eml_op_d2s = {"*d2s", 1, 99, d2s_prep, d2s_run, NULL, NULL};

/* ----- GatherElements ----- */

typedef struct axis_state {
	uint32_t axis;
	int red; /* scatter reduction: 0 none, 1 add, 2 mul, 3 max, 4 min */
	int64_t batch;
} axis_state;

static int reduction_of(eml_op_ctx *c, int *red)
{
	if (eml_attr_s_eq(c->node, "reduction", "none", 1))
		*red = 0;
	else if (c->opset >= 16 && eml_attr_s_eq(c->node, "reduction", "add", 0))
		*red = 1;
	else if (c->opset >= 16 && eml_attr_s_eq(c->node, "reduction", "mul", 0))
		*red = 2;
	else if (c->opset >= 18 && eml_attr_s_eq(c->node, "reduction", "max", 0))
		*red = 3;
	else if (c->opset >= 18 && eml_attr_s_eq(c->node, "reduction", "min", 0))
		*red = 4;
	else
		return EML_E_ENGINE_SHAPE;
	return EML_OK;
}

static int gel_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	axis_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *D = c->in[0], *I = c->in[1];
	EML_ENSURE(is_idx_dt(I->dtype) && I->rank == D->rank && D->rank >= 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", 0), D->rank, &s->axis));
	EML_GUARD(eml_rt_set(c->out[0], D->dtype, I->rank, I->dims));
out:
	return rc;
}

static int gel_run(eml_op_ctx *c)
{
	const axis_state *s = c->state;
	const eml_rt *D = c->in[0], *I = c->in[1];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(D->dtype);
	int64_t dst[EML_MAX_RANK], idx[EML_MAX_RANK];
	strides_of(D->rank, D->dims, dst);
	for (uint64_t i = 0; i < I->elems; i++) {
		unravel(i, I->rank, I->dims, idx);
		int64_t k = eml_rt_get_i(I, i), n = D->dims[s->axis];
		if (k < 0)
			k += n;
		if (k < 0 || k >= n)
			return EML_E_ENGINE_OP;
		idx[s->axis] = k;
		int64_t src = 0;
		for (uint32_t d = 0; d < D->rank; d++) {
			if (idx[d] >= D->dims[d])
				return EML_E_ENGINE_OP;
			src += idx[d] * dst[d];
		}
		memcpy((uint8_t *)Y->data + i * es, (const uint8_t *)D->data + (size_t)src * es,
		       es);
	}
	return EML_OK;
}

const eml_op_def eml_op_gather_elements = {"GatherElements", 11, 18, gel_prep, gel_run, NULL, NULL};

/* ----- ScatterElements (and the deprecated Scatter, opsets 9-10) ----- */

static int sel_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	axis_state *s;
	EML_ENSURE(c->n_in == 3 && c->in[0] && c->in[1] && c->in[2] && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *D = c->in[0], *I = c->in[1], *U = c->in[2];
	EML_ENSURE(is_idx_dt(I->dtype) && I->rank == D->rank && D->rank >= 1 &&
	               U->dtype == D->dtype && U->rank == I->rank &&
	               memcmp(U->dims, I->dims, I->rank * sizeof(int64_t)) == 0,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", 0), D->rank, &s->axis));
	EML_GUARD(reduction_of(c, &s->red));
	EML_GUARD(eml_rt_set(c->out[0], D->dtype, D->rank, D->dims));
	c->inplace = 1;
out:
	return rc;
}

static void apply_red(void *y, int32_t dt, size_t at, const void *u, size_t ui, int red)
{
	size_t es = eml_dtype_size(dt);
	if (red == 0) {
		memcpy((uint8_t *)y + at * es, (const uint8_t *)u + ui * es, es);
		return;
	}
	if (eml_dt_is_real(dt)) {
		double a = eml_ld_f(y, dt, at), b = eml_ld_f(u, dt, ui);
		double r = red == 1   ? a + b
		           : red == 2 ? a * b
		           : red == 3 ? (a > b ? a : b)
		                      : (a < b ? a : b);
		eml_st_f(y, dt, at, r);
	} else {
		int64_t a = eml_ld_i(y, dt, at), b = eml_ld_i(u, dt, ui);
		int64_t r = red == 1   ? a + b
		            : red == 2 ? a * b
		            : red == 3 ? (a > b ? a : b)
		                       : (a < b ? a : b);
		eml_st_i(y, dt, at, r);
	}
}

static int sel_run(eml_op_ctx *c)
{
	const axis_state *s = c->state;
	const eml_rt *D = c->in[0], *I = c->in[1], *U = c->in[2];
	eml_rt *Y = c->out[0];
	if (Y->data != D->data)
		memcpy(Y->data, D->data, D->bytes);
	int64_t dst[EML_MAX_RANK], idx[EML_MAX_RANK];
	strides_of(D->rank, D->dims, dst);
	for (uint64_t i = 0; i < I->elems; i++) {
		unravel(i, I->rank, I->dims, idx);
		int64_t k = eml_rt_get_i(I, i), n = D->dims[s->axis];
		if (k < 0)
			k += n;
		if (k < 0 || k >= n)
			return EML_E_ENGINE_OP;
		idx[s->axis] = k;
		int64_t at = 0;
		for (uint32_t d = 0; d < D->rank; d++) {
			if (idx[d] >= D->dims[d])
				return EML_E_ENGINE_OP;
			at += idx[d] * dst[d];
		}
		apply_red(Y->data, D->dtype, (size_t)at, U->data, i, s->red);
	}
	return EML_OK;
}

const eml_op_def eml_op_scatter_elements = {"ScatterElements", 9,    18,  sel_prep,
                                            sel_run,           NULL, NULL};

/* ----- GatherND ----- */

static int gnd_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	axis_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *D = c->in[0], *I = c->in[1];
	EML_ENSURE(is_idx_dt(I->dtype) && I->rank >= 1 && D->rank >= 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->batch = c->opset >= 12 ? eml_attr_i(c->node, "batch_dims", 0) : 0;
	int64_t b = s->batch, m = I->dims[I->rank - 1];
	EML_ENSURE(b >= 0 && b < (int64_t)I->rank && b < (int64_t)D->rank, EML_E_ENGINE_SHAPE);
	EML_ENSURE(m >= 1 && m <= (int64_t)D->rank - b, EML_E_ENGINE_SHAPE);
	for (int64_t i = 0; i < b; i++)
		EML_ENSURE(I->dims[i] == D->dims[i], EML_E_ENGINE_SHAPE);
	int64_t d[EML_MAX_RANK];
	uint32_t r = 0;
	for (uint32_t i = 0; i + 1 < I->rank; i++)
		d[r++] = I->dims[i];
	for (int64_t i = b + m; i < (int64_t)D->rank; i++) {
		EML_ENSURE(r < EML_MAX_RANK, EML_E_ENGINE_SHAPE);
		d[r++] = D->dims[i];
	}
	EML_GUARD(eml_rt_set(c->out[0], D->dtype, r, d));
out:
	return rc;
}

/* Shared by GatherND and ScatterND: the data offset (in elements) of index tuple t of batch bi;
 * -1 when out of range. */
static int64_t nd_offset(const eml_rt *D, const eml_rt *I, int64_t b, uint64_t tuple, uint64_t bi,
                         const int64_t *dst)
{
	int64_t m = I->dims[I->rank - 1];
	int64_t at = 0;
	/* batch index bi spans data dims [0, b) */
	uint64_t rem = bi;
	for (int64_t d = b - 1; d >= 0; d--) {
		at += (int64_t)(rem % (uint64_t)D->dims[d]) * dst[d];
		rem /= (uint64_t)D->dims[d];
	}
	for (int64_t k = 0; k < m; k++) {
		int64_t v = eml_rt_get_i(I, tuple * (uint64_t)m + (uint64_t)k);
		int64_t n = D->dims[b + k];
		if (v < 0)
			v += n;
		if (v < 0 || v >= n)
			return -1;
		at += v * dst[b + k];
	}
	return at;
}

static int gnd_run(eml_op_ctx *c)
{
	const axis_state *s = c->state;
	const eml_rt *D = c->in[0], *I = c->in[1];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(D->dtype);
	int64_t b = s->batch, m = I->dims[I->rank - 1];
	int64_t dst[EML_MAX_RANK];
	strides_of(D->rank, D->dims, dst);
	uint64_t slice = 1;
	for (int64_t i = b + m; i < (int64_t)D->rank; i++)
		slice *= (uint64_t)D->dims[i];
	uint64_t batches = 1;
	for (int64_t i = 0; i < b; i++)
		batches *= (uint64_t)I->dims[i];
	uint64_t tuples = I->elems / (uint64_t)m;
	uint64_t per = batches ? tuples / batches : 0;
	for (uint64_t t = 0; t < tuples; t++) {
		int64_t at = nd_offset(D, I, b, t, per ? t / per : 0, dst);
		if (at < 0)
			return EML_E_ENGINE_OP;
		memcpy((uint8_t *)Y->data + t * slice * es,
		       (const uint8_t *)D->data + (size_t)at * es, slice * es);
	}
	return EML_OK;
}

const eml_op_def eml_op_gather_nd = {"GatherND", 11, 18, gnd_prep, gnd_run, NULL, NULL};

/* ----- ScatterND ----- */

static int snd_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	axis_state *s;
	EML_ENSURE(c->n_in == 3 && c->in[0] && c->in[1] && c->in[2] && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *D = c->in[0], *I = c->in[1], *U = c->in[2];
	EML_ENSURE(is_idx_dt(I->dtype) && I->rank >= 1 && D->rank >= 1 && U->dtype == D->dtype,
	           EML_E_ENGINE_SHAPE);
	int64_t m = I->dims[I->rank - 1];
	EML_ENSURE(m >= 1 && m <= (int64_t)D->rank, EML_E_ENGINE_SHAPE);
	/* updates: indices.shape[:-1] + data.shape[m:] */
	EML_ENSURE(U->rank == I->rank - 1 + D->rank - (uint32_t)m, EML_E_ENGINE_SHAPE);
	for (uint32_t i = 0; i + 1 < I->rank; i++)
		EML_ENSURE(U->dims[i] == I->dims[i], EML_E_ENGINE_SHAPE);
	for (uint32_t i = (uint32_t)m; i < D->rank; i++)
		EML_ENSURE(U->dims[I->rank - 1 + i - (uint32_t)m] == D->dims[i],
		           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	EML_GUARD(reduction_of(c, &s->red));
	EML_GUARD(eml_rt_set(c->out[0], D->dtype, D->rank, D->dims));
	c->inplace = 1;
out:
	return rc;
}

static int snd_run(eml_op_ctx *c)
{
	const axis_state *s = c->state;
	const eml_rt *D = c->in[0], *I = c->in[1], *U = c->in[2];
	eml_rt *Y = c->out[0];
	if (Y->data != D->data)
		memcpy(Y->data, D->data, D->bytes);
	int64_t m = I->dims[I->rank - 1];
	int64_t dst[EML_MAX_RANK];
	strides_of(D->rank, D->dims, dst);
	uint64_t slice = 1;
	for (int64_t i = m; i < (int64_t)D->rank; i++)
		slice *= (uint64_t)D->dims[i];
	uint64_t tuples = I->elems / (uint64_t)m;
	for (uint64_t t = 0; t < tuples; t++) {
		int64_t at = nd_offset(D, I, 0, t, 0, dst);
		if (at < 0)
			return EML_E_ENGINE_OP;
		for (uint64_t k = 0; k < slice; k++)
			apply_red(Y->data, D->dtype, (size_t)((uint64_t)at + k), U->data,
			          (size_t)(t * slice + k), s->red);
	}
	return EML_OK;
}

const eml_op_def eml_op_scatter_nd = {"ScatterND", 11, 18, snd_prep, snd_run, NULL, NULL};

/* ----- TopK ----- */

typedef struct topk_state {
	uint64_t outer, n, inner;
	int64_t k;
	int largest;
} topk_state;

static int topk_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	topk_state *s;
	EML_ENSURE(c->n_in >= 1 && c->in[0] && c->n_out == 2 && c->out[0] && c->out[1],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 1 && (eml_dt_is_real(X->dtype) || X->dtype == EML_DT_INT32 ||
	                            X->dtype == EML_DT_INT64 || X->dtype == EML_DT_UINT8 ||
	                            X->dtype == EML_DT_INT8),
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	if (c->opset < 10) {
		s->k = eml_attr_i(c->node, "k", -1);
	} else {
		/* K decides the output shape: it must be known for this request */
		EML_ENSURE(c->n_in >= 2 && c->in[1] != NULL, EML_E_ENGINE_SHAPE);
		EML_ENSURE(eml_rt_known(c->in[1]), EML_E_UNSUPPORTED);
		EML_ENSURE(c->in[1]->elems == 1 && is_idx_dt(c->in[1]->dtype), EML_E_ENGINE_SHAPE);
		s->k = eml_rt_get_i(c->in[1], 0);
	}
	s->largest = c->opset >= 11 ? (int)eml_attr_i(c->node, "largest", 1) : 1;
	uint32_t ax;
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", -1), X->rank, &ax));
	EML_ENSURE(s->k >= 0 && s->k <= X->dims[ax], EML_E_ENGINE_SHAPE);
	s->outer = s->inner = 1;
	for (uint32_t i = 0; i < X->rank; i++) {
		if (i < ax)
			s->outer *= (uint64_t)X->dims[i];
		else if (i > ax)
			s->inner *= (uint64_t)X->dims[i];
	}
	s->n = (uint64_t)X->dims[ax];
	int64_t d[EML_MAX_RANK];
	memcpy(d, X->dims, sizeof(d));
	d[ax] = s->k;
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, d));
	EML_GUARD(eml_rt_set(c->out[1], EML_DT_INT64, X->rank, d));
	/* a row of indices and a merge buffer; sorted output (sorted=0 leaves order free) */
	c->scratch_bytes = (size_t)s->n * 2 * sizeof(int64_t) + (size_t)s->n * sizeof(double);
out:
	return rc;
}

/* a before b: larger (or smaller) value first, ties by lower index (the reference's order) */
static int tk_before(const double *v, int largest, int64_t a, int64_t b)
{
	if (v[a] != v[b])
		return largest ? v[a] > v[b] : v[a] < v[b];
	return a < b;
}

static int topk_run(eml_op_ctx *c)
{
	const topk_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *V = c->out[0], *IX = c->out[1];
	int64_t *idx = c->scratch, *tmp = idx + s->n;
	double *val = (double *)(tmp + s->n);
	uint64_t k = (uint64_t)s->k;
	for (uint64_t o = 0; o < s->outer; o++)
		for (uint64_t in = 0; in < s->inner; in++) {
			for (uint64_t j = 0; j < s->n; j++) {
				idx[j] = (int64_t)j;
				val[j] =
				    eml_ld_f(X->data, X->dtype, (o * s->n + j) * s->inner + in);
			}
			/* bottom-up merge sort (stable, O(n log n), no allocation) */
			for (uint64_t w = 1; w < s->n; w *= 2) {
				for (uint64_t lo = 0; lo < s->n; lo += 2 * w) {
					uint64_t mid = lo + w < s->n ? lo + w : s->n;
					uint64_t hi = lo + 2 * w < s->n ? lo + 2 * w : s->n;
					uint64_t a = lo, b = mid, t = lo;
					while (a < mid && b < hi)
						tmp[t++] =
						    tk_before(val, s->largest, idx[a], idx[b])
						        ? idx[a++]
						        : idx[b++];
					while (a < mid)
						tmp[t++] = idx[a++];
					while (b < hi)
						tmp[t++] = idx[b++];
				}
				memcpy(idx, tmp, (size_t)s->n * sizeof(int64_t));
			}
			for (uint64_t j = 0; j < k; j++) {
				size_t at = (size_t)((o * k + j) * s->inner + in);
				size_t src =
				    (size_t)((o * s->n + (uint64_t)idx[j]) * s->inner + in);
				size_t es = eml_dtype_size(X->dtype);
				memcpy((uint8_t *)V->data + at * es,
				       (const uint8_t *)X->data + src * es, es);
				((int64_t *)IX->data)[at] = idx[j];
			}
		}
	return EML_OK;
}

const eml_op_def eml_op_topk = {"TopK", 7, 18, topk_prep, topk_run, NULL, NULL};

/* ----- NonZero ----- */

static int nz_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	/* the output's shape is the count of non-zero elements: known only from the values */
	EML_ENSURE(eml_rt_known(X), EML_E_UNSUPPORTED);
	EML_ENSURE(eml_dt_is_real(X->dtype) || eml_dtype_size(X->dtype) != 0, EML_E_ENGINE_SHAPE);
	EML_ENSURE(X->dtype != EML_DT_STRING, EML_E_ENGINE_SHAPE);
	int64_t cnt = 0;
	for (uint64_t i = 0; i < X->elems; i++)
		cnt += eml_ld_f(X->data, X->dtype, i) != 0;
	int64_t d[2] = {(int64_t)X->rank, cnt};
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_INT64, 2, d));
out:
	return rc;
}

static int nz_run(eml_op_ctx *c)
{
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	int64_t cnt = Y->dims[1], j = 0, idx[EML_MAX_RANK];
	int64_t *y = Y->data;
	for (uint64_t i = 0; i < X->elems; i++) {
		if (eml_ld_f(X->data, X->dtype, i) == 0)
			continue;
		if (j >= cnt)
			return EML_E_ENGINE_OP; /* the values changed since planning */
		unravel(i, X->rank, X->dims, idx);
		for (uint32_t d = 0; d < X->rank; d++)
			y[(int64_t)d * cnt + j] = idx[d];
		j++;
	}
	return j == cnt ? EML_OK : EML_E_ENGINE_OP;
}

const eml_op_def eml_op_nonzero = {"NonZero", 9, 18, nz_prep, nz_run, NULL, NULL};
