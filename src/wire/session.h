/*
 * Session state machines, transport-independent (docs/PROTOCOL.md §4).
 *
 * Client: new -> hello (CLIENT_HELLO with a fresh 32-byte nonce) -> accept_server_hello (the
 * caller's verifier checks the attestation document and yields the enclave's HPKE public key)
 * -> seal_request -> open_response -> seal_request -> ...   (one request outstanding at a time)
 *
 * Enclave: new (per-boot HPKE key) -> hello (the caller's callback produces an attestation
 * document for the client's nonce) -> open_request -> seal_response -> open_request -> ...
 *
 *   info       = "eml/1 request" || SHA-256(attestation document)
 *   request AAD  = "eml/1 request" || session_id (16) || u64be seq
 *   response AAD = "eml/1 response" || session_id (16) || u64be seq
 *
 * Every request gets a fresh HPKE setup (new enc) so no HPKE context ever seals more than one
 * message, and the response is sealed under that request's exporter (crypto/ohttp.h). Sequence
 * numbers start at 0 and must arrive exactly in order; anything else is EML_E_REPLAY. Sessions
 * fail closed: after any refusal (replay, authentication, malformed message) every later call
 * returns EML_E_SESSION_STATE and the caller must drop the connection.
 *
 * Frames are produced whole (header included) into an eml_buf; incoming messages are given as
 * (type, payload). An ERROR frame received where a reply was expected returns its code.
 * A session is not thread-safe. Free wipes every key.
 */
#ifndef EML_WIRE_SESSION_H
#define EML_WIRE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"
#include "wire/msg.h"

#define EML_SESSION_LABEL_REQUEST "eml/1 request"
#define EML_SESSION_LABEL_RESPONSE "eml/1 response"

/*
 * Client-side verifier: checks `doc` (structure, chain, signature, PCRs, age) and that it carries
 * `nonce`; on success writes the enclave's HPKE public key and SHA-256(doc). Returns EML_OK or the
 * refusal's code (attest range).
 */
typedef int (*eml_attest_verify_fn)(void *arg, const uint8_t *doc, size_t doc_len,
                                    const uint8_t nonce[EML_WIRE_NONCE_LEN], uint8_t pk_out[32],
                                    uint8_t doc_hash_out[32]);

/*
 * Enclave-side producer: an attestation document carrying `nonce` and the per-boot HPKE public key
 * `hpke_pk`. *doc is eml_alloc'd (the session frees it).
 */
typedef int (*eml_attest_doc_fn)(void *arg, const uint8_t nonce[EML_WIRE_NONCE_LEN],
                                 const uint8_t hpke_pk[32], uint8_t **doc, size_t *doc_len);

typedef struct eml_client_session eml_client_session;
typedef struct eml_enclave_session eml_enclave_session;

int eml_client_session_new(eml_client_session **out);
void eml_client_session_free(eml_client_session *s);
/* Appends a CLIENT_HELLO frame (versions we support, fresh nonce). */
int eml_client_session_hello(eml_client_session *s, eml_buf *frame);
/* Accepts the enclave's reply to the hello: SERVER_HELLO (verified by `verify`) or ERROR. */
int eml_client_session_accept(eml_client_session *s, uint8_t type, const uint8_t *payload,
                              size_t len, eml_attest_verify_fn verify, void *arg);
/* Seals one request plaintext (see eml_request_pt_encode) into a REQUEST frame. */
int eml_client_session_seal_request(eml_client_session *s, const uint8_t *pt, size_t pt_len,
                                    eml_buf *frame);
/* The same for a plaintext in pieces (eml_request_pt_parts), sealed straight into the frame. */
/* Set up the next request's HPKE context now (a fresh ephemeral key, as every request has; it
 * depends only on the enclave's key and document), so that sealing the request does not wait for
 * the X25519 work: the client calls it while it waits for a response. No-op when one is ready or
 * the session is not usable. */
int eml_client_session_prepare(eml_client_session *s);
int eml_client_session_seal_request_iov(eml_client_session *s, const eml_iov *parts, size_t n,
                                        eml_buf *frame);
/* Opens the reply to the outstanding request: RESPONSE or ERROR. *pt is eml_alloc'd. */
int eml_client_session_open_response(eml_client_session *s, uint8_t type, const uint8_t *payload,
                                     size_t len, uint8_t **pt, size_t *pt_len);
/* The same, decrypting over the ciphertext inside `payload`: *pt points into it (no copy of
 * megabytes of outputs); the caller wipes the payload when done with the plaintext. */
int eml_client_session_open_response_inplace(eml_client_session *s, uint8_t type, uint8_t *payload,
                                             size_t len, const uint8_t **pt, size_t *pt_len);
/* The chosen version and session id (after accept). */
uint16_t eml_client_session_version(const eml_client_session *s);
void eml_client_session_id(const eml_client_session *s, uint8_t id[EML_WIRE_SESSION_ID_LEN]);

/* sk/pk: the enclave's per-boot HPKE key pair (copied; wiped on free). */
int eml_enclave_session_new(const uint8_t sk[32], const uint8_t pk[32], eml_enclave_session **out);
void eml_enclave_session_free(eml_enclave_session *s);
/* Processes a CLIENT_HELLO payload and appends the SERVER_HELLO frame. */
int eml_enclave_session_hello(eml_enclave_session *s, const uint8_t *payload, size_t len,
                              eml_attest_doc_fn make_doc, void *arg, eml_buf *frame);
/* Opens a REQUEST payload. *pt is eml_alloc'd (wiped on eml_free). */
int eml_enclave_session_open_request(eml_enclave_session *s, const uint8_t *payload, size_t len,
                                     uint8_t **pt, size_t *pt_len);
/* The same, decrypting in place inside `payload` (*pt points into it; the caller wipes it). */
int eml_enclave_session_open_request_inplace(eml_enclave_session *s, uint8_t *payload, size_t len,
                                             const uint8_t **pt, size_t *pt_len);
/* Seals the response to the request just opened and appends the RESPONSE frame. */
int eml_enclave_session_seal_response(eml_enclave_session *s, const uint8_t *pt, size_t pt_len,
                                      eml_buf *frame);
int eml_enclave_session_seal_response_iov(eml_enclave_session *s, const eml_iov *parts, size_t n,
                                          eml_buf *frame);
/* SHA-256 of the attestation document served in this session (for receipts and audit). */
void eml_enclave_session_doc_hash(const eml_enclave_session *s, uint8_t out[32]);
/* The session id chosen in the hello (for receipts and audit). */
void eml_enclave_session_id(const eml_enclave_session *s, uint8_t id[EML_WIRE_SESSION_ID_LEN]);

/* Appends an ERROR frame carrying `code` (what the enclave sends when it refuses a frame). */
int eml_session_error_frame(eml_buf *frame, int code);

/* The versions this build speaks, highest first. */
extern const uint16_t eml_wire_versions[];
extern const size_t eml_wire_versions_count;

#endif
