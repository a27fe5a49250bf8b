#include "host/channel.h"

#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "net/sock.h"

int eml_channel_fetch_blob(int fd, const uint8_t id[EML_WIRE_MODEL_ID_LEN],
                           const eml_frame_limits *limits, int timeout_ms, uint8_t **blob,
                           size_t *n)
{
	int rc = EML_OK;
	uint8_t t, *p = NULL, got[EML_WIRE_MODEL_ID_LEN];
	uint32_t len;
	int64_t start = eml_net_now_ms();
	EML_GUARD(eml_net_send_frame(fd, EML_FT_BLOB_FETCH, id, EML_WIRE_MODEL_ID_LEN, timeout_ms));
	int left = timeout_ms - (int)(eml_net_now_ms() - start);
	EML_GUARD(eml_net_recv_frame(fd, limits, left > 0 ? left : 1, &t, &p, &len));
	switch (t) {
	case EML_FT_BLOB_DATA:
		*blob = p;
		*n = len;
		p = NULL;
		break;
	case EML_FT_BLOB_NOT_FOUND:
		EML_GUARD(eml_msg_model_id_decode(p, len, got));
		EML_ENSURE(memcmp(got, id, EML_WIRE_MODEL_ID_LEN) == 0, EML_E_MSG_MALFORMED);
		EML_FAIL(EML_E_STORE_NOT_FOUND);
	case EML_FT_ERROR: {
		int code;
		EML_GUARD(eml_msg_error_decode(p, len, &code));
		EML_FAIL(code);
	}
	default:
		EML_FAIL(EML_E_MSG_UNEXPECTED);
	}
out:
	eml_free(p);
	return rc;
}

int eml_channel_send_audit(int fd, const uint8_t *record, size_t n, int timeout_ms)
{
	int rc = eml_msg_audit_record_check(record, n);
	if (rc != EML_OK)
		return rc;
	return eml_net_send_frame(fd, EML_FT_AUDIT_RECORD, record, n, timeout_ms);
}
