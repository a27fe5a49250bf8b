/* eml host: the untrusted proxy + weight store + audit sink (src/host/host.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/log.h"
#include "host/host.h"

static volatile sig_atomic_t host_stop;

static void on_signal(int sig)
{
	(void)sig;
	host_stop = 1;
}

static const char *usage_text =
    "eml host --listen ADDR --enclave ADDR --enclave-channel ADDR --store DIR\n"
    "                [--audit-log FILE] [--max-blob BYTES] [--idle-timeout-ms N]\n"
    "                [--frame-timeout-ms N] [--max-conns N]\n"
    "  ADDR is vsock:CID:PORT, tcp:HOST:PORT or unix:PATH";

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	unsigned long long x = strtoull(s, &end, 10);
	if (*end != '\0')
		return -1;
	*v = x;
	return 0;
}

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
		else if (strcmp(a, "--max-blob") == 0 && parse_u64(v, &x) == 0 && x > 0)
			c.max_blob = x;
		else if (strcmp(a, "--idle-timeout-ms") == 0 && parse_u64(v, &x) == 0 &&
		         x <= 86400000)
			c.idle_timeout_ms = (int)x;
		else if (strcmp(a, "--frame-timeout-ms") == 0 && parse_u64(v, &x) == 0 &&
		         x <= 86400000)
			c.frame_timeout_ms = (int)x;
		else if (strcmp(a, "--max-conns") == 0 && parse_u64(v, &x) == 0 && x >= 2 &&
		         x <= 65536)
			c.max_conns = (size_t)x;
		else
			return eml_cli_usage(usage_text);
	}
	if (c.listen == NULL || c.enclave == NULL || c.enclave_channel == NULL ||
	    c.store_dir == NULL)
		return eml_cli_usage(usage_text);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	eml_log_set_tag("eml host");
	int rc = eml_host_run(&c, &host_stop);
	if (rc != 0)
		return eml_cli_fail("host", rc);
	return EML_EXIT_OK;
}
