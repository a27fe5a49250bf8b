/*
 * Data-movement and shape operators (ONNX operator docs, opsets 7-20): Identity, Dropout
 * (inference), Reshape, Flatten, Squeeze, Unsqueeze (these four are views: the output shares the
 * input's arena bytes), Shape, Size, Constant, ConstantOfShape, Concat, Gather, Slice, Split,
 * Transpose, Expand, Pad (mode "wrap" from opset 19). The opset-19/20 versions of Identity,
 * Reshape, Shape, Size, Constant and ConstantOfShape only add float8/bfloat16 types, which the
 * loader refuses (docs/DECISIONS.md).
 */
#include <string.h>

#include "common/guard.h"
#include "common/mem.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

/* ----- strided copy: dst is dense in `dims`; src element at sum(idx[d]*st[d]) + base ----- */

static void strided_copy(uint8_t *dst, const uint8_t *src, size_t es, uint32_t rank,
                         const int64_t *dims, const int64_t *st, int64_t base)
{
	uint64_t total = 1;
	for (uint32_t d = 0; d < rank; d++)
		total *= (uint64_t)dims[d];
	if (total == 0)
		return;
	if (rank == 0) {
		memcpy(dst, src + base * (int64_t)es, es);
		return;
	}
	int64_t n = dims[rank - 1], inner = st[rank - 1];
	int64_t idx[EML_MAX_RANK] = {0};
	int64_t off = base;
	uint64_t rows = total / (uint64_t)n;
	for (uint64_t r = 0; r < rows; r++) {
		if (inner == 1) {
			memcpy(dst, src + off * (int64_t)es, (size_t)n * es);
		} else if (es == 4) {
			const uint32_t *s4 = (const uint32_t *)src + off;
			uint32_t *d4 = (uint32_t *)dst;
			for (int64_t i = 0; i < n; i++)
				d4[i] = s4[i * inner];
		} else {
			for (int64_t i = 0; i < n; i++)
				memcpy(dst + (size_t)i * es, src + (off + i * inner) * (int64_t)es,
				       es);
		}
		dst += (size_t)n * es;
		for (int d = (int)rank - 2; d >= 0; d--) {
			idx[d]++;
			off += st[d];
			if (idx[d] < dims[d])
				break;
			off -= st[d] * idx[d];
			idx[d] = 0;
		}
	}
}

static void dense_strides(uint32_t rank, const int64_t *dims, int64_t *st)
{
	int64_t s = 1;
	for (int d = (int)rank - 1; d >= 0; d--) {
		st[d] = s;
		s *= dims[d];
	}
}

/* ----- views: Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze ----- */

static int copy_run(eml_op_ctx *c)
{
	if (c->out[0]->data != c->in[0]->data && c->in[0]->bytes)
		memcpy(c->out[0]->data, c->in[0]->data, c->in[0]->bytes);
	/* Dropout's optional mask: all true at inference */
	if (c->n_out > 1 && c->out[1] != NULL)
		memset(c->out[1]->data, 1, c->out[1]->bytes);
	return EML_OK;
}

static int view_set(eml_op_ctx *c, uint32_t rank, const int64_t *dims)
{
	int rc = eml_rt_set(c->out[0], c->in[0]->dtype, rank, dims);
	if (rc == EML_OK && c->out[0]->elems != c->in[0]->elems)
		rc = EML_E_ENGINE_SHAPE;
	c->alias_out0 = 1;
	return rc;
}

static int identity_prep(eml_op_ctx *c)
{
	if (c->n_in < 1 || c->in[0] == NULL || c->n_out < 1 || c->out[0] == NULL)
		return EML_E_ENGINE_SHAPE;
	return view_set(c, c->in[0]->rank, c->in[0]->dims);
}

/*
 * Dropout in training mode (opset 12+, training_mode true): mask = U[0,1) >= ratio, y = x * mask /
 * (1 - ratio). With a `seed` attribute the uniforms are those of the ONNX reference (NumPy's legacy
 * MT19937 seeded with `seed`, 53-bit doubles), so results are reproducible; without one the model
 * asks for randomness the engine does not provide, and it is refused.
 */
typedef struct dropout_state {
	int training;
	float ratio;
	uint32_t seed;
} dropout_state;

/* MT19937 (Matsumoto & Nishimura 1998), init_genrand seeding as NumPy's RandomState(int). */
typedef struct mt19937 {
	uint32_t mt[624];
	int i;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t s)
{
	m->mt[0] = s;
	for (int i = 1; i < 624; i++)
		m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
	m->i = 624;
}

static uint32_t mt_next(mt19937 *m)
{
	if (m->i >= 624) {
		for (int k = 0; k < 624; k++) {
			uint32_t y =
			    (m->mt[k] & 0x80000000u) | (m->mt[(k + 1) % 624] & 0x7fffffffu);
			m->mt[k] =
			    m->mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
		}
		m->i = 0;
	}
	uint32_t y = m->mt[m->i++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

static double mt_double(mt19937 *m)
{
	uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
	return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

static int dropout_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	dropout_state *s;
	EML_ENSURE(c->n_in >= 1 && c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	/* opset 12+: ratio and training_mode inputs (known: the plan is per request) */
	if (c->n_in >= 3 && c->in[2] != NULL) {
		EML_ENSURE(eml_rt_known(c->in[2]) && c->in[2]->elems == 1, EML_E_UNSUPPORTED);
		s->training = eml_rt_get_i(c->in[2], 0) != 0;
	}
	s->ratio = 0.5f;
	if (s->training && c->n_in >= 2 && c->in[1] != NULL) {
		EML_ENSURE(eml_rt_known(c->in[1]) && c->in[1]->elems == 1, EML_E_UNSUPPORTED);
		s->ratio = (float)eml_rt_get_f(c->in[1], 0);
	}
	if (s->training && s->ratio == 0.0f)
		s->training = 0; /* the identity */
	if (s->training) {
		EML_ENSURE(s->ratio > 0.0f && s->ratio < 1.0f, EML_E_ENGINE_SHAPE);
		EML_ENSURE(c->in[0]->dtype == EML_DT_FLOAT, EML_E_UNSUPPORTED);
		const eml_attr *sd = eml_node_attr(c->node, "seed");
		EML_ENSURE(sd != NULL && sd->type == EML_ATTR_INT, EML_E_UNSUPPORTED);
		s->seed = (uint32_t)sd->i;
		EML_GUARD(eml_rt_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims));
		c->scratch_bytes = sizeof(mt19937);
	} else {
		EML_GUARD(view_set(c, c->in[0]->rank, c->in[0]->dims));
	}
	if (c->n_out > 1 && c->out[1] != NULL)
		EML_GUARD(eml_rt_set(c->out[1], EML_DT_BOOL, c->in[0]->rank, c->in[0]->dims));
out:
	return rc;
}

static int dropout_run(eml_op_ctx *c)
{
	const dropout_state *s = c->state;
	if (!s->training)
		return copy_run(c);
	mt19937 *mt = c->scratch;
	mt_seed(mt, s->seed);
	const float *x = c->in[0]->data;
	float *y = c->out[0]->data;
	uint8_t *mask = (c->n_out > 1 && c->out[1] != NULL) ? c->out[1]->data : NULL;
	float scale = 1.0f / (1.0f - s->ratio);
	for (uint64_t i = 0; i < c->in[0]->elems; i++) {
		int keep = mt_double(mt) >= (double)s->ratio;
		y[i] = keep ? x[i] * scale : 0.0f;
		if (mask != NULL)
			mask[i] = (uint8_t)keep;
	}
	return EML_OK;
}

static int reshape_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	int64_t sh[EML_MAX_RANK];
	size_t n = 0;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	if (c->opset < 5) {
		uint32_t cnt;
		const int64_t *a = eml_attr_ints(c->node, "shape", &cnt);
		EML_ENSURE(a != NULL && cnt <= EML_MAX_RANK, EML_E_ENGINE_SHAPE);
		memcpy(sh, a, cnt * sizeof(int64_t));
		n = cnt;
	} else {
		EML_ENSURE(c->n_in >= 2 && c->in[1] != NULL, EML_E_ENGINE_SHAPE);
		EML_GUARD(eml_rt_ints(c->in[1], sh, EML_MAX_RANK, &n));
	}
	int allowzero = (int)eml_attr_i(c->node, "allowzero", 0);
	int neg = -1;
	uint64_t known = 1;
	for (size_t i = 0; i < n; i++) {
		if (sh[i] == 0 && !allowzero) {
			EML_ENSURE(i < c->in[0]->rank, EML_E_ENGINE_SHAPE);
			sh[i] = c->in[0]->dims[i];
		}
		if (sh[i] == -1) {
			EML_ENSURE(neg < 0, EML_E_ENGINE_SHAPE);
			neg = (int)i;
			continue;
		}
		EML_ENSURE(sh[i] >= 0 && sh[i] <= EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
		known *= (uint64_t)sh[i];
		EML_ENSURE(known <= EML_MAX_TENSOR_ELEMS, EML_E_ENGINE_SHAPE);
	}
	if (neg >= 0) {
		EML_ENSURE(known != 0 && c->in[0]->elems % known == 0, EML_E_ENGINE_SHAPE);
		sh[neg] = (int64_t)(c->in[0]->elems / known);
	}
	EML_GUARD(view_set(c, (uint32_t)n, sh));
out:
	return rc;
}

static int flatten_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	uint32_t r = c->in[0]->rank;
	int64_t ax = eml_attr_i(c->node, "axis", 1);
	if (ax < 0)
		ax += r;
	EML_ENSURE(ax >= 0 && ax <= (int64_t)r, EML_E_ENGINE_SHAPE);
	int64_t d[2] = {1, 1};
	for (uint32_t i = 0; i < r; i++)
		d[(int64_t)i < ax ? 0 : 1] *= c->in[0]->dims[i];
	EML_GUARD(view_set(c, 2, d));
out:
	return rc;
}

/* axes of Squeeze/Unsqueeze: attribute before opset 13, input from 13 */
static int axes_of(eml_op_ctx *c, int64_t *ax, size_t *n, int *given)
{
	*n = 0;
	*given = 0;
	if (c->opset < 13) {
		uint32_t cnt;
		const int64_t *a = eml_attr_ints(c->node, "axes", &cnt);
		if (a == NULL)
			return EML_OK;
		if (cnt > EML_MAX_RANK)
			return EML_E_ENGINE_SHAPE;
		memcpy(ax, a, cnt * sizeof(int64_t));
		*n = cnt;
		*given = 1;
		return EML_OK;
	}
	if (c->n_in < 2 || c->in[1] == NULL)
		return EML_OK;
	*given = 1;
	return eml_rt_ints(c->in[1], ax, EML_MAX_RANK, n);
}

static int squeeze_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	int64_t ax[EML_MAX_RANK], d[EML_MAX_RANK];
	size_t n;
	int given;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(axes_of(c, ax, &n, &given));
	uint32_t r = c->in[0]->rank, nr = 0;
	int drop[EML_MAX_RANK] = {0};
	if (!given) {
		for (uint32_t i = 0; i < r; i++)
			drop[i] = c->in[0]->dims[i] == 1;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t a;
		EML_GUARD(eml_axis(ax[i], r, &a));
		EML_ENSURE(c->in[0]->dims[a] == 1, EML_E_ENGINE_SHAPE);
		drop[a] = 1;
	}
	for (uint32_t i = 0; i < r; i++)
		if (!drop[i])
			d[nr++] = c->in[0]->dims[i];
	EML_GUARD(view_set(c, nr, d));
out:
	return rc;
}

static int unsqueeze_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	int64_t ax[EML_MAX_RANK], d[EML_MAX_RANK];
	size_t n;
	int given;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(axes_of(c, ax, &n, &given));
	EML_ENSURE(given, EML_E_ENGINE_SHAPE);
	uint32_t r = c->in[0]->rank + (uint32_t)n;
	EML_ENSURE(r <= EML_MAX_RANK, EML_E_ENGINE_SHAPE);
	int ins[EML_MAX_RANK] = {0};
	for (size_t i = 0; i < n; i++) {
		uint32_t a;
		EML_GUARD(eml_axis(ax[i], r, &a));
		EML_ENSURE(!ins[a], EML_E_ENGINE_SHAPE);
		ins[a] = 1;
	}
	for (uint32_t i = 0, j = 0; i < r; i++)
		d[i] = ins[i] ? 1 : c->in[0]->dims[j++];
	EML_GUARD(view_set(c, r, d));
out:
	return rc;
}

const eml_op_def eml_op_identity = {"Identity", 1, 99, identity_prep, copy_run, NULL, NULL};
const eml_op_def eml_op_dropout = {"Dropout", 1, 99, dropout_prep, dropout_run, NULL, NULL};
const eml_op_def eml_op_reshape = {"Reshape", 1, 99, reshape_prep, copy_run, NULL, NULL};
const eml_op_def eml_op_flatten = {"Flatten", 1, 99, flatten_prep, copy_run, NULL, NULL};
const eml_op_def eml_op_squeeze = {"Squeeze", 1, 99, squeeze_prep, copy_run, NULL, NULL};
const eml_op_def eml_op_unsqueeze = {"Unsqueeze", 1, 99, unsqueeze_prep, copy_run, NULL, NULL};

/* ----- Shape, Size: depend on shapes only, always folded ----- */

typedef struct shape_state {
	int64_t v[EML_MAX_RANK];
	uint32_t n;
} shape_state;

static int shape_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	shape_state *s;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	int64_t r = c->in[0]->rank;
	int64_t st = eml_attr_i(c->node, "start", 0), en = eml_attr_i(c->node, "end", r);
	if (st < 0)
		st += r;
	if (en < 0)
		en += r;
	st = st < 0 ? 0 : (st > r ? r : st);
	en = en < 0 ? 0 : (en > r ? r : en);
	for (int64_t i = st; i < en; i++)
		s->v[s->n++] = c->in[0]->dims[i];
	int64_t d = s->n;
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_INT64, 1, &d));
	c->fold_always = 1;
out:
	return rc;
}

static int shape_run(eml_op_ctx *c)
{
	const shape_state *s = c->state;
	memcpy(c->out[0]->data, s->v, s->n * sizeof(int64_t));
	return EML_OK;
}

static int size_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	shape_state *s;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	s->v[0] = (int64_t)c->in[0]->elems;
	s->n = 1;
	EML_GUARD(eml_rt_set(c->out[0], EML_DT_INT64, 0, NULL));
	c->fold_always = 1;
out:
	return rc;
}

const eml_op_def eml_op_shape = {"Shape", 1, 99, shape_prep, shape_run, NULL, NULL};
const eml_op_def eml_op_size = {"Size", 1, 99, size_prep, shape_run, NULL, NULL};

/* ----- Constant, ConstantOfShape ----- */

typedef struct const_state {
	uint64_t bytes;
	uint8_t data[]; /* the payload (Constant) or one element (ConstantOfShape) */
} const_state;

static int load_tensor_attr(eml_op_ctx *c, const eml_attr *a, eml_rt *tmp)
{
	memset(tmp, 0, sizeof(*tmp));
	tmp->alias = -1;
	if (a == NULL || a->type != EML_ATTR_TENSOR)
		return EML_E_ENGINE_SHAPE;
	return eml_build_model_tensor(c->b, a->tensor, tmp);
}

static int constant_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	eml_rt tmp;
	memset(&tmp, 0, sizeof(tmp));
	const_state *s;
	const eml_attr *a = NULL;
	EML_ENSURE(c->n_out == 1 && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	for (uint32_t i = 0; i < c->node->n_attrs; i++)
		if (c->node->attrs[i].type == EML_ATTR_TENSOR)
			a = &c->node->attrs[i];
	EML_ENSURE(a != NULL, EML_E_UNSUPPORTED); /* sparse_value / value_string(s) */
	EML_GUARD(load_tensor_attr(c, a, &tmp));
	/* value_float / value_int (orig_type FLOAT/INT) are scalars */
	uint32_t rank = tmp.rank;
	if (a->orig_type == EML_ATTR_FLOAT || a->orig_type == EML_ATTR_INT)
		rank = 0;
	EML_GUARD(eml_rt_set(c->out[0], tmp.dtype, rank, tmp.dims));
	EML_ENSURE(c->out[0]->bytes == tmp.bytes, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s) + tmp.bytes, (void **)&s));
	s->bytes = tmp.bytes;
	if (tmp.bytes)
		memcpy(s->data, tmp.data, tmp.bytes);
out:
	eml_rt_heap_free(&tmp);
	return rc;
}

static int constant_run(eml_op_ctx *c)
{
	const const_state *s = c->state;
	if (s->bytes)
		memcpy(c->out[0]->data, s->data, s->bytes);
	return EML_OK;
}

static int cos_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	eml_rt tmp;
	memset(&tmp, 0, sizeof(tmp));
	const_state *s;
	int64_t sh[EML_MAX_RANK];
	size_t n = 0;
	EML_ENSURE(c->n_in >= 1 && c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_rt_ints(c->in[0], sh, EML_MAX_RANK, &n));
	EML_GUARD(eml_op_state(c, sizeof(*s) + 8, (void **)&s));
	const eml_attr *a = eml_node_attr(c->node, "value");
	int32_t dt = EML_DT_FLOAT;
	if (a != NULL) {
		EML_GUARD(load_tensor_attr(c, a, &tmp));
		EML_ENSURE(tmp.elems == 1, EML_E_ENGINE_SHAPE);
		dt = tmp.dtype;
		memcpy(s->data, tmp.data, tmp.bytes);
	}
	s->bytes = eml_dtype_size(dt);
	EML_GUARD(eml_rt_set(c->out[0], dt, (uint32_t)n, sh));
out:
	eml_rt_heap_free(&tmp);
	return rc;
}

static int cos_run(eml_op_ctx *c)
{
	const const_state *s = c->state;
	uint8_t *o = c->out[0]->data;
	for (uint64_t i = 0; i < c->out[0]->elems; i++)
		memcpy(o + i * s->bytes, s->data, s->bytes);
	return EML_OK;
}

const eml_op_def eml_op_constant = {"Constant", 1, 99, constant_prep, constant_run, NULL, NULL};
const eml_op_def eml_op_constant_of_shape = {"ConstantOfShape", 1,    99,  cos_prep,
                                             cos_run,           NULL, NULL};

/* ----- Concat ----- */

typedef struct concat_state {
	uint32_t axis;
} concat_state;

static int concat_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	concat_state *s;
	EML_ENSURE(c->n_in >= 1 && c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *f = c->in[0];
	EML_ENSURE(f->rank >= 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", 0), f->rank, &s->axis));
	int64_t d[EML_MAX_RANK];
	memcpy(d, f->dims, sizeof(d));
	d[s->axis] = 0;
	for (uint32_t k = 0; k < c->n_in; k++) {
		const eml_rt *t = c->in[k];
		EML_ENSURE(t != NULL && t->dtype == f->dtype && t->rank == f->rank,
		           EML_E_ENGINE_SHAPE);
		for (uint32_t i = 0; i < f->rank; i++)
			EML_ENSURE(i == s->axis || t->dims[i] == f->dims[i], EML_E_ENGINE_SHAPE);
		d[s->axis] += t->dims[s->axis];
	}
	EML_GUARD(eml_rt_set(c->out[0], f->dtype, f->rank, d));
out:
	return rc;
}

static int concat_run(eml_op_ctx *c)
{
	const concat_state *s = c->state;
	eml_rt *o = c->out[0];
	size_t es = eml_dtype_size(o->dtype);
	uint64_t outer = 1, inner = 1;
	for (uint32_t i = 0; i < s->axis; i++)
		outer *= (uint64_t)o->dims[i];
	for (uint32_t i = s->axis + 1; i < o->rank; i++)
		inner *= (uint64_t)o->dims[i];
	uint64_t orow = (uint64_t)o->dims[s->axis] * inner * es;
	uint64_t pos = 0;
	for (uint32_t k = 0; k < c->n_in; k++) {
		const eml_rt *t = c->in[k];
		uint64_t row = (uint64_t)t->dims[s->axis] * inner * es;
		for (uint64_t r = 0; r < outer && row; r++)
			memcpy((uint8_t *)o->data + r * orow + pos,
			       (const uint8_t *)t->data + r * row, row);
		pos += row;
	}
	return EML_OK;
}

const eml_op_def eml_op_concat = {"Concat", 1, 99, concat_prep, concat_run, NULL, NULL};

/* ----- Gather ----- */

typedef struct gather_state {
	uint32_t axis;
} gather_state;

static int gather_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	gather_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *x = c->in[0], *ix = c->in[1];
	EML_ENSURE(x->rank >= 1, EML_E_ENGINE_SHAPE);
	EML_ENSURE(ix->dtype == EML_DT_INT64 || ix->dtype == EML_DT_INT32, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", 0), x->rank, &s->axis));
	uint32_t r = x->rank - 1 + ix->rank;
	EML_ENSURE(r <= EML_MAX_RANK, EML_E_ENGINE_SHAPE);
	int64_t d[EML_MAX_RANK];
	uint32_t j = 0;
	for (uint32_t i = 0; i < s->axis; i++)
		d[j++] = x->dims[i];
	for (uint32_t i = 0; i < ix->rank; i++)
		d[j++] = ix->dims[i];
	for (uint32_t i = s->axis + 1; i < x->rank; i++)
		d[j++] = x->dims[i];
	/* indices known now are range-checked here; others at run time */
	if (eml_rt_known(ix))
		for (uint64_t i = 0; i < ix->elems; i++) {
			int64_t v = eml_rt_get_i(ix, i);
			EML_ENSURE(v >= -x->dims[s->axis] && v < x->dims[s->axis],
			           EML_E_ENGINE_SHAPE);
		}
	EML_GUARD(eml_rt_set(c->out[0], x->dtype, r, d));
out:
	return rc;
}

static int gather_run(eml_op_ctx *c)
{
	const gather_state *s = c->state;
	const eml_rt *x = c->in[0], *ix = c->in[1];
	size_t es = eml_dtype_size(x->dtype);
	uint64_t outer = 1, inner = 1;
	for (uint32_t i = 0; i < s->axis; i++)
		outer *= (uint64_t)x->dims[i];
	for (uint32_t i = s->axis + 1; i < x->rank; i++)
		inner *= (uint64_t)x->dims[i];
	int64_t n = x->dims[s->axis];
	uint64_t blk = inner * es;
	uint8_t *o = c->out[0]->data;
	for (uint64_t r = 0; r < outer; r++)
		for (uint64_t i = 0; i < ix->elems; i++) {
			int64_t v = eml_ld_i(ix->data, ix->dtype, i);
			if (v < 0)
				v += n;
			if (v < 0 || v >= n) {
				memset(o, 0,
				       blk); /* out of range at run time: never read outside */
				o += blk;
				continue;
			}
			memcpy(o, (const uint8_t *)x->data + (r * (uint64_t)n + (uint64_t)v) * blk,
			       blk);
			o += blk;
		}
	return EML_OK;
}

const eml_op_def eml_op_gather = {"Gather", 1, 99, gather_prep, gather_run, NULL, NULL};

/* ----- Slice, Transpose, Expand: one strided copy ----- */

typedef struct strided_state {
	int64_t st[EML_MAX_RANK];
	int64_t base;
} strided_state;

static int strided_run(eml_op_ctx *c)
{
	const strided_state *s = c->state;
	eml_rt *o = c->out[0];
	strided_copy(o->data, c->in[0]->data, eml_dtype_size(o->dtype), o->rank, o->dims, s->st,
	             s->base);
	return EML_OK;
}

static int slice_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	strided_state *s;
	int64_t starts[EML_MAX_RANK], ends[EML_MAX_RANK], axes[EML_MAX_RANK], steps[EML_MAX_RANK];
	size_t ns = 0, ne = 0, na = 0, nst = 0;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *x = c->in[0];
	uint32_t r = x->rank;
	if (c->opset < 10) {
		uint32_t k1, k2, k3;
		const int64_t *a1 = eml_attr_ints(c->node, "starts", &k1);
		const int64_t *a2 = eml_attr_ints(c->node, "ends", &k2);
		const int64_t *a3 = eml_attr_ints(c->node, "axes", &k3);
		EML_ENSURE(a1 && a2 && k1 == k2 && k1 <= EML_MAX_RANK && k3 <= EML_MAX_RANK,
		           EML_E_ENGINE_SHAPE);
		memcpy(starts, a1, k1 * 8);
		memcpy(ends, a2, k2 * 8);
		ns = ne = k1;
		if (a3 != NULL) {
			memcpy(axes, a3, k3 * 8);
			na = k3;
		}
	} else {
		EML_ENSURE(c->n_in >= 3 && c->in[1] && c->in[2], EML_E_ENGINE_SHAPE);
		EML_GUARD(eml_rt_ints(c->in[1], starts, EML_MAX_RANK, &ns));
		EML_GUARD(eml_rt_ints(c->in[2], ends, EML_MAX_RANK, &ne));
		if (c->n_in >= 4 && c->in[3] != NULL)
			EML_GUARD(eml_rt_ints(c->in[3], axes, EML_MAX_RANK, &na));
		if (c->n_in >= 5 && c->in[4] != NULL)
			EML_GUARD(eml_rt_ints(c->in[4], steps, EML_MAX_RANK, &nst));
	}
	EML_ENSURE(ns == ne, EML_E_ENGINE_SHAPE);
	if (na == 0) {
		for (size_t i = 0; i < ns; i++)
			axes[i] = (int64_t)i;
		na = ns;
	}
	if (nst == 0) {
		for (size_t i = 0; i < ns; i++)
			steps[i] = 1;
		nst = ns;
	}
	EML_ENSURE(na == ns && nst == ns, EML_E_ENGINE_SHAPE);
	int64_t d[EML_MAX_RANK], xst[EML_MAX_RANK], beg[EML_MAX_RANK], stp[EML_MAX_RANK];
	int seen[EML_MAX_RANK] = {0};
	dense_strides(r, x->dims, xst);
	for (uint32_t i = 0; i < r; i++) {
		d[i] = x->dims[i];
		beg[i] = 0;
		stp[i] = 1;
	}
	for (size_t i = 0; i < ns; i++) {
		uint32_t a;
		EML_GUARD(eml_axis(axes[i], r, &a));
		EML_ENSURE(!seen[a] && steps[i] != 0, EML_E_ENGINE_SHAPE);
		seen[a] = 1;
		int64_t dim = x->dims[a], st = starts[i], en = ends[i], sp = steps[i];
		/* a step longer than the axis takes at most one element: clamp it so no stride
		 * product can overflow */
		if (sp > dim)
			sp = dim > 0 ? dim : 1;
		if (sp < -dim)
			sp = dim > 0 ? -dim : -1;
		/* ONNX Slice: negative indices count from the end; clamp to [0, dim] for positive
		 * steps and [-1, dim-1] for negative ones */
		if (st < 0)
			st += dim;
		if (en < 0)
			en += dim;
		if (sp > 0) {
			st = st < 0 ? 0 : (st > dim ? dim : st);
			en = en < 0 ? 0 : (en > dim ? dim : en);
			d[a] = en > st ? (en - st + sp - 1) / sp : 0;
		} else {
			st = st < 0 ? -1 : (st > dim - 1 ? dim - 1 : st);
			en = en < -1 ? -1 : (en > dim - 1 ? dim - 1 : en);
			d[a] = st > en ? (st - en + (-sp) - 1) / (-sp) : 0;
		}
		beg[a] = st;
		stp[a] = sp;
	}
	s->base = 0;
	for (uint32_t i = 0; i < r; i++) {
		s->st[i] = xst[i] * stp[i];
		if (d[i] > 0)
			s->base += beg[i] * xst[i];
	}
	EML_GUARD(eml_rt_set(c->out[0], x->dtype, r, d));
out:
	return rc;
}

static int transpose_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	strided_state *s;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *x = c->in[0];
	uint32_t r = x->rank, cnt;
	int64_t perm[EML_MAX_RANK], xst[EML_MAX_RANK], d[EML_MAX_RANK];
	const int64_t *p = eml_attr_ints(c->node, "perm", &cnt);
	if (p == NULL) {
		for (uint32_t i = 0; i < r; i++)
			perm[i] = r - 1 - i;
	} else {
		EML_ENSURE(cnt == r, EML_E_ENGINE_SHAPE);
		int seen[EML_MAX_RANK] = {0};
		for (uint32_t i = 0; i < r; i++) {
			EML_ENSURE(p[i] >= 0 && p[i] < r && !seen[p[i]], EML_E_ENGINE_SHAPE);
			seen[p[i]] = 1;
			perm[i] = p[i];
		}
	}
	dense_strides(r, x->dims, xst);
	for (uint32_t i = 0; i < r; i++) {
		d[i] = x->dims[perm[i]];
		s->st[i] = xst[perm[i]];
	}
	EML_GUARD(eml_rt_set(c->out[0], x->dtype, r, d));
out:
	return rc;
}

static int expand_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	strided_state *s;
	int64_t sh[EML_MAX_RANK], d[EML_MAX_RANK], xst[EML_MAX_RANK];
	size_t n;
	uint32_t r;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->out[0], EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *x = c->in[0];
	EML_GUARD(eml_rt_ints(c->in[1], sh, EML_MAX_RANK, &n));
	EML_GUARD(eml_bcast_shape(x->rank, x->dims, (uint32_t)n, sh, &r, d));
	dense_strides(x->rank, x->dims, xst);
	for (uint32_t i = 0; i < r; i++) {
		int xi = (int)i - (int)(r - x->rank);
		s->st[i] = (xi < 0 || x->dims[xi] == 1) ? 0 : xst[xi];
	}
	EML_GUARD(eml_rt_set(c->out[0], x->dtype, r, d));
out:
	return rc;
}

const eml_op_def eml_op_slice = {"Slice", 1, 99, slice_prep, strided_run, NULL, NULL};
const eml_op_def eml_op_transpose = {"Transpose", 1, 99, transpose_prep, strided_run, NULL, NULL};
const eml_op_def eml_op_expand = {"Expand", 1, 99, expand_prep, strided_run, NULL, NULL};

/* ----- Split ----- */

typedef struct split_state {
	uint32_t axis;
} split_state;

static int split_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	split_state *s;
	int64_t parts[EML_MAX_NODE_IO];
	size_t n = 0;
	EML_ENSURE(c->in[0] != NULL && c->n_out >= 1, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *x = c->in[0];
	EML_GUARD(eml_axis(eml_attr_i(c->node, "axis", 0), x->rank, &s->axis));
	int64_t dim = x->dims[s->axis];
	if (c->opset < 13) {
		uint32_t cnt;
		const int64_t *a = eml_attr_ints(c->node, "split", &cnt);
		if (a != NULL) {
			EML_ENSURE(cnt == c->n_out, EML_E_ENGINE_SHAPE);
			memcpy(parts, a, cnt * 8);
			n = cnt;
		}
	} else if (c->n_in >= 2 && c->in[1] != NULL) {
		EML_GUARD(eml_rt_ints(c->in[1], parts, EML_MAX_NODE_IO, &n));
		EML_ENSURE(n == c->n_out, EML_E_ENGINE_SHAPE);
	}
	if (n == 0) {
		/* equal parts; opset 18 num_outputs: the last part may be smaller */
		int64_t k = c->n_out, each = (dim + k - 1) / k;
		EML_ENSURE(c->opset >= 18 || dim % k == 0, EML_E_ENGINE_SHAPE);
		for (int64_t i = 0; i < k; i++) {
			int64_t left = dim - i * each;
			parts[i] = left < 0 ? 0 : (left < each ? left : each);
		}
		n = (size_t)k;
	}
	int64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		EML_ENSURE(parts[i] >= 0 && parts[i] <= dim, EML_E_ENGINE_SHAPE);
		sum += parts[i];
	}
	EML_ENSURE(sum == dim, EML_E_ENGINE_SHAPE);
	for (size_t i = 0; i < n; i++) {
		if (c->out[i] == NULL)
			continue;
		int64_t d[EML_MAX_RANK];
		memcpy(d, x->dims, sizeof(d));
		d[s->axis] = parts[i];
		EML_GUARD(eml_rt_set(c->out[i], x->dtype, x->rank, d));
	}
out:
	return rc;
}

static int split_run(eml_op_ctx *c)
{
	const split_state *s = c->state;
	const eml_rt *x = c->in[0];
	size_t es = eml_dtype_size(x->dtype);
	uint64_t outer = 1, inner = 1;
	for (uint32_t i = 0; i < s->axis; i++)
		outer *= (uint64_t)x->dims[i];
	for (uint32_t i = s->axis + 1; i < x->rank; i++)
		inner *= (uint64_t)x->dims[i];
	uint64_t xrow = (uint64_t)x->dims[s->axis] * inner * es, pos = 0;
	for (uint32_t k = 0; k < c->n_out; k++) {
		/* the part size is needed even for omitted outputs: recompute from out dims */
		eml_rt *o = c->out[k];
		if (o == NULL)
			continue;
		uint64_t row = (uint64_t)o->dims[s->axis] * inner * es;
		for (uint64_t r = 0; r < outer && row; r++)
			memcpy((uint8_t *)o->data + r * row,
			       (const uint8_t *)x->data + r * xrow + pos, row);
		pos += row;
	}
	return EML_OK;
}

const eml_op_def eml_op_split = {"Split", 1, 99, split_prep, split_run, NULL, NULL};

/* ----- Pad ----- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

typedef struct pad_state {
	int mode;
	int64_t pre[EML_MAX_RANK];
	/* wrap: the kept (uncropped) source range [lo, hi) of each axis; negative pads crop first,
	 * then the positive pads repeat what is kept (ONNX reference: slice, then numpy "wrap") */
	int64_t lo[EML_MAX_RANK], hi[EML_MAX_RANK];
	uint8_t value[8];
} pad_state;

static int pad_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	pad_state *s;
	int64_t pads[2 * EML_MAX_RANK], axes[EML_MAX_RANK];
	size_t np = 0, na = 0;
	EML_ENSURE(c->in[0] != NULL && c->out[0] != NULL, EML_E_ENGINE_SHAPE);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	const eml_rt *x = c->in[0];
	uint32_t r = x->rank;
	if (eml_attr_s_eq(c->node, "mode", "constant", 1))
		s->mode = PAD_CONSTANT;
	else if (eml_attr_s_eq(c->node, "mode", "reflect", 0))
		s->mode = PAD_REFLECT;
	else if (eml_attr_s_eq(c->node, "mode", "edge", 0))
		s->mode = PAD_EDGE;
	else if (c->opset >= 19 && eml_attr_s_eq(c->node, "mode", "wrap", 0))
		s->mode = PAD_WRAP; /* Pad-19 */
	else
		EML_FAIL(EML_E_UNSUPPORTED);
	double cv = 0;
	if (c->opset < 11) {
		uint32_t cnt;
		const int64_t *a = eml_attr_ints(c->node, "pads", &cnt);
		EML_ENSURE(a != NULL && cnt <= 2 * EML_MAX_RANK, EML_E_ENGINE_SHAPE);
		memcpy(pads, a, cnt * 8);
		np = cnt;
		cv = eml_attr_f(c->node, "value", 0.0f);
	} else {
		EML_ENSURE(c->n_in >= 2 && c->in[1] != NULL, EML_E_ENGINE_SHAPE);
		EML_GUARD(eml_rt_ints(c->in[1], pads, 2 * EML_MAX_RANK, &np));
		if (c->n_in >= 3 && c->in[2] != NULL) {
			EML_ENSURE(eml_rt_known(c->in[2]), EML_E_UNSUPPORTED);
			if (c->in[2]->elems > 0)
				cv = eml_rt_get_f(c->in[2], 0);
		}
		if (c->n_in >= 4 && c->in[3] != NULL)
			EML_GUARD(eml_rt_ints(c->in[3], axes, EML_MAX_RANK, &na));
	}
	if (na == 0) {
		na = r;
		for (uint32_t i = 0; i < r; i++)
			axes[i] = i;
	}
	EML_ENSURE(np == 2 * na, EML_E_ENGINE_SHAPE);
	int64_t pre[EML_MAX_RANK] = {0}, post[EML_MAX_RANK] = {0}, d[EML_MAX_RANK];
	for (size_t i = 0; i < na; i++) {
		uint32_t a;
		EML_GUARD(eml_axis(axes[i], r, &a));
		EML_ENSURE(pads[i] >= -EML_ENGINE_MAX_DIM && pads[i] <= EML_ENGINE_MAX_DIM &&
		               pads[i + na] >= -EML_ENGINE_MAX_DIM &&
		               pads[i + na] <= EML_ENGINE_MAX_DIM,
		           EML_E_ENGINE_SHAPE);
		pre[a] = pads[i];
		post[a] = pads[i + na];
	}
	for (uint32_t i = 0; i < r; i++) {
		d[i] = x->dims[i] + pre[i] + post[i];
		EML_ENSURE(d[i] >= 0, EML_E_ENGINE_SHAPE);
		/* negative pads crop; reflect needs pads < dim; edge needs a non-empty dim */
		if (s->mode == PAD_REFLECT)
			EML_ENSURE(pre[i] < x->dims[i] && post[i] < x->dims[i], EML_E_ENGINE_SHAPE);
		if (s->mode == PAD_EDGE && d[i] > 0)
			EML_ENSURE(x->dims[i] > 0, EML_E_ENGINE_SHAPE);
		s->pre[i] = pre[i];
		s->lo[i] = pre[i] < 0 ? -pre[i] : 0;
		s->hi[i] = x->dims[i] - (post[i] < 0 ? -post[i] : 0);
		/* wrap repeats the kept part: it must not be empty when something is added */
		if (s->mode == PAD_WRAP && (pre[i] > 0 || post[i] > 0))
			EML_ENSURE(s->hi[i] > s->lo[i], EML_E_ENGINE_SHAPE);
	}
	EML_GUARD(eml_rt_set(c->out[0], x->dtype, r, d));
	if (x->dtype == EML_DT_FLOAT) {
		float f = (float)cv;
		memcpy(s->value, &f, 4);
	} else {
		eml_st_i(s->value, x->dtype, 0, (int64_t)cv);
	}
out:
	return rc;
}

static int pad_run(eml_op_ctx *c)
{
	const pad_state *s = c->state;
	const eml_rt *x = c->in[0];
	eml_rt *o = c->out[0];
	size_t es = eml_dtype_size(x->dtype);
	uint32_t r = o->rank;
	int64_t xst[EML_MAX_RANK];
	dense_strides(r, x->dims, xst);
	int64_t idx[EML_MAX_RANK] = {0};
	uint8_t *od = o->data;
	const uint8_t *xd = x->data;
	for (uint64_t e = 0; e < o->elems; e++) {
		int64_t off = 0;
		int outside = 0;
		for (uint32_t d = 0; d < r; d++) {
			int64_t i = idx[d] - s->pre[d], n = x->dims[d];
			if (i < 0 || i >= n) {
				if (s->mode == PAD_CONSTANT) {
					outside = 1;
					break;
				}
				if (s->mode == PAD_EDGE) {
					i = i < 0 ? 0 : n - 1;
				} else if (s->mode == PAD_WRAP) {
					int64_t len = s->hi[d] - s->lo[d];
					i = (i - s->lo[d]) % len;
					if (i < 0)
						i += len;
					i += s->lo[d];
				} else {
					/* reflect without repeating the edge */
					int64_t period = 2 * (n - 1);
					if (period == 0) {
						i = 0;
					} else {
						i = i % period;
						if (i < 0)
							i += period;
						if (i >= n)
							i = period - i;
					}
				}
			}
			off += i * xst[d];
		}
		memcpy(od + e * es, outside ? s->value : xd + off * (int64_t)es, es);
		for (int d = (int)r - 1; d >= 0; d--) {
			if (++idx[d] < o->dims[d])
				break;
			idx[d] = 0;
		}
	}
	return EML_OK;
}

const eml_op_def eml_op_pad = {"Pad", 1, 99, pad_prep, pad_run, NULL, NULL};
