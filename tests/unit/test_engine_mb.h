/* A tiny hand builder of eml_model graphs for engine tests (no ONNX needed). */
#ifndef EML_TEST_ENGINE_MB_H
#define EML_TEST_ENGINE_MB_H

#include <stdarg.h>
#include <string.h>

#include "common/mem.h"
#include "model/model.h"

/* Copy n bytes into a fresh block of at least one byte. */
static inline void *mb_dup(const void *p, size_t n)
{
	void *q = eml_calloc(1, n + 1);
	if (n)
		memcpy(q, p, n);
	return q;
}

static inline eml_model *mb_new(int64_t opset)
{
	eml_model *m = eml_model_new();
	m->ir_version = 8;
	m->n_opsets = 1;
	m->opsets = eml_calloc(1, sizeof(eml_opset));
	m->opsets[0].domain = eml_strdup("");
	m->opsets[0].version = opset;
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	return m;
}

static inline int32_t mb_value(eml_model *m, int32_t dtype, int32_t rank, const int64_t *dims)
{
	m->values = eml_realloc(m->values, (m->n_values + 1) * sizeof(eml_value));
	eml_value *v = &m->values[m->n_values];
	memset(v, 0, sizeof(*v));
	v->dtype = dtype;
	v->rank = rank;
	for (int i = 0; i < rank; i++)
		v->dims[i].value = dims[i];
	v->tensor = -1;
	return (int32_t)m->n_values++;
}

/* A value with unknown type/shape (intermediate). */
static inline int32_t mb_tmp(eml_model *m)
{
	return mb_value(m, EML_DT_UNDEFINED, -1, NULL);
}

static inline int32_t mb_tensor(eml_model *m, int32_t dtype, uint32_t rank, const int64_t *dims,
                                const void *bytes)
{
	eml_tensor t;
	memset(&t, 0, sizeof(t));
	t.dtype = dtype;
	t.rank = rank;
	uint64_t n = 1;
	for (uint32_t i = 0; i < rank; i++) {
		t.dims[i] = dims[i];
		n *= (uint64_t)dims[i];
	}
	t.length = n * eml_dtype_size(dtype);
	t.offset = (m->data_len + 63) & ~(uint64_t)63;
	uint64_t nl = t.offset + t.length;
	m->data = eml_realloc(m->data, nl ? nl : 1);
	memset(m->data + m->data_len, 0, t.offset - m->data_len);
	if (t.length)
		memcpy(m->data + t.offset, bytes, t.length);
	m->data_len = nl;
	m->tensors = eml_realloc(m->tensors, (m->n_tensors + 1) * sizeof(eml_tensor));
	m->tensors[m->n_tensors] = t;
	return (int32_t)m->n_tensors++;
}

static inline int32_t mb_const(eml_model *m, int32_t dtype, uint32_t rank, const int64_t *dims,
                               const void *bytes)
{
	int32_t t = mb_tensor(m, dtype, rank, dims, bytes);
	int32_t v = mb_value(m, dtype, (int32_t)rank, dims);
	m->values[v].tensor = t;
	eml_graph *g = &m->graphs[0];
	g->initializers = eml_realloc(g->initializers, (g->n_initializers + 1) * 4);
	g->initializers[g->n_initializers++] = v;
	return v;
}

static inline void mb_input(eml_model *m, int32_t v)
{
	eml_graph *g = &m->graphs[0];
	g->inputs = eml_realloc(g->inputs, (g->n_inputs + 1) * 4);
	g->inputs[g->n_inputs++] = v;
}

static inline void mb_output(eml_model *m, int32_t v)
{
	eml_graph *g = &m->graphs[0];
	g->outputs = eml_realloc(g->outputs, (g->n_outputs + 1) * 4);
	g->outputs[g->n_outputs++] = v;
}

/* A new (sub)graph; returns its index. */
static inline int32_t mb_graph(eml_model *m, int32_t parent)
{
	m->graphs = eml_realloc(m->graphs, (m->n_graphs + 1) * sizeof(eml_graph));
	memset(&m->graphs[m->n_graphs], 0, sizeof(eml_graph));
	m->graphs[m->n_graphs].parent = parent;
	return (int32_t)m->n_graphs++;
}

static inline void mb_graph_output(eml_model *m, int32_t gi, int32_t v)
{
	eml_graph *g = &m->graphs[gi];
	g->outputs = eml_realloc(g->outputs, (g->n_outputs + 1) * 4);
	g->outputs[g->n_outputs++] = v;
}

/* Add a node to graph gi; returns it so attributes can be added. in/out lists end with
 * INT32_MIN. */
#define MB_END INT32_MIN
static inline eml_node *mb_node_g(eml_model *m, int32_t gi, const char *op, const int32_t *in,
                                  const int32_t *out)
{
	eml_graph *g = &m->graphs[gi];
	g->nodes = eml_realloc(g->nodes, (g->n_nodes + 1) * sizeof(eml_node));
	eml_node *n = &g->nodes[g->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->op_type = eml_strdup(op);
	n->domain = eml_strdup("");
	while (in[n->n_inputs] != MB_END)
		n->n_inputs++;
	while (out[n->n_outputs] != MB_END)
		n->n_outputs++;
	n->inputs = mb_dup(in, n->n_inputs * 4);
	n->outputs = mb_dup(out, n->n_outputs * 4);
	return n;
}

static inline eml_node *mb_node(eml_model *m, const char *op, const int32_t *in, const int32_t *out)
{
	return mb_node_g(m, 0, op, in, out);
}

static eml_attr *mb_attr(eml_node *n, const char *name, int32_t type)
{
	n->attrs = eml_realloc(n->attrs, (n->n_attrs + 1) * sizeof(eml_attr));
	eml_attr *a = &n->attrs[n->n_attrs++];
	memset(a, 0, sizeof(*a));
	a->name = eml_strdup(name);
	a->type = type;
	return a;
}

static inline void mb_attr_i(eml_node *n, const char *name, int64_t v)
{
	mb_attr(n, name, EML_ATTR_INT)->i = v;
}

static inline void mb_attr_f(eml_node *n, const char *name, float v)
{
	mb_attr(n, name, EML_ATTR_FLOAT)->f = v;
}

static inline void mb_attr_ints(eml_node *n, const char *name, uint32_t cnt, const int64_t *v)
{
	eml_attr *a = mb_attr(n, name, EML_ATTR_INTS);
	a->n = cnt;
	a->ints = mb_dup(v, cnt * 8);
}

static inline void mb_attr_g(eml_node *n, const char *name, int32_t g)
{
	mb_attr(n, name, EML_ATTR_GRAPH)->graph = g;
}

static inline void mb_attr_s(eml_node *n, const char *name, const char *s)
{
	eml_attr *a = mb_attr(n, name, EML_ATTR_STRING);
	a->s_len = strlen(s);
	a->s = mb_dup(s, a->s_len);
}

static inline eml_io_tensor mb_io(int32_t dtype, uint32_t rank, const int64_t *dims,
                                  const void *data)
{
	eml_io_tensor t;
	memset(&t, 0, sizeof(t));
	t.dtype = dtype;
	t.rank = rank;
	uint64_t n = 1;
	for (uint32_t i = 0; i < rank; i++) {
		t.dims[i] = dims[i];
		n *= (uint64_t)dims[i];
	}
	t.data = data;
	t.bytes = n * eml_dtype_size(dtype);
	return t;
}

#endif
