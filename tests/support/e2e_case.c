#include "e2e_case.h"

#include <criterion/criterion.h>
#include <string.h>

#include "common/file.h"
#include "common/mem.h"
#include "crypto/hash.h"
#include "topo/topo.h"

const char *eml_needle_name(int t)
{
	switch (t) {
	case EML_NEEDLE_INPUT:
		return "input";
	case EML_NEEDLE_OUTPUT:
		return "output";
	case EML_NEEDLE_TKEY:
		return "topology key";
	case EML_NEEDLE_WEIGHTS:
		return "weights";
	default:
		return "nothing";
	}
}

static eml_window_set *binary_windows(void)
{
	static eml_window_set *bin;
	if (bin == NULL) {
		uint8_t *b;
		size_t n;
		bin = eml_window_set_new();
		if (eml_file_read(eml_test_bin(), (size_t)1 << 30, &b, &n) == EML_OK) {
			/* The vocabulary is text: only windows of printable characters (and NUL
			 * terminators) are taken, which keeps the set small for large binaries. */
			size_t run = 0;
			for (size_t i = 0; i < n; i++) {
				run = (b[i] == 0 || (b[i] >= 0x20 && b[i] < 0x7f)) ? run + 1 : 0;
				if (run >= EML_WINDOW)
					eml_window_set_add(bin, b + i + 1 - EML_WINDOW, EML_WINDOW,
					                   0);
			}
			eml_free(b);
		}
	}
	return bin;
}

void eml_tkey_secret_windows(eml_window_set *set, const uint8_t *tkey, size_t tkey_len,
                             const uint8_t *blob, size_t blob_len, int tag)
{
	eml_window_set *pub = eml_window_set_new();
	uint8_t digest[32];
	eml_window_set_add(pub, blob, blob_len, 0);
	if (eml_sha256(blob, blob_len, digest) == EML_OK)
		eml_window_set_add(pub, digest, sizeof(digest), 0);
	uint8_t *covered = eml_calloc(tkey_len + 1, 1);
	for (size_t i = 0; i + EML_WINDOW <= tkey_len; i++)
		if (eml_window_set_find(pub, tkey + i, EML_WINDOW, NULL) >= 0 ||
		    eml_window_set_find(binary_windows(), tkey + i, EML_WINDOW, NULL) >= 0)
			memset(covered + i, 1, EML_WINDOW);
	for (size_t i = 0; i + EML_WINDOW <= tkey_len; i++) {
		int open = 0;
		for (int k = 0; k < EML_WINDOW; k++)
			open += !covered[i + (size_t)k];
		if (open >= EML_WINDOW / 2)
			eml_window_set_add(set, tkey + i, EML_WINDOW, tag);
	}
	eml_free(covered);
	eml_window_set_free(pub);
}

int eml_case_new(eml_rng *rng, int max_layers, eml_case *c)
{
	memset(c, 0, sizeof(*c));
	eml_gen_opts go = {.max_layers = max_layers};
	if (eml_gen_model_ir(rng, &go, &c->model, &c->info) != EML_OK)
		return -1;
	c->keep_names = (int)eml_rng_below(rng, 2);
	eml_decompose_opts d = {.keep_io_names = c->keep_names};
	if (eml_topo_decompose(c->model, &d, &c->tkey, &c->tkey_len, &c->blob, &c->blob_len) !=
	    EML_OK)
		return -1;
	c->weights = eml_window_set_new();
	c->tkey_secret = eml_window_set_new();
	c->inputs = eml_window_set_new();
	c->outputs = eml_window_set_new();
	const eml_model *m = c->model;
	for (uint32_t i = 0; i < m->n_tensors; i++)
		eml_window_set_add(c->weights, m->data + m->tensors[i].offset,
		                   (size_t)m->tensors[i].length, EML_NEEDLE_WEIGHTS);
	eml_tkey_secret_windows(c->tkey_secret, c->tkey, c->tkey_len, c->blob, c->blob_len,
	                        EML_NEEDLE_TKEY);
	for (uint32_t i = 0; i < c->info.n_inputs && i < 4; i++) {
		const eml_gen_input *gi = &c->info.inputs[i];
		uint64_t n = 1;
		for (uint32_t k = 0; k < gi->rank; k++)
			n *= (uint64_t)gi->dims[k];
		c->data[i] = eml_alloc(n * 4 + 4);
		for (uint64_t k = 0; k < n; k++)
			c->data[i][k] = eml_rng_normal(rng);
		eml_window_set_add(c->inputs, (uint8_t *)c->data[i], n * 4, EML_NEEDLE_INPUT);
		c->in[i] = (eml_client_tensor){.name = c->keep_names ? gi->name : NULL,
		                               .dtype = gi->dtype,
		                               .rank = gi->rank,
		                               .data = c->data[i],
		                               .bytes = n * 4};
		memcpy(c->in[i].dims, gi->dims, sizeof(gi->dims));
	}
	return 0;
}

void eml_case_add_outputs(eml_case *c, const eml_client_result *r)
{
	for (size_t i = 0; i < eml_client_result_count(r); i++) {
		const eml_client_tensor *t = eml_client_result_tensor(r, i);
		eml_window_set_add(c->outputs, t->data, (size_t)t->bytes, EML_NEEDLE_OUTPUT);
	}
}

int eml_case_find(const eml_case *c, const uint8_t *hay, size_t len)
{
	const eml_window_set *sets[4] = {c->weights, c->tkey_secret, c->inputs, c->outputs};
	for (int i = 0; i < 4; i++) {
		int t = eml_window_set_find(sets[i], hay, len, NULL);
		if (t >= 0)
			return t;
	}
	return -1;
}

void eml_case_free(eml_case *c)
{
	eml_model_free(c->model);
	eml_free(c->tkey);
	eml_free(c->blob);
	for (int i = 0; i < 4; i++)
		eml_free(c->data[i]);
	eml_window_set_free(c->weights);
	eml_window_set_free(c->tkey_secret);
	eml_window_set_free(c->inputs);
	eml_window_set_free(c->outputs);
	memset(c, 0, sizeof(*c));
}
