/*
 * EphemeralML — the one error table.
 *
 * Every function that can fail returns an `int` result code from this table: EML_OK (0) on
 * success, a positive EML_E_* code otherwise. Messages are fixed, generic texts: they never
 * carry topology, shapes of internal tensors, weights, inputs or outputs (DESIGN §4, Property 12).
 *
 * Codes are stable numbers (they appear on the wire and in audit records): append, never renumber.
 * Each module owns a range; add codes only inside your module's range.
 *
 * Thread-safety: everything here is pure and thread-safe.
 */
#ifndef EML_ERROR_H
#define EML_ERROR_H

/* X(NAME, number, "message") */
#define EML_ERROR_TABLE(X)                                                                         \
	X(OK, 0, "success")                                                                        \
	/* common: 1-99 */                                                                         \
	X(NOMEM, 1, "out of memory")                                                               \
	X(ARG, 2, "invalid argument")                                                              \
	X(IO, 3, "input/output error")                                                             \
	X(TRUNCATED, 4, "input is truncated")                                                      \
	X(LIMIT, 5, "a size limit was exceeded")                                                   \
	X(INTERNAL, 6, "internal error")                                                           \
	X(NOT_FOUND, 7, "file or object not found")                                                \
	X(EXISTS, 8, "file already exists")                                                        \
	X(RANDOM, 9, "the system random generator failed")                                         \
	X(USAGE, 10, "invalid command-line usage")                                                 \
	X(OVERFLOW, 11, "arithmetic overflow in a size computation")                               \
	X(PERMISSION, 12, "permission denied")                                                     \
	X(MALFORMED, 13, "malformed input")                                                        \
	X(TRAILING, 14, "trailing bytes after the end of the input")                               \
	X(UNSUPPORTED, 15, "unsupported feature")                                                  \
	/* onnx (loading, support table): 100-199 */                                               \
	X(ONNX_PARSE, 100, "the file is not a valid ONNX model (protobuf decoding failed)")        \
	X(ONNX_IR_VERSION, 101, "unsupported ONNX IR version")                                     \
	X(ONNX_OPSET, 102, "unsupported ONNX opset version")                                       \
	X(ONNX_UNSUPPORTED_OP, 103, "the model uses unsupported operators")                        \
	X(ONNX_DTYPE, 104, "unsupported tensor data type")                                         \
	X(ONNX_TENSOR, 105, "malformed tensor in the model")                                       \
	X(ONNX_GRAPH, 106, "malformed graph in the model")                                         \
	X(ONNX_EXTERNAL_PATH, 107, "external data path escapes the model's folder")                \
	X(ONNX_EXTERNAL_DATA, 108, "external data is missing or out of range")                     \
	X(ONNX_ATTRIBUTE, 109, "malformed attribute in the model")                                 \
	X(ONNX_LIMIT, 110, "the model exceeds a size limit")                                       \
	X(ONNX_SPARSE, 111, "sparse tensors are not supported")                                    \
	X(ONNX_STRING_TENSOR, 112, "string tensors are not supported")                             \
	X(ONNX_TYPE_PROTO, 113, "type-proto attributes are not supported")                         \
	X(ONNX_UNDEFINED_VALUE, 114, "a node or graph refers to an undefined value")               \
	X(ONNX_DUPLICATE_NAME, 115, "a value name is defined twice in the model")                  \
	X(ONNX_FILE_SIZE, 116, "the model file exceeds the size limit")                            \
	/* onnx: add new codes above this line */                                                  \
	/* topo (topology key, weight blob): 200-299 */                                            \
	X(TKEY_MAGIC, 200, "not a topology key (bad magic)")                                       \
	X(TKEY_VERSION, 201, "unsupported topology key version")                                   \
	X(TKEY_INTEGRITY, 202, "topology key integrity check failed")                              \
	X(TKEY_MALFORMED, 203, "malformed topology key")                                           \
	X(BLOB_MAGIC, 210, "not a weight blob (bad magic)")                                        \
	X(BLOB_VERSION, 211, "unsupported weight blob version")                                    \
	X(BLOB_MALFORMED, 212, "malformed weight blob header")                                     \
	X(BLOB_DIGEST, 213, "weight blob digest does not match the topology key")                  \
	X(BLOB_CHUNK_AUTH, 214, "a weight blob chunk failed authentication")                       \
	X(BLOB_TRUNCATED, 215, "the weight blob is truncated")                                     \
	X(BLOB_MODEL_MISMATCH, 216, "the weight blob belongs to another model")                    \
	X(TKEY_TRAILING, 204, "trailing bytes after the topology key")                             \
	X(TKEY_TRUNCATED, 205, "the topology key is truncated")                                    \
	X(TKEY_BAD_REF, 206,                                                                       \
	  "the topology key refers to a value, tensor or graph that does not exist")               \
	X(TKEY_TENSOR_RANGE, 207,                                                                  \
	  "a tensor of the topology key lies outside the weight plaintext")                        \
	X(TKEY_TENSOR_ALIGN, 208, "a tensor of the topology key is not 64-byte aligned")           \
	X(TKEY_LIMIT, 209, "the topology key exceeds a size limit")                                \
	X(BLOB_HEADER_MISMATCH, 217, "the weight blob header does not match the topology key")     \
	X(BLOB_TRAILING, 218, "trailing bytes after the weight blob")                              \
	X(TOPO_NO_DATA, 219, "the model has no tensor data to decompose")                          \
	/* topo: add new codes above this line */                                                  \
	/* engine: 300-399 */                                                                      \
	X(ENGINE_INPUT_MISSING, 300, "a graph input was not provided")                             \
	X(ENGINE_INPUT_DTYPE, 301, "a graph input has the wrong data type")                        \
	X(ENGINE_INPUT_RANK, 302, "a graph input has the wrong rank")                              \
	X(ENGINE_INPUT_SHAPE, 303, "a graph input has a shape the graph cannot use")               \
	X(ENGINE_SHAPE, 304, "shape inference failed")                                             \
	X(ENGINE_MEMORY_LIMIT, 305, "the model needs more memory than allowed")                    \
	X(ENGINE_OP, 306, "an operator failed")                                                    \
	X(ENGINE_INPUT_UNKNOWN, 307, "an input name does not match any graph input")               \
	/* engine: add new codes above this line */                                                \
	/* tensor files (.npy, .pb): 400-449 */                                                    \
	X(TENSOR_FORMAT, 400, "malformed tensor file")                                             \
	X(TENSOR_DTYPE, 401, "unsupported tensor file data type")                                  \
	X(TENSOR_FORTRAN_ORDER, 402, "Fortran-order tensor files are not supported")               \
	X(TENSOR_VERSION, 403, "unsupported tensor file format version")                           \
	X(TENSOR_UNSUPPORTED, 404, "tensor file uses segments or external data (unsupported)")     \
	/* tensor: add new codes above this line */                                                \
	/* crypto: 450-499 */                                                                      \
	X(CRYPTO, 450, "cryptographic library failure")                                            \
	X(AUTH, 451, "authentication failed")                                                      \
	/* crypto: add new codes above this line */                                                \
	/* attest: 500-599 */                                                                      \
	X(ATTEST_ENCODING, 500, "attestation document is not well-formed CBOR/COSE_Sign1")         \
	X(ATTEST_FIELD, 501, "attestation document has a missing, duplicate or mistyped field")    \
	X(ATTEST_SIZE, 502, "attestation document field size is outside the Nitro specification")  \
	X(ATTEST_HEADER, 503, "attestation document has an unsupported COSE header or algorithm")  \
	X(ATTEST_CHAIN, 504, "attestation certificate chain does not verify")                      \
	X(ATTEST_ROOT, 505, "attestation chain does not end at the pinned root")                   \
	X(ATTEST_EXPIRED, 506, "attestation certificate is expired or not yet valid")              \
	X(ATTEST_SIGNATURE, 507, "attestation document signature does not verify")                 \
	X(ATTEST_PCR, 508, "attestation PCRs match no allowed set of the policy")                  \
	X(ATTEST_DEBUG, 509, "debug-mode attestation document refused by the policy")              \
	X(ATTEST_NONCE, 510, "attestation nonce does not match the expected nonce")                \
	X(ATTEST_TOO_OLD, 511, "attestation document is older than the policy allows")             \
	X(ATTEST_FUTURE, 512, "attestation document timestamp is in the future")                   \
	X(ATTEST_POLICY, 513, "malformed attestation policy")                                      \
	X(ATTEST_NO_DEVICE, 514, "no NSM device; use --nsm sim for development")                   \
	X(ATTEST_NSM, 515, "the NSM refused the request or answered malformed data")               \
	X(ATTEST_SIM_CA, 516, "the simulated NSM certificate authority is missing or unusable")    \
	X(ATTEST_KEY_BINDING, 517, "attestation key binding (user_data) does not match")           \
	/* attest: add new codes above this line */                                                \
	/* wire, net, sessions: 600-699 */                                                         \
	X(FRAME_TYPE, 600, "unknown frame type")                                                   \
	X(FRAME_TOO_LARGE, 601, "frame length exceeds the limit")                                  \
	X(FRAME_TRUNCATED, 602, "frame is truncated")                                              \
	X(MSG_MALFORMED, 603, "malformed protocol message")                                        \
	X(MSG_TRAILING, 604, "trailing bytes after a protocol message")                            \
	X(MSG_UNEXPECTED, 605, "unexpected message type")                                          \
	X(VERSION, 606, "no common protocol version")                                              \
	X(SESSION_STATE, 607, "message not valid in the current session state")                    \
	X(REPLAY, 608, "request out of sequence (replay or reorder refused)")                      \
	X(SESSION_UNKNOWN, 609, "unknown or mismatched session")                                   \
	X(NET_ADDR, 610, "invalid network address")                                                \
	X(NET_TIMEOUT, 611, "network operation timed out")                                         \
	X(NET_CONNECT, 612, "could not connect to the peer")                                       \
	X(NET_CLOSED, 613, "connection closed by the peer")                                        \
	X(NET_IO, 614, "network input/output error")                                               \
	X(NET_BUSY, 615, "too many connections")                                                   \
	X(STORE_REFUSED, 620, "the weight store refused the blob")                                 \
	X(STORE_TOO_LARGE, 621, "the blob exceeds the store's size limit")                         \
	X(STORE_NOT_FOUND, 622, "no blob with that model id in the store")                         \
	X(HOST_UNAVAILABLE, 623, "the enclave is unreachable from the host")                       \
	X(REMOTE, 624, "the peer reported an unknown error")                                       \
	X(MSG_TRUNCATED, 625, "protocol message is truncated")                                     \
	/* wire: add new codes above this line */                                                  \
	/* audit and receipts: 700-799 */                                                          \
	X(AUDIT_MALFORMED, 700, "an audit record is malformed (modified)")                         \
	X(AUDIT_SIGNATURE, 701,                                                                    \
	  "an audit record's signature does not verify (modified or forged)")                      \
	X(AUDIT_CHAIN, 702, "an audit record does not follow its predecessor")                     \
	X(AUDIT_TORN, 703, "the audit log ends inside a record (torn tail)")                       \
	X(AUDIT_START, 704, "the audit log does not begin with an enclave start record")           \
	X(AUDIT_ATTEST, 705, "the enclave start record's attestation does not satisfy the policy") \
	X(AUDIT_FOREIGN, 706, "an audit record was signed by another enclave boot (spliced)")      \
	X(AUDIT_REMOVED, 707, "audit records are missing from the chain (removed)")                \
	X(AUDIT_REORDERED, 708, "audit records are out of order (reordered or duplicated)")        \
	X(AUDIT_OPEN, 709, "the audit log ends before the enclave's stop record (tail cut)")       \
	X(RECEIPT_MALFORMED, 720, "the inference receipt is malformed")                            \
	X(RECEIPT_SIGNATURE, 721, "the inference receipt's signature does not verify")             \
	X(RECEIPT_ATTEST, 722, "the receipt's attestation does not satisfy the policy")            \
	X(RECEIPT_INPUT, 723, "the inputs do not match the inference receipt")                     \
	X(RECEIPT_OUTPUT, 724, "the outputs do not match the inference receipt")                   \
	/* audit: add new codes above this line */                                                 \
	/* kms: 800-899 */                                                                         \
	X(KMS_SIGV4, 800, "the request cannot be signed (malformed or over limits)")               \
	X(KMS_CMS, 801, "malformed or unsupported CMS EnvelopedData")                              \
	X(KMS_CMS_DECRYPT, 802, "CMS EnvelopedData could not be decrypted")                        \
	X(KMS_SEALED_FORMAT, 803, "malformed sealed topology key")                                 \
	X(KMS_UNSEAL, 804, "the sealed topology key could not be opened")                          \
	X(KMS_CONTEXT, 805, "the encryption context does not match")                               \
	X(KMS_HTTP, 806, "KMS transport or HTTP failure")                                          \
	X(KMS_REMOTE, 807, "KMS returned an error")                                                \
	X(KMS_ACCESS_DENIED, 808, "KMS denied the request (key policy or signature)")              \
	X(KMS_NOT_FOUND, 809, "the KMS key does not exist")                                        \
	X(KMS_THROTTLED, 810, "KMS throttled the request")                                         \
	X(KMS_BAD_REQUEST, 811, "malformed KMS request")                                           \
	X(KMS_STATE, 812, "the local KMS state is missing, corrupt or unsafe")                     \
	X(KMS_CREDENTIALS, 813,                                                                    \
	  "no usable KMS credentials (none passed by the host, or malformed)")                     \
	/* kms: add new codes above this line */                                                   \
	/* enclave and client: 900-999 */                                                          \
	X(ENCLAVE_BUSY, 900, "the enclave is busy; retry later")                                   \
	X(MODEL_MISMATCH, 901, "the topology key does not belong to the requested model")          \
	X(ENCLAVE_SETUP, 902, "the enclave could not start")                                       \
	/* enclave: add new codes above this line */

enum eml_err {
#define EML_ERR_ENUM(name, num, msg) EML_E_##name = num,
	EML_ERROR_TABLE(EML_ERR_ENUM)
#undef EML_ERR_ENUM
};
#define EML_OK EML_E_OK

/* The fixed message for a code; "unknown error" for numbers not in the table. Never NULL. */
const char *eml_err_str(int rc);

/* The symbolic name without prefix ("TKEY_MAGIC"); "UNKNOWN" for numbers not in the table. */
const char *eml_err_name(int rc);

#endif
