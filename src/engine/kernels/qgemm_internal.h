/*
 * Internal contract between the integer GEMM driver (qgemm.c) and its ISA micro-kernels.
 *
 * Both compute raw dot products of one tile of up to MR rows and two B panels into acc (row-major
 * [MR][2 * PW], int32); rows >= h are not computed into anything the driver reads (their A rows
 * are replaced by row 0). b1 == NULL means only the first panel is valid (acc columns PW..2PW-1
 * are then not read).
 *   VNNI layout: A' rows are uint8, k padded to a multiple of 4 (kq quads, zeros past K); a B
 *   panel is kq x PW x 4 int8 (quad q, column j, byte t = B'[4q + t][j]).
 *   I16 layout: A' rows are int16 (a - za), k padded to a multiple of 2 (kp pairs); a B panel is
 *   kp x PW x 2 int16 (pair p, column j, t = (B - zb)[2p + t][j]).
 */
#ifndef EML_ENGINE_KERNELS_QGEMM_INTERNAL_H
#define EML_ENGINE_KERNELS_QGEMM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define EML_QG_VNNI_MR 6
#define EML_QG_VNNI_PW 16
#define EML_QG_I16_MR 6
#define EML_QG_I16_PW 8

void eml_qgemm_ukernel_vnni(size_t kq, const uint8_t *a, size_t lda, int h, const int8_t *b0,
                            const int8_t *b1, int32_t *acc);
void eml_qgemm_pack_vnni(const uint8_t *B, size_t ldb, size_t kq_full, size_t np_full, size_t kq,
                         uint8_t flip, int8_t *dst, int32_t *cs);
/* DynamicQuantizeLinear's two passes (AVX2): min/max of x (NaN ignored, range includes 0), and
 * y = saturate(round_half_even(x / scale) + zp) to uint8. */
void eml_minmax_avx2(const float *x, size_t n, float *mn, float *mx);
void eml_quant_u8_avx2(const float *x, size_t n, float scale, int32_t zp, uint8_t *y);
void eml_qgemm_ukernel_i16_avx2(size_t kp, const int16_t *a, size_t lda, int h, const int16_t *b0,
                                const int16_t *b1, int32_t *acc);

#endif
