/*
 * ECDSA P-384 with SHA-384 (COSE "ES384", RFC 9053 §2.1): key generation, PEM storage, signing
 * and verification with raw r||s signatures (48 + 48 bytes, big-endian), the form COSE uses.
 * OpenSSL wants DER-encoded ECDSA-Sig-Value, so the conversion lives here.
 *
 * Ownership: keys are opaque and freed with eml_p384_key_free (which releases OpenSSL's secret
 * storage). Thread-safety: a key may be used by one thread at a time.
 */
#ifndef EML_CRYPTO_SIG_H
#define EML_CRYPTO_SIG_H

#include <stddef.h>
#include <stdint.h>

#define EML_ES384_SIG_LEN 96
#define EML_P384_COORD_LEN 48

typedef struct eml_p384_key eml_p384_key;

/* A fresh P-384 key pair from the system CSPRNG. */
int eml_p384_generate(eml_p384_key **out);
/* Read an unencrypted PKCS#8 PEM private key (must be P-384). EML_E_NOT_FOUND, EML_E_CRYPTO. */
int eml_p384_load_pem(const char *path, eml_p384_key **out);
/* Write the private key as PKCS#8 PEM, atomically, mode 0600. */
int eml_p384_save_pem(const eml_p384_key *k, const char *path);
/* ES384 signature of msg: SHA-384 then ECDSA, output raw r||s. */
int eml_p384_sign_es384(const eml_p384_key *k, const void *msg, size_t len,
                        uint8_t sig[EML_ES384_SIG_LEN]);
void eml_p384_key_free(eml_p384_key *k);

/*
 * Verify a raw r||s ES384 signature with the public key of a DER certificate. The key must be
 * EC P-384. Returns EML_OK, EML_E_AUTH (signature wrong, or key of the wrong type/curve) or
 * EML_E_MALFORMED (certificate does not parse).
 */
int eml_es384_verify_cert(const uint8_t *cert_der, size_t cert_len, const void *msg, size_t len,
                          const uint8_t sig[EML_ES384_SIG_LEN]);

#endif
