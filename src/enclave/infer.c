#include "enclave/infer.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/log.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "common/regs.h"
#include "topo/topo.h"

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void eml_infer_out_cleanup(eml_infer_out *o)
{
	if (o == NULL)
		return;
	if (o->names != NULL)
		for (size_t i = 0; i < o->n; i++)
			eml_free(o->names[i]);
	eml_free(o->names);
	eml_free(o->t);
	eml_free(o->storage);
	memset(o, 0, sizeof(*o));
}

static int copy_outputs(const eml_plan *p, eml_infer_out *out)
{
	int rc = EML_OK;
	size_t n = eml_plan_n_outputs(p), total = 0;
	out->n = n;
	out->t = eml_calloc(n != 0 ? n : 1, sizeof(*out->t));
	out->names = eml_calloc(n != 0 ? n : 1, sizeof(*out->names));
	EML_ENSURE(out->t != NULL && out->names != NULL, EML_E_NOMEM);
	for (size_t i = 0; i < n; i++) {
		EML_GUARD(eml_plan_output(p, i, &out->t[i]));
		EML_GUARD(eml_add_size(total, (size_t)out->t[i].bytes, &total));
	}
	out->storage = eml_alloc(total != 0 ? total : 1);
	EML_ENSURE(out->storage != NULL, EML_E_NOMEM);
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		if (out->t[i].bytes != 0)
			memcpy(out->storage + off, out->t[i].data, (size_t)out->t[i].bytes);
		out->t[i].data = out->storage + off;
		if (out->t[i].name != NULL) {
			out->names[i] = eml_strdup(out->t[i].name);
			EML_ENSURE(out->names[i] != NULL, EML_E_NOMEM);
		}
		out->t[i].name = out->names[i];
		off += (size_t)out->t[i].bytes;
	}
out:
	return rc;
}

/* A job on a second thread, or in line when no thread can be started. */
typedef struct side {
	pthread_t th;
	int started;
	void (*fn)(void *);
	void *arg;
} side;

static void *side_main(void *p)
{
	side *sd = p;
	sd->fn(sd->arg);
	/* whatever the job left on this thread's stack (hash state, pointers) and in its vector
	 * registers goes with it: glibc's thread exit runs after the scrub */
	eml_stack_scrub(EML_STACK_SCRUB_BYTES);
	eml_clear_vector_regs();
	return NULL;
}

static void side_start(side *sd, void (*fn)(void *), void *arg)
{
	sd->fn = fn;
	sd->arg = arg;
	/* A new thread starts with a copy of this one's vector registers, which the engine and
	 * the ciphers just used (common/regs.h): found by the memory scan. */
	sd->started = eml_thread_create_clean(&sd->th, side_main, sd) == 0;
	if (!sd->started)
		fn(arg);
}

static void side_join(side *sd)
{
	if (sd->started)
		pthread_join(sd->th, NULL);
	sd->started = 0;
}

/* Everything a request holds that must be wiped and released. */
typedef struct held {
	eml_tkey *k;
	eml_model *joined;
	eml_plan *plan;
	uint8_t *blob;
	eml_blobcache *cache;
	eml_blobcache_ref *ref;
	uint64_t wipe_us;
} held;

static void release(void *arg)
{
	held *h = arg;
	uint64_t t0 = now_us();
	eml_plan_free(h->plan);
	eml_model_free(h->joined);
	eml_tkey_free(h->k);
	eml_blobcache_release(h->cache, h->ref);
	eml_free(h->blob);
	h->plan = NULL, h->joined = NULL, h->k = NULL, h->ref = NULL, h->blob = NULL;
	h->wipe_us = now_us() - t0;
}

static uint64_t io_bytes(const eml_io_tensor *t, size_t n)
{
	uint64_t b = 0;
	for (size_t i = 0; i < n; i++)
		b += t[i].bytes;
	return b;
}

/* Where the overlapped work moves to a second thread (a test-only binary can lower it, so the
 * memory scans cover that path with small random models). */
static uint64_t overlap_min_bytes(void)
{
#ifdef EML_TEST_HOOKS
	const char *v = getenv("EML_TEST_OVERLAP_MIN_BYTES");
	if (v != NULL)
		return strtoull(v, NULL, 10);
#endif
	return EML_INFER_OVERLAP_MIN_BYTES;
}

int eml_enclave_infer(const uint8_t *tkey, size_t tkey_len, const eml_io_tensor *inputs,
                      size_t n_inputs, eml_blob_fetch_fn fetch, void *fetch_ctx,
                      eml_blobcache *cache, const eml_engine_opts *eo, const eml_infer_overlap *ov,
                      eml_infer_out *out, eml_infer_stats *st, int *bad_input)
{
	int rc = EML_OK;
	held h = {.cache = cache};
	side sa = {0}, sw = {0};
	const uint8_t *bytes = NULL;
	size_t blob_len = 0;
	uint8_t pinned[32];
	uint64_t t0;

	memset(out, 0, sizeof(*out));
	memset(st, 0, sizeof(*st));
	if (ov != NULL && ov->with_assembly != NULL) {
		if (io_bytes(inputs, n_inputs) >= overlap_min_bytes())
			side_start(&sa, ov->with_assembly, ov->arg);
		else
			ov->with_assembly(ov->arg);
	}
#ifdef EML_TEST_HOOKS
	/* Test-only binary: a deliberate write, which the sandbox must answer by killing us. */
	if (getenv("EML_TEST_WRITE_ATTEMPT") != NULL) {
		int fd = open("eml-write-attempt", O_WRONLY | O_CREAT, 0600);
		if (fd >= 0)
			close(fd);
	}
#endif
	if (bad_input != NULL)
		*bad_input = -1;
	EML_GUARD(eml_tkey_parse(tkey, tkey_len, &h.k));
	eml_tkey_model_id(h.k, st->model_id);

	/* The blob: from the cache of fetched ciphertext when this key pins a digest we computed over
	 * bytes we fetched before; otherwise fetched from the host and hashed once, here. */
	t0 = now_us();
	eml_tkey_blob_digest(h.k, pinned);
	h.ref = eml_blobcache_get(cache, st->model_id, pinned);
	if (h.ref != NULL) {
		bytes = eml_blobcache_ref_data(h.ref, &blob_len);
		memcpy(st->blob_digest, eml_blobcache_ref_digest(h.ref), 32);
		st->blob_cached = 1;
	} else {
		EML_GUARD(fetch(fetch_ctx, st->model_id, &h.blob, &blob_len));
		EML_GUARD(eml_sha256(h.blob, blob_len, st->blob_digest));
		bytes = h.blob;
	}
	st->fetch_us = now_us() - t0;

	t0 = now_us();
	/* While the caller's work runs on a second thread, the join leaves it a core: two threads
	 * decrypting against a third hashing were slower than one against one. */
	int jt = eml_engine_threads(eo);
	eml_join_opts jo = {.blob_sha256 = st->blob_digest,
	                    .threads = sa.started && jt > 1 ? jt - 1 : jt};
	EML_GUARD(eml_topo_join_take(h.k, bytes, blob_len, &jo, &h.joined, &st->bad_chunk));
	st->join_us = now_us() - t0;
	if (h.ref == NULL && cache != NULL)
		h.ref = eml_blobcache_put(cache, st->model_id, st->blob_digest, &h.blob, blob_len);

	t0 = now_us();
	EML_GUARD(eml_engine_assemble(h.joined, inputs, n_inputs, eo, &h.plan, bad_input));
	/* The plan holds its own copy of everything it needs: the joined model goes now. */
	eml_model_free(h.joined);
	h.joined = NULL;
	st->plan_us = now_us() - t0;
	st->arena_bytes = eml_plan_arena_bytes(h.plan);

	side_join(&sa); /* the caller's overlapped work never competes with the run */
	t0 = now_us();
	EML_GUARD(eml_plan_run(h.plan));
	st->run_us = now_us() - t0;
#ifdef EML_TEST_HOOKS
	/* Test-only binary (eml-test-hooks): stop here, with the model assembled and the outputs
	 * computed, so a test can scan this process while plaintext legitimately lives in it. */
	if (getenv("EML_TEST_PAUSE_AFTER_RUN") != NULL)
		raise(SIGSTOP);
	/* ... or hold only this request's thread, so a test can see the concurrency limit. */
	const char *hold = getenv("EML_TEST_HOLD_AFTER_RUN_MS");
	if (hold != NULL)
		usleep((useconds_t)strtoul(hold, NULL, 10) * 1000u);
#endif
	EML_GUARD(copy_outputs(h.plan, out));
out:
	side_join(&sa);
	if (rc == EML_OK && ov != NULL && ov->with_wipe != NULL &&
	    io_bytes(out->t, out->n) >= overlap_min_bytes()) {
		t0 = now_us();
		side_start(&sw, release, &h);
		st->wipe_path_us = now_us() - t0;
		ov->with_wipe(ov->arg, out);
		t0 = now_us();
		side_join(&sw);
		st->wipe_path_us += now_us() - t0;
	} else {
		release(&h);
		st->wipe_path_us = h.wipe_us;
		if (rc == EML_OK && ov != NULL && ov->with_wipe != NULL)
			ov->with_wipe(ov->arg, out);
	}
	if (rc != EML_OK)
		eml_infer_out_cleanup(out);
	/* The plan may have been freed on a side thread: this thread ran kernels and hashes too. */
	eml_clear_vector_regs();
	st->wipe_us = h.wipe_us;
	/* Durations only (info level, off by default): no sizes, shapes or values. */
	if (rc == EML_OK)
		eml_log_info(
		    "request timings: fetch %llu us%s, join %llu us, plan %llu us, run %llu us, "
		    "wipe %llu us (%llu us on the request's path)",
		    (unsigned long long)st->fetch_us, st->blob_cached ? " (cached)" : "",
		    (unsigned long long)st->join_us, (unsigned long long)st->plan_us,
		    (unsigned long long)st->run_us, (unsigned long long)st->wipe_us,
		    (unsigned long long)st->wipe_path_us);
	return rc;
}
