/* Attestation <-> session adapters (see bind.h; DESIGN §2 step 3, §4). */
#include "attest/bind.h"

#include <string.h>

#include "common/guard.h"
#include "common/mem.h"

int eml_attest_session_verify(void *arg, const uint8_t *doc, size_t doc_len,
                              const uint8_t nonce[EML_ATTEST_SESSION_NONCE_LEN],
                              uint8_t pk_out[EML_ATTEST_HPKE_PK_LEN], uint8_t doc_hash_out[32])
{
	int rc = EML_OK;
	const eml_attest_verifier *v = arg;
	eml_attest_claims *c = eml_alloc(sizeof(*c));
	eml_verify_opts o;
	EML_ENSURE(v != NULL && v->policy != NULL, EML_E_ARG);
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	memset(&o, 0, sizeof(o));
	o.now_ms = v->now_ms;
	o.nonce = nonce;
	o.nonce_len = EML_ATTEST_SESSION_NONCE_LEN;
	EML_GUARD(eml_attest_verify(doc, doc_len, v->policy, &o, c));
	/* DESIGN §4: public_key carries the per-boot HPKE X25519 key, 32 raw bytes. */
	EML_ENSURE(c->has_public_key && c->public_key_len == EML_ATTEST_HPKE_PK_LEN,
	           EML_E_ATTEST_KEY_BINDING);
	if (v->receipt_pub != NULL)
		EML_GUARD(eml_attest_user_data_check(c, v->receipt_pub));
	memcpy(pk_out, c->public_key, EML_ATTEST_HPKE_PK_LEN);
	memcpy(doc_hash_out, c->doc_sha256, 32);
	if (v->claims != NULL)
		memcpy(v->claims, c, sizeof(*c));
out:
	eml_free(c); /* wipes */
	return rc;
}

int eml_attest_session_doc(void *arg, const uint8_t nonce[EML_ATTEST_SESSION_NONCE_LEN],
                           const uint8_t hpke_pk[EML_ATTEST_HPKE_PK_LEN], uint8_t **doc,
                           size_t *doc_len)
{
	const eml_attest_producer *p = arg;
	if (p == NULL || p->nsm == NULL)
		return EML_E_ARG;
	return eml_nsm_attest(p->nsm, p->user_data, p->user_data_len, nonce,
	                      EML_ATTEST_SESSION_NONCE_LEN, hpke_pk, EML_ATTEST_HPKE_PK_LEN, doc,
	                      doc_len);
}
