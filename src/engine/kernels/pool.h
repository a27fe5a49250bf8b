/*
 * Pooling kernels, float32, input N x C x <spatial> (ONNX MaxPool, AveragePool,
 * GlobalAveragePool, GlobalMaxPool): any number of spatial dims 1..EML_POOL_MAX_ND (fast path for
 * 2-D), strides, dilations, begin/end pads, ceil_mode; MaxPool's optional Indices output
 * (flattened over N x C x <spatial> of the unpadded input, row-major or, with storage_order 1,
 * column-major spatial offsets); AveragePool's count_include_pad.
 * Pads and auto_pad resolution are the caller's (engine) job. Never allocates. Pure and
 * thread-safe; parallel over planes through the pool (NULL = caller's thread only).
 */
#ifndef EML_ENGINE_KERNELS_POOL_H
#define EML_ENGINE_KERNELS_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/threadpool.h"

#define EML_POOL_MAX_ND 6

typedef struct eml_pool_params {
	int nd;
	size_t batch, channels;
	size_t in[EML_POOL_MAX_ND];
	size_t kernel[EML_POOL_MAX_ND];
	size_t out[EML_POOL_MAX_ND]; /* filled by eml_pool_out_shape */
	size_t stride[EML_POOL_MAX_ND];
	size_t dilation[EML_POOL_MAX_ND];
	size_t pad_begin[EML_POOL_MAX_ND];
	size_t pad_end[EML_POOL_MAX_ND];
	int ceil_mode;
	int count_include_pad; /* AveragePool */
	int storage_order;     /* MaxPool Indices: 0 row-major, 1 column-major */
} eml_pool_params;

/*
 * out = floor_or_ceil((in + pb + pe - ((k-1)*d + 1)) / s) + 1; with ceil_mode a last window that
 * would start in the end padding is dropped (as PyTorch and ONNX's reference do).
 * Returns 0, or -1 for invalid parameters (zero kernel/stride/dilation, window larger than the
 * padded input, nd out of range).
 */
int eml_pool_out_shape(eml_pool_params *p);

/* Y and (when not NULL) indices are N x C x out. A window entirely in padding yields -inf. */
void eml_maxpool(eml_threadpool *pool, const eml_pool_params *p, const float *X, float *Y,
                 int64_t *indices);
/* A window with no element counted (count_include_pad 0, all padding) yields 0. */
void eml_avgpool(eml_threadpool *pool, const eml_pool_params *p, const float *X, float *Y);

/* planes = N*C, size = prod(spatial): Y[plane] = mean / max of X[plane*size .. +size). */
void eml_global_avgpool(eml_threadpool *pool, size_t planes, size_t size, const float *X, float *Y);
void eml_global_maxpool(eml_threadpool *pool, size_t planes, size_t size, const float *X, float *Y);

#endif
