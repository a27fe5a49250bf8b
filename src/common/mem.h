/*
 * Memory that is wiped: every heap allocation of the project goes through eml_alloc/eml_free,
 * which remember the size and wipe (non-elidably) on free, so no plaintext survives in the
 * general heap (DESIGN §6, §7). Large secret regions use eml_secmem_map (mmap + mlock +
 * MADV_DONTDUMP + MADV_WIPEONFORK).
 *
 * Thread-safety: all functions are thread-safe.
 */
#ifndef EML_COMMON_MEM_H
#define EML_COMMON_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Non-elidable wipe (explicit_bzero). NULL or n == 0 is a no-op. */
void eml_wipe(void *p, size_t n);

/* Wipe `bytes` of the calling thread's stack below the caller's frame (libsodium's
 * sodium_stackzero): called where a thread has just finished with plaintext (after each request,
 * and before a worker thread exits, since glibc caches the stacks of exited threads). */
#define EML_STACK_SCRUB_BYTES ((size_t)256 << 10)
void eml_stack_scrub(size_t bytes);

/* Allocate n bytes (n may be 0). Returns NULL on failure or when n is absurd. Free with eml_free. */
void *eml_alloc(size_t n);
/* Zeroed allocation of n*size bytes; NULL on overflow or failure. */
void *eml_calloc(size_t n, size_t size);
/* Resize; the old block is wiped and freed. NULL on failure (the old block is left intact). */
void *eml_realloc(void *p, size_t n);
/* Wipe the whole block, then free it. NULL is a no-op. */
void eml_free(void *p);
/* Duplicate a NUL-terminated string (NULL on failure). */
char *eml_strdup(const char *s);
/* Duplicate n bytes. */
void *eml_memdup(const void *p, size_t n);

/* Size of the block returned by eml_alloc (0 for NULL). */
size_t eml_alloc_size(const void *p);

/* Constant-time equality of two byte strings of the same length: 1 when equal, 0 otherwise. */
int eml_ct_eq(const void *a, const void *b, size_t n);

/* Checked arithmetic: 0 on success, EML_E_OVERFLOW on overflow. */
int eml_mul_size(size_t a, size_t b, size_t *out);
int eml_add_size(size_t a, size_t b, size_t *out);

/*
 * A locked, non-dumpable, wipe-on-fork mapping of at least n bytes (rounded to pages).
 * mlock failure is tolerated with one warning per process (it needs privileges or RLIMIT_MEMLOCK);
 * MADV_DONTDUMP/WIPEONFORK failures likewise. Returns EML_OK and *out, or EML_E_NOMEM.
 */
int eml_secmem_map(size_t n, void **out, size_t *mapped_len);
/*
 * Release a mapping from eml_secmem_map: wipe its mapped_len bytes (non-elidable), then either keep
 * the zeroed region, still locked, in a process-wide pool for the next eml_secmem_map (up to the
 * pool limit of idle bytes) or unlock and unmap it. NULL is a no-op. See docs/MEMORY.md.
 */
void eml_secmem_unmap(void *p, size_t mapped_len);
/* Idle bytes the pool may keep (default 512 MiB; 0 = unmap every region at release). */
void eml_secmem_set_pool_limit(size_t bytes);
/* Bytes currently idle (wiped, locked, mapped) in the pool. */
size_t eml_secmem_pool_idle_bytes(void);
/* Unmap idle regions down to the limit; eml_secmem_drop_idle unmaps every idle region. */
void eml_secmem_trim(void);
void eml_secmem_drop_idle(void);

/* Test hook: when set, eml_secmem_unmap calls it with the region right after the wipe (before it
 * is pooled or unmapped). */
typedef void (*eml_secmem_hook_fn)(const void *p, size_t len, void *ctx);
void eml_secmem_set_unmap_hook(eml_secmem_hook_fn fn, void *ctx);

#endif
