/*
 * Topology key (.tkey) and encrypted weight blob (.weights): decompose, parse, decrypt, join.
 * Both formats are specified to the byte in docs/FORMATS.md.
 *
 *   eml_model (with data) --eml_topo_decompose--> tkey bytes + blob bytes
 *   tkey bytes --eml_tkey_parse--> eml_tkey (topology-only model, blob key, digest)
 *   eml_tkey + blob --eml_blob_decrypt / eml_topo_join--> plaintext / joined eml_model
 *
 * The topology key holds every table of eml_model except `data` (no tensor value: Property 1),
 * plus the blob's AES-256-GCM key, its SHA-256 and the exact plaintext length. The blob is the
 * 64-byte-aligned tensor plaintext, randomly padded to a size bucket, encrypted in independently
 * authenticated chunks; its clear header shows the host only the model id, the format version and
 * bucketed sizes.
 *
 * Every function returns one result code from include/eml/error.h (EML_OK on success) and leaves
 * its outputs untouched (NULL) on failure. Error messages never carry topology or tensor data.
 * Thread-safety: all functions are reentrant; an eml_tkey is immutable after parsing and may be
 * shared by threads for reading.
 */
#ifndef EML_TOPO_TOPO_H
#define EML_TOPO_TOPO_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define EML_TKEY_MAGIC "EMLTKEY1" /* 8 bytes, no NUL */
#define EML_TKEY_VERSION 1u
#define EML_TKEY_MAX_LEN ((uint64_t)1 << 30) /* named limit for a whole .tkey */
#define EML_BLOB_MAGIC "EMLWGHT1"            /* 8 bytes, no NUL */
#define EML_BLOB_VERSION 1u
#define EML_BLOB_HEADER_LEN 48u
#define EML_BLOB_DEFAULT_CHUNK ((size_t)1 << 20)
#define EML_BLOB_MIN_CHUNK 4096u
#define EML_BLOB_MAX_CHUNK ((uint32_t)64 << 20)
#define EML_BLOB_MIN_BUCKET 4096u
#define EML_MODEL_ID_LEN 16

typedef struct eml_decompose_opts {
	int keep_io_names; /* keep value names of the main graph's inputs and outputs */
	size_t chunk_size; /* 0 = 1 MiB; else a multiple of 64 in [4 KiB, 64 MiB] */
} eml_decompose_opts;

/*
 * Split a model (with data) into a topology key and an encrypted weight blob, with a fresh
 * random model id and a fresh 256-bit blob key. Tensors are re-laid out in table order, each
 * 64-byte aligned; value names are dropped unless o->keep_io_names (then only main-graph I/O
 * names survive). Outputs are eml_alloc'd (free with eml_free, which wipes). o may be NULL.
 * Peak extra memory: the blob plus the key (the plaintext is built chunk by chunk in place).
 */
int eml_topo_decompose(const eml_model *m, const eml_decompose_opts *o, uint8_t **tkey,
                       size_t *tkey_len, uint8_t **blob, size_t *blob_len);

/* The blob length eml_topo_decompose would produce for m (header + bucket + chunk tags). */
int eml_topo_blob_len(const eml_model *m, const eml_decompose_opts *o, size_t *len);
/* Decompose into a caller-provided blob buffer of exactly eml_topo_blob_len bytes (e.g. a mapped
 * output file, or memory reused across decompositions). On failure the buffer is wiped. */
int eml_topo_decompose_into(const eml_model *m, const eml_decompose_opts *o, uint8_t **tkey,
                            size_t *tkey_len, uint8_t *blob, size_t blob_len);

/* Parsed topology key: owns a topology-only eml_model (data NULL) and the blob key (wiped on
 * free). */
typedef struct eml_tkey eml_tkey;
/* Parse and fully validate a .tkey (integrity digest first, then every field and reference). */
int eml_tkey_parse(const uint8_t *p, size_t n, eml_tkey **out);
void eml_tkey_free(eml_tkey *k);
const eml_model *eml_tkey_model(const eml_tkey *k);
/* The model id from a topology key's header alone (magic, version and fixed fields checked; the
 * body and its digest are not): what a client needs to name the model, without parsing the
 * graph. The enclave parses and checks the whole key. */
int eml_tkey_peek_model_id(const uint8_t *p, size_t n, uint8_t id[EML_MODEL_ID_LEN]);
void eml_tkey_model_id(const eml_tkey *k, uint8_t id[EML_MODEL_ID_LEN]);
uint64_t eml_tkey_plaintext_len(const eml_tkey *k);
void eml_tkey_blob_digest(const eml_tkey *k, uint8_t d[32]);
uint32_t eml_tkey_chunk_size(const eml_tkey *k);
/* Whether I/O names were kept at decomposition. */
int eml_tkey_has_io_names(const eml_tkey *k);

/* What the host can see in a blob header (plus checks that the blob is internally consistent). */
typedef struct eml_blob_info {
	uint16_t version;
	uint8_t model_id[EML_MODEL_ID_LEN];
	uint32_t chunk_size, chunk_count;
	uint64_t total_len; /* padded plaintext length: a bucket size, not the real length */
} eml_blob_info;
int eml_blob_parse_header(const uint8_t *p, size_t n, eml_blob_info *out);
/* Expected byte length of a whole blob with this header. */
uint64_t eml_blob_expected_len(const eml_blob_info *bi);

/* The size bucket for a plaintext of n bytes: max(4096, smallest m*2^k >= n with m in 16..31). */
uint64_t eml_blob_bucket(uint64_t n);

/*
 * Check the blob's SHA-256 against the key and decrypt every chunk straight into `out`
 * (out_len >= eml_tkey_plaintext_len), in one pass (each chunk is hashed and decrypted while in
 * cache; nothing is returned before both checks pass). On any failure `out` is wiped. When a chunk
 * is at fault (authentication failure, truncation) *bad_chunk (if not NULL) is its index;
 * otherwise it is set to UINT32_MAX. A chunk failing authentication gives EML_E_BLOB_CHUNK_AUTH;
 * if every chunk authenticates but the digest differs, EML_E_BLOB_DIGEST.
 */
int eml_blob_decrypt(const eml_tkey *k, const uint8_t *blob, size_t n, uint8_t *out, size_t out_len,
                     uint32_t *bad_chunk);

/* Decryption threads at most (chunks are independent: DESIGN §3). */
#define EML_JOIN_MAX_THREADS 16

typedef struct eml_join_opts {
	/* NULL: the blob's SHA-256 is computed here. Otherwise the SHA-256 the caller itself computed
	 * over exactly these blob bytes (e.g. when it fetched them), compared with the pinned one. */
	const uint8_t *blob_sha256;
	/* Chunks are decrypted on up to this many threads (<= 1: the calling thread only). */
	int threads;
} eml_join_opts;

/* eml_blob_decrypt with options (NULL = defaults). */
int eml_blob_decrypt_opts(const eml_tkey *k, const uint8_t *blob, size_t n, const eml_join_opts *o,
                          uint8_t *out, size_t out_len, uint32_t *bad_chunk);

/* Convenience: a fresh eml_model (topology copied from the key) whose data lives in
 * eml_secmem_map memory (data_storage = 1): the joined model. Free with eml_model_free. */
int eml_topo_join(const eml_tkey *k, const uint8_t *blob, size_t n, eml_model **out,
                  uint32_t *bad_chunk);
/* eml_topo_join with options (NULL = defaults). */
int eml_topo_join_opts(const eml_tkey *k, const uint8_t *blob, size_t n, const eml_join_opts *o,
                       eml_model **out, uint32_t *bad_chunk);
/* The same, moving the key's parsed topology into the joined model instead of parsing the key a
 * second time: afterwards eml_tkey_model(k) is NULL (the key's header fields stay usable). */
int eml_topo_join_take(eml_tkey *k, const uint8_t *blob, size_t n, const eml_join_opts *o,
                       eml_model **out, uint32_t *bad_chunk);

#endif
