/* tr_trainer.c -- a training session: compiles a model's training step and
   its forward program once, holds params, optimizer state and data on the
   host, and runs epochs (progress, evaluation, checkpoints) over them. The
   `train` and `grad` commands and the REPL drive it through the small API
   of tr.h. docs/train.md is the user's view. */
#include "tr.h"
#include "tr_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg.h"
#include "rt.h"

#define CHECKPOINT_FORMAT "modelc-train"
#define CHECKPOINT_VERSION "1"
#define RANDOM_SAMPLES 1024        /* random data set size without --data/--limit */
#define PROGRESS_TTY_SECONDS 0.1   /* redraw interval of the \r line */
#define PROGRESS_LOG_SECONDS 5.0   /* interval of progress lines when not a tty */
#define EPOCH_LINES 10             /* a run of more epochs prints about this many lines */
#define SLOW_EPOCH_SECONDS 1.0     /* an epoch this long always prints its line */

static const McLoc noloc = {0};

/* A compiled program and one host buffer per slot (cg.h). */
typedef struct Program {
  IrGraph *g;        /* the graph it was compiled from (owned) */
  CgProgram *cg;     /* NULL: slots and buffers only (program_layout) */
  int nslots, nsources;  /* slots: inputs and params, then outputs */
  IrRef *slot_ref;   /* the node of each slot in g */
  void **bufs;       /* the buffer of each slot (heap) */
  bool *borrowed;    /* bufs[i] is not p's: a param of the step program, or (apply)
                        a gradient output of the gradient program */
  int *feed_slot;    /* per data input (fwd input order): its slot, -1 = unused */
  int loss_slot;     /* -1 = none */
  int logits_slot;   /* the output accuracy is read from; -1 = none */
  bool stable;       /* compiled with stable params: evaluate() says when they changed */
} Program;

/* One model input fed from data. */
typedef struct Feed {
  const char *input;  /* input name (fwd arena) */
  IrRef node;         /* in fwd */
  char *path;         /* the file, for messages (heap) */
  RtData *data;       /* i32 for i32 inputs; for f32 inputs f32, or the file's own
                         u8 or i32 (a quarter or the same memory), normalized when
                         gathered: (x * scale - mean) / std */
  double scale, mean, std;
} Feed;

typedef struct DataSet {
  const char *what;  /* "training", "eval" */
  McVec args;        /* of RtDataArg, queued by add_data */
  Feed *feeds;       /* one per model input, in fwd id order */
  int64_t n;         /* samples (after --limit) */
} DataSet;

/* Loss and accuracy of the model over some samples. */
typedef struct Score {
  int64_t n;              /* samples scored */
  double loss;            /* sample-weighted mean of the batch losses */
  double acc;             /* argmax == label, over every labelled position */
  bool has_loss, has_acc;
} Score;

/* Running sums over the steps of the current epoch in this process. */
typedef struct EpochStats {
  double allreduce_seconds;  /* data-parallel: time in tr_dist_sum */
  int64_t steps;
  double loss_sum;
  int64_t correct, labelled;
  double start, last_print;
} EpochStats;

struct TrTrainer {
  McSources *src;
  McDiag *d;
  TrConfig c;
  IrGraph *fwd;             /* forward graph at the training batch, as compiled (train mode) */
  IrGraph *fwd_eval;        /* the same in eval mode: what evaluation runs */
  const char *batch_dim;    /* the named batch dim (fwd arena); NULL = none */
  int64_t batch;
  int ninputs;              /* model inputs; each is fed from data */
  Program prog;             /* the training step */
  Program eval, eval1;      /* forward: at the batch size, and at 1 for leftover samples */
  bool eval1_tried;
  Program grad;             /* the gradient program (tr_trainer_save_grads, data-parallel and
                               split steps) */
  Program apply;            /* the optimizer step on the gradient program's (data-parallel:
                               averaged over the ranks) */
  bool split_step;          /* steps run grad split over the batch rows, then apply */
  bool dp;                  /* data-parallel over c.dist's ranks (more than one) */
  bool params_shared;       /* dp: rank 0's params were broadcast */
  double *shared;           /* dp: the buffer summed over the ranks each step (heap) */
  bool *filled;             /* step: per source slot, its param was loaded by init_from */
  int *update_of;           /* step: per source slot, its update output slot or -1 */
  int label_feed;           /* feed whose values accuracy compares with; -1 */
  const char *logits;       /* the output scored against it (fwd arena) */
  int64_t nclasses;
  DataSet train, test;
  RtSplit split;            /* of train: training and held-out indices */
  bool data_loaded;
  int64_t steps_per_epoch;
  int64_t step, epoch, epoch_step;  /* progress: done so far */
  int64_t *order;           /* the current epoch's sample order */
  int64_t order_epoch;      /* which epoch `order` is for; -1 = none */
  int64_t *test_idx;        /* 0 .. test.n - 1 */
  int64_t saved_step;       /* step of the last save; -1 = none */
  bool resumed;             /* params came from a checkpoint */
  Score last_held, last_test;  /* evaluations at step last_eval_step */
  int64_t last_eval_step;
  int64_t run_epochs, run_steps;  /* the targets of the current run */
  int64_t run_first_epoch;        /* t->epoch when the run started */
  int64_t run_nepochs;            /* epochs the run ends (or ends in), 0 = unknown */
  int64_t run_hidden;             /* epoch lines of the run not printed */
  double run_start;
  bool skip_note_done;      /* "leftover samples not scored" reported */
  McVec losses;             /* of double: the loss of every step this trainer ran */
  IrGraph *g64;             /* --f64: the training step for the evaluator */
  IrEval *ev64;
  double **p64;             /* --f64: per step slot, its float param's values; else NULL */
};

/* ---- small helpers ---------------------------------------------------------- */

/* A zeroed buffer for n bytes, aligned for vector loads. */
static void *alloc_buffer(int64_t n) {
  size_t size = ((size_t)(n > 0 ? n : 1) + 63) / 64 * 64;
  void *p = aligned_alloc(64, size);
  if (!p) mc_assert_fail("out of memory", __FILE__, __LINE__);
  memset(p, 0, size);
  return p;
}

static int64_t node_bytes(const IrNode *n) {
  return ir_shape_numel(&n->shape) * (int64_t)tr_dtype_bytes((IrDtype)n->dtype);
}

/* "[512,784]" of a node's shape values. */
static void dims_text(char *buf, size_t cap, const IrShape *s) {
  int64_t dims[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) dims[i] = s->d[i].n;
  rt_dims_format(buf, cap, s->rank, dims);
}

static const IrNode *input_node(const TrTrainer *t, int feed) {
  return ir_node(t->fwd, t->train.feeds[feed].node);
}

/* The runtime's message "PATH: problem" as a diagnostic. */
/* n values of dtype dt as doubles (heap). */
static double *as_doubles(const void *src, IrDtype dt, int64_t n) {
  double *v = mc_xcalloc((size_t)(n > 0 ? n : 1), sizeof *v);
  for (int64_t i = 0; i < n; i++)
    v[i] = dt == IR_F32   ? ((const float *)src)[i]
           : dt == IR_F64 ? ((const double *)src)[i]
           : dt == IR_I32 ? ((const int32_t *)src)[i]
                          : ((const uint8_t *)src)[i];
  return v;
}

static bool rt_failed(TrTrainer *t, const RtError *e) {
  mc_error(t->d, noloc, "%s", e->msg);
  return false;
}

/* ---- compiling ---------------------------------------------------------------- */

/* Compiles the model source with the -D defines, plus dim = value when dim
   is not NULL. Reports into d. */
static IrGraph *compile_model(TrTrainer *t, const char *dim, int64_t value, FeMode mode,
                              McDiag *d) {
  FeDefine *defs = mc_xcalloc((size_t)t->c.ndefines + 1, sizeof *defs);
  int n = 0;
  for (int i = 0; i < t->c.ndefines; i++)
    if (!dim || strcmp(t->c.defines[i].name, dim) != 0) defs[n++] = t->c.defines[i];
  if (dim) defs[n++] = (FeDefine){dim, value};
  FeOptions fo = {.defines = defs, .ndefines = n, .mode = mode, .freeze = t->c.freeze,
                  .nfreeze = t->c.nfreeze};
  IrGraph *g = fe_compile_string(t->c.file, t->c.text, &fo, t->src, d);
  free(defs);
  if (g && !ir_verify(g, d)) {
    ir_graph_free(g);
    g = NULL;
  }
  if (!g && !mc_diag_has_errors(d)) mc_error(d, noloc, "cannot compile '%s'", t->c.file);
  return g;
}

/* The index of the single named dim of d (factor 1), or -1. */
static int single_sym(IrDim d) {
  if (d.k != 1 || d.syms == 0 || (d.syms & (d.syms - 1)) != 0) return -1;
  int i = 0;
  while (!(d.syms & (1u << i))) i++;
  return i;
}

/* Every input needs a leading batch dim, the same size for all of them;
   it is a named dim (such as B) when all of them use that one name. */
static bool find_batch(TrTrainer *t, const IrGraph *g, int *sym, int64_t *batch) {
  *sym = -2;
  *batch = -1;
  const IrNode *first = NULL;
  for (IrRef r = 0; r < g->nnodes; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op != IR_OP_INPUT) continue;
    if (n->shape.rank == 0) {
      mc_error(t->d, n->loc, "train: input '%s' has rank 0; every input needs a leading "
               "batch dim to be fed from data", n->name);
      return false;
    }
    if (first && n->shape.d[0].n != *batch) {
      mc_error(t->d, n->loc, "train: inputs '%s' and '%s' disagree on their first (batch) "
               "dim: %lld and %lld", first->name, n->name, (long long)*batch,
               (long long)n->shape.d[0].n);
      return false;
    }
    int s = single_sym(n->shape.d[0]);
    *sym = (*sym == -2 || *sym == s) ? s : -1;
    *batch = n->shape.d[0].n;
    if (!first) first = n;
  }
  if (!first) {
    mc_error(t->d, noloc, "train: model '%s' has no inputs to feed with data", g->name);
    return false;
  }
  if (*sym < 0) *sym = -1;
  return true;
}

/* The train-mode forward graph at the configured batch: compiled once, and
   again with -D BATCH=N when --batch asks for another value. */
static bool compile_train_forward(TrTrainer *t) {
  t->fwd = compile_model(t, NULL, 0, FE_MODE_TRAIN, t->d);
  int sym;
  if (!t->fwd || !find_batch(t, t->fwd, &sym, &t->batch)) return false;
  t->batch_dim = sym >= 0 ? t->fwd->syms[sym].name : NULL;
  if (t->c.batch <= 0 || t->c.batch == t->batch) return true;
  if (!t->batch_dim) {
    mc_error(t->d, noloc, "train: --batch: model '%s' has no named batch dim (the first "
             "dim of its inputs is %lld)", t->fwd->name, (long long)t->batch);
    return false;
  }
  char *name = mc_xstrdup(t->batch_dim);
  ir_graph_free(t->fwd);
  t->fwd = compile_model(t, name, t->c.batch, FE_MODE_TRAIN, t->d);
  free(name);
  if (!t->fwd || !find_batch(t, t->fwd, &sym, &t->batch)) return false;
  t->batch_dim = sym >= 0 ? t->fwd->syms[sym].name : NULL;
  return true;
}

/* The forward graphs: in train mode (what the step runs), then in eval mode
   (what evaluation runs) at the same batch. */
static bool compile_forward(TrTrainer *t) {
  if (!compile_train_forward(t)) return false;
  t->fwd_eval = t->batch_dim ? compile_model(t, t->batch_dim, t->batch, FE_MODE_EVAL, t->d)
                             : compile_model(t, NULL, 0, FE_MODE_EVAL, t->d);
  return t->fwd_eval != NULL;
}

static const IrOutput *find_loss(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind == IR_OUT_LOSS) return &g->outs[i];
  return NULL;
}

/* Accuracy needs an i32 input whose range is known from its uses (K, as
   cross_entropy's one-hot comparison with an iota gives) and a float
   output shaped like that input plus a last axis of K (the logits). */
/* Whether input r indexes a table (token ids do; labels do not). */
static bool is_gather_index(const IrGraph *g, IrRef r) {
  for (IrRef i = r + 1; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (n->op == IR_OP_GATHER && n->nsrc == 2 && n->src[1] == r) return true;
  }
  return false;
}

static void find_labels(TrTrainer *t) {
  t->label_feed = -1;
  for (int f = 0; f < t->ninputs; f++) {
    const IrNode *in = input_node(t, f);
    int64_t k = in->dtype == IR_I32 ? ir_int_input_bound(t->fwd, t->train.feeds[f].node) : 0;
    if (k <= 0 || is_gather_index(t->fwd, t->train.feeds[f].node)) continue;
    for (uint32_t i = 0; i < t->fwd->nouts; i++) {
      const IrOutput *o = &t->fwd->outs[i];
      const IrNode *on = ir_node(t->fwd, o->ref);
      if (o->kind != IR_OUT_OUTPUT || !ir_dtype_is_float((IrDtype)on->dtype) ||
          on->shape.rank != in->shape.rank + 1 || on->shape.d[in->shape.rank].n != k)
        continue;
      bool same = true;
      for (int a = 0; a < in->shape.rank; a++) same &= on->shape.d[a].n == in->shape.d[a].n;
      if (!same) continue;
      t->label_feed = f;
      t->logits = o->name;
      t->nclasses = k;
      return;
    }
  }
}

static int output_slot(const Program *p, IrOutKind kind, const char *name) {
  for (uint32_t k = 0; p->cg && k < p->g->nouts; k++)
    if (p->g->outs[k].kind == kind && (!name || strcmp(p->g->outs[k].name, name) == 0))
      return cg_program_output_slot(p->cg, (int)k);
  return -1;
}

static const IrNode *slot_node(const Program *p, int i) { return ir_node(p->g, p->slot_ref[i]); }

/* The source slot of the input or param `name`; -1 if the program has none. */
static int source_slot(const Program *p, IrOp op, const char *name) {
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op == op && strcmp(n->name, name) == 0) return i;
  }
  return -1;
}

/* Runs `pipeline` over *g in place. */
static bool run_pipeline(TrTrainer *t, IrGraph **g, const char *pipeline, McDiag *d) {
  PassCtx cx = {.diag = d, .optim = &t->c.optim};
  return pass_run_pipeline(g, pipeline, &cx) && ir_verify(*g, d);
}

/* The threads of the compiled code. */
static int code_threads(const TrTrainer *t) {
  return t->c.threads > 0 ? t->c.threads : cg_online_cores();
}

/* JIT-compiles p->g (run as copies of slice when `how` says so, see
   cg_jit_compile_split); buffers for every slot except, when
   borrow_params, the params (bound at run time to the step program's). */
static bool program_compile(TrTrainer *t, Program *p, const IrGraph *slice, CgSplit how,
                            bool borrow_params, McDiag *d) {
  CgOptions o = cg_options_default();
  o.threads = t->c.threads;
  o.stable_params = p->stable;
  p->cg = cg_jit_compile_split(p->g, slice, code_threads(t), how, &o, d);
  if (!p->cg) return false;
  p->nslots = cg_program_nslots(p->cg);
  p->nsources = p->nslots - (int)p->g->nouts;
  p->slot_ref = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->slot_ref);
  for (int i = 0; i < p->nslots; i++) p->slot_ref[i] = cg_program_slot_node(p->cg, i);
  p->bufs = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->bufs);
  p->borrowed = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->borrowed);
  for (int i = 0; i < p->nslots; i++) {
    const IrNode *n = slot_node(p, i);
    p->borrowed[i] = borrow_params && i < p->nsources && n->op == IR_OP_PARAM;
    if (!p->borrowed[i]) p->bufs[i] = alloc_buffer(node_bytes(n));
  }
  p->feed_slot = mc_xcalloc((size_t)t->ninputs + 1, sizeof *p->feed_slot);
  for (int f = 0; f < t->ninputs; f++)
    p->feed_slot[f] = source_slot(p, IR_OP_INPUT, input_node(t, f)->name);
  p->loss_slot = output_slot(p, IR_OUT_LOSS, NULL);
  p->logits_slot = t->logits ? output_slot(p, IR_OUT_OUTPUT, t->logits) : -1;
  return true;
}

/* Runs `pipeline` over a clone of fwd and JIT-compiles the result whole. */
static bool program_build(TrTrainer *t, Program *p, const IrGraph *fwd, const char *pipeline,
                          bool borrow_params, McDiag *d) {
  p->g = ir_graph_clone(fwd);
  return run_pipeline(t, &p->g, pipeline, d) &&
         program_compile(t, p, NULL, CG_SPLIT_NO, borrow_params, d);
}

/* p->g's slots as cg_jit_compile would number them (its inputs and
   params in id order), each with a buffer, and no code: the training
   step's params and optimizer state when other programs run the step
   (data-parallel, split). */
static void program_layout(TrTrainer *t, Program *p) {
  p->slot_ref = mc_xcalloc((size_t)p->g->nnodes + 1, sizeof *p->slot_ref);
  for (IrRef r = 0; r < p->g->nnodes; r++)
    if (ir_node(p->g, r)->op == IR_OP_INPUT || ir_node(p->g, r)->op == IR_OP_PARAM)
      p->slot_ref[p->nslots++] = r;
  p->nsources = p->nslots;
  p->bufs = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->bufs);
  p->borrowed = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->borrowed);
  for (int i = 0; i < p->nslots; i++) p->bufs[i] = alloc_buffer(node_bytes(slot_node(p, i)));
  p->feed_slot = mc_xcalloc((size_t)t->ninputs + 1, sizeof *p->feed_slot);
  for (int f = 0; f < t->ninputs; f++) p->feed_slot[f] = -1;
  p->loss_slot = p->logits_slot = -1;
}

static void program_free(Program *p) {
  for (int i = 0; p->bufs && i < p->nslots; i++)
    if (!p->borrowed[i]) free(p->bufs[i]);
  free(p->slot_ref);
  free(p->bufs);
  free(p->borrowed);
  free(p->feed_slot);
  if (p->cg) cg_program_free(p->cg);
  if (p->g) ir_graph_free(p->g);
  memset(p, 0, sizeof *p);
}

/* update_of[param slot] = the slot of its UPDATE output. */
static bool map_updates(TrTrainer *t) {
  Program *p = &t->prog;
  t->update_of = mc_xcalloc((size_t)p->nslots + 1, sizeof *t->update_of);
  for (int i = 0; i < p->nslots; i++) t->update_of[i] = -1;
  for (uint32_t k = 0; k < p->g->nouts; k++) {
    const IrOutput *o = &p->g->outs[k];
    if (o->kind != IR_OUT_UPDATE) continue;
    int s = source_slot(p, IR_OP_PARAM, o->name);
    if (s < 0) {
      mc_error(t->d, noloc, "train: internal error: update of unknown param '%s'", o->name);
      return false;
    }
    int u = cg_program_output_slot(p->cg, (int)k);
    t->update_of[s] = u == s ? -1 : u; /* -1: updated in place */
  }
  return true;
}

/* Params (and optimizer state) from their initializers, as ir_init_fill
   defines them: the same seed gives the same weights. */
static void init_params(TrTrainer *t) {
  Program *p = &t->prog;
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op != IR_OP_PARAM) continue;
    int64_t numel = ir_shape_numel(&n->shape);
    double *v = mc_xcalloc((size_t)(numel > 0 ? numel : 1), sizeof *v);
    ir_init_fill(p->g, n, t->c.seed, v);
    for (int64_t k = 0; k < numel; k++) {
      if (n->dtype == IR_F32) ((float *)p->bufs[i])[k] = (float)v[k];
      else if (n->dtype == IR_F64) ((double *)p->bufs[i])[k] = v[k];
      else if (n->dtype == IR_I32) ((int32_t *)p->bufs[i])[k] = (int32_t)v[k];
      else ((uint8_t *)p->bufs[i])[k] = v[k] != 0;
    }
    free(v);
  }
}

void tr_report_no_loss(McDiag *d, const char *what, const IrGraph *g) {
  const char *y = "y";
  for (uint32_t k = 0; k < g->nouts; k++)
    if (g->outs[k].kind == IR_OUT_OUTPUT) {
      y = g->outs[k].name;
      break;
    }
  mc_error(d, noloc, "%s: model '%s' has no loss to minimize: add a statement such as `minimize "
           "mse(%s, target)` or `minimize cross_entropy(%s, labels)` (with an input for the "
           "targets)", what, g->name, y, y);
}

static bool check_loss(TrTrainer *t) {
  if (find_loss(t->fwd)) return true;
  tr_report_no_loss(t->d, "train", t->fwd);
  return false;
}

/* Data inputs are the forward graph's inputs, in id order. */
static void collect_inputs(TrTrainer *t) {
  for (IrRef r = 0; r < t->fwd->nnodes; r++) t->ninputs += ir_node(t->fwd, r)->op == IR_OP_INPUT;
  DataSet *sets[] = {&t->train, &t->test};
  for (size_t k = 0; k < MC_COUNTOF(sets); k++) {
    sets[k]->feeds = mc_xcalloc((size_t)t->ninputs + 1, sizeof(Feed));
    int f = 0;
    for (IrRef r = 0; r < t->fwd->nnodes; r++) {
      const IrNode *n = ir_node(t->fwd, r);
      if (n->op == IR_OP_INPUT) sets[k]->feeds[f++] = (Feed){.input = n->name, .node = r};
    }
  }
}

/* ---- data-parallel programs ------------------------------------------------------ */

/* The samples one step consumes across the ranks. */
static int64_t global_batch(const TrTrainer *t) {
  return t->batch * (t->dp ? t->c.dist->size : 1);
}

/* The optimizer alone: per trainable param P an input "grad.P" of its type
   (the gradients averaged over the ranks) as P's gradient, then
   pass_optim's update of P and its state, as the training step has it. */
IrGraph *tr_apply_graph(const IrGraph *fwd, const IrGraph *grad) {
  IrGraph *g = ir_graph_new(fwd->name, fwd->diag);
  ir_graph_copy_syms(g, fwd);
  McStr name;
  mc_str_init(&name);
  for (IrRef r = 0; r < fwd->nnodes; r++) {
    const IrNode *n = ir_node(fwd, r);
    if (n->op != IR_OP_PARAM) continue;
    if (grad ? !ir_find_output(grad, IR_OUT_GRAD, n->name) : n->attr.frozen) continue;
    ir_param(g, n->name, (IrDtype)n->dtype, &n->shape, n->attr.init, n->loc);
    name.len = 0;
    mc_str_printf(&name, "grad.%s", n->name);
    IrRef x = ir_input(g, name.s, (IrDtype)n->dtype, &n->shape, n->loc);
    ir_add_output(g, IR_OUT_GRAD, n->name, x);
  }
  mc_str_free(&name);
  return g;
}

/* Each rank runs the gradient program on its part of the batch; the
   gradients are summed over the ranks in one buffer and the apply program
   takes the optimizer step on their mean, the same on every rank. */
static bool build_dp_programs(TrTrainer *t) {
  if (t->c.f64) {
    mc_error(t->d, noloc, "train: --f64 runs in one process, not under mpirun");
    return false;
  }
  IrGraph *g = tr_apply_graph(t->fwd, NULL);
  bool ok = program_build(t, &t->grad, t->fwd, PASS_PIPELINE_GRAD, true, t->d) &&
            program_build(t, &t->apply, g, PASS_PIPELINE_APPLY, true, t->d);
  ir_graph_free(g);
  return ok;
}

/* ---- the step split over batch rows ------------------------------------------------
   On several threads a step whose rows meet only in the loss's sum runs
   as copies of the gradient program, each on its own rows
   (cg_jit_compile_split), and the apply program then takes the optimizer
   step on the summed gradients: on lenet and gpt this ran 20-30% faster
   than the one training step program sharing its kernels' work. */

/* The apply program's "grad.P" inputs read the gradient program's
   outputs in place. */
static void feed_apply_from_grad(TrTrainer *t) {
  Program *a = &t->apply, *g = &t->grad;
  for (int i = 0; i < a->nsources; i++) {
    const IrNode *n = slot_node(a, i);
    const IrOutput *o = n->op == IR_OP_INPUT && strncmp(n->name, "grad.", 5) == 0
                            ? ir_find_output(g->g, IR_OUT_GRAD, n->name + 5)
                            : NULL;
    if (!o || a->borrowed[i]) continue;
    free(a->bufs[i]);
    a->bufs[i] = g->bufs[cg_program_output_slot(g->cg, (int)(o - g->g->outs))];
    a->borrowed[i] = true;
  }
}

/* The split gradient program over `slice` (the model at batch/threads),
   and the apply program; t->split_step when both were built. */
static bool build_split_over(TrTrainer *t, const IrGraph *slice, CgSplit how) {
  Program *g = &t->grad;
  g->g = ir_graph_clone(t->fwd);
  IrGraph *s = ir_graph_clone(slice);
  bool ok = run_pipeline(t, &g->g, PASS_PIPELINE_GRAD, t->d) &&
            run_pipeline(t, &s, PASS_PIPELINE_GRAD, t->d);
  if (ok && cg_split_worth(g->g, s, how)) {
    IrGraph *a = NULL;
    CgStats st = {0};
    ok = program_compile(t, g, s, how, true, t->d);
    if (ok) cg_program_stats(g->cg, &st);
    if (ok && st.parts) {
      a = tr_apply_graph(t->fwd, g->g);
      ok = program_build(t, &t->apply, a, PASS_PIPELINE_APPLY, true, t->d);
      ir_graph_free(a);
    }
    t->split_step = ok && st.parts;
    if (t->split_step) feed_apply_from_grad(t);
  }
  ir_graph_free(s);
  if (!t->split_step) {
    program_free(&t->grad);
    program_free(&t->apply);
  }
  return ok;
}

/* The model at batch / threads in `mode`, compiled silently; NULL when
   the threads do not divide the batch or it does not compile. */
static IrGraph *slice_model(TrTrainer *t, FeMode mode) {
  int parts = code_threads(t);
  if (!t->batch_dim || parts < 2 || parts > CG_SPLIT_MAX_PARTS || t->batch % parts) return NULL;
  McDiag quiet;
  mc_diag_init(&quiet, NULL, NULL);
  IrGraph *slice = compile_model(t, t->batch_dim, t->batch / parts, mode, &quiet);
  if (slice) slice->diag = NULL;
  mc_diag_fini(&quiet);
  return slice;
}

/* Splits the step when the threads, the batch and the model allow it and
   it pays (cg_split_worth); else the training step program runs whole. A
   model with batch norms in train mode splits with its statistics summed
   over the parts (cg_split_sync). */
static bool build_split_programs(TrTrainer *t) {
  IrGraph *slice = t->dp || t->c.f64 ? NULL : slice_model(t, FE_MODE_TRAIN);
  if (!slice) return true;
  IrGraph *synced;
  CgSplit how = cg_split_grad(t->fwd, slice, &synced);
  bool ok = how == CG_SPLIT_NO || build_split_over(t, synced ? synced : slice, how);
  ir_graph_free(synced);
  ir_graph_free(slice);
  return ok;
}

/* The forward program at the batch size; when the step is split, split
   as it is where the model allows (its copies then share the step's
   kernels: one-thread code). */
static bool build_eval(TrTrainer *t) {
  Program *p = &t->eval;
  IrGraph *slice = t->split_step ? slice_model(t, FE_MODE_EVAL) : NULL;
  CgSplit how = slice ? cg_split_grad_ok(t->fwd_eval, slice) : CG_SPLIT_NO;
  IrGraph *s = how != CG_SPLIT_NO ? ir_graph_clone(slice) : NULL;
  p->g = ir_graph_clone(t->fwd_eval);
  p->stable = true; /* its weights are packed once per evaluation (evaluate) */
  bool ok = run_pipeline(t, &p->g, PASS_PIPELINE_FORWARD, t->d) &&
            (!s || run_pipeline(t, &s, PASS_PIPELINE_FORWARD, t->d)) &&
            program_compile(t, p, s, how, true, t->d);
  if (s) ir_graph_free(s);
  if (slice) ir_graph_free(slice);
  return ok;
}

TrTrainer *tr_trainer_new(McSources *src, McDiag *d, const TrConfig *c) {
  TrTrainer *t = mc_xcalloc(1, sizeof *t);
  t->src = src;
  t->d = d;
  t->c = *c;
  t->train.what = "training";
  t->test.what = "eval";
  mc_vec_init(&t->train.args, sizeof(RtDataArg));
  mc_vec_init(&t->test.args, sizeof(RtDataArg));
  t->order_epoch = -1;
  mc_vec_init(&t->losses, sizeof(double));
  t->saved_step = -1;
  t->last_eval_step = -1;
  bool ok = compile_forward(t) && check_loss(t);
  if (ok) {
    collect_inputs(t);
    find_labels(t);
    t->dp = t->c.dist && t->c.dist->size > 1;
    t->prog.g = ir_graph_clone(t->fwd);
    ok = run_pipeline(t, &t->prog.g, PASS_PIPELINE_TRAIN, t->d) &&
         (t->dp ? build_dp_programs(t) : build_split_programs(t)) && build_eval(t);
    if (ok && (t->dp || t->split_step))
      program_layout(t, &t->prog);
    else if (ok)
      ok = program_compile(t, &t->prog, NULL, CG_SPLIT_NO, false, t->d) && map_updates(t);
  }
  if (!ok) {
    tr_trainer_free(t);
    return NULL;
  }
  init_params(t);
  t->filled = mc_xcalloc((size_t)t->prog.nsources + 1, sizeof *t->filled);
  return t;
}

static void dataset_free(DataSet *ds, int nfeeds) {
  for (int f = 0; ds->feeds && f < nfeeds; f++) {
    rt_data_free(ds->feeds[f].data);
    free(ds->feeds[f].path);
  }
  free(ds->feeds);
  mc_vec_free(&ds->args);
}

void tr_trainer_free(TrTrainer *t) {
  if (!t) return;
  for (int i = 0; t->p64 && i < t->prog.nsources; i++) free(t->p64[i]);
  free(t->p64);
  program_free(&t->prog);
  program_free(&t->eval);
  program_free(&t->eval1);
  program_free(&t->grad);
  program_free(&t->apply);
  free(t->shared);
  free(t->filled);
  dataset_free(&t->train, t->ninputs);
  dataset_free(&t->test, t->ninputs);
  rt_split_free(&t->split);
  free(t->update_of);
  free(t->order);
  free(t->test_idx);
  mc_vec_free(&t->losses);
  if (t->ev64) ir_eval_free(t->ev64);
  if (t->g64) ir_graph_free(t->g64);
  if (t->fwd) ir_graph_free(t->fwd);
  if (t->fwd_eval) ir_graph_free(t->fwd_eval);
  free(t);
}

int64_t tr_trainer_step(const TrTrainer *t) { return t->step; }
int64_t tr_trainer_epoch(const TrTrainer *t) { return t->epoch; }

/* ---- what a REPL reads and changes between runs ------------------------------ */

const IrGraph *tr_trainer_forward(const TrTrainer *t) { return t->fwd; }
int tr_trainer_nslots(const TrTrainer *t) { return t->prog.nsources; }

const IrNode *tr_trainer_param(TrTrainer *t, int i, void **data) {
  if (i < 0 || i >= t->prog.nsources) return NULL;
  const IrNode *n = slot_node(&t->prog, i);
  if (n->op != IR_OP_PARAM) return NULL;
  *data = t->prog.bufs[i];
  return n;
}

void tr_trainer_params_loaded(TrTrainer *t) { t->resumed = true; }

void tr_trainer_set_hyper(TrTrainer *t, const PassOptimHyper *h) { t->c.hyper = *h; }

const double *tr_trainer_losses(const TrTrainer *t, int64_t *n) {
  *n = (int64_t)t->losses.len;
  return t->losses.data;
}

void tr_trainer_stats(const TrTrainer *t, struct CgStats *step, struct CgStats *fwd) {
  cg_program_stats(t->eval.cg, fwd);
  if (t->prog.cg) {
    cg_program_stats(t->prog.cg, step);
    return;
  }
  CgStats a;
  cg_program_stats(t->grad.cg, step);
  cg_program_stats(t->apply.cg, &a);
  step->workspace_bytes += a.workspace_bytes;
  step->naive_bytes += a.naive_bytes;
  step->nkernels += a.nkernels;
  step->ncalls += a.ncalls;
  step->nnodes += a.nnodes;
  step->compile_seconds += a.compile_seconds;
}

/* ---- data --------------------------------------------------------------------- */

bool tr_trainer_add_data(TrTrainer *t, const char *arg, bool eval) {
  RtError e = {{0}};
  RtDataArg a;
  if (!rt_data_arg_parse(arg, &a, &e)) {
    mc_error(t->d, noloc, "--%s %s: %s", eval ? "eval" : "data", arg, e.msg);
    return false;
  }
  *(RtDataArg *)mc_vec_push(eval ? &t->test.args : &t->train.args) = a;
  return true;
}

static int feed_index(const TrTrainer *t, const char *name) {
  for (int f = 0; f < t->ninputs; f++)
    if (strcmp(t->train.feeds[f].input, name) == 0) return f;
  return -1;
}

static void list_inputs(const TrTrainer *t, McStr *out) {
  for (int f = 0; f < t->ninputs; f++)
    mc_str_printf(out, "%s%s", f ? ", " : "", t->train.feeds[f].input);
}

static bool unknown_input(TrTrainer *t, const DataSet *ds, const RtDataArg *a) {
  McStr names;
  mc_str_init(&names);
  list_inputs(t, &names);
  mc_error(t->d, noloc, "--%s %s=%s: model '%s' has no input '%s' (its inputs: %s)",
           ds == &t->test ? "eval" : "data", a->name, a->path, t->fwd->name, a->name, names.s);
  mc_str_free(&names);
  return false;
}

/* Converts the loaded file to what input f consumes: f32 by (x * scale -
   mean) / std, or i32 checked against the input's range when its uses
   bound it (labels of cross_entropy: [0, classes)). */
static RtData *convert(TrTrainer *t, int f, const RtDataArg *a, const RtData *raw) {
  const IrNode *in = input_node(t, f);
  RtError e = {{0}};
  RtData *out = NULL;
  if (in->dtype == IR_F32) {
    double scale = isnan(a->scale) ? rt_default_scale(raw->dtype) : a->scale;
    double mean = isnan(a->mean) ? 0 : a->mean, std = isnan(a->std) ? 1 : a->std;
    out = rt_data_to_f32(raw, scale, mean, std, a->path, &e);
  } else if (in->dtype == IR_I32) {
    if (!isnan(a->scale) || !isnan(a->mean) || !isnan(a->std)) {
      mc_error(t->d, noloc, "%s: scale, mean and std do not apply to the i32 input '%s'",
               a->path, in->name);
      return NULL;
    }
    int64_t k = ir_int_input_bound(t->fwd, t->train.feeds[f].node);
    out = k > 0 ? rt_data_to_i32(raw, 0, k, a->path, &e)
                : rt_data_to_i32(raw, INT32_MIN, (int64_t)INT32_MAX + 1, a->path, &e);
  } else {
    mc_error(t->d, in->loc, "train: input '%s' is %s: data can feed f32 and i32 inputs only",
             in->name, ir_dtype_name((IrDtype)in->dtype));
    return NULL;
  }
  if (!out) rt_failed(t, &e);
  return out;
}

/* ---- text: --data text=FILE[,vocab=VOCAB] (docs/data.md) ---- */

/* Gives feed f the samples in *data (taken); false when it has some. */
static bool set_feed(TrTrainer *t, DataSet *ds, int f, RtData **data, const char *path) {
  Feed *feed = &ds->feeds[f];
  if (feed->data) {
    mc_error(t->d, noloc, "--%s: input '%s' is given twice (%s and %s)",
             ds == &t->test ? "eval" : "data", feed->input, feed->path, path);
    return false;
  }
  feed->data = *data;
  feed->scale = feed->std = 1;
  feed->path = mc_xstrdup(path);
  *data = NULL;
  return true;
}

/* The i32 input named `name` whose shape is [batch, n] (n > 0) or [batch] (n == 0). */
static int text_input(const TrTrainer *t, const char *name, int64_t n) {
  int f = feed_index(t, name);
  if (f < 0) return -1;
  const IrNode *in = input_node(t, f);
  bool ok = in->dtype == IR_I32 && in->shape.rank == (n > 0 ? 2 : 1);
  return ok && (n == 0 || in->shape.d[1].n == n) ? f : -1;
}

/* label<TAB>text lines through a WordPiece vocabulary into input_ids,
   attention_mask and token_type_ids [B, T] and labels [B] (BERT's names). */
static bool load_bert_text(TrTrainer *t, DataSet *ds, const RtDataArg *a) {
  int fi = feed_index(t, "input_ids");
  const IrNode *ids = fi >= 0 ? input_node(t, fi) : NULL;
  int64_t len = ids && ids->shape.rank == 2 ? ids->shape.d[1].n : 0;
  int fl = text_input(t, "labels", 0), fm = text_input(t, "attention_mask", len),
      ft = text_input(t, "token_type_ids", len);
  int64_t classes = fl >= 0 ? ir_int_input_bound(t->fwd, ds->feeds[fl].node) : 0;
  if (text_input(t, "input_ids", len) < 0 || len < 2 || fl < 0 || classes <= 0) {
    mc_error(t->d, noloc, "--data text=%s,vocab=...: model '%s' needs the inputs input_ids: "
             "i32[B, T] (T >= 2) and labels: i32[B] (the classes of a cross_entropy), and may "
             "have attention_mask and token_type_ids: i32[B, T]", a->path, t->fwd->name);
    return false;
  }
  RtError e = {{0}};
  RtVocab *v = rt_vocab_load(a->vocab, &e);
  if (!v) return rt_failed(t, &e);
  RtTextOpts o = {.max_len = len, .lower_case = !a->cased, .nclasses = classes};
  RtTextData td = {0};
  bool ok = rt_load_text_tsv(a->path, v, &o, &td, &e) || rt_failed(t, &e);
  rt_vocab_free(v);
  ok = ok && set_feed(t, ds, fi, &td.ids, a->path) && set_feed(t, ds, fl, &td.labels, a->path) &&
       (fm < 0 || set_feed(t, ds, fm, &td.mask, a->path)) &&
       (ft < 0 || set_feed(t, ds, ft, &td.types, a->path));
  if (ok && td.ntruncated)
    mc_note(t->d, noloc, "%s: %lld of %lld texts are longer than %lld tokens and were cut",
            a->path, (long long)td.ntruncated, (long long)rt_data_samples(ds->feeds[fl].data),
            (long long)len);
  rt_text_data_free(&td);
  return ok;
}

/* A text file as characters (rt_chars.c) into the model's two i32 [B, T]
   inputs in declaration order: windows of T characters and the same
   shifted by one, the next character at each position (a char GPT). */
static bool load_char_text(TrTrainer *t, DataSet *ds, const RtDataArg *a) {
  int f[2] = {-1, -1}, nf = 0;
  for (int i = 0; i < t->ninputs; i++) {
    const IrNode *in = input_node(t, i);
    if (in->dtype != IR_I32 || in->shape.rank != 2) continue;
    if (nf < 2) f[nf] = i;
    nf++;
  }
  int64_t len = nf == 2 ? input_node(t, f[0])->shape.d[1].n : 0;
  if (nf != 2 || input_node(t, f[1])->shape.d[1].n != len) {
    mc_error(t->d, noloc, "--data text=%s: a character model needs two i32[B, T] inputs, the "
             "tokens and the next tokens (as examples/gpt.model's idx and targets); model '%s' "
             "has %d (give vocab=VOCAB for label<TAB>text lines)", a->path, t->fwd->name, nf);
    return false;
  }
  RtError e = {{0}};
  int64_t dropped = 0;
  RtData *chars = rt_load_text_chars(a->path, &dropped, &e);
  if (!chars) return rt_failed(t, &e);
  int64_t n = (rt_data_samples(chars) - 1) / len, dims[2] = {n, len};
  bool ok = n > 0;
  if (!ok)
    mc_error(t->d, noloc, "%s: %lld characters make no window of %lld and the next character",
             a->path, (long long)rt_data_samples(chars), (long long)len);
  RtData *x = ok ? rt_data_new(RT_I32, 2, dims, &e) : NULL;
  RtData *y = x ? rt_data_new(RT_I32, 2, dims, &e) : NULL;
  ok = ok && y;
  if (x && !y) rt_failed(t, &e);
  const int32_t *c = chars->data;
  for (int64_t i = 0; ok && i < n * len; i++) {
    ((int32_t *)x->data)[i] = c[i];
    ((int32_t *)y->data)[i] = c[i + 1];
  }
  ok = ok && set_feed(t, ds, f[0], &x, a->path) && set_feed(t, ds, f[1], &y, a->path);
  if (ok && dropped)
    mc_note(t->d, noloc, "%s: %lld bytes have no character id (not ASCII or control) and "
            "were dropped", a->path, (long long)dropped);
  rt_data_free(x);
  rt_data_free(y);
  rt_data_free(chars);
  return ok;
}

/* Loads one file into its feed, checking it fits the input's per-sample shape. */
static bool load_feed(TrTrainer *t, DataSet *ds, const RtDataArg *a) {
  int f = feed_index(t, a->name);
  if (f < 0 && strcmp(a->name, "text") == 0)
    return a->vocab[0] ? load_bert_text(t, ds, a) : load_char_text(t, ds, a);
  if (f < 0) return unknown_input(t, ds, a);
  Feed *feed = &ds->feeds[f];
  if (feed->data) {
    mc_error(t->d, noloc, "--%s: input '%s' is given twice (%s and %s)",
             ds == &t->test ? "eval" : "data", a->name, feed->path, a->path);
    return false;
  }
  RtError e = {{0}};
  RtCsvOpts csv = rt_data_arg_csv(a);
  RtData *raw = rt_load(a->path, &csv, &e);
  if (!raw) return rt_failed(t, &e);
  const IrNode *in = input_node(t, f);
  int64_t dims[IR_MAX_RANK];
  for (int i = 1; i < in->shape.rank; i++) dims[i - 1] = in->shape.d[i].n;
  bool ok = rt_data_check_sample_shape(raw, a->path, in->name, in->shape.rank - 1, dims, &e);
  if (!ok) rt_failed(t, &e);
  feed->path = mc_xstrdup(a->path);
  feed->scale = 1, feed->mean = 0, feed->std = 1;
  if (ok && in->dtype == IR_F32 && (raw->dtype == RT_U8 || raw->dtype == RT_I32)) {
    /* kept as read (60000 Fashion-MNIST images: 47 MB, not 188 MB as f32) */
    feed->scale = isnan(a->scale) ? rt_default_scale(raw->dtype) : a->scale;
    feed->mean = isnan(a->mean) ? 0 : a->mean;
    feed->std = isnan(a->std) ? 1 : a->std;
    if (!rt_gather_f32(raw, NULL, 0, feed->scale, feed->mean, feed->std, NULL, a->path, &e)) {
      rt_data_free(raw);
      return rt_failed(t, &e);
    }
    feed->data = raw;
    return true;
  }
  feed->data = ok ? convert(t, f, a, raw) : NULL;
  rt_data_free(raw);
  return feed->data != NULL;
}

/* Every input has a file and all files have the same number of samples. */
static bool check_complete(TrTrainer *t, DataSet *ds) {
  const Feed *first = NULL;
  for (int f = 0; f < t->ninputs; f++) {
    const Feed *feed = &ds->feeds[f];
    if (!feed->data) {
      mc_error(t->d, noloc, "train: input '%s' has no %s data (give --%s %s=PATH)", feed->input,
               ds->what, ds == &t->test ? "eval" : "data", feed->input);
      return false;
    }
    int64_t n = rt_data_samples(feed->data);
    if (first && n != ds->n) {
      mc_error(t->d, noloc, "%s: %lld samples, but %s (input '%s') has %lld", feed->path,
               (long long)n, first->path, first->input, (long long)ds->n);
      return false;
    }
    if (!first) first = feed, ds->n = n;
  }
  if (t->c.limit > 0 && t->c.limit < ds->n) ds->n = t->c.limit;
  return true;
}

static bool load_set(TrTrainer *t, DataSet *ds) {
  for (size_t i = 0; i < ds->args.len; i++)
    if (!load_feed(t, ds, &MC_VEC_AT(&ds->args, RtDataArg, i))) return false;
  return check_complete(t, ds);
}

/* Seeded N(0,1) samples for every input (all float): a fixed data set, so
   the loss of a model that can fit it falls. */
static bool draw_random_data(TrTrainer *t) {
  for (int f = 0; f < t->ninputs; f++) {
    const IrNode *in = input_node(t, f);
    if (in->dtype != IR_F32) {
      mc_error(t->d, noloc, "train: no --data given and input '%s' is %s: random data is "
               "drawn only when every input is f32 (give --data NAME=PATH for each input)",
               in->name, ir_dtype_name((IrDtype)in->dtype));
      return false;
    }
  }
  int64_t n = t->c.limit > 0 ? t->c.limit : RANDOM_SAMPLES;
  for (int f = 0; f < t->ninputs; f++) {
    const IrNode *in = input_node(t, f);
    int64_t dims[IR_MAX_RANK];
    dims[0] = n;
    for (int i = 1; i < in->shape.rank; i++) dims[i] = in->shape.d[i].n;
    RtError e = {{0}};
    RtData *d = rt_data_new(RT_F32, in->shape.rank, dims, &e);
    if (!d) return rt_failed(t, &e);
    char stream[300];
    snprintf(stream, sizeof stream, "data:%s", in->name);
    uint64_t h = mc_hash_str(stream);
    for (int64_t i = 0; i < d->numel; i++)
      ((float *)d->data)[i] = (float)mc_rng_normal(t->c.seed, h, (uint64_t)i);
    t->train.feeds[f].data = d;
    t->train.feeds[f].path = mc_xstrdup("<random>");
    t->train.feeds[f].std = t->train.feeds[f].scale = 1;
  }
  t->train.n = n;
  mc_note(t->d, noloc, "no --data given: training on %lld samples of seeded N(0,1) random data",
          (long long)n);
  return true;
}

bool tr_trainer_load_data(TrTrainer *t) {
  bool ok = t->train.args.len ? load_set(t, &t->train) : draw_random_data(t);
  if (ok && t->test.args.len) ok = load_set(t, &t->test);
  if (!ok) return false;
  RtError e = {{0}};
  if (!rt_split_make(t->train.n, t->c.holdout, -1, t->c.seed, &t->split, &e))
    return rt_failed(t, &e);
  t->steps_per_epoch = rt_batch_count(t->split.ntrain, global_batch(t));
  if (t->steps_per_epoch == 0) {
    mc_error(t->d, noloc, "train: %lld training samples%s are fewer than the batch size %lld%s",
             (long long)t->split.ntrain, t->split.nheld ? " (after the held-out split)" : "",
             (long long)global_batch(t), t->dp ? " (the batch times the ranks)" : "");
    return false;
  }
  t->test_idx = mc_xcalloc((size_t)t->test.n + 1, sizeof *t->test_idx);
  rt_iota(t->test_idx, t->test.n);
  t->data_loaded = true;
  return true;
}

/* ---- running programs ------------------------------------------------------------ */

/* Copies samples idx[0..count) of feed f of ds into dst (its dtype). */
static bool gather_feed(TrTrainer *t, const DataSet *ds, int f, const int64_t *idx,
                        int64_t count, void *dst) {
  RtError e = {{0}};
  const Feed *feed = &ds->feeds[f];
  bool ok = ir_node(t->fwd, feed->node)->dtype == IR_F32
                ? rt_gather_f32(feed->data, idx, count, feed->scale, feed->mean, feed->std, dst,
                                feed->path, &e)
                : rt_gather_i32(feed->data, idx, count, dst, feed->path, &e);
  return ok || rt_failed(t, &e);
}

/* Copies samples idx[0..count) of every feed into the program's input slots. */
static bool bind_batch(TrTrainer *t, Program *p, const DataSet *ds, const int64_t *idx,
                       int64_t count) {
  for (int f = 0; f < t->ninputs; f++)
    if (p->feed_slot[f] >= 0 && !gather_feed(t, ds, f, idx, count, p->bufs[p->feed_slot[f]]))
      return false;
  return true;
}

bool tr_trainer_fill_input(TrTrainer *t, const char *name, int64_t count, void *dst) {
  int f = feed_index(t, name);
  if (!t->data_loaded || f < 0) {
    mc_error(t->d, noloc, "no data loaded for input '%s'", name);
    return false;
  }
  const DataSet *ds = t->test.n ? &t->test : &t->train;
  if (count > ds->n) {
    mc_error(t->d, noloc, "input '%s' needs %lld samples; the %s data has %lld", name,
             (long long)count, ds->what, (long long)ds->n);
    return false;
  }
  int64_t *idx = mc_xcalloc((size_t)count + 1, sizeof *idx);
  rt_iota(idx, count);
  bool ok = gather_feed(t, ds, f, idx, count, dst);
  free(idx);
  return ok;
}

/* The hyperparameter inputs "opt.*" of p for update number step + 1. */
static bool bind_hyper(TrTrainer *t, Program *p) {
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op != IR_OP_INPUT || strncmp(n->name, "opt.", 4) != 0) continue;
    double v;
    if (!pass_optim_input_value(&t->c.hyper, t->step + 1, n->name, &v)) {
      mc_error(t->d, noloc, "train: internal error: no value for '%s'", n->name);
      return false;
    }
    *(float *)p->bufs[i] = (float)v;
  }
  return true;
}

/* Stores each update output the program did not compute in place (cg.h)
   as the new value of its param or state tensor: swapping the two buffers
   is the copy-back, in O(1). */
static void commit_updates(TrTrainer *t) {
  Program *p = &t->prog;
  for (int i = 0; i < p->nsources; i++) {
    int u = t->update_of[i];
    if (u < 0) continue;
    void *old = p->bufs[i];
    p->bufs[i] = p->bufs[u];
    p->bufs[u] = old;
  }
}

/* Element i of a float slot (f32 or f64). */
static double float_at(const Program *p, int slot, int64_t i) {
  if (slot_node(p, slot)->dtype == IR_F64) return ((const double *)p->bufs[slot])[i];
  return ((const float *)p->bufs[slot])[i];
}

/* Counts rows of the logits whose argmax (first maximum) is the label. */
static int64_t count_correct(const TrTrainer *t, const Program *p, int64_t rows) {
  if (p->logits_slot < 0 || t->label_feed < 0 || p->feed_slot[t->label_feed] < 0) return 0;
  const int32_t *labels = p->bufs[p->feed_slot[t->label_feed]];
  int64_t k = t->nclasses, correct = 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t best = 0;
    double top = float_at(p, p->logits_slot, r * k);
    for (int64_t j = 1; j < k; j++) {
      double v = float_at(p, p->logits_slot, r * k + j);
      if (v > top) best = j, top = v;
    }
    correct += best == labels[r];
  }
  return correct;
}

/* Labelled positions per sample: the label input's elements per sample. */
static int64_t labels_per_sample(const TrTrainer *t) {
  if (t->label_feed < 0) return 0;
  const IrShape *s = &input_node(t, t->label_feed)->shape;
  return ir_shape_numel(s) / (s->d[0].n > 0 ? s->d[0].n : 1);
}

static bool run_program(TrTrainer *t, Program *p) {
  if (cg_program_run(p->cg, p->bufs, t->d)) return true;
  if (!mc_diag_has_errors(t->d)) mc_error(t->d, noloc, "train: the compiled program failed");
  return false;
}

/* ---- the f64 reference step (--f64) ---------------------------------------------
   The training step run by the reference evaluator in f64, for comparing
   with an f64 reference (tests/parity): the params and optimizer state are
   held in f64 (p64) and saved so; the step's f32 buffers keep their
   roundings, which evaluation, progress and accuracy read as usual. */

/* PASS_PIPELINE_TRAIN without simplify, whose constant folding rounds to
   the constants' f32, and without fuse, which only the JIT reads. */
#define TRAIN_F64_PIPELINE "cse,dce,autodiff,cse,dce,optim,cse,dce"

static bool is_float(IrDtype t) { return t == IR_F32 || t == IR_F64; }

/* Builds the evaluator's step and takes the params' current values. */
static bool f64_begin(TrTrainer *t) {
  if (t->ev64) return true;
  Program *p = &t->prog;
  t->g64 = ir_graph_clone(t->fwd);
  PassCtx cx = {.diag = t->d, .optim = &t->c.optim};
  if (!pass_run_pipeline(&t->g64, TRAIN_F64_PIPELINE, &cx) || !ir_verify(t->g64, t->d))
    return false;
  t->ev64 = ir_eval_new(t->g64, true);
  t->p64 = mc_xcalloc((size_t)p->nsources + 1, sizeof *t->p64);
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op == IR_OP_PARAM && is_float((IrDtype)n->dtype))
      t->p64[i] = as_doubles(p->bufs[i], (IrDtype)n->dtype, ir_shape_numel(&n->shape));
  }
  return true;
}

/* The value of g64's source n: a param's f64 values, an "opt.*"
   hyperparameter unrounded, else the step slot's (the batch's data). *tmp
   is what the caller frees. */
static const double *f64_source(TrTrainer *t, const IrNode *n, double *hyper, double **tmp) {
  Program *p = &t->prog;
  int s = source_slot(p, (IrOp)n->op, n->name);
  *tmp = NULL;
  if (n->op == IR_OP_INPUT && strncmp(n->name, "opt.", 4) == 0)
    return pass_optim_input_value(&t->c.hyper, t->step + 1, n->name, hyper) ? hyper : NULL;
  if (s < 0) return NULL;
  if (t->p64[s]) return t->p64[s];
  return *tmp = as_doubles(p->bufs[s], (IrDtype)n->dtype, ir_shape_numel(&n->shape));
}

/* Writes the evaluator's value of output o into float slot `slot`. */
static void f64_store(TrTrainer *t, const IrOutput *o, int slot) {
  const IrTensor *v = ir_eval_value(t->ev64, o->ref);
  const IrNode *n = slot_node(&t->prog, slot);
  for (int64_t i = 0; v && i < v->numel; i++) {
    if (n->dtype == IR_F64)
      ((double *)t->prog.bufs[slot])[i] = v->data[i];
    else
      ((float *)t->prog.bufs[slot])[i] = (float)v->data[i];
  }
}

/* One step on the batch bound in the step's slots; updates in place. */
static bool step_f64(TrTrainer *t) {
  if (!f64_begin(t)) return false;
  const IrGraph *g = t->g64;
  for (IrRef r = 0; r < g->nnodes; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op != IR_OP_PARAM && n->op != IR_OP_INPUT) continue;
    double hyper, *tmp;
    const double *v = f64_source(t, n, &hyper, &tmp);
    bool ok = v && ir_eval_bind(t->ev64, n->name, v, ir_shape_numel(&n->shape), t->d);
    free(tmp);
    if (!ok) {
      if (!mc_diag_has_errors(t->d)) mc_error(t->d, noloc, "train: no value for '%s'", n->name);
      return false;
    }
  }
  if (!ir_eval_run(t->ev64, t->d)) return false;
  Program *p = &t->prog;
  for (uint32_t k = 0; k < g->nouts; k++) {
    const IrOutput *o = &g->outs[k];
    if (o->kind == IR_OUT_UPDATE) {
      int s = source_slot(p, IR_OP_PARAM, o->name);
      const IrTensor *v = ir_eval_value(t->ev64, o->ref);
      if (s < 0 || !v) continue;
      if (t->p64[s]) memcpy(t->p64[s], v->data, (size_t)v->numel * sizeof *v->data);
      f64_store(t, o, s);
    } else if (o->kind == IR_OUT_LOSS && p->loss_slot >= 0) {
      f64_store(t, o, p->loss_slot);
    } else if (o->kind == IR_OUT_OUTPUT && p->logits_slot >= 0 && t->logits &&
               strcmp(o->name, t->logits) == 0) {
      f64_store(t, o, p->logits_slot);
    }
  }
  return true;
}

/* Counts a step whose loss and logits program p holds. */
static void record_step(TrTrainer *t, const Program *p, EpochStats *st) {
  int64_t rows = t->batch * labels_per_sample(t);
  st->loss_sum += float_at(p, p->loss_slot, 0);
  *(double *)mc_vec_push(&t->losses) = float_at(p, p->loss_slot, 0);
  st->correct += count_correct(t, p, rows);
  st->labelled += rows;
  st->steps++;
  t->step++;
}

/* One optimizer step on samples idx[0..batch). */
static bool train_step(TrTrainer *t, const int64_t *idx, EpochStats *st) {
  Program *p = &t->prog;
  if (!bind_batch(t, p, &t->train, idx, t->batch) || !bind_hyper(t, p) ||
      !(t->c.f64 ? step_f64(t) : run_program(t, p)))
    return false;
  record_step(t, p, st);
  if (!t->c.f64) commit_updates(t);
  return true;
}

/* Points an evaluation program's param slots at the step's current params. */
static void borrow_params(TrTrainer *t, Program *p) {
  for (int i = 0; i < p->nsources; i++) {
    if (!p->borrowed[i] || slot_node(p, i)->op != IR_OP_PARAM) continue;
    int s = source_slot(&t->prog, IR_OP_PARAM, slot_node(p, i)->name);
    p->bufs[i] = s >= 0 ? t->prog.bufs[s] : NULL;
  }
}

/* ---- a data-parallel step ------------------------------------------------------------ */

/* Copies n elements between a program buffer of dtype dt and doubles. */
static void to_doubles(double *out, const void *buf, IrDtype dt, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    out[i] = dt == IR_F64 ? ((const double *)buf)[i] : ((const float *)buf)[i];
}

static void from_doubles(void *buf, IrDtype dt, const double *in, int64_t n, double scale) {
  for (int64_t i = 0; i < n; i++) {
    if (dt == IR_F64) ((double *)buf)[i] = in[i] * scale;
    else ((float *)buf)[i] = (float)(in[i] * scale);
  }
}

/* The gradient program's outputs that the ranks average: gradients and
   buffer updates (running statistics). */
static bool is_shared_output(const IrOutput *o) {
  return o->kind == IR_OUT_GRAD || o->kind == IR_OUT_UPDATE;
}

/* Where the mean of output o goes: the apply program's "grad.P" input, or
   the buffer's slot of the step program. */
static void *shared_target(TrTrainer *t, const IrOutput *o) {
  if (o->kind == IR_OUT_UPDATE) {
    int s = source_slot(&t->prog, IR_OP_PARAM, o->name);
    return s >= 0 ? t->prog.bufs[s] : NULL;
  }
  McStr name;
  mc_str_init(&name);
  mc_str_printf(&name, "grad.%s", o->name);
  int s = source_slot(&t->apply, IR_OP_INPUT, name.s);
  mc_str_free(&name);
  return s >= 0 ? t->apply.bufs[s] : NULL;
}

/* Sums loss, accuracy counts and every shared output over the ranks in one
   buffer, then stores the means where they go. */
static bool share_gradients(TrTrainer *t, EpochStats *st) {
  Program *g = &t->grad;
  int64_t n = 3;
  for (uint32_t k = 0; k < g->g->nouts; k++)
    if (is_shared_output(&g->g->outs[k])) n += ir_shape_numel(&slot_node(g, cg_program_output_slot(g->cg, (int)k))->shape);
  if (!t->shared) t->shared = mc_xcalloc((size_t)n, sizeof *t->shared);
  double *buf = t->shared;
  int64_t rows = t->batch * labels_per_sample(t);
  buf[0] = float_at(g, g->loss_slot, 0);
  buf[1] = (double)count_correct(t, g, rows);
  buf[2] = (double)rows;
  int64_t at = 3;
  for (uint32_t k = 0; k < g->g->nouts; k++) {
    if (!is_shared_output(&g->g->outs[k])) continue;
    int slot = cg_program_output_slot(g->cg, (int)k);
    const IrNode *o = slot_node(g, slot);
    to_doubles(buf + at, g->bufs[slot], (IrDtype)o->dtype, ir_shape_numel(&o->shape));
    at += ir_shape_numel(&o->shape);
  }
  double start = tr_now_seconds();
  bool ok = tr_dist_sum(t->c.dist, buf, n, t->d);
  st->allreduce_seconds += tr_now_seconds() - start;
  double mean = 1.0 / t->c.dist->size;
  at = 3;
  for (uint32_t k = 0; ok && k < g->g->nouts; k++) {
    const IrOutput *out = &g->g->outs[k];
    if (!is_shared_output(out)) continue;
    const IrNode *o = slot_node(g, cg_program_output_slot(g->cg, (int)k));
    void *to = shared_target(t, out);
    if (!to) {
      mc_error(t->d, noloc, "train: internal error: no place for the mean of '%s'", out->name);
      ok = false;
      break;
    }
    from_doubles(to, (IrDtype)o->dtype, buf + at, ir_shape_numel(&o->shape), mean);
    at += ir_shape_numel(&o->shape);
  }
  if (ok) {
    st->loss_sum += buf[0] * mean;
    *(double *)mc_vec_push(&t->losses) = buf[0] * mean;
    st->correct += (int64_t)buf[1];
    st->labelled += (int64_t)buf[2];
  }
  return ok;
}

/* Stores the updates program a did not compute in place (the optimizer's
   of the apply program, the running statistics of a split gradient
   program) into its params, which are the step's. */
static void store_updates(Program *a) {
  for (uint32_t k = 0; k < a->g->nouts; k++) {
    if (a->g->outs[k].kind != IR_OUT_UPDATE) continue;
    int u = cg_program_output_slot(a->cg, (int)k);
    int s = source_slot(a, IR_OP_PARAM, a->g->outs[k].name);
    if (s >= 0 && a->bufs[s] && a->bufs[u] != a->bufs[s])
      memcpy(a->bufs[s], a->bufs[u], (size_t)node_bytes(slot_node(a, s)));
  }
}

/* One optimizer step with every rank: rank r's samples are
   idx[r*batch .. (r+1)*batch). */
static bool train_step_dist(TrTrainer *t, const int64_t *idx, EpochStats *st) {
  borrow_params(t, &t->grad);
  borrow_params(t, &t->apply);
  bool ok = bind_batch(t, &t->grad, &t->train, idx + (int64_t)t->c.dist->rank * t->batch,
                       t->batch) &&
            run_program(t, &t->grad) && share_gradients(t, st) && bind_hyper(t, &t->apply) &&
            run_program(t, &t->apply);
  if (!ok) return false;
  store_updates(&t->apply);
  st->steps++;
  t->step++;
  return true;
}

/* One optimizer step split over the batch rows (build_split_programs). */
static bool train_step_split(TrTrainer *t, const int64_t *idx, EpochStats *st) {
  Program *g = &t->grad;
  borrow_params(t, g);
  borrow_params(t, &t->apply);
  if (!bind_batch(t, g, &t->train, idx, t->batch) || !run_program(t, g) ||
      !bind_hyper(t, &t->apply) || !run_program(t, &t->apply))
    return false;
  store_updates(g);
  store_updates(&t->apply);
  record_step(t, g, st);
  return true;
}

/* Every rank starts from rank 0's params and optimizer state. */
static bool share_params(TrTrainer *t) {
  if (!t->dp || t->params_shared) return true;
  Program *p = &t->prog;
  for (int i = 0; i < p->nsources; i++)
    if (slot_node(p, i)->op == IR_OP_PARAM &&
        !tr_dist_broadcast(t->c.dist, p->bufs[i], node_bytes(slot_node(p, i)), t->d))
      return false;
  int64_t counters[3] = {t->step, t->epoch, t->epoch_step};
  if (!tr_dist_broadcast(t->c.dist, counters, sizeof counters, t->d)) return false;
  t->step = counters[0], t->epoch = counters[1], t->epoch_step = counters[2];
  return t->params_shared = true;
}

/* The batch-1 forward program for samples that do not fill a batch; built
   on first use, silently (a model that cannot run at batch 1 leaves them
   unscored). */
static bool have_eval1(TrTrainer *t) {
  if (t->eval1.cg) return true;
  if (t->eval1_tried || !t->batch_dim) return false;
  t->eval1_tried = true;
  McDiag quiet;
  mc_diag_init(&quiet, NULL, NULL);
  IrGraph *g = compile_model(t, t->batch_dim, 1, FE_MODE_EVAL, &quiet);
  t->eval1.stable = true;
  bool ok = g && program_build(t, &t->eval1, g, PASS_PIPELINE_FORWARD, true, &quiet);
  if (g) ir_graph_free(g);
  if (t->eval1.g) t->eval1.g->diag = NULL;
  if (!ok) program_free(&t->eval1);
  mc_diag_fini(&quiet);
  return ok;
}

/* Scores one batch of `count` samples with program p. */
static bool score_batch(TrTrainer *t, Program *p, const DataSet *ds, const int64_t *idx,
                        int64_t count, Score *sc, double *loss_sum, int64_t *correct) {
  borrow_params(t, p);
  if (!bind_batch(t, p, ds, idx, count) || !run_program(t, p)) return false;
  if (p->loss_slot >= 0) *loss_sum += float_at(p, p->loss_slot, 0) * (double)count;
  *correct += count_correct(t, p, count * labels_per_sample(t));
  sc->n += count;
  return true;
}

/* Loss and accuracy of the current params over samples idx[0..n) of ds:
   full batches with the forward program, the rest one by one. */
static bool evaluate(TrTrainer *t, const DataSet *ds, const int64_t *idx, int64_t n, Score *sc) {
  memset(sc, 0, sizeof *sc);
  /* the params may have changed since the last evaluation (steps, a load) */
  if (t->eval.cg) cg_program_params_changed(t->eval.cg);
  if (t->eval1.cg) cg_program_params_changed(t->eval1.cg);
  double loss_sum = 0;
  int64_t correct = 0, full = n / t->batch * t->batch;
  for (int64_t i = 0; i < full; i += t->batch)
    if (!score_batch(t, &t->eval, ds, idx + i, t->batch, sc, &loss_sum, &correct)) return false;
  if (full < n && have_eval1(t)) {
    for (int64_t i = full; i < n; i++)
      if (!score_batch(t, &t->eval1, ds, idx + i, 1, sc, &loss_sum, &correct)) return false;
  } else if (full < n && !t->skip_note_done) {
    t->skip_note_done = true;
    mc_note(t->d, noloc, "evaluation scores whole batches only: %lld of %lld %s samples are "
            "left out", (long long)(n - full), (long long)n, ds->what);
  }
  sc->has_loss = t->eval.loss_slot >= 0 && sc->n > 0;
  sc->has_acc = t->label_feed >= 0 && t->eval.logits_slot >= 0 && sc->n > 0;
  sc->loss = sc->n ? loss_sum / (double)sc->n : 0;
  sc->acc = sc->n ? (double)correct / ((double)sc->n * (double)labels_per_sample(t)) : 0;
  return true;
}

/* Evaluates the held-out and eval sets (when present) at the current step. */
static bool evaluate_all(TrTrainer *t) {
  if (t->last_eval_step == t->step) return true;
  memset(&t->last_held, 0, sizeof t->last_held);
  memset(&t->last_test, 0, sizeof t->last_test);
  if (t->split.nheld && !evaluate(t, &t->train, t->split.held, t->split.nheld, &t->last_held))
    return false;
  if (t->test.n && !evaluate(t, &t->test, t->test_idx, t->test.n, &t->last_test)) return false;
  t->last_eval_step = t->step;
  return true;
}

/* ---- progress and reports ------------------------------------------------------------ */

static void format_duration(char *buf, size_t cap, double s) {
  if (!isfinite(s) || s < 0) s = 0;
  long long v = (long long)(s + 0.5);
  if (v >= 3600)
    snprintf(buf, cap, "%lld:%02lld:%02lld", v / 3600, v / 60 % 60, v % 60);
  else
    snprintf(buf, cap, "%lld:%02lld", v / 60, v % 60);
}

static void epoch_label(const TrTrainer *t, char *buf, size_t cap) {
  if (t->run_epochs > 0)
    snprintf(buf, cap, "epoch %lld/%lld", (long long)t->epoch + 1, (long long)t->run_epochs);
  else
    snprintf(buf, cap, "epoch %lld", (long long)t->epoch + 1);
}

/* Steps left until the run's target. */
static int64_t steps_left(const TrTrainer *t) {
  int64_t left = INT64_MAX;
  if (t->run_epochs > 0)
    left = (t->run_epochs - t->epoch) * t->steps_per_epoch - t->epoch_step;
  if (t->run_steps > 0 && t->run_steps - t->step < left) left = t->run_steps - t->step;
  return left > 0 ? left : 0;
}

static void show_progress(TrTrainer *t, EpochStats *st) {
  FILE *f = t->c.progress;
  double now = tr_now_seconds();
  double every = t->c.progress_tty ? PROGRESS_TTY_SECONDS : PROGRESS_LOG_SECONDS;
  if (!f || st->steps == 0 || now - st->last_print < every) return;
  st->last_print = now;
  double rate = (double)st->steps / fmax(now - st->start, 1e-9);
  char label[64], left[32];
  epoch_label(t, label, sizeof label);
  format_duration(left, sizeof left, (double)steps_left(t) / rate);
  fprintf(f, "%s%s  step %lld/%lld  loss %.4f  %.0f samples/s  %s left%s",
          t->c.progress_tty ? "\r" : "", label, (long long)t->epoch_step,
          (long long)t->steps_per_epoch, st->loss_sum / (double)st->steps,
          rate * (double)global_batch(t), left, t->c.progress_tty ? "\033[K" : "\n");
  fflush(f);
}

static void clear_progress(TrTrainer *t) {
  if (t->c.progress && t->c.progress_tty) {
    fputs("\r\033[K", t->c.progress);
    fflush(t->c.progress);
  }
}

static void print_score(FILE *f, const char *name, const Score *sc) {
  if (sc->n == 0) return;
  fprintf(f, ", %s", name);
  if (sc->has_loss) fprintf(f, " loss %.4f", sc->loss);
  if (sc->has_acc) fprintf(f, " acc %.4f", sc->acc);
}

/* "epoch 2/3: train loss 0.4123 acc 0.8512, held-out loss ..., eval ... (9.1 s)". */
static void print_epoch_line(TrTrainer *t, const EpochStats *st, bool partial) {
  FILE *f = t->c.out;
  if (!f || st->steps == 0) return;
  char label[64];
  epoch_label(t, label, sizeof label);
  fprintf(f, "%s", label);
  if (partial)
    fprintf(f, " (stopped at step %lld/%lld)", (long long)t->epoch_step,
            (long long)t->steps_per_epoch);
  fprintf(f, ": train loss %.4f", st->loss_sum / (double)st->steps);
  if (st->labelled) fprintf(f, " acc %.4f", (double)st->correct / (double)st->labelled);
  if (!partial) {
    print_score(f, "held-out", &t->last_held);
    print_score(f, "eval", &t->last_test);
  }
  double secs = tr_now_seconds() - st->start;
  fprintf(f, " (%.1f s, %.0f samples/s", secs,
          (double)(st->steps * global_batch(t)) / fmax(secs, 1e-9));
  if (t->dp)
    fprintf(f, " on %d ranks, %.0f%% of it in allreduce", t->c.dist->size,
            100 * st->allreduce_seconds / fmax(secs, 1e-9));
  fprintf(f, ")\n");
  fflush(f);
}

bool tr_trainer_report(TrTrainer *t) {
  if (!t->data_loaded || !evaluate_all(t)) return false;
  FILE *f = t->c.out;
  const Score *sc = t->last_test.n ? &t->last_test : &t->last_held;
  const char *name = t->last_test.n ? "eval" : "held-out";
  if (sc->n && sc->has_acc)
    fprintf(f, "%s accuracy: %.4f (%lld samples, loss %.4f)\n", name, sc->acc, (long long)sc->n,
            sc->loss);
  else if (sc->n && sc->has_loss)
    fprintf(f, "%s loss: %.4f (%lld samples)\n", name, sc->loss, (long long)sc->n);
  else
    fprintf(f, "trained %lld steps (%lld epochs); no evaluation data (--eval, --holdout)\n",
            (long long)t->step, (long long)t->epoch);
  fflush(f);
  return true;
}

/* ---- checkpoints ------------------------------------------------------------------------- */

/* The part of a runtime message after its "PATH: " prefix. */
static const char *after_path(const char *msg, const char *path) {
  size_t n = strlen(path);
  return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

static bool save_failed(TrTrainer *t, const char *path, const char *why) {
  mc_error(t->d, noloc, "%s: cannot save: %s", path, why);
  return false;
}

bool tr_trainer_check_save(TrTrainer *t, const char *path) {
  size_t n = strlen(path);
  struct stat st;
  if (n == 0 || path[n - 1] == '/') return save_failed(t, path, "not a file name");
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return save_failed(t, path, strerror(EISDIR));
  char *probe = mc_xmalloc(n + 32);
  snprintf(probe, n + 32, "%s.probe.XXXXXX", path);
  int fd = mkstemp(probe);
  bool ok = fd >= 0;
  if (ok) {
    close(fd);
    unlink(probe);
  } else {
    save_failed(t, path, strerror(errno));
  }
  free(probe);
  return ok;
}

bool tr_trainer_save(TrTrainer *t, const char *path) {
  Program *p = &t->prog;
  RtTensorRef *ts = mc_xcalloc((size_t)p->nsources + 1, sizeof *ts);
  size_t nt = 0;
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op != IR_OP_PARAM) continue;
    RtTensorRef *r = &ts[nt++];
    bool f64 = t->p64 && t->p64[i];
    *r = (RtTensorRef){.name = n->name, .dtype = f64 ? RT_F64 : tr_rt_dtype((IrDtype)n->dtype),
                       .rank = n->shape.rank, .data = f64 ? (void *)t->p64[i] : p->bufs[i]};
    for (int k = 0; k < n->shape.rank; k++) r->dims[k] = n->shape.d[k].n;
  }
  char step[32], epoch[32], epoch_step[32], seed[32], batch[32];
  snprintf(step, sizeof step, "%lld", (long long)t->step);
  snprintf(epoch, sizeof epoch, "%lld", (long long)t->epoch);
  snprintf(epoch_step, sizeof epoch_step, "%lld", (long long)t->epoch_step);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->c.seed);
  snprintf(batch, sizeof batch, "%lld", (long long)global_batch(t));
  const RtMeta meta[] = {
      {"format", CHECKPOINT_FORMAT}, {"format_version", CHECKPOINT_VERSION},
      {"model", t->fwd->name},       {"optimizer", pass_optim_kind_name(t->c.optim.kind)},
      {"step", step},                {"epoch", epoch},
      {"epoch_step", epoch_step},    {"seed", seed},
      {"batch", batch},
  };
  RtError e = {{0}};
  bool ok = rt_safetensors_save(path, ts, nt, meta, MC_COUNTOF(meta), &e);
  free(ts);
  if (!ok) return save_failed(t, path, after_path(e.msg, path));
  t->saved_step = t->step;
  return true;
}

static bool bad_checkpoint(TrTrainer *t, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports "PATH: problem" about a checkpoint; returns false. */
static bool bad_checkpoint(TrTrainer *t, const char *path, const char *fmt, ...) {
  McStr m;
  mc_str_init(&m);
  va_list ap;
  va_start(ap, fmt);
  mc_str_vprintf(&m, fmt, ap);
  va_end(ap);
  mc_error(t->d, noloc, "%s: %s", path, m.s);
  mc_str_free(&m);
  return false;
}

/* A whole non-negative number from metadata key. */
static bool meta_int(TrTrainer *t, const RtCheckpoint *c, const char *path, const char *key,
                     uint64_t *out) {
  const char *v = rt_checkpoint_meta(c, key);
  char *end;
  errno = 0;
  *out = v ? strtoull(v, &end, 10) : 0;
  if (v && *v >= '0' && *v <= '9' && !*end && !errno && *out <= INT64_MAX) return true;
  return bad_checkpoint(t, path, "metadata '%s' is '%s', not a whole number", key,
                        v ? v : "(missing)");
}

static bool check_meta(TrTrainer *t, const RtCheckpoint *c, const char *path) {
  const char *fmt = rt_checkpoint_meta(c, "format"), *ver = rt_checkpoint_meta(c, "format_version");
  const char *model = rt_checkpoint_meta(c, "model"), *opt = rt_checkpoint_meta(c, "optimizer");
  const char *run_opt = pass_optim_kind_name(t->c.optim.kind);
  if (!fmt || strcmp(fmt, CHECKPOINT_FORMAT) != 0)
    return bad_checkpoint(t, path, "not a modelc training checkpoint (its metadata lacks "
                          "\"format\": \"%s\")", CHECKPOINT_FORMAT);
  if (!ver || strcmp(ver, CHECKPOINT_VERSION) != 0)
    return bad_checkpoint(t, path, "checkpoint format version %s is not supported (this "
                          "modelc reads version %s)", ver ? ver : "(none)", CHECKPOINT_VERSION);
  if (!model || strcmp(model, t->fwd->name) != 0)
    return bad_checkpoint(t, path, "checkpoint of model '%s', not '%s'", model ? model : "",
                          t->fwd->name);
  if (!opt || strcmp(opt, run_opt) != 0)
    return bad_checkpoint(t, path, "checkpoint saved with optimizer '%s'; this run uses '%s' "
                          "(its optimizer state does not carry over)", opt ? opt : "", run_opt);
  return true;
}

/* Checks a checkpoint tensor (NULL: absent) against param n. */
static bool check_tensor(TrTrainer *t, const char *path, const RtTensorRef *r, const IrNode *n) {
  const char *type = ir_type_str(t->prog.g, (IrDtype)n->dtype, &n->shape);
  if (!r) return bad_checkpoint(t, path, "no tensor '%s' (the model's param is %s)", n->name, type);
  if (r->dtype != tr_rt_dtype((IrDtype)n->dtype))
    return bad_checkpoint(t, path, "tensor '%s' is %s; the model's param is %s", n->name,
                          rt_dtype_name(r->dtype), type);
  bool same = r->rank == n->shape.rank;
  for (int k = 0; same && k < r->rank; k++) same = r->dims[k] == n->shape.d[k].n;
  if (same) return true;
  char have[160], want[160];
  rt_dims_format(have, sizeof have, r->rank, r->dims);
  dims_text(want, sizeof want, &n->shape);
  return bad_checkpoint(t, path, "tensor '%s' has shape %s; the model's param has %s (%s)",
                        n->name, have, want, type);
}

/* Every param and state tensor present with its dtype and shape, nothing else. */
static bool check_tensors(TrTrainer *t, const RtCheckpoint *c, const char *path) {
  Program *p = &t->prog;
  size_t matched = 0;
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op != IR_OP_PARAM) continue;
    if (!check_tensor(t, path, rt_checkpoint_find(c, n->name), n)) return false;
    matched++;
  }
  for (size_t k = 0; matched != c->ntensors && k < c->ntensors; k++)
    if (source_slot(p, IR_OP_PARAM, c->tensors[k].name) < 0)
      return bad_checkpoint(t, path, "tensor '%s' is not a param of model '%s' or its "
                            "optimizer state", c->tensors[k].name, t->fwd->name);
  return true;
}

static void copy_tensors(TrTrainer *t, const RtCheckpoint *c) {
  Program *p = &t->prog;
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op != IR_OP_PARAM) continue;
    memcpy(p->bufs[i], rt_checkpoint_find(c, n->name)->data, (size_t)node_bytes(n));
  }
}

bool tr_trainer_resume(TrTrainer *t, const char *path) {
  RtError e = {{0}};
  RtCheckpoint *c = rt_safetensors_load(path, &e);
  if (!c) return rt_failed(t, &e);
  uint64_t step, epoch, epoch_step, seed, batch;
  bool ok = check_meta(t, c, path) && meta_int(t, c, path, "step", &step) &&
            meta_int(t, c, path, "epoch", &epoch) &&
            meta_int(t, c, path, "epoch_step", &epoch_step) &&
            meta_int(t, c, path, "seed", &seed) && meta_int(t, c, path, "batch", &batch) &&
            check_tensors(t, c, path);
  if (ok && epoch_step > 0 && (int64_t)batch != global_batch(t))
    ok = bad_checkpoint(t, path, "saved in the middle of an epoch with batch size %llu; this "
                        "run uses %lld (resume with the same batch size%s)",
                        (unsigned long long)batch, (long long)global_batch(t),
                        t->dp ? " times ranks" : "");
  if (ok) {
    copy_tensors(t, c);
    t->step = (int64_t)step;
    t->epoch = (int64_t)epoch;
    t->epoch_step = (int64_t)epoch_step;
    if (!t->c.seed_given) t->c.seed = seed;
    t->resumed = true;
  }
  rt_checkpoint_free(c);
  return ok;
}

/* ---- the loop ------------------------------------------------------------------------------- */

/* The shuffled order of this epoch's training samples: rt_shuffle of the
   training indices by (seed, epoch). */
static void ensure_order(TrTrainer *t) {
  if (t->order_epoch == t->epoch) return;
  if (!t->order) t->order = mc_xcalloc((size_t)t->split.ntrain + 1, sizeof *t->order);
  memcpy(t->order, t->split.train, (size_t)t->split.ntrain * sizeof *t->order);
  rt_shuffle(t->order, t->split.ntrain, t->c.seed, (uint64_t)t->epoch);
  t->order_epoch = t->epoch;
}

static bool stop_requested(const TrTrainer *t) { return t->c.stop && *t->c.stop; }

static bool reached(const TrTrainer *t) {
  return (t->run_epochs > 0 && t->epoch >= t->run_epochs) ||
         (t->run_steps > 0 && t->step >= t->run_steps);
}

/* Whether a finished epoch prints its line: every epoch of a run of up to
   EPOCH_LINES epochs; of a longer one the first, the last, every k-th
   (about EPOCH_LINES lines in all: `train 200` on a small data set does
   not print 200 lines) and any that took SLOW_EPOCH_SECONDS or more. */
static bool epoch_line_shown(const TrTrainer *t, const EpochStats *st) {
  int64_t n = t->run_nepochs, k = t->epoch - t->run_first_epoch + 1;
  if (n <= EPOCH_LINES || k == 1 || k >= n) return true;
  int64_t every = (n + EPOCH_LINES - 1) / EPOCH_LINES;
  return k % every == 0 || tr_now_seconds() - st->start >= SLOW_EPOCH_SECONDS;
}

/* Closes an epoch: counters, evaluation, its line, the checkpoint. */
static bool finish_epoch(TrTrainer *t, EpochStats *st) {
  clear_progress(t);
  bool ok = true;
  if (stop_requested(t)) { /* no evaluation: stop now */
    memset(&t->last_held, 0, sizeof t->last_held);
    memset(&t->last_test, 0, sizeof t->last_test);
  } else {
    ok = evaluate_all(t);
  }
  if (epoch_line_shown(t, st)) print_epoch_line(t, st, false);
  else t->run_hidden++;
  t->epoch++;
  t->epoch_step = 0;
  if (ok && t->c.save) ok = tr_trainer_save(t, t->c.save);
  memset(st, 0, sizeof *st);
  return ok;
}

static bool has_uninitialized_param(TrTrainer *t) {
  for (int i = 0; i < t->prog.nsources; i++) {
    const IrNode *n = slot_node(&t->prog, i);
    if (n->op == IR_OP_PARAM && n->attr.init.kind == IR_INIT_NONE && !t->resumed &&
        !t->filled[i]) {
      mc_error(t->d, n->loc, "train: param '%s' has no initializer: load it with --resume "
               "or --init-from", n->name);
      return true;
    }
  }
  return false;
}

TrStatus tr_trainer_run(TrTrainer *t, int64_t epochs, int64_t steps) {
  if (!t->data_loaded || has_uninitialized_param(t)) return TR_ERROR;
  if (t->epoch_step >= t->steps_per_epoch && t->epoch_step > 0) {
    mc_error(t->d, noloc, "train: the checkpoint stopped at step %lld of an epoch, but an "
             "epoch of this data has %lld steps", (long long)t->epoch_step,
             (long long)t->steps_per_epoch);
    return TR_ERROR;
  }
  if (!share_params(t)) return TR_ERROR;
  t->run_epochs = epochs;
  t->run_steps = steps;
  t->run_first_epoch = t->epoch;
  t->run_hidden = 0;
  t->run_start = tr_now_seconds();
  t->run_nepochs = epochs > 0 ? epochs - t->epoch : 0;
  if (steps > 0 && t->steps_per_epoch > 0) {
    int64_t by_steps = (steps - t->step + t->epoch_step + t->steps_per_epoch - 1) / t->steps_per_epoch;
    if (t->run_nepochs == 0 || by_steps < t->run_nepochs) t->run_nepochs = by_steps;
  }
  EpochStats st = {0};
  bool ok = true;
  while (ok && !reached(t) && !stop_requested(t)) {
    if (st.steps == 0) st.start = st.last_print = tr_now_seconds();
    ensure_order(t);
    const int64_t *idx = t->order + t->epoch_step * global_batch(t);
    ok = t->dp           ? train_step_dist(t, idx, &st)
         : t->split_step ? train_step_split(t, idx, &st)
                         : train_step(t, idx, &st);
    if (!ok) break;
    t->epoch_step++;
    show_progress(t, &st);
    if (t->epoch_step == t->steps_per_epoch) ok = finish_epoch(t, &st);
  }
  clear_progress(t);
  if (ok && st.steps) print_epoch_line(t, &st, true);
  if (ok && t->run_hidden && t->c.out)
    fprintf(t->c.out, "%lld epochs in %.2f s (a line per %lld epochs shown)\n",
            (long long)(t->epoch - t->run_first_epoch), tr_now_seconds() - t->run_start,
            (long long)((t->run_nepochs + EPOCH_LINES - 1) / EPOCH_LINES));
  if (ok && t->c.save && t->saved_step != t->step) ok = tr_trainer_save(t, t->c.save);
  if (!ok) return TR_ERROR;
  return reached(t) ? TR_DONE : TR_STOPPED;
}

/* ---- starting from given weights ------------------------------------------------------------ */

#define NAMES_SHOWN 8 /* names listed in a note; the rest are counted */

/* A ", "-separated list of names for a note. */
typedef struct NameList {
  McStr text;
  int n;
} NameList;

static void names_add(NameList *l, const char *name) {
  if (l->n++ < NAMES_SHOWN) mc_str_printf(&l->text, "%s%s", l->n > 1 ? ", " : "", name);
}

static const char *names_text(NameList *l) {
  if (l->n > NAMES_SHOWN) mc_str_printf(&l->text, " and %d more", l->n - NAMES_SHOWN);
  return l->text.s ? l->text.s : "";
}

/* Whether `name` is a param of the model itself, not optimizer state. */
static bool is_model_param(const TrTrainer *t, const char *name) {
  return ir_find_param(t->fwd, name) != IR_NONE;
}

char *tr_rename(const char *const *rules, int nrules, const char *name) {
  for (int i = 0; i < nrules; i++) {
    const char *rule = rules[i], *eq = strchr(rule, '=');
    size_t n = eq ? (size_t)(eq - rule) : 0;
    if (!eq || strncmp(name, rule, n) != 0) continue;
    size_t len = strlen(eq + 1) + strlen(name + n) + 1;
    char *out = mc_xmalloc(len);
    snprintf(out, len, "%s%s", eq + 1, name + n);
    return out;
  }
  return mc_xstrdup(name);
}

/* The checkpoint tensor that fills param `name` (after renaming), or NULL. */
static const RtTensorRef *find_renamed(const RtCheckpoint *c, char *const *names,
                                       const char *name) {
  for (size_t k = 0; k < c->ntensors; k++)
    if (strcmp(names[k], name) == 0) return &c->tensors[k];
  return NULL;
}

/* Copies the tensor named like each model param into it (dtype and shape
   must match); the params without one go to `left`. */
static bool fill_params(TrTrainer *t, const RtCheckpoint *c, char *const *names,
                        const char *path, int *nparams, int *nfilled, NameList *left) {
  Program *p = &t->prog;
  for (int i = 0; i < p->nsources; i++) {
    const IrNode *n = slot_node(p, i);
    if (n->op != IR_OP_PARAM || !is_model_param(t, n->name)) continue;
    ++*nparams;
    const RtTensorRef *r = find_renamed(c, names, n->name);
    if (!r) {
      names_add(left, n->name);
      continue;
    }
    if (!check_tensor(t, path, r, n)) return false;
    memcpy(p->bufs[i], r->data, (size_t)node_bytes(n));
    t->filled[i] = true;
    ++*nfilled;
  }
  return true;
}

void tr_trainer_set_rename(TrTrainer *t, const char *const *rules, int nrules) {
  t->c.rename = rules;
  t->c.nrename = nrules;
}

bool tr_trainer_init_from(TrTrainer *t, const char *path) {
  RtError e = {{0}};
  RtCheckpoint *c = rt_safetensors_load(path, &e);
  if (!c) return rt_failed(t, &e);
  char **names = mc_xcalloc(c->ntensors + 1, sizeof *names);
  for (size_t k = 0; k < c->ntensors; k++)
    names[k] = tr_rename(t->c.rename, t->c.nrename, c->tensors[k].name);
  int nparams = 0, nfilled = 0;
  NameList left = {0}, unused = {0};
  mc_str_init(&left.text);
  mc_str_init(&unused.text);
  bool ok = fill_params(t, c, names, path, &nparams, &nfilled, &left);
  for (size_t k = 0; ok && k < c->ntensors; k++)
    if (!is_model_param(t, names[k]) || source_slot(&t->prog, IR_OP_PARAM, names[k]) < 0)
      names_add(&unused, c->tensors[k].name);
  if (ok && nfilled == 0)
    ok = bad_checkpoint(t, path, "no tensor is named like a param of model '%s' (its params: "
                        "%s)%s", t->fwd->name, names_text(&left),
                        t->c.nrename ? "" : "; --rename OLD=NEW maps name prefixes");
  if (ok && left.n)
    mc_note(t->d, noloc, "%s: loaded %d of %d params; left at their initializers: %s", path,
            nfilled, nparams, names_text(&left));
  else if (ok)
    mc_note(t->d, noloc, "%s: loaded all %d params", path, nparams);
  if (ok && unused.n)
    mc_note(t->d, noloc, "%s: not used (model '%s' has no param of that name): %s", path,
            t->fwd->name, names_text(&unused));
  mc_str_free(&left.text);
  mc_str_free(&unused.text);
  for (size_t k = 0; k < c->ntensors; k++) free(names[k]);
  free(names);
  rt_checkpoint_free(c);
  return ok;
}

/* ---- gradients at the current params ------------------------------------------------------- */

#define GRAD_FORMAT "modelc-grad"
/* The gradient program for the f64 evaluator: PASS_PIPELINE_GRAD without
   simplify, whose constant folding rounds results to the constants' f32
   (1 / 80 would carry f32's error into every gradient). */
#define GRAD_F64_PIPELINE "cse,dce,autodiff,cse,dce"

/* Writes the outputs of g (output k's values at data[k], of dtype dtypes[k])
   to path: the loss and the outputs under their names, the gradient of param
   P as "grad.P", the new value of buffer B (batch norm's running statistics
   after this step's forward) as "update.B"; prints a summary line. */
static bool save_grad_file(TrTrainer *t, const char *path, const IrGraph *g, void *const *data,
                           const int *dtypes) {
  RtTensorRef *ts = mc_xcalloc((size_t)g->nouts + 1, sizeof *ts);
  char **names = mc_xcalloc((size_t)g->nouts + 1, sizeof *names);
  uint32_t ngrads = 0, nupdates = 0;
  double loss = NAN;
  for (uint32_t k = 0; k < g->nouts; k++) {
    const IrOutput *o = &g->outs[k];
    const IrNode *n = ir_node(g, o->ref);
    size_t len = strlen(o->name) + 8;
    names[k] = mc_xmalloc(len);
    snprintf(names[k], len, "%s%s", o->kind == IR_OUT_GRAD     ? "grad."
                                    : o->kind == IR_OUT_UPDATE ? "update."
                                                               : "", o->name);
    ngrads += o->kind == IR_OUT_GRAD;
    nupdates += o->kind == IR_OUT_UPDATE;
    ts[k] = (RtTensorRef){.name = names[k], .dtype = dtypes[k], .rank = n->shape.rank,
                          .data = data[k]};
    for (int a = 0; a < n->shape.rank; a++) ts[k].dims[a] = n->shape.d[a].n;
    if (o->kind == IR_OUT_LOSS)
      loss = dtypes[k] == RT_F64 ? *(const double *)data[k] : *(const float *)data[k];
  }
  char batch[32];
  snprintf(batch, sizeof batch, "%lld", (long long)t->batch);
  const char *dtype = dtypes[0] == RT_F64 ? "f64" : "f32";
  const RtMeta meta[] = {{"format", GRAD_FORMAT}, {"model", t->fwd->name}, {"batch", batch},
                         {"dtype", dtype}};
  RtError e = {{0}};
  bool ok = rt_safetensors_save(path, ts, g->nouts, meta, MC_COUNTOF(meta), &e);
  if (!ok) save_failed(t, path, after_path(e.msg, path));
  if (ok && t->c.out) {
    fprintf(t->c.out, "%s: loss %.9g, %u outputs, %u gradients (batch %lld, %s)\n", path, loss,
            g->nouts - ngrads - nupdates - 1, ngrads, (long long)t->batch, dtype);
    fflush(t->c.out);
  }
  for (uint32_t k = 0; k < g->nouts; k++) free(names[k]);
  free(names);
  free(ts);
  return ok;
}

/* The gradient program, JIT-compiled, over the step's params. */
static bool grads_jit(TrTrainer *t, const char *path, const int64_t *idx) {
  Program *p = &t->grad;
  if (!p->cg && !program_build(t, p, t->fwd, PASS_PIPELINE_GRAD, true, t->d)) {
    program_free(p);
    return false;
  }
  borrow_params(t, p);
  for (int i = 0; i < p->nsources; i++)
    if (p->borrowed[i] && !p->bufs[i]) {
      mc_error(t->d, noloc, "grad: internal error: param '%s' is not in the training step",
               slot_node(p, i)->name);
      return false;
    }
  if (!bind_batch(t, p, &t->train, idx, t->batch) || !run_program(t, p)) return false;
  void **data = mc_xcalloc((size_t)p->g->nouts + 1, sizeof *data);
  int *dtypes = mc_xcalloc((size_t)p->g->nouts + 1, sizeof *dtypes);
  for (uint32_t k = 0; k < p->g->nouts; k++) {
    data[k] = p->bufs[cg_program_output_slot(p->cg, (int)k)];
    dtypes[k] = tr_rt_dtype((IrDtype)ir_node(p->g, p->g->outs[k].ref)->dtype);
  }
  bool ok = save_grad_file(t, path, p->g, data, dtypes);
  free(data);
  free(dtypes);
  return ok;
}

/* Binds g's params (the step's current values) and inputs (samples idx of
   the training data) to the evaluator. */
static bool eval_bind(TrTrainer *t, IrEval *e, const IrGraph *g, const int64_t *idx) {
  for (IrRef r = 0; r < g->nnodes; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op != IR_OP_PARAM && n->op != IR_OP_INPUT) continue;
    int64_t numel = ir_shape_numel(&n->shape);
    void *buf = NULL, *tmp = NULL;
    if (n->op == IR_OP_PARAM) {
      int s = source_slot(&t->prog, IR_OP_PARAM, n->name);
      buf = s >= 0 ? t->prog.bufs[s] : NULL;
    } else if (feed_index(t, n->name) >= 0) {
      buf = tmp = alloc_buffer(node_bytes(n));
      if (!gather_feed(t, &t->train, feed_index(t, n->name), idx, t->batch, tmp)) buf = NULL;
    }
    bool ok = buf != NULL;
    if (ok) {
      double *v = as_doubles(buf, (IrDtype)n->dtype, numel);
      ok = ir_eval_bind(e, n->name, v, numel, t->d);
      free(v);
    }
    free(tmp);
    if (!ok) {
      if (!mc_diag_has_errors(t->d)) mc_error(t->d, noloc, "grad: no value for '%s'", n->name);
      return false;
    }
  }
  return true;
}

/* The gradient program run by the reference evaluator in f64. */
static bool grads_f64(TrTrainer *t, const char *path, const int64_t *idx) {
  IrGraph *g = ir_graph_clone(t->fwd);
  PassCtx cx = {.diag = t->d};
  bool ok = pass_run_pipeline(&g, GRAD_F64_PIPELINE, &cx) && ir_verify(g, t->d);
  IrEval *e = ok ? ir_eval_new(g, true) : NULL;
  ok = ok && eval_bind(t, e, g, idx) && ir_eval_run(e, t->d);
  void **data = mc_xcalloc((size_t)g->nouts + 1, sizeof *data);
  int *dtypes = mc_xcalloc((size_t)g->nouts + 1, sizeof *dtypes);
  for (uint32_t k = 0; ok && k < g->nouts; k++) {
    data[k] = ir_eval_output(e, g->outs[k].kind, g->outs[k].name)->data;
    dtypes[k] = RT_F64;
  }
  ok = ok && save_grad_file(t, path, g, data, dtypes);
  free(data);
  free(dtypes);
  if (e) ir_eval_free(e);
  ir_graph_free(g);
  return ok;
}

bool tr_trainer_save_grads(TrTrainer *t, const char *path, bool f64) {
  if (!t->data_loaded || has_uninitialized_param(t)) return false;
  return f64 ? grads_f64(t, path, t->split.train) : grads_jit(t, path, t->split.train);
}
