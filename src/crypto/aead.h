/*
 * AES-256-GCM (NIST SP 800-38D) on OpenSSL EVP. 12-byte nonces, 16-byte tags appended to the
 * ciphertext. Decryption writes nothing the caller may use unless the tag verifies: on EML_E_AUTH
 * the output buffer is wiped.
 * Thread-safe (a context per call, or one per thread with eml_aead_ctx).
 */
#ifndef EML_CRYPTO_AEAD_H
#define EML_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define EML_AEAD_KEY_LEN 32
#define EML_AEAD_NONCE_LEN 12
#define EML_AEAD_TAG_LEN 16

/* out must hold pt_len + EML_AEAD_TAG_LEN bytes. out may equal pt (in place). */
int eml_aead_seal(const uint8_t key[EML_AEAD_KEY_LEN], const uint8_t nonce[EML_AEAD_NONCE_LEN],
                  const void *aad, size_t aad_len, const void *pt, size_t pt_len, uint8_t *out);
/* ct_len includes the tag; out must hold ct_len - EML_AEAD_TAG_LEN bytes. out may equal ct.
 * EML_E_AUTH when the tag does not verify (out is wiped). */
int eml_aead_open(const uint8_t key[EML_AEAD_KEY_LEN], const uint8_t nonce[EML_AEAD_NONCE_LEN],
                  const void *aad, size_t aad_len, const void *ct, size_t ct_len, uint8_t *out);

/* A reusable context bound to one key (faster for many chunks under the same key). */
typedef struct eml_aead eml_aead;
int eml_aead_new(const uint8_t key[EML_AEAD_KEY_LEN], eml_aead **out);
int eml_aead_ctx_seal(eml_aead *a, const uint8_t nonce[EML_AEAD_NONCE_LEN], const void *aad,
                      size_t aad_len, const void *pt, size_t pt_len, uint8_t *out);
int eml_aead_ctx_open(eml_aead *a, const uint8_t nonce[EML_AEAD_NONCE_LEN], const void *aad,
                      size_t aad_len, const void *ct, size_t ct_len, uint8_t *out);
/* Decrypt a ciphertext (tag included, as eml_aead_ctx_open takes it) WITHOUT checking its tag:
 * the same AES-CTR keystream as GCM, minus GHASH. Only for bytes whose integrity the caller has
 * already established otherwise: the weight blob whose SHA-256, computed over these very bytes
 * in enclave memory, equals the digest pinned in the owner's topology key (docs/DECISIONS.md,
 * "Weights whose digest is known"). Never for bytes from the network as they arrive. */
int eml_aead_ctx_decrypt_verified(eml_aead *a, const uint8_t nonce[EML_AEAD_NONCE_LEN],
                                  const void *ct, size_t ct_len, uint8_t *out);
void eml_aead_free(eml_aead *a); /* wipes the key schedule */

#endif
