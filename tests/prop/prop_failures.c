/*
 * Properties 11 and 12 through real processes: random failures at every stage (bad policy, wrong
 * PCR, missing blob, corrupted blob, wrong topology for the blob, truncated and garbage frames,
 * a client vanishing mid-request, oversized or mis-shaped inputs). Each must give a clear error
 * on the right side, leave both daemons serving, and no output, log line or error text may
 * contain a distinctive window of the plaintext inputs, topology key or weights.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/host_client.h"
#include "common/file.h"
#include "common/mem.h"
#include "e2e.h"
#include "eml/client.h"
#include "e2e_case.h"
#include "gen_onnx.h"
#include "net/addr.h"
#include "net/sock.h"
#include "prop.h"
#include "topo/topo.h"
#include "wire/msg.h"
#include "wire/session.h"

enum failure {
	F_BAD_POLICY,     /* a policy pinned to another PCR0 */
	F_MISSING_BLOB,   /* the blob was never uploaded */
	F_CORRUPT_BLOB,   /* a byte of the stored blob flipped */
	F_WRONG_TOPOLOGY, /* another model's blob under this model's id */
	F_GARBAGE_FRAME,  /* random bytes after the hello */
	F_TRUNCATED,      /* half a request frame, then the client vanishes */
	F_BAD_INPUT,      /* an input of the wrong shape */
	F_HUGE_INPUT,     /* an input announcing more elements than any model accepts */
	F_COUNT,
};

static int infer(eml_e2e *e, const char *policy, eml_case *mc, eml_client_tensor *in)
{
	eml_client *c = NULL;
	eml_client_result *r = NULL;
	eml_client_opts co = {.host = e->client_addr, .policy_path = policy, .timeout_ms = 20000};
	int rc = eml_client_connect(&co, &c);
	if (rc == EML_OK)
		rc = eml_client_infer(c, mc->tkey, mc->tkey_len, in, mc->info.n_inputs, &r);
	eml_client_result_free(r);
	eml_client_free(c);
	return rc;
}

/* Raw session up to the server hello, for frame-level failures. */
static int raw_hello(eml_e2e *e, int *fd)
{
	eml_addr a;
	eml_client_session *s;
	eml_buf h;
	uint8_t type, *p = NULL;
	uint32_t n;
	eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;
	eml_buf_init(&h, 0);
	if (eml_addr_parse(e->client_addr, &a) != EML_OK || eml_net_connect(&a, 5000, fd) != EML_OK)
		return -1;
	eml_client_session_new(&s);
	eml_client_session_hello(s, &h);
	int rc = eml_net_write_all(*fd, h.p, h.len, eml_net_now_ms() + 5000);
	if (rc == EML_OK)
		rc = eml_net_recv_frame(*fd, &lim, 10000, &type, &p, &n);
	eml_free(p);
	eml_buf_cleanup(&h);
	eml_client_session_free(s);
	return rc == EML_OK && type == EML_FT_SERVER_HELLO ? 0 : -1;
}

static int alive(pid_t pid)
{
	return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0 && kill(pid, 0) == 0;
}

/* Inject one failure; returns the code the client saw (0 when the failure is frame-level and
 * the client side only sees the connection close). */
static int inject(eml_rng *rng, eml_e2e *e, eml_case *mc, int f, char *bad_policy)
{
	switch (f) {
	case F_BAD_POLICY: {
		uint8_t *p;
		size_t n;
		PROP_ASSERT(eml_file_read(e->policy, 1 << 20, &p, &n) == EML_OK, "policy");
		/* Flip one hex digit of the pinned PCR0. */
		char *pcr = strstr((char *)p, "\"0\": \"");
		PROP_ASSERT(pcr != NULL, "policy without PCR0");
		char *digit = &pcr[6 + eml_rng_below(rng, 96)];
		*digit = *digit == '0' ? '1' : '0';
		PROP_ASSERT(eml_file_write_atomic(bad_policy, p, n, 0600) == EML_OK, "write");
		eml_free(p);
		PROP_ASSERT(eml_host_upload(e->client_addr, mc->blob, mc->blob_len, 20000, NULL) ==
		                EML_OK,
		            "upload");
		return infer(e, bad_policy, mc, mc->in);
	}
	case F_MISSING_BLOB:
		return infer(e, e->policy, mc, mc->in);
	case F_CORRUPT_BLOB:
	case F_WRONG_TOPOLOGY: {
		uint8_t *b = eml_memdup(mc->blob, mc->blob_len);
		size_t n = mc->blob_len;
		if (f == F_CORRUPT_BLOB) {
			/* Past the public header (64 bytes) so the host still accepts it. */
			b[64 + eml_rng_below(rng, n - 64)] ^=
			    (uint8_t)(1u << eml_rng_below(rng, 8));
		} else {
			eml_case other;
			PROP_ASSERT(eml_case_new(rng, 2, &other) == 0, "generate");
			eml_free(b);
			b = eml_memdup(other.blob, other.blob_len);
			n = other.blob_len;
			memcpy(b + 16, mc->blob + 16, 16); /* this model's id in the header */
			eml_case_free(&other);
		}
		PROP_ASSERT(eml_host_upload(e->client_addr, b, n, 20000, NULL) == EML_OK, "upload");
		eml_free(b);
		return infer(e, e->policy, mc, mc->in);
	}
	case F_GARBAGE_FRAME:
	case F_TRUNCATED: {
		int fd;
		PROP_ASSERT(raw_hello(e, &fd) == 0, "raw hello");
		uint8_t junk[512];
		size_t n = 1 + eml_rng_below(rng, sizeof(junk));
		eml_rng_bytes(rng, junk, n);
		if (f == F_TRUNCATED) {
			/* A request header announcing more than is sent. */
			junk[0] = 0, junk[1] = 0, junk[2] = 0x10, junk[3] = 0,
			junk[4] = EML_FT_REQUEST;
			n = n < 6 ? 6 : n;
		}
		(void)eml_net_write_all(fd, junk, n, eml_net_now_ms() + 2000);
		if (f == F_GARBAGE_FRAME && eml_rng_chance(rng, 0.5)) {
			eml_frame_limits lim = EML_FRAME_LIMITS_DEFAULT;
			uint8_t type, *p = NULL;
			uint32_t len;
			if (eml_net_recv_frame(fd, &lim, 5000, &type, &p, &len) == EML_OK)
				PROP_ASSERT(type == EML_FT_ERROR,
				            "garbage answered with a non-error");
			eml_free(p);
		}
		close(fd); /* the client vanishes */
		return 0;
	}
	case F_BAD_INPUT:
	case F_HUGE_INPUT: {
		PROP_ASSERT(eml_host_upload(e->client_addr, mc->blob, mc->blob_len, 20000, NULL) ==
		                EML_OK,
		            "upload");
		eml_client_tensor in[4];
		memcpy(in, mc->in, sizeof(in));
		if (f == F_BAD_INPUT) {
			/* More features or channels than the graph was built for (dimension 1; the
			 * batch dimension may legitimately be symbolic), or one more rank. */
			uint64_t elems = in[0].bytes / 4;
			if (in[0].rank >= 2) {
				int64_t grow = 1 + (int64_t)eml_rng_below(rng, 3);
				elems = elems / (uint64_t)in[0].dims[1] *
				        (uint64_t)(in[0].dims[1] + grow);
				in[0].dims[1] += grow;
			} else {
				in[0].dims[in[0].rank++] = 1;
			}
			in[0].bytes = elems * 4;
			float *d = eml_calloc(1, (size_t)in[0].bytes);
			memcpy(d, mc->in[0].data, (size_t)mc->in[0].bytes);
			in[0].data = d;
			int rc = infer(e, e->policy, mc, in);
			eml_free(d);
			return rc;
		}
		in[0].dims[0] = (int64_t)1 << 40; /* bytes no longer match: refused before use */
		return infer(e, e->policy, mc, in);
	}
	}
	return -1;
}

static char *read_logs(eml_e2e *e, size_t *n)
{
	char p1[700], p2[700];
	uint8_t *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	snprintf(p1, sizeof(p1), "%s/enclave.log", e->dir);
	snprintf(p2, sizeof(p2), "%s/host.log", e->dir);
	eml_file_read(p1, 1 << 26, &a, &na);
	eml_file_read(p2, 1 << 26, &b, &nb);
	char *all = eml_calloc(1, na + nb + 1);
	if (na)
		memcpy(all, a, na);
	if (nb)
		memcpy(all + na, b, nb);
	eml_free(a);
	eml_free(b);
	*n = na + nb;
	return all;
}

static void battery(int check_secrecy)
{
	eml_e2e e;
	eml_e2e_opts o = {0};
	cr_assert_eq(eml_e2e_start(&e, &o), 0, "could not start host and enclave");
	char bad_policy[700];
	snprintf(bad_policy, sizeof(bad_policy), "%s/bad-policy.json", e.dir);
	int seen[F_COUNT] = {0};
	PROP_FOR_EACH_CASE(rng)
	{
		eml_case mc;
		PROP_ASSERT(eml_case_new(&rng, 2, &mc) == 0, "generate");
		int f = (int)eml_rng_below(&rng, F_COUNT);
		seen[f]++;
		int rc = inject(&rng, &e, &mc, f, bad_policy);
		static const int want[F_COUNT + 1] = {
		    [F_BAD_POLICY] = EML_E_ATTEST_PCR,
		    [F_MISSING_BLOB] = EML_E_STORE_NOT_FOUND,
		    [F_CORRUPT_BLOB] = -2, /* any weight-blob refusal (BLOB_*) */
		    [F_WRONG_TOPOLOGY] = -2,
		    [F_GARBAGE_FRAME] = 0,
		    [F_TRUNCATED] = 0,
		    [F_BAD_INPUT] = -1, /* any ENGINE_INPUT_* refusal */
		    [F_HUGE_INPUT] = -1,
		};
		if (want[f] > 0)
			PROP_ASSERT(rc == want[f], "failure %d gave %s, not %s", f,
			            eml_err_name(rc), eml_err_name(want[f]));
		else if (want[f] == -2)
			PROP_ASSERT(rc >= EML_E_BLOB_MAGIC && rc < 300, "failure %d gave %s", f,
			            eml_err_name(rc));
		else if (want[f] < 0)
			PROP_ASSERT(rc != EML_OK, "failure %d was accepted", f);
		/* Error texts the client could show: fixed, generic. */
		if (check_secrecy)
			PROP_ASSERT(eml_case_find(&mc, (const uint8_t *)eml_err_str(rc),
			                          strlen(eml_err_str(rc))) < 0,
			            "an error text carries plaintext");
		/* Both daemons keep serving: a clean request right after succeeds. */
		PROP_ASSERT(alive(e.host_pid) && alive(e.enclave_pid), "a daemon died (failure %d)",
		            f);
		if (f != F_BAD_POLICY && f != F_BAD_INPUT && f != F_HUGE_INPUT)
			PROP_ASSERT(eml_host_upload(e.client_addr, mc.blob, mc.blob_len, 20000,
			                            NULL) == EML_OK,
			            "upload after failure");
		int ok = infer(&e, e.policy, &mc, mc.in);
		PROP_ASSERT(ok == EML_OK, "no service after failure %d: %s", f, eml_err_name(ok));
		if (check_secrecy) {
			size_t n;
			char *logs = read_logs(&e, &n);
			PROP_ASSERT(eml_case_find(&mc, (uint8_t *)logs, n) < 0,
			            "a log line carries plaintext (failure %d)", f);
			eml_free(logs);
		}
		eml_case_free(&mc);
	}
	for (int f = 0; f < F_COUNT && eml_prop_iters() >= 100; f++)
		cr_assert_gt(seen[f], 0, "failure kind %d never drawn", f);
	eml_e2e_stop(&e);
}

#define P11                                                                                        \
	"Feature: ephemeral-inference, Property 11: Secure error handling. Every failure "         \
	"(attestation, memory, topology validation, communication, resource limits) fails "        \
	"closed, keeps every boundary, and cleans up fully."
/* Feature: ephemeral-inference, Property 11: Secure error handling. Every failure (attestation,
 * memory, topology validation, communication, resource limits) fails closed, keeps every boundary,
 * and cleans up fully. */
Test(prop, secure_error_handling_end_to_end, .description = P11, .timeout = 900)
{
	battery(0);
}

#define P12                                                                                        \
	"Feature: ephemeral-inference, Property 12: Diagnostic secrecy. No diagnostic or error "   \
	"output reveals structure, weights, topology or inputs."
/* Feature: ephemeral-inference, Property 12: Diagnostic secrecy. No diagnostic or error output
 * reveals structure, weights, topology or inputs. */
Test(prop, diagnostic_secrecy_end_to_end, .description = P12, .timeout = 900)
{
	battery(1);
}
