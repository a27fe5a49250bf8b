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
#include <pthread.h>
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

int eml_x509_clone_resigned(const uint8_t *tmpl, size_t tmpl_len, const eml_p384_key *subject_key,
                            const eml_p384_key *signer, uint8_t **der, size_t *der_len)
{
	int rc = EML_OK;
	X509 *x = parse_der(tmpl, tmpl_len);
	unsigned char *buf = NULL;
	int n;
	EML_ENSURE(x != NULL, EML_E_MALFORMED);
	EML_ENSURE(X509_set_pubkey(x, subject_key->pkey) == 1, EML_E_CRYPTO);
	EML_ENSURE(X509_sign(x, signer->pkey, EVP_sha384()) > 0, EML_E_CRYPTO);
	n = i2d_X509(x, &buf);
	EML_ENSURE(n > 0, EML_E_CRYPTO);
	*der = eml_memdup(buf, (size_t)n);
	EML_ENSURE(*der != NULL, EML_E_NOMEM);
	*der_len = (size_t)n;
out:
	OPENSSL_free(buf);
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

/*
 * Verified CA prefixes. A Nitro cabundle (root and three intermediates) is shared by every
 * document of an enclave for hours to days; only the leaf changes. Once OpenSSL has verified a
 * whole chain leaf <- bundle[n-1] <- ... <- bundle[1] <- root (signatures, CA constraints, path
 * lengths counted with every intermediate), its CA prefix is remembered, keyed by SHA-256 over
 * the exact DER of the root and every bundle entry. Later verifications with the same prefix
 * re-check the validity of every certificate at their own time and have OpenSSL verify the new
 * leaf against bundle[n-1]. Nothing is remembered from a chain that failed, nor a prefix with
 * name or policy constraints.
 */
#define PREFIX_CACHE_SLOTS 8
struct prefix_entry {
	int used;
	uint8_t key[EML_SHA256_LEN];
	size_t n; /* bundle entries after the root */
	X509 *root;
	X509 *certs[64];
};
static struct prefix_entry prefix_cache[PREFIX_CACHE_SLOTS];
static size_t prefix_next;
static pthread_mutex_t prefix_lock = PTHREAD_MUTEX_INITIALIZER;

static void entry_clear(struct prefix_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		X509_free(e->certs[i]);
	X509_free(e->root);
	memset(e, 0, sizeof(*e));
}

void eml_x509_cache_clear(void)
{
	pthread_mutex_lock(&prefix_lock);
	for (size_t i = 0; i < PREFIX_CACHE_SLOTS; i++)
		entry_clear(&prefix_cache[i]);
	pthread_mutex_unlock(&prefix_lock);
}

static int prefix_key(const eml_der_view *bundle, size_t n, const uint8_t *root_der,
                      size_t root_len, uint8_t key[EML_SHA256_LEN])
{
	int rc = EML_OK;
	eml_hash *h = NULL;
	uint64_t l = root_len;
	EML_GUARD(eml_hash_new(EML_HASH_SHA256, &h));
	EML_GUARD(eml_hash_update(h, &l, sizeof(l)));
	EML_GUARD(eml_hash_update(h, root_der, root_len));
	for (size_t i = 1; i < n; i++) {
		l = bundle[i].len;
		EML_GUARD(eml_hash_update(h, &l, sizeof(l)));
		EML_GUARD(eml_hash_update(h, bundle[i].der, bundle[i].len));
	}
	rc = eml_hash_final(h, key);
	h = NULL;
out:
	eml_hash_free(h);
	return rc;
}

/* Look up a verified prefix; on a hit the certificates are returned with a reference each. */
static int prefix_lookup(const uint8_t key[EML_SHA256_LEN], X509 **root, X509 **certs, size_t n)
{
	int hit = 0;
	pthread_mutex_lock(&prefix_lock);
	for (size_t i = 0; i < PREFIX_CACHE_SLOTS && !hit; i++) {
		struct prefix_entry *e = &prefix_cache[i];
		if (e->used && e->n == n && memcmp(e->key, key, EML_SHA256_LEN) == 0) {
			for (size_t j = 0; j < n; j++) {
				X509_up_ref(e->certs[j]);
				certs[j] = e->certs[j];
			}
			X509_up_ref(e->root);
			*root = e->root;
			hit = 1;
		}
	}
	pthread_mutex_unlock(&prefix_lock);
	return hit;
}

static void prefix_store(const uint8_t key[EML_SHA256_LEN], X509 *root, X509 *const *certs,
                         size_t n)
{
	pthread_mutex_lock(&prefix_lock);
	struct prefix_entry *e = &prefix_cache[prefix_next];
	prefix_next = (prefix_next + 1) % PREFIX_CACHE_SLOTS;
	entry_clear(e);
	for (size_t j = 0; j < n; j++) {
		X509_up_ref(certs[j]);
		e->certs[j] = certs[j];
	}
	X509_up_ref(root);
	e->root = root;
	memcpy(e->key, key, EML_SHA256_LEN);
	e->n = n;
	e->used = 1;
	pthread_mutex_unlock(&prefix_lock);
}

/* OpenSSL's verdict on target given trusted anchors and untrusted helpers; the chain it built
 * must be exactly `expect` (target first). */
static int openssl_verify(X509 *target, X509 *const *trusted, size_t n_trusted,
                          X509 *const *untrusted, size_t n_untrusted, X509 *const *expect,
                          size_t n_expect, int64_t at_s, unsigned long flags)
{
	int rc = EML_OK;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *un = sk_X509_new_null();
	STACK_OF(X509) * chain;
	X509_VERIFY_PARAM *param;
	EML_ENSURE(store != NULL && ctx != NULL && un != NULL, EML_E_NOMEM);
	for (size_t i = 0; i < n_trusted; i++)
		EML_ENSURE(X509_STORE_add_cert(store, trusted[i]) == 1, EML_E_CRYPTO);
	for (size_t i = 0; i < n_untrusted; i++)
		EML_ENSURE(sk_X509_push(un, untrusted[i]) > 0, EML_E_NOMEM);
	EML_ENSURE(X509_STORE_CTX_init(ctx, store, target, un) == 1, EML_E_CRYPTO);
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, (time_t)at_s);
	/* Not X509_V_FLAG_X509_STRICT: AWS's own leaf certificates carry no Authority Key
	 * Identifier, which strict mode (RFC 5280 profile checks) refuses. OpenSSL still checks
	 * signatures, validity, basicConstraints CA and keyCertSign on every issuer and path
	 * lengths; the leaf is checked by the caller. */
	if (flags != 0)
		X509_VERIFY_PARAM_set_flags(param, flags);
	X509_VERIFY_PARAM_set_depth(param, (int)n_expect + 1);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
			EML_FAIL(EML_E_ATTEST_EXPIRED);
		EML_FAIL(EML_E_ATTEST_CHAIN);
	}
	chain = X509_STORE_CTX_get0_chain(ctx);
	EML_ENSURE(chain != NULL && (size_t)sk_X509_num(chain) == n_expect, EML_E_ATTEST_CHAIN);
	for (size_t i = 0; i < n_expect; i++)
		EML_ENSURE(X509_cmp(sk_X509_value(chain, (int)i), expect[i]) == 0,
		           EML_E_ATTEST_CHAIN);
out:
	sk_X509_free(un); /* the certificates belong to the caller */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* A prefix is remembered only when nothing in it constrains the leaf beyond what the warm path
 * re-checks (signature by the last intermediate, validity, end-entity, keyUsage): no name,
 * policy or inhibit-anyPolicy constraints (RFC 5280 §4.2.1.10, §4.2.1.11, §4.2.1.14). */
static int prefix_cacheable(X509 *root, X509 *const *mid, size_t m)
{
	static const int nids[] = {NID_name_constraints, NID_policy_constraints,
	                           NID_inhibit_any_policy};
	for (size_t i = 0; i <= m; i++) {
		X509 *x = i < m ? mid[i] : root;
		for (size_t k = 0; k < EML_ARRAY_LEN(nids); k++)
			if (X509_get_ext_by_NID(x, nids[k], -1) >= 0)
				return 0;
	}
	return 1;
}

static int valid_at(X509 *x, int64_t at_s)
{
	time_t t = (time_t)at_s;
	return X509_cmp_time(X509_get0_notBefore(x), &t) <= 0 &&
	       X509_cmp_time(X509_get0_notAfter(x), &t) >= 0;
}

int eml_x509_verify_chain(const eml_der_view *leaf_v, const eml_der_view *bundle, size_t n,
                          const uint8_t *root_der, size_t root_len, int64_t at_s, const void *msg,
                          size_t msg_len, const uint8_t *sig)
{
	int rc = EML_OK;
	X509 *leaf = NULL, *root = NULL;
	X509 *mid[64] = {NULL}; /* bundle[1..n-1] */
	X509 *expect[66];
	size_t m = n - 1, got = 0;
	int warm = 0;
	uint8_t fp_doc[EML_SHA256_LEN], fp_pin[EML_SHA256_LEN], key[EML_SHA256_LEN];

	EML_ENSURE(n >= 1 && n <= 64, EML_E_ATTEST_CHAIN);
	/* The pinned root, by SHA-256 fingerprint of its DER (how AWS publishes it). */
	EML_GUARD(eml_sha256(bundle[0].der, bundle[0].len, fp_doc));
	EML_GUARD(eml_sha256(root_der, root_len, fp_pin));
	EML_ENSURE(eml_ct_eq(fp_doc, fp_pin, sizeof(fp_doc)), EML_E_ATTEST_ROOT);
	leaf = parse_der(leaf_v->der, leaf_v->len);
	EML_ENSURE(leaf != NULL, EML_E_ATTEST_CHAIN);

	if (m == 0) {
		/* Leaf directly under the root. */
		root = parse_der(root_der, root_len);
		EML_ENSURE(root != NULL, EML_E_ATTEST_ROOT);
		expect[0] = leaf;
		expect[1] = root;
		EML_GUARD(openssl_verify(leaf, &root, 1, NULL, 0, expect, 2, at_s, 0));
	} else {
		EML_GUARD(prefix_key(bundle, n, root_der, root_len, key));
		if (prefix_lookup(key, &root, mid, m)) {
			got = m;
			warm = 1;
		} else {
			root = parse_der(root_der, root_len);
			EML_ENSURE(root != NULL, EML_E_ATTEST_ROOT);
			for (got = 0; got < m; got++) {
				mid[got] = parse_der(bundle[got + 1].der, bundle[got + 1].len);
				EML_ENSURE(mid[got] != NULL, EML_E_ATTEST_CHAIN);
			}
			/* Cold: OpenSSL verifies the whole chain, leaf included (so every
			 * intermediate counts for path lengths exactly as it will on later calls). */
			expect[0] = leaf;
			for (size_t i = 0; i < m; i++)
				expect[1 + i] = mid[m - 1 - i];
			expect[m + 1] = root;
			EML_GUARD(openssl_verify(leaf, &root, 1, mid, m, expect, m + 2, at_s, 0));
			if (prefix_cacheable(root, mid, m))
				prefix_store(key, root, mid, m);
		}
		/* Validity of the root and every intermediate at at_s. */
		EML_ENSURE(valid_at(root, at_s), EML_E_ATTEST_EXPIRED);
		for (size_t i = 0; i < m; i++)
			EML_ENSURE(valid_at(mid[i], at_s), EML_E_ATTEST_EXPIRED);
		/* Warm: the leaf, by OpenSSL, against the remembered last intermediate. */
		if (warm) {
			expect[0] = leaf;
			expect[1] = mid[m - 1];
			EML_GUARD(openssl_verify(leaf, &mid[m - 1], 1, NULL, 0, expect, 2, at_s,
			                         X509_V_FLAG_PARTIAL_CHAIN));
		}
	}
	/* Leaf: an end-entity P-384 key that may sign (RFC 5280 §4.2.1.3, §4.2.1.9). */
	EML_ENSURE(X509_check_ca(leaf) == 0, EML_E_ATTEST_CHAIN);
	if (X509_get_extension_flags(leaf) & EXFLAG_KUSAGE)
		EML_ENSURE(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE, EML_E_ATTEST_CHAIN);
	EML_ENSURE(eml_pkey_is_p384(X509_get0_pubkey(leaf)), EML_E_ATTEST_CHAIN);
	/* Then the document's signature with the leaf's key (parsed once). */
	if (sig != NULL) {
		rc = eml_es384_verify_pkey(X509_get0_pubkey(leaf), msg, msg_len, sig);
		EML_ENSURE(rc == EML_OK, rc == EML_E_NOMEM ? rc : EML_E_ATTEST_SIGNATURE);
	}
out:
	for (size_t i = 0; i < got && i < 64; i++)
		X509_free(mid[i]);
	X509_free(leaf);
	X509_free(root);
	return rc;
}
