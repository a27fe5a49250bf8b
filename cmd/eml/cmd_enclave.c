/* eml enclave: the attested inference service (src/enclave/enclave.h). */
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "cli.h"
#include "common/log.h"
#include "crypto/mem.h"
#include "eml/error.h"
#include "enclave/enclave.h"

static const char *usage_text =
    "eml enclave --listen ADDR --host-channel ADDR --nsm auto|device|sim [--sim-ca DIR]\n"
    "                [--threads N] [--max-concurrent N] [--max-memory BYTES]\n"
    "                [--idle-timeout-ms N] [--blob-cache-bytes BYTES] [--arena-pool-bytes BYTES]\n"
    "                [--no-sandbox]\n"
    "  ADDR is vsock:CID:PORT, tcp:HOST:PORT or unix:PATH";

int eml_cmd_enclave(int argc, char **argv)
{
	/* Before anything touches OpenSSL: its heap is wiped on free too (docs/MEMORY.md). */
	if (eml_crypto_use_wiping_allocator() != EML_OK)
		return eml_cli_fail("enclave", EML_E_CRYPTO);
	eml_enclave_config c;
	eml_enclave_config_defaults(&c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: %s\n", usage_text);
			return EML_EXIT_OK;
		}
		if (strcmp(a, "--no-sandbox") == 0) {
			c.no_sandbox = 1;
			continue;
		}
		if (v == NULL)
			return eml_cli_usage(usage_text);
		i++;
		if (strcmp(a, "--listen") == 0)
			c.listen = v;
		else if (strcmp(a, "--host-channel") == 0)
			c.host_channel = v;
		else if (strcmp(a, "--nsm") == 0)
			c.nsm_mode = v;
		else if (strcmp(a, "--sim-ca") == 0)
			c.sim_ca_dir = v;
		else if (strcmp(a, "--threads") == 0 && eml_cli_parse_u64(v, &x) == 0 && x <= 1024)
			c.threads = (int)x;
		else if (strcmp(a, "--max-concurrent") == 0 && eml_cli_parse_u64(v, &x) == 0 &&
		         x >= 1 && x <= 1024)
			c.max_concurrent = (int)x;
		else if (strcmp(a, "--max-memory") == 0 && eml_cli_parse_u64(v, &x) == 0)
			c.max_memory = x;
		else if (strcmp(a, "--blob-cache-bytes") == 0 && eml_cli_parse_u64(v, &x) == 0)
			c.blob_cache_bytes = x;
		else if (strcmp(a, "--arena-pool-bytes") == 0 && eml_cli_parse_u64(v, &x) == 0 &&
		         x <= SIZE_MAX)
			c.arena_pool_bytes = x;
		else if (strcmp(a, "--idle-timeout-ms") == 0 && eml_cli_parse_u64(v, &x) == 0 &&
		         x >= 1 && x <= 86400000)
			c.idle_timeout_ms = (int)x;
		else
			return eml_cli_usage(usage_text);
	}
	if (c.listen == NULL || c.host_channel == NULL)
		return eml_cli_usage(usage_text);
	eml_cli_trap_stop_signals();
	eml_log_set_tag("eml enclave");
	int rc = eml_enclave_run(&c, &eml_cli_stop);
	if (rc != 0)
		return eml_cli_fail("enclave", rc);
	return EML_EXIT_OK;
}
