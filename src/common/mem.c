#include "common/mem.h"

#include <alloca.h>
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

int eml_secmem_map(size_t n, void **out, size_t *mapped_len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t ps = page > 0 ? (size_t)page : 4096;
	size_t len;
	if (n == 0)
		n = 1;
	if (eml_add_size(n, ps - 1, &len) != EML_OK)
		return EML_E_NOMEM;
	len &= ~(ps - 1);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return EML_E_NOMEM;
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
	munlock(p, mapped_len);
	munmap(p, mapped_len);
}
