/*
 * Conv and ConvTranspose (ONNX opsets 7-20: auto_pad, dilations, group, kernel_shape, pads,
 * strides; ConvTranspose also output_padding and output_shape) on kernels/conv.h, and
 * BatchNormalization (inference form). Constant weights are copied and pre-packed at assembly;
 * a following BatchNormalization with constant parameters is folded into the weights and bias,
 * a constant per-channel bias Add is added to the bias, and an activation goes into the kernel's
 * epilogue (assemble.c offers these).
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/conv.h"
#include "engine/ops/ops.h"

typedef struct conv_state {
	int transpose;
	eml_conv_params p;
	eml_rt *w; /* own copy of constant weights (assembly only; NULL when not constant) */
	/* Or, for a Conv packed after placement: the model's weights, borrowed during assembly, and
	 * one factor per output channel that fusions multiply into (no copy of the weights). */
	const float *w_src;
	eml_rt *scale;
	eml_rt *packed;        /* pre-packed weights, NULL when the weights are a run-time value */
	eml_rt *bias;          /* own constant bias (M floats) or NULL */
	const eml_rt *rt_bias; /* a bias that is a run-time value */
} conv_state;

/* (Re)pack the own weight copy (or the borrowed weights times the channel factors). */
static void conv_pack(conv_state *s)
{
	if (s->w_src != NULL) {
		const float *f = s->scale->data != NULL ? s->scale->data : s->scale->heap;
		eml_conv_prepare_scaled(&s->p, s->w_src, f, s->packed->data);
		return;
	}
	if (s->transpose)
		eml_convt_prepare(&s->p, s->w->data, s->packed->data);
	else
		eml_conv_prepare(&s->p, s->w->data, s->packed->data);
}

static int resolve_pads(eml_op_ctx *c, eml_conv_params *p, int transpose, const int64_t *oshape,
                        int have_oshape)
{
	int rc = EML_OK;
	uint32_t cnt;
	const int64_t *v;
	int nd = p->nd;
	v = eml_attr_ints(c->node, "strides", &cnt);
	for (int i = 0; i < nd; i++)
		p->stride[i] = v && cnt == (uint32_t)nd ? (size_t)v[i] : 1;
	EML_ENSURE(v == NULL || cnt == (uint32_t)nd, EML_E_ENGINE_SHAPE);
	v = eml_attr_ints(c->node, "dilations", &cnt);
	EML_ENSURE(v == NULL || cnt == (uint32_t)nd, EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++)
		p->dilation[i] = v ? (size_t)v[i] : 1;
	v = eml_attr_ints(c->node, "output_padding", &cnt);
	EML_ENSURE(v == NULL || cnt == (uint32_t)nd, EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++)
		p->output_padding[i] = v ? (size_t)v[i] : 0;
	for (int i = 0; i < nd; i++) {
		EML_ENSURE(p->stride[i] >= 1 && p->stride[i] < (1u << 20) && p->dilation[i] >= 1 &&
		               p->dilation[i] < (1u << 20) && p->output_padding[i] < (1u << 20),
		           EML_E_ENGINE_SHAPE);
	}
	v = eml_attr_ints(c->node, "pads", &cnt);
	EML_ENSURE(v == NULL || cnt == 2u * (uint32_t)nd, EML_E_ENGINE_SHAPE);
	for (int i = 0; i < nd; i++) {
		int64_t b = v ? v[i] : 0, e = v ? v[i + nd] : 0;
		EML_ENSURE(b >= 0 && e >= 0 && b < (1 << 24) && e < (1 << 24), EML_E_ENGINE_SHAPE);
		p->pad_begin[i] = (size_t)b;
		p->pad_end[i] = (size_t)e;
	}
	int upper = eml_attr_s_eq(c->node, "auto_pad", "SAME_UPPER", 0);
	int lower = eml_attr_s_eq(c->node, "auto_pad", "SAME_LOWER", 0);
	int valid = eml_attr_s_eq(c->node, "auto_pad", "VALID", 0);
	EML_ENSURE(upper || lower || valid || eml_attr_s_eq(c->node, "auto_pad", "NOTSET", 1),
	           EML_E_ENGINE_SHAPE);
	if (valid)
		for (int i = 0; i < nd; i++)
			p->pad_begin[i] = p->pad_end[i] = 0;
	if (!transpose && (upper || lower)) {
		for (int i = 0; i < nd; i++) {
			int64_t in = (int64_t)p->in[i], s = (int64_t)p->stride[i];
			int64_t out = (in + s - 1) / s;
			int64_t span = ((int64_t)p->kernel[i] - 1) * (int64_t)p->dilation[i] + 1;
			int64_t total = (out - 1) * s + span - in;
			if (total < 0)
				total = 0;
			p->pad_begin[i] = (size_t)(upper ? total / 2 : total - total / 2);
			p->pad_end[i] = (size_t)(total - (int64_t)p->pad_begin[i]);
		}
	}
	if (transpose && (have_oshape || upper || lower)) {
		/* ONNX ConvTranspose: total_padding = stride*(in-1) + output_padding +
		 * ((k-1)*d+1) - output_shape; SAME_UPPER puts the smaller half first */
		for (int i = 0; i < nd; i++) {
			int64_t in = (int64_t)p->in[i], s = (int64_t)p->stride[i];
			int64_t span = ((int64_t)p->kernel[i] - 1) * (int64_t)p->dilation[i] + 1;
			int64_t os = have_oshape ? oshape[i] : in * s;
			int64_t total = s * (in - 1) + (int64_t)p->output_padding[i] + span - os;
			if (total < 0) {
				/* larger output than the full result: extra output padding */
				p->output_padding[i] += (size_t)(-total);
				total = 0;
			}
			if (upper || !lower) {
				p->pad_begin[i] = (size_t)(total / 2);
				p->pad_end[i] = (size_t)(total - total / 2);
			} else {
				p->pad_begin[i] = (size_t)(total - total / 2);
				p->pad_end[i] = (size_t)(total / 2);
			}
			if (!upper && !lower) {
				p->pad_begin[i] = (size_t)(total - total / 2);
				p->pad_end[i] = (size_t)(total / 2);
			}
		}
	}
out:
	return rc;
}

static int conv_finalize(struct eml_op_ctx *c);

static int conv_prep_common(eml_op_ctx *c, int transpose)
{
	int rc = EML_OK;
	conv_state *s;
	EML_ENSURE(c->n_in >= 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->transpose = transpose;
	const eml_rt *X = c->in[0], *W = c->in[1];
	EML_ENSURE(X->dtype == EML_DT_FLOAT && W->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
	EML_ENSURE(X->rank >= 3 && X->rank <= 2 + EML_CONV_MAX_ND && W->rank == X->rank,
	           EML_E_ENGINE_SHAPE);
	eml_conv_params *p = &s->p;
	p->nd = (int)X->rank - 2;
	int64_t g = eml_attr_i(c->node, "group", 1);
	EML_ENSURE(g >= 1 && g <= X->dims[1] + 1, EML_E_ENGINE_SHAPE);
	p->group = (size_t)g;
	p->batch = (size_t)X->dims[0];
	p->in_c = (size_t)X->dims[1];
	if (!transpose) {
		EML_ENSURE(W->dims[1] * g == X->dims[1], EML_E_ENGINE_SHAPE);
		p->out_c = (size_t)W->dims[0];
	} else {
		EML_ENSURE(W->dims[0] == X->dims[1], EML_E_ENGINE_SHAPE);
		p->out_c = (size_t)(W->dims[1] * g);
	}
	uint32_t cnt;
	const int64_t *ks = eml_attr_ints(c->node, "kernel_shape", &cnt);
	for (int i = 0; i < p->nd; i++) {
		p->in[i] = (size_t)X->dims[2 + i];
		p->kernel[i] = (size_t)W->dims[2 + i];
		if (ks != NULL)
			EML_ENSURE(cnt == (uint32_t)p->nd && ks[i] == W->dims[2 + i],
			           EML_E_ENGINE_SHAPE);
	}
	int64_t osh[EML_CONV_MAX_ND];
	const int64_t *os = transpose ? eml_attr_ints(c->node, "output_shape", &cnt) : NULL;
	if (os != NULL) {
		/* output_shape may list only the spatial dims, or N, C too */
		EML_ENSURE(cnt == (uint32_t)p->nd || cnt == (uint32_t)p->nd + 2,
		           EML_E_ENGINE_SHAPE);
		for (int i = 0; i < p->nd; i++)
			osh[i] = os[cnt - (uint32_t)p->nd + (uint32_t)i];
	}
	EML_GUARD(resolve_pads(c, p, transpose, osh, os != NULL));
	if (p->batch == 0 || p->in_c == 0 || p->out_c == 0)
		EML_FAIL(EML_E_ENGINE_SHAPE);
	EML_ENSURE((transpose ? eml_convt_out_shape(p) : eml_conv_out_shape(p)) == 0,
	           EML_E_ENGINE_SHAPE);
	int64_t od[EML_MAX_RANK];
	od[0] = (int64_t)p->batch;
	od[1] = (int64_t)p->out_c;
	for (int i = 0; i < p->nd; i++)
		od[2 + i] = (int64_t)p->out[i];
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, X->rank, od));
	/* bias */
	if (c->n_in >= 3 && c->in[2] != NULL) {
		const eml_rt *B = c->in[2];
		EML_ENSURE(B->dtype == EML_DT_FLOAT && B->elems == p->out_c, EML_E_ENGINE_SHAPE);
		if (B->kind == EML_RT_CONST && c->b != NULL) {
			int64_t m = (int64_t)p->out_c;
			EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 1, &m, &s->bias));
			memcpy(s->bias->data, B->data, B->bytes);
			EML_GUARD(eml_op_add_input(c, s->bias));
			c->in[2] = NULL; /* run reads the own copy */
		} else {
			s->rt_bias = B;
		}
	}
	/* constant weights: own copy (BatchNormalization may be folded into it) + packed */
	if (W->kind == EML_RT_CONST && c->b != NULL) {
		size_t pb = transpose ? eml_convt_packed_size(p) : eml_conv_packed_size(p);
		int64_t n = (int64_t)((pb + 3) / 4);
		if (!transpose && X->kind != EML_RT_CONST) {
			/* the common case: packed once after placement from the model's weights */
			int64_t m = (int64_t)p->out_c;
			EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 1, &m, &s->scale));
			for (size_t i = 0; i < p->out_c; i++)
				((float *)s->scale->data)[i] = 1.0f;
			s->w_src = W->data;
			EML_GUARD(
			    eml_build_new_const_deferred(c->b, EML_DT_FLOAT, 1, &n, &s->packed));
			c->finalize = conv_finalize;
			EML_GUARD(eml_op_add_input(c, s->packed));
			c->in[1] = NULL;
			goto scratch;
		}
		EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, W->rank, W->dims, &s->w));
		memcpy(s->w->data, W->data, W->bytes);
		if (X->kind == EML_RT_CONST) {
			/* may be folded right after this prep: pack now */
			EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 1, &n, &s->packed));
			conv_pack(s);
		} else {
			/* packed once, after every fusion, straight into the arena (conv_finalize) */
			EML_GUARD(
			    eml_build_new_const_deferred(c->b, EML_DT_FLOAT, 1, &n, &s->packed));
			c->finalize = conv_finalize;
		}
		EML_GUARD(eml_op_add_input(c, s->packed));
		/* run reads only the packed copy: the model's weights need no arena bytes here */
		c->in[1] = NULL;
	}
scratch:
	c->scratch_bytes =
	    transpose ? eml_convt_work_size(p, c->threads) : eml_conv_work_size(p, c->threads);
out:
	return rc;
}

static int conv_finalize(struct eml_op_ctx *c)
{
	conv_state *s = c->state;
	if (s->packed != NULL && s->packed->deferred) {
		/* Placement has given the packed record its arena bytes; the own weight copy (or
		 * the channel factors) is not a step input, so it was not placed: its bytes are
		 * still on the build heap, and borrowed weights are still the model's. */
		if (s->packed->data == NULL)
			return EML_E_ENGINE_OP;
		if (s->w_src != NULL) {
			if (s->scale == NULL || s->scale->heap == NULL)
				return EML_E_ENGINE_OP;
			conv_pack(s);
		} else {
			if (s->w == NULL || s->w->heap == NULL)
				return EML_E_ENGINE_OP;
			s->w->data = s->w->heap;
			conv_pack(s);
			s->w->data = NULL;
		}
		s->w_src = NULL; /* nothing of the plan points into the model */
		s->packed->deferred = 0;
	}
	return EML_OK;
}

static int conv_run(eml_op_ctx *c)
{
	const conv_state *s = c->state;
	const float *bias = s->bias ? s->bias->data : (s->rt_bias ? s->rt_bias->data : NULL);
	const float *W = s->packed ? NULL : c->in[1]->data;
	const float *pk = s->packed ? s->packed->data : NULL;
	if (c->out[0]->elems == 0)
		return EML_OK;
	if (s->transpose)
		eml_convt(c->pool, &s->p, c->in[0]->data, W, pk, bias, c->out[0]->data, c->scratch);
	else
		eml_conv(c->pool, &s->p, c->in[0]->data, W, pk, bias, c->out[0]->data, c->scratch);
	return EML_OK;
}

/* Make sure there is an own bias to fold into. */
static int own_bias(eml_op_ctx *c, conv_state *s)
{
	if (s->bias != NULL)
		return 1;
	if (s->rt_bias != NULL || c->b == NULL)
		return 0;
	return 0;
}

/* Constant weights known at assembly: an own copy, or borrowed ones with channel factors. */
static int has_weights(const conv_state *s)
{
	return s->w_src != NULL || (s->w != NULL && s->w->data != NULL);
}

static int conv_fuse(eml_op_ctx *c, const eml_fuse_req *r)
{
	conv_state *s = c->state;
	eml_conv_params *p = &s->p;
	size_t M = p->out_c;
	if (r->kind == EML_FUSE_ACT) {
		if (p->act != EML_ACT_NONE || p->post)
			return 0;
		p->act = r->act;
		p->act_a = r->a;
		p->act_b = r->b;
		return 1;
	}
	if (p->act != EML_ACT_NONE || p->post) {
		/* After the activation only a scalar scale or shift can follow (exported "learnable
		 * affine" layers): y = act(.) * s + t, composed in order. */
		if ((r->kind != EML_FUSE_SCALE && r->kind != EML_FUSE_BIAS) ||
		    r->t[0]->elems != 1 || r->t[0]->rank > c->out[0]->rank)
			return 0;
		float v = ((const float *)r->t[0]->data)[0];
		if (!p->post) {
			p->post = 1;
			p->post_s = 1.0f;
			p->post_t = 0.0f;
		}
		if (r->kind == EML_FUSE_SCALE) {
			p->post_s *= v;
			p->post_t *= v;
		} else {
			p->post_t += v;
		}
		return 1;
	}
	if (r->kind == EML_FUSE_BIAS) {
		/* per output channel: elems == M and, aligned right to the output, on axis 1 */
		/* per output channel (elems == M and, aligned right to the output, on axis 1) or
		 * one scalar for every channel */
		const eml_rt *t = r->t[0];
		uint32_t orank = c->out[0]->rank;
		if ((t->elems != M && t->elems != 1) || t->rank > orank)
			return 0;
		int ax = (int)t->rank - (int)orank + 1; /* index of the channel axis in t */
		if (t->elems == M && M > 1 && (ax < 0 || t->dims[ax] != (int64_t)M))
			return 0;
		if (!own_bias(c, s))
			return 0;
		float *b = s->bias->data;
		for (size_t m = 0; m < M; m++)
			b[m] += ((const float *)t->data)[t->elems == 1 ? 0 : m];
		return 1;
	}
	if (r->kind == EML_FUSE_SCALE) {
		/* y * s = conv(x, W * s) + b * s, for s a scalar or one value per output channel */
		const eml_rt *t = r->t[0];
		uint32_t orank = c->out[0]->rank;
		if (!has_weights(s) || s->rt_bias != NULL || !own_bias(c, s))
			return 0;
		if (t->rank > orank || (t->elems != 1 && t->elems != M))
			return 0;
		int ax = (int)t->rank - (int)orank + 1;
		if (t->elems == M && M > 1 && (ax < 0 || t->dims[ax] != (int64_t)M))
			return 0;
		const float *sv = t->data;
		float *w = s->w != NULL ? s->w->data : NULL, *b = s->bias->data;
		size_t kern = 1;
		for (int i = 0; i < p->nd; i++)
			kern *= p->kernel[i];
		if (s->w_src != NULL) {
			float *f = s->scale->data;
			for (size_t m = 0; m < M; m++)
				f[m] *= sv[t->elems == 1 ? 0 : m];
		} else if (!s->transpose) {
			size_t per = (p->in_c / p->group) * kern;
			for (size_t m = 0; m < M; m++) {
				float f = sv[t->elems == 1 ? 0 : m];
				float *wm = w + m * per;
				for (size_t i = 0; i < per; i++)
					wm[i] *= f;
			}
		} else {
			size_t Mg = M / p->group, Cg = p->in_c / p->group;
			for (size_t ci = 0; ci < p->in_c; ci++)
				for (size_t j = 0; j < Mg; j++)
					for (size_t i = 0; i < kern; i++)
						w[(ci * Mg + j) * kern + i] *=
						    sv[t->elems == 1 ? 0 : (ci / Cg) * Mg + j];
		}
		for (size_t m = 0; m < M; m++)
			b[m] *= sv[t->elems == 1 ? 0 : m];
		if (!s->packed->deferred)
			conv_pack(s);
		return 1;
	}
	if (r->kind == EML_FUSE_BN) {
		if (!has_weights(s) || s->rt_bias != NULL || !own_bias(c, s))
			return 0;
		for (int k = 0; k < 4; k++)
			if (r->t[k]->elems != M)
				return 0;
		const float *sc = r->t[0]->data, *bb = r->t[1]->data, *mean = r->t[2]->data,
		            *var = r->t[3]->data;
		float *w = s->w != NULL ? s->w->data : NULL, *b = s->bias->data;
		size_t kern = 1;
		for (int i = 0; i < p->nd; i++)
			kern *= p->kernel[i];
		/* y = (conv(x) + b - mean) * f + B with f = scale / sqrt(var + eps) */
		if (s->w_src != NULL) {
			float *fs = s->scale->data;
			for (size_t m = 0; m < M; m++) {
				float f = sc[m] / sqrtf(var[m] + r->eps);
				fs[m] *= f;
				b[m] = (b[m] - mean[m]) * f + bb[m];
			}
		} else if (!s->transpose) {
			size_t per = (p->in_c / p->group) * kern;
			for (size_t m = 0; m < M; m++) {
				float f = sc[m] / sqrtf(var[m] + r->eps);
				for (size_t i = 0; i < per; i++)
					w[m * per + i] *= f;
				b[m] = (b[m] - mean[m]) * f + bb[m];
			}
		} else {
			size_t Mg = M / p->group, Cg = p->in_c / p->group;
			for (size_t ci = 0; ci < p->in_c; ci++)
				for (size_t j = 0; j < Mg; j++) {
					size_t m = (ci / Cg) * Mg + j;
					float f = sc[m] / sqrtf(var[m] + r->eps);
					for (size_t i = 0; i < kern; i++)
						w[(ci * Mg + j) * kern + i] *= f;
				}
			for (size_t m = 0; m < M; m++) {
				float f = sc[m] / sqrtf(var[m] + r->eps);
				b[m] = (b[m] - mean[m]) * f + bb[m];
			}
		}
		if (!s->packed->deferred)
			conv_pack(s);
		return 1;
	}
	return 0;
}

/* Conv without a bias input gets an own zero bias so a later bias/BN can be folded in. */
static int conv_prep_with_bias(eml_op_ctx *c, int transpose)
{
	int rc = conv_prep_common(c, transpose);
	conv_state *s = c->state;
	if (rc == EML_OK && s->bias == NULL && s->rt_bias == NULL && c->b != NULL) {
		int64_t m = (int64_t)s->p.out_c;
		rc = eml_build_new_const(c->b, EML_DT_FLOAT, 1, &m, &s->bias);
		if (rc == EML_OK)
			rc = eml_op_add_input(c, s->bias);
	}
	return rc;
}

static int conv_prep2(eml_op_ctx *c)
{
	return conv_prep_with_bias(c, 0);
}

static int convt_prep2(eml_op_ctx *c)
{
	return conv_prep_with_bias(c, 1);
}

const eml_op_def eml_op_conv = {"Conv", 1, 99, conv_prep2, conv_run, conv_fuse, NULL};
const eml_op_def eml_op_conv_transpose = {"ConvTranspose", 1,         99,  convt_prep2,
                                          conv_run,        conv_fuse, NULL};

/* ----- BatchNormalization (inference) ----- */

typedef struct bn_state {
	float eps;
	float momentum;
	int training; /* opset 14+ training_mode: batch statistics (ONNX reference semantics) */
	int per_elem; /* opset < 9 spatial = 0: statistics per (channel, position) */
} bn_state;

static int bn_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	bn_state *s;
	EML_ENSURE(c->n_in == 5 && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	for (int k = 0; k < 5; k++)
		EML_ENSURE(c->in[k] != NULL && c->in[k]->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->eps = eml_attr_f(c->node, "epsilon", 1e-5f);
	s->momentum = eml_attr_f(c->node, "momentum", 0.9f);
	s->training = c->opset >= 14 && eml_attr_i(c->node, "training_mode", 0) != 0;
	/* the statistics outputs of older opsets' training form are not supported */
	if (!s->training)
		for (uint32_t k = 1; k < c->n_out; k++)
			EML_ENSURE(c->out[k] == NULL, EML_E_UNSUPPORTED);
	EML_ENSURE(c->n_out <= 3, EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0];
	EML_ENSURE(X->rank >= 2, EML_E_ENGINE_SHAPE);
	s->per_elem = c->opset < 9 && eml_attr_i(c->node, "spatial", 1) == 0 && X->rank > 2;
	EML_ENSURE(!(s->per_elem && s->training), EML_E_UNSUPPORTED);
	uint64_t want =
	    s->per_elem ? X->elems / (uint64_t)(X->dims[0] ? X->dims[0] : 1) : (uint64_t)X->dims[1];
	for (int k = 1; k < 5; k++)
		EML_ENSURE(c->in[k]->elems == want, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, X->rank, X->dims));
	for (uint32_t k = 1; k < c->n_out; k++)
		if (c->out[k] != NULL)
			EML_GUARD(eml_rt_set(c->out[k], EML_DT_FLOAT, 1, &X->dims[1]));
out:
	return rc;
}

static int bn_run(eml_op_ctx *c)
{
	const bn_state *s = c->state;
	const eml_rt *X = c->in[0];
	const float *x = X->data, *sc = c->in[1]->data, *bb = c->in[2]->data,
	            *mean = c->in[3]->data, *var = c->in[4]->data;
	float *y = c->out[0]->data;
	size_t N = (size_t)X->dims[0], C = (size_t)X->dims[1], S = 1;
	for (uint32_t i = 2; i < X->rank; i++)
		S *= (size_t)X->dims[i];
	if (s->training) {
		/* y from the batch's mean and (biased) variance; running statistics updated with
		 * momentum (ONNX BatchNormalization-15 reference) */
		for (size_t ch = 0; ch < C; ch++) {
			double sum = 0, sq = 0, cnt = (double)(N * S);
			for (size_t n = 0; n < N; n++)
				for (size_t i = 0; i < S; i++) {
					double v = x[(n * C + ch) * S + i];
					sum += v;
					sq += v * v;
				}
			double bm = cnt > 0 ? sum / cnt : 0, bv = cnt > 0 ? sq / cnt - bm * bm : 0;
			if (bv < 0)
				bv = 0;
			float f = sc[ch] / sqrtf((float)bv + s->eps), o = bb[ch] - (float)bm * f;
			for (size_t n = 0; n < N; n++)
				for (size_t i = 0; i < S; i++)
					y[(n * C + ch) * S + i] = x[(n * C + ch) * S + i] * f + o;
			if (c->n_out > 1 && c->out[1] != NULL)
				((float *)c->out[1]->data)[ch] =
				    mean[ch] * s->momentum + (float)bm * (1 - s->momentum);
			if (c->n_out > 2 && c->out[2] != NULL)
				((float *)c->out[2]->data)[ch] =
				    var[ch] * s->momentum + (float)bv * (1 - s->momentum);
		}
		return EML_OK;
	}
	if (s->per_elem) {
		for (size_t n = 0; n < N; n++)
			for (size_t e = 0; e < C * S; e++) {
				float f = sc[e] / sqrtf(var[e] + s->eps);
				y[n * C * S + e] = (x[n * C * S + e] - mean[e]) * f + bb[e];
			}
		return EML_OK;
	}
	for (size_t n = 0; n < N; n++)
		for (size_t ch = 0; ch < C; ch++) {
			float f = sc[ch] / sqrtf(var[ch] + s->eps), o = bb[ch] - mean[ch] * f;
			const float *xp = x + (n * C + ch) * S;
			float *yp = y + (n * C + ch) * S;
			for (size_t i = 0; i < S; i++)
				yp[i] = xp[i] * f + o;
		}
	return EML_OK;
}

static int bn_as_fuse(eml_op_ctx *c, eml_fuse_req *r)
{
	const bn_state *s = c->state;
	if (s->training || s->per_elem || c->n_out > 1)
		return -1;
	for (int k = 1; k < 5; k++)
		if (c->in[k]->kind != EML_RT_CONST)
			return -1;
	r->kind = EML_FUSE_BN;
	r->eps = s->eps;
	for (int k = 0; k < 4; k++)
		r->t[k] = c->in[k + 1];
	return 0;
}

const eml_op_def eml_op_batchnorm = {
    "BatchNormalization", 1, 99, bn_prep, bn_run, NULL, bn_as_fuse};
