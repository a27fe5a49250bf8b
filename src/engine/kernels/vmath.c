/*
 * Elementwise math (see vmath.h): one branch-free implementation (vmath_impl.h) instantiated at
 * 4 lanes here (SSE2 on x86-64, NEON on aarch64, scalarized elsewhere) and at 8 and 16 lanes in
 * the AVX2 and AVX-512 files, chosen at run time from the CPU features.
 */
#include "engine/kernels/vmath.h"

#include <stdatomic.h>

#include "engine/kernels/vmath_internal.h"

#define VMATH_W 4
#define VMATH_SUFFIX generic
#include "engine/kernels/vmath_impl.h"

typedef void (*vm_fn)(float *, const float *, size_t);

typedef struct vm_isa {
	vm_fn exp, sigmoid, tanh, erf;
	void (*bias_act)(float *, size_t, float, int, float, float);
} vm_isa;

static const vm_isa vm_generic = {eml_vexp_generic, eml_vsigmoid_generic, eml_vtanh_generic,
                                  eml_verf_generic, eml_vbias_act_generic};

static const vm_isa *vm_detect(void)
{
	const vm_isa *c = &vm_generic;
#if defined(__x86_64__)
	static const vm_isa vm_avx2 = {eml_vexp_avx2, eml_vsigmoid_avx2, eml_vtanh_avx2,
	                               eml_verf_avx2, eml_vbias_act_avx2};
	static const vm_isa vm_avx512 = {eml_vexp_avx512, eml_vsigmoid_avx512, eml_vtanh_avx512,
	                                 eml_verf_avx512, eml_vbias_act_avx512};
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
		c = &vm_avx512;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		c = &vm_avx2;
#endif
	return c;
}

static const vm_isa *vm_get(void)
{
	/* Every thread would compute the same value: relaxed atomics make the race benign. */
	static _Atomic(const vm_isa *) chosen;
	const vm_isa *c = atomic_load_explicit(&chosen, memory_order_relaxed);
	if (!c) {
		c = vm_detect();
		atomic_store_explicit(&chosen, c, memory_order_relaxed);
	}
	return c;
}

void eml_vexp(float *y, const float *x, size_t n)
{
	vm_get()->exp(y, x, n);
}

void eml_vsigmoid(float *y, const float *x, size_t n)
{
	vm_get()->sigmoid(y, x, n);
}

void eml_vtanh(float *y, const float *x, size_t n)
{
	vm_get()->tanh(y, x, n);
}

void eml_verf(float *y, const float *x, size_t n)
{
	vm_get()->erf(y, x, n);
}

void eml_vbias_act(float *x, size_t n, float bias, int act, float a, float b)
{
	vm_get()->bias_act(x, n, bias, act, a, b);
}
