/*
 * Adapters between the attestation module and the session layer (src/wire/session.h): their
 * signatures match eml_attest_verify_fn and eml_attest_doc_fn, so a caller passes
 * (eml_attest_session_verify, &verifier) to eml_client_session_accept and
 * (eml_attest_session_doc, &producer) to eml_enclave_session_hello.
 *
 * Thread-safety: as the objects they point at (a policy may be shared; an NSM may not).
 */
#ifndef EML_ATTEST_BIND_H
#define EML_ATTEST_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "attest/nsm.h"
#include "attest/verify.h"

#define EML_ATTEST_SESSION_NONCE_LEN 32
#define EML_ATTEST_HPKE_PK_LEN 32

typedef struct eml_attest_verifier {
	const eml_policy *policy;
	int64_t now_ms;             /* 0: the system clock */
	const uint8_t *receipt_pub; /* optional Ed25519 key (32 bytes) that user_data must bind */
	eml_attest_claims *claims;  /* optional: receives the verified claims */
} eml_attest_verifier;

/*
 * Client side (eml_attest_verify_fn): arg is an eml_attest_verifier. Verifies doc against the
 * policy with `nonce` expected, requires public_key to be a 32-byte X25519 key (else
 * EML_E_ATTEST_KEY_BINDING), checks the user_data binding when receipt_pub is set, and writes the
 * enclave's HPKE public key and SHA-256(doc).
 */
int eml_attest_session_verify(void *arg, const uint8_t *doc, size_t doc_len,
                              const uint8_t nonce[EML_ATTEST_SESSION_NONCE_LEN],
                              uint8_t pk_out[EML_ATTEST_HPKE_PK_LEN], uint8_t doc_hash_out[32]);

typedef struct eml_attest_producer {
	eml_nsm *nsm;
	const uint8_t *user_data; /* e.g. eml_attest_user_data_build output; NULL: none */
	size_t user_data_len;
} eml_attest_producer;

/* Enclave side (eml_attest_doc_fn): arg is an eml_attest_producer. */
int eml_attest_session_doc(void *arg, const uint8_t nonce[EML_ATTEST_SESSION_NONCE_LEN],
                           const uint8_t hpke_pk[EML_ATTEST_HPKE_PK_LEN], uint8_t **doc,
                           size_t *doc_len);

#endif
