/*
 * A small epoll event loop for the host (single-threaded, non-blocking, level-triggered). It owns
 * listeners and connections; connections deliver whole frames, or relay them to another
 * connection as they arrive (eml_conn_cb.relay_to).
 *
 * Bounded buffers: a connection's input holds at most one frame (header, then exactly the payload
 * its header announced, after the type and length were checked against the limits); its output
 * queue holds at most `out_max` bytes (a send beyond that closes the connection with
 * EML_E_LIMIT, so a peer that does not read cannot make the host grow without bound).
 * Timeouts: a connection idle (no bytes in or out) for idle_timeout_ms, whose current frame
 * has not arrived whole frame_timeout_ms after its first byte (a slow trickle), or whose first
 * frame header has not arrived handshake_timeout_ms after it was added (a connection opened and
 * left silent, or trickling its first bytes), is closed with EML_E_NET_TIMEOUT.
 * Connection cap: at max_conns, a new connection (accepted, or one the owner opened, such as the
 * host's connection to the enclave) evicts the oldest "evictable" connection that has not yet
 * delivered a whole frame (closed with EML_E_NET_BUSY), so idle or trickling connections cannot
 * lock out peers that talk; with none to evict, the new one is refused. At most 16 connections
 * are accepted per listener and loop round, so input of those already accepted is read in
 * between.
 * Framing errors (unknown type, oversize length) are answered with an ERROR frame carrying the
 * code (EOF inside a frame just closes, with EML_E_FRAME_TRUNCATED); once the ERROR is flushed
 * the connection lingers (writing shut down, input discarded for up to a second) so that a TCP
 * reset cannot destroy the ERROR before the peer reads it, then closes.
 *
 * Callbacks run on the loop's thread; they may send on and close any connection (including the
 * one being served). A closed connection is freed after the current dispatch round; on_close is
 * called exactly once. Not thread-safe.
 */
#ifndef EML_NET_LOOP_H
#define EML_NET_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/frame.h"

typedef struct eml_loop eml_loop;
typedef struct eml_conn eml_conn;

/* A new connection accepted on a listener (already non-blocking). The callback adopts fd
 * (adds it with eml_loop_add_conn or closes it). */
typedef void (*eml_accept_fn)(eml_loop *l, int fd, void *arg);

typedef struct eml_conn_cb {
	/* One whole frame. raw/raw_len is the frame exactly as received (header included), for
	 * byte-identical forwarding. */
	void (*on_frame)(eml_conn *c, uint8_t type, const uint8_t *payload, uint32_t len,
	                 const uint8_t *raw, size_t raw_len);
	/* The connection is closing: rc is EML_OK for an orderly close, else the reason. */
	void (*on_close)(eml_conn *c, int rc);
	/* Optional: a frame's header has arrived and passed the limits. Return a connection to
	 * relay the frame to as it arrives (cut-through: the header, then each piece of the
	 * payload, byte for byte, queued on that connection's output like any send), or NULL to
	 * have it delivered whole to on_frame. A relayed frame is not given to on_frame. If the
	 * target closes meanwhile, the rest of the frame is read and dropped; if this connection
	 * ends inside the frame, the target has a partial frame: the owner closes it (on_close). */
	eml_conn *(*relay_to)(eml_conn *c, uint8_t type, uint32_t len);
} eml_conn_cb;

typedef struct eml_conn_opts {
	eml_frame_limits limits;
	size_t out_max;           /* 0: room for two of the largest frames */
	int idle_timeout_ms;      /* <= 0: none */
	int frame_timeout_ms;     /* <= 0: none */
	int handshake_timeout_ms; /* first frame header within this of the add; <= 0: none */
	int evictable; /* may be closed to make room while it has delivered no frame yet */
} eml_conn_opts;

int eml_loop_new(size_t max_conns, eml_loop **out);
/* Closes every connection (calling on_close) and listener. */
void eml_loop_free(eml_loop *l);
int eml_loop_add_listener(eml_loop *l, int fd, eml_accept_fn fn, void *arg);
/* Takes ownership of fd (closed on failure too). At max_conns, evicts the oldest evictable
 * connection without a delivered frame, else EML_E_NET_BUSY. */
int eml_loop_add_conn(eml_loop *l, int fd, const eml_conn_opts *o, const eml_conn_cb *cb, void *arg,
                      eml_conn **out);
/* Run until *stop becomes non-zero (checked at least every 100 ms) or eml_loop_stop. */
int eml_loop_run(eml_loop *l, const volatile sig_atomic_t *stop);
void eml_loop_stop(eml_loop *l);
size_t eml_loop_conn_count(const eml_loop *l);

void *eml_conn_arg(const eml_conn *c);
void eml_conn_set_arg(eml_conn *c, void *arg);
eml_loop *eml_conn_loop(const eml_conn *c);
/* Queue bytes (a whole frame, usually). No-op on a closing connection. */
int eml_conn_send(eml_conn *c, const void *p, size_t n);
int eml_conn_send_frame(eml_conn *c, uint8_t type, const void *payload, size_t len);
/* Send an ERROR frame with `code`, then close once it is flushed (with the linger above). */
void eml_conn_fail(eml_conn *c, int code);
/* Close now (queued output dropped) ... */
void eml_conn_close(eml_conn *c, int rc);
/* ... or after the queued output is flushed (no more input is read). */
void eml_conn_close_after_flush(eml_conn *c);

#endif
