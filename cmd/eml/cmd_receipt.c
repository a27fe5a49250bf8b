/*
 * eml receipt verify RECEIPT --policy P.json [--input FILE]... [--output FILE]... [--json]
 *
 * Checks an inference receipt offline (docs/AUDIT.md §3): the enclave start document it carries
 * against the policy, the binding of the signing key in that document, the signature, and, when
 * given, that the input and output tensor files (in request/output order, .npy or .pb) hash to
 * the receipt's values. Exit 0 when it verifies, 4 when it is refused.
 */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "eml/error.h"
#include "tensor/tensor_io.h"

#define RECEIPT_USAGE                                                                              \
	"eml receipt verify RECEIPT --policy P.json [--input FILE]... [--output FILE]... [--json]"
#define RECEIPT_MAX_FILES 256

/* Hash tensor files as the enclave hashes the wire tensors (names are not hashed). */
static int hash_files(const char **files, size_t n, uint8_t out[32])
{
	int rc = EML_OK;
	eml_tensor_file tf[RECEIPT_MAX_FILES];
	eml_audit_tensor at[RECEIPT_MAX_FILES];
	size_t got = 0;
	memset(tf, 0, sizeof(tf));
	memset(at, 0, sizeof(at));
	for (; got < n; got++) {
		rc = eml_tensor_read_file(files[got], &tf[got]);
		if (rc != EML_OK)
			goto out;
		at[got] = (eml_audit_tensor){.dtype = tf[got].dtype,
		                             .rank = tf[got].rank,
		                             .dims = tf[got].dims,
		                             .data = tf[got].data,
		                             .bytes = tf[got].bytes};
	}
	rc = eml_audit_tensors_hash(at, n, out);
out:
	for (size_t i = 0; i < got; i++)
		eml_tensor_file_cleanup(&tf[i]);
	return rc;
}

static void hex_out(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

int eml_cmd_receipt(int argc, char **argv)
{
	const char *policy = NULL, *path = NULL;
	const char *ins[RECEIPT_MAX_FILES], *outs[RECEIPT_MAX_FILES];
	size_t n_in = 0, n_out = 0, len = 0;
	int json = 0, code = EML_EXIT_OK, rc;
	uint8_t *buf = NULL, hin[32], hout[32];
	eml_policy *pol = NULL;
	eml_receipt r;

	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			printf("usage: %s\n", RECEIPT_USAGE);
			return EML_EXIT_OK;
		}
		return eml_cli_usage(RECEIPT_USAGE);
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--policy") == 0 && i + 1 < argc)
			policy = argv[++i];
		else if (strcmp(a, "--input") == 0 && i + 1 < argc && n_in < RECEIPT_MAX_FILES)
			ins[n_in++] = argv[++i];
		else if (strcmp(a, "--output") == 0 && i + 1 < argc && n_out < RECEIPT_MAX_FILES)
			outs[n_out++] = argv[++i];
		else if (strcmp(a, "--json") == 0)
			json = 1;
		else if (a[0] != '-' && path == NULL)
			path = a;
		else
			return eml_cli_usage(RECEIPT_USAGE);
	}
	if (policy == NULL || path == NULL)
		return eml_cli_usage(RECEIPT_USAGE);
	rc = eml_policy_load_file(policy, &pol);
	if (rc != EML_OK) {
		code = eml_cli_fail("receipt (policy)", rc);
		goto done;
	}
	rc = eml_file_read(path, EML_RECEIPT_MAX, &buf, &len);
	if (rc == EML_E_LIMIT)
		rc = EML_E_RECEIPT_MALFORMED;
	if (rc == EML_OK && n_in > 0)
		rc = hash_files(ins, n_in, hin);
	if (rc == EML_OK && n_out > 0)
		rc = hash_files(outs, n_out, hout);
	if (rc != EML_OK) {
		code = eml_cli_fail("receipt", rc);
		goto done;
	}
	rc = eml_receipt_verify(buf, len, pol, n_in > 0 ? hin : NULL, n_out > 0 ? hout : NULL, &r);
	if (rc != EML_OK) {
		if (json)
			printf("{\"ok\": false, \"error\": \"%s\"}\n", eml_err_name(rc));
		code = eml_cli_fail("receipt", rc);
		goto done;
	}
	/* The receipt is the log's RESPONSE record: its hash is what the log's next record chains
	 * to, so an auditor can find it in the log (docs/AUDIT.md §3). */
	uint8_t rh[32];
	if (eml_sha256(r.record, r.record_len, rh) != EML_OK)
		memset(rh, 0, sizeof(rh));
	if (json) {
		printf("{\"ok\": true, \"record_sha256\": \"");
		hex_out(rh, 32);
		printf("\", \"model_id\": \"");
		hex_out(r.model_id, 16);
		printf("\", \"session_id\": \"");
		hex_out(r.session_id, 16);
		printf("\", \"request_seq\": %llu, \"audit_seq\": %llu, \"time_ms\": %llu, "
		       "\"inputs_checked\": %s, \"outputs_checked\": %s}\n",
		       (unsigned long long)r.request_seq, (unsigned long long)r.audit_seq,
		       (unsigned long long)r.time_ms, n_in ? "true" : "false",
		       n_out ? "true" : "false");
	} else {
		printf("receipt OK: model ");
		hex_out(r.model_id, 16);
		printf(", session ");
		hex_out(r.session_id, 16);
		printf(", request %llu, audit record %llu%s%s\n", (unsigned long long)r.request_seq,
		       (unsigned long long)r.audit_seq, n_in ? ", inputs match" : "",
		       n_out ? ", outputs match" : "");
	}
done:
	eml_policy_free(pol);
	eml_free(buf);
	return code;
}
