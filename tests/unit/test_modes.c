/* test_modes.c -- what differs between train and eval mode. Dropout: in
   train mode a fraction p of the elements is zeroed and the rest scaled by
   1 / (1 - p); the mask follows the random state buffer (another state,
   another mask; the step's update moves the state on); eval mode is the
   identity; the JIT draws the same mask bits as the reference evaluator.
   Batch norm: eval mode normalizes with the running statistics, train mode
   with the batch's and updates the running ones (torch's formulas). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "fe.h"
#include "pass.h"
#include "test_util.h"

#define N 4000
#define P 0.3

static const char *const source =
    "model d {\n"
    "  input x: f32[4, 1000]\n"
    "  output y = dropout(x, p = 0.3)\n"
    "}\n";

typedef struct Run {
  McSources src;
  McDiag d;
  IrGraph *g;
} Run;

static void compile(Run *r, FeMode mode) {
  mc_sources_init(&r->src);
  mc_diag_init(&r->d, &r->src, stderr);
  FeOptions o = {.mode = mode};
  r->g = fe_compile_string("d.model", source, &o, &r->src, &r->d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r->g);
}

static void run_free(Run *r) {
  ir_graph_free(r->g);
  mc_diag_fini(&r->d);
  mc_sources_free(&r->src);
}

/* y for x = 1 everywhere and the given random state, by the evaluator. */
static void eval_y(Run *r, double state, double *y, double *next_state) {
  static double ones[N];
  for (int i = 0; i < N; i++) ones[i] = 1;
  IrEval *e = ir_eval_new(r->g, false);
  CU_ASSERT_TRUE_FATAL(ir_eval_bind(e, "x", ones, N, &r->d));
  if (ir_find_param(r->g, "rng_state") != IR_NONE)
    CU_ASSERT_TRUE_FATAL(ir_eval_bind(e, "rng_state", &state, 1, &r->d));
  CU_ASSERT_TRUE_FATAL(ir_eval_run(e, &r->d));
  memcpy(y, ir_eval_output(e, IR_OUT_OUTPUT, "y")->data, N * sizeof *y);
  const IrTensor *u = ir_eval_output(e, IR_OUT_UPDATE, "rng_state");
  if (next_state) *next_state = u ? u->data[0] : state;
  ir_eval_free(e);
}

static void test_dropout_train_mode_masks(void) {
  Run r;
  compile(&r, FE_MODE_TRAIN);
  const IrNode *state = ir_node(r.g, ir_find_param(r.g, "rng_state"));
  CU_ASSERT_TRUE(state->attr.frozen);
  static double y[N], y2[N];
  double next;
  eval_y(&r, 12345, y, &next);
  int zeros = 0;
  for (int i = 0; i < N; i++) {
    zeros += y[i] == 0;
    if (y[i] != 0) CU_ASSERT_DOUBLE_EQUAL(y[i], 1 / (1 - P), 1e-6);
  }
  CU_ASSERT(fabs((double)zeros / N - P) < 0.03);
  CU_ASSERT_NOT_EQUAL(next, 12345);
  eval_y(&r, next, y2, NULL);
  int differ = 0;
  for (int i = 0; i < N; i++) differ += (y[i] == 0) != (y2[i] == 0);
  CU_ASSERT(differ > N / 10);   /* the next step's mask is another one */
  eval_y(&r, 12345, y2, NULL);
  CU_ASSERT_EQUAL(memcmp(y, y2, sizeof y), 0);   /* the same state, the same mask */
  run_free(&r);
}

static void test_dropout_eval_mode_is_identity(void) {
  Run r;
  compile(&r, FE_MODE_EVAL);
  CU_ASSERT_EQUAL(ir_find_param(r.g, "rng_state"), IR_NONE);
  static double y[N];
  eval_y(&r, 0, y, NULL);
  for (int i = 0; i < N; i++) CU_ASSERT_EQUAL(y[i], 1);
  run_free(&r);
}

/* The compiled forward program zeroes exactly the evaluator's elements. */
static void test_dropout_jit_matches_evaluator(void) {
  Run r;
  compile(&r, FE_MODE_TRAIN);
  static double ref[N];
  double next;
  eval_y(&r, 777, ref, &next);
  PassCtx cx = {.diag = &r.d};
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&r.g, PASS_PIPELINE_FORWARD, &cx));
  CgProgram *p = cg_jit_compile(r.g, NULL, &r.d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  int n = cg_program_nslots(p);
  void **bufs = calloc((size_t)n, sizeof *bufs);
  for (int i = 0; i < n; i++) {
    const IrNode *node = ir_node(r.g, cg_program_slot_node(p, i));
    float *b = calloc((size_t)ir_shape_numel(&node->shape) + 1, sizeof *b);
    if (node->op == IR_OP_INPUT)
      for (int k = 0; k < N; k++) b[k] = 1;
    if (node->op == IR_OP_PARAM) b[0] = 777;
    bufs[i] = b;
  }
  CU_ASSERT_TRUE_FATAL(cg_program_run(p, bufs, &r.d));
  int y = -1, u = -1;
  for (uint32_t k = 0; k < r.g->nouts; k++) {
    if (r.g->outs[k].kind == IR_OUT_OUTPUT) y = cg_program_output_slot(p, (int)k);
    if (r.g->outs[k].kind == IR_OUT_UPDATE) u = cg_program_output_slot(p, (int)k);
  }
  CU_ASSERT_FATAL(y >= 0 && u >= 0);
  int mismatched = 0;
  for (int i = 0; i < N; i++) mismatched += (((float *)bufs[y])[i] == 0) != (ref[i] == 0);
  CU_ASSERT_EQUAL(mismatched, 0);
  CU_ASSERT_EQUAL(((float *)bufs[u])[0], (float)next);
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs);
  cg_program_free(p);
  run_free(&r);
}

/* batch_norm1d over x [2, 2, 3]; running statistics and affine params
   bound to the values below. */
static const char *const bn_source =
    "model b {\n"
    "  input x: f32[2, 2, 3]\n"
    "  bn = batch_norm1d(2)\n"
    "  output y = bn(x)\n"
    "}\n";

static const double rm[2] = {0.5, -1}, rv[2] = {4, 0.25}, w[2] = {2, 3}, b[2] = {1, -1};

/* y of the batch norm model in `mode`, by the evaluator in f64 (*ep kept
   for its update outputs). */
static const IrTensor *bn_run(FeMode mode, const double *x, IrEval **ep, Run *r) {
  mc_sources_init(&r->src);
  mc_diag_init(&r->d, &r->src, stderr);
  FeOptions o = {.mode = mode};
  r->g = fe_compile_string("b.model", bn_source, &o, &r->src, &r->d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r->g);
  IrEval *e = ir_eval_new(r->g, true);
  CU_ASSERT_TRUE_FATAL(ir_eval_bind(e, "x", x, 12, &r->d) &&
                       ir_eval_bind(e, "bn.running_mean", rm, 2, &r->d) &&
                       ir_eval_bind(e, "bn.running_var", rv, 2, &r->d) &&
                       ir_eval_bind(e, "bn.weight", w, 2, &r->d) &&
                       ir_eval_bind(e, "bn.bias", b, 2, &r->d));
  CU_ASSERT_TRUE_FATAL(ir_eval_run(e, &r->d));
  *ep = e;
  return ir_eval_output(e, IR_OUT_OUTPUT, "y");
}

static void test_batch_norm_modes(void) {
  const double x[12] = {1, 2, 3, 4, 5, 6, -1, 0, 2, 7, 1, 1};
  Run r;
  IrEval *e;
  const IrTensor *y = bn_run(FE_MODE_EVAL, x, &e, &r);
  for (int i = 0; i < 12; i++) {
    int c = (i / 3) % 2;
    CU_ASSERT_DOUBLE_EQUAL(y->data[i], (x[i] - rm[c]) / sqrt(rv[c] + 1e-5) * w[c] + b[c], 1e-12);
  }
  CU_ASSERT_PTR_NULL(ir_find_output(r.g, IR_OUT_UPDATE, NULL));
  ir_eval_free(e);
  run_free(&r);
  y = bn_run(FE_MODE_TRAIN, x, &e, &r);
  for (int c = 0; c < 2; c++) {
    double mean = 0, var = 0;
    for (int n = 0; n < 2; n++)
      for (int k = 0; k < 3; k++) mean += x[n * 6 + c * 3 + k] / 6;
    for (int n = 0; n < 2; n++)
      for (int k = 0; k < 3; k++) var += pow(x[n * 6 + c * 3 + k] - mean, 2) / 6;
    for (int n = 0; n < 2; n++)
      for (int k = 0; k < 3; k++) {
        int i = n * 6 + c * 3 + k;
        CU_ASSERT_DOUBLE_EQUAL(y->data[i], (x[i] - mean) / sqrt(var + 1e-5) * w[c] + b[c], 1e-12);
      }
    const IrTensor *m = ir_eval_output(e, IR_OUT_UPDATE, "bn.running_mean");
    const IrTensor *v = ir_eval_output(e, IR_OUT_UPDATE, "bn.running_var");
    CU_ASSERT_FATAL(m && v);
    CU_ASSERT_DOUBLE_EQUAL(m->data[c], 0.9 * rm[c] + 0.1 * mean, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(v->data[c], 0.9 * rv[c] + 0.1 * var * 6 / 5, 1e-12);
  }
  ir_eval_free(e);
  run_free(&r);
}

int main(void) {
  static const TestCase cases[] = {
      {"dropout, train mode: a fraction p zeroed, the rest scaled; masks follow the state",
       test_dropout_train_mode_masks},
      {"dropout, eval mode: the identity, no random state", test_dropout_eval_mode_is_identity},
      {"dropout: JIT == evaluator, mask and state update", test_dropout_jit_matches_evaluator},
      {"batch norm: running statistics in eval mode, batch statistics and their update in "
       "train mode", test_batch_norm_modes},
  };
  return test_main("modes", cases, MC_COUNTOF(cases));
}
