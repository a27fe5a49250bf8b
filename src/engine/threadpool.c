/*
 * Fixed thread pool (see threadpool.h). A run publishes (fn, ctx, n_tasks) under the mutex and
 * bumps an atomic generation counter. Between runs workers first spin briefly on the generation
 * (EML_POOL_SPIN_NS: models issue hundreds of short parallel steps back to back, and a condition
 * variable wake-up costs tens of microseconds, more than many steps take), then park on a
 * condition variable; the caller broadcasts only when someone is parked.
 * Tasks are claimed from one atomic word holding (run generation << 32 | next task), so a worker
 * that wakes late can never take a task of a later run; the caller takes tasks too and waits
 * only for tasks actually claimed (a count of finished tasks), never for workers that did not
 * get a CPU in time (on an oversubscribed machine the caller then simply does all the work).
 * Nothing is allocated in eml_threadpool_run.
 *
 * A run issued from inside a task (nested) executes inline on the calling thread with its thread
 * index, so kernels may call each other without deadlocking the pool.
 */
#include "engine/threadpool.h"

#include "engine/engine.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_PAUSE() _mm_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

#include "common/guard.h"
#include "common/regs.h"
#include "common/mem.h"
#include "eml/error.h"

#define EML_POOL_MAX_THREADS 256
/* How long an idle worker (and the caller waiting for the workers) spins before blocking. */
#define EML_POOL_SPIN_NS 200000ull

struct eml_threadpool {
	int threads; /* including the caller */
	int nworkers;
	pthread_t *tids;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done;
	pthread_mutex_t run_mu;          /* serializes concurrent callers of eml_threadpool_run */
	atomic_uint_fast64_t generation; /* written under mu; read by spinning workers */
	int stop;                        /* under mu */
	int parked;                      /* workers waiting on `wake`, under mu */
	int caller_parked;               /* the caller waits on `done`, under mu */
	atomic_uint_fast64_t claim;      /* run generation (low 32 bits) << 32 | next task */
	atomic_size_t finished;          /* tasks of the current run finished */
	atomic_int scrubbed;             /* workers that wiped their stacks (release) */
	atomic_int park; /* set at release: idle workers block at once instead of spinning */
	/* current run */
	eml_task_fn fn;
	void *ctx;
	size_t n_tasks;
};

typedef struct worker_arg {
	eml_threadpool *p;
	int index;
} worker_arg;

/* Thread index of the current thread while it executes tasks (-1 outside of any run). */
static _Thread_local int tl_thread = -1;
/* Set by the release's scrub task on a worker: wipe the stack once back in worker_main. */
static _Thread_local int tl_scrub;

/* Claim and run tasks of run `gen` until none is left; returns when the claim word moved on. */
static void pool_drain(eml_threadpool *p, eml_task_fn fn, void *ctx, size_t n, int thread,
                       uint32_t gen)
{
	int saved = tl_thread;
	tl_thread = thread;
	/* Tasks are claimed in blocks of k (about 8 blocks per thread): two shared atomics per
	 * claim bounce their cache line between the cores, which for hundreds of tiny tasks (one
	 * per channel plane) cost more than the tasks themselves. */
	size_t k = n / ((size_t)p->threads * 8);
	if (k < 1)
		k = 1;
	for (;;) {
		uint64_t v = atomic_load_explicit(&p->claim, memory_order_acquire);
		size_t first, cnt;
		for (;;) {
			if ((uint32_t)(v >> 32) != gen || (v & 0xffffffffu) >= n)
				goto out;
			first = (size_t)(v & 0xffffffffu);
			cnt = n - first < k ? n - first : k;
			if (atomic_compare_exchange_weak_explicit(
			        &p->claim, &v, v + cnt, memory_order_acq_rel, memory_order_acquire))
				break;
		}
		for (size_t t = first; t < first + cnt; t++)
			fn(ctx, t, thread);
		if (atomic_fetch_add_explicit(&p->finished, cnt, memory_order_acq_rel) + cnt == n &&
		    thread != 0) {
			pthread_mutex_lock(&p->mu);
			if (p->caller_parked)
				pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
out:
	tl_thread = saved;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spin until pred(p, arg) holds or EML_POOL_SPIN_NS pass; returns whether it holds. */
static int spin_until(int (*pred)(eml_threadpool *, uint64_t), eml_threadpool *p, uint64_t arg)
{
	uint64_t t0 = 0;
	for (unsigned i = 0;; i++) {
		if (pred(p, arg))
			return 1;
		POOL_PAUSE();
		if ((i & 63) == 63) {
			/* A released pool's workers stop spinning at once: after a request the core
			 * belongs to the response's way out (sealing, the host, the client). */
			if (atomic_load_explicit(&p->park, memory_order_relaxed))
				return pred(p, arg);
			uint64_t t = now_ns();
			if (!t0)
				t0 = t;
			else if (t - t0 > EML_POOL_SPIN_NS)
				return 0;
		}
	}
}

static int gen_moved(eml_threadpool *p, uint64_t seen)
{
	return atomic_load_explicit(&p->generation, memory_order_acquire) != seen;
}

static int all_done(eml_threadpool *p, uint64_t n)
{
	return atomic_load_explicit(&p->finished, memory_order_acquire) == n;
}

static void *worker_main(void *arg)
{
	worker_arg wa = *(worker_arg *)arg;
	eml_threadpool *p = wa.p;
	uint64_t seen = 0;
	eml_free(arg);
	for (;;) {
		if (!spin_until(gen_moved, p, seen)) {
			pthread_mutex_lock(&p->mu);
			p->parked++;
			while (!p->stop &&
			       atomic_load_explicit(&p->generation, memory_order_relaxed) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			p->parked--;
			pthread_mutex_unlock(&p->mu);
		}
		/* fn, ctx, n_tasks and stop were written under mu before the generation moved */
		pthread_mutex_lock(&p->mu);
		int stop = p->stop;
		seen = atomic_load_explicit(&p->generation, memory_order_relaxed);
		eml_task_fn fn = p->fn;
		void *ctx = p->ctx;
		size_t n = p->n_tasks;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		pool_drain(p, fn, ctx, n, wa.index, (uint32_t)seen);
		if (tl_scrub) {
			/* From this frame, so every frame the tasks used lies below the wipe. */
			tl_scrub = 0;
			eml_stack_scrub(EML_STACK_SCRUB_BYTES);
			eml_clear_vector_regs();
			atomic_fetch_add_explicit(&p->scrubbed, 1, memory_order_acq_rel);
		}
	}
	/* Kernels spill weights and activations to this stack; glibc keeps the stacks of exited
	 * threads for reuse, so wipe what the tasks used before leaving. */
	eml_stack_scrub(EML_STACK_SCRUB_BYTES);
	return NULL;
}

/* A requested thread count: <= 0 means all online cores; at most EML_POOL_MAX_THREADS. */
static int pool_threads(int threads)
{
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	return threads > EML_POOL_MAX_THREADS ? EML_POOL_MAX_THREADS : threads;
}

int eml_engine_threads(const eml_engine_opts *opts)
{
	return pool_threads(opts != NULL ? opts->threads : 0);
}

int eml_threadpool_new(int threads, eml_threadpool **out)
{
	int rc = EML_OK;
	eml_threadpool *p = NULL;
	*out = NULL;
	threads = pool_threads(threads);
	p = eml_calloc(1, sizeof(*p));
	if (!p)
		return EML_E_NOMEM;
	p->threads = threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->run_mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	atomic_init(&p->generation, 0);
	atomic_init(&p->claim, 0);
	atomic_init(&p->finished, 0);
	atomic_init(&p->scrubbed, 0);
	atomic_init(&p->park, 0);
	if (threads > 1) {
		p->tids = eml_calloc((size_t)threads - 1, sizeof(pthread_t));
		EML_ENSURE(p->tids != NULL, EML_E_NOMEM);
		for (int i = 0; i < threads - 1; i++) {
			worker_arg *wa = eml_alloc(sizeof(*wa));
			EML_ENSURE(wa != NULL, EML_E_NOMEM);
			wa->p = p;
			wa->index = i + 1;
			if (eml_thread_create_clean(&p->tids[i], worker_main, wa) != 0) {
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
	if (!p || p->nworkers == 0 || n_tasks == 1 || tl_thread >= 0 ||
	    n_tasks >= ((size_t)1 << 32)) {
		/* Single-threaded, trivial, nested inside a task (or beyond the 32-bit claim
		 * index): run inline. */
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
	uint32_t gen = (uint32_t)(atomic_load_explicit(&p->generation, memory_order_relaxed) + 1);
	atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
	atomic_store_explicit(&p->claim, (uint64_t)gen << 32, memory_order_release);
	atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
	if (p->parked)
		pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);

	pool_drain(p, fn, ctx, n_tasks, 0, gen);

	if (!spin_until(all_done, p, n_tasks)) {
		pthread_mutex_lock(&p->mu);
		p->caller_parked = 1;
		while (atomic_load_explicit(&p->finished, memory_order_acquire) < n_tasks)
			pthread_cond_wait(&p->done, &p->mu);
		p->caller_parked = 0;
		pthread_mutex_unlock(&p->mu);
	}
	pthread_mutex_unlock(&p->run_mu);
}

/* Every thread of the pool (caller included) takes exactly one task: each waits until all have
 * started, so none can claim a second. A worker then wipes its stack from worker_main, above
 * every frame a task used (a wipe from inside the task would leave the top of the kernels'
 * frames). The caller's thread wipes its own stack after the request (enclave.c). */
typedef struct scrub_ctx {
	atomic_int started;
	int n;
} scrub_ctx;

static void scrub_task(void *ctx, size_t task, int thread)
{
	(void)task;
	(void)thread;
	scrub_ctx *s = ctx;
	if (thread != 0)
		tl_scrub = 1;
	atomic_fetch_add_explicit(&s->started, 1, memory_order_acq_rel);
	while (atomic_load_explicit(&s->started, memory_order_acquire) < s->n)
		sched_yield();
}

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static eml_threadpool *cache[EML_POOL_CACHE];

int eml_threadpool_acquire(int threads, eml_threadpool **out)
{
	*out = NULL;
	threads = pool_threads(threads);
	pthread_mutex_lock(&cache_mu);
	for (int i = 0; i < EML_POOL_CACHE; i++) {
		if (cache[i] != NULL && cache[i]->threads == threads) {
			*out = cache[i];
			cache[i] = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	if (*out != NULL) {
		atomic_store_explicit(&(*out)->park, 0, memory_order_relaxed);
		return EML_OK;
	}
	return eml_threadpool_new(threads, out);
}

void eml_threadpool_release(eml_threadpool *p)
{
	if (p == NULL)
		return;
	if (p->nworkers > 0) {
		scrub_ctx s = {.n = p->nworkers + 1};
		atomic_init(&s.started, 0);
		atomic_store_explicit(&p->scrubbed, 0, memory_order_release);
		eml_threadpool_run(p, (size_t)s.n, scrub_task, &s);
		/* the pool goes back to the cache only once every worker's stack is clean */
		while (atomic_load_explicit(&p->scrubbed, memory_order_acquire) < p->nworkers)
			sched_yield();
		atomic_store_explicit(&p->park, 1, memory_order_relaxed);
	}
	/* This thread ran tasks too; its stack is wiped by its owner after the request. */
	eml_clear_vector_regs();
	pthread_mutex_lock(&cache_mu);
	for (int i = 0; i < EML_POOL_CACHE && p != NULL; i++) {
		if (cache[i] == NULL) {
			cache[i] = p;
			p = NULL;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	eml_threadpool_free(p); /* the cache is full */
}

void eml_threadpool_free(eml_threadpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
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
