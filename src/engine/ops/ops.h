/*
 * Operator definitions (one eml_op_def per implementation) and helpers shared by operator files.
 * The registry that maps ONNX op names and opset ranges to these lives in optable.c.
 */
#ifndef EML_ENGINE_OPS_OPS_H
#define EML_ENGINE_OPS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/internal.h"

/* Typed element access for the integer path. */
int64_t eml_ld_i(const void *p, int32_t dt, size_t i);
void eml_st_i(void *p, int32_t dt, size_t i, int64_t v);
double eml_ld_f(const void *p, int32_t dt, size_t i);
/* Store a real value as dtype (float, double, float16 round-to-nearest-even, or integer). */
void eml_st_f(void *p, int32_t dt, size_t i, double v);
float eml_f16_to_f32(uint16_t h);
uint16_t eml_f32_to_f16(float f);
/* float, double or float16 */
int eml_dt_is_real(int32_t dt);

/* In-place activation (enum eml_act). */
void eml_engine_act(float *x, size_t n, int act, float a, float b);

/* The Constant operator reads the model's tensor table through the build. */
int eml_build_model_tensor(struct eml_build *b, int32_t tensor, eml_rt *out);
/* The model's declared element type of a value id (EML_DT_UNDEFINED when unknown). */
int32_t eml_build_value_dtype(const struct eml_build *b, int32_t value);

extern const eml_op_def eml_op_unary, eml_op_binary, eml_op_where, eml_op_cast;
extern const eml_op_def eml_op_identity, eml_op_reshape, eml_op_flatten, eml_op_squeeze,
    eml_op_unsqueeze, eml_op_shape, eml_op_size, eml_op_constant, eml_op_constant_of_shape,
    eml_op_concat, eml_op_gather, eml_op_slice, eml_op_split, eml_op_transpose, eml_op_expand,
    eml_op_pad, eml_op_dropout;
extern const eml_op_def eml_op_gemm, eml_op_matmul;
extern const eml_op_def eml_op_conv, eml_op_conv_transpose, eml_op_batchnorm;
extern const eml_op_def eml_op_maxpool, eml_op_avgpool, eml_op_gap;
extern const eml_op_def eml_op_reduce, eml_op_softmax;
extern const eml_op_def eml_op_resize;
/* issue 9 */
extern const eml_op_def eml_op_unary2, eml_op_binary2, eml_op_sum, eml_op_mean;
extern const eml_op_def eml_op_reduce2, eml_op_logsoftmax;
extern const eml_op_def eml_op_cumsum, eml_op_tile, eml_op_range, eml_op_trilu, eml_op_d2s,
    eml_op_gather_elements, eml_op_gather_nd, eml_op_scatter_elements, eml_op_scatter_nd,
    eml_op_topk, eml_op_nonzero, eml_op_gmp, eml_op_instancenorm, eml_op_layernorm;
extern const eml_op_def eml_op_einsum;
extern const eml_op_def eml_op_rnn;
extern const eml_op_def eml_op_qlinear, eml_op_dynquant, eml_op_qmatmul, eml_op_qconv;
extern const eml_op_def eml_op_bitshift, eml_op_castlike, eml_op_hardmax, eml_op_eyelike,
    eml_op_onehot, eml_op_compress, eml_op_revseq, eml_op_mvn, eml_op_lrn;
extern const eml_op_def eml_op_det, eml_op_nms;
extern const eml_op_def eml_op_unique;
extern const eml_op_def eml_op_gridsample;
extern const eml_op_def eml_op_roialign;
extern const eml_op_def eml_op_maxunpool;
/* opset 20 */
extern const eml_op_def eml_op_gelu, eml_op_affinegrid, eml_op_deformconv;

#endif
