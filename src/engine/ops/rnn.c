/*
 * RNN, GRU and LSTM (ONNX operator docs, opsets 7-20; layout 14+): forward, reverse and
 * bidirectional; optional B, sequence_lens, initial_h (initial_c, P peepholes for LSTM);
 * activations / activation_alpha / activation_beta (Relu, Tanh, Sigmoid, Affine, LeakyRelu,
 * ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus; alpha/beta are consumed in
 * order by the functions that take them), clip (on the activations' inputs), GRU
 * linear_before_reset, LSTM input_forget. Outputs Y, Y_h (and Y_c) are each optional. Steps past
 * a batch entry's sequence length leave Y zero and its state as it was.
 * Gate orders (ONNX): GRU z, r, h; LSTM i, o, f, c; peepholes i, o, f. float32 only.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/vmath.h"
#include "engine/ops/ops.h"

enum { RNN_K = 1, GRU_K, LSTM_K };

enum act_fn {
	A_RELU = 1,
	A_TANH,
	A_SIGMOID,
	A_AFFINE,
	A_LEAKYRELU,
	A_THRELU,
	A_SCALEDTANH,
	A_HARDSIGMOID,
	A_ELU,
	A_SOFTSIGN,
	A_SOFTPLUS,
};

typedef struct act {
	int fn;
	float a, b;
} act;

typedef struct rnn_state {
	int kind;
	int dirs; /* 1 or 2 */
	int reverse;
	int layout;
	int lbr; /* GRU linear_before_reset */
	int input_forget;
	float clip; /* 0: none */
	int64_t S, Bt, I, H;
	int G;
	act acts[2][3];
	/* LSTM and GRU fast path (default activations, no clip, no peepholes, W and R known at
	 * assembly:
	 * constants or request inputs, the plan is per request): the input
	 * projection of every step at once on SGEMM (Wpk: W packed per direction), then per step
	 * one GEMV h * R^T (RT: [D][H][G*H], R transposed at assembly) with the projected row as
	 * its bias, and vectorized sigmoid/tanh. */
	int fast;
	uint32_t n_in; /* the node's own inputs (the packed constants are appended after them) */
	const eml_rt *Wpk, *RT;
	size_t wpk_bytes, xw_floats, work_bytes;
} rnn_state;

static const struct {
	const char *name;
	int fn, na, nb;
	float da, db;
} k_acts[] = {
    {"Relu", A_RELU, 0, 0, 0, 0},
    {"Tanh", A_TANH, 0, 0, 0, 0},
    {"Sigmoid", A_SIGMOID, 0, 0, 0, 0},
    {"Affine", A_AFFINE, 1, 1, 1.0f, 0.0f},
    {"LeakyRelu", A_LEAKYRELU, 1, 0, 0.01f, 0},
    {"ThresholdedRelu", A_THRELU, 1, 0, 1.0f, 0},
    {"ScaledTanh", A_SCALEDTANH, 1, 1, 1.0f, 1.0f},
    {"HardSigmoid", A_HARDSIGMOID, 1, 1, 0.2f, 0.5f},
    {"Elu", A_ELU, 1, 0, 1.0f, 0},
    {"Softsign", A_SOFTSIGN, 0, 0, 0, 0},
    {"Softplus", A_SOFTPLUS, 0, 0, 0, 0},
};

static float act_apply(const act *f, float x)
{
	switch (f->fn) {
	case A_RELU:
		return x > 0 ? x : 0;
	case A_TANH:
		return tanhf(x);
	case A_SIGMOID:
		return 1.0f / (1.0f + expf(-x));
	case A_AFFINE:
		return f->a * x + f->b;
	case A_LEAKYRELU:
		return x >= 0 ? x : f->a * x;
	case A_THRELU:
		return x > f->a ? x : 0;
	case A_SCALEDTANH:
		return f->a * tanhf(f->b * x);
	case A_HARDSIGMOID: {
		float v = f->a * x + f->b;
		return v < 0 ? 0 : (v > 1 ? 1 : v);
	}
	case A_ELU:
		return x >= 0 ? x : f->a * (expf(x) - 1.0f);
	case A_SOFTSIGN:
		return x / (1.0f + fabsf(x));
	case A_SOFTPLUS:
		return log1pf(expf(x));
	default:
		return x;
	}
}

static int parse_acts(eml_op_ctx *c, rnn_state *s)
{
	static const int defaults[4][3] = {
	    {0}, {A_TANH, 0, 0}, {A_SIGMOID, A_TANH, 0}, {A_SIGMOID, A_TANH, A_TANH}};
	int per = s->kind == RNN_K ? 1 : (s->kind == GRU_K ? 2 : 3);
	const eml_attr *an = eml_node_attr(c->node, "activations");
	uint32_t na = 0, nb = 0, ia = 0, ib = 0;
	const float *al = eml_attr_floats(c->node, "activation_alpha", &na);
	const float *bl = eml_attr_floats(c->node, "activation_beta", &nb);
	if (an != NULL && an->type != EML_ATTR_STRINGS)
		return EML_E_ENGINE_SHAPE;
	if (an != NULL && an->n != (uint32_t)(per * s->dirs))
		return EML_E_ENGINE_SHAPE;
	for (int d = 0; d < s->dirs; d++)
		for (int k = 0; k < per; k++) {
			act *f = &s->acts[d][k];
			if (an == NULL) {
				f->fn = defaults[s->kind][k];
				continue;
			}
			const uint8_t *nm = an->strings[d * per + k];
			size_t len = an->string_lens[d * per + k];
			size_t q = 0;
			/* names are matched case-insensitively, as the reference runtimes do */
			while (q < EML_ARRAY_LEN(k_acts) &&
			       !(strlen(k_acts[q].name) == len &&
			         strncasecmp(k_acts[q].name, (const char *)nm, len) == 0))
				q++;
			if (q == EML_ARRAY_LEN(k_acts))
				return EML_E_UNSUPPORTED;
			f->fn = k_acts[q].fn;
			f->a = k_acts[q].da;
			f->b = k_acts[q].db;
			if (k_acts[q].na && ia < na)
				f->a = al[ia++];
			if (k_acts[q].nb && ib < nb)
				f->b = bl[ib++];
		}
	return EML_OK;
}

static int rnn_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	rnn_state *s;
	EML_ENSURE(c->n_in >= 3 && c->in[0] && c->in[1] && c->in[2], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const char *op = c->node->op_type;
	s->kind = strcmp(op, "RNN") == 0 ? RNN_K : (strcmp(op, "GRU") == 0 ? GRU_K : LSTM_K);
	s->G = s->kind == RNN_K ? 1 : (s->kind == GRU_K ? 3 : 4);
	const eml_rt *X = c->in[0], *W = c->in[1], *R = c->in[2];
	EML_ENSURE(X->dtype == EML_DT_FLOAT && W->dtype == EML_DT_FLOAT && R->dtype == EML_DT_FLOAT,
	           EML_E_UNSUPPORTED);
	EML_ENSURE(X->rank == 3 && W->rank == 3 && R->rank == 3, EML_E_ENGINE_SHAPE);
	if (eml_attr_s_eq(c->node, "direction", "forward", 1)) {
		s->dirs = 1;
	} else if (eml_attr_s_eq(c->node, "direction", "reverse", 0)) {
		s->dirs = 1;
		s->reverse = 1;
	} else {
		EML_ENSURE(eml_attr_s_eq(c->node, "direction", "bidirectional", 0),
		           EML_E_ENGINE_SHAPE);
		s->dirs = 2;
	}
	s->layout = c->opset >= 14 ? (int)eml_attr_i(c->node, "layout", 0) : 0;
	EML_ENSURE(s->layout == 0 || s->layout == 1, EML_E_ENGINE_SHAPE);
	s->lbr = (int)eml_attr_i(c->node, "linear_before_reset", 0);
	s->input_forget = (int)eml_attr_i(c->node, "input_forget", 0);
	s->clip = eml_attr_f(c->node, "clip", 0.0f);
	EML_ENSURE(s->clip >= 0, EML_E_ENGINE_SHAPE);
	s->S = s->layout ? X->dims[1] : X->dims[0];
	s->Bt = s->layout ? X->dims[0] : X->dims[1];
	s->I = X->dims[2];
	s->H = R->dims[2];
	int64_t h = eml_attr_i(c->node, "hidden_size", s->H);
	EML_ENSURE(h == s->H && h >= 1, EML_E_ENGINE_SHAPE);
	int64_t G = s->G, D = s->dirs, H = s->H;
	EML_ENSURE(W->dims[0] == D && W->dims[1] == G * H && W->dims[2] == s->I,
	           EML_E_ENGINE_SHAPE);
	EML_ENSURE(R->dims[0] == D && R->dims[1] == G * H, EML_E_ENGINE_SHAPE);
	const eml_rt *B = c->n_in > 3 ? c->in[3] : NULL;
	if (B != NULL)
		EML_ENSURE(B->dtype == EML_DT_FLOAT && B->rank == 2 && B->dims[0] == D &&
		               B->dims[1] == 2 * G * H,
		           EML_E_ENGINE_SHAPE);
	const eml_rt *L = c->n_in > 4 ? c->in[4] : NULL;
	if (L != NULL)
		EML_ENSURE(L->dtype == EML_DT_INT32 && L->elems == (uint64_t)s->Bt,
		           EML_E_ENGINE_SHAPE);
	int64_t sd[3] = {D, s->Bt, H};
	if (s->layout) {
		sd[0] = s->Bt;
		sd[1] = D;
	}
	for (uint32_t k = 5; k < 7 && k < c->n_in; k++)
		if (c->in[k] != NULL) {
			EML_ENSURE(s->kind == LSTM_K || k == 5, EML_E_ENGINE_SHAPE);
			EML_ENSURE(c->in[k]->dtype == EML_DT_FLOAT && c->in[k]->rank == 3 &&
			               memcmp(c->in[k]->dims, sd, sizeof(sd)) == 0,
			           EML_E_ENGINE_SHAPE);
		}
	if (c->n_in > 7 && c->in[7] != NULL) {
		EML_ENSURE(s->kind == LSTM_K, EML_E_ENGINE_SHAPE);
		EML_ENSURE(c->in[7]->dtype == EML_DT_FLOAT && c->in[7]->rank == 2 &&
		               c->in[7]->dims[0] == D && c->in[7]->dims[1] == 3 * H,
		           EML_E_ENGINE_SHAPE);
	}
	EML_ENSURE(c->n_in <= (s->kind == LSTM_K ? 8u : 6u), EML_E_ENGINE_SHAPE);
	EML_GUARD(parse_acts(c, s));
	if (c->n_out >= 1 && c->out[0] != NULL) {
		int64_t yd[4] = {s->S, D, s->Bt, H};
		if (s->layout) {
			yd[0] = s->Bt;
			yd[1] = s->S;
			yd[2] = D;
		}
		EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, 4, yd));
	}
	EML_ENSURE(c->n_out <= (s->kind == LSTM_K ? 3u : 2u), EML_E_ENGINE_SHAPE);
	for (uint32_t k = 1; k < c->n_out; k++)
		if (c->out[k] != NULL)
			EML_GUARD(eml_rt_set(c->out[k], EML_DT_FLOAT, 3, sd));
	/* gates G*H, h H, c H, rh H (GRU r (.) h or the recurrent product) */
	c->scratch_bytes = (size_t)((G + 4) * H) * sizeof(float);
	{
		const eml_rt *Pp = c->n_in > 7 ? c->in[7] : NULL;
		int fast = (s->kind == LSTM_K || s->kind == GRU_K) && s->clip == 0 && Pp == NULL &&
		           eml_rt_known(W) && eml_rt_known(R) && c->b != NULL && s->S * s->Bt > 0;
		for (int d = 0; d < s->dirs && fast; d++)
			fast = s->acts[d][0].fn == A_SIGMOID && s->acts[d][1].fn == A_TANH &&
			       (s->kind == GRU_K || s->acts[d][2].fn == A_TANH);
		if (fast) {
			uint32_t n_in0 = c->n_in;
			size_t GH = (size_t)(G * H), rows = (size_t)(s->S * s->Bt);
			s->wpk_bytes = eml_sgemm_packed_b_size((size_t)s->I, GH);
			int64_t d1 = (int64_t)((s->wpk_bytes * (size_t)D + 3) / 4);
			eml_rt *wpk, *rt;
			EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 1, &d1, &wpk));
			for (int64_t d = 0; d < D; d++)
				eml_sgemm_pack_b((const float *)W->data + d * (int64_t)GH * s->I,
				                 (size_t)s->I, 1, (size_t)s->I, GH,
				                 (float *)(void *)((uint8_t *)wpk->data +
				                                   (size_t)d * s->wpk_bytes));
			EML_GUARD(eml_op_add_input(c, wpk));
			int64_t d2 = D * H * (int64_t)GH;
			EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 1, &d2, &rt));
			for (int64_t d = 0; d < D; d++) {
				const float *r = (const float *)R->data + d * (int64_t)GH * H;
				float *t = (float *)rt->data + d * H * (int64_t)GH;
				for (size_t g = 0; g < GH; g++)
					for (int64_t k = 0; k < H; k++)
						t[(size_t)k * GH + g] =
						    r[g * (size_t)H + (size_t)k];
			}
			EML_GUARD(eml_op_add_input(c, rt));
			s->Wpk = wpk;
			s->RT = rt;
			s->n_in = n_in0;
			s->fast = 1;
			s->xw_floats = rows * GH;
			size_t w1 = eml_sgemm_work_size(rows, GH, (size_t)s->I, c->threads);
			size_t w2 = eml_sgemm_work_size(1, GH, (size_t)H, 1);
			s->work_bytes = ((w1 > w2 ? w1 : w2) + 63) & ~(size_t)63;
			/* gates, h, c, tanh(c): (G + 3) * H; then XW; then the SGEMM work */
			c->scratch_bytes =
			    (((size_t)((G + 3) * H) * sizeof(float) + 63) & ~(size_t)63) +
			    ((s->xw_floats * sizeof(float) + 63) & ~(size_t)63) + s->work_bytes;
		}
	}
out:
	return rc;
}

static float clipv(const rnn_state *s, float x)
{
	if (s->clip > 0)
		return x < -s->clip ? -s->clip : (x > s->clip ? s->clip : x);
	return x;
}

static float dot(const float *a, const float *b, int64_t n)
{
	float acc = 0;
	for (int64_t k = 0; k < n; k++)
		acc += a[k] * b[k];
	return acc;
}

static int lstm_run_fast(eml_op_ctx *c)
{
	const rnn_state *s = c->state;
	const float *X = c->in[0]->data;
	uint32_t ni = s->n_in;
	const eml_rt *Bt = ni > 3 ? c->in[3] : NULL, *Lt = ni > 4 ? c->in[4] : NULL;
	const eml_rt *H0 = ni > 5 ? c->in[5] : NULL, *C0 = ni > 6 ? c->in[6] : NULL;
	eml_rt *Y = c->n_out > 0 ? c->out[0] : NULL, *YH = c->n_out > 1 ? c->out[1] : NULL;
	eml_rt *YC = c->n_out > 2 ? c->out[2] : NULL;
	int64_t S = s->S, NB = s->Bt, H = s->H, D = s->dirs;
	size_t GH = (size_t)(s->G * H), rows = (size_t)(S * NB);
	uint8_t *sc = c->scratch;
	float *gates = (float *)(void *)sc, *h = gates + GH, *cc = h + H, *th = cc + H;
	sc += ((size_t)((s->G + 3) * H) * sizeof(float) + 63) & ~(size_t)63;
	float *xw = (float *)(void *)sc;
	sc += (s->xw_floats * sizeof(float) + 63) & ~(size_t)63;
	void *work = sc;
	if (Y != NULL)
		memset(Y->data, 0, Y->bytes);
	for (int64_t d = 0; d < D; d++) {
		/* every step's input projection at once: XW[rows, GH] = X * W^T + Wb + Rb */
		eml_sgemm(c->pool, rows, GH, (size_t)s->I, 1.0f, X, (size_t)s->I, 0, NULL, 0, 1,
		          (const float *)(const void *)((const uint8_t *)s->Wpk->data +
		                                        (size_t)d * s->wpk_bytes),
		          xw, GH, NULL, work);
		if (Bt != NULL) {
			const float *wb = (const float *)Bt->data + d * 2 * (int64_t)GH,
			            *rb = wb + GH;
			for (size_t g = 0; g < GH; g++)
				gates[g] = wb[g] + rb[g];
			for (size_t r = 0; r < rows; r++)
				for (size_t g = 0; g < GH; g++)
					xw[r * GH + g] += gates[g];
		}
		const float *RT = (const float *)s->RT->data + d * H * (int64_t)GH;
		int rev = s->reverse || d == 1;
		for (int64_t b = 0; b < NB; b++) {
			int64_t len = Lt ? ((const int32_t *)Lt->data)[b] : S;
			if (len < 0 || len > S)
				return EML_E_ENGINE_OP;
			int64_t si = (s->layout ? b * D + d : d * NB + b) * H;
			if (H0 != NULL)
				memcpy(h, (const float *)H0->data + si, (size_t)H * sizeof(float));
			else
				memset(h, 0, (size_t)H * sizeof(float));
			if (C0 != NULL)
				memcpy(cc, (const float *)C0->data + si, (size_t)H * sizeof(float));
			else
				memset(cc, 0, (size_t)H * sizeof(float));
			for (int64_t t = 0; t < len; t++) {
				int64_t tt = rev ? len - 1 - t : t;
				const float *xr =
				    xw + (size_t)(s->layout ? b * S + tt : tt * NB + b) * GH;
				/* gates = h * R^T + XW[row] (the row as a column bias) */
				eml_epilogue ep = {.bias_kind = EML_BIAS_COL, .bias = xr};
				eml_sgemm(NULL, 1, GH, (size_t)H, 1.0f, h, (size_t)H, 0, RT, GH, 0,
				          NULL, gates, GH, &ep, work);
				/* i, o, f: sigmoid; c: tanh (ONNX gate order i, o, f, c) */
				eml_vsigmoid(gates, gates, (size_t)(3 * H));
				eml_vtanh(gates + 3 * H, gates + 3 * H, (size_t)H);
				const float *gi = gates, *go = gates + H, *gf = gates + 2 * H,
				            *gc = gates + 3 * H;
				for (int64_t j = 0; j < H; j++) {
					float f_ = s->input_forget ? 1.0f - gi[j] : gf[j];
					cc[j] = f_ * cc[j] + gi[j] * gc[j];
				}
				eml_vtanh(th, cc, (size_t)H);
				for (int64_t j = 0; j < H; j++)
					h[j] = go[j] * th[j];
				if (Y != NULL) {
					int64_t yo = s->layout ? ((b * S + tt) * D + d) * H
					                       : ((tt * D + d) * NB + b) * H;
					memcpy((float *)Y->data + yo, h, (size_t)H * sizeof(float));
				}
			}
			if (YH != NULL)
				memcpy((float *)YH->data + si, h, (size_t)H * sizeof(float));
			if (YC != NULL)
				memcpy((float *)YC->data + si, cc, (size_t)H * sizeof(float));
		}
	}
	return EML_OK;
}

/* GRU with the default activations (the fast path of rnn_state): z, r = sigmoid(xW + hR + b),
 * h~ = tanh(xW_h + (r (.) h) R_h^T + Rb_h) or, with linear_before_reset, tanh(xW_h +
 * r (.) (h R_h^T + Rb_h)); h = (1 - z) h~ + z h. */
static int gru_run_fast(eml_op_ctx *c)
{
	const rnn_state *s = c->state;
	const float *X = c->in[0]->data;
	uint32_t ni = s->n_in;
	const eml_rt *Bt = ni > 3 ? c->in[3] : NULL, *Lt = ni > 4 ? c->in[4] : NULL;
	const eml_rt *H0 = ni > 5 ? c->in[5] : NULL;
	eml_rt *Y = c->n_out > 0 ? c->out[0] : NULL, *YH = c->n_out > 1 ? c->out[1] : NULL;
	int64_t S = s->S, NB = s->Bt, H = s->H, D = s->dirs;
	size_t GH = (size_t)(3 * H), rows = (size_t)(S * NB);
	uint8_t *sc = c->scratch;
	/* gates 3H (z, r, then h R_h^T), h, r (.) h, h~ */
	float *gates = (float *)(void *)sc, *h = gates + GH, *rh = h + H, *hc = rh + H;
	sc += ((size_t)((s->G + 3) * H) * sizeof(float) + 63) & ~(size_t)63;
	float *xw = (float *)(void *)sc;
	sc += (s->xw_floats * sizeof(float) + 63) & ~(size_t)63;
	void *work = sc;
	if (Y != NULL)
		memset(Y->data, 0, Y->bytes);
	for (int64_t d = 0; d < D; d++) {
		eml_sgemm(c->pool, rows, GH, (size_t)s->I, 1.0f, X, (size_t)s->I, 0, NULL, 0, 1,
		          (const float *)(const void *)((const uint8_t *)s->Wpk->data +
		                                        (size_t)d * s->wpk_bytes),
		          xw, GH, NULL, work);
		const float *Rbh = NULL;
		if (Bt != NULL) {
			/* Wb for all gates; Rb for z and r (Rb_h enters inside the reset) */
			const float *wb = (const float *)Bt->data + d * 2 * (int64_t)GH,
			            *rb = wb + GH;
			for (size_t g = 0; g < GH; g++)
				gates[g] = wb[g] + (g < (size_t)(2 * H) ? rb[g] : 0.0f);
			for (size_t r = 0; r < rows; r++)
				for (size_t g = 0; g < GH; g++)
					xw[r * GH + g] += gates[g];
			Rbh = rb + 2 * H;
		}
		const float *RT = (const float *)s->RT->data + d * H * (int64_t)GH;
		int rev = s->reverse || d == 1;
		for (int64_t b = 0; b < NB; b++) {
			int64_t len = Lt ? ((const int32_t *)Lt->data)[b] : S;
			if (len < 0 || len > S)
				return EML_E_ENGINE_OP;
			int64_t si = (s->layout ? b * D + d : d * NB + b) * H;
			if (H0 != NULL)
				memcpy(h, (const float *)H0->data + si, (size_t)H * sizeof(float));
			else
				memset(h, 0, (size_t)H * sizeof(float));
			for (int64_t t = 0; t < len; t++) {
				int64_t tt = rev ? len - 1 - t : t;
				const float *xr =
				    xw + (size_t)(s->layout ? b * S + tt : tt * NB + b) * GH;
				/* z, r: h R_{z,r}^T + xW (+ biases) */
				eml_epilogue ep = {.bias_kind = EML_BIAS_COL, .bias = xr};
				eml_sgemm(NULL, 1, (size_t)(2 * H), (size_t)H, 1.0f, h, (size_t)H,
				          0, RT, GH, 0, NULL, gates, GH, &ep, work);
				eml_vsigmoid(gates, gates, (size_t)(2 * H));
				const float *z = gates, *r = gates + H;
				float *hr = gates + 2 * H;
				eml_epilogue eb = {.bias_kind = Rbh ? EML_BIAS_COL : EML_BIAS_NONE,
				                   .bias = Rbh};
				if (s->lbr) {
					eml_sgemm(NULL, 1, (size_t)H, (size_t)H, 1.0f, h, (size_t)H,
					          0, RT + 2 * H, GH, 0, NULL, hr, GH, &eb, work);
					for (int64_t j = 0; j < H; j++)
						hc[j] = xr[2 * H + j] + r[j] * hr[j];
				} else {
					for (int64_t j = 0; j < H; j++)
						rh[j] = r[j] * h[j];
					eml_sgemm(NULL, 1, (size_t)H, (size_t)H, 1.0f, rh,
					          (size_t)H, 0, RT + 2 * H, GH, 0, NULL, hr, GH,
					          &eb, work);
					for (int64_t j = 0; j < H; j++)
						hc[j] = xr[2 * H + j] + hr[j];
				}
				eml_vtanh(hc, hc, (size_t)H);
				for (int64_t j = 0; j < H; j++)
					h[j] = (1.0f - z[j]) * hc[j] + z[j] * h[j];
				if (Y != NULL) {
					int64_t yo = s->layout ? ((b * S + tt) * D + d) * H
					                       : ((tt * D + d) * NB + b) * H;
					memcpy((float *)Y->data + yo, h, (size_t)H * sizeof(float));
				}
			}
			if (YH != NULL)
				memcpy((float *)YH->data + si, h, (size_t)H * sizeof(float));
		}
	}
	return EML_OK;
}

static int rnn_run(eml_op_ctx *c)
{
	const rnn_state *s = c->state;
	if (s->fast)
		return s->kind == GRU_K ? gru_run_fast(c) : lstm_run_fast(c);
	const float *X = c->in[0]->data;
	const eml_rt *Bt = c->n_in > 3 ? c->in[3] : NULL, *Lt = c->n_in > 4 ? c->in[4] : NULL;
	const eml_rt *H0 = c->n_in > 5 ? c->in[5] : NULL, *C0 = c->n_in > 6 ? c->in[6] : NULL;
	const eml_rt *Pt = c->n_in > 7 ? c->in[7] : NULL;
	eml_rt *Y = c->n_out > 0 ? c->out[0] : NULL, *YH = c->n_out > 1 ? c->out[1] : NULL;
	eml_rt *YC = c->n_out > 2 ? c->out[2] : NULL;
	int64_t S = s->S, NB = s->Bt, I = s->I, H = s->H, G = s->G, D = s->dirs;
	float *gates = c->scratch, *h = gates + G * H, *cc = h + H, *rh = cc + H, *rg = rh + H;
	if (Y != NULL)
		memset(Y->data, 0, Y->bytes);
	for (int64_t d = 0; d < D; d++) {
		const float *W = (const float *)c->in[1]->data + d * G * H * I;
		const float *R = (const float *)c->in[2]->data + d * G * H * H;
		const float *Wb = Bt ? (const float *)Bt->data + d * 2 * G * H : NULL;
		const float *Rb = Wb ? Wb + G * H : NULL;
		const float *P = Pt ? (const float *)Pt->data + d * 3 * H : NULL;
		const act *f = s->acts[d];
		int rev = s->reverse || d == 1;
		for (int64_t b = 0; b < NB; b++) {
			int64_t len = Lt ? ((const int32_t *)Lt->data)[b] : S;
			if (len < 0 || len > S)
				return EML_E_ENGINE_OP;
			/* state index: [d, b] (layout 0) or [b, d] (layout 1) */
			int64_t si = (s->layout ? b * D + d : d * NB + b) * H;
			if (H0 != NULL)
				memcpy(h, (const float *)H0->data + si, (size_t)H * sizeof(float));
			else
				memset(h, 0, (size_t)H * sizeof(float));
			if (C0 != NULL)
				memcpy(cc, (const float *)C0->data + si, (size_t)H * sizeof(float));
			else
				memset(cc, 0, (size_t)H * sizeof(float));
			for (int64_t t = 0; t < len; t++) {
				int64_t tt = rev ? len - 1 - t : t;
				const float *x = X + (s->layout ? b * S + tt : tt * NB + b) * I;
				for (int64_t g = 0; g < G * H; g++) {
					gates[g] = dot(W + g * I, x, I) + (Wb ? Wb[g] : 0);
					/* GRU's h gate takes the recurrent term after the reset */
					if (s->kind == GRU_K && g >= 2 * H)
						continue;
					gates[g] += dot(R + g * H, h, H) + (Rb ? Rb[g] : 0);
				}
				if (s->kind == RNN_K) {
					for (int64_t j = 0; j < H; j++)
						h[j] = act_apply(&f[0], clipv(s, gates[j]));
				} else if (s->kind == GRU_K) {
					float *z = gates, *r = gates + H, *hh = gates + 2 * H;
					for (int64_t j = 0; j < H; j++) {
						z[j] = act_apply(&f[0], clipv(s, z[j]));
						r[j] = act_apply(&f[0], clipv(s, r[j]));
					}
					const float *Rh = R + 2 * H * H;
					const float *Rbh = Rb ? Rb + 2 * H : NULL;
					if (s->lbr) {
						for (int64_t j = 0; j < H; j++)
							rg[j] = r[j] * (dot(Rh + j * H, h, H) +
							                (Rbh ? Rbh[j] : 0));
					} else {
						for (int64_t j = 0; j < H; j++)
							rh[j] = r[j] * h[j];
						for (int64_t j = 0; j < H; j++)
							rg[j] = dot(Rh + j * H, rh, H) +
							        (Rbh ? Rbh[j] : 0);
					}
					for (int64_t j = 0; j < H; j++) {
						float ht =
						    act_apply(&f[1], clipv(s, hh[j] + rg[j]));
						h[j] = (1.0f - z[j]) * ht + z[j] * h[j];
					}
				} else {
					float *gi = gates, *go = gates + H, *gf = gates + 2 * H,
					      *gc = gates + 3 * H;
					for (int64_t j = 0; j < H; j++) {
						float iv = gi[j] + (P ? P[j] * cc[j] : 0);
						float fv = gf[j] + (P ? P[2 * H + j] * cc[j] : 0);
						float i_ = act_apply(&f[0], clipv(s, iv));
						float f_ = s->input_forget
						               ? 1.0f - i_
						               : act_apply(&f[0], clipv(s, fv));
						float c_ = act_apply(&f[1], clipv(s, gc[j]));
						cc[j] = f_ * cc[j] + i_ * c_;
						float ov = go[j] + (P ? P[H + j] * cc[j] : 0);
						float o_ = act_apply(&f[0], clipv(s, ov));
						h[j] = o_ * act_apply(&f[2], cc[j]);
					}
				}
				if (Y != NULL) {
					int64_t yo = s->layout ? ((b * S + tt) * D + d) * H
					                       : ((tt * D + d) * NB + b) * H;
					memcpy((float *)Y->data + yo, h, (size_t)H * sizeof(float));
				}
			}
			if (YH != NULL)
				memcpy((float *)YH->data + si, h, (size_t)H * sizeof(float));
			if (YC != NULL)
				memcpy((float *)YC->data + si, cc, (size_t)H * sizeof(float));
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_rnn = {"*rnn", 7, 18, rnn_prep, rnn_run, NULL, NULL};
