/*
 * Deployment on AWS Nitro Enclaves (deploy/nitro, deploy/systemd, docs/DEPLOY.md), tested as far
 * as this machine allows (no Docker engine, no Nitro hardware):
 *  - the Dockerfile's build step (deploy/nitro/build-rootfs) run as a plain script: the file
 *    tree the image contains, twice, byte-identical; self-contained (it runs in a chroot with
 *    nothing else); the Dockerfile's ENTRYPOINT is a valid eml command line in that tree;
 *  - sizing from `eml run --json` output; run-enclave, console, describe and build-eif driving a
 *    stand-in nitro-cli/docker that records what they were asked;
 *  - the systemd units pass `systemd-analyze verify`.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <limits.h>
#include <unistd.h>

#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"
#include "prop.h"

#define EPOCH 1234567890L

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	cr_assert(WIFEXITED(st), "%s", cmd);
	return WEXITSTATUS(st);
}

static char *slurp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *slurp(const char *fmt, ...)
{
	char path[4200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	uint8_t *p = NULL;
	size_t n = 0;
	cr_assert_eq(eml_file_read(path, 1 << 24, &p, &n), EML_OK, "%s", path);
	char *s = calloc(1, n + 1);
	memcpy(s, p, n);
	eml_free(p);
	return s;
}

static void spit(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert(f != NULL, "%s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* 1 when the eml binary under test links a sanitizer runtime (make test-asan): such a binary
 * cannot start in a bare chroot (no /proc), so only the static checks apply to its tree. */
static int bin_is_sanitized(void)
{
	return run("readelf -dW %s | grep -q 'NEEDED.*lib[at]san'", eml_test_bin()) == 0;
}

Test(deploy, rootfs_tree_is_the_image_and_reproducible, .timeout = 120)
{
	char *dir = eml_test_tmpdir();
	const char *src = eml_test_source_dir(), *bin = eml_test_bin();
	/* Two builds of the tree at different paths, then the manifests (sha256, mode, path). */
	for (int i = 0; i < 2; i++)
		cr_assert_eq(
		    run("SOURCE_DATE_EPOCH=%ld %s/deploy/nitro/build-rootfs --out %s/t%d/root "
		        "--eml %s --manifest %s/m%d --sources %s/s%d >/dev/null",
		        EPOCH, src, dir, i, bin, dir, i, dir, i),
		    0);
	char *m0 = slurp("%s/m0", dir), *m1 = slurp("%s/m1", dir);
	cr_assert_str_eq(m0, m1, "the image tree is not reproducible");
	/* Exactly: eml, the loader, the CA bundle and libraries, nothing else (no shell). */
	int files = 0, libs = 0;
	for (char *l = m0; *l; l = strchr(l, '\n') + 1) {
		char path[1024];
		unsigned mode;
		cr_assert_eq(sscanf(l, "%*64[0-9a-f]  %o  %1023s", &mode, path), 2, "%s", l);
		files++;
		if (strcmp(path, "/usr/bin/eml") == 0)
			cr_assert_eq(mode, 0755u);
		else if (strcmp(path, "/etc/ssl/certs/ca-certificates.crt") == 0)
			cr_assert_eq(mode, 0644u);
		else if (strncmp(path, "/lib64/ld-linux", 15) == 0 ||
		         strncmp(path, "/lib/ld-linux", 13) == 0)
			cr_assert_eq(mode, 0755u);
		else if (strncmp(path, "/lib/", 5) == 0 && strstr(path, ".so") != NULL) {
			cr_assert_eq(mode, 0644u);
			libs++;
		} else
			cr_assert_fail("unexpected file in the image: %s", path);
	}
	cr_assert(libs >= 3 && files == libs + 3, "%d files, %d libraries", files, libs);
	cr_assert(strstr(m0, "/libc.so.6") != NULL && strstr(m0, "/libcrypto.so.3") != NULL);
	/* The pinned libraries: every file of the manifest has its origin in --sources, the
	 * Debian package (name:arch) and version it was copied from (docs/DEPLOY.md), so each hash
	 * can be checked against that package; eml is the source itself. */
	char *s0 = slurp("%s/s0", dir);
	int srcs = 0;
	for (char *l = s0; *l; l = strchr(l, '\n') + 1) {
		char path[1024], pkg[256], ver[256];
		cr_assert_eq(sscanf(l, "%1023s %255s %255s", path, pkg, ver), 3, "%s", l);
		char want[1100];
		snprintf(want, sizeof(want), "  %s\n", path);
		cr_assert(strstr(m0, want) != NULL, "%s is not in the manifest", path);
		if (strcmp(path, "/usr/bin/eml") == 0)
			cr_assert_str_eq(pkg, "source");
		else if (strcmp(path, "/etc/ssl/certs/ca-certificates.crt") == 0)
			cr_assert_str_eq(pkg, "ca-certificates");
		else
			cr_assert(strchr(pkg, ':') != NULL && strcmp(ver, "-") != 0,
			          "%s: no Debian package (%s %s)", path, pkg, ver);
		srcs++;
	}
	cr_assert_eq(srcs, files);
	free(s0);
	/* Times are the epoch; folders 0755; the shipped eml is the tested eml, stripped. */
	cr_assert_eq(run("test -z \"$(find %s/t0/root ! -newermt @%ld)\" && "
	                 "test -z \"$(find %s/t0/root -newermt @%ld)\" && "
	                 "test -z \"$(find %s/t0/root -type d ! -perm 0755)\"",
	                 dir, EPOCH - 1, dir, EPOCH, dir),
	             0, "times or folder modes are not normalised");
	cr_assert_eq(
	    run("strip -o %s/ref %s && cmp -s %s/ref %s/t0/root/usr/bin/eml", dir, bin, dir, dir),
	    0);
	/* Every DT_NEEDED of every ELF file of the tree is in the tree (the closure is complete). */
	cr_assert_eq(
	    run("cd %s/t0/root && for f in $(find . -type f -name '*.so*') usr/bin/eml; do "
	        "for n in $(readelf -dW $f | sed -n 's/.*(NEEDED).*\\[\\(.*\\)\\]/\\1/p'); "
	        "do ls lib/*/$n lib64/$n 2>/dev/null | grep -q . || "
	        "{ echo \"missing $n\" >&2; exit 1; }; done; done",
	        dir),
	    0);

	/* The Dockerfile builds the image from exactly this tree, and its ENTRYPOINT runs in it. */
	char *df = slurp("%s/deploy/nitro/Dockerfile", src);
	cr_assert(strstr(df, "RUN deploy/nitro/build-rootfs --out /rootfs") != NULL);
	cr_assert(strstr(df, "\nFROM scratch\nCOPY --from=build /rootfs/ /\n") != NULL);
	char *ep = strstr(df, "\nENTRYPOINT ");
	cr_assert(ep != NULL);
	ep += strlen("\nENTRYPOINT ");
	*strchr(ep, '\n') = '\0';
	json_error_t jerr;
	json_t *argv = json_loads(ep, 0, &jerr);
	cr_assert(json_is_array(argv) && json_array_size(argv) >= 4, "ENTRYPOINT %s", ep);
	char cmd[2048] = "";
	for (size_t i = 0; i < json_array_size(argv); i++) {
		const char *a = json_string_value(json_array_get(argv, i));
		cr_assert(a != NULL && strchr(a, '\'') == NULL);
		strcat(cmd, " '");
		strcat(cmd, a);
		strcat(cmd, "'");
	}
	cr_assert_str_eq(json_string_value(json_array_get(argv, 0)), "/usr/bin/eml");
	cr_assert(strstr(cmd, "'--nsm' 'device'") != NULL && strstr(cmd, "'vsock:") != NULL, "%s",
	          cmd);
	json_decref(argv);
	if (geteuid() != 0 || bin_is_sanitized()) {
		fprintf(stderr, "note: deploy: %s: the image tree was not started in a chroot\n",
		        geteuid() != 0 ? "not root" : "sanitizer build");
	} else {
		/* Nothing but the tree: eml starts, and the entrypoint's arguments parse; it stops
		 * only because there is no /dev/nsm here (exit 4, ATTEST_NO_DEVICE), not on usage. */
		cr_assert_eq(run("chroot %s/t0/root /usr/bin/eml --help >/dev/null", dir), 0);
		cr_assert_eq(run("chroot %s/t0/root %s 2>%s/ep.err", dir, cmd, dir), 4);
		char *e = slurp("%s/ep.err", dir);
		cr_assert(strstr(e, "(ATTEST_NO_DEVICE)") != NULL, "%s", e);
		free(e);
		/* the CA bundle in the tree is what OpenSSL in the tree can load */
		cr_assert_eq(run("grep -c 'BEGIN CERTIFICATE' %s/t0/root/etc/ssl/certs/"
		                 "ca-certificates.crt | awk '$1 < 50 { exit 1 }'",
		                 dir),
		             0);
	}
	free(df);
	free(m0);
	free(m1);
	/* A non-empty output folder is refused (no mixing with stale files). */
	cr_assert_eq(run("%s/deploy/nitro/build-rootfs --out %s/t0/root --eml %s 2>/dev/null", src,
	                 dir, bin),
	             2);
	eml_test_rmtree(dir);
	free(dir);
}

/* Memory and vCPUs from `eml run --json`: the formula of deploy/nitro/sizing, recomputed. */
Test(deploy, sizing_from_eml_run_json)
{
	char *dir = eml_test_tmpdir();
	const char *src = eml_test_source_dir(), *bin = eml_test_bin(), *v = eml_test_vectors_dir();
	cr_assert_eq(
	    run("%s run %s/models/mnist-8/model.onnx --input "
	        "0=%s/models/mnist-8/test_data_set_0/input_0.pb --output-dir %s --json >%s/"
	        "run.json",
	        bin, v, v, dir, dir),
	    0);
	char *j = slurp("%s/run.json", dir);
	json_error_t jerr;
	json_t *o = json_loads(j, 0, &jerr);
	cr_assert(o != NULL, "%s", j);
	long long arena = json_integer_value(json_object_get(o, "arena_bytes"));
	cr_assert(arena > 0);
	json_decref(o);
	free(j);

	struct {
		long long blob, big_arena;
		int concurrent, threads;
		const char *arch;
	} cases[] = {
	    {26454, 0, 1, 2, "x86_64"},        {26454, 0, 4, 1, "x86_64"},
	    {0, 3000000000LL, 2, 3, "x86_64"}, {1 << 30, 0, 1, 3, "aarch64"},
	    {5, 70000000LL, 3, 1, "aarch64"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char extra[256] = "";
		long long largest = arena + cases[i].blob;
		if (cases[i].big_arena) {
			/* a second, bigger model (its own eml run output) decides */
			char p[4200];
			snprintf(p, sizeof(p), "%s/big.json", dir);
			char t[128];
			snprintf(t, sizeof(t),
			         "{\"outputs\": [], \"arena_bytes\": %lld, \"threads\": 0}",
			         cases[i].big_arena);
			spit(p, t, 0644);
			snprintf(extra, sizeof(extra), "%s:7", p);
			if (cases[i].big_arena + 7 > largest)
				largest = cases[i].big_arena + 7;
		}
		cr_assert_eq(run("%s/deploy/nitro/sizing --concurrent %d --threads %d --arch %s "
		                 "%s/run.json:%lld %s >%s/out",
		                 src, cases[i].concurrent, cases[i].threads, cases[i].arch, dir,
		                 cases[i].blob, extra, dir),
		             0);
		long long per = (largest * 5 / 4 + (1 << 20) - 1) >> 20;
		long long mem = 256 + cases[i].concurrent * per;
		mem = (mem + 63) / 64 * 64;
		int cpus = cases[i].threads * cases[i].concurrent;
		if (cpus < 2)
			cpus = 2;
		if (strcmp(cases[i].arch, "x86_64") == 0 && cpus % 2)
			cpus++;
		char want[128];
		snprintf(want, sizeof(want), "EML_ENCLAVE_MEMORY_MIB=%lld\nEML_ENCLAVE_CPUS=%d\n",
		         mem, cpus);
		char *got = slurp("%s/out", dir);
		cr_assert_str_eq(got, want, "case %zu", i);
		free(got);
	}
	/* refusals: not an eml run output, bad numbers, no model */
	spit(strcat(strcpy((char[4200]){0}, dir), "/bad.json"), "{\"outputs\": []}", 0644);
	cr_assert_eq(run("%s/deploy/nitro/sizing %s/bad.json 2>/dev/null", src, dir), 2);
	cr_assert_eq(run("%s/deploy/nitro/sizing %s/run.json:12x 2>/dev/null", src, dir), 2);
	cr_assert_eq(run("%s/deploy/nitro/sizing --concurrent 0 %s/run.json 2>/dev/null", src, dir),
	             2);
	cr_assert_eq(run("%s/deploy/nitro/sizing 2>/dev/null", src), 2);
	eml_test_rmtree(dir);
	free(dir);
}

/* A stand-in for nitro-cli (and docker): records its arguments, answers like the real one. */
static void write_stubs(const char *dir, const char *flags)
{
	char p[4200], t[4096];
	snprintf(
	    t, sizeof(t),
	    "#!/bin/sh\n"
	    "echo \"nitro-cli $*\" >>%s/log\n"
	    "case \"$1\" in\n"
	    "run-enclave) echo '{\"EnclaveID\": \"i-0abc-enc0123\", \"EnclaveCID\": 16}' ;;\n"
	    "describe-enclaves) printf '[{\"EnclaveID\": \"i-0abc-enc0123\", \"ProcessID\": 9, "
	    "\"EnclaveCID\": 16, \"NumberOfCPUs\": 2, \"MemoryMiB\": 320, \"State\": "
	    "\"RUNNING\", \"Flags\": \"%s\"}]\\n' ;;\n"
	    "console) echo 'console output' ;;\n"
	    "build-enclave)\n"
	    "  echo 'Start building the Enclave Image...'\n"
	    "  echo 'Enclave Image successfully created.'\n"
	    "  p8=''\n"
	    "  case \"$*\" in *--signing-certificate*) p8=\",\\\"PCR8\\\": \\\"$(printf "
	    "'%%096d' 8)\\\"\" ;; esac\n"
	    "  printf '{\"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": "
	    "\"%%096d\", \"PCR1\": \"%%096d\", \"PCR2\": \"%%096d\"%%s}}\\n' 1 2 3 \"$p8\" ;;\n"
	    "*) exit 9 ;;\n"
	    "esac\n",
	    dir, flags);
	snprintf(p, sizeof(p), "%s/nitro-cli", dir);
	spit(p, t, 0755);
	snprintf(t, sizeof(t), "#!/bin/sh\necho \"docker $*\" >>%s/log\n", dir);
	snprintf(p, sizeof(p), "%s/docker", dir);
	spit(p, t, 0755);
}

Test(deploy, run_enclave_console_describe)
{
	char *dir = eml_test_tmpdir();
	const char *src = eml_test_source_dir();
	char p[4200];
	write_stubs(dir, "NONE");
	snprintf(p, sizeof(p), "%s/run.json", dir);
	spit(p, "{\"outputs\": [], \"arena_bytes\": 104857600, \"threads\": 0}", 0644);
	/* a 3 MiB image: 4 x 3 MiB counted on top of the base */
	cr_assert_eq(run("head -c 3145728 /dev/zero >%s/eml.eif", dir), 0);
	cr_assert_eq(run("NITRO_CLI=%s/nitro-cli %s/deploy/nitro/run-enclave --eif %s/eml.eif "
	                 "--cid 21 --concurrent 2 %s/run.json >/dev/null 2>%s/err",
	                 dir, src, dir, dir, dir),
	             0);
	char *log = slurp("%s/log", dir);
	/* 100 MiB arena x 5/4 = 125 MiB per request; 256 + 12 + 2 x 125 = 518 -> 576 MiB */
	char want[8192];
	snprintf(want, sizeof(want),
	         "nitro-cli run-enclave --eif-path %s/eml.eif --memory 576 --cpu-count 4 "
	         "--enclave-cid 21\n",
	         dir);
	cr_assert_str_eq(log, want);
	free(log);
	char *err = slurp("%s/err", dir);
	cr_assert(strstr(err, "DEBUG") == NULL, "%s", err);
	free(err);

	/* debug mode: loud warning, --debug-mode, then the console of the enclave it started */
	cr_assert_eq(run("rm -f %s/log && NITRO_CLI=%s/nitro-cli %s/deploy/nitro/run-enclave --eif "
	                 "%s/eml.eif --memory 512 --cpus 2 --debug >%s/out 2>%s/err",
	                 dir, dir, src, dir, dir, dir),
	             0);
	log = slurp("%s/log", dir);
	snprintf(want, sizeof(want),
	         "nitro-cli run-enclave --eif-path %s/eml.eif --memory 512 --cpu-count 2 "
	         "--enclave-cid 16 --debug-mode\nnitro-cli describe-enclaves\n"
	         "nitro-cli console --enclave-id i-0abc-enc0123\n",
	         dir);
	cr_assert_str_eq(log, want);
	free(log);
	err = slurp("%s/err", dir);
	cr_assert(strstr(err, "WARNING: DEBUG MODE") != NULL && strstr(err, "ALL-ZERO") != NULL,
	          "%s", err);
	free(err);

	/* --watch: returns (exit 1) once the enclave is gone from describe-enclaves */
	cr_assert_eq(run("rm -f %s/log && NITRO_CLI=%s/nitro-cli %s/deploy/nitro/run-enclave --eif "
	                 "%s/eml.eif --memory 512 --cpus 2 --cid 16 --watch 1 >/dev/null 2>&1 &"
	                 " pid=$!; sleep 2; kill -0 $pid || exit 7; "
	                 "sed -i 's/\"EnclaveCID\": 16/\"EnclaveCID\": 17/' %s/nitro-cli; "
	                 "wait $pid",
	                 dir, dir, src, dir, dir),
	             1);
	/* refusals: no image, reserved CIDs, no sizing */
	cr_assert_eq(run("%s/deploy/nitro/run-enclave --memory 512 --cpus 2 2>/dev/null", src), 2);
	cr_assert_eq(run("%s/deploy/nitro/run-enclave --eif %s/eml.eif --cid 3 --memory 512 --cpus "
	                 "2 2>/dev/null",
	                 src, dir),
	             2);
	cr_assert_eq(run("%s/deploy/nitro/run-enclave --eif %s/eml.eif 2>/dev/null", src, dir), 2);

	/* describe: pass-through; exit 3 and a warning for a debug-mode enclave */
	cr_assert_eq(run("NITRO_CLI=%s/nitro-cli %s/deploy/nitro/describe >/dev/null 2>%s/err", dir,
	                 src, dir),
	             0);
	write_stubs(dir, "DEBUG_MODE");
	cr_assert_eq(run("NITRO_CLI=%s/nitro-cli %s/deploy/nitro/describe >/dev/null 2>%s/err", dir,
	                 src, dir),
	             3);
	err = slurp("%s/err", dir);
	cr_assert(strstr(err, "DEBUG MODE") != NULL, "%s", err);
	free(err);
	eml_test_rmtree(dir);
	free(dir);
}

/* build-eif: docker build with the pinned epoch, nitro-cli build-enclave, then the policy. */
Test(deploy, build_eif_writes_the_pinned_policy)
{
	char *dir = eml_test_tmpdir(), src[4096];
	const char *bin = eml_test_bin();
	cr_assert(realpath(eml_test_source_dir(), src) != NULL);
	write_stubs(dir, "NONE");
	for (int signed_ = 0; signed_ < 2; signed_++) {
		cr_assert_eq(
		    run("rm -f %s/log; SOURCE_DATE_EPOCH=%ld DOCKER=%s/docker "
		        "NITRO_CLI=%s/nitro-cli EML=%s %s/deploy/nitro/build-eif --out %s/o%d "
		        "--tag eml-enclave:t %s >/dev/null",
		        dir, EPOCH, dir, dir, bin, src, dir, signed_,
		        signed_ ? "--sign c.pem k.pem" : ""),
		    0);
		char *log = slurp("%s/log", dir);
		char want[8192];
		snprintf(want, sizeof(want),
		         "docker build -f %s/deploy/nitro/Dockerfile -t eml-enclave:t --build-arg "
		         "SOURCE_DATE_EPOCH=%ld %s\n"
		         "nitro-cli build-enclave --docker-uri eml-enclave:t --output-file "
		         "%s/o%d/eml.eif"
		         "%s\n",
		         src, EPOCH, src, dir, signed_,
		         signed_ ? " --signing-certificate c.pem --private-key k.pem" : "");
		cr_assert_str_eq(log, want);
		free(log);
		char *pol = slurp("%s/o%d/policy.json", dir, signed_);
		for (int i = 0; i < 4; i++) {
			int idx = i == 3 ? 8 : i;
			char pin[160];
			snprintf(pin, sizeof(pin), "\"%d\": \"%096d\"", idx, i == 3 ? 8 : i + 1);
			int expect = i < 3 || signed_;
			cr_assert_eq(strstr(pol, pin) != NULL, expect, "PCR%d, signed=%d: %s", idx,
			             signed_, pol);
		}
		free(pol);
	}
	eml_test_rmtree(dir);
	free(dir);
}

/* The units are valid systemd units (paths replaced by ones that exist here). */
Test(deploy, systemd_units_verify)
{
	char *dir = eml_test_tmpdir();
	const char *src = eml_test_source_dir();
	cr_assert_eq(run("command -v systemd-analyze >/dev/null"), 0,
	             "systemd-analyze is needed (Debian: systemd)");
	static const char *units[] = {"eml-host", "eml-vsock-proxy", "eml-enclave"};
	for (size_t i = 0; i < 3; i++) {
		/* ExecStart programs must exist for verify: point them at /bin/true. */
		cr_assert_eq(run("sed -e 's|/usr/local/bin/eml|/bin/true|; s|/usr/bin/vsock-proxy|"
		                 "/bin/true|; s|/usr/local/libexec/eml/run-enclave|/bin/true|; "
		                 "s|/usr/bin/nitro-cli|/bin/true|; /^Requires=/d; /^After=/d; "
		                 "/^Wants=/d' %s/deploy/systemd/%s.service >%s/%s.service",
		                 src, units[i], dir, units[i]),
		             0);
		/* verify exits 0 on unknown keys or bad values (it only warns): any output fails */
		cr_assert_eq(
		    run("cd %s && systemd-analyze verify --man=no ./%s.service >%s/v.out 2>&1 "
		        "&& test ! -s %s/v.out",
		        dir, units[i], dir, dir),
		    0, "%s: %s", units[i], slurp("%s/v.out", dir));
		/* least privilege and restart policy are there */
		char *u = slurp("%s/deploy/systemd/%s.service", src, units[i]);
		cr_assert(strstr(u, "\nUser=eml-") != NULL &&
		              strstr(u, "\nRestart=always") != NULL &&
		              strstr(u, "\nNoNewPrivileges=yes") != NULL &&
		              strstr(u, "\nLimitCORE=0") != NULL,
		          "%s", units[i]);
		cr_assert(strstr(u, "--debug") == NULL || strstr(u, "Never --debug") != NULL);
		free(u);
	}
	eml_test_rmtree(dir);
	free(dir);
}

/* docs/SCALING.md's simulation, short form: 2 enclave+host pairs behind haproxy (TCP
 * pass-through, one attestation per connection); every request succeeds, both instances
 * serve, the enclave's answer equals a local run. */
Test(deploy, scaling_sim_two_instances, .timeout = 120)
{
	char *dir = eml_test_tmpdir();
	cr_assert_eq(run("command -v haproxy >/dev/null"), 0,
	             "haproxy is needed (Debian: haproxy)");
	cr_assert_eq(run("EML_VECTORS=%s %s/scripts/scaling-sim --short --eml %s >%s/out 2>&1",
	                 eml_test_vectors_dir(), eml_test_source_dir(), eml_test_bin(), dir),
	             0, "%s", slurp("%s/out", dir));
	char *s = slurp("%s/out", dir);
	int n = 0, req = -1, failed = -1, a = 0, b = 0;
	char *l = strstr(s, "scaling-sim: N=");
	cr_assert(l != NULL, "%s", s);
	cr_assert_eq(sscanf(l, "scaling-sim: N=%d requests=%d failed=%d", &n, &req, &failed), 3);
	cr_assert(n == 2 && req == 8 && failed == 0, "%s", s);
	l = strstr(l, "per_backend=");
	cr_assert(l != NULL && sscanf(l, "per_backend=%d,%d", &a, &b) == 2, "%s", s);
	cr_assert(a >= 1 && b >= 1 && a + b == 8, "%s", s);
	free(s);
	eml_test_rmtree(dir);
	free(dir);
}
