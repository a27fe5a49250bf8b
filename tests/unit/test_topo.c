/*
 * Topology key and weight blob: round trips, strict parsing, tamper detection (docs/FORMATS.md).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "crypto/hash.h"
#include "eml/error.h"
#include "prop.h"
#include "test_topo_models.h"
#include "topo/topo.h"
#include "topo/topo_int.h"

typedef struct fixture {
	eml_model *m;
	uint8_t *tk, *blob;
	size_t tk_len, blob_len;
	eml_tkey *k;
} fixture;

/* A model whose blob has several 4 KiB chunks. */
static void fx_make(fixture *f, uint64_t seed, uint64_t elems, size_t chunk)
{
	eml_rng r;
	eml_rng_seed(&r, seed);
	memset(f, 0, sizeof(*f));
	do {
		eml_model_free(f->m);
		f->m = tm_random_model(&r, elems);
	} while (f->m->data_len < elems); /* make sure there is something to chunk */
	eml_decompose_opts o = {.chunk_size = chunk};
	cr_assert_eq(eml_topo_decompose(f->m, &o, &f->tk, &f->tk_len, &f->blob, &f->blob_len),
	             EML_OK);
	cr_assert_eq(eml_tkey_parse(f->tk, f->tk_len, &f->k), EML_OK);
}

static void fx_free(fixture *f)
{
	eml_tkey_free(f->k);
	eml_free(f->tk);
	eml_free(f->blob);
	eml_model_free(f->m);
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

Test(topo, round_trip_random_models)
{
	eml_rng r;
	eml_rng_seed(&r, 42);
	for (int it = 0; it < 40; it++) {
		eml_model *m = tm_random_model(&r, 1 + eml_rng_below(&r, 4000));
		uint8_t *tk, *blob;
		size_t tkl, bl;
		eml_decompose_opts o = {.keep_io_names = it & 1, .chunk_size = it % 3 ? 4096 : 0};
		cr_assert_eq(eml_topo_decompose(m, &o, &tk, &tkl, &blob, &bl), EML_OK);
		eml_tkey *k;
		cr_assert_eq(eml_tkey_parse(tk, tkl, &k), EML_OK);
		const eml_model *t = eml_tkey_model(k);
		cr_assert_eq(tm_models_differ(m, t, 0), 0, "case %d: %d", it,
		             tm_models_differ(m, t, 0));
		cr_assert_null(t->data);
		for (uint32_t i = 0; i < t->n_values; i++) {
			int io = 0;
			for (uint32_t j = 0; j < m->graphs[0].n_inputs; j++)
				io |= m->graphs[0].inputs[j] == (int32_t)i;
			for (uint32_t j = 0; j < m->graphs[0].n_outputs; j++)
				io |= m->graphs[0].outputs[j] == (int32_t)i;
			if (o.keep_io_names && io)
				cr_assert_str_eq(t->values[i].name, m->values[i].name);
			else
				cr_assert_null(t->values[i].name);
		}
		for (uint32_t i = 0; i < t->n_tensors; i++)
			cr_assert_eq(t->tensors[i].offset % EML_DATA_ALIGN, 0);
		eml_model *j;
		uint32_t bad = 0;
		cr_assert_eq(eml_topo_join(k, blob, bl, &j, &bad), EML_OK);
		cr_assert_eq(bad, UINT32_MAX);
		cr_assert_eq(j->data_storage, 1);
		cr_assert_eq(j->data_len, eml_tkey_plaintext_len(k));
		cr_assert_eq(tm_tensors_differ(m, j), 0);
		cr_assert_eq(tm_models_differ(m, j, 0), 0);
		/* gaps between tensors are zero in the new layout (no stale bytes carried over) */
		uint64_t pos = 0;
		for (uint32_t i = 0; i < j->n_tensors; i++) {
			cr_assert(all_zero(j->data + pos, j->tensors[i].offset - pos));
			pos = j->tensors[i].offset + j->tensors[i].length;
		}
		cr_assert_eq(pos, j->data_len);
		eml_blob_info bi;
		cr_assert_eq(eml_blob_parse_header(blob, bl, &bi), EML_OK);
		cr_assert_eq(bi.total_len, eml_blob_bucket(eml_tkey_plaintext_len(k)));
		cr_assert_eq(eml_blob_expected_len(&bi), bl);
		uint8_t id[16];
		eml_tkey_model_id(k, id);
		cr_assert_eq(memcmp(id, bi.model_id, 16), 0);
		uint8_t d[32], d2[32];
		eml_tkey_blob_digest(k, d);
		eml_sha256(blob, bl, d2);
		cr_assert_eq(memcmp(d, d2, 32), 0);
		eml_model_free(j);
		/* the enclave's form: the key's own parsed topology moves into the joined model */
		eml_join_opts jo = {.blob_sha256 = d2, .threads = 1 + it % 3};
		cr_assert_eq(eml_topo_join_take(k, blob, bl, &jo, &j, &bad), EML_OK);
		cr_assert_null(eml_tkey_model(k), "moved, not copied");
		cr_assert_eq(tm_tensors_differ(m, j), 0);
		cr_assert_eq(tm_models_differ(m, j, 0), 0);
		eml_model_free(j);
		eml_tkey_free(k);
		eml_free(tk);
		eml_free(blob);
		eml_model_free(m);
	}
}

Test(topo, fresh_key_and_id_per_decomposition)
{
	fixture a, b;
	fx_make(&a, 7, 3000, 4096);
	uint8_t *tk, *blob;
	size_t tkl, bl;
	cr_assert_eq(eml_topo_decompose(a.m, NULL, &tk, &tkl, &blob, &bl), EML_OK);
	cr_assert_eq(eml_tkey_parse(tk, tkl, &b.k), EML_OK);
	cr_assert_neq(memcmp(a.k->h.key, b.k->h.key, 32), 0);
	cr_assert_neq(memcmp(a.k->h.model_id, b.k->h.model_id, 16), 0);
	eml_tkey_free(b.k);
	eml_free(tk);
	eml_free(blob);
	fx_free(&a);
}

Test(topo, bucket_rule)
{
	cr_assert_eq(eml_blob_bucket(0), 4096);
	cr_assert_eq(eml_blob_bucket(4096), 4096);
	cr_assert_eq(eml_blob_bucket(4097), 17 * 256);
	cr_assert_eq(eml_blob_bucket(8192), 8192);
	cr_assert_eq(eml_blob_bucket(8193), 17 * 512);
	eml_rng r;
	eml_rng_seed(&r, 5);
	uint64_t prev = 0, prev_n = 0;
	for (int i = 0; i < 200000; i++) {
		uint64_t n = i < 100000 ? (uint64_t)i * 97 : eml_rng_below(&r, (uint64_t)1 << 36);
		uint64_t b = eml_blob_bucket(n);
		cr_assert_geq(b, n);
		cr_assert_eq(b % 64, 0);
		cr_assert_eq(eml_blob_bucket(b), b, "buckets are fixed points");
		if (n > 4096)
			cr_assert_leq((b - n) * 16, n, "overhead <= 1/16 at %llu",
			              (unsigned long long)n);
		/* form m * 2^k, m in 16..31 */
		uint64_t k = (uint64_t)__builtin_ctzll(b), mm = b >> k;
		while (mm < 16) {
			mm <<= 1;
			k--;
		}
		cr_assert(mm >= 16 && mm <= 31);
		if (i < 100000) {
			cr_assert_geq(b, prev, "monotonic");
			prev = b;
			prev_n = n;
		}
	}
	(void)prev_n;
}

/* ---------------------------------------------------------------- tkey parsing */

Test(tkey, wrong_magic_and_version)
{
	fixture f;
	fx_make(&f, 1, 500, 4096);
	eml_tkey *k = NULL;
	uint8_t *c = eml_memdup(f.tk, f.tk_len);
	c[0] ^= 1;
	cr_assert_eq(eml_tkey_parse(c, f.tk_len, &k), EML_E_TKEY_MAGIC);
	cr_assert_null(k);
	memcpy(c, f.tk, f.tk_len);
	c[8] = 2;
	cr_assert_eq(eml_tkey_parse(c, f.tk_len, &k), EML_E_TKEY_VERSION);
	/* a blob is not a key, and a key is not a blob */
	cr_assert_eq(eml_tkey_parse(f.blob, f.blob_len, &k), EML_E_TKEY_MAGIC);
	eml_blob_info bi;
	cr_assert_eq(eml_blob_parse_header(f.tk, f.tk_len, &bi), EML_E_BLOB_MAGIC);
	eml_free(c);
	fx_free(&f);
}

Test(tkey, truncated_at_every_length)
{
	fixture f;
	fx_make(&f, 2, 300, 4096);
	for (size_t n = 0; n < f.tk_len; n++) {
		eml_tkey *k = NULL;
		uint8_t *c = eml_alloc(n + 1);
		memcpy(c, f.tk, n);
		cr_assert_eq(eml_tkey_parse(c, n, &k), EML_E_TKEY_TRUNCATED, "len %zu", n);
		cr_assert_null(k);
		eml_free(c);
	}
	uint8_t *c = eml_alloc(f.tk_len + 1);
	memcpy(c, f.tk, f.tk_len);
	c[f.tk_len] = 0;
	eml_tkey *k = NULL;
	cr_assert_eq(eml_tkey_parse(c, f.tk_len + 1, &k), EML_E_TKEY_TRAILING);
	eml_free(c);
	fx_free(&f);
}

Test(tkey, bit_flip_every_byte)
{
	fixture f;
	fx_make(&f, 3, 300, 4096);
	uint8_t *c = eml_memdup(f.tk, f.tk_len);
	for (size_t i = 0; i < f.tk_len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			c[i] ^= (uint8_t)(1u << bit);
			eml_tkey *k = NULL;
			int rc = eml_tkey_parse(c, f.tk_len, &k);
			if (i < 8)
				cr_assert_eq(rc, EML_E_TKEY_MAGIC);
			else if (i < 10)
				cr_assert_eq(rc, EML_E_TKEY_VERSION);
			else if (i >= 12 && i < 16)
				cr_assert(rc == EML_E_TKEY_TRUNCATED || rc == EML_E_TKEY_TRAILING ||
				              rc == EML_E_TKEY_LIMIT || rc == EML_E_TKEY_MALFORMED,
				          "byte %zu: %d", i, rc);
			else
				cr_assert_eq(rc, EML_E_TKEY_INTEGRITY, "byte %zu: %d", i, rc);
			cr_assert_null(k);
			c[i] ^= (uint8_t)(1u << bit);
		}
	}
	eml_free(c);
	fx_free(&f);
}

/* Re-serialize a (possibly corrupted) model with a valid digest: the structural checks must
 * catch what the integrity check cannot (a key made by a buggy or hostile tool). */
static int reserialize(const fixture *f, const eml_model *m, const uint64_t *offs,
                       const eml_tkey_hdr *h)
{
	uint8_t *tk;
	size_t n;
	int rc = eml_tkey_serialize(m, offs, h != NULL ? h : &f->k->h, &tk, &n);
	if (rc != EML_OK)
		return rc;
	eml_tkey *k = NULL;
	rc = eml_tkey_parse(tk, n, &k);
	eml_tkey_free(k);
	eml_free(tk);
	return rc;
}

Test(tkey, structural_errors_are_specific)
{
	fixture f;
	fx_make(&f, 4, 2000, 4096);
	eml_model *m = (eml_model *)eml_tkey_model(f.k);
	cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_OK);

	/* value id out of range in a node */
	eml_node *nd = &m->graphs[0].nodes[0];
	int32_t save = nd->outputs[0];
	nd->outputs[0] = (int32_t)m->n_values;
	cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_E_TKEY_BAD_REF);
	nd->outputs[0] = -2;
	cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_E_TKEY_BAD_REF);
	nd->outputs[0] = save;
	/* a value defined twice (not single assignment) */
	if (m->graphs[0].n_nodes > 1) {
		eml_node *n1 = &m->graphs[0].nodes[1];
		save = n1->outputs[0];
		n1->outputs[0] = nd->outputs[0];
		cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_E_TKEY_BAD_REF);
		n1->outputs[0] = save;
	}
	save = m->graphs[0].inputs[0];
	m->graphs[0].inputs[0] = nd->outputs[0];
	cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_E_TKEY_BAD_REF);
	m->graphs[0].inputs[0] = save;
	/* graph output id out of range */
	save = m->graphs[0].outputs[0];
	m->graphs[0].outputs[0] = -1;
	cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_E_TKEY_BAD_REF);
	m->graphs[0].outputs[0] = save;
	/* tensor ref out of range in the value table */
	cr_assert_gt(m->n_tensors, 0);
	uint32_t vi = m->graphs[0].initializers[0];
	save = m->values[vi].tensor;
	m->values[vi].tensor = (int32_t)m->n_tensors;
	cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_E_TKEY_BAD_REF);
	m->values[vi].tensor = save;
	/* misaligned and out-of-range tensor offsets */
	uint64_t *offs = eml_calloc(m->n_tensors, 8);
	for (uint32_t i = 0; i < m->n_tensors; i++)
		offs[i] = m->tensors[i].offset;
	offs[0] += 8;
	cr_assert_eq(reserialize(&f, m, offs, NULL), EML_E_TKEY_TENSOR_ALIGN);
	offs[0] = (f.k->h.plaintext_len + 64) & ~(uint64_t)63;
	cr_assert_eq(reserialize(&f, m, offs, NULL), EML_E_TKEY_TENSOR_RANGE);
	offs[0] = m->tensors[0].offset;
	eml_tkey_hdr h = f.k->h;
	h.plaintext_len = 0;
	if (m->tensors[0].length > 0)
		cr_assert_eq(reserialize(&f, m, offs, &h), EML_E_TKEY_TENSOR_RANGE);
	h = f.k->h;
	h.flags = 0x8000;
	cr_assert_eq(reserialize(&f, m, NULL, &h), EML_E_TKEY_MALFORMED);
	h = f.k->h;
	h.chunk_size = 1000;
	cr_assert_eq(reserialize(&f, m, NULL, &h), EML_E_TKEY_MALFORMED);
	h = f.k->h;
	h.plaintext_len = EML_MAX_DATA_BYTES + 1;
	cr_assert_eq(reserialize(&f, m, NULL, &h), EML_E_TKEY_LIMIT);
	/* tensor length inconsistent with dtype and shape */
	m->tensors[0].length += 1;
	cr_assert_eq(reserialize(&f, m, NULL, NULL), EML_E_TKEY_MALFORMED);
	m->tensors[0].length -= 1;
	/* unknown attribute type, and a graph attribute naming a graph that does not exist */
	for (uint32_t g = 0; g < m->n_graphs; g++)
		for (uint32_t i = 0; i < m->graphs[g].n_nodes; i++) {
			eml_node *n2 = &m->graphs[g].nodes[i];
			for (uint32_t a = 0; a < n2->n_attrs; a++) {
				eml_attr *at = &n2->attrs[a];
				if (at->type == EML_ATTR_TENSOR) {
					int32_t s = at->tensor;
					at->tensor = (int32_t)m->n_tensors;
					cr_assert_eq(reserialize(&f, m, NULL, NULL),
					             EML_E_TKEY_BAD_REF);
					at->tensor = s;
				}
			}
		}
	eml_free(offs);
	fx_free(&f);
}

Test(tkey, subgraph_references_checked)
{
	/* find a model with an If */
	eml_rng r;
	eml_rng_seed(&r, 99);
	int found = 0;
	for (int it = 0; it < 200 && !found; it++) {
		eml_model *m = tm_random_model(&r, 100);
		if (m->n_graphs > 1) {
			found = 1;
			fixture f = {.m = m};
			cr_assert_eq(
			    eml_topo_decompose(m, NULL, &f.tk, &f.tk_len, &f.blob, &f.blob_len),
			    EML_OK);
			cr_assert_eq(eml_tkey_parse(f.tk, f.tk_len, &f.k), EML_OK);
			eml_model *t = (eml_model *)eml_tkey_model(f.k);
			cr_assert_eq(t->n_graphs, m->n_graphs);
			t->graphs[1].parent = 1; /* self-parent */
			cr_assert_eq(reserialize(&f, t, NULL, NULL), EML_E_TKEY_BAD_REF);
			t->graphs[1].parent = (int32_t)t->n_graphs;
			cr_assert_eq(reserialize(&f, t, NULL, NULL), EML_E_TKEY_BAD_REF);
			t->graphs[1].parent = m->graphs[1].parent;
			t->graphs[0].parent = 0;
			cr_assert_eq(reserialize(&f, t, NULL, NULL), EML_E_TKEY_BAD_REF);
			t->graphs[0].parent = -1;
			cr_assert_eq(reserialize(&f, t, NULL, NULL), EML_OK);
			/* a GRAPH attribute pointing at the main graph */
			for (uint32_t g = 0; g < t->n_graphs; g++)
				for (uint32_t i = 0; i < t->graphs[g].n_nodes; i++)
					for (uint32_t a = 0; a < t->graphs[g].nodes[i].n_attrs;
					     a++) {
						eml_attr *at = &t->graphs[g].nodes[i].attrs[a];
						if (at->type == EML_ATTR_GRAPH) {
							int32_t s = at->graph;
							at->graph = 0;
							cr_assert_eq(reserialize(&f, t, NULL, NULL),
							             EML_E_TKEY_BAD_REF);
							/* the sibling branch owned twice, this one by nobody */
							const eml_attr *o =
							    &t->graphs[g].nodes[i].attrs[a ^ 1];
							at->graph = o->graph;
							cr_assert_eq(reserialize(&f, t, NULL, NULL),
							             EML_E_TKEY_BAD_REF);
							at->graph = s;
						}
					}
			fx_free(&f);
		} else {
			eml_model_free(m);
		}
	}
	cr_assert(found);
}

/* ---------------------------------------------------------------- blob tampering */

static int try_decrypt(const fixture *f, const uint8_t *b, size_t n, uint32_t *bad, uint8_t **out)
{
	size_t pl = (size_t)eml_tkey_plaintext_len(f->k);
	*out = eml_alloc(pl + 1);
	memset(*out, 0xAB, pl + 1);
	int rc = eml_blob_decrypt(f->k, b, n, *out, pl, bad);
	/* The same bytes on 2 and 3 threads (chunk ranges split across threads), and with the
	 * digest supplied by the caller, must give the same verdict, chunk and plaintext. */
	uint8_t digest[32];
	int hrc = n >= 48 ? eml_sha256(b, n, digest) : EML_E_ARG;
	for (int t = 2; t <= 3; t++) {
		for (int known = 0; known < 2; known++) {
			if (known && hrc != EML_OK)
				continue;
			uint8_t *o2 = eml_alloc(pl + 1);
			memset(o2, 0xAB, pl + 1);
			uint32_t bad2 = 7;
			eml_join_opts jo = {.blob_sha256 = known ? digest : NULL, .threads = t};
			int rc2 = eml_blob_decrypt_opts(f->k, b, n, &jo, o2, pl, &bad2);
			cr_assert_eq(rc2, rc, "threads %d known %d: %d vs %d", t, known, rc2, rc);
			if (bad != NULL)
				cr_assert_eq(bad2, *bad, "threads %d known %d: chunk %u vs %u", t,
				             known, bad2, *bad);
			cr_assert(memcmp(o2, *out, pl + 1) == 0, "threads %d known %d: output", t,
			          known);
			eml_free(o2);
		}
	}
	return rc;
}

Test(blob, every_chunk_flipped_truncated_reordered_spliced)
{
	fixture f;
	fx_make(&f, 11, 6000, 4096);
	eml_blob_info bi;
	cr_assert_eq(eml_blob_parse_header(f.blob, f.blob_len, &bi), EML_OK);
	cr_assert_geq(bi.chunk_count, 4, "%u", bi.chunk_count);
	size_t stride = bi.chunk_size + 16, pl = (size_t)eml_tkey_plaintext_len(f.k);
	uint8_t *c = eml_memdup(f.blob, f.blob_len), *out;
	uint32_t bad;

	cr_assert_eq(try_decrypt(&f, c, f.blob_len, &bad, &out), EML_OK);
	eml_free(out);
	for (uint32_t ci = 0; ci < bi.chunk_count; ci++) {
		size_t start = 48 + ci * stride;
		size_t len = ci + 1 == bi.chunk_count ? f.blob_len - start : stride;
		/* flip: first byte, middle, last byte of the tag */
		size_t pos[3] = {start, start + len / 2, start + len - 1};
		for (int p = 0; p < 3; p++) {
			c[pos[p]] ^= 0x40;
			cr_assert_eq(try_decrypt(&f, c, f.blob_len, &bad, &out),
			             EML_E_BLOB_CHUNK_AUTH);
			cr_assert_eq(bad, ci);
			cr_assert(all_zero(out, pl), "plaintext wiped on failure");
			eml_free(out);
			c[pos[p]] ^= 0x40;
		}
		/* truncated inside this chunk and at its start */
		cr_assert_eq(try_decrypt(&f, c, start + len / 2, &bad, &out), EML_E_BLOB_TRUNCATED);
		cr_assert_eq(bad, ci);
		eml_free(out);
		cr_assert_eq(try_decrypt(&f, c, start, &bad, &out), EML_E_BLOB_TRUNCATED);
		cr_assert_eq(bad, ci);
		eml_free(out);
		/* reordered with the next full chunk */
		if (ci + 2 < bi.chunk_count) {
			uint8_t *tmp = eml_alloc(stride);
			memcpy(tmp, c + start, stride);
			memcpy(c + start, c + start + stride, stride);
			memcpy(c + start + stride, tmp, stride);
			cr_assert_eq(try_decrypt(&f, c, f.blob_len, &bad, &out),
			             EML_E_BLOB_CHUNK_AUTH);
			cr_assert_eq(bad, ci);
			eml_free(out);
			memcpy(c, f.blob, f.blob_len);
			eml_free(tmp);
		}
		/* a chunk duplicated over the next one */
		if (ci + 2 < bi.chunk_count) {
			memcpy(c + start + stride, c + start, stride);
			cr_assert_eq(try_decrypt(&f, c, f.blob_len, &bad, &out),
			             EML_E_BLOB_CHUNK_AUTH);
			cr_assert_eq(bad, ci + 1);
			eml_free(out);
			memcpy(c, f.blob, f.blob_len);
		}
	}
	/* one byte appended */
	cr_assert_eq(try_decrypt(&f, c, f.blob_len + 1, &bad, &out), EML_E_BLOB_TRAILING);
	eml_free(out);

	/* chunks of another decomposition of the same model (same layout, other key) */
	uint8_t *tk2, *b2;
	size_t tk2l, b2l;
	cr_assert_eq(eml_topo_decompose(f.m, &(eml_decompose_opts){.chunk_size = 4096}, &tk2, &tk2l,
	                                &b2, &b2l),
	             EML_OK);
	cr_assert_eq(b2l, f.blob_len);
	for (uint32_t ci = 0; ci < bi.chunk_count; ci++) {
		size_t start = 48 + ci * stride;
		size_t len = ci + 1 == bi.chunk_count ? f.blob_len - start : stride;
		memcpy(c + start, b2 + start, len);
		cr_assert_eq(try_decrypt(&f, c, f.blob_len, &bad, &out), EML_E_BLOB_CHUNK_AUTH);
		cr_assert_eq(bad, ci);
		eml_free(out);
		memcpy(c, f.blob, f.blob_len);
	}
	/* the other model's whole blob */
	cr_assert_eq(try_decrypt(&f, b2, b2l, &bad, &out), EML_E_BLOB_MODEL_MISMATCH);
	eml_free(out);
	/* the other blob with our header: every chunk fails, the first is named */
	memcpy(b2, f.blob, 48);
	cr_assert_eq(try_decrypt(&f, b2, b2l, &bad, &out), EML_E_BLOB_CHUNK_AUTH);
	cr_assert_eq(bad, 0);
	eml_free(out);
	eml_free(tk2);
	eml_free(b2);
	eml_free(c);
	fx_free(&f);
}

Test(blob, header_changes_detected)
{
	fixture f;
	fx_make(&f, 12, 3000, 4096);
	uint8_t *c = eml_memdup(f.blob, f.blob_len), *out;
	uint32_t bad;
	for (size_t i = 0; i < EML_BLOB_HEADER_LEN; i++) {
		for (int bit = 0; bit < 8; bit++) {
			c[i] ^= (uint8_t)(1u << bit);
			int rc = try_decrypt(&f, c, f.blob_len, &bad, &out);
			cr_assert_neq(rc, EML_OK, "header byte %zu bit %d", i, bit);
			if (i < 8)
				cr_assert_eq(rc, EML_E_BLOB_MAGIC);
			else if (i < 10)
				cr_assert_eq(rc, EML_E_BLOB_VERSION);
			else if (i >= 16 && i < 32)
				cr_assert_eq(rc, EML_E_BLOB_MODEL_MISMATCH);
			else
				cr_assert(rc == EML_E_BLOB_MALFORMED ||
				              rc == EML_E_BLOB_HEADER_MISMATCH,
				          "byte %zu: %d", i, rc);
			eml_free(out);
			c[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* header truncated */
	for (size_t n = 0; n < EML_BLOB_HEADER_LEN; n++) {
		eml_blob_info bi;
		cr_assert_eq(eml_blob_parse_header(c, n, &bi), EML_E_BLOB_TRUNCATED);
	}
	eml_free(c);
	fx_free(&f);
}

Test(blob, digest_pinned_in_key)
{
	fixture f;
	fx_make(&f, 13, 3000, 4096);
	/* A key whose pinned digest differs (all chunks still authentic): BLOB_DIGEST. */
	eml_tkey_hdr h = f.k->h;
	h.digest[5] ^= 1;
	uint8_t *tk;
	size_t n;
	cr_assert_eq(eml_tkey_serialize(eml_tkey_model(f.k), NULL, &h, &tk, &n), EML_OK);
	eml_tkey *k2;
	cr_assert_eq(eml_tkey_parse(tk, n, &k2), EML_OK);
	size_t pl = (size_t)eml_tkey_plaintext_len(k2);
	uint8_t *out = eml_alloc(pl + 1);
	uint32_t bad = 0;
	cr_assert_eq(eml_blob_decrypt(k2, f.blob, f.blob_len, out, pl, &bad), EML_E_BLOB_DIGEST);
	cr_assert_eq(bad, UINT32_MAX);
	cr_assert(all_zero(out, pl));
	/* The same with the caller's digest (the enclave's blob cache) and with several threads;
	 * and a caller's digest that is not the pinned one is refused before any decryption. */
	uint8_t d[32];
	cr_assert_eq(eml_sha256(f.blob, f.blob_len, d), EML_OK);
	eml_join_opts jo = {.blob_sha256 = d, .threads = 2};
	cr_assert_eq(eml_blob_decrypt_opts(k2, f.blob, f.blob_len, &jo, out, pl, &bad),
	             EML_E_BLOB_DIGEST);
	cr_assert(all_zero(out, pl));
	jo.threads = 1;
	cr_assert_eq(eml_blob_decrypt_opts(f.k, f.blob, f.blob_len, &jo, out, pl, &bad), EML_OK);
	d[0] ^= 1;
	cr_assert_eq(eml_blob_decrypt_opts(f.k, f.blob, f.blob_len, &jo, out, pl, &bad),
	             EML_E_BLOB_DIGEST);
	cr_assert(all_zero(out, pl));
	/* out_len too small */
	if (pl > 0)
		cr_assert_eq(eml_blob_decrypt(f.k, f.blob, f.blob_len, out, pl - 1, &bad),
		             EML_E_ARG);
	eml_free(out);
	eml_tkey_free(k2);
	eml_free(tk);
	fx_free(&f);
}

Test(blob, host_sees_only_bucketed_size)
{
	/* Two plaintexts of different exact sizes in the same bucket give headers that differ only
	 * in the model id. */
	eml_model *m = eml_model_new();
	m->ir_version = 8;
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	m->n_tensors = 1;
	m->tensors = eml_calloc(1, sizeof(eml_tensor));
	m->tensors[0].dtype = EML_DT_UINT8;
	m->tensors[0].rank = 1;
	m->data = eml_calloc(1, 100000);
	m->data_len = 100000;
	uint8_t h1[48], h2[48];
	for (int i = 0; i < 2; i++) {
		m->tensors[0].dims[0] = i ? 99000 : 98500;
		m->tensors[0].length = (uint64_t)m->tensors[0].dims[0];
		uint8_t *tk, *b;
		size_t tkl, bl;
		cr_assert_eq(eml_topo_decompose(m, NULL, &tk, &tkl, &b, &bl), EML_OK);
		memcpy(i ? h2 : h1, b, 48);
		eml_free(tk);
		eml_free(b);
	}
	memset(h1 + 16, 0, 16);
	memset(h2 + 16, 0, 16);
	cr_assert_eq(memcmp(h1, h2, 48), 0);
	eml_model_free(m);
}

Test(topo, empty_tensors_and_no_tensors)
{
	eml_model *m = eml_model_new();
	m->ir_version = 8;
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	uint8_t *tk, *b;
	size_t tkl, bl;
	/* no tensors at all: a minimum-bucket blob of random padding */
	cr_assert_eq(eml_topo_decompose(m, NULL, &tk, &tkl, &b, &bl), EML_OK);
	cr_assert_eq(bl, EML_BLOB_HEADER_LEN + 4096 + 16);
	eml_tkey *k;
	cr_assert_eq(eml_tkey_parse(tk, tkl, &k), EML_OK);
	cr_assert_eq(eml_tkey_plaintext_len(k), 0);
	eml_model *j;
	cr_assert_eq(eml_topo_join(k, b, bl, &j, NULL), EML_OK);
	eml_model_free(j);
	eml_tkey_free(k);
	eml_free(tk);
	eml_free(b);
	/* an empty tensor and no data buffer */
	m->n_tensors = 1;
	m->tensors = eml_calloc(1, sizeof(eml_tensor));
	m->tensors[0].dtype = EML_DT_FLOAT;
	m->tensors[0].rank = 1;
	cr_assert_eq(eml_topo_decompose(m, NULL, &tk, &tkl, &b, &bl), EML_OK);
	eml_free(tk);
	eml_free(b);
	/* a non-empty tensor without data is refused */
	m->tensors[0].dims[0] = 4;
	m->tensors[0].length = 16;
	cr_assert_eq(eml_topo_decompose(m, NULL, &tk, &tkl, &b, &bl), EML_E_TOPO_NO_DATA);
	cr_assert_null(tk);
	cr_assert_null(b);
	eml_model_free(m);
}

/* Structural fuzzing past the digest: mutate, insert or delete body bytes, then fix the length
 * and the digest so the parser's field checks are what is exercised (run under ASan/UBSan in
 * make test-asan). Every outcome must be EML_OK or a topology-key error, never a crash. */
Test(tkey, mutated_bodies_with_valid_digest_never_crash)
{
	fixture f;
	fx_make(&f, 21, 400, 4096);
	eml_rng r;
	eml_rng_seed(&r, 2024);
	size_t cap = f.tk_len + 64;
	uint8_t *c = eml_alloc(cap);
	int ok = 0, refused = 0;
	for (int it = 0; it < 20000; it++) {
		memcpy(c, f.tk, f.tk_len);
		size_t n = f.tk_len;
		size_t body = n - EML_TKEY_HEADER_LEN - 32;
		int op = (int)eml_rng_below(&r, 4);
		size_t at = EML_TKEY_HEADER_LEN + (size_t)eml_rng_below(&r, body);
		if (op == 0) { /* flip 1..4 bytes */
			int k = 1 + (int)eml_rng_below(&r, 4);
			for (int j = 0; j < k; j++)
				c[EML_TKEY_HEADER_LEN + eml_rng_below(&r, body)] ^=
				    (uint8_t)(1 + eml_rng_below(&r, 255));
		} else if (op == 1) { /* a count or id set to an edge value */
			static const uint32_t edges[] = {0,          1,    0x7fffffff, 0x80000000,
			                                 0xffffffff, 4096, 65535};
			uint32_t v = edges[eml_rng_below(&r, 7)];
			if (at + 4 <= n - 32)
				memcpy(c + at, &v, 4);
		} else if (op == 2) { /* delete 1..8 bytes */
			size_t d = 1 + (size_t)eml_rng_below(&r, 8);
			if (at + d <= n - 32) {
				memmove(c + at, c + at + d, n - at - d);
				n -= d;
			}
		} else { /* insert 1..8 random bytes */
			size_t d = 1 + (size_t)eml_rng_below(&r, 8);
			memmove(c + at + d, c + at, n - at);
			eml_rng_bytes(&r, c + at, d);
			n += d;
		}
		uint32_t total = (uint32_t)n;
		memcpy(c + 12, &total, 4);
		eml_sha256(c, n - 32, c + n - 32);
		eml_tkey *k = NULL;
		int rc = eml_tkey_parse(c, n, &k);
		cr_assert(rc == EML_OK || (rc >= 200 && rc < 300), "iteration %d: rc %d", it, rc);
		cr_assert_neq(rc, EML_E_TKEY_INTEGRITY);
		if (rc == EML_OK) {
			ok++;
			eml_tkey_free(k);
		} else {
			refused++;
		}
	}
	cr_assert_gt(refused, 10000);
	(void)ok;
	eml_free(c);
	fx_free(&f);
}
