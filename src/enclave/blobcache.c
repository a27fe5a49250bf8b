#include "enclave/blobcache.h"

#include <pthread.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"

struct eml_blobcache_ref {
	struct eml_blobcache_ref *next; /* list of live entries (NULL once unlinked) */
	uint8_t id[EML_BLOBCACHE_ID_LEN];
	uint8_t digest[EML_BLOBCACHE_DIGEST_LEN];
	uint8_t *data;
	size_t len;
	uint32_t refs;
	uint64_t last_use;
	int linked; /* 0: evicted or replaced; freed at the last release */
};

struct eml_blobcache {
	pthread_mutex_t mu;
	eml_blobcache_ref *head;
	uint64_t max_bytes, bytes, tick;
	size_t entries;
};

static void entry_free(eml_blobcache_ref *r)
{
	/* Ciphertext is public; eml_free wipes anyway, as for every heap block. */
	eml_free(r->data);
	eml_free(r);
}

static void unlink_entry(eml_blobcache *c, eml_blobcache_ref *r)
{
	for (eml_blobcache_ref **pp = &c->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->next = NULL;
	r->linked = 0;
	c->bytes -= r->len;
	c->entries--;
}

int eml_blobcache_new(uint64_t max_bytes, eml_blobcache **out)
{
	eml_blobcache *c = eml_calloc(1, sizeof(*c));
	if (c == NULL)
		return EML_E_NOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		eml_free(c);
		return EML_E_NOMEM;
	}
	c->max_bytes = max_bytes;
	*out = c;
	return EML_OK;
}

void eml_blobcache_free(eml_blobcache *c)
{
	if (c == NULL)
		return;
	while (c->head != NULL) {
		eml_blobcache_ref *r = c->head;
		c->head = r->next;
		entry_free(r);
	}
	pthread_mutex_destroy(&c->mu);
	eml_free(c);
}

eml_blobcache_ref *eml_blobcache_get(eml_blobcache *c, const uint8_t id[EML_BLOBCACHE_ID_LEN],
                                     const uint8_t digest[EML_BLOBCACHE_DIGEST_LEN])
{
	eml_blobcache_ref *found = NULL;
	if (c == NULL)
		return NULL;
	pthread_mutex_lock(&c->mu);
	for (eml_blobcache_ref *r = c->head; r != NULL; r = r->next) {
		/* Digests and ids are public here; the constant-time compare costs nothing. */
		if (eml_ct_eq(r->id, id, EML_BLOBCACHE_ID_LEN) &&
		    eml_ct_eq(r->digest, digest, EML_BLOBCACHE_DIGEST_LEN)) {
			r->refs++;
			r->last_use = ++c->tick;
			found = r;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

/* Evict unreferenced entries, least recently used first, until `need` more bytes fit. */
static int make_room(eml_blobcache *c, uint64_t need)
{
	while (c->bytes + need > c->max_bytes) {
		eml_blobcache_ref *lru = NULL;
		for (eml_blobcache_ref *r = c->head; r != NULL; r = r->next)
			if (r->refs == 0 && (lru == NULL || r->last_use < lru->last_use))
				lru = r;
		if (lru == NULL)
			return 0;
		unlink_entry(c, lru);
		entry_free(lru);
	}
	return 1;
}

eml_blobcache_ref *eml_blobcache_put(eml_blobcache *c, const uint8_t id[EML_BLOBCACHE_ID_LEN],
                                     const uint8_t digest[EML_BLOBCACHE_DIGEST_LEN], uint8_t **blob,
                                     size_t len)
{
	if (c == NULL || blob == NULL || *blob == NULL || len > c->max_bytes)
		return NULL;
	eml_blobcache_ref *n = eml_calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	memcpy(n->id, id, EML_BLOBCACHE_ID_LEN);
	memcpy(n->digest, digest, EML_BLOBCACHE_DIGEST_LEN);
	pthread_mutex_lock(&c->mu);
	/* Older versions of this model go first (a new key pins a new digest), unless in use; an
	 * identical entry inserted meanwhile by a concurrent request is simply kept. */
	for (eml_blobcache_ref *r = c->head, *nx; r != NULL; r = nx) {
		nx = r->next;
		if (!eml_ct_eq(r->id, id, EML_BLOBCACHE_ID_LEN))
			continue;
		if (eml_ct_eq(r->digest, digest, EML_BLOBCACHE_DIGEST_LEN)) {
			r->refs++;
			r->last_use = ++c->tick;
			pthread_mutex_unlock(&c->mu);
			eml_free(n);
			eml_free(*blob); /* the same bytes are already held */
			*blob = NULL;
			return r;
		}
		if (r->refs == 0) {
			unlink_entry(c, r);
			entry_free(r);
		}
	}
	if (!make_room(c, len)) {
		pthread_mutex_unlock(&c->mu);
		eml_free(n);
		return NULL;
	}
	n->data = *blob;
	*blob = NULL;
	n->len = len;
	n->refs = 1;
	n->last_use = ++c->tick;
	n->linked = 1;
	n->next = c->head;
	c->head = n;
	c->bytes += len;
	c->entries++;
	pthread_mutex_unlock(&c->mu);
	return n;
}

const uint8_t *eml_blobcache_ref_data(const eml_blobcache_ref *r, size_t *len)
{
	*len = r->len;
	return r->data;
}

const uint8_t *eml_blobcache_ref_digest(const eml_blobcache_ref *r)
{
	return r->digest;
}

void eml_blobcache_release(eml_blobcache *c, eml_blobcache_ref *r)
{
	if (c == NULL || r == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	int dead = --r->refs == 0 && !r->linked;
	pthread_mutex_unlock(&c->mu);
	if (dead)
		entry_free(r);
}

uint64_t eml_blobcache_bytes(eml_blobcache *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t b = c->bytes;
	pthread_mutex_unlock(&c->mu);
	return b;
}

size_t eml_blobcache_entries(eml_blobcache *c)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->entries;
	pthread_mutex_unlock(&c->mu);
	return n;
}
