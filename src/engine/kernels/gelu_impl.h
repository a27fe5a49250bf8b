/*
 * Gelu body, instantiated per vector width by gelu.c (4 lanes), gelu_avx2.c (8) and
 * gelu_avx512.c (16): define VMATH_W and VMATH_SUFFIX first. The erf and tanh are those of
 * vmath_impl.h (included for its inline functions only).
 */
#define VMATH_INLINE_ONLY
#include "engine/kernels/vmath_impl.h"

#include "engine/kernels/gelu.h"

static inline vf vm_gelu_erf(vf x)
{
	/* 0.5 x (1 + erf(x / sqrt 2)) */
	vf e = vm_erf(x * vm_splat(0.70710678118654752f));
	return vm_splat(0.5f) * x * (vm_splat(1.0f) + e);
}

static inline vf vm_gelu_tanh(vf x)
{
	/* 0.5 x (1 + tanh(sqrt(2/pi) x + sqrt(2/pi) 0.044715 x^3)) */
	const vf b = vm_splat(0.7978845608028654f), k = vm_splat(0.0356774081363001f);
	vf t = vm_tanh(x * (b + k * (x * x)));
	return vm_splat(0.5f) * x * (vm_splat(1.0f) + t);
}

void VM_FN(eml_vgelu_)(float *y, const float *x, size_t n, int tanh_approx)
{
	if (tanh_approx)
		VM_MAP_LOOP(vm_gelu_tanh);
	else
		VM_MAP_LOOP(vm_gelu_erf);
}
