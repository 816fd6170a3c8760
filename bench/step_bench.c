/* step_bench.c -- median times of a model's compiled training step
   (forward, gradient and optimizer update in one JIT program) and of its
   inference forward (compiled in eval mode, as PyTorch's peer runs
   model.eval(): batch norm on running statistics, no dropout; with stable
   params, its weights packed once, as TorchScript's frozen graph has
   them), on seeded random data. Prints one line per mode in the
   same shape as ../shared/peers/torch_bench.py so bench/run.sh can put
   them side by side.
     step_bench MODEL [--optimizer sgd|adam|adamw] [--momentum X]
                [--threads N] [--iters N] [--warmup N] [--unfused] [--no-split]
                [--repack] [--cpu NAME] [--profile N] [-D NAME=VALUE ...]
   (--unfused: the fuse pass's kernel groups are dropped, one kernel call
   per node, to compare against. --repack: inference packs its weights
   on every run. --cpu NAME: code for that CPU, e.g. haswell for the
   AVX2 path on an AVX-512 host. --profile N: the program is compiled
   with every kernel call timed, and the N calls that took longest are
   printed after each mode's line, as "# profile" lines: milliseconds per
   run, share, node and op, kernel key.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cg.h"
#include "fe.h"
#include "pass.h"
#include "tr.h"

typedef struct Bench {
  const char *path;
  bool unfused; /* drop the kernel groups */
  const char *only; /* --only: time just this mode */
  bool nosplit;     /* --no-split: inference as one program, not copies on batch rows */
  bool repack;      /* --repack: inference packs its weights on every run */
  const char *cpu;  /* --cpu: code for this CPU (e.g. haswell: AVX2) instead of the host */
  PassOptim optim;
  PassOptimHyper hyper;
  int threads, iters, warmup, profile;
  FeDefine defines[8];
  int ndefines;
} Bench;

static size_t dtype_size(IrDtype t) {
  return t == IR_F64 ? 8 : t == IR_BOOL ? 1 : 4;
}

/* Seeded random contents for slot node n: N(0,1) floats, valid indices. */
static void fill_random(const IrGraph *g, IrRef r, void *buf, int64_t numel) {
  const IrNode *n = ir_node(g, r);
  int64_t bound = n->dtype == IR_I32 ? ir_int_input_bound(g, r) : 0;
  for (int64_t i = 0; i < numel; i++) {
    double z = mc_rng_normal(1, mc_hash_str(n->name ? n->name : "out"), (uint64_t)i);
    if (n->dtype == IR_F32) ((float *)buf)[i] = (float)(0.1 * z);
    else if (n->dtype == IR_F64) ((double *)buf)[i] = 0.1 * z;
    else if (n->dtype == IR_I32)
      ((int32_t *)buf)[i] = bound > 0 ? (int32_t)(mc_rng_u64(1, 7, (uint64_t)i) % (uint64_t)bound) : 0;
    else ((uint8_t *)buf)[i] = 0;
  }
}

/* Buffers for every slot of p: inputs and params random (params from
   their initializers), optimizer inputs from the hyperparameters. */
static void **make_slots(const Bench *b, const IrGraph *g, CgProgram *p) {
  int n = cg_program_nslots(p);
  void **bufs = mc_xcalloc((size_t)n, sizeof *bufs);
  for (int i = 0; i < n; i++) {
    const IrNode *node = ir_node(g, cg_program_slot_node(p, i));
    int64_t numel = ir_shape_numel(&node->shape);
    bufs[i] = mc_xcalloc((size_t)(numel ? numel : 1), dtype_size(node->dtype));
    bool is_source = node->op == IR_OP_INPUT || node->op == IR_OP_PARAM;
    double v;
    if (!is_source) continue;
    if (node->op == IR_OP_INPUT && pass_optim_input_value(&b->hyper, 1, node->name, &v)) {
      *(float *)bufs[i] = (float)v;
    } else if (node->op == IR_OP_PARAM && node->dtype == IR_F32) {
      double *init = mc_xmalloc((size_t)(numel ? numel : 1) * sizeof *init);
      ir_init_fill(g, node, 0, init);
      for (int64_t k = 0; k < numel; k++) ((float *)bufs[i])[k] = (float)init[k];
      free(init);
    } else {
      fill_random(g, cg_program_slot_node(p, i), bufs[i], numel);
    }
  }
  return bufs;
}

static void free_slots(void **bufs, int n) {
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs);
}

/* Median, min and max milliseconds of iters runs after warmup runs; a run
   is the n programs in turn. */
static bool time_runs(const Bench *b, CgProgram **p, void ***bufs, int n, McDiag *d,
                      double ms[3]) {
  bool ok = true;
  for (int i = 0; i < b->warmup; i++)
    for (int k = 0; ok && k < n; k++) ok = cg_program_run(p[k], bufs[k], d);
  double *t = mc_xmalloc((size_t)b->iters * sizeof *t);
  for (int i = 0; ok && i < b->iters; i++) {
    double t0 = bench_now_seconds();
    for (int k = 0; ok && k < n; k++) ok = cg_program_run(p[k], bufs[k], d);
    t[i] = (bench_now_seconds() - t0) * 1e3;
  }
  if (ok) {
    qsort(t, (size_t)b->iters, sizeof *t, bench_cmp_double);
    ms[0] = t[b->iters / 2];
    ms[1] = t[0];
    ms[2] = t[b->iters - 1];
  }
  free(t);
  return ok;
}

static int64_t batch_of(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op == IR_OP_INPUT && g->nodes[i].shape.rank > 0) return g->nodes[i].shape.d[0].n;
  return 1;
}

/* Inference computes the outputs only, as model(x) does in PyTorch. */
static void drop_loss(IrGraph *g) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind != IR_OUT_LOSS) g->outs[k++] = g->outs[i];
  g->nouts = k;
}

static int by_seconds_desc(const void *a, const void *b) {
  double x = ((const CgCallTime *)a)->seconds, y = ((const CgCallTime *)b)->seconds;
  return (x < y) - (x > y);
}

/* The top calls of a profiled program over the timed runs. */
static void print_profile(const Bench *b, const IrGraph *g, const CgProgram *p) {
  int n = cg_program_profile(p, NULL, 0);
  CgCallTime *t = mc_xcalloc((size_t)(n ? n : 1), sizeof *t);
  cg_program_profile(p, t, n);
  double total = 0;
  for (int i = 0; i < n; i++) total += t[i].seconds;
  qsort(t, (size_t)n, sizeof *t, by_seconds_desc);
  int runs = b->warmup + b->iters;
  printf("# profile: %d calls, %.3f ms per run in calls\n", n, total * 1e3 / runs);
  for (int i = 0; i < n && i < b->profile; i++) {
    const IrNode *node = ir_node(g, t[i].node);
    McStr shape;
    mc_str_init(&shape);
    ir_shape_print(&shape, g, (IrDtype)node->dtype, &node->shape);
    printf("# %8.3f ms %5.1f%%  %%%-5u %-12s %-26s %s\n", t[i].seconds * 1e3 / runs,
           100 * t[i].seconds / (total > 0 ? total : 1), t[i].node, ir_ops[node->op].name, shape.s,
           t[i].kernel);
    mc_str_free(&shape);
  }
  free(t);
}

/* The model rebuilt with its batch dim divided by parts, as the forward
   graph fwd was built: for programs split over batch rows. NULL when the
   batch does not divide. */
static IrGraph *slice_graph(const Bench *b, const IrGraph *fwd, int parts, FeMode mode,
                            McSources *src, McDiag *d) {
  int sym = ir_graph_batch_sym(fwd);
  if (parts < 2 || sym < 0 || fwd->syms[sym].value % parts) return NULL;
  FeDefine defs[9];
  memcpy(defs, b->defines, (size_t)b->ndefines * sizeof *defs);
  defs[b->ndefines] = (FeDefine){fwd->syms[sym].name, fwd->syms[sym].value / parts};
  FeOptions fo = {.defines = defs, .ndefines = b->ndefines + 1, .mode = mode};
  return fe_compile_file(b->path, &fo, src, d);
}

/* Compiles `pipeline` over a copy of the forward graph and times it.
   Inference runs split over batch rows when the model allows (slice). */
static bool bench_mode(const Bench *b, const IrGraph *fwd, const IrGraph *slice, const char *mode,
                       const char *pipeline, McDiag *d) {
  IrGraph *g = ir_graph_clone(fwd), *s = slice ? ir_graph_clone(slice) : NULL;
  if (!strcmp(mode, "inference")) drop_loss(g);
  if (s) drop_loss(s);
  PassCtx cx = {.diag = d, .optim = &b->optim};
  CgOptions o = cg_options_default();
  o.threads = b->threads;
  o.cpu = b->cpu;
  o.profile = b->profile > 0;
  /* inference keeps its params, as TorchScript's frozen graph does */
  o.stable_params = !strcmp(mode, "inference") && !b->repack;
  CgProgram *p = NULL;
  CgSplit how = s && !b->unfused && cg_split_ok(g, s) ? CG_SPLIT_ROWS : CG_SPLIT_NO;
  bool ok = pass_run_pipeline(&g, pipeline, &cx) && (!s || pass_run_pipeline(&s, pipeline, &cx));
  for (uint32_t i = 0; ok && b->unfused && i < g->nnodes; i++) g->nodes[i].kernel = 0;
  int parts = b->threads > 0 ? b->threads : cg_online_cores();
  ok = ok && (p = cg_jit_compile_split(g, s, parts, how, &o, d)) != NULL;
  if (ok) {
    void **bufs = make_slots(b, g, p);
    double ms[3];
    ok = time_runs(b, &p, &bufs, 1, d, ms);
    if (ok) {
      int64_t batch = batch_of(g);
      CgStats st;
      cg_program_stats(p, &st);
      printf("%-14s %-14s batch=%-4lld median_ms=%9.4f min_ms=%9.4f max_ms=%9.4f samples_per_s=%.0f "
             "compile_s=%.3f%s\n",
             g->name, mode, (long long)batch, ms[0], ms[1], ms[2], (double)batch / (ms[0] * 1e-3),
             cg_program_compile_seconds(p), st.parts ? " split" : "");
      if (b->profile > 0) print_profile(b, g, p);
    }
    free_slots(bufs, cg_program_nslots(p));
    cg_program_free(p);
  }
  ir_graph_free(g);
  if (s) ir_graph_free(s);
  return ok;
}

/* Slot i of p whose node is a `op` named name (-1: none). */
static int slot_named(const IrGraph *g, const CgProgram *p, IrOp op, const char *name) {
  for (int i = 0; i < cg_program_nslots(p); i++) {
    const IrNode *n = ir_node(g, cg_program_slot_node(p, i));
    if (n->op == op && n->name && !strcmp(n->name, name)) return i;
  }
  return -1;
}

/* The apply program's params are the gradient program's, its gradient
   inputs the gradient program's outputs; shared[i]: abufs[i] is not its own. */
static void share_buffers(const IrGraph *g, CgProgram *gp, void **gbufs, const IrGraph *a,
                          CgProgram *ap, void **abufs, bool *shared) {
  for (int i = 0; i < cg_program_nslots(ap); i++) {
    const IrNode *n = ir_node(a, cg_program_slot_node(ap, i));
    int from = -1;
    if (n->op == IR_OP_PARAM) from = slot_named(g, gp, IR_OP_PARAM, n->name);
    const IrOutput *o = n->op == IR_OP_INPUT && !strncmp(n->name, "grad.", 5)
                            ? ir_find_output(g, IR_OUT_GRAD, n->name + 5) : NULL;
    if (o) from = cg_program_output_slot(gp, (int)(o - g->outs));
    if (from < 0) continue;
    free(abufs[i]);
    abufs[i] = gbufs[from];
    shared[i] = true;
  }
}

/* The training step split over batch rows, as the trainer runs it on
   several threads: the gradient program as copies on slices of the batch
   (cg_jit_compile_split), then the optimizer over the summed
   gradients (the apply program); batch norms in train mode through
   cg_split_sync. -1 (nothing printed) when the model's rows meet or the
   step is too small to split. */
static int bench_train_split(const Bench *b, const IrGraph *fwd, const IrGraph *slice, McDiag *d) {
  IrGraph *synced;
  CgSplit loss = cg_split_grad(fwd, slice, &synced);
  if (loss == CG_SPLIT_NO) return -1;
  IrGraph *g = ir_graph_clone(fwd), *s = synced ? synced : ir_graph_clone(slice), *a = NULL;
  PassCtx cx = {.diag = d, .optim = &b->optim};
  CgOptions o = cg_options_default();
  o.threads = b->threads;
  o.cpu = b->cpu;
  CgProgram *gp = NULL, *ap = NULL;
  int parts = b->threads > 0 ? b->threads : cg_online_cores(), rc = 0;
  bool ok = pass_run_pipeline(&g, PASS_PIPELINE_GRAD, &cx) &&
            pass_run_pipeline(&s, PASS_PIPELINE_GRAD, &cx) &&
            (gp = cg_jit_compile_split(g, s, parts, loss, &o, d)) != NULL;
  CgStats st = {0};
  if (ok) cg_program_stats(gp, &st);
  if (ok && st.parts) {
    a = tr_apply_graph(fwd, g);
    ok = pass_run_pipeline(&a, PASS_PIPELINE_APPLY, &cx) && (ap = cg_jit_compile(a, &o, d)) != NULL;
  }
  if (ok && st.parts) {
    void **bufs[2] = {make_slots(b, g, gp), make_slots(b, a, ap)};
    bool *shared = mc_xcalloc((size_t)cg_program_nslots(ap) + 1, sizeof *shared);
    share_buffers(g, gp, bufs[0], a, ap, bufs[1], shared);
    CgProgram *progs[2] = {gp, ap};
    double ms[3];
    ok = time_runs(b, progs, bufs, 2, d, ms);
    if (ok)
      printf("%-14s %-14s batch=%-4lld median_ms=%9.4f min_ms=%9.4f max_ms=%9.4f samples_per_s=%.0f "
             "compile_s=%.3f split\n",
             g->name, "train_step", (long long)batch_of(g), ms[0], ms[1], ms[2],
             (double)batch_of(g) / (ms[0] * 1e-3),
             cg_program_compile_seconds(gp) + cg_program_compile_seconds(ap));
    for (int i = 0; i < cg_program_nslots(ap); i++)
      if (shared[i]) bufs[1][i] = NULL;
    free(shared);
    free_slots(bufs[0], cg_program_nslots(gp));
    free_slots(bufs[1], cg_program_nslots(ap));
    rc = ok ? 1 : 0;
  } else {
    rc = ok ? -1 : 0;
  }
  cg_program_free(gp);
  cg_program_free(ap);
  ir_graph_free(g);
  ir_graph_free(s);
  if (a) ir_graph_free(a);
  return rc;
}

static bool parse_args(int argc, char **argv, Bench *b) {
  b->optim.kind = PASS_OPTIM_SGD;
  b->hyper = pass_optim_defaults(PASS_OPTIM_SGD);
  b->hyper.lr = 0.01;
  b->threads = 0;
  b->iters = 50;
  b->warmup = 5;
  double momentum = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--optimizer") && v) {
      if (!pass_optim_kind_from_name(v, &b->optim.kind)) return false;
      b->hyper = pass_optim_defaults(b->optim.kind);
      i++;
    } else if (!strcmp(a, "--momentum") && v) momentum = atof(argv[++i]);
    else if (!strcmp(a, "--threads") && v) b->threads = atoi(argv[++i]);
    else if (!strcmp(a, "--iters") && v) b->iters = atoi(argv[++i]);
    else if (!strcmp(a, "--warmup") && v) b->warmup = atoi(argv[++i]);
    else if (!strcmp(a, "--unfused")) b->unfused = true;
    else if (!strcmp(a, "--no-split")) b->nosplit = true;
    else if (!strcmp(a, "--repack")) b->repack = true;
    else if (!strcmp(a, "--cpu") && v) b->cpu = argv[++i];
    else if (!strcmp(a, "--only") && v && (!strcmp(v, "train_step") || !strcmp(v, "inference")))
      b->only = argv[++i];
    else if (!strcmp(a, "--profile") && v) b->profile = atoi(argv[++i]);
    else if (!strcmp(a, "-D") && v && b->ndefines < 8 && strchr(v, '=')) {
      const char *eq = strchr(v, '=');
      b->defines[b->ndefines++] = (FeDefine){mc_xstrdup(v), atoll(eq + 1)};
      *strchr((char *)b->defines[b->ndefines - 1].name, '=') = 0;
      i++;
    } else if (a[0] != '-' && !b->path) b->path = a;
    else return false;
  }
  if (b->optim.kind == PASS_OPTIM_SGD) b->hyper.momentum = momentum;
  return b->path && b->iters > 0 && b->warmup >= 0;
}

int main(int argc, char **argv) {
  Bench b = {0};
  if (!parse_args(argc, argv, &b)) {
    fprintf(stderr, "usage: step_bench MODEL [--optimizer sgd|adam|adamw] [--momentum X] "
                    "[--threads N] [--iters N] [--warmup N] [--unfused] [--no-split] [--repack] "
                    "[--cpu NAME] [--profile N] "
                    "[--only train_step|inference] [-D NAME=VALUE ...]\n");
    return 2;
  }
  McSources src;
  mc_sources_init(&src);
  McDiag d;
  mc_diag_init(&d, &src, stderr);
  FeOptions fo = {.defines = b.defines, .ndefines = b.ndefines, .mode = FE_MODE_TRAIN};
  IrGraph *fwd = fe_compile_file(b.path, &fo, &src, &d);
  bool want_train = !b.only || !strcmp(b.only, "train_step");
  bool want_infer = !b.only || !strcmp(b.only, "inference");
  int parts = b.threads > 0 ? b.threads : cg_online_cores();
  IrGraph *fwd_slice = fwd && want_train && !b.nosplit && !b.profile && !b.unfused
                           ? slice_graph(&b, fwd, parts, FE_MODE_TRAIN, &src, &d) : NULL;
  int split = fwd_slice ? bench_train_split(&b, fwd, fwd_slice, &d) : -1;
  bool ok = fwd && split != 0 &&
            (!want_train || split == 1 ||
             bench_mode(&b, fwd, NULL, "train_step", PASS_PIPELINE_TRAIN, &d));
  if (fwd) ir_graph_free(fwd);
  if (fwd_slice) ir_graph_free(fwd_slice);
  fo.mode = FE_MODE_EVAL; /* batch norm on its running statistics, no dropout: model.eval() */
  IrGraph *eval = ok && want_infer ? fe_compile_file(b.path, &fo, &src, &d) : NULL;
  IrGraph *slice = eval && !b.nosplit ? slice_graph(&b, eval, b.threads > 0 ? b.threads : cg_online_cores(), FE_MODE_EVAL, &src, &d) : NULL;
  if (want_infer) ok = eval && bench_mode(&b, eval, slice, "inference", PASS_PIPELINE_FORWARD, &d);
  if (eval) ir_graph_free(eval);
  if (slice) ir_graph_free(slice);
  for (int i = 0; i < b.ndefines; i++) free((char *)b.defines[i].name);
  mc_diag_fini(&d);
  mc_sources_free(&src);
  return ok ? 0 : 1;
}
