/*
 * The operator support table: every (domain, op type, opset range) the engine implements.
 * A plain array so the engine team extends it in one place; domain "" is the default ONNX
 * domain ("ai.onnx" is folded into it). Opset ranges follow the ONNX operator changelog
 * (https://github.com/onnx/onnx/blob/main/docs/Changelog.md): the engine implements each
 * operator's forms from opset 7 through 18.
 */
#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "onnx/onnx.h"

static const eml_op_support support_table[] = {
    {"", "Abs", 7, 18},
    {"", "Add", 7, 18},
    {"", "AveragePool", 7, 18},
    {"", "BatchNormalization", 7, 18},
    {"", "Cast", 7, 18},
    {"", "Clip", 7, 18},
    {"", "Concat", 7, 18},
    {"", "Constant", 7, 18},
    {"", "ConstantOfShape", 7, 18},
    {"", "Conv", 7, 18},
    {"", "ConvTranspose", 7, 18},
    {"", "Div", 7, 18},
    {"", "Dropout", 7, 18},
    {"", "Equal", 7, 18},
    {"", "Erf", 7, 18},
    {"", "Exp", 7, 18},
    {"", "Expand", 7, 18},
    {"", "Flatten", 7, 18},
    {"", "Gather", 7, 18},
    {"", "Gemm", 7, 18},
    {"", "GlobalAveragePool", 7, 18},
    {"", "HardSigmoid", 7, 18},
    {"", "HardSwish", 7, 18},
    {"", "Identity", 7, 18},
    {"", "If", 7, 18},
    /* unrolled at assembly (docs/ONNX.md); Loop-1 (opsets 7-10) is not claimed: untested */
    {"", "Loop", 11, 18},
    /* unrolled at assembly like Loop; Scan-8 (batch axis, sequence_lens) is not claimed */
    {"", "Scan", 9, 18},
    {"", "LeakyRelu", 7, 18},
    {"", "MatMul", 7, 18},
    {"", "Max", 7, 18},
    {"", "MaxPool", 7, 18},
    {"", "Min", 7, 18},
    {"", "Mul", 7, 18},
    {"", "Neg", 7, 18},
    {"", "Not", 7, 18},
    {"", "Pad", 7, 18},
    {"", "Pow", 7, 18},
    {"", "Reciprocal", 7, 18},
    {"", "ReduceMean", 7, 18},
    {"", "ReduceSum", 7, 18},
    {"", "Relu", 7, 18},
    {"", "Reshape", 7, 18},
    {"", "Resize", 7, 18},
    {"", "Shape", 7, 18},
    {"", "Sigmoid", 7, 18},
    {"", "Size", 7, 18},
    {"", "Slice", 7, 18},
    {"", "Softmax", 7, 18},
    {"", "Split", 7, 18},
    {"", "Sqrt", 7, 18},
    {"", "Squeeze", 7, 18},
    {"", "Sub", 7, 18},
    {"", "Tanh", 7, 18},
    {"", "Transpose", 7, 18},
    {"", "Unsqueeze", 7, 18},
    {"", "Where", 7, 18},
    {"", "Ceil", 7, 18},
    {"", "Floor", 7, 18},
    {"", "Round", 11, 18},
    {"", "Sign", 9, 18},
    {"", "Sin", 7, 18},
    {"", "Cos", 7, 18},
    {"", "Tan", 7, 18},
    {"", "Log", 7, 18},
    {"", "Elu", 7, 18},
    {"", "Selu", 7, 18},
    {"", "Softplus", 7, 18},
    {"", "Softsign", 7, 18},
    {"", "PRelu", 7, 18},
    {"", "Mod", 10, 18},
    {"", "And", 7, 18},
    {"", "Or", 7, 18},
    {"", "Xor", 7, 18},
    {"", "Greater", 7, 18},
    {"", "GreaterOrEqual", 12, 18},
    {"", "Less", 7, 18},
    {"", "LessOrEqual", 12, 18},
    {"", "Sum", 7, 18},
    {"", "Mean", 7, 18},
    {"", "ReduceL1", 7, 18},
    {"", "ReduceL2", 7, 18},
    {"", "ReduceLogSum", 7, 18},
    {"", "ReduceLogSumExp", 7, 18},
    {"", "ReduceMax", 7, 18},
    {"", "ReduceMin", 7, 18},
    {"", "ReduceProd", 7, 18},
    {"", "ReduceSumSquare", 7, 18},
    {"", "ArgMax", 7, 18},
    {"", "ArgMin", 7, 18},
    {"", "LogSoftmax", 7, 18},
    {"", "CumSum", 11, 18},
    {"", "Tile", 7, 18},
    {"", "Range", 11, 18},
    {"", "Trilu", 14, 18},
    {"", "DepthToSpace", 7, 18},
    {"", "SpaceToDepth", 7, 18},
    {"", "GatherElements", 11, 18},
    {"", "GatherND", 11, 18},
    {"", "ScatterElements", 11, 18},
    {"", "ScatterND", 11, 18},
    {"", "TopK", 7, 18},
    {"", "NonZero", 9, 18},
    {"", "GlobalMaxPool", 7, 18},
    {"", "InstanceNormalization", 7, 18},
    {"", "LayerNormalization", 17, 18},
    {"", "Scatter", 9, 10},
    {"", "Einsum", 12, 18},
    {"", "RNN", 7, 18},
    {"", "GRU", 7, 18},
    {"", "LSTM", 7, 18},
    {"", "QuantizeLinear", 10, 18},
    {"", "DequantizeLinear", 10, 18},
    {"", "DynamicQuantizeLinear", 11, 18},
    {"", "MatMulInteger", 10, 18},
    {"", "QLinearMatMul", 10, 18},
    {"", "ConvInteger", 10, 18},
    {"", "QLinearConv", 10, 18},
    {"", "Sinh", 9, 18},
    {"", "Cosh", 9, 18},
    {"", "Asin", 7, 18},
    {"", "Acos", 7, 18},
    {"", "Atan", 7, 18},
    {"", "Asinh", 9, 18},
    {"", "Acosh", 9, 18},
    {"", "Atanh", 9, 18},
    {"", "ThresholdedRelu", 10, 18},
    {"", "Shrink", 9, 18},
    {"", "Celu", 12, 18},
    {"", "IsNaN", 9, 18},
    {"", "IsInf", 10, 18},
    {"", "BitShift", 11, 18},
    {"", "CastLike", 15, 18},
    {"", "Hardmax", 7, 18},
    {"", "EyeLike", 9, 18},
    {"", "OneHot", 9, 18},
    {"", "Compress", 9, 18},
    {"", "ReverseSequence", 10, 18},
    {"", "MeanVarianceNormalization", 9, 18},
    {"", "LRN", 7, 18},
    {"", "Det", 11, 18},
    {"", "NonMaxSuppression", 10, 18},
    {"", "Unique", 11, 18},
    {"", "GridSample", 16, 18},
    {"", "RoiAlign", 10, 18},
    {"", "MaxUnpool", 9, 18},
};

const eml_op_support *eml_onnx_support_table(size_t *n)
{
	*n = EML_ARRAY_LEN(support_table);
	return support_table;
}

static const char *norm_domain(const char *d)
{
	if (d == NULL || strcmp(d, "ai.onnx") == 0)
		return "";
	return d;
}

int eml_onnx_op_supported(const char *domain, const char *op_type, int64_t opset)
{
	if (op_type == NULL)
		return 0;
	const char *d = norm_domain(domain);
	for (size_t i = 0; i < EML_ARRAY_LEN(support_table); i++) {
		const eml_op_support *s = &support_table[i];
		if (strcmp(s->op_type, op_type) == 0 && strcmp(norm_domain(s->domain), d) == 0 &&
		    opset >= s->since && opset <= s->until)
			return 1;
	}
	return 0;
}

static int unsupported_cmp(const void *a, const void *b)
{
	const eml_unsupported_op *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);
	if (c == 0)
		c = strcmp(x->op_type, y->op_type);
	if (c == 0)
		c = (x->opset > y->opset) - (x->opset < y->opset);
	return c;
}

void eml_onnx_unsupported_free(eml_unsupported_op *list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		eml_free(list[i].domain);
		eml_free(list[i].op_type);
	}
	eml_free(list);
}

int eml_onnx_check(const eml_model *m, eml_unsupported_op **list, size_t *n)
{
	int rc = EML_OK;
	eml_unsupported_op *l = NULL;
	size_t cnt = 0, cap = 0;
	EML_ENSURE(m != NULL && list != NULL && n != NULL, EML_E_ARG);
	for (uint32_t g = 0; g < m->n_graphs; g++) {
		const eml_graph *gr = &m->graphs[g];
		for (uint32_t i = 0; i < gr->n_nodes; i++) {
			const eml_node *nd = &gr->nodes[i];
			const char *d = norm_domain(nd->domain);
			const char *op = nd->op_type != NULL ? nd->op_type : "";
			int64_t opset = eml_model_opset(m, d);
			if (eml_onnx_op_supported(d, op, opset))
				continue;
			size_t k = 0;
			while (k < cnt && !(l[k].opset == opset && strcmp(l[k].domain, d) == 0 &&
			                    strcmp(l[k].op_type, op) == 0))
				k++;
			if (k < cnt) {
				l[k].count++;
				continue;
			}
			if (cnt == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				eml_unsupported_op *nl = eml_realloc(l, ncap * sizeof(*l));
				EML_ENSURE(nl != NULL, EML_E_NOMEM);
				l = nl;
				cap = ncap;
			}
			l[cnt].domain = eml_strdup(d);
			l[cnt].op_type = eml_strdup(op);
			l[cnt].opset = opset;
			l[cnt].count = 1;
			cnt++;
			EML_ENSURE(l[cnt - 1].domain != NULL && l[cnt - 1].op_type != NULL,
			           EML_E_NOMEM);
		}
	}
	if (cnt > 1)
		qsort(l, cnt, sizeof(*l), unsupported_cmp);
	if (cnt == 0) {
		eml_free(l);
		l = NULL;
	}
	*list = l;
	*n = cnt;
	l = NULL;
	cnt = 0;
out:
	eml_onnx_unsupported_free(l, cnt);
	return rc;
}
