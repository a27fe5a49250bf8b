/*
 * MaxPool (with the optional Indices output), AveragePool and GlobalAveragePool (ONNX opsets
 * 7-20: auto_pad, ceil_mode, count_include_pad, dilations (AveragePool's from opset 19; read at
 * every opset, as MaxPool's), kernel_shape, pads, storage_order, strides) on kernels/pool.h.
 * Pads and auto_pad are resolved here; SAME pads by the dilated window.
 */
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/pool.h"
#include "engine/ops/ops.h"

typedef struct pool_state {
	int max;
	eml_pool_params p;
} pool_state;

static int pool_prep_common(eml_op_ctx *c, int max)
{
	int rc = EML_OK;
	pool_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->max = max;
	const eml_rt *X = c->in[0];
	/* MaxPool also takes 8-bit integers (opset 12): pooled as exact floats in scratch */
	EML_ENSURE(X->dtype == EML_DT_FLOAT ||
	               (max && (X->dtype == EML_DT_UINT8 || X->dtype == EML_DT_INT8)),
	           EML_E_ENGINE_SHAPE);
	EML_ENSURE(X->rank >= 3 && X->rank <= 2 + EML_POOL_MAX_ND, EML_E_ENGINE_SHAPE);
	eml_pool_params *p = &s->p;
	int nd = (int)X->rank - 2;
	p->nd = nd;
	p->batch = (size_t)X->dims[0];
	p->channels = (size_t)X->dims[1];
	uint32_t cnt;
	const int64_t *v = eml_attr_ints(c->node, "kernel_shape", &cnt);
	EML_ENSURE(v != NULL && cnt == (uint32_t)nd, EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++) {
		EML_ENSURE(v[i] >= 1 && v[i] < (1 << 20), EML_E_ENGINE_SHAPE);
		p->kernel[i] = (size_t)v[i];
		p->in[i] = (size_t)X->dims[2 + i];
	}
	v = eml_attr_ints(c->node, "strides", &cnt);
	EML_ENSURE(v == NULL || cnt == (uint32_t)nd, EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++) {
		p->stride[i] = v ? (size_t)v[i] : 1;
		EML_ENSURE(v == NULL || (v[i] >= 1 && v[i] < (1 << 20)), EML_E_ENGINE_SHAPE);
	}
	v = eml_attr_ints(c->node, "dilations", &cnt);
	EML_ENSURE(v == NULL || cnt == (uint32_t)nd, EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++) {
		p->dilation[i] = v ? (size_t)v[i] : 1;
		EML_ENSURE(v == NULL || (v[i] >= 1 && v[i] < (1 << 20)), EML_E_ENGINE_SHAPE);
	}
	v = eml_attr_ints(c->node, "pads", &cnt);
	EML_ENSURE(v == NULL || cnt == 2u * (uint32_t)nd, EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++) {
		int64_t b = v ? v[i] : 0, e = v ? v[i + nd] : 0;
		EML_ENSURE(b >= 0 && e >= 0 && b < (1 << 20) && e < (1 << 20), EML_E_ENGINE_SHAPE);
		p->pad_begin[i] = (size_t)b;
		p->pad_end[i] = (size_t)e;
	}
	p->ceil_mode = (int)eml_attr_i(c->node, "ceil_mode", 0);
	p->count_include_pad = (int)eml_attr_i(c->node, "count_include_pad", 0);
	p->storage_order = (int)eml_attr_i(c->node, "storage_order", 0);
	int upper = eml_attr_s_eq(c->node, "auto_pad", "SAME_UPPER", 0);
	int lower = eml_attr_s_eq(c->node, "auto_pad", "SAME_LOWER", 0);
	int valid = eml_attr_s_eq(c->node, "auto_pad", "VALID", 0);
	EML_ENSURE(upper || lower || valid || eml_attr_s_eq(c->node, "auto_pad", "NOTSET", 1),
	           EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++) {
		if (valid)
			p->pad_begin[i] = p->pad_end[i] = 0;
		if (upper || lower) {
			int64_t in = (int64_t)p->in[i], st = (int64_t)p->stride[i];
			int64_t out = (in + st - 1) / st;
			int64_t span = ((int64_t)p->kernel[i] - 1) * (int64_t)p->dilation[i] + 1;
			int64_t total = (out - 1) * st + span - in;
			if (total < 0)
				total = 0;
			p->pad_begin[i] = (size_t)(upper ? total / 2 : total - total / 2);
			p->pad_end[i] = (size_t)(total - (int64_t)p->pad_begin[i]);
		}
	}
	EML_ENSURE(eml_pool_out_shape(p) == 0, EML_E_ENGINE_SHAPE);
	int64_t od[EML_MAX_RANK];
	od[0] = X->dims[0];
	od[1] = X->dims[1];
	for (int i = 0; i < nd; i++)
		od[2 + i] = (int64_t)p->out[i];
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, od));
	if (X->dtype != EML_DT_FLOAT)
		c->scratch_bytes = (size_t)(X->elems + c->out[0]->elems) * sizeof(float) + 64;
	if (c->n_out > 1 && c->out[1] != NULL) {
		EML_ENSURE(max, EML_E_ENGINE_SHAPE);
		EML_GUARD(eml_rt_set(c->out[1], EML_DT_INT64, X->rank, od));
	}
out:
	return rc;
}

static int maxpool_prep(eml_op_ctx *c)
{
	return pool_prep_common(c, 1);
}

static int avgpool_prep(eml_op_ctx *c)
{
	return pool_prep_common(c, 0);
}

static int pool_run(eml_op_ctx *c)
{
	const pool_state *s = c->state;
	if (c->out[0]->elems == 0)
		return EML_OK;
	int64_t *ind = (c->n_out > 1 && c->out[1] != NULL) ? c->out[1]->data : NULL;
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	if (s->max && X->dtype != EML_DT_FLOAT) {
		float *xf = c->scratch, *yf = xf + X->elems;
		for (uint64_t i = 0; i < X->elems; i++)
			xf[i] = (float)eml_ld_i(X->data, X->dtype, i);
		eml_maxpool(c->pool, &s->p, xf, yf, ind);
		for (uint64_t i = 0; i < Y->elems; i++)
			eml_st_i(Y->data, Y->dtype, i, (int64_t)yf[i]);
		return EML_OK;
	}
	if (s->max)
		eml_maxpool(c->pool, &s->p, X->data, Y->data, ind);
	else
		eml_avgpool(c->pool, &s->p, c->in[0]->data, c->out[0]->data);
	return EML_OK;
}

const eml_op_def eml_op_maxpool = {"MaxPool", 1, 99, maxpool_prep, pool_run, NULL, NULL};
const eml_op_def eml_op_avgpool = {"AveragePool", 1, 99, avgpool_prep, pool_run, NULL, NULL};

static int gap_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->dtype == EML_DT_FLOAT && X->rank >= 2, EML_E_ENGINE_SHAPE);
	int64_t od[EML_MAX_RANK];
	od[0] = X->dims[0];
	od[1] = X->dims[1];
	for (uint32_t i = 2; i < X->rank; i++)
		od[i] = 1;
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, X->rank, od));
out:
	return rc;
}

static int gap_run(eml_op_ctx *c)
{
	const eml_rt *X = c->in[0];
	size_t planes = (size_t)(X->dims[0] * X->dims[1]);
	size_t size = planes ? (size_t)(X->elems / planes) : 0;
	if (planes == 0)
		return EML_OK;
	eml_global_avgpool(c->pool, planes, size, X->data, c->out[0]->data);
	return EML_OK;
}

const eml_op_def eml_op_gap = {"GlobalAveragePool", 1, 99, gap_prep, gap_run, NULL, NULL};
