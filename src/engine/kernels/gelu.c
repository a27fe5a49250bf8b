/*
 * Gelu (see gelu.h): gelu_impl.h instantiated at 4 lanes here (SSE2 on x86-64, NEON on aarch64,
 * scalarized elsewhere) and at 8 and 16 lanes in gelu_avx2.c / gelu_avx512.c, chosen at run
 * time from the CPU features like the vector math (vmath.c).
 */
#include <stdatomic.h>

#define VMATH_W 4
#define VMATH_SUFFIX generic
#include "engine/kernels/gelu_impl.h"

typedef void (*gelu_fn)(float *, const float *, size_t, int);

static gelu_fn gelu_detect(void)
{
	gelu_fn f = eml_vgelu_generic;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
		f = eml_vgelu_avx512;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		f = eml_vgelu_avx2;
#endif
	return f;
}

void eml_vgelu(float *y, const float *x, size_t n, int tanh_approx)
{
	/* Every thread would compute the same value: relaxed atomics make the race benign. */
	static _Atomic(gelu_fn) chosen;
	gelu_fn f = atomic_load_explicit(&chosen, memory_order_relaxed);
	if (!f) {
		f = gelu_detect();
		atomic_store_explicit(&chosen, f, memory_order_relaxed);
	}
	f(y, x, n, tanh_approx);
}
