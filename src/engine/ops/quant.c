/*
 * The quantized family (ONNX operator docs, opsets 10-20): QuantizeLinear, DequantizeLinear
 * (per-tensor, or per-axis from 13; from 19 also a float16 scale and, for QuantizeLinear, a
 * float16 input, DequantizeLinear's output taking the scale's type; their float8 types and the
 * float8-only `saturate` attribute are refused with the types by the loader),
 * DynamicQuantizeLinear (11+), MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv.
 * Products of 8-bit operands accumulate in int32 on the integer GEMM (kernels/qgemm.h: AVX-512
 * VNNI, AVX2 or portable, exact; never widened to float); constant weights are packed once at
 * assembly. Convolutions: im2col rows (one output pixel each) times the packed weights per
 * group, or a direct loop for depthwise groups. Requantization is round-half-to-even of
 * acc * (a_scale * b_scale / y_scale) plus the output zero point, saturated to the 8-bit range,
 * as the ONNX reference computes it.
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "engine/internal.h"
#include "engine/kernels/qgemm.h"
#include "engine/kernels/qgemm_internal.h"
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
	int f16_ok = c->opset >= 19; /* Q/DQ-19 add float16 (and bfloat16/float8: not loaded) */
	EML_ENSURE(Sc->dtype == EML_DT_FLOAT || (f16_ok && Sc->dtype == EML_DT_FLOAT16),
	           EML_E_ENGINE_SHAPE);
	if (s->deq)
		EML_ENSURE(q8(X->dtype) || X->dtype == EML_DT_INT32, EML_E_ENGINE_SHAPE);
	else
		EML_ENSURE(X->dtype == EML_DT_FLOAT || X->dtype == EML_DT_INT32 ||
		               (f16_ok && X->dtype == EML_DT_FLOAT16),
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
	int32_t odt = s->deq ? Sc->dtype : (Z != NULL ? Z->dtype : EML_DT_UINT8);
	/* a float16 initializer scale reaches us widened to float: the output still takes the
	 * scale's declared type (DequantizeLinear-19) */
	if (s->deq && f16_ok && Sc->dtype == EML_DT_FLOAT &&
	    eml_build_value_dtype(c->b, c->node->inputs[1]) == EML_DT_FLOAT16)
		odt = EML_DT_FLOAT16;
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
	for (uint64_t i = 0; i < X->elems; i++) {
		uint64_t ch = (i / s->inner) % s->axis_n;
		int64_t zp = Z != NULL ? eml_ld_i(Z->data, Z->dtype, ch) : 0;
		/* a float16 scale widens exactly to float; the arithmetic is float32 */
		float sc = (float)eml_ld_f(Sc->data, Sc->dtype, ch);
		if (s->deq) {
			int64_t v = eml_ld_i(X->data, X->dtype, i);
			float r = (float)(v - zp) * sc;
			if (Y->dtype == EML_DT_FLOAT)
				((float *)Y->data)[i] = r;
			else
				eml_st_f(Y->data, Y->dtype, i, r);
		} else {
			/* float division then round half to even, as the reference does */
			float q = (float)eml_ld_f(X->data, X->dtype, i) / sc;
			eml_st_i(Y->data, Y->dtype, i, sat(Y->dtype, nearbyintf(q) + (double)zp));
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_qlinear = {"*qlinear", 10, 20, ql_prep, ql_run, NULL, NULL};

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

/* The AVX2 passes, referenced only where they are built. */
static void dql_minmax_simd(const float *x, size_t n, float *mn, float *mx)
{
#if defined(__x86_64__)
	eml_minmax_avx2(x, n, mn, mx);
#else
	(void)x, (void)n, (void)mn, (void)mx;
#endif
}

static void dql_quant_simd(const float *x, size_t n, float scale, int32_t zp, uint8_t *y)
{
#if defined(__x86_64__)
	eml_quant_u8_avx2(x, n, scale, zp, y);
#else
	(void)x, (void)n, (void)scale, (void)zp, (void)y;
#endif
}

static int dql_run(eml_op_ctx *c)
{
	const eml_rt *X = c->in[0];
	const float *x = X->data;
	float mn = 0, mx = 0; /* the range always includes 0 */
#if defined(__x86_64__)
	__builtin_cpu_init();
	int avx2 = __builtin_cpu_supports("avx2");
#else
	int avx2 = 0; /* the AVX2 passes are built for x86-64 only (CMakeLists.txt) */
#endif
	if (avx2) {
		dql_minmax_simd(x, X->elems, &mn, &mx);
	} else {
		for (uint64_t i = 0; i < X->elems; i++) {
			if (x[i] < mn)
				mn = x[i];
			if (x[i] > mx)
				mx = x[i];
		}
	}
	float scale = (mx - mn) / 255.0f;
	float zpf = scale != 0 ? nearbyintf(0.0f - mn / scale) : 0;
	uint8_t zp = (uint8_t)sat(EML_DT_UINT8, zpf);
	if (c->out[0] != NULL) {
		uint8_t *y = c->out[0]->data;
		if (scale == 0)
			memset(y, zp, X->elems);
		else if (avx2)
			dql_quant_simd(x, X->elems, scale, zp, y);
		else
			for (uint64_t i = 0; i < X->elems; i++)
				y[i] = (uint8_t)sat(EML_DT_UINT8,
				                    nearbyintf(x[i] / scale) + (double)zp);
	}
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
	const eml_rt *packed; /* B packed at assembly (constant, shared by all batches) */
	size_t pk_bytes, work_bytes;
} qmm_state;

/* Scratch carving: 64-byte aligned pieces. */
static size_t al64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static void zp32(const eml_rt *z, int32_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] =
		    z == NULL ? 0 : (int32_t)eml_ld_i(z->data, z->dtype, z->elems == 1 ? 0 : i);
}

/* y = saturate(round_half_even(acc * (sa * sb / sy)) + zy), in double as the ONNX reference */
static int64_t requant(int32_t acc, float sa, float sb, float sy, int64_t zy, int32_t dt)
{
	return sat(dt, nearbyint((double)acc * ((double)sa * sb / sy)) + (double)zy);
}

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
	int b_shared = 1;
	for (uint32_t d = 0; d < s->rank; d++)
		if (s->bst[d] != 0 && bdims[d] != 1)
			b_shared = 0;
	size_t M = (size_t)s->M, N = (size_t)s->N, K = (size_t)s->K;
	s->pk_bytes = al64(eml_qgemm_packed_b_size(K, N));
	s->work_bytes = al64(eml_qgemm_work_size(M, K));
	if (b_shared && B->kind == EML_RT_CONST && (bz == NULL || bz->kind == EML_RT_CONST) &&
	    c->b != NULL && M * N * K > 0) {
		eml_rt *pk;
		int64_t d = (int64_t)s->pk_bytes;
		int32_t *zb = eml_alloc(N * sizeof(int32_t));
		EML_ENSURE(zb != NULL, EML_E_NOMEM);
		zp32(bz, zb, N);
		rc = eml_build_new_const(c->b, EML_DT_UINT8, 1, &d, &pk);
		if (rc == EML_OK)
			eml_qgemm_pack_b(B->data, B->dtype == EML_DT_INT8, N, 0, K, N, zb, N,
			                 pk->data);
		eml_free(zb);
		EML_GUARD(rc);
		EML_GUARD(eml_op_add_input(c, pk));
		s->packed = pk;
		c->in[s->ib] = NULL; /* run reads only the packed copy */
	}
	c->scratch_bytes = (s->packed ? 0 : s->pk_bytes) + s->work_bytes + al64(M * 4) +
	                   al64(N * 4) + (s->qlinear ? al64(M * N * 4) : 0);
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
	const eml_rt *A = c->in[s->ia], *B = s->packed ? NULL : c->in[s->ib];
	const eml_rt *az = opt_in(c, s->iaz), *bz = opt_in(c, s->ibz);
	eml_rt *Y = c->out[0];
	size_t M = (size_t)s->M, K = (size_t)s->K, N = (size_t)s->N;
	uint64_t batches = (M > 0 && N > 0) ? Y->elems / (uint64_t)(M * N) : 0;
	uint8_t *sc = c->scratch;
	void *pk = s->packed ? s->packed->data : sc;
	sc += s->packed ? 0 : s->pk_bytes;
	void *work = sc;
	sc += s->work_bytes;
	int32_t *za = (int32_t *)(void *)sc;
	sc += al64(M * 4);
	int32_t *zb = (int32_t *)(void *)sc;
	sc += al64(N * 4);
	int32_t *acc = (int32_t *)(void *)sc;
	zp32(az, za, M);
	zp32(bz, zb, N);
	for (uint64_t bt = 0; bt < batches; bt++) {
		int64_t ao = 0, bo = 0;
		uint64_t rem = bt;
		for (int d = (int)s->rank - 1; d >= 0; d--) {
			int64_t v = (int64_t)(rem % (uint64_t)s->od[d]);
			rem /= (uint64_t)s->od[d];
			ao += v * s->ast[d];
			bo += v * s->bst[d];
		}
		if (K == 0) {
			/* empty sums */
			for (size_t i = 0; i < M * N; i++)
				if (!s->qlinear)
					((int32_t *)Y->data)[bt * M * N + i] = 0;
				else
					acc[i] = 0;
		} else {
			if (B != NULL)
				eml_qgemm_pack_b((const uint8_t *)B->data + (size_t)bo * K * N,
				                 B->dtype == EML_DT_INT8, N, 0, K, N, zb, N, pk);
			int32_t *C = s->qlinear ? acc : (int32_t *)Y->data + bt * M * N;
			eml_qgemm(c->pool, c->threads, M, N, K,
			          (const uint8_t *)A->data + (size_t)ao * M * K,
			          A->dtype == EML_DT_INT8, K, za, M, pk, C, N, work);
		}
		if (!s->qlinear)
			continue;
		const eml_rt *as = c->in[s->ias], *bs = c->in[s->ibs];
		float sy = *(const float *)c->in[s->iys]->data;
		int64_t zy = eml_ld_i(c->in[s->iyz]->data, c->in[s->iyz]->dtype, 0);
		for (size_t m = 0; m < M; m++) {
			float sa = ((const float *)as->data)[as->elems == 1 ? 0 : m];
			for (size_t n = 0; n < N; n++) {
				float sb = ((const float *)bs->data)[bs->elems == 1 ? 0 : n];
				eml_st_i(Y->data, Y->dtype, (size_t)(bt * M * N + m * N + n),
				         requant(acc[m * N + n], sa, sb, sy, zy, Y->dtype));
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
	/* GEMM path (not depthwise): per group, im2col rows [P, Kc] times W_g^T [Kc, OG] */
	int gemm;
	/* 2-D depthwise: the channel plane, zero point subtracted and padded, as int16 */
	int dw2;
	int64_t ph, pw; /* padded plane height and width */
	int one;        /* 1x1, stride 1, no padding: the input is the column matrix */
	size_t P, Kc, OG, pk_bytes, work_bytes;
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
	{
		size_t P = 1, ksp = 1;
		for (uint32_t i = 0; i < s->nsp; i++) {
			P *= (size_t)od[2 + i];
			ksp *= (size_t)s->k[i];
		}
		size_t OG = (size_t)(OC / s->group), Kc = (size_t)(C / s->group) * ksp;
		s->P = P;
		s->Kc = Kc;
		s->OG = OG;
		/* depthwise (one input channel per group) runs the direct loop */
		s->gemm = C / s->group > 1 || OG > 1;
		if (!s->gemm && s->nsp == 2) {
			s->dw2 = 1;
			int64_t need_h = (od[2] - 1) * s->st[0] + (s->k[0] - 1) * s->dil[0] + 1;
			int64_t need_w = (od[3] - 1) * s->st[1] + (s->k[1] - 1) * s->dil[1] + 1;
			s->ph = X->dims[2] + s->pb[0] > need_h ? X->dims[2] + s->pb[0] : need_h;
			s->pw = X->dims[3] + s->pb[1] > need_w ? X->dims[3] + s->pb[1] : need_w;
			c->scratch_bytes = al64((size_t)(s->ph * s->pw) * 2) +
			                   al64((size_t)od[3] * 4) + al64(ksp * 4);
		}
		if (s->gemm && P * Kc * OG > 0) {
			/* C[OG, P] = W_g[OG, Kc] * cols[Kc, P]: the weights are the left operand
			 * (rows made unsigned by the kernel), the image columns are packed per
			 * request; the result is already in NCHW order. A 1x1 stride-1 unpadded
			 * convolution uses the input plane itself as cols. */
			int one = 1;
			for (uint32_t i = 0; i < s->nsp; i++)
				one = one && s->k[i] == 1 && s->st[i] == 1 && s->pb[i] == 0 &&
				      od[2 + i] == X->dims[2 + i];
			s->one = one;
			s->pk_bytes = al64(eml_qgemm_packed_b_size(Kc, P));
			s->work_bytes = al64(eml_qgemm_work_size(OG, Kc));
			c->scratch_bytes = (one ? 0 : al64(P * Kc)) + s->pk_bytes + s->work_bytes +
			                   al64((size_t)OC * 4) +
			                   (s->qlinear ? al64(P * OG * 4) : 0);
		}
	}
	EML_GUARD(eml_rt_set(c->out[0], odt, X->rank, od));
out:
	return rc;
}

/* im2col for one image and group: row (input channel, kernel position) holds that tap's input
 * value for every output pixel (cols[Kc, P], the weights' column order); padding holds the zero
 * point (its difference to the zero point is 0, as in the reference). */
static void qconv_im2col(const qconv_state *s, const eml_rt *X, const int64_t *ydims, int64_t n,
                         int64_t g, uint8_t zx, uint8_t *A)
{
	uint32_t nsp = s->nsp;
	int64_t C = X->dims[1], CG = C / s->group;
	uint64_t isp = 1, ksp = 1;
	for (uint32_t i = 0; i < nsp; i++) {
		isp *= (uint64_t)X->dims[2 + i];
		ksp *= (uint64_t)s->k[i];
	}
	const uint8_t *x = (const uint8_t *)X->data + (uint64_t)(n * C + g * CG) * isp;
	size_t P = s->P;
	if (nsp == 2) {
		int64_t IH = X->dims[2], IW = X->dims[3], OH = ydims[2], OW = ydims[3];
		int64_t KH = s->k[0], KW = s->k[1], sh = s->st[0], sw = s->st[1];
		for (int64_t ic = 0; ic < CG; ic++)
			for (int64_t kh = 0; kh < KH; kh++)
				for (int64_t kw = 0; kw < KW; kw++) {
					uint8_t *row = A + (size_t)((ic * KH + kh) * KW + kw) * P;
					const uint8_t *xc = x + (uint64_t)ic * isp;
					int64_t off = kw * s->dil[1] - s->pb[1];
					/* output columns whose input column is inside: [lo, hi) */
					int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
					int64_t hi = IW - off <= 0 ? 0 : (IW - off + sw - 1) / sw;
					if (hi > OW)
						hi = OW;
					if (lo > hi)
						lo = hi;
					for (int64_t oh = 0; oh < OH; oh++) {
						int64_t ih = oh * sh + kh * s->dil[0] - s->pb[0];
						uint8_t *r = row + oh * OW;
						if (ih < 0 || ih >= IH) {
							memset(r, zx, (size_t)OW);
							continue;
						}
						const uint8_t *xr = xc + ih * IW + off;
						memset(r, zx, (size_t)lo);
						if (sw == 1)
							memcpy(r + lo, xr + lo, (size_t)(hi - lo));
						else
							for (int64_t ow = lo; ow < hi; ow++)
								r[ow] = xr[ow * sw];
						memset(r + hi, zx, (size_t)(OW - hi));
					}
				}
		return;
	}
	for (size_t p = 0; p < P; p++) {
		int64_t oi[QC_MAX_SP];
		uint64_t rem = p;
		for (int d = (int)nsp - 1; d >= 0; d--) {
			oi[d] = (int64_t)(rem % (uint64_t)ydims[2 + d]);
			rem /= (uint64_t)ydims[2 + d];
		}
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
				int64_t q = oi[d] * s->st[d] + ki[d] * s->dil[d] - s->pb[d];
				inside = q >= 0 && q < X->dims[2 + d];
				xo = xo * X->dims[2 + d] + q;
			}
			for (int64_t ic = 0; ic < CG; ic++)
				A[((size_t)ic * ksp + kp) * P + p] =
				    inside ? x[(uint64_t)ic * isp + (uint64_t)xo] : zx;
		}
	}
}

/* Store n int32 results of output channel oc (ConvInteger), or requantize them (QLinearConv:
 * saturate(round_half_even((acc + bias) * (sx * sw / sy)) + zy), the multiplier in double as
 * the reference computes it, hoisted out of the loop). */
static void qconv_store_n(eml_op_ctx *c, const qconv_state *s, size_t yo, int64_t oc,
                          const int32_t *acc, size_t n, size_t stride)
{
	eml_rt *Y = c->out[0];
	if (!s->qlinear) {
		int32_t *y = (int32_t *)Y->data + yo;
		for (size_t i = 0; i < n; i++)
			y[i] = acc[i * stride];
		return;
	}
	const eml_rt *ws = c->in[s->iws], *B = opt_in(c, s->ib);
	uint32_t bias = B != NULL ? (uint32_t)((const int32_t *)B->data)[oc] : 0;
	float sx = *(const float *)c->in[s->ixs]->data;
	float sw = ((const float *)ws->data)[ws->elems == 1 ? 0 : oc];
	float sy = *(const float *)c->in[s->iys]->data;
	double mult = (double)sx * sw / sy;
	double zy = (double)eml_ld_i(c->in[s->iyz]->data, c->in[s->iyz]->dtype, 0);
	double lo = Y->dtype == EML_DT_UINT8 ? 0 : -128, hi = Y->dtype == EML_DT_UINT8 ? 255 : 127;
	for (size_t i = 0; i < n; i++) {
		int32_t a = (int32_t)((uint32_t)acc[i * stride] + bias);
		double v = nearbyint((double)a * mult) + zy;
		v = v < lo ? lo : (v > hi ? hi : v);
		if (Y->dtype == EML_DT_UINT8)
			((uint8_t *)Y->data)[yo + i] = (uint8_t)v;
		else
			((int8_t *)Y->data)[yo + i] = (int8_t)v;
	}
}

static int qconv_run_gemm(eml_op_ctx *c)
{
	const qconv_state *s = c->state;
	const eml_rt *X = c->in[s->ix], *W = c->in[s->iw];
	const eml_rt *xz = opt_in(c, s->ixz), *wz = opt_in(c, s->iwz);
	eml_rt *Y = c->out[0];
	int64_t N = X->dims[0], C = X->dims[1], G = s->group, OC = Y->dims[1];
	size_t P = s->P, Kc = s->Kc, OG = s->OG;
	uint8_t *sc = c->scratch;
	uint8_t *cols = sc;
	sc += s->one ? 0 : al64(P * Kc);
	uint8_t *pk = sc;
	sc += s->pk_bytes;
	void *work = sc;
	sc += s->work_bytes;
	int32_t *zw = (int32_t *)(void *)sc;
	sc += al64((size_t)OC * 4);
	int32_t *acc = (int32_t *)(void *)sc;
	int32_t zx = xz ? (int32_t)eml_ld_i(xz->data, xz->dtype, 0) : 0;
	zp32(wz, zw, (size_t)OC);
	int xs = X->dtype == EML_DT_INT8;
	for (int64_t n = 0; n < N; n++)
		for (int64_t g = 0; g < G; g++) {
			const uint8_t *B;
			if (s->one) {
				B = (const uint8_t *)X->data + (uint64_t)(n * C + g * (C / G)) * P;
			} else {
				qconv_im2col(s, X, Y->dims, n, g, (uint8_t)zx, cols);
				B = cols;
			}
			eml_qgemm_pack_b(B, xs, P, 0, Kc, P, &zx, 1, pk);
			size_t yo = (size_t)((uint64_t)(n * OC + g * (int64_t)OG) * P);
			int32_t *out = s->qlinear ? acc : (int32_t *)Y->data + yo;
			eml_qgemm(c->pool, c->threads, OG, P, Kc,
			          (const uint8_t *)W->data + (size_t)g * OG * Kc,
			          W->dtype == EML_DT_INT8, Kc, zw + g * (int64_t)OG, OG, pk, out, P,
			          work);
			if (!s->qlinear)
				continue;
			for (size_t j = 0; j < OG; j++)
				qconv_store_n(c, s, yo + j * P, g * (int64_t)OG + (int64_t)j,
				              acc + j * P, P, 1);
		}
	return EML_OK;
}

/* 2-D depthwise (one input channel per output channel group): per output channel, the input
 * plane minus its zero point in a zero-padded int16 plane, then row sums over the kernel taps
 * (inner loop over output columns, which the compiler vectorizes). Exact int32 sums. */
static int qconv_run_dw2(eml_op_ctx *c)
{
	const qconv_state *s = c->state;
	const eml_rt *X = c->in[s->ix], *W = c->in[s->iw];
	const eml_rt *xz = opt_in(c, s->ixz), *wz = opt_in(c, s->iwz);
	eml_rt *Y = c->out[0];
	int64_t N = X->dims[0], C = X->dims[1], OC = W->dims[0], G = s->group, OG = OC / G;
	int64_t IH = X->dims[2], IW = X->dims[3], OH = Y->dims[2], OW = Y->dims[3];
	int64_t KH = s->k[0], KW = s->k[1], PH = s->ph, PW = s->pw;
	uint8_t *sc = c->scratch;
	int16_t *plane = (int16_t *)(void *)sc;
	sc += al64((size_t)(PH * PW) * 2);
	int32_t *row = (int32_t *)(void *)sc;
	sc += al64((size_t)OW * 4);
	int32_t *wk = (int32_t *)(void *)sc;
	int32_t zx = xz ? (int32_t)eml_ld_i(xz->data, xz->dtype, 0) : 0;
	int xs = X->dtype == EML_DT_INT8, wsg = W->dtype == EML_DT_INT8;
	for (int64_t n = 0; n < N; n++)
		for (int64_t oc = 0; oc < OC; oc++) {
			int64_t ic = oc / OG; /* C == G: one input channel per group */
			if (oc % OG == 0) {
				memset(plane, 0, (size_t)(PH * PW) * 2);
				const uint8_t *x = (const uint8_t *)X->data +
				                   (uint64_t)(n * C + ic) * (uint64_t)(IH * IW);
				for (int64_t h = 0; h < IH; h++) {
					int16_t *d = plane + (h + s->pb[0]) * PW + s->pb[1];
					const uint8_t *xr = x + h * IW;
					if (xs)
						for (int64_t w = 0; w < IW; w++)
							d[w] = (int16_t)((int8_t)xr[w] - zx);
					else
						for (int64_t w = 0; w < IW; w++)
							d[w] = (int16_t)(xr[w] - zx);
				}
			}
			int32_t zw = wz ? (int32_t)eml_ld_i(wz->data, wz->dtype,
			                                    wz->elems == 1 ? 0 : (size_t)oc)
			                : 0;
			const uint8_t *w = (const uint8_t *)W->data + (size_t)(oc * KH * KW);
			for (int64_t k = 0; k < KH * KW; k++)
				wk[k] = (wsg ? (int32_t)(int8_t)w[k] : (int32_t)w[k]) - zw;
			size_t yo = (size_t)((uint64_t)(n * OC + oc) * (uint64_t)(OH * OW));
			for (int64_t oh = 0; oh < OH; oh++) {
				for (int64_t ow = 0; ow < OW; ow++)
					row[ow] = 0;
				for (int64_t kh = 0; kh < KH; kh++) {
					const int16_t *pr =
					    plane + (oh * s->st[0] + kh * s->dil[0]) * PW;
					for (int64_t kw = 0; kw < KW; kw++) {
						int32_t wv = wk[kh * KW + kw];
						const int16_t *pc = pr + kw * s->dil[1];
						if (s->st[1] == 1)
							for (int64_t ow = 0; ow < OW; ow++)
								row[ow] += (int32_t)pc[ow] * wv;
						else
							for (int64_t ow = 0; ow < OW; ow++)
								row[ow] +=
								    (int32_t)pc[ow * s->st[1]] * wv;
					}
				}
				qconv_store_n(c, s, yo + (size_t)(oh * OW), oc, row, (size_t)OW, 1);
			}
		}
	return EML_OK;
}

static int qconv_run(eml_op_ctx *c)
{
	const qconv_state *s = c->state;
	if (s->dw2)
		return qconv_run_dw2(c);
	if (s->gemm)
		return s->P * s->Kc * s->OG > 0 || c->out[0]->elems == 0 ? qconv_run_gemm(c)
		                                                         : EML_OK;
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
