/*
 * eml policy — attestation policies (docs/POLICY.md).
 *
 *   eml policy init --sim [--sim-ca DIR] [--binary PATH] [-o POLICY.json]
 *   eml policy init --pcr0 HEX [--pcr1 HEX ... --pcr15 HEX] [--root aws-nitro-g1|PEM]
 *                   [--allow-debug] [--max-age-ms N] [-o POLICY.json]
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/nsm.h"
#include "attest/verify.h"
#include "cli.h"
#include "common/cursor.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "eml/error.h"

#define POLICY_USAGE                                                                               \
	"eml policy init (--sim [--sim-ca DIR] [--binary PATH] | --pcr0 HEX [--pcrN HEX ...] "     \
	"[--root aws-nitro-g1|PEM] [--allow-debug]) [--max-age-ms N] [-o POLICY.json]"

static void put_str(eml_buf *b, const char *s)
{
	eml_buf_put(b, s, strlen(s));
}

/* A JSON string literal (paths may hold quotes or backslashes). */
static void put_json_str(eml_buf *b, const char *s)
{
	eml_buf_u8(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			eml_buf_u8(b, '\\');
			eml_buf_u8(b, *p);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			put_str(b, esc);
		} else {
			eml_buf_u8(b, *p);
		}
	}
	eml_buf_u8(b, '"');
}

static int policy_init(int argc, char **argv)
{
	int sim = 0, allow_debug = 0, rc = EML_OK;
	const char *ca = NULL, *binary = NULL, *root = "aws-nitro-g1", *out = NULL;
	const char *pcr_hex[16] = {NULL};
	long long max_age = -1;
	char ca_def[4096], root_path[PATH_MAX + 32], abs_ca[PATH_MAX], fp_hex[65], line[256];
	uint8_t sim_pcrs[3][48], *root_der = NULL, fp[32];
	size_t root_len = 0;
	eml_buf b;
	eml_policy *check = NULL;
	for (int i = 1; i < argc; i++) {
		int idx;
		char tail;
		if (strcmp(argv[i], "--sim") == 0)
			sim = 1;
		else if (strcmp(argv[i], "--sim-ca") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (strcmp(argv[i], "--binary") == 0 && i + 1 < argc)
			binary = argv[++i];
		else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
			root = argv[++i];
		else if (strcmp(argv[i], "--allow-debug") == 0)
			allow_debug = 1;
		else if (strcmp(argv[i], "--max-age-ms") == 0 && i + 1 < argc) {
			char *end = NULL;
			max_age = strtoll(argv[++i], &end, 10);
			if (*end != '\0' || max_age < 0)
				return eml_cli_usage(POLICY_USAGE);
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (sscanf(argv[i], "--pcr%d%c", &idx, &tail) == 1 && idx >= 0 && idx < 16 &&
		         i + 1 < argc)
			pcr_hex[idx] = argv[++i];
		else
			return eml_cli_usage(POLICY_USAGE);
	}
	int any_pcr = 0;
	for (int i = 0; i < 16; i++)
		any_pcr |= pcr_hex[i] != NULL;
	if (sim == any_pcr) /* exactly one of --sim or --pcrN */
		return eml_cli_usage(POLICY_USAGE);

	eml_buf_init(&b, 64 * 1024);
	put_str(&b, "{\n  \"version\": 1,\n");
	if (sim) {
		if (ca == NULL) {
			rc = eml_nsm_sim_default_ca_dir(ca_def, sizeof(ca_def));
			ca = ca_def;
		}
		if (rc == EML_OK)
			rc = eml_nsm_sim_ca_ensure(ca, &root_der, &root_len);
		if (rc == EML_OK && realpath(ca, abs_ca) == NULL)
			rc = EML_E_ATTEST_SIM_CA;
		if (rc == EML_OK)
			rc = eml_nsm_sim_pcrs(binary, sim_pcrs);
		if (rc == EML_OK)
			rc = eml_sha256(root_der, root_len, fp);
		if (rc != EML_OK)
			goto out;
		snprintf(root_path, sizeof(root_path), "%s/root.pem", abs_ca);
		eml_hex(fp, 32, fp_hex);
		put_str(
		    &b,
		    "  \"comment\": \"SIMULATED enclave (eml --nsm sim): development only\",\n");
		put_str(&b, "  \"root\": ");
		put_json_str(&b, root_path);
		snprintf(line, sizeof(line), ",\n  \"root_sha256\": \"%s\",\n  \"pcrs\": [\n    {",
		         fp_hex);
		put_str(&b, line);
		for (int i = 0; i < 3; i++) {
			char hex[97];
			eml_hex(sim_pcrs[i], 48, hex);
			snprintf(line, sizeof(line), "%s\n      \"%d\": \"%s\"", i ? "," : "", i,
			         hex);
			put_str(&b, line);
		}
		put_str(&b, "\n    }\n  ],\n");
	} else {
		put_str(&b, "  \"root\": ");
		put_json_str(&b, root);
		put_str(&b, ",\n  \"pcrs\": [\n    {");
		int first = 1;
		for (int i = 0; i < 16; i++) {
			if (pcr_hex[i] == NULL)
				continue;
			snprintf(line, sizeof(line), "%s\n      \"%d\": ", first ? "" : ",", i);
			put_str(&b, line);
			put_json_str(&b, pcr_hex[i]);
			first = 0;
		}
		put_str(&b, "\n    }\n  ],\n");
	}
	snprintf(line, sizeof(line), "  \"max_age_ms\": %lld,\n  \"allow_debug\": %s\n}\n",
	         max_age >= 0 ? max_age : (long long)EML_POLICY_DEFAULT_MAX_AGE_MS,
	         allow_debug ? "true" : "false");
	put_str(&b, line);
	rc = eml_buf_error(&b);
	/* What we write must load: the same parser the verifier uses checks it. */
	if (rc == EML_OK)
		rc = eml_policy_parse_json((const char *)b.p, b.len, NULL, &check);
	if (rc != EML_OK)
		goto out;
	if (out != NULL)
		rc = eml_file_write_atomic(out, b.p, b.len, 0644);
	else if (fwrite(b.p, 1, b.len, stdout) != b.len)
		rc = EML_E_IO;
out:
	eml_policy_free(check);
	eml_free(root_der);
	eml_buf_cleanup(&b);
	if (rc != EML_OK)
		return eml_cli_fail("policy init", rc);
	return EML_EXIT_OK;
}

int eml_cmd_policy(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "init") == 0)
		return policy_init(argc - 1, argv + 1);
	return eml_cli_usage(POLICY_USAGE);
}
