/*
 * Tensors on the command line: NumPy .npy (format version 1.0/2.0/3.0, little-endian, C order)
 * and ONNX TensorProto .pb (the format of ONNX test data), both read and written. Reading is
 * strict and bounded (named limits checked before allocating).
 *
 * An eml_tensor_file owns its data (eml_alloc; wiped on free). Thread-safe.
 */
#ifndef EML_TENSOR_TENSOR_IO_H
#define EML_TENSOR_TENSOR_IO_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define EML_TENSOR_FILE_MAX_BYTES ((size_t)4 << 30)

typedef struct eml_tensor_file {
	int32_t dtype; /* enum eml_dtype */
	uint32_t rank;
	int64_t dims[EML_MAX_RANK];
	uint8_t *data; /* little-endian element bytes, C order */
	uint64_t bytes;
	char *name; /* TensorProto name for .pb, NULL for .npy */
} eml_tensor_file;

/* Parse from memory; the format is chosen by content (.npy magic "\x93NUMPY", else TensorProto). */
int eml_tensor_parse(const uint8_t *p, size_t n, eml_tensor_file *out);
int eml_tensor_parse_npy(const uint8_t *p, size_t n, eml_tensor_file *out);
int eml_tensor_parse_pb(const uint8_t *p, size_t n, eml_tensor_file *out);
int eml_tensor_read_file(const char *path, eml_tensor_file *out);

/* Serialize to a fresh eml_alloc'd buffer. */
int eml_tensor_to_npy(const eml_tensor_file *t, uint8_t **out, size_t *len);
int eml_tensor_to_pb(const eml_tensor_file *t, uint8_t **out, size_t *len);
/* Write atomically; the format follows the extension (.npy or .pb). */
int eml_tensor_write_file(const char *path, const eml_tensor_file *t);

void eml_tensor_file_cleanup(eml_tensor_file *t); /* wipes and frees data and name */

#endif
