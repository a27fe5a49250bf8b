/* Clearing the vector register file (threadpool.c, after each plan's last run). */
#ifndef EML_ENGINE_KERNELS_REGS_H
#define EML_ENGINE_KERNELS_REGS_H

/* Zero the vector registers this CPU has (zmm0-31, or ymm0-15, or nothing portable). */
void eml_clear_vector_regs(void);
void eml_clear_vector_regs_avx512(void);
void eml_clear_vector_regs_avx2(void);

#endif
