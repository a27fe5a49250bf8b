#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>

#include "eml/error.h"

int eml_cli_exit_code(int rc)
{
	switch (rc) {
	case EML_OK:
		return EML_EXIT_OK;
	case EML_E_USAGE:
		return EML_EXIT_USAGE;
	case EML_E_ONNX_UNSUPPORTED_OP:
		return EML_EXIT_UNSUPPORTED;
	case EML_E_TKEY_INTEGRITY:
	case EML_E_BLOB_DIGEST:
	case EML_E_BLOB_CHUNK_AUTH:
	case EML_E_BLOB_MODEL_MISMATCH:
	case EML_E_AUTH:
	case EML_E_REPLAY:
	case EML_E_SESSION_UNKNOWN:
	case EML_E_KMS_ACCESS_DENIED:
	case EML_E_KMS_UNSEAL:
	case EML_E_KMS_CMS_DECRYPT:
		return EML_EXIT_REFUSED;
	case EML_E_NET_CONNECT:
	case EML_E_NET_TIMEOUT:
	case EML_E_NET_CLOSED:
	case EML_E_NET_BUSY:
	case EML_E_HOST_UNAVAILABLE:
	case EML_E_KMS_HTTP:
	case EML_E_KMS_THROTTLED:
		return EML_EXIT_UNAVAILABLE;
	default:
		if ((rc >= 500 && rc < 600) || (rc >= 700 && rc < 800)) /* attestation, audit */
			return EML_EXIT_REFUSED;
		return EML_EXIT_ERROR;
	}
}

int eml_cli_fail(const char *what, int rc)
{
	fprintf(stderr, "eml %s: %s (%s)\n", what, eml_err_str(rc), eml_err_name(rc));
	return eml_cli_exit_code(rc);
}

int eml_cli_usage(const char *usage)
{
	fprintf(stderr, "usage: %s\n", usage);
	return EML_EXIT_USAGE;
}

void eml_cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

int eml_cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return -1;
	*v = x;
	return 0;
}

volatile sig_atomic_t eml_cli_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	eml_cli_stop = 1;
}

void eml_cli_trap_stop_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int eml_cli_aws_env(const char *cmd, const char **access_key, const char **secret_key,
                    const char **session_token)
{
	*access_key = getenv("AWS_ACCESS_KEY_ID");
	*secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	if (session_token != NULL)
		*session_token = getenv("AWS_SESSION_TOKEN");
	if (*access_key == NULL || *secret_key == NULL) {
		fprintf(stderr, "eml %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n", cmd);
		return EML_EXIT_USAGE;
	}
	return 0;
}
