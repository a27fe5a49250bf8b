/*
 * Audit records and inference receipts (DESIGN §8; the byte formats are in docs/AUDIT.md).
 *
 * The enclave has no disk: it builds each record, chains it to the previous one (SHA-256 of the
 * previous encoded record) and signs it with its per-boot Ed25519 key, whose SHA-256 is bound in
 * the attestation document's user_data ("EML1" || SHA-256(pk), attest/verify.h). The first record
 * of a boot (EML_AEV_START) carries that attestation document, so a log verifies offline against
 * a policy. Records hold sequence numbers, times, event types, random session ids, model ids,
 * SHA-256 hashes, durations and result codes: never topology, shapes, weights, inputs or outputs.
 *
 * A receipt is the request's signed RESPONSE record, followed by the enclave start document
 * that binds the signing key, so it verifies alone (and matches the log byte for byte).
 *
 * Thread-safety: an eml_audit_chain is not thread-safe (the enclave holds a lock around it); the
 * rest is pure.
 */
#ifndef EML_AUDIT_AUDIT_H
#define EML_AUDIT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "attest/verify.h"
#include "common/cursor.h"

/* 2: the receipt is the signed RESPONSE record (one signature per request, docs/AUDIT.md §3). */
#define EML_AUDIT_VERSION 2
#define EML_AUDIT_HASH_LEN 32
#define EML_AUDIT_ID_LEN 16
#define EML_AUDIT_PK_LEN 32
#define EML_AUDIT_SIG_LEN 64
/* The largest attestation document a start record or receipt carries. */
#define EML_AUDIT_MAX_DOC ((uint32_t)48 << 10)
/* The largest record (start record with its document) and receipt. */
#define EML_AUDIT_MAX_RECORD ((uint32_t)64 << 10)
#define EML_RECEIPT_MAX ((uint32_t)64 << 10)
/* Fixed part of a record: everything but the document. */
#define EML_AUDIT_FIXED_LEN (4 + 1 + 1 + 8 + 8 + 32 + 16 + 16 + 8 + 2 + 8 + 5 * 32 + 32 + 4 + 64)

/* Event types (stable numbers: they are in the logs). */
enum eml_audit_event {
	EML_AEV_START = 1,         /* enclave start: carries the attestation document */
	EML_AEV_ATTEST = 2,        /* attestation document served (session opened) */
	EML_AEV_SESSION_CLOSE = 3, /* the session's connection ended */
	EML_AEV_REQUEST = 4,       /* a request was opened (decrypted, well formed) */
	EML_AEV_ASSEMBLY = 5,      /* blob fetched, checked, joined, planned */
	EML_AEV_INFERENCE = 6,     /* the model ran */
	EML_AEV_WIPE = 7,          /* every plaintext of the request was wiped */
	EML_AEV_RESPONSE = 8,      /* sealed response sent (with its receipt) */
	EML_AEV_REFUSAL = 9,       /* any refusal or violation: result says which */
	EML_AEV_STOP = 10,         /* orderly shutdown: the last record of a boot */
	EML_AEV_MAX_ = 10
};

const char *eml_audit_event_name(int ev);

typedef struct eml_audit_record {
	uint8_t event;
	uint64_t seq;
	uint64_t time_ms; /* Unix time, enclave clock */
	uint8_t prev[EML_AUDIT_HASH_LEN];
	uint8_t session_id[EML_AUDIT_ID_LEN]; /* zero when not in a session */
	uint8_t model_id[EML_AUDIT_ID_LEN];   /* zero when unknown */
	uint64_t request_seq; /* stages of a request: its number in the session; 0 otherwise */
	uint16_t result;      /* EML_OK or the refusal's code */
	uint64_t duration_us;
	uint8_t input_hash[EML_AUDIT_HASH_LEN], output_hash[EML_AUDIT_HASH_LEN];
	uint8_t blob_hash[EML_AUDIT_HASH_LEN], doc_hash[EML_AUDIT_HASH_LEN];
	/* SHA-256 of the boot's start document (filled by the chain): lets a RESPONSE record stand
	 * alone as a receipt, naming the document that binds its key. */
	uint8_t start_doc_hash[EML_AUDIT_HASH_LEN];
	uint8_t pk[EML_AUDIT_PK_LEN]; /* the signer (the boot's key) */
	const uint8_t *doc;           /* START only: the attestation document */
	uint32_t doc_len;
	uint8_t sig[EML_AUDIT_SIG_LEN];
} eml_audit_record;

/*
 * Which records are signed. The intermediate stages of a request (request, assembly, inference,
 * wipe) carry an all-zero signature: they are covered by the hash chain up to the request's next
 * signed record (response or refusal), which is always emitted right after them. This keeps the
 * signing cost at one signature per request (docs/AUDIT.md §2).
 */
int eml_audit_event_signed(int ev);

/* The signer's state: the boot's key, the next sequence number, the last record's hash. */
struct eml_ed25519_key;
typedef struct eml_audit_chain {
	uint8_t pk[EML_AUDIT_PK_LEN];
	struct eml_ed25519_key *key;
	uint64_t next_seq;
	uint8_t prev[EML_AUDIT_HASH_LEN];
	uint8_t start_doc_hash[EML_AUDIT_HASH_LEN]; /* set by the START record */
} eml_audit_chain;

int eml_audit_chain_init(eml_audit_chain *c, const uint8_t seed[32],
                         const uint8_t pk[EML_AUDIT_PK_LEN]);
void eml_audit_chain_cleanup(eml_audit_chain *c); /* wipes the seed */
/* Fills r's seq, prev, pk and start_doc_hash (START: also doc_hash = SHA-256(doc)), signs (the
 * signed events), appends the encoded record to out, advances the chain. */
int eml_audit_chain_append(eml_audit_chain *c, eml_audit_record *r, eml_buf *out);

/* Strict decode (views into p). Does not check the signature. EML_E_AUDIT_MALFORMED. */
int eml_audit_record_decode(const uint8_t *p, size_t n, eml_audit_record *r);
/* Signature check of an encoded (signed) record under r->pk: EML_OK or EML_E_AUDIT_SIGNATURE. */
int eml_audit_record_check_sig(const uint8_t *p, size_t n, const eml_audit_record *r);

/* Tensor list hash (inputs and outputs, docs/AUDIT.md §3): SHA-256 over u16 count then per tensor
 * dtype u8 | rank u8 | dims u64 x rank | u64 bytes | data. Names are not hashed. */
typedef struct eml_audit_tensor {
	int dtype;
	uint32_t rank;
	const int64_t *dims;
	const void *data;
	uint64_t bytes;
} eml_audit_tensor;
int eml_audit_tensors_hash(const eml_audit_tensor *t, size_t n, uint8_t out[EML_AUDIT_HASH_LEN]);

/* ------------------------------------------------------------------ log verification */

typedef struct eml_audit_report {
	int rc;            /* EML_OK or the first problem's code */
	uint64_t records;  /* complete records read */
	uint64_t good;     /* records verified before the first problem */
	uint64_t boots;    /* start records seen */
	int has_last_good; /* last_good_seq is valid */
	uint64_t last_good_seq;
	uint64_t bad_index;     /* index (from 0, across files) of the first bad record */
	char bad_file[512];     /* the file it is in */
	uint64_t bad_offset;    /* its byte offset in that file */
	int closed;             /* the last boot ended with a stop record */
	uint64_t unsigned_tail; /* records at the end not covered by a signature yet (unverified) */
	uint64_t unclosed_boots; /* boots followed by another without a stop record (crashes) */
} eml_audit_report;

typedef struct eml_audit_verify_opts {
	const eml_policy *policy; /* required */
	int require_stop;         /* a log whose last boot has no stop record fails (AUDIT_OPEN) */
} eml_audit_verify_opts;

/*
 * Verify files in order as one log (rotated files oldest first, the live file last): every start
 * record's document against the policy (at document time) and its key binding, every record's
 * signature, sequence and chain. Returns EML_OK when the log verifies; otherwise the first
 * problem's code, also in rep (with where it is). I/O errors: EML_E_IO / EML_E_NOT_FOUND.
 */
int eml_audit_verify_files(const char *const *paths, size_t n, const eml_audit_verify_opts *o,
                           eml_audit_report *rep);
/* Same over one in-memory log (u32be length | record ...); name is used in the report. */
int eml_audit_verify_mem(const uint8_t *p, size_t n, const eml_audit_verify_opts *o,
                         eml_audit_report *rep);

/* ------------------------------------------------------------------ receipts */

/*
 * A receipt is the request's signed RESPONSE record itself (byte for byte the one in the log)
 * followed by the boot's start document: "EMLR" | version | u32 record length | record |
 * u32 document length | document (docs/AUDIT.md §3). One Ed25519 signature per request serves
 * both the log and the client.
 */
typedef struct eml_receipt {
	uint64_t audit_seq; /* sequence number of the RESPONSE record in the boot's log */
	uint8_t session_id[EML_AUDIT_ID_LEN];
	uint64_t request_seq; /* the request's number in its session */
	uint64_t time_ms;
	uint64_t duration_us;
	uint8_t prev[EML_AUDIT_HASH_LEN]; /* the record's chain link (hash of the WIPE record) */
	uint8_t model_id[EML_AUDIT_ID_LEN];
	uint8_t blob_hash[EML_AUDIT_HASH_LEN];
	uint8_t input_hash[EML_AUDIT_HASH_LEN], output_hash[EML_AUDIT_HASH_LEN];
	uint8_t session_doc_hash[EML_AUDIT_HASH_LEN]; /* document served in the session */
	uint8_t start_doc_hash[EML_AUDIT_HASH_LEN];   /* = SHA-256(doc) below */
	uint8_t pk[EML_AUDIT_PK_LEN];
	uint8_t sig[EML_AUDIT_SIG_LEN];
	const uint8_t *record; /* the encoded RESPONSE record (view) */
	uint32_t record_len;
	const uint8_t *doc; /* the enclave start document binding pk */
	uint32_t doc_len;
} eml_receipt;

/* The enclave's path: wraps an encoded, signed RESPONSE record (from eml_audit_chain_append)
 * and the start document into a receipt, appended to out. No signature is made here. */
int eml_receipt_wrap(const uint8_t *record, size_t record_len, const uint8_t *doc, size_t doc_len,
                     eml_buf *out);
/* Builds and signs a RESPONSE record from r's fields (key = seed, whose public key is r->pk;
 * start_doc_hash = SHA-256(r->doc)) and appends the receipt. For tests and tools. */
int eml_receipt_sign(eml_receipt *r, const uint8_t seed[32], eml_buf *out);
/* Same with a prepared key. */
int eml_receipt_sign_key(eml_receipt *r, const struct eml_ed25519_key *key, eml_buf *out);
/* Strict decode (views into p): the record must be a signed RESPONSE with result EML_OK.
 * Does not check the signature. EML_E_RECEIPT_MALFORMED. */
int eml_receipt_decode(const uint8_t *p, size_t n, eml_receipt *r);
/*
 * Full offline check: structure, document hash (the record's start_doc_hash), document against
 * policy (at document time), user_data binding of pk, the record's signature. input_hash /
 * output_hash (NULL: not checked) are compared with the receipt's (RECEIPT_INPUT /
 * RECEIPT_OUTPUT). On EML_OK *out holds the receipt (views into p).
 */
int eml_receipt_verify(const uint8_t *p, size_t n, const eml_policy *policy,
                       const uint8_t *input_hash, const uint8_t *output_hash, eml_receipt *out);

#endif
