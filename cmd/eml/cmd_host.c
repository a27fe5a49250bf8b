/* eml host: the untrusted proxy + weight store + audit sink (src/host/host.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/log.h"
#include "host/host.h"

static const char *usage_text =
    "eml host --listen ADDR --enclave ADDR --enclave-channel ADDR --store DIR\n"
    "                [--audit-log FILE] [--audit-rotate-bytes N] [--audit-fsync every|none]\n"
    "                [--kms-credentials env|FILE]\n"
    "                [--max-blob BYTES] [--idle-timeout-ms N]\n"
    "                [--frame-timeout-ms N] [--max-conns N]\n"
    "  ADDR is vsock:CID:PORT, tcp:HOST:PORT or unix:PATH";

int eml_cmd_host(int argc, char **argv)
{
	eml_host_config c;
	eml_host_config_defaults(&c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: %s\n", usage_text);
			return EML_EXIT_OK;
		}
		if (v == NULL)
			return eml_cli_usage(usage_text);
		i++;
		if (strcmp(a, "--listen") == 0)
			c.listen = v;
		else if (strcmp(a, "--enclave") == 0)
			c.enclave = v;
		else if (strcmp(a, "--enclave-channel") == 0)
			c.enclave_channel = v;
		else if (strcmp(a, "--store") == 0)
			c.store_dir = v;
		else if (strcmp(a, "--audit-log") == 0)
			c.audit_log = v;
		else if (strcmp(a, "--kms-credentials") == 0)
			c.kms_credentials = v; /* for the enclave's KMS client (docs/KMS.md) */
		else if (strcmp(a, "--audit-rotate-bytes") == 0) {
			if (eml_cli_parse_u64(v, &c.audit_rotate_bytes) != 0)
				return eml_cli_usage(usage_text);
		} else if (strcmp(a, "--audit-fsync") == 0) {
			if (strcmp(v, "every") == 0)
				c.audit_no_fsync = 0;
			else if (strcmp(v, "none") == 0)
				c.audit_no_fsync = 1;
			else
				return eml_cli_usage(usage_text);
		} else if (strcmp(a, "--max-blob") == 0 && eml_cli_parse_u64(v, &x) == 0 && x > 0)
			c.max_blob = x;
		else if (strcmp(a, "--idle-timeout-ms") == 0 && eml_cli_parse_u64(v, &x) == 0 &&
		         x <= 86400000)
			c.idle_timeout_ms = (int)x;
		else if (strcmp(a, "--frame-timeout-ms") == 0 && eml_cli_parse_u64(v, &x) == 0 &&
		         x <= 86400000)
			c.frame_timeout_ms = (int)x;
		else if (strcmp(a, "--max-conns") == 0 && eml_cli_parse_u64(v, &x) == 0 && x >= 2 &&
		         x <= 65536)
			c.max_conns = (size_t)x;
		else
			return eml_cli_usage(usage_text);
	}
	if (c.listen == NULL || c.enclave == NULL || c.enclave_channel == NULL ||
	    c.store_dir == NULL)
		return eml_cli_usage(usage_text);
	eml_cli_trap_stop_signals();
	eml_log_set_tag("eml host");
	int rc = eml_host_run(&c, &eml_cli_stop);
	if (rc != 0)
		return eml_cli_fail("host", rc);
	return EML_EXIT_OK;
}
