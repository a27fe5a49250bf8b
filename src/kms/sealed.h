/*
 * Sealed topology key (docs/KMS.md): the topology key encrypted with AES-256-GCM under a KMS data
 * key, with the KMS CiphertextBlob of that data key stored beside it.
 *
 *   "EMLSEAL1" | u32 version (=1) | model_id[16] | u16 key_id_len | key_id
 *   | u32 blob_len | KMS CiphertextBlob | nonce[12] | u32 ct_len | AES-GCM(tkey) || tag[16]
 *   (integers little-endian)
 *
 * AAD = the canonical encryption context eml:format=1 and eml:model=<hex model id> (the same pairs
 * are sent to KMS as EncryptionContext), followed by every header byte up to the nonce, so neither
 * the model id nor the KMS blob can be swapped.
 */
#ifndef EML_KMS_SEALED_H
#define EML_KMS_SEALED_H

#include <stddef.h>
#include <stdint.h>

#define EML_SEALED_MAGIC "EMLSEAL1"
#define EML_SEALED_VERSION 1
#define EML_SEALED_MAX_KEY_ID 256
#define EML_SEALED_MAX_BLOB 6144
#define EML_SEALED_MAX_TKEY (16u << 20)
#define EML_SEALED_CTX_FORMAT "1"

typedef struct eml_sealed {
	uint8_t model_id[16];
	char key_id[EML_SEALED_MAX_KEY_ID + 1];
	const uint8_t *kms_blob; /* views into the parsed input */
	size_t kms_blob_len;
	const uint8_t *header; /* bytes covered as AAD after the context */
	size_t header_len;
	const uint8_t *nonce;
	const uint8_t *ct;
	size_t ct_len;
} eml_sealed;

/* The encryption context as JSON object text {"eml:format":"1","eml:model":"<hex>"}. */
int eml_sealed_context_json(const uint8_t model_id[16], char *out, size_t cap);

int eml_sealed_seal(const uint8_t *tkey, size_t tkey_len, const uint8_t data_key[32],
                    const char *key_id, const uint8_t *kms_blob, size_t kms_blob_len, uint8_t **out,
                    size_t *out_len);
int eml_sealed_parse(const uint8_t *p, size_t n, eml_sealed *out);
/* Open with the released data key; the inner topology key's model id must equal the header's.
 * *tkey is eml_alloc'd. EML_E_KMS_UNSEAL on any mismatch. */
int eml_sealed_open(const eml_sealed *s, const uint8_t data_key[32], uint8_t **tkey,
                    size_t *tkey_len);

#endif
