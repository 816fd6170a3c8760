/* test_split.c -- inference programs split over batch rows
   (cg_jit_compile_split): models whose rows never meet run as copies on
   slices of the batch and compute what the evaluator and the whole
   program compute; models whose rows meet (a mean over the batch, train
   mode batch norm, a constant computed from the batch, rows reversed or
   joined along the batch, a table indexed by batch rows) are refused and
   compile as one program. Gradient programs split too: rows that meet
   only in the loss (cg_split_grad_ok), or also in sums over the batch
   axis such as batch norms' statistics (cg_split_sync: part_sums). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "fe.h"
#include "pass.h"
#include "test_util.h"

typedef struct Pair {
  McSources src;
  McDiag d;
  IrGraph *g, *s; /* the model at batch B and at B / parts */
} Pair;

static IrGraph *build_at(Pair *p, const char *text, int64_t batch, FeMode mode) {
  FeDefine def = {"B", batch};
  FeOptions o = {.defines = &def, .ndefines = 1, .mode = mode};
  IrGraph *g = fe_compile_string("split.model", text, &o, &p->src, &p->d);
  if (!g) fprintf(stderr, "\n%s", p->d.buf.s ? p->d.buf.s : "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  return g;
}

static void pair_init(Pair *p, const char *text, int64_t batch, int parts, FeMode mode) {
  mc_sources_init(&p->src);
  mc_diag_init(&p->d, &p->src, NULL);
  p->g = build_at(p, text, batch, mode);
  p->s = build_at(p, text, batch / parts, mode);
}

static void pair_optimize(Pair *p) {
  PassCtx cx = {.diag = &p->d};
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p->g, PASS_PIPELINE_FORWARD, &cx));
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p->s, PASS_PIPELINE_FORWARD, &cx));
}

static void pair_free(Pair *p) {
  ir_graph_free(p->g);
  ir_graph_free(p->s);
  mc_diag_fini(&p->d);
  mc_sources_free(&p->src);
}

static double draw(uint64_t stream, int64_t i) {
  uint64_t h = (stream + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)i * 0xBF58476D1CE4E5B9ull;
  h ^= h >> 31;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 29;
  return (double)(h >> 11) / 9007199254740992.0 * 2 - 1;
}

/* Buffers for p's slots: inputs and params drawn (i32 inputs below
   `bound`), bound to the evaluator too; outputs poisoned. */
static void **make_buffers(const IrGraph *g, const CgProgram *p, IrEval *e, int64_t bound,
                           McDiag *d) {
  int ns = cg_program_nslots(p);
  void **bufs = mc_xcalloc((size_t)ns + 1, sizeof *bufs);
  for (int s = 0; s < ns; s++) {
    const IrNode *n = ir_node(g, cg_program_slot_node(p, s));
    int64_t numel = ir_shape_numel(&n->shape);
    bufs[s] = mc_xmalloc((size_t)(numel ? numel : 1) * 4);
    if (n->op != IR_OP_INPUT && n->op != IR_OP_PARAM) {
      memset(bufs[s], 0xA5, (size_t)(numel ? numel : 1) * 4);
      continue;
    }
    double *v = mc_xmalloc((size_t)(numel ? numel : 1) * sizeof *v);
    for (int64_t i = 0; i < numel; i++) {
      double x = draw((uint64_t)s, i);
      if (n->dtype == IR_I32) {
        v[i] = (double)(int64_t)((x + 1) / 2 * (double)bound);
        ((int32_t *)bufs[s])[i] = (int32_t)v[i];
      } else {
        v[i] = (float)x;
        ((float *)bufs[s])[i] = (float)x;
      }
    }
    CU_ASSERT_TRUE(ir_eval_bind(e, n->name, v, numel, d));
    free(v);
  }
  return bufs;
}

static void free_buffers(void **bufs, int n) {
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs);
}

/* Largest |got - want| over |want|'s RMS (plus a floor) for output k. */
static double output_error(const IrGraph *g, const CgProgram *p, void **bufs, const IrEval *e,
                           uint32_t k) {
  const IrTensor *want = ir_eval_value(e, g->outs[k].ref);
  const float *got = bufs[cg_program_output_slot(p, (int)k)];
  double ss = 0, worst = 0;
  for (int64_t i = 0; i < want->numel; i++) ss += want->data[i] * want->data[i];
  double scale = sqrt(ss / (double)(want->numel ? want->numel : 1)) + 1e-6;
  for (int64_t i = 0; i < want->numel; i++) {
    double err = fabs((double)got[i] - want->data[i]) / scale;
    if (!(err <= worst)) worst = err; /* nan counts */
  }
  return worst;
}

/* Compiles p's model whole and split in two parts (split `how`) on 2
   threads; every output of both against the evaluator on the same
   inputs. */
static void check_whole_and_split(Pair *p, CgSplit how, int64_t index_bound, const char *what) {
  CgOptions o = cg_options_default();
  o.threads = 2;
  CgProgram *whole = cg_jit_compile(p->g, &o, &p->d);
  CgProgram *split = cg_jit_compile_split(p->g, p->s, 2, how, &o, &p->d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
  CU_ASSERT_PTR_NOT_NULL_FATAL(split);
  CgStats st;
  cg_program_stats(split, &st);
  CU_ASSERT_EQUAL(st.parts, 2);
  CU_ASSERT_EQUAL(cg_program_nslots(split), cg_program_nslots(whole));
  CgProgram *progs[2] = {whole, split};
  for (int w = 0; w < 2; w++) {
    IrEval *e = ir_eval_new(p->g, false);
    void **bufs = make_buffers(p->g, progs[w], e, index_bound, &p->d);
    CU_ASSERT_TRUE(ir_eval_run(e, &p->d));
    CU_ASSERT_TRUE(cg_program_run(progs[w], bufs, &p->d));
    for (uint32_t k = 0; k < p->g->nouts; k++) {
      double err = output_error(p->g, progs[w], bufs, e, k);
      if (!(err < 1e-4))
        fprintf(stderr, "\n  %s (%s): output %s off by %g of its RMS", what,
                w ? "split" : "whole", p->g->outs[k].name, err);
      CU_ASSERT(err < 1e-4);
    }
    free_buffers(bufs, cg_program_nslots(progs[w]));
    ir_eval_free(e);
  }
  cg_program_free(whole);
  cg_program_free(split);
}

/* A model for inference: split on its rows, whole and split against the
   evaluator. */
static void check_split_matches(const char *what, const char *text, int64_t batch,
                                int64_t index_bound) {
  Pair p;
  pair_init(&p, text, batch, 2, FE_MODE_EVAL);
  CU_ASSERT_TRUE(cg_split_ok(p.g, p.s));
  pair_optimize(&p);
  CU_ASSERT_TRUE(cg_split_ok(p.g, p.s));
  check_whole_and_split(&p, CG_SPLIT_ROWS, index_bound, what);
  pair_free(&p);
}

static void test_split_mlp(void) {
  check_split_matches("mlp",
                      "model m {\n"
                      "  B = batch(64)\n"
                      "  input x: f32[B, 256]\n"
                      "  fc1 = linear(256, 256)\n"
                      "  fc2 = linear(256, 10)\n"
                      "  output y = softmax(fc2(relu(fc1(x))))\n"
                      "}\n",
                      64, 0);
}

static void test_split_cnn(void) {
  check_split_matches("cnn",
                      "model m {\n"
                      "  B = batch(16)\n"
                      "  input x: f32[B, 8, 16, 16]\n"
                      "  conv = conv2d(8, 16, 3, padding = 1)\n"
                      "  bn = batch_norm2d(16)\n"
                      "  fc = linear(16 * 8 * 8, 10)\n"
                      "  h = max_pool2d(relu(bn(conv(x))), 2)\n"
                      "  output y = fc(flatten(h))\n"
                      "}\n",
                      16, 0);
}

static void test_split_gpt_block(void) {
  check_split_matches("gpt block",
                      "model m {\n"
                      "  B = batch(8)\n"
                      "  T = 16\n"
                      "  input idx: i32[B, T]\n"
                      "  wte = embedding(50, 64)\n"
                      "  wpe = embedding(T, 64)\n"
                      "  h = gpt_block(64, 4)\n"
                      "  ln = layer_norm(64)\n"
                      "  output y = ln(h(wte(idx) + wpe(arange(T))))\n"
                      "}\n",
                      8, 50);
}

/* The pair of model m at batch 8 and 4: `head` (its inputs and layers)
   after `B = batch(8)`, then `body`. */
static void small_pair(Pair *p, const char *head, const char *body, FeMode mode) {
  char text[1024];
  snprintf(text, sizeof text, "model m {\n  B = batch(8)\n%s%s}\n", head, body);
  pair_init(p, text, 8, 2, mode);
}

/* cg_split_ok on the front end's graphs of a model whose rows meet. */
static bool split_ok(const char *body, FeMode mode) {
  Pair p;
  small_pair(&p, "  input x: f32[B, 16]\n  input i: i32[B]\n", body, mode);
  bool ok = cg_split_ok(p.g, p.s);
  pair_free(&p);
  return ok;
}

static void test_split_refuses_rows_that_meet(void) {
  CU_ASSERT_TRUE(split_ok("  output y = relu(x) * 2\n", FE_MODE_EVAL)); /* the control */
  CU_ASSERT_FALSE(split_ok("  output y = x - mean(x, axis = 0)\n", FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok("  output y = x / B\n", FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok("  output y = concat([x, x], axis = 0)\n", FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok("  output y = gather(x, i)\n", FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok("  output y = x * float(unsqueeze(arange(B), 1))\n", FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok("  output y = transpose(x) \n", FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok("  output y = sum(x)\n", FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok("  output y = x\n  minimize mse(x, x * 2)\n", FE_MODE_EVAL));
  /* batch norm normalizes over the batch in train mode, not in eval mode */
  const char *bn = "  bn = batch_norm1d(16)\n  output y = bn(x)\n";
  CU_ASSERT_TRUE(split_ok(bn, FE_MODE_EVAL));
  CU_ASSERT_FALSE(split_ok(bn, FE_MODE_TRAIN));
}

/* cg_jit_compile_split on 2 threads; parts: what its stats must say. */
static CgProgram *compile_split(Pair *p, const IrGraph *slice, int parts) {
  CgOptions o = cg_options_default();
  o.threads = 2;
  CgProgram *prog =
      cg_jit_compile_split(p->g, slice, 2, cg_split_ok(p->g, slice) ? CG_SPLIT_ROWS : CG_SPLIT_NO, &o, &p->d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(prog);
  CgStats st;
  cg_program_stats(prog, &st);
  CU_ASSERT_EQUAL(st.parts, parts);
  return prog;
}

/* Refused, or no slice (a batch the parts do not divide): one program. */
static void test_split_falls_back(void) {
  Pair p;
  pair_init(&p,
            "model m {\n  B = batch(64)\n  input x: f32[B, 256]\n  fc = linear(256, 256)\n"
            "  output y = fc(x) - mean(fc(x), axis = 0)\n}\n",
            64, 2, FE_MODE_EVAL);
  cg_program_free(compile_split(&p, p.s, 0));
  cg_program_free(compile_split(&p, NULL, 0));
  pair_free(&p);
}

/* An index out of range in the second part's rows is reported. */
static void test_split_reports_bad_index(void) {
  Pair p;
  pair_init(&p,
            "model m {\n  B = batch(64)\n  input i: i32[B, 8]\n  emb = embedding(100, 64)\n"
            "  fc = linear(64, 512)\n  output y = fc(emb(i))\n}\n",
            64, 2, FE_MODE_EVAL);
  pair_optimize(&p);
  CgProgram *prog = compile_split(&p, p.s, 2);
  IrEval *e = ir_eval_new(p.g, false);
  void **bufs = make_buffers(p.g, prog, e, 100, &p.d);
  int in = -1;
  for (int s = 0; s < cg_program_nslots(prog); s++)
    if (ir_node(p.g, cg_program_slot_node(prog, s))->op == IR_OP_INPUT) in = s;
  CU_ASSERT_FATAL(in >= 0);
  CU_ASSERT_TRUE(cg_program_run(prog, bufs, &p.d));
  ((int32_t *)bufs[in])[64 * 8 - 3] = 100; /* row 61 of 64: the second part's */
  CU_ASSERT_FALSE(cg_program_run(prog, bufs, &p.d));
  CU_ASSERT_PTR_NOT_NULL(p.d.buf.s ? strstr(p.d.buf.s, "gather index 100 out of range [0, 100)")
                                   : NULL);
  free_buffers(bufs, cg_program_nslots(prog));
  ir_eval_free(e);
  cg_program_free(prog);
  pair_free(&p);
}

/* ---- gradient programs ---------------------------------------------------- */

static CgSplit grad_ok(const char *body) {
  Pair p;
  small_pair(&p, "  input x: f32[B, 16]\n  input y: i32[B]\n  fc = linear(16, 10)\n", body,
             FE_MODE_TRAIN);
  CgSplit r = cg_split_grad_ok(p.g, p.s);
  pair_free(&p);
  return r;
}

static void test_split_grad_refuses(void) {
  CU_ASSERT_EQUAL(grad_ok("  minimize cross_entropy(fc(x), y)\n"), CG_SPLIT_MEAN);
  CU_ASSERT_EQUAL(grad_ok("  minimize sum(fc(x) * fc(x))\n"), CG_SPLIT_SUM);
  CU_ASSERT_EQUAL(grad_ok("  minimize mean(fc(x) * fc(x)) / 2\n"), CG_SPLIT_MEAN);
  /* rows meet before the loss: batch statistics, a product across rows */
  CU_ASSERT_EQUAL(grad_ok("  bn = batch_norm1d(10)\n  minimize cross_entropy(bn(fc(x)), y)\n"),
                  CG_SPLIT_NO);
  CU_ASSERT_EQUAL(grad_ok("  h = fc(x)\n  minimize sum(h - mean(h, axis = 0))\n"), CG_SPLIT_NO);
  CU_ASSERT_EQUAL(grad_ok("  minimize sum(transpose(fc(x)) @ fc(x))\n"), CG_SPLIT_NO);
  /* not a scaled sum of row terms */
  CU_ASSERT_EQUAL(grad_ok("  minimize max(fc(x))\n"), CG_SPLIT_NO);
  CU_ASSERT_EQUAL(grad_ok("  minimize mean(fc(x)) * mean(fc(x))\n"), CG_SPLIT_NO);
  CU_ASSERT_EQUAL(grad_ok("  minimize sum(fc(x)) * B * B\n"), CG_SPLIT_NO);
  /* dropout's masks count elements over the whole batch */
  CU_ASSERT_EQUAL(grad_ok("  minimize cross_entropy(fc(dropout(x, p = 0.5)), y)\n"), CG_SPLIT_NO);
}

/* The loss and every gradient of the split program against the whole
   program and the evaluator. The models have the work per gradient
   element that a split needs (CG_SPLIT_MIN_WORK_PER_SUM). */
static void check_split_grad(const char *what, const char *text, int64_t batch, CgSplit want) {
  Pair p;
  pair_init(&p, text, batch, 2, FE_MODE_TRAIN);
  CgSplit loss = cg_split_grad_ok(p.g, p.s);
  CU_ASSERT_EQUAL(loss, want);
  PassCtx cx = {.diag = &p.d};
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p.g, PASS_PIPELINE_GRAD, &cx));
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p.s, PASS_PIPELINE_GRAD, &cx));
  check_whole_and_split(&p, loss, 10, what);
  pair_free(&p);
}

/* mlp's own shape has too little work per gradient element: whole. */
static void test_split_grad_too_little_work(void) {
  Pair p;
  pair_init(&p,
            "model m {\n  B = batch(128)\n  input x: f32[B, 784]\n  input y: i32[B]\n"
            "  fc = linear(784, 512)\n  minimize cross_entropy(fc(x), y)\n}\n",
            128, 2, FE_MODE_TRAIN);
  CgSplit loss = cg_split_grad_ok(p.g, p.s);
  CU_ASSERT_EQUAL(loss, CG_SPLIT_MEAN);
  PassCtx cx = {.diag = &p.d};
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p.g, PASS_PIPELINE_GRAD, &cx));
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p.s, PASS_PIPELINE_GRAD, &cx));
  CgOptions o = cg_options_default();
  o.threads = 2;
  CgProgram *prog = cg_jit_compile_split(p.g, p.s, 2, loss, &o, &p.d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(prog);
  CgStats st;
  cg_program_stats(prog, &st);
  CU_ASSERT_EQUAL(st.parts, 0);
  cg_program_free(prog);
  pair_free(&p);
}

static void test_split_grad_mlp(void) {
  check_split_grad("mlp",
                   "model m {\n  B = batch(1024)\n  input x: f32[B, 64]\n  input y: i32[B]\n"
                   "  fc1 = linear(64, 128)\n  fc2 = linear(128, 10)\n"
                   "  logits = fc2(relu(fc1(x)))\n  output logits\n"
                   "  minimize cross_entropy(logits, y)\n}\n",
                   1024, CG_SPLIT_MEAN);
}

static void test_split_grad_gpt_sum(void) {
  check_split_grad("gpt block, summed loss",
                   "model m {\n  B = batch(4)\n  T = 128\n  input idx: i32[B, T]\n"
                   "  wte = embedding(10, 64)\n  h = gpt_block(64, 4)\n"
                   "  minimize sum(h(wte(idx)) * h(wte(idx))) * 1e-3\n}\n",
                   4, CG_SPLIT_SUM);
}

/* ---- batch-wide statistics (cg_split_sync) -------------------------------- */

/* The part_sums cg_split_sync put into the slice of model `body` (with
   the grad_ok model's head), or -1 when it refused. */
static int sync_sums(const char *body) {
  Pair p;
  small_pair(&p, "  input x: f32[B, 16]\n  input y: i32[B]\n  fc = linear(16, 10)\n", body,
             FE_MODE_TRAIN);
  IrGraph *s = cg_split_sync(p.g, p.s);
  int n = -1;
  if (s) {
    n = 0;
    for (uint32_t i = 0; i < s->nnodes; i++) n += ir_node(s, i)->op == IR_OP_PART_SUM;
    CU_ASSERT_TRUE(ir_verify(s, &p.d));
    ir_graph_free(s);
  }
  pair_free(&p);
  return n;
}

static void test_split_sync_forms(void) {
  /* a batch norm's mean and variance; a mean over the batch axis */
  CU_ASSERT_EQUAL(sync_sums("  bn = batch_norm1d(10)\n  minimize cross_entropy(bn(fc(x)), y)\n"), 2);
  CU_ASSERT_EQUAL(sync_sums("  h = fc(x)\n  minimize sum(h - mean(h, axis = 0))\n"), 1);
  /* nothing to sum (cg_split_grad_ok's case), or rows that meet otherwise */
  CU_ASSERT_EQUAL(sync_sums("  minimize cross_entropy(fc(x), y)\n"), -1);
  CU_ASSERT_EQUAL(sync_sums("  h = fc(x)\n  minimize sum(h - max(h, axis = 0))\n"), -1);
  CU_ASSERT_EQUAL(sync_sums("  minimize sum(transpose(fc(x)) @ fc(x))\n"), -1);
  CU_ASSERT_EQUAL(sync_sums("  h = fc(x)\n  minimize max(h - mean(h, axis = 0))\n"), -1);
  CU_ASSERT_EQUAL(sync_sums("  h = fc(x)\n  minimize mean(h - mean(h, axis = 0)) * mean(h)\n"),
                  -1);
  CU_ASSERT_EQUAL(
      sync_sums("  bn = batch_norm1d(10)\n  minimize cross_entropy(bn(fc(dropout(x, p = 0.5))), y)\n"),
      -1);
  /* eval mode: the running statistics, nothing summed */
  Pair p;
  small_pair(&p, "  input x: f32[B, 16]\n  input y: i32[B]\n  fc = linear(16, 10)\n",
             "  bn = batch_norm1d(10)\n  minimize cross_entropy(bn(fc(x)), y)\n", FE_MODE_EVAL);
  CU_ASSERT_PTR_NULL(cg_split_sync(p.g, p.s));
  pair_free(&p);
}

/* Bytes of slot i of p (compiled from g), f32. */
static size_t f32_bytes(const IrGraph *g, const CgProgram *p, int i) {
  return (size_t)ir_shape_numel(&ir_node(g, cg_program_slot_node(p, i))->shape) * 4;
}

/* A CNN with batch norms in train mode: its gradient program split in two
   with the statistics summed over the parts computes the loss, the
   gradients and the running statistics the whole program and the
   evaluator compute, and the same bits on a second run. */
static void test_split_sync_cnn(void) {
  Pair p;
  pair_init(&p,
            "model m {\n  B = batch(32)\n  input x: f32[B, 4, 16, 16]\n  input y: i32[B]\n"
            "  c1 = conv2d(4, 16, 3, padding = 1, bias = 0)\n  bn1 = batch_norm2d(16)\n"
            "  c2 = conv2d(16, 16, 3, padding = 1, bias = 0)\n  bn2 = batch_norm2d(16)\n"
            "  fc = linear(16, 10)\n  h1 = relu(bn1(c1(x)))\n"
            "  h2 = adaptive_avg_pool2d(relu(bn2(c2(h1)) + h1), 1)\n"
            "  minimize cross_entropy(fc(flatten(h2)), y)\n}\n",
            32, 2, FE_MODE_TRAIN);
  CU_ASSERT_EQUAL(cg_split_grad_ok(p.g, p.s), CG_SPLIT_NO);
  IrGraph *synced = cg_split_sync(p.g, p.s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(synced);
  ir_graph_free(p.s);
  p.s = synced;
  PassCtx cx = {.diag = &p.d};
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p.g, PASS_PIPELINE_GRAD, &cx));
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&p.s, PASS_PIPELINE_GRAD, &cx));
  int updates = 0;
  for (uint32_t k = 0; k < p.g->nouts; k++) updates += p.g->outs[k].kind == IR_OUT_UPDATE;
  CU_ASSERT_EQUAL(updates, 4); /* two running means, two running variances */
  check_whole_and_split(&p, CG_SPLIT_SYNC, 10, "cnn with batch norms");
  CgOptions o = cg_options_default();
  o.threads = 2;
  CgProgram *split = cg_jit_compile_split(p.g, p.s, 2, CG_SPLIT_SYNC, &o, &p.d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(split);
  IrEval *e = ir_eval_new(p.g, false);
  void **bufs = make_buffers(p.g, split, e, 10, &p.d);
  int n = cg_program_nslots(split), first = p.g->nouts ? n - (int)p.g->nouts : n;
  void **again = mc_xcalloc((size_t)n + 1, sizeof *again);
  CU_ASSERT_TRUE(cg_program_run(split, bufs, &p.d));
  for (int i = first; i < n; i++) {
    again[i] = mc_xmalloc(f32_bytes(p.g, split, i) + 1);
    memcpy(again[i], bufs[i], f32_bytes(p.g, split, i));
  }
  CU_ASSERT_TRUE(cg_program_run(split, bufs, &p.d));
  for (int i = first; i < n; i++) CU_ASSERT_EQUAL(memcmp(again[i], bufs[i], f32_bytes(p.g, split, i)), 0);
  free_buffers(again, n);
  free_buffers(bufs, n);
  ir_eval_free(e);
  cg_program_free(split);
  pair_free(&p);
}

int main(void) {
  static const TestCase cases[] = {
      {"split_mlp", test_split_mlp},
      {"split_cnn", test_split_cnn},
      {"split_gpt_block", test_split_gpt_block},
      {"split_refuses_rows_that_meet", test_split_refuses_rows_that_meet},
      {"split_falls_back", test_split_falls_back},
      {"split_reports_bad_index", test_split_reports_bad_index},
      {"split_grad_refuses", test_split_grad_refuses},
      {"split_grad_mlp", test_split_grad_mlp},
      {"split_grad_too_little_work", test_split_grad_too_little_work},
      {"split_grad_gpt_sum", test_split_grad_gpt_sum},
      {"split_sync_forms", test_split_sync_forms},
      {"split_sync_cnn", test_split_sync_cnn},
  };
  return test_main("split", cases, MC_COUNTOF(cases));
}
