/* pass.h -- graph-to-graph passes and the pass manager that runs a pipeline
   string such as "autodiff,simplify,cse,dce". A pass may rebuild the graph:
   it receives IrGraph ** and replaces *g (freeing the old one). */
#ifndef PASS_H
#define PASS_H

#include "ir.h"

/* ---- pass_optim.c: the optimizer update (docs/ir.md, "Training step") -----
   The structural, compile-time choices of the optimizer. Hyperparameters are
   run-time rank-0 f32 inputs "opt.*" of the step graph: changing them never
   rebuilds it. */
typedef enum {
  PASS_OPTIM_SGD, PASS_OPTIM_ADAM, PASS_OPTIM_ADAMW, PASS_OPTIM_COUNT
} PassOptimKind;

typedef struct PassOptim {
  PassOptimKind kind;
  bool nesterov;        /* SGD: Nesterov momentum */
  bool clip_grad_norm;  /* clip all gradients by their global 2-norm (input "opt.max_norm") */
} PassOptim;

/* Run-time hyperparameters, as torch.optim and clip_grad_norm_ take them. */
typedef struct PassOptimHyper {
  double lr, momentum, weight_decay;  /* momentum: SGD only */
  double beta1, beta2, eps;           /* Adam, AdamW */
  double max_norm;                    /* with clip_grad_norm */
} PassOptimHyper;

const char *pass_optim_kind_name(PassOptimKind k);   /* "sgd", "adam", "adamw" */
bool pass_optim_kind_from_name(const char *s, PassOptimKind *k);
/* torch.optim's defaults for kind k (lr = 1e-3; AdamW: weight_decay 1e-2). */
PassOptimHyper pass_optim_defaults(PassOptimKind k);
/* The value to bind to the step graph's input `name` (e.g. "opt.lr") before
   update number `step` (1 for the first). Adam's derived inputs
   ("opt.step_size", "opt.bias_correction2_sqrt", "opt.one_minus_beta1",
   "opt.one_minus_beta2") are computed in double as torch.optim does. False
   when `name` is not an optimizer input (or step < 1 for the bias
   corrections). */
bool pass_optim_input_value(const PassOptimHyper *h, int64_t step, const char *name,
                            double *out);

typedef struct PassCtx {
  McDiag *diag;             /* errors */
  bool verify_each;         /* run ir_verify after every pass; a failure names the pass */
  const char *print_after;  /* comma-separated pass names, "all", or NULL */
  bool print_before_first;  /* also print the input graph (print-after-all) */
  FILE *print_out;          /* where --print-after output goes (stdout if NULL) */
  const char *print_format; /* "text" (default) or "dot" */
  bool grad_inputs;         /* autodiff: also differentiate w.r.t. float inputs */
  const PassOptim *optim;   /* optim: the optimizer (NULL = SGD, no nesterov, no clipping) */
  bool drop_unused_inputs;  /* dce: also drop INPUTs nothing reads */
} PassCtx;

typedef bool (*PassFn)(IrGraph **g, PassCtx *cx);

#define P(name, fn, summary) bool fn(IrGraph **g, PassCtx *cx);
#include "passes.def"
#undef P

typedef struct PassInfo {
  const char *name;
  PassFn fn;
  const char *summary;
} PassInfo;

extern const PassInfo pass_table[];
extern const int pass_count;
const PassInfo *pass_find(const char *name);

/* The default pipelines. Each ends with `fuse`, which only annotates the
   nodes with their kernel groups (a pass that rebuilds the graph drops
   the annotations, so fuse runs last), after `sink`, which shapes the
   graph for it, and in gradients `remat`, which recomputes batch norm's
   centred values in their readers instead of storing them. */
#define PASS_PIPELINE_FORWARD "simplify,cse,dce,sink,fuse"
#define PASS_PIPELINE_GRAD "simplify,cse,dce,autodiff,simplify,cse,dce,sink,remat,fuse"
/* The training step: the gradient program, the optimizer update (PassCtx.optim),
   and a clean-up of what the update made redundant. */
#define PASS_PIPELINE_TRAIN \
  "simplify,cse,dce,autodiff,simplify,cse,dce,optim,simplify,cse,dce,sink,remat,fuse"
/* The optimizer alone, over a graph whose gradients are inputs (the
   trainer's and a library's apply program, train/tr.h tr_apply_graph). */
#define PASS_PIPELINE_APPLY "optim,simplify,cse,dce,fuse"

/* Runs a comma-separated pipeline. Unknown pass names are reported (with a
   suggestion) before anything runs. */
bool pass_run_pipeline(IrGraph **g, const char *pipeline, PassCtx *cx);

/* Helpers for passes that rebuild a graph (pass_manager.c): an empty graph
   with g's name, named dims and diagnostics sink, and a copy of from's
   outputs (same order, kinds and names) through map[old id] = new id. */
IrGraph *pass_graph_like(const IrGraph *g);
void pass_copy_outputs(IrGraph *to, const IrGraph *from, const IrRef *map);
/* The end of a rebuild: when ok, out gets *pg's outputs (through map) and
   replaces *pg, which is freed; else out is freed. Returns ok. */
bool pass_replace_graph(IrGraph **pg, IrGraph *out, const IrRef *map, bool ok);

#endif
