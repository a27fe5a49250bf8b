/*
 * DeformConv (ONNX DeformConv-19, https://onnx.ai/onnx/operators/onnx__DeformConv.html;
 * deformable convolution v1/v2, arXiv 1703.06211 and 1811.11168): inputs X (N, C, D1..Dr),
 * W (oC, C/group, k1..kr), offset (N, offset_group * K * r, O1..Or) with K = k1*...*kr, optional
 * B (oC) and mask (N, offset_group * K, O1..Or); attributes dilations, group, kernel_shape,
 * offset_group, pads, strides. Kernel tap k of output position o samples input channel c at
 * o * stride - pad_begin + k * dilation + offset[n, g*K*r + k*r + axis, o] (g the offset group
 * of c), by r-linear interpolation with zeros outside the input, times mask[n, g*K + k, o]
 * when given; the samples are gathered once per (channel, tap, position) and shared by the
 * output channels: float32 then multiplies them per group on the SGEMM (Y_g = W_g * cols_g +
 * B_g), the other real types accumulate in double. Any number of spatial axes r >= 1.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/gemm.h"
#include "engine/ops/ops.h"

#define DC_MAX_R (EML_MAX_RANK - 2)
/* the gathered samples (C * K * positions doubles) live in the step's scratch: bounded */
#define DC_MAX_SCRATCH ((uint64_t)1 << 30)

typedef struct dc_state {
	uint32_t r;
	int64_t group, ogroup;
	int64_t k[DC_MAX_R], st[DC_MAX_R], dil[DC_MAX_R], pad[DC_MAX_R];
	int64_t in[DC_MAX_R], out[DC_MAX_R];
	uint64_t K, P, I; /* taps, output positions, input positions */
	int f32;          /* every operand float32: float gather + SGEMM */
	size_t col_bytes; /* f32: the gathered samples, then the SGEMM's work area */
} dc_state;

static int dc_ints(const eml_node *n, const char *name, uint32_t want, int64_t def, int64_t lo,
                   int64_t *v)
{
	uint32_t cnt = 0;
	const int64_t *a = eml_attr_ints(n, name, &cnt);
	if (a != NULL && cnt != want)
		return EML_E_ENGINE_SHAPE;
	for (uint32_t i = 0; i < want; i++) {
		v[i] = a != NULL ? a[i] : def;
		if (v[i] < lo || v[i] > EML_ENGINE_MAX_DIM)
			return EML_E_ENGINE_SHAPE;
	}
	return EML_OK;
}

static int dc_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	dc_state *s;
	EML_ENSURE(c->n_in >= 3 && c->in[0] && c->in[1] && c->in[2] && c->n_out == 1 && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *X = c->in[0], *W = c->in[1], *O = c->in[2];
	const eml_rt *B = c->n_in > 3 ? c->in[3] : NULL, *M = c->n_in > 4 ? c->in[4] : NULL;
	EML_ENSURE(X->rank >= 3 && X->rank <= EML_MAX_RANK && W->rank == X->rank &&
	               O->rank == X->rank,
	           EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_dt_is_real(X->dtype) && W->dtype == X->dtype && O->dtype == X->dtype,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	uint32_t r = X->rank - 2;
	s->r = r;
	int64_t N = X->dims[0], C = X->dims[1], OC = W->dims[0];
	s->group = eml_attr_i(c->node, "group", 1);
	s->ogroup = eml_attr_i(c->node, "offset_group", 1);
	EML_ENSURE(s->group >= 1 && s->ogroup >= 1 && C % s->group == 0 && OC % s->group == 0 &&
	               C % s->ogroup == 0 && W->dims[1] == C / s->group,
	           EML_E_ENGINE_SHAPE);
	EML_GUARD(dc_ints(c->node, "kernel_shape", r, 1, 1, s->k));
	if (eml_attr_ints(c->node, "kernel_shape", &(uint32_t){0}) == NULL)
		for (uint32_t a = 0; a < r; a++)
			s->k[a] = W->dims[2 + a];
	EML_GUARD(dc_ints(c->node, "strides", r, 1, 1, s->st));
	EML_GUARD(dc_ints(c->node, "dilations", r, 1, 1, s->dil));
	int64_t pads[2 * DC_MAX_R];
	EML_GUARD(dc_ints(c->node, "pads", 2 * r, 0, 0, pads));
	s->K = 1;
	s->P = 1;
	s->I = 1;
	int64_t od[EML_MAX_RANK];
	od[0] = N;
	od[1] = OC;
	for (uint32_t a = 0; a < r; a++) {
		EML_ENSURE(W->dims[2 + a] == s->k[a], EML_E_ENGINE_SHAPE);
		s->pad[a] = pads[a];
		s->in[a] = X->dims[2 + a];
		int64_t span = (s->k[a] - 1) * s->dil[a] + 1;
		int64_t padded = s->in[a] + pads[a] + pads[a + r];
		EML_ENSURE(padded >= span, EML_E_ENGINE_SHAPE);
		s->out[a] = (padded - span) / s->st[a] + 1;
		od[2 + a] = s->out[a];
		s->K *= (uint64_t)s->k[a];
		s->P *= (uint64_t)s->out[a];
		s->I *= (uint64_t)s->in[a];
		EML_ENSURE(s->K <= ((uint64_t)1 << 20), EML_E_ENGINE_SHAPE);
	}
	/* offset (N, ogroup * K * r, O...), mask (N, ogroup * K, O...) */
	EML_ENSURE(O->dims[0] == N && O->dims[1] == s->ogroup * (int64_t)s->K * (int64_t)r,
	           EML_E_ENGINE_SHAPE);
	for (uint32_t a = 0; a < r; a++)
		EML_ENSURE(O->dims[2 + a] == s->out[a], EML_E_ENGINE_SHAPE);
	if (B != NULL)
		EML_ENSURE(B->dtype == X->dtype && B->rank == 1 && B->dims[0] == OC,
		           EML_E_ENGINE_SHAPE);
	if (M != NULL) {
		EML_ENSURE(M->dtype == X->dtype && M->rank == X->rank && M->dims[0] == N &&
		               M->dims[1] == s->ogroup * (int64_t)s->K,
		           EML_E_ENGINE_SHAPE);
		for (uint32_t a = 0; a < r; a++)
			EML_ENSURE(M->dims[2 + a] == s->out[a], EML_E_ENGINE_SHAPE);
	}
	/* the output's own limits first (they bound P), then the gathered samples */
	EML_GUARD(eml_rt_set(c->out[0], X->dtype, X->rank, od));
	EML_ENSURE(s->P == 0 || (uint64_t)C <= DC_MAX_SCRATCH / sizeof(double) / s->K / s->P,
	           EML_E_ENGINE_SHAPE);
	s->f32 = X->dtype == EML_DT_FLOAT;
	if (s->f32) {
		s->col_bytes =
		    ((size_t)((uint64_t)C * s->K * s->P * sizeof(float)) + 63) & ~(size_t)63;
		c->scratch_bytes =
		    s->col_bytes +
		    eml_sgemm_work_size((size_t)(OC / s->group), (size_t)s->P,
		                        (size_t)((uint64_t)(C / s->group) * s->K), c->threads) +
		    64;
	} else {
		c->scratch_bytes = (size_t)((uint64_t)C * s->K * s->P * sizeof(double)) + 64;
	}
out:
	return rc;
}

/* r-linear sample of one input channel (base element offset) at real position p, 0 outside. */
static double dc_sample(const dc_state *s, const eml_rt *X, size_t base, const double *p)
{
	int64_t lo[DC_MAX_R];
	double f[DC_MAX_R];
	for (uint32_t a = 0; a < s->r; a++) {
		/* entirely outside (all corners out): 0 */
		if (p[a] <= -1 || p[a] >= (double)s->in[a])
			return 0;
		double fl = floor(p[a]);
		lo[a] = (int64_t)fl;
		f[a] = p[a] - fl;
	}
	double v = 0;
	for (uint32_t corner = 0; corner < (1u << s->r); corner++) {
		double w = 1;
		size_t off = 0;
		int inside = 1;
		for (uint32_t a = 0; a < s->r; a++) {
			int hi = (int)((corner >> (s->r - 1 - a)) & 1u);
			int64_t i = lo[a] + hi;
			w *= hi ? f[a] : 1 - f[a];
			if (i < 0 || i >= s->in[a])
				inside = 0;
			off = off * (size_t)s->in[a] + (size_t)(i < 0 ? 0 : i);
		}
		if (inside && w != 0)
			v += w * eml_ld_f(X->data, X->dtype, base + off);
	}
	return v;
}

/* dc_sample for the common case: 2-D float32. */
static double dc_sample_f2(const float *x, int64_t H, int64_t W, double h, double w)
{
	if (h <= -1 || h >= (double)H || w <= -1 || w >= (double)W)
		return 0;
	double fh0 = floor(h), fw0 = floor(w);
	int64_t h0 = (int64_t)fh0, w0 = (int64_t)fw0;
	double fh = h - fh0, fw = w - fw0;
	int top = h0 >= 0, bot = h0 + 1 < H, left = w0 >= 0, right = w0 + 1 < W;
	double v00 = top && left ? x[h0 * W + w0] : 0;
	double v01 = top && right ? x[h0 * W + w0 + 1] : 0;
	double v10 = bot && left ? x[(h0 + 1) * W + w0] : 0;
	double v11 = bot && right ? x[(h0 + 1) * W + w0 + 1] : 0;
	return (1 - fh) * ((1 - fw) * v00 + fw * v01) + fh * ((1 - fw) * v10 + fw * v11);
}

/* The gather of one batch item over output positions [o0, o1): col[ch][k][o]. Positions are
 * independent, so ranges run on the plan's threads. */
typedef struct dc_job {
	const dc_state *s;
	const eml_rt *X, *O, *M;
	int64_t n;
	double *col;
	float *colf;
} dc_job;

static void dc_gather(void *ctx, size_t o0, size_t o1)
{
	const dc_job *j = ctx;
	const dc_state *s = j->s;
	const eml_rt *X = j->X, *O = j->O, *M = j->M;
	uint32_t r = s->r;
	int64_t n = j->n, C = X->dims[1], cpog = C / s->ogroup;
	uint64_t K = s->K, P = s->P;
	for (uint64_t o = o0; o < o1; o++) {
		int64_t oi[DC_MAX_R];
		uint64_t rem = o;
		for (int a = (int)r - 1; a >= 0; a--) {
			oi[a] = (int64_t)(rem % (uint64_t)s->out[a]);
			rem /= (uint64_t)s->out[a];
		}
		for (uint64_t k = 0; k < K; k++) {
			int64_t ki[DC_MAX_R];
			uint64_t kr = k;
			for (int a = (int)r - 1; a >= 0; a--) {
				ki[a] = (int64_t)(kr % (uint64_t)s->k[a]);
				kr /= (uint64_t)s->k[a];
			}
			for (int64_t g = 0; g < s->ogroup; g++) {
				double p[DC_MAX_R];
				for (uint32_t a = 0; a < r; a++) {
					size_t oo = ((size_t)n * (size_t)O->dims[1] +
					             (size_t)((uint64_t)g * K * r + k * r + a)) *
					                P +
					            o;
					p[a] = (double)(oi[a] * s->st[a] - s->pad[a] +
					                ki[a] * s->dil[a]) +
					       eml_ld_f(O->data, O->dtype, oo);
				}
				double mk = 1;
				if (M != NULL)
					mk = eml_ld_f(M->data, M->dtype,
					              ((size_t)n * (size_t)M->dims[1] +
					               (size_t)((uint64_t)g * K + k)) *
					                      P +
					                  o);
				for (int64_t ch = g * cpog; ch < (g + 1) * cpog; ch++) {
					size_t base = ((size_t)n * (size_t)C + (size_t)ch) * s->I;
					double v =
					    mk * (s->f32 && r == 2
					              ? dc_sample_f2((const float *)X->data + base,
					                             s->in[0], s->in[1], p[0], p[1])
					              : dc_sample(s, X, base, p));
					if (s->f32)
						j->colf[((uint64_t)ch * K + k) * P + o] = (float)v;
					else
						j->col[((uint64_t)ch * K + k) * P + o] = v;
				}
			}
		}
	}
}

static int dc_run(eml_op_ctx *c)
{
	const dc_state *s = c->state;
	const eml_rt *X = c->in[0], *W = c->in[1], *O = c->in[2];
	const eml_rt *B = c->n_in > 3 ? c->in[3] : NULL, *M = c->n_in > 4 ? c->in[4] : NULL;
	eml_rt *Y = c->out[0];
	int64_t N = X->dims[0], C = X->dims[1], OC = W->dims[0];
	int64_t cpg = C / s->group, ocpg = OC / s->group;
	uint64_t K = s->K, P = s->P;
	double *col = c->scratch; /* [C][K][P] (double path) */
	float *colf = c->scratch; /* [C][K][P] (float32 path) */
	for (int64_t n = 0; n < N; n++) {
		dc_job job = {s, X, O, M, n, col, colf};
		eml_parallel_for(c->pool, c->threads, (size_t)P, 64, dc_gather, &job);
		if (s->f32) {
			/* per group: Y[ocpg x P] = W_g[ocpg x cpg*K] * cols_g[cpg*K x P] + B_g */
			void *work = (char *)c->scratch + s->col_bytes;
			size_t kk = (size_t)((uint64_t)cpg * K);
			for (int64_t g = 0; g < s->group; g++) {
				eml_epilogue ep;
				memset(&ep, 0, sizeof(ep));
				if (B != NULL) {
					ep.bias_kind = EML_BIAS_ROW;
					ep.bias = (const float *)B->data + g * ocpg;
				}
				eml_sgemm(c->pool, (size_t)ocpg, (size_t)P, kk, 1.0f,
				          (const float *)W->data + (size_t)(g * ocpg) * kk, kk, 0,
				          colf + (size_t)g * kk * P, (size_t)P, 0, NULL,
				          (float *)Y->data +
				              ((size_t)n * (size_t)OC + (size_t)(g * ocpg)) * P,
				          (size_t)P, &ep, work);
			}
			continue;
		}
		/* y[n, oc, o] = B[oc] + sum over the group's channels and taps of W * col */
		for (int64_t oc = 0; oc < OC; oc++) {
			int64_t g = oc / ocpg;
			for (uint64_t o = 0; o < P; o++) {
				double acc =
				    B != NULL ? eml_ld_f(B->data, B->dtype, (size_t)oc) : 0;
				for (int64_t ci = 0; ci < cpg; ci++) {
					int64_t ch = g * cpg + ci;
					for (uint64_t k = 0; k < K; k++)
						acc += eml_ld_f(
						           W->data, W->dtype,
						           ((size_t)oc * (size_t)cpg + (size_t)ci) *
						                   K +
						               k) *
						       col[((uint64_t)ch * K + k) * P + o];
				}
				eml_st_f(Y->data, Y->dtype,
				         ((size_t)n * (size_t)OC + (size_t)oc) * P + o, acc);
			}
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_deformconv = {"DeformConv", 19, 20, dc_prep, dc_run, NULL, NULL};
