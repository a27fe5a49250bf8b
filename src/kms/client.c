/*
 * KMS client: AWS JSON 1.1 protocol (POST /, Content-Type application/x-amz-json-1.1,
 * X-Amz-Target TrentService.<Op>), SigV4-signed, over plain HTTP (loopback development service)
 * or HTTPS terminated here with OpenSSL (in Nitro, the TCP stream reaches KMS through the host's
 * vsock-proxy; the host sees only TLS). Retries with exponential backoff on throttling, 5xx and
 * transport failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/cms.h"
#include "crypto/rsa.h"
#include "kms/kms.h"
#include "kms/sealed.h"
#include "net/addr.h"
#include "net/sock.h"

char *eml_b64_encode(const uint8_t *in, size_t n)
{
	size_t ol = 4 * ((n + 2) / 3) + 1;
	char *o = eml_alloc(ol);
	if (!o)
		return NULL;
	EVP_EncodeBlock((unsigned char *)o, in, (int)n);
	return o;
}

int eml_b64_decode(const char *in, uint8_t **out, size_t *out_len)
{
	size_t n = strlen(in);
	*out = NULL;
	if (n % 4 != 0 || n > 4 * EML_KMS_MAX_RESPONSE)
		return EML_E_MALFORMED;
	uint8_t *o = eml_alloc(n / 4 * 3 + 1);
	if (!o)
		return EML_E_NOMEM;
	int l = EVP_DecodeBlock(o, (const unsigned char *)in, (int)n);
	if (l < 0) {
		eml_free(o);
		return EML_E_MALFORMED;
	}
	/* EVP_DecodeBlock counts padding as zero bytes */
	if (n >= 1 && in[n - 1] == '=')
		l--;
	if (n >= 2 && in[n - 2] == '=')
		l--;
	*out = o;
	*out_len = (size_t)l;
	return EML_OK;
}

typedef struct url {
	int tls;
	char host[256];
	char port[8];
} url;

static int parse_url(const char *s, url *u)
{
	memset(u, 0, sizeof(*u));
	const char *p;
	if (strncmp(s, "http://", 7) == 0) {
		p = s + 7;
		strcpy(u->port, "80");
	} else if (strncmp(s, "https://", 8) == 0) {
		p = s + 8;
		u->tls = 1;
		strcpy(u->port, "443");
	} else {
		return EML_E_USAGE;
	}
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= sizeof(u->host))
		return EML_E_USAGE;
	memcpy(u->host, p, hl);
	p += hl;
	if (*p == ':') {
		size_t pl = strcspn(p + 1, "/");
		if (pl == 0 || pl >= sizeof(u->port))
			return EML_E_USAGE;
		memcpy(u->port, p + 1, pl);
		u->port[pl] = 0;
		p += 1 + pl;
	}
	if (*p && strcmp(p, "/") != 0)
		return EML_E_USAGE;
	return EML_OK;
}

static int tcp_connect(const url *u, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(u->host, u->port, &hints, &ai) != 0)
		return -1;
	int fd = -1;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Nitro: the enclave has no IP network; its TCP stream to KMS goes over vsock to the parent's
 * vsock-proxy (docs/KMS.md), while the URL still names the KMS host (TLS SNI, certificate name
 * check, SigV4 Host header). `via` is any eml address (vsock:3:8000, unix:PATH, tcp:HOST:PORT). */
static int via_connect(const char *via, int timeout_ms)
{
	eml_addr a;
	int fd = -1;
	if (eml_addr_parse(via, &a) != EML_OK || eml_net_connect(&a, timeout_ms, &fd) != EML_OK)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* 1 when buf holds the headers and a Content-Length body in full. */
static int response_complete(const uint8_t *buf, size_t n)
{
	const uint8_t *end = NULL;
	for (size_t i = 0; i + 3 < n; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i + 4;
			break;
		}
	if (!end)
		return 0;
	size_t hl = (size_t)(end - buf);
	const char *k = "\r\ncontent-length:";
	size_t kl = strlen(k);
	for (size_t i = 0; i + kl < hl; i++) {
		if (strncasecmp((const char *)buf + i, k, kl) != 0)
			continue;
		size_t v = 0, j = i + kl;
		while (j < hl && buf[j] == ' ')
			j++;
		if (j >= hl || buf[j] < '0' || buf[j] > '9')
			return 0;
		while (j < hl && buf[j] >= '0' && buf[j] <= '9' && v < EML_KMS_MAX_RESPONSE)
			v = v * 10 + (size_t)(buf[j++] - '0');
		return n - hl >= v;
	}
	return 0;
}

/* One HTTP exchange; *status and *body (NUL-terminated) on EML_OK. */
static int http_post(const eml_kms_cfg *c, const url *u, const char *req, size_t req_len,
                     int *status, char **body)
{
	int rc = EML_OK;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	eml_buf in;
	eml_buf_init(&in, EML_KMS_MAX_RESPONSE + 8192);
	*body = NULL;
	int to = c->timeout_ms > 0 ? c->timeout_ms : 5000;
	int fd = c->via != NULL ? via_connect(c->via, to) : tcp_connect(u, to);
	EML_ENSURE(fd >= 0, EML_E_KMS_HTTP);
	if (u->tls) {
		ctx = SSL_CTX_new(TLS_client_method());
		EML_ENSURE(ctx, EML_E_KMS_HTTP);
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (c->ca_file)
			EML_ENSURE(SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) == 1,
			           EML_E_KMS_HTTP);
		else
			EML_ENSURE(SSL_CTX_set_default_verify_paths(ctx) == 1, EML_E_KMS_HTTP);
		ssl = SSL_new(ctx);
		EML_ENSURE(ssl, EML_E_KMS_HTTP);
		SSL_set_tlsext_host_name(ssl, u->host);
		EML_ENSURE(SSL_set1_host(ssl, u->host) == 1, EML_E_KMS_HTTP);
		SSL_set_fd(ssl, fd);
		EML_ENSURE(SSL_connect(ssl) == 1, EML_E_KMS_HTTP);
	}
	size_t off = 0;
	while (off < req_len) {
		ssize_t w = ssl ? SSL_write(ssl, req + off, (int)(req_len - off))
		                : send(fd, req + off, req_len - off, MSG_NOSIGNAL);
		EML_ENSURE(w > 0, EML_E_KMS_HTTP);
		off += (size_t)w;
	}
	for (;;) {
		char tmp[4096];
		ssize_t r = ssl ? SSL_read(ssl, tmp, sizeof(tmp)) : recv(fd, tmp, sizeof(tmp), 0);
		if (r == 0 || (ssl && r < 0 && SSL_get_error(ssl, (int)r) == SSL_ERROR_ZERO_RETURN))
			break;
		EML_ENSURE(r > 0, EML_E_KMS_HTTP);
		eml_buf_put(&in, tmp, (size_t)r);
		EML_ENSURE(!eml_buf_error(&in), EML_E_KMS_HTTP);
		/* stop at Content-Length rather than waiting for the peer to close */
		if (response_complete(in.p, in.len))
			break;
	}
	EML_GUARD(eml_kms_http_response_parse(in.p, in.len, status, body));
out:
	if (ssl)
		SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	eml_buf_cleanup(&in);
	return rc;
}

int eml_kms_http_response_parse(const uint8_t *p, size_t n, int *status, char **body)
{
	int rc = EML_OK;
	const uint8_t *end;
	*body = NULL;
	*status = 0;
	/* "HTTP/1.x NNN ..." then headers up to the blank line; the body is the rest. */
	EML_ENSURE(p != NULL && n >= 12 && n <= EML_KMS_MAX_RESPONSE + 8192 &&
	               memcmp(p, "HTTP/1.", 7) == 0 && p[8] == ' ',
	           EML_E_KMS_HTTP);
	for (int i = 9; i < 12; i++) {
		EML_ENSURE(p[i] >= '0' && p[i] <= '9', EML_E_KMS_HTTP);
		*status = *status * 10 + (p[i] - '0');
	}
	end = memmem(p, n, "\r\n\r\n", 4);
	EML_ENSURE(end != NULL, EML_E_KMS_HTTP);
	end += 4;
	size_t bl = n - (size_t)(end - p);
	EML_ENSURE(bl <= EML_KMS_MAX_RESPONSE, EML_E_KMS_HTTP);
	/* The body is JSON text: a NUL inside would silently cut it. */
	EML_ENSURE(bl == 0 || memchr(end, 0, bl) == NULL, EML_E_KMS_HTTP);
	*body = eml_alloc(bl + 1);
	EML_ENSURE(*body != NULL, EML_E_NOMEM);
	memcpy(*body, end, bl);
	(*body)[bl] = '\0';
out:
	return rc;
}

int eml_kms_error_map(int status, const char *body)
{
	json_t *j = json_loads(body ? body : "", 0, NULL);
	const char *t = j ? json_string_value(json_object_get(j, "__type")) : NULL;
	int rc = EML_E_KMS_REMOTE;
	if (t) {
		const char *h = strrchr(t, '#');
		t = h ? h + 1 : t;
		if (!strcmp(t, "AccessDeniedException") || !strcmp(t, "IncorrectKeyException") ||
		    !strcmp(t, "InvalidCiphertextException") ||
		    !strcmp(t, "UnrecognizedClientException") ||
		    !strcmp(t, "InvalidSignatureException") ||
		    !strcmp(t, "KMSInvalidStateException"))
			rc = EML_E_KMS_ACCESS_DENIED;
		else if (!strcmp(t, "NotFoundException"))
			rc = EML_E_KMS_NOT_FOUND;
		else if (!strcmp(t, "ThrottlingException") || !strcmp(t, "LimitExceededException"))
			rc = EML_E_KMS_THROTTLED;
		else if (!strcmp(t, "ValidationException") ||
		         !strcmp(t, "SerializationException") ||
		         !strcmp(t, "InvalidKeyUsageException"))
			rc = EML_E_KMS_BAD_REQUEST;
	} else if (status == 429) {
		rc = EML_E_KMS_THROTTLED;
	}
	json_decref(j);
	return rc;
}

int eml_kms_call(const eml_kms_cfg *c, const char *op, const char *body, char **resp)
{
	int rc = EML_OK;
	url u;
	eml_sigv4_out so = {0};
	char *raw = NULL, *rbody = NULL;
	char target[64], date[EML_SIGV4_DATE_LEN + 1], hostport[300];
	const char *region = c->region ? c->region : "us-east-1";
	size_t bl = strlen(body);
	*resp = NULL;
	EML_ENSURE(bl <= EML_KMS_MAX_REQUEST, EML_E_KMS_BAD_REQUEST);
	EML_GUARD(parse_url(c->endpoint, &u));
	snprintf(target, sizeof(target), "TrentService.%s", op);
	int def = u.tls ? !strcmp(u.port, "443") : !strcmp(u.port, "80");
	snprintf(hostport, sizeof(hostport), def ? "%s" : "%s:%s", u.host, u.port);
	int retries = c->max_retries > 0 ? c->max_retries : 3;
	for (int attempt = 0;; attempt++) {
		eml_sigv4_out_free(&so);
		eml_free(raw);
		eml_free(rbody);
		raw = rbody = NULL;
		eml_sigv4_amz_date(c->now_s ? c->now_s : (int64_t)time(NULL), date);
		eml_sigv4_header hs[4] = {{"Host", hostport},
		                          {"Content-Type", "application/x-amz-json-1.1"},
		                          {"X-Amz-Date", date},
		                          {"X-Amz-Target", target}};
		eml_sigv4_req r = {.method = "POST",
		                   .path = "/",
		                   .headers = hs,
		                   .n_headers = 4,
		                   .body = body,
		                   .body_len = bl};
		EML_GUARD(eml_sigv4_sign(&r, &c->creds, region, "kms", date, &so));
		size_t cap =
		    bl + 4096 + (c->creds.session_token ? strlen(c->creds.session_token) : 0);
		raw = eml_alloc(cap);
		EML_ENSURE(raw, EML_E_NOMEM);
		int n = snprintf(
		    raw, cap,
		    "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: "
		    "application/x-amz-json-1.1\r\nX-Amz-Date: %s\r\nX-Amz-Target: "
		    "%s\r\n%s%s%sAuthorization: %s\r\nContent-Length: %zu\r\nConnection: "
		    "close\r\n\r\n%s",
		    hostport, date, target, c->creds.session_token ? "X-Amz-Security-Token: " : "",
		    c->creds.session_token ? c->creds.session_token : "",
		    c->creds.session_token ? "\r\n" : "", so.authz, bl, body);
		EML_ENSURE(n > 0 && (size_t)n < cap, EML_E_KMS_BAD_REQUEST);
		int status = 0;
		rc = http_post(c, &u, raw, (size_t)n, &status, &rbody);
		if (rc == EML_OK && status == 200) {
			*resp = rbody;
			rbody = NULL;
			break;
		}
		if (rc == EML_OK)
			rc = eml_kms_error_map(status, rbody);
		int retry = rc == EML_E_KMS_HTTP || rc == EML_E_KMS_THROTTLED ||
		            (rc == EML_E_KMS_REMOTE && status >= 500);
		if (!retry || attempt >= retries)
			break;
		/* exponential backoff with jitter: 100 ms, 200 ms, 400 ms, ... */
		uint8_t j = 0;
		(void)eml_random_bytes(&j, 1);
		struct timespec ts = {0, (long)((100L << attempt) + j % 50) * 1000000L};
		nanosleep(&ts, NULL);
	}
out:
	eml_sigv4_out_free(&so);
	eml_free(raw);
	eml_free(rbody);
	return rc;
}

/* Parse a JSON response; NULL on failure. */
static json_t *parse_resp(const char *resp)
{
	json_t *j = json_loads(resp, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	char *r = s ? eml_strdup(s) : NULL;
	free(s);
	return r;
}

int eml_kms_create_key(const eml_kms_cfg *c, const char *policy_json, char **key_id)
{
	int rc = EML_OK;
	char *body = NULL, *resp = NULL;
	json_t *req = json_object();
	*key_id = NULL;
	EML_ENSURE(req, EML_E_NOMEM);
	json_object_set_new(req, "KeySpec", json_string("SYMMETRIC_DEFAULT"));
	json_object_set_new(req, "KeyUsage", json_string("ENCRYPT_DECRYPT"));
	if (policy_json)
		json_object_set_new(req, "Policy", json_string(policy_json));
	body = dump(req);
	EML_ENSURE(body, EML_E_NOMEM);
	EML_GUARD(eml_kms_call(c, "CreateKey", body, &resp));
	EML_GUARD(eml_kms_create_key_parse(resp, key_id));
out:
	json_decref(req);
	eml_free(body);
	eml_free(resp);
	return rc;
}

int eml_kms_create_key_parse(const char *resp, char **key_id)
{
	int rc = EML_OK;
	json_t *j = parse_resp(resp);
	*key_id = NULL;
	const char *id =
	    j ? json_string_value(json_object_get(json_object_get(j, "KeyMetadata"), "KeyId"))
	      : NULL;
	EML_ENSURE(id != NULL && id[0] != '\0' && strlen(id) <= 2048, EML_E_KMS_REMOTE);
	*key_id = eml_strdup(id);
	EML_ENSURE(*key_id, EML_E_NOMEM);
out:
	json_decref(j);
	return rc;
}

int eml_kms_generate_data_key(const eml_kms_cfg *c, const char *key_id, const char *ctx_json,
                              uint8_t dk[EML_KMS_DATA_KEY_LEN], uint8_t **blob, size_t *blob_len)
{
	int rc = EML_OK;
	char *body = NULL, *resp = NULL;
	json_t *req = json_object(), *ctx = json_loads(ctx_json, 0, NULL);
	*blob = NULL;
	EML_ENSURE(req && ctx && json_is_object(ctx), EML_E_KMS_BAD_REQUEST);
	json_object_set_new(req, "KeyId", json_string(key_id));
	json_object_set_new(req, "KeySpec", json_string("AES_256"));
	json_object_set(req, "EncryptionContext", ctx);
	body = dump(req);
	EML_ENSURE(body, EML_E_NOMEM);
	EML_GUARD(eml_kms_call(c, "GenerateDataKey", body, &resp));
	EML_GUARD(eml_kms_data_key_parse(resp, dk, blob, blob_len));
out:
	json_decref(req);
	json_decref(ctx);
	eml_free(body);
	eml_free(resp); /* wipes the response's base64 plaintext */
	return rc;
}

int eml_kms_data_key_parse(const char *resp, uint8_t dk[EML_KMS_DATA_KEY_LEN], uint8_t **blob,
                           size_t *blob_len)
{
	int rc = EML_OK;
	uint8_t *pt = NULL;
	size_t pl = 0;
	json_t *j = parse_resp(resp);
	*blob = NULL;
	*blob_len = 0;
	const char *p = j ? json_string_value(json_object_get(j, "Plaintext")) : NULL;
	const char *b = j ? json_string_value(json_object_get(j, "CiphertextBlob")) : NULL;
	EML_ENSURE(p && b, EML_E_KMS_REMOTE);
	EML_ENSURE(eml_b64_decode(p, &pt, &pl) == EML_OK && pl == EML_KMS_DATA_KEY_LEN,
	           EML_E_KMS_REMOTE);
	EML_ENSURE(eml_b64_decode(b, blob, blob_len) == EML_OK && *blob_len > 0, EML_E_KMS_REMOTE);
	memcpy(dk, pt, EML_KMS_DATA_KEY_LEN);
out:
	if (rc != EML_OK) {
		eml_free(*blob);
		*blob = NULL;
		*blob_len = 0;
	}
	/* jansson does not wipe its copy of the base64 plaintext; the caller's response buffer
	 * (eml_alloc'd) is wiped when freed. */
	json_decref(j);
	eml_free(pt);
	return rc;
}

/* KMS answers with the key ARN; we may have asked by id or ARN (compare the final segment) or by
 * alias (cannot be compared here: the GCM tag over the sealed key still binds the data key). */
static int same_key(const char *answer, const char *asked)
{
	if (strncmp(asked, "alias/", 6) == 0 || strstr(asked, ":alias/"))
		return 1;
	const char *a = strrchr(answer, '/'), *b = strrchr(asked, '/');
	a = a ? a + 1 : answer;
	b = b ? b + 1 : asked;
	return strcmp(a, b) == 0;
}

int eml_kms_decrypt(const eml_kms_cfg *c, const char *key_id, const uint8_t *blob, size_t blob_len,
                    const char *ctx_json, const uint8_t *att_doc, size_t att_len, EVP_PKEY *rsa,
                    uint8_t dk[EML_KMS_DATA_KEY_LEN])
{
	int rc = EML_OK;
	char *body = NULL, *resp = NULL, *b64 = NULL, *ab64 = NULL;
	json_t *req = json_object(), *ctx = json_loads(ctx_json, 0, NULL);
	EML_ENSURE(req && ctx && json_is_object(ctx), EML_E_KMS_BAD_REQUEST);
	b64 = eml_b64_encode(blob, blob_len);
	EML_ENSURE(b64, EML_E_NOMEM);
	json_object_set_new(req, "KeyId", json_string(key_id));
	json_object_set_new(req, "CiphertextBlob", json_string(b64));
	json_object_set(req, "EncryptionContext", ctx);
	if (att_doc) {
		ab64 = eml_b64_encode(att_doc, att_len);
		EML_ENSURE(ab64 && rsa, EML_E_NOMEM);
		json_t *r = json_object();
		json_object_set_new(r, "AttestationDocument", json_string(ab64));
		json_object_set_new(r, "KeyEncryptionAlgorithm", json_string("RSAES_OAEP_SHA_256"));
		json_object_set_new(req, "Recipient", r);
	}
	body = dump(req);
	EML_ENSURE(body, EML_E_NOMEM);
	EML_GUARD(eml_kms_call(c, "Decrypt", body, &resp));
	EML_GUARD(eml_kms_decrypt_parse(resp, key_id, att_doc != NULL ? rsa : NULL, dk));
out:
	json_decref(req);
	json_decref(ctx);
	eml_free(body);
	eml_free(resp);
	eml_free(b64);
	eml_free(ab64);
	return rc;
}

int eml_kms_decrypt_parse(const char *resp, const char *key_id, EVP_PKEY *rsa,
                          uint8_t dk[EML_KMS_DATA_KEY_LEN])
{
	int rc = EML_OK;
	uint8_t *pt = NULL, *cms = NULL;
	size_t pl = 0, cl = 0;
	json_t *j = parse_resp(resp);
	EML_ENSURE(j, EML_E_KMS_REMOTE);
	/* the answer must be for the key we asked about (when KMS names it) */
	const char *kid = json_string_value(json_object_get(j, "KeyId"));
	EML_ENSURE(!kid || same_key(kid, key_id), EML_E_KMS_REMOTE);
	if (rsa != NULL) {
		/* with a Recipient, a plaintext in the answer means something is wrong: refuse it */
		EML_ENSURE(!json_object_get(j, "Plaintext"), EML_E_KMS_REMOTE);
		const char *cfr = json_string_value(json_object_get(j, "CiphertextForRecipient"));
		EML_ENSURE(cfr, EML_E_KMS_REMOTE);
		EML_ENSURE(eml_b64_decode(cfr, &cms, &cl) == EML_OK, EML_E_KMS_REMOTE);
		EML_GUARD(eml_cms_decrypt(cms, cl, rsa, &pt, &pl));
	} else {
		const char *p = json_string_value(json_object_get(j, "Plaintext"));
		EML_ENSURE(p, EML_E_KMS_REMOTE);
		EML_ENSURE(eml_b64_decode(p, &pt, &pl) == EML_OK, EML_E_KMS_REMOTE);
	}
	EML_ENSURE(pl == EML_KMS_DATA_KEY_LEN, EML_E_KMS_REMOTE);
	memcpy(dk, pt, EML_KMS_DATA_KEY_LEN);
out:
	json_decref(j);
	eml_free(cms);
	eml_free(pt);
	return rc;
}

int eml_kms_unseal(const eml_kms_cfg *c, const uint8_t *sealed, size_t sealed_len,
                   eml_kms_attest_fn attest, void *attest_ctx, uint8_t **tkey, size_t *tkey_len)
{
	int rc = EML_OK;
	eml_sealed s;
	EVP_PKEY *rsa = NULL;
	uint8_t *spki = NULL, *doc = NULL;
	size_t spki_len = 0, doc_len = 0;
	uint8_t dk[EML_KMS_DATA_KEY_LEN];
	char ctx[128];
	*tkey = NULL;
	EML_GUARD(eml_sealed_parse(sealed, sealed_len, &s));
	EML_GUARD(eml_sealed_context_json(s.model_id, ctx, sizeof(ctx)));
	/* per-call RSA-2048 recipient key, bound into the attestation document's public_key */
	EML_GUARD(eml_rsa_generate(&rsa));
	EML_GUARD(eml_rsa_spki(rsa, &spki, &spki_len));
	EML_GUARD(attest(attest_ctx, spki, spki_len, &doc, &doc_len));
	EML_GUARD(
	    eml_kms_decrypt(c, s.key_id, s.kms_blob, s.kms_blob_len, ctx, doc, doc_len, rsa, dk));
	/* CMS carries no MAC: the GCM tag over the sealed topology key is the authentication */
	EML_GUARD(eml_sealed_open(&s, dk, tkey, tkey_len));
out:
	eml_wipe(dk, sizeof(dk));
	eml_rsa_free(rsa);
	eml_free(spki);
	eml_free(doc);
	eml_stack_scrub(16 * 1024);
	return rc;
}
