/*
 * One random end-to-end case: a generated model decomposed into topology key + blob, random
 * float inputs, and the set of every plaintext window that must never be seen outside the
 * client and the enclave (weights, the secret parts of the topology key, inputs; outputs are
 * added after the inference with eml_case_add_outputs).
 */
#ifndef EML_TEST_E2E_CASE_H
#define EML_TEST_E2E_CASE_H

#include <stddef.h>
#include <stdint.h>

#include "eml/client.h"
#include "gen_onnx.h"
#include "prop.h"

enum { EML_NEEDLE_INPUT = 1, EML_NEEDLE_OUTPUT, EML_NEEDLE_TKEY, EML_NEEDLE_WEIGHTS };
const char *eml_needle_name(int tag);

typedef struct eml_case {
	eml_model *model; /* the plain model (with data) */
	uint8_t *tkey, *blob;
	size_t tkey_len, blob_len;
	eml_gen_info info;
	int keep_names;
	float *data[4];
	eml_client_tensor in[4];
	eml_window_set *weights, *tkey_secret, *inputs, *outputs;
} eml_case;

/* Generate a case (max_layers 0 = generator default). Returns 0 or -1. */
int eml_case_new(eml_rng *rng, int max_layers, eml_case *c);
void eml_case_free(eml_case *c);
/* Add the windows of a result's outputs to c->outputs. */
void eml_case_add_outputs(eml_case *c, const eml_client_result *r);
/* The first needle of any of the case's sets found in hay, or -1. */
int eml_case_find(const eml_case *c, const uint8_t *hay, size_t len);

/* Windows of the topology key that are secret: not covered (at least half of the bytes) by
 * public facts (the model id and blob digest, known to the host; the operator and attribute
 * vocabulary, present in every eml binary). */
void eml_tkey_secret_windows(eml_window_set *set, const uint8_t *tkey, size_t tkey_len,
                             const uint8_t *blob, size_t blob_len, int tag);

#endif
