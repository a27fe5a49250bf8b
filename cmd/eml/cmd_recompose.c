/*
 * eml recompose NAME.tkey NAME.weights -o MODEL.onnx [--force]
 *
 * Joins a topology key with its weight blob (integrity and every chunk checked) and writes an
 * ONNX model with the same graph and the same tensor bytes; names are regenerated unless the key
 * kept the I/O names. The output is written atomically with mode 0600 (it is the plaintext
 * model); an existing file is not replaced unless --force. Exit 4 when the blob or key fails an
 * integrity or authentication check (the bad chunk is named).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"
#include "topo/topo.h"

#define RECOMPOSE_USAGE "eml recompose NAME.tkey NAME.weights -o MODEL.onnx [--force]"

/* A whole blob is at most header + bucket(16 GiB) + tags. */
#define BLOB_FILE_MAX ((size_t)18 << 30)

int eml_cmd_recompose(int argc, char **argv)
{
	const char *tk_path = NULL, *w_path = NULL, *out_path = NULL;
	int force = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out_path = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", RECOMPOSE_USAGE);
			return EML_EXIT_OK;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return eml_cli_usage(RECOMPOSE_USAGE);
		else if (tk_path == NULL)
			tk_path = argv[i];
		else if (w_path == NULL)
			w_path = argv[i];
		else
			return eml_cli_usage(RECOMPOSE_USAGE);
	}
	if (tk_path == NULL || w_path == NULL || out_path == NULL)
		return eml_cli_usage(RECOMPOSE_USAGE);

	int rc = EML_OK, exit_code = EML_EXIT_OK;
	uint8_t *tk = NULL, *blob = NULL;
	size_t tkl = 0, bl = 0;
	eml_tkey *k = NULL;
	eml_model *m = NULL;
	uint32_t bad = UINT32_MAX;

	if (!force && access(out_path, F_OK) == 0) {
		rc = EML_E_EXISTS;
		goto fail;
	}
	rc = eml_file_read(tk_path, (size_t)EML_TKEY_MAX_LEN, &tk, &tkl);
	if (rc != EML_OK)
		goto fail;
	rc = eml_tkey_parse(tk, tkl, &k);
	if (rc != EML_OK)
		goto fail;
	rc = eml_file_read(w_path, BLOB_FILE_MAX, &blob, &bl);
	if (rc != EML_OK)
		goto fail;
	rc = eml_topo_join(k, blob, bl, &m, &bad);
	if (rc != EML_OK)
		goto fail;
	rc = eml_onnx_save_file(m, out_path);
	if (rc != EML_OK)
		goto fail;
	printf("recomposed %s (%u tensors)\n", out_path, m->n_tensors);
	goto done;
fail:
	exit_code = eml_cli_fail("recompose", rc);
	if (bad != UINT32_MAX)
		fprintf(stderr, "eml recompose: weight blob chunk %u is bad\n", bad);
done:
	eml_model_free(m);
	eml_tkey_free(k);
	eml_free(tk);
	eml_free(blob);
	return exit_code;
}
