/*
 * ONNX loading and saving, and the operator support table (DESIGN §2, §10). This module is the
 * only code that sees protobuf-c ONNX types; everything else works on the model IR
 * (src/model/model.h).
 *
 * What is loaded: ModelProto with IR version EML_ONNX_MIN_IR_VERSION..EML_ONNX_MAX_IR_VERSION,
 * any opset imports (the support table decides what is runnable; loading never refuses an
 * unknown operator), the main graph and every subgraph (GRAPH/GRAPHS attributes), initializers
 * (an initializer also listed as a graph input is a weight, not an input), Constant payloads
 * (value, value_float(s), value_int(s) all become tensors), TENSOR attributes, and external data
 * relative to the model's folder. Names, doc strings, producer, metadata and value_info are
 * dropped, except the main graph's input/output names, which go into value->name (decompose
 * decides whether to keep them). docs/ONNX.md lists limits and refusals.
 *
 * Memory: the decoded protobuf lives in eml_alloc memory (wiped on free); the model and every
 * buffer returned are eml_alloc'd. All functions are thread-safe (no global state).
 */
#ifndef EML_ONNX_ONNX_H
#define EML_ONNX_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Named limits of the loader (the model IR's EML_MAX_* apply as well). */
#define EML_ONNX_MAX_FILE_BYTES ((size_t)2 << 30) /* protobuf's own 2 GiB message ceiling */
#define EML_ONNX_MIN_IR_VERSION 3
#define EML_ONNX_MAX_IR_VERSION 10
#define EML_ONNX_MIN_OPSET 7
#define EML_ONNX_MAX_OPSET 20
#define EML_ONNX_MAX_OPSET_IMPORTS 64u
#define EML_ONNX_MAX_SYMBOLS 65536u
/* Protobuf message nesting (a main graph with EML_MAX_SUBGRAPH_DEPTH levels of subgraphs needs
 * about 3 levels per subgraph plus ~10): checked on the wire before protobuf-c recurses. */
#define EML_ONNX_MAX_MESSAGE_DEPTH 64

/* Load a model file; external data is resolved relative to the model file's folder.
 * On success *out is a new model (free with eml_model_free); on failure *out is untouched. */
int eml_onnx_load_file(const char *path, eml_model **out);
/* Load from bytes. base_dir may be NULL: then any external-data tensor is refused
 * (EML_E_ONNX_EXTERNAL_DATA). The caller keeps ownership of p. */
int eml_onnx_load_bytes(const uint8_t *p, size_t n, const char *base_dir, eml_model **out);

/* Serialize an IR model (with data) back to ModelProto bytes (eml_alloc'd, free with eml_free).
 * Value names are the kept value->name when set, else generated ("v<id>"); node names are empty;
 * initializers and Constant payloads come from m->data and are written as raw_data; a Constant's
 * value_float(s)/value_int(s) keep their original attribute type (attr->orig_type); opset imports
 * and ir_version are kept (if ir_version < 4, initializers are also listed as graph inputs so ONNX
 * Runtime accepts the file). EML_E_ARG when m has no data. */
int eml_onnx_save(const eml_model *m, uint8_t **out, size_t *len);
/* eml_onnx_save, then an atomic write (mode 0600): no partial file is ever visible. */
int eml_onnx_save_file(const eml_model *m, const char *path);

/* The operator support table: what the engine implements, in one plain array
 * (src/onnx/support.c) shared with the engine. domain "" is the default ONNX domain. */
typedef struct eml_op_support {
	const char *domain;
	const char *op_type;
	int since; /* first supported opset version (inclusive) */
	int until; /* last supported opset version (inclusive) */
} eml_op_support;
const eml_op_support *eml_onnx_support_table(size_t *n);
/* 1 when (domain, op_type) is supported at that opset version of its domain, 0 otherwise.
 * "ai.onnx" and "" (or NULL) both name the default domain. */
int eml_onnx_op_supported(const char *domain, const char *op_type, int64_t opset);

typedef struct eml_unsupported_op {
	char *domain;
	char *op_type;
	int64_t opset; /* the model's import of that domain; 0 when not imported */
	uint32_t count;
} eml_unsupported_op;
/* Walk all graphs (subgraphs included); list each unsupported (domain, op type, opset) with its
 * node count, sorted by domain, op type, opset (eml_alloc'd; *list is NULL when *n is 0).
 * Returns EML_OK even when something is unsupported (the caller decides); errors are NOMEM/ARG. */
int eml_onnx_check(const eml_model *m, eml_unsupported_op **list, size_t *n);
void eml_onnx_unsupported_free(eml_unsupported_op *list, size_t n);

#endif
