/*
 * The enclave sandbox: after eml_sandbox_enter, writes to the file system, exec and fork kill the
 * process with SIGSYS; reading, threads and allowed sockets keep working; no core file appears.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enclave/sandbox.h"
#include "eml/error.h"
#include "prop.h"

static char tmpdir_path[4096];

typedef int (*child_fn)(void);

/* Run fn in a sandboxed child; return its wait status. */
static int run_sandboxed(child_fn fn)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		eml_sandbox_opts o = {.families = EML_SANDBOX_AF_UNIX, .lock_memory = 0};
		if (chdir(tmpdir_path) != 0)
			_exit(101);
		if (eml_sandbox_harden(&o) != EML_OK || eml_sandbox_enter(&o) != EML_OK)
			_exit(100);
		_exit(fn());
	}
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_killed_by_seccomp(int st)
{
	cr_assert(WIFSIGNALED(st), "child was not killed (status %d)", st);
	cr_assert_eq(WTERMSIG(st), SIGSYS);
}

static int do_write_open(void)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/written", tmpdir_path);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	return fd >= 0 ? 0 : 1;
}

static int do_rdwr_open(void)
{
	return open("/etc/hostname", O_RDWR) >= 0 ? 0 : 1;
}

static int do_append_open(void)
{
	return open("/etc/hostname", O_RDONLY | O_APPEND) >= 0 ? 0 : 1;
}

static int do_read_open(void)
{
	int fd = open("/etc/hostname", O_RDONLY);
	if (fd < 0)
		return 2;
	char b[8];
	return read(fd, b, sizeof(b)) >= 0 ? 0 : 3;
}

static int do_unlink(void)
{
	return unlink("/nonexistent-eml-file") == 0 ? 0 : 1;
}

static int do_rename(void)
{
	return rename("/nonexistent-a", "/nonexistent-b") == 0 ? 0 : 1;
}

static int do_exec(void)
{
	char *argv[] = {"/bin/true", NULL};
	execv("/bin/true", argv);
	return 1;
}

static int do_fork(void)
{
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	return 1;
}

static void *thread_main(void *arg)
{
	return arg;
}

static int do_thread(void)
{
	pthread_t t;
	void *r = NULL;
	if (pthread_create(&t, NULL, thread_main, (void *)7) != 0)
		return 2;
	if (pthread_join(t, &r) != 0)
		return 3;
	return r == (void *)7 ? 0 : 4;
}

static int do_inet_socket(void)
{
	/* Not a configured family: refused (EPERM), the process lives. */
	return socket(AF_INET, SOCK_STREAM, 0) < 0 ? 0 : 1;
}

static int do_unix_socket(void)
{
	return socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 1;
}

static int do_abort(void)
{
	abort();
}

static void setup(void)
{
	char *d = eml_test_tmpdir();
	cr_assert_not_null(d);
	snprintf(tmpdir_path, sizeof(tmpdir_path), "%s", d);
	free(d);
}

static void teardown(void)
{
	eml_test_rmtree(tmpdir_path);
}

TestSuite(sandbox, .init = setup, .fini = teardown);

Test(sandbox, write_open_kills)
{
	assert_killed_by_seccomp(run_sandboxed(do_write_open));
	cr_assert_neq(access(tmpdir_path, F_OK), -1);
	char p[4200];
	snprintf(p, sizeof(p), "%s/written", tmpdir_path);
	cr_assert_eq(access(p, F_OK), -1, "a file was created despite the sandbox");
}

Test(sandbox, rdwr_and_append_opens_kill)
{
	assert_killed_by_seccomp(run_sandboxed(do_rdwr_open));
	assert_killed_by_seccomp(run_sandboxed(do_append_open));
}

Test(sandbox, unlink_rename_exec_fork_kill)
{
	assert_killed_by_seccomp(run_sandboxed(do_unlink));
	assert_killed_by_seccomp(run_sandboxed(do_rename));
	assert_killed_by_seccomp(run_sandboxed(do_exec));
	assert_killed_by_seccomp(run_sandboxed(do_fork));
}

Test(sandbox, reading_threads_and_allowed_sockets_work)
{
	int st = run_sandboxed(do_read_open);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "read-only open failed (%d)", st);
	st = run_sandboxed(do_thread);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "threads failed (%d)", st);
	st = run_sandboxed(do_unix_socket);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unix socket failed (%d)", st);
	st = run_sandboxed(do_inet_socket);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "inet socket was not refused (%d)", st);
}

Test(sandbox, abort_leaves_no_core_file)
{
	int st = run_sandboxed(do_abort);
	cr_assert(WIFSIGNALED(st));
	cr_assert_eq(WTERMSIG(st), SIGABRT);
	cr_assert(!WCOREDUMP(st), "a core dump was produced");
	char p[4200];
	snprintf(p, sizeof(p), "%s/core", tmpdir_path);
	cr_assert_eq(access(p, F_OK), -1);
}
