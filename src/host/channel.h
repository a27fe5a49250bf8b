/*
 * The enclave's side of the host channel (docs/PROTOCOL.md §3.6), blocking with deadlines, over a
 * connected socket (vsock in production). The host is untrusted: a fetched blob must still be
 * checked against the digest pinned in the topology key (eml_blob_decrypt does). Thread-safe for
 * distinct fds.
 */
#ifndef EML_HOST_CHANNEL_H
#define EML_HOST_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "wire/frame.h"
#include "wire/msg.h"

/* BLOB_FETCH -> BLOB_DATA (*blob eml_alloc'd) or EML_E_STORE_NOT_FOUND (BLOB_NOT_FOUND naming
 * the same id). An ERROR reply returns its code; any other reply is EML_E_MSG_UNEXPECTED.
 * limits NULL = defaults (256 MiB blobs). */
int eml_channel_fetch_blob(int fd, const uint8_t id[EML_WIRE_MODEL_ID_LEN],
                           const eml_frame_limits *limits, int timeout_ms, uint8_t **blob,
                           size_t *n);
/* AUDIT_RECORD (1..EML_WIRE_MAX_AUDIT_RECORD bytes); no reply is expected. */
int eml_channel_send_audit(int fd, const uint8_t *record, size_t n, int timeout_ms);

#endif
