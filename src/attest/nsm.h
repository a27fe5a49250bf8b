/*
 * The Nitro Secure Module, two backends behind one interface (DESIGN §5):
 *  - device: /dev/nsm, the NSM driver's raw ioctl with CBOR requests (Linux uapi
 *    include/uapi/linux/nsm.h; request/response schema of aws-nitro-enclaves-nsm-api);
 *  - sim: a software NSM issuing documents in the identical format, signed by a per-boot P-384
 *    leaf under a local CA (root -> intermediate -> leaf) kept in a data folder.
 * Mode "auto" picks the device when present and otherwise refuses: simulation is never silent.
 *
 * Thread-safety: one eml_nsm per thread, or serialise calls.
 */
#ifndef EML_ATTEST_NSM_H
#define EML_ATTEST_NSM_H

#include <stddef.h>
#include <stdint.h>

#include "attest/doc.h"
#include "common/cursor.h"

/* Linux uapi nsm.h limits. */
#define EML_NSM_REQUEST_MAX 0x1000
#define EML_NSM_RESPONSE_MAX 0x3000
#define EML_NSM_RANDOM_MAX 256
#define EML_NSM_PCR_COUNT 16 /* PCRs the NSM reports in documents (0..15) */
#define EML_NSM_DEFAULT_DEVICE "/dev/nsm"

typedef struct eml_nsm_opts {
	const char *sim_ca_dir;  /* sim: CA folder; NULL: $XDG_DATA_HOME/eml/sim-ca (or
	                            ~/.local/share/eml/sim-ca) */
	const char *device_path; /* device: NULL = /dev/nsm */
	const char *exe_path;    /* sim: binary measured into PCR0; NULL = /proc/self/exe */
} eml_nsm_opts;

typedef struct eml_nsm eml_nsm;

/*
 * Open an NSM: mode "device", "sim" or "auto" (device if present, else EML_E_ATTEST_NO_DEVICE).
 * o may be NULL. Errors: EML_E_ATTEST_NO_DEVICE ("no NSM device; use --nsm sim for
 * development"), EML_E_PERMISSION, EML_E_USAGE (unknown mode), EML_E_ATTEST_SIM_CA, EML_E_NOMEM.
 */
int eml_nsm_open(const char *mode, const eml_nsm_opts *o, eml_nsm **out);
/*
 * Ask for an attestation document binding user_data, nonce and public_key (each NULL or at most
 * 1024 bytes). *doc is eml_alloc'd (free with eml_free).
 */
int eml_nsm_attest(eml_nsm *nsm, const uint8_t *user_data, size_t ud_len, const uint8_t *nonce,
                   size_t n_len, const uint8_t *public_key, size_t pk_len, uint8_t **doc,
                   size_t *doc_len);
/* Read PCR index (0..31): value (up to 64 bytes) and whether it is locked. */
int eml_nsm_describe_pcr(eml_nsm *nsm, unsigned index, uint8_t *value, size_t *value_len,
                         int *locked);
/* n (<= EML_NSM_RANDOM_MAX per call; loops for more) random bytes from the NSM. */
int eml_nsm_get_random(eml_nsm *nsm, uint8_t *buf, size_t n);
int eml_nsm_is_simulated(const eml_nsm *nsm);
void eml_nsm_free(eml_nsm *nsm);

/* ---- device backend pieces, exposed for byte-fixture tests ---- */

/* {"Attestation": {"user_data": b|null, "nonce": b|null, "public_key": b|null}} */
int eml_nsm_req_attestation(const uint8_t *user_data, size_t ud_len, const uint8_t *nonce,
                            size_t n_len, const uint8_t *public_key, size_t pk_len, eml_buf *req);
/* {"DescribePCR": {"index": u16}} */
int eml_nsm_req_describe_pcr(unsigned index, eml_buf *req);
/* "GetRandom" */
int eml_nsm_req_get_random(eml_buf *req);
/* {"Attestation": {"document": bstr}} -> document (eml_alloc'd). {"Error": text} and anything
 * else: EML_E_ATTEST_NSM. */
int eml_nsm_resp_attestation(const uint8_t *resp, size_t len, uint8_t **doc, size_t *doc_len);
/* {"DescribePCR": {"lock": bool, "data": bstr(32|48|64)}} */
int eml_nsm_resp_describe_pcr(const uint8_t *resp, size_t len, uint8_t *value, size_t *value_len,
                              int *locked);
/* {"GetRandom": {"random": bstr}} -> at most cap bytes. */
int eml_nsm_resp_get_random(const uint8_t *resp, size_t len, uint8_t *buf, size_t cap, size_t *n);

/* ---- simulated backend pieces ---- */

/* The default CA folder (static buffer of the caller, cap bytes). */
int eml_nsm_sim_default_ca_dir(char *out, size_t cap);
/* Create the CA in dir if absent (root + intermediate, keys 0600); DER of the root to
 * *root_der when not NULL (eml_alloc'd). */
int eml_nsm_sim_ca_ensure(const char *dir, uint8_t **root_der, size_t *root_len);
/*
 * The PCRs the simulated NSM reports for the binary at exe_path (NULL: /proc/self/exe):
 * PCR0 = extend(0^48, SHA-384(binary)); PCR1 = extend(0^48, SHA-384(EML_SIM_PCR1_INPUT));
 * PCR2 = extend(0^48, SHA-384(EML_SIM_PCR2_INPUT)); extend(p, m) = SHA-384(p || m).
 */
#define EML_SIM_PCR1_INPUT "EphemeralML simulated NSM: PCR1 kernel and boot ramfs v1"
#define EML_SIM_PCR2_INPUT "EphemeralML simulated NSM: PCR2 user application v1"
int eml_nsm_sim_pcrs(const char *exe_path, uint8_t pcr[3][48]);
/* PCR extension as Nitro does it: pcr = SHA-384(pcr || measurement). */
int eml_nsm_pcr_extend(uint8_t pcr[48], const uint8_t *data, size_t len);

#endif
