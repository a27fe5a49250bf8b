/*
 * The command line: `eml kms create-key` and `eml seal` against the local service (run in-process
 * by the fixture), then the sealed file opens for the right enclave only.
 */
#include <sys/wait.h>

#include "common/file.h"
#include "kms/sealed.h"
#include "test_kms_fixture.h"

static int sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(kms_cli, create_key_and_seal)
{
	kms_fx f;
	kf_init(&f);
	char pa[97], cmd[8192], pol[1100], tkp[1100], out[1100], idf[1100];
	kf_pcr0_hex(eml_test_bin(), pa);
	const char *allowed[] = {pa, NULL};
	snprintf(pol, sizeof(pol), "%s/policy.json", f.dir);
	const char *pj = kf_policy(allowed, "kms:RecipientAttestation:PCR0");
	cr_assert_eq(eml_file_write_atomic(pol, pj, strlen(pj), 0600), EML_OK);
	uint8_t *tk;
	size_t tl;
	kf_tkey(eml_prop_base_seed(), &tk, &tl);
	snprintf(tkp, sizeof(tkp), "%s/m.tkey", f.dir);
	cr_assert_eq(eml_file_write_atomic(tkp, tk, tl, 0600), EML_OK);
	snprintf(idf, sizeof(idf), "%s/key.id", f.dir);
	snprintf(out, sizeof(out), "%s/m.tkey.sealed", f.dir);
	const char *env = "AWS_ACCESS_KEY_ID=" KF_AK " AWS_SECRET_ACCESS_KEY='" KF_SK "'";
	snprintf(cmd, sizeof(cmd), "%s '%s' kms create-key --kms-endpoint %s --policy '%s' > '%s'",
	         env, eml_test_bin(), f.endpoint, pol, idf);
	cr_assert_eq(sh(cmd), 0);
	uint8_t *id;
	size_t il;
	cr_assert_eq(eml_file_read(idf, 1024, &id, &il), EML_OK);
	cr_assert(il > 1 && id[il - 1] == '\n');
	id[il - 1] = 0;
	snprintf(cmd, sizeof(cmd),
	         "%s '%s' seal '%s' --kms-key %s --kms-endpoint %s -o '%s' > /dev/null", env,
	         eml_test_bin(), tkp, (char *)id, f.endpoint, out);
	cr_assert_eq(sh(cmd), 0);
	/* wrong secret: refused (exit 4), nothing written */
	char out2[1200];
	snprintf(out2, sizeof(out2), "%s.2", out);
	snprintf(cmd, sizeof(cmd),
	         "AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=bad '%s' seal '%s' --kms-key %s "
	         "--kms-endpoint %s -o '%s' 2>/dev/null",
	         KF_AK, eml_test_bin(), tkp, (char *)id, f.endpoint, out2);
	cr_assert_eq(sh(cmd), 4);
	cr_assert_neq(access(out2, F_OK), 0);
	/* usage errors */
	snprintf(cmd, sizeof(cmd), "'%s' seal 2>/dev/null", eml_test_bin());
	cr_assert_eq(sh(cmd), 2);
	snprintf(cmd, sizeof(cmd),
	         "%s '%s' kms --listen 0.0.0.0:1 --state /nonexistent --trust-root x 2>/dev/null",
	         env, eml_test_bin());
	cr_assert_eq(sh(cmd), 2);

	uint8_t *sealed, *opened;
	size_t sl, ol;
	cr_assert_eq(eml_file_read(out, 1 << 20, &sealed, &sl), EML_OK);
	kf_enclave ea = {f.ca, eml_test_bin(), 0};
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &ea, &opened, &ol), EML_OK);
	cr_assert_eq(ol, tl);
	cr_assert_eq(memcmp(opened, tk, tl), 0);
	eml_free(opened);
	kf_enclave eb = {f.ca, "/bin/true", 0};
	cr_assert_eq(eml_kms_unseal(&f.cfg, sealed, sl, kf_attest, &eb, &opened, &ol),
	             EML_E_KMS_ACCESS_DENIED);
	eml_free(sealed);
	eml_free(id);
	eml_free(tk);
	kf_fini(&f);
}
