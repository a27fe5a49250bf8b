#include "crypto/ed25519.h"

#include <openssl/evp.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"

int eml_ed25519_public_key(const uint8_t seed[EML_ED25519_SEED_LEN], uint8_t pk[EML_ED25519_PK_LEN])
{
	int rc = EML_OK;
	size_t n = EML_ED25519_PK_LEN;
	EVP_PKEY *k =
	    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, EML_ED25519_SEED_LEN);
	EML_ENSURE(k != NULL, EML_E_CRYPTO);
	EML_ENSURE(EVP_PKEY_get_raw_public_key(k, pk, &n) == 1 && n == EML_ED25519_PK_LEN,
	           EML_E_CRYPTO);
out:
	EVP_PKEY_free(k);
	return rc;
}

int eml_ed25519_keypair_generate(uint8_t seed[EML_ED25519_SEED_LEN], uint8_t pk[EML_ED25519_PK_LEN])
{
	int rc = EML_OK;
	EML_GUARD(eml_random_bytes(seed, EML_ED25519_SEED_LEN));
	EML_GUARD(eml_ed25519_public_key(seed, pk));
out:
	if (rc != EML_OK)
		eml_wipe(seed, EML_ED25519_SEED_LEN);
	return rc;
}

/* PureEd25519: EVP_DigestSign with no digest (RFC 8032 §5.1.6). */
int eml_ed25519_sign(const uint8_t seed[EML_ED25519_SEED_LEN], const void *msg, size_t msg_len,
                     uint8_t sig[EML_ED25519_SIG_LEN])
{
	int rc = EML_OK;
	size_t n = EML_ED25519_SIG_LEN;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *k =
	    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, EML_ED25519_SEED_LEN);
	EML_ENSURE(k != NULL, EML_E_CRYPTO);
	md = EVP_MD_CTX_new();
	EML_ENSURE(md != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_DigestSign(md, sig, &n, msg, msg_len) == 1 && n == EML_ED25519_SIG_LEN,
	           EML_E_CRYPTO);
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return rc;
}

int eml_ed25519_verify(const uint8_t pk[EML_ED25519_PK_LEN], const void *msg, size_t msg_len,
                       const uint8_t sig[EML_ED25519_SIG_LEN])
{
	int rc = EML_OK;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, EML_ED25519_PK_LEN);
	EML_ENSURE(k != NULL, EML_E_AUTH);
	md = EVP_MD_CTX_new();
	EML_ENSURE(md != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1, EML_E_AUTH);
	EML_ENSURE(EVP_DigestVerify(md, sig, EML_ED25519_SIG_LEN, msg, msg_len) == 1, EML_E_AUTH);
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return rc;
}

struct eml_ed25519_key {
	EVP_PKEY *k;
};

static int key_wrap(EVP_PKEY *pk, eml_ed25519_key **out)
{
	eml_ed25519_key *k;
	if (pk == NULL)
		return EML_E_CRYPTO;
	k = eml_calloc(1, sizeof(*k));
	if (k == NULL) {
		EVP_PKEY_free(pk);
		return EML_E_NOMEM;
	}
	k->k = pk;
	*out = k;
	return EML_OK;
}

int eml_ed25519_key_from_seed(const uint8_t seed[EML_ED25519_SEED_LEN], eml_ed25519_key **out)
{
	return key_wrap(
	    EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, EML_ED25519_SEED_LEN), out);
}

int eml_ed25519_key_from_pk(const uint8_t pk[EML_ED25519_PK_LEN], eml_ed25519_key **out)
{
	return key_wrap(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, EML_ED25519_PK_LEN),
	                out);
}

int eml_ed25519_key_sign(const eml_ed25519_key *k, const void *msg, size_t msg_len,
                         uint8_t sig[EML_ED25519_SIG_LEN])
{
	int rc = EML_OK;
	size_t n = EML_ED25519_SIG_LEN;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EML_ENSURE(md != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_DigestSignInit(md, NULL, NULL, NULL, k->k) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_DigestSign(md, sig, &n, msg, msg_len) == 1 && n == EML_ED25519_SIG_LEN,
	           EML_E_CRYPTO);
out:
	EVP_MD_CTX_free(md);
	return rc;
}

int eml_ed25519_key_verify(const eml_ed25519_key *k, const void *msg, size_t msg_len,
                           const uint8_t sig[EML_ED25519_SIG_LEN])
{
	int rc = EML_OK;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EML_ENSURE(md != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->k) == 1, EML_E_AUTH);
	EML_ENSURE(EVP_DigestVerify(md, sig, EML_ED25519_SIG_LEN, msg, msg_len) == 1, EML_E_AUTH);
out:
	EVP_MD_CTX_free(md);
	return rc;
}

void eml_ed25519_key_free(eml_ed25519_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->k);
	eml_free(k);
}
