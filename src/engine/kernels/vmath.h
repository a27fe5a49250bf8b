/*
 * Vectorized elementwise math on float arrays for the engine: exp, sigmoid, tanh, erf.
 * Accurate to about 1e-6 relative (compared against libm in the tests); special values follow
 * libm (NaN propagates, exp overflows to +inf and underflows to 0, sigmoid/tanh saturate).
 * In place is allowed (y == x). Pure and thread-safe.
 */
#ifndef EML_ENGINE_KERNELS_VMATH_H
#define EML_ENGINE_KERNELS_VMATH_H

#include <stddef.h>

void eml_vexp(float *y, const float *x, size_t n);
void eml_vsigmoid(float *y, const float *x, size_t n);
void eml_vtanh(float *y, const float *x, size_t n);
void eml_verf(float *y, const float *x, size_t n);
/* In place: x[i] = act(x[i] + bias), act an enum eml_act (kernels/gemm.h) with its a, b. */
void eml_vbias_act(float *x, size_t n, float bias, int act, float a, float b);

#endif
