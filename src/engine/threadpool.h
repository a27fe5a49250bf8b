/*
 * A small fixed thread pool for splitting GEMM, Conv and large elementwise work.
 * eml_threadpool_run(pool, n_tasks, fn, ctx) calls fn(ctx, task, thread) for task in [0, n_tasks)
 * across the workers and the caller, and returns when all are done. Allocates only in _new.
 * A NULL pool runs everything on the caller's thread.
 */
#ifndef EML_ENGINE_THREADPOOL_H
#define EML_ENGINE_THREADPOOL_H

#include <stddef.h>

typedef struct eml_threadpool eml_threadpool;
typedef void (*eml_task_fn)(void *ctx, size_t task, int thread);

/* threads: total workers including the caller; 0 = all online cores. */
int eml_threadpool_new(int threads, eml_threadpool **out);
int eml_threadpool_threads(const eml_threadpool *p); /* 1 for NULL */
void eml_threadpool_run(eml_threadpool *p, size_t n_tasks, eml_task_fn fn, void *ctx);
void eml_threadpool_free(eml_threadpool *p);

/*
 * Pools kept across plans: creating and joining worker threads for every request costs a thread
 * start and, on a loaded machine, a scheduling delay at the join. eml_threadpool_acquire returns
 * an idle cached pool of that thread count (or a new one); eml_threadpool_release first has every
 * worker wipe its stack (what the tasks spilled there: weights, activations), then keeps the pool
 * for the next acquire (at most EML_POOL_CACHE idle pools) or frees it.
 */
#define EML_POOL_CACHE 8
int eml_threadpool_acquire(int threads, eml_threadpool **out);
void eml_threadpool_release(eml_threadpool *p);

#endif
