/*
 * AWS Signature Version 4 signing (AWS General Reference, "Create a canonical request for
 * Signature Version 4", "Create a string to sign", "Calculate the signature").
 *
 * Canonical URI: dot segments removed and empty segments collapsed (as in the AWS test suite's
 * normalize-path group), each segment URI-encoded once (RFC 3986 unreserved kept). Canonical query:
 * parameters percent-decoded then re-encoded, sorted by key then value. Canonical headers: names
 * lowercased, values trimmed with inner whitespace runs (including folded lines) collapsed to one
 * space, duplicates joined with ',' in order of appearance.
 */
#include "kms/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"

#define SIGV4_MAX_OUT (64 * 1024)
#define SIGV4_MAX_PARAMS 64

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void put_str(eml_buf *b, const char *s)
{
	eml_buf_put(b, s, strlen(s));
}

static void put_enc(eml_buf *b, const char *s, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			eml_buf_u8(b, c);
		} else {
			char e[3] = {'%', hx[c >> 4], hx[c & 15]};
			eml_buf_put(b, e, 3);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) then encode it canonically into a new NUL-terminated string. */
static char *canon_component(const char *s, size_t n)
{
	eml_buf dec, enc;
	eml_buf_init(&dec, EML_SIGV4_MAX_FIELD);
	eml_buf_init(&enc, 3 * EML_SIGV4_MAX_FIELD + 1);
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			eml_buf_u8(&dec, (uint8_t)(hi << 4 | lo));
			i += 2;
		} else {
			eml_buf_u8(&dec, (uint8_t)s[i]);
		}
	}
	char *r = NULL;
	size_t dummy;
	if (!eml_buf_error(&dec)) {
		put_enc(&enc, (const char *)dec.p, dec.len);
		eml_buf_u8(&enc, 0);
		if (!eml_buf_error(&enc))
			r = (char *)eml_buf_take(&enc, &dummy);
	}
	eml_buf_cleanup(&dec);
	eml_buf_cleanup(&enc);
	return r;
}

static int canon_uri(eml_buf *b, const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n > EML_SIGV4_MAX_FIELD || path[0] != '/')
		return EML_E_KMS_SIGV4;
	/* segment starts/lengths after removing dot segments (RFC 3986 §5.2.4) */
	size_t st[256], ln[256], k = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && path[i] == '/')
			i++;
		size_t s = i;
		while (i < n && path[i] != '/')
			i++;
		size_t l = i - s;
		if (l == 0 || (l == 1 && path[s] == '.'))
			continue;
		if (l == 2 && path[s] == '.' && path[s + 1] == '.') {
			if (k > 0)
				k--;
			continue;
		}
		if (k == EML_ARRAY_LEN(st))
			return EML_E_KMS_SIGV4;
		st[k] = s;
		ln[k++] = l;
	}
	eml_buf_u8(b, '/');
	for (size_t j = 0; j < k; j++) {
		if (j)
			eml_buf_u8(b, '/');
		put_enc(b, path + st[j], ln[j]);
	}
	if (k > 0 && path[n - 1] == '/')
		eml_buf_u8(b, '/');
	return EML_OK;
}

typedef struct param {
	char *k, *v;
} param;

static int param_cmp(const void *a, const void *b)
{
	const param *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

static int canon_query(eml_buf *b, const char *q)
{
	int rc = EML_OK;
	param ps[SIGV4_MAX_PARAMS];
	size_t np = 0;
	if (!q || !*q)
		return EML_OK;
	EML_ENSURE(strlen(q) <= EML_SIGV4_MAX_FIELD, EML_E_KMS_SIGV4);
	const char *p = q;
	while (*p) {
		const char *e = strchr(p, '&');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l > 0) {
			EML_ENSURE(np < SIGV4_MAX_PARAMS, EML_E_KMS_SIGV4);
			const char *eq = memchr(p, '=', l);
			size_t kl = eq ? (size_t)(eq - p) : l;
			ps[np].k = canon_component(p, kl);
			ps[np].v =
			    eq ? canon_component(eq + 1, l - kl - 1) : canon_component("", 0);
			np++;
			EML_ENSURE(ps[np - 1].k && ps[np - 1].v, EML_E_KMS_SIGV4);
		}
		p += l;
		if (*p == '&')
			p++;
	}
	qsort(ps, np, sizeof(ps[0]), param_cmp);
	for (size_t i = 0; i < np; i++) {
		if (i)
			eml_buf_u8(b, '&');
		put_str(b, ps[i].k);
		eml_buf_u8(b, '=');
		put_str(b, ps[i].v);
	}
out:
	for (size_t i = 0; i < np; i++) {
		eml_free(ps[i].k);
		eml_free(ps[i].v);
	}
	return rc;
}

typedef struct hdr {
	char name[128];
	const char *value;
	size_t idx;
} hdr;

static int hdr_cmp(const void *a, const void *b)
{
	const hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimmed value with whitespace runs collapsed to one space. */
static void put_value(eml_buf *b, const char *v)
{
	while (*v && is_ws(*v))
		v++;
	int pend = 0;
	for (; *v; v++) {
		if (is_ws(*v)) {
			pend = 1;
			continue;
		}
		if (pend)
			eml_buf_u8(b, ' ');
		pend = 0;
		eml_buf_u8(b, (uint8_t)*v);
	}
}

static void hex32(const uint8_t *in, char *out)
{
	eml_hex(in, 32, out);
}

int eml_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                          const char *service, uint8_t out[32])
{
	int rc = EML_OK;
	char k0[256];
	uint8_t k1[32], k2[32], k3[32];
	size_t sl = strlen(secret);
	EML_ENSURE(sl + 4 < sizeof(k0), EML_E_KMS_SIGV4);
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, sl);
	EML_GUARD(eml_hmac_sha256((const uint8_t *)k0, sl + 4, date8, strlen(date8), k1));
	EML_GUARD(eml_hmac_sha256(k1, 32, region, strlen(region), k2));
	EML_GUARD(eml_hmac_sha256(k2, 32, service, strlen(service), k3));
	EML_GUARD(eml_hmac_sha256(k3, 32, "aws4_request", 12, out));
out:
	eml_wipe(k0, sizeof(k0));
	eml_wipe(k1, sizeof(k1));
	eml_wipe(k2, sizeof(k2));
	eml_wipe(k3, sizeof(k3));
	return rc;
}

void eml_sigv4_amz_date(int64_t unix_s, char out[EML_SIGV4_DATE_LEN + 1])
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, EML_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

int eml_sigv4_sign(const eml_sigv4_req *req, const eml_sigv4_creds *creds, const char *region,
                   const char *service, const char *amz_date, eml_sigv4_out *out)
{
	int rc = EML_OK;
	hdr hs[EML_SIGV4_MAX_HEADERS];
	size_t nh = 0;
	eml_buf creq, sts, az;
	uint8_t h[32], kx[32], sig[32];
	char hex[65], date8[9], scope[256];
	memset(out, 0, sizeof(*out));
	eml_buf_init(&creq, SIGV4_MAX_OUT);
	eml_buf_init(&sts, SIGV4_MAX_OUT);
	eml_buf_init(&az, SIGV4_MAX_OUT);
	EML_ENSURE(req && creds && creds->access_key && creds->secret_key && region && service &&
	               amz_date && req->method && req->path,
	           EML_E_KMS_SIGV4);
	EML_ENSURE(strlen(amz_date) == EML_SIGV4_DATE_LEN && amz_date[8] == 'T', EML_E_KMS_SIGV4);
	EML_ENSURE(req->n_headers + 1 <= EML_SIGV4_MAX_HEADERS, EML_E_KMS_SIGV4);
	memcpy(date8, amz_date, 8);
	date8[8] = 0;
	int n = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date8, region, service);
	EML_ENSURE(n > 0 && (size_t)n < sizeof(scope), EML_E_KMS_SIGV4);

	for (size_t i = 0; i <= req->n_headers; i++) {
		const char *nm, *v;
		if (i == req->n_headers) {
			if (!creds->session_token)
				break;
			nm = "x-amz-security-token";
			v = creds->session_token;
		} else {
			nm = req->headers[i].name;
			v = req->headers[i].value;
		}
		size_t l = strlen(nm);
		EML_ENSURE(l > 0 && l < sizeof(hs[0].name) && strlen(v) <= EML_SIGV4_MAX_FIELD,
		           EML_E_KMS_SIGV4);
		for (size_t j = 0; j <= l; j++) {
			char c = nm[j];
			EML_ENSURE(c != ':' && !is_ws(c), EML_E_KMS_SIGV4);
			hs[nh].name[j] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		hs[nh].value = v;
		hs[nh].idx = nh;
		nh++;
	}
	qsort(hs, nh, sizeof(hs[0]), hdr_cmp);

	/* CanonicalRequest = Method \n URI \n Query \n Headers \n \n SignedHeaders \n HashedPayload */
	put_str(&creq, req->method);
	eml_buf_u8(&creq, '\n');
	EML_GUARD(canon_uri(&creq, req->path));
	eml_buf_u8(&creq, '\n');
	EML_GUARD(canon_query(&creq, req->query));
	eml_buf_u8(&creq, '\n');
	size_t sh = 0;
	for (size_t i = 0; i < nh; i++) {
		int first = i == 0 || strcmp(hs[i].name, hs[i - 1].name) != 0;
		if (first) {
			if (i)
				eml_buf_u8(&creq, '\n');
			put_str(&creq, hs[i].name);
			eml_buf_u8(&creq, ':');
			size_t l = strlen(hs[i].name);
			EML_ENSURE(sh + l + 1 < sizeof(out->signed_headers), EML_E_KMS_SIGV4);
			if (sh)
				out->signed_headers[sh++] = ';';
			memcpy(out->signed_headers + sh, hs[i].name, l);
			sh += l;
		} else {
			eml_buf_u8(&creq, ',');
		}
		put_value(&creq, hs[i].value);
	}
	out->signed_headers[sh] = 0;
	eml_buf_put(&creq, "\n\n", 2);
	put_str(&creq, out->signed_headers);
	eml_buf_u8(&creq, '\n');
	EML_GUARD(eml_sha256(req->body ? req->body : "", req->body_len, h));
	hex32(h, hex);
	eml_buf_put(&creq, hex, 64);
	EML_ENSURE(!eml_buf_error(&creq), EML_E_KMS_SIGV4);

	EML_GUARD(eml_sha256(creq.p, creq.len, h));
	hex32(h, hex);
	put_str(&sts, "AWS4-HMAC-SHA256\n");
	put_str(&sts, amz_date);
	eml_buf_u8(&sts, '\n');
	put_str(&sts, scope);
	eml_buf_u8(&sts, '\n');
	eml_buf_put(&sts, hex, 64);
	EML_ENSURE(!eml_buf_error(&sts), EML_E_KMS_SIGV4);

	EML_GUARD(eml_sigv4_signing_key(creds->secret_key, date8, region, service, kx));
	EML_GUARD(eml_hmac_sha256(kx, 32, sts.p, sts.len, sig));
	hex32(sig, out->signature);

	put_str(&az, "AWS4-HMAC-SHA256 Credential=");
	put_str(&az, creds->access_key);
	eml_buf_u8(&az, '/');
	put_str(&az, scope);
	put_str(&az, ", SignedHeaders=");
	put_str(&az, out->signed_headers);
	put_str(&az, ", Signature=");
	put_str(&az, out->signature);

	size_t tl;
	eml_buf_u8(&creq, 0);
	eml_buf_u8(&sts, 0);
	eml_buf_u8(&az, 0);
	EML_ENSURE(!eml_buf_error(&creq) && !eml_buf_error(&sts) && !eml_buf_error(&az),
	           EML_E_KMS_SIGV4);
	out->creq = (char *)eml_buf_take(&creq, &tl);
	out->sts = (char *)eml_buf_take(&sts, &tl);
	out->authz = (char *)eml_buf_take(&az, &tl);
out:
	eml_wipe(kx, sizeof(kx));
	eml_wipe(sig, sizeof(sig));
	eml_buf_cleanup(&creq);
	eml_buf_cleanup(&sts);
	eml_buf_cleanup(&az);
	if (rc != EML_OK)
		eml_sigv4_out_free(out);
	return rc;
}

void eml_sigv4_out_free(eml_sigv4_out *out)
{
	if (!out)
		return;
	eml_free(out->creq);
	eml_free(out->sts);
	eml_free(out->authz);
	memset(out, 0, sizeof(*out));
}
