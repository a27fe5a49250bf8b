/*
 * KMS client (JSON 1.1 over HTTP(S), SigV4) and the enclave-side unseal, and the local KMS
 * service for development and tests (docs/KMS.md). Subset: CreateKey, GenerateDataKey, Encrypt,
 * Decrypt (with and without Recipient).
 */
#ifndef EML_KMS_KMS_H
#define EML_KMS_KMS_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "kms/sigv4.h"

#define EML_KMS_MAX_RESPONSE (256 * 1024)
#define EML_KMS_MAX_REQUEST (256 * 1024)
#define EML_KMS_DATA_KEY_LEN 32

typedef struct eml_kms_cfg {
	const char *endpoint; /* http://HOST:PORT (loopback dev service) or https://HOST[:PORT] */
	const char *region;   /* default us-east-1 */
	eml_sigv4_creds creds;
	int timeout_ms;      /* per attempt; default 5000 */
	int max_retries;     /* on ThrottlingException / 5xx / transport errors; default 3 */
	const char *ca_file; /* https: CA bundle; NULL = OpenSSL's default paths */
	const char *via;     /* connect here instead of the URL's host (vsock:3:8000 in Nitro) */
	int64_t now_s;       /* 0 = clock (tests may pin the signing time) */
} eml_kms_cfg;

/* One KMS call: `op` is the TrentService operation, body/response are JSON text. KMS error types
 * map to EML_E_KMS_{ACCESS_DENIED,NOT_FOUND,THROTTLED,BAD_REQUEST,REMOTE}; transport: KMS_HTTP. */
int eml_kms_call(const eml_kms_cfg *c, const char *op, const char *body, char **resp);

int eml_kms_create_key(const eml_kms_cfg *c, const char *policy_json, char **key_id);
/* AES_256 data key for the encryption context (JSON object text). *blob eml_alloc'd. */
int eml_kms_generate_data_key(const eml_kms_cfg *c, const char *key_id, const char *ctx_json,
                              uint8_t dk[EML_KMS_DATA_KEY_LEN], uint8_t **blob, size_t *blob_len);
/* Decrypt; with att_doc != NULL, a Recipient request whose CiphertextForRecipient is opened with
 * rsa (the key whose SPKI is the document's public_key). */
int eml_kms_decrypt(const eml_kms_cfg *c, const char *key_id, const uint8_t *blob, size_t blob_len,
                    const char *ctx_json, const uint8_t *att_doc, size_t att_len, EVP_PKEY *rsa,
                    uint8_t dk[EML_KMS_DATA_KEY_LEN]);

/* Pure parsers of KMS answers (split from the calls so they can be fuzzed, fuzz/fuzz_kms.c).
 * Every byte of an answer is untrusted: in Nitro it crosses the host's vsock-proxy (inside TLS,
 * but KMS itself, or a local service, is a peer we only partly trust). */
/* "HTTP/1.x NNN ..." response: status and the body (NUL-terminated, eml_alloc'd). KMS_HTTP. */
int eml_kms_http_response_parse(const uint8_t *p, size_t n, int *status, char **body);
/* KMS error answer (JSON `__type`) or HTTP status -> EML_E_KMS_* (never EML_OK). */
int eml_kms_error_map(int status, const char *body);
int eml_kms_create_key_parse(const char *resp, char **key_id);
int eml_kms_data_key_parse(const char *resp, uint8_t dk[EML_KMS_DATA_KEY_LEN], uint8_t **blob,
                           size_t *blob_len);
/* Decrypt answer for key_id; rsa != NULL: a Recipient answer (CiphertextForRecipient opened with
 * rsa; a Plaintext refused), NULL: a plain answer. */
int eml_kms_decrypt_parse(const char *resp, const char *key_id, EVP_PKEY *rsa,
                          uint8_t dk[EML_KMS_DATA_KEY_LEN]);

/* Attest callback for the enclave: return an attestation document whose public_key is spki. */
typedef int (*eml_kms_attest_fn)(void *ctx, const uint8_t *spki, size_t spki_len, uint8_t **doc,
                                 size_t *doc_len);

/* Enclave hook: open a sealed topology key through KMS Decrypt with Recipient (per-call RSA-2048
 * key unless *rsa_cache holds one). *tkey eml_alloc'd. */
int eml_kms_unseal(const eml_kms_cfg *c, const uint8_t *sealed, size_t sealed_len,
                   eml_kms_attest_fn attest, void *attest_ctx, uint8_t **tkey, size_t *tkey_len);

/* base64 helpers (RFC 4648 with padding) */
char *eml_b64_encode(const uint8_t *in, size_t n);
int eml_b64_decode(const char *in, uint8_t **out, size_t *out_len);

/* ---- local service ---- */
typedef struct eml_kms_server eml_kms_server;
typedef struct eml_kms_server_cfg {
	const char *state_dir;
	const char *trust_root_pem; /* root of Recipient attestation documents */
	const char *access_key, *secret_key;
	const char *region; /* default us-east-1 */
	int64_t max_age_ms; /* attestation freshness; default 5 min */
	int tls;            /* serve TLS with DIR/tls-cert.pem (generated on first start) */
} eml_kms_server_cfg;

int eml_kms_server_open(const eml_kms_server_cfg *cfg, eml_kms_server **out);
/* Serve one connection (one request). */
int eml_kms_server_handle(eml_kms_server *s, int fd);
/* Accept loop until *stop becomes non-zero (polled every 100 ms). */
int eml_kms_server_serve(eml_kms_server *s, int listen_fd, volatile int *stop);
void eml_kms_server_free(eml_kms_server *s);
/* Handle one already-parsed request (tests use this to bypass HTTP). */
int eml_kms_server_dispatch(eml_kms_server *s, const char *target, const char *body, char **resp,
                            int *http_status);

#endif
