/*
 * Client-side verification of Nitro attestation documents against a policy (DESIGN §5):
 * structure, chain to the pinned root, ES384 signature, then debug mode, PCRs, nonce and age.
 * The policy format is documented in docs/POLICY.md.
 *
 * Thread-safety: a loaded policy is immutable and may be shared between threads.
 */
#ifndef EML_ATTEST_VERIFY_H
#define EML_ATTEST_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "attest/doc.h"

/* SHA-256 of the DER of AWS_NitroEnclaves_Root-G1 (Nitro Enclaves User Guide). */
#define EML_AWS_NITRO_ROOT_G1_SHA256                                                               \
	"641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
extern const uint8_t eml_aws_nitro_root_g1_der[];
extern const size_t eml_aws_nitro_root_g1_der_len;

#define EML_POLICY_MAX_SETS 8
#define EML_POLICY_MAX_BYTES (64 * 1024)
#define EML_POLICY_DEFAULT_MAX_AGE_MS (5 * 60 * 1000)
/* Tolerated clock skew between the enclave's and the client's clocks. */
#define EML_ATTEST_MAX_SKEW_MS (60 * 1000)

typedef struct eml_policy eml_policy;

/*
 * Parse a policy from JSON text. base_dir resolves a relative "root" PEM path (NULL: the
 * current directory). Returns EML_OK or EML_E_ATTEST_POLICY (also for an unreadable root, or a
 * root whose fingerprint differs from "root_sha256"), EML_E_NOMEM.
 */
int eml_policy_parse_json(const char *json, size_t len, const char *base_dir, eml_policy **out);
/* Load a policy file; a relative root path is resolved against the file's folder. */
int eml_policy_load_file(const char *path, eml_policy **out);
void eml_policy_free(eml_policy *p);
/* 1 when the policy's root is the built-in AWS root. */
int eml_policy_root_is_aws(const eml_policy *p);

typedef struct eml_verify_opts {
	int64_t now_ms;       /* 0: the system clock */
	int at_document_time; /* check certificate validity at the document's timestamp; skips
	                          the age check (offline audits) */
	const uint8_t *nonce; /* expected nonce (overrides the policy's), NULL: none */
	size_t nonce_len;
} eml_verify_opts;

typedef struct eml_attest_claims {
	char module_id[EML_ATTEST_MODULE_ID_MAX + 1];
	uint64_t timestamp_ms;
	uint32_t pcr_mask;
	uint8_t pcr_len[EML_ATTEST_PCR_SLOTS];
	uint8_t pcrs[EML_ATTEST_PCR_SLOTS][EML_ATTEST_PCR_MAXLEN];
	int has_public_key, has_user_data, has_nonce;
	uint8_t public_key[EML_ATTEST_FIELD_MAX];
	size_t public_key_len;
	uint8_t user_data[EML_ATTEST_FIELD_MAX];
	size_t user_data_len;
	uint8_t nonce[EML_ATTEST_FIELD_MAX];
	size_t nonce_len;
	uint8_t leaf_sha256[32];
	uint8_t root_sha256[32];
	uint8_t doc_sha256[32];
	int debug_mode;       /* PCR0..2 all zero (and allowed by the policy) */
	int simulated;        /* the root is not AWS's: a simulated enclave */
	int at_document_time; /* validity was checked at the document's own time */
	int matched_set;      /* index of the first PCR set of the policy that matched */
} eml_attest_claims;

/*
 * Verify doc against policy. On EML_OK *out (if not NULL) holds the verified claims; on failure
 * it is wiped. Every refusal is one code: EML_E_ATTEST_{ENCODING,HEADER,FIELD,SIZE} (structure),
 * _ROOT, _CHAIN, _EXPIRED (chain), _SIGNATURE, _DEBUG, _PCR, _NONCE, _FUTURE, _TOO_OLD.
 * opts may be NULL (now, no nonce beyond the policy's).
 */
int eml_attest_verify(const uint8_t *doc, size_t len, const eml_policy *policy,
                      const eml_verify_opts *opts, eml_attest_claims *out);
/* Wipe claims. */
void eml_attest_claims_cleanup(eml_attest_claims *c);

/*
 * user_data layout binding the enclave's other per-boot keys (docs/ATTESTATION.md):
 *   "EML1" || SHA-256(Ed25519 receipt/audit public key, 32 bytes)   (36 bytes)
 */
#define EML_USER_DATA_LEN 36
int eml_attest_user_data_build(const uint8_t ed25519_pub[32], uint8_t out[EML_USER_DATA_LEN]);
/* EML_OK when claims carry the binding for ed25519_pub, EML_E_ATTEST_KEY_BINDING otherwise. */
int eml_attest_user_data_check(const eml_attest_claims *c, const uint8_t ed25519_pub[32]);

#endif
