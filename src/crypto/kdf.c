#include "crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "common/guard.h"
#include "common/mem.h"

/* OpenSSL 3.0's HKDF provider accumulates at most this many info bytes. */
#define EML_KDF_MAX_INFO 1024

size_t eml_kdf_hash_len(int kdf)
{
	switch (kdf) {
	case EML_KDF_HKDF_SHA256:
		return 32;
	case EML_KDF_HKDF_SHA512:
		return 64;
	default:
		return 0;
	}
}

static const char *md_name(int kdf)
{
	return kdf == EML_KDF_HKDF_SHA512 ? "SHA512" : "SHA256";
}

static int hkdf(int kdf, int mode, const uint8_t *key, size_t key_len, const uint8_t *salt,
                size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	int rc = EML_OK;
	EVP_KDF *k = NULL;
	EVP_KDF_CTX *c = NULL;
	OSSL_PARAM params[6], *p = params;

	k = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EML_ENSURE(k != NULL, EML_E_CRYPTO);
	c = EVP_KDF_CTX_new(k);
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md_name(kdf), 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
	if (salt_len > 0)
		*p++ =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	if (info_len > 0)
		*p++ =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	EML_ENSURE(EVP_KDF_derive(c, out, out_len, params) == 1, EML_E_CRYPTO);
out:
	EVP_KDF_CTX_free(c); /* the provider cleanses its key and info on free */
	EVP_KDF_free(k);
	return rc;
}

int eml_hkdf_extract(int kdf, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                     size_t ikm_len, uint8_t *prk)
{
	uint8_t zeros[EML_KDF_MAX_HASH_LEN] = {0};
	static const uint8_t empty[1] = {0};
	size_t nh = eml_kdf_hash_len(kdf);
	if (nh == 0 || (salt == NULL && salt_len > 0) || (ikm == NULL && ikm_len > 0))
		return EML_E_ARG;
	if (salt_len == 0) {
		/* RFC 5869 §2.2: "if not provided, [salt] is set to a string of HashLen zeros". */
		salt = zeros;
		salt_len = nh;
	}
	if (ikm_len == 0) {
		/* Extract is HMAC(salt, ikm); the HKDF provider refuses an empty key (IKM), so
		 * compute HMAC(salt, "") with the MAC directly. */
		size_t outl = 0;
		unsigned char *r = EVP_Q_mac(NULL, "HMAC", NULL, md_name(kdf), NULL, salt, salt_len,
		                             empty, 0, prk, nh, &outl);
		return r != NULL && outl == nh ? EML_OK : EML_E_CRYPTO;
	}
	return hkdf(kdf, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, ikm_len, salt, salt_len, NULL, 0, prk,
	            nh);
}

int eml_hkdf_expand(int kdf, const uint8_t *prk, size_t prk_len, const uint8_t *info,
                    size_t info_len, uint8_t *okm, size_t okm_len)
{
	size_t nh = eml_kdf_hash_len(kdf);
	if (nh == 0 || prk == NULL || prk_len < nh || okm_len == 0 || okm_len > 255 * nh ||
	    info_len > EML_KDF_MAX_INFO || (info == NULL && info_len > 0))
		return EML_E_ARG;
	return hkdf(kdf, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, prk_len, NULL, 0, info, info_len, okm,
	            okm_len);
}
