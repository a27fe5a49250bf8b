#include "wire/frame.h"

#include "common/guard.h"

int eml_frame_type_known(uint8_t type)
{
	return (type >= EML_FT_CLIENT_HELLO && type <= EML_FT_ERROR) ||
	       (type >= EML_FT_BLOB_FETCH && type <= EML_FT_KMS_CREDS) ||
	       (type >= EML_FT_UPLOAD && type <= EML_FT_STORE_REMOVE_OK);
}

int eml_frame_type_is_client(uint8_t type)
{
	return type >= EML_FT_CLIENT_HELLO && type <= EML_FT_ERROR;
}

int eml_frame_type_is_store_request(uint8_t type)
{
	return type == EML_FT_UPLOAD || type == EML_FT_STORE_LIST || type == EML_FT_STORE_REMOVE;
}

uint32_t eml_frame_limit(const eml_frame_limits *limits, uint8_t type)
{
	eml_frame_limits d = EML_FRAME_LIMITS_DEFAULT;
	if (limits == NULL)
		limits = &d;
	if (type == EML_FT_UPLOAD || type == EML_FT_BLOB_DATA)
		return limits->weight_max;
	return limits->client_max;
}

int eml_frame_header_parse(const uint8_t hdr[EML_FRAME_HEADER_LEN], const eml_frame_limits *limits,
                           uint8_t *type, uint32_t *len)
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
	             (uint32_t)hdr[3];
	uint8_t t = hdr[4];
	if (!eml_frame_type_known(t))
		return EML_E_FRAME_TYPE;
	if (n > eml_frame_limit(limits, t))
		return EML_E_FRAME_TOO_LARGE;
	*type = t;
	*len = n;
	return EML_OK;
}

int eml_frame_decode(const uint8_t *p, size_t n, const eml_frame_limits *limits, uint8_t *type,
                     const uint8_t **payload, uint32_t *len, size_t *consumed)
{
	int rc = EML_OK;
	uint8_t t;
	uint32_t l;
	EML_ENSURE(n >= EML_FRAME_HEADER_LEN, EML_E_FRAME_TRUNCATED);
	EML_GUARD(eml_frame_header_parse(p, limits, &t, &l));
	EML_ENSURE(n - EML_FRAME_HEADER_LEN >= l, EML_E_FRAME_TRUNCATED);
	*type = t;
	*len = l;
	*payload = p + EML_FRAME_HEADER_LEN;
	*consumed = EML_FRAME_HEADER_LEN + (size_t)l;
out:
	return rc;
}

int eml_frame_encode(eml_buf *b, const eml_frame_limits *limits, uint8_t type, const void *payload,
                     size_t len)
{
	int rc = eml_frame_encode_head(b, limits, type, len);
	if (rc == EML_OK)
		eml_buf_put(b, payload, len);
	return rc != EML_OK ? rc : eml_buf_error(b);
}

int eml_frame_encode_head(eml_buf *b, const eml_frame_limits *limits, uint8_t type, size_t len)
{
	if (!eml_frame_type_known(type))
		return EML_E_FRAME_TYPE;
	if (len > eml_frame_limit(limits, type))
		return EML_E_FRAME_TOO_LARGE;
	eml_buf_u32_be(b, (uint32_t)len);
	eml_buf_u8(b, type);
	return eml_buf_error(b);
}

/* Network byte order, through the common cursor and buffer (src/common/cursor.h). */
int eml_wire_u16(eml_cursor *c, uint16_t *v)
{
	return eml_cur_u16_be(c, v);
}

int eml_wire_u32(eml_cursor *c, uint32_t *v)
{
	return eml_cur_u32_be(c, v);
}

int eml_wire_u64(eml_cursor *c, uint64_t *v)
{
	return eml_cur_u64_be(c, v);
}

void eml_wire_put_u16(eml_buf *b, uint16_t v)
{
	eml_buf_u16_be(b, v);
}

void eml_wire_put_u32(eml_buf *b, uint32_t v)
{
	eml_buf_u32_be(b, v);
}

void eml_wire_put_u64(eml_buf *b, uint64_t v)
{
	eml_buf_u64_be(b, v);
}
