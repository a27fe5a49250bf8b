/*
 * Thread pool: every task runs exactly once, with 1..4 threads, over repeated runs; nested runs
 * execute inline; the thread index stays within [0, threads).
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "engine/threadpool.h"

typedef struct count_ctx {
	atomic_int *hits;
	atomic_int bad_thread;
	int threads;
} count_ctx;

static void count_task(void *ctx, size_t task, int thread)
{
	count_ctx *c = ctx;
	atomic_fetch_add(&c->hits[task], 1);
	if (thread < 0 || thread >= c->threads)
		atomic_fetch_add(&c->bad_thread, 1);
}

static void run_counts(eml_threadpool *p, int threads, size_t n)
{
	atomic_int *hits = calloc(n ? n : 1, sizeof(*hits));
	cr_assert_not_null(hits);
	count_ctx c = {.hits = hits, .threads = threads};
	atomic_init(&c.bad_thread, 0);
	eml_threadpool_run(p, n, count_task, &c);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(atomic_load(&hits[i]), 1, "task %zu ran %d times", i,
		             atomic_load(&hits[i]));
	cr_assert_eq(atomic_load(&c.bad_thread), 0);
	free(hits);
}

Test(threadpool, tasks_run_exactly_once)
{
	for (int threads = 1; threads <= 4; threads++) {
		eml_threadpool *p = NULL;
		cr_assert_eq(eml_threadpool_new(threads, &p), 0);
		cr_assert_eq(eml_threadpool_threads(p), threads);
		const size_t sizes[] = {0, 1, 2, 3, 7, 64, 1000};
		for (int rep = 0; rep < 50; rep++)
			for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
				run_counts(p, threads, sizes[s]);
		eml_threadpool_free(p);
	}
}

Test(threadpool, null_pool_runs_inline)
{
	cr_assert_eq(eml_threadpool_threads(NULL), 1);
	run_counts(NULL, 1, 17);
}

typedef struct nest_ctx {
	eml_threadpool *p;
	atomic_int inner;
	atomic_int outer;
} nest_ctx;

static void inner_task(void *ctx, size_t task, int thread)
{
	(void)task;
	(void)thread;
	nest_ctx *c = ctx;
	atomic_fetch_add(&c->inner, 1);
}

static void outer_task(void *ctx, size_t task, int thread)
{
	(void)task;
	(void)thread;
	nest_ctx *c = ctx;
	atomic_fetch_add(&c->outer, 1);
	eml_threadpool_run(c->p, 5, inner_task, c);
}

Test(threadpool, nested_run_is_inline)
{
	eml_threadpool *p = NULL;
	cr_assert_eq(eml_threadpool_new(3, &p), 0);
	nest_ctx c = {.p = p};
	atomic_init(&c.inner, 0);
	atomic_init(&c.outer, 0);
	for (int rep = 0; rep < 20; rep++)
		eml_threadpool_run(p, 8, outer_task, &c);
	cr_assert_eq(atomic_load(&c.outer), 20 * 8);
	cr_assert_eq(atomic_load(&c.inner), 20 * 8 * 5);
	eml_threadpool_free(p);
}

Test(threadpool, default_thread_count)
{
	eml_threadpool *p = NULL;
	cr_assert_eq(eml_threadpool_new(0, &p), 0);
	cr_assert_geq(eml_threadpool_threads(p), 1);
	run_counts(p, eml_threadpool_threads(p), 33);
	eml_threadpool_free(p);
}
