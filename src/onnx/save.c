/*
 * Model IR -> ONNX ModelProto bytes (recompose, and the test generator).
 *
 * The protobuf message tree is built from pool allocations (eml_alloc, wiped on free); tensor
 * bytes are not copied into the tree: raw_data and the Constant value_floats/value_ints arrays
 * point straight into m->data, and protobuf_c packs them into one eml_alloc'd buffer.
 */
#include <stdio.h>
#include <string.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "onnx/onnx.h"
#include "onnx/onnx.pb-c.h"

typedef struct saver {
	const eml_model *m;
	void **pool;
	size_t n_pool, cap_pool;
	char **names; /* per value id, lazily */
	char prefix[16];
} saver;

static void *palloc(saver *sv, size_t n)
{
	if (sv->n_pool == sv->cap_pool) {
		size_t ncap = sv->cap_pool ? sv->cap_pool * 2 : 256;
		void **np = eml_realloc(sv->pool, ncap * sizeof(void *));
		if (np == NULL)
			return NULL;
		sv->pool = np;
		sv->cap_pool = ncap;
	}
	void *p = eml_calloc(1, n ? n : 1);
	if (p != NULL)
		sv->pool[sv->n_pool++] = p;
	return p;
}

static void pool_free(saver *sv)
{
	for (size_t i = 0; i < sv->n_pool; i++)
		eml_free(sv->pool[i]);
	eml_free(sv->pool);
	eml_free(sv->names);
}

static char *pstrdup(saver *sv, const char *s)
{
	size_t n = strlen(s);
	char *p = palloc(sv, n + 1);
	if (p != NULL)
		memcpy(p, s, n + 1);
	return p;
}

static int is_generated_form(const char *name, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (strncmp(name, prefix, pl) != 0 || name[pl] == '\0')
		return 0;
	for (const char *p = name + pl; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Generated names "v<id>" must not collide with a kept name: lengthen the prefix until none
 * of the kept names has the generated form. */
static void choose_prefix(saver *sv)
{
	strcpy(sv->prefix, "v");
	for (;;) {
		int clash = 0;
		for (uint32_t i = 0; i < sv->m->n_values && !clash; i++)
			if (sv->m->values[i].name != NULL &&
			    is_generated_form(sv->m->values[i].name, sv->prefix))
				clash = 1;
		size_t pl = strlen(sv->prefix);
		if (!clash || pl + 2 >= sizeof(sv->prefix))
			return;
		sv->prefix[pl] = '_';
		sv->prefix[pl + 1] = '\0';
	}
}

static const char *value_name(saver *sv, int32_t id)
{
	if (id < 0)
		return "";
	if ((uint32_t)id >= sv->m->n_values)
		return NULL;
	if (sv->names[id] != NULL)
		return sv->names[id];
	const eml_value *v = &sv->m->values[id];
	if (v->name != NULL) {
		sv->names[id] = pstrdup(sv, v->name);
	} else {
		char buf[40];
		snprintf(buf, sizeof(buf), "%s%d", sv->prefix, (int)id);
		sv->names[id] = pstrdup(sv, buf);
	}
	return sv->names[id];
}

static Onnx__TensorProto *build_tensor(saver *sv, int32_t ti, const char *name)
{
	const eml_model *m = sv->m;
	if (ti < 0 || (uint32_t)ti >= m->n_tensors)
		return NULL;
	const eml_tensor *t = &m->tensors[ti];
	if (t->rank > EML_MAX_RANK || t->offset > m->data_len ||
	    t->length > m->data_len - t->offset)
		return NULL;
	Onnx__TensorProto *tp = palloc(sv, sizeof(*tp));
	int64_t *dims = palloc(sv, sizeof(int64_t) * (t->rank ? t->rank : 1));
	if (tp == NULL || dims == NULL)
		return NULL;
	onnx__tensor_proto__init(tp);
	for (uint32_t i = 0; i < t->rank; i++)
		dims[i] = t->dims[i];
	tp->n_dims = t->rank;
	tp->dims = dims;
	tp->has_data_type = 1;
	tp->data_type = t->dtype;
	if (name != NULL)
		tp->name = (char *)name;
	tp->has_raw_data = 1;
	tp->raw_data.len = (size_t)t->length;
	tp->raw_data.data = m->data + t->offset;
	return tp;
}

static Onnx__ValueInfoProto *build_value_info(saver *sv, int32_t id)
{
	const eml_value *v = &sv->m->values[id];
	Onnx__ValueInfoProto *vi = palloc(sv, sizeof(*vi));
	if (vi == NULL)
		return NULL;
	onnx__value_info_proto__init(vi);
	vi->name = (char *)value_name(sv, id);
	if (vi->name == NULL)
		return NULL;
	if (v->dtype == EML_DT_UNDEFINED && v->rank < 0)
		return vi;
	Onnx__TypeProto *tp = palloc(sv, sizeof(*tp));
	Onnx__TypeProto__Tensor *tt = palloc(sv, sizeof(*tt));
	if (tp == NULL || tt == NULL)
		return NULL;
	onnx__type_proto__init(tp);
	onnx__type_proto__tensor__init(tt);
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	if (v->dtype != EML_DT_UNDEFINED) {
		tt->has_elem_type = 1;
		tt->elem_type = v->dtype;
	}
	if (v->rank >= 0 && v->rank <= EML_MAX_RANK) {
		Onnx__TensorShapeProto *sh = palloc(sv, sizeof(*sh));
		Onnx__TensorShapeProto__Dimension **dims =
		    palloc(sv, sizeof(void *) * (v->rank ? (size_t)v->rank : 1));
		if (sh == NULL || dims == NULL)
			return NULL;
		onnx__tensor_shape_proto__init(sh);
		for (int32_t i = 0; i < v->rank; i++) {
			Onnx__TensorShapeProto__Dimension *d = palloc(sv, sizeof(*d));
			if (d == NULL)
				return NULL;
			onnx__tensor_shape_proto__dimension__init(d);
			if (v->dims[i].value >= 0) {
				d->value_case =
				    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
				d->dim_value = v->dims[i].value;
			} else if (v->dims[i].sym > 0) {
				char buf[24];
				snprintf(buf, sizeof(buf), "s%u", v->dims[i].sym);
				d->value_case =
				    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
				d->dim_param = pstrdup(sv, buf);
				if (d->dim_param == NULL)
					return NULL;
			}
			dims[i] = d;
		}
		sh->n_dim = (size_t)v->rank;
		sh->dim = dims;
		tt->shape = sh;
	}
	vi->type = tp;
	return vi;
}

static Onnx__GraphProto *build_graph(saver *sv, int32_t g, int depth);

static int build_attr(saver *sv, const eml_attr *a, int depth, Onnx__AttributeProto **out)
{
	int rc = EML_OK;
	const eml_model *m = sv->m;
	Onnx__AttributeProto *ap = palloc(sv, sizeof(*ap));
	EML_ENSURE(ap != NULL, EML_E_NOMEM);
	onnx__attribute_proto__init(ap);
	EML_ENSURE(a->name != NULL, EML_E_ARG);
	ap->name = a->name;
	ap->has_type = 1;
	ap->type = (Onnx__AttributeProto__AttributeType)a->type;
	if (a->type == EML_ATTR_TENSOR && a->orig_type != 0) {
		/* A Constant's value_float(s)/value_int(s): write back the original form. */
		EML_ENSURE(a->tensor >= 0 && (uint32_t)a->tensor < m->n_tensors, EML_E_ARG);
		const eml_tensor *t = &m->tensors[a->tensor];
		EML_ENSURE(t->offset <= m->data_len && t->length <= m->data_len - t->offset,
		           EML_E_ARG);
		uint64_t elems = eml_tensor_elems(t);
		const uint8_t *p = m->data + t->offset;
		ap->type = (Onnx__AttributeProto__AttributeType)a->orig_type;
		switch (a->orig_type) {
		case EML_ATTR_FLOAT:
			EML_ENSURE(t->dtype == EML_DT_FLOAT && elems == 1, EML_E_ARG);
			ap->has_f = 1;
			memcpy(&ap->f, p, sizeof(float));
			break;
		case EML_ATTR_INT:
			EML_ENSURE(t->dtype == EML_DT_INT64 && elems == 1, EML_E_ARG);
			ap->has_i = 1;
			memcpy(&ap->i, p, sizeof(int64_t));
			break;
		case EML_ATTR_FLOATS:
			EML_ENSURE(t->dtype == EML_DT_FLOAT, EML_E_ARG);
			ap->n_floats = (size_t)elems;
			ap->floats = (float *)(uintptr_t)p; /* 64-byte aligned in data */
			break;
		case EML_ATTR_INTS:
			EML_ENSURE(t->dtype == EML_DT_INT64, EML_E_ARG);
			ap->n_ints = (size_t)elems;
			ap->ints = (int64_t *)(uintptr_t)p;
			break;
		default:
			EML_FAIL(EML_E_ARG);
		}
		*out = ap;
		goto out;
	}
	switch (a->type) {
	case EML_ATTR_FLOAT:
		ap->has_f = 1;
		ap->f = a->f;
		break;
	case EML_ATTR_INT:
		ap->has_i = 1;
		ap->i = a->i;
		break;
	case EML_ATTR_STRING:
		ap->has_s = 1;
		ap->s.len = a->s_len;
		ap->s.data = a->s;
		break;
	case EML_ATTR_TENSOR:
		ap->t = build_tensor(sv, a->tensor, NULL);
		EML_ENSURE(ap->t != NULL, EML_E_ARG);
		break;
	case EML_ATTR_GRAPH:
		ap->g = build_graph(sv, a->graph, depth + 1);
		EML_ENSURE(ap->g != NULL, EML_E_ARG);
		break;
	case EML_ATTR_FLOATS:
		ap->n_floats = a->n;
		ap->floats = a->floats;
		break;
	case EML_ATTR_INTS:
		ap->n_ints = a->n;
		ap->ints = a->ints;
		break;
	case EML_ATTR_STRINGS: {
		ProtobufCBinaryData *s = palloc(sv, sizeof(*s) * (a->n ? a->n : 1));
		EML_ENSURE(s != NULL, EML_E_NOMEM);
		for (uint32_t i = 0; i < a->n; i++) {
			s[i].len = a->string_lens[i];
			s[i].data = a->strings[i];
		}
		ap->n_strings = a->n;
		ap->strings = s;
		break;
	}
	case EML_ATTR_GRAPHS: {
		Onnx__GraphProto **gs = palloc(sv, sizeof(void *) * (a->n ? a->n : 1));
		EML_ENSURE(gs != NULL, EML_E_NOMEM);
		for (uint32_t i = 0; i < a->n; i++) {
			gs[i] = build_graph(sv, a->graphs[i], depth + 1);
			EML_ENSURE(gs[i] != NULL, EML_E_ARG);
		}
		ap->n_graphs = a->n;
		ap->graphs = gs;
		break;
	}
	default:
		EML_FAIL(EML_E_ARG);
	}
	*out = ap;
out:
	return rc;
}

static Onnx__NodeProto *build_node(saver *sv, const eml_node *nd, int depth)
{
	Onnx__NodeProto *np = palloc(sv, sizeof(*np));
	char **ins = palloc(sv, sizeof(char *) * (nd->n_inputs ? nd->n_inputs : 1));
	char **outs = palloc(sv, sizeof(char *) * (nd->n_outputs ? nd->n_outputs : 1));
	Onnx__AttributeProto **attrs = palloc(sv, sizeof(void *) * (nd->n_attrs ? nd->n_attrs : 1));
	if (np == NULL || ins == NULL || outs == NULL || attrs == NULL || nd->op_type == NULL)
		return NULL;
	onnx__node_proto__init(np);
	np->op_type = nd->op_type;
	if (nd->domain != NULL && nd->domain[0] != '\0')
		np->domain = nd->domain;
	for (uint32_t i = 0; i < nd->n_inputs; i++)
		if ((ins[i] = (char *)value_name(sv, nd->inputs[i])) == NULL)
			return NULL;
	for (uint32_t i = 0; i < nd->n_outputs; i++)
		if ((outs[i] = (char *)value_name(sv, nd->outputs[i])) == NULL)
			return NULL;
	for (uint32_t i = 0; i < nd->n_attrs; i++)
		if (build_attr(sv, &nd->attrs[i], depth, &attrs[i]) != EML_OK)
			return NULL;
	np->n_input = nd->n_inputs;
	np->input = ins;
	np->n_output = nd->n_outputs;
	np->output = outs;
	np->n_attribute = nd->n_attrs;
	np->attribute = attrs;
	return np;
}

static Onnx__GraphProto *build_graph(saver *sv, int32_t g, int depth)
{
	const eml_model *m = sv->m;
	if (g < 0 || (uint32_t)g >= m->n_graphs || depth > EML_MAX_SUBGRAPH_DEPTH)
		return NULL;
	const eml_graph *gr = &m->graphs[g];
	int inits_as_inputs = g == 0 && m->ir_version < 4;
	size_t n_in = gr->n_inputs + (inits_as_inputs ? gr->n_initializers : 0);
	Onnx__GraphProto *gp = palloc(sv, sizeof(*gp));
	Onnx__NodeProto **nodes = palloc(sv, sizeof(void *) * (gr->n_nodes ? gr->n_nodes : 1));
	Onnx__TensorProto **inits =
	    palloc(sv, sizeof(void *) * (gr->n_initializers ? gr->n_initializers : 1));
	Onnx__ValueInfoProto **ins = palloc(sv, sizeof(void *) * (n_in ? n_in : 1));
	Onnx__ValueInfoProto **outs =
	    palloc(sv, sizeof(void *) * (gr->n_outputs ? gr->n_outputs : 1));
	char gname[24];
	snprintf(gname, sizeof(gname), g == 0 ? "main" : "g%d", (int)g);
	if (gp == NULL || nodes == NULL || inits == NULL || ins == NULL || outs == NULL)
		return NULL;
	onnx__graph_proto__init(gp);
	gp->name = pstrdup(sv, gname);
	for (uint32_t i = 0; i < gr->n_nodes; i++)
		if ((nodes[i] = build_node(sv, &gr->nodes[i], depth)) == NULL)
			return NULL;
	for (uint32_t i = 0; i < gr->n_initializers; i++) {
		int32_t id = gr->initializers[i];
		if (id < 0 || (uint32_t)id >= m->n_values)
			return NULL;
		const char *nm = value_name(sv, id);
		if (nm == NULL || (inits[i] = build_tensor(sv, m->values[id].tensor, nm)) == NULL)
			return NULL;
	}
	size_t k = 0;
	for (uint32_t i = 0; i < gr->n_inputs; i++) {
		if (gr->inputs[i] < 0 || (uint32_t)gr->inputs[i] >= m->n_values)
			return NULL;
		if ((ins[k++] = build_value_info(sv, gr->inputs[i])) == NULL)
			return NULL;
	}
	if (inits_as_inputs) /* IR < 4: initializers must also be graph inputs (IR.md) */
		for (uint32_t i = 0; i < gr->n_initializers; i++)
			if ((ins[k++] = build_value_info(sv, gr->initializers[i])) == NULL)
				return NULL;
	for (uint32_t i = 0; i < gr->n_outputs; i++) {
		if (gr->outputs[i] < 0 || (uint32_t)gr->outputs[i] >= m->n_values)
			return NULL;
		if ((outs[i] = build_value_info(sv, gr->outputs[i])) == NULL)
			return NULL;
	}
	gp->n_node = gr->n_nodes;
	gp->node = nodes;
	gp->n_initializer = gr->n_initializers;
	gp->initializer = inits;
	gp->n_input = n_in;
	gp->input = ins;
	gp->n_output = gr->n_outputs;
	gp->output = outs;
	return gp;
}

int eml_onnx_save(const eml_model *m, uint8_t **out, size_t *len)
{
	int rc = EML_OK;
	saver sv;
	uint8_t *buf = NULL;
	memset(&sv, 0, sizeof(sv));
	EML_ENSURE(m != NULL && out != NULL && len != NULL, EML_E_ARG);
	EML_ENSURE(m->n_graphs > 0 && m->graphs != NULL, EML_E_ARG);
	EML_ENSURE(m->data != NULL || m->n_tensors == 0, EML_E_ARG);
	sv.m = m;
	sv.names = eml_calloc(m->n_values ? m->n_values : 1, sizeof(char *));
	EML_ENSURE(sv.names != NULL, EML_E_NOMEM);
	choose_prefix(&sv);

	Onnx__ModelProto mp;
	onnx__model_proto__init(&mp);
	mp.has_ir_version = 1;
	mp.ir_version = m->ir_version;
	Onnx__OperatorSetIdProto **ops =
	    palloc(&sv, sizeof(void *) * (m->n_opsets ? m->n_opsets : 1));
	EML_ENSURE(ops != NULL, EML_E_NOMEM);
	for (uint32_t i = 0; i < m->n_opsets; i++) {
		ops[i] = palloc(&sv, sizeof(Onnx__OperatorSetIdProto));
		EML_ENSURE(ops[i] != NULL, EML_E_NOMEM);
		onnx__operator_set_id_proto__init(ops[i]);
		ops[i]->domain = m->opsets[i].domain != NULL ? m->opsets[i].domain : "";
		ops[i]->has_version = 1;
		ops[i]->version = m->opsets[i].version;
	}
	mp.n_opset_import = m->n_opsets;
	mp.opset_import = ops;
	mp.graph = build_graph(&sv, 0, 0);
	EML_ENSURE(mp.graph != NULL, EML_E_ARG);
	size_t n = onnx__model_proto__get_packed_size(&mp);
	EML_ENSURE(n <= EML_ONNX_MAX_FILE_BYTES, EML_E_ONNX_LIMIT);
	buf = eml_alloc(n ? n : 1);
	EML_ENSURE(buf != NULL, EML_E_NOMEM);
	EML_ENSURE(onnx__model_proto__pack(&mp, buf) == n, EML_E_INTERNAL);
	*out = buf;
	*len = n;
	buf = NULL;
out:
	eml_free(buf);
	pool_free(&sv);
	return rc;
}

int eml_onnx_save_file(const eml_model *m, const char *path)
{
	int rc = EML_OK;
	uint8_t *buf = NULL;
	size_t n = 0;
	EML_ENSURE(path != NULL, EML_E_ARG);
	EML_GUARD(eml_onnx_save(m, &buf, &n));
	EML_GUARD(eml_file_write_atomic(path, buf, n, 0600));
out:
	eml_free(buf);
	return rc;
}
