/*
 * Kernel unit tests with hand-computed expectations: a small GEMM through every epilogue,
 * activation special values, Conv/ConvTranspose output shapes (ONNX operator examples) and
 * parameter validation, a tiny Conv and ConvTranspose by hand.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "engine/kernels/conv.h"
#include "engine/kernels/gemm.h"
#include "engine/kernels/pool.h"

static _Alignas(64) unsigned char work[1 << 20];

Test(kernels, gemm_2x2_with_epilogues)
{
	/* A = [1 2; 3 4], B = [5 6; 7 8] -> AB = [19 22; 43 50] */
	const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
	float C[4];
	cr_assert_leq(eml_sgemm_work_size(2, 2, 2, 1), sizeof(work));
	eml_sgemm(NULL, 2, 2, 2, 1.0f, A, 2, 0, B, 2, 0, NULL, C, 2, NULL, work);
	cr_assert(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50);
	/* A^T B^T = (BA)^T: BA = [23 34; 31 46] -> [23 31; 34 46] */
	eml_sgemm(NULL, 2, 2, 2, 1.0f, A, 2, 1, B, 2, 1, NULL, C, 2, NULL, work);
	cr_assert(C[0] == 23 && C[1] == 31 && C[2] == 34 && C[3] == 46);
	/* alpha 0.5, row bias [1, -100], Relu -> [10.5 12; 0 0] */
	const float rb[2] = {1, -100};
	eml_epilogue ep = {.bias_kind = EML_BIAS_ROW, .bias = rb, .act = EML_ACT_RELU};
	eml_sgemm(NULL, 2, 2, 2, 0.5f, A, 2, 0, B, 2, 0, NULL, C, 2, &ep, work);
	cr_assert(C[0] == 10.5f && C[1] == 12 && C[2] == 0 && C[3] == 0);
	/* column bias [1, 2], Clip [20, 45] -> [20 24; 44 45] */
	const float cb[2] = {1, 2};
	ep = (eml_epilogue){
	    .bias_kind = EML_BIAS_COL, .bias = cb, .act = EML_ACT_CLIP, .act_a = 20, .act_b = 45};
	eml_sgemm(NULL, 2, 2, 2, 1.0f, A, 2, 0, B, 2, 0, NULL, C, 2, &ep, work);
	cr_assert(C[0] == 20 && C[1] == 24 && C[2] == 44 && C[3] == 45);
	/* in-place Gemm: C = AB + 2*C */
	float Cin[4] = {1, 2, 3, 4};
	ep = (eml_epilogue){.bias_kind = EML_BIAS_FULL, .bias = Cin, .beta = 2.0f, .ld_bias = 2};
	eml_sgemm(NULL, 2, 2, 2, 1.0f, A, 2, 0, B, 2, 0, NULL, Cin, 2, &ep, work);
	cr_assert(Cin[0] == 21 && Cin[1] == 26 && Cin[2] == 49 && Cin[3] == 58);
	/* in place with beta 0: C (even NaN) is ignored */
	float Cnan[4] = {NAN, NAN, INFINITY, NAN};
	ep = (eml_epilogue){.bias_kind = EML_BIAS_FULL, .bias = Cnan, .beta = 0.0f, .ld_bias = 2};
	eml_sgemm(NULL, 2, 2, 2, 1.0f, A, 2, 0, B, 2, 0, NULL, Cnan, 2, &ep, work);
	cr_assert(Cnan[0] == 19 && Cnan[1] == 22 && Cnan[2] == 43 && Cnan[3] == 50);
	/* broadcast row (ld_bias 0), LeakyRelu on negatives: AB*(-1) + [1 2] */
	const float br[2] = {1, 2};
	ep = (eml_epilogue){.bias_kind = EML_BIAS_FULL,
	                    .bias = br,
	                    .beta = 1.0f,
	                    .ld_bias = 0,
	                    .act = EML_ACT_LEAKYRELU,
	                    .act_a = 0.5f};
	eml_sgemm(NULL, 2, 2, 2, -1.0f, A, 2, 0, B, 2, 0, NULL, C, 2, &ep, work);
	cr_assert(C[0] == -9 && C[1] == -10 && C[2] == -21 && C[3] == -24);
	/* K = 0: act(bias) */
	ep = (eml_epilogue){.bias_kind = EML_BIAS_ROW, .bias = rb, .act = EML_ACT_NONE};
	eml_sgemm(NULL, 2, 2, 0, 1.0f, A, 2, 0, B, 2, 0, NULL, C, 2, &ep, work);
	cr_assert(C[0] == 1 && C[1] == 1 && C[2] == -100 && C[3] == -100);
}

Test(kernels, activation_special_values)
{
	float x[5] = {NAN, -INFINITY, INFINITY, -3.0f, 3.0f};
	float y[5];
	memcpy(y, x, sizeof(x));
	eml_act_apply(y, 5, EML_ACT_RELU, 0, 0);
	cr_assert(isnan(y[0]) && y[1] == 0 && isinf(y[2]) && y[3] == 0 && y[4] == 3);
	memcpy(y, x, sizeof(x));
	eml_act_apply(y, 5, EML_ACT_HARDSWISH, 0, 0);
	cr_assert(isnan(y[0]) && y[3] == 0 && y[4] == 3);
	memcpy(y, x, sizeof(x));
	eml_act_apply(y, 5, EML_ACT_HARDSIGMOID, 0.2f, 0.5f);
	cr_assert(isnan(y[0]) && y[1] == 0 && y[2] == 1 && y[3] == 0 && y[4] == 1);
	memcpy(y, x, sizeof(x));
	eml_act_apply(y, 5, EML_ACT_SIGMOID, 0, 0);
	cr_assert(isnan(y[0]) && y[1] == 0 && y[2] == 1);
	cr_assert_float_eq(y[4], 1.0f / (1.0f + expf(-3.0f)), 1e-6);
	memcpy(y, x, sizeof(x));
	eml_act_apply(y, 5, EML_ACT_TANH, 0, 0);
	cr_assert(isnan(y[0]) && y[1] == -1 && y[2] == 1);
	cr_assert_float_eq(y[3], tanhf(-3.0f), 1e-6);
}

static eml_conv_params conv2d(size_t c, size_t m, size_t g, size_t h, size_t w, size_t k, size_t s,
                              size_t pad)
{
	eml_conv_params p;
	memset(&p, 0, sizeof(p));
	p.nd = 2;
	p.batch = 1;
	p.in_c = c;
	p.out_c = m;
	p.group = g;
	for (int i = 0; i < 2; i++) {
		p.in[i] = i ? w : h;
		p.kernel[i] = k;
		p.stride[i] = s;
		p.dilation[i] = 1;
		p.pad_begin[i] = p.pad_end[i] = pad;
	}
	return p;
}

Test(kernels, conv_shapes)
{
	/* onnx conv_with_strides_padding: 7x5, k3, s2, pad 1 -> 4x3 */
	eml_conv_params p = conv2d(1, 1, 1, 7, 5, 3, 2, 1);
	cr_assert_eq(eml_conv_out_shape(&p), 0);
	cr_assert(p.out[0] == 4 && p.out[1] == 3);
	/* onnx convtranspose_output_shape-like: 3x3, k3, strides (3, 2), output_padding 1 -> 10x8 */
	p = conv2d(1, 2, 1, 3, 3, 3, 1, 0);
	p.stride[0] = 3;
	p.stride[1] = 2;
	p.output_padding[0] = p.output_padding[1] = 1;
	cr_assert_eq(eml_convt_out_shape(&p), 0);
	cr_assert(p.out[0] == 10 && p.out[1] == 8);
	/* invalid: group does not divide, zero stride, kernel larger than the padded input */
	p = conv2d(3, 4, 2, 5, 5, 3, 1, 0);
	cr_assert_eq(eml_conv_out_shape(&p), -1);
	p = conv2d(2, 2, 1, 5, 5, 3, 0, 0);
	cr_assert_eq(eml_conv_out_shape(&p), -1);
	p = conv2d(2, 2, 1, 2, 2, 3, 1, 0);
	cr_assert_eq(eml_conv_out_shape(&p), -1);
	p.nd = 0;
	cr_assert_eq(eml_conv_out_shape(&p), -1);
}

Test(kernels, conv_and_convtranspose_by_hand)
{
	/* 1 channel 3x3 input 1..9, 2x2 kernel of ones, no pad: sums of 2x2 windows */
	const float X[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, W[4] = {1, 1, 1, 1};
	const float bias[1] = {0.5f};
	float Y[16];
	eml_conv_params p = conv2d(1, 1, 1, 3, 3, 2, 1, 0);
	cr_assert_eq(eml_conv_out_shape(&p), 0);
	cr_assert_leq(eml_conv_work_size(&p, 1), sizeof(work));
	eml_conv(NULL, &p, X, W, NULL, bias, Y, work);
	cr_assert(Y[0] == 12.5f && Y[1] == 16.5f && Y[2] == 24.5f && Y[3] == 28.5f);
	/* ConvTranspose of a 2x2 input [1 2; 3 4] with 2x2 ones, stride 1: 3x3 scatter-add */
	const float X2[4] = {1, 2, 3, 4};
	p = conv2d(1, 1, 1, 2, 2, 2, 1, 0);
	cr_assert_eq(eml_convt_out_shape(&p), 0);
	cr_assert(p.out[0] == 3 && p.out[1] == 3);
	cr_assert_leq(eml_convt_work_size(&p, 1), sizeof(work));
	eml_convt(NULL, &p, X2, W, NULL, NULL, Y, work);
	const float want[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
	for (int i = 0; i < 9; i++)
		cr_assert_eq(Y[i], want[i], "convT[%d] = %g, want %g", i, (double)Y[i],
		             (double)want[i]);
}

Test(kernels, maxpool_propagates_nan_on_every_isa)
{
	static const char *const isas[] = {"portable", "avx2", "avx512"};
	/* 1 x 1 x 2 x 20, kernel 1x2 stride 1x2: windows {0,1}, {2,3}, ...; NaN at 5 */
	float x[40], y[20];
	for (int i = 0; i < 40; i++)
		x[i] = (float)i;
	x[5] = NAN;
	eml_pool_params p = {.nd = 2, .batch = 1, .channels = 1};
	p.in[0] = 2;
	p.in[1] = 20;
	p.kernel[0] = 1;
	p.kernel[1] = 2;
	p.stride[0] = 1;
	p.stride[1] = 2;
	p.dilation[0] = p.dilation[1] = 1;
	cr_assert_eq(eml_pool_out_shape(&p), 0);
	cr_assert(p.out[0] == 2 && p.out[1] == 10);
	for (int ii = 0; ii < 3; ii++) {
		if (eml_sgemm_force_isa(isas[ii]) != 0)
			continue;
		eml_maxpool(NULL, &p, x, y, NULL);
		for (int i = 0; i < 20; i++) {
			if (i == 2)
				cr_assert(isnan(y[i]), "%s: window 2 holds the NaN", isas[ii]);
			else
				cr_assert_eq(y[i], (float)(2 * i + 1), "%s: y[%d] = %g", isas[ii],
				             i, (double)y[i]);
		}
	}
	eml_sgemm_force_isa(NULL);
}
