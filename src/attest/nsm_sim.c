/*
 * The simulated NSM (DESIGN §5): documents in exactly the NSM's format (COSE_Sign1, ES384,
 * untagged, payload keys in the NSM's order), signed by a per-boot P-384 leaf key under a local
 * CA: root -> intermediate -> leaf, cabundle = [root, intermediate] (root first, as AWS does).
 * The CA lives in a folder (default $XDG_DATA_HOME/eml/sim-ca), created on first use with 0700
 * for the folder and 0600 for keys; creation is serialised with flock so concurrent first uses
 * do not produce mismatched files. The leaf key exists only in memory.
 */
#include "attest/nsm_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "crypto/x509.h"

#define SIM_ROOT_DAYS (30 * 365)
#define SIM_LEAF_SECONDS (3 * 3600) /* like the NSM's leaves: about three hours */
#define SIM_LEAF_RENEW_SECONDS 3600 /* re-issue when less than an hour remains */
/* The leaf is valid from 10 minutes before issue, tolerating clients whose clocks lag. */
#define SIM_BINARY_MAX ((size_t)1 << 30)

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int eml_nsm_sim_default_ca_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, cap, "%s/eml/sim-ca", xdg);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, cap, "%s/.local/share/eml/sim-ca", home);
	else
		return EML_E_ATTEST_SIM_CA;
	return (n > 0 && (size_t)n < cap) ? EML_OK : EML_E_ATTEST_SIM_CA;
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(tmp))
		return EML_E_ATTEST_SIM_CA;
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];
			tmp[i] = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
				return EML_E_ATTEST_SIM_CA;
			tmp[i] = c;
		}
	}
	return EML_OK;
}

static int path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return (n > 0 && (size_t)n < cap) ? EML_OK : EML_E_ATTEST_SIM_CA;
}

static int file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* A private key file must not be readable by group or others. */
static int key_private(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0;
}

static int read_cert(const char *path, uint8_t **der, size_t *len)
{
	int rc = EML_OK;
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	rc = eml_file_read(path, 64 * 1024, &pem, &pem_len);
	EML_ENSURE(rc == EML_OK, rc == EML_E_NOMEM ? rc : EML_E_ATTEST_SIM_CA);
	rc = eml_x509_pem_to_der(pem, pem_len, der, len);
	EML_ENSURE(rc == EML_OK, rc == EML_E_NOMEM ? rc : EML_E_ATTEST_SIM_CA);
out:
	eml_free(pem);
	return rc;
}

static uint64_t random_serial(void)
{
	uint64_t s = 0;
	if (eml_random_bytes(&s, sizeof(s)) != EML_OK)
		s = (uint64_t)now_ms();
	return (s >> 1) | 1; /* positive, non-zero */
}

static int create_ca(const char *dir)
{
	int rc = EML_OK;
	eml_p384_key *rk = NULL, *ik = NULL;
	uint8_t *rder = NULL, *ider = NULL;
	size_t rlen = 0, ilen = 0;
	char p[4096];
	int64_t t = now_ms() / 1000;
	EML_GUARD(eml_p384_generate(&rk));
	EML_GUARD(eml_p384_generate(&ik));
	EML_GUARD(eml_x509_issue("EphemeralML simulated Nitro root", 1, -1, rk, rk, NULL, 0,
	                         t - 86400, t + (int64_t)SIM_ROOT_DAYS * 86400, random_serial(),
	                         &rder, &rlen));
	EML_GUARD(eml_x509_issue("EphemeralML simulated Nitro intermediate", 1, 0, ik, rk, rder,
	                         rlen, t - 86400, t + (int64_t)(SIM_ROOT_DAYS - 1) * 86400,
	                         random_serial(), &ider, &ilen));
	/* Keys first, certificates last: root.pem present means the CA is complete. */
	EML_GUARD(path_in(p, sizeof(p), dir, "root.key"));
	EML_GUARD(eml_p384_save_pem(rk, p));
	EML_GUARD(path_in(p, sizeof(p), dir, "intermediate.key"));
	EML_GUARD(eml_p384_save_pem(ik, p));
	EML_GUARD(path_in(p, sizeof(p), dir, "intermediate.pem"));
	EML_GUARD(eml_x509_write_pem(p, ider, ilen, 0644));
	EML_GUARD(path_in(p, sizeof(p), dir, "root.pem"));
	EML_GUARD(eml_x509_write_pem(p, rder, rlen, 0644));
out:
	if (rc != EML_OK && rc != EML_E_NOMEM)
		rc = EML_E_ATTEST_SIM_CA;
	eml_free(rder);
	eml_free(ider);
	eml_p384_key_free(rk);
	eml_p384_key_free(ik);
	return rc;
}

/* Ensure the CA exists; load what the NSM needs (root and intermediate certs, intermediate key). */
static int ca_load(const char *dir, uint8_t **root_der, size_t *root_len, uint8_t **inter_der,
                   size_t *inter_len, eml_p384_key **inter_key)
{
	int rc = EML_OK;
	char p[4096];
	int lock = -1;
	EML_GUARD(mkdir_p(dir));
	EML_GUARD(path_in(p, sizeof(p), dir, ".lock"));
	lock = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	EML_ENSURE(lock >= 0 && flock(lock, LOCK_EX) == 0, EML_E_ATTEST_SIM_CA);
	EML_GUARD(path_in(p, sizeof(p), dir, "root.pem"));
	if (!file_exists(p))
		EML_GUARD(create_ca(dir));
	EML_GUARD(read_cert(p, root_der, root_len));
	if (inter_der != NULL) {
		EML_GUARD(path_in(p, sizeof(p), dir, "intermediate.pem"));
		EML_GUARD(read_cert(p, inter_der, inter_len));
		EML_GUARD(path_in(p, sizeof(p), dir, "intermediate.key"));
		EML_ENSURE(key_private(p), EML_E_ATTEST_SIM_CA);
		rc = eml_p384_load_pem(p, inter_key);
		EML_ENSURE(rc == EML_OK, rc == EML_E_NOMEM ? rc : EML_E_ATTEST_SIM_CA);
	}
out:
	if (lock >= 0)
		close(lock); /* releases the flock */
	return rc;
}

int eml_nsm_sim_ca_ensure(const char *dir, uint8_t **root_der, size_t *root_len)
{
	int rc = EML_OK;
	char def[4096];
	uint8_t *der = NULL;
	size_t len = 0;
	if (dir == NULL) {
		EML_GUARD(eml_nsm_sim_default_ca_dir(def, sizeof(def)));
		dir = def;
	}
	EML_GUARD(ca_load(dir, &der, &len, NULL, NULL, NULL));
	if (root_der != NULL) {
		*root_der = der;
		*root_len = len;
		der = NULL;
	}
out:
	eml_free(der);
	return rc;
}

int eml_nsm_pcr_extend(uint8_t pcr[48], const uint8_t *data, size_t len)
{
	int rc = EML_OK;
	eml_hash *h = NULL;
	EML_GUARD(eml_hash_new(EML_HASH_SHA384, &h));
	EML_GUARD(eml_hash_update(h, pcr, 48));
	EML_GUARD(eml_hash_update(h, data, len));
	rc = eml_hash_final(h, pcr);
	h = NULL;
out:
	eml_hash_free(h);
	return rc;
}

static int measure_file(const char *path, uint8_t out[48])
{
	int rc = EML_OK;
	eml_hash *h = NULL;
	uint8_t buf[65536];
	size_t total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	EML_ENSURE(fd >= 0, EML_E_IO);
	EML_GUARD(eml_hash_new(EML_HASH_SHA384, &h));
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		EML_ENSURE(r >= 0, EML_E_IO);
		if (r == 0)
			break;
		total += (size_t)r;
		EML_ENSURE(total <= SIM_BINARY_MAX, EML_E_LIMIT);
		EML_GUARD(eml_hash_update(h, buf, (size_t)r));
	}
	rc = eml_hash_final(h, out);
	h = NULL;
out:
	eml_hash_free(h);
	if (fd >= 0)
		close(fd);
	return rc;
}

int eml_nsm_sim_pcrs(const char *exe_path, uint8_t pcr[3][48])
{
	int rc = EML_OK;
	uint8_t m[48];
	memset(pcr, 0, 3 * 48);
	EML_GUARD(measure_file(exe_path ? exe_path : "/proc/self/exe", m));
	EML_GUARD(eml_nsm_pcr_extend(pcr[0], m, sizeof(m)));
	EML_GUARD(eml_sha384(EML_SIM_PCR1_INPUT, strlen(EML_SIM_PCR1_INPUT), m));
	EML_GUARD(eml_nsm_pcr_extend(pcr[1], m, sizeof(m)));
	EML_GUARD(eml_sha384(EML_SIM_PCR2_INPUT, strlen(EML_SIM_PCR2_INPUT), m));
	EML_GUARD(eml_nsm_pcr_extend(pcr[2], m, sizeof(m)));
out:
	return rc;
}

static int issue_leaf(eml_nsm *n)
{
	int rc = EML_OK;
	int64_t t = now_ms() / 1000;
	eml_p384_key_free(n->leaf_key);
	n->leaf_key = NULL;
	eml_free(n->leaf_der);
	n->leaf_der = NULL;
	EML_GUARD(eml_p384_generate(&n->leaf_key));
	EML_GUARD(eml_x509_issue(n->module_id, 0, -1, n->leaf_key, n->inter_key, n->inter_der,
	                         n->inter_len, t - 600, t + SIM_LEAF_SECONDS, random_serial(),
	                         &n->leaf_der, &n->leaf_len));
	n->leaf_not_after_s = t + SIM_LEAF_SECONDS;
out:
	return rc;
}

int eml_nsm_sim_init(eml_nsm *n, const eml_nsm_opts *o)
{
	int rc = EML_OK;
	char def[4096];
	const char *dir = o->sim_ca_dir;
	uint8_t id[8];
	char hex[17];
	uint8_t p3[3][48];
	if (dir == NULL) {
		EML_GUARD(eml_nsm_sim_default_ca_dir(def, sizeof(def)));
		dir = def;
	}
	EML_GUARD(
	    ca_load(dir, &n->root_der, &n->root_len, &n->inter_der, &n->inter_len, &n->inter_key));
	EML_GUARD(eml_nsm_sim_pcrs(o->exe_path, p3));
	memset(n->pcrs, 0, sizeof(n->pcrs));
	memcpy(n->pcrs, p3, sizeof(p3));
	EML_GUARD(eml_random_bytes(id, sizeof(id)));
	eml_hex(id, sizeof(id), hex);
	snprintf(n->module_id, sizeof(n->module_id), "i-sim%s-enc", hex);
	EML_GUARD(issue_leaf(n));
out:
	return rc;
}

int eml_nsm_sim_attest(eml_nsm *n, const uint8_t *user_data, size_t ud_len, const uint8_t *nonce,
                       size_t n_len, const uint8_t *public_key, size_t pk_len, uint8_t **doc,
                       size_t *doc_len)
{
	int rc = EML_OK;
	eml_attest_fields f;
	uint8_t pcrs[EML_ATTEST_PCR_SLOTS][EML_ATTEST_PCR_MAXLEN];
	const uint8_t *bundle[2];
	size_t bundle_len[2];
	uint8_t *payload = NULL, *tbs = NULL;
	size_t payload_len = 0, tbs_len = 0;
	uint8_t sig[EML_ATTEST_SIG_LEN];
	int64_t t = now_ms();
	if (t / 1000 + SIM_LEAF_RENEW_SECONDS > n->leaf_not_after_s)
		EML_GUARD(issue_leaf(n));
	memset(pcrs, 0, sizeof(pcrs));
	for (unsigned i = 0; i < EML_NSM_PCR_COUNT; i++)
		memcpy(pcrs[i], n->pcrs[i], 48);
	bundle[0] = n->root_der;
	bundle_len[0] = n->root_len;
	bundle[1] = n->inter_der;
	bundle_len[1] = n->inter_len;
	memset(&f, 0, sizeof(f));
	f.module_id = n->module_id;
	f.timestamp_ms = (uint64_t)t;
	f.pcr_mask = (1u << EML_NSM_PCR_COUNT) - 1;
	f.pcrs = (const uint8_t(*)[EML_ATTEST_PCR_MAXLEN])pcrs;
	f.pcr_len = 48;
	f.certificate = n->leaf_der;
	f.certificate_len = n->leaf_len;
	f.cabundle = bundle;
	f.cabundle_len = bundle_len;
	f.cabundle_n = 2;
	f.public_key = public_key;
	f.public_key_len = pk_len;
	f.user_data = user_data;
	f.user_data_len = ud_len;
	f.nonce = nonce;
	f.nonce_len = n_len;
	EML_GUARD(eml_attest_payload_encode(&f, &payload, &payload_len));
	EML_GUARD(eml_attest_sig_structure(eml_attest_es384_protected,
	                                   sizeof(eml_attest_es384_protected), payload, payload_len,
	                                   &tbs, &tbs_len));
	EML_GUARD(eml_p384_sign_es384(n->leaf_key, tbs, tbs_len, sig));
	EML_GUARD(eml_attest_cose_encode(eml_attest_es384_protected,
	                                 sizeof(eml_attest_es384_protected), payload, payload_len,
	                                 sig, doc, doc_len));
out:
	eml_free(payload);
	eml_free(tbs);
	return rc;
}

void eml_nsm_sim_cleanup(eml_nsm *n)
{
	eml_p384_key_free(n->leaf_key);
	eml_p384_key_free(n->inter_key);
	eml_free(n->leaf_der);
	eml_free(n->inter_der);
	eml_free(n->root_der);
	n->leaf_key = n->inter_key = NULL;
	n->leaf_der = n->inter_der = n->root_der = NULL;
}
