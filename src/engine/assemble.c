/*
 * Assembly: model + this request's inputs -> plan (DESIGN §6).
 *
 * 1. Every value gets a record (eml_rt): initializers become CONST (float16/double widened to
 *    float), graph inputs INPUT (validated against the declared dtype/rank/dims; symbolic dims are
 *    bound from the request and must agree across inputs).
 * 2. Nodes are visited in file order (ONNX requires topological order). Each operator's prep infers
 *    its outputs; a node whose inputs are all CONST is executed right away (constant folding:
 *    Shape/Gather/Concat/Unsqueeze chains, anything constant), an `If` whose condition is known
 *    inlines the chosen branch; everything else becomes a step. Cheap followers (activations, a
 *    constant bias Add, BatchNormalization) are offered to the producing step (fusion).
 * 3. Liveness over the step list; every intermediate gets an arena offset (greedy by size, reusing
 *    ranges whose lifetimes do not overlap); inputs, the constants the steps read and one shared
 *    scratch region complete the one arena (eml_secmem_map). Peak bytes are known here.
 * 4. Run = call each step's run in order; nothing is allocated. Free = wipe + unmap.
 */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/guard.h"
#include "common/mem.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

typedef struct eml_step {
	const eml_op_def *def;
	eml_op_ctx c;
} eml_step;

struct eml_plan {
	eml_rt **all; /* records: [0, n_values) are the model's values, then extras */
	uint32_t n_all, cap_all;
	eml_rt *block; /* storage of the first n_block (= n_values) records */
	uint32_t n_block;
	eml_step *steps;
	uint32_t n_steps, cap_steps;
	eml_rt **outs;
	char **out_names;
	uint32_t n_outs;
	void *arena;
	size_t arena_len;
	uint64_t arena_bytes;
	void *scratch;
	size_t scratch_bytes;
	eml_threadpool *pool;
	int threads;
	const atomic_int *cancel; /* eml_engine_opts.cancel */
	uint64_t *prof_ns;        /* per step, when profiling (eml_plan_set_profile) */
};

struct eml_build {
	eml_plan *p;
	const eml_model *m;
	int64_t opset;
	uint32_t *uses; /* per model value: number of readers (nodes, graph outputs) */
	uint64_t *dep;  /* per record: bitmask of graph inputs it depends on */
	uint32_t cap_dep;
	int bad_input;
	uint64_t input_mask; /* union of the inputs' masks of the failing node */
};

/* ---------------------------------------------------------------------------------------- */
/* Helpers for operators                                                                     */

int eml_rt_set(eml_rt *t, int32_t dtype, uint32_t rank, const int64_t *dims)
{
	if (rank > EML_MAX_RANK || eml_dtype_size(dtype) == 0)
		return EML_E_ENGINE_SHAPE;
	uint64_t n = 1;
	for (uint32_t i = 0; i < rank; i++) {
		if (dims[i] < 0 || dims[i] > EML_ENGINE_MAX_DIM)
			return EML_E_ENGINE_SHAPE;
		if (dims[i] != 0 && n > EML_MAX_TENSOR_ELEMS / (uint64_t)dims[i])
			return EML_E_ENGINE_SHAPE;
		n *= (uint64_t)dims[i];
	}
	if (n > EML_MAX_TENSOR_ELEMS)
		return EML_E_ENGINE_SHAPE;
	t->dtype = dtype;
	t->rank = rank;
	memset(t->dims, 0, sizeof(t->dims));
	for (uint32_t i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	t->elems = n;
	t->bytes = n * eml_dtype_size(dtype);
	return EML_OK;
}

int eml_rt_known(const eml_rt *t)
{
	return t != NULL && (t->kind == EML_RT_CONST || t->kind == EML_RT_INPUT) && t->data != NULL;
}

int64_t eml_rt_get_i(const eml_rt *t, uint64_t i)
{
	switch (t->dtype) {
	case EML_DT_INT64:
		return ((const int64_t *)t->data)[i];
	case EML_DT_INT32:
		return ((const int32_t *)t->data)[i];
	case EML_DT_UINT8:
	case EML_DT_BOOL:
		return ((const uint8_t *)t->data)[i];
	case EML_DT_INT8:
		return ((const int8_t *)t->data)[i];
	case EML_DT_INT16:
		return ((const int16_t *)t->data)[i];
	case EML_DT_UINT16:
		return ((const uint16_t *)t->data)[i];
	case EML_DT_UINT32:
		return ((const uint32_t *)t->data)[i];
	case EML_DT_UINT64:
		return (int64_t)((const uint64_t *)t->data)[i];
	case EML_DT_FLOAT:
		return (int64_t)((const float *)t->data)[i];
	case EML_DT_DOUBLE:
		return (int64_t)((const double *)t->data)[i];
	default:
		return 0;
	}
}

double eml_rt_get_f(const eml_rt *t, uint64_t i)
{
	switch (t->dtype) {
	case EML_DT_FLOAT:
		return ((const float *)t->data)[i];
	case EML_DT_DOUBLE:
		return ((const double *)t->data)[i];
	default:
		return (double)eml_rt_get_i(t, i);
	}
}

int eml_rt_ints(const eml_rt *t, int64_t *out, size_t max, size_t *n)
{
	if (!eml_rt_known(t) || t->rank > 1 || t->elems > max)
		return EML_E_ENGINE_SHAPE;
	if (t->dtype != EML_DT_INT64 && t->dtype != EML_DT_INT32)
		return EML_E_ENGINE_SHAPE;
	for (uint64_t i = 0; i < t->elems; i++)
		out[i] = eml_rt_get_i(t, i);
	*n = (size_t)t->elems;
	return EML_OK;
}

int64_t eml_attr_i(const eml_node *n, const char *name, int64_t def)
{
	const eml_attr *a = eml_node_attr(n, name);
	return (a != NULL && a->type == EML_ATTR_INT) ? a->i : def;
}

float eml_attr_f(const eml_node *n, const char *name, float def)
{
	const eml_attr *a = eml_node_attr(n, name);
	if (a == NULL)
		return def;
	if (a->type == EML_ATTR_FLOAT)
		return a->f;
	if (a->type == EML_ATTR_INT)
		return (float)a->i;
	return def;
}

const int64_t *eml_attr_ints(const eml_node *n, const char *name, uint32_t *cnt)
{
	const eml_attr *a = eml_node_attr(n, name);
	*cnt = 0;
	if (a == NULL || a->type != EML_ATTR_INTS)
		return NULL;
	*cnt = a->n;
	return a->ints;
}

const float *eml_attr_floats(const eml_node *n, const char *name, uint32_t *cnt)
{
	const eml_attr *a = eml_node_attr(n, name);
	*cnt = 0;
	if (a == NULL || a->type != EML_ATTR_FLOATS)
		return NULL;
	*cnt = a->n;
	return a->floats;
}

int eml_attr_s_eq(const eml_node *n, const char *name, const char *s, int def_match)
{
	const eml_attr *a = eml_node_attr(n, name);
	if (a == NULL || a->type != EML_ATTR_STRING)
		return def_match;
	size_t l = strlen(s);
	return a->s_len == l && memcmp(a->s, s, l) == 0;
}

int eml_attr_s_copy(const eml_node *n, const char *name, char *buf, size_t cap)
{
	const eml_attr *a = eml_node_attr(n, name);
	buf[0] = 0;
	if (a == NULL || a->type != EML_ATTR_STRING)
		return 0;
	if (a->s_len + 1 > cap)
		return -1;
	memcpy(buf, a->s, a->s_len);
	buf[a->s_len] = 0;
	return 1;
}

int eml_op_state(eml_op_ctx *c, size_t size, void **out)
{
	void *s = eml_calloc(1, size);
	if (s == NULL)
		return EML_E_NOMEM;
	eml_free(c->state);
	c->state = s;
	*out = s;
	return EML_OK;
}

int eml_op_add_input(eml_op_ctx *c, eml_rt *t)
{
	if (c->n_in >= c->cap_in)
		return EML_E_ENGINE_OP;
	c->in[c->n_in++] = t;
	return EML_OK;
}

int eml_axis(int64_t a, uint32_t r, uint32_t *out)
{
	if (a < -(int64_t)r || a >= (int64_t)r)
		return EML_E_ENGINE_SHAPE;
	*out = (uint32_t)(a < 0 ? a + r : a);
	return EML_OK;
}

int eml_bcast_shape(uint32_t ra, const int64_t *da, uint32_t rb, const int64_t *db, uint32_t *rr,
                    int64_t *dr)
{
	uint32_t r = ra > rb ? ra : rb;
	int64_t t[EML_MAX_RANK];
	if (r > EML_MAX_RANK)
		return EML_E_ENGINE_SHAPE;
	/* into a temporary: dr may be da or db */
	for (uint32_t i = 0; i < r; i++) {
		int64_t x = i < r - ra ? 1 : da[i - (r - ra)];
		int64_t y = i < r - rb ? 1 : db[i - (r - rb)];
		if (x == y || y == 1)
			t[i] = x;
		else if (x == 1)
			t[i] = y;
		else
			return EML_E_ENGINE_SHAPE;
	}
	for (uint32_t i = 0; i < r; i++)
		dr[i] = t[i];
	*rr = r;
	return EML_OK;
}

typedef struct pfor_ctx {
	eml_range_fn fn;
	void *ctx;
	size_t n, chunk;
} pfor_ctx;

static void pfor_task(void *ctx, size_t task, int thread)
{
	(void)thread;
	pfor_ctx *p = ctx;
	size_t b = task * p->chunk;
	size_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
	if (b < e)
		p->fn(p->ctx, b, e);
}

void eml_parallel_for(eml_threadpool *pool, int threads, size_t n, size_t grain, eml_range_fn fn,
                      void *ctx)
{
	if (n == 0)
		return;
	if (pool == NULL || threads <= 1 || n <= grain) {
		fn(ctx, 0, n);
		return;
	}
	size_t tasks = (size_t)threads * 4;
	size_t chunk = (n + tasks - 1) / tasks;
	if (chunk < grain)
		chunk = grain;
	tasks = (n + chunk - 1) / chunk;
	pfor_ctx p = {fn, ctx, n, chunk};
	eml_threadpool_run(pool, tasks, pfor_task, &p);
}

/* ---------------------------------------------------------------------------------------- */
/* Records                                                                                   */

/* ---------------------------------------------------------------------------------------- */
/* Records                                                                                   */

static int new_record(struct eml_build *b, eml_rt **out, int32_t *idx)
{
	eml_plan *p = b->p;
	if (p->n_all == p->cap_all) {
		uint32_t cap = p->cap_all * 2 + 16;
		eml_rt **a = eml_realloc(p->all, (size_t)cap * sizeof(*a));
		if (a == NULL)
			return EML_E_NOMEM;
		p->all = a;
		p->cap_all = cap;
		uint64_t *d = eml_realloc(b->dep, (size_t)cap * sizeof(*d));
		if (d == NULL)
			return EML_E_NOMEM;
		b->dep = d;
		b->cap_dep = cap;
	}
	eml_rt *t = eml_calloc(1, sizeof(*t));
	if (t == NULL)
		return EML_E_NOMEM;
	t->alias = -1;
	t->first = -1;
	t->id = (int32_t)p->n_all;
	b->dep[p->n_all] = 0;
	if (idx != NULL)
		*idx = (int32_t)p->n_all;
	p->all[p->n_all++] = t;
	*out = t;
	return EML_OK;
}

/* Below this, temporaries come from the heap: a page-rounded locked region would waste more. */
#define EML_RT_HEAP_SECMEM_MIN ((size_t)64 << 10)

int eml_rt_heap_alloc(eml_rt *t, size_t bytes)
{
	eml_rt_heap_free(t);
	if (bytes < EML_RT_HEAP_SECMEM_MIN) {
		t->heap = eml_calloc(1, bytes ? bytes : 1);
		return t->heap != NULL ? EML_OK : EML_E_NOMEM;
	}
	/* eml_secmem_map memory is zero: fresh pages or a pooled region wiped at release. */
	return eml_secmem_map(bytes, &t->heap, &t->heap_map);
}

void eml_rt_heap_free(eml_rt *t)
{
	if (t->heap == NULL)
		return;
	if (t->heap_map != 0)
		eml_secmem_unmap(t->heap, t->heap_map);
	else
		eml_free(t->heap);
	t->heap = NULL;
	t->heap_map = 0;
}

int eml_build_new_const_deferred(struct eml_build *b, int32_t dtype, uint32_t rank,
                                 const int64_t *dims, eml_rt **out)
{
	int rc = EML_OK;
	eml_rt *t = NULL;
	EML_GUARD(new_record(b, &t, NULL));
	EML_GUARD(eml_rt_set(t, dtype, rank, dims));
	t->data = NULL;
	t->deferred = 1;
	t->kind = EML_RT_CONST;
	*out = t;
out:
	return rc;
}

int eml_build_new_const(struct eml_build *b, int32_t dtype, uint32_t rank, const int64_t *dims,
                        eml_rt **out)
{
	int rc = EML_OK;
	eml_rt *t = NULL;
	EML_GUARD(new_record(b, &t, NULL));
	EML_GUARD(eml_rt_set(t, dtype, rank, dims));
	EML_GUARD(eml_rt_heap_alloc(t, (size_t)t->bytes));
	t->data = t->heap;
	t->kind = EML_RT_CONST;
	*out = t;
out:
	return rc;
}

static int32_t rec_index(const eml_plan *p, const eml_rt *t)
{
	if (t->id >= 0 && (uint32_t)t->id < p->n_all && p->all[t->id] == t)
		return t->id;
	return -1;
}

static int32_t rec_root(const eml_plan *p, int32_t i)
{
	while (i >= 0 && p->all[i]->alias >= 0)
		i = p->all[i]->alias;
	return i;
}

float eml_f16_to_f32(uint16_t h)
{
	uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
	if (e == 0) {
		if (m == 0) {
			u = s;
		} else {
			e = 127 - 15 + 1;
			while (!(m & 0x400)) {
				m <<= 1;
				e--;
			}
			m &= 0x3ff;
			u = s | (e << 23) | (m << 13);
		}
	} else if (e == 31) {
		u = s | 0x7f800000u | (m << 13);
	} else {
		u = s | ((e + 127 - 15) << 23) | (m << 13);
	}
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* An initializer / constant tensor of the model as a CONST record (widening float16/double). */
static int init_const(struct eml_build *b, eml_rt *t, const eml_tensor *mt)
{
	int rc = EML_OK;
	const eml_model *m = b->m;
	EML_ENSURE(mt->offset <= m->data_len && mt->length <= m->data_len - mt->offset,
	           EML_E_ENGINE_SHAPE);
	int32_t dt = mt->dtype;
	int widen = dt == EML_DT_FLOAT16 || dt == EML_DT_DOUBLE;
	EML_GUARD(eml_rt_set(t, widen ? EML_DT_FLOAT : dt, mt->rank, mt->dims));
	EML_ENSURE(t->elems * eml_dtype_size(dt) == mt->length, EML_E_ENGINE_SHAPE);
	const uint8_t *src = m->data + mt->offset;
	if (widen) {
		EML_GUARD(eml_rt_heap_alloc(t, (size_t)t->bytes));
		float *f = t->heap;
		for (uint64_t i = 0; i < t->elems; i++) {
			if (dt == EML_DT_DOUBLE) {
				double d;
				memcpy(&d, src + i * 8, 8);
				f[i] = (float)d;
			} else {
				uint16_t h;
				memcpy(&h, src + i * 2, 2);
				f[i] = eml_f16_to_f32(h);
			}
		}
		t->data = f;
	} else {
		/* Borrowed from the model during assembly; copied into the arena if kept. */
		t->data = (void *)(uintptr_t)src;
	}
	t->kind = EML_RT_CONST;
out:
	return rc;
}

/* Public wrapper used by the Constant operator (value attribute -> tensor table). */
int eml_build_model_tensor(struct eml_build *b, int32_t tensor, eml_rt *out);
int eml_build_model_tensor(struct eml_build *b, int32_t tensor, eml_rt *out)
{
	if (tensor < 0 || (uint32_t)tensor >= b->m->n_tensors)
		return EML_E_ENGINE_SHAPE;
	return init_const(b, out, &b->m->tensors[tensor]);
}

static int is_op(const eml_node *n, const char *op);

/* The model's declared element type of a value (EML_DT_UNDEFINED when unknown): what a widened
 * float16 constant was (DequantizeLinear-19's output takes its scale's type). */
int32_t eml_build_value_dtype(const struct eml_build *b, int32_t value)
{
	if (b == NULL || value < 0 || (uint32_t)value >= b->m->n_values)
		return EML_DT_UNDEFINED;
	if (b->m->values[value].dtype != EML_DT_UNDEFINED)
		return b->m->values[value].dtype;
	/* undeclared: a Constant node's output has its tensor's (unwidened) type */
	for (uint32_t g = 0; g < b->m->n_graphs; g++)
		for (uint32_t i = 0; i < b->m->graphs[g].n_nodes; i++) {
			const eml_node *n = &b->m->graphs[g].nodes[i];
			if (n->n_outputs == 1 && n->outputs[0] == value && is_op(n, "Constant") &&
			    n->n_attrs == 1 && n->attrs[0].type == EML_ATTR_TENSOR &&
			    n->attrs[0].tensor >= 0 &&
			    (uint32_t)n->attrs[0].tensor < b->m->n_tensors)
				return b->m->tensors[n->attrs[0].tensor].dtype;
		}
	return EML_DT_UNDEFINED;
}

static void count_uses(struct eml_build *b)
{
	const eml_model *m = b->m;
	for (uint32_t g = 0; g < m->n_graphs; g++) {
		const eml_graph *gr = &m->graphs[g];
		for (uint32_t i = 0; i < gr->n_nodes; i++)
			for (uint32_t k = 0; k < gr->nodes[i].n_inputs; k++) {
				int32_t v = gr->nodes[i].inputs[k];
				if (v >= 0 && (uint32_t)v < m->n_values)
					b->uses[v]++;
			}
		for (uint32_t i = 0; i < gr->n_outputs; i++) {
			int32_t v = gr->outputs[i];
			if (v >= 0 && (uint32_t)v < m->n_values)
				b->uses[v] += 2; /* a graph output is never fused away */
		}
	}
	/* Subgraphs may read outer values implicitly only through node inputs (shared ids), which
	 * were counted above. */
}

/* A named input that matches no graph input. */
static int any_named_unknown(const eml_io_tensor *inputs, size_t n_inputs, const eml_model *m)
{
	const eml_graph *g = &m->graphs[0];
	for (size_t k = 0; k < n_inputs; k++) {
		if (inputs[k].name == NULL)
			continue;
		int found = 0;
		for (uint32_t gi = 0; gi < g->n_inputs && !found; gi++) {
			const char *nm = m->values[g->inputs[gi]].name;
			found = nm != NULL && strcmp(nm, inputs[k].name) == 0;
		}
		if (!found)
			return 1;
	}
	return 0;
}

static int bind_inputs(struct eml_build *b, const eml_io_tensor *inputs, size_t n_inputs)
{
	int rc = EML_OK;
	const eml_model *m = b->m;
	const eml_graph *g = &m->graphs[0];
	uint32_t sym_id[EML_MAX_RANK * 64];
	int64_t sym_val[EML_MAX_RANK * 64];
	size_t n_sym = 0;
	b->bad_input = -1;
	if (n_inputs > g->n_inputs) {
		b->bad_input = (int)g->n_inputs;
		EML_FAIL(EML_E_ENGINE_INPUT_UNKNOWN);
	}
	EML_ENSURE(!any_named_unknown(inputs, n_inputs, m), EML_E_ENGINE_INPUT_UNKNOWN);
	for (uint32_t gi = 0; gi < g->n_inputs; gi++) {
		int32_t vid = g->inputs[gi];
		EML_ENSURE(vid >= 0 && (uint32_t)vid < m->n_values, EML_E_ENGINE_SHAPE);
		const eml_value *v = &m->values[vid];
		const eml_io_tensor *in = NULL;
		b->bad_input = (int)gi;
		/* by name when names are given, else by position */
		int any_named = 0;
		for (size_t k = 0; k < n_inputs; k++)
			if (inputs[k].name != NULL)
				any_named = 1;
		if (any_named) {
			for (size_t k = 0; k < n_inputs; k++)
				if (inputs[k].name != NULL && v->name != NULL &&
				    strcmp(inputs[k].name, v->name) == 0)
					in = &inputs[k];
		} else if (gi < n_inputs) {
			in = &inputs[gi];
		}
		EML_ENSURE(in != NULL, EML_E_ENGINE_INPUT_MISSING);
		EML_ENSURE(v->dtype == EML_DT_UNDEFINED || in->dtype == v->dtype,
		           EML_E_ENGINE_INPUT_DTYPE);
		EML_ENSURE(eml_dtype_size(in->dtype) != 0, EML_E_ENGINE_INPUT_DTYPE);
		EML_ENSURE(in->rank <= EML_MAX_RANK, EML_E_ENGINE_INPUT_RANK);
		EML_ENSURE(v->rank < 0 || (uint32_t)v->rank == in->rank, EML_E_ENGINE_INPUT_RANK);
		for (uint32_t d = 0; v->rank > 0 && d < in->rank; d++) {
			const eml_dim *dd = &v->dims[d];
			if (dd->value >= 0) {
				EML_ENSURE(dd->value == in->dims[d], EML_E_ENGINE_INPUT_SHAPE);
			} else if (dd->sym > 0) {
				size_t s = 0;
				while (s < n_sym && sym_id[s] != dd->sym)
					s++;
				if (s == n_sym) {
					EML_ENSURE(n_sym < EML_ARRAY_LEN(sym_id),
					           EML_E_ENGINE_INPUT_SHAPE);
					sym_id[n_sym] = dd->sym;
					sym_val[n_sym++] = in->dims[d];
				}
				EML_ENSURE(sym_val[s] == in->dims[d], EML_E_ENGINE_INPUT_SHAPE);
			}
		}
		eml_rt *t = b->p->all[vid];
		rc = eml_rt_set(t, in->dtype, in->rank, in->dims);
		EML_ENSURE(rc == EML_OK, EML_E_ENGINE_INPUT_SHAPE);
		EML_ENSURE(in->bytes == t->bytes, EML_E_ENGINE_INPUT_SHAPE);
		EML_ENSURE(in->data != NULL || t->bytes == 0, EML_E_ENGINE_INPUT_MISSING);
		t->data = (void *)(uintptr_t)in->data;
		/* A plan is built for this request's inputs, so their values are known here. Scalar
		 * inputs (sizes, bounds, rates, flags) are taken as constants: what is computed from
		 * them folds, and shapes that depend on them (Range, a Loop's trip count, window
		 * lengths, an If on a sample rate) are planned. docs/ONNX.md, "Data-dependent shapes". */
		t->kind = in->rank == 0 ? EML_RT_CONST : EML_RT_INPUT;
		b->dep[vid] = gi < 64 ? (uint64_t)1 << gi : 0;
	}
	b->bad_input = -1;
out:
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Graph walk                                                                                */

static int build_graph(struct eml_build *b, uint32_t gidx, int depth);

static void ctx_cleanup(eml_op_ctx *c)
{
	eml_free(c->in);
	eml_free(c->out);
	eml_free(c->state);
	memset(c, 0, sizeof(*c));
}

static int push_step(struct eml_build *b, const eml_op_def *def, eml_op_ctx *c)
{
	eml_plan *p = b->p;
	if (p->n_steps == p->cap_steps) {
		uint32_t cap = p->cap_steps * 2 + 16;
		if (cap > EML_ENGINE_MAX_STEPS)
			return EML_E_ENGINE_SHAPE;
		eml_step *s = eml_realloc(p->steps, (size_t)cap * sizeof(*s));
		if (s == NULL)
			return EML_E_NOMEM;
		p->steps = s;
		p->cap_steps = cap;
	}
	eml_step *s = &p->steps[p->n_steps++];
	s->def = def;
	s->c = *c;
	s->c.node = NULL; /* the plan never points into the model */
	memset(c, 0, sizeof(*c));
	return EML_OK;
}

/* Run a node whose inputs are all CONST now, into heap outputs (constant folding). */
static int fold_node(struct eml_build *b, const eml_op_def *def, eml_op_ctx *c)
{
	int rc = EML_OK;
	void *scratch = NULL;
	for (uint32_t k = 0; k < c->n_out; k++) {
		eml_rt *t = c->out[k];
		if (t == NULL)
			continue;
		EML_GUARD(eml_rt_heap_alloc(t, (size_t)t->bytes));
		t->data = t->heap;
	}
	if (c->scratch_bytes) {
		scratch = eml_calloc(1, c->scratch_bytes);
		EML_ENSURE(scratch != NULL, EML_E_NOMEM);
	}
	c->scratch = scratch;
	c->b = NULL;
	rc = def->run(c);
	c->scratch = NULL;
	EML_GUARD(rc);
	for (uint32_t k = 0; k < c->n_out; k++)
		if (c->out[k] != NULL)
			c->out[k]->kind = EML_RT_CONST;
out:
	if (scratch != NULL)
		eml_free(scratch);
	(void)b;
	return rc;
}

/* Try to hand node (described by def/c) to the step that produced its main input. */
static int try_fuse(struct eml_build *b, const eml_op_def *def, eml_op_ctx *c)
{
	eml_plan *p = b->p;
	eml_fuse_req r;
	memset(&r, 0, sizeof(r));
	if (def->as_fuse == NULL || p->n_steps == 0 || c->n_out < 1 || c->out[0] == NULL)
		return 0;
	int xi = def->as_fuse(c, &r);
	if (xi < 0 || (uint32_t)xi >= c->n_in || c->in[xi] == NULL)
		return 0;
	eml_rt *x = c->in[xi];
	eml_step *prev = &p->steps[p->n_steps - 1];
	if (prev->def->fuse == NULL || prev->c.n_out < 1 || prev->c.out[0] != x)
		return 0;
	int32_t xid = rec_index(p, x);
	if (xid < 0 || (uint32_t)xid >= b->m->n_values || b->uses[xid] != 1)
		return 0;
	if (x->dtype != EML_DT_FLOAT || c->out[0]->dtype != EML_DT_FLOAT ||
	    c->out[0]->rank != x->rank || memcmp(c->out[0]->dims, x->dims, sizeof(x->dims)) != 0)
		return 0;
	if (!prev->def->fuse(&prev->c, &r))
		return 0;
	prev->c.out[0] = c->out[0];
	c->out[0]->kind = EML_RT_INTER;
	return 1;
}

static uint64_t dep_of(struct eml_build *b, const eml_op_ctx *c)
{
	uint64_t m = 0;
	for (uint32_t k = 0; k < c->n_in; k++)
		if (c->in[k] != NULL) {
			int32_t i = rec_index(b->p, c->in[k]);
			if (i >= 0)
				m |= b->dep[i];
		}
	return m;
}

static int alias_record(struct eml_build *b, eml_rt *dst, int32_t src_id)
{
	eml_rt *src = b->p->all[src_id];
	int rc = eml_rt_set(dst, src->dtype, src->rank, src->dims);
	if (rc != EML_OK)
		return rc;
	dst->kind = src->kind;
	dst->data = src->data;
	dst->alias = src_id;
	return EML_OK;
}

/*
 * If whose condition is only known when the plan runs: both branches are planned, bracketed by
 * an IfBegin step (reads the condition, the run loop executes one branch's steps) and an IfEnd
 * step (copies the taken branch's outputs into the If outputs). Liveness over this linear order
 * is conservative for either branch. Both branches must give the same output dtypes and shapes
 * (a per-request plan has one shape per value).
 */
typedef struct if_end_state {
	int taken; /* 1 then, 0 else: written by IfBegin on each run */
	uint32_t n;
} if_end_state;

typedef struct if_begin_state {
	uint32_t n_then, n_else;
	if_end_state *end;
} if_begin_state;

static int if_begin_run(eml_op_ctx *c)
{
	(void)c;
	return EML_OK; /* control flow is in run_range */
}

static int if_end_run(eml_op_ctx *c)
{
	const if_end_state *s = c->state;
	for (uint32_t k = 0; k < s->n; k++) {
		const eml_rt *src = c->in[s->taken ? k : s->n + k];
		eml_rt *dst = c->out[k];
		if (dst != NULL && src->bytes && dst->data != src->data)
			memcpy(dst->data, src->data, src->bytes);
	}
	return EML_OK;
}

static int no_prep(eml_op_ctx *c)
{
	(void)c;
	return EML_E_INTERNAL;
}

static const eml_op_def k_if_begin = {"If", 1, 99, no_prep, if_begin_run, NULL, NULL};
static const eml_op_def k_if_end = {"If", 1, 99, no_prep, if_end_run, NULL, NULL};

static int new_ctx(eml_op_ctx *c, eml_plan *p, uint32_t n_in, uint32_t n_out)
{
	memset(c, 0, sizeof(*c));
	c->n_in = n_in;
	c->cap_in = n_in + 1;
	c->n_out = n_out;
	c->in = eml_calloc(c->cap_in, sizeof(*c->in));
	c->out = eml_calloc(n_out + 1, sizeof(*c->out));
	c->pool = p->pool;
	c->threads = p->threads;
	return c->in != NULL && c->out != NULL ? EML_OK : EML_E_NOMEM;
}

static int build_if_runtime(struct eml_build *b, const eml_node *n, int depth, eml_rt *cond,
                            const eml_attr *ta, const eml_attr *ea)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	const eml_model *m = b->m;
	eml_op_ctx c;
	memset(&c, 0, sizeof(c));
	if_begin_state *bs = NULL;
	if_end_state *es = NULL;
	EML_ENSURE(cond->dtype == EML_DT_BOOL && cond->elems == 1, EML_E_ENGINE_SHAPE);
	const eml_graph *tg = &m->graphs[ta->graph], *eg = &m->graphs[ea->graph];
	EML_ENSURE(tg->n_outputs == n->n_outputs && eg->n_outputs == n->n_outputs,
	           EML_E_ENGINE_SHAPE);
	/* IfBegin */
	EML_GUARD(new_ctx(&c, p, 1, 0));
	c.in[0] = cond;
	bs = eml_calloc(1, sizeof(*bs));
	EML_ENSURE(bs != NULL, EML_E_NOMEM);
	c.state = bs;
	uint32_t ib = p->n_steps;
	EML_GUARD(push_step(b, &k_if_begin, &c));
	bs = p->steps[ib].c.state;
	EML_GUARD(build_graph(b, (uint32_t)ta->graph, depth + 1));
	uint32_t it = p->n_steps;
	EML_GUARD(build_graph(b, (uint32_t)ea->graph, depth + 1));
	uint32_t ie = p->n_steps;
	/* IfEnd */
	uint32_t no = n->n_outputs;
	EML_GUARD(new_ctx(&c, p, 2 * no, no));
	es = eml_calloc(1, sizeof(*es));
	EML_ENSURE(es != NULL, EML_E_NOMEM);
	es->n = no;
	c.state = es;
	es = NULL;
	for (uint32_t k = 0; k < no; k++) {
		int32_t tv = tg->outputs[k], ev = eg->outputs[k], o = n->outputs[k];
		EML_ENSURE(tv >= 0 && ev >= 0 && (uint32_t)tv < m->n_values &&
		               (uint32_t)ev < m->n_values,
		           EML_E_ENGINE_SHAPE);
		eml_rt *t = p->all[tv], *e = p->all[ev];
		EML_ENSURE(t->kind != EML_RT_NONE && e->kind != EML_RT_NONE, EML_E_ENGINE_SHAPE);
		EML_ENSURE(t->dtype == e->dtype && t->rank == e->rank &&
		               memcmp(t->dims, e->dims, sizeof(t->dims)) == 0,
		           EML_E_UNSUPPORTED);
		c.in[k] = t;
		c.in[no + k] = e;
		if (o >= 0) {
			EML_ENSURE((uint32_t)o < m->n_values && p->all[o]->kind == EML_RT_NONE,
			           EML_E_ENGINE_SHAPE);
			EML_GUARD(eml_rt_set(p->all[o], t->dtype, t->rank, t->dims));
			p->all[o]->kind = EML_RT_INTER;
			p->all[o]->data = NULL;
			c.out[k] = p->all[o];
			b->dep[o] = b->dep[tv] | b->dep[ev] | b->dep[n->inputs[0]];
		}
	}
	bs->n_then = it - ib - 1;
	bs->n_else = ie - it;
	bs->end = c.state;
	EML_GUARD(push_step(b, &k_if_end, &c));
out:
	ctx_cleanup(&c);
	return rc;
}

static int build_if(struct eml_build *b, const eml_node *n, int depth)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	const eml_model *m = b->m;
	EML_ENSURE(n->n_inputs >= 1 && n->inputs[0] >= 0 && (uint32_t)n->inputs[0] < m->n_values,
	           EML_E_ENGINE_SHAPE);
	eml_rt *cond = p->all[n->inputs[0]];
	EML_ENSURE(cond->kind != EML_RT_NONE, EML_E_ENGINE_SHAPE);
	const eml_attr *ta = eml_node_attr(n, "then_branch"), *ea = eml_node_attr(n, "else_branch");
	EML_ENSURE(ta != NULL && ea != NULL && ta->type == EML_ATTR_GRAPH &&
	               ea->type == EML_ATTR_GRAPH && ta->graph > 0 && ea->graph > 0 &&
	               (uint32_t)ta->graph < m->n_graphs && (uint32_t)ea->graph < m->n_graphs,
	           EML_E_ENGINE_SHAPE);
	/* The plan is per request: a condition computed from constants or from the request's own
	 * input bytes is known now, and the chosen branch is inlined. */
	if (!eml_rt_known(cond))
		return build_if_runtime(b, n, depth, cond, ta, ea);
	EML_ENSURE(cond->elems == 1, EML_E_ENGINE_SHAPE);
	int take = eml_rt_get_i(cond, 0) != 0;
	const eml_attr *a = take ? ta : ea;
	const eml_graph *g = &m->graphs[a->graph];
	EML_GUARD(build_graph(b, (uint32_t)a->graph, depth + 1));
	EML_ENSURE(g->n_outputs == n->n_outputs, EML_E_ENGINE_SHAPE);
	for (uint32_t k = 0; k < n->n_outputs; k++) {
		int32_t o = n->outputs[k], sv = g->outputs[k];
		if (o < 0)
			continue;
		EML_ENSURE(sv >= 0 && (uint32_t)sv < m->n_values && (uint32_t)o < m->n_values,
		           EML_E_ENGINE_SHAPE);
		EML_ENSURE(p->all[sv]->kind != EML_RT_NONE, EML_E_ENGINE_SHAPE);
		EML_GUARD(alias_record(b, p->all[o], sv));
		b->dep[o] = b->dep[sv] | b->dep[n->inputs[0]];
	}
out:
	return rc;
}

/* Loop and Scan: the node's first N outputs are the loop-carried values' final records. */
static int bind_carried(struct eml_build *b, const eml_node *n, const int32_t *cur, uint32_t N)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	for (uint32_t j = 0; j < N; j++) {
		int32_t o = n->outputs[j];
		if (o < 0)
			continue;
		EML_ENSURE((uint32_t)o < b->m->n_values && p->all[o]->kind == EML_RT_NONE,
		           EML_E_ENGINE_SHAPE);
		EML_GUARD(alias_record(b, p->all[o], cur[j]));
		b->dep[o] = b->dep[cur[j]];
	}
out:
	return rc;
}

/*
 * Loop (opsets 11-20) is unrolled at assembly: the plan is per request, so the trip count M and
 * the condition are usually known here (constants, the request's inputs, or values folded from
 * them: a body that passes its condition through, or computes it from the iteration number or
 * from known values). Each iteration builds the body graph again: before iteration i+1 every
 * value the body defines (its inputs, its nodes' outputs, those of graphs nested in it) gets a
 * fresh record, and the records of iteration i move to new indices (their objects stay where
 * they are, so the steps already planned keep pointing at them). The body's inputs are bound to
 * the iteration number (a constant), the current condition and the loop-carried values
 * (aliases); after the last iteration the Loop's outputs alias the final carried values, and
 * each scan output is stacked from the iterations' values by a LoopStack step (or folded). A
 * condition that is only known when the plan runs (the body computes it from intermediate
 * results) cannot be unrolled and is refused with UNSUPPORTED, except after the last iteration M
 * allows. At most EML_ENGINE_MAX_LOOP_ITERS iterations (ENGINE_SHAPE beyond).
 */
#define EML_ENGINE_MAX_LOOP_ITERS 65536u

static int loop_stack_run(eml_op_ctx *c)
{
	uint8_t *d = c->out[0]->data;
	for (uint32_t k = 0; k < c->n_in; k++) {
		if (c->in[k]->bytes)
			memcpy(d, c->in[k]->data, c->in[k]->bytes);
		d += c->in[k]->bytes;
	}
	return EML_OK;
}

static const eml_op_def k_loop_stack = {"Loop", 1, 99, no_prep, loop_stack_run, NULL, NULL};

/* 1 when graph g is `body` or nested in it. */
static int in_body(const eml_model *m, int32_t g, int32_t body)
{
	for (int d = 0; g >= 0 && d <= EML_MAX_SUBGRAPH_DEPTH + 1; d++) {
		if (g == body)
			return 1;
		g = m->graphs[g].parent;
	}
	return 0;
}

/*
 * The values a Loop/Scan body defines (its graphs' inputs and node outputs, nested graphs
 * included) into vals[*nv], each once; map[] is left all -1. They must not be built yet: a body
 * is built by its Loop or Scan only.
 */
static int body_values(struct eml_build *b, int32_t body, int32_t *vals, int32_t *map,
                       uint32_t *nv_out)
{
	int rc = EML_OK;
	const eml_model *m = b->m;
	uint32_t nv = 0;
	for (uint32_t v = 0; v < m->n_values; v++)
		map[v] = -1;
	for (uint32_t gi = 0; gi < m->n_graphs; gi++) {
		if (!in_body(m, (int32_t)gi, body))
			continue;
		const eml_graph *sg = &m->graphs[gi];
		for (uint32_t i = 0; i < sg->n_inputs; i++)
			if (sg->inputs[i] >= 0 && (uint32_t)sg->inputs[i] < m->n_values &&
			    map[sg->inputs[i]] != -2) {
				map[sg->inputs[i]] = -2;
				vals[nv++] = sg->inputs[i];
			}
		for (uint32_t i = 0; i < sg->n_nodes; i++)
			for (uint32_t k = 0; k < sg->nodes[i].n_outputs; k++) {
				int32_t v = sg->nodes[i].outputs[k];
				if (v >= 0 && (uint32_t)v < m->n_values && map[v] != -2) {
					map[v] = -2;
					vals[nv++] = v;
				}
			}
	}
	for (uint32_t i = 0; i < nv; i++) {
		map[vals[i]] = -1;
		EML_ENSURE(b->p->all[vals[i]]->kind == EML_RT_NONE, EML_E_ENGINE_SHAPE);
	}
out:
	*nv_out = nv;
	return rc;
}

/* Give every value in vals a fresh record; the old record moves to a new index, map[v] (the
 * caller resets map to -1 after reading it). */
static int loop_refresh(struct eml_build *b, const int32_t *vals, uint32_t n, int32_t *map)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	for (uint32_t i = 0; i < n; i++) {
		int32_t v = vals[i], idx;
		eml_rt *fresh;
		EML_GUARD(new_record(b, &fresh, &idx));
		eml_rt *old = p->all[v];
		p->all[v] = fresh;
		fresh->id = v;
		p->all[idx] = old;
		old->id = idx;
		uint64_t d = b->dep[v];
		b->dep[v] = 0;
		b->dep[idx] = d;
		map[v] = idx;
	}
	/* records that alias a moved value follow it */
	for (uint32_t r = 0; r < p->n_all; r++) {
		eml_rt *t = p->all[r];
		if (t->alias >= 0 && (uint32_t)t->alias < b->m->n_values && map[t->alias] >= 0)
			t->alias = map[t->alias];
	}
out:
	return rc;
}

static int build_loop(struct eml_build *b, const eml_node *n, int depth)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	const eml_model *m = b->m;
	int32_t *vals = NULL, *map = NULL, *cur = NULL, *scan = NULL, *moved = NULL;
	eml_op_ctx c;
	memset(&c, 0, sizeof(c));
	const eml_attr *ba = eml_node_attr(n, "body");
	EML_ENSURE(ba != NULL && ba->type == EML_ATTR_GRAPH && ba->graph > 0 &&
	               (uint32_t)ba->graph < m->n_graphs && n->n_inputs >= 2,
	           EML_E_ENGINE_SHAPE);
	const eml_graph *g = &m->graphs[ba->graph];
	uint32_t N = n->n_inputs - 2; /* loop-carried */
	EML_ENSURE(g->n_inputs == N + 2 && g->n_outputs >= N + 1 &&
	               n->n_outputs == g->n_outputs - 1,
	           EML_E_ENGINE_SHAPE);
	uint32_t K = g->n_outputs - 1 - N; /* scan outputs */
	/* trip count and initial condition */
	uint64_t M = UINT64_MAX;
	if (n->inputs[0] >= 0) {
		EML_ENSURE((uint32_t)n->inputs[0] < m->n_values, EML_E_ENGINE_SHAPE);
		const eml_rt *mt = p->all[n->inputs[0]];
		EML_ENSURE(mt->kind != EML_RT_NONE && mt->elems == 1 && !eml_dt_is_real(mt->dtype),
		           EML_E_ENGINE_SHAPE);
		EML_ENSURE(eml_rt_known(mt), EML_E_UNSUPPORTED);
		int64_t mv = eml_rt_get_i(mt, 0);
		M = mv < 0 ? 0 : (uint64_t)mv;
	}
	int32_t cond_idx = -1;
	if (n->inputs[1] >= 0) {
		EML_ENSURE((uint32_t)n->inputs[1] < m->n_values, EML_E_ENGINE_SHAPE);
		cond_idx = n->inputs[1];
		const eml_rt *ct = p->all[cond_idx];
		EML_ENSURE(ct->kind != EML_RT_NONE && ct->elems == 1 && ct->dtype == EML_DT_BOOL,
		           EML_E_ENGINE_SHAPE);
		EML_ENSURE(eml_rt_known(ct), EML_E_UNSUPPORTED);
	} else {
		eml_rt *t;
		EML_GUARD(eml_build_new_const(b, EML_DT_BOOL, 0, NULL, &t));
		*(uint8_t *)t->data = 1;
		cond_idx = t->id;
	}
	/* the values the body defines */
	uint32_t nv = 0;
	vals = eml_calloc(m->n_values + 1, sizeof(int32_t));
	map = eml_calloc(m->n_values + 1, sizeof(int32_t));
	cur = eml_calloc(N + 1, sizeof(int32_t));
	EML_ENSURE(vals != NULL && map != NULL && cur != NULL, EML_E_NOMEM);
	EML_GUARD(body_values(b, ba->graph, vals, map, &nv));
	for (uint32_t j = 0; j < N; j++) {
		int32_t v = n->inputs[2 + j];
		EML_ENSURE(v >= 0 && (uint32_t)v < m->n_values && p->all[v]->kind != EML_RT_NONE,
		           EML_E_ENGINE_SHAPE);
		cur[j] = v;
	}
	uint64_t iters = 0;
	size_t scan_cap = 0;
	for (;;) {
		if (iters >= M)
			break;
		const eml_rt *ct = p->all[cond_idx];
		EML_ENSURE(ct->elems == 1, EML_E_ENGINE_SHAPE);
		/* a condition computed from intermediate results: not known until the plan runs */
		EML_ENSURE(eml_rt_known(ct), EML_E_UNSUPPORTED);
		if (eml_rt_get_i(ct, 0) == 0)
			break;
		EML_ENSURE(iters < EML_ENGINE_MAX_LOOP_ITERS, EML_E_ENGINE_SHAPE);
		/* bind the body's inputs: iteration number, condition, carried values */
		for (uint32_t k = 0; k < N + 2; k++)
			EML_ENSURE(g->inputs[k] >= 0 && (uint32_t)g->inputs[k] < m->n_values,
			           EML_E_ENGINE_SHAPE);
		eml_rt *it = p->all[g->inputs[0]];
		EML_GUARD(eml_rt_set(it, EML_DT_INT64, 0, NULL));
		EML_GUARD(eml_rt_heap_alloc(it, 8));
		it->data = it->heap;
		int64_t iv = (int64_t)iters;
		memcpy(it->data, &iv, 8);
		it->kind = EML_RT_CONST;
		/* the condition is known here (checked above): the body gets it as a constant, so
		 * that a body passing it through (Identity) or combining it with constants folds
		 * and the next iteration's condition is known too */
		eml_rt *ci = p->all[g->inputs[1]];
		EML_GUARD(eml_rt_set(ci, EML_DT_BOOL, 0, NULL));
		EML_GUARD(eml_rt_heap_alloc(ci, 1));
		ci->data = ci->heap;
		*(uint8_t *)ci->data = 1; /* the loop only goes on while it is true */
		ci->kind = EML_RT_CONST;
		for (uint32_t j = 0; j < N; j++) {
			EML_GUARD(alias_record(b, p->all[g->inputs[2 + j]], cur[j]));
			b->dep[g->inputs[2 + j]] = b->dep[cur[j]];
		}
		EML_GUARD(build_graph(b, (uint32_t)ba->graph, depth + 1));
		for (uint32_t k = 0; k < g->n_outputs; k++)
			EML_ENSURE(g->outputs[k] >= 0 && (uint32_t)g->outputs[k] < m->n_values &&
			               p->all[g->outputs[k]]->kind != EML_RT_NONE,
			           EML_E_ENGINE_SHAPE);
		/* move this iteration's records aside; remember where its results went (an output
		 * that is an outer value or a body initializer did not move) */
		moved = eml_calloc(g->n_outputs + 1, sizeof(int32_t));
		EML_ENSURE(moved != NULL, EML_E_NOMEM);
		EML_GUARD(loop_refresh(b, vals, nv, map));
		for (uint32_t k = 0; k < g->n_outputs; k++) {
			int32_t v = g->outputs[k];
			moved[k] = map[v] >= 0 ? map[v] : v;
		}
		for (uint32_t i = 0; i < nv; i++)
			map[vals[i]] = -1;
		cond_idx = moved[0];
		for (uint32_t j = 0; j < N; j++)
			cur[j] = moved[1 + j];
		if (K > 0) {
			if ((iters + 1) * K > scan_cap) {
				size_t cap = scan_cap ? scan_cap * 2 : 16 * K;
				int32_t *ns = eml_realloc(scan, cap * sizeof(int32_t));
				EML_ENSURE(ns != NULL, EML_E_NOMEM);
				scan = ns;
				scan_cap = cap;
			}
			for (uint32_t k = 0; k < K; k++)
				scan[iters * K + k] = moved[1 + N + k];
		}
		eml_free(moved);
		moved = NULL;
		iters++;
	}
	/* final carried values */
	EML_GUARD(bind_carried(b, n, cur, N));
	/* scan outputs: [iterations, ...] */
	for (uint32_t k = 0; k < K; k++) {
		int32_t o = n->outputs[N + k];
		if (o < 0)
			continue;
		EML_ENSURE((uint32_t)o < m->n_values && p->all[o]->kind == EML_RT_NONE,
		           EML_E_ENGINE_SHAPE);
		eml_rt *y = p->all[o];
		int64_t dims[EML_MAX_RANK];
		uint32_t rank;
		int32_t dt;
		if (iters == 0) {
			/* no iteration: the declared element type and shape give [0, ...] */
			const eml_value *dv = &m->values[g->outputs[1 + N + k]];
			EML_ENSURE(dv->dtype != EML_DT_UNDEFINED && dv->rank >= 0 &&
			               dv->rank < EML_MAX_RANK,
			           EML_E_UNSUPPORTED);
			dt = dv->dtype;
			rank = (uint32_t)dv->rank + 1;
			dims[0] = 0;
			for (uint32_t d = 0; d < (uint32_t)dv->rank; d++) {
				EML_ENSURE(dv->dims[d].value >= 0, EML_E_UNSUPPORTED);
				dims[1 + d] = dv->dims[d].value;
			}
		} else {
			const eml_rt *f = p->all[scan[k]];
			EML_ENSURE(f->rank < EML_MAX_RANK, EML_E_ENGINE_SHAPE);
			dt = f->dtype;
			rank = f->rank + 1;
			dims[0] = (int64_t)iters;
			memcpy(dims + 1, f->dims, f->rank * sizeof(int64_t));
			for (uint64_t i = 1; i < iters; i++) {
				const eml_rt *e = p->all[scan[i * K + k]];
				/* one shape per value in a per-request plan */
				EML_ENSURE(e->dtype == f->dtype && e->rank == f->rank &&
				               memcmp(e->dims, f->dims, sizeof(f->dims)) == 0,
				           EML_E_UNSUPPORTED);
			}
		}
		EML_GUARD(eml_rt_set(y, dt, rank, dims));
		int all_const = 1;
		uint64_t dep = 0;
		for (uint64_t i = 0; i < iters; i++) {
			all_const &= p->all[scan[i * K + k]]->kind == EML_RT_CONST;
			dep |= b->dep[scan[i * K + k]];
		}
		b->dep[o] = dep;
		EML_ENSURE(iters <= UINT32_MAX - 1, EML_E_ENGINE_SHAPE);
		EML_GUARD(new_ctx(&c, p, (uint32_t)iters, 1));
		for (uint64_t i = 0; i < iters; i++)
			c.in[i] = p->all[scan[i * K + k]];
		c.out[0] = y;
		if (all_const) {
			EML_GUARD(eml_rt_heap_alloc(y, (size_t)y->bytes));
			y->data = y->heap;
			EML_GUARD(loop_stack_run(&c));
			y->kind = EML_RT_CONST;
			ctx_cleanup(&c);
			continue;
		}
		y->kind = EML_RT_INTER;
		y->data = NULL;
		EML_GUARD(push_step(b, &k_loop_stack, &c));
	}
out:
	ctx_cleanup(&c);
	eml_free(vals);
	eml_free(map);
	eml_free(cur);
	eml_free(scan);
	eml_free(moved);
	return rc;
}

/*
 * Scan (opsets 9-20) is unrolled like Loop (see above): the iteration count is the scan inputs'
 * length along their scan axes, a shape, so always known at assembly. Iteration t binds the
 * body's state inputs to the current states (aliases) and each scan input to its slice t (or
 * T-1-t when that input's direction is reverse), cut by a ScanSlice step (or folded from a
 * constant); the scan outputs are stacked along their axes in forward or reverse order by one
 * step each (or folded), the final states alias the Loop-style carried values.
 */
typedef struct scan_copy_state {
	uint64_t outer, inner_bytes, len; /* len: the scanned dimension */
	uint64_t idx;                     /* ScanSlice: the slice taken */
	int reverse;                      /* stack: iteration t goes to len-1-t */
} scan_copy_state;

static int scan_slice_run(eml_op_ctx *c)
{
	const scan_copy_state *s = c->state;
	const uint8_t *src = c->in[0]->data;
	uint8_t *dst = c->out[0]->data;
	for (uint64_t o = 0; o < s->outer; o++)
		if (s->inner_bytes)
			memcpy(dst + o * s->inner_bytes,
			       src + (o * s->len + s->idx) * s->inner_bytes, s->inner_bytes);
	return EML_OK;
}

static int scan_stack_run(eml_op_ctx *c)
{
	const scan_copy_state *s = c->state;
	uint8_t *dst = c->out[0]->data;
	for (uint32_t t = 0; t < c->n_in; t++) {
		const uint8_t *src = c->in[t]->data;
		uint64_t pos = s->reverse ? s->len - 1 - t : t;
		for (uint64_t o = 0; o < s->outer; o++)
			if (s->inner_bytes)
				memcpy(dst + (o * s->len + pos) * s->inner_bytes,
				       src + o * s->inner_bytes, s->inner_bytes);
	}
	return EML_OK;
}

static const eml_op_def k_scan_slice = {"Scan", 1, 99, no_prep, scan_slice_run, NULL, NULL};
static const eml_op_def k_scan_stack = {"Scan", 1, 99, no_prep, scan_stack_run, NULL, NULL};

/* Run a copy step now (all inputs constant) or plan it. */
static int scan_copy(struct eml_build *b, const eml_op_def *def, eml_op_ctx *c, int all_const)
{
	int rc = EML_OK;
	eml_rt *y = c->out[0];
	if (all_const) {
		EML_GUARD(eml_rt_heap_alloc(y, (size_t)y->bytes));
		y->data = y->heap;
		EML_GUARD(def->run(c));
		y->kind = EML_RT_CONST;
		ctx_cleanup(c);
		goto out;
	}
	y->kind = EML_RT_INTER;
	y->data = NULL;
	EML_GUARD(push_step(b, def, c));
out:
	return rc;
}

static const int64_t *scan_attr_ints(const eml_node *n, const char *name, uint32_t want)
{
	const eml_attr *a = eml_node_attr(n, name);
	if (a == NULL)
		return NULL;
	return a->type == EML_ATTR_INTS && a->n == want ? a->ints : (const int64_t *)(uintptr_t)1;
}

static int build_scan(struct eml_build *b, const eml_node *n, int depth)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	const eml_model *m = b->m;
	int32_t *vals = NULL, *map = NULL, *cur = NULL, *outs = NULL;
	eml_op_ctx c;
	memset(&c, 0, sizeof(c));
	const eml_attr *ba = eml_node_attr(n, "body");
	EML_ENSURE(ba != NULL && ba->type == EML_ATTR_GRAPH && ba->graph > 0 &&
	               (uint32_t)ba->graph < m->n_graphs,
	           EML_E_ENGINE_SHAPE);
	const eml_graph *g = &m->graphs[ba->graph];
	int64_t nsi = eml_attr_i(n, "num_scan_inputs", -1);
	EML_ENSURE(nsi >= 1 && (uint64_t)nsi <= n->n_inputs, EML_E_ENGINE_SHAPE);
	uint32_t M = (uint32_t)nsi, N = n->n_inputs - M;
	EML_ENSURE(g->n_inputs == N + M && g->n_outputs >= N && n->n_outputs == g->n_outputs,
	           EML_E_ENGINE_SHAPE);
	uint32_t K = g->n_outputs - N;
	const int64_t *in_ax = scan_attr_ints(n, "scan_input_axes", M);
	const int64_t *in_dir = scan_attr_ints(n, "scan_input_directions", M);
	const int64_t *out_ax = scan_attr_ints(n, "scan_output_axes", K);
	const int64_t *out_dir = scan_attr_ints(n, "scan_output_directions", K);
	const int64_t *bad = (const int64_t *)(uintptr_t)1;
	EML_ENSURE(in_ax != bad && in_dir != bad && out_ax != bad && out_dir != bad,
	           EML_E_ENGINE_SHAPE);
	/* the scanned length T, the same for every scan input */
	uint64_t T = 0;
	for (uint32_t j = 0; j < M; j++) {
		int32_t v = n->inputs[N + j];
		EML_ENSURE(v >= 0 && (uint32_t)v < m->n_values && p->all[v]->kind != EML_RT_NONE,
		           EML_E_ENGINE_SHAPE);
		const eml_rt *x = p->all[v];
		uint32_t ax;
		EML_ENSURE(x->rank >= 1, EML_E_ENGINE_SHAPE);
		EML_GUARD(eml_axis(in_ax ? in_ax[j] : 0, x->rank, &ax));
		EML_ENSURE(in_dir == NULL || in_dir[j] == 0 || in_dir[j] == 1, EML_E_ENGINE_SHAPE);
		EML_ENSURE(j == 0 || (uint64_t)x->dims[ax] == T, EML_E_ENGINE_SHAPE);
		T = (uint64_t)x->dims[ax];
	}
	EML_ENSURE(T <= EML_ENGINE_MAX_LOOP_ITERS, EML_E_ENGINE_SHAPE);
	for (uint32_t k = 0; k < K; k++)
		EML_ENSURE(out_dir == NULL || out_dir[k] == 0 || out_dir[k] == 1,
		           EML_E_ENGINE_SHAPE);
	/* the values the body defines */
	uint32_t nv = 0;
	vals = eml_calloc(m->n_values + 1, sizeof(int32_t));
	map = eml_calloc(m->n_values + 1, sizeof(int32_t));
	cur = eml_calloc(N + 1, sizeof(int32_t));
	outs = eml_calloc((size_t)T * K + 1, sizeof(int32_t));
	EML_ENSURE(vals != NULL && map != NULL && cur != NULL && outs != NULL, EML_E_NOMEM);
	EML_GUARD(body_values(b, ba->graph, vals, map, &nv));
	for (uint32_t j = 0; j < N; j++) {
		int32_t v = n->inputs[j];
		EML_ENSURE(v >= 0 && (uint32_t)v < m->n_values && p->all[v]->kind != EML_RT_NONE,
		           EML_E_ENGINE_SHAPE);
		cur[j] = v;
	}
	for (uint32_t k = 0; k < N + M; k++)
		EML_ENSURE(g->inputs[k] >= 0 && (uint32_t)g->inputs[k] < m->n_values,
		           EML_E_ENGINE_SHAPE);
	for (uint64_t t = 0; t < T; t++) {
		for (uint32_t j = 0; j < N; j++) {
			EML_GUARD(alias_record(b, p->all[g->inputs[j]], cur[j]));
			b->dep[g->inputs[j]] = b->dep[cur[j]];
		}
		for (uint32_t j = 0; j < M; j++) {
			eml_rt *x = p->all[n->inputs[N + j]], *y = p->all[g->inputs[N + j]];
			uint32_t ax;
			EML_GUARD(eml_axis(in_ax ? in_ax[j] : 0, x->rank, &ax));
			int64_t d[EML_MAX_RANK];
			uint32_t r = 0;
			scan_copy_state *s = eml_calloc(1, sizeof(*s));
			EML_ENSURE(s != NULL, EML_E_NOMEM);
			s->outer = 1;
			s->inner_bytes = eml_dtype_size(x->dtype);
			for (uint32_t q = 0; q < x->rank; q++) {
				if (q < ax)
					s->outer *= (uint64_t)x->dims[q];
				else if (q > ax)
					s->inner_bytes *= (uint64_t)x->dims[q];
				if (q != ax)
					d[r++] = x->dims[q];
			}
			s->len = T;
			s->idx = in_dir && in_dir[j] ? T - 1 - t : t;
			rc = new_ctx(&c, p, 1, 1);
			if (rc == EML_OK)
				rc = eml_rt_set(y, x->dtype, r, d);
			if (rc != EML_OK) {
				eml_free(s);
				goto out;
			}
			c.state = s;
			c.in[0] = x;
			c.out[0] = y;
			b->dep[g->inputs[N + j]] = b->dep[n->inputs[N + j]];
			EML_GUARD(scan_copy(b, &k_scan_slice, &c, x->kind == EML_RT_CONST));
		}
		EML_GUARD(build_graph(b, (uint32_t)ba->graph, depth + 1));
		for (uint32_t k = 0; k < g->n_outputs; k++)
			EML_ENSURE(g->outputs[k] >= 0 && (uint32_t)g->outputs[k] < m->n_values &&
			               p->all[g->outputs[k]]->kind != EML_RT_NONE,
			           EML_E_ENGINE_SHAPE);
		EML_GUARD(loop_refresh(b, vals, nv, map));
		for (uint32_t k = 0; k < g->n_outputs; k++) {
			int32_t v = g->outputs[k], r = map[v] >= 0 ? map[v] : v;
			if (k < N)
				cur[k] = r;
			else
				outs[t * K + (k - N)] = r;
		}
		for (uint32_t i = 0; i < nv; i++)
			map[vals[i]] = -1;
	}
	EML_GUARD(bind_carried(b, n, cur, N));
	for (uint32_t k = 0; k < K; k++) {
		int32_t o = n->outputs[N + k];
		if (o < 0)
			continue;
		EML_ENSURE((uint32_t)o < m->n_values && p->all[o]->kind == EML_RT_NONE,
		           EML_E_ENGINE_SHAPE);
		/* T == 0 cannot happen with a scan input of length 0 giving shapes: refused */
		EML_ENSURE(T > 0, EML_E_UNSUPPORTED);
		const eml_rt *f = p->all[outs[k]];
		EML_ENSURE(f->rank < EML_MAX_RANK, EML_E_ENGINE_SHAPE);
		uint32_t ax;
		EML_GUARD(eml_axis(out_ax ? out_ax[k] : 0, f->rank + 1, &ax));
		int64_t d[EML_MAX_RANK];
		uint32_t r = 0;
		scan_copy_state *s = eml_calloc(1, sizeof(*s));
		EML_ENSURE(s != NULL, EML_E_NOMEM);
		s->outer = 1;
		s->inner_bytes = eml_dtype_size(f->dtype);
		for (uint32_t q = 0; q <= f->rank; q++) {
			if (q == ax) {
				d[r++] = (int64_t)T;
				continue;
			}
			uint32_t fq = q < ax ? q : q - 1;
			d[r++] = f->dims[fq];
			if (q < ax)
				s->outer *= (uint64_t)f->dims[fq];
			else
				s->inner_bytes *= (uint64_t)f->dims[fq];
		}
		s->len = T;
		s->reverse = out_dir && out_dir[k];
		int all_const = 1;
		uint64_t dep = 0;
		for (uint64_t t = 0; t < T; t++) {
			const eml_rt *e = p->all[outs[t * K + k]];
			/* one shape per value in a per-request plan */
			if (e->dtype != f->dtype || e->rank != f->rank ||
			    memcmp(e->dims, f->dims, sizeof(f->dims)) != 0) {
				eml_free(s);
				EML_ENSURE(0, EML_E_UNSUPPORTED);
			}
			all_const &= e->kind == EML_RT_CONST;
			dep |= b->dep[outs[t * K + k]];
		}
		rc = new_ctx(&c, p, (uint32_t)T, 1);
		if (rc == EML_OK)
			rc = eml_rt_set(p->all[o], f->dtype, r, d);
		if (rc != EML_OK) {
			eml_free(s);
			goto out;
		}
		c.state = s;
		for (uint64_t t = 0; t < T; t++)
			c.in[t] = p->all[outs[t * K + k]];
		c.out[0] = p->all[o];
		b->dep[o] = dep;
		EML_GUARD(scan_copy(b, &k_scan_stack, &c, all_const));
	}
out:
	ctx_cleanup(&c);
	eml_free(vals);
	eml_free(map);
	eml_free(cur);
	eml_free(outs);
	return rc;
}

static int build_node(struct eml_build *b, const eml_node *n, int depth)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	const eml_model *m = b->m;
	eml_op_ctx c;
	memset(&c, 0, sizeof(c));
	EML_ENSURE(n->op_type != NULL, EML_E_ENGINE_SHAPE);
	EML_ENSURE((n->n_inputs == 0 || n->inputs != NULL) &&
	               (n->n_outputs == 0 || n->outputs != NULL),
	           EML_E_ENGINE_SHAPE);
	EML_ENSURE(n->domain == NULL || n->domain[0] == 0 || strcmp(n->domain, "ai.onnx") == 0,
	           EML_E_UNSUPPORTED);
	if (strcmp(n->op_type, "If") == 0)
		return build_if(b, n, depth);
	if (strcmp(n->op_type, "Loop") == 0)
		return build_loop(b, n, depth);
	if (strcmp(n->op_type, "Scan") == 0)
		return build_scan(b, n, depth);
	const eml_op_def *def = eml_engine_op_find(n->op_type, b->opset);
	EML_ENSURE(def != NULL, EML_E_UNSUPPORTED);
	EML_ENSURE(n->n_inputs <= EML_MAX_NODE_IO && n->n_outputs <= EML_MAX_NODE_IO,
	           EML_E_ENGINE_SHAPE);
	c.node = n;
	c.b = b;
	c.pool = p->pool;
	c.threads = p->threads;
	c.opset = b->opset;
	c.n_in = n->n_inputs;
	c.n_out = n->n_outputs;
	c.cap_in = c.n_in + EML_OP_EXTRA_IN;
	c.in = eml_calloc(c.cap_in, sizeof(*c.in));
	c.out = eml_calloc(c.n_out + 1, sizeof(*c.out));
	EML_ENSURE(c.in != NULL && c.out != NULL, EML_E_NOMEM);
	int all_const = 1;
	for (uint32_t k = 0; k < c.n_in; k++) {
		int32_t v = n->inputs[k];
		if (v < 0)
			continue;
		EML_ENSURE((uint32_t)v < m->n_values, EML_E_ENGINE_SHAPE);
		c.in[k] = p->all[v];
		EML_ENSURE(c.in[k]->kind != EML_RT_NONE, EML_E_ENGINE_SHAPE);
		if (c.in[k]->kind != EML_RT_CONST)
			all_const = 0;
	}
	for (uint32_t k = 0; k < c.n_out; k++) {
		int32_t v = n->outputs[k];
		if (v < 0)
			continue;
		EML_ENSURE((uint32_t)v < m->n_values, EML_E_ENGINE_SHAPE);
		c.out[k] = p->all[v];
		/* SSA: a value is produced once */
		EML_ENSURE(c.out[k]->kind == EML_RT_NONE, EML_E_ENGINE_SHAPE);
	}
	b->input_mask = dep_of(b, &c);
	rc = def->prep(&c);
	if (rc == EML_E_ENGINE_SHAPE && b->input_mask != 0)
		rc = EML_E_ENGINE_INPUT_SHAPE;
	EML_GUARD(rc);
	for (uint32_t k = 0; k < c.n_out; k++) {
		if (c.out[k] == NULL)
			continue;
		EML_ENSURE(eml_dtype_size(c.out[k]->dtype) != 0, EML_E_ENGINE_SHAPE);
		b->dep[n->outputs[k]] = b->input_mask;
	}
	uint64_t out_bytes = 0;
	for (uint32_t k = 0; k < c.n_out; k++)
		if (c.out[k] != NULL)
			out_bytes += c.out[k]->bytes;
	if ((all_const || c.fold_always) && !c.no_fold &&
	    (out_bytes + c.scratch_bytes <= EML_ENGINE_FOLD_MAX_BYTES || def == &eml_op_constant)) {
		rc = fold_node(b, def, &c);
		EML_GUARD(rc);
		ctx_cleanup(&c);
		goto out;
	}
	for (uint32_t k = 0; k < c.n_out; k++)
		if (c.out[k] != NULL) {
			c.out[k]->kind = EML_RT_INTER;
			c.out[k]->data = NULL;
		}
	if (try_fuse(b, def, &c)) {
		ctx_cleanup(&c);
		goto out;
	}
	if (c.alias_out0 && c.in[0] != NULL && c.out[0] != NULL) {
		int32_t src = rec_root(p, n->inputs[0]);
		c.out[0]->alias = src;
	} else if (c.inplace && c.out[0] != NULL && c.out[0]->alias < 0) {
		/* reuse the bytes of an input that dies here (read by this node only) */
		for (uint32_t k = 0; k < n->n_inputs; k++) {
			eml_rt *x = c.in[k];
			int32_t xid = n->inputs[k];
			if (x == NULL || xid < 0 || x->kind != EML_RT_INTER || x->alias >= 0 ||
			    b->uses[xid] != 1 || x->dtype != c.out[0]->dtype ||
			    x->elems != c.out[0]->elems || x->bytes != c.out[0]->bytes)
				continue;
			c.out[0]->alias = xid;
			break;
		}
	}
	EML_GUARD(push_step(b, def, &c));
out:
	if (rc != EML_OK) {
		if (b->bad_input < 0 && rc == EML_E_ENGINE_INPUT_SHAPE) {
			for (int i = 0; i < 64; i++)
				if (b->input_mask & ((uint64_t)1 << i)) {
					b->bad_input = i;
					break;
				}
		}
		ctx_cleanup(&c);
	}
	return rc;
}

/* Known scalar constant value of v (1 element), or NAN-ish sentinel via *ok = 0. */
static double const_scalar(struct eml_build *b, int32_t v, int *ok)
{
	*ok = 0;
	if (v < 0 || (uint32_t)v >= b->m->n_values)
		return 0;
	const eml_rt *t = b->p->all[v];
	if (t->kind != EML_RT_CONST || t->data == NULL || t->elems != 1 ||
	    !eml_dt_is_real(t->dtype))
		return 0;
	*ok = 1;
	return eml_rt_get_f(t, 0);
}

/* The single consumer of v among nodes after `from` in g, or -1. */
static int32_t consumer(const eml_graph *g, uint32_t from, int32_t v)
{
	for (uint32_t j = from + 1; j < g->n_nodes; j++)
		for (uint32_t k = 0; k < g->nodes[j].n_inputs; k++)
			if (g->nodes[j].inputs[k] == v)
				return (int32_t)j;
	return -1;
}

static int is_op(const eml_node *n, const char *op)
{
	return n->op_type != NULL && strcmp(n->op_type, op) == 0 &&
	       (n->domain == NULL || n->domain[0] == 0);
}

/*
 * HardSwish written out as x * Clip(x + 3, 0, 6) / 6 (PaddleOCR, MobileNetV3 exports): the four
 * nodes become one HardSwish(x), which can then go into the producing Conv's epilogue. Matched on
 * constants known at assembly; every intermediate must have no other reader.
 */
static int match_hardswish(struct eml_build *b, const eml_graph *g, uint32_t i, uint8_t *skip,
                           int32_t *hs_x)
{
	const eml_node *add = &g->nodes[i];
	int ok;
	if (!is_op(add, "Add") || add->n_inputs != 2 || add->n_outputs != 1)
		return 0;
	int32_t x = -1;
	for (int k = 0; k < 2; k++)
		if (const_scalar(b, add->inputs[1 - k], &ok) == 3.0 && ok)
			x = add->inputs[k];
	int32_t s = add->outputs[0];
	if (x < 0 || s < 0 || b->uses[s] != 1)
		return 0;
	int32_t j = consumer(g, i, s);
	if (j < 0)
		return 0;
	const eml_node *clip = &g->nodes[j];
	if (!is_op(clip, "Clip") || clip->inputs[0] != s || clip->n_outputs != 1)
		return 0;
	double lo, hi;
	if (b->opset < 11) {
		lo = eml_attr_f(clip, "min", -1);
		hi = eml_attr_f(clip, "max", -1);
	} else {
		if (clip->n_inputs != 3)
			return 0;
		lo = const_scalar(b, clip->inputs[1], &ok);
		if (!ok)
			return 0;
		hi = const_scalar(b, clip->inputs[2], &ok);
		if (!ok)
			return 0;
	}
	if (lo != 0.0 || hi != 6.0)
		return 0;
	int32_t r = clip->outputs[0];
	if (r < 0 || b->uses[r] != 1)
		return 0;
	int32_t k = consumer(g, (uint32_t)j, r);
	if (k < 0)
		return 0;
	/* either (r / 6) * x  or  (x * r) / 6 ; "/ 6" may be written "* (1/6)" */
	const eml_node *n1 = &g->nodes[k];
	if (n1->n_inputs != 2 || n1->n_outputs != 1 || n1->outputs[0] < 0 ||
	    b->uses[n1->outputs[0]] != 1)
		return 0;
	int32_t q = n1->outputs[0];
	int32_t l = consumer(g, (uint32_t)k, q);
	if (l < 0)
		return 0;
	const eml_node *n2 = &g->nodes[l];
	if (n2->n_inputs != 2 || n2->n_outputs != 1)
		return 0;
	const eml_node *dv, *mul;
	int32_t dv_in;
	if (is_op(n1, "Mul") && ((n1->inputs[0] == x && n1->inputs[1] == r) ||
	                         (n1->inputs[1] == x && n1->inputs[0] == r))) {
		mul = n1;
		dv = n2;
		dv_in = q;
	} else {
		dv = n1;
		mul = n2;
		dv_in = r;
		if (!((mul->inputs[0] == x && mul->inputs[1] == q) ||
		      (mul->inputs[1] == x && mul->inputs[0] == q)))
			return 0;
	}
	if (!is_op(mul, "Mul") || dv->inputs[0] != dv_in)
		return 0;
	double c6 = const_scalar(b, dv->inputs[1], &ok);
	if (!ok ||
	    !((is_op(dv, "Div") && c6 == 6.0) || (is_op(dv, "Mul") && fabs(c6 * 6.0 - 1.0) < 1e-6)))
		return 0;
	/* x must already be a float value of known shape (it is read before i) */
	if (b->p->all[x]->kind == EML_RT_NONE || b->p->all[x]->dtype != EML_DT_FLOAT)
		return 0;
	skip[i] = skip[j] = skip[k] = 1;
	hs_x[l] = x;
	if (b->uses[x] > 0)
		b->uses[x]--; /* the Add no longer reads x */
	return 1;
}

/*
 * A Constant node whose value is a tensor of the model (the `value` attribute): its output is
 * that tensor, borrowed from the model like an initializer (init_const: float16/double widened),
 * with no copy into an op state and a second into a folded output. `value_float`/`value_int`
 * and the other forms take the operator's own path (*done = 0).
 */
static int constant_direct(struct eml_build *b, const eml_node *n, int *done)
{
	int rc = EML_OK;
	*done = 0;
	if (n->n_outputs != 1 || n->outputs == NULL || n->outputs[0] < 0 ||
	    (uint32_t)n->outputs[0] >= b->m->n_values || n->n_attrs != 1 ||
	    n->attrs[0].type != EML_ATTR_TENSOR || n->attrs[0].orig_type == EML_ATTR_FLOAT ||
	    n->attrs[0].orig_type == EML_ATTR_INT ||
	    !(n->domain == NULL || n->domain[0] == 0 || strcmp(n->domain, "ai.onnx") == 0))
		return EML_OK;
	eml_rt *t = b->p->all[n->outputs[0]];
	EML_ENSURE(t->kind == EML_RT_NONE, EML_E_ENGINE_SHAPE); /* SSA */
	EML_GUARD(eml_build_model_tensor(b, n->attrs[0].tensor, t));
	b->dep[n->outputs[0]] = 0;
	*done = 1;
out:
	return rc;
}

static int build_graph(struct eml_build *b, uint32_t gidx, int depth)
{
	int rc = EML_OK;
	const eml_model *m = b->m;
	uint8_t *skip = NULL;
	int32_t *hs_x = NULL;
	EML_ENSURE(depth <= EML_MAX_SUBGRAPH_DEPTH && gidx < m->n_graphs, EML_E_ENGINE_SHAPE);
	const eml_graph *g = &m->graphs[gidx];
	skip = eml_calloc(g->n_nodes + 1, 1);
	hs_x = eml_calloc(g->n_nodes + 1, sizeof(int32_t));
	EML_ENSURE(skip != NULL && hs_x != NULL, EML_E_NOMEM);
	/* Constant nodes first: they read nothing, and knowing their values early lets the pattern
	 * matchers below see constants that the file lists after their first reader. */
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		hs_x[i] = -1;
		if (is_op(&g->nodes[i], "Constant") && g->nodes[i].n_inputs == 0) {
			int done = 0;
			EML_GUARD(constant_direct(b, &g->nodes[i], &done));
			if (!done)
				EML_GUARD(build_node(b, &g->nodes[i], depth));
			skip[i] = 1;
		}
	}
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		if (skip[i])
			continue;
		match_hardswish(b, g, i, skip, hs_x);
		if (skip[i])
			continue;
		if (hs_x[i] >= 0) {
			eml_node hs;
			memset(&hs, 0, sizeof(hs));
			int32_t in[1] = {hs_x[i]};
			hs.op_type = (char *)(uintptr_t) "HardSwish";
			hs.domain = (char *)(uintptr_t) "";
			hs.n_inputs = 1;
			hs.n_outputs = 1;
			hs.inputs = in;
			hs.outputs = g->nodes[i].outputs;
			EML_GUARD(build_node(b, &hs, depth));
			continue;
		}
		EML_GUARD(build_node(b, &g->nodes[i], depth));
	}
out:
	eml_free(skip);
	eml_free(hs_x);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Liveness and placement                                                                    */

#define ALIGN_UP(x) (((x) + (uint64_t)EML_DATA_ALIGN - 1) & ~((uint64_t)EML_DATA_ALIGN - 1))

typedef struct slot {
	uint64_t off, size;
	int32_t first, last;
} slot;

static int place(struct eml_build *b, uint64_t max_memory)
{
	int rc = EML_OK;
	eml_plan *p = b->p;
	const eml_graph *g0 = &b->m->graphs[0];
	uint32_t *order = NULL;
	slot *placed = NULL;
	uint32_t n_order = 0, n_placed = 0;

	for (uint32_t i = 0; i < p->n_all; i++) {
		eml_rt *t = p->all[i];
		t->first = INT32_MAX;
		t->last = -1;
		t->used = 0;
		t->placed = 0;
	}
	for (uint32_t s = 0; s < p->n_steps; s++) {
		eml_op_ctx *c = &p->steps[s].c;
		for (uint32_t k = 0; k < c->n_in; k++) {
			if (c->in[k] == NULL)
				continue;
			eml_rt *r = p->all[rec_root(p, rec_index(p, c->in[k]))];
			r->used = 1;
			if ((int32_t)s > r->last)
				r->last = (int32_t)s;
			if ((int32_t)s < r->first && r->kind != EML_RT_INTER)
				r->first = (int32_t)s;
		}
		for (uint32_t k = 0; k < c->n_out; k++) {
			if (c->out[k] == NULL)
				continue;
			eml_rt *r = p->all[rec_root(p, rec_index(p, c->out[k]))];
			r->used = 1;
			if ((int32_t)s < r->first)
				r->first = (int32_t)s;
			if ((int32_t)s > r->last)
				r->last = (int32_t)s;
		}
	}
	for (uint32_t i = 0; i < g0->n_outputs; i++) {
		int32_t v = g0->outputs[i];
		if (v < 0 || (uint32_t)v >= b->m->n_values || p->all[v]->kind == EML_RT_NONE) {
			EML_FAIL(EML_E_ENGINE_SHAPE);
		}
		eml_rt *r = p->all[rec_root(p, v)];
		r->used = 1;
		r->last = INT32_MAX;
		if (r->first == INT32_MAX)
			r->first = -1;
	}

	/* Inputs and kept constants: a fixed prefix (they live the whole plan). */
	uint64_t off = 0;
	for (uint32_t i = 0; i < p->n_all; i++) {
		eml_rt *t = p->all[i];
		if (t->alias >= 0 || !t->used)
			continue;
		if (t->kind == EML_RT_INPUT || t->kind == EML_RT_CONST) {
			t->off = off;
			off = ALIGN_UP(off + t->bytes);
			t->placed = 1;
		}
	}
	uint64_t fixed = off;

	/* Intermediates: greedy, largest first, lowest offset free over the lifetime. */
	order = eml_calloc(p->n_all + 1, sizeof(*order));
	placed = eml_calloc(p->n_all + 1, sizeof(*placed));
	EML_ENSURE(order != NULL && placed != NULL, EML_E_NOMEM);
	for (uint32_t i = 0; i < p->n_all; i++) {
		eml_rt *t = p->all[i];
		if (t->alias < 0 && t->used && t->kind == EML_RT_INTER)
			order[n_order++] = i;
	}
	/* insertion sort by size desc (stable, deterministic) */
	for (uint32_t i = 1; i < n_order; i++) {
		uint32_t v = order[i];
		uint32_t j = i;
		while (j > 0 && p->all[order[j - 1]]->bytes < p->all[v]->bytes) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	uint64_t top = 0;
	for (uint32_t i = 0; i < n_order; i++) {
		eml_rt *t = p->all[order[i]];
		uint64_t size = ALIGN_UP(t->bytes ? t->bytes : 1);
		uint64_t cand = 0;
		int moved = 1;
		while (moved) {
			moved = 0;
			for (uint32_t j = 0; j < n_placed; j++) {
				slot *s = &placed[j];
				if (s->last < t->first || t->last < s->first)
					continue; /* lifetimes disjoint */
				if (cand + size <= s->off || s->off + s->size <= cand)
					continue; /* ranges disjoint */
				cand = s->off + s->size;
				moved = 1;
			}
		}
		placed[n_placed++] = (slot){cand, size, t->first, t->last};
		t->off = fixed + cand;
		t->placed = 1;
		if (cand + size > top)
			top = cand + size;
	}

	uint64_t scratch = 0;
	for (uint32_t s = 0; s < p->n_steps; s++)
		if (p->steps[s].c.scratch_bytes > scratch)
			scratch = p->steps[s].c.scratch_bytes;
	uint64_t total = fixed + top + ALIGN_UP(scratch);
	p->arena_bytes = total;
	p->scratch_bytes = scratch;
	EML_ENSURE(max_memory == 0 || total <= max_memory, EML_E_ENGINE_MEMORY_LIMIT);
	EML_ENSURE(total <= EML_MAX_DATA_BYTES, EML_E_ENGINE_MEMORY_LIMIT);
	EML_GUARD(eml_secmem_map(total ? (size_t)total : 1, &p->arena, &p->arena_len));
	uint8_t *base = p->arena;
	for (uint32_t i = 0; i < p->n_all; i++) {
		eml_rt *t = p->all[i];
		if (!t->placed)
			continue;
		void *dst = base + t->off;
		if ((t->kind == EML_RT_INPUT || t->kind == EML_RT_CONST) && t->bytes &&
		    !t->deferred)
			memcpy(dst, t->data, t->bytes);
		t->data = dst;
	}
	p->scratch = scratch ? base + fixed + top : NULL;
	for (uint32_t i = 0; i < p->n_all; i++) {
		eml_rt *t = p->all[i];
		if (t->alias >= 0) {
			eml_rt *r = p->all[rec_root(p, (int32_t)i)];
			t->data = r->placed ? r->data : NULL;
		} else if (!t->placed) {
			t->data = NULL; /* folded away or unused: nothing of it is kept */
		}
	}
out:
	eml_free(order);
	eml_free(placed);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Public API                                                                                */

void eml_plan_free(eml_plan *p)
{
	if (p == NULL)
		return;
	for (uint32_t s = 0; s < p->n_steps; s++)
		ctx_cleanup(&p->steps[s].c);
	eml_free(p->steps);
	if (p->arena != NULL)
		eml_secmem_unmap(p->arena, p->arena_len);
	for (uint32_t i = 0; i < p->n_all; i++) {
		eml_rt *t = p->all[i];
		if (t == NULL)
			continue;
		eml_rt_heap_free(t);
		/* records live in the block or on the heap; an unrolled Loop moves block records to
		 * indices past n_block (and heap ones below it), so the address decides */
		uintptr_t ta = (uintptr_t)t, b0 = (uintptr_t)p->block,
		          b1 = (uintptr_t)(p->block + p->n_block);
		if (ta < b0 || ta >= b1)
			eml_free(t);
	}
	eml_free(p->block);
	eml_free(p->all);
	if (p->out_names != NULL)
		for (uint32_t i = 0; i < p->n_outs; i++)
			eml_free(p->out_names[i]);
	eml_free(p->out_names);
	eml_free(p->outs);
	eml_threadpool_release(p->pool);
	eml_free(p->prof_ns);
	eml_free(p);
}

/* Steps with deferred constants write them now (packing weights into the arena), spread over
 * the plan's threads: each writes only its own arena slots and reads only the model. */
typedef struct fin_job {
	eml_plan *p;
	const uint32_t *idx;
	atomic_int rc;
} fin_job;

static void fin_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	fin_job *j = ctx;
	eml_step *st = &j->p->steps[j->idx[t]];
	int rc = st->c.finalize(&st->c);
	int expected = EML_OK;
	if (rc != EML_OK)
		atomic_compare_exchange_strong(&j->rc, &expected, rc);
}

static int finalize_steps(eml_plan *p)
{
	int rc = EML_OK;
	uint32_t *idx = NULL, n = 0;
	for (uint32_t s = 0; s < p->n_steps; s++)
		n += p->steps[s].c.finalize != NULL;
	if (n == 0)
		return EML_OK;
	idx = eml_calloc(n, sizeof(*idx));
	EML_ENSURE(idx != NULL, EML_E_NOMEM);
	n = 0;
	for (uint32_t s = 0; s < p->n_steps; s++)
		if (p->steps[s].c.finalize != NULL)
			idx[n++] = s;
	fin_job j = {.p = p, .idx = idx};
	atomic_init(&j.rc, EML_OK);
	eml_threadpool_run(p->pool, n, fin_task, &j);
	rc = atomic_load(&j.rc);
out:
	eml_free(idx);
	return rc;
}

int eml_engine_assemble(const eml_model *m, const eml_io_tensor *inputs, size_t n_inputs,
                        const eml_engine_opts *opts, eml_plan **out, int *bad_input)
{
	int rc = EML_OK;
	struct eml_build b;
	eml_plan *p = NULL;
	memset(&b, 0, sizeof(b));
	b.bad_input = -1;
	if (bad_input != NULL)
		*bad_input = -1;
	EML_ENSURE(m != NULL && out != NULL && (inputs != NULL || n_inputs == 0), EML_E_ARG);
	*out = NULL;
	EML_ENSURE(m->n_graphs >= 1 && m->graphs != NULL, EML_E_ENGINE_SHAPE);
	EML_ENSURE(m->data != NULL || m->data_len == 0, EML_E_ARG);
	EML_ENSURE(m->n_values <= EML_MAX_VALUES, EML_E_LIMIT);
	b.m = m;
	b.opset = eml_model_opset(m, "");
	if (b.opset == 0)
		b.opset = eml_model_opset(m, "ai.onnx");
	p = eml_calloc(1, sizeof(*p));
	EML_ENSURE(p != NULL, EML_E_NOMEM);
	b.p = p;
	EML_ENSURE(opts == NULL || opts->threads >= 0, EML_E_ARG);
	uint32_t nv = m->n_values;
	p->block = eml_calloc(nv + 1, sizeof(eml_rt));
	p->all = eml_calloc(nv + 16, sizeof(eml_rt *));
	b.dep = eml_calloc(nv + 16, sizeof(uint64_t));
	b.uses = eml_calloc(nv + 1, sizeof(uint32_t));
	EML_ENSURE(p->block != NULL && p->all != NULL && b.dep != NULL && b.uses != NULL,
	           EML_E_NOMEM);
	p->cap_all = nv + 16;
	b.cap_dep = nv + 16;
	for (uint32_t i = 0; i < nv; i++) {
		p->all[i] = &p->block[i];
		p->block[i].alias = -1;
		p->block[i].first = -1;
		p->block[i].id = (int32_t)i;
	}
	p->n_all = nv;
	p->n_block = nv;
	for (uint32_t i = 0; i < nv; i++) {
		const eml_value *v = &m->values[i];
		if (v->tensor >= 0) {
			EML_ENSURE((uint32_t)v->tensor < m->n_tensors && m->data != NULL,
			           EML_E_ENGINE_SHAPE);
			EML_GUARD(init_const(&b, p->all[i], &m->tensors[v->tensor]));
		}
	}
	count_uses(&b);
	rc = bind_inputs(&b, inputs, n_inputs);
	if (rc != EML_OK)
		goto out;
	/* One pool per plan (its workers are created here and joined in eml_plan_free); created
	 * before the graph walk so operators size their scratch for it and folding can use it. */
	EML_GUARD(eml_threadpool_acquire(opts != NULL ? opts->threads : 0, &p->pool));
	p->threads = eml_threadpool_threads(p->pool);
	p->cancel = opts != NULL ? opts->cancel : NULL;
	EML_GUARD(build_graph(&b, 0, 0));
	EML_GUARD(place(&b, opts != NULL ? opts->max_memory : 0));
	EML_GUARD(finalize_steps(p));

	/* outputs */
	const eml_graph *g0 = &m->graphs[0];
	p->n_outs = g0->n_outputs;
	p->outs = eml_calloc(p->n_outs + 1, sizeof(*p->outs));
	p->out_names = eml_calloc(p->n_outs + 1, sizeof(*p->out_names));
	EML_ENSURE(p->outs != NULL && p->out_names != NULL, EML_E_NOMEM);
	for (uint32_t i = 0; i < p->n_outs; i++) {
		p->outs[i] = p->all[g0->outputs[i]];
		const char *nm = m->values[g0->outputs[i]].name;
		if (nm != NULL) {
			p->out_names[i] = eml_strdup(nm);
			EML_ENSURE(p->out_names[i] != NULL, EML_E_NOMEM);
		}
	}
	/* Nothing assembled may point back into the model or into temporary heap: free the heap
	 * copies of constants (wiped by eml_free). */
	for (uint32_t i = 0; i < p->n_all; i++) {
		eml_rt_heap_free(p->all[i]);
	}
	for (uint32_t s = 0; s < p->n_steps; s++) {
		p->steps[s].c.b = NULL; /* the build is gone after assembly */
		p->steps[s].c.pool = p->pool;
		p->steps[s].c.threads = p->threads;
		p->steps[s].c.scratch = p->scratch;
	}
	*out = p;
	p = NULL;
out:
	if (bad_input != NULL && rc != EML_OK)
		*bad_input = b.bad_input;
	eml_free(b.dep);
	eml_free(b.uses);
	eml_plan_free(p);
	return rc;
}

static uint64_t prof_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int run_range(eml_plan *p, uint32_t a, uint32_t b)
{
	for (uint32_t s = a; s < b; s++) {
		eml_step *st = &p->steps[s];
		if (p->cancel != NULL && atomic_load_explicit(p->cancel, memory_order_relaxed))
			return EML_E_ENGINE_CANCELLED;
		if (st->def == &k_if_begin) {
			if_begin_state *bs = st->c.state;
			int take = *(const uint8_t *)st->c.in[0]->data != 0;
			bs->end->taken = take;
			uint32_t t0 = s + 1, e0 = t0 + bs->n_then, e1 = e0 + bs->n_else;
			int rc = take ? run_range(p, t0, e0) : run_range(p, e0, e1);
			if (rc != EML_OK)
				return rc;
			s = e1 - 1; /* next: IfEnd */
			continue;
		}
		uint64_t t0 = p->prof_ns != NULL ? prof_now_ns() : 0;
		int rc = st->def->run(&st->c);
		if (p->prof_ns != NULL)
			p->prof_ns[s] += prof_now_ns() - t0;
		if (rc != EML_OK)
			return rc;
	}
	return EML_OK;
}

int eml_plan_run(eml_plan *p)
{
	if (p == NULL)
		return EML_E_ARG;
	return run_range(p, 0, p->n_steps);
}

size_t eml_plan_n_outputs(const eml_plan *p)
{
	return p != NULL ? p->n_outs : 0;
}

int eml_plan_output(const eml_plan *p, size_t i, eml_io_tensor *out)
{
	if (p == NULL || out == NULL || i >= p->n_outs)
		return EML_E_ARG;
	const eml_rt *t = p->outs[i];
	memset(out, 0, sizeof(*out));
	out->name = p->out_names[i];
	out->dtype = t->dtype;
	out->rank = t->rank;
	memcpy(out->dims, t->dims, sizeof(out->dims));
	out->data = t->data;
	out->bytes = t->bytes;
	return EML_OK;
}

int eml_plan_set_profile(eml_plan *p, int on)
{
	if (p == NULL)
		return EML_E_ARG;
	eml_free(p->prof_ns);
	p->prof_ns = NULL;
	if (on) {
		p->prof_ns = eml_calloc(p->n_steps + 1, sizeof(uint64_t));
		if (p->prof_ns == NULL)
			return EML_E_NOMEM;
	}
	return EML_OK;
}

int eml_plan_step_profile(const eml_plan *p, size_t i, const char **op, uint64_t *ns)
{
	if (p == NULL || i >= p->n_steps || p->prof_ns == NULL)
		return EML_E_ARG;
	*op = p->steps[i].def->op;
	*ns = p->prof_ns[i];
	return EML_OK;
}

size_t eml_plan_n_steps(const eml_plan *p)
{
	return p != NULL ? p->n_steps : 0;
}

uint64_t eml_plan_arena_bytes(const eml_plan *p)
{
	return p != NULL ? p->arena_bytes : 0;
}
