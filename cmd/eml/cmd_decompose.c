/*
 * eml decompose MODEL.onnx -o OUTDIR [--name NAME] [--keep-io-names] [--chunk-size BYTES]
 *               [--force] [--json]
 *
 * Splits a model into OUTDIR/NAME.tkey (the topology key: a secret, mode 0600) and
 * OUTDIR/NAME.weights (the encrypted, padded weight blob for the host; also 0600). NAME defaults
 * to the model file's base name without ".onnx". Unsupported operators refuse decomposition
 * (exit 3, listed on stderr) before anything is written. Both files are written atomically
 * (temp file + rename); an existing key is never replaced unless --force, since overwriting the
 * only key of an uploaded blob would lose the model. Prints the model id and sizes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "model/model.h"
#include "onnx/onnx.h"
#include "topo/topo.h"

#define DECOMPOSE_USAGE                                                                            \
	"eml decompose MODEL.onnx -o OUTDIR [--name NAME] [--keep-io-names] [--chunk-size BYTES] " \
	"[--force] [--json]"

/* NAME from the model path: base name, ".onnx" stripped. */
static int default_name(const char *path, char *out, size_t cap)
{
	const char *b = strrchr(path, '/');
	b = b != NULL ? b + 1 : path;
	size_t n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".onnx") == 0)
		n -= 5;
	if (n == 0 || n >= cap)
		return EML_E_USAGE;
	memcpy(out, b, n);
	out[n] = '\0';
	return EML_OK;
}

static int name_ok(const char *s)
{
	return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

static void print_unsupported(const eml_unsupported_op *list, size_t n)
{
	fprintf(stderr, "eml decompose: the model uses unsupported operators (%zu kind%s):\n", n,
	        n == 1 ? "" : "s");
	fprintf(stderr, "  %-20s %-28s %6s %6s\n", "domain", "op_type", "opset", "count");
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "  %-20s %-28s %6lld %6u\n",
		        list[i].domain[0] ? list[i].domain : "ai.onnx", list[i].op_type,
		        (long long)list[i].opset, list[i].count);
}

int eml_cmd_decompose(int argc, char **argv)
{
	const char *path = NULL, *outdir = NULL, *name = NULL;
	int json = 0, force = 0;
	eml_decompose_opts o = {0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--keep-io-names") == 0)
			o.keep_io_names = 1;
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			outdir = argv[++i];
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--chunk-size") == 0 && i + 1 < argc) {
			char *end;
			unsigned long long v = strtoull(argv[++i], &end, 10);
			if (*end != '\0' || v < EML_BLOB_MIN_CHUNK || v > EML_BLOB_MAX_CHUNK ||
			    v % EML_DATA_ALIGN != 0)
				return eml_cli_usage(
				    DECOMPOSE_USAGE
				    " (chunk size: a multiple of 64 in 4096..67108864)");
			o.chunk_size = (size_t)v;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", DECOMPOSE_USAGE);
			return EML_EXIT_OK;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return eml_cli_usage(DECOMPOSE_USAGE);
		else if (path == NULL)
			path = argv[i];
		else
			return eml_cli_usage(DECOMPOSE_USAGE);
	}
	if (path == NULL || outdir == NULL)
		return eml_cli_usage(DECOMPOSE_USAGE);
	char nbuf[256];
	if (name == NULL) {
		if (default_name(path, nbuf, sizeof(nbuf)) != EML_OK)
			return eml_cli_usage(DECOMPOSE_USAGE " (give --name)");
		name = nbuf;
	}
	if (!name_ok(name) || strlen(name) > 200)
		return eml_cli_usage(DECOMPOSE_USAGE " (NAME: a file name without '/')");

	char tk_path[4096], w_path[4096];
	if (snprintf(tk_path, sizeof(tk_path), "%s/%s.tkey", outdir, name) >=
	        (int)sizeof(tk_path) ||
	    snprintf(w_path, sizeof(w_path), "%s/%s.weights", outdir, name) >= (int)sizeof(w_path))
		return eml_cli_usage(DECOMPOSE_USAGE);

	int rc = EML_OK, exit_code = EML_EXIT_OK;
	eml_model *m = NULL;
	eml_unsupported_op *list = NULL;
	size_t n_uns = 0;
	uint8_t *tk = NULL, *blob = NULL;
	size_t tkl = 0, bl = 0;

	rc = eml_onnx_load_file(path, &m);
	if (rc != EML_OK)
		goto fail;
	rc = eml_onnx_check(m, &list, &n_uns);
	if (rc != EML_OK)
		goto fail;
	if (n_uns > 0) {
		print_unsupported(list, n_uns);
		exit_code = EML_EXIT_UNSUPPORTED;
		goto done;
	}
	struct stat st;
	if (stat(outdir, &st) != 0) {
		if (errno != ENOENT || mkdir(outdir, 0700) != 0) {
			rc = EML_E_IO;
			goto fail;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		rc = EML_E_ARG;
		goto fail;
	}
	if (!force && (access(tk_path, F_OK) == 0 || access(w_path, F_OK) == 0)) {
		rc = EML_E_EXISTS;
		goto fail;
	}
	rc = eml_topo_decompose(m, &o, &tk, &tkl, &blob, &bl);
	if (rc != EML_OK)
		goto fail;
	/* The blob first: a key is only ever visible together with its blob. */
	rc = eml_file_write_atomic(w_path, blob, bl, 0600);
	if (rc != EML_OK)
		goto fail;
	rc = eml_file_write_atomic(tk_path, tk, tkl, 0600);
	if (rc != EML_OK) {
		unlink(w_path);
		goto fail;
	}

	eml_blob_info bi;
	eml_blob_parse_header(blob, bl, &bi);
	uint64_t tensor_bytes = 0;
	for (uint32_t i = 0; i < m->n_tensors; i++)
		tensor_bytes += m->tensors[i].length;
	char idhex[2 * EML_MODEL_ID_LEN + 1];
	eml_hex(bi.model_id, EML_MODEL_ID_LEN, idhex);
	if (json) {
		printf("{\"model_id\": \"%s\", \"tkey\": ", idhex);
		eml_cli_json_str(stdout, tk_path);
		printf(", \"tkey_bytes\": %zu, \"weights\": ", tkl);
		eml_cli_json_str(stdout, w_path);
		printf(", \"weights_bytes\": %zu, \"tensors\": %u, \"tensor_bytes\": %llu, "
		       "\"bucket_bytes\": %llu, \"chunks\": %u}\n",
		       bl, m->n_tensors, (unsigned long long)tensor_bytes,
		       (unsigned long long)bi.total_len, bi.chunk_count);
	} else {
		printf("model id   %s\n", idhex);
		printf("topology   %s (%zu bytes, secret: keep it private)\n", tk_path, tkl);
		printf("weights    %s (%zu bytes, %u chunk%s, padded to %llu)\n", w_path, bl,
		       bi.chunk_count, bi.chunk_count == 1 ? "" : "s",
		       (unsigned long long)bi.total_len);
	}
	goto done;
fail:
	exit_code = eml_cli_fail("decompose", rc);
done:
	eml_free(tk);
	eml_free(blob);
	eml_onnx_unsupported_free(list, n_uns);
	eml_model_free(m);
	return exit_code;
}
