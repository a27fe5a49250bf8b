/*
 * Frames (docs/PROTOCOL.md §2): u32 length (big-endian, payload bytes only) | u8 type | payload.
 *
 * Strict: an unknown type is EML_E_FRAME_TYPE, a length above the type's limit is
 * EML_E_FRAME_TOO_LARGE (decided from the 5-byte header, BEFORE anything is allocated), a short
 * buffer is EML_E_FRAME_TRUNCATED. Pure functions: thread-safe.
 */
#ifndef EML_WIRE_FRAME_H
#define EML_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"

#define EML_FRAME_HEADER_LEN 5u
#define EML_FRAME_DEFAULT_CLIENT_MAX ((uint32_t)64 << 20)  /* 64 MiB: client messages */
#define EML_FRAME_DEFAULT_WEIGHT_MAX ((uint32_t)256 << 20) /* 256 MiB: weight blobs */

/* Frame types (one byte). Numbers are stable: append only. */
enum eml_frame_type {
	/* client <-> enclave, forwarded unchanged by the host */
	EML_FT_CLIENT_HELLO = 0x01,
	EML_FT_SERVER_HELLO = 0x02,
	EML_FT_REQUEST = 0x03,
	EML_FT_RESPONSE = 0x04,
	EML_FT_ERROR = 0x05,
	/* enclave <-> host (host channel) */
	EML_FT_BLOB_FETCH = 0x10,
	EML_FT_BLOB_DATA = 0x11,
	EML_FT_BLOB_NOT_FOUND = 0x12,
	EML_FT_AUDIT_RECORD = 0x13,
	EML_FT_KMS_CREDS_FETCH = 0x14, /* empty; the host answers KMS_CREDS or ERROR */
	EML_FT_KMS_CREDS = 0x15,       /* AWS credentials for KMS (src/kms/creds.h) */
	/* client <-> host (weight store administration) */
	EML_FT_UPLOAD = 0x20,
	EML_FT_UPLOAD_OK = 0x21,
	EML_FT_STORE_LIST = 0x22,
	EML_FT_STORE_LIST_RESULT = 0x23,
	EML_FT_STORE_REMOVE = 0x24,
	EML_FT_STORE_REMOVE_OK = 0x25,
};

/* Per-channel limits on the payload length. Weight frames (UPLOAD, BLOB_DATA) use weight_max,
 * every other type client_max. */
typedef struct eml_frame_limits {
	uint32_t client_max;
	uint32_t weight_max;
} eml_frame_limits;

#define EML_FRAME_LIMITS_DEFAULT                                                                   \
	((eml_frame_limits){.client_max = EML_FRAME_DEFAULT_CLIENT_MAX,                            \
	                    .weight_max = EML_FRAME_DEFAULT_WEIGHT_MAX})

/* 1 when `type` is one of enum eml_frame_type. */
int eml_frame_type_known(uint8_t type);
/* 1 for the types a client sends to or receives from the enclave (0x01-0x05). */
int eml_frame_type_is_client(uint8_t type);
/* 1 for store administration requests (UPLOAD, STORE_LIST, STORE_REMOVE). */
int eml_frame_type_is_store_request(uint8_t type);
/* The payload limit for a type (limits NULL = defaults). */
uint32_t eml_frame_limit(const eml_frame_limits *limits, uint8_t type);

/* Check a 5-byte header: known type, length within limit. */
int eml_frame_header_parse(const uint8_t hdr[EML_FRAME_HEADER_LEN], const eml_frame_limits *limits,
                           uint8_t *type, uint32_t *len);
/* Decode the first frame of a buffer; the payload points into p. *consumed = header + payload.
 * EML_E_FRAME_TRUNCATED when the buffer holds less than one whole frame. */
int eml_frame_decode(const uint8_t *p, size_t n, const eml_frame_limits *limits, uint8_t *type,
                     const uint8_t **payload, uint32_t *len, size_t *consumed);
/* Append header and payload to b. EML_E_FRAME_TOO_LARGE when len exceeds the type's limit,
 * EML_E_FRAME_TYPE for an unknown type. */
int eml_frame_encode(eml_buf *b, const eml_frame_limits *limits, uint8_t type, const void *payload,
                     size_t len);
/* The header alone, for a payload of len bytes the caller appends next (same checks). */
int eml_frame_encode_head(eml_buf *b, const eml_frame_limits *limits, uint8_t type, size_t len);

/* Big-endian helpers for the message codecs (the wire is big-endian throughout). */
int eml_wire_u16(eml_cursor *c, uint16_t *v);
int eml_wire_u32(eml_cursor *c, uint32_t *v);
int eml_wire_u64(eml_cursor *c, uint64_t *v);
void eml_wire_put_u16(eml_buf *b, uint16_t v);
void eml_wire_put_u32(eml_buf *b, uint32_t v);
void eml_wire_put_u64(eml_buf *b, uint64_t v);

#endif
