/*
 * ONNX ModelProto -> model IR (src/model/model.h).
 *
 * Spec: onnx/onnx.proto (IR.md: "Graphs", "Names Within a Graph", "External Data",
 * "Attributes"), operator docs for Constant. The decoded protobuf lives in eml_alloc memory
 * (an allocator that wipes on free), so weights never linger in the general heap.
 *
 * Every size is checked against a named limit (model.h, onnx.h) before the IR arrays grow; every
 * malformed input maps to one specific result code; nothing is ever written to disk here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "onnx/onnx.h"
#include "onnx/onnx.pb-c.h"
#include "onnx/pbc_alloc.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX loader copies little-endian tensor bytes as is (onnx.proto raw_data)"
#endif

/* ---- a string -> int32 hash map (keys borrowed from the decoded protobuf) ---- */

typedef struct name_map {
	const char **keys;
	int32_t *vals;
	size_t cap, n;
} name_map;

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static void map_cleanup(name_map *mp)
{
	eml_free(mp->keys);
	eml_free(mp->vals);
	memset(mp, 0, sizeof(*mp));
}

static int map_get(const name_map *mp, const char *k, int32_t *v)
{
	if (mp->cap == 0)
		return 0;
	for (size_t i = str_hash(k) & (mp->cap - 1);; i = (i + 1) & (mp->cap - 1)) {
		if (mp->keys[i] == NULL)
			return 0;
		if (strcmp(mp->keys[i], k) == 0) {
			*v = mp->vals[i];
			return 1;
		}
	}
}

static int map_put(name_map *mp, const char *k, int32_t v)
{
	if ((mp->n + 1) * 2 > mp->cap) {
		size_t ncap = mp->cap ? mp->cap * 2 : 64;
		const char **nk = eml_calloc(ncap, sizeof(*nk));
		int32_t *nv = eml_calloc(ncap, sizeof(*nv));
		if (nk == NULL || nv == NULL) {
			eml_free(nk);
			eml_free(nv);
			return EML_E_NOMEM;
		}
		for (size_t i = 0; i < mp->cap; i++) {
			if (mp->keys[i] == NULL)
				continue;
			size_t j = str_hash(mp->keys[i]) & (ncap - 1);
			while (nk[j] != NULL)
				j = (j + 1) & (ncap - 1);
			nk[j] = mp->keys[i];
			nv[j] = mp->vals[i];
		}
		eml_free(mp->keys);
		eml_free(mp->vals);
		mp->keys = nk;
		mp->vals = nv;
		mp->cap = ncap;
	}
	size_t i = str_hash(k) & (mp->cap - 1);
	while (mp->keys[i] != NULL)
		i = (i + 1) & (mp->cap - 1);
	mp->keys[i] = k;
	mp->vals[i] = v;
	mp->n++;
	return EML_OK;
}

/* ---- nesting pre-scan ----
 * protobuf-c decodes sub-messages recursively without a depth limit, and ONNX's schema is
 * recursive (GraphProto -> NodeProto -> AttributeProto -> GraphProto; TypeProto -> Sequence ->
 * TypeProto), so a few bytes per level could exhaust the stack. Walk the wire format first
 * (https://protobuf.dev/programming-guides/encoding/), following only the fields the schema
 * declares as messages, and refuse nesting deeper than EML_ONNX_MAX_MESSAGE_DEPTH. */

static int read_varint(eml_cursor *c, uint64_t *v)
{
	uint64_t r = 0;
	for (int i = 0; i < 10; i++) {
		uint8_t b;
		if (eml_cur_u8(c, &b) != EML_OK)
			return EML_E_ONNX_PARSE;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = r;
			return EML_OK;
		}
	}
	return EML_E_ONNX_PARSE;
}

static int scan_depth(const uint8_t *p, size_t n, const ProtobufCMessageDescriptor *d, int depth)
{
	int rc = EML_OK;
	eml_cursor c;
	EML_ENSURE(depth <= EML_ONNX_MAX_MESSAGE_DEPTH, EML_E_ONNX_LIMIT);
	eml_cur_init(&c, p, n);
	while (eml_cur_remaining(&c) > 0) {
		uint64_t key, v;
		EML_GUARD(read_varint(&c, &key));
		switch (key & 7) {
		case 0: /* varint */
			EML_GUARD(read_varint(&c, &v));
			break;
		case 1: /* 64-bit */
			EML_ENSURE(eml_cur_skip(&c, 8) == EML_OK, EML_E_ONNX_PARSE);
			break;
		case 5: /* 32-bit */
			EML_ENSURE(eml_cur_skip(&c, 4) == EML_OK, EML_E_ONNX_PARSE);
			break;
		case 2: { /* length-delimited */
			const uint8_t *sub;
			EML_GUARD(read_varint(&c, &v));
			EML_ENSURE(v <= eml_cur_remaining(&c), EML_E_ONNX_PARSE);
			EML_ENSURE(eml_cur_view(&c, (size_t)v, &sub) == EML_OK, EML_E_ONNX_PARSE);
			uint64_t fnum = key >> 3;
			const ProtobufCFieldDescriptor *f =
			    fnum <= UINT32_MAX
			        ? protobuf_c_message_descriptor_get_field(d, (unsigned)fnum)
			        : NULL;
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE)
				EML_GUARD(scan_depth(sub, (size_t)v, f->descriptor, depth + 1));
			break;
		}
		default: /* groups (3, 4) are not used by onnx.proto; 6, 7 do not exist */
			EML_FAIL(EML_E_ONNX_PARSE);
		}
	}
out:
	return rc;
}

/* ---- loader context ---- */

typedef struct scope {
	const struct scope *parent;
	name_map names;
} scope;

typedef struct loader {
	eml_model *m;
	uint32_t cap_values, cap_tensors, cap_graphs;
	uint64_t data_cap;
	uint64_t total_nodes;
	const char *base_dir; /* NULL: external data refused */
	char base_real[PATH_MAX];
	int base_resolved;
	name_map symbols;
} loader;

static int check_str(const char *s, int allow_empty)
{
	if (s == NULL)
		return allow_empty ? EML_OK : EML_E_ONNX_GRAPH;
	size_t n = strnlen(s, EML_MAX_STRING_LEN + 1);
	if (n > EML_MAX_STRING_LEN)
		return EML_E_ONNX_LIMIT;
	if (n == 0 && !allow_empty)
		return EML_E_ONNX_GRAPH;
	return EML_OK;
}

static const char *scope_lookup(const scope *sc, const char *name, int32_t *id)
{
	for (; sc != NULL; sc = sc->parent)
		if (map_get(&sc->names, name, id))
			return name;
	return NULL;
}

static int new_value(loader *ld, int32_t *id)
{
	eml_model *m = ld->m;
	if (m->n_values >= EML_MAX_VALUES)
		return EML_E_ONNX_LIMIT;
	if (m->n_values == ld->cap_values) {
		uint32_t ncap = ld->cap_values ? ld->cap_values * 2 : 64;
		eml_value *nv = eml_realloc(m->values, (size_t)ncap * sizeof(*nv));
		if (nv == NULL)
			return EML_E_NOMEM;
		m->values = nv;
		ld->cap_values = ncap;
	}
	eml_value *v = &m->values[m->n_values];
	memset(v, 0, sizeof(*v));
	v->dtype = EML_DT_UNDEFINED;
	v->rank = -1;
	v->tensor = -1;
	*id = (int32_t)m->n_values++;
	return EML_OK;
}

/* Define `name` in the current scope as a new value. A name defined twice in one graph breaks
 * ONNX's single-assignment rule (IR.md "Names Within a Graph"). */
static int define_value(loader *ld, scope *sc, const char *name, int32_t *id)
{
	int rc = EML_OK;
	int32_t old;
	EML_GUARD(check_str(name, 0));
	EML_ENSURE(!map_get(&sc->names, name, &old), EML_E_ONNX_DUPLICATE_NAME);
	EML_GUARD(new_value(ld, id));
	EML_GUARD(map_put(&sc->names, name, *id));
out:
	return rc;
}

static int supported_dtype(int32_t dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
	case EML_DT_FLOAT16:
	case EML_DT_DOUBLE:
	case EML_DT_INT64:
	case EML_DT_INT32:
	case EML_DT_INT8:
	case EML_DT_UINT8:
	case EML_DT_BOOL:
		return 1;
	default:
		return 0;
	}
}

static int dtype_rc(int32_t dt)
{
	if (dt == EML_DT_STRING)
		return EML_E_ONNX_STRING_TENSOR;
	return supported_dtype(dt) ? EML_OK : EML_E_ONNX_DTYPE;
}

/* Reserve `len` bytes in m->data at the next 64-byte boundary; returns the offset. */
static int data_reserve(loader *ld, uint64_t len, uint64_t *off)
{
	eml_model *m = ld->m;
	uint64_t start = (m->data_len + EML_DATA_ALIGN - 1) & ~(uint64_t)(EML_DATA_ALIGN - 1);
	if (len > EML_MAX_DATA_BYTES || start > EML_MAX_DATA_BYTES - len)
		return EML_E_ONNX_LIMIT;
	uint64_t end = start + len;
	if (end > ld->data_cap || m->data == NULL) {
		uint64_t ncap = ld->data_cap ? ld->data_cap : 4096;
		while (ncap < end)
			ncap *= 2;
		if (ncap > EML_MAX_DATA_BYTES)
			ncap = end > 4096 ? end : 4096;
		if (ncap > SIZE_MAX)
			return EML_E_ONNX_LIMIT;
		uint8_t *nd = eml_realloc(m->data, (size_t)ncap);
		if (nd == NULL)
			return EML_E_NOMEM;
		m->data = nd;
		ld->data_cap = ncap;
	}
	/* Alignment gaps are zero so the plaintext area never holds stale heap bytes. */
	memset(m->data + m->data_len, 0, (size_t)(end - m->data_len));
	m->data_len = end;
	*off = start;
	return EML_OK;
}

static int new_tensor(loader *ld, int32_t dtype, uint32_t rank, const int64_t *dims, int32_t *idx,
                      uint8_t **dst, uint64_t *bytes)
{
	int rc = EML_OK;
	eml_model *m = ld->m;
	EML_GUARD(dtype_rc(dtype));
	EML_ENSURE(rank <= EML_MAX_RANK, EML_E_ONNX_LIMIT);
	EML_ENSURE(m->n_tensors < EML_MAX_TENSORS, EML_E_ONNX_LIMIT);
	uint64_t elems = 1;
	for (uint32_t i = 0; i < rank; i++) {
		EML_ENSURE(dims[i] >= 0, EML_E_ONNX_TENSOR);
		if (dims[i] != 0 && elems > EML_MAX_TENSOR_ELEMS / (uint64_t)dims[i])
			EML_FAIL(EML_E_ONNX_LIMIT);
		elems *= (uint64_t)dims[i];
	}
	EML_ENSURE(elems <= EML_MAX_TENSOR_ELEMS, EML_E_ONNX_LIMIT);
	uint64_t len = elems * eml_dtype_size(dtype);
	if (m->n_tensors == ld->cap_tensors) {
		uint32_t ncap = ld->cap_tensors ? ld->cap_tensors * 2 : 64;
		eml_tensor *nt = eml_realloc(m->tensors, (size_t)ncap * sizeof(*nt));
		EML_ENSURE(nt != NULL, EML_E_NOMEM);
		m->tensors = nt;
		ld->cap_tensors = ncap;
	}
	uint64_t off;
	EML_GUARD(data_reserve(ld, len, &off));
	eml_tensor *t = &m->tensors[m->n_tensors];
	memset(t, 0, sizeof(*t));
	t->dtype = dtype;
	t->rank = rank;
	for (uint32_t i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	t->offset = off;
	t->length = len;
	*idx = (int32_t)m->n_tensors++;
	*dst = m->data + off;
	*bytes = len;
out:
	return rc;
}

/* ---- data area sizing ----
 * One pass over the decoded message sums the tensor bytes actually present in it (never the
 * sizes that dims merely claim, so a hostile file cannot make us reserve more than its own size),
 * so that the data area is allocated once instead of grown by doubling (peak memory). External
 * data and malformed tensors are left to the normal growth path. */

static uint64_t align_up(uint64_t v)
{
	return (v + EML_DATA_ALIGN - 1) & ~(uint64_t)(EML_DATA_ALIGN - 1);
}

static uint64_t present_bytes(const Onnx__TensorProto *t)
{
	if (t == NULL)
		return 0;
	uint64_t n = t->has_raw_data ? t->raw_data.len : 0;
	n += (uint64_t)t->n_float_data * 4 + (uint64_t)t->n_int64_data * 8 +
	     (uint64_t)t->n_double_data * 8 + (uint64_t)t->n_int32_data * 4;
	return align_up(n);
}

static uint64_t graph_bytes(const Onnx__GraphProto *gp, int depth)
{
	uint64_t n = 0;
	if (gp == NULL || depth > EML_MAX_SUBGRAPH_DEPTH)
		return 0;
	for (size_t i = 0; i < gp->n_initializer; i++)
		n += present_bytes(gp->initializer[i]);
	for (size_t i = 0; i < gp->n_node; i++) {
		const Onnx__NodeProto *nd = gp->node[i];
		if (nd == NULL)
			continue;
		int is_const = nd->op_type != NULL && strcmp(nd->op_type, "Constant") == 0;
		for (size_t k = 0; k < nd->n_attribute; k++) {
			const Onnx__AttributeProto *a = nd->attribute[k];
			if (a == NULL)
				continue;
			n += present_bytes(a->t);
			n += graph_bytes(a->g, depth + 1);
			for (size_t j = 0; j < a->n_graphs; j++)
				n += graph_bytes(a->graphs[j], depth + 1);
			if (is_const) /* value_float(s) / value_int(s) become tensors too */
				n += align_up((uint64_t)a->n_floats * 4 + (uint64_t)a->n_ints * 8 +
				              (a->has_f || a->has_i ? 8 : 0));
		}
	}
	return n;
}

/* ---- external data (IR.md "External Data") ---- */

static int parse_u64(const char *s, uint64_t *v)
{
	if (s == NULL || *s == '\0' || strnlen(s, 21) > 20)
		return EML_E_ONNX_EXTERNAL_DATA;
	uint64_t r = 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return EML_E_ONNX_EXTERNAL_DATA;
		uint64_t d = (uint64_t)(*s - '0');
		if (r > (UINT64_MAX - d) / 10)
			return EML_E_ONNX_EXTERNAL_DATA;
		r = r * 10 + d;
	}
	*v = r;
	return EML_OK;
}

/* A location must be a relative path that stays inside the model's folder: no absolute path, no
 * ".." component, and (checked after resolving) no symlink leading outside. */
static int check_location_syntax(const char *loc)
{
	if (loc == NULL || *loc == '\0')
		return EML_E_ONNX_EXTERNAL_DATA;
	if (strnlen(loc, EML_MAX_STRING_LEN + 1) > EML_MAX_STRING_LEN)
		return EML_E_ONNX_LIMIT;
	if (loc[0] == '/' || loc[0] == '\\')
		return EML_E_ONNX_EXTERNAL_PATH;
	const char *p = loc;
	while (*p != '\0') {
		const char *e = p;
		while (*e != '\0' && *e != '/' && *e != '\\')
			e++;
		if (e - p == 2 && p[0] == '.' && p[1] == '.')
			return EML_E_ONNX_EXTERNAL_PATH;
		p = *e != '\0' ? e + 1 : e;
	}
	return EML_OK;
}

static int read_external(loader *ld, const Onnx__TensorProto *t, uint8_t *dst, uint64_t bytes)
{
	int rc = EML_OK;
	int fd = -1;
	const char *loc = NULL, *off_s = NULL, *len_s = NULL;
	char path[PATH_MAX], real[PATH_MAX];
	for (size_t i = 0; i < t->n_external_data; i++) {
		const Onnx__StringStringEntryProto *e = t->external_data[i];
		EML_ENSURE(e != NULL && e->key != NULL, EML_E_ONNX_EXTERNAL_DATA);
		if (strcmp(e->key, "location") == 0)
			loc = e->value;
		else if (strcmp(e->key, "offset") == 0)
			off_s = e->value;
		else if (strcmp(e->key, "length") == 0)
			len_s = e->value;
	}
	EML_GUARD(check_location_syntax(loc));
	EML_ENSURE(ld->base_dir != NULL, EML_E_ONNX_EXTERNAL_DATA);
	uint64_t off = 0, len = bytes;
	if (off_s != NULL)
		EML_GUARD(parse_u64(off_s, &off));
	if (len_s != NULL)
		EML_GUARD(parse_u64(len_s, &len));
	EML_ENSURE(len == bytes, EML_E_ONNX_EXTERNAL_DATA);
	if (!ld->base_resolved) {
		EML_ENSURE(realpath(ld->base_dir, ld->base_real) != NULL, EML_E_ONNX_EXTERNAL_DATA);
		ld->base_resolved = 1;
	}
	int n = snprintf(path, sizeof(path), "%s/%s", ld->base_real, loc);
	EML_ENSURE(n > 0 && (size_t)n < sizeof(path), EML_E_ONNX_LIMIT);
	EML_ENSURE(realpath(path, real) != NULL, EML_E_ONNX_EXTERNAL_DATA);
	size_t bl = strlen(ld->base_real);
	/* The resolved file must lie strictly below the resolved folder ("/" is its own case). */
	int inside = strncmp(real, ld->base_real, bl) == 0 &&
	             (real[bl] == '/' || (bl == 1 && ld->base_real[0] == '/'));
	EML_ENSURE(strcmp(real, ld->base_real) != 0, EML_E_ONNX_EXTERNAL_DATA); /* the folder */
	EML_ENSURE(inside, EML_E_ONNX_EXTERNAL_PATH);
	/* O_NOFOLLOW: the resolved path has no symlink left; refuse one swapped in since. */
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	EML_ENSURE(fd >= 0, EML_E_ONNX_EXTERNAL_DATA);
	struct stat st;
	EML_ENSURE(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), EML_E_ONNX_EXTERNAL_DATA);
	EML_ENSURE(off <= (uint64_t)st.st_size && len <= (uint64_t)st.st_size - off,
	           EML_E_ONNX_EXTERNAL_DATA);
	/* Without "length" the data runs to the end of the file (IR.md "External Data"). */
	EML_ENSURE(len_s != NULL || (uint64_t)st.st_size - off == len, EML_E_ONNX_EXTERNAL_DATA);
	uint64_t got = 0;
	while (got < len) {
		size_t want =
		    (len - got) > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)(len - got);
		ssize_t r = pread(fd, dst + got, want, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		EML_ENSURE(r > 0, EML_E_ONNX_EXTERNAL_DATA);
		got += (uint64_t)r;
	}
out:
	if (fd >= 0)
		close(fd);
	eml_wipe(path, sizeof(path));
	eml_wipe(real, sizeof(real));
	return rc;
}

/* ---- tensors ---- */

static int load_tensor(loader *ld, const Onnx__TensorProto *t, int32_t *idx)
{
	int rc = EML_OK;
	EML_ENSURE(t != NULL, EML_E_ONNX_TENSOR);
	EML_ENSURE(t->has_data_type, EML_E_ONNX_TENSOR);
	EML_GUARD(dtype_rc(t->data_type));
	EML_ENSURE(t->segment == NULL, EML_E_ONNX_TENSOR);
	EML_ENSURE(t->n_dims <= EML_MAX_RANK, EML_E_ONNX_LIMIT);
	uint8_t *dst;
	uint64_t bytes;
	EML_GUARD(new_tensor(ld, t->data_type, (uint32_t)t->n_dims, t->dims, idx, &dst, &bytes));
	uint64_t elems = eml_tensor_elems(&ld->m->tensors[*idx]);
	int typed = (t->n_float_data > 0) + (t->n_int32_data > 0) + (t->n_int64_data > 0) +
	            (t->n_double_data > 0) + (t->n_uint64_data > 0) + (t->n_string_data > 0);
	int external =
	    t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	EML_ENSURE(!t->has_data_location || external ||
	               t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT,
	           EML_E_ONNX_TENSOR);
	/* Exactly one data source (raw_data, one typed field, or external). */
	EML_ENSURE(typed + (t->has_raw_data != 0) + external <= 1, EML_E_ONNX_TENSOR);
	if (external) {
		EML_GUARD(read_external(ld, t, dst, bytes));
	} else if (t->has_raw_data) {
		EML_ENSURE(t->raw_data.len == bytes, EML_E_ONNX_TENSOR);
		if (bytes > 0)
			memcpy(dst, t->raw_data.data, (size_t)bytes);
	} else if (elems == 0) {
		EML_ENSURE(typed == 0, EML_E_ONNX_TENSOR);
	} else {
		switch (t->data_type) {
		case EML_DT_FLOAT:
			EML_ENSURE(t->n_float_data == elems, EML_E_ONNX_TENSOR);
			memcpy(dst, t->float_data, (size_t)bytes);
			break;
		case EML_DT_DOUBLE:
			EML_ENSURE(t->n_double_data == elems, EML_E_ONNX_TENSOR);
			memcpy(dst, t->double_data, (size_t)bytes);
			break;
		case EML_DT_INT64:
			EML_ENSURE(t->n_int64_data == elems, EML_E_ONNX_TENSOR);
			memcpy(dst, t->int64_data, (size_t)bytes);
			break;
		case EML_DT_INT32:
			EML_ENSURE(t->n_int32_data == elems, EML_E_ONNX_TENSOR);
			memcpy(dst, t->int32_data, (size_t)bytes);
			break;
		default: /* int8, uint8, bool, float16 travel in int32_data (onnx.proto) */
			EML_ENSURE(t->n_int32_data == elems, EML_E_ONNX_TENSOR);
			for (uint64_t i = 0; i < elems; i++) {
				int32_t v = t->int32_data[i];
				switch (t->data_type) {
				case EML_DT_INT8:
					EML_ENSURE(v >= -128 && v <= 127, EML_E_ONNX_TENSOR);
					dst[i] = (uint8_t)(int8_t)v;
					break;
				case EML_DT_UINT8:
					EML_ENSURE(v >= 0 && v <= 255, EML_E_ONNX_TENSOR);
					dst[i] = (uint8_t)v;
					break;
				case EML_DT_BOOL:
					EML_ENSURE(v == 0 || v == 1, EML_E_ONNX_TENSOR);
					dst[i] = (uint8_t)v;
					break;
				default: /* float16: the IEEE half bits in the low 16 bits */
					EML_ENSURE(v >= 0 && v <= 0xffff, EML_E_ONNX_TENSOR);
					dst[2 * i] = (uint8_t)(v & 0xff);
					dst[2 * i + 1] = (uint8_t)(v >> 8);
					break;
				}
			}
			break;
		}
	}
out:
	return rc;
}

/* A tensor from bytes already in host form (Constant's value_float(s)/value_int(s)). */
static int tensor_from_bytes(loader *ld, int32_t dtype, uint32_t rank, int64_t dim0, const void *p,
                             size_t n, int32_t *idx)
{
	int rc = EML_OK;
	uint8_t *dst;
	uint64_t bytes;
	EML_GUARD(new_tensor(ld, dtype, rank, &dim0, idx, &dst, &bytes));
	EML_ENSURE(bytes == n, EML_E_INTERNAL);
	if (n > 0)
		memcpy(dst, p, n);
out:
	return rc;
}

/* ---- value types (graph inputs/outputs) ---- */

static int set_value_type(loader *ld, int32_t id, const Onnx__TypeProto *tp)
{
	int rc = EML_OK;
	if (tp == NULL)
		return EML_OK; /* untyped (allowed for subgraph I/O) */
	if (tp->value_case == ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE)
		return EML_E_ONNX_SPARSE;
	EML_ENSURE(tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, EML_E_ONNX_DTYPE);
	const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
	EML_ENSURE(tt != NULL, EML_E_ONNX_GRAPH);
	eml_value v = ld->m->values[id];
	if (tt->has_elem_type && tt->elem_type != 0) {
		EML_GUARD(dtype_rc(tt->elem_type));
		v.dtype = tt->elem_type;
	}
	if (tt->shape != NULL) {
		EML_ENSURE(tt->shape->n_dim <= EML_MAX_RANK, EML_E_ONNX_LIMIT);
		v.rank = (int32_t)tt->shape->n_dim;
		for (size_t i = 0; i < tt->shape->n_dim; i++) {
			const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
			EML_ENSURE(d != NULL, EML_E_ONNX_GRAPH);
			v.dims[i].value = -1;
			v.dims[i].sym = 0;
			if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
				EML_ENSURE(d->dim_value >= 0, EML_E_ONNX_GRAPH);
				v.dims[i].value = d->dim_value;
			} else if (d->value_case ==
			               ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
			           d->dim_param != NULL && d->dim_param[0] != '\0') {
				EML_GUARD(check_str(d->dim_param, 0));
				int32_t sym;
				if (!map_get(&ld->symbols, d->dim_param, &sym)) {
					EML_ENSURE(ld->symbols.n < EML_ONNX_MAX_SYMBOLS,
					           EML_E_ONNX_LIMIT);
					sym = (int32_t)ld->symbols.n + 1;
					EML_GUARD(map_put(&ld->symbols, d->dim_param, sym));
				}
				v.dims[i].sym = (uint32_t)sym;
			}
		}
	}
	ld->m->values[id] = v;
out:
	return rc;
}

/* ---- graphs, nodes, attributes ---- */

static int load_graph(loader *ld, const Onnx__GraphProto *gp, int32_t parent, int depth,
                      const scope *outer, int32_t *gidx);

static int attr_type_of(const Onnx__AttributeProto *a)
{
	if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
		return (int)a->type;
	/* Pre-IR-3 style attributes without a type: infer it from the one field that is set. */
	if (a->t != NULL)
		return EML_ATTR_TENSOR;
	if (a->g != NULL)
		return EML_ATTR_GRAPH;
	if (a->n_floats > 0)
		return EML_ATTR_FLOATS;
	if (a->n_ints > 0)
		return EML_ATTR_INTS;
	if (a->n_strings > 0)
		return EML_ATTR_STRINGS;
	if (a->n_graphs > 0)
		return EML_ATTR_GRAPHS;
	if (a->has_s)
		return EML_ATTR_STRING;
	if (a->has_f)
		return EML_ATTR_FLOAT;
	if (a->has_i)
		return EML_ATTR_INT;
	return 0;
}

static int load_attr(loader *ld, const Onnx__AttributeProto *a, int is_constant, int32_t g,
                     int depth, const scope *sc, eml_attr *out)
{
	int rc = EML_OK;
	EML_ENSURE(a != NULL, EML_E_ONNX_ATTRIBUTE);
	EML_ENSURE(check_str(a->name, 0) == EML_OK, EML_E_ONNX_ATTRIBUTE);
	/* ref_attr_name only exists inside FunctionProto bodies, which are not loaded. */
	EML_ENSURE(a->ref_attr_name == NULL || a->ref_attr_name[0] == '\0', EML_E_ONNX_ATTRIBUTE);
	out->name = eml_strdup(a->name);
	EML_ENSURE(out->name != NULL, EML_E_NOMEM);
	out->tensor = -1;
	out->graph = -1;
	int type = attr_type_of(a);
	out->type = type;
	if (is_constant) {
		/* Constant (operator docs, opsets 1-13): exactly one of value, value_float(s),
		 * value_int(s), value_string(s), sparse_value; every form becomes a tensor. */
		if (strcmp(a->name, "sparse_value") == 0)
			EML_FAIL(EML_E_ONNX_SPARSE);
		if (strcmp(a->name, "value_string") == 0 || strcmp(a->name, "value_strings") == 0)
			EML_FAIL(EML_E_ONNX_STRING_TENSOR);
		if (strcmp(a->name, "value_float") == 0 && type == EML_ATTR_FLOAT) {
			out->type = EML_ATTR_TENSOR;
			out->orig_type = EML_ATTR_FLOAT;
			EML_GUARD(tensor_from_bytes(ld, EML_DT_FLOAT, 0, 0, &a->f, sizeof(float),
			                            &out->tensor));
			goto out;
		}
		if (strcmp(a->name, "value_int") == 0 && type == EML_ATTR_INT) {
			out->type = EML_ATTR_TENSOR;
			out->orig_type = EML_ATTR_INT;
			EML_GUARD(tensor_from_bytes(ld, EML_DT_INT64, 0, 0, &a->i, sizeof(int64_t),
			                            &out->tensor));
			goto out;
		}
		if (strcmp(a->name, "value_floats") == 0 &&
		    (type == EML_ATTR_FLOATS || type == 0)) {
			EML_ENSURE(a->n_floats <= EML_MAX_TENSOR_ELEMS, EML_E_ONNX_LIMIT);
			out->type = EML_ATTR_TENSOR;
			out->orig_type = EML_ATTR_FLOATS;
			EML_GUARD(tensor_from_bytes(ld, EML_DT_FLOAT, 1, (int64_t)a->n_floats,
			                            a->floats, a->n_floats * sizeof(float),
			                            &out->tensor));
			goto out;
		}
		if (strcmp(a->name, "value_ints") == 0 && (type == EML_ATTR_INTS || type == 0)) {
			EML_ENSURE(a->n_ints <= EML_MAX_TENSOR_ELEMS, EML_E_ONNX_LIMIT);
			out->type = EML_ATTR_TENSOR;
			out->orig_type = EML_ATTR_INTS;
			EML_GUARD(tensor_from_bytes(ld, EML_DT_INT64, 1, (int64_t)a->n_ints,
			                            a->ints, a->n_ints * sizeof(int64_t),
			                            &out->tensor));
			goto out;
		}
		/* Anything else (an unknown name, a form with the wrong type) would leave a payload
		 * outside the tensor table, i.e. in the topology: refuse. */
		EML_ENSURE(strcmp(a->name, "value") == 0 && type == EML_ATTR_TENSOR,
		           EML_E_ONNX_ATTRIBUTE);
	}
	switch (type) {
	case EML_ATTR_FLOAT:
		out->f = a->f;
		break;
	case EML_ATTR_INT:
		out->i = a->i;
		break;
	case EML_ATTR_STRING:
		EML_ENSURE(a->s.len <= EML_MAX_STRING_LEN, EML_E_ONNX_LIMIT);
		out->s = eml_alloc(a->s.len ? a->s.len : 1);
		EML_ENSURE(out->s != NULL, EML_E_NOMEM);
		if (a->s.len > 0)
			memcpy(out->s, a->s.data, a->s.len);
		out->s_len = a->s.len;
		break;
	case EML_ATTR_TENSOR:
		EML_ENSURE(a->t != NULL, EML_E_ONNX_ATTRIBUTE);
		EML_GUARD(load_tensor(ld, a->t, &out->tensor));
		break;
	case EML_ATTR_GRAPH:
		EML_ENSURE(a->g != NULL, EML_E_ONNX_ATTRIBUTE);
		EML_GUARD(load_graph(ld, a->g, g, depth + 1, sc, &out->graph));
		break;
	case EML_ATTR_FLOATS:
		EML_ENSURE(a->n_floats <= EML_MAX_ATTR_ELEMS, EML_E_ONNX_LIMIT);
		out->n = (uint32_t)a->n_floats;
		out->floats = eml_alloc(a->n_floats ? a->n_floats * sizeof(float) : 1);
		EML_ENSURE(out->floats != NULL, EML_E_NOMEM);
		if (a->n_floats > 0)
			memcpy(out->floats, a->floats, a->n_floats * sizeof(float));
		break;
	case EML_ATTR_INTS:
		EML_ENSURE(a->n_ints <= EML_MAX_ATTR_ELEMS, EML_E_ONNX_LIMIT);
		out->n = (uint32_t)a->n_ints;
		out->ints = eml_alloc(a->n_ints ? a->n_ints * sizeof(int64_t) : 1);
		EML_ENSURE(out->ints != NULL, EML_E_NOMEM);
		if (a->n_ints > 0)
			memcpy(out->ints, a->ints, a->n_ints * sizeof(int64_t));
		break;
	case EML_ATTR_STRINGS:
		EML_ENSURE(a->n_strings <= EML_MAX_ATTR_ELEMS, EML_E_ONNX_LIMIT);
		out->strings = eml_calloc(a->n_strings ? a->n_strings : 1, sizeof(uint8_t *));
		out->string_lens = eml_calloc(a->n_strings ? a->n_strings : 1, sizeof(size_t));
		EML_ENSURE(out->strings != NULL && out->string_lens != NULL, EML_E_NOMEM);
		out->n = (uint32_t)a->n_strings;
		for (size_t i = 0; i < a->n_strings; i++) {
			EML_ENSURE(a->strings[i].len <= EML_MAX_STRING_LEN, EML_E_ONNX_LIMIT);
			out->strings[i] = eml_alloc(a->strings[i].len ? a->strings[i].len : 1);
			EML_ENSURE(out->strings[i] != NULL, EML_E_NOMEM);
			if (a->strings[i].len > 0)
				memcpy(out->strings[i], a->strings[i].data, a->strings[i].len);
			out->string_lens[i] = a->strings[i].len;
		}
		break;
	case EML_ATTR_GRAPHS:
		EML_ENSURE(a->n_graphs <= EML_MAX_GRAPHS, EML_E_ONNX_LIMIT);
		out->graphs = eml_calloc(a->n_graphs ? a->n_graphs : 1, sizeof(int32_t));
		EML_ENSURE(out->graphs != NULL, EML_E_NOMEM);
		for (size_t i = 0; i < a->n_graphs; i++)
			out->graphs[i] = -1;
		out->n = (uint32_t)a->n_graphs;
		for (size_t i = 0; i < a->n_graphs; i++) {
			EML_ENSURE(a->graphs[i] != NULL, EML_E_ONNX_ATTRIBUTE);
			EML_GUARD(load_graph(ld, a->graphs[i], g, depth + 1, sc, &out->graphs[i]));
		}
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
		EML_FAIL(EML_E_ONNX_SPARSE);
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
		EML_FAIL(EML_E_ONNX_TYPE_PROTO);
	default: /* TENSORS (no claimed operator uses it), UNDEFINED, unknown numbers */
		EML_FAIL(EML_E_ONNX_ATTRIBUTE);
	}
out:
	return rc;
}

static int load_node(loader *ld, const Onnx__NodeProto *np, int32_t g, int depth, scope *sc,
                     eml_node *nd)
{
	int rc = EML_OK;
	EML_ENSURE(np != NULL, EML_E_ONNX_GRAPH);
	EML_GUARD(check_str(np->op_type, 0));
	EML_GUARD(check_str(np->domain, 1));
	EML_ENSURE(np->n_input <= EML_MAX_NODE_IO && np->n_output <= EML_MAX_NODE_IO,
	           EML_E_ONNX_LIMIT);
	EML_ENSURE(np->n_attribute <= EML_MAX_ATTRS, EML_E_ONNX_LIMIT);
	const char *dom = np->domain != NULL ? np->domain : "";
	if (strcmp(dom, "ai.onnx") == 0)
		dom = ""; /* one spelling of the default domain in the IR */
	nd->op_type = eml_strdup(np->op_type);
	nd->domain = eml_strdup(dom);
	nd->inputs = eml_alloc((np->n_input ? np->n_input : 1) * sizeof(int32_t));
	nd->outputs = eml_alloc((np->n_output ? np->n_output : 1) * sizeof(int32_t));
	nd->attrs = eml_calloc(np->n_attribute ? np->n_attribute : 1, sizeof(eml_attr));
	EML_ENSURE(nd->op_type != NULL && nd->domain != NULL && nd->inputs != NULL &&
	               nd->outputs != NULL && nd->attrs != NULL,
	           EML_E_NOMEM);
	nd->n_attrs = (uint32_t)np->n_attribute;
	for (size_t i = 0; i < np->n_input; i++) {
		const char *in = np->input[i];
		EML_GUARD(check_str(in, 1));
		if (in == NULL || in[0] == '\0') {
			nd->inputs[i] = -1; /* omitted optional input */
		} else {
			EML_ENSURE(scope_lookup(sc, in, &nd->inputs[i]) != NULL,
			           EML_E_ONNX_UNDEFINED_VALUE);
		}
		nd->n_inputs = (uint32_t)i + 1;
	}
	int is_constant = dom[0] == '\0' && strcmp(np->op_type, "Constant") == 0;
	/* Constant carries exactly one of its value attributes (operator docs). */
	EML_ENSURE(!is_constant || np->n_attribute == 1, EML_E_ONNX_ATTRIBUTE);
	for (size_t i = 0; i < np->n_attribute; i++) {
		for (size_t j = 0; j < i; j++)
			EML_ENSURE(np->attribute[j] == NULL || np->attribute[i] == NULL ||
			               np->attribute[j]->name == NULL ||
			               np->attribute[i]->name == NULL ||
			               strcmp(np->attribute[j]->name, np->attribute[i]->name) != 0,
			           EML_E_ONNX_ATTRIBUTE);
		/* Subgraphs are loaded before this node's outputs exist: they may only see values
		 * defined earlier (IR.md, "Nested graphs"). */
		EML_GUARD(
		    load_attr(ld, np->attribute[i], is_constant, g, depth, sc, &nd->attrs[i]));
	}
	for (size_t i = 0; i < np->n_output; i++) {
		const char *o = np->output[i];
		EML_GUARD(check_str(o, 1));
		if (o == NULL || o[0] == '\0')
			nd->outputs[i] = -1;
		else
			EML_GUARD(define_value(ld, sc, o, &nd->outputs[i]));
		nd->n_outputs = (uint32_t)i + 1;
	}
out:
	return rc;
}

static int new_graph(loader *ld, int32_t parent, int32_t *gidx)
{
	eml_model *m = ld->m;
	if (m->n_graphs >= EML_MAX_GRAPHS)
		return EML_E_ONNX_LIMIT;
	if (m->n_graphs == ld->cap_graphs) {
		uint32_t ncap = ld->cap_graphs ? ld->cap_graphs * 2 : 8;
		eml_graph *ng = eml_realloc(m->graphs, (size_t)ncap * sizeof(*ng));
		if (ng == NULL)
			return EML_E_NOMEM;
		m->graphs = ng;
		ld->cap_graphs = ncap;
	}
	memset(&m->graphs[m->n_graphs], 0, sizeof(eml_graph));
	m->graphs[m->n_graphs].parent = parent;
	*gidx = (int32_t)m->n_graphs++;
	return EML_OK;
}

static int load_graph(loader *ld, const Onnx__GraphProto *gp, int32_t parent, int depth,
                      const scope *outer, int32_t *gidx)
{
	int rc = EML_OK;
	scope sc = {.parent = outer};
	eml_model *m = ld->m;
	int32_t g;
	int is_main = parent < 0;
	EML_ENSURE(depth <= EML_MAX_SUBGRAPH_DEPTH, EML_E_ONNX_LIMIT);
	EML_ENSURE(gp->n_sparse_initializer == 0, EML_E_ONNX_SPARSE);
	EML_ENSURE(gp->n_node <= EML_MAX_NODES && ld->total_nodes + gp->n_node <= EML_MAX_NODES,
	           EML_E_ONNX_LIMIT);
	EML_ENSURE(gp->n_initializer <= EML_MAX_TENSORS, EML_E_ONNX_LIMIT);
	EML_ENSURE(gp->n_input <= EML_MAX_VALUES && gp->n_output <= EML_MAX_VALUES,
	           EML_E_ONNX_LIMIT);
	ld->total_nodes += gp->n_node;
	EML_GUARD(new_graph(ld, parent, &g));
	*gidx = g;
	{
		eml_graph *gr = &m->graphs[g];
		gr->initializers = eml_alloc((gp->n_initializer ? gp->n_initializer : 1) * 4);
		gr->inputs = eml_alloc((gp->n_input ? gp->n_input : 1) * 4);
		gr->outputs = eml_alloc((gp->n_output ? gp->n_output : 1) * 4);
		gr->nodes = eml_calloc(gp->n_node ? gp->n_node : 1, sizeof(eml_node));
		EML_ENSURE(gr->initializers != NULL && gr->inputs != NULL && gr->outputs != NULL &&
		               gr->nodes != NULL,
		           EML_E_NOMEM);
		gr->n_nodes = (uint32_t)gp->n_node; /* zeroed nodes free cleanly */
	}
	int32_t *inits = m->graphs[g].initializers;
	int32_t *ins = m->graphs[g].inputs;
	int32_t *outs = m->graphs[g].outputs;
	eml_node *nodes = m->graphs[g].nodes;

	for (size_t i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];
		EML_ENSURE(t != NULL, EML_E_ONNX_TENSOR);
		int32_t id, ti;
		EML_GUARD(define_value(ld, &sc, t->name, &id));
		EML_GUARD(load_tensor(ld, t, &ti));
		eml_value *v = &m->values[id];
		const eml_tensor *tt = &m->tensors[ti];
		v->tensor = ti;
		v->dtype = tt->dtype;
		v->rank = (int32_t)tt->rank;
		for (uint32_t d = 0; d < tt->rank; d++)
			v->dims[d].value = tt->dims[d];
		inits[i] = id;
		m->graphs[g].n_initializers = (uint32_t)i + 1;
	}
	uint32_t n_in = 0;
	for (size_t i = 0; i < gp->n_input; i++) {
		const Onnx__ValueInfoProto *vi = gp->input[i];
		EML_ENSURE(vi != NULL, EML_E_ONNX_GRAPH);
		EML_GUARD(check_str(vi->name, 0));
		int32_t id;
		/* An initializer listed as an input too (IR < 4 exporters): a weight with a
		 * default, so a weight here and not a graph input. */
		if (map_get(&sc.names, vi->name, &id) && m->values[id].tensor >= 0)
			continue;
		EML_GUARD(define_value(ld, &sc, vi->name, &id));
		EML_GUARD(set_value_type(ld, id, vi->type));
		if (is_main) {
			m->values[id].name = eml_strdup(vi->name);
			EML_ENSURE(m->values[id].name != NULL, EML_E_NOMEM);
		}
		ins[n_in++] = id;
		m->graphs[g].n_inputs = n_in;
	}
	for (size_t i = 0; i < gp->n_node; i++)
		EML_GUARD(load_node(ld, gp->node[i], g, depth, &sc, &nodes[i]));
	for (size_t i = 0; i < gp->n_output; i++) {
		const Onnx__ValueInfoProto *vi = gp->output[i];
		EML_ENSURE(vi != NULL, EML_E_ONNX_GRAPH);
		EML_GUARD(check_str(vi->name, 0));
		int32_t id;
		EML_ENSURE(scope_lookup(&sc, vi->name, &id) != NULL, EML_E_ONNX_UNDEFINED_VALUE);
		if (m->values[id].tensor < 0 && m->values[id].rank < 0 &&
		    m->values[id].dtype == EML_DT_UNDEFINED)
			EML_GUARD(set_value_type(ld, id, vi->type));
		else if (vi->type != NULL &&
		         vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
			EML_FAIL(vi->type->value_case == ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE
			             ? EML_E_ONNX_SPARSE
			             : EML_E_ONNX_DTYPE);
		if (is_main && m->values[id].name == NULL) {
			m->values[id].name = eml_strdup(vi->name);
			EML_ENSURE(m->values[id].name != NULL, EML_E_NOMEM);
		}
		outs[i] = id;
		m->graphs[g].n_outputs = (uint32_t)i + 1;
	}
out:
	map_cleanup(&sc.names);
	return rc;
}

static int load_model(loader *ld, const Onnx__ModelProto *mp)
{
	int rc = EML_OK;
	eml_model *m = ld->m;
	EML_ENSURE(mp->has_ir_version, EML_E_ONNX_IR_VERSION);
	EML_ENSURE(mp->ir_version >= EML_ONNX_MIN_IR_VERSION &&
	               mp->ir_version <= EML_ONNX_MAX_IR_VERSION,
	           EML_E_ONNX_IR_VERSION);
	m->ir_version = mp->ir_version;
	EML_ENSURE(mp->n_opset_import <= EML_ONNX_MAX_OPSET_IMPORTS, EML_E_ONNX_LIMIT);
	m->opsets = eml_calloc(mp->n_opset_import ? mp->n_opset_import : 1, sizeof(eml_opset));
	EML_ENSURE(m->opsets != NULL, EML_E_NOMEM);
	int have_default = 0;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
		EML_ENSURE(o != NULL, EML_E_ONNX_OPSET);
		EML_GUARD(check_str(o->domain, 1));
		const char *d = o->domain != NULL ? o->domain : "";
		if (strcmp(d, "ai.onnx") == 0)
			d = "";
		EML_ENSURE(o->has_version, EML_E_ONNX_OPSET);
		for (uint32_t j = 0; j < m->n_opsets; j++)
			EML_ENSURE(strcmp(m->opsets[j].domain, d) != 0, EML_E_ONNX_OPSET);
		if (d[0] == '\0') {
			EML_ENSURE(o->version >= EML_ONNX_MIN_OPSET &&
			               o->version <= EML_ONNX_MAX_OPSET,
			           EML_E_ONNX_OPSET);
			have_default = 1;
		}
		m->opsets[m->n_opsets].domain = eml_strdup(d);
		EML_ENSURE(m->opsets[m->n_opsets].domain != NULL, EML_E_NOMEM);
		m->opsets[m->n_opsets].version = o->version;
		m->n_opsets++;
	}
	/* IR >= 3 models must import the default domain (IR.md "Operator Sets"). */
	EML_ENSURE(have_default, EML_E_ONNX_OPSET);
	EML_ENSURE(mp->graph != NULL, EML_E_ONNX_GRAPH);
	uint64_t hint = graph_bytes(mp->graph, 0);
	if (hint > 0 && hint <= EML_MAX_DATA_BYTES && hint <= SIZE_MAX) {
		m->data = eml_alloc((size_t)hint);
		EML_ENSURE(m->data != NULL, EML_E_NOMEM);
		ld->data_cap = hint;
	}
	int32_t g;
	EML_GUARD(load_graph(ld, mp->graph, -1, 0, NULL, &g));
	if (m->data == NULL) { /* "data loaded" even for a model without tensors */
		m->data = eml_calloc(1, EML_DATA_ALIGN);
		EML_ENSURE(m->data != NULL, EML_E_NOMEM);
	}
out:
	return rc;
}

/* Decode the protobuf (after the nesting pre-check). *mp is freed with free_unpacked. */
static int unpack(const uint8_t *p, size_t n, Onnx__ModelProto **mp)
{
	int rc = EML_OK;
	EML_ENSURE(p != NULL || n == 0, EML_E_ARG);
	EML_ENSURE(n <= EML_ONNX_MAX_FILE_BYTES, EML_E_ONNX_FILE_SIZE);
	/* An empty message decodes to an empty ModelProto; call it what it is. */
	EML_ENSURE(n > 0, EML_E_ONNX_PARSE);
	EML_GUARD(scan_depth(p, n, &onnx__model_proto__descriptor, 1));
	*mp = onnx__model_proto__unpack(eml_pbc_allocator(), n, p);
	EML_ENSURE(*mp != NULL, EML_E_ONNX_PARSE);
out:
	return rc;
}

/* Build the IR from a decoded ModelProto; frees mp in every case. */
static int load_proto(Onnx__ModelProto *mp, const char *base_dir, eml_model **out)
{
	int rc = EML_OK;
	loader ld;
	memset(&ld, 0, sizeof(ld));
	ld.m = eml_model_new();
	EML_ENSURE(ld.m != NULL, EML_E_NOMEM);
	ld.base_dir = base_dir;
	EML_GUARD(load_model(&ld, mp));
	*out = ld.m;
	ld.m = NULL;
out:
	onnx__model_proto__free_unpacked(mp, eml_pbc_allocator());
	map_cleanup(&ld.symbols);
	eml_model_free(ld.m);
	eml_wipe(&ld, sizeof(ld));
	return rc;
}

int eml_onnx_load_bytes(const uint8_t *p, size_t n, const char *base_dir, eml_model **out)
{
	int rc = EML_OK;
	Onnx__ModelProto *mp = NULL;
	EML_ENSURE(out != NULL, EML_E_ARG);
	EML_GUARD(unpack(p, n, &mp));
	rc = load_proto(mp, base_dir, out);
out:
	return rc;
}

int eml_onnx_load_file(const char *path, eml_model **out)
{
	int rc = EML_OK;
	uint8_t *buf = NULL;
	size_t len = 0;
	char dir[PATH_MAX];
	EML_ENSURE(path != NULL && out != NULL, EML_E_ARG);
	size_t pl = strnlen(path, sizeof(dir));
	EML_ENSURE(pl < sizeof(dir), EML_E_ARG);
	memcpy(dir, path, pl + 1);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	rc = eml_file_read(path, EML_ONNX_MAX_FILE_BYTES, &buf, &len);
	if (rc == EML_E_LIMIT)
		rc = EML_E_ONNX_FILE_SIZE;
	EML_GUARD(rc);
	/* The file's bytes go as soon as they are decoded: peak memory stays near twice the
	 * model (decoded protobuf + IR tensor bytes), not three times. */
	Onnx__ModelProto *mp = NULL;
	EML_GUARD(unpack(buf, len, &mp));
	eml_free(buf);
	buf = NULL;
	rc = load_proto(mp, dir, out);
out:
	eml_free(buf);
	return rc;
}
