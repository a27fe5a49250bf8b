/*
 * Enclave process hardening (DESIGN §7): no core dumps, not dumpable, memory locked, then a
 * seccomp filter that allows only what serving needs. The enclave never writes anything
 * persistent: opening a file for writing, creating, renaming, linking, unlinking, truncating,
 * mknod, ptrace, execve and fork of new processes kill the process (SIGSYS), and sockets of
 * families other than the configured ones are refused.
 *
 * Not thread-safe: call once, at start-up, before creating threads is fine and after is fine too
 * (the filter is installed with TSYNC so it covers every thread).
 */
#ifndef EML_ENCLAVE_SANDBOX_H
#define EML_ENCLAVE_SANDBOX_H

/* Socket families the sandboxed process may create (bit set). */
enum {
	EML_SANDBOX_AF_UNIX = 1 << 0,
	EML_SANDBOX_AF_INET = 1 << 1, /* also AF_INET6 */
	EML_SANDBOX_AF_VSOCK = 1 << 2,
};

typedef struct eml_sandbox_opts {
	unsigned families; /* EML_SANDBOX_AF_* */
	int lock_memory;   /* mlockall(MCL_CURRENT|MCL_FUTURE); refusal warns once */
} eml_sandbox_opts;

/* prctl(PR_SET_DUMPABLE, 0), RLIMIT_CORE = 0, optional mlockall. Always safe to call. */
int eml_sandbox_harden(const eml_sandbox_opts *o);

/* Install the seccomp filter (after eml_sandbox_harden and after opening every file needed,
 * e.g. /dev/nsm). EML_E_UNSUPPORTED if the kernel refuses seccomp. */
int eml_sandbox_enter(const eml_sandbox_opts *o);

#endif
