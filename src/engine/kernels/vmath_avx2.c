/* Vector math, 8 lanes (AVX2/FMA); body in vmath_impl.h. */
#include "engine/kernels/vmath_internal.h"

#define VMATH_W 8
#define VMATH_SUFFIX avx2
#include "engine/kernels/vmath_impl.h"
