#include "enclave/infer.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/log.h"
#include "common/mem.h"
#include "crypto/hash.h"
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

int eml_enclave_infer(const uint8_t *tkey, size_t tkey_len, const eml_io_tensor *inputs,
                      size_t n_inputs, eml_blob_fetch_fn fetch, void *fetch_ctx,
                      eml_blobcache *cache, const eml_engine_opts *eo, eml_infer_out *out,
                      eml_infer_stats *st, int *bad_input)
{
	int rc = EML_OK;
	eml_tkey *k = NULL;
	eml_model *joined = NULL;
	eml_plan *plan = NULL;
	uint8_t *blob = NULL;
	const uint8_t *bytes = NULL;
	size_t blob_len = 0;
	eml_blobcache_ref *ref = NULL;
	uint8_t pinned[32];
	uint64_t t0;

	memset(out, 0, sizeof(*out));
	memset(st, 0, sizeof(*st));
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
	EML_GUARD(eml_tkey_parse(tkey, tkey_len, &k));
	eml_tkey_model_id(k, st->model_id);

	/* The blob: from the cache of fetched ciphertext when this key pins a digest we computed over
	 * bytes we fetched before; otherwise fetched from the host and hashed once, here. */
	t0 = now_us();
	eml_tkey_blob_digest(k, pinned);
	ref = eml_blobcache_get(cache, st->model_id, pinned);
	if (ref != NULL) {
		bytes = eml_blobcache_ref_data(ref, &blob_len);
		memcpy(st->blob_digest, eml_blobcache_ref_digest(ref), 32);
		st->blob_cached = 1;
	} else {
		EML_GUARD(fetch(fetch_ctx, st->model_id, &blob, &blob_len));
		EML_GUARD(eml_sha256(blob, blob_len, st->blob_digest));
		bytes = blob;
	}
	st->fetch_us = now_us() - t0;

	t0 = now_us();
	eml_join_opts jo = {.blob_sha256 = st->blob_digest, .threads = eml_engine_threads(eo)};
	EML_GUARD(eml_topo_join_take(k, bytes, blob_len, &jo, &joined, &st->bad_chunk));
	st->join_us = now_us() - t0;
	if (ref == NULL && cache != NULL)
		ref = eml_blobcache_put(cache, st->model_id, st->blob_digest, &blob, blob_len);

	t0 = now_us();
	EML_GUARD(eml_engine_assemble(joined, inputs, n_inputs, eo, &plan, bad_input));
	/* The plan holds its own copy of everything it needs: the joined model goes now. */
	eml_model_free(joined);
	joined = NULL;
	st->plan_us = now_us() - t0;
	st->arena_bytes = eml_plan_arena_bytes(plan);

	t0 = now_us();
	EML_GUARD(eml_plan_run(plan));
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
	EML_GUARD(copy_outputs(plan, out));
out:
	t0 = now_us();
	eml_plan_free(plan);
	eml_model_free(joined);
	eml_tkey_free(k);
	eml_blobcache_release(cache, ref);
	eml_free(blob);
	if (rc != EML_OK)
		eml_infer_out_cleanup(out);
	st->wipe_us = now_us() - t0;
	/* Durations only (info level, off by default): no sizes, shapes or values. */
	if (rc == EML_OK)
		eml_log_info(
		    "request timings: fetch %llu us%s, join %llu us, plan %llu us, run %llu us, "
		    "wipe %llu us",
		    (unsigned long long)st->fetch_us, st->blob_cached ? " (cached)" : "",
		    (unsigned long long)st->join_us, (unsigned long long)st->plan_us,
		    (unsigned long long)st->run_us, (unsigned long long)st->wipe_us);
	return rc;
}
