/*
 * Bounds-checked reading of untrusted bytes (after s2n's stuffer and BearSSL's decoders).
 * Every read checks the remaining length first and fails with EML_E_TRUNCATED; integers are
 * little-endian unless the name says _be. A cursor never owns its bytes.
 */
#ifndef EML_COMMON_CURSOR_H
#define EML_COMMON_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eml/error.h"

typedef struct eml_cursor {
	const uint8_t *p;
	size_t len;
	size_t pos;
} eml_cursor;

void eml_cur_init(eml_cursor *c, const void *p, size_t len);

/* The readers below are inline: parsers call them per field (a topology key: tens of thousands
 * of times per request). */
static inline size_t eml_cur_remaining(const eml_cursor *c)
{
	return c->len - c->pos;
}

/* Point at the next n bytes without copying, and advance. */
static inline int eml_cur_view(eml_cursor *c, size_t n, const uint8_t **out)
{
	if (n > c->len - c->pos)
		return EML_E_TRUNCATED;
	*out = c->p + c->pos;
	c->pos += n;
	return EML_OK;
}

/* n (1..8) bytes as an unsigned integer, little-endian or (be) big-endian. */
static inline int eml_cur_uint_(eml_cursor *c, size_t n, int be, uint64_t *v)
{
	const uint8_t *b;
	int rc = eml_cur_view(c, n, &b);
	if (rc != EML_OK)
		return rc;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = be ? x << 8 | b[i] : x | (uint64_t)b[i] << (8 * i);
	*v = x;
	return EML_OK;
}

/* eml_cur_u8 .. eml_cur_u64 and the _be forms */
#define EML_CUR_READER(name, type, n, be)                                                          \
	static inline int name(eml_cursor *c, type *v)                                             \
	{                                                                                          \
		uint64_t x;                                                                        \
		int rc = eml_cur_uint_(c, n, be, &x);                                              \
		if (rc == EML_OK)                                                                  \
			*v = (type)x;                                                              \
		return rc;                                                                         \
	}
EML_CUR_READER(eml_cur_u8, uint8_t, 1, 0)
EML_CUR_READER(eml_cur_u16, uint16_t, 2, 0)
EML_CUR_READER(eml_cur_u32, uint32_t, 4, 0)
EML_CUR_READER(eml_cur_u64, uint64_t, 8, 0)
EML_CUR_READER(eml_cur_u16_be, uint16_t, 2, 1)
EML_CUR_READER(eml_cur_u32_be, uint32_t, 4, 1)
EML_CUR_READER(eml_cur_u64_be, uint64_t, 8, 1)
#undef EML_CUR_READER

/* Two's complement, as the bits say (no implementation-defined conversion). */
static inline int eml_cur_i64(eml_cursor *c, int64_t *v)
{
	uint64_t x;
	int rc = eml_cur_uint_(c, 8, 0, &x);
	if (rc == EML_OK)
		memcpy(v, &x, sizeof(x));
	return rc;
}

/* Copy n bytes out. */
int eml_cur_copy(eml_cursor *c, void *out, size_t n);
int eml_cur_skip(eml_cursor *c, size_t n);
/* EML_OK when nothing remains, EML_E_TRAILING otherwise. */
int eml_cur_end(const eml_cursor *c);

/* A byte range: a message assembled from pieces where they lie (see eml_hpke_seal_iov). */
typedef struct eml_iov {
	const uint8_t *p;
	size_t n;
} eml_iov;

/*
 * A growable byte buffer for writing (integers little-endian unless _be). Storage comes from
 * eml_alloc and is wiped on growth and on cleanup. Errors are sticky: after a failed append every
 * later append is a no-op and eml_buf_error returns the first error.
 */
typedef struct eml_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max; /* 0 = no limit beyond memory */
	int err;
} eml_buf;

void eml_buf_init(eml_buf *b, size_t max);
void eml_buf_cleanup(eml_buf *b); /* wipes and frees */
int eml_buf_error(const eml_buf *b);
int eml_buf_reserve(eml_buf *b, size_t extra);
/* Grow by n bytes and return where they start, for a producer that writes in place (a cipher
 * sealing straight into a frame); NULL on error (sticky, as for the appends). The bytes are
 * uninitialised until the caller writes them. */
uint8_t *eml_buf_extend(eml_buf *b, size_t n);
void eml_buf_put(eml_buf *b, const void *p, size_t n);
void eml_buf_zero(eml_buf *b, size_t n);
void eml_buf_u8(eml_buf *b, uint8_t v);
void eml_buf_u16(eml_buf *b, uint16_t v);
void eml_buf_u32(eml_buf *b, uint32_t v);
void eml_buf_u64(eml_buf *b, uint64_t v);
void eml_buf_u16_be(eml_buf *b, uint16_t v);
void eml_buf_u32_be(eml_buf *b, uint32_t v);
void eml_buf_u64_be(eml_buf *b, uint64_t v);
/* Take ownership of the bytes (free with eml_free); the buffer is reset. */
uint8_t *eml_buf_take(eml_buf *b, size_t *len);

#endif
