/*
 * Gemm (opsets 7-18: Y = alpha*A'*B' + beta*C, C unidirectionally broadcast) and MatMul (numpy
 * matmul: batched, broadcasting, 1-D promotion). A constant B is packed at assembly; a following
 * activation or a constant bias Add is fused into the epilogue (assemble.c offers them).
 */
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/kernels/gemm.h"
#include "engine/ops/ops.h"

/* Portable SGEMM used until/unless the packed kernels take over: row-parallel, i-k-j order so the
 * inner loop streams B and C rows. */
typedef struct sg_job {
	size_t M, N, K;
	float alpha;
	const float *A;
	size_t lda;
	int ta;
	const float *B;
	size_t ldb;
	int tb;
	float *C;
	size_t ldc;
	int acc;
} sg_job;

static void sg_rows(void *ctx, size_t i0, size_t i1)
{
	const sg_job *j = ctx;
	for (size_t i = i0; i < i1; i++) {
		float *c = j->C + i * j->ldc;
		if (!j->acc)
			memset(c, 0, j->N * sizeof(float));
		for (size_t k = 0; k < j->K; k++) {
			float a = j->alpha * (j->ta ? j->A[k * j->lda + i] : j->A[i * j->lda + k]);
			if (!j->tb) {
				const float *b = j->B + k * j->ldb;
				for (size_t n = 0; n < j->N; n++)
					c[n] += a * b[n];
			} else {
				for (size_t n = 0; n < j->N; n++)
					c[n] += a * j->B[n * j->ldb + k];
			}
		}
	}
}

void eml_naive_sgemm(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                     int trans_a, const float *B, size_t ldb, int trans_b, float *C, size_t ldc,
                     int accumulate)
{
	sg_job j = {M, N, K, alpha, A, lda, trans_a, B, ldb, trans_b, C, ldc, accumulate};
	sg_rows(&j, 0, M);
}

static void sgemm_par(eml_op_ctx *c, size_t M, size_t N, size_t K, float alpha, const float *A,
                      size_t lda, int ta, const float *B, size_t ldb, int tb, float *C, size_t ldc,
                      int acc)
{
	sg_job j = {M, N, K, alpha, A, lda, ta, B, ldb, tb, C, ldc, acc};
	size_t grain = N * K > 0 ? (65536 / (N * K)) + 1 : M;
	eml_parallel_for(c->pool, c->threads, M, grain, sg_rows, &j);
}

/* ----- epilogue shared by Gemm and MatMul ----- */

typedef struct epi {
	int act;
	float a, b;
	const eml_rt *bias; /* broadcast to [M, N] with strides below */
	int64_t bs_m, bs_n; /* element strides of bias along M and N (0 = broadcast) */
	float beta;
} epi;

static void epi_apply(const epi *e, float *C, size_t M, size_t N, size_t ldc)
{
	if (e->bias != NULL && e->beta != 0.0f) {
		const float *bd = e->bias->data;
		for (size_t i = 0; i < M; i++)
			for (size_t n = 0; n < N; n++)
				C[i * ldc + n] +=
				    e->beta * bd[(int64_t)i * e->bs_m + (int64_t)n * e->bs_n];
	}
	if (e->act != EML_ACT_NONE)
		for (size_t i = 0; i < M; i++)
			eml_engine_act(C + i * ldc, N, e->act, e->a, e->b);
}

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

/* ----- Gemm ----- */

typedef struct gemm_state {
	int ta, tb;
	float alpha;
	size_t M, N, K;
	const eml_rt *B; /* packed (K x N, row-major) when constant, else the input */
	int tb_run;
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
	s->B = B;
	s->tb_run = s->tb;
	if (B->kind == EML_RT_CONST && s->tb && c->b != NULL) {
		/* pack: store B as K x N row-major so the kernel streams it */
		eml_rt *pk;
		int64_t d[2] = {K, N};
		EML_GUARD(eml_build_new_const(c->b, EML_DT_FLOAT, 2, d, &pk));
		const float *src = B->data;
		float *dst = pk->data;
		for (int64_t k = 0; k < K; k++)
			for (int64_t n = 0; n < N; n++)
				dst[k * N + n] = src[n * K + k];
		EML_GUARD(eml_op_add_input(c, pk));
		s->B = pk;
		s->tb_run = 0;
	}
	int64_t od[2] = {M, N};
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_FLOAT, 2, od));
out:
	return rc;
}

static int gemm_run(eml_op_ctx *c)
{
	const gemm_state *s = c->state;
	const eml_rt *A = c->in[0];
	float *C = c->out[0]->data;
	size_t lda = (size_t)A->dims[1];
	size_t ldb = (size_t)s->B->dims[1];
	if (s->M == 0 || s->N == 0)
		return EML_OK;
	sgemm_par(c, s->M, s->N, s->K, s->alpha, A->data, lda, s->ta, s->B->data, ldb, s->tb_run, C,
	          s->N, 0);
	epi_apply(&s->e, C, s->M, s->N, s->N);
	return EML_OK;
}

static int gemm_fuse(eml_op_ctx *c, const eml_fuse_req *r)
{
	gemm_state *s = c->state;
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
	epi e;
} matmul_state;

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
	for (int i = (int)r - 1; i >= 0; i--) {
		int ia = i - (int)(r - (ar - 2)), ib = i - (int)(r - (br - 2));
		s->sa[i] = (ia < 0 || ad[ia] == 1) ? 0 : sta;
		s->sb[i] = (ib < 0 || bd[ib] == 1) ? 0 : stb;
		if (ia >= 0)
			sta *= ad[ia];
		if (ib >= 0)
			stb *= bd[ib];
		s->batches *= (uint64_t)d[i];
	}
	s->M = (size_t)M;
	s->N = (size_t)N;
	s->K = (size_t)K;
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
	const float *A = c->in[0]->data, *B = c->in[1]->data;
	float *C = c->out[0]->data;
	int64_t idx[EML_MAX_RANK] = {0};
	int64_t oa = 0, ob = 0;
	size_t mn = s->M * s->N;
	if (mn == 0)
		return EML_OK;
	for (uint64_t bi = 0; bi < s->batches; bi++) {
		float *Cb = C + bi * mn;
		if (s->batches == 1 || s->M > 1)
			sgemm_par(c, s->M, s->N, s->K, 1.0f, A + oa, s->K, 0, B + ob, s->N, 0, Cb,
			          s->N, 0);
		else
			eml_naive_sgemm(s->M, s->N, s->K, 1.0f, A + oa, s->K, 0, B + ob, s->N, 0,
			                Cb, s->N, 0);
		epi_apply(&s->e, Cb, s->M, s->N, s->N);
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
		/* only a bias along N (shape [N] or [1,..,1,N]) is the same for every batch */
		const eml_rt *t = r->t[0];
		if (t->elems != s->N || (t->rank >= 1 && t->dims[t->rank - 1] != (int64_t)s->N))
			return 0;
		if (c->out[0]->rank < 2 && s->M != 1)
			return 0;
	}
	return epi_fuse(&s->e, c, r, (int64_t)s->M, (int64_t)s->N);
}

const eml_op_def eml_op_matmul = {"MatMul", 1, 99, matmul_prep, matmul_run, matmul_fuse, NULL};
