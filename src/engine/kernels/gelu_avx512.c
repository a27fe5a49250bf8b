/* Gelu, 16 lanes (AVX-512); body in gelu_impl.h. */
#define VMATH_W 16
#define VMATH_SUFFIX avx512
#include "engine/kernels/gelu_impl.h"
