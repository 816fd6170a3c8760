/* cg_module.c -- lowers a graph to one LLVM module: an entry
   `void @run(ptr %bufs, ptr %ws)` that calls one internal kernel per node
   in id order, with each node's storage from the buffer plan (a caller
   slot, the workspace, a module constant, or an alias). Nodes that are
   equal up to where their data lives (same op, dtypes, shapes and
   attributes, see cg_kernel_key) share one kernel, so repeated layers
   compile once. */
#include <stdlib.h>
#include <string.h>

#include "cg_int.h"

/* ---- kernel cache: key string -> function ------------------------------------ */
struct CgKernelCache {
  char **keys;
  LLVMValueRef *fns;
  uint32_t cap, n;   /* open addressing, cap a power of two */
};

static CgKernelCache *cache_new(void) {
  CgKernelCache *c = mc_xcalloc(1, sizeof *c);
  c->cap = 256;
  c->keys = mc_xcalloc(c->cap, sizeof(char *));
  c->fns = mc_xcalloc(c->cap, sizeof(LLVMValueRef));
  return c;
}

static void cache_free(CgKernelCache *c) {
  for (uint32_t i = 0; i < c->cap; i++) free(c->keys[i]);
  free(c->keys);
  free(c->fns);
  free(c);
}

static uint32_t cache_slot(const CgKernelCache *c, const char *key) {
  uint32_t i = (uint32_t)mc_hash_str(key) & (c->cap - 1);
  while (c->keys[i] && strcmp(c->keys[i], key) != 0) i = (i + 1) & (c->cap - 1);
  return i;
}

static void cache_put(CgKernelCache *c, const char *key, LLVMValueRef fn) {
  if (2 * (c->n + 1) > c->cap) {
    CgKernelCache old = *c;
    c->cap *= 2;
    c->n = 0;
    c->keys = mc_xcalloc(c->cap, sizeof(char *));
    c->fns = mc_xcalloc(c->cap, sizeof(LLVMValueRef));
    for (uint32_t i = 0; i < old.cap; i++)
      if (old.keys[i]) {
        uint32_t j = cache_slot(c, old.keys[i]);
        c->keys[j] = old.keys[i];
        c->fns[j] = old.fns[i];
        c->n++;
      }
    free(old.keys);
    free(old.fns);
  }
  uint32_t i = cache_slot(c, key);
  c->keys[i] = mc_xstrdup(key);
  c->fns[i] = fn;
  c->n++;
}

/* ---- kernels ------------------------------------------------------------------- */

LLVMValueRef cg_kernel_begin(Cg *cx, const char *name, int nin) {
  LLVMTypeRef params[IR_MAX_RANK + 64];
  int np = nin + 4;
  LLVMTypeRef *p = np <= (int)MC_COUNTOF(params) ? params : mc_xmalloc((size_t)np * sizeof *p);
  for (int i = 0; i < np; i++) p[i] = i + 1 < np ? cx->t_ptr : cx->t_i64;
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(cx->t_void, p, (unsigned)np, 0));
  if (p != params) free(p);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  cg_set_fn_attr(cx, fn, "nounwind");
  cg_set_fn_attr(cx, fn, "noinline");
  for (int i = 0; i <= nin; i++) cg_set_noalias(cx, fn, i);
  cx->fn = fn;
  LLVMPositionBuilderAtEnd(cx->b, LLVMAppendBasicBlockInContext(cx->ctx, fn, "entry"));
  return fn;
}

void cg_kernel_end(Cg *cx) { LLVMBuildRetVoid(cx->b); }

/* The kernel of node id, emitted unless an equal node already has one. The
   builder and cx->fn are kept. */
static LLVMValueRef kernel_for(Cg *cx, IrRef id, int64_t *len) {
  McStr key;
  mc_str_init(&key);
  cg_kernel_key(cx->g, id, &key, len);
  uint32_t slot = cache_slot(cx->cache, key.s);
  LLVMValueRef fn = cx->cache->fns[slot];
  if (!cx->cache->keys[slot]) {
    LLVMValueRef saved_fn = cx->fn;
    LLVMBasicBlockRef saved_bb = LLVMGetInsertBlock(cx->b);
    const IrNode *n = ir_node(cx->g, id);
    char name[64];
    snprintf(name, sizeof name, "k%u_%s", id, ir_ops[n->op].name);
    fn = cg_kernel_begin(cx, name, n->nsrc);
    cg_kernel_emit(cx, id);
    cg_kernel_end(cx);
    cache_put(cx->cache, key.s, fn);
    cx->nkernels++;
    cx->fn = saved_fn;
    LLVMPositionBuilderAtEnd(cx->b, saved_bb);
  }
  mc_str_free(&key);
  return fn;
}

/* ---- storage --------------------------------------------------------------------- */

static LLVMValueRef const_value(Cg *cx, const IrNode *n) {
  double v = n->attr.value;
  switch ((IrDtype)n->dtype) {
  case IR_F32:
  case IR_F64:
    return LLVMConstReal(cg_type(cx, (IrDtype)n->dtype), v);
  case IR_I32: {
    double t = v != v ? 0.0 : v >= 2147483647.0 ? 2147483647.0 : v <= -2147483648.0 ? -2147483648.0 : v;
    return LLVMConstInt(cx->t_i32, (unsigned long long)(int64_t)t, 1);
  }
  case IR_BOOL:
  case IR_DTYPE_COUNT:
    return LLVMConstInt(cx->t_i8, v != 0.0, 0);
  }
  return NULL;
}

static LLVMValueRef const_global(Cg *cx, IrRef id) {
  const IrNode *n = ir_node(cx->g, id);
  char name[32];
  snprintf(name, sizeof name, "c%u", id);
  LLVMValueRef v = const_value(cx, n);
  LLVMValueRef gv = LLVMAddGlobal(cx->mod, LLVMTypeOf(v), name);
  LLVMSetInitializer(gv, v);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMInternalLinkage);
  LLVMSetAlignment(gv, CG_ALIGN);
  return gv;
}

/* @run is split into parts of a few nodes each, so no value lives across
   hundreds of calls: one huge function makes register allocation slow. A
   part loads the caller's slot pointers it needs when it first uses them. */
#define NODES_PER_PART 24

typedef struct Part {
  LLVMValueRef bufs, ws;
  LLVMValueRef *slots;     /* [nslots] loaded in this part, or NULL */
  LLVMValueRef *consts;    /* [nnodes] module constants, shared by all parts */
} Part;

static LLVMValueRef node_ptr(Cg *cx, Part *pt, IrRef id) {
  const CgLoc *l = &cx->plan->loc[id];
  switch (l->kind) {
  case CG_LOC_NONE:
    return LLVMConstNull(cx->t_ptr);
  case CG_LOC_SLOT:
    if (!pt->slots[l->slot]) pt->slots[l->slot] = cg_load(cx, cx->t_ptr, pt->bufs, cg_i64(cx, l->slot));
    return pt->slots[l->slot];
  case CG_LOC_WORK:
    return cg_gep(cx, cx->t_i8, pt->ws, cg_i64(cx, l->offset));
  case CG_LOC_CONST:
    if (!pt->consts[id]) pt->consts[id] = const_global(cx, id);
    return pt->consts[id];
  case CG_LOC_ALIAS:
    return node_ptr(cx, pt, l->alias);
  }
  return NULL;
}

static LLVMValueRef slot_ptr(Cg *cx, Part *pt, int slot) {
  if (!pt->slots[slot]) pt->slots[slot] = cg_load(cx, cx->t_ptr, pt->bufs, cg_i64(cx, slot));
  return pt->slots[slot];
}

static bool needs_kernel(const Cg *cx, IrRef id) {
  const IrNode *n = ir_node(cx->g, id);
  CgLocKind k = cx->plan->loc[id].kind;
  if (k == CG_LOC_NONE || k == CG_LOC_ALIAS || k == CG_LOC_CONST) return false;
  return n->op != IR_OP_INPUT && n->op != IR_OP_PARAM;
}

static void call_kernel(Cg *cx, Part *pt, IrRef id) {
  const IrNode *n = ir_node(cx->g, id);
  int64_t len;
  LLVMValueRef fn = kernel_for(cx, id, &len);
  int nargs = n->nsrc + 4;
  LLVMValueRef *args = mc_xmalloc((size_t)nargs * sizeof *args);
  args[0] = node_ptr(cx, pt, id);
  for (int k = 0; k < n->nsrc; k++) args[1 + k] = node_ptr(cx, pt, n->src[k]);
  args[n->nsrc + 1] = pt->ws;
  args[n->nsrc + 2] = n->op == IR_OP_MATMUL ? cg_gep(cx, cx->t_i8, pt->ws, cg_i64(cx, cx->plan->loc[id].scratch))
                                            : LLVMConstNull(cx->t_ptr);
  args[n->nsrc + 3] = cg_i64(cx, len);
  cg_call(cx, fn, args, nargs);
  free(args);
}

/* ---- the entry point --------------------------------------------------------------- */

static LLVMValueRef part_begin(Cg *cx, Part *pt, int index) {
  char name[32];
  snprintf(name, sizeof name, "run.%d", index);
  LLVMTypeRef params[2] = {cx->t_ptr, cx->t_ptr};
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(cx->t_void, params, 2, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  cg_set_fn_attr(cx, fn, "nounwind");
  cg_set_fn_attr(cx, fn, "noinline");
  cx->fn = fn;
  LLVMPositionBuilderAtEnd(cx->b, LLVMAppendBasicBlockInContext(cx->ctx, fn, "entry"));
  pt->bufs = LLVMGetParam(fn, 0);
  pt->ws = LLVMGetParam(fn, 1);
  memset(pt->slots, 0, (size_t)(cx->plan->nslots + 1) * sizeof *pt->slots);
  return fn;
}

/* The output copies: nodes that live elsewhere than their output slot. */
static void emit_copies(Cg *cx, Part *pt) {
  const CgPlan *plan = cx->plan;
  for (int i = 0; i < plan->ncopies; i++) {
    const CgCopy *c = &plan->copies[i];
    int64_t bytes = cg_node_bytes(ir_node(cx->g, c->node));
    if (bytes > 0 && plan->loc[c->node].kind != CG_LOC_NONE)
      LLVMBuildMemCpy(cx->b, slot_ptr(cx, pt, c->slot), 1, node_ptr(cx, pt, c->node), 1,
                      cg_i64(cx, bytes));
  }
}

void cg_module_build(Cg *cx) {
  const IrGraph *g = cx->g;
  cx->cache = cache_new();
  Part pt = {.slots = mc_xcalloc((size_t)cx->plan->nslots + 1, sizeof(LLVMValueRef)),
             .consts = mc_xcalloc((size_t)g->nnodes + 1, sizeof(LLVMValueRef))};
  int nparts = 0, cap = 16, in_part = 0;
  LLVMValueRef *parts = mc_xmalloc((size_t)cap * sizeof *parts);
  parts[nparts++] = part_begin(cx, &pt, 0);
  for (uint32_t id = 0; id < g->nnodes; id++) {
    if (!needs_kernel(cx, id)) continue;
    if (in_part++ == NODES_PER_PART) {
      LLVMBuildRetVoid(cx->b);
      if (nparts == cap) parts = mc_xrealloc(parts, (size_t)(cap *= 2) * sizeof *parts);
      parts[nparts] = part_begin(cx, &pt, nparts);
      nparts++;
      in_part = 1;
    }
    call_kernel(cx, &pt, id);
  }
  emit_copies(cx, &pt);
  LLVMBuildRetVoid(cx->b);

  LLVMTypeRef params[2] = {cx->t_ptr, cx->t_ptr};
  LLVMValueRef run = LLVMAddFunction(cx->mod, "run", LLVMFunctionType(cx->t_void, params, 2, 0));
  cg_set_fn_attr(cx, run, "nounwind");
  cg_set_noalias(cx, run, 0);
  cx->fn = run;
  LLVMPositionBuilderAtEnd(cx->b, LLVMAppendBasicBlockInContext(cx->ctx, run, "entry"));
  LLVMValueRef args[2] = {LLVMGetParam(run, 0), LLVMGetParam(run, 1)};
  for (int i = 0; i < nparts; i++) cg_call(cx, parts[i], args, 2);
  LLVMBuildRetVoid(cx->b);
  free(parts);
  free(pt.slots);
  free(pt.consts);
  cache_free(cx->cache);
  cx->cache = NULL;
}
