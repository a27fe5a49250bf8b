/* Clearing ymm0-15 (see common/regs.h for why). */
#include "common/regs.h"

void eml_clear_vector_regs_avx2(void)
{
	__asm__ __volatile__("vzeroall" ::
	                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
	                           "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
	                           "xmm15");
}
