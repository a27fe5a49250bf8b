#include "client/host_client.h"

#include <string.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"
#include "net/addr.h"
#include "net/sock.h"
#include "wire/frame.h"

/* Send one frame, receive the reply; an ERROR reply becomes its code. */
static int exchange(const char *addr, uint8_t type, const void *p, size_t n, int timeout_ms,
                    uint8_t want, uint8_t **reply, uint32_t *reply_len)
{
	int rc = EML_OK, fd = -1;
	eml_addr a;
	uint8_t t;
	uint8_t *r = NULL;
	uint32_t rl = 0;
	eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;
	int64_t start = eml_net_now_ms();
	EML_GUARD(eml_addr_parse(addr, &a));
	EML_GUARD(eml_net_connect(&a, timeout_ms, &fd));
	/* The host may refuse from the header and close before the payload is all sent: its
	 * ERROR reply is then already waiting, so read the reply even when the send failed. */
	int src = eml_net_send_frame(fd, type, p, n, timeout_ms);
	EML_ENSURE(src == EML_OK || src == EML_E_NET_CLOSED, src);
	int left = timeout_ms - (int)(eml_net_now_ms() - start);
	rc = eml_net_recv_frame(fd, &lim, left > 0 ? left : 1, &t, &r, &rl);
	EML_GUARD(rc != EML_OK && src != EML_OK ? src : rc);
	if (t == EML_FT_ERROR) {
		int code;
		EML_GUARD(eml_msg_error_decode(r, rl, &code));
		EML_FAIL(code);
	}
	EML_ENSURE(t == want, EML_E_MSG_UNEXPECTED);
	*reply = r;
	*reply_len = rl;
	r = NULL;
out:
	eml_free(r);
	if (fd >= 0)
		close(fd);
	return rc;
}

int eml_host_upload(const char *addr, const uint8_t *blob, size_t n, int timeout_ms,
                    eml_store_entry *out)
{
	int rc = EML_OK;
	uint8_t *r = NULL;
	uint32_t rl;
	eml_store_entry e;
	EML_ENSURE(n <= EML_FRAME_DEFAULT_WEIGHT_MAX, EML_E_STORE_TOO_LARGE);
	rc = exchange(addr, EML_FT_UPLOAD, blob, n, timeout_ms, EML_FT_UPLOAD_OK, &r, &rl);
	/* An upload is one frame whose only size-limited part is the blob. */
	EML_GUARD(rc == EML_E_FRAME_TOO_LARGE ? EML_E_STORE_TOO_LARGE : rc);
	EML_GUARD(eml_msg_store_entry_decode(r, rl, &e));
	if (out != NULL)
		*out = e;
out:
	eml_free(r);
	return rc;
}

int eml_host_store_list(const char *addr, int timeout_ms, eml_store_entry **out, size_t *count)
{
	int rc = EML_OK;
	uint8_t *r = NULL;
	uint32_t rl;
	EML_GUARD(exchange(addr, EML_FT_STORE_LIST, NULL, 0, timeout_ms, EML_FT_STORE_LIST_RESULT,
	                   &r, &rl));
	EML_GUARD(eml_msg_store_list_decode(r, rl, out, count));
out:
	eml_free(r);
	return rc;
}

int eml_host_store_remove(const char *addr, const uint8_t id[EML_WIRE_MODEL_ID_LEN], int timeout_ms)
{
	int rc = EML_OK;
	uint8_t *r = NULL, got[EML_WIRE_MODEL_ID_LEN];
	uint32_t rl;
	EML_GUARD(exchange(addr, EML_FT_STORE_REMOVE, id, EML_WIRE_MODEL_ID_LEN, timeout_ms,
	                   EML_FT_STORE_REMOVE_OK, &r, &rl));
	EML_GUARD(eml_msg_model_id_decode(r, rl, got));
	EML_ENSURE(memcmp(got, id, EML_WIRE_MODEL_ID_LEN) == 0, EML_E_MSG_MALFORMED);
out:
	eml_free(r);
	return rc;
}
