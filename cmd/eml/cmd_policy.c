/*
 * eml policy — attestation policies (docs/POLICY.md).
 *
 *   eml policy init --sim [--sim-ca DIR] [--binary PATH] [-o POLICY.json]
 *   eml policy init --pcr0 HEX [--pcr1 HEX ... --pcr15 HEX] [--root aws-nitro-g1|PEM]
 *                   [--allow-debug] [--max-age-ms N] [-o POLICY.json]
 *   eml policy from-eif BUILD_OUTPUT.json [MORE.json ...] [--no-pcr8] [--root aws-nitro-g1|PEM]
 *                   [--max-age-ms N] [-o POLICY.json]
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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
	"[--root aws-nitro-g1|PEM] [--allow-debug]) [--max-age-ms N] [-o POLICY.json]\n"           \
	"       eml policy from-eif BUILD_OUTPUT.json [MORE.json ...] [--no-pcr8] "                \
	"[--root aws-nitro-g1|PEM] [--max-age-ms N] [-o POLICY.json]"

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

/*
 * eml policy from-eif: a policy pinned to the measurements of enclave image files, from the
 * JSON that `nitro-cli build-enclave` and `nitro-cli describe-eif` print (AWS Nitro Enclaves
 * User Guide, "nitro-cli build-enclave" / "describe-eif"):
 *
 *   {"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": "<96 hex>", "PCR1": ...,
 *                     "PCR2": ..., "PCR8": ...}}        (PCR8 only for signed images)
 *
 * build-enclave prints progress lines ("Start building the Enclave Image...") before the JSON
 * when both streams are captured together, so text before the first '{' is skipped. A bare
 * measurements object (the "Measurements" value saved on its own) is accepted too. PCR0/1/2
 * are required; PCR8 is pinned when present (signed image) unless --no-pcr8. Each file gives
 * one PCR set, so several files make a rolling-deploy policy (old and new image both accepted).
 */
#define EIF_JSON_MAX (1024 * 1024)
#define EIF_PCR_HEX 96 /* SHA-384 */

/* Copy one PCR value (96 hex digits, any case) as lowercase into out; 0 when absent. */
static int eif_pcr(json_t *m, const char *name, char out[EIF_PCR_HEX + 1], int *present)
{
	json_t *v = json_object_get(m, name);
	*present = 0;
	if (v == NULL)
		return EML_OK;
	const char *s = json_string_value(v);
	if (s == NULL || strlen(s) != EIF_PCR_HEX)
		return EML_E_MALFORMED;
	for (size_t i = 0; i < EIF_PCR_HEX; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return EML_E_MALFORMED;
		out[i] = c;
	}
	out[EIF_PCR_HEX] = '\0';
	*present = 1;
	return EML_OK;
}

/* Append one PCR set ({"0": ..., "1": ..., "2": ... [, "8": ...]}) read from path. */
static int eif_set(eml_buf *b, const char *path, int use_pcr8, int first)
{
	static const int idx[] = {0, 1, 2, 8};
	uint8_t *text = NULL;
	size_t len = 0, start = 0;
	json_t *root = NULL;
	json_error_t jerr;
	char pcr[4][EIF_PCR_HEX + 1], line[64];
	int present[4] = {0}, rc = eml_file_read(path, EIF_JSON_MAX, &text, &len);
	if (rc != EML_OK)
		goto out;
	while (start < len && text[start] != '{')
		start++;
	root = json_loadb((const char *)text + start, len - start, JSON_REJECT_DUPLICATES, &jerr);
	rc = EML_E_MALFORMED;
	if (root == NULL || !json_is_object(root))
		goto out;
	json_t *m = json_object_get(root, "Measurements");
	if (m == NULL)
		m = root; /* the Measurements object saved on its own */
	if (!json_is_object(m))
		goto out;
	/* Nitro measurements are SHA-384; nitro-cli prints the Rust Debug form "Sha384 { ... }". */
	const char *alg = json_string_value(json_object_get(m, "HashAlgorithm"));
	if (alg == NULL || strncmp(alg, "Sha384", 6) != 0)
		goto out;
	for (int i = 0; i < 4; i++) {
		char name[8];
		snprintf(name, sizeof(name), "PCR%d", idx[i]);
		if (eif_pcr(m, name, pcr[i], &present[i]) != EML_OK)
			goto out;
	}
	if (!present[0] || !present[1] || !present[2])
		goto out;
	put_str(b, first ? "\n    {" : ",\n    {");
	for (int i = 0; i < 4; i++) {
		if (!present[i] || (idx[i] == 8 && !use_pcr8))
			continue;
		snprintf(line, sizeof(line), "%s\n      \"%d\": \"", i ? "," : "", idx[i]);
		put_str(b, line);
		put_str(b, pcr[i]);
		put_str(b, "\"");
	}
	put_str(b, "\n    }");
	rc = eml_buf_error(b);
out:
	if (root != NULL)
		json_decref(root);
	eml_free(text);
	return rc;
}

static int policy_from_eif(int argc, char **argv)
{
	const char *files[EML_POLICY_MAX_SETS], *root = "aws-nitro-g1", *out = NULL;
	int nfiles = 0, use_pcr8 = 1, rc = EML_OK;
	long long max_age = -1;
	char line[128];
	eml_buf b;
	eml_policy *check = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-pcr8") == 0)
			use_pcr8 = 0;
		else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
			root = argv[++i];
		else if (strcmp(argv[i], "--max-age-ms") == 0 && i + 1 < argc) {
			char *end = NULL;
			max_age = strtoll(argv[++i], &end, 10);
			if (*end != '\0' || max_age < 0)
				return eml_cli_usage(POLICY_USAGE);
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] != '-' && nfiles < EML_POLICY_MAX_SETS)
			files[nfiles++] = argv[i];
		else
			return eml_cli_usage(POLICY_USAGE);
	}
	if (nfiles == 0)
		return eml_cli_usage(POLICY_USAGE);

	eml_buf_init(&b, 64 * 1024);
	/* Debug-mode enclaves report all-zero PCR0..2, so they can never match these pins; a
	 * from-eif policy never allows debug mode. */
	put_str(&b, "{\n  \"version\": 1,\n  \"comment\": \"pinned by eml policy from-eif\",\n");
	put_str(&b, "  \"root\": ");
	put_json_str(&b, root);
	put_str(&b, ",\n  \"pcrs\": [");
	for (int i = 0; i < nfiles && rc == EML_OK; i++)
		rc = eif_set(&b, files[i], use_pcr8, i == 0);
	if (rc != EML_OK)
		goto out;
	snprintf(line, sizeof(line),
	         "\n  ],\n  \"max_age_ms\": %lld,\n  \"allow_debug\": false\n}\n",
	         max_age >= 0 ? max_age : (long long)EML_POLICY_DEFAULT_MAX_AGE_MS);
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
	eml_buf_cleanup(&b);
	if (rc != EML_OK)
		return eml_cli_fail("policy from-eif", rc);
	return EML_EXIT_OK;
}

int eml_cmd_policy(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "init") == 0)
		return policy_init(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "from-eif") == 0)
		return policy_from_eif(argc - 1, argv + 1);
	return eml_cli_usage(POLICY_USAGE);
}
