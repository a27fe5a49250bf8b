/*
 * More reductions (ONNX operator docs, opsets 7-20; ReduceMax/ReduceMin-20 add bool: any/all,
 * an empty bool reduction yields false for max and true for min, as the reference does):
 *  ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceMax, ReduceMin, ReduceProd,
 *  ReduceSumSquare: `axes` attribute before opset 18, optional input from 18 (with
 *  noop_with_empty_axes); keepdims. An empty reduction yields the operation's identity
 *  (0, 1, -inf or +inf) as the reference implementation does.
 *  ArgMax, ArgMin: axis, keepdims, select_last_index (opset 12+); int64 output.
 *  LogSoftmax: opset < 13 over the flattened [d0..axis-1] x [axis..] view (default axis 1),
 *  opset 13+ along one axis (default -1).
 * Real types accumulate in double; integer types in int64.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

enum r2_kind {
	R2_L1 = 1,
	R2_L2,
	R2_LOGSUM,
	R2_LOGSUMEXP,
	R2_MAX,
	R2_MIN,
	R2_PROD,
	R2_SUMSQ,
	R2_ARGMAX,
	R2_ARGMIN,
};

typedef struct r2_state {
	int kind;
	int noop;
	int last; /* select_last_index */
	uint32_t rank;
	int red[EML_MAX_RANK];
} r2_state;

static int r2_kind_of(const char *op)
{
	static const struct {
		const char *op;
		int k;
	} t[] = {{"ReduceL1", R2_L1},         {"ReduceL2", R2_L2},
	         {"ReduceLogSum", R2_LOGSUM}, {"ReduceLogSumExp", R2_LOGSUMEXP},
	         {"ReduceMax", R2_MAX},       {"ReduceMin", R2_MIN},
	         {"ReduceProd", R2_PROD},     {"ReduceSumSquare", R2_SUMSQ},
	         {"ArgMax", R2_ARGMAX},       {"ArgMin", R2_ARGMIN}};
	for (size_t i = 0; i < EML_ARRAY_LEN(t); i++)
		if (strcmp(t[i].op, op) == 0)
			return t[i].k;
	return 0;
}

static int num_dt(int32_t dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
	case EML_DT_DOUBLE:
	case EML_DT_FLOAT16:
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

static int r2_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	r2_state *s;
	int64_t axes[EML_MAX_RANK];
	size_t na = 0;
	EML_ENSURE(c->n_in >= 1 && c->in[0] && c->n_out >= 1 && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->kind = r2_kind_of(c->node->op_type);
	EML_ENSURE(s->kind != 0, EML_E_UNSUPPORTED);
	const eml_rt *X = c->in[0];
	EML_ENSURE(num_dt(X->dtype) || (X->dtype == EML_DT_BOOL && c->opset >= 20 &&
	                                (s->kind == R2_MAX || s->kind == R2_MIN)),
	           EML_E_ENGINE_SHAPE);
	int keep = (int)eml_attr_i(c->node, "keepdims", 1);
	s->rank = X->rank;
	if (s->kind == R2_ARGMAX || s->kind == R2_ARGMIN) {
		uint32_t a;
		EML_ENSURE(X->rank >= 1, EML_E_ENGINE_SHAPE);
		EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", 0), X->rank, &a));
		s->red[a] = 1;
		s->last = (int)eml_attr_i(c->node, "select_last_index", 0);
		/* an arg over an empty axis has no answer */
		EML_ENSURE(X->dims[a] > 0, EML_E_ENGINE_SHAPE);
	} else {
		int noop_empty = 0;
		if (c->opset >= 18) {
			if (c->n_in >= 2 && c->in[1] != NULL)
				EML_GUARD(eml_rt_ints(c->in[1], axes, EML_MAX_RANK, &na));
			noop_empty = (int)eml_attr_i(c->node, "noop_with_empty_axes", 0);
		} else {
			uint32_t cnt;
			const int64_t *a = eml_attr_ints(c->node, "axes", &cnt);
			EML_ENSURE(cnt <= EML_MAX_RANK, EML_E_ENGINE_SHAPE);
			if (a != NULL)
				memcpy(axes, a, cnt * sizeof(int64_t));
			na = cnt;
		}
		if (na == 0) {
			if (noop_empty)
				s->noop = 1;
			else
				for (uint32_t i = 0; i < X->rank; i++)
					s->red[i] = 1;
		}
		for (size_t i = 0; i < na; i++) {
			uint32_t a;
			EML_GUARD(eml_axis(axes[i], X->rank, &a));
			s->red[a] = 1;
		}
	}
	int64_t d[EML_MAX_RANK];
	uint32_t r = 0;
	for (uint32_t i = 0; i < X->rank; i++) {
		if (s->red[i] && !s->noop) {
			if (keep)
				d[r++] = 1;
		} else {
			d[r++] = X->dims[i];
		}
	}
	int32_t odt = (s->kind == R2_ARGMAX || s->kind == R2_ARGMIN) ? EML_DT_INT64 : X->dtype;
	EML_GUARD(eml_rt_set(c->out[0], odt, r, d));
	/* accumulators (double or int64) and, for LogSumExp / arg, a second array */
	c->scratch_bytes = (size_t)c->out[0]->elems * 16;
out:
	return rc;
}

/* Output offset of each input element: strides of the kept dims, 0 for reduced ones. */
static void out_strides(const r2_state *s, const eml_rt *X, int64_t *ost)
{
	int64_t stride = 1;
	for (int d = (int)X->rank - 1; d >= 0; d--) {
		if (s->red[d]) {
			ost[d] = 0;
		} else {
			ost[d] = stride;
			stride *= X->dims[d];
		}
	}
}

#define WALK_BEGIN                                                                                 \
	{                                                                                          \
		int64_t idx_[EML_MAX_RANK] = {0};                                                  \
		int64_t oo = 0;                                                                    \
		for (uint64_t i = 0; i < X->elems; i++) {
#define WALK_END                                                                                   \
	for (int d_ = (int)X->rank - 1; d_ >= 0; d_--) {                                           \
		idx_[d_]++;                                                                        \
		oo += ost[d_];                                                                     \
		if (idx_[d_] < X->dims[d_])                                                        \
			break;                                                                     \
		oo -= ost[d_] * X->dims[d_];                                                       \
		idx_[d_] = 0;                                                                      \
	}                                                                                          \
	}                                                                                          \
	}

static int r2_run(eml_op_ctx *c)
{
	const r2_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	int32_t dt = X->dtype;
	uint64_t no = Y->elems;
	if (s->noop) {
		if (Y->data != X->data)
			memcpy(Y->data, X->data, X->bytes);
		return EML_OK;
	}
	int64_t ost[EML_MAX_RANK];
	out_strides(s, X, ost);
	int real = eml_dt_is_real(dt), uns = dt == EML_DT_UINT64;
	if (s->kind == R2_ARGMAX || s->kind == R2_ARGMIN) {
		/* the index along the reduced axis of each element */
		uint32_t ax = 0;
		while (!s->red[ax])
			ax++;
		double *best = c->scratch;
		int64_t *bi = (int64_t *)(best + no);
		int64_t *ib = (int64_t *)best; /* integer compare (exact for int64) */
		for (uint64_t o = 0; o < no; o++)
			bi[o] = -1;
		int mx = s->kind == R2_ARGMAX;
		WALK_BEGIN
		int64_t k = idx_[ax];
		int take;
		if (real) {
			double v = eml_ld_f(X->data, dt, i);
			take = bi[oo] < 0 || (mx ? (s->last ? v >= best[oo] : v > best[oo])
			                         : (s->last ? v <= best[oo] : v < best[oo]));
			if (take)
				best[oo] = v;
		} else {
			int64_t v = eml_ld_i(X->data, dt, i);
			int cmp = bi[oo] < 0 ? 0
			                     : (uns ? ((uint64_t)v > (uint64_t)ib[oo]) -
			                                  ((uint64_t)v < (uint64_t)ib[oo])
			                            : (v > ib[oo]) - (v < ib[oo]));
			take = bi[oo] < 0 || (mx ? (s->last ? cmp >= 0 : cmp > 0)
			                         : (s->last ? cmp <= 0 : cmp < 0));
			if (take)
				ib[oo] = v;
		}
		if (take)
			bi[oo] = k;
		WALK_END
		if (no > 0) /* an empty output has no storage */
			memcpy(Y->data, bi, (size_t)no * sizeof(int64_t));
		return EML_OK;
	}
	if (!real) {
		int64_t *acc = c->scratch;
		uint8_t *seen = (uint8_t *)(acc + no);
		memset(seen, 0, (size_t)no);
		for (uint64_t o = 0; o < no; o++)
			acc[o] = s->kind == R2_PROD ? 1 : 0;
		if (dt == EML_DT_BOOL) {
			/* max is "any", min is "all"; the empty set gives false / true */
			for (uint64_t o = 0; o < no; o++)
				acc[o] = s->kind == R2_MIN;
			const uint8_t *xb = X->data;
			WALK_BEGIN
			if (s->kind == R2_MAX)
				acc[oo] |= xb[i] != 0;
			else
				acc[oo] &= xb[i] != 0;
			WALK_END
			for (uint64_t o = 0; o < no; o++)
				((uint8_t *)Y->data)[o] = (uint8_t)acc[o];
			return EML_OK;
		}
		WALK_BEGIN
		int64_t v = eml_ld_i(X->data, dt, i);
		int64_t *a = &acc[oo];
		switch (s->kind) {
		case R2_L1:
			*a += v < 0 ? -v : v;
			break;
		case R2_L2:
		case R2_SUMSQ:
			*a += v * v;
			break;
		case R2_PROD:
			*a *= v;
			break;
		case R2_MAX:
			if (!seen[oo] || (uns ? (uint64_t)v > (uint64_t)*a : v > *a))
				*a = v;
			break;
		case R2_MIN:
			if (!seen[oo] || (uns ? (uint64_t)v < (uint64_t)*a : v < *a))
				*a = v;
			break;
		default: /* LogSum, LogSumExp of integers: computed in double below */
			*a += v;
			break;
		}
		seen[oo] = 1;
		WALK_END
		for (uint64_t o = 0; o < no; o++) {
			int64_t v = acc[o];
			if (s->kind == R2_L2)
				v = (int64_t)sqrt((double)v);
			else if (s->kind == R2_LOGSUM)
				v = (int64_t)log((double)v);
			eml_st_i(Y->data, Y->dtype, o, v);
		}
		if (s->kind == R2_LOGSUMEXP) {
			/* rare: integer LogSumExp, recomputed exactly in double */
			double *m = c->scratch;
			for (uint64_t o = 0; o < no; o++)
				m[o] = 0;
			WALK_BEGIN
			m[oo] += exp((double)eml_ld_i(X->data, dt, i));
			WALK_END
			for (uint64_t o = 0; o < no; o++)
				eml_st_i(Y->data, Y->dtype, o, (int64_t)log(m[o]));
		}
		return EML_OK;
	}
	double *acc = c->scratch, *mx = acc + no;
	double init = 0;
	if (s->kind == R2_PROD)
		init = 1;
	else if (s->kind == R2_MAX)
		init = -INFINITY;
	else if (s->kind == R2_MIN)
		init = INFINITY;
	for (uint64_t o = 0; o < no; o++) {
		acc[o] = init;
		mx[o] = -INFINITY;
	}
	if (s->kind == R2_LOGSUMEXP) {
		/* max first, so the exponentials cannot overflow */
		WALK_BEGIN
		double v = eml_ld_f(X->data, dt, i);
		if (v > mx[oo])
			mx[oo] = v;
		WALK_END
		for (uint64_t o = 0; o < no; o++)
			if (isinf(mx[o]))
				mx[o] = 0;
	}
	WALK_BEGIN
	double v = eml_ld_f(X->data, dt, i);
	double *a = &acc[oo];
	switch (s->kind) {
	case R2_L1:
		*a += fabs(v);
		break;
	case R2_L2:
	case R2_SUMSQ:
		*a += v * v;
		break;
	case R2_LOGSUM:
		*a += v;
		break;
	case R2_LOGSUMEXP:
		*a += exp(v - mx[oo]);
		break;
	case R2_PROD:
		*a *= v;
		break;
	case R2_MAX:
		if (v > *a || v != v)
			*a = v;
		break;
	case R2_MIN:
		if (v < *a || v != v)
			*a = v;
		break;
	default:
		break;
	}
	WALK_END
	for (uint64_t o = 0; o < no; o++) {
		double v = acc[o];
		if (s->kind == R2_L2)
			v = sqrt(v);
		else if (s->kind == R2_LOGSUM)
			v = log(v);
		else if (s->kind == R2_LOGSUMEXP)
			v = log(v) + mx[o];
		eml_st_f(Y->data, Y->dtype, o, v);
	}
	return EML_OK;
}

const eml_op_def eml_op_reduce2 = {"*reduce2", 1, 99, r2_prep, r2_run, NULL, NULL};

/* ----- LogSoftmax ----- */

typedef struct lsm_state {
	uint64_t outer, n, inner;
} lsm_state;

static int lsm_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	lsm_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->n_out >= 1 && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	EML_ENSURE(X->rank >= 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	uint32_t ax;
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", c->opset >= 13 ? -1 : 1), X->rank, &ax));
	s->outer = 1;
	s->n = 1;
	s->inner = 1;
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
	c->inplace = 0;
out:
	return rc;
}

typedef struct lsm_job {
	const lsm_state *s;
	const eml_rt *x;
	eml_rt *y;
} lsm_job;

static void lsm_range(void *ctx, size_t b, size_t e)
{
	const lsm_job *j = ctx;
	const lsm_state *s = j->s;
	int32_t dt = j->x->dtype;
	for (size_t r = b; r < e; r++) {
		uint64_t o = r / s->inner, in = r % s->inner;
		uint64_t base = o * s->n * s->inner + in;
		double m = -INFINITY, sum = 0;
		for (uint64_t k = 0; k < s->n; k++) {
			double v = eml_ld_f(j->x->data, dt, base + k * s->inner);
			if (v > m)
				m = v;
		}
		for (uint64_t k = 0; k < s->n; k++)
			sum += exp(eml_ld_f(j->x->data, dt, base + k * s->inner) - m);
		double ls = log(sum) + m;
		for (uint64_t k = 0; k < s->n; k++) {
			size_t at = base + k * s->inner;
			eml_st_f(j->y->data, dt, at, eml_ld_f(j->x->data, dt, at) - ls);
		}
	}
}

static int lsm_run(eml_op_ctx *c)
{
	const lsm_state *s = c->state;
	lsm_job j = {s, c->in[0], c->out[0]};
	if (s->n == 0)
		return EML_OK;
	eml_parallel_for(c->pool, c->threads, (size_t)(s->outer * s->inner), 64, lsm_range, &j);
	return EML_OK;
}

const eml_op_def eml_op_logsoftmax = {"LogSoftmax", 1, 99, lsm_prep, lsm_run, NULL, NULL};
