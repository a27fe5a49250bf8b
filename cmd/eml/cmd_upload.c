/* eml upload NAME.weights --host ADDR: put a weight blob into the host's store. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"
#include "wire/frame.h"

static const char *usage_text = "eml upload NAME.weights --host ADDR [--json]";

int eml_cmd_upload(int argc, char **argv)
{
	const char *file = NULL, *host = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", usage_text);
			return EML_EXIT_OK;
		} else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			return eml_cli_usage(usage_text);
	}
	if (file == NULL || host == NULL)
		return eml_cli_usage(usage_text);
	uint8_t *blob = NULL;
	size_t n = 0;
	int rc = eml_file_read(file, EML_FRAME_DEFAULT_WEIGHT_MAX, &blob, &n);
	if (rc == 0) {
		eml_store_entry e;
		rc = eml_host_upload(host, blob, n, EML_HOST_CLIENT_TIMEOUT_MS, &e);
		if (rc == 0) {
			char id[33], sha[65];
			eml_hex(e.model_id, 16, id);
			eml_hex(e.sha256, 32, sha);
			if (json)
				printf(
				    "{\"model_id\": \"%s\", \"size\": %llu, \"sha256\": \"%s\"}\n",
				    id, (unsigned long long)e.size, sha);
			else
				printf("uploaded model %s (%llu bytes, sha256 %s)\n", id,
				       (unsigned long long)e.size, sha);
		}
	}
	eml_free(blob);
	return rc == 0 ? EML_EXIT_OK : eml_cli_fail("upload", rc);
}
