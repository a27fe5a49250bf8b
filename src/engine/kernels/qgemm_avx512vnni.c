/*
 * Integer GEMM micro-kernel with AVX-512 VNNI: vpdpbusd multiplies 4 unsigned bytes of A by 4
 * signed bytes of B and adds the four products to an int32 lane, without intermediate
 * saturation (vpdpbusds is the saturating form, not used). Contract in qgemm_internal.h.
 * 6 rows x 32 columns (two 16-column panels): 12 accumulators, two B loads and six broadcasts
 * per k quad.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/qgemm_internal.h"

void eml_qgemm_ukernel_vnni(size_t kq, const uint8_t *a, size_t lda, int h, const int8_t *b0,
                            const int8_t *b1, int32_t *acc)
{
	const uint8_t *ar[EML_QG_VNNI_MR];
	for (int r = 0; r < EML_QG_VNNI_MR; r++)
		ar[r] = a + (size_t)(r < h ? r : 0) * lda;
	__m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
	        c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	const int8_t *bb1 = b1 != NULL ? b1 : b0;
	for (size_t q = 0; q < kq; q++) {
		__m512i x0 = _mm512_loadu_si512((const void *)(b0 + q * 64));
		__m512i x1 = _mm512_loadu_si512((const void *)(bb1 + q * 64));
		int32_t w;
#define ROW(r, lo, hi)                                                                             \
	memcpy(&w, ar[r] + 4 * q, 4);                                                              \
	{                                                                                          \
		__m512i av = _mm512_set1_epi32(w);                                                 \
		lo = _mm512_dpbusd_epi32(lo, av, x0);                                              \
		hi = _mm512_dpbusd_epi32(hi, av, x1);                                              \
	}
		ROW(0, c00, c01)
		ROW(1, c10, c11)
		ROW(2, c20, c21)
		ROW(3, c30, c31)
		ROW(4, c40, c41)
		ROW(5, c50, c51)
#undef ROW
	}
	const int PW = EML_QG_VNNI_PW;
	_mm512_storeu_si512((void *)(acc + 0 * 2 * PW), c00);
	_mm512_storeu_si512((void *)(acc + 0 * 2 * PW + PW), c01);
	_mm512_storeu_si512((void *)(acc + 1 * 2 * PW), c10);
	_mm512_storeu_si512((void *)(acc + 1 * 2 * PW + PW), c11);
	_mm512_storeu_si512((void *)(acc + 2 * 2 * PW), c20);
	_mm512_storeu_si512((void *)(acc + 2 * 2 * PW + PW), c21);
	_mm512_storeu_si512((void *)(acc + 3 * 2 * PW), c30);
	_mm512_storeu_si512((void *)(acc + 3 * 2 * PW + PW), c31);
	_mm512_storeu_si512((void *)(acc + 4 * 2 * PW), c40);
	_mm512_storeu_si512((void *)(acc + 4 * 2 * PW + PW), c41);
	_mm512_storeu_si512((void *)(acc + 5 * 2 * PW), c50);
	_mm512_storeu_si512((void *)(acc + 5 * 2 * PW + PW), c51);
}

/* Pack full quads x full panels of an unpacked uint8/int8 B (row stride ldb bytes) into the VNNI
 * layout: for each panel of 16 columns and quad of 4 rows, the 4 rows' 16 bytes interleaved
 * byte-wise into [column][row] (64 bytes), xor flip (0x80 turns uint8 b into int8 b - 128), and
 * the column sums of the stored int8 values added into cs (vpdpbusd with a vector of ones). */
void eml_qgemm_pack_vnni(const uint8_t *B, size_t ldb, size_t kq_full, size_t np_full, size_t kq,
                         uint8_t flip, int8_t *dst, int32_t *cs)
{
	const __m128i fx = _mm_set1_epi8((char)flip);
	const __m512i ones = _mm512_set1_epi8(1);
	for (size_t p = 0; p < np_full; p++) {
		__m512i sum = _mm512_loadu_si512((const void *)(cs + p * EML_QG_VNNI_PW));
		const uint8_t *col = B + p * EML_QG_VNNI_PW;
		int8_t *d = dst + p * kq * EML_QG_VNNI_PW * 4;
		for (size_t q = 0; q < kq_full; q++) {
			const uint8_t *r = col + 4 * q * ldb;
			__m128i r0 =
			    _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)r), fx);
			__m128i r1 = _mm_xor_si128(
			    _mm_loadu_si128((const __m128i *)(const void *)(r + ldb)), fx);
			__m128i r2 = _mm_xor_si128(
			    _mm_loadu_si128((const __m128i *)(const void *)(r + 2 * ldb)), fx);
			__m128i r3 = _mm_xor_si128(
			    _mm_loadu_si128((const __m128i *)(const void *)(r + 3 * ldb)), fx);
			__m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
			__m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
			__m512i v = _mm512_inserti32x4(
			    _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(
			                                              _mm_unpacklo_epi16(t0, t2)),
			                                          _mm_unpackhi_epi16(t0, t2), 1),
			                       _mm_unpacklo_epi16(t1, t3), 2),
			    _mm_unpackhi_epi16(t1, t3), 3);
			_mm512_storeu_si512((void *)(d + q * 64), v);
			sum = _mm512_dpbusd_epi32(sum, ones, v);
		}
		_mm512_storeu_si512((void *)(cs + p * EML_QG_VNNI_PW), sum);
	}
}
