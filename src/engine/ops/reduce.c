/*
 * ReduceMean, ReduceSum (ONNX opsets 7-20: axes attribute, or input from opset 13 for ReduceSum
 * and 18 for ReduceMean; keepdims; noop_with_empty_axes) and Softmax (opset < 13: over the
 * flattened [d0..axis-1] x [axis..] view, default axis 1; opset 13+: along one axis, default -1).
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/vmath.h"
#include "engine/ops/ops.h"

typedef struct reduce_state {
	int mean;
	int noop;
	uint32_t rank;
	int red[EML_MAX_RANK];
	uint64_t count; /* elements per output */
} reduce_state;

static int reduce_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	reduce_state *s;
	int64_t axes[EML_MAX_RANK];
	size_t na = 0;
	EML_ENSURE(c->n_in >= 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *X = c->in[0];
	s->mean = strcmp(c->node->op_type, "ReduceMean") == 0;
	EML_ENSURE(X->dtype == EML_DT_FLOAT || X->dtype == EML_DT_INT64 || X->dtype == EML_DT_INT32,
	           EML_E_ENGINE_SHAPE);
	int axes_input = s->mean ? c->opset >= 18 : c->opset >= 13;
	if (axes_input) {
		if (c->n_in >= 2 && c->in[1] != NULL)
			EML_GUARD(eml_rt_ints(c->in[1], axes, EML_MAX_RANK, &na));
	} else {
		uint32_t cnt;
		const int64_t *a = eml_attr_ints(c->node, "axes", &cnt);
		EML_ENSURE(cnt <= EML_MAX_RANK, EML_E_ENGINE_SHAPE);
		if (a != NULL)
			memcpy(axes, a, cnt * 8);
		na = cnt;
	}
	int keep = (int)eml_attr_i(c->node, "keepdims", 1);
	int noop_empty = (int)eml_attr_i(c->node, "noop_with_empty_axes", 0);
	s->rank = X->rank;
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
	int64_t d[EML_MAX_RANK];
	uint32_t r = 0;
	s->count = 1;
	for (uint32_t i = 0; i < X->rank; i++) {
		if (s->red[i]) {
			s->count *= (uint64_t)X->dims[i];
			if (keep)
				d[r++] = 1;
		} else {
			d[r++] = X->dims[i];
		}
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, r, d));
out:
	return rc;
}

static int reduce_run(eml_op_ctx *c)
{
	const reduce_state *s = c->state;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	if (s->noop) {
		memcpy(Y->data, X->data, X->bytes);
		return EML_OK;
	}
	/* output strides in the input's index space (0 on reduced axes) */
	int64_t ost[EML_MAX_RANK];
	int64_t st = 1;
	for (int i = (int)s->rank - 1; i >= 0; i--) {
		ost[i] = s->red[i] ? 0 : st;
		if (!s->red[i])
			st *= X->dims[i];
	}
	if (X->dtype == EML_DT_FLOAT) {
		float *y = Y->data;
		const float *x = X->data;
		memset(y, 0, Y->bytes);
		/* common case: reducing trailing axes only -> contiguous rows */
		int trailing = 1, seen = 0;
		for (uint32_t i = 0; i < s->rank; i++) {
			if (s->red[i])
				seen = 1;
			else if (seen)
				trailing = 0;
		}
		if (trailing && s->count > 0) {
			for (uint64_t o = 0; o < Y->elems; o++) {
				double acc = 0;
				const float *xp = x + o * s->count;
				for (uint64_t i = 0; i < s->count; i++)
					acc += xp[i];
				y[o] = (float)(s->mean ? acc / (double)s->count : acc);
			}
			return EML_OK;
		}
		int64_t idx[EML_MAX_RANK] = {0}, off = 0;
		for (uint64_t e = 0; e < X->elems; e++) {
			y[off] += x[e];
			for (int d = (int)s->rank - 1; d >= 0; d--) {
				idx[d]++;
				off += ost[d];
				if (idx[d] < X->dims[d])
					break;
				off -= ost[d] * idx[d];
				idx[d] = 0;
			}
		}
		if (s->mean)
			for (uint64_t o = 0; o < Y->elems; o++)
				y[o] = s->count ? y[o] / (float)s->count : NAN;
		return EML_OK;
	}
	for (uint64_t o = 0; o < Y->elems; o++)
		eml_st_i(Y->data, Y->dtype, o, 0);
	int64_t idx[EML_MAX_RANK] = {0}, off = 0;
	for (uint64_t e = 0; e < X->elems; e++) {
		eml_st_i(Y->data, Y->dtype, (size_t)off,
		         eml_ld_i(Y->data, Y->dtype, (size_t)off) + eml_ld_i(X->data, X->dtype, e));
		for (int d = (int)s->rank - 1; d >= 0; d--) {
			idx[d]++;
			off += ost[d];
			if (idx[d] < X->dims[d])
				break;
			off -= ost[d] * idx[d];
			idx[d] = 0;
		}
	}
	if (s->mean && s->count)
		for (uint64_t o = 0; o < Y->elems; o++)
			eml_st_i(Y->data, Y->dtype, o,
			         eml_ld_i(Y->data, Y->dtype, o) / (int64_t)s->count);
	return EML_OK;
}

const eml_op_def eml_op_reduce = {"*reduce", 1, 99, reduce_prep, reduce_run, NULL, NULL};

/* ----- Softmax ----- */

typedef struct softmax_state {
	uint64_t outer, n, inner; /* softmax over n, elements n apart by `inner` */
} softmax_state;

static int softmax_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	softmax_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->dtype == EML_DT_FLOAT && X->rank >= 1, EML_E_ENGINE_SHAPE);
	uint32_t a;
	int64_t def = c->opset < 13 ? 1 : -1;
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", def), X->rank, &a));
	s->outer = 1;
	s->n = 1;
	s->inner = 1;
	for (uint32_t i = 0; i < a; i++)
		s->outer *= (uint64_t)X->dims[i];
	if (c->opset < 13) {
		for (uint32_t i = a; i < X->rank; i++)
			s->n *= (uint64_t)X->dims[i];
	} else {
		s->n = (uint64_t)X->dims[a];
		for (uint32_t i = a + 1; i < X->rank; i++)
			s->inner *= (uint64_t)X->dims[i];
	}
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, X->rank, X->dims));
out:
	return rc;
}

typedef struct sm_job {
	const softmax_state *s;
	const float *x;
	float *y;
} sm_job;

static void sm_rows(void *ctx, size_t b, size_t e)
{
	const sm_job *j = ctx;
	const softmax_state *s = j->s;
	for (size_t r = b; r < e; r++) {
		uint64_t o = r / s->inner, in = r % s->inner;
		const float *x = j->x + o * s->n * s->inner + in;
		float *y = j->y + o * s->n * s->inner + in;
		float mx = -INFINITY;
		for (uint64_t i = 0; i < s->n; i++)
			mx = x[i * s->inner] > mx ? x[i * s->inner] : mx;
		double sum = 0;
		if (s->inner == 1) {
			for (uint64_t i = 0; i < s->n; i++)
				y[i] = x[i] - mx;
			eml_vexp(y, y, s->n);
			for (uint64_t i = 0; i < s->n; i++)
				sum += y[i];
		} else {
			for (uint64_t i = 0; i < s->n; i++) {
				y[i * s->inner] = expf(x[i * s->inner] - mx);
				sum += y[i * s->inner];
			}
		}
		float inv = (float)(1.0 / sum);
		for (uint64_t i = 0; i < s->n; i++)
			y[i * s->inner] *= inv;
	}
}

static int softmax_run(eml_op_ctx *c)
{
	const softmax_state *s = c->state;
	sm_job j = {s, c->in[0]->data, c->out[0]->data};
	if (s->n == 0)
		return EML_OK;
	eml_parallel_for(c->pool, c->threads, (size_t)(s->outer * s->inner),
	                 (size_t)(16384 / s->n) + 1, sm_rows, &j);
	return EML_OK;
}

const eml_op_def eml_op_softmax = {"Softmax", 1, 99, softmax_prep, softmax_run, NULL, NULL};
