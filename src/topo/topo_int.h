/*
 * Internals shared by the files of src/topo/ (not for other modules).
 */
#ifndef EML_TOPO_TOPO_INT_H
#define EML_TOPO_TOPO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "topo/topo.h"

#define EML_TKEY_HEADER_LEN 112u
#define EML_TKEY_FLAG_IO_NAMES 0x0001u

/* The fixed-size header fields of a topology key (docs/FORMATS.md §1.1). */
typedef struct eml_tkey_hdr {
	uint16_t flags;
	uint8_t model_id[EML_MODEL_ID_LEN];
	uint8_t key[32];
	uint8_t digest[32];
	uint64_t plaintext_len;
	uint32_t chunk_size;
} eml_tkey_hdr;

struct eml_tkey {
	eml_tkey_hdr h;
	eml_model *m;
	uint8_t *raw; /* the validated key bytes, to build fresh copies of the model */
	size_t raw_len;
};

/* Serialize the topology of m (tensor offsets replaced by `offsets` when not NULL). */
int eml_tkey_serialize(const eml_model *m, const uint64_t *offsets, const eml_tkey_hdr *h,
                       uint8_t **out, size_t *out_len);
int eml_tkey_parse_header(const uint8_t *p, size_t n, eml_tkey_hdr *h);
int eml_tkey_parse_body(const uint8_t *p, size_t n, uint64_t plaintext_len, eml_model **out);
/* A fresh topology-only copy of the key's model. */
int eml_tkey_model_copy(const eml_tkey *k, eml_model **out);
int eml_blob_chunk_size_ok(uint64_t c);

#endif
