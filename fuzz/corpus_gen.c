/*
 * Writes the generated part of the seed corpora (run by fuzz/make-corpus): genuine messages made
 * with libeml's own encoders, so the fuzzers start from inputs that pass every check and mutate
 * from there. Deterministic where the format allows (tkey/blob keys and HPKE keys are random).
 *
 *   fuzz_corpus_gen OUT_DIR      writes OUT_DIR/<target>/<name> for every target it knows
 */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/doc.h"
#include "attest/verify.h"
#include "audit/audit.h"
#include "crypto/cms.h"
#include "crypto/ed25519.h"
#include "fuzz_kms_key.h"
#include "kms/creds.h"
#include "kms/kms.h"
#include "kms/sealed.h"
#include "common/cursor.h"
#include "common/mem.h"
#include "eml/error.h"
#include "tensor/tensor_io.h"
#include "topo/topo.h"
#include "wire/frame.h"
#include "wire/msg.h"

static const char *out_dir;

static void put(const char *target, const char *name, uint8_t prefix0, int np, uint8_t prefix1,
                const uint8_t *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	if (np >= 1)
		fputc(prefix0, f);
	if (np >= 2)
		fputc(prefix1, f);
	if (n)
		fwrite(p, 1, n, f);
	if (fclose(f) != 0)
		exit(1);
}

static void need(int rc, const char *what)
{
	if (rc != EML_OK) {
		fprintf(stderr, "fuzz_corpus_gen: %s failed (%d)\n", what, rc);
		exit(1);
	}
}

static void gen_tensors(void)
{
	static const float f32[6] = {1, -2, 3.5f, 0, 1e-3f, 42};
	static const int64_t i64[3] = {-1, 0, 1234567890123LL};
	static const uint8_t u8[1] = {7};
	struct {
		const char *name;
		int32_t dtype;
		uint32_t rank;
		int64_t dims[3];
		const void *data;
		uint64_t bytes;
	} t[] = {
	    {"f32_2x3", EML_DT_FLOAT, 2, {2, 3}, f32, sizeof(f32)},
	    {"i64_3", EML_DT_INT64, 1, {3}, i64, sizeof(i64)},
	    {"u8_scalar", EML_DT_UINT8, 0, {0}, u8, 1},
	    {"f32_empty", EML_DT_FLOAT, 2, {0, 4}, NULL, 0},
	    {"f32_1x1x6", EML_DT_FLOAT, 3, {1, 1, 6}, f32, sizeof(f32)},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		eml_tensor_file tf = {.dtype = t[i].dtype,
		                      .rank = t[i].rank,
		                      .data = (uint8_t *)t[i].data,
		                      .bytes = t[i].bytes};
		memcpy(tf.dims, t[i].dims, sizeof(t[i].dims));
		uint8_t *b;
		size_t n;
		char name[64];
		need(eml_tensor_to_npy(&tf, &b, &n), "to_npy");
		snprintf(name, sizeof(name), "%s.npy", t[i].name);
		put("npy", name, 0, 0, 0, b, n);
		eml_free(b);
		tf.name = (char *)"x";
		need(eml_tensor_to_pb(&tf, &b, &n), "to_pb");
		snprintf(name, sizeof(name), "%s.pb", t[i].name);
		put("pb", name, 0, 0, 0, b, n);
		eml_free(b);
	}
}

static void gen_policy(void)
{
	static const char *pol[] = {
	    ("{\"version\":1,\"root\":\"aws-nitro-g1\",\"pcrs\":[{\"0\":"
	     "\"f4d48b81a460c9916d1e685119074b"
	     "f24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b\",\"8\":"
	     "\"8790eb3cce6c8"
	     "3d07e84b126dc61ca923333d6f66615c4a79157de48c5ab2418bdc60746ea7b7afbff03a1c6210201cb\""
	     "},{\""
	     "pcr1\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}],\"max_"
	     "age_ms\":"
	     "300000,\"allow_debug\":false}"),
	    ("{\"root\":\"aws-nitro-g1\",\"root_sha256\":"
	     "\"641a0321a3e244efe456463195d606317ed7cdcc3c1756"
	     "e09893f3c68f79bb5b\",\"pcrs\":[{\"15\":"
	     "\"000000000000000000000000000000000000000000000000"
	     "00000000000000000000000000000000000000000000000000\"}],\"nonce\":\"0011aabb\","
	     "\"check_validity_at\":\"document\",\"comment\":\"seed\",\"allow_debug\":true}"),
	    ("{\"root\":\"ca/"
	     "root.pem\",\"pcrs\":[{\"2\":\"0000000000000000000000000000000000000000000000"
	     "000000000000000000\"}],\"max_age_ms\":0,\"check_validity_at\":\"now\"}"),
	    ("{\"pcrs\":[]}"),
	};
	for (size_t i = 0; i < sizeof(pol) / sizeof(pol[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "policy%zu.json", i);
		put("policy", name, 0, 0, 0, (const uint8_t *)pol[i], strlen(pol[i]));
	}
}

static void gen_attest(void)
{
	uint8_t pcrs[16][EML_ATTEST_PCR_MAXLEN];
	memset(pcrs, 0x11, sizeof(pcrs));
	const uint8_t *bundle[1] = {eml_aws_nitro_root_g1_der};
	size_t bundle_len[1] = {eml_aws_nitro_root_g1_der_len};
	uint8_t pk[32], nonce[32], ud[8] = "userdata";
	memset(pk, 0x42, sizeof(pk));
	memset(nonce, 0x17, sizeof(nonce));
	eml_attest_fields f = {.module_id = "i-0123456789abcdef0-enc0123456789abcd",
	                       .timestamp_ms = 1700000000000ull,
	                       .pcr_mask = 0xffff,
	                       .pcrs = (const uint8_t(*)[EML_ATTEST_PCR_MAXLEN])pcrs,
	                       .pcr_len = 48,
	                       .certificate = eml_aws_nitro_root_g1_der,
	                       .certificate_len = eml_aws_nitro_root_g1_der_len,
	                       .cabundle = bundle,
	                       .cabundle_len = bundle_len,
	                       .cabundle_n = 1,
	                       .public_key = pk,
	                       .public_key_len = 32,
	                       .user_data = ud,
	                       .user_data_len = sizeof(ud),
	                       .nonce = nonce,
	                       .nonce_len = 32};
	for (int v = 0; v < 2; v++) {
		if (v == 1) {
			f.pcr_mask = 0x7;
			f.user_data = NULL;
			f.nonce = NULL;
		}
		uint8_t *pl, *doc, sig[EML_ATTEST_SIG_LEN];
		size_t pl_len, doc_len;
		memset(sig, 0x5a, sizeof(sig));
		need(eml_attest_payload_encode(&f, &pl, &pl_len), "payload_encode");
		need(eml_attest_cose_encode(eml_attest_es384_protected, 4, pl, pl_len, sig, &doc,
		                            &doc_len),
		     "cose_encode");
		put("attest", v ? "sim_doc_min.cbor" : "sim_doc_full.cbor", 0, 0, 0, doc, doc_len);
		eml_free(pl);
		eml_free(doc);
	}
}

/* A request and a response plaintext with two tensors each. */
static void plaintexts(eml_buf *req, eml_buf *resp)
{
	static const float x[4] = {1, 2, 3, 4};
	static const int64_t y[2] = {5, -6};
	static const uint8_t tkey[40] = "EMLTKEY1 (not a real key, codec only)";
	eml_wire_tensor t[2] = {
	    {.name = (const uint8_t *)"input",
	     .name_len = 5,
	     .dtype = EML_DT_FLOAT,
	     .rank = 2,
	     .dims = {2, 2},
	     .data = (const uint8_t *)x,
	     .data_len = sizeof(x)},
	    {.name = (const uint8_t *)"",
	     .name_len = 0,
	     .dtype = EML_DT_INT64,
	     .rank = 1,
	     .dims = {2},
	     .data = (const uint8_t *)y,
	     .data_len = sizeof(y)},
	};
	eml_request_pt rq = {.tkey = tkey, .tkey_len = sizeof(tkey), .n_inputs = 2, .inputs = t};
	memset(rq.model_id, 0xab, sizeof(rq.model_id));
	eml_response_pt rs = {.n_outputs = 2, .outputs = t, .receipt = tkey, .receipt_len = 8};
	need(eml_request_pt_encode(req, &rq), "request_pt_encode");
	need(eml_response_pt_encode(resp, &rs), "response_pt_encode");
}

static void gen_wire(void)
{
	eml_buf rq, rs, b;
	eml_buf_init(&rq, 0);
	eml_buf_init(&rs, 0);
	plaintexts(&rq, &rs);
	put("plaintext", "request_pt", 0, 1, 0, rq.p, rq.len);
	put("plaintext", "response_pt", 1, 1, 0, rs.p, rs.len);
	put("wire", "request_pt", 5, 1, 0, rq.p, rq.len);
	put("wire", "response_pt", 6, 1, 0, rs.p, rs.len);

	eml_msg_client_hello ch = {.n_versions = 2, .versions = {2, 1}};
	memset(ch.nonce, 0x33, sizeof(ch.nonce));
	eml_buf_init(&b, 0);
	need(eml_msg_client_hello_encode(&b, &ch), "client_hello_encode");
	put("wire", "client_hello", 1, 1, 0, b.p, b.len);
	put("session", "client_hello", 0, 2, EML_FT_CLIENT_HELLO, b.p, b.len);
	eml_buf_cleanup(&b);

	uint8_t doc[64];
	memset(doc, 0x44, sizeof(doc));
	eml_msg_server_hello sh = {.version = 1, .doc = doc, .doc_len = sizeof(doc)};
	memset(sh.session_id, 0x55, sizeof(sh.session_id));
	eml_buf_init(&b, 0);
	need(eml_msg_server_hello_encode(&b, &sh), "server_hello_encode");
	put("wire", "server_hello", 2, 1, 0, b.p, b.len);
	put("session", "server_hello", 1, 2, EML_FT_SERVER_HELLO, b.p, b.len);
	eml_buf_cleanup(&b);

	uint8_t ct[48];
	memset(ct, 0x66, sizeof(ct));
	eml_msg_request r = {.seq = 0, .ct = ct, .ct_len = sizeof(ct)};
	memset(r.session_id, 0x55, sizeof(r.session_id));
	memset(r.enc, 0x77, sizeof(r.enc));
	eml_buf_init(&b, 0);
	need(eml_msg_request_encode(&b, &r), "request_encode");
	put("wire", "request", 3, 1, 0, b.p, b.len);
	eml_buf_cleanup(&b);

	eml_msg_response s = {.seq = 0, .nonce_len = 32, .ct = ct, .ct_len = sizeof(ct)};
	memset(s.nonce, 0x88, sizeof(s.nonce));
	eml_buf_init(&b, 0);
	need(eml_msg_response_encode(&b, &s), "response_encode");
	put("wire", "response", 4, 1, 0, b.p, b.len);
	put("session", "response", 2, 2, EML_FT_RESPONSE, b.p, b.len);
	eml_buf_cleanup(&b);

	eml_buf_init(&b, 0);
	need(eml_msg_error_encode(&b, EML_E_REPLAY), "error_encode");
	put("wire", "error", 8, 1, 0, b.p, b.len);
	put("session", "error_hello", 1, 2, EML_FT_ERROR, b.p, b.len);
	put("session", "error_response", 2, 2, EML_FT_ERROR, b.p, b.len);
	eml_buf_cleanup(&b);

	eml_store_entry e[2];
	memset(e, 0x99, sizeof(e));
	e[0].size = 4096;
	e[1].size = 1u << 20;
	eml_buf_init(&b, 0);
	need(eml_msg_store_list_encode(&b, e, 2), "store_list_encode");
	put("wire", "store_list", 7, 1, 0, b.p, b.len);
	eml_buf_cleanup(&b);

	eml_buf_init(&b, 0);
	need(eml_frame_encode(&b, NULL, EML_FT_REQUEST, rq.p, rq.len), "frame_encode");
	put("wire", "frame", 0, 1, 0, b.p, b.len);
	put("wire", "session_request", 9, 1, 0, b.p + EML_FRAME_HEADER_LEN,
	    b.len - EML_FRAME_HEADER_LEN);
	eml_buf_cleanup(&b);

	/* fuzz_session mode 3: XOR masks over a genuine request (zero = unchanged). */
	uint8_t mask[96] = {0};
	put("session", "request_unchanged", 3, 2, 0, mask, sizeof(mask));
	mask[20] = 1;
	put("session", "request_seq_flip", 3, 2, 0, mask, sizeof(mask));
	eml_buf_cleanup(&rq);
	eml_buf_cleanup(&rs);
}

static void gen_sealed(const uint8_t *tkey, size_t tkey_len);

static void gen_topo(void)
{
	eml_model *m = eml_model_new();
	m->ir_version = 8;
	m->n_graphs = 1;
	m->graphs = eml_calloc(1, sizeof(eml_graph));
	m->graphs[0].parent = -1;
	m->n_tensors = 1;
	m->tensors = eml_calloc(1, sizeof(eml_tensor));
	m->tensors[0].dtype = EML_DT_UINT8;
	m->tensors[0].rank = 1;
	m->tensors[0].dims[0] = 9000;
	m->tensors[0].length = 9000;
	m->data = eml_calloc(1, 9000);
	m->data_len = 9000;
	uint8_t *tk, *bl;
	size_t tkl, bll;
	eml_decompose_opts o = {.chunk_size = 4096};
	need(eml_topo_decompose(m, &o, &tk, &tkl, &bl, &bll), "decompose");
	put("topo", "tkey_body", 0, 1, 0, tk + 112, tkl - 112 - 32);
	put("topo", "blob", 1, 1, 0, bl, bll);
	gen_sealed(tk, tkl);
	eml_free(tk);
	eml_free(bl);
	eml_model_free(m);

	static const struct {
		uint8_t b[8];
		size_t n;
	} edits[] = {
	    {{0, 0}, 2},                               /* genuine blob */
	    {{1, 0}, 2},                               /* one byte short */
	    {{2, 15}, 2},                              /* 16 bytes of trailing garbage */
	    {{0, 0, 8, 0, 1}, 5},                      /* header: version */
	    {{0, 0, 40, 0, 0x80}, 5},                  /* header: size fields */
	    {{0, 0, 0x40, 0x10, 1}, 5},                /* inside chunk 1 */
	    {{0, 0, 0x00, 0x20, 0xff, 0, 0x30, 1}, 8}, /* chunks 2 and 3 */
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char name[16];
		snprintf(name, sizeof(name), "edit%zu", i);
		put("blob", name, 0, 0, 0, edits[i].b, edits[i].n);
	}
}

/* Audit records (a START with a document, a signed RESPONSE), a two-record log, a receipt. */
static void gen_audit(void)
{
	uint8_t seed[32], pk[32], doc[64];
	memset(seed, 0x21, sizeof(seed));
	memset(doc, 0x44, sizeof(doc));
	need(eml_ed25519_public_key(seed, pk), "ed25519_public_key");
	eml_audit_chain c;
	need(eml_audit_chain_init(&c, seed, pk), "chain_init");
	eml_buf log, one;
	eml_buf_init(&log, 0);
	uint8_t events[2] = {EML_AEV_START, EML_AEV_RESPONSE};
	for (int i = 0; i < 2; i++) {
		eml_audit_record r;
		memset(&r, 0, sizeof(r));
		r.event = events[i];
		r.time_ms = 1700000000000ull;
		if (i == 0) {
			r.doc = doc;
			r.doc_len = sizeof(doc);
		}
		eml_buf_init(&one, 0);
		need(eml_audit_chain_append(&c, &r, &one), "chain_append");
		put("audit", i == 0 ? "record_start" : "record_response", 0, 1, 0, one.p, one.len);
		eml_buf_u32_be(&log, (uint32_t)one.len);
		eml_buf_put(&log, one.p, one.len);
		eml_buf_cleanup(&one);
	}
	put("audit", "log", 1, 1, 0, log.p, log.len);
	eml_buf_cleanup(&log);
	eml_audit_chain_cleanup(&c);

	eml_receipt rc;
	memset(&rc, 0, sizeof(rc));
	rc.audit_seq = 1;
	rc.time_ms = 1700000000000ull;
	rc.doc = doc;
	rc.doc_len = sizeof(doc);
	eml_buf_init(&one, 0);
	need(eml_receipt_sign(&rc, seed, &one), "receipt_sign");
	put("audit", "receipt", 2, 1, 0, one.p, one.len);
	put("audit", "receipt_verify", 3, 1, 0, one.p, one.len);
	eml_buf_cleanup(&one);
}

/* A sealed topology key (under an all-zero data key; fuzz_sealed opens with another). */
static void gen_sealed(const uint8_t *tkey, size_t tkey_len)
{
	static const uint8_t zero[32];
	uint8_t blob[64], *out;
	size_t out_len;
	memset(blob, 0x32, sizeof(blob));
	need(eml_sealed_seal(tkey, tkey_len, zero, "arn:aws:kms:eu-west-1:111122223333:key/fuzz",
	                     blob, sizeof(blob), &out, &out_len),
	     "sealed_seal");
	put("sealed", "sealed_tkey", 0, 0, 0, out, out_len);
	eml_free(out);
}

/* A CMS EnvelopedData for a fresh RSA-2048 key, as the local KMS builds it. */
static void gen_cms(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	unsigned char *spki = NULL;
	int spki_len = k != NULL ? i2d_PUBKEY(k, &spki) : -1;
	if (spki_len <= 0) {
		fprintf(stderr, "fuzz_corpus_gen: RSA key generation failed\n");
		exit(1);
	}
	uint8_t msg[32], *out;
	size_t out_len;
	memset(msg, 0x5c, sizeof(msg));
	need(eml_cms_encrypt(spki, (size_t)spki_len, msg, sizeof(msg), &out, &out_len),
	     "cms_encrypt");
	put("cms", "enveloped_rsa2048.der", 0, 0, 0, out, out_len);
	eml_free(out);
	OPENSSL_free(spki);
	EVP_PKEY_free(k);
}

/* KMS answers (fuzz_kms): HTTP framing, CreateKey, GenerateDataKey, Decrypt with and without a
 * Recipient (a CiphertextForRecipient encrypted to the fixed fuzzing key, so it decrypts). */
static void put_text(const char *name, uint8_t mode, const char *t)
{
	put("kms", name, mode, 1, 0, (const uint8_t *)t, strlen(t));
}

static void gen_kms(void)
{
	static const char kid[] = "arn:aws:kms:us-east-1:111122223333:key/fuzz-0001";
	uint8_t dk[32], blob[48];
	char txt[8192];
	memset(dk, 0x6b, sizeof(dk));
	memset(blob, 0x42, sizeof(blob));
	char *dk64 = eml_b64_encode(dk, sizeof(dk)), *blob64 = eml_b64_encode(blob, sizeof(blob));
	need(dk64 && blob64 ? EML_OK : EML_E_NOMEM, "b64");
	const char *err = "{\"__type\":\"com.amazonaws.kms#AccessDeniedException\","
	                  "\"message\":\"denied\"}";
	snprintf(txt, sizeof(txt),
	         "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n"
	         "Content-Length: %zu\r\n\r\n%s",
	         strlen(err), err);
	put_text("http_error", 0, txt);
	snprintf(txt, sizeof(txt),
	         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n{\"KeyId\":\"%s\"}",
	         strlen(kid) + 12, kid);
	put_text("http_ok", 0, txt);
	snprintf(txt, sizeof(txt),
	         "{\"KeyMetadata\":{\"KeyId\":\"fuzz-0001\",\"Arn\":\"%s\","
	         "\"KeyUsage\":\"ENCRYPT_DECRYPT\"}}",
	         kid);
	put_text("create_key", 1, txt);
	snprintf(txt, sizeof(txt),
	         "{\"CiphertextBlob\":\"%s\",\"KeyId\":\"%s\",\"Plaintext\":\"%s\"}", blob64, kid,
	         dk64);
	put_text("generate_data_key", 2, txt);
	snprintf(txt, sizeof(txt),
	         "{\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"KeyId\":\"%s\","
	         "\"Plaintext\":\"%s\"}",
	         kid, dk64);
	put_text("decrypt_plain", 3, txt);

	BIO *b = BIO_new_mem_buf(eml_fuzz_kms_rsa_pem, -1);
	EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	unsigned char *spki = NULL;
	int spki_len = k != NULL ? i2d_PUBKEY(k, &spki) : -1;
	need(spki_len > 0 ? EML_OK : EML_E_CRYPTO, "fuzz kms key");
	uint8_t *cms;
	size_t cms_len;
	need(eml_cms_encrypt(spki, (size_t)spki_len, dk, sizeof(dk), &cms, &cms_len),
	     "cms_encrypt");
	char *cms64 = eml_b64_encode(cms, cms_len);
	need(cms64 ? EML_OK : EML_E_NOMEM, "b64");
	snprintf(txt, sizeof(txt),
	         "{\"CiphertextForRecipient\":\"%s\",\"EncryptionAlgorithm\":"
	         "\"SYMMETRIC_DEFAULT\",\"KeyId\":\"%s\"}",
	         cms64, kid);
	put_text("decrypt_recipient", 4, txt);
	eml_free(cms64);
	eml_free(cms);
	OPENSSL_free(spki);
	EVP_PKEY_free(k);
	eml_free(dk64);
	eml_free(blob64);

	eml_kms_creds *cr = eml_calloc(1, sizeof(*cr));
	eml_buf cb;
	eml_buf_init(&cb, 0);
	need(cr ? EML_OK : EML_E_NOMEM, "alloc");
	snprintf(cr->access_key, sizeof(cr->access_key), "ASIAFUZZEXAMPLE");
	snprintf(cr->secret_key, sizeof(cr->secret_key), "fuzz/secret+key");
	snprintf(cr->session_token, sizeof(cr->session_token), "FwoGZXIvYXdzEFUZZ==");
	need(eml_kms_creds_encode(cr, &cb), "creds_encode");
	put("kms", "creds", 5, 1, 0, cb.p, cb.len);
	eml_buf_cleanup(&cb);
	eml_free(cr);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_corpus_gen OUT_DIR\n");
		return 2;
	}
	out_dir = argv[1];
	gen_tensors();
	gen_policy();
	gen_attest();
	gen_wire();
	gen_topo();
	gen_audit();
	gen_cms();
	gen_kms();
	return 0;
}
