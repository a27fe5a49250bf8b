/* Internal: ISA-specific 2-D pooling rows (no dilation, no indices), dispatched by pool.c. */
#ifndef EML_ENGINE_KERNELS_POOL_INTERNAL_H
#define EML_ENGINE_KERNELS_POOL_INTERNAL_H

#include <stddef.h>

typedef struct eml_pool2d_geom {
	size_t ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, peh, pew;
	int is_max, count_include_pad;
} eml_pool2d_geom;

/* Output row `oh` of one plane (same semantics as the portable 2-D path in pool.c). */
void eml_pool2d_row_avx512(const eml_pool2d_geom *g, const float *x, size_t oh, float *y);
void eml_pool2d_row_avx2(const eml_pool2d_geom *g, const float *x, size_t oh, float *y);

#endif
