/*
 * eml run: one local inference with the engine, outside any enclave (development, conformance,
 * benchmarks). The model comes either from a plain ONNX file or from a topology key plus its
 * weight blob (joined in locked memory exactly as the enclave does).
 *
 *   eml run MODEL.onnx | --key NAME.tkey --weights NAME.weights
 *           --input NAME=FILE(.npy|.pb) ... [--output-dir DIR] [--pb] [--threads N]
 *           [--max-memory BYTES] [--repeat N] [--json] [--profile]
 *
 * NAME is the graph input's name when the model keeps names (a plain ONNX file always does; a
 * topology key only with decompose --keep-io-names), or its position among the graph inputs
 * (0, 1, ...). Output i is written to DIR/output_<i>.npy (and DIR/output_<i>.pb with --pb).
 * Input errors name the graph input by the name the user gave (or, for a missing input, by its
 * position and kept name): these are the user's own files and model, shown only to the user.
 * Nothing else (no internal shape, no value) is ever printed in an error.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "engine/engine.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"
#include "tensor/tensor_io.h"
#include "topo/topo.h"

#define RUN_USAGE                                                                                  \
	"eml run MODEL.onnx | --key NAME.tkey --weights NAME.weights --input NAME=FILE ...\n"      \
	"               [--output-dir DIR] [--pb] [--threads N] [--max-memory BYTES[k|M|G]]\n"     \
	"               [--repeat N] [--json] [--profile]"

/* Named limits of the command line. */
#define RUN_PROFILE_ROWS 128
#define RUN_MAX_INPUTS 4096u
#define RUN_MAX_REPEAT 1000000L
#define RUN_MAX_THREADS 1024L
/* The weight blob is read whole; its plaintext is bounded by the model IR's data limit. */
#define RUN_MAX_BLOB_BYTES ((size_t)EML_MAX_DATA_BYTES + ((size_t)1 << 30))

struct run_input {
	const char *name; /* as the user wrote it */
	const char *file;
	int slot; /* graph input position, -1 before matching */
	eml_tensor_file t;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

/* BYTES with an optional binary suffix k, M, G (KiB, MiB, GiB). */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return 0;
	unsigned shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift != 0)
		end++;
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return 0;
	*out = (uint64_t)v << shift;
	return 1;
}

static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* How to call graph input k in a message: the user's name if they gave one, else its position
 * and, when names are kept, its name. */
static void describe_input(const eml_model *m, const struct run_input *in, size_t n_in, int k,
                           char *buf, size_t cap)
{
	for (size_t i = 0; i < n_in; i++) {
		if (in[i].slot == k) {
			snprintf(buf, cap, "'%s'", in[i].name);
			return;
		}
	}
	const char *kept = NULL;
	if (m != NULL && k >= 0 && (uint32_t)k < m->graphs[0].n_inputs)
		kept = m->values[m->graphs[0].inputs[k]].name;
	if (kept != NULL)
		snprintf(buf, cap, "%d ('%s')", k, kept);
	else
		snprintf(buf, cap, "%d", k);
}

static int load_model(const char *onnx, const char *key, const char *weights, eml_model **m,
                      double *join_ms)
{
	int rc = EML_OK;
	uint8_t *kb = NULL, *wb = NULL;
	size_t kl = 0, wl = 0;
	eml_tkey *tk = NULL;
	uint32_t bad_chunk = UINT32_MAX;
	if (onnx != NULL) {
		rc = eml_onnx_load_file(onnx, m);
		if (rc != EML_OK)
			eml_cli_fail("run", rc);
		return rc;
	}
	rc = eml_file_read(key, (size_t)EML_TKEY_MAX_LEN, &kb, &kl);
	if (rc != EML_OK) {
		fprintf(stderr, "eml run: cannot read the topology key: %s (%s)\n", eml_err_str(rc),
		        eml_err_name(rc));
		goto out;
	}
	rc = eml_file_read(weights, RUN_MAX_BLOB_BYTES, &wb, &wl);
	if (rc != EML_OK) {
		fprintf(stderr, "eml run: cannot read the weight blob: %s (%s)\n", eml_err_str(rc),
		        eml_err_name(rc));
		goto out;
	}
	double t0 = now_ms();
	rc = eml_tkey_parse(kb, kl, &tk);
	if (rc != EML_OK) {
		eml_cli_fail("run", rc);
		goto out;
	}
	rc = eml_topo_join(tk, wb, wl, m, &bad_chunk);
	*join_ms = now_ms() - t0;
	if (rc != EML_OK) {
		if (bad_chunk != UINT32_MAX)
			fprintf(stderr, "eml run: weight blob chunk %u: %s (%s)\n", bad_chunk,
			        eml_err_str(rc), eml_err_name(rc));
		else
			eml_cli_fail("run", rc);
	}
out:
	eml_tkey_free(tk);
	eml_free(kb);
	eml_free(wb);
	return rc;
}

static int write_outputs(const eml_plan *plan, const char *dir, int pb, int json, double *write_ms)
{
	int rc = EML_OK;
	double t0 = now_ms();
	size_t n = eml_plan_n_outputs(plan);
	if (json)
		printf("\"outputs\": [");
	for (size_t i = 0; i < n; i++) {
		eml_io_tensor o;
		rc = eml_plan_output(plan, i, &o);
		if (rc != EML_OK) {
			if (json)
				printf("]}\n");
			return eml_cli_fail("run", rc);
		}
		char name[32];
		snprintf(name, sizeof(name), "output_%zu", i);
		eml_tensor_file tf;
		memset(&tf, 0, sizeof(tf));
		tf.dtype = o.dtype;
		tf.rank = o.rank;
		memcpy(tf.dims, o.dims, sizeof(tf.dims));
		tf.data = (uint8_t *)(uintptr_t)o.data; /* borrowed: never cleaned up here */
		tf.bytes = o.bytes;
		tf.name = (char *)(uintptr_t)(o.name != NULL ? o.name : name);
		char path[PATH_MAX], pbpath[PATH_MAX];
		int l1 = snprintf(path, sizeof(path), "%s/%s.npy", dir, name);
		int l2 = snprintf(pbpath, sizeof(pbpath), "%s/%s.pb", dir, name);
		if (l1 < 0 || (size_t)l1 >= sizeof(path) || l2 < 0 ||
		    (size_t)l2 >= sizeof(pbpath)) {
			rc = EML_E_ARG;
		} else {
			rc = eml_tensor_write_file(path, &tf);
			if (rc == EML_OK && pb)
				rc = eml_tensor_write_file(pbpath, &tf);
		}
		if (rc != EML_OK) {
			if (json)
				printf("]}\n");
			fprintf(stderr, "eml run: cannot write output %zu: %s (%s)\n", i,
			        eml_err_str(rc), eml_err_name(rc));
			return eml_cli_exit_code(rc);
		}
		if (json) {
			printf("%s{\"index\": %zu, \"name\": ", i ? ", " : "", i);
			if (o.name != NULL)
				eml_cli_json_str(stdout, o.name);
			else
				printf("null");
			printf(", \"file\": ");
			eml_cli_json_str(stdout, path);
			if (pb) {
				printf(", \"pb\": ");
				eml_cli_json_str(stdout, pbpath);
			}
			printf(", \"dtype\": \"%s\", \"shape\": [", eml_dtype_name(o.dtype));
			for (uint32_t d = 0; d < o.rank; d++)
				printf("%s%lld", d ? ", " : "", (long long)o.dims[d]);
			printf("]}");
		} else {
			printf("%s: %s [", path, eml_dtype_name(o.dtype));
			for (uint32_t d = 0; d < o.rank; d++)
				printf("%s%lld", d ? ", " : "", (long long)o.dims[d]);
			printf("]%s%s\n", o.name ? " " : "", o.name ? o.name : "");
		}
	}
	if (json)
		printf("], ");
	*write_ms = now_ms() - t0;
	return EML_EXIT_OK;
}

/* --profile: time per operator type over every run (stderr), largest first. */
static void print_profile(const eml_plan *plan, long repeat)
{
	struct prof_row {
		const char *op;
		uint64_t ns;
		unsigned steps;
	} rows[RUN_PROFILE_ROWS];
	size_t n_rows = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < eml_plan_n_steps(plan); i++) {
		const char *op;
		uint64_t ns;
		if (eml_plan_step_profile(plan, i, &op, &ns) != EML_OK)
			continue;
		total += ns;
		size_t r = 0;
		while (r < n_rows && strcmp(rows[r].op, op) != 0)
			r++;
		if (r == n_rows) {
			if (n_rows == RUN_PROFILE_ROWS)
				continue;
			rows[n_rows++] = (struct prof_row){op, 0, 0};
		}
		rows[r].ns += ns;
		rows[r].steps++;
	}
	for (size_t i = 1; i < n_rows; i++)
		for (size_t j = i; j > 0 && rows[j - 1].ns < rows[j].ns; j--) {
			struct prof_row t = rows[j];
			rows[j] = rows[j - 1];
			rows[j - 1] = t;
		}
	fprintf(stderr, "%-24s %6s %12s %7s\n", "op (fused steps under the producer)", "steps",
	        "ms per run", "share");
	for (size_t i = 0; i < n_rows; i++)
		fprintf(stderr, "%-24s %6u %12.3f %6.1f%%\n", rows[i].op, rows[i].steps,
		        (double)rows[i].ns / 1e6 / (double)repeat,
		        total ? 100.0 * (double)rows[i].ns / (double)total : 0.0);
}

int eml_cmd_run(int argc, char **argv)
{
	const char *onnx = NULL, *key = NULL, *weights = NULL, *dir = ".";
	int pb = 0, json = 0, exit_code = EML_EXIT_OK, rc;
	long threads = 0, repeat = 1;
	uint64_t max_memory = 0;
	struct run_input *in = NULL;
	size_t n_in = 0;
	eml_model *m = NULL;
	eml_plan *plan = NULL;
	eml_io_tensor *io = NULL;
	double *lat = NULL;
	double load_ms = 0, join_ms = 0, asm_ms = 0, write_ms = 0;
	int profile = 0;

	in = eml_calloc(argc > 0 ? (size_t)argc : 1, sizeof(*in));
	if (in == NULL)
		return eml_cli_fail("run", EML_E_NOMEM);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_next = i + 1 < argc;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: %s\n", RUN_USAGE);
			goto done;
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--pb") == 0) {
			pb = 1;
		} else if (strcmp(a, "--profile") == 0) {
			profile = 1;
		} else if (strcmp(a, "--key") == 0 && has_next && key == NULL) {
			key = argv[++i];
		} else if (strcmp(a, "--weights") == 0 && has_next && weights == NULL) {
			weights = argv[++i];
		} else if ((strcmp(a, "--output-dir") == 0 || strcmp(a, "-o") == 0) && has_next) {
			dir = argv[++i];
		} else if (strcmp(a, "--threads") == 0 && has_next) {
			if (!parse_long(argv[++i], 0, RUN_MAX_THREADS, &threads))
				goto usage;
		} else if (strcmp(a, "--repeat") == 0 && has_next) {
			if (!parse_long(argv[++i], 1, RUN_MAX_REPEAT, &repeat))
				goto usage;
		} else if (strcmp(a, "--max-memory") == 0 && has_next) {
			if (!parse_bytes(argv[++i], &max_memory))
				goto usage;
		} else if ((strcmp(a, "--input") == 0 || strcmp(a, "-i") == 0) && has_next) {
			char *spec = argv[++i];
			char *eq = strchr(spec, '=');
			if (eq == NULL || eq == spec || eq[1] == '\0' || n_in >= RUN_MAX_INPUTS) {
				fprintf(stderr, "eml run: --input wants NAME=FILE\n");
				goto usage;
			}
			*eq = '\0';
			in[n_in].name = spec;
			in[n_in].file = eq + 1;
			in[n_in].slot = -1;
			for (size_t j = 0; j < n_in; j++) {
				if (strcmp(in[j].name, spec) == 0) {
					fprintf(stderr, "eml run: input '%s' given twice\n", spec);
					goto usage;
				}
			}
			n_in++;
		} else if (a[0] == '-' && a[1] != '\0') {
			goto usage;
		} else if (onnx == NULL) {
			onnx = a;
		} else {
			goto usage;
		}
	}
	if ((onnx == NULL) == (key == NULL) || (key == NULL) != (weights == NULL))
		goto usage;

	/* Output folder first, so a long assembly does not end in "cannot write". */
	struct stat st;
	if (stat(dir, &st) != 0 && mkdir(dir, 0700) != 0) {
		fprintf(stderr, "eml run: cannot create the output folder: %s (IO)\n",
		        eml_err_str(EML_E_IO));
		exit_code = EML_EXIT_ERROR;
		goto done;
	}

	double t0 = now_ms();
	rc = load_model(onnx, key, weights, &m, &join_ms);
	load_ms = now_ms() - t0;
	if (rc != EML_OK) {
		exit_code = eml_cli_exit_code(rc);
		goto done;
	}
	const eml_graph *g = &m->graphs[0];

	/* Match each --input to a graph input: by kept name first, then by position. */
	for (size_t i = 0; i < n_in; i++) {
		int slot = -1;
		for (uint32_t k = 0; k < g->n_inputs; k++) {
			const char *nm = m->values[g->inputs[k]].name;
			if (nm != NULL && strcmp(nm, in[i].name) == 0)
				slot = (int)k;
		}
		if (slot < 0 && all_digits(in[i].name)) {
			long k;
			if (parse_long(in[i].name, 0, INT_MAX, &k) && (uint64_t)k < g->n_inputs)
				slot = (int)k;
		}
		if (slot < 0) {
			fprintf(stderr, "eml run: input '%s': %s (%s)\n", in[i].name,
			        eml_err_str(EML_E_ENGINE_INPUT_UNKNOWN),
			        eml_err_name(EML_E_ENGINE_INPUT_UNKNOWN));
			exit_code = EML_EXIT_USAGE;
			goto done;
		}
		for (size_t j = 0; j < i; j++) {
			if (in[j].slot == slot) {
				fprintf(stderr,
				        "eml run: inputs '%s' and '%s' name the same graph input\n",
				        in[j].name, in[i].name);
				exit_code = EML_EXIT_USAGE;
				goto done;
			}
		}
		in[i].slot = slot;
	}
	for (uint32_t k = 0; k < g->n_inputs; k++) {
		int found = 0;
		for (size_t i = 0; i < n_in; i++)
			found |= in[i].slot == (int)k;
		if (!found) {
			char who[EML_MAX_STRING_LEN + 32];
			describe_input(m, in, n_in, (int)k, who, sizeof(who));
			fprintf(stderr, "eml run: input %s: %s (%s)\n", who,
			        eml_err_str(EML_E_ENGINE_INPUT_MISSING),
			        eml_err_name(EML_E_ENGINE_INPUT_MISSING));
			exit_code = EML_EXIT_ERROR;
			goto done;
		}
	}

	/* Read the tensor files, in graph-input order for the engine. */
	io = eml_calloc(g->n_inputs ? g->n_inputs : 1, sizeof(*io));
	if (io == NULL) {
		exit_code = eml_cli_fail("run", EML_E_NOMEM);
		goto done;
	}
	for (size_t i = 0; i < n_in; i++) {
		rc = eml_tensor_read_file(in[i].file, &in[i].t);
		if (rc != EML_OK) {
			fprintf(stderr, "eml run: input '%s': %s (%s)\n", in[i].name,
			        eml_err_str(rc), eml_err_name(rc));
			exit_code = eml_cli_exit_code(rc);
			goto done;
		}
		eml_io_tensor *t = &io[in[i].slot];
		t->name = NULL; /* ordered by position */
		t->dtype = in[i].t.dtype;
		t->rank = in[i].t.rank;
		memcpy(t->dims, in[i].t.dims, sizeof(t->dims));
		t->data = in[i].t.data;
		t->bytes = in[i].t.bytes;
	}

	eml_engine_opts opts = {.threads = (int)threads, .max_memory = max_memory};
	int bad = -1;
	t0 = now_ms();
	rc = eml_engine_assemble(m, io, g->n_inputs, &opts, &plan, &bad);
	asm_ms = now_ms() - t0;
	if (rc != EML_OK) {
		if (bad >= 0) {
			char who[EML_MAX_STRING_LEN + 32];
			describe_input(m, in, n_in, bad, who, sizeof(who));
			fprintf(stderr, "eml run: input %s: %s (%s)\n", who, eml_err_str(rc),
			        eml_err_name(rc));
			exit_code = eml_cli_exit_code(rc);
		} else {
			exit_code = eml_cli_fail("run", rc);
		}
		goto done;
	}
	/* The plan holds its own copies: wipe the model and the input files' bytes now. */
	eml_model_free(m);
	m = NULL;
	for (size_t i = 0; i < n_in; i++)
		eml_tensor_file_cleanup(&in[i].t);

	lat = eml_calloc((size_t)repeat, sizeof(double));
	if (lat == NULL) {
		exit_code = eml_cli_fail("run", EML_E_NOMEM);
		goto done;
	}
	if (profile && (rc = eml_plan_set_profile(plan, 1)) != EML_OK) {
		exit_code = eml_cli_fail("run", rc);
		goto done;
	}
	for (long r = 0; r < repeat; r++) {
		t0 = now_ms();
		rc = eml_plan_run(plan);
		lat[r] = now_ms() - t0;
		if (rc != EML_OK) {
			exit_code = eml_cli_fail("run", rc);
			goto done;
		}
	}
	double first = lat[0];
	qsort(lat, (size_t)repeat, sizeof(double), cmp_double);
	double median = repeat % 2 ? lat[repeat / 2] : (lat[repeat / 2 - 1] + lat[repeat / 2]) / 2;

	if (json)
		printf("{");
	exit_code = write_outputs(plan, dir, pb, json, &write_ms);
	if (exit_code != EML_EXIT_OK)
		goto done;
	if (json) {
		printf("\"arena_bytes\": %llu, \"threads\": %ld, \"repeat\": %ld, ",
		       (unsigned long long)eml_plan_arena_bytes(plan), threads, repeat);
		printf("\"timings_ms\": {\"load\": %.3f, \"join\": %.3f, \"assemble\": %.3f, "
		       "\"first_run\": %.3f, \"run_median\": %.3f, \"run_min\": %.3f, "
		       "\"write\": %.3f}}\n",
		       load_ms, join_ms, asm_ms, first, median, lat[0], write_ms);
	} else {
		printf("arena %llu bytes; load %.3f ms (join %.3f), assemble %.3f ms, run %.3f ms",
		       (unsigned long long)eml_plan_arena_bytes(plan), load_ms, join_ms, asm_ms,
		       first);
		if (repeat > 1)
			printf("; median latency %.3f ms over %ld runs (min %.3f)", median, repeat,
			       lat[0]);
		printf("\n");
	}
	if (profile)
		print_profile(plan, repeat);
	goto done;

usage:
	exit_code = eml_cli_usage(RUN_USAGE);
done:
	eml_plan_free(plan);
	eml_model_free(m);
	for (size_t i = 0; i < n_in; i++)
		eml_tensor_file_cleanup(&in[i].t);
	eml_free(in);
	eml_free(io);
	eml_free(lat);
	return exit_code;
}
