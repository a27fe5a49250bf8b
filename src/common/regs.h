/*
 * Clearing the vector register file. Kernels, ciphers and hashes leave weights, activations and
 * plaintext in the vector registers, and the register file can later be written to memory
 * nobody wipes: a signal frame's xsave area, a lazy-binding trampoline, and the first frames of
 * a new thread, which starts with a copy of its creator's registers. So: after each plan's last
 * run (threadpool.c), before a thread is created while secrets may be in the registers
 * (eml_thread_create_clean) and before a thread that handled secrets ends.
 */
#ifndef EML_COMMON_REGS_H
#define EML_COMMON_REGS_H

#include <pthread.h>

/* Zero the vector registers this CPU has (zmm0-31, or ymm0-15, or xmm0-15; nothing off x86). */
void eml_clear_vector_regs(void);
void eml_clear_vector_regs_avx512(void);
void eml_clear_vector_regs_avx2(void);

/* pthread_create with the caller's vector registers cleared first. */
int eml_thread_create_clean(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
