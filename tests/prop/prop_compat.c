/*
 * Property 2 on eml_onnx_check: random valid models from supported operators, with unsupported
 * operators (made-up op types, operators of other domains, real ONNX operators we do not claim
 * such as Loop, and any of those inside If branches) randomly injected; the reported set must be
 * exactly the injected set, with counts, and empty exactly when nothing was injected.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/mem.h"
#include "eml/error.h"
#include "gen_onnx.h"
#include "onnx/onnx.h"
#include "prop.h"

#define PROP2_TEXT                                                                                 \
	"Feature: ephemeral-inference, Property 2: Compatibility validation. A model is accepted " \
	"for decomposition if and only if every operator in it (subgraphs included) is "           \
	"supported; "                                                                              \
	"the refusal names the unsupported operator types."

/* PROP_ASSERT (prop.h) passes the replay seed after the caller's arguments, which misaligns
 * formats that take arguments; this variant puts them first. */
#define P2_ASSERT(cond, fmt, ...)                                                                  \
	cr_assert((cond), "[replay: EML_PROP_SEED=%llu, case %d] " fmt,                            \
	          (unsigned long long)eml_prop_seed_cur, eml_prop_case_cur, ##__VA_ARGS__)

/* Feature: ephemeral-inference, Property 2: Compatibility validation. A model is accepted for
 * decomposition if and only if every operator in it (subgraphs included) is supported; the
 * refusal names the unsupported operator types. */
Test(prop, compatibility_validation, .description = PROP2_TEXT, .timeout = 600)
{
	int with_injection = 0, in_subgraph_seen = 0, case_no = 0;
	PROP_FOR_EACH_CASE(rng)
	{
		eml_gen_opts o;
		memset(&o, 0, sizeof(o));
		/* every third case clean and the next injected, so both sides occur even with few
		 * cases (the sanitizer pass runs 10); the rest drawn at random */
		int mode = case_no++ % 3;
		o.n_unsupported = mode == 0 ? 0
		                  : mode == 1 || !eml_rng_chance(&rng, 0.3)
		                      ? (int)eml_rng_range(&rng, 1, 6)
		                      : 0;
		o.max_layers = 3;
		uint8_t *bytes = NULL;
		size_t len = 0;
		eml_gen_info info;
		P2_ASSERT(eml_gen_model(&rng, &o, &bytes, &len, &info) == EML_OK, "generate");
		eml_model *m = NULL;
		int rc = eml_onnx_load_bytes(bytes, len, NULL, &m);
		P2_ASSERT(rc == EML_OK, "load: %s", eml_err_name(rc));
		eml_unsupported_op *list = NULL;
		size_t n = 0;
		P2_ASSERT(eml_onnx_check(m, &list, &n) == EML_OK, "check");
		/* accepted iff nothing unsupported was injected */
		P2_ASSERT((n == 0) == (o.n_unsupported == 0), "accepted=%d injected=%d", n == 0,
		          o.n_unsupported);
		P2_ASSERT(n == info.n_injected, "reported %zu kinds, injected %u", n,
		          info.n_injected);
		uint32_t total = 0;
		for (size_t i = 0; i < n; i++) {
			const eml_gen_injected *e = &info.injected[i];
			P2_ASSERT(
			    strcmp(list[i].domain, e->domain) == 0 &&
			        strcmp(list[i].op_type, e->op_type) == 0 &&
			        list[i].opset == e->opset && list[i].count == e->count,
			    "kind %zu: reported (%s, %s, %lld, %u), injected (%s, %s, %lld, %u)", i,
			    list[i].domain, list[i].op_type, (long long)list[i].opset,
			    list[i].count, e->domain, e->op_type, (long long)e->opset, e->count);
			total += list[i].count;
		}
		P2_ASSERT(total == (uint32_t)o.n_unsupported, "counts sum %u, injected %d", total,
		          o.n_unsupported);
		/* where injected nodes sit inside subgraphs, they were found there */
		for (uint32_t g = 1; g < m->n_graphs; g++)
			for (uint32_t k = 0; k < m->graphs[g].n_nodes; k++)
				if (!eml_onnx_op_supported(
				        m->graphs[g].nodes[k].domain, m->graphs[g].nodes[k].op_type,
				        eml_model_opset(m, m->graphs[g].nodes[k].domain)))
					in_subgraph_seen++;
		with_injection += o.n_unsupported > 0;
		eml_onnx_unsupported_free(list, n);
		eml_model_free(m);
		eml_free(bytes);
	}
	/* the generator really exercised both sides and subgraph injection */
	cr_assert_gt(with_injection, 0);
	cr_assert_lt(with_injection, eml_prop_iters());
	if (eml_prop_iters() >= 100)
		cr_assert_gt(in_subgraph_seen, 0, "no injection landed inside an If branch");
}
