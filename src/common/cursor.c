#include "common/cursor.h"

#include <string.h>

#include "common/mem.h"
#include "eml/error.h"

void eml_cur_init(eml_cursor *c, const void *p, size_t len)
{
	c->p = p;
	c->len = p != NULL ? len : 0;
	c->pos = 0;
}

int eml_cur_copy(eml_cursor *c, void *out, size_t n)
{
	const uint8_t *v;
	int rc = eml_cur_view(c, n, &v);
	if (rc == EML_OK && n != 0)
		memcpy(out, v, n);
	return rc;
}

int eml_cur_skip(eml_cursor *c, size_t n)
{
	const uint8_t *v;
	return eml_cur_view(c, n, &v);
}

int eml_cur_end(const eml_cursor *c)
{
	return c->pos == c->len ? EML_OK : EML_E_TRAILING;
}

void eml_buf_init(eml_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void eml_buf_cleanup(eml_buf *b)
{
	eml_free(b->p);
	memset(b, 0, sizeof(*b));
}

int eml_buf_error(const eml_buf *b)
{
	return b->err;
}

int eml_buf_reserve(eml_buf *b, size_t extra)
{
	size_t need;
	if (b->err != EML_OK)
		return b->err;
	if (eml_add_size(b->len, extra, &need) != EML_OK || (b->max != 0 && need > b->max)) {
		b->err = EML_E_LIMIT;
		return b->err;
	}
	if (need <= b->cap)
		return EML_OK;
	/* Double (amortised appends), but a larger reservation gets exactly what it asks: a
	 * buffer reserved for megabytes is not rounded up to the next power of two (the unused
	 * part would still be wiped, page by page, when it is freed). */
	size_t cap = b->cap != 0 ? (b->cap > SIZE_MAX / 2 ? need : b->cap * 2) : 256;
	if (cap < need)
		cap = need;
	if (b->max != 0 && cap > b->max)
		cap = b->max;
	uint8_t *q = eml_realloc(b->p, cap);
	if (q == NULL) {
		b->err = EML_E_NOMEM;
		return b->err;
	}
	b->p = q;
	b->cap = cap;
	return EML_OK;
}

uint8_t *eml_buf_extend(eml_buf *b, size_t n)
{
	if (eml_buf_reserve(b, n) != EML_OK)
		return NULL;
	uint8_t *p = b->p + b->len;
	b->len += n;
	return p;
}

void eml_buf_put(eml_buf *b, const void *p, size_t n)
{
	if (eml_buf_reserve(b, n) != EML_OK)
		return;
	if (n != 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void eml_buf_zero(eml_buf *b, size_t n)
{
	if (eml_buf_reserve(b, n) != EML_OK)
		return;
	if (n != 0)
		memset(b->p + b->len, 0, n);
	b->len += n;
}

static void put_le(eml_buf *b, uint64_t v, size_t n)
{
	uint8_t t[8];
	for (size_t i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	eml_buf_put(b, t, n);
}

void eml_buf_u8(eml_buf *b, uint8_t v)
{
	put_le(b, v, 1);
}

void eml_buf_u16(eml_buf *b, uint16_t v)
{
	put_le(b, v, 2);
}

void eml_buf_u32(eml_buf *b, uint32_t v)
{
	put_le(b, v, 4);
}

void eml_buf_u64(eml_buf *b, uint64_t v)
{
	put_le(b, v, 8);
}

static void put_be(eml_buf *b, uint64_t v, size_t n)
{
	uint8_t t[8];
	for (size_t i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	eml_buf_put(b, t, n);
}

void eml_buf_u16_be(eml_buf *b, uint16_t v)
{
	put_be(b, v, 2);
}

void eml_buf_u32_be(eml_buf *b, uint32_t v)
{
	put_be(b, v, 4);
}

void eml_buf_u64_be(eml_buf *b, uint64_t v)
{
	put_be(b, v, 8);
}

uint8_t *eml_buf_take(eml_buf *b, size_t *len)
{
	uint8_t *p = b->p;
	*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}
