/*
 * The inference engine: load -> plan -> run -> wipe (DESIGN §6).
 *
 * eml_engine_assemble takes a model whose `data` holds the plaintext tensor bytes, and the concrete
 * inputs of one request; it infers every shape and dtype, folds constants, fuses, pre-packs weights
 * and places every intermediate in ONE arena (eml_secmem_map: mmap + mlock + MADV_DONTDUMP +
 * MADV_WIPEONFORK) by liveness. The plan copies into its arena everything it needs from the model
 * (the model may be freed right after assembly). eml_plan_run allocates nothing.
 * eml_plan_free wipes (non-elidably) and unmaps the arena and frees the plan.
 *
 * Assembly also fuses (BatchNormalization, a constant Mul/Add and activations into the producing
 * Conv/ConvTranspose/Gemm/MatMul; x*Clip(x+3,0,6)/6 into HardSwish), aliases views (Reshape,
 * Flatten, Squeeze, Unsqueeze, Identity, Dropout share their input's bytes) and, the plan being
 * per request, resolves every shape-like input (Reshape shapes, Slice bounds, an If condition)
 * from constants or from the request's own input bytes; an If whose condition is computed at run
 * time gets both branches planned.
 *
 * Threads: each plan owns one eml_threadpool of opts->threads workers (0 = all online cores),
 * created at assembly and joined in eml_plan_free; scratch is sized for it.
 * Thread-safety: a plan is used by one thread at a time (it runs its own worker threads).
 * Distinct plans are independent.
 */
#ifndef EML_ENGINE_ENGINE_H
#define EML_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* One tensor handed in or out. For inputs `data` is borrowed for the duration of
 * eml_engine_assemble (it is copied into the arena). For outputs `data` points into the arena and
 * is valid until eml_plan_free. */
typedef struct eml_io_tensor {
	const char *name; /* inputs: kept graph-input name, or NULL to match by position */
	int32_t dtype;    /* enum eml_dtype */
	uint32_t rank;
	int64_t dims[EML_MAX_RANK];
	const void *data;
	uint64_t bytes;
} eml_io_tensor;

typedef struct eml_engine_opts {
	int threads;         /* 0 = all online cores */
	uint64_t max_memory; /* 0 = no limit; else assembly fails with ENGINE_MEMORY_LIMIT */
} eml_engine_opts;

typedef struct eml_plan eml_plan;

/* The thread count opts asks for (0 = all online cores), clamped as the thread pool does. */
int eml_engine_threads(const eml_engine_opts *opts);

/*
 * Build a plan for `inputs` (graph inputs in order, or matched by name when names are set).
 * Fails with ENGINE_INPUT_* naming nothing secret; *bad_input (if non-NULL) receives the index of
 * the offending graph input, or -1. On failure everything partially built is wiped.
 */
int eml_engine_assemble(const eml_model *m, const eml_io_tensor *inputs, size_t n_inputs,
                        const eml_engine_opts *opts, eml_plan **out, int *bad_input);

/* Run the plan once; allocates nothing. May be called again (same inputs) for benchmarks. */
int eml_plan_run(eml_plan *p);

size_t eml_plan_n_outputs(const eml_plan *p);
/* View of output i (into the arena; valid until eml_plan_free). name is the kept name or NULL. */
int eml_plan_output(const eml_plan *p, size_t i, eml_io_tensor *out);
/* Peak arena bytes, known after assembly. */
uint64_t eml_plan_arena_bytes(const eml_plan *p);
/* Wipe and unmap everything; NULL is a no-op. */
void eml_plan_free(eml_plan *p);

/* Profiling for `eml run --profile` and benchmarks: when on, each run adds every step's wall time
 * (the plan's own model: never used inside the enclave, which reports no per-op figures). */
int eml_plan_set_profile(eml_plan *p, int on);
/* Planned steps (folded and fused nodes are not steps). */
size_t eml_plan_n_steps(const eml_plan *p);
/* Step i's operator name (a fused step shows its producing op) and accumulated nanoseconds. */
int eml_plan_step_profile(const eml_plan *p, size_t i, const char **op, uint64_t *ns);

/* The operator support table shared with `eml check` (src/onnx/support.c owns the list): what the
 * engine implements, as (op, first opset, last opset) for the default ONNX domain. `If` is handled
 * by the assembler itself and listed too. Static storage; thread-safe. */
typedef struct eml_engine_op_info {
	const char *op;
	int since, until;
} eml_engine_op_info;
const eml_engine_op_info *eml_engine_op_table(size_t *n);

#endif
