/*
 * Ed25519 (RFC 8032 §5.1) on OpenSSL EVP: the signing key of audit records and receipts.
 * Private keys are the 32-byte seed of RFC 8032; public keys 32 bytes; signatures 64 bytes.
 * Thread-safe (no shared state).
 */
#ifndef EML_CRYPTO_ED25519_H
#define EML_CRYPTO_ED25519_H

#include <stddef.h>
#include <stdint.h>

#define EML_ED25519_SEED_LEN 32
#define EML_ED25519_PK_LEN 32
#define EML_ED25519_SIG_LEN 64

/* A fresh key from the system RNG. seed is secret: wipe it when done. */
int eml_ed25519_keypair_generate(uint8_t seed[EML_ED25519_SEED_LEN],
                                 uint8_t pk[EML_ED25519_PK_LEN]);
int eml_ed25519_public_key(const uint8_t seed[EML_ED25519_SEED_LEN],
                           uint8_t pk[EML_ED25519_PK_LEN]);
int eml_ed25519_sign(const uint8_t seed[EML_ED25519_SEED_LEN], const void *msg, size_t msg_len,
                     uint8_t sig[EML_ED25519_SIG_LEN]);
/* EML_OK when the signature verifies, EML_E_AUTH otherwise (also for a malformed key). */
int eml_ed25519_verify(const uint8_t pk[EML_ED25519_PK_LEN], const void *msg, size_t msg_len,
                       const uint8_t sig[EML_ED25519_SIG_LEN]);

/* A prepared key (private from a seed, or public only), for many signatures or verifications
 * with one key: building the key object costs as much as a signature. Read-only after creation:
 * one key may be used by several threads at once. Free wipes it. */
typedef struct eml_ed25519_key eml_ed25519_key;
int eml_ed25519_key_from_seed(const uint8_t seed[EML_ED25519_SEED_LEN], eml_ed25519_key **out);
int eml_ed25519_key_from_pk(const uint8_t pk[EML_ED25519_PK_LEN], eml_ed25519_key **out);
int eml_ed25519_key_sign(const eml_ed25519_key *k, const void *msg, size_t msg_len,
                         uint8_t sig[EML_ED25519_SIG_LEN]);
/* EML_OK or EML_E_AUTH. */
int eml_ed25519_key_verify(const eml_ed25519_key *k, const void *msg, size_t msg_len,
                           const uint8_t sig[EML_ED25519_SIG_LEN]);
void eml_ed25519_key_free(eml_ed25519_key *k);

#endif
