/*
 * Addresses, sockets and the event loop. Loopback TCP and Unix sockets only. AF_VSOCK is parsed
 * and at most bound (to VMADDR_CID_ANY); a vsock socket is NEVER connected here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/mem.h"
#include "eml/error.h"
#include "net/addr.h"
#include "net/loop.h"
#include "net/sock.h"
#include "prop.h"
#include "wire/frame.h"

Test(addr, vsock_parsing_and_sockaddr)
{
	eml_addr a;
	cr_assert_eq(eml_addr_parse("vsock:3:5000", &a), EML_OK);
	cr_assert_eq(a.kind, EML_ADDR_VSOCK);
	cr_assert_eq(a.cid, 3);
	cr_assert_eq(a.port, 5000);
	const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&a.sa;
	cr_assert_eq(vm->svm_family, AF_VSOCK);
	cr_assert_eq(vm->svm_cid, 3);
	cr_assert_eq(vm->svm_port, 5000);
	cr_assert_eq(a.sa_len, sizeof(struct sockaddr_vm));
	cr_assert_str_eq(a.text, "vsock:3:5000");
	cr_assert_eq(eml_addr_parse("vsock:any:9000", &a), EML_OK);
	cr_assert_eq(((const struct sockaddr_vm *)&a.sa)->svm_cid, VMADDR_CID_ANY);
	cr_assert_eq(eml_addr_parse("vsock:16:4294967294", &a), EML_OK);
	cr_assert_eq(a.port, 4294967294u);
	cr_assert_eq(eml_addr_parse("vsock:0:0", &a), EML_OK);
	const char *bad[] = {"vsock:",
	                     "vsock:3",
	                     "vsock:3:",
	                     "vsock::5",
	                     "vsock:-1:5",
	                     "vsock:+3:5",
	                     "vsock:03:5",
	                     "vsock:3:05",
	                     "vsock:4294967296:1",
	                     "vsock:3:4294967295",
	                     "vsock:4294967295:1",
	                     "vsock:3:5:6",
	                     "vsock: 3:5",
	                     "vsock:3:5 ",
	                     "vsock:0x3:5",
	                     "vsock:anyx:5",
	                     "vsock:3:any",
	                     "VSOCK:3:5",
	                     "vsock:12345678901:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(eml_addr_parse(bad[i], &a), EML_E_NET_ADDR, "%s", bad[i]);
}

/* At most socket(AF_VSOCK) + bind to VMADDR_CID_ANY: never connect (no vsock peer exists here,
 * and CIDs 2 and 3 are the machine's host). */
Test(addr, vsock_socket_bind_any_only)
{
	eml_addr a;
	cr_assert_eq(eml_addr_parse("vsock:any:0", &a), EML_OK);
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		/* The kernel has no vsock support: parsing is all that can be checked. */
		cr_log_warn("AF_VSOCK unavailable (errno %d): bind not exercised", errno);
		cr_assert(errno == EAFNOSUPPORT || errno == EPERM || errno == EACCES ||
		          errno == EINVAL);
		return;
	}
	struct sockaddr_vm *vm = (struct sockaddr_vm *)&a.sa;
	vm->svm_port = VMADDR_PORT_ANY; /* let the kernel pick: bind only */
	int r = bind(fd, (struct sockaddr *)&a.sa, a.sa_len);
	cr_assert(r == 0 || errno == EADDRNOTAVAIL || errno == EADDRINUSE || errno == EPERM ||
	              errno == EACCES || errno == ENODEV,
	          "bind errno %d", errno);
	close(fd);
}

Test(addr, tcp_and_unix_parsing)
{
	eml_addr a;
	cr_assert_eq(eml_addr_parse("tcp:127.0.0.1:8080", &a), EML_OK);
	cr_assert_eq(a.kind, EML_ADDR_TCP);
	cr_assert_eq(a.port, 8080);
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&a.sa;
	cr_assert_eq(in4->sin_family, AF_INET);
	cr_assert_eq(ntohs(in4->sin_port), 8080);
	cr_assert_eq(ntohl(in4->sin_addr.s_addr), 0x7f000001);
	cr_assert_eq(eml_addr_parse("tcp:[::1]:0", &a), EML_OK);
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.sa;
	cr_assert_eq(in6->sin6_family, AF_INET6);
	cr_assert(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	cr_assert_eq(eml_addr_parse("tcp:localhost:1", &a), EML_OK);
	cr_assert_eq(eml_addr_parse("unix:/tmp/eml.sock", &a), EML_OK);
	cr_assert_eq(a.kind, EML_ADDR_UNIX);
	cr_assert_str_eq(((const struct sockaddr_un *)&a.sa)->sun_path, "/tmp/eml.sock");
	cr_assert_eq(eml_addr_parse("unix:@eml-abstract", &a), EML_OK);
	cr_assert_eq(((const struct sockaddr_un *)&a.sa)->sun_path[0], '\0');
	char longp[200];
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "unix:/", 6);
	longp[sizeof(longp) - 1] = '\0';
	const char *bad[] = {"tcp:::1:80",
	                     "tcp:1.2.3.4",
	                     "tcp:1.2.3.4:65536",
	                     "tcp:[::1]80",
	                     "tcp::80",
	                     "tcp:[::1:80",
	                     "tcp:1.2.3.4:-1",
	                     "tcp:[zz]:80",
	                     "unix:",
	                     "unix:@",
	                     longp,
	                     "udp:1.2.3.4:5",
	                     "",
	                     "tcp:1.2.3.4:8 0",
	                     "http://x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(eml_addr_parse(bad[i], &a), EML_E_NET_ADDR, "%s", bad[i]);
	cr_assert_eq(eml_addr_parse(NULL, &a), EML_E_NET_ADDR);
}

/* A connected pair over a loopback listener. */
static void pair(const char *text, int *lfd, int *cfd, int *sfd)
{
	eml_addr a;
	cr_assert_eq(eml_addr_parse(text, &a), EML_OK);
	cr_assert_eq(eml_net_listen(&a, lfd), EML_OK);
	if (a.kind == EML_ADDR_TCP) {
		uint32_t port;
		cr_assert_eq(eml_net_local_port(*lfd, &port), EML_OK);
		cr_assert_neq(port, 0);
		((struct sockaddr_in *)&a.sa)->sin_port = htons((uint16_t)port);
	}
	cr_assert_eq(eml_net_connect(&a, 2000, cfd), EML_OK);
	cr_assert_eq(eml_net_accept(*lfd, 2000, sfd), EML_OK);
}

static void frame_io_checks(int cfd, int sfd)
{
	uint8_t t, *p = NULL;
	uint32_t n;
	cr_assert_eq(eml_net_send_frame(cfd, EML_FT_REQUEST, "hello", 5, 1000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(sfd, NULL, 1000, &t, &p, &n), EML_OK);
	cr_assert_eq(t, EML_FT_REQUEST);
	cr_assert_eq(n, 5);
	cr_assert(memcmp(p, "hello", 5) == 0);
	eml_free(p);
	/* Empty payload. */
	cr_assert_eq(eml_net_send_frame(cfd, EML_FT_STORE_LIST, NULL, 0, 1000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(sfd, NULL, 1000, &t, &p, &n), EML_OK);
	cr_assert_eq(n, 0);
	eml_free(p);
	/* Nothing arrives: a bounded wait. */
	int64_t t0 = eml_net_now_ms();
	cr_assert_eq(eml_net_recv_frame(sfd, NULL, 150, &t, &p, &n), EML_E_NET_TIMEOUT);
	int64_t dt = eml_net_now_ms() - t0;
	cr_assert(dt >= 140 && dt < 2000, "waited %lld ms", (long long)dt);
	/* Oversize and unknown types are refused from the header. */
	uint8_t big[5] = {0x7f, 0xff, 0xff, 0xff, EML_FT_REQUEST};
	cr_assert_eq(eml_net_write_all(cfd, big, 5, -1), EML_OK);
	cr_assert_eq(eml_net_recv_frame(sfd, NULL, 1000, &t, &p, &n), EML_E_FRAME_TOO_LARGE);
	uint8_t unk[5] = {0, 0, 0, 0, 0x99};
	cr_assert_eq(eml_net_write_all(cfd, unk, 5, -1), EML_OK);
	cr_assert_eq(eml_net_recv_frame(sfd, NULL, 1000, &t, &p, &n), EML_E_FRAME_TYPE);
	/* A frame cut short by EOF. */
	uint8_t cut[8] = {0, 0, 0, 10, EML_FT_REQUEST, 1, 2, 3};
	cr_assert_eq(eml_net_write_all(cfd, cut, 8, -1), EML_OK);
	shutdown(cfd, SHUT_WR);
	cr_assert_eq(eml_net_recv_frame(sfd, NULL, 1000, &t, &p, &n), EML_E_FRAME_TRUNCATED);
	cr_assert_eq(eml_net_recv_frame(sfd, NULL, 1000, &t, &p, &n), EML_E_NET_CLOSED);
}

Test(sock, tcp_loopback_frames_and_deadlines)
{
	int l, c, s;
	pair("tcp:127.0.0.1:0", &l, &c, &s);
	frame_io_checks(c, s);
	close(l), close(c), close(s);
}

Test(sock, tcp6_loopback)
{
	eml_addr a;
	int l;
	cr_assert_eq(eml_addr_parse("tcp:[::1]:0", &a), EML_OK);
	if (eml_net_listen(&a, &l) != EML_OK) {
		cr_log_warn("no IPv6 loopback on this machine");
		return;
	}
	close(l);
	int c, s;
	pair("tcp:[::1]:0", &l, &c, &s);
	frame_io_checks(c, s);
	close(l), close(c), close(s);
}

Test(sock, unix_frames_stale_socket_and_refusals)
{
	char *dir = eml_test_tmpdir();
	char text[512], path[512];
	snprintf(text, sizeof(text), "unix:%s/s.sock", dir);
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	int l, c, s;
	pair(text, &l, &c, &s);
	frame_io_checks(c, s);
	/* A live socket cannot be taken over. */
	eml_addr a;
	int l2;
	cr_assert_eq(eml_addr_parse(text, &a), EML_OK);
	cr_assert_eq(eml_net_listen(&a, &l2), EML_E_EXISTS);
	close(l), close(c), close(s);
	/* A stale one (nobody accepting) is replaced. */
	cr_assert_eq(access(path, F_OK), 0);
	cr_assert_eq(eml_net_listen(&a, &l2), EML_OK);
	close(l2);
	unlink(path);
	/* Nobody there: connect fails promptly; accept times out. */
	int fd;
	cr_assert_eq(eml_net_connect(&a, 500, &fd), EML_E_NET_CONNECT);
	cr_assert_eq(eml_net_listen(&a, &l2), EML_OK);
	cr_assert_eq(eml_net_accept(l2, 100, &fd), EML_E_NET_TIMEOUT);
	/* A full backlog: connect waits (bounded) instead of handing back an unconnected socket. */
	int pend[80], np = 0, rc = EML_OK;
	while (np < 80 && (rc = eml_net_connect(&a, 100, &pend[np])) == EML_OK)
		np++;
	cr_assert_eq(rc, EML_E_NET_TIMEOUT, "after %d connections: %s", np, eml_err_name(rc));
	cr_assert_gt(np, 0);
	for (int i = 0; i < np; i++)
		close(pend[i]);
	close(l2);
	/* A regular file in the way is never deleted. */
	unlink(path);
	FILE *f = fopen(path, "w");
	fputs("x", f);
	fclose(f);
	cr_assert_eq(eml_net_listen(&a, &l2), EML_E_EXISTS);
	cr_assert_eq(access(path, F_OK), 0);
	eml_test_rmtree(dir);
	free(dir);
}

/* ------------------------------------------------------------------ event loop */

struct echo_srv {
	eml_loop *loop;
	volatile sig_atomic_t stop;
	pthread_t th;
	int closes;
	int last_rc;
	eml_conn_opts opts;
};

static void echo_frame(eml_conn *c, uint8_t type, const uint8_t *p, uint32_t n, const uint8_t *raw,
                       size_t raw_len)
{
	(void)type, (void)p, (void)n;
	eml_conn_send(c, raw, raw_len);
}

static void echo_close(eml_conn *c, int rc)
{
	struct echo_srv *e = eml_conn_arg(c);
	e->closes++;
	e->last_rc = rc;
}

static const eml_conn_cb echo_cb = {.on_frame = echo_frame, .on_close = echo_close};

static void echo_accept(eml_loop *l, int fd, void *arg)
{
	struct echo_srv *e = arg;
	eml_loop_add_conn(l, fd, &e->opts, &echo_cb, e, NULL);
}

static void *echo_run(void *arg)
{
	struct echo_srv *e = arg;
	eml_loop_run(e->loop, &e->stop);
	return NULL;
}

static eml_addr echo_start(struct echo_srv *e, const char *dir, eml_conn_opts o)
{
	char text[512];
	eml_addr a;
	int l;
	memset(e, 0, sizeof(*e));
	e->opts = o;
	if (dir != NULL)
		snprintf(text, sizeof(text), "unix:%s/loop.sock", dir);
	else
		snprintf(text, sizeof(text), "tcp:127.0.0.1:0");
	cr_assert_eq(eml_addr_parse(text, &a), EML_OK);
	cr_assert_eq(eml_net_listen(&a, &l), EML_OK);
	if (dir == NULL) {
		uint32_t port;
		cr_assert_eq(eml_net_local_port(l, &port), EML_OK);
		((struct sockaddr_in *)&a.sa)->sin_port = htons((uint16_t)port);
	}
	cr_assert_eq(eml_loop_new(8, &e->loop), EML_OK);
	cr_assert_eq(eml_loop_add_listener(e->loop, l, echo_accept, e), EML_OK);
	pthread_create(&e->th, NULL, echo_run, e);
	return a;
}

static void echo_stop(struct echo_srv *e)
{
	e->stop = 1;
	pthread_join(e->th, NULL);
	eml_loop_free(e->loop);
}

Test(loop, echo_limits_errors_and_timeouts)
{
	char *dir = eml_test_tmpdir();
	eml_conn_opts o = {.limits = {.client_max = 4096, .weight_max = 8192},
	                   .idle_timeout_ms = 300,
	                   .frame_timeout_ms = 500};
	struct echo_srv e;
	eml_addr a = echo_start(&e, dir, o);
	int fd;
	uint8_t t, *p;
	uint32_t n;
	eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;

	/* Frames come back byte-identical, including several in one write and split writes. */
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	uint8_t buf[5 + 3 + 5 + 8192];
	memcpy(buf, (uint8_t[]){0, 0, 0, 3, EML_FT_REQUEST, 'a', 'b', 'c'}, 8);
	memcpy(buf + 8, (uint8_t[]){0, 0, 0x20, 0, EML_FT_UPLOAD}, 5);
	for (int i = 0; i < 8192; i++)
		buf[13 + i] = (uint8_t)(i * 7);
	cr_assert_eq(eml_net_write_all(fd, buf, 4, -1), EML_OK);
	usleep(20000);
	cr_assert_eq(eml_net_write_all(fd, buf + 4, sizeof(buf) - 4, -1), EML_OK);
	uint8_t back[sizeof(buf)];
	cr_assert_eq(eml_net_read_all(fd, back, sizeof(back), eml_net_now_ms() + 2000), EML_OK);
	cr_assert(memcmp(back, buf, sizeof(buf)) == 0);

	/* Over the limit for its class: ERROR frame with the code, then closed. */
	uint8_t over[5] = {0, 0, 0x10, 0x01, EML_FT_REQUEST};
	cr_assert_eq(eml_net_write_all(fd, over, 5, -1), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 2000, &t, &p, &n), EML_OK);
	cr_assert_eq(t, EML_FT_ERROR);
	cr_assert_eq(n, 2);
	cr_assert_eq(p[0] << 8 | p[1], EML_E_FRAME_TOO_LARGE);
	eml_free(p);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 2000, &t, &p, &n), EML_E_NET_CLOSED);
	close(fd);

	/* Unknown type. */
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	cr_assert_eq(eml_net_write_all(fd, (uint8_t[]){0, 0, 0, 0, 0xee}, 5, -1), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 2000, &t, &p, &n), EML_OK);
	cr_assert_eq(p[0] << 8 | p[1], EML_E_FRAME_TYPE);
	eml_free(p);
	close(fd);

	/* A frame trickling in (one byte at a time, never idle) is cut off by the frame timeout. */
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	uint8_t hdr[5] = {0, 0, 0, 100, EML_FT_REQUEST};
	int64_t s0 = eml_net_now_ms();
	int cut = 0;
	for (int i = 0; i < 105 && !cut; i++) {
		uint8_t byte = i < 5 ? hdr[i] : 0;
		if (eml_net_write_all(fd, &byte, 1, eml_net_now_ms() + 500) != EML_OK)
			cut = 1;
		usleep(20000);
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 0) > 0) {
			uint8_t junk;
			cut = recv(fd, &junk, 1, MSG_DONTWAIT) <= 0;
		}
	}
	int64_t cut_ms = eml_net_now_ms() - s0;
	cr_assert(cut, "a trickling frame was never cut off");
	cr_assert(cut_ms >= 450 && cut_ms < 1500, "cut after %lld ms", (long long)cut_ms);
	close(fd);

	/* Idle connections are closed after the timeout. */
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	int64_t t0 = eml_net_now_ms();
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 3000, &t, &p, &n), EML_E_NET_CLOSED);
	int64_t dt = eml_net_now_ms() - t0;
	cr_assert(dt >= 250 && dt < 2500, "closed after %lld ms", (long long)dt);
	close(fd);
	echo_stop(&e);
	cr_assert(e.closes >= 3);
	eml_test_rmtree(dir);
	free(dir);
}

Test(loop, output_queue_is_bounded)
{
	char *dir = eml_test_tmpdir();
	/* Output bounded to 64 KiB: a peer that sends but never reads is cut off. */
	eml_conn_opts o = {.limits = {.client_max = 60000, .weight_max = 60000},
	                   .out_max = 65536,
	                   .idle_timeout_ms = 5000};
	struct echo_srv e;
	eml_addr a = echo_start(&e, dir, o);
	int fd;
	cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	uint8_t *frame = calloc(1, 5 + 60000);
	memcpy(frame, (uint8_t[]){0, 0, 0xea, 0x60, EML_FT_REQUEST}, 5);
	int rc = EML_OK, sent = 0;
	for (int i = 0; i < 200 && rc == EML_OK; i++) {
		rc = eml_net_write_all(fd, frame, 5 + 60000, eml_net_now_ms() + 500);
		sent += rc == EML_OK;
	}
	/* The server closed us (EPIPE/reset) or stopped reading (timeout): never unbounded. */
	cr_assert_neq(rc, EML_OK, "sent %d frames without being cut off", sent);
	close(fd);
	for (int i = 0; i < 50 && e.closes == 0; i++)
		usleep(20000);
	echo_stop(&e);
	cr_assert_eq(e.closes, 1);
	cr_assert(e.last_rc == EML_E_LIMIT || e.last_rc == EML_E_NET_CLOSED, "rc %d", e.last_rc);
	free(frame);
	eml_test_rmtree(dir);
	free(dir);
}

/* Over TCP, a client that keeps sending the body of a refused oversize frame still reads its
 * ERROR frame. (On loopback Linux delivers the frame even without the linger; the linger is for
 * real networks, where a reset can overtake unread data.) */
Test(loop, tcp_refusal_reaches_a_client_still_sending)
{
	eml_conn_opts o = {.limits = {.client_max = 1024, .weight_max = 1024},
	                   .idle_timeout_ms = 5000};
	struct echo_srv e;
	eml_addr a = echo_start(&e, NULL, o);
	for (int round = 0; round < 5; round++) {
		int fd;
		cr_assert_eq(eml_net_connect(&a, 1000, &fd), EML_OK);
		size_t n = (size_t)1 << 20;
		uint8_t *f = calloc(1, 5 + n);
		memcpy(f, (uint8_t[]){0, 0x10, 0, 0, EML_FT_UPLOAD}, 5);
		/* The send may fail part-way (the server stops reading): that is expected. */
		(void)eml_net_write_all(fd, f, 5 + n, eml_net_now_ms() + 2000);
		uint8_t t, *p;
		uint32_t m;
		eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;
		cr_assert_eq(eml_net_recv_frame(fd, &lim, 3000, &t, &p, &m), EML_OK, "round %d",
		             round);
		cr_assert_eq(t, EML_FT_ERROR);
		cr_assert_eq(p[0] << 8 | p[1], EML_E_FRAME_TOO_LARGE);
		eml_free(p);
		if (round == 0) {
			/* The linger is bounded (1 s), well below the idle timeout (5 s). */
			int64_t t0 = eml_net_now_ms();
			cr_assert_eq(eml_net_recv_frame(fd, &lim, 4000, &t, &p, &m),
			             EML_E_NET_CLOSED);
			int64_t dt = eml_net_now_ms() - t0;
			cr_assert(dt < 2500, "closed after %lld ms", (long long)dt);
		}
		free(f);
		close(fd);
	}
	echo_stop(&e);
}

/* ---- relaying (cut-through): a REQUEST from any connection goes to the "target" connection
 * as it arrives; the target announces itself with a SERVER_HELLO "target"; every other frame
 * is delivered whole and echoed back. A source that ends inside a relayed frame makes the
 * server close the target after what it has (as the host does). */

struct relay_srv {
	struct echo_srv e; /* loop, thread, stop */
	eml_conn *target;
	int relayed_headers;
};

static eml_conn *relay_pick(eml_conn *c, uint8_t type, uint32_t len)
{
	struct relay_srv *r = eml_conn_arg(c);
	(void)len;
	if (type != EML_FT_REQUEST || c == r->target || r->target == NULL)
		return NULL;
	r->relayed_headers++;
	return r->target;
}

static void relay_frame(eml_conn *c, uint8_t type, const uint8_t *p, uint32_t n, const uint8_t *raw,
                        size_t raw_len)
{
	struct relay_srv *r = eml_conn_arg(c);
	if (type == EML_FT_SERVER_HELLO && n == 6 && memcmp(p, "target", 6) == 0)
		r->target = c;
	else
		eml_conn_send(c, raw, raw_len);
}

static void relay_close(eml_conn *c, int rc)
{
	struct relay_srv *r = eml_conn_arg(c);
	if (c == r->target)
		r->target = NULL;
	else if (rc == EML_E_FRAME_TRUNCATED && r->target != NULL)
		eml_conn_close_after_flush(r->target);
}

static const eml_conn_cb relay_cb = {
    .on_frame = relay_frame, .on_close = relay_close, .relay_to = relay_pick};

static void relay_accept(eml_loop *l, int fd, void *arg)
{
	struct relay_srv *r = arg;
	eml_loop_add_conn(l, fd, &r->e.opts, &relay_cb, r, NULL);
}

static void echo_round_trip(int fd, const char *word);

static void relay_start(struct relay_srv *r, const char *dir, int *src, int *dst)
{
	char text[512];
	eml_addr a;
	int l;
	memset(r, 0, sizeof(*r));
	r->e.opts = (eml_conn_opts){.limits = {.client_max = 1 << 22, .weight_max = 1 << 22},
	                            .idle_timeout_ms = 5000};
	snprintf(text, sizeof(text), "unix:%s/relay.sock", dir);
	cr_assert_eq(eml_addr_parse(text, &a), EML_OK);
	cr_assert_eq(eml_net_listen(&a, &l), EML_OK);
	cr_assert_eq(eml_loop_new(8, &r->e.loop), EML_OK);
	cr_assert_eq(eml_loop_add_listener(r->e.loop, l, relay_accept, r), EML_OK);
	pthread_create(&r->e.th, NULL, echo_run, &r->e);
	cr_assert_eq(eml_net_connect(&a, 1000, dst), EML_OK);
	cr_assert_eq(eml_net_send_frame(*dst, EML_FT_SERVER_HELLO, "target", 6, 1000), EML_OK);
	cr_assert_eq(eml_net_connect(&a, 1000, src), EML_OK);
	/* the loop has read the target's hello once an echo on the source has come back */
	echo_round_trip(*src, "ping");
}

static void frame_hdr(uint8_t h[5], uint32_t n, uint8_t type)
{
	h[0] = (uint8_t)(n >> 24), h[1] = (uint8_t)(n >> 16), h[2] = (uint8_t)(n >> 8);
	h[3] = (uint8_t)n, h[4] = type;
}

/* A 4-byte CLIENT_HELLO sent on fd comes back whole (delivered to on_frame, echoed). */
static void echo_round_trip(int fd, const char *word)
{
	uint8_t t, *p = NULL;
	uint32_t pn;
	eml_frame_limits lim = {.client_max = 1 << 22, .weight_max = 1 << 22};
	cr_assert_eq(eml_net_send_frame(fd, EML_FT_CLIENT_HELLO, word, 4, 1000), EML_OK);
	cr_assert_eq(eml_net_recv_frame(fd, &lim, 2000, &t, &p, &pn), EML_OK);
	cr_assert(t == EML_FT_CLIENT_HELLO && pn == 4 && memcmp(p, word, 4) == 0);
	eml_free(p);
}

/* Bytes available on fd within ms (0 on timeout). */
static size_t read_some(int fd, uint8_t *p, size_t cap, int ms)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	if (poll(&pf, 1, ms) != 1)
		return 0;
	ssize_t r = recv(fd, p, cap, MSG_DONTWAIT);
	return r > 0 ? (size_t)r : 0;
}

Test(loop, relay_passes_a_frame_on_as_it_arrives)
{
	char *dir = eml_test_tmpdir();
	struct relay_srv r;
	int src, dst;
	relay_start(&r, dir, &src, &dst);
	const uint32_t n = 600000;
	uint8_t *frame = malloc(5 + n), *got = malloc(5 + n);
	frame_hdr(frame, n, EML_FT_REQUEST);
	for (uint32_t i = 0; i < n; i++)
		frame[5 + i] = (uint8_t)(i * 131 + (i >> 9));
	/* The first half: the target sees bytes before the source has sent the rest. */
	size_t half = 5 + n / 2, have = 0;
	cr_assert_eq(eml_net_write_all(src, frame, half, eml_net_now_ms() + 2000), EML_OK);
	for (int i = 0; i < 100 && have < 5; i++)
		have += read_some(dst, got + have, 5 + n - have, 20);
	cr_assert_geq(have, 5, "nothing relayed before the frame was complete");
	cr_assert_eq(eml_net_write_all(src, frame + half, 5 + n - half, eml_net_now_ms() + 2000),
	             EML_OK);
	cr_assert_eq(eml_net_read_all(dst, got + have, 5 + n - have, eml_net_now_ms() + 5000),
	             EML_OK);
	cr_assert_eq(memcmp(got, frame, 5 + n), 0, "relayed bytes differ");
	/* Framing goes on after the relayed frame: the next (non-request) frame comes back whole. */
	echo_round_trip(src, "next");
	/* An empty relayed frame is just its header. */
	frame_hdr(frame, 0, EML_FT_REQUEST);
	cr_assert_eq(eml_net_write_all(src, frame, 5, eml_net_now_ms() + 1000), EML_OK);
	cr_assert_eq(eml_net_read_all(dst, got, 5, eml_net_now_ms() + 2000), EML_OK);
	cr_assert_eq(memcmp(got, frame, 5), 0);
	close(src);
	close(dst);
	echo_stop(&r.e);
	cr_assert_eq(r.relayed_headers, 2);
	free(frame);
	free(got);
	eml_test_rmtree(dir);
	free(dir);
}

Test(loop, relay_cut_short_by_either_side)
{
	char *dir = eml_test_tmpdir();
	struct relay_srv r;
	int src, dst;
	const uint32_t n = 200000;
	uint8_t *frame = malloc(5 + n), *got = malloc(5 + n);
	frame_hdr(frame, n, EML_FT_REQUEST);
	for (uint32_t i = 0; i < n; i++)
		frame[5 + i] = (uint8_t)(i * 7 + 3);

	/* The source ends inside the frame: the target gets what was sent, then end of file. */
	relay_start(&r, dir, &src, &dst);
	size_t part = 5 + n / 3, have = 0;
	cr_assert_eq(eml_net_write_all(src, frame, part, eml_net_now_ms() + 2000), EML_OK);
	close(src);
	for (int i = 0; i < 200; i++) {
		struct pollfd pf = {.fd = dst, .events = POLLIN};
		if (poll(&pf, 1, 20) != 1)
			continue;
		ssize_t k = recv(dst, got + have, 5 + n - have, 0);
		if (k <= 0)
			break;
		have += (size_t)k;
	}
	cr_assert_eq(have, part, "the target got %zu of the %zu bytes sent", have, part);
	cr_assert_eq(memcmp(got, frame, part), 0);
	close(dst);
	echo_stop(&r.e);
	eml_test_rmtree(dir);
	free(dir);

	/* The target goes away inside the frame: the rest is read and dropped, and the source's
	 * next frame is served as usual. */
	dir = eml_test_tmpdir();
	relay_start(&r, dir, &src, &dst);
	cr_assert_eq(eml_net_write_all(src, frame, part, eml_net_now_ms() + 2000), EML_OK);
	close(dst);
	usleep(50000);
	cr_assert_eq(eml_net_write_all(src, frame + part, 5 + n - part, eml_net_now_ms() + 2000),
	             EML_OK);
	echo_round_trip(src, "more");
	close(src);
	echo_stop(&r.e);
	free(frame);
	free(got);
	eml_test_rmtree(dir);
	free(dir);
}
