/*
 * The AWS credentials the host passes to the enclave (src/kms/creds.h, docs/KMS.md): the
 * KMS_CREDS payload round-trips; everything malformed is refused (every truncation, trailing
 * bytes, empty or over-long fields, and any byte that could break out of an HTTP header: CR, LF,
 * space, NUL, non-ASCII); the host's sources ("env", an `aws configure export-credentials`
 * JSON file) load or fail with KMS_CREDENTIALS.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "kms/creds.h"
#include "prop.h"

static void make(eml_kms_creds *c, const char *ak, const char *sk, const char *tok)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->access_key, sizeof(c->access_key), "%s", ak);
	snprintf(c->secret_key, sizeof(c->secret_key), "%s", sk);
	snprintf(c->session_token, sizeof(c->session_token), "%s", tok);
}

/* Raw payload from three fields given with explicit lengths (may hold any byte). */
static void raw(eml_buf *b, const char *f[3], const size_t n[3])
{
	for (int i = 0; i < 3; i++) {
		eml_buf_u16_be(b, (uint16_t)n[i]);
		eml_buf_put(b, f[i], n[i]);
	}
}

Test(kms_creds, round_trip_and_every_truncation_refused)
{
	eml_kms_creds *c = eml_alloc(sizeof(*c)), *d = eml_alloc(sizeof(*d));
	const char *toks[] = {"", "FwoGZXIvYXdzEJr//////////wEaDH+token/with+slashes=="};
	for (int t = 0; t < 2; t++) {
		make(c, "ASIAEXAMPLE123", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", toks[t]);
		eml_buf b;
		eml_buf_init(&b, 0);
		cr_assert_eq(eml_kms_creds_encode(c, &b), EML_OK);
		cr_assert_eq(eml_kms_creds_decode(b.p, b.len, d), EML_OK);
		cr_assert_str_eq(d->access_key, c->access_key);
		cr_assert_str_eq(d->secret_key, c->secret_key);
		cr_assert_str_eq(d->session_token, c->session_token);
		eml_sigv4_creds v = eml_kms_creds_view(d);
		cr_assert(t == 0 ? v.session_token == NULL : strcmp(v.session_token, toks[t]) == 0);
		for (size_t k = 0; k < b.len; k++)
			cr_assert_eq(eml_kms_creds_decode(b.p, k, d), EML_E_KMS_CREDENTIALS,
			             "cut %zu", k);
		eml_buf_u8(&b, 0);
		cr_assert_eq(eml_kms_creds_decode(b.p, b.len, d), EML_E_KMS_CREDENTIALS);
		eml_buf_cleanup(&b);
	}
	eml_free(c);
	eml_free(d);
}

Test(kms_creds, header_injection_and_limits_refused)
{
	eml_kms_creds *d = eml_alloc(sizeof(*d));
	static const char bad[] = {'\r', '\n', ' ', '\0', '\t', (char)0x7f, (char)0xc3};
	char big[EML_KMS_CREDS_MAX_TOKEN + 2];
	memset(big, 'A', sizeof(big));
	for (int field = 0; field < 3; field++) {
		for (size_t i = 0; i < sizeof(bad); i++) {
			char v[8] = "abcdef";
			v[3] = bad[i];
			const char *f[3] = {"AKID", "secret", "token"};
			size_t n[3] = {4, 6, 5};
			f[field] = v;
			n[field] = 6;
			eml_buf b;
			eml_buf_init(&b, 0);
			raw(&b, f, n);
			cr_assert_eq(eml_kms_creds_decode(b.p, b.len, d), EML_E_KMS_CREDENTIALS,
			             "field %d byte %02x", field, (unsigned)(uint8_t)bad[i]);
			eml_buf_cleanup(&b);
		}
		/* over the field's limit */
		const size_t lim[3] = {EML_KMS_CREDS_MAX_ID, EML_KMS_CREDS_MAX_SECRET,
		                       EML_KMS_CREDS_MAX_TOKEN};
		const char *f[3] = {"AKID", "secret", "token"};
		size_t n[3] = {4, 6, 5};
		f[field] = big;
		n[field] = lim[field] + 1;
		eml_buf b;
		eml_buf_init(&b, 0);
		raw(&b, f, n);
		cr_assert_eq(eml_kms_creds_decode(b.p, b.len, d), EML_E_KMS_CREDENTIALS, "long %d",
		             field);
		eml_buf_cleanup(&b);
		/* at the limit: fine */
		n[field] = lim[field];
		eml_buf_init(&b, 0);
		raw(&b, f, n);
		cr_assert_eq(eml_kms_creds_decode(b.p, b.len, d), EML_OK, "at limit %d", field);
		eml_buf_cleanup(&b);
	}
	/* empty access key or secret (an empty token means none) */
	for (int field = 0; field < 3; field++) {
		const char *f[3] = {"AKID", "secret", "token"};
		size_t n[3] = {4, 6, 5};
		n[field] = 0;
		eml_buf b;
		eml_buf_init(&b, 0);
		raw(&b, f, n);
		cr_assert_eq(eml_kms_creds_decode(b.p, b.len, d),
		             field == 2 ? EML_OK : EML_E_KMS_CREDENTIALS, "empty %d", field);
		eml_buf_cleanup(&b);
	}
	eml_free(d);
}

Test(kms_creds, host_sources)
{
	eml_kms_creds *c = eml_alloc(sizeof(*c));
	char *dir = eml_test_tmpdir(), path[1024];
	snprintf(path, sizeof(path), "%s/creds.json", dir);
	/* env */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	cr_assert_eq(eml_kms_creds_load("env", c), EML_OK);
	cr_assert_str_eq(c->access_key, "AKIDENV");
	cr_assert_str_eq(c->session_token, "envtoken");
	unsetenv("AWS_SESSION_TOKEN");
	cr_assert_eq(eml_kms_creds_load("env", c), EML_OK);
	cr_assert_str_eq(c->session_token, "");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	cr_assert_eq(eml_kms_creds_load("env", c), EML_E_KMS_CREDENTIALS);
	unsetenv("AWS_ACCESS_KEY_ID");
	/* the process-credentials JSON of `aws configure export-credentials --format process` */
	static const char good[] =
	    "{\"Version\": 1, \"AccessKeyId\": \"ASIAFILE\", \"SecretAccessKey\": \"filesecret\", "
	    "\"SessionToken\": \"filetoken\", \"Expiration\": \"2026-11-25T22:00:00+00:00\"}";
	cr_assert_eq(eml_file_write_atomic(path, good, strlen(good), 0600), EML_OK);
	cr_assert_eq(eml_kms_creds_load(path, c), EML_OK);
	cr_assert_str_eq(c->access_key, "ASIAFILE");
	cr_assert_str_eq(c->secret_key, "filesecret");
	cr_assert_str_eq(c->session_token, "filetoken");
	static const char *bad[] = {
	    "{\"AccessKeyId\": \"ASIAFILE\"}",
	    "{\"AccessKeyId\": \"ASIAFILE\", \"SecretAccessKey\": \"s\", \"SessionToken\": "
	    "\"t\\r\\nX-Injected: 1\"}",
	    "{\"AccessKeyId\": 7, \"SecretAccessKey\": \"s\"}",
	    "[\"ASIAFILE\", \"s\"]",
	    "{\"AccessKeyId\": \"A\", \"AccessKeyId\": \"B\", \"SecretAccessKey\": \"s\"}",
	    "not json"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(eml_file_write_atomic(path, bad[i], strlen(bad[i]), 0600), EML_OK);
		cr_assert_eq(eml_kms_creds_load(path, c), EML_E_KMS_CREDENTIALS, "%s", bad[i]);
	}
	snprintf(path, sizeof(path), "%s/missing.json", dir);
	cr_assert_eq(eml_kms_creds_load(path, c), EML_E_KMS_CREDENTIALS);
	cr_assert_eq(eml_kms_creds_load(NULL, c), EML_E_KMS_CREDENTIALS);
	eml_test_rmtree(dir);
	free(dir);
	eml_free(c);
}
