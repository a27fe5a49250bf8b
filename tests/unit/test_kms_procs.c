/*
 * Sealed topology keys through real processes only (docs/KMS.md): a real `eml kms` local service
 * on a loopback port, a real `eml host --kms-credentials FILE` and `eml enclave --nsm sim` (the
 * tests/support/e2e harness), and the CLI for every party:
 *   owner:   `eml kms create-key` with a key policy pinned to the simulated enclave's PCR0, then
 *            `eml seal` (GenerateDataKey) of mnist's topology key;
 *   client:  `eml infer --sealed-key` with only the sealed bytes (it never holds the plaintext
 *            topology key or the data key) -> the output equals the plain engine's;
 *   enclave: has NO AWS credentials in its environment: it asks the host for them over the host
 *            channel (KMS_CREDS_FETCH), attests with its RSA key, KMS Decrypt with Recipient;
 *   refusals: an enclave with other measurements (the eml-test-hooks binary, another PCR0) gets a
 *            clear KMS_ACCESS_DENIED; a host that passes no credentials gives KMS_CREDENTIALS.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>

#include "client/host_client.h"
#include "common/file.h"
#include "e2e.h"
#include "enclave/infer.h"
#include "kms/sealed.h"
#include "onnx/onnx.h"
#include "tensor/tensor_io.h"
#include "test_kms_fixture.h"

static eml_e2e E;
static int E_started;
static pid_t KMS_PID;
static char *DIR_;

static void teardown(void)
{
	if (KMS_PID > 0) {
		kill(KMS_PID, SIGTERM);
		waitpid(KMS_PID, NULL, 0);
		KMS_PID = 0;
	}
	if (E_started)
		eml_e2e_stop(&E);
	E_started = 0;
	if (DIR_ != NULL) {
		eml_test_rmtree(DIR_);
		free(DIR_);
		DIR_ = NULL;
	}
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
}

/* A free loopback port (the local KMS must know it before the enclave starts, and the enclave
 * before the KMS can read the simulated CA the enclave creates). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	          getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* `eml kms` as its own process, with the one access key in its environment only. */
static void start_kms(const char *listen, const char *state, const char *root, const char *log)
{
	KMS_PID = fork();
	cr_assert(KMS_PID >= 0);
	if (KMS_PID == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("AWS_ACCESS_KEY_ID", KF_AK, 1);
		setenv("AWS_SECRET_ACCESS_KEY", KF_SK, 1);
		execl(eml_test_bin(), "eml", "kms", "--listen", listen, "--state", state,
		      "--trust-root", root, (char *)NULL);
		_exit(127);
	}
}

static char *hooks_bin(void)
{
	static char bin[1024];
	snprintf(bin, sizeof(bin), "%s", eml_test_bin());
	char *slash = strrchr(bin, '/');
	cr_assert_not_null(slash);
	snprintf(slash + 1, sizeof(bin) - (size_t)(slash + 1 - bin), "eml-test-hooks");
	cr_assert_eq(access(bin, X_OK), 0, "%s missing (built with the tests)", bin);
	return bin;
}

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

Test(kms_procs, owner_seals_client_infers_enclave_asks_host_for_credentials, .fini = teardown,
     .timeout = 180)
{
	char p[16][1100], out[8192];
	/* No credentials anywhere in this process: the host gets them from a file, the local KMS
	 * from its own environment, the owner's CLI calls from a variable set just for them. */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	DIR_ = eml_test_tmpdir();
	cr_assert_not_null(DIR_);
	const char *names[] = {"creds.json",    "kms-state",   "kms.log",           "mnist.tkey",
	                       "mnist.weights", "policy.json", "mnist.tkey.sealed", "x.npy",
	                       "out",           "out2",        "hooks-policy.json", "out3"};
	for (int i = 0; i < 12; i++)
		snprintf(p[i], sizeof(p[i]), "%s/%s", DIR_, names[i]);
	const char *creds = p[0], *state = p[1], *klog = p[2], *tkp = p[3], *wp = p[4],
	           *kpol = p[5], *sealedp = p[6], *xp = p[7], *od = p[8], *od2 = p[9],
	           *hpol = p[10], *od3 = p[11];
	/* The parent's (here: the local service's) credentials, as `aws configure
	 * export-credentials --format process` prints them. */
	char cj[512];
	snprintf(cj, sizeof(cj),
	         "{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", "
	         "\"SessionToken\": \"\"}",
	         KF_AK, KF_SK);
	cr_assert_eq(eml_file_write_atomic(creds, cj, strlen(cj), 0600), EML_OK);

	int port = free_port();
	char listen[64], endpoint[80], env[120];
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(endpoint, sizeof(endpoint), "http://%s", listen);
	snprintf(env, sizeof(env), "EML_KMS_ENDPOINT=%s", endpoint);
	eml_e2e_opts o = {
	    .enclave_env = env, .extra_host_arg = "--kms-credentials", .extra_host_val = creds};
	cr_assert_eq(eml_e2e_start(&E, &o), 0, "host and enclave");
	E_started = 1;
	char root[700];
	snprintf(root, sizeof(root), "%s/root.pem", E.sim_ca);
	start_kms(listen, state, root, klog);
	for (int i = 0; i < 200 && !port_open(port); i++)
		usleep(20000);
	cr_assert(port_open(port), "eml kms did not start");

	/* Owner: decompose mnist, a key whose policy names the enclave's PCR0, seal. */
	char model[1024];
	snprintf(model, sizeof(model), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	int st = eml_e2e_run(out, sizeof(out), 60000, "decompose", model, "-o", DIR_, "--name",
	                     "mnist", NULL);
	cr_assert_eq(st, 0, "%s", out);
	char pcr0[97];
	kf_pcr0_hex(eml_test_bin(), pcr0);
	const char *allowed[] = {pcr0, NULL};
	const char *pj = kf_policy(allowed, "kms:RecipientAttestation:PCR0");
	cr_assert_eq(eml_file_write_atomic(kpol, pj, strlen(pj), 0600), EML_OK);
	setenv("AWS_ACCESS_KEY_ID", KF_AK, 1); /* the owner's CLI calls only */
	setenv("AWS_SECRET_ACCESS_KEY", KF_SK, 1);
	st = eml_e2e_run(out, sizeof(out), 30000, "kms", "create-key", "--kms-endpoint", endpoint,
	                 "--policy", kpol, NULL);
	cr_assert_eq(st, 0, "%s", out);
	char kid[256];
	cr_assert_eq(sscanf(out, "%255s", kid), 1);
	st = eml_e2e_run(out, sizeof(out), 30000, "seal", tkp, "--kms-key", kid, "--kms-endpoint",
	                 endpoint, "-o", sealedp, NULL);
	cr_assert_eq(st, 0, "%s", out);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	/* The sealed file carries neither the topology key nor anything that opens it here. */
	uint8_t *tk = NULL, *sealed = NULL;
	size_t tl = 0, sl = 0, off = 0, noff = 0;
	cr_assert_eq(eml_file_read(tkp, 1 << 24, &tk, &tl), EML_OK);
	cr_assert_eq(eml_file_read(sealedp, 1 << 24, &sealed, &sl), EML_OK);
	memset(sealed + 12, 0, 16); /* the public model id in the header */
	cr_assert_eq(eml_find_distinctive_window(sealed, sl, tk, tl, &off, &noff), 0,
	             "topology key bytes in the sealed file at %zu", off);
	eml_free(sealed);

	/* Host stores the blob; the client infers with the sealed key. */
	st = eml_e2e_run(out, sizeof(out), 30000, "upload", wp, "--host", E.client_addr, NULL);
	cr_assert_eq(st, 0, "%s", out);
	float x[784];
	eml_rng r;
	eml_rng_seed(&r, eml_prop_base_seed());
	for (int i = 0; i < 784; i++)
		x[i] = eml_rng_float(&r, 0.0f, 1.0f);
	eml_tensor_file tf = {.dtype = EML_DT_FLOAT,
	                      .rank = 4,
	                      .dims = {1, 1, 28, 28},
	                      .data = (uint8_t *)x,
	                      .bytes = 784 * 4};
	cr_assert_eq(eml_tensor_write_file(xp, &tf), EML_OK);
	char in_arg[1200];
	snprintf(in_arg, sizeof(in_arg), "0=%s", xp);
	st = eml_e2e_run(out, sizeof(out), 60000, "infer", "--host", E.client_addr, "--policy",
	                 E.policy, "--sealed-key", sealedp, "--input", in_arg, "--output-dir", od,
	                 NULL);
	cr_assert_eq(st, 0, "sealed inference failed: %s", out);

	/* The result equals the plain engine's on the plain key (bit for bit). */
	blobsrc b = {0};
	cr_assert_eq(eml_file_read(wp, 1 << 26, &b.blob, &b.len), EML_OK);
	eml_io_tensor in = {
	    .dtype = EML_DT_FLOAT, .rank = 4, .dims = {1, 1, 28, 28}, .data = x, .bytes = 784 * 4};
	eml_infer_out io;
	eml_infer_stats ist;
	int bad = -1;
	eml_engine_opts eo = {.threads = 1};
	cr_assert_eq(eml_enclave_infer(tk, tl, &in, 1, fetch, &b, NULL, &eo, NULL, &io, &ist, &bad),
	             EML_OK);
	char op[1200];
	snprintf(op, sizeof(op), "%s/output_0.npy", od);
	eml_tensor_file got;
	cr_assert_eq(eml_tensor_read_file(op, &got), EML_OK);
	cr_assert_eq(got.bytes, io.t[0].bytes);
	cr_assert_eq(memcmp(got.data, io.t[0].data, (size_t)got.bytes), 0,
	             "sealed-key inference differs from the plain engine");
	eml_tensor_file_cleanup(&got);
	eml_infer_out_cleanup(&io);

	/* An enclave with other measurements (another binary: another PCR0), which the client's
	 * own policy accepts: KMS refuses it, and the client is told why. */
	o.enclave_bin = hooks_bin();
	cr_assert_eq(eml_e2e_restart_enclave(&E, &o), 0);
	st = eml_e2e_run(out, sizeof(out), 30000, "policy", "init", "--sim", "--sim-ca", E.sim_ca,
	                 "--binary", o.enclave_bin, "-o", hpol, NULL);
	cr_assert_eq(st, 0, "%s", out);
	st =
	    eml_e2e_run(out, sizeof(out), 60000, "infer", "--host", E.client_addr, "--policy", hpol,
	                "--sealed-key", sealedp, "--input", in_arg, "--output-dir", od2, NULL);
	cr_assert_neq(st, 0, "an enclave with another PCR0 opened the key: %s", out);
	cr_assert(strstr(out, "KMS_ACCESS_DENIED") != NULL, "unclear refusal: %s", out);
	cr_assert(strstr(out, pcr0) == NULL, "the refusal leaks measurements: %s", out);
	/* Same key, same enclave binary as the policy: the plain key still works there. */
	char key_arg[1200];
	snprintf(key_arg, sizeof(key_arg), "%s", tkp);
	st = eml_e2e_run(out, sizeof(out), 60000, "infer", "--host", E.client_addr, "--policy",
	                 hpol, "--key", key_arg, "--input", in_arg, "--output-dir", od3, NULL);
	cr_assert_eq(st, 0, "plain key on the other enclave: %s", out);
	eml_free(tk);
	eml_free(b.blob);
}

/* A host started without --kms-credentials passes none: the enclave (which has none either)
 * refuses the sealed key with KMS_CREDENTIALS, before any KMS call. */
Test(kms_procs, host_without_credentials_is_a_clear_error, .fini = teardown, .timeout = 120)
{
	char out[8192], xp[1100], sp[1100], od[1100], in_arg[1200];
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	eml_e2e_opts o = {.enclave_env = "EML_KMS_ENDPOINT=http://127.0.0.1:9"};
	cr_assert_eq(eml_e2e_start(&E, &o), 0);
	E_started = 1;
	DIR_ = eml_test_tmpdir();
	/* A well-formed sealed key for mnist (it never gets to KMS). */
	uint8_t dk[32] = {1}, kblob[32] = {2}, *sealed = NULL;
	size_t sl = 0;
	eml_model *m = NULL;
	char model[1024];
	snprintf(model, sizeof(model), "%s/models/mnist-8/model.onnx", eml_test_vectors_dir());
	cr_assert_eq(eml_onnx_load_file(model, &m), EML_OK);
	uint8_t *tkp = NULL, *blob = NULL;
	size_t tkl = 0, bl = 0;
	eml_decompose_opts d = {0};
	cr_assert_eq(eml_topo_decompose(m, &d, &tkp, &tkl, &blob, &bl), EML_OK);
	eml_model_free(m);
	cr_assert_eq(eml_sealed_seal(tkp, tkl, dk, "key-1", kblob, sizeof(kblob), &sealed, &sl),
	             EML_OK);
	cr_assert_eq(eml_host_upload(E.client_addr, blob, bl, 20000, NULL), EML_OK);
	snprintf(sp, sizeof(sp), "%s/k.sealed", DIR_);
	snprintf(xp, sizeof(xp), "%s/x.npy", DIR_);
	snprintf(od, sizeof(od), "%s/out", DIR_);
	cr_assert_eq(eml_file_write_atomic(sp, sealed, sl, 0600), EML_OK);
	float x[784] = {0};
	eml_tensor_file tf = {.dtype = EML_DT_FLOAT,
	                      .rank = 4,
	                      .dims = {1, 1, 28, 28},
	                      .data = (uint8_t *)x,
	                      .bytes = 784 * 4};
	cr_assert_eq(eml_tensor_write_file(xp, &tf), EML_OK);
	snprintf(in_arg, sizeof(in_arg), "0=%s", xp);
	int st =
	    eml_e2e_run(out, sizeof(out), 60000, "infer", "--host", E.client_addr, "--policy",
	                E.policy, "--sealed-key", sp, "--input", in_arg, "--output-dir", od, NULL);
	cr_assert_neq(st, 0, "%s", out);
	cr_assert(strstr(out, "KMS_CREDENTIALS") != NULL, "unclear refusal: %s", out);
	eml_free(sealed);
	eml_free(tkp);
	eml_free(blob);
}
