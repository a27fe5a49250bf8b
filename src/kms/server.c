/*
 * Local KMS service for development and tests (docs/KMS.md): the same JSON 1.1 API subset as AWS
 * KMS (CreateKey with a key policy, GenerateDataKey, Encrypt, Decrypt with and without
 * Recipient), SigV4 checked against one configured access key, Recipient attestation documents
 * verified against a trusted root, key policy conditions kms:RecipientAttestation:ImageSha384 and
 * kms:RecipientAttestation:PCR0..PCR15 (StringEqualsIgnoreCase) and kms:EncryptionContext:<k>
 * (StringEquals) enforced. State: keys wrapped with AES-256-GCM under a 0600 master key file,
 * written atomically.
 *
 * Ciphertext blob (ours, opaque to clients):
 *   "EKB1" | u16 key_id_len | key_id | nonce[12] | AES-GCM(plaintext) || tag
 *   AAD = key_id || 0 || canonical encryption context (sorted compact JSON)
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "attest/doc.h"
#include "attest/verify.h"
#include "common/cursor.h"
#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/aead.h"
#include "crypto/cms.h"
#include "crypto/rsa.h"
#include "kms/kms.h"

#define MAX_KEYS 1024
#define MAX_POLICY (32 * 1024)
#define MAX_SKEW_S (15 * 60)

typedef struct kkey {
	char id[48];
	char *policy; /* JSON text */
	uint8_t material[32];
} kkey;

struct eml_kms_server {
	eml_kms_server_cfg cfg;
	char *state_dir, *root, *ak, *sk, *region;
	uint8_t master[32];
	kkey *keys;
	size_t n_keys;
	SSL_CTX *tls; /* NULL: plain HTTP */
};

static int state_path(const eml_kms_server *s, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", s->state_dir, name);
	return n > 0 && (size_t)n < cap ? EML_OK : EML_E_KMS_STATE;
}

static int save_state(eml_kms_server *s)
{
	int rc = EML_OK;
	char p[4096];
	json_t *arr = json_array(), *root = json_object();
	char *txt = NULL;
	EML_ENSURE(arr && root, EML_E_NOMEM);
	for (size_t i = 0; i < s->n_keys; i++) {
		uint8_t w[12 + 32 + 16];
		EML_GUARD(eml_random_bytes(w, 12));
		EML_GUARD(eml_aead_seal(s->master, w, s->keys[i].id, strlen(s->keys[i].id),
		                        s->keys[i].material, 32, w + 12));
		char *b = eml_b64_encode(w, sizeof(w));
		EML_ENSURE(b, EML_E_NOMEM);
		json_t *k = json_object();
		json_object_set_new(k, "KeyId", json_string(s->keys[i].id));
		json_object_set_new(k, "Policy", json_string(s->keys[i].policy));
		json_object_set_new(k, "Wrapped", json_string(b));
		json_array_append_new(arr, k);
		eml_free(b);
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set(root, "keys", arr);
	txt = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	EML_ENSURE(txt, EML_E_NOMEM);
	EML_GUARD(state_path(s, "keys.json", p, sizeof(p)));
	EML_ENSURE(eml_file_write_atomic(p, txt, strlen(txt), 0600) == EML_OK, EML_E_KMS_STATE);
out:
	free(txt);
	json_decref(arr);
	json_decref(root);
	return rc;
}

static int load_state(eml_kms_server *s)
{
	int rc = EML_OK;
	char p[4096];
	uint8_t *txt = NULL, *mk = NULL, *w = NULL;
	size_t tl = 0, ml = 0, wl = 0;
	json_t *root = NULL;
	struct stat st;
	EML_ENSURE(mkdir(s->state_dir, 0700) == 0 || errno == EEXIST, EML_E_KMS_STATE);
	EML_GUARD(state_path(s, "master.key", p, sizeof(p)));
	if (stat(p, &st) != 0) {
		EML_GUARD(eml_random_bytes(s->master, 32));
		EML_ENSURE(eml_file_write_atomic(p, s->master, 32, 0600) == EML_OK,
		           EML_E_KMS_STATE);
	} else {
		/* a master key readable by group or others is refused */
		EML_ENSURE((st.st_mode & 077) == 0, EML_E_KMS_STATE);
		EML_ENSURE(eml_file_read(p, 32, &mk, &ml) == EML_OK && ml == 32, EML_E_KMS_STATE);
		memcpy(s->master, mk, 32);
	}
	EML_GUARD(state_path(s, "keys.json", p, sizeof(p)));
	if (stat(p, &st) != 0)
		goto out;
	EML_ENSURE(eml_file_read(p, 16u << 20, &txt, &tl) == EML_OK, EML_E_KMS_STATE);
	root = json_loadb((const char *)txt, tl, JSON_REJECT_DUPLICATES, NULL);
	json_t *arr = root ? json_object_get(root, "keys") : NULL;
	EML_ENSURE(json_is_array(arr) && json_array_size(arr) <= MAX_KEYS, EML_E_KMS_STATE);
	s->keys = eml_calloc(json_array_size(arr) + 1, sizeof(kkey));
	EML_ENSURE(s->keys, EML_E_NOMEM);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *k = json_array_get(arr, i);
		const char *id = json_string_value(json_object_get(k, "KeyId"));
		const char *pol = json_string_value(json_object_get(k, "Policy"));
		const char *wr = json_string_value(json_object_get(k, "Wrapped"));
		EML_ENSURE(id && pol && wr && strlen(id) < sizeof(s->keys[i].id), EML_E_KMS_STATE);
		EML_ENSURE(eml_b64_decode(wr, &w, &wl) == EML_OK && wl == 60, EML_E_KMS_STATE);
		kkey *kk = &s->keys[s->n_keys];
		strcpy(kk->id, id);
		EML_ENSURE(eml_aead_open(s->master, w, id, strlen(id), w + 12, 48, kk->material) ==
		               EML_OK,
		           EML_E_KMS_STATE);
		kk->policy = eml_strdup(pol);
		EML_ENSURE(kk->policy, EML_E_NOMEM);
		s->n_keys++;
		eml_free(w);
		w = NULL;
	}
out:
	json_decref(root);
	eml_free(txt);
	eml_free(mk);
	eml_free(w);
	return rc;
}

/* TLS with a certificate generated on first start: P-256, self-signed, SAN IP:127.0.0.1 and
 * DNS:localhost, kept as DIR/tls-cert.pem (clients trust it with --ca-file / EML_KMS_CA_FILE) and
 * DIR/tls-key.pem (0600). */
static int tls_setup(eml_kms_server *s)
{
	int rc = EML_OK;
	char cp[4096], kp[4096];
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	FILE *f = NULL;
	EML_GUARD(state_path(s, "tls-cert.pem", cp, sizeof(cp)));
	EML_GUARD(state_path(s, "tls-key.pem", kp, sizeof(kp)));
	if (access(cp, F_OK) != 0) {
		k = EVP_EC_gen("P-256");
		x = X509_new();
		EML_ENSURE(k && x, EML_E_CRYPTO);
		uint8_t serial[8];
		EML_GUARD(eml_random_bytes(serial, sizeof(serial)));
		serial[0] &= 0x7f;
		BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
		EML_ENSURE(bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)), EML_E_CRYPTO);
		BN_free(bn);
		X509_set_version(x, 2);
		X509_gmtime_adj(X509_getm_notBefore(x), -60);
		X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
		X509_set_pubkey(x, k);
		X509_NAME *nm = X509_get_subject_name(x);
		X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
		                           (const unsigned char *)"eml local kms", -1, -1, 0);
		X509_set_issuer_name(x, nm);
		X509V3_CTX v3;
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		const char *exts[][2] = {{"subjectAltName", "IP:127.0.0.1,DNS:localhost"},
		                         {"basicConstraints", "critical,CA:TRUE"}};
		for (size_t i = 0; i < 2; i++) {
			X509_EXTENSION *e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
			EML_ENSURE(e, EML_E_CRYPTO);
			X509_add_ext(x, e, -1);
			X509_EXTENSION_free(e);
		}
		EML_ENSURE(X509_sign(x, k, EVP_sha256()) > 0, EML_E_CRYPTO);
		int kfd = open(kp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		EML_ENSURE(kfd >= 0, EML_E_KMS_STATE);
		f = fdopen(kfd, "w");
		EML_ENSURE(f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1,
		           EML_E_KMS_STATE);
		EML_ENSURE(fclose(f) == 0, EML_E_KMS_STATE);
		f = fopen(cp, "w");
		EML_ENSURE(f && PEM_write_X509(f, x) == 1, EML_E_KMS_STATE);
		EML_ENSURE(fclose(f) == 0, EML_E_KMS_STATE);
		f = NULL;
	}
	s->tls = SSL_CTX_new(TLS_server_method());
	EML_ENSURE(s->tls, EML_E_CRYPTO);
	SSL_CTX_set_min_proto_version(s->tls, TLS1_2_VERSION);
	EML_ENSURE(SSL_CTX_use_certificate_file(s->tls, cp, SSL_FILETYPE_PEM) == 1 &&
	               SSL_CTX_use_PrivateKey_file(s->tls, kp, SSL_FILETYPE_PEM) == 1,
	           EML_E_KMS_STATE);
out:
	EVP_PKEY_free(k);
	X509_free(x);
	return rc;
}

int eml_kms_server_open(const eml_kms_server_cfg *cfg, eml_kms_server **out)
{
	int rc = EML_OK;
	eml_kms_server *s = eml_calloc(1, sizeof(*s));
	*out = NULL;
	EML_ENSURE(s, EML_E_NOMEM);
	EML_ENSURE(cfg->state_dir && cfg->trust_root_pem && cfg->access_key && cfg->secret_key,
	           EML_E_USAGE);
	s->cfg = *cfg;
	s->state_dir = eml_strdup(cfg->state_dir);
	s->root = eml_strdup(cfg->trust_root_pem);
	s->ak = eml_strdup(cfg->access_key);
	s->sk = eml_strdup(cfg->secret_key);
	s->region = eml_strdup(cfg->region ? cfg->region : "us-east-1");
	EML_ENSURE(s->state_dir && s->root && s->ak && s->sk && s->region, EML_E_NOMEM);
	EML_GUARD(load_state(s));
	if (cfg->tls)
		EML_GUARD(tls_setup(s));
	*out = s;
	s = NULL;
out:
	eml_kms_server_free(s);
	return rc;
}

void eml_kms_server_free(eml_kms_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_keys; i++)
		eml_free(s->keys[i].policy);
	eml_free(s->keys);
	eml_free(s->state_dir);
	eml_free(s->root);
	eml_free(s->ak);
	eml_free(s->sk);
	eml_free(s->region);
	SSL_CTX_free(s->tls);
	eml_wipe(s->master, sizeof(s->master));
	eml_free(s);
}

static kkey *find_key(eml_kms_server *s, const char *id)
{
	if (!id)
		return NULL;
	const char *p = strrchr(id, '/'); /* accept arn:...:key/<id> */
	p = p ? p + 1 : id;
	for (size_t i = 0; i < s->n_keys; i++)
		if (strcmp(s->keys[i].id, p) == 0)
			return &s->keys[i];
	return NULL;
}

/* ---- key policy ---- */

typedef struct req_ctx {
	const char *action;              /* "kms:Decrypt" ... */
	json_t *enc_ctx;                 /* object or NULL */
	const eml_attest_claims *claims; /* verified Recipient document, or NULL */
} req_ctx;

static int action_matches(json_t *a, const char *action)
{
	if (json_is_string(a)) {
		const char *v = json_string_value(a);
		return !strcmp(v, "kms:*") || !strcmp(v, "*") || !strcmp(v, action);
	}
	if (json_is_array(a)) {
		size_t i;
		json_t *x;
		json_array_foreach(a, i, x) if (action_matches(x, action)) return 1;
	}
	return 0;
}

/* The request's value for a condition key, in a caller buffer; NULL when absent. */
static const char *cond_value(const req_ctx *r, const char *key, char *buf, size_t cap)
{
	const char *pfx = "kms:RecipientAttestation:";
	if (strncasecmp(key, pfx, strlen(pfx)) == 0) {
		if (!r->claims)
			return NULL;
		const char *k = key + strlen(pfx);
		int idx = -1;
		if (!strcasecmp(k, "ImageSha384"))
			idx = 0; /* the enclave image measurement is PCR0 */
		else if (!strncasecmp(k, "PCR", 3) && k[3]) {
			char *e;
			long v = strtol(k + 3, &e, 10);
			if (*e == 0 && v >= 0 && v <= 15)
				idx = (int)v;
		}
		if (idx < 0 || !(r->claims->pcr_mask & (1u << idx)) ||
		    2 * (size_t)r->claims->pcr_len[idx] + 1 > cap)
			return NULL;
		eml_hex(r->claims->pcrs[idx], r->claims->pcr_len[idx], buf);
		return buf;
	}
	const char *cp = "kms:EncryptionContext:";
	if (strncasecmp(key, cp, strlen(cp)) == 0 && r->enc_ctx)
		return json_string_value(json_object_get(r->enc_ctx, key + strlen(cp)));
	return NULL;
}

/* 1 when every condition of the statement holds; unknown operators or keys never hold. */
static int conditions_hold(json_t *cond, const req_ctx *r)
{
	const char *op;
	json_t *kv;
	if (!cond)
		return 1;
	if (!json_is_object(cond))
		return 0;
	json_object_foreach(cond, op, kv)
	{
		int icase;
		if (!strcmp(op, "StringEqualsIgnoreCase"))
			icase = 1;
		else if (!strcmp(op, "StringEquals"))
			icase = 0;
		else
			return 0;
		if (!json_is_object(kv))
			return 0;
		const char *key;
		json_t *want;
		json_object_foreach(kv, key, want)
		{
			char buf[2 * EML_ATTEST_PCR_MAXLEN + 1];
			const char *have = cond_value(r, key, buf, sizeof(buf));
			if (!have)
				return 0;
			int ok = 0;
			json_t *arr = json_is_array(want) ? want : NULL;
			size_t n = arr ? json_array_size(arr) : 1;
			for (size_t i = 0; i < n && !ok; i++) {
				const char *w =
				    json_string_value(arr ? json_array_get(arr, i) : want);
				if (!w || strlen(w) != strlen(have))
					continue;
				ok = icase ? !strcasecmp(w, have) : !strcmp(w, have);
			}
			if (!ok)
				return 0;
		}
	}
	return 1;
}

/* IAM-style evaluation: an explicit Deny wins, otherwise some Allow must match. */
static int policy_allows(const char *policy, const req_ctx *r)
{
	json_t *p = json_loads(policy, JSON_REJECT_DUPLICATES, NULL);
	json_t *st = p ? json_object_get(p, "Statement") : NULL;
	int allow = 0, deny = 0;
	if (json_is_object(st)) {
		json_t *a = json_array();
		json_array_append(a, st);
		st = a;
	} else {
		json_incref(st);
	}
	size_t i;
	json_t *s;
	if (json_is_array(st)) {
		json_array_foreach(st, i, s)
		{
			const char *eff = json_string_value(json_object_get(s, "Effect"));
			if (!eff || !action_matches(json_object_get(s, "Action"), r->action))
				continue;
			if (!conditions_hold(json_object_get(s, "Condition"), r))
				continue;
			if (!strcmp(eff, "Deny"))
				deny = 1;
			else if (!strcmp(eff, "Allow"))
				allow = 1;
		}
	}
	json_decref(st);
	json_decref(p);
	return allow && !deny;
}

/* ---- ciphertext blobs ---- */

static char *canon_ctx(json_t *ctx)
{
	json_t *e = ctx ? json_incref(ctx) : json_object();
	char *s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(e);
	return s;
}

static int ctx_valid(json_t *ctx)
{
	if (!ctx)
		return 1;
	if (!json_is_object(ctx))
		return 0;
	const char *k;
	json_t *v;
	json_object_foreach(ctx, k, v) if (!json_is_string(v)) return 0;
	return 1;
}

static int blob_make(const kkey *k, json_t *ctx, const uint8_t *pt, size_t pl, uint8_t **out,
                     size_t *ol)
{
	int rc = EML_OK;
	eml_buf b, aad;
	char *cs = canon_ctx(ctx);
	uint8_t nonce[12];
	eml_buf_init(&b, 8192);
	eml_buf_init(&aad, 64 * 1024);
	EML_ENSURE(cs && pl <= 4096, EML_E_KMS_BAD_REQUEST);
	size_t il = strlen(k->id);
	eml_buf_put(&aad, k->id, il + 1);
	eml_buf_put(&aad, cs, strlen(cs));
	EML_GUARD(eml_random_bytes(nonce, 12));
	eml_buf_put(&b, "EKB1", 4);
	eml_buf_u16(&b, (uint16_t)il);
	eml_buf_put(&b, k->id, il);
	eml_buf_put(&b, nonce, 12);
	size_t at = b.len;
	eml_buf_zero(&b, pl + 16);
	EML_ENSURE(!eml_buf_error(&b) && !eml_buf_error(&aad), EML_E_NOMEM);
	EML_GUARD(eml_aead_seal(k->material, nonce, aad.p, aad.len, pt, pl, b.p + at));
	*out = eml_buf_take(&b, ol);
out:
	free(cs);
	eml_buf_cleanup(&b);
	eml_buf_cleanup(&aad);
	return rc;
}

/* Open a blob: its key must be `k` (when given) and the context must match. */
static int blob_open(eml_kms_server *s, const uint8_t *blob, size_t bl, json_t *ctx, kkey **kout,
                     uint8_t *pt, size_t cap, size_t *pl)
{
	int rc = EML_OK;
	eml_cursor c;
	const uint8_t *m, *id, *nonce, *ct;
	uint16_t il;
	char idbuf[64];
	eml_buf aad;
	char *cs = canon_ctx(ctx);
	eml_buf_init(&aad, 64 * 1024);
	eml_cur_init(&c, blob, bl);
	EML_ENSURE(cs, EML_E_NOMEM);
	EML_ENSURE(eml_cur_view(&c, 4, &m) == EML_OK && !memcmp(m, "EKB1", 4) &&
	               eml_cur_u16(&c, &il) == EML_OK && il < sizeof(idbuf) &&
	               eml_cur_view(&c, il, &id) == EML_OK &&
	               eml_cur_view(&c, 12, &nonce) == EML_OK,
	           EML_E_KMS_ACCESS_DENIED);
	size_t cl = eml_cur_remaining(&c);
	EML_ENSURE(cl > 16 && cl - 16 <= cap && eml_cur_view(&c, cl, &ct) == EML_OK,
	           EML_E_KMS_ACCESS_DENIED);
	memcpy(idbuf, id, il);
	idbuf[il] = 0;
	kkey *k = find_key(s, idbuf);
	EML_ENSURE(k, EML_E_KMS_ACCESS_DENIED);
	EML_ENSURE(!*kout || *kout == k, EML_E_KMS_ACCESS_DENIED); /* IncorrectKeyException */
	eml_buf_put(&aad, k->id, strlen(k->id) + 1);
	eml_buf_put(&aad, cs, strlen(cs));
	EML_ENSURE(!eml_buf_error(&aad), EML_E_NOMEM);
	EML_ENSURE(eml_aead_open(k->material, nonce, aad.p, aad.len, ct, cl, pt) == EML_OK,
	           EML_E_KMS_ACCESS_DENIED);
	*pl = cl - 16;
	*kout = k;
out:
	free(cs);
	eml_buf_cleanup(&aad);
	return rc;
}

/* ---- operations ---- */

static json_t *err_json(const char *type, int status, int *http_status)
{
	*http_status = status;
	json_t *e = json_object();
	json_object_set_new(e, "__type", json_string(type));
	json_object_set_new(e, "message", json_string(type));
	return e;
}

static int b64_field(json_t *req, const char *name, uint8_t **out, size_t *ol)
{
	const char *v = json_string_value(json_object_get(req, name));
	return v ? eml_b64_decode(v, out, ol) : EML_E_MALFORMED;
}

/* Verify a Recipient's attestation document against the trusted root. */
static int verify_recipient(eml_kms_server *s, const uint8_t *doc, size_t dl,
                            eml_attest_claims *claims)
{
	int rc = EML_OK;
	eml_attest_doc d;
	eml_policy *pol = NULL;
	char hex[2 * EML_ATTEST_PCR_MAXLEN + 1], *pj = NULL;
	rc = eml_attest_doc_parse(doc, dl, &d);
	if (rc == EML_OK && !(d.pcr_mask & 1))
		rc = EML_E_ATTEST_FIELD;
	if (rc == EML_OK)
		eml_hex(d.pcrs[0], d.pcr_len[0], hex);
	eml_attest_doc_cleanup(&d);
	EML_GUARD(rc);
	/* The attestation policy pins only the root (chain, signature, freshness); the PCR conditions
	 * are the key policy's, checked after. PCR0 here is the document's own, so the set always
	 * matches once the signature holds. */
	json_t *p = json_object();
	json_t *set = json_object();
	json_object_set_new(set, "0", json_string(hex));
	json_t *sets = json_array();
	json_array_append_new(sets, set);
	json_object_set_new(p, "version", json_integer(1));
	json_object_set_new(p, "root", json_string(s->root));
	json_object_set_new(p, "pcrs", sets);
	json_object_set_new(p, "allow_debug", json_true());
	json_object_set_new(p, "max_age_ms",
	                    json_integer(s->cfg.max_age_ms > 0 ? s->cfg.max_age_ms : 300000));
	pj = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	EML_ENSURE(pj, EML_E_NOMEM);
	EML_GUARD(eml_policy_parse_json(pj, strlen(pj), NULL, &pol));
	EML_GUARD(eml_attest_verify(doc, dl, pol, NULL, claims));
	EML_ENSURE(claims->has_public_key, EML_E_ATTEST_FIELD);
out:
	free(pj);
	eml_policy_free(pol);
	return rc;
}

static json_t *op_create_key(eml_kms_server *s, json_t *req, int *st)
{
	const char *pol = json_string_value(json_object_get(req, "Policy"));
	const char *def =
	    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
	    "\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
	if (!pol)
		pol = def;
	json_t *pj = json_loads(pol, JSON_REJECT_DUPLICATES, NULL);
	int ok = pj && json_is_object(pj) && strlen(pol) <= MAX_POLICY && s->n_keys < MAX_KEYS;
	json_decref(pj);
	if (!ok)
		return err_json("MalformedPolicyDocumentException", 400, st);
	kkey *nk = eml_realloc(s->keys, (s->n_keys + 1) * sizeof(kkey));
	if (!nk)
		return err_json("KMSInternalException", 500, st);
	s->keys = nk;
	kkey *k = &s->keys[s->n_keys];
	memset(k, 0, sizeof(*k));
	uint8_t r[16];
	char hex[33];
	if (eml_random_bytes(r, 16) != EML_OK || eml_random_bytes(k->material, 32) != EML_OK)
		return err_json("KMSInternalException", 500, st);
	eml_hex(r, 16, hex);
	snprintf(k->id, sizeof(k->id), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
	         hex + 16, hex + 20);
	k->policy = eml_strdup(pol);
	if (!k->policy)
		return err_json("KMSInternalException", 500, st);
	s->n_keys++;
	if (save_state(s) != EML_OK) {
		s->n_keys--;
		eml_free(k->policy);
		return err_json("KMSInternalException", 500, st);
	}
	json_t *meta = json_object();
	json_object_set_new(meta, "KeyId", json_string(k->id));
	char arn[128];
	snprintf(arn, sizeof(arn), "arn:aws:kms:%s:000000000000:key/%s", s->region, k->id);
	json_object_set_new(meta, "Arn", json_string(arn));
	json_object_set_new(meta, "KeyState", json_string("Enabled"));
	json_t *o = json_object();
	json_object_set_new(o, "KeyMetadata", meta);
	return o;
}

static json_t *op_encrypt(eml_kms_server *s, json_t *req, int gen, int *st)
{
	kkey *k = find_key(s, json_string_value(json_object_get(req, "KeyId")));
	json_t *ctx = json_object_get(req, "EncryptionContext");
	uint8_t pt[4096], *in = NULL, *blob = NULL;
	size_t pl = 0, bl = 0;
	json_t *o = NULL;
	if (!k)
		return err_json("NotFoundException", 400, st);
	if (!ctx_valid(ctx))
		return err_json("ValidationException", 400, st);
	req_ctx rc = {gen ? "kms:GenerateDataKey" : "kms:Encrypt", ctx, NULL};
	if (!policy_allows(k->policy, &rc))
		return err_json("AccessDeniedException", 400, st);
	if (gen) {
		const char *spec = json_string_value(json_object_get(req, "KeySpec"));
		json_int_t nb = json_integer_value(json_object_get(req, "NumberOfBytes"));
		pl = spec ? (!strcmp(spec, "AES_256")   ? 32
		             : !strcmp(spec, "AES_128") ? 16
		                                        : 0)
		          : (size_t)nb;
		if (pl == 0 || pl > 1024 || eml_random_bytes(pt, pl) != EML_OK)
			return err_json("ValidationException", 400, st);
	} else {
		if (b64_field(req, "Plaintext", &in, &pl) != EML_OK || pl == 0 || pl > 4096) {
			eml_free(in);
			return err_json("ValidationException", 400, st);
		}
		memcpy(pt, in, pl);
		eml_free(in);
	}
	if (blob_make(k, ctx, pt, pl, &blob, &bl) != EML_OK) {
		o = err_json("KMSInternalException", 500, st);
		goto out;
	}
	o = json_object();
	char *b = eml_b64_encode(blob, bl);
	json_object_set_new(o, "CiphertextBlob", json_string(b));
	json_object_set_new(o, "KeyId", json_string(k->id));
	eml_free(b);
	if (gen) {
		char *p = eml_b64_encode(pt, pl);
		json_object_set_new(o, "Plaintext", json_string(p));
		eml_free(p);
	}
out:
	eml_wipe(pt, sizeof(pt));
	eml_free(blob);
	return o;
}

static json_t *op_decrypt(eml_kms_server *s, json_t *req, int *st)
{
	json_t *ctx = json_object_get(req, "EncryptionContext");
	json_t *rcp = json_object_get(req, "Recipient");
	const char *kid = json_string_value(json_object_get(req, "KeyId"));
	uint8_t *blob = NULL, *doc = NULL, pt[4096], *cms = NULL;
	size_t bl = 0, dl = 0, pl = 0, cl = 0;
	kkey *k = NULL;
	json_t *o = NULL;
	eml_attest_claims claims;
	int have_claims = 0;
	memset(&claims, 0, sizeof(claims));
	if (kid && !(k = find_key(s, kid)))
		return err_json("NotFoundException", 400, st);
	if (!ctx_valid(ctx) || b64_field(req, "CiphertextBlob", &blob, &bl) != EML_OK) {
		o = err_json("ValidationException", 400, st);
		goto out;
	}
	if (blob_open(s, blob, bl, ctx, &k, pt, sizeof(pt), &pl) != EML_OK) {
		o = err_json(k && kid ? "InvalidCiphertextException" : "InvalidCiphertextException",
		             400, st);
		goto out;
	}
	if (rcp) {
		const char *alg = json_string_value(json_object_get(rcp, "KeyEncryptionAlgorithm"));
		if (!alg || strcmp(alg, "RSAES_OAEP_SHA_256") != 0 ||
		    b64_field(rcp, "AttestationDocument", &doc, &dl) != EML_OK) {
			o = err_json("ValidationException", 400, st);
			goto out;
		}
		if (verify_recipient(s, doc, dl, &claims) != EML_OK) {
			o = err_json("ValidationException", 400, st); /* AWS: invalid attestation */
			goto out;
		}
		have_claims = 1;
	}
	req_ctx rc = {"kms:Decrypt", ctx, have_claims ? &claims : NULL};
	if (!policy_allows(k->policy, &rc)) {
		o = err_json("AccessDeniedException", 400, st);
		goto out;
	}
	o = json_object();
	json_object_set_new(o, "KeyId", json_string(k->id));
	json_object_set_new(o, "EncryptionAlgorithm", json_string("SYMMETRIC_DEFAULT"));
	if (have_claims) {
		if (eml_cms_encrypt(claims.public_key, claims.public_key_len, pt, pl, &cms, &cl) !=
		    EML_OK) {
			json_decref(o);
			o = err_json("ValidationException", 400,
			             st); /* public_key not RSA-2048 SPKI */
			goto out;
		}
		char *b = eml_b64_encode(cms, cl);
		json_object_set_new(o, "CiphertextForRecipient", json_string(b));
		eml_free(b);
	} else {
		char *b = eml_b64_encode(pt, pl);
		json_object_set_new(o, "Plaintext", json_string(b));
		eml_free(b);
	}
out:
	eml_wipe(pt, sizeof(pt));
	eml_attest_claims_cleanup(&claims);
	eml_free(blob);
	eml_free(doc);
	eml_free(cms);
	return o;
}

int eml_kms_server_dispatch(eml_kms_server *s, const char *target, const char *body, char **resp,
                            int *http_status)
{
	json_t *req = json_loads(body, JSON_REJECT_DUPLICATES, NULL), *o;
	*http_status = 200;
	const char *pfx = "TrentService.";
	const char *op = target && !strncmp(target, pfx, strlen(pfx)) ? target + strlen(pfx) : "";
	if (!req || !json_is_object(req))
		o = err_json("SerializationException", 400, http_status);
	else if (!strcmp(op, "CreateKey"))
		o = op_create_key(s, req, http_status);
	else if (!strcmp(op, "GenerateDataKey"))
		o = op_encrypt(s, req, 1, http_status);
	else if (!strcmp(op, "Encrypt"))
		o = op_encrypt(s, req, 0, http_status);
	else if (!strcmp(op, "Decrypt"))
		o = op_decrypt(s, req, http_status);
	else
		o = err_json("UnknownOperationException", 400, http_status);
	json_decref(req);
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	*resp = t ? eml_strdup(t) : NULL;
	if (t) {
		eml_wipe(t, strlen(t));
		free(t);
	}
	return *resp ? EML_OK : EML_E_NOMEM;
}

/* ---- HTTP ---- */

static int handle_io(eml_kms_server *s, int fd, SSL *ssl);

static const char *hdr_get(char **names, char **vals, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(names[i], name))
			return vals[i];
	return NULL;
}

/* SigV4 check: recompute the signature over the headers the client signed. */
static int check_sig(eml_kms_server *s, const char *method, char **names, char **vals, size_t n,
                     const char *body, size_t bl)
{
	const char *az = hdr_get(names, vals, n, "Authorization");
	const char *date = hdr_get(names, vals, n, "X-Amz-Date");
	char cred[256], sh[512], sig[65];
	if (!az || !date || strlen(date) != EML_SIGV4_DATE_LEN)
		return EML_E_KMS_ACCESS_DENIED;
	if (sscanf(az,
	           "AWS4-HMAC-SHA256 Credential=%255[^,], SignedHeaders=%511[^,], Signature=%64s",
	           cred, sh, sig) != 3)
		return EML_E_KMS_ACCESS_DENIED;
	char ak[128], d8[16], reg[64], svc[32], term[32];
	if (sscanf(cred, "%127[^/]/%15[^/]/%63[^/]/%31[^/]/%31s", ak, d8, reg, svc, term) != 5 ||
	    strcmp(ak, s->ak) || strncmp(d8, date, 8) || strcmp(reg, s->region) ||
	    strcmp(svc, "kms") || strcmp(term, "aws4_request"))
		return EML_E_KMS_ACCESS_DENIED;
	struct tm tm = {0};
	if (!strptime(date, "%Y%m%dT%H%M%SZ", &tm))
		return EML_E_KMS_ACCESS_DENIED;
	long skew = (long)(timegm(&tm) - time(NULL));
	if (skew > MAX_SKEW_S || skew < -MAX_SKEW_S)
		return EML_E_KMS_ACCESS_DENIED;
	eml_sigv4_header hs[EML_SIGV4_MAX_HEADERS];
	size_t nh = 0;
	int has_host = 0;
	char *save = NULL, *list = eml_strdup(sh);
	if (!list)
		return EML_E_NOMEM;
	for (char *t = strtok_r(list, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		const char *v = hdr_get(names, vals, n, t);
		if (!v || nh >= EML_SIGV4_MAX_HEADERS - 1) {
			eml_free(list);
			return EML_E_KMS_ACCESS_DENIED;
		}
		has_host |= !strcasecmp(t, "host");
		hs[nh].name = t;
		hs[nh++].value = v;
	}
	eml_sigv4_req r = {.method = method,
	                   .path = "/",
	                   .headers = hs,
	                   .n_headers = nh,
	                   .body = body,
	                   .body_len = bl};
	eml_sigv4_creds c = {.access_key = s->ak, .secret_key = s->sk};
	eml_sigv4_out o;
	int rc = has_host && hdr_get(names, vals, n, "X-Amz-Target") && strstr(sh, "x-amz-target")
	             ? eml_sigv4_sign(&r, &c, reg, "kms", date, &o)
	             : EML_E_KMS_ACCESS_DENIED;
	if (rc == EML_OK) {
		rc = strlen(sig) == 64 && eml_ct_eq(sig, o.signature, 64) ? EML_OK
		                                                          : EML_E_KMS_ACCESS_DENIED;
		eml_sigv4_out_free(&o);
	}
	eml_free(list);
	return rc;
}

static void send_all(int fd, SSL *ssl, const char *p, size_t n)
{
	while (n) {
		ssize_t w = ssl ? SSL_write(ssl, p, (int)n) : send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

int eml_kms_server_handle(eml_kms_server *s, int fd)
{
	SSL *ssl = NULL;
	if (s->tls) {
		struct timeval tv0 = {5, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv0, sizeof(tv0));
		ssl = SSL_new(s->tls);
		if (!ssl)
			return EML_E_KMS_HTTP;
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) != 1) {
			SSL_free(ssl);
			return EML_E_KMS_HTTP;
		}
	}
	int rc = handle_io(s, fd, ssl);
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	return rc;
}

static int handle_io(eml_kms_server *s, int fd, SSL *ssl)
{
	int rc = EML_OK;
	eml_buf in;
	char *names[40], *vals[40], *resp = NULL;
	size_t nh = 0;
	int status = 400;
	eml_buf_init(&in, EML_KMS_MAX_REQUEST + 16384);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char *hdr_end = NULL;
	size_t need = 0;
	for (;;) {
		char tmp[4096];
		ssize_t r = ssl ? SSL_read(ssl, tmp, sizeof(tmp)) : recv(fd, tmp, sizeof(tmp), 0);
		EML_ENSURE(r > 0, EML_E_KMS_HTTP);
		eml_buf_put(&in, tmp, (size_t)r);
		EML_ENSURE(!eml_buf_error(&in), EML_E_KMS_HTTP);
		eml_buf_u8(&in, 0);
		in.len--;
		if (!hdr_end && (hdr_end = strstr((char *)in.p, "\r\n\r\n"))) {
			const char *cl = strcasestr((char *)in.p, "\r\nContent-Length:");
			EML_ENSURE(cl && cl < hdr_end, EML_E_KMS_HTTP);
			long v = strtol(cl + 17, NULL, 10);
			EML_ENSURE(v >= 0 && v <= EML_KMS_MAX_REQUEST, EML_E_KMS_HTTP);
			need = (size_t)(hdr_end - (char *)in.p) + 4 + (size_t)v;
		}
		if (hdr_end) {
			hdr_end = strstr((char *)in.p, "\r\n\r\n"); /* buffer may have moved */
			if (in.len >= need)
				break;
		}
	}
	char *base = (char *)in.p;
	hdr_end = strstr(base, "\r\n\r\n");
	*hdr_end = 0;
	char *body = hdr_end + 4;
	size_t bl = in.len - (size_t)(body - base);
	body[bl] = 0;
	char *save = NULL;
	char *line = strtok_r(base, "\r\n", &save);
	EML_ENSURE(line && !strncmp(line, "POST / HTTP/1.", 14), EML_E_KMS_HTTP);
	while ((line = strtok_r(NULL, "\r\n", &save)) && nh < 40) {
		char *c = strchr(line, ':');
		EML_ENSURE(c, EML_E_KMS_HTTP);
		*c = 0;
		char *v = c + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		names[nh] = line;
		vals[nh++] = v;
	}
	if (check_sig(s, "POST", names, vals, nh, body, bl) != EML_OK) {
		int st;
		json_t *e = err_json("InvalidSignatureException", 400, &st);
		char *t = json_dumps(e, JSON_COMPACT);
		json_decref(e);
		resp = t ? eml_strdup(t) : NULL;
		free(t);
		status = st;
	} else {
		EML_GUARD(eml_kms_server_dispatch(s, hdr_get(names, vals, nh, "X-Amz-Target"), body,
		                                  &resp, &status));
	}
	EML_ENSURE(resp, EML_E_NOMEM);
	char head[256];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	                 status, status == 200 ? "OK" : "Bad Request", strlen(resp));
	send_all(fd, ssl, head, (size_t)n);
	send_all(fd, ssl, resp, strlen(resp));
out:
	eml_free(resp);
	eml_buf_cleanup(&in);
	return rc;
}

int eml_kms_server_serve(eml_kms_server *s, int listen_fd, volatile int *stop)
{
	while (!*stop) {
		struct pollfd p = {listen_fd, POLLIN, 0};
		int r = poll(&p, 1, 100);
		if (r <= 0)
			continue;
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		(void)eml_kms_server_handle(s, fd);
		close(fd);
	}
	return EML_OK;
}
