/*
 * The operator registry: ONNX op name + opset range -> implementation. Adding an operator is one
 * file in ops/ and one line here. The same table answers eml_engine_op_table() for `eml check`
 * (src/onnx/support.c); a test keeps the two in agreement.
 */
#include <pthread.h>
#include <string.h>

#include "common/guard.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

typedef struct op_entry {
	const char *op;
	int since, until;
	const eml_op_def *def;
} op_entry;

/* Opset ranges are those of the ONNX operator changelog within 7-20 that our implementations
 * cover (attribute-vs-input forms are handled inside each op by the model's opset). What each
 * opset-19/20 version means for us: docs/DECISIONS.md ("Opsets 19 and 20"). */
static const op_entry k_ops[] = {
    {"Abs", 7, 20, &eml_op_unary},
    {"Add", 7, 20, &eml_op_binary},
    {"AveragePool", 7, 20, &eml_op_avgpool},
    {"BatchNormalization", 7, 20, &eml_op_batchnorm},
    {"Cast", 7, 20, &eml_op_cast},
    {"Clip", 7, 20, &eml_op_unary},
    {"Concat", 7, 20, &eml_op_concat},
    {"Constant", 7, 20, &eml_op_constant},
    {"ConstantOfShape", 7, 20, &eml_op_constant_of_shape},
    {"Conv", 7, 20, &eml_op_conv},
    {"ConvTranspose", 7, 20, &eml_op_conv_transpose},
    {"Div", 7, 20, &eml_op_binary},
    {"Dropout", 7, 20, &eml_op_dropout},
    {"Equal", 7, 20, &eml_op_binary},
    {"Erf", 7, 20, &eml_op_unary},
    {"Exp", 7, 20, &eml_op_unary},
    {"Expand", 7, 20, &eml_op_expand},
    {"Flatten", 7, 20, &eml_op_flatten},
    {"Gather", 7, 20, &eml_op_gather},
    {"Gemm", 7, 20, &eml_op_gemm},
    {"GlobalAveragePool", 7, 20, &eml_op_gap},
    {"HardSigmoid", 7, 20, &eml_op_unary},
    {"HardSwish", 7, 20, &eml_op_unary},
    {"Identity", 7, 20, &eml_op_identity},
    {"LeakyRelu", 7, 20, &eml_op_unary},
    {"MatMul", 7, 20, &eml_op_matmul},
    {"Max", 7, 20, &eml_op_binary},
    {"MaxPool", 7, 20, &eml_op_maxpool},
    {"Min", 7, 20, &eml_op_binary},
    {"Mul", 7, 20, &eml_op_binary},
    {"Neg", 7, 20, &eml_op_unary},
    {"Not", 7, 20, &eml_op_unary},
    {"Pad", 7, 20, &eml_op_pad},
    {"Pow", 7, 20, &eml_op_binary},
    {"Reciprocal", 7, 20, &eml_op_unary},
    {"ReduceMean", 7, 20, &eml_op_reduce},
    {"ReduceSum", 7, 20, &eml_op_reduce},
    {"Relu", 7, 20, &eml_op_unary},
    {"Reshape", 7, 20, &eml_op_reshape},
    {"Resize", 7, 20, &eml_op_resize},
    {"Shape", 7, 20, &eml_op_shape},
    {"Sigmoid", 7, 20, &eml_op_unary},
    {"Size", 7, 20, &eml_op_size},
    {"Slice", 7, 20, &eml_op_slice},
    {"Softmax", 7, 20, &eml_op_softmax},
    {"Split", 7, 20, &eml_op_split},
    {"Sqrt", 7, 20, &eml_op_unary},
    {"Squeeze", 7, 20, &eml_op_squeeze},
    {"Sub", 7, 20, &eml_op_binary},
    {"Tanh", 7, 20, &eml_op_unary},
    {"Transpose", 7, 20, &eml_op_transpose},
    {"Unsqueeze", 7, 20, &eml_op_unsqueeze},
    {"Where", 7, 20, &eml_op_where},
    {"Ceil", 7, 20, &eml_op_unary2},
    {"Floor", 7, 20, &eml_op_unary2},
    {"Round", 11, 20, &eml_op_unary2},
    {"Sign", 9, 20, &eml_op_unary2},
    {"Sin", 7, 20, &eml_op_unary2},
    {"Cos", 7, 20, &eml_op_unary2},
    {"Tan", 7, 20, &eml_op_unary2},
    {"Log", 7, 20, &eml_op_unary2},
    {"Elu", 7, 20, &eml_op_unary2},
    {"Selu", 7, 20, &eml_op_unary2},
    {"Softplus", 7, 20, &eml_op_unary2},
    {"Softsign", 7, 20, &eml_op_unary2},
    {"PRelu", 7, 20, &eml_op_binary2},
    {"Mod", 10, 20, &eml_op_binary2},
    {"And", 7, 20, &eml_op_binary2},
    {"Or", 7, 20, &eml_op_binary2},
    {"Xor", 7, 20, &eml_op_binary2},
    {"Greater", 7, 20, &eml_op_binary2},
    {"GreaterOrEqual", 12, 20, &eml_op_binary2},
    {"Less", 7, 20, &eml_op_binary2},
    {"LessOrEqual", 12, 20, &eml_op_binary2},
    {"Sum", 7, 20, &eml_op_sum},
    {"Mean", 7, 20, &eml_op_mean},
    {"ReduceL1", 7, 20, &eml_op_reduce2},
    {"ReduceL2", 7, 20, &eml_op_reduce2},
    {"ReduceLogSum", 7, 20, &eml_op_reduce2},
    {"ReduceLogSumExp", 7, 20, &eml_op_reduce2},
    {"ReduceMax", 7, 20, &eml_op_reduce2},
    {"ReduceMin", 7, 20, &eml_op_reduce2},
    {"ReduceProd", 7, 20, &eml_op_reduce2},
    {"ReduceSumSquare", 7, 20, &eml_op_reduce2},
    {"ArgMax", 7, 20, &eml_op_reduce2},
    {"ArgMin", 7, 20, &eml_op_reduce2},
    {"LogSoftmax", 7, 20, &eml_op_logsoftmax},
    {"CumSum", 11, 20, &eml_op_cumsum},
    {"Tile", 7, 20, &eml_op_tile},
    {"Range", 11, 20, &eml_op_range},
    {"Trilu", 14, 20, &eml_op_trilu},
    {"DepthToSpace", 7, 20, &eml_op_d2s},
    {"SpaceToDepth", 7, 20, &eml_op_d2s},
    {"GatherElements", 11, 20, &eml_op_gather_elements},
    {"GatherND", 11, 20, &eml_op_gather_nd},
    {"ScatterElements", 11, 20, &eml_op_scatter_elements},
    {"ScatterND", 11, 20, &eml_op_scatter_nd},
    {"TopK", 7, 20, &eml_op_topk},
    {"NonZero", 9, 20, &eml_op_nonzero},
    {"GlobalMaxPool", 7, 20, &eml_op_gmp},
    {"InstanceNormalization", 7, 20, &eml_op_instancenorm},
    {"LayerNormalization", 17, 20, &eml_op_layernorm},
    {"Scatter", 9, 10, &eml_op_scatter_elements},
    {"Einsum", 12, 20, &eml_op_einsum},
    {"RNN", 7, 20, &eml_op_rnn},
    {"GRU", 7, 20, &eml_op_rnn},
    {"LSTM", 7, 20, &eml_op_rnn},
    {"QuantizeLinear", 10, 20, &eml_op_qlinear},
    {"DequantizeLinear", 10, 20, &eml_op_qlinear},
    {"DynamicQuantizeLinear", 11, 20, &eml_op_dynquant},
    {"MatMulInteger", 10, 20, &eml_op_qmatmul},
    {"QLinearMatMul", 10, 20, &eml_op_qmatmul},
    {"ConvInteger", 10, 20, &eml_op_qconv},
    {"QLinearConv", 10, 20, &eml_op_qconv},
    {"Sinh", 9, 20, &eml_op_unary2},
    {"Cosh", 9, 20, &eml_op_unary2},
    {"Asin", 7, 20, &eml_op_unary2},
    {"Acos", 7, 20, &eml_op_unary2},
    {"Atan", 7, 20, &eml_op_unary2},
    {"Asinh", 9, 20, &eml_op_unary2},
    {"Acosh", 9, 20, &eml_op_unary2},
    {"Atanh", 9, 20, &eml_op_unary2},
    {"ThresholdedRelu", 10, 20, &eml_op_unary2},
    {"Shrink", 9, 20, &eml_op_unary2},
    {"Celu", 12, 20, &eml_op_unary2},
    {"IsNaN", 9, 20, &eml_op_unary2},
    {"IsInf", 10, 20, &eml_op_unary2},
    {"BitShift", 11, 20, &eml_op_bitshift},
    {"CastLike", 15, 20, &eml_op_castlike},
    {"Hardmax", 7, 20, &eml_op_hardmax},
    {"EyeLike", 9, 20, &eml_op_eyelike},
    {"OneHot", 9, 20, &eml_op_onehot},
    {"Compress", 9, 20, &eml_op_compress},
    {"ReverseSequence", 10, 20, &eml_op_revseq},
    {"MeanVarianceNormalization", 9, 20, &eml_op_mvn},
    {"LRN", 7, 20, &eml_op_lrn},
    {"Det", 11, 20, &eml_op_det},
    {"NonMaxSuppression", 10, 20, &eml_op_nms},
    {"Unique", 11, 20, &eml_op_unique},
    {"GridSample", 16, 20, &eml_op_gridsample},
    {"RoiAlign", 10, 20, &eml_op_roialign},
    {"MaxUnpool", 9, 20, &eml_op_maxunpool},
    {"Gelu", 20, 20, &eml_op_gelu},
    {"AffineGrid", 20, 20, &eml_op_affinegrid},
    {"DeformConv", 19, 20, &eml_op_deformconv},
    /* EML_OPTABLE_MORE */
};

static eml_engine_op_info k_info[EML_ARRAY_LEN(k_ops) + 3];

const eml_op_def *eml_engine_op_find(const char *op, int64_t opset)
{
	for (size_t i = 0; i < EML_ARRAY_LEN(k_ops); i++)
		if (strcmp(k_ops[i].op, op) == 0) {
			/* Models older than opset 7 use attributes we do not implement; newer than 20
			 * may change semantics: both refused. */
			if (opset != 0 && (opset < k_ops[i].since || opset > k_ops[i].until))
				return NULL;
			return k_ops[i].def;
		}
	return NULL;
}

static size_t k_info_n;
static pthread_once_t k_info_once = PTHREAD_ONCE_INIT;

static void info_build(void)
{
	size_t j = 0;
	for (size_t i = 0; i < EML_ARRAY_LEN(k_ops); i++)
		k_info[j++] = (eml_engine_op_info){k_ops[i].op, k_ops[i].since, k_ops[i].until};
	k_info[j++] = (eml_engine_op_info){"If", 7, 20};    /* handled by the assembler */
	k_info[j++] = (eml_engine_op_info){"Loop", 11, 20}; /* unrolled by the assembler */
	k_info[j++] = (eml_engine_op_info){"Scan", 9, 20};  /* unrolled by the assembler */
	k_info_n = j;
}

const eml_engine_op_info *eml_engine_op_table(size_t *n)
{
	pthread_once(&k_info_once, info_build);
	*n = k_info_n;
	return k_info;
}
