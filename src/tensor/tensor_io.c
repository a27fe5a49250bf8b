/*
 * Tensor files: NumPy .npy and ONNX TensorProto .pb (see tensor_io.h).
 *
 * .npy follows the NumPy format specification (numpy/lib/format.py, "NEP 1"): the magic
 * "\x93NUMPY", a major/minor version (1.0: u16 header length; 2.0 and 3.0: u32 header length;
 * 3.0 allows UTF-8 in the header), then a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and a newline,
 * then the raw element bytes in C order. We parse that literal strictly (exactly these three
 * keys, each once, plain string/bool/tuple-of-int values) instead of evaluating it.
 *
 * .pb is onnx.proto's TensorProto: dims, data_type, name and the payload either in raw_data
 * (little-endian fixed width) or in the typed repeated field that onnx.proto names for the type
 * (float_data, int32_data, int64_data, double_data, uint64_data). Segments and external data
 * are refused.
 */
#include "tensor/tensor_io.h"

#include <stdio.h>
#include <string.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "onnx/onnx.pb-c.h"

/* NumPy's own reader refuses headers above 10000 bytes by default (max_header_size); a header
 * for rank <= 8 is well under 200 bytes. */
#define EML_NPY_MAX_HEADER_BYTES 10000u
#define EML_NPY_MAGIC "\x93NUMPY"
#define EML_NPY_MAGIC_LEN 6u
/* Total preamble (magic, version, length, header) is padded to this (format.py ARRAY_ALIGN). */
#define EML_NPY_ALIGN 64u

/* ---- shared helpers ---------------------------------------------------------------------- */

static int dtype_supported(int dtype)
{
	switch (dtype) {
	case EML_DT_FLOAT:
	case EML_DT_UINT8:
	case EML_DT_INT8:
	case EML_DT_UINT16:
	case EML_DT_INT16:
	case EML_DT_INT32:
	case EML_DT_INT64:
	case EML_DT_BOOL:
	case EML_DT_FLOAT16:
	case EML_DT_DOUBLE:
	case EML_DT_UINT32:
	case EML_DT_UINT64:
		return 1;
	default:
		return 0;
	}
}

/* Element count and byte size of a shape, checking the named limits and overflow. */
static int shape_bytes(int dtype, uint32_t rank, const int64_t *dims, uint64_t *elems_out,
                       uint64_t *bytes_out)
{
	if (rank > EML_MAX_RANK)
		return EML_E_LIMIT;
	uint64_t elems = 1;
	int zero = 0;
	for (uint32_t i = 0; i < rank; i++) {
		if (dims[i] < 0)
			return EML_E_TENSOR_FORMAT;
		if (dims[i] == 0) {
			zero = 1;
			continue;
		}
		uint64_t d = (uint64_t)dims[i];
		if (elems > UINT64_MAX / d)
			return EML_E_OVERFLOW;
		elems *= d;
	}
	/* A zero dimension makes the tensor empty, but the other dims still had to be sane. */
	if (elems > EML_MAX_TENSOR_ELEMS)
		return EML_E_LIMIT;
	if (zero)
		elems = 0;
	uint64_t esz = eml_dtype_size(dtype);
	if (esz == 0)
		return EML_E_TENSOR_DTYPE;
	uint64_t bytes = elems * esz; /* elems <= 2^32, esz <= 8: no overflow */
	if (bytes > EML_TENSOR_FILE_MAX_BYTES)
		return EML_E_LIMIT;
	*elems_out = elems;
	*bytes_out = bytes;
	return EML_OK;
}

/* Booleans are stored as bytes; anything nonzero is true (NumPy and ONNX both mean 0/1). */
static void normalize_bool(eml_tensor_file *t)
{
	if (t->dtype != EML_DT_BOOL)
		return;
	for (uint64_t i = 0; i < t->bytes; i++)
		t->data[i] = t->data[i] != 0;
}

void eml_tensor_file_cleanup(eml_tensor_file *t)
{
	if (t == NULL)
		return;
	eml_free(t->data);
	eml_free(t->name);
	memset(t, 0, sizeof(*t));
}

/* ---- .npy ---------------------------------------------------------------------------------- */

struct npy_descr {
	const char *code; /* kind + size, without the byte-order character */
	int dtype;
};

static const struct npy_descr npy_descrs[] = {
    {"f4", EML_DT_FLOAT},  {"f8", EML_DT_DOUBLE}, {"f2", EML_DT_FLOAT16}, {"i8", EML_DT_INT64},
    {"i4", EML_DT_INT32},  {"i2", EML_DT_INT16},  {"i1", EML_DT_INT8},    {"u1", EML_DT_UINT8},
    {"u2", EML_DT_UINT16}, {"u4", EML_DT_UINT32}, {"u8", EML_DT_UINT64},  {"b1", EML_DT_BOOL},
};

static const char *npy_code(int dtype)
{
	for (size_t i = 0; i < EML_ARRAY_LEN(npy_descrs); i++)
		if (npy_descrs[i].dtype == dtype)
			return npy_descrs[i].code;
	return NULL;
}

/* A tiny strict scanner over the header bytes. */
typedef struct npy_scan {
	const uint8_t *p;
	size_t n, i;
} npy_scan;

static void scan_ws(npy_scan *s)
{
	while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\t'))
		s->i++;
}

static int scan_char(npy_scan *s, char c)
{
	scan_ws(s);
	if (s->i < s->n && s->p[s->i] == (uint8_t)c) {
		s->i++;
		return 1;
	}
	return 0;
}

/* A Python string literal in single or double quotes, without escapes, at most cap-1 bytes. */
static int scan_str(npy_scan *s, char *out, size_t cap)
{
	scan_ws(s);
	if (s->i >= s->n || (s->p[s->i] != '\'' && s->p[s->i] != '"'))
		return EML_E_TENSOR_FORMAT;
	uint8_t q = s->p[s->i++];
	size_t k = 0;
	while (s->i < s->n && s->p[s->i] != q) {
		uint8_t c = s->p[s->i++];
		if (c == '\\' || c < 0x20 || c >= 0x7f || k + 1 >= cap)
			return EML_E_TENSOR_FORMAT;
		out[k++] = (char)c;
	}
	if (s->i >= s->n)
		return EML_E_TENSOR_FORMAT;
	s->i++;
	out[k] = '\0';
	return EML_OK;
}

static int scan_word(npy_scan *s, const char *w)
{
	scan_ws(s);
	size_t l = strlen(w);
	if (s->n - s->i < l || memcmp(s->p + s->i, w, l) != 0)
		return 0;
	/* The word must end here (no "Falsey"). */
	if (s->i + l < s->n) {
		uint8_t c = s->p[s->i + l];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_')
			return 0;
	}
	s->i += l;
	return 1;
}

/* A non-negative decimal integer as Python writes it (no sign, no leading zeros). */
static int scan_dim(npy_scan *s, int64_t *v)
{
	scan_ws(s);
	size_t start = s->i;
	uint64_t x = 0;
	while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9') {
		uint64_t d = (uint64_t)(s->p[s->i] - '0');
		if (x > ((uint64_t)INT64_MAX - d) / 10)
			return EML_E_OVERFLOW;
		x = x * 10 + d;
		s->i++;
	}
	if (s->i == start)
		return EML_E_TENSOR_FORMAT;
	if (s->i - start > 1 && s->p[start] == '0')
		return EML_E_TENSOR_FORMAT;
	*v = (int64_t)x;
	return EML_OK;
}

/* (), (n,), (n, m), (n, m,) ... ; "(n)" is an int in Python, not a tuple: refused. */
static int scan_shape(npy_scan *s, uint32_t *rank, int64_t *dims)
{
	int rc = EML_OK;
	EML_ENSURE(scan_char(s, '('), EML_E_TENSOR_FORMAT);
	uint32_t r = 0;
	if (!scan_char(s, ')')) {
		for (;;) {
			/* The limit is checked before the dimension is stored. */
			EML_ENSURE(r < EML_MAX_RANK, EML_E_LIMIT);
			EML_GUARD(scan_dim(s, &dims[r]));
			r++;
			if (scan_char(s, ')')) {
				EML_ENSURE(r >= 2, EML_E_TENSOR_FORMAT);
				break;
			}
			EML_ENSURE(scan_char(s, ','), EML_E_TENSOR_FORMAT);
			if (scan_char(s, ')'))
				break;
		}
	}
	*rank = r;
out:
	return rc;
}

static int npy_parse_header(const uint8_t *h, size_t n, eml_tensor_file *t)
{
	int rc = EML_OK;
	npy_scan s = {h, n, 0};
	int have_descr = 0, have_fortran = 0, have_shape = 0;
	char key[32], descr[16];

	EML_ENSURE(scan_char(&s, '{'), EML_E_TENSOR_FORMAT);
	for (;;) {
		if (scan_char(&s, '}'))
			break;
		EML_GUARD(scan_str(&s, key, sizeof(key)));
		EML_ENSURE(scan_char(&s, ':'), EML_E_TENSOR_FORMAT);
		if (strcmp(key, "descr") == 0) {
			EML_ENSURE(!have_descr, EML_E_TENSOR_FORMAT);
			have_descr = 1;
			/* A structured dtype would be a list here, not a string: refused. */
			EML_GUARD(scan_str(&s, descr, sizeof(descr)));
		} else if (strcmp(key, "fortran_order") == 0) {
			EML_ENSURE(!have_fortran, EML_E_TENSOR_FORMAT);
			have_fortran = 1;
			if (scan_word(&s, "True"))
				EML_FAIL(EML_E_TENSOR_FORTRAN_ORDER);
			EML_ENSURE(scan_word(&s, "False"), EML_E_TENSOR_FORMAT);
		} else if (strcmp(key, "shape") == 0) {
			EML_ENSURE(!have_shape, EML_E_TENSOR_FORMAT);
			have_shape = 1;
			EML_GUARD(scan_shape(&s, &t->rank, t->dims));
		} else {
			EML_FAIL(EML_E_TENSOR_FORMAT);
		}
		if (scan_char(&s, '}'))
			break;
		EML_ENSURE(scan_char(&s, ','), EML_E_TENSOR_FORMAT);
	}
	EML_ENSURE(have_descr && have_fortran && have_shape, EML_E_TENSOR_FORMAT);
	/* Only padding may follow: spaces, and a final newline (format.py writes exactly that). */
	while (s.i < s.n && s.p[s.i] == ' ')
		s.i++;
	if (s.i < s.n && s.p[s.i] == '\n')
		s.i++;
	EML_ENSURE(s.i == s.n, EML_E_TENSOR_FORMAT);

	/* descr: byte order then kind+size. '<' little-endian, '|' not applicable (1-byte types);
	 * '=' (native) is what NumPy writes for nothing, and '>' is big-endian: refused. */
	size_t dl = strlen(descr);
	EML_ENSURE(dl >= 3, EML_E_TENSOR_DTYPE);
	int dtype = EML_DT_UNDEFINED;
	for (size_t i = 0; i < EML_ARRAY_LEN(npy_descrs); i++)
		if (strcmp(descr + 1, npy_descrs[i].code) == 0)
			dtype = npy_descrs[i].dtype;
	EML_ENSURE(dtype != EML_DT_UNDEFINED, EML_E_TENSOR_DTYPE);
	if (descr[0] == '|')
		EML_ENSURE(eml_dtype_size(dtype) == 1, EML_E_TENSOR_DTYPE);
	else
		EML_ENSURE(descr[0] == '<', EML_E_TENSOR_DTYPE);
	t->dtype = dtype;
out:
	return rc;
}

int eml_tensor_parse_npy(const uint8_t *p, size_t n, eml_tensor_file *out)
{
	int rc = EML_OK;
	eml_tensor_file t;
	memset(&t, 0, sizeof(t));
	eml_cursor c;
	const uint8_t *magic, *hdr, *body;
	uint8_t major, minor;
	uint32_t hlen;
	uint64_t elems, bytes;

	EML_ENSURE(p != NULL && out != NULL, EML_E_ARG);
	memset(out, 0, sizeof(*out));
	eml_cur_init(&c, p, n);
	EML_GUARD(eml_cur_view(&c, EML_NPY_MAGIC_LEN, &magic));
	EML_ENSURE(memcmp(magic, EML_NPY_MAGIC, EML_NPY_MAGIC_LEN) == 0, EML_E_TENSOR_FORMAT);
	EML_GUARD(eml_cur_u8(&c, &major));
	EML_GUARD(eml_cur_u8(&c, &minor));
	EML_ENSURE(major >= 1 && major <= 3 && minor == 0, EML_E_TENSOR_VERSION);
	if (major == 1) {
		uint16_t h16;
		EML_GUARD(eml_cur_u16(&c, &h16));
		hlen = h16;
	} else {
		EML_GUARD(eml_cur_u32(&c, &hlen));
	}
	EML_ENSURE(hlen <= EML_NPY_MAX_HEADER_BYTES, EML_E_LIMIT);
	EML_GUARD(eml_cur_view(&c, hlen, &hdr));
	EML_GUARD(npy_parse_header(hdr, hlen, &t));
	EML_GUARD(shape_bytes(t.dtype, t.rank, t.dims, &elems, &bytes));
	/* The announced size is checked against what is really there before allocating. */
	EML_ENSURE(eml_cur_remaining(&c) >= bytes, EML_E_TRUNCATED);
	EML_GUARD(eml_cur_view(&c, (size_t)bytes, &body));
	EML_GUARD(eml_cur_end(&c));
	t.data = eml_alloc(bytes != 0 ? (size_t)bytes : 1);
	EML_ENSURE(t.data != NULL, EML_E_NOMEM);
	if (bytes != 0)
		memcpy(t.data, body, (size_t)bytes);
	t.bytes = bytes;
	normalize_bool(&t);
	*out = t;
	memset(&t, 0, sizeof(t));
out:
	eml_tensor_file_cleanup(&t);
	return rc;
}

int eml_tensor_to_npy(const eml_tensor_file *t, uint8_t **out, size_t *len)
{
	int rc = EML_OK;
	eml_buf b;
	eml_buf_init(&b, 0);
	char hdr[512];
	uint64_t elems, bytes;

	EML_ENSURE(t != NULL && out != NULL && len != NULL, EML_E_ARG);
	const char *code = npy_code(t->dtype);
	EML_ENSURE(code != NULL, EML_E_TENSOR_DTYPE);
	EML_GUARD(shape_bytes(t->dtype, t->rank, t->dims, &elems, &bytes));
	EML_ENSURE(bytes == t->bytes && (bytes == 0 || t->data != NULL), EML_E_ARG);

	/* The dict exactly as numpy.lib.format writes it. */
	size_t k = 0;
	k += (size_t)snprintf(hdr + k, sizeof(hdr) - k,
	                      "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
	                      eml_dtype_size(t->dtype) == 1 ? '|' : '<', code);
	for (uint32_t i = 0; i < t->rank; i++)
		k += (size_t)snprintf(hdr + k, sizeof(hdr) - k, "%s%lld", i ? ", " : "",
		                      (long long)t->dims[i]);
	k += (size_t)snprintf(hdr + k, sizeof(hdr) - k, "%s), }", t->rank == 1 ? "," : "");
	EML_ENSURE(k < sizeof(hdr) - EML_NPY_ALIGN, EML_E_INTERNAL);
	/* Pad with spaces so that magic(6)+version(2)+len(2)+header ends on a 64-byte boundary,
	 * the last byte being '\n'. Version 1.0 always suffices for rank <= 8. */
	size_t pre = EML_NPY_MAGIC_LEN + 2 + 2;
	size_t total = pre + k + 1;
	size_t pad = (EML_NPY_ALIGN - total % EML_NPY_ALIGN) % EML_NPY_ALIGN;
	memset(hdr + k, ' ', pad);
	k += pad;
	hdr[k++] = '\n';

	size_t cap;
	EML_GUARD(eml_add_size(pre + k, (size_t)bytes, &cap));
	EML_GUARD(eml_buf_reserve(&b, cap));
	eml_buf_put(&b, EML_NPY_MAGIC, EML_NPY_MAGIC_LEN);
	eml_buf_u8(&b, 1);
	eml_buf_u8(&b, 0);
	eml_buf_u16(&b, (uint16_t)k);
	eml_buf_put(&b, hdr, k);
	if (bytes != 0)
		eml_buf_put(&b, t->data, (size_t)bytes);
	EML_GUARD(eml_buf_error(&b));
	*out = eml_buf_take(&b, len);
	EML_ENSURE(*out != NULL, EML_E_NOMEM);
out:
	eml_buf_cleanup(&b);
	return rc;
}

/* ---- .pb (TensorProto) ----------------------------------------------------------------------- */

/* protobuf-c allocations go through the wiping allocator: tensors may be secret inputs. */
static void *pb_alloc(void *ctx, size_t n)
{
	(void)ctx;
	return eml_alloc(n);
}

static void pb_free(void *ctx, void *p)
{
	(void)ctx;
	eml_free(p);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* Store one value from int32_data into element i, checking that it fits the type. */
static int put_i32(eml_tensor_file *t, uint64_t i, int32_t v)
{
	uint8_t *d = t->data;
	switch (t->dtype) {
	case EML_DT_INT32:
		memcpy(d + 4 * i, &v, 4);
		return EML_OK;
	case EML_DT_INT16: {
		if (v < INT16_MIN || v > INT16_MAX)
			return EML_E_TENSOR_FORMAT;
		int16_t x = (int16_t)v;
		memcpy(d + 2 * i, &x, 2);
		return EML_OK;
	}
	case EML_DT_UINT16:
	case EML_DT_FLOAT16: { /* FLOAT16: the IEEE half bit pattern (onnx.proto) */
		if (v < 0 || v > UINT16_MAX)
			return EML_E_TENSOR_FORMAT;
		uint16_t x = (uint16_t)v;
		memcpy(d + 2 * i, &x, 2);
		return EML_OK;
	}
	case EML_DT_INT8:
		if (v < INT8_MIN || v > INT8_MAX)
			return EML_E_TENSOR_FORMAT;
		d[i] = (uint8_t)(int8_t)v;
		return EML_OK;
	case EML_DT_UINT8:
		if (v < 0 || v > UINT8_MAX)
			return EML_E_TENSOR_FORMAT;
		d[i] = (uint8_t)v;
		return EML_OK;
	case EML_DT_BOOL:
		if (v != 0 && v != 1)
			return EML_E_TENSOR_FORMAT;
		d[i] = (uint8_t)v;
		return EML_OK;
	default:
		return EML_E_INTERNAL;
	}
}

static int pb_fill_typed(const Onnx__TensorProto *tp, eml_tensor_file *t, uint64_t elems)
{
	int rc = EML_OK;
	size_t others = 0; /* elements present in typed fields that do not belong to this dtype */
	switch (t->dtype) {
	case EML_DT_FLOAT:
		EML_ENSURE(tp->n_float_data == elems, EML_E_TENSOR_FORMAT);
		if (elems)
			memcpy(t->data, tp->float_data, (size_t)elems * 4);
		others =
		    tp->n_int32_data + tp->n_int64_data + tp->n_double_data + tp->n_uint64_data;
		break;
	case EML_DT_DOUBLE:
		EML_ENSURE(tp->n_double_data == elems, EML_E_TENSOR_FORMAT);
		if (elems)
			memcpy(t->data, tp->double_data, (size_t)elems * 8);
		others = tp->n_float_data + tp->n_int32_data + tp->n_int64_data + tp->n_uint64_data;
		break;
	case EML_DT_INT64:
		EML_ENSURE(tp->n_int64_data == elems, EML_E_TENSOR_FORMAT);
		if (elems)
			memcpy(t->data, tp->int64_data, (size_t)elems * 8);
		others =
		    tp->n_float_data + tp->n_int32_data + tp->n_double_data + tp->n_uint64_data;
		break;
	case EML_DT_UINT64:
		EML_ENSURE(tp->n_uint64_data == elems, EML_E_TENSOR_FORMAT);
		if (elems)
			memcpy(t->data, tp->uint64_data, (size_t)elems * 8);
		others = tp->n_float_data + tp->n_int32_data + tp->n_int64_data + tp->n_double_data;
		break;
	case EML_DT_UINT32:
		EML_ENSURE(tp->n_uint64_data == elems, EML_E_TENSOR_FORMAT);
		for (uint64_t i = 0; i < elems; i++) {
			EML_ENSURE(tp->uint64_data[i] <= UINT32_MAX, EML_E_TENSOR_FORMAT);
			uint32_t x = (uint32_t)tp->uint64_data[i];
			memcpy(t->data + 4 * i, &x, 4);
		}
		others = tp->n_float_data + tp->n_int32_data + tp->n_int64_data + tp->n_double_data;
		break;
	default: /* INT32, INT16, UINT16, INT8, UINT8, BOOL, FLOAT16 live in int32_data */
		EML_ENSURE(tp->n_int32_data == elems, EML_E_TENSOR_FORMAT);
		for (uint64_t i = 0; i < elems; i++)
			EML_GUARD(put_i32(t, i, tp->int32_data[i]));
		others =
		    tp->n_float_data + tp->n_int64_data + tp->n_double_data + tp->n_uint64_data;
		break;
	}
	EML_ENSURE(others == 0, EML_E_TENSOR_FORMAT);
out:
	return rc;
}

/* Elements present in the typed field that holds dtype (pb_fill_typed's mapping). */
static size_t pb_typed_count(const Onnx__TensorProto *tp, int32_t dtype)
{
	switch (dtype) {
	case EML_DT_FLOAT:
		return tp->n_float_data;
	case EML_DT_DOUBLE:
		return tp->n_double_data;
	case EML_DT_INT64:
		return tp->n_int64_data;
	case EML_DT_UINT64:
	case EML_DT_UINT32:
		return tp->n_uint64_data;
	default:
		return tp->n_int32_data;
	}
}

int eml_tensor_parse_pb(const uint8_t *p, size_t n, eml_tensor_file *out)
{
	int rc = EML_OK;
	eml_tensor_file t;
	memset(&t, 0, sizeof(t));
	Onnx__TensorProto *tp = NULL;
	uint64_t elems, bytes;

	EML_ENSURE(p != NULL && out != NULL, EML_E_ARG);
	memset(out, 0, sizeof(*out));
	EML_ENSURE(n <= EML_TENSOR_FILE_MAX_BYTES, EML_E_LIMIT);
	tp = onnx__tensor_proto__unpack(&pb_allocator, n, p);
	EML_ENSURE(tp != NULL, EML_E_TENSOR_FORMAT);
	EML_ENSURE(tp->segment == NULL, EML_E_TENSOR_UNSUPPORTED);
	EML_ENSURE(!tp->has_data_location ||
	               tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT,
	           EML_E_TENSOR_UNSUPPORTED);
	EML_ENSURE(tp->n_external_data == 0, EML_E_TENSOR_UNSUPPORTED);
	EML_ENSURE(tp->has_data_type, EML_E_TENSOR_FORMAT);
	EML_ENSURE(dtype_supported(tp->data_type), EML_E_TENSOR_DTYPE);
	EML_ENSURE(tp->n_string_data == 0, EML_E_TENSOR_FORMAT);
	EML_ENSURE(tp->n_dims <= EML_MAX_RANK, EML_E_LIMIT);
	t.dtype = tp->data_type;
	t.rank = (uint32_t)tp->n_dims;
	for (uint32_t i = 0; i < t.rank; i++)
		t.dims[i] = tp->dims[i];
	EML_GUARD(shape_bytes(t.dtype, t.rank, t.dims, &elems, &bytes));
	if (tp->name != NULL && tp->name[0] != '\0') {
		size_t nl = strlen(tp->name);
		EML_ENSURE(nl < EML_MAX_STRING_LEN, EML_E_LIMIT);
		t.name = eml_strdup(tp->name);
		EML_ENSURE(t.name != NULL, EML_E_NOMEM);
	}
	if (tp->has_raw_data) {
		EML_ENSURE(tp->raw_data.len == bytes, EML_E_TENSOR_FORMAT);
		size_t typed = tp->n_float_data + tp->n_int32_data + tp->n_int64_data +
		               tp->n_double_data + tp->n_uint64_data;
		EML_ENSURE(typed == 0, EML_E_TENSOR_FORMAT);
	} else {
		/* The dims are only a claim: check that the elements are really there before
		 * allocating for them (a few bytes of dims could otherwise ask for gigabytes; found
		 * by fuzz_pb, fuzz/regressions/pb/). */
		EML_ENSURE(pb_typed_count(tp, t.dtype) == elems, EML_E_TENSOR_FORMAT);
	}
	t.data = eml_alloc(bytes != 0 ? (size_t)bytes : 1);
	EML_ENSURE(t.data != NULL, EML_E_NOMEM);
	t.bytes = bytes;
	if (tp->has_raw_data) {
		if (bytes != 0)
			memcpy(t.data, tp->raw_data.data, (size_t)bytes);
	} else {
		EML_GUARD(pb_fill_typed(tp, &t, elems));
	}
	normalize_bool(&t);
	*out = t;
	memset(&t, 0, sizeof(t));
out:
	if (tp != NULL)
		onnx__tensor_proto__free_unpacked(tp, &pb_allocator);
	eml_tensor_file_cleanup(&t);
	return rc;
}

int eml_tensor_to_pb(const eml_tensor_file *t, uint8_t **out, size_t *len)
{
	int rc = EML_OK;
	uint8_t *buf = NULL;
	uint64_t elems, bytes;
	Onnx__TensorProto tp;
	onnx__tensor_proto__init(&tp);

	EML_ENSURE(t != NULL && out != NULL && len != NULL, EML_E_ARG);
	EML_ENSURE(dtype_supported(t->dtype), EML_E_TENSOR_DTYPE);
	EML_GUARD(shape_bytes(t->dtype, t->rank, t->dims, &elems, &bytes));
	EML_ENSURE(bytes == t->bytes && (bytes == 0 || t->data != NULL), EML_E_ARG);
	int64_t dims[EML_MAX_RANK];
	memcpy(dims, t->dims, sizeof(dims));
	tp.n_dims = t->rank;
	tp.dims = dims;
	tp.has_data_type = 1;
	tp.data_type = t->dtype;
	tp.name = t->name;
	/* raw_data, as onnx.numpy_helper.from_array writes it. */
	tp.has_raw_data = 1;
	tp.raw_data.len = (size_t)bytes;
	tp.raw_data.data = t->data;
	size_t sz = onnx__tensor_proto__get_packed_size(&tp);
	buf = eml_alloc(sz != 0 ? sz : 1);
	EML_ENSURE(buf != NULL, EML_E_NOMEM);
	size_t w = onnx__tensor_proto__pack(&tp, buf);
	EML_ENSURE(w == sz, EML_E_INTERNAL);
	*out = buf;
	*len = sz;
	buf = NULL;
out:
	eml_free(buf);
	return rc;
}

/* ---- dispatch and files ---------------------------------------------------------------- */

int eml_tensor_parse(const uint8_t *p, size_t n, eml_tensor_file *out)
{
	if (p != NULL && n >= EML_NPY_MAGIC_LEN && memcmp(p, EML_NPY_MAGIC, EML_NPY_MAGIC_LEN) == 0)
		return eml_tensor_parse_npy(p, n, out);
	return eml_tensor_parse_pb(p, n, out);
}

int eml_tensor_read_file(const char *path, eml_tensor_file *out)
{
	int rc = EML_OK;
	uint8_t *buf = NULL;
	size_t len = 0;
	EML_ENSURE(path != NULL && out != NULL, EML_E_ARG);
	memset(out, 0, sizeof(*out));
	/* Room for the largest payload plus a header. */
	EML_GUARD(eml_file_read(path, EML_TENSOR_FILE_MAX_BYTES + 65536, &buf, &len));
	EML_GUARD(eml_tensor_parse(buf, len, out));
out:
	eml_free(buf);
	return rc;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int eml_tensor_write_file(const char *path, const eml_tensor_file *t)
{
	int rc = EML_OK;
	uint8_t *buf = NULL;
	size_t len = 0;
	EML_ENSURE(path != NULL && t != NULL, EML_E_ARG);
	if (ends_with(path, ".npy"))
		EML_GUARD(eml_tensor_to_npy(t, &buf, &len));
	else if (ends_with(path, ".pb"))
		EML_GUARD(eml_tensor_to_pb(t, &buf, &len));
	else
		EML_FAIL(EML_E_ARG);
	/* Outputs of an inference are the client's data: readable by the owner only. */
	EML_GUARD(eml_file_write_atomic(path, buf, len, 0600));
out:
	eml_free(buf);
	return rc;
}
