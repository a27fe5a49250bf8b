/*
 * RSA-2048 recipient keys and RSAES-OAEP-SHA-256 (RFC 8017 §7.1) through OpenSSL 3 EVP.
 */
#include "crypto/rsa.h"

#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"

int eml_rsa_generate(EVP_PKEY **out)
{
	*out = EVP_RSA_gen(EML_RSA_BITS);
	return *out ? EML_OK : EML_E_CRYPTO;
}

int eml_rsa_spki(EVP_PKEY *k, uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	uint8_t *der = NULL;
	*out = NULL;
	int n = i2d_PUBKEY(k, &der);
	EML_ENSURE(n > 0 && n <= EML_RSA_MAX_SPKI, EML_E_CRYPTO);
	*out = eml_memdup(der, (size_t)n);
	EML_ENSURE(*out, EML_E_NOMEM);
	*out_len = (size_t)n;
out:
	OPENSSL_free(der);
	return rc;
}

int eml_rsa_from_spki(const uint8_t *spki, size_t len, EVP_PKEY **out)
{
	int rc = EML_OK;
	const uint8_t *p = spki;
	*out = NULL;
	EML_ENSURE(len > 0 && len <= EML_RSA_MAX_SPKI, EML_E_CRYPTO);
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
	EML_ENSURE(k, EML_E_CRYPTO);
	if (p != spki + len || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(k) != EML_RSA_BITS) {
		EVP_PKEY_free(k);
		EML_FAIL(EML_E_CRYPTO);
	}
	*out = k;
out:
	return rc;
}

static int oaep(EVP_PKEY *k, int enc, const uint8_t *in, size_t in_len, uint8_t *out,
                size_t *out_len)
{
	int rc = EML_OK;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	EML_ENSURE(c, EML_E_CRYPTO);
	EML_ENSURE((enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1, EML_E_CRYPTO);
	if (enc)
		EML_ENSURE(EVP_PKEY_encrypt(c, out, out_len, in, in_len) == 1, EML_E_CRYPTO);
	else
		EML_ENSURE(EVP_PKEY_decrypt(c, out, out_len, in, in_len) == 1, EML_E_CRYPTO);
out:
	EVP_PKEY_CTX_free(c);
	return rc;
}

int eml_rsa_oaep_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len)
{
	return oaep(pub, 1, in, in_len, out, out_len);
}

int eml_rsa_oaep_decrypt(EVP_PKEY *priv, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len)
{
	return oaep(priv, 0, in, in_len, out, out_len);
}

void eml_rsa_free(EVP_PKEY *k)
{
	EVP_PKEY_free(k);
}
