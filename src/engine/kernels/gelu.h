/*
 * Gelu (ONNX Gelu-20) on float arrays, vectorized on the vector math of vmath_impl.h:
 *   approximate "none": y = 0.5 x (1 + erf(x / sqrt 2))
 *   approximate "tanh": y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * evaluated as written, so special values follow the formula as ONNX Runtime evaluates it
 * (NaN propagates, +inf -> +inf, -inf -> NaN since -inf * 0). Accurate to about 1e-6 relative
 * where the result is not tiny (tests/unit/test_opset20.c). In place is allowed (y == x). Pure
 * and thread-safe.
 */
#ifndef EML_ENGINE_KERNELS_GELU_H
#define EML_ENGINE_KERNELS_GELU_H

#include <stddef.h>

void eml_vgelu(float *y, const float *x, size_t n, int tanh_approx);

/* Per-ISA instances (gelu_impl.h), dispatched by gelu.c. */
void eml_vgelu_generic(float *y, const float *x, size_t n, int tanh_approx);
void eml_vgelu_avx2(float *y, const float *x, size_t n, int tanh_approx);
void eml_vgelu_avx512(float *y, const float *x, size_t n, int tanh_approx);

#endif
