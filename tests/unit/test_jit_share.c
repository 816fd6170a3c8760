/* test_jit_share.c -- what the JIT does across a program's slots and
   across programs (cg_jit.c): programs of one process share compiled
   kernels (compiling a graph a second time compiles no kernel, a program
   made of kernels already compiled compiles none either, and programs
   that share kernels still compute what they computed alone, also after
   the program that compiled the kernels is freed); and a training step
   computes its updates in its params' buffers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "fe.h"
#include "pass.h"
#include "test_util.h"

static IrGraph *model(McSources *src, McDiag *d, int64_t batch, const char *pipeline) {
  char path[512];
  snprintf(path, sizeof path, "%s/examples/seed_net.model", MODELC_SOURCE_DIR);
  FeDefine def = {"B", batch};
  FeOptions fo = {.defines = &def, .ndefines = 1};
  IrGraph *g = fe_compile_file(path, &fo, src, d);
  PassCtx cx = {.diag = d};
  CU_ASSERT_FATAL(g && pass_run_pipeline(&g, pipeline, &cx));
  return g;
}

/* Runs p on inputs and params from a fixed pattern; returns the first
   output's buffer (caller frees) and frees the others. */
static float *run(const IrGraph *g, CgProgram *p, McDiag *d) {
  int n = cg_program_nslots(p);
  void **bufs = calloc((size_t)n, sizeof *bufs);
  for (int i = 0; i < n; i++) {
    const IrNode *node = ir_node(g, cg_program_slot_node(p, i));
    int64_t numel = ir_shape_numel(&node->shape);
    float *b = calloc((size_t)numel + 1, sizeof *b);
    for (int64_t k = 0; k < numel; k++) b[k] = (float)((k * 7 + i * 3) % 11) / 11.0f - 0.4f;
    bufs[i] = b;
  }
  CU_ASSERT_TRUE(cg_program_run(p, bufs, d));
  int out = cg_program_output_slot(p, 0);
  float *result = bufs[out];
  for (int i = 0; i < n; i++)
    if (i != out) free(bufs[i]);
  free(bufs);
  return result;
}

static void test_second_compile_makes_no_kernel(void) {
  McSources src;
  McDiag d;
  mc_sources_init(&src);
  mc_diag_init(&d, &src, stderr);
  IrGraph *g = model(&src, &d, 8, PASS_PIPELINE_GRAD);
  CgOptions o = cg_options_default();
  o.threads = 1;
  o.opt_level = 1; /* a target of its own in this process */
  CgProgram *a = cg_jit_compile(g, &o, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CgStats sa, sb;
  cg_program_stats(a, &sa);
  CU_ASSERT(sa.kernels_new > 0);
  float *ra = run(g, a, &d);
  CgProgram *b = cg_jit_compile(g, &o, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  cg_program_stats(b, &sb);
  CU_ASSERT_EQUAL(sb.kernels_new, 0);
  CU_ASSERT_EQUAL(sb.nkernels, sa.nkernels);
  cg_program_free(a); /* b keeps running on the kernels a compiled */
  float *rb = run(g, b, &d);
  const IrNode *out = ir_node(g, g->outs[0].ref);
  CU_ASSERT_EQUAL(memcmp(ra, rb, (size_t)ir_shape_numel(&out->shape) * sizeof(float)), 0);
  free(ra);
  free(rb);
  cg_program_free(b);
  ir_graph_free(g);
  mc_diag_fini(&d);
  mc_sources_free(&src);
}

/* The forward graph at another batch is made of the same kernels (their
   extents are arguments): nothing to compile. */
static void test_other_sizes_reuse(void) {
  McSources src;
  McDiag d;
  mc_sources_init(&src);
  mc_diag_init(&d, &src, stderr);
  CgOptions o = cg_options_default();
  o.threads = 1;
  o.opt_level = 3;
  /* both batches small enough for the direct matmul kernel (cg_matmul.c) */
  IrGraph *big = model(&src, &d, 16, PASS_PIPELINE_FORWARD);
  IrGraph *fwd = model(&src, &d, 3, PASS_PIPELINE_FORWARD);
  CgProgram *pb = cg_jit_compile(big, &o, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
  CgProgram *pf = cg_jit_compile(fwd, &o, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
  CgStats s;
  cg_program_stats(pf, &s);
  CU_ASSERT_EQUAL(s.kernels_new, 0);
  CU_ASSERT(s.nkernels > 0);
  /* the same forward compiled alone in a fresh target agrees */
  CgOptions fresh = o;
  fresh.opt_level = 0;
  CgProgram *alone = cg_jit_compile(fwd, &fresh, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(alone);
  float *shared = run(fwd, pf, &d), *own = run(fwd, alone, &d);
  const IrNode *out = ir_node(fwd, fwd->outs[0].ref);
  int64_t n = ir_shape_numel(&out->shape);
  int bad = 0;
  for (int64_t k = 0; k < n; k++) bad += fabsf(shared[k] - own[k]) > 1e-5f * (1 + fabsf(own[k]));
  CU_ASSERT_EQUAL(bad, 0);
  free(shared);
  free(own);
  cg_program_free(alone);
  cg_program_free(pf);
  cg_program_free(pb);
  ir_graph_free(fwd);
  ir_graph_free(big);
  mc_diag_fini(&d);
  mc_sources_free(&src);
}

/* Every update of seed_net's and mlp's Adam steps lands in its param's
   slot (test_train_step.c and test_aot.c check the values). */
static void test_updates_in_place(void) {
  static const char *const models[] = {"seed_net", "mlp"};
  for (size_t m = 0; m < MC_COUNTOF(models); m++) {
    McSources src;
    McDiag d;
    mc_sources_init(&src);
    mc_diag_init(&d, &src, stderr);
    char path[512];
    snprintf(path, sizeof path, "%s/examples/%s.model", MODELC_SOURCE_DIR, models[m]);
    FeDefine def = {"B", 4};
    FeOptions fo = {.defines = &def, .ndefines = 1};
    IrGraph *g = fe_compile_file(path, &fo, &src, &d);
    PassOptim adam = {.kind = PASS_OPTIM_ADAM};
    PassCtx cx = {.diag = &d, .optim = &adam};
    CU_ASSERT_FATAL(g && pass_run_pipeline(&g, PASS_PIPELINE_TRAIN, &cx));
    CgProgram *p = cg_jit_compile(g, NULL, &d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int updates = 0, in_place = 0;
    for (uint32_t k = 0; k < g->nouts; k++) {
      if (g->outs[k].kind != IR_OUT_UPDATE) continue;
      updates++;
      int s = cg_program_output_slot(p, (int)k);
      const IrNode *n = ir_node(g, cg_program_slot_node(p, s));
      in_place += n->op == IR_OP_PARAM && !strcmp(n->name, g->outs[k].name);
    }
    CU_ASSERT(updates > 0);
    CU_ASSERT_EQUAL(in_place, updates);
    cg_program_free(p);
    ir_graph_free(g);
    mc_diag_fini(&d);
    mc_sources_free(&src);
  }
}

int main(void) {
  static const TestCase tests[] = {
      {"a second compile of a graph compiles no kernel", test_second_compile_makes_no_kernel},
      {"a forward pass at another batch compiles no kernel", test_other_sizes_reuse},
      {"a training step computes every update in its param's buffer", test_updates_in_place},
  };
  return test_main("jit_share", tests, MC_COUNTOF(tests));
}
