/*
 * SGEMM driver (see gemm.h): GotoBLAS/BLIS blocking. Loops, outermost first:
 *   jc over N by NC -> pc over K by KC -> pack B block (KC x NC, panels of NR; skipped when B is
 *   pre-packed) -> ic over M by MC -> pack A block (MC x KC, panels of MR, alpha folded in) ->
 *   jr over NC by NR -> ir over MC by MR -> micro-kernel (MR x NR tile).
 * The B micro-panel (KC x NR) stays in L1 across the ir loop, the A block in L2 and the B block in
 * L3 (Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication", TOMS 2008).
 * The epilogue (bias, activation) runs on each tile right after its last K block, while the tile
 * is still in cache.
 *
 * Threads: the C matrix is split into as many slabs as there are threads (along N in whole NR
 * panels, or along M in whole MR panels, whichever has more tiles); each slab runs the serial
 * algorithm with that thread's own slice of `work`. No allocation anywhere.
 */
#include "engine/kernels/gemm.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/gemm_internal.h"
#include "engine/kernels/vmath.h"

#define PORTABLE_MR 4
#define PORTABLE_NR 16
#define MAX_MR 16
#define MAX_NR 64

#define PACKED_MAGIC 0x424c4d45u /* "EMLB" */
#define PACKED_HDR_FLOATS 16     /* 64 bytes: keeps the panels 64-byte aligned */
_Static_assert(PACKED_HDR_FLOATS == EML_SGEMM_PACKED_HDR_FLOATS, "packed header size");

typedef struct gemm_isa {
	const char *name;
	int mr, nr;
	size_t mc, kc, nc; /* mc multiple of mr, nc multiple of nr */
	eml_ukernel_fn kern;
	int edges; /* the kernel handles partial tiles itself (takes h, w) */
	/* C = alpha A B for a few rows of A and a row-major B, without packing (may be NULL) */
	eml_small_m_fn small_m;
	/* packs a row-major B block into panels of nr (as pack_b_block; may be NULL) */
	eml_pack_b_fn pack_b;
	/* packs mr full rows of a row-major A into one panel (may be NULL) */
	eml_pack_a_fn pack_a;
} gemm_isa;

/* Portable 4 x 16 tile with GCC vector extensions: 16 four-lane accumulators, which map onto
 * registers on SSE2 and NEON (aarch64 has 32 of them); scalarized code elsewhere. */
typedef float v4f __attribute__((vector_size(16)));

static void ukernel_portable_4x16(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                  int accumulate)
{
	v4f acc[4][4];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			acc[i][j] = (v4f){0, 0, 0, 0};
	for (size_t k = 0; k < kc; k++) {
		v4f bv[4];
		memcpy(bv, b + k * 16, sizeof(bv));
		for (int i = 0; i < 4; i++) {
			float av = a[k * 4 + (size_t)i];
			v4f avv = {av, av, av, av};
			for (int j = 0; j < 4; j++)
				acc[i][j] += avv * bv[j];
		}
	}
	for (int i = 0; i < 4; i++) {
		float *ci = c + (size_t)i * ldc;
		if (accumulate) {
			v4f cv[4];
			memcpy(cv, ci, sizeof(cv));
			for (int j = 0; j < 4; j++)
				acc[i][j] += cv[j];
		}
		memcpy(ci, acc[i], sizeof(acc[i]));
	}
}

/* Portable micro-kernel: plain C, correct on any CPU, any panel widths. */
static void ukernel_portable(size_t kc, const float *a, const float *b, size_t ldb, float *c,
                             size_t ldc, int accumulate, int mr, int nr)
{
	if (mr == 4 && nr == 16 && ldb == 16) {
		ukernel_portable_4x16(kc, a, b, c, ldc, accumulate);
		return;
	}
	float acc[MAX_MR][MAX_NR];
	for (int i = 0; i < mr; i++)
		for (int j = 0; j < nr; j++)
			acc[i][j] = 0.0f;
	for (size_t k = 0; k < kc; k++) {
		const float *bk = b + k * ldb;
		const float *ak = a + k * (size_t)mr;
		for (int i = 0; i < mr; i++) {
			float av = ak[i];
			for (int j = 0; j < nr; j++)
				acc[i][j] += av * bk[j];
		}
	}
	for (int i = 0; i < mr; i++) {
		float *ci = c + (size_t)i * ldc;
		if (accumulate)
			for (int j = 0; j < nr; j++)
				ci[j] += acc[i][j];
		else
			for (int j = 0; j < nr; j++)
				ci[j] = acc[i][j];
	}
}

static const gemm_isa isa_portable = {.name = "portable",
                                      .mr = PORTABLE_MR,
                                      .nr = PORTABLE_NR,
                                      .mc = 128,
                                      .kc = 256,
                                      .nc = 2048,
                                      .kern = ukernel_portable,
                                      .edges = 0};
#if defined(__x86_64__)
static const gemm_isa isa_avx2 = {.name = "avx2",
                                  .mr = EML_AVX2_MR,
                                  .nr = EML_AVX2_NR,
                                  .mc = 72,
                                  .kc = 256,
                                  .nc = 2048,
                                  .kern = eml_ukernel_avx2,
                                  .edges = 1,
                                  .small_m = eml_gemm_small_m_avx2,
                                  .pack_b = eml_pack_b_avx2,
                                  .pack_a = eml_pack_a_avx2};
static const gemm_isa isa_avx512 = {.name = "avx512",
                                    .mr = EML_AVX512_MR,
                                    .nr = EML_AVX512_NR,
                                    .mc = 168,
                                    .kc = 256,
                                    .nc = 4096,
                                    .kern = eml_ukernel_avx512,
                                    .edges = 1,
                                    .small_m = eml_gemm_small_m_avx512,
                                    .pack_b = eml_pack_b_avx512,
                                    .pack_a = eml_pack_a_avx512};
#endif

static _Atomic(const gemm_isa *) g_forced;

static const gemm_isa *isa_detect(void)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
		return &isa_avx512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return &isa_avx2;
#endif
	return &isa_portable;
}

static const gemm_isa *isa_get(void)
{
	/* Every thread would compute the same value: relaxed atomics make the race benign. */
	static _Atomic(const gemm_isa *) detected;
	const gemm_isa *f = atomic_load_explicit(&g_forced, memory_order_relaxed);
	if (f)
		return f;
	const gemm_isa *d = atomic_load_explicit(&detected, memory_order_relaxed);
	if (!d) {
		d = isa_detect();
		atomic_store_explicit(&detected, d, memory_order_relaxed);
	}
	return d;
}

const char *eml_sgemm_isa(void)
{
	return isa_get()->name;
}

int eml_sgemm_force_isa(const char *isa)
{
	if (!isa) {
		g_forced = NULL;
		return 0;
	}
	if (strcmp(isa, "portable") == 0) {
		g_forced = &isa_portable;
		return 0;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (strcmp(isa, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("fma")) {
		g_forced = &isa_avx2;
		return 0;
	}
	if (strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512bw")) {
		g_forced = &isa_avx512;
		return 0;
	}
#endif
	return -1;
}

static size_t round_up(size_t x, size_t m)
{
	return (x + m - 1) / m * m;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- activations ---- */

/* Vectorized per ISA in vmath (one pass, no per-element switch). -0.0f is an exact identity bias. */
void eml_act_apply(float *x, size_t n, int act, float a, float b)
{
	if (act == EML_ACT_NONE)
		return;
	eml_vbias_act(x, n, -0.0f, act, a, b);
}

/* Bias and activation on an m x n tile of C at (m0, n0). */
static void epilogue_tile(const eml_epilogue *ep, float *c, size_t ldc, size_t m0, size_t n0,
                          size_t m, size_t n)
{
	for (size_t i = 0; i < m; i++) {
		float *ci = c + i * ldc;
		switch (ep->bias_kind) {
		case EML_BIAS_ROW:
			/* bias and activation in one pass */
			eml_vbias_act(ci, n, ep->bias[m0 + i], ep->act, ep->act_a, ep->act_b);
			if (ep->post)
				eml_affine_apply(ci, n, ep->post_s, ep->post_t);
			continue;
		case EML_BIAS_COL: {
			const float *bv = ep->bias + n0;
			for (size_t j = 0; j < n; j++)
				ci[j] += bv[j];
			break;
		}
		case EML_BIAS_FULL: {
			const float *bv = ep->bias + (m0 + i) * ep->ld_bias + n0;
			float beta = ep->beta;
			for (size_t j = 0; j < n; j++)
				ci[j] += beta * bv[j];
			break;
		}
		default:
			break;
		}
		if (ep->act != EML_ACT_NONE)
			eml_act_apply(ci, n, ep->act, ep->act_a, ep->act_b);
		if (ep->post)
			eml_affine_apply(ci, n, ep->post_s, ep->post_t);
	}
}

/* A streaming loop: let GCC vectorize it even at -O2. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#endif
void eml_affine_apply(float *x, size_t n, float s, float t)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] * s + t;
}

/* ---- packing ---- */

/* B block (rows k0..k0+kc, columns n0..n0+nc) into panels of nr columns, panel stride `ps`
 * floats; columns past N are zero. */
static void pack_b_block(const float *B, size_t ldb, int trans_b, size_t k0, size_t kc, size_t n0,
                         size_t nc, int nr, float *dst, size_t ps)
{
	for (size_t j0 = 0; j0 < nc; j0 += (size_t)nr) {
		float *p = dst + (j0 / (size_t)nr) * ps;
		size_t w = min_sz((size_t)nr, nc - j0);
		if (!trans_b) {
			for (size_t k = 0; k < kc; k++) {
				const float *src = B + (k0 + k) * ldb + n0 + j0;
				float *d = p + k * (size_t)nr;
				size_t j = 0;
				for (; j < w; j++)
					d[j] = src[j];
				for (; j < (size_t)nr; j++)
					d[j] = 0.0f;
			}
		} else {
			for (size_t j = 0; j < (size_t)nr; j++) {
				if (j < w) {
					const float *src = B + (n0 + j0 + j) * ldb + k0;
					for (size_t k = 0; k < kc; k++)
						p[k * (size_t)nr + j] = src[k];
				} else {
					for (size_t k = 0; k < kc; k++)
						p[k * (size_t)nr + j] = 0.0f;
				}
			}
		}
	}
}

/* mr full rows of a row-major A into one k-major panel; inlined with constant mr so the row
 * loop unrolls. */
static inline __attribute__((always_inline)) void pack_a_rows(const float *src, size_t lda,
                                                              size_t kc, int mr, float *p)
{
	for (size_t k = 0; k < kc; k++) {
		float *d = p + k * (size_t)mr;
		for (int i = 0; i < mr; i++)
			d[i] = src[(size_t)i * lda + k];
	}
}

/* A block (rows m0..m0+mc, k0..k0+kc of op(A)) into panels of mr rows (kc*mr floats each),
 * scaled by alpha; rows past the block are zero. */
static void pack_a_block(const float *A, size_t lda, int trans_a, size_t m0, size_t mc, size_t k0,
                         size_t kc, int mr, float alpha, float *dst, eml_pack_a_fn pack_a_simd)
{
	for (size_t i0 = 0; i0 < mc; i0 += (size_t)mr) {
		float *p = dst + (i0 / (size_t)mr) * kc * (size_t)mr;
		size_t h = min_sz((size_t)mr, mc - i0);
		if (!trans_a && h == (size_t)mr && alpha == 1.0f) {
			/* Full panel, the common case: k outer so the writes are sequential; the mr
			 * source rows each stay in cache across the k loop. */
			const float *src = A + (m0 + i0) * lda + k0;
			if (pack_a_simd)
				pack_a_simd(src, lda, kc, p);
			else if (mr == 14)
				pack_a_rows(src, lda, kc, 14, p);
			else if (mr == 6)
				pack_a_rows(src, lda, kc, 6, p);
			else
				pack_a_rows(src, lda, kc, mr, p);
		} else if (!trans_a) {
			for (size_t i = 0; i < (size_t)mr; i++) {
				if (i < h) {
					const float *src = A + (m0 + i0 + i) * lda + k0;
					for (size_t k = 0; k < kc; k++)
						p[k * (size_t)mr + i] = alpha * src[k];
				} else {
					for (size_t k = 0; k < kc; k++)
						p[k * (size_t)mr + i] = 0.0f;
				}
			}
		} else {
			for (size_t k = 0; k < kc; k++) {
				const float *src = A + (k0 + k) * lda + m0 + i0;
				float *d = p + k * (size_t)mr;
				size_t i = 0;
				for (; i < h; i++)
					d[i] = alpha * src[i];
				for (; i < (size_t)mr; i++)
					d[i] = 0.0f;
			}
		}
	}
}

size_t eml_sgemm_packed_a_size(size_t M, size_t K)
{
	const gemm_isa *isa = isa_get();
	return (PACKED_HDR_FLOATS + round_up(M, (size_t)isa->mr) * K) * sizeof(float);
}

void eml_sgemm_pack_a(const float *A, size_t lda, int trans_a, size_t M, size_t K, float *packed)
{
	const gemm_isa *isa = isa_get();
	uint64_t hdr[4] = {PACKED_MAGIC, (uint64_t)isa->mr, M, K};
	memset(packed, 0, PACKED_HDR_FLOATS * sizeof(float));
	memcpy(packed, hdr, sizeof(hdr));
	if (K == 0 || M == 0)
		return;
	pack_a_block(A, lda, trans_a, 0, M, 0, K, isa->mr, 1.0f, packed + PACKED_HDR_FLOATS,
	             isa->pack_a);
}

/* n floats of x times the period-`per` pattern s (x[i] *= s[i % per]); per divides n. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#endif
static void
mul_pattern(float *x, size_t n, const float *s, size_t per)
{
	for (size_t b = 0; b < n; b += per)
		for (size_t i = 0; i < per; i++)
			x[b + i] *= s[i];
}

void eml_sgemm_packed_a_scale_rows(float *packed, const float *scale)
{
	uint64_t hdr[4];
	memcpy(hdr, packed, sizeof(hdr));
	size_t mr = (size_t)hdr[1], M = (size_t)hdr[2], K = (size_t)hdr[3];
	float *p = packed + PACKED_HDR_FLOATS;
	/* panel i0: rows i0..i0+mr-1 interleaved by k (p[k * mr + i]): the panel is the row
	 * scales repeated K times; 8 repeats per pass keep the vector loop long (mr <= MAX_MR) */
	float pat[8 * MAX_MR];
	for (size_t i0 = 0; i0 < M; i0 += mr) {
		size_t h = min_sz(mr, M - i0);
		float *q = p + (i0 / mr) * K * mr;
		for (size_t i = 0; i < mr; i++)
			pat[i] = i < h ? scale[i0 + i] : 0.0f; /* rows past M are zero anyway */
		for (size_t r = 1; r < 8; r++)
			memcpy(pat + r * mr, pat, mr * sizeof(float));
		size_t k8 = K / 8 * 8;
		mul_pattern(q, k8 * mr, pat, 8 * mr);
		mul_pattern(q + k8 * mr, (K - k8) * mr, pat, mr);
	}
}

size_t eml_sgemm_packed_b_size(size_t K, size_t N)
{
	const gemm_isa *isa = isa_get();
	return (PACKED_HDR_FLOATS + round_up(N, (size_t)isa->nr) * K) * sizeof(float);
}

size_t eml_sgemm_nr(void)
{
	return (size_t)isa_get()->nr;
}

void eml_sgemm_packed_b_header(size_t K, size_t N, float *packed)
{
	uint64_t hdr[4] = {PACKED_MAGIC, (uint64_t)isa_get()->nr, K, N};
	memset(packed, 0, PACKED_HDR_FLOATS * sizeof(float));
	memcpy(packed, hdr, sizeof(hdr));
}

void eml_sgemm_pack_b(const float *B, size_t ldb, int trans_b, size_t K, size_t N, float *packed)
{
	const gemm_isa *isa = isa_get();
	uint64_t hdr[4] = {PACKED_MAGIC, (uint64_t)isa->nr, K, N};
	memset(packed, 0, PACKED_HDR_FLOATS * sizeof(float));
	memcpy(packed, hdr, sizeof(hdr));
	if (K == 0 || N == 0)
		return;
	if (!trans_b && isa->pack_b)
		isa->pack_b(B, ldb, 0, K, 0, N, packed + PACKED_HDR_FLOATS, K * (size_t)isa->nr);
	else
		pack_b_block(B, ldb, trans_b, 0, K, 0, N, isa->nr, packed + PACKED_HDR_FLOATS,
		             K * (size_t)isa->nr);
}

/* ---- driver ---- */

typedef struct gemm_job {
	const gemm_isa *isa;
	size_t M, N, K;
	float alpha;
	const float *A;
	size_t lda;
	int trans_a;
	const float *B;
	size_t ldb;
	int trans_b;
	const float *packed;   /* panels of pre-packed B (after the header), or NULL */
	const float *packed_a; /* panels of pre-packed A (after the header), or NULL */
	float *C;
	size_t ldc;
	const eml_epilogue *ep; /* NULL when nothing to do */
	int accumulate_first;   /* 1: C already holds beta*C_in (in-place Gemm) */
	unsigned char *work;
	size_t per_thread; /* bytes of work per thread */
	size_t a_bytes;    /* of which the packed A block */
	/* slabs */
	int split_n;
	size_t n_slabs;
	size_t slab; /* slab size in rows or columns (multiple of mr or nr) */
} gemm_job;

static void gemm_serial(const gemm_job *g, size_t m_begin, size_t m_end, size_t n_begin,
                        size_t n_end, int thread)
{
	const gemm_isa *isa = g->isa;
	const size_t mr = (size_t)isa->mr, nr = (size_t)isa->nr;
	float *abuf = (float *)(g->work + (size_t)thread * g->per_thread);
	float *bbuf = (float *)(g->work + (size_t)thread * g->per_thread + g->a_bytes);
	float tile[MAX_MR * MAX_NR] __attribute__((aligned(64)));
	const size_t K = g->K;
	if (K == 0)
		return; /* handled by the caller; keeps the block arithmetic below well defined */
	/* Equal K blocks (576 -> 3 x 192 rather than 256 + 256 + 64): a short last block would
	 * reload and store every C tile for little work. */
	const size_t kblocks = (K + isa->kc - 1) / isa->kc;
	const size_t kstep = (K + kblocks - 1) / kblocks;

	for (size_t jc = n_begin; jc < n_end; jc += isa->nc) {
		size_t nc = min_sz(isa->nc, n_end - jc);
		for (size_t pc = 0; pc < K; pc += kstep) {
			size_t kc = min_sz(kstep, K - pc);
			int accumulate = pc > 0 || g->accumulate_first;
			int last = pc + kc == K;
			const float *bbase;
			size_t bstride;
			if (g->packed) {
				bbase = g->packed + (jc / nr) * K * nr + pc * nr;
				bstride = K * nr;
			} else {
				if (!g->trans_b && isa->pack_b)
					isa->pack_b(g->B, g->ldb, pc, kc, jc, nc, bbuf, kc * nr);
				else
					pack_b_block(g->B, g->ldb, g->trans_b, pc, kc, jc, nc,
					             (int)nr, bbuf, kc * nr);
				bbase = bbuf;
				bstride = kc * nr;
			}
			for (size_t ic = m_begin; ic < m_end; ic += isa->mc) {
				size_t mc = min_sz(isa->mc, m_end - ic);
				const float *abase = abuf;
				size_t astride = kc * mr;
				if (g->packed_a) {
					abase = g->packed_a + (ic / mr) * K * mr + pc * mr;
					astride = K * mr;
				} else {
					pack_a_block(g->A, g->lda, g->trans_a, ic, mc, pc, kc,
					             (int)mr, g->alpha, abuf, isa->pack_a);
				}
				for (size_t jr = 0; jr < nc; jr += nr) {
					size_t w = min_sz(nr, nc - jr);
					const float *bp = bbase + (jr / nr) * bstride;
					for (size_t ir = 0; ir < mc; ir += mr) {
						size_t h = min_sz(mr, mc - ir);
						const float *ap = abase + (ir / mr) * astride;
						float *c = g->C + (ic + ir) * g->ldc + jc + jr;
						if (isa->edges) {
							isa->kern(kc, ap, bp, nr, c, g->ldc,
							          accumulate, (int)h, (int)w);
						} else if (h == mr && w == nr) {
							isa->kern(kc, ap, bp, nr, c, g->ldc,
							          accumulate, (int)mr, (int)nr);
						} else {
							isa->kern(kc, ap, bp, nr, tile, nr, 0,
							          (int)mr, (int)nr);
							for (size_t i = 0; i < h; i++) {
								float *ci = c + i * g->ldc;
								const float *ti = tile + i * nr;
								if (accumulate)
									for (size_t j = 0; j < w;
									     j++)
										ci[j] += ti[j];
								else
									for (size_t j = 0; j < w;
									     j++)
										ci[j] = ti[j];
							}
						}
						if (last && g->ep)
							epilogue_tile(g->ep, c, g->ldc, ic + ir,
							              jc + jr, h, w);
					}
				}
			}
		}
	}
}

#define SMALL_M_MAX 8
#define SMALL_M_CHUNK 512 /* columns: SMALL_M_MAX rows of C stay in L1 */

static void small_m_task(void *ctx, size_t task, int thread)
{
	(void)thread;
	const gemm_job *g = ctx;
	size_t n0 = task * SMALL_M_CHUNK, n = min_sz(SMALL_M_CHUNK, g->N - n0);
	g->isa->small_m(g->M, n, g->K, g->alpha, g->A, g->lda, g->trans_a, g->B + n0, g->ldb,
	                g->C + n0, g->ldc, g->accumulate_first);
	if (g->ep)
		epilogue_tile(g->ep, g->C + n0, g->ldc, 0, n0, g->M, n);
}

static void gemm_task(void *ctx, size_t task, int thread)
{
	const gemm_job *g = ctx;
	size_t b = task * g->slab;
	if (g->split_n) {
		size_t e = min_sz(g->N, b + g->slab);
		if (b < e)
			gemm_serial(g, 0, g->M, b, e, thread);
	} else {
		size_t e = min_sz(g->M, b + g->slab);
		if (b < e)
			gemm_serial(g, b, e, 0, g->N, thread);
	}
}

static void block_sizes(const gemm_isa *isa, size_t M, size_t N, size_t K, size_t *a_bytes,
                        size_t *b_bytes)
{
	/* M + MAX_MR bounds round_up(M, mr) for every mr, so the portable fallback for foreign
	 * packings (other mr/nr, smaller mc/nc) never needs more than eml_sgemm_work_size gave. */
	size_t mc = min_sz(isa->mc, M + MAX_MR);
	size_t nc = min_sz(isa->nc, N + MAX_NR);
	size_t kc = min_sz(isa->kc, K ? K : 1);
	*a_bytes = round_up(mc * kc * sizeof(float), 64);
	*b_bytes = round_up(kc * nc * sizeof(float), 64);
}

size_t eml_sgemm_work_size(size_t M, size_t N, size_t K, int threads)
{
	size_t a, b;
	const gemm_isa *isa = isa_get();
	block_sizes(isa, M, N, K, &a, &b);
	if (threads < 1)
		threads = 1;
	return (size_t)threads * (a + b) + 64;
}

/* Work below this many multiply-adds (~40 us on one core) stays on one thread: waking the
 * workers costs ~10-20 us. */
#define GEMM_PARALLEL_MIN_FLOPS (1u << 22)

static void sgemm_impl(eml_threadpool *pool, size_t M, size_t N, size_t K, float alpha,
                       const float *A, size_t lda, int trans_a, const float *packed_a,
                       const float *B, size_t ldb, int trans_b, const float *packed_b, float *C,
                       size_t ldc, const eml_epilogue *ep, void *work)
{
	gemm_job g;
	memset(&g, 0, sizeof(g));
	if (M == 0 || N == 0)
		return;
	g.isa = isa_get();
	if (ep && ep->bias_kind == EML_BIAS_NONE && ep->act == EML_ACT_NONE && !ep->post)
		ep = NULL;
	eml_epilogue ep_local;
	gemm_isa alt;
	if (ep && ep->bias_kind == EML_BIAS_FULL && ep->bias == C) {
		/* In-place Gemm (C input is the output): C = beta*C first, then accumulate. */
		/* beta 0 ignores C entirely (also NaN or inf in it), as in ONNX Gemm. */
		if (ep->beta == 0.0f)
			for (size_t i = 0; i < M; i++)
				memset(C + i * ldc, 0, N * sizeof(float));
		else if (ep->beta != 1.0f)
			for (size_t i = 0; i < M; i++)
				for (size_t j = 0; j < N; j++)
					C[i * ldc + j] *= ep->beta;
		ep_local = *ep;
		ep_local.bias_kind = EML_BIAS_NONE;
		ep = ep_local.act != EML_ACT_NONE ? &ep_local : NULL;
		g.accumulate_first = 1;
	}
	if (K == 0) {
		for (size_t i = 0; i < M; i++) {
			if (!g.accumulate_first)
				memset(C + i * ldc, 0, N * sizeof(float));
		}
		if (ep)
			epilogue_tile(ep, C, ldc, 0, 0, M, N);
		return;
	}
	{
		uint64_t ha[4] = {0}, hb[4] = {0};
		if (packed_a)
			memcpy(ha, packed_a, sizeof(ha));
		if (packed_b)
			memcpy(hb, packed_b, sizeof(hb));
		if ((packed_a && ha[1] != (uint64_t)g.isa->mr) ||
		    (packed_b && hb[1] != (uint64_t)g.isa->nr)) {
			/* Packed for another ISA (only after eml_sgemm_force_isa): run the portable
			 * kernel with the packing's panel widths, blocks no larger than this ISA's. */
			alt = isa_portable;
			alt.mr = packed_a ? (int)ha[1] : PORTABLE_MR;
			alt.nr = packed_b ? (int)hb[1] : PORTABLE_NR;
			alt.mc = g.isa->mc / (size_t)alt.mr * (size_t)alt.mr;
			alt.nc = g.isa->nc / (size_t)alt.nr * (size_t)alt.nr;
			alt.kc = g.isa->kc;
			g.isa = &alt;
		}
		if (packed_a)
			g.packed_a = packed_a + PACKED_HDR_FLOATS;
		if (packed_b)
			g.packed = packed_b + PACKED_HDR_FLOATS;
	}
	g.M = M;
	g.N = N;
	g.K = K;
	g.alpha = alpha;
	g.A = A;
	g.lda = lda;
	g.trans_a = trans_a;
	g.B = B;
	g.ldb = ldb;
	g.trans_b = trans_b;
	g.C = C;
	g.ldc = ldc;
	g.ep = ep;
	if (g.isa->small_m && !packed_a && !packed_b && !trans_b && M <= SMALL_M_MAX) {
		/* A few rows times an unpacked B: packing B would cost as much as the product, so
		 * stream B's rows instead (row-axpy), in column chunks across the threads. */
		g.A = A;
		size_t chunks = (N + SMALL_M_CHUNK - 1) / SMALL_M_CHUNK;
		if (eml_threadpool_threads(pool) <= 1 ||
		    (double)M * (double)N * (double)K < GEMM_PARALLEL_MIN_FLOPS)
			for (size_t t = 0; t < chunks; t++)
				small_m_task(&g, t, 0);
		else
			eml_threadpool_run(pool, chunks, small_m_task, &g);
		return;
	}
	uintptr_t wp = ((uintptr_t)work + 63) & ~(uintptr_t)63;
	g.work = (unsigned char *)wp;
	size_t bb;
	block_sizes(g.isa, M, N, K, &g.a_bytes, &bb);
	/* Pre-packed B needs no B block; a packed B of a foreign NR (portable kernel) may have a
	 * larger one than eml_sgemm_work_size counted, so it must not be reserved either. */
	g.per_thread = (g.packed_a ? 0 : g.a_bytes) + (g.packed ? 0 : bb);
	if (g.packed_a)
		g.a_bytes = 0;

	int threads = eml_threadpool_threads(pool);
	double flops = (double)M * (double)N * (double)K;
	size_t mt = (M + (size_t)g.isa->mr - 1) / (size_t)g.isa->mr;
	size_t nt = (N + (size_t)g.isa->nr - 1) / (size_t)g.isa->nr;
	if (threads <= 1 || flops < GEMM_PARALLEL_MIN_FLOPS || (mt < 2 && nt < 2)) {
		gemm_serial(&g, 0, M, 0, N, 0);
		return;
	}
	/* Split the dimension whose slabs need no packing of their own when one operand is
	 * pre-packed (M slabs with packed B, N slabs with packed A), else the one with more tiles. */
	if (g.packed && !g.packed_a && mt >= 2 * (size_t)threads)
		g.split_n = 0;
	else if (g.packed_a && !g.packed && nt >= 2 * (size_t)threads)
		g.split_n = 1;
	else
		g.split_n = nt >= mt;
	size_t tiles = g.split_n ? nt : mt;
	size_t unit = g.split_n ? (size_t)g.isa->nr : (size_t)g.isa->mr;
	/* More slabs than threads (up to 4 per thread) so that a thread slowed down by anything
	 * else on the machine does not hold up the others, but only when slabs stay wide: every
	 * slab packs the whole other operand again (memory-bound work, ~30x dearer per element
	 * than a multiply-add), so slabs of at least 1024 columns or 512 rows. */
	size_t min_tiles = g.split_n ? (1024 + unit - 1) / unit : (512 + unit - 1) / unit;
	/* A whole number of slabs per thread (1..4) keeps equal shares when all run alike. */
	size_t per_thread = tiles / (min_tiles * (size_t)threads);
	if (per_thread > 4)
		per_thread = 4;
	if (per_thread < 1)
		per_thread = 1;
	size_t want = per_thread * (size_t)threads;
	size_t per = (tiles + want - 1) / want;
	g.slab = per * unit;
	g.n_slabs = (tiles + per - 1) / per;
	eml_threadpool_run(pool, g.n_slabs, gemm_task, &g);
}

void eml_sgemm(eml_threadpool *pool, size_t M, size_t N, size_t K, float alpha, const float *A,
               size_t lda, int trans_a, const float *B, size_t ldb, int trans_b,
               const float *packed_b, float *C, size_t ldc, const eml_epilogue *ep, void *work)
{
	sgemm_impl(pool, M, N, K, alpha, A, lda, trans_a, NULL, B, ldb, trans_b, packed_b, C, ldc,
	           ep, work);
}

void eml_sgemm_packed_a(eml_threadpool *pool, size_t M, size_t N, size_t K, const float *packed_a,
                        const float *B, size_t ldb, int trans_b, float *C, size_t ldc,
                        const eml_epilogue *ep, void *work)
{
	sgemm_impl(pool, M, N, K, 1.0f, NULL, 0, 0, packed_a, B, ldb, trans_b, NULL, C, ldc, ep,
	           work);
}

void eml_sgemm_packed_ab(eml_threadpool *pool, size_t M, size_t N, size_t K, const float *packed_a,
                         const float *packed_b, float *C, size_t ldc, const eml_epilogue *ep,
                         void *work)
{
	sgemm_impl(pool, M, N, K, 1.0f, NULL, 0, 0, packed_a, NULL, 0, 0, packed_b, C, ldc, ep,
	           work);
}
