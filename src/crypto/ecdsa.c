/*
 * ES384 (RFC 9053 §2.1): ECDSA over P-384 with SHA-384; COSE carries the signature as raw
 * r||s (each 48 bytes, big-endian, left-padded), OpenSSL as DER ECDSA-Sig-Value, so we convert.
 */
#include "crypto/sig.h"
#include "crypto/sig_impl.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"

int eml_pkey_is_p384(const EVP_PKEY *pkey)
{
	char name[64];
	size_t n = 0;
	if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
		return 0;
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
	                                   &n) != 1)
		return 0;
	return strcmp(name, "secp384r1") == 0;
}

int eml_p384_generate(eml_p384_key **out)
{
	int rc = EML_OK;
	eml_p384_key *k = eml_calloc(1, sizeof(*k));
	EML_ENSURE(k != NULL, EML_E_NOMEM);
	k->pkey = EVP_EC_gen("P-384");
	EML_ENSURE(k->pkey != NULL, EML_E_CRYPTO);
	*out = k;
	k = NULL;
out:
	eml_p384_key_free(k);
	return rc;
}

int eml_p384_load_pem(const char *path, eml_p384_key **out)
{
	int rc = EML_OK;
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	BIO *bio = NULL;
	eml_p384_key *k = NULL;
	EML_GUARD(eml_file_read(path, 64 * 1024, &pem, &pem_len));
	EML_ENSURE(pem_len <= INT32_MAX, EML_E_LIMIT);
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	EML_ENSURE(bio != NULL, EML_E_NOMEM);
	k = eml_calloc(1, sizeof(*k));
	EML_ENSURE(k != NULL, EML_E_NOMEM);
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	EML_ENSURE(k->pkey != NULL && eml_pkey_is_p384(k->pkey), EML_E_CRYPTO);
	*out = k;
	k = NULL;
out:
	BIO_free(bio);
	eml_free(pem);
	eml_p384_key_free(k);
	return rc;
}

int eml_p384_save_pem(const eml_p384_key *k, const char *path)
{
	int rc = EML_OK;
	BIO *bio = BIO_new(BIO_s_secmem());
	char *p = NULL;
	long n;
	EML_ENSURE(bio != NULL, EML_E_NOMEM);
	EML_ENSURE(PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) == 1,
	           EML_E_CRYPTO);
	n = BIO_get_mem_data(bio, &p);
	EML_ENSURE(n > 0 && p != NULL, EML_E_CRYPTO);
	EML_GUARD(eml_file_write_atomic(path, p, (size_t)n, 0600));
out:
	BIO_free(bio);
	return rc;
}

int eml_p384_sign_es384(const eml_p384_key *k, const void *msg, size_t len,
                        uint8_t sig[EML_ES384_SIG_LEN])
{
	int rc = EML_OK;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	uint8_t der[128];
	size_t der_len = sizeof(der);
	const unsigned char *dp = der;
	const BIGNUM *r, *s;
	EML_ENSURE(ctx != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, k->pkey) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_DigestSign(ctx, der, &der_len, msg, len) == 1, EML_E_CRYPTO);
	es = d2i_ECDSA_SIG(NULL, &dp, (long)der_len);
	EML_ENSURE(es != NULL, EML_E_CRYPTO);
	ECDSA_SIG_get0(es, &r, &s);
	EML_ENSURE(BN_bn2binpad(r, sig, EML_P384_COORD_LEN) == EML_P384_COORD_LEN &&
	               BN_bn2binpad(s, sig + EML_P384_COORD_LEN, EML_P384_COORD_LEN) ==
	                   EML_P384_COORD_LEN,
	           EML_E_CRYPTO);
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	eml_wipe(der, sizeof(der));
	return rc;
}

void eml_p384_key_free(eml_p384_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	eml_free(k);
}

int eml_es384_verify_pkey(EVP_PKEY *pkey, const void *msg, size_t len,
                          const uint8_t sig[EML_ES384_SIG_LEN])
{
	int rc = EML_OK;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	int der_len;
	EVP_MD_CTX *ctx = NULL;
	EML_ENSURE(eml_pkey_is_p384(pkey), EML_E_AUTH);
	r = BN_bin2bn(sig, EML_P384_COORD_LEN, NULL);
	s = BN_bin2bn(sig + EML_P384_COORD_LEN, EML_P384_COORD_LEN, NULL);
	es = ECDSA_SIG_new();
	EML_ENSURE(r != NULL && s != NULL && es != NULL, EML_E_NOMEM);
	EML_ENSURE(ECDSA_SIG_set0(es, r, s) == 1, EML_E_CRYPTO);
	r = s = NULL; /* owned by es now */
	der_len = i2d_ECDSA_SIG(es, &der);
	EML_ENSURE(der_len > 0, EML_E_CRYPTO);
	ctx = EVP_MD_CTX_new();
	EML_ENSURE(ctx != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, pkey) == 1, EML_E_CRYPTO);
	/* 1 = valid; 0 = wrong; negative = error (e.g. r or s zero or out of range): all refusals. */
	EML_ENSURE(EVP_DigestVerify(ctx, der, (size_t)der_len, msg, len) == 1, EML_E_AUTH);
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	return rc;
}

int eml_es384_verify_cert(const uint8_t *cert_der, size_t cert_len, const void *msg, size_t len,
                          const uint8_t sig[EML_ES384_SIG_LEN])
{
	int rc = EML_OK;
	const unsigned char *p = cert_der;
	X509 *x = NULL;
	EML_ENSURE(cert_len > 0 && cert_len <= INT32_MAX, EML_E_MALFORMED);
	x = d2i_X509(NULL, &p, (long)cert_len);
	EML_ENSURE(x != NULL && p == cert_der + cert_len, EML_E_MALFORMED);
	EML_GUARD(eml_es384_verify_pkey(X509_get0_pubkey(x), msg, len, sig));
out:
	X509_free(x);
	return rc;
}
