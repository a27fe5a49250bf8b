/*
 * ONNX loader: accepted forms and every refusal (specific code, never a crash).
 * Models are built here with protobuf-c directly so that malformed forms can be expressed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"
#include "eml/error.h"
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "onnx/onnx.pb-c.h"
#include "prop.h"

/* A small valid model: Y = Add(X, W), X float[N,4] input, W float[4] initializer. */
typedef struct tmodel {
	Onnx__ModelProto mp;
	Onnx__GraphProto g;
	Onnx__OperatorSetIdProto op, *ops[2];
	Onnx__NodeProto node, *nodes[2];
	char *node_in[2], *node_out[1];
	Onnx__ValueInfoProto in, out, *ins[3], *outs[2];
	Onnx__TypeProto tp;
	Onnx__TypeProto__Tensor tt;
	Onnx__TensorShapeProto sh;
	Onnx__TensorShapeProto__Dimension d0, d1, *dims[2];
	Onnx__TensorProto w, *inits[2];
	int64_t wdims[EML_MAX_RANK + 2];
	float wdata[4];
} tmodel;

static void tm_init(tmodel *t)
{
	memset(t, 0, sizeof(*t));
	onnx__model_proto__init(&t->mp);
	t->mp.has_ir_version = 1;
	t->mp.ir_version = 7;
	onnx__operator_set_id_proto__init(&t->op);
	t->op.domain = "";
	t->op.has_version = 1;
	t->op.version = 13;
	t->ops[0] = &t->op;
	t->mp.n_opset_import = 1;
	t->mp.opset_import = t->ops;
	onnx__graph_proto__init(&t->g);
	t->mp.graph = &t->g;

	onnx__tensor_shape_proto__dimension__init(&t->d0);
	t->d0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
	t->d0.dim_param = "N";
	onnx__tensor_shape_proto__dimension__init(&t->d1);
	t->d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	t->d1.dim_value = 4;
	t->dims[0] = &t->d0;
	t->dims[1] = &t->d1;
	onnx__tensor_shape_proto__init(&t->sh);
	t->sh.n_dim = 2;
	t->sh.dim = t->dims;
	onnx__type_proto__tensor__init(&t->tt);
	t->tt.has_elem_type = 1;
	t->tt.elem_type = 1;
	t->tt.shape = &t->sh;
	onnx__type_proto__init(&t->tp);
	t->tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	t->tp.tensor_type = &t->tt;

	onnx__value_info_proto__init(&t->in);
	t->in.name = "X";
	t->in.type = &t->tp;
	onnx__value_info_proto__init(&t->out);
	t->out.name = "Y";
	t->ins[0] = &t->in;
	t->outs[0] = &t->out;
	t->g.n_input = 1;
	t->g.input = t->ins;
	t->g.n_output = 1;
	t->g.output = t->outs;

	onnx__tensor_proto__init(&t->w);
	t->w.name = "W";
	t->w.has_data_type = 1;
	t->w.data_type = 1;
	t->wdims[0] = 4;
	t->w.n_dims = 1;
	t->w.dims = t->wdims;
	for (int i = 0; i < 4; i++)
		t->wdata[i] = 0.5f + (float)i;
	t->w.n_float_data = 4;
	t->w.float_data = t->wdata;
	t->inits[0] = &t->w;
	t->g.n_initializer = 1;
	t->g.initializer = t->inits;

	onnx__node_proto__init(&t->node);
	t->node.op_type = "Add";
	t->node_in[0] = "X";
	t->node_in[1] = "W";
	t->node_out[0] = "Y";
	t->node.n_input = 2;
	t->node.input = t->node_in;
	t->node.n_output = 1;
	t->node.output = t->node_out;
	t->nodes[0] = &t->node;
	t->g.n_node = 1;
	t->g.node = t->nodes;
}

static uint8_t *tm_pack(const tmodel *t, size_t *len)
{
	*len = onnx__model_proto__get_packed_size(&t->mp);
	uint8_t *b = malloc(*len + 1);
	cr_assert_not_null(b);
	onnx__model_proto__pack(&t->mp, b);
	return b;
}

static int tm_load_dir(const tmodel *t, const char *base_dir, eml_model **m)
{
	size_t len;
	uint8_t *b = tm_pack(t, &len);
	*m = NULL;
	int rc = eml_onnx_load_bytes(b, len, base_dir, m);
	free(b);
	if (rc != EML_OK)
		cr_assert_null(*m, "no partial model on failure");
	return rc;
}

static int tm_load(const tmodel *t)
{
	eml_model *m = NULL;
	int rc = tm_load_dir(t, NULL, &m);
	eml_model_free(m);
	return rc;
}

#define ASSERT_RC(got, want)                                                                       \
	cr_assert_eq((got), (want), "got %s, want %s", eml_err_name(got), eml_err_name(want))

Test(onnx_load, valid_model_loads_with_weights_and_io)
{
	tmodel t;
	tm_init(&t);
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	cr_assert_eq(m->ir_version, 7);
	cr_assert_eq(eml_model_opset(m, ""), 13);
	cr_assert_eq(m->n_graphs, 1);
	const eml_graph *g = &m->graphs[0];
	cr_assert_eq(g->n_inputs, 1);
	cr_assert_eq(g->n_initializers, 1);
	cr_assert_eq(g->n_outputs, 1);
	const eml_value *x = &m->values[g->inputs[0]];
	cr_assert_str_eq(x->name, "X");
	cr_assert_eq(x->dtype, EML_DT_FLOAT);
	cr_assert_eq(x->rank, 2);
	cr_assert_eq(x->dims[0].value, -1);
	cr_assert_eq(x->dims[0].sym, 1);
	cr_assert_eq(x->dims[1].value, 4);
	const eml_value *w = &m->values[g->initializers[0]];
	cr_assert_null(w->name, "weight names are dropped");
	cr_assert_geq(w->tensor, 0);
	const eml_tensor *tt = &m->tensors[w->tensor];
	cr_assert_eq(tt->offset % EML_DATA_ALIGN, 0);
	cr_assert_eq(tt->length, 16);
	cr_assert_eq(memcmp(m->data + tt->offset, t.wdata, 16), 0);
	cr_assert_str_eq(m->values[g->outputs[0]].name, "Y");
	cr_assert_eq(g->nodes[0].inputs[0], g->inputs[0]);
	cr_assert_eq(g->nodes[0].inputs[1], g->initializers[0]);
	cr_assert_eq(g->nodes[0].outputs[0], g->outputs[0]);
	eml_model_free(m);
}

Test(onnx_load, empty_input_is_a_parse_error)
{
	eml_model *m = NULL;
	ASSERT_RC(eml_onnx_load_bytes((const uint8_t *)"", 0, NULL, &m), EML_E_ONNX_PARSE);
	ASSERT_RC(eml_onnx_load_bytes(NULL, 0, NULL, &m), EML_E_ONNX_PARSE);
	cr_assert_null(m);
}

Test(onnx_load, every_truncation_is_refused)
{
	tmodel t;
	tm_init(&t);
	size_t len;
	uint8_t *b = tm_pack(&t, &len);
	int parse_errors = 0;
	for (size_t n = 0; n < len; n++) {
		uint8_t *c = malloc(n + 1); /* exact-size copy: ASan sees any over-read */
		memcpy(c, b, n);
		eml_model *m = NULL;
		int rc = eml_onnx_load_bytes(c, n, NULL, &m);
		cr_assert_neq(rc, EML_OK, "prefix of %zu/%zu bytes accepted", n, len);
		cr_assert_null(m);
		parse_errors += rc == EML_E_ONNX_PARSE;
		free(c);
	}
	cr_assert_gt(parse_errors, (int)len / 2, "most truncations are protobuf errors");
	free(b);
}

Test(onnx_load, garbage_and_mutations_never_crash)
{
	eml_rng r;
	eml_rng_seed(&r, 0x6E6E78);
	for (int i = 0; i < 500; i++) {
		size_t n = 1 + (size_t)eml_rng_below(&r, 300);
		uint8_t *c = malloc(n);
		eml_rng_bytes(&r, c, n);
		eml_model *m = NULL;
		int rc = eml_onnx_load_bytes(c, n, NULL, &m);
		cr_assert_neq(rc, EML_OK, "random bytes accepted as a model");
		free(c);
	}
	tmodel t;
	tm_init(&t);
	size_t len;
	uint8_t *b = tm_pack(&t, &len);
	for (int i = 0; i < 2000; i++) {
		uint8_t *c = malloc(len);
		memcpy(c, b, len);
		int flips = 1 + (int)eml_rng_below(&r, 3);
		for (int k = 0; k < flips; k++)
			c[eml_rng_below(&r, len)] = (uint8_t)eml_rng_u64(&r);
		eml_model *m = NULL;
		int rc = eml_onnx_load_bytes(c, len, NULL, &m);
		cr_assert(rc == EML_OK ? m != NULL : m == NULL);
		cr_assert(rc == EML_OK || (rc >= 100 && rc < 200) || rc == EML_E_NOMEM,
		          "unexpected code %d", rc);
		eml_model_free(m);
		free(c);
	}
	free(b);
}

Test(onnx_load, ir_version_and_opset_ranges)
{
	tmodel t;
	tm_init(&t);
	t.mp.ir_version = 2;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_IR_VERSION);
	t.mp.has_ir_version = 0;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_IR_VERSION);
	t.mp.has_ir_version = 1;
	t.mp.ir_version = 3;
	ASSERT_RC(tm_load(&t), EML_OK);
	for (int v = 6; v <= 21; v++) {
		t.op.version = v;
		ASSERT_RC(tm_load(&t), v >= 7 && v <= 20 ? EML_OK : EML_E_ONNX_OPSET);
	}
	t.op.version = 13;
	t.op.domain = "ai.onnx";
	ASSERT_RC(tm_load(&t), EML_OK);
	t.mp.n_opset_import = 0;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_OPSET);
	t.mp.n_opset_import = 1;
	t.mp.graph = NULL;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_GRAPH);
}

Test(onnx_load, undefined_references_are_refused)
{
	tmodel t;
	tm_init(&t);
	t.node_in[1] = "nope";
	ASSERT_RC(tm_load(&t), EML_E_ONNX_UNDEFINED_VALUE);
	tm_init(&t);
	t.out.name = "nope";
	ASSERT_RC(tm_load(&t), EML_E_ONNX_UNDEFINED_VALUE);
	/* Use before definition (nodes out of topological order) */
	tm_init(&t);
	t.node_in[0] = "Y";
	ASSERT_RC(tm_load(&t), EML_E_ONNX_UNDEFINED_VALUE);
	/* an empty input name is an omitted optional input, not a reference */
	tm_init(&t);
	t.node_in[1] = "";
	ASSERT_RC(tm_load(&t), EML_OK);
}

Test(onnx_load, duplicate_names_are_refused)
{
	tmodel t;
	tm_init(&t);
	t.node_out[0] = "X";
	t.out.name = "X";
	ASSERT_RC(tm_load(&t), EML_E_ONNX_DUPLICATE_NAME);
	tm_init(&t);
	t.ins[1] = &t.in; /* X listed twice */
	t.g.n_input = 2;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_DUPLICATE_NAME);
}

Test(onnx_load, initializer_listed_as_input_is_a_weight)
{
	tmodel t;
	tm_init(&t);
	Onnx__ValueInfoProto wi;
	onnx__value_info_proto__init(&wi);
	wi.name = "W";
	t.ins[0] = &wi; /* old exporters list the weight first */
	t.ins[1] = &t.in;
	t.g.n_input = 2;
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	cr_assert_eq(m->graphs[0].n_inputs, 1);
	cr_assert_str_eq(m->values[m->graphs[0].inputs[0]].name, "X");
	cr_assert_eq(m->graphs[0].n_initializers, 1);
	eml_model_free(m);
}

Test(onnx_load, tensor_dtypes_and_typed_fields)
{
	tmodel t;
	tm_init(&t);
	/* string tensors, other unsupported dtypes */
	t.w.data_type = EML_DT_STRING;
	t.w.n_float_data = 0;
	ProtobufCBinaryData sd[4] = {
	    {1, (uint8_t *)"a"}, {1, (uint8_t *)"b"}, {1, (uint8_t *)"c"}, {1, (uint8_t *)"d"}};
	t.w.n_string_data = 4;
	t.w.string_data = sd;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_STRING_TENSOR);
	tm_init(&t);
	t.w.data_type = EML_DT_INT16;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_DTYPE);
	t.w.data_type = 16; /* bfloat16 */
	ASSERT_RC(tm_load(&t), EML_E_ONNX_DTYPE);
	t.w.has_data_type = 0;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);

	/* int32_data carries int8/uint8/bool/float16 (onnx.proto) */
	struct {
		int32_t dt;
		int32_t vals[4];
		uint8_t want[8];
		size_t wlen;
	} cases[] = {
	    {EML_DT_INT8, {-1, 2, -128, 127}, {0xff, 2, 0x80, 0x7f}, 4},
	    {EML_DT_UINT8, {0, 1, 200, 255}, {0, 1, 200, 255}, 4},
	    {EML_DT_BOOL, {0, 1, 1, 0}, {0, 1, 1, 0}, 4},
	    {EML_DT_FLOAT16, {0x3c00, 0xc000, 0, 0x7bff}, {0, 0x3c, 0, 0xc0, 0, 0, 0xff, 0x7b}, 8},
	};
	for (size_t c = 0; c < 4; c++) {
		tm_init(&t);
		t.w.data_type = cases[c].dt;
		t.w.n_float_data = 0;
		t.w.n_int32_data = 4;
		t.w.int32_data = cases[c].vals;
		eml_model *m = NULL;
		ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
		const eml_tensor *tt = &m->tensors[0];
		cr_assert_eq(tt->dtype, cases[c].dt);
		cr_assert_eq(tt->length, cases[c].wlen);
		cr_assert_eq(memcmp(m->data + tt->offset, cases[c].want, cases[c].wlen), 0,
		             "dtype %d", cases[c].dt);
		eml_model_free(m);
		cases[c].vals[0] = 70000; /* out of range for every one of them */
		ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);
	}
	/* double_data, int64_data, int32_data for int32, raw_data */
	double dd[4] = {1.5, -2, 3, 4};
	int64_t ld[4] = {-5, 6, 1LL << 40, 8};
	int32_t id[4] = {9, -10, 11, 12};
	tm_init(&t);
	t.w.n_float_data = 0;
	t.w.data_type = EML_DT_DOUBLE;
	t.w.n_double_data = 4;
	t.w.double_data = dd;
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	cr_assert_eq(memcmp(m->data + m->tensors[0].offset, dd, 32), 0);
	eml_model_free(m);
	tm_init(&t);
	t.w.n_float_data = 0;
	t.w.data_type = EML_DT_INT64;
	t.w.n_int64_data = 4;
	t.w.int64_data = ld;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	cr_assert_eq(memcmp(m->data + m->tensors[0].offset, ld, 32), 0);
	eml_model_free(m);
	tm_init(&t);
	t.w.n_float_data = 0;
	t.w.data_type = EML_DT_INT32;
	t.w.n_int32_data = 4;
	t.w.int32_data = id;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	cr_assert_eq(memcmp(m->data + m->tensors[0].offset, id, 16), 0);
	eml_model_free(m);
	tm_init(&t);
	t.w.n_float_data = 0;
	t.w.has_raw_data = 1;
	t.w.raw_data.len = 16;
	t.w.raw_data.data = (uint8_t *)t.wdata;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	cr_assert_eq(memcmp(m->data + m->tensors[0].offset, t.wdata, 16), 0);
	eml_model_free(m);
}

Test(onnx_load, malformed_tensors_are_refused)
{
	tmodel t;
	tm_init(&t);
	t.w.n_float_data = 3; /* count does not match dims */
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);
	tm_init(&t);
	t.w.n_float_data = 0; /* no data for 4 elements */
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);
	tm_init(&t);
	t.w.n_float_data = 0;
	t.w.has_raw_data = 1;
	t.w.raw_data.len = 15;
	t.w.raw_data.data = (uint8_t *)t.wdata;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);
	t.w.n_float_data = 4; /* two data sources */
	t.w.raw_data.len = 16;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);
	tm_init(&t);
	t.wdims[0] = -4;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);
	tm_init(&t);
	Onnx__TensorProto__Segment seg;
	onnx__tensor_proto__segment__init(&seg);
	t.w.segment = &seg;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TENSOR);
}

Test(onnx_load, oversize_limits_are_refused_before_allocating)
{
	tmodel t;
	/* rank above EML_MAX_RANK */
	tm_init(&t);
	for (int i = 0; i < EML_MAX_RANK + 1; i++)
		t.wdims[i] = 1;
	t.wdims[0] = 4;
	t.w.n_dims = EML_MAX_RANK + 1;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_LIMIT);
	/* element count above EML_MAX_TENSOR_ELEMS (would be 2^60 floats) */
	tm_init(&t);
	t.wdims[0] = 1 << 20;
	t.wdims[1] = 1 << 20;
	t.wdims[2] = 1 << 20;
	t.w.n_dims = 3;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_LIMIT);
	/* a graph input of too high rank */
	tm_init(&t);
	Onnx__TensorShapeProto__Dimension *many[EML_MAX_RANK + 1];
	for (int i = 0; i < EML_MAX_RANK + 1; i++)
		many[i] = &t.d1;
	t.sh.n_dim = EML_MAX_RANK + 1;
	t.sh.dim = many;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_LIMIT);
	/* a string longer than EML_MAX_STRING_LEN */
	tm_init(&t);
	char *longname = malloc(EML_MAX_STRING_LEN + 2);
	memset(longname, 'A', EML_MAX_STRING_LEN + 1);
	longname[EML_MAX_STRING_LEN + 1] = '\0';
	t.node.op_type = longname;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_LIMIT);
	tm_init(&t);
	t.in.name = longname;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_LIMIT);
	free(longname);
	/* the file size limit is checked before a single byte is read */
	eml_model *m = NULL;
	uint8_t one = 0;
	ASSERT_RC(eml_onnx_load_bytes(&one, EML_ONNX_MAX_FILE_BYTES + 1, NULL, &m),
	          EML_E_ONNX_FILE_SIZE);
	cr_assert_null(m);
	/* too many attributes on one node */
	tm_init(&t);
	size_t na = EML_MAX_ATTRS + 1;
	Onnx__AttributeProto *attrs = calloc(na, sizeof(*attrs));
	Onnx__AttributeProto **ap = calloc(na, sizeof(*ap));
	char(*names)[16] = calloc(na, 16);
	for (size_t i = 0; i < na; i++) {
		onnx__attribute_proto__init(&attrs[i]);
		snprintf(names[i], 16, "a%zu", i);
		attrs[i].name = names[i];
		attrs[i].has_type = 1;
		attrs[i].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
		attrs[i].has_i = 1;
		ap[i] = &attrs[i];
	}
	t.node.n_attribute = na;
	t.node.attribute = ap;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_LIMIT);
	t.node.n_attribute = 2;
	ASSERT_RC(tm_load(&t), EML_OK);
	attrs[1].name = "a0"; /* duplicate attribute name */
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
	free(attrs);
	free(ap);
	free(names);
}

/* Nested If nodes: depth levels of subgraphs, each If's then/else branch forwarding X. */
static Onnx__GraphProto *nested_if(int depth, Onnx__GraphProto *store, Onnx__NodeProto *nodes,
                                   Onnx__AttributeProto *attrs, Onnx__ValueInfoProto *outs)
{
	static char *cond_in[1] = {"C"};
	static char *id_in[1] = {"X"};
	Onnx__GraphProto *g = &store[depth];
	onnx__graph_proto__init(g);
	static Onnx__NodeProto *np[16];
	static Onnx__ValueInfoProto *op[16];
	static Onnx__AttributeProto *ap[16][2];
	static char *outname[16][1];
	static char names[16][16];
	snprintf(names[depth], 16, "o%d", depth);
	outname[depth][0] = names[depth];
	Onnx__NodeProto *n = &nodes[depth];
	onnx__node_proto__init(n);
	n->n_output = 1;
	n->output = outname[depth];
	if (depth == 0) {
		n->op_type = "Identity";
		n->n_input = 1;
		n->input = id_in;
	} else {
		n->op_type = "If";
		n->n_input = 1;
		n->input = cond_in;
		Onnx__GraphProto *sub = nested_if(depth - 1, store, nodes, attrs, outs);
		for (int k = 0; k < 2; k++) {
			Onnx__AttributeProto *a = &attrs[2 * depth + k];
			onnx__attribute_proto__init(a);
			a->name = k ? "else_branch" : "then_branch";
			a->has_type = 1;
			a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
			a->g = sub; /* the same branch twice is fine for the loader */
			ap[depth][k] = a;
		}
		n->n_attribute = 2;
		n->attribute = ap[depth];
	}
	np[depth] = n;
	g->n_node = 1;
	g->node = &np[depth];
	onnx__value_info_proto__init(&outs[depth]);
	outs[depth].name = names[depth];
	op[depth] = &outs[depth];
	g->n_output = 1;
	g->output = &op[depth];
	return g;
}

static int load_nested(int depth)
{
	tmodel t;
	tm_init(&t);
	Onnx__GraphProto store[16];
	Onnx__NodeProto nodes[16];
	Onnx__AttributeProto attrs[34];
	Onnx__ValueInfoProto outs[16];
	Onnx__GraphProto *sub = nested_if(depth, store, nodes, attrs, outs);
	/* main graph: C = Constant bool, then the If chain as its body's single node */
	Onnx__TensorProto ct;
	onnx__tensor_proto__init(&ct);
	ct.name = "C";
	ct.has_data_type = 1;
	ct.data_type = EML_DT_BOOL;
	int32_t one = 1;
	ct.n_int32_data = 1;
	ct.int32_data = &one;
	t.inits[1] = &ct;
	t.g.n_initializer = 2;
	t.g.node = sub->node; /* the outermost If (or Identity) runs in the main graph */
	t.node_out[0] = sub->node[0]->output[0];
	t.out.name = sub->node[0]->output[0];
	t.g.n_node = 1;
	return tm_load(&t);
}

Test(onnx_load, subgraph_depth_limit)
{
	ASSERT_RC(load_nested(1), EML_OK);
	ASSERT_RC(load_nested(EML_MAX_SUBGRAPH_DEPTH), EML_OK);
	ASSERT_RC(load_nested(EML_MAX_SUBGRAPH_DEPTH + 1), EML_E_ONNX_LIMIT);
}

Test(onnx_load, if_subgraph_sees_outer_values)
{
	tmodel t;
	tm_init(&t);
	Onnx__GraphProto store[16];
	Onnx__NodeProto nodes[16];
	Onnx__AttributeProto attrs[34];
	Onnx__ValueInfoProto outs[16];
	(void)nested_if(2, store, nodes, attrs, outs);
	Onnx__TensorProto ct;
	onnx__tensor_proto__init(&ct);
	ct.name = "C";
	ct.has_data_type = 1;
	ct.data_type = EML_DT_BOOL;
	int32_t one = 1;
	ct.n_int32_data = 1;
	ct.int32_data = &one;
	t.inits[1] = &ct;
	t.g.n_initializer = 2;
	t.g.node = store[2].node;
	t.out.name = "o2";
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	/* main + (then, else) at depth 1 + 2 x (then, else) at depth 2 */
	cr_assert_eq(m->n_graphs, 7);
	cr_assert_eq(m->graphs[0].parent, -1);
	const eml_node *ifn = &m->graphs[0].nodes[0];
	cr_assert_str_eq(ifn->op_type, "If");
	int32_t then_g = eml_node_attr(ifn, "then_branch")->graph;
	cr_assert_eq(m->graphs[then_g].parent, 0);
	/* the innermost Identity refers to the main graph's X by its id */
	int found = 0;
	for (uint32_t g = 1; g < m->n_graphs; g++)
		if (strcmp(m->graphs[g].nodes[0].op_type, "Identity") == 0) {
			cr_assert_eq(m->graphs[g].nodes[0].inputs[0], m->graphs[0].inputs[0]);
			found++;
		}
	cr_assert_eq(found, 4);
	eml_model_free(m);
	/* a branch may not see a value of a sibling graph: o0 is defined inside the branches */
	tm_init(&t);
	(void)nested_if(1, store, nodes, attrs, outs);
	t.inits[1] = &ct;
	t.g.n_initializer = 2;
	t.g.node = store[1].node;
	t.out.name = "o0";
	ASSERT_RC(tm_load(&t), EML_E_ONNX_UNDEFINED_VALUE);
}

static Onnx__AttributeProto *mk_attr(Onnx__AttributeProto *a, const char *name, int type)
{
	onnx__attribute_proto__init(a);
	a->name = (char *)name;
	a->has_type = 1;
	a->type = (Onnx__AttributeProto__AttributeType)type;
	return a;
}

Test(onnx_load, constant_forms_become_tensors_and_round_trip)
{
	tmodel t;
	tm_init(&t);
	/* four Constant nodes, one per form, plus a TENSOR-form one; the Add stays */
	Onnx__NodeProto cn[5];
	Onnx__AttributeProto ca[5], *cap[5][1];
	char *couts[5][1] = {{"c0"}, {"c1"}, {"c2"}, {"c3"}, {"c4"}};
	float fl[3] = {1.25f, -2, 3};
	int64_t il[2] = {7, -8};
	mk_attr(&ca[0], "value_float", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->f = 0.75f;
	ca[0].has_f = 1;
	mk_attr(&ca[1], "value_floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
	ca[1].n_floats = 3;
	ca[1].floats = fl;
	mk_attr(&ca[2], "value_int", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)->i = -42;
	ca[2].has_i = 1;
	mk_attr(&ca[3], "value_ints", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	ca[3].n_ints = 2;
	ca[3].ints = il;
	mk_attr(&ca[4], "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t = &t.w;
	Onnx__NodeProto *all[6];
	for (int i = 0; i < 5; i++) {
		onnx__node_proto__init(&cn[i]);
		cn[i].op_type = "Constant";
		cn[i].n_output = 1;
		cn[i].output = couts[i];
		cap[i][0] = &ca[i];
		cn[i].n_attribute = 1;
		cn[i].attribute = cap[i];
		all[i] = &cn[i];
	}
	all[5] = &t.node;
	t.g.node = all;
	t.g.n_node = 6;
	t.op.version = 13;
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	const int want_orig[5] = {EML_ATTR_FLOAT, EML_ATTR_FLOATS, EML_ATTR_INT, EML_ATTR_INTS, 0};
	const int want_dt[5] = {EML_DT_FLOAT, EML_DT_FLOAT, EML_DT_INT64, EML_DT_INT64,
	                        EML_DT_FLOAT};
	const uint32_t want_rank[5] = {0, 1, 0, 1, 1};
	for (int i = 0; i < 5; i++) {
		const eml_attr *a = &m->graphs[0].nodes[i].attrs[0];
		cr_assert_eq(a->type, EML_ATTR_TENSOR, "form %d", i);
		cr_assert_eq(a->orig_type, want_orig[i], "form %d", i);
		const eml_tensor *tt = &m->tensors[a->tensor];
		cr_assert_eq(tt->dtype, want_dt[i]);
		cr_assert_eq(tt->rank, want_rank[i]);
		cr_assert_eq(tt->offset % EML_DATA_ALIGN, 0);
	}
	float f0;
	memcpy(&f0, m->data + m->tensors[m->graphs[0].nodes[0].attrs[0].tensor].offset, 4);
	cr_assert_eq(f0, 0.75f);
	cr_assert_eq(
	    memcmp(m->data + m->tensors[m->graphs[0].nodes[1].attrs[0].tensor].offset, fl, 12), 0);
	cr_assert_eq(
	    memcmp(m->data + m->tensors[m->graphs[0].nodes[3].attrs[0].tensor].offset, il, 16), 0);
	/* save writes the original attribute forms back */
	uint8_t *bytes = NULL;
	size_t len = 0;
	ASSERT_RC(eml_onnx_save(m, &bytes, &len), EML_OK);
	Onnx__ModelProto *back = onnx__model_proto__unpack(NULL, len, bytes);
	cr_assert_not_null(back);
	cr_assert_eq(back->graph->node[0]->attribute[0]->type,
	             ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	cr_assert_eq(back->graph->node[0]->attribute[0]->f, 0.75f);
	cr_assert_eq(back->graph->node[1]->attribute[0]->n_floats, 3);
	cr_assert_eq(back->graph->node[2]->attribute[0]->i, -42);
	cr_assert_eq(back->graph->node[3]->attribute[0]->ints[1], -8);
	cr_assert_eq(back->graph->node[4]->attribute[0]->type,
	             ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
	cr_assert(back->graph->node[4]->attribute[0]->t->has_raw_data);
	onnx__model_proto__free_unpacked(back, NULL);
	eml_model *m2 = NULL;
	ASSERT_RC(eml_onnx_load_bytes(bytes, len, NULL, &m2), EML_OK);
	char why[160] = "";
	cr_assert_eq(eml_gen_model_diff(m, m2, why, sizeof(why)), 0, "%s", why);
	eml_free(bytes);
	eml_model_free(m);
	eml_model_free(m2);

	/* refused forms: string, sparse; TYPE_PROTO attributes anywhere */
	tm_init(&t);
	all[0] = &cn[0];
	all[1] = &t.node;
	t.g.node = all;
	t.g.n_node = 2;
	/* a form with the wrong type, an unknown name, two values: the payload would otherwise
	 * stay outside the tensor table */
	mk_attr(&ca[0], "value_floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	ca[0].n_ints = 2;
	ca[0].ints = il;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
	mk_attr(&ca[0], "weights", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
	ca[0].n_floats = 3;
	ca[0].floats = fl;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
	mk_attr(&ca[0], "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
	ca[0].n_floats = 3;
	ca[0].floats = fl;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
	mk_attr(&ca[0], "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t = &t.w;
	ASSERT_RC(tm_load(&t), EML_OK);
	Onnx__AttributeProto *two[2] = {&ca[0], &ca[1]};
	mk_attr(&ca[1], "value_floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
	ca[1].n_floats = 3;
	ca[1].floats = fl;
	cn[0].attribute = two;
	cn[0].n_attribute = 2;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
	cn[0].n_attribute = 0;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
	cn[0].attribute = cap[0];
	cn[0].n_attribute = 1;
	mk_attr(&ca[0], "value_string", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
	ASSERT_RC(tm_load(&t), EML_E_ONNX_STRING_TENSOR);
	mk_attr(&ca[0], "sparse_value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR);
	ASSERT_RC(tm_load(&t), EML_E_ONNX_SPARSE);
	cn[0].op_type = "Foo";
	mk_attr(&ca[0], "tp", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO);
	ASSERT_RC(tm_load(&t), EML_E_ONNX_TYPE_PROTO);
	mk_attr(&ca[0], "t", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR); /* no tensor */
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
	mk_attr(&ca[0], "t", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS);
	ASSERT_RC(tm_load(&t), EML_E_ONNX_ATTRIBUTE);
}

Test(onnx_load, sparse_initializers_are_refused)
{
	tmodel t;
	tm_init(&t);
	Onnx__SparseTensorProto sp, *spp[1] = {&sp};
	onnx__sparse_tensor_proto__init(&sp);
	t.g.n_sparse_initializer = 1;
	t.g.sparse_initializer = spp;
	ASSERT_RC(tm_load(&t), EML_E_ONNX_SPARSE);
}

/* ---- external data ---- */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

static Onnx__StringStringEntryProto ext_kv[3], *ext_p[3];

static void set_external(tmodel *t, const char *loc, const char *off, const char *len)
{
	t->w.n_float_data = 0;
	t->w.has_data_location = 1;
	t->w.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	size_t n = 0;
	const char *keys[3] = {"location", "offset", "length"};
	const char *vals[3] = {loc, off, len};
	for (int i = 0; i < 3; i++) {
		if (vals[i] == NULL)
			continue;
		onnx__string_string_entry_proto__init(&ext_kv[n]);
		ext_kv[n].key = (char *)keys[i];
		ext_kv[n].value = (char *)vals[i];
		ext_p[n] = &ext_kv[n];
		n++;
	}
	t->w.n_external_data = n;
	t->w.external_data = ext_p;
}

static int ext_load(const char *dir, const char *loc, const char *off, const char *len, float *got)
{
	tmodel t;
	tm_init(&t);
	set_external(&t, loc, off, len);
	eml_model *m = NULL;
	int rc = tm_load_dir(&t, dir, &m);
	if (rc == EML_OK && got != NULL)
		memcpy(got, m->data + m->tensors[0].offset, 16);
	eml_model_free(m);
	return rc;
}

Test(onnx_load, external_data_inside_the_folder_loads)
{
	char *root = eml_test_tmpdir();
	char dir[2048], p[4096];
	snprintf(dir, sizeof(dir), "%s/model", root);
	cr_assert_eq(mkdir(dir, 0700), 0);
	float blob[8] = {0, 1, 2, 3, 10, 11, 12, 13};
	snprintf(p, sizeof(p), "%s/w.bin", dir);
	write_file(p, blob, sizeof(blob));
	snprintf(p, sizeof(p), "%s/sub", dir);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/w2.bin", dir);
	write_file(p, blob, sizeof(blob));
	float got[4];
	ASSERT_RC(ext_load(dir, "w.bin", "16", "16", got), EML_OK);
	cr_assert_eq(memcmp(got, blob + 4, 16), 0);
	ASSERT_RC(ext_load(dir, "sub/w2.bin", NULL, "16", got), EML_OK);
	cr_assert_eq(memcmp(got, blob, 16), 0);
	ASSERT_RC(ext_load(dir, "./sub/w2.bin", "16", NULL, NULL), EML_OK);
	ASSERT_RC(ext_load(dir, "./sub/w2.bin", "0", NULL, NULL), EML_E_ONNX_EXTERNAL_DATA);
	/* a symlink that stays inside is fine */
	snprintf(p, sizeof(p), "%s/link.bin", dir);
	cr_assert_eq(symlink("sub/w2.bin", p), 0);
	ASSERT_RC(ext_load(dir, "link.bin", "16", "16", got), EML_OK);
	cr_assert_eq(memcmp(got, blob + 4, 16), 0);
	/* and through a model file: base_dir is the file's folder */
	tmodel t;
	tm_init(&t);
	set_external(&t, "w.bin", "0", "16");
	size_t len;
	uint8_t *b = tm_pack(&t, &len);
	snprintf(p, sizeof(p), "%s/m.onnx", dir);
	write_file(p, b, len);
	free(b);
	eml_model *m = NULL;
	ASSERT_RC(eml_onnx_load_file(p, &m), EML_OK);
	cr_assert_eq(memcmp(m->data + m->tensors[0].offset, blob, 16), 0);
	eml_model_free(m);
	eml_test_rmtree(root);
	free(root);
}

Test(onnx_load, external_data_refusals)
{
	char *root = eml_test_tmpdir();
	char dir[2048], p[4096];
	snprintf(dir, sizeof(dir), "%s/model", root);
	cr_assert_eq(mkdir(dir, 0700), 0);
	float blob[8] = {0};
	snprintf(p, sizeof(p), "%s/outside.bin", root);
	write_file(p, blob, sizeof(blob));
	snprintf(p, sizeof(p), "%s/w.bin", dir);
	write_file(p, blob, sizeof(blob));
	/* path escapes */
	ASSERT_RC(ext_load(dir, "../outside.bin", NULL, NULL, NULL), EML_E_ONNX_EXTERNAL_PATH);
	ASSERT_RC(ext_load(dir, "sub/../../outside.bin", NULL, NULL, NULL),
	          EML_E_ONNX_EXTERNAL_PATH);
	ASSERT_RC(ext_load(dir, p, NULL, NULL, NULL), EML_E_ONNX_EXTERNAL_PATH); /* absolute */
	ASSERT_RC(ext_load(dir, "/etc/passwd", NULL, NULL, NULL), EML_E_ONNX_EXTERNAL_PATH);
	ASSERT_RC(ext_load(dir, "..", NULL, NULL, NULL), EML_E_ONNX_EXTERNAL_PATH);
	char lk[4096];
	snprintf(lk, sizeof(lk), "%s/evil.bin", dir);
	cr_assert_eq(symlink("../outside.bin", lk), 0);
	ASSERT_RC(ext_load(dir, "evil.bin", NULL, "16", NULL), EML_E_ONNX_EXTERNAL_PATH);
	snprintf(lk, sizeof(lk), "%s/evildir", dir);
	cr_assert_eq(symlink(root, lk), 0);
	ASSERT_RC(ext_load(dir, "evildir/outside.bin", NULL, "16", NULL), EML_E_ONNX_EXTERNAL_PATH);
	/* missing, out of range, wrong length, malformed numbers, no location, no folder */
	ASSERT_RC(ext_load(dir, "missing.bin", NULL, NULL, NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, "w.bin", "24", "16", NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, "w.bin", "0", "12", NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, "w.bin", "-1", "16", NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, "w.bin", "99999999999999999999999", "16", NULL),
	          EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, "w.bin", NULL, NULL, NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, NULL, "0", "16", NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, ".", "0", "16", NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(NULL, "w.bin", "0", "16", NULL), EML_E_ONNX_EXTERNAL_DATA);
	ASSERT_RC(ext_load(dir, "w.bin", "0", "16", NULL), EML_OK); /* the control */
	eml_test_rmtree(root);
	free(root);
}

Test(onnx_load, save_refuses_without_data_and_writes_no_partial_file)
{
	tmodel t;
	tm_init(&t);
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	char *root = eml_test_tmpdir();
	char p[4096];
	snprintf(p, sizeof(p), "%s/out.onnx", root);
	uint8_t *keep = m->data;
	m->data = NULL;
	ASSERT_RC(eml_onnx_save_file(m, p), EML_E_ARG);
	cr_assert_neq(access(p, F_OK), 0, "no file after a failed save");
	m->data = keep;
	snprintf(p, sizeof(p), "%s/nodir/out.onnx", root);
	cr_assert_neq(eml_onnx_save_file(m, p), EML_OK);
	snprintf(p, sizeof(p), "%s/out.onnx", root);
	ASSERT_RC(eml_onnx_save_file(m, p), EML_OK);
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	eml_model_free(m);
	eml_test_rmtree(root);
	free(root);
}

Test(onnx_load, ir3_save_lists_initializers_as_inputs)
{
	tmodel t;
	tm_init(&t);
	t.mp.ir_version = 3;
	t.op.version = 8;
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	uint8_t *bytes = NULL;
	size_t len = 0;
	ASSERT_RC(eml_onnx_save(m, &bytes, &len), EML_OK);
	Onnx__ModelProto *back = onnx__model_proto__unpack(NULL, len, bytes);
	cr_assert_not_null(back);
	cr_assert_eq(back->graph->n_input, 2);
	cr_assert_eq(back->graph->n_initializer, 1);
	cr_assert_str_eq(back->graph->input[1]->name, back->graph->initializer[0]->name);
	onnx__model_proto__free_unpacked(back, NULL);
	eml_model *m2 = NULL;
	ASSERT_RC(eml_onnx_load_bytes(bytes, len, NULL, &m2), EML_OK);
	char why[160] = "";
	cr_assert_eq(eml_gen_model_diff(m, m2, why, sizeof(why)), 0, "%s", why);
	eml_free(bytes);
	eml_model_free(m);
	eml_model_free(m2);
}

Test(onnx_load, check_lists_unsupported_ops_with_counts)
{
	tmodel t;
	tm_init(&t);
	Onnx__NodeProto a, b, c, *all[4];
	char *ain[1] = {"Y"}, *aout[1] = {"A"}, *bout[1] = {"B"}, *cout_[1] = {"C"};
	Onnx__NodeProto *ns[3] = {&a, &b, &c};
	const char *ops[3] = {"StringNormalizer", "StringNormalizer", "FusedConv"};
	char **outs[3] = {aout, bout, cout_};
	for (int i = 0; i < 3; i++) {
		onnx__node_proto__init(ns[i]);
		ns[i]->op_type = (char *)ops[i];
		ns[i]->n_input = 1;
		ns[i]->input = ain;
		ns[i]->n_output = 1;
		ns[i]->output = outs[i];
	}
	c.domain = "com.microsoft";
	Onnx__OperatorSetIdProto ms;
	onnx__operator_set_id_proto__init(&ms);
	ms.domain = "com.microsoft";
	ms.has_version = 1;
	ms.version = 1;
	t.ops[1] = &ms;
	t.mp.n_opset_import = 2;
	all[0] = &t.node;
	all[1] = &a;
	all[2] = &b;
	all[3] = &c;
	t.g.node = all;
	t.g.n_node = 4;
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK); /* loading never refuses unknown ops */
	eml_unsupported_op *l = NULL;
	size_t n = 0;
	ASSERT_RC(eml_onnx_check(m, &l, &n), EML_OK);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(l[0].domain, "");
	cr_assert_str_eq(l[0].op_type, "StringNormalizer");
	cr_assert_eq(l[0].opset, 13);
	cr_assert_eq(l[0].count, 2);
	cr_assert_str_eq(l[1].domain, "com.microsoft");
	cr_assert_str_eq(l[1].op_type, "FusedConv");
	cr_assert_eq(l[1].opset, 1);
	cr_assert_eq(l[1].count, 1);
	eml_onnx_unsupported_free(l, n);
	eml_model_free(m);
}

Test(onnx_support, table_covers_the_claimed_operators)
{
	const char *claimed[] = {"Abs",
	                         "Add",
	                         "AveragePool",
	                         "BatchNormalization",
	                         "Cast",
	                         "Clip",
	                         "Concat",
	                         "Constant",
	                         "ConstantOfShape",
	                         "Conv",
	                         "ConvTranspose",
	                         "Div",
	                         "Dropout",
	                         "Equal",
	                         "Erf",
	                         "Exp",
	                         "Expand",
	                         "Flatten",
	                         "Gather",
	                         "Gemm",
	                         "GlobalAveragePool",
	                         "HardSigmoid",
	                         "HardSwish",
	                         "Identity",
	                         "If",
	                         "LeakyRelu",
	                         "MatMul",
	                         "Max",
	                         "MaxPool",
	                         "Min",
	                         "Mul",
	                         "Neg",
	                         "Not",
	                         "Pad",
	                         "Pow",
	                         "Reciprocal",
	                         "ReduceMean",
	                         "ReduceSum",
	                         "Relu",
	                         "Reshape",
	                         "Resize",
	                         "Shape",
	                         "Sigmoid",
	                         "Size",
	                         "Slice",
	                         "Softmax",
	                         "Split",
	                         "Sqrt",
	                         "Squeeze",
	                         "Sub",
	                         "Tanh",
	                         "Transpose",
	                         "Unsqueeze",
	                         "Where"};
	size_t n;
	const eml_op_support *tab = eml_onnx_support_table(&n);
	/* The table covers at least the engine issue's operators (later issues add more). */
	cr_assert_geq(n, (sizeof(claimed) / sizeof(claimed[0])));
	for (size_t i = 0; i < (sizeof(claimed) / sizeof(claimed[0])); i++) {
		for (int v = 7; v <= 20; v++) {
			cr_assert(eml_onnx_op_supported("", claimed[i], v), "%s %d", claimed[i], v);
			cr_assert(eml_onnx_op_supported("ai.onnx", claimed[i], v));
			cr_assert(eml_onnx_op_supported(NULL, claimed[i], v));
		}
		cr_assert_not(eml_onnx_op_supported("", claimed[i], 6));
		cr_assert_not(eml_onnx_op_supported("", claimed[i], 21));
		cr_assert_not(eml_onnx_op_supported("com.microsoft", claimed[i], 13));
	}
	cr_assert_not(eml_onnx_op_supported("", "StringNormalizer", 13));
	cr_assert_not(eml_onnx_op_supported("", "relu", 13), "op types are case-sensitive");
	cr_assert_not(eml_onnx_op_supported("", NULL, 13));
	cr_assert_str_eq(tab[0].domain, "");
}

Test(onnx_load, loop_body_inputs_and_tensor_attributes)
{
	tmodel t;
	tm_init(&t);
	/* M: int64 trip count initializer */
	Onnx__TensorProto mt;
	onnx__tensor_proto__init(&mt);
	mt.name = "M";
	mt.has_data_type = 1;
	mt.data_type = EML_DT_INT64;
	int64_t three = 3;
	mt.n_int64_data = 1;
	mt.int64_data = &three;
	t.inits[1] = &mt;
	t.g.n_initializer = 2;
	/* body: (i, c, xin) -> (cout = Identity(c), xout = Add(xin, W)) */
	Onnx__ValueInfoProto bi[3], *bip[3], bo[2], *bop[2];
	const char *bin_names[3] = {"i", "c", "xin"}, *bout_names[2] = {"cout", "xout"};
	for (int i = 0; i < 3; i++) {
		onnx__value_info_proto__init(&bi[i]);
		bi[i].name = (char *)bin_names[i];
		bip[i] = &bi[i];
	}
	for (int i = 0; i < 2; i++) {
		onnx__value_info_proto__init(&bo[i]);
		bo[i].name = (char *)bout_names[i];
		bop[i] = &bo[i];
	}
	Onnx__NodeProto bn[2], *bnp[2] = {&bn[0], &bn[1]};
	char *id_in[1] = {"c"}, *id_out[1] = {"cout"}, *add_in[2] = {"xin", "W"},
	     *add_out[1] = {"xout"};
	onnx__node_proto__init(&bn[0]);
	bn[0].op_type = "Identity";
	bn[0].n_input = 1;
	bn[0].input = id_in;
	bn[0].n_output = 1;
	bn[0].output = id_out;
	onnx__node_proto__init(&bn[1]);
	bn[1].op_type = "Add";
	bn[1].n_input = 2;
	bn[1].input = add_in;
	bn[1].n_output = 1;
	bn[1].output = add_out;
	Onnx__GraphProto body;
	onnx__graph_proto__init(&body);
	body.n_input = 3;
	body.input = bip;
	body.n_output = 2;
	body.output = bop;
	body.n_node = 2;
	body.node = bnp;
	Onnx__AttributeProto ba, *bap[1] = {&ba};
	mk_attr(&ba, "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = &body;
	Onnx__NodeProto loop;
	char *loop_in[3] = {"M", "", "X"}, *loop_out[1] = {"L"};
	onnx__node_proto__init(&loop);
	loop.op_type = "Loop";
	loop.n_input = 3;
	loop.input = loop_in;
	loop.n_output = 1;
	loop.output = loop_out;
	loop.n_attribute = 1;
	loop.attribute = bap;
	/* ConstantOfShape(M-shaped int64 vector) with a TENSOR value attribute */
	Onnx__TensorProto cv;
	onnx__tensor_proto__init(&cv);
	cv.has_data_type = 1;
	cv.data_type = EML_DT_FLOAT;
	int64_t one = 1;
	cv.n_dims = 1;
	cv.dims = &one;
	float two = 2.0f;
	cv.n_float_data = 1;
	cv.float_data = &two;
	Onnx__AttributeProto va, *vap[1] = {&va};
	mk_attr(&va, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t = &cv;
	Onnx__NodeProto cos_;
	char *cos_in[1] = {"M"}, *cos_out[1] = {"S"};
	onnx__node_proto__init(&cos_);
	cos_.op_type = "ConstantOfShape";
	cos_.n_input = 1;
	cos_.input = cos_in;
	cos_.n_output = 1;
	cos_.output = cos_out;
	cos_.n_attribute = 1;
	cos_.attribute = vap;
	Onnx__NodeProto *all[3] = {&t.node, &loop, &cos_};
	t.g.node = all;
	t.g.n_node = 3;
	eml_model *m = NULL;
	ASSERT_RC(tm_load_dir(&t, NULL, &m), EML_OK);
	cr_assert_eq(m->n_graphs, 2);
	const eml_node *ln = &m->graphs[0].nodes[1];
	cr_assert_eq(ln->inputs[1], -1, "omitted optional input");
	int32_t bg = eml_node_attr(ln, "body")->graph;
	const eml_graph *b = &m->graphs[bg];
	cr_assert_eq(b->parent, 0);
	cr_assert_eq(b->n_inputs, 3);
	cr_assert_eq(b->n_outputs, 2);
	cr_assert_null(m->values[b->inputs[0]].name, "only main-graph I/O names are kept");
	cr_assert_eq(b->nodes[1].inputs[0], b->inputs[2]);
	cr_assert_eq(b->nodes[1].inputs[1], m->graphs[0].initializers[0], "outer weight by id");
	const eml_attr *va2 = eml_node_attr(&m->graphs[0].nodes[2], "value");
	cr_assert_eq(va2->type, EML_ATTR_TENSOR);
	cr_assert_eq(va2->orig_type, 0);
	cr_assert_eq(m->tensors[va2->tensor].rank, 1);
	float got;
	memcpy(&got, m->data + m->tensors[va2->tensor].offset, 4);
	cr_assert_eq(got, 2.0f);
	eml_unsupported_op *l = NULL;
	size_t n = 0;
	ASSERT_RC(eml_onnx_check(m, &l, &n), EML_OK);
	/* Loop is claimed (opsets 11-18, unrolled at assembly: docs/ONNX.md); Loop-1 is not */
	int64_t ops = eml_model_opset(m, "");
	cr_assert_eq(n, ops >= 11 ? 0u : 1u, "opset %lld: %zu unsupported", (long long)ops, n);
	if (n == 1)
		cr_assert_str_eq(l[0].op_type, "Loop");
	eml_onnx_unsupported_free(l, n);
	/* and it round-trips */
	uint8_t *bytes = NULL;
	size_t len = 0;
	ASSERT_RC(eml_onnx_save(m, &bytes, &len), EML_OK);
	eml_model *m2 = NULL;
	ASSERT_RC(eml_onnx_load_bytes(bytes, len, NULL, &m2), EML_OK);
	char why[160] = "";
	cr_assert_eq(eml_gen_model_diff(m, m2, why, sizeof(why)), 0, "%s", why);
	eml_free(bytes);
	eml_model_free(m);
	eml_model_free(m2);
	/* a body input may not clash with a name of its own graph */
	bi[2].name = "cout";
	ASSERT_RC(tm_load(&t), EML_E_ONNX_DUPLICATE_NAME);
}

/* Deeply nested messages (TypeProto -> Sequence -> TypeProto ...) are refused before protobuf-c
 * recurses into them (a stack overflow otherwise). Built inside out, back to front. */
static size_t put_varint_back(uint8_t *end, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	memcpy(end - n, tmp, n);
	return n;
}

static size_t wrap_back(uint8_t *buf, size_t start, size_t len, uint32_t field)
{
	/* the message occupies buf[start, start+len); prepend key and length */
	start -= put_varint_back(buf + start, len);
	start -= put_varint_back(buf + start, ((uint64_t)field << 3) | 2);
	return start;
}

static int load_nested_types(int levels)
{
	size_t cap = (size_t)levels * 12 + 256;
	uint8_t *buf = malloc(cap);
	size_t end = cap, start = cap;
	for (int i = 0; i < levels; i++) {
		start = wrap_back(buf, start, end - start, 1); /* Sequence.elem_type = TypeProto */
		start = wrap_back(buf, start, end - start, 4); /* TypeProto.sequence_type */
	}
	start = wrap_back(buf, start, end - start, 2);   /* ValueInfoProto.type */
	static const uint8_t name[] = {0x0a, 0x01, 'X'}; /* ValueInfoProto.name = "X" */
	start -= sizeof(name);
	memcpy(buf + start, name, sizeof(name));
	start = wrap_back(buf, start, end - start, 11); /* GraphProto.input */
	start = wrap_back(buf, start, end - start, 7);  /* ModelProto.graph */
	static const uint8_t head[] = {0x08, 0x07};     /* ir_version = 7 */
	start -= sizeof(head);
	memcpy(buf + start, head, sizeof(head));
	eml_model *m = NULL;
	int rc = eml_onnx_load_bytes(buf + start, end - start, NULL, &m);
	eml_model_free(m);
	free(buf);
	return rc;
}

Test(onnx_load, deep_message_nesting_is_refused_before_decoding)
{
	/* shallow: decodes, then fails later for the missing opset import */
	ASSERT_RC(load_nested_types(3), EML_E_ONNX_OPSET);
	ASSERT_RC(load_nested_types(EML_ONNX_MAX_MESSAGE_DEPTH), EML_E_ONNX_LIMIT);
	ASSERT_RC(load_nested_types(200000), EML_E_ONNX_LIMIT);
}
