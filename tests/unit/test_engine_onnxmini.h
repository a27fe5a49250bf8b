/*
 * Test-only: a minimal ONNX -> eml_model reader for the engine's conformance tests, so they do not
 * depend on the h/onnx loader (src/onnx). Not hardened; reads trusted test data only.
 */
#ifndef EML_TEST_ENGINE_ONNXMINI_H
#define EML_TEST_ENGINE_ONNXMINI_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "model/model.h"
#include "onnx/onnx.pb-c.h"
#include "test_engine_mb.h"

typedef struct om_names {
	char **name;
	int32_t *id;
	size_t n, cap;
} om_names;

static inline int32_t om_lookup(om_names *nm, const char *s)
{
	for (size_t i = nm->n; i-- > 0;)
		if (strcmp(nm->name[i], s) == 0)
			return nm->id[i];
	return -1;
}

static inline void om_bind(om_names *nm, const char *s, int32_t id)
{
	if (nm->n == nm->cap) {
		nm->cap = nm->cap * 2 + 64;
		nm->name = realloc(nm->name, nm->cap * sizeof(char *));
		nm->id = realloc(nm->id, nm->cap * sizeof(int32_t));
	}
	nm->name[nm->n] = strdup(s);
	nm->id[nm->n++] = id;
}

static inline uint8_t *om_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* TensorProto -> dtype/dims/bytes (malloc'd). */
static inline int om_tensor_bytes(const Onnx__TensorProto *t, int32_t *dt, uint32_t *rank,
                                  int64_t *dims, uint8_t **bytes, uint64_t *len)
{
	*dt = t->data_type;
	*rank = (uint32_t)t->n_dims;
	uint64_t n = 1;
	for (size_t i = 0; i < t->n_dims; i++) {
		dims[i] = t->dims[i];
		n *= (uint64_t)t->dims[i];
	}
	size_t es = eml_dtype_size(*dt);
	if (es == 0)
		return -1;
	*len = n * es;
	*bytes = calloc(1, *len + 1);
	if (t->has_raw_data) {
		if (t->raw_data.len != *len)
			return -1;
		if (*len)
			memcpy(*bytes, t->raw_data.data, *len);
		return 0;
	}
	size_t have = 0;
	switch (*dt) {
	case EML_DT_FLOAT:
		have = t->n_float_data;
		break;
	case EML_DT_DOUBLE:
		have = t->n_double_data;
		break;
	case EML_DT_INT64:
		have = t->n_int64_data;
		break;
	case EML_DT_UINT64:
	case EML_DT_UINT32:
		have = t->n_uint64_data;
		break;
	default:
		have = t->n_int32_data;
		break;
	}
	if (have < n)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		switch (*dt) {
		case EML_DT_FLOAT:
			((float *)*bytes)[i] = t->float_data[i];
			break;
		case EML_DT_DOUBLE:
			((double *)*bytes)[i] = t->double_data[i];
			break;
		case EML_DT_INT64:
			((int64_t *)*bytes)[i] = t->int64_data[i];
			break;
		case EML_DT_UINT64:
		case EML_DT_UINT32:
			if (*dt == EML_DT_UINT64)
				((uint64_t *)*bytes)[i] = t->uint64_data[i];
			else
				((uint32_t *)*bytes)[i] = (uint32_t)t->uint64_data[i];
			break;
		case EML_DT_INT32:
			((int32_t *)*bytes)[i] = t->int32_data[i];
			break;
		case EML_DT_INT16:
		case EML_DT_UINT16:
		case EML_DT_FLOAT16:
			((uint16_t *)*bytes)[i] = (uint16_t)t->int32_data[i];
			break;
		case EML_DT_INT8:
		case EML_DT_UINT8:
		case EML_DT_BOOL:
			((uint8_t *)*bytes)[i] = (uint8_t)t->int32_data[i];
			break;
		default:
			return -1;
		}
	}
	return 0;
}

static inline int32_t om_value_info(eml_model *m, const Onnx__ValueInfoProto *vi)
{
	int32_t dt = EML_DT_UNDEFINED;
	int32_t rank = -1;
	int64_t dims[EML_MAX_RANK];
	uint32_t syms[EML_MAX_RANK] = {0};
	if (vi->type != NULL && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
		Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
		dt = tt->elem_type;
		if (tt->shape != NULL) {
			rank = (int32_t)tt->shape->n_dim;
			for (int i = 0; i < rank && i < EML_MAX_RANK; i++) {
				Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
				if (d->value_case ==
				    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
					dims[i] = d->dim_value;
				} else {
					dims[i] = -1;
					syms[i] = 0;
				}
			}
		}
	}
	int32_t v = mb_value(m, dt, rank, dims);
	for (int i = 0; i < rank && i < EML_MAX_RANK; i++)
		m->values[v].dims[i].sym = syms[i];
	if (vi->name != NULL)
		m->values[v].name = eml_strdup(vi->name);
	return v;
}

static inline int om_graph(eml_model *m, uint32_t gi, const Onnx__GraphProto *gp, om_names *nm,
                           int main_graph);

static inline int om_attr(eml_model *m, eml_attr *a, const Onnx__AttributeProto *ap, uint32_t gi,
                          om_names *nm)
{
	a->name = eml_strdup(ap->name);
	a->type = ap->type;
	switch (ap->type) {
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
		a->f = ap->f;
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
		a->i = ap->i;
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
		a->s_len = ap->s.len;
		a->s = mb_dup(ap->s.data, ap->s.len);
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
		a->n = (uint32_t)ap->n_floats;
		a->floats = mb_dup(ap->floats, ap->n_floats * 4);
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
		a->n = (uint32_t)ap->n_ints;
		a->ints = mb_dup(ap->ints, ap->n_ints * 8);
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
		int32_t dt;
		uint32_t rank;
		int64_t dims[EML_MAX_RANK];
		uint8_t *b = NULL;
		uint64_t len;
		if (om_tensor_bytes(ap->t, &dt, &rank, dims, &b, &len) != 0) {
			free(b);
			return -1;
		}
		a->tensor = mb_tensor(m, dt, rank, dims, b);
		free(b);
		break;
	}
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: {
		uint32_t ng = m->n_graphs;
		m->graphs = eml_realloc(m->graphs, (ng + 1) * sizeof(eml_graph));
		memset(&m->graphs[ng], 0, sizeof(eml_graph));
		m->graphs[ng].parent = (int32_t)gi;
		m->n_graphs++;
		a->graph = (int32_t)ng;
		size_t mark = nm->n;
		if (om_graph(m, ng, ap->g, nm, 0) != 0)
			return -1;
		for (size_t i = mark; i < nm->n; i++)
			free(nm->name[i]);
		nm->n = mark; /* subgraph names go out of scope */
		break;
	}
	default:
		a->type = EML_ATTR_UNDEFINED;
		break;
	}
	return 0;
}

static inline int om_graph(eml_model *m, uint32_t gi, const Onnx__GraphProto *gp, om_names *nm,
                           int main_graph)
{
	for (size_t i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];
		int32_t dt;
		uint32_t rank;
		int64_t dims[EML_MAX_RANK];
		uint8_t *b = NULL;
		uint64_t len;
		if (om_tensor_bytes(t, &dt, &rank, dims, &b, &len) != 0) {
			free(b);
			return -1;
		}
		int32_t tid = mb_tensor(m, dt, rank, dims, b);
		free(b);
		int32_t v = mb_value(m, dt, (int32_t)rank, dims);
		m->values[v].tensor = tid;
		om_bind(nm, t->name, v);
		eml_graph *g = &m->graphs[gi];
		g->initializers = eml_realloc(g->initializers, (g->n_initializers + 1) * 4);
		g->initializers[g->n_initializers++] = v;
	}
	for (size_t i = 0; i < gp->n_input; i++) {
		if (om_lookup(nm, gp->input[i]->name) >= 0 && main_graph)
			continue; /* initializer listed as input */
		int32_t v = om_value_info(m, gp->input[i]);
		om_bind(nm, gp->input[i]->name, v);
		eml_graph *g = &m->graphs[gi];
		g->inputs = eml_realloc(g->inputs, (g->n_inputs + 1) * 4);
		g->inputs[g->n_inputs++] = v;
	}
	for (size_t i = 0; i < gp->n_node; i++) {
		const Onnx__NodeProto *np = gp->node[i];
		eml_node n;
		memset(&n, 0, sizeof(n));
		n.op_type = eml_strdup(np->op_type);
		n.domain = eml_strdup(np->domain ? np->domain : "");
		n.n_inputs = (uint32_t)np->n_input;
		n.n_outputs = (uint32_t)np->n_output;
		n.inputs = eml_calloc(n.n_inputs + 1, 4);
		n.outputs = eml_calloc(n.n_outputs + 1, 4);
		for (size_t k = 0; k < np->n_input; k++) {
			n.inputs[k] = np->input[k][0] ? om_lookup(nm, np->input[k]) : -1;
			if (np->input[k][0] && n.inputs[k] < 0) {
				/* unknown value: make an undefined one so the engine reports it */
				n.inputs[k] = mb_tmp(m);
			}
		}
		n.n_attrs = (uint32_t)np->n_attribute;
		n.attrs = eml_calloc(n.n_attrs + 1, sizeof(eml_attr));
		for (size_t k = 0; k < np->n_attribute; k++)
			if (om_attr(m, &n.attrs[k], np->attribute[k], gi, nm) != 0)
				return -1;
		for (size_t k = 0; k < np->n_output; k++) {
			if (!np->output[k][0]) {
				n.outputs[k] = -1;
				continue;
			}
			int32_t v = mb_tmp(m);
			m->values[v].name = eml_strdup(np->output[k]);
			om_bind(nm, np->output[k], v);
			n.outputs[k] = v;
		}
		eml_graph *g = &m->graphs[gi];
		g->nodes = eml_realloc(g->nodes, (g->n_nodes + 1) * sizeof(eml_node));
		g->nodes[g->n_nodes++] = n;
	}
	for (size_t i = 0; i < gp->n_output; i++) {
		int32_t v = om_lookup(nm, gp->output[i]->name);
		if (v < 0)
			return -1;
		eml_graph *g = &m->graphs[gi];
		g->outputs = eml_realloc(g->outputs, (g->n_outputs + 1) * 4);
		g->outputs[g->n_outputs++] = v;
	}
	return 0;
}

static inline eml_model *om_load(const char *path)
{
	size_t len;
	uint8_t *buf = om_read_file(path, &len);
	if (buf == NULL)
		return NULL;
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
	free(buf);
	if (mp == NULL || mp->graph == NULL)
		return NULL;
	eml_model *m = eml_model_new();
	m->ir_version = mp->ir_version;
	m->n_opsets = (uint32_t)mp->n_opset_import;
	m->opsets = eml_calloc(m->n_opsets + 1, sizeof(eml_opset));
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		m->opsets[i].domain =
		    eml_strdup(mp->opset_import[i]->domain ? mp->opset_import[i]->domain : "");
		m->opsets[i].version = mp->opset_import[i]->version;
	}
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	om_names nm = {0};
	int rc = om_graph(m, 0, mp->graph, &nm, 1);
	for (size_t i = 0; i < nm.n; i++)
		free(nm.name[i]);
	free(nm.name);
	free(nm.id);
	onnx__model_proto__free_unpacked(mp, NULL);
	if (rc != 0) {
		eml_model_free(m);
		return NULL;
	}
	return m;
}

/* A TensorProto .pb file -> io tensor with malloc'd data. */
static inline int om_load_pb(const char *path, eml_io_tensor *t, uint8_t **data)
{
	size_t len;
	uint8_t *buf = om_read_file(path, &len);
	if (buf == NULL)
		return -1;
	Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
	free(buf);
	if (tp == NULL)
		return -1;
	memset(t, 0, sizeof(*t));
	uint64_t bytes;
	int rc = om_tensor_bytes(tp, &t->dtype, &t->rank, t->dims, data, &bytes);
	t->bytes = bytes;
	t->data = *data;
	onnx__tensor_proto__free_unpacked(tp, NULL);
	return rc;
}

#endif
