/*
 * Enclave side of KMS sealing (src/kms/enclave_kms.h).
 */
#include "kms/enclave_kms.h"

#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "kms/sealed.h"

int eml_kms_is_sealed(const uint8_t *p, size_t n)
{
	return p && n >= 8 && memcmp(p, EML_SEALED_MAGIC, 8) == 0;
}

int eml_kms_sealed_model_id(const uint8_t *p, size_t n, uint8_t id[16])
{
	eml_sealed s;
	int rc = eml_sealed_parse(p, n, &s);
	if (rc == EML_OK)
		memcpy(id, s.model_id, 16);
	return rc;
}

int eml_kms_cfg_from_env(eml_kms_cfg *out)
{
	memset(out, 0, sizeof(*out));
	out->endpoint = getenv("EML_KMS_ENDPOINT");
	out->region = getenv("EML_KMS_REGION");
	out->ca_file = getenv("EML_KMS_CA_FILE");
	out->via = getenv("EML_KMS_VIA");
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	if (ak != NULL && ak[0] != '\0' && sk != NULL && sk[0] != '\0') {
		out->creds.access_key = ak;
		out->creds.secret_key = sk;
		out->creds.session_token = getenv("AWS_SESSION_TOKEN");
	}
	return out->endpoint != NULL && out->endpoint[0] != '\0' ? EML_OK : EML_E_USAGE;
}

typedef struct nsm_ref {
	eml_nsm *nsm;
	pthread_mutex_t *lock;
} nsm_ref;

static int nsm_attest(void *ctx, const uint8_t *spki, size_t spki_len, uint8_t **doc,
                      size_t *doc_len)
{
	nsm_ref *r = ctx;
	if (r->lock)
		pthread_mutex_lock(r->lock);
	int rc = eml_nsm_attest(r->nsm, NULL, 0, NULL, 0, spki, spki_len, doc, doc_len);
	if (r->lock)
		pthread_mutex_unlock(r->lock);
	return rc;
}

int eml_kms_enclave_unseal(eml_nsm *nsm, pthread_mutex_t *nsm_lock, const uint8_t *tkey,
                           size_t tkey_len, eml_kms_creds_fn creds_fn, void *creds_ctx,
                           uint8_t **opened, size_t *opened_len)
{
	int rc = EML_OK;
	eml_kms_cfg c;
	eml_kms_creds *cr = NULL;
	nsm_ref ref = {nsm, nsm_lock};
	*opened = NULL;
	*opened_len = 0;
	if (!eml_kms_is_sealed(tkey, tkey_len))
		return EML_OK;
	EML_GUARD(eml_kms_cfg_from_env(&c));
	if (c.creds.access_key == NULL) {
		/* Nitro: the parent's role credentials, passed by the host on request (creds.h). */
		EML_ENSURE(creds_fn != NULL, EML_E_KMS_CREDENTIALS);
		cr = eml_alloc(sizeof(*cr));
		EML_ENSURE(cr != NULL, EML_E_NOMEM);
		EML_GUARD(creds_fn(creds_ctx, cr));
		c.creds = eml_kms_creds_view(cr);
	}
	EML_GUARD(eml_kms_unseal(&c, tkey, tkey_len, nsm_attest, &ref, opened, opened_len));
out:
	eml_free(cr); /* wipes */
	return rc;
}
