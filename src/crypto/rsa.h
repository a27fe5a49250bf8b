/*
 * Per-boot RSA-2048 recipient key for KMS Decrypt with Recipient (RSAES_OAEP_SHA_256).
 */
#ifndef EML_CRYPTO_RSA_H
#define EML_CRYPTO_RSA_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define EML_RSA_BITS 2048
#define EML_RSA_MAX_SPKI 1024

int eml_rsa_generate(EVP_PKEY **out);
/* SubjectPublicKeyInfo DER; *out eml_alloc'd. */
int eml_rsa_spki(EVP_PKEY *k, uint8_t **out, size_t *out_len);
/* Parse an SPKI DER RSA public key of exactly EML_RSA_BITS. */
int eml_rsa_from_spki(const uint8_t *spki, size_t len, EVP_PKEY **out);
/* RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label. */
int eml_rsa_oaep_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len);
int eml_rsa_oaep_decrypt(EVP_PKEY *priv, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len);
void eml_rsa_free(EVP_PKEY *k);

#endif
