/*
 * GlobalMaxPool, InstanceNormalization and LayerNormalization (17+) (ONNX operator docs).
 *  InstanceNormalization: per (n, c) over the spatial dims, y = scale[c] * (x - mean) /
 *  sqrt(var + epsilon) + B[c].
 *  LayerNormalization: over dims [axis, r), Scale and B broadcast to X.shape[axis:]; optional
 *  Mean and InvStdDev outputs of shape X.shape[:axis] + [1] * (r - axis). stash_type 1 (float32
 *  statistics) is what we compute (in double, rounded on store).
 * Real types (float, double, float16 storage) compute in double.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

/* ----- GlobalMaxPool ----- */

static int gmp_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->out[0], EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 2 && eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	int64_t d[EML_MAX_RANK];
	for (uint32_t i = 0; i < X->rank; i++)
		d[i] = i < 2 ? X->dims[i] : 1;
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, d));
out:
	return rc;
}

static int gmp_run(eml_op_ctx *c)
{
	const eml_rt *X = c->in[0];
	eml_rt *Y = c->out[0];
	uint64_t nc = Y->elems, sp = nc ? X->elems / nc : 0;
	for (uint64_t i = 0; i < nc; i++) {
		double m = -INFINITY;
		for (uint64_t j = 0; j < sp; j++) {
			double v = eml_ld_f(X->data, X->dtype, i * sp + j);
			if (v > m || v != v)
				m = v;
		}
		eml_st_f(Y->data, Y->dtype, i, m);
	}
	return EML_OK;
}

const eml_op_def eml_op_gmp = {"GlobalMaxPool", 1, 99, gmp_prep, gmp_run, NULL, NULL};

/* ----- InstanceNormalization ----- */

typedef struct inorm_state {
	double eps;
} inorm_state;

static int inorm_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	inorm_state *s;
	EML_ENSURE(c->n_in == 3 && c->in[0] && c->in[1] && c->in[2] && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 3 && eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	for (int k = 1; k < 3; k++)
		EML_ENSURE(c->in[k]->dtype == X->dtype && c->in[k]->elems == (uint64_t)X->dims[1],
		           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->eps = eml_attr_f(c->node, "epsilon", 1e-5f);
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, X->dims));
	c->inplace = 1;
out:
	return rc;
}

static int inorm_run(eml_op_ctx *c)
{
	const inorm_state *s = c->state;
	const eml_rt *X = c->in[0], *S = c->in[1], *B = c->in[2];
	eml_rt *Y = c->out[0];
	int32_t dt = X->dtype;
	uint64_t C = (uint64_t)X->dims[1], nc = (uint64_t)X->dims[0] * C;
	uint64_t sp = nc ? X->elems / nc : 0;
	for (uint64_t i = 0; i < nc; i++) {
		double mean = 0, var = 0;
		for (uint64_t j = 0; j < sp; j++)
			mean += eml_ld_f(X->data, dt, i * sp + j);
		mean /= (double)(sp ? sp : 1);
		for (uint64_t j = 0; j < sp; j++) {
			double d = eml_ld_f(X->data, dt, i * sp + j) - mean;
			var += d * d;
		}
		var /= (double)(sp ? sp : 1);
		double k = eml_ld_f(S->data, dt, i % C) / sqrt(var + s->eps);
		double b = eml_ld_f(B->data, dt, i % C);
		for (uint64_t j = 0; j < sp; j++)
			eml_st_f(Y->data, dt, i * sp + j,
			         (eml_ld_f(X->data, dt, i * sp + j) - mean) * k + b);
	}
	return EML_OK;
}

const eml_op_def eml_op_instancenorm = {
    "InstanceNormalization", 1, 99, inorm_prep, inorm_run, NULL, NULL};

/* ----- LayerNormalization ----- */

typedef struct lnorm_state {
	double eps;
	uint32_t axis;
	uint64_t outer, inner;
	/* element strides of Scale / B over the normalized dims (0 where broadcast) */
	int64_t sst[2][EML_MAX_RANK];
} lnorm_state;

static int bcast_suffix(const eml_rt *t, const eml_rt *X, uint32_t axis, int64_t *st)
{
	uint32_t nr = X->rank - axis;
	if (t->rank > nr)
		return EML_E_ENGINE_SHAPE;
	int64_t stride = 1;
	for (int d = (int)nr - 1; d >= 0; d--) {
		int td = d - ((int)nr - (int)t->rank);
		if (td < 0 || t->dims[td] == 1) {
			st[d] = 0;
		} else {
			if (t->dims[td] != X->dims[axis + (uint32_t)d])
				return EML_E_ENGINE_SHAPE;
			st[d] = stride;
		}
		if (td >= 0)
			stride *= t->dims[td];
	}
	return EML_OK;
}

static int lnorm_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	lnorm_state *s;
	EML_ENSURE(c->n_in >= 2 && c->in[0] && c->in[1] && c->n_out >= 1 && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 1 && eml_dt_is_real(X->dtype), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", -1), X->rank, &s->axis));
	s->eps = eml_attr_f(c->node, "epsilon", 1e-5f);
	EML_ENSURE(c->in[1]->dtype == X->dtype, EML_E_ENGINE_SHAPE);
	EML_GUARD(bcast_suffix(c->in[1], X, s->axis, s->sst[0]));
	if (c->n_in >= 3 && c->in[2] != NULL) {
		EML_ENSURE(c->in[2]->dtype == X->dtype, EML_E_ENGINE_SHAPE);
		EML_GUARD(bcast_suffix(c->in[2], X, s->axis, s->sst[1]));
	}
	s->outer = s->inner = 1;
	for (uint32_t i = 0; i < X->rank; i++) {
		if (i < s->axis)
			s->outer *= (uint64_t)X->dims[i];
		else
			s->inner *= (uint64_t)X->dims[i];
	}
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, X->dims));
	int64_t d[EML_MAX_RANK];
	for (uint32_t i = 0; i < X->rank; i++)
		d[i] = i < s->axis ? X->dims[i] : 1;
	/* Mean / InvStdDev are float32 with stash_type 1 (the only stash type defined) */
	for (uint32_t k = 1; k < 3 && k < c->n_out; k++)
		if (c->out[k] != NULL)
			EML_GUARD(eml_rt_set(c->out[k], EML_DT_FLOAT, X->rank, d));
out:
	return rc;
}

typedef struct lnorm_job {
	const lnorm_state *s;
	eml_op_ctx *c;
} lnorm_job;

static void lnorm_range(void *ctx, size_t b, size_t e)
{
	const lnorm_job *j = ctx;
	const lnorm_state *s = j->s;
	eml_op_ctx *c = j->c;
	const eml_rt *X = c->in[0], *S = c->in[1];
	const eml_rt *B = c->n_in >= 3 ? c->in[2] : NULL;
	eml_rt *Y = c->out[0];
	eml_rt *M = c->n_out >= 2 ? c->out[1] : NULL, *R = c->n_out >= 3 ? c->out[2] : NULL;
	int32_t dt = X->dtype;
	uint32_t nr = X->rank - s->axis;
	const int64_t *nd = X->dims + s->axis;
	for (size_t o = b; o < e; o++) {
		uint64_t base = o * s->inner;
		double mean = 0, var = 0;
		for (uint64_t i = 0; i < s->inner; i++)
			mean += eml_ld_f(X->data, dt, base + i);
		mean /= (double)s->inner;
		for (uint64_t i = 0; i < s->inner; i++) {
			double d = eml_ld_f(X->data, dt, base + i) - mean;
			var += d * d;
		}
		var /= (double)s->inner;
		double inv = 1.0 / sqrt(var + s->eps);
		int64_t idx[EML_MAX_RANK] = {0}, so = 0, bo = 0;
		for (uint64_t i = 0; i < s->inner; i++) {
			double v = (eml_ld_f(X->data, dt, base + i) - mean) * inv;
			v *= eml_ld_f(S->data, dt, (size_t)so);
			if (B != NULL)
				v += eml_ld_f(B->data, dt, (size_t)bo);
			eml_st_f(Y->data, dt, base + i, v);
			for (int d = (int)nr - 1; d >= 0; d--) {
				idx[d]++;
				so += s->sst[0][d];
				bo += s->sst[1][d];
				if (idx[d] < nd[d])
					break;
				so -= s->sst[0][d] * nd[d];
				bo -= s->sst[1][d] * nd[d];
				idx[d] = 0;
			}
		}
		if (M != NULL)
			((float *)M->data)[o] = (float)mean;
		if (R != NULL)
			((float *)R->data)[o] = (float)inv;
	}
}

static int lnorm_run(eml_op_ctx *c)
{
	const lnorm_state *s = c->state;
	lnorm_job j = {s, c};
	if (s->inner == 0)
		return EML_OK;
	eml_parallel_for(c->pool, c->threads, (size_t)s->outer, 16, lnorm_range, &j);
	return EML_OK;
}

const eml_op_def eml_op_layernorm = {
    "LayerNormalization", 17, 18, lnorm_prep, lnorm_run, NULL, NULL};
