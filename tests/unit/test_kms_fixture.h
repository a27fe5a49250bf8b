/*
 * Shared fixture for the KMS tests: a simulated NSM CA, a local KMS service on a loopback port
 * served by a thread, and helpers to attest as an enclave built from a given binary.
 */
#ifndef EML_TEST_KMS_FIXTURE_H
#define EML_TEST_KMS_FIXTURE_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attest/nsm.h"
#include "common/mem.h"
#include "eml/error.h"
#include "kms/kms.h"
#include "prop.h"
#include "test_topo_models.h"
#include "topo/topo.h"

#define KF_AK "AKIDLOCALTEST"
#define KF_SK "local/secret/key/for/tests/only"

typedef struct kms_fx {
	char *dir;
	char ca[1024], state[1024], root[1024], endpoint[64], tls_ca[1100];
	int tls;
	eml_kms_server *srv;
	int lfd;
	volatile int stop;
	pthread_t th;
	eml_kms_cfg cfg;
} kms_fx;

static __attribute__((unused)) void *kf_thread(void *a)
{
	kms_fx *f = a;
	eml_kms_server_serve(f->srv, f->lfd, &f->stop);
	return NULL;
}

static __attribute__((unused)) void kf_start(kms_fx *f)
{
	eml_kms_server_cfg sc = {.state_dir = f->state,
	                         .trust_root_pem = f->root,
	                         .access_key = KF_AK,
	                         .secret_key = KF_SK,
	                         .tls = f->tls};
	cr_assert_eq(eml_kms_server_open(&sc, &f->srv), EML_OK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(f->lfd, 16), 0);
	socklen_t al = sizeof(a);
	getsockname(f->lfd, (struct sockaddr *)&a, &al);
	snprintf(f->endpoint, sizeof(f->endpoint), "%s://127.0.0.1:%d", f->tls ? "https" : "http",
	         ntohs(a.sin_port));
	snprintf(f->tls_ca, sizeof(f->tls_ca), "%s/tls-cert.pem", f->state);
	f->stop = 0;
	cr_assert_eq(pthread_create(&f->th, NULL, kf_thread, f), 0);
	memset(&f->cfg, 0, sizeof(f->cfg));
	f->cfg.endpoint = f->endpoint;
	f->cfg.creds.access_key = KF_AK;
	f->cfg.creds.secret_key = KF_SK;
	f->cfg.max_retries = 1;
	f->cfg.ca_file = f->tls ? f->tls_ca : NULL;
}

static __attribute__((unused)) void kf_stop(kms_fx *f)
{
	f->stop = 1;
	pthread_join(f->th, NULL);
	close(f->lfd);
	eml_kms_server_free(f->srv);
	f->srv = NULL;
}

static __attribute__((unused)) void kf_init_tls(kms_fx *f, int tls)
{
	memset(f, 0, sizeof(*f));
	f->tls = tls;
	f->dir = eml_test_tmpdir();
	snprintf(f->ca, sizeof(f->ca), "%s/ca", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->root, sizeof(f->root), "%s/ca/root.pem", f->dir);
	cr_assert_eq(eml_nsm_sim_ca_ensure(f->ca, NULL, NULL), EML_OK);
	kf_start(f);
}

static __attribute__((unused)) void kf_init(kms_fx *f)
{
	kf_init_tls(f, 0);
}

static __attribute__((unused)) void kf_fini(kms_fx *f)
{
	if (f->srv)
		kf_stop(f);
	eml_test_rmtree(f->dir);
	free(f->dir);
}

/* A simulated enclave measured from `exe` (its PCR0 differs per binary). */
typedef struct kf_enclave {
	const char *ca;
	const char *exe;
	int calls;
} kf_enclave;

static __attribute__((unused)) int kf_attest(void *ctx, const uint8_t *spki, size_t spki_len,
                                             uint8_t **doc, size_t *doc_len)
{
	kf_enclave *e = ctx;
	eml_nsm_opts o = {.sim_ca_dir = e->ca, .exe_path = e->exe};
	eml_nsm *n = NULL;
	int rc = eml_nsm_open("sim", &o, &n);
	if (rc == EML_OK)
		rc = eml_nsm_attest(n, NULL, 0, NULL, 0, spki, spki_len, doc, doc_len);
	eml_nsm_free(n);
	e->calls++;
	return rc;
}

static __attribute__((unused)) void kf_pcr0_hex(const char *exe, char out[97])
{
	uint8_t p[3][48];
	cr_assert_eq(eml_nsm_sim_pcrs(exe, p), EML_OK);
	for (int i = 0; i < 48; i++)
		sprintf(out + 2 * i, "%02x", p[0][i]);
}

static __attribute__((unused)) void kf_tkey(uint64_t seed, uint8_t **tk, size_t *tl)
{
	eml_rng r;
	eml_rng_seed(&r, seed);
	eml_model *m = tm_random_model(&r, 32);
	uint8_t *blob;
	size_t bl;
	eml_decompose_opts o = {0};
	cr_assert_eq(eml_topo_decompose(m, &o, tk, tl, &blob, &bl), EML_OK);
	eml_free(blob);
	eml_model_free(m);
}

/* Key policy: anyone may create/encrypt; Decrypt only with a Recipient whose PCR0 is one of
 * pcr0s (NULL-terminated), compared with StringEqualsIgnoreCase. */
static __attribute__((unused)) char *kf_policy(const char **pcr0s, const char *cond_key)
{
	static char buf[8192];
	int n = snprintf(buf, sizeof(buf),
	                 "{\"Version\":\"2012-10-17\",\"Statement\":["
	                 "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":"
	                 "[\"kms:CreateKey\",\"kms:GenerateDataKey\",\"kms:Encrypt\"],"
	                 "\"Resource\":\"*\"},"
	                 "{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":"
	                 "\"kms:Decrypt\",\"Resource\":\"*\",\"Condition\":{"
	                 "\"StringEqualsIgnoreCase\":{\"%s\":[",
	                 cond_key);
	for (int i = 0; pcr0s[i]; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s\"%s\"", i ? "," : "", pcr0s[i]);
	snprintf(buf + n, sizeof(buf) - (size_t)n, "]}}}]}");
	return buf;
}

#endif
