#include "net/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"

int64_t eml_net_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline_ms)
{
	if (deadline_ms < 0)
		return -1;
	int64_t r = deadline_ms - eml_net_now_ms();
	return r <= 0 ? 0 : (r > 1000000 ? 1000000 : (int)r);
}

/* Wait until fd is ready for `events` or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int t = remaining(deadline_ms);
		int r = poll(&p, 1, t);
		if (r > 0)
			return EML_OK;
		if (r == 0)
			return EML_E_NET_TIMEOUT;
		if (errno != EINTR)
			return EML_E_NET_IO;
	}
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : eml_net_now_ms() + timeout_ms;
}

int eml_net_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return EML_E_NET_IO;
	return EML_OK;
}

static int family_of(const eml_addr *a)
{
	return a->sa.ss_family;
}

int eml_net_listen(const eml_addr *a, int *fd_out)
{
	int rc = EML_OK, one = 1;
	int fd = socket(family_of(a), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	EML_ENSURE(fd >= 0, EML_E_NET_IO);
	if (a->kind == EML_ADDR_TCP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) != 0) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;
		EML_ENSURE(errno == EADDRINUSE && a->kind == EML_ADDR_UNIX &&
		               un->sun_path[0] != '\0',
		           errno == EADDRINUSE ? EML_E_EXISTS : EML_E_NET_IO);
		/* A unix socket file left by a dead process: replace it only if nobody answers. */
		int probe = -1;
		if (eml_net_connect(a, 200, &probe) == EML_OK) {
			close(probe);
			EML_FAIL(EML_E_EXISTS);
		}
		struct stat st;
		EML_ENSURE(lstat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode), EML_E_EXISTS);
		EML_ENSURE(unlink(un->sun_path) == 0, EML_E_NET_IO);
		EML_ENSURE(bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) == 0, EML_E_NET_IO);
	}
	EML_ENSURE(listen(fd, 64) == 0, EML_E_NET_IO);
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int eml_net_local_port(int fd, uint32_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return EML_E_NET_IO;
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else if (ss.ss_family == AF_VSOCK)
		*port = ((struct sockaddr_vm *)&ss)->svm_port;
	else
		return EML_E_ARG;
	return EML_OK;
}

int eml_net_accept(int lfd, int timeout_ms, int *fd_out)
{
	int64_t deadline = deadline_of(timeout_ms);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			*fd_out = fd;
			return EML_OK;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return EML_E_NET_IO;
		int rc = wait_fd(lfd, POLLIN, deadline);
		if (rc != EML_OK)
			return rc;
	}
}

int eml_net_connect(const eml_addr *a, int timeout_ms, int *fd_out)
{
	int rc = EML_OK, err = 0;
	socklen_t elen = sizeof(err);
	int64_t deadline = deadline_of(timeout_ms);
	int fd = socket(family_of(a), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	EML_ENSURE(fd >= 0, EML_E_NET_IO);
	int r = connect(fd, (const struct sockaddr *)&a->sa, a->sa_len);
	/* A unix socket answers EAGAIN when the listener's backlog is full: nothing is in
	 * progress then, so try again (bounded by the deadline) instead of waiting for POLLOUT. */
	while (r != 0 && errno == EAGAIN && a->kind == EML_ADDR_UNIX) {
		EML_ENSURE(remaining(deadline) != 0, EML_E_NET_TIMEOUT);
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
		r = connect(fd, (const struct sockaddr *)&a->sa, a->sa_len);
	}
	if (r != 0) {
		EML_ENSURE(errno == EINPROGRESS || errno == EINTR, EML_E_NET_CONNECT);
		EML_GUARD(wait_fd(fd, POLLOUT, deadline));
		EML_ENSURE(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0,
		           EML_E_NET_CONNECT);
	}
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int eml_net_write_all(int fd, const void *p, size_t n, int64_t deadline_ms)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(fd, POLLOUT, deadline_ms);
			if (rc != EML_OK)
				return rc;
			continue;
		}
		return (w < 0 && (errno == EPIPE || errno == ECONNRESET)) ? EML_E_NET_CLOSED
		                                                          : EML_E_NET_IO;
	}
	return EML_OK;
}

int eml_net_read_all(int fd, void *p, size_t n, int64_t deadline_ms)
{
	uint8_t *b = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, b + got, n - got, 0);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return got == 0 ? EML_E_NET_CLOSED : EML_E_FRAME_TRUNCATED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_fd(fd, POLLIN, deadline_ms);
			if (rc != EML_OK)
				return rc;
			continue;
		}
		return errno == ECONNRESET ? EML_E_NET_CLOSED : EML_E_NET_IO;
	}
	return EML_OK;
}

int eml_net_send_frame(int fd, uint8_t type, const void *payload, size_t len, int timeout_ms)
{
	int rc = EML_OK;
	uint8_t hdr[EML_FRAME_HEADER_LEN];
	int64_t deadline = deadline_of(timeout_ms);
	EML_ENSURE(eml_frame_type_known(type), EML_E_FRAME_TYPE);
	EML_ENSURE(len <= UINT32_MAX, EML_E_FRAME_TOO_LARGE);
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	hdr[4] = type;
	EML_GUARD(eml_net_write_all(fd, hdr, sizeof(hdr), deadline));
	EML_GUARD(eml_net_write_all(fd, payload, len, deadline));
out:
	return rc;
}

int eml_net_recv_frame_buf(int fd, const eml_frame_limits *limits, int timeout_ms, uint8_t *type,
                           eml_buf *b)
{
	int rc = EML_OK;
	uint8_t hdr[EML_FRAME_HEADER_LEN], t;
	uint32_t n;
	int64_t deadline = deadline_of(timeout_ms);
	b->len = 0;
	EML_GUARD(eml_net_read_all(fd, hdr, sizeof(hdr), deadline));
	EML_GUARD(eml_frame_header_parse(hdr, limits, &t, &n));
	EML_GUARD(eml_buf_reserve(b, (size_t)n + 1));
	rc = eml_net_read_all(fd, b->p, n, deadline);
	if (rc == EML_E_NET_CLOSED)
		rc = EML_E_FRAME_TRUNCATED;
	EML_GUARD(rc);
	b->len = n;
	*type = t;
out:
	return rc;
}

int eml_net_recv_frame(int fd, const eml_frame_limits *limits, int timeout_ms, uint8_t *type,
                       uint8_t **payload, uint32_t *len)
{
	int rc = EML_OK;
	uint8_t hdr[EML_FRAME_HEADER_LEN], t;
	uint32_t n;
	uint8_t *p = NULL;
	int64_t deadline = deadline_of(timeout_ms);
	EML_GUARD(eml_net_read_all(fd, hdr, sizeof(hdr), deadline));
	/* Type and announced length are checked before any allocation. */
	EML_GUARD(eml_frame_header_parse(hdr, limits, &t, &n));
	p = eml_alloc((size_t)n + 1);
	EML_ENSURE(p != NULL, EML_E_NOMEM);
	rc = eml_net_read_all(fd, p, n, deadline);
	if (rc == EML_E_NET_CLOSED)
		rc = EML_E_FRAME_TRUNCATED; /* EOF after the header */
	EML_GUARD(rc);
	*type = t;
	*payload = p;
	*len = n;
	p = NULL;
out:
	eml_free(p);
	return rc;
}
