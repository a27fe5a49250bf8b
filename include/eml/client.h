/*
 * libeml client API: attest an enclave through the untrusted host, then run inferences whose
 * inputs, topology key and outputs only ever travel sealed to that attested enclave
 * (DESIGN §2 steps 3-6; docs/PROTOCOL.md).
 *
 *   eml_client *c;
 *   eml_client_opts o = {.host = "tcp:127.0.0.1:7000", .policy_path = "policy.json"};
 *   if (eml_client_connect(&o, &c) == EML_OK) {            // hello + attestation verified
 *           eml_client_result *r;
 *           eml_client_infer(c, tkey, tkey_len, inputs, n, &r);
 *           ... eml_client_result_tensor(r, 0) ...
 *           eml_client_result_free(r);                     // wipes the outputs
 *           eml_client_free(c);
 *   }
 *
 * Ownership: the client copies nothing it is given beyond the call; results are owned by the
 * eml_client_result and wiped on free. Errors are codes from eml/error.h (eml_err_str gives the
 * fixed text). Thread-safety: one eml_client per thread; distinct clients are independent.
 */
#ifndef EML_CLIENT_H
#define EML_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "eml/error.h"

#define EML_CLIENT_MAX_RANK 8

/* dtype numbers are ONNX's TensorProto.DataType (1 float, 7 int64, 9 bool, ...). */
typedef struct eml_client_tensor {
	const char *name; /* graph input name (kept names), or NULL: by position */
	int32_t dtype;
	uint32_t rank;
	int64_t dims[EML_CLIENT_MAX_RANK];
	const void *data;
	uint64_t bytes;
} eml_client_tensor;

typedef struct eml_client_opts {
	const char *host;        /* the host's address: tcp:HOST:PORT, unix:PATH, vsock:CID:PORT */
	const char *policy_path; /* attestation policy JSON (docs/POLICY.md) */
	int timeout_ms;          /* per exchange; 0 = 60 s */
} eml_client_opts;

typedef struct eml_client_attestation {
	char module_id[257];
	uint64_t timestamp_ms;
	uint8_t pcr0[48], pcr1[48], pcr2[48];
	uint8_t doc_sha256[32];
	uint8_t enclave_key_sha256[32]; /* SHA-256 of the enclave's per-boot HPKE public key */
	int simulated;                  /* the root is a local simulation root, not AWS's */
	int debug_mode;
} eml_client_attestation;

typedef struct eml_client eml_client;
typedef struct eml_client_result eml_client_result;

/* Connect to the host, say hello with a fresh nonce, verify the attestation document against the
 * policy (root, PCRs, age, nonce, key binding). Nothing else is sent unless this succeeds. */
int eml_client_connect(const eml_client_opts *o, eml_client **out);
/* The verified claims of the enclave this client talks to. */
void eml_client_attestation_get(const eml_client *c, eml_client_attestation *out);
/* One inference: seal {model id, topology key, inputs} to the enclave, open the sealed outputs.
 * After a refusal the session is closed (fail closed); connect again to continue. */
int eml_client_infer(eml_client *c, const uint8_t *tkey, size_t tkey_len,
                     const eml_client_tensor *inputs, size_t n_inputs, eml_client_result **out);
void eml_client_free(eml_client *c);

size_t eml_client_result_count(const eml_client_result *r);
/* Output i (name NULL when names were not kept), valid until eml_client_result_free. */
const eml_client_tensor *eml_client_result_tensor(const eml_client_result *r, size_t i);
/* The signed inference receipt, if any (docs/AUDIT.md). */
const uint8_t *eml_client_result_receipt(const eml_client_result *r, size_t *len);
void eml_client_result_free(eml_client_result *r);

#endif
