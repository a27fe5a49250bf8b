/*
 * Convolution kernels, float32 (ONNX Conv / ConvTranspose semantics): input NC<spatial>,
 * weights OI<kernel> for Conv (M x C/group x k...) and IO<kernel> for ConvTranspose
 * (C x M/group x k...), any number of spatial dims 1..EML_CONV_MAX_ND, groups, strides,
 * dilations, begin/end pads; bias per output channel and an activation fused at the end.
 *
 * Paths (chosen by eml_conv): 1x1 stride 1 without pads as a direct GEMM on the input;
 * depthwise (group == C, M a multiple of C) as a direct 2-D kernel; everything else through
 * im2col (in column chunks, inside `work`) and SGEMM with the weights pre-packed.
 * ConvTranspose: SGEMM (W^T X) into column chunks, then col2im scatter-add.
 *
 * Memory: never allocates. The caller provides `work` of eml_conv_work_size bytes and, optionally,
 * pre-packed weights (eml_conv_prepare into eml_conv_packed_size bytes, done once at assembly;
 * pass packed_w = NULL to use the raw weights, which are then packed into `work`).
 * Sizes depend on the GEMM ISA (eml_sgemm_isa), which is fixed for a process outside tests.
 * Thread-safety: pure; parallel through the pool passed in (NULL = caller's thread only).
 */
#ifndef EML_ENGINE_KERNELS_CONV_H
#define EML_ENGINE_KERNELS_CONV_H

#include <stddef.h>

#include "engine/kernels/gemm.h"
#include "engine/threadpool.h"

#define EML_CONV_MAX_ND 6

typedef struct eml_conv_params {
	int nd;       /* number of spatial dims, 1..EML_CONV_MAX_ND */
	size_t batch; /* N */
	size_t in_c;  /* C */
	size_t out_c; /* M */
	size_t group; /* C % group == 0 and M % group == 0 */
	size_t in[EML_CONV_MAX_ND];
	size_t kernel[EML_CONV_MAX_ND];
	size_t out[EML_CONV_MAX_ND]; /* filled by eml_conv_out_shape / eml_convt_out_shape */
	size_t stride[EML_CONV_MAX_ND];
	size_t dilation[EML_CONV_MAX_ND];
	size_t pad_begin[EML_CONV_MAX_ND];
	size_t pad_end[EML_CONV_MAX_ND];
	size_t output_padding[EML_CONV_MAX_ND]; /* ConvTranspose only */
	int act;                                /* enum eml_act, applied after the bias */
	float act_a, act_b;
	int post; /* then y = y * post_s + post_t when non-zero (see eml_epilogue) */
	float post_s, post_t;
} eml_conv_params;

/*
 * Conv: out[i] = floor((in + pb + pe - ((k-1)*d + 1)) / s) + 1. Returns 0 on success, -1 when
 * a parameter is invalid (zero stride/dilation/kernel, bad group, empty output, nd out of range).
 */
int eml_conv_out_shape(eml_conv_params *p);
/* ConvTranspose: out[i] = s*(in-1) + output_padding + (k-1)*d + 1 - pb - pe. 0 or -1 as above. */
int eml_convt_out_shape(eml_conv_params *p);

/* Conv */
size_t eml_conv_packed_size(const eml_conv_params *p);
void eml_conv_prepare(const eml_conv_params *p, const float *W, float *packed);
/* The same with output channel m's weights multiplied by row_scale[m] (NULL: none): folded
 * BatchNormalization and scales without a copy of the weights. */
void eml_conv_prepare_scaled(const eml_conv_params *p, const float *W, const float *row_scale,
                             float *packed);
size_t eml_conv_work_size(const eml_conv_params *p, int threads);
/* Smaller scratch that suffices when packed_w is always given (weights packed at assembly). */
size_t eml_conv_work_size_prepacked(const eml_conv_params *p, int threads);
/* Y (N x M x out...) = act(conv(X, W) + bias). bias may be NULL. W may be NULL when packed_w. */
void eml_conv(eml_threadpool *pool, const eml_conv_params *p, const float *X, const float *W,
              const float *packed_w, const float *bias, float *Y, void *work);

/* ConvTranspose */
size_t eml_convt_packed_size(const eml_conv_params *p);
void eml_convt_prepare(const eml_conv_params *p, const float *W, float *packed);
size_t eml_convt_work_size(const eml_conv_params *p, int threads);
size_t eml_convt_work_size_prepacked(const eml_conv_params *p, int threads);
void eml_convt(eml_threadpool *pool, const eml_conv_params *p, const float *X, const float *W,
               const float *packed_w, const float *bias, float *Y, void *work);

#endif
