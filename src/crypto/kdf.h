/*
 * HKDF (RFC 5869) Extract and Expand on OpenSSL 3.0's EVP_KDF "HKDF", with SHA-256 or SHA-512.
 * Used by HPKE (RFC 9180 §4) and the response sealing of Oblivious HTTP (RFC 9458 §4.4).
 * Thread-safe: every call uses its own context.
 */
#ifndef EML_CRYPTO_KDF_H
#define EML_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

/* Hash selection; the values equal the HPKE KDF identifiers (RFC 9180 §7.2). */
enum { EML_KDF_HKDF_SHA256 = 0x0001, EML_KDF_HKDF_SHA512 = 0x0003 };

#define EML_KDF_MAX_HASH_LEN 64

/* Output length of the hash (Nh): 32 or 64; 0 for an unknown id. */
size_t eml_kdf_hash_len(int kdf);

/* prk = HMAC-Hash(salt, ikm); prk must hold eml_kdf_hash_len(kdf) bytes. An empty salt means
 * Nh zero bytes (RFC 5869 §2.2). */
int eml_hkdf_extract(int kdf, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                     size_t ikm_len, uint8_t *prk);

/* okm = HKDF-Expand(prk, info, L), L <= 255 * Nh. The info must be at most 1024 bytes (the
 * OpenSSL 3.0 HKDF provider's bound); EML_E_ARG otherwise. */
int eml_hkdf_expand(int kdf, const uint8_t *prk, size_t prk_len, const uint8_t *info,
                    size_t info_len, uint8_t *okm, size_t okm_len);

#endif
