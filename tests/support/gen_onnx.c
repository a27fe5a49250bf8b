/*
 * Random valid ONNX models (see gen_onnx.h). The IR is built directly, with concrete shapes
 * tracked per value so that every operator gets inputs it accepts; eml_onnx_save packs it.
 * Operator forms per opset follow the ONNX operator changelog.
 */
#include "gen_onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "onnx/onnx.h"

#define EML_ARRAY_LEN_G(a) (sizeof(a) / sizeof((a)[0]))

typedef struct gshape {
	uint32_t rank;
	int64_t d[EML_MAX_RANK];
} gshape;

typedef struct gb {
	eml_rng *r;
	const eml_gen_opts *o;
	eml_model *m;
	int opset;
	int err;
	gshape *sh; /* per value id */
	uint32_t cap_values, cap_tensors, cap_sh;
	uint64_t data_cap;
	int sym_batch; /* declared batch symbol (0: concrete) */
	/* main-graph float values usable as inputs of injected nodes, with their producer */
	int32_t *cand;
	int32_t *cand_node; /* index of the producing main-graph node, -1 for inputs/weights */
	uint32_t n_cand, cap_cand;
	eml_gen_info *info;
} gb;

static int rnd(gb *b, int lo, int hi)
{
	if (hi < lo)
		hi = lo;
	return (int)eml_rng_range(b->r, lo, hi);
}

static int chance(gb *b, double p)
{
	return eml_rng_chance(b->r, p);
}

static void *grow(gb *b, void *p, uint32_t n, uint32_t *cap, size_t elem)
{
	if (n < *cap)
		return p;
	uint32_t ncap = *cap ? *cap * 2 : 32;
	void *q = eml_realloc(p, (size_t)ncap * elem);
	if (q == NULL) {
		b->err = EML_E_NOMEM;
		return NULL;
	}
	*cap = ncap;
	return q;
}

static uint16_t f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000u;
	int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
	uint32_t man = x & 0x7fffffu;
	if (e <= 0)
		return (uint16_t)sign; /* flush tiny values to zero */
	if (e >= 31)
		return (uint16_t)(sign | 0x7bffu);
	return (uint16_t)(sign | ((uint32_t)e << 10) | (man >> 13));
}

/* ---- IR building blocks ---- */

static int32_t g_value(gb *b, const gshape *s)
{
	eml_model *m = b->m;
	/* copy first: s may point into b->sh, which grow() moves */
	gshape shape = s != NULL ? *s : (gshape){0};
	if (b->err)
		return -1;
	m->values = grow(b, m->values, m->n_values, &b->cap_values, sizeof(eml_value));
	b->sh = grow(b, b->sh, m->n_values, &b->cap_sh, sizeof(gshape));
	if (b->err)
		return -1;
	eml_value *v = &m->values[m->n_values];
	memset(v, 0, sizeof(*v));
	v->rank = -1;
	v->tensor = -1;
	b->sh[m->n_values] = shape;
	return (int32_t)m->n_values++;
}

/* A tensor in the data area; bytes == NULL fills random weights of the dtype. */
static int32_t g_tensor(gb *b, int32_t dtype, const gshape *s, const void *bytes, float scale)
{
	eml_model *m = b->m;
	if (b->err)
		return -1;
	m->tensors = grow(b, m->tensors, m->n_tensors, &b->cap_tensors, sizeof(eml_tensor));
	if (b->err)
		return -1;
	uint64_t elems = 1;
	for (uint32_t i = 0; i < s->rank; i++)
		elems *= (uint64_t)s->d[i];
	uint64_t len = elems * eml_dtype_size(dtype);
	uint64_t off = (m->data_len + EML_DATA_ALIGN - 1) & ~(uint64_t)(EML_DATA_ALIGN - 1);
	if (off + len > b->data_cap || m->data == NULL) {
		uint64_t ncap = b->data_cap ? b->data_cap : 4096;
		while (ncap < off + len)
			ncap *= 2;
		uint8_t *nd = eml_realloc(m->data, (size_t)ncap);
		if (nd == NULL) {
			b->err = EML_E_NOMEM;
			return -1;
		}
		m->data = nd;
		b->data_cap = ncap;
	}
	memset(m->data + m->data_len, 0, (size_t)(off + len - m->data_len));
	uint8_t *p = m->data + off;
	if (bytes != NULL) {
		memcpy(p, bytes, (size_t)len);
	} else {
		for (uint64_t i = 0; i < elems; i++) {
			float v = eml_rng_normal(b->r) * scale;
			switch (dtype) {
			case EML_DT_FLOAT:
				memcpy(p + 4 * i, &v, 4);
				break;
			case EML_DT_DOUBLE: {
				double d = v;
				memcpy(p + 8 * i, &d, 8);
				break;
			}
			case EML_DT_FLOAT16: {
				uint16_t h = f32_to_f16(v);
				memcpy(p + 2 * i, &h, 2);
				break;
			}
			default:
				b->err = EML_E_INTERNAL;
				return -1;
			}
		}
	}
	eml_tensor *t = &m->tensors[m->n_tensors];
	memset(t, 0, sizeof(*t));
	t->dtype = dtype;
	t->rank = s->rank;
	for (uint32_t i = 0; i < s->rank; i++)
		t->dims[i] = s->d[i];
	t->offset = off;
	t->length = len;
	m->data_len = off + len;
	return (int32_t)m->n_tensors++;
}

static int32_t *push_i32(gb *b, int32_t *arr, uint32_t n, int32_t v)
{
	int32_t *q = eml_realloc(arr, (size_t)(n + 1) * sizeof(int32_t));
	if (q == NULL) {
		b->err = EML_E_NOMEM;
		return arr;
	}
	q[n] = v;
	return q;
}

static void add_cand(gb *b, int32_t g, int32_t v, int32_t node)
{
	if (g != 0 || b->err || v < 0)
		return;
	if (b->n_cand == b->cap_cand) {
		uint32_t ncap = b->cap_cand ? b->cap_cand * 2 : 32;
		int32_t *c = eml_realloc(b->cand, (size_t)ncap * sizeof(int32_t));
		if (c == NULL) {
			b->err = EML_E_NOMEM;
			return;
		}
		b->cand = c;
		int32_t *cn = eml_realloc(b->cand_node, (size_t)ncap * sizeof(int32_t));
		if (cn == NULL) {
			b->err = EML_E_NOMEM;
			return;
		}
		b->cand_node = cn;
		b->cap_cand = ncap;
	}
	b->cand[b->n_cand] = v;
	b->cand_node[b->n_cand] = node;
	b->n_cand++;
}

/* An initializer of graph g; bytes NULL = random weights. */
static int32_t g_init(gb *b, int32_t g, int32_t dtype, const gshape *s, const void *bytes,
                      float scale)
{
	int32_t ti = g_tensor(b, dtype, s, bytes, scale);
	int32_t id = g_value(b, s);
	if (b->err)
		return -1;
	eml_value *v = &b->m->values[id];
	v->tensor = ti;
	v->dtype = dtype;
	v->rank = (int32_t)s->rank;
	for (uint32_t i = 0; i < s->rank; i++)
		v->dims[i].value = s->d[i];
	eml_graph *gr = &b->m->graphs[g];
	gr->initializers = push_i32(b, gr->initializers, gr->n_initializers, id);
	if (!b->err)
		gr->n_initializers++;
	return id;
}

static eml_node *g_node(gb *b, int32_t g, const char *op, const char *domain, uint32_t n_in,
                        const int32_t *ins, uint32_t n_out, const gshape *out_sh, int32_t *outs)
{
	if (b->err)
		return NULL;
	gshape osh[4];
	if (n_out > 4) {
		b->err = EML_E_INTERNAL;
		return NULL;
	}
	memcpy(osh, out_sh, n_out * sizeof(gshape)); /* out_sh may point into b->sh */
	eml_graph *gr = &b->m->graphs[g];
	eml_node *nn = eml_realloc(gr->nodes, (size_t)(gr->n_nodes + 1) * sizeof(eml_node));
	if (nn == NULL) {
		b->err = EML_E_NOMEM;
		return NULL;
	}
	gr->nodes = nn;
	eml_node *n = &gr->nodes[gr->n_nodes];
	memset(n, 0, sizeof(*n));
	gr->n_nodes++;
	n->op_type = eml_strdup(op);
	n->domain = eml_strdup(domain != NULL ? domain : "");
	n->inputs = eml_alloc((n_in ? n_in : 1) * sizeof(int32_t));
	n->outputs = eml_alloc((n_out ? n_out : 1) * sizeof(int32_t));
	if (n->op_type == NULL || n->domain == NULL || n->inputs == NULL || n->outputs == NULL) {
		b->err = EML_E_NOMEM;
		return NULL;
	}
	n->n_inputs = n_in;
	if (n_in > 0)
		memcpy(n->inputs, ins, n_in * sizeof(int32_t));
	int32_t node_idx = (int32_t)gr->n_nodes - 1;
	for (uint32_t i = 0; i < n_out; i++) {
		int32_t v = g_value(b, &osh[i]);
		if (b->err)
			return NULL;
		/* g_value may not move graphs, but re-fetch the node for clarity */
		n = &b->m->graphs[g].nodes[node_idx];
		n->outputs[i] = v;
		n->n_outputs = i + 1;
		if (outs != NULL)
			outs[i] = v;
	}
	return n;
}

static eml_attr *g_attr(gb *b, eml_node *n, const char *name, int type)
{
	if (b->err || n == NULL)
		return NULL;
	eml_attr *na = eml_realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof(eml_attr));
	if (na == NULL) {
		b->err = EML_E_NOMEM;
		return NULL;
	}
	n->attrs = na;
	eml_attr *a = &n->attrs[n->n_attrs++];
	memset(a, 0, sizeof(*a));
	a->name = eml_strdup(name);
	a->type = type;
	a->tensor = -1;
	a->graph = -1;
	if (a->name == NULL)
		b->err = EML_E_NOMEM;
	return a;
}

static void attr_i(gb *b, eml_node *n, const char *name, int64_t v)
{
	eml_attr *a = g_attr(b, n, name, EML_ATTR_INT);
	if (a != NULL)
		a->i = v;
}

static void attr_f(gb *b, eml_node *n, const char *name, float v)
{
	eml_attr *a = g_attr(b, n, name, EML_ATTR_FLOAT);
	if (a != NULL)
		a->f = v;
}

static void attr_s(gb *b, eml_node *n, const char *name, const char *s)
{
	eml_attr *a = g_attr(b, n, name, EML_ATTR_STRING);
	if (a == NULL)
		return;
	a->s_len = strlen(s);
	a->s = eml_memdup(s, a->s_len ? a->s_len : 1);
	if (a->s == NULL)
		b->err = EML_E_NOMEM;
}

static void attr_ints(gb *b, eml_node *n, const char *name, uint32_t cnt, const int64_t *v)
{
	eml_attr *a = g_attr(b, n, name, EML_ATTR_INTS);
	if (a == NULL)
		return;
	a->n = cnt;
	a->ints = eml_memdup(v, (cnt ? cnt : 1) * sizeof(int64_t));
	if (a->ints == NULL)
		b->err = EML_E_NOMEM;
}

static int32_t g_graph(gb *b, int32_t parent)
{
	eml_model *m = b->m;
	if (b->err)
		return -1;
	eml_graph *ng = eml_realloc(m->graphs, (size_t)(m->n_graphs + 1) * sizeof(eml_graph));
	if (ng == NULL) {
		b->err = EML_E_NOMEM;
		return -1;
	}
	m->graphs = ng;
	memset(&m->graphs[m->n_graphs], 0, sizeof(eml_graph));
	m->graphs[m->n_graphs].parent = parent;
	return (int32_t)m->n_graphs++;
}

static void declare(gb *b, int32_t id, int batch_sym)
{
	if (b->err)
		return;
	eml_value *v = &b->m->values[id];
	const gshape *s = &b->sh[id];
	v->dtype = EML_DT_FLOAT;
	v->rank = (int32_t)s->rank;
	for (uint32_t i = 0; i < s->rank; i++) {
		v->dims[i].value = s->d[i];
		v->dims[i].sym = 0;
	}
	if (batch_sym && s->rank > 0) {
		v->dims[0].value = -1;
		v->dims[0].sym = (uint32_t)batch_sym;
	}
}

static void g_output(gb *b, int32_t g, int32_t id, const char *name)
{
	if (b->err)
		return;
	eml_graph *gr = &b->m->graphs[g];
	gr->outputs = push_i32(b, gr->outputs, gr->n_outputs, id);
	if (b->err)
		return;
	gr->n_outputs++;
	declare(b, id, g == 0 ? b->sym_batch : 0);
	if (name != NULL) {
		b->m->values[id].name = eml_strdup(name);
		if (b->m->values[id].name == NULL)
			b->err = EML_E_NOMEM;
	}
}

/* ---- constants in their various forms ---- */

static gshape shp1(int64_t a)
{
	gshape s = {1, {a}};
	return s;
}

static gshape shp0(void)
{
	gshape s = {0, {0}};
	return s;
}

/* A Constant node whose payload is a tensor, written in one of its forms. */
static int32_t g_const(gb *b, int32_t g, int32_t dtype, const gshape *s, const void *bytes,
                       int prefer_short_form)
{
	gshape out = *s;
	int32_t id = -1;
	eml_node *n = g_node(b, g, "Constant", "", 0, NULL, 1, &out, &id);
	if (n == NULL)
		return -1;
	int short_ok = b->opset >= 12 && prefer_short_form &&
	               (dtype == EML_DT_FLOAT || dtype == EML_DT_INT64) && s->rank <= 1;
	eml_attr *a;
	if (short_ok) {
		const char *nm;
		int orig;
		if (dtype == EML_DT_FLOAT) {
			nm = s->rank == 0 ? "value_float" : "value_floats";
			orig = s->rank == 0 ? EML_ATTR_FLOAT : EML_ATTR_FLOATS;
		} else {
			nm = s->rank == 0 ? "value_int" : "value_ints";
			orig = s->rank == 0 ? EML_ATTR_INT : EML_ATTR_INTS;
		}
		a = g_attr(b, n, nm, EML_ATTR_TENSOR);
		if (a != NULL)
			a->orig_type = orig;
	} else {
		a = g_attr(b, n, "value", EML_ATTR_TENSOR);
	}
	int32_t ti = g_tensor(b, dtype, s, bytes, 0.5f);
	if (a != NULL && !b->err)
		b->m->graphs[g].nodes[b->m->graphs[g].n_nodes - 1].attrs[0].tensor = ti;
	return id;
}

/* An int64 1-D vector as a Constant (any form) or an initializer. */
static int32_t g_ints(gb *b, int32_t g, uint32_t n, const int64_t *v)
{
	gshape s = shp1(n);
	if (chance(b, 0.3))
		return g_init(b, g, EML_DT_INT64, &s, v, 0);
	return g_const(b, g, EML_DT_INT64, &s, v, chance(b, 0.6));
}

static int32_t g_scalar_f(gb *b, int32_t g, float v)
{
	gshape s = shp0();
	if (chance(b, 0.4))
		return g_init(b, g, EML_DT_FLOAT, &s, &v, 0);
	return g_const(b, g, EML_DT_FLOAT, &s, &v, chance(b, 0.6));
}

/* ---- single-input float ops ---- */

static int32_t unary(gb *b, int32_t g, const char *op, int32_t x)
{
	int32_t y = -1;
	gshape s = b->sh[x];
	g_node(b, g, op, "", 1, &x, 1, &s, &y);
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

static int32_t activation(gb *b, int32_t g, int32_t x)
{
	int32_t y = -1;
	gshape s = b->sh[x];
	int k = rnd(b, 0, 13);
	switch (k) {
	case 0:
	case 1:
		return unary(b, g, "Relu", x);
	case 2:
		return unary(b, g, "Sigmoid", x);
	case 3:
		return unary(b, g, "Tanh", x);
	case 4: {
		eml_node *n = g_node(b, g, "LeakyRelu", "", 1, &x, 1, &s, &y);
		if (chance(b, 0.7))
			attr_f(b, n, "alpha", eml_rng_float(b->r, 0.01f, 0.3f));
		break;
	}
	case 5: {
		eml_node *n = g_node(b, g, "HardSigmoid", "", 1, &x, 1, &s, &y);
		attr_f(b, n, "alpha", eml_rng_float(b->r, 0.1f, 0.3f));
		if (chance(b, 0.5))
			attr_f(b, n, "beta", eml_rng_float(b->r, 0.4f, 0.6f));
		break;
	}
	case 6:
		if (b->opset >= 14)
			return unary(b, g, "HardSwish", x);
		return unary(b, g, "Relu", x);
	case 7: { /* Clip: attributes before opset 11, optional inputs from 11 */
		float lo = eml_rng_float(b->r, -1.0f, 0.0f), hi = eml_rng_float(b->r, 0.1f, 2.0f);
		if (b->opset < 11) {
			eml_node *n = g_node(b, g, "Clip", "", 1, &x, 1, &s, &y);
			attr_f(b, n, "min", lo);
			attr_f(b, n, "max", hi);
		} else {
			int32_t ins[3] = {x, chance(b, 0.8) ? g_scalar_f(b, g, lo) : -1,
			                  g_scalar_f(b, g, hi)};
			g_node(b, g, "Clip", "", 3, ins, 1, &s, &y);
		}
		break;
	}
	case 8:
		return unary(b, g, "Abs", x);
	case 9:
		if (b->opset >= 9)
			return unary(b, g, "Erf", x);
		return unary(b, g, "Neg", x);
	case 10: { /* Dropout is the identity at inference; ratio attribute before 12 */
		eml_node *n = g_node(b, g, "Dropout", "", 1, &x, 1, &s, &y);
		if (b->opset < 12 && chance(b, 0.5))
			attr_f(b, n, "ratio", 0.25f);
		break;
	}
	case 11:
		return unary(b, g, "Identity", x);
	case 12: { /* scale by a scalar constant (value_float form from opset 12) */
		int32_t ins[2] = {x, g_scalar_f(b, g, eml_rng_float(b->r, 0.5f, 1.5f))};
		g_node(b, g, "Mul", "", 2, ins, 1, &s, &y);
		break;
	}
	default: { /* Max/Min with a scalar: broadcasting from opset 8 */
		if (b->opset < 8)
			return unary(b, g, "Relu", x);
		int32_t ins[2] = {x, g_scalar_f(b, g, eml_rng_float(b->r, -0.5f, 0.5f))};
		g_node(b, g, chance(b, 0.5) ? "Max" : "Min", "", 2, ins, 1, &s, &y);
		break;
	}
	}
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

/* Weights of shape s: float32 mostly; sometimes float16/double behind a Cast to float. */
static int32_t weights(gb *b, int32_t g, const gshape *s, float scale)
{
	if (!b->o->no_dtypes && chance(b, 0.2)) {
		int32_t dt = chance(b, 0.5) ? EML_DT_FLOAT16 : EML_DT_DOUBLE;
		int32_t w = g_init(b, g, dt, s, NULL, scale);
		int32_t y = -1;
		eml_node *n = g_node(b, g, "Cast", "", 1, &w, 1, s, &y);
		attr_i(b, n, "to", EML_DT_FLOAT);
		return y;
	}
	return g_init(b, g, EML_DT_FLOAT, s, NULL, scale);
}

/* Unsqueeze/Squeeze/ReduceSum axes: attribute before `input_from`, an int64 input after. */
static int32_t axes_op(gb *b, int32_t g, const char *op, int32_t x, uint32_t n, const int64_t *axes,
                       int input_from, const gshape *out, int keepdims)
{
	int32_t y = -1;
	eml_node *nd;
	if (b->opset >= input_from) {
		int32_t ins[2] = {x, g_ints(b, g, n, axes)};
		nd = g_node(b, g, op, "", 2, ins, 1, out, &y);
	} else {
		nd = g_node(b, g, op, "", 1, &x, 1, out, &y);
		attr_ints(b, nd, "axes", n, axes);
	}
	if (keepdims >= 0)
		attr_i(b, nd, "keepdims", keepdims);
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

/* If on a constant condition: then = one activation, else = another; both see x from outside. */
static int32_t if_block(gb *b, int32_t g, int32_t x, int32_t *then_out)
{
	uint8_t c = (uint8_t)chance(b, 0.5);
	gshape s0 = shp0();
	int32_t cond = g_const(b, g, EML_DT_BOOL, &s0, &c, 0);
	int32_t gt = g_graph(b, g), ge = g_graph(b, g);
	if (b->err)
		return -1;
	int32_t yt = unary(b, gt, "Relu", x);
	int32_t ye = unary(b, ge, chance(b, 0.5) ? "Tanh" : "Sigmoid", x);
	g_output(b, gt, yt, NULL);
	g_output(b, ge, ye, NULL);
	int32_t y = -1;
	gshape s = b->sh[x];
	eml_node *n = g_node(b, g, "If", "", 1, &cond, 1, &s, &y);
	eml_attr *a = g_attr(b, n, "then_branch", EML_ATTR_GRAPH);
	if (a != NULL)
		a->graph = gt;
	a = g_attr(b, n, "else_branch", EML_ATTR_GRAPH);
	if (a != NULL)
		a->graph = ge;
	if (then_out != NULL)
		*then_out = gt;
	if (b->info != NULL)
		b->info->has_if = 1;
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

/* ---- MLP ---- */

static int32_t dense(gb *b, int32_t g, int32_t x, int64_t f_out)
{
	int64_t bsz = b->sh[x].d[0], f_in = b->sh[x].d[1];
	gshape so = {2, {bsz, f_out}};
	int32_t y = -1;
	gshape sb = shp1(f_out);
	if (chance(b, 0.5)) {
		int trans_b = chance(b, 0.5);
		gshape sw = trans_b ? (gshape){2, {f_out, f_in}} : (gshape){2, {f_in, f_out}};
		int32_t ins[3] = {x, weights(b, g, &sw, 0.4f),
		                  g_init(b, g, EML_DT_FLOAT, &sb, NULL, 0.1f)};
		eml_node *n = g_node(b, g, "Gemm", "", 3, ins, 1, &so, &y);
		if (trans_b)
			attr_i(b, n, "transB", 1);
		if (chance(b, 0.3))
			attr_f(b, n, "alpha", eml_rng_float(b->r, 0.5f, 1.5f));
		if (chance(b, 0.3))
			attr_f(b, n, "beta", eml_rng_float(b->r, 0.5f, 1.5f));
	} else {
		gshape sw = {2, {f_in, f_out}};
		int32_t ins[2] = {x, weights(b, g, &sw, 0.4f)};
		int32_t mm = -1;
		g_node(b, g, "MatMul", "", 2, ins, 1, &so, &mm);
		add_cand(b, g, mm, (int32_t)b->m->graphs[g].n_nodes - 1);
		int32_t bias;
		if (chance(b, 0.5)) {
			bias = g_init(b, g, EML_DT_FLOAT, &sb, NULL, 0.1f);
		} else { /* bias in a Constant: value_floats from opset 12, else value */
			float *bv = eml_alloc((size_t)f_out * sizeof(float));
			if (bv == NULL) {
				b->err = EML_E_NOMEM;
				return -1;
			}
			for (int64_t i = 0; i < f_out; i++)
				bv[i] = eml_rng_normal(b->r) * 0.1f;
			bias = g_const(b, g, EML_DT_FLOAT, &sb, bv, chance(b, 0.7));
			eml_free(bv);
		}
		int32_t ins2[2] = {mm, bias};
		g_node(b, g, "Add", "", 2, ins2, 1, &so, &y);
	}
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

static int32_t binary(gb *b, int32_t g, const char *op, int32_t x, int32_t c)
{
	int32_t ins[2] = {x, c}, y = -1;
	gshape s = b->sh[x];
	g_node(b, g, op, "", 2, ins, 1, &s, &y);
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

/* Element-wise arithmetic that stays finite: Div, Pow, Exp(Tanh), Reciprocal(|x| + 1), Neg,
 * Where/Equal/Not (opset 11+: Equal on floats), ConstantOfShape + Add (opset 9+), Expand (8+). */
static int32_t arith(gb *b, int32_t g, int32_t x)
{
	const gshape s = b->sh[x];
	switch (rnd(b, 0, 6)) {
	case 0:
		return binary(b, g, "Div", x, g_scalar_f(b, g, eml_rng_float(b->r, 1.0f, 3.0f)));
	case 1:
		return binary(b, g, "Pow", unary(b, g, "Abs", x), g_scalar_f(b, g, 2.0f));
	case 2:
		return unary(b, g, "Exp", unary(b, g, "Tanh", x));
	case 3: {
		int32_t a = binary(b, g, "Add", unary(b, g, "Abs", x), g_scalar_f(b, g, 1.0f));
		return unary(b, g, "Neg", unary(b, g, "Reciprocal", a));
	}
	case 4:
		if (b->opset >= 11) {
			gshape s0 = shp0(), sb = s;
			int32_t ins[2] = {x, g_scalar_f(b, g, 0.0f)}, eq = -1, ne = -1, y = -1;
			g_node(b, g, "Equal", "", 2, ins, 1, &sb, &eq);
			g_node(b, g, "Not", "", 1, &eq, 1, &sb, &ne);
			float one = 1.0f;
			int32_t w[3] = {ne, x, g_const(b, g, EML_DT_FLOAT, &s0, &one, 1)};
			g_node(b, g, "Where", "", 3, w, 1, &s, &y);
			add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
			return y;
		}
		return unary(b, g, "Neg", x);
	case 5:
		if (b->opset >= 9) { /* ConstantOfShape([1]) with a TENSOR value attribute */
			int64_t one = 1;
			int32_t shp = g_ints(b, g, 1, &one), c = -1;
			gshape s1 = shp1(1);
			eml_node *n = g_node(b, g, "ConstantOfShape", "", 1, &shp, 1, &s1, &c);
			eml_attr *a = g_attr(b, n, "value", EML_ATTR_TENSOR);
			float v = eml_rng_float(b->r, -1.0f, 1.0f);
			int32_t ti = g_tensor(b, EML_DT_FLOAT, &s1, &v, 0);
			if (a != NULL && !b->err)
				b->m->graphs[g].nodes[b->m->graphs[g].n_nodes - 1].attrs[0].tensor =
				    ti;
			return binary(b, g, "Add", x, c);
		}
		return unary(b, g, "Neg", x);
	default:
		if (b->opset >= 8 && s.rank == 2) { /* Expand a bias row to the full shape */
			gshape sr = shp1(s.d[1]);
			int32_t row = g_init(b, g, EML_DT_FLOAT, &sr, NULL, 0.2f);
			int64_t dims[2] = {s.d[0], s.d[1]};
			int32_t ins[2] = {row, g_ints(b, g, 2, dims)}, e = -1;
			g_node(b, g, "Expand", "", 2, ins, 1, &s, &e);
			return binary(b, g, "Add", x, e);
		}
		return unary(b, g, "Neg", x);
	}
}

/* Slice features [a, e) of axis 1: starts/ends attributes before opset 10, inputs from 10. */
static int32_t slice_features(gb *b, int32_t g, int32_t x)
{
	const gshape s = b->sh[x];
	int64_t f = s.d[1];
	int64_t a = rnd(b, 0, (int)f - 2), e = rnd(b, (int)a + 1, (int)f);
	gshape so = s;
	so.d[1] = e - a;
	int32_t y = -1;
	int64_t ax = 1;
	if (b->opset < 10) {
		eml_node *n = g_node(b, g, "Slice", "", 1, &x, 1, &so, &y);
		attr_ints(b, n, "starts", 1, &a);
		attr_ints(b, n, "ends", 1, &e);
		attr_ints(b, n, "axes", 1, &ax);
	} else {
		int64_t big = e == f && chance(b, 0.5) ? INT64_MAX : e; /* "to the end" */
		int32_t ins[4] = {x, g_ints(b, g, 1, &a), g_ints(b, g, 1, &big),
		                  g_ints(b, g, 1, &ax)};
		g_node(b, g, "Slice", "", 4, ins, 1, &so, &y);
	}
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

static int32_t mlp_extra(gb *b, int32_t g, int32_t x)
{
	const gshape s = b->sh[x];
	int64_t bsz = s.d[0], f = s.d[1];
	int k = rnd(b, 0, 6);
	if (k == 5)
		return arith(b, g, x);
	if (k == 6 && f >= 2)
		return slice_features(b, g, x);
	if (k == 0) { /* Unsqueeze then Squeeze axis 1 */
		int64_t ax = 1;
		gshape s3 = {3, {bsz, 1, f}};
		int32_t u = axes_op(b, g, "Unsqueeze", x, 1, &ax, 13, &s3, -1);
		return axes_op(b, g, "Squeeze", u, 1, &ax, 13, &s, -1);
	}
	if (k == 1 && f >= 2) { /* Split into two, different activations, Concat back */
		int64_t a = rnd(b, 1, (int)f - 1);
		int64_t parts[2] = {a, f - a};
		gshape o[2] = {{2, {bsz, a}}, {2, {bsz, f - a}}};
		int32_t ys[2] = {-1, -1};
		eml_node *n;
		if (b->opset >= 13) {
			int32_t ins[2] = {x, g_ints(b, g, 2, parts)};
			n = g_node(b, g, "Split", "", 2, ins, 2, o, ys);
		} else {
			n = g_node(b, g, "Split", "", 1, &x, 2, o, ys);
			attr_ints(b, n, "split", 2, parts);
		}
		attr_i(b, n, "axis", 1);
		int32_t y0 = activation(b, g, ys[0]), y1 = activation(b, g, ys[1]);
		int32_t cat[2] = {y0, y1}, y = -1;
		n = g_node(b, g, "Concat", "", 2, cat, 1, &s, &y);
		attr_i(b, n, "axis", 1);
		add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
		return y;
	}
	if (k == 2) { /* Gather one feature (value_int), broadcast-add it back */
		int64_t idx = rnd(b, 0, (int)f - 1);
		gshape s0 = shp0();
		int32_t ind = g_const(b, g, EML_DT_INT64, &s0, &idx, chance(b, 0.7));
		int32_t ins[2] = {x, ind}, gv = -1, y = -1;
		gshape s1 = shp1(bsz);
		eml_node *n = g_node(b, g, "Gather", "", 2, ins, 1, &s1, &gv);
		attr_i(b, n, "axis", 1);
		int64_t ax = 1;
		gshape s2 = {2, {bsz, 1}};
		int32_t u = axes_op(b, g, "Unsqueeze", gv, 1, &ax, 13, &s2, -1);
		int32_t add[2] = {x, u};
		g_node(b, g, "Add", "", 2, add, 1, &s, &y);
		add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
		return y;
	}
	if (k == 3 && !b->o->no_if)
		return if_block(b, g, x, NULL);
	/* Sqrt of Abs, Sub of a scalar */
	int32_t a = unary(b, g, "Abs", x);
	int32_t sq = unary(b, g, "Sqrt", a);
	int32_t ins[2] = {sq, g_scalar_f(b, g, 0.25f)}, y = -1;
	g_node(b, g, "Sub", "", 2, ins, 1, &s, &y);
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

static int32_t gen_mlp(gb *b, int32_t g, int32_t x)
{
	int maxf = b->o->max_features > 1 ? b->o->max_features : 32;
	int layers = rnd(b, 1, b->o->max_layers > 0 ? b->o->max_layers : 4);
	for (int l = 0; l < layers && !b->err; l++) {
		x = dense(b, g, x, rnd(b, 2, maxf));
		x = activation(b, g, x);
		if (chance(b, 0.4))
			x = mlp_extra(b, g, x);
	}
	int64_t bsz = b->sh[x].d[0];
	int end = rnd(b, 0, 3);
	if (end == 0) {
		int32_t y = -1;
		eml_node *n = g_node(b, g, "Softmax", "", 1, &x, 1, &b->sh[x], &y);
		attr_i(b, n, "axis", 1);
		x = y;
	} else if (end == 1) {
		int64_t ax = 1;
		gshape so = {2, {bsz, 1}};
		if (chance(b, 0.5)) {
			x = axes_op(b, g, "ReduceSum", x, 1, &ax, 13, &so, 1);
		} else {
			x = axes_op(b, g, "ReduceMean", x, 1, &ax, 18, &so, 1);
		}
	}
	return x;
}

/* ---- CNN ---- */

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1)
{
	int64_t eff = (k - 1) * d + 1;
	if (in + p0 + p1 < eff)
		return 0;
	return (in + p0 + p1 - eff) / s + 1;
}

static int32_t conv(gb *b, int32_t g, int32_t x, int64_t c_out, int allow_fancy)
{
	const gshape s = b->sh[x];
	int64_t n = s.d[0], c = s.d[1], h = s.d[2], w = s.d[3];
	int64_t k[2] = {1, 1}, st[2] = {1, 1}, dl[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
	if (allow_fancy) {
		for (int i = 0; i < 2; i++) {
			k[i] = rnd(b, 1, 3);
			st[i] = chance(b, 0.3) ? 2 : 1;
			dl[i] = chance(b, 0.2) ? 2 : 1;
			pads[i] = rnd(b, 0, (int)k[i] - 1);
			pads[i + 2] = rnd(b, 0, (int)k[i] - 1);
		}
	}
	int64_t ho = conv_out(h, k[0], st[0], dl[0], pads[0], pads[2]);
	int64_t wo = conv_out(w, k[1], st[1], dl[1], pads[1], pads[3]);
	if (ho < 1 || wo < 1) { /* too small for this kernel: fall back to 1x1 */
		for (int i = 0; i < 2; i++)
			k[i] = st[i] = dl[i] = 1;
		memset(pads, 0, sizeof(pads));
		ho = h;
		wo = w;
	}
	int64_t group = 1;
	if (allow_fancy && chance(b, 0.3)) {
		if (chance(b, 0.5)) {
			group = c; /* depthwise (times a multiplier) */
			c_out = c * rnd(b, 1, 2);
		} else {
			for (int64_t cand = c; cand > 1; cand--)
				if (c % cand == 0 && c_out % cand == 0 && chance(b, 0.5)) {
					group = cand;
					break;
				}
		}
	}
	gshape sw = {4, {c_out, c / group, k[0], k[1]}};
	float scale = 1.0f / sqrtf((float)(c / group * k[0] * k[1]));
	int has_bias = chance(b, 0.6);
	gshape sb = shp1(c_out);
	int32_t ins[3] = {x, weights(b, g, &sw, scale),
	                  has_bias ? g_init(b, g, EML_DT_FLOAT, &sb, NULL, 0.1f) : -1};
	gshape so = {4, {n, c_out, ho, wo}};
	int32_t y = -1;
	eml_node *nd = g_node(b, g, "Conv", "", has_bias ? 3 : 2, ins, 1, &so, &y);
	if (chance(b, 0.7))
		attr_ints(b, nd, "kernel_shape", 2, k);
	if (st[0] != 1 || st[1] != 1 || chance(b, 0.3))
		attr_ints(b, nd, "strides", 2, st);
	if (dl[0] != 1 || dl[1] != 1)
		attr_ints(b, nd, "dilations", 2, dl);
	if (pads[0] || pads[1] || pads[2] || pads[3] || chance(b, 0.3))
		attr_ints(b, nd, "pads", 4, pads);
	if (group != 1)
		attr_i(b, nd, "group", group);
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

static int32_t batchnorm(gb *b, int32_t g, int32_t x)
{
	int64_t c = b->sh[x].d[1];
	gshape sc = shp1(c);
	float *var = eml_alloc((size_t)c * sizeof(float));
	if (var == NULL) {
		b->err = EML_E_NOMEM;
		return -1;
	}
	for (int64_t i = 0; i < c; i++)
		var[i] = eml_rng_float(b->r, 0.5f, 2.0f);
	int32_t ins[5] = {x, g_init(b, g, EML_DT_FLOAT, &sc, NULL, 0.5f),
	                  g_init(b, g, EML_DT_FLOAT, &sc, NULL, 0.1f),
	                  g_init(b, g, EML_DT_FLOAT, &sc, NULL, 0.1f),
	                  g_init(b, g, EML_DT_FLOAT, &sc, var, 0)};
	eml_free(var);
	int32_t y = -1;
	eml_node *n = g_node(b, g, "BatchNormalization", "", 5, ins, 1, &b->sh[x], &y);
	if (chance(b, 0.5))
		attr_f(b, n, "epsilon", 1e-3f);
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

static int32_t pool(gb *b, int32_t g, int32_t x)
{
	const gshape s = b->sh[x];
	int64_t k[2], st[2], pads[4] = {0, 0, 0, 0};
	for (int i = 0; i < 2; i++) {
		int64_t dim = s.d[2 + i];
		k[i] = dim >= 3 ? rnd(b, 1, 3) : dim;
		st[i] = rnd(b, 1, 2);
		if (k[i] > 1 && chance(b, 0.4)) {
			pads[i] = rnd(b, 0, (int)k[i] - 1);
			pads[i + 2] = rnd(b, 0, (int)k[i] - 1);
		}
	}
	gshape so = {4,
	             {s.d[0], s.d[1], conv_out(s.d[2], k[0], st[0], 1, pads[0], pads[2]),
	              conv_out(s.d[3], k[1], st[1], 1, pads[1], pads[3])}};
	int avg = chance(b, 0.5);
	int32_t y = -1;
	eml_node *n = g_node(b, g, avg ? "AveragePool" : "MaxPool", "", 1, &x, 1, &so, &y);
	attr_ints(b, n, "kernel_shape", 2, k);
	attr_ints(b, n, "strides", 2, st);
	if (pads[0] || pads[1] || pads[2] || pads[3])
		attr_ints(b, n, "pads", 4, pads);
	if (avg && chance(b, 0.5))
		attr_i(b, n, "count_include_pad", 1);
	add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
	return y;
}

static int32_t cnn_extra(gb *b, int32_t g, int32_t x)
{
	const gshape s = b->sh[x];
	int k = rnd(b, 0, 6);
	if (k == 0) { /* parallel 1x1 branch and Concat on channels */
		int32_t y2 = conv(b, g, x, rnd(b, 1, 4), 0);
		int32_t cat[2] = {x, y2}, y = -1;
		gshape so = s;
		so.d[1] = s.d[1] + b->sh[y2].d[1];
		eml_node *n = g_node(b, g, "Concat", "", 2, cat, 1, &so, &y);
		attr_i(b, n, "axis", 1);
		add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
		return y;
	}
	if (k == 1) { /* Pad: pads attribute before opset 11, an input from 11 */
		int64_t pads[8] = {0, 0, rnd(b, 0, 1), rnd(b, 0, 2),
		                   0, 0, rnd(b, 0, 2), rnd(b, 0, 1)};
		gshape so = s;
		so.d[2] += pads[2] + pads[6];
		so.d[3] += pads[3] + pads[7];
		int32_t y = -1;
		if (b->opset < 11) {
			eml_node *n = g_node(b, g, "Pad", "", 1, &x, 1, &so, &y);
			attr_ints(b, n, "pads", 8, pads);
			if (chance(b, 0.5))
				attr_f(b, n, "value", 0.5f);
		} else {
			int32_t ins[3] = {x, g_ints(b, g, 8, pads), -1};
			uint32_t nin = 2;
			if (chance(b, 0.5)) {
				ins[2] = g_scalar_f(b, g, 0.5f);
				nin = 3;
			}
			g_node(b, g, "Pad", "", nin, ins, 1, &so, &y);
		}
		add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
		return y;
	}
	if (k == 2 && b->opset >= 10 && s.d[2] <= 8 && s.d[3] <= 8) { /* nearest upsample x2 */
		float scales[4] = {1, 1, 2, 2};
		gshape s4 = shp1(4), so = s;
		so.d[2] *= 2;
		so.d[3] *= 2;
		int32_t sc = chance(b, 0.5) ? g_init(b, g, EML_DT_FLOAT, &s4, scales, 0)
		                            : g_const(b, g, EML_DT_FLOAT, &s4, scales, 1);
		int32_t y = -1;
		eml_node *n;
		if (b->opset == 10) {
			int32_t ins[2] = {x, sc};
			n = g_node(b, g, "Resize", "", 2, ins, 1, &so, &y);
		} else {
			/* roi is required (may be empty) in opsets 11-12, optional from 13 */
			gshape s0 = shp1(0);
			int32_t roi = b->opset < 13 ? g_init(b, g, EML_DT_FLOAT, &s0, NULL, 0) : -1;
			int32_t ins[3] = {x, roi, sc};
			n = g_node(b, g, "Resize", "", 3, ins, 1, &so, &y);
		}
		attr_s(b, n, "mode", "nearest");
		add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
		return y;
	}
	if (k == 3) { /* NCHW -> NHWC -> NCHW */
		int64_t p1[4] = {0, 2, 3, 1}, p2[4] = {0, 3, 1, 2};
		gshape st = {4, {s.d[0], s.d[2], s.d[3], s.d[1]}};
		int32_t t = -1, y = -1;
		eml_node *n = g_node(b, g, "Transpose", "", 1, &x, 1, &st, &t);
		attr_ints(b, n, "perm", 4, p1);
		int32_t a = activation(b, g, t);
		n = g_node(b, g, "Transpose", "", 1, &a, 1, &s, &y);
		attr_ints(b, n, "perm", 4, p2);
		add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
		return y;
	}
	if (k == 4 && s.d[2] <= 8 && s.d[3] <= 8) { /* ConvTranspose upsampling */
		int64_t c = s.d[1], c_out = rnd(b, 1, 6), kk = rnd(b, 2, 3), st = 2;
		int64_t pads[4] = {0, 0, 0, 0};
		if (kk == 3)
			pads[0] = pads[1] = pads[2] = pads[3] = 1;
		gshape sw = {4, {c, c_out, kk, kk}};
		int32_t ins[3] = {x, weights(b, g, &sw, 0.3f), -1};
		uint32_t nin = 2;
		if (chance(b, 0.5)) {
			gshape sb = shp1(c_out);
			ins[2] = g_init(b, g, EML_DT_FLOAT, &sb, NULL, 0.1f);
			nin = 3;
		}
		gshape so = {4,
		             {s.d[0], c_out, (s.d[2] - 1) * st - pads[0] - pads[2] + kk,
		              (s.d[3] - 1) * st - pads[1] - pads[3] + kk}};
		int32_t y = -1;
		eml_node *n = g_node(b, g, "ConvTranspose", "", nin, ins, 1, &so, &y);
		int64_t ks[2] = {kk, kk}, sts[2] = {st, st};
		attr_ints(b, n, "kernel_shape", 2, ks);
		attr_ints(b, n, "strides", 2, sts);
		if (kk == 3)
			attr_ints(b, n, "pads", 4, pads);
		add_cand(b, g, y, (int32_t)b->m->graphs[g].n_nodes - 1);
		return y;
	}
	if (k == 5)
		return arith(b, g, x);
	if (!b->o->no_if)
		return if_block(b, g, x, NULL);
	return activation(b, g, x);
}

static int32_t gen_cnn(gb *b, int32_t g, int32_t x)
{
	int maxc = b->o->max_channels > 0 ? b->o->max_channels : 12;
	int layers = rnd(b, 1, b->o->max_layers > 0 ? b->o->max_layers : 4);
	for (int l = 0; l < layers && !b->err; l++) {
		x = conv(b, g, x, rnd(b, 1, maxc), 1);
		if (chance(b, 0.5))
			x = batchnorm(b, g, x);
		x = activation(b, g, x);
		if (chance(b, 0.4) && b->sh[x].d[2] >= 2 && b->sh[x].d[3] >= 2)
			x = pool(b, g, x);
		if (chance(b, 0.35))
			x = cnn_extra(b, g, x);
	}
	/* head: [N,C,H,W] -> [N,C] -> Gemm -> (Softmax) */
	const gshape s = b->sh[x];
	int64_t n = s.d[0], c = s.d[1];
	gshape s2 = {2, {n, c}};
	int head = rnd(b, 0, 4);
	int64_t axes[2] = {2, 3};
	if (head == 3) {
		x = axes_op(b, g, "ReduceMean", x, 2, axes, 18, &s2, 0);
	} else {
		gshape s11 = {4, {n, c, 1, 1}};
		int32_t gp = -1;
		g_node(b, g, "GlobalAveragePool", "", 1, &x, 1, &s11, &gp);
		add_cand(b, g, gp, (int32_t)b->m->graphs[g].n_nodes - 1);
		if (head == 0) {
			int32_t y = -1;
			eml_node *nd = g_node(b, g, "Flatten", "", 1, &gp, 1, &s2, &y);
			attr_i(b, nd, "axis", 1);
			x = y;
		} else if (head == 4) {
			/* the exporter's flatten: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) */
			gshape s4 = shp1(4), s0 = shp0(), s1 = shp1(1), sc = shp1(2);
			int32_t shp = -1, n0 = -1, y = -1, cat = -1;
			g_node(b, g, "Shape", "", 1, &gp, 1, &s4, &shp);
			int64_t zero = 0, minus1 = -1;
			int32_t gi[2] = {shp, g_const(b, g, EML_DT_INT64, &s0, &zero, 1)};
			eml_node *nd = g_node(b, g, "Gather", "", 2, gi, 1, &s0, &n0);
			attr_i(b, nd, "axis", 0);
			int32_t u = axes_op(b, g, "Unsqueeze", n0, 1, &zero, 13, &s1, -1);
			int32_t ci[2] = {u, g_const(b, g, EML_DT_INT64, &s1, &minus1, 1)};
			nd = g_node(b, g, "Concat", "", 2, ci, 1, &sc, &cat);
			attr_i(b, nd, "axis", 0);
			int32_t ri[2] = {gp, cat};
			g_node(b, g, "Reshape", "", 2, ri, 1, &s2, &y);
			x = y;
		} else if (head == 1) { /* Reshape with an int64 shape constant [0, -1] */
			int64_t shape[2] = {0, -1};
			int32_t ins[2] = {gp, g_ints(b, g, 2, shape)}, y = -1;
			g_node(b, g, "Reshape", "", 2, ins, 1, &s2, &y);
			x = y;
		} else {
			x = axes_op(b, g, "Squeeze", gp, 2, axes, 13, &s2, -1);
		}
	}
	x = dense(b, g, x, rnd(b, 2, 10));
	if (chance(b, 0.5)) {
		int32_t y = -1;
		eml_node *nd = g_node(b, g, "Softmax", "", 1, &x, 1, &b->sh[x], &y);
		attr_i(b, nd, "axis", 1);
		x = y;
	}
	return x;
}

/* ---- unsupported operator injection ---- */

/* Real ONNX operators the engine does not claim (docs/OPERATORS.md). When one becomes claimed,
 * the pick below falls back to "Loop", so widening the engine never breaks this generator. */
static const char *const real_unclaimed[] = {"Loop",
                                             "Scan",
                                             "MaxRoiPool",
                                             "LpPool",
                                             "GlobalLpPool",
                                             "LpNormalization",
                                             "GroupNormalization",
                                             "Mish",
                                             "DFT",
                                             "STFT",
                                             "Col2Im",
                                             "CenterCropPad",
                                             "BitwiseAnd",
                                             "BitwiseOr",
                                             "BitwiseXor",
                                             "BitwiseNot",
                                             "Multinomial",
                                             "RandomNormalLike",
                                             "RandomUniformLike",
                                             "Bernoulli",
                                             "TfIdfVectorizer",
                                             "MelWeightMatrix",
                                             "HannWindow",
                                             "Upsample"};
static const char *const other_domains[] = {"com.microsoft", "ai.onnx.ml", "com.example.custom",
                                            "org.pytorch.aten"};
static const char *const other_ops[] = {"FusedConv", "Attention", "QuickGelu", "Relu",
                                        "Conv",      "Gemm",      "ZipMap",    "LinearClassifier"};

static int64_t domain_version(gb *b, const char *domain)
{
	eml_model *m = b->m;
	for (uint32_t i = 0; i < m->n_opsets; i++)
		if (strcmp(m->opsets[i].domain, domain) == 0)
			return m->opsets[i].version;
	eml_opset *no = eml_realloc(m->opsets, (size_t)(m->n_opsets + 1) * sizeof(eml_opset));
	if (no == NULL) {
		b->err = EML_E_NOMEM;
		return 0;
	}
	m->opsets = no;
	m->opsets[m->n_opsets].domain = eml_strdup(domain);
	m->opsets[m->n_opsets].version = rnd(b, 1, 3);
	if (m->opsets[m->n_opsets].domain == NULL)
		b->err = EML_E_NOMEM;
	return m->opsets[m->n_opsets++].version;
}

static void note_injected(gb *b, const char *domain, const char *op, int64_t opset)
{
	eml_gen_info *in = b->info;
	for (uint32_t i = 0; i < in->n_injected; i++)
		if (strcmp(in->injected[i].domain, domain) == 0 &&
		    strcmp(in->injected[i].op_type, op) == 0 && in->injected[i].opset == opset) {
			in->injected[i].count++;
			return;
		}
	if (in->n_injected >= EML_GEN_MAX_INJECT) {
		b->err = EML_E_LIMIT;
		return;
	}
	eml_gen_injected *e = &in->injected[in->n_injected++];
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->op_type, sizeof(e->op_type), "%s", op);
	e->opset = opset;
	e->count = 1;
}

/* Move the last node of the main graph to just after node `after` (-1: to the front). */
static void move_last_after(gb *b, int32_t after)
{
	eml_graph *gr = &b->m->graphs[0];
	uint32_t at = (uint32_t)(after + 1);
	if (at >= gr->n_nodes - 1)
		return;
	eml_node last = gr->nodes[gr->n_nodes - 1];
	memmove(&gr->nodes[at + 1], &gr->nodes[at], (gr->n_nodes - 1 - at) * sizeof(eml_node));
	gr->nodes[at] = last;
	/* candidates produced by shifted nodes moved one slot down */
	for (uint32_t i = 0; i < b->n_cand; i++)
		if (b->cand_node[i] >= (int32_t)at)
			b->cand_node[i]++;
}

static void inject(gb *b, int n_inject)
{
	for (int i = 0; i < n_inject && !b->err; i++) {
		char made_up[32];
		const char *domain = "", *op;
		int kind = rnd(b, 0, 3);
		int k2 = kind == 3 ? rnd(b, 0, 2) : kind; /* what goes inside the If */
		if (k2 == 0) {
			do {
				snprintf(made_up, sizeof(made_up), "Xq%c%c%c%c%d",
				         'A' + rnd(b, 0, 25), 'a' + rnd(b, 0, 25),
				         'a' + rnd(b, 0, 25), 'a' + rnd(b, 0, 25), rnd(b, 0, 99));
			} while (eml_onnx_op_supported("", made_up, b->opset));
			op = made_up;
		} else if (k2 == 1) {
			domain = other_domains[rnd(b, 0, (int)EML_ARRAY_LEN_G(other_domains) - 1)];
			op = other_ops[rnd(b, 0, (int)EML_ARRAY_LEN_G(other_ops) - 1)];
		} else {
			/* Real ONNX operators the support table does not claim at this opset (the
			 * table grows; the list must not go stale), else a made-up one. */
			op = "EmlNoSuchOp";
			for (int tries = 0; tries < 64; tries++) {
				const char *cand = real_unclaimed[rnd(
				    b, 0, (int)EML_ARRAY_LEN_G(real_unclaimed) - 1)];
				if (!eml_onnx_op_supported("", cand, b->opset)) {
					op = cand;
					break;
				}
			}
		}
		int64_t opset = domain[0] ? domain_version(b, domain) : b->opset;
		uint32_t c = (uint32_t)eml_rng_below(b->r, b->n_cand);
		int32_t src = b->cand[c], after = b->cand_node[c];
		gshape s = b->sh[src];
		if (kind == 3) {
			/* an If (supported) whose then-branch holds the unsupported node */
			uint32_t before = b->m->graphs[0].n_nodes;
			int32_t gt = -1;
			(void)if_block(b, 0, src, &gt);
			if (b->err)
				return;
			int32_t yd = -1;
			g_node(b, gt, op, domain, 1, &src, 1, &s, &yd);
			/* the If block added a Constant and the If: keep both after `after` */
			uint32_t added = b->m->graphs[0].n_nodes - before;
			for (uint32_t a = 0; a < added; a++)
				move_last_after(b, after);
			b->n_cand--; /* the If output was added as a candidate by if_block */
		} else {
			int32_t y = -1;
			g_node(b, 0, op, domain, 1, &src, 1, &s, &y);
			if (b->err)
				return;
			move_last_after(b, after);
		}
		note_injected(b, domain, op, opset);
	}
}

static int inj_cmp(const void *x, const void *y)
{
	const eml_gen_injected *a = x, *c = y;
	int r = strcmp(a->domain, c->domain);
	if (r == 0)
		r = strcmp(a->op_type, c->op_type);
	if (r == 0)
		r = (a->opset > c->opset) - (a->opset < c->opset);
	return r;
}

/* ---- the model ---- */

static int ir_for_opset(gb *b, int opset)
{
	static const int ir[21] = {0, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9};
	if (opset <= 8 && chance(b, 0.5))
		return 3;
	return ir[opset];
}

int eml_gen_model_ir(eml_rng *r, const eml_gen_opts *o, eml_model **out, eml_gen_info *info)
{
	eml_gen_opts dflt = {0};
	eml_gen_info scratch;
	gb b;
	memset(&b, 0, sizeof(b));
	b.r = r;
	b.o = o != NULL ? o : &dflt;
	b.info = info != NULL ? info : &scratch;
	memset(b.info, 0, sizeof(*b.info));
	b.opset = b.o->opset >= 7 && b.o->opset <= 20 ? b.o->opset : rnd(&b, 7, 20);
	b.m = eml_model_new();
	if (b.m == NULL)
		return EML_E_NOMEM;
	eml_model *m = b.m;
	m->ir_version = ir_for_opset(&b, b.opset);
	m->opsets = eml_calloc(1, sizeof(eml_opset));
	if (m->opsets == NULL || (m->opsets[0].domain = eml_strdup("")) == NULL) {
		eml_model_free(m);
		return EML_E_NOMEM;
	}
	m->opsets[0].version = b.opset;
	m->n_opsets = 1;
	unsigned fam = b.o->families & EML_GEN_ALL ? b.o->families & EML_GEN_ALL : EML_GEN_ALL;
	int family = fam == EML_GEN_ALL ? (chance(&b, 0.5) ? EML_GEN_MLP : EML_GEN_CNN) : (int)fam;
	int maxb = b.o->max_batch > 0 ? b.o->max_batch : 3;
	int32_t g = g_graph(&b, -1);
	gshape in;
	if (family == EML_GEN_MLP) {
		int maxf = b.o->max_features > 1 ? b.o->max_features : 32;
		in = (gshape){2, {rnd(&b, 1, maxb), rnd(&b, 2, maxf)}};
	} else {
		int maxs = b.o->max_spatial > 3 ? b.o->max_spatial : 16;
		in = (gshape){
		    4, {rnd(&b, 1, maxb), rnd(&b, 1, 4), rnd(&b, 4, maxs), rnd(&b, 4, maxs)}};
	}
	b.sym_batch = chance(&b, 0.5) ? 1 : 0;
	int32_t x = g_value(&b, &in);
	if (!b.err) {
		m->graphs[g].inputs = push_i32(&b, m->graphs[g].inputs, 0, x);
		m->graphs[g].n_inputs = b.err ? 0 : 1;
		declare(&b, x, b.sym_batch);
		m->values[x].name = eml_strdup("input");
		if (m->values[x].name == NULL)
			b.err = EML_E_NOMEM;
		add_cand(&b, 0, x, -1);
	}
	int32_t y = family == EML_GEN_MLP ? gen_mlp(&b, g, x) : gen_cnn(&b, g, x);
	if (!b.err && y == x) /* never an input-as-output model */
		y = unary(&b, g, "Identity", x);
	g_output(&b, g, y, "output");
	if (b.o->n_unsupported > 0)
		inject(&b, b.o->n_unsupported);
	if (m->data == NULL && !b.err) {
		m->data = eml_calloc(1, EML_DATA_ALIGN);
		if (m->data == NULL)
			b.err = EML_E_NOMEM;
	}
	int rc = b.err;
	if (rc == EML_OK) {
		eml_gen_info *inf = b.info;
		inf->opset = b.opset;
		inf->family = family;
		for (uint32_t i = 0; i < m->n_graphs; i++)
			inf->n_nodes += m->graphs[i].n_nodes;
		inf->n_inputs = 1;
		snprintf(inf->inputs[0].name, sizeof(inf->inputs[0].name), "input");
		inf->inputs[0].dtype = EML_DT_FLOAT;
		inf->inputs[0].rank = in.rank;
		memcpy(inf->inputs[0].dims, in.d, sizeof(in.d));
		inf->n_outputs = 1;
		snprintf(inf->outputs[0].name, sizeof(inf->outputs[0].name), "output");
		inf->outputs[0].dtype = EML_DT_FLOAT;
		inf->outputs[0].rank = b.sh[y].rank;
		memcpy(inf->outputs[0].dims, b.sh[y].d, sizeof(b.sh[y].d));
		qsort(inf->injected, inf->n_injected, sizeof(inf->injected[0]), inj_cmp);
		*out = m;
	} else {
		eml_model_free(m);
	}
	eml_free(b.sh);
	eml_free(b.cand);
	eml_free(b.cand_node);
	return rc;
}

int eml_gen_model(eml_rng *r, const eml_gen_opts *o, uint8_t **onnx, size_t *len,
                  eml_gen_info *info)
{
	eml_model *m = NULL;
	int rc = eml_gen_model_ir(r, o, &m, info);
	if (rc != EML_OK)
		return rc;
	rc = eml_onnx_save(m, onnx, len);
	eml_model_free(m);
	return rc;
}

/* ---- eml_gen_model_diff: structural comparison of two IR models ----
 * In this file so that any user of the diff also links the generator (a weak reference to
 * eml_gen_model alone does not pull an object out of the static test library). */

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
