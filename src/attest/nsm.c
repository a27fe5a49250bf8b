/*
 * NSM interface: dispatch, and the /dev/nsm device backend.
 * Device protocol: Linux include/uapi/linux/nsm.h (NSM_IOCTL_RAW = _IOWR(0x0A, 0, struct
 * nsm_raw) with request <= 0x1000 and response <= 0x3000 bytes), CBOR messages as in
 * aws-nitro-enclaves-nsm-api src/api/mod.rs (serde's externally tagged enums: a unit variant
 * is a text string, a struct variant a one-entry map).
 */
#include "attest/nsm.h"
#include "attest/nsm_impl.h"

#include <cbor.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"

struct eml_nsm_iovec {
	uint64_t addr;
	uint64_t len;
};
struct eml_nsm_raw {
	struct eml_nsm_iovec request;
	struct eml_nsm_iovec response;
};
#define EML_NSM_IOCTL_RAW _IOWR(0x0A, 0x0, struct eml_nsm_raw)

/* ---- requests ---- */

static void opt_bytes(eml_buf *b, const char *key, const uint8_t *p, size_t n)
{
	eml_cbor_text(b, key);
	eml_cbor_bytes(b, p, n);
}

int eml_nsm_req_attestation(const uint8_t *user_data, size_t ud_len, const uint8_t *nonce,
                            size_t n_len, const uint8_t *public_key, size_t pk_len, eml_buf *req)
{
	if (ud_len > EML_ATTEST_FIELD_MAX || n_len > EML_ATTEST_FIELD_MAX ||
	    pk_len > EML_ATTEST_FIELD_MAX)
		return EML_E_ATTEST_SIZE;
	eml_cbor_head(req, 5, 1);
	eml_cbor_text(req, "Attestation");
	eml_cbor_head(req, 5, 3);
	opt_bytes(req, "user_data", user_data, ud_len);
	opt_bytes(req, "nonce", nonce, n_len);
	opt_bytes(req, "public_key", public_key, pk_len);
	if (eml_buf_error(req) == EML_OK && req->len > EML_NSM_REQUEST_MAX)
		return EML_E_ATTEST_SIZE;
	return eml_buf_error(req);
}

int eml_nsm_req_describe_pcr(unsigned index, eml_buf *req)
{
	if (index >= EML_ATTEST_PCR_SLOTS)
		return EML_E_ARG;
	eml_cbor_head(req, 5, 1);
	eml_cbor_text(req, "DescribePCR");
	eml_cbor_head(req, 5, 1);
	eml_cbor_text(req, "index");
	eml_cbor_uint(req, index);
	return eml_buf_error(req);
}

int eml_nsm_req_get_random(eml_buf *req)
{
	eml_cbor_text(req, "GetRandom");
	return eml_buf_error(req);
}

/* ---- responses ---- */

static int text_is(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);
	return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
	       memcmp(cbor_string_handle(it), s, n) == 0;
}

/* Decode {variant: {fields...}} and return the inner map (a new reference). */
static int resp_open(const uint8_t *resp, size_t len, const char *variant, cbor_item_t **root,
                     cbor_item_t **inner)
{
	struct cbor_load_result res;
	cbor_item_t *r;
	struct cbor_pair *p;
	if (resp == NULL || len == 0 || len > EML_NSM_RESPONSE_MAX)
		return EML_E_ATTEST_NSM;
	if (eml_cbor_precheck(resp, len) != EML_OK)
		return EML_E_ATTEST_NSM;
	r = cbor_load(resp, len, &res);
	if (r == NULL)
		return res.error.code == CBOR_ERR_MEMERROR ? EML_E_NOMEM : EML_E_ATTEST_NSM;
	if (res.read != len || !cbor_isa_map(r) || cbor_map_size(r) != 1) {
		cbor_decref(&r);
		return EML_E_ATTEST_NSM;
	}
	p = cbor_map_handle(r);
	/* {"Error": "InvalidArgument" | ...} and unexpected variants are refusals. */
	if (!text_is(p[0].key, variant) || !cbor_isa_map(p[0].value)) {
		cbor_decref(&r);
		return EML_E_ATTEST_NSM;
	}
	*root = r;
	*inner = p[0].value;
	return EML_OK;
}

static const cbor_item_t *field(const cbor_item_t *m, const char *name)
{
	const cbor_item_t *found = NULL;
	struct cbor_pair *p = cbor_map_handle(m);
	for (size_t i = 0; i < cbor_map_size(m); i++) {
		if (text_is(p[i].key, name)) {
			if (found != NULL)
				return NULL; /* duplicate */
			found = p[i].value;
		}
	}
	return found;
}

static int definite_bytes(const cbor_item_t *it, size_t min, size_t max, const uint8_t **p,
                          size_t *n)
{
	if (it == NULL || !cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
		return EML_E_ATTEST_NSM;
	*n = cbor_bytestring_length(it);
	if (*n < min || *n > max)
		return EML_E_ATTEST_NSM;
	*p = cbor_bytestring_handle(it);
	return EML_OK;
}

int eml_nsm_resp_attestation(const uint8_t *resp, size_t len, uint8_t **doc, size_t *doc_len)
{
	int rc = EML_OK;
	cbor_item_t *root = NULL, *m = NULL;
	const uint8_t *p = NULL;
	size_t n = 0;
	EML_GUARD(resp_open(resp, len, "Attestation", &root, &m));
	EML_GUARD(definite_bytes(field(m, "document"), 1, EML_ATTEST_DOC_MAX, &p, &n));
	*doc = eml_memdup(p, n);
	EML_ENSURE(*doc != NULL, EML_E_NOMEM);
	*doc_len = n;
out:
	if (root != NULL)
		cbor_decref(&root);
	return rc;
}

int eml_nsm_resp_describe_pcr(const uint8_t *resp, size_t len, uint8_t *value, size_t *value_len,
                              int *locked)
{
	int rc = EML_OK;
	cbor_item_t *root = NULL, *m = NULL;
	const cbor_item_t *lock;
	const uint8_t *p = NULL;
	size_t n = 0;
	EML_GUARD(resp_open(resp, len, "DescribePCR", &root, &m));
	lock = field(m, "lock");
	EML_ENSURE(lock != NULL && cbor_is_bool(lock), EML_E_ATTEST_NSM);
	EML_GUARD(definite_bytes(field(m, "data"), 32, EML_ATTEST_PCR_MAXLEN, &p, &n));
	EML_ENSURE(n == 32 || n == 48 || n == 64, EML_E_ATTEST_NSM);
	memcpy(value, p, n);
	*value_len = n;
	*locked = cbor_get_bool(lock);
out:
	if (root != NULL)
		cbor_decref(&root);
	return rc;
}

int eml_nsm_resp_get_random(const uint8_t *resp, size_t len, uint8_t *buf, size_t cap, size_t *n)
{
	int rc = EML_OK;
	cbor_item_t *root = NULL, *m = NULL;
	const uint8_t *p = NULL;
	size_t k = 0;
	EML_GUARD(resp_open(resp, len, "GetRandom", &root, &m));
	EML_GUARD(definite_bytes(field(m, "random"), 1, cap, &p, &k));
	memcpy(buf, p, k);
	*n = k;
out:
	if (root != NULL)
		cbor_decref(&root);
	return rc;
}

/* ---- the device ---- */

static int device_call(int fd, const eml_buf *req, uint8_t *resp, size_t *resp_len)
{
	struct eml_nsm_raw msg;
	int r;
	memset(&msg, 0, sizeof(msg));
	msg.request.addr = (uint64_t)(uintptr_t)req->p;
	msg.request.len = req->len;
	msg.response.addr = (uint64_t)(uintptr_t)resp;
	msg.response.len = EML_NSM_RESPONSE_MAX;
	do {
		r = ioctl(fd, EML_NSM_IOCTL_RAW, &msg);
	} while (r < 0 && errno == EINTR);
	if (r < 0 || msg.response.len > EML_NSM_RESPONSE_MAX)
		return EML_E_ATTEST_NSM;
	*resp_len = (size_t)msg.response.len;
	return EML_OK;
}

static int device_open(const char *path, int *fd)
{
	int f = open(path ? path : EML_NSM_DEFAULT_DEVICE, O_RDWR | O_CLOEXEC);
	if (f < 0) {
		if (errno == EACCES || errno == EPERM)
			return EML_E_PERMISSION;
		return EML_E_ATTEST_NO_DEVICE;
	}
	*fd = f;
	return EML_OK;
}

int eml_nsm_open(const char *mode, const eml_nsm_opts *o, eml_nsm **out)
{
	int rc = EML_OK;
	eml_nsm *n = NULL;
	static const eml_nsm_opts no_opts;
	if (o == NULL)
		o = &no_opts;
	EML_ENSURE(mode != NULL && out != NULL, EML_E_ARG);
	n = eml_calloc(1, sizeof(*n));
	EML_ENSURE(n != NULL, EML_E_NOMEM);
	n->fd = -1;
	if (strcmp(mode, "device") == 0 || strcmp(mode, "auto") == 0) {
		/* auto never falls back to simulation: a missing device is an error. */
		EML_GUARD(device_open(o->device_path, &n->fd));
	} else if (strcmp(mode, "sim") == 0) {
		n->sim = 1;
		EML_GUARD(eml_nsm_sim_init(n, o));
	} else {
		EML_FAIL(EML_E_USAGE);
	}
	*out = n;
	n = NULL;
out:
	eml_nsm_free(n);
	return rc;
}

int eml_nsm_attest(eml_nsm *nsm, const uint8_t *user_data, size_t ud_len, const uint8_t *nonce,
                   size_t n_len, const uint8_t *public_key, size_t pk_len, uint8_t **doc,
                   size_t *doc_len)
{
	int rc = EML_OK;
	eml_buf req;
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	eml_buf_init(&req, EML_NSM_REQUEST_MAX);
	EML_ENSURE(ud_len <= EML_ATTEST_FIELD_MAX && n_len <= EML_ATTEST_FIELD_MAX &&
	               pk_len <= EML_ATTEST_FIELD_MAX,
	           EML_E_ATTEST_SIZE);
	if (nsm->sim) {
		EML_GUARD(eml_nsm_sim_attest(nsm, user_data, ud_len, nonce, n_len, public_key,
		                             pk_len, doc, doc_len));
		goto out;
	}
	EML_GUARD(
	    eml_nsm_req_attestation(user_data, ud_len, nonce, n_len, public_key, pk_len, &req));
	resp = eml_alloc(EML_NSM_RESPONSE_MAX);
	EML_ENSURE(resp != NULL, EML_E_NOMEM);
	EML_GUARD(device_call(nsm->fd, &req, resp, &resp_len));
	EML_GUARD(eml_nsm_resp_attestation(resp, resp_len, doc, doc_len));
out:
	eml_free(resp);
	eml_buf_cleanup(&req);
	return rc;
}

int eml_nsm_describe_pcr(eml_nsm *nsm, unsigned index, uint8_t *value, size_t *value_len,
                         int *locked)
{
	int rc = EML_OK;
	eml_buf req;
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	eml_buf_init(&req, EML_NSM_REQUEST_MAX);
	EML_ENSURE(index < EML_ATTEST_PCR_SLOTS, EML_E_ARG);
	if (nsm->sim) {
		/* The simulated NSM has PCR0..15, all locked (as after boot). */
		EML_ENSURE(index < EML_NSM_PCR_COUNT, EML_E_ATTEST_NSM);
		memcpy(value, nsm->pcrs[index], 48);
		*value_len = 48;
		*locked = 1;
		goto out;
	}
	EML_GUARD(eml_nsm_req_describe_pcr(index, &req));
	resp = eml_alloc(EML_NSM_RESPONSE_MAX);
	EML_ENSURE(resp != NULL, EML_E_NOMEM);
	EML_GUARD(device_call(nsm->fd, &req, resp, &resp_len));
	EML_GUARD(eml_nsm_resp_describe_pcr(resp, resp_len, value, value_len, locked));
out:
	eml_free(resp);
	eml_buf_cleanup(&req);
	return rc;
}

int eml_nsm_get_random(eml_nsm *nsm, uint8_t *buf, size_t n)
{
	int rc = EML_OK;
	eml_buf req;
	uint8_t *resp = NULL;
	size_t resp_len = 0, got = 0, k = 0;
	eml_buf_init(&req, EML_NSM_REQUEST_MAX);
	if (nsm->sim) {
		EML_GUARD(eml_random_bytes(buf, n));
		goto out;
	}
	EML_GUARD(eml_nsm_req_get_random(&req));
	resp = eml_alloc(EML_NSM_RESPONSE_MAX);
	EML_ENSURE(resp != NULL, EML_E_NOMEM);
	while (got < n) {
		uint8_t chunk[EML_NSM_RANDOM_MAX];
		EML_GUARD(device_call(nsm->fd, &req, resp, &resp_len));
		EML_GUARD(eml_nsm_resp_get_random(resp, resp_len, chunk, sizeof(chunk), &k));
		if (k > n - got)
			k = n - got;
		memcpy(buf + got, chunk, k);
		eml_wipe(chunk, sizeof(chunk));
		got += k;
	}
out:
	eml_free(resp);
	eml_buf_cleanup(&req);
	return rc;
}

int eml_nsm_is_simulated(const eml_nsm *nsm)
{
	return nsm->sim;
}

void eml_nsm_free(eml_nsm *nsm)
{
	if (nsm == NULL)
		return;
	if (nsm->fd >= 0)
		close(nsm->fd);
	eml_nsm_sim_cleanup(nsm);
	eml_free(nsm);
}
