/*
 * eml seal NAME.tkey --kms-key KEY_ID --kms-endpoint URL [--region R] -o NAME.tkey.sealed
 *
 * Owner side of KMS sealing (docs/KMS.md): GenerateDataKey (AES_256) with the encryption context
 * {eml:format, eml:model}, AES-256-GCM over the topology key under the data key, the KMS
 * CiphertextBlob stored beside it; the plaintext data key is wiped. Credentials come from
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "kms/kms.h"
#include "kms/sealed.h"
#include "topo/topo.h"

static const char *usage_text = "eml seal NAME.tkey --kms-key KEY_ID --kms-endpoint URL "
                                "[--region R] [--ca-file PEM] -o NAME.tkey.sealed";

int eml_cmd_seal(int argc, char **argv)
{
	const char *in = NULL, *key = NULL, *ep = NULL, *region = NULL, *out = NULL, *ca = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--kms-key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(argv[i], "--kms-endpoint") == 0 && i + 1 < argc)
			ep = argv[++i];
		else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc)
			region = argv[++i];
		else if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", usage_text);
			return EML_EXIT_OK;
		} else if (argv[i][0] != '-' && in == NULL)
			in = argv[i];
		else
			return eml_cli_usage(usage_text);
	}
	if (!in || !key || !ep || !out)
		return eml_cli_usage(usage_text);
	eml_kms_cfg c = {.endpoint = ep, .region = region, .ca_file = ca, .creds = {0}};
	int urc = eml_cli_aws_env("seal", &c.creds.access_key, &c.creds.secret_key,
	                          &c.creds.session_token);
	if (urc != 0)
		return urc;
	uint8_t *tk = NULL, *blob = NULL, *sealed = NULL, dk[32], mid[16];
	size_t tl = 0, bl = 0, sl = 0;
	eml_tkey *k = NULL;
	char ctx[128];
	int rc = eml_file_read(in, EML_SEALED_MAX_TKEY, &tk, &tl);
	if (rc == 0)
		rc = eml_tkey_parse(tk, tl, &k);
	if (rc == 0) {
		eml_tkey_model_id(k, mid);
		rc = eml_sealed_context_json(mid, ctx, sizeof(ctx));
	}
	if (rc == 0)
		rc = eml_kms_generate_data_key(&c, key, ctx, dk, &blob, &bl);
	if (rc == 0)
		rc = eml_sealed_seal(tk, tl, dk, key, blob, bl, &sealed, &sl);
	eml_wipe(dk, sizeof(dk));
	if (rc == 0)
		rc = eml_file_write_atomic(out, sealed, sl, 0644);
	if (rc == 0) {
		char hex[33];
		eml_hex(mid, 16, hex);
		printf("sealed model %s under KMS key %s -> %s\n", hex, key, out);
	}
	eml_tkey_free(k);
	eml_free(tk);
	eml_free(blob);
	eml_free(sealed);
	return rc == 0 ? EML_EXIT_OK : eml_cli_fail("seal", rc);
}
