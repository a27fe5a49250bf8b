#include "crypto/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/guard.h"
#include "common/mem.h"

struct eml_hash {
	EVP_MD_CTX *ctx;
	size_t len;
};

static const EVP_MD *md_of(int alg)
{
	switch (alg) {
	case EML_HASH_SHA256:
		return EVP_sha256();
	case EML_HASH_SHA384:
		return EVP_sha384();
	default:
		return NULL;
	}
}

static int digest(int alg, const void *data, size_t len, uint8_t *out)
{
	unsigned int n = 0;
	if (EVP_Digest(data, len, out, &n, md_of(alg), NULL) != 1)
		return EML_E_CRYPTO;
	return EML_OK;
}

int eml_sha256(const void *data, size_t len, uint8_t out[EML_SHA256_LEN])
{
	return digest(EML_HASH_SHA256, data, len, out);
}

int eml_sha384(const void *data, size_t len, uint8_t out[EML_SHA384_LEN])
{
	return digest(EML_HASH_SHA384, data, len, out);
}

int eml_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len,
                    uint8_t out[EML_SHA256_LEN])
{
	unsigned int n = 0;
	if (key_len > (size_t)INT32_MAX)
		return EML_E_ARG;
	if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) == NULL ||
	    n != EML_SHA256_LEN)
		return EML_E_CRYPTO;
	return EML_OK;
}

int eml_hash_new(int alg, eml_hash **out)
{
	int rc = EML_OK;
	eml_hash *h = NULL;
	const EVP_MD *md = md_of(alg);
	EML_ENSURE(md != NULL, EML_E_ARG);
	h = eml_calloc(1, sizeof(*h));
	EML_ENSURE(h != NULL, EML_E_NOMEM);
	h->ctx = EVP_MD_CTX_new();
	EML_ENSURE(h->ctx != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_DigestInit_ex(h->ctx, md, NULL) == 1, EML_E_CRYPTO);
	h->len = (size_t)EVP_MD_get_size(md);
	*out = h;
	h = NULL;
out:
	eml_hash_free(h);
	return rc;
}

int eml_hash_update(eml_hash *h, const void *data, size_t len)
{
	return EVP_DigestUpdate(h->ctx, data, len) == 1 ? EML_OK : EML_E_CRYPTO;
}

int eml_hash_final(eml_hash *h, uint8_t *out)
{
	unsigned int n = 0;
	int rc = EVP_DigestFinal_ex(h->ctx, out, &n) == 1 ? EML_OK : EML_E_CRYPTO;
	eml_hash_free(h);
	return rc;
}

void eml_hash_free(eml_hash *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	eml_free(h);
}
