/*
 * Random IR models for the topo tests (header-only; included by tests/unit/test_topo*.c and
 * tests/prop/prop_separation.c). Models use every attribute type, tensors of several dtypes
 * (initializers, Constant payloads, TENSOR attributes, subgraph initializers), If subgraphs
 * and value names, so the tests see everything the tkey must carry or drop.
 */
#ifndef EML_TEST_TOPO_MODELS_H
#define EML_TEST_TOPO_MODELS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "model/model.h"
#include "prop.h"

static inline char *tm_strdup_fmt(const char *prefix, uint32_t i)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s_%u", prefix, i);
	return eml_strdup(buf);
}

typedef struct tm_builder {
	eml_model *m;
	uint32_t cap_values, cap_tensors;
	uint64_t cap_data;
	eml_rng *r;
	int32_t cur_graph;
	int32_t *vgraph; /* graph that defines each value (for scoping) */
} tm_builder;

static inline int32_t tm_new_value(tm_builder *b)
{
	eml_model *m = b->m;
	if (m->n_values == b->cap_values) {
		b->cap_values = b->cap_values ? b->cap_values * 2 : 16;
		m->values = eml_realloc(m->values, b->cap_values * sizeof(eml_value));
		b->vgraph = eml_realloc(b->vgraph, b->cap_values * sizeof(int32_t));
	}
	b->vgraph[m->n_values] = b->cur_graph;
	eml_value *v = &m->values[m->n_values];
	memset(v, 0, sizeof(*v));
	v->dtype = EML_DT_FLOAT;
	v->rank = (int32_t)eml_rng_below(b->r, 4) - 1;
	for (int32_t d = 0; d < v->rank; d++) {
		if (eml_rng_chance(b->r, 0.2)) {
			v->dims[d].value = -1;
			v->dims[d].sym = (uint32_t)eml_rng_below(b->r, 3);
		} else {
			v->dims[d].value = (int64_t)eml_rng_range(b->r, 0, 64);
		}
	}
	v->tensor = -1;
	v->name = tm_strdup_fmt("value", m->n_values);
	return (int32_t)m->n_values++;
}

static const int tm_dtypes[] = {EML_DT_FLOAT, EML_DT_FLOAT, EML_DT_FLOAT,   EML_DT_INT64,
                                EML_DT_UINT8, EML_DT_INT8,  EML_DT_FLOAT16, EML_DT_DOUBLE,
                                EML_DT_INT32, EML_DT_BOOL};

/* A new tensor with random bytes (floats look like real weights), placed at a random aligned
 * offset after the previous one (gaps allowed: decompose re-lays out). */
static inline int32_t tm_new_tensor(tm_builder *b, uint64_t max_elems)
{
	eml_model *m = b->m;
	if (m->n_tensors == b->cap_tensors) {
		b->cap_tensors = b->cap_tensors ? b->cap_tensors * 2 : 16;
		m->tensors = eml_realloc(m->tensors, b->cap_tensors * sizeof(eml_tensor));
	}
	eml_tensor *t = &m->tensors[m->n_tensors];
	memset(t, 0, sizeof(*t));
	t->dtype = tm_dtypes[eml_rng_below(b->r, sizeof(tm_dtypes) / sizeof(tm_dtypes[0]))];
	t->rank = (uint32_t)eml_rng_below(b->r, 5);
	uint64_t elems = 1;
	for (uint32_t d = 0; d < t->rank; d++) {
		uint64_t lim = elems ? max_elems / elems : 64;
		if (lim < 1)
			lim = 1;
		uint64_t hi = lim < 64 ? lim : 64;
		t->dims[d] =
		    (int64_t)eml_rng_range(b->r, eml_rng_chance(b->r, 0.05) ? 0 : 1, (int64_t)hi);
		elems *= (uint64_t)t->dims[d];
	}
	t->length = elems * eml_dtype_size(t->dtype);
	uint64_t off = (m->data_len + 63) & ~(uint64_t)63;
	if (eml_rng_chance(b->r, 0.3))
		off += 64 * eml_rng_below(b->r, 3);
	uint64_t need = off + t->length;
	if (need > b->cap_data) {
		uint64_t nc = b->cap_data ? b->cap_data : 4096;
		while (nc < need)
			nc *= 2;
		uint8_t *nd = eml_alloc(nc);
		memset(nd, 0xEE, nc); /* junk in gaps: must not reach the blob layout as-is */
		if (m->data)
			memcpy(nd, m->data, m->data_len);
		eml_free(m->data);
		m->data = nd;
		b->cap_data = nc;
	}
	uint8_t *p = m->data + off;
	if (t->dtype == EML_DT_FLOAT) {
		for (uint64_t i = 0; i < elems; i++) {
			float f = eml_rng_normal(b->r) * 0.1f;
			memcpy(p + 4 * i, &f, 4);
		}
	} else if (t->dtype == EML_DT_BOOL) {
		for (uint64_t i = 0; i < elems; i++)
			p[i] = (uint8_t)eml_rng_below(b->r, 2);
	} else {
		eml_rng_bytes(b->r, p, t->length);
	}
	t->offset = off;
	m->data_len = need;
	return (int32_t)m->n_tensors++;
}

/* A value visible from the current graph: defined in it or in an enclosing graph. */
static inline int32_t tm_pick_value(tm_builder *b)
{
	for (int tries = 0; tries < 64; tries++) {
		int32_t v = (int32_t)eml_rng_below(b->r, b->m->n_values);
		for (int32_t g = b->cur_graph; g != -1; g = b->m->graphs[g].parent)
			if (b->vgraph[v] == g)
				return v;
	}
	return b->m->graphs[0].inputs[0];
}

static inline void tm_add_attr(tm_builder *b, eml_attr *a, int type, uint32_t idx)
{
	memset(a, 0, sizeof(*a));
	a->name = tm_strdup_fmt("attr", idx);
	a->type = type;
	switch (type) {
	case EML_ATTR_FLOAT:
		a->f = eml_rng_float(b->r, -2, 2);
		break;
	case EML_ATTR_INT:
		a->i = (int64_t)eml_rng_range(b->r, -5, 5);
		break;
	case EML_ATTR_STRING:
		a->s = (uint8_t *)eml_strdup("SAME_UPPER");
		a->s_len = 10;
		break;
	case EML_ATTR_FLOATS:
		a->n = (uint32_t)eml_rng_below(b->r, 4);
		a->floats = eml_calloc(a->n + 1, sizeof(float));
		for (uint32_t i = 0; i < a->n; i++)
			a->floats[i] = (float)i * 0.5f;
		break;
	case EML_ATTR_INTS:
		a->n = (uint32_t)eml_rng_below(b->r, 5);
		a->ints = eml_calloc(a->n + 1, sizeof(int64_t));
		for (uint32_t i = 0; i < a->n; i++)
			a->ints[i] = (int64_t)eml_rng_range(b->r, 0, 3);
		break;
	case EML_ATTR_STRINGS:
		a->n = (uint32_t)eml_rng_below(b->r, 3);
		a->strings = eml_calloc(a->n + 1, sizeof(uint8_t *));
		a->string_lens = eml_calloc(a->n + 1, sizeof(size_t));
		for (uint32_t i = 0; i < a->n; i++) {
			a->strings[i] = (uint8_t *)eml_strdup("tanh");
			a->string_lens[i] = 4;
		}
		break;
	}
}

static const char *tm_ops[] = {"Conv",    "Relu", "Add",     "MatMul",    "Gemm",
                               "Reshape", "Mul",  "Sigmoid", "Transpose", "Concat"};

static inline void tm_add_nodes(tm_builder *b, int32_t gi, uint32_t n_nodes, int allow_if,
                                int depth)
{
	eml_model *m = b->m;
	int32_t saved_graph = b->cur_graph;
	b->cur_graph = gi;
	m->graphs[gi].nodes = eml_calloc(n_nodes + 1, sizeof(eml_node));
	for (uint32_t i = 0; i < n_nodes; i++) {
		eml_node *nd = &m->graphs[gi].nodes[i];
		m->graphs[gi].n_nodes++;
		int kind = (int)eml_rng_below(b->r, 10);
		if (kind == 0) { /* Constant: payload in the tensor table via a TENSOR attribute */
			nd->op_type = eml_strdup("Constant");
			nd->domain = eml_strdup("");
			nd->n_attrs = 1;
			nd->attrs = eml_calloc(1, sizeof(eml_attr));
			nd->attrs[0].name = eml_strdup("value");
			nd->attrs[0].type = EML_ATTR_TENSOR;
			nd->attrs[0].tensor = tm_new_tensor(b, 2048);
			const eml_tensor *ct = &b->m->tensors[nd->attrs[0].tensor];
			if (ct->dtype == EML_DT_FLOAT && ct->rank == 1 && eml_rng_chance(b->r, 0.5))
				nd->attrs[0].orig_type = EML_ATTR_FLOATS; /* value_floats */
			nd->n_inputs = 0;
			nd->inputs = eml_calloc(1, sizeof(int32_t));
		} else if (kind == 1 && allow_if && depth < 2 && m->n_graphs + 2 < 64) {
			nd->op_type = eml_strdup("If");
			nd->domain = eml_strdup("");
			nd->n_inputs = 1;
			nd->inputs = eml_calloc(1, sizeof(int32_t));
			nd->inputs[0] = tm_pick_value(b);
			nd->n_attrs = 2;
			nd->attrs = eml_calloc(2, sizeof(eml_attr));
			for (int br = 0; br < 2; br++) {
				int32_t sg = (int32_t)m->n_graphs++;
				eml_graph *g = &m->graphs[sg];
				memset(g, 0, sizeof(*g));
				g->parent = gi;
				nd->attrs[br].name = eml_strdup(br ? "else_branch" : "then_branch");
				nd->attrs[br].type = EML_ATTR_GRAPH;
				nd->attrs[br].graph = sg;
				/* a subgraph initializer */
				b->cur_graph = sg;
				int32_t v = tm_new_value(b);
				b->cur_graph = gi;
				m->values[v].tensor = tm_new_tensor(b, 1024);
				g->n_initializers = 1;
				g->initializers = eml_calloc(1, sizeof(int32_t));
				g->initializers[0] = v;
				g->inputs = eml_calloc(1, sizeof(int32_t));
				tm_add_nodes(b, sg, 1 + (uint32_t)eml_rng_below(b->r, 2), 1,
				             depth + 1);
				g->n_outputs = 1;
				g->outputs = eml_calloc(1, sizeof(int32_t));
				g->outputs[0] = g->nodes[g->n_nodes - 1].outputs[0];
			}
		} else {
			nd->op_type = eml_strdup(
			    tm_ops[eml_rng_below(b->r, sizeof(tm_ops) / sizeof(tm_ops[0]))]);
			nd->domain = eml_strdup(eml_rng_chance(b->r, 0.1) ? "com.microsoft" : "");
			nd->n_inputs = 1 + (uint32_t)eml_rng_below(b->r, 3);
			nd->inputs = eml_calloc(nd->n_inputs, sizeof(int32_t));
			for (uint32_t j = 0; j < nd->n_inputs; j++)
				nd->inputs[j] = eml_rng_chance(b->r, 0.1) ? -1 : tm_pick_value(b);
			nd->n_attrs = (uint32_t)eml_rng_below(b->r, 4);
			nd->attrs = eml_calloc(nd->n_attrs + 1, sizeof(eml_attr));
			static const int types[] = {EML_ATTR_FLOAT,  EML_ATTR_INT,
			                            EML_ATTR_STRING, EML_ATTR_FLOATS,
			                            EML_ATTR_INTS,   EML_ATTR_STRINGS};
			for (uint32_t a = 0; a < nd->n_attrs; a++)
				tm_add_attr(b, &nd->attrs[a], types[eml_rng_below(b->r, 6)], a);
		}
		nd->n_outputs = 1 + (eml_rng_chance(b->r, 0.1) ? 1 : 0);
		nd->outputs = eml_calloc(nd->n_outputs, sizeof(int32_t));
		for (uint32_t j = 0; j < nd->n_outputs; j++)
			nd->outputs[j] = tm_new_value(b);
	}
	b->cur_graph = saved_graph;
}

/* A random model with roughly `weight_elems` elements per large initializer. */
static inline eml_model *tm_random_model(eml_rng *r, uint64_t weight_elems)
{
	tm_builder b = {.r = r};
	eml_model *m = eml_model_new();
	b.m = m;
	b.cap_data = 4096;
	m->data = eml_alloc(b.cap_data);
	memset(m->data, 0xEE, b.cap_data);
	m->ir_version = 8;
	m->n_opsets = 1 + (uint32_t)eml_rng_below(r, 2);
	m->opsets = eml_calloc(m->n_opsets, sizeof(eml_opset));
	m->opsets[0].domain = eml_strdup("");
	m->opsets[0].version = (int64_t)eml_rng_range(r, 11, 18);
	if (m->n_opsets > 1) {
		m->opsets[1].domain = eml_strdup("com.microsoft");
		m->opsets[1].version = 1;
	}
	m->graphs = eml_calloc(64, sizeof(eml_graph));
	m->n_graphs = 1;
	eml_graph *g = &m->graphs[0];
	g->parent = -1;
	g->n_inputs = 1 + (uint32_t)eml_rng_below(r, 2);
	g->inputs = eml_calloc(g->n_inputs, sizeof(int32_t));
	for (uint32_t i = 0; i < g->n_inputs; i++)
		g->inputs[i] = tm_new_value(&b);
	uint32_t n_init = (uint32_t)eml_rng_below(r, 6);
	g->initializers = eml_calloc(n_init + 1, sizeof(int32_t));
	for (uint32_t i = 0; i < n_init; i++) {
		int32_t v = tm_new_value(&b);
		m->values[v].tensor = tm_new_tensor(&b, weight_elems);
		m->values[v].dtype = m->tensors[m->values[v].tensor].dtype;
		g->initializers[g->n_initializers++] = v;
	}
	tm_add_nodes(&b, 0, 1 + (uint32_t)eml_rng_below(r, 8), 1, 0);
	g = &m->graphs[0];
	g->n_outputs = 1;
	g->outputs = eml_calloc(1, sizeof(int32_t));
	g->outputs[0] = g->nodes[g->n_nodes - 1].outputs[0];
	eml_free(b.vgraph);
	return m;
}

/* Compare topologies (everything but data, tensor offsets and — unless `names` — value names).
 * Returns 0 when equal, else a positive line-like code of the first difference. */
static inline int tm_str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static inline int tm_models_differ(const eml_model *a, const eml_model *b, int names)
{
	if (a->ir_version != b->ir_version || a->n_opsets != b->n_opsets ||
	    a->n_values != b->n_values || a->n_tensors != b->n_tensors ||
	    a->n_graphs != b->n_graphs)
		return 1;
	for (uint32_t i = 0; i < a->n_opsets; i++)
		if (!tm_str_eq(a->opsets[i].domain, b->opsets[i].domain) ||
		    a->opsets[i].version != b->opsets[i].version)
			return 2;
	for (uint32_t i = 0; i < a->n_values; i++) {
		const eml_value *x = &a->values[i], *y = &b->values[i];
		if (x->dtype != y->dtype || x->rank != y->rank || x->tensor != y->tensor)
			return 3;
		for (int32_t d = 0; d < x->rank; d++)
			if (x->dims[d].value != y->dims[d].value ||
			    x->dims[d].sym != y->dims[d].sym)
				return 4;
		if (names && !tm_str_eq(x->name, y->name))
			return 5;
	}
	for (uint32_t i = 0; i < a->n_tensors; i++) {
		const eml_tensor *x = &a->tensors[i], *y = &b->tensors[i];
		if (x->dtype != y->dtype || x->rank != y->rank || x->length != y->length)
			return 6;
		for (uint32_t d = 0; d < x->rank; d++)
			if (x->dims[d] != y->dims[d])
				return 7;
	}
	for (uint32_t g = 0; g < a->n_graphs; g++) {
		const eml_graph *x = &a->graphs[g], *y = &b->graphs[g];
		if (x->parent != y->parent || x->n_nodes != y->n_nodes ||
		    x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs ||
		    x->n_initializers != y->n_initializers)
			return 8;
		if ((x->n_inputs && memcmp(x->inputs, y->inputs, x->n_inputs * 4)) ||
		    (x->n_outputs && memcmp(x->outputs, y->outputs, x->n_outputs * 4)) ||
		    (x->n_initializers &&
		     memcmp(x->initializers, y->initializers, x->n_initializers * 4)))
			return 9;
		for (uint32_t i = 0; i < x->n_nodes; i++) {
			const eml_node *p = &x->nodes[i], *q = &y->nodes[i];
			if (!tm_str_eq(p->op_type, q->op_type) ||
			    !tm_str_eq(p->domain, q->domain) || p->n_inputs != q->n_inputs ||
			    p->n_outputs != q->n_outputs || p->n_attrs != q->n_attrs)
				return 10;
			if ((p->n_inputs && memcmp(p->inputs, q->inputs, p->n_inputs * 4)) ||
			    (p->n_outputs && memcmp(p->outputs, q->outputs, p->n_outputs * 4)))
				return 11;
			for (uint32_t k = 0; k < p->n_attrs; k++) {
				const eml_attr *s = &p->attrs[k], *t = &q->attrs[k];
				if (!tm_str_eq(s->name, t->name) || s->type != t->type ||
				    s->orig_type != t->orig_type)
					return 12;
				switch (s->type) {
				case EML_ATTR_FLOAT:
					if (memcmp(&s->f, &t->f, 4))
						return 13;
					break;
				case EML_ATTR_INT:
					if (s->i != t->i)
						return 13;
					break;
				case EML_ATTR_STRING:
					if (s->s_len != t->s_len ||
					    (s->s_len && memcmp(s->s, t->s, s->s_len)))
						return 13;
					break;
				case EML_ATTR_TENSOR:
					if (s->tensor != t->tensor)
						return 13;
					break;
				case EML_ATTR_GRAPH:
					if (s->graph != t->graph)
						return 13;
					break;
				case EML_ATTR_FLOATS:
					if (s->n != t->n ||
					    (s->n && memcmp(s->floats, t->floats, 4 * s->n)))
						return 14;
					break;
				case EML_ATTR_INTS:
					if (s->n != t->n ||
					    (s->n && memcmp(s->ints, t->ints, 8 * s->n)))
						return 14;
					break;
				case EML_ATTR_STRINGS:
					if (s->n != t->n)
						return 14;
					for (uint32_t j = 0; j < s->n; j++)
						if (s->string_lens[j] != t->string_lens[j] ||
						    memcmp(s->strings[j], t->strings[j],
						           s->string_lens[j]))
							return 14;
					break;
				case EML_ATTR_GRAPHS:
					if (s->n != t->n ||
					    (s->n && memcmp(s->graphs, t->graphs, 4 * s->n)))
						return 14;
					break;
				}
			}
		}
	}
	return 0;
}

/* Tensor bytes equal, per tensor in table order (offsets may differ). */
static inline int tm_tensors_differ(const eml_model *a, const eml_model *b)
{
	if (a->n_tensors != b->n_tensors)
		return 1;
	for (uint32_t i = 0; i < a->n_tensors; i++) {
		const eml_tensor *x = &a->tensors[i], *y = &b->tensors[i];
		if (x->length != y->length)
			return 1;
		if (x->length && memcmp(a->data + x->offset, b->data + y->offset, x->length))
			return 1;
	}
	return 0;
}

/* ---- fast distinctive-window search (same criterion as eml_find_distinctive_window, which is
 * O(needle * hay) and too slow for 11 MB of tensors): hash every 16-byte window of the haystack
 * into a sorted table, look up each window of the needle, confirm hits byte for byte. */
static inline uint64_t win_hash(const uint8_t *p)
{
	uint64_t a, b;
	memcpy(&a, p, 8);
	memcpy(&b, p + 8, 8);
	uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	return h ^ (h >> 32);
}

static inline int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct winset {
	uint64_t *h;
	size_t n;
	const uint8_t *hay;
	size_t hay_len;
} winset;

static inline void winset_init(winset *s, const uint8_t *hay, size_t len)
{
	s->hay = hay;
	s->hay_len = len;
	s->n = len >= EML_WINDOW ? len - EML_WINDOW + 1 : 0;
	s->h = malloc((s->n + 1) * sizeof(uint64_t));
	for (size_t i = 0; i < s->n; i++)
		s->h[i] = win_hash(hay + i);
	qsort(s->h, s->n, sizeof(uint64_t), u64_cmp);
}

/* 1 when some distinctive window of needle occurs in the haystack. */
static inline int winset_find(const winset *s, const uint8_t *needle, size_t len, size_t *where)
{
	if (s->n == 0 || len < EML_WINDOW)
		return 0;
	for (size_t i = 0; i + EML_WINDOW <= len; i++) {
		uint64_t h = win_hash(needle + i);
		if (bsearch(&h, s->h, s->n, sizeof(uint64_t), u64_cmp) == NULL)
			continue;
		if (!eml_window_distinctive(needle + i))
			continue;
		if (memmem(s->hay, s->hay_len, needle + i, EML_WINDOW) != NULL) {
			*where = i;
			return 1;
		}
	}
	return 0;
}

#endif
