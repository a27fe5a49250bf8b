/*
 * Differential kernels, integer GEMM: eml_qgemm (kernels/qgemm.h) under every ISA this CPU has
 * (portable, avx2, avx512vnni) against a naive reference written here,
 *   C[m, n] = sum_k (A[m, k] - za[m]) * (B[k, n] - zb[n]),
 * with EXACT equality. Random shapes with edge sizes (1, tile and panel sizes +- 1), every
 * uint8/int8 combination of A and B, zero points per row/column, one for all, or none, operand
 * values biased to the extremes (0, 255, -128, 127: where a saturating kernel would be wrong),
 * row strides with slack, 1 and 2 threads.
 * (Not a DESIGN §11 property: named "differential kernels", as prop_kernels.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/qgemm.h"
#include "engine/threadpool.h"
#include "prop.h"

static const char *const isas[] = {"portable", "avx2", "avx512vnni"};

static size_t pick_dim(eml_rng *r, size_t max)
{
	static const size_t special[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  12, 15,
	                                 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 97};
	if (eml_rng_chance(r, 0.6)) {
		size_t d = special[eml_rng_below(r, sizeof(special) / sizeof(special[0]))];
		return d <= max ? d : max;
	}
	return 1 + eml_rng_below(r, max);
}

static uint8_t pick_byte(eml_rng *r)
{
	/* extremes often: 0x00, 0xFF (uint8 0/255, int8 0/-1), 0x80, 0x7F (int8 -128/127) */
	static const uint8_t ext[] = {0x00, 0xFF, 0x80, 0x7F, 0x81, 0x01};
	if (eml_rng_chance(r, 0.3))
		return ext[eml_rng_below(r, sizeof(ext))];
	return (uint8_t)eml_rng_below(r, 256);
}

static int32_t pick_zp(eml_rng *r, int sgn)
{
	if (eml_rng_chance(r, 0.3))
		return sgn ? (eml_rng_chance(r, 0.5) ? -128 : 127)
		           : (eml_rng_chance(r, 0.5) ? 0 : 255);
	return sgn ? (int32_t)eml_rng_range(r, -128, 127) : (int32_t)eml_rng_range(r, 0, 255);
}

static int32_t val(const uint8_t *p, int sgn, size_t i)
{
	return sgn ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
}

static void qgemm_case(eml_rng *r, eml_threadpool *pool, const char *isa)
{
	size_t M = pick_dim(r, 80), N = pick_dim(r, 80), K = pick_dim(r, 300);
	size_t lda = K + (eml_rng_chance(r, 0.3) ? eml_rng_below(r, 9) : 0);
	size_t ldb = N + (eml_rng_chance(r, 0.3) ? eml_rng_below(r, 9) : 0);
	size_t ldc = N + (eml_rng_chance(r, 0.3) ? eml_rng_below(r, 5) : 0);
	int as = eml_rng_chance(r, 0.5), bs = eml_rng_chance(r, 0.5);
	int zak = (int)eml_rng_below(r, 3), zbk = (int)eml_rng_below(r, 3); /* none/one/each */
	uint8_t *A = malloc(M * lda), *B = malloc(K * ldb);
	int32_t *za = malloc(M * sizeof(int32_t)), *zb = malloc(N * sizeof(int32_t));
	int32_t *C = malloc(M * ldc * sizeof(int32_t));
	cr_assert(A && B && za && zb && C);
	for (size_t i = 0; i < M * lda; i++)
		A[i] = pick_byte(r);
	for (size_t i = 0; i < K * ldb; i++)
		B[i] = pick_byte(r);
	for (size_t i = 0; i < M; i++)
		za[i] = pick_zp(r, as);
	for (size_t i = 0; i < N; i++)
		zb[i] = pick_zp(r, bs);
	for (size_t i = 0; i < M * ldc; i++)
		C[i] = 0x5A5A5A5A; /* the slack between rows must stay untouched */
	void *pk = malloc(eml_qgemm_packed_b_size(K, N));
	size_t ws = eml_qgemm_work_size(M, K);
	void *work = aligned_alloc(64, (ws + 63) / 64 * 64);
	cr_assert(pk && work);
	/* B also given transposed (N x K, row stride ldbt), as the convolutions pass weights */
	int trans = eml_rng_chance(r, 0.3);
	size_t ldbt = K + eml_rng_below(r, 3);
	uint8_t *Bt = malloc(N * ldbt);
	cr_assert(Bt);
	for (size_t k = 0; k < K; k++)
		for (size_t n = 0; n < N; n++)
			Bt[n * ldbt + k] = B[k * ldb + n];
	eml_qgemm_pack_b(trans ? Bt : B, bs, trans ? ldbt : ldb, trans, K, N, zbk == 0 ? NULL : zb,
	                 zbk == 1 ? 1 : N, pk);
	free(Bt);
	eml_qgemm(pool, pool ? 2 : 1, M, N, K, A, as, lda, zak == 0 ? NULL : za, zak == 1 ? 1 : M,
	          pk, C, ldc, work);
	for (size_t m = 0; m < M; m++) {
		int32_t zam = zak == 0 ? 0 : za[zak == 1 ? 0 : m];
		for (size_t n = 0; n < ldc; n++) {
			if (n >= N) {
				PROP_ASSERT(
				    C[m * ldc + n] == 0x5A5A5A5A,
				    "%s: wrote past N at row %zu col %zu (M %zu N %zu K %zu)", isa,
				    m, n, M, N, K);
				continue;
			}
			int32_t zbn = zbk == 0 ? 0 : zb[zbk == 1 ? 0 : n];
			int64_t want = 0; /* |sum| <= 300 * 255^2 < 2^31: no wrap in this test */
			for (size_t k = 0; k < K; k++)
				want += (int64_t)(val(A, as, m * lda + k) - zam) *
				        (val(B, bs, k * ldb + n) - zbn);
			PROP_ASSERT(
			    C[m * ldc + n] == (int32_t)want,
			    "%s: C[%zu,%zu] = %d, want %lld (M %zu N %zu K %zu, A %s, B %s, "
			    "za %d, zb %d)",
			    isa, m, n, C[m * ldc + n], (long long)want, M, N, K,
			    as ? "int8" : "uint8", bs ? "int8" : "uint8", zak, zbk);
		}
	}
	free(A);
	free(B);
	free(za);
	free(zb);
	free(C);
	free(pk);
	free(work);
}

Test(prop, differential_kernels_qgemm,
     .description = "differential kernels: integer GEMM (exact, every ISA)")
{
	eml_threadpool *pool = NULL;
	cr_assert_eq(eml_threadpool_new(2, &pool), 0);
	int ran = 0;
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++) {
		if (eml_qgemm_force_isa(isas[ii]) != 0) {
			fprintf(stderr, "prop_qgemm: this CPU has no %s; not tested here\n",
			        isas[ii]);
			continue;
		}
		ran++;
		PROP_FOR_EACH_CASE(rng)
		{
			qgemm_case(&rng, eml_rng_chance(&rng, 0.5) ? pool : NULL, isas[ii]);
		}
	}
	eml_qgemm_force_isa(NULL);
	cr_assert_geq(ran, 1);
	eml_threadpool_free(pool);
}

/* The reason the AVX2 kernel widens to int16: vpmaddubsw would saturate here. A row of 255 and
 * a column of -128 (no zero points) must give exactly K * 255 * -128. */
Test(kernels, qgemm_extremes_do_not_saturate)
{
	for (size_t ii = 0; ii < sizeof(isas) / sizeof(isas[0]); ii++) {
		if (eml_qgemm_force_isa(isas[ii]) != 0)
			continue;
		enum { K = 64, N = 17, M = 7 };
		uint8_t A[M * K], B[K * N];
		memset(A, 0xFF, sizeof(A)); /* uint8 255 */
		memset(B, 0x80, sizeof(B)); /* int8 -128 */
		int32_t C[M * N];
		static uint8_t pk[1 << 16];
		static _Alignas(64) uint8_t work[1 << 16];
		cr_assert_leq(eml_qgemm_packed_b_size(K, N), sizeof(pk));
		cr_assert_leq(eml_qgemm_work_size(M, K), sizeof(work));
		eml_qgemm_pack_b(B, 1, N, 0, K, N, NULL, 1, pk);
		eml_qgemm(NULL, 1, M, N, K, A, 0, K, NULL, 1, pk, C, N, work);
		for (size_t i = 0; i < M * N; i++)
			cr_assert_eq(C[i], K * 255 * -128, "%s: %d", isas[ii], C[i]);
	}
	eml_qgemm_force_isa(NULL);
}
