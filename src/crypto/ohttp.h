/*
 * Response sealing after Oblivious HTTP (RFC 9458 §4.4), with EphemeralML's labels:
 *
 *   response_nonce = random(max(Nn, Nk))                 (32 bytes with AES-256-GCM)
 *   secret         = context.Export("eml response", Nk)  (RFC 9458: "message/bhttp response")
 *   salt           = enc || response_nonce
 *   prk            = Extract(salt, secret)
 *   aead_key       = Expand(prk, "key", Nk)
 *   aead_nonce     = Expand(prk, "nonce", Nn)
 *   ct             = Seal(aead_key, aead_nonce, aad, response)
 *
 * Extract/Expand are the HPKE context's KDF; Seal its AEAD. Unlike RFC 9458 (empty AAD) the
 * caller passes an AAD; the wire protocol binds the session id and sequence number there
 * (docs/PROTOCOL.md). Both the sender context (client) and the receiver context (enclave) can
 * derive the same secret, since both hold the exporter secret. The enclave seals, the client
 * opens. A fresh response nonce per response makes the key single-use. Thread-safety: as the
 * HPKE context (read only here).
 */
#ifndef EML_CRYPTO_OHTTP_H
#define EML_CRYPTO_OHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hpke.h"

#define EML_OHTTP_EXPORT_LABEL "eml response"
#define EML_OHTTP_MAX_NONCE_LEN 32

/* max(Nn, Nk) of the context's AEAD; 0 for export-only (no response sealing possible). */
size_t eml_ohttp_nonce_len(const eml_hpke_ctx *ctx);

/* Seals pt: writes eml_ohttp_nonce_len(ctx) random bytes to nonce_out and pt_len + 16 bytes
 * to ct_out. */
int eml_ohttp_response_seal(const eml_hpke_ctx *ctx, const uint8_t enc[EML_HPKE_ENC_LEN],
                            const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                            uint8_t *nonce_out, uint8_t *ct_out);
/* The same over a plaintext in pieces. */
int eml_ohttp_response_seal_iov(const eml_hpke_ctx *ctx, const uint8_t enc[EML_HPKE_ENC_LEN],
                                const uint8_t *aad, size_t aad_len, const eml_iov *pt, size_t n_pt,
                                uint8_t *nonce_out, uint8_t *ct_out);
/* Opens: nonce_len must equal eml_ohttp_nonce_len(ctx); out holds ct_len - 16 bytes.
 * EML_E_AUTH on any mismatch (out wiped). */
int eml_ohttp_response_open(const eml_hpke_ctx *ctx, const uint8_t enc[EML_HPKE_ENC_LEN],
                            const uint8_t *nonce, size_t nonce_len, const uint8_t *aad,
                            size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

#endif
