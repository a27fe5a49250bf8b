#include "host/host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/guard.h"
#include "common/log.h"
#include "common/mem.h"
#include "host/store.h"
#include "kms/creds.h"
#include "net/addr.h"
#include "net/loop.h"
#include "net/sock.h"
#include "wire/msg.h"

enum role { R_NEW, R_CLIENT, R_ADMIN, R_ENCLAVE, R_CHANNEL };

struct host {
	const eml_host_config *cfg;
	eml_addr enclave;
	eml_loop *loop;
	eml_store *store;
	int audit_fd;
	uint64_t audit_size;     /* bytes in the live file */
	unsigned audit_next_rot; /* the next rotated file's number */
};

struct hconn {
	struct host *h;
	int role;
	eml_conn *peer; /* client <-> enclave pairing */
};

void eml_host_config_defaults(eml_host_config *c)
{
	memset(c, 0, sizeof(*c));
	c->limits = EML_FRAME_LIMITS_DEFAULT;
	c->max_blob = EML_FRAME_DEFAULT_WEIGHT_MAX;
	c->idle_timeout_ms = 120000;
	c->frame_timeout_ms = 300000; /* 256 MiB at under 1 MiB/s is not a client we serve */
	/* A client's first frame header (hello, upload) follows its connect at once; ten seconds
	 * is generous for any real client and frees a silent connection's slot 12x sooner than
	 * the idle timeout. */
	c->handshake_timeout_ms = 10000;
	c->connect_timeout_ms = 5000;
	c->max_conns = 256;
}

static void on_frame(eml_conn *c, uint8_t type, const uint8_t *p, uint32_t n, const uint8_t *raw,
                     size_t raw_len);
static void on_close(eml_conn *c, int rc);
static eml_conn *relay_to(eml_conn *c, uint8_t type, uint32_t len);
static const eml_conn_cb callbacks = {
    .on_frame = on_frame, .on_close = on_close, .relay_to = relay_to};

/*
 * Input limits per role, enforced on each frame header before its payload is read:
 *  - client-facing (listen) and enclave connections: client messages up to limits.client_max;
 *    UPLOAD up to max_blob (so an oversize upload is refused without reading it);
 *  - the enclave's host channel: only BLOB_FETCH and AUDIT_RECORD are expected, both small.
 * What the host sends (BLOB_DATA) is bounded by the store's own limit.
 */
static eml_conn_opts opts_for(const struct host *h, int role)
{
	eml_conn_opts o = {.limits = h->cfg->limits,
	                   .idle_timeout_ms = h->cfg->idle_timeout_ms,
	                   .frame_timeout_ms = h->cfg->frame_timeout_ms};
	if (h->cfg->max_blob < o.limits.weight_max)
		o.limits.weight_max = (uint32_t)h->cfg->max_blob;
	/* Output to clients and the enclave: relayed client frames and small store replies, so
	 * room for two of the largest client frames. (The protocol has one request outstanding per
	 * session; a peer that does not read is cut off at this bound rather than slowed down.) */
	o.out_max = 2 * ((size_t)o.limits.client_max + EML_FRAME_HEADER_LEN);
	/* Connections we accepted can be silent attackers: they get the handshake timeout and may
	 * be evicted at the cap until they send a whole frame. Our own connections to the enclave
	 * are neither. */
	if (role != R_ENCLAVE) {
		o.handshake_timeout_ms = h->cfg->handshake_timeout_ms;
		o.evictable = 1;
	}
	if (role == R_CHANNEL) {
		o.limits.client_max = EML_WIRE_MAX_AUDIT_RECORD;
		o.limits.weight_max = 0;
		/* Output: one blob in flight, plus small replies. */
		o.out_max = 2 * ((size_t)h->cfg->limits.weight_max + EML_FRAME_HEADER_LEN);
	}
	return o;
}

static struct hconn *hconn_new(struct host *h, int role)
{
	struct hconn *x = eml_calloc(1, sizeof(*x));
	if (x != NULL) {
		x->h = h;
		x->role = role;
	}
	return x;
}

static void on_close(eml_conn *c, int rc)
{
	struct hconn *x = eml_conn_arg(c);
	if (x == NULL)
		return;
	if (rc != EML_OK && rc != EML_E_NET_CLOSED)
		eml_log_debug("connection closed: %s", eml_err_name(rc));
	if (x->peer != NULL) {
		/* Close the other half once what it still has to deliver is out. A client whose
		 * enclave went away (killed, restarted, refused) is told so in a frame it can read,
		 * after whatever the enclave had sent, rather than by a bare EOF. */
		struct hconn *y = eml_conn_arg(x->peer);
		if (y != NULL)
			y->peer = NULL;
		if (x->role == R_ENCLAVE)
			eml_conn_fail(x->peer, EML_E_HOST_UNAVAILABLE);
		else
			eml_conn_close_after_flush(x->peer);
	}
	eml_free(x);
	eml_conn_set_arg(c, NULL);
}

/* ------------------------------------------------------------------ store requests */

static void reply_msg(eml_conn *c, uint8_t type, eml_buf *b)
{
	int rc = eml_buf_error(b);
	if (rc == EML_OK)
		rc = eml_conn_send_frame(c, type, b->p, b->len);
	if (rc != EML_OK)
		eml_conn_fail(c, rc);
}

static void serve_store(struct hconn *x, eml_conn *c, uint8_t type, const uint8_t *p, uint32_t n)
{
	int rc = EML_OK;
	eml_buf b;
	eml_store_entry e, *list = NULL;
	size_t count = 0;
	uint8_t id[EML_WIRE_MODEL_ID_LEN];
	eml_buf_init(&b, 0);
	switch (type) {
	case EML_FT_UPLOAD:
		EML_ENSURE(n <= x->h->cfg->max_blob, EML_E_STORE_TOO_LARGE);
		rc = eml_store_put(x->h->store, p, n, &e);
		if (rc == EML_E_STORE_FULL)
			eml_log_warn("upload refused: %s", eml_err_str(rc));
		EML_GUARD(rc);
		eml_log_info("stored a blob of %u bytes", n);
		EML_GUARD(eml_msg_store_entry_encode(&b, &e));
		reply_msg(c, EML_FT_UPLOAD_OK, &b);
		break;
	case EML_FT_STORE_LIST:
		EML_GUARD(eml_msg_empty_decode(p, n));
		EML_GUARD(eml_store_list(x->h->store, &list, &count));
		EML_GUARD(eml_msg_store_list_encode(&b, list, count));
		reply_msg(c, EML_FT_STORE_LIST_RESULT, &b);
		break;
	case EML_FT_STORE_REMOVE:
		EML_GUARD(eml_msg_model_id_decode(p, n, id));
		EML_GUARD(eml_store_remove(x->h->store, id));
		EML_GUARD(eml_msg_model_id_encode(&b, id));
		reply_msg(c, EML_FT_STORE_REMOVE_OK, &b);
		break;
	default:
		EML_FAIL(EML_E_MSG_UNEXPECTED);
	}
out:
	/* A refused request gets its code back; the connection stays usable unless the frame
	 * itself was out of place. */
	if (rc == EML_E_MSG_UNEXPECTED)
		eml_conn_fail(c, rc);
	else if (rc != EML_OK)
		eml_conn_send_frame(c, EML_FT_ERROR, (uint8_t[]){(uint8_t)(rc >> 8), (uint8_t)rc},
		                    2);
	eml_free(list);
	eml_buf_cleanup(&b);
}

/* ------------------------------------------------------------------ host channel */

/* Rotation (docs/AUDIT.md §4): the live file is renamed to FILE.N (N = 1, 2, ... oldest first),
 * never rewritten, and a new FILE is started; the chain simply continues in it. */
static int audit_rotate(struct host *h)
{
	char to[4096];
	if (fdatasync(h->audit_fd) != 0)
		return EML_E_IO;
	close(h->audit_fd);
	h->audit_fd = -1;
	for (;; h->audit_next_rot++) {
		snprintf(to, sizeof(to), "%s.%u", h->cfg->audit_log, h->audit_next_rot);
		if (access(to, F_OK) != 0)
			break;
	}
	/* link + unlink rather than rename: an existing FILE.N is never replaced. */
	if (link(h->cfg->audit_log, to) != 0 || unlink(h->cfg->audit_log) != 0)
		return EML_E_IO;
	h->audit_next_rot++;
	h->audit_fd =
	    open(h->cfg->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (h->audit_fd < 0)
		return EML_E_IO;
	h->audit_size = 0;
	return EML_OK;
}

static int audit_append(struct host *h, const uint8_t *p, uint32_t n)
{
	uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	if (h->cfg->audit_log == NULL)
		return EML_OK; /* no audit log configured: records are dropped */
	if (h->audit_fd < 0)
		return EML_E_IO; /* a failed rotation: refuse rather than drop silently */
	if (h->cfg->audit_rotate_bytes > 0 && h->audit_size > 0 &&
	    h->audit_size + n + 4 > h->cfg->audit_rotate_bytes) {
		int rc = audit_rotate(h);
		if (rc != EML_OK)
			return rc;
	}
	/* One write per record (O_APPEND keeps it contiguous), then make it durable. */
	uint8_t *rec = eml_alloc((size_t)n + 4);
	if (rec == NULL)
		return EML_E_NOMEM;
	memcpy(rec, len, 4);
	memcpy(rec + 4, p, n);
	ssize_t w = write(h->audit_fd, rec, (size_t)n + 4);
	eml_free(rec);
	if (w > 0)
		h->audit_size += (uint64_t)w;
	if (w != (ssize_t)n + 4 || (!h->cfg->audit_no_fsync && fdatasync(h->audit_fd) != 0))
		return EML_E_IO;
	return EML_OK;
}

static void serve_channel(struct hconn *x, eml_conn *c, uint8_t type, const uint8_t *p, uint32_t n)
{
	int rc = EML_OK;
	uint8_t id[EML_WIRE_MODEL_ID_LEN];
	uint8_t *blob = NULL;
	size_t len = 0;
	switch (type) {
	case EML_FT_BLOB_FETCH:
		EML_GUARD(eml_msg_model_id_decode(p, n, id));
		rc = eml_store_get(x->h->store, id, &blob, &len);
		if (rc == EML_E_STORE_REFUSED)
			/* The file no longer matches its digest (disk fault or tampering): say so
			 * (no names or contents), and answer the enclave with the code. */
			eml_log_warn("a stored blob failed its digest check; refusing to serve it");
		if (rc == EML_E_STORE_NOT_FOUND) {
			rc = eml_conn_send_frame(c, EML_FT_BLOB_NOT_FOUND, id, sizeof(id));
			break;
		}
		EML_GUARD(rc);
		EML_GUARD(eml_conn_send_frame(c, EML_FT_BLOB_DATA, blob, len));
		break;
	case EML_FT_AUDIT_RECORD:
		EML_GUARD(eml_msg_audit_record_check(p, n));
		EML_GUARD(audit_append(x->h, p, n));
		break;
	case EML_FT_KMS_CREDS_FETCH: {
		/* The parent's role credentials for the enclave's KMS client (docs/KMS.md): temporary,
		 * and no secret from this host; KMS releases a data key only encrypted to the attested
		 * enclave's key (Recipient), whatever credentials signed the call. */
		eml_kms_creds *cr = NULL;
		eml_buf b;
		eml_buf_init(&b, EML_KMS_CREDS_MAX_PAYLOAD);
		rc = n == 0 ? EML_OK : EML_E_MSG_MALFORMED;
		if (rc == EML_OK && x->h->cfg->kms_credentials == NULL)
			rc =
			    EML_E_KMS_CREDENTIALS; /* not configured: `eml host --kms-credentials` */
		if (rc == EML_OK)
			rc = (cr = eml_alloc(sizeof(*cr))) != NULL ? EML_OK : EML_E_NOMEM;
		if (rc == EML_OK)
			rc = eml_kms_creds_load(x->h->cfg->kms_credentials, cr);
		if (rc == EML_OK)
			rc = eml_kms_creds_encode(cr, &b);
		if (rc == EML_OK)
			rc = eml_conn_send_frame(c, EML_FT_KMS_CREDS, b.p, b.len);
		eml_free(cr); /* wipes */
		eml_buf_cleanup(&b);
		break;
	}
	default:
		EML_FAIL(EML_E_MSG_UNEXPECTED);
	}
out:
	eml_free(blob);
	if (rc != EML_OK)
		eml_conn_fail(c, rc);
}

/* ------------------------------------------------------------------ client forwarding */

static int pair_with_enclave(struct hconn *x, eml_conn *c)
{
	int rc = EML_OK, fd = -1;
	struct hconn *y = NULL;
	eml_conn *ec = NULL;
	eml_conn_opts o = opts_for(x->h, R_ENCLAVE);
	EML_ENSURE(eml_net_connect(&x->h->enclave, x->h->cfg->connect_timeout_ms, &fd) == EML_OK,
	           EML_E_HOST_UNAVAILABLE);
	y = hconn_new(x->h, R_ENCLAVE);
	EML_ENSURE(y != NULL, EML_E_NOMEM);
	rc = eml_loop_add_conn(x->h->loop, fd, &o, &callbacks, y, &ec);
	fd = -1; /* adopted (or closed) by the loop */
	EML_GUARD(rc);
	y->peer = c;
	x->peer = ec;
	y = NULL;
out:
	eml_free(y);
	return rc;
}

static void on_frame(eml_conn *c, uint8_t type, const uint8_t *p, uint32_t n, const uint8_t *raw,
                     size_t raw_len)
{
	struct hconn *x = eml_conn_arg(c);
	int rc;
	if (x == NULL)
		return;
	if (x->role == R_NEW) {
		if (eml_frame_type_is_store_request(type)) {
			x->role = R_ADMIN;
		} else if (type == EML_FT_CLIENT_HELLO || type == EML_FT_REQUEST) {
			rc = pair_with_enclave(x, c);
			if (rc != EML_OK) {
				eml_conn_fail(c, rc);
				return;
			}
			x->role = R_CLIENT;
		} else {
			eml_conn_fail(c, EML_E_MSG_UNEXPECTED);
			return;
		}
	}
	switch (x->role) {
	case R_ADMIN:
		if (!eml_frame_type_is_store_request(type))
			eml_conn_fail(c, EML_E_MSG_UNEXPECTED);
		else
			serve_store(x, c, type, p, n);
		break;
	case R_CLIENT:
	case R_ENCLAVE:
		/* Forward the frame exactly as received; never look inside the payload. */
		if (!eml_frame_type_is_client(type)) {
			eml_conn_fail(c, EML_E_MSG_UNEXPECTED);
			break;
		}
		if (x->peer == NULL || eml_conn_send(x->peer, raw, raw_len) != EML_OK)
			eml_conn_fail(c, EML_E_HOST_UNAVAILABLE);
		break;
	case R_CHANNEL:
		serve_channel(x, c, type, p, n);
		break;
	}
}

/* A paired client's REQUEST goes on to the enclave as it arrives (cut-through: a large input is
 * not first stored whole here, then sent; the host holds at most a piece of it). Everything
 * else is delivered whole: the hellos, store and channel frames, and the enclave's responses (a
 * response cut short could not be followed by the ERROR frame that tells the client why; and
 * relaying them measured no faster on loopback). */
static eml_conn *relay_to(eml_conn *c, uint8_t type, uint32_t len)
{
	struct hconn *x = eml_conn_arg(c);
	(void)len;
	if (x == NULL || x->role != R_CLIENT || type != EML_FT_REQUEST)
		return NULL;
	return x->peer;
}

static void accept_common(eml_loop *l, int fd, struct host *h, int role)
{
	eml_conn_opts o = opts_for(h, role);
	struct hconn *x = hconn_new(h, role);
	if (x == NULL) {
		close(fd);
		return;
	}
	if (eml_loop_add_conn(l, fd, &o, &callbacks, x, NULL) != EML_OK)
		eml_free(x); /* fd closed by the loop */
}

static void accept_listen(eml_loop *l, int fd, void *arg)
{
	accept_common(l, fd, arg, R_NEW);
}

static void accept_channel(eml_loop *l, int fd, void *arg)
{
	accept_common(l, fd, arg, R_CHANNEL);
}

int eml_host_run(const eml_host_config *cfg, const volatile sig_atomic_t *stop)
{
	int rc = EML_OK, lfd = -1, cfd = -1;
	struct host h;
	eml_addr la, ca;
	memset(&h, 0, sizeof(h));
	h.cfg = cfg;
	h.audit_fd = -1;
	EML_ENSURE(cfg->listen && cfg->enclave && cfg->enclave_channel && cfg->store_dir,
	           EML_E_ARG);
	EML_GUARD(eml_addr_parse(cfg->listen, &la));
	EML_GUARD(eml_addr_parse(cfg->enclave, &h.enclave));
	EML_GUARD(eml_addr_parse(cfg->enclave_channel, &ca));
	EML_GUARD(eml_store_open(cfg->store_dir,
	                         cfg->max_blob < cfg->limits.weight_max ? cfg->max_blob
	                                                                : cfg->limits.weight_max,
	                         &h.store));
	eml_store_set_quota(h.store, cfg->store_max_bytes);
	if (cfg->audit_log != NULL) {
		h.audit_fd = open(cfg->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		EML_ENSURE(h.audit_fd >= 0, errno == EACCES ? EML_E_PERMISSION : EML_E_IO);
		struct stat ast;
		EML_ENSURE(fstat(h.audit_fd, &ast) == 0, EML_E_IO);
		h.audit_size = (uint64_t)ast.st_size;
		h.audit_next_rot = 1;
	}
	EML_GUARD(eml_loop_new(cfg->max_conns, &h.loop));
	EML_GUARD(eml_net_listen(&la, &lfd));
	EML_GUARD(eml_loop_add_listener(h.loop, lfd, accept_listen, &h));
	lfd = -1;
	EML_GUARD(eml_net_listen(&ca, &cfd));
	EML_GUARD(eml_loop_add_listener(h.loop, cfd, accept_channel, &h));
	cfd = -1;
	eml_log_info("host ready");
	EML_GUARD(eml_loop_run(h.loop, stop));
out:
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	eml_loop_free(h.loop);
	eml_store_close(h.store);
	if (h.audit_fd >= 0)
		close(h.audit_fd);
	/* Unix socket files are ours to remove. */
	if (rc == EML_OK) {
		if (la.kind == EML_ADDR_UNIX && la.text[5] != '@')
			unlink(la.text + 5);
		if (ca.kind == EML_ADDR_UNIX && ca.text[5] != '@')
			unlink(ca.text + 5);
	}
	return rc;
}
