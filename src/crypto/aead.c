#include "crypto/aead.h"

#include <limits.h>
#include <string.h>
#include <openssl/evp.h>

#include "common/guard.h"
#include "common/mem.h"

struct eml_aead {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	EVP_CIPHER_CTX *ctr; /* eml_aead_ctx_decrypt_verified: made on first use */
	uint8_t key[EML_AEAD_KEY_LEN];
};

/* OpenSSL takes int lengths: process in slices that fit. */
#define EML_AEAD_SLICE ((size_t)1 << 30)

static int gcm_init(EVP_CIPHER_CTX *c, const uint8_t *key, int enc)
{
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1)
		return EML_E_CRYPTO;
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, EML_AEAD_NONCE_LEN, NULL) != 1)
		return EML_E_CRYPTO;
	if (EVP_CipherInit_ex(c, NULL, NULL, key, NULL, enc) != 1)
		return EML_E_CRYPTO;
	return EML_OK;
}

static int gcm_update(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len)
{
	int n;
	while (len > 0) {
		size_t k = len < EML_AEAD_SLICE ? len : EML_AEAD_SLICE;
		if (EVP_CipherUpdate(c, out, &n, in, (int)k) != 1)
			return EML_E_CRYPTO;
		if (out != NULL)
			out += k;
		in += k;
		len -= k;
	}
	return EML_OK;
}

static int do_seal(EVP_CIPHER_CTX *c, const uint8_t *nonce, const void *aad, size_t aad_len,
                   const void *pt, size_t pt_len, uint8_t *out)
{
	int n;
	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, 1) != 1)
		return EML_E_CRYPTO;
	if (aad_len > 0 && gcm_update(c, NULL, aad, aad_len) != EML_OK)
		return EML_E_CRYPTO;
	if (gcm_update(c, out, pt, pt_len) != EML_OK)
		return EML_E_CRYPTO;
	if (EVP_CipherFinal_ex(c, out + pt_len, &n) != 1)
		return EML_E_CRYPTO;
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, EML_AEAD_TAG_LEN, out + pt_len) != 1)
		return EML_E_CRYPTO;
	return EML_OK;
}

static int do_open(EVP_CIPHER_CTX *c, const uint8_t *nonce, const void *aad, size_t aad_len,
                   const void *ct, size_t ct_len, uint8_t *out)
{
	int n;
	uint8_t tag[EML_AEAD_TAG_LEN];
	if (ct_len < EML_AEAD_TAG_LEN)
		return EML_E_AUTH;
	size_t len = ct_len - EML_AEAD_TAG_LEN;
	/* Copy the tag first: out may alias ct. */
	for (size_t i = 0; i < EML_AEAD_TAG_LEN; i++)
		tag[i] = ((const uint8_t *)ct)[len + i];
	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, 0) != 1)
		return EML_E_CRYPTO;
	if (aad_len > 0 && gcm_update(c, NULL, aad, aad_len) != EML_OK)
		return EML_E_CRYPTO;
	if (gcm_update(c, out, ct, len) != EML_OK)
		return EML_E_CRYPTO;
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, EML_AEAD_TAG_LEN, tag) != 1)
		return EML_E_CRYPTO;
	if (EVP_CipherFinal_ex(c, out + len, &n) != 1) {
		eml_wipe(out, len);
		return EML_E_AUTH;
	}
	return EML_OK;
}

int eml_aead_new(const uint8_t key[EML_AEAD_KEY_LEN], eml_aead **out)
{
	int rc = EML_OK;
	eml_aead *a = eml_calloc(1, sizeof(*a));
	EML_ENSURE(a != NULL, EML_E_NOMEM);
	a->enc = EVP_CIPHER_CTX_new();
	a->dec = EVP_CIPHER_CTX_new();
	EML_ENSURE(a->enc != NULL && a->dec != NULL, EML_E_NOMEM);
	EML_GUARD(gcm_init(a->enc, key, 1));
	EML_GUARD(gcm_init(a->dec, key, 0));
	memcpy(a->key, key, EML_AEAD_KEY_LEN);
	*out = a;
	a = NULL;
out:
	eml_aead_free(a);
	return rc;
}

void eml_aead_free(eml_aead *a)
{
	if (a == NULL)
		return;
	EVP_CIPHER_CTX_free(a->enc); /* OpenSSL cleanses the key schedule on free */
	EVP_CIPHER_CTX_free(a->dec);
	EVP_CIPHER_CTX_free(a->ctr);
	eml_free(a); /* wipes the key copy */
}

int eml_aead_ctx_seal(eml_aead *a, const uint8_t nonce[EML_AEAD_NONCE_LEN], const void *aad,
                      size_t aad_len, const void *pt, size_t pt_len, uint8_t *out)
{
	return do_seal(a->enc, nonce, aad, aad_len, pt, pt_len, out);
}

int eml_aead_ctx_open(eml_aead *a, const uint8_t nonce[EML_AEAD_NONCE_LEN], const void *aad,
                      size_t aad_len, const void *ct, size_t ct_len, uint8_t *out)
{
	return do_open(a->dec, nonce, aad, aad_len, ct, ct_len, out);
}

/*
 * GCM encrypts with counter blocks inc32(J0), inc32(J0) + 1, ... where J0 = nonce || 0x00000001
 * for a 96-bit nonce (SP 800-38D §7.1): plain CTR from nonce || 0x00000002 gives the same
 * keystream as long as the low 32 bits do not wrap (OpenSSL's CTR carries into the nonce), i.e.
 * for up to 2^32 - 2 blocks (64 GiB) per message.
 */
int eml_aead_ctx_decrypt_verified(eml_aead *a, const uint8_t nonce[EML_AEAD_NONCE_LEN],
                                  const void *ct, size_t ct_len, uint8_t *out)
{
	uint8_t iv[16];
	if (ct_len < EML_AEAD_TAG_LEN)
		return EML_E_AUTH;
	size_t len = ct_len - EML_AEAD_TAG_LEN;
	if (len / 16 > (size_t)UINT32_MAX - 3)
		return EML_E_LIMIT;
	if (a->ctr == NULL) {
		a->ctr = EVP_CIPHER_CTX_new();
		if (a->ctr == NULL)
			return EML_E_NOMEM;
		if (EVP_DecryptInit_ex(a->ctr, EVP_aes_256_ctr(), NULL, a->key, NULL) != 1)
			return EML_E_CRYPTO;
	}
	memcpy(iv, nonce, EML_AEAD_NONCE_LEN);
	iv[12] = 0, iv[13] = 0, iv[14] = 0, iv[15] = 2;
	if (EVP_DecryptInit_ex(a->ctr, NULL, NULL, NULL, iv) != 1)
		return EML_E_CRYPTO;
	return gcm_update(a->ctr, out, ct, len);
}

int eml_aead_seal(const uint8_t key[EML_AEAD_KEY_LEN], const uint8_t nonce[EML_AEAD_NONCE_LEN],
                  const void *aad, size_t aad_len, const void *pt, size_t pt_len, uint8_t *out)
{
	int rc = EML_OK;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	EML_GUARD(gcm_init(c, key, 1));
	EML_GUARD(do_seal(c, nonce, aad, aad_len, pt, pt_len, out));
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int eml_aead_open(const uint8_t key[EML_AEAD_KEY_LEN], const uint8_t nonce[EML_AEAD_NONCE_LEN],
                  const void *aad, size_t aad_len, const void *ct, size_t ct_len, uint8_t *out)
{
	int rc = EML_OK;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	EML_GUARD(gcm_init(c, key, 0));
	EML_GUARD(do_open(c, nonce, aad, aad_len, ct, ct_len, out));
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}
