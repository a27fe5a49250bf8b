/*
 * eml audit verify LOG... --policy P.json [--require-stop] [--json]
 *
 * Verifies audit logs written by `eml host --audit-log` offline (docs/AUDIT.md): the enclave start
 * record's attestation against the policy, every signature, the hash chain across rotated files
 * (give them oldest first: FILE.1 FILE.2 ... FILE). Reports the first bad record, why, and the
 * last good sequence number. Exit 0 when the log verifies, 4 when it does not.
 */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "cli.h"
#include "common/mem.h"
#include "eml/error.h"

#define AUDIT_USAGE "eml audit verify LOG... --policy P.json [--require-stop] [--json]"
#define AUDIT_MAX_FILES 4096

int eml_cmd_audit(int argc, char **argv)
{
	const char *policy = NULL;
	const char **files = NULL;
	size_t n = 0;
	int json = 0, code = EML_EXIT_OK, rc;
	eml_policy *pol = NULL;
	eml_audit_verify_opts o = {0};
	eml_audit_report rep;

	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			printf("usage: %s\n", AUDIT_USAGE);
			return EML_EXIT_OK;
		}
		return eml_cli_usage(AUDIT_USAGE);
	}
	files = eml_calloc((size_t)argc, sizeof(*files));
	if (files == NULL)
		return eml_cli_fail("audit", EML_E_NOMEM);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--policy") == 0 && i + 1 < argc)
			policy = argv[++i];
		else if (strcmp(a, "--json") == 0)
			json = 1;
		else if (strcmp(a, "--require-stop") == 0)
			o.require_stop = 1;
		else if (a[0] == '-' && a[1] != '\0') {
			code = eml_cli_usage(AUDIT_USAGE);
			goto done;
		} else if (n < AUDIT_MAX_FILES)
			files[n++] = a;
	}
	if (policy == NULL || n == 0) {
		code = eml_cli_usage(AUDIT_USAGE);
		goto done;
	}
	rc = eml_policy_load_file(policy, &pol);
	if (rc != EML_OK) {
		code = eml_cli_fail("audit (policy)", rc);
		goto done;
	}
	o.policy = pol;
	rc = eml_audit_verify_files(files, n, &o, &rep);
	if (json) {
		printf("{\"ok\": %s, \"records\": %llu, \"verified\": %llu, \"boots\": %llu, "
		       "\"closed\": %s, \"unclosed_boots\": %llu, \"unsigned_tail\": %llu, "
		       "\"last_good_seq\": ",
		       rc == EML_OK ? "true" : "false", (unsigned long long)rep.records,
		       (unsigned long long)rep.good, (unsigned long long)rep.boots,
		       rep.closed ? "true" : "false", (unsigned long long)rep.unclosed_boots,
		       (unsigned long long)rep.unsigned_tail);
		if (rep.has_last_good)
			printf("%llu", (unsigned long long)rep.last_good_seq);
		else
			printf("null");
		if (rc != EML_OK) {
			printf(", \"error\": \"%s\", \"message\": ", eml_err_name(rc));
			eml_cli_json_str(stdout, eml_err_str(rc));
			printf(", \"bad_index\": %llu, \"file\": ",
			       (unsigned long long)rep.bad_index);
			eml_cli_json_str(stdout, rep.bad_file);
			printf(", \"offset\": %llu", (unsigned long long)rep.bad_offset);
		}
		printf("}\n");
	} else if (rc == EML_OK) {
		printf("audit log OK: %llu records, %llu boot(s), last sequence number %llu, %s\n",
		       (unsigned long long)rep.good, (unsigned long long)rep.boots,
		       (unsigned long long)rep.last_good_seq,
		       rep.closed ? "closed by a stop record"
		                  : "open (no stop record: enclave running, or tail cut)");
		if (rep.unsigned_tail > 0)
			printf("note: the last %llu record(s) are not yet covered by a signature "
			       "(unverified)\n",
			       (unsigned long long)rep.unsigned_tail);
		if (rep.unclosed_boots > 0)
			printf("note: %llu boot(s) ended without a stop record (crash or cut)\n",
			       (unsigned long long)rep.unclosed_boots);
	} else {
		printf("audit log FAILED at record %llu (%s, offset %llu): %s (%s)\n",
		       (unsigned long long)rep.bad_index, rep.bad_file[0] ? rep.bad_file : "-",
		       (unsigned long long)rep.bad_offset, eml_err_str(rc), eml_err_name(rc));
		if (rep.has_last_good)
			printf("last good sequence number: %llu (%llu records verified)\n",
			       (unsigned long long)rep.last_good_seq, (unsigned long long)rep.good);
		else
			printf("no record verified\n");
	}
	if (rc != EML_OK)
		code = (rc == EML_E_IO || rc == EML_E_NOT_FOUND || rc == EML_E_NOMEM)
		           ? EML_EXIT_ERROR
		           : EML_EXIT_REFUSED;
done:
	eml_policy_free(pol);
	eml_free(files);
	return code;
}
