/* cg_compile.c -- from a graph to optimized modules and machine code. The
   program is lowered into shards (cg_module.c), one module per thread-safe
   context; each shard is verified (LLVMVerifyModule), optimized by the new
   pass manager (KERNEL_PIPELINE at the default level 2, default<On> at the
   others) and, for the JIT, compiled to an
   object file, every shard on its own thread. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_int.h"

/* Graphs with fewer kernel calls than this are one shard: splitting a small
   module costs more than it saves. */
#define MIN_NODES_PER_SHARD 24

/* Level 2, the default: the passes the emitted kernels need, in place of
   default<O2>, which took 25-40% longer to compile (gpt's training step
   0.47 -> 0.36 s) and made no kernel measurably faster. The emitters write
   the vector code of the matmul, convolution and reduction kernels
   themselves and counted loops over static shapes elsewhere; LLVM adds
   SROA for the few allocas, CSE, InstCombine and LICM for the address
   arithmetic, and the loop vectorizer for the elementwise loops (it puts
   each loop in simplified and LCSSA form itself). No inliner: the calls
   (kernels from `run`, GEMM routines and epilogues once per block) are too
   few to cost anything. InstCombine is not iterated to a fixpoint, as in
   the default pipelines. */
#define KERNEL_IC "instcombine<no-verify-fixpoint>"
#define KERNEL_PIPELINE                                                                \
  "function(sroa,early-cse," KERNEL_IC ",simplifycfg,loop-mssa(licm)," KERNEL_IC \
  ",loop(loop-rotate),loop-vectorize," KERNEL_IC ",simplifycfg)"

void cg_build_fini(CgBuild *bd) {
  for (int k = 0; k < bd->nshards; k++) {
    CgUnit *s = &bd->shards[k];
    if (s->mod)
      LLVMDisposeModule(s->mod);
    if (s->tm)
      LLVMDisposeTargetMachine(s->tm);
    if (s->tsc)
      LLVMOrcDisposeThreadSafeContext(s->tsc);
    if (s->obj)
      LLVMDisposeMemoryBuffer(s->obj);
    free(s->error);
  }
  cg_plan_free(&bd->plan);
  CgTables *t = &bd->tables;
  for (int i = 0; i < t->nkeys; i++)
    free(t->keys[i]);
  free(t->keys);
  free(t->words);
  free(t->pairs);
  for (int i = 0; i < bd->nmade; i++) {
    free(bd->made[i].key);
    free(bd->made[i].name);
    free(bd->made[i].type);
  }
  free(bd->made);
  memset(bd, 0, sizeof *bd);
}

static char *take_error(LLVMErrorRef err) {
  char *msg = LLVMGetErrorMessage(err);
  char *copy = mc_xstrdup(msg);
  LLVMDisposeErrorMessage(msg);
  return copy;
}

/* Verifies, optimizes and (want_object) compiles one shard; runs on any
   thread, touching only the shard. */
static void *compile_shard(void *arg) {
  CgUnit *s = arg;
  char *msg = NULL;
  if (LLVMVerifyModule(s->mod, LLVMReturnStatusAction, &msg)) {
    s->error = mc_xstrdup(msg ? msg : "?");
    LLVMDisposeMessage(msg);
    return NULL;
  }
  LLVMDisposeMessage(msg);
  if (!s->optimize)
    return NULL;
  char pipeline[32];
  int level = s->opt_level < 0 ? 0 : s->opt_level > 3 ? 3 : s->opt_level;
  snprintf(pipeline, sizeof pipeline, "default<O%d>", level);
  /* Loops are already shaped by the kernel emitters (the matmul microkernel
     is unrolled by hand); unrolling fully the static small trip counts
     would only grow code and compile time. */
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopInterleaving(po, 0);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, 0);
  LLVMErrorRef err = LLVMRunPasses(s->mod, level == 2 ? KERNEL_PIPELINE : pipeline, s->tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (err) {
    s->error = take_error(err);
    return NULL;
  }
  if (s->want_object &&
      LLVMTargetMachineEmitToMemoryBuffer(s->tm, s->mod, LLVMObjectFile, &msg, &s->obj)) {
    s->error = mc_xstrdup(msg ? msg : "?");
    LLVMDisposeMessage(msg);
    s->obj = NULL;
  }
  return NULL;
}

/* Compiles every shard, in parallel threads when there are several. */
static bool compile_shards(CgBuild *bd, McDiag *d) {
  pthread_t threads[CG_MAX_SHARDS];
  bool started[CG_MAX_SHARDS] = {false};
  for (int k = 1; k < bd->nshards; k++)
    started[k] = pthread_create(&threads[k], NULL, compile_shard, &bd->shards[k]) == 0;
  compile_shard(&bd->shards[0]);
  for (int k = 1; k < bd->nshards; k++) {
    if (started[k])
      pthread_join(threads[k], NULL);
    else
      compile_shard(&bd->shards[k]);
  }
  bool ok = true;
  for (int k = 0; k < bd->nshards; k++)
    if (bd->shards[k].error) {
      mc_error(d, (McLoc){0}, "codegen: internal error: %s", bd->shards[k].error);
      ok = false;
    }
  return ok;
}

static int kernel_calls(const IrGraph *g) {
  int n = 0;
  for (uint32_t i = 0; i < g->nnodes; i++) {
    IrOp op = (IrOp)ir_node(g, i)->op;
    n += op != IR_OP_INPUT && op != IR_OP_PARAM && op != IR_OP_CONST;
  }
  return n;
}

static bool new_shard(CgUnit *s, const CgOptions *o, McDiag *d) {
  s->tm = cg_target_machine(o, d);
  if (!s->tm)
    return false;
  s->tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(s->tsc);
  s->mod = LLVMModuleCreateWithNameInContext("modelc", ctx);
  char *triple = LLVMGetTargetMachineTriple(s->tm);
  LLVMSetTarget(s->mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(s->tm);
  LLVMSetModuleDataLayout(s->mod, layout);
  LLVMDisposeTargetData(layout);
  s->opt_level = o->opt_level;
  return true;
}

bool cg_build_uses_pool(const IrGraph *g, const CgBuild *bd) {
  for (uint32_t i = 0; i < g->nnodes; i++)
    /* a matmul fused with its epilogue has no storage of its own: count
       every matmul (one computed as a transpose's product at most wakes
       no one) */
    if ((ir_node(g, i)->op == IR_OP_MATMUL || bd->plan.loc[i].product) &&
        cg_matmul_parts(&bd->tgt, g, i) > 1)
      return true;
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (cg_elem_parallel(&bd->tgt, g, i) || cg_reduce_parallel(&bd->tgt, g, i) ||
        cg_zero_parallel(&bd->tgt, g, i) ||
        cg_move_may_run_in_parts(&bd->tgt, g, i))
      return true;
  return false;
}

bool cg_build(const IrGraph *g, const CgOptions *o, const CgKnown *known, CgBuild *bd,
              int max_shards, CgBuildMode mode, McDiag *d) {
  memset(bd, 0, sizeof *bd);
  if (!ir_verify(g, d) || !cg_target_choose(o, &bd->tgt, d))
    return false;
  bd->tgt.aot = o->aot;
  bd->tgt.batch_sym = o->aot ? ir_graph_batch_sym(g) : -1;
  int want = kernel_calls(g) / MIN_NODES_PER_SHARD;
  want = want < 1 || o->aot ? 1 : want > max_shards ? max_shards : want;
  for (int k = 0; k < want; k++) {
    if (!new_shard(&bd->shards[k], o, d))
      return false;
    bd->shards[k].want_object = mode == CG_BUILD_OBJECTS;
    bd->shards[k].optimize = mode != CG_BUILD_LOWER;
    bd->nshards++;
  }
  CgShard cs[CG_MAX_SHARDS];
  memset(cs, 0, sizeof cs);
  for (int k = 0; k < bd->nshards; k++) {
    cs[k].mod = bd->shards[k].mod;
    cs[k].ctx = LLVMGetModuleContext(cs[k].mod);
    cs[k].b = LLVMCreateBuilderInContext(cs[k].ctx);
  }
  cg_plan_build(&bd->plan, g, &bd->tgt);
  Cg cx = {.g = g,
            .tgt = &bd->tgt,
            .plan = &bd->plan,
            .shards = cs,
            .nshards = bd->nshards,
            .tables = &bd->tables,
            .opts = o,
            .known = known,
            .build = bd};
  cg_shard_use(&cx, 0);
  cg_module_build(&cx);
  for (int k = 0; k < bd->nshards; k++)
    LLVMDisposeBuilder(cs[k].b);
  bd->nkernels = cx.nkernels;
  bd->ncalls = cx.ncalls;
  return compile_shards(bd, d);
}
