/*
 * Random valid ONNX models for tests (property tests, engine conformance, decompose).
 *
 *   eml_gen_opts o = {0};              // defaults: all families, random opset 7..20
 *   o.n_unsupported = 2;               // inject 2 unsupported operator nodes
 *   uint8_t *onnx; size_t len; eml_gen_info info;
 *   eml_gen_model(&rng, &o, &onnx, &len, &info);   // onnx: eml_alloc'd ModelProto bytes
 *
 * Models are built from supported operators only (src/onnx/support.c): MLPs (MatMul/Gemm, Add,
 * activations, Softmax, Clip, Dropout, Unsqueeze/Squeeze, Split/Concat, Gather, Slice,
 * ReduceMean/Sum, element-wise Div/Pow/Exp/Reciprocal/Neg/Where/Equal/Not, ConstantOfShape,
 * Expand) and CNNs (Conv with random kernel/stride/pad/dilation/groups, ConvTranspose,
 * BatchNormalization, Max/AveragePool, GlobalAveragePool, Pad, Resize, Transpose,
 * Flatten/Reshape, the exporters' Shape/Gather/Unsqueeze/Concat/Reshape flatten chain, Concat,
 * Softmax), float32 weights
 * mostly, some float16/double initializers behind a Cast, int64 shape constants in Constant nodes
 * of every form (value, value_ints, value_int, value_float(s)), and sometimes an If with a
 * constant condition. Per-opset forms are respected (Clip min/max attributes before 11, inputs
 * from 11; Split/Squeeze/Unsqueeze/ReduceSum axes attribute before 13, input from 13; ReduceMean
 * axes input from 18; Pad pads input from 11; Slice starts/ends inputs from 10; Resize only
 * from 10 (roi input required in 11-12); HardSwish from 14; Equal on floats from 11).
 *
 * The IR is built first (the model IR of src/model/model.h), then written with eml_onnx_save,
 * which packs it with protobuf-c. Samples are accepted by ONNX Runtime (checked with
 * onnxruntime-node; see docs/ONNX.md). Injected unsupported nodes (made-up op types, other
 * domains, real ONNX ops we do not claim such as Loop, and nodes inside If branches) have unused
 * outputs, so the rest of the model stays valid ONNX for the loader.
 */
#ifndef EML_TEST_GEN_ONNX_H
#define EML_TEST_GEN_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "prop.h"

enum {
	EML_GEN_MLP = 1,
	EML_GEN_CNN = 2,
	EML_GEN_ALL = 3,
};

typedef struct eml_gen_opts {
	unsigned families; /* EML_GEN_* bitmask; 0 = all */
	int opset;         /* default-domain opset 7..20; 0 = random */
	int max_layers;    /* hidden layers / conv blocks; 0 = 4 */
	int max_features;  /* MLP width; 0 = 32 */
	int max_channels;  /* CNN channels; 0 = 12 */
	int max_spatial;   /* CNN input height/width; 0 = 16 */
	int max_batch;     /* 0 = 3 */
	int n_unsupported; /* unsupported operator nodes to inject (reported in info) */
	int no_if;         /* 1: never emit If */
	int no_dtypes;     /* 1: float32 weights only (no float16/double + Cast) */
} eml_gen_opts;

#define EML_GEN_MAX_INJECT 64

typedef struct eml_gen_input {
	char name[32];
	int32_t dtype;
	uint32_t rank;
	int64_t
	    dims[EML_MAX_RANK]; /* the concrete shape to feed (the model may declare a symbol) */
} eml_gen_input;

typedef struct eml_gen_injected {
	char domain[64]; /* "" for the default domain */
	char op_type[64];
	int64_t opset; /* the model's import of that domain */
	uint32_t count;
} eml_gen_injected;

typedef struct eml_gen_info {
	int opset;
	int family;       /* EML_GEN_MLP or EML_GEN_CNN */
	uint32_t n_nodes; /* all graphs */
	int has_if;
	uint32_t n_inputs;
	eml_gen_input inputs[4];
	uint32_t n_outputs;
	eml_gen_input outputs[4];
	/* Injected unsupported operators, aggregated per (domain, op_type, opset) with counts,
	 * sorted like eml_onnx_check's list (domain, op_type, opset). */
	uint32_t n_injected;
	eml_gen_injected injected[EML_GEN_MAX_INJECT];
} eml_gen_info;

/* Build one random model; *onnx is eml_alloc'd (free with eml_free). info may be NULL. */
int eml_gen_model(eml_rng *r, const eml_gen_opts *o, uint8_t **onnx, size_t *len,
                  eml_gen_info *info);
/* The same, returning the IR model (before saving). */
int eml_gen_model_ir(eml_rng *r, const eml_gen_opts *o, eml_model **out, eml_gen_info *info);

/* Structural comparison of two IR models (ids, graphs, nodes, attributes, value types, tensor
 * tables and tensor bytes; offsets are not compared). 0 when equal; otherwise 1 and a short
 * reason in why. */
int eml_gen_model_diff(const eml_model *a, const eml_model *b, char *why, size_t why_len);

#endif
