/*
 * Integer GEMM driver: packing, ISA selection, A preparation, tiling, zero-point corrections
 * (contract in qgemm.h; micro-kernels in qgemm_avx2.c and qgemm_avx512vnni.c).
 */
#include "engine/kernels/qgemm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "engine/kernels/qgemm_internal.h"

enum { QG_PORTABLE = 1, QG_AVX2 = 2, QG_VNNI = 3 };
enum { FMT_I16 = 1, FMT_VNNI = 2 };

/* The 64-byte header at the start of a packed B. */
typedef struct qg_hdr {
	uint32_t fmt;
	uint32_t pad;
	uint64_t K, N, kg, np; /* kg: k quads (VNNI) or pairs (I16); np: panels */
} qg_hdr;

#define QG_HDR 64

static _Atomic int g_forced;

/* The SIMD kernels are built for x86-64 only (CMakeLists.txt); isa_detect never selects them
 * elsewhere, so there their calls below compile to an abort that cannot be reached. */
#if defined(__x86_64__)
#define QG_PACK_VNNI eml_qgemm_pack_vnni
#define QG_UK_VNNI eml_qgemm_ukernel_vnni
#define QG_UK_I16 eml_qgemm_ukernel_i16_avx2
#else
#define QG_PACK_VNNI(...) abort()
#define QG_UK_VNNI(...) abort()
#define QG_UK_I16(...) abort()
#endif

static int isa_detect(void)
{
	static _Atomic int detected;
	int d = atomic_load_explicit(&detected, memory_order_relaxed);
	if (d != 0)
		return d;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
		d = QG_VNNI;
	else if (__builtin_cpu_supports("avx2"))
		d = QG_AVX2;
	else
		d = QG_PORTABLE;
#else
	d = QG_PORTABLE; /* the SIMD files are x86-64 only (CMakeLists.txt) */
#endif
	atomic_store_explicit(&detected, d, memory_order_relaxed);
	return d;
}

static int isa_get(void)
{
	int f = atomic_load_explicit(&g_forced, memory_order_relaxed);
	return f != 0 ? f : isa_detect();
}

const char *eml_qgemm_isa(void)
{
	switch (isa_get()) {
	case QG_VNNI:
		return "avx512vnni";
	case QG_AVX2:
		return "avx2";
	default:
		return "portable";
	}
}

int eml_qgemm_force_isa(const char *isa)
{
	if (isa == NULL) {
		atomic_store(&g_forced, 0);
		return 0;
	}
	int want = strcmp(isa, "portable") == 0     ? QG_PORTABLE
	           : strcmp(isa, "avx2") == 0       ? QG_AVX2
	           : strcmp(isa, "avx512vnni") == 0 ? QG_VNNI
	                                            : 0;
	if (want == 0 || want > isa_detect())
		return -1;
	atomic_store(&g_forced, want);
	return 0;
}

static size_t up(size_t a, size_t b)
{
	return (a + b - 1) / b;
}

static size_t vnni_bytes(size_t K, size_t N)
{
	size_t np = up(N, EML_QG_VNNI_PW);
	return QG_HDR + np * up(K, 4) * EML_QG_VNNI_PW * 4 + 2 * np * EML_QG_VNNI_PW * 4;
}

static size_t i16_bytes(size_t K, size_t N)
{
	return QG_HDR + up(N, EML_QG_I16_PW) * up(K, 2) * EML_QG_I16_PW * 2 * 2;
}

size_t eml_qgemm_packed_b_size(size_t K, size_t N)
{
	size_t a = vnni_bytes(K, N), b = i16_bytes(K, N);
	return a > b ? a : b;
}

static int32_t ld8(const void *p, int sgn, size_t i)
{
	return sgn ? (int32_t)((const int8_t *)p)[i] : (int32_t)((const uint8_t *)p)[i];
}

void eml_qgemm_pack_b(const void *B, int b_signed, size_t ldb, int trans_b, size_t K, size_t N,
                      const int32_t *zb, size_t zb_n, void *packed)
{
	size_t sk = trans_b ? 1 : ldb, sn = trans_b ? ldb : 1;
	qg_hdr *h = packed;
	memset(h, 0, QG_HDR);
	h->K = K;
	h->N = N;
	uint8_t *base = (uint8_t *)packed + QG_HDR;
	if (isa_get() == QG_VNNI) {
		const size_t PW = EML_QG_VNNI_PW, kq = up(K, 4), np = up(N, PW);
		h->fmt = FMT_VNNI;
		h->kg = kq;
		h->np = np;
		int8_t *b = (int8_t *)base;
		int32_t *zbp = (int32_t *)(void *)(base + np * kq * PW * 4), *cs = zbp + np * PW;
		memset(b, 0, np * kq * PW * 4);
		for (size_t n = 0; n < np * PW; n++) {
			zbp[n] = 0;
			cs[n] = 0;
		}
		/* k outer, n inner: B rows are read in order (B may be a large image matrix) */
		int32_t flip = b_signed ? 0 : 128; /* B' = B - 128 for uint8 (B xor 0x80 as int8) */
		for (size_t n = 0; n < N; n++) {
			int32_t z = zb == NULL ? 0 : zb[zb_n == 1 ? 0 : n];
			zbp[n] = z - flip;
		}
		uint32_t *csu = (uint32_t *)cs;
		size_t kq_full = 0, np_full = 0;
		if (!trans_b) {
			/* the bulk with SIMD, the partial quad and panel below */
			kq_full = K / 4;
			np_full = N / PW;
			QG_PACK_VNNI(B, ldb, kq_full, np_full, kq, (uint8_t)flip, b, cs);
		}
		for (size_t k = 0; k < K; k++) {
			int8_t *bk = b + (k / 4) * PW * 4 + k % 4;
			for (size_t n = k < kq_full * 4 ? np_full * PW : 0; n < N; n++) {
				int32_t v = ld8(B, b_signed, k * sk + n * sn) - flip;
				bk[((n / PW) * kq * PW + n % PW) * 4] = (int8_t)v;
				csu[n] += (uint32_t)v;
			}
		}
		return;
	}
	const size_t PW = EML_QG_I16_PW, kp = up(K, 2), np = up(N, PW);
	h->fmt = FMT_I16;
	h->kg = kp;
	h->np = np;
	int16_t *b = (int16_t *)(void *)base;
	memset(b, 0, np * kp * PW * 2 * 2);
	for (size_t k = 0; k < K; k++) {
		int16_t *bk = b + (k / 2) * PW * 2 + k % 2;
		for (size_t n = 0; n < N; n++) {
			int32_t z = zb == NULL ? 0 : zb[zb_n == 1 ? 0 : n];
			bk[((n / PW) * kp * PW + n % PW) * 2] =
			    (int16_t)(ld8(B, b_signed, k * sk + n * sn) - z);
		}
	}
}

size_t eml_qgemm_work_size(size_t M, size_t K)
{
	/* VNNI: M rows of up(K,4) bytes + rowsum and zero point per row; I16: M rows of up(K,2)
	 * int16. The larger of the two, plus alignment slack. */
	size_t v = M * (up(K, 4) * 4) + 2 * M * 4;
	size_t i = M * up(K, 2) * 2 * 2;
	return (v > i ? v : i) + 128;
}

typedef struct qg_run {
	const qg_hdr *h;
	const uint8_t *bp; /* packed panels */
	const void *a;     /* prepared A' */
	size_t lda;        /* in elements of A' */
	const int32_t *rs, *zap;
	int32_t *C;
	size_t ldc, M, nt;
	int simd;
} qg_run;

/* Portable micro-kernels on the same layouts. */
static void uk_vnni_c(size_t kq, const uint8_t *a, size_t lda, int h, const int8_t *b0,
                      const int8_t *b1, int32_t *acc)
{
	const size_t PW = EML_QG_VNNI_PW;
	for (int r = 0; r < h; r++)
		for (int half = 0; half < 2; half++) {
			const int8_t *b = half ? b1 : b0;
			if (b == NULL)
				continue;
			for (size_t j = 0; j < PW; j++) {
				uint32_t s = 0;
				for (size_t q = 0; q < kq; q++)
					for (size_t t = 0; t < 4; t++)
						s += (uint32_t)((int32_t)a[r * lda + 4 * q + t] *
						                (int32_t)b[(q * PW + j) * 4 + t]);
				acc[(size_t)r * 2 * PW + half * PW + j] = (int32_t)s;
			}
		}
}

static void uk_i16_c(size_t kp, const int16_t *a, size_t lda, int h, const int16_t *b0,
                     const int16_t *b1, int32_t *acc)
{
	const size_t PW = EML_QG_I16_PW;
	for (int r = 0; r < h; r++)
		for (int half = 0; half < 2; half++) {
			const int16_t *b = half ? b1 : b0;
			if (b == NULL)
				continue;
			for (size_t j = 0; j < PW; j++) {
				uint32_t s = 0;
				for (size_t p = 0; p < kp; p++)
					for (size_t t = 0; t < 2; t++)
						s += (uint32_t)((int32_t)a[r * lda + 2 * p + t] *
						                (int32_t)b[(p * PW + j) * 2 + t]);
				acc[(size_t)r * 2 * PW + half * PW + j] = (int32_t)s;
			}
		}
}

static void qg_tiles(void *ctx, size_t begin, size_t end)
{
	const qg_run *r = ctx;
	const qg_hdr *h = r->h;
	int32_t acc[EML_QG_VNNI_MR * 2 * EML_QG_VNNI_PW > EML_QG_I16_MR * 2 * EML_QG_I16_PW
	                ? EML_QG_VNNI_MR * 2 * EML_QG_VNNI_PW
	                : EML_QG_I16_MR * 2 * EML_QG_I16_PW];
	int vnni = h->fmt == FMT_VNNI;
	size_t MR = vnni ? EML_QG_VNNI_MR : EML_QG_I16_MR,
	       PW = vnni ? EML_QG_VNNI_PW : EML_QG_I16_PW;
	size_t pstride = vnni ? h->kg * PW * 4 : h->kg * PW * 2 * 2; /* bytes per panel */
	for (size_t t = begin; t < end; t++) {
		size_t m0 = (t / r->nt) * MR, p0 = (t % r->nt) * 2;
		int hh = (int)(r->M - m0 < MR ? r->M - m0 : MR);
		const uint8_t *b0 = r->bp + p0 * pstride;
		const uint8_t *b1 = p0 + 1 < h->np ? b0 + pstride : NULL;
		if (vnni) {
			const uint8_t *a = (const uint8_t *)r->a + m0 * r->lda;
			if (r->simd)
				QG_UK_VNNI(h->kg, a, r->lda, hh, (const int8_t *)b0,
				           (const int8_t *)b1, acc);
			else
				uk_vnni_c(h->kg, a, r->lda, hh, (const int8_t *)b0,
				          (const int8_t *)b1, acc);
		} else {
			const int16_t *a = (const int16_t *)r->a + m0 * r->lda;
			if (r->simd)
				QG_UK_I16(h->kg, a, r->lda, hh, (const int16_t *)(const void *)b0,
				          (const int16_t *)(const void *)b1, acc);
			else
				uk_i16_c(h->kg, a, r->lda, hh, (const int16_t *)(const void *)b0,
				         (const int16_t *)(const void *)b1, acc);
		}
		size_t n0 = p0 * PW, nw = (b1 != NULL ? 2 : 1) * PW;
		if (n0 + nw > h->N)
			nw = h->N - n0;
		const int32_t *zbp = NULL, *cs = NULL;
		if (vnni) {
			zbp = (const int32_t *)(const void *)(r->bp + h->np * pstride);
			cs = zbp + h->np * PW;
		}
		for (int i = 0; i < hh; i++) {
			int32_t *c = r->C + (m0 + (size_t)i) * r->ldc + n0;
			const int32_t *ac = acc + (size_t)i * 2 * PW;
			if (!vnni) {
				memcpy(c, ac, nw * sizeof(int32_t));
				continue;
			}
			/* sum (a'-za')(b'-zb') = sum a'b' - zb' sum a' - za' sum b' + K za' zb',
			 * modulo 2^32 */
			uint32_t rs = (uint32_t)r->rs[m0 + (size_t)i],
			         za = (uint32_t)r->zap[m0 + (size_t)i];
			uint32_t kza = (uint32_t)h->K * za;
			for (size_t j = 0; j < nw; j++) {
				uint32_t zb = (uint32_t)zbp[n0 + j];
				c[j] = (int32_t)((uint32_t)ac[j] - zb * rs -
				                 za * (uint32_t)cs[n0 + j] + kza * zb);
			}
		}
	}
}

void eml_qgemm(eml_threadpool *pool, int threads, size_t M, size_t N, size_t K, const void *A,
               int a_signed, size_t lda, const int32_t *za, size_t za_n, const void *packed_b,
               int32_t *C, size_t ldc, void *work)
{
	const qg_hdr *h = packed_b;
	if (M == 0 || N == 0)
		return;
	uint8_t *w = (uint8_t *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
	qg_run r = {.h = h, .bp = (const uint8_t *)packed_b + QG_HDR, .C = C, .ldc = ldc, .M = M};
	int cur = isa_get();
	if (h->fmt == FMT_VNNI) {
		size_t K4 = h->kg * 4;
		uint8_t *a2 = w;
		int32_t *rs = (int32_t *)(void *)(w + M * K4), *zap = rs + M;
		uint8_t flip = a_signed ? 0x80 : 0;
		for (size_t m = 0; m < M; m++) {
			const uint8_t *src = (const uint8_t *)A + m * lda;
			uint8_t *dst = a2 + m * K4;
			uint32_t s = 0;
			for (size_t k = 0; k < K; k++) {
				dst[k] = (uint8_t)(src[k] ^ flip); /* int8 a -> uint8 a + 128 */
				s += dst[k];
			}
			memset(dst + K, 0, K4 - K);
			rs[m] = (int32_t)s;
			int32_t z = za == NULL ? 0 : za[za_n == 1 ? 0 : m];
			zap[m] = a_signed ? z + 128 : z;
		}
		r.a = a2;
		r.lda = K4;
		r.rs = rs;
		r.zap = zap;
		r.simd = cur == QG_VNNI;
	} else {
		size_t K2 = h->kg * 2;
		int16_t *a2 = (int16_t *)(void *)w;
		for (size_t m = 0; m < M; m++) {
			int32_t z = za == NULL ? 0 : za[za_n == 1 ? 0 : m];
			int16_t *dst = a2 + m * K2;
			for (size_t k = 0; k < K; k++)
				dst[k] = (int16_t)(ld8(A, a_signed, m * lda + k) - z);
			if (K2 > K)
				dst[K] = 0;
		}
		r.a = a2;
		r.lda = K2;
		r.simd = cur == QG_AVX2 || cur == QG_VNNI;
	}
	size_t MR = h->fmt == FMT_VNNI ? EML_QG_VNNI_MR : EML_QG_I16_MR;
	r.nt = up(h->np, 2);
	size_t tiles = up(M, MR) * r.nt;
	/* about 64K multiply-adds per task at least, so tiny products stay on one thread */
	size_t per_tile = MR * 2 * (h->fmt == FMT_VNNI ? EML_QG_VNNI_PW : EML_QG_I16_PW) * (K + 1);
	size_t grain = per_tile >= 65536 ? 1 : 65536 / per_tile;
	eml_parallel_for(pool, threads, tiles, grain, qg_tiles, &r);
}
