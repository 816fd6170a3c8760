/* pass.h -- graph-to-graph passes and the pass manager that runs a pipeline
   string such as "autodiff,simplify,cse,dce". A pass may rebuild the graph:
   it receives IrGraph ** and replaces *g (freeing the old one). */
#ifndef PASS_H
#define PASS_H

#include "ir.h"

typedef struct PassCtx {
  McDiag *diag;             /* errors */
  bool verify_each;         /* run ir_verify after every pass; a failure names the pass */
  const char *print_after;  /* comma-separated pass names, "all", or NULL */
  bool print_before_first;  /* also print the input graph (print-after-all) */
  FILE *print_out;          /* where --print-after output goes (stdout if NULL) */
  const char *print_format; /* "text" (default) or "dot" */
  bool grad_inputs;         /* autodiff: also differentiate w.r.t. float inputs */
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

/* The default pipelines. */
#define PASS_PIPELINE_FORWARD "simplify,cse,dce"
#define PASS_PIPELINE_GRAD "simplify,cse,dce,autodiff,simplify,cse,dce"

/* Runs a comma-separated pipeline. Unknown pass names are reported (with a
   suggestion) before anything runs. */
bool pass_run_pipeline(IrGraph **g, const char *pipeline, PassCtx *cx);

#endif
