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
	/* tensor: add new codes above this line */                                                \
	/* crypto: 450-499 */                                                                      \
	X(CRYPTO, 450, "cryptographic library failure")                                            \
	X(AUTH, 451, "authentication failed")                                                      \
	/* crypto: add new codes above this line */                                                \
	/* attest: 500-599 */                                                                      \
	/* attest: add new codes above this line */                                                \
	/* wire, net, sessions: 600-699 */                                                         \
	/* wire: add new codes above this line */                                                  \
	/* audit and receipts: 700-799 */                                                          \
	/* audit: add new codes above this line */                                                 \
	/* kms: 800-899 */                                                                         \
	/* kms: add new codes above this line */

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
