/*
 * AWS Signature Version 4 (AWS General Reference, "Signature Version 4 signing process"):
 * canonical request, string to sign, signing key derivation and the Authorization header.
 * Validated against the AWS SigV4 test suite (tests/unit/test_sigv4.c).
 */
#ifndef EML_KMS_SIGV4_H
#define EML_KMS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#define EML_SIGV4_MAX_HEADERS 32
#define EML_SIGV4_MAX_FIELD 4096 /* one path, query, header name or value */
#define EML_SIGV4_DATE_LEN 16    /* "YYYYMMDDTHHMMSSZ" */

typedef struct eml_sigv4_header {
	const char *name;
	const char *value; /* raw; folded/multi-line values and runs of spaces are normalised */
} eml_sigv4_header;

typedef struct eml_sigv4_req {
	const char *method;
	const char *path;                /* raw path, not yet normalised or encoded */
	const char *query;               /* raw query without '?', may be NULL */
	const eml_sigv4_header *headers; /* every header given is signed */
	size_t n_headers;
	const void *body;
	size_t body_len;
} eml_sigv4_req;

typedef struct eml_sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL unless temporary credentials; then signed as a header */
} eml_sigv4_creds;

typedef struct eml_sigv4_out {
	char *creq;  /* canonical request */
	char *sts;   /* string to sign */
	char *authz; /* Authorization header value */
	char signature[65];
	char signed_headers[512];
} eml_sigv4_out;

/* Sign `req` at `amz_date` (must equal the x-amz-date header when present). */
int eml_sigv4_sign(const eml_sigv4_req *req, const eml_sigv4_creds *creds, const char *region,
                   const char *service, const char *amz_date, eml_sigv4_out *out);
void eml_sigv4_out_free(eml_sigv4_out *out);

/* Derive the SigV4 signing key kSigning (wiped by the caller). */
int eml_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                          const char *service, uint8_t out[32]);

/* Format an x-amz-date for a Unix time. */
void eml_sigv4_amz_date(int64_t unix_s, char out[EML_SIGV4_DATE_LEN + 1]);

#endif
