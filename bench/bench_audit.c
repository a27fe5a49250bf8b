/*
 * bench_audit: the audit log's costs (docs/AUDIT.md §6).
 *   1. signing cost: one record (chain + Ed25519), one receipt, and one request's worth (the five
 *      per-request records + the receipt), thread CPU time, median of 2000;
 *   2. records per second a real `eml host` appends with fsync on (fdatasync per record) and off,
 *      records sent over its enclave channel as fast as it takes them;
 *   3. verification speed of a log of BENCH_AUDIT_RECORDS records (default 1,000,000) in rotated
 *      files of 100,000 records.
 *
 *   bench_audit [EML_BINARY]     (default: eml next to this program)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attest/nsm.h"
#include "attest/verify.h"
#include "audit/audit.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/ed25519.h"
#include "crypto/hash.h"
#include "eml/error.h"
#include "host/channel.h"
#include "net/addr.h"
#include "net/sock.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(double), cmp_d);
	return t[n / 2];
}

static void fill(eml_audit_record *r, int ev)
{
	memset(r, 0, sizeof(*r));
	r->event = (uint8_t)ev;
	r->time_ms = 1700000000000ull;
	memset(r->input_hash, 0x11, 32);
	memset(r->output_hash, 0x22, 32);
}

/* Host append rate: spawn `eml host`, flood its channel with n records, wait for the file. */
static double host_rate(const char *bin, const char *dir, int fsync_on, eml_audit_chain *ch, int n)
{
	char listen[600], chan[600], enc[600], store[600], log[600];
	snprintf(listen, sizeof(listen), "unix:%s/h.sock", dir);
	snprintf(chan, sizeof(chan), "unix:%s/c.sock", dir);
	snprintf(enc, sizeof(enc), "unix:%s/e.sock", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(log, sizeof(log), "%s/audit-%d.log", dir, fsync_on);
	pid_t pid = fork();
	if (pid == 0) {
		int dn = open("/dev/null", O_WRONLY);
		dup2(dn, 2);
		execl(bin, "eml", "host", "--listen", listen, "--enclave", enc, "--enclave-channel",
		      chan, "--store", store, "--audit-log", log, "--audit-fsync",
		      fsync_on ? "every" : "none", (char *)NULL);
		_exit(127);
	}
	eml_addr a;
	int fd = -1;
	eml_addr_parse(chan, &a);
	for (int i = 0; i < 200 && eml_net_connect(&a, 1000, &fd) != EML_OK; i++)
		usleep(20000);
	double rate = -1;
	if (fd >= 0) {
		eml_buf b;
		eml_buf_init(&b, 0);
		size_t expect = 0;
		double t0 = wall_s();
		for (int i = 0; i < n; i++) {
			eml_audit_record r;
			fill(&r, EML_AEV_REQUEST + i % 5);
			b.len = 0;
			eml_audit_chain_append(ch, &r, &b);
			expect += 4 + b.len;
			eml_channel_send_audit(fd, b.p, b.len, 30000);
		}
		struct stat st;
		for (int i = 0; i < 6000; i++) {
			if (stat(log, &st) == 0 && (size_t)st.st_size >= expect)
				break;
			usleep(1000);
		}
		rate = n / (wall_s() - t0);
		close(fd);
		eml_buf_cleanup(&b);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return rate;
}

int main(int argc, char **argv)
{
	enum { N = 2000 };
	static double t[N];
	uint8_t seed[32], pk[32], ud[EML_USER_DATA_LEN];
	char bin[4096], dir[] = "/tmp/eml-bench-audit-XXXXXX";
	eml_audit_chain ch;
	eml_buf b;
	eml_buf_init(&b, 0);
	if (argc > 1) {
		snprintf(bin, sizeof(bin), "%s", argv[1]);
	} else {
		ssize_t k = readlink("/proc/self/exe", bin, sizeof(bin) - 8);
		bin[k > 0 ? k : 0] = '\0';
		char *sl = strrchr(bin, '/');
		snprintf(sl != NULL ? sl + 1 : bin, 8, "eml");
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	eml_ed25519_keypair_generate(seed, pk);
	eml_audit_chain_init(&ch, seed, pk);

	/* A simulated enclave start document (as the enclave makes at start). */
	char ca[600];
	snprintf(ca, sizeof(ca), "%s/ca", dir);
	eml_nsm *nsm = NULL;
	eml_nsm_opts no = {.sim_ca_dir = ca};
	uint8_t *doc = NULL;
	size_t doc_len = 0;
	eml_attest_user_data_build(pk, ud);
	if (eml_nsm_open("sim", &no, &nsm) != EML_OK ||
	    eml_nsm_attest(nsm, ud, sizeof(ud), NULL, 0, NULL, 0, &doc, &doc_len) != EML_OK) {
		fprintf(stderr, "bench_audit: simulated NSM unavailable\n");
		return 1;
	}

	printf("## Audit log and receipts\n\n");
	/* 1. Signing. */
	for (int i = 0; i < N; i++) {
		eml_audit_record r;
		fill(&r, EML_AEV_RESPONSE);
		b.len = 0;
		double s = cpu_s();
		eml_audit_chain_append(&ch, &r, &b);
		t[i] = cpu_s() - s;
	}
	double rec_us = median(t, N) * 1e6;
	for (int i = 0; i < N / 4; i++) {
		/* The enclave's path per request: 4 unsigned stage records, the signed RESPONSE
		 * record, and the receipt wrapped around that record (no second signature). */
		eml_buf rec;
		eml_buf_init(&rec, 0);
		double s = cpu_s();
		for (int k = 0; k < 5; k++) {
			eml_audit_record r;
			fill(&r, EML_AEV_REQUEST + k);
			b.len = 0;
			eml_audit_chain_append(&ch, &r, &b);
		}
		eml_buf_put(&rec, b.p, b.len);
		b.len = 0;
		eml_receipt_wrap(rec.p, rec.len, doc, doc_len, &b);
		t[i] = cpu_s() - s;
		eml_buf_cleanup(&rec);
	}
	double req_us = median(t, N / 4) * 1e6;
	printf("| measure | value |\n|---|---|\n");
	printf("| sign one (signed) audit record (hash + chain + Ed25519) | %.1f µs |\n", rec_us);
	printf(
	    "| signing per request (5 records, 1 signed, + receipt; goal <= 50 µs) | %.1f µs |\n",
	    req_us);

	/* 2. Host append rate. */
	int nh = 2000;
	double r_on = host_rate(bin, dir, 1, &ch, nh);
	double r_off = host_rate(bin, dir, 0, &ch, nh * 5);
	printf("| host appends, fsync on (fdatasync per record), %d records | %.0f records/s |\n",
	       nh, r_on);
	printf("| host appends, fsync off, %d records | %.0f records/s |\n", nh * 5, r_off);

	/* 3. Verification of a large log, in rotated files. */
	const char *env = getenv("BENCH_AUDIT_RECORDS");
	long total = env != NULL ? atol(env) : 1000000;
	const long per_file = 100000;
	eml_audit_chain c2;
	uint8_t seed2[32], pk2[32], ud2[EML_USER_DATA_LEN];
	uint8_t *doc2 = NULL;
	size_t doc2_len = 0;
	eml_ed25519_keypair_generate(seed2, pk2);
	eml_attest_user_data_build(pk2, ud2);
	eml_nsm_attest(nsm, ud2, sizeof(ud2), NULL, 0, NULL, 0, &doc2, &doc2_len);
	eml_audit_chain_init(&c2, seed2, pk2);
	int nfiles = (int)((total + per_file - 1) / per_file);
	char **paths = calloc((size_t)nfiles, sizeof(*paths));
	double g0 = wall_s();
	long made = 0;
	for (int f = 0; f < nfiles; f++) {
		paths[f] = malloc(700);
		snprintf(paths[f], 700, "%s/big.log.%d", dir, f + 1);
		FILE *out = fopen(paths[f], "wb");
		for (long i = 0; i < per_file && made < total; i++, made++) {
			eml_audit_record r;
			/* The enclave's pattern: request, assembly, inference, wipe, response. */
			fill(&r,
			     made == 0 ? EML_AEV_START : EML_AEV_REQUEST + (int)((made - 1) % 5));
			if (made == 0) {
				r.doc = doc2;
				r.doc_len = (uint32_t)doc2_len;
			}
			b.len = 0;
			if (made == 0)
				eml_sha256(doc2, doc2_len, r.doc_hash);
			eml_audit_chain_append(&c2, &r, &b);
			uint8_t l[4] = {(uint8_t)(b.len >> 24), (uint8_t)(b.len >> 16),
			                (uint8_t)(b.len >> 8), (uint8_t)b.len};
			fwrite(l, 1, 4, out);
			fwrite(b.p, 1, b.len, out);
		}
		fclose(out);
	}
	double gen_s = wall_s() - g0;
	/* A policy pinned to the simulated root and the document's PCR0. */
	char pol_path[700];
	snprintf(pol_path, sizeof(pol_path), "%s/policy.json", dir);
	/* The simulated PCRs are measured from the running binary: this program. */
	char self[1024], cmd[16384];
	ssize_t sk = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[sk > 0 ? sk : 0] = '\0';
	snprintf(cmd, sizeof(cmd),
	         "%s policy init --sim --sim-ca %s --binary %s -o %s >/dev/null 2>&1", bin, ca,
	         self, pol_path);
	eml_policy *pol = NULL;
	double v_s = -1;
	eml_audit_report rep;
	int vrc = -1;
	if (system(cmd) != 0)
		fprintf(stderr, "bench_audit: eml policy init failed\n");
	if (eml_policy_load_file(pol_path, &pol) == EML_OK) {
		eml_audit_verify_opts vo = {.policy = pol};
		double v0 = wall_s();
		vrc = eml_audit_verify_files((const char *const *)paths, (size_t)nfiles, &vo, &rep);
		v_s = wall_s() - v0;
	}
	if (vrc == EML_OK)
		printf("| verify a %ld-record log (%d files) | %.1f s (%.0f records/s) |\n", total,
		       nfiles, v_s, total / v_s);
	else
		printf("| verify a %ld-record log | not measured (%s) |\n", total,
		       vrc < 0 ? "no policy" : eml_err_name(vrc));
	printf("| (generating that log) | %.1f s |\n\n", gen_s);
	for (int f = 0; f < nfiles; f++) {
		unlink(paths[f]);
		free(paths[f]);
	}
	free(paths);
	eml_policy_free(pol);
	eml_free(doc);
	eml_free(doc2);
	eml_nsm_free(nsm);
	eml_buf_cleanup(&b);
	char rm[700];
	snprintf(rm, sizeof(rm), "rm -rf %s", dir);
	if (system(rm) != 0)
		return 1;
	return 0;
}
