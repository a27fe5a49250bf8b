#include "e2e.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cursor.h"
#include "common/mem.h"
#include "prop.h"

#define E2E_MAX_ARGS 32
#define E2E_WAIT_MS 10000
#define E2E_POLL_MS 50
#define E2E_MAX_SCAN_MAPPING (1ull << 30)

struct eml_rec {
	int lfd;
	char target[600];
	pthread_t thr;
	atomic_int stop;
	atomic_int active;
	pthread_mutex_t mu;
	eml_buf up, down;
	int conns;
};

typedef struct pump {
	eml_rec *r;
	int cfd;
} pump;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int unix_listen(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int eml_e2e_unix_connect(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void record(eml_rec *r, int upwards, const uint8_t *p, size_t n)
{
	pthread_mutex_lock(&r->mu);
	eml_buf_put(upwards ? &r->up : &r->down, p, n);
	pthread_mutex_unlock(&r->mu);
}

static void *pump_main(void *arg)
{
	pump *pm = arg;
	eml_rec *r = pm->r;
	int cfd = pm->cfd, tfd = eml_e2e_unix_connect(r->target);
	free(pm);
	uint8_t buf[65536];
	int open_c = 1, open_t = 1;
	if (tfd < 0)
		goto out;
	while ((open_c || open_t) && !atomic_load(&r->stop)) {
		struct pollfd p[2] = {{cfd, open_c ? POLLIN : 0, 0}, {tfd, open_t ? POLLIN : 0, 0}};
		int k = poll(p, 2, 100);
		if (k < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int from = i == 0 ? cfd : tfd, to = i == 0 ? tfd : cfd;
			ssize_t n = read(from, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(to, SHUT_WR);
				if (i == 0)
					open_c = 0;
				else
					open_t = 0;
				continue;
			}
			record(r, i == 0, buf, (size_t)n);
			size_t off = 0;
			while (off < (size_t)n) {
				ssize_t w = send(to, buf + off, (size_t)n - off, MSG_NOSIGNAL);
				if (w <= 0)
					break;
				off += (size_t)w;
			}
			if (off < (size_t)n) {
				open_c = open_t = 0;
				break;
			}
		}
	}
out:
	if (tfd >= 0)
		close(tfd);
	close(cfd);
	atomic_fetch_sub(&r->active, 1);
	return NULL;
}

static void *accept_main(void *arg)
{
	eml_rec *r = arg;
	while (!atomic_load(&r->stop)) {
		struct pollfd p = {r->lfd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		int cfd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		pump *pm = malloc(sizeof(*pm));
		pthread_t t;
		if (pm == NULL) {
			close(cfd);
			continue;
		}
		pm->r = r;
		pm->cfd = cfd;
		pthread_mutex_lock(&r->mu);
		r->conns++;
		pthread_mutex_unlock(&r->mu);
		atomic_fetch_add(&r->active, 1);
		if (pthread_create(&t, NULL, pump_main, pm) != 0) {
			atomic_fetch_sub(&r->active, 1);
			close(cfd);
			free(pm);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static eml_rec *rec_start(const char *listen_path, const char *target)
{
	eml_rec *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	eml_buf_init(&r->up, 0);
	eml_buf_init(&r->down, 0);
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->lfd = unix_listen(listen_path);
	if (r->lfd < 0 || pthread_create(&r->thr, NULL, accept_main, r) != 0) {
		if (r->lfd >= 0)
			close(r->lfd);
		free(r);
		return NULL;
	}
	return r;
}

static void rec_stop(eml_rec *r)
{
	if (r == NULL)
		return;
	atomic_store(&r->stop, 1);
	pthread_join(r->thr, NULL);
	for (int i = 0; i < 100 && atomic_load(&r->active) > 0; i++)
		usleep(20000);
	close(r->lfd);
	if (atomic_load(&r->active) == 0) {
		eml_buf_cleanup(&r->up);
		eml_buf_cleanup(&r->down);
		pthread_mutex_destroy(&r->mu);
		free(r);
	}
}

void eml_rec_snapshot(eml_rec *r, eml_rec_bytes *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&r->mu);
	/* a NUL after the bytes (a copy of len bytes, not len + 1: the buffer holds only len) */
	out->up = eml_calloc(1, r->up.len + 1);
	if (out->up != NULL && r->up.len)
		memcpy(out->up, r->up.p, r->up.len);
	out->up_len = r->up.len;
	out->down = eml_calloc(1, r->down.len + 1);
	if (out->down != NULL && r->down.len)
		memcpy(out->down, r->down.p, r->down.len);
	out->down_len = r->down.len;
	out->conns = r->conns;
	pthread_mutex_unlock(&r->mu);
}

void eml_rec_bytes_free(eml_rec_bytes *b)
{
	eml_free(b->up);
	eml_free(b->down);
	memset(b, 0, sizeof(*b));
}

void eml_rec_clear(eml_rec *r)
{
	pthread_mutex_lock(&r->mu);
	eml_buf_cleanup(&r->up);
	eml_buf_cleanup(&r->down);
	eml_buf_init(&r->up, 0);
	eml_buf_init(&r->down, 0);
	r->conns = 0;
	pthread_mutex_unlock(&r->mu);
}

/* fork + exec bin with args; stdout/stderr to log (appended); optional cwd, HOME, extra env. */
static pid_t spawn(const char *bin, const char *log, char *const argv[], const char *cwd,
                   const char *home, const char *env)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	/* Die with the test: a crashed or timed-out test leaves no daemon behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(125);
	if (cwd != NULL && chdir(cwd) != 0)
		_exit(126);
	if (home != NULL)
		setenv("HOME", home, 1);
	if (env != NULL)
		putenv((char *)env);
	execv(bin, argv);
	_exit(127);
}

static int wait_socket(const char *path, pid_t pid)
{
	int64_t end = now_ms() + E2E_WAIT_MS;
	struct stat st;
	while (now_ms() < end) {
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			int fd = eml_e2e_unix_connect(path);
			if (fd >= 0) {
				close(fd);
				return 0;
			}
		}
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(E2E_POLL_MS * 1000);
	}
	return -1;
}

static void stop_pid(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	int64_t end = now_ms() + 5000;
	while (now_ms() < end) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

static int start_enclave(eml_e2e *e, const eml_e2e_opts *o)
{
	char log[700], conc[32], idle[32];
	const char *chan = e->rec_channel != NULL ? e->dir : NULL;
	char chan_addr[700];
	if (chan != NULL)
		snprintf(chan_addr, sizeof(chan_addr), "unix:%s/p_channel.sock", e->dir);
	else
		snprintf(chan_addr, sizeof(chan_addr), "unix:%s", e->channel_listen);
	char listen_addr[700];
	snprintf(listen_addr, sizeof(listen_addr), "unix:%s", e->enclave_listen);
	snprintf(log, sizeof(log), "%s/enclave.log", e->dir);
	char *argv[E2E_MAX_ARGS];
	int n = 0;
	argv[n++] = "eml";
	argv[n++] = "enclave";
	argv[n++] = "--listen";
	argv[n++] = listen_addr;
	argv[n++] = "--host-channel";
	argv[n++] = chan_addr;
	argv[n++] = "--nsm";
	argv[n++] = "sim";
	argv[n++] = "--sim-ca";
	argv[n++] = e->sim_ca;
	if (o != NULL && o->max_concurrent > 0) {
		snprintf(conc, sizeof(conc), "%d", o->max_concurrent);
		argv[n++] = "--max-concurrent";
		argv[n++] = conc;
	}
	if (o != NULL && o->idle_timeout_ms > 0) {
		snprintf(idle, sizeof(idle), "%d", o->idle_timeout_ms);
		argv[n++] = "--idle-timeout-ms";
		argv[n++] = idle;
	}
	if (o != NULL && o->no_sandbox)
		argv[n++] = "--no-sandbox";
	if (o != NULL && o->extra_enclave_arg != NULL) {
		argv[n++] = (char *)o->extra_enclave_arg;
		if (o->extra_enclave_val != NULL)
			argv[n++] = (char *)o->extra_enclave_val;
	}
	for (int i = 0; o != NULL && o->enclave_args != NULL && o->enclave_args[i] != NULL &&
	                n < E2E_MAX_ARGS - 1;
	     i++)
		argv[n++] = (char *)o->enclave_args[i];
	argv[n] = NULL;
	const char *bin = o != NULL && o->enclave_bin != NULL ? o->enclave_bin : eml_test_bin();
	e->enclave_pid = spawn(bin, log, argv, e->enclave_cwd, e->enclave_home,
	                       o != NULL ? o->enclave_env : NULL);
	if (e->enclave_pid < 0)
		return -1;
	return wait_socket(e->enclave_listen, e->enclave_pid);
}

int eml_e2e_restart_enclave(eml_e2e *e, const eml_e2e_opts *o)
{
	stop_pid(&e->enclave_pid);
	return start_enclave(e, o);
}

static int start_host(eml_e2e *e, const eml_e2e_opts *o)
{
	int rec = e->rec_client != NULL;
	char p_enclave[700];
	snprintf(p_enclave, sizeof(p_enclave), "%s/p_enclave.sock", e->dir);
	char log[700], a_listen[700], a_enclave[700], a_channel[700];
	snprintf(log, sizeof(log), "%s/host.log", e->dir);
	snprintf(a_listen, sizeof(a_listen), "unix:%s", e->host_listen);
	snprintf(a_enclave, sizeof(a_enclave), "unix:%s", rec ? p_enclave : e->enclave_listen);
	snprintf(a_channel, sizeof(a_channel), "unix:%s", e->channel_listen);
	char *hargv[40] = {
	    "eml",     "host",    "--listen", a_listen, "--enclave", a_enclave, "--enclave-channel",
	    a_channel, "--store", e->store,   NULL};
	int hn = 10;
	if (o != NULL && o->audit) {
		snprintf(e->audit_log, sizeof(e->audit_log), "%s/audit.log", e->dir);
		hargv[hn++] = "--audit-log";
		hargv[hn++] = e->audit_log;
		if (o->audit_rotate_bytes != NULL) {
			hargv[hn++] = "--audit-rotate-bytes";
			hargv[hn++] = (char *)o->audit_rotate_bytes;
		}
		if (o->audit_no_fsync) {
			hargv[hn++] = "--audit-fsync";
			hargv[hn++] = "none";
		}
		hargv[hn] = NULL;
	}
	if (o != NULL && o->extra_host_arg != NULL) {
		hargv[hn++] = (char *)o->extra_host_arg;
		if (o->extra_host_val != NULL)
			hargv[hn++] = (char *)o->extra_host_val;
	}
	for (int i = 0; o != NULL && o->host_args != NULL && o->host_args[i] != NULL && hn < 39;
	     i++)
		hargv[hn++] = (char *)o->host_args[i];
	hargv[hn] = NULL;
	e->host_pid = spawn(eml_test_bin(), log, hargv, NULL, NULL, NULL);
	if (e->host_pid < 0 || wait_socket(e->host_listen, e->host_pid) != 0 ||
	    wait_socket(e->channel_listen, e->host_pid) != 0)
		return -1;
	return 0;
}

int eml_e2e_restart_host(eml_e2e *e, const eml_e2e_opts *o)
{
	stop_pid(&e->host_pid);
	return start_host(e, o);
}

int eml_e2e_start(eml_e2e *e, const eml_e2e_opts *o)
{
	memset(e, 0, sizeof(*e));
	char *d = eml_test_tmpdir();
	if (d == NULL)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "%s", d);
	free(d);
	snprintf(e->host_listen, sizeof(e->host_listen), "%s/host.sock", e->dir);
	snprintf(e->enclave_listen, sizeof(e->enclave_listen), "%s/enclave.sock", e->dir);
	snprintf(e->channel_listen, sizeof(e->channel_listen), "%s/channel.sock", e->dir);
	snprintf(e->store, sizeof(e->store), "%s/store", e->dir);
	snprintf(e->policy, sizeof(e->policy), "%s/policy.json", e->dir);
	snprintf(e->sim_ca, sizeof(e->sim_ca), "%s/sim-ca", e->dir);
	snprintf(e->enclave_cwd, sizeof(e->enclave_cwd), "%s/enclave-cwd", e->dir);
	snprintf(e->enclave_home, sizeof(e->enclave_home), "%s/enclave-home", e->dir);
	if (mkdir(e->enclave_cwd, 0700) != 0 || mkdir(e->enclave_home, 0700) != 0)
		return -1;
	char p_client[700], p_enclave[700], p_channel[700];
	snprintf(p_client, sizeof(p_client), "%s/p_client.sock", e->dir);
	snprintf(p_enclave, sizeof(p_enclave), "%s/p_enclave.sock", e->dir);
	snprintf(p_channel, sizeof(p_channel), "%s/p_channel.sock", e->dir);
	int rec = o != NULL && o->record;
	if (rec) {
		e->rec_client = rec_start(p_client, e->host_listen);
		e->rec_enclave = rec_start(p_enclave, e->enclave_listen);
		e->rec_channel = rec_start(p_channel, e->channel_listen);
		if (e->rec_client == NULL || e->rec_enclave == NULL || e->rec_channel == NULL)
			return -1;
		snprintf(e->client_addr, sizeof(e->client_addr), "unix:%s", p_client);
	} else {
		snprintf(e->client_addr, sizeof(e->client_addr), "unix:%s", e->host_listen);
	}
	if (start_enclave(e, o) != 0)
		return -1;
	if (start_host(e, o) != 0)
		return -1;
	char out[4096];
	int st = eml_e2e_run(out, sizeof(out), 20000, "policy", "init", "--sim", "--sim-ca",
	                     e->sim_ca, "--binary",
	                     o != NULL && o->enclave_bin != NULL ? o->enclave_bin : eml_test_bin(),
	                     "-o", e->policy, NULL);
	return st == 0 ? 0 : -1;
}

void eml_e2e_stop(eml_e2e *e)
{
	stop_pid(&e->host_pid);
	stop_pid(&e->enclave_pid);
	rec_stop(e->rec_client);
	rec_stop(e->rec_enclave);
	rec_stop(e->rec_channel);
	e->rec_client = e->rec_enclave = e->rec_channel = NULL;
	if (e->dir[0] != '\0' && getenv("EML_E2E_KEEP") == NULL)
		eml_test_rmtree(e->dir);
}

int eml_e2e_run(char *out, size_t out_cap, int timeout_ms, const char *arg0, ...)
{
	char *argv[E2E_MAX_ARGS];
	int n = 0;
	argv[n++] = "eml";
	va_list ap;
	va_start(ap, arg0);
	for (const char *a = arg0; a != NULL && n < E2E_MAX_ARGS - 1; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execv(eml_test_bin(), argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	int64_t end = now_ms() + timeout_ms;
	int status = -1, done = 0;
	for (;;) {
		int64_t left = end - now_ms();
		if (left <= 0)
			break;
		struct pollfd p = {pfd[0], POLLIN, 0};
		int k = poll(&p, 1, (int)(left < 100 ? left : 100));
		if (k > 0) {
			char tmp[4096];
			ssize_t r = read(pfd[0], tmp, sizeof(tmp));
			if (r <= 0) {
				done = 1;
				break;
			}
			if (out != NULL && out_cap > 1) {
				size_t c = (size_t)r;
				if (c > out_cap - 1 - got)
					c = out_cap - 1 - got;
				memcpy(out + got, tmp, c);
				got += c;
			}
		}
	}
	close(pfd[0]);
	if (!done)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (out != NULL && out_cap > 0)
		out[got] = '\0';
	if (!done)
		return -2;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static int read_tree(const char *dir, eml_buf *b)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			read_tree(p, b);
		} else if (S_ISREG(st.st_mode)) {
			FILE *f = fopen(p, "rb");
			if (f == NULL)
				continue;
			char tmp[65536];
			size_t r;
			while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0)
				eml_buf_put(b, tmp, r);
			fclose(f);
			eml_buf_zero(b, EML_WINDOW);
		}
	}
	closedir(d);
	return 0;
}

int eml_e2e_read_tree(const char *dir, uint8_t **out, size_t *len)
{
	eml_buf b;
	eml_buf_init(&b, 0);
	read_tree(dir, &b);
	eml_buf_zero(&b, 1);
	if (eml_buf_error(&b) != 0) {
		eml_buf_cleanup(&b);
		return -1;
	}
	*out = eml_buf_take(&b, len);
	return 0;
}

int eml_e2e_read_process_memory(pid_t pid, uint8_t **out, size_t *len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *maps = fopen(path, "r");
	if (maps == NULL)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		fclose(maps);
		return -1;
	}
	eml_buf b;
	eml_buf_init(&b, 0);
	char line[1024];
	uint8_t *chunk = malloc(1 << 20);
	while (chunk != NULL && fgets(line, sizeof(line), maps) != NULL) {
		unsigned long long start, end;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 || perms[0] != 'r')
			continue;
		if (strstr(line, "[vvar]") != NULL || strstr(line, "[vsyscall]") != NULL)
			continue;
		/* Sanitizer builds reserve terabytes of shadow memory; no mapping of ours is near
		 * this size for the test models, so larger ones are skipped. */
		if (end - start > E2E_MAX_SCAN_MAPPING)
			continue;
		for (unsigned long long a = start; a < end;) {
			size_t want = (size_t)(end - a < (1u << 20) ? end - a : (1u << 20));
			ssize_t r = pread(mem, chunk, want, (off_t)a);
			if (r <= 0)
				break;
			eml_buf_put(&b, chunk, (size_t)r);
			a += (unsigned long long)r;
		}
		eml_buf_zero(&b, EML_WINDOW);
	}
	free(chunk);
	close(mem);
	fclose(maps);
	if (eml_buf_error(&b) != 0) {
		eml_buf_cleanup(&b);
		return -1;
	}
	*out = eml_buf_take(&b, len);
	return 0;
}

void eml_e2e_locate(pid_t pid, const eml_window_set *set, char *out, size_t cap)
{
	char path[64], line[1024];
	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int mem = open(path, O_RDONLY | O_CLOEXEC);
	while (maps != NULL && mem >= 0 && fgets(line, sizeof(line), maps) != NULL) {
		unsigned long long start, end;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 || perms[0] != 'r' ||
		    end - start > E2E_MAX_SCAN_MAPPING || strstr(line, "[vvar]") != NULL ||
		    strstr(line, "[vsyscall]") != NULL)
			continue;
		size_t n = (size_t)(end - start);
		uint8_t *b = malloc(n);
		if (b == NULL)
			continue;
		ssize_t r = pread(mem, b, n, (off_t)start);
		size_t off = 0;
		if (r > 0 && eml_window_set_find(set, b, (size_t)r, &off) >= 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, cap, "%s (+0x%zx)", line, off);
			free(b);
			break;
		}
		free(b);
	}
	if (mem >= 0)
		close(mem);
	if (maps != NULL)
		fclose(maps);
}
