/*
 * The enclave's cache of fetched weight blobs (docs/MEMORY.md, "Blob cache").
 *
 * A weight blob is ciphertext the untrusted host already stores: keeping it here reveals nothing
 * and saves, per request, the host-channel round trip and one SHA-256 pass over the whole blob.
 * An entry holds the bytes exactly as fetched and the SHA-256 this process computed over them when
 * they arrived, so a later request whose topology key pins the same digest can use them without
 * hashing again (the per-chunk authentication still runs on every request). Only blobs that
 * decrypted successfully are inserted. Entries are immutable and reference-counted; the least
 * recently used unreferenced entries are evicted to stay within the byte limit.
 *
 * Nothing secret is ever stored here: no key, no plaintext, no topology.
 */
#ifndef EML_ENCLAVE_BLOBCACHE_H
#define EML_ENCLAVE_BLOBCACHE_H

#include <stddef.h>
#include <stdint.h>

#define EML_BLOBCACHE_ID_LEN 16
#define EML_BLOBCACHE_DIGEST_LEN 32

typedef struct eml_blobcache eml_blobcache;
typedef struct eml_blobcache_ref eml_blobcache_ref;

/* max_bytes = 0 gives a cache that never holds anything (every request fetches). */
int eml_blobcache_new(uint64_t max_bytes, eml_blobcache **out);
/* Frees every entry; no reference may be outstanding. NULL is a no-op. */
void eml_blobcache_free(eml_blobcache *c);

/* The cached blob of model `id` whose SHA-256 equals `digest`, referenced until released, or NULL. */
eml_blobcache_ref *eml_blobcache_get(eml_blobcache *c, const uint8_t id[EML_BLOBCACHE_ID_LEN],
                                     const uint8_t digest[EML_BLOBCACHE_DIGEST_LEN]);

/*
 * Offer a fetched blob (eml_alloc'd) and the SHA-256 computed over it. On acceptance the cache
 * takes ownership of *blob (set to NULL) and a reference is returned; otherwise (too large for the
 * limit, every entry in use, out of memory) NULL is returned and *blob stays the caller's.
 * An older entry of the same id is replaced once unreferenced.
 */
eml_blobcache_ref *eml_blobcache_put(eml_blobcache *c, const uint8_t id[EML_BLOBCACHE_ID_LEN],
                                     const uint8_t digest[EML_BLOBCACHE_DIGEST_LEN], uint8_t **blob,
                                     size_t len);

const uint8_t *eml_blobcache_ref_data(const eml_blobcache_ref *r, size_t *len);
const uint8_t *eml_blobcache_ref_digest(const eml_blobcache_ref *r);
void eml_blobcache_release(eml_blobcache *c, eml_blobcache_ref *r);

/* Bytes and entries held (for tests and statistics). */
uint64_t eml_blobcache_bytes(eml_blobcache *c);
size_t eml_blobcache_entries(eml_blobcache *c);

#endif
