/*
 * SGEMM throughput, ours vs OpenBLAS (bench only: OpenBLAS is never linked into libeml).
 * Usage: bench_sgemm [min_seconds_per_point [isa]]   (default 0.3; isa: avx512|avx2|portable)
 * Prints GFLOP/s per shape at 1 and 2 threads; each figure is from the fastest single call.
 * ours: B unpacked (packed per call, like OpenBLAS); ours+pkB: B pre-packed once (weights at
 * assembly); ratio = ours / openblas.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kernels/gemm.h"
#include "engine/threadpool.h"

void openblas_set_num_threads(int num_threads);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct shape {
	size_t M, N, K;
	const char *what;
} shape;

typedef struct bench_ctx {
	eml_threadpool *pool;
	size_t M, N, K;
	const float *A, *B, *packed;
	float *C;
	void *work;
	int which; /* 0 ours, 1 ours pre-packed B, 2 openblas */
} bench_ctx;

static void run_once(const bench_ctx *b)
{
	if (b->which == 2)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b->M, (int)b->N,
		            (int)b->K, 1.0f, b->A, (int)b->K, b->B, (int)b->N, 0.0f, b->C,
		            (int)b->N);
	else
		eml_sgemm(b->pool, b->M, b->N, b->K, 1.0f, b->A, b->K, 0, b->B, b->N, 0,
		          b->which == 1 ? b->packed : NULL, b->C, b->N, NULL, b->work);
}

/* Best single-call time over about min_s seconds: the machine is shared, and the fastest call
 * is the one least disturbed by other processes. */
static double gflops(const bench_ctx *b, double min_s)
{
	double flop = 2.0 * (double)b->M * (double)b->N * (double)b->K, best = 1e30;
	run_once(b); /* warm up */
	double start = now();
	int iters = 0;
	do {
		double t0 = now();
		run_once(b);
		double t = now() - t0;
		if (t < best)
			best = t;
		iters++;
	} while (now() - start < min_s || iters < 3);
	return flop / best * 1e-9;
}

int main(int argc, char **argv)
{
	double min_s = argc > 1 ? atof(argv[1]) : 0.3;
	if (argc > 2 && eml_sgemm_force_isa(argv[2]) != 0) {
		fprintf(stderr, "bench_sgemm: isa %s not available\n", argv[2]);
		return 2;
	}
	const shape shapes[] = {
	    {256, 256, 256, "square"},
	    {1024, 1024, 1024, "square"},
	    {2048, 2048, 2048, "square"},
	    {64, 3136, 576, "conv 3x3 64ch 56x56"},
	    {256, 49, 2304, "conv 3x3 256ch 7x7"},
	    {1, 1000, 1024, "fc 1024->1000"},
	    {128, 784, 1152, "conv 3x3 128ch 28x28"},
	    {512, 196, 256, "conv 1x1 256->512 14x14"},
	};
	printf("isa: %s\n", eml_sgemm_isa());
	printf("%-26s %5s %5s %5s %3s %9s %9s %9s %6s\n", "shape", "M", "N", "K", "thr", "ours",
	       "ours+pkB", "openblas", "ratio");
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		const shape *sh = &shapes[s];
		float *A = malloc(sh->M * sh->K * sizeof(float));
		float *B = malloc(sh->K * sh->N * sizeof(float));
		float *C = malloc(sh->M * sh->N * sizeof(float));
		float *packed = malloc(eml_sgemm_packed_b_size(sh->K, sh->N));
		void *work =
		    aligned_alloc(64, (eml_sgemm_work_size(sh->M, sh->N, sh->K, 2) + 63) / 64 * 64);
		if (!A || !B || !C || !packed || !work)
			return 1;
		for (size_t i = 0; i < sh->M * sh->K; i++)
			A[i] = (float)((i * 7) % 13) * 0.1f - 0.6f;
		for (size_t i = 0; i < sh->K * sh->N; i++)
			B[i] = (float)((i * 5) % 11) * 0.1f - 0.5f;
		eml_sgemm_pack_b(B, sh->N, 0, sh->K, sh->N, packed);
		for (int t = 1; t <= 2; t++) {
			eml_threadpool *pool = NULL;
			if (eml_threadpool_new(t, &pool) != 0)
				return 1;
			openblas_set_num_threads(t);
			bench_ctx b = {pool, sh->M, sh->N, sh->K, A, B, packed, C, work, 0};
			double ours = gflops(&b, min_s);
			b.which = 1;
			double ours_p = gflops(&b, min_s);
			b.which = 2;
			double ob = gflops(&b, min_s);
			printf("%-26s %5zu %5zu %5zu %3d %9.1f %9.1f %9.1f %6.2f\n", sh->what,
			       sh->M, sh->N, sh->K, t, ours, ours_p, ob, ours / ob);
			fflush(stdout);
			eml_threadpool_free(pool);
		}
		free(A);
		free(B);
		free(C);
		free(packed);
		free(work);
	}
	return 0;
}
