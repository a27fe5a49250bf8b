#include "crypto/ohttp.h"

#include <string.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/kdf.h"

size_t eml_ohttp_nonce_len(const eml_hpke_ctx *ctx)
{
	int nk = eml_hpke_aead_key_len(eml_hpke_ctx_suite(ctx).aead);
	if (nk <= 0)
		return 0;
	return (size_t)nk > EML_HPKE_NONCE_LEN ? (size_t)nk : EML_HPKE_NONCE_LEN;
}

/* RFC 9458 §4.4 steps 2-5: derive aead_key and aead_nonce for one response. */
static int derive(const eml_hpke_ctx *ctx, const uint8_t *enc, const uint8_t *nonce,
                  size_t nonce_len, uint8_t *key, uint8_t *aead_nonce)
{
	int rc = EML_OK;
	eml_hpke_suite s = eml_hpke_ctx_suite(ctx);
	size_t nk = (size_t)eml_hpke_aead_key_len(s.aead);
	uint8_t secret[EML_HPKE_MAX_KEY_LEN], salt[EML_HPKE_ENC_LEN + EML_OHTTP_MAX_NONCE_LEN],
	    prk[EML_KDF_MAX_HASH_LEN];
	EML_GUARD(eml_hpke_export(ctx, (const uint8_t *)EML_OHTTP_EXPORT_LABEL,
	                          strlen(EML_OHTTP_EXPORT_LABEL), nk, secret));
	memcpy(salt, enc, EML_HPKE_ENC_LEN);
	memcpy(salt + EML_HPKE_ENC_LEN, nonce, nonce_len);
	EML_GUARD(eml_hkdf_extract(s.kdf, salt, EML_HPKE_ENC_LEN + nonce_len, secret, nk, prk));
	EML_GUARD(eml_hkdf_expand(s.kdf, prk, eml_kdf_hash_len(s.kdf), (const uint8_t *)"key", 3,
	                          key, nk));
	EML_GUARD(eml_hkdf_expand(s.kdf, prk, eml_kdf_hash_len(s.kdf), (const uint8_t *)"nonce", 5,
	                          aead_nonce, EML_HPKE_NONCE_LEN));
out:
	eml_wipe(secret, sizeof(secret));
	eml_wipe(prk, sizeof(prk));
	return rc;
}

int eml_ohttp_response_seal(const eml_hpke_ctx *ctx, const uint8_t enc[EML_HPKE_ENC_LEN],
                            const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                            uint8_t *nonce_out, uint8_t *ct_out)
{
	eml_iov one = {pt, pt_len};
	return eml_ohttp_response_seal_iov(ctx, enc, aad, aad_len, &one, 1, nonce_out, ct_out);
}

int eml_ohttp_response_seal_iov(const eml_hpke_ctx *ctx, const uint8_t enc[EML_HPKE_ENC_LEN],
                                const uint8_t *aad, size_t aad_len, const eml_iov *pt, size_t n_pt,
                                uint8_t *nonce_out, uint8_t *ct_out)
{
	int rc = EML_OK;
	uint8_t key[EML_HPKE_MAX_KEY_LEN], nonce[EML_HPKE_NONCE_LEN];
	size_t nl = ctx != NULL ? eml_ohttp_nonce_len(ctx) : 0;
	EML_ENSURE(nl > 0 && enc != NULL && nonce_out != NULL && ct_out != NULL, EML_E_ARG);
	EML_GUARD(eml_random_bytes(nonce_out, nl));
	EML_GUARD(derive(ctx, enc, nonce_out, nl, key, nonce));
	EML_GUARD(eml_hpke_aead_seal_iov(eml_hpke_ctx_suite(ctx).aead, key, nonce, aad, aad_len, pt,
	                                 n_pt, ct_out));
out:
	eml_wipe(key, sizeof(key));
	eml_wipe(nonce, sizeof(nonce));
	return rc;
}

int eml_ohttp_response_open(const eml_hpke_ctx *ctx, const uint8_t enc[EML_HPKE_ENC_LEN],
                            const uint8_t *nonce, size_t nonce_len, const uint8_t *aad,
                            size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	int rc = EML_OK;
	uint8_t key[EML_HPKE_MAX_KEY_LEN], aead_nonce[EML_HPKE_NONCE_LEN];
	size_t nl = ctx != NULL ? eml_ohttp_nonce_len(ctx) : 0;
	EML_ENSURE(nl > 0 && enc != NULL && nonce != NULL, EML_E_ARG);
	EML_ENSURE(nonce_len == nl, EML_E_AUTH);
	EML_GUARD(derive(ctx, enc, nonce, nl, key, aead_nonce));
	EML_GUARD(eml_hpke_aead_open(eml_hpke_ctx_suite(ctx).aead, key, aead_nonce, aad, aad_len,
	                             ct, ct_len, out));
out:
	eml_wipe(key, sizeof(key));
	eml_wipe(aead_nonce, sizeof(aead_nonce));
	return rc;
}
