/*
 * Enclave side of KMS sealing: the small surface enclave.c calls (docs/KMS.md, "Enclave hook").
 * A request's topology-key field may carry a sealed topology key (magic "EMLSEAL1"); the enclave
 * then unseals it through KMS Decrypt with Recipient before inference.
 */
#ifndef EML_KMS_ENCLAVE_KMS_H
#define EML_KMS_ENCLAVE_KMS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/nsm.h"
#include "kms/creds.h"
#include "kms/kms.h"

/* 1 when the bytes are a sealed topology key. */
int eml_kms_is_sealed(const uint8_t *p, size_t n);

/* The model id named by a sealed key's header (clients need it to route the request). */
int eml_kms_sealed_model_id(const uint8_t *p, size_t n, uint8_t id[16]);

/* KMS settings of the enclave from its environment: EML_KMS_ENDPOINT (required, else
 * EML_E_USAGE), EML_KMS_REGION, EML_KMS_CA_FILE, EML_KMS_VIA (where to connect instead of the
 * endpoint's host: vsock:3:8000 in Nitro), and, only if both are set, AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (development; in Nitro the enclave's environment has
 * none and the host passes them over the host channel, kms/creds.h). Pointers refer to the
 * environment. */
int eml_kms_cfg_from_env(eml_kms_cfg *out);

/* If tkey is sealed, unseal it through KMS with a fresh RSA-2048 recipient key attested by nsm
 * (nsm_lock, when not NULL, is held only around the NSM call, not the KMS round trip);
 * *opened receives the plaintext topology key (eml_alloc'd; caller eml_free()s, which wipes).
 * Credentials: the environment's when set, else creds_fn's (the host's, over the host channel;
 * NULL: none, EML_E_KMS_CREDENTIALS). If tkey is not sealed, *opened = NULL and EML_OK. */
int eml_kms_enclave_unseal(eml_nsm *nsm, pthread_mutex_t *nsm_lock, const uint8_t *tkey,
                           size_t tkey_len, eml_kms_creds_fn creds_fn, void *creds_ctx,
                           uint8_t **opened, size_t *opened_len);

#endif
