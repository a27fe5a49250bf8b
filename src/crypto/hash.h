/*
 * Hashes (SHA-256, SHA-384) and HMAC-SHA256. src/crypto/ is the only code that includes OpenSSL.
 * Thread-safe: contexts are per caller.
 */
#ifndef EML_CRYPTO_HASH_H
#define EML_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

#define EML_SHA256_LEN 32
#define EML_SHA384_LEN 48

int eml_sha256(const void *data, size_t len, uint8_t out[EML_SHA256_LEN]);
int eml_sha384(const void *data, size_t len, uint8_t out[EML_SHA384_LEN]);
int eml_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[EML_SHA256_LEN]);

/* Incremental hashing. eml_hash_new(EML_HASH_SHA256 | EML_HASH_SHA384). */
enum { EML_HASH_SHA256 = 1, EML_HASH_SHA384 = 2 };
typedef struct eml_hash eml_hash;
int eml_hash_new(int alg, eml_hash **out);
int eml_hash_update(eml_hash *h, const void *data, size_t len);
/* Writes the digest (32 or 48 bytes) and frees the context. */
int eml_hash_final(eml_hash *h, uint8_t *out);
void eml_hash_free(eml_hash *h);

#endif
