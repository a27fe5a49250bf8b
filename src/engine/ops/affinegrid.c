/*
 * AffineGrid (ONNX AffineGrid-20, https://onnx.ai/onnx/operators/onnx__AffineGrid.html): theta
 * (N, 2, 3) with size (N, C, H, W) gives the grid (N, H, W, 2); theta (N, 3, 4) with size
 * (N, C, D, H, W) gives (N, D, H, W, 3). Each output point is theta[n] times the homogeneous base
 * point (x, y[, z], 1), x running along W, y along H, z along D, normalized to [-1, 1]: with
 * align_corners -1 + 2 i / (L - 1) (-1 when L = 1, as the reference's arange gives), else
 * -1 + (2 i + 1) / L. `size` decides the output shape, so it must be known at assembly (a
 * constant or a graph input: the plan is per request). Computed in double, stored once.
 */
#include <string.h>

#include "common/guard.h"
#include "engine/internal.h"
#include "engine/ops/ops.h"

typedef struct ag_state {
	int align;
	uint32_t r; /* spatial axes: 2 or 3 */
	int64_t sp[3];
} ag_state;

static int ag_prep(eml_op_ctx *c)
{
	int rc = EML_OK;
	ag_state *s;
	EML_ENSURE(c->n_in == 2 && c->in[0] && c->in[1] && c->n_out == 1 && c->out[0],
	           EML_E_ENGINE_SHAPE);
	const eml_rt *T = c->in[0], *S = c->in[1];
	EML_ENSURE(eml_dt_is_real(T->dtype) && T->rank == 3, EML_E_ENGINE_SHAPE);
	EML_ENSURE(S->dtype == EML_DT_INT64 && S->rank == 1, EML_E_ENGINE_SHAPE);
	EML_ENSURE(eml_rt_known(S), EML_E_UNSUPPORTED);
	EML_GUARD(eml_op_state(c, sizeof(*s), (void **)&s));
	int64_t sz[5];
	size_t n = 0;
	EML_GUARD(eml_rt_ints(S, sz, 5, &n));
	EML_ENSURE(n == 4 || n == 5, EML_E_ENGINE_SHAPE);
	s->r = (uint32_t)n - 2;
	EML_ENSURE(T->dims[0] == sz[0] && T->dims[1] == (int64_t)s->r &&
	               T->dims[2] == (int64_t)s->r + 1,
	           EML_E_ENGINE_SHAPE);
	int64_t od[5];
	od[0] = sz[0];
	for (uint32_t a = 0; a < s->r; a++) {
		EML_ENSURE(sz[2 + a] >= 0 && sz[2 + a] <= EML_ENGINE_MAX_DIM, EML_E_ENGINE_SHAPE);
		s->sp[a] = sz[2 + a];
		od[1 + a] = sz[2 + a];
	}
	od[1 + s->r] = s->r;
	s->align = (int)eml_attr_i(c->node, "align_corners", 0);
	EML_GUARD(eml_rt_set(c->out[0], T->dtype, s->r + 2, od));
out:
	return rc;
}

static double ag_base(int align, int64_t i, int64_t len)
{
	if (align)
		return len > 1 ? -1.0 + 2.0 * (double)i / (double)(len - 1) : -1.0;
	return -1.0 + (2.0 * (double)i + 1.0) / (double)len;
}

static int ag_run(eml_op_ctx *c)
{
	const ag_state *s = c->state;
	const eml_rt *T = c->in[0];
	eml_rt *Y = c->out[0];
	uint32_t r = s->r;
	int64_t N = T->dims[0];
	/* spatial order of the output: (H, W) or (D, H, W); base point (x, y[, z]) */
	int64_t D = r == 3 ? s->sp[0] : 1, H = s->sp[r - 2], W = s->sp[r - 1];
	size_t o = 0;
	for (int64_t n = 0; n < N; n++) {
		double th[3][4];
		for (uint32_t i = 0; i < r; i++)
			for (uint32_t j = 0; j <= r; j++)
				th[i][j] = eml_ld_f(T->data, T->dtype,
				                    (size_t)n * r * (r + 1) + i * (r + 1) + j);
		for (int64_t d = 0; d < D; d++)
			for (int64_t h = 0; h < H; h++)
				for (int64_t w = 0; w < W; w++) {
					double p[4] = {ag_base(s->align, w, W),
					               ag_base(s->align, h, H),
					               r == 3 ? ag_base(s->align, d, D) : 1.0, 1.0};
					if (r == 2)
						p[2] = 1.0;
					for (uint32_t i = 0; i < r; i++) {
						double v = 0;
						for (uint32_t j = 0; j <= r; j++)
							v += th[i][j] * p[j];
						eml_st_f(Y->data, Y->dtype, o++, v);
					}
				}
	}
	return EML_OK;
}

const eml_op_def eml_op_affinegrid = {"AffineGrid", 20, 20, ag_prep, ag_run, NULL, NULL};
