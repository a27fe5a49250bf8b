/*
 * Weight blob: decomposition (layout, padding, chunked AES-256-GCM) and decryption
 * (docs/FORMATS.md §2). The chunk construction follows the STREAM idea of Hoang, Reyhanitabar,
 * Rogaway and Vizár (CRYPTO 2015): every chunk's nonce and associated data bind its index, the
 * chunk count and the final-chunk flag, so reordering, truncation and splicing fail
 * authentication of a named chunk; the key is fresh per decomposition, so nonces never repeat.
 */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "common/regs.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "topo/topo_int.h"

#define AAD_LEN (EML_BLOB_HEADER_LEN + 9u)

uint64_t eml_blob_bucket(uint64_t n)
{
	if (n <= EML_BLOB_MIN_BUCKET)
		return EML_BLOB_MIN_BUCKET;
	/* n > 2^12: pick k with 2^(k+4) < n <= 2^(k+5); then m = ceil(n / 2^k) is in 17..32 and
	 * the padding m*2^k - n < 2^k < n/16. m == 32 is the bucket 16*2^(k+1). */
	unsigned bits = 64u - (unsigned)__builtin_clzll(n - 1);
	unsigned k = bits - 5u;
	uint64_t m = (n + ((uint64_t)1 << k) - 1) >> k;
	return m << k;
}

int eml_blob_chunk_size_ok(uint64_t c)
{
	return c >= EML_BLOB_MIN_CHUNK && c <= EML_BLOB_MAX_CHUNK && c % EML_DATA_ALIGN == 0;
}

static uint32_t chunk_count(uint64_t total, uint32_t chunk)
{
	return (uint32_t)((total + chunk - 1) / chunk);
}

uint64_t eml_blob_expected_len(const eml_blob_info *bi)
{
	return EML_BLOB_HEADER_LEN + bi->total_len + (uint64_t)bi->chunk_count * EML_AEAD_TAG_LEN;
}

static void write_header(uint8_t h[EML_BLOB_HEADER_LEN], const uint8_t id[EML_MODEL_ID_LEN],
                         uint32_t chunk, uint32_t count, uint64_t total)
{
	uint16_t v = EML_BLOB_VERSION;
	memset(h, 0, EML_BLOB_HEADER_LEN);
	memcpy(h, EML_BLOB_MAGIC, 8);
	memcpy(h + 8, &v, 2); /* little-endian hosts only (x86_64, aarch64) */
	memcpy(h + 12, &chunk, 4);
	memcpy(h + 16, id, EML_MODEL_ID_LEN);
	memcpy(h + 32, &count, 4);
	memcpy(h + 40, &total, 8);
}

int eml_blob_parse_header(const uint8_t *p, size_t n, eml_blob_info *out)
{
	int rc = EML_OK;
	eml_blob_info bi;
	memset(&bi, 0, sizeof(bi));
	EML_ENSURE(out != NULL && (p != NULL || n == 0), EML_E_ARG);
	if (n < EML_BLOB_HEADER_LEN) {
		EML_ENSURE(n == 0 || memcmp(p, EML_BLOB_MAGIC, n < 8 ? n : 8) == 0,
		           EML_E_BLOB_MAGIC);
		EML_FAIL(EML_E_BLOB_TRUNCATED);
	}
	EML_ENSURE(memcmp(p, EML_BLOB_MAGIC, 8) == 0, EML_E_BLOB_MAGIC);
	eml_cursor c;
	eml_cur_init(&c, p + 8, EML_BLOB_HEADER_LEN - 8);
	uint16_t res16;
	uint32_t res32;
	EML_GUARD(eml_cur_u16(&c, &bi.version));
	EML_ENSURE(bi.version == EML_BLOB_VERSION, EML_E_BLOB_VERSION);
	EML_GUARD(eml_cur_u16(&c, &res16));
	EML_GUARD(eml_cur_u32(&c, &bi.chunk_size));
	EML_GUARD(eml_cur_copy(&c, bi.model_id, EML_MODEL_ID_LEN));
	EML_GUARD(eml_cur_u32(&c, &bi.chunk_count));
	EML_GUARD(eml_cur_u32(&c, &res32));
	EML_GUARD(eml_cur_u64(&c, &bi.total_len));
	EML_ENSURE(res16 == 0 && res32 == 0, EML_E_BLOB_MALFORMED);
	EML_ENSURE(eml_blob_chunk_size_ok(bi.chunk_size), EML_E_BLOB_MALFORMED);
	EML_ENSURE(bi.total_len <= eml_blob_bucket(EML_MAX_DATA_BYTES), EML_E_BLOB_MALFORMED);
	EML_ENSURE(eml_blob_bucket(bi.total_len) == bi.total_len, EML_E_BLOB_MALFORMED);
	EML_ENSURE(bi.chunk_count == chunk_count(bi.total_len, bi.chunk_size),
	           EML_E_BLOB_MALFORMED);
	*out = bi;
out:
	return rc;
}

static void chunk_nonce(uint8_t nonce[EML_AEAD_NONCE_LEN], const uint8_t *hdr, uint32_t i,
                        uint32_t count)
{
	memcpy(nonce, hdr + 16, 4); /* first 4 bytes of the model id */
	memcpy(nonce + 4, &i, 4);
	memcpy(nonce + 8, &count, 4);
}

static void chunk_aad(uint8_t aad[AAD_LEN], const uint8_t *hdr, uint32_t i, uint32_t count)
{
	memcpy(aad, hdr, EML_BLOB_HEADER_LEN);
	memcpy(aad + EML_BLOB_HEADER_LEN, &i, 4);
	memcpy(aad + EML_BLOB_HEADER_LEN + 4, &count, 4);
	aad[EML_BLOB_HEADER_LEN + 8] = (i + 1 == count) ? 1 : 0;
}

/* ---------------------------------------------------------------- decompose */

/* The new layout (tensors in table order, each 64-byte aligned) and the sizes that follow. */
typedef struct layout {
	uint64_t *offs;
	uint64_t plaintext, total;
	uint32_t chunk, count;
	size_t blob_len;
} layout;

static int plan_layout(const eml_model *m, const eml_decompose_opts *o, layout *l, int want_offs)
{
	int rc = EML_OK;
	memset(l, 0, sizeof(*l));
	EML_ENSURE(m != NULL, EML_E_ARG);
	size_t chunk = (o != NULL && o->chunk_size != 0) ? o->chunk_size : EML_BLOB_DEFAULT_CHUNK;
	EML_ENSURE(eml_blob_chunk_size_ok(chunk), EML_E_ARG);
	EML_ENSURE(m->n_graphs >= 1 && m->graphs != NULL, EML_E_ARG);
	if (want_offs) {
		l->offs = eml_calloc(m->n_tensors ? m->n_tensors : 1, sizeof(uint64_t));
		EML_ENSURE(l->offs != NULL, EML_E_NOMEM);
	}
	uint64_t P = 0;
	for (uint32_t i = 0; i < m->n_tensors; i++) {
		const eml_tensor *t = &m->tensors[i];
		EML_ENSURE(t->length == 0 || m->data != NULL, EML_E_TOPO_NO_DATA);
		EML_ENSURE(t->offset <= m->data_len && t->length <= m->data_len - t->offset,
		           EML_E_ARG);
		P = (P + EML_DATA_ALIGN - 1) & ~(uint64_t)(EML_DATA_ALIGN - 1);
		if (l->offs != NULL)
			l->offs[i] = P;
		P += t->length;
		EML_ENSURE(P <= EML_MAX_DATA_BYTES, EML_E_LIMIT);
	}
	l->plaintext = P;
	l->total = eml_blob_bucket(P);
	l->chunk = (uint32_t)chunk;
	l->count = chunk_count(l->total, l->chunk);
	uint64_t blen = EML_BLOB_HEADER_LEN + l->total + (uint64_t)l->count * EML_AEAD_TAG_LEN;
	EML_ENSURE(blen <= SIZE_MAX, EML_E_LIMIT);
	l->blob_len = (size_t)blen;
out:
	if (rc != EML_OK) {
		eml_free(l->offs);
		l->offs = NULL;
	}
	return rc;
}

int eml_topo_blob_len(const eml_model *m, const eml_decompose_opts *o, size_t *len)
{
	layout l;
	int rc = plan_layout(m, o, &l, 0);
	if (rc == EML_OK && len != NULL)
		*len = l.blob_len;
	return rc;
}

int eml_topo_decompose_into(const eml_model *m, const eml_decompose_opts *o, uint8_t **tkey,
                            size_t *tkey_len, uint8_t *b, size_t blob_len)
{
	int rc = EML_OK;
	uint8_t *tk = NULL;
	size_t tklen = 0;
	eml_aead *aead = NULL;
	eml_hash *hash = NULL;
	eml_tkey_hdr h;
	layout l = {0};
	memset(&h, 0, sizeof(h));
	EML_ENSURE(tkey != NULL && tkey_len != NULL && b != NULL, EML_E_ARG);
	*tkey = NULL;
	EML_GUARD(plan_layout(m, o, &l, 1));
	EML_ENSURE(blob_len == l.blob_len, EML_E_ARG);
	const uint64_t *offs = l.offs, P = l.plaintext, total = l.total;
	const size_t chunk = l.chunk;
	const uint32_t count = l.count;

	h.flags = (o != NULL && o->keep_io_names) ? EML_TKEY_FLAG_IO_NAMES : 0;
	h.plaintext_len = P;
	h.chunk_size = (uint32_t)chunk;
	EML_GUARD(eml_random_bytes(h.model_id, sizeof(h.model_id)));
	EML_GUARD(eml_random_bytes(h.key, sizeof(h.key)));

	write_header(b, h.model_id, (uint32_t)chunk, count, total);
	EML_GUARD(eml_aead_new(h.key, &aead));
	EML_GUARD(eml_hash_new(EML_HASH_SHA256, &hash));
	EML_GUARD(eml_hash_update(hash, b, EML_BLOB_HEADER_LEN));

	/* Build each chunk's plaintext in place in the output, then seal it in place, so the only
	 * large buffer is the blob itself and each chunk is hashed while still in cache. */
	uint32_t ti = 0;
	for (uint32_t ci = 0; ci < count; ci++) {
		uint64_t a = (uint64_t)ci * chunk;
		uint64_t e = a + chunk < total ? a + chunk : total;
		uint8_t *dst = b + EML_BLOB_HEADER_LEN + (size_t)ci * (chunk + EML_AEAD_TAG_LEN);
		uint64_t end_data = e < P ? e : P;
		uint64_t pos = a;
		while (pos < end_data) {
			while (ti < m->n_tensors && offs[ti] + m->tensors[ti].length <= pos)
				ti++;
			if (ti == m->n_tensors || offs[ti] >= end_data) {
				memset(dst + (pos - a), 0, (size_t)(end_data - pos));
				pos = end_data;
				break;
			}
			uint64_t ts = offs[ti], te = ts + m->tensors[ti].length;
			if (ts > pos) {
				memset(dst + (pos - a), 0, (size_t)(ts - pos));
				pos = ts;
			}
			uint64_t ce = te < end_data ? te : end_data;
			memcpy(dst + (pos - a), m->data + m->tensors[ti].offset + (pos - ts),
			       (size_t)(ce - pos));
			pos = ce;
		}
		if (e > P) {
			uint64_t ps = a > P ? a : P;
			EML_GUARD(eml_random_bytes(dst + (ps - a), (size_t)(e - ps)));
		}
		uint8_t nonce[EML_AEAD_NONCE_LEN], aad[AAD_LEN];
		chunk_nonce(nonce, b, ci, count);
		chunk_aad(aad, b, ci, count);
		EML_GUARD(
		    eml_aead_ctx_seal(aead, nonce, aad, sizeof(aad), dst, (size_t)(e - a), dst));
		EML_GUARD(eml_hash_update(hash, dst, (size_t)(e - a) + EML_AEAD_TAG_LEN));
	}
	rc = eml_hash_final(hash, h.digest);
	hash = NULL;
	EML_GUARD(rc);

	EML_GUARD(eml_tkey_serialize(m, offs, &h, &tk, &tklen));
	/* Never hand out a key that its own parser would refuse (a model beyond a limit, a dtype
	 * the format cannot carry): parse it back once, a small cost next to the encryption. */
	{
		eml_tkey *check = NULL;
		rc = eml_tkey_parse(tk, tklen, &check);
		eml_tkey_free(check);
		EML_GUARD(rc);
	}
	*tkey = tk;
	*tkey_len = tklen;
	tk = NULL;
out:
	if (rc != EML_OK && b != NULL && blob_len > 0)
		eml_wipe(b, blob_len); /* no half-built plaintext left behind */
	eml_hash_free(hash);
	eml_aead_free(aead);
	eml_free(l.offs);
	eml_free(tk);
	eml_wipe(&h, sizeof(h));
	return rc;
}

/* A large blob is written once, front to back: transparent huge pages turn ~500 page faults per
 * MiB into one every 2 MiB (a hint only; the kernel may ignore it). */
static void advise_huge(void *p, size_t n)
{
	const uintptr_t huge = (uintptr_t)2 << 20;
	if (n < 4 * huge)
		return;
	uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(huge - 1);
	if (e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

int eml_topo_decompose(const eml_model *m, const eml_decompose_opts *o, uint8_t **tkey,
                       size_t *tkey_len, uint8_t **blob, size_t *blob_len)
{
	int rc = EML_OK;
	uint8_t *b = NULL;
	size_t blen = 0;
	EML_ENSURE(tkey != NULL && tkey_len != NULL && blob != NULL && blob_len != NULL, EML_E_ARG);
	*tkey = NULL;
	*blob = NULL;
	EML_GUARD(eml_topo_blob_len(m, o, &blen));
	b = eml_alloc(blen);
	EML_ENSURE(b != NULL, EML_E_NOMEM);
	advise_huge(b, blen);
	EML_GUARD(eml_topo_decompose_into(m, o, tkey, tkey_len, b, blen));
	*blob = b;
	*blob_len = blen;
	b = NULL;
out:
	eml_free(b);
	return rc;
}

/* ---------------------------------------------------------------- decrypt */

/* A contiguous range of chunks decrypted by one thread with its own AEAD context. */
struct dec_job {
	const eml_tkey *k;
	const eml_blob_info *bi;
	const uint8_t *blob;
	uint8_t *out;
	uint64_t P;
	uint32_t c0, c1;
	eml_hash *hash; /* non-NULL: also hash each chunk (single-threaded one-pass mode) */
	int verified;   /* the blob's digest is known to be the pinned one: no tag checks */
	int rc;
	uint32_t bad;
};

static void *dec_range(void *arg)
{
	struct dec_job *j = arg;
	int rc = EML_OK;
	eml_aead *aead = NULL;
	const eml_blob_info *bi = j->bi;
	size_t stride = (size_t)bi->chunk_size + EML_AEAD_TAG_LEN;
	uint8_t *tmp = NULL;
	j->bad = UINT32_MAX;
	EML_GUARD(eml_aead_new(j->k->h.key, &aead));
	for (uint32_t ci = j->c0; ci < j->c1; ci++) {
		uint64_t a = (uint64_t)ci * bi->chunk_size;
		uint64_t e =
		    a + bi->chunk_size < bi->total_len ? a + bi->chunk_size : bi->total_len;
		const uint8_t *src = j->blob + EML_BLOB_HEADER_LEN + (size_t)ci * stride;
		uint8_t nonce[EML_AEAD_NONCE_LEN], aad[AAD_LEN];
		chunk_nonce(nonce, j->blob, ci, bi->chunk_count);
		chunk_aad(aad, j->blob, ci, bi->chunk_count);
		size_t ct_len = (size_t)(e - a) + EML_AEAD_TAG_LEN;
		uint8_t *dst = j->out + a;
		if (e > j->P) {
			/* The chunk holding the end of the plaintext (and padding): decrypt aside. */
			if (tmp == NULL) {
				tmp = eml_alloc(bi->chunk_size);
				EML_ENSURE(tmp != NULL, EML_E_NOMEM);
			}
			dst = tmp;
		}
		if (j->hash != NULL)
			EML_GUARD(eml_hash_update(j->hash, src, ct_len));
		if (j->verified) {
			EML_GUARD(eml_aead_ctx_decrypt_verified(aead, nonce, src, ct_len, dst));
		} else if (eml_aead_ctx_open(aead, nonce, aad, sizeof(aad), src, ct_len, dst) !=
		           EML_OK) {
			j->bad = ci;
			EML_FAIL(EML_E_BLOB_CHUNK_AUTH);
		}
		if (dst == tmp && a < j->P)
			memcpy(j->out + a, tmp, (size_t)(j->P - a));
	}
out:
	eml_aead_free(aead);
	eml_free(tmp);
	j->rc = rc;
	return NULL;
}

/* A decryption thread: the AES key schedule and plaintext pass through its stack, and glibc keeps
 * the stacks of exited threads for reuse, so it wipes what it used before leaving. */
static void *dec_thread(void *arg)
{
	dec_range(arg);
	eml_stack_scrub(EML_STACK_SCRUB_BYTES);
	eml_clear_vector_regs(); /* the plaintext blocks passed through them (common/regs.h) */
	return NULL;
}

int eml_blob_decrypt(const eml_tkey *k, const uint8_t *blob, size_t n, uint8_t *out, size_t out_len,
                     uint32_t *bad_chunk)
{
	return eml_blob_decrypt_opts(k, blob, n, NULL, out, out_len, bad_chunk);
}

int eml_blob_decrypt_opts(const eml_tkey *k, const uint8_t *blob, size_t n, const eml_join_opts *o,
                          uint8_t *out, size_t out_len, uint32_t *bad_chunk)
{
	int rc = EML_OK;
	eml_hash *hash = NULL;
	uint32_t bad = UINT32_MAX;
	uint64_t P = 0;
	struct dec_job jobs[EML_JOIN_MAX_THREADS];
	pthread_t tids[EML_JOIN_MAX_THREADS];
	int started = 0;
	EML_ENSURE(k != NULL && (blob != NULL || n == 0), EML_E_ARG);
	P = k->h.plaintext_len;
	EML_ENSURE(out_len >= P && (out != NULL || P == 0), EML_E_ARG);

	eml_blob_info bi;
	EML_GUARD(eml_blob_parse_header(blob, n, &bi));
	EML_ENSURE(eml_ct_eq(bi.model_id, k->h.model_id, EML_MODEL_ID_LEN),
	           EML_E_BLOB_MODEL_MISMATCH);
	EML_ENSURE(bi.chunk_size == k->h.chunk_size && bi.total_len == eml_blob_bucket(P),
	           EML_E_BLOB_HEADER_MISMATCH);
	uint64_t want = eml_blob_expected_len(&bi);
	size_t stride = (size_t)bi.chunk_size + EML_AEAD_TAG_LEN;
	if (n < want) {
		bad = (uint32_t)((n - EML_BLOB_HEADER_LEN) / stride);
		EML_FAIL(EML_E_BLOB_TRUNCATED);
	}
	EML_ENSURE(n == want, EML_E_BLOB_TRAILING);

	/* The pinned SHA-256 of the whole blob: either the caller already computed it over exactly
	 * these bytes (o->blob_sha256, e.g. the enclave's cache of fetched ciphertext), or it is
	 * computed here. When the caller's digest equals the pinned one, these are the owner's
	 * bytes exactly, so every tag would verify: the chunks are only decrypted (the GCM
	 * keystream without GHASH, eml_aead_ctx_decrypt_verified). Otherwise every chunk is
	 * authenticated (a corrupted chunk is named), and if every chunk authenticates but the
	 * digest differs, the blob is refused as a whole. On any failure `out` is wiped. */
	const uint8_t *known = o != NULL ? o->blob_sha256 : NULL;
	int threads = o != NULL && o->threads > 1 ? o->threads : 1;
	if (threads > EML_JOIN_MAX_THREADS)
		threads = EML_JOIN_MAX_THREADS;
	if ((uint32_t)threads > bi.chunk_count)
		threads = bi.chunk_count > 0 ? (int)bi.chunk_count : 1;
	/* A known digest that differs is reported after the chunks (as a computed one is), so a
	 * corrupted chunk is still named. */
	int known_differs = known != NULL && !eml_ct_eq(known, k->h.digest, EML_SHA256_LEN);
	if (known == NULL) {
		EML_GUARD(eml_hash_new(EML_HASH_SHA256, &hash));
		EML_GUARD(eml_hash_update(hash, blob, EML_BLOB_HEADER_LEN));
	}
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct dec_job){
		    k,
		    &bi,
		    blob,
		    out,
		    P,
		    (uint32_t)((uint64_t)bi.chunk_count * (uint64_t)t / (uint64_t)threads),
		    (uint32_t)((uint64_t)bi.chunk_count * (uint64_t)(t + 1) / (uint64_t)threads),
		    NULL,
		    known != NULL && !known_differs,
		    EML_OK,
		    UINT32_MAX};
	}
	if (threads == 1) {
		/* One pass: each chunk is hashed and decrypted while in cache. */
		jobs[0].hash = hash;
		dec_range(&jobs[0]);
	} else {
		for (int t = 1; t < threads; t++) {
			if (eml_thread_create_clean(&tids[t], dec_thread, &jobs[t]) != 0)
				break;
			started = t;
		}
		/* Ranges whose thread could not start run here, after this thread's own range. */
		dec_range(&jobs[0]);
		for (int t = started + 1; t < threads; t++)
			dec_range(&jobs[t]);
		/* The digest, when not known, is computed here while the others decrypt. */
		if (hash != NULL)
			rc = eml_hash_update(hash, blob + EML_BLOB_HEADER_LEN,
			                     n - EML_BLOB_HEADER_LEN);
		for (int t = 1; t <= started; t++)
			pthread_join(tids[t], NULL);
		started = 0;
		EML_GUARD(rc);
	}
	for (int t = 0; t < threads; t++) {
		if (jobs[t].rc != EML_OK) {
			bad = jobs[t].bad;
			EML_FAIL(jobs[t].rc);
		}
	}
	EML_ENSURE(!known_differs, EML_E_BLOB_DIGEST);
	if (hash != NULL) {
		uint8_t d[EML_SHA256_LEN];
		rc = eml_hash_final(hash, d);
		hash = NULL;
		EML_GUARD(rc);
		EML_ENSURE(eml_ct_eq(d, k->h.digest, sizeof(d)), EML_E_BLOB_DIGEST);
	}
out:
	for (int t = 1; t <= started; t++)
		pthread_join(tids[t], NULL);
	if (rc != EML_OK && out != NULL)
		eml_wipe(out, (size_t)(P < out_len ? P : out_len));
	if (bad_chunk != NULL)
		*bad_chunk = rc == EML_OK ? UINT32_MAX : bad;
	eml_hash_free(hash);
	return rc;
}

int eml_topo_join(const eml_tkey *k, const uint8_t *blob, size_t n, eml_model **out,
                  uint32_t *bad_chunk)
{
	return eml_topo_join_opts(k, blob, n, NULL, out, bad_chunk);
}

/* `take`: the key's own parsed model becomes the joined model's topology (no second parse). */
static int join_impl(eml_tkey *take, const eml_tkey *k, const uint8_t *blob, size_t n,
                     const eml_join_opts *o, eml_model **out, uint32_t *bad_chunk)
{
	int rc = EML_OK;
	eml_model *m = NULL;
	void *mem = NULL;
	size_t map_len = 0;
	if (bad_chunk != NULL)
		*bad_chunk = UINT32_MAX;
	EML_ENSURE(k != NULL && out != NULL, EML_E_ARG);
	*out = NULL;
	EML_ENSURE(k->h.plaintext_len <= SIZE_MAX, EML_E_LIMIT);
	if (take != NULL && take->m != NULL) {
		m = take->m;
		take->m = NULL;
	} else {
		EML_GUARD(eml_tkey_model_copy(k, &m));
	}
	EML_GUARD(eml_secmem_map((size_t)k->h.plaintext_len, &mem, &map_len));
	m->data = mem;
	m->data_storage = 1;
	m->data_map_len = map_len;
	m->data_len = k->h.plaintext_len;
	EML_GUARD(eml_blob_decrypt_opts(k, blob, n, o, m->data, (size_t)m->data_len, bad_chunk));
	*out = m;
	m = NULL;
out:
	eml_model_free(m);
	return rc;
}

int eml_topo_join_opts(const eml_tkey *k, const uint8_t *blob, size_t n, const eml_join_opts *o,
                       eml_model **out, uint32_t *bad_chunk)
{
	return join_impl(NULL, k, blob, n, o, out, bad_chunk);
}

int eml_topo_join_take(eml_tkey *k, const uint8_t *blob, size_t n, const eml_join_opts *o,
                       eml_model **out, uint32_t *bad_chunk)
{
	return join_impl(k, k, blob, n, o, out, bad_chunk);
}
