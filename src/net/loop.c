#include "net/loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/mem.h"
#include "net/sock.h"
#include "wire/msg.h"

enum { K_LISTENER = 1, K_CONN = 2 };

struct eml_conn {
	int kind; /* first: shared with struct listener for epoll dispatch */
	int fd;
	eml_loop *loop;
	eml_conn_opts o;
	eml_conn_cb cb;
	void *arg;
	/* input: header, then the payload the header announced */
	uint8_t *in;
	size_t in_len, in_cap;
	/* a relayed frame (eml_conn_cb.relay_to): its payload goes to `relay` as it arrives */
	int decided;         /* relay_to was asked about the frame being read */
	int relaying;        /* its payload is being relayed (in_len stays at the header) */
	uint32_t relay_left; /* payload bytes still to come */
	eml_conn *relay;     /* NULL once the target closed: the rest is read and dropped */
	/* output queue */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	int64_t last_ms;
	int64_t added_ms;       /* for the handshake timeout and eviction order */
	uint64_t frames_in;     /* whole frames delivered */
	int64_t frame_start_ms; /* when the first byte of the frame being read arrived */
	int closing;            /* flush then close */
	int linger;   /* after the flush: shut down writing, drain input briefly, then close */
	int draining; /* in that drain */
	int64_t drain_until_ms;
	int closed;      /* on_close called; freed at the end of the round */
	uint32_t events; /* current epoll interest */
	eml_conn *next;  /* all connections */
};

struct listener {
	int kind;
	int fd;
	eml_accept_fn fn;
	void *arg;
	struct listener *next;
};

struct eml_loop {
	int ep;
	size_t max_conns, n_conns;
	eml_conn *conns;
	struct listener *listeners;
	int stop;
};

int eml_loop_new(size_t max_conns, eml_loop **out)
{
	eml_loop *l = eml_calloc(1, sizeof(*l));
	if (l == NULL)
		return EML_E_NOMEM;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0) {
		eml_free(l);
		return EML_E_NET_IO;
	}
	l->max_conns = max_conns;
	*out = l;
	return EML_OK;
}

static void conn_free(eml_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	eml_free(c->in);
	eml_free(c->out);
	eml_free(c);
}

static void conn_mark_closed(eml_conn *c, int rc)
{
	if (c->closed)
		return;
	c->closed = 1;
	/* Nothing relays into a closed connection (it is freed at the end of the round). */
	for (eml_conn *x = c->loop->conns; x != NULL; x = x->next)
		if (x->relay == c)
			x->relay = NULL;
	epoll_ctl(c->loop->ep, EPOLL_CTL_DEL, c->fd, NULL);
	shutdown(c->fd, SHUT_RDWR);
	if (c->cb.on_close != NULL)
		c->cb.on_close(c, rc);
}

/* Free the connections closed during this round. */
static void reap(eml_loop *l)
{
	eml_conn **pp = &l->conns;
	while (*pp != NULL) {
		eml_conn *c = *pp;
		if (c->closed) {
			*pp = c->next;
			l->n_conns--;
			conn_free(c);
		} else {
			pp = &c->next;
		}
	}
}

void eml_loop_free(eml_loop *l)
{
	if (l == NULL)
		return;
	for (eml_conn *c = l->conns; c != NULL; c = c->next)
		conn_mark_closed(c, EML_OK);
	reap(l);
	while (l->listeners != NULL) {
		struct listener *x = l->listeners;
		l->listeners = x->next;
		close(x->fd);
		eml_free(x);
	}
	close(l->ep);
	eml_free(l);
}

int eml_loop_add_listener(eml_loop *l, int fd, eml_accept_fn fn, void *arg)
{
	struct listener *x = eml_calloc(1, sizeof(*x));
	if (x == NULL)
		return EML_E_NOMEM;
	x->kind = K_LISTENER;
	x->fd = fd;
	x->fn = fn;
	x->arg = arg;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = x};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		eml_free(x);
		return EML_E_NET_IO;
	}
	x->next = l->listeners;
	l->listeners = x;
	return EML_OK;
}

static void update_events(eml_conn *c)
{
	uint32_t want = 0;
	if (!c->closing || c->draining)
		want |= EPOLLIN;
	if (c->out_len > c->out_off)
		want |= EPOLLOUT;
	if (want != c->events) {
		struct epoll_event ev = {.events = want, .data.ptr = c};
		epoll_ctl(c->loop->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->events = want;
	}
}

/* Live connections, not counting those closed this round (freed by reap). */
static size_t live_conns(const eml_loop *l)
{
	size_t n = 0;
	for (const eml_conn *c = l->conns; c != NULL; c = c->next)
		n += !c->closed;
	return n;
}

/* At the cap: close the oldest evictable connection that has not delivered a frame yet (a
 * connection that talks is never evicted for one that might). 1 if one was closed. */
static int evict_one(eml_loop *l)
{
	eml_conn *victim = NULL;
	for (eml_conn *c = l->conns; c != NULL; c = c->next)
		if (!c->closed && !c->closing && c->o.evictable && c->frames_in == 0 &&
		    (victim == NULL || c->added_ms <= victim->added_ms))
			victim = c;
	if (victim == NULL)
		return 0;
	conn_mark_closed(victim, EML_E_NET_BUSY);
	return 1;
}

int eml_loop_add_conn(eml_loop *l, int fd, const eml_conn_opts *o, const eml_conn_cb *cb, void *arg,
                      eml_conn **out)
{
	int rc = EML_OK;
	eml_conn *c = NULL;
	/* Closed connections still count until reaped; count only the live ones. */
	if (l->n_conns >= l->max_conns && live_conns(l) >= l->max_conns)
		EML_ENSURE(evict_one(l), EML_E_NET_BUSY);
	EML_GUARD(eml_net_set_nonblock(fd));
	c = eml_calloc(1, sizeof(*c));
	EML_ENSURE(c != NULL, EML_E_NOMEM);
	c->kind = K_CONN;
	c->fd = fd;
	c->loop = l;
	c->o = *o;
	if (c->o.out_max == 0) {
		uint32_t m = c->o.limits.weight_max > c->o.limits.client_max
		                 ? c->o.limits.weight_max
		                 : c->o.limits.client_max;
		c->o.out_max = 2 * ((size_t)m + EML_FRAME_HEADER_LEN);
	}
	c->cb = *cb;
	c->arg = arg;
	c->last_ms = eml_net_now_ms();
	c->added_ms = c->last_ms;
	c->events = EPOLLIN;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	EML_ENSURE(epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) == 0, EML_E_NET_IO);
	c->next = l->conns;
	l->conns = c;
	l->n_conns++;
	if (out != NULL)
		*out = c;
	fd = -1;
	c = NULL;
out:
	if (c != NULL) {
		c->fd = -1;
		conn_free(c);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

void *eml_conn_arg(const eml_conn *c)
{
	return c->arg;
}

void eml_conn_set_arg(eml_conn *c, void *arg)
{
	c->arg = arg;
}

eml_loop *eml_conn_loop(const eml_conn *c)
{
	return c->loop;
}

size_t eml_loop_conn_count(const eml_loop *l)
{
	return l->n_conns;
}

void eml_conn_close(eml_conn *c, int rc)
{
	conn_mark_closed(c, rc);
}

#define LINGER_MS 1000
#define LOOP_ACCEPTS_PER_ROUND 16

/* Everything queued has been written and the connection is closing. */
static void flushed(eml_conn *c)
{
	if (!c->linger) {
		conn_mark_closed(c, EML_OK);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->draining = 1;
	c->drain_until_ms = eml_net_now_ms() + LINGER_MS;
	update_events(c);
}

void eml_conn_close_after_flush(eml_conn *c)
{
	if (c->closed)
		return;
	c->closing = 1;
	if (c->out_len == c->out_off)
		flushed(c);
	else
		update_events(c);
}

int eml_conn_send(eml_conn *c, const void *p, size_t n)
{
	if (c->closed)
		return EML_E_NET_CLOSED;
	size_t pending = c->out_len - c->out_off;
	if (n > c->o.out_max || pending > c->o.out_max - n) {
		conn_mark_closed(c, EML_E_LIMIT);
		return EML_E_LIMIT;
	}
	/* Nothing queued: write through, and queue only what the socket does not take now (an
	 * error is left for on_writable to report, as for queued bytes). */
	if (pending == 0 && !c->closing) {
		const uint8_t *q = p;
		while (n > 0) {
			ssize_t w = send(c->fd, q, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				q += w;
				n -= (size_t)w;
				c->last_ms = eml_net_now_ms();
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			break;
		}
		p = q;
		if (n == 0)
			return EML_OK;
	}
	/* Compact (when what moves is no more than what was sent, so relaying a frame in pieces
	 * stays linear), then grow to fit. */
	if (c->out_off > 0 && (c->out_off >= pending || c->out_len + n > c->out_cap)) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_off = 0;
		c->out_len = pending;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + n)
			cap *= 2;
		if (cap > c->o.out_max)
			cap = c->o.out_max;
		uint8_t *q = eml_realloc(c->out, cap);
		if (q == NULL) {
			conn_mark_closed(c, EML_E_NOMEM);
			return EML_E_NOMEM;
		}
		c->out = q;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	update_events(c);
	return EML_OK;
}

int eml_conn_send_frame(eml_conn *c, uint8_t type, const void *payload, size_t len)
{
	uint8_t hdr[EML_FRAME_HEADER_LEN];
	if (len > UINT32_MAX)
		return EML_E_FRAME_TOO_LARGE;
	hdr[0] = (uint8_t)(len >> 24), hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8), hdr[3] = (uint8_t)len, hdr[4] = type;
	/* Header and payload are queued back to back (the loop is single-threaded, so nothing
	 * can come between them). */
	if (c->closed)
		return EML_E_NET_CLOSED;
	int rc = eml_conn_send(c, hdr, sizeof(hdr));
	if (rc == EML_OK && len > 0)
		rc = eml_conn_send(c, payload, len);
	return rc;
}

void eml_conn_fail(eml_conn *c, int code)
{
	uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
	if (c->closed)
		return;
	if (eml_conn_send_frame(c, EML_FT_ERROR, p, sizeof(p)) == EML_OK) {
		/* Closing a socket with unread input makes TCP send a reset, which can destroy the
		 * ERROR frame before the peer reads it; so linger: flush, shut down writing, and
		 * discard input for a moment (bounded) before closing. */
		c->linger = 1;
		eml_conn_close_after_flush(c);
	}
}

static void on_writable(eml_conn *c)
{
	while (c->out_len > c->out_off) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w > 0) {
			c->out_off += (size_t)w;
			c->last_ms = eml_net_now_ms();
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_mark_closed(c, EML_E_NET_CLOSED);
		return;
	}
	if (c->out_len == c->out_off) {
		c->out_len = c->out_off = 0;
		if (c->closing) {
			flushed(c);
			return;
		}
	}
	update_events(c);
}

/* Lingering close: read and discard until EOF (or the deadline, in check_timeouts). */
static void drain(eml_conn *c)
{
	uint8_t junk[4096];
	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t r = recv(c->fd, junk, sizeof(junk), 0);
		if (r > 0)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_mark_closed(c, EML_OK);
		return;
	}
}

#define LOOP_RELAY_CHUNK 65536 /* = what the input buffer may keep between frames */

static void frame_done(eml_conn *c)
{
	c->in_len = 0;
	c->decided = 0;
	c->relaying = 0;
	c->relay = NULL;
	c->frames_in++;
}

/* A relayed frame: pass on what has arrived of its payload. 1: stop reading for now. */
static int relay_some(eml_conn *c)
{
	size_t chunk = c->relay_left < LOOP_RELAY_CHUNK ? c->relay_left : LOOP_RELAY_CHUNK;
	if (c->in_cap < chunk) {
		uint8_t *q = eml_realloc(c->in, chunk);
		if (q == NULL) {
			conn_mark_closed(c, EML_E_NOMEM);
			return 1;
		}
		c->in = q;
		c->in_cap = chunk;
	}
	ssize_t r = recv(c->fd, c->in, chunk, 0);
	if (r == 0) {
		conn_mark_closed(c, EML_E_FRAME_TRUNCATED);
		return 1;
	}
	if (r < 0) {
		if (errno == EINTR)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_mark_closed(c, EML_E_NET_CLOSED);
		return 1;
	}
	c->last_ms = eml_net_now_ms();
	/* A target that refuses (closed, or over its output bound: it is closed) gets no more. */
	if (c->relay != NULL && eml_conn_send(c->relay, c->in, (size_t)r) != EML_OK)
		c->relay = NULL;
	c->relay_left -= (uint32_t)r;
	if (c->relay_left == 0)
		frame_done(c);
	return 0;
}

/* Read what is available; deliver each whole frame, or relay it as it arrives. */
static void on_readable(eml_conn *c)
{
	if (c->draining) {
		drain(c);
		return;
	}
	for (int rounds = 0; rounds < 64 && !c->closed && !c->closing; rounds++) {
		size_t want;
		if (c->relaying) {
			if (relay_some(c))
				return;
			continue;
		}
		if (c->in_len < EML_FRAME_HEADER_LEN) {
			want = EML_FRAME_HEADER_LEN;
		} else {
			uint8_t t;
			uint32_t n;
			int rc = eml_frame_header_parse(c->in, &c->o.limits, &t, &n);
			if (rc != EML_OK) {
				eml_conn_fail(c, rc);
				return;
			}
			if (!c->decided && c->cb.relay_to != NULL) {
				c->decided = 1;
				eml_conn *to = c->cb.relay_to(c, t, n);
				if (to != NULL && !to->closed) {
					if (eml_conn_send(to, c->in, EML_FRAME_HEADER_LEN) !=
					    EML_OK)
						to = NULL;
					c->relay = to;
					c->relay_left = n;
					c->relaying = 1;
					if (n == 0)
						frame_done(c);
					continue;
				}
			}
			want = EML_FRAME_HEADER_LEN + (size_t)n;
		}
		if (c->in_cap < want) {
			/* Grow to exactly what the (checked) header announced. */
			uint8_t *q = eml_realloc(c->in, want < 64 ? 64 : want);
			if (q == NULL) {
				conn_mark_closed(c, EML_E_NOMEM);
				return;
			}
			c->in = q;
			c->in_cap = want < 64 ? 64 : want;
		}
		if (c->in_len < want) {
			ssize_t r = recv(c->fd, c->in + c->in_len, want - c->in_len, 0);
			if (r == 0) {
				conn_mark_closed(c,
				                 c->in_len == 0 ? EML_OK : EML_E_FRAME_TRUNCATED);
				return;
			}
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				conn_mark_closed(c, EML_E_NET_CLOSED);
				return;
			}
			if (c->in_len == 0)
				c->frame_start_ms = eml_net_now_ms();
			c->in_len += (size_t)r;
			c->last_ms = eml_net_now_ms();
			if (c->in_len < want || want == EML_FRAME_HEADER_LEN)
				continue;
		}
		/* A whole frame. */
		uint8_t t = c->in[4];
		uint32_t n = (uint32_t)(want - EML_FRAME_HEADER_LEN);
		frame_done(c);
		if (c->cb.on_frame != NULL)
			c->cb.on_frame(c, t, c->in + EML_FRAME_HEADER_LEN, n, c->in, want);
		/* Do not keep a large payload buffer around between frames. */
		if (c->in_cap > 65536 && !c->closed) {
			eml_free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
}

static void check_timeouts(eml_loop *l)
{
	int64_t now = eml_net_now_ms();
	for (eml_conn *c = l->conns; c != NULL; c = c->next) {
		if (c->closed)
			continue;
		if (c->draining && now > c->drain_until_ms)
			conn_mark_closed(c, EML_OK); /* the linger is over */
		else if (c->o.idle_timeout_ms > 0 && now - c->last_ms > c->o.idle_timeout_ms)
			conn_mark_closed(c, EML_E_NET_TIMEOUT);
		else if (!c->closing && c->o.handshake_timeout_ms > 0 && c->frames_in == 0 &&
		         c->in_len < EML_FRAME_HEADER_LEN &&
		         now - c->added_ms > c->o.handshake_timeout_ms)
			conn_mark_closed(c, EML_E_NET_TIMEOUT); /* silent since it connected */
		else if (!c->closing && c->o.frame_timeout_ms > 0 && c->in_len > 0 &&
		         now - c->frame_start_ms > c->o.frame_timeout_ms)
			conn_mark_closed(c,
			                 EML_E_NET_TIMEOUT); /* a trickle that keeps a slot busy */
	}
}

void eml_loop_stop(eml_loop *l)
{
	l->stop = 1;
}

int eml_loop_run(eml_loop *l, const volatile sig_atomic_t *stop)
{
	struct epoll_event evs[32];
	while (!l->stop && (stop == NULL || !*stop)) {
		int n = epoll_wait(l->ep, evs, 32, 100);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return EML_E_NET_IO;
		}
		for (int i = 0; i < n; i++) {
			int kind = *(int *)evs[i].data.ptr;
			if (kind == K_LISTENER) {
				struct listener *x = evs[i].data.ptr;
				int fd;
				/* Accept some of what is pending; never block here. Bounded per round,
				 * so that under a connection flood the connections already accepted
				 * get their input read (and are no longer evictable) before many
				 * newer ones push them out; the listener stays readable for the rest. */
				for (int k = 0; k < LOOP_ACCEPTS_PER_ROUND &&
				                eml_net_accept(x->fd, 0, &fd) == EML_OK;
				     k++)
					x->fn(l, fd, x->arg);
				continue;
			}
			eml_conn *c = evs[i].data.ptr;
			if (c->closed)
				continue;
			if (evs[i].events & EPOLLOUT)
				on_writable(c);
			if (!c->closed && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				on_readable(c);
			if (!c->closed && c->closing && !c->draining &&
			    (evs[i].events & (EPOLLHUP | EPOLLERR)))
				conn_mark_closed(c, EML_E_NET_CLOSED);
		}
		check_timeouts(l);
		reap(l);
	}
	return EML_OK;
}
