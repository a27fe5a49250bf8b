/* Private to src/attest/: the NSM handle shared by the device (nsm.c) and sim (nsm_sim.c). */
#ifndef EML_ATTEST_NSM_IMPL_H
#define EML_ATTEST_NSM_IMPL_H

#include "attest/nsm.h"
#include "common/file.h"
#include "crypto/sig.h"

struct eml_nsm {
	int sim;
	int fd;
	/* sim */
	eml_p384_key *leaf_key;
	uint8_t *leaf_der, *inter_der, *root_der;
	size_t leaf_len, inter_len, root_len;
	int64_t leaf_not_after_s;
	eml_p384_key *inter_key; /* kept to re-issue the per-boot leaf when it nears expiry */
	char module_id[64];
	uint8_t pcrs[EML_NSM_PCR_COUNT][48];
};

int eml_nsm_sim_init(eml_nsm *n, const eml_nsm_opts *o);
int eml_nsm_sim_attest(eml_nsm *n, const uint8_t *user_data, size_t ud_len, const uint8_t *nonce,
                       size_t n_len, const uint8_t *public_key, size_t pk_len, uint8_t **doc,
                       size_t *doc_len);
void eml_nsm_sim_cleanup(eml_nsm *n);

#endif
