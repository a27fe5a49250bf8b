/*
 * Client side of the host's weight-store administration (docs/PROTOCOL.md §5): one connection per
 * call, one request frame, one reply frame, with a deadline. The host is untrusted; these calls
 * only move ciphertext blobs and model ids. Thread-safe (no shared state).
 */
#ifndef EML_CLIENT_HOST_CLIENT_H
#define EML_CLIENT_HOST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "wire/msg.h"

#define EML_HOST_CLIENT_TIMEOUT_MS 60000

/* Upload a weight blob; *out (optional) is the host's entry for it. An ERROR reply returns its
 * code (e.g. EML_E_STORE_REFUSED, EML_E_STORE_TOO_LARGE). */
int eml_host_upload(const char *addr, const uint8_t *blob, size_t n, int timeout_ms,
                    eml_store_entry *out);
/* *out is eml_alloc'd (eml_free). */
int eml_host_store_list(const char *addr, int timeout_ms, eml_store_entry **out, size_t *count);
int eml_host_store_remove(const char *addr, const uint8_t id[EML_WIRE_MODEL_ID_LEN],
                          int timeout_ms);

#endif
