/*
 * HPKE base mode (RFC 9180) on OpenSSL 3.0: X25519 through EVP_PKEY, HKDF through EVP_KDF, AEADs
 * through EVP_CIPHER. Section numbers below are RFC 9180's.
 */
#include "crypto/hpke.h"

#include <openssl/evp.h>
#include <string.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/kdf.h"

#define HPKE_V1 "HPKE-v1"
#define HPKE_V1_LEN 7
#define SUITE_ID_MAX 10
#define LABELED_MAX (2 + HPKE_V1_LEN + SUITE_ID_MAX + 32 + EML_HPKE_MAX_INFO_LEN + 64)

enum { ROLE_SENDER = 1, ROLE_RECEIVER = 2 };

struct eml_hpke_ctx {
	eml_hpke_suite suite;
	int role;
	size_t nk, nn, nh;
	uint8_t key[EML_HPKE_MAX_KEY_LEN];
	uint8_t base_nonce[EML_HPKE_NONCE_LEN];
	uint8_t exporter_secret[EML_KDF_MAX_HASH_LEN];
	uint8_t shared_secret[32];
	uint8_t ksc[1 + 2 * EML_KDF_MAX_HASH_LEN];
	size_t ksc_len;
	uint64_t seq;
};

int eml_hpke_aead_key_len(uint16_t aead)
{
	switch (aead) {
	case EML_HPKE_AEAD_AES128GCM:
		return 16;
	case EML_HPKE_AEAD_AES256GCM:
	case EML_HPKE_AEAD_CHACHA20POLY1305:
		return 32;
	case EML_HPKE_AEAD_EXPORT_ONLY:
		return 0;
	default:
		return -1;
	}
}

/* §4: LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm). */
static int labeled_extract(int kdf, const uint8_t *suite_id, size_t suite_id_len,
                           const uint8_t *salt, size_t salt_len, const char *label,
                           const uint8_t *ikm, size_t ikm_len, uint8_t *out)
{
	int rc = EML_OK;
	eml_buf b;
	eml_buf_init(&b, 0);
	eml_buf_put(&b, HPKE_V1, HPKE_V1_LEN);
	eml_buf_put(&b, suite_id, suite_id_len);
	eml_buf_put(&b, label, strlen(label));
	eml_buf_put(&b, ikm, ikm_len);
	EML_GUARD(eml_buf_error(&b));
	EML_GUARD(eml_hkdf_extract(kdf, salt, salt_len, b.p, b.len, out));
out:
	eml_buf_cleanup(&b);
	return rc;
}

/* §4: LabeledExpand(prk, label, info, L) =
 *     Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L). */
static int labeled_expand(int kdf, const uint8_t *suite_id, size_t suite_id_len, const uint8_t *prk,
                          size_t prk_len, const char *label, const uint8_t *info, size_t info_len,
                          uint8_t *out, size_t L)
{
	int rc = EML_OK;
	eml_buf b;
	eml_buf_init(&b, 0);
	EML_ENSURE(L <= 0xFFFF, EML_E_ARG);
	eml_buf_u8(&b, (uint8_t)(L >> 8));
	eml_buf_u8(&b, (uint8_t)L);
	eml_buf_put(&b, HPKE_V1, HPKE_V1_LEN);
	eml_buf_put(&b, suite_id, suite_id_len);
	eml_buf_put(&b, label, strlen(label));
	eml_buf_put(&b, info, info_len);
	EML_GUARD(eml_buf_error(&b));
	EML_GUARD(eml_hkdf_expand(kdf, prk, prk_len, b.p, b.len, out, L));
out:
	eml_buf_cleanup(&b);
	return rc;
}

/* suite_id of the KEM (§4.1): "KEM" || I2OSP(kem_id, 2). */
static const uint8_t kem_suite_id[5] = {'K', 'E', 'M', 0x00, 0x20};

/* ------------------------------------------------------------------ X25519 (§7.1) */

static int x25519_pub(const uint8_t *sk, uint8_t *pk)
{
	int rc = EML_OK;
	size_t n = EML_HPKE_PK_LEN;
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, EML_HPKE_SK_LEN);
	EML_ENSURE(k != NULL, EML_E_CRYPTO);
	EML_ENSURE(EVP_PKEY_get_raw_public_key(k, pk, &n) == 1 && n == EML_HPKE_PK_LEN,
	           EML_E_CRYPTO);
out:
	EVP_PKEY_free(k);
	return rc;
}

/* DH(sk, pk); EML_E_AUTH when the result is the all-zero value (§7.1.4: small-order peer). */
static int x25519_dh(const uint8_t *sk, const uint8_t *pk, uint8_t dh[32])
{
	int rc = EML_OK;
	size_t n = 32;
	static const uint8_t zero[32] = {0};
	EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, EML_HPKE_SK_LEN);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, EML_HPKE_PK_LEN);
	EVP_PKEY_CTX *c = NULL;
	EML_ENSURE(priv != NULL && peer != NULL, EML_E_CRYPTO);
	c = EVP_PKEY_CTX_new(priv, NULL);
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_PKEY_derive_init(c) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_PKEY_derive_set_peer(c, peer) == 1, EML_E_AUTH);
	/* OpenSSL refuses an all-zero shared secret itself; treat that as an invalid peer. */
	EML_ENSURE(EVP_PKEY_derive(c, dh, &n) == 1 && n == 32, EML_E_AUTH);
	EML_ENSURE(!eml_ct_eq(dh, zero, 32), EML_E_AUTH);
out:
	if (rc != EML_OK)
		eml_wipe(dh, 32);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(peer);
	return rc;
}

int eml_hpke_public_key(const uint8_t sk[EML_HPKE_SK_LEN], uint8_t pk[EML_HPKE_PK_LEN])
{
	return x25519_pub(sk, pk);
}

int eml_hpke_keypair_generate(uint8_t sk[EML_HPKE_SK_LEN], uint8_t pk[EML_HPKE_PK_LEN])
{
	int rc = EML_OK;
	EML_GUARD(eml_random_bytes(sk, EML_HPKE_SK_LEN));
	EML_GUARD(x25519_pub(sk, pk));
out:
	if (rc != EML_OK)
		eml_wipe(sk, EML_HPKE_SK_LEN);
	return rc;
}

/* §7.1.3: dkp_prk = LabeledExtract("", "dkp_prk", ikm); sk = LabeledExpand(dkp_prk, "sk", "", Nsk). */
int eml_hpke_keypair_derive(const uint8_t *ikm, size_t ikm_len, uint8_t sk[EML_HPKE_SK_LEN],
                            uint8_t pk[EML_HPKE_PK_LEN])
{
	int rc = EML_OK;
	uint8_t prk[32];
	EML_ENSURE(ikm != NULL && ikm_len >= EML_HPKE_SK_LEN && ikm_len <= EML_HPKE_MAX_INFO_LEN,
	           EML_E_ARG);
	EML_GUARD(labeled_extract(EML_KDF_HKDF_SHA256, kem_suite_id, sizeof(kem_suite_id), NULL, 0,
	                          "dkp_prk", ikm, ikm_len, prk));
	EML_GUARD(labeled_expand(EML_KDF_HKDF_SHA256, kem_suite_id, sizeof(kem_suite_id), prk, 32,
	                         "sk", NULL, 0, sk, EML_HPKE_SK_LEN));
	EML_GUARD(x25519_pub(sk, pk));
out:
	eml_wipe(prk, sizeof(prk));
	if (rc != EML_OK)
		eml_wipe(sk, EML_HPKE_SK_LEN);
	return rc;
}

/* §4.1 ExtractAndExpand(dh, kem_context) with kem_context = enc || pkR. */
static int kem_shared_secret(const uint8_t dh[32], const uint8_t *enc, const uint8_t *pkR,
                             uint8_t ss[32])
{
	int rc = EML_OK;
	uint8_t prk[32], kem_context[2 * EML_HPKE_PK_LEN];
	memcpy(kem_context, enc, EML_HPKE_ENC_LEN);
	memcpy(kem_context + EML_HPKE_ENC_LEN, pkR, EML_HPKE_PK_LEN);
	EML_GUARD(labeled_extract(EML_KDF_HKDF_SHA256, kem_suite_id, sizeof(kem_suite_id), NULL, 0,
	                          "eae_prk", dh, 32, prk));
	EML_GUARD(labeled_expand(EML_KDF_HKDF_SHA256, kem_suite_id, sizeof(kem_suite_id), prk, 32,
	                         "shared_secret", kem_context, sizeof(kem_context), ss, 32));
out:
	eml_wipe(prk, sizeof(prk));
	return rc;
}

/* ------------------------------------------------------------------ key schedule (§5.1) */

static void hpke_suite_id(eml_hpke_suite s, uint8_t id[SUITE_ID_MAX])
{
	id[0] = 'H', id[1] = 'P', id[2] = 'K', id[3] = 'E';
	id[4] = 0x00, id[5] = 0x20;
	id[6] = (uint8_t)(s.kdf >> 8), id[7] = (uint8_t)s.kdf;
	id[8] = (uint8_t)(s.aead >> 8), id[9] = (uint8_t)s.aead;
}

static int key_schedule(eml_hpke_ctx *c, const uint8_t ss[32], const uint8_t *info, size_t info_len)
{
	int rc = EML_OK;
	uint8_t sid[SUITE_ID_MAX], psk_id_hash[EML_KDF_MAX_HASH_LEN],
	    info_hash[EML_KDF_MAX_HASH_LEN], secret[EML_KDF_MAX_HASH_LEN];
	int kdf = c->suite.kdf;
	hpke_suite_id(c->suite, sid);
	/* mode_base = 0x00; psk = psk_id = "" (§5.1). */
	EML_GUARD(
	    labeled_extract(kdf, sid, sizeof(sid), NULL, 0, "psk_id_hash", NULL, 0, psk_id_hash));
	EML_GUARD(labeled_extract(kdf, sid, sizeof(sid), NULL, 0, "info_hash", info, info_len,
	                          info_hash));
	c->ksc[0] = 0x00;
	memcpy(c->ksc + 1, psk_id_hash, c->nh);
	memcpy(c->ksc + 1 + c->nh, info_hash, c->nh);
	c->ksc_len = 1 + 2 * c->nh;
	EML_GUARD(labeled_extract(kdf, sid, sizeof(sid), ss, 32, "secret", NULL, 0, secret));
	if (c->nk > 0) {
		EML_GUARD(labeled_expand(kdf, sid, sizeof(sid), secret, c->nh, "key", c->ksc,
		                         c->ksc_len, c->key, c->nk));
		EML_GUARD(labeled_expand(kdf, sid, sizeof(sid), secret, c->nh, "base_nonce", c->ksc,
		                         c->ksc_len, c->base_nonce, c->nn));
	}
	EML_GUARD(labeled_expand(kdf, sid, sizeof(sid), secret, c->nh, "exp", c->ksc, c->ksc_len,
	                         c->exporter_secret, c->nh));
	c->seq = 0;
out:
	eml_wipe(secret, sizeof(secret));
	return rc;
}

static int ctx_new(eml_hpke_suite suite, int role, eml_hpke_ctx **out)
{
	size_t nh = eml_kdf_hash_len(suite.kdf);
	int nk = eml_hpke_aead_key_len(suite.aead);
	if (nh == 0 || nk < 0)
		return EML_E_UNSUPPORTED;
	eml_hpke_ctx *c = eml_calloc(1, sizeof(*c));
	if (c == NULL)
		return EML_E_NOMEM;
	c->suite = suite;
	c->role = role;
	c->nh = nh;
	c->nk = (size_t)nk;
	c->nn = nk > 0 ? EML_HPKE_NONCE_LEN : 0;
	*out = c;
	return EML_OK;
}

int eml_hpke_setup_sender_suite(eml_hpke_suite suite, const uint8_t pkR[EML_HPKE_PK_LEN],
                                const uint8_t *info, size_t info_len, const uint8_t *ikmE,
                                size_t ikmE_len, uint8_t enc[EML_HPKE_ENC_LEN], eml_hpke_ctx **out)
{
	int rc = EML_OK;
	eml_hpke_ctx *c = NULL;
	uint8_t skE[EML_HPKE_SK_LEN], pkE[EML_HPKE_PK_LEN], dh[32], ss[32];
	EML_ENSURE(pkR != NULL && enc != NULL && out != NULL, EML_E_ARG);
	EML_ENSURE(info_len <= EML_HPKE_MAX_INFO_LEN && (info != NULL || info_len == 0), EML_E_ARG);
	EML_GUARD(ctx_new(suite, ROLE_SENDER, &c));
	/* §4.1 Encap(pkR). */
	if (ikmE != NULL)
		EML_GUARD(eml_hpke_keypair_derive(ikmE, ikmE_len, skE, pkE));
	else
		EML_GUARD(eml_hpke_keypair_generate(skE, pkE));
	EML_GUARD(x25519_dh(skE, pkR, dh));
	EML_GUARD(kem_shared_secret(dh, pkE, pkR, ss));
	memcpy(c->shared_secret, ss, 32);
	EML_GUARD(key_schedule(c, ss, info, info_len));
	memcpy(enc, pkE, EML_HPKE_ENC_LEN);
	*out = c;
	c = NULL;
out:
	eml_wipe(skE, sizeof(skE));
	eml_wipe(dh, sizeof(dh));
	eml_wipe(ss, sizeof(ss));
	eml_hpke_ctx_free(c);
	return rc;
}

/* pk_known: the receiver's public key when the caller holds it (it is pk(skR); deriving it is a
 * second scalar multiplication per request), NULL to derive it. */
static int setup_receiver(eml_hpke_suite suite, const uint8_t enc[EML_HPKE_ENC_LEN],
                          const uint8_t skR[EML_HPKE_SK_LEN], const uint8_t *pk_known,
                          const uint8_t *info, size_t info_len, eml_hpke_ctx **out)
{
	int rc = EML_OK;
	eml_hpke_ctx *c = NULL;
	uint8_t pkR[EML_HPKE_PK_LEN], dh[32], ss[32];
	EML_ENSURE(enc != NULL && skR != NULL && out != NULL, EML_E_ARG);
	EML_ENSURE(info_len <= EML_HPKE_MAX_INFO_LEN && (info != NULL || info_len == 0), EML_E_ARG);
	EML_GUARD(ctx_new(suite, ROLE_RECEIVER, &c));
	/* §4.1 Decap(enc, skR). */
	EML_GUARD(x25519_dh(skR, enc, dh));
	if (pk_known != NULL)
		memcpy(pkR, pk_known, sizeof(pkR));
	else
		EML_GUARD(x25519_pub(skR, pkR));
	EML_GUARD(kem_shared_secret(dh, enc, pkR, ss));
	memcpy(c->shared_secret, ss, 32);
	EML_GUARD(key_schedule(c, ss, info, info_len));
	*out = c;
	c = NULL;
out:
	eml_wipe(dh, sizeof(dh));
	eml_wipe(ss, sizeof(ss));
	eml_hpke_ctx_free(c);
	return rc;
}

int eml_hpke_setup_receiver_suite(eml_hpke_suite suite, const uint8_t enc[EML_HPKE_ENC_LEN],
                                  const uint8_t skR[EML_HPKE_SK_LEN], const uint8_t *info,
                                  size_t info_len, eml_hpke_ctx **out)
{
	return setup_receiver(suite, enc, skR, NULL, info, info_len, out);
}

int eml_hpke_setup_receiver_pk(const uint8_t enc[EML_HPKE_ENC_LEN],
                               const uint8_t skR[EML_HPKE_SK_LEN],
                               const uint8_t pkR[EML_HPKE_PK_LEN], const uint8_t *info,
                               size_t info_len, eml_hpke_ctx **out)
{
	return setup_receiver(EML_HPKE_SUITE_DEFAULT, enc, skR, pkR, info, info_len, out);
}

int eml_hpke_setup_sender(const uint8_t pkR[EML_HPKE_PK_LEN], const uint8_t *info, size_t info_len,
                          uint8_t enc[EML_HPKE_ENC_LEN], eml_hpke_ctx **out)
{
	return eml_hpke_setup_sender_suite(EML_HPKE_SUITE_DEFAULT, pkR, info, info_len, NULL, 0,
	                                   enc, out);
}

int eml_hpke_setup_receiver(const uint8_t enc[EML_HPKE_ENC_LEN], const uint8_t skR[EML_HPKE_SK_LEN],
                            const uint8_t *info, size_t info_len, eml_hpke_ctx **out)
{
	return eml_hpke_setup_receiver_suite(EML_HPKE_SUITE_DEFAULT, enc, skR, info, info_len, out);
}

void eml_hpke_ctx_free(eml_hpke_ctx *ctx)
{
	eml_free(ctx); /* eml_free wipes the whole block: key, nonce, exporter and shared secrets */
}

eml_hpke_suite eml_hpke_ctx_suite(const eml_hpke_ctx *ctx)
{
	return ctx->suite;
}

void eml_hpke_ctx_kat(const eml_hpke_ctx *ctx, eml_hpke_kat *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->shared_secret, ctx->shared_secret, 32);
	memcpy(out->key, ctx->key, ctx->nk);
	out->key_len = ctx->nk;
	memcpy(out->base_nonce, ctx->base_nonce, ctx->nn);
	out->nonce_len = ctx->nn;
	memcpy(out->exporter_secret, ctx->exporter_secret, ctx->nh);
	out->exporter_secret_len = ctx->nh;
	memcpy(out->key_schedule_context, ctx->ksc, ctx->ksc_len);
	out->key_schedule_context_len = ctx->ksc_len;
}

/* ------------------------------------------------------------------ AEAD (§5.2) */

static const EVP_CIPHER *aead_cipher(uint16_t aead)
{
	switch (aead) {
	case EML_HPKE_AEAD_AES128GCM:
		return EVP_aes_128_gcm();
	case EML_HPKE_AEAD_AES256GCM:
		return EVP_aes_256_gcm();
	case EML_HPKE_AEAD_CHACHA20POLY1305:
		return EVP_chacha20_poly1305();
	default:
		return NULL;
	}
}

/* OpenSSL takes int lengths; messages on our wire are far below INT_MAX (frame limits). */
#define AEAD_MAX_LEN ((size_t)1 << 30)

/* The input may come in pieces (in[0..n_in)): the cipher streams over them into one contiguous
 * output, so a message is never copied together first. */
static int aead_run(int enc, uint16_t aead, const uint8_t *key, const uint8_t *nonce,
                    const uint8_t *aad, size_t aad_len, const eml_iov *in, size_t n_in,
                    uint8_t *out, uint8_t *tag)
{
	int rc = EML_OK, n = 0;
	size_t in_len = 0;
	const EVP_CIPHER *cipher = aead_cipher(aead);
	EVP_CIPHER_CTX *c = NULL;
	EML_ENSURE(cipher != NULL, EML_E_UNSUPPORTED);
	for (size_t i = 0; i < n_in; i++) {
		EML_ENSURE(in[i].n <= AEAD_MAX_LEN, EML_E_LIMIT);
		in_len += in[i].n;
		EML_ENSURE(in_len <= AEAD_MAX_LEN, EML_E_LIMIT);
	}
	EML_ENSURE(aad_len <= AEAD_MAX_LEN, EML_E_LIMIT);
	c = EVP_CIPHER_CTX_new();
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	EML_ENSURE(EVP_CipherInit_ex(c, cipher, NULL, NULL, NULL, enc) == 1, EML_E_CRYPTO);
	EML_ENSURE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, EML_HPKE_NONCE_LEN, NULL) == 1,
	           EML_E_CRYPTO);
	EML_ENSURE(EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1, EML_E_CRYPTO);
	if (!enc)
		EML_ENSURE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, EML_HPKE_TAG_LEN, tag) ==
		               1,
		           EML_E_CRYPTO);
	if (aad_len > 0)
		EML_ENSURE(EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1, EML_E_CRYPTO);
	for (size_t i = 0, at = 0; i < n_in; at += in[i].n, i++)
		if (in[i].n > 0) {
			EML_ENSURE(EVP_CipherUpdate(c, out + at, &n, in[i].p, (int)in[i].n) == 1,
			           EML_E_CRYPTO);
			EML_ENSURE((size_t)n == in[i].n,
			           EML_E_CRYPTO); /* AEAD ciphers are streams */
		}
	if (EVP_CipherFinal_ex(c, out + in_len, &n) != 1) {
		eml_wipe(out, in_len);
		EML_FAIL(enc ? EML_E_CRYPTO : EML_E_AUTH);
	}
	if (enc)
		EML_ENSURE(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, EML_HPKE_TAG_LEN, tag) ==
		               1,
		           EML_E_CRYPTO);
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int eml_hpke_aead_seal_iov(uint16_t aead, const uint8_t *key, const uint8_t *nonce,
                           const uint8_t *aad, size_t aad_len, const eml_iov *pt, size_t n_pt,
                           uint8_t *out)
{
	size_t pt_len = 0;
	for (size_t i = 0; i < n_pt; i++)
		if (eml_add_size(pt_len, pt[i].n, &pt_len) != EML_OK)
			return EML_E_LIMIT;
	return aead_run(1, aead, key, nonce, aad, aad_len, pt, n_pt, out, out + pt_len);
}

int eml_hpke_aead_seal(uint16_t aead, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                       size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
	eml_iov one = {pt, pt_len};
	return eml_hpke_aead_seal_iov(aead, key, nonce, aad, aad_len, &one, 1, out);
}

int eml_hpke_aead_open(uint16_t aead, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                       size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint8_t tag[EML_HPKE_TAG_LEN];
	if (ct_len < EML_HPKE_TAG_LEN)
		return EML_E_AUTH;
	size_t len = ct_len - EML_HPKE_TAG_LEN;
	memcpy(tag, ct + len, EML_HPKE_TAG_LEN); /* out may alias ct */
	eml_iov one = {ct, len};
	return aead_run(0, aead, key, nonce, aad, aad_len, &one, 1, out, tag);
}

/* §5.2 ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn). */
static void compute_nonce(const eml_hpke_ctx *c, uint8_t nonce[EML_HPKE_NONCE_LEN])
{
	memcpy(nonce, c->base_nonce, EML_HPKE_NONCE_LEN);
	for (int i = 0; i < 8; i++)
		nonce[EML_HPKE_NONCE_LEN - 1 - i] ^= (uint8_t)(c->seq >> (8 * i));
}

int eml_hpke_seal(eml_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                  size_t pt_len, uint8_t *out)
{
	eml_iov one = {pt, pt_len};
	return eml_hpke_seal_iov(ctx, aad, aad_len, &one, 1, out);
}

int eml_hpke_seal_iov(eml_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const eml_iov *pt,
                      size_t n_pt, uint8_t *out)
{
	int rc = EML_OK;
	uint8_t nonce[EML_HPKE_NONCE_LEN];
	EML_ENSURE(ctx != NULL && ctx->role == ROLE_SENDER, EML_E_ARG);
	EML_ENSURE(ctx->nk > 0, EML_E_UNSUPPORTED);
	/* §5.2 IncrementSeq: refuse before the counter would wrap (our counter is 64-bit). */
	EML_ENSURE(ctx->seq != UINT64_MAX, EML_E_LIMIT);
	compute_nonce(ctx, nonce);
	EML_GUARD(
	    eml_hpke_aead_seal_iov(ctx->suite.aead, ctx->key, nonce, aad, aad_len, pt, n_pt, out));
	ctx->seq++;
out:
	return rc;
}

int eml_hpke_open(eml_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                  size_t ct_len, uint8_t *out)
{
	int rc = EML_OK;
	uint8_t nonce[EML_HPKE_NONCE_LEN];
	EML_ENSURE(ctx != NULL && ctx->role == ROLE_RECEIVER, EML_E_ARG);
	EML_ENSURE(ctx->nk > 0, EML_E_UNSUPPORTED);
	EML_ENSURE(ctx->seq != UINT64_MAX, EML_E_LIMIT);
	compute_nonce(ctx, nonce);
	EML_GUARD(
	    eml_hpke_aead_open(ctx->suite.aead, ctx->key, nonce, aad, aad_len, ct, ct_len, out));
	ctx->seq++;
out:
	return rc;
}

/* §5.3 Export(exporter_context, L) = LabeledExpand(exporter_secret, "sec", exporter_context, L). */
int eml_hpke_export(const eml_hpke_ctx *ctx, const uint8_t *exporter_context,
                    size_t exporter_context_len, size_t L, uint8_t *out)
{
	uint8_t sid[SUITE_ID_MAX];
	if (ctx == NULL || out == NULL || L == 0 || L > 255 * ctx->nh ||
	    exporter_context_len > EML_HPKE_MAX_EXPORTER_CONTEXT_LEN ||
	    (exporter_context == NULL && exporter_context_len > 0))
		return EML_E_ARG;
	hpke_suite_id(ctx->suite, sid);
	return labeled_expand(ctx->suite.kdf, sid, sizeof(sid), ctx->exporter_secret, ctx->nh,
	                      "sec", exporter_context, exporter_context_len, out, L);
}
