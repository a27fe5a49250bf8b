/*
 * eml infer: one inference on an attested enclave, through the untrusted host.
 *
 *   eml infer --host ADDR --policy P.json --key NAME.tkey --input NAME=FILE(.npy|.pb) ...
 *             [--output-dir DIR] [--receipt FILE] [--timeout-ms N] [--json]
 *
 * NAME is the graph input's kept name, or its position (0, 1, ...) when names were not kept.
 * Output i is written to DIR/output_<i>.npy. Nothing is sent before the enclave's attestation
 * document has satisfied the policy.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "eml/client.h"
#include "model/model.h"
#include "tensor/tensor_io.h"
#include "topo/topo.h"

#define INFER_USAGE                                                                                \
	"eml infer --host ADDR --policy P.json (--key NAME.tkey | --sealed-key "                   \
	"NAME.tkey.sealed)\n"                                                                      \
	"                 --input NAME=FILE ...\n"                                                 \
	"                 [--output-dir DIR] [--receipt FILE] [--timeout-ms N] [--json]"
#define INFER_MAX_INPUTS 256u
#define INFER_MAX_TKEY_BYTES ((size_t)256 << 20)

static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

void eml_cli_print_attestation(FILE *f, const eml_client_attestation *a, int json)
{
	char pcr0[97], doc[65], key[65];
	eml_hex(a->pcr0, 48, pcr0);
	eml_hex(a->doc_sha256, 32, doc);
	eml_hex(a->enclave_key_sha256, 32, key);
	if (json) {
		fprintf(f, "{\"module_id\": ");
		eml_cli_json_str(f, a->module_id);
		fprintf(f,
		        ", \"timestamp_ms\": %llu, \"pcr0\": \"%s\", \"document_sha256\": \"%s\", "
		        "\"enclave_key_sha256\": \"%s\", \"simulated\": %s, \"debug_mode\": %s}",
		        (unsigned long long)a->timestamp_ms, pcr0, doc, key,
		        a->simulated ? "true" : "false", a->debug_mode ? "true" : "false");
		return;
	}
	fprintf(f, "attested enclave%s\n",
	        a->simulated ? " (SIMULATED: local test root, not AWS)" : "");
	fprintf(f, "  module id       %s\n", a->module_id);
	fprintf(f, "  document time   %llu ms\n", (unsigned long long)a->timestamp_ms);
	fprintf(f, "  PCR0            %s\n", pcr0);
	fprintf(f, "  document sha256 %s\n", doc);
	fprintf(f, "  enclave key     sha256:%s\n", key);
}

int eml_cmd_infer(int argc, char **argv)
{
	const char *host = NULL, *policy = NULL, *key = NULL, *dir = ".", *receipt = NULL;
	int json = 0, code = EML_EXIT_OK, rc, positional = -1;
	uint64_t timeout = 0;
	const char *names[INFER_MAX_INPUTS], *files[INFER_MAX_INPUTS];
	eml_tensor_file tf[INFER_MAX_INPUTS];
	eml_client_tensor in[INFER_MAX_INPUTS];
	size_t n = 0;
	uint8_t *tkey = NULL;
	size_t tkey_len = 0;
	eml_client *c = NULL;
	eml_client_result *r = NULL;
	memset(tf, 0, sizeof(tf));
	memset(in, 0, sizeof(in));

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: %s\n", INFER_USAGE);
			return EML_EXIT_OK;
		}
		if (strcmp(a, "--json") == 0) {
			json = 1;
			continue;
		}
		if (v == NULL)
			return eml_cli_usage(INFER_USAGE);
		i++;
		if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--policy") == 0)
			policy = v;
		else if (strcmp(a, "--key") == 0 || strcmp(a, "--sealed-key") == 0)
			key = v; /* a sealed key (eml seal) is opened by the enclave through KMS */
		else if (strcmp(a, "--output-dir") == 0 || strcmp(a, "-o") == 0)
			dir = v;
		else if (strcmp(a, "--receipt") == 0)
			receipt = v;
		else if (strcmp(a, "--timeout-ms") == 0 && eml_cli_parse_u64(v, &timeout) == 0 &&
		         timeout <= 3600000)
			continue;
		else if (strcmp(a, "--input") == 0 || strcmp(a, "-i") == 0) {
			const char *eq = strchr(v, '=');
			if (eq == NULL || eq == v || eq[1] == '\0' || n >= INFER_MAX_INPUTS)
				return eml_cli_usage(INFER_USAGE);
			names[n] = strndup(v, (size_t)(eq - v));
			files[n] = eq + 1;
			if (names[n] == NULL)
				return eml_cli_fail("infer", EML_E_NOMEM);
			int pos = all_digits(names[n]);
			if (positional >= 0 && positional != pos) {
				fprintf(stderr,
				        "eml infer: give inputs all by name or all by position\n");
				return EML_EXIT_USAGE;
			}
			positional = pos;
			n++;
		} else
			return eml_cli_usage(INFER_USAGE);
	}
	if (host == NULL || policy == NULL || key == NULL)
		return eml_cli_usage(INFER_USAGE);

	/* Inputs by position are sent in position order, unnamed; positions must be 0..n-1. */
	for (size_t i = 0; i < n; i++) {
		size_t slot = i;
		if (positional == 1) {
			slot = (size_t)strtoul(names[i], NULL, 10);
			if (slot >= n || in[slot].data != NULL) {
				fprintf(stderr,
				        "eml infer: input positions must be 0..%zu, each once\n",
				        n - 1);
				code = EML_EXIT_USAGE;
				goto done;
			}
		}
		rc = eml_tensor_read_file(files[i], &tf[slot]);
		if (rc != EML_OK) {
			fprintf(stderr, "eml infer: input '%s': %s (%s)\n", names[i],
			        eml_err_str(rc), eml_err_name(rc));
			code = eml_cli_exit_code(rc);
			goto done;
		}
		in[slot].name = positional == 1 ? NULL : names[i];
		in[slot].dtype = tf[slot].dtype;
		in[slot].rank = tf[slot].rank;
		memcpy(in[slot].dims, tf[slot].dims, sizeof(in[slot].dims));
		in[slot].data = tf[slot].data != NULL ? tf[slot].data : (const void *)"";
		in[slot].bytes = tf[slot].bytes;
	}
	rc = eml_file_read(key, INFER_MAX_TKEY_BYTES, &tkey, &tkey_len);
	if (rc != EML_OK) {
		code = eml_cli_fail("infer (topology key)", rc);
		goto done;
	}
	eml_client_opts o = {.host = host, .policy_path = policy, .timeout_ms = (int)timeout};
	rc = eml_client_connect(&o, &c);
	if (rc != EML_OK) {
		code = eml_cli_fail("infer (attestation)", rc);
		goto done;
	}
	eml_client_attestation att;
	eml_client_attestation_get(c, &att);
	if (!json)
		eml_cli_print_attestation(stdout, &att, 0);
	rc = eml_client_infer(c, tkey, tkey_len, in, n, &r);
	if (rc != EML_OK) {
		code = eml_cli_fail("infer", rc);
		goto done;
	}
	struct stat st;
	if (stat(dir, &st) != 0 && mkdir(dir, 0700) != 0) {
		code = eml_cli_fail("infer (output folder)", EML_E_IO);
		goto done;
	}
	if (json) {
		printf("{\"attestation\": ");
		eml_cli_print_attestation(stdout, &att, 1);
		printf(", \"outputs\": [");
	}
	for (size_t i = 0; i < eml_client_result_count(r); i++) {
		const eml_client_tensor *t = eml_client_result_tensor(r, i);
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/output_%zu.npy", dir, i);
		eml_tensor_file of;
		memset(&of, 0, sizeof(of));
		of.dtype = t->dtype;
		of.rank = t->rank;
		memcpy(of.dims, t->dims, sizeof(of.dims));
		of.data = (uint8_t *)(uintptr_t)t->data; /* borrowed */
		of.bytes = t->bytes;
		rc = eml_tensor_write_file(path, &of);
		if (rc != EML_OK) {
			code = eml_cli_fail("infer (writing an output)", rc);
			goto done;
		}
		if (json) {
			printf("%s{\"index\": %zu, \"file\": ", i ? ", " : "", i);
			eml_cli_json_str(stdout, path);
			printf(", \"dtype\": \"%s\", \"shape\": [", eml_dtype_name(t->dtype));
		} else {
			printf("%s: %s [", path, eml_dtype_name(t->dtype));
		}
		for (uint32_t d = 0; d < t->rank; d++)
			printf("%s%lld", d ? ", " : "", (long long)t->dims[d]);
		printf(json ? "]}" : "]\n");
	}
	size_t rl = 0;
	const uint8_t *rb = eml_client_result_receipt(r, &rl);
	if (receipt != NULL) {
		rc = rb != NULL ? eml_file_write_atomic(receipt, rb, rl, 0600) : EML_E_NOT_FOUND;
		if (rc != EML_OK) {
			code = eml_cli_fail("infer (receipt)", rc);
			goto done;
		}
	}
	if (json)
		printf("]}\n");
done:
	eml_client_result_free(r);
	eml_client_free(c);
	eml_free(tkey);
	for (size_t i = 0; i < n; i++) {
		free((void *)names[i]);
		eml_tensor_file_cleanup(&tf[i]);
	}
	return code;
}

#define ATTEST_USAGE "eml attest --host ADDR --policy P.json [--timeout-ms N] [--json]"

int eml_cmd_attest_remote(int argc, char **argv)
{
	const char *host = NULL, *policy = NULL;
	int json = 0;
	uint64_t timeout = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			json = 1;
			continue;
		}
		if (v == NULL)
			return eml_cli_usage(ATTEST_USAGE);
		i++;
		if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--policy") == 0)
			policy = v;
		else if (!(strcmp(a, "--timeout-ms") == 0 && eml_cli_parse_u64(v, &timeout) == 0 &&
		           timeout <= 3600000))
			return eml_cli_usage(ATTEST_USAGE);
	}
	if (host == NULL || policy == NULL)
		return eml_cli_usage(ATTEST_USAGE);
	eml_client *c = NULL;
	eml_client_opts o = {.host = host, .policy_path = policy, .timeout_ms = (int)timeout};
	int rc = eml_client_connect(&o, &c);
	if (rc != EML_OK)
		return eml_cli_fail("attest", rc);
	eml_client_attestation att;
	eml_client_attestation_get(c, &att);
	eml_cli_print_attestation(stdout, &att, json);
	if (json)
		printf("\n");
	eml_client_free(c);
	return EML_EXIT_OK;
}
