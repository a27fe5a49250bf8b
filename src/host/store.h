/*
 * The host's weight store (docs/PROTOCOL.md §6). Untrusted by design: it holds only encrypted
 * weight blobs, content-addressed by SHA-256, and a model-id -> digest index:
 *
 *   DIR/blobs/<sha256 hex>        the blob, exactly the uploaded bytes (0600)
 *   DIR/models/<model id hex>     "<sha256 hex>\n" (0600)
 *
 * Writes are atomic (temp file in the same folder, write, fsync, rename, fsync of the folder), so
 * a crash or a kill at any point leaves either the old state or the new one, never a partial blob
 * under a final name; temp files left by a crash are removed on open. A write that runs out of
 * space (ENOSPC, EDQUOT, EFBIG) or past the optional quota fails with EML_E_STORE_FULL and
 * leaves the store as it was (docs/RELIABILITY.md). The store parses only the blob's public header
 * (magic, version, model id) and keeps nothing else. Not thread-safe (the host is one thread).
 */
#ifndef EML_HOST_STORE_H
#define EML_HOST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "wire/msg.h"

typedef struct eml_store eml_store;

/* Creates DIR (0700) and its sub-folders when missing. max_blob: refuse larger uploads. */
int eml_store_open(const char *dir, uint64_t max_blob, eml_store **out);
void eml_store_close(eml_store *s);
/* Refuse an upload that would bring the blobs' total size above max_bytes (0 = no quota). */
void eml_store_set_quota(eml_store *s, uint64_t max_bytes);

/* Check and store a blob; replaces an older blob of the same model id. */
int eml_store_put(eml_store *s, const uint8_t *blob, size_t n, eml_store_entry *out);
/* The blob of a model id (eml_alloc'd). EML_E_STORE_NOT_FOUND when absent. A blob whose bytes no
 * longer match their digest is refused with EML_E_STORE_REFUSED. */
int eml_store_get(eml_store *s, const uint8_t id[EML_WIRE_MODEL_ID_LEN], uint8_t **blob, size_t *n);
/* Every entry (eml_alloc'd array, sorted by model id). */
int eml_store_list(eml_store *s, eml_store_entry **out, size_t *count);
int eml_store_remove(eml_store *s, const uint8_t id[EML_WIRE_MODEL_ID_LEN]);

/*
 * The public-header check of a weight blob (eml_blob_parse_header of src/topo/topo.h: magic,
 * version, model id, chunking, bucketed size) plus an exact length check; no key involved.
 * EML_E_STORE_REFUSED for anything that is not a well-formed weight blob.
 */
int eml_store_blob_model_id(const uint8_t *blob, size_t n, uint8_t id[EML_WIRE_MODEL_ID_LEN]);

#endif
