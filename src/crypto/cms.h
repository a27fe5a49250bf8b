/*
 * CMS EnvelopedData (RFC 5652 §6) as returned by AWS KMS in CiphertextForRecipient: one
 * KeyTransRecipientInfo with RSAES-OAEP (RFC 8017 / RFC 4055: SHA-256, MGF1-SHA-256, empty label),
 * AES-256-CBC content encryption (RFC 3565). BER, indefinite lengths allowed.
 *
 * CMS from KMS carries no MAC: the decrypted bytes are only ever used as an AEAD key whose tag
 * authenticates them (DESIGN §9).
 */
#ifndef EML_CRYPTO_CMS_H
#define EML_CRYPTO_CMS_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define EML_CMS_MAX_LEN (64 * 1024)     /* whole EnvelopedData */
#define EML_CMS_MAX_CONTENT (16 * 1024) /* encrypted content */
#define EML_CMS_MAX_DEPTH 16

/* Views into the parsed input (valid while the input lives). */
typedef struct eml_cms_parts {
	const uint8_t *enc_key;
	size_t enc_key_len;
	const uint8_t *iv;   /* 16 bytes */
	uint8_t *ciphertext; /* assembled from constructed chunks: eml_alloc'd, owned */
	size_t ciphertext_len;
	const uint8_t *rid_ski; /* subjectKeyIdentifier when rid is [0], else NULL */
	size_t rid_ski_len;
} eml_cms_parts;

/* Parse and check the algorithms; EML_E_KMS_CMS on anything malformed or unsupported. */
int eml_cms_parse(const uint8_t *in, size_t len, eml_cms_parts *out);
void eml_cms_parts_free(eml_cms_parts *p);

/* Decrypt with the recipient's RSA private key. *out is eml_alloc'd (wiped on free). */
int eml_cms_decrypt(const uint8_t *in, size_t len, EVP_PKEY *rsa, uint8_t **out, size_t *out_len);

/* Build a DER EnvelopedData for an RSA public key given as SPKI DER (used by the local KMS).
 * rid is [0] subjectKeyIdentifier = SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2). */
int eml_cms_encrypt(const uint8_t *spki, size_t spki_len, const uint8_t *msg, size_t msg_len,
                    uint8_t **out, size_t *out_len);

#endif
