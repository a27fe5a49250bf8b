/*
 * The quantized family (ONNX operator docs, opsets 10-18): QuantizeLinear, DequantizeLinear
 * (per-tensor, or per-axis from 13), DynamicQuantizeLinear (11+), MatMulInteger, QLinearMatMul,
 * ConvInteger, QLinearConv.
 * Products of 8-bit operands accumulate in int32 (integer kernels; the zero points are subtracted
 * from the 8-bit values, never widened to float); requantization is round-half-to-even of
 * acc * (a_scale * b_scale / y_scale) plus the output zero point, saturated to the 8-bit range,
 * as the ONNX reference computes it.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

static int q8(int32_t dt)
{
	return dt == EML_DT_UINT8 || dt == EML_DT_INT8;
}

static int64_t sat(int32_t dt, double v)
{
	double lo = dt == EML_DT_UINT8 ? 0 : (dt == EML_DT_INT8 ? -128 : -2147483648.0);
	double hi = dt == EML_DT_UINT8 ? 255 : (dt == EML_DT_INT8 ? 127 : 2147483647.0);
	return (int64_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* ----- QuantizeLinear / DequantizeLinear ----- */

typedef struct ql_state {
	int deq;
	uint64_t axis_n, inner; /* per-axis: channel = (i / inner) % axis_n */
} ql_state;

static int ql_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	ql_state *s;
	EML_ENSURE(c->n_in >= 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->deq = strcmp(c->node->op_type, "DequantizeLinear") == 0;
	const eml_rt *X = c->in[0], *Sc = c->in[1];
	const eml_rt *Z = c->n_in > 2 ? c->in[2] : NULL;
	EML_ENSURE(Sc->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
	if (s->deq)
		EML_ENSURE(q8(X->dtype) || X->dtype == EML_DT_INT32, EML_E_ENGINE_SHAPE);
	else
		EML_ENSURE(X->dtype == EML_DT_FLOAT || X->dtype == EML_DT_INT32,
		           EML_E_ENGINE_SHAPE);
	if (Z != NULL) {
		EML_ENSURE(Z->elems == Sc->elems, EML_E_ENGINE_SHAPE);
		EML_ENSURE(s->deq ? Z->dtype == X->dtype : q8(Z->dtype), EML_E_ENGINE_SHAPE);
	}
	s->axis_n = 1;
	s->inner = 1;
	if (Sc->elems != 1 || Sc->rank == 1) {
		if (Sc->elems != 1) {
			/* per-axis (opset 13+): a 1-D scale along `axis` */
			EML_ENSURE(c->opset >= 13 && Sc->rank == 1, EML_E_ENGINE_SHAPE);
			uint32_t ax;
			EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", 1), X->rank, &ax));
			EML_ENSURE(X->dims[ax] == Sc->dims[0], EML_E_ENGINE_SHAPE);
			s->axis_n = (uint64_t)Sc->dims[0];
			for (uint32_t i = ax + 1; i < X->rank; i++)
				s->inner *= (uint64_t)X->dims[i];
		}
	}
	int32_t odt = s->deq ? EML_DT_FLOAT : (Z != NULL ? Z->dtype : EML_DT_UINT8);
	EML_GUARD(eml_rt_set(c->out[0], odt, X->rank, X->dims));
out:
	return rc;
}

static int ql_run(eml_op_ctx *c)
{
	const ql_state *s = c->state;
	const eml_rt *X = c->in[0], *Sc = c->in[1];
	const eml_rt *Z = c->n_in > 2 ? c->in[2] : NULL;
	eml_rt *Y = c->out[0];
	const float *sc = Sc->data;
	for (uint64_t i = 0; i < X->elems; i++) {
		uint64_t ch = (i / s->inner) % s->axis_n;
		int64_t zp = Z != NULL ? eml_ld_i(Z->data, Z->dtype, ch) : 0;
		if (s->deq) {
			int64_t v = eml_ld_i(X->data, X->dtype, i);
			((float *)Y->data)[i] = (float)(v - zp) * sc[ch];
		} else {
			/* float division then round half to even, as the reference does */
			float q = eml_ld_f(X->data, X->dtype, i) / sc[ch];
			eml_st_i(Y->data, Y->dtype, i, sat(Y->dtype, nearbyintf(q) + (double)zp));
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_qlinear = {"*qlinear", 10, 18, ql_prep, ql_run, NULL, NULL};

/* ----- DynamicQuantizeLinear ----- */

static int dql_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->n_in == 1 && c->in[0] && c->n_out == 3, EML_E_ENGINE_SHAPE);
	EML_ENSURE(c->in[0]->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
	if (c->out[0] != NULL)
		EML_GUARD(eml_rt_set(c->out[0], EML_DT_UINT8, c->in[0]->rank, c->in[0]->dims));
	if (c->out[1] != NULL)
		EML_GUARD(eml_rt_set(c->out[1], EML_DT_FLOAT, 0, NULL));
	if (c->out[2] != NULL)
		EML_GUARD(eml_rt_set(c->out[2], EML_DT_UINT8, 0, NULL));
out:
	return rc;
}

static int dql_run(eml_op_ctx *c)
{
	const eml_rt *X = c->in[0];
	const float *x = X->data;
	float mn = 0, mx = 0; /* the range always includes 0 */
	for (uint64_t i = 0; i < X->elems; i++) {
		if (x[i] < mn)
			mn = x[i];
		if (x[i] > mx)
			mx = x[i];
	}
	float scale = (mx - mn) / 255.0f;
	float zpf = scale != 0 ? nearbyintf(0.0f - mn / scale) : 0;
	uint8_t zp = (uint8_t)sat(EML_DT_UINT8, zpf);
	if (c->out[0] != NULL)
		for (uint64_t i = 0; i < X->elems; i++)
			((uint8_t *)c->out[0]->data)[i] = (uint8_t)sat(
			    EML_DT_UINT8, (scale != 0 ? nearbyintf(x[i] / scale) : 0) + (double)zp);
	if (c->out[1] != NULL)
		*(float *)c->out[1]->data = scale;
	if (c->out[2] != NULL)
		*(uint8_t *)c->out[2]->data = zp;
	return EML_OK;
}

const eml_op_def eml_op_dynquant = {"DynamicQuantizeLinear", 11, 18, dql_prep, dql_run, NULL, NULL};

/* ----- MatMulInteger / QLinearMatMul ----- */

typedef struct qmm_state {
	int qlinear;
	/* operand indices */
	int ia, ib, iaz, ibz, ias, ibs, iys, iyz;
	uint32_t rank;
	int64_t M, K, N;
	int64_t od[EML_MAX_RANK];
	int64_t ast[EML_MAX_RANK], bst[EML_MAX_RANK]; /* batch strides (in matrices) */
} qmm_state;

static const eml_rt *opt_in(const eml_op_ctx *c, int i)
{
	return i >= 0 && (uint32_t)i < c->n_in ? c->in[i] : NULL;
}

static int qmm_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	qmm_state *s;
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->qlinear = strcmp(c->node->op_type, "QLinearMatMul") == 0;
	if (s->qlinear) {
		EML_ENSURE(c->n_in == 8, EML_E_ENGINE_SHAPE);
		s->ia = 0, s->ias = 1, s->iaz = 2, s->ib = 3, s->ibs = 4, s->ibz = 5, s->iys = 6,
		s->iyz = 7;
		for (int k = 0; k < 8; k++)
			EML_ENSURE(c->in[k] != NULL, EML_E_ENGINE_SHAPE);
	} else {
		EML_ENSURE(c->n_in >= 2, EML_E_ENGINE_SHAPE);
		s->ia = 0, s->ib = 1, s->iaz = 2, s->ibz = 3,
		s->ias = s->ibs = s->iys = s->iyz = -1;
	}
	EML_ENSURE(c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	const eml_rt *A = c->in[s->ia], *B = c->in[s->ib];
	EML_ENSURE(A != NULL && B != NULL && q8(A->dtype) && q8(B->dtype), EML_E_ENGINE_SHAPE);
	EML_ENSURE(A->rank >= 1 && B->rank >= 1, EML_E_ENGINE_SHAPE);
	int64_t ad[EML_MAX_RANK], bd[EML_MAX_RANK];
	uint32_t ar = A->rank, br = B->rank;
	memcpy(ad, A->dims, sizeof(ad));
	memcpy(bd, B->dims, sizeof(bd));
	int a1 = ar == 1, b1 = br == 1;
	if (a1) {
		ad[1] = ad[0];
		ad[0] = 1;
		ar = 2;
	}
	if (b1) {
		bd[1] = 1;
		br = 2;
	}
	s->M = ad[ar - 2];
	s->K = ad[ar - 1];
	s->N = bd[br - 1];
	EML_ENSURE(bd[br - 2] == s->K, EML_E_ENGINE_SHAPE);
	uint32_t r;
	int64_t bdims[EML_MAX_RANK];
	EML_GUARD(eml_bcast_shape(ar - 2, ad, br - 2, bd, &r, bdims));
	/* batch strides in matrices, right-aligned, 0 where broadcast */
	int64_t sa = 1, sb = 1;
	for (int d = (int)r - 1; d >= 0; d--) {
		int da = d - ((int)r - (int)(ar - 2)), db = d - ((int)r - (int)(br - 2));
		s->ast[d] = (da < 0 || ad[da] == 1) ? 0 : sa;
		s->bst[d] = (db < 0 || bd[db] == 1) ? 0 : sb;
		if (da >= 0)
			sa *= ad[da];
		if (db >= 0)
			sb *= bd[db];
	}
	s->rank = r;
	int64_t od[EML_MAX_RANK];
	memcpy(od, bdims, r * sizeof(int64_t));
	uint32_t orank = r;
	if (!a1)
		od[orank++] = s->M;
	if (!b1)
		od[orank++] = s->N;
	memcpy(s->od, bdims, sizeof(s->od));
	const eml_rt *az = opt_in(c, s->iaz), *bz = opt_in(c, s->ibz);
	if (az != NULL)
		EML_ENSURE(az->dtype == A->dtype && (az->elems == 1 || az->elems == (uint64_t)s->M),
		           EML_E_ENGINE_SHAPE);
	if (bz != NULL)
		EML_ENSURE(bz->dtype == B->dtype && (bz->elems == 1 || bz->elems == (uint64_t)s->N),
		           EML_E_ENGINE_SHAPE);
	int32_t odt = EML_DT_INT32;
	if (s->qlinear) {
		const eml_rt *as = c->in[s->ias], *bs = c->in[s->ibs], *ys = c->in[s->iys];
		const eml_rt *yz = c->in[s->iyz];
		EML_ENSURE(as->dtype == EML_DT_FLOAT && bs->dtype == EML_DT_FLOAT &&
		               ys->dtype == EML_DT_FLOAT && ys->elems == 1 && q8(yz->dtype) &&
		               yz->elems == 1,
		           EML_E_ENGINE_SHAPE);
		EML_ENSURE(as->elems == 1 || as->elems == (uint64_t)s->M, EML_E_ENGINE_SHAPE);
		EML_ENSURE(bs->elems == 1 || bs->elems == (uint64_t)s->N, EML_E_ENGINE_SHAPE);
		odt = yz->dtype;
	}
	EML_GUARD(eml_rt_set(c->out[0], odt, orank, od));
out:
	return rc;
}

static int qmm_run(eml_op_ctx *c)
{
	const qmm_state *s = c->state;
	const eml_rt *A = c->in[s->ia], *B = c->in[s->ib];
	const eml_rt *az = opt_in(c, s->iaz), *bz = opt_in(c, s->ibz);
	eml_rt *Y = c->out[0];
	int64_t M = s->M, K = s->K, N = s->N;
	uint64_t batches = (M > 0 && N > 0) ? Y->elems / (uint64_t)(M * N) : 0;
	for (uint64_t bt = 0; bt < batches; bt++) {
		int64_t ao = 0, bo = 0;
		uint64_t rem = bt;
		for (int d = (int)s->rank - 1; d >= 0; d--) {
			int64_t v = (int64_t)(rem % (uint64_t)s->od[d]);
			rem /= (uint64_t)s->od[d];
			ao += v * s->ast[d];
			bo += v * s->bst[d];
		}
		for (int64_t m = 0; m < M; m++) {
			int32_t za = az ? (int32_t)eml_ld_i(az->data, az->dtype,
			                                    az->elems == 1 ? 0 : (size_t)m)
			                : 0;
			for (int64_t n = 0; n < N; n++) {
				int32_t zb = bz ? (int32_t)eml_ld_i(bz->data, bz->dtype,
				                                    bz->elems == 1 ? 0 : (size_t)n)
				                : 0;
				int32_t acc = 0;
				for (int64_t k = 0; k < K; k++) {
					int32_t a = (int32_t)eml_ld_i(
					    A->data, A->dtype, (size_t)(ao * M * K + m * K + k));
					int32_t b = (int32_t)eml_ld_i(
					    B->data, B->dtype, (size_t)(bo * K * N + k * N + n));
					acc += (a - za) * (b - zb);
				}
				size_t yo =
				    (size_t)(bt * (uint64_t)(M * N) + (uint64_t)(m * N + n));
				if (!s->qlinear) {
					((int32_t *)Y->data)[yo] = acc;
					continue;
				}
				const eml_rt *as = c->in[s->ias], *bs = c->in[s->ibs];
				float sa = ((const float *)as->data)[as->elems == 1 ? 0 : m];
				float sb = ((const float *)bs->data)[bs->elems == 1 ? 0 : n];
				float sy = *(const float *)c->in[s->iys]->data;
				int64_t zy = eml_ld_i(c->in[s->iyz]->data, c->in[s->iyz]->dtype, 0);
				double v =
				    nearbyint((double)acc * ((double)sa * sb / sy)) + (double)zy;
				eml_st_i(Y->data, Y->dtype, yo, sat(Y->dtype, v));
			}
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_qmatmul = {"*qmatmul", 10, 18, qmm_prep, qmm_run, NULL, NULL};

/* ----- ConvInteger / QLinearConv ----- */

#define QC_MAX_SP (EML_MAX_RANK - 2)

typedef struct qconv_state {
	int qlinear;
	int ix, iw, ixz, iwz, ixs, iws, iys, iyz, ib;
	uint32_t nsp;
	int64_t group;
	int64_t k[QC_MAX_SP], st[QC_MAX_SP], dil[QC_MAX_SP], pb[QC_MAX_SP];
} qconv_state;

static int qconv_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	qconv_state *s;
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->qlinear = strcmp(c->node->op_type, "QLinearConv") == 0;
	if (s->qlinear) {
		EML_ENSURE(c->n_in >= 8, EML_E_ENGINE_SHAPE);
		s->ix = 0, s->ixs = 1, s->ixz = 2, s->iw = 3, s->iws = 4, s->iwz = 5, s->iys = 6,
		s->iyz = 7, s->ib = 8;
		for (int k = 0; k < 8; k++)
			EML_ENSURE(c->in[k] != NULL, EML_E_ENGINE_SHAPE);
	} else {
		EML_ENSURE(c->n_in >= 2, EML_E_ENGINE_SHAPE);
		s->ix = 0, s->iw = 1, s->ixz = 2, s->iwz = 3;
		s->ixs = s->iws = s->iys = s->iyz = s->ib = -1;
	}
	const eml_rt *X = c->in[s->ix], *W = c->in[s->iw];
	EML_ENSURE(X && W && c->out[0] && q8(X->dtype) && q8(W->dtype), EML_E_ENGINE_SHAPE);
	EML_ENSURE(X->rank >= 3 && X->rank == W->rank, EML_E_ENGINE_SHAPE);
	s->nsp = X->rank - 2;
	s->group = eml_attr_i(c->node, "group", 1);
	int64_t C = X->dims[1], OC = W->dims[0];
	EML_ENSURE(s->group >= 1 && C % s->group == 0 && OC % s->group == 0 &&
	               W->dims[1] == C / s->group,
	           EML_E_ENGINE_SHAPE);
	uint32_t cnt;
	const int64_t *ks = eml_attr_ints(c->node, "kernel_shape", &cnt);
	EML_ENSURE(ks == NULL || cnt == s->nsp, EML_E_ENGINE_SHAPE);
	const int64_t *st = eml_attr_ints(c->node, "strides", &cnt);
	EML_ENSURE(st == NULL || cnt == s->nsp, EML_E_ENGINE_SHAPE);
	const int64_t *dl = eml_attr_ints(c->node, "dilations", &cnt);
	EML_ENSURE(dl == NULL || cnt == s->nsp, EML_E_ENGINE_SHAPE);
	const int64_t *pd = eml_attr_ints(c->node, "pads", &cnt);
	EML_ENSURE(pd == NULL || cnt == 2 * s->nsp, EML_E_ENGINE_SHAPE);
	int same_up = eml_attr_s_eq(c->node, "auto_pad", "SAME_UPPER", 0);
	int same_lo = eml_attr_s_eq(c->node, "auto_pad", "SAME_LOWER", 0);
	int valid = eml_attr_s_eq(c->node, "auto_pad", "VALID", 0);
	EML_ENSURE(same_up || same_lo || valid || eml_attr_s_eq(c->node, "auto_pad", "NOTSET", 1),
	           EML_E_ENGINE_SHAPE);
	int64_t od[EML_MAX_RANK] = {X->dims[0], OC};
	for (uint32_t i = 0; i < s->nsp; i++) {
		s->k[i] = W->dims[2 + i];
		EML_ENSURE(ks == NULL || ks[i] == s->k[i], EML_E_ENGINE_SHAPE);
		s->st[i] = st ? st[i] : 1;
		s->dil[i] = dl ? dl[i] : 1;
		EML_ENSURE(s->st[i] >= 1 && s->dil[i] >= 1, EML_E_ENGINE_SHAPE);
		int64_t in = X->dims[2 + i], ek = (s->k[i] - 1) * s->dil[i] + 1, o;
		if (same_up || same_lo) {
			o = (in + s->st[i] - 1) / s->st[i];
			int64_t tot = (o - 1) * s->st[i] + ek - in;
			if (tot < 0)
				tot = 0;
			s->pb[i] = same_up ? tot / 2 : tot - tot / 2;
		} else if (valid) {
			o = (in - ek) / s->st[i] + 1;
			s->pb[i] = 0;
		} else {
			int64_t pb = pd ? pd[i] : 0, pe = pd ? pd[s->nsp + i] : 0;
			EML_ENSURE(pb >= 0 && pe >= 0, EML_E_ENGINE_SHAPE);
			o = (in + pb + pe - ek) / s->st[i] + 1;
			s->pb[i] = pb;
		}
		EML_ENSURE(o >= 1, EML_E_ENGINE_SHAPE);
		od[2 + i] = o;
	}
	const eml_rt *xz = opt_in(c, s->ixz), *wz = opt_in(c, s->iwz);
	if (xz != NULL)
		EML_ENSURE(xz->dtype == X->dtype && xz->elems == 1, EML_E_ENGINE_SHAPE);
	if (wz != NULL)
		EML_ENSURE(wz->dtype == W->dtype && (wz->elems == 1 || wz->elems == (uint64_t)OC),
		           EML_E_ENGINE_SHAPE);
	int32_t odt = EML_DT_INT32;
	if (s->qlinear) {
		const eml_rt *xs = c->in[s->ixs], *ws = c->in[s->iws], *ys = c->in[s->iys];
		const eml_rt *yz = c->in[s->iyz], *B = opt_in(c, s->ib);
		EML_ENSURE(xs->dtype == EML_DT_FLOAT && xs->elems == 1 &&
		               ws->dtype == EML_DT_FLOAT &&
		               (ws->elems == 1 || ws->elems == (uint64_t)OC) &&
		               ys->dtype == EML_DT_FLOAT && ys->elems == 1 && q8(yz->dtype) &&
		               yz->elems == 1,
		           EML_E_ENGINE_SHAPE);
		if (B != NULL)
			EML_ENSURE(B->dtype == EML_DT_INT32 && B->elems == (uint64_t)OC,
			           EML_E_ENGINE_SHAPE);
		odt = yz->dtype;
	}
	EML_GUARD(eml_rt_set(c->out[0], odt, X->rank, od));
out:
	return rc;
}

static int qconv_run(eml_op_ctx *c)
{
	const qconv_state *s = c->state;
	const eml_rt *X = c->in[s->ix], *W = c->in[s->iw];
	const eml_rt *xz = opt_in(c, s->ixz), *wz = opt_in(c, s->iwz);
	eml_rt *Y = c->out[0];
	uint32_t nsp = s->nsp;
	int64_t N = X->dims[0], C = X->dims[1], OC = W->dims[0], G = s->group;
	int64_t CG = C / G, OG = OC / G;
	uint64_t osp = 1, isp = 1, ksp = 1;
	for (uint32_t i = 0; i < nsp; i++) {
		osp *= (uint64_t)Y->dims[2 + i];
		isp *= (uint64_t)X->dims[2 + i];
		ksp *= (uint64_t)s->k[i];
	}
	int32_t zx = xz ? (int32_t)eml_ld_i(xz->data, xz->dtype, 0) : 0;
	for (int64_t n = 0; n < N; n++)
		for (int64_t oc = 0; oc < OC; oc++) {
			int64_t g = oc / OG;
			int32_t zw = wz ? (int32_t)eml_ld_i(wz->data, wz->dtype,
			                                    wz->elems == 1 ? 0 : (size_t)oc)
			                : 0;
			for (uint64_t op = 0; op < osp; op++) {
				int64_t oi[QC_MAX_SP];
				uint64_t rem = op;
				for (int d = (int)nsp - 1; d >= 0; d--) {
					oi[d] = (int64_t)(rem % (uint64_t)Y->dims[2 + d]);
					rem /= (uint64_t)Y->dims[2 + d];
				}
				int32_t acc = 0;
				for (uint64_t kp = 0; kp < ksp; kp++) {
					int64_t ki[QC_MAX_SP];
					uint64_t kr = kp;
					for (int d = (int)nsp - 1; d >= 0; d--) {
						ki[d] = (int64_t)(kr % (uint64_t)s->k[d]);
						kr /= (uint64_t)s->k[d];
					}
					int64_t xo = 0;
					int inside = 1;
					for (uint32_t d = 0; d < nsp && inside; d++) {
						int64_t p =
						    oi[d] * s->st[d] + ki[d] * s->dil[d] - s->pb[d];
						inside = p >= 0 && p < X->dims[2 + d];
						xo = xo * X->dims[2 + d] + p;
					}
					if (!inside)
						continue; /* padding holds the zero point: (zx - zx) = 0 */
					for (int64_t ic = 0; ic < CG; ic++) {
						size_t xi =
						    (size_t)((uint64_t)(n * C + g * CG + ic) * isp +
						             (uint64_t)xo);
						size_t wi =
						    (size_t)((uint64_t)(oc * CG + ic) * ksp + kp);
						acc +=
						    ((int32_t)eml_ld_i(X->data, X->dtype, xi) -
						     zx) *
						    ((int32_t)eml_ld_i(W->data, W->dtype, wi) - zw);
					}
				}
				size_t yo = (size_t)((uint64_t)(n * OC + oc) * osp + op);
				if (!s->qlinear) {
					((int32_t *)Y->data)[yo] = acc;
					continue;
				}
				const eml_rt *ws = c->in[s->iws], *B = opt_in(c, s->ib);
				if (B != NULL)
					acc += ((const int32_t *)B->data)[oc];
				float sx = *(const float *)c->in[s->ixs]->data;
				float sw = ((const float *)ws->data)[ws->elems == 1 ? 0 : oc];
				float sy = *(const float *)c->in[s->iys]->data;
				int64_t zy = eml_ld_i(c->in[s->iyz]->data, c->in[s->iyz]->dtype, 0);
				double v =
				    nearbyint((double)acc * ((double)sx * sw / sy)) + (double)zy;
				eml_st_i(Y->data, Y->dtype, yo, sat(Y->dtype, v));
			}
		}
	return EML_OK;
}

const eml_op_def eml_op_qconv = {"*qconv", 10, 18, qconv_prep, qconv_run, NULL, NULL};
