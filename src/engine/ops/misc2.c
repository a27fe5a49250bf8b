/*
 * Smaller operators (ONNX operator docs, opsets 7-20): BitShift (11+), CastLike (15+),
 * Hardmax (opset < 13 over the flattened [d0..axis-1] x [axis..] view, default axis 1; 13+
 * along one axis, default -1), EyeLike (9+), OneHot (9+; depth must be known: it is the output
 * shape), Compress (9+; the condition must be known: its count is the output shape),
 * ReverseSequence (10+), MeanVarianceNormalization (9+), LRN.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

static int is_intd(int32_t dt)
{
	switch (dt) {
	case EML_DT_INT8:
	case EML_DT_INT16:
	case EML_DT_INT32:
	case EML_DT_INT64:
	case EML_DT_UINT8:
	case EML_DT_UINT16:
	case EML_DT_UINT32:
	case EML_DT_UINT64:
		return 1;
	default:
		return 0;
	}
}

/* ----- BitShift ----- */

typedef struct bs_state {
	int left;
} bs_state;

static int bs_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	bs_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	int32_t dt = c->in[0]->dtype;
	EML_ENSURE(c->in[1]->dtype == dt && (dt == EML_DT_UINT8 || dt == EML_DT_UINT16 ||
	                                     dt == EML_DT_UINT32 || dt == EML_DT_UINT64),
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->left = eml_attr_s_eq(c->node, "direction", "LEFT", 0);
	EML_ENSURE(s->left || eml_attr_s_eq(c->node, "direction", "RIGHT", 0), EML_E_ENGINE_SHAPE);
	uint32_t r;
	int64_t d[EML_MAX_RANK];
	EML_GUARD(
	    eml_bcast_shape(c->in[0]->rank, c->in[0]->dims, c->in[1]->rank, c->in[1]->dims, &r, d));
	EML_GUARD(eml_rt_set(c->out[0], dt, r, d));
out:
	return rc;
}

static int bs_run(eml_op_ctx *c)
{
	const bs_state *s = c->state;
	const eml_rt *a = c->in[0], *b = c->in[1];
	eml_rt *o = c->out[0];
	int32_t dt = a->dtype;
	unsigned bits = (unsigned)eml_dtype_size(dt) * 8;
	int64_t idx[EML_MAX_RANK];
	for (uint64_t i = 0; i < o->elems; i++) {
		uint64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
		for (int d = (int)o->rank - 1; d >= 0; d--) {
			idx[d] = (int64_t)(rem % (uint64_t)o->dims[d]);
			rem /= (uint64_t)o->dims[d];
			int da = d - ((int)o->rank - (int)a->rank),
			    db = d - ((int)o->rank - (int)b->rank);
			if (da >= 0) {
				if (a->dims[da] != 1)
					ia += (uint64_t)idx[d] * sa;
				sa *= (uint64_t)a->dims[da];
			}
			if (db >= 0) {
				if (b->dims[db] != 1)
					ib += (uint64_t)idx[d] * sb;
				sb *= (uint64_t)b->dims[db];
			}
		}
		uint64_t x = (uint64_t)eml_ld_i(a->data, dt, ia),
		         n = (uint64_t)eml_ld_i(b->data, dt, ib);
		uint64_t r = n >= bits ? 0 : (s->left ? x << n : x >> n);
		eml_st_i(o->data, dt, i, (int64_t)r);
	}
	return EML_OK;
}

const eml_op_def eml_op_bitshift = {"BitShift", 11, 18, bs_prep, bs_run, NULL, NULL};

/* ----- CastLike ----- */

static int castlike_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	int32_t from = c->in[0]->dtype, to = c->in[1]->dtype;
	/* the storage conversions Cast implements: bfloat16 and strings are not supported */
	EML_ENSURE((eml_dt_is_real(from) || is_intd(from) || from == EML_DT_BOOL) &&
	               (eml_dt_is_real(to) || is_intd(to) || to == EML_DT_BOOL),
	           EML_E_UNSUPPORTED);
	EML_GUARD(eml_rt_set(c->out[0], to, c->in[0]->rank, c->in[0]->dims));
out:
	return rc;
}

static int castlike_run(eml_op_ctx *c)
{
	const eml_rt *x = c->in[0];
	eml_rt *y = c->out[0];
	for (uint64_t i = 0; i < x->elems; i++) {
		if (eml_dt_is_real(x->dtype) || eml_dt_is_real(y->dtype))
			eml_st_f(y->data, y->dtype, i, eml_ld_f(x->data, x->dtype, i));
		else
			eml_st_i(y->data, y->dtype, i, eml_ld_i(x->data, x->dtype, i));
	}
	return EML_OK;
}

const eml_op_def eml_op_castlike = {"CastLike", 15, 18, castlike_prep, castlike_run, NULL, NULL};

/* ----- Hardmax ----- */

typedef struct hm_state {
	uint64_t outer, n, inner;
} hm_state;

static int hm_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	hm_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 1 && eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	uint32_t ax;
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", c->opset >= 13 ? -1 : 1), X->rank, &ax));
	s->outer = s->n = s->inner = 1;
	for (uint32_t i = 0; i < X->rank; i++) {
		uint64_t d = (uint64_t)X->dims[i];
		if (i < ax)
			s->outer *= d;
		else if (i == ax || c->opset < 13)
			s->n *= d;
		else
			s->inner *= d;
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, X->dims));
out:
	return rc;
}

static int hm_run(eml_op_ctx *c)
{
	const hm_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	for (uint64_t o = 0; o < s->outer; o++)
		for (uint64_t in = 0; in < s->inner; in++) {
			uint64_t base = o * s->n * s->inner + in, best = 0;
			double bv = -INFINITY;
			for (uint64_t k = 0; k < s->n; k++) {
				double v = eml_ld_f(X->data, X->dtype, base + k * s->inner);
				if (k == 0 || v > bv) {
					bv = v;
					best = k;
				}
			}
			for (uint64_t k = 0; k < s->n; k++)
				eml_st_f(Y->data, Y->dtype, base + k * s->inner,
				         k == best ? 1.0 : 0.0);
		}
	return EML_OK;
}

const eml_op_def eml_op_hardmax = {"Hardmax", 1, 99, hm_prep, hm_run, NULL, NULL};

/* ----- EyeLike ----- */

typedef struct eye_state {
	int64_t k;
} eye_state;

static int eye_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	eye_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0] && c->in[0]->rank == 2,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	int32_t dt = (int32_t)eml_attr_i(c->node, "dtype", c->in[0]->dtype);
	EML_ENSURE(eml_dt_is_real(dt) || is_intd(dt) || dt == EML_DT_BOOL, EML_E_UNSUPPORTED);
	s->k = eml_attr_i(c->node, "k", 0);
	EML_GUARD(eml_rt_set(c->out[0], dt, 2, c->in[0]->dims));
	c->fold_always = 1; /* depends on the shape only */
out:
	return rc;
}

static int eye_run(eml_op_ctx *c)
{
	const eye_state *s = c->state;
	eml_rt *Y = c->out[0];
	int64_t R = Y->dims[0], C = Y->dims[1];
	for (int64_t i = 0; i < R; i++)
		for (int64_t j = 0; j < C; j++)
			eml_st_f(Y->data, Y->dtype, (size_t)(i * C + j), j - i == s->k ? 1.0 : 0.0);
	return EML_OK;
}

const eml_op_def eml_op_eyelike = {"EyeLike", 9, 18, eye_prep, eye_run, NULL, NULL};

/* ----- OneHot ----- */

typedef struct oh_state {
	int64_t depth;
	uint64_t outer, inner; /* indices split at axis */
} oh_state;

static int oh_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	oh_state *s;
	EML_ENSURE(c->n_in == 3 && c->in[0] && c->in[1] && c->in[2] && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *Ix = c->in[0], *Dp = c->in[1], *V = c->in[2];
	EML_ENSURE(eml_rt_known(Dp), EML_E_UNSUPPORTED);
	EML_ENSURE(Dp->elems == 1 && V->elems == 2, EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_dt_is_real(Ix->dtype) || is_intd(Ix->dtype), EML_E_ENGINE_SHAPE);
	EML_ENSURE(Ix->rank < EML_MAX_RANK, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	double dv = eml_rt_get_f(Dp, 0);
	EML_ENSURE(dv >= 1 && dv <= (double)EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
	s->depth = (int64_t)dv;
	uint32_t ax;
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", -1), Ix->rank + 1, &ax));
	int64_t d[EML_MAX_RANK];
	uint32_t r = 0;
	s->outer = s->inner = 1;
	for (uint32_t i = 0; i <= Ix->rank; i++) {
		if (i == ax)
			d[r++] = s->depth;
		if (i < Ix->rank) {
			d[r++] = Ix->dims[i];
			if (i < ax)
				s->outer *= (uint64_t)Ix->dims[i];
			else
				s->inner *= (uint64_t)Ix->dims[i];
		}
	}
	EML_GUARD(eml_rt_set(c->out[0], V->dtype, r, d));
out:
	return rc;
}

static int oh_run(eml_op_ctx *c)
{
	const oh_state *s = c->state;
	const eml_rt *Ix = c->in[0], *V = c->in[2];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(V->dtype);
	const uint8_t *off = V->data, *on = (const uint8_t *)V->data + es;
	for (uint64_t i = 0; i < Y->elems; i++)
		memcpy((uint8_t *)Y->data + i * es, off, es);
	for (uint64_t o = 0; o < s->outer; o++)
		for (uint64_t in = 0; in < s->inner; in++) {
			int64_t k = (int64_t)eml_ld_f(Ix->data, Ix->dtype, o * s->inner + in);
			if (k < 0)
				k += s->depth;
			if (k < 0 || k >= s->depth)
				continue; /* out of range: all "off" (spec) */
			uint64_t at = (o * (uint64_t)s->depth + (uint64_t)k) * s->inner + in;
			memcpy((uint8_t *)Y->data + at * es, on, es);
		}
	return EML_OK;
}

const eml_op_def eml_op_onehot = {"OneHot", 9, 18, oh_prep, oh_run, NULL, NULL};

/* ----- Compress ----- */

typedef struct cmp_state {
	int flat;
	uint64_t outer, n, inner;
} cmp_state;

static int cmp_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	cmp_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0], *Cn = c->in[1];
	EML_ENSURE(Cn->dtype == EML_DT_BOOL && Cn->rank == 1, EML_E_ENGINE_SHAPE);
	/* the number of selected slices is the output shape */
	EML_ENSURE(eml_rt_known(Cn), EML_E_UNSUPPORTED);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_attr *a = eml_node_attr(c->node, "axis");
	s->outer = s->inner = 1;
	int64_t d[EML_MAX_RANK];
	uint32_t r, axu = 0;
	if (a == NULL) {
		s->flat = 1;
		s->n = X->elems;
		r = 1;
	} else {
		EML_GUARD(eml_axis(a->i, X->rank, &axu));
		for (uint32_t i = 0; i < X->rank; i++) {
			if (i < axu)
				s->outer *= (uint64_t)X->dims[i];
			else if (i > axu)
				s->inner *= (uint64_t)X->dims[i];
		}
		s->n = (uint64_t)X->dims[axu];
		memcpy(d, X->dims, sizeof(d));
		r = X->rank;
	}
	EML_ENSURE(Cn->elems <= s->n, EML_E_ENGINE_SHAPE);
	int64_t cnt = 0;
	for (uint64_t i = 0; i < Cn->elems; i++)
		cnt += ((const uint8_t *)Cn->data)[i] != 0;
	d[s->flat ? 0 : axu] = cnt;
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, r, d));
out:
	return rc;
}

static int cmp_run(eml_op_ctx *c)
{
	const cmp_state *s = c->state;
	const eml_rt *X = c->in[0], *Cn = c->in[1];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(X->dtype);
	const uint8_t *cond = Cn->data;
	uint64_t w = 0;
	for (uint64_t o = 0; o < s->outer; o++)
		for (uint64_t k = 0; k < Cn->elems; k++) {
			if (!cond[k])
				continue;
			memcpy((uint8_t *)Y->data + w * s->inner * es,
			       (const uint8_t *)X->data + (o * s->n + k) * s->inner * es,
			       s->inner * es);
			w++;
		}
	return w * s->inner == Y->elems ? EML_OK : EML_E_ENGINE_OP;
}

const eml_op_def eml_op_compress = {"Compress", 9, 18, cmp_prep, cmp_run, NULL, NULL};

/* ----- ReverseSequence ----- */

typedef struct rs_state {
	uint32_t tax, bax;
} rs_state;

static int rs_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	rs_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0], *L = c->in[1];
	EML_ENSURE(X->rank >= 2 && L->dtype == EML_DT_INT64 && L->rank == 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	int64_t t = eml_attr_i(c->node, "time_axis", 0), b = eml_attr_i(c->node, "batch_axis", 1);
	EML_ENSURE((t == 0 && b == 1) || (t == 1 && b == 0), EML_E_ENGINE_SHAPE);
	s->tax = (uint32_t)t;
	s->bax = (uint32_t)b;
	EML_ENSURE(L->dims[0] == X->dims[s->bax], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, X->dims));
out:
	return rc;
}

static int rs_run(eml_op_ctx *c)
{
	const rs_state *s = c->state;
	const eml_rt *X = c->in[0], *L = c->in[1];
	eml_rt *Y = c->out[0];
	size_t es = eml_dtype_size(X->dtype);
	uint64_t inner = 1;
	for (uint32_t i = 2; i < X->rank; i++)
		inner *= (uint64_t)X->dims[i];
	int64_t T = X->dims[s->tax], B = X->dims[s->bax];
	for (int64_t b = 0; b < B; b++) {
		int64_t len = ((const int64_t *)L->data)[b];
		if (len < 0 || len > T)
			return EML_E_ENGINE_OP;
		for (int64_t t = 0; t < T; t++) {
			int64_t src = t < len ? len - 1 - t : t;
			uint64_t yo = s->tax == 0 ? (uint64_t)(t * B + b) : (uint64_t)(b * T + t);
			uint64_t xo =
			    s->tax == 0 ? (uint64_t)(src * B + b) : (uint64_t)(b * T + src);
			memcpy((uint8_t *)Y->data + yo * inner * es,
			       (const uint8_t *)X->data + xo * inner * es, inner * es);
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_revseq = {"ReverseSequence", 10, 18, rs_prep, rs_run, NULL, NULL};

/* ----- MeanVarianceNormalization: (X - E[X]) / (sqrt(E[(X - E[X])^2]) + 1e-9) over axes ----- */

typedef struct mvn_state {
	int red[EML_MAX_RANK];
} mvn_state;

static int mvn_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	mvn_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	uint32_t cnt;
	const int64_t *ax = eml_attr_ints(c->node, "axes", &cnt);
	static const int64_t def[3] = {0, 2, 3};
	if (ax == NULL) {
		ax = def;
		cnt = 3;
	}
	for (uint32_t i = 0; i < cnt; i++) {
		uint32_t a;
		EML_GUARD(eml_axis(ax[i], X->rank, &a));
		s->red[a] = 1;
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, X->dims));
	/* per kept-index mean and variance */
	uint64_t groups = 1;
	for (uint32_t i = 0; i < X->rank; i++)
		if (!s->red[i])
			groups *= (uint64_t)X->dims[i];
	c->scratch_bytes = (size_t)groups * 3 * sizeof(double);
out:
	return rc;
}

static int mvn_run(eml_op_ctx *c)
{
	const mvn_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	int64_t gst[EML_MAX_RANK], stride = 1;
	uint64_t groups = 1;
	for (int d = (int)X->rank - 1; d >= 0; d--) {
		gst[d] = s->red[d] ? 0 : stride;
		if (!s->red[d]) {
			stride *= X->dims[d];
			groups *= (uint64_t)X->dims[d];
		}
	}
	if (X->elems == 0) /* an empty input: nothing to normalize (and no scratch) */
		return EML_OK;
	double *sum = c->scratch, *sq = sum + groups, *cnt = sq + groups;
	memset(sum, 0, (size_t)groups * 3 * sizeof(double));
	for (int pass = 0; pass < 3; pass++) {
		int64_t idx[EML_MAX_RANK] = {0}, g = 0;
		for (uint64_t i = 0; i < X->elems; i++) {
			double v = eml_ld_f(X->data, X->dtype, i);
			if (pass == 0) {
				sum[g] += v;
				cnt[g] += 1;
			} else if (pass == 1) {
				double dlt = v - sum[g] / cnt[g];
				sq[g] += dlt * dlt;
			} else {
				double mean = sum[g] / cnt[g];
				eml_st_f(Y->data, Y->dtype, i,
				         (v - mean) / (sqrt(sq[g] / cnt[g]) + 1e-9));
			}
			for (int d = (int)X->rank - 1; d >= 0; d--) {
				idx[d]++;
				g += gst[d];
				if (idx[d] < X->dims[d])
					break;
				g -= gst[d] * X->dims[d];
				idx[d] = 0;
			}
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_mvn = {"MeanVarianceNormalization", 9, 18, mvn_prep, mvn_run, NULL, NULL};

/* ----- LRN (across channels) ----- */

typedef struct lrn_state {
	float alpha, beta, bias;
	int64_t size;
} lrn_state;

static int lrn_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	lrn_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 3 && eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->alpha = eml_attr_f(c->node, "alpha", 1e-4f);
	s->beta = eml_attr_f(c->node, "beta", 0.75f);
	s->bias = eml_attr_f(c->node, "bias", 1.0f);
	s->size = eml_attr_i(c->node, "size", 0);
	EML_ENSURE(s->size >= 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, X->dims));
out:
	return rc;
}

static int lrn_run(eml_op_ctx *c)
{
	const lrn_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	int64_t N = X->dims[0], C = X->dims[1];
	uint64_t sp = (N * C) > 0 ? X->elems / (uint64_t)(N * C) : 0;
	int64_t lo = (s->size - 1) / 2, hi = s->size - 1 - lo; /* floor / ceil of (size-1)/2 */
	for (int64_t n = 0; n < N; n++)
		for (int64_t ch = 0; ch < C; ch++)
			for (uint64_t p = 0; p < sp; p++) {
				double sq = 0;
				for (int64_t k = ch - lo; k <= ch + hi; k++) {
					if (k < 0 || k >= C)
						continue;
					double v =
					    eml_ld_f(X->data, X->dtype,
					             (size_t)((uint64_t)(n * C + k) * sp + p));
					sq += v * v;
				}
				size_t at = (size_t)((uint64_t)(n * C + ch) * sp + p);
				double v = eml_ld_f(X->data, X->dtype, at);
				eml_st_f(
				    Y->data, Y->dtype, at,
				    v / pow(s->bias + s->alpha / (double)s->size * sq, s->beta));
			}
	return EML_OK;
}

const eml_op_def eml_op_lrn = {"LRN", 7, 18, lrn_prep, lrn_run, NULL, NULL};
