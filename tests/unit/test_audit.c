/*
 * Audit logs and receipts on real processes (docs/AUDIT.md): tampering with a real log (one byte
 * changed in any record, a record deleted, duplicated, two swapped, the tail cut, records spliced
 * from another enclave boot) is detected and named; a host killed with SIGKILL during a flood
 * leaves a log that verifies up to its last complete record; receipts verify, and a changed
 * hash, another key or other input/output files are refused.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"
#include "crypto/ed25519.h"
#include "e2e.h"
#include "gen_onnx.h"
#include "topo/topo.h"
#include "eml/client.h"
#include "prop.h"
#include "tensor/tensor_io.h"

typedef struct span {
	size_t off, len; /* framed record: off of the length prefix, 4 + record length */
} span;

static size_t spans_of(const uint8_t *p, size_t n, span *s, size_t cap)
{
	size_t k = 0, o = 0;
	while (o + 4 <= n && k < cap) {
		uint32_t l = ((uint32_t)p[o] << 24) | ((uint32_t)p[o + 1] << 16) |
		             ((uint32_t)p[o + 2] << 8) | p[o + 3];
		if (l > n - o - 4)
			break;
		s[k++] = (span){o, 4 + (size_t)l};
		o += 4 + l;
	}
	return k;
}

/* A random model, decomposed, with random inputs (no plaintext window sets: not needed here, and
 * costly under ASan). */
typedef struct lcase {
	uint8_t *tkey, *blob;
	size_t tkey_len, blob_len;
	eml_gen_info info;
	float *data[4];
	eml_client_tensor in[4];
} lcase;

static int lcase_new(eml_rng *rng, lcase *mc)
{
	memset(mc, 0, sizeof(*mc));
	eml_gen_opts go = {.max_layers = 2};
	eml_model *m;
	if (eml_gen_model_ir(rng, &go, &m, &mc->info) != EML_OK)
		return -1;
	eml_decompose_opts d = {0};
	int rc = eml_topo_decompose(m, &d, &mc->tkey, &mc->tkey_len, &mc->blob, &mc->blob_len);
	eml_model_free(m);
	if (rc != EML_OK)
		return -1;
	for (uint32_t i = 0; i < mc->info.n_inputs; i++) {
		const eml_gen_input *gi = &mc->info.inputs[i];
		uint64_t n = 1;
		for (uint32_t k = 0; k < gi->rank; k++)
			n *= (uint64_t)gi->dims[k];
		mc->data[i] = eml_alloc(n * 4 + 4);
		for (uint64_t k = 0; k < n; k++)
			mc->data[i][k] = eml_rng_normal(rng);
		mc->in[i] = (eml_client_tensor){
		    .dtype = gi->dtype, .rank = gi->rank, .data = mc->data[i], .bytes = n * 4};
		memcpy(mc->in[i].dims, gi->dims, sizeof(gi->dims));
	}
	return 0;
}

static void lcase_free(lcase *mc)
{
	eml_free(mc->tkey);
	eml_free(mc->blob);
	for (int i = 0; i < 4; i++)
		eml_free(mc->data[i]);
}

static int ev_of(const uint8_t *log, span sp)
{
	return log[sp.off + 4 + 5]; /* magic, version, event */
}

static int one_infer(eml_e2e *e, lcase *c, uint8_t **receipt, size_t *rlen)
{
	eml_client *cl = NULL;
	eml_client_result *r = NULL;
	eml_client_opts co = {
	    .host = e->client_addr, .policy_path = e->policy, .timeout_ms = 20000};
	int rc = eml_client_connect(&co, &cl);
	if (rc == EML_OK)
		rc = eml_client_infer(cl, c->tkey, c->tkey_len, c->in, c->info.n_inputs, &r);
	if (rc == EML_OK && receipt != NULL) {
		const uint8_t *rb = eml_client_result_receipt(r, rlen);
		*receipt = rb != NULL ? eml_memdup(rb, *rlen) : NULL;
	}
	eml_client_result_free(r);
	eml_client_free(cl);
	return rc;
}

static void wait_records(const char *path, size_t want)
{
	for (int i = 0; i < 500; i++) {
		uint8_t *p = NULL;
		size_t n = 0;
		span s[256];
		size_t k = 0;
		if (eml_file_read(path, 1 << 26, &p, &n) == EML_OK)
			k = spans_of(p, n, s, 256);
		eml_free(p);
		if (k >= want)
			return;
		usleep(10000);
	}
}

static void stop_enclave(eml_e2e *e)
{
	kill(e->enclave_pid, SIGTERM);
	waitpid(e->enclave_pid, NULL, 0);
	e->enclave_pid = 0;
}

/* Fixture: a real log of two boots (requests in each, stop records), receipts of each boot. */
static eml_e2e E;
static eml_policy *POL;
static uint8_t *LOG1, *LOG2, *RC1, *RC2; /* boot 1 alone, boot 1 + boot 2 */
static size_t LOG1_LEN, LOG2_LEN, RC1_LEN, RC2_LEN;
static lcase CASE;

static void build_fixture(void)
{
	eml_e2e_opts o = {.audit = 1};
	eml_rng rng;
	eml_rng_seed(&rng, eml_prop_base_seed());
	cr_assert_eq(eml_e2e_start(&E, &o), 0, "start");
	cr_assert_eq(eml_policy_load_file(E.policy, &POL), EML_OK);
	cr_assert_eq(lcase_new(&rng, &CASE), 0);
	cr_assert_eq(eml_host_upload(E.client_addr, CASE.blob, CASE.blob_len, 20000, NULL), EML_OK);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(one_infer(&E, &CASE, i == 0 ? &RC1 : NULL, &RC1_LEN), EML_OK);
	stop_enclave(&E);
	wait_records(E.audit_log, 1 + 3 * 7 + 1);
	cr_assert_eq(eml_file_read(E.audit_log, 1 << 26, &LOG1, &LOG1_LEN), EML_OK);
	cr_assert_eq(eml_e2e_restart_enclave(&E, &o), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(one_infer(&E, &CASE, i == 0 ? &RC2 : NULL, &RC2_LEN), EML_OK);
	stop_enclave(&E);
	wait_records(E.audit_log, 2 * (1 + 1) + 5 * 7);
	cr_assert_eq(eml_file_read(E.audit_log, 1 << 26, &LOG2, &LOG2_LEN), EML_OK);
}

static void fixture_setup(void)
{
	build_fixture();
}

static void fixture_teardown(void)
{
	eml_e2e_stop(&E);
	eml_policy_free(POL);
	eml_free(LOG1);
	eml_free(LOG2);
	eml_free(RC1);
	eml_free(RC2);
	lcase_free(&CASE);
}

static int verify(const uint8_t *p, size_t n, int require_stop, eml_audit_report *rep)
{
	eml_audit_verify_opts vo = {.policy = POL, .require_stop = require_stop};
	return eml_audit_verify_mem(p, n, &vo, rep);
}

/* Rebuild a log from spans in the given order. */
static uint8_t *assemble(const uint8_t *src, const span *s, const size_t *order, size_t k,
                         size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; i < k; i++)
		n += s[order[i]].len;
	uint8_t *p = eml_alloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < k; i++) {
		memcpy(p + o, src + s[order[i]].off, s[order[i]].len);
		o += s[order[i]].len;
	}
	*len = n;
	return p;
}

Test(audit, real_log_verifies_and_every_tampering_is_named, .init = fixture_setup,
     .fini = fixture_teardown, .timeout = 120)
{
	eml_audit_report rep;
	span s[256];
	size_t k = spans_of(LOG1, LOG1_LEN, s, 256), order[256], n;
	cr_assert_eq(k, 1 + 3 * 7 + 1, "boot 1 has %zu records", k);
	cr_assert_eq(verify(LOG1, LOG1_LEN, 1, &rep), EML_OK, "%s", eml_err_name(rep.rc));
	cr_assert(rep.closed && rep.boots == 1 && rep.last_good_seq == k - 1);
	cr_assert_eq(verify(LOG2, LOG2_LEN, 1, &rep), EML_OK, "%s", eml_err_name(rep.rc));
	cr_assert_eq(rep.boots, 2);

	/* One byte changed, in every record (a random byte each), detected at that record. */
	eml_rng rng;
	eml_rng_seed(&rng, eml_prop_base_seed() ^ 0xa0d17);
	for (size_t i = 0; i < k; i++) {
		uint8_t *t = eml_memdup(LOG1, LOG1_LEN);
		size_t at = s[i].off + 4 + eml_rng_below(&rng, s[i].len - 4);
		t[at] ^= (uint8_t)(1u << eml_rng_below(&rng, 8));
		int rc = verify(t, LOG1_LEN, 1, &rep);
		/* Signed records: the signature; unsigned stages: the chain up to the next signed
		 * record, or the sequence check (a changed seq), or the key check (a changed pk). */
		cr_assert(rc == EML_E_AUDIT_SIGNATURE || rc == EML_E_AUDIT_MALFORMED ||
		              (i == 0 && rc == EML_E_AUDIT_ATTEST) ||
		              (!eml_audit_event_signed(ev_of(LOG1, s[i])) &&
		               (rc == EML_E_AUDIT_REMOVED || rc == EML_E_AUDIT_REORDERED ||
		                rc == EML_E_AUDIT_FOREIGN)),
		          "record %zu byte %zu: %s", i, at - s[i].off, eml_err_name(rc));
		cr_assert_eq(rep.bad_index, i, "record %zu byte %zu: %s at %llu", i, at - s[i].off,
		             eml_err_name(rc), (unsigned long long)rep.bad_index);
		eml_free(t);
	}
	/* The length prefix changed: malformed or torn, never accepted. */
	{
		uint8_t *t = eml_memdup(LOG1, LOG1_LEN);
		t[s[5].off + 3] ^= 0x01;
		int rc = verify(t, LOG1_LEN, 1, &rep);
		cr_assert(rc == EML_E_AUDIT_MALFORMED || rc == EML_E_AUDIT_TORN, "%s",
		          eml_err_name(rc));
		eml_free(t);
	}
	/* Deleted (first, middle, last). */
	for (size_t del = 0; del < k; del += 1) {
		size_t m = 0;
		for (size_t i = 0; i < k; i++)
			if (i != del)
				order[m++] = i;
		uint8_t *t = assemble(LOG1, s, order, m, &n);
		int rc = verify(t, n, 1, &rep);
		int want = del == 0 ? EML_E_AUDIT_START
		                    : (del == k - 1 ? EML_E_AUDIT_OPEN : EML_E_AUDIT_REMOVED);
		cr_assert_eq(rc, want, "deleted %zu: %s", del, eml_err_name(rc));
		eml_free(t);
	}
	/* Duplicated, and two swapped. */
	for (size_t d = 1; d + 1 < k; d++) {
		size_t m = 0;
		for (size_t i = 0; i < k; i++) {
			order[m++] = i;
			if (i == d)
				order[m++] = i;
		}
		uint8_t *t = assemble(LOG1, s, order, m, &n);
		cr_assert_eq(verify(t, n, 1, &rep), EML_E_AUDIT_REORDERED, "duplicate %zu", d);
		cr_assert_eq(rep.bad_index, d + 1);
		eml_free(t);
		for (size_t i = 0; i < k; i++)
			order[i] = i;
		order[d] = d + 1;
		order[d + 1] = d;
		t = assemble(LOG1, s, order, k, &n);
		cr_assert_eq(verify(t, n, 1, &rep), EML_E_AUDIT_REORDERED, "swap %zu: %s", d,
		             eml_err_name(rep.rc));
		cr_assert_eq(rep.bad_index, d);
		eml_free(t);
	}
	/* Tail cut inside a record (torn) and at a record boundary (no stop record). */
	cr_assert_eq(verify(LOG1, s[k - 1].off + 9, 1, &rep), EML_E_AUDIT_TORN);
	cr_assert(rep.last_good_seq == k - 2);
	cr_assert_eq(verify(LOG1, s[k - 2].off, 1, &rep), EML_E_AUDIT_OPEN);
	cr_assert_eq(verify(LOG1, s[k - 2].off, 0, &rep), EML_OK, "without --require-stop");
	cr_assert(!rep.closed && rep.last_good_seq == k - 3);
	/* Cut after an unsigned stage: those records are reported as not yet covered. */
	cr_assert_eq(verify(LOG1, s[k - 3].off, 0, &rep), EML_OK);
	cr_assert(rep.unsigned_tail == 4 && rep.last_good_seq == k - 8, "tail %llu last %llu",
	          (unsigned long long)rep.unsigned_tail, (unsigned long long)rep.last_good_seq);
	/* Records spliced from another boot (validly signed by the other key). */
	span s2[256];
	size_t k2 = spans_of(LOG2, LOG2_LEN, s2, 256);
	cr_assert_gt(k2, k + 3);
	{
		eml_buf b;
		eml_buf_init(&b, 0);
		eml_buf_put(&b, LOG1, s[5].off);
		eml_buf_put(&b, LOG2 + s2[k + 2].off, s2[k + 2].len); /* boot 2's 3rd record */
		eml_buf_put(&b, LOG1 + s[5].off, LOG1_LEN - s[5].off);
		cr_assert_eq(verify(b.p, b.len, 1, &rep), EML_E_AUDIT_FOREIGN, "%s",
		             eml_err_name(rep.rc));
		cr_assert_eq(rep.bad_index, 5);
		eml_buf_cleanup(&b);
	}
	/* The CLI names the problem and exits 4. */
	{
		char path[700], out[4096];
		snprintf(path, sizeof(path), "%s/swapped.log", E.dir);
		for (size_t i = 0; i < k; i++)
			order[i] = i;
		order[3] = 4;
		order[4] = 3;
		uint8_t *t = assemble(LOG1, s, order, k, &n);
		cr_assert_eq(eml_file_write_atomic(path, t, n, 0600), EML_OK);
		eml_free(t);
		int st = eml_e2e_run(out, sizeof(out), 20000, "audit", "verify", path, "--policy",
		                     E.policy, NULL);
		cr_assert_eq(st, 4, "%s", out);
		cr_assert(strstr(out, "AUDIT_REORDERED") != NULL && strstr(out, "record 3") &&
		              strstr(out, "last good sequence number: 1"),
		          "%s", out);
		st = eml_e2e_run(out, sizeof(out), 20000, "audit", "verify", E.audit_log,
		                 "--policy", E.policy, "--json", "--require-stop", NULL);
		cr_assert_eq(st, 0, "%s", out);
		cr_assert(strstr(out, "\"ok\": true") && strstr(out, "\"boots\": 2"), "%s", out);
	}
}

Test(audit, receipts_verify_and_refuse_changes, .init = fixture_setup, .fini = fixture_teardown,
     .timeout = 120)
{
	eml_receipt r;
	cr_assert_eq(eml_receipt_verify(RC1, RC1_LEN, POL, NULL, NULL, &r), EML_OK);
	cr_assert_eq(eml_receipt_verify(RC2, RC2_LEN, POL, NULL, NULL, NULL), EML_OK);
	/* The receipt is the log's RESPONSE record byte for byte (one signature for both), at the
	 * sequence number it names, and that record is a response. */
	{
		span s[256];
		size_t k = spans_of(LOG1, LOG1_LEN, s, 256);
		cr_assert_lt(r.audit_seq, k);
		const span *sp = &s[r.audit_seq];
		cr_assert_eq(ev_of(LOG1, *sp), EML_AEV_RESPONSE);
		cr_assert_eq(sp->len - 4, r.record_len);
		cr_assert(memcmp(LOG1 + sp->off + 4, r.record, r.record_len) == 0,
		          "receipt and log record differ");
		cr_assert_eq(r.request_seq, 0, "first request of its session");
		/* Any other record of the same boot, wrapped as a receipt, is refused: only
		 * a successful request's RESPONSE is a receipt. */
		/* (Session records interleave across connections: pick them by event.) */
		const int others[] = {EML_AEV_START, EML_AEV_ATTEST, EML_AEV_WIPE,
		                      EML_AEV_SESSION_CLOSE, EML_AEV_STOP};
		for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
			const span *o = NULL;
			for (size_t q = 0; q < k && o == NULL; q++)
				if (ev_of(LOG1, s[q]) == others[i])
					o = &s[q];
			cr_assert(o != NULL, "no record of event %d", others[i]);
			eml_buf x;
			eml_buf_init(&x, 0);
			cr_assert_eq(
			    eml_receipt_wrap(LOG1 + o->off + 4, o->len - 4, r.doc, r.doc_len, &x),
			    EML_OK);
			cr_assert_eq(eml_receipt_verify(x.p, x.len, POL, NULL, NULL, NULL),
			             EML_E_RECEIPT_MALFORMED, "event %d", others[i]);
			eml_buf_cleanup(&x);
		}
	}
	/* Any byte of the signed part changed (header, record length, the whole record). */
	for (size_t i = 0; i < 9 + (size_t)r.record_len; i += 5) {
		uint8_t *t = eml_memdup(RC1, RC1_LEN);
		t[i] ^= 0x20;
		int rc = eml_receipt_verify(t, RC1_LEN, POL, NULL, NULL, NULL);
		cr_assert(rc == EML_E_RECEIPT_SIGNATURE || rc == EML_E_RECEIPT_MALFORMED ||
		              rc == EML_E_RECEIPT_ATTEST,
		          "byte %zu: %s", i, eml_err_name(rc));
		eml_free(t);
	}
	/* Boot 2's receipt carrying boot 1's document: the hash it signed no longer matches. */
	{
		eml_receipt a, b;
		cr_assert_eq(eml_receipt_decode(RC1, RC1_LEN, &a), EML_OK);
		cr_assert_eq(eml_receipt_decode(RC2, RC2_LEN, &b), EML_OK);
		cr_assert(memcmp(a.pk, b.pk, 32) != 0, "two boots, one key");
		size_t body = RC2_LEN - 4 - b.doc_len;
		eml_buf x;
		eml_buf_init(&x, 0);
		eml_buf_put(&x, RC2, body);
		eml_buf_u32(&x, a.doc_len);
		eml_buf_put(&x, a.doc, a.doc_len);
		cr_assert_eq(eml_receipt_verify(x.p, x.len, POL, NULL, NULL, NULL),
		             EML_E_RECEIPT_ATTEST);
		eml_buf_cleanup(&x);
	}
	/* Signed by another key (valid signature) with the real document: key not attested. */
	{
		eml_receipt a;
		uint8_t seed[32];
		eml_buf x;
		eml_buf_init(&x, 0);
		cr_assert_eq(eml_receipt_decode(RC1, RC1_LEN, &a), EML_OK);
		cr_assert_eq(eml_ed25519_keypair_generate(seed, a.pk), EML_OK);
		cr_assert_eq(eml_receipt_sign(&a, seed, &x), EML_OK);
		cr_assert_eq(eml_receipt_verify(x.p, x.len, POL, NULL, NULL, NULL),
		             EML_E_RECEIPT_ATTEST);
		eml_buf_cleanup(&x);
	}
	/* The CLI with the real and with other input/output files. */
	{
		char rp[700], in[700], other[700], out[4096];
		snprintf(rp, sizeof(rp), "%s/r.bin", E.dir);
		snprintf(in, sizeof(in), "%s/in0.npy", E.dir);
		snprintf(other, sizeof(other), "%s/other.npy", E.dir);
		cr_assert_eq(eml_file_write_atomic(rp, RC1, RC1_LEN, 0600), EML_OK);
		cr_assert_eq(CASE.info.n_inputs, 1, "the fixture model has one input");
		eml_tensor_file tf = {.dtype = CASE.in[0].dtype,
		                      .rank = CASE.in[0].rank,
		                      .data = (uint8_t *)(uintptr_t)CASE.in[0].data,
		                      .bytes = CASE.in[0].bytes};
		memcpy(tf.dims, CASE.in[0].dims, sizeof(tf.dims));
		cr_assert_eq(eml_tensor_write_file(in, &tf), EML_OK);
		float *d = eml_memdup(CASE.in[0].data, (size_t)CASE.in[0].bytes);
		d[0] += 1.0f;
		tf.data = (uint8_t *)d;
		cr_assert_eq(eml_tensor_write_file(other, &tf), EML_OK);
		eml_free(d);
		int st = eml_e2e_run(out, sizeof(out), 20000, "receipt", "verify", rp, "--policy",
		                     E.policy, "--input", in, NULL);
		cr_assert_eq(st, 0, "%s", out);
		cr_assert(strstr(out, "inputs match") != NULL, "%s", out);
		st = eml_e2e_run(out, sizeof(out), 20000, "receipt", "verify", rp, "--policy",
		                 E.policy, "--input", other, NULL);
		cr_assert_eq(st, 4, "%s", out);
		cr_assert(strstr(out, "RECEIPT_INPUT") != NULL, "%s", out);
		st = eml_e2e_run(out, sizeof(out), 20000, "receipt", "verify", rp, "--policy",
		                 E.policy, "--output", in, NULL);
		cr_assert_eq(st, 4, "%s", out);
		cr_assert(strstr(out, "RECEIPT_OUTPUT") != NULL, "%s", out);
	}
}

/* kill -9 of the host during a flood: the log verifies up to its last complete record. */
Test(audit, host_killed_mid_flood_leaves_a_verifiable_log, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {.audit = 1};
	eml_rng rng;
	lcase c;
	eml_policy *pol = NULL;
	eml_rng_seed(&rng, eml_prop_base_seed() + 7);
	cr_assert_eq(eml_e2e_start(&e, &o), 0);
	cr_assert_eq(eml_policy_load_file(e.policy, &pol), EML_OK);
	cr_assert_eq(lcase_new(&rng, &c), 0);
	cr_assert_eq(eml_host_upload(e.client_addr, c.blob, c.blob_len, 20000, NULL), EML_OK);
	pid_t flood = fork();
	if (flood == 0) {
		for (int i = 0; i < 200; i++)
			(void)one_infer(&e, &c, NULL, NULL);
		_exit(0);
	}
	usleep(400 * 1000);
	kill(e.host_pid, SIGKILL);
	waitpid(e.host_pid, NULL, 0);
	e.host_pid = 0;
	kill(flood, SIGKILL);
	waitpid(flood, NULL, 0);
	uint8_t *p = NULL;
	size_t n = 0;
	cr_assert_eq(eml_file_read(e.audit_log, 1 << 26, &p, &n), EML_OK);
	span s[4096];
	size_t k = spans_of(p, n, s, 4096);
	cr_assert_gt(k, 8, "the flood wrote only %zu records", k);
	size_t complete = k > 0 ? s[k - 1].off + s[k - 1].len : 0;
	eml_audit_report rep;
	eml_audit_verify_opts vo = {.policy = pol};
	int rc = eml_audit_verify_mem(p, n, &vo, &rep);
	/* A kill between two writes leaves whole records; inside one, a torn tail. */
	if (complete == n) {
		cr_assert_eq(rc, EML_OK, "%s", eml_err_name(rc));
	} else {
		cr_assert_eq(rc, EML_E_AUDIT_TORN, "%s", eml_err_name(rc));
	}
	cr_assert_eq(rep.good + rep.unsigned_tail, k);
	cr_assert_lt(rep.unsigned_tail, 5);
	cr_assert_eq(rep.last_good_seq, k - 1 - rep.unsigned_tail);
	uint64_t tail = rep.unsigned_tail;
	/* A crash mid-write (power loss: only part of the last write reached the disk). */
	uint8_t *t = eml_alloc(complete + 40);
	memcpy(t, p, complete);
	memcpy(t + complete, p + s[k - 1].off, 40);
	cr_assert_eq(eml_audit_verify_mem(t, complete + 40, &vo, &rep), EML_E_AUDIT_TORN);
	cr_assert_eq(rep.good + tail, k);
	cr_assert_eq(rep.last_good_seq, k - 1 - tail);
	cr_assert_eq(rep.bad_offset, complete);
	eml_free(t);
	eml_free(p);
	eml_policy_free(pol);
	lcase_free(&c);
	eml_e2e_stop(&e);
}

/* Rotation by size: the chain continues across FILE.1, FILE.2, ..., FILE. */
Test(audit, rotated_files_verify_as_one_chain, .timeout = 120)
{
	eml_e2e e;
	eml_e2e_opts o = {.audit = 1, .audit_rotate_bytes = "1500"};
	eml_rng rng;
	lcase c;
	char out[4096], f1[700], f3[700];
	eml_rng_seed(&rng, eml_prop_base_seed() + 9);
	cr_assert_eq(eml_e2e_start(&e, &o), 0);
	cr_assert_eq(lcase_new(&rng, &c), 0);
	cr_assert_eq(eml_host_upload(e.client_addr, c.blob, c.blob_len, 20000, NULL), EML_OK);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(one_infer(&e, &c, NULL, NULL), EML_OK);
	stop_enclave(&e);
	snprintf(f1, sizeof(f1), "%s.1", e.audit_log);
	snprintf(f3, sizeof(f3), "%s.3", e.audit_log);
	for (int i = 0; i < 300 && access(f3, F_OK) != 0; i++)
		usleep(10000);
	usleep(100000);
	cr_assert_eq(access(f3, F_OK), 0, "no rotation");
	/* Every rotated file, oldest first, then the live one. */
	char names[64][720];
	char *argv[80];
	int na = 0, nf = 0;
	argv[na++] = "audit";
	argv[na++] = "verify";
	for (int i = 1; i < 64; i++) {
		snprintf(names[nf], sizeof(names[nf]), "%s.%d", e.audit_log, i);
		if (access(names[nf], F_OK) != 0)
			break;
		argv[na++] = names[nf++];
	}
	cr_assert_geq(nf, 3);
	argv[na++] = e.audit_log;
	argv[na++] = "--policy";
	argv[na++] = e.policy;
	argv[na++] = "--require-stop";
	argv[na] = NULL;
	int st;
	{
		/* eml_e2e_run is variadic: spawn through a small fixed arity wrapper. */
		pid_t pid = fork();
		if (pid == 0) {
			char *full[82];
			full[0] = "eml";
			for (int i = 0; i <= na; i++)
				full[i + 1] = argv[i];
			int dn = open("/dev/null", 1);
			dup2(dn, 1);
			execv(eml_test_bin(), full);
			_exit(127);
		}
		int ws = 0;
		waitpid(pid, &ws, 0);
		st = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
	}
	cr_assert_eq(st, 0, "rotated log did not verify (%d files)", nf);
	/* A rotated file left out: records removed. */
	st = eml_e2e_run(out, sizeof(out), 20000, "audit", "verify", f1, f3, e.audit_log,
	                 "--policy", e.policy, NULL);
	cr_assert_eq(st, 4, "%s", out);
	cr_assert(strstr(out, "AUDIT_REMOVED") != NULL, "%s", out);
	lcase_free(&c);
	eml_e2e_stop(&e);
}
