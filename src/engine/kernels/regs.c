#include "engine/kernels/regs.h"

#include <string.h>

#include "engine/kernels/gemm.h"

void eml_clear_vector_regs(void)
{
#if defined(__x86_64__)
	/* The ISA the kernels run with is the one whose registers hold their data. */
	const char *isa = eml_sgemm_isa();
	if (strcmp(isa, "avx512") == 0)
		eml_clear_vector_regs_avx512();
	else if (strcmp(isa, "avx2") == 0)
		eml_clear_vector_regs_avx2();
#endif
}
