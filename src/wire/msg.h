/*
 * Message codecs (docs/PROTOCOL.md §3). Every decoder is strict: each field is read through the
 * bounds-checked cursor, each length is checked against a named limit, and the message must end
 * exactly where the payload ends. Errors: EML_E_MSG_TRUNCATED (the payload ends inside a field),
 * EML_E_MSG_TRAILING (bytes after the last field), EML_E_MSG_MALFORMED (a field value is out of
 * range). Decoded byte strings point INTO the input: keep it alive while using the result.
 * Encoders append the payload (no frame header) to an eml_buf.
 * Pure functions: thread-safe.
 */
#ifndef EML_WIRE_MSG_H
#define EML_WIRE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"
#include "model/model.h"

#define EML_WIRE_VERSION_1 1
#define EML_WIRE_NONCE_LEN 32
#define EML_WIRE_SESSION_ID_LEN 16
#define EML_WIRE_MODEL_ID_LEN 16
#define EML_WIRE_ENC_LEN 32
#define EML_WIRE_TAG_LEN 16
#define EML_WIRE_SHA256_LEN 32
#define EML_WIRE_MAX_VERSIONS 16
#define EML_WIRE_MAX_ATTEST_DOC ((uint32_t)64 << 10)
#define EML_WIRE_MAX_RESPONSE_NONCE 32
#define EML_WIRE_MAX_TENSORS 256
#define EML_WIRE_MAX_NAME_LEN 256
#define EML_WIRE_MAX_RECEIPT ((uint32_t)64 << 10)
#define EML_WIRE_MAX_AUDIT_RECORD ((uint32_t)64 << 10)
#define EML_WIRE_MAX_STORE_ENTRIES 65536u

typedef struct eml_msg_client_hello {
	uint8_t n_versions;
	uint16_t versions[EML_WIRE_MAX_VERSIONS];
	uint8_t nonce[EML_WIRE_NONCE_LEN];
} eml_msg_client_hello;

typedef struct eml_msg_server_hello {
	uint16_t version;
	uint8_t session_id[EML_WIRE_SESSION_ID_LEN];
	const uint8_t *doc; /* the attestation document (COSE_Sign1) */
	uint32_t doc_len;
} eml_msg_server_hello;

typedef struct eml_msg_request {
	uint8_t session_id[EML_WIRE_SESSION_ID_LEN];
	uint64_t seq;
	uint8_t enc[EML_WIRE_ENC_LEN];
	const uint8_t *ct;
	uint32_t ct_len;
} eml_msg_request;

typedef struct eml_msg_response {
	uint64_t seq;
	uint8_t nonce_len;
	uint8_t nonce[EML_WIRE_MAX_RESPONSE_NONCE];
	const uint8_t *ct;
	uint32_t ct_len;
} eml_msg_response;

/* A named tensor inside a request or response plaintext. dtype uses ONNX numbering (model.h). */
typedef struct eml_wire_tensor {
	const uint8_t *name; /* not NUL-terminated */
	uint16_t name_len;
	uint8_t dtype;
	uint8_t rank;
	uint64_t dims[EML_MAX_RANK];
	const uint8_t *data;
	uint64_t data_len; /* = product(dims) * dtype size */
} eml_wire_tensor;

/* Plaintext of a request (inside HPKE). inputs is allocated by the decoder. */
typedef struct eml_request_pt {
	uint8_t model_id[EML_WIRE_MODEL_ID_LEN];
	const uint8_t *tkey;
	uint32_t tkey_len;
	uint16_t n_inputs;
	eml_wire_tensor *inputs;
} eml_request_pt;

/* Plaintext of a response. outputs is allocated by the decoder. */
typedef struct eml_response_pt {
	uint16_t n_outputs;
	eml_wire_tensor *outputs;
	const uint8_t *receipt; /* opaque for now */
	uint32_t receipt_len;
} eml_response_pt;

typedef struct eml_store_entry {
	uint8_t model_id[EML_WIRE_MODEL_ID_LEN];
	uint8_t sha256[EML_WIRE_SHA256_LEN];
	uint64_t size;
} eml_store_entry;

/* A plaintext as pieces: small fields in `meta`, large ones (tensor data, topology key,
 * receipt) referenced in place; a sealer streams over part[0..n). At most 2 pieces per tensor
 * plus the fixed fields. */
#define EML_WIRE_PT_MAX_PARTS (8 + 2 * EML_WIRE_MAX_TENSORS)
typedef struct eml_pt_parts {
	eml_buf meta;
	size_t mark; /* start of the meta bytes not yet recorded as a part */
	size_t n;
	size_t total; /* bytes of the whole plaintext */
	eml_iov part[EML_WIRE_PT_MAX_PARTS];
} eml_pt_parts;

/* The pieces of a request / response plaintext (same bytes as the _encode functions); the
 * referenced memory must outlive the parts. Free with eml_pt_parts_cleanup. */
int eml_request_pt_parts(eml_pt_parts *pp, const eml_request_pt *m);
int eml_response_pt_parts(eml_pt_parts *pp, const eml_response_pt *m);
void eml_pt_parts_cleanup(eml_pt_parts *pp);
/* Appends the concatenated pieces to b. */
int eml_pt_parts_flatten(const eml_pt_parts *pp, eml_buf *b);

int eml_msg_client_hello_encode(eml_buf *b, const eml_msg_client_hello *m);
int eml_msg_client_hello_decode(const uint8_t *p, size_t n, eml_msg_client_hello *m);
int eml_msg_server_hello_encode(eml_buf *b, const eml_msg_server_hello *m);
int eml_msg_server_hello_decode(const uint8_t *p, size_t n, eml_msg_server_hello *m);
int eml_msg_request_encode(eml_buf *b, const eml_msg_request *m);
/* Everything but the ciphertext bytes (ct_len included): the sealer appends them in place. */
int eml_msg_request_encode_head(eml_buf *b, const eml_msg_request *m);
int eml_msg_request_decode(const uint8_t *p, size_t n, eml_msg_request *m);
int eml_msg_response_encode(eml_buf *b, const eml_msg_response *m);
int eml_msg_response_encode_head(eml_buf *b, const eml_msg_response *m);
int eml_msg_response_decode(const uint8_t *p, size_t n, eml_msg_response *m);
/* ERROR: just the u16 code; its text comes from the error table. */
int eml_msg_error_encode(eml_buf *b, int code);
/* *code is the received number, or EML_E_REMOTE when it is 0 or not in the table. */
int eml_msg_error_decode(const uint8_t *p, size_t n, int *code);

int eml_request_pt_encode(eml_buf *b, const eml_request_pt *m);
int eml_request_pt_decode(const uint8_t *p, size_t n, eml_request_pt *m);
void eml_request_pt_cleanup(eml_request_pt *m);
int eml_response_pt_encode(eml_buf *b, const eml_response_pt *m);
int eml_response_pt_decode(const uint8_t *p, size_t n, eml_response_pt *m);
void eml_response_pt_cleanup(eml_response_pt *m);

/* Host channel and store messages. */
/* BLOB_FETCH, BLOB_NOT_FOUND, STORE_REMOVE, STORE_REMOVE_OK: exactly a 16-byte model id. */
int eml_msg_model_id_encode(eml_buf *b, const uint8_t id[EML_WIRE_MODEL_ID_LEN]);
int eml_msg_model_id_decode(const uint8_t *p, size_t n, uint8_t id[EML_WIRE_MODEL_ID_LEN]);
/* UPLOAD_OK: one store entry. */
int eml_msg_store_entry_encode(eml_buf *b, const eml_store_entry *e);
int eml_msg_store_entry_decode(const uint8_t *p, size_t n, eml_store_entry *e);
/* STORE_LIST_RESULT: u32 count then entries. *out allocated (eml_free). */
int eml_msg_store_list_encode(eml_buf *b, const eml_store_entry *e, size_t count);
int eml_msg_store_list_decode(const uint8_t *p, size_t n, eml_store_entry **out, size_t *count);
/* STORE_LIST: empty payload. AUDIT_RECORD: 1..EML_WIRE_MAX_AUDIT_RECORD opaque bytes. */
int eml_msg_empty_decode(const uint8_t *p, size_t n);
int eml_msg_audit_record_check(const uint8_t *p, size_t n);

#endif
