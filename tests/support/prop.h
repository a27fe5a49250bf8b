/*
 * Property-based testing on top of Criterion.
 *
 * A property test runs EML_PROP_ITERS cases (default 100, never fewer than 100 unless the variable
 * says so) from a base seed: EML_PROP_SEED when set (decimal or 0x-hex), otherwise a fresh one.
 * Case i uses a PRNG seeded from (base seed, i). Every failed PROP_ASSERT prints the base seed and
 * the case number, so `EML_PROP_SEED=<seed> ./prop_x` replays the failure exactly.
 *
 *   Test(prop, decomposition_separation,
 *        .description = "Feature: ephemeral-inference, Property 1: ...") {
 *           PROP_FOR_EACH_CASE(rng) {
 *                   ... PROP_ASSERT(cond, "what went wrong %d", x); ...
 *           }
 *   }
 */
#ifndef EML_TEST_PROP_H
#define EML_TEST_PROP_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. Deterministic across platforms. */
typedef struct eml_rng {
	uint64_t s[4];
} eml_rng;

void eml_rng_seed(eml_rng *r, uint64_t seed);
uint64_t eml_rng_u64(eml_rng *r);
/* Uniform in [0, n) (n > 0). */
uint64_t eml_rng_below(eml_rng *r, uint64_t n);
/* Uniform in [lo, hi] inclusive. */
int64_t eml_rng_range(eml_rng *r, int64_t lo, int64_t hi);
/* Uniform float in [lo, hi). */
float eml_rng_float(eml_rng *r, float lo, float hi);
/* Standard normal (Box-Muller). */
float eml_rng_normal(eml_rng *r);
void eml_rng_bytes(eml_rng *r, void *buf, size_t n);
/* 1 with probability p. */
int eml_rng_chance(eml_rng *r, double p);

uint64_t eml_prop_base_seed(void);
int eml_prop_iters(void);
/* Current case (set by PROP_FOR_EACH_CASE), for messages. */
extern uint64_t eml_prop_seed_cur;
extern int eml_prop_case_cur;

#define PROP_FOR_EACH_CASE(rng)                                                                    \
	eml_rng rng;                                                                               \
	eml_prop_seed_cur = eml_prop_base_seed();                                                  \
	for (eml_prop_case_cur = 0;                                                                \
	     eml_prop_case_cur < eml_prop_iters() &&                                               \
	     (eml_rng_seed(&rng, eml_prop_seed_cur * 0x9E3779B97F4A7C15ull +                       \
	                             (uint64_t)eml_prop_case_cur),                                 \
	      1);                                                                                  \
	     eml_prop_case_cur++)

/* The message carries the replay seed and case first, then the caller's printf-style text. */
const char *eml_prop_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define PROP_ASSERT(cond, ...) cr_assert((cond), "%s", eml_prop_msg(__VA_ARGS__))

/* Distinctive windows (the issues' leak criterion): a 16-byte window with at least 8 distinct
 * byte values. Returns 1 when some distinctive window of `needle` occurs anywhere in `hay`. Windows
 * are taken at every offset of needle (stride 1). */
#define EML_WINDOW 16
int eml_window_distinctive(const uint8_t *w);
int eml_find_distinctive_window(const uint8_t *hay, size_t hay_len, const uint8_t *needle,
                                size_t needle_len, size_t *hay_off, size_t *needle_off);

/* The same search, fast enough for megabytes of haystack (process memory): a set of every
 * distinctive window of the needles added, then one pass over the haystack. */
typedef struct eml_window_set eml_window_set;
eml_window_set *eml_window_set_new(void);
void eml_window_set_add(eml_window_set *s, const uint8_t *needle, size_t len, int tag);
/* Returns the tag of the first needle found in hay (and its offset), or -1. */
int eml_window_set_find(const eml_window_set *s, const uint8_t *hay, size_t len, size_t *off);
size_t eml_window_set_count(const eml_window_set *s);
void eml_window_set_free(eml_window_set *s);

/* Path helpers for tests: EML_SOURCE_DIR, EML_VECTORS, EML_CACHE, EML_BIN (set by CTest). */
const char *eml_test_source_dir(void);
const char *eml_test_vectors_dir(void);
const char *eml_test_cache_dir(void);
const char *eml_test_bin(void);
/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); the caller removes it with
 * eml_test_rmtree. Returns a static-lifetime string owned by the caller (free()). */
char *eml_test_tmpdir(void);
/* snprintf into a path buffer; a truncated path aborts (a test must not use a wrong path). */
void eml_test_pathf(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs argv (PATH searched) with stdout/stderr to files (NULL: /dev/null) and NODE_PATH set when
 * given; returns the wait status. */
int eml_test_run_proc(char *const argv[], const char *node_path, const char *out_file,
                      const char *err_file);
void eml_test_rmtree(const char *path);
/* A text file's contents (at most 1 MiB) as a NUL-terminated malloc'd string; "" when it cannot
 * be read. The caller free()s it. */
char *eml_test_slurp_text(const char *path);
/* 1 when this CPU runs the kernels of `isa`: "generic" and "dispatch" always, "avx2" with FMA,
 * "avx512" with AVX-512F and DQ (the ISA instances of the vector math kernels). */
int eml_test_isa_supported(const char *isa);
/* Gelu in double: 0.5 v (1 + erf(v / sqrt 2)), or (tanh_form) the tanh approximation
 * 0.5 v (1 + tanh(sqrt(2 / pi) (v + 0.044715 v^3))). */
double eml_test_gelu_ref(double v, int tanh_form);

#endif
