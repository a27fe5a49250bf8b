/*
 * Topology key serialization and strict parsing (docs/FORMATS.md §1).
 *
 * The body is every table of eml_model except `data`; the header carries the blob key, the
 * blob digest, the exact plaintext length and the chunk size; a trailing SHA-256 over all
 * preceding bytes protects against accidental and naive corruption (a key is a secret held by
 * trusted parties only; it travels sealed with HPKE, which authenticates it cryptographically).
 */
#include <string.h>

#include "common/cursor.h"
#include "common/arena.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "topo/topo_int.h"

/* ---------------------------------------------------------------- writing */

static int put_str(eml_buf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n > EML_MAX_STRING_LEN)
		return EML_E_TKEY_LIMIT;
	eml_buf_u32(b, (uint32_t)n);
	eml_buf_put(b, s, n);
	return EML_OK;
}

static int put_bytes(eml_buf *b, const uint8_t *s, size_t n)
{
	if (n > EML_MAX_STRING_LEN)
		return EML_E_TKEY_LIMIT;
	eml_buf_u32(b, (uint32_t)n);
	eml_buf_put(b, s, n);
	return EML_OK;
}

static void put_i32s(eml_buf *b, const int32_t *v, uint32_t n)
{
	eml_buf_u32(b, n);
	for (uint32_t i = 0; i < n; i++)
		eml_buf_u32(b, (uint32_t)v[i]);
}

static int put_attr(eml_buf *b, const eml_attr *a)
{
	int rc = EML_OK;
	EML_GUARD(put_str(b, a->name));
	eml_buf_u32(b, (uint32_t)a->type);
	eml_buf_u32(b, (uint32_t)a->orig_type);
	switch (a->type) {
	case EML_ATTR_FLOAT: {
		uint32_t u;
		memcpy(&u, &a->f, 4);
		eml_buf_u32(b, u);
		break;
	}
	case EML_ATTR_INT:
		eml_buf_u64(b, (uint64_t)a->i);
		break;
	case EML_ATTR_STRING:
		EML_GUARD(put_bytes(b, a->s, a->s_len));
		break;
	case EML_ATTR_TENSOR:
		eml_buf_u32(b, (uint32_t)a->tensor);
		break;
	case EML_ATTR_GRAPH:
		eml_buf_u32(b, (uint32_t)a->graph);
		break;
	case EML_ATTR_FLOATS:
		EML_ENSURE(a->n <= EML_MAX_ATTR_ELEMS, EML_E_TKEY_LIMIT);
		eml_buf_u32(b, a->n);
		for (uint32_t i = 0; i < a->n; i++) {
			uint32_t u;
			memcpy(&u, &a->floats[i], 4);
			eml_buf_u32(b, u);
		}
		break;
	case EML_ATTR_INTS:
		EML_ENSURE(a->n <= EML_MAX_ATTR_ELEMS, EML_E_TKEY_LIMIT);
		eml_buf_u32(b, a->n);
		for (uint32_t i = 0; i < a->n; i++)
			eml_buf_u64(b, (uint64_t)a->ints[i]);
		break;
	case EML_ATTR_STRINGS:
		EML_ENSURE(a->n <= EML_MAX_ATTR_ELEMS, EML_E_TKEY_LIMIT);
		eml_buf_u32(b, a->n);
		for (uint32_t i = 0; i < a->n; i++)
			EML_GUARD(put_bytes(b, a->strings[i], a->string_lens[i]));
		break;
	case EML_ATTR_GRAPHS:
		EML_ENSURE(a->n <= EML_MAX_ATTR_ELEMS, EML_E_TKEY_LIMIT);
		put_i32s(b, a->graphs, a->n);
		break;
	default:
		EML_FAIL(EML_E_ARG);
	}
out:
	return rc;
}

static int is_main_io(const eml_model *m, uint32_t v)
{
	const eml_graph *g = &m->graphs[0];
	for (uint32_t i = 0; i < g->n_inputs; i++)
		if (g->inputs[i] == (int32_t)v)
			return 1;
	for (uint32_t i = 0; i < g->n_outputs; i++)
		if (g->outputs[i] == (int32_t)v)
			return 1;
	return 0;
}

int eml_tkey_serialize(const eml_model *m, const uint64_t *offsets, const eml_tkey_hdr *h,
                       uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	eml_buf b;
	eml_buf_init(&b, (size_t)EML_TKEY_MAX_LEN);
	EML_ENSURE(m->n_graphs >= 1 && m->n_graphs <= EML_MAX_GRAPHS, EML_E_TKEY_LIMIT);
	EML_ENSURE(m->n_values <= EML_MAX_VALUES && m->n_tensors <= EML_MAX_TENSORS &&
	               m->n_opsets <= EML_MAX_GRAPHS,
	           EML_E_TKEY_LIMIT);

	eml_buf_put(&b, EML_TKEY_MAGIC, 8);
	eml_buf_u16(&b, EML_TKEY_VERSION);
	eml_buf_u16(&b, h->flags);
	eml_buf_u32(&b, 0); /* total length, patched below */
	eml_buf_put(&b, h->model_id, EML_MODEL_ID_LEN);
	eml_buf_put(&b, h->key, 32);
	eml_buf_put(&b, h->digest, 32);
	eml_buf_u64(&b, h->plaintext_len);
	eml_buf_u32(&b, h->chunk_size);
	eml_buf_u32(&b, 0);

	eml_buf_u64(&b, (uint64_t)m->ir_version);
	eml_buf_u32(&b, m->n_opsets);
	for (uint32_t i = 0; i < m->n_opsets; i++) {
		EML_GUARD(put_str(&b, m->opsets[i].domain));
		eml_buf_u64(&b, (uint64_t)m->opsets[i].version);
	}
	eml_buf_u32(&b, m->n_values);
	for (uint32_t i = 0; i < m->n_values; i++) {
		const eml_value *v = &m->values[i];
		EML_ENSURE(v->rank >= -1 && v->rank <= EML_MAX_RANK, EML_E_ARG);
		eml_buf_u32(&b, (uint32_t)v->dtype);
		eml_buf_u32(&b, (uint32_t)v->rank);
		for (int32_t d = 0; d < v->rank; d++) {
			eml_buf_u64(&b, (uint64_t)v->dims[d].value);
			eml_buf_u32(&b, v->dims[d].sym);
		}
		eml_buf_u32(&b, (uint32_t)v->tensor);
		int keep =
		    (h->flags & EML_TKEY_FLAG_IO_NAMES) && v->name != NULL && is_main_io(m, i);
		eml_buf_u8(&b, keep ? 1 : 0);
		if (keep)
			EML_GUARD(put_str(&b, v->name));
	}
	eml_buf_u32(&b, m->n_tensors);
	for (uint32_t i = 0; i < m->n_tensors; i++) {
		const eml_tensor *t = &m->tensors[i];
		EML_ENSURE(t->rank <= EML_MAX_RANK, EML_E_ARG);
		eml_buf_u32(&b, (uint32_t)t->dtype);
		eml_buf_u32(&b, t->rank);
		for (uint32_t d = 0; d < t->rank; d++)
			eml_buf_u64(&b, (uint64_t)t->dims[d]);
		eml_buf_u64(&b, offsets != NULL ? offsets[i] : t->offset);
		eml_buf_u64(&b, t->length);
	}
	eml_buf_u32(&b, m->n_graphs);
	for (uint32_t g = 0; g < m->n_graphs; g++) {
		const eml_graph *gr = &m->graphs[g];
		EML_ENSURE(gr->n_nodes <= EML_MAX_NODES, EML_E_TKEY_LIMIT);
		eml_buf_u32(&b, (uint32_t)gr->parent);
		put_i32s(&b, gr->inputs, gr->n_inputs);
		put_i32s(&b, gr->outputs, gr->n_outputs);
		put_i32s(&b, gr->initializers, gr->n_initializers);
		eml_buf_u32(&b, gr->n_nodes);
		for (uint32_t i = 0; i < gr->n_nodes; i++) {
			const eml_node *nd = &gr->nodes[i];
			EML_ENSURE(nd->n_inputs <= EML_MAX_NODE_IO &&
			               nd->n_outputs <= EML_MAX_NODE_IO &&
			               nd->n_attrs <= EML_MAX_ATTRS,
			           EML_E_TKEY_LIMIT);
			EML_GUARD(put_str(&b, nd->op_type));
			EML_GUARD(put_str(&b, nd->domain));
			put_i32s(&b, nd->inputs, nd->n_inputs);
			put_i32s(&b, nd->outputs, nd->n_outputs);
			eml_buf_u32(&b, nd->n_attrs);
			for (uint32_t a = 0; a < nd->n_attrs; a++)
				EML_GUARD(put_attr(&b, &nd->attrs[a]));
		}
	}
	EML_GUARD(eml_buf_error(&b));
	EML_ENSURE(b.len + EML_SHA256_LEN <= EML_TKEY_MAX_LEN, EML_E_TKEY_LIMIT);
	uint32_t total = (uint32_t)(b.len + EML_SHA256_LEN);
	memcpy(b.p + 12, &total, 4); /* little-endian hosts only (x86_64, aarch64) */
	uint8_t d[EML_SHA256_LEN];
	EML_GUARD(eml_sha256(b.p, b.len, d));
	eml_buf_put(&b, d, sizeof(d));
	EML_GUARD(eml_buf_error(&b));
	*out = eml_buf_take(&b, out_len);
out:
	eml_buf_cleanup(&b);
	return rc;
}

/* ---------------------------------------------------------------- parsing */

/* Parse-time context: the cursor plus the counts references are checked against. */
typedef struct pctx {
	eml_cursor c;
	eml_model *m;
	uint64_t plaintext_len;
} pctx;

/* The parsed topology's blocks all come from the model's arena (freed at once). */
static void *xcalloc(pctx *x, size_t n, size_t size)
{
	return eml_arena_calloc(x->m->arena, n, size);
}

/* An array of n elements, each at least `min_bytes` long on the wire: refuse counts the remaining
 * input cannot possibly hold before allocating (so a 4-byte count cannot request gigabytes). */
static int check_count(pctx *x, uint64_t n, uint64_t limit, size_t min_bytes)
{
	if (n > limit)
		return EML_E_TKEY_LIMIT;
	if (n * min_bytes > eml_cur_remaining(&x->c))
		return EML_E_TKEY_MALFORMED;
	return EML_OK;
}

static int get_u32(pctx *x, uint32_t *v)
{
	return eml_cur_u32(&x->c, v) == EML_OK ? EML_OK : EML_E_TKEY_MALFORMED;
}

static int get_i32(pctx *x, int32_t *v)
{
	uint32_t u = 0;
	int rc = get_u32(x, &u);
	*v = (int32_t)u;
	return rc;
}

static int get_i64(pctx *x, int64_t *v)
{
	return eml_cur_i64(&x->c, v) == EML_OK ? EML_OK : EML_E_TKEY_MALFORMED;
}

/* A length-prefixed byte string, copied into a NUL-terminated allocation. Text fields (names, op
 * types, domains) may not contain NUL; attribute byte strings may. */
static int get_bytes(pctx *x, int text, uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	uint32_t n;
	const uint8_t *v;
	EML_GUARD(get_u32(x, &n));
	EML_ENSURE(n <= EML_MAX_STRING_LEN, EML_E_TKEY_LIMIT);
	EML_ENSURE(eml_cur_view(&x->c, n, &v) == EML_OK, EML_E_TKEY_MALFORMED);
	if (text)
		EML_ENSURE(memchr(v, 0, n) == NULL, EML_E_TKEY_MALFORMED);
	uint8_t *s = xcalloc(x, (size_t)n + 1, 1);
	EML_ENSURE(s != NULL, EML_E_NOMEM);
	memcpy(s, v, n);
	s[n] = 0;
	*out = s;
	if (out_len != NULL)
		*out_len = n;
out:
	return rc;
}

static int get_str(pctx *x, char **out)
{
	return get_bytes(x, 1, (uint8_t **)out, NULL);
}

/* Value ids: -1 (omitted optional) allowed when `opt`. */
static int get_ids(pctx *x, int opt, uint32_t limit, uint32_t *n_out, int32_t **out)
{
	int rc = EML_OK;
	uint32_t n;
	EML_GUARD(get_u32(x, &n));
	EML_GUARD(check_count(x, n, limit, 4));
	int32_t *v = xcalloc(x, n, sizeof(int32_t));
	EML_ENSURE(v != NULL, EML_E_NOMEM);
	*out = v;
	*n_out = n;
	for (uint32_t i = 0; i < n; i++) {
		EML_GUARD(get_i32(x, &v[i]));
		int ok = (v[i] >= 0 && (uint32_t)v[i] < x->m->n_values) || (opt && v[i] == -1);
		EML_ENSURE(ok, EML_E_TKEY_BAD_REF);
	}
out:
	return rc;
}

static int get_attr(pctx *x, eml_attr *a)
{
	int rc = EML_OK;
	const eml_model *m = x->m;
	EML_GUARD(get_str(x, &a->name));
	EML_GUARD(get_i32(x, &a->type));
	EML_GUARD(get_i32(x, &a->orig_type));
	EML_ENSURE(a->orig_type == 0 || a->orig_type == EML_ATTR_FLOAT ||
	               a->orig_type == EML_ATTR_INT || a->orig_type == EML_ATTR_FLOATS ||
	               a->orig_type == EML_ATTR_INTS,
	           EML_E_TKEY_MALFORMED);
	switch (a->type) {
	case EML_ATTR_FLOAT: {
		uint32_t u;
		EML_GUARD(get_u32(x, &u));
		memcpy(&a->f, &u, 4);
		break;
	}
	case EML_ATTR_INT:
		EML_GUARD(get_i64(x, &a->i));
		break;
	case EML_ATTR_STRING:
		EML_GUARD(get_bytes(x, 0, &a->s, &a->s_len));
		break;
	case EML_ATTR_TENSOR:
		EML_GUARD(get_i32(x, &a->tensor));
		EML_ENSURE(a->tensor >= 0 && (uint32_t)a->tensor < m->n_tensors,
		           EML_E_TKEY_BAD_REF);
		break;
	case EML_ATTR_GRAPH:
		EML_GUARD(get_i32(x, &a->graph));
		EML_ENSURE(a->graph >= 1 && (uint32_t)a->graph < m->n_graphs, EML_E_TKEY_BAD_REF);
		break;
	case EML_ATTR_FLOATS:
		EML_GUARD(get_u32(x, &a->n));
		EML_GUARD(check_count(x, a->n, EML_MAX_ATTR_ELEMS, 4));
		a->floats = xcalloc(x, a->n, sizeof(float));
		EML_ENSURE(a->floats != NULL, EML_E_NOMEM);
		for (uint32_t i = 0; i < a->n; i++) {
			uint32_t u;
			EML_GUARD(get_u32(x, &u));
			memcpy(&a->floats[i], &u, 4);
		}
		break;
	case EML_ATTR_INTS:
		EML_GUARD(get_u32(x, &a->n));
		EML_GUARD(check_count(x, a->n, EML_MAX_ATTR_ELEMS, 8));
		a->ints = xcalloc(x, a->n, sizeof(int64_t));
		EML_ENSURE(a->ints != NULL, EML_E_NOMEM);
		for (uint32_t i = 0; i < a->n; i++)
			EML_GUARD(get_i64(x, &a->ints[i]));
		break;
	case EML_ATTR_STRINGS: {
		uint32_t n;
		EML_GUARD(get_u32(x, &n));
		EML_GUARD(check_count(x, n, EML_MAX_ATTR_ELEMS, 4));
		a->strings = xcalloc(x, n, sizeof(uint8_t *));
		a->string_lens = xcalloc(x, n, sizeof(size_t));
		EML_ENSURE(a->strings != NULL && a->string_lens != NULL, EML_E_NOMEM);
		a->n = n; /* strings[] is zeroed, so a partial parse frees cleanly */
		for (uint32_t i = 0; i < n; i++)
			EML_GUARD(get_bytes(x, 0, &a->strings[i], &a->string_lens[i]));
		break;
	}
	case EML_ATTR_GRAPHS: {
		uint32_t n;
		EML_GUARD(get_u32(x, &n));
		EML_GUARD(check_count(x, n, EML_MAX_ATTR_ELEMS, 4));
		a->graphs = xcalloc(x, n, sizeof(int32_t));
		EML_ENSURE(a->graphs != NULL, EML_E_NOMEM);
		a->n = n;
		for (uint32_t i = 0; i < n; i++) {
			EML_GUARD(get_i32(x, &a->graphs[i]));
			int32_t gi = a->graphs[i];
			EML_ENSURE(gi >= 1 && (uint32_t)gi < m->n_graphs, EML_E_TKEY_BAD_REF);
		}
		break;
	}
	default:
		EML_FAIL(EML_E_TKEY_MALFORMED);
	}
out:
	return rc;
}

static int dtype_known(int32_t dt)
{
	return dt == EML_DT_UNDEFINED || dt == EML_DT_STRING || eml_dtype_size(dt) > 0;
}

static int get_tensor(pctx *x, eml_tensor *t)
{
	int rc = EML_OK;
	EML_GUARD(get_i32(x, &t->dtype));
	EML_GUARD(get_u32(x, &t->rank));
	size_t es = eml_dtype_size(t->dtype);
	EML_ENSURE(es > 0, EML_E_TKEY_MALFORMED);
	EML_ENSURE(t->rank <= EML_MAX_RANK, EML_E_TKEY_MALFORMED);
	uint64_t elems = 1;
	for (uint32_t d = 0; d < t->rank; d++) {
		EML_GUARD(get_i64(x, &t->dims[d]));
		EML_ENSURE(t->dims[d] >= 0 && (uint64_t)t->dims[d] <= EML_MAX_TENSOR_ELEMS,
		           EML_E_TKEY_MALFORMED);
		elems *= (uint64_t)t->dims[d]; /* both factors <= 2^32 and elems capped below */
		EML_ENSURE(elems <= EML_MAX_TENSOR_ELEMS, EML_E_TKEY_LIMIT);
	}
	uint64_t off, len;
	EML_ENSURE(eml_cur_u64(&x->c, &off) == EML_OK, EML_E_TKEY_MALFORMED);
	EML_ENSURE(eml_cur_u64(&x->c, &len) == EML_OK, EML_E_TKEY_MALFORMED);
	EML_ENSURE(len == elems * es, EML_E_TKEY_MALFORMED);
	EML_ENSURE(off % EML_DATA_ALIGN == 0, EML_E_TKEY_TENSOR_ALIGN);
	EML_ENSURE(off <= x->plaintext_len && len <= x->plaintext_len - off,
	           EML_E_TKEY_TENSOR_RANGE);
	t->offset = off;
	t->length = len;
out:
	return rc;
}

static int get_value(pctx *x, eml_value *v)
{
	int rc = EML_OK;
	EML_GUARD(get_i32(x, &v->dtype));
	EML_GUARD(get_i32(x, &v->rank));
	EML_ENSURE(dtype_known(v->dtype), EML_E_TKEY_MALFORMED);
	EML_ENSURE(v->rank >= -1 && v->rank <= EML_MAX_RANK, EML_E_TKEY_MALFORMED);
	for (int32_t d = 0; d < v->rank; d++) {
		EML_GUARD(get_i64(x, &v->dims[d].value));
		EML_GUARD(get_u32(x, &v->dims[d].sym));
		EML_ENSURE(v->dims[d].value >= -1, EML_E_TKEY_MALFORMED);
	}
	EML_GUARD(get_i32(x, &v->tensor));
	EML_ENSURE(v->tensor >= -1 && (int64_t)v->tensor < (int64_t)x->m->n_tensors,
	           EML_E_TKEY_BAD_REF);
	uint8_t has_name;
	EML_ENSURE(eml_cur_u8(&x->c, &has_name) == EML_OK, EML_E_TKEY_MALFORMED);
	EML_ENSURE(has_name <= 1, EML_E_TKEY_MALFORMED);
	if (has_name)
		EML_GUARD(get_str(x, &v->name));
out:
	return rc;
}

/*
 * Cross-table checks once everything is read (a key may come from a hostile client, and the
 * engine builds its plan from these tables):
 *  - every GRAPH(S) attribute names a graph whose parent is the graph of the node holding it,
 *    and every subgraph is owned by exactly one attribute;
 *  - single assignment: each value is defined at most once, as a graph input, an initializer or
 *    a node output (ONNX graphs are SSA; two producers of one id would make the plan ambiguous).
 */
static int check_links(const eml_model *m)
{
	int rc = EML_OK;
	uint32_t *owners = eml_calloc(m->n_graphs, sizeof(uint32_t));
	uint8_t *defined = eml_calloc(m->n_values ? m->n_values : 1, 1);
	EML_ENSURE(owners != NULL && defined != NULL, EML_E_NOMEM);
	for (uint32_t g = 0; g < m->n_graphs; g++) {
		const eml_graph *gr = &m->graphs[g];
		for (uint32_t i = 0; i < gr->n_inputs; i++) {
			EML_ENSURE(!defined[gr->inputs[i]], EML_E_TKEY_BAD_REF);
			defined[gr->inputs[i]] = 1;
		}
		for (uint32_t i = 0; i < gr->n_initializers; i++) {
			EML_ENSURE(!defined[gr->initializers[i]], EML_E_TKEY_BAD_REF);
			defined[gr->initializers[i]] = 1;
		}
		for (uint32_t i = 0; i < gr->n_nodes; i++) {
			const eml_node *nd = &gr->nodes[i];
			for (uint32_t o = 0; o < nd->n_outputs; o++) {
				if (nd->outputs[o] < 0)
					continue;
				EML_ENSURE(!defined[nd->outputs[o]], EML_E_TKEY_BAD_REF);
				defined[nd->outputs[o]] = 1;
			}
			for (uint32_t a = 0; a < nd->n_attrs; a++) {
				const eml_attr *at = &nd->attrs[a];
				uint32_t n = at->type == EML_ATTR_GRAPH    ? 1
				             : at->type == EML_ATTR_GRAPHS ? at->n
				                                           : 0;
				for (uint32_t j = 0; j < n; j++) {
					int32_t sg =
					    at->type == EML_ATTR_GRAPH ? at->graph : at->graphs[j];
					EML_ENSURE(m->graphs[sg].parent == (int32_t)g,
					           EML_E_TKEY_BAD_REF);
					owners[sg]++;
				}
			}
		}
	}
	for (uint32_t g = 1; g < m->n_graphs; g++)
		EML_ENSURE(owners[g] == 1, EML_E_TKEY_BAD_REF);
out:
	eml_free(owners);
	eml_free(defined);
	return rc;
}

int eml_tkey_parse_body(const uint8_t *p, size_t n, uint64_t plaintext_len, eml_model **out)
{
	int rc = EML_OK;
	eml_model *m = eml_model_new();
	EML_ENSURE(m != NULL, EML_E_NOMEM);
	/* chunks of a quarter of the key: a typical key's tables fit in a few */
	m->arena = eml_arena_new(n / 4 + 4096);
	EML_ENSURE(m->arena != NULL, EML_E_NOMEM);
	pctx x = {.m = m, .plaintext_len = plaintext_len};
	eml_cur_init(&x.c, p, n);
	uint32_t cnt;

	EML_GUARD(get_i64(&x, &m->ir_version));
	EML_GUARD(get_u32(&x, &cnt));
	EML_GUARD(check_count(&x, cnt, EML_MAX_GRAPHS, 12));
	m->opsets = xcalloc(&x, cnt, sizeof(eml_opset));
	EML_ENSURE(m->opsets != NULL, EML_E_NOMEM);
	m->n_opsets = cnt;
	for (uint32_t i = 0; i < cnt; i++) {
		EML_GUARD(get_str(&x, &m->opsets[i].domain));
		EML_GUARD(get_i64(&x, &m->opsets[i].version));
	}

	/* Values refer to tensors, whose table comes next: their tensor ids are range-checked
	 * against the limit here and against the real tensor count once it is known. */
	EML_GUARD(get_u32(&x, &cnt));
	EML_GUARD(check_count(&x, cnt, EML_MAX_VALUES, 13));
	m->values = xcalloc(&x, cnt, sizeof(eml_value));
	EML_ENSURE(m->values != NULL, EML_E_NOMEM);
	m->n_values = cnt;
	m->n_tensors = EML_MAX_TENSORS; /* provisional bound, tightened below */
	for (uint32_t i = 0; i < cnt; i++)
		EML_GUARD(get_value(&x, &m->values[i]));
	m->n_tensors = 0;

	EML_GUARD(get_u32(&x, &cnt));
	EML_GUARD(check_count(&x, cnt, EML_MAX_TENSORS, 24));
	m->tensors = xcalloc(&x, cnt, sizeof(eml_tensor));
	EML_ENSURE(m->tensors != NULL, EML_E_NOMEM);
	m->n_tensors = cnt;
	for (uint32_t i = 0; i < cnt; i++)
		EML_GUARD(get_tensor(&x, &m->tensors[i]));
	for (uint32_t i = 0; i < m->n_values; i++)
		EML_ENSURE((int64_t)m->values[i].tensor < (int64_t)m->n_tensors,
		           EML_E_TKEY_BAD_REF);

	EML_GUARD(get_u32(&x, &cnt));
	EML_ENSURE(cnt >= 1, EML_E_TKEY_MALFORMED);
	EML_GUARD(check_count(&x, cnt, EML_MAX_GRAPHS, 20));
	m->graphs = xcalloc(&x, cnt, sizeof(eml_graph));
	EML_ENSURE(m->graphs != NULL, EML_E_NOMEM);
	m->n_graphs = cnt;
	uint64_t total_nodes = 0;
	for (uint32_t g = 0; g < cnt; g++) {
		eml_graph *gr = &m->graphs[g];
		int32_t parent;
		EML_GUARD(get_i32(&x, &parent));
		if (g == 0)
			EML_ENSURE(parent == -1, EML_E_TKEY_BAD_REF);
		else
			EML_ENSURE(parent >= 0 && (uint32_t)parent < cnt && (uint32_t)parent != g,
			           EML_E_TKEY_BAD_REF);
		gr->parent = parent;
		EML_GUARD(get_ids(&x, 0, EML_MAX_NODE_IO, &gr->n_inputs, &gr->inputs));
		EML_GUARD(get_ids(&x, 0, EML_MAX_NODE_IO, &gr->n_outputs, &gr->outputs));
		EML_GUARD(get_ids(&x, 0, EML_MAX_TENSORS, &gr->n_initializers, &gr->initializers));
		for (uint32_t i = 0; i < gr->n_initializers; i++)
			EML_ENSURE(m->values[gr->initializers[i]].tensor >= 0, EML_E_TKEY_BAD_REF);
		uint32_t nn;
		EML_GUARD(get_u32(&x, &nn));
		EML_GUARD(check_count(&x, nn, EML_MAX_NODES, 20));
		total_nodes += nn;
		EML_ENSURE(total_nodes <= EML_MAX_NODES, EML_E_TKEY_LIMIT);
		gr->nodes = xcalloc(&x, nn, sizeof(eml_node));
		EML_ENSURE(gr->nodes != NULL, EML_E_NOMEM);
		gr->n_nodes = nn;
		for (uint32_t i = 0; i < nn; i++) {
			eml_node *nd = &gr->nodes[i];
			EML_GUARD(get_str(&x, &nd->op_type));
			EML_GUARD(get_str(&x, &nd->domain));
			EML_GUARD(get_ids(&x, 1, EML_MAX_NODE_IO, &nd->n_inputs, &nd->inputs));
			EML_GUARD(get_ids(&x, 1, EML_MAX_NODE_IO, &nd->n_outputs, &nd->outputs));
			uint32_t na;
			EML_GUARD(get_u32(&x, &na));
			EML_GUARD(check_count(&x, na, EML_MAX_ATTRS, 12));
			nd->attrs = xcalloc(&x, na, sizeof(eml_attr));
			EML_ENSURE(nd->attrs != NULL, EML_E_NOMEM);
			nd->n_attrs = na;
			for (uint32_t a = 0; a < na; a++)
				EML_GUARD(get_attr(&x, &nd->attrs[a]));
		}
	}
	EML_GUARD(check_links(m));
	for (uint32_t g = 1; g < cnt; g++) {
		int depth = 0;
		for (int32_t pg = m->graphs[g].parent; pg != -1; pg = m->graphs[pg].parent) {
			depth++;
			EML_ENSURE(depth <= EML_MAX_SUBGRAPH_DEPTH, EML_E_TKEY_LIMIT);
		}
	}
	rc = eml_cur_end(&x.c) == EML_OK ? EML_OK : EML_E_TKEY_TRAILING;
	if (rc != EML_OK)
		goto out;
	*out = m;
	m = NULL;
out:
	eml_model_free(m);
	return rc;
}

int eml_tkey_parse_header(const uint8_t *p, size_t n, eml_tkey_hdr *h)
{
	int rc = EML_OK;
	static const size_t min_len = EML_TKEY_HEADER_LEN + EML_SHA256_LEN;
	memset(h, 0, sizeof(*h));
	if (n < 8) {
		EML_ENSURE(memcmp(p, EML_TKEY_MAGIC, n) == 0, EML_E_TKEY_MAGIC);
		EML_FAIL(EML_E_TKEY_TRUNCATED);
	}
	EML_ENSURE(memcmp(p, EML_TKEY_MAGIC, 8) == 0, EML_E_TKEY_MAGIC);
	eml_cursor c;
	eml_cur_init(&c, p, n);
	EML_GUARD(eml_cur_skip(&c, 8));
	uint16_t version;
	uint32_t total;
	EML_ENSURE(eml_cur_u16(&c, &version) == EML_OK, EML_E_TKEY_TRUNCATED);
	EML_ENSURE(version == EML_TKEY_VERSION, EML_E_TKEY_VERSION);
	EML_ENSURE(eml_cur_u16(&c, &h->flags) == EML_OK, EML_E_TKEY_TRUNCATED);
	EML_ENSURE(eml_cur_u32(&c, &total) == EML_OK, EML_E_TKEY_TRUNCATED);
	EML_ENSURE(total >= min_len, EML_E_TKEY_MALFORMED);
	EML_ENSURE(total <= EML_TKEY_MAX_LEN, EML_E_TKEY_LIMIT);
	EML_ENSURE(n >= total, EML_E_TKEY_TRUNCATED);
	EML_ENSURE(n == total, EML_E_TKEY_TRAILING);
	/* Integrity before interpreting anything else (constant-time compare of the digest). */
	uint8_t d[EML_SHA256_LEN];
	EML_GUARD(eml_sha256(p, n - EML_SHA256_LEN, d));
	EML_ENSURE(eml_ct_eq(d, p + n - EML_SHA256_LEN, EML_SHA256_LEN), EML_E_TKEY_INTEGRITY);
	EML_ENSURE((h->flags & ~EML_TKEY_FLAG_IO_NAMES) == 0, EML_E_TKEY_MALFORMED);
	uint32_t reserved;
	EML_GUARD(eml_cur_copy(&c, h->model_id, EML_MODEL_ID_LEN));
	EML_GUARD(eml_cur_copy(&c, h->key, 32));
	EML_GUARD(eml_cur_copy(&c, h->digest, 32));
	EML_GUARD(eml_cur_u64(&c, &h->plaintext_len));
	EML_GUARD(eml_cur_u32(&c, &h->chunk_size));
	EML_GUARD(eml_cur_u32(&c, &reserved));
	EML_ENSURE(reserved == 0, EML_E_TKEY_MALFORMED);
	EML_ENSURE(h->plaintext_len <= EML_MAX_DATA_BYTES, EML_E_TKEY_LIMIT);
	EML_ENSURE(eml_blob_chunk_size_ok(h->chunk_size), EML_E_TKEY_MALFORMED);
out:
	if (rc != EML_OK)
		eml_wipe(h, sizeof(*h));
	return rc;
}

int eml_tkey_parse(const uint8_t *p, size_t n, eml_tkey **out)
{
	int rc = EML_OK;
	eml_tkey *k = NULL;
	EML_ENSURE(out != NULL && (p != NULL || n == 0), EML_E_ARG);
	*out = NULL;
	EML_ENSURE(p != NULL, EML_E_TKEY_TRUNCATED);
	k = eml_calloc(1, sizeof(*k));
	EML_ENSURE(k != NULL, EML_E_NOMEM);
	EML_GUARD(eml_tkey_parse_header(p, n, &k->h));
	EML_GUARD(eml_tkey_parse_body(p + EML_TKEY_HEADER_LEN,
	                              n - EML_TKEY_HEADER_LEN - EML_SHA256_LEN, k->h.plaintext_len,
	                              &k->m));
	/* Names only where the flag says they were kept. */
	if (!(k->h.flags & EML_TKEY_FLAG_IO_NAMES))
		for (uint32_t i = 0; i < k->m->n_values; i++)
			EML_ENSURE(k->m->values[i].name == NULL, EML_E_TKEY_MALFORMED);
	k->raw = eml_memdup(p, n);
	EML_ENSURE(k->raw != NULL, EML_E_NOMEM);
	k->raw_len = n;
	*out = k;
	k = NULL;
out:
	eml_tkey_free(k);
	return rc;
}

void eml_tkey_free(eml_tkey *k)
{
	if (k == NULL)
		return;
	eml_model_free(k->m);
	eml_free(k->raw);
	eml_free(k); /* wipes the header copy, blob key included */
}

const eml_model *eml_tkey_model(const eml_tkey *k)
{
	return k->m;
}

void eml_tkey_model_id(const eml_tkey *k, uint8_t id[EML_MODEL_ID_LEN])
{
	memcpy(id, k->h.model_id, EML_MODEL_ID_LEN);
}

uint64_t eml_tkey_plaintext_len(const eml_tkey *k)
{
	return k->h.plaintext_len;
}

void eml_tkey_blob_digest(const eml_tkey *k, uint8_t d[32])
{
	memcpy(d, k->h.digest, 32);
}

uint32_t eml_tkey_chunk_size(const eml_tkey *k)
{
	return k->h.chunk_size;
}

int eml_tkey_has_io_names(const eml_tkey *k)
{
	return (k->h.flags & EML_TKEY_FLAG_IO_NAMES) != 0;
}

int eml_tkey_model_copy(const eml_tkey *k, eml_model **out)
{
	return eml_tkey_parse_body(k->raw + EML_TKEY_HEADER_LEN,
	                           k->raw_len - EML_TKEY_HEADER_LEN - EML_SHA256_LEN,
	                           k->h.plaintext_len, out);
}

int eml_tkey_peek_model_id(const uint8_t *p, size_t n, uint8_t id[EML_MODEL_ID_LEN])
{
	eml_tkey_hdr h;
	int rc = eml_tkey_parse_header(p, n, &h);
	if (rc == EML_OK)
		memcpy(id, h.model_id, EML_MODEL_ID_LEN);
	eml_wipe(&h, sizeof(h)); /* it holds the blob key */
	return rc;
}
