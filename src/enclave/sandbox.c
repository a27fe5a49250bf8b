#include "enclave/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common/guard.h"

/* libseccomp's SCMP_A0..A5 macros leave a field of struct scmp_arg_cmp to its default. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "common/log.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

int eml_sandbox_harden(const eml_sandbox_opts *o)
{
	struct rlimit rl = {0, 0};
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return EML_E_PERMISSION;
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return EML_E_PERMISSION;
	if (o != NULL && o->lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
		eml_log_warn("mlockall refused (needs CAP_IPC_LOCK or a larger RLIMIT_MEMLOCK); "
		             "secret regions are still locked one by one where allowed");
	return EML_OK;
}

/* Syscalls serving needs (threads, memory, sockets, time, randomness, reading files it opened
 * before, the NSM ioctl). Everything else is refused; the dangerous ones kill. */
static const int allowed[] = {
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(close),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(lseek),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    SCMP_SYS(mlock),
    SCMP_SYS(munlock),
    SCMP_SYS(brk),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(futex),
    /* The kernel resumes a timed wait (futex, poll, nanosleep) interrupted by a stop signal
     * through restart_syscall; denied, glibc aborts a timed condition wait ("The futex facility
     * returned an unexpected error code") after SIGSTOP/SIGCONT. */
    SCMP_SYS(restart_syscall),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(get_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(set_tid_address),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(tgkill),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(getrandom),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(epoll_create1),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(eventfd2),
    SCMP_SYS(pipe2),
    SCMP_SYS(accept),
    SCMP_SYS(accept4),
    SCMP_SYS(connect),
    SCMP_SYS(bind),
    SCMP_SYS(listen),
    SCMP_SYS(sendto),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvmsg),
    SCMP_SYS(shutdown),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(fcntl),
    SCMP_SYS(ioctl), /* the NSM device and FIONBIO */
    SCMP_SYS(getrusage),
    SCMP_SYS(sysinfo),
    SCMP_SYS(uname),
    SCMP_SYS(prlimit64),
    SCMP_SYS(membarrier),
};

/* Syscalls whose use means something is wrong: the process is killed, not just refused. */
static const int killed[] = {
    SCMP_SYS(creat),
    SCMP_SYS(rename),
    SCMP_SYS(renameat),
    SCMP_SYS(renameat2),
    SCMP_SYS(unlink),
    SCMP_SYS(unlinkat),
    SCMP_SYS(link),
    SCMP_SYS(linkat),
    SCMP_SYS(symlink),
    SCMP_SYS(symlinkat),
    SCMP_SYS(truncate),
    SCMP_SYS(ftruncate),
    SCMP_SYS(mknod),
    SCMP_SYS(mknodat),
    SCMP_SYS(ptrace),
    SCMP_SYS(execve),
    SCMP_SYS(execveat),
    SCMP_SYS(fork),
    SCMP_SYS(vfork),
    SCMP_SYS(mkdir),
    SCMP_SYS(mkdirat),
    SCMP_SYS(rmdir),
    SCMP_SYS(chmod),
    SCMP_SYS(fchmod),
    SCMP_SYS(fchmodat),
    SCMP_SYS(chown),
    SCMP_SYS(fchown),
    SCMP_SYS(fchownat),
    SCMP_SYS(process_vm_writev),
    SCMP_SYS(process_vm_readv),
};

int eml_sandbox_enter(const eml_sandbox_opts *o)
{
	int rc = EML_OK;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	EML_ENSURE(ctx != NULL, EML_E_UNSUPPORTED);
	EML_ENSURE(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) == 0, EML_E_UNSUPPORTED);
	for (size_t i = 0; i < EML_ARRAY_LEN(allowed); i++)
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0) == 0,
		           EML_E_INTERNAL);
	for (size_t i = 0; i < EML_ARRAY_LEN(killed); i++)
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, killed[i], 0) == 0,
		           EML_E_INTERNAL);
	/* open/openat: read-only opens are allowed; any write, create, truncate or append kills. */
	static const scmp_datum_t wbits[] = {O_WRONLY, O_RDWR,   O_CREAT,
	                                     O_TRUNC,  O_APPEND, O_TMPFILE & ~O_DIRECTORY};
	scmp_datum_t wmask = 0;
	for (size_t i = 0; i < EML_ARRAY_LEN(wbits); i++)
		wmask |= wbits[i];
	EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
	                            SCMP_A2(SCMP_CMP_MASKED_EQ, wmask, 0)) == 0,
	           EML_E_INTERNAL);
	EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
	                            SCMP_A1(SCMP_CMP_MASKED_EQ, wmask, 0)) == 0,
	           EML_E_INTERNAL);
	for (size_t i = 0; i < EML_ARRAY_LEN(wbits); i++) {
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(openat), 1,
		                            SCMP_A2(SCMP_CMP_MASKED_EQ, wbits[i], wbits[i])) == 0,
		           EML_E_INTERNAL);
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(open), 1,
		                            SCMP_A1(SCMP_CMP_MASKED_EQ, wbits[i], wbits[i])) == 0,
		           EML_E_INTERNAL);
	}
	/* Threads only: clone with CLONE_THREAD; a new process (fork) kills. clone3 cannot be
	 * filtered by flags (they live in memory), so it answers ENOSYS and glibc falls back. */
	EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	                            SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) == 0,
	           EML_E_INTERNAL);
	EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
	                            SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)) == 0,
	           EML_E_INTERNAL);
	EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) == 0,
	           EML_E_INTERNAL);
	/* Sockets of the configured families only. */
	unsigned fam = o != NULL ? o->families : 0;
	if (fam & EML_SANDBOX_AF_UNIX)
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		                            SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) == 0,
		           EML_E_INTERNAL);
	if (fam & EML_SANDBOX_AF_INET) {
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		                            SCMP_A0(SCMP_CMP_EQ, AF_INET)) == 0,
		           EML_E_INTERNAL);
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		                            SCMP_A0(SCMP_CMP_EQ, AF_INET6)) == 0,
		           EML_E_INTERNAL);
	}
	if (fam & EML_SANDBOX_AF_VSOCK)
		EML_ENSURE(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		                            SCMP_A0(SCMP_CMP_EQ, AF_VSOCK)) == 0,
		           EML_E_INTERNAL);
	EML_ENSURE(seccomp_load(ctx) == 0, EML_E_UNSUPPORTED);
out:
	seccomp_release(ctx);
	return rc;
}
