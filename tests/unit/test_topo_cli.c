/*
 * The eml binary end to end: decompose (files 0600, no temp files left, refusal writes nothing,
 * no overwrite without --force), inspect, recompose (same tensors), tampered blob refused with
 * the bad chunk named.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "onnx/onnx.h"
#include "prop.h"
#include "topo/topo.h"

extern char **environ;

/* Run eml with args; stdout/stderr go to files in dir; returns the exit code. */
static int run_eml(const char *dir, const char *const *args)
{
	char out[4096], err[4096];
	snprintf(out, sizeof(out), "%s/stdout.txt", dir);
	snprintf(err, sizeof(err), "%s/stderr.txt", dir);
	char *argv[32];
	int n = 0;
	argv[n++] = (char *)eml_test_bin();
	for (; args[n - 1] != NULL && n < 31; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	pid_t pid;
	cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0, "spawn %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static char *slurp(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	uint8_t *b;
	size_t n;
	if (eml_file_read(p, 1 << 20, &b, &n) != EML_OK)
		return eml_strdup("");
	char *s = eml_alloc(n + 1);
	memcpy(s, b, n);
	s[n] = 0;
	eml_free(b);
	return s;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static mode_t mode_of(const char *p)
{
	struct stat st;
	cr_assert_eq(stat(p, &st), 0, "stat %s", p);
	return st.st_mode & 0777;
}

Test(topo_cli, decompose_inspect_recompose_end_to_end)
{
	char model[4096];
	snprintf(model, sizeof(model), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	if (access(model, R_OK) != 0)
		cr_assert_fail("%s is missing: run scripts/fetch-testdata", model);
	char *root = eml_test_tmpdir();
	char out[2048], tk[4096], w[4096], rec[4096];
	snprintf(out, sizeof(out), "%s/out", root);
	snprintf(tk, sizeof(tk), "%s/m.tkey", out);
	snprintf(w, sizeof(w), "%s/m.weights", out);
	snprintf(rec, sizeof(rec), "%s/out/r.onnx", root);

	cr_assert_eq(
	    run_eml(root, (const char *[]){"decompose", model, "-o", out, "--name", "m", NULL}), 0);
	cr_assert_eq(count_entries(out), 2, "exactly the two outputs, no temp files");
	cr_assert_eq(mode_of(tk), 0600);
	cr_assert_eq(mode_of(w), 0600);
	char *so = slurp(root, "stdout.txt");
	cr_assert_not_null(strstr(so, "model id"));
	eml_free(so);

	/* no silent overwrite of a key; --force replaces */
	cr_assert_eq(
	    run_eml(root, (const char *[]){"decompose", model, "-o", out, "--name", "m", NULL}), 1);
	char *se = slurp(root, "stderr.txt");
	cr_assert_not_null(strstr(se, "EXISTS"), "%s", se);
	eml_free(se);
	cr_assert_eq(run_eml(root, (const char *[]){"decompose", model, "-o", out, "--name", "m",
	                                            "--force", "--json", NULL}),
	             0);
	so = slurp(root, "stdout.txt");
	cr_assert_not_null(strstr(so, "\"model_id\""), "%s", so);
	eml_free(so);
	cr_assert_eq(count_entries(out), 2);

	/* inspect */
	cr_assert_eq(run_eml(root, (const char *[]){"inspect", tk, "--json", NULL}), 0);
	so = slurp(root, "stdout.txt");
	cr_assert_not_null(strstr(so, "\"Conv\": 2"), "%s", so);
	cr_assert_not_null(strstr(so, "\"tensors\": 8"), "%s", so);
	eml_free(so);
	cr_assert_eq(run_eml(root, (const char *[]){"inspect", w, NULL}), 0);
	so = slurp(root, "stdout.txt");
	cr_assert_not_null(strstr(so, "weight blob"), "%s", so);
	cr_assert_null(strstr(so, "Conv"));
	eml_free(so);

	/* recompose: same tensors as the original */
	cr_assert_eq(run_eml(root, (const char *[]){"recompose", tk, w, "-o", rec, NULL}), 0);
	cr_assert_eq(mode_of(rec), 0600);
	eml_model *a = NULL, *b = NULL;
	cr_assert_eq(eml_onnx_load_file(model, &a), EML_OK);
	cr_assert_eq(eml_onnx_load_file(rec, &b), EML_OK);
	cr_assert_eq(a->n_tensors, b->n_tensors);
	for (uint32_t i = 0; i < a->n_tensors; i++) {
		cr_assert_eq(a->tensors[i].length, b->tensors[i].length);
		cr_assert_eq(memcmp(a->data + a->tensors[i].offset, b->data + b->tensors[i].offset,
		                    a->tensors[i].length),
		             0);
	}

	/* tampered blob: refused (exit 4), chunk named, no output */
	uint8_t *blob;
	size_t bl;
	cr_assert_eq(eml_file_read(w, 1 << 26, &blob, &bl), EML_OK);
	blob[EML_BLOB_HEADER_LEN + 100] ^= 1;
	cr_assert_eq(eml_file_write_atomic(w, blob, bl, 0600), EML_OK);
	char rec2[4096];
	snprintf(rec2, sizeof(rec2), "%s/out/r2.onnx", root);
	cr_assert_eq(run_eml(root, (const char *[]){"recompose", tk, w, "-o", rec2, NULL}), 4);
	se = slurp(root, "stderr.txt");
	cr_assert_not_null(strstr(se, "chunk 0"), "%s", se);
	eml_free(se);
	cr_assert_neq(access(rec2, F_OK), 0);
	eml_free(blob);

	/* unsupported operator: exit 3, listed, nothing written */
	eml_free(a->graphs[0].nodes[0].op_type);
	a->graphs[0].nodes[0].op_type = eml_strdup("FancyUnsupportedOp");
	char bad[4096], out2[2048];
	snprintf(bad, sizeof(bad), "%s/bad.onnx", root);
	snprintf(out2, sizeof(out2), "%s/out2", root);
	cr_assert_eq(eml_onnx_save_file(a, bad), EML_OK);
	cr_assert_eq(mkdir(out2, 0700), 0);
	cr_assert_eq(run_eml(root, (const char *[]){"decompose", bad, "-o", out2, NULL}), 3);
	se = slurp(root, "stderr.txt");
	cr_assert_not_null(strstr(se, "FancyUnsupportedOp"), "%s", se);
	eml_free(se);
	cr_assert_eq(count_entries(out2), 0, "no output on refusal");

	/* usage errors */
	cr_assert_eq(run_eml(root, (const char *[]){"decompose", model, NULL}), 2);
	cr_assert_eq(run_eml(root, (const char *[]){"inspect", model, NULL}), 1);

	eml_model_free(a);
	eml_model_free(b);
	eml_test_rmtree(root);
	free(root);
}
