/*
 * More elementwise operators (ONNX operator docs, opsets 7-20):
 *  unary   Ceil, Floor, Round (half to even), Sign, Sin, Cos, Tan, Log, Elu, Selu, Softplus,
 *          Softsign;
 *  binary  PRelu (slope broadcast to X), Mod (fmod attribute: C fmod, or the sign of the divisor
 *          for integers), And, Or, Xor, Greater, GreaterOrEqual, Less, LessOrEqual (numpy
 *          multidirectional broadcasting);
 *  variadic Sum, Mean (broadcasting from opset 8).
 * Real types (float, double, float16 storage) compute in double and round once on store;
 * integer types compute in 64 bits (unsigned where the dtype is).
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

static int is_unsigned(int32_t dt)
{
	return dt == EML_DT_UINT8 || dt == EML_DT_UINT16 || dt == EML_DT_UINT32 ||
	       dt == EML_DT_UINT64;
}

/* ----- a small broadcasting walker (output order; up to 2 operands) ----- */

typedef struct bw {
	uint32_t rank;
	int64_t dims[EML_MAX_RANK];
	int64_t st[2][EML_MAX_RANK];
	int64_t idx[EML_MAX_RANK];
	int64_t off[2];
	int n;
} bw;

static void bw_init(bw *w, const eml_rt *o, const eml_rt *const *ops, int n)
{
	memset(w, 0, sizeof(*w));
	w->rank = o->rank;
	w->n = n;
	memcpy(w->dims, o->dims, sizeof(w->dims));
	for (int k = 0; k < n; k++) {
		const eml_rt *t = ops[k];
		int64_t stride = 1;
		for (int d = (int)o->rank - 1; d >= 0; d--) {
			int td = d - ((int)o->rank - (int)t->rank);
			w->st[k][d] = (td < 0 || t->dims[td] == 1) ? 0 : stride;
			if (td >= 0)
				stride *= t->dims[td];
		}
	}
}

static void bw_next(bw *w)
{
	for (int d = (int)w->rank - 1; d >= 0; d--) {
		w->idx[d]++;
		for (int k = 0; k < w->n; k++)
			w->off[k] += w->st[k][d];
		if (w->idx[d] < w->dims[d])
			return;
		for (int k = 0; k < w->n; k++)
			w->off[k] -= w->st[k][d] * w->dims[d];
		w->idx[d] = 0;
	}
}

/* ----- unary ----- */

enum u2_kind {
	U2_CEIL = 1,
	U2_FLOOR,
	U2_ROUND,
	U2_SIGN,
	U2_SIN,
	U2_COS,
	U2_TAN,
	U2_LOG,
	U2_ELU,
	U2_SELU,
	U2_SOFTPLUS,
	U2_SOFTSIGN,
	U2_SINH,
	U2_COSH,
	U2_ASIN,
	U2_ACOS,
	U2_ATAN,
	U2_ASINH,
	U2_ACOSH,
	U2_ATANH,
	U2_THRELU,
	U2_SHRINK,
	U2_CELU,
	U2_ISNAN,
	U2_ISINF,
};

typedef struct u2_state {
	int kind;
	double a, g;
	int neg, pos; /* IsInf detect_negative / detect_positive */
} u2_state;

static int u2_kind_of(const char *op)
{
	static const struct {
		const char *op;
		int k;
	} t[] = {{"Ceil", U2_CEIL},     {"Floor", U2_FLOOR},       {"Round", U2_ROUND},
	         {"Sign", U2_SIGN},     {"Sin", U2_SIN},           {"Cos", U2_COS},
	         {"Tan", U2_TAN},       {"Log", U2_LOG},           {"Elu", U2_ELU},
	         {"Selu", U2_SELU},     {"Softplus", U2_SOFTPLUS}, {"Softsign", U2_SOFTSIGN},
	         {"Sinh", U2_SINH},     {"Cosh", U2_COSH},         {"Asin", U2_ASIN},
	         {"Acos", U2_ACOS},     {"Atan", U2_ATAN},         {"Asinh", U2_ASINH},
	         {"Acosh", U2_ACOSH},   {"Atanh", U2_ATANH},       {"ThresholdedRelu", U2_THRELU},
	         {"Shrink", U2_SHRINK}, {"Celu", U2_CELU},         {"IsNaN", U2_ISNAN},
	         {"IsInf", U2_ISINF}};
	for (size_t i = 0; i < EML_ARRAY_LEN(t); i++)
		if (strcmp(t[i].op, op) == 0)
			return t[i].k;
	return 0;
}

static int u2_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	u2_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] != NULL && c->n_out >= 1 && c->out[0] != NULL,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->kind = u2_kind_of(c->node->op_type);
	EML_ENSURE(s->kind != 0, EML_E_UNSUPPORTED);
	int32_t dt = c->in[0]->dtype;
	/* Sign takes every numeric type (opset 9+); the others are defined on real types only */
	if (s->kind == U2_SIGN)
		EML_ENSURE(eml_dt_is_real(dt) || is_intd(dt), EML_E_ENGINE_SHAPE);
	else
		EML_ENSURE(eml_dt_is_real(dt), EML_E_ENGINE_SHAPE);
	if (s->kind == U2_ELU)
		s->a = eml_attr_f(c->node, "alpha", 1.0f);
	if (s->kind == U2_SELU) {
		s->a = eml_attr_f(c->node, "alpha", 1.67326319217681884765625f);
		s->g = eml_attr_f(c->node, "gamma", 1.05070102214050292968750f);
	}
	if (s->kind == U2_THRELU)
		s->a = eml_attr_f(c->node, "alpha", 1.0f);
	if (s->kind == U2_CELU)
		s->a = eml_attr_f(c->node, "alpha", 1.0f);
	if (s->kind == U2_SHRINK) {
		s->a = eml_attr_f(c->node, "lambd", 0.5f);
		s->g = eml_attr_f(c->node, "bias", 0.0f);
	}
	if (s->kind == U2_ISINF) {
		s->neg = (int)eml_attr_i(c->node, "detect_negative", 1);
		s->pos = (int)eml_attr_i(c->node, "detect_positive", 1);
	}
	int boolean = s->kind == U2_ISNAN || s->kind == U2_ISINF;
	EML_GUARD(
	    eml_rt_set(c->out[0], boolean ? EML_DT_BOOL : dt, c->in[0]->rank, c->in[0]->dims));
	c->inplace = !boolean;
out:
	return rc;
}

static double u2_f(const u2_state *s, double x)
{
	switch (s->kind) {
	case U2_CEIL:
		return ceil(x);
	case U2_FLOOR:
		return floor(x);
	case U2_ROUND:
		return nearbyint(x); /* default rounding mode: half to even, as ONNX specifies */
	case U2_SIGN:
		return x > 0 ? 1.0 : (x < 0 ? -1.0 : (x == 0 ? 0.0 : x));
	case U2_SIN:
		return sin(x);
	case U2_COS:
		return cos(x);
	case U2_TAN:
		return tan(x);
	case U2_LOG:
		return log(x);
	case U2_ELU:
		return x < 0 ? s->a * (exp(x) - 1.0) : x;
	case U2_SELU:
		return x > 0 ? s->g * x : s->g * (s->a * exp(x) - s->a);
	case U2_SOFTPLUS:
		/* log(1 + e^x) without overflow for large x */
		return x > 30 ? x + log1p(exp(-x)) : log1p(exp(x));
	case U2_SOFTSIGN:
		return x / (1.0 + fabs(x));
	case U2_SINH:
		return sinh(x);
	case U2_COSH:
		return cosh(x);
	case U2_ASIN:
		return asin(x);
	case U2_ACOS:
		return acos(x);
	case U2_ATAN:
		return atan(x);
	case U2_ASINH:
		return asinh(x);
	case U2_ACOSH:
		return acosh(x);
	case U2_ATANH:
		return atanh(x);
	case U2_THRELU:
		return x > s->a ? x : 0.0;
	case U2_SHRINK:
		return x < -s->a ? x + s->g : (x > s->a ? x - s->g : 0.0);
	case U2_CELU:
		return (x > 0 ? x : 0.0) + fmin(0.0, s->a * (exp(x / s->a) - 1.0));
	case U2_ISNAN:
		return x != x;
	case U2_ISINF:
		return (isinf(x) && ((x > 0 && s->pos) || (x < 0 && s->neg))) ? 1.0 : 0.0;
	default:
		return x;
	}
}

typedef struct u2_job {
	const u2_state *s;
	const eml_rt *x;
	eml_rt *y;
} u2_job;

static void u2_range(void *ctx, size_t b, size_t e)
{
	const u2_job *j = ctx;
	int32_t dt = j->x->dtype;
	if (j->y->dtype == EML_DT_BOOL) {
		for (size_t i = b; i < e; i++)
			((uint8_t *)j->y->data)[i] =
			    (uint8_t)(u2_f(j->s, eml_ld_f(j->x->data, dt, i)) != 0);
		return;
	}
	if (dt == EML_DT_FLOAT) {
		const float *x = j->x->data;
		float *y = j->y->data;
		for (size_t i = b; i < e; i++)
			y[i] = (float)u2_f(j->s, x[i]);
		return;
	}
	if (eml_dt_is_real(dt)) {
		for (size_t i = b; i < e; i++)
			eml_st_f(j->y->data, dt, i, u2_f(j->s, eml_ld_f(j->x->data, dt, i)));
		return;
	}
	/* Sign of an integer */
	for (size_t i = b; i < e; i++) {
		int64_t v = eml_ld_i(j->x->data, dt, i);
		if (dt == EML_DT_UINT64)
			v = (uint64_t)v != 0;
		eml_st_i(j->y->data, dt, i, v > 0 ? 1 : (v < 0 ? -1 : 0));
	}
}

static int u2_run(eml_op_ctx *c)
{
	u2_job j = {c->state, c->in[0], c->out[0]};
	eml_parallel_for(c->pool, c->threads, (size_t)c->in[0]->elems, 8192, u2_range, &j);
	return EML_OK;
}

const eml_op_def eml_op_unary2 = {"*unary2", 1, 99, u2_prep, u2_run, NULL, NULL};

/* ----- binary ----- */

enum b2_kind {
	B2_PRELU = 1,
	B2_MOD,
	B2_AND,
	B2_OR,
	B2_XOR,
	B2_GT,
	B2_GE,
	B2_LT,
	B2_LE,
};

typedef struct b2_state {
	int kind;
	int fmod;
} b2_state;

static int b2_kind_of(const char *op)
{
	static const struct {
		const char *op;
		int k;
	} t[] = {
	    {"PRelu", B2_PRELU},   {"Mod", B2_MOD},    {"And", B2_AND},           {"Or", B2_OR},
	    {"Xor", B2_XOR},       {"Greater", B2_GT}, {"GreaterOrEqual", B2_GE}, {"Less", B2_LT},
	    {"LessOrEqual", B2_LE}};
	for (size_t i = 0; i < EML_ARRAY_LEN(t); i++)
		if (strcmp(t[i].op, op) == 0)
			return t[i].k;
	return 0;
}

static int b2_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	b2_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] != NULL && c->in[1] != NULL && c->n_out >= 1 &&
	               c->out[0] != NULL,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->kind = b2_kind_of(c->node->op_type);
	EML_ENSURE(s->kind != 0, EML_E_UNSUPPORTED);
	const eml_rt *a = c->in[0], *b = c->in[1];
	int32_t dt = a->dtype;
	EML_ENSURE(b->dtype == dt, EML_E_ENGINE_SHAPE);
	uint32_t r;
	int64_t d[EML_MAX_RANK];
	EML_GUARD(eml_bcast_shape(a->rank, a->dims, b->rank, b->dims, &r, d));
	int32_t odt = dt;
	switch (s->kind) {
	case B2_PRELU:
		EML_ENSURE(eml_dt_is_real(dt) || is_intd(dt), EML_E_ENGINE_SHAPE);
		/* slope is unidirectionally broadcastable to X: the output has X's shape */
		EML_ENSURE(r == a->rank && memcmp(d, a->dims, r * sizeof(int64_t)) == 0,
		           EML_E_ENGINE_SHAPE);
		break;
	case B2_MOD:
		EML_ENSURE(eml_dt_is_real(dt) || is_intd(dt), EML_E_ENGINE_SHAPE);
		s->fmod = (int)eml_attr_i(c->node, "fmod", 0);
		EML_ENSURE(s->fmod == 0 || s->fmod == 1, EML_E_ENGINE_SHAPE);
		/* the spec requires fmod=1 for real types */
		EML_ENSURE(s->fmod == 1 || !eml_dt_is_real(dt), EML_E_ENGINE_SHAPE);
		break;
	case B2_AND:
	case B2_OR:
	case B2_XOR:
		EML_ENSURE(dt == EML_DT_BOOL, EML_E_ENGINE_SHAPE);
		break;
	default:
		EML_ENSURE(eml_dt_is_real(dt) || is_intd(dt), EML_E_ENGINE_SHAPE);
		odt = EML_DT_BOOL;
		break;
	}
	EML_GUARD(eml_rt_set(c->out[0], odt, r, d));
out:
	return rc;
}

static int cmp_res(int kind, int c)
{
	switch (kind) {
	case B2_GT:
		return c > 0;
	case B2_GE:
		return c >= 0;
	case B2_LT:
		return c < 0;
	default:
		return c <= 0;
	}
}

static int b2_run(eml_op_ctx *c)
{
	const b2_state *s = c->state;
	const eml_rt *a = c->in[0], *b = c->in[1];
	eml_rt *o = c->out[0];
	int32_t dt = a->dtype;
	int real = eml_dt_is_real(dt), uns = is_unsigned(dt);
	bw w;
	const eml_rt *ops[2] = {a, b};
	bw_init(&w, o, ops, 2);
	for (uint64_t i = 0; i < o->elems; i++, bw_next(&w)) {
		size_t ia = (size_t)w.off[0], ib = (size_t)w.off[1];
		if (s->kind == B2_AND || s->kind == B2_OR || s->kind == B2_XOR) {
			int x = ((const uint8_t *)a->data)[ia] != 0;
			int y = ((const uint8_t *)b->data)[ib] != 0;
			int r =
			    s->kind == B2_AND ? (x && y) : (s->kind == B2_OR ? (x || y) : (x != y));
			((uint8_t *)o->data)[i] = (uint8_t)r;
			continue;
		}
		if (real) {
			double x = eml_ld_f(a->data, dt, ia), y = eml_ld_f(b->data, dt, ib);
			if (s->kind == B2_PRELU)
				eml_st_f(o->data, dt, i, x < 0 ? x * y : x);
			else if (s->kind == B2_MOD)
				eml_st_f(o->data, dt, i, fmod(x, y));
			else
				((uint8_t *)o->data)[i] =
				    (uint8_t)(x == x && y == y &&
				              cmp_res(s->kind, (x > y) - (x < y)));
			continue;
		}
		int64_t x = eml_ld_i(a->data, dt, ia), y = eml_ld_i(b->data, dt, ib);
		if (s->kind == B2_PRELU) {
			eml_st_i(o->data, dt, i, (!uns && x < 0) ? x * y : x);
		} else if (s->kind == B2_MOD) {
			int64_t r;
			if (y == 0)
				r = 0; /* undefined in the spec: no trap */
			else if (uns)
				r = (int64_t)((uint64_t)x % (uint64_t)y);
			else if (y == -1)
				r = 0; /* avoids INT64_MIN % -1 */
			else {
				r = x % y; /* C: sign of the dividend (fmod=1) */
				if (!s->fmod && r != 0 && ((r < 0) != (y < 0)))
					r += y; /* Python: sign of the divisor */
			}
			eml_st_i(o->data, dt, i, r);
		} else {
			int cr = uns ? ((uint64_t)x > (uint64_t)y) - ((uint64_t)x < (uint64_t)y)
			             : (x > y) - (x < y);
			((uint8_t *)o->data)[i] = (uint8_t)cmp_res(s->kind, cr);
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_binary2 = {"*binary2", 1, 99, b2_prep, b2_run, NULL, NULL};

/* ----- Sum, Mean ----- */

static int sm_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in >= 1 && c->n_out >= 1 && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	uint32_t r = 0;
	int64_t d[EML_MAX_RANK] = {0};
	int32_t dt = EML_DT_UNDEFINED;
	for (uint32_t k = 0; k < c->n_in; k++) {
		const eml_rt *t = c->in[k];
		EML_ENSURE(t != NULL, EML_E_ENGINE_SHAPE);
		if (k == 0) {
			r = t->rank;
			memcpy(d, t->dims, sizeof(d));
			dt = t->dtype;
		} else {
			EML_ENSURE(t->dtype == dt, EML_E_ENGINE_SHAPE);
			EML_GUARD(eml_bcast_shape(r, d, t->rank, t->dims, &r, d));
		}
	}
	EML_ENSURE(eml_dt_is_real(dt), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], dt, r, d));
	/* out is rewritten before later operands are read: never in place */
	c->scratch_bytes = c->out[0]->elems * sizeof(double);
out:
	return rc;
}

static int sm_run(eml_op_ctx *c)
{
	eml_rt *o = c->out[0];
	double *acc = c->scratch;
	int32_t dt = o->dtype;
	if (o->elems == 0) /* nothing to sum into (no scratch either) */
		return EML_OK;
	memset(acc, 0, (size_t)o->elems * sizeof(double));
	for (uint32_t k = 0; k < c->n_in; k++) {
		const eml_rt *t = c->in[k];
		bw w;
		const eml_rt *ops[1] = {t};
		bw_init(&w, o, ops, 1);
		for (uint64_t i = 0; i < o->elems; i++, bw_next(&w))
			acc[i] += eml_ld_f(t->data, dt, (size_t)w.off[0]);
	}
	return EML_OK;
}

/* Sum and Mean differ only in the final scale. */
static int sum_run(eml_op_ctx *c)
{
	sm_run(c);
	const double *acc = c->scratch;
	for (uint64_t i = 0; i < c->out[0]->elems; i++)
		eml_st_f(c->out[0]->data, c->out[0]->dtype, i, acc[i]);
	return EML_OK;
}

static int mean_run(eml_op_ctx *c)
{
	sm_run(c);
	const double *acc = c->scratch;
	for (uint64_t i = 0; i < c->out[0]->elems; i++)
		eml_st_f(c->out[0]->data, c->out[0]->dtype, i, acc[i] / (double)c->n_in);
	return EML_OK;
}

const eml_op_def eml_op_sum = {"Sum", 1, 99, sm_prep, sum_run, NULL, NULL};
const eml_op_def eml_op_mean = {"Mean", 1, 99, sm_prep, mean_run, NULL, NULL};
