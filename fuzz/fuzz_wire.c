/*
 * libFuzzer target for everything the wire layer reads from untrusted peers: frame headers, every
 * message codec (hellos, request/response envelopes and plaintexts, errors, host-channel and
 * store messages), and the enclave session's request path. A decoded message must re-encode to
 * exactly the input bytes (the codecs are canonical); anything else must fail cleanly.
 *
 *   cmake -DEML_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && ./fuzz_wire corpus/
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cursor.h"
#include "common/mem.h"
#include "crypto/hpke.h"
#include "eml/error.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const eml_buf *b, const uint8_t *p, size_t n)
{
	if (eml_buf_error(b) != EML_OK || b->len != n || (n > 0 && memcmp(b->p, p, n) != 0))
		abort();
}

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	eml_buf b;
	eml_buf_init(&b, 0);
	switch (which % 10) {
	case 0: {
		uint8_t t;
		const uint8_t *pl;
		uint32_t len;
		size_t used;
		if (eml_frame_decode(p, n, NULL, &t, &pl, &len, &used) == EML_OK &&
		    (used > n || pl + len > p + n))
			abort();
		break;
	}
	case 1: {
		eml_msg_client_hello m;
		if (eml_msg_client_hello_decode(p, n, &m) == EML_OK) {
			eml_msg_client_hello_encode(&b, &m);
			same(&b, p, n);
		}
		break;
	}
	case 2: {
		eml_msg_server_hello m;
		if (eml_msg_server_hello_decode(p, n, &m) == EML_OK) {
			eml_msg_server_hello_encode(&b, &m);
			same(&b, p, n);
		}
		break;
	}
	case 3: {
		eml_msg_request m;
		if (eml_msg_request_decode(p, n, &m) == EML_OK) {
			eml_msg_request_encode(&b, &m);
			same(&b, p, n);
		}
		break;
	}
	case 4: {
		eml_msg_response m;
		if (eml_msg_response_decode(p, n, &m) == EML_OK) {
			eml_msg_response_encode(&b, &m);
			same(&b, p, n);
		}
		break;
	}
	case 5: {
		eml_request_pt m;
		if (eml_request_pt_decode(p, n, &m) == EML_OK) {
			eml_request_pt_encode(&b, &m);
			same(&b, p, n);
			eml_request_pt_cleanup(&m);
		}
		break;
	}
	case 6: {
		eml_response_pt m;
		if (eml_response_pt_decode(p, n, &m) == EML_OK) {
			eml_response_pt_encode(&b, &m);
			same(&b, p, n);
			eml_response_pt_cleanup(&m);
		}
		break;
	}
	case 7: {
		eml_store_entry *e = NULL;
		size_t k;
		if (eml_msg_store_list_decode(p, n, &e, &k) == EML_OK) {
			eml_msg_store_list_encode(&b, e, k);
			same(&b, p, n);
			eml_free(e);
		}
		break;
	}
	case 8: {
		int code;
		uint8_t id[16];
		eml_store_entry e;
		(void)eml_msg_error_decode(p, n, &code);
		(void)eml_msg_model_id_decode(p, n, id);
		(void)eml_msg_store_entry_decode(p, n, &e);
		break;
	}
	case 9: {
		/* An enclave session that served a hello, then this input as a REQUEST payload. */
		static uint8_t sk[32], pk[32];
		static int have;
		if (!have && eml_hpke_keypair_generate(sk, pk) == EML_OK)
			have = 1;
		eml_enclave_session *s = NULL;
		eml_buf h, f;
		eml_buf_init(&h, 0);
		eml_buf_init(&f, 0);
		eml_msg_client_hello ch = {.n_versions = 1, .versions = {1}};
		eml_msg_client_hello_encode(&h, &ch);
		if (have && eml_enclave_session_new(sk, pk, &s) == EML_OK &&
		    eml_enclave_session_hello(s, h.p, h.len, fake_doc, NULL, &f) == EML_OK) {
			uint8_t *pt = NULL;
			size_t pt_len;
			/* Random bytes must never authenticate. */
			if (eml_enclave_session_open_request(s, p, n, &pt, &pt_len) == EML_OK)
				abort();
		}
		eml_enclave_session_free(s);
		eml_buf_cleanup(&h);
		eml_buf_cleanup(&f);
		break;
	}
	}
	eml_buf_cleanup(&b);
	return 0;
}
