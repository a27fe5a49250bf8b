#include "host/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/guard.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "topo/topo.h"

struct eml_store {
	char *dir;
	uint64_t max_blob;
	uint64_t quota; /* 0 = none */
};

void eml_store_set_quota(eml_store *s, uint64_t max_bytes)
{
	s->quota = max_bytes;
}

static int io_rc(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return EML_E_STORE_FULL;
	case EACCES:
	case EPERM:
		return EML_E_PERMISSION;
	case ENOMEM:
		return EML_E_NOMEM;
	default:
		return EML_E_IO;
	}
}

/* Atomic replace through eml_file_write_atomic_map with io_rc: a full disk or quota is
 * EML_E_STORE_FULL. A crash leaves at most a temp file, which eml_store_open sweeps. */
static int store_write_atomic(const char *path, const void *data, size_t len)
{
	return eml_file_write_atomic_map(path, data, len, 0600, io_rc);
}

/* Total size of the blobs (regular files under blobs/, temp files included: they take space). */
static int blobs_total(const eml_store *s, uint64_t *total)
{
	char p[PATH_MAX];
	int k = snprintf(p, sizeof(p), "%s/blobs", s->dir);
	if (k <= 0 || (size_t)k >= sizeof(p))
		return EML_E_ARG;
	DIR *d = opendir(p);
	struct dirent *e;
	if (d == NULL)
		return EML_E_IO;
	*total = 0;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		*total += (uint64_t)st.st_size;
	}
	closedir(d);
	return EML_OK;
}

/* The public header only (src/topo/topo.h; docs/FORMATS.md): magic, version, model id, chunking
 * and bucketed size, and that the blob is exactly as long as its header says. No key is needed
 * and none of the ciphertext is looked at. */
int eml_store_blob_model_id(const uint8_t *blob, size_t n, uint8_t id[EML_WIRE_MODEL_ID_LEN])
{
	eml_blob_info bi;
	if (blob == NULL || eml_blob_parse_header(blob, n, &bi) != EML_OK ||
	    eml_blob_expected_len(&bi) != (uint64_t)n)
		return EML_E_STORE_REFUSED;
	memcpy(id, bi.model_id, EML_WIRE_MODEL_ID_LEN);
	return EML_OK;
}

static int is_temp_name(const char *name)
{
	return strstr(name, ".tmp-") != NULL;
}

/* Remove leftovers of interrupted atomic writes. */
static void sweep_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (is_temp_name(e->d_name) &&
		    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < (int)sizeof(p))
			unlink(p);
	}
	closedir(d);
}

static int mkdir_p(const char *p)
{
	if (mkdir(p, 0700) == 0 || errno == EEXIST)
		return EML_OK;
	return errno == EACCES ? EML_E_PERMISSION : EML_E_IO;
}

static int sub(const eml_store *s, const char *folder, const char *name, char *out, size_t n)
{
	int k = snprintf(out, n, "%s/%s%s%s", s->dir, folder, name ? "/" : "", name ? name : "");
	return k > 0 && (size_t)k < n ? EML_OK : EML_E_ARG;
}

int eml_store_open(const char *dir, uint64_t max_blob, eml_store **out)
{
	int rc = EML_OK;
	char p[PATH_MAX];
	eml_store *s = eml_calloc(1, sizeof(*s));
	EML_ENSURE(s != NULL, EML_E_NOMEM);
	s->dir = eml_strdup(dir);
	EML_ENSURE(s->dir != NULL, EML_E_NOMEM);
	s->max_blob = max_blob;
	EML_GUARD(mkdir_p(dir));
	EML_GUARD(sub(s, "blobs", NULL, p, sizeof(p)));
	EML_GUARD(mkdir_p(p));
	sweep_temp(p);
	EML_GUARD(sub(s, "models", NULL, p, sizeof(p)));
	EML_GUARD(mkdir_p(p));
	sweep_temp(p);
	*out = s;
	s = NULL;
out:
	eml_store_close(s);
	return rc;
}

void eml_store_close(eml_store *s)
{
	if (s == NULL)
		return;
	eml_free(s->dir);
	eml_free(s);
}

/* The digest a model id maps to. */
static int index_get(eml_store *s, const uint8_t id[16], uint8_t digest[32])
{
	int rc = EML_OK;
	char idhex[33], p[PATH_MAX];
	uint8_t *txt = NULL;
	size_t n;
	eml_hex(id, 16, idhex);
	EML_GUARD(sub(s, "models", idhex, p, sizeof(p)));
	rc = eml_file_read(p, 65, &txt, &n);
	EML_ENSURE(rc != EML_E_NOT_FOUND, EML_E_STORE_NOT_FOUND);
	EML_GUARD(rc);
	EML_ENSURE(n == 65 && txt[64] == '\n', EML_E_STORE_REFUSED);
	txt[64] = '\0';
	EML_ENSURE(eml_unhex((const char *)txt, digest, 32) == EML_OK, EML_E_STORE_REFUSED);
out:
	eml_free(txt);
	return rc;
}

static int blob_path(eml_store *s, const uint8_t digest[32], char *p, size_t n)
{
	char hex[65];
	eml_hex(digest, 32, hex);
	return sub(s, "blobs", hex, p, n);
}

int eml_store_put(eml_store *s, const uint8_t *blob, size_t n, eml_store_entry *out)
{
	int rc = EML_OK;
	eml_store_entry e;
	uint8_t old[32];
	int had_old;
	char p[PATH_MAX], idhex[33], line[66];
	memset(&e, 0, sizeof(e));
	EML_ENSURE(n <= s->max_blob, EML_E_STORE_TOO_LARGE);
	EML_GUARD(eml_store_blob_model_id(blob, n, e.model_id));
	EML_GUARD(eml_sha256(blob, n, e.sha256));
	e.size = n;
	had_old = index_get(s, e.model_id, old) == EML_OK;
	if (s->quota > 0) {
		/* The old blob of this model id is replaced, so it does not count; this is checked
		 * before writing anything, so a refused upload costs no disk at all. */
		uint64_t total = 0;
		struct stat st;
		EML_GUARD(blobs_total(s, &total));
		if (had_old && blob_path(s, old, p, sizeof(p)) == EML_OK && stat(p, &st) == 0 &&
		    (uint64_t)st.st_size <= total)
			total -= (uint64_t)st.st_size;
		EML_ENSURE(n <= s->quota && total <= s->quota - n, EML_E_STORE_FULL);
	}
	/* Blob first, then the index entry that points at it: a crash in between leaves at most an
	 * unreferenced blob, never a dangling index entry. */
	EML_GUARD(blob_path(s, e.sha256, p, sizeof(p)));
	EML_GUARD(store_write_atomic(p, blob, n));
	eml_hex(e.model_id, 16, idhex);
	eml_hex(e.sha256, 32, line);
	line[64] = '\n';
	EML_GUARD(sub(s, "models", idhex, p, sizeof(p)));
	rc = store_write_atomic(p, line, 65);
	if (rc != EML_OK) {
		/* The index still names the old blob (or none): the new one is unreferenced, so
		 * give its space back, unless it is the old blob itself (same bytes). */
		if (!(had_old && memcmp(old, e.sha256, 32) == 0) &&
		    blob_path(s, e.sha256, p, sizeof(p)) == EML_OK)
			unlink(p);
		goto out;
	}
	if (had_old && memcmp(old, e.sha256, 32) != 0 && blob_path(s, old, p, sizeof(p)) == EML_OK)
		unlink(p);
	if (out != NULL)
		*out = e;
out:
	return rc;
}

int eml_store_get(eml_store *s, const uint8_t id[EML_WIRE_MODEL_ID_LEN], uint8_t **blob, size_t *n)
{
	int rc = EML_OK;
	uint8_t digest[32], got[32];
	char p[PATH_MAX];
	uint8_t *b = NULL;
	size_t len = 0;
	EML_GUARD(index_get(s, id, digest));
	EML_GUARD(blob_path(s, digest, p, sizeof(p)));
	rc = eml_file_read(p, s->max_blob, &b, &len);
	EML_ENSURE(rc != EML_E_NOT_FOUND, EML_E_STORE_NOT_FOUND);
	EML_GUARD(rc);
	/* Serve only what was stored: a file changed on disk is refused here (the enclave would
	 * refuse it anyway, against the digest pinned in the topology key). */
	EML_GUARD(eml_sha256(b, len, got));
	EML_ENSURE(memcmp(got, digest, 32) == 0, EML_E_STORE_REFUSED);
	*blob = b;
	*n = len;
	b = NULL;
out:
	eml_free(b);
	return rc;
}

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(((const eml_store_entry *)a)->model_id,
	              ((const eml_store_entry *)b)->model_id, EML_WIRE_MODEL_ID_LEN);
}

int eml_store_list(eml_store *s, eml_store_entry **out, size_t *count)
{
	int rc = EML_OK;
	char p[PATH_MAX];
	DIR *d = NULL;
	struct dirent *de;
	eml_store_entry *v = NULL;
	size_t k = 0, cap = 0;
	EML_GUARD(sub(s, "models", NULL, p, sizeof(p)));
	d = opendir(p);
	EML_ENSURE(d != NULL, EML_E_IO);
	while ((de = readdir(d)) != NULL) {
		eml_store_entry e;
		struct stat st;
		if (strlen(de->d_name) != 32 || eml_unhex(de->d_name, e.model_id, 16) != EML_OK)
			continue;
		if (index_get(s, e.model_id, e.sha256) != EML_OK)
			continue;
		if (blob_path(s, e.sha256, p, sizeof(p)) != EML_OK || stat(p, &st) != 0)
			continue;
		e.size = (uint64_t)st.st_size;
		EML_ENSURE(k < EML_WIRE_MAX_STORE_ENTRIES, EML_E_LIMIT);
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			eml_store_entry *q = eml_realloc(v, cap * sizeof(*v));
			EML_ENSURE(q != NULL, EML_E_NOMEM);
			v = q;
		}
		v[k++] = e;
	}
	if (k > 0)
		qsort(v, k, sizeof(*v), cmp_entry);
	*out = v;
	*count = k;
	v = NULL;
out:
	if (d != NULL)
		closedir(d);
	eml_free(v);
	return rc;
}

int eml_store_remove(eml_store *s, const uint8_t id[EML_WIRE_MODEL_ID_LEN])
{
	int rc = EML_OK;
	uint8_t digest[32];
	char p[PATH_MAX], idhex[33];
	EML_GUARD(index_get(s, id, digest));
	eml_hex(id, 16, idhex);
	EML_GUARD(sub(s, "models", idhex, p, sizeof(p)));
	EML_ENSURE(unlink(p) == 0, EML_E_IO);
	EML_GUARD(blob_path(s, digest, p, sizeof(p)));
	unlink(p); /* already gone is fine */
out:
	return rc;
}
