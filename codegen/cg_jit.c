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

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

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
  if (getenv("CG_CGLEVEL")) level = (LLVMCodeGenOptLevel)atoi(getenv("CG_CGLEVEL"));
  LLVMTargetMachineRef tm =
      LLVMCreateTargetMachine(target, triple, cpu ? cpu : o->cpu, features ? features : "", level,
                              LLVMRelocPIC, LLVMCodeModelJITDefault);
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

typedef struct Build {
  LLVMOrcThreadSafeContextRef tsc;
  LLVMModuleRef mod;
  LLVMTargetMachineRef tm;
  CgTarget tgt;
  CgPlan plan;
  int nkernels;
} Build;

static void build_fini(Build *bd) {
  if (bd->mod) LLVMDisposeModule(bd->mod);
  if (bd->tm) LLVMDisposeTargetMachine(bd->tm);
  if (bd->tsc) LLVMOrcDisposeThreadSafeContext(bd->tsc);
  cg_plan_free(&bd->plan);
  memset(bd, 0, sizeof *bd);
}

static void init_types(Cg *cx) {
  LLVMContextRef c = cx->ctx;
  cx->t_void = LLVMVoidTypeInContext(c);
  cx->t_i1 = LLVMInt1TypeInContext(c);
  cx->t_i8 = LLVMInt8TypeInContext(c);
  cx->t_i32 = LLVMInt32TypeInContext(c);
  cx->t_i64 = LLVMInt64TypeInContext(c);
  cx->t_f32 = LLVMFloatTypeInContext(c);
  cx->t_f64 = LLVMDoubleTypeInContext(c);
  cx->t_ptr = LLVMPointerTypeInContext(c, 0);
}

static bool verify_module(LLVMModuleRef mod, McDiag *d) {
  char *msg = NULL;
  bool bad = LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg);
  if (bad) mc_error(d, (McLoc){0}, "codegen: internal error: invalid LLVM module: %s", msg);
  LLVMDisposeMessage(msg);
  return !bad;
}

static bool optimize(Build *bd, int level, McDiag *d) {
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", level < 0 ? 0 : level > 3 ? 3 : level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  if (getenv("CG_NOUNROLL")) {
    LLVMPassBuilderOptionsSetLoopInterleaving(po, 0);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, 0);
  }
  LLVMErrorRef err = LLVMRunPasses(bd->mod, pipeline, bd->tm, po);
  LLVMDisposePassBuilderOptions(po);
  return !failed(err, d, "optimization");
}

/* Lowers g into an optimized module in bd (which the caller releases). */
static bool lower(const IrGraph *g, const CgOptions *o, Build *bd, McDiag *d) {
  memset(bd, 0, sizeof *bd);
  if (!ir_verify(g, d)) return false;
  pthread_once(&llvm_once, init_llvm);
  char *features = NULL;
  bd->tm = make_target_machine(o, d, &features);
  if (!bd->tm) {
    free(features);
    return false;
  }
  choose_target(&bd->tgt, o, features);
  free(features);
  if (bd->tgt.threads <= 0) bd->tgt.threads = online_cores();
  bd->tsc = LLVMOrcCreateNewThreadSafeContext();
  Cg cx = {.ctx = LLVMOrcThreadSafeContextGetContext(bd->tsc), .g = g, .tgt = &bd->tgt};
  init_types(&cx);
  bd->mod = LLVMModuleCreateWithNameInContext(g->name ? g->name : "model", cx.ctx);
  cx.mod = bd->mod;
  char *triple = LLVMGetTargetMachineTriple(bd->tm);
  LLVMSetTarget(bd->mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(bd->tm);
  LLVMSetModuleDataLayout(bd->mod, layout);
  LLVMDisposeTargetData(layout);
  cg_plan_build(&bd->plan, g, &bd->tgt);
  cx.plan = &bd->plan;
  cx.b = LLVMCreateBuilderInContext(cx.ctx);
  cg_module_build(&cx);
  LLVMDisposeBuilder(cx.b);
  bd->nkernels = cx.nkernels;
  double ta = cpu_seconds();
  bool ok = verify_module(bd->mod, d);
  double tb = cpu_seconds();
  ok = ok && optimize(bd, o->opt_level, d);
  if (getenv("CG_TIME")) fprintf(stderr, "{verify %.3f opt cpu %.3f}", tb - ta, cpu_seconds() - tb);
  return ok;
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

/* Moves bd's module and target machine into a new LLJIT and looks up @run. */
static bool jit_module(Build *bd, CgProgram *p, McDiag *d) {
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
      builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(bd->tm));
  bd->tm = NULL;
  if (failed(LLVMOrcCreateLLJIT(&p->jit, builder), d, "creating the JIT")) {
    p->jit = NULL;
    return false;
  }
  if (!define_externs(p->jit, d)) return false;
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(bd->mod, bd->tsc);
  bd->mod = NULL;
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(p->jit);
  if (failed(LLVMOrcLLJITAddLLVMIRModule(p->jit, jd, tsm), d, "adding the module")) return false;
  LLVMOrcExecutorAddress addr = 0;
  if (failed(LLVMOrcLLJITLookup(p->jit, &addr, "run"), d, "compiling")) return false;
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
  memset(p->ws, 0, CG_WS_HEADER);
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
  bool ok = lower(g, &opts, &bd, d);
  double t1 = cpu_seconds();
  ok = ok && setup_program(p, g, &bd, d) && jit_module(&bd, p, d);
  if (getenv("CG_TIME")) fprintf(stderr, "{jit cpu %.3f}\n", cpu_seconds() - t1);
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
  bool ok = lower(g, &opts, &bd, d);
  if (ok && !asm_text) {
    char *s = LLVMPrintModuleToString(bd.mod);
    mc_str_puts(out, s);
    LLVMDisposeMessage(s);
  } else if (ok) {
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(bd.tm, bd.mod, LLVMAssemblyFile, &err, &buf)) {
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
