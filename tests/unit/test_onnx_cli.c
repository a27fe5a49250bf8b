/* `eml check MODEL.onnx [--json]`: exit codes 0 / 3 / 1 / 2, the table and the JSON document. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "prop.h"

static int run(const char *args, char *out, size_t out_len)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "'%s' check %s 2>&1", eml_test_bin(), args);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, out_len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

Test(onnx_cli, supported_model_exits_0)
{
	char args[4096], out[8192];
	snprintf(args, sizeof(args), "'%s/models/mnist-8/model.onnx' --json",
	         eml_test_vectors_dir());
	cr_assert_eq(run(args, out, sizeof(out)), 0, "%s", out);
	json_error_t err;
	json_t *j = json_loads(out, 0, &err);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_is_true(json_object_get(j, "supported")));
	cr_assert_eq(json_array_size(json_object_get(j, "unsupported")), 0);
	cr_assert_eq(json_integer_value(json_object_get(j, "nodes")), 12);
	cr_assert_eq(json_integer_value(json_object_get(j, "opset")), 8);
	json_decref(j);
	snprintf(args, sizeof(args), "'%s/models/mnist-8/model.onnx'", eml_test_vectors_dir());
	cr_assert_eq(run(args, out, sizeof(out)), 0, "%s", out);
	cr_assert_not_null(strstr(out, "supported"));
}

Test(onnx_cli, unsupported_ops_exit_3_and_are_listed)
{
	char *dir = eml_test_tmpdir();
	char path[4096], args[4200], out[16384];
	snprintf(path, sizeof(path), "%s/m.onnx", dir);
	eml_rng r;
	eml_rng_seed(&r, 77);
	eml_gen_opts o;
	memset(&o, 0, sizeof(o));
	o.n_unsupported = 4;
	eml_gen_info info;
	uint8_t *b = NULL;
	size_t len = 0;
	cr_assert_eq(eml_gen_model(&r, &o, &b, &len, &info), EML_OK);
	cr_assert_eq(eml_file_write_atomic(path, b, len, 0600), EML_OK);
	eml_free(b);
	snprintf(args, sizeof(args), "'%s' --json", path);
	cr_assert_eq(run(args, out, sizeof(out)), 3, "%s", out);
	json_error_t err;
	json_t *j = json_loads(out, 0, &err);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_is_false(json_object_get(j, "supported")));
	json_t *u = json_object_get(j, "unsupported");
	cr_assert_eq(json_array_size(u), info.n_injected);
	for (size_t i = 0; i < info.n_injected; i++) {
		json_t *e = json_array_get(u, i);
		cr_assert_str_eq(json_string_value(json_object_get(e, "domain")),
		                 info.injected[i].domain);
		cr_assert_str_eq(json_string_value(json_object_get(e, "op_type")),
		                 info.injected[i].op_type);
		cr_assert_eq(json_integer_value(json_object_get(e, "opset")),
		             info.injected[i].opset);
		cr_assert_eq(json_integer_value(json_object_get(e, "count")),
		             info.injected[i].count);
	}
	cr_assert_eq(json_integer_value(json_object_get(j, "nodes")), info.n_nodes);
	cr_assert_eq(json_integer_value(json_object_get(j, "opset")), info.opset);
	json_decref(j);
	snprintf(args, sizeof(args), "'%s'", path);
	cr_assert_eq(run(args, out, sizeof(out)), 3, "%s", out);
	for (size_t i = 0; i < info.n_injected; i++)
		cr_assert_not_null(strstr(out, info.injected[i].op_type), "%s", out);
	eml_test_rmtree(dir);
	free(dir);
}

Test(onnx_cli, load_errors_exit_1_with_one_line)
{
	char *dir = eml_test_tmpdir();
	char path[4096], args[4200], out[8192];
	snprintf(path, sizeof(path), "%s/garbage.onnx", dir);
	cr_assert_eq(eml_file_write_atomic(path, "\xff\xff\xff\xff garbage", 13, 0600), EML_OK);
	snprintf(args, sizeof(args), "'%s'", path);
	cr_assert_eq(run(args, out, sizeof(out)), 1, "%s", out);
	cr_assert_not_null(strstr(out, "ONNX_PARSE"), "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
	snprintf(args, sizeof(args), "'%s/missing.onnx'", dir);
	cr_assert_eq(run(args, out, sizeof(out)), 1, "%s", out);
	cr_assert_eq(run("", out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(run("a.onnx b.onnx", out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(run("--bogus a.onnx", out, sizeof(out)), 2, "%s", out);
	eml_test_rmtree(dir);
	free(dir);
}
