/*
 * eml attest — attestation documents on the client side.
 *
 *   eml attest verify DOC(.cbor|.b64) --policy POLICY.json [--at-document-time] [--nonce HEX]
 *                     [--json]
 *   eml attest issue --nsm sim|device|auto [--sim-ca DIR] [--nonce HEX] [--user-data HEX]
 *                    [--public-key HEX] -o DOC.cbor      (development: ask an NSM for a document)
 *
 * Sub-forms live in one table; the remote form (eml attest --host ...) slots in next to them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/doc.h"
#include "attest/nsm.h"
#include "attest/verify.h"
#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "eml/error.h"

#define VERIFY_USAGE                                                                               \
	"eml attest verify DOC(.cbor|.b64) --policy POLICY.json [--at-document-time] "             \
	"[--nonce HEX] [--json]"
#define ISSUE_USAGE                                                                                \
	"eml attest issue --nsm sim|device|auto [--sim-ca DIR] [--nonce HEX] [--user-data HEX] "   \
	"[--public-key HEX] -o DOC.cbor"

/* Read a document: raw CBOR, or base64 text (as AWS SDKs and many tools print it). */
static int read_doc(const char *path, uint8_t **doc, size_t *len)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	int rc = eml_file_read(path, 4 * EML_ATTEST_DOC_MAX, &raw, &n);
	if (rc == EML_E_LIMIT)
		return EML_E_ATTEST_SIZE;
	if (rc != EML_OK)
		return rc;
	/* CBOR documents start with an array head (0x84, 0x9f) or a tag head (0xc0..0xdb). */
	if (n > 0 && (raw[0] == 0x84 || raw[0] == 0x9f || (raw[0] >> 5) == 6)) {
		*doc = raw;
		*len = n;
		return EML_OK;
	}
	rc = eml_attest_b64_decode(raw, n, doc, len);
	eml_free(raw);
	return rc;
}

/* Hex argument of 1..max bytes into an eml_alloc'd buffer. */
static int hex_arg(const char *s, size_t max, uint8_t **out, size_t *len)
{
	size_t n = strlen(s);
	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return EML_E_USAGE;
	*out = eml_alloc(n / 2);
	if (*out == NULL)
		return EML_E_NOMEM;
	if (eml_unhex(s, *out, n / 2) != EML_OK) {
		eml_free(*out);
		*out = NULL;
		return EML_E_USAGE;
	}
	*len = n / 2;
	return EML_OK;
}

static void utc(uint64_t ms, char *out, size_t cap)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static void print_hex_field(FILE *f, int json, const char *name, const uint8_t *p, size_t n,
                            int last)
{
	char hex[2 * 64 + 1];
	eml_hex(p, n, hex);
	if (json)
		fprintf(f, "  \"%s\": \"%s\"%s\n", name, hex, last ? "" : ",");
	else
		fprintf(f, "  %-18s %s\n", name, hex);
}

/* A bound value is shown by length and SHA-256 (nonces in full: they are the caller's). */
static void print_opt(FILE *f, int json, const char *name, int has, const uint8_t *p, size_t n)
{
	uint8_t h[32];
	char hex[65];
	if (!has) {
		if (json)
			fprintf(f, "  \"%s\": null,\n", name);
		else
			fprintf(f, "  %-18s none\n", name);
		return;
	}
	eml_sha256(p, n, h);
	eml_hex(h, 32, hex);
	if (json)
		fprintf(f, "  \"%s\": {\"length\": %zu, \"sha256\": \"%s\"},\n", name, n, hex);
	else
		fprintf(f, "  %-18s %zu bytes, sha256 %s\n", name, n, hex);
}

static void print_claims(const eml_attest_claims *c, int json)
{
	FILE *f = stdout;
	char when[64];
	utc(c->timestamp_ms, when, sizeof(when));
	if (json) {
		fprintf(f, "{\n  \"verified\": true,\n  \"simulated\": %s,\n",
		        c->simulated ? "true" : "false");
		fprintf(f, "  \"module_id\": ");
		eml_cli_json_str(f, c->module_id);
		fprintf(f, ",\n  \"timestamp_ms\": %llu,\n  \"timestamp_utc\": \"%s\",\n",
		        (unsigned long long)c->timestamp_ms, when);
		fprintf(f, "  \"validity_checked_at\": \"%s\",\n  \"debug_mode\": %s,\n",
		        c->at_document_time ? "document" : "now", c->debug_mode ? "true" : "false");
		fprintf(f, "  \"matched_pcr_set\": %d,\n  \"pcrs\": {", c->matched_set);
		int first = 1;
		for (unsigned i = 0; i < EML_ATTEST_PCR_SLOTS; i++) {
			char hex[129];
			if (!(c->pcr_mask & (1u << i)))
				continue;
			eml_hex(c->pcrs[i], c->pcr_len[i], hex);
			fprintf(f, "%s\n    \"%u\": \"%s\"", first ? "" : ",", i, hex);
			first = 0;
		}
		fprintf(f, "\n  },\n");
	} else {
		fprintf(f, "attestation document verified%s\n",
		        c->simulated ? " (SIMULATED enclave: not a Nitro Enclave)" : "");
		fprintf(f, "  %-18s %s\n", "module_id", c->module_id);
		fprintf(f, "  %-18s %llu ms (%s)\n", "timestamp",
		        (unsigned long long)c->timestamp_ms, when);
		fprintf(f, "  %-18s %s\n", "validity checked",
		        c->at_document_time ? "at document time" : "now");
		fprintf(f, "  %-18s %s\n", "debug mode",
		        c->debug_mode ? "YES (allowed by policy)" : "no");
		fprintf(f, "  %-18s %d\n", "matched PCR set", c->matched_set);
		for (unsigned i = 0; i < EML_ATTEST_PCR_SLOTS; i++) {
			char name[16], hex[129];
			if (!(c->pcr_mask & (1u << i)))
				continue;
			snprintf(name, sizeof(name), "pcr%u", i);
			eml_hex(c->pcrs[i], c->pcr_len[i], hex);
			fprintf(f, "  %-18s %s\n", name, hex);
		}
	}
	print_opt(f, json, "public_key", c->has_public_key, c->public_key, c->public_key_len);
	print_opt(f, json, "user_data", c->has_user_data, c->user_data, c->user_data_len);
	print_opt(f, json, "nonce", c->has_nonce, c->nonce, c->nonce_len);
	print_hex_field(f, json, "root_sha256", c->root_sha256, 32, 0);
	print_hex_field(f, json, "leaf_cert_sha256", c->leaf_sha256, 32, 0);
	print_hex_field(f, json, "document_sha256", c->doc_sha256, 32, 1);
	if (json)
		fprintf(f, "}\n");
}

static int cmd_verify(int argc, char **argv)
{
	const char *doc_path = NULL, *policy_path = NULL, *nonce_hex = NULL;
	int json = 0, at_doc = 0, rc;
	uint8_t *doc = NULL, *nonce = NULL;
	size_t len = 0, nonce_len = 0;
	eml_policy *pol = NULL;
	eml_attest_claims c;
	eml_verify_opts o;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			policy_path = argv[++i];
		else if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc)
			nonce_hex = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--at-document-time") == 0)
			at_doc = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", VERIFY_USAGE);
			return EML_EXIT_OK;
		} else if (argv[i][0] != '-' && doc_path == NULL)
			doc_path = argv[i];
		else
			return eml_cli_usage(VERIFY_USAGE);
	}
	if (doc_path == NULL || policy_path == NULL)
		return eml_cli_usage(VERIFY_USAGE);
	memset(&o, 0, sizeof(o));
	o.at_document_time = at_doc;
	if (nonce_hex != NULL) {
		if (hex_arg(nonce_hex, EML_ATTEST_FIELD_MAX, &nonce, &nonce_len) != EML_OK)
			return eml_cli_usage(VERIFY_USAGE);
		o.nonce = nonce;
		o.nonce_len = nonce_len;
	}
	rc = eml_policy_load_file(policy_path, &pol);
	if (rc == EML_OK)
		rc = read_doc(doc_path, &doc, &len);
	if (rc == EML_OK)
		rc = eml_attest_verify(doc, len, pol, &o, &c);
	if (rc == EML_OK) {
		print_claims(&c, json);
		eml_attest_claims_cleanup(&c);
	} else if (json) {
		printf("{\"verified\": false, \"code\": %d, \"error\": \"%s\", \"message\": ", rc,
		       eml_err_name(rc));
		eml_cli_json_str(stdout, eml_err_str(rc));
		printf("}\n");
	}
	eml_policy_free(pol);
	eml_free(doc);
	eml_free(nonce);
	if (rc != EML_OK)
		return eml_cli_fail("attest verify", rc);
	return EML_EXIT_OK;
}

static int cmd_issue(int argc, char **argv)
{
	const char *mode = NULL, *out = NULL;
	const char *hex[3] = {NULL, NULL, NULL}; /* nonce, user_data, public_key */
	uint8_t *val[3] = {NULL, NULL, NULL};
	size_t vlen[3] = {0, 0, 0};
	eml_nsm_opts o;
	eml_nsm *nsm = NULL;
	uint8_t *doc = NULL;
	size_t len = 0;
	int rc = EML_OK;
	memset(&o, 0, sizeof(o));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--nsm") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strcmp(argv[i], "--sim-ca") == 0 && i + 1 < argc)
			o.sim_ca_dir = argv[++i];
		else if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc)
			hex[0] = argv[++i];
		else if (strcmp(argv[i], "--user-data") == 0 && i + 1 < argc)
			hex[1] = argv[++i];
		else if (strcmp(argv[i], "--public-key") == 0 && i + 1 < argc)
			hex[2] = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else
			return eml_cli_usage(ISSUE_USAGE);
	}
	if (mode == NULL || out == NULL)
		return eml_cli_usage(ISSUE_USAGE);
	for (int k = 0; k < 3; k++)
		if (hex[k] != NULL &&
		    hex_arg(hex[k], EML_ATTEST_FIELD_MAX, &val[k], &vlen[k]) != EML_OK)
			rc = EML_E_USAGE;
	if (rc == EML_OK)
		rc = eml_nsm_open(mode, &o, &nsm);
	if (rc == EML_OK && eml_nsm_is_simulated(nsm))
		fprintf(stderr, "eml attest issue: SIMULATED NSM (development only)\n");
	if (rc == EML_OK)
		rc = eml_nsm_attest(nsm, val[1], vlen[1], val[0], vlen[0], val[2], vlen[2], &doc,
		                    &len);
	if (rc == EML_OK)
		rc = eml_file_write_atomic(out, doc, len, 0644);
	for (int k = 0; k < 3; k++)
		eml_free(val[k]);
	eml_free(doc);
	eml_nsm_free(nsm);
	if (rc == EML_E_USAGE)
		return eml_cli_usage(ISSUE_USAGE);
	if (rc != EML_OK)
		return eml_cli_fail("attest issue", rc);
	return EML_EXIT_OK;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
} forms[] = {
    {"verify", cmd_verify, "verify a document against a policy (offline)"},
    {"issue", cmd_issue, "ask an NSM (device or simulated) for a document"},
};

int eml_cmd_attest(int argc, char **argv)
{
	/* The remote form: eml attest --host ADDR --policy P.json [--json] */
	if (argc >= 2 && strncmp(argv[1], "--", 2) == 0 && strcmp(argv[1], "--help") != 0)
		return eml_cmd_attest_remote(argc, argv);
	if (argc >= 2) {
		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
			if (strcmp(argv[1], forms[i].name) == 0)
				return forms[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr,
	        "usage: eml attest --host ADDR --policy P.json [--json]   (attest an enclave)\n"
	        "       eml attest <form> ...\n");
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		fprintf(stderr, "  %-8s %s\n", forms[i].name, forms[i].summary);
	return EML_EXIT_USAGE;
}
