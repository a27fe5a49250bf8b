/*
 * Replays every fuzz corpus (fuzz/corpus/<target>/) and every crash reproducer
 * (fuzz/regressions/<target>/) through the fuzz targets' entry points, so a bug found by fuzzing
 * stays fixed. The targets are compiled into this test as plain objects with
 * LLVMFuzzerTestOneInput renamed to eml_fuzz_<target> (CMakeLists.txt, fuzz section); no
 * libFuzzer is needed. Under `make test-asan` every input runs with ASan+UBSan, and the targets'
 * own checks (round trips, "must not authenticate") abort on a violation, failing this test.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prop.h"

/* Under ASan, a single allocation above 1 GiB aborts (as libFuzzer's -malloc_limit_mb does in
 * scripts/fuzz), so an out-of-memory reproducer (a few bytes asking for gigabytes) fails here too
 * instead of just succeeding on a machine with enough virtual memory. Unused without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "max_allocation_size_mb=1024:allocator_may_return_null=0";
}

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

#define TARGETS(X)                                                                                 \
	X(attest)                                                                                  \
	X(audit)                                                                                   \
	X(cms)                                                                                     \
	X(blob)                                                                                    \
	X(kms) X(npy) X(onnx) X(pb) X(plaintext) X(policy) X(sealed) X(session) X(topo) X(wire)

#define DECL(name) int eml_fuzz_##name(const uint8_t *data, size_t size);
TARGETS(DECL)
#undef DECL

static const struct {
	const char *name;
	fuzz_fn fn;
} targets[] = {
#define ENTRY(name) {#name, eml_fuzz_##name},
    TARGETS(ENTRY)
#undef ENTRY
};
#define N_TARGETS (sizeof(targets) / sizeof(targets[0]))

static int known(const char *name)
{
	for (size_t i = 0; i < N_TARGETS; i++)
		if (strcmp(targets[i].name, name) == 0)
			return 1;
	return 0;
}

/* Runs fn on every regular file of dir; returns the count (0 when dir does not exist). */
static size_t replay_dir(const char *dir, fuzz_fn fn)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		cr_assert_not_null(f, "cannot open %s", path);
		cr_assert_eq(fseek(f, 0, SEEK_END), 0);
		long len = ftell(f);
		cr_assert_geq(len, 0);
		rewind(f);
		/* Exactly len bytes on the heap, so ASan sees any read past the input. */
		uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
		cr_assert_not_null(buf);
		cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len, "short read %s", path);
		fclose(f);
		fn(buf, (size_t)len);
		free(buf);
		count++;
	}
	closedir(d);
	return count;
}

/* Every fuzz/fuzz_<name>.c must be replayed here (a new target added without an entry fails). */
Test(fuzz_replay, every_target_is_replayed)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/fuzz", eml_test_source_dir());
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "no %s", dir);
	size_t seen = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (strncmp(e->d_name, "fuzz_", 5) != 0 || l < 7 ||
		    strcmp(e->d_name + l - 2, ".c") != 0)
			continue;
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(l - 7), e->d_name + 5);
		cr_expect(known(name), "fuzz target %s is not in test_fuzz_replay's table", name);
		seen++;
	}
	closedir(d);
	cr_assert_eq(seen, N_TARGETS, "fuzz/ has %zu targets, the table %zu", seen, N_TARGETS);
}

Test(fuzz_replay, corpora_and_regressions, .timeout = 600)
{
	size_t total = 0, regressions = 0;
	for (size_t i = 0; i < N_TARGETS; i++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/fuzz/corpus/%s", eml_test_source_dir(),
		         targets[i].name);
		size_t n = replay_dir(dir, targets[i].fn);
		/* Every target has a seed corpus (fuzz/make-corpus): an empty one is a packaging bug. */
		cr_expect_gt(n, 0, "fuzz/corpus/%s is empty or missing", targets[i].name);
		snprintf(dir, sizeof(dir), "%s/fuzz/regressions/%s", eml_test_source_dir(),
		         targets[i].name);
		size_t r = replay_dir(dir, targets[i].fn);
		total += n + r;
		regressions += r;
	}
	fprintf(stderr, "fuzz_replay: %zu inputs replayed (%zu crash reproducers)\n", total,
	        regressions);
}
