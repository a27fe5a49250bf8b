#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/cursor.h"
#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "prop.h"

Test(common, error_table_names_and_messages)
{
	cr_assert_str_eq(eml_err_name(EML_OK), "OK");
	cr_assert_str_eq(eml_err_name(EML_E_TKEY_MAGIC), "TKEY_MAGIC");
	cr_assert_str_eq(eml_err_str(999999), "unknown error");
}

Test(common, cursor_refuses_reads_past_the_end)
{
	uint8_t b[5] = {1, 2, 3, 4, 5};
	eml_cursor c;
	eml_cur_init(&c, b, sizeof(b));
	uint32_t v;
	cr_assert_eq(eml_cur_u32(&c, &v), EML_OK);
	cr_assert_eq(v, 0x04030201u);
	cr_assert_eq(eml_cur_u32(&c, &v), EML_E_TRUNCATED);
	cr_assert_eq(eml_cur_end(&c), EML_E_TRAILING);
	uint8_t u;
	cr_assert_eq(eml_cur_u8(&c, &u), EML_OK);
	cr_assert_eq(eml_cur_end(&c), EML_OK);
	cr_assert_eq(eml_cur_skip(&c, (size_t)-1), EML_E_TRUNCATED);
}

Test(common, buf_is_sticky_at_its_limit)
{
	eml_buf b;
	eml_buf_init(&b, 6);
	eml_buf_u32(&b, 7);
	eml_buf_u32(&b, 8);
	cr_assert_eq(eml_buf_error(&b), EML_E_LIMIT);
	eml_buf_u8(&b, 1);
	cr_assert_eq(b.len, 4);
	eml_buf_cleanup(&b);
}

Test(common, ct_eq_and_hex)
{
	uint8_t a[4] = {0xde, 0xad, 0xbe, 0xef}, b[4];
	char hex[9];
	eml_hex(a, 4, hex);
	cr_assert_str_eq(hex, "deadbeef");
	cr_assert_eq(eml_unhex("DEADbeef", b, 4), EML_OK);
	cr_assert(eml_ct_eq(a, b, 4));
	b[3] ^= 1;
	cr_assert(!eml_ct_eq(a, b, 4));
	cr_assert_eq(eml_unhex("deadbee", b, 4), EML_E_MALFORMED);
}

static uint8_t snapshot[8192];
static size_t snapshot_len;
static void hook(const void *p, size_t len, void *ctx)
{
	(void)ctx;
	snapshot_len = len < sizeof(snapshot) ? len : sizeof(snapshot);
	memcpy(snapshot, p, snapshot_len);
}

Test(common, secmem_is_wiped_before_unmap)
{
	void *p;
	size_t len;
	cr_assert_eq(eml_secmem_map(5000, &p, &len), EML_OK);
	cr_assert_geq(len, 5000);
	memset(p, 0xA5, 5000);
	eml_secmem_set_unmap_hook(hook, NULL);
	eml_secmem_unmap(p, len);
	eml_secmem_set_unmap_hook(NULL, NULL);
	cr_assert_gt(snapshot_len, 0);
	for (size_t i = 0; i < snapshot_len; i++)
		cr_assert_eq(snapshot[i], 0);
}

/* The pool of locked regions (docs/MEMORY.md): a released region is wiped, then kept for the
 * next mapping of a similar size, which must see only zeros; the idle limit is respected. */
Test(common, secmem_pool_reuses_only_wiped_regions)
{
	eml_secmem_set_pool_limit((size_t)8 << 20);
	eml_secmem_drop_idle();
	cr_assert_eq(eml_secmem_pool_idle_bytes(), 0);
	void *p, *q, *r;
	size_t len, qlen, rlen;
	cr_assert_eq(eml_secmem_map(300000, &p, &len), EML_OK);
	memset(p, 0x5A, len);
	eml_secmem_unmap(p, len);
	cr_assert_geq(eml_secmem_pool_idle_bytes(), len, "released region kept");
	/* a somewhat smaller request reuses it: all zero, though it was filled before */
	cr_assert_eq(eml_secmem_map(200000, &q, &qlen), EML_OK);
	cr_assert_eq(q, p, "pooled region reused");
	cr_assert_eq(eml_secmem_pool_idle_bytes(), 0);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(((uint8_t *)q)[i], 0, "byte %zu of a reused region", i);
	/* a much smaller request does not pin the big region; both usable at once */
	memset(q, 0x11, qlen);
	cr_assert_eq(eml_secmem_map(4096, &r, &rlen), EML_OK);
	cr_assert_neq(r, q);
	memset(r, 0x22, rlen);
	eml_secmem_unmap(r, rlen);
	eml_secmem_unmap(q, qlen);
	/* reused again after a smaller use: the bytes past the last use were never written, the
	 * used ones were wiped */
	cr_assert_eq(eml_secmem_map(300000, &p, &len), EML_OK);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(((uint8_t *)p)[i], 0, "byte %zu", i);
	eml_secmem_unmap(p, len);
	/* limit 0: nothing idle is kept */
	eml_secmem_set_pool_limit(0);
	cr_assert_eq(eml_secmem_pool_idle_bytes(), 0);
	cr_assert_eq(eml_secmem_map(300000, &p, &len), EML_OK);
	eml_secmem_unmap(p, len);
	cr_assert_eq(eml_secmem_pool_idle_bytes(), 0);
	eml_secmem_set_pool_limit((size_t)512 << 20);
}

/* Arena blocks: zeroed, 16-byte aligned, disjoint (each filled and checked after all the others
 * were written), across chunk boundaries and with blocks larger than a chunk; overflowing sizes
 * are refused. */
Test(common, arena_blocks_zeroed_aligned_disjoint)
{
	/* Leave garbage where the first chunk will likely come from (glibc reuses a freed block
	 * of the same size class; blocks the project frees are wiped, others are not). */
	for (int i = 0; i < 4; i++) {
		unsigned char *junk = malloc(1000 + 64);
		cr_assert_not_null(junk);
		memset(junk, 0xA5, 1000 + 64);
		free(junk);
	}
	eml_arena *a = eml_arena_new(1000);
	cr_assert_not_null(a);
	enum { N = 400 };
	unsigned char *blk[N];
	size_t len[N];
	for (int i = 0; i < N; i++) {
		len[i] = (size_t)(i * 37 % 301) + (i % 50 == 0 ? 5000 : 0); /* 0 included */
		blk[i] = eml_arena_calloc(a, len[i], 1);
		cr_assert_not_null(blk[i]);
		cr_assert_eq((uintptr_t)blk[i] % 16, 0);
		for (size_t k = 0; k < len[i]; k++)
			cr_assert_eq(blk[i][k], 0);
		memset(blk[i], i & 0xff, len[i]);
	}
	for (int i = 0; i < N; i++)
		for (size_t k = 0; k < len[i]; k++)
			cr_assert_eq(blk[i][k], (unsigned char)(i & 0xff), "block %d overwritten",
			             i);
	cr_assert_null(eml_arena_calloc(a, SIZE_MAX / 2, 4));
	cr_assert_null(eml_arena_calloc(a, SIZE_MAX, 1));
	eml_arena_free(a);
	eml_arena_free(NULL);
}

Test(common, atomic_write_replaces_and_reads_back)
{
	char *dir = eml_test_tmpdir();
	char path[4200];
	snprintf(path, sizeof(path), "%s/f.bin", dir);
	cr_assert_eq(eml_file_write_atomic(path, "hello", 5, 0600), EML_OK);
	uint8_t *d;
	size_t n;
	cr_assert_eq(eml_file_read(path, 100, &d, &n), EML_OK);
	cr_assert_eq(n, 5);
	cr_assert(memcmp(d, "hello", 5) == 0);
	eml_free(d);
	cr_assert_eq(eml_file_read(path, 4, &d, &n), EML_E_LIMIT);
	snprintf(path, sizeof(path), "%s/missing", dir);
	cr_assert_eq(eml_file_read(path, 4, &d, &n), EML_E_NOT_FOUND);
	eml_test_rmtree(dir);
	free(dir);
}

Test(common, prng_is_deterministic_per_seed)
{
	eml_rng a, b;
	eml_rng_seed(&a, 42);
	eml_rng_seed(&b, 42);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(eml_rng_u64(&a), eml_rng_u64(&b));
	for (int i = 0; i < 1000; i++) {
		int64_t v = eml_rng_range(&a, -3, 5);
		cr_assert(v >= -3 && v <= 5);
	}
}
