/*
 * Elementwise math (see vmath.h). Portable for now: libm per element.
 */
#include "engine/kernels/vmath.h"

#include <math.h>

void eml_vexp(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = expf(x[i]);
}

void eml_vsigmoid(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		/* exp of a non-positive argument never overflows. */
		if (v >= 0.0f)
			y[i] = 1.0f / (1.0f + expf(-v));
		else {
			float e = expf(v);
			y[i] = e / (1.0f + e);
		}
	}
}

void eml_vtanh(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = tanhf(x[i]);
}

void eml_verf(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = erff(x[i]);
}
