/*
 * X.509 for Nitro attestation (AWS Nitro Enclaves User Guide, "Verifying the root of trust"):
 * chain verification is OpenSSL's X509_verify_cert with only the pinned root trusted, plus
 * checks that the chain it built is exactly the document's order.
 */
#include "crypto/x509.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/sig_impl.h"

/* Parse exactly one DER certificate; NULL if it does not parse or has trailing bytes. */
static X509 *parse_der(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;
	if (der == NULL || len == 0 || len > INT32_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

int eml_x509_der_ok(const uint8_t *der, size_t der_len)
{
	X509 *x = parse_der(der, der_len);
	X509_free(x);
	return x != NULL;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;
	if (ext == NULL)
		return EML_E_CRYPTO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? EML_OK : EML_E_CRYPTO;
}

int eml_x509_issue(const char *cn, int is_ca, int pathlen, const eml_p384_key *subject_key,
                   const eml_p384_key *issuer_key, const uint8_t *issuer_der, size_t issuer_len,
                   int64_t not_before_s, int64_t not_after_s, uint64_t serial, uint8_t **der,
                   size_t *der_len)
{
	int rc = EML_OK;
	X509 *x = X509_new(), *iss = NULL;
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	char bc[64];
	unsigned char *buf = NULL;
	int n;
	EML_ENSURE(x != NULL && name != NULL, EML_E_NOMEM);
	if (issuer_der != NULL) {
		iss = parse_der(issuer_der, issuer_len);
		EML_ENSURE(iss != NULL, EML_E_MALFORMED);
	}
	EML_ENSURE(X509_set_version(x, 2) == 1, EML_E_CRYPTO);
	EML_ENSURE(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) == 1, EML_E_CRYPTO);
	EML_ENSURE(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"US",
	                                      -1, -1, 0) == 1 &&
	               X509_NAME_add_entry_by_txt(
	                   name, "O", MBSTRING_ASC,
	                   (const unsigned char *)"EphemeralML simulated NSM", -1, -1, 0) == 1 &&
	               X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                                          (const unsigned char *)cn, -1, -1, 0) == 1,
	           EML_E_CRYPTO);
	EML_ENSURE(X509_set_subject_name(x, name) == 1, EML_E_CRYPTO);
	EML_ENSURE(X509_set_issuer_name(x, iss ? X509_get_subject_name(iss) : name) == 1,
	           EML_E_CRYPTO);
	EML_ENSURE(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before_s) != NULL &&
	               ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after_s) != NULL,
	           EML_E_CRYPTO);
	EML_ENSURE(X509_set_pubkey(x, subject_key->pkey) == 1, EML_E_CRYPTO);
	X509V3_set_ctx(&v3, iss ? iss : x, x, NULL, NULL, 0);
	if (is_ca && pathlen >= 0)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", pathlen);
	else
		snprintf(bc, sizeof(bc), "critical,CA:%s", is_ca ? "TRUE" : "FALSE");
	EML_GUARD(add_ext(x, &v3, NID_basic_constraints, bc));
	EML_GUARD(add_ext(x, &v3, NID_key_usage,
	                  is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"));
	EML_GUARD(add_ext(x, &v3, NID_subject_key_identifier, "hash"));
	EML_GUARD(add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"));
	EML_ENSURE(X509_sign(x, issuer_key->pkey, EVP_sha384()) > 0, EML_E_CRYPTO);
	n = i2d_X509(x, &buf);
	EML_ENSURE(n > 0, EML_E_CRYPTO);
	*der = eml_memdup(buf, (size_t)n);
	EML_ENSURE(*der != NULL, EML_E_NOMEM);
	*der_len = (size_t)n;
out:
	OPENSSL_free(buf);
	X509_NAME_free(name);
	X509_free(iss);
	X509_free(x);
	return rc;
}

int eml_x509_pem_to_der(const uint8_t *pem, size_t pem_len, uint8_t **der, size_t *der_len)
{
	int rc = EML_OK;
	BIO *bio = NULL;
	X509 *x = NULL;
	unsigned char *buf = NULL;
	int n;
	EML_ENSURE(pem_len <= INT32_MAX, EML_E_LIMIT);
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	EML_ENSURE(bio != NULL, EML_E_NOMEM);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	EML_ENSURE(x != NULL, EML_E_MALFORMED);
	n = i2d_X509(x, &buf);
	EML_ENSURE(n > 0, EML_E_CRYPTO);
	*der = eml_memdup(buf, (size_t)n);
	EML_ENSURE(*der != NULL, EML_E_NOMEM);
	*der_len = (size_t)n;
out:
	OPENSSL_free(buf);
	X509_free(x);
	BIO_free(bio);
	return rc;
}

int eml_x509_write_pem(const char *path, const uint8_t *der, size_t der_len, unsigned mode)
{
	int rc = EML_OK;
	X509 *x = parse_der(der, der_len);
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	EML_ENSURE(x != NULL, EML_E_MALFORMED);
	EML_ENSURE(bio != NULL, EML_E_NOMEM);
	EML_ENSURE(PEM_write_bio_X509(bio, x) == 1, EML_E_CRYPTO);
	n = BIO_get_mem_data(bio, &p);
	EML_ENSURE(n > 0, EML_E_CRYPTO);
	EML_GUARD(eml_file_write_atomic(path, p, (size_t)n, (mode_t)mode));
out:
	BIO_free(bio);
	X509_free(x);
	return rc;
}

int eml_x509_verify_chain(const eml_der_view *leaf_v, const eml_der_view *bundle, size_t n,
                          const uint8_t *root_der, size_t root_len, int64_t at_s)
{
	int rc = EML_OK;
	X509 *leaf = NULL, *root = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) * chain;
	X509_VERIFY_PARAM *param;
	uint8_t fp_doc[EML_SHA256_LEN], fp_pin[EML_SHA256_LEN];

	EML_ENSURE(n >= 1 && n <= 64, EML_E_ATTEST_CHAIN);
	/* The pinned root, by SHA-256 fingerprint of its DER (how AWS publishes it). */
	EML_GUARD(eml_sha256(bundle[0].der, bundle[0].len, fp_doc));
	EML_GUARD(eml_sha256(root_der, root_len, fp_pin));
	EML_ENSURE(eml_ct_eq(fp_doc, fp_pin, sizeof(fp_doc)), EML_E_ATTEST_ROOT);

	leaf = parse_der(leaf_v->der, leaf_v->len);
	root = parse_der(root_der, root_len);
	untrusted = sk_X509_new_null();
	EML_ENSURE(untrusted != NULL, EML_E_NOMEM);
	EML_ENSURE(leaf != NULL, EML_E_ATTEST_CHAIN);
	EML_ENSURE(root != NULL, EML_E_ATTEST_ROOT);
	for (size_t i = 1; i < n; i++) {
		X509 *c = parse_der(bundle[i].der, bundle[i].len);
		EML_ENSURE(c != NULL, EML_E_ATTEST_CHAIN);
		if (sk_X509_push(untrusted, c) <= 0) {
			X509_free(c);
			EML_FAIL(EML_E_NOMEM);
		}
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	EML_ENSURE(store != NULL && ctx != NULL, EML_E_NOMEM);
	EML_ENSURE(X509_STORE_add_cert(store, root) == 1, EML_E_CRYPTO);
	EML_ENSURE(X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1, EML_E_CRYPTO);
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)at_s);
	/* Not X509_V_FLAG_X509_STRICT: AWS's own leaf certificates carry no Authority Key
	 * Identifier, which strict mode (RFC 5280 §4.2.1.1 profile checks) refuses. OpenSSL still
	 * checks signatures, validity, basicConstraints CA and keyCertSign on every issuer and
	 * path lengths; the leaf is checked below. */
	X509_VERIFY_PARAM_set_depth(param, (int)n + 1);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
			EML_FAIL(EML_E_ATTEST_EXPIRED);
		EML_FAIL(EML_E_ATTEST_CHAIN);
	}
	/* The built chain must be exactly leaf, bundle[n-1], ..., bundle[1], root. */
	chain = X509_STORE_CTX_get0_chain(ctx);
	EML_ENSURE(chain != NULL && (size_t)sk_X509_num(chain) == n + 1, EML_E_ATTEST_CHAIN);
	EML_ENSURE(X509_cmp(sk_X509_value(chain, 0), leaf) == 0, EML_E_ATTEST_CHAIN);
	for (size_t i = 1; i < n; i++)
		EML_ENSURE(X509_cmp(sk_X509_value(chain, (int)i),
		                    sk_X509_value(untrusted, (int)(n - 1 - i))) == 0,
		           EML_E_ATTEST_CHAIN);
	EML_ENSURE(X509_cmp(sk_X509_value(chain, (int)n), root) == 0, EML_E_ATTEST_CHAIN);
	/* Leaf: an end-entity P-384 key that may sign (RFC 5280 §4.2.1.3, §4.2.1.9). */
	EML_ENSURE(X509_check_ca(leaf) == 0, EML_E_ATTEST_CHAIN);
	if (X509_get_extension_flags(leaf) & EXFLAG_KUSAGE)
		EML_ENSURE(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE, EML_E_ATTEST_CHAIN);
	EML_ENSURE(eml_pkey_is_p384(X509_get0_pubkey(leaf)), EML_E_ATTEST_CHAIN);
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(leaf);
	X509_free(root);
	return rc;
}
