/* Vector math, 16 lanes (AVX-512); body in vmath_impl.h. */
#include "engine/kernels/vmath_internal.h"

#define VMATH_W 16
#define VMATH_SUFFIX avx512
#include "engine/kernels/vmath_impl.h"
