/*
 * CMS EnvelopedData for KMS CiphertextForRecipient (RFC 5652 §6.1, §6.2.1; RFC 4055 §4.1 for
 * RSAES-OAEP parameters; RFC 3565 §4.1 for AES-CBC parameters).
 *
 * Parsing is defence in depth: OpenSSL's CMS decoder (d2i_CMS_ContentInfo) must accept the whole
 * blob as an EnvelopedData, then our own strict BER walker (every byte through eml_cursor, X.690
 * §8.1: definite and indefinite lengths, single-byte tags) extracts exactly the pieces we use and
 * refuses any algorithm other than RSAES-OAEP(SHA-256, MGF1-SHA-256) and AES-256-CBC.
 */
#include "crypto/cms.h"

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/rsa.h"

static const uint8_t OID_ENVELOPED[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};
static const uint8_t OID_DATA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const uint8_t OID_OAEP[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07};
static const uint8_t OID_MGF1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
static const uint8_t OID_SHA256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t OID_AES256CBC[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a};

enum {
	T_INTEGER = 0x02,
	T_OCTET = 0x04,
	T_NULL = 0x05,
	T_OID = 0x06,
	T_SEQ = 0x30,
	T_SET = 0x31,
	T_CTX0 = 0xa0,
	T_CTX1 = 0xa1,
	T_CTX0_PRIM = 0x80
};

typedef struct tlv {
	uint8_t tag;
	const uint8_t *val; /* contents (for indefinite: excluding the end-of-contents octets) */
	size_t len;
} tlv;

static int ber_read(eml_cursor *c, tlv *t, int depth);

/* Skip children until the end-of-contents octets; sets *content_len. */
static int ber_indefinite(eml_cursor *c, size_t *content_len, int depth)
{
	size_t start = c->pos;
	for (;;) {
		if (eml_cur_remaining(c) < 2)
			return EML_E_KMS_CMS;
		if (c->p[c->pos] == 0 && c->p[c->pos + 1] == 0) {
			*content_len = c->pos - start;
			return eml_cur_skip(c, 2) == EML_OK ? EML_OK : EML_E_KMS_CMS;
		}
		tlv child;
		int rc = ber_read(c, &child, depth + 1);
		if (rc != EML_OK)
			return rc;
	}
}

static int ber_read(eml_cursor *c, tlv *t, int depth)
{
	uint8_t tag, l0;
	if (depth > EML_CMS_MAX_DEPTH)
		return EML_E_KMS_CMS;
	if (eml_cur_u8(c, &tag) != EML_OK || eml_cur_u8(c, &l0) != EML_OK)
		return EML_E_KMS_CMS;
	if ((tag & 0x1f) == 0x1f || tag == 0) /* high tag numbers and EOC are not expected here */
		return EML_E_KMS_CMS;
	t->tag = tag;
	if (l0 == 0x80) {
		if (!(tag & 0x20)) /* X.690 §8.1.3.2: indefinite only for constructed */
			return EML_E_KMS_CMS;
		size_t start = c->pos, n;
		int rc = ber_indefinite(c, &n, depth);
		if (rc != EML_OK)
			return rc;
		t->val = c->p + start;
		t->len = n;
		return EML_OK;
	}
	size_t len = l0;
	if (l0 & 0x80) {
		size_t k = l0 & 0x7f;
		if (k == 0 || k > 4)
			return EML_E_KMS_CMS;
		len = 0;
		for (size_t i = 0; i < k; i++) {
			uint8_t b;
			if (eml_cur_u8(c, &b) != EML_OK)
				return EML_E_KMS_CMS;
			len = len << 8 | b;
		}
	}
	if (eml_cur_view(c, len, &t->val) != EML_OK)
		return EML_E_KMS_CMS;
	t->len = len;
	return EML_OK;
}

/* Read the next child of `c` and require its tag. */
static int expect(eml_cursor *c, uint8_t tag, tlv *t)
{
	int rc = ber_read(c, t, 1);
	if (rc != EML_OK)
		return rc;
	return t->tag == tag ? EML_OK : EML_E_KMS_CMS;
}

static int oid_is(const tlv *t, const uint8_t *oid, size_t n)
{
	return t->tag == T_OID && t->len == n && memcmp(t->val, oid, n) == 0;
}

/* AlgorithmIdentifier{sha256, NULL or absent} */
static int check_sha256_alg(const tlv *seq)
{
	eml_cursor c;
	tlv o, p;
	eml_cur_init(&c, seq->val, seq->len);
	if (seq->tag != T_SEQ || expect(&c, T_OID, &o) != EML_OK ||
	    !oid_is(&o, OID_SHA256, sizeof(OID_SHA256)))
		return EML_E_KMS_CMS;
	if (eml_cur_remaining(&c)) {
		if (expect(&c, T_NULL, &p) != EML_OK || p.len != 0)
			return EML_E_KMS_CMS;
	}
	return eml_cur_end(&c) == EML_OK ? EML_OK : EML_E_KMS_CMS;
}

/* RSAES-OAEP-params (RFC 4055 §4.1) with hashFunc sha256, maskGenFunc mgf1(sha256), no label. */
static int check_oaep(const tlv *alg)
{
	eml_cursor c, pc, x;
	tlv o, params, h0, h, m0, m, mo, mh;
	eml_cur_init(&c, alg->val, alg->len);
	if (expect(&c, T_OID, &o) != EML_OK || !oid_is(&o, OID_OAEP, sizeof(OID_OAEP)) ||
	    expect(&c, T_SEQ, &params) != EML_OK || eml_cur_end(&c) != EML_OK)
		return EML_E_KMS_CMS;
	eml_cur_init(&pc, params.val, params.len);
	/* [0] hashFunc (explicit) */
	if (expect(&pc, T_CTX0, &h0) != EML_OK)
		return EML_E_KMS_CMS;
	eml_cur_init(&x, h0.val, h0.len);
	if (ber_read(&x, &h, 2) != EML_OK || eml_cur_end(&x) != EML_OK || check_sha256_alg(&h))
		return EML_E_KMS_CMS;
	/* [1] maskGenFunc (explicit) = {mgf1, sha256} */
	if (expect(&pc, T_CTX1, &m0) != EML_OK)
		return EML_E_KMS_CMS;
	eml_cur_init(&x, m0.val, m0.len);
	if (expect(&x, T_SEQ, &m) != EML_OK || eml_cur_end(&x) != EML_OK)
		return EML_E_KMS_CMS;
	eml_cur_init(&x, m.val, m.len);
	if (expect(&x, T_OID, &mo) != EML_OK || !oid_is(&mo, OID_MGF1, sizeof(OID_MGF1)) ||
	    ber_read(&x, &mh, 2) != EML_OK || eml_cur_end(&x) != EML_OK || check_sha256_alg(&mh))
		return EML_E_KMS_CMS;
	/* [2] pSourceFunc absent = empty label; anything else is refused */
	return eml_cur_end(&pc) == EML_OK ? EML_OK : EML_E_KMS_CMS;
}

void eml_cms_parts_free(eml_cms_parts *p)
{
	if (!p)
		return;
	eml_free(p->ciphertext);
	memset(p, 0, sizeof(*p));
}

int eml_cms_parse(const uint8_t *in, size_t len, eml_cms_parts *out)
{
	int rc = EML_OK;
	eml_cursor c, ed, ris, ri, eci, ca, ec;
	tlv ci, oid, ctx, env, ver, set, ktri, rver, rid, kea, ek, eci_t, ct, calg, coid, iv, enc;
	CMS_ContentInfo *cms = NULL;
	memset(out, 0, sizeof(*out));
	EML_ENSURE(in && len > 0 && len <= EML_CMS_MAX_LEN, EML_E_KMS_CMS);

	/* OpenSSL must agree this is an EnvelopedData (structural cross-check). */
	const uint8_t *p = in;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	EML_ENSURE(cms && p == in + len, EML_E_KMS_CMS);
	EML_ENSURE(OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_enveloped, EML_E_KMS_CMS);

	/* ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content } */
	eml_cur_init(&c, in, len);
	EML_GUARD(expect(&c, T_SEQ, &ci));
	EML_ENSURE(eml_cur_end(&c) == EML_OK, EML_E_KMS_CMS);
	eml_cur_init(&c, ci.val, ci.len);
	EML_GUARD(expect(&c, T_OID, &oid));
	EML_ENSURE(oid_is(&oid, OID_ENVELOPED, sizeof(OID_ENVELOPED)), EML_E_KMS_CMS);
	EML_GUARD(expect(&c, T_CTX0, &ctx));
	EML_ENSURE(eml_cur_end(&c) == EML_OK, EML_E_KMS_CMS);
	eml_cur_init(&c, ctx.val, ctx.len);
	EML_GUARD(expect(&c, T_SEQ, &env));
	EML_ENSURE(eml_cur_end(&c) == EML_OK, EML_E_KMS_CMS);

	/* EnvelopedData ::= SEQUENCE { version, [0] originatorInfo OPTIONAL, recipientInfos,
	 * encryptedContentInfo, [1] unprotectedAttrs OPTIONAL } */
	eml_cur_init(&ed, env.val, env.len);
	EML_GUARD(expect(&ed, T_INTEGER, &ver));
	EML_ENSURE(ver.len == 1 && (ver.val[0] == 0 || ver.val[0] == 2), EML_E_KMS_CMS);
	EML_GUARD(expect(&ed, T_SET, &set)); /* no originatorInfo from KMS */
	eml_cur_init(&ris, set.val, set.len);
	EML_GUARD(expect(&ris, T_SEQ, &ktri)); /* exactly one KeyTransRecipientInfo */
	EML_ENSURE(eml_cur_end(&ris) == EML_OK, EML_E_KMS_CMS);

	eml_cur_init(&ri, ktri.val, ktri.len);
	EML_GUARD(expect(&ri, T_INTEGER, &rver));
	EML_ENSURE(rver.len == 1 && (rver.val[0] == 0 || rver.val[0] == 2), EML_E_KMS_CMS);
	EML_GUARD(ber_read(&ri, &rid, 1));
	if (rid.tag == T_CTX0_PRIM) {
		EML_ENSURE(rver.val[0] == 2 && rid.len > 0, EML_E_KMS_CMS);
		out->rid_ski = rid.val;
		out->rid_ski_len = rid.len;
	} else {
		EML_ENSURE(rid.tag == T_SEQ && rver.val[0] == 0, EML_E_KMS_CMS);
	}
	EML_GUARD(expect(&ri, T_SEQ, &kea));
	EML_GUARD(check_oaep(&kea));
	EML_GUARD(expect(&ri, T_OCTET, &ek));
	EML_ENSURE(ek.len > 0 && ek.len <= 512, EML_E_KMS_CMS);
	EML_ENSURE(eml_cur_end(&ri) == EML_OK, EML_E_KMS_CMS);

	/* EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
	 * [0] IMPLICIT encryptedContent OPTIONAL } */
	EML_GUARD(expect(&ed, T_SEQ, &eci_t));
	EML_ENSURE(eml_cur_end(&ed) == EML_OK, EML_E_KMS_CMS); /* no unprotectedAttrs */
	eml_cur_init(&eci, eci_t.val, eci_t.len);
	EML_GUARD(expect(&eci, T_OID, &ct));
	EML_ENSURE(oid_is(&ct, OID_DATA, sizeof(OID_DATA)), EML_E_KMS_CMS);
	EML_GUARD(expect(&eci, T_SEQ, &calg));
	eml_cur_init(&ca, calg.val, calg.len);
	EML_GUARD(expect(&ca, T_OID, &coid));
	EML_ENSURE(oid_is(&coid, OID_AES256CBC, sizeof(OID_AES256CBC)), EML_E_KMS_CMS);
	EML_GUARD(expect(&ca, T_OCTET, &iv));
	EML_ENSURE(iv.len == 16 && eml_cur_end(&ca) == EML_OK, EML_E_KMS_CMS);
	EML_GUARD(ber_read(&eci, &enc, 1));
	EML_ENSURE(eml_cur_end(&eci) == EML_OK, EML_E_KMS_CMS);

	eml_buf b;
	eml_buf_init(&b, EML_CMS_MAX_CONTENT);
	if (enc.tag == T_CTX0_PRIM) {
		eml_buf_put(&b, enc.val, enc.len);
	} else if (enc.tag == T_CTX0) { /* constructed: a series of OCTET STRING chunks */
		eml_cur_init(&ec, enc.val, enc.len);
		while (eml_cur_remaining(&ec) && rc == EML_OK) {
			tlv chunk;
			rc = expect(&ec, T_OCTET, &chunk);
			if (rc == EML_OK)
				eml_buf_put(&b, chunk.val, chunk.len);
		}
	} else {
		rc = EML_E_KMS_CMS;
	}
	if (rc == EML_OK && (eml_buf_error(&b) || b.len == 0 || b.len % 16 != 0))
		rc = EML_E_KMS_CMS;
	if (rc == EML_OK)
		out->ciphertext = eml_buf_take(&b, &out->ciphertext_len);
	eml_buf_cleanup(&b);
	EML_GUARD(rc);
	out->enc_key = ek.val;
	out->enc_key_len = ek.len;
	out->iv = iv.val;
out:
	CMS_ContentInfo_free(cms);
	if (rc != EML_OK)
		eml_cms_parts_free(out);
	return rc;
}

int eml_cms_decrypt(const uint8_t *in, size_t len, EVP_PKEY *rsa, uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	eml_cms_parts parts;
	uint8_t cek[512];
	size_t cek_len = sizeof(cek);
	uint8_t *pt = NULL;
	int l1 = 0, l2 = 0;
	EVP_CIPHER_CTX *cc = NULL;
	*out = NULL;
	*out_len = 0;
	EML_GUARD(eml_cms_parse(in, len, &parts));
	EML_ENSURE(eml_rsa_oaep_decrypt(rsa, parts.enc_key, parts.enc_key_len, cek, &cek_len) ==
	                   EML_OK &&
	               cek_len == 32,
	           EML_E_KMS_CMS_DECRYPT);
	pt = eml_alloc(parts.ciphertext_len + 16);
	EML_ENSURE(pt, EML_E_NOMEM);
	cc = EVP_CIPHER_CTX_new();
	EML_ENSURE(cc, EML_E_CRYPTO);
	EML_ENSURE(EVP_DecryptInit_ex(cc, EVP_aes_256_cbc(), NULL, cek, parts.iv) == 1,
	           EML_E_CRYPTO);
	EML_ENSURE(EVP_DecryptUpdate(cc, pt, &l1, parts.ciphertext, (int)parts.ciphertext_len) == 1,
	           EML_E_KMS_CMS_DECRYPT);
	/* PKCS#7 padding check; no MAC here: the caller's AEAD authenticates the result */
	EML_ENSURE(EVP_DecryptFinal_ex(cc, pt + l1, &l2) == 1, EML_E_KMS_CMS_DECRYPT);
	*out = pt;
	*out_len = (size_t)(l1 + l2);
	pt = NULL;
out:
	EVP_CIPHER_CTX_free(cc); /* OpenSSL cleanses the key schedule */
	eml_wipe(cek, sizeof(cek));
	eml_free(pt);
	eml_cms_parts_free(&parts);
	return rc;
}

/* ---- DER encoder (local KMS) ---- */

static void der_len(eml_buf *b, size_t n)
{
	if (n < 128) {
		eml_buf_u8(b, (uint8_t)n);
	} else if (n < 256) {
		eml_buf_u8(b, 0x81);
		eml_buf_u8(b, (uint8_t)n);
	} else {
		eml_buf_u8(b, 0x82);
		eml_buf_u8(b, (uint8_t)(n >> 8));
		eml_buf_u8(b, (uint8_t)n);
	}
}

static void der(eml_buf *b, uint8_t tag, const void *v, size_t n)
{
	eml_buf_u8(b, tag);
	der_len(b, n);
	eml_buf_put(b, v, n);
}

/* Wrap the contents of `inner` as TLV `tag` into `b`, then reset inner. */
static void der_wrap(eml_buf *b, uint8_t tag, eml_buf *inner)
{
	if (eml_buf_error(inner)) {
		eml_buf_put(b, NULL, SIZE_MAX / 2); /* poison b */
	} else {
		der(b, tag, inner->p, inner->len);
	}
	eml_buf_cleanup(inner);
	eml_buf_init(inner, EML_CMS_MAX_LEN);
}

static void der_sha256_alg(eml_buf *b)
{
	eml_buf t;
	eml_buf_init(&t, 64);
	der(&t, T_OID, OID_SHA256, sizeof(OID_SHA256));
	der(&t, T_NULL, NULL, 0);
	der_wrap(b, T_SEQ, &t);
	eml_buf_cleanup(&t);
}

int eml_cms_encrypt(const uint8_t *spki, size_t spki_len, const uint8_t *msg, size_t msg_len,
                    uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	EVP_PKEY *pub = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t cek[32], iv[16], ek[512], ski[20];
	size_t ek_len = sizeof(ek);
	uint8_t *ctext = NULL;
	int l1 = 0, l2 = 0;
	eml_buf a, b2, c2, d;
	eml_buf_init(&a, EML_CMS_MAX_LEN);
	eml_buf_init(&b2, EML_CMS_MAX_LEN);
	eml_buf_init(&c2, EML_CMS_MAX_LEN);
	eml_buf_init(&d, EML_CMS_MAX_LEN);
	*out = NULL;
	EML_ENSURE(msg_len <= EML_CMS_MAX_CONTENT - 16, EML_E_KMS_CMS);
	EML_GUARD(eml_rsa_from_spki(spki, spki_len, &pub));
	/* SKI method 1 of RFC 5280 §4.2.1.2: SHA-1 of the subjectPublicKey BIT STRING value */
	{
		const uint8_t *pp = spki;
		X509_PUBKEY *xp = d2i_X509_PUBKEY(NULL, &pp, (long)spki_len);
		const unsigned char *pk = NULL;
		int pklen = 0;
		EML_ENSURE(xp && X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xp) == 1,
		           EML_E_CRYPTO);
		unsigned int sl = 0;
		int ok = EVP_Digest(pk, (size_t)pklen, ski, &sl, EVP_sha1(), NULL) == 1 && sl == 20;
		X509_PUBKEY_free(xp);
		EML_ENSURE(ok, EML_E_CRYPTO);
	}
	EML_GUARD(eml_random_bytes(cek, sizeof(cek)));
	EML_GUARD(eml_random_bytes(iv, sizeof(iv)));
	EML_GUARD(eml_rsa_oaep_encrypt(pub, cek, sizeof(cek), ek, &ek_len));
	ctext = eml_alloc(msg_len + 16);
	EML_ENSURE(ctext, EML_E_NOMEM);
	cc = EVP_CIPHER_CTX_new();
	EML_ENSURE(cc && EVP_EncryptInit_ex(cc, EVP_aes_256_cbc(), NULL, cek, iv) == 1 &&
	               EVP_EncryptUpdate(cc, ctext, &l1, msg, (int)msg_len) == 1 &&
	               EVP_EncryptFinal_ex(cc, ctext + l1, &l2) == 1,
	           EML_E_CRYPTO);

	/* KeyTransRecipientInfo */
	eml_buf_u8(&a, T_INTEGER), eml_buf_u8(&a, 1), eml_buf_u8(&a, 2);
	der(&a, T_CTX0_PRIM, ski, sizeof(ski));
	/* keyEncryptionAlgorithm = rsaesOaep {[0] sha256, [1] mgf1(sha256)} */
	der(&b2, T_OID, OID_MGF1, sizeof(OID_MGF1));
	der_sha256_alg(&b2);
	der_wrap(&c2, T_SEQ, &b2); /* c2 = mgf1 alg */
	der_sha256_alg(&b2);       /* b2 = sha256 alg */
	der_wrap(&d, T_CTX0, &b2); /* d = [0] sha256 */
	der_wrap(&d, T_CTX1, &c2); /* d += [1] mgf1 */
	der_wrap(&b2, T_SEQ, &d);  /* b2 = params */
	der(&c2, T_OID, OID_OAEP, sizeof(OID_OAEP));
	eml_buf_put(&c2, b2.p, b2.len);
	eml_buf_cleanup(&b2);
	eml_buf_init(&b2, EML_CMS_MAX_LEN);
	der_wrap(&a, T_SEQ, &c2);
	der(&a, T_OCTET, ek, ek_len);
	der_wrap(&b2, T_SEQ, &a);  /* b2 = ktri */
	der_wrap(&c2, T_SET, &b2); /* c2 = recipientInfos */
	/* EnvelopedData: version 2 (ktri v2 present, RFC 5652 §6.1) */
	eml_buf_u8(&d, T_INTEGER), eml_buf_u8(&d, 1), eml_buf_u8(&d, 2);
	eml_buf_put(&d, c2.p, c2.len);
	der(&a, T_OID, OID_DATA, sizeof(OID_DATA));
	der(&b2, T_OID, OID_AES256CBC, sizeof(OID_AES256CBC));
	der(&b2, T_OCTET, iv, sizeof(iv));
	der_wrap(&a, T_SEQ, &b2);
	der(&a, T_CTX0_PRIM, ctext, (size_t)(l1 + l2));
	der_wrap(&d, T_SEQ, &a); /* d += encryptedContentInfo */
	der_wrap(&a, T_SEQ, &d); /* a = EnvelopedData */
	der_wrap(&b2, T_CTX0, &a);
	der(&d, T_OID, OID_ENVELOPED, sizeof(OID_ENVELOPED));
	eml_buf_put(&d, b2.p, b2.len);
	der_wrap(&a, T_SEQ, &d);
	EML_ENSURE(!eml_buf_error(&a) && !eml_buf_error(&b2) && !eml_buf_error(&c2), EML_E_KMS_CMS);
	*out = eml_buf_take(&a, out_len);
out:
	EVP_CIPHER_CTX_free(cc);
	eml_rsa_free(pub);
	eml_free(ctext);
	eml_wipe(cek, sizeof(cek));
	eml_buf_cleanup(&a);
	eml_buf_cleanup(&b2);
	eml_buf_cleanup(&c2);
	eml_buf_cleanup(&d);
	return rc;
}
