#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"

static int errno_to_rc(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return EML_E_NOT_FOUND;
	case EACCES:
	case EPERM:
		return EML_E_PERMISSION;
	case EEXIST:
		return EML_E_EXISTS;
	case ENOMEM:
		return EML_E_NOMEM;
	default:
		return EML_E_IO;
	}
}

int eml_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len)
{
	int rc = EML_OK;
	uint8_t *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno_to_rc(errno);
	struct stat st;
	EML_ENSURE(fstat(fd, &st) == 0, errno_to_rc(errno));
	EML_ENSURE(S_ISREG(st.st_mode), EML_E_IO);
	EML_ENSURE((uint64_t)st.st_size <= max_len, EML_E_LIMIT);
	size_t len = (size_t)st.st_size;
	data = eml_alloc(len != 0 ? len : 1);
	EML_ENSURE(data != NULL, EML_E_NOMEM);
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, data + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		EML_ENSURE(r > 0, EML_E_IO);
		got += (size_t)r;
	}
	*out = data;
	*out_len = len;
	data = NULL;
out:
	eml_free(data);
	close(fd);
	return rc;
}

int eml_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return eml_file_write_atomic_map(path, data, len, mode, errno_to_rc);
}

int eml_file_write_atomic_map(const char *path, const void *data, size_t len, mode_t mode,
                              int (*errno_rc)(int))
{
	int rc = EML_OK;
	char tmp[PATH_MAX];
	int fd = -1, dfd = -1, created = 0;
	uint8_t rnd[6];
	char rhex[13];
	EML_GUARD(eml_random_bytes(rnd, sizeof(rnd)));
	eml_hex(rnd, sizeof(rnd), rhex);
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rhex);
	EML_ENSURE(n > 0 && (size_t)n < sizeof(tmp), EML_E_ARG);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	EML_ENSURE(fd >= 0, errno_rc(errno));
	created = 1;
	EML_ENSURE(fchmod(fd, mode) == 0, errno_rc(errno));
	const uint8_t *p = data;
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		/* a short write is a full disk or a file size limit */
		EML_ENSURE(w > 0, errno_rc(w == 0 ? ENOSPC : errno));
		done += (size_t)w;
	}
	/* delayed allocation: some file systems report ENOSPC only here */
	EML_ENSURE(fsync(fd) == 0, errno_rc(errno));
	int k = close(fd);
	fd = -1;
	EML_ENSURE(k == 0, errno_rc(errno));
	EML_ENSURE(rename(tmp, path) == 0, errno_rc(errno));
	created = 0;
	/* Make the rename durable. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (created)
		unlink(tmp);
	return rc;
}

int eml_random_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n > 256 ? 256 : n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return EML_E_RANDOM;
		p += r;
		n -= (size_t)r;
	}
	return EML_OK;
}

void eml_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int eml_unhex(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return EML_E_MALFORMED;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return EML_E_MALFORMED;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return EML_OK;
}
