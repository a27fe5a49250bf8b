/*
 * X.509 for attestation: issuing the simulated NSM's P-384 chain, and verifying a Nitro
 * certificate chain against a pinned root with OpenSSL's X509 verification.
 *
 * Thread-safety: all functions are reentrant.
 */
#ifndef EML_CRYPTO_X509_H
#define EML_CRYPTO_X509_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/sig.h"

typedef struct eml_der_view {
	const uint8_t *der;
	size_t len;
} eml_der_view;

/*
 * Issue a certificate for `subject_key` with CN=cn (O=EphemeralML simulated NSM). With is_ca the
 * certificate carries basicConstraints CA:TRUE (pathlen >= 0 sets pathLenConstraint) and keyUsage
 * keyCertSign|cRLSign; otherwise CA:FALSE and keyUsage digitalSignature. issuer_der == NULL makes
 * it self-signed (issuer_key must then be subject_key). Validity [not_before_s, not_after_s] in
 * seconds since the epoch. The DER goes to *der (eml_alloc'd).
 */
int eml_x509_issue(const char *cn, int is_ca, int pathlen, const eml_p384_key *subject_key,
                   const eml_p384_key *issuer_key, const uint8_t *issuer_der, size_t issuer_len,
                   int64_t not_before_s, int64_t not_after_s, uint64_t serial, uint8_t **der,
                   size_t *der_len);

/*
 * A look-alike of a certificate (tests of the verifier): the same subject, issuer, validity,
 * serial and extensions, with subject_key's public key, re-signed by signer (pass subject_key as
 * signer for a self-signed clone).
 */
int eml_x509_clone_resigned(const uint8_t *tmpl, size_t tmpl_len, const eml_p384_key *subject_key,
                            const eml_p384_key *signer, uint8_t **der, size_t *der_len);

/* The first CERTIFICATE in PEM text, as DER (eml_alloc'd). EML_E_MALFORMED when none. */
int eml_x509_pem_to_der(const uint8_t *pem, size_t pem_len, uint8_t **der, size_t *der_len);
/* Write a DER certificate as PEM text to path (atomic, given mode). */
int eml_x509_write_pem(const char *path, const uint8_t *der, size_t der_len, unsigned mode);
/* 1 when der parses as exactly one certificate with no trailing bytes. */
int eml_x509_der_ok(const uint8_t *der, size_t der_len);

/*
 * Verify leaf <- bundle[n-1] <- ... <- bundle[1] <- bundle[0] where bundle[0] must be the pinned
 * root (compared by SHA-256 fingerprint of its DER) and the chain OpenSSL builds must be exactly
 * that sequence (no reordering, no substitution). Validity of every certificate is checked at
 * at_s (seconds since the epoch). Also checked: basicConstraints CA on every issuer, keyUsage
 * keyCertSign on issuers and digitalSignature on the leaf (when present), leaf not a CA, leaf
 * key EC P-384. Verified CA prefixes (root + intermediates, exact bytes) are remembered in a small
 * process-wide cache so repeated documents of one enclave cost two signature checks; validity
 * times are re-checked on every call.
 * Returns EML_OK, EML_E_ATTEST_ROOT (bundle[0] is not the pinned root), EML_E_ATTEST_EXPIRED
 * (a certificate is outside its validity at at_s) or EML_E_ATTEST_CHAIN (anything else).
 * When sig is not NULL, and only once the chain holds, the ES384 signature sig (raw r||s) over
 * msg is verified with the leaf's key (parsed once): EML_E_ATTEST_SIGNATURE when wrong.
 */
int eml_x509_verify_chain(const eml_der_view *leaf, const eml_der_view *bundle, size_t n,
                          const uint8_t *root_der, size_t root_len, int64_t at_s, const void *msg,
                          size_t msg_len, const uint8_t *sig);

/* Forget every remembered verified CA prefix (benchmarks of cold verification; tests). */
void eml_x509_cache_clear(void);

#endif
