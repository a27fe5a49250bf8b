/*
 * Sealed topology key format (src/kms/sealed.h, docs/KMS.md). The data key released by KMS is
 * only ever used as this AES-256-GCM key: CMS from KMS has no MAC, so the GCM tag is what
 * authenticates the released key (DESIGN §9).
 */
#include "kms/sealed.h"

#include <stdio.h>
#include <string.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/aead.h"
#include "topo/topo.h"

int eml_sealed_context_json(const uint8_t model_id[16], char *out, size_t cap)
{
	char hex[33];
	eml_hex(model_id, 16, hex);
	int n = snprintf(
	    out, cap, "{\"eml:format\":\"" EML_SEALED_CTX_FORMAT "\",\"eml:model\":\"%s\"}", hex);
	return n > 0 && (size_t)n < cap ? EML_OK : EML_E_KMS_SEALED_FORMAT;
}

/* AAD = "eml:format=1\neml:model=<hex>\n" || header bytes. */
static int build_aad(const uint8_t model_id[16], const uint8_t *hdr, size_t hdr_len, eml_buf *b)
{
	char hex[33], ctx[96];
	eml_hex(model_id, 16, hex);
	int n =
	    snprintf(ctx, sizeof(ctx), "eml:format=" EML_SEALED_CTX_FORMAT "\neml:model=%s\n", hex);
	eml_buf_put(b, ctx, (size_t)n);
	eml_buf_put(b, hdr, hdr_len);
	return eml_buf_error(b) ? EML_E_NOMEM : EML_OK;
}

int eml_sealed_seal(const uint8_t *tkey, size_t tkey_len, const uint8_t data_key[32],
                    const char *key_id, const uint8_t *kms_blob, size_t kms_blob_len, uint8_t **out,
                    size_t *out_len)
{
	int rc = EML_OK;
	eml_tkey *k = NULL;
	uint8_t mid[16], nonce[EML_AEAD_NONCE_LEN];
	eml_buf b, aad;
	size_t kl = key_id ? strlen(key_id) : 0;
	eml_buf_init(&b, EML_SEALED_MAX_TKEY + 64 * 1024);
	eml_buf_init(&aad, 64 * 1024);
	*out = NULL;
	EML_ENSURE(kl > 0 && kl <= EML_SEALED_MAX_KEY_ID && kms_blob_len > 0 &&
	               kms_blob_len <= EML_SEALED_MAX_BLOB && tkey_len <= EML_SEALED_MAX_TKEY,
	           EML_E_KMS_SEALED_FORMAT);
	EML_GUARD(eml_tkey_parse(tkey, tkey_len, &k));
	eml_tkey_model_id(k, mid);
	EML_GUARD(eml_random_bytes(nonce, sizeof(nonce)));
	eml_buf_put(&b, EML_SEALED_MAGIC, 8);
	eml_buf_u32(&b, EML_SEALED_VERSION);
	eml_buf_put(&b, mid, 16);
	eml_buf_u16(&b, (uint16_t)kl);
	eml_buf_put(&b, key_id, kl);
	eml_buf_u32(&b, (uint32_t)kms_blob_len);
	eml_buf_put(&b, kms_blob, kms_blob_len);
	EML_ENSURE(!eml_buf_error(&b), EML_E_NOMEM);
	EML_GUARD(build_aad(mid, b.p, b.len, &aad));
	eml_buf_put(&b, nonce, sizeof(nonce));
	eml_buf_u32(&b, (uint32_t)(tkey_len + EML_AEAD_TAG_LEN));
	size_t at = b.len;
	eml_buf_zero(&b, tkey_len + EML_AEAD_TAG_LEN);
	EML_ENSURE(!eml_buf_error(&b), EML_E_NOMEM);
	EML_GUARD(eml_aead_seal(data_key, nonce, aad.p, aad.len, tkey, tkey_len, b.p + at));
	*out = eml_buf_take(&b, out_len);
out:
	eml_tkey_free(k);
	eml_buf_cleanup(&b);
	eml_buf_cleanup(&aad);
	return rc;
}

int eml_sealed_parse(const uint8_t *p, size_t n, eml_sealed *out)
{
	int rc = EML_OK;
	eml_cursor c;
	const uint8_t *magic, *kid;
	uint32_t ver, bl, cl;
	uint16_t kl;
	memset(out, 0, sizeof(*out));
	eml_cur_init(&c, p, n);
	EML_ENSURE(eml_cur_view(&c, 8, &magic) == EML_OK && memcmp(magic, EML_SEALED_MAGIC, 8) == 0,
	           EML_E_KMS_SEALED_FORMAT);
	EML_ENSURE(eml_cur_u32(&c, &ver) == EML_OK && ver == EML_SEALED_VERSION,
	           EML_E_KMS_SEALED_FORMAT);
	EML_ENSURE(eml_cur_copy(&c, out->model_id, 16) == EML_OK, EML_E_KMS_SEALED_FORMAT);
	EML_ENSURE(eml_cur_u16(&c, &kl) == EML_OK && kl > 0 && kl <= EML_SEALED_MAX_KEY_ID,
	           EML_E_KMS_SEALED_FORMAT);
	EML_ENSURE(eml_cur_view(&c, kl, &kid) == EML_OK && !memchr(kid, 0, kl),
	           EML_E_KMS_SEALED_FORMAT);
	memcpy(out->key_id, kid, kl);
	out->key_id[kl] = 0;
	EML_ENSURE(eml_cur_u32(&c, &bl) == EML_OK && bl > 0 && bl <= EML_SEALED_MAX_BLOB,
	           EML_E_KMS_SEALED_FORMAT);
	EML_ENSURE(eml_cur_view(&c, bl, &out->kms_blob) == EML_OK, EML_E_KMS_SEALED_FORMAT);
	out->kms_blob_len = bl;
	out->header = p;
	out->header_len = c.pos;
	EML_ENSURE(eml_cur_view(&c, EML_AEAD_NONCE_LEN, &out->nonce) == EML_OK,
	           EML_E_KMS_SEALED_FORMAT);
	EML_ENSURE(eml_cur_u32(&c, &cl) == EML_OK && cl > EML_AEAD_TAG_LEN &&
	               cl <= EML_SEALED_MAX_TKEY + EML_AEAD_TAG_LEN,
	           EML_E_KMS_SEALED_FORMAT);
	EML_ENSURE(eml_cur_view(&c, cl, &out->ct) == EML_OK && eml_cur_end(&c) == EML_OK,
	           EML_E_KMS_SEALED_FORMAT);
	out->ct_len = cl;
out:
	if (rc != EML_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

int eml_sealed_open(const eml_sealed *s, const uint8_t data_key[32], uint8_t **tkey,
                    size_t *tkey_len)
{
	int rc = EML_OK;
	eml_buf aad;
	uint8_t *pt = NULL, mid[16];
	eml_tkey *k = NULL;
	size_t pl = s->ct_len - EML_AEAD_TAG_LEN;
	eml_buf_init(&aad, 64 * 1024);
	*tkey = NULL;
	EML_GUARD(build_aad(s->model_id, s->header, s->header_len, &aad));
	pt = eml_alloc(pl ? pl : 1);
	EML_ENSURE(pt, EML_E_NOMEM);
	EML_ENSURE(eml_aead_open(data_key, s->nonce, aad.p, aad.len, s->ct, s->ct_len, pt) ==
	               EML_OK,
	           EML_E_KMS_UNSEAL);
	EML_ENSURE(eml_tkey_parse(pt, pl, &k) == EML_OK, EML_E_KMS_UNSEAL);
	eml_tkey_model_id(k, mid);
	EML_ENSURE(eml_ct_eq(mid, s->model_id, 16), EML_E_KMS_UNSEAL);
	*tkey = pt;
	*tkey_len = pl;
	pt = NULL;
out:
	eml_tkey_free(k);
	eml_free(pt);
	eml_buf_cleanup(&aad);
	return rc;
}
