/*
 * Loop (opsets 11-18), unrolled at assembly (docs/ONNX.md): loop-carried values, scan outputs,
 * a condition computed in the body from the iteration number, zero iterations, an If nested in
 * the body, a carried value that depends on the request (steps at run time), the refusal of a
 * condition only known at run time, and the same answers through decompose -> topology key +
 * blob -> join. Expected values are computed here by plain loops.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/mem.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "eml/error.h"
#include "model/model.h"
#include "topo/topo.h"
/* the engine tests' model builder (after engine.h, which it needs) */
#include "test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})
#define D(...) ((const int64_t[]){__VA_ARGS__})

static void graph_input(eml_model *m, int32_t gi, int32_t v)
{
	eml_graph *g = &m->graphs[gi];
	g->inputs = eml_realloc(g->inputs, (g->n_inputs + 1) * 4);
	g->inputs[g->n_inputs++] = v;
}

/*
 * acc (float [2], carried) starts at the request's x; each iteration i:
 *   acc' = acc * 2 + w * i        (w a constant [2])
 *   scan = acc' + 1               (scan output, stacked)
 *   cond' = (i + 1) < stop        (stop a constant: the body decides when to end)
 * with trip count M. Returns the model; *body receives the body graph index.
 */
static eml_model *loop_model(int64_t M, int64_t stop, int with_if)
{
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(2));
	mb_input(m, x);
	float wv[2] = {0.5f, -1.0f}, one = 1.0f, two = 2.0f;
	int64_t stopv = stop, onei = 1;
	int32_t w = mb_const(m, EML_DT_FLOAT, 1, D(2), wv);
	int32_t c1 = mb_const(m, EML_DT_FLOAT, 0, NULL, &one);
	int32_t c2 = mb_const(m, EML_DT_FLOAT, 0, NULL, &two);
	int32_t cs = mb_const(m, EML_DT_INT64, 0, NULL, &stopv);
	int32_t ci1 = mb_const(m, EML_DT_INT64, 0, NULL, &onei);
	int32_t mv = mb_const(m, EML_DT_INT64, 0, NULL, &M);
	uint8_t t = 1;
	int32_t cond = mb_const(m, EML_DT_BOOL, 0, NULL, &t);

	int32_t body = mb_graph(m, 0);
	int32_t it = mb_value(m, EML_DT_INT64, 0, NULL);
	int32_t cin = mb_value(m, EML_DT_BOOL, 0, NULL);
	int32_t acc = mb_value(m, EML_DT_FLOAT, 1, D(2));
	graph_input(m, body, it);
	graph_input(m, body, cin);
	graph_input(m, body, acc);
	int32_t itf = mb_tmp(m), wi = mb_tmp(m), a2 = mb_tmp(m), acc2 = mb_tmp(m);
	int32_t scan = mb_value(m, EML_DT_FLOAT, 1, D(2));
	int32_t nx = mb_tmp(m), cout = mb_tmp(m);
	eml_node *cast = mb_node_g(m, body, "Cast", I(it), I(itf));
	cast->attrs = eml_calloc(1, sizeof(eml_attr));
	cast->n_attrs = 1;
	cast->attrs[0].name = eml_strdup("to");
	cast->attrs[0].type = EML_ATTR_INT;
	cast->attrs[0].i = EML_DT_FLOAT;
	mb_node_g(m, body, "Mul", I(w, itf), I(wi));
	mb_node_g(m, body, "Mul", I(acc, c2), I(a2));
	mb_node_g(m, body, "Add", I(a2, wi), I(acc2));
	if (with_if) {
		/* scan = iteration even ? acc' + 1 : acc' - 1, through an If on a known condition */
		int64_t twoi = 2, zero = 0;
		int32_t k2 = mb_const(m, EML_DT_INT64, 0, NULL, &twoi);
		int32_t k0 = mb_const(m, EML_DT_INT64, 0, NULL, &zero);
		int32_t r = mb_tmp(m), even = mb_tmp(m);
		mb_node_g(m, body, "Mod", I(it, k2), I(r));
		mb_node_g(m, body, "Equal", I(r, k0), I(even));
		int32_t tg = mb_graph(m, body), eg = mb_graph(m, body);
		int32_t tv = mb_tmp(m), ev = mb_tmp(m);
		mb_node_g(m, tg, "Add", I(acc2, c1), I(tv));
		mb_graph_output(m, tg, tv);
		mb_node_g(m, eg, "Sub", I(acc2, c1), I(ev));
		mb_graph_output(m, eg, ev);
		eml_node *ifn = mb_node_g(m, body, "If", I(even), I(scan));
		ifn->attrs = eml_calloc(2, sizeof(eml_attr));
		ifn->n_attrs = 2;
		ifn->attrs[0].name = eml_strdup("then_branch");
		ifn->attrs[0].type = EML_ATTR_GRAPH;
		ifn->attrs[0].graph = tg;
		ifn->attrs[1].name = eml_strdup("else_branch");
		ifn->attrs[1].type = EML_ATTR_GRAPH;
		ifn->attrs[1].graph = eg;
	} else {
		mb_node_g(m, body, "Add", I(acc2, c1), I(scan));
	}
	mb_node_g(m, body, "Add", I(it, ci1), I(nx));
	mb_node_g(m, body, "Less", I(nx, cs), I(cout));
	mb_graph_output(m, body, cout);
	mb_graph_output(m, body, acc2);
	mb_graph_output(m, body, scan);

	int32_t yacc = mb_tmp(m), yscan = mb_tmp(m);
	eml_node *lp = mb_node(m, "Loop", I(mv, cond, x), I(yacc, yscan));
	mb_attr_g(lp, "body", body);
	mb_output(m, yacc);
	mb_output(m, yscan);
	return m;
}

/* The expected outputs: returns the iteration count. */
static int expect(int64_t M, int64_t stop, int with_if, const float *x, float *acc, float *scan)
{
	const float w[2] = {0.5f, -1.0f};
	acc[0] = x[0];
	acc[1] = x[1];
	int n = 0;
	for (int64_t i = 0; i < M; i++) {
		for (int k = 0; k < 2; k++) {
			acc[k] = acc[k] * 2.0f + w[k] * (float)i;
			scan[2 * n + k] = with_if && (i % 2) ? acc[k] - 1.0f : acc[k] + 1.0f;
		}
		n++;
		if (!(i + 1 < stop))
			break;
	}
	return n;
}

static eml_plan *run(const eml_model *m, const float *x, int *rc_out)
{
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 1, D(2), x);
	eml_plan *p = NULL;
	int bad = -1;
	eml_engine_opts o = {.threads = 2, .max_memory = 0};
	int rc = eml_engine_assemble(m, &in, 1, &o, &p, &bad);
	*rc_out = rc;
	if (rc == EML_OK)
		cr_assert_eq(eml_plan_run(p), EML_OK);
	return p;
}

static void check(eml_plan *p, int n, const float *acc, const float *scan)
{
	eml_io_tensor oa, os;
	cr_assert_eq(eml_plan_output(p, 0, &oa), EML_OK);
	cr_assert_eq(eml_plan_output(p, 1, &os), EML_OK);
	cr_assert_eq(oa.rank, 1);
	cr_assert_eq(oa.dims[0], 2);
	cr_assert_eq(os.rank, 2);
	cr_assert_eq(os.dims[0], n, "scan length %lld, want %d", (long long)os.dims[0], n);
	cr_assert_eq(os.dims[1], 2);
	const float *a = oa.data, *s = os.data;
	for (int k = 0; k < 2; k++)
		cr_assert_float_eq(a[k], acc[k], 1e-5f, "acc[%d] = %g, want %g", k, a[k], acc[k]);
	for (int k = 0; k < 2 * n; k++)
		cr_assert_float_eq(s[k], scan[k], 1e-5f, "scan[%d] = %g, want %g", k, s[k],
		                   scan[k]);
}

Test(loop, carried_values_scan_outputs_and_body_condition)
{
	const float x[2] = {1.5f, -0.25f};
	static const int64_t cases[][3] = {
	    {5, 100, 0},              /* M ends it */
	    {10, 3, 0},               /* the body's condition ends it */
	    {1, 100, 0}, {6, 100, 1}, /* If nested in the body */
	    {4, 2, 1},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		float acc[2], scan[2 * 16];
		int n = expect(cases[c][0], cases[c][1], (int)cases[c][2], x, acc, scan);
		eml_model *m = loop_model(cases[c][0], cases[c][1], (int)cases[c][2]);
		int rc;
		eml_plan *p = run(m, x, &rc);
		cr_assert_eq(rc, EML_OK, "case %zu: %s", c, eml_err_name(rc));
		/* the carried value depends on the request: the iterations are planned steps */
		cr_assert_gt(eml_plan_n_steps(p), 0);
		check(p, n, acc, scan);
		eml_plan_free(p);

		/* decompose -> topology key + blob -> join: the same answers */
		uint8_t *tkey = NULL, *blob = NULL;
		size_t tl = 0, bl = 0;
		cr_assert_eq(eml_topo_decompose(m, NULL, &tkey, &tl, &blob, &bl), EML_OK);
		eml_tkey *k = NULL;
		cr_assert_eq(eml_tkey_parse(tkey, tl, &k), EML_OK);
		eml_model *j = NULL;
		uint32_t bad_chunk;
		cr_assert_eq(eml_topo_join(k, blob, bl, &j, &bad_chunk), EML_OK);
		p = run(j, x, &rc);
		cr_assert_eq(rc, EML_OK);
		check(p, n, acc, scan);
		eml_plan_free(p);
		eml_model_free(j);
		eml_tkey_free(k);
		eml_free(tkey);
		eml_free(blob);
		eml_model_free(m);
	}
}

Test(loop, zero_iterations_give_the_initial_values_and_an_empty_scan)
{
	const float x[2] = {3.0f, 4.0f};
	eml_model *m = loop_model(0, 100, 0);
	int rc;
	eml_plan *p = run(m, x, &rc);
	cr_assert_eq(rc, EML_OK, "%s", eml_err_name(rc));
	check(p, 0, x, NULL);
	eml_plan_free(p);
	eml_model_free(m);
}

/* A condition computed from the carried (run-time) value cannot be unrolled: refused cleanly. */
Test(loop, condition_known_only_at_run_time_is_refused)
{
	const float x[2] = {1.0f, 2.0f};
	eml_model *m = loop_model(5, 100, 0);
	/* rewire the body's condition: cond' = ReduceSum(acc') > 0 (a run-time value) */
	eml_graph *body = &m->graphs[1];
	int32_t acc2 = body->outputs[1];
	float zero = 0.0f;
	int32_t z = mb_const(m, EML_DT_FLOAT, 0, NULL, &zero);
	int32_t s = mb_tmp(m), gt = mb_tmp(m);
	mb_node_g(m, 1, "ReduceSum", I(acc2), I(s));
	mb_node_g(m, 1, "Greater", I(s, z), I(gt));
	m->graphs[1].outputs[0] = gt;
	int rc;
	eml_plan *p = run(m, x, &rc);
	cr_assert_eq(rc, EML_E_UNSUPPORTED, "%s", eml_err_name(rc));
	cr_assert_null(p);
	eml_model_free(m);
}

/*
 * Scan (opset 11 form): state s [2], scan inputs A [T, 2] (axis 0, forward) and B [2, T] (axis 1,
 * reverse); body s' = s + a * b, scan output y = 2 s' stacked along axis 1 in reverse order.
 */
Test(loop, scan_axes_and_directions)
{
	enum { T = 5 };
	float A[T * 2], B[2 * T], s0[2] = {0.25f, -1.0f};
	for (int i = 0; i < T * 2; i++) {
		A[i] = 0.5f * (float)i - 1.0f;
		B[i] = 1.0f - 0.25f * (float)i;
	}
	eml_model *m = mb_new(11);
	int32_t vs = mb_value(m, EML_DT_FLOAT, 1, D(2));
	int32_t va = mb_value(m, EML_DT_FLOAT, 2, D(T, 2));
	mb_input(m, vs);
	mb_input(m, va);
	int32_t vb = mb_const(m, EML_DT_FLOAT, 2, D(2, T), B);
	float twov = 2.0f;
	int32_t c2 = mb_const(m, EML_DT_FLOAT, 0, NULL, &twov);
	int32_t body = mb_graph(m, 0);
	int32_t bs = mb_value(m, EML_DT_FLOAT, 1, D(2)), ba = mb_value(m, EML_DT_FLOAT, 1, D(2));
	int32_t bb = mb_value(m, EML_DT_FLOAT, 1, D(2));
	graph_input(m, body, bs);
	graph_input(m, body, ba);
	graph_input(m, body, bb);
	int32_t ab = mb_tmp(m), s2 = mb_tmp(m), y = mb_tmp(m);
	mb_node_g(m, body, "Mul", I(ba, bb), I(ab));
	mb_node_g(m, body, "Add", I(bs, ab), I(s2));
	mb_node_g(m, body, "Mul", I(s2, c2), I(y));
	mb_graph_output(m, body, s2);
	mb_graph_output(m, body, y);
	int32_t os = mb_tmp(m), oy = mb_tmp(m);
	eml_node *sc = mb_node(m, "Scan", I(vs, va, vb), I(os, oy));
	mb_attr_g(sc, "body", body);
	mb_attr_i(sc, "num_scan_inputs", 2);
	mb_attr_ints(sc, "scan_input_axes", 2, D(0, 1));
	mb_attr_ints(sc, "scan_input_directions", 2, D(0, 1));
	mb_attr_ints(sc, "scan_output_axes", 1, D(1));
	mb_attr_ints(sc, "scan_output_directions", 1, D(1));
	mb_output(m, os);
	mb_output(m, oy);

	float s[2] = {s0[0], s0[1]}, want_y[2 * T];
	for (int t = 0; t < T; t++)
		for (int k = 0; k < 2; k++) {
			s[k] += A[t * 2 + k] * B[k * T + (T - 1 - t)];
			want_y[k * T + (T - 1 - t)] = 2.0f * s[k];
		}
	eml_io_tensor in[2] = {mb_io(EML_DT_FLOAT, 1, D(2), s0),
	                       mb_io(EML_DT_FLOAT, 2, D(T, 2), A)};
	eml_plan *p = NULL;
	int bad = -1;
	cr_assert_eq(eml_engine_assemble(m, in, 2, NULL, &p, &bad), EML_OK);
	cr_assert_eq(eml_plan_run(p), EML_OK);
	eml_io_tensor o0, o1;
	cr_assert_eq(eml_plan_output(p, 0, &o0), EML_OK);
	cr_assert_eq(eml_plan_output(p, 1, &o1), EML_OK);
	cr_assert_eq(o1.rank, 2);
	cr_assert_eq(o1.dims[0], 2);
	cr_assert_eq(o1.dims[1], T);
	const float *gs = o0.data, *gy = o1.data;
	for (int k = 0; k < 2; k++)
		cr_assert_float_eq(gs[k], s[k], 1e-5f, "state[%d] %g want %g", k, gs[k], s[k]);
	for (int i = 0; i < 2 * T; i++)
		cr_assert_float_eq(gy[i], want_y[i], 1e-5f, "y[%d] %g want %g", i, gy[i],
		                   want_y[i]);
	eml_plan_free(p);
	eml_model_free(m);
}
