/*
 * Gemm (opsets 7-20: Y = alpha*A'*B' + beta*C, C unidirectionally broadcast) and MatMul (numpy
 * matmul: batched, broadcasting, 1-D promotion), on the packed SGEMM (kernels/gemm.h). A constant
 * B is packed once at assembly (into a plan constant, so it lives in the arena); a following
 * activation or a constant bias Add is fused into the GEMM epilogue (assemble.c offers them).
 */
#include <math.h>
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/gemm.h"
#include "engine/ops/ops.h"

/* ----- epilogue shared by Gemm and MatMul ----- */

typedef struct epi {
	int act;
	float a, b;
	const eml_rt *bias; /* broadcast to [M, N] with strides below */
	int64_t bs_m, bs_n; /* element strides of bias along M and N (0 = broadcast) */
	float beta;
} epi;

/* bias of shape `t` unidirectionally broadcastable to [M, N] */
static int bias_strides(const eml_rt *t, int64_t M, int64_t N, int64_t *sm, int64_t *sn)
{
	int64_t dm = 1, dn = 1;
	if (t->rank > 2)
		return 0;
	if (t->rank == 2) {
		dm = t->dims[0];
		dn = t->dims[1];
	} else if (t->rank == 1) {
		dn = t->dims[0];
	}
	if ((dm != 1 && dm != M) || (dn != 1 && dn != N))
		return 0;
	*sn = dn == 1 ? 0 : 1;
	*sm = dm == 1 ? 0 : dn;
	return 1;
}

/* Map the bias onto the kernel epilogue when it fits; else *post = 1 (applied after). */
static void epi_kernel(const epi *e, size_t N, eml_epilogue *k, int *post)
{
	memset(k, 0, sizeof(*k));
	*post = 0;
	k->act = e->act;
	k->act_a = e->a;
	k->act_b = e->b;
	if (e->bias == NULL || e->beta == 0.0f)
		return;
	const float *bd = e->bias->data;
	if (e->bs_m == 0 && e->bs_n == 1 && e->beta == 1.0f) {
		k->bias_kind = EML_BIAS_COL;
		k->bias = bd;
	} else if (e->bs_m == 1 && e->bs_n == 0 && e->beta == 1.0f) {
		k->bias_kind = EML_BIAS_ROW;
		k->bias = bd;
	} else if (e->bs_n == 1 && (e->bs_m == (int64_t)N || e->bs_m == 0)) {
		k->bias_kind = EML_BIAS_FULL;
		k->bias = bd;
		k->beta = e->beta;
		k->ld_bias = (size_t)e->bs_m;
	} else {
		/* scalar or [M,1] with beta != 1: add after the product, then the activation */
		k->act = EML_ACT_NONE;
		*post = 1;
	}
}

static void epi_post(const epi *e, float *C, size_t M, size_t N, size_t ldc)
{
	const float *bd = e->bias->data;
	for (size_t i = 0; i < M; i++)
		for (size_t n = 0; n < N; n++)
			C[i * ldc + n] += e->beta * bd[(int64_t)i * e->bs_m + (int64_t)n * e->bs_n];
	if (e->act != EML_ACT_NONE)
		for (size_t i = 0; i < M; i++)
			eml_act_apply(C + i * ldc, N, e->act, e->a, e->b);
}

static int epi_fuse(epi *e, eml_op_ctx *c, const eml_fuse_req *r, int64_t M, int64_t N)
{
	if (r->kind == EML_FUSE_ACT) {
		if (e->act != EML_ACT_NONE)
			return 0;
		e->act = r->act;
		e->a = r->a;
		e->b = r->b;
		return 1;
	}
	if (r->kind == EML_FUSE_BIAS) {
		/* only before an activation, and only when there is no bias yet */
		if (e->act != EML_ACT_NONE || (e->bias != NULL && e->beta != 0.0f))
			return 0;
		int64_t sm, sn;
		if (!bias_strides(r->t[0], M, N, &sm, &sn))
			return 0;
		if (eml_op_add_input(c, (eml_rt *)r->t[0]) != EML_OK)
			return 0;
		e->bias = r->t[0];
		e->bs_m = sm;
		e->bs_n = sn;
		e->beta = 1.0f;
		return 1;
	}
	return 0;
}

/* Pack a constant K x N (or N x K when trans) matrix for eml_sgemm. */
static int pack_b(eml_op_ctx *c, const eml_rt *B, int trans, size_t K, size_t N, const eml_rt **out)
{
	int rc = EML_OK;
	eml_rt *pk;
	size_t bytes = eml_sgemm_packed_b_size(K, N);
	int64_t d = (int64_t)((bytes + 3) / 4);
	EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 1, &d, &pk));
	eml_sgemm_pack_b(B->data, trans ? K : N, trans, K, N, pk->data);
	EML_GUARD(eml_op_add_input(c, pk));
	*out = pk;
out:
	return rc;
}

/* ----- Gemm ----- */

typedef struct gemm_state {
	int ta, tb;
	float alpha;
	size_t M, N, K;
	const eml_rt *packed; /* packed B when constant */
	eml_rt *bcopy;        /* op(B) as K x N, assembly only: BatchNormalization folds into it */
	epi e;
} gemm_state;

static int gemm_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	gemm_state *s;
	EML_ENSURE(c->n_in >= 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *A = c->in[0], *B = c->in[1];
	EML_ENSURE(A->dtype == EML_DT_FLOAT && B->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
	EML_ENSURE(A->rank == 2 && B->rank == 2, EML_E_ENGINE_SHAPE);
	s->ta = (int)eml_attr_i(c->node, "transA", 0);
	s->tb = (int)eml_attr_i(c->node, "transB", 0);
	s->alpha = eml_attr_f(c->node, "alpha", 1.0f);
	s->e.beta = eml_attr_f(c->node, "beta", 1.0f);
	int64_t M = s->ta ? A->dims[1] : A->dims[0], K = s->ta ? A->dims[0] : A->dims[1];
	int64_t K2 = s->tb ? B->dims[1] : B->dims[0], N = s->tb ? B->dims[0] : B->dims[1];
	EML_ENSURE(K == K2, EML_E_ENGINE_SHAPE);
	s->M = (size_t)M;
	s->N = (size_t)N;
	s->K = (size_t)K;
	if (c->n_in >= 3 && c->in[2] != NULL) {
		EML_ENSURE(c->in[2]->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
		EML_ENSURE(bias_strides(c->in[2], M, N, &s->e.bs_m, &s->e.bs_n),
		           EML_E_ENGINE_SHAPE);
		s->e.bias = c->in[2];
	}
	if (B->kind == EML_RT_CONST && c->b != NULL && M * N * K > 0) {
		int64_t kn[2] = {K, N};
		EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 2, kn, &s->bcopy));
		const float *src = B->data;
		float *dst = s->bcopy->data;
		for (int64_t k = 0; k < K; k++)
			for (int64_t n = 0; n < N; n++)
				dst[k * N + n] = s->tb ? src[n * K + k] : src[k * N + n];
		EML_GUARD(pack_b(c, s->bcopy, 0, s->K, s->N, &s->packed));
		c->in[1] = NULL; /* run reads only the packed copy */
	}
	c->scratch_bytes = eml_sgemm_work_size(s->M, s->N, s->K, c->threads);
	int64_t od[2] = {M, N};
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, 2, od));
out:
	return rc;
}

static int gemm_run(eml_op_ctx *c)
{
	const gemm_state *s = c->state;
	const eml_rt *A = c->in[0], *B = s->packed ? NULL : c->in[1];
	float *C = c->out[0]->data;
	if (s->M == 0 || s->N == 0)
		return EML_OK;
	eml_epilogue ep;
	int post;
	epi_kernel(&s->e, s->N, &ep, &post);
	eml_sgemm(c->pool, s->M, s->N, s->K, s->alpha, A->data, (size_t)A->dims[1], s->ta,
	          B ? B->data : NULL, B ? (size_t)B->dims[1] : s->N, s->tb,
	          s->packed ? s->packed->data : NULL, C, s->N, &ep, c->scratch);
	if (post)
		epi_post(&s->e, C, s->M, s->N, s->N);
	return EML_OK;
}

/* BatchNormalization over Gemm's N axis: y = f * (alpha*A*B + beta*C - mean) + b with
 * f = scale / sqrt(var + eps) becomes alpha*A*(B f) + (f * (beta*C - mean) + b). */
static int gemm_fuse_bn(eml_op_ctx *c, gemm_state *s, const eml_fuse_req *r)
{
	size_t N = s->N, K = s->K;
	if (s->bcopy == NULL || s->bcopy->data == NULL || c->b == NULL || s->e.act != EML_ACT_NONE)
		return 0;
	if (s->e.bias != NULL && (s->e.bias->kind != EML_RT_CONST || s->e.bs_m != 0))
		return 0;
	for (int k = 0; k < 4; k++)
		if (r->t[k]->elems != N)
			return 0;
	eml_rt *nb;
	int64_t n64 = (int64_t)N;
	if (eml_build_new_const(c->b, EML_DT_FLOAT, 1, &n64, &nb) != EML_OK)
		return 0;
	if (eml_op_add_input(c, nb) != EML_OK)
		return 0;
	const float *sc = r->t[0]->data, *bb = r->t[1]->data, *mean = r->t[2]->data,
	            *var = r->t[3]->data;
	float *w = s->bcopy->data, *b = nb->data;
	for (size_t n = 0; n < N; n++) {
		float f = sc[n] / sqrtf(var[n] + r->eps);
		float cb = 0.0f;
		if (s->e.bias != NULL && s->e.beta != 0.0f)
			cb = s->e.beta * ((const float *)s->e.bias->data)[(int64_t)n * s->e.bs_n];
		b[n] = f * (cb - mean[n]) + bb[n];
		for (size_t k = 0; k < K; k++)
			w[k * N + n] *= f;
	}
	eml_sgemm_pack_b(w, N, 0, K, N, (float *)s->packed->data);
	s->e.bias = nb;
	s->e.bs_m = 0;
	s->e.bs_n = 1;
	s->e.beta = 1.0f;
	return 1;
}

static int gemm_fuse(eml_op_ctx *c, const eml_fuse_req *r)
{
	gemm_state *s = c->state;
	if (r->kind == EML_FUSE_BN)
		return gemm_fuse_bn(c, s, r);
	return epi_fuse(&s->e, c, r, (int64_t)s->M, (int64_t)s->N);
}

const eml_op_def eml_op_gemm = {"Gemm", 1, 99, gemm_prep, gemm_run, gemm_fuse, NULL};

/* ----- MatMul ----- */

typedef struct matmul_state {
	size_t M, N, K;
	uint32_t brank; /* batch rank of the output */
	int64_t bdims[EML_MAX_RANK];
	int64_t sa[EML_MAX_RANK], sb[EML_MAX_RANK]; /* batch strides in matrices (0 = bcast) */
	uint64_t batches;
	int flat;           /* B shared by all batches and A dense: one GEMM of batches*M rows */
	eml_rt *packed;     /* packed B when constant and shared */
	const float *b_src; /* its source until matmul_finalize packs it (assembly only) */
	epi e;
} matmul_state;

/* Constant B is packed once, straight into the arena after placement (as Conv's weights): no
 * heap copy to place and wipe. Its source (the model's weights, or a folded constant on the
 * build heap) lives until the end of assembly. */
static int matmul_finalize(eml_op_ctx *c)
{
	matmul_state *s = c->state;
	if (s->packed != NULL && s->packed->deferred) {
		if (s->packed->data == NULL || s->b_src == NULL)
			return EML_E_ENGINE_OP;
		eml_sgemm_pack_b(s->b_src, s->N, 0, s->K, s->N, s->packed->data);
		s->b_src = NULL; /* nothing of the plan points into the model */
		s->packed->deferred = 0;
	}
	return EML_OK;
}

static int matmul_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	matmul_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *A = c->in[0], *B = c->in[1];
	EML_ENSURE(A->dtype == EML_DT_FLOAT && B->dtype == EML_DT_FLOAT, EML_E_ENGINE_SHAPE);
	EML_ENSURE(A->rank >= 1 && B->rank >= 1, EML_E_ENGINE_SHAPE);
	/* 1-D promotion (numpy.matmul) */
	int64_t ad[EML_MAX_RANK + 1], bd[EML_MAX_RANK + 1];
	uint32_t ar = A->rank, br = B->rank;
	if (ar == 1) {
		ad[0] = 1;
		ad[1] = A->dims[0];
		ar = 2;
	} else {
		memcpy(ad, A->dims, ar * 8);
	}
	if (br == 1) {
		bd[0] = B->dims[0];
		bd[1] = 1;
		br = 2;
	} else {
		memcpy(bd, B->dims, br * 8);
	}
	int64_t M = ad[ar - 2], K = ad[ar - 1], K2 = bd[br - 2], N = bd[br - 1];
	EML_ENSURE(K == K2, EML_E_ENGINE_SHAPE);
	uint32_t r;
	int64_t d[EML_MAX_RANK];
	EML_GUARD(eml_bcast_shape(ar - 2, ad, br - 2, bd, &r, d));
	s->brank = r;
	memcpy(s->bdims, d, sizeof(s->bdims));
	s->batches = 1;
	int64_t sta = M * K, stb = K * N;
	int a_dense = 1, b_shared = 1;
	for (int i = (int)r - 1; i >= 0; i--) {
		int ia = i - (int)(r - (ar - 2)), ib = i - (int)(r - (br - 2));
		s->sa[i] = (ia < 0 || ad[ia] == 1) ? 0 : sta;
		s->sb[i] = (ib < 0 || bd[ib] == 1) ? 0 : stb;
		if (s->sa[i] == 0 && d[i] != 1)
			a_dense = 0;
		if (s->sb[i] != 0 && d[i] != 1)
			b_shared = 0;
		if (ia >= 0)
			sta *= ad[ia];
		if (ib >= 0)
			stb *= bd[ib];
		s->batches *= (uint64_t)d[i];
	}
	s->M = (size_t)M;
	s->N = (size_t)N;
	s->K = (size_t)K;
	s->flat = a_dense && b_shared;
	if (b_shared && B->kind == EML_RT_CONST && c->b != NULL && M * N * K > 0 &&
	    A->kind == EML_RT_CONST) {
		/* may be folded right after this prep: pack now */
		EML_GUARD(pack_b(c, B, 0, s->K, s->N, (const eml_rt **)&s->packed));
		c->in[1] = NULL; /* run reads only the packed copy */
	} else if (b_shared && B->kind == EML_RT_CONST && c->b != NULL && M * N * K > 0) {
		int64_t n = (int64_t)((eml_sgemm_packed_b_size(s->K, s->N) + 3) / 4);
		EML_GUARD(eml_build_new_const_deferred(c->b, EML_DT_FLOAT, 1, &n, &s->packed));
		EML_GUARD(eml_op_add_input(c, s->packed));
		s->b_src = B->data;
		c->finalize = matmul_finalize;
		c->in[1] = NULL; /* run reads only the packed copy */
	}
	size_t rows = s->flat ? s->M * (size_t)s->batches : s->M;
	c->scratch_bytes = eml_sgemm_work_size(rows, s->N, s->K, c->threads);
	/* output shape: batch + [M] (unless A was 1-D) + [N] (unless B was 1-D) */
	int64_t od[EML_MAX_RANK + 2];
	uint32_t orank = r;
	memcpy(od, d, r * 8);
	if (A->rank != 1)
		od[orank++] = M;
	if (B->rank != 1)
		od[orank++] = N;
	EML_ENSURE(orank <= EML_MAX_RANK, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, orank, od));
out:
	return rc;
}

static int matmul_run(eml_op_ctx *c)
{
	const matmul_state *s = c->state;
	const float *A = c->in[0]->data, *B = s->packed ? NULL : c->in[1]->data;
	float *C = c->out[0]->data;
	size_t mn = s->M * s->N;
	if (mn == 0 || s->batches == 0)
		return EML_OK;
	eml_epilogue ep;
	int post;
	epi_kernel(&s->e, s->N, &ep, &post);
	const float *pk = s->packed ? s->packed->data : NULL;
	if (s->flat) {
		size_t rows = s->M * (size_t)s->batches;
		eml_sgemm(c->pool, rows, s->N, s->K, 1.0f, A, s->K, 0, pk ? NULL : B, s->N, 0, pk,
		          C, s->N, &ep, c->scratch);
		if (post)
			epi_post(&s->e, C, rows, s->N, s->N);
		return EML_OK;
	}
	int64_t idx[EML_MAX_RANK] = {0};
	int64_t oa = 0, ob = 0;
	for (uint64_t bi = 0; bi < s->batches; bi++) {
		float *Cb = C + bi * mn;
		eml_sgemm(c->pool, s->M, s->N, s->K, 1.0f, A + oa, s->K, 0, pk ? NULL : B + ob,
		          s->N, 0, pk, Cb, s->N, &ep, c->scratch);
		if (post)
			epi_post(&s->e, Cb, s->M, s->N, s->N);
		for (int d = (int)s->brank - 1; d >= 0; d--) {
			idx[d]++;
			oa += s->sa[d];
			ob += s->sb[d];
			if (idx[d] < s->bdims[d])
				break;
			oa -= s->sa[d] * idx[d];
			ob -= s->sb[d] * idx[d];
			idx[d] = 0;
		}
	}
	return EML_OK;
}

static int matmul_fuse(eml_op_ctx *c, const eml_fuse_req *r)
{
	matmul_state *s = c->state;
	if (r->kind == EML_FUSE_BIAS) {
		/* only a bias along N (shape [N] or [1, N]) is the same for every row and batch */
		const eml_rt *t = r->t[0];
		if (t->elems != s->N || t->rank > 2 ||
		    (t->rank >= 1 && t->dims[t->rank - 1] != (int64_t)s->N))
			return 0;
	}
	return epi_fuse(&s->e, c, r, (int64_t)s->M, (int64_t)s->N);
}

const eml_op_def eml_op_matmul = {"MatMul", 1, 99, matmul_prep, matmul_run, matmul_fuse, NULL};
