/*
 * eml kms --listen ADDR --state DIR --trust-root ROOT.pem [--tls] [--region R]
 *   the local KMS service (plain HTTP on loopback only, or TLS with a certificate generated into
 *   DIR/tls-cert.pem). Access key: AWS_ACCESS_KEY_ID /
 *   AWS_SECRET_ACCESS_KEY of its environment.
 * eml kms create-key --kms-endpoint URL [--policy POLICY.json] [--region R]
 *   CreateKey with a key policy (works against AWS KMS too); prints the KeyId.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "common/file.h"
#include "eml/error.h"
#include "common/mem.h"
#include "kms/kms.h"

static const char *usage_text =
    "eml kms --listen 127.0.0.1:PORT (0: any) --state DIR --trust-root ROOT.pem [--tls] [--region "
    "R]\n"
    "       eml kms create-key --kms-endpoint URL [--policy POLICY.json] [--region R] "
    "[--ca-file PEM]";

static volatile int stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int create_key(int argc, char **argv)
{
	const char *ep = NULL, *pol = NULL, *region = NULL, *ca = NULL;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (strcmp(argv[i], "--kms-endpoint") == 0 && i + 1 < argc)
			ep = argv[++i];
		else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			pol = argv[++i];
		else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc)
			region = argv[++i];
		else
			return eml_cli_usage(usage_text);
	}
	if (!ep)
		return eml_cli_usage(usage_text);
	eml_kms_cfg c = {.endpoint = ep, .region = region, .ca_file = ca, .creds = {0}};
	int urc = eml_cli_aws_env("kms", &c.creds.access_key, &c.creds.secret_key,
	                          &c.creds.session_token);
	if (urc != 0)
		return urc;
	uint8_t *pj = NULL;
	size_t pl = 0;
	char *txt = NULL, *kid = NULL;
	int rc = 0;
	if (pol) {
		rc = eml_file_read(pol, 64 * 1024, &pj, &pl);
		if (rc == 0) {
			txt = eml_alloc(pl + 1);
			rc = txt ? 0 : EML_E_NOMEM;
			if (txt) {
				memcpy(txt, pj, pl);
				txt[pl] = 0;
			}
		}
	}
	if (rc == 0)
		rc = eml_kms_create_key(&c, txt, &kid);
	if (rc == 0)
		printf("%s\n", kid);
	eml_free(pj);
	eml_free(txt);
	eml_free(kid);
	return rc == 0 ? EML_EXIT_OK : eml_cli_fail("kms create-key", rc);
}

int eml_cmd_kms(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create-key") == 0)
		return create_key(argc, argv);
	const char *listen_addr = NULL, *state = NULL, *root = NULL, *region = NULL;
	int tls = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tls") == 0)
			tls = 1;
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen_addr = argv[++i];
		else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			state = argv[++i];
		else if (strcmp(argv[i], "--trust-root") == 0 && i + 1 < argc)
			root = argv[++i];
		else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc)
			region = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", usage_text);
			return EML_EXIT_OK;
		} else
			return eml_cli_usage(usage_text);
	}
	if (!listen_addr || !state || !root)
		return eml_cli_usage(usage_text);
	char host[64];
	int port = -1;
	const char *colon = strrchr(listen_addr, ':');
	if (!colon || (size_t)(colon - listen_addr) >= sizeof(host))
		return eml_cli_usage(usage_text);
	memcpy(host, listen_addr, (size_t)(colon - listen_addr));
	host[colon - listen_addr] = 0;
	/* PORT 0: any free port, printed once listening (scripts/run-demo reads it). */
	port = (colon[1] >= '0' && colon[1] <= '9') ? atoi(colon + 1) : -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	/* plain HTTP is only acceptable on loopback */
	if (port < 0 || port > 65535 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    (!tls && (ntohl(a.sin_addr.s_addr) >> 24) != 127)) {
		fprintf(stderr, "eml kms: --listen must be 127.x.x.x:PORT (or use --tls)\n");
		return EML_EXIT_USAGE;
	}
	eml_kms_server_cfg sc = {
	    .state_dir = state, .trust_root_pem = root, .region = region, .tls = tls};
	int urc2 = eml_cli_aws_env("kms", &sc.access_key, &sc.secret_key, NULL);
	if (urc2 != 0)
		return urc2;
	eml_kms_server *s = NULL;
	int rc = eml_kms_server_open(&sc, &s);
	if (rc != 0)
		return eml_cli_fail("kms", rc);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
		eml_kms_server_free(s);
		if (fd >= 0)
			close(fd);
		return eml_cli_fail("kms", EML_E_KMS_HTTP);
	}
	socklen_t al = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		snprintf(host + strlen(host), sizeof(host) - strlen(host), ":%u",
		         (unsigned)ntohs(a.sin_port));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (tls)
		fprintf(stderr, "eml kms: listening on https://%s (trust anchor %s/tls-cert.pem)\n",
		        host, state);
	else
		fprintf(stderr, "eml kms: listening on http://%s\n", host);
	rc = eml_kms_server_serve(s, fd, &stop_flag);
	close(fd);
	eml_kms_server_free(s);
	return rc == 0 ? EML_EXIT_OK : eml_cli_fail("kms", rc);
}
