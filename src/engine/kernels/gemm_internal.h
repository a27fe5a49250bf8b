/*
 * Internal contract between the GEMM driver (gemm.c) and its ISA-specific micro-kernels.
 *
 * A micro-kernel computes one MR x NR tile: C[0..MR, 0..NR] (+)= Apanel * Bpanel over kc, where
 * Apanel is kc x MR packed k-major (a[k*MR + i]) and Bpanel is kc x NR packed k-major
 * (b[k*ldb + j], ldb = NR when packed). accumulate = 0 stores, 1 adds into C. Alpha was folded into A at packing.
 * The portable kernel honours mr/nr given at run time; the SIMD ones ignore them.
 */
#ifndef EML_ENGINE_KERNELS_GEMM_INTERNAL_H
#define EML_ENGINE_KERNELS_GEMM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef void (*eml_ukernel_fn)(size_t kc, const float *a, const float *b, size_t ldb, float *c,
                               size_t ldc, int accumulate, int h_or_mr, int w_or_nr);

/* C (M x N, ldc) (+)= alpha * op(A) * B for small M, B row-major unpacked (ldb): streams B's
 * rows, C stays in L1 (N up to a few hundred columns). accumulate = 1 adds into C. */
typedef void (*eml_small_m_fn)(size_t M, size_t N, size_t K, float alpha, const float *A,
                               size_t lda, int trans_a, const float *B, size_t ldb, float *C,
                               size_t ldc, int accumulate);
void eml_gemm_small_m_avx512(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                             int trans_a, const float *B, size_t ldb, float *C, size_t ldc,
                             int accumulate);
void eml_gemm_small_m_avx2(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                           int trans_a, const float *B, size_t ldb, float *C, size_t ldc,
                           int accumulate);

/* Pack rows k0..k0+kc, columns n0..n0+nc of a row-major B into panels of NR columns (kc x NR
 * each, k-major, zero-padded past nc), panel stride ps floats. */
typedef void (*eml_pack_b_fn)(const float *B, size_t ldb, size_t k0, size_t kc, size_t n0,
                              size_t nc, float *dst, size_t ps);
void eml_pack_b_avx512(const float *B, size_t ldb, size_t k0, size_t kc, size_t n0, size_t nc,
                       float *dst, size_t ps);
void eml_pack_b_avx2(const float *B, size_t ldb, size_t k0, size_t kc, size_t n0, size_t nc,
                     float *dst, size_t ps);

/* Pack MR full rows of a row-major A (row stride lda), columns 0..kc, into one k-major panel. */
typedef void (*eml_pack_a_fn)(const float *src, size_t lda, size_t kc, float *p);
void eml_pack_a_avx512(const float *src, size_t lda, size_t kc, float *p);
void eml_pack_a_avx2(const float *src, size_t lda, size_t kc, float *p);

#define EML_AVX512_MR 14
#define EML_AVX512_NR 32
#define EML_AVX2_MR 6
#define EML_AVX2_NR 16

void eml_ukernel_avx512(size_t kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                        int accumulate, int h, int w);
void eml_ukernel_avx2(size_t kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
                      int accumulate, int h, int w);

/* The AVX-512 tile with row k of B at b + off[k] instead of b + k * ldb, stored (not added): the
 * direct convolution (conv.c), where row k is the w input columns that tap k reads. off has
 * EML_UKERNEL_PREFETCH_TAPS more entries past kc (prefetch addresses only: any offset into b). */
#define EML_UKERNEL_PREFETCH_TAPS 48
void eml_ukernel_offsets_avx512(size_t kc, const float *a, const float *b, const int32_t *off,
                                float *c, size_t ldc, int h, int w);

#endif
