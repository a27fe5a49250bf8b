/* Per-ISA instances of the vector math (vmath_impl.h), dispatched by vmath.c. */
#ifndef EML_ENGINE_KERNELS_VMATH_INTERNAL_H
#define EML_ENGINE_KERNELS_VMATH_INTERNAL_H

#include <stddef.h>

#define VMATH_DECL(sfx)                                                                            \
	void eml_vexp_##sfx(float *y, const float *x, size_t n);                                   \
	void eml_vsigmoid_##sfx(float *y, const float *x, size_t n);                               \
	void eml_vtanh_##sfx(float *y, const float *x, size_t n);                                  \
	void eml_verf_##sfx(float *y, const float *x, size_t n);                                   \
	void eml_vbias_act_##sfx(float *x, size_t n, float bias, int act, float a, float b);

VMATH_DECL(generic)
VMATH_DECL(avx2)
VMATH_DECL(avx512)

#endif
