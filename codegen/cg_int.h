/* cg_int.h -- declarations shared by the codegen files, never included
   from outside codegen/: the buffer plan, the target's kernel shape, the
   lowering context and its LLVM helpers. One section per source file. */
#ifndef CG_INT_H
#define CG_INT_H

#include <llvm-c/Core.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

#include "cg.h"

/* ---- the workspace ------------------------------------------------------
   One allocation per program: a header read and written by generated code,
   the pointer table, then the planned buffers and constants. The pointer
   table holds every buffer a kernel can be handed: the caller's slots
   first (@run copies bufs there), then the workspace buffers of every node
   and the matmul scratch areas (written once when the program is made);
   descriptors name buffers by their entry. */
enum {
  CG_WS_POOL = 0,       /* RtPool * for parallel matmul (NULL = run inline) */
  CG_WS_ERR_NODE = 8,   /* i32: id + 1 of the first node whose index failed */
  CG_WS_ERR_VALUE = 16, /* i64: the index it saw */
  CG_WS_PART_SYNC = 24, /* RtPartSync * of a split program's copies (NULL: whole) */
  CG_WS_PART_INDEX = 32,/* i64: this copy's part */
  CG_WS_PARAMS_GEN = 40,/* i64: cg_program_params_changed's count (stable_params) */
  CG_WS_HEADER = 64     /* the pointer table starts here */
};
#define CG_ALIGN 64

/* ---- cg_plan.c: where every node's value lives ---------------------------- */
typedef enum {
  CG_LOC_NONE,  /* empty tensor, or a matmul its transpose computes: no storage, no kernel */
  CG_LOC_SLOT,  /* a caller buffer: input, param, or the first output of a node */
  CG_LOC_WORK,  /* the workspace at `offset` */
  CG_LOC_CONST, /* the workspace at `offset`, written once when the program is made */
  CG_LOC_ALIAS  /* the storage of node `alias` (a reshape, no copy) */
} CgLocKind;

typedef struct CgLoc {
  CgLocKind kind;
  int slot;        /* CG_LOC_SLOT */
  int64_t offset;  /* CG_LOC_WORK, CG_LOC_CONST: byte offset in the workspace */
  int64_t offset1; /* ... plus offset1 per unit of the batch dim (aot plans) */
  IrRef alias;     /* CG_LOC_ALIAS: a node whose kind is not ALIAS */
  int64_t scratch; /* byte offset of the node's scratch (matmul packing) */
  int64_t scratch1; /* ... plus scratch1 per unit of the batch dim */
  int64_t packed;   /* stable params: byte offset of a product's packed B, its
                       first CG_ALIGN bytes the param pointer and params
                       generation it was packed from (0: not packed ahead) */
  bool product;    /* a 2-D transpose that computes its operand, a matmul
                      left CG_LOC_NONE, as the transposed product; or a sum
                      over the batch that computes its matmul operand summed
                      (cg_matmul_sums_batch) */
} CgLoc;

/* An output that is filled by a copy after every node ran: the node lives
   elsewhere (a source, or the home slot of an earlier output). */
typedef struct CgCopy {
  int slot;
  IrRef node;
} CgCopy;

typedef struct CgTarget CgTarget;
typedef struct CgKnown CgKnown;
typedef struct CgBuild CgBuild;

/* The program as data (cg_module.c): every call's descriptor back to back,
   the calls as (kernel number, word offset) pairs, and the key of each
   kernel number. */
typedef struct CgTables {
  int64_t *words;
  int nwords;
  int32_t *pairs;
  int ncalls;
  char **keys;
  int nkeys;
} CgTables;


typedef struct CgPlan {
  int nslots;
  int ninputs;       /* slots [0, ninputs) are INPUT and PARAM nodes */
  int64_t heap_base; /* first planned byte, after the header and pointer table */
  int64_t const_end; /* the constants lie in [heap_base, const_end); JIT plans only */
  IrRef *slot_node;  /* [nslots] */
  CgLoc *loc;        /* [g->nnodes] */
  CgCopy *copies;    /* output slots filled by a copy */
  int ncopies;
  int *result_slot;  /* [nouts]: where output k's value is after a run: its own
                        slot, or its param's for an update computed in place */
  int64_t workspace_bytes;
  int64_t workspace_bytes1; /* per unit of the batch dim (aot plans) */
  int64_t naive_bytes;
  /* Kernel groups (cg_fuse.c): each node's group is run by one call at
     its last member, lead[id] (id itself when alone); gprev links the
     members from the last back (IR_NONE ends). read_outside: a node read
     by another group or an output (a member that is not gets no buffer). */
  IrRef *lead;
  IrRef *gprev;
  bool *read_outside;
} CgPlan;

int cg_dtype_size(IrDtype t);
int64_t cg_node_bytes(const IrNode *n);
/* Fills plan for g; scratch sizes come from cg_matmul_scratch_bytes. */
void cg_plan_build(CgPlan *plan, const IrGraph *g, const CgTarget *t);
/* The pointer table: its size, the entry of a node's storage and of a
   matmul's scratch, and filling its workspace entries. */
int64_t cg_plan_table_entries(const CgPlan *p, const IrGraph *g);
int64_t cg_plan_entry(const CgPlan *p, const IrGraph *g, IrRef id);
int64_t cg_plan_scratch_entry(const CgPlan *p, const IrGraph *g, IrRef id);
void cg_plan_fill_table(const CgPlan *p, const IrGraph *g, void *ws);
/* Bytes of node id's B packed ahead (stable params; 0: packed per run). */
int64_t cg_matmul_packed_bytes(const CgTarget *t, const CgPlan *p, const IrGraph *g, IrRef id);
/* Node id has matmul scratch (a matmul, grouped or not, or a product). */
bool cg_plan_needs_scratch(const CgPlan *p, const IrGraph *g, IrRef id);
void cg_plan_free(CgPlan *plan);

/* ---- cg_target.c: the machine the kernels are shaped for ------------------- */
struct CgTarget {
  int vector_bytes;                  /* 16, 32 or 64 */
  int threads;                       /* parallel parts for matmul (>= 1) */
  int gemm_mr;                       /* microkernel rows */
  int gemm_nv;                       /* microkernel vectors per row: NR = nv * lanes */
  int64_t gemm_mc, gemm_kc, gemm_nc; /* cache blocks, in elements */
  /* aot: the graph's batch sym (-1: none): buffer sizes and offsets are
     planned linear in it, and matmuls never tile the dims it is in. */
  bool aot;
  int batch_sym;
  bool shared_params; /* CgOptions.shared_params */
  bool stable_params; /* CgOptions.stable_params (never aot) */
};

/* The kernel shape for o's CPU (and initializes LLVM's native target). */
bool cg_target_choose(const CgOptions *o, CgTarget *t, McDiag *d);
/* A new target machine for o's CPU and optimization level. */
LLVMTargetMachineRef cg_target_machine(const CgOptions *o, McDiag *d);

/* ---- cg_module.c: the lowering context ------------------------------------
   The functions of a program are spread over shards, one module each in
   its own thread-safe context, so the shards can be optimized and compiled
   to machine code in parallel; calls between shards go by name. The Cg
   fields ctx .. t_ptr always describe the current shard. */
typedef struct CgKernelCache CgKernelCache;

typedef struct CgShard {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  int64_t weight; /* instructions emitted, for balancing */
} CgShard;

typedef struct Cg {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
  const IrGraph *g;
  const CgPlan *plan;
  const CgTarget *tgt;
  LLVMValueRef fn; /* the function being emitted */
  CgShard *shards;
  int nshards, cur; /* cur: the shard being emitted into */
  CgKernelCache *cache;
  int nkernels;
  int ncalls; /* kernel calls per run */
  /* The kernel being emitted: its decoded arguments (out, in..., ws,
     scratch, extents...) and the alias scopes of its nbufs buffers (out
     and the operands), which never overlap. */
  LLVMValueRef *kargs;
  int nkargs, nbufs;
  LLVMMetadataRef *scopes;
  LLVMValueRef kdesc; /* the kernel's descriptor parameter */
  void *calls;        /* cg_module.c's call table being built */
  CgTables *tables;   /* where cg_module_build leaves the call table */
  const CgOptions *opts;
  const CgKnown *known; /* NULL: every function is made here */
  CgBuild *build;       /* where known builds list what they made */
  int interleave;       /* > 1: loops ended now ask the vectorizer for this
                           many vectors in flight (cg_for_end) */
} Cg;

/* Builds the program of g into the shards (whose modules the caller
   created); @run and the call table are in shard 0. */
void cg_module_build(Cg *cx);
/* Makes shard k current (types, module, builder). */
void cg_shard_use(Cg *cx, int k);
/* Switches to shard k to emit another function there; cg_shard_leave
   returns to the function and block that were being emitted. */
typedef struct CgSave {
  int shard;
  LLVMValueRef fn;
  LLVMBasicBlockRef bb;
} CgSave;
CgSave cg_shard_enter(Cg *cx, int k);
void cg_shard_leave(Cg *cx, CgSave s);
/* The shard that takes the next function: the least loaded. */
int cg_shard_pick(const Cg *cx);
/* Function `name` of shard `home` as seen from the current shard: itself,
   or a declaration of the same type. */
LLVMValueRef cg_shard_ref(Cg *cx, int home, LLVMValueRef fn);
/* Linkage for functions: internal with one shard, else visible to the
   other shards' objects. */
void cg_set_local(Cg *cx, LLVMValueRef fn);
/* Adds fn's size to the current shard's load. */
void cg_shard_charge(Cg *cx, LLVMValueRef fn);
/* The function make(cx, arg) emits, made once per key in the least loaded
   shard; returns a reference to it from the current shard. */
typedef LLVMValueRef (*CgMakeFn)(Cg *cx, const void *arg);
LLVMValueRef cg_shared_function(Cg *cx, const char *key, CgMakeFn make, const void *arg);

/* A kernel: `void name(ptr ws, ptr desc)` in the current shard. Its
   arguments (cg_karg: out, in_0 .. in_{nin-1}, ws, scratch (or null), then
   nextra extents) are decoded from the descriptor at entry; the builder is
   after that on return. */
LLVMValueRef cg_kernel_begin(Cg *cx, const char *name, int nin, int nextra, bool scratch);
/* Decodes the kernel's arguments again from ws and desc at the builder
   (in another function emitted for the kernel, e.g. a parallel task). */
void cg_kernel_decode(Cg *cx, LLVMValueRef ws, LLVMValueRef desc, bool scratch);
void cg_kernel_end(Cg *cx);
LLVMValueRef cg_karg(Cg *cx, int i);
LLVMValueRef cg_kernel_node(Cg *cx); /* i64: the node of the call */
/* A pointer to the call's extents (i64 each). */
LLVMValueRef cg_kernel_extents(Cg *cx);
/* Marks a memory access of the kernel as touching buffer a (and b, or -1)
   and no other buffer. cg_load and cg_store do it by themselves when the
   base is one of the kernel's buffers. */
void cg_tag(Cg *cx, LLVMValueRef access, int a, int b);

/* ---- cg_compile.c: modules and machine code -------------------------------- */
#define CG_MAX_SHARDS 8

/* One compilation unit: a shard's module and what compiling it produced. */
typedef struct CgUnit {
  LLVMOrcThreadSafeContextRef tsc;
  LLVMModuleRef mod;
  LLVMTargetMachineRef tm;
  LLVMMemoryBufferRef obj; /* machine code, when built with objects */
  char *error;             /* what failed (heap), for the calling thread to report */
  int opt_level;
  bool optimize;
  bool want_object;
} CgUnit;

/* Functions an earlier program compiled into the same JIT (cg_jit.c):
   find(key) gives the symbol and type ("v(pp)": return then parameter
   kinds: v void, p ptr, b i1, c i8, i i32, l i64) of the function made for
   a key, or NULL. A build that has one declares those instead of making
   them again, gives the functions it makes names no other program uses
   (prefix), leaves them visible to later programs, and lists them in
   CgBuild.made for the JIT to record once they are linked. */
struct CgKnown {
  const char *(*find)(void *ctx, const char *key, const char **type);
  void *ctx;
  const char *prefix; /* e.g. "p12_" */
};

typedef struct CgMade {
  char *key, *name, *type;
} CgMade;

struct CgBuild {
  CgUnit shards[CG_MAX_SHARDS];
  int nshards;
  CgTarget tgt;
  CgPlan plan;
  int nkernels;      /* kernels made by this build */
  int ncalls;        /* kernel calls per run */
  CgTables tables;
  CgMade *made;      /* with a CgKnown: the shared functions this build made */
  int nmade;
};

typedef enum {
  CG_BUILD_LOWER,   /* lowered modules, not optimized */
  CG_BUILD_MODULE,  /* optimized modules */
  CG_BUILD_OBJECTS  /* optimized modules and their machine code */
} CgBuildMode;

/* Verifies g, plans it, lowers it into at most max_shards shards (one
   when o->aot) and, by mode, optimizes them (in parallel) and makes
   machine code. bd is filled even on failure; release it with
   cg_build_fini. */
bool cg_build(const IrGraph *g, const CgOptions *o, const CgKnown *known, CgBuild *bd,
              int max_shards, CgBuildMode mode, McDiag *d);
void cg_build_fini(CgBuild *bd);
/* Some kernel of the build runs in parts on the thread pool. */
bool cg_build_uses_pool(const IrGraph *g, const CgBuild *bd);

/* ---- cg_loop.c: LLVM helpers ---------------------------------------------- */
LLVMTypeRef cg_type(Cg *cx, IrDtype t);
LLVMValueRef cg_i64(Cg *cx, int64_t v);
LLVMValueRef cg_param(Cg *cx, int i);
/* &base[idx] for elements of type ty. */
LLVMValueRef cg_gep(Cg *cx, LLVMTypeRef ty, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cg_load(Cg *cx, LLVMTypeRef ty, LLVMValueRef base, LLVMValueRef idx);
void cg_store(Cg *cx, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cg_min(Cg *cx, LLVMValueRef a, LLVMValueRef b); /* signed i64 */
LLVMValueRef cg_max(Cg *cx, LLVMValueRef a, LLVMValueRef b); /* signed i64 */
/* Calls an overloaded LLVM intrinsic, e.g. "llvm.exp" over {float}. */
LLVMValueRef cg_intrinsic(Cg *cx, const char *name, LLVMTypeRef *over, int nover,
                          LLVMValueRef *args, int nargs);
/* Calls a libm function of one or two arguments: name is the double
   version ("erf"); the float version ("erff") is used for float. */
LLVMValueRef cg_libm(Cg *cx, const char *name, LLVMValueRef a, LLVMValueRef b);
/* A function in the module (declared when absent). */
LLVMValueRef cg_function(Cg *cx, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                         int nparams);
LLVMTypeRef cg_fn_type(Cg *cx, LLVMValueRef fn);
LLVMValueRef cg_call(Cg *cx, LLVMValueRef fn, LLVMValueRef *args, int nargs);
void cg_set_noalias(Cg *cx, LLVMValueRef fn, int param);
void cg_set_fn_attr(Cg *cx, LLVMValueRef fn, const char *attr);
LLVMBasicBlockRef cg_block(Cg *cx, const char *name);

/* for (iv = start; iv < end; iv += step): between cg_for_begin and
   cg_for_end the builder is in the body and l->iv is the counter. */
typedef struct CgFor {
  LLVMBasicBlockRef pre, body, exit;
  LLVMValueRef iv, end, step;
} CgFor;
void cg_for_begin(Cg *cx, CgFor *l, LLVMValueRef start, LLVMValueRef end, LLVMValueRef step);
/* Interleave count for the vector loops of a kernel computing op (or 1):
   see cg_loop.c. */
int cg_op_interleave(IrOp op);
/* The same when start < end is known: no guard, so values computed in the
   body (the last cg_for_carry_next) are usable after the loop. */
void cg_for_begin_nonempty(Cg *cx, CgFor *l, LLVMValueRef start, LLVMValueRef end,
                           LLVMValueRef step);
/* A loop-carried value: right after cg_for_begin*, cg_for_carry gives the
   phi starting at init; just before cg_for_end, cg_for_carry_next sets its
   value for the next iteration. */
LLVMValueRef cg_for_carry(Cg *cx, CgFor *l, LLVMValueRef init);
void cg_for_carry_next(Cg *cx, LLVMValueRef phi, LLVMValueRef next);
void cg_for_end(Cg *cx, CgFor *l);
/* The same for a loop the loop vectorizer must leave alone: one whose
   vectors would run across strided memory (gathers, scatters), where the
   scalar body (or the SLP vectorizer's work on it) is faster. */
void cg_for_end_unvectorized(Cg *cx, CgFor *l);
/* Nor unrolled: its body stays one element per iteration, so the SLP
   vectorizer finds no group of strided loads to make a gather of. */
void cg_for_end_scalar(Cg *cx, CgFor *l);
/* if (cond) { ... } [else { ... }]: cg_if_begin positions in the then
   block; cg_if_else switches to the else block; cg_if_end joins. */
typedef struct CgIf {
  LLVMBasicBlockRef then_bb, else_bb, join;
} CgIf;
void cg_if_begin(Cg *cx, CgIf *s, LLVMValueRef cond);
void cg_if_else(Cg *cx, CgIf *s);
void cg_if_end(Cg *cx, CgIf *s);

/* Element conversions through a float "compute type" ct (float/double):
   loads widen to ct, results narrow with the evaluator's rules (i32
   truncates and saturates, bool is x != 0). */
LLVMValueRef cg_to_compute(Cg *cx, LLVMValueRef v, IrDtype from, LLVMTypeRef ct);
LLVMValueRef cg_from_compute(Cg *cx, LLVMValueRef v, LLVMTypeRef ct, IrDtype to);

/* A strided walk over an index space: axes that every array steps through
   contiguously are merged, size-1 axes dropped (as in the evaluator). The
   emitters read extents and strides as LLVM values (vdims, vst): constants
   specialized for one node, or runtime arguments for a kernel that nodes of
   different sizes share. */
#define CG_WALK_ARRAYS 18 /* a kernel group's buffers and its reduction's result */
typedef struct CgWalk {
  int rank; /* >= 1 after cg_walk_coalesce */
  int64_t dims[IR_MAX_RANK];
  int64_t st[CG_WALK_ARRAYS][IR_MAX_RANK]; /* element strides */
  LLVMValueRef vdims[IR_MAX_RANK];
  LLVMValueRef vst[CG_WALK_ARRAYS][IR_MAX_RANK];
} CgWalk;
void cg_walk_init(CgWalk *w, const IrShape *s);
void cg_walk_coalesce(CgWalk *w);
void cg_contiguous_strides(const IrShape *s, int64_t *st);
/* Strides that read operand shape `x` at the index of a rank-`rank` result
   it broadcasts to (missing and size-1 axes step 0). */
void cg_broadcast_strides(const IrShape *x, int rank, int64_t *st);
/* vdims and vst as constants. */
void cg_walk_constants(Cg *cx, CgWalk *w);
/* vdims from the kernel's arguments first_arg.. (one per axis), and
   every array's strides from them: 0 where the array's constant stride is
   0, else the product of the later extents it moves along (what every
   contiguous or broadcast array has after merging). */
void cg_walk_runtime(Cg *cx, CgWalk *w, int first_arg);
/* Bit i set: array a moves along axis i. */
uint32_t cg_walk_mask(const CgWalk *w, int a);
/* An L-lane mask: lane l is set where first + l < n (i64 values). */
LLVMValueRef cg_lane_mask(Cg *cx, int L, LLVMValueRef first, LLVMValueRef n);
/* Vector vt at base[idx] (element type of vt), lanes off the mask read as
   zero and touch no memory; align in bytes. */
LLVMValueRef cg_masked_load(Cg *cx, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx,
                            LLVMValueRef mask, unsigned align);
/* The same, the lanes off the mask taken from rest. */
LLVMValueRef cg_masked_load_or(Cg *cx, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx,
                               LLVMValueRef mask, LLVMValueRef rest, unsigned align);
/* Stores the lanes of v that the mask sets at base[idx] (element et). */
void cg_masked_store(Cg *cx, LLVMValueRef v, LLVMTypeRef et, LLVMValueRef base, LLVMValueRef idx,
                     LLVMValueRef mask, unsigned align);
/* base + i * stride, folding strides 0 and 1. */
LLVMValueRef cg_index_at(Cg *cx, LLVMValueRef base, LLVMValueRef i, LLVMValueRef stride);
/* Emits the loops of every axis but the last and calls row() in the
   innermost one with each array's element offset at the row's start. */
typedef void (*CgRowFn)(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off);
void cg_walk_emit(Cg *cx, const CgWalk *w, CgRowFn row, void *ctx);

/* ---- cg_scalar.c: ir_scalar.def in LLVM ------------------------------------ */
/* The scalar of ELEM op (or REDUCE combiner) op on a, b, c of type ct. */
LLVMValueRef cg_scalar(Cg *cx, IrOp op, LLVMTypeRef ct, LLVMValueRef a, LLVMValueRef b,
                       LLVMValueRef c);

/* ---- cg_math.c: vectorizable float exp, log, erf, erfc, tanh ---------------- */
LLVMValueRef cg_math_exp(Cg *cx, LLVMValueRef x);
LLVMValueRef cg_math_log(Cg *cx, LLVMValueRef x);
LLVMValueRef cg_math_erf(Cg *cx, LLVMValueRef x);
LLVMValueRef cg_math_erfc(Cg *cx, LLVMValueRef x);
LLVMValueRef cg_math_gelu_grad(Cg *cx, LLVMValueRef x);
LLVMValueRef cg_math_tanh(Cg *cx, LLVMValueRef x);

/* ---- cg_kernel.c: nodes to calls of shared kernels -------------------------
   A node lowers to one or more calls. A call names its kernel by a key
   (everything the kernel's code depends on: nodes with equal keys share
   the kernel), its buffers as pointer-table entries (the result, up to
   three operands, the node's matmul scratch), and its extents, which the
   kernel reads from the call's descriptor. */
#define CG_MAX_EXTENTS 48
typedef struct CgCall CgCall;
typedef void (*CgEmitFn)(Cg *cx, const CgCall *c);
struct CgCall {
  char key[2048]; /* fits a kernel group of CG_GROUP_MAX_MEMBERS members */
  const char *kind; /* for the kernel's name: "add", "move", ... */
  CgEmitFn emit;    /* emits the kernel body from what the key says */
  IrRef node;       /* the node lowered */
  int64_t out;      /* pointer-table entry of the result */
  int64_t in[20];   /* ... of the operands (a kernel group: its other buffers) */
  int nin;
  bool scratch; /* the node's matmul scratch is passed */
  int n;        /* extents */
  int64_t ext[CG_MAX_EXTENTS];
  int esz, rank, cls[2]; /* move: element size, rank, innermost stride classes */
  bool add_into;         /* move: dst += src in the node's float dtype (fold) */
  int taps_rank;         /* fold: window axes (its kernel taps' extents) */
  int dtype, nbaxes;     /* scatter_add, matmul */
  bool parallel;         /* elementwise: runs in parts on the pool */
  int split_axis;        /* parallel: the extent the parts split (0 but for a
                            group folding its outer axes, cg_fuse.c) */
};
typedef void (*CgAddCall)(Cg *cx, const CgCall *c);
/* Appends to the call's key (truncating at its size). */
void cg_key_printf(CgCall *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cg_node_lower(Cg *cx, IrRef id, CgAddCall add);
/* A call copying `bytes` from node's storage to table entry dst_entry. */
void cg_copy_call(Cg *cx, CgCall *c, IrRef node, int64_t dst_entry, int64_t bytes);
/* A kernel body that c->parallel runs in parts on the pool, split along
   extent c->split_axis ([begin, end) of it), else whole (begin and end
   NULL). */
typedef void (*CgPartWalk)(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end);
void cg_emit_in_parts(Cg *cx, const CgCall *c, CgPartWalk walk);
/* Elementwise node id is big enough to run in parts on the matmul pool. */
bool cg_elem_parallel(const CgTarget *t, const IrGraph *g, IrRef id);
/* Reduction node id is big enough to run in parts, along an outer axis its
   result moves along. */
bool cg_reduce_parallel(const CgTarget *t, const IrGraph *g, IrRef id);
/* Movement node id may have copies that run in parts (a program holding
   one needs the pool; whether each copy does is decided when lowering). */
bool cg_move_may_run_in_parts(const CgTarget *t, const IrGraph *g, IrRef id);
/* Zeroing node id's storage runs in parts. */
bool cg_zero_parallel(const CgTarget *t, const IrGraph *g, IrRef id);
/* Calls add with a call zeroing node id's storage. */
void cg_zero_call(Cg *cx, IrRef id, CgAddCall add);

/* ---- cg_fuse.c: kernel groups -------------------------------------------------- */
#define CG_GROUP_MAX_MEMBERS 32
#define CG_GROUP_MAX_BUFS 16
#define CG_EPILOGUE_MAX 8 /* elementwise ops after a matmul */
typedef struct CgGroup {
  IrRef m[CG_GROUP_MAX_MEMBERS]; /* members in id order */
  int level[CG_GROUP_MAX_MEMBERS]; /* 0 before the reduction, 1 it, 2 after it */
  int nm;
  IrRef buf[CG_GROUP_MAX_BUFS]; /* stored members [0, nstore), then outside operands */
  int nbuf, nstore;
  IrRef reduce, matmul; /* the group's reduction or matmul (first member), or IR_NONE */
  IrShape space;        /* the index space walked (a reduction's: its operand's) */
} CgGroup;
/* Fills p->lead, gprev and read_outside from the IrNode.kernel
   annotations, keeping the groups one kernel can run. */
void cg_groups_plan(CgPlan *p, const IrGraph *g);
bool cg_group_multi(const CgPlan *p, IrRef id);
/* The group whose last member is lead; false when one kernel cannot run it. */
bool cg_group_describe(const CgPlan *p, const IrGraph *g, IrRef lead, CgGroup *G);
/* The call of the group whose last member is lead. */
void cg_group_lower(Cg *cx, IrRef lead, CgAddCall add);

/* ---- cg_matmul.c: packed, blocked, multithreaded GEMM ---------------------- */
/* id (here and below): a matmul, or a transpose or batch sum computing its
   matmul operand (CgLoc.product). */
int64_t cg_matmul_scratch_bytes(const CgTarget *t, const IrGraph *g, IrRef id);
/* How many parallel parts the node's work is split into (1 = inline). */
int64_t cg_matmul_parts(const CgTarget *t, const IrGraph *g, IrRef id);
void cg_matmul_lower(Cg *cx, IrRef id, CgAddCall add);
/* A matmul group: the product, then its epilogue on each finished block. */
void cg_matmul_lower_group(Cg *cx, const CgGroup *G, CgAddCall add);
/* Matmul id reads a transposed operand (the last two axes swapped, batch
   axes in place) through its packing: the plan then aliases the transpose
   to its source instead of copying it. */
bool cg_matmul_can_fold(const IrGraph *g, IrRef id);
/* Matmul id reads its B, a convolution's unfolded windows, from the image
   (the unfold under its reshape is then an alias of the image). */
bool cg_matmul_reads_windows(const CgTarget *t, const IrGraph *g, IrRef id);
/* Permute n swaps its last two axes and keeps the others in place. */
bool cg_swaps_last_two(const IrNode *n);
/* Operand k of matmul id is such a folded transpose. */
bool cg_matmul_operand_folded(const CgPlan *p, const IrGraph *g, IrRef id, int k);
/* Sum id over axis 0 of a batched matmul can compute the product itself,
   adding the batches along k (a convolution's filter gradient). */
bool cg_matmul_sums_batch(const IrGraph *g, IrRef id);
/* Pad node pad writes its rows split in phases (even columns, then odd
   ones): its only readers are convolutions two apart along a row, which
   then read each phase as windows one apart. */
bool cg_pad_splits_phases(const CgTarget *t, const IrGraph *g, IrRef pad);
/* Pad node pad is lowered plane by plane (of its last two axes only). */
bool cg_pad_by_planes(const IrGraph *g, IrRef pad);
/* The unfold that node id (a convolution's matmul, or a batch sum of a
   filter gradient) reads in place from its images, or IR_NONE. */
IrRef cg_matmul_window_unfold(const CgTarget *t, const IrGraph *g, IrRef id);

/* ---- cg_perfmap.c: names for perf (MODELC_PERF_MAP) ---- */
typedef struct CgPerfObject CgPerfObject;
/* Finds a linked symbol's address (false: not found). */
typedef bool (*CgPerfLookup)(void *arg, const char *name, uint64_t *addr);
bool cg_perf_map_wanted(void);
/* The functions of an object file about to be linked (NULL if unreadable). */
CgPerfObject *cg_perf_read(LLVMMemoryBufferRef obj);
/* Once linked: appends them to /tmp/perf-PID.map and frees po; returns
   how many it wrote. */
int cg_perf_write(CgPerfObject *po, CgPerfLookup lookup, void *arg);
void cg_perf_free(CgPerfObject *po); /* unwritten (NULL: nothing) */

/* ---- cg_split.c ------------------------------------------------------------ */
/* Slot node `full` of a program at the full batch and its twin in the
   program at batch/parts: same dtype, dims equal or (the batch's) parts
   times larger, the batch in dim 0 alone, an input's dim 0 the batch
   itself. *rows: the slot holds batch rows. */
bool cg_split_slot_pair(const IrNode *full, const IrNode *slice, int bsym, int parts, bool *rows);

#endif
