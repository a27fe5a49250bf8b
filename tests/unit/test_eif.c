/*
 * eml policy from-eif: policies pinned to the measurements that `nitro-cli build-enclave` and
 * `nitro-cli describe-eif` print. The sample outputs are written here from the format in AWS's
 * Nitro Enclaves User Guide ("nitro-cli build-enclave", "nitro-cli describe-eif", and the
 * nitro-cli image signing notes): progress lines, then
 *   {"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": ..., "PCR1": ..., "PCR2": ...
 *                     [, "PCR8": ...]}}
 * The PCR values are taken from a real AWS attestation document (the vectors), so the policy
 * written by from-eif is checked end to end: that document verifies against it, and one changed
 * PCR makes it refuse.
 */
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_attest_util.h"

/* The malformed cases below are printf formats picked from a table. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

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

static void spit(const char *dir, const char *name, const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert(f != NULL, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* The PCRs of the real beta document, as lowercase hex. */
static void beta_pcrs(char pcr[16][97], uint32_t *mask)
{
	size_t len = 0;
	uint8_t *doc = tp_read(BETA_FILE, &len);
	eml_attest_doc d;
	cr_assert_eq(eml_attest_doc_parse(doc, len, &d), EML_OK);
	*mask = 0;
	for (int i = 0; i < 16; i++) {
		if (!(d.pcr_mask & (1u << i)) || d.pcr_len[i] != 48)
			continue;
		eml_hex(d.pcrs[i], 48, pcr[i]);
		*mask |= 1u << i;
	}
	eml_attest_doc_cleanup(&d);
	eml_free(doc);
	cr_assert((*mask & 7u) == 7u, "the beta document lacks PCR0..2");
}

/* nitro-cli build-enclave's output (progress lines, then the measurements). */
static void build_output(char *out, size_t n, const char *p0, const char *p1, const char *p2,
                         const char *p8)
{
	char p8line[160] = "";
	if (p8 != NULL)
		snprintf(p8line, sizeof(p8line), ",\n    \"PCR8\": \"%s\"", p8);
	snprintf(out, n,
	         "Start building the Enclave Image...\n"
	         "Using the locally available Docker image...\n"
	         "Enclave Image successfully created.\n"
	         "{\n  \"Measurements\": {\n    \"HashAlgorithm\": \"Sha384 { ... }\",\n"
	         "    \"PCR0\": \"%s\",\n    \"PCR1\": \"%s\",\n    \"PCR2\": \"%s\"%s\n  }\n}\n",
	         p0, p1, p2, p8line);
}

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 'a' + 'A');
}

Test(eif, pinned_policy_verifies_the_real_document)
{
	char *dir = eml_test_tmpdir();
	const char *bin = eml_test_bin(), *v = eml_test_vectors_dir();
	char pcr[16][97], text[2048], out[4200], err[4200];
	uint32_t mask;
	beta_pcrs(pcr, &mask);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);

	/* Unsigned image: PCR0/1/2 pinned, printed with upper-case hex to check normalisation. */
	char u0[97], u1[97], u2[97];
	strcpy(u0, pcr[0]);
	strcpy(u1, pcr[1]);
	strcpy(u2, pcr[2]);
	upper(u0);
	upper(u1);
	upper(u2);
	build_output(text, sizeof(text), u0, u1, u2, NULL);
	spit(dir, "build.json", text);
	cr_assert_eq(run("%s policy from-eif %s/build.json -o %s/p.json", bin, dir, dir), 0);
	char *pol = slurp(strcat(strcpy(err, dir), "/p.json"));
	snprintf(err, sizeof(err), "%s/err", dir);
	for (int i = 0; i < 3; i++) {
		char want[128];
		snprintf(want, sizeof(want), "\"%d\": \"%s\"", i, pcr[i]);
		cr_assert(strstr(pol, want) != NULL, "PCR%d not pinned: %s", i, pol);
	}
	cr_assert(strstr(pol, "\"8\"") == NULL, "unsigned image pinned PCR8: %s", pol);
	cr_assert(strstr(pol, "\"allow_debug\": false") != NULL, "%s", pol);
	cr_assert(strstr(pol, "\"root\": \"aws-nitro-g1\"") != NULL, "%s", pol);
	free(pol);
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " --policy %s/p.json --at-document-time "
	                 ">%s 2>%s",
	                 bin, v, dir, out, err),
	             0);

	/* One PCR (PCR1, the kernel) changed: refused with exit 4 naming the PCR check. */
	char bad[97];
	strcpy(bad, pcr[1]);
	bad[10] = bad[10] == '0' ? '1' : '0';
	build_output(text, sizeof(text), pcr[0], bad, pcr[2], NULL);
	spit(dir, "old.json", text);
	cr_assert_eq(run("%s policy from-eif %s/old.json -o %s/old-pol.json", bin, dir, dir), 0);
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " --policy %s/old-pol.json "
	                 "--at-document-time >%s 2>%s",
	                 bin, v, dir, out, err),
	             4);
	char *s = slurp(err);
	cr_assert(strstr(s, "(ATTEST_PCR)") != NULL, "%s", s);
	free(s);

	/* Rolling deploy: old image's file then the new one; the document matches set 1. */
	cr_assert_eq(
	    run("%s policy from-eif %s/old.json %s/build.json -o %s/roll.json", bin, dir, dir, dir),
	    0);
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " --policy %s/roll.json "
	                 "--at-document-time --json >%s 2>%s",
	                 bin, v, dir, out, err),
	             0);
	s = slurp(out);
	cr_assert(strstr(s, "\"matched_pcr_set\": 1") != NULL, "%s", s);
	free(s);

	/* Signed image: PCR8 is pinned too. A PCR8 the document does not carry refuses it. */
	char p8[97];
	memset(p8, 'a', 96);
	p8[96] = '\0';
	if (mask & (1u << 8))
		p8[0] = pcr[8][0] == 'a' ? 'b' : 'a';
	build_output(text, sizeof(text), pcr[0], pcr[1], pcr[2], p8);
	spit(dir, "signed.json", text);
	cr_assert_eq(run("%s policy from-eif %s/signed.json -o %s/signed-pol.json", bin, dir, dir),
	             0);
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " --policy %s/signed-pol.json "
	                 "--at-document-time >%s 2>%s",
	                 bin, v, dir, out, err),
	             4);
	/* ... and --no-pcr8 leaves it out (the document then verifies). */
	cr_assert_eq(
	    run("%s policy from-eif %s/signed.json --no-pcr8 -o %s/nosig.json", bin, dir, dir), 0);
	cr_assert_eq(run("%s attest verify %s/" BETA_FILE " --policy %s/nosig.json "
	                 "--at-document-time >%s 2>%s",
	                 bin, v, dir, out, err),
	             0);
	eml_test_rmtree(dir);
	free(dir);
}

/* The documented describe-eif form of a signed image (more fields around the measurements),
 * and the Measurements object saved on its own. */
Test(eif, documented_forms)
{
	char *dir = eml_test_tmpdir();
	const char *bin = eml_test_bin();
	char out[4200];
	snprintf(out, sizeof(out), "%s/out", dir);
	const char *p0 = "55c0acc442fd815e161f100c45810298f5c37ce9f61b675e4f8ba82e32b9bab3b674a6ef"
	                 "557eaa7db7577221683bbe9f";
	const char *p8 = "70da58334a884328944cd806127c7784677ab60a154249fd21546a217299ccfa1ebfe4fa"
	                 "96a163bf41d3bcfaebe68f6f";
	char text[4096];
	snprintf(text, sizeof(text),
	         "{\n  \"EifVersion\": 4,\n  \"Measurements\": {\n"
	         "    \"HashAlgorithm\": \"Sha384 { ... }\",\n    \"PCR0\": \"%s\",\n"
	         "    \"PCR1\": \"%096d\",\n    \"PCR2\": \"%096d\",\n    \"PCR8\": \"%s\"\n  },\n"
	         "  \"IsSigned\": true,\n  \"CheckCRC\": true,\n  \"CheckSignature\": true,\n"
	         "  \"SignatureCheck\": {\"IsValid\": true},\n"
	         "  \"ImageName\": \"eml-enclave\",\n  \"ImageVersion\": \"1.0\",\n"
	         "  \"Metadata\": {\"BuildTime\": \"1970-01-01T00:00:00Z\", \"BuildTool\": "
	         "\"nitro-cli\", \"BuildToolVersion\": \"1.3.1\", \"OperatingSystem\": \"Linux\", "
	         "\"KernelVersion\": \"4.14\"}\n}\n",
	         p0, 1, 2, p8);
	spit(dir, "describe.json", text);
	cr_assert_eq(
	    run("%s policy from-eif %s/describe.json --max-age-ms 1234 >%s", bin, dir, out), 0);
	char *s = slurp(out);
	char want[160];
	snprintf(want, sizeof(want), "\"0\": \"%s\"", p0);
	cr_assert(strstr(s, want) != NULL, "%s", s);
	snprintf(want, sizeof(want), "\"8\": \"%s\"", p8);
	cr_assert(strstr(s, want) != NULL, "%s", s);
	snprintf(want, sizeof(want), "\"1\": \"%096d\"", 1);
	cr_assert(strstr(s, want) != NULL, "%s", s);
	cr_assert(strstr(s, "\"max_age_ms\": 1234") != NULL, "%s", s);
	/* the policy loads with the verifier's parser */
	eml_policy *p = tp_policy(s);
	cr_assert(eml_policy_root_is_aws(p));
	eml_policy_free(p);
	free(s);

	/* The Measurements value alone (as saved by `jq .Measurements`). */
	snprintf(text, sizeof(text),
	         "{\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"%s\", \"PCR1\": \"%096d\", "
	         "\"PCR2\": \"%096d\"}",
	         p0, 3, 4);
	spit(dir, "bare.json", text);
	/* A root PEM that does not exist fails the self-check (policy load): nothing written. */
	cr_assert_eq(run("%s policy from-eif %s/bare.json --root %s/nope.pem -o %s/x.json "
	                 "2>/dev/null",
	                 bin, dir, dir, dir),
	             4);
	snprintf(want, sizeof(want), "%s/x.json", dir);
	cr_assert(access(want, F_OK) != 0, "a policy that does not load was written");
	cr_assert_eq(run("%s policy from-eif %s/bare.json >%s", bin, dir, out), 0);
	s = slurp(out);
	snprintf(want, sizeof(want), "\"2\": \"%096d\"", 4);
	cr_assert(strstr(s, want) != NULL, "%s", s);
	free(s);
	eml_test_rmtree(dir);
	free(dir);
}

Test(eif, malformed_outputs_are_refused)
{
	char *dir = eml_test_tmpdir();
	const char *bin = eml_test_bin();
	char err[4200], text[2048];
	snprintf(err, sizeof(err), "%s/err", dir);
	const char *good = "0123456789abcdef0123456789abcdef0123456789abcdef"
	                   "0123456789abcdef0123456789abcdef0123456789abcdef";
	/* AWS's own documentation example: placeholders ("EXAMPLE...") are not hex. */
	const char *bad[] = {
	    "{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": "
	    "\"EXAMPLE59044e337c00068c2c033546641e37aa466b853ca486dd149f641f15071961db2a0827beccea9"
	    "cade3EXAMPLE\", \"PCR1\": \"%s\", \"PCR2\": \"%s\"}}",
	    /* PCR1 missing */
	    "{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"%s\", "
	    "\"PCR2\": \"%s\"}}",
	    /* not SHA-384 */
	    "{\"Measurements\": {\"HashAlgorithm\": \"Sha256 { ... }\", \"PCR0\": \"%s\", "
	    "\"PCR1\": \"%s\", \"PCR2\": \"%s\"}}",
	    /* no hash algorithm */
	    "{\"Measurements\": {\"PCR0\": \"%s\", \"PCR1\": \"%s\", \"PCR2\": \"%s\"}}",
	    /* duplicate key */
	    "{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"%s\", "
	    "\"PCR0\": \"%s\", \"PCR1\": \"%s\", \"PCR2\": \"%s\"}}",
	    /* PCR0 too short (SHA-256 length) */
	    "{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"%.64s\", "
	    "\"PCR1\": \"%s\", \"PCR2\": \"%s\"}}",
	    /* PCR2 not a string */
	    "{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"%s\", "
	    "\"PCR1\": \"%s\", \"PCR2\": 7}}",
	    /* Measurements not an object */
	    "{\"Measurements\": [\"%s\"]}",
	    /* truncated JSON */
	    "{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"%s\"",
	    /* no JSON at all */
	    "Start building the Enclave Image...\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), bad[i], good, good, good, good);
		spit(dir, "b.json", text);
		cr_assert_eq(run("%s policy from-eif %s/b.json >/dev/null 2>%s", bin, dir, err), 1,
		             "case %zu accepted: %s", i, text);
		char *s = slurp(err);
		cr_assert(strstr(s, "eml policy from-eif: ") == s &&
		              strstr(s, "(MALFORMED)") != NULL,
		          "case %zu: %s", i, s);
		free(s);
	}
	/* the good form of the same text is accepted (the refusals above are not vacuous) */
	snprintf(text, sizeof(text),
	         "{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"%s\", "
	         "\"PCR1\": \"%s\", \"PCR2\": \"%s\"}}",
	         good, good, good);
	spit(dir, "g.json", text);
	cr_assert_eq(run("%s policy from-eif %s/g.json >/dev/null", bin, dir), 0);
	/* usage: no file, unknown option, more files than PCR sets a policy holds; missing file */
	cr_assert_eq(run("%s policy from-eif >/dev/null 2>&1", bin), 2);
	cr_assert_eq(run("%s policy from-eif %s/g.json --bogus >/dev/null 2>&1", bin, dir), 2);
	cr_assert_eq(run("%s policy from-eif %s/g.json %s/g.json %s/g.json %s/g.json %s/g.json "
	                 "%s/g.json %s/g.json %s/g.json %s/g.json >/dev/null 2>&1",
	                 bin, dir, dir, dir, dir, dir, dir, dir, dir, dir),
	             2);
	cr_assert_eq(run("%s policy from-eif %s/missing.json >/dev/null 2>&1", bin, dir), 1);
	eml_test_rmtree(dir);
	free(dir);
}
