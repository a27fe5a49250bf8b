/*
 * libFuzzer target for the weight blob reader (src/topo/, docs/FORMATS.md): header parsing and
 * chunk-by-chunk decryption of a blob the host controls completely. Random bytes never get past
 * the first chunk tag, so the harness starts from a genuine blob (made once, 3 chunks) and the
 * input describes how the host tampers with it:
 *   byte 0: 0 = keep the length, 1 = cut (byte 1)+1 bytes off the end, 2 = append (byte 1)+1 bytes
 *   then records of 3 bytes: u16 little-endian offset (mod the length), byte to XOR there.
 * The blob must decrypt iff it is byte-for-byte the genuine one (header, tags and padding are
 * all covered by the chunk tags or the key's SHA-256), and a refused blob leaves `out` wiped.
 *   seed corpus: fuzz/corpus/blob/ (fuzz/make-corpus)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "topo/topo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PLAIN 9000u /* one uint8 tensor: 3 chunks of 4 KiB after alignment and bucketing */

static eml_tkey *key;
static uint8_t *blob;
static size_t blob_len;

static void setup(void)
{
	eml_model *m = eml_model_new();
	if (m == NULL)
		abort();
	m->ir_version = 8;
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	m->n_tensors = 1;
	m->tensors = eml_calloc(1, sizeof(eml_tensor));
	m->tensors[0].dtype = EML_DT_UINT8;
	m->tensors[0].rank = 1;
	m->tensors[0].dims[0] = PLAIN;
	m->tensors[0].length = PLAIN;
	m->data = eml_calloc(1, PLAIN);
	m->data_len = PLAIN;
	for (size_t i = 0; i < PLAIN; i++)
		m->data[i] = (uint8_t)(i * 7 + 1);
	uint8_t *tk;
	size_t tkl;
	eml_decompose_opts o = {.chunk_size = EML_BLOB_MIN_CHUNK};
	if (eml_topo_decompose(m, &o, &tk, &tkl, &blob, &blob_len) != EML_OK ||
	    eml_tkey_parse(tk, tkl, &key) != EML_OK || blob_len > 65535)
		abort();
	eml_free(tk);
	eml_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (key == NULL)
		setup();
	if (size < 2)
		return 0;
	size_t n = blob_len;
	int changed = 0;
	if (data[0] == 1) {
		n -= (size_t)data[1] + 1;
		changed = 1;
	} else if (data[0] == 2) {
		n += (size_t)data[1] + 1;
		changed = 1;
	} else if (data[0] != 0) {
		return 0;
	}
	uint8_t *b = eml_calloc(1, n);
	if (b == NULL)
		abort();
	memcpy(b, blob, n < blob_len ? n : blob_len);
	for (size_t i = 2; i + 3 <= size; i += 3) {
		size_t off = (size_t)(data[i] | data[i + 1] << 8) % n;
		b[off] ^= data[i + 2];
	}
	if (!changed)
		changed = memcmp(b, blob, n) != 0;

	eml_blob_info bi;
	if (eml_blob_parse_header(b, n, &bi) == EML_OK)
		(void)eml_blob_expected_len(&bi);
	size_t out_len = (size_t)eml_tkey_plaintext_len(key);
	uint8_t *out = eml_alloc(out_len);
	if (out == NULL)
		abort();
	uint32_t bad;
	int rc = eml_blob_decrypt(key, b, n, out, out_len, &bad);
	if ((rc == EML_OK) == changed)
		abort();
	if (rc == EML_OK) {
		for (size_t i = 0; i < PLAIN; i++)
			if (out[i] != (uint8_t)(i * 7 + 1))
				abort();
	} else {
		for (size_t i = 0; i < out_len; i++)
			if (out[i] != 0)
				abort(); /* documented: wiped on failure */
	}
	eml_free(out);
	eml_model *m = NULL;
	if (eml_topo_join(key, b, n, &m, &bad) == EML_OK) {
		if (changed)
			abort();
		eml_model_free(m);
	}
	eml_free(b);
	return 0;
}
