/*
 * The eml attest / eml policy command lines: exit codes, one clear reason on refusal, and the
 * simulated round trip (policy init --sim, attest issue --nsm sim, attest verify).
 */
#include <stdarg.h>
#include <sys/wait.h>

#include "test_attest_util.h"

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	cr_assert(WIFEXITED(st), "%s", cmd);
	return WEXITSTATUS(st);
}

static char *slurp(const char *path)
{
	uint8_t *p = NULL;
	size_t n = 0;
	cr_assert_eq(eml_file_read(path, 1 << 20, &p, &n), EML_OK, "%s", path);
	char *s = calloc(1, n + 1);
	memcpy(s, p, n);
	eml_free(p);
	return s;
}

Test(attest_cli, real_documents)
{
	char *dir = eml_test_tmpdir();
	const char *bin = eml_test_bin(), *v = eml_test_vectors_dir();
	char out[4200], err[4200];
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	cr_assert_eq(run("%s policy init --pcr0 %s -o %s/beta.json", bin, BETA_PCR0, dir), 0);
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " --policy %s/beta.json "
	                 "--at-document-time --json >%s 2>%s",
	                 bin, v, dir, out, err),
	             0);
	char *s = slurp(out);
	cr_assert(strstr(s, "\"verified\": true") != NULL);
	cr_assert(strstr(s, "\"module_id\": \"i-020b6af9246d90e92-enc0183d09086c24190\"") != NULL);
	cr_assert(strstr(s, "\"simulated\": false") != NULL);
	free(s);
	/* now: expired, exit 4, one line naming the check */
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " --policy %s/beta.json >%s 2>%s", bin, v,
	                 dir, out, err),
	             4);
	s = slurp(err);
	cr_assert_str_eq(s, "eml attest verify: attestation certificate is expired or not yet "
	                    "valid (ATTEST_EXPIRED)\n");
	free(s);
	/* the debug document (base64 form) against the production policy */
	cr_assert_eq(run("%s attest verify %s/nitro/evervault_ga_2023-09-18.b64 --policy "
	                 "%s/beta.json --at-document-time >%s 2>%s",
	                 bin, v, dir, out, err),
	             4);
	s = slurp(err);
	cr_assert(strstr(s, "(ATTEST_DEBUG)") != NULL, "%s", s);
	free(s);
	cr_assert_eq(run("%s policy init --pcr0 %s --allow-debug -o %s/dbg.json", bin, ZERO48, dir),
	             0);
	cr_assert_eq(run("%s attest verify %s/nitro/evervault_ga_2023-09-18.b64 --policy "
	                 "%s/dbg.json --at-document-time >%s 2>%s",
	                 bin, v, dir, out, err),
	             0);
	/* garbage document: encoding refusal; usage errors: exit 2 */
	cr_assert_eq(run("%s attest verify %s/beta.json --policy %s/beta.json >%s 2>%s", bin, dir,
	                 dir, out, err),
	             4);
	s = slurp(err);
	cr_assert(strstr(s, "(ATTEST_ENCODING)") != NULL, "%s", s);
	free(s);
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " >%s 2>%s", bin, v, out, err), 2);
	cr_assert_eq(run("%s policy init >%s 2>%s", bin, out, err), 2);
	cr_assert_eq(run("%s policy init --pcr0 zz >%s 2>%s", bin, out, err), 4);
	eml_test_rmtree(dir);
	free(dir);
}

Test(attest_cli, simulated_round_trip)
{
	char *dir = eml_test_tmpdir();
	const char *bin = eml_test_bin();
	char out[4200], err[4200];
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	cr_assert_eq(run("%s policy init --sim --sim-ca %s/ca -o %s/sim.json", bin, dir, dir), 0);
	cr_assert_eq(run("%s attest issue --nsm sim --sim-ca %s/ca --nonce 0011 -o %s/d.cbor 2>%s",
	                 bin, dir, dir, err),
	             0);
	char *s = slurp(err);
	cr_assert(strstr(s, "SIMULATED") != NULL, "simulation is never silent");
	free(s);
	cr_assert_eq(run("%s attest verify %s/d.cbor --policy %s/sim.json --nonce 0011 >%s 2>%s",
	                 bin, dir, dir, out, err),
	             0);
	s = slurp(out);
	cr_assert(strstr(s, "SIMULATED") != NULL);
	free(s);
	cr_assert_eq(run("%s attest verify %s/d.cbor --policy %s/sim.json --nonce 0012 >%s 2>%s",
	                 bin, dir, dir, out, err),
	             4);
	/* with the AWS root the simulated document is refused */
	cr_assert_eq(run("%s policy init --pcr0 %s -o %s/aws.json", bin, ZERO48, dir), 0);
	cr_assert_eq(run("%s attest verify %s/d.cbor --policy %s/aws.json >%s 2>%s", bin, dir, dir,
	                 out, err),
	             4);
	s = slurp(err);
	cr_assert(strstr(s, "(ATTEST_ROOT)") != NULL, "%s", s);
	free(s);
	/* auto never falls back to simulation */
	cr_assert_eq(run("%s attest issue --nsm auto -o %s/x.cbor >%s 2>%s", bin, dir, out, err),
	             4);
	s = slurp(err);
	cr_assert(strstr(s, "no NSM device; use --nsm sim for development") != NULL, "%s", s);
	free(s);
	eml_test_rmtree(dir);
	free(dir);
}
