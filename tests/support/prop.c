#include "prop.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/file.h"
#include "common/mem.h"
#include "eml/error.h"

uint64_t eml_prop_seed_cur;

const char *eml_prop_msg(const char *fmt, ...)
{
	static __thread char buf[2048];
	int n = snprintf(buf, sizeof(buf), "[replay: EML_PROP_SEED=%llu, case %d] ",
	                 (unsigned long long)eml_prop_seed_cur, eml_prop_case_cur);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return buf;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}
int eml_prop_case_cur;

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void eml_rng_seed(eml_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t eml_rng_u64(eml_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t eml_rng_below(eml_rng *r, uint64_t n)
{
	if (n == 0)
		return 0;
	uint64_t lim = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = eml_rng_u64(r);
	while (x >= lim);
	return x % n;
}

int64_t eml_rng_range(eml_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)eml_rng_below(r, (uint64_t)(hi - lo) + 1);
}

float eml_rng_float(eml_rng *r, float lo, float hi)
{
	double u = (double)(eml_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
	return (float)(lo + (hi - lo) * u);
}

float eml_rng_normal(eml_rng *r)
{
	double u1 = ((double)(eml_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
	double u2 = (double)(eml_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
	return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void eml_rng_bytes(eml_rng *r, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		uint64_t x = eml_rng_u64(r);
		size_t k = n < 8 ? n : 8;
		memcpy(p, &x, k);
		p += k;
		n -= k;
	}
}

int eml_rng_chance(eml_rng *r, double p)
{
	return (double)(eml_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0) < p;
}

uint64_t eml_prop_base_seed(void)
{
	static uint64_t seed;
	static int have;
	if (have)
		return seed;
	const char *e = getenv("EML_PROP_SEED");
	if (e != NULL && *e != '\0') {
		seed = strtoull(e, NULL, 0);
	} else if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		seed = (uint64_t)getpid() * 2654435761u;
	}
	have = 1;
	return seed;
}

int eml_prop_iters(void)
{
	const char *e = getenv("EML_PROP_ITERS");
	if (e != NULL && *e != '\0') {
		long n = strtol(e, NULL, 10);
		if (n > 0)
			return (int)n;
	}
	return 100;
}

int eml_window_distinctive(const uint8_t *w)
{
	uint8_t seen[256] = {0};
	int distinct = 0;
	for (int i = 0; i < EML_WINDOW; i++) {
		if (!seen[w[i]]) {
			seen[w[i]] = 1;
			distinct++;
		}
	}
	return distinct >= 8;
}

int eml_find_distinctive_window(const uint8_t *hay, size_t hay_len, const uint8_t *needle,
                                size_t needle_len, size_t *hay_off, size_t *needle_off)
{
	if (needle_len < EML_WINDOW || hay_len < EML_WINDOW)
		return 0;
	for (size_t i = 0; i + EML_WINDOW <= needle_len; i++) {
		if (!eml_window_distinctive(needle + i))
			continue;
		const uint8_t *hit = memmem(hay, hay_len, needle + i, EML_WINDOW);
		if (hit != NULL) {
			if (hay_off != NULL)
				*hay_off = (size_t)(hit - hay);
			if (needle_off != NULL)
				*needle_off = i;
			return 1;
		}
	}
	return 0;
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *e = getenv(name);
	return e != NULL && *e != '\0' ? e : dflt;
}

const char *eml_test_source_dir(void)
{
	return env_or("EML_SOURCE_DIR", ".");
}

const char *eml_test_vectors_dir(void)
{
	static char buf[4096];
	const char *e = getenv("EML_VECTORS");
	if (e != NULL && *e != '\0')
		return e;
	snprintf(buf, sizeof(buf), "%s/../shared/vectors", eml_test_source_dir());
	return buf;
}

const char *eml_test_cache_dir(void)
{
	static char buf[4096];
	const char *e = getenv("EML_CACHE");
	if (e != NULL && *e != '\0')
		return e;
	const char *x = getenv("XDG_CACHE_HOME");
	if (x != NULL && *x != '\0')
		snprintf(buf, sizeof(buf), "%s/eml", x);
	else
		snprintf(buf, sizeof(buf), "%s/.cache/eml", env_or("HOME", "/tmp"));
	return buf;
}

const char *eml_test_bin(void)
{
	static char buf[4096];
	const char *e = getenv("EML_BIN");
	if (e != NULL && *e != '\0')
		return e;
	/* Test binaries live next to eml in the build folder. */
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 8);
	if (n > 0) {
		buf[n] = '\0';
		char *slash = strrchr(buf, '/');
		if (slash != NULL) {
			strcpy(slash + 1, "eml");
			return buf;
		}
	}
	return "eml";
}

char *eml_test_tmpdir(void)
{
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/eml-test-XXXXXX", env_or("TMPDIR", "/tmp"));
	char *d = mkdtemp(tmpl);
	return d != NULL ? strdup(d) : NULL;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

void eml_test_rmtree(const char *path)
{
	if (path != NULL)
		nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Open addressing on the first 8 bytes of each window; collisions resolved by a full compare. */
struct eml_window_set {
	uint8_t (*win)[EML_WINDOW];
	int *tag;
	uint32_t *slot; /* 0 = empty, else index + 1 into win */
	size_t n, cap, slots;
};

eml_window_set *eml_window_set_new(void)
{
	return calloc(1, sizeof(eml_window_set));
}

static uint64_t win_hash(const uint8_t *w)
{
	uint64_t k;
	memcpy(&k, w, 8);
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

static void ws_rehash(eml_window_set *s, size_t slots)
{
	free(s->slot);
	s->slot = calloc(slots, sizeof(uint32_t));
	s->slots = slots;
	for (size_t i = 0; i < s->n; i++) {
		size_t h = win_hash(s->win[i]) & (slots - 1);
		while (s->slot[h] != 0)
			h = (h + 1) & (slots - 1);
		s->slot[h] = (uint32_t)(i + 1);
	}
}

void eml_window_set_add(eml_window_set *s, const uint8_t *needle, size_t len, int tag)
{
	for (size_t i = 0; i + EML_WINDOW <= len; i++) {
		if (!eml_window_distinctive(needle + i))
			continue;
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 1024;
			s->win = realloc(s->win, s->cap * EML_WINDOW);
			s->tag = realloc(s->tag, s->cap * sizeof(int));
		}
		memcpy(s->win[s->n], needle + i, EML_WINDOW);
		s->tag[s->n] = tag;
		s->n++;
		if (s->n * 2 > s->slots)
			ws_rehash(s, s->slots ? s->slots * 2 : 4096);
		else {
			size_t h = win_hash(needle + i) & (s->slots - 1);
			while (s->slot[h] != 0)
				h = (h + 1) & (s->slots - 1);
			s->slot[h] = (uint32_t)s->n;
		}
	}
}

int eml_window_set_find(const eml_window_set *s, const uint8_t *hay, size_t len, size_t *off)
{
	if (s->n == 0)
		return -1;
	for (size_t i = 0; i + EML_WINDOW <= len; i++) {
		size_t h = win_hash(hay + i) & (s->slots - 1);
		while (s->slot[h] != 0) {
			size_t k = s->slot[h] - 1;
			if (memcmp(s->win[k], hay + i, EML_WINDOW) == 0) {
				if (off != NULL)
					*off = i;
				return s->tag[k];
			}
			h = (h + 1) & (s->slots - 1);
		}
	}
	return -1;
}

size_t eml_window_set_count(const eml_window_set *s)
{
	return s->n;
}

void eml_window_set_free(eml_window_set *s)
{
	if (s == NULL)
		return;
	free(s->win);
	free(s->tag);
	free(s->slot);
	free(s);
}

void eml_test_pathf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "path too long: %s\n", fmt);
		abort();
	}
}

int eml_test_run_proc(char *const argv[], const char *node_path, const char *out_file,
                      const char *err_file)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (node_path != NULL)
			setenv("NODE_PATH", node_path, 1);
		int o = open(out_file ? out_file : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_file ? err_file : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (o >= 0)
			dup2(o, 1);
		if (e >= 0)
			dup2(e, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

char *eml_test_slurp_text(const char *path)
{
	uint8_t *b = NULL;
	size_t n = 0;
	if (eml_file_read(path, 1 << 20, &b, &n) != EML_OK)
		return strdup("");
	char *s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, b, n);
		s[n] = '\0';
	}
	eml_free(b);
	return s;
}

int eml_test_isa_supported(const char *isa)
{
	if (strcmp(isa, "generic") == 0 || strcmp(isa, "dispatch") == 0)
		return 1;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (strcmp(isa, "avx2") == 0)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	if (strcmp(isa, "avx512") == 0)
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#endif
	return 0;
}

double eml_test_gelu_ref(double v, int tanh_form)
{
	if (tanh_form)
		return 0.5 * v *
		       (1 + tanh(sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
	return 0.5 * v * (1 + erf(v / sqrt(2.0)));
}
