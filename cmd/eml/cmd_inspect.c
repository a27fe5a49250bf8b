/*
 * eml inspect FILE [--json]
 *
 * A .tkey (recognised by its magic) is parsed and verified, then summarised for its owner:
 * model id, operator histogram, node/graph/value counts, tensor and parameter counts, plaintext
 * and blob sizes. A .weights shows only what the host can see: model id, format version, the
 * padded (bucketed) size, chunking, and whether the file has the length its header announces.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/aead.h"
#include "eml/error.h"
#include "model/model.h"
#include "topo/topo.h"

#define INSPECT_USAGE "eml inspect FILE [--json]"

typedef struct op_count {
	const char *domain, *op;
	uint32_t n;
} op_count;

static int op_cmp(const void *a, const void *b)
{
	const op_count *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	int c = strcmp(x->domain, y->domain);
	return c != 0 ? c : strcmp(x->op, y->op);
}

static int inspect_tkey(const uint8_t *p, size_t n, int json)
{
	eml_tkey *k = NULL;
	int rc = eml_tkey_parse(p, n, &k);
	if (rc != EML_OK)
		return eml_cli_fail("inspect", rc);
	const eml_model *m = eml_tkey_model(k);
	uint64_t nodes = 0, params = 0;
	for (uint32_t g = 0; g < m->n_graphs; g++)
		nodes += m->graphs[g].n_nodes;
	for (uint32_t i = 0; i < m->n_tensors; i++)
		params += eml_tensor_elems(&m->tensors[i]);
	op_count *h = eml_calloc(nodes ? nodes : 1, sizeof(op_count));
	size_t nh = 0;
	if (h == NULL) {
		eml_tkey_free(k);
		return eml_cli_fail("inspect", EML_E_NOMEM);
	}
	for (uint32_t g = 0; g < m->n_graphs; g++)
		for (uint32_t i = 0; i < m->graphs[g].n_nodes; i++) {
			const eml_node *nd = &m->graphs[g].nodes[i];
			size_t j = 0;
			while (j < nh &&
			       (strcmp(h[j].op, nd->op_type) || strcmp(h[j].domain, nd->domain)))
				j++;
			if (j == nh)
				h[nh++] = (op_count){nd->domain, nd->op_type, 0};
			h[j].n++;
		}
	qsort(h, nh, sizeof(op_count), op_cmp);
	uint8_t id[EML_MODEL_ID_LEN], d[32];
	char idhex[2 * EML_MODEL_ID_LEN + 1], dhex[65];
	eml_tkey_model_id(k, id);
	eml_tkey_blob_digest(k, d);
	eml_hex(id, sizeof(id), idhex);
	eml_hex(d, sizeof(d), dhex);
	uint64_t pl = eml_tkey_plaintext_len(k), bucket = eml_blob_bucket(pl);
	uint32_t chunk = eml_tkey_chunk_size(k);
	uint64_t chunks = (bucket + chunk - 1) / chunk;
	uint64_t blob_len = EML_BLOB_HEADER_LEN + bucket + chunks * EML_AEAD_TAG_LEN;
	if (json) {
		printf(
		    "{\"kind\": \"tkey\", \"version\": %u, \"model_id\": \"%s\", \"ir_version\": "
		    "%lld, \"opset\": %lld, \"graphs\": %u, \"nodes\": %llu, \"values\": %u, "
		    "\"tensors\": %u, \"parameters\": %llu, \"plaintext_bytes\": %llu, "
		    "\"weights_bytes\": %llu, \"chunk_size\": %u, \"blob_sha256\": \"%s\", "
		    "\"io_names\": %s, \"ops\": {",
		    EML_TKEY_VERSION, idhex, (long long)m->ir_version,
		    (long long)eml_model_opset(m, ""), m->n_graphs, (unsigned long long)nodes,
		    m->n_values, m->n_tensors, (unsigned long long)params, (unsigned long long)pl,
		    (unsigned long long)blob_len, chunk, dhex,
		    eml_tkey_has_io_names(k) ? "true" : "false");
		for (size_t i = 0; i < nh; i++) {
			char key[600];
			snprintf(key, sizeof(key), "%s%s%s", h[i].domain, h[i].domain[0] ? "." : "",
			         h[i].op);
			printf("%s", i ? ", " : "");
			eml_cli_json_str(stdout, key);
			printf(": %u", h[i].n);
		}
		printf("}}\n");
	} else {
		printf("topology key (version %u)\n", EML_TKEY_VERSION);
		printf("  model id      %s\n", idhex);
		printf("  ir version    %lld, opset %lld\n", (long long)m->ir_version,
		       (long long)eml_model_opset(m, ""));
		printf("  graphs        %u (nodes %llu, values %u)\n", m->n_graphs,
		       (unsigned long long)nodes, m->n_values);
		printf("  tensors       %u (%llu parameters, %llu bytes)\n", m->n_tensors,
		       (unsigned long long)params, (unsigned long long)pl);
		printf("  weights blob  %llu bytes (%llu chunk%s of %u), sha256 %s\n",
		       (unsigned long long)blob_len, (unsigned long long)chunks,
		       chunks == 1 ? "" : "s", chunk, dhex);
		printf("  io names      %s\n", eml_tkey_has_io_names(k) ? "kept" : "dropped");
		printf("  operators\n");
		for (size_t i = 0; i < nh; i++)
			printf("    %6u  %s%s%s\n", h[i].n, h[i].domain, h[i].domain[0] ? "." : "",
			       h[i].op);
	}
	eml_free(h);
	eml_tkey_free(k);
	return EML_EXIT_OK;
}

static int inspect_weights(const uint8_t *p, size_t head_len, uint64_t n, int json)
{
	eml_blob_info bi;
	int rc = eml_blob_parse_header(p, head_len, &bi);
	if (rc != EML_OK)
		return eml_cli_fail("inspect", rc);
	char idhex[2 * EML_MODEL_ID_LEN + 1];
	eml_hex(bi.model_id, EML_MODEL_ID_LEN, idhex);
	uint64_t want = eml_blob_expected_len(&bi);
	if (json)
		printf("{\"kind\": \"weights\", \"version\": %u, \"model_id\": \"%s\", \"bytes\": "
		       "%llu, "
		       "\"padded_bytes\": %llu, \"chunk_size\": %u, \"chunks\": %u, \"complete\": "
		       "%s}\n",
		       bi.version, idhex, (unsigned long long)n, (unsigned long long)bi.total_len,
		       bi.chunk_size, bi.chunk_count, want == n ? "true" : "false");
	else {
		printf("weight blob (version %u)\n", bi.version);
		printf("  model id      %s\n", idhex);
		printf("  size          %llu bytes (padded plaintext %llu, %u chunk%s of %u)\n",
		       (unsigned long long)n, (unsigned long long)bi.total_len, bi.chunk_count,
		       bi.chunk_count == 1 ? "" : "s", bi.chunk_size);
		printf("  length        %s\n",
		       want == n ? "complete" : "does not match the header");
	}
	return want == n ? EML_EXIT_OK
	                 : eml_cli_exit_code(want > n ? EML_E_BLOB_TRUNCATED : EML_E_BLOB_TRAILING);
}

int eml_cmd_inspect(int argc, char **argv)
{
	const char *path = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s\n", INSPECT_USAGE);
			return EML_EXIT_OK;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return eml_cli_usage(INSPECT_USAGE);
		else if (path == NULL)
			path = argv[i];
		else
			return eml_cli_usage(INSPECT_USAGE);
	}
	if (path == NULL)
		return eml_cli_usage(INSPECT_USAGE);
	/* A key is read whole (at most EML_TKEY_MAX_LEN); of a blob only the header is read and
	 * the file size taken from fstat, since blobs can be gigabytes. */
	uint8_t head[EML_BLOB_HEADER_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return eml_cli_fail("inspect", errno == ENOENT ? EML_E_NOT_FOUND : EML_E_IO);
	struct stat st;
	ssize_t got = read(fd, head, sizeof(head));
	int st_ok = fstat(fd, &st) == 0;
	close(fd);
	if (got < 0 || !st_ok)
		return eml_cli_fail("inspect", EML_E_IO);
	uint8_t *p = NULL;
	int ex;
	if (got >= 8 && memcmp(head, EML_TKEY_MAGIC, 8) == 0) {
		size_t n = 0;
		int rc = eml_file_read(path, (size_t)EML_TKEY_MAX_LEN, &p, &n);
		if (rc != EML_OK)
			return eml_cli_fail("inspect", rc);
		ex = inspect_tkey(p, n, json);
	} else if (got >= 8 && memcmp(head, EML_BLOB_MAGIC, 8) == 0) {
		ex = inspect_weights(head, (size_t)got, (uint64_t)st.st_size, json);
	} else {
		ex = eml_cli_fail("inspect", EML_E_MALFORMED);
	}
	eml_free(p);
	return ex;
}
