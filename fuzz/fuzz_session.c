/*
 * libFuzzer target for the session state machines (src/wire/session.h) fed hostile messages.
 * The first byte picks the mode, the second is a frame type where one is needed:
 *   0: the enclave answers this CLIENT_HELLO payload (versions, nonce);
 *   1: a client that sent its hello accepts this reply (SERVER_HELLO or ERROR), with a verifier
 *      that accepts any document of the right shape, so the fuzzer reaches the session checks;
 *   2: an established client (real handshake with an enclave session in this process) opens this
 *      reply to its request (RESPONSE or ERROR);
 *   3: a real REQUEST payload XOR'd with the input is opened by the enclave: it must open iff no
 *      byte changed (everything in a request is authenticated), and a refused session stays shut.
 *   seed corpus: fuzz/corpus/session/ (fuzz/make-corpus)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cursor.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/hpke.h"
#include "eml/error.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The "attestation document" of this harness: nonce || HPKE public key. */
static int fake_doc(void *arg, const uint8_t nonce[32], const uint8_t pk[32], uint8_t **doc,
                    size_t *len)
{
	(void)arg;
	uint8_t *d = eml_alloc(64);
	if (d == NULL)
		return EML_E_NOMEM;
	memcpy(d, nonce, 32);
	memcpy(d + 32, pk, 32);
	*doc = d;
	*len = 64;
	return EML_OK;
}

static int fake_verify(void *arg, const uint8_t *doc, size_t doc_len, const uint8_t nonce[32],
                       uint8_t pk_out[32], uint8_t hash_out[32])
{
	(void)arg;
	if (doc_len != 64 || memcmp(doc, nonce, 32) != 0)
		return EML_E_ATTEST_NONCE;
	memcpy(pk_out, doc + 32, 32);
	eml_sha256(doc, doc_len, hash_out);
	return EML_OK;
}

/* Lenient verifier for mode 1: any document is "valid"; the key is its first 32 bytes. */
static int any_verify(void *arg, const uint8_t *doc, size_t doc_len, const uint8_t nonce[32],
                      uint8_t pk_out[32], uint8_t hash_out[32])
{
	(void)arg;
	(void)nonce;
	memset(pk_out, 9, 32);
	memcpy(pk_out, doc, doc_len < 32 ? doc_len : 32);
	eml_sha256(doc, doc_len, hash_out);
	return EML_OK;
}

static int frame_payload(const eml_buf *f, uint8_t *type, const uint8_t **pl, uint32_t *len)
{
	size_t used;
	return eml_frame_decode(f->p, f->len, NULL, type, pl, len, &used);
}

/* Client and enclave sessions after a real handshake; NULL sessions on failure. */
static void handshake(const uint8_t sk[32], const uint8_t pk[32], eml_client_session **c,
                      eml_enclave_session **e)
{
	eml_buf h, sh;
	eml_buf_init(&h, 0);
	eml_buf_init(&sh, 0);
	uint8_t t;
	const uint8_t *pl;
	uint32_t len;
	*c = NULL;
	*e = NULL;
	if (eml_client_session_new(c) != EML_OK || eml_enclave_session_new(sk, pk, e) != EML_OK ||
	    eml_client_session_hello(*c, &h) != EML_OK ||
	    frame_payload(&h, &t, &pl, &len) != EML_OK ||
	    eml_enclave_session_hello(*e, pl, len, fake_doc, NULL, &sh) != EML_OK ||
	    frame_payload(&sh, &t, &pl, &len) != EML_OK ||
	    eml_client_session_accept(*c, t, pl, len, fake_verify, NULL) != EML_OK)
		abort(); /* the honest handshake must always work */
	eml_buf_cleanup(&h);
	eml_buf_cleanup(&sh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sk[32], pk[32];
	static int have;
	if (!have) {
		if (eml_hpke_keypair_generate(sk, pk) != EML_OK)
			abort();
		have = 1;
	}
	if (size < 2)
		return 0;
	uint8_t mode = data[0] & 3, type = data[1];
	const uint8_t *p = data + 2;
	size_t n = size - 2;
	eml_buf f;
	eml_buf_init(&f, 0);
	switch (mode) {
	case 0: {
		eml_enclave_session *e = NULL;
		if (eml_enclave_session_new(sk, pk, &e) == EML_OK)
			(void)eml_enclave_session_hello(e, p, n, fake_doc, NULL, &f);
		eml_enclave_session_free(e);
		break;
	}
	case 1: {
		eml_client_session *c = NULL;
		if (eml_client_session_new(&c) == EML_OK &&
		    eml_client_session_hello(c, &f) == EML_OK)
			(void)eml_client_session_accept(c, type, p, n, any_verify, NULL);
		eml_client_session_free(c);
		break;
	}
	case 2: {
		eml_client_session *c;
		eml_enclave_session *e;
		handshake(sk, pk, &c, &e);
		static const uint8_t req[] = "fuzz request";
		if (eml_client_session_seal_request(c, req, sizeof(req), &f) == EML_OK) {
			uint8_t *pt = NULL;
			size_t pt_len;
			if (eml_client_session_open_response(c, type, p, n, &pt, &pt_len) ==
			    EML_OK) {
				/* Forged responses must never authenticate. */
				if (type == EML_FT_RESPONSE)
					abort();
				eml_free(pt);
			}
		}
		eml_client_session_free(c);
		eml_enclave_session_free(e);
		break;
	}
	case 3: {
		eml_client_session *c;
		eml_enclave_session *e;
		handshake(sk, pk, &c, &e);
		static const uint8_t req[] = "fuzz request";
		uint8_t t;
		const uint8_t *pl;
		uint32_t len;
		if (eml_client_session_seal_request(c, req, sizeof(req), &f) == EML_OK &&
		    frame_payload(&f, &t, &pl, &len) == EML_OK) {
			uint8_t *mut = eml_alloc(len ? len : 1);
			int changed = 0;
			if (mut == NULL)
				abort();
			memcpy(mut, pl, len);
			for (size_t i = 0; i < n && i < len; i++) {
				mut[i] ^= p[i];
				changed |= p[i] != 0;
			}
			uint8_t *pt = NULL;
			size_t pt_len;
			int rc = eml_enclave_session_open_request(e, mut, len, &pt, &pt_len);
			if ((rc == EML_OK) == changed)
				abort();
			if (rc == EML_OK) {
				if (pt_len != sizeof(req) || memcmp(pt, req, pt_len) != 0)
					abort();
				eml_free(pt);
			} else if (eml_enclave_session_open_request(e, pl, len, &pt, &pt_len) ==
			           EML_OK) {
				abort(); /* fail closed: even the genuine request is refused now */
			}
			eml_free(mut);
		}
		eml_client_session_free(c);
		eml_enclave_session_free(e);
		break;
	}
	}
	eml_buf_cleanup(&f);
	return 0;
}
