/*
 * HPKE (RFC 9180), base mode, on OpenSSL 3.0 primitives (no OSSL_HPKE, which needs 3.2).
 *
 *   KEM   DHKEM(X25519, HKDF-SHA256)                     (0x0020; the only KEM)
 *   KDF   HKDF-SHA256 (0x0001), HKDF-SHA512 (0x0003)
 *   AEAD  AES-128-GCM (0x0001), AES-256-GCM (0x0002), ChaCha20-Poly1305 (0x0003),
 *         export-only (0xFFFF)
 *
 * The product path uses EML_HPKE_SUITE_DEFAULT = DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
 * AES-256-GCM (DESIGN §4). The other suites exist so that every RFC 9180 test vector for X25519
 * base mode can be checked.
 *
 * A context is made by one setup (sender or receiver), owns its key, base nonce and exporter
 * secret, counts its own sequence number (RFC 9180 §5.2) and wipes everything on free. A context
 * is not thread-safe; separate contexts are independent.
 */
#ifndef EML_CRYPTO_HPKE_H
#define EML_CRYPTO_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"

#define EML_HPKE_KEM_X25519_SHA256 0x0020
#define EML_HPKE_KDF_SHA256 0x0001
#define EML_HPKE_KDF_SHA512 0x0003
#define EML_HPKE_AEAD_AES128GCM 0x0001
#define EML_HPKE_AEAD_AES256GCM 0x0002
#define EML_HPKE_AEAD_CHACHA20POLY1305 0x0003
#define EML_HPKE_AEAD_EXPORT_ONLY 0xFFFF

#define EML_HPKE_SK_LEN 32  /* Nsk */
#define EML_HPKE_PK_LEN 32  /* Npk */
#define EML_HPKE_ENC_LEN 32 /* Nenc */
#define EML_HPKE_TAG_LEN 16 /* Nt of every supported AEAD */
#define EML_HPKE_MAX_KEY_LEN 32
#define EML_HPKE_NONCE_LEN 12 /* Nn of every supported AEAD */
/* Limit on `info` and exporter contexts accepted (the RFC says at least 64 bytes must work). */
#define EML_HPKE_MAX_INFO_LEN 1024
#define EML_HPKE_MAX_EXPORTER_CONTEXT_LEN 512

typedef struct eml_hpke_suite {
	uint16_t kdf;
	uint16_t aead;
} eml_hpke_suite;

#define EML_HPKE_SUITE_DEFAULT                                                                     \
	((eml_hpke_suite){.kdf = EML_HPKE_KDF_SHA256, .aead = EML_HPKE_AEAD_AES256GCM})

typedef struct eml_hpke_ctx eml_hpke_ctx;

/* Nk of an AEAD id (16, 32, or 0 for export-only); -1 when unknown. */
int eml_hpke_aead_key_len(uint16_t aead);

/* A fresh X25519 key pair from the system RNG. sk is secret: wipe it when done. */
int eml_hpke_keypair_generate(uint8_t sk[EML_HPKE_SK_LEN], uint8_t pk[EML_HPKE_PK_LEN]);
/* DeriveKeyPair(ikm) of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1.3); ikm_len >= 32. */
int eml_hpke_keypair_derive(const uint8_t *ikm, size_t ikm_len, uint8_t sk[EML_HPKE_SK_LEN],
                            uint8_t pk[EML_HPKE_PK_LEN]);
/* The public key of a private key. */
int eml_hpke_public_key(const uint8_t sk[EML_HPKE_SK_LEN], uint8_t pk[EML_HPKE_PK_LEN]);

/* SetupBaseS with the default suite: a fresh ephemeral key, enc written, *out a new context. */
int eml_hpke_setup_sender(const uint8_t pkR[EML_HPKE_PK_LEN], const uint8_t *info, size_t info_len,
                          uint8_t enc[EML_HPKE_ENC_LEN], eml_hpke_ctx **out);
/* SetupBaseR with the default suite. EML_E_AUTH when enc is not a usable X25519 key (the DH
 * result is all zero, RFC 9180 §7.1.4). */
int eml_hpke_setup_receiver(const uint8_t enc[EML_HPKE_ENC_LEN], const uint8_t skR[EML_HPKE_SK_LEN],
                            const uint8_t *info, size_t info_len, eml_hpke_ctx **out);

/* The same with an explicit suite. ikmE (optional, NULL for a random ephemeral key) makes the
 * ephemeral key DeriveKeyPair(ikmE): deterministic, for known-answer tests ONLY. */
int eml_hpke_setup_sender_suite(eml_hpke_suite suite, const uint8_t pkR[EML_HPKE_PK_LEN],
                                const uint8_t *info, size_t info_len, const uint8_t *ikmE,
                                size_t ikmE_len, uint8_t enc[EML_HPKE_ENC_LEN], eml_hpke_ctx **out);
/* SetupBaseR with the receiver's public key supplied (it must be pk(skR): the enclave's per-boot
 * pair), saving its derivation per request. */
int eml_hpke_setup_receiver_pk(const uint8_t enc[EML_HPKE_ENC_LEN],
                               const uint8_t skR[EML_HPKE_SK_LEN],
                               const uint8_t pkR[EML_HPKE_PK_LEN], const uint8_t *info,
                               size_t info_len, eml_hpke_ctx **out);
int eml_hpke_setup_receiver_suite(eml_hpke_suite suite, const uint8_t enc[EML_HPKE_ENC_LEN],
                                  const uint8_t skR[EML_HPKE_SK_LEN], const uint8_t *info,
                                  size_t info_len, eml_hpke_ctx **out);

/* ContextS.Seal: out holds pt_len + EML_HPKE_TAG_LEN bytes; increments the sequence number.
 * EML_E_UNSUPPORTED for an export-only context, EML_E_LIMIT when the sequence is exhausted,
 * EML_E_ARG when called on a receiver context. */
int eml_hpke_seal(eml_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                  size_t pt_len, uint8_t *out);
/* The same over a plaintext in pieces (their concatenation), sealed into one output. */
int eml_hpke_seal_iov(eml_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const eml_iov *pt,
                      size_t n_pt, uint8_t *out);
/* ContextR.Open: out holds ct_len - EML_HPKE_TAG_LEN bytes. EML_E_AUTH on a bad tag (out wiped;
 * the sequence number does not advance, as RFC 9180 §5.2 requires). */
int eml_hpke_open(eml_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                  size_t ct_len, uint8_t *out);
/* Context.Export (RFC 9180 §5.3): L <= 255 * Nh bytes of exported secret into out. */
int eml_hpke_export(const eml_hpke_ctx *ctx, const uint8_t *exporter_context,
                    size_t exporter_context_len, size_t L, uint8_t *out);
eml_hpke_suite eml_hpke_ctx_suite(const eml_hpke_ctx *ctx);
/* Wipes every secret of the context and frees it. NULL is a no-op. */
void eml_hpke_ctx_free(eml_hpke_ctx *ctx);

/* One-shot AEAD of a supported HPKE AEAD id (12-byte nonce, 16-byte tag appended). Used by the
 * response sealing (crypto/ohttp.h). */
int eml_hpke_aead_seal(uint16_t aead, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                       size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out);
int eml_hpke_aead_seal_iov(uint16_t aead, const uint8_t *key, const uint8_t *nonce,
                           const uint8_t *aad, size_t aad_len, const eml_iov *pt, size_t n_pt,
                           uint8_t *out);
int eml_hpke_aead_open(uint16_t aead, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                       size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

/* Known-answer tests only: copies of the context's intermediate secrets. Never call this in the
 * product path. */
typedef struct eml_hpke_kat {
	uint8_t shared_secret[32];
	uint8_t key[EML_HPKE_MAX_KEY_LEN];
	size_t key_len;
	uint8_t base_nonce[EML_HPKE_NONCE_LEN];
	size_t nonce_len;
	uint8_t exporter_secret[64];
	size_t exporter_secret_len;
	uint8_t key_schedule_context[1 + 2 * 64];
	size_t key_schedule_context_len;
} eml_hpke_kat;
void eml_hpke_ctx_kat(const eml_hpke_ctx *ctx, eml_hpke_kat *out);

#endif
