/*
 * Integer GEMM for the quantized operators (MatMulInteger, QLinearMatMul, ConvInteger,
 * QLinearConv):
 *
 *   C[m, n] = sum_k (A[m, k] - za[m]) * (B[k, n] - zb[n])      (int32, exact)
 *
 * A and B are uint8 or int8 (any combination), zero points per row of A / per column of B (or
 * one for all). The result equals the ONNX reference's int32 accumulation bit for bit (sums wrap
 * modulo 2^32 like an int32 accumulator would; no saturation anywhere). Kernels, chosen at run
 * time from CPU features:
 *   - avx512vnni: vpdpbusd (u8 x s8, four products summed into int32 without saturation). A is
 *     made unsigned (a + 128 for int8) and B signed (b - 128 for uint8); the zero points become
 *     the corrections  - zb' * rowsum(A') - za' * colsum(B') + K * za' * zb'.
 *   - avx2: both operands widened to int16 with the zero points subtracted (values in
 *     [-255, 255]); vpmaddwd sums two products into int32 (at most 2 * 255^2: no saturation).
 *     vpmaddubsw (u8 x s8 -> saturating int16 pairs) is deliberately NOT used: 2 * 255 * 128
 *     overflows int16, so it would not be exact.
 *   - portable C on the same packed layouts.
 * B is packed once (at assembly, for constant weights) into a layout tied to the ISA chosen at
 * packing time; eml_qgemm runs any packing (a packing whose ISA is unavailable or not the forced
 * one runs on the portable loop). No allocation: the caller passes `work`.
 */
#ifndef EML_ENGINE_KERNELS_QGEMM_H
#define EML_ENGINE_KERNELS_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/threadpool.h"

/* Bytes of a packed B of K x N. */
size_t eml_qgemm_packed_b_size(size_t K, size_t N);
/* Pack B (K x N, row stride ldb elements; with trans_b, B is given as N x K, element (k, n) at
 * B[n * ldb + k]; int8 when b_signed, else uint8) with its zero points (zb[0] for all columns
 * when zb_n == 1, else zb[n]; NULL means 0). */
void eml_qgemm_pack_b(const void *B, int b_signed, size_t ldb, int trans_b, size_t K, size_t N,
                      const int32_t *zb, size_t zb_n, void *packed);

/* Scratch bytes eml_qgemm needs for M rows of K. */
size_t eml_qgemm_work_size(size_t M, size_t K);

/* C (M x N, row stride ldc) = (A - za) * (B - zb); A is M x K (row stride lda; int8 when
 * a_signed, else uint8), za[0] for all rows when za_n == 1, else za[m]; NULL means 0. `work`
 * holds eml_qgemm_work_size(M, K) bytes (64-byte aligned). pool may be NULL. */
void eml_qgemm(eml_threadpool *pool, int threads, size_t M, size_t N, size_t K, const void *A,
               int a_signed, size_t lda, const int32_t *za, size_t za_n, const void *packed_b,
               int32_t *C, size_t ldc, void *work);

/* The ISA eml_qgemm_pack_b uses now: "avx512vnni", "avx2" or "portable". */
const char *eml_qgemm_isa(void);
/* Tests: force an ISA for packings made from now on ("portable", "avx2", "avx512vnni"; NULL
 * restores detection). Returns 0, or -1 when the CPU lacks it. Not thread-safe with running
 * plans; tests only. */
int eml_qgemm_force_isa(const char *isa);

#endif
