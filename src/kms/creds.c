#include "kms/creds.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "eml/error.h"

eml_sigv4_creds eml_kms_creds_view(const eml_kms_creds *c)
{
	eml_sigv4_creds v = {.access_key = c->access_key,
	                     .secret_key = c->secret_key,
	                     .session_token =
	                         c->session_token[0] != '\0' ? c->session_token : NULL};
	return v;
}

/* Printable ASCII without spaces (they go into HTTP header values). */
static int printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int set_field(char *dst, size_t cap, const char *v, int required)
{
	size_t n = v != NULL ? strlen(v) : 0;
	if ((required && n == 0) || n > cap || !printable(v != NULL ? v : "", n))
		return EML_E_KMS_CREDENTIALS;
	if (n > 0)
		memcpy(dst, v, n);
	dst[n] = '\0';
	return EML_OK;
}

static int fill(eml_kms_creds *out, const char *ak, const char *sk, const char *tok)
{
	int rc = EML_OK;
	memset(out, 0, sizeof(*out));
	EML_GUARD(set_field(out->access_key, EML_KMS_CREDS_MAX_ID, ak, 1));
	EML_GUARD(set_field(out->secret_key, EML_KMS_CREDS_MAX_SECRET, sk, 1));
	EML_GUARD(set_field(out->session_token, EML_KMS_CREDS_MAX_TOKEN, tok, 0));
out:
	if (rc != EML_OK)
		eml_wipe(out, sizeof(*out));
	return rc;
}

int eml_kms_creds_load(const char *source, eml_kms_creds *out)
{
	int rc = EML_OK;
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *j = NULL;
	EML_ENSURE(source != NULL, EML_E_KMS_CREDENTIALS);
	if (strcmp(source, "env") == 0)
		return fill(out, getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"),
		            getenv("AWS_SESSION_TOKEN"));
	EML_ENSURE(eml_file_read(source, 64 * 1024, &buf, &len) == EML_OK, EML_E_KMS_CREDENTIALS);
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	EML_ENSURE(j != NULL && json_is_object(j), EML_E_KMS_CREDENTIALS);
	EML_GUARD(fill(out, json_string_value(json_object_get(j, "AccessKeyId")),
	               json_string_value(json_object_get(j, "SecretAccessKey")),
	               json_string_value(json_object_get(j, "SessionToken"))));
out:
	json_decref(j); /* jansson does not wipe; the file buffer is (eml_free) */
	eml_free(buf);
	return rc;
}

int eml_kms_creds_encode(const eml_kms_creds *c, eml_buf *out)
{
	const char *f[3] = {c->access_key, c->secret_key, c->session_token};
	for (int i = 0; i < 3; i++) {
		size_t n = strnlen(f[i], EML_KMS_CREDS_MAX_TOKEN + 1);
		if (n > EML_KMS_CREDS_MAX_TOKEN)
			return EML_E_KMS_CREDENTIALS;
		eml_buf_u16_be(out, (uint16_t)n);
		eml_buf_put(out, f[i], n);
	}
	return eml_buf_error(out);
}

#define RD(x) EML_ENSURE((x) == EML_OK, EML_E_KMS_CREDENTIALS)

static int read_field(eml_cursor *c, char *dst, size_t cap, int required)
{
	int rc = EML_OK;
	uint16_t n = 0;
	const uint8_t *v = NULL;
	RD(eml_cur_u16_be(c, &n));
	EML_ENSURE(n <= cap && (!required || n > 0), EML_E_KMS_CREDENTIALS);
	RD(eml_cur_view(c, n, &v));
	EML_ENSURE(printable((const char *)v, n), EML_E_KMS_CREDENTIALS);
	if (n > 0)
		memcpy(dst, v, n);
	dst[n] = '\0';
out:
	return rc;
}

int eml_kms_creds_decode(const uint8_t *p, size_t n, eml_kms_creds *out)
{
	int rc = EML_OK;
	eml_cursor c;
	memset(out, 0, sizeof(*out));
	EML_ENSURE(n <= EML_KMS_CREDS_MAX_PAYLOAD, EML_E_KMS_CREDENTIALS);
	eml_cur_init(&c, p, n);
	EML_GUARD(read_field(&c, out->access_key, EML_KMS_CREDS_MAX_ID, 1));
	EML_GUARD(read_field(&c, out->secret_key, EML_KMS_CREDS_MAX_SECRET, 1));
	EML_GUARD(read_field(&c, out->session_token, EML_KMS_CREDS_MAX_TOKEN, 0));
	EML_ENSURE(eml_cur_end(&c) == EML_OK, EML_E_KMS_CREDENTIALS);
out:
	if (rc != EML_OK)
		eml_wipe(out, sizeof(*out));
	return rc;
}
