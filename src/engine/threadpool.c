/*
 * Fixed thread pool (see threadpool.h). Workers park on a condition variable between runs; a run
 * publishes (fn, ctx, n_tasks) under the mutex, bumps a generation counter and broadcasts. Tasks
 * are handed out through an atomic counter so uneven tasks balance; the caller takes tasks too.
 * Nothing is allocated in eml_threadpool_run.
 *
 * A run issued from inside a task (nested) executes inline on the calling thread with its thread
 * index, so kernels may call each other without deadlocking the pool.
 */
#include "engine/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"
#include "eml/error.h"

#define EML_POOL_MAX_THREADS 256

struct eml_threadpool {
	int threads; /* including the caller */
	int nworkers;
	pthread_t *tids;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done;
	pthread_mutex_t run_mu; /* serializes concurrent callers of eml_threadpool_run */
	uint64_t generation;
	int stop;
	int active; /* workers still inside the current run */
	/* current run */
	eml_task_fn fn;
	void *ctx;
	size_t n_tasks;
	atomic_size_t next;
};

typedef struct worker_arg {
	eml_threadpool *p;
	int index;
} worker_arg;

/* Thread index of the current thread while it executes tasks (-1 outside of any run). */
static _Thread_local int tl_thread = -1;

static void pool_drain(eml_threadpool *p, eml_task_fn fn, void *ctx, size_t n, int thread)
{
	int saved = tl_thread;
	tl_thread = thread;
	for (;;) {
		size_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
		if (t >= n)
			break;
		fn(ctx, t, thread);
	}
	tl_thread = saved;
}

static void *worker_main(void *arg)
{
	worker_arg wa = *(worker_arg *)arg;
	eml_threadpool *p = wa.p;
	uint64_t seen = 0;
	eml_free(arg);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->generation == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stop)
			break;
		seen = p->generation;
		eml_task_fn fn = p->fn;
		void *ctx = p->ctx;
		size_t n = p->n_tasks;
		pthread_mutex_unlock(&p->mu);
		pool_drain(p, fn, ctx, n, wa.index);
		pthread_mutex_lock(&p->mu);
		if (--p->active == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	/* Kernels spill weights and activations to this stack; glibc keeps the stacks of exited
	 * threads for reuse, so wipe what the tasks used before leaving. */
	eml_stack_scrub(EML_STACK_SCRUB_BYTES);
	return NULL;
}

int eml_threadpool_new(int threads, eml_threadpool **out)
{
	int rc = EML_OK;
	eml_threadpool *p = NULL;
	*out = NULL;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	if (threads > EML_POOL_MAX_THREADS)
		threads = EML_POOL_MAX_THREADS;
	p = eml_calloc(1, sizeof(*p));
	if (!p)
		return EML_E_NOMEM;
	p->threads = threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->run_mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	atomic_init(&p->next, 0);
	if (threads > 1) {
		p->tids = eml_calloc((size_t)threads - 1, sizeof(pthread_t));
		EML_ENSURE(p->tids != NULL, EML_E_NOMEM);
		for (int i = 0; i < threads - 1; i++) {
			worker_arg *wa = eml_alloc(sizeof(*wa));
			EML_ENSURE(wa != NULL, EML_E_NOMEM);
			wa->p = p;
			wa->index = i + 1;
			if (pthread_create(&p->tids[i], NULL, worker_main, wa) != 0) {
				eml_free(wa);
				EML_FAIL(EML_E_NOMEM);
			}
			p->nworkers++;
		}
	}
	*out = p;
	p = NULL;
out:
	if (p) {
		/* Fewer workers started than asked: stop the ones that did. */
		eml_threadpool_free(p);
	}
	return rc;
}

int eml_threadpool_threads(const eml_threadpool *p)
{
	return p ? p->nworkers + 1 : 1;
}

void eml_threadpool_run(eml_threadpool *p, size_t n_tasks, eml_task_fn fn, void *ctx)
{
	if (n_tasks == 0)
		return;
	if (!p || p->nworkers == 0 || n_tasks == 1 || tl_thread >= 0) {
		/* Single-threaded, trivial, or nested inside a task: run inline. */
		int thread = tl_thread >= 0 ? tl_thread : 0;
		for (size_t t = 0; t < n_tasks; t++)
			fn(ctx, t, thread);
		return;
	}
	pthread_mutex_lock(&p->run_mu);
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->n_tasks = n_tasks;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	p->active = p->nworkers;
	p->generation++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);

	pool_drain(p, fn, ctx, n_tasks, 0);

	pthread_mutex_lock(&p->mu);
	while (p->active > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_unlock(&p->run_mu);
}

void eml_threadpool_free(eml_threadpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->tids[i], NULL);
	eml_free(p->tids);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->run_mu);
	eml_free(p);
}
