/* cg_module.c -- lowers a graph to LLVM: an entry `void @run(ptr %bufs,
   ptr %ws)` that copies the caller's slot pointers into the workspace's
   pointer table and then walks a constant call table, calling the kernel
   of each node in id order with that call's descriptor. A descriptor (i64s
   in one constant array) names the node's result and operands by their
   pointer-table entries and holds the kernel's extents. Nodes that are
   equal up to where their data lives and their extents (the keys of
   cg_kernel.c) share one kernel, so the code grows with the number of
   distinct kernels, not with the number of nodes. The program's functions
   are spread over shards, modules compiled in parallel (cg_compile.c). */
#include <stdlib.h>
#include <string.h>

#include "cg_int.h"

/* ---- kernel cache: key string -> function ------------------------------------ */
struct CgKernelCache {
  char **keys;
  LLVMValueRef *fns; /* in their home shard */
  int *homes;
  uint32_t cap, n; /* open addressing, cap a power of two */
};

static CgKernelCache *cache_new(void) {
  CgKernelCache *c = mc_xcalloc(1, sizeof *c);
  c->cap = 256;
  c->keys = mc_xcalloc(c->cap, sizeof(char *));
  c->fns = mc_xcalloc(c->cap, sizeof(LLVMValueRef));
  c->homes = mc_xcalloc(c->cap, sizeof(int));
  return c;
}

static void cache_free(CgKernelCache *c) {
  for (uint32_t i = 0; i < c->cap; i++)
    free(c->keys[i]);
  free(c->keys);
  free(c->fns);
  free(c->homes);
  free(c);
}

static uint32_t cache_slot(const CgKernelCache *c, const char *key) {
  uint32_t i = (uint32_t)mc_hash_str(key) & (c->cap - 1);
  while (c->keys[i] && strcmp(c->keys[i], key) != 0)
    i = (i + 1) & (c->cap - 1);
  return i;
}

static void cache_put(CgKernelCache *c, const char *key, LLVMValueRef fn, int home) {
  if (2 * (c->n + 1) > c->cap) {
    CgKernelCache old = *c;
    c->cap *= 2;
    c->n = 0;
    c->keys = mc_xcalloc(c->cap, sizeof(char *));
    c->fns = mc_xcalloc(c->cap, sizeof(LLVMValueRef));
    c->homes = mc_xcalloc(c->cap, sizeof(int));
    for (uint32_t i = 0; i < old.cap; i++)
      if (old.keys[i]) {
        uint32_t j = cache_slot(c, old.keys[i]);
        c->keys[j] = old.keys[i];
        c->fns[j] = old.fns[i];
        c->homes[j] = old.homes[i];
        c->n++;
      }
    free(old.keys);
    free(old.fns);
    free(old.homes);
  }
  uint32_t i = cache_slot(c, key);
  c->keys[i] = mc_xstrdup(key);
  c->fns[i] = fn;
  c->homes[i] = home;
  c->n++;
}

/* ---- shards -------------------------------------------------------------------- */

void cg_shard_use(Cg *cx, int k) {
  CgShard *sh = &cx->shards[k];
  cx->cur = k;
  cx->ctx = sh->ctx;
  cx->mod = sh->mod;
  cx->b = sh->b;
  LLVMContextRef c = sh->ctx;
  cx->t_void = LLVMVoidTypeInContext(c);
  cx->t_i1 = LLVMInt1TypeInContext(c);
  cx->t_i8 = LLVMInt8TypeInContext(c);
  cx->t_i32 = LLVMInt32TypeInContext(c);
  cx->t_i64 = LLVMInt64TypeInContext(c);
  cx->t_f32 = LLVMFloatTypeInContext(c);
  cx->t_f64 = LLVMDoubleTypeInContext(c);
  cx->t_ptr = LLVMPointerTypeInContext(c, 0);
}

CgSave cg_shard_enter(Cg *cx, int k) {
  CgSave s = {cx->cur, cx->fn, LLVMGetInsertBlock(cx->b)};
  cg_shard_use(cx, k);
  return s;
}

void cg_shard_leave(Cg *cx, CgSave s) {
  cg_shard_use(cx, s.shard);
  cx->fn = s.fn;
  if (s.bb)
    LLVMPositionBuilderAtEnd(cx->b, s.bb);
}

int cg_shard_pick(const Cg *cx) {
  int best = 0;
  for (int k = 1; k < cx->nshards; k++)
    if (cx->shards[k].weight < cx->shards[best].weight)
      best = k;
  return best;
}

void cg_set_local(Cg *cx, LLVMValueRef fn) {
  if (cx->known) /* later programs link to it */
    return;
  LLVMSetLinkage(fn, cx->nshards > 1 ? LLVMExternalLinkage : LLVMInternalLinkage);
  if (cx->nshards > 1)
    LLVMSetVisibility(fn, LLVMHiddenVisibility);
}

/* t, a type of another context, in the current one (the few kinds used). */
static LLVMTypeRef retype(Cg *cx, LLVMTypeRef t) {
  switch (LLVMGetTypeKind(t)) {
  case LLVMVoidTypeKind:
    return cx->t_void;
  case LLVMPointerTypeKind:
    return cx->t_ptr;
  case LLVMIntegerTypeKind: {
    unsigned w = LLVMGetIntTypeWidth(t);
    return w == 1 ? cx->t_i1 : w == 8 ? cx->t_i8 : w == 32 ? cx->t_i32 : cx->t_i64;
  }
  default:
    MC_UNREACHABLE();
  }
}

LLVMValueRef cg_shard_ref(Cg *cx, int home, LLVMValueRef fn) {
  if (home == cx->cur)
    return fn;
  const char *name = LLVMGetValueName(fn);
  LLVMValueRef here = LLVMGetNamedFunction(cx->mod, name);
  if (here)
    return here;
  LLVMTypeRef fty = LLVMGlobalGetValueType(fn);
  unsigned n = LLVMCountParamTypes(fty);
  LLVMTypeRef params[IR_MAX_RANK + 64],
      *p = n <= MC_COUNTOF(params) ? params : mc_xmalloc(n * sizeof *p);
  LLVMGetParamTypes(fty, p);
  for (unsigned i = 0; i < n; i++)
    p[i] = retype(cx, p[i]);
  here =
      LLVMAddFunction(cx->mod, name, LLVMFunctionType(retype(cx, LLVMGetReturnType(fty)), p, n, 0));
  LLVMSetVisibility(here, LLVMHiddenVisibility);
  cg_set_fn_attr(cx, here, "nounwind");
  if (p != params)
    free(p);
  return here;
}

static int64_t count_instructions(LLVMValueRef fn) {
  int64_t n = 0;
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef i = LLVMGetFirstInstruction(bb); i; i = LLVMGetNextInstruction(i))
      n++;
  return n;
}

void cg_shard_charge(Cg *cx, LLVMValueRef fn) {
  cx->shards[cx->cur].weight += count_instructions(fn);
}

/* ---- kernels --------------------------------------------------------------------
   A kernel is `void (ptr ws, ptr desc)`: it decodes its buffers and
   extents from the call's descriptor, then runs the emitted body. Each
   buffer gets its own alias scope, and every access is tagged with it. */

/* Descriptor layout: [node id, result entry, operand entries..., scratch
   entry, extents...], entries of the workspace's pointer table. */
enum { DESC_NODE = 0, DESC_OUT = 1 };

static LLVMValueRef decode(Cg *cx, LLVMValueRef ws, LLVMValueRef desc, int i) {
  LLVMValueRef entry = cg_load(cx, cx->t_i64, desc, cg_i64(cx, i));
  LLVMValueRef table = cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_HEADER));
  return cg_load(cx, cx->t_ptr, table, entry);
}

/* Scope metadata for the kernel's buffers (uniqued by the kernel's name). */
static void make_scopes(Cg *cx, const char *name) {
  char buf[96];
  LLVMMetadataRef dom_name = LLVMMDStringInContext2(cx->ctx, name, strlen(name));
  LLVMMetadataRef domain = LLVMMDNodeInContext2(cx->ctx, &dom_name, 1);
  cx->scopes = mc_xmalloc((size_t)cx->nbufs * sizeof *cx->scopes);
  for (int k = 0; k < cx->nbufs; k++) {
    snprintf(buf, sizeof buf, "%s.%d", name, k);
    LLVMMetadataRef ops[2] = {LLVMMDStringInContext2(cx->ctx, buf, strlen(buf)), domain};
    cx->scopes[k] = LLVMMDNodeInContext2(cx->ctx, ops, 2);
  }
}

LLVMValueRef cg_kernel_begin(Cg *cx, const char *name, int nin, int nextra, bool scratch) {
  LLVMTypeRef params[2] = {cx->t_ptr, cx->t_ptr};
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(cx->t_void, params, 2, 0));
  cg_set_local(cx, fn);
  cg_set_fn_attr(cx, fn, "nounwind");
  cx->fn = fn;
  LLVMPositionBuilderAtEnd(cx->b, LLVMAppendBasicBlockInContext(cx->ctx, fn, "entry"));
  LLVMValueRef ws = LLVMGetParam(fn, 0), desc = LLVMGetParam(fn, 1);
  cx->nkargs = nin + 3 + nextra;
  cx->nbufs = nin + 1;
  cx->kargs = mc_xcalloc((size_t)cx->nkargs, sizeof *cx->kargs); /* cg_load compares them */
  cg_kernel_decode(cx, ws, desc, scratch);
  make_scopes(cx, name);
  return fn;
}

void cg_kernel_decode(Cg *cx, LLVMValueRef ws, LLVMValueRef desc, bool scratch) {
  int nin = cx->nbufs - 1, nextra = cx->nkargs - nin - 3;
  cx->kdesc = desc;
  for (int i = 0; i <= nin; i++)
    cx->kargs[i] = decode(cx, ws, desc, DESC_OUT + i);
  cx->kargs[nin + 1] = ws;
  cx->kargs[nin + 2] =
      scratch ? decode(cx, ws, desc, DESC_OUT + nin + 1) : LLVMConstNull(cx->t_ptr);
  for (int i = 0; i < nextra; i++)
    cx->kargs[nin + 3 + i] = cg_load(cx, cx->t_i64, desc, cg_i64(cx, DESC_OUT + nin + 2 + i));
}

void cg_kernel_end(Cg *cx) {
  LLVMBuildRetVoid(cx->b);
  free(cx->kargs);
  free(cx->scopes);
  cx->kargs = NULL;
  cx->scopes = NULL;
  cx->nkargs = cx->nbufs = 0;
}

LLVMValueRef cg_karg(Cg *cx, int i) {
  MC_ASSERT(cx->kargs && i >= 0 && i < cx->nkargs);
  return cx->kargs[i];
}

LLVMValueRef cg_kernel_node(Cg *cx) {
  return cg_load(cx, cx->t_i64, cx->kdesc, cg_i64(cx, DESC_NODE));
}

LLVMValueRef cg_kernel_extents(Cg *cx) {
  int nin = cx->nbufs - 1;
  return cg_gep(cx, cx->t_i64, cx->kdesc, cg_i64(cx, DESC_OUT + nin + 2));
}

/* ---- functions of earlier programs (CgKnown) ------------------------------------------- */

static char type_kind(LLVMTypeRef t) {
  switch (LLVMGetTypeKind(t)) {
  case LLVMVoidTypeKind: return 'v';
  case LLVMPointerTypeKind: return 'p';
  case LLVMIntegerTypeKind: {
    unsigned w = LLVMGetIntTypeWidth(t);
    return w == 1 ? 'b' : w == 8 ? 'c' : w == 32 ? 'i' : 'l';
  }
  default: MC_UNREACHABLE();
  }
}

static LLVMTypeRef kind_type(Cg *cx, char k) {
  return k == 'v' ? cx->t_void : k == 'p' ? cx->t_ptr : k == 'b' ? cx->t_i1 : k == 'c' ? cx->t_i8
         : k == 'i' ? cx->t_i32 : cx->t_i64;
}

/* "v(pp)" for void (ptr, ptr) */
static char *type_text(LLVMValueRef fn) {
  LLVMTypeRef fty = LLVMGlobalGetValueType(fn);
  unsigned n = LLVMCountParamTypes(fty);
  LLVMTypeRef *p = mc_xmalloc((n + 1) * sizeof *p);
  LLVMGetParamTypes(fty, p);
  char *s = mc_xmalloc(n + 4);
  s[0] = type_kind(LLVMGetReturnType(fty));
  s[1] = '(';
  for (unsigned i = 0; i < n; i++)
    s[2 + i] = type_kind(p[i]);
  s[2 + n] = ')';
  s[3 + n] = 0;
  free(p);
  return s;
}

/* A declaration, in the current shard, of a function an earlier program made. */
static LLVMValueRef declare_known(Cg *cx, const char *name, const char *type) {
  LLVMValueRef fn = LLVMGetNamedFunction(cx->mod, name);
  if (fn)
    return fn;
  size_t n = strlen(type) - 3;
  LLVMTypeRef *p = mc_xmalloc((n + 1) * sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = kind_type(cx, type[2 + i]);
  fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(kind_type(cx, type[0]), p, (unsigned)n, 0));
  cg_set_fn_attr(cx, fn, "nounwind");
  free(p);
  return fn;
}

/* Every function this build defined gets the known prefix (in every shard,
   declarations included), and the shared ones are listed for the JIT. */
static void name_made_functions(Cg *cx) {
  const char *prefix = cx->known->prefix;
  McVec defined;
  mc_vec_init(&defined, sizeof(char *));
  for (int k = 0; k < cx->nshards; k++)
    for (LLVMValueRef f = LLVMGetFirstFunction(cx->shards[k].mod); f; f = LLVMGetNextFunction(f))
      if (LLVMCountBasicBlocks(f) > 0)
        *(char **)mc_vec_push(&defined) = mc_xstrdup(LLVMGetValueName(f));
  char name[512];
  for (int k = 0; k < cx->nshards; k++)
    for (LLVMValueRef f = LLVMGetFirstFunction(cx->shards[k].mod); f; f = LLVMGetNextFunction(f))
      for (size_t i = 0; i < defined.len; i++)
        if (!strcmp(LLVMGetValueName(f), ((char **)defined.data)[i])) {
          snprintf(name, sizeof name, "%s%s", prefix, ((char **)defined.data)[i]);
          LLVMSetValueName2(f, name, strlen(name));
          break;
        }
  for (size_t i = 0; i < defined.len; i++)
    free(((char **)defined.data)[i]);
  mc_vec_free(&defined);
  CgKernelCache *c = cx->cache;
  CgBuild *bd = cx->build;
  bd->made = mc_xcalloc(c->n + 1, sizeof *bd->made);
  for (uint32_t i = 0; i < c->cap; i++)
    if (c->keys[i] && c->homes[i] >= 0)
      bd->made[bd->nmade++] = (CgMade){mc_xstrdup(c->keys[i]),
                                       mc_xstrdup(LLVMGetValueName(c->fns[i])),
                                       type_text(c->fns[i])};
}

LLVMValueRef cg_shared_function(Cg *cx, const char *key, CgMakeFn make, const void *arg) {
  uint32_t slot = cache_slot(cx->cache, key);
  const char *type = NULL, *name = NULL;
  if (!cx->cache->keys[slot] && cx->known && (name = cx->known->find(cx->known->ctx, key, &type))) {
    cache_put(cx->cache, key, declare_known(cx, name, type), -1);
    slot = cache_slot(cx->cache, key);
  }
  if (!cx->cache->keys[slot]) {
    int home = cg_shard_pick(cx);
    CgSave saved = cg_shard_enter(cx, home);
    LLVMValueRef fn = make(cx, arg);
    cg_shard_charge(cx, fn);
    cache_put(cx->cache, key, fn, home);
    cg_shard_leave(cx, saved);
    slot = cache_slot(cx->cache, key);
  }
  return cg_shard_ref(cx, cx->cache->homes[slot], cx->cache->fns[slot]);
}

/* Emits the kernel of a call (the argument of cg_shared_function). Kernels
   are made one at a time, never from inside another. */
static LLVMValueRef make_kernel(Cg *cx, const void *arg) {
  const CgCall *c = arg;
  MC_ASSERT(!cx->kargs);
  char name[64];
  snprintf(name, sizeof name, "k%u_%s", c->node, c->kind);
  LLVMValueRef fn = cg_kernel_begin(cx, name, c->nin, c->n, c->scratch);
  c->emit(cx, c);
  cg_kernel_end(cx);
  cx->nkernels++;
  return fn;
}

/* ---- descriptors and the call table ------------------------------------------------ */

/* The program as data: every descriptor in one i64 array, the calls as
   (kernel number, descriptor offset) pairs, and the kernels' addresses. */
typedef struct Calls {
  int64_t *words; /* descriptors, back to back */
  int nwords, capwords;
  int32_t *pairs; /* per call: kernel number, word offset */
  int n, cap;
  LLVMValueRef *kernels; /* as seen from shard 0 */
  char **keys;           /* of each kernel */
  int nkernels, capkernels;
} Calls;

static int kernel_number(Calls *c, LLVMValueRef fn, const char *key) {
  for (int i = 0; i < c->nkernels; i++)
    if (c->kernels[i] == fn)
      return i;
  if (c->nkernels == c->capkernels) {
    c->capkernels = c->capkernels ? 2 * c->capkernels : 32;
    c->kernels = mc_xrealloc(c->kernels, (size_t)c->capkernels * sizeof *c->kernels);
    c->keys = mc_xrealloc(c->keys, (size_t)c->capkernels * sizeof *c->keys);
  }
  c->kernels[c->nkernels] = fn;
  c->keys[c->nkernels] = mc_xstrdup(key);
  return c->nkernels++;
}

/* fn is a reference from shard 0. */
static void add_call(Calls *c, LLVMValueRef fn, const char *key, const int64_t *desc, int ndesc) {
  int k = kernel_number(c, fn, key);
  if (c->nwords + ndesc > c->capwords) {
    c->capwords = 2 * (c->nwords + ndesc) + 256;
    c->words = mc_xrealloc(c->words, (size_t)c->capwords * sizeof *c->words);
  }
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->pairs = mc_xrealloc(c->pairs, (size_t)c->cap * 2 * sizeof *c->pairs);
  }
  c->pairs[2 * c->n] = k;
  c->pairs[2 * c->n + 1] = c->nwords;
  c->n++;
  memcpy(c->words + c->nwords, desc, (size_t)ndesc * sizeof *desc);
  c->nwords += ndesc;
}

/* Hands the tables over to t, or frees them when t is NULL. */
static void calls_move(Calls *c, CgTables *t) {
  if (t) {
    *t = (CgTables){c->words, c->nwords, c->pairs, c->n, c->keys, c->nkernels};
  } else {
    for (int i = 0; i < c->nkernels; i++)
      free(c->keys[i]);
    free(c->keys);
    free(c->words);
    free(c->pairs);
  }
  free(c->kernels);
  memset(c, 0, sizeof *c);
}

static bool needs_kernel(const Cg *cx, IrRef id) {
  const IrNode *n = ir_node(cx->g, id);
  CgLocKind k = cx->plan->loc[id].kind;
  if (k == CG_LOC_NONE || k == CG_LOC_ALIAS || k == CG_LOC_CONST)
    return false;
  return n->op != IR_OP_INPUT && n->op != IR_OP_PARAM;
}

/* Appends call c: its kernel and its descriptor. */
static void add_node_call(Cg *cx, const CgCall *c) {
  cg_shard_use(cx, 0);
  LLVMValueRef fn = cg_shared_function(cx, c->key, make_kernel, c);
  int nd = DESC_OUT + 2 + c->nin + c->n;
  int64_t *desc = mc_xmalloc((size_t)nd * sizeof *desc);
  desc[DESC_NODE] = c->node;
  desc[DESC_OUT] = c->out;
  for (int k = 0; k < c->nin; k++)
    desc[DESC_OUT + 1 + k] = c->in[k];
  desc[DESC_OUT + 1 + c->nin] = c->scratch ? cg_plan_scratch_entry(cx->plan, cx->g, c->node) : 0;
  memcpy(desc + DESC_OUT + 2 + c->nin, c->ext, (size_t)c->n * sizeof *desc);
  add_call(cx->calls, fn, c->key, desc, nd);
  free(desc);
}

/* The output copies: outputs whose node lives elsewhere than their slot. */
static void call_copies(Cg *cx) {
  const CgPlan *plan = cx->plan;
  for (int i = 0; i < plan->ncopies; i++) {
    const CgCopy *cp = &plan->copies[i];
    int64_t bytes = cg_node_bytes(ir_node(cx->g, cp->node));
    if (bytes == 0 || plan->loc[cp->node].kind == CG_LOC_NONE)
      continue;
    CgCall c;
    cg_copy_call(cx, &c, cp->node, cp->slot, bytes);
    add_node_call(cx, &c);
  }
}

/* ---- the entry point --------------------------------------------------------------- */

static LLVMValueRef constant_array(Cg *cx, const char *name, LLVMTypeRef et, LLVMValueRef *vals,
                                   int n) {
  LLVMValueRef g = LLVMAddGlobal(cx->mod, LLVMArrayType(et, (unsigned)n), name);
  LLVMSetInitializer(g, LLVMConstArray(et, vals, (unsigned)n));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMInternalLinkage);
  return g;
}

/* The tables of c as globals of shard 0: descs, calls, kernels. */
static void emit_tables(Cg *cx, const Calls *c, LLVMValueRef *descs, LLVMValueRef *pairs,
                        LLVMValueRef *kernels) {
  int nw = c->nwords ? c->nwords : 1, np = c->n ? 2 * c->n : 1, nk = c->nkernels ? c->nkernels : 1;
  LLVMValueRef *v =
      mc_xmalloc((size_t)(nw > np ? (nw > nk ? nw : nk) : (np > nk ? np : nk)) * sizeof *v);
  for (int i = 0; i < nw; i++)
    v[i] = cg_i64(cx, c->nwords ? c->words[i] : 0);
  *descs = constant_array(cx, "descs", cx->t_i64, v, nw);
  for (int i = 0; i < np; i++)
    v[i] = LLVMConstInt(cx->t_i32, c->n ? (unsigned long long)c->pairs[i] : 0, 0);
  *pairs = constant_array(cx, "calls", cx->t_i32, v, np);
  for (int i = 0; i < nk; i++)
    v[i] = c->nkernels ? c->kernels[i] : LLVMConstNull(cx->t_ptr);
  *kernels = constant_array(cx, "kernels", cx->t_ptr, v, nk);
  free(v);
}

/* @run(bufs, ws): the slot table, then every call in order:
   kernels[k](ws, &descs[offset]). Ahead of time the descriptors are a
   third argument (the library computes them for each batch), and run is
   the one global symbol, hidden. */
static void emit_run(Cg *cx, const Calls *c) {
  cg_shard_use(cx, 0);
  LLVMValueRef descs, pairs, kernels;
  emit_tables(cx, c, &descs, &pairs, &kernels);
  bool aot = cx->opts && cx->opts->aot;
  LLVMTypeRef params[3] = {cx->t_ptr, cx->t_ptr, cx->t_ptr};
  LLVMTypeRef kernel_t = LLVMFunctionType(cx->t_void, params, 2, 0);
  const char *name = cx->opts && cx->opts->run_name ? cx->opts->run_name : "run";
  LLVMValueRef run =
      LLVMAddFunction(cx->mod, name, LLVMFunctionType(cx->t_void, params, aot ? 3 : 2, 0));
  cg_set_fn_attr(cx, run, "nounwind");
  if (aot) {
    LLVMSetVisibility(run, LLVMHiddenVisibility);
    descs = LLVMGetParam(run, 2);
  }
  cx->fn = run;
  LLVMPositionBuilderAtEnd(cx->b, LLVMAppendBasicBlockInContext(cx->ctx, run, "entry"));
  LLVMValueRef bufs = LLVMGetParam(run, 0), ws = LLVMGetParam(run, 1);
  if (cx->plan->nslots > 0)
    LLVMBuildMemCpy(cx->b, cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_HEADER)), 8, bufs, 8,
                    cg_i64(cx, 8 * (int64_t)cx->plan->nslots));
  bool profile = cx->opts && cx->opts->profile && !aot;
  LLVMTypeRef mark_p = cx->t_i64;
  LLVMValueRef mark = profile ? cg_function(cx, "rt_profile_mark", cx->t_void, &mark_p, 1) : NULL;
  if (profile) cg_call(cx, mark, (LLVMValueRef[]){cg_i64(cx, -1)}, 1);
  if (c->n > 0) {
    CgFor l;
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), cg_i64(cx, c->n), cg_i64(cx, 1));
    LLVMValueRef at = LLVMBuildNSWMul(cx->b, l.iv, cg_i64(cx, 2), "");
    LLVMValueRef k = LLVMBuildZExt(cx->b, cg_load(cx, cx->t_i32, pairs, at), cx->t_i64, "");
    LLVMValueRef off = LLVMBuildZExt(
        cx->b, cg_load(cx, cx->t_i32, pairs, LLVMBuildNSWAdd(cx->b, at, cg_i64(cx, 1), "")),
        cx->t_i64, "");
    LLVMValueRef fn = cg_load(cx, cx->t_ptr, kernels, k);
    LLVMValueRef args[2] = {ws, cg_gep(cx, cx->t_i64, descs, off)};
    LLVMBuildCall2(cx->b, kernel_t, fn, args, 2, "");
    if (profile) cg_call(cx, mark, &l.iv, 1);
    cg_for_end(cx, &l);
  }
  LLVMBuildRetVoid(cx->b);
}

/* Every defined function asks the loop vectorizer for the target's
   vector width. LLVM's tuning for Intel's AVX-512 cores prefers 256-bit
   vectors in the loops it vectorizes (the elementwise kernels, reductions
   and matmul epilogues), where the hand-written kernels use 512: on a
   Xeon with AVX-512 (Sapphire Rapids class, 2 threads) gpt's inference
   went 8.7-9.1 -> 8.1-8.3 ms, bert_cls's 3.4-3.6 -> 3.1-3.4, seed_net's
   training step 3.5 -> 2.8 us (its epilogues over rows of 10 and 20 get a
   vector remainder loop). */
static void prefer_target_width(Cg *cx) {
  char bits[8];
  snprintf(bits, sizeof bits, "%d", cx->tgt->vector_bytes * 8);
  for (int k = 0; k < cx->nshards; k++) {
    LLVMContextRef ctx = LLVMGetModuleContext(cx->shards[k].mod);
    LLVMAttributeRef a = LLVMCreateStringAttribute(ctx, "prefer-vector-width", 19, bits,
                                                   (unsigned)strlen(bits));
    for (LLVMValueRef f = LLVMGetFirstFunction(cx->shards[k].mod); f; f = LLVMGetNextFunction(f))
      if (LLVMCountBasicBlocks(f) > 0)
        LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, a);
  }
}

void cg_module_build(Cg *cx) {
  const IrGraph *g = cx->g;
  cx->cache = cache_new();
  cg_shard_use(cx, 0);
  Calls calls = {0};
  cx->calls = &calls;
  for (uint32_t id = 0; id < g->nnodes; id++) {
    if (cg_group_multi(cx->plan, id)) {
      if (cx->plan->lead[id] == id)
        cg_group_lower(cx, id, add_node_call);
    } else if (needs_kernel(cx, id)) {
      cg_node_lower(cx, id, add_node_call);
    }
  }
  call_copies(cx);
  cx->ncalls = calls.n;
  emit_run(cx, &calls);
  prefer_target_width(cx);
  cx->calls = NULL;
  calls_move(&calls, cx->tables);
  if (cx->known)
    name_made_functions(cx);
  cache_free(cx->cache);
  cx->cache = NULL;
}
