/*
 * Einsum (ONNX opset 12+): explicit ("ij,jk->ik") and implicit ("ij,jk": the labels used once,
 * in alphabetical order) outputs, "..." broadcasting (right-aligned across operands, the ellipsis
 * dims lead an implicit output), repeated labels in one operand (diagonals) and labels summed
 * away. Computed as one loop over every label's range: output labels outer, summed labels inner;
 * each operand walks with the sum of its strides for each label. Real types in double.
 */
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

#define EIN_MAX_OPS 8
#define EIN_LETTERS 52
#define EIN_MAX_LABELS (EIN_LETTERS + EML_MAX_RANK)
#define EIN_EQ_MAX 256

typedef struct ein_state {
	uint32_t n_ops;
	uint32_t n_lab;     /* labels in loop order: output ones first */
	uint32_t n_out_lab; /* of which the first n_out_lab index the output */
	int64_t size[EIN_MAX_LABELS];
	int64_t st[EIN_MAX_OPS][EIN_MAX_LABELS]; /* element stride of each operand per label */
} ein_state;

static int letter_id(char ch)
{
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a';
	if (ch >= 'A' && ch <= 'Z')
		return 26 + ch - 'A';
	return -1;
}

/* Parse one term into label ids (ellipsis expanded later): ell_at = position of "..." or -1. */
static int parse_term(const char *t, size_t len, int *ids, uint32_t *n, int *ell_at)
{
	*n = 0;
	*ell_at = -1;
	for (size_t i = 0; i < len; i++) {
		char ch = t[i];
		if (ch == ' ')
			continue;
		if (ch == '.') {
			if (i + 2 >= len || t[i + 1] != '.' || t[i + 2] != '.' || *ell_at >= 0)
				return EML_E_ENGINE_SHAPE;
			*ell_at = (int)*n;
			i += 2;
			continue;
		}
		int id = letter_id(ch);
		if (id < 0 || *n >= EML_MAX_RANK)
			return EML_E_ENGINE_SHAPE;
		ids[(*n)++] = id;
	}
	return EML_OK;
}

static int ein_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	ein_state *s;
	char eq[EIN_EQ_MAX];
	EML_ENSURE(c->n_in >= 1 && c->n_in <= EIN_MAX_OPS && c->out[0], EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_attr_s_copy(c->node, "equation", eq, sizeof(eq)) == 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	int32_t dt = c->in[0]->dtype;
	for (uint32_t k = 0; k < c->n_in; k++)
		EML_ENSURE(c->in[k] != NULL && c->in[k]->dtype == dt, EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_dt_is_real(dt) || dt == EML_DT_INT32 || dt == EML_DT_INT64,
	           EML_E_ENGINE_SHAPE);
	const char *arrow = strstr(eq, "->");
	size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
	/* per operand: label id of each dim (ellipsis dims get EIN_LETTERS + position) */
	int lab[EIN_MAX_OPS][EML_MAX_RANK];
	int64_t size[EIN_MAX_LABELS];
	int count[EIN_MAX_LABELS] = {0};
	for (int i = 0; i < EIN_MAX_LABELS; i++)
		size[i] = -1;
	uint32_t ell_rank = 0;
	const char *p = eq;
	for (uint32_t k = 0; k < c->n_in; k++) {
		const char *e = memchr(p, ',', lhs_len - (size_t)(p - eq));
		size_t len = e ? (size_t)(e - p) : lhs_len - (size_t)(p - eq);
		EML_ENSURE((e != NULL) == (k + 1 < c->n_in), EML_E_ENGINE_SHAPE);
		int ids[EML_MAX_RANK], ell;
		uint32_t n;
		EML_GUARD(parse_term(p, len, ids, &n, &ell));
		const eml_rt *t = c->in[k];
		EML_ENSURE(ell >= 0 ? t->rank >= n : t->rank == n, EML_E_ENGINE_SHAPE);
		uint32_t ne = ell >= 0 ? t->rank - n : 0;
		if (ne > ell_rank)
			ell_rank = ne;
		uint32_t d = 0;
		for (uint32_t i = 0; i <= n; i++) {
			if ((int)i == ell)
				for (uint32_t q = 0; q < ne; q++, d++)
					lab[k][d] = -1 - (int)(ne - q); /* fixed up below */
			if (i < n)
				lab[k][d++] = ids[i];
		}
		p += len + (e ? 1 : 0);
	}
	/* ellipsis dims right-aligned: -1-j (j from the right, 1-based) -> EIN_LETTERS + E - j */
	for (uint32_t k = 0; k < c->n_in; k++)
		for (uint32_t d = 0; d < c->in[k]->rank; d++) {
			if (lab[k][d] < 0)
				lab[k][d] = EIN_LETTERS + (int)ell_rank + lab[k][d] + 1;
			int l = lab[k][d];
			int64_t dim = c->in[k]->dims[d];
			count[l]++;
			if (size[l] < 0 || size[l] == 1)
				size[l] = dim;
			else
				EML_ENSURE(dim == size[l] || (l >= EIN_LETTERS && dim == 1),
				           EML_E_ENGINE_SHAPE);
		}
	/* output labels */
	int olab[EIN_MAX_LABELS];
	uint32_t no = 0;
	if (arrow != NULL) {
		int ids[EML_MAX_RANK], ell;
		uint32_t n;
		EML_GUARD(parse_term(arrow + 2, strlen(arrow + 2), ids, &n, &ell));
		for (uint32_t i = 0; i <= n; i++) {
			if ((int)i == ell)
				for (uint32_t q = 0; q < ell_rank; q++)
					olab[no++] = EIN_LETTERS + (int)q;
			if (i < n) {
				EML_ENSURE(count[ids[i]] > 0, EML_E_ENGINE_SHAPE);
				for (uint32_t j = 0; j < no; j++)
					EML_ENSURE(olab[j] != ids[i], EML_E_ENGINE_SHAPE);
				olab[no++] = ids[i];
			}
		}
		/* without "..." in the output the ellipsis dims are summed */
	} else {
		for (uint32_t q = 0; q < ell_rank; q++)
			olab[no++] = EIN_LETTERS + (int)q;
		for (int l = 0; l < EIN_LETTERS; l++)
			if (count[l] == 1)
				olab[no++] = l;
	}
	EML_ENSURE(no <= EML_MAX_RANK, EML_E_ENGINE_SHAPE);
	/* loop order: output labels, then every other used label */
	int order[EIN_MAX_LABELS];
	uint32_t nl = 0;
	for (uint32_t i = 0; i < no; i++)
		order[nl++] = olab[i];
	for (int l = 0; l < EIN_MAX_LABELS; l++) {
		if (count[l] == 0)
			continue;
		int in_out = 0;
		for (uint32_t i = 0; i < no; i++)
			in_out |= olab[i] == l;
		if (!in_out)
			order[nl++] = l;
	}
	s->n_ops = c->n_in;
	s->n_lab = nl;
	s->n_out_lab = no;
	int64_t od[EML_MAX_RANK];
	for (uint32_t i = 0; i < nl; i++) {
		s->size[i] = size[order[i]] < 0 ? 1 : size[order[i]];
		if (i < no)
			od[i] = s->size[i];
	}
	for (uint32_t k = 0; k < c->n_in; k++) {
		const eml_rt *t = c->in[k];
		int64_t stride = 1;
		for (int d = (int)t->rank - 1; d >= 0; d--) {
			for (uint32_t i = 0; i < nl; i++)
				if (order[i] == lab[k][d] && t->dims[d] != 1)
					s->st[k][i] += stride; /* repeated label: a diagonal */
			stride *= t->dims[d];
		}
	}
	EML_GUARD(eml_rt_set(c->out[0], dt, no, od));
out:
	return rc;
}

static int ein_run(eml_op_ctx *c)
{
	const ein_state *s = c->state;
	eml_rt *Y = c->out[0];
	int32_t dt = Y->dtype;
	int real = eml_dt_is_real(dt);
	uint32_t no = s->n_out_lab, nl = s->n_lab;
	uint64_t inner = 1;
	for (uint32_t i = no; i < nl; i++)
		inner *= (uint64_t)s->size[i];
	for (uint64_t o = 0; o < Y->elems; o++) {
		/* the operands' offsets at this output index */
		int64_t base[EIN_MAX_OPS] = {0}, off[EIN_MAX_OPS], idx[EIN_MAX_LABELS] = {0};
		uint64_t rem = o;
		for (int l = (int)no - 1; l >= 0; l--) {
			int64_t v = (int64_t)(rem % (uint64_t)s->size[l]);
			rem /= (uint64_t)s->size[l];
			for (uint32_t k = 0; k < s->n_ops; k++)
				base[k] += v * s->st[k][l];
		}
		memcpy(off, base, sizeof(off));
		double acc = 0;
		int64_t iacc = 0;
		for (uint64_t r = 0; r < inner; r++) {
			double pf = 1;
			int64_t pi = 1;
			for (uint32_t k = 0; k < s->n_ops; k++) {
				if (real)
					pf *= eml_ld_f(c->in[k]->data, dt, (size_t)off[k]);
				else
					pi *= eml_ld_i(c->in[k]->data, dt, (size_t)off[k]);
			}
			acc += pf;
			iacc += pi;
			for (int l = (int)nl - 1; l >= (int)no; l--) {
				idx[l]++;
				for (uint32_t k = 0; k < s->n_ops; k++)
					off[k] += s->st[k][l];
				if (idx[l] < s->size[l])
					break;
				for (uint32_t k = 0; k < s->n_ops; k++)
					off[k] -= s->st[k][l] * s->size[l];
				idx[l] = 0;
			}
		}
		if (real)
			eml_st_f(Y->data, dt, o, acc);
		else
			eml_st_i(Y->data, dt, o, iacc);
	}
	return EML_OK;
}

const eml_op_def eml_op_einsum = {"Einsum", 12, 18, ein_prep, ein_run, NULL, NULL};
