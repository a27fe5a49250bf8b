/* The enclave's cache of fetched ciphertext (src/enclave/blobcache.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "common/mem.h"
#include "enclave/blobcache.h"

static uint8_t *bytes(size_t n, uint8_t v)
{
	uint8_t *b = eml_alloc(n);
	memset(b, v, n);
	return b;
}

static void id_of(uint8_t id[16], uint8_t v)
{
	memset(id, v, 16);
}

Test(blobcache, hit_needs_same_id_and_digest)
{
	eml_blobcache *c;
	cr_assert_eq(eml_blobcache_new(1000, &c), 0);
	uint8_t id[16], other[16], d[32], d2[32];
	id_of(id, 1);
	id_of(other, 2);
	memset(d, 7, 32);
	memset(d2, 8, 32);
	cr_assert_null(eml_blobcache_get(c, id, d));
	uint8_t *b = bytes(100, 0x33);
	eml_blobcache_ref *r = eml_blobcache_put(c, id, d, &b, 100);
	cr_assert_not_null(r);
	cr_assert_null(b, "ownership taken");
	eml_blobcache_release(c, r);
	cr_assert_null(eml_blobcache_get(c, other, d), "other model");
	cr_assert_null(eml_blobcache_get(c, id, d2), "other digest (a new key version)");
	r = eml_blobcache_get(c, id, d);
	cr_assert_not_null(r);
	size_t len;
	const uint8_t *p = eml_blobcache_ref_data(r, &len);
	cr_assert_eq(len, 100);
	cr_assert_eq(p[99], 0x33);
	cr_assert(memcmp(eml_blobcache_ref_digest(r), d, 32) == 0);
	eml_blobcache_release(c, r);
	eml_blobcache_free(c);
}

Test(blobcache, limit_lru_and_references)
{
	eml_blobcache *c;
	cr_assert_eq(eml_blobcache_new(250, &c), 0);
	uint8_t id[16], d[32];
	memset(d, 1, 32);
	/* too large for the limit: refused, the caller keeps its bytes */
	uint8_t *big = bytes(251, 1);
	id_of(id, 9);
	cr_assert_null(eml_blobcache_put(c, id, d, &big, 251));
	cr_assert_not_null(big);
	eml_free(big);
	/* three of 100: the least recently used goes */
	eml_blobcache_ref *held = NULL;
	for (uint8_t i = 1; i <= 2; i++) {
		uint8_t *b = bytes(100, i);
		id_of(id, i);
		eml_blobcache_ref *r = eml_blobcache_put(c, id, d, &b, 100);
		cr_assert_not_null(r);
		if (i == 1)
			held = r; /* still referenced: cannot be evicted */
		else
			eml_blobcache_release(c, r);
	}
	uint8_t *b3 = bytes(100, 3);
	id_of(id, 3);
	eml_blobcache_ref *r3 = eml_blobcache_put(c, id, d, &b3, 100);
	cr_assert_not_null(r3);
	cr_assert_eq(eml_blobcache_entries(c), 2);
	cr_assert_eq(eml_blobcache_bytes(c), 200);
	id_of(id, 2);
	cr_assert_null(eml_blobcache_get(c, id, d), "the unreferenced LRU entry was evicted");
	id_of(id, 1);
	eml_blobcache_ref *again = eml_blobcache_get(c, id, d);
	cr_assert_eq(again, held);
	eml_blobcache_release(c, again);
	/* everything referenced: a new blob cannot enter */
	uint8_t *b4 = bytes(100, 4);
	id_of(id, 4);
	cr_assert_null(eml_blobcache_put(c, id, d, &b4, 100));
	eml_free(b4);
	eml_blobcache_release(c, held);
	eml_blobcache_release(c, r3);
	/* a new version of model 3 replaces the old one */
	uint8_t d2[32];
	memset(d2, 2, 32);
	uint8_t *b5 = bytes(50, 5);
	id_of(id, 3);
	eml_blobcache_ref *r5 = eml_blobcache_put(c, id, d2, &b5, 50);
	cr_assert_not_null(r5);
	cr_assert_null(eml_blobcache_get(c, id, d), "old version dropped");
	eml_blobcache_release(c, r5);
	cr_assert_eq(eml_blobcache_entries(c), 2);
	eml_blobcache_free(c);
}

Test(blobcache, zero_limit_holds_nothing)
{
	eml_blobcache *c;
	cr_assert_eq(eml_blobcache_new(0, &c), 0);
	uint8_t id[16], d[32];
	id_of(id, 1);
	memset(d, 1, 32);
	uint8_t *b = bytes(10, 1);
	cr_assert_null(eml_blobcache_put(c, id, d, &b, 10));
	cr_assert_not_null(b);
	eml_free(b);
	cr_assert_eq(eml_blobcache_entries(c), 0);
	eml_blobcache_free(c);
}
