#include "common/mem.h"

#include <alloca.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "eml/error.h"

/* Allocation header: keeps the requested size so eml_free can wipe the whole block. 16 bytes keep
 * the payload aligned for any scalar type. */
#define EML_HDR 16u
/* No single heap allocation may exceed this; larger buffers must use eml_secmem_map. */
#define EML_MAX_HEAP_ALLOC ((size_t)1 << 40)

/*
 * EML_TEST_NO_WIPE exists only in the test-only binary eml-test-nowipe (CMakeLists.txt): the
 * memory-scan tests' negative control, proving their scanner finds plaintext that is not wiped.
 * The product build always wipes.
 */
#ifdef EML_TEST_NO_WIPE
#define eml_explicit_bzero(p, n) ((void)(p), (void)(n))
#else
#define eml_explicit_bzero(p, n) explicit_bzero((p), (n))
#endif

void eml_wipe(void *p, size_t n)
{
	if (p != NULL && n != 0)
		eml_explicit_bzero(p, n);
}

__attribute__((noinline)) void eml_stack_scrub(size_t bytes)
{
	unsigned char *p = alloca(bytes);
	eml_explicit_bzero(p, bytes);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

void *eml_alloc(size_t n)
{
	if (n > EML_MAX_HEAP_ALLOC)
		return NULL;
	unsigned char *b = malloc(n + EML_HDR);
	if (b == NULL)
		return NULL;
	memcpy(b, &n, sizeof(n));
	return b + EML_HDR;
}

void *eml_calloc(size_t n, size_t size)
{
	size_t total;
	if (eml_mul_size(n, size, &total) != EML_OK)
		return NULL;
	void *p = eml_alloc(total);
	if (p != NULL)
		memset(p, 0, total);
	return p;
}

size_t eml_alloc_size(const void *p)
{
	size_t n = 0;
	if (p != NULL)
		memcpy(&n, (const unsigned char *)p - EML_HDR, sizeof(n));
	return n;
}

void *eml_realloc(void *p, size_t n)
{
	if (p == NULL)
		return eml_alloc(n);
	void *q = eml_alloc(n);
	if (q == NULL)
		return NULL;
	size_t old = eml_alloc_size(p);
	memcpy(q, p, old < n ? old : n);
	eml_free(p);
	return q;
}

void eml_free(void *p)
{
	if (p == NULL)
		return;
	unsigned char *b = (unsigned char *)p - EML_HDR;
	size_t n;
	memcpy(&n, b, sizeof(n));
	eml_explicit_bzero(b, n + EML_HDR);
	free(b);
}

char *eml_strdup(const char *s)
{
	if (s == NULL)
		return NULL;
	return eml_memdup(s, strlen(s) + 1);
}

void *eml_memdup(const void *p, size_t n)
{
	void *q = eml_alloc(n);
	if (q != NULL && n != 0)
		memcpy(q, p, n);
	return q;
}

int eml_ct_eq(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

int eml_mul_size(size_t a, size_t b, size_t *out)
{
	if (__builtin_mul_overflow(a, b, out))
		return EML_E_OVERFLOW;
	return EML_OK;
}

int eml_add_size(size_t a, size_t b, size_t *out)
{
	if (__builtin_add_overflow(a, b, out))
		return EML_E_OVERFLOW;
	return EML_OK;
}

static atomic_int warned_mlock;
static eml_secmem_hook_fn unmap_hook;
static void *unmap_hook_ctx;

void eml_secmem_set_unmap_hook(eml_secmem_hook_fn fn, void *ctx)
{
	unmap_hook = fn;
	unmap_hook_ctx = ctx;
}

/*
 * Pool of locked regions. mmap + mlock + munlock + munmap of a fresh region costs a page fault
 * and a page clear per 4 KiB (about 1 ms per 4 MiB here), which dominated a small request. A
 * released region is therefore wiped (the same non-elidable wipe as before) and kept, still
 * locked, non-dumpable and wipe-on-fork, for the next request, up to a byte limit. Invariant: an
 * idle region is all zero. Nothing secret survives a release; only zeroed, locked pages do.
 */
#define EML_SECMEM_POOL_SLOTS 1024
#define EML_SECMEM_POOL_DEFAULT ((size_t)512 << 20)

struct secmem_region {
	void *p;
	size_t cap;  /* bytes mapped */
	size_t used; /* bytes handed out (0 = idle) */
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct secmem_region pool[EML_SECMEM_POOL_SLOTS];
static size_t pool_idle_bytes;
static size_t pool_limit = EML_SECMEM_POOL_DEFAULT;

static size_t page_size(void)
{
	long page = sysconf(_SC_PAGESIZE);
	return page > 0 ? (size_t)page : 4096;
}

static void *secmem_fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	int bad = 0;
	if (madvise(p, len, MADV_DONTDUMP) != 0)
		bad = 1;
#ifdef MADV_WIPEONFORK
	if (madvise(p, len, MADV_WIPEONFORK) != 0)
		bad = 1;
#endif
	if (mlock(p, len) != 0)
		bad = 1;
	if (bad && atomic_exchange(&warned_mlock, 1) == 0)
		eml_log_warn("could not lock or protect secret memory (mlock/madvise refused); "
		             "continuing without it");
	return p;
}

static void secmem_release(void *p, size_t cap)
{
	munlock(p, cap);
	munmap(p, cap);
}

void eml_secmem_set_pool_limit(size_t bytes)
{
	pthread_mutex_lock(&pool_mu);
	pool_limit = bytes;
	pthread_mutex_unlock(&pool_mu);
	eml_secmem_trim();
}

size_t eml_secmem_pool_idle_bytes(void)
{
	pthread_mutex_lock(&pool_mu);
	size_t n = pool_idle_bytes;
	pthread_mutex_unlock(&pool_mu);
	return n;
}

/* Unmap idle regions, largest first, until the idle bytes are at most `limit`. */
static void trim_to(size_t limit)
{
	for (;;) {
		void *p = NULL;
		size_t cap = 0;
		pthread_mutex_lock(&pool_mu);
		if (pool_idle_bytes > limit) {
			int best = -1;
			for (int i = 0; i < EML_SECMEM_POOL_SLOTS; i++)
				if (pool[i].p != NULL && pool[i].used == 0 &&
				    (best < 0 || pool[i].cap > pool[best].cap))
					best = i;
			if (best >= 0) {
				p = pool[best].p;
				cap = pool[best].cap;
				pool[best].p = NULL;
				pool[best].cap = 0;
				pool_idle_bytes -= cap;
			}
		}
		pthread_mutex_unlock(&pool_mu);
		if (p == NULL)
			return;
		secmem_release(p, cap);
	}
}

void eml_secmem_trim(void)
{
	pthread_mutex_lock(&pool_mu);
	size_t limit = pool_limit;
	pthread_mutex_unlock(&pool_mu);
	trim_to(limit);
}

void eml_secmem_drop_idle(void)
{
	trim_to(0);
}

int eml_secmem_map(size_t n, void **out, size_t *mapped_len)
{
	size_t ps = page_size();
	size_t len;
	if (n == 0)
		n = 1;
	if (eml_add_size(n, ps - 1, &len) != EML_OK)
		return EML_E_NOMEM;
	len &= ~(ps - 1);

	/* Best fit among idle regions no more than twice the size (so a small request does not pin
	 * a huge region, and the wipe at release stays proportional to what was used). */
	pthread_mutex_lock(&pool_mu);
	int best = -1;
	for (int i = 0; i < EML_SECMEM_POOL_SLOTS; i++) {
		const struct secmem_region *r = &pool[i];
		if (r->p == NULL || r->used != 0 || r->cap < len || r->cap / 2 > len)
			continue;
		if (best < 0 || r->cap < pool[best].cap)
			best = i;
	}
	if (best >= 0) {
		pool[best].used = len;
		pool_idle_bytes -= pool[best].cap;
		*out = pool[best].p;
		*mapped_len = len;
		pthread_mutex_unlock(&pool_mu);
		return EML_OK;
	}
	pthread_mutex_unlock(&pool_mu);

	void *p = secmem_fresh(len);
	if (p == NULL) {
		/* Idle regions may be what keeps the memory: give them back and try once more. */
		trim_to(0);
		p = secmem_fresh(len);
		if (p == NULL)
			return EML_E_NOMEM;
	}
	pthread_mutex_lock(&pool_mu);
	for (int i = 0; i < EML_SECMEM_POOL_SLOTS; i++) {
		if (pool[i].p == NULL) {
			pool[i] = (struct secmem_region){p, len, len};
			break;
		}
	}
	pthread_mutex_unlock(&pool_mu);
	*out = p;
	*mapped_len = len;
	return EML_OK;
}

void eml_secmem_unmap(void *p, size_t mapped_len)
{
	if (p == NULL)
		return;
	eml_explicit_bzero(p, mapped_len);
	if (unmap_hook != NULL)
		unmap_hook(p, mapped_len, unmap_hook_ctx);
	int kept = 0;
	size_t cap = mapped_len;
	pthread_mutex_lock(&pool_mu);
	for (int i = 0; i < EML_SECMEM_POOL_SLOTS; i++) {
		if (pool[i].p != p)
			continue;
		cap = pool[i].cap;
		if (pool_idle_bytes + cap <= pool_limit) {
			pool[i].used = 0;
			pool_idle_bytes += cap;
			kept = 1;
		} else {
			pool[i].p = NULL;
			pool[i].cap = 0;
			pool[i].used = 0;
		}
		break;
	}
	pthread_mutex_unlock(&pool_mu);
	if (!kept)
		secmem_release(p, cap);
}
