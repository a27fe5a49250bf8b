/*
 * Vector math body, instantiated once per vector width by vmath.c (4 lanes), vmath_avx2.c (8)
 * and vmath_avx512.c (16) with GCC vector extensions: define VMATH_W and VMATH_SUFFIX first.
 *
 * exp: Cephes expf (S. Moshier): n = round(x log2 e), r = x - n ln2 in two parts, degree-5
 * polynomial, scaled by 2^n as two factors so that results down to the denormals are right.
 * tanh: Cephes tanhf (odd polynomial below 0.625, 1 - 2/(e^{2|x|} + 1) above).
 * erf: Chebyshev interpolants (our own fit, degree 10; max relative error ~1e-9 in exact
 * arithmetic) of erf(x)/x in x^2 on [0, 2], and of erfc(x) e^{x^2} on [2, 4]; 1 beyond 4
 * (erfc(4) < half an ulp of 1). Lanes are evaluated branch-free and blended.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/gemm.h" /* enum eml_act */

#define VM_CAT2(a, b) a##b
#define VM_CAT(a, b) VM_CAT2(a, b)
#define VM_FN(name) VM_CAT(name, VMATH_SUFFIX)

typedef float vf __attribute__((vector_size(VMATH_W * 4)));
typedef int32_t vi __attribute__((vector_size(VMATH_W * 4)));

static inline vf vm_splat(float v)
{
	vf r;
	for (int i = 0; i < VMATH_W; i++)
		r[i] = v;
	return r;
}

/* m ? a : b, m from a vector comparison (all ones / zeros per lane). */
static inline vf vm_sel(vi m, vf a, vf b)
{
	return (vf)((m & (vi)a) | (~m & (vi)b));
}

static inline vf vm_exp(vf x)
{
	const vf hi = vm_splat(88.72283935546875f), lo = vm_splat(-104.0f);
	vi nan = x != x;
	vi over = x > hi;
	vf xc = vm_sel(x < lo, lo, vm_sel(over, hi, x));
	const vf magic = vm_splat(12582912.0f); /* 1.5 * 2^23: adding rounds to an integer */
	vf fx = (xc * vm_splat(1.44269504088896341f) + magic) - magic;
	vf r = xc - fx * vm_splat(0.693359375f) + fx * vm_splat(2.12194440e-4f);
	vf p = vm_splat(1.9875691500E-4f);
	p = p * r + vm_splat(1.3981999507E-3f);
	p = p * r + vm_splat(8.3334519073E-3f);
	p = p * r + vm_splat(4.1665795894E-2f);
	p = p * r + vm_splat(1.6666665459E-1f);
	p = p * r + vm_splat(5.0000001201E-1f);
	p = p * (r * r) + r + vm_splat(1.0f);
	vi n = __builtin_convertvector(fx, vi);
	vi n1 = n >> 1, n2 = n - n1;
	vf s1 = (vf)((n1 + 127) << 23), s2 = (vf)((n2 + 127) << 23);
	vf y = p * s1 * s2;
	y = vm_sel(over, vm_splat(__builtin_inff()), y);
	return vm_sel(nan, x, y);
}

static inline vf vm_sigmoid(vf x)
{
	return vm_splat(1.0f) / (vm_splat(1.0f) + vm_exp(-x));
}

static inline vf vm_abs(vf x)
{
	return (vf)((vi)x & ~(vi)vm_splat(-0.0f));
}

static inline vf vm_copysign(vf mag, vf sgn)
{
	vi sb = (vi)vm_splat(-0.0f);
	return (vf)(((vi)mag & ~sb) | ((vi)sgn & sb));
}

static inline vf vm_tanh(vf x)
{
	vf a = vm_abs(x);
	vf e = vm_exp(a + a);
	vf big = vm_copysign(vm_splat(1.0f) - vm_splat(2.0f) / (e + vm_splat(1.0f)), x);
	vf z = x * x;
	vf p = vm_splat(-5.70498872745E-3f);
	p = p * z + vm_splat(2.06390887954E-2f);
	p = p * z - vm_splat(5.37397155531E-2f);
	p = p * z + vm_splat(1.33314422036E-1f);
	p = p * z - vm_splat(3.33332819422E-1f);
	vf small = p * z * x + x;
	return vm_sel(a < vm_splat(0.625f), small, big);
}

/* Chebyshev series c[0..10] at u in [-1, 1] (Clenshaw). */
static inline vf vm_cheb10(const float *c, vf u)
{
	vf b1 = vm_splat(0.0f), b2 = vm_splat(0.0f), u2 = u + u;
	for (int k = 10; k >= 1; k--) {
		vf t = u2 * b1 - b2 + vm_splat(c[k]);
		b2 = b1;
		b1 = t;
	}
	return u * b1 - b2 + vm_splat(c[0]);
}

static inline vf vm_erf(vf x)
{
	static const float cs[11] = {7.415552820e-01f,  -3.010710734e-01f, 6.899483069e-02f,
	                             -1.391627126e-02f, 2.420799522e-03f,  -3.658639686e-04f,
	                             4.862098443e-05f,  -5.749256549e-06f, 6.113242108e-07f,
	                             -5.898877947e-08f, 5.175127857e-09f};
	static const float cb[11] = {1.874295690e-01f,  -5.794652884e-02f, 8.595247387e-03f,
	                             -1.228461364e-03f, 1.697436669e-04f,  -2.273832934e-05f,
	                             2.959844378e-06f,  -3.751357446e-07f, 4.637272334e-08f,
	                             -5.598490906e-09f, 6.526450958e-10f};
	vf a = vm_abs(x);
	vf t = x * x;
	/* small: t in [0, 4] -> u = t/2 - 1 */
	vf small = x * vm_cheb10(cs, t * vm_splat(0.5f) - vm_splat(1.0f));
	/* big: a in [2, 4] -> u = a - 3 */
	vf g = vm_cheb10(cb, a - vm_splat(3.0f));
	vf big = vm_splat(1.0f) - vm_exp(-t) * g;
	vf r = vm_sel(a < vm_splat(4.0f), big, vm_splat(1.0f));
	r = vm_copysign(r, x);
	r = vm_sel(a < vm_splat(2.0f), small, r);
	return vm_sel(x != x, x, r);
}

/* VMATH_INLINE_ONLY: only the inline vector functions above (for other kernels built on them,
 * e.g. gelu_impl.h), not this file's exported arrays. */
/* y[i] = op(x[i]) for i < n, a vector at a time (the tail through a zero-padded vector). Shared
 * with the kernels that include this file inline-only (gelu_impl.h). */
#define VM_MAP_LOOP(op)                                                                            \
	do {                                                                                       \
		size_t i_ = 0;                                                                     \
		for (; i_ + VMATH_W <= n; i_ += VMATH_W) {                                         \
			vf v_;                                                                     \
			memcpy(&v_, x + i_, sizeof(v_));                                           \
			v_ = op(v_);                                                               \
			memcpy(y + i_, &v_, sizeof(v_));                                           \
		}                                                                                  \
		if (i_ < n) {                                                                      \
			vf v_ = vm_splat(0.0f);                                                    \
			memcpy(&v_, x + i_, (n - i_) * sizeof(float));                             \
			v_ = op(v_);                                                               \
			memcpy(y + i_, &v_, (n - i_) * sizeof(float));                             \
		}                                                                                  \
	} while (0)

#ifndef VMATH_INLINE_ONLY

#define VM_ARRAY(name, op)                                                                         \
	void VM_FN(name)(float *y, const float *x, size_t n)                                       \
	{                                                                                          \
		VM_MAP_LOOP(op);                                                                   \
	}

VM_ARRAY(eml_vexp_, vm_exp)
VM_ARRAY(eml_vsigmoid_, vm_sigmoid)
VM_ARRAY(eml_vtanh_, vm_tanh)
VM_ARRAY(eml_verf_, vm_erf)

/* ---- activations (enum eml_act) with an optional scalar bias added first, in one pass ---- */

static inline vf vm_relu(vf v, vf a, vf b)
{
	(void)a, (void)b;
	return vm_sel(v < vm_splat(0.0f), vm_splat(0.0f), v); /* NaN stays NaN */
}

static inline vf vm_clip(vf v, vf a, vf b)
{
	v = vm_sel(v < a, a, v);
	return vm_sel(v > b, b, v);
}

static inline vf vm_hsig(vf v, vf a, vf b)
{
	vf t = a * v + b;
	t = vm_sel(t < vm_splat(0.0f), vm_splat(0.0f), t);
	return vm_sel(t > vm_splat(1.0f), vm_splat(1.0f), t);
}

static inline vf vm_hswish(vf v, vf a, vf b)
{
	(void)a, (void)b;
	vf t = v * vm_splat(1.0f / 6.0f) + vm_splat(0.5f);
	t = vm_sel(t < vm_splat(0.0f), vm_splat(0.0f), t);
	t = vm_sel(t > vm_splat(1.0f), vm_splat(1.0f), t);
	return v * t;
}

static inline vf vm_leaky(vf v, vf a, vf b)
{
	(void)b;
	return vm_sel(v >= vm_splat(0.0f), v, a * v);
}

static inline vf vm_sig3(vf v, vf a, vf b)
{
	(void)a, (void)b;
	return vm_sigmoid(v);
}

static inline vf vm_tanh3(vf v, vf a, vf b)
{
	(void)a, (void)b;
	return vm_tanh(v);
}

static inline vf vm_none(vf v, vf a, vf b)
{
	(void)a, (void)b;
	return v;
}

/* x[i] = op(x[i] + bias); bias -0.0f is an exact identity (x + -0 == x, also for x == -0). */
#define VM_ACT_LOOP(op)                                                                            \
	do {                                                                                       \
		size_t i = 0;                                                                      \
		for (; i + VMATH_W <= n; i += VMATH_W) {                                           \
			vf v;                                                                      \
			memcpy(&v, x + i, sizeof(v));                                              \
			v = op(v + vb0, va, vbb);                                                  \
			memcpy(x + i, &v, sizeof(v));                                              \
		}                                                                                  \
		if (i < n) {                                                                       \
			vf v = vm_splat(0.0f);                                                     \
			memcpy(&v, x + i, (n - i) * sizeof(float));                                \
			v = op(v + vb0, va, vbb);                                                  \
			memcpy(x + i, &v, (n - i) * sizeof(float));                                \
		}                                                                                  \
	} while (0)

void VM_FN(eml_vbias_act_)(float *x, size_t n, float bias, int act, float a, float b)
{
	const vf vb0 = vm_splat(bias), va = vm_splat(a), vbb = vm_splat(b);
	switch (act) {
	case EML_ACT_RELU:
		VM_ACT_LOOP(vm_relu);
		break;
	case EML_ACT_CLIP:
		VM_ACT_LOOP(vm_clip);
		break;
	case EML_ACT_SIGMOID:
		VM_ACT_LOOP(vm_sig3);
		break;
	case EML_ACT_HARDSIGMOID:
		VM_ACT_LOOP(vm_hsig);
		break;
	case EML_ACT_HARDSWISH:
		VM_ACT_LOOP(vm_hswish);
		break;
	case EML_ACT_LEAKYRELU:
		VM_ACT_LOOP(vm_leaky);
		break;
	case EML_ACT_TANH:
		VM_ACT_LOOP(vm_tanh3);
		break;
	default:
		VM_ACT_LOOP(vm_none);
		break;
	}
}

#endif /* VMATH_INLINE_ONLY */
