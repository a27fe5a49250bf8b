/*
 * libFuzzer target for the topology key parser and the weight blob reader (docs/FORMATS.md).
 *
 * The first input byte picks the mode:
 *   even: the rest is a key *body*; the harness wraps it in a valid header, length and trailing
 *         SHA-256, so the fuzzer reaches the field checks instead of stopping at the digest
 *         (a hostile key writer can compute digests too);
 *   odd:  the rest is a weight blob, checked and decrypted against a fixed key made at start-up
 *         (the host controls blob bytes completely).
 *
 *   cmake -DEML_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && ./fuzz_topo corpus/
 *   seed corpus: any .tkey body (bytes 112..len-32) or .weights from `eml decompose`
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/mem.h"
#include "crypto/hash.h"
#include "eml/error.h"
#include "topo/topo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 112u

static eml_tkey *fixed_key(void)
{
	static eml_tkey *k;
	if (k != NULL)
		return k;
	eml_model *m = eml_model_new();
	m->ir_version = 8;
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	m->n_tensors = 1;
	m->tensors = eml_calloc(1, sizeof(eml_tensor));
	m->tensors[0].dtype = EML_DT_UINT8;
	m->tensors[0].rank = 1;
	m->tensors[0].dims[0] = 9000;
	m->tensors[0].length = 9000;
	m->data = eml_calloc(1, 9000);
	m->data_len = 9000;
	uint8_t *tk, *b;
	size_t tkl, bl;
	eml_decompose_opts o = {.chunk_size = 4096};
	if (eml_topo_decompose(m, &o, &tk, &tkl, &b, &bl) == EML_OK) {
		eml_tkey_parse(tk, tkl, &k);
		eml_free(tk);
		eml_free(b);
	}
	eml_model_free(m);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	if ((data[0] & 1) == 0) {
		size_t body = size - 1, n = HDR + body + 32;
		uint8_t *p = eml_calloc(1, n);
		if (p == NULL)
			return 0;
		memcpy(p, "EMLTKEY1", 8);
		p[8] = 1; /* version 1 */
		uint32_t total = (uint32_t)n, chunk = 4096;
		uint64_t plen = 1u << 24; /* room for real models used as seeds */
		memcpy(p + 12, &total, 4);
		memcpy(p + 96, &plen, 8);
		memcpy(p + 104, &chunk, 4);
		memcpy(p + HDR, data + 1, body);
		eml_sha256(p, n - 32, p + n - 32);
		eml_tkey *k = NULL;
		if (eml_tkey_parse(p, n, &k) == EML_OK)
			eml_tkey_free(k);
		eml_free(p);
	} else {
		eml_tkey *k = fixed_key();
		eml_blob_info bi;
		eml_blob_parse_header(data + 1, size - 1, &bi);
		if (k != NULL) {
			eml_model *m = NULL;
			uint32_t bad;
			if (eml_topo_join(k, data + 1, size - 1, &m, &bad) == EML_OK)
				eml_model_free(m);
		}
	}
	return 0;
}
