/*
 * Engine internals shared by the assembler (assemble.c) and the operators (ops/ *.c).
 *
 * Every value of the model (graph inputs, initializers, intermediates, subgraph values) has one
 * eml_rt record in the plan, indexed by its model value id; operators may add extra records (packed
 * weights, folded constants) after those. During assembly `data` points to temporary heap memory
 * (folded constants) or to the caller's input bytes; after placement every `data` points into the
 * plan's single arena.
 *
 * An operator is one eml_op_def: `prep` validates attributes, infers output dtypes and shapes from
 * the inputs (values of CONST/INPUT inputs may be read), stores what `run` needs in `state`
 * (eml_alloc'd, owned by the step) and asks for scratch bytes; `run` computes and never allocates.
 * Adding an operator = one file in ops/ + one line in optable.c.
 */
#ifndef EML_ENGINE_INTERNAL_H
#define EML_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/threadpool.h"
#include "model/model.h"

/* Per-request limits. */
#define EML_ENGINE_MAX_DIM ((int64_t)1 << 31)
#define EML_ENGINE_MAX_STEPS (1u << 20)
/* Nodes whose outputs are larger than this are planned, not folded: folding runs on the heap
 * before max_memory is known to hold, so it stays small. */
#define EML_ENGINE_FOLD_MAX_BYTES ((uint64_t)64 << 20)

enum eml_rt_kind {
	EML_RT_NONE = 0, /* not produced (yet) */
	EML_RT_CONST,    /* known at assembly: initializer, Constant, folded */
	EML_RT_INPUT,    /* a graph input: bytes known at assembly (the plan is per request) */
	EML_RT_INTER,    /* computed when the plan runs */
};

typedef struct eml_rt {
	int32_t dtype;
	uint32_t rank;
	int64_t dims[EML_MAX_RANK];
	uint64_t elems;
	uint64_t bytes;
	void *data;
	int kind;
	/* Assembly bookkeeping. */
	int32_t id; /* index of this record in the plan */
	void *heap; /* bytes of a CONST produced at assembly (eml_rt_heap_*; wiped at the end) */
	size_t heap_map; /* nonzero: `heap` is an eml_secmem_map region of this length */
	int deferred;    /* a CONST whose bytes its step writes into the arena (finalize) */
	int32_t alias;   /* >= 0: shares the storage of that record (Reshape & co.) */
	int32_t first;   /* step producing it (-1: before the first step) */
	int32_t last;    /* last step reading it (INT32_MAX: graph output) */
	int used;        /* read by a planned step or is a graph output */
	uint64_t off;    /* arena offset of the storage root */
	int placed;
} eml_rt;

struct eml_build;

/* Slots after n_in that prep/fuse may fill (fused bias, packed weights) so liveness sees them. */
#define EML_OP_EXTRA_IN 4

typedef struct eml_op_ctx {
	struct eml_build *b;  /* assembly state (NULL while running) */
	const eml_node *node; /* valid in prep only */
	int64_t opset;        /* default-domain opset of the model */
	uint32_t n_in, n_out, cap_in;
	eml_rt **in;  /* NULL entries for omitted optional inputs; room for EML_OP_EXTRA_IN more */
	eml_rt **out; /* NULL entries for omitted optional outputs */
	void *state;  /* operator private, eml_alloc'd; freed (wiped) with the plan */
	size_t scratch_bytes; /* prep: bytes of scratch needed by run */
	void *scratch;
	eml_threadpool *pool;
	int threads;
	int alias_out0; /* prep sets 1 when out[0] may share in[0]'s storage (no copy) */
	int no_fold;    /* prep sets 1 to forbid constant folding of this node */
	/* prep may set: after placement, writes the step's deferred constants (e.g. weights packed
	 * once, after every fusion, straight into the arena) */
	int (*finalize)(struct eml_op_ctx *c);
	int fold_always; /* prep sets 1 when outputs depend only on shapes (Shape, Size) */
	int inplace;     /* prep sets 1 when out[0] may overwrite an input of its exact shape
	                  * (elementwise: each element read before written at the same index) */
} eml_op_ctx;

typedef int (*eml_op_fn)(eml_op_ctx *c);

/* A fusion request offered to the step that produced the value (see assemble.c). */
enum eml_fuse_kind {
	EML_FUSE_ACT = 1, /* act (enum eml_act of kernels/gemm.h numbering), a, b */
	EML_FUSE_BIAS,    /* add a constant bias `t` (already checked broadcast-compatible by op) */
	EML_FUSE_BN,      /* BatchNormalization with constant scale/B/mean/var: t[0..3], eps */
	EML_FUSE_SCALE,   /* multiply by a constant `t` (scalar or per output channel) */
};

typedef struct eml_fuse_req {
	int kind;
	int act;
	float a, b;
	float eps;
	const eml_rt *t[4];
} eml_fuse_req;

typedef struct eml_op_def {
	const char *op;
	int since, until; /* opset versions handled, inclusive */
	eml_op_fn prep;
	eml_op_fn run;
	/* Optional: absorb a following cheap op into this step. Returns 1 when absorbed, 0 when
	 * not (the op is then planned on its own), or an error code < 0 never (always 0/1). */
	int (*fuse)(eml_op_ctx *c, const eml_fuse_req *r);
	/* Optional: describe this node as a fusion request (for activation / Add / BN nodes). */
	int (*as_fuse)(eml_op_ctx *c, eml_fuse_req *r);
} eml_op_def;

/* The registry (optable.c). */
const eml_op_def *eml_engine_op_find(const char *op, int64_t opset);

/* --- helpers for operators (assemble.c / ophelp.c) --- */

/* Set an output's dtype and shape and its derived sizes; checks limits (ENGINE_SHAPE). */
int eml_rt_set(eml_rt *t, int32_t dtype, uint32_t rank, const int64_t *dims);
/* Known at assembly (CONST or INPUT). */
int eml_rt_known(const eml_rt *t);
/* Read element i of an integer-like tensor (int64/int32/...). */
int64_t eml_rt_get_i(const eml_rt *t, uint64_t i);
double eml_rt_get_f(const eml_rt *t, uint64_t i);
/* Read a known 1-D int tensor into out (at most max elements); ENGINE_SHAPE when unknown. */
int eml_rt_ints(const eml_rt *t, int64_t *out, size_t max, size_t *n);

/* Attributes (prep only). */
int64_t eml_attr_i(const eml_node *n, const char *name, int64_t def);
float eml_attr_f(const eml_node *n, const char *name, float def);
/* Ints attribute; *n = 0 when absent. Returns the array (owned by the model) or NULL. */
const int64_t *eml_attr_ints(const eml_node *n, const char *name, uint32_t *cnt);
const float *eml_attr_floats(const eml_node *n, const char *name, uint32_t *cnt);
/* String attribute compare: 1 when the attribute equals s (or is absent and def_match). */
int eml_attr_s_eq(const eml_node *n, const char *name, const char *s, int def_match);
int eml_attr_s_copy(const eml_node *n, const char *name, char *buf, size_t cap);

/* Allocate the step's state of `size` bytes, zeroed (ENGINE_OP via NOMEM). */
int eml_op_state(eml_op_ctx *c, size_t size, void **out);

/* Zeroed temporary storage of a record built at assembly: large sizes come from the locked
 * secure-memory pool (packed weights are secret and large), small ones from eml_alloc.
 * eml_rt_heap_free wipes and releases it (NULL-safe, idempotent). */
int eml_rt_heap_alloc(eml_rt *t, size_t bytes);
void eml_rt_heap_free(eml_rt *t);

/* A CONST record of dtype/shape with no bytes yet: the step's finalize writes them into the
 * arena after placement. Nothing may read it before (it is never folded). */
int eml_build_new_const_deferred(struct eml_build *b, int32_t dtype, uint32_t rank,
                                 const int64_t *dims, eml_rt **out);

/* Create a new CONST record (e.g. packed weights) of dtype/shape, heap-backed, zeroed. */
int eml_build_new_const(struct eml_build *b, int32_t dtype, uint32_t rank, const int64_t *dims,
                        eml_rt **out);

/* Append a record (e.g. a fused constant) to the step's inputs; ENGINE_OP when full. */
int eml_op_add_input(eml_op_ctx *c, eml_rt *t);

/* Normalize an axis in [-r, r-1] -> [0, r-1]; ENGINE_SHAPE when out of range. */
int eml_axis(int64_t a, uint32_t r, uint32_t *out);

/* Broadcast two shapes (numpy rules). */
int eml_bcast_shape(uint32_t ra, const int64_t *da, uint32_t rb, const int64_t *db, uint32_t *rr,
                    int64_t *dr);

/* Split an element range [0, n) across the pool in chunks; fn(ctx, begin, end). */
typedef void (*eml_range_fn)(void *ctx, size_t begin, size_t end);
void eml_parallel_for(eml_threadpool *pool, int threads, size_t n, size_t grain, eml_range_fn fn,
                      void *ctx);

#endif
