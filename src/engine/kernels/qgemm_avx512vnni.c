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
