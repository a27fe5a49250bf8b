/*
 * Local KMS service and the enclave's KMS client end to end over loopback HTTP: CreateKey with a
 * PCR0 key policy, GenerateDataKey, sealing, Decrypt with Recipient from a simulated enclave
 * (opens for the right binary only), SigV4 refusal, durable state and its 0600 master key.
 */
#include <sys/stat.h>

#include "crypto/rsa.h"

#include "kms/sealed.h"
#include "test_kms_fixture.h"

Test(kms, seal_and_unseal_through_local_service)
{
	kms_fx f;
	kf_init(&f);
	const char *exe_a = eml_test_bin();
	const char *exe_b = "/bin/true";
	char pa[97];
	kf_pcr0_hex(exe_a, pa);
	const char *allowed[] = {pa, NULL};
	char *kid = NULL;
	cr_assert_eq(
	    eml_kms_create_key(&f.cfg, kf_policy(allowed, "kms:RecipientAttestation:PCR0"), &kid),
	    EML_OK);
	uint8_t *tk, *blob, *sealed, *out;
	size_t tl, bl, sl, ol;
	uint8_t dk[32];
	kf_tkey(eml_prop_base_seed(), &tk, &tl);
	eml_tkey *k;
	cr_assert_eq(eml_tkey_parse(tk, tl, &k), EML_OK);
	uint8_t mid[16];
	eml_tkey_model_id(k, mid);
	eml_tkey_free(k);
	char ctx[128];
	cr_assert_eq(eml_sealed_context_json(mid, ctx, sizeof(ctx)), EML_OK);
	cr_assert_eq(eml_kms_generate_data_key(&f.cfg, kid, ctx, dk, &blob, &bl), EML_OK);
	cr_assert_eq(eml_sealed_seal(tk, tl, dk, kid, blob, bl, &sealed, &sl), EML_OK);

	/* the owner (no Recipient) may not Decrypt: the policy requires attestation */
	uint8_t dk2[32];
	cr_assert_eq(eml_kms_decrypt(&f.cfg, kid, blob, bl, ctx, NULL, 0, NULL, dk2),
	             EML_E_KMS_ACCESS_DENIED);

	/* the right enclave opens it */
	kf_enclave ea = {f.ca, exe_a, 0};
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &ea, &out, &ol), EML_OK);
	cr_assert_eq(ol, tl);
	cr_assert_eq(memcmp(out, tk, tl), 0);
	eml_free(out);
	/* another binary (different PCR0) is refused */
	kf_enclave eb = {f.ca, exe_b, 0};
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &eb, &out, &ol),
	             EML_E_KMS_ACCESS_DENIED);
	cr_assert_null(out);

	/* a wrong secret fails SigV4 */
	eml_kms_cfg bad = f.cfg;
	bad.creds.secret_key = "wrong";
	cr_assert_eq(eml_kms_unseal(&bad, sealed, sl, kf_attest, &ea, &out, &ol),
	             EML_E_KMS_ACCESS_DENIED);
	/* a wrong encryption context is refused by KMS */
	cr_assert_eq(
	    eml_kms_decrypt(&f.cfg, kid, blob, bl, "{\"eml:format\":\"2\"}", NULL, 0, NULL, dk2),
	    EML_E_KMS_ACCESS_DENIED);
	/* an unknown key */
	cr_assert_eq(eml_kms_generate_data_key(&f.cfg, "nope", ctx, dk2, &out, &ol),
	             EML_E_KMS_NOT_FOUND);

	/* state survives a restart; the master key is 0600 and refused when group-readable */
	kf_stop(&f);
	char mk[1100];
	snprintf(mk, sizeof(mk), "%s/master.key", f.state);
	struct stat st;
	cr_assert_eq(stat(mk, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	kf_start(&f);
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &ea, &out, &ol), EML_OK);
	eml_free(out);
	kf_stop(&f);
	chmod(mk, 0640);
	eml_kms_server_cfg sc = {.state_dir = f.state,
	                         .trust_root_pem = f.root,
	                         .access_key = KF_AK,
	                         .secret_key = KF_SK};
	eml_kms_server *s2 = NULL;
	cr_assert_eq(eml_kms_server_open(&sc, &s2), EML_E_KMS_STATE);

	eml_free(kid);
	eml_free(tk);
	eml_free(blob);
	eml_free(sealed);
	kf_fini(&f);
}

Test(kms, b64_roundtrip)
{
	for (size_t n = 0; n < 10; n++) {
		uint8_t in[10], *out;
		size_t ol;
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(i * 37 + n);
		char *e = eml_b64_encode(in, n);
		cr_assert_eq(eml_b64_decode(e, &out, &ol), EML_OK);
		cr_assert_eq(ol, n);
		cr_assert_eq(memcmp(in, out, n), 0);
		eml_free(out);
		eml_free(e);
	}
	uint8_t *o;
	size_t l;
	cr_assert_neq(eml_b64_decode("abc", &o, &l), EML_OK);
}

/* A scripted HTTP peer: answers each connection with the next canned response. */
typedef struct script {
	int lfd;
	const char **answers;
	int n, served;
} script;

static void *script_thread(void *a)
{
	script *s = a;
	for (int i = 0; i < s->n; i++) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		char buf[8192];
		(void)recv(fd, buf, sizeof(buf), 0);
		char out[1024];
		int st = strstr(s->answers[i], "__type") ? 400 : 200;
		int n =
		    snprintf(out, sizeof(out),
		             "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		             st, strlen(s->answers[i]), s->answers[i]);
		(void)send(fd, out, (size_t)n, MSG_NOSIGNAL);
		close(fd);
		s->served++;
	}
	return NULL;
}

static int run_script(const char **answers, int n, int retries, char **resp)
{
	script s = {.answers = answers, .n = n};
	s.lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s.lfd, 8), 0);
	socklen_t al = sizeof(a);
	getsockname(s.lfd, (struct sockaddr *)&a, &al);
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", ntohs(a.sin_port));
	pthread_t th;
	pthread_create(&th, NULL, script_thread, &s);
	eml_kms_cfg c = {.endpoint = ep,
	                 .creds = {.access_key = "A", .secret_key = "S"},
	                 .max_retries = retries,
	                 .timeout_ms = 2000};
	int rc = eml_kms_call(&c, "Decrypt", "{}", resp);
	shutdown(s.lfd, SHUT_RDWR);
	close(s.lfd);
	pthread_join(th, NULL);
	return rc;
}

Test(kms, retries_on_throttling_and_maps_errors)
{
	char *resp = NULL;
	const char *thr = "{\"__type\":\"ThrottlingException\"}";
	const char *a1[] = {thr, thr, "{\"ok\":1}"};
	cr_assert_eq(run_script(a1, 3, 3, &resp), EML_OK);
	cr_assert_str_eq(resp, "{\"ok\":1}");
	eml_free(resp);
	const char *a2[] = {thr, thr};
	cr_assert_eq(run_script(a2, 2, 1, &resp), EML_E_KMS_THROTTLED);
	struct {
		const char *type;
		int rc;
	} map[] = {{"com.amazonaws.kms#AccessDeniedException", EML_E_KMS_ACCESS_DENIED},
	           {"InvalidCiphertextException", EML_E_KMS_ACCESS_DENIED},
	           {"NotFoundException", EML_E_KMS_NOT_FOUND},
	           {"ValidationException", EML_E_KMS_BAD_REQUEST},
	           {"KMSInternalException", EML_E_KMS_REMOTE}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"__type\":\"%s\"}", map[i].type);
		const char *a[] = {body};
		cr_assert_eq(run_script(a, 1, 1, &resp), map[i].rc, "%s", map[i].type);
	}
	/* nothing listening: a transport error after the retries */
	eml_kms_cfg c = {.endpoint = "http://127.0.0.1:1",
	                 .creds = {.access_key = "A", .secret_key = "S"},
	                 .max_retries = 1};
	cr_assert_eq(eml_kms_call(&c, "Decrypt", "{}", &resp), EML_E_KMS_HTTP);
	c.endpoint = "ftp://x";
	cr_assert_eq(eml_kms_call(&c, "Decrypt", "{}", &resp), EML_E_USAGE);
}

static int run_decrypt(const char *answer, const char *asked, int recipient, EVP_PKEY *rsa)
{
	script s = {.answers = &answer, .n = 1};
	s.lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s.lfd, 8), 0);
	socklen_t al = sizeof(a);
	getsockname(s.lfd, (struct sockaddr *)&a, &al);
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", ntohs(a.sin_port));
	pthread_t th;
	pthread_create(&th, NULL, script_thread, &s);
	eml_kms_cfg c = {
	    .endpoint = ep, .creds = {.access_key = "A", .secret_key = "S"}, .max_retries = 1};
	uint8_t dk[32], blob[4] = {1, 2, 3, 4}, doc[4] = {0};
	int rc = eml_kms_decrypt(&c, asked, blob, 4, "{}", recipient ? doc : NULL, 4, rsa, dk);
	close(s.lfd);
	pthread_join(th, NULL);
	return rc;
}

Test(kms, client_refuses_answers_for_other_keys_or_plaintext_with_recipient)
{
	const char *k32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	char ans[256];
	snprintf(ans, sizeof(ans),
	         "{\"KeyId\":\"arn:aws:kms:us-east-1:1:key/mine\",\"Plaintext\":\"%s\"}", k32);
	cr_assert_eq(run_decrypt(ans, "mine", 0, NULL), EML_OK);
	cr_assert_eq(run_decrypt(ans, "arn:aws:kms:us-east-1:1:key/mine", 0, NULL), EML_OK);
	cr_assert_eq(run_decrypt(ans, "other", 0, NULL), EML_E_KMS_REMOTE);
	EVP_PKEY *rsa;
	cr_assert_eq(eml_rsa_generate(&rsa), EML_OK);
	/* with a Recipient, a plaintext answer is refused (a relaying host must not downgrade) */
	cr_assert_eq(run_decrypt(ans, "mine", 1, rsa), EML_E_KMS_REMOTE);
	snprintf(ans, sizeof(ans), "{\"KeyId\":\"mine\",\"CiphertextForRecipient\":\"%s\"}", k32);
	cr_assert_eq(run_decrypt(ans, "mine", 1, rsa), EML_E_KMS_CMS);
	eml_rsa_free(rsa);
}

/* HTTPS: a TLS peer with a generated self-signed certificate for 127.0.0.1; the client verifies
 * it against --ca-file and the host name, and refuses it without that trust anchor. */
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

typedef struct tls_peer {
	int lfd;
	SSL_CTX *ctx;
	int n;
} tls_peer;

static void *tls_thread(void *a)
{
	tls_peer *p = a;
	for (int i = 0; i < p->n; i++) {
		int fd = accept(p->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		SSL *s = SSL_new(p->ctx);
		SSL_set_fd(s, fd);
		if (SSL_accept(s) == 1) {
			char buf[8192];
			(void)SSL_read(s, buf, sizeof(buf));
			const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"ok\":2}";
			SSL_write(s, r, (int)strlen(r));
			SSL_shutdown(s);
		}
		SSL_free(s);
		close(fd);
	}
	return NULL;
}

Test(kms, https_client_verifies_the_server)
{
	char *dir = eml_test_tmpdir();
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1,
	                           -1, 0);
	X509_set_issuer_name(x, nm);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	cr_assert(X509_sign(x, k, EVP_sha256()) > 0);
	char ca[1100];
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	FILE *f = fopen(ca, "w");
	PEM_write_X509(f, x);
	fclose(f);

	tls_peer p = {.n = 3};
	p.ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(p.ctx, x);
	SSL_CTX_use_PrivateKey(p.ctx, k);
	p.lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(p.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(p.lfd, 8), 0);
	socklen_t al = sizeof(a);
	getsockname(p.lfd, (struct sockaddr *)&a, &al);
	char ep[64];
	snprintf(ep, sizeof(ep), "https://127.0.0.1:%d", ntohs(a.sin_port));
	pthread_t th;
	pthread_create(&th, NULL, tls_thread, &p);

	eml_kms_cfg c = {.endpoint = ep,
	                 .creds = {.access_key = "A", .secret_key = "S"},
	                 .ca_file = ca,
	                 .max_retries = 1,
	                 .timeout_ms = 2000};
	char *resp = NULL;
	cr_assert_eq(eml_kms_call(&c, "Decrypt", "{}", &resp), EML_OK);
	cr_assert_str_eq(resp, "{\"ok\":2}");
	eml_free(resp);
	/* without the trust anchor (default CA paths) the handshake is refused, and retried once */
	c.ca_file = NULL;
	cr_assert_eq(eml_kms_call(&c, "Decrypt", "{}", &resp), EML_E_KMS_HTTP);
	shutdown(p.lfd, SHUT_RDWR);
	close(p.lfd);
	pthread_join(th, NULL);
	SSL_CTX_free(p.ctx);
	X509_free(x);
	EVP_PKEY_free(k);
	eml_test_rmtree(dir);
	free(dir);
}

Test(kms, local_service_over_tls)
{
	kms_fx f;
	kf_init_tls(&f, 1);
	char pa[97];
	kf_pcr0_hex(eml_test_bin(), pa);
	const char *allowed[] = {pa, NULL};
	char *kid = NULL;
	cr_assert_eq(
	    eml_kms_create_key(&f.cfg, kf_policy(allowed, "kms:RecipientAttestation:PCR0"), &kid),
	    EML_OK);
	uint8_t *tk, *blob, *sealed, *out, dk[32], mid[16];
	size_t tl, bl, sl, ol;
	kf_tkey(eml_prop_base_seed() + 5, &tk, &tl);
	eml_tkey *k;
	cr_assert_eq(eml_tkey_parse(tk, tl, &k), EML_OK);
	eml_tkey_model_id(k, mid);
	eml_tkey_free(k);
	char ctx[128];
	cr_assert_eq(eml_sealed_context_json(mid, ctx, sizeof(ctx)), EML_OK);
	cr_assert_eq(eml_kms_generate_data_key(&f.cfg, kid, ctx, dk, &blob, &bl), EML_OK);
	cr_assert_eq(eml_sealed_seal(tk, tl, dk, kid, blob, bl, &sealed, &sl), EML_OK);
	kf_enclave ea = {f.ca, eml_test_bin(), 0};
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &ea, &out, &ol), EML_OK);
	cr_assert_eq(ol, tl);
	cr_assert_eq(memcmp(out, tk, tl), 0);
	eml_free(out);
	/* the generated certificate is the trust anchor: without it the client refuses */
	eml_kms_cfg c = f.cfg;
	c.ca_file = NULL;
	cr_assert_eq(eml_kms_unseal(&c, sealed, sl, kf_attest, &ea, &out, &ol), EML_E_KMS_HTTP);
	/* Nitro-style transport (EML_KMS_VIA): the stream goes elsewhere (there: vsock to the
	 * parent's vsock-proxy), while TLS (SNI, certificate name) and SigV4 name the URL's host. */
	{
		char ep[128], via[64];
		const char *port = strrchr(f.endpoint, ':') + 1;
		snprintf(ep, sizeof(ep), "https://localhost:%s", port);
		snprintf(via, sizeof(via), "tcp:127.0.0.1:%s", port);
		c = f.cfg;
		c.endpoint = ep;
		c.via = via;
		cr_assert_eq(eml_kms_unseal(&c, sealed, sl, kf_attest, &ea, &out, &ol), EML_OK);
		cr_assert(ol == tl && memcmp(out, tk, tl) == 0);
		eml_free(out);
		/* the certificate must match the URL's host, whatever the transport */
		snprintf(ep, sizeof(ep), "https://kms.eml-test.invalid:%s", port);
		cr_assert_eq(eml_kms_unseal(&c, sealed, sl, kf_attest, &ea, &out, &ol),
		             EML_E_KMS_HTTP);
		c.endpoint = f.endpoint;
		c.via = "unix:/nonexistent/eml-kms.sock";
		cr_assert_eq(eml_kms_unseal(&c, sealed, sl, kf_attest, &ea, &out, &ol),
		             EML_E_KMS_HTTP);
	}
	struct stat st;
	char kp[1100];
	snprintf(kp, sizeof(kp), "%s/tls-key.pem", f.state);
	cr_assert_eq(stat(kp, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	eml_free(kid);
	eml_free(tk);
	eml_free(blob);
	eml_free(sealed);
	kf_fini(&f);
}
