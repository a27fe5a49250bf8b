/*
 * The model IR: the one in-memory form of a neural network that every other module shares.
 *
 *   ONNX file --(src/onnx)--> eml_model --(src/topo)--> topology key + weight blob
 *   topology key + decrypted blob --(src/topo)--> eml_model --(src/engine)--> plan --> run
 *   eml_model --(src/onnx)--> ONNX file (recompose)
 *
 * Names are gone: every value (graph input, output, intermediate, weight) is an index into one
 * model-wide value table, shared by the main graph and all subgraphs (so a subgraph refers to an
 * outer-scope value simply by its id). Tensor *values* (initializers, Constant payloads, TENSOR
 * attributes) live in one plaintext byte area `data`, each 64-byte aligned, described by the
 * tensor table; the topology key stores the tables, the weight blob stores `data` encrypted.
 *
 * Ownership: an eml_model owns every pointer inside it; eml_model_free wipes and frees them all.
 * All strings and arrays come from eml_alloc. Not thread-safe for mutation; read-only use from
 * several threads is safe.
 */
#ifndef EML_MODEL_MODEL_H
#define EML_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* ONNX TensorProto.DataType numbering, so conversions are the identity. */
enum eml_dtype {
	EML_DT_UNDEFINED = 0,
	EML_DT_FLOAT = 1,
	EML_DT_UINT8 = 2,
	EML_DT_INT8 = 3,
	EML_DT_UINT16 = 4,
	EML_DT_INT16 = 5,
	EML_DT_INT32 = 6,
	EML_DT_INT64 = 7,
	EML_DT_STRING = 8,
	EML_DT_BOOL = 9,
	EML_DT_FLOAT16 = 10,
	EML_DT_DOUBLE = 11,
	EML_DT_UINT32 = 12,
	EML_DT_UINT64 = 13,
};

/* ONNX AttributeProto.AttributeType numbering. */
enum eml_attr_type {
	EML_ATTR_UNDEFINED = 0,
	EML_ATTR_FLOAT = 1,
	EML_ATTR_INT = 2,
	EML_ATTR_STRING = 3,
	EML_ATTR_TENSOR = 4, /* .tensor is an index into the tensor table */
	EML_ATTR_GRAPH = 5,  /* .graph is an index into model->graphs */
	EML_ATTR_FLOATS = 6,
	EML_ATTR_INTS = 7,
	EML_ATTR_STRINGS = 8,
	EML_ATTR_GRAPHS = 10, /* .graphs_idx[n] */
};

/* Named limits, checked before allocating (DESIGN §10). */
#define EML_MAX_RANK 8
#define EML_MAX_NODES (1u << 20)
#define EML_MAX_VALUES (1u << 22)
#define EML_MAX_TENSORS (1u << 20)
#define EML_MAX_GRAPHS 4096u
#define EML_MAX_SUBGRAPH_DEPTH 8
#define EML_MAX_ATTRS 256u
#define EML_MAX_ATTR_ELEMS (1u << 20)
#define EML_MAX_NODE_IO 4096u
#define EML_MAX_STRING_LEN 4096u
#define EML_MAX_TENSOR_ELEMS ((uint64_t)1 << 32)
#define EML_MAX_DATA_BYTES ((uint64_t)16 << 30)
#define EML_DATA_ALIGN 64

/* Byte size of one element of a dtype; 0 for UNDEFINED/STRING/unknown. */
size_t eml_dtype_size(int dtype);
/* "float", "int64", ... ; "undefined" for unknown numbers. */
const char *eml_dtype_name(int dtype);

/* A dimension: value >= 0 when known; value == -1 when symbolic (sym > 0 names the symbol,
 * numbered model-wide; original symbol names are not kept) or unknown (sym == 0). */
typedef struct eml_dim {
	int64_t value;
	uint32_t sym;
} eml_dim;

/* One tensor value stored in `data`. */
typedef struct eml_tensor {
	int32_t dtype;
	uint32_t rank;
	int64_t dims[EML_MAX_RANK];
	uint64_t offset; /* into model->data, multiple of EML_DATA_ALIGN */
	uint64_t length; /* bytes = elements * dtype size */
} eml_tensor;

/* A value in the model-wide table. */
typedef struct eml_value {
	int32_t dtype; /* EML_DT_UNDEFINED when not declared */
	int32_t rank;  /* -1 when not declared */
	eml_dim dims[EML_MAX_RANK];
	int32_t tensor; /* >= 0: a constant (initializer), index into tensors; -1 otherwise */
	char *name;     /* NULL unless I/O names are kept (decompose --keep-io-names) */
} eml_value;

typedef struct eml_attr {
	char *name;
	int32_t type; /* enum eml_attr_type */
	/* For Constant's value_float/value_floats/value_int/value_ints, whose payload moves into the
	 * tensor table: the original ONNX attribute type (FLOAT, FLOATS, INT, INTS); else 0. */
	int32_t orig_type;
	float f;
	int64_t i;
	int32_t tensor; /* EML_ATTR_TENSOR */
	int32_t graph;  /* EML_ATTR_GRAPH */
	uint8_t *s;     /* EML_ATTR_STRING: bytes, s_len long (not NUL-terminated in ONNX) */
	size_t s_len;
	uint32_t n; /* element count of floats / ints / strings / graphs */
	float *floats;
	int64_t *ints;
	uint8_t **strings;   /* EML_ATTR_STRINGS: n byte strings ... */
	size_t *string_lens; /* ... of these lengths */
	int32_t *graphs;     /* EML_ATTR_GRAPHS */
} eml_attr;

typedef struct eml_node {
	char *op_type;
	char *domain; /* "" for the default ONNX domain */
	uint32_t n_inputs, n_outputs, n_attrs;
	int32_t *inputs;  /* value ids; -1 for an omitted optional input */
	int32_t *outputs; /* value ids; -1 for an omitted optional output */
	eml_attr *attrs;
} eml_node;

typedef struct eml_graph {
	int32_t parent; /* index of the enclosing graph; -1 for the main graph (graphs[0]) */
	uint32_t n_nodes, n_inputs, n_outputs, n_initializers;
	eml_node *nodes; /* in topological order as given by the file */
	int32_t *inputs; /* value ids (initializers that were also listed as inputs are not here) */
	int32_t *outputs;
	int32_t *initializers; /* value ids whose .tensor >= 0, declared in this graph */
} eml_graph;

typedef struct eml_opset {
	char *domain;
	int64_t version;
} eml_opset;

typedef struct eml_model {
	int64_t ir_version;
	uint32_t n_opsets, n_values, n_tensors, n_graphs;
	eml_opset *opsets;
	eml_value *values;
	eml_tensor *tensors;
	eml_graph *graphs; /* graphs[0] is the main graph */
	uint8_t *data;     /* plaintext tensor bytes; NULL when only the topology is loaded */
	uint64_t data_len;
	/* Storage of `data`: 0 = eml_alloc, 1 = eml_secmem_map (data_map_len bytes), 2 = borrowed
	 * (not freed here; the owner wipes it). */
	int data_storage;
	size_t data_map_len;
	/* Non-NULL: every table, name, id array and attribute above (not `data`) lives in this
	 * arena (a parsed topology key: one allocation per chunk instead of thousands), and
	 * eml_model_free wipes and frees it at once. NULL: each is its own eml_alloc. */
	struct eml_arena *arena;
} eml_model;

/* A new, empty model (all counts 0). NULL on allocation failure. */
eml_model *eml_model_new(void);
/* Wipe and free everything the model owns, then the model. NULL is a no-op. */
void eml_model_free(eml_model *m);

/* Default-domain opset version of the model; 0 when not imported. */
int64_t eml_model_opset(const eml_model *m, const char *domain);

/* Element count of a tensor (product of dims; 1 for rank 0). */
uint64_t eml_tensor_elems(const eml_tensor *t);

/* Find an attribute of a node by name; NULL when absent. */
const eml_attr *eml_node_attr(const eml_node *n, const char *name);

#endif
