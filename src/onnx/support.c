/*
 * The operator support table: every (domain, op type, opset range) the engine implements.
 * A plain array so the engine team extends it in one place; domain "" is the default ONNX
 * domain ("ai.onnx" is folded into it). Opset ranges follow the ONNX operator changelog
 * (https://github.com/onnx/onnx/blob/main/docs/Changelog.md): the engine implements each
 * operator's forms from opset 7 through 20, except where a row ends earlier (Scatter was
 * removed at 11). A row means "the model's default-domain opset
 * import lies in [since, until]"; docs/DECISIONS.md ("Opsets 19 and 20") says what each
 * opset-19/20 version changed and what we did about it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "onnx/onnx.h"

static const eml_op_support support_table[] = {
    {"", "Abs", 7, 20},
    {"", "Add", 7, 20},
    {"", "AveragePool", 7, 20},
    {"", "BatchNormalization", 7, 20},
    {"", "Cast", 7, 20},
    {"", "Clip", 7, 20},
    {"", "Concat", 7, 20},
    {"", "Constant", 7, 20},
    {"", "ConstantOfShape", 7, 20},
    {"", "Conv", 7, 20},
    {"", "ConvTranspose", 7, 20},
    {"", "Div", 7, 20},
    {"", "Dropout", 7, 20},
    {"", "Equal", 7, 20},
    {"", "Erf", 7, 20},
    {"", "Exp", 7, 20},
    {"", "Expand", 7, 20},
    {"", "Flatten", 7, 20},
    {"", "Gather", 7, 20},
    {"", "Gemm", 7, 20},
    {"", "GlobalAveragePool", 7, 20},
    {"", "HardSigmoid", 7, 20},
    {"", "HardSwish", 7, 20},
    {"", "Identity", 7, 20},
    {"", "If", 7, 20},
    /* unrolled at assembly (docs/ONNX.md); Loop-1 (opsets 7-10) is not claimed: untested.
     * Loop/Scan/If-19 only add float8 types (refused by the loader) */
    {"", "Loop", 11, 20},
    /* unrolled at assembly like Loop; Scan-8 (batch axis, sequence_lens) is not claimed */
    {"", "Scan", 9, 20},
    {"", "LeakyRelu", 7, 20},
    {"", "MatMul", 7, 20},
    {"", "Max", 7, 20},
    {"", "MaxPool", 7, 20},
    {"", "Min", 7, 20},
    {"", "Mul", 7, 20},
    {"", "Neg", 7, 20},
    {"", "Not", 7, 20},
    {"", "Pad", 7, 20},
    {"", "Pow", 7, 20},
    {"", "Reciprocal", 7, 20},
    {"", "ReduceMean", 7, 20},
    {"", "ReduceSum", 7, 20},
    {"", "Relu", 7, 20},
    {"", "Reshape", 7, 20},
    {"", "Resize", 7, 20},
    {"", "Shape", 7, 20},
    {"", "Sigmoid", 7, 20},
    {"", "Size", 7, 20},
    {"", "Slice", 7, 20},
    {"", "Softmax", 7, 20},
    {"", "Split", 7, 20},
    {"", "Sqrt", 7, 20},
    {"", "Squeeze", 7, 20},
    {"", "Sub", 7, 20},
    {"", "Tanh", 7, 20},
    {"", "Transpose", 7, 20},
    {"", "Unsqueeze", 7, 20},
    {"", "Where", 7, 20},
    {"", "Ceil", 7, 20},
    {"", "Floor", 7, 20},
    {"", "Round", 11, 20},
    {"", "Sign", 9, 20},
    {"", "Sin", 7, 20},
    {"", "Cos", 7, 20},
    {"", "Tan", 7, 20},
    {"", "Log", 7, 20},
    {"", "Elu", 7, 20},
    {"", "Selu", 7, 20},
    {"", "Softplus", 7, 20},
    {"", "Softsign", 7, 20},
    {"", "PRelu", 7, 20},
    {"", "Mod", 10, 20},
    {"", "And", 7, 20},
    {"", "Or", 7, 20},
    {"", "Xor", 7, 20},
    {"", "Greater", 7, 20},
    {"", "GreaterOrEqual", 12, 20},
    {"", "Less", 7, 20},
    {"", "LessOrEqual", 12, 20},
    {"", "Sum", 7, 20},
    {"", "Mean", 7, 20},
    {"", "ReduceL1", 7, 20},
    {"", "ReduceL2", 7, 20},
    {"", "ReduceLogSum", 7, 20},
    {"", "ReduceLogSumExp", 7, 20},
    {"", "ReduceMax", 7, 20},
    {"", "ReduceMin", 7, 20},
    {"", "ReduceProd", 7, 20},
    {"", "ReduceSumSquare", 7, 20},
    {"", "ArgMax", 7, 20},
    {"", "ArgMin", 7, 20},
    {"", "LogSoftmax", 7, 20},
    {"", "CumSum", 11, 20},
    {"", "Tile", 7, 20},
    {"", "Range", 11, 20},
    {"", "Trilu", 14, 20},
    {"", "DepthToSpace", 7, 20},
    {"", "SpaceToDepth", 7, 20},
    {"", "GatherElements", 11, 20},
    {"", "GatherND", 11, 20},
    {"", "ScatterElements", 11, 20},
    {"", "ScatterND", 11, 20},
    {"", "TopK", 7, 20},
    {"", "NonZero", 9, 20},
    {"", "GlobalMaxPool", 7, 20},
    {"", "InstanceNormalization", 7, 20},
    {"", "LayerNormalization", 17, 20},
    {"", "Scatter", 9, 10},
    {"", "Einsum", 12, 20},
    {"", "RNN", 7, 20},
    {"", "GRU", 7, 20},
    {"", "LSTM", 7, 20},
    {"", "QuantizeLinear", 10, 20},
    {"", "DequantizeLinear", 10, 20},
    {"", "DynamicQuantizeLinear", 11, 20},
    {"", "MatMulInteger", 10, 20},
    {"", "QLinearMatMul", 10, 20},
    {"", "ConvInteger", 10, 20},
    {"", "QLinearConv", 10, 20},
    {"", "Sinh", 9, 20},
    {"", "Cosh", 9, 20},
    {"", "Asin", 7, 20},
    {"", "Acos", 7, 20},
    {"", "Atan", 7, 20},
    {"", "Asinh", 9, 20},
    {"", "Acosh", 9, 20},
    {"", "Atanh", 9, 20},
    {"", "ThresholdedRelu", 10, 20},
    {"", "Shrink", 9, 20},
    {"", "Celu", 12, 20},
    {"", "IsNaN", 9, 20},
    {"", "IsInf", 10, 20},
    {"", "BitShift", 11, 20},
    {"", "CastLike", 15, 20},
    {"", "Hardmax", 7, 20},
    {"", "EyeLike", 9, 20},
    {"", "OneHot", 9, 20},
    {"", "Compress", 9, 20},
    {"", "ReverseSequence", 10, 20},
    {"", "MeanVarianceNormalization", 9, 20},
    {"", "LRN", 7, 20},
    {"", "Det", 11, 20},
    {"", "NonMaxSuppression", 10, 20},
    {"", "Unique", 11, 20},
    {"", "GridSample", 16, 20},
    {"", "RoiAlign", 10, 20},
    {"", "MaxUnpool", 9, 20},
    /* opset 20 */
    {"", "Gelu", 20, 20},
    {"", "AffineGrid", 20, 20},
    {"", "DeformConv", 19, 20},
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
