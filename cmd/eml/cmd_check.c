/*
 * eml check MODEL.onnx [--json]
 *
 * Loads the model (subgraphs included) and lists every operator the engine does not support,
 * per (domain, op type, opset) with its node count. Exit 0 when all are supported, 3 when some
 * are not, 1 when the model cannot be loaded, 2 on usage errors. The listing names only operator
 * types, which the model owner needs to act on; it carries no weights, shapes or names.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"

#define CHECK_USAGE "eml check MODEL.onnx [--json]"

int eml_cmd_check(int argc, char **argv)
{
	const char *path = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", CHECK_USAGE);
			return EML_EXIT_OK;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return eml_cli_usage(CHECK_USAGE);
		else if (path == NULL)
			path = argv[i];
		else
			return eml_cli_usage(CHECK_USAGE);
	}
	if (path == NULL)
		return eml_cli_usage(CHECK_USAGE);

	eml_model *m = NULL;
	int rc = eml_onnx_load_file(path, &m);
	if (rc != EML_OK)
		return eml_cli_fail("check", rc);
	eml_unsupported_op *list = NULL;
	size_t n = 0;
	rc = eml_onnx_check(m, &list, &n);
	if (rc != EML_OK) {
		eml_model_free(m);
		return eml_cli_fail("check", rc);
	}
	uint64_t nodes = 0;
	for (uint32_t g = 0; g < m->n_graphs; g++)
		nodes += m->graphs[g].n_nodes;
	int64_t opset = eml_model_opset(m, "");
	if (json) {
		printf("{\"supported\": %s, \"unsupported\": [", n == 0 ? "true" : "false");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"domain\": ", i ? ", " : "");
			eml_cli_json_str(stdout, list[i].domain);
			printf(", \"op_type\": ");
			eml_cli_json_str(stdout, list[i].op_type);
			printf(", \"opset\": %lld, \"count\": %u}", (long long)list[i].opset,
			       list[i].count);
		}
		printf("], \"nodes\": %llu, \"opset\": %lld}\n", (unsigned long long)nodes,
		       (long long)opset);
	} else if (n == 0) {
		printf("supported: all %llu operators (opset %lld) can run in the enclave\n",
		       (unsigned long long)nodes, (long long)opset);
	} else {
		printf("unsupported operators (%zu kind%s):\n", n, n == 1 ? "" : "s");
		printf("  %-20s %-28s %6s %6s\n", "domain", "op_type", "opset", "count");
		for (size_t i = 0; i < n; i++)
			printf("  %-20s %-28s %6lld %6u\n",
			       list[i].domain[0] ? list[i].domain : "ai.onnx", list[i].op_type,
			       (long long)list[i].opset, list[i].count);
	}
	eml_onnx_unsupported_free(list, n);
	eml_model_free(m);
	return n == 0 ? EML_EXIT_OK : EML_EXIT_UNSUPPORTED;
}
