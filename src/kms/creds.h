/*
 * AWS credentials the enclave's KMS client signs with (docs/KMS.md, "Credentials").
 *
 * In Nitro the enclave has no IMDS and no credentials of its own: the parent instance's role
 * holds them. The host passes them over the host channel when the enclave asks
 * (KMS_CREDS_FETCH -> KMS_CREDS, docs/PROTOCOL.md). They are the role's temporary credentials,
 * not secrets from the host (the host has the same role): what keeps the data key from the host
 * is KMS's Recipient attestation, which releases it only encrypted to the attested enclave's RSA
 * key. They are still handled like secrets inside the enclave (wiped after use, never logged).
 *
 * Payload of KMS_CREDS: u16be len | access key id | u16be len | secret access key |
 * u16be len | session token (0: none). Every byte printable ASCII (0x21-0x7e): they end up in
 * HTTP headers, and a host must not be able to inject header lines through them.
 */
#ifndef EML_KMS_CREDS_H
#define EML_KMS_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"
#include "kms/sigv4.h"

#define EML_KMS_CREDS_MAX_ID 128
#define EML_KMS_CREDS_MAX_SECRET 128
#define EML_KMS_CREDS_MAX_TOKEN 4096 /* STS session tokens are ~1-2 KiB */
#define EML_KMS_CREDS_MAX_PAYLOAD                                                                  \
	(6 + EML_KMS_CREDS_MAX_ID + EML_KMS_CREDS_MAX_SECRET + EML_KMS_CREDS_MAX_TOKEN)

/* Heap-allocated (eml_alloc: wiped on free), NUL-terminated fields. */
typedef struct eml_kms_creds {
	char access_key[EML_KMS_CREDS_MAX_ID + 1];
	char secret_key[EML_KMS_CREDS_MAX_SECRET + 1];
	char session_token[EML_KMS_CREDS_MAX_TOKEN + 1]; /* "" when none */
} eml_kms_creds;

/* Views for signing (session_token NULL when empty). */
eml_sigv4_creds eml_kms_creds_view(const eml_kms_creds *c);

/* Host side. source: "env" (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN of the
 * process) or the path of a JSON file in the format of `aws configure export-credentials
 * --format process` ({"AccessKeyId", "SecretAccessKey", "SessionToken"}), read at every call so an
 * external refresher can rotate it. EML_E_KMS_CREDENTIALS when missing or malformed. */
int eml_kms_creds_load(const char *source, eml_kms_creds *out);

int eml_kms_creds_encode(const eml_kms_creds *c, eml_buf *out);
/* Strict decode (lengths, limits, printable ASCII, nothing trailing). EML_E_KMS_CREDENTIALS. */
int eml_kms_creds_decode(const uint8_t *p, size_t n, eml_kms_creds *out);

/* How the enclave gets them when its environment has none (enclave.c: over the host channel). */
typedef int (*eml_kms_creds_fn)(void *ctx, eml_kms_creds *out);

#endif
