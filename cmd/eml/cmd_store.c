/* eml store ls|rm --host ADDR: the host's weight store. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"

static const char *usage_text = "eml store ls --host ADDR [--json]\n"
                                "       eml store rm MODEL_ID --host ADDR";

static int do_ls(const char *host, int json)
{
	eml_store_entry *e = NULL;
	size_t n = 0;
	int rc = eml_host_store_list(host, EML_HOST_CLIENT_TIMEOUT_MS, &e, &n);
	if (rc != 0)
		return eml_cli_fail("store ls", rc);
	if (json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		char id[33], sha[65];
		eml_hex(e[i].model_id, 16, id);
		eml_hex(e[i].sha256, 32, sha);
		if (json)
			printf("%s{\"model_id\": \"%s\", \"size\": %llu, \"sha256\": \"%s\"}",
			       i ? ", " : "", id, (unsigned long long)e[i].size, sha);
		else
			printf("%s  %12llu  %s\n", id, (unsigned long long)e[i].size, sha);
	}
	if (json)
		printf("]\n");
	eml_free(e);
	return EML_EXIT_OK;
}

int eml_cmd_store(int argc, char **argv)
{
	const char *host = NULL, *sub = NULL, *id_text = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", usage_text);
			return EML_EXIT_OK;
		} else if (argv[i][0] != '-' && sub == NULL)
			sub = argv[i];
		else if (argv[i][0] != '-' && id_text == NULL)
			id_text = argv[i];
		else
			return eml_cli_usage(usage_text);
	}
	if (sub == NULL || host == NULL)
		return eml_cli_usage(usage_text);
	if (strcmp(sub, "ls") == 0 && id_text == NULL)
		return do_ls(host, json);
	if (strcmp(sub, "rm") == 0 && id_text != NULL) {
		uint8_t id[16];
		if (strlen(id_text) != 32 || eml_unhex(id_text, id, 16) != 0)
			return eml_cli_usage(usage_text);
		int rc = eml_host_store_remove(host, id, EML_HOST_CLIENT_TIMEOUT_MS);
		if (rc != 0)
			return eml_cli_fail("store rm", rc);
		if (json)
			printf("{\"removed\": \"%s\"}\n", id_text);
		else
			printf("removed model %s\n", id_text);
		return EML_EXIT_OK;
	}
	return eml_cli_usage(usage_text);
}
