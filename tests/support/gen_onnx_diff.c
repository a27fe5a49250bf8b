/* eml_gen_model_diff: structural comparison of two IR models (see gen_onnx.h). */
#include <stdio.h>
#include <string.h>

#include "gen_onnx.h"

#define DIFF(...)                                                                                  \
	do {                                                                                       \
		snprintf(why, why_len, __VA_ARGS__);                                               \
		return 1;                                                                          \
	} while (0)

static int streq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static int tensor_diff(const eml_model *a, const eml_model *b, int32_t ta, int32_t tb, char *why,
                       size_t why_len)
{
	if (ta != tb)
		DIFF("tensor index %d vs %d", ta, tb);
	if (ta < 0)
		return 0;
	const eml_tensor *x = &a->tensors[ta], *y = &b->tensors[tb];
	if (x->dtype != y->dtype || x->rank != y->rank || x->length != y->length)
		DIFF("tensor %d dtype/rank/length", ta);
	for (uint32_t i = 0; i < x->rank; i++)
		if (x->dims[i] != y->dims[i])
			DIFF("tensor %d dim %u", ta, i);
	if (x->length > 0 && memcmp(a->data + x->offset, b->data + y->offset, x->length) != 0)
		DIFF("tensor %d bytes", ta);
	return 0;
}

int eml_gen_model_diff(const eml_model *a, const eml_model *b, char *why, size_t why_len)
{
	if (a->ir_version != b->ir_version)
		DIFF("ir_version");
	if (a->n_opsets != b->n_opsets)
		DIFF("opset count");
	for (uint32_t i = 0; i < a->n_opsets; i++)
		if (!streq(a->opsets[i].domain, b->opsets[i].domain) ||
		    a->opsets[i].version != b->opsets[i].version)
			DIFF("opset %u", i);
	if (a->n_values != b->n_values || a->n_tensors != b->n_tensors ||
	    a->n_graphs != b->n_graphs)
		DIFF("counts values %u/%u tensors %u/%u graphs %u/%u", a->n_values, b->n_values,
		     a->n_tensors, b->n_tensors, a->n_graphs, b->n_graphs);
	for (uint32_t i = 0; i < a->n_tensors; i++)
		if (tensor_diff(a, b, (int32_t)i, (int32_t)i, why, why_len))
			return 1;
	for (uint32_t i = 0; i < a->n_values; i++) {
		const eml_value *x = &a->values[i], *y = &b->values[i];
		if (x->tensor != y->tensor)
			DIFF("value %u tensor", i);
		if (!streq(x->name, y->name))
			DIFF("value %u name", i);
		if (x->dtype != y->dtype || x->rank != y->rank)
			DIFF("value %u dtype %d/%d rank %d/%d", i, x->dtype, y->dtype, x->rank,
			     y->rank);
		for (int32_t d = 0; d < x->rank; d++)
			if (x->dims[d].value != y->dims[d].value ||
			    x->dims[d].sym != y->dims[d].sym)
				DIFF("value %u dim %d", i, d);
	}
	for (uint32_t g = 0; g < a->n_graphs; g++) {
		const eml_graph *x = &a->graphs[g], *y = &b->graphs[g];
		if (x->parent != y->parent || x->n_nodes != y->n_nodes ||
		    x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs ||
		    x->n_initializers != y->n_initializers)
			DIFF("graph %u shape", g);
		for (uint32_t i = 0; i < x->n_inputs; i++)
			if (x->inputs[i] != y->inputs[i])
				DIFF("graph %u input %u", g, i);
		for (uint32_t i = 0; i < x->n_outputs; i++)
			if (x->outputs[i] != y->outputs[i])
				DIFF("graph %u output %u", g, i);
		for (uint32_t i = 0; i < x->n_initializers; i++)
			if (x->initializers[i] != y->initializers[i])
				DIFF("graph %u initializer %u", g, i);
		for (uint32_t n = 0; n < x->n_nodes; n++) {
			const eml_node *p = &x->nodes[n], *q = &y->nodes[n];
			if (!streq(p->op_type, q->op_type) || !streq(p->domain, q->domain))
				DIFF("graph %u node %u op", g, n);
			if (p->n_inputs != q->n_inputs || p->n_outputs != q->n_outputs ||
			    p->n_attrs != q->n_attrs)
				DIFF("graph %u node %u arity", g, n);
			for (uint32_t i = 0; i < p->n_inputs; i++)
				if (p->inputs[i] != q->inputs[i])
					DIFF("graph %u node %u input %u", g, n, i);
			for (uint32_t i = 0; i < p->n_outputs; i++)
				if (p->outputs[i] != q->outputs[i])
					DIFF("graph %u node %u output %u", g, n, i);
			for (uint32_t k = 0; k < p->n_attrs; k++) {
				const eml_attr *s = &p->attrs[k], *t = &q->attrs[k];
				if (!streq(s->name, t->name) || s->type != t->type ||
				    s->orig_type != t->orig_type)
					DIFF("graph %u node %u attr %u kind", g, n, k);
				switch (s->type) {
				case EML_ATTR_FLOAT:
					if (memcmp(&s->f, &t->f, sizeof(float)) != 0)
						DIFF("graph %u node %u attr %u f", g, n, k);
					break;
				case EML_ATTR_INT:
					if (s->i != t->i)
						DIFF("graph %u node %u attr %u i", g, n, k);
					break;
				case EML_ATTR_STRING:
					if (s->s_len != t->s_len ||
					    (s->s_len && memcmp(s->s, t->s, s->s_len) != 0))
						DIFF("graph %u node %u attr %u s", g, n, k);
					break;
				case EML_ATTR_TENSOR:
					if (tensor_diff(a, b, s->tensor, t->tensor, why, why_len))
						return 1;
					break;
				case EML_ATTR_GRAPH:
					if (s->graph != t->graph)
						DIFF("graph %u node %u attr %u g", g, n, k);
					break;
				default:
					if (s->n != t->n)
						DIFF("graph %u node %u attr %u n", g, n, k);
					for (uint32_t e = 0; e < s->n; e++) {
						int bad = 0;
						if (s->type == EML_ATTR_FLOATS)
							bad =
							    memcmp(&s->floats[e], &t->floats[e], 4);
						else if (s->type == EML_ATTR_INTS)
							bad = s->ints[e] != t->ints[e];
						else if (s->type == EML_ATTR_GRAPHS)
							bad = s->graphs[e] != t->graphs[e];
						else if (s->type == EML_ATTR_STRINGS)
							bad = s->string_lens[e] !=
							          t->string_lens[e] ||
							      memcmp(s->strings[e], t->strings[e],
							             s->string_lens[e]) != 0;
						if (bad)
							DIFF("graph %u node %u attr %u elem %u", g,
							     n, k, e);
					}
				}
			}
		}
	}
	return 0;
}
