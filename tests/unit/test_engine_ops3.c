/*
 * Gelu as exporters write it for opsets <= 18 (Gelu itself is an opset-20 operator, native since
 * opsets 19/20 are claimed: tests/unit/test_opset20.c): the exact form x * 0.5 * (1 + Erf(x / sqrt(2))) and the tanh approximation
 * 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), run on the claimed operators and
 * compared with the formulas computed here in double.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "common/mem.h"
#include "engine/engine.h"
#include "eml/error.h"
#include "model/model.h"
#include "prop.h"
/* the engine tests' model builder (after engine.h, which it needs) */
#include "test_engine_mb.h"

#define I(...) ((const int32_t[]){__VA_ARGS__, MB_END})
#define D(...) ((const int64_t[]){__VA_ARGS__})

enum { N = 1000 };

static void run_and_compare(eml_model *m, int tanh_form)
{
	static float x[N];
	for (int i = 0; i < N; i++)
		x[i] = -6.0f + 12.0f * (float)i / (N - 1); /* covers both tails and 0 */
	eml_io_tensor in = mb_io(EML_DT_FLOAT, 1, D(N), x);
	eml_plan *p = NULL;
	int bad = -1;
	cr_assert_eq(eml_engine_assemble(m, &in, 1, NULL, &p, &bad), EML_OK);
	cr_assert_eq(eml_plan_run(p), EML_OK);
	eml_io_tensor o;
	cr_assert_eq(eml_plan_output(p, 0, &o), EML_OK);
	cr_assert_eq(o.bytes, sizeof(x));
	const float *y = o.data;
	for (int i = 0; i < N; i++) {
		double want = eml_test_gelu_ref(x[i], tanh_form);
		cr_assert(fabs(y[i] - want) <= 1e-5 * fmax(1.0, fabs(want)),
		          "x = %g: %.9g, want %.9g", (double)x[i], (double)y[i], want);
	}
	eml_plan_free(p);
}

Test(engine_ops3, gelu_erf_form_runs_on_claimed_operators)
{
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(N));
	mb_input(m, x);
	float s2 = 1.41421356237f, one = 1.0f, half = 0.5f;
	int32_t cs2 = mb_const(m, EML_DT_FLOAT, 0, NULL, &s2);
	int32_t c1 = mb_const(m, EML_DT_FLOAT, 0, NULL, &one);
	int32_t ch = mb_const(m, EML_DT_FLOAT, 0, NULL, &half);
	int32_t d = mb_tmp(m), e = mb_tmp(m), a = mb_tmp(m), mm = mb_tmp(m), y = mb_tmp(m);
	mb_node(m, "Div", I(x, cs2), I(d));
	mb_node(m, "Erf", I(d), I(e));
	mb_node(m, "Add", I(e, c1), I(a));
	mb_node(m, "Mul", I(x, a), I(mm));
	mb_node(m, "Mul", I(mm, ch), I(y));
	mb_output(m, y);
	run_and_compare(m, 0);
	eml_model_free(m);
}

Test(engine_ops3, gelu_tanh_form_runs_on_claimed_operators)
{
	eml_model *m = mb_new(13);
	int32_t x = mb_value(m, EML_DT_FLOAT, 1, D(N));
	mb_input(m, x);
	float three = 3.0f, k = 0.044715f, s = 0.7978845608f, one = 1.0f, half = 0.5f;
	int32_t c3 = mb_const(m, EML_DT_FLOAT, 0, NULL, &three);
	int32_t ck = mb_const(m, EML_DT_FLOAT, 0, NULL, &k);
	int32_t cs = mb_const(m, EML_DT_FLOAT, 0, NULL, &s);
	int32_t c1 = mb_const(m, EML_DT_FLOAT, 0, NULL, &one);
	int32_t ch = mb_const(m, EML_DT_FLOAT, 0, NULL, &half);
	int32_t p3 = mb_tmp(m), kp = mb_tmp(m), ad = mb_tmp(m), sc = mb_tmp(m), th = mb_tmp(m);
	int32_t a1 = mb_tmp(m), hx = mb_tmp(m), y = mb_tmp(m);
	mb_node(m, "Pow", I(x, c3), I(p3));
	mb_node(m, "Mul", I(p3, ck), I(kp));
	mb_node(m, "Add", I(x, kp), I(ad));
	mb_node(m, "Mul", I(ad, cs), I(sc));
	mb_node(m, "Tanh", I(sc), I(th));
	mb_node(m, "Add", I(th, c1), I(a1));
	mb_node(m, "Mul", I(x, ch), I(hx));
	mb_node(m, "Mul", I(hx, a1), I(y));
	mb_output(m, y);
	run_and_compare(m, 1);
	eml_model_free(m);
}
