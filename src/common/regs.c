#include "common/regs.h"

void eml_clear_vector_regs(void)
{
#if defined(__x86_64__)
	/* Every register the CPU has, whatever ISA the kernels were told to use: OpenSSL picks its
	 * own (VAES, SHA-NI) and may have used the wider ones. */
	if (__builtin_cpu_supports("avx512f"))
		eml_clear_vector_regs_avx512();
	else if (__builtin_cpu_supports("avx2"))
		eml_clear_vector_regs_avx2();
	else
		__asm__ __volatile__("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\t"
		                     "pxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"
		                     "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
		                     "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
		                     "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\t"
		                     "pxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
		                     "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\t"
		                     "pxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15"
		                     :
		                     :
		                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
		                       "xmm14", "xmm15");
#endif
}

int eml_thread_create_clean(pthread_t *t, void *(*fn)(void *), void *arg)
{
	eml_clear_vector_regs();
	return pthread_create(t, NULL, fn, arg);
}
