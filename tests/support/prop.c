#include "prop.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

uint64_t eml_prop_seed_cur;
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
