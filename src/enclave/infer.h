/*
 * One inference inside the enclave (DESIGN §2 step 5): parse the topology key, fetch the weight
 * blob for its model id from the host (or take it from `cache`, NULL = none: blobcache.h), check
 * the blob's digest against the key, decrypt it into
 * locked memory, assemble the plan (which copies what it needs into its arena), wipe the joined
 * model, run, copy the outputs out, and wipe the plan. Every path wipes everything it touched.
 *
 * Thread-safe: concurrent calls share nothing (the fetch callback must be thread-safe).
 */
#ifndef EML_ENCLAVE_INFER_H
#define EML_ENCLAVE_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "enclave/blobcache.h"
#include "engine/engine.h"

#define EML_MODEL_ID_BYTES 16

/* Fetch the (encrypted) weight blob of model_id; *blob is eml_alloc'd and owned by the caller.
 * Returns EML_E_NOT_FOUND when the host has no such blob. */
typedef int (*eml_blob_fetch_fn)(void *ctx, const uint8_t model_id[EML_MODEL_ID_BYTES],
                                 uint8_t **blob, size_t *len);

typedef struct eml_infer_stats {
	uint64_t fetch_us, join_us, plan_us, run_us, wipe_us;
	/* of wipe_us, the part on the request's path: all of it in line; beside the output hash
	 * (eml_infer_overlap), the thread start and the wait for the wipe after the hash */
	uint64_t wipe_path_us;
	uint64_t arena_bytes;
	uint8_t blob_digest[32]; /* SHA-256 of the blob actually used */
	uint8_t model_id[EML_MODEL_ID_BYTES];
	uint32_t bad_chunk; /* valid when the result is BLOB_CHUNK_AUTH */
	int blob_cached;    /* the blob came from the cache of fetched ciphertext */
} eml_infer_stats;

/* Outputs: views into one eml_alloc'd storage block (wiped by eml_infer_out_cleanup). */
typedef struct eml_infer_out {
	size_t n;
	eml_io_tensor *t;
	char **names; /* kept output names or NULL entries */
	uint8_t *storage;
} eml_infer_out;

/* Below this many bytes (of inputs, or of outputs) the overlapped work runs in line: a second
 * thread costs more to start than it saves. */
#define EML_INFER_OVERLAP_MIN_BYTES ((uint64_t)1 << 20)

/*
 * Work of the caller's that overlaps the request's own (docs/PERFORMANCE.md, fourth pass), both
 * optional:
 *  - with_assembly is called exactly once per call of eml_enclave_infer, whatever its result:
 *    when the inputs are large, on a second thread while the key is parsed, the blob joined and
 *    the plan assembled (mostly single-threaded work), and joined before the run so it never
 *    competes with the engine's threads; otherwise in line, first.
 *  - with_wipe is called once on success, on the calling thread, with the outputs already
 *    copied out: when they are large, while a second thread wipes the plan; otherwise after
 *    the wipe. Either way the plan is wiped when eml_enclave_infer returns.
 * Both side threads scrub their stacks before they end.
 */
typedef struct eml_infer_overlap {
	void (*with_assembly)(void *arg);
	void (*with_wipe)(void *arg, const eml_infer_out *out);
	void *arg;
} eml_infer_overlap;

int eml_enclave_infer(const uint8_t *tkey, size_t tkey_len, const eml_io_tensor *inputs,
                      size_t n_inputs, eml_blob_fetch_fn fetch, void *fetch_ctx,
                      eml_blobcache *cache, const eml_engine_opts *eo, const eml_infer_overlap *ov,
                      eml_infer_out *out, eml_infer_stats *st, int *bad_input);

void eml_infer_out_cleanup(eml_infer_out *o);

#endif
