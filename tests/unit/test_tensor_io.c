/*
 * Tensor files (.npy, .pb): round trips for every dtype and ranks 0..8, every truncation,
 * malformed headers, wrong magic, Fortran order, huge announced shapes, overflow in shape
 * products, typed TensorProto fields, and every input/output of ONNX's node test suite.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/guard.h"
#include "common/mem.h"
#include "eml/error.h"
#include "onnx/onnx.pb-c.h"
#include "prop.h"
#include "tensor/tensor_io.h"

static const int all_dtypes[] = {EML_DT_FLOAT,  EML_DT_DOUBLE, EML_DT_FLOAT16, EML_DT_INT64,
                                 EML_DT_INT32,  EML_DT_INT16,  EML_DT_INT8,    EML_DT_UINT8,
                                 EML_DT_UINT16, EML_DT_UINT32, EML_DT_UINT64,  EML_DT_BOOL};

/* A random tensor of the given dtype and rank, dims up to max_dim (0 = by rank: at most ~4096
 * elements); dims may be 0. */
static void random_tensor_dims(eml_rng *r, int dtype, uint32_t rank, int64_t max_dim,
                               eml_tensor_file *t)
{
	memset(t, 0, sizeof(*t));
	t->dtype = dtype;
	t->rank = rank;
	uint64_t elems = 1;
	for (uint32_t i = 0; i < rank; i++) {
		int64_t max = max_dim ? max_dim : rank <= 2 ? 40 : rank <= 4 ? 6 : 3;
		t->dims[i] = eml_rng_range(r, eml_rng_chance(r, 0.05) ? 0 : 1, max);
		elems *= (uint64_t)t->dims[i];
	}
	t->bytes = elems * eml_dtype_size(dtype);
	t->data = eml_alloc(t->bytes ? t->bytes : 1);
	cr_assert_not_null(t->data);
	eml_rng_bytes(r, t->data, t->bytes);
	if (dtype == EML_DT_BOOL)
		for (uint64_t i = 0; i < t->bytes; i++)
			t->data[i] &= 1;
}

static void random_tensor(eml_rng *r, int dtype, uint32_t rank, eml_tensor_file *t)
{
	random_tensor_dims(r, dtype, rank, 0, t);
}

static void assert_same(const eml_tensor_file *a, const eml_tensor_file *b)
{
	PROP_ASSERT(a->dtype == b->dtype, "dtype %d != %d", a->dtype, b->dtype);
	PROP_ASSERT(a->rank == b->rank, "rank %u != %u", a->rank, b->rank);
	for (uint32_t i = 0; i < a->rank; i++)
		PROP_ASSERT(a->dims[i] == b->dims[i], "dim %u", i);
	PROP_ASSERT(a->bytes == b->bytes, "bytes");
	PROP_ASSERT(a->bytes == 0 || memcmp(a->data, b->data, a->bytes) == 0, "data differs");
}

Test(tensor_io, round_trip_every_dtype_and_rank)
{
	PROP_FOR_EACH_CASE(rng)
	{
		for (size_t d = 0; d < EML_ARRAY_LEN(all_dtypes); d++) {
			for (uint32_t rank = 0; rank <= EML_MAX_RANK; rank++) {
				eml_tensor_file t, back;
				random_tensor(&rng, all_dtypes[d], rank, &t);
				uint8_t *buf;
				size_t len;

				PROP_ASSERT(eml_tensor_to_npy(&t, &buf, &len) == EML_OK, "to_npy");
				/* format.py: the preamble ends on a 64-byte boundary, with '\n'. */
				size_t hl = (size_t)buf[8] | ((size_t)buf[9] << 8);
				PROP_ASSERT((10 + hl) % 64 == 0 && buf[10 + hl - 1] == '\n',
				            "npy alignment");
				PROP_ASSERT(eml_tensor_parse(buf, len, &back) == EML_OK,
				            "parse npy");
				assert_same(&t, &back);
				PROP_ASSERT(back.name == NULL, "npy has no name");
				eml_tensor_file_cleanup(&back);
				eml_free(buf);

				t.name = eml_strdup("input_x");
				PROP_ASSERT(eml_tensor_to_pb(&t, &buf, &len) == EML_OK, "to_pb");
				PROP_ASSERT(eml_tensor_parse(buf, len, &back) == EML_OK,
				            "parse pb");
				assert_same(&t, &back);
				PROP_ASSERT(back.name != NULL && strcmp(back.name, "input_x") == 0,
				            "pb name");
				eml_tensor_file_cleanup(&back);
				eml_free(buf);
				eml_tensor_file_cleanup(&t);
			}
		}
	}
}

/* Exactly what NumPy writes for np.save(f, np.array([[1, 2, 3], [4, 5, 6]], dtype='<i4')). */
static size_t numpy_i4_2x3(uint8_t *out)
{
	const char *dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }";
	size_t k = 0;
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	k = 10;
	size_t dl = strlen(dict);
	memcpy(out + k, dict, dl);
	k += dl;
	while ((k + 1) % 64 != 0)
		out[k++] = ' ';
	out[k++] = '\n';
	out[8] = (uint8_t)(k - 10);
	out[9] = 0;
	for (int32_t v = 1; v <= 6; v++) {
		memcpy(out + k, &v, 4);
		k += 4;
	}
	return k;
}

Test(tensor_io, reads_numpy_written_bytes_and_writes_them_identically)
{
	uint8_t buf[256];
	size_t n = numpy_i4_2x3(buf);
	eml_tensor_file t;
	cr_assert_eq(eml_tensor_parse_npy(buf, n, &t), EML_OK);
	cr_assert_eq(t.dtype, EML_DT_INT32);
	cr_assert_eq(t.rank, 2);
	cr_assert_eq(t.dims[0], 2);
	cr_assert_eq(t.dims[1], 3);
	int32_t v[6];
	memcpy(v, t.data, 24);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(v[i], i + 1);
	uint8_t *out;
	size_t len;
	cr_assert_eq(eml_tensor_to_npy(&t, &out, &len), EML_OK);
	cr_assert_eq(len, n);
	cr_assert(memcmp(out, buf, n) == 0, "our writer differs from numpy's bytes");
	eml_free(out);
	eml_tensor_file_cleanup(&t);
}

/* Build an npy file with a given version and header text (padded as NumPy does). */
static size_t make_npy(uint8_t *out, size_t cap, int major, const char *dict, size_t body)
{
	size_t pre = major == 1 ? 10 : 12;
	size_t dl = strlen(dict);
	size_t hl = dl + 1;
	while ((pre + hl) % 64 != 0)
		hl++;
	cr_assert(pre + hl + body <= cap);
	memcpy(out, "\x93NUMPY", 6);
	out[6] = (uint8_t)major;
	out[7] = 0;
	if (major == 1) {
		out[8] = (uint8_t)hl;
		out[9] = (uint8_t)(hl >> 8);
	} else {
		uint32_t h = (uint32_t)hl;
		memcpy(out + 8, &h, 4);
	}
	memcpy(out + pre, dict, dl);
	memset(out + pre + dl, ' ', hl - dl - 1);
	out[pre + hl - 1] = '\n';
	memset(out + pre + hl, 0x11, body);
	return pre + hl + body;
}

static int parse_dict(int major, const char *dict, size_t body)
{
	static uint8_t buf[1 << 16];
	size_t n = make_npy(buf, sizeof(buf), major, dict, body);
	eml_tensor_file t;
	int rc = eml_tensor_parse_npy(buf, n, &t);
	if (rc == EML_OK)
		eml_tensor_file_cleanup(&t);
	return rc;
}

Test(tensor_io, npy_versions_and_accepted_header_variants)
{
	for (int v = 1; v <= 3; v++)
		cr_assert_eq(
		    parse_dict(v, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 12),
		    EML_OK, "version %d", v);
	/* Key order is free, quotes may be double, trailing comma optional, scalar shape (). */
	cr_assert_eq(
	    parse_dict(1, "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"|u1\"}", 4),
	    EML_OK);
	cr_assert_eq(parse_dict(1, "{'descr': '<f8', 'fortran_order': False, 'shape': ()}", 8),
	             EML_OK);
	cr_assert_eq(
	    parse_dict(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (0, 5), }", 0),
	    EML_OK);
	cr_assert_eq(
	    parse_dict(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,2,1,), }", 16),
	    EML_OK);
}

Test(tensor_io, npy_malformed_headers_are_refused)
{
	static const struct {
		const char *dict;
		int rc;
	} bad[] = {
	    {"", EML_E_TENSOR_FORMAT},
	    {"{", EML_E_TENSOR_FORMAT},
	    {"{}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"{'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
	     EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
	     EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (01,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr': '<\\x66\\x34', 'fortran_order': False, 'shape': (1,)}",
	     EML_E_TENSOR_FORMAT},
	    {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
	     EML_E_TENSOR_FORMAT},
	    {"{descr: '<f4', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_FORMAT},
	    {"('descr', '<f4')", EML_E_TENSOR_FORMAT},
	    /* dtypes */
	    {"{'descr': '>f4', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    {"{'descr': '=f4', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    {"{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    {"{'descr': '<U4', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    {"{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    {"{'descr': '<f16', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    {"{'descr': 'f4', 'fortran_order': False, 'shape': (1,)}", EML_E_TENSOR_DTYPE},
	    /* Fortran order is refused with its own code */
	    {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
	     EML_E_TENSOR_FORTRAN_ORDER},
	    /* ranks above 8 */
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
	     EML_E_LIMIT},
	};
	for (size_t i = 0; i < EML_ARRAY_LEN(bad); i++) {
		int rc = parse_dict(1, bad[i].dict, 64);
		cr_assert_eq(rc, bad[i].rc, "header %zu '%s': got %s, want %s", i, bad[i].dict,
		             eml_err_name(rc), eml_err_name(bad[i].rc));
	}
}

Test(tensor_io, npy_wrong_magic_version_and_header_length)
{
	uint8_t buf[256];
	size_t n = numpy_i4_2x3(buf);
	eml_tensor_file t;
	for (size_t i = 0; i < 6; i++) {
		uint8_t c[256];
		memcpy(c, buf, n);
		c[i] ^= 0x20;
		cr_assert_eq(eml_tensor_parse_npy(c, n, &t), EML_E_TENSOR_FORMAT, "magic byte %zu",
		             i);
	}
	uint8_t c[256];
	memcpy(c, buf, n);
	c[6] = 4;
	cr_assert_eq(eml_tensor_parse_npy(c, n, &t), EML_E_TENSOR_VERSION);
	c[6] = 0;
	cr_assert_eq(eml_tensor_parse_npy(c, n, &t), EML_E_TENSOR_VERSION);
	c[6] = 1;
	c[7] = 1;
	cr_assert_eq(eml_tensor_parse_npy(c, n, &t), EML_E_TENSOR_VERSION);
	/* Header length beyond the named limit, refused before anything else is read. */
	memcpy(c, buf, n);
	c[8] = 0xff;
	c[9] = 0xff;
	cr_assert_eq(eml_tensor_parse_npy(c, n, &t), EML_E_LIMIT);
	/* Header length pointing past the end. */
	c[8] = 0xf0;
	c[9] = 0x00;
	cr_assert_eq(eml_tensor_parse_npy(c, n, &t), EML_E_TRUNCATED);
	/* Extra bytes after the data. */
	memcpy(c, buf, n);
	c[n] = 0;
	cr_assert_eq(eml_tensor_parse_npy(c, n + 1, &t), EML_E_TRAILING);
	/* Via the generic entry, a non-npy non-protobuf blob is a malformed tensor. */
	cr_assert_eq(eml_tensor_parse((const uint8_t *)"\xff\xff\xff\xff", 4, &t),
	             EML_E_TENSOR_FORMAT);
}

Test(tensor_io, every_truncation_fails)
{
	PROP_FOR_EACH_CASE(rng)
	{
		int dtype = all_dtypes[eml_rng_below(&rng, EML_ARRAY_LEN(all_dtypes))];
		eml_tensor_file t, back;
		memset(&t, 0, sizeof(t));
		do {
			eml_tensor_file_cleanup(&t);
			random_tensor_dims(&rng, dtype, (uint32_t)eml_rng_range(&rng, 0, 4), 3, &t);
		} while (t.bytes == 0);
		uint8_t *buf[2];
		size_t len[2];
		PROP_ASSERT(eml_tensor_to_npy(&t, &buf[0], &len[0]) == EML_OK, "npy");
		PROP_ASSERT(eml_tensor_to_pb(&t, &buf[1], &len[1]) == EML_OK, "pb");
		for (int f = 0; f < 2; f++) {
			for (size_t cut = 0; cut < len[f]; cut++) {
				/* Copy, so that the parser cannot read past the cut (ASan sees it). */
				uint8_t *c = malloc(cut ? cut : 1);
				memcpy(c, buf[f], cut);
				int rc = f == 0 ? eml_tensor_parse_npy(c, cut, &back)
				                : eml_tensor_parse_pb(c, cut, &back);
				free(c);
				PROP_ASSERT(rc != EML_OK, "format %d cut at %zu of %zu parsed", f,
				            cut, len[f]);
			}
			eml_free(buf[f]);
		}
		eml_tensor_file_cleanup(&t);
	}
}

Test(tensor_io, huge_announced_shapes_and_overflow_are_refused_before_allocating)
{
	/* Each body is tiny; none of these may allocate the announced size. */
	cr_assert_eq(
	    parse_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }", 64),
	    EML_E_TRUNCATED);
	cr_assert_eq(parse_dict(1,
	                        "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, "
	                        "2), }",
	                        64),
	             EML_E_LIMIT);
	cr_assert_eq(parse_dict(1,
	                        "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, "
	                        "4294967296, 4294967296), }",
	                        64),
	             EML_E_OVERFLOW);
	cr_assert_eq(parse_dict(1,
	                        "{'descr': '<f8', 'fortran_order': False, 'shape': "
	                        "(9223372036854775807, 3), }",
	                        64),
	             EML_E_OVERFLOW);
	cr_assert_eq(parse_dict(1,
	                        "{'descr': '<f8', 'fortran_order': False, 'shape': "
	                        "(9223372036854775808,), }",
	                        64),
	             EML_E_OVERFLOW);
	cr_assert_eq(parse_dict(1,
	                        "{'descr': '<f8', 'fortran_order': False, 'shape': "
	                        "(99999999999999999999999,), }",
	                        64),
	             EML_E_OVERFLOW);

	/* The same through TensorProto dims. */
	int64_t dims[9] = {65536, 65536, 2, 1, 1, 1, 1, 1, 1};
	Onnx__TensorProto tp;
	onnx__tensor_proto__init(&tp);
	tp.has_data_type = 1;
	tp.data_type = EML_DT_FLOAT;
	tp.n_dims = 3;
	tp.dims = dims;
	tp.has_raw_data = 1;
	uint8_t small[16] = {0};
	tp.raw_data.data = small;
	tp.raw_data.len = sizeof(small);
	uint8_t buf[256];
	size_t n = onnx__tensor_proto__pack(&tp, buf);
	eml_tensor_file t;
	cr_assert_eq(eml_tensor_parse_pb(buf, n, &t), EML_E_LIMIT);
	dims[0] = INT64_MAX;
	dims[1] = 3;
	n = onnx__tensor_proto__pack(&tp, buf);
	cr_assert_eq(eml_tensor_parse_pb(buf, n, &t), EML_E_OVERFLOW);
	dims[0] = -1;
	n = onnx__tensor_proto__pack(&tp, buf);
	cr_assert_eq(eml_tensor_parse_pb(buf, n, &t), EML_E_TENSOR_FORMAT);
	dims[0] = 1;
	dims[1] = 1;
	dims[2] = 1;
	tp.n_dims = 9;
	n = onnx__tensor_proto__pack(&tp, buf);
	cr_assert_eq(eml_tensor_parse_pb(buf, n, &t), EML_E_LIMIT);
	/* Declared size and raw_data length disagree. */
	tp.n_dims = 2;
	dims[0] = 2;
	dims[1] = 3;
	n = onnx__tensor_proto__pack(&tp, buf);
	cr_assert_eq(eml_tensor_parse_pb(buf, n, &t), EML_E_TENSOR_FORMAT);
	dims[1] = 2;
	n = onnx__tensor_proto__pack(&tp, buf);
	cr_assert_eq(eml_tensor_parse_pb(buf, n, &t), EML_OK);
	eml_tensor_file_cleanup(&t);
}

static int pack_parse(Onnx__TensorProto *tp, eml_tensor_file *t)
{
	static uint8_t buf[4096];
	size_t n = onnx__tensor_proto__pack(tp, buf);
	return eml_tensor_parse_pb(buf, n, t);
}

Test(tensor_io, pb_typed_fields)
{
	int64_t dims[1] = {3};
	Onnx__TensorProto tp;
	eml_tensor_file t;

	onnx__tensor_proto__init(&tp);
	tp.has_data_type = 1;
	tp.n_dims = 1;
	tp.dims = dims;

	float f[3] = {1.5f, -2.0f, 3.25f};
	tp.data_type = EML_DT_FLOAT;
	tp.n_float_data = 3;
	tp.float_data = f;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	cr_assert_eq(t.bytes, 12);
	cr_assert(memcmp(t.data, f, 12) == 0);
	eml_tensor_file_cleanup(&t);
	/* A float tensor with a field of another type as well is malformed. */
	int32_t i32[3] = {-128, 0, 127};
	tp.n_int32_data = 3;
	tp.int32_data = i32;
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_FORMAT);
	tp.n_float_data = 0;

	tp.data_type = EML_DT_INT8;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	cr_assert_eq(t.bytes, 3);
	cr_assert_eq((int8_t)t.data[0], -128);
	cr_assert_eq((int8_t)t.data[2], 127);
	eml_tensor_file_cleanup(&t);
	tp.data_type = EML_DT_UINT8; /* -128 does not fit */
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_FORMAT);
	tp.data_type = EML_DT_BOOL;
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_FORMAT);
	int32_t b[3] = {1, 0, 1};
	tp.int32_data = b;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	cr_assert(t.data[0] == 1 && t.data[1] == 0 && t.data[2] == 1);
	eml_tensor_file_cleanup(&t);
	int32_t h[3] = {0x3c00, 0xc000, 0x7bff}; /* 1.0, -2.0, 65504 as IEEE half */
	tp.int32_data = h;
	tp.data_type = EML_DT_FLOAT16;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	uint16_t hv[3];
	memcpy(hv, t.data, 6);
	cr_assert(hv[0] == 0x3c00 && hv[1] == 0xc000 && hv[2] == 0x7bff);
	eml_tensor_file_cleanup(&t);
	tp.n_int32_data = 2; /* count mismatch */
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_FORMAT);
	tp.n_int32_data = 0;

	int64_t i64[3] = {INT64_MIN, 0, INT64_MAX};
	tp.data_type = EML_DT_INT64;
	tp.n_int64_data = 3;
	tp.int64_data = i64;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	cr_assert(memcmp(t.data, i64, 24) == 0);
	eml_tensor_file_cleanup(&t);
	tp.n_int64_data = 0;

	double d[3] = {1e300, -0.5, 0};
	tp.data_type = EML_DT_DOUBLE;
	tp.n_double_data = 3;
	tp.double_data = d;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	cr_assert(memcmp(t.data, d, 24) == 0);
	eml_tensor_file_cleanup(&t);
	tp.n_double_data = 0;

	uint64_t u64[3] = {UINT64_MAX, 7, 0};
	tp.data_type = EML_DT_UINT64;
	tp.n_uint64_data = 3;
	tp.uint64_data = u64;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	cr_assert(memcmp(t.data, u64, 24) == 0);
	eml_tensor_file_cleanup(&t);
	tp.data_type = EML_DT_UINT32; /* UINT64_MAX does not fit */
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_FORMAT);
	u64[0] = UINT32_MAX;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	uint32_t u32[3];
	memcpy(u32, t.data, 12);
	cr_assert(u32[0] == UINT32_MAX && u32[1] == 7 && u32[2] == 0);
	eml_tensor_file_cleanup(&t);
	tp.n_uint64_data = 0;

	/* Scalars: no dims, one element. */
	tp.n_dims = 0;
	tp.data_type = EML_DT_FLOAT;
	tp.n_float_data = 1;
	tp.float_data = f;
	cr_assert_eq(pack_parse(&tp, &t), EML_OK);
	cr_assert_eq(t.rank, 0);
	cr_assert_eq(t.bytes, 4);
	eml_tensor_file_cleanup(&t);
	tp.n_float_data = 0;

	/* Refused: strings, unknown types, missing type, external data, segments. */
	tp.data_type = EML_DT_STRING;
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_DTYPE);
	tp.data_type = 16; /* bfloat16 */
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_DTYPE);
	tp.data_type = 999;
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_DTYPE);
	tp.has_data_type = 0;
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_FORMAT);
	tp.has_data_type = 1;
	tp.data_type = EML_DT_FLOAT;
	tp.n_float_data = 1;
	tp.has_data_location = 1;
	tp.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_UNSUPPORTED);
	tp.has_data_location = 0;
	Onnx__TensorProto__Segment seg;
	onnx__tensor_proto__segment__init(&seg);
	tp.segment = &seg;
	cr_assert_eq(pack_parse(&tp, &t), EML_E_TENSOR_UNSUPPORTED);
}

Test(tensor_io, files_round_trip_by_extension_owner_only)
{
	char *dir = eml_test_tmpdir();
	char path[4096];
	eml_tensor_file t, back;
	eml_rng r;
	eml_rng_seed(&r, 42);
	random_tensor(&r, EML_DT_FLOAT, 3, &t);
	const char *ext[] = {"npy", "pb"};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/out.%s", dir, ext[i]);
		cr_assert_eq(eml_tensor_write_file(path, &t), EML_OK);
		struct stat st;
		cr_assert_eq(stat(path, &st), 0);
		cr_assert_eq(st.st_mode & 0777, 0600);
		cr_assert_eq(eml_tensor_read_file(path, &back), EML_OK);
		assert_same(&t, &back);
		eml_tensor_file_cleanup(&back);
	}
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	cr_assert_eq(eml_tensor_write_file(path, &t), EML_E_ARG);
	snprintf(path, sizeof(path), "%s/missing.npy", dir);
	cr_assert_eq(eml_tensor_read_file(path, &back), EML_E_NOT_FOUND);
	eml_tensor_file_cleanup(&t);
	eml_test_rmtree(dir);
	free(dir);
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	*n = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *buf = malloc(*n + 1);
	cr_assert_eq(fread(buf, 1, *n, fp), *n);
	fclose(fp);
	return buf;
}

/* Is input/output number k of the test's model a tensor (not a sequence, optional or map)? */
static int io_is_tensor(const Onnx__ModelProto *m, int is_input, size_t k)
{
	const Onnx__GraphProto *g = m->graph;
	size_t n = is_input ? g->n_input : g->n_output;
	Onnx__ValueInfoProto **v = is_input ? g->input : g->output;
	if (k >= n || v[k]->type == NULL)
		return 1;
	return v[k]->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
}

/* Every input_*.pb / output_*.pb of ONNX's test suites parses (node, and the pytorch-converted,
 * pytorch-operator and simple suites too). Skipped, with explicit counts: string tensors (a dtype
 * we do not support) and values that are not tensors at all (SequenceProto / OptionalProto files
 * of the sequence and optional operator tests). */
static void read_suite(const char *root, size_t *ok_out, size_t *str_out, size_t *nontensor_out)
{
	DIR *d = opendir(root);
	cr_assert_not_null(d, "libonnx-testdata is missing (%s): run scripts/install-deps", root);
	size_t ok = 0, skipped_string = 0, skipped_nontensor = 0, failed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char tdir[1024], mpath[1100];
		snprintf(tdir, sizeof(tdir), "%s/%s", root, e->d_name);
		snprintf(mpath, sizeof(mpath), "%s/model.onnx", tdir);
		size_t mn;
		uint8_t *mb = slurp(mpath, &mn);
		if (mb == NULL)
			continue;
		Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, mn, mb);
		free(mb);
		cr_assert(model != NULL && model->graph != NULL, "%s does not parse", mpath);
		DIR *td = opendir(tdir);
		cr_assert_not_null(td);
		struct dirent *s;
		while ((s = readdir(td)) != NULL) {
			if (strncmp(s->d_name, "test_data_set_", 14) != 0)
				continue;
			char sdir[2048];
			snprintf(sdir, sizeof(sdir), "%s/%s", tdir, s->d_name);
			DIR *sd = opendir(sdir);
			cr_assert_not_null(sd);
			struct dirent *f;
			while ((f = readdir(sd)) != NULL) {
				size_t l = strlen(f->d_name);
				if (l < 4 || strcmp(f->d_name + l - 3, ".pb") != 0)
					continue;
				int is_input = strncmp(f->d_name, "input_", 6) == 0;
				size_t k = strtoul(f->d_name + (is_input ? 6 : 7), NULL, 10);
				char path[3072];
				snprintf(path, sizeof(path), "%s/%s", sdir, f->d_name);
				if (!io_is_tensor(model, is_input, k)) {
					skipped_nontensor++;
					continue;
				}
				eml_tensor_file t;
				int rc = eml_tensor_read_file(path, &t);
				if (rc == EML_OK) {
					ok++;
					eml_tensor_file_cleanup(&t);
					continue;
				}
				/* Say why: only strings may be refused. */
				size_t n;
				uint8_t *buf = slurp(path, &n);
				Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, n, buf);
				free(buf);
				if (rc == EML_E_TENSOR_DTYPE && tp != NULL &&
				    tp->data_type == EML_DT_STRING) {
					skipped_string++;
				} else {
					cr_log_error("%s: %s", path, eml_err_name(rc));
					failed++;
				}
				if (tp != NULL)
					onnx__tensor_proto__free_unpacked(tp, NULL);
			}
			closedir(sd);
		}
		closedir(td);
		onnx__model_proto__free_unpacked(model, NULL);
	}
	closedir(d);
	printf("%s: %zu tensors read; skipped: %zu string tensors, %zu non-tensor values "
	       "(sequence/optional)\n",
	       root, ok, skipped_string, skipped_nontensor);
	cr_assert_eq(failed, 0, "%s: %zu tensor files failed to parse", root, failed);
	*ok_out = ok;
	*str_out = skipped_string;
	*nontensor_out = skipped_nontensor;
}

Test(tensor_io, reads_every_tensor_of_the_onnx_test_suites)
{
	static const char *suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
	size_t ok[4], str[4], nt[4];
	for (size_t i = 0; i < 4; i++) {
		char root[256];
		snprintf(root, sizeof(root), "/usr/share/libonnx-testdata/data/%s", suites[i]);
		read_suite(root, &ok[i], &str[i], &nt[i]);
		cr_assert(ok[i] > 0, "no tensors read in %s", root);
	}
	/* The node suite alone has well over 2000 tensor files; a drop means files went unseen. */
	cr_assert(ok[0] > 2000, "too few node tensors read (%zu)", ok[0]);
}
