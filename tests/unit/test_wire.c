/*
 * Frames, message codecs and session state machines (docs/PROTOCOL.md).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/cursor.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/hpke.h"
#include "eml/error.h"
#include "prop.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/session.h"

static const uint8_t known_types[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11, 0x12, 0x13,
                                      0x14, 0x15, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25};

/* ------------------------------------------------------------------ frames */

Test(frame, round_trip_every_type)
{
	for (size_t i = 0; i < sizeof(known_types); i++) {
		eml_buf b;
		eml_buf_init(&b, 0);
		uint8_t payload[7] = {1, 2, 3, 4, 5, 6, (uint8_t)i};
		cr_assert_eq(eml_frame_encode(&b, NULL, known_types[i], payload, sizeof(payload)),
		             EML_OK);
		cr_assert_eq(b.len, 5 + sizeof(payload));
		cr_assert_eq(b.p[0], 0);
		cr_assert_eq(b.p[3], sizeof(payload)); /* big-endian length */
		cr_assert_eq(b.p[4], known_types[i]);
		uint8_t t;
		const uint8_t *p;
		uint32_t len;
		size_t used;
		cr_assert_eq(eml_frame_decode(b.p, b.len, NULL, &t, &p, &len, &used), EML_OK);
		cr_assert_eq(t, known_types[i]);
		cr_assert_eq(len, sizeof(payload));
		cr_assert_eq(used, b.len);
		cr_assert(memcmp(p, payload, len) == 0);
		/* Every truncation. */
		for (size_t k = 0; k < b.len; k++)
			cr_assert_eq(eml_frame_decode(b.p, k, NULL, &t, &p, &len, &used),
			             EML_E_FRAME_TRUNCATED, "type %02x cut at %zu", known_types[i],
			             k);
		eml_buf_cleanup(&b);
	}
}

Test(frame, unknown_types_refused)
{
	int known = 0;
	for (int t = 0; t < 256; t++) {
		uint8_t hdr[5] = {0, 0, 0, 0, (uint8_t)t};
		uint8_t ty;
		uint32_t len;
		int rc = eml_frame_header_parse(hdr, NULL, &ty, &len);
		int is_known = memchr(known_types, t, sizeof(known_types)) != NULL;
		cr_assert_eq(rc, is_known ? EML_OK : EML_E_FRAME_TYPE, "type %d", t);
		known += is_known;
		eml_buf b;
		eml_buf_init(&b, 0);
		cr_assert_eq(eml_frame_encode(&b, NULL, (uint8_t)t, "", 0),
		             is_known ? EML_OK : EML_E_FRAME_TYPE);
		eml_buf_cleanup(&b);
	}
	cr_assert_eq(known, (int)sizeof(known_types));
}

Test(frame, oversize_lengths_refused_from_the_header)
{
	eml_frame_limits lim = {.client_max = 1000, .weight_max = 5000};
	uint8_t t;
	uint32_t len;
	const uint8_t *p;
	size_t used;
	/* Announced lengths are checked on the 5-byte header alone: nothing follows here, so the
	 * decoder must refuse before it could want (or allocate) the payload. */
	uint8_t hdr[5] = {0xff, 0xff, 0xff, 0xff, EML_FT_REQUEST};
	cr_assert_eq(eml_frame_header_parse(hdr, NULL, &t, &len), EML_E_FRAME_TOO_LARGE);
	cr_assert_eq(eml_frame_decode(hdr, 5, NULL, &t, &p, &len, &used), EML_E_FRAME_TOO_LARGE);
	/* Default limits: 64 MiB client messages, 256 MiB weight frames. */
	uint8_t h64[5] = {0x04, 0x00, 0x00, 0x00, EML_FT_REQUEST};
	cr_assert_eq(eml_frame_header_parse(h64, NULL, &t, &len), EML_OK);
	h64[3] = 1;
	cr_assert_eq(eml_frame_header_parse(h64, NULL, &t, &len), EML_E_FRAME_TOO_LARGE);
	h64[4] = EML_FT_UPLOAD;
	cr_assert_eq(eml_frame_header_parse(h64, NULL, &t, &len), EML_OK);
	uint8_t h256[5] = {0x10, 0x00, 0x00, 0x01, EML_FT_BLOB_DATA};
	cr_assert_eq(eml_frame_header_parse(h256, NULL, &t, &len), EML_E_FRAME_TOO_LARGE);
	h256[3] = 0;
	cr_assert_eq(eml_frame_header_parse(h256, NULL, &t, &len), EML_OK);
	/* Configured limits, per type class, on both decoding and encoding. */
	uint8_t h[5] = {0, 0, 0x03, 0xe8, EML_FT_CLIENT_HELLO};
	cr_assert_eq(eml_frame_header_parse(h, &lim, &t, &len), EML_OK);
	h[3] = 0xe9;
	cr_assert_eq(eml_frame_header_parse(h, &lim, &t, &len), EML_E_FRAME_TOO_LARGE);
	h[4] = EML_FT_UPLOAD;
	cr_assert_eq(eml_frame_header_parse(h, &lim, &t, &len), EML_OK);
	uint8_t *big = calloc(1, 5001);
	eml_buf b;
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_frame_encode(&b, &lim, EML_FT_REQUEST, big, 1001), EML_E_FRAME_TOO_LARGE);
	cr_assert_eq(eml_frame_encode(&b, &lim, EML_FT_UPLOAD, big, 5001), EML_E_FRAME_TOO_LARGE);
	cr_assert_eq(eml_frame_encode(&b, &lim, EML_FT_UPLOAD, big, 5000), EML_OK);
	eml_buf_cleanup(&b);
	free(big);
}

/* ------------------------------------------------------------------ messages */

typedef int (*decode_fn)(const uint8_t *p, size_t n, void *out);

/* Every strict prefix is EML_E_MSG_TRUNCATED, one more byte is EML_E_MSG_TRAILING. */
static void check_strict(const uint8_t *p, size_t n, decode_fn dec, void *scratch,
                         void (*cleanup)(void *))
{
	for (size_t k = 0; k < n; k++) {
		int rc = dec(p, k, scratch);
		cr_assert_eq(rc, EML_E_MSG_TRUNCATED, "prefix %zu of %zu: %s", k, n,
		             eml_err_name(rc));
	}
	uint8_t *q = malloc(n + 1);
	memcpy(q, p, n);
	q[n] = 0;
	cr_assert_eq(dec(q, n + 1, scratch), EML_E_MSG_TRAILING);
	cr_assert_eq(dec(q, n, scratch), EML_OK);
	if (cleanup)
		cleanup(scratch);
	free(q);
}

static int dec_ch(const uint8_t *p, size_t n, void *o)
{
	return eml_msg_client_hello_decode(p, n, o);
}
static int dec_sh(const uint8_t *p, size_t n, void *o)
{
	return eml_msg_server_hello_decode(p, n, o);
}
static int dec_req(const uint8_t *p, size_t n, void *o)
{
	return eml_msg_request_decode(p, n, o);
}
static int dec_resp(const uint8_t *p, size_t n, void *o)
{
	return eml_msg_response_decode(p, n, o);
}
static int dec_err(const uint8_t *p, size_t n, void *o)
{
	return eml_msg_error_decode(p, n, o);
}
static int dec_rpt(const uint8_t *p, size_t n, void *o)
{
	int rc = eml_request_pt_decode(p, n, o);
	if (rc == EML_OK)
		eml_request_pt_cleanup(o);
	return rc;
}
static int dec_spt(const uint8_t *p, size_t n, void *o)
{
	int rc = eml_response_pt_decode(p, n, o);
	if (rc == EML_OK)
		eml_response_pt_cleanup(o);
	return rc;
}
static int dec_id(const uint8_t *p, size_t n, void *o)
{
	return eml_msg_model_id_decode(p, n, o);
}
static int dec_entry(const uint8_t *p, size_t n, void *o)
{
	return eml_msg_store_entry_decode(p, n, o);
}
static int dec_list(const uint8_t *p, size_t n, void *o)
{
	eml_store_entry *e = NULL;
	size_t k;
	int rc = eml_msg_store_list_decode(p, n, &e, &k);
	if (rc == EML_OK) {
		*(size_t *)o = k;
		eml_free(e);
	}
	return rc;
}

Test(msg, hellos_round_trip_and_strict)
{
	eml_msg_client_hello ch = {.n_versions = 2, .versions = {1, 7}}, ch2;
	memset(ch.nonce, 0xab, 32);
	eml_buf b;
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_client_hello_encode(&b, &ch), EML_OK);
	cr_assert_eq(b.len, 1 + 4 + 32);
	cr_assert_eq(eml_msg_client_hello_decode(b.p, b.len, &ch2), EML_OK);
	cr_assert(memcmp(&ch, &ch2, sizeof(ch)) == 0);
	check_strict(b.p, b.len, dec_ch, &ch2, NULL);
	/* Zero versions, too many versions, a zero version. */
	b.p[0] = 0;
	cr_assert_eq(eml_msg_client_hello_decode(b.p, b.len, &ch2), EML_E_MSG_MALFORMED);
	b.p[0] = 17;
	cr_assert_eq(eml_msg_client_hello_decode(b.p, b.len, &ch2), EML_E_MSG_MALFORMED);
	b.p[0] = 2;
	b.p[1] = b.p[2] = 0;
	cr_assert_eq(eml_msg_client_hello_decode(b.p, b.len, &ch2), EML_E_MSG_MALFORMED);
	eml_buf_cleanup(&b);

	uint8_t doc[300];
	memset(doc, 0xd0, sizeof(doc));
	eml_msg_server_hello sh = {.version = 1, .doc = doc, .doc_len = sizeof(doc)}, sh2;
	memset(sh.session_id, 0x11, 16);
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_server_hello_encode(&b, &sh), EML_OK);
	cr_assert_eq(eml_msg_server_hello_decode(b.p, b.len, &sh2), EML_OK);
	cr_assert_eq(sh2.version, 1);
	cr_assert_eq(sh2.doc_len, sizeof(doc));
	cr_assert(memcmp(sh2.doc, doc, sizeof(doc)) == 0);
	cr_assert(memcmp(sh2.session_id, sh.session_id, 16) == 0);
	check_strict(b.p, b.len, dec_sh, &sh2, NULL);
	/* doc_len 0 and above the limit. */
	uint8_t z[2 + 16 + 4] = {0, 1};
	cr_assert_eq(eml_msg_server_hello_decode(z, sizeof(z), &sh2), EML_E_MSG_MALFORMED);
	z[18] = 0x7f;
	cr_assert_eq(eml_msg_server_hello_decode(z, sizeof(z), &sh2), EML_E_MSG_MALFORMED);
	eml_buf_cleanup(&b);
}

Test(msg, request_response_error_round_trip_and_strict)
{
	uint8_t ct[40];
	memset(ct, 0xc7, sizeof(ct));
	eml_msg_request r = {.seq = 0x0102030405060708ull, .ct = ct, .ct_len = sizeof(ct)}, r2;
	memset(r.session_id, 0x22, 16);
	memset(r.enc, 0x33, 32);
	eml_buf b;
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_request_encode(&b, &r), EML_OK);
	cr_assert_eq(b.p[16], 0x01); /* seq big-endian */
	cr_assert_eq(eml_msg_request_decode(b.p, b.len, &r2), EML_OK);
	cr_assert_eq(r2.seq, r.seq);
	cr_assert(memcmp(r2.enc, r.enc, 32) == 0 && memcmp(r2.ct, ct, sizeof(ct)) == 0);
	check_strict(b.p, b.len, dec_req, &r2, NULL);
	/* A ciphertext shorter than a tag. */
	b.p[16 + 8 + 32 + 3] = 15;
	cr_assert_eq(eml_msg_request_decode(b.p, 16 + 8 + 32 + 4 + 15, &r2), EML_E_MSG_MALFORMED);
	eml_buf_cleanup(&b);

	eml_msg_response s = {.seq = 9, .nonce_len = 32, .ct = ct, .ct_len = sizeof(ct)}, s2;
	memset(s.nonce, 0x44, 32);
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_response_encode(&b, &s), EML_OK);
	cr_assert_eq(eml_msg_response_decode(b.p, b.len, &s2), EML_OK);
	cr_assert_eq(s2.seq, 9);
	cr_assert_eq(s2.nonce_len, 32);
	cr_assert(memcmp(s2.nonce, s.nonce, 32) == 0);
	check_strict(b.p, b.len, dec_resp, &s2, NULL);
	b.p[8] = 0;
	cr_assert_eq(eml_msg_response_decode(b.p, b.len, &s2), EML_E_MSG_MALFORMED);
	b.p[8] = 33;
	cr_assert_eq(eml_msg_response_decode(b.p, b.len, &s2), EML_E_MSG_MALFORMED);
	eml_buf_cleanup(&b);

	int code;
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_error_encode(&b, EML_E_REPLAY), EML_OK);
	cr_assert_eq(b.len, 2);
	cr_assert_eq(eml_msg_error_decode(b.p, b.len, &code), EML_OK);
	cr_assert_eq(code, EML_E_REPLAY);
	check_strict(b.p, b.len, dec_err, &code, NULL);
	/* Numbers outside the table become a generic remote error; no text travels. */
	uint8_t unk[2] = {0xfe, 0xed};
	cr_assert_eq(eml_msg_error_decode(unk, 2, &code), EML_OK);
	cr_assert_eq(code, EML_E_REMOTE);
	uint8_t zero[2] = {0, 0};
	cr_assert_eq(eml_msg_error_decode(zero, 2, &code), EML_OK);
	cr_assert_eq(code, EML_E_REMOTE);
	cr_assert_eq(eml_msg_error_encode(&b, 0), EML_E_ARG);
	eml_buf_cleanup(&b);
}

static void sample_request_pt(eml_buf *b, float *x, int64_t *shape)
{
	eml_wire_tensor in[2];
	memset(in, 0, sizeof(in));
	in[0].name = (const uint8_t *)"input";
	in[0].name_len = 5;
	in[0].dtype = EML_DT_FLOAT;
	in[0].rank = 2;
	in[0].dims[0] = 2;
	in[0].dims[1] = 3;
	in[0].data = (const uint8_t *)x;
	in[0].data_len = 6 * sizeof(float);
	in[1].name = (const uint8_t *)"shape";
	in[1].name_len = 5;
	in[1].dtype = EML_DT_INT64;
	in[1].rank = 1;
	in[1].dims[0] = 2;
	in[1].data = (const uint8_t *)shape;
	in[1].data_len = 16;
	eml_request_pt r = {
	    .tkey = (const uint8_t *)"TKEYBYTES", .tkey_len = 9, .n_inputs = 2, .inputs = in};
	memset(r.model_id, 0x5e, 16);
	cr_assert_eq(eml_request_pt_encode(b, &r), EML_OK);
}

/* The sample request plaintext of x and shape, encoded into b and decoded again into r. */
static void sample_decoded(eml_buf *b, float *x, int64_t *shape, eml_request_pt *r)
{
	eml_buf_init(b, 0);
	sample_request_pt(b, x, shape);
	cr_assert_eq(eml_request_pt_decode(b->p, b->len, r), EML_OK);
}

Test(msg, plaintexts_round_trip_and_strict)
{
	float x[6] = {1, 2, 3, 4, 5, 6};
	int64_t shape[2] = {3, 2};
	eml_buf b;
	eml_request_pt r2;
	sample_decoded(&b, x, shape, &r2);
	cr_assert_eq(r2.n_inputs, 2);
	cr_assert_eq(r2.tkey_len, 9);
	cr_assert(memcmp(r2.tkey, "TKEYBYTES", 9) == 0);
	cr_assert_eq(r2.inputs[0].rank, 2);
	cr_assert_eq(r2.inputs[0].dims[1], 3);
	cr_assert(memcmp(r2.inputs[0].data, x, sizeof(x)) == 0);
	cr_assert(memcmp(r2.inputs[1].name, "shape", 5) == 0);
	eml_request_pt_cleanup(&r2);
	check_strict(b.p, b.len, dec_rpt, &r2, NULL);

	/* Field-level refusals. Offsets: model id 16, tkey len 4 + 9, count 2, then the first
	 * tensor: name len 2, name 5, dtype 1, rank 1, dims 2x8, data len 8. */
	size_t t0 = 16 + 4 + 9 + 2;
	struct {
		size_t off;
		uint8_t val;
	} bad[] = {
	    {t0 + 1, 0},           /* empty name */
	    {t0 + 2, 0},           /* NUL inside a name */
	    {t0 + 7, 0},           /* dtype UNDEFINED */
	    {t0 + 7, 8},           /* dtype STRING */
	    {t0 + 7, 99},          /* unknown dtype */
	    {t0 + 8, 9},           /* rank above 8 */
	    {t0 + 9 + 7, 3},       /* dims disagree with the data length */
	    {t0 + 9, 0xff},        /* a dim above 2^32 */
	    {t0 + 9 + 16 + 7, 25}, /* data length disagrees */
	    {16 + 4 + 9, 0xff},    /* more tensors than the limit */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *q = malloc(b.len);
		memcpy(q, b.p, b.len);
		q[bad[i].off] = bad[i].val;
		int rc = eml_request_pt_decode(q, b.len, &r2);
		cr_assert_eq(rc, EML_E_MSG_MALFORMED, "case %zu: %s", i, eml_err_name(rc));
		free(q);
	}
	/* An empty topology key. */
	uint8_t emp[16 + 4 + 2] = {0};
	cr_assert_eq(eml_request_pt_decode(emp, sizeof(emp), &r2), EML_E_MSG_MALFORMED);
	eml_buf_cleanup(&b);

	/* Response plaintext. */
	eml_wire_tensor out = {.name = (const uint8_t *)"y",
	                       .name_len = 1,
	                       .dtype = EML_DT_FLOAT,
	                       .rank = 1,
	                       .dims = {6},
	                       .data = (const uint8_t *)x,
	                       .data_len = 24};
	eml_response_pt s = {.n_outputs = 1,
	                     .outputs = &out,
	                     .receipt = (const uint8_t *)"RCPT",
	                     .receipt_len = 4},
	                s2;
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_response_pt_encode(&b, &s), EML_OK);
	cr_assert_eq(eml_response_pt_decode(b.p, b.len, &s2), EML_OK);
	cr_assert_eq(s2.n_outputs, 1);
	cr_assert_eq(s2.receipt_len, 4);
	cr_assert(memcmp(s2.outputs[0].data, x, 24) == 0);
	eml_response_pt_cleanup(&s2);
	check_strict(b.p, b.len, dec_spt, &s2, NULL);
	eml_buf_cleanup(&b);
}

Test(msg, host_channel_and_store_messages)
{
	uint8_t id[16], id2[16];
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)i;
	eml_buf b;
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_model_id_encode(&b, id), EML_OK);
	cr_assert_eq(eml_msg_model_id_decode(b.p, b.len, id2), EML_OK);
	cr_assert(memcmp(id, id2, 16) == 0);
	check_strict(b.p, b.len, dec_id, id2, NULL);
	eml_buf_cleanup(&b);

	eml_store_entry e[3], e1;
	for (int i = 0; i < 3; i++) {
		memset(e[i].model_id, i + 1, 16);
		memset(e[i].sha256, 0xa0 + i, 32);
		e[i].size = 1000u * (unsigned)(i + 1);
	}
	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_store_entry_encode(&b, &e[1]), EML_OK);
	cr_assert_eq(eml_msg_store_entry_decode(b.p, b.len, &e1), EML_OK);
	cr_assert(memcmp(&e1, &e[1], sizeof(e1)) == 0);
	check_strict(b.p, b.len, dec_entry, &e1, NULL);
	eml_buf_cleanup(&b);

	eml_buf_init(&b, 0);
	cr_assert_eq(eml_msg_store_list_encode(&b, e, 3), EML_OK);
	cr_assert_eq(b.len, 4 + 3 * 56);
	eml_store_entry *got;
	size_t k;
	cr_assert_eq(eml_msg_store_list_decode(b.p, b.len, &got, &k), EML_OK);
	cr_assert_eq(k, 3);
	cr_assert(memcmp(got, e, sizeof(e)) == 0);
	eml_free(got);
	check_strict(b.p, b.len, dec_list, &k, NULL);
	/* A count the payload cannot hold is refused before allocating. */
	uint8_t huge[4] = {0, 1, 0, 0};
	cr_assert_eq(eml_msg_store_list_decode(huge, 4, &got, &k), EML_E_MSG_TRUNCATED);
	uint8_t over[4] = {0x7f, 0, 0, 0};
	cr_assert_eq(eml_msg_store_list_decode(over, 4, &got, &k), EML_E_MSG_MALFORMED);
	eml_buf_cleanup(&b);

	cr_assert_eq(eml_msg_empty_decode(NULL, 0), EML_OK);
	cr_assert_eq(eml_msg_empty_decode(id, 1), EML_E_MSG_TRAILING);
	cr_assert_eq(eml_msg_audit_record_check(id, 0), EML_E_MSG_TRUNCATED);
	cr_assert_eq(eml_msg_audit_record_check(id, 16), EML_OK);
	cr_assert_eq(eml_msg_audit_record_check(id, EML_WIRE_MAX_AUDIT_RECORD + 1),
	             EML_E_MSG_MALFORMED);
}

/*
 * Feature: ephemeral-inference, Property 11: Secure error handling. Every failure (attestation,
 * memory, topology validation, communication, resource limits) fails closed, keeps every boundary,
 * and cleans up fully.
 * Here: random valid messages round-trip exactly; random corruptions of them are either refused
 * with a wire error code or decode to a message that re-encodes to the same bytes (never a crash,
 * never an out-of-bounds read under ASan).
 */
Test(prop, wire_codecs_fail_closed,
     .description = "Feature: ephemeral-inference, Property 11: Secure error handling. Every "
                    "failure (attestation, memory, topology validation, communication, resource "
                    "limits) fails closed, keeps every boundary, and cleans up fully.")
{
	PROP_FOR_EACH_CASE(rng)
	{
		/* A random request plaintext with 0..4 tensors of random dtypes and shapes. */
		static const uint8_t dts[] = {EML_DT_FLOAT, EML_DT_INT64, EML_DT_UINT8,
		                              EML_DT_INT32, EML_DT_BOOL,  EML_DT_FLOAT16};
		eml_wire_tensor ts[4];
		uint8_t names[4][16], *datas[4] = {0};
		uint8_t tkey[64];
		eml_request_pt r = {.tkey = tkey,
		                    .tkey_len = (uint32_t)eml_rng_range(&rng, 1, 64),
		                    .n_inputs = (uint16_t)eml_rng_below(&rng, 5),
		                    .inputs = ts};
		eml_rng_bytes(&rng, r.model_id, 16);
		eml_rng_bytes(&rng, tkey, sizeof(tkey));
		memset(ts, 0, sizeof(ts));
		for (unsigned i = 0; i < r.n_inputs; i++) {
			ts[i].name_len = (uint16_t)eml_rng_range(&rng, 1, 16);
			for (unsigned j = 0; j < ts[i].name_len; j++)
				names[i][j] = (uint8_t)eml_rng_range(&rng, 'a', 'z');
			ts[i].name = names[i];
			ts[i].dtype = dts[eml_rng_below(&rng, sizeof(dts))];
			ts[i].rank = (uint8_t)eml_rng_below(&rng, 4);
			uint64_t numel = 1;
			for (unsigned d = 0; d < ts[i].rank; d++) {
				ts[i].dims[d] = eml_rng_below(&rng, 5);
				numel *= ts[i].dims[d];
			}
			ts[i].data_len = numel * eml_dtype_size(ts[i].dtype);
			datas[i] = malloc(ts[i].data_len + 1);
			eml_rng_bytes(&rng, datas[i], ts[i].data_len);
			ts[i].data = datas[i];
		}
		eml_buf b, b2;
		eml_buf_init(&b, 0);
		eml_buf_init(&b2, 0);
		PROP_ASSERT(eml_request_pt_encode(&b, &r) == EML_OK, "encode");
		eml_request_pt d;
		PROP_ASSERT(eml_request_pt_decode(b.p, b.len, &d) == EML_OK, "decode");
		PROP_ASSERT(eml_request_pt_encode(&b2, &d) == EML_OK, "re-encode");
		PROP_ASSERT(b2.len == b.len && memcmp(b.p, b2.p, b.len) == 0, "round trip");
		eml_request_pt_cleanup(&d);
		/* Corrupt: flip, truncate or extend, then decode. */
		for (int m = 0; m < 20; m++) {
			size_t n = b.len;
			uint8_t *q = malloc(n + 8);
			memcpy(q, b.p, n);
			int kind = (int)eml_rng_below(&rng, 3);
			if (kind == 0)
				q[eml_rng_below(&rng, n)] ^= (uint8_t)eml_rng_range(&rng, 1, 255);
			else if (kind == 1)
				n = eml_rng_below(&rng, n);
			else
				n += (size_t)eml_rng_range(&rng, 1, 8);
			int rc = eml_request_pt_decode(q, n, &d);
			if (rc == EML_OK) {
				eml_buf b3;
				eml_buf_init(&b3, 0);
				PROP_ASSERT(eml_request_pt_encode(&b3, &d) == EML_OK, "re-encode");
				PROP_ASSERT(b3.len == n && memcmp(b3.p, q, n) == 0,
				            "accepted corruption must be canonical");
				eml_buf_cleanup(&b3);
				eml_request_pt_cleanup(&d);
			} else {
				PROP_ASSERT(rc >= 600 && rc < 700, "wire error code, got %d", rc);
				PROP_ASSERT(kind != 1 || rc == EML_E_MSG_TRUNCATED, "truncation %d",
				            rc);
				PROP_ASSERT(kind != 2 || rc == EML_E_MSG_TRAILING, "extension %d",
				            rc);
			}
			free(q);
		}
		for (unsigned i = 0; i < r.n_inputs; i++)
			free(datas[i]);
		eml_buf_cleanup(&b);
		eml_buf_cleanup(&b2);
	}
}

/* ------------------------------------------------------------------ sessions */

/* A fake attestation document for the state machines: "DOC1" || nonce || hpke pk || tag. The
 * verifier accepts it only with the right nonce and returns the pk and SHA-256(doc). */
struct fake_attest {
	uint8_t tag;
	int calls;
	int refuse;
	int lie_about_hash;
};

static int fake_doc(void *arg, const uint8_t nonce[32], const uint8_t pk[32], uint8_t **doc,
                    size_t *len)
{
	struct fake_attest *fa = arg;
	uint8_t *d = eml_alloc(4 + 32 + 32 + 1);
	memcpy(d, "DOC1", 4);
	memcpy(d + 4, nonce, 32);
	memcpy(d + 36, pk, 32);
	d[68] = fa != NULL ? fa->tag : 0;
	*doc = d;
	*len = 69;
	return EML_OK;
}

static int fake_verify(void *arg, const uint8_t *doc, size_t len, const uint8_t nonce[32],
                       uint8_t pk[32], uint8_t hash[32])
{
	struct fake_attest *fa = arg;
	if (fa != NULL)
		fa->calls++;
	if (fa != NULL && fa->refuse)
		return 500; /* an attest-range refusal */
	if (len != 69 || memcmp(doc, "DOC1", 4) != 0 || memcmp(doc + 4, nonce, 32) != 0)
		return EML_E_AUTH;
	memcpy(pk, doc + 36, 32);
	eml_sha256(doc, len, hash);
	if (fa != NULL && fa->lie_about_hash)
		hash[0] ^= 1;
	return EML_OK;
}

struct pair {
	uint8_t sk[32], pk[32];
	eml_client_session *c;
	eml_enclave_session *e;
};

static void frame_split(const eml_buf *f, uint8_t *type, const uint8_t **p, uint32_t *len)
{
	size_t used;
	cr_assert_eq(eml_frame_decode(f->p, f->len, NULL, type, p, len, &used), EML_OK);
	cr_assert_eq(used, f->len);
}

static void handshake(struct pair *s, const uint8_t *sk, const uint8_t *pk)
{
	memcpy(s->sk, sk, 32);
	memcpy(s->pk, pk, 32);
	cr_assert_eq(eml_client_session_new(&s->c), EML_OK);
	cr_assert_eq(eml_enclave_session_new(sk, pk, &s->e), EML_OK);
	eml_buf f1, f2;
	eml_buf_init(&f1, 0);
	eml_buf_init(&f2, 0);
	uint8_t t;
	const uint8_t *p;
	uint32_t n;
	cr_assert_eq(eml_client_session_hello(s->c, &f1), EML_OK);
	frame_split(&f1, &t, &p, &n);
	cr_assert_eq(t, EML_FT_CLIENT_HELLO);
	cr_assert_eq(eml_enclave_session_hello(s->e, p, n, fake_doc, NULL, &f2), EML_OK);
	frame_split(&f2, &t, &p, &n);
	cr_assert_eq(t, EML_FT_SERVER_HELLO);
	cr_assert_eq(eml_client_session_accept(s->c, t, p, n, fake_verify, NULL), EML_OK);
	cr_assert_eq(eml_client_session_version(s->c), 1);
	eml_buf_cleanup(&f1);
	eml_buf_cleanup(&f2);
}

static void pair_free(struct pair *s)
{
	eml_client_session_free(s->c);
	eml_enclave_session_free(s->e);
}

/* One full request/response; returns the request frame in *req (caller cleans up). */
static void round_trip(struct pair *s, const char *msg, eml_buf *req)
{
	uint8_t t;
	const uint8_t *p;
	uint32_t n;
	uint8_t *pt;
	size_t pt_len;
	eml_buf resp;
	eml_buf_init(req, 0);
	eml_buf_init(&resp, 0);
	cr_assert_eq(eml_client_session_seal_request(s->c, (const uint8_t *)msg, strlen(msg), req),
	             EML_OK);
	frame_split(req, &t, &p, &n);
	cr_assert_eq(t, EML_FT_REQUEST);
	cr_assert_eq(eml_enclave_session_open_request(s->e, p, n, &pt, &pt_len), EML_OK);
	cr_assert_eq(pt_len, strlen(msg));
	cr_assert(memcmp(pt, msg, pt_len) == 0);
	eml_free(pt);
	cr_assert_eq(eml_enclave_session_seal_response(s->e, (const uint8_t *)"answer", 6, &resp),
	             EML_OK);
	frame_split(&resp, &t, &p, &n);
	cr_assert_eq(t, EML_FT_RESPONSE);
	cr_assert_eq(eml_client_session_open_response(s->c, t, p, n, &pt, &pt_len), EML_OK);
	cr_assert_eq(pt_len, 6);
	cr_assert(memcmp(pt, "answer", 6) == 0);
	eml_free(pt);
	eml_buf_cleanup(&resp);
}

Test(session, requests_in_sequence_and_replay_refused)
{
	uint8_t sk[32], pk[32];
	cr_assert_eq(eml_hpke_keypair_generate(sk, pk), EML_OK);
	struct pair s;
	handshake(&s, sk, pk);
	eml_buf r0, r1, r2;
	round_trip(&s, "first request", &r0);
	round_trip(&s, "second request", &r1);
	/* Requests use distinct HPKE setups (distinct enc). */
	cr_assert(memcmp(r0.p + 5 + 24, r1.p + 5 + 24, 32) != 0);
	/* Replaying the first request is refused, and the session then fails closed. */
	uint8_t t;
	const uint8_t *p;
	uint32_t n;
	uint8_t *pt = NULL;
	size_t pt_len;
	frame_split(&r0, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_open_request(s.e, p, n, &pt, &pt_len), EML_E_REPLAY);
	cr_assert_null(pt);
	eml_buf_init(&r2, 0);
	cr_assert_eq(eml_client_session_seal_request(s.c, (const uint8_t *)"x", 1, &r2), EML_OK);
	frame_split(&r2, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_open_request(s.e, p, n, &pt, &pt_len),
	             EML_E_SESSION_STATE);
	eml_buf_cleanup(&r0);
	eml_buf_cleanup(&r1);
	eml_buf_cleanup(&r2);
	pair_free(&s);
}

/* A context set up ahead (eml_client_session_prepare, while a response is awaited) is used by
 * the next request only, once: every request still has its own enc, prepared or not, and each
 * opens and is answered. */
Test(session, contexts_set_up_ahead_are_fresh_and_used_once)
{
	uint8_t sk[32], pk[32];
	cr_assert_eq(eml_hpke_keypair_generate(sk, pk), EML_OK);
	struct pair s;
	handshake(&s, sk, pk);
	eml_buf r[4];
	for (int i = 0; i < 4; i++) {
		if (i != 2) /* one request without a prepared context */
			cr_assert_eq(eml_client_session_prepare(s.c), EML_OK);
		cr_assert_eq(eml_client_session_prepare(s.c), EML_OK); /* idempotent */
		round_trip(&s, i % 2 ? "odd request" : "even request", &r[i]);
		for (int j = 0; j < i; j++)
			cr_assert(memcmp(r[i].p + 5 + 24, r[j].p + 5 + 24, 32) != 0,
			          "requests %d and %d share an enc", j, i);
	}
	for (int i = 0; i < 4; i++)
		eml_buf_cleanup(&r[i]);
	pair_free(&s);
	/* Before the handshake there is nothing to prepare (no key): a no-op. */
	eml_client_session *c;
	cr_assert_eq(eml_client_session_new(&c), EML_OK);
	cr_assert_eq(eml_client_session_prepare(c), EML_OK);
	eml_client_session_free(c);
}

Test(session, reordered_and_cross_session_requests_refused)
{
	uint8_t sk[32], pk[32];
	cr_assert_eq(eml_hpke_keypair_generate(sk, pk), EML_OK);
	uint8_t t;
	const uint8_t *p;
	uint32_t n;
	uint8_t *pt = NULL;
	size_t pt_len;

	/* A request that claims sequence 1 while 0 is expected (reorder / skip). */
	struct pair s;
	handshake(&s, sk, pk);
	eml_buf r;
	eml_buf_init(&r, 0);
	cr_assert_eq(eml_client_session_seal_request(s.c, (const uint8_t *)"hi", 2, &r), EML_OK);
	r.p[5 + 16 + 7] = 1;
	frame_split(&r, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_open_request(s.e, p, n, &pt, &pt_len), EML_E_REPLAY);
	eml_buf_cleanup(&r);
	pair_free(&s);

	/* A request from session A, delivered to session B of the same enclave key. */
	struct pair a, b;
	handshake(&a, sk, pk);
	handshake(&b, sk, pk);
	eml_buf_init(&r, 0);
	cr_assert_eq(eml_client_session_seal_request(a.c, (const uint8_t *)"hi", 2, &r), EML_OK);
	uint8_t *orig = malloc(r.len);
	size_t orig_len = r.len;
	memcpy(orig, r.p, r.len);
	frame_split(&r, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_open_request(b.e, p, n, &pt, &pt_len),
	             EML_E_SESSION_UNKNOWN);
	/* Even with C's session id pasted in, the HPKE info (C's document hash) and AAD differ. */
	struct pair c;
	handshake(&c, sk, pk);
	uint8_t sid[16];
	eml_client_session_id(c.c, sid);
	memcpy(r.p + 5, sid, 16);
	frame_split(&r, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_open_request(c.e, p, n, &pt, &pt_len), EML_E_AUTH);
	cr_assert_null(pt);
	/* B failed closed: even its own client's next request is refused. */
	eml_buf_cleanup(&r);
	eml_buf_init(&r, 0);
	cr_assert_eq(eml_client_session_seal_request(b.c, (const uint8_t *)"hi", 2, &r), EML_OK);
	frame_split(&r, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_open_request(b.e, p, n, &pt, &pt_len),
	             EML_E_SESSION_STATE);
	eml_buf_cleanup(&r);
	/* The original request still opens in its own session. */
	size_t used;
	const uint8_t *op;
	cr_assert_eq(eml_frame_decode(orig, orig_len, NULL, &t, &op, &n, &used), EML_OK);
	cr_assert_eq(eml_enclave_session_open_request(a.e, op, n, &pt, &pt_len), EML_OK);
	cr_assert_eq(pt_len, 2);
	cr_assert(memcmp(pt, "hi", 2) == 0);
	eml_free(pt);
	free(orig);
	pair_free(&a);
	pair_free(&b);
	pair_free(&c);
}

Test(session, sealed_to_one_enclave_key_not_opened_by_another)
{
	uint8_t skA[32], pkA[32], skB[32], pkB[32];
	cr_assert_eq(eml_hpke_keypair_generate(skA, pkA), EML_OK);
	cr_assert_eq(eml_hpke_keypair_generate(skB, pkB), EML_OK);
	/* The client attested key A; a (malicious) enclave holding key B but claiming A's public
	 * key in its document still cannot open the request. */
	struct pair s;
	cr_assert_eq(eml_client_session_new(&s.c), EML_OK);
	cr_assert_eq(eml_enclave_session_new(skB, pkA, &s.e), EML_OK);
	eml_buf f1, f2, r;
	eml_buf_init(&f1, 0);
	eml_buf_init(&f2, 0);
	eml_buf_init(&r, 0);
	uint8_t t;
	const uint8_t *p;
	uint32_t n;
	cr_assert_eq(eml_client_session_hello(s.c, &f1), EML_OK);
	frame_split(&f1, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_hello(s.e, p, n, fake_doc, NULL, &f2), EML_OK);
	frame_split(&f2, &t, &p, &n);
	cr_assert_eq(eml_client_session_accept(s.c, t, p, n, fake_verify, NULL), EML_OK);
	cr_assert_eq(eml_client_session_seal_request(s.c, (const uint8_t *)"secret", 6, &r),
	             EML_OK);
	frame_split(&r, &t, &p, &n);
	uint8_t *pt = NULL;
	size_t pt_len;
	cr_assert_eq(eml_enclave_session_open_request(s.e, p, n, &pt, &pt_len), EML_E_AUTH);
	cr_assert_null(pt);
	eml_buf_cleanup(&f1);
	eml_buf_cleanup(&f2);
	eml_buf_cleanup(&r);
	pair_free(&s);
}

Test(session, any_flipped_byte_refused)
{
	uint8_t sk[32], pk[32];
	cr_assert_eq(eml_hpke_keypair_generate(sk, pk), EML_OK);
	uint8_t t;
	const uint8_t *p;
	uint32_t n;
	/* Request payload: every byte flipped, each in a fresh session. */
	size_t req_len = 0, resp_len = 0;
	for (size_t i = 0;; i++) {
		struct pair s;
		handshake(&s, sk, pk);
		eml_buf r;
		eml_buf_init(&r, 0);
		cr_assert_eq(
		    eml_client_session_seal_request(s.c, (const uint8_t *)"payload!", 8, &r),
		    EML_OK);
		req_len = r.len - 5;
		if (i >= req_len) {
			eml_buf_cleanup(&r);
			pair_free(&s);
			break;
		}
		r.p[5 + i] ^= 0x01;
		frame_split(&r, &t, &p, &n);
		uint8_t *pt = NULL;
		size_t pt_len;
		int rc = eml_enclave_session_open_request(s.e, p, n, &pt, &pt_len);
		cr_assert_neq(rc, EML_OK, "flipped request byte %zu accepted", i);
		cr_assert_null(pt);
		eml_buf_cleanup(&r);
		pair_free(&s);
	}
	/* Response payload: every byte flipped. */
	for (size_t i = 0;; i++) {
		struct pair s;
		handshake(&s, sk, pk);
		eml_buf r, resp;
		eml_buf_init(&r, 0);
		eml_buf_init(&resp, 0);
		cr_assert_eq(eml_client_session_seal_request(s.c, (const uint8_t *)"q", 1, &r),
		             EML_OK);
		frame_split(&r, &t, &p, &n);
		uint8_t *pt = NULL;
		size_t pt_len;
		cr_assert_eq(eml_enclave_session_open_request(s.e, p, n, &pt, &pt_len), EML_OK);
		eml_free(pt);
		pt = NULL;
		cr_assert_eq(
		    eml_enclave_session_seal_response(s.e, (const uint8_t *)"outputs", 7, &resp),
		    EML_OK);
		resp_len = resp.len - 5;
		int done = i >= resp_len;
		if (!done) {
			resp.p[5 + i] ^= 0x80;
			frame_split(&resp, &t, &p, &n);
			int rc = eml_client_session_open_response(s.c, t, p, n, &pt, &pt_len);
			cr_assert_neq(rc, EML_OK, "flipped response byte %zu accepted", i);
			cr_assert_null(pt);
		}
		eml_buf_cleanup(&r);
		eml_buf_cleanup(&resp);
		pair_free(&s);
		if (done)
			break;
	}
	cr_assert_eq(req_len, 16 + 8 + 32 + 4 + 8 + 16);
	cr_assert_eq(resp_len, 8 + 1 + 32 + 4 + 7 + 16);
}

Test(session, hello_negotiation_and_verifier)
{
	uint8_t sk[32], pk[32];
	cr_assert_eq(eml_hpke_keypair_generate(sk, pk), EML_OK);
	eml_enclave_session *e;
	eml_buf f;
	/* No common version. */
	cr_assert_eq(eml_enclave_session_new(sk, pk, &e), EML_OK);
	eml_msg_client_hello h = {.n_versions = 2, .versions = {7, 9}};
	eml_buf m;
	eml_buf_init(&m, 0);
	eml_buf_init(&f, 0);
	cr_assert_eq(eml_msg_client_hello_encode(&m, &h), EML_OK);
	cr_assert_eq(eml_enclave_session_hello(e, m.p, m.len, fake_doc, NULL, &f), EML_E_VERSION);
	eml_enclave_session_free(e);
	/* Versions {9, 1}: version 1 is chosen. */
	h.versions[1] = 1;
	eml_buf_cleanup(&m);
	eml_buf_init(&m, 0);
	cr_assert_eq(eml_msg_client_hello_encode(&m, &h), EML_OK);
	cr_assert_eq(eml_enclave_session_new(sk, pk, &e), EML_OK);
	cr_assert_eq(eml_enclave_session_hello(e, m.p, m.len, fake_doc, NULL, &f), EML_OK);
	cr_assert_eq(f.p[5], 0);
	cr_assert_eq(f.p[6], 1);
	/* A second hello in the same session is refused. */
	cr_assert_eq(eml_enclave_session_hello(e, m.p, m.len, fake_doc, NULL, &f),
	             EML_E_SESSION_STATE);
	eml_enclave_session_free(e);
	eml_buf_cleanup(&m);
	eml_buf_cleanup(&f);

	/* Client side: verifier refusal, lying hash, ERROR reply, unexpected type, wrong nonce. */
	struct fake_attest refuse = {.refuse = 1}, liar = {.lie_about_hash = 1};
	struct {
		struct fake_attest *fa;
		int corrupt_nonce;
		int want;
	} cases[] = {{&refuse, 0, 500}, {&liar, 0, EML_E_AUTH}, {NULL, 1, EML_E_AUTH}};
	for (size_t i = 0; i < 3; i++) {
		eml_client_session *c;
		eml_buf f1, f2;
		eml_buf_init(&f1, 0);
		eml_buf_init(&f2, 0);
		uint8_t t;
		const uint8_t *p;
		uint32_t n;
		cr_assert_eq(eml_client_session_new(&c), EML_OK);
		cr_assert_eq(eml_enclave_session_new(sk, pk, &e), EML_OK);
		cr_assert_eq(eml_client_session_hello(c, &f1), EML_OK);
		frame_split(&f1, &t, &p, &n);
		cr_assert_eq(eml_enclave_session_hello(e, p, n, fake_doc, NULL, &f2), EML_OK);
		if (cases[i].corrupt_nonce)
			f2.p[5 + 2 + 16 + 4 + 4] ^= 1; /* first nonce byte inside the fake doc */
		frame_split(&f2, &t, &p, &n);
		cr_assert_eq(eml_client_session_accept(c, t, p, n, fake_verify, cases[i].fa),
		             cases[i].want, "case %zu", i);
		/* Failed closed. */
		eml_buf r;
		eml_buf_init(&r, 0);
		cr_assert_eq(eml_client_session_seal_request(c, (const uint8_t *)"x", 1, &r),
		             EML_E_SESSION_STATE);
		eml_buf_cleanup(&r);
		eml_buf_cleanup(&f1);
		eml_buf_cleanup(&f2);
		eml_client_session_free(c);
		eml_enclave_session_free(e);
	}
	eml_client_session *c;
	eml_buf f1;
	eml_buf_init(&f1, 0);
	cr_assert_eq(eml_client_session_new(&c), EML_OK);
	cr_assert_eq(eml_client_session_hello(c, &f1), EML_OK);
	uint8_t err[2] = {0x02, 0x60}; /* 608 = REPLAY */
	cr_assert_eq(eml_client_session_accept(c, EML_FT_ERROR, err, 2, fake_verify, NULL),
	             EML_E_REPLAY);
	eml_client_session_free(c);
	/* The enclave's error frame is exactly header + code. */
	eml_buf ef;
	eml_buf_init(&ef, 0);
	cr_assert_eq(eml_session_error_frame(&ef, EML_E_REPLAY), EML_OK);
	cr_assert_eq(ef.len, 7);
	cr_assert(memcmp(ef.p, "\0\0\0\x02\x05\x02\x60", 7) == 0);
	eml_buf_cleanup(&ef);
	cr_assert_eq(eml_client_session_new(&c), EML_OK);
	cr_assert_eq(eml_client_session_hello(c, &f1), EML_OK);
	cr_assert_eq(eml_client_session_accept(c, EML_FT_RESPONSE, err, 2, fake_verify, NULL),
	             EML_E_MSG_UNEXPECTED);
	eml_client_session_free(c);
	eml_buf_cleanup(&f1);
}

/*
 * Feature: ephemeral-inference, Property 4: Encryption bound to enclave identity. Data the client
 * seals (directly, or through KMS) can be opened only by an enclave whose measured identity
 * matches the binding.
 * Here (the direct path): a random request sealed after attesting document D with key K opens
 * only in the enclave session that holds K and served D; another key, another document (another
 * identity or boot) or another session refuses it.
 */
Test(prop, encryption_bound_to_enclave_identity,
     .description = "Feature: ephemeral-inference, Property 4: Encryption bound to enclave "
                    "identity. Data the client seals (directly, or through KMS) can be opened "
                    "only by an enclave whose measured identity matches the binding.")
{
	PROP_FOR_EACH_CASE(rng)
	{
		uint8_t ikm[32], sk[32], pk[32], sk2[32], pk2[32];
		eml_rng_bytes(&rng, ikm, 32);
		PROP_ASSERT(eml_hpke_keypair_derive(ikm, 32, sk, pk) == EML_OK, "derive");
		eml_rng_bytes(&rng, ikm, 32);
		PROP_ASSERT(eml_hpke_keypair_derive(ikm, 32, sk2, pk2) == EML_OK, "derive");
		struct fake_attest id1 = {.tag = (uint8_t)eml_rng_below(&rng, 256)};
		struct fake_attest id2 = {.tag = (uint8_t)(id1.tag ^ 1)};
		size_t len = (size_t)eml_rng_range(&rng, 0, 300);
		uint8_t msg[300];
		eml_rng_bytes(&rng, msg, len);

		/* Client attests enclave (pk, id1). */
		eml_client_session *c;
		eml_enclave_session *e;
		eml_buf f1, f2, r;
		eml_buf_init(&f1, 0);
		eml_buf_init(&f2, 0);
		eml_buf_init(&r, 0);
		uint8_t t;
		const uint8_t *p;
		uint32_t n;
		size_t used;
		PROP_ASSERT(eml_client_session_new(&c) == EML_OK, "new");
		PROP_ASSERT(eml_enclave_session_new(sk, pk, &e) == EML_OK, "new");
		eml_client_session_hello(c, &f1);
		eml_frame_decode(f1.p, f1.len, NULL, &t, &p, &n, &used);
		PROP_ASSERT(eml_enclave_session_hello(e, p, n, fake_doc, &id1, &f2) == EML_OK,
		            "hello");
		eml_frame_decode(f2.p, f2.len, NULL, &t, &p, &n, &used);
		PROP_ASSERT(eml_client_session_accept(c, t, p, n, fake_verify, NULL) == EML_OK,
		            "ok");
		uint8_t sid[16];
		eml_client_session_id(c, sid);
		PROP_ASSERT(eml_client_session_seal_request(c, msg, len, &r) == EML_OK, "seal");
		const uint8_t *rp;
		uint32_t rn;
		eml_frame_decode(r.p, r.len, NULL, &t, &rp, &rn, &used);

		/* Impostors: same session id and nonce, but another key or another document. */
		struct {
			const uint8_t *sk, *pk;
			struct fake_attest *id;
			int want_ok;
		} who[3] = {{sk2, pk2, &id1, 0}, {sk, pk, &id2, 0}, {sk, pk, &id1, 1}};
		for (int w = 0; w < 3; w++) {
			eml_enclave_session *x;
			PROP_ASSERT(eml_enclave_session_new(who[w].sk, who[w].pk, &x) == EML_OK,
			            "n");
			/* The same client hello (same nonce) answered by this candidate. */
			eml_buf f3;
			eml_buf_init(&f3, 0);
			eml_frame_decode(f1.p, f1.len, NULL, &t, &p, &n, &used);
			PROP_ASSERT(eml_enclave_session_hello(x, p, n, fake_doc, who[w].id, &f3) ==
			                EML_OK,
			            "hello");
			eml_buf_cleanup(&f3);
			/* Open as that candidate would: info = label || SHA-256(its document),
			 * AAD with the client's session id (so only the key and document differ). */
			uint8_t dh[32], info[13 + 32], *out = malloc(len + 1);
			eml_enclave_session_doc_hash(x, dh);
			memcpy(info, "eml/1 request", 13);
			memcpy(info + 13, dh, 32);
			uint8_t aad[13 + 16 + 8];
			memcpy(aad, "eml/1 request", 13);
			memcpy(aad + 13, sid, 16);
			memset(aad + 29, 0, 8);
			eml_msg_request req;
			PROP_ASSERT(eml_msg_request_decode(rp, rn, &req) == EML_OK, "decode");
			eml_hpke_ctx *hc = NULL;
			int rc =
			    eml_hpke_setup_receiver(req.enc, who[w].sk, info, sizeof(info), &hc);
			if (rc == EML_OK)
				rc = eml_hpke_open(hc, aad, sizeof(aad), req.ct, req.ct_len, out);
			if (who[w].want_ok)
				PROP_ASSERT(rc == EML_OK && memcmp(out, msg, len) == 0,
				            "owner opens");
			else
				PROP_ASSERT(rc == EML_E_AUTH, "impostor %d got %d", w, rc);
			eml_hpke_ctx_free(hc);
			free(out);
			eml_enclave_session_free(x);
		}
		/* The attested enclave session itself opens it. */
		uint8_t *pt = NULL;
		size_t pt_len;
		PROP_ASSERT(eml_enclave_session_open_request(e, rp, rn, &pt, &pt_len) == EML_OK,
		            "own");
		PROP_ASSERT(pt_len == len && (len == 0 || memcmp(pt, msg, len) == 0), "same bytes");
		eml_free(pt);
		eml_buf_cleanup(&f1);
		eml_buf_cleanup(&f2);
		eml_buf_cleanup(&r);
		eml_client_session_free(c);
		eml_enclave_session_free(e);
	}
}

/* Sealing from pieces and opening in place (the paths the client and the enclave use for
 * megabytes of tensors): a plaintext cut at random points seals to a frame that opens, in place,
 * to the concatenation; the parts of a request plaintext are byte for byte its encoding; a
 * forged frame opened in place leaves no plaintext behind in the payload. */
Test(session, sealed_from_pieces_opened_in_place)
{
	uint8_t sk[32], pk[32];
	cr_assert_eq(eml_hpke_keypair_generate(sk, pk), EML_OK);
	eml_rng g;
	uint64_t seed = eml_prop_base_seed();
	eml_rng_seed(&g, seed);
	for (int it = 0; it < 20; it++) {
		struct pair s;
		handshake(&s, sk, pk);
		size_t total = 1 + eml_rng_below(&g, 5000);
		uint8_t *msg = malloc(total);
		eml_rng_bytes(&g, msg, total);
		eml_iov parts[8];
		size_t np = 0, at = 0;
		while (at < total && np < 7) {
			size_t n = eml_rng_below(&g, total - at + 1); /* empty pieces too */
			parts[np++] = (eml_iov){msg + at, n};
			at += n;
		}
		parts[np++] = (eml_iov){msg + at, total - at};
		eml_buf req, resp;
		eml_buf_init(&req, 0);
		eml_buf_init(&resp, 0);
		cr_assert_eq(eml_client_session_seal_request_iov(s.c, parts, np, &req), EML_OK);
		uint8_t t;
		const uint8_t *p;
		uint32_t n;
		frame_split(&req, &t, &p, &n);
		const uint8_t *pt;
		size_t pt_len;
		uint8_t *rw = (uint8_t *)p;
		cr_assert_eq(eml_enclave_session_open_request_inplace(s.e, rw, n, &pt, &pt_len),
		             EML_OK, "seed %llu", (unsigned long long)seed);
		cr_assert(pt >= rw && pt + pt_len <= rw + n);
		cr_assert_eq(pt_len, total);
		cr_assert(memcmp(pt, msg, total) == 0, "seed %llu", (unsigned long long)seed);
		cr_assert_eq(eml_enclave_session_seal_response_iov(s.e, parts, np, &resp), EML_OK);
		frame_split(&resp, &t, &p, &n);
		rw = (uint8_t *)p;
		cr_assert_eq(eml_client_session_open_response_inplace(s.c, t, rw, n, &pt, &pt_len),
		             EML_OK);
		cr_assert(pt_len == total && memcmp(pt, msg, total) == 0);
		eml_buf_cleanup(&req);
		eml_buf_cleanup(&resp);
		pair_free(&s);
		free(msg);
	}

	/* A forged request opened in place: refused, and the payload holds no plaintext. */
	struct pair s;
	handshake(&s, sk, pk);
	uint8_t secret[256];
	memset(secret, 0x5a, sizeof(secret));
	eml_buf req;
	eml_buf_init(&req, 0);
	cr_assert_eq(eml_client_session_seal_request(s.c, secret, sizeof(secret), &req), EML_OK);
	req.p[req.len - 1] ^= 1; /* the tag */
	uint8_t t;
	const uint8_t *p, *pt = NULL;
	uint32_t n;
	size_t pt_len = 0;
	frame_split(&req, &t, &p, &n);
	cr_assert_eq(eml_enclave_session_open_request_inplace(s.e, (uint8_t *)p, n, &pt, &pt_len),
	             EML_E_AUTH);
	uint8_t window[16];
	memset(window, 0x5a, sizeof(window));
	cr_assert_null(memmem(p, n, window, sizeof(window)), "unverified plaintext left in place");
	eml_buf_cleanup(&req);
	pair_free(&s);

	/* The pieces of a request plaintext are its encoding. */
	float x[6] = {1, 2, 3, 4, 5, 6};
	int64_t shape[2] = {3, 2};
	eml_buf b;
	eml_request_pt r2;
	sample_decoded(&b, x, shape, &r2);
	eml_pt_parts *pp = calloc(1, sizeof(*pp));
	cr_assert_eq(eml_request_pt_parts(pp, &r2), EML_OK);
	cr_assert_gt(pp->n, 1);
	eml_buf flat;
	eml_buf_init(&flat, 0);
	cr_assert_eq(eml_pt_parts_flatten(pp, &flat), EML_OK);
	cr_assert_eq(flat.len, b.len);
	cr_assert(memcmp(flat.p, b.p, b.len) == 0);
	eml_pt_parts_cleanup(pp);
	free(pp);
	eml_buf_cleanup(&flat);
	eml_request_pt_cleanup(&r2);
	eml_buf_cleanup(&b);
}
