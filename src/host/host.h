/*
 * `eml host`: the untrusted parent-instance service (DESIGN §1, §2; docs/PROTOCOL.md §5).
 *
 *  - On `listen`, a connection whose first frame is a client frame (CLIENT_HELLO, REQUEST) is
 *    paired with a fresh connection to `enclave`; from then on every frame in either direction is
 *    forwarded byte for byte (the host reads only the 5-byte frame header, to delimit frames and
 *    enforce the size limits). A connection whose first frame is a store request (UPLOAD,
 *    STORE_LIST, STORE_REMOVE) is served from the weight store.
 *  - On `enclave_channel`, the enclave asks for blobs (BLOB_FETCH -> BLOB_DATA / BLOB_NOT_FOUND)
 *    and hands over audit records (AUDIT_RECORD, appended durably to `audit_log` when set, as
 *    u32be length | record; dropped otherwise), and asks for the AWS credentials of its KMS
 *    client (KMS_CREDS_FETCH -> KMS_CREDS, from `kms_credentials`).
 *  - Garbage (unknown frame types, oversize lengths, frames out of place) is answered with an
 *    ERROR frame and that connection is closed; the host itself carries on.
 * Nothing else is kept: no payload is logged or written anywhere.
 */
#ifndef EML_HOST_HOST_H
#define EML_HOST_HOST_H

#include <signal.h>
#include <stdint.h>

#include "wire/frame.h"

typedef struct eml_host_config {
	const char *listen;          /* address clients and `eml upload/store` connect to */
	const char *enclave;         /* address of the enclave's client port */
	const char *enclave_channel; /* address the enclave connects to for blobs and audit */
	const char *store_dir;
	const char *audit_log;       /* optional (docs/AUDIT.md §4) */
	uint64_t audit_rotate_bytes; /* rotate to audit_log.N before exceeding this; 0 = never */
	int audit_no_fsync;          /* skip the fdatasync after each record (tests, benchmarks) */
	/* Where the AWS credentials the enclave asks for (KMS_CREDS_FETCH) come from: "env" or a
	 * JSON file (src/kms/creds.h, docs/KMS.md); NULL: the host passes none. */
	const char *kms_credentials;
	eml_frame_limits limits;
	uint64_t max_blob;      /* largest accepted upload (<= limits.weight_max) */
	int idle_timeout_ms;    /* per connection */
	int frame_timeout_ms;   /* a frame must arrive whole this long after its first byte */
	int connect_timeout_ms; /* to the enclave */
	size_t max_conns;
} eml_host_config;

/* Defaults for everything but the addresses and the store. */
void eml_host_config_defaults(eml_host_config *c);

/* Run until *stop becomes non-zero. Returns EML_OK after a requested stop. */
int eml_host_run(const eml_host_config *c, const volatile sig_atomic_t *stop);

#endif
