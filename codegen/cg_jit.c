/* cg_jit.c -- the JIT driver: picks the target machine (host CPU and all
   its features unless told otherwise) and the kernel shape that suits it,
   lowers the graph into a fresh thread-safe context, verifies the module,
   runs the new pass manager's default<On> pipeline, and hands the module to
   an ORC LLJIT whose symbols resolve to the runtime's thread pool and to
   libc/libm. A program owns its JIT, workspace and pool. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_int.h"
#include "rt.h"

typedef void (*RunFn)(void *const *bufs, void *ws);

/* What cg_program_run needs to report a bad index. */
typedef struct IndexNode {
  IrRef id;
  McLoc loc;
  IrOp op;
  int64_t rows;
} IndexNode;

struct CgProgram {
  LLVMOrcLLJITRef jit;
  RunFn run;
  void *ws;
  RtPool *pool;
  int nslots, ninputs;
  IrRef *slot_node;
  int64_t *slot_bytes;
  IndexNode *index_nodes;
  int nindex;
  CgStats stats;
};

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

CgOptions cg_options_default(void) {
  return (CgOptions){.opt_level = 2, .cpu = NULL, .threads = 0, .vector_bits = 0};
}

/* ---- LLVM set-up -------------------------------------------------------------- */

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static void init_llvm(void) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
}

/* Reports an LLVMErrorRef (consuming it); true when there was one. */
static bool failed(LLVMErrorRef err, McDiag *d, const char *what) {
  if (!err) return false;
  char *msg = LLVMGetErrorMessage(err);
  mc_error(d, (McLoc){0}, "codegen: %s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return true;
}

static bool is_host(const CgOptions *o) { return !o->cpu || !*o->cpu; }

static LLVMTargetMachineRef make_target_machine(const CgOptions *o, McDiag *d, char **features_out) {
  char *triple = LLVMGetDefaultTargetTriple(), *err = NULL;
  LLVMTargetRef target;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    mc_error(d, (McLoc){0}, "codegen: no target for %s: %s", triple, err);
    LLVMDisposeMessage(err);
    LLVMDisposeMessage(triple);
    return NULL;
  }
  char *cpu = is_host(o) ? LLVMGetHostCPUName() : NULL;
  char *features = is_host(o) ? LLVMGetHostCPUFeatures() : NULL;
  LLVMCodeGenOptLevel level = o->opt_level <= 0   ? LLVMCodeGenLevelNone
                              : o->opt_level == 1 ? LLVMCodeGenLevelLess
                              : o->opt_level == 2 ? LLVMCodeGenLevelDefault
                                                  : LLVMCodeGenLevelAggressive;
  LLVMTargetMachineRef tm =
      LLVMCreateTargetMachine(target, triple, cpu ? cpu : o->cpu, features ? features : "", level,
                              LLVMRelocPIC, LLVMCodeModelSmall);
  if (cpu) LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(triple);
  if (!tm) mc_error(d, (McLoc){0}, "codegen: cannot create a target machine for cpu '%s'", o->cpu ? o->cpu : "host");
  *features_out = features ? mc_xstrdup(features) : mc_xstrdup("");
  if (features) LLVMDisposeMessage(features);
  return tm;
}

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static bool has_feature(const char *features, const char *name) {
  size_t n = strlen(name);
  for (const char *p = features; (p = strstr(p, name)) != NULL; p += n)
    if (p > features && p[-1] == '+' && (p[n] == ',' || p[n] == '\0')) return true;
  return false;
}

/* Vector width of a CPU given by name (no feature string to read). */
static int named_cpu_bits(const char *cpu) {
  static const char *const wide[] = {"avx512", "skylake-avx512", "cascadelake", "cooperlake",
                                     "icelake", "tigerlake", "rocketlake", "sapphirerapids",
                                     "emeraldrapids", "graniterapids", "znver4", "znver5",
                                     "x86-64-v4"};
  for (size_t i = 0; i < MC_COUNTOF(wide); i++)
    if (strstr(cpu, wide[i])) return 512;
  return strstr(cpu, "x86-64") && !strstr(cpu, "v3") ? 128 : 256;
}

/* The microkernel shape and cache blocks for a vector width (f32 counts;
   f64 uses the same rows and vectors, so half the columns). 512: 14 x 32
   with 28 of the 32 zmm registers accumulating (Zen 4/5: 32-48 KiB L1d,
   1 MiB L2); 256: 6 x 16 with 12 of 16 ymm (Zen 3, Haswell). */
static void choose_target(CgTarget *t, const CgOptions *o, const char *features) {
  int bits = o->vector_bits;
  if (bits != 128 && bits != 256 && bits != 512) {
    if (!is_host(o))
      bits = named_cpu_bits(o->cpu);
    else
      bits = has_feature(features, "avx512f") ? 512 : has_feature(features, "avx2") ? 256 : 128;
  }
  t->vector_bytes = bits / 8;
  t->threads = o->threads > 0 ? o->threads : 0;
  switch (bits) {
  case 512:
    *t = (CgTarget){64, t->threads, 14, 2, 336, 192, 4096};
    break;
  case 256:
    *t = (CgTarget){32, t->threads, 6, 2, 144, 256, 4096};
    break;
  default:
    *t = (CgTarget){16, t->threads, 4, 2, 128, 256, 2048};
    break;
  }
  const char *tune = getenv("CG_GEMM");
  if (tune) sscanf(tune, "%d,%d,%ld,%ld,%ld", &t->gemm_mr, &t->gemm_nv, &t->gemm_mc, &t->gemm_kc, &t->gemm_nc);
}

/* ---- lowering --------------------------------------------------------------------- */

#define MAX_SHARDS 8
/* Graphs with fewer kernel calls than this are one shard: splitting a small
   module costs more than it saves. */
#define MIN_NODES_PER_SHARD 48

/* One module and what compiling it produced. */
typedef struct Shard {
  LLVMOrcThreadSafeContextRef tsc;
  LLVMModuleRef mod;
  LLVMTargetMachineRef tm;
  LLVMMemoryBufferRef obj;   /* machine code, after compile_shard with objects */
  char *error;               /* what failed (heap), for the calling thread to report */
  int opt_level;
  bool want_object;
} Shard;

typedef struct Build {
  Shard shards[MAX_SHARDS];
  int nshards;
  CgTarget tgt;
  CgPlan plan;
  int nkernels;
} Build;

static void build_fini(Build *bd) {
  for (int k = 0; k < bd->nshards; k++) {
    Shard *s = &bd->shards[k];
    if (s->mod) LLVMDisposeModule(s->mod);
    if (s->tm) LLVMDisposeTargetMachine(s->tm);
    if (s->tsc) LLVMOrcDisposeThreadSafeContext(s->tsc);
    if (s->obj) LLVMDisposeMemoryBuffer(s->obj);
    free(s->error);
  }
  cg_plan_free(&bd->plan);
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
  Shard *s = arg;
  char *msg = NULL;
  if (LLVMVerifyModule(s->mod, LLVMReturnStatusAction, &msg)) {
    s->error = mc_xstrdup(msg ? msg : "?");
    LLVMDisposeMessage(msg);
    return NULL;
  }
  LLVMDisposeMessage(msg);
  char pipeline[32];
  int level = s->opt_level < 0 ? 0 : s->opt_level > 3 ? 3 : s->opt_level;
  snprintf(pipeline, sizeof pipeline, "default<O%d>", level);
  /* Loops are already shaped by the kernel emitters (the matmul microkernel
     is unrolled by hand); unrolling fully the static small trip counts
     would only grow code and compile time. */
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopInterleaving(po, 0);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, 0);
  LLVMErrorRef err = LLVMRunPasses(s->mod, pipeline, s->tm, po);
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
static bool compile_shards(Build *bd, McDiag *d) {
  pthread_t threads[MAX_SHARDS];
  bool started[MAX_SHARDS] = {false};
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

static bool new_shard(Shard *s, const CgOptions *o, McDiag *d) {
  char *features = NULL;
  s->tm = make_target_machine(o, d, &features);
  free(features);
  if (!s->tm) return false;
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

/* Lowers g into bd's shards (at most max_shards) and compiles them:
   optimized modules, plus machine code when objects is set. The caller
   releases bd. */
static bool lower(const IrGraph *g, const CgOptions *o, Build *bd, int max_shards, bool objects,
                  McDiag *d) {
  memset(bd, 0, sizeof *bd);
  if (!ir_verify(g, d)) return false;
  pthread_once(&llvm_once, init_llvm);
  char *features = NULL;
  LLVMTargetMachineRef probe = make_target_machine(o, d, &features);
  if (!probe) {
    free(features);
    return false;
  }
  LLVMDisposeTargetMachine(probe);
  choose_target(&bd->tgt, o, features);
  free(features);
  if (bd->tgt.threads <= 0) bd->tgt.threads = online_cores();
  int want = kernel_calls(g) / MIN_NODES_PER_SHARD;
  want = want < 1 ? 1 : want > max_shards ? max_shards : want;
  for (int k = 0; k < want; k++) {
    if (!new_shard(&bd->shards[k], o, d)) return false;
    bd->shards[k].want_object = objects;
    bd->nshards++;
  }
  CgShard cs[MAX_SHARDS];
  memset(cs, 0, sizeof cs);
  for (int k = 0; k < bd->nshards; k++) {
    cs[k].mod = bd->shards[k].mod;
    cs[k].ctx = LLVMGetModuleContext(cs[k].mod);
    cs[k].b = LLVMCreateBuilderInContext(cs[k].ctx);
  }
  cg_plan_build(&bd->plan, g, &bd->tgt);
  Cg cx = {.g = g, .tgt = &bd->tgt, .plan = &bd->plan, .shards = cs, .nshards = bd->nshards};
  cg_shard_use(&cx, 0);
  cg_module_build(&cx);
  for (int k = 0; k < bd->nshards; k++) LLVMDisposeBuilder(cs[k].b);
  bd->nkernels = cx.nkernels;
  return compile_shards(bd, d);
}

/* ---- the JIT ------------------------------------------------------------------------ */

/* Functions generated code may call: the pool, and what LLVM lowers
   intrinsics and libm calls to. Defined up front so they resolve even in a
   process whose symbols are not exported. */
typedef struct Extern {
  const char *name;
  void (*addr)(void);
} Extern;

#define FN(f) ((void (*)(void))(f))
static const Extern externs[] = {
    {"rt_parallel_for", FN(rt_parallel_for)},
    {"memcpy", FN(memcpy)},  {"memset", FN(memset)},  {"memmove", FN(memmove)},
    {"expf", FN(expf)},      {"exp", FN(exp)},        {"logf", FN(logf)},
    {"log", FN(log)},        {"powf", FN(powf)},      {"pow", FN(pow)},
    {"erff", FN(erff)},      {"erf", FN(erf)},        {"erfcf", FN(erfcf)},
    {"erfc", FN(erfc)},      {"tanhf", FN(tanhf)},    {"tanh", FN(tanh)},
    {"sqrtf", FN(sqrtf)},    {"sqrt", FN(sqrt)},      {"exp2f", FN(exp2f)},
    {"exp2", FN(exp2)},      {"log2f", FN(log2f)},    {"log2", FN(log2)},
    {"fmaf", FN(fmaf)},      {"fma", FN(fma)},
};
#undef FN

static bool define_externs(LLVMOrcLLJITRef jit, McDiag *d) {
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(jit);
  LLVMOrcCSymbolMapPair syms[MC_COUNTOF(externs)];
  for (size_t i = 0; i < MC_COUNTOF(externs); i++) {
    syms[i].Name = LLVMOrcLLJITMangleAndIntern(jit, externs[i].name);
    syms[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)externs[i].addr;
    syms[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
    syms[i].Sym.Flags.TargetFlags = 0;
  }
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(syms, MC_COUNTOF(externs));
  LLVMErrorRef err = LLVMOrcJITDylibDefine(jd, mu);
  if (err) {
    LLVMOrcDisposeMaterializationUnit(mu);
    return !failed(err, d, "defining runtime symbols");
  }
  /* anything else LLVM may emit a call to (e.g. other libm entry points) */
  LLVMOrcDefinitionGeneratorRef gen;
  err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit),
                                                             NULL, NULL);
  if (failed(err, d, "process symbols")) return false;
  LLVMOrcJITDylibAddGenerator(jd, gen);
  return true;
}

/* A new LLJIT for the target of bd's first shard, linking every shard's
   object; looks up @run. */
static bool jit_objects(Build *bd, CgProgram *p, McDiag *d) {
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
      builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(bd->shards[0].tm));
  bd->shards[0].tm = NULL;
  if (failed(LLVMOrcCreateLLJIT(&p->jit, builder), d, "creating the JIT")) {
    p->jit = NULL;
    return false;
  }
  if (!define_externs(p->jit, d)) return false;
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(p->jit);
  for (int k = 0; k < bd->nshards; k++) {
    LLVMMemoryBufferRef obj = bd->shards[k].obj;
    bd->shards[k].obj = NULL;
    if (failed(LLVMOrcLLJITAddObjectFile(p->jit, jd, obj), d, "adding machine code")) return false;
  }
  LLVMOrcExecutorAddress addr = 0;
  if (failed(LLVMOrcLLJITLookup(p->jit, &addr, "run"), d, "linking")) return false;
  p->run = (RunFn)(uintptr_t)addr;
  return true;
}

/* ---- programs ------------------------------------------------------------------------- */

static bool uses_pool(const IrGraph *g, const Build *bd) {
  for (uint32_t i = 0; i < g->nnodes; i++)
    if (ir_node(g, i)->op == IR_OP_MATMUL && bd->plan.loc[i].kind != CG_LOC_NONE &&
        cg_matmul_parts(&bd->tgt, g, i) > 1)
      return true;
  return false;
}

static void record_index_nodes(CgProgram *p, const IrGraph *g) {
  p->index_nodes = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof(IndexNode));
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (ir_ops[n->op].cls != IR_CLASS_INDEX) continue;
    const IrNode *rows_of = n->op == IR_OP_GATHER ? ir_node(g, n->src[0]) : n;
    p->index_nodes[p->nindex++] = (IndexNode){i, n->loc, (IrOp)n->op, rows_of->shape.d[0].n};
  }
}

/* CONST nodes live in the workspace: their values, as the evaluator rounds
   them to their dtype. */
static void write_constants(void *ws, const IrGraph *g, const CgPlan *plan) {
  for (uint32_t i = 0; i < g->nnodes; i++) {
    if (plan->loc[i].kind != CG_LOC_CONST) continue;
    const IrNode *n = ir_node(g, i);
    char *at = (char *)ws + plan->loc[i].offset;
    double v = n->attr.value;
    switch ((IrDtype)n->dtype) {
    case IR_F32: {
      float f = (float)v;
      memcpy(at, &f, sizeof f);
      break;
    }
    case IR_F64:
      memcpy(at, &v, sizeof v);
      break;
    case IR_I32: {
      double t = isnan(v) ? 0.0 : v >= 2147483647.0 ? 2147483647.0 : v <= -2147483648.0 ? -2147483648.0 : trunc(v);
      int32_t x = (int32_t)t;
      memcpy(at, &x, sizeof x);
      break;
    }
    case IR_BOOL:
    case IR_DTYPE_COUNT:
      *at = v != 0.0;
      break;
    }
  }
}

static bool setup_program(CgProgram *p, const IrGraph *g, Build *bd, McDiag *d) {
  const CgPlan *plan = &bd->plan;
  p->nslots = plan->nslots;
  p->ninputs = plan->ninputs;
  p->slot_node = mc_xmalloc((size_t)(plan->nslots + 1) * sizeof(IrRef));
  p->slot_bytes = mc_xmalloc((size_t)(plan->nslots + 1) * sizeof(int64_t));
  for (int i = 0; i < plan->nslots; i++) {
    p->slot_node[i] = plan->slot_node[i];
    p->slot_bytes[i] = cg_node_bytes(ir_node(g, plan->slot_node[i]));
  }
  record_index_nodes(p, g);
  size_t bytes = (size_t)plan->workspace_bytes;
  p->ws = plan->workspace_bytes < (int64_t)1 << 46 ? aligned_alloc(CG_ALIGN, bytes) : NULL;
  if (!p->ws) {
    mc_error(d, (McLoc){0}, "codegen: cannot allocate a workspace of %lld bytes",
             (long long)plan->workspace_bytes);
    return false;
  }
  memset(p->ws, 0, (size_t)plan->heap_base);
  cg_plan_fill_table(plan, g, p->ws);
  write_constants(p->ws, g, plan);
  if (uses_pool(g, bd)) {
    p->pool = rt_pool_new(bd->tgt.threads);
    if (!p->pool) {
      mc_error(d, (McLoc){0}, "codegen: cannot start %d threads", bd->tgt.threads);
      return false;
    }
    *(RtPool **)((char *)p->ws + CG_WS_POOL) = p->pool;
  }
  p->stats.workspace_bytes = plan->workspace_bytes;
  p->stats.naive_bytes = plan->naive_bytes;
  p->stats.nkernels = bd->nkernels;
  p->stats.nnodes = (int)g->nnodes;
  p->stats.threads = p->pool ? rt_pool_threads(p->pool) : 1;
  return true;
}

CgProgram *cg_jit_compile(const IrGraph *g, const CgOptions *o, McDiag *d) {
  double t0 = now_seconds();
  CgOptions opts = o ? *o : cg_options_default();
  Build bd;
  CgProgram *p = mc_xcalloc(1, sizeof *p);
  int threads = opts.threads > 0 ? opts.threads : online_cores();
  bool ok = lower(g, &opts, &bd, threads < MAX_SHARDS ? threads : MAX_SHARDS, true, d) &&
            setup_program(p, g, &bd, d) && jit_objects(&bd, p, d);
  build_fini(&bd);
  if (!ok) {
    cg_program_free(p);
    return NULL;
  }
  p->stats.compile_seconds = now_seconds() - t0;
  return p;
}

static const IndexNode *find_index_node(const CgProgram *p, IrRef id) {
  for (int i = 0; i < p->nindex; i++)
    if (p->index_nodes[i].id == id) return &p->index_nodes[i];
  return NULL;
}

bool cg_program_run(CgProgram *p, void *const *bufs, McDiag *d) {
  for (int i = 0; i < p->nslots; i++)
    if (!bufs[i] && p->slot_bytes[i] > 0) {
      mc_error(d, (McLoc){0}, "codegen: no buffer for slot %d (node %%%u)", i, p->slot_node[i]);
      return false;
    }
  char *ws = p->ws;
  memset(ws + CG_WS_ERR_NODE, 0, CG_WS_HEADER - CG_WS_ERR_NODE);
  p->run(bufs, ws);
  uint32_t bad;
  int64_t value;
  memcpy(&bad, ws + CG_WS_ERR_NODE, sizeof bad);
  memcpy(&value, ws + CG_WS_ERR_VALUE, sizeof value);
  if (!bad) return true;
  const IndexNode *in = find_index_node(p, bad - 1);
  if (!in) {
    mc_error(d, (McLoc){0}, "codegen: index out of range at node %%%u", bad - 1);
    return false;
  }
  mc_error(d, in->loc, "%s index %lld out of range [0, %lld) at node %%%u", ir_ops[in->op].name,
           (long long)value, (long long)in->rows, in->id);
  return false;
}

int cg_program_nslots(const CgProgram *p) { return p->nslots; }

IrRef cg_program_slot_node(const CgProgram *p, int i) {
  return i >= 0 && i < p->nslots ? p->slot_node[i] : IR_NONE;
}

int cg_program_output_slot(const CgProgram *p, int k) {
  return k >= 0 && p->ninputs + k < p->nslots ? p->ninputs + k : -1;
}

double cg_program_compile_seconds(const CgProgram *p) { return p->stats.compile_seconds; }

void cg_program_stats(const CgProgram *p, CgStats *s) { *s = p->stats; }

void cg_program_free(CgProgram *p) {
  if (!p) return;
  if (p->jit) {
    LLVMErrorRef err = LLVMOrcDisposeLLJIT(p->jit);
    if (err) LLVMConsumeError(err);
  }
  rt_pool_free(p->pool);
  free(p->ws);
  free(p->slot_node);
  free(p->slot_bytes);
  free(p->index_nodes);
  free(p);
}

/* ---- text output ------------------------------------------------------------------------ */

bool cg_emit(const IrGraph *g, const CgOptions *o, const char *what, McStr *out, McDiag *d) {
  bool asm_text = what && !strcmp(what, "asm");
  if (!what || (!asm_text && strcmp(what, "llvm") != 0)) {
    mc_error(d, (McLoc){0}, "codegen: cannot emit '%s' (llvm or asm)", what ? what : "(null)");
    return false;
  }
  CgOptions opts = o ? *o : cg_options_default();
  Build bd;
  bool ok = lower(g, &opts, &bd, 1, false, d);
  if (ok && !asm_text) {
    char *s = LLVMPrintModuleToString(bd.shards[0].mod);
    mc_str_puts(out, s);
    LLVMDisposeMessage(s);
  } else if (ok) {
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(bd.shards[0].tm, bd.shards[0].mod, LLVMAssemblyFile, &err, &buf)) {
      mc_error(d, (McLoc){0}, "codegen: cannot emit assembly: %s", err);
      ok = false;
    } else {
      const char *start = LLVMGetBufferStart(buf);
      size_t n = LLVMGetBufferSize(buf);
      for (size_t i = 0; i < n; i++) mc_str_putc(out, start[i]);
      LLVMDisposeMemoryBuffer(buf);
    }
    if (err) LLVMDisposeMessage(err);
  }
  build_fini(&bd);
  return ok;
}
