/*
 * CMS EnvelopedData (KMS CiphertextForRecipient): the two real KMS blobs (vectors/kms_cms, README
 * §4) parse to exactly the expected encrypted key, IV and ciphertext; EnvelopedData built locally by
 * OpenSSL for a generated RSA-2048 key (DER and streamed BER with indefinite lengths) decrypts; our
 * own encoder round-trips; malformed or altered CMS is refused.
 */
#include <criterion/criterion.h>
#include <openssl/cms.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/mem.h"
#include "crypto/cms.h"
#include "crypto/rsa.h"
#include "eml/error.h"
#include "prop.h"

static uint8_t *vec(const char *name, size_t *len)
{
	char p[1024];
	uint8_t *b = NULL;
	snprintf(p, sizeof(p), "%s/kms_cms/%s", eml_test_vectors_dir(), name);
	cr_assert_eq(eml_file_read(p, 1 << 20, &b, len), EML_OK, "%s", p);
	return b;
}

static void check_real(int i, size_t ct_len)
{
	char n[64];
	size_t in_len, ek_len, iv_len, ct_l;
	snprintf(n, sizeof(n), "kms_cms_%d_input_ber.bin", i);
	uint8_t *in = vec(n, &in_len);
	snprintf(n, sizeof(n), "kms_cms_%d_encrypted_key_out.bin", i);
	uint8_t *ek = vec(n, &ek_len);
	snprintf(n, sizeof(n), "kms_cms_%d_iv_out.bin", i);
	uint8_t *iv = vec(n, &iv_len);
	snprintf(n, sizeof(n), "kms_cms_%d_ciphertext_out.bin", i);
	uint8_t *ct = vec(n, &ct_l);
	cr_assert_eq(ct_l, ct_len);
	eml_cms_parts p;
	cr_assert_eq(eml_cms_parse(in, in_len, &p), EML_OK, "blob %d", i);
	cr_assert_eq(p.enc_key_len, ek_len);
	cr_assert_eq(memcmp(p.enc_key, ek, ek_len), 0);
	cr_assert_eq(iv_len, 16);
	cr_assert_eq(memcmp(p.iv, iv, 16), 0);
	cr_assert_eq(p.ciphertext_len, ct_l);
	cr_assert_eq(memcmp(p.ciphertext, ct, ct_l), 0);
	cr_assert_eq(p.enc_key - in, 131);
	cr_assert_eq(p.iv - in, 415);
	cr_assert(p.rid_ski && p.rid_ski_len == 32);
	eml_cms_parts_free(&p);

	/* every truncation and every single-byte corruption of a structural byte is refused or, for
	 * bytes inside the opaque fields, still parses to the same shape; nothing crashes */
	for (size_t cut = 0; cut < in_len; cut++)
		cr_assert_neq(eml_cms_parse(in, cut, &p), EML_OK, "truncated at %zu", cut);
	for (size_t off = 0; off < in_len; off++) {
		uint8_t save = in[off];
		in[off] ^= 0x41;
		if (eml_cms_parse(in, in_len, &p) == EML_OK) {
			/* only opaque bytes (SKI, encrypted key, IV, ciphertext) may change freely */
			int opaque = (off >= 33 && off < 65) || (off >= 131 && off < 387) ||
			             (off >= 415 && off < 431) ||
			             (off >= 433 && off < 433 + 2 + ct_len);
			cr_assert(opaque, "blob %d: corruption at %zu accepted", i, off);
			eml_cms_parts_free(&p);
		}
		in[off] = save;
	}
	eml_free(in);
	eml_free(ek);
	eml_free(iv);
	eml_free(ct);
}

Test(cms, real_kms_blob_1_constructed)
{
	check_real(1, 48);
}
Test(cms, real_kms_blob_2_primitive)
{
	check_real(2, 16);
}

/* A self-signed certificate with a subjectKeyIdentifier for OpenSSL's CMS_encrypt. */
static X509 *self_cert(EVP_PKEY *k)
{
	X509 *x = X509_new();
	cr_assert(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"enclave", -1, -1,
	                           0);
	X509_set_issuer_name(x, nm);
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
	cr_assert(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

/* EnvelopedData from OpenSSL: KTRI with SKI, RSA-OAEP-SHA256/MGF1-SHA256, AES-256-CBC. */
static uint8_t *openssl_envelope(EVP_PKEY *k, X509 *x, const uint8_t *msg, size_t n, int stream,
                                 size_t *out_len)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	sk_X509_push(certs, x);
	BIO *in = BIO_new_mem_buf(msg, (int)n);
	unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_KEY_PARAM | CMS_USE_KEYID;
	CMS_ContentInfo *cms = CMS_encrypt(NULL, in, EVP_aes_256_cbc(), flags);
	cr_assert(cms);
	CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, x, CMS_KEY_PARAM | CMS_USE_KEYID);
	cr_assert(ri);
	EVP_PKEY_CTX *pc = CMS_RecipientInfo_get0_pkey_ctx(ri);
	cr_assert(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) > 0);
	cr_assert(EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()) > 0);
	cr_assert(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) > 0);
	BIO *out = BIO_new(BIO_s_mem());
	if (stream) { /* BER, indefinite lengths, constructed encryptedContent */
		BIO_free(in);
		in = BIO_new_mem_buf(msg, (int)n);
		cr_assert(i2d_CMS_bio_stream(out, cms, in, CMS_BINARY | CMS_STREAM) == 1);
	} else {
		cr_assert(CMS_final(cms, in, NULL, CMS_BINARY) == 1);
		cr_assert(i2d_CMS_bio(out, cms) == 1);
	}
	char *p;
	long l = BIO_get_mem_data(out, &p);
	uint8_t *r = malloc((size_t)l);
	memcpy(r, p, (size_t)l);
	*out_len = (size_t)l;
	BIO_free(out);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	sk_X509_free(certs);
	(void)k;
	return r;
}

Test(cms, openssl_built_envelopes_decrypt)
{
	EVP_PKEY *k, *other;
	cr_assert_eq(eml_rsa_generate(&k), EML_OK);
	cr_assert_eq(eml_rsa_generate(&other), EML_OK);
	X509 *x = self_cert(k);
	eml_rng r;
	eml_rng_seed(&r, eml_prop_base_seed());
	for (int stream = 0; stream < 2; stream++) {
		for (size_t n = 1; n <= 80; n += 13) {
			uint8_t msg[128];
			eml_rng_bytes(&r, msg, n);
			size_t bl;
			uint8_t *blob = openssl_envelope(k, x, msg, n, stream, &bl);
			if (stream)
				cr_assert_eq(blob[1], 0x80, "streamed output should be indefinite");
			uint8_t *pt;
			size_t pl;
			cr_assert_eq(eml_cms_decrypt(blob, bl, k, &pt, &pl), EML_OK,
			             "stream=%d n=%zu", stream, n);
			cr_assert_eq(pl, n);
			cr_assert_eq(memcmp(pt, msg, n), 0);
			eml_free(pt);
			/* the wrong private key fails closed */
			cr_assert_eq(eml_cms_decrypt(blob, bl, other, &pt, &pl),
			             EML_E_KMS_CMS_DECRYPT);
			cr_assert_null(pt);
			free(blob);
		}
	}
	X509_free(x);
	eml_rsa_free(k);
	eml_rsa_free(other);
}

Test(cms, own_encoder_roundtrip_and_openssl_agrees)
{
	EVP_PKEY *k;
	cr_assert_eq(eml_rsa_generate(&k), EML_OK);
	uint8_t *spki;
	size_t sl;
	cr_assert_eq(eml_rsa_spki(k, &spki, &sl), EML_OK);
	uint8_t msg[32];
	for (int i = 0; i < 32; i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	uint8_t *blob;
	size_t bl;
	cr_assert_eq(eml_cms_encrypt(spki, sl, msg, 32, &blob, &bl), EML_OK);
	uint8_t *pt;
	size_t pl;
	cr_assert_eq(eml_cms_decrypt(blob, bl, k, &pt, &pl), EML_OK);
	cr_assert_eq(pl, 32);
	cr_assert_eq(memcmp(pt, msg, 32), 0);
	eml_free(pt);
	/* OpenSSL's own CMS_decrypt opens our encoding too (interoperability) */
	const uint8_t *p = blob;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)bl);
	cr_assert(cms);
	BIO *out = BIO_new(BIO_s_mem());
	cr_assert_eq(CMS_decrypt(cms, k, NULL, NULL, out, CMS_BINARY), 1);
	char *d;
	long dl = BIO_get_mem_data(out, &d);
	cr_assert_eq(dl, 32);
	cr_assert_eq(memcmp(d, msg, 32), 0);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	eml_free(blob);
	eml_free(spki);
	eml_rsa_free(k);
}

Test(cms, malformed_refused)
{
	eml_cms_parts p;
	uint8_t junk[64] = {0x30, 0x80};
	cr_assert_eq(eml_cms_parse(NULL, 0, &p), EML_E_KMS_CMS);
	cr_assert_eq(eml_cms_parse(junk, sizeof(junk), &p), EML_E_KMS_CMS);
	/* a deeply nested indefinite structure is refused, not recursed without bound */
	uint8_t deep[400];
	for (size_t i = 0; i < 200; i++)
		deep[2 * i] = 0x30, deep[2 * i + 1] = 0x80;
	cr_assert_eq(eml_cms_parse(deep, sizeof(deep), &p), EML_E_KMS_CMS);
	/* a valid SignedData-like blob of another type is refused: reuse blob 2 with content type
	 * OID changed to pkcs7-data */
	size_t l;
	uint8_t *in = vec("kms_cms_2_input_ber.bin", &l);
	in[12] = 0x01;
	cr_assert_eq(eml_cms_parse(in, l, &p), EML_E_KMS_CMS);
	in[12] = 0x03;
	/* trailing garbage */
	uint8_t *t = malloc(l + 1);
	memcpy(t, in, l);
	t[l] = 0;
	cr_assert_eq(eml_cms_parse(t, l + 1, &p), EML_E_KMS_CMS);
	/* a non-OAEP key transport algorithm (rsaEncryption, PKCS#1 v1.5) is refused */
	memcpy(t, in, l);
	cr_assert_eq(t[67 + 10], 0x07);
	t[67 + 10] = 0x01;
	cr_assert_eq(eml_cms_parse(t, l, &p), EML_E_KMS_CMS);
	free(t);
	eml_free(in);
}
