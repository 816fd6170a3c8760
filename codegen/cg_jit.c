/* cg_jit.c -- compiled programs: the shards' machine code is linked by an
   ORC LLJIT whose symbols resolve to the runtime's thread pool and to
   libc/libm. Kernels depend only on their keys and the target, so the
   programs of a process share them: one LLJIT per target links every
   program, and a program compiles only the functions no earlier one made
   (CgKnown); the JITs and their functions live as long as the process. A
   program owns its workspace (pointer table and constants written once)
   and its thread pool, and runs on the caller's buffers. Also the text
   output of the optimized module (LLVM IR or assembly). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

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
  RunFn run;
  void *ws;
  RtPool *pool;
  int nslots, ninputs;
  IrRef *slot_node;
  int *result_slot; /* [nslots - ninputs]: cg_program_output_slot */
  int64_t *slot_bytes;
  IndexNode *index_nodes;
  int nindex;
  CgStats stats;
  IrRef *call_node;   /* with CgOptions.profile: per call */
  char **call_kernel;
  int ncalls;
  int64_t ws_bytes;            /* the workspace (header, pointer table, constants, buffers) */
  int64_t ws_init_bytes;       /* its part written before a run: header, table, constants */
  int64_t ntable;              /* pointer table entries (into ws) */
  /* split (cg_jit_compile_split): nparts copies, each runs on its rows */
  int nparts;
  CgProgram **parts;
  bool *slot_split;  /* [nslots]: the slot holds batch rows (else every part reads all of it) */
  void ***part_bufs; /* [nparts][nslots]: each part's slice of the caller's buffers */
  /* gradient programs: unbatched outputs (loss, gradients) are the parts'
     weighted sum; each part writes its own buffer */
  int nsum;
  int *sum_slot;       /* [nsum] */
  int64_t *sum_start;  /* [nsum + 1]: first element of each in one range over all */
  bool *sum_f64;       /* [nsum]: f64 (else f32) */
  bool *sum_once;      /* [nsum]: an update, the same in every part: part
                          0's value, not a sum */
  void ***part_sum;    /* [nparts][nsum] */
  double weight;       /* of every part: its share of the batch (a mean loss) or 1 (a sum) */
  void *const *sum_to; /* the caller's buffers during a run */
  RtPartSync *sync;    /* the parts' part_sum kernels meet here */
};

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

CgOptions cg_options_default(void) {
  return (CgOptions){.opt_level = 2, .cpu = NULL, .threads = 0, .vector_bits = 0};
}

/* Reports an LLVMErrorRef (consuming it); true when there was one. */
static bool failed(LLVMErrorRef err, McDiag *d, const char *what) {
  if (!err)
    return false;
  char *msg = LLVMGetErrorMessage(err);
  mc_error(d, (McLoc){0}, "codegen: %s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return true;
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
    {"rt_profile_mark", FN(rt_profile_mark)},
    {"rt_part_sum", FN(rt_part_sum)},
    {"memcpy", FN(memcpy)},
    {"memset", FN(memset)},
    {"memmove", FN(memmove)},
    {"expf", FN(expf)},
    {"exp", FN(exp)},
    {"logf", FN(logf)},
    {"log", FN(log)},
    {"powf", FN(powf)},
    {"pow", FN(pow)},
    {"erff", FN(erff)},
    {"erf", FN(erf)},
    {"erfcf", FN(erfcf)},
    {"erfc", FN(erfc)},
    {"tanhf", FN(tanhf)},
    {"tanh", FN(tanh)},
    {"sqrtf", FN(sqrtf)},
    {"sqrt", FN(sqrt)},
    {"exp2f", FN(exp2f)},
    {"exp2", FN(exp2)},
    {"log2f", FN(log2f)},
    {"log2", FN(log2)},
    {"fmaf", FN(fmaf)},
    {"fma", FN(fma)},
    {"rintf", FN(rintf)},
    {"rint", FN(rint)},
};
#undef FN

static bool define_externs(LLVMOrcLLJITRef jit, McDiag *d) {
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(jit);
  LLVMOrcCSymbolMapPair syms[MC_COUNTOF(externs)];
  for (size_t i = 0; i < MC_COUNTOF(externs); i++) {
    syms[i].Name = LLVMOrcLLJITMangleAndIntern(jit, externs[i].name);
    syms[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)externs[i].addr;
    syms[i].Sym.Flags.GenericFlags =
        LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
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
  if (failed(err, d, "process symbols"))
    return false;
  LLVMOrcJITDylibAddGenerator(jd, gen);
  return true;
}

/* ---- the process's JITs ----------------------------------------------------------------
   One per target: the functions of every program compiled for it, by key. */
typedef struct SharedJit {
  char target[200];
  LLVMOrcLLJITRef jit;
  CgMade *fns; /* key -> symbol and type, open addressing */
  uint32_t cap, n;
} SharedJit;

static SharedJit **shared_jits; /* a few: one per target options used */
static int nshared_jits;
static pthread_mutex_t jit_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t fn_slot(const SharedJit *s, const char *key) {
  uint32_t i = (uint32_t)mc_hash_str(key) & (s->cap - 1);
  while (s->fns[i].key && strcmp(s->fns[i].key, key) != 0)
    i = (i + 1) & (s->cap - 1);
  return i;
}

/* False (nothing stored) when the key is there already. */
static bool fn_put(SharedJit *s, const CgMade *m) {
  if (2 * (s->n + 1) > s->cap) {
    SharedJit old = *s;
    s->cap = s->cap ? 2 * s->cap : 256;
    s->fns = mc_xcalloc(s->cap, sizeof *s->fns);
    s->n = 0;
    for (uint32_t i = 0; i < old.cap; i++)
      if (old.fns[i].key)
        fn_put(s, &old.fns[i]);
    free(old.fns);
  }
  uint32_t i = fn_slot(s, m->key);
  if (s->fns[i].key)
    return false;
  s->fns[i] = *m;
  s->n++;
  return true;
}

static const char *find_known(void *ctx, const char *key, const char **type) {
  SharedJit *s = ctx;
  if (!s || !s->cap)
    return NULL;
  uint32_t i = fn_slot(s, key);
  if (!s->fns[i].key)
    return NULL;
  *type = s->fns[i].type;
  return s->fns[i].name;
}

static void target_name(const CgOptions *o, char *buf, size_t n) {
  snprintf(buf, n, "%s/%d/%d/%d", o->cpu && *o->cpu ? o->cpu : "host", o->vector_bits, o->opt_level,
           o->threads);
}

static SharedJit *find_shared_jit(const CgOptions *o) {
  char target[200];
  target_name(o, target, sizeof target);
  for (int i = 0; i < nshared_jits; i++)
    if (!strcmp(shared_jits[i]->target, target))
      return shared_jits[i];
  return NULL;
}

/* A new JIT for o's target, made with bd's target machine. */
static SharedJit *new_shared_jit(const CgOptions *o, CgBuild *bd, McDiag *d) {
  char target[200];
  target_name(o, target, sizeof target);
  SharedJit *s = mc_xcalloc(1, sizeof *s);
  snprintf(s->target, sizeof s->target, "%s", target);
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
      builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(bd->shards[0].tm));
  bd->shards[0].tm = NULL;
  if (failed(LLVMOrcCreateLLJIT(&s->jit, builder), d, "creating the JIT")) {
    free(s);
    return NULL;
  }
  if (!define_externs(s->jit, d)) {
    LLVMErrorRef err = LLVMOrcDisposeLLJIT(s->jit);
    if (err)
      LLVMConsumeError(err);
    free(s);
    return NULL;
  }
  shared_jits = mc_xrealloc(shared_jits, (size_t)(nshared_jits + 1) * sizeof *shared_jits);
  shared_jits[nshared_jits++] = s;
  return s;
}

/* A symbol the JIT defines (for the perf map). */
static bool jit_lookup(void *jit, const char *name, uint64_t *addr) {
  LLVMOrcExecutorAddress a = 0;
  LLVMErrorRef err = LLVMOrcLLJITLookup(jit, &a, name);
  if (err) {
    LLVMConsumeError(err);
    return false;
  }
  *addr = a;
  return a != 0;
}

/* Frees the perf names of n objects that were not linked; false. */
static bool discard_names(CgPerfObject **named, int n) {
  for (int k = 0; k < n; k++)
    cg_perf_free(named[k]);
  return false;
}

/* Links every shard's object into the JIT and looks up the program's run
   function (naming the code for perf when asked); then records the
   functions the build made for later programs. */
static bool link_objects(SharedJit *s, CgBuild *bd, const char *run, CgProgram *p, McDiag *d) {
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(s->jit);
  CgPerfObject *named[CG_MAX_SHARDS] = {NULL};
  bool perf = cg_perf_map_wanted();
  for (int k = 0; k < bd->nshards; k++) {
    LLVMMemoryBufferRef obj = bd->shards[k].obj;
    bd->shards[k].obj = NULL;
    named[k] = perf ? cg_perf_read(obj) : NULL;
    if (failed(LLVMOrcLLJITAddObjectFile(s->jit, jd, obj), d, "adding machine code"))
      return discard_names(named, k + 1);
  }
  LLVMOrcExecutorAddress addr = 0;
  if (failed(LLVMOrcLLJITLookup(s->jit, &addr, run), d, "linking"))
    return discard_names(named, bd->nshards);
  p->run = (RunFn)(uintptr_t)addr;
  for (int k = 0; k < bd->nshards; k++)
    cg_perf_write(named[k], jit_lookup, s->jit);
  for (int i = 0; i < bd->nmade; i++)
    if (fn_put(s, &bd->made[i]))
      bd->made[i] = (CgMade){0}; /* the JIT's now */
  return true;
}

/* ---- programs ------------------------------------------------------------------------- */

/* Programs of one thread count share a pool: a program's workers would
   otherwise spin (rt_pool) while the next program's start, two threads on
   one core (a split gradient program and the optimizer after it). Calls on
   a pool are serialized. Under jit_lock. */
typedef struct SharedPool {
  RtPool *pool;
  int threads, users;
} SharedPool;
static SharedPool *shared_pools;
static int nshared_pools;

static RtPool *pool_get(int threads) {
  for (int i = 0; i < nshared_pools; i++)
    if (shared_pools[i].threads == threads) {
      shared_pools[i].users++;
      return shared_pools[i].pool;
    }
  RtPool *pool = rt_pool_new(threads);
  if (!pool) return NULL;
  shared_pools = mc_xrealloc(shared_pools, (size_t)(nshared_pools + 1) * sizeof *shared_pools);
  shared_pools[nshared_pools++] = (SharedPool){pool, threads, 1};
  return pool;
}

static void pool_put(RtPool *pool) {
  if (!pool) return;
  pthread_mutex_lock(&jit_lock);
  for (int i = 0; i < nshared_pools; i++)
    if (shared_pools[i].pool == pool && --shared_pools[i].users == 0) {
      rt_pool_free(pool);
      shared_pools[i] = shared_pools[--nshared_pools];
      break;
    }
  pthread_mutex_unlock(&jit_lock);
}

static void record_index_nodes(CgProgram *p, const IrGraph *g) {
  p->index_nodes = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof(IndexNode));
  for (uint32_t i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (ir_ops[n->op].cls != IR_CLASS_INDEX)
      continue;
    const IrNode *rows_of = n->op == IR_OP_GATHER ? ir_node(g, n->src[0]) : n;
    p->index_nodes[p->nindex++] = (IndexNode){i, n->loc, (IrOp)n->op, rows_of->shape.d[0].n};
  }
}

/* For profiles: each call's node (the first word of its descriptor) and
   kernel key. */
static void record_calls(CgProgram *p, const CgTables *t) {
  p->ncalls = t->ncalls < RT_PROFILE_MAX_CALLS ? t->ncalls : RT_PROFILE_MAX_CALLS;
  p->call_node = mc_xcalloc((size_t)p->ncalls + 1, sizeof *p->call_node);
  p->call_kernel = mc_xcalloc((size_t)p->ncalls + 1, sizeof *p->call_kernel);
  for (int i = 0; i < p->ncalls; i++) {
    p->call_node[i] = (IrRef)t->words[t->pairs[2 * i + 1]];
    p->call_kernel[i] = mc_xstrdup(t->keys[t->pairs[2 * i]]);
  }
}

/* CONST nodes live in the workspace: their values, as the evaluator rounds
   them to their dtype. */
static void write_constants(void *ws, const IrGraph *g, const CgPlan *plan) {
  for (uint32_t i = 0; i < g->nnodes; i++) {
    if (plan->loc[i].kind != CG_LOC_CONST)
      continue;
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
      double t = isnan(v)             ? 0.0
                 : v >= 2147483647.0  ? 2147483647.0
                 : v <= -2147483648.0 ? -2147483648.0
                                      : trunc(v);
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

/* The workspace and the slots' buffers (which the caller allocates) fit in
   the memory this process may use: a model too large is an error here,
   not an allocation that the kernel kills the process for touching. */
/* a * b + c, saturating at INT64_MAX (a, b, c >= 0). */
static int64_t mul_add_sat(int64_t a, int64_t b, int64_t c) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || __builtin_add_overflow(r, c, &r)) return INT64_MAX;
  return r;
}

/* The workspace and slots of `copies` copies of the program (a split
   program's parts: the params shared, all else their own) fit in the
   memory this process may use. */
static bool fits_in_memory(const CgProgram *p, const IrGraph *g, const CgPlan *plan, int copies,
                           McDiag *d) {
  int64_t shared = 0, own = 0, limit = mc_memory_limit();
  for (int i = 0; i < p->nslots; i++) {
    int64_t *to = ir_node(g, p->slot_node[i])->op == IR_OP_PARAM && copies > 1 ? &shared : &own;
    *to = mul_add_sat(1, *to, p->slot_bytes[i]);
  }
  int64_t slots = mul_add_sat(copies, own, shared);
  int64_t work = mul_add_sat(copies, plan->workspace_bytes, 0);
  int64_t need = mul_add_sat(1, slots, work);
  if (need <= limit) return true;
  char n[32], w[32], s[32], l[32];
  mc_format_bytes(n, sizeof n, need);
  mc_format_bytes(w, sizeof w, work);
  mc_format_bytes(s, sizeof s, slots);
  mc_format_bytes(l, sizeof l, limit);
  mc_error(d, (McLoc){0}, "the compiled program needs %s of memory (a workspace of %s and %s "
           "of inputs, params and outputs); this process may use %s: use smaller dims or a "
           "smaller batch (-D)", n, w, s, l);
  return false;
}

static bool setup_program(CgProgram *p, const IrGraph *g, CgBuild *bd, int copies, McDiag *d) {
  const CgPlan *plan = &bd->plan;
  p->nslots = plan->nslots;
  p->ninputs = plan->ninputs;
  p->slot_node = mc_xmalloc((size_t)(plan->nslots + 1) * sizeof(IrRef));
  p->slot_bytes = mc_xmalloc((size_t)(plan->nslots + 1) * sizeof(int64_t));
  for (int i = 0; i < plan->nslots; i++) {
    p->slot_node[i] = plan->slot_node[i];
    p->slot_bytes[i] = cg_node_bytes(ir_node(g, plan->slot_node[i]));
  }
  p->result_slot = mc_xmalloc((g->nouts + 1) * sizeof *p->result_slot);
  for (uint32_t k = 0; k < g->nouts; k++) {
    p->result_slot[k] = plan->result_slot[k];
    if (plan->result_slot[k] != plan->ninputs + (int)k) /* computed in place: never touched */
      p->slot_bytes[plan->ninputs + (int)k] = 0;
  }
  record_index_nodes(p, g);
  if (!fits_in_memory(p, g, plan, copies, d)) return false;
  size_t bytes = (size_t)plan->workspace_bytes;
  p->ws = plan->workspace_bytes < (int64_t)1 << 46 ? aligned_alloc(CG_ALIGN, bytes) : NULL;
  if (!p->ws) {
    mc_error(d, (McLoc){0}, "codegen: cannot allocate a workspace of %lld bytes",
             (long long)plan->workspace_bytes);
    return false;
  }
  memset(p->ws, 0, (size_t)plan->heap_base);
  p->ws_bytes = plan->workspace_bytes;
  p->ws_init_bytes = plan->const_end;
  p->ntable = cg_plan_table_entries(plan, g);
  cg_plan_fill_table(plan, g, p->ws);
  write_constants(p->ws, g, plan);
  for (uint32_t i = 0; i < g->nnodes; i++) /* nothing packed ahead yet */
    if (plan->loc[i].packed)
      memset((char *)p->ws + plan->loc[i].packed, 0, CG_ALIGN);
  if (cg_build_uses_pool(g, bd)) {
    p->pool = pool_get(bd->tgt.threads);
    if (!p->pool) {
      mc_error(d, (McLoc){0}, "codegen: cannot start %d threads", bd->tgt.threads);
      return false;
    }
    *(RtPool **)((char *)p->ws + CG_WS_POOL) = p->pool;
  }
  p->stats.workspace_bytes = plan->workspace_bytes;
  p->stats.naive_bytes = plan->naive_bytes;
  p->stats.nkernels = bd->tables.nkeys;
  p->stats.ncalls = bd->ncalls;
  p->stats.nnodes = (int)g->nnodes;
  p->stats.shards = bd->nshards;
  p->stats.threads = p->pool ? rt_pool_threads(p->pool) : 1;
  return true;
}

/* Compiles g as `shards` modules in parallel (at most CG_MAX_SHARDS), for
   `copies` copies of its workspace (cg_jit_compile_split's parts). */
static CgProgram *jit_compile(const IrGraph *g, const CgOptions *o, int shards, int copies,
                              McDiag *d) {
  double t0 = now_seconds();
  CgOptions opts = o ? *o : cg_options_default();
  CgBuild bd;
  CgProgram *p = mc_xcalloc(1, sizeof *p);
  pthread_mutex_lock(&jit_lock);
  SharedJit *s = find_shared_jit(&opts);
  static unsigned serial; /* names every program's functions apart */
  char prefix[32], run[48];
  snprintf(prefix, sizeof prefix, "p%u_", serial++);
  snprintf(run, sizeof run, "%srun", prefix);
  CgKnown known = {find_known, s, prefix};
  bool ok = cg_build(g, &opts, &known, &bd, shards < CG_MAX_SHARDS ? shards : CG_MAX_SHARDS,
                     CG_BUILD_OBJECTS, d) &&
            setup_program(p, g, &bd, copies, d) && (s || (s = new_shared_jit(&opts, &bd, d))) &&
            link_objects(s, &bd, run, p, d);
  pthread_mutex_unlock(&jit_lock);
  if (ok && opts.profile) record_calls(p, &bd.tables);
  p->stats.kernels_new = bd.nkernels;
  cg_build_fini(&bd);
  if (!ok) {
    cg_program_free(p);
    return NULL;
  }
  p->stats.compile_seconds = now_seconds() - t0;
  return p;
}

CgProgram *cg_jit_compile(const IrGraph *g, const CgOptions *o, McDiag *d) {
  int threads = o && o->threads > 0 ? o->threads : cg_online_cores();
  return jit_compile(g, o, threads, 1, d);
}

/* ---- split programs (cg_split.c says when) ------------------------------------------------ */

static void add_sums(CgProgram *p, const IrGraph *g, CgSplit how);

/* A second copy of a compiled program: the same code, a workspace of its
   own whose header, pointer table (pointing into it) and constants are
   copied; its buffers are written by the runs, as the original's are. */
static CgProgram *program_copy(const CgProgram *src) {
  CgProgram *p = mc_xcalloc(1, sizeof *p);
  p->run = src->run;
  p->ws = aligned_alloc(CG_ALIGN, (size_t)src->ws_bytes);
  if (!p->ws) {
    free(p);
    return NULL;
  }
  memcpy(p->ws, src->ws, (size_t)src->ws_init_bytes);
  void **table = (void **)((char *)p->ws + CG_WS_HEADER);
  for (int64_t i = 0; i < src->ntable; i++)
    table[i] = (char *)p->ws + ((char *)table[i] - (char *)src->ws);
  p->ws_bytes = src->ws_bytes;
  p->ws_init_bytes = src->ws_init_bytes;
  p->ntable = src->ntable;
  p->nindex = src->nindex;
  p->index_nodes = mc_xmalloc((size_t)(src->nindex + 1) * sizeof *p->index_nodes);
  memcpy(p->index_nodes, src->index_nodes, (size_t)src->nindex * sizeof *p->index_nodes);
  p->stats = src->stats;
  return p;
}

/* The node of g that slot i of first (compiled from slice) stands for:
   inputs and params by name, outputs by their index; IR_NONE if none. */
static IrRef full_node(const IrGraph *g, const IrGraph *slice, const CgProgram *first, int i) {
  const IrNode *n = ir_node(slice, first->slot_node[i]);
  if (i >= first->ninputs) {
    uint32_t k = (uint32_t)(i - first->ninputs);
    bool same = k < g->nouts && k < slice->nouts && g->outs[k].kind == slice->outs[k].kind &&
                !strcmp(g->outs[k].name, slice->outs[k].name);
    return same ? g->outs[k].ref : IR_NONE;
  }
  if (n->op == IR_OP_INPUT) return ir_find_input(g, n->name);
  if (n->op == IR_OP_PARAM) return ir_find_param(g, n->name);
  return IR_NONE;
}

/* The wrapper over g's slots: parts[0] is first (compiled from the
   slice), the others are copies of it. NULL (nothing reported) when a
   slot of first has no twin in g that the parts can share or cut into
   rows, or an output they would sum is not float (or how forbids sums). */
static CgProgram *make_split(const IrGraph *g, const IrGraph *slice, CgProgram *first, int parts,
                             CgSplit how) {
  CgProgram *p = mc_xcalloc(1, sizeof *p);
  p->nparts = parts;
  p->parts = mc_xcalloc((size_t)parts, sizeof *p->parts);
  p->part_bufs = mc_xcalloc((size_t)parts, sizeof *p->part_bufs);
  p->parts[0] = first;
  p->nslots = first->nslots;
  p->ninputs = first->ninputs;
  p->slot_node = mc_xmalloc((size_t)(p->nslots + 1) * sizeof *p->slot_node);
  p->slot_bytes = mc_xmalloc((size_t)(p->nslots + 1) * sizeof *p->slot_bytes);
  p->slot_split = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->slot_split);
  int nouts = p->nslots - p->ninputs;
  p->result_slot = mc_xmalloc((size_t)(nouts + 1) * sizeof *p->result_slot);
  memcpy(p->result_slot, first->result_slot, (size_t)nouts * sizeof *p->result_slot);
  for (int k = 0; k < parts; k++)
    p->part_bufs[k] = mc_xcalloc((size_t)p->nslots + 1, sizeof **p->part_bufs);
  bool ok = !first->pool; /* one-thread code: the copies would share its pool */
  for (int i = 0; ok && i < p->nslots; i++) {
    IrRef r = full_node(g, slice, first, i);
    ok = r != IR_NONE && cg_split_slot_pair(ir_node(g, r), ir_node(slice, first->slot_node[i]),
                                            ir_graph_batch_sym(g), parts, &p->slot_split[i]);
    if (!ok) break;
    const IrNode *n = ir_node(g, r);
    p->slot_node[i] = r;
    p->slot_bytes[i] = cg_node_bytes(n);
    bool summed = i >= p->ninputs && !p->slot_split[i];
    ok = !summed || (how != CG_SPLIT_ROWS && (n->dtype == IR_F32 || n->dtype == IR_F64));
  }
  for (int k = 0; ok && k < nouts; k++) ok = first->result_slot[k] == first->ninputs + k;
  if (!ok) {
    p->parts[0] = NULL; /* the caller's */
    cg_program_free(p);
    return NULL;
  }
  add_sums(p, g, how);
  p->stats = first->stats;
  p->stats.threads = parts;
  p->stats.parts = parts;
  p->stats.workspace_bytes = parts * first->stats.workspace_bytes;
  p->stats.naive_bytes = parts * first->stats.naive_bytes;
  return p;
}

/* The pool, the copies of parts[0] and where their part_sums meet (a
   pool of nparts threads runs each part on a thread of its own, all at
   once, as part_sum needs). */
static bool start_parts(CgProgram *p, McDiag *d) {
  pthread_mutex_lock(&jit_lock);
  bool ok = (p->pool = pool_get(p->nparts)) != NULL;
  pthread_mutex_unlock(&jit_lock);
  for (int k = 1; ok && k < p->nparts; k++) ok = (p->parts[k] = program_copy(p->parts[0])) != NULL;
  ok = ok && (p->sync = rt_part_sync_new(p->nparts)) != NULL;
  for (int k = 0; ok && k < p->nparts; k++) {
    *(RtPartSync **)((char *)p->parts[k]->ws + CG_WS_PART_SYNC) = p->sync;
    *(int64_t *)((char *)p->parts[k]->ws + CG_WS_PART_INDEX) = k;
  }
  if (!ok) mc_error(d, (McLoc){0}, "codegen: cannot start %d copies of the program", p->nparts);
  return ok;
}

/* Elements of g's unbatched outputs: what the parts of a split gradient
   program write apart and then add up. */
static int64_t summed_elements(const IrGraph *g) {
  uint32_t bit = 1u << ir_graph_batch_sym(g);
  int64_t n = 0;
  for (uint32_t k = 0; k < g->nouts; k++) {
    const IrNode *o = ir_node(g, g->outs[k].ref);
    if (!(o->shape.rank > 0 && (o->shape.d[0].syms & bit))) n += ir_shape_numel(&o->shape);
  }
  return n;
}

/* Worth splitting: enough work for a second thread, and (when the parts'
   outputs are summed) enough per summed element. The sum is a pass over
   memory the whole program does not make: mlp's step (150 units of work a
   gradient element per part) ran 2-7% slower split on this project's
   2-core VM, lenet's (890), gpt's (1660) and bert's (1420) 18-32%
   faster. */
bool cg_split_worth(const IrGraph *g, const IrGraph *slice, CgSplit how) {
  if (cg_split_work(g) < CG_SPLIT_MIN_WORK) return false;
  int64_t sums = summed_elements(g);
  return how == CG_SPLIT_ROWS || sums == 0 || cg_split_work(slice) / sums >= CG_SPLIT_MIN_WORK_PER_SUM;
}

CgProgram *cg_jit_compile_split(const IrGraph *g, const IrGraph *slice, int parts, CgSplit how,
                                const CgOptions *o, McDiag *d) {
  double t0 = now_seconds();
  CgOptions opts = o ? *o : cg_options_default();
  int sym = ir_graph_batch_sym(g);
  if (opts.profile || opts.aot || how == CG_SPLIT_NO || parts < 2 || parts > CG_SPLIT_MAX_PARTS ||
      !slice || sym < 0 || ir_graph_batch_sym(slice) != sym ||
      g->syms[sym].value != (int64_t)parts * slice->syms[sym].value ||
      !cg_split_worth(g, slice, how))
    return cg_jit_compile(g, o, d);
  CgOptions one = opts;
  one.threads = 1; /* the code; the compile still takes every thread */
  one.shared_params = true;
  CgProgram *first = jit_compile(slice, &one, parts, parts, d);
  if (!first) return NULL;
  CgProgram *p = make_split(g, slice, first, parts, how);
  if (!p) {
    cg_program_free(first);
    return cg_jit_compile(g, o, d);
  }
  if (!start_parts(p, d)) {
    cg_program_free(p);
    return NULL;
  }
  p->stats.compile_seconds = now_seconds() - t0;
  return p;
}

/* Every unbatched output becomes a sum over the parts, each part writing
   a buffer of its own; but an update (a running statistic) is the same in
   every part (the split proofs refuse one that is not), and part 0's is
   kept. */
static void add_sums(CgProgram *p, const IrGraph *g, CgSplit how) {
  p->weight = how == CG_SPLIT_MEAN ? 1.0 / p->nparts : 1.0;
  p->sum_slot = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->sum_slot);
  p->sum_start = mc_xcalloc((size_t)p->nslots + 2, sizeof *p->sum_start);
  p->sum_f64 = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->sum_f64);
  p->sum_once = mc_xcalloc((size_t)p->nslots + 1, sizeof *p->sum_once);
  for (int i = p->ninputs; i < p->nslots; i++)
    if (!p->slot_split[i]) {
      const IrNode *n = ir_node(g, p->slot_node[i]);
      p->sum_start[p->nsum + 1] = p->sum_start[p->nsum] + ir_shape_numel(&n->shape);
      p->sum_f64[p->nsum] = n->dtype == IR_F64;
      p->sum_once[p->nsum] = g->outs[i - p->ninputs].kind == IR_OUT_UPDATE;
      p->sum_slot[p->nsum++] = i;
    }
  p->part_sum = mc_xcalloc((size_t)p->nparts, sizeof *p->part_sum);
  for (int k = 0; k < p->nparts; k++) {
    p->part_sum[k] = mc_xcalloc((size_t)p->nsum + 1, sizeof **p->part_sum);
    for (int j = 0; j < p->nsum; j++)
      p->part_sum[k][j] = mc_xcalloc((size_t)p->slot_bytes[p->sum_slot[j]] + 1, 1);
  }
}

static const IndexNode *find_index_node(const CgProgram *p, IrRef id) {
  for (int i = 0; i < p->nindex; i++)
    if (p->index_nodes[i].id == id)
      return &p->index_nodes[i];
  return NULL;
}

/* Reports the first index out of range that the last run recorded. */
static bool index_errors(const CgProgram *p, McDiag *d) {
  const char *ws = p->ws;
  uint32_t bad;
  int64_t value;
  memcpy(&bad, ws + CG_WS_ERR_NODE, sizeof bad);
  memcpy(&value, ws + CG_WS_ERR_VALUE, sizeof value);
  if (!bad)
    return true;
  const IndexNode *in = find_index_node(p, bad - 1);
  if (!in) {
    mc_error(d, (McLoc){0}, "codegen: index out of range at node %%%u", bad - 1);
    return false;
  }
  mc_error(d, in->loc, "%s index %lld out of range [0, %lld) at node %%%u", ir_ops[in->op].name,
           (long long)value, (long long)in->rows, in->id);
  return false;
}

static void run_once(CgProgram *p, void *const *bufs) {
  memset((char *)p->ws + CG_WS_ERR_NODE, 0, CG_WS_PART_SYNC - CG_WS_ERR_NODE);
  p->run(bufs, p->ws);
}

static void run_parts(void *ctx, int64_t begin, int64_t end) {
  CgProgram *p = ctx;
  for (int64_t k = begin; k < end; k++)
    run_once(p->parts[k], (void *const *)p->part_bufs[k]);
}

/* to[e] = the parts' values at e, weighted, added in part order. */
static void sum_f32(float *to, float *const *from, int nparts, float w, int64_t lo, int64_t hi) {
  for (int64_t e = lo; e < hi; e++) to[e] = w * from[0][e];
  for (int k = 1; k < nparts; k++)
    for (int64_t e = lo; e < hi; e++) to[e] += w * from[k][e];
}

static void sum_f64(double *to, double *const *from, int nparts, double w, int64_t lo,
                    int64_t hi) {
  for (int64_t e = lo; e < hi; e++) to[e] = w * from[0][e];
  for (int k = 1; k < nparts; k++)
    for (int64_t e = lo; e < hi; e++) to[e] += w * from[k][e];
}

/* Thread t's share of every summed output: chunk t of each, as the
   elementwise kernels of the optimizer that reads them next split them
   (what a thread sums stays in its cache). */
static void sum_parts(void *ctx, int64_t begin, int64_t end) {
  const CgProgram *p = ctx;
  void *from[CG_SPLIT_MAX_PARTS];
  for (int64_t t = begin; t < end; t++)
    for (int j = 0; j < p->nsum; j++) {
      int64_t lo, hi;
      rt_pool_chunk(p->sum_start[j + 1] - p->sum_start[j], p->nparts, (int)t, &lo, &hi);
      for (int k = 0; k < p->nparts; k++) from[k] = p->part_sum[k][j];
      void *to = p->sum_to[p->sum_slot[j]];
      int n = p->sum_once[j] ? 1 : p->nparts;
      double w = p->sum_once[j] ? 1.0 : p->weight;
      if (p->sum_f64[j]) sum_f64(to, (double *const *)from, n, w, lo, hi);
      else sum_f32(to, (float *const *)from, n, (float)w, lo, hi);
    }
}

/* Part k reads and writes rows [k * rows / nparts, ...) of every batched
   slot, and all of the others (params); summed outputs go to its own
   buffers first. */
static bool run_split(CgProgram *p, void *const *bufs, McDiag *d) {
  for (int k = 0; k < p->nparts; k++) {
    for (int i = 0; i < p->nslots; i++)
      p->part_bufs[k][i] = p->slot_split[i] ? (char *)bufs[i] + k * (p->slot_bytes[i] / p->nparts)
                                            : bufs[i];
    for (int j = 0; j < p->nsum; j++) p->part_bufs[k][p->sum_slot[j]] = p->part_sum[k][j];
  }
  rt_parallel_for(p->pool, p->nparts, run_parts, p);
  p->sum_to = bufs;
  if (p->nsum) rt_parallel_for(p->pool, p->nparts, sum_parts, p);
  bool ok = true;
  for (int k = 0; k < p->nparts && ok; k++) ok = index_errors(p->parts[k], d);
  return ok;
}

bool cg_program_run(CgProgram *p, void *const *bufs, McDiag *d) {
  for (int i = 0; i < p->nslots; i++)
    if (!(bufs ? bufs[i] : NULL) && p->slot_bytes[i] > 0) {
      mc_error(d, (McLoc){0}, "codegen: no buffer for slot %d (node %%%u)", i, p->slot_node[i]);
      return false;
    }
  if (p->nparts)
    return run_split(p, bufs, d);
  void **none = bufs || p->nslots == 0 ? NULL : mc_xcalloc((size_t)p->nslots, sizeof *none);
  run_once(p, none ? (void *const *)none : bufs);
  free(none);
  return index_errors(p, d);
}

int cg_program_nslots(const CgProgram *p) { return p->nslots; }

IrRef cg_program_slot_node(const CgProgram *p, int i) {
  return i >= 0 && i < p->nslots ? p->slot_node[i] : IR_NONE;
}

int cg_program_output_slot(const CgProgram *p, int k) {
  return k >= 0 && p->ninputs + k < p->nslots ? p->result_slot[k] : -1;
}

double cg_program_compile_seconds(const CgProgram *p) { return p->stats.compile_seconds; }

void cg_program_params_changed(CgProgram *p) {
  for (int k = 0; k < (p->nparts ? p->nparts : 1); k++) {
    CgProgram *q = p->nparts ? p->parts[k] : p;
    if (q && q->ws) ++*(int64_t *)((char *)q->ws + CG_WS_PARAMS_GEN);
  }
}

void cg_program_stats(const CgProgram *p, CgStats *s) { *s = p->stats; }

int cg_program_profile(const CgProgram *p, CgCallTime *out, int cap) {
  if (!p->ncalls || !out) return p->ncalls;
  double *sec = mc_xcalloc((size_t)p->ncalls, sizeof *sec);
  rt_profile_take(sec, p->ncalls);
  for (int i = 0; i < p->ncalls && i < cap; i++)
    out[i] = (CgCallTime){p->call_node[i], p->call_kernel[i], sec[i]};
  free(sec);
  return p->ncalls;
}

void cg_program_free(CgProgram *p) {
  if (!p)
    return;
  for (int k = 0; k < p->nparts; k++) {
    cg_program_free(p->parts[k]);
    free(p->part_bufs[k]);
    for (int j = 0; p->part_sum && j < p->nsum; j++) free(p->part_sum[k][j]);
    if (p->part_sum) free(p->part_sum[k]);
  }
  free(p->part_sum);
  free(p->sum_slot);
  free(p->sum_start);
  free(p->sum_f64);
  free(p->sum_once);
  rt_part_sync_free(p->sync);
  free(p->parts);
  free(p->part_bufs);
  free(p->slot_split);
  for (int i = 0; i < p->ncalls; i++) free(p->call_kernel[i]);
  free(p->call_kernel);
  free(p->call_node);
  pool_put(p->pool);
  free(p->ws);
  free(p->slot_node);
  free(p->slot_bytes);
  free(p->result_slot);
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
  CgBuild bd;
  bool ok = cg_build(g, &opts, NULL, &bd, 1, CG_BUILD_MODULE, d);
  if (ok && !asm_text) {
    char *s = LLVMPrintModuleToString(bd.shards[0].mod);
    mc_str_puts(out, s);
    LLVMDisposeMessage(s);
  } else if (ok) {
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(bd.shards[0].tm, bd.shards[0].mod, LLVMAssemblyFile,
                                            &err, &buf)) {
      mc_error(d, (McLoc){0}, "codegen: cannot emit assembly: %s", err);
      ok = false;
    } else {
      const char *start = LLVMGetBufferStart(buf);
      size_t n = LLVMGetBufferSize(buf);
      for (size_t i = 0; i < n; i++)
        mc_str_putc(out, start[i]);
      LLVMDisposeMemoryBuffer(buf);
    }
    if (err)
      LLVMDisposeMessage(err);
  }
  cg_build_fini(&bd);
  return ok;
}
