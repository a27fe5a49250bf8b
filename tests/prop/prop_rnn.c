/*
 * Differential kernels, recurrent: the engine's LSTM (ops/rnn.c: the SGEMM + vectorized fast
 * path, and the general step loop when peepholes are present) and GRU (both linear_before_reset
 * forms) against naive step loops in double written here from the ONNX operator definitions, on
 * random LSTMs and GRUs: sequence length,
 * batch, input and hidden sizes (tile edges included), forward / reverse / bidirectional,
 * layout 0 and 1, optional bias, initial h and c, sequence lengths, input_forget, peepholes;
 * W and R as constants or as request inputs; 1 or 2 threads. Bound: |a - b| <= 1e-4 * max(1,|b|).
 * (Not a DESIGN §11 property: named "differential kernels", as prop_kernels.c.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "eml/error.h"
/* the engine tests' model builder (after engine.h, which it needs) */
#include "../unit/test_engine_mb.h"
#include "prop.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})
#define D(...) ((const int64_t[]){__VA_ARGS__})

static double sigm(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

struct lstm_case {
	int S, B, IN, H, dirs, reverse, layout, has_b, has_h0, has_c0, has_len, has_p, fgt;
	int gru, lbr; /* GRU instead of LSTM; its linear_before_reset */
	float *x, *w, *r, *b, *h0, *c0, *p;
	int32_t *len;
};

/* Y[t][d][b][h] and Y_h/Y_c [d][b][h] in layout 0 order, doubles. */
static void reference(const struct lstm_case *k, double *y, double *yh, double *yc)
{
	int S = k->S, B = k->B, IN = k->IN, H = k->H, Dn = k->dirs;
	memset(y, 0, sizeof(double) * (size_t)(S * Dn * B * H));
	for (int d = 0; d < Dn; d++) {
		const float *W = k->w + d * 4 * H * IN, *R = k->r + d * 4 * H * H;
		const float *Wb = k->has_b ? k->b + d * 8 * H : NULL, *Rb = Wb ? Wb + 4 * H : NULL;
		const float *P = k->has_p ? k->p + d * 3 * H : NULL;
		int rev = k->reverse || d == 1;
		for (int b = 0; b < B; b++) {
			int len = k->has_len ? k->len[b] : S;
			double h[64], c[64], g[4 * 64];
			for (int j = 0; j < H; j++) {
				int si = k->layout ? (b * Dn + d) * H + j : (d * B + b) * H + j;
				h[j] = k->has_h0 ? k->h0[si] : 0;
				c[j] = k->has_c0 ? k->c0[si] : 0;
			}
			for (int t = 0; t < len; t++) {
				int tt = rev ? len - 1 - t : t;
				const float *x = k->x + (k->layout ? b * S + tt : tt * B + b) * IN;
				for (int q = 0; q < 4 * H; q++) {
					double a = (Wb ? Wb[q] + Rb[q] : 0);
					for (int i = 0; i < IN; i++)
						a += (double)W[q * IN + i] * x[i];
					for (int i = 0; i < H; i++)
						a += (double)R[q * H + i] * h[i];
					g[q] = a;
				}
				for (int j = 0; j < H; j++) {
					/* ONNX gate order i, o, f, c; peepholes i, o, f */
					double iv = sigm(g[j] + (P ? P[j] * c[j] : 0));
					double fv = k->fgt ? 1 - iv
					                   : sigm(g[2 * H + j] +
					                          (P ? P[2 * H + j] * c[j] : 0));
					double cv = tanh(g[3 * H + j]);
					c[j] = fv * c[j] + iv * cv;
					double ov = sigm(g[H + j] + (P ? P[H + j] * c[j] : 0));
					h[j] = ov * tanh(c[j]);
					y[((tt * Dn + d) * B + b) * H + j] = h[j];
				}
			}
			for (int j = 0; j < H; j++) {
				yh[(d * B + b) * H + j] = h[j];
				yc[(d * B + b) * H + j] = c[j];
			}
		}
	}
}

/* GRU (gate order z, r, h): Y[t][d][b][h] and Y_h [d][b][h] in layout 0 order, doubles. */
static void reference_gru(const struct lstm_case *k, double *y, double *yh)
{
	int S = k->S, B = k->B, IN = k->IN, H = k->H, Dn = k->dirs;
	memset(y, 0, sizeof(double) * (size_t)(S * Dn * B * H));
	for (int d = 0; d < Dn; d++) {
		const float *W = k->w + d * 3 * H * IN, *R = k->r + d * 3 * H * H;
		const float *Wb = k->has_b ? k->b + d * 6 * H : NULL, *Rb = Wb ? Wb + 3 * H : NULL;
		int rev = k->reverse || d == 1;
		for (int b = 0; b < B; b++) {
			int len = k->has_len ? k->len[b] : S;
			double h[64], xw[3 * 64], rr[3 * 64];
			for (int j = 0; j < H; j++) {
				int si = k->layout ? (b * Dn + d) * H + j : (d * B + b) * H + j;
				h[j] = k->has_h0 ? k->h0[si] : 0;
			}
			for (int t = 0; t < len; t++) {
				int tt = rev ? len - 1 - t : t;
				const float *x = k->x + (k->layout ? b * S + tt : tt * B + b) * IN;
				for (int q = 0; q < 3 * H; q++) {
					double a = Wb ? Wb[q] : 0, c = Rb ? Rb[q] : 0;
					for (int i = 0; i < IN; i++)
						a += (double)W[q * IN + i] * x[i];
					for (int i = 0; i < H; i++)
						c += (double)R[q * H + i] * h[i];
					xw[q] = a;
					rr[q] = c; /* H R^T + Rb, for all three gates */
				}
				double hn[64];
				for (int j = 0; j < H; j++) {
					double z = sigm(xw[j] + rr[j]),
					       r = sigm(xw[H + j] + rr[H + j]);
					double hc;
					if (k->lbr) {
						hc = tanh(xw[2 * H + j] + r * rr[2 * H + j]);
					} else {
						/* (r (.) h) Rh^T + Rbh */
						double a = Rb ? Rb[2 * H + j] : 0;
						for (int i = 0; i < H; i++)
							a += (double)R[(2 * H + j) * H + i] *
							     (sigm(xw[H + i] + rr[H + i]) * h[i]);
						hc = tanh(xw[2 * H + j] + a);
					}
					hn[j] = (1 - z) * hc + z * h[j];
				}
				for (int j = 0; j < H; j++) {
					h[j] = hn[j];
					y[((tt * Dn + d) * B + b) * H + j] = h[j];
				}
			}
			for (int j = 0; j < H; j++)
				yh[(d * B + b) * H + j] = h[j];
		}
	}
}

static float *rnd(eml_rng *r, size_t n, float lo, float hi)
{
	float *p = malloc((n ? n : 1) * sizeof(float));
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = eml_rng_float(r, lo, hi);
	return p;
}

static void check(const char *what, const float *got, const double *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		PROP_ASSERT(fabs((double)got[i] - want[i]) <= 1e-4 * fmax(1.0, fabs(want[i])),
		            "%s[%zu] = %.9g, reference %.9g", what, i, (double)got[i], want[i]);
}

static void lstm_case(eml_rng *rg)
{
	static const int hs[] = {1, 3, 8, 15, 16, 17, 32, 33, 64};
	struct lstm_case k;
	memset(&k, 0, sizeof(k));
	k.S = 1 + (int)eml_rng_below(rg, 7);
	k.B = 1 + (int)eml_rng_below(rg, 3);
	k.IN = 1 + (int)eml_rng_below(rg, 20);
	k.H = hs[eml_rng_below(rg, sizeof(hs) / sizeof(hs[0]))];
	int dir = (int)eml_rng_below(rg, 3);
	k.dirs = dir == 2 ? 2 : 1;
	k.reverse = dir == 1;
	k.layout = (int)eml_rng_below(rg, 2);
	k.has_b = eml_rng_chance(rg, 0.7);
	k.has_h0 = eml_rng_chance(rg, 0.5);
	k.has_c0 = eml_rng_chance(rg, 0.5);
	k.has_len = eml_rng_chance(rg, 0.4);
	k.has_p = eml_rng_chance(rg, 0.25); /* the general step loop */
	k.fgt = eml_rng_chance(rg, 0.2);
	int w_input = eml_rng_chance(rg, 0.3);
	int S = k.S, B = k.B, IN = k.IN, H = k.H, Dn = k.dirs;
	k.x = rnd(rg, (size_t)(S * B * IN), -1, 1);
	k.w = rnd(rg, (size_t)(Dn * 4 * H * IN), -0.5f, 0.5f);
	k.r = rnd(rg, (size_t)(Dn * 4 * H * H), -0.5f, 0.5f);
	k.b = rnd(rg, (size_t)(Dn * 8 * H), -0.5f, 0.5f);
	k.h0 = rnd(rg, (size_t)(Dn * B * H), -1, 1);
	k.c0 = rnd(rg, (size_t)(Dn * B * H), -1, 1);
	k.p = rnd(rg, (size_t)(Dn * 3 * H), -0.5f, 0.5f);
	k.len = malloc((size_t)B * sizeof(int32_t));
	cr_assert_not_null(k.len);
	for (int b = 0; b < B; b++)
		k.len[b] = (int32_t)eml_rng_below(rg, (uint64_t)S + 1);

	eml_model *m = mb_new(14);
	const int64_t *xd = k.layout ? D(B, S, IN) : D(S, B, IN);
	const int64_t *sd = k.layout ? D(B, Dn, H) : D(Dn, B, H);
	int32_t x = mb_value(m, EML_DT_FLOAT, 3, xd);
	mb_input(m, x);
	eml_io_tensor io[3];
	size_t n_io = 0;
	io[n_io++] = mb_io(EML_DT_FLOAT, 3, xd, k.x);
	int32_t wv, rv;
	if (w_input) {
		wv = mb_value(m, EML_DT_FLOAT, 3, D(Dn, 4 * H, IN));
		rv = mb_value(m, EML_DT_FLOAT, 3, D(Dn, 4 * H, H));
		mb_input(m, wv);
		mb_input(m, rv);
		io[n_io++] = mb_io(EML_DT_FLOAT, 3, D(Dn, 4 * H, IN), k.w);
		io[n_io++] = mb_io(EML_DT_FLOAT, 3, D(Dn, 4 * H, H), k.r);
	} else {
		wv = mb_const(m, EML_DT_FLOAT, 3, D(Dn, 4 * H, IN), k.w);
		rv = mb_const(m, EML_DT_FLOAT, 3, D(Dn, 4 * H, H), k.r);
	}
	int32_t bv = k.has_b ? mb_const(m, EML_DT_FLOAT, 2, D(Dn, 8 * H), k.b) : -1;
	int32_t lv = k.has_len ? mb_const(m, EML_DT_INT32, 1, D(B), k.len) : -1;
	int32_t hv = k.has_h0 ? mb_const(m, EML_DT_FLOAT, 3, sd, k.h0) : -1;
	int32_t cv = k.has_c0 ? mb_const(m, EML_DT_FLOAT, 3, sd, k.c0) : -1;
	int32_t pv = k.has_p ? mb_const(m, EML_DT_FLOAT, 2, D(Dn, 3 * H), k.p) : -1;
	int32_t y = mb_tmp(m), yh = mb_tmp(m), yc = mb_tmp(m);
	/* trailing omitted inputs are left out of the node, as exporters do */
	int32_t ins[9] = {x, wv, rv, bv, lv, hv, cv, pv, MB_END};
	int last = 7;
	while (last > 2 && ins[last] < 0 && eml_rng_chance(rg, 0.8))
		last--;
	ins[last + 1] = MB_END;
	eml_node *n = mb_node(m, "LSTM", ins, I(y, yh, yc));
	mb_attr_s(n, "direction", dir == 0 ? "forward" : (dir == 1 ? "reverse" : "bidirectional"));
	mb_attr_i(n, "hidden_size", H);
	mb_attr_i(n, "layout", k.layout);
	if (k.fgt)
		mb_attr_i(n, "input_forget", 1);
	mb_output(m, y);
	mb_output(m, yh);
	mb_output(m, yc);

	eml_engine_opts opts = {.threads = 1 + (int)eml_rng_below(rg, 2), .max_memory = 0};
	eml_plan *p = NULL;
	int bad = -1;
	int rc = eml_engine_assemble(m, io, n_io, &opts, &p, &bad);
	PROP_ASSERT(rc == EML_OK, "assemble: %s", eml_err_name(rc));
	PROP_ASSERT(eml_plan_run(p) == EML_OK, "run");

	size_t ny = (size_t)(S * Dn * B * H), ns = (size_t)(Dn * B * H);
	double *ry = malloc(ny * sizeof(double)), *rh = malloc(ns * sizeof(double)),
	       *rc2 = malloc(ns * sizeof(double));
	float *gy = malloc(ny * sizeof(float)), *gh = malloc(ns * sizeof(float)),
	      *gc = malloc(ns * sizeof(float));
	cr_assert(ry && rh && rc2 && gy && gh && gc);
	reference(&k, ry, rh, rc2);
	eml_io_tensor o[3];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(eml_plan_output(p, (size_t)i, &o[i]), EML_OK);
	cr_assert_eq(o[0].bytes, ny * 4);
	cr_assert_eq(o[1].bytes, ns * 4);
	const float *oy = o[0].data, *oh = o[1].data, *oc = o[2].data;
	/* back to layout 0 order */
	for (int t = 0; t < S; t++)
		for (int d = 0; d < Dn; d++)
			for (int b = 0; b < B; b++)
				for (int j = 0; j < H; j++)
					gy[((t * Dn + d) * B + b) * H + j] =
					    k.layout ? oy[((b * S + t) * Dn + d) * H + j]
					             : oy[((t * Dn + d) * B + b) * H + j];
	for (int d = 0; d < Dn; d++)
		for (int b = 0; b < B; b++)
			for (int j = 0; j < H; j++) {
				size_t src = k.layout ? (size_t)((b * Dn + d) * H + j)
				                      : (size_t)((d * B + b) * H + j);
				gh[(d * B + b) * H + j] = oh[src];
				gc[(d * B + b) * H + j] = oc[src];
			}
	check("Y", gy, ry, ny);
	check("Y_h", gh, rh, ns);
	check("Y_c", gc, rc2, ns);
	eml_plan_free(p);
	eml_model_free(m);
	free(ry);
	free(rh);
	free(rc2);
	free(gy);
	free(gh);
	free(gc);
	free(k.x);
	free(k.w);
	free(k.r);
	free(k.b);
	free(k.h0);
	free(k.c0);
	free(k.p);
	free(k.len);
}

static void gru_case(eml_rng *rg)
{
	static const int hs[] = {1, 3, 8, 16, 17, 33};
	struct lstm_case k;
	memset(&k, 0, sizeof(k));
	k.gru = 1;
	k.S = 1 + (int)eml_rng_below(rg, 6);
	k.B = 1 + (int)eml_rng_below(rg, 3);
	k.IN = 1 + (int)eml_rng_below(rg, 12);
	k.H = hs[eml_rng_below(rg, sizeof(hs) / sizeof(hs[0]))];
	int dir = (int)eml_rng_below(rg, 3);
	k.dirs = dir == 2 ? 2 : 1;
	k.reverse = dir == 1;
	k.layout = (int)eml_rng_below(rg, 2);
	k.has_b = eml_rng_chance(rg, 0.7);
	k.has_h0 = eml_rng_chance(rg, 0.5);
	k.has_len = eml_rng_chance(rg, 0.4);
	k.lbr = eml_rng_chance(rg, 0.5);
	int S = k.S, B = k.B, IN = k.IN, H = k.H, Dn = k.dirs;
	k.x = rnd(rg, (size_t)(S * B * IN), -1, 1);
	k.w = rnd(rg, (size_t)(Dn * 3 * H * IN), -0.5f, 0.5f);
	k.r = rnd(rg, (size_t)(Dn * 3 * H * H), -0.5f, 0.5f);
	k.b = rnd(rg, (size_t)(Dn * 6 * H), -0.5f, 0.5f);
	k.h0 = rnd(rg, (size_t)(Dn * B * H), -1, 1);
	k.len = malloc((size_t)B * sizeof(int32_t));
	cr_assert_not_null(k.len);
	for (int b = 0; b < B; b++)
		k.len[b] = (int32_t)eml_rng_below(rg, (uint64_t)S + 1);

	eml_model *m = mb_new(14);
	const int64_t *xd = k.layout ? D(B, S, IN) : D(S, B, IN);
	const int64_t *sd = k.layout ? D(B, Dn, H) : D(Dn, B, H);
	int32_t x = mb_value(m, EML_DT_FLOAT, 3, xd);
	mb_input(m, x);
	eml_io_tensor io = mb_io(EML_DT_FLOAT, 3, xd, k.x);
	int32_t wv = mb_const(m, EML_DT_FLOAT, 3, D(Dn, 3 * H, IN), k.w);
	int32_t rv = mb_const(m, EML_DT_FLOAT, 3, D(Dn, 3 * H, H), k.r);
	int32_t bv = k.has_b ? mb_const(m, EML_DT_FLOAT, 2, D(Dn, 6 * H), k.b) : -1;
	int32_t lv = k.has_len ? mb_const(m, EML_DT_INT32, 1, D(B), k.len) : -1;
	int32_t hv = k.has_h0 ? mb_const(m, EML_DT_FLOAT, 3, sd, k.h0) : -1;
	int32_t y = mb_tmp(m), yh = mb_tmp(m);
	eml_node *n = mb_node(m, "GRU", I(x, wv, rv, bv, lv, hv), I(y, yh));
	mb_attr_s(n, "direction", dir == 0 ? "forward" : (dir == 1 ? "reverse" : "bidirectional"));
	mb_attr_i(n, "hidden_size", H);
	mb_attr_i(n, "layout", k.layout);
	mb_attr_i(n, "linear_before_reset", k.lbr);
	mb_output(m, y);
	mb_output(m, yh);
	eml_plan *p = NULL;
	int bad = -1;
	int rc = eml_engine_assemble(m, &io, 1, NULL, &p, &bad);
	PROP_ASSERT(rc == EML_OK, "assemble: %s", eml_err_name(rc));
	PROP_ASSERT(eml_plan_run(p) == EML_OK, "run");
	size_t ny = (size_t)(S * Dn * B * H), ns = (size_t)(Dn * B * H);
	double *ry = malloc(ny * sizeof(double)), *rh = malloc(ns * sizeof(double));
	float *gy = malloc(ny * sizeof(float)), *gh = malloc(ns * sizeof(float));
	cr_assert(ry && rh && gy && gh);
	reference_gru(&k, ry, rh);
	eml_io_tensor o[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(eml_plan_output(p, (size_t)i, &o[i]), EML_OK);
	cr_assert_eq(o[0].bytes, ny * 4);
	const float *oy = o[0].data, *oh = o[1].data;
	for (int t = 0; t < S; t++)
		for (int d = 0; d < Dn; d++)
			for (int b = 0; b < B; b++)
				for (int j = 0; j < H; j++)
					gy[((t * Dn + d) * B + b) * H + j] =
					    k.layout ? oy[((b * S + t) * Dn + d) * H + j]
					             : oy[((t * Dn + d) * B + b) * H + j];
	for (int d = 0; d < Dn; d++)
		for (int b = 0; b < B; b++)
			for (int j = 0; j < H; j++)
				gh[(d * B + b) * H + j] =
				    oh[k.layout ? (size_t)((b * Dn + d) * H + j)
				                : (size_t)((d * B + b) * H + j)];
	check("GRU Y", gy, ry, ny);
	check("GRU Y_h", gh, rh, ns);
	eml_plan_free(p);
	eml_model_free(m);
	free(ry);
	free(rh);
	free(gy);
	free(gh);
	free(k.x);
	free(k.w);
	free(k.r);
	free(k.b);
	free(k.h0);
	free(k.len);
}

Test(prop, differential_kernels_lstm,
     .description = "differential kernels: LSTM and GRU against a naive step loop")
{
	PROP_FOR_EACH_CASE(rng)
	{
		lstm_case(&rng);
		gru_case(&rng);
	}
}
