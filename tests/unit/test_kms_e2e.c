/*
 * End to end through the local KMS service: the owner seals mnist's topology key under a KMS key
 * whose policy names the enclave's PCR0; the client holds only the sealed bytes (it never sees
 * the plaintext key or the data key); the enclave side (eml_kms_enclave_unseal with a simulated
 * NSM measuring the eml binary, configured from its environment like the daemon) opens it and
 * runs inference; the result equals inference with the plain key. An enclave with another
 * measurement cannot open it.
 */
#include <stdlib.h>

#include "enclave/infer.h"
#include "kms/enclave_kms.h"
#include "kms/sealed.h"
#include "onnx/onnx.h"
#include "test_kms_fixture.h"

typedef struct blobsrc {
	uint8_t *blob;
	size_t len;
} blobsrc;

static int fetch(void *ctx, const uint8_t id[EML_MODEL_ID_BYTES], uint8_t **blob, size_t *len)
{
	(void)id;
	blobsrc *b = ctx;
	*blob = eml_memdup(b->blob, b->len);
	*len = b->len;
	return *blob ? EML_OK : EML_E_NOMEM;
}

static void infer(const uint8_t *tk, size_t tl, blobsrc *b, const float *x, float out[10])
{
	eml_io_tensor in = {.name = NULL,
	                    .dtype = EML_DT_FLOAT,
	                    .rank = 4,
	                    .dims = {1, 1, 28, 28},
	                    .data = x,
	                    .bytes = 784 * 4};
	eml_infer_out o;
	eml_infer_stats st;
	int bad = -1;
	eml_engine_opts eo = {.threads = 1};
	cr_assert_eq(eml_enclave_infer(tk, tl, &in, 1, fetch, b, NULL, &eo, NULL, &o, &st, &bad),
	             EML_OK);
	cr_assert_eq(o.n, 1);
	cr_assert_eq(o.t[0].bytes, 40);
	memcpy(out, o.t[0].data, 40);
	eml_infer_out_cleanup(&o);
}

Test(kms_e2e, owner_seals_client_relays_enclave_opens)
{
	kms_fx f;
	kf_init(&f);
	char path[1024];
	snprintf(path, sizeof(path), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	eml_model *m;
	cr_assert_eq(eml_onnx_load_file(path, &m), EML_OK);
	uint8_t *tk, *sealed, *blobk, dk[32], mid[16];
	size_t tl, sl, bkl;
	blobsrc b;
	eml_decompose_opts o = {0};
	cr_assert_eq(eml_topo_decompose(m, &o, &tk, &tl, &b.blob, &b.len), EML_OK);
	eml_model_free(m);

	/* owner: key with a PCR0 policy for the eml binary's measurement, then seal */
	char pa[97];
	kf_pcr0_hex(eml_test_bin(), pa);
	const char *allowed[] = {pa, NULL};
	char *kid;
	cr_assert_eq(eml_kms_create_key(
	                 &f.cfg, kf_policy(allowed, "kms:RecipientAttestation:ImageSha384"), &kid),
	             EML_OK);
	cr_assert_eq(eml_kms_sealed_model_id((const uint8_t *)"nope", 4, mid),
	             EML_E_KMS_SEALED_FORMAT);
	eml_tkey *k;
	cr_assert_eq(eml_tkey_parse(tk, tl, &k), EML_OK);
	eml_tkey_model_id(k, mid);
	eml_tkey_free(k);
	char ctx[128];
	cr_assert_eq(eml_sealed_context_json(mid, ctx, sizeof(ctx)), EML_OK);
	cr_assert_eq(eml_kms_generate_data_key(&f.cfg, kid, ctx, dk, &blobk, &bkl), EML_OK);
	cr_assert_eq(eml_sealed_seal(tk, tl, dk, kid, blobk, bkl, &sealed, &sl), EML_OK);
	eml_wipe(dk, sizeof(dk));

	/* the client holds only `sealed`: it carries neither the topology key nor the data key */
	size_t off, noff;
	cr_assert(eml_kms_is_sealed(sealed, sl));
	/* (the header's model id is public, like the blob header's; mask it before the search) */
	uint8_t *masked = eml_memdup(sealed, sl);
	memset(masked + 12, 0, 16);
	cr_assert_eq(eml_find_distinctive_window(masked, sl, tk, tl, &off, &noff), 0,
	             "topology key bytes at sealed offset %zu", off);
	eml_free(masked);
	uint8_t smid[16];
	cr_assert_eq(eml_kms_sealed_model_id(sealed, sl, smid), EML_OK);
	cr_assert_eq(memcmp(smid, mid, 16), 0);

	/* the enclave: configured from its environment, attests with the simulated NSM */
	setenv("EML_KMS_ENDPOINT", f.endpoint, 1);
	setenv("AWS_ACCESS_KEY_ID", KF_AK, 1);
	setenv("AWS_SECRET_ACCESS_KEY", KF_SK, 1);
	unsetenv("AWS_SESSION_TOKEN");
	eml_nsm_opts no = {.sim_ca_dir = f.ca, .exe_path = eml_test_bin()};
	eml_nsm *nsm;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	cr_assert_eq(eml_nsm_open("sim", &no, &nsm), EML_OK);
	uint8_t *opened;
	size_t ol;
	cr_assert_eq(eml_kms_enclave_unseal(nsm, &lock, sealed, sl, NULL, NULL, &opened, &ol),
	             EML_OK);
	cr_assert_not_null(opened);
	/* an unsealed key passes through untouched */
	uint8_t *none;
	size_t nl;
	cr_assert_eq(eml_kms_enclave_unseal(nsm, NULL, tk, tl, NULL, NULL, &none, &nl), EML_OK);
	cr_assert_null(none);

	float x[784], want[10], got[10];
	eml_rng r;
	eml_rng_seed(&r, eml_prop_base_seed());
	for (int i = 0; i < 784; i++)
		x[i] = eml_rng_float(&r, 0.0f, 1.0f);
	infer(tk, tl, &b, x, want);
	infer(opened, ol, &b, x, got);
	cr_assert_eq(memcmp(want, got, sizeof(want)), 0);
	eml_free(opened);
	eml_nsm_free(nsm);

	/* another measurement cannot open it */
	eml_nsm_opts no2 = {.sim_ca_dir = f.ca, .exe_path = "/bin/true"};
	cr_assert_eq(eml_nsm_open("sim", &no2, &nsm), EML_OK);
	cr_assert_eq(eml_kms_enclave_unseal(nsm, NULL, sealed, sl, NULL, NULL, &opened, &ol),
	             EML_E_KMS_ACCESS_DENIED);
	eml_nsm_free(nsm);

	eml_free(kid);
	eml_free(tk);
	eml_free(b.blob);
	eml_free(blobk);
	eml_free(sealed);
	kf_fini(&f);
}
