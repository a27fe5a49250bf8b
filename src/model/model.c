#include "model/model.h"

#include <string.h>

#include "common/arena.h"
#include "common/mem.h"

size_t eml_dtype_size(int dtype)
{
	switch (dtype) {
	case EML_DT_FLOAT:
	case EML_DT_INT32:
	case EML_DT_UINT32:
		return 4;
	case EML_DT_UINT8:
	case EML_DT_INT8:
	case EML_DT_BOOL:
		return 1;
	case EML_DT_UINT16:
	case EML_DT_INT16:
	case EML_DT_FLOAT16:
		return 2;
	case EML_DT_INT64:
	case EML_DT_DOUBLE:
	case EML_DT_UINT64:
		return 8;
	default:
		return 0;
	}
}

const char *eml_dtype_name(int dtype)
{
	switch (dtype) {
	case EML_DT_FLOAT:
		return "float";
	case EML_DT_UINT8:
		return "uint8";
	case EML_DT_INT8:
		return "int8";
	case EML_DT_UINT16:
		return "uint16";
	case EML_DT_INT16:
		return "int16";
	case EML_DT_INT32:
		return "int32";
	case EML_DT_INT64:
		return "int64";
	case EML_DT_STRING:
		return "string";
	case EML_DT_BOOL:
		return "bool";
	case EML_DT_FLOAT16:
		return "float16";
	case EML_DT_DOUBLE:
		return "double";
	case EML_DT_UINT32:
		return "uint32";
	case EML_DT_UINT64:
		return "uint64";
	default:
		return "undefined";
	}
}

eml_model *eml_model_new(void)
{
	return eml_calloc(1, sizeof(eml_model));
}

static void attr_cleanup(eml_attr *a)
{
	eml_free(a->name);
	eml_free(a->s);
	eml_free(a->floats);
	eml_free(a->ints);
	if (a->strings != NULL)
		for (uint32_t i = 0; i < a->n; i++)
			eml_free(a->strings[i]);
	eml_free(a->strings);
	eml_free(a->string_lens);
	eml_free(a->graphs);
}

static void node_cleanup(eml_node *n)
{
	eml_free(n->op_type);
	eml_free(n->domain);
	eml_free(n->inputs);
	eml_free(n->outputs);
	if (n->attrs != NULL)
		for (uint32_t i = 0; i < n->n_attrs; i++)
			attr_cleanup(&n->attrs[i]);
	eml_free(n->attrs);
}

void eml_model_free(eml_model *m)
{
	if (m == NULL)
		return;
	if (m->arena != NULL) {
		eml_arena_free(m->arena);
		goto data;
	}
	if (m->graphs != NULL) {
		for (uint32_t g = 0; g < m->n_graphs; g++) {
			eml_graph *gr = &m->graphs[g];
			if (gr->nodes != NULL)
				for (uint32_t i = 0; i < gr->n_nodes; i++)
					node_cleanup(&gr->nodes[i]);
			eml_free(gr->nodes);
			eml_free(gr->inputs);
			eml_free(gr->outputs);
			eml_free(gr->initializers);
		}
	}
	eml_free(m->graphs);
	if (m->values != NULL)
		for (uint32_t i = 0; i < m->n_values; i++)
			eml_free(m->values[i].name);
	eml_free(m->values);
	eml_free(m->tensors);
	if (m->opsets != NULL)
		for (uint32_t i = 0; i < m->n_opsets; i++)
			eml_free(m->opsets[i].domain);
	eml_free(m->opsets);
data:
	if (m->data_storage == 0)
		eml_free(m->data);
	else if (m->data_storage == 1)
		eml_secmem_unmap(m->data, m->data_map_len);
	eml_free(m);
}

int64_t eml_model_opset(const eml_model *m, const char *domain)
{
	for (uint32_t i = 0; i < m->n_opsets; i++) {
		const char *d = m->opsets[i].domain != NULL ? m->opsets[i].domain : "";
		const char *want = domain != NULL ? domain : "";
		if (strcmp(want, "ai.onnx") == 0)
			want = "";
		if (strcmp(d, "ai.onnx") == 0)
			d = "";
		if (strcmp(d, want) == 0)
			return m->opsets[i].version;
	}
	return 0;
}

uint64_t eml_tensor_elems(const eml_tensor *t)
{
	uint64_t n = 1;
	for (uint32_t i = 0; i < t->rank; i++)
		n *= (uint64_t)t->dims[i];
	return n;
}

const eml_attr *eml_node_attr(const eml_node *n, const char *name)
{
	for (uint32_t i = 0; i < n->n_attrs; i++)
		if (n->attrs[i].name != NULL && strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}
