/*
 * Gelu (ONNX Gelu-20, https://onnx.ai/onnx/operators/onnx__Gelu.html): attribute approximate
 * "none" (default, the erf form) or "tanh". float32 runs the vectorized kernel
 * (kernels/gelu.h) split across the plan's threads; double and float16 compute each element in
 * double with libm and round once to storage. bfloat16 is not a type the loader accepts.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/gelu.h"
#include "engine/ops/ops.h"

typedef struct gelu_state {
	int tanh_approx;
} gelu_state;

static int gelu_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	gelu_state *s;
	EML_ENSURE(c->n_in == 1 && c->in[0] != NULL && c->n_out == 1 && c->out[0] != NULL,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	if (eml_attr_s_eq(c->node, "approximate", "tanh", 0))
		s->tanh_approx = 1;
	else
		EML_ENSURE(eml_attr_s_eq(c->node, "approximate", "none", 1), EML_E_UNSUPPORTED);
	EML_ENSURE(eml_dt_is_real(c->in[0]->dtype), EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims));
	c->inplace = 1;
out:
	return rc;
}

typedef struct gelu_job {
	const float *x;
	float *y;
	int tanh_approx;
} gelu_job;

static void gelu_range(void *ctx, size_t b, size_t e)
{
	const gelu_job *j = ctx;
	eml_vgelu(j->y + b, j->x + b, e - b, j->tanh_approx);
}

static int gelu_run(eml_op_ctx *c)
{
	const gelu_state *s = c->state;
	const eml_rt *x = c->in[0];
	eml_rt *y = c->out[0];
	if (x->dtype == EML_DT_FLOAT) {
		gelu_job j = {x->data, y->data, s->tanh_approx};
		eml_parallel_for(c->pool, c->threads, x->elems, 16384, gelu_range, &j);
		return EML_OK;
	}
	for (uint64_t i = 0; i < x->elems; i++) {
		double v = eml_ld_f(x->data, x->dtype, i), r;
		if (s->tanh_approx)
			r = 0.5 * v *
			    (1 +
			     tanh(sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
		else
			r = 0.5 * v * (1 + erf(v / sqrt(2.0)));
		eml_st_f(y->data, y->dtype, i, r);
	}
	return EML_OK;
}

const eml_op_def eml_op_gelu = {"Gelu", 20, 20, gelu_prep, gelu_run, NULL, NULL};
