/* Gelu, 8 lanes (AVX2/FMA); body in gelu_impl.h. */
#define VMATH_W 8
#define VMATH_SUFFIX avx2
#include "engine/kernels/gelu_impl.h"
