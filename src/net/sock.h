/*
 * Sockets over eml_addr with deadlines: listen, accept, connect, and whole-frame I/O.
 * Every socket is non-blocking and close-on-exec; waits use poll() against a deadline, so no call
 * blocks past its timeout (EML_E_NET_TIMEOUT). Writes use MSG_NOSIGNAL (no SIGPIPE).
 * Thread-safe (no shared state); one thread per fd at a time.
 */
#ifndef EML_NET_SOCK_H
#define EML_NET_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "wire/frame.h"

/* Monotonic milliseconds. */
int64_t eml_net_now_ms(void);

/* Bind and listen. A stale unix socket file (nobody accepting on it) is replaced; a live one is
 * EML_E_EXISTS. */
int eml_net_listen(const eml_addr *a, int *fd_out);
/* The port a TCP or vsock listener actually got (after port 0). */
int eml_net_local_port(int fd, uint32_t *port);
/* Accept one connection within timeout_ms (-1: wait forever). */
int eml_net_accept(int lfd, int timeout_ms, int *fd_out);
/* Connect within timeout_ms. EML_E_NET_CONNECT when refused or unreachable. */
int eml_net_connect(const eml_addr *a, int timeout_ms, int *fd_out);
int eml_net_set_nonblock(int fd);

/* Write or read exactly n bytes before deadline_ms (eml_net_now_ms clock; -1 = none).
 * Read: EML_E_NET_CLOSED on EOF before the first byte, EML_E_FRAME_TRUNCATED on EOF after it. */
int eml_net_write_all(int fd, const void *p, size_t n, int64_t deadline_ms);
int eml_net_read_all(int fd, void *p, size_t n, int64_t deadline_ms);

/* One frame. The receive checks type and length on the header before allocating; *payload is
 * eml_alloc'd (free with eml_free, which wipes). */
int eml_net_send_frame(int fd, uint8_t type, const void *payload, size_t len, int timeout_ms);
int eml_net_recv_frame(int fd, const eml_frame_limits *limits, int timeout_ms, uint8_t *type,
                       uint8_t **payload, uint32_t *len);
/* The same into a buffer kept across frames (the payload is b->p[0..b->len)), so a connection
 * carrying megabytes per request reuses its pages. The caller wipes what it decrypts there. */
int eml_net_recv_frame_buf(int fd, const eml_frame_limits *limits, int timeout_ms, uint8_t *type,
                           eml_buf *b);

#endif
