/*
 * SGEMM: C[M,N] = A[M,K] * B[K,N] (+ epilogue), row-major, float32. Our own, so that every packing
 * buffer lives in memory we wipe (DESIGN §6). Packed panels with register-blocked micro-kernels
 * for AVX-512 and AVX2/FMA chosen at run time from CPU features, and a portable C fallback.
 *
 * Memory: the caller provides `work` (eml_sgemm_work_size bytes, from the engine arena); the
 * kernels never allocate. Weights can be packed once at assembly (eml_sgemm_pack_b) and reused.
 * Thread-safety: pure functions; parallelism through the pool passed in (NULL = single thread).
 */
#ifndef EML_ENGINE_KERNELS_GEMM_H
#define EML_ENGINE_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/threadpool.h"

enum eml_act {
	EML_ACT_NONE = 0,
	EML_ACT_RELU,
	EML_ACT_CLIP, /* min(max(x, a), b) */
	EML_ACT_SIGMOID,
	EML_ACT_HARDSIGMOID, /* max(0, min(1, a*x + b)) */
	EML_ACT_HARDSWISH,   /* x * max(0, min(1, x/6 + 1/2)) */
	EML_ACT_LEAKYRELU,   /* x >= 0 ? x : a*x */
	EML_ACT_TANH,
};

enum eml_bias_kind {
	EML_BIAS_NONE = 0,
	EML_BIAS_ROW,  /* bias[m] added to row m (Conv: per output channel) */
	EML_BIAS_COL,  /* bias[n] added to column n (Gemm/MatMul + Add) */
	EML_BIAS_FULL, /* beta * C_in[m*ldc_in + n], Gemm's C input (ldc_in given) */
};

typedef struct eml_epilogue {
	int bias_kind;
	const float *bias;
	float beta; /* for EML_BIAS_FULL */
	size_t
	    ld_bias; /* for EML_BIAS_FULL: row stride of the bias matrix; 0 means broadcast rows */
	int act;     /* enum eml_act, applied after bias */
	float act_a, act_b;
	/* post-activation affine y = y * post_s + post_t (a scalar "scale and shift" layer after
	 * the activation), applied when post is non-zero */
	int post;
	float post_s, post_t;
} eml_epilogue;

/* Multiply row m of a packed A (eml_sgemm_pack_a) by scale[m], in place. */
void eml_sgemm_packed_a_scale_rows(float *packed, const float *scale);

/* Opaque-by-convention packed B: produced by eml_sgemm_pack_b into caller memory (a 64-byte
 * header, then panels of the ISA's NR columns over the whole K). */
size_t eml_sgemm_packed_b_size(size_t K, size_t N);
/* Pack B (K x N, row stride ldb; trans_b = 1 means B is given as N x K, i.e. use B^T). */
void eml_sgemm_pack_b(const float *B, size_t ldb, int trans_b, size_t K, size_t N, float *packed);

/* Scratch bytes eml_sgemm needs for (M, N, K) with `threads` workers; pass
 * eml_threadpool_threads(pool) of the pool later given to eml_sgemm (a smaller pool is fine).
 * `work` should be 64-byte aligned (it is aligned internally otherwise, within the size). */
size_t eml_sgemm_work_size(size_t M, size_t N, size_t K, int threads);

/*
 * C = act(alpha * op(A) * op(B) + bias)  (epilogue optional: ep may be NULL).
 * op(A) = A (M x K, stride lda) or A^T when trans_a (A is K x M). B either unpacked (B, ldb,
 * trans_b) or packed (packed_b != NULL; B ignored). Packings made under another ISA (tests that
 * force one) still work, on the portable kernel.
 * Any M, N, K (K == 0 gives act(bias)). C must not overlap A or B. EML_BIAS_FULL may alias C
 * exactly (bias == C, ld_bias == ldc: Gemm's in-place C), no other overlap.
 */
void eml_sgemm(eml_threadpool *pool, size_t M, size_t N, size_t K, float alpha, const float *A,
               size_t lda, int trans_a, const float *B, size_t ldb, int trans_b,
               const float *packed_b, float *C, size_t ldc, const eml_epilogue *ep, void *work);

/*
 * Pre-packed A (the weights are on the left, as in Conv: Y = W * im2col(X)). alpha is 1.
 * Same contract as eml_sgemm otherwise; eml_sgemm_work_size applies.
 */
size_t eml_sgemm_packed_a_size(size_t M, size_t K);
void eml_sgemm_pack_a(const float *A, size_t lda, int trans_a, size_t M, size_t K, float *packed);
void eml_sgemm_packed_a(eml_threadpool *pool, size_t M, size_t N, size_t K, const float *packed_a,
                        const float *B, size_t ldb, int trans_b, float *C, size_t ldc,
                        const eml_epilogue *ep, void *work);

/*
 * Both operands pre-packed (alpha 1). packed_b may also be written directly in the packed-B
 * layout by the caller (Conv's im2col does, saving a pass): eml_sgemm_packed_b_header, then
 * panels of eml_sgemm_nr() columns, each K x NR k-major (b[k*NR + j]), panel p at
 * PACKED_HDR + p*K*NR floats (16-float header), columns past N zero.
 */
#define EML_SGEMM_PACKED_HDR_FLOATS 16
size_t eml_sgemm_nr(void);
void eml_sgemm_packed_b_header(size_t K, size_t N, float *packed);
void eml_sgemm_packed_ab(eml_threadpool *pool, size_t M, size_t N, size_t K, const float *packed_a,
                         const float *packed_b, float *C, size_t ldc, const eml_epilogue *ep,
                         void *work);

/* Apply an activation in place to n floats (used by fused epilogues elsewhere). */
void eml_act_apply(float *x, size_t n, int act, float a, float b);
/* x = x * s + t in place (the post-activation affine of an epilogue). */
void eml_affine_apply(float *x, size_t n, float s, float t);

/* Which micro-kernel runs on this CPU: "avx512", "avx2", or "portable". */
const char *eml_sgemm_isa(void);

/*
 * Test-only: force the micro-kernel ("portable", "avx2", "avx512"; NULL = back to automatic).
 * Returns 0 on success, -1 when that ISA is not available on this CPU/build. Not thread-safe:
 * call it only while no GEMM runs. Sizes (work, packed B) depend on the ISA: compute them after.
 */
int eml_sgemm_force_isa(const char *isa);

#endif
