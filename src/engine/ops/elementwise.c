/*
 * Elementwise operators (ONNX operator docs, opsets 7-20): unary math and activations, binary
 * arithmetic/comparison with multidirectional (numpy) broadcasting, variadic Max/Min, Where, Not,
 * Cast. Float32 compute; integer types (shape logic) computed in int64.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/vmath.h"
#include "engine/ops/ops.h"

/* ----- typed load/store for the integer path ----- */

static int is_int(int32_t dt)
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
	case EML_DT_BOOL:
		return 1;
	default:
		return 0;
	}
}

int64_t eml_ld_i(const void *p, int32_t dt, size_t i)
{
	switch (dt) {
	case EML_DT_INT8:
		return ((const int8_t *)p)[i];
	case EML_DT_INT16:
		return ((const int16_t *)p)[i];
	case EML_DT_INT32:
		return ((const int32_t *)p)[i];
	case EML_DT_INT64:
		return ((const int64_t *)p)[i];
	case EML_DT_UINT8:
	case EML_DT_BOOL:
		return ((const uint8_t *)p)[i];
	case EML_DT_UINT16:
		return ((const uint16_t *)p)[i];
	case EML_DT_UINT32:
		return ((const uint32_t *)p)[i];
	case EML_DT_UINT64:
		return (int64_t)((const uint64_t *)p)[i];
	case EML_DT_FLOAT:
		return (int64_t)((const float *)p)[i];
	default:
		return 0;
	}
}

void eml_st_i(void *p, int32_t dt, size_t i, int64_t v)
{
	switch (dt) {
	case EML_DT_INT8:
		((int8_t *)p)[i] = (int8_t)v;
		break;
	case EML_DT_INT16:
		((int16_t *)p)[i] = (int16_t)v;
		break;
	case EML_DT_INT32:
		((int32_t *)p)[i] = (int32_t)v;
		break;
	case EML_DT_INT64:
		((int64_t *)p)[i] = v;
		break;
	case EML_DT_UINT8:
		((uint8_t *)p)[i] = (uint8_t)v;
		break;
	case EML_DT_BOOL:
		((uint8_t *)p)[i] = v != 0;
		break;
	case EML_DT_UINT16:
		((uint16_t *)p)[i] = (uint16_t)v;
		break;
	case EML_DT_UINT32:
		((uint32_t *)p)[i] = (uint32_t)v;
		break;
	case EML_DT_UINT64:
		((uint64_t *)p)[i] = (uint64_t)v;
		break;
	case EML_DT_FLOAT:
		((float *)p)[i] = (float)v;
		break;
	default:
		break;
	}
}

int eml_dt_is_real(int32_t dt)
{
	return dt == EML_DT_FLOAT || dt == EML_DT_DOUBLE || dt == EML_DT_FLOAT16;
}

uint16_t eml_f32_to_f16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	uint32_t sign = (u >> 16) & 0x8000u;
	uint32_t e = (u >> 23) & 0xffu;
	uint32_t m = u & 0x7fffffu;
	if (e == 0xff)
		return (uint16_t)(sign | 0x7c00u | (m ? 0x200u : 0));
	int32_t ne = (int32_t)e - 127 + 15;
	if (ne >= 31)
		return (uint16_t)(sign | 0x7c00u);
	if (ne <= 0) {
		if (ne < -10)
			return (uint16_t)sign;
		m |= 0x800000u;
		uint32_t shift = (uint32_t)(14 - ne);
		uint32_t h = m >> shift;
		uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (h & 1)))
			h++;
		return (uint16_t)(sign | h);
	}
	uint32_t h = ((uint32_t)ne << 10) | (m >> 13);
	uint32_t rem = m & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
		h++; /* may carry into the exponent: still correct (up to inf) */
	return (uint16_t)(sign | h);
}

void eml_st_f(void *p, int32_t dt, size_t i, double v)
{
	switch (dt) {
	case EML_DT_FLOAT:
		((float *)p)[i] = (float)v;
		return;
	case EML_DT_DOUBLE:
		((double *)p)[i] = v;
		return;
	case EML_DT_FLOAT16:
		((uint16_t *)p)[i] = eml_f32_to_f16((float)v);
		return;
	case EML_DT_BOOL:
		((uint8_t *)p)[i] = v != 0;
		return;
	case EML_DT_UINT64:
		((uint64_t *)p)[i] = v != v ? 0 : (uint64_t)v;
		return;
	default:
		eml_st_i(p, dt, i, v != v ? (dt == EML_DT_INT64 ? INT64_MIN : 0) : (int64_t)v);
		return;
	}
}

double eml_ld_f(const void *p, int32_t dt, size_t i)
{
	if (dt == EML_DT_FLOAT)
		return ((const float *)p)[i];
	if (dt == EML_DT_DOUBLE)
		return ((const double *)p)[i];
	if (dt == EML_DT_FLOAT16)
		return eml_f16_to_f32(((const uint16_t *)p)[i]);
	if (dt == EML_DT_UINT64)
		return (double)((const uint64_t *)p)[i];
	return (double)eml_ld_i(p, dt, i);
}

/* ----- activations (shared with fused epilogues) ----- */

void eml_engine_act(float *x, size_t n, int act, float a, float b)
{
	eml_act_apply(x, n, act, a, b); /* kernels/gemm.h: the same activations as the epilogue */
}

/* ----- unary ----- */

enum un_kind {
	UN_ABS = 1,
	UN_NEG,
	UN_EXP,
	UN_ERF,
	UN_SQRT,
	UN_RECIP,
	UN_TANH,
	UN_SIGMOID,
	UN_RELU,
	UN_HARDSIGMOID,
	UN_HARDSWISH,
	UN_LEAKYRELU,
	UN_CLIP,
	UN_NOT,
	UN_IDENT,
};

typedef struct un_state {
	int kind;
	float a, b;
} un_state;

static int un_kind_of(const char *op)
{
	static const struct {
		const char *op;
		int k;
	} t[] = {{"Abs", UN_ABS},
	         {"Neg", UN_NEG},
	         {"Exp", UN_EXP},
	         {"Erf", UN_ERF},
	         {"Sqrt", UN_SQRT},
	         {"Reciprocal", UN_RECIP},
	         {"Tanh", UN_TANH},
	         {"Sigmoid", UN_SIGMOID},
	         {"Relu", UN_RELU},
	         {"HardSigmoid", UN_HARDSIGMOID},
	         {"HardSwish", UN_HARDSWISH},
	         {"LeakyRelu", UN_LEAKYRELU},
	         {"Clip", UN_CLIP},
	         {"Not", UN_NOT}};
	for (size_t i = 0; i < EML_ARRAY_LEN(t); i++)
		if (strcmp(t[i].op, op) == 0)
			return t[i].k;
	return 0;
}

static int unary_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	un_state *s;
	EML_ENSURE(c->n_in >= 1 && c->in[0] != NULL && c->n_out >= 1 && c->out[0] != NULL,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->kind = un_kind_of(c->node->op_type);
	EML_ENSURE(s->kind != 0, EML_E_UNSUPPORTED);
	int32_t dt = c->in[0]->dtype;
	if (s->kind == UN_NOT)
		EML_ENSURE(dt == EML_DT_BOOL, EML_E_ENGINE_SHAPE);
	else if (s->kind == UN_ABS || s->kind == UN_NEG || s->kind == UN_RELU || s->kind == UN_CLIP)
		EML_ENSURE(dt == EML_DT_FLOAT || (is_int(dt) && dt != EML_DT_BOOL),
		           EML_E_ENGINE_SHAPE);
	else
		EML_ENSURE(dt == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
	switch (s->kind) {
	case UN_HARDSIGMOID:
		s->a = eml_attr_f(c->node, "alpha", 0.2f);
		s->b = eml_attr_f(c->node, "beta", 0.5f);
		break;
	case UN_LEAKYRELU:
		s->a = eml_attr_f(c->node, "alpha", 0.01f);
		break;
	case UN_CLIP:
		if (c->opset < 11) {
			s->a = eml_attr_f(c->node, "min", -INFINITY);
			s->b = eml_attr_f(c->node, "max", INFINITY);
		} else {
			s->a = -INFINITY;
			s->b = INFINITY;
			if (is_int(dt)) {
				s->a = -1e30f;
				s->b = 1e30f;
			}
			for (uint32_t k = 1; k < 3 && k < c->n_in; k++) {
				if (c->in[k] == NULL)
					continue;
				/* min/max must be known scalars here (per-request plan) */
				EML_ENSURE(eml_rt_known(c->in[k]) && c->in[k]->elems == 1,
				           EML_E_UNSUPPORTED);
				float v = (float)eml_rt_get_f(c->in[k], 0);
				if (k == 1)
					s->a = v;
				else
					s->b = v;
			}
		}
		break;
	default:
		break;
	}
	EML_GUARD(eml_rt_set(c->out[0], dt, c->in[0]->rank, c->in[0]->dims));
	c->inplace = 1;
out:
	return rc;
}

typedef struct un_job {
	const un_state *s;
	const float *x;
	float *y;
} un_job;

static void un_range(void *ctx, size_t b, size_t e)
{
	un_job *j = ctx;
	const float *x = j->x;
	float *y = j->y;
	size_t i;
	switch (j->s->kind) {
	case UN_ABS:
		for (i = b; i < e; i++)
			y[i] = fabsf(x[i]);
		return;
	case UN_NEG:
		for (i = b; i < e; i++)
			y[i] = -x[i];
		return;
	case UN_EXP:
		eml_vexp(y + b, x + b, e - b);
		return;
	case UN_ERF:
		eml_verf(y + b, x + b, e - b);
		return;
	case UN_SQRT:
		for (i = b; i < e; i++)
			y[i] = sqrtf(x[i]);
		return;
	case UN_RECIP:
		for (i = b; i < e; i++)
			y[i] = 1.0f / x[i];
		return;
	case UN_TANH:
		eml_vtanh(y + b, x + b, e - b);
		return;
	case UN_SIGMOID:
		eml_vsigmoid(y + b, x + b, e - b);
		return;
	case UN_RELU:
	case UN_HARDSIGMOID:
	case UN_HARDSWISH:
	case UN_LEAKYRELU:
	case UN_CLIP: {
		static const int map[] = {[UN_TANH] = EML_ACT_TANH,
		                          [UN_SIGMOID] = EML_ACT_SIGMOID,
		                          [UN_RELU] = EML_ACT_RELU,
		                          [UN_HARDSIGMOID] = EML_ACT_HARDSIGMOID,
		                          [UN_HARDSWISH] = EML_ACT_HARDSWISH,
		                          [UN_LEAKYRELU] = EML_ACT_LEAKYRELU,
		                          [UN_CLIP] = EML_ACT_CLIP};
		if (y != x)
			memcpy(y + b, x + b, (e - b) * sizeof(float));
		eml_engine_act(y + b, e - b, map[j->s->kind], j->s->a, j->s->b);
		return;
	}
	default:
		return;
	}
}

static int unary_run(eml_op_ctx *c)
{
	const un_state *s = c->state;
	const eml_rt *x = c->in[0];
	eml_rt *y = c->out[0];
	if (x->dtype == EML_DT_FLOAT) {
		un_job j = {s, x->data, y->data};
		eml_parallel_for(c->pool, c->threads, x->elems, 16384, un_range, &j);
		return EML_OK;
	}
	for (uint64_t i = 0; i < x->elems; i++) {
		int64_t v = eml_ld_i(x->data, x->dtype, i), r = v;
		switch (s->kind) {
		case UN_ABS:
			r = v < 0 ? -v : v;
			break;
		case UN_NEG:
			r = -v;
			break;
		case UN_RELU:
			r = v > 0 ? v : 0;
			break;
		case UN_CLIP:
			if ((double)v < s->a)
				r = (int64_t)s->a;
			if ((double)r > s->b)
				r = (int64_t)s->b;
			break;
		case UN_NOT:
			r = !v;
			break;
		default:
			break;
		}
		eml_st_i(y->data, y->dtype, i, r);
	}
	return EML_OK;
}

/* Activation nodes describe themselves as a fusion request for the producing GEMM/Conv. */
static int unary_as_fuse(eml_op_ctx *c, eml_fuse_req *r)
{
	const un_state *s = c->state;
	r->kind = EML_FUSE_ACT;
	r->a = s->a;
	r->b = s->b;
	switch (s->kind) {
	case UN_RELU:
		r->act = EML_ACT_RELU;
		break;
	case UN_CLIP:
		r->act = EML_ACT_CLIP;
		break;
	case UN_SIGMOID:
		r->act = EML_ACT_SIGMOID;
		break;
	case UN_HARDSIGMOID:
		r->act = EML_ACT_HARDSIGMOID;
		break;
	case UN_HARDSWISH:
		r->act = EML_ACT_HARDSWISH;
		break;
	case UN_LEAKYRELU:
		r->act = EML_ACT_LEAKYRELU;
		break;
	case UN_TANH:
		r->act = EML_ACT_TANH;
		break;
	default:
		return -1;
	}
	return 0;
}

const eml_op_def eml_op_unary = {"*unary", 1, 99, unary_prep, unary_run, NULL, unary_as_fuse};

/* ----- broadcasting iterator ----- */

typedef struct bc_iter {
	uint32_t rank;
	int64_t dims[EML_MAX_RANK];
	int64_t st[3][EML_MAX_RANK]; /* element strides of up to 3 operands in the output shape */
} bc_iter;

static void bc_init(bc_iter *it, const eml_rt *o, const eml_rt *const *ops, int n)
{
	memset(it, 0, sizeof(*it));
	int64_t st[3][EML_MAX_RANK];
	for (int k = 0; k < n; k++) {
		const eml_rt *t = ops[k];
		int64_t stride = 1;
		for (int d = (int)o->rank - 1; d >= 0; d--) {
			int td = d - ((int)o->rank - (int)t->rank);
			st[k][d] = (td < 0 || t->dims[td] == 1) ? 0 : stride;
			if (td >= 0)
				stride *= t->dims[td];
		}
	}
	/* Coalesce adjacent dims that every operand walks the same way (both contiguous or both
	 * broadcast), so rows are as long as possible: [1,C,H,W] + [1,C,1,1] walks C rows of H*W. */
	uint32_t r = 0;
	for (uint32_t d = 0; d < o->rank; d++) {
		if (o->dims[d] == 1)
			continue; /* size-1 dims move nothing */
		int merge = r > 0;
		for (int k = 0; k < n && merge; k++)
			merge = it->st[k][r - 1] == st[k][d] * o->dims[d];
		if (merge) {
			it->dims[r - 1] *= o->dims[d];
			for (int k = 0; k < n; k++)
				it->st[k][r - 1] = st[k][d];
		} else {
			it->dims[r] = o->dims[d];
			for (int k = 0; k < n; k++)
				it->st[k][r] = st[k][d];
			r++;
		}
	}
	it->rank = r;
}

/* Calls fn for each innermost row: offsets of the operands, length, inner strides. */
typedef void (*bc_row_fn)(void *ctx, const int64_t *off, uint64_t out_off, int64_t n,
                          const int64_t *inner);

/* Rows [r0, r1) of the walk (row = all dims but the last). */
static void bc_walk_rows(const bc_iter *it, int n_ops, bc_row_fn fn, void *ctx, uint64_t r0,
                         uint64_t r1)
{
	if (it->rank == 0) {
		int64_t off[3] = {0, 0, 0}, inner[3] = {0, 0, 0};
		if (r0 == 0 && r1 > 0)
			fn(ctx, off, 0, 1, inner);
		return;
	}
	uint32_t r = it->rank;
	int64_t n = it->dims[r - 1];
	int64_t inner[3];
	for (int k = 0; k < 3; k++)
		inner[k] = it->st[k][r - 1];
	int64_t idx[EML_MAX_RANK] = {0};
	int64_t off[3] = {0, 0, 0};
	uint64_t rem = r0;
	for (int d = (int)r - 2; d >= 0; d--) {
		idx[d] = (int64_t)(rem % (uint64_t)it->dims[d]);
		rem /= (uint64_t)it->dims[d];
		for (int k = 0; k < n_ops; k++)
			off[k] += idx[d] * it->st[k][d];
	}
	uint64_t out_off = r0 * (uint64_t)n;
	for (uint64_t row = r0; row < r1; row++) {
		fn(ctx, off, out_off, n, inner);
		out_off += (uint64_t)n;
		for (int d = (int)r - 2; d >= 0; d--) {
			idx[d]++;
			for (int k = 0; k < n_ops; k++)
				off[k] += it->st[k][d];
			if (idx[d] < it->dims[d])
				break;
			for (int k = 0; k < n_ops; k++)
				off[k] -= it->st[k][d] * idx[d];
			idx[d] = 0;
		}
	}
}

typedef struct bc_job {
	const bc_iter *it;
	int n_ops;
	bc_row_fn fn;
	void *ctx;
} bc_job;

static void bc_range(void *ctx, size_t b, size_t e)
{
	const bc_job *j = ctx;
	bc_walk_rows(j->it, j->n_ops, j->fn, j->ctx, b, e);
}

/* One long row split in element chunks. */
static void bc_range_flat(void *ctx, size_t b, size_t e)
{
	const bc_job *j = ctx;
	int64_t off[3], inner[3];
	for (int k = 0; k < 3; k++) {
		inner[k] = j->it->st[k][0];
		off[k] = (int64_t)b * inner[k];
	}
	j->fn(j->ctx, off, b, (int64_t)(e - b), inner);
}

static void bc_walk(const bc_iter *it, int n_ops, bc_row_fn fn, void *ctx, uint64_t total,
                    eml_op_ctx *c)
{
	if (total == 0)
		return;
	uint64_t n = it->rank ? (uint64_t)it->dims[it->rank - 1] : 1;
	uint64_t rows = total / n;
	bc_job j = {it, n_ops, fn, ctx};
	if (it->rank == 1) {
		if (c != NULL)
			eml_parallel_for(c->pool, c->threads, (size_t)n, 32768, bc_range_flat, &j);
		else
			bc_range_flat(&j, 0, (size_t)n);
		return;
	}
	size_t grain = (size_t)(32768 / n) + 1;
	if (c != NULL)
		eml_parallel_for(c->pool, c->threads, (size_t)rows, grain, bc_range, &j);
	else
		bc_range(&j, 0, (size_t)rows);
}

/* ----- binary ----- */

enum bin_kind {
	BIN_ADD = 1,
	BIN_SUB,
	BIN_MUL,
	BIN_DIV,
	BIN_POW,
	BIN_MAX,
	BIN_MIN,
	BIN_EQUAL,
	BIN_COPY, /* broadcast copy of operand b (variadic first step) */
};

typedef struct bin_state {
	int kind;
	int variadic;
	/* A following Add/Mul by a constant absorbed into this step (same pass over the row):
	 * o = (a op b) post_kind post, where post broadcasts like operand post_src (or is a
	 * scalar when post_src < 0). */
	int post_kind;
	int post_src;
	const eml_rt *post;
} bin_state;

static int bin_kind_of(const char *op)
{
	static const struct {
		const char *op;
		int k;
	} t[] = {{"Add", BIN_ADD}, {"Sub", BIN_SUB}, {"Mul", BIN_MUL}, {"Div", BIN_DIV},
	         {"Pow", BIN_POW}, {"Max", BIN_MAX}, {"Min", BIN_MIN}, {"Equal", BIN_EQUAL}};
	for (size_t i = 0; i < EML_ARRAY_LEN(t); i++)
		if (strcmp(t[i].op, op) == 0)
			return t[i].k;
	return 0;
}

static int binary_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	bin_state *s;
	EML_ENSURE(c->n_in >= 1 && c->n_out >= 1 && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->kind = bin_kind_of(c->node->op_type);
	EML_ENSURE(s->kind != 0, EML_E_UNSUPPORTED);
	s->variadic = s->kind == BIN_MAX || s->kind == BIN_MIN;
	if (!s->variadic)
		EML_ENSURE(c->n_in == 2, EML_E_ENGINE_SHAPE);
	/* Opset < 7 "broadcast"/"axis" attributes are outside 7-20; multidirectional here. */
	uint32_t r = 0;
	int64_t d[EML_MAX_RANK];
	int32_t dt = EML_DT_UNDEFINED;
	for (uint32_t k = 0; k < c->n_in; k++) {
		const eml_rt *t = c->in[k];
		EML_ENSURE(t != NULL, EML_E_ENGINE_SHAPE);
		if (k == 0) {
			r = t->rank;
			memcpy(d, t->dims, sizeof(d));
			dt = t->dtype;
		} else {
			EML_GUARD(eml_bcast_shape(r, d, t->rank, t->dims, &r, d));
			/* Pow (opset 12+) allows a different exponent type */
			if (s->kind != BIN_POW)
				EML_ENSURE(t->dtype == dt, EML_E_ENGINE_SHAPE);
		}
	}
	EML_ENSURE(eml_dt_is_real(dt) || is_int(dt), EML_E_ENGINE_SHAPE);
	if (s->kind == BIN_POW)
		EML_ENSURE(eml_dt_is_real(c->in[1]->dtype) || is_int(c->in[1]->dtype),
		           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], s->kind == BIN_EQUAL ? EML_DT_BOOL : dt, r, d));
	/* an operand of the output's exact shape walks at the output's index (variadic steps
	 * rewrite their output before reading later operands: never in place) */
	c->inplace = !s->variadic;
out:
	return rc;
}

typedef struct bin_job {
	int kind;
	const eml_rt *a, *b;
	eml_rt *o;
	const bin_state *s; /* for the absorbed post-op; NULL otherwise */
} bin_job;

/* The row loops are memory-bound streams: let GCC vectorize them even at -O2 (its -O2 cost model
 * will not version loops for aliasing). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#endif
static void
bin_row_f(void *ctx, const int64_t *off, uint64_t oo, int64_t n, const int64_t *in)
{
	bin_job *j = ctx;
	const float *a = (const float *)j->a->data + off[0];
	const float *b = (const float *)j->b->data + off[1];
	int64_t sa = in[0], sb = in[1];
	if (j->kind == BIN_EQUAL) {
		uint8_t *o = (uint8_t *)j->o->data + oo;
		for (int64_t i = 0; i < n; i++)
			o[i] = a[i * sa] == b[i * sb];
		return;
	}
	float *o = (float *)j->o->data + oo;
#define LOOP(expr)                                                                                 \
	do {                                                                                       \
		if (sa == 1 && sb == 1) {                                                          \
			for (int64_t i = 0; i < n; i++) {                                          \
				float x = a[i], y = b[i];                                          \
				o[i] = (expr);                                                     \
			}                                                                          \
		} else if (sa == 1 && sb == 0) {                                                   \
			float y = b[0];                                                            \
			for (int64_t i = 0; i < n; i++) {                                          \
				float x = a[i];                                                    \
				o[i] = (expr);                                                     \
			}                                                                          \
		} else {                                                                           \
			for (int64_t i = 0; i < n; i++) {                                          \
				float x = a[i * sa], y = b[i * sb];                                \
				o[i] = (expr);                                                     \
			}                                                                          \
		}                                                                                  \
	} while (0)
	switch (j->kind) {
	case BIN_ADD:
		LOOP(x + y);
		break;
	case BIN_SUB:
		LOOP(x - y);
		break;
	case BIN_MUL:
		LOOP(x * y);
		break;
	case BIN_DIV:
		LOOP(x / y);
		break;
	case BIN_MAX:
		LOOP((x != x || y != y) ? NAN : (x > y ? x : y));
		break;
	case BIN_MIN:
		LOOP((x != x || y != y) ? NAN : (x < y ? x : y));
		break;
	case BIN_COPY:
		LOOP(((void)x, y));
		break;
	case BIN_POW:
		/* x^2 and x^0.5 (LayerNorm variance, RMS) without calling powf per element */
		if (sb == 0 && b[0] == 2.0f)
			LOOP(((void)y, x * x));
		else if (sb == 0 && b[0] == 1.0f)
			LOOP(((void)y, x));
		else
			LOOP(powf(x, y));
		break;
	default:
		break;
	}
#undef LOOP
	if (j->s != NULL && j->s->post != NULL) {
		const bin_state *st = j->s;
		const float *p = st->post->data;
		int64_t sp = 0;
		if (st->post_src >= 0) {
			p += off[st->post_src];
			sp = in[st->post_src];
		}
		if (st->post_kind == BIN_ADD) {
			if (sp == 0)
				for (int64_t i = 0; i < n; i++)
					o[i] += p[0];
			else
				for (int64_t i = 0; i < n; i++)
					o[i] += p[i * sp];
		} else {
			if (sp == 0)
				for (int64_t i = 0; i < n; i++)
					o[i] *= p[0];
			else
				for (int64_t i = 0; i < n; i++)
					o[i] *= p[i * sp];
		}
	}
}

static int64_t ipow(int64_t b, int64_t e)
{
	if (e < 0)
		return b == 1 ? 1 : (b == -1 ? ((e & 1) ? -1 : 1) : 0);
	int64_t r = 1;
	while (e) {
		if (e & 1)
			r *= b;
		b *= b;
		e >>= 1;
	}
	return r;
}

static void bin_row_generic(void *ctx, const int64_t *off, uint64_t oo, int64_t n,
                            const int64_t *in)
{
	bin_job *j = ctx;
	int32_t ta = j->a->dtype, tb = j->b->dtype, to = j->o->dtype;
	for (int64_t i = 0; i < n; i++) {
		size_t ia = (size_t)(off[0] + i * in[0]), ib = (size_t)(off[1] + i * in[1]);
		size_t io = (size_t)oo + (size_t)i;
		if (j->kind == BIN_POW) {
			double x = eml_ld_f(j->a->data, ta, ia), y = eml_ld_f(j->b->data, tb, ib);
			if (ta == EML_DT_FLOAT)
				((float *)j->o->data)[io] = powf((float)x, (float)y);
			else if (eml_dt_is_real(ta))
				eml_st_f(j->o->data, to, io, pow(x, y));
			else if (is_int(tb))
				eml_st_i(j->o->data, to, io,
				         ipow(eml_ld_i(j->a->data, ta, ia),
				              eml_ld_i(j->b->data, tb, ib)));
			else
				eml_st_i(j->o->data, to, io, (int64_t)pow(x, y));
			continue;
		}
		if (eml_dt_is_real(ta)) {
			/* double / float16 storage: computed in double */
			double x = eml_ld_f(j->a->data, ta, ia), y = eml_ld_f(j->b->data, tb, ib),
			       r = 0;
			switch (j->kind) {
			case BIN_ADD:
				r = x + y;
				break;
			case BIN_SUB:
				r = x - y;
				break;
			case BIN_MUL:
				r = x * y;
				break;
			case BIN_DIV:
				r = x / y;
				break;
			case BIN_MAX:
				r = (x != x || y != y) ? NAN : (x > y ? x : y);
				break;
			case BIN_MIN:
				r = (x != x || y != y) ? NAN : (x < y ? x : y);
				break;
			case BIN_EQUAL:
				r = x == y;
				break;
			default:
				r = y;
				break;
			}
			eml_st_f(j->o->data, to, io, r);
			continue;
		}
		int64_t x = eml_ld_i(j->a->data, ta, ia), y = eml_ld_i(j->b->data, tb, ib), r = 0;
		int uns = ta == EML_DT_UINT64;
		switch (j->kind) {
		case BIN_ADD:
			r = (int64_t)((uint64_t)x + (uint64_t)y);
			break;
		case BIN_SUB:
			r = (int64_t)((uint64_t)x - (uint64_t)y);
			break;
		case BIN_MUL:
			r = (int64_t)((uint64_t)x * (uint64_t)y);
			break;
		case BIN_DIV:
			/* integer division truncates toward zero (numpy: floor; ONNX tests use
			 * non-negative operands); division by zero gives 0 rather than a trap */
			r = y == 0 ? 0 : (uns ? (int64_t)((uint64_t)x / (uint64_t)y) : x / y);
			break;
		case BIN_MAX:
			r = uns ? ((uint64_t)x > (uint64_t)y ? x : y) : (x > y ? x : y);
			break;
		case BIN_MIN:
			r = uns ? ((uint64_t)x < (uint64_t)y ? x : y) : (x < y ? x : y);
			break;
		case BIN_EQUAL:
			r = x == y;
			break;
		case BIN_COPY:
			r = y;
			break;
		default:
			break;
		}
		eml_st_i(j->o->data, to, io, r);
	}
}

static void bin_apply(int kind, const eml_rt *a, const eml_rt *b, eml_rt *o, eml_op_ctx *c,
                      const bin_state *s)
{
	bin_job j = {kind, a, b, o, s};
	bc_iter it;
	const eml_rt *ops[2] = {a, b};
	bc_init(&it, o, ops, 2);
	int fast = a->dtype == EML_DT_FLOAT && b->dtype == EML_DT_FLOAT;
	bc_walk(&it, 2, fast ? bin_row_f : bin_row_generic, &j, o->elems, fast ? c : NULL);
}

static int binary_run(eml_op_ctx *c)
{
	const bin_state *s = c->state;
	eml_rt *o = c->out[0];
	if (!s->variadic) {
		bin_apply(s->kind, c->in[0], c->in[1], o, c, s->post != NULL ? s : NULL);
		return EML_OK;
	}
	/* variadic: o = broadcast(in0), then o = op(o, in_k) in place (same element order). */
	bin_apply(BIN_COPY, o, c->in[0], o, c, NULL);
	for (uint32_t k = 1; k < c->n_in; k++)
		bin_apply(s->kind, o, c->in[k], o, c, NULL);
	return EML_OK;
}

/* Add of a constant bias: offered to the producing GEMM/Conv. */
static int binary_as_fuse(eml_op_ctx *c, eml_fuse_req *r)
{
	const bin_state *s = c->state;
	if ((s->kind != BIN_ADD && s->kind != BIN_MUL) || c->n_in != 2)
		return -1;
	int xi = c->in[1]->kind == EML_RT_CONST ? 0 : (c->in[0]->kind == EML_RT_CONST ? 1 : -1);
	if (xi < 0 || c->in[1 - xi]->dtype != EML_DT_FLOAT)
		return -1;
	r->kind = s->kind == BIN_ADD ? EML_FUSE_BIAS : EML_FUSE_SCALE;
	r->t[0] = c->in[1 - xi];
	return xi;
}

/* Absorb a following Add/Mul by a constant that broadcasts like this step's constant operand
 * (per-channel scale then shift, as exported "affine" layers are). */
static int binary_fuse(eml_op_ctx *c, const eml_fuse_req *r)
{
	bin_state *s = c->state;
	if (s->variadic || s->post != NULL || c->n_in != 2 || c->out[0]->dtype != EML_DT_FLOAT)
		return 0;
	if (s->kind != BIN_ADD && s->kind != BIN_SUB && s->kind != BIN_MUL && s->kind != BIN_DIV)
		return 0;
	if (c->in[0]->dtype != EML_DT_FLOAT || c->in[1]->dtype != EML_DT_FLOAT)
		return 0;
	if (r->kind != EML_FUSE_BIAS && r->kind != EML_FUSE_SCALE)
		return 0;
	const eml_rt *t = r->t[0];
	int src = -1;
	if (t->elems != 1) {
		for (int k = 0; k < 2 && src < 0; k++) {
			const eml_rt *u = c->in[k];
			if (u->kind == EML_RT_CONST && u->rank == t->rank &&
			    memcmp(u->dims, t->dims, sizeof(u->dims)) == 0)
				src = k;
		}
		if (src < 0)
			return 0;
	}
	/* kept alive as an extra input (in[2]); run reads operands in[0], in[1] only */
	if (eml_op_add_input(c, (eml_rt *)t) != EML_OK)
		return 0;
	s->post = t;
	s->post_src = src;
	s->post_kind = r->kind == EML_FUSE_BIAS ? BIN_ADD : BIN_MUL;
	return 1;
}

const eml_op_def eml_op_binary = {"*binary",     1, 99, binary_prep, binary_run, binary_fuse,
                                  binary_as_fuse};

/* ----- Where (opset 9+) ----- */

static int where_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 3 && c->in[0] && c->in[1] && c->in[2] && c->out[0],
	           EML_E_ENGINE_SHAPE);
	EML_ENSURE(c->in[0]->dtype == EML_DT_BOOL && c->in[1]->dtype == c->in[2]->dtype,
	           EML_E_ENGINE_SHAPE);
	uint32_t r;
	int64_t d[EML_MAX_RANK];
	EML_GUARD(
	    eml_bcast_shape(c->in[0]->rank, c->in[0]->dims, c->in[1]->rank, c->in[1]->dims, &r, d));
	EML_GUARD(eml_bcast_shape(r, d, c->in[2]->rank, c->in[2]->dims, &r, d));
	EML_GUARD(eml_rt_set(c->out[0], c->in[1]->dtype, r, d));
out:
	return rc;
}

typedef struct where_job {
	const eml_rt *c, *x, *y;
	eml_rt *o;
	size_t es;
} where_job;

static void where_row(void *ctx, const int64_t *off, uint64_t oo, int64_t n, const int64_t *in)
{
	where_job *j = ctx;
	const uint8_t *cd = j->c->data;
	const uint8_t *xd = j->x->data, *yd = j->y->data;
	uint8_t *od = j->o->data;
	size_t es = j->es;
	for (int64_t i = 0; i < n; i++) {
		int64_t ci = off[0] + i * in[0];
		int64_t src = cd[ci] ? off[1] + i * in[1] : off[2] + i * in[2];
		memcpy(od + (oo + (uint64_t)i) * es, (cd[ci] ? xd : yd) + src * (int64_t)es, es);
	}
}

static int where_run(eml_op_ctx *c)
{
	where_job j = {c->in[0], c->in[1], c->in[2], c->out[0], eml_dtype_size(c->out[0]->dtype)};
	bc_iter it;
	const eml_rt *ops[3] = {c->in[0], c->in[1], c->in[2]};
	bc_init(&it, c->out[0], ops, 3);
	bc_walk(&it, 3, where_row, &j, c->out[0]->elems, c);
	return EML_OK;
}

const eml_op_def eml_op_where = {"Where", 9, 18, where_prep, where_run, NULL, NULL};

/* ----- Cast ----- */

static int cast_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	int64_t to = eml_attr_i(c->node, "to", 0);
	/* storage conversions only (compute stays float32): float/double/float16/integers */
	EML_ENSURE(eml_dt_is_real((int32_t)to) || is_int((int32_t)to), EML_E_UNSUPPORTED);
	EML_ENSURE(eml_dt_is_real(c->in[0]->dtype) || is_int(c->in[0]->dtype), EML_E_UNSUPPORTED);
	EML_GUARD(eml_rt_set(c->out[0], (int32_t)to, c->in[0]->rank, c->in[0]->dims));
out:
	return rc;
}

static int cast_run(eml_op_ctx *c)
{
	const eml_rt *x = c->in[0];
	eml_rt *y = c->out[0];
	if (x->dtype == y->dtype) {
		if (x->data != y->data)
			memcpy(y->data, x->data, x->bytes);
		return EML_OK;
	}
	if (x->dtype == EML_DT_INT32 && y->dtype == EML_DT_FLOAT) {
		/* the int8 models' accumulators (ConvInteger/MatMulInteger -> Cast): a plain loop */
		const int32_t *xi = x->data;
		float *yf = y->data;
		for (uint64_t i = 0; i < x->elems; i++)
			yf[i] = (float)xi[i];
		return EML_OK;
	}
	for (uint64_t i = 0; i < x->elems; i++) {
		if (eml_dt_is_real(x->dtype) || eml_dt_is_real(y->dtype))
			eml_st_f(y->data, y->dtype, i, eml_ld_f(x->data, x->dtype, i));
		else
			eml_st_i(y->data, y->dtype, i, eml_ld_i(x->data, x->dtype, i));
	}
	return EML_OK;
}

const eml_op_def eml_op_cast = {"Cast", 6, 18, cast_prep, cast_run, NULL, NULL};
