/* Private to src/crypto/: the layout of eml_p384_key, shared by ecdsa.c and x509.c. */
#ifndef EML_CRYPTO_SIG_IMPL_H
#define EML_CRYPTO_SIG_IMPL_H

#include <openssl/evp.h>

#include "crypto/sig.h"

struct eml_p384_key {
	EVP_PKEY *pkey;
};

/* 1 when pkey is an EC key on P-384 (secp384r1). */
int eml_pkey_is_p384(const EVP_PKEY *pkey);

/* ES384 raw r||s verification with a public key (see eml_es384_verify_cert). */
int eml_es384_verify_pkey(EVP_PKEY *pkey, const void *msg, size_t len,
                          const uint8_t sig[EML_ES384_SIG_LEN]);

#endif
