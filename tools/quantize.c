/*
 * eml-quantize: dynamic int8 quantization of a float ONNX model, for test data and benchmarks
 * only (scripts/fetch-testdata runs it; never in the product path).
 *
 *   eml-quantize IN.onnx OUT.onnx [--opset N]
 *
 * Produces what ONNX Runtime's quantize_dynamic produces (the "*_quant.onnx" files shipped by
 * transformers.js-style packages), built with our own loader and saver:
 *   MatMul(X, W const 2-D)  ->  DynamicQuantizeLinear(X) -> MatMulInteger(Xq, Wq, Xzp, Wzp)
 *                               -> Cast(float) -> Mul(x_scale * w_scale)
 *   Conv(X, W const[, B])   ->  DynamicQuantizeLinear(X) -> ConvInteger(Xq, Wq, Xzp, Wzp, attrs)
 *                               -> Cast(float) -> Mul(x_scale * w_scale[OC,1..]) [-> Add(B)]
 * Weights are int8, symmetric (zero point 0): per tensor for MatMul (max |w| / 127), per output
 * channel for Conv. Activations are uint8 with the dynamic range of each request, so the same
 * quantized model gives the same integers in any runtime that follows the ONNX definitions.
 * --opset raises the default-domain opset import (DynamicQuantizeLinear needs 11); the caller
 * must know that the model's other operators mean the same at that opset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"

static void die(const char *msg)
{
	fprintf(stderr, "eml-quantize: %s\n", msg);
	exit(1);
}

static void *grow(void *p, size_t old_n, size_t new_n, size_t elem)
{
	void *q = eml_calloc(new_n, elem);
	if (q == NULL)
		die("out of memory");
	if (p != NULL && old_n > 0)
		memcpy(q, p, old_n * elem);
	eml_free(p);
	return q;
}

/* A new tensor (copied into the data area) and its constant value; returns the value id. */
static int32_t add_const(eml_model *m, int32_t dtype, uint32_t rank, const int64_t *dims,
                         const void *bytes)
{
	eml_tensor t;
	memset(&t, 0, sizeof(t));
	t.dtype = dtype;
	t.rank = rank;
	memcpy(t.dims, dims, rank * sizeof(int64_t));
	t.length = eml_tensor_elems(&t) * eml_dtype_size(dtype);
	t.offset = (m->data_len + EML_DATA_ALIGN - 1) / EML_DATA_ALIGN * EML_DATA_ALIGN;
	uint64_t new_len = t.offset + t.length;
	uint8_t *d = eml_calloc(1, new_len ? new_len : 1);
	if (d == NULL)
		die("out of memory");
	if (m->data_len)
		memcpy(d, m->data, m->data_len);
	memcpy(d + t.offset, bytes, t.length);
	eml_free(m->data);
	m->data = d;
	m->data_len = new_len;
	m->tensors = grow(m->tensors, m->n_tensors, m->n_tensors + 1, sizeof(eml_tensor));
	m->tensors[m->n_tensors] = t;
	m->values = grow(m->values, m->n_values, m->n_values + 1, sizeof(eml_value));
	eml_value *v = &m->values[m->n_values];
	v->dtype = dtype;
	v->rank = (int32_t)rank;
	for (uint32_t i = 0; i < rank; i++)
		v->dims[i].value = dims[i];
	v->tensor = (int32_t)m->n_tensors++;
	eml_graph *g = &m->graphs[0];
	g->initializers =
	    grow(g->initializers, g->n_initializers, g->n_initializers + 1, sizeof(int32_t));
	g->initializers[g->n_initializers++] = (int32_t)m->n_values;
	return (int32_t)m->n_values++;
}

static int32_t add_value(eml_model *m)
{
	m->values = grow(m->values, m->n_values, m->n_values + 1, sizeof(eml_value));
	eml_value *v = &m->values[m->n_values];
	v->rank = -1;
	v->tensor = -1;
	return (int32_t)m->n_values++;
}

/* The node list being built. */
struct nodes {
	eml_node *v;
	uint32_t n, cap;
};

static eml_node *emit(struct nodes *out, const char *op, uint32_t ni, const int32_t *in,
                      uint32_t no, const int32_t *o)
{
	if (out->n == out->cap) {
		uint32_t cap = out->cap ? out->cap * 2 : 64;
		out->v = grow(out->v, out->n, cap, sizeof(eml_node));
		out->cap = cap;
	}
	eml_node *n = &out->v[out->n++];
	memset(n, 0, sizeof(*n));
	n->op_type = eml_strdup(op);
	n->domain = eml_strdup("");
	n->n_inputs = ni;
	n->n_outputs = no;
	n->inputs = eml_memdup(in, ni * sizeof(int32_t));
	n->outputs = eml_memdup(o, no * sizeof(int32_t));
	if (!n->op_type || !n->domain || !n->inputs || !n->outputs)
		die("out of memory");
	return n;
}

/* Tensor of each value that is the output of a main-graph Constant node (the form Paddle2ONNX
 * exports use for weights); -1 elsewhere. Filled before the node list is rewritten. */
static int32_t *const_of;

static void find_constants(const eml_model *m)
{
	const_of = eml_alloc(m->n_values * sizeof(int32_t));
	if (const_of == NULL)
		die("out of memory");
	for (uint32_t v = 0; v < m->n_values; v++)
		const_of[v] = m->values[v].tensor;
	const eml_graph *g = &m->graphs[0];
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		const eml_node *n = &g->nodes[i];
		const eml_attr *a = eml_node_attr(n, "value");
		if (strcmp(n->op_type, "Constant") == 0 && n->n_outputs == 1 &&
		    n->outputs[0] >= 0 && a != NULL && a->type == EML_ATTR_TENSOR)
			const_of[n->outputs[0]] = a->tensor;
	}
}

/* A constant float tensor: an initializer or a Constant's value. */
static const eml_tensor *weight(const eml_model *m, int32_t v)
{
	if (v < 0 || (uint32_t)v >= m->n_values || const_of[v] < 0)
		return NULL;
	const eml_tensor *t = &m->tensors[const_of[v]];
	return t->dtype == EML_DT_FLOAT ? t : NULL;
}

/* Quantize W (float, OC-major) in `groups` equal runs: int8 symmetric; scales out. */
static void quant_w(const float *w, uint64_t n, uint64_t groups, int8_t *q, float *scales)
{
	uint64_t per = n / groups;
	for (uint64_t g = 0; g < groups; g++) {
		float mx = 0;
		for (uint64_t i = 0; i < per; i++)
			mx = fmaxf(mx, fabsf(w[g * per + i]));
		float s = mx > 0 ? mx / 127.0f : 1.0f;
		scales[g] = s;
		for (uint64_t i = 0; i < per; i++) {
			float r = nearbyintf(w[g * per + i] / s);
			q[g * per + i] = (int8_t)(r > 127 ? 127 : (r < -127 ? -127 : r));
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--opset") == 0)) {
		fprintf(stderr, "usage: eml-quantize IN.onnx OUT.onnx [--opset N]\n");
		return 2;
	}
	eml_model *m = NULL;
	int rc = eml_onnx_load_file(argv[1], &m);
	if (rc != EML_OK) {
		fprintf(stderr, "eml-quantize: %s: %s\n", argv[1], eml_err_name(rc));
		return 1;
	}
	if (argc == 5)
		for (uint32_t i = 0; i < m->n_opsets; i++)
			if (m->opsets[i].domain[0] == '\0' ||
			    strcmp(m->opsets[i].domain, "ai.onnx") == 0)
				m->opsets[i].version = atoll(argv[4]);
	if (eml_model_opset(m, "") < 11)
		die("the default opset must be >= 11 (DynamicQuantizeLinear): use --opset");
	/* An initializer listed as a graph input with IR < 4 would also be saved as an input:
	 * raise the IR version so new weights are plain initializers. */
	if (m->ir_version < 7)
		m->ir_version = 7;

	find_constants(m);
	eml_graph *g = &m->graphs[0];
	struct nodes out = {0};
	unsigned n_mm = 0, n_conv = 0;
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		eml_node *nd = &g->nodes[i];
		int is_mm = strcmp(nd->op_type, "MatMul") == 0 && nd->domain[0] == '\0';
		int is_conv = strcmp(nd->op_type, "Conv") == 0 && nd->domain[0] == '\0';
		const eml_tensor *w =
		    (is_mm || is_conv) && nd->n_inputs >= 2 ? weight(m, nd->inputs[1]) : NULL;
		if (w == NULL || (is_mm && w->rank != 2) || (is_conv && w->rank < 3)) {
			/* kept as is: move the node */
			if (out.n == out.cap) {
				uint32_t cap = out.cap ? out.cap * 2 : 64;
				out.v = grow(out.v, out.n, cap, sizeof(eml_node));
				out.cap = cap;
			}
			out.v[out.n++] = *nd;
			memset(nd, 0, sizeof(*nd));
			continue;
		}
		const float *wf = (const float *)(const void *)(m->data + w->offset);
		uint64_t wn = eml_tensor_elems(w);
		uint64_t oc = is_conv ? (uint64_t)w->dims[0] : 1;
		int8_t *wq = eml_alloc(wn ? wn : 1);
		float *ws = eml_alloc(oc * sizeof(float));
		if (wq == NULL || ws == NULL)
			die("out of memory");
		quant_w(wf, wn, oc, wq, ws);
		int64_t wdims[EML_MAX_RANK];
		uint32_t wrank = w->rank;
		memcpy(wdims, w->dims, sizeof(wdims));
		int32_t x = nd->inputs[0], y = nd->outputs[0];
		int32_t bias = is_conv && nd->n_inputs >= 3 ? nd->inputs[2] : -1;

		int32_t vwq = add_const(m, EML_DT_INT8, wrank, wdims, wq);
		int8_t z8[1] = {0};
		int32_t vwz;
		int64_t sdims[EML_MAX_RANK];
		uint32_t srank = 0;
		if (is_conv) {
			int64_t ocd = (int64_t)oc;
			/* one zero point for all channels: ONNX Runtime's ConvInteger takes no other */
			vwz = add_const(m, EML_DT_INT8, 0, NULL, z8);
			/* scale shape [OC, 1, ...] broadcasts over the spatial dims of [N, OC, ...] */
			srank = wrank - 1;
			sdims[0] = ocd;
			for (uint32_t k = 1; k < srank; k++)
				sdims[k] = 1;
		} else {
			vwz = add_const(m, EML_DT_INT8, 0, NULL, z8);
		}
		int32_t vws = add_const(m, EML_DT_FLOAT, srank, sdims, ws);
		eml_free(wq);
		eml_free(ws);

		int32_t xq = add_value(m), xs = add_value(m), xz = add_value(m);
		int32_t yi = add_value(m), yf = add_value(m), sc = add_value(m);
		int32_t o3[3] = {xq, xs, xz};
		emit(&out, "DynamicQuantizeLinear", 1, &x, 3, o3);
		int32_t in4[4] = {xq, vwq, xz, vwz};
		eml_node *q = emit(&out, is_conv ? "ConvInteger" : "MatMulInteger", 4, in4, 1, &yi);
		if (is_conv) {
			/* the Conv attributes carry over unchanged (same names and meaning) */
			q->attrs = nd->attrs;
			q->n_attrs = nd->n_attrs;
			nd->attrs = NULL;
			nd->n_attrs = 0;
		}
		eml_node *cast = emit(&out, "Cast", 1, &yi, 1, &yf);
		cast->attrs = eml_calloc(1, sizeof(eml_attr));
		if (cast->attrs == NULL)
			die("out of memory");
		cast->n_attrs = 1;
		cast->attrs[0].name = eml_strdup("to");
		cast->attrs[0].type = EML_ATTR_INT;
		cast->attrs[0].i = EML_DT_FLOAT;
		int32_t in2[2] = {xs, vws};
		emit(&out, "Mul", 2, in2, 1, &sc);
		if (bias >= 0) {
			int32_t ys = add_value(m);
			int32_t m2[2] = {yf, sc};
			emit(&out, "Mul", 2, m2, 1, &ys);
			/* bias [OC] -> [OC, 1, ...] for the broadcast over [N, OC, spatial] */
			const eml_tensor *bt = weight(m, bias);
			if (bt == NULL || bt->rank != 1 || (uint64_t)bt->dims[0] != oc)
				die("Conv bias is not a constant float [OC] tensor");
			float *bcopy = eml_memdup(m->data + bt->offset, oc * sizeof(float));
			int32_t vb = add_const(m, EML_DT_FLOAT, srank, sdims, bcopy);
			eml_free(bcopy);
			int32_t a2[2] = {ys, vb};
			emit(&out, "Add", 2, a2, 1, &y);
		} else {
			int32_t m2[2] = {yf, sc};
			emit(&out, "Mul", 2, m2, 1, &y);
		}
		/* the float node is dropped */
		eml_free(nd->op_type);
		eml_free(nd->domain);
		eml_free(nd->inputs);
		eml_free(nd->outputs);
		memset(nd, 0, sizeof(*nd));
		if (is_conv)
			n_conv++;
		else
			n_mm++;
	}
	eml_free(g->nodes);
	g->nodes = out.v;
	g->n_nodes = out.n;
	/* Drop what only the float nodes used (their weights, as initializers or Constant nodes):
	 * ONNX Runtime warns about unused initializers, and the file stays small. The bytes stay
	 * in the data area, referenced by no tensor that is saved. */
	uint8_t *used = eml_calloc(m->n_values, 1);
	if (used == NULL)
		die("out of memory");
	for (uint32_t gi = 0; gi < m->n_graphs; gi++) {
		const eml_graph *gr = &m->graphs[gi];
		for (uint32_t i = 0; i < gr->n_nodes; i++)
			for (uint32_t k = 0; k < gr->nodes[i].n_inputs; k++)
				if (gr->nodes[i].inputs[k] >= 0)
					used[gr->nodes[i].inputs[k]] = 1;
		for (uint32_t i = 0; i < gr->n_outputs; i++)
			used[gr->outputs[i]] = 1;
	}
	uint32_t kept = 0;
	for (uint32_t i = 0; i < g->n_initializers; i++)
		if (used[g->initializers[i]])
			g->initializers[kept++] = g->initializers[i];
	g->n_initializers = kept;
	kept = 0;
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		eml_node *nd = &g->nodes[i];
		if (strcmp(nd->op_type, "Constant") == 0 && nd->n_outputs == 1 &&
		    !used[nd->outputs[0]]) {
			eml_free(nd->op_type);
			eml_free(nd->domain);
			eml_free(nd->inputs);
			eml_free(nd->outputs);
			for (uint32_t k = 0; k < nd->n_attrs; k++) {
				eml_free(nd->attrs[k].name);
				eml_free(nd->attrs[k].s);
				eml_free(nd->attrs[k].floats);
				eml_free(nd->attrs[k].ints);
			}
			eml_free(nd->attrs);
			continue;
		}
		g->nodes[kept++] = *nd;
	}
	g->n_nodes = kept;
	eml_free(used);
	eml_free(const_of);
	rc = eml_onnx_save_file(m, argv[2]);
	eml_model_free(m);
	if (rc != EML_OK) {
		fprintf(stderr, "eml-quantize: %s: %s\n", argv[2], eml_err_name(rc));
		return 1;
	}
	printf("eml-quantize: %u Conv and %u MatMul quantized\n", n_conv, n_mm);
	return 0;
}
