/* cg.h -- LLVM code generation: compiles an IR graph into native code for
   the host CPU through ORC's LLJIT and runs it on caller-owned buffers. No
   LLVM type appears in this header.

   A compiled program is one entry point over "slots": every INPUT and PARAM
   node in id order, then every graph output in graph order. Each slot is a
   dense row-major buffer owned by the caller, of the node's element count
   and dtype (f32 float, f64 double, i32 int32_t, bool uint8_t). Buffers must
   not overlap. Intermediates live in one workspace the program owns, so one
   program runs one call at a time (several programs may run at once).
   Results match the reference evaluator (ir_eval) within float rounding:
   f32 is computed in float, f64 in double, i32 and bool ops in double with
   the evaluator's conversions. */
#ifndef CG_H
#define CG_H
#include "ir.h"

/* "19.1.7" and the host CPU name LLVM detects, e.g. "znver5". */
const char *cg_llvm_version(void);
void cg_host_cpu(McStr *out);
/* Whether LLVM can compile for CPU `cpu` (NULL or "": the host). */
bool cg_cpu_known(const char *cpu);

/* ---- cg_jit.c: compilation and running ------------------------------------ */
typedef struct CgOptions {
  int opt_level;   /* 2 (default): modelc's kernel pipeline (cg_compile.c);
                      0, 1, 3: LLVM's default<On>; values outside clamp */
  const char *cpu; /* NULL or "" = the host CPU with all its features */
  int threads;     /* threads for matmul and for compiling (the program is
                      split in up to that many modules); <= 0 = all cores */
  int vector_bits; /* 0 = from the CPU; 128, 256 or 512 forces the matmul
                      kernel shape for that vector width (tests) */
  /* Ahead of time (cg_aot.c): one module whose `run_name` takes the
     descriptors as an argument, a buffer plan and matmul tiling linear in
     the graph's batch dim. */
  bool aot;
  const char *run_name; /* NULL = "run" */
  /* JIT only: every kernel call is timed (rt_profile_mark after each), for
     cg_program_profile; costs a clock read per call. */
  bool profile;
  /* Copies of the program run at once, sharing its params
     (cg_jit_compile_split): no update is computed in place. */
  bool shared_params;
  /* JIT only: the params keep their values from run to run (inference,
     an evaluation pass), as TorchScript's frozen graphs assume (not the
     params a model freezes against training: those are attr.frozen). A product
     x @ W (W a param, as a linear layer's) then packs W for its kernels
     once and reuses the packed copy while the param's buffer (its
     address) stays the same; after writing new values into a param's
     buffer, or passing a new buffer that may sit where a freed one was,
     call cg_program_params_changed, or the program computes with the old. */
  bool stable_params;
} CgOptions;

/* The defaults: O2, host CPU, all cores, kernel shape from the CPU. */
CgOptions cg_options_default(void);
/* The threads a program gets with CgOptions.threads <= 0: the online cores. */
int cg_online_cores(void);
/* The vector width, in bits, that code for the host CPU uses by default:
   512 where it has AVX-512F, 256 with AVX2, else 128. Chosen at run time,
   from the CPU the process runs on. */
int cg_host_vector_bits(void);

typedef struct CgProgram CgProgram;

/* Compiles g (which must verify). o may be NULL (defaults). Returns NULL
   after reporting into d. The program does not refer to g afterwards. */
CgProgram *cg_jit_compile(const IrGraph *g, const CgOptions *o, McDiag *d);
/* ---- cg_split.c, cg_jit.c: programs split over batch rows ----------------
   A program whose batch rows never meet can run as `parts` single-thread
   copies, each on its own rows of the batch (rows [k*B/parts,
   (k+1)*B/parts) of every batched input and output; params shared): no
   barrier between kernels and no data crossing cores. What proves it is
   the model built at a second batch (the slice: the batch divided by
   parts, through the front end's -D), compared node by node. */
typedef enum {
  CG_SPLIT_NO,
  CG_SPLIT_ROWS, /* every output batched (inference) */
  CG_SPLIT_SUM,  /* the unbatched outputs (loss, gradients) are the parts' sum */
  CG_SPLIT_MEAN, /* ... their sum weighted by each part's share of the batch */
  CG_SPLIT_SYNC  /* slices made by cg_split_sync: batch-wide statistics are
                    part_sums; the loss and gradients are the parts' sum, an
                    update (a running statistic) is the same in every part */
} CgSplit;
/* True when g's batch rows never meet (row i of every output is computed
   from row i of the batched inputs alone), every output is batched, and
   `other` is g built at another batch with nothing else changed (no
   constant depends on the batch). Dead nodes are not looked at. */
bool cg_split_ok(const IrGraph *g, const IrGraph *other);
/* A forward graph with a loss (train mode) whose rows never meet but in
   the loss, scale * sum(terms) over all axes: its gradient program may run
   split, its loss and gradients the parts' weighted sum. MEAN: scale is
   1/(k * batch); SUM: scale does not change with the batch. */
CgSplit cg_split_grad_ok(const IrGraph *fwd, const IrGraph *other);
/* A forward graph in train mode whose rows meet only in sums over the
   batch axis (a batch norm's statistics) and in the loss, scale *
   sum(terms): its slice (`other`, the model at batch/parts) rebuilt so
   that `parts` copies of it together compute what fwd computes: each of
   those sums followed by a part_sum (the parts' sums added), every scalar
   constant fwd's (a mean divides by the whole batch), the loss each
   part's share. Its gradient program runs split as CG_SPLIT_SYNC. NULL
   when fwd has no such sum or its rows meet otherwise. */
IrGraph *cg_split_sync(const IrGraph *fwd, const IrGraph *other);
/* How a training step of fwd splits over `other`'s rows: cg_split_grad_ok's
   answer, or else CG_SPLIT_SYNC with *synced the slice cg_split_sync made
   (the caller's to free; NULL otherwise). */
CgSplit cg_split_grad(const IrGraph *fwd, const IrGraph *other, IrGraph **synced);
/* Multiply-adds and element writes of g (saturating): below
   CG_SPLIT_MIN_WORK a program is done before a second thread would have
   woken, and splitting it costs more than it saves (seed_net). */
int64_t cg_split_work(const IrGraph *g);
#define CG_SPLIT_MIN_WORK ((int64_t)1 << 22)
#define CG_SPLIT_MIN_WORK_PER_SUM 512 /* gradient programs: work per summed element (cg_jit.c) */
#define CG_SPLIT_MAX_PARTS 64 /* more threads: the program stays whole */
/* Worth running g (after its pipeline) as copies of slice: enough work
   for a second thread and, where the parts' outputs are summed, enough
   work per summed element. cg_jit_compile_split asks it too; callers ask
   first to skip compiling a program they would not use. */
bool cg_split_worth(const IrGraph *g, const IrGraph *slice, CgSplit how);
/* g (the full batch) run as `parts` copies of slice: the same program at
   batch/parts, with the same inputs, params and outputs, built by one
   pipeline from graphs the caller proved splittable with cg_split_ok
   (how = ROWS) or cg_split_grad_ok (SUM, MEAN); the passes may have shaped
   the two apart inside. The program's slots are g's. For small graphs,
   profiles, slice NULL, how NO or interfaces that differ it is
   cg_jit_compile(g). */
CgProgram *cg_jit_compile_split(const IrGraph *g, const IrGraph *slice, int parts, CgSplit how,
                                const CgOptions *o, McDiag *d);
/* Runs the program once. bufs[i] is slot i (may be NULL for an empty
   tensor; bufs itself may be NULL when there are no slots). False, with a
   diagnostic, when a gather or scatter_add index was out of range (its row
   then reads or adds zeros) or a buffer is missing; outputs are still
   written when only an index was bad. */
bool cg_program_run(CgProgram *p, void *const *bufs, McDiag *d);
int cg_program_nslots(const CgProgram *p);
/* The node of slot i: an INPUT or PARAM node, or the output's node. */
IrRef cg_program_slot_node(const CgProgram *p, int i);
/* The slot that holds graph output k's value after a run (k < g->nouts):
   its own slot, nslots - nouts + k, or for an UPDATE output computed in
   place, the slot of the param it updates, whose buffer then holds the new
   value (the output's own slot is not touched and may be NULL). An update
   is computed in place when it is elementwise and runs after every other
   reader of its param; params and optimizer state then change with no
   copy. */
int cg_program_output_slot(const CgProgram *p, int k);
void cg_program_free(CgProgram *p);
double cg_program_compile_seconds(const CgProgram *p);
/* The params' values changed: a program compiled with stable_params packs
   them again on its next run (a no-op for other programs). */
void cg_program_params_changed(CgProgram *p);

/* What a compilation produced, for reports and tests. */
typedef struct CgStats {
  double compile_seconds;  /* wall clock: lowering, optimization, machine code, linking */
  int64_t workspace_bytes; /* planned: buffers reused after their last use */
  int64_t naive_bytes;     /* one buffer per intermediate, no reuse */
  int nkernels;            /* distinct kernel functions (shared by equal nodes) */
  int kernels_new;         /* of those, compiled now (the others came from earlier programs) */
  int ncalls;              /* kernel calls per run (a fused group is one call) */
  int nnodes;              /* graph nodes lowered */
  int threads;             /* pool size (1 = no pool) */
  int shards;              /* modules compiled in parallel */
  int parts;               /* cg_jit_compile_split: copies on batch rows (0 = not split) */
} CgStats;
void cg_program_stats(const CgProgram *p, CgStats *s);

/* A program compiled with CgOptions.profile: each call's node (for a fused
   group, its first node), kernel key and the seconds it took over the runs
   since the last read (which clears them). Fills up to cap entries (none
   and nothing cleared when out is NULL); returns the number of calls, 0
   without profile. */
typedef struct CgCallTime {
  IrRef node;
  const char *kernel;
  double seconds;
} CgCallTime;
int cg_program_profile(const CgProgram *p, CgCallTime *out, int cap);

/* ---- cg_aot.c: programs for libraries (`modelc build`) --------------------
   One program lowered at three values of the graph's batch dim (graphs
   built from one model with only the batch changed; all three the same
   graph when the model has no batch dim). Everything the library must
   compute per batch comes out as c0 + c1 * batch, and is checked to be
   so: the descriptor words, the workspace layout, constants and index
   bounds. Slot i of the program is node slot_node[i] of graphs[0]. */
typedef struct CgLin {
  int64_t c0, c1;
} CgLin;

typedef struct CgAotConst {
  CgLin offset;
  IrDtype dtype;
  int power; /* 0: value; 1: value * batch; -1: 1 / (value * batch); 2: n / (n - 1)
                with n = value * batch */
  double value;
} CgAotConst;

typedef struct CgAotIndex {
  IrRef node;
  IrOp op;
  McLoc loc;
  CgLin rows;
} CgAotIndex;

typedef struct CgAotProgram {
  int nslots, ninputs;
  IrRef *slot_node;
  int *result_slot; /* [nslots - ninputs]: as cg_program_output_slot */
  int ndesc;
  CgLin *desc;
  int ntable; /* pointer-table entries after the slots */
  CgLin *table;
  int nconst;
  CgAotConst *consts;
  CgLin ws_bytes, heap_base;
  bool uses_pool;
  int64_t split_min_batch; /* > 0: batch rows never meet (cg_split_ok); from this batch on
                              the library runs one copy per thread on its rows */
  int nindex;
  CgAotIndex *index;
  int nkernels;
} CgAotProgram;

/* Compiles the program to an object file at obj_path (PIC, o's CPU) whose
   only global symbol is o->run_name, `void (ptr bufs, ptr ws, ptr descs)`
   (hidden visibility: the library's own code calls it). */
bool cg_aot_compile(IrGraph *const graphs[3], const int64_t batches[3], const CgOptions *o,
                    const char *obj_path, CgAotProgram *prog, McDiag *d);
void cg_aot_program_free(CgAotProgram *p);

/* Appends the optimized module as LLVM IR text ("llvm") or the target's
   assembly ("asm") to out. */
bool cg_emit(const IrGraph *g, const CgOptions *o, const char *what, McStr *out, McDiag *d);

#endif
