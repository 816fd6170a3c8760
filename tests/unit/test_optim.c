/* test_optim.c -- the optim pass: the training-step program it builds
   (state params, update outputs, opt.* inputs, text round trip), its errors,
   two steps of every optimizer run in the evaluator against hand-computed
   values, and five steps on a small MLP against torch.optim through
   tests/unit/optim_torch.py (skipped when /usr/bin/python3 has no torch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fe.h"
#include "pass.h"
#include "test_util.h"

static const McLoc noloc = {0};
static McDiag diag;

static void reset_diag(void) {
  mc_diag_fini(&diag);
  mc_diag_init(&diag, NULL, NULL);
}

static bool has_text(const char *hay, const char *needle) {
  return hay && strstr(hay, needle) != NULL;
}

/* ---- the tiny model: loss = sum(w * x) + b * b -----------------------------
   w f32[2] = [1, -2], b f32[] = 0.5, x = [3, 0.5]: grad w = x, grad b = 2b. */

static const double w0[2] = {1.0, -2.0}, b0 = 0.5, x0[2] = {3.0, 0.5};

static IrGraph *tiny_forward(void) {
  IrGraph *g = ir_graph_new("tiny", &diag);
  IrShape two = {.rank = 1, .d = {ir_dim_const(2)}}, scalar = {0};
  IrInit none = {.kind = IR_INIT_NONE};
  IrRef x = ir_input(g, "x", IR_F32, &two, noloc);
  IrRef w = ir_param(g, "w", IR_F32, &two, none, noloc);
  IrRef b = ir_param(g, "b", IR_F32, &scalar, none, noloc);
  IrRef wx = ir_reduce(g, IR_OP_SUM, ir_binary(g, IR_OP_MUL, w, x, noloc), 1u, false, noloc);
  IrRef loss = ir_binary(g, IR_OP_ADD, wx, ir_binary(g, IR_OP_MUL, b, b, noloc), noloc);
  ir_add_output(g, IR_OUT_LOSS, "loss", loss);
  return g;
}

/* The tiny model through autodiff and optim (verified after each pass). */
static IrGraph *tiny_step(const PassOptim *cfg) {
  reset_diag();
  IrGraph *g = tiny_forward();
  PassCtx cx = {.diag = &diag, .verify_each = true, .optim = cfg};
  bool ok = pass_run_pipeline(&g, "autodiff,optim", &cx);
  if (!ok) fprintf(stderr, "\n%s", diag.buf.s);
  CU_ASSERT_FATAL(ok);
  return g;
}

/* Binds every opt.* input of g for update number `step`. */
static bool bind_hyper(IrEval *e, const IrGraph *g, const PassOptimHyper *h, int64_t step) {
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    double v;
    if (n->op != IR_OP_INPUT || strncmp(n->name, "opt.", 4) != 0) continue;
    if (!pass_optim_input_value(h, step, n->name, &v) || !ir_eval_bind(e, n->name, &v, 1, &diag))
      return false;
  }
  return true;
}

/* Stores every UPDATE output into its param (copied first: an update may
   read a param another update replaces). */
static bool apply_updates(IrEval *e, const IrGraph *g) {
  uint32_t n = 0;
  double *saved[64];
  for (uint32_t i = 0; i < g->nouts && n < 64; i++) {
    if (g->outs[i].kind != IR_OUT_UPDATE) continue;
    const IrTensor *t = ir_eval_value(e, g->outs[i].ref);
    saved[n] = mc_xmalloc((size_t)t->numel * sizeof(double));
    memcpy(saved[n++], t->data, (size_t)t->numel * sizeof(double));
  }
  bool ok = true;
  for (uint32_t i = 0, k = 0; i < g->nouts && k < n; i++) {
    if (g->outs[i].kind != IR_OUT_UPDATE) continue;
    int64_t numel = ir_eval_value(e, g->outs[i].ref)->numel;
    ok = ir_eval_bind(e, g->outs[i].name, saved[k], numel, &diag) && ok;
    free(saved[k++]);
  }
  return ok;
}

/* One training step: hyperparameters for `step`, run, write back. */
static void train_step(IrEval *e, const IrGraph *g, const PassOptimHyper *h, int64_t step) {
  CU_ASSERT_FATAL(bind_hyper(e, g, h, step));
  bool ok = ir_eval_run(e, &diag);
  if (!ok) fprintf(stderr, "\n%s", diag.buf.s);
  CU_ASSERT_FATAL(ok);
  CU_ASSERT_FATAL(apply_updates(e, g));
}

/* An evaluator (f32 semantics) of the tiny step with w, b, x bound and the
   optimizer state at zero. */
static IrEval *tiny_eval(const IrGraph *g) {
  IrEval *e = ir_eval_new(g, false);
  CU_ASSERT_FATAL(ir_eval_bind(e, "x", x0, 2, &diag));
  CU_ASSERT_FATAL(ir_eval_bind(e, "w", w0, 2, &diag));
  CU_ASSERT_FATAL(ir_eval_bind(e, "b", &b0, 1, &diag));
  ir_eval_init_params(e, 0);
  return e;
}

/* The bound value of `name` equals want[] within f32 rounding. */
static void expect_values(IrEval *e, const char *name, const double *want, int n) {
  const IrTensor *t = ir_eval_binding(e, name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_EQUAL_FATAL(t->numel, n);
  for (int i = 0; i < n; i++) {
    bool close = fabs(t->data[i] - want[i]) <= 1e-6 * fmax(1.0, fabs(want[i]));
    if (!close) fprintf(stderr, "\n%s[%d] = %.9g, want %.9g\n", name, i, t->data[i], want[i]);
    CU_ASSERT(close);
  }
}

/* Runs two steps of cfg with h on the tiny model; checks w and b after each
   and the state tensors after the second. */
typedef struct TwoSteps {
  double w1[2], b1, w2[2], b2;
  const char *state[2];          /* state suffixes, NULL when absent */
  double s_w[2][2], s_b[2];      /* state of w and b after step 2 */
} TwoSteps;

static void check_two_steps(const PassOptim *cfg, const PassOptimHyper *h, const TwoSteps *want) {
  IrGraph *g = tiny_step(cfg);
  IrEval *e = tiny_eval(g);
  train_step(e, g, h, 1);
  expect_values(e, "w", want->w1, 2);
  expect_values(e, "b", &want->b1, 1);
  train_step(e, g, h, 2);
  expect_values(e, "w", want->w2, 2);
  expect_values(e, "b", &want->b2, 1);
  for (int k = 0; k < 2 && want->state[k]; k++) {
    char name[64];
    snprintf(name, sizeof name, "w.%s", want->state[k]);
    expect_values(e, name, want->s_w[k], 2);
    snprintf(name, sizeof name, "b.%s", want->state[k]);
    expect_values(e, name, &want->s_b[k], 1);
  }
  ir_eval_free(e);
  ir_graph_free(g);
}

/* ---- structure of the step program ----------------------------------------- */

static bool has_input(const IrGraph *g, const char *name) {
  IrRef r = ir_find_input(g, name);
  if (r == IR_NONE) return false;
  const IrNode *n = ir_node(g, r);
  return n->dtype == IR_F32 && n->shape.rank == 0;
}

static void test_optim_sgd_program_shape(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_SGD, .nesterov = true};
  IrGraph *g = tiny_step(&cfg);
  /* state params: zeros, shaped like their param */
  IrRef buf = ir_find_param(g, "w.momentum_buffer");
  CU_ASSERT_NOT_EQUAL_FATAL(buf, IR_NONE);
  CU_ASSERT_EQUAL(ir_node(g, buf)->attr.init.kind, IR_INIT_ZEROS);
  CU_ASSERT_EQUAL(ir_node(g, buf)->shape.rank, 1);
  CU_ASSERT_EQUAL(ir_node(g, buf)->shape.d[0].n, 2);
  CU_ASSERT_NOT_EQUAL(ir_find_param(g, "b.momentum_buffer"), IR_NONE);
  CU_ASSERT_EQUAL(ir_find_param(g, "w.exp_avg"), IR_NONE);
  /* outputs: the loss stays, grads are gone, one update per param and state */
  CU_ASSERT_PTR_NOT_NULL(ir_find_output(g, IR_OUT_LOSS, "loss"));
  CU_ASSERT_PTR_NULL(ir_find_output(g, IR_OUT_GRAD, NULL));
  const char *updates[] = {"w", "w.momentum_buffer", "b", "b.momentum_buffer"};
  uint32_t nupdates = 0;
  for (uint32_t i = 0; i < g->nouts; i++) nupdates += g->outs[i].kind == IR_OUT_UPDATE;
  CU_ASSERT_EQUAL(nupdates, MC_COUNTOF(updates));
  for (size_t i = 0; i < MC_COUNTOF(updates); i++)
    CU_ASSERT_PTR_NOT_NULL(ir_find_output(g, IR_OUT_UPDATE, updates[i]));
  /* run-time hyperparameters: exactly SGD's */
  CU_ASSERT(has_input(g, "opt.lr") && has_input(g, "opt.momentum"));
  CU_ASSERT(has_input(g, "opt.weight_decay"));
  CU_ASSERT_FALSE(has_input(g, "opt.beta1") || has_input(g, "opt.max_norm"));
  CU_ASSERT(ir_verify(g, &diag));
  ir_graph_free(g);
}

static void test_optim_adam_program_inputs(void) {
  const char *adam[] = {"opt.weight_decay",    "opt.beta1",           "opt.beta2",
                        "opt.eps",             "opt.step_size",       "opt.bias_correction2_sqrt",
                        "opt.one_minus_beta1", "opt.one_minus_beta2"};
  for (int kind = PASS_OPTIM_ADAM; kind <= PASS_OPTIM_ADAMW; kind++) {
    PassOptim cfg = {.kind = (PassOptimKind)kind, .clip_grad_norm = true};
    IrGraph *g = tiny_step(&cfg);
    for (size_t i = 0; i < MC_COUNTOF(adam); i++) CU_ASSERT(has_input(g, adam[i]));
    CU_ASSERT(has_input(g, "opt.max_norm"));
    CU_ASSERT_EQUAL(has_input(g, "opt.lr"), kind == PASS_OPTIM_ADAMW);
    CU_ASSERT_FALSE(has_input(g, "opt.momentum"));
    CU_ASSERT_NOT_EQUAL(ir_find_param(g, "w.exp_avg"), IR_NONE);
    CU_ASSERT_NOT_EQUAL(ir_find_param(g, "b.exp_avg_sq"), IR_NONE);
    CU_ASSERT_PTR_NOT_NULL(ir_find_output(g, IR_OUT_UPDATE, "b.exp_avg_sq"));
    ir_graph_free(g);
  }
}

/* The text form prints `update "NAME" = %ID` and reads it back. */
static void test_optim_program_round_trips_as_text(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_ADAMW, .clip_grad_norm = true};
  IrGraph *g = tiny_step(&cfg);
  McStr a, b;
  mc_str_init(&a);
  mc_str_init(&b);
  ir_print(&a, g);
  CU_ASSERT(has_text(a.s, "\n  update \"w.exp_avg\" = %"));
  IrGraph *back = ir_parse(a.s, 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(back);
  CU_ASSERT(ir_verify(back, &diag));
  ir_print(&b, back);
  CU_ASSERT_STRING_EQUAL(a.s, b.s);
  mc_str_free(&a);
  mc_str_free(&b);
  ir_graph_free(back);
  ir_graph_free(g);
}

/* simplify, cse and dce keep the update outputs and the state params. */
static void test_optim_cleanup_passes_keep_updates(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_ADAM};
  IrGraph *g = tiny_step(&cfg);
  PassCtx cx = {.diag = &diag, .verify_each = true};
  CU_ASSERT_FATAL(pass_run_pipeline(&g, "simplify,cse,dce", &cx));
  CU_ASSERT_PTR_NOT_NULL(ir_find_output(g, IR_OUT_UPDATE, "w.exp_avg_sq"));
  CU_ASSERT_NOT_EQUAL(ir_find_param(g, "b.exp_avg"), IR_NONE);
  PassOptimHyper h = pass_optim_defaults(PASS_OPTIM_ADAM);
  h.lr = 0.1;
  IrEval *e = tiny_eval(g);
  train_step(e, g, &h, 1);
  expect_values(e, "w", (double[]){0.9, -2.1}, 2);
  ir_eval_free(e);
  ir_graph_free(g);
}

/* ---- the verifier and parser on updates ------------------------------------ */

static void test_optim_verifier_checks_update_targets(void) {
  static const char *bad_name =
      "graph @g {\n  %0 = input \"x\" : f32[2]\n  %1 = param \"w\" zeros : f32[2]\n"
      "  update \"x\" = %1\n}\n";
  static const char *bad_type =
      "graph @g {\n  %0 = param \"w\" zeros : f32[2]\n  %1 = param \"v\" zeros : f32[3]\n"
      "  update \"w\" = %1\n}\n";
  static const char *good =
      "graph @g {\n  %0 = param \"w\" zeros : f32[2]\n  %1 = neg %0 : f32[2]\n"
      "  update \"w\" = %1\n}\n";
  reset_diag();
  IrGraph *g = ir_parse(bad_name, 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  CU_ASSERT(has_text(diag.buf.s, "update \"x\" names no param"));
  ir_graph_free(g);
  reset_diag();
  g = ir_parse(bad_type, 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_FALSE(ir_verify(g, &diag));
  CU_ASSERT(has_text(diag.buf.s, "update \"w\" has type f32[3], but param \"w\" is f32[2]"));
  ir_graph_free(g);
  reset_diag();
  g = ir_parse(good, 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT(ir_verify(g, &diag));
  CU_ASSERT_EQUAL(g->outs[0].kind, IR_OUT_UPDATE);
  ir_graph_free(g);
}

/* ---- errors ----------------------------------------------------------------- */

static void test_optim_rejects_graph_without_gradients(void) {
  reset_diag();
  IrGraph *g = tiny_forward(), *before = g;
  PassCtx cx = {.diag = &diag};
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "optim", &cx));
  CU_ASSERT_PTR_EQUAL(g, before);
  CU_ASSERT(has_text(diag.buf.s, "optim: param \"w\" has no gradient (run autodiff first)"));
  ir_graph_free(g);
}

static void test_optim_rejects_second_run_and_taken_names(void) {
  IrGraph *g = tiny_step(NULL);
  PassCtx cx = {.diag = &diag};
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "optim", &cx));
  CU_ASSERT(has_text(diag.buf.s, "optim: the graph already updates trained param"));
  ir_graph_free(g);

  reset_diag();
  g = tiny_forward();
  IrShape scalar = {0};
  ir_input(g, "opt.lr", IR_F32, &scalar, noloc);
  ir_param(g, "w.exp_avg", IR_F32, &scalar, (IrInit){.kind = IR_INIT_ZEROS}, noloc);
  PassOptim adamw = {.kind = PASS_OPTIM_ADAMW};
  cx.optim = &adamw;
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "autodiff,optim", &cx));
  CU_ASSERT(has_text(diag.buf.s, "optim: the name \"opt.lr\" is already used by the model"));
  CU_ASSERT(has_text(diag.buf.s, "optim: the name \"w.exp_avg\" is already used by the model"));
  ir_graph_free(g);
}

static void test_optim_rejects_grad_of_another_type(void) {
  static const char *text =
      "graph @g {\n  %0 = param \"w\" zeros : f32[2]\n  %1 = sum %0 axes=[0] : f32[]\n"
      "  %2 = param \"v\" zeros : f32[3]\n  loss \"loss\" = %1\n  grad \"w\" = %2\n"
      "  grad \"v\" = %2\n}\n";
  reset_diag();
  IrGraph *g = ir_parse(text, 0, &diag);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  PassCtx cx = {.diag = &diag};
  CU_ASSERT_FALSE(pass_run_pipeline(&g, "optim", &cx));
  CU_ASSERT(has_text(diag.buf.s, "optim: grad \"w\" does not have its param's type"));
  CU_ASSERT_FALSE(has_text(diag.buf.s, "grad \"v\""));
  ir_graph_free(g);
}

/* An f64 param gets its scalars cast to f64; clipping stacks an f32 norm.
   Adam's first step moves each weight by lr against its gradient's sign. */
static void test_optim_f64_param_casts_scalars(void) {
  reset_diag();
  IrGraph *g = ir_graph_new("f64", &diag);
  IrShape two = {.rank = 1, .d = {ir_dim_const(2)}};
  IrRef x = ir_input(g, "x", IR_F64, &two, noloc);
  IrRef w = ir_param(g, "w", IR_F64, &two, (IrInit){.kind = IR_INIT_NONE}, noloc);
  IrRef wx = ir_binary(g, IR_OP_MUL, w, x, noloc);
  ir_add_output(g, IR_OUT_LOSS, "loss", ir_reduce(g, IR_OP_SUM, wx, 1u, false, noloc));
  PassOptim cfg = {.kind = PASS_OPTIM_ADAM, .clip_grad_norm = true};
  PassCtx cx = {.diag = &diag, .verify_each = true, .optim = &cfg};
  bool ok = pass_run_pipeline(&g, "autodiff,optim", &cx);
  if (!ok) fprintf(stderr, "\n%s", diag.buf.s);
  CU_ASSERT_FATAL(ok);
  CU_ASSERT_EQUAL(ir_node(g, ir_find_param(g, "w.exp_avg"))->dtype, IR_F64);
  IrEval *e = ir_eval_new(g, false);
  CU_ASSERT_FATAL(ir_eval_bind(e, "x", (double[]){3.0, -0.5}, 2, &diag));
  CU_ASSERT_FATAL(ir_eval_bind(e, "w", w0, 2, &diag));
  ir_eval_init_params(e, 0);
  PassOptimHyper h = pass_optim_defaults(PASS_OPTIM_ADAM);
  h.lr = 0.1;
  train_step(e, g, &h, 1);
  expect_values(e, "w", (double[]){0.9, -1.9}, 2);
  ir_eval_free(e);
  ir_graph_free(g);
}

/* ---- host-side values -------------------------------------------------------- */

static void test_optim_input_values(void) {
  PassOptimHyper h = pass_optim_defaults(PASS_OPTIM_ADAMW);
  CU_ASSERT_DOUBLE_EQUAL(h.weight_decay, 1e-2, 0);
  CU_ASSERT_DOUBLE_EQUAL(pass_optim_defaults(PASS_OPTIM_ADAM).weight_decay, 0, 0);
  h.lr = 0.1;
  double v = 0;
  CU_ASSERT(pass_optim_input_value(&h, 1, "opt.step_size", &v));
  CU_ASSERT_DOUBLE_EQUAL(v, 1.0, 1e-15);                      /* 0.1 / (1 - 0.9) */
  CU_ASSERT(pass_optim_input_value(&h, 2, "opt.step_size", &v));
  CU_ASSERT_DOUBLE_EQUAL(v, 0.1 / 0.19, 1e-15);                /* 0.1 / (1 - 0.81) */
  CU_ASSERT(pass_optim_input_value(&h, 2, "opt.bias_correction2_sqrt", &v));
  CU_ASSERT_DOUBLE_EQUAL(v, sqrt(1 - 0.999 * 0.999), 1e-15);
  CU_ASSERT(pass_optim_input_value(&h, 7, "opt.eps", &v));
  CU_ASSERT_DOUBLE_EQUAL(v, 1e-8, 0);
  CU_ASSERT_FALSE(pass_optim_input_value(&h, 0, "opt.step_size", &v));
  CU_ASSERT_FALSE(pass_optim_input_value(&h, 1, "opt.nope", &v));
  PassOptimKind k;
  CU_ASSERT(pass_optim_kind_from_name("adamw", &k) && k == PASS_OPTIM_ADAMW);
  CU_ASSERT_FALSE(pass_optim_kind_from_name("lbfgs", &k));
  CU_ASSERT_STRING_EQUAL(pass_optim_kind_name(PASS_OPTIM_SGD), "sgd");
}

/* ---- two steps against hand-computed values ------------------------------------ */

/* lr 0.1, momentum 0.9. Step 1: buf = g, w = [1 - 0.3, -2 - 0.05], b = 0.5 - 0.1.
   Step 2: buf_w = 0.9*[3, 0.5] + [3, 0.5] = [5.7, 0.95]; g_b = 0.8, buf_b = 1.7. */
static void test_optim_sgd_momentum_two_steps(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_SGD};
  PassOptimHyper h = {.lr = 0.1, .momentum = 0.9};
  TwoSteps want = {{0.7, -2.05}, 0.4, {0.13, -2.145}, 0.23, {"momentum_buffer"},
                   {{5.7, 0.95}}, {1.7}};
  check_two_steps(&cfg, &h, &want);
}

/* lr 0.1, momentum 0.9, weight decay 0.1, Nesterov. Step 1: g = [3.1, 0.3]
   (g + 0.1 w), buf = g, d = g + 0.9 buf = [5.89, 0.57], w = [0.411, -2.057];
   g_b = 1 + 0.05, d_b = 1.995, b = 0.3005. Step 2: g = [3.0411, 0.2943],
   buf = [5.8311, 0.5643], d = [8.28909, 0.80217]; g_b = 0.63105,
   buf_b = 1.57605, d_b = 2.049495. */
static void test_optim_sgd_nesterov_weight_decay_two_steps(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_SGD, .nesterov = true};
  PassOptimHyper h = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1};
  TwoSteps want = {{0.411, -2.057}, 0.3005, {-0.417909, -2.137217}, 0.0955505,
                   {"momentum_buffer"}, {{5.8311, 0.5643}}, {1.57605}};
  check_two_steps(&cfg, &h, &want);
}

/* Adam, lr 0.1, weight decay 0.1 (added to the gradient). Step 1: m = 0.1 g,
   v = 0.001 g^2, step_size = 1, so p moves by lr * sign(g): g = [3.1, 0.3],
   g_b = 1.05. Step 2: g = [3 + 0.09, 0.5 - 0.21] = [3.09, 0.29], g_b = 0.84;
   m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, step_size = 0.1 / 0.19,
   bias_correction2_sqrt = sqrt(1 - 0.999^2). */
static void test_optim_adam_two_steps(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_ADAM};
  PassOptimHyper h = pass_optim_defaults(PASS_OPTIM_ADAM);
  h.lr = 0.1;
  h.weight_decay = 0.1;
  TwoSteps want = {{0.9, -2.1}, 0.400000001, {0.800008553, -2.19989729}, 0.301187422,
                   {"exp_avg", "exp_avg_sq"},
                   {{0.588, 0.056}, {0.01914849, 0.00017401}}, {0.1785, 0.0018069975}};
  check_two_steps(&cfg, &h, &want);
}

/* AdamW, lr 0.1, weight decay 0.1: p *= 0.99 first, g is the plain gradient.
   Step 1: w = [0.99 - 0.1, -1.98 - 0.1], b = 0.495 - 0.1. */
static void test_optim_adamw_two_steps(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_ADAMW};
  PassOptimHyper h = pass_optim_defaults(PASS_OPTIM_ADAMW);
  h.lr = 0.1;
  h.weight_decay = 0.1;
  TwoSteps want = {{0.89, -2.08}, 0.395000001, {0.781100001, -2.1592}, 0.292338704,
                   {"exp_avg", "exp_avg_sq"},
                   {{0.57, 0.095}, {0.017991, 0.00049975}}, {0.169, 0.0016231}};
  check_two_steps(&cfg, &h, &want);
}

/* Plain SGD (momentum 0), lr 0.1, gradients clipped to global norm 1. Step 1:
   |g| = sqrt(9 + 0.25 + 1) = 3.2015621, coef = 1 / (3.2015621 + 1e-6), so
   g = [0.937042, 0.156174], g_b = 0.312347. Step 2: g_b = 2 * 0.468765. */
static void test_optim_clipping_two_steps(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_SGD, .clip_grad_norm = true};
  PassOptimHyper h = {.lr = 0.1, .max_norm = 1.0};
  TwoSteps want = {{0.906295772, -2.01561737}, 0.468765257, {0.812033345, -2.03132778},
                   0.43930729, {"momentum_buffer"},
                   {{0.942624267, 0.157104044}}, {0.294579671}};
  check_two_steps(&cfg, &h, &want);
  /* a norm below max_norm is left alone (coef clamped to 1) */
  h.max_norm = 100.0;
  TwoSteps unclipped = {{0.7, -2.05}, 0.4, {0.4, -2.1}, 0.32, {"momentum_buffer"},
                        {{3, 0.5}}, {0.8}};
  check_two_steps(&cfg, &h, &unclipped);
}

/* Hyperparameters are inputs: a new lr on step 2 takes effect in the same
   graph. SGD momentum 0.9, lr 0.1 then 0.2: w = 0.7 - 0.2 * 5.7. */
static void test_optim_hyperparameters_change_at_run_time(void) {
  PassOptim cfg = {.kind = PASS_OPTIM_SGD};
  IrGraph *g = tiny_step(&cfg);
  IrEval *e = tiny_eval(g);
  PassOptimHyper h = {.lr = 0.1, .momentum = 0.9};
  train_step(e, g, &h, 1);
  h.lr = 0.2;
  train_step(e, g, &h, 2);
  expect_values(e, "w", (double[]){0.7 - 1.14, -2.05 - 0.19}, 2);
  ir_eval_free(e);
  ir_graph_free(g);
}

/* ---- a model from the front end, against torch.optim --------------------------- */

static const char mlp_text[] =
    "model mlp {\n"
    "  B = 4\n"
    "  input x: f32[B, 3]\n"
    "  input target: f32[B, 2]\n"
    "  fc1 = linear(3, 5)\n"
    "  fc2 = linear(5, 2)\n"
    "  out = fc2(relu(fc1(x)))\n"
    "  minimize mse(out, target)\n"
    "}\n";

#define MLP_PIPELINE PASS_PIPELINE_GRAD ",optim,simplify,cse,dce"
#define TORCH_STEPS 5

typedef struct TorchCase {
  const char *name;
  PassOptim cfg;
  PassOptimHyper h;
} TorchCase;

static const TorchCase torch_cases[] = {
    {"sgd_momentum", {.kind = PASS_OPTIM_SGD}, {.lr = 0.05, .momentum = 0.9}},
    {"sgd_nesterov_wd", {.kind = PASS_OPTIM_SGD, .nesterov = true},
     {.lr = 0.05, .momentum = 0.8, .weight_decay = 0.01}},
    {"sgd_clip", {.kind = PASS_OPTIM_SGD, .clip_grad_norm = true},
     {.lr = 0.1, .momentum = 0.5, .max_norm = 0.5}},
    {"adam_wd", {.kind = PASS_OPTIM_ADAM},
     {.lr = 0.01, .weight_decay = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}},
    {"adamw", {.kind = PASS_OPTIM_ADAMW},
     {.lr = 0.01, .weight_decay = 0.1, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6}},
    {"adamw_clip", {.kind = PASS_OPTIM_ADAMW, .clip_grad_norm = true},
     {.lr = 0.02, .weight_decay = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
      .max_norm = 0.3}},
};

static IrGraph *mlp_step(McSources *src, const PassOptim *cfg) {
  IrGraph *g = fe_compile_string("t.model", mlp_text, &(FeOptions){0}, src, &diag);
  if (!g) fprintf(stderr, "\n%s", diag.buf.s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  PassCtx cx = {.diag = &diag, .verify_each = true, .optim = cfg};
  bool ok = pass_run_pipeline(&g, MLP_PIPELINE, &cx);
  if (!ok) fprintf(stderr, "\n%s", diag.buf.s);
  CU_ASSERT_FATAL(ok);
  return g;
}

static void write_tensor(FILE *f, const char *tag, const char *name, const IrTensor *t) {
  fprintf(f, "%s %s %lld", tag, name, (long long)t->numel);
  for (int64_t i = 0; i < t->numel; i++) fprintf(f, " %.9g", t->data[i]);
  fputc('\n', f);
}

/* Writes every param (initial values on the first case) or every param and
   state tensor of g under `tag`. */
static void write_params(FILE *f, IrEval *e, const IrGraph *g, const char *tag) {
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (n->op == IR_OP_PARAM) write_tensor(f, tag, n->name, ir_eval_binding(e, n->name));
  }
}

/* Runs one case TORCH_STEPS steps from the shared initial values (seed 7)
   and data, writing the config, the loss of every step and the final values. */
static void run_torch_case(FILE *f, const TorchCase *c, bool first) {
  McSources src;
  mc_sources_init(&src);
  IrGraph *g = mlp_step(&src, &c->cfg);
  IrEval *e = ir_eval_new(g, false);
  double x[12], target[8];
  for (int i = 0; i < 12; i++) x[i] = mc_rng_normal(11, 1, (uint64_t)i);
  for (int i = 0; i < 8; i++) target[i] = mc_rng_normal(11, 2, (uint64_t)i);
  CU_ASSERT_FATAL(ir_eval_bind(e, "x", x, 12, &diag));
  CU_ASSERT_FATAL(ir_eval_bind(e, "target", target, 8, &diag));
  ir_eval_init_params(e, 7);
  if (first) {
    write_tensor(f, "data", "x", ir_eval_binding(e, "x"));
    write_tensor(f, "data", "target", ir_eval_binding(e, "target"));
    write_params(f, e, g, "init");
  }
  const PassOptimHyper *h = &c->h;
  fprintf(f, "case %s %s %d %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n", c->name,
          pass_optim_kind_name(c->cfg.kind), c->cfg.nesterov, c->cfg.clip_grad_norm, h->lr,
          h->momentum, h->weight_decay, h->beta1, h->beta2, h->eps, h->max_norm);
  for (int step = 1; step <= TORCH_STEPS; step++) {
    train_step(e, g, h, step);
    fprintf(f, "loss %d %.9g\n", step, ir_eval_output(e, IR_OUT_LOSS, NULL)->data[0]);
  }
  write_params(f, e, g, "final");
  ir_eval_free(e);
  ir_graph_free(g);
  mc_sources_free(&src);
}

/* Exit status of `python3 script in > out 2>&1`; 77 means torch is missing. */
static int run_python(const char *script, const char *in, const char *out) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' > '%s' 2>&1", script, in, out);
  int st = system(cmd);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void print_file(const char *path) {
  size_t len;
  const char *err;
  char *text = mc_read_file(path, &len, &err);
  if (text) fprintf(stderr, "\n%s", text);
  free(text);
}

static void test_optim_matches_torch_optim(void) {
  const char *script = MODELC_SOURCE_DIR "/tests/unit/optim_torch.py";
  if (access("/usr/bin/python3", X_OK) != 0) {
    printf("(skipped: no /usr/bin/python3) ");
    return;
  }
  reset_diag();
  char in[] = "/tmp/modelc_optim_in_XXXXXX", out[] = "/tmp/modelc_optim_out_XXXXXX";
  int fd_in = mkstemp(in), fd_out = mkstemp(out);
  CU_ASSERT_FATAL(fd_in >= 0 && fd_out >= 0);
  close(fd_out);
  FILE *f = fdopen(fd_in, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (size_t i = 0; i < MC_COUNTOF(torch_cases); i++) run_torch_case(f, &torch_cases[i], i == 0);
  fclose(f);
  int status = run_python(script, in, out);
  if (status == 77) {
    printf("(skipped: /usr/bin/python3 cannot import torch) ");
  } else {
    print_file(out);   /* the worst errors per case, also when they pass */
    CU_ASSERT_EQUAL(status, 0);
  }
  remove(in);
  remove(out);
}

int main(void) {
  mc_diag_init(&diag, NULL, NULL);
  static const TestCase cases[] = {
      {"sgd_program_shape", test_optim_sgd_program_shape},
      {"adam_program_inputs", test_optim_adam_program_inputs},
      {"program_round_trips_as_text", test_optim_program_round_trips_as_text},
      {"cleanup_passes_keep_updates", test_optim_cleanup_passes_keep_updates},
      {"verifier_checks_update_targets", test_optim_verifier_checks_update_targets},
      {"rejects_graph_without_gradients", test_optim_rejects_graph_without_gradients},
      {"rejects_second_run_and_taken_names", test_optim_rejects_second_run_and_taken_names},
      {"rejects_grad_of_another_type", test_optim_rejects_grad_of_another_type},
      {"f64_param_casts_scalars", test_optim_f64_param_casts_scalars},
      {"input_values", test_optim_input_values},
      {"sgd_momentum_two_steps", test_optim_sgd_momentum_two_steps},
      {"sgd_nesterov_weight_decay_two_steps", test_optim_sgd_nesterov_weight_decay_two_steps},
      {"adam_two_steps", test_optim_adam_two_steps},
      {"adamw_two_steps", test_optim_adamw_two_steps},
      {"clipping_two_steps", test_optim_clipping_two_steps},
      {"hyperparameters_change_at_run_time", test_optim_hyperparameters_change_at_run_time},
      {"matches_torch_optim", test_optim_matches_torch_optim},
  };
  int rc = test_main("optim", cases, MC_COUNTOF(cases));
  mc_diag_fini(&diag);
  return rc;
}
