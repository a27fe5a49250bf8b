#include "crypto/mem.h"

#include <openssl/crypto.h>

#include "common/mem.h"
#include "eml/error.h"

static void *wipe_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return eml_alloc(n);
}

static void *wipe_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (n == 0) {
		eml_free(p);
		return NULL;
	}
	return eml_realloc(p, n);
}

static void wipe_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	eml_free(p);
}

int eml_crypto_use_wiping_allocator(void)
{
	return CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free) == 1 ? EML_OK
	                                                                           : EML_E_CRYPTO;
}
