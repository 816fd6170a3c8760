/* cg_matmul.c -- batched matmul as a packed, cache-blocked GEMM (the BLIS
   loop order). Per dtype the program gets three functions: a register-tiled
   microkernel (MR rows x NV vectors of FMA accumulators held across the k
   loop; MR, NV, the vector width and the cache blocks MC/KC/NC are fixed
   by the target, cg_target.c), and the packers of A panels (MR rows,
   k-major) and B panels (NR columns, k-major, zero-padded at the edges).
   The node's static sizes are planned at compile time (gemm_geometry):
   the result is cut into tiles, enough for every thread, and the tiles
   into parts, one per thread; the plan travels in the call's descriptor.
   A task function per dtype and batch rank runs the jc/pc/ic/jr/ir loops
   over one part's tiles; the kernel hands the parts to rt_parallel_for
   (or runs them inline without a pool). Each part packs into its own slice
   of the node's scratch. 2-D transposes are not copied before a matmul:
   packers that read an operand stored transposed take their place, and a
   transpose of a product computes it as B^T A^T (cg_plan.c decides). */
#include <string.h>

#include "cg_int.h"

enum { W_C, W_H, W_W, W_KH, W_KW, W_DY, W_DX, W_SY, W_OW, W_SX, W_PH, W_COUNT };

typedef struct Gemm {
  int64_t M, N, K, nbatch;
  int nbaxes; /* batch axes of the result */
  int64_t bdims[IR_MAX_RANK];
  int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK], sc[IR_MAX_RANK]; /* element strides per batch axis */
  int mr, nv, lanes, nr;                                     /* microkernel shape */
  int64_t mc, kc, nc;                                        /* cache blocks */
  int64_t TM, TN, MT, NT; /* tiles per batch along M and N, and their sizes */
  int64_t ntiles, parts;
  int64_t ap_bytes, bp_bytes; /* one part's packing buffers (64-byte multiples) */
  int trans;                  /* TRANS_A | TRANS_B: operand stored transposed */
  bool m_batch, n_batch, batched; /* aot: M, N, or any size holds the batch dim */
  bool m_holds_batch;             /* M holds the graph's batch dim (JIT or aot) */
  bool k_batch;                   /* aot: K holds the batch dim */
  bool rows_merged;               /* M is the batch's rows merged (rows_merge) */
  bool win;                       /* B is a convolution's windows, read from its image */
  bool bsum;                      /* a sum over the batch axis: C is one matrix */
  int64_t chunk;                  /* bsum: batches summed per pass over C */
  bool prepack;                   /* B (a param) packed ahead, kept from run to run */
  bool cv;                        /* win: by channel vectors (win_cv) */
  int cv_nv, cv_r;                /* cv: filter vectors and pixels per kernel call */
  int cv_k;                       /* cv: output rows per kernel call (R = k * OW when
                                     k > 1: rows too short to fill the registers) */
  int cv_g;                       /* cv: KW when a window row's KW taps share each
                                     pixel's broadcast (cv_groups), else 0 */
  bool cvsum;                     /* bsum win: by channel vectors (win_cv_sum) */
  int cvs_rows;                   /* cvsum: window rows per kernel call */
  int64_t wgeo[W_COUNT];          /* win: the image's C, H, W, the window's KH, KW,
                                     DY, DX, the rows' stride SY, OW, the windows'
                                     step SX along a row (1 or 2) and PH: 0, or the
                                     half row length of an image stored with its
                                     even columns, then its odd ones (SX then 1) */
} Gemm;

enum { TRANS_A = 1, TRANS_B = 2 };

/* A matmul group's epilogue: elementwise ops applied in order to each
   element of a finished block of C. Operand k of op i is the chain value
   (src -1) or outside operand src >= 0, a scalar or a row vector along N.
   C holds the first stored member of the group (the product or an op);
   op i's value is also stored back into C (store -2) or into extra output
   `store` >= 0 (its pointer follows the outside operands), or not (-1). */
#define EPI_MAX CG_EPILOGUE_MAX
typedef struct Epi {
  int n, next, nout;
  IrOp op[EPI_MAX];
  int nsrc[EPI_MAX];
  int src[EPI_MAX][3];
  int store[EPI_MAX];
  IrEpiOperand kind[CG_GROUP_MAX_BUFS]; /* how outside operand k is read: one value,
                                           by column (ROW), by row (COL), at C's offsets */
  int64_t rows_per_col;        /* COL operands of a product whose rows merge the
                                  batch's (rows_merge): their length, else 0 */
  char sig[300];               /* the above as text (keys, names) */
} Epi;

enum {
  UKERNEL, PACK_A, PACK_B, PACK_A_T, PACK_B_T, NARROW, NARROW_WIN, DOT, DOT_ROW, DOT_SUM, DOT_SUM_WIN,
  PACK_B_WIN, CV, CV_SUM
};

/* Products of at most this many multiply-adds per batch (16^3) take the
   direct kernel: packing would not pay, and a program of tiny matmuls then
   compiles without the GEMM functions (about 0.1 s). At 32^3 seed_net's
   training step took 0.031 ms instead of 0.011 ms (bench/step_bench): the
   direct kernel is the slower one from a few thousand multiply-adds up. */
#define SMALL_MACS 4096

/* ---- narrow products ------------------------------------------------------------------
   A product of few rows (at most NARROW_ROWS, as a convolution's filters
   times its unfolded input) uses each element of B only M / MR times:
   packing B would copy it whole for little reuse, and packing A would pad
   a 6-row panel to MR. The narrow microkernel reads A and B in place:
   exactly R rows (R fixed when it is made), NR columns of B's rows (the
   last panel through masked loads and stores). Per element of C it sums
   as the packed microkernel does (fma in k order from zero per KC block,
   then added to C), so the two paths give the same bits. */
#define NARROW_ROWS 64
#define DOT_ROWS 64 /* the dot path's: at most this many rows (not the batch dim) */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Work below this many flops runs on one thread: waking the pool costs
   more. Unless B is this many elements or more: a product of a few rows
   (inference of one sample) is bound by reading the weights, and two cores
   read them faster than one. */
#define PARALLEL_MIN_FLOPS 4e6
#define PARALLEL_MIN_B_ELEMS 262144

static void batch_strides(const IrShape *x, int nbaxes, int64_t mat, int64_t *st) {
  IrShape lead = *x;
  lead.rank -= 2;
  cg_broadcast_strides(&lead, nbaxes, st);
  for (int i = 0; i < nbaxes; i++)
    st[i] *= mat;
}

/* Whether `need` tiles of q cut N rather than M: the cut whose largest
   tile holds fewer microkernel tiles (MR x NR), and on a tie the one whose
   parts all pack the smaller operand (cut along N, each part packs all of
   A, M x K; along M, all of B, K x N). mlp's training step on 2 threads
   (Xeon, AVX-512), where comparing the panel counts alone cut [128, 256]
   and [256, 512] along M into 5 and 4.1 panels of 14 rows, each part
   packing all of B: those products 0.146-0.159 -> 0.123-0.126 ms and
   0.127 -> 0.104-0.115, the update reading the second 0.056-0.063 ->
   0.033-0.034 (its rows now where they were computed), the step
   1.27-1.35 -> 1.21-1.25 ms. */
static bool split_along_n(const Gemm *q, int64_t need) {
  int64_t units_m = ceil_div(q->M, q->mr), units_n = ceil_div(q->N, q->nr);
  int64_t by_m = ceil_div(units_m, need) * units_n, by_n = units_m * ceil_div(units_n, need);
  return by_n < by_m || (by_n == by_m && q->M <= q->N);
}

/* Splits the result into tiles, enough of them for every thread when
   there are fewer batches than threads (along M or N: split_along_n). */
/* Ahead of time the plan must be linear in the batch dim: a size that holds
   it is never tiled (its tile is the whole size), and any batch size runs
   in parts. */
static void choose_tiles(Gemm *q, int threads) {
  double flops = 2.0 * (double)q->M * (double)q->N * (double)q->K * (double)q->nbatch;
  bool big_b = (double)q->N * (double)q->K >= PARALLEL_MIN_B_ELEMS;
  int64_t want = flops < PARALLEL_MIN_FLOPS && !big_b && !q->batched ? 1 : threads;
  int64_t TM = 1, TN = 1;
  if (q->nbatch < want) {
    int64_t need = ceil_div(want, q->nbatch);
    int64_t units_m = ceil_div(q->M, q->mr), units_n = ceil_div(q->N, q->nr);
    bool along_n = !q->win && (q->m_batch || (!q->n_batch && split_along_n(q, need)));
    if (along_n && !q->n_batch)
      TN = min64(need, units_n);
    else if (!along_n && !q->m_batch)
      TM = min64(need, units_m);
  }
  q->MT = q->m_batch ? q->M : round_up(ceil_div(q->M, TM), q->mr);
  q->NT = q->n_batch ? q->N : round_up(ceil_div(q->N, TN), q->nr);
  q->TM = ceil_div(q->M, q->MT);
  q->TN = ceil_div(q->N, q->NT);
  q->ntiles = q->nbatch * q->TM * q->TN;
  q->parts = min64(want, q->ntiles);
}

static int dot_block(const Gemm *q);
static int dot_sum_cols(const Gemm *q);

/* A product summed over its batch (bsum) by the dot kernels, whose data a
   chunk of batches keeps in about this many bytes (a core's L2 holds it). */
#define DOT_SUM_BYTES (512 * 1024)
#define DOT_SUM_MIN_K 32 /* at least this long a k per batch */

/* The longest tile along a size cut into `want` tiles at multiples of
   blk (fewer where it has fewer blocks). */
static int64_t tile_of(int64_t size, int64_t want, int64_t blk) {
  return round_up(ceil_div(size, min64(want, ceil_div(size, blk))), blk);
}

/* The tiles of a bsum product: C is one matrix, cut along N or M at
   multiples of the dot block into a tile per thread, along the one whose
   longest tile holds fewer elements of C (a 16 x 9 gradient cut along N
   gave tiles of 8 and 1 columns: one thread did nearly all). The batches
   are summed in chunks whose rows of A and Bt fit DOT_SUM_BYTES, decided
   on M, N and K alone: the same sums whatever the threads or the batch. */
static void sum_tiles(Gemm *q, int threads, int esz) {
  double flops = 2.0 * (double)q->M * (double)q->N * (double)q->K * (double)q->nbatch;
  int64_t want = flops < PARALLEL_MIN_FLOPS ? 1 : threads, blk = dot_block(q);
  int64_t tn = tile_of(q->N, want, dot_sum_cols(q)), tm = tile_of(q->M, want, blk);
  bool along_n = tn * q->M <= tm * q->N;
  q->MT = along_n ? round_up(q->M, blk) : tm;
  q->NT = along_n ? tn : round_up(q->N, blk);
  q->TM = ceil_div(q->M, q->MT);
  q->TN = ceil_div(q->N, q->NT);
  q->ntiles = q->TM * q->TN;
  q->parts = min64(want, q->ntiles);
  int64_t b_elems = q->win ? q->wgeo[W_C] * q->wgeo[W_H] * q->wgeo[W_W] : q->N * q->K;
  int64_t per_batch = (q->M * q->K + b_elems) * esz;
  q->chunk = per_batch >= DOT_SUM_BYTES ? 1 : DOT_SUM_BYTES / per_batch;
}

/* A batched product whose B is one matrix for every batch (a linear layer
   applied to [B, T, C]), with A stored as is and contiguous, is a single
   product of nbatch * M rows: one GEMM with tall panels instead of nbatch
   short ones (of T rows each, too few for the packed path's tiles).
   Decided on the shapes (not on strides, which are 0 for a batch of one),
   so that the JIT at any batch and a library decide alike: A holds every
   batch axis of the result, B none (absent or a constant 1). */
static bool rows_merge(const IrNode *n, const IrNode *a, const IrNode *b, bool swap) {
  int r = n->shape.rank, nb = r - 2;
  if (swap || nb < 1 || a->op == IR_OP_PERMUTE || a->shape.rank != r) return false;
  for (int i = 0; i < nb; i++) {
    int bi = i - (r - b->shape.rank);
    if (!ir_dim_same(a->shape.d[i], n->shape.d[i]) ||
        (bi >= 0 && (b->shape.d[bi].n != 1 || b->shape.d[bi].syms)))
      return false;
  }
  return true;
}

/* ---- convolutions read in place -------------------------------------------------
   A convolution's product, W [M, C*KH*KW] times its images' windows
   [B, C*KH*KW, OH*OW] (a reshape of an unfold that nothing else reads),
   takes the narrow path reading the windows from the images [B, C, H, W]
   themselves: row k = (c, ky, kx) of an image's B starts at
   c*H*W + ky*DY*W + kx*DX, and column (oy, ox) adds oy*SY*W + ox*SX (the
   windows step SX = 1 or 2 along a row). The unfold is never written (cg_plan.c
   makes it an alias of its image). Per element of C the sums are the
   narrow path's, so the results are the same bits either way. */

static int uses_after(const IrGraph *g, IrRef x) {
  int n = 0;
  for (uint32_t i = x + 1; i < g->nnodes; i++)
    for (int k = 0; k < ir_node(g, i)->nsrc; k++) n += ir_node(g, i)->src[k] == x;
  for (uint32_t o = 0; o < g->nouts; o++) n += g->outs[o].ref == x;
  return n;
}

/* Output rows per vector of `lanes` when rows are OW long: as many as fit
   (at most 4), or 1 for rows longer than half a vector. */
static int win_pieces_of(int64_t ow, int lanes) {
  int64_t p = ow > 0 ? lanes / ow : 1;
  return (int)(p < 1 ? 1 : p > 4 ? 4 : p);
}

static int win_pieces(const Gemm *q) { return win_pieces_of(q->wgeo[W_OW], q->lanes); }

/* The geometry of windows r (a reshape [B, C*KH*KW, OH*OW] of an unfold
   of images [B, C, H, W] that only r reads) when they can be read from
   the images: windows stepping 1 or 2 along a row (a vector of windows
   two apart: twice its elements read, the even ones kept; OW*2 must fit
   the row, so that a piece's start moved back stays in the image), sizes
   fixed but the batch, and output rows (OW elements, in vectors of
   `lanes`, win_pieces_of rows to a vector) filling at least 5/8 of the
   vectors they take (one 7-wide row in 16 lanes made resnet_mini's 7 x 7
   convolution take twice as long as its unfold and product; two rows to
   a vector take 14). */
static bool unfold_geometry(const IrGraph *g, IrRef r, IrDtype dt, int lanes, int64_t *geo) {
  const IrNode *rn = ir_node(g, r);
  if (rn->op != IR_OP_RESHAPE || rn->shape.rank != 3) return false;
  const IrNode *u = ir_node(g, rn->src[0]);
  if (u->op != IR_OP_UNFOLD || u->attr.nwin != 2 || u->shape.rank != 6 ||
      uses_after(g, rn->src[0]) != 1)
    return false;
  const IrNode *x = ir_node(g, u->src[0]);
  const IrShape *us = &u->shape;
  if (x->shape.rank != 4 || x->dtype != dt || !ir_shape_fixed_from(&x->shape, 1) ||
      !ir_shape_fixed_from(us, 1) || u->attr.wstride[1] < 1 || u->attr.wstride[1] > 2 ||
      us->d[5].n * u->attr.wstride[1] > x->shape.d[3].n ||
      rn->shape.d[1].n != us->d[1].n * us->d[2].n * us->d[3].n ||
      rn->shape.d[2].n != us->d[4].n * us->d[5].n)
    return false;
  int64_t ow = us->d[5].n, pieces = win_pieces_of(ow, lanes);
  if (ow * pieces * 8 < round_up(ow * pieces, lanes) * 5) return false;
  int64_t v[W_COUNT] = {x->shape.d[1].n, x->shape.d[2].n, x->shape.d[3].n, us->d[2].n,
                        us->d[3].n, u->attr.wdilation[0], u->attr.wdilation[1],
                        u->attr.wstride[0], us->d[5].n, u->attr.wstride[1], 0};
  memcpy(geo, v, sizeof v);
  return true;
}

/* Matmul mm is a convolution of few filters: W [M, C*KH*KW] times the
   windows [B, C*KH*KW, OH*OW], more than a small product. */
static bool conv_product(const IrGraph *g, const IrNode *mm) {
  if (mm->op != IR_OP_MATMUL || mm->shape.rank != 3 || mm->src[0] == mm->src[1] ||
      (mm->dtype != IR_F32 && mm->dtype != IR_F64))
    return false;
  const IrNode *a = ir_node(g, mm->src[0]);
  int64_t M = mm->shape.d[1].n, N = mm->shape.d[2].n, K = a->shape.d[a->shape.rank - 1].n;
  return a->shape.rank == 2 && !mm->shape.d[1].syms && M <= NARROW_ROWS &&
         (double)M * (double)N * (double)K > SMALL_MACS;
}

/* The node that alone reads x (no output does), or IR_NONE. */
static IrRef only_reader(const IrGraph *g, IrRef x) {
  if (uses_after(g, x) != 1) return IR_NONE;
  for (uint32_t i = x + 1; i < g->nnodes; i++)
    for (int k = 0; k < ir_node(g, i)->nsrc; k++)
      if (ir_node(g, i)->src[k] == x) return i;
  return IR_NONE;
}

/* Sum id over the batch axis of a rank-3 product A [B, M, K] times Bt
   [B, N, K] transposed, both contiguous along k (a convolution's filter
   gradient: dY times the windows, summed over the images), that nothing
   else reads: the product, when the dot kernels can compute it summed
   over the batch (bsum) -- Bt a transpose only that product reads (then
   folded), A stored as is, M at most DOT_ROWS, M, N and K fixed, K at
   least DOT_SUM_MIN_K. Else NULL. Decided on the graph alone, so that the
   plan and the windows read in place agree. The sum and the product are
   single kernels: fusion groups neither a reduction over a product nor a
   product with a non-elementwise reader. */
static const IrNode *batch_sum_product(const IrGraph *g, IrRef id) {
  const IrNode *n = ir_node(g, id);
  if (n->op != IR_OP_SUM || n->attr.keepdims || n->attr.axes != 1u) return NULL;
  IrRef m = n->src[0];
  const IrNode *mm = ir_node(g, m);
  if (mm->op != IR_OP_MATMUL || mm->shape.rank != 3 || mm->src[0] == mm->src[1] ||
      !cg_matmul_can_fold(g, m) || only_reader(g, m) != id || only_reader(g, mm->src[1]) != m)
    return NULL;
  const IrNode *a = ir_node(g, mm->src[0]), *bt = ir_node(g, mm->src[1]);
  bool a_plain = a->op != IR_OP_PERMUTE || !cg_swaps_last_two(a);
  bool b_folds = bt->op == IR_OP_PERMUTE && cg_swaps_last_two(bt);
  if (!a_plain || !b_folds || a->shape.rank != 3 || bt->shape.rank != 3 ||
      !ir_shape_fixed_from(&mm->shape, 1) || !ir_shape_fixed_from(&a->shape, 2) ||
      mm->shape.d[1].n > DOT_ROWS || a->shape.d[2].n < DOT_SUM_MIN_K)
    return NULL;
  return mm;
}

/* A convolution's weight gradient (a bsum product of windows) with at
   least this many rows and an image's output positions fitting a KC
   block takes the packed microkernel over whole images
   (emit_sum_packed_block): each packed element of B is then used M times.
   With fewer rows the dot kernels, which read the windows in place, cost
   less than packing: resnet_mini's [64, 576] gradient (7 x 7 outputs)
   took 1.02 ms packed against 1.58 by dots, its [32, 288] (14 x 14)
   1.66 against 1.03. Windows two apart along a row (stride 2) take the
   packed path from fewer rows: the packer reads them once per image and
   keeps the even lanes, where the dot kernel would do so for every block
   of rows, and the alternative, an unfold the dot kernel reads, is a
   whole extra pass (resnet_mini's [32, 144] gradient per copy of its
   split step: unfold 0.31 + dots 0.63 ms against 0.52 packed in place;
   its [64, 288]: 0.29 + 0.61 against 0.36). */
#define SUM_PACKED_MIN_ROWS 64
#define SUM_PACKED_MIN_ROWS_X2 32

static int64_t sum_packed_min_rows(int64_t step) {
  return step == 2 ? SUM_PACKED_MIN_ROWS_X2 : SUM_PACKED_MIN_ROWS;
}

/* Transpose p of windows is read for a filter gradient: by a product
   that a batch sum computes (its rows in *rows). */
static bool filter_grad_reader(const IrGraph *g, IrRef p, int64_t *rows) {
  IrRef m = only_reader(g, p);
  if (m == IR_NONE || ir_node(g, m)->op != IR_OP_MATMUL) return false;
  IrRef s = only_reader(g, m);
  *rows = ir_node(g, m)->shape.d[1].n;
  return s != IR_NONE && batch_sum_product(g, s) == ir_node(g, m);
}

/* Every reader of windows r (geometry geo) reads them from the images:
   convolutions (r their B) and transposes for filter gradients, these
   for windows two apart along a row only when the gradient takes the
   packed path (enough rows, above): the dot kernel, loading twice the
   elements and shuffling for them, ran resnet_mini's stride-2 filter
   gradients 10-30% slower than over the unfold, which the saved unfold
   (0.9 ms a step) about paid for; the forward convolution alone
   (inference) gains (2.3 -> 2.0 ms for resnet_mini's four). *convs: no
   reader is a filter gradient. */
static bool readers_in_place(const IrGraph *g, IrRef r, const int64_t *geo, bool *convs) {
  for (uint32_t o = 0; o < g->nouts; o++)
    if (g->outs[o].ref == r) return false;
  int readers = 0;
  *convs = true;
  for (uint32_t i = r + 1; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    for (int k = 0; k < n->nsrc; k++) {
      if (n->src[k] != r) continue;
      readers++;
      bool conv = n->op == IR_OP_MATMUL && k == 1 && conv_product(g, n);
      int64_t rows = 0;
      bool grad = n->op == IR_OP_PERMUTE && filter_grad_reader(g, i, &rows) &&
                  (geo[W_SX] == 1 || rows >= SUM_PACKED_MIN_ROWS_X2);
      if (!conv && !grad) return false;
      *convs &= conv;
    }
  }
  return readers > 0;
}

/* Windows r two apart along a row (read only by convolutions: the caller
   asks readers_in_place) of an image of even rows that a pad of planes
   (cg_pad_by_planes) alone writes and nothing else reads: the pad stores
   each row's even columns, then its odd ones, so that the windows step 1
   along a half row (the loads of stride 2 read twice the lanes and
   shuffle: resnet_mini's stride-2 convolutions ran 15-24% slower per flop
   than its stride-1 ones of the same output size). Decided on the graph
   alone: the pad (cg_pad_splits_phases) and every reader agree. */
static bool phase_split(const IrGraph *g, IrRef r, const int64_t *geo) {
  IrRef u = ir_node(g, r)->src[0], x = ir_node(g, u)->src[0];
  return geo[W_SX] == 2 && geo[W_DX] == 1 && geo[W_W] % 2 == 0 && cg_pad_by_planes(g, x) &&
         only_reader(g, x) == u; /* only_reader: no output reads x either */
}

/* The window geometry of convolution mm's B when it can be read in place. */
static bool window_geometry(const IrGraph *g, const IrNode *mm, int lanes, int64_t *geo) {
  bool convs;
  if (!conv_product(g, mm) || !unfold_geometry(g, mm->src[1], (IrDtype)mm->dtype, lanes, geo) ||
      !readers_in_place(g, mm->src[1], geo, &convs))
    return false;
  if (convs && phase_split(g, mm->src[1], geo)) {
    geo[W_PH] = geo[W_W] / 2;
    geo[W_SX] = 1;
  }
  return true;
}

/* The same for the windows under batch sum id's product, whose batch
   must be the images' (one image per batch: the kernel steps a whole
   image from one to the next). */
static bool sum_window_geometry(const IrGraph *g, IrRef id, int lanes, int64_t *geo) {
  const IrNode *mm = batch_sum_product(g, id);
  if (!mm) return false;
  IrRef r = ir_node(g, mm->src[1])->src[0];
  if (!ir_dim_same(ir_node(g, r)->shape.d[0], mm->shape.d[0])) return false;
  bool convs;
  return unfold_geometry(g, r, (IrDtype)mm->dtype, lanes, geo) &&
         readers_in_place(g, r, geo, &convs);
}

static int lanes_of(const CgTarget *t, const IrNode *n) {
  return t->vector_bytes / cg_dtype_size((IrDtype)n->dtype);
}

bool cg_matmul_reads_windows(const CgTarget *t, const IrGraph *g, IrRef id) {
  int64_t geo[W_COUNT];
  const IrNode *n = ir_node(g, id);
  return window_geometry(g, n, lanes_of(t, n), geo);
}

bool cg_matmul_sums_batch(const IrGraph *g, IrRef id) { return batch_sum_product(g, id) != NULL; }

bool cg_pad_splits_phases(const CgTarget *t, const IrGraph *g, IrRef pad) {
  IrRef u = only_reader(g, pad), r = u == IR_NONE ? IR_NONE : only_reader(g, u);
  if (r == IR_NONE || ir_node(g, u)->op != IR_OP_UNFOLD) return false;
  for (uint32_t i = r + 1; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    int64_t geo[W_COUNT];
    if (n->op == IR_OP_MATMUL && n->src[1] == r)
      return window_geometry(g, n, lanes_of(t, n), geo) && geo[W_PH] != 0;
  }
  return false;
}

IrRef cg_matmul_window_unfold(const CgTarget *t, const IrGraph *g, IrRef id) {
  int64_t geo[W_COUNT];
  const IrNode *n = ir_node(g, id);
  if (n->op == IR_OP_MATMUL && window_geometry(g, n, lanes_of(t, n), geo))
    return ir_node(g, n->src[1])->src[0];
  if (n->op != IR_OP_SUM || !sum_window_geometry(g, id, lanes_of(t, n), geo))
    return IR_NONE;
  const IrNode *p = ir_node(g, ir_node(g, n->src[0])->src[1]);
  return ir_node(g, p->src[0])->src[0];
}

static bool sum_packed(const Gemm *q) {
  return q->bsum && q->win && q->M >= sum_packed_min_rows(q->wgeo[W_SX]) && q->K >= 1 &&
         q->K <= q->kc;
}

/* Images per KC block of the packed weight gradient. */
static int64_t sum_packed_images(const Gemm *q) { return q->kc / q->K; }

/* ---- convolutions by channel vectors -----------------------------------------------
   A convolution read in place whose filters fill whole vectors (M a
   multiple of the lanes) computes an output row's pixels times NV vectors
   of filters: R x NV accumulators, per k (window row (c, ky, kx)) NV
   vectors of the filters (transposed into the part's scratch, [K, M], once
   per call) and R broadcasts of the image (the row's pixels, SX apart),
   every lane useful; the sums are stored down C's channel rows at the
   end. The narrow window kernel holds output pixels in its lanes instead,
   which a 7- or 14-wide row fills only in part, and reads them unaligned
   and masked. resnet_mini's inference on one thread, Xeon with AVX-512,
   two alternations: 64 -> 64 channels at 7 x 7 2.17-2.22 -> 1.58-1.59 ms,
   32 -> 64 stride 2 1.10-1.11 -> 0.88-0.90, 32 -> 32 at 14 x 14
   1.78-1.82 -> 1.58-1.60, 16 -> 32 stride 2 0.95-0.97 -> 0.94,
   16 -> 16 at 28 x 28 1.93-2.11 -> 1.79-1.89; the whole 11.9-12.1 ->
   10.5-10.6 ms (the AVX2 code on the same CPU: 20.1-20.2 -> 16.7-16.8).
   The sums reach C's rows by an in-register transpose of L pixels at a
   time (a scatter per pixel where fewer than half a vector's remain):
   16 -> 16 at 28 x 28 1.79-1.89 -> 1.68-1.85 ms, 32 -> 32 at 14 x 14
   1.58-1.60 -> 1.50-1.54 against scatters only. The table of window
   rows and the filters cover K whole, so it is bounded (its KC blocks are
   summed as the narrow kernels sum them); a k of 9 or 16 (a first layer,
   a 1 x 1 convolution) took longer than the narrow kernel, the stores no
   longer paid for; M is not cut into tiles (the batch is, at least an
   image per thread). */
#define CV_MAX_FILTER_BYTES (1 << 20)
#define CV_MIN_K 64

/* Rows of 7 with 64 filters (4 vectors) held 7 pixels x 4 vectors of
   sums: every window row's 4 filter vectors (256 bytes, from L2: the
   filters do not fit L1) fed 28 FMAs. Output rows that short take k whole
   rows a call with 2 vectors of filters (k * OW <= 14 pixels, the pixels
   of row r at r * SY * W on): half the filter bytes per FMA, and the
   pixels, contiguous in C, stored by transposes instead of scatters.
   The kernel is fixed to the rows' geometry (OW, the row step), and so is
   its task's key (cv_key): two such convolutions of one program, rows 9
   and 32 apart, once shared a task and one of them read the other's rows
   (test_aot's library == JIT caught it). */

/* Window rows read in groups: when one image row holds a window row's KW
   taps side by side (step 1, no phase split, no dilation along x) and
   every tap lies in one KC block, the kernel loads the KW taps' filter
   vectors of a window row once, broadcasts each of the R + KW - 1 pixels
   of the image row once and adds it to the (up to) KW outputs it reaches:
   KW FMAs per broadcast instead of one. Each output still adds its taps in
   k order, in one block: the same bits as the narrow kernels. Only where
   the registers hold R x NV accumulators, KW x NV filter vectors and the
   broadcast with R >= 6 (two registers spare). Returns KW, or 0. */
static int cv_groups(const Gemm *q, int esz) {
  int regs = q->lanes * esz >= 64 ? 30 : 14, nv = q->cv_nv;
  int64_t KW = q->wgeo[W_KW];
  if (q->wgeo[W_SX] != 1 || q->wgeo[W_PH] != 0 || q->wgeo[W_DX] != 1 || KW < 2 || KW > 7 ||
      q->K > q->kc || q->K % KW != 0)
    return 0;
  return (regs - KW * nv - 1) / nv >= 6 ? (int)KW : 0;
}

/* Filter vectors per kernel call (the most, at most 4, that divide M's
   and leave room for 6 pixels among the accumulators the registers
   leave: 28 of 32, 12 of 16), and pixels: an output row in equal chunks
   of at most the accumulators left per filter vector. */
static void cv_shape(Gemm *q, int esz) {
  int acc = q->lanes * esz >= 64 ? 28 : 12;
  int64_t v = q->M / q->lanes;
  q->cv_nv = 1;
  for (int nv = 4; nv > 1 && q->cv_nv == 1; nv--)
    if (v % nv == 0 && acc / nv >= 6) q->cv_nv = nv;
  int64_t ow = q->wgeo[W_OW];
  q->cv_g = cv_groups(q, esz);
  if (q->cv_g) { /* the group's filter vectors and the broadcast take registers too */
    q->cv_r = (int)ceil_div(ow, ceil_div(ow, (acc + 2 - q->cv_g * q->cv_nv - 1) / q->cv_nv));
    if (2 * q->cv_r >= q->lanes)
      return;
    q->cv_g = 0; /* fewer than half a vector of pixels a call: C's stores would be scatters */
  }
  q->cv_r = (int)ceil_div(ow, ceil_div(ow, acc / q->cv_nv));
  q->cv_k = 1;
  if (q->cv_nv == 4 && v % 2 == 0 && 2 * ow <= acc / 2) { /* cv rows per call */
    q->cv_nv = 2;
    q->cv_k = (int)((acc / 2) / ow);
    q->cv_r = (int)(q->cv_k * ow);
  }
}

/* The channel-vector path's shape in keys and names: pixels per call,
   filter vectors, the pixels of a row's shorter last call (0: none). */
static void cv_key(const Gemm *q, char *buf, size_t n) {
  int R = q->cv_r;
  snprintf(buf, n, "cv%d_%d_%d_x%d%s", R, q->cv_nv, q->cv_k > 1 ? 0 : (int)(q->wgeo[W_OW] % R),
           (int)q->wgeo[W_SX], q->cv_g ? "_g" : "");
  if (q->cv_k > 1) { /* its kernel is fixed to the rows' geometry */
    size_t at = strlen(buf);
    snprintf(buf + at, n - at, "_k%d_%dx%d", q->cv_k, (int)q->wgeo[W_OW],
             (int)(q->wgeo[W_SY] * q->wgeo[W_W]));
  }
  if (q->cv_g) {
    size_t at = strlen(buf);
    snprintf(buf + at, n - at, "%d", q->cv_g);
  }
}

static bool win_cv(const CgTarget *t, const Gemm *q, int esz) {
  return q->win && !q->bsum && !q->batched && q->M % q->lanes == 0 && q->TM == 1 &&
         q->K >= CV_MIN_K && q->nbatch >= t->threads &&
         q->K * q->M * esz <= CV_MAX_FILTER_BYTES && q->cv_r >= 4;
}

/* ---- filter gradients by channel vectors ------------------------------------------
   A convolution's filter gradient read in place (bsum, win) whose
   filters fill one to four vectors: dW[m, n] = sum over images and pixels
   p of dY[m, p] times window row n at p, computed as NV vectors of m (dY
   transposed per image into the part's scratch, [P, M]) times broadcasts
   of the image for cvs_rows window rows (whole channels' KH x KW rows, or
   with four vectors whole rows of one channel's windows: offsets fixed by
   the geometry), the sums carried across the images in a tile [N, M] of
   the part's scratch and transposed into C at the end. Every element is
   one chain over the images, then the pixels, in order: the same bits
   whatever the threads (parts take rows n) or the batch. resnet_mini's
   training step on 2 threads (Xeon, AVX-512), two alternations against
   the dot and packed kernels: [16, 144] 1.40-1.42 -> 1.06-1.10 ms,
   [32, 288] 1.38 -> 0.76-0.80, [32, 144] (stride 2) 0.99 -> 0.53-0.56,
   [32, 16] (1 x 1) 0.37 -> 0.26, [64, 576] 1.01 -> 0.88-0.89 (a row of 3
   windows a call), [64, 288] 0.66-0.67 -> 0.53, [64, 32] 0.20 -> 0.18-0.19;
   the step (before the 64-filter ones) 21.7-22.1 -> 19.5-20.2 ms. */
static bool win_cv_sum(Gemm *q, int esz) {
  int64_t KW = q->wgeo[W_KW], KH = q->wgeo[W_KH], G = KH * KW, nv = q->M / q->lanes;
  int acc = q->lanes * esz >= 64 ? 28 : 12;
  if (!q->bsum || !q->win || q->wgeo[W_PH] != 0 || q->M % q->lanes != 0 || nv < 1 || nv > 4 ||
      KW * nv > acc || q->N % G != 0)
    return false;
  if (G * nv <= acc) { /* whole channels */
    q->cvs_rows = (int)(G * (acc / (G * nv)));
  } else { /* whole rows of windows (ky) that divide a channel's */
    int64_t d = acc / (KW * nv);
    while (KH % d != 0) d--;
    q->cvs_rows = (int)(KW * d);
  }
  /* too few sums per call wait on the loads (resnet_mini's first layer,
     9 rows of 16 filters: 0.149 ms by the dot kernel, 0.291 by these) */
  return (q->N < q->cvs_rows ? q->N : q->cvs_rows) * nv >= 12;
}

/* Window rows per call for `want` parts: parts take whole calls, so the
   largest part holds N / want rows rounded up to a call's; of the calls
   that fit the registers (multiples of the unit: a channel's rows, or one
   row of its windows, dividing its rows) the one whose largest part is
   smallest, then the longest. [16, 144] on 2 threads: calls of 27 rows
   cut it 81 + 63, of 18 rows 72 + 72. Each row's sums are its own: the
   call's length does not change them. */
static void cv_sum_balance(Gemm *q, int64_t want) {
  int64_t KW = q->wgeo[W_KW], KH = q->wgeo[W_KH], G = KH * KW, nv = q->M / q->lanes;
  int64_t best = q->cvs_rows, most = round_up(ceil_div(q->N, want), best);
  for (int64_t r = q->cvs_rows - 1; r >= 1 && want > 1; r--) {
    bool unit = q->cvs_rows % G == 0 ? r % G == 0 : r % KW == 0 && KH % (r / KW) == 0;
    if (!unit || (q->N < r ? q->N : r) * nv < 12)
      continue;
    int64_t part = round_up(ceil_div(q->N, want), r);
    if (part < most)
      best = r, most = part;
  }
  q->cvs_rows = (int)best;
}

/* id: a matmul, a 2-D transpose computing its matmul operand's product
   transposed (then M and N trade places), or a sum over the batch axis of
   its matmul operand (bsum: batch_sum_product). */
static void gemm_geometry(const CgTarget *t, const IrGraph *g, IrRef id, Gemm *q) {
  const IrNode *n = ir_node(g, id);
  bool swap = n->op == IR_OP_PERMUTE, bsum = n->op == IR_OP_SUM;
  if (swap || bsum)
    n = ir_node(g, n->src[0]);
  const IrNode *a = ir_node(g, n->src[0]), *b = ir_node(g, n->src[1]);
  int r = n->shape.rank;
  *q = (Gemm){0};
  q->M = n->shape.d[r - (swap ? 1 : 2)].n;
  q->N = n->shape.d[r - (swap ? 2 : 1)].n;
  q->K = a->shape.d[a->shape.rank - 1].n;
  q->nbaxes = r - 2;
  q->nbatch = 1;
  for (int i = 0; i < q->nbaxes; i++) {
    q->bdims[i] = n->shape.d[i].n;
    q->nbatch *= q->bdims[i];
  }
  batch_strides(&a->shape, q->nbaxes, q->M * q->K, q->sa);
  batch_strides(&b->shape, q->nbaxes, q->K * q->N, q->sb);
  IrShape lead = n->shape;
  lead.rank -= 2;
  cg_contiguous_strides(&lead, q->sc);
  for (int i = 0; i < q->nbaxes; i++)
    q->sc[i] = bsum ? 0 : q->sc[i] * q->M * q->N;
  q->bsum = bsum;
  uint32_t batch_axes_syms = 0; /* of the result's batch axes */
  for (int i = 0; i < q->nbaxes; i++)
    batch_axes_syms |= n->shape.d[i].syms;
  if (bsum)
    q->win = sum_window_geometry(g, id, lanes_of(t, n), q->wgeo);
  else
    q->win = !swap && window_geometry(g, n, lanes_of(t, n), q->wgeo);
  if (q->win) /* b's batch stride: the image's */
    q->sb[0] = q->wgeo[W_C] * q->wgeo[W_H] * q->wgeo[W_W];
  bool merged = !bsum && rows_merge(n, a, b, swap);
  if (merged) {
    q->rows_merged = true;
    q->M *= q->nbatch;
    q->nbatch = 1;
    q->nbaxes = 0;
  }
  uint32_t m_syms = n->shape.d[r - (swap ? 1 : 2)].syms | (merged ? batch_axes_syms : 0);
  int esz = cg_dtype_size((IrDtype)n->dtype);
  q->lanes = t->vector_bytes / esz;
  q->mr = t->gemm_mr;
  /* A fixed M (no named dim in it) of fewer than two panels is cut into
     equal panels: 16 rows as 8 + 8, not 14 + 2, whose second panel would
     cost as much as a whole one (the microkernel computes MR rows). The
     sums do not depend on MR: each element adds its k in order. */
  if (m_syms == 0 && q->M >= 1 && q->M < 2 * q->mr)
    q->mr = (int)ceil_div(q->M, ceil_div(q->M, q->mr));
  q->nv = t->gemm_nv;
  q->nr = q->nv * q->lanes;
  q->mc = round_up(t->gemm_mc, q->mr);
  q->kc = t->gemm_kc;
  if (sum_packed(q)) { /* equal panels: 64 rows as 5 x 13, not 4 x 14 + 8 */
    q->mr = (int)ceil_div(q->M, ceil_div(q->M, t->gemm_mr));
    q->mc = round_up(t->gemm_mc, q->mr);
  }
  q->nc = round_up(t->gemm_nc, q->nr);
  int bsym = ir_graph_batch_sym(g);
  q->m_holds_batch = bsym >= 0 && (m_syms & (1u << bsym));
  if (t->aot && t->batch_sym >= 0) {
    uint32_t bit = 1u << t->batch_sym;
    q->m_batch = m_syms & bit;
    q->n_batch = n->shape.d[r - (swap ? 2 : 1)].syms & bit;
    q->k_batch = a->shape.d[a->shape.rank - 1].syms & bit;
    q->batched = q->m_batch || q->n_batch || q->k_batch;
    for (int i = 0; i < q->nbaxes; i++)
      q->batched |= (n->shape.d[i].syms & bit) != 0;
  }
  if (bsum)
    sum_tiles(q, t->threads, esz);
  else
    choose_tiles(q, t->threads);
  int64_t kce = min64(q->kc, q->K);
  int64_t mce = min64(q->mc, q->MT), nce = min64(q->nc, q->NT);
  q->ap_bytes = round_up(mce * kce * esz, CG_ALIGN);
  q->bp_bytes = round_up(kce * nce * esz, CG_ALIGN);
  if (sum_packed(q)) { /* whole panels of a block of images */
    int64_t kc = sum_packed_images(q) * q->K;
    q->ap_bytes = round_up(round_up(mce, q->mr) * kc * esz, CG_ALIGN);
    q->bp_bytes = round_up(kc * round_up(nce, q->nr) * esz, CG_ALIGN);
  }
  q->cvsum = win_cv_sum(q, esz);
  if (q->cvsum) { /* parts take whole kernel calls of window rows */
    double flops = 2.0 * (double)q->M * (double)q->N * (double)q->K * (double)q->nbatch;
    int64_t want = flops < PARALLEL_MIN_FLOPS ? 1 : t->threads;
    cv_sum_balance(q, want);
    q->MT = q->M;
    q->NT = round_up(ceil_div(q->N, want), q->cvs_rows);
    q->TM = 1;
    q->TN = ceil_div(q->N, q->NT);
    q->ntiles = q->TN;
    q->parts = min64(want, q->ntiles);
    q->ap_bytes = round_up(q->K * q->M * esz, CG_ALIGN) + round_up(q->N * q->M * esz, CG_ALIGN);
    q->bp_bytes = 0;
  }
  if (q->win && q->M % q->lanes == 0) cv_shape(q, esz);
  q->cv = win_cv(t, q, esz);
  if (q->cv) { /* the filters, transposed ([K, M]), then the table of window rows */
    q->ap_bytes = round_up(q->K * q->M * esz, CG_ALIGN) + round_up(q->K * 8, CG_ALIGN);
    q->bp_bytes = 0;
  }
}


static bool is_small(const Gemm *q) {
  return (double)q->M * (double)q->N * (double)q->K <= SMALL_MACS;
}

int64_t cg_matmul_scratch_bytes(const CgTarget *t, const IrGraph *g, IrRef id) {
  Gemm q;
  gemm_geometry(t, g, id, &q);
  if (q.K == 0 || q.M == 0 || q.N == 0 || is_small(&q))
    return 0;
  return q.parts * (q.ap_bytes + q.bp_bytes);
}

int64_t cg_matmul_parts(const CgTarget *t, const IrGraph *g, IrRef id) {
  Gemm q;
  gemm_geometry(t, g, id, &q);
  return q.K == 0 || is_small(&q) ? 1 : q.parts;
}

bool cg_swaps_last_two(const IrNode *n) {
  int r = n->shape.rank;
  if (r < 2 || n->attr.perm[r - 2] != r - 1 || n->attr.perm[r - 1] != r - 2)
    return false;
  for (int i = 0; i < r - 2; i++)
    if (n->attr.perm[i] != i)
      return false;
  return true;
}

bool cg_matmul_can_fold(const IrGraph *g, IrRef id) {
  const IrNode *n = ir_node(g, id);
  int r = n->shape.rank;
  if (r < 2 || (n->dtype != IR_F32 && n->dtype != IR_F64))
    return false;
  int64_t M = n->shape.d[r - 2].n, N = n->shape.d[r - 1].n;
  const IrNode *a = ir_node(g, n->src[0]);
  int64_t K = a->shape.d[a->shape.rank - 1].n;
  return M > 0 && N > 0 && K > 0 && (double)M * (double)N * (double)K > SMALL_MACS;
}

bool cg_matmul_operand_folded(const CgPlan *p, const IrGraph *g, IrRef id, int k) {
  IrRef s = ir_node(g, id)->src[k];
  return ir_node(g, s)->op == IR_OP_PERMUTE && p->loc[s].kind == CG_LOC_ALIAS;
}

/* ---- per-dtype functions ------------------------------------------------------- */

static LLVMValueRef begin_function(Cg *cx, const char *name, LLVMTypeRef *params, int n) {
  LLVMValueRef fn = cg_function(cx, name, cx->t_void, params, n);
  cg_set_local(cx, fn);
  cg_set_fn_attr(cx, fn, "noinline");
  cx->fn = fn;
  LLVMPositionBuilderAtEnd(cx->b, cg_block(cx, "entry"));
  return fn;
}

static LLVMValueRef splat(Cg *cx, LLVMTypeRef vt, LLVMValueRef x, int lanes) {
  LLVMValueRef v =
      LLVMBuildInsertElement(cx->b, LLVMGetPoison(vt), x, LLVMConstInt(cx->t_i32, 0, 0), "");
  LLVMValueRef mask = LLVMConstNull(LLVMVectorType(cx->t_i32, (unsigned)lanes));
  return LLVMBuildShuffleVector(cx->b, v, LLVMGetPoison(vt), mask, "");
}

/* next[j] = fma(splat(a), bv[j], acc[j]) for j < NV: one row of a
   register tile, its scalar broadcast against NV vectors. */
static void fma_row(Cg *cx, LLVMTypeRef vt, LLVMValueRef a, int NV, const LLVMValueRef *bv,
                    const LLVMValueRef *acc, LLVMValueRef *next) {
  LLVMValueRef av = splat(cx, vt, a, (int)LLVMGetVectorSize(vt));
  for (int j = 0; j < NV; j++) {
    LLVMValueRef args[3] = {av, bv[j], acc[j]};
    next[j] = cg_intrinsic(cx, "llvm.fma", &vt, 1, args, 3);
  }
}

static LLVMValueRef load_aligned(Cg *cx, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx,
                                 unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(cx->b, t, cg_gep(cx, LLVMGetElementType(t), base, idx), "");
  LLVMSetAlignment(v, align);
  return v;
}

static void store_aligned(Cg *cx, LLVMValueRef v, LLVMTypeRef et, LLVMValueRef base,
                          LLVMValueRef idx, unsigned align) {
  LLVMValueRef s = LLVMBuildStore(cx->b, v, cg_gep(cx, et, base, idx));
  LLVMSetAlignment(s, align);
}

/* Offset of element (r, c) of a matrix stored with row length ld, or
   stored transposed. */
static LLVMValueRef element_at(Cg *cx, bool trans, LLVMValueRef r, LLVMValueRef c,
                               LLVMValueRef ld) {
  if (trans) {
    LLVMValueRef t = r;
    r = c;
    c = t;
  }
  return LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, r, ld, ""), c, "");
}

/* A hint to bring the cache line at p into every cache level, to be read
   (rw 0) or written (rw 1). */
static void prefetch_rw(Cg *cx, LLVMValueRef p, int rw) {
  LLVMValueRef args[4] = {p, LLVMConstInt(cx->t_i32, rw, 0), LLVMConstInt(cx->t_i32, 3, 0),
                          LLVMConstInt(cx->t_i32, 1, 0)};
  cg_intrinsic(cx, "llvm.prefetch", &cx->t_ptr, 1, args, 4);
}

static void prefetch(Cg *cx, LLVMValueRef p) { prefetch_rw(cx, p, 0); }

/* Element (i, j) of C: i * ldc + j. */
static LLVMValueRef c_offset(Cg *cx, LLVMValueRef ldc, int i, int j) {
  return LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, ldc, cg_i64(cx, i), ""), cg_i64(cx, j), "");
}

/* C[0:MR, 0:NR] = acc, or += acc. */
static void store_c(Cg *cx, LLVMTypeRef vt, LLVMTypeRef et, unsigned esz, LLVMValueRef c,
                    LLVMValueRef ldc, LLVMValueRef acc[32][4], int MR, int NV, int L, bool add) {
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++) {
      LLVMValueRef at = c_offset(cx, ldc, i, j * L);
      LLVMValueRef v = acc[i][j];
      if (add)
        v = LLVMBuildFAdd(cx->b, load_aligned(cx, vt, c, at, esz), v, "");
      store_aligned(cx, v, et, c, at, esz);
    }
}

/* A B panel of KC x NR larger than this (the smallest L1d of the CPUs
   we target: 32 KiB) streams from L2: the k loop then prefetches B's and
   A's panels PANEL_AHEAD steps ahead (past the panel's end: the panel the
   next call reads). C's tile is prefetched for writing before the k loop:
   it is read and written once per call, after all the FMAs, and at n =
   2048 it is rarely in cache (rows 8 KiB apart). Xeon (rocketlake, AVX-512),
   matmul_bench: one thread 1024 / 2048 156-164 / 155-158 -> 178-185 /
   174-178 GFLOP/s; the AVX2 kernel (6 x 16: a 32 KiB panel) loses 3-5% with
   the panel prefetches, gains from C's at 2048 on 2 threads 190-193 -> 219-222. */
#define PANEL_IN_L1_BYTES (32 * 1024)
#define PANEL_AHEAD 16

/* ukernel(kc, ap, bp, c, ldc, mr, nr, accumulate):
   C[0:mr, 0:nr] (+)= Ap[kc x MR]^T Bp[kc x NR] with MR x NV vector
   accumulators; edge tiles go through a stack tile. kc >= 1. */
static LLVMValueRef emit_ukernel(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name) {
  LLVMTypeRef p[8] = {cx->t_i64, cx->t_ptr, cx->t_ptr, cx->t_ptr,
                      cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i1};
  LLVMValueRef fn = begin_function(cx, name, p, 8);
  for (int i = 1; i <= 3; i++)
    cg_set_noalias(cx, fn, i);
  int MR = q->mr, NV = q->nv, L = q->lanes, NR = q->nr;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef kc = cg_param(cx, 0), ap = cg_param(cx, 1), bp = cg_param(cx, 2),
               c = cg_param(cx, 3);
  LLVMValueRef ldc = cg_param(cx, 4), mr = cg_param(cx, 5), nr = cg_param(cx, 6),
               acc_in = cg_param(cx, 7);
  LLVMValueRef tile = LLVMBuildArrayAlloca(cx->b, et, cg_i64(cx, MR * NR), "tile");
  LLVMSetAlignment(tile, CG_ALIGN);
  LLVMValueRef acc[32][4], zero = LLVMConstNull(vt);
  MC_ASSERT(MR <= 32 && NV <= 4);
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++)
      prefetch_rw(cx, cg_gep(cx, et, c, c_offset(cx, ldc, i, j * L)), 1);
  CgFor k;
  cg_for_begin_nonempty(cx, &k, cg_i64(cx, 0), kc, cg_i64(cx, 1));
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++)
      acc[i][j] = cg_for_carry(cx, &k, zero);
  LLVMValueRef kb = LLVMBuildNSWMul(cx->b, k.iv, cg_i64(cx, NR), "");
  LLVMValueRef ka = LLVMBuildNSWMul(cx->b, k.iv, cg_i64(cx, MR), "");
  LLVMValueRef bv[4], next[32][4];
  for (int j = 0; j < NV; j++)
    bv[j] = load_aligned(cx, vt, bp, LLVMBuildNSWAdd(cx->b, kb, cg_i64(cx, j * L), ""),
                         (unsigned)L * esz);
  if (q->kc * NR * esz > PANEL_IN_L1_BYTES) {
    for (int j = 0; j < NV; j++)
      prefetch(cx, cg_gep(cx, et, bp, LLVMBuildNSWAdd(cx->b, kb, cg_i64(cx, PANEL_AHEAD * NR + j * L), "")));
    prefetch(cx, cg_gep(cx, et, ap, LLVMBuildNSWAdd(cx->b, ka, cg_i64(cx, PANEL_AHEAD * MR), "")));
  }
  for (int i = 0; i < MR; i++)
    fma_row(cx, vt, cg_load(cx, et, ap, LLVMBuildNSWAdd(cx->b, ka, cg_i64(cx, i), "")), NV, bv,
            acc[i], next[i]);
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++)
      cg_for_carry_next(cx, acc[i][j], next[i][j]);
  cg_for_end(cx, &k);

  LLVMValueRef full = LLVMBuildAnd(cx->b, LLVMBuildICmp(cx->b, LLVMIntEQ, mr, cg_i64(cx, MR), ""),
                                   LLVMBuildICmp(cx->b, LLVMIntEQ, nr, cg_i64(cx, NR), ""), "");
  CgIf whole, add;
  cg_if_begin(cx, &whole, full);
  cg_if_begin(cx, &add, acc_in);
  store_c(cx, vt, et, esz, c, ldc, next, MR, NV, L, true);
  cg_if_else(cx, &add);
  store_c(cx, vt, et, esz, c, ldc, next, MR, NV, L, false);
  cg_if_end(cx, &add);
  cg_if_else(cx, &whole);
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NV; j++)
      store_aligned(cx, next[i][j], et, tile, cg_i64(cx, i * NR + j * L), (unsigned)L * esz);
  CgFor ri, cj;
  cg_for_begin(cx, &ri, cg_i64(cx, 0), mr, cg_i64(cx, 1));
  cg_for_begin(cx, &cj, cg_i64(cx, 0), nr, cg_i64(cx, 1));
  LLVMValueRef v =
      cg_load(cx, et, tile,
              LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, ri.iv, cg_i64(cx, NR), ""), cj.iv, ""));
  LLVMValueRef at = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, ri.iv, ldc, ""), cj.iv, "");
  LLVMValueRef old = cg_load(cx, et, c, at);
  cg_store(cx, LLVMBuildSelect(cx->b, acc_in, LLVMBuildFAdd(cx->b, old, v, ""), v, ""), c, at);
  cg_for_end(cx, &cj);
  cg_for_end(cx, &ri);
  cg_if_end(cx, &whole);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* ---- the narrow microkernel (see "narrow products" at the top) ------------------------ */

/* Lane l of vector j is one of the first n columns: j * L + l < n. */
static LLVMValueRef column_mask(Cg *cx, int j, int L, LLVMValueRef n) {
  return cg_lane_mask(cx, L, cg_i64(cx, j * L), n);
}

/* The k loop of a narrow microkernel, with the R x NV accumulators
   carried from zero; narrow_k_end carries next into them and closes it. */
static void narrow_k_begin(Cg *cx, CgFor *k, LLVMValueRef kc, LLVMTypeRef vt, int R, int NV,
                           LLVMValueRef (*acc)[4]) {
  cg_for_begin_nonempty(cx, k, cg_i64(cx, 0), kc, cg_i64(cx, 1));
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      acc[i][j] = cg_for_carry(cx, k, LLVMConstNull(vt));
}

static void narrow_k_end(Cg *cx, CgFor *k, int R, int NV, LLVMValueRef (*acc)[4],
                         LLVMValueRef (*next)[4]) {
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      cg_for_carry_next(cx, acc[i][j], next[i][j]);
  cg_for_end(cx, k);
}

/* next[i][j] = fma(A[i, k], bv[j], acc[i][j]) over an R x NV block, A's
   element (i, k) at a[i * sra + acol]. */
static void narrow_fmas(Cg *cx, LLVMTypeRef vt, LLVMTypeRef et, LLVMValueRef a, LLVMValueRef sra,
                        LLVMValueRef acol, int R, int NV, const LLVMValueRef *bv,
                        LLVMValueRef (*acc)[4], LLVMValueRef (*next)[4]) {
  for (int i = 0; i < R; i++) {
    LLVMValueRef at =
        LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, cg_i64(cx, i), sra, ""), acol, "");
    fma_row(cx, vt, cg_load(cx, et, a, at), NV, bv, acc[i], next[i]);
  }
}

/* Vector j of row i of C, at c[i * ldc + cj[j]] (under mask[j], when there
   are masks): next[i][j], added to what C holds when acc_in. */
static void narrow_store(Cg *cx, LLVMTypeRef vt, LLVMTypeRef et, LLVMValueRef c, LLVMValueRef ldc,
                         int R, int NV, const LLVMValueRef *cj, const LLVMValueRef *mask,
                         LLVMValueRef acc_in, LLVMValueRef (*next)[4]) {
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  for (int i = 0; i < R; i++) {
    LLVMValueRef row = LLVMBuildNSWMul(cx->b, ldc, cg_i64(cx, i), "");
    for (int j = 0; j < NV; j++) {
      LLVMValueRef at = LLVMBuildNSWAdd(cx->b, row, cj[j], "");
      LLVMValueRef old = mask ? cg_masked_load(cx, vt, c, at, mask[j], esz)
                              : load_aligned(cx, vt, c, at, esz);
      LLVMValueRef v = LLVMBuildSelect(cx->b, acc_in, LLVMBuildFAdd(cx->b, old, next[i][j], ""),
                                       next[i][j], "");
      if (mask)
        cg_masked_store(cx, v, et, c, at, mask[j], esz);
      else
        store_aligned(cx, v, et, c, at, esz);
    }
  }
}

/* One pass of the narrow microkernel: the k loop and the stores, with
   every vector of a row masked (mask[j]) or none (mask NULL). Each row of
   B it reads is also prefetched one panel ahead: a convolution's unfolded
   input is read as KC rows of NR columns at a time, a stream per row that
   the hardware prefetchers do not follow (resnet_mini's [B,16,784]
   products 2.05 -> 1.36 ms on a Zen 4). */
static void narrow_pass(Cg *cx, const Gemm *q, LLVMTypeRef et, int R, int NV, LLVMValueRef *mask) {
  int L = q->lanes;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef kc = cg_param(cx, 0), a = cg_param(cx, 1), sra = cg_param(cx, 2),
               ska = cg_param(cx, 3), b = cg_param(cx, 4), ldb = cg_param(cx, 5),
               c = cg_param(cx, 6), ldc = cg_param(cx, 7), acc_in = cg_param(cx, 9);
  LLVMValueRef acc[32][4], next[32][4], bv[4] = {NULL};
  CgFor k;
  narrow_k_begin(cx, &k, kc, vt, R, NV, acc);
  LLVMValueRef brow = LLVMBuildNSWMul(cx->b, k.iv, ldb, "");
  LLVMValueRef acol = LLVMBuildNSWMul(cx->b, k.iv, ska, ""), cj[4];
  for (int j = 0; j < NV; j++) {
    LLVMValueRef at = LLVMBuildNSWAdd(cx->b, brow, cg_i64(cx, j * L), "");
    bv[j] = mask ? cg_masked_load(cx, vt, b, at, mask[j], esz) : load_aligned(cx, vt, b, at, esz);
    prefetch(cx, cg_gep(cx, et, b, LLVMBuildNSWAdd(cx->b, at, cg_i64(cx, NV * L), "")));
    cj[j] = cg_i64(cx, j * L);
  }
  narrow_fmas(cx, vt, et, a, sra, acol, R, NV, bv, acc, next);
  narrow_k_end(cx, &k, R, NV, acc, next);
  narrow_store(cx, vt, et, c, ldc, R, NV, cj, mask, acc_in, next);
}

/* ukernel_narrow_R(kc, a, sra, ska, b, ldb, c, ldc, nr, accumulate):
   C[0:R, 0:nr] (+)= A[0:R, 0:kc] B[0:kc, 0:nr], element (i, k) of A at
   a[i * sra + k * ska], B in place with row length ldb; nr <= NV vectors
   (NV fixed when it is made), kc >= 1. */
static LLVMValueRef emit_ukernel_narrow(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name,
                                        int R, int NV) {
  LLVMTypeRef p[10] = {cx->t_i64, cx->t_ptr, cx->t_i64, cx->t_i64, cx->t_ptr,
                       cx->t_i64, cx->t_ptr, cx->t_i64, cx->t_i64, cx->t_i1};
  LLVMValueRef fn = begin_function(cx, name, p, 10);
  cg_set_noalias(cx, fn, 6);
  MC_ASSERT(R >= 1 && R <= 32 && NV >= 1 && NV <= 4);
  LLVMValueRef nr = cg_param(cx, 8), mask[4];
  CgIf whole;
  cg_if_begin(cx, &whole, LLVMBuildICmp(cx->b, LLVMIntEQ, nr, cg_i64(cx, NV * q->lanes), ""));
  narrow_pass(cx, q, et, R, NV, NULL);
  cg_if_else(cx, &whole);
  for (int j = 0; j < NV; j++)
    mask[j] = column_mask(cx, j, q->lanes, nr);
  narrow_pass(cx, q, et, R, NV, mask);
  cg_if_end(cx, &whole);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

static LLVMValueRef get(Cg *cx, LLVMValueRef params, int i);

/* The L-lane mask of lanes lo <= l < hi. */
static LLVMValueRef lane_range(Cg *cx, int L, LLVMValueRef lo, LLVMValueRef hi) {
  LLVMValueRef from = LLVMBuildNot(cx->b, cg_lane_mask(cx, L, cg_i64(cx, 0), lo), "");
  return LLVMBuildAnd(cx->b, from, cg_lane_mask(cx, L, cg_i64(cx, 0), hi), "");
}

/* Lanes l of vt where the mask is set from base[idx + l*step] (step 1 or
   2), the others from rest (NULL: zero). Step 2 loads twice the lanes
   under the mask spread to the even ones and keeps the even lanes. */
static LLVMValueRef load_stepped(Cg *cx, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx,
                                 LLVMValueRef mask, LLVMValueRef rest, int step, unsigned esz) {
  if (step == 1)
    return rest ? cg_masked_load_or(cx, vt, base, idx, mask, rest, esz)
                : cg_masked_load(cx, vt, base, idx, mask, esz);
  int L = (int)LLVMGetVectorSize(vt);
  LLVMValueRef spread[128], even[64];
  for (int i = 0; i < 2 * L; i++)
    spread[i] = LLVMConstInt(cx->t_i32, (unsigned)(i % 2 ? L : i / 2), 0);
  for (int l = 0; l < L; l++)
    even[l] = LLVMConstInt(cx->t_i32, (unsigned)(2 * l), 0);
  LLVMValueRef none = LLVMConstNull(LLVMTypeOf(mask));
  LLVMValueRef m2 = LLVMBuildShuffleVector(cx->b, mask, none, LLVMConstVector(spread, 2 * L), "");
  LLVMTypeRef wt = LLVMVectorType(LLVMGetElementType(vt), (unsigned)(2 * L));
  LLVMValueRef w = cg_masked_load(cx, wt, base, idx, m2, esz);
  LLVMValueRef v = LLVMBuildShuffleVector(cx->b, w, w, LLVMConstVector(even, L), "");
  return rest ? LLVMBuildSelect(cx->b, mask, v, rest, "") : v;
}

/* ---- narrow products of a convolution's windows ------------------------------------------
   ukernel_narrow_win_R(kc, a, sra, ska, b, rowoff, vec, c, ldc, accumulate):
   as the narrow microkernel, but row k of B starts at b + rowoff[k] (the
   image offset of window row (c, ky, kx)), and vector j of each row holds
   P pieces of OW lanes (P = win_pieces: output rows to a vector; 1 for a
   row's stretch), each read at that offset plus its own start, SX apart
   along the row (load_stepped); C's rows
   being contiguous, the vector is stored at one offset, masked to its
   length. vec = {OW, per vector (C start, length, P B starts), then a
   prefetch distance}. With one piece per vector, each window row's
   stretch one output row ahead (or, where a row takes several panels,
   the row's next vectors) is prefetched: the row below the window is not
   in L1 yet (a 16 -> 16 channel 3 x 3 layer at 28 x 28, one thread:
   1.40-1.45 -> 1.39 ms). */
static LLVMValueRef emit_ukernel_narrow_win(Cg *cx, const Gemm *q, LLVMTypeRef et,
                                            const char *name, int R, int NV) {
  LLVMTypeRef p[10] = {cx->t_i64, cx->t_ptr, cx->t_i64, cx->t_i64, cx->t_ptr,
                       cx->t_ptr, cx->t_ptr, cx->t_ptr, cx->t_i64, cx->t_i1};
  LLVMValueRef fn = begin_function(cx, name, p, 10);
  cg_set_noalias(cx, fn, 7);
  MC_ASSERT(R >= 1 && R <= 32 && NV >= 1 && NV <= 4);
  int L = q->lanes;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef kc = cg_param(cx, 0), a = cg_param(cx, 1), sra = cg_param(cx, 2),
               ska = cg_param(cx, 3), b = cg_param(cx, 4), rowoff = cg_param(cx, 5),
               vec = cg_param(cx, 6), c = cg_param(cx, 7), ldc = cg_param(cx, 8),
               acc_in = cg_param(cx, 9);
  int P = win_pieces(q), SX = (int)q->wgeo[W_SX];
  LLVMValueRef bj[4][4], coff[4], mask[4], piece[4][4], ow = get(cx, vec, 0);
  for (int j = 0; j < NV; j++) {
    int at = 1 + (2 + P) * j;
    coff[j] = get(cx, vec, at);
    mask[j] = cg_lane_mask(cx, L, cg_i64(cx, 0), get(cx, vec, at + 1));
    for (int p = 0; p < P; p++) { /* piece p: lanes [p*OW, (p+1)*OW), read from its own row */
      LLVMValueRef lo = LLVMBuildNSWMul(cx->b, ow, cg_i64(cx, p), "");
      LLVMValueRef hi = LLVMBuildNSWAdd(cx->b, lo, ow, "");
      LLVMValueRef back = LLVMBuildNSWMul(cx->b, lo, cg_i64(cx, SX), "");
      bj[j][p] = cg_gep(cx, et, b, LLVMBuildNSWSub(cx->b, get(cx, vec, at + 2 + p), back, ""));
      piece[j][p] = LLVMBuildAnd(cx->b, mask[j], lane_range(cx, L, lo, hi), "");
    }
  }
  LLVMValueRef acc[32][4], next[32][4], bv[4] = {NULL};
  CgFor k;
  narrow_k_begin(cx, &k, kc, vt, R, NV, acc);
  LLVMValueRef off = cg_load(cx, cx->t_i64, rowoff, k.iv);
  if (P == 1) {
    LLVMValueRef ahead = LLVMBuildNSWAdd(cx->b, off, get(cx, vec, 1 + 3 * NV), "");
    for (int j = 0; j <= NV; j++) {
      LLVMValueRef at = j < NV ? ahead : LLVMBuildNSWAdd(cx->b, ahead, cg_i64(cx, L * SX - 1), "");
      prefetch(cx, cg_gep(cx, et, bj[j < NV ? j : NV - 1][0], at));
    }
  }
  for (int j = 0; j < NV; j++) {
    bv[j] = load_stepped(cx, vt, bj[j][0], off, piece[j][0], NULL, SX, esz);
    for (int p = 1; p < P; p++)
      bv[j] = load_stepped(cx, vt, bj[j][p], off, piece[j][p], bv[j], SX, esz);
  }
  narrow_fmas(cx, vt, et, a, sra, LLVMBuildNSWMul(cx->b, k.iv, ska, ""), R, NV, bv, acc, next);
  narrow_k_end(cx, &k, R, NV, acc, next);
  narrow_store(cx, vt, et, c, ldc, R, NV, coff, mask, acc_in, next);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* Transposes the n x n matrix whose rows are v[0..n) (vectors of n lanes,
   n a power of two): log2(n) stages, stage h swapping bit h of the row
   and of the lane index between rows i and i + h. */
static void transpose_square(Cg *cx, LLVMValueRef *v, int n) {
  LLVMValueRef lo[64], hi[64];
  for (int h = 1; h < n; h *= 2) {
    for (int l = 0; l < n; l++) {
      lo[l] = LLVMConstInt(cx->t_i32, (unsigned)(l & h ? n + l - h : l), 0);
      hi[l] = LLVMConstInt(cx->t_i32, (unsigned)(l & h ? n + l : l + h), 0);
    }
    LLVMValueRef mlo = LLVMConstVector(lo, (unsigned)n), mhi = LLVMConstVector(hi, (unsigned)n);
    for (int i = 0; i < n; i++) {
      if (i & h) continue;
      LLVMValueRef a = v[i], b = v[i + h];
      v[i] = LLVMBuildShuffleVector(cx->b, a, b, mlo, "");
      v[i + h] = LLVMBuildShuffleVector(cx->b, a, b, mhi, "");
    }
  }
}

/* Pixel i of a call's window row, from the row's start: i * SX, or with
   k rows a call, row i / OW's pixel i % OW. */
static int64_t cv_pixel_offset(const Gemm *q, int i) {
  int64_t ow = q->wgeo[W_OW];
  if (q->cv_k <= 1)
    return i * q->wgeo[W_SX];
  return i / ow * q->wgeo[W_SY] * q->wgeo[W_W] + i % ow * q->wgeo[W_SX];
}

/* The sums of R pixels times NV filter vectors into the tile (pixel i's
   vector j at (i * NV + j) * L), K in KC blocks, each summed from zero
   and added to the blocks before it. */
static void cv_block_sums(Cg *cx, const Gemm *q, LLVMTypeRef et, int R, int NV, LLVMValueRef K,
                          LLVMValueRef x, LLVMValueRef rowoff, LLVMValueRef w, LLVMValueRef ldw,
                          LLVMValueRef tile) {
  int L = q->lanes;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  CgFor pc;
  cg_for_begin_nonempty(cx, &pc, cg_i64(cx, 0), K, cg_i64(cx, q->kc));
  LLVMValueRef kc = cg_min(cx, cg_i64(cx, q->kc), LLVMBuildNSWSub(cx->b, K, pc.iv, ""));
  LLVMValueRef first = LLVMBuildICmp(cx->b, LLVMIntEQ, pc.iv, cg_i64(cx, 0), "");
  LLVMValueRef offs = cg_gep(cx, cx->t_i64, rowoff, pc.iv);
  LLVMValueRef wk = cg_gep(cx, et, w, LLVMBuildNSWMul(cx->b, pc.iv, ldw, ""));
  LLVMValueRef acc[32][4], next[32][4], bv[4] = {0};
  CgFor k;
  narrow_k_begin(cx, &k, kc, vt, R, NV, acc);
  LLVMValueRef row = cg_gep(cx, et, x, cg_load(cx, cx->t_i64, offs, k.iv));
  LLVMValueRef wrow = LLVMBuildNSWMul(cx->b, k.iv, ldw, "");
  for (int j = 0; j < NV; j++)
    bv[j] = load_aligned(cx, vt, wk, LLVMBuildNSWAdd(cx->b, wrow, cg_i64(cx, j * L), ""), esz * L);
  for (int i = 0; i < R; i++)
    fma_row(cx, vt, cg_load(cx, et, row, cg_i64(cx, cv_pixel_offset(q, i))), NV, bv, acc[i],
            next[i]);
  narrow_k_end(cx, &k, R, NV, acc, next);
  /* each block's sums into the tile (added to it after the first), then
     the tile stored to C once: adding a block after the first to C by a
     gather and a scatter per vector took 64 -> 64 channels at 7 x 7
     (k 576) from 1.54-1.63 to 1.95-2.07 ms */
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++) {
      LLVMValueRef at = cg_i64(cx, (i * NV + j) * L);
      LLVMValueRef old = load_aligned(cx, vt, tile, at, esz * L);
      LLVMValueRef sum = LLVMBuildSelect(cx->b, first, next[i][j],
                                         LLVMBuildFAdd(cx->b, old, next[i][j], ""), "");
      store_aligned(cx, sum, et, tile, at, esz * L);
    }
  cg_for_end(cx, &pc);
}

/* The same sums by window rows (cv_groups: K in one block, KW = G taps
   side by side in the image's row): per window row, its G taps' filter
   vectors once, then each of the R + G - 1 pixels of the image row
   broadcast once and multiplied into the outputs i = p - kx it reaches,
   which thus still add their taps in k order. */
static void cv_group_sums(Cg *cx, const Gemm *q, LLVMTypeRef et, int R, int NV, LLVMValueRef K,
                          LLVMValueRef x, LLVMValueRef rowoff, LLVMValueRef w, LLVMValueRef ldw,
                          LLVMValueRef tile) {
  int L = q->lanes, G = q->cv_g;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef acc[32][4], cur[32][4], fv[8][4];
  CgFor g;
  narrow_k_begin(cx, &g, LLVMBuildSDiv(cx->b, K, cg_i64(cx, G), ""), vt, R, NV, acc);
  LLVMValueRef k0 = LLVMBuildNSWMul(cx->b, g.iv, cg_i64(cx, G), "");
  LLVMValueRef row = cg_gep(cx, et, x, cg_load(cx, cx->t_i64, rowoff, k0));
  for (int kx = 0; kx < G; kx++) {
    LLVMValueRef wrow =
        LLVMBuildNSWMul(cx->b, LLVMBuildNSWAdd(cx->b, k0, cg_i64(cx, kx), ""), ldw, "");
    for (int j = 0; j < NV; j++)
      fv[kx][j] = load_aligned(cx, vt, w, LLVMBuildNSWAdd(cx->b, wrow, cg_i64(cx, j * L), ""),
                               esz * L);
  }
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      cur[i][j] = acc[i][j];
  for (int p = 0; p < R + G - 1; p++) {
    LLVMValueRef v = cg_load(cx, et, row, cg_i64(cx, p));
    for (int kx = 0; kx < G; kx++)
      if (p - kx >= 0 && p - kx < R)
        fma_row(cx, vt, v, NV, fv[kx], cur[p - kx], cur[p - kx]);
  }
  narrow_k_end(cx, &g, R, NV, acc, cur);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      store_aligned(cx, cur[i][j], et, tile, cg_i64(cx, (i * NV + j) * L), esz * L);
}

/* C's element (m, i) at c + m * ldc + i from the tile of R pixels times
   NV filter vectors: lane l of vector j is channel j * L + l, C's row, by
   an in-register transpose of L pixels (or a scatter per pixel, where
   fewer than half a vector remain). */
static void store_cv_tile(Cg *cx, LLVMTypeRef et, int R, int NV, int L, LLVMValueRef tile,
                          LLVMValueRef c, LLVMValueRef ldc) {
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef lane[64];
  for (int l = 0; l < L; l++)
    lane[l] = cg_i64(cx, l);
  LLVMTypeRef vi = LLVMVectorType(cx->t_i64, (unsigned)L);
  LLVMTypeRef vp = LLVMVectorType(cx->t_ptr, (unsigned)L);
  LLVMValueRef down = LLVMBuildNSWMul(cx->b, LLVMConstVector(lane, (unsigned)L),
                                      splat(cx, vi, ldc, L), "");
  LLVMValueRef all = LLVMConstAllOnes(LLVMVectorType(cx->t_i1, (unsigned)L));
  LLVMValueRef align = LLVMConstInt(cx->t_i32, esz, 0);
  LLVMTypeRef over[2] = {vt, vp};
  for (int j = 0; j < NV; j++)
    for (int g = 0; g * L < R; g++) { /* pixels g*L .. g*L + cnt - 1 */
      int cnt = R - g * L < L ? R - g * L : L;
      LLVMValueRef v[64];
      for (int l = 0; l < cnt; l++)
        v[l] = load_aligned(cx, vt, tile, cg_i64(cx, ((g * L + l) * NV + j) * L), esz * L);
      if (2 * cnt < L) { /* few pixels: a scatter each */
        for (int l = 0; l < cnt; l++) {
          LLVMValueRef at = LLVMBuildNSWAdd(
              cx->b, LLVMBuildNSWMul(cx->b, cg_i64(cx, j * L), ldc, ""), cg_i64(cx, g * L + l), "");
          LLVMValueRef ptrs = LLVMBuildGEP2(cx->b, et, cg_gep(cx, et, c, at), &down, 1, "");
          LLVMValueRef args[4] = {v[l], ptrs, align, all};
          cg_intrinsic(cx, "llvm.masked.scatter", over, 2, args, 4);
        }
        continue;
      }
      for (int l = cnt; l < L; l++)
        v[l] = LLVMConstNull(vt);
      transpose_square(cx, v, L); /* v[l]: channel j*L + l's cnt pixels */
      LLVMValueRef mask = cnt < L ? cg_lane_mask(cx, L, cg_i64(cx, 0), cg_i64(cx, cnt)) : NULL;
      for (int l = 0; l < L; l++) {
        LLVMValueRef at = LLVMBuildNSWAdd(
            cx->b, LLVMBuildNSWMul(cx->b, cg_i64(cx, j * L + l), ldc, ""), cg_i64(cx, g * L), "");
        if (mask) {
          cg_masked_store(cx, v[l], et, c, at, mask, esz);
        } else {
          LLVMValueRef st = LLVMBuildStore(cx->b, v[l], cg_gep(cx, et, c, at));
          LLVMSetAlignment(st, esz);
        }
      }
    }
}

/* ukernel_cv_R(K, x, rowoff, w, ldw, c, ldc): R pixels times NV filter
   vectors (see "convolutions by channel vectors"). Pixel i of window row
   k is x[rowoff[k] + i * SX] (SX fixed: a step passed in made every
   pixel's address a register, and the accumulators spilled); filter
   vector j of row k is at w + k * ldw + j * L (aligned); C's element
   (m, i) at c + m * ldc + i. The sums by KC blocks (cv_block_sums) or by
   window rows (cv_group_sums): the same bits either way, and as the
   narrow kernels sum into C. */
static LLVMValueRef emit_ukernel_cv(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name, int R,
                                    int NV) {
  LLVMTypeRef p[7] = {cx->t_i64, cx->t_ptr, cx->t_ptr, cx->t_ptr, cx->t_i64, cx->t_ptr, cx->t_i64};
  LLVMValueRef fn = begin_function(cx, name, p, 7);
  cg_set_noalias(cx, fn, 5);
  MC_ASSERT(R >= 1 && R <= 32 && NV >= 1 && NV <= 4 && q->cv_g <= 8);
  int L = q->lanes;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef K = cg_param(cx, 0), x = cg_param(cx, 1), rowoff = cg_param(cx, 2),
               w = cg_param(cx, 3), ldw = cg_param(cx, 4), c = cg_param(cx, 5),
               ldc = cg_param(cx, 6);
  LLVMValueRef tile = LLVMBuildAlloca(cx->b, LLVMArrayType(vt, (unsigned)(R * NV)), "tile");
  LLVMSetAlignment(tile, esz * L);
  if (q->cv_g)
    cv_group_sums(cx, q, et, R, NV, K, x, rowoff, w, ldw, tile);
  else
    cv_block_sums(cx, q, et, R, NV, K, x, rowoff, w, ldw, tile);
  store_cv_tile(cx, et, R, NV, L, tile, c, ldc);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* Whether the filter-gradient kernel's window rows come in groups of KW
   taps side by side, reading one image row at steps of 1 (no dilation
   along x, windows stepping 1 along rows). */
static bool cv_sum_grouped(const Gemm *q, int R) {
  int64_t KW = q->wgeo[W_KW];
  return q->wgeo[W_SX] == 1 && q->wgeo[W_DX] == 1 && KW >= 2 && R % KW == 0;
}

/* Pixels a step of the filter-gradient kernel takes together: grouped,
   as many (up to 8) as the registers hold U x NV vectors of dY beside the
   R x NV sums and the broadcast; else 1. */
static int cv_sum_pixels_per_step(const Gemm *q, unsigned esz, int R, int NV) {
  int regs = q->lanes * (int)esz >= 64 ? 31 : 15, U = (regs - R * NV - 1) / NV;
  return !cv_sum_grouped(q, R) || U < 2 ? 1 : U > 8 ? 8 : U;
}

/* next[i] = acc[i] + the sum of x[off_i + ox * SX] * dyt[ox] over the U
   pixels ox0 .. ox0 + U - 1 of output row prow, pixels in order for every
   row i. Grouped (cv_sum_grouped), each image value of a group's row is
   broadcast once and added to the KW rows whose pixels read it, 3 FMAs a
   broadcast for 3 x 3 windows; else U is 1, a broadcast per row. */
static void cv_sum_step(Cg *cx, const Gemm *q, LLVMTypeRef et, int R, int NV, int U,
                        const int64_t *off, LLVMValueRef dyt, LLVMValueRef ldm, LLVMValueRef xrow,
                        LLVMValueRef prow, LLVMValueRef ox0, LLVMValueRef acc[32][4],
                        LLVMValueRef next[32][4]) {
  int L = q->lanes, KW = (int)q->wgeo[W_KW];
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  MC_ASSERT(U >= 1 && U <= 8 && (U == 1 || cv_sum_grouped(q, R)));
  LLVMValueRef dv[8][4];
  for (int u = 0; u < U; u++) {
    LLVMValueRef drow = LLVMBuildNSWMul(
        cx->b, LLVMBuildNSWAdd(cx->b, prow, LLVMBuildNSWAdd(cx->b, ox0, cg_i64(cx, u), ""), ""),
        ldm, "");
    for (int j = 0; j < NV; j++)
      dv[u][j] =
          load_aligned(cx, vt, dyt, LLVMBuildNSWAdd(cx->b, drow, cg_i64(cx, j * L), ""), esz * L);
  }
  for (int i = 0; i < R; i++) /* then added to in place (acc may be next) */
    for (int j = 0; j < NV; j++)
      next[i][j] = acc[i][j];
  LLVMValueRef px =
      cg_gep(cx, et, xrow, LLVMBuildNSWMul(cx->b, ox0, cg_i64(cx, q->wgeo[W_SX]), ""));
  if (!cv_sum_grouped(q, R)) {
    for (int i = 0; i < R; i++)
      fma_row(cx, vt, cg_load(cx, et, px, cg_i64(cx, off[i])), NV, dv[0], next[i], next[i]);
  } else {
    for (int gi = 0; gi < R; gi += KW)
      for (int t = 0; t < U + KW - 1; t++) {
        LLVMValueRef v = cg_load(cx, et, px, cg_i64(cx, off[gi] + t));
        for (int kx = 0; kx < KW; kx++)
          if (t - kx >= 0 && t - kx < U)
            fma_row(cx, vt, v, NV, dv[t - kx], next[gi + kx], next[gi + kx]);
      }
  }
}

/* ukernel_cv_sum_R(dyt, x, acc, ldm): acc[i, 0:NV*L] += sum over the
   image's pixels p of x[off_i + p's offset] * dyt[p, 0:NV*L], for window
   rows i < R from x's channel (see "filter gradients by channel
   vectors"); off_i and the pixels' offsets fixed by q's geometry; dyt's
   and acc's rows ldm apart, aligned. */
static LLVMValueRef emit_ukernel_cv_sum(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name,
                                        int R, int NV) {
  LLVMTypeRef p[4] = {cx->t_ptr, cx->t_ptr, cx->t_ptr, cx->t_i64};
  LLVMValueRef fn = begin_function(cx, name, p, 4);
  cg_set_noalias(cx, fn, 2);
  MC_ASSERT(R >= 1 && R <= 32 && NV >= 1 && NV <= 4);
  int L = q->lanes;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef dyt = cg_param(cx, 0), x = cg_param(cx, 1), accp = cg_param(cx, 2),
               ldm = cg_param(cx, 3);
  const int64_t *g = q->wgeo;
  int64_t G = g[W_KH] * g[W_KW], OW = g[W_OW], OH = q->K / OW, rowstep = g[W_SY] * g[W_W];
  int64_t off[32];
  for (int i = 0; i < R; i++) { /* row i: channel i / G, then (ky, kx) */
    int64_t ci = i / G, ky = (i % G) / g[W_KW], kx = (i % G) % g[W_KW];
    off[i] = ci * g[W_H] * g[W_W] + ky * g[W_DY] * g[W_W] + kx * g[W_DX];
  }
  LLVMValueRef init[32][4], a1[32][4], a2[32][4], next[32][4];
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      init[i][j] = load_aligned(cx, vt, accp, c_offset(cx, ldm, i, j * L), esz * L);
  CgFor yl, xl;
  cg_for_begin_nonempty(cx, &yl, cg_i64(cx, 0), cg_i64(cx, OH), cg_i64(cx, 1));
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      a1[i][j] = cg_for_carry(cx, &yl, init[i][j]);
  LLVMValueRef xrow = cg_gep(cx, et, x, LLVMBuildNSWMul(cx->b, yl.iv, cg_i64(cx, rowstep), ""));
  LLVMValueRef prow = LLVMBuildNSWMul(cx->b, yl.iv, cg_i64(cx, OW), "");
  int U = cv_sum_pixels_per_step(q, esz, R, NV);
  if (U > OW)
    U = (int)OW;
  int64_t whole = OW / U * U;
  cg_for_begin_nonempty(cx, &xl, cg_i64(cx, 0), cg_i64(cx, whole), cg_i64(cx, U));
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      a2[i][j] = cg_for_carry(cx, &xl, a1[i][j]);
  cv_sum_step(cx, q, et, R, NV, U, off, dyt, ldm, xrow, prow, xl.iv, a2, next);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      cg_for_carry_next(cx, a2[i][j], next[i][j]);
  cg_for_end(cx, &xl);
  if (OW > whole) /* the row's last pixels */
    cv_sum_step(cx, q, et, R, NV, (int)(OW - whole), off, dyt, ldm, xrow, prow,
                cg_i64(cx, whole), next, next);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      cg_for_carry_next(cx, a1[i][j], next[i][j]);
  cg_for_end(cx, &yl);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < NV; j++)
      store_aligned(cx, next[i][j], et, accp, c_offset(cx, ldm, i, j * L), esz * L);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* ---- dot products ---------------------------------------------------------------------
   A product of few rows with B stored transposed and a long k (a
   convolution's weight gradient: dY [C_out, HW] times the unfolded input
   [C_in k k, HW] transposed) has both operands contiguous along k and C
   too small for the packed path's tiles (6 x 25 against 14 x 32). Each
   element of a DOT_R x DOT_C block of C is a dot product: vector partial
   sums along k (the last vector masked), then a fixed tree of halvings. */
#define DOT_MIN_K 128 /* and at least this long a k (at 49 and 100 the packed path was faster) */

static int dot_block(const Gemm *q) { return q->lanes >= 16 ? 4 : 3; }

/* Columns of the window dot kernel's blocks (DOT_SUM_WIN): with 32
   vector registers, 4 x 6 (24 accumulators; a masked window load then
   serves 4 FMAs, a row of dY 6): resnet_mini's [16, 144] filter gradients
   per copy of its split step 1.00 -> 0.83 ms, its [32, 288] 0.82 -> 0.77
   (4 x 5 and 6 x 4 between; 3 x 8 and 2 x 8 slower). */
static int dot_sum_cols(const Gemm *q) { return q->win && q->lanes >= 16 ? 6 : dot_block(q); }

/* A single row's dot kernel (one sample at a time: skinny_dots) takes this
   many columns at once: independent accumulators enough to keep the FMAs
   busy, each W vector used once. */
#define DOT_ROW_COLS 8

static LLVMValueRef loop_result(Cg *cx, const CgFor *l, LLVMValueRef init, LLVMValueRef last,
                                LLVMBasicBlockRef latch);

/* The dot kernels' operands: R rows of A and D rows of Bt (the missing
   ones read the last again), K and its whole vectors, the mask of the
   last vector. */
typedef struct DotRows {
  LLVMTypeRef vt;
  unsigned esz;
  int L, R, D;
  LLVMValueRef K, whole, mask;
  LLVMValueRef arow[8], brow[8];
} DotRows;

/* A dot kernel's block of R x D for element type et. */
static DotRows dot_rows(const Gemm *q, LLVMTypeRef et, int R, int D) {
  DotRows d = {.L = q->lanes, .R = R, .D = D};
  d.esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  d.vt = LLVMVectorType(et, (unsigned)d.L);
  return d;
}

/* rows[i] = base + min(i, count - 1) * ld for i < n: a block's rows, the
   missing ones reading the last again. */
static void clamped_rows(Cg *cx, LLVMTypeRef et, LLVMValueRef base, LLVMValueRef ld,
                         LLVMValueRef count, int n, LLVMValueRef *rows) {
  LLVMValueRef last = LLVMBuildNSWSub(cx->b, count, cg_i64(cx, 1), "");
  for (int i = 0; i < n; i++)
    rows[i] = cg_gep(cx, et, base, LLVMBuildNSWMul(cx->b, cg_min(cx, cg_i64(cx, i), last), ld, ""));
}

/* Carries acc[R][D] through loop l: the phis (ph) become the values. */
static void carry_begin(Cg *cx, CgFor *l, const DotRows *d, LLVMValueRef acc[8][8],
                        LLVMValueRef ph[8][8]) {
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++)
      ph[i][j] = acc[i][j] = cg_for_carry(cx, l, acc[i][j]);
}

/* Closes loop l (begun non-empty) carrying acc: the values after it. */
static void carry_end(Cg *cx, CgFor *l, const DotRows *d, LLVMValueRef acc[8][8],
                      LLVMValueRef ph[8][8]) {
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++)
      cg_for_carry_next(cx, ph[i][j], acc[i][j]);
  cg_for_end(cx, l);
}

static void dot_fmas(Cg *cx, const DotRows *d, LLVMValueRef *av, LLVMValueRef *bv,
                     LLVMValueRef acc[8][8]) {
  LLVMTypeRef vt = d->vt;
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++) {
      LLVMValueRef args[3] = {av[i], bv[j], acc[i][j]};
      acc[i][j] = cg_intrinsic(cx, "llvm.fma", &vt, 1, args, 3);
    }
}

/* acc[i][j] += the lanes of A row i times Bt row j along k: whole vectors,
   then the last one masked (an empty mask adds zeros). */
static void dot_accumulate(Cg *cx, const DotRows *d, LLVMValueRef acc[8][8]) {
  LLVMTypeRef vt = d->vt;
  CgFor k;
  cg_for_begin(cx, &k, cg_i64(cx, 0), d->whole, cg_i64(cx, d->L));
  LLVMValueRef ph[8][8], av[8], bv[8], next[8][8];
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++)
      ph[i][j] = cg_for_carry(cx, &k, acc[i][j]);
  for (int i = 0; i < d->R; i++)
    av[i] = load_aligned(cx, d->vt, d->arow[i], k.iv, d->esz);
  for (int j = 0; j < d->D; j++)
    bv[j] = load_aligned(cx, d->vt, d->brow[j], k.iv, d->esz);
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++) {
      LLVMValueRef args[3] = {av[i], bv[j], ph[i][j]};
      next[i][j] = cg_intrinsic(cx, "llvm.fma", &vt, 1, args, 3);
      cg_for_carry_next(cx, ph[i][j], next[i][j]);
    }
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(cx->b);
  cg_for_end(cx, &k);
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++)
      acc[i][j] = loop_result(cx, &k, acc[i][j], next[i][j], latch);
  for (int i = 0; i < d->R; i++)
    av[i] = cg_masked_load(cx, d->vt, d->arow[i], d->whole, d->mask, d->esz);
  for (int j = 0; j < d->D; j++)
    bv[j] = cg_masked_load(cx, d->vt, d->brow[j], d->whole, d->mask, d->esz);
  dot_fmas(cx, d, av, bv, acc);
}

/* Lanes [from, from + s/2) of every group of s lanes of a, then of b
   (vectors of `width` lanes; b NULL: of a alone). */
static LLVMValueRef group_halves(Cg *cx, LLVMValueRef a, LLVMValueRef b, int width, int s,
                                 int from) {
  LLVMValueRef idx[64];
  int n = 0;
  for (int v = 0; v < (b ? 2 : 1); v++)
    for (int g = 0; g < width / s; g++)
      for (int l = 0; l < s / 2; l++)
        idx[n++] = LLVMConstInt(cx->t_i32, (unsigned)(v * width + g * s + from + l), 0);
  return LLVMBuildShuffleVector(cx->b, a, b ? b : a, LLVMConstVector(idx, (unsigned)n), "");
}

/* The lane sums of v[0..n) (vectors of L lanes), in order, as vectors of
   *width lanes (sum t in lane t % width of out[t / width]); returns how
   many. Pairs of vectors are reduced together, each halving its partial
   sums (a transpose on the way); every sum adds its lanes as a tree of
   halves: lane l and l + L/2 first, and so on, whatever its neighbours. */
static int reduce_lanes(Cg *cx, LLVMTypeRef et, LLVMValueRef *v, int n, int L, int *width) {
  int w = L;
  for (int s = L; s > 1; s /= 2) {
    if (n == 1) { /* one vector of groups: halve the vector */
      LLVMValueRef lo = group_halves(cx, v[0], NULL, w, s, 0);
      v[0] = LLVMBuildFAdd(cx->b, lo, group_halves(cx, v[0], NULL, w, s, s / 2), "");
      w /= 2;
      continue;
    }
    if (n % 2)
      v[n++] = LLVMConstNull(LLVMVectorType(et, (unsigned)w));
    for (int p = 0; p < n / 2; p++) {
      LLVMValueRef lo = group_halves(cx, v[2 * p], v[2 * p + 1], w, s, 0);
      LLVMValueRef hi = group_halves(cx, v[2 * p], v[2 * p + 1], w, s, s / 2);
      v[p] = LLVMBuildFAdd(cx->b, lo, hi, "");
    }
    n /= 2;
  }
  *width = w;
  return n;
}

/* C[0:rows, 0:cols] (+)= the sums of acc, a block of R x D stored where
   i < rows and j < cols; a whole block of 4 columns as row vectors. */
static void dot_store(Cg *cx, const DotRows *d, LLVMTypeRef et, LLVMValueRef acc[8][8],
                      LLVMValueRef c, LLVMValueRef ldc, LLVMValueRef rows, LLVMValueRef cols,
                      bool add) {
  LLVMValueRef v[128];
  int n = 0, w;
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++)
      v[n++] = acc[i][j];
  reduce_lanes(cx, et, v, n, d->L, &w);
  CgIf whole;
  bool rowvec = d->D == 4 && w % 4 == 0;
  if (rowvec) {
    LLVMValueRef full = LLVMBuildAnd(cx->b, LLVMBuildICmp(cx->b, LLVMIntEQ, rows, cg_i64(cx, d->R), ""),
                                     LLVMBuildICmp(cx->b, LLVMIntEQ, cols, cg_i64(cx, 4), ""), "");
    cg_if_begin(cx, &whole, full);
    LLVMTypeRef rt = LLVMVectorType(et, 4);
    for (int i = 0; i < d->R; i++) {
      LLVMValueRef idx[4];
      for (int l = 0; l < 4; l++)
        idx[l] = LLVMConstInt(cx->t_i32, (unsigned)((i * 4) % w + l), 0);
      LLVMValueRef src = v[i * 4 / w];
      LLVMValueRef r = LLVMBuildShuffleVector(cx->b, src, src, LLVMConstVector(idx, 4), "");
      LLVMValueRef at = LLVMBuildNSWMul(cx->b, cg_i64(cx, i), ldc, "");
      if (add)
        r = LLVMBuildFAdd(cx->b, load_aligned(cx, rt, c, at, d->esz), r, "");
      store_aligned(cx, r, et, c, at, d->esz);
    }
    cg_if_else(cx, &whole);
  }
  for (int i = 0; i < d->R; i++)
    for (int j = 0; j < d->D; j++) {
      int t = i * d->D + j;
      LLVMValueRef s = LLVMBuildExtractElement(cx->b, v[t / w], cg_i64(cx, t % w), "");
      CgIf in;
      LLVMValueRef ok = LLVMBuildAnd(cx->b, LLVMBuildICmp(cx->b, LLVMIntSLT, cg_i64(cx, i), rows, ""),
                                     LLVMBuildICmp(cx->b, LLVMIntSLT, cg_i64(cx, j), cols, ""), "");
      cg_if_begin(cx, &in, ok);
      LLVMValueRef at = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, cg_i64(cx, i), ldc, ""),
                                        cg_i64(cx, j), "");
      if (add)
        s = LLVMBuildFAdd(cx->b, cg_load(cx, et, c, at), s, "");
      cg_store(cx, s, c, at);
      cg_if_end(cx, &in);
    }
  if (rowvec)
    cg_if_end(cx, &whole);
}

/* dot(K, a, lda, bt, ldb, c, ldc, rows, cols): C[0:rows, 0:cols] =
   A[0:rows, 0:K] Bt[0:cols, 0:K]^T, rows at most R and cols at most D
   (missing ones read the last row or column again and are not stored).
   K >= 1. Every element sums alike whatever R and D.
   With bsum, dot_sum(..., nb, sa, sb) adds to C the products of nb
   batches (A and Bt step sa and sb elements from one to the next), the
   vector partial sums kept across the batches and reduced once. */
static LLVMValueRef emit_dot(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name, int R,
                             int D, bool bsum) {
  LLVMTypeRef p[12] = {cx->t_i64, cx->t_ptr, cx->t_i64, cx->t_ptr, cx->t_i64, cx->t_ptr,
                       cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i64};
  LLVMValueRef fn = begin_function(cx, name, p, bsum ? 12 : 9);
  cg_set_noalias(cx, fn, 5);
  DotRows d = dot_rows(q, et, R, D);
  d.K = cg_param(cx, 0);
  LLVMValueRef a = cg_param(cx, 1), lda = cg_param(cx, 2), bt = cg_param(cx, 3),
               ldb = cg_param(cx, 4), c = cg_param(cx, 5), ldc = cg_param(cx, 6),
               rows = cg_param(cx, 7), cols = cg_param(cx, 8);
  LLVMValueRef arow[8], brow[8];
  clamped_rows(cx, et, a, lda, rows, R, arow);
  clamped_rows(cx, et, bt, ldb, cols, D, brow);
  d.whole = LLVMBuildNSWMul(cx->b, LLVMBuildSDiv(cx->b, d.K, cg_i64(cx, d.L), ""),
                            cg_i64(cx, d.L), "");
  d.mask = column_mask(cx, 0, d.L, LLVMBuildNSWSub(cx->b, d.K, d.whole, ""));
  LLVMValueRef acc[8][8], zero = LLVMConstNull(d.vt);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < D; j++)
      acc[i][j] = zero;
  if (!bsum) {
    memcpy(d.arow, arow, sizeof arow);
    memcpy(d.brow, brow, sizeof brow);
    dot_accumulate(cx, &d, acc);
    dot_store(cx, &d, et, acc, c, ldc, rows, cols, false);
    LLVMBuildRetVoid(cx->b);
    return fn;
  }
  LLVMValueRef nb = cg_param(cx, 9), sa = cg_param(cx, 10), sb = cg_param(cx, 11);
  CgFor b;
  cg_for_begin_nonempty(cx, &b, cg_i64(cx, 0), nb, cg_i64(cx, 1));
  LLVMValueRef ph[8][8];
  carry_begin(cx, &b, &d, acc, ph);
  LLVMValueRef ao = LLVMBuildNSWMul(cx->b, b.iv, sa, ""), bo = LLVMBuildNSWMul(cx->b, b.iv, sb, "");
  for (int i = 0; i < R; i++)
    d.arow[i] = cg_gep(cx, et, arow[i], ao);
  for (int j = 0; j < D; j++)
    d.brow[j] = cg_gep(cx, et, brow[j], bo);
  dot_accumulate(cx, &d, acc);
  carry_end(cx, &b, &d, acc, ph);
  dot_store(cx, &d, et, acc, c, ldc, rows, cols, true);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* One step along k of the window dot kernel: `rows` output rows from row
   y of dY (contiguous: masked to rows * OW lanes) and of each window, a
   row's piece pc read from its image row into lanes [pc*OW, (pc+1)*OW)
   (merged into the vector by masked loads), or for wide rows the
   stretch [x0, x0 + L) of row y. */
typedef struct WinStep {
  const DotRows *d;
  LLVMValueRef ab[8], xb[8]; /* this batch's dY rows and window starts */
  int64_t OW, rowstep, SX;
} WinStep;

static void win_step(Cg *cx, const WinStep *w, LLVMValueRef y, int rows, int64_t x0,
                     LLVMValueRef acc[8][8]) {
  const DotRows *d = w->d;
  int L = d->L;
  LLVMValueRef av[8], bv[8];
  bool wide = w->OW > L;
  int64_t len = wide ? min64(L, w->OW - x0) : rows * w->OW;
  LLVMValueRef m = cg_lane_mask(cx, L, cg_i64(cx, 0), cg_i64(cx, len));
  LLVMValueRef at = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, y, cg_i64(cx, w->OW), ""),
                                    cg_i64(cx, x0), "");
  for (int i = 0; i < d->R; i++)
    av[i] = cg_masked_load(cx, d->vt, w->ab[i], at, m, d->esz);
  for (int pc = 0; pc < (wide ? 1 : rows); pc++) {
    LLVMValueRef pm = m;
    if (!wide)
      pm = lane_range(cx, L, cg_i64(cx, pc * w->OW), cg_i64(cx, (pc + 1) * w->OW));
    LLVMValueRef row = LLVMBuildNSWAdd(cx->b, y, cg_i64(cx, pc), "");
    LLVMValueRef xat = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, row, cg_i64(cx, w->rowstep), ""),
                                       cg_i64(cx, (x0 - pc * w->OW) * w->SX), "");
    for (int j = 0; j < d->D; j++)
      bv[j] = load_stepped(cx, d->vt, w->xb[j], xat, pm, pc == 0 ? NULL : bv[j], (int)w->SX,
                           d->esz);
  }
  dot_fmas(cx, d, av, bv, acc);
}

/* dot_sum_win(a, lda, x, n0, c, ldc, rows, cols, nb, sa, sx): as dot_sum,
   Bt's rows being windows n0 .. n0 + cols - 1 of the images x (q's window
   geometry, fixed in the function): row n = (c, ky, kx) starts at
   c*H*W + ky*DY*W + kx*DX and its element (oy, ox) adds oy*SY*W + ox*SX;
   k runs over OH x OW. The vectors along k follow the output rows as the
   window microkernel's do: a row longer than a vector in vectors along it
   (the last masked), shorter rows P = win_pieces to a vector (the last
   group of rows may be short), each piece from its own row of the image;
   dY's rows are contiguous. */
static LLVMValueRef emit_dot_sum_win(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name,
                                     int R, int D) {
  LLVMTypeRef p[11] = {cx->t_ptr, cx->t_i64, cx->t_ptr, cx->t_i64, cx->t_ptr, cx->t_i64,
                       cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i64};
  LLVMValueRef fn = begin_function(cx, name, p, 11);
  cg_set_noalias(cx, fn, 4);
  DotRows d = dot_rows(q, et, R, D);
  LLVMValueRef a = cg_param(cx, 0), lda = cg_param(cx, 1), x = cg_param(cx, 2),
               n0 = cg_param(cx, 3), c = cg_param(cx, 4), ldc = cg_param(cx, 5),
               rows = cg_param(cx, 6), cols = cg_param(cx, 7), nb = cg_param(cx, 8),
               sa = cg_param(cx, 9), sx = cg_param(cx, 10);
  const int64_t *gq = q->wgeo;
  int64_t OW = gq[W_OW], OH = q->K / OW, HW = gq[W_H] * gq[W_W], kk = gq[W_KH] * gq[W_KW];
  LLVMValueRef arow[8], xrow[8], one = cg_i64(cx, 1);
  clamped_rows(cx, et, a, lda, rows, R, arow);
  for (int j = 0; j < D; j++) { /* window row n = (ci, ky, kx) */
    LLVMValueRef n = LLVMBuildNSWAdd(
        cx->b, n0, cg_min(cx, cg_i64(cx, j), LLVMBuildNSWSub(cx->b, cols, one, "")), "");
    LLVMValueRef ci = LLVMBuildSDiv(cx->b, n, cg_i64(cx, kk), "");
    LLVMValueRef rem = LLVMBuildSRem(cx->b, n, cg_i64(cx, kk), "");
    LLVMValueRef ky = LLVMBuildSDiv(cx->b, rem, cg_i64(cx, gq[W_KW]), "");
    LLVMValueRef kx = LLVMBuildSRem(cx->b, rem, cg_i64(cx, gq[W_KW]), "");
    LLVMValueRef off = LLVMBuildNSWMul(cx->b, ci, cg_i64(cx, HW), "");
    off = LLVMBuildNSWAdd(cx->b, off, LLVMBuildNSWMul(cx->b, ky, cg_i64(cx, gq[W_DY] * gq[W_W]), ""), "");
    off = LLVMBuildNSWAdd(cx->b, off, LLVMBuildNSWMul(cx->b, kx, cg_i64(cx, gq[W_DX]), ""), "");
    xrow[j] = cg_gep(cx, et, x, off);
  }
  bool wide = OW > d.L;
  int64_t P = wide ? 1 : win_pieces(q), full = OH / P * P;
  WinStep w = {.d = &d, .OW = OW, .rowstep = gq[W_SY] * gq[W_W], .SX = gq[W_SX]};
  LLVMValueRef acc[8][8], phb[8][8], phy[8][8];
  for (int i = 0; i < R; i++)
    for (int j = 0; j < D; j++)
      acc[i][j] = LLVMConstNull(d.vt);
  CgFor b, y;
  cg_for_begin_nonempty(cx, &b, cg_i64(cx, 0), nb, one);
  carry_begin(cx, &b, &d, acc, phb);
  for (int i = 0; i < R; i++)
    w.ab[i] = cg_gep(cx, et, arow[i], LLVMBuildNSWMul(cx->b, b.iv, sa, ""));
  for (int j = 0; j < D; j++)
    w.xb[j] = cg_gep(cx, et, xrow[j], LLVMBuildNSWMul(cx->b, b.iv, sx, ""));
  if (full > 0) {
    cg_for_begin_nonempty(cx, &y, cg_i64(cx, 0), cg_i64(cx, full), cg_i64(cx, P));
    carry_begin(cx, &y, &d, acc, phy);
    for (int64_t x0 = 0; x0 < (wide ? OW : 1); x0 += d.L)
      win_step(cx, &w, y.iv, (int)P, x0, acc);
    carry_end(cx, &y, &d, acc, phy);
  }
  if (full < OH) /* the last rows, fewer than P */
    win_step(cx, &w, cg_i64(cx, full), (int)(OH - full), 0, acc);
  carry_end(cx, &b, &d, acc, phb);
  dot_store(cx, &d, et, acc, c, ldc, rows, cols, true);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* Transposes the L x L block held in v[0..L) (v[i] = row i) in registers:
   log2(L) rounds of interleaving v[i] with v[i + L/2] (the perfect shuffle,
   applied log2(L) times, is the transpose). */
static void transpose_block(Cg *cx, LLVMValueRef *v, int L) {
  LLVMValueRef lo[64], hi[64], tmp[64];
  for (int i = 0; i < L / 2; i++) {
    lo[2 * i] = LLVMConstInt(cx->t_i32, (unsigned)i, 0);
    lo[2 * i + 1] = LLVMConstInt(cx->t_i32, (unsigned)(L + i), 0);
    hi[2 * i] = LLVMConstInt(cx->t_i32, (unsigned)(L / 2 + i), 0);
    hi[2 * i + 1] = LLVMConstInt(cx->t_i32, (unsigned)(L + L / 2 + i), 0);
  }
  LLVMValueRef mlo = LLVMConstVector(lo, (unsigned)L), mhi = LLVMConstVector(hi, (unsigned)L);
  for (int round = 1; round < L; round *= 2) {
    for (int i = 0; i < L / 2; i++) {
      tmp[2 * i] = LLVMBuildShuffleVector(cx->b, v[i], v[i + L / 2], mlo, "");
      tmp[2 * i + 1] = LLVMBuildShuffleVector(cx->b, v[i], v[i + L / 2], mhi, "");
    }
    memcpy(v, tmp, (size_t)L * sizeof *v);
  }
}

/* Values k in [k0, k0 + L) of rows [0, rows) of a panel (row i at
   arow[i], the missing ones reading the last: clamped_rows) into dst
   (dst[k][i], zeros for i >= rows): L rows at a time as vectors along k,
   transposed in registers and stored as one vector per k (masked to the
   panel's MR rows), lanes past `rows` zeroed. */
static void pack_a_block(Cg *cx, const Gemm *q, LLVMTypeRef et, const LLVMValueRef *arow,
                         LLVMValueRef k0, LLVMValueRef dst, LLVMValueRef rows) {
  int MR = q->mr, L = q->lanes;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  for (int r0 = 0; r0 < MR; r0 += L) {
    int n = MR - r0 < L ? MR - r0 : L;
    LLVMValueRef v[64];
    for (int l = 0; l < L; l++)
      v[l] = load_aligned(cx, vt, arow[r0 + (l < n ? l : n - 1)], k0, esz);
    transpose_block(cx, v, L);
    LLVMValueRef keep = cg_lane_mask(cx, L, cg_i64(cx, r0), rows);
    LLVMValueRef mask = n < L ? cg_lane_mask(cx, L, cg_i64(cx, 0), cg_i64(cx, n)) : NULL;
    for (int m = 0; m < L; m++) {
      LLVMValueRef x = LLVMBuildSelect(cx->b, keep, v[m], LLVMConstNull(vt), "");
      LLVMValueRef k = LLVMBuildNSWAdd(cx->b, k0, cg_i64(cx, m), "");
      LLVMValueRef at = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, k, cg_i64(cx, MR), ""),
                                        cg_i64(cx, r0), "");
      if (mask)
        cg_masked_store(cx, x, et, dst, at, mask, esz);
      else
        store_aligned(cx, x, et, dst, at, esz);
    }
  }
}

/* Value k of a transposed panel (rows [0, rows) contiguous at a + k * lda)
   into dst[k][0 .. MR), zeros past `rows`: masked vectors. */
static void pack_at_k(Cg *cx, const Gemm *q, LLVMTypeRef et, LLVMValueRef a, LLVMValueRef lda,
                      LLVMValueRef k, LLVMValueRef dst, LLVMValueRef rows) {
  int MR = q->mr, L = q->lanes;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef src = LLVMBuildNSWMul(cx->b, k, lda, "");
  LLVMValueRef to = LLVMBuildNSWMul(cx->b, k, cg_i64(cx, MR), "");
  for (int r0 = 0; r0 < MR; r0 += L) {
    int n = MR - r0 < L ? MR - r0 : L;
    LLVMValueRef x = cg_masked_load(cx, vt, a, LLVMBuildNSWAdd(cx->b, src, cg_i64(cx, r0), ""),
                                    cg_lane_mask(cx, L, cg_i64(cx, r0), rows), esz);
    LLVMValueRef at = LLVMBuildNSWAdd(cx->b, to, cg_i64(cx, r0), "");
    if (n < L)
      cg_masked_store(cx, x, et, dst, at, cg_lane_mask(cx, L, cg_i64(cx, 0), cg_i64(cx, n)), esz);
    else
      store_aligned(cx, x, et, dst, at, esz);
  }
}

/* Value k of rows [0, rows) of a panel at a (row length lda) into
   dst[k][0 .. rows), zeros in dst[k][rows .. MR): one element per
   iteration, neither vectorized nor unrolled (the rows' elements are lda
   apart: vectors of them would be gathers). */
static void pack_a_rows(Cg *cx, const Gemm *q, LLVMTypeRef et, LLVMValueRef a, LLVMValueRef lda,
                        LLVMValueRef k, LLVMValueRef dst, LLVMValueRef rows) {
  LLVMValueRef at = LLVMBuildNSWMul(cx->b, k, cg_i64(cx, q->mr), "");
  CgFor i, z;
  cg_for_begin(cx, &i, cg_i64(cx, 0), rows, cg_i64(cx, 1));
  cg_store(cx, cg_load(cx, et, a, element_at(cx, false, i.iv, k, lda)), dst,
           LLVMBuildNSWAdd(cx->b, at, i.iv, ""));
  cg_for_end_scalar(cx, &i);
  cg_for_begin(cx, &z, rows, cg_i64(cx, q->mr), cg_i64(cx, 1));
  cg_store(cx, LLVMConstNull(et), dst, LLVMBuildNSWAdd(cx->b, at, z.iv, ""));
  cg_for_end_scalar(cx, &z);
}

/* pack_a(a, lda, mc, kc, ap): rows [0, mc) of a, k in [0, kc), as panels of
   MR rows stored k-major (ap[panel][k][i]); missing rows are zeros. With
   trans, a is stored transposed (element (i, k) at a[k * lda + i]) and a
   panel's values of each k are contiguous: moved as masked vectors.
   Otherwise by L x L register transposes (pack_a_block), the last kc % L
   values of k one element at a time. */
static LLVMValueRef emit_pack_a(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name,
                                bool trans) {
  LLVMTypeRef p[5] = {cx->t_ptr, cx->t_i64, cx->t_i64, cx->t_i64, cx->t_ptr};
  LLVMValueRef fn = begin_function(cx, name, p, 5);
  cg_set_noalias(cx, fn, 0);
  cg_set_noalias(cx, fn, 4);
  int MR = q->mr, L = q->lanes;
  MC_ASSERT(L <= 64 && (L & (L - 1)) == 0);
  LLVMValueRef a = cg_param(cx, 0), lda = cg_param(cx, 1), mc = cg_param(cx, 2);
  LLVMValueRef kc = cg_param(cx, 3), ap = cg_param(cx, 4);
  CgFor ip, k;
  cg_for_begin(cx, &ip, cg_i64(cx, 0), mc, cg_i64(cx, MR));
  LLVMValueRef rows = cg_min(cx, LLVMBuildNSWSub(cx->b, mc, ip.iv, ""), cg_i64(cx, MR));
  LLVMValueRef dst = cg_gep(cx, et, ap, LLVMBuildNSWMul(cx->b, ip.iv, kc, ""));
  LLVMValueRef panel = cg_gep(cx, et, a, element_at(cx, trans, ip.iv, cg_i64(cx, 0), lda));
  LLVMValueRef kv = cg_i64(cx, 0); /* k in [0, kv) by register transposes */
  if (!trans) {
    kv = LLVMBuildNSWSub(cx->b, kc, LLVMBuildSRem(cx->b, kc, cg_i64(cx, L), ""), "");
    LLVMValueRef arow[32];
    MC_ASSERT(MR <= 32);
    clamped_rows(cx, et, panel, lda, rows, MR, arow);
    CgFor kb;
    cg_for_begin(cx, &kb, cg_i64(cx, 0), kv, cg_i64(cx, L));
    pack_a_block(cx, q, et, arow, kb.iv, dst, rows);
    cg_for_end(cx, &kb);
  }
  cg_for_begin(cx, &k, kv, kc, cg_i64(cx, 1));
  if (trans)
    pack_at_k(cx, q, et, panel, lda, k.iv, dst, rows);
  else
    pack_a_rows(cx, q, et, panel, lda, k.iv, dst, rows);
  cg_for_end_unvectorized(cx, &k);
  cg_for_end(cx, &ip);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* What the two packers of B share: `void name(b, ldb, kc, nc, bp)` (b and
   bp never overlap) and its loop over panels of NR columns, open on return
   with the panel's column count and destination; pack_b_end closes it. */
typedef struct PackB {
  LLVMValueRef fn, b, ldb, kc, bp;
  LLVMTypeRef vt;
  unsigned esz;
  CgFor jp;
  LLVMValueRef cols, dst; /* columns left from jp.iv; &bp[jp.iv * kc] */
} PackB;

static void pack_b_begin(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name, PackB *k) {
  LLVMTypeRef p[5] = {cx->t_ptr, cx->t_i64, cx->t_i64, cx->t_i64, cx->t_ptr};
  k->fn = begin_function(cx, name, p, 5);
  cg_set_noalias(cx, k->fn, 0);
  cg_set_noalias(cx, k->fn, 4);
  k->esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  k->vt = LLVMVectorType(et, (unsigned)q->lanes);
  k->b = cg_param(cx, 0);
  k->ldb = cg_param(cx, 1);
  k->kc = cg_param(cx, 2);
  k->bp = cg_param(cx, 4);
  cg_for_begin(cx, &k->jp, cg_i64(cx, 0), cg_param(cx, 3), cg_i64(cx, q->nr));
  k->cols = LLVMBuildNSWSub(cx->b, cg_param(cx, 3), k->jp.iv, "");
  k->dst = cg_gep(cx, et, k->bp, LLVMBuildNSWMul(cx->b, k->jp.iv, k->kc, ""));
}

static LLVMValueRef pack_b_end(Cg *cx, PackB *k) {
  cg_for_end(cx, &k->jp);
  LLVMBuildRetVoid(cx->b);
  return k->fn;
}

/* pack_b(b, ldb, kc, nc, bp): columns [0, nc) of b, k in [0, kc), as panels
   of NR columns stored k-major (bp[panel][k][j]); missing columns are
   zeros. Full panels move whole vectors, the last one masked loads. */
static LLVMValueRef emit_pack_b(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name) {
  PackB pk;
  pack_b_begin(cx, q, et, name, &pk);
  int NR = q->nr, L = q->lanes;
  unsigned esz = pk.esz;
  LLVMTypeRef vt = pk.vt;
  LLVMValueRef b = pk.b, ldb = pk.ldb, kc = pk.kc, cols = pk.cols, dst = pk.dst;
  LLVMValueRef col0 = pk.jp.iv;
  CgIf whole;
  cg_if_begin(cx, &whole, LLVMBuildICmp(cx->b, LLVMIntSGE, cols, cg_i64(cx, NR), ""));
  CgFor k;
  cg_for_begin_nonempty(cx, &k, cg_i64(cx, 0), kc, cg_i64(cx, 1));
  LLVMValueRef src = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, k.iv, ldb, ""), col0, "");
  LLVMValueRef to = LLVMBuildNSWMul(cx->b, k.iv, cg_i64(cx, NR), "");
  for (int j = 0; j < q->nv; j++) {
    LLVMValueRef v =
        load_aligned(cx, vt, b, LLVMBuildNSWAdd(cx->b, src, cg_i64(cx, j * L), ""), esz);
    store_aligned(cx, v, et, dst, LLVMBuildNSWAdd(cx->b, to, cg_i64(cx, j * L), ""),
                  (unsigned)L * esz);
  }
  cg_for_end(cx, &k);
  cg_if_else(cx, &whole);
  CgFor k2;
  cg_for_begin_nonempty(cx, &k2, cg_i64(cx, 0), kc, cg_i64(cx, 1));
  src = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, k2.iv, ldb, ""), col0, "");
  to = LLVMBuildNSWMul(cx->b, k2.iv, cg_i64(cx, NR), "");
  for (int j = 0; j < q->nv; j++) {
    LLVMValueRef m = cg_lane_mask(cx, L, cg_i64(cx, j * L), cols);
    LLVMValueRef v = cg_masked_load(cx, vt, b, LLVMBuildNSWAdd(cx->b, src, cg_i64(cx, j * L), ""),
                                    m, esz);
    store_aligned(cx, v, et, dst, LLVMBuildNSWAdd(cx->b, to, cg_i64(cx, j * L), ""),
                  (unsigned)L * esz);
  }
  cg_for_end_unvectorized(cx, &k2);
  cg_if_end(cx, &whole);
  return pack_b_end(cx, &pk);
}

/* pack_b_t(b, ldb, kc, nc, bp): the same panels from b stored transposed
   (element (k, j) at b[j * ldb + k]), as a weight W[out, in] is read for
   x @ transpose(W). A panel takes L values of k at a time from each
   column (vector loads along k) and transposes L x L blocks in registers
   (missing columns zeroed); the last kc % L values of k go one element
   at a time. */
static LLVMValueRef emit_pack_b_t(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name) {
  PackB pk;
  pack_b_begin(cx, q, et, name, &pk);
  int NR = q->nr, L = q->lanes;
  LLVMTypeRef vt = pk.vt;
  LLVMValueRef b = pk.b, ldb = pk.ldb, kc = pk.kc, cols = pk.cols, dst = pk.dst;
  LLVMValueRef col0 = pk.jp.iv;
  LLVMValueRef last_col = LLVMBuildNSWSub(cx->b, cols, cg_i64(cx, 1), "");
  LLVMValueRef src[64];
  MC_ASSERT(NR <= 64 && L <= 64 && (L & (L - 1)) == 0);
  clamped_rows(cx, et, cg_gep(cx, et, b, LLVMBuildNSWMul(cx->b, col0, ldb, "")), ldb, cols, NR, src);
  /* k in [0, kv) by blocks (a missing column reads the last one; its
     lanes are zeroed) */
  LLVMValueRef kv = LLVMBuildNSWSub(cx->b, kc, LLVMBuildSRem(cx->b, kc, cg_i64(cx, L), ""), "");
  CgFor kb;
  cg_for_begin(cx, &kb, cg_i64(cx, 0), kv, cg_i64(cx, L));
  for (int v = 0; v < NR / L; v++) {
    LLVMValueRef rows[64];
    for (int l = 0; l < L; l++)
      rows[l] = load_aligned(cx, vt, src[v * L + l], kb.iv, pk.esz);
    transpose_block(cx, rows, L);
    LLVMValueRef keep = cg_lane_mask(cx, L, cg_i64(cx, v * L), cols);
    for (int m = 0; m < L; m++) {
      LLVMValueRef at = LLVMBuildNSWMul(
          cx->b, LLVMBuildNSWAdd(cx->b, kb.iv, cg_i64(cx, m), ""), cg_i64(cx, NR), "");
      LLVMValueRef x = LLVMBuildSelect(cx->b, keep, rows[m], LLVMConstNull(vt), "");
      store_aligned(cx, x, et, dst, LLVMBuildNSWAdd(cx->b, at, cg_i64(cx, v * L), ""),
                    (unsigned)L * pk.esz);
    }
  }
  cg_for_end(cx, &kb);
  /* the rest of k, one element at a time (neither vectorized nor unrolled:
     the columns' elements are ldb apart, a gather) */
  CgFor k, j;
  cg_for_begin(cx, &k, kv, kc, cg_i64(cx, 1));
  LLVMValueRef to = LLVMBuildNSWMul(cx->b, k.iv, cg_i64(cx, NR), "");
  cg_for_begin(cx, &j, cg_i64(cx, 0), cg_i64(cx, NR), cg_i64(cx, 1));
  LLVMValueRef col = LLVMBuildNSWAdd(cx->b, col0, cg_min(cx, j.iv, last_col), "");
  LLVMValueRef x = cg_load(cx, et, b, element_at(cx, true, k.iv, col, ldb));
  x = LLVMBuildSelect(cx->b, LLVMBuildICmp(cx->b, LLVMIntSLT, j.iv, cols, ""), x,
                      LLVMConstNull(et), "");
  cg_store(cx, x, dst, LLVMBuildNSWAdd(cx->b, to, j.iv, ""));
  cg_for_end_scalar(cx, &j);
  cg_for_end_unvectorized(cx, &k);
  return pack_b_end(cx, &pk);
}

/* One vector of output positions (rows output rows from y, or a row's
   stretch from x0) of the L columns at base[0..L) (sub-panel v), read as
   the window kernels read them (load_stepped), transposed in registers
   and stored as that many rows of k of the panel at dst (columns missing
   from `keep` zero). */
static void pack_win_vectors(Cg *cx, const Gemm *q, LLVMTypeRef et, LLVMValueRef *base,
                             LLVMValueRef keep, LLVMValueRef y, int rows, int64_t x0,
                             LLVMValueRef dst, int v) {
  int L = q->lanes, NR = q->nr;
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  const int64_t *gq = q->wgeo;
  int64_t OW = gq[W_OW], rowstep = gq[W_SY] * gq[W_W];
  bool wide = OW > L;
  int64_t len = wide ? min64(L, OW - x0) : rows * OW;
  LLVMValueRef col[64];
  for (int l = 0; l < L; l++) {
    col[l] = NULL;
    for (int pc = 0; pc < (wide ? 1 : rows); pc++) {
      LLVMValueRef pm = wide ? cg_lane_mask(cx, L, cg_i64(cx, 0), cg_i64(cx, len))
                             : lane_range(cx, L, cg_i64(cx, pc * OW), cg_i64(cx, (pc + 1) * OW));
      LLVMValueRef row = LLVMBuildNSWAdd(cx->b, y, cg_i64(cx, pc), "");
      LLVMValueRef at = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, row, cg_i64(cx, rowstep), ""),
                                        cg_i64(cx, (x0 - pc * OW) * gq[W_SX]), "");
      col[l] = load_stepped(cx, vt, base[l], at, pm, col[l], (int)gq[W_SX], esz);
    }
  }
  transpose_block(cx, col, L);
  LLVMValueRef k0 = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, y, cg_i64(cx, OW), ""),
                                    cg_i64(cx, x0), "");
  for (int m = 0; m < len; m++) {
    LLVMValueRef k = LLVMBuildNSWAdd(cx->b, k0, cg_i64(cx, m), "");
    LLVMValueRef at = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, k, cg_i64(cx, NR), ""),
                                      cg_i64(cx, v * L), "");
    store_aligned(cx, LLVMBuildSelect(cx->b, keep, col[m], LLVMConstNull(vt), ""), et, dst, at,
                  (unsigned)L * esz);
  }
}

/* pack_b_win(x, n0, nc, kc, bp): B's panels of NR columns (windows n0 ..
   n0 + nc - 1 of the image x, q's geometry fixed in the function) over k
   = the image's OH x OW output positions in order: bp[panel][k][j], a
   panel kc * NR elements long (the image's place along a longer k is in
   bp); missing columns are zeros. L columns at a time, a vector per
   stretch of an output row, or win_pieces rows to a vector. */
static LLVMValueRef emit_pack_b_win(Cg *cx, const Gemm *q, LLVMTypeRef et, const char *name) {
  PackB pk;
  pack_b_begin(cx, q, et, name, &pk); /* b is the image, ldb the first column n0 */
  int NR = q->nr, L = q->lanes;
  MC_ASSERT(NR <= 64 && L <= 64 && NR % L == 0);
  const int64_t *gq = q->wgeo;
  int64_t OW = gq[W_OW], OH = q->K / OW, kk = gq[W_KH] * gq[W_KW];
  LLVMValueRef last = LLVMBuildNSWSub(cx->b, pk.cols, cg_i64(cx, 1), "");
  LLVMValueRef first = LLVMBuildNSWAdd(cx->b, pk.ldb, pk.jp.iv, "");
  bool wide = OW > L;
  int64_t P = wide ? 1 : win_pieces(q), full = OH / P * P;
  for (int v = 0; v < NR / L; v++) {
    LLVMValueRef base[64];
    for (int l = 0; l < L; l++) { /* window row n = (ci, ky, kx) */
      LLVMValueRef n = LLVMBuildNSWAdd(cx->b, first, cg_min(cx, cg_i64(cx, v * L + l), last), "");
      LLVMValueRef ci = LLVMBuildSDiv(cx->b, n, cg_i64(cx, kk), "");
      LLVMValueRef rem = LLVMBuildSRem(cx->b, n, cg_i64(cx, kk), "");
      LLVMValueRef ky = LLVMBuildSDiv(cx->b, rem, cg_i64(cx, gq[W_KW]), "");
      LLVMValueRef kx = LLVMBuildSRem(cx->b, rem, cg_i64(cx, gq[W_KW]), "");
      LLVMValueRef off = LLVMBuildNSWMul(cx->b, ci, cg_i64(cx, gq[W_H] * gq[W_W]), "");
      off = LLVMBuildNSWAdd(cx->b, off, LLVMBuildNSWMul(cx->b, ky, cg_i64(cx, gq[W_DY] * gq[W_W]), ""), "");
      off = LLVMBuildNSWAdd(cx->b, off, LLVMBuildNSWMul(cx->b, kx, cg_i64(cx, gq[W_DX]), ""), "");
      base[l] = cg_gep(cx, et, pk.b, off);
    }
    LLVMValueRef keep = cg_lane_mask(cx, L, cg_i64(cx, v * L), pk.cols);
    if (full > 0) {
      CgFor y;
      cg_for_begin_nonempty(cx, &y, cg_i64(cx, 0), cg_i64(cx, full), cg_i64(cx, P));
      for (int64_t x0 = 0; x0 < (wide ? OW : 1); x0 += L)
        pack_win_vectors(cx, q, et, base, keep, y.iv, (int)P, x0, pk.dst, v);
      cg_for_end(cx, &y);
    }
    if (full < OH) /* the last rows, fewer than P */
      pack_win_vectors(cx, q, et, base, keep, cg_i64(cx, full), (int)(OH - full), 0, pk.dst, v);
  }
  return pack_b_end(cx, &pk);
}

typedef struct Spec {
  const Gemm *q;
  IrDtype dt;
  int which;  /* UKERNEL, PACK_A, PACK_B, PACK_A_T, PACK_B_T */
  int nbaxes; /* the task */
  const Epi *epi; /* the task: its epilogue, or NULL */
  int nv;         /* NARROW: the microkernel's vectors per row */
  const char *key; /* DOT_SUM_WIN: its key (the geometry) */
  int rows;       /* NARROW: the microkernel's rows; the task: the narrow path's last
                     panel's rows (M % MR; 0: none), PATH_PACKED, PATH_DOT or
                     PATH_SMALL_BT */
} Spec;

static LLVMValueRef make_gemm_fn(Cg *cx, const void *arg) {
  const Spec *s = arg;
  LLVMTypeRef et = cg_type(cx, s->dt);
  char name[48];
  const char *sfx = s->dt == IR_F64 ? "f64" : "f32";
  switch (s->which) {
  case NARROW:
    snprintf(name, sizeof name, "gemm_ukernel_narrow%d%s_%s", s->rows, s->nv == 1 ? "v1" : "", sfx);
    return emit_ukernel_narrow(cx, s->q, et, name, s->rows, s->nv);
  case NARROW_WIN:
    snprintf(name, sizeof name, "gemm_ukernel_narrow_win%d%s_p%d%s_%s", s->rows,
             s->nv == 1 ? "v1" : "", win_pieces(s->q), s->q->wgeo[W_SX] == 2 ? "_x2" : "", sfx);
    return emit_ukernel_narrow_win(cx, s->q, et, name, s->rows, s->nv);
  case CV_SUM: /* fixed to its geometry, named after its key's hash */
    snprintf(name, sizeof name, "gemm_ukernel_cv_sum%d_v%d_%s_%08x", s->rows, s->nv, sfx,
             (unsigned)mc_hash_str(s->key));
    return emit_ukernel_cv_sum(cx, s->q, et, name, s->rows, s->nv);
  case CV:
    snprintf(name, sizeof name, "gemm_ukernel_cv%d_v%d%s%s_%s_%08x", s->rows, s->nv,
             s->q->wgeo[W_SX] == 2 ? "_x2" : "", s->q->cv_g ? "_g" : "", sfx,
             (unsigned)mc_hash_str(s->key));
    return emit_ukernel_cv(cx, s->q, et, name, s->rows, s->nv);
  case DOT:
    snprintf(name, sizeof name, "gemm_dot_%s", sfx);
    return emit_dot(cx, s->q, et, name, dot_block(s->q), dot_block(s->q), false);
  case DOT_SUM:
    snprintf(name, sizeof name, "gemm_dot_sum_%s", sfx);
    return emit_dot(cx, s->q, et, name, dot_block(s->q), dot_block(s->q), true);
  case PACK_B_WIN: /* named, like DOT_SUM_WIN, after its geometry */
    snprintf(name, sizeof name, "gemm_pack_b_win_%s_%08x", sfx, (unsigned)mc_hash_str(s->key));
    return emit_pack_b_win(cx, s->q, et, name);
  case DOT_SUM_WIN: /* named after its geometry's hash (cg_shared_function keeps one per key) */
    snprintf(name, sizeof name, "gemm_dot_sum_win_%s_%08x", sfx, (unsigned)mc_hash_str(s->key));
    return emit_dot_sum_win(cx, s->q, et, name, dot_block(s->q), dot_sum_cols(s->q));
  case DOT_ROW:
    snprintf(name, sizeof name, "gemm_dot_row_%s", sfx);
    return emit_dot(cx, s->q, et, name, 1, DOT_ROW_COLS, false);
  case UKERNEL:
    snprintf(name, sizeof name, "gemm_ukernel_%s_m%d", sfx, s->q->mr);
    return emit_ukernel(cx, s->q, et, name);
  case PACK_A:
    snprintf(name, sizeof name, "gemm_pack_a_%s_m%d", sfx, s->q->mr);
    return emit_pack_a(cx, s->q, et, name, false);
  case PACK_A_T:
    snprintf(name, sizeof name, "gemm_pack_at_%s_m%d", sfx, s->q->mr);
    return emit_pack_a(cx, s->q, et, name, true);
  case PACK_B_T:
    snprintf(name, sizeof name, "gemm_pack_bt_%s", sfx);
    return emit_pack_b_t(cx, s->q, et, name);
  default:
    snprintf(name, sizeof name, "gemm_pack_b_%s", sfx);
    return emit_pack_b(cx, s->q, et, name);
  }
}

/* The microkernel or a packer of q's dtype (and panel rows, for those that
   depend on them), emitted once per program. */
static LLVMValueRef gemm_fn(Cg *cx, const Gemm *q, IrDtype dt, int which) {
  static const char *const names[] = {"ukernel", "pack_a",     "pack_b", "pack_at", "pack_bt",
                                      "narrow",  "narrow_win", "dot",    "dot_row", "dot_sum"};
  char key[48];
  bool rows = which == UKERNEL || which == PACK_A || which == PACK_A_T;
  snprintf(key, sizeof key, "gemm_%s %s m%d", names[which], ir_dtype_name(dt), rows ? q->mr : 0);
  Spec s = {.q = q, .dt = dt, .which = which};
  return cg_shared_function(cx, key, make_gemm_fn, &s);
}

/* The window geometry of a bsum product read from its images, for the
   keys of the functions fixed to it (the window dot kernel, its task). */
static void win_sum_key(const Gemm *q, char *key, size_t n) {
  const int64_t *w = q->wgeo;
  snprintf(key, n, "l%d k%lld c%lld h%lld w%lld kh%lld kw%lld dy%lld dx%lld sy%lld ow%lld sx%lld",
           q->lanes, (long long)q->K, (long long)w[W_C], (long long)w[W_H], (long long)w[W_W],
           (long long)w[W_KH], (long long)w[W_KW], (long long)w[W_DY], (long long)w[W_DX],
           (long long)w[W_SY], (long long)w[W_OW], (long long)w[W_SX]);
}

/* The window dot kernel (DOT_SUM_WIN) or window packer (PACK_B_WIN) of
   q's geometry (fixed in it), once per program. */
static LLVMValueRef win_sum_fn(Cg *cx, const Gemm *q, IrDtype dt, int which) {
  char geo[160], key[200];
  win_sum_key(q, geo, sizeof geo);
  snprintf(key, sizeof key, "gemm_%s %s %s", which == PACK_B_WIN ? "pack_b_win" : "dot_sum_win",
           ir_dtype_name(dt), geo);
  Spec s = {.q = q, .dt = dt, .which = which, .key = key};
  return cg_shared_function(cx, key, make_gemm_fn, &s);
}

/* The path of a product, known when compiling: narrow (few rows, their
   count known, B not transposed): the rows of its last panel (M % MR, 0
   for none); dot (few rows that are not the batch, B transposed, a long
   k): PATH_DOT; few columns of a B stored transposed (a linear layer of
   few outputs): PATH_SMALL_BT; else PATH_PACKED. The dot path sums in
   another order than the packed one, hence never for rows that hold the
   batch dim: a library (whose batch is bound per call) and the JIT take
   the same path. The others sum alike. */
enum {
  PATH_PACKED = -1,
  PATH_DOT = -2,
  PATH_SMALL_BT = -3,
  PATH_DOT_SUM = -4,
  PATH_SUM_PACKED = -5,
  PATH_CV_SUM = -6
};

/* B stored transposed with at most this many column panels (NR) takes
   PATH_SMALL_BT (see emit_small_bt_block). */
#define SMALL_BT_PANELS 2

/* Rows of the narrow path's panels: M in as few panels of at most MR as
   it takes, of equal size but the last (16 rows as 8 + 8, not 14 + 2: a
   panel of two rows does two FMAs per load of B). Tiles along M (threads)
   are cut at multiples of MR, so then MR. */
static int narrow_panel(const Gemm *q) {
  return q->TM == 1 ? (int)ceil_div(q->M, ceil_div(q->M, q->mr)) : q->mr;
}

static int narrow_rows(const Gemm *q) {
  if (q->cvsum) return PATH_CV_SUM;
  if (q->bsum) return sum_packed(q) && !(q->trans & TRANS_A) ? PATH_SUM_PACKED : PATH_DOT_SUM;
  bool narrow = !(q->trans & TRANS_B) && !q->m_batch && q->M <= NARROW_ROWS;
  if (narrow) return (int)(q->M % narrow_panel(q));
  bool dot = q->trans == TRANS_B && !q->m_holds_batch && !q->rows_merged && q->M <= DOT_ROWS &&
             q->K >= DOT_MIN_K;
  if (dot) return PATH_DOT;
  bool small_bt = q->trans == TRANS_B && !q->n_batch && !q->k_batch &&
                  q->N <= SMALL_BT_PANELS * (int64_t)q->nr;
  return small_bt ? PATH_SMALL_BT : PATH_PACKED;
}

/* Vectors per row of the narrow microkernels of q: one when B has at most
   a vector's columns (a linear layer of 10 outputs), else NV. */
static int narrow_nv(const Gemm *q) {
  if (q->win) /* a vector per output row when rows fit in one, else a row's vectors */
    return q->wgeo[W_OW] <= q->lanes ? q->nv : (int)min64(q->nv, ceil_div(q->wgeo[W_OW], q->lanes));
  return !q->n_batch && q->N <= q->lanes ? 1 : q->nv;
}

/* The narrow microkernel of `rows` rows for q's dtype, once per program. */
/* Keys and names of the window paths: a vector per output row, or a row's vectors. */
/* 0: a row's vectors; 1-4: that many output rows to a vector. */
static int win_kind(const Gemm *q) { return q->wgeo[W_OW] > q->lanes ? 0 : win_pieces(q); }

static const char *win_mode(const Gemm *q) {
  static const char *const modes[2][5] = {
      {" win_cols", " win_rows", " win_rows2", " win_rows3", " win_rows4"},
      {" win_cols sx2", " win_rows sx2", " win_rows2 sx2", " win_rows3 sx2", " win_rows4 sx2"}};
  return modes[q->wgeo[W_SX] == 2][win_kind(q)];
}

/* The same, in a task function's name. */
static const char *win_suffix(const Gemm *q) {
  static const char *const sfx[2][5] = {{"_winc", "_winr", "_winr2", "_winr3", "_winr4"},
                                        {"_winc2", "_winr_2", "_winr2_2", "_winr3_2", "_winr4_2"}};
  return q->win ? sfx[q->wgeo[W_SX] == 2][win_kind(q)] : "";
}

static LLVMValueRef narrow_fn(Cg *cx, const Gemm *q, IrDtype dt, int rows) {
  char key[48];
  snprintf(key, sizeof key, "gemm_narrow%s%d v%d p%d x%d %s", q->win ? "_win" : "", rows, narrow_nv(q),
           q->win ? win_pieces(q) : 1, q->win ? (int)q->wgeo[W_SX] : 1, ir_dtype_name(dt));
  Spec s = {.q = q, .dt = dt, .which = q->win ? NARROW_WIN : NARROW, .nv = narrow_nv(q),
            .rows = rows};
  return cg_shared_function(cx, key, make_gemm_fn, &s);
}

/* The channel-vector window kernel of R pixels for q's dtype. */
static LLVMValueRef cv_fn(Cg *cx, const Gemm *q, IrDtype dt, int R) {
  char key[48];
  snprintf(key, sizeof key, "gemm_cv%d v%d x%d g%d k%d ow%d rs%d %s", R, q->cv_nv,
           (int)q->wgeo[W_SX], q->cv_g, q->cv_k, q->cv_k > 1 ? (int)q->wgeo[W_OW] : 0,
           q->cv_k > 1 ? (int)(q->wgeo[W_SY] * q->wgeo[W_W]) : 0, ir_dtype_name(dt));
  Spec s = {.q = q, .dt = dt, .which = CV, .nv = q->cv_nv, .rows = R, .key = key};
  return cg_shared_function(cx, key, make_gemm_fn, &s);
}

/* The channel-vector filter-gradient kernel of R window rows for q. */
static LLVMValueRef cv_sum_fn(Cg *cx, const Gemm *q, IrDtype dt, int R) {
  char geo[160], key[220];
  win_sum_key(q, geo, sizeof geo);
  snprintf(key, sizeof key, "gemm_cv_sum%d v%d %s %s", R, (int)(q->M / q->lanes),
           ir_dtype_name(dt), geo);
  Spec s = {.q = q, .dt = dt, .which = CV_SUM, .nv = (int)(q->M / q->lanes), .rows = R,
            .key = key};
  return cg_shared_function(cx, key, make_gemm_fn, &s);
}

/* Whether matmul id packs its B ahead (stable params): a product of the
   packed path, one B for every row (no batch axes left), B a param (or a
   transpose of one read in place) that the caller passes as a slot, in a
   program that updates no param (a training step's params change). q
   gets the product's geometry. */
static bool prepack_ok(const CgTarget *t, const CgPlan *p, const IrGraph *g, IrRef id, Gemm *q) {
  const IrNode *n = ir_node(g, id);
  if (!t->stable_params || t->aot || n->op != IR_OP_MATMUL)
    return false;
  for (uint32_t k = 0; k < g->nouts; k++)
    if (g->outs[k].kind == IR_OUT_UPDATE)
      return false;
  IrRef b = n->src[1];
  if (cg_matmul_operand_folded(p, g, id, 1))
    b = ir_node(g, b)->src[0];
  if (ir_node(g, b)->op != IR_OP_PARAM || p->loc[b].kind != CG_LOC_SLOT)
    return false;
  gemm_geometry(t, g, id, q);
  q->trans = (cg_matmul_operand_folded(p, g, id, 0) ? TRANS_A : 0) |
             (cg_matmul_operand_folded(p, g, id, 1) ? TRANS_B : 0);
  return q->K > 0 && !is_small(q) && !q->win && !q->bsum && q->nbaxes == 0 &&
         narrow_rows(q) == PATH_PACKED;
}

int64_t cg_matmul_packed_bytes(const CgTarget *t, const CgPlan *p, const IrGraph *g, IrRef id) {
  Gemm q;
  if (!prepack_ok(t, p, g, id, &q))
    return 0;
  return CG_ALIGN + q.K * round_up(q.N, q.nr) * cg_dtype_size((IrDtype)ir_node(g, id)->dtype);
}

/* ---- the task: one per dtype and batch rank -------------------------------------
   Everything about a node's geometry is read from its descriptor's
   extents (P_*, then the batch extents and the element strides per batch
   axis of a, b and c). */
enum {
  P_M,
  P_N,
  P_K,
  P_MT,
  P_NT,
  P_TN,
  P_PER_BATCH,
  P_NTILES,
  P_PARTS,
  P_AP_BYTES,
  P_PART_BYTES,
  P_CHUNK, /* bsum: batches per chunk */
  P_PACKED, /* q->prepack: byte offset of B's packed copy in the workspace */
  P_BATCH
};

static LLVMValueRef get(Cg *cx, LLVMValueRef params, int i) {
  return cg_load(cx, cx->t_i64, params, cg_i64(cx, i));
}

typedef struct Operands {
  LLVMValueRef a, b, c; /* batch bases */
  LLVMValueRef ap, bp;  /* this part's packing buffers */
  LLVMValueRef N, K;    /* also the row length of c */
  LLVMValueRef lda, ldb; /* row lengths of a and b as stored */
  LLVMValueRef coff;     /* element offset of c's batch */
  LLVMValueRef epi;      /* the epilogue function (epi_fn_type), or NULL */
  LLVMValueRef epi_ptrs; /* its operand and output pointers */
  LLVMValueRef wgeo[W_COUNT]; /* q->win: the window geometry (b is the image) */
  LLVMValueRef nbatch, sa, sb, chunk; /* q->bsum: the batches, a's and b's batch strides */
  LLVMValueRef packed; /* q->prepack: B's panels for every KC block of all N (emit_prepack) */
} Operands;

/* epilogue(ptrs, c, coff, N, r0, r1, c0, c1): the group's epilogue over
   C[r0:r1, c0:c1], made once per epilogue (make_epilogue) and called by a
   task shared by every epilogue. */
static LLVMTypeRef epi_fn_type(Cg *cx) {
  LLVMTypeRef p[8] = {cx->t_ptr, cx->t_ptr, cx->t_i64, cx->t_i64,
                      cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i64};
  return LLVMFunctionType(cx->t_void, p, 8, 0);
}

/* With an epilogue, calls it on the finished block C[r0:r1, c0:c1]. */
static void call_epilogue(Cg *cx, const Operands *o, LLVMValueRef r0, LLVMValueRef r1,
                          LLVMValueRef c0, LLVMValueRef c1) {
  if (!o->epi) return;
  LLVMValueRef args[8] = {o->epi_ptrs, o->c, o->coff, o->N, r0, r1, c0, c1};
  LLVMBuildCall2(cx->b, epi_fn_type(cx), o->epi, args, 8, "");
}

/* Applies the epilogue to C[r0:r1, c0:c1] (row length N); ext[] are the
   outside operands, then the extra outputs, whose elements sit at C's
   offsets plus coff (the batch). */
static void emit_epilogue(Cg *cx, const Epi *e, LLVMTypeRef et, LLVMValueRef C, LLVMValueRef coff,
                          LLVMValueRef N, LLVMValueRef *ext, LLVMValueRef r0, LLVMValueRef r1,
                          LLVMValueRef c0, LLVMValueRef c1) {
  LLVMValueRef scalar[CG_GROUP_MAX_BUFS], full[CG_GROUP_MAX_BUFS], out[EPI_MAX];
  for (int k = 0; k < e->next; k++) {
    scalar[k] = e->kind[k] == IR_EPI_SCALAR ? cg_load(cx, et, ext[k], cg_i64(cx, 0)) : NULL;
    full[k] = e->kind[k] == IR_EPI_FULL ? cg_gep(cx, et, ext[k], coff) : NULL;
  }
  for (int k = 0; k < e->nout; k++)
    out[k] = cg_gep(cx, et, ext[e->next + k], coff);
  CgFor r, c;
  cg_for_begin(cx, &r, r0, r1, cg_i64(cx, 1));
  LLVMValueRef base = LLVMBuildNSWMul(cx->b, r.iv, N, "");
  LLVMValueRef row = e->rows_per_col ? LLVMBuildSRem(cx->b, r.iv, cg_i64(cx, e->rows_per_col), "")
                                     : r.iv;
  LLVMValueRef by_row[CG_GROUP_MAX_BUFS]; /* COL operands: this row's value */
  for (int k = 0; k < e->next; k++)
    by_row[k] = e->kind[k] == IR_EPI_COL ? cg_load(cx, et, ext[k], row) : NULL;
  cg_for_begin(cx, &c, c0, c1, cg_i64(cx, 1));
  LLVMValueRef at = LLVMBuildNSWAdd(cx->b, base, c.iv, "");
  LLVMValueRef v = cg_load(cx, et, C, at);
  for (int i = 0; i < e->n; i++) {
    LLVMValueRef a[3] = {NULL, NULL, NULL};
    for (int k = 0; k < e->nsrc[i]; k++) {
      int s = e->src[i][k];
      a[k] = s < 0                        ? v
             : e->kind[s] == IR_EPI_FULL ? cg_load(cx, et, full[s], at)
             : e->kind[s] == IR_EPI_ROW  ? cg_load(cx, et, ext[s], c.iv)
             : e->kind[s] == IR_EPI_COL  ? by_row[s]
                                         : scalar[s];
    }
    v = cg_scalar(cx, e->op[i], et, a[0], a[1], a[2]);
    if (e->store[i] == -2)
      cg_store(cx, v, C, at);
    else if (e->store[i] >= 0)
      cg_store(cx, v, out[e->store[i]], at);
  }
  cg_for_end(cx, &c);
  cg_for_end(cx, &r);
}

/* ---- the last rows of a tile ----------------------------------------------------------
   A tile of M rows ends with a panel of M % MR rows, which the microkernel
   computes as MR (mlp's 128 rows: 9 panels of 14 and one of 2, 8% of the
   work wasted). Up to tail_rows_max rows it takes narrow microkernels
   instead, one per bit of the count (8, 4, 2, 1 rows), reading the packed
   panels (A's element (i, k) at i + k * MR, B's rows NR long). A narrow
   kernel of R rows costs about max(R, 4) steps of one row per k (below
   8 independent sums the fmas wait on latency), the microkernel MR: the
   limit is the largest count up to which every count costs less. Both
   sum alike (fma in k order from zero per KC block, then added to C):
   the same bits. */
static int tail_cost(int rows) {
  int cost = 0;
  for (int r = 16; r >= 1; r /= 2)
    if (rows & r) cost += r > 4 ? r : 4;
  return cost;
}

static int tail_rows_max(const Gemm *q) {
  int t = 0;
  while (t + 1 < q->mr && t + 1 < 32 && tail_cost(t + 1) < q->mr)
    t++;
  return t;
}

/* The rows of a panel of mr <= tail_rows_max rows: args are the
   microkernel's (kc, ap, bp, c, ldc, mr, nr, accumulate). */
static void tail_rows(Cg *cx, const Gemm *q, IrDtype dt, const LLVMValueRef *args) {
  LLVMTypeRef et = cg_type(cx, dt);
  LLVMValueRef mr = args[5];
  int most = tail_rows_max(q);
  for (int r = 16; r >= 1; r /= 2) {
    if (r > most)
      continue;
    char key[48];
    snprintf(key, sizeof key, "gemm_narrow%d v%d p1 x1 %s", r, q->nv, ir_dtype_name(dt));
    Spec s = {.q = q, .dt = dt, .which = NARROW, .nv = q->nv, .rows = r};
    LLVMValueRef fn = cg_shared_function(cx, key, make_gemm_fn, &s);
    CgIf has;
    cg_if_begin(cx, &has, LLVMBuildICmp(cx->b, LLVMIntNE, LLVMBuildAnd(cx->b, mr, cg_i64(cx, r), ""),
                                        cg_i64(cx, 0), ""));
    LLVMValueRef first = LLVMBuildAnd(cx->b, mr, cg_i64(cx, ~(int64_t)(2 * r - 1)), "");
    /* kc, a, sra, ska, b, ldb, c, ldc, nr, accumulate */
    LLVMValueRef nargs[10] = {args[0], cg_gep(cx, et, args[1], first), cg_i64(cx, 1),
                              cg_i64(cx, q->mr), args[2], cg_i64(cx, q->nr),
                              cg_gep(cx, et, args[3], LLVMBuildNSWMul(cx->b, first, args[4], "")),
                              args[4], args[6], args[7]};
    cg_call(cx, fn, nargs, 10);
    cg_if_end(cx, &has);
  }
}

/* The microkernel over one block's packed panels: C[ic:ic+mc, jc:jc+nc]
   (+)= the A panels at o->ap (MR rows by kc each) times the B panels at
   o->bp (kc by NR columns each); panels of few rows (tail_rows_max) by
   the narrow kernels. */
static void ukernel_panels(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o, LLVMValueRef ic,
                           LLVMValueRef mc, LLVMValueRef jc, LLVMValueRef nc, LLVMValueRef kc,
                           LLVMValueRef accumulate) {
  LLVMTypeRef et = cg_type(cx, dt);
  LLVMValueRef ukernel = gemm_fn(cx, q, dt, UKERNEL), N = o->N;
  CgFor jr, ir;
  cg_for_begin_nonempty(cx, &jr, cg_i64(cx, 0), nc, cg_i64(cx, q->nr));
  LLVMValueRef nr = cg_min(cx, cg_i64(cx, q->nr), LLVMBuildNSWSub(cx->b, nc, jr.iv, ""));
  LLVMValueRef bpanel = cg_gep(cx, et, o->bp, LLVMBuildNSWMul(cx->b, jr.iv, kc, ""));
  LLVMValueRef col = LLVMBuildNSWAdd(cx->b, jc, jr.iv, "");
  cg_for_begin_nonempty(cx, &ir, cg_i64(cx, 0), mc, cg_i64(cx, q->mr));
  LLVMValueRef mr = cg_min(cx, cg_i64(cx, q->mr), LLVMBuildNSWSub(cx->b, mc, ir.iv, ""));
  LLVMValueRef apanel = cg_gep(cx, et, o->ap, LLVMBuildNSWMul(cx->b, ir.iv, kc, ""));
  LLVMValueRef row = LLVMBuildNSWAdd(cx->b, ic, ir.iv, "");
  LLVMValueRef cdst =
      cg_gep(cx, et, o->c, LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, row, N, ""), col, ""));
  LLVMValueRef uargs[8] = {kc, apanel, bpanel, cdst, N, mr, nr, accumulate};
  int tail = tail_rows_max(q);
  if (tail > 0) {
    CgIf few;
    cg_if_begin(cx, &few, LLVMBuildICmp(cx->b, LLVMIntSLE, mr, cg_i64(cx, tail), ""));
    tail_rows(cx, q, dt, uargs);
    cg_if_else(cx, &few);
    cg_call(cx, ukernel, uargs, 8);
    cg_if_end(cx, &few);
  } else {
    cg_call(cx, ukernel, uargs, 8);
  }
  cg_for_end(cx, &ir);
  cg_for_end(cx, &jr);
}

/* ---- B packed ahead (stable params) ---------------------------------------------------
   The panels pack_b makes for the KC block at row pc, for all of N, lie at
   pc * round_up(N, NR) elements, the panel of columns [j, j + NR) at j * kc
   after that: what the tiles' own packing would give them, made once. */
static LLVMValueRef packed_at(Cg *cx, const Gemm *q, LLVMValueRef N, LLVMValueRef pc,
                              LLVMValueRef jc, LLVMValueRef kc) {
  LLVMValueRef np = LLVMBuildNSWMul(
      cx->b, LLVMBuildSDiv(cx->b, LLVMBuildNSWAdd(cx->b, N, cg_i64(cx, q->nr - 1), ""),
                           cg_i64(cx, q->nr), ""), cg_i64(cx, q->nr), "");
  return LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, pc, np, ""),
                         LLVMBuildNSWMul(cx->b, jc, kc, ""), "");
}

/* Packs B (at b, row length ldb) into `packed` unless it holds the panels
   of this very buffer at this params generation (the header at hdr:
   the pointer, then the generation); one thread, before the tiles. */
static void emit_prepack(Cg *cx, const Gemm *q, IrDtype dt, LLVMValueRef b, LLVMValueRef ws,
                         LLVMValueRef hdr, LLVMValueRef N, LLVMValueRef K) {
  LLVMTypeRef et = cg_type(cx, dt);
  bool tb = q->trans & TRANS_B;
  LLVMValueRef pack_b = gemm_fn(cx, q, dt, tb ? PACK_B_T : PACK_B);
  LLVMValueRef gen = cg_load(cx, cx->t_i64, cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_PARAMS_GEN)),
                             cg_i64(cx, 0));
  LLVMValueRef was = cg_load(cx, cx->t_ptr, hdr, cg_i64(cx, 0));
  LLVMValueRef was_gen = cg_load(cx, cx->t_i64, hdr, cg_i64(cx, 1));
  LLVMValueRef stale = LLVMBuildOr(cx->b, LLVMBuildICmp(cx->b, LLVMIntNE, was, b, ""),
                                   LLVMBuildICmp(cx->b, LLVMIntNE, was_gen, gen, ""), "");
  LLVMValueRef packed = cg_gep(cx, cx->t_i8, hdr, cg_i64(cx, CG_ALIGN));
  LLVMValueRef ldb = tb ? K : N;
  CgIf again;
  cg_if_begin(cx, &again, stale);
  CgFor pc, jc;
  cg_for_begin_nonempty(cx, &pc, cg_i64(cx, 0), K, cg_i64(cx, q->kc));
  LLVMValueRef kc = cg_min(cx, cg_i64(cx, q->kc), LLVMBuildNSWSub(cx->b, K, pc.iv, ""));
  cg_for_begin_nonempty(cx, &jc, cg_i64(cx, 0), N, cg_i64(cx, q->nc));
  LLVMValueRef nc = cg_min(cx, cg_i64(cx, q->nc), LLVMBuildNSWSub(cx->b, N, jc.iv, ""));
  LLVMValueRef bsrc = cg_gep(cx, et, b, element_at(cx, tb, pc.iv, jc.iv, ldb));
  LLVMValueRef dst = cg_gep(cx, et, packed, packed_at(cx, q, N, pc.iv, jc.iv, kc));
  cg_call(cx, pack_b, (LLVMValueRef[]){bsrc, ldb, kc, nc, dst}, 5);
  cg_for_end(cx, &jc);
  cg_for_end(cx, &pc);
  cg_store(cx, b, hdr, cg_i64(cx, 0));
  cg_store(cx, gen, hdr, cg_i64(cx, 1));
  cg_if_end(cx, &again);
}

/* The loops over one tile C[m0:m1, n0:n1] of one batch; with an epilogue,
   each C block gets it once its last K block is done. */
static void emit_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1) {
  LLVMTypeRef et = cg_type(cx, dt);
  bool ta = q->trans & TRANS_A, tb = q->trans & TRANS_B;
  LLVMValueRef pack_a = gemm_fn(cx, q, dt, ta ? PACK_A_T : PACK_A);
  LLVMValueRef pack_b = gemm_fn(cx, q, dt, tb ? PACK_B_T : PACK_B);
  LLVMValueRef K = o->K;
  CgFor jc, pc, ic;
  cg_for_begin(cx, &jc, n0, n1, cg_i64(cx, q->nc));
  LLVMValueRef nc = cg_min(cx, cg_i64(cx, q->nc), LLVMBuildNSWSub(cx->b, n1, jc.iv, ""));
  cg_for_begin_nonempty(cx, &pc, cg_i64(cx, 0), K, cg_i64(cx, q->kc));
  LLVMValueRef kc = cg_min(cx, cg_i64(cx, q->kc), LLVMBuildNSWSub(cx->b, K, pc.iv, ""));
  Operands ob = *o;
  if (q->prepack) {
    ob.bp = cg_gep(cx, et, o->packed, packed_at(cx, q, o->N, pc.iv, jc.iv, kc));
  } else {
    LLVMValueRef bsrc = cg_gep(cx, et, o->b, element_at(cx, tb, pc.iv, jc.iv, o->ldb));
    cg_call(cx, pack_b, (LLVMValueRef[]){bsrc, o->ldb, kc, nc, o->bp}, 5);
  }
  LLVMValueRef accumulate = LLVMBuildICmp(cx->b, LLVMIntNE, pc.iv, cg_i64(cx, 0), "");
  cg_for_begin(cx, &ic, m0, m1, cg_i64(cx, q->mc));
  LLVMValueRef mc = cg_min(cx, cg_i64(cx, q->mc), LLVMBuildNSWSub(cx->b, m1, ic.iv, ""));
  LLVMValueRef asrc = cg_gep(cx, et, o->a, element_at(cx, ta, ic.iv, pc.iv, o->lda));
  cg_call(cx, pack_a, (LLVMValueRef[]){asrc, o->lda, mc, kc, o->ap}, 5);
  ukernel_panels(cx, q, dt, &ob, ic.iv, mc, jc.iv, nc, kc, accumulate);
  if (o->epi) {
    CgIf done;
    LLVMValueRef kend = LLVMBuildNSWAdd(cx->b, pc.iv, kc, "");
    cg_if_begin(cx, &done, LLVMBuildICmp(cx->b, LLVMIntSGE, kend, K, ""));
    call_epilogue(cx, o, ic.iv, LLVMBuildNSWAdd(cx->b, ic.iv, mc, ""), jc.iv,
                  LLVMBuildNSWAdd(cx->b, jc.iv, nc, ""));
    cg_if_end(cx, &done);
  }
  cg_for_end(cx, &ic);
  cg_for_end(cx, &pc);
  cg_for_end(cx, &jc);
}

/* ---- skinny products ------------------------------------------------------------------
   A product of at most SKINNY_ROWS rows times a B stored transposed (x @
   transpose(W) at a small batch, as inference of one sample): packing W
   would copy it whole to use each element a few times. The tile reads W
   in place instead, L columns by L values of k at a time, transposed in
   registers, and accumulates exactly as the microkernel does (per KC block
   of k, fma in k order from zero, then added to C): the result is the
   same bits as the packed path's, so a library called at batch 1 agrees
   with the JIT compiled at batch 1. */
#define SKINNY_ROWS 4

/* After cg_for_end of l: the value a carried phi has on leaving the loop
   (`last` from block `latch`), or `init` when the guard skipped it. */
static LLVMValueRef loop_result(Cg *cx, const CgFor *l, LLVMValueRef init, LLVMValueRef last,
                                LLVMBasicBlockRef latch) {
  LLVMValueRef phi = LLVMBuildPhi(cx->b, LLVMTypeOf(init), "");
  LLVMAddIncoming(phi, &last, &latch, 1);
  LLVMValueRef br = LLVMGetBasicBlockTerminator(l->pre);
  for (unsigned i = 0; br && i < LLVMGetNumSuccessors(br); i++)
    if (LLVMGetSuccessor(br, i) == l->exit) {
      LLVMAddIncoming(phi, &init, (LLVMBasicBlockRef *)&l->pre, 1);
      break;
    }
  return phi;
}

typedef struct Skinny {
  LLVMTypeRef et, vt;
  unsigned esz;
  int L;
  LLVMValueRef arow[SKINNY_ROWS]; /* A's rows (the last one repeated past m1) */
  LLVMValueRef wcol[64];          /* W's rows for the block's L columns (the last repeated) */
  int R;                          /* accumulator rows: 1, or SKINNY_ROWS */
} Skinny;

/* acc[r] += A[r, k0 + m] * T[m] for m in [0, n), k0 a value. */
static void skinny_fma(Cg *cx, const Skinny *sk, LLVMValueRef k0, LLVMValueRef *T, int n,
                       LLVMValueRef *acc) {
  for (int m = 0; m < n; m++)
    for (int r = 0; r < sk->R; r++) {
      LLVMValueRef a = cg_load(cx, sk->et, sk->arow[r],
                               LLVMBuildNSWAdd(cx->b, k0, cg_i64(cx, m), ""));
      LLVMValueRef args[3] = {splat(cx, sk->vt, a, sk->L), T[m], acc[r]};
      acc[r] = cg_intrinsic(cx, "llvm.fma", (LLVMTypeRef *)&sk->vt, 1, args, 3);
    }
}

/* One KC block [pc, pc + kc) for the L columns of sk: the accumulators. */
static void skinny_kblock(Cg *cx, const Skinny *sk, LLVMValueRef pc, LLVMValueRef kc,
                          LLVMValueRef *out) {
  int L = sk->L;
  LLVMValueRef zero = LLVMConstNull(sk->vt), acc[SKINNY_ROWS], init[SKINNY_ROWS];
  LLVMValueRef kv = LLVMBuildNSWSub(cx->b, kc, LLVMBuildSRem(cx->b, kc, cg_i64(cx, L), ""), "");
  CgFor kb;
  cg_for_begin(cx, &kb, cg_i64(cx, 0), kv, cg_i64(cx, L));
  LLVMValueRef phi[SKINNY_ROWS];
  for (int r = 0; r < sk->R; r++)
    acc[r] = phi[r] = cg_for_carry(cx, &kb, zero);
  LLVMValueRef k0 = LLVMBuildNSWAdd(cx->b, pc, kb.iv, ""), T[64];
  for (int l = 0; l < L; l++)
    T[l] = load_aligned(cx, sk->vt, sk->wcol[l], k0, sk->esz);
  transpose_block(cx, T, L);
  skinny_fma(cx, sk, k0, T, L, acc);
  for (int r = 0; r < sk->R; r++)
    cg_for_carry_next(cx, phi[r], acc[r]);
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(cx->b);
  cg_for_end(cx, &kb);
  for (int r = 0; r < sk->R; r++)
    init[r] = loop_result(cx, &kb, zero, acc[r], latch);
  /* the last kc % L values of k, one element of each column at a time */
  CgFor k;
  cg_for_begin(cx, &k, kv, kc, cg_i64(cx, 1));
  for (int r = 0; r < sk->R; r++)
    acc[r] = phi[r] = cg_for_carry(cx, &k, init[r]);
  LLVMValueRef kk = LLVMBuildNSWAdd(cx->b, pc, k.iv, ""), t = LLVMGetPoison(sk->vt);
  for (int l = 0; l < L; l++)
    t = LLVMBuildInsertElement(cx->b, t, cg_load(cx, sk->et, sk->wcol[l], kk),
                               LLVMConstInt(cx->t_i32, (unsigned)l, 0), "");
  skinny_fma(cx, sk, kk, &t, 1, acc);
  for (int r = 0; r < sk->R; r++)
    cg_for_carry_next(cx, phi[r], acc[r]);
  latch = LLVMGetInsertBlock(cx->b);
  cg_for_end(cx, &k);
  for (int r = 0; r < sk->R; r++)
    out[r] = loop_result(cx, &k, init[r], acc[r], latch);
}

/* The tile C[m0:m1, n0:n1] (m1 - m0 <= SKINNY_ROWS) from A's rows and W
   read in place, then its epilogue. */
static void skinny_rows(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o, LLVMValueRef m0,
                        LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1, int R) {
  Skinny sk = {.et = cg_type(cx, dt), .L = q->lanes, .R = R};
  sk.esz = dt == IR_F64 ? 8 : 4;
  sk.vt = LLVMVectorType(sk.et, (unsigned)sk.L);
  int L = sk.L;
  MC_ASSERT(L <= 64 && (L & (L - 1)) == 0);
  LLVMValueRef last_row = LLVMBuildNSWSub(cx->b, m1, cg_i64(cx, 1), "");
  for (int r = 0; r < R; r++) {
    LLVMValueRef row = cg_min(cx, LLVMBuildNSWAdd(cx->b, m0, cg_i64(cx, r), ""), last_row);
    sk.arow[r] = cg_gep(cx, sk.et, o->a, LLVMBuildNSWMul(cx->b, row, o->lda, ""));
  }
  LLVMValueRef rows = LLVMBuildNSWSub(cx->b, m1, m0, ""), K = o->K;
  CgFor jb, pc;
  cg_for_begin(cx, &jb, n0, n1, cg_i64(cx, L));
  LLVMValueRef cols = cg_min(cx, cg_i64(cx, L), LLVMBuildNSWSub(cx->b, n1, jb.iv, ""));
  LLVMValueRef last_col = LLVMBuildNSWSub(cx->b, n1, cg_i64(cx, 1), "");
  for (int l = 0; l < L; l++) {
    LLVMValueRef col = cg_min(cx, LLVMBuildNSWAdd(cx->b, jb.iv, cg_i64(cx, l), ""), last_col);
    sk.wcol[l] = cg_gep(cx, sk.et, o->b, LLVMBuildNSWMul(cx->b, col, o->ldb, ""));
  }
  cg_for_begin_nonempty(cx, &pc, cg_i64(cx, 0), K, cg_i64(cx, q->kc));
  LLVMValueRef kc = cg_min(cx, cg_i64(cx, q->kc), LLVMBuildNSWSub(cx->b, K, pc.iv, ""));
  LLVMValueRef acc[SKINNY_ROWS];
  skinny_kblock(cx, &sk, pc.iv, kc, acc);
  LLVMValueRef first = LLVMBuildICmp(cx->b, LLVMIntEQ, pc.iv, cg_i64(cx, 0), "");
  for (int r = 0; r < R; r++) {
    CgIf in;
    cg_if_begin(cx, &in, LLVMBuildICmp(cx->b, LLVMIntSLT, cg_i64(cx, r), rows, ""));
    LLVMValueRef crow = LLVMBuildNSWAdd(
        cx->b, LLVMBuildNSWMul(cx->b, LLVMBuildNSWAdd(cx->b, m0, cg_i64(cx, r), ""), o->N, ""),
        jb.iv, "");
    CgFor l;
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), cols, cg_i64(cx, 1));
    LLVMValueRef at = LLVMBuildNSWAdd(cx->b, crow, l.iv, "");
    LLVMValueRef v = LLVMBuildExtractElement(cx->b, acc[r], l.iv, "");
    LLVMValueRef sum = LLVMBuildFAdd(cx->b, cg_load(cx, sk.et, o->c, at), v, "");
    cg_store(cx, LLVMBuildSelect(cx->b, first, v, sum, ""), o->c, at);
    cg_for_end(cx, &l);
    cg_if_end(cx, &in);
  }
  cg_for_end(cx, &pc);
  cg_for_end(cx, &jb);
}

/* Whether q's skinny tiles take the dot kernel instead: a weight of more
   than SMALL_MACS elements, whose product the JIT never runs as a small one
   at any row count, so that a library at a given batch and the JIT compiled
   at that batch still sum alike. Each element is then a dot product along
   W's contiguous rows: no register transposes, and at one row the kernel
   reads W as fast as the caches deliver it. */
static bool skinny_dots(const Gemm *q) {
  return !q->n_batch && !q->k_batch && (double)q->N * (double)q->K > SMALL_MACS;
}

/* The tile by skinny_rows, one accumulator row for a single row (one
   sample), else SKINNY_ROWS; then its epilogue. */
static void emit_skinny_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                              LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1) {
  CgIf one;
  LLVMValueRef rows = LLVMBuildNSWSub(cx->b, m1, m0, "");
  cg_if_begin(cx, &one, LLVMBuildICmp(cx->b, LLVMIntEQ, rows, cg_i64(cx, 1), ""));
  skinny_rows(cx, q, dt, o, m0, m1, n0, n1, 1);
  cg_if_else(cx, &one);
  skinny_rows(cx, q, dt, o, m0, m1, n0, n1, SKINNY_ROWS);
  cg_if_end(cx, &one);
  call_epilogue(cx, o, m0, m1, n0, n1);
}

/* The narrow microkernel `full` (R rows) on a panel of A, or `last` (the
   last panel's rows, when there is one) once fewer than R rows are left. */
static void call_panel(Cg *cx, LLVMValueRef full, LLVMValueRef last, LLVMValueRef *args,
                       LLVMValueRef rows_left, int R) {
  if (!last) {
    cg_call(cx, full, args, 10);
    return;
  }
  CgIf whole;
  cg_if_begin(cx, &whole, LLVMBuildICmp(cx->b, LLVMIntSGE, rows_left, cg_i64(cx, R), ""));
  cg_call(cx, full, args, 10);
  cg_if_else(cx, &whole);
  cg_call(cx, last, args, 10);
  cg_if_end(cx, &whole);
}

/* The loops of the narrow path over one tile C[m0:m1, n0:n1] of one batch:
   per KC block of k and NR columns of B, every panel of narrow_panel rows
   (the last one `tail` rows, when not 0); the epilogue once at the end. */
static void emit_narrow_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                              LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1,
                              int tail) {
  LLVMTypeRef et = cg_type(cx, dt);
  bool ta = q->trans & TRANS_A;
  int R = narrow_panel(q);
  LLVMValueRef full = narrow_fn(cx, q, dt, R), last = tail ? narrow_fn(cx, q, dt, tail) : NULL;
  LLVMValueRef sra = ta ? cg_i64(cx, 1) : o->lda, ska = ta ? o->lda : cg_i64(cx, 1);
  CgFor pc, jr, ir;
  cg_for_begin_nonempty(cx, &pc, cg_i64(cx, 0), o->K, cg_i64(cx, q->kc));
  LLVMValueRef kc = cg_min(cx, cg_i64(cx, q->kc), LLVMBuildNSWSub(cx->b, o->K, pc.iv, ""));
  LLVMValueRef accumulate = LLVMBuildICmp(cx->b, LLVMIntNE, pc.iv, cg_i64(cx, 0), "");
  int64_t NR = narrow_nv(q) * q->lanes;
  cg_for_begin(cx, &jr, n0, n1, cg_i64(cx, NR));
  LLVMValueRef nr = cg_min(cx, cg_i64(cx, NR), LLVMBuildNSWSub(cx->b, n1, jr.iv, ""));
  LLVMValueRef bsrc = cg_gep(cx, et, o->b, element_at(cx, false, pc.iv, jr.iv, o->ldb));
  cg_for_begin(cx, &ir, m0, m1, cg_i64(cx, R));
  LLVMValueRef asrc = cg_gep(cx, et, o->a, element_at(cx, ta, ir.iv, pc.iv, o->lda));
  LLVMValueRef cdst = cg_gep(cx, et, o->c, element_at(cx, false, ir.iv, jr.iv, o->N));
  LLVMValueRef args[10] = {kc, asrc, sra, ska, bsrc, o->ldb, cdst, o->N, nr, accumulate};
  call_panel(cx, full, last, args, LLVMBuildNSWSub(cx->b, m1, ir.iv, ""), R);
  cg_for_end(cx, &ir);
  cg_for_end(cx, &jr);
  cg_for_end(cx, &pc);
  call_epilogue(cx, o, m0, m1, n0, n1);
}

/* An alloca in the function's entry block (once, not per loop trip). */
static LLVMValueRef entry_alloca(Cg *cx, LLVMTypeRef t, const char *name) {
  LLVMBasicBlockRef at = LLVMGetInsertBlock(cx->b);
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(cx->fn);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first)
    LLVMPositionBuilderBefore(cx->b, first);
  else
    LLVMPositionBuilderAtEnd(cx->b, entry);
  LLVMValueRef v = LLVMBuildAlloca(cx->b, t, name);
  LLVMPositionBuilderAtEnd(cx->b, at);
  return v;
}

/* Vector j of panel pi, as the window microkernel reads it (vec at word
   `at`): with output rows no longer than a vector, rows (pi * NV + j) * P
   and the P - 1 after it (masked off past the last row; a row past it
   reads from the last row's place, under an empty mask); else NV vectors
   along one row, nseg panels per row. */
static void win_vector(Cg *cx, const Gemm *q, const Operands *o, LLVMValueRef vec, int at,
                       LLVMValueRef pi, LLVMValueRef nseg, LLVMValueRef OH, LLVMValueRef rowstep,
                       int j) {
  int NV = narrow_nv(q), L = q->lanes, P = win_pieces(q);
  LLVMValueRef OW = o->wgeo[W_OW], row, col, len;
  if (q->wgeo[W_OW] <= L) {
    row = LLVMBuildNSWMul(cx->b,
                          LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, pi, cg_i64(cx, NV), ""),
                                          cg_i64(cx, j), ""), cg_i64(cx, P), "");
    col = cg_i64(cx, 0);
    LLVMValueRef left = LLVMBuildNSWSub(cx->b, OH, row, "");
    LLVMValueRef rows = cg_min(cx, cg_i64(cx, P), cg_max(cx, left, cg_i64(cx, 0)));
    len = LLVMBuildNSWMul(cx->b, rows, OW, "");
  } else {
    row = LLVMBuildSDiv(cx->b, pi, nseg, "");
    LLVMValueRef seg = LLVMBuildSRem(cx->b, pi, nseg, "");
    col = LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, seg, cg_i64(cx, NV * L), ""),
                          cg_i64(cx, j * L), "");
    LLVMValueRef left = LLVMBuildNSWSub(cx->b, OW, col, "");
    len = cg_min(cx, cg_max(cx, left, cg_i64(cx, 0)), cg_i64(cx, L));
  }
  cg_store(cx, LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, row, OW, ""), col, ""), vec,
           cg_i64(cx, at));
  cg_store(cx, len, vec, cg_i64(cx, at + 1));
  LLVMValueRef last = LLVMBuildNSWSub(cx->b, OH, cg_i64(cx, 1), "");
  LLVMValueRef xcol = LLVMBuildNSWMul(cx->b, col, o->wgeo[W_SX], ""); /* in the image's row */
  for (int p = 0; p < P; p++) {
    LLVMValueRef r = cg_min(cx, LLVMBuildNSWAdd(cx->b, row, cg_i64(cx, p), ""), last);
    cg_store(cx, LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, r, rowstep, ""), xcol, ""), vec,
             cg_i64(cx, at + 2 + p));
  }
}

/* rowoff[0:kc]: the image offsets of window rows k0 .. k0 + kc - 1, row
   k = (c, ky, kx) at c*H*W + ky*DY*W + kx*DX (a counter stepping through
   kx, ky and c); in an image split in phases, kx's at (kx % 2)*PH + kx/2. */
static void fill_row_offsets(Cg *cx, const Operands *o, LLVMValueRef rowoff, LLVMValueRef k0,
                             LLVMValueRef kc) {
  const LLVMValueRef *g = o->wgeo;
  LLVMValueRef hw = LLVMBuildNSWMul(cx->b, g[W_H], g[W_W], "");
  LLVMValueRef dyw = LLVMBuildNSWMul(cx->b, g[W_DY], g[W_W], "");
  LLVMValueRef kx0 = LLVMBuildSRem(cx->b, k0, g[W_KW], "");
  LLVMValueRef t = LLVMBuildSDiv(cx->b, k0, g[W_KW], "");
  LLVMValueRef ky0 = LLVMBuildSRem(cx->b, t, g[W_KH], ""), c0 = LLVMBuildSDiv(cx->b, t, g[W_KH], "");
  CgFor k;
  cg_for_begin_nonempty(cx, &k, cg_i64(cx, 0), kc, cg_i64(cx, 1));
  LLVMValueRef kx = cg_for_carry(cx, &k, kx0), ky = cg_for_carry(cx, &k, ky0);
  LLVMValueRef c = cg_for_carry(cx, &k, c0);
  LLVMValueRef xoff = LLVMBuildSelect( /* a phase split image: kx's half, then its place */
      cx->b, LLVMBuildICmp(cx->b, LLVMIntNE, g[W_PH], cg_i64(cx, 0), ""),
      LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, LLVMBuildSRem(cx->b, kx, cg_i64(cx, 2), ""),
                                             g[W_PH], ""),
                      LLVMBuildSDiv(cx->b, kx, cg_i64(cx, 2), ""), ""),
      LLVMBuildNSWMul(cx->b, kx, g[W_DX], ""), "");
  LLVMValueRef off = LLVMBuildNSWAdd(
      cx->b, LLVMBuildNSWMul(cx->b, c, hw, ""),
      LLVMBuildNSWAdd(cx->b, LLVMBuildNSWMul(cx->b, ky, dyw, ""), xoff, ""), "");
  cg_store(cx, off, rowoff, k.iv);
  LLVMValueRef kx1 = LLVMBuildNSWAdd(cx->b, kx, cg_i64(cx, 1), "");
  LLVMValueRef wrap_x = LLVMBuildICmp(cx->b, LLVMIntEQ, kx1, g[W_KW], "");
  LLVMValueRef ky1 = LLVMBuildSelect(cx->b, wrap_x, LLVMBuildNSWAdd(cx->b, ky, cg_i64(cx, 1), ""),
                                     ky, "");
  LLVMValueRef wrap_y = LLVMBuildICmp(cx->b, LLVMIntEQ, ky1, g[W_KH], "");
  cg_for_carry_next(cx, kx, LLVMBuildSelect(cx->b, wrap_x, cg_i64(cx, 0), kx1, ""));
  cg_for_carry_next(cx, ky, LLVMBuildSelect(cx->b, wrap_y, cg_i64(cx, 0), ky1, ""));
  cg_for_carry_next(cx, c, LLVMBuildSelect(cx->b, wrap_y, LLVMBuildNSWAdd(cx->b, c, cg_i64(cx, 1), ""),
                                           c, ""));
  cg_for_end(cx, &k);
}

/* The narrow path over rows m0:m1 of one batch's product whose B is the
   windows of the image o->b: per KC block of k (its rows' image offsets
   in a table) and panel of output rows (or of one row's columns), every
   panel of narrow_panel rows of A; the epilogue once at the end. */
static void emit_narrow_win_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                                  LLVMValueRef m0, LLVMValueRef m1, int tail) {
  LLVMTypeRef et = cg_type(cx, dt);
  bool ta = q->trans & TRANS_A;
  int R = narrow_panel(q), NV = narrow_nv(q), L = q->lanes;
  LLVMValueRef full = narrow_fn(cx, q, dt, R), last = tail ? narrow_fn(cx, q, dt, tail) : NULL;
  LLVMValueRef sra = ta ? cg_i64(cx, 1) : o->lda, ska = ta ? o->lda : cg_i64(cx, 1);
  int P = win_pieces(q);
  LLVMValueRef vec = entry_alloca(cx, LLVMArrayType(cx->t_i64, 2 + (2 + P) * NV), "vec");
  LLVMValueRef rowoff = entry_alloca(cx, LLVMArrayType(cx->t_i64, (unsigned)q->kc), "rowoff");
  LLVMValueRef OW = o->wgeo[W_OW], OH = LLVMBuildSDiv(cx->b, o->N, OW, "");
  LLVMValueRef rowstep = LLVMBuildNSWMul(cx->b, o->wgeo[W_SY], o->wgeo[W_W], "");
  LLVMValueRef nseg = cg_i64(cx, 1), npanels;
  cg_store(cx, OW, vec, cg_i64(cx, 0));
  LLVMValueRef ahead = q->wgeo[W_OW] <= NV * L
                           ? rowstep : LLVMBuildNSWMul(cx->b, cg_i64(cx, NV * L), o->wgeo[W_SX], "");
  cg_store(cx, ahead, vec, cg_i64(cx, 1 + (2 + P) * NV));
  if (q->wgeo[W_OW] <= L) {
    npanels = LLVMBuildSDiv(cx->b, LLVMBuildNSWAdd(cx->b, OH, cg_i64(cx, NV * P - 1), ""),
                            cg_i64(cx, NV * P), "");
  } else {
    nseg = LLVMBuildSDiv(cx->b, LLVMBuildNSWAdd(cx->b, OW, cg_i64(cx, NV * L - 1), ""),
                         cg_i64(cx, NV * L), "");
    npanels = LLVMBuildNSWMul(cx->b, OH, nseg, "");
  }
  CgFor pc, pi, ir;
  cg_for_begin_nonempty(cx, &pc, cg_i64(cx, 0), o->K, cg_i64(cx, q->kc));
  LLVMValueRef kc = cg_min(cx, cg_i64(cx, q->kc), LLVMBuildNSWSub(cx->b, o->K, pc.iv, ""));
  LLVMValueRef accumulate = LLVMBuildICmp(cx->b, LLVMIntNE, pc.iv, cg_i64(cx, 0), "");
  fill_row_offsets(cx, o, rowoff, pc.iv, kc);
  cg_for_begin(cx, &pi, cg_i64(cx, 0), npanels, cg_i64(cx, 1));
  for (int j = 0; j < NV; j++)
    win_vector(cx, q, o, vec, 1 + (2 + P) * j, pi.iv, nseg, OH, rowstep, j);
  cg_for_begin(cx, &ir, m0, m1, cg_i64(cx, R));
  LLVMValueRef asrc = cg_gep(cx, et, o->a, element_at(cx, ta, ir.iv, pc.iv, o->lda));
  LLVMValueRef cdst = cg_gep(cx, et, o->c, LLVMBuildNSWMul(cx->b, ir.iv, o->N, ""));
  LLVMValueRef args[10] = {kc, asrc, sra, ska, o->b, rowoff, vec, cdst, o->N, accumulate};
  call_panel(cx, full, last, args, LLVMBuildNSWSub(cx->b, m1, ir.iv, ""), R);
  cg_for_end(cx, &ir);
  cg_for_end(cx, &pi);
  cg_for_end(cx, &pc);
  call_epilogue(cx, o, m0, m1, cg_i64(cx, 0), o->N);
}

/* wp[k * M + m] = A[m, k]: q's filters transposed for the channel-vector
   kernel (A stored transposed when ta: element (m, k) at a[k * lda + m]). */
static void pack_cv_filters(Cg *cx, LLVMTypeRef et, LLVMValueRef a, LLVMValueRef lda, bool ta,
                            LLVMValueRef M, LLVMValueRef K, LLVMValueRef wp) {
  CgFor k, m;
  cg_for_begin_nonempty(cx, &k, cg_i64(cx, 0), K, cg_i64(cx, 1));
  cg_for_begin_nonempty(cx, &m, cg_i64(cx, 0), M, cg_i64(cx, 1));
  LLVMValueRef v = cg_load(cx, et, a, element_at(cx, ta, m.iv, k.iv, lda));
  cg_store(cx, v, wp, element_at(cx, false, k.iv, m.iv, M));
  cg_for_end_unvectorized(cx, &m);
  cg_for_end(cx, &k);
}

/* The channel-vector path over rows m0:m1 (whole vectors of filters) of
   one batch's product, B the windows of the image o->b: per output row,
   its chunks of R pixels (then the shorter last one), every NV vectors of
   filters; the epilogue once at the end. The filters are in o->ap
   (pack_cv_filters, by the task). */
static void emit_cv_win_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                              LLVMValueRef M, LLVMValueRef m0, LLVMValueRef m1) {
  LLVMTypeRef et = cg_type(cx, dt);
  int esz = cg_dtype_size(dt);
  int NV = q->cv_nv, R = q->cv_r, L = q->lanes, tail = (int)(q->wgeo[W_OW] % R);
  LLVMValueRef filters = LLVMBuildNSWMul(cx->b, LLVMBuildNSWMul(cx->b, o->K, M, ""),
                                         cg_i64(cx, esz), "");
  LLVMValueRef table = LLVMBuildAnd( /* after the filters, aligned */
      cx->b, LLVMBuildNSWAdd(cx->b, filters, cg_i64(cx, CG_ALIGN - 1), ""),
      cg_i64(cx, -(int64_t)CG_ALIGN), "");
  LLVMValueRef rowoff = cg_gep(cx, cx->t_i8, o->ap, table);
  fill_row_offsets(cx, o, rowoff, cg_i64(cx, 0), o->K);
  LLVMValueRef ow = o->wgeo[W_OW], sx = o->wgeo[W_SX];
  LLVMValueRef OH = LLVMBuildSDiv(cx->b, o->N, ow, "");
  LLVMValueRef whole = LLVMBuildNSWMul(cx->b, LLVMBuildSDiv(cx->b, ow, cg_i64(cx, R), ""),
                                       cg_i64(cx, R), "");
  LLVMValueRef rowstep = LLVMBuildNSWMul(cx->b, o->wgeo[W_SY], o->wgeo[W_W], "");
  CgFor y, xc, mc;
  if (q->cv_k > 1) { /* k whole output rows a call, then the rows left */
    int64_t oh = q->N / q->wgeo[W_OW], k = q->cv_k, ks[2] = {k, oh % k};
    for (int last = 0; last < 2; last++) {
      if (ks[last] == 0) break;
      LLVMValueRef kernel = cv_fn(cx, q, dt, (int)(ks[last] * q->wgeo[W_OW]));
      int64_t from = last ? oh / k * k : 0, to = last ? oh : oh / k * k;
      cg_for_begin(cx, &y, cg_i64(cx, from), cg_i64(cx, to), cg_i64(cx, k));
      LLVMValueRef x = cg_gep(cx, et, o->b, LLVMBuildNSWMul(cx->b, y.iv, rowstep, ""));
      LLVMValueRef ccol = LLVMBuildNSWMul(cx->b, y.iv, ow, "");
      cg_for_begin(cx, &mc, m0, m1, cg_i64(cx, NV * L));
      LLVMValueRef args[7] = {o->K, x, rowoff, cg_gep(cx, et, o->ap, mc.iv), M,
                              cg_gep(cx, et, o->c, element_at(cx, false, mc.iv, ccol, o->N)),
                              o->N};
      cg_call(cx, kernel, args, 7);
      cg_for_end(cx, &mc);
      cg_for_end(cx, &y);
    }
    call_epilogue(cx, o, m0, m1, cg_i64(cx, 0), o->N);
    return;
  }
  cg_for_begin(cx, &y, cg_i64(cx, 0), OH, cg_i64(cx, 1));
  LLVMValueRef xrow = LLVMBuildNSWMul(cx->b, y.iv, rowstep, "");
  LLVMValueRef crow = LLVMBuildNSWMul(cx->b, y.iv, ow, "");
  for (int last = 0; last < 2; last++) { /* the whole chunks, then the shorter last */
    if (last && tail == 0) break;
    LLVMValueRef kernel = cv_fn(cx, q, dt, last ? tail : R);
    LLVMValueRef from = last ? whole : cg_i64(cx, 0);
    LLVMValueRef to = last ? LLVMBuildNSWAdd(cx->b, whole, cg_i64(cx, 1), "") : whole;
    cg_for_begin(cx, &xc, from, to, cg_i64(cx, R));
    LLVMValueRef xoff = LLVMBuildNSWAdd(cx->b, xrow, LLVMBuildNSWMul(cx->b, xc.iv, sx, ""), "");
    LLVMValueRef x = cg_gep(cx, et, o->b, xoff);
    LLVMValueRef ccol = LLVMBuildNSWAdd(cx->b, crow, xc.iv, "");
    cg_for_begin(cx, &mc, m0, m1, cg_i64(cx, NV * L));
    LLVMValueRef args[7] = {o->K, x, rowoff, cg_gep(cx, et, o->ap, mc.iv), M,
                            cg_gep(cx, et, o->c, element_at(cx, false, mc.iv, ccol, o->N)), o->N};
    cg_call(cx, kernel, args, 7);
    cg_for_end(cx, &mc);
    cg_for_end(cx, &xc);
  }
  cg_for_end(cx, &y);
  call_epilogue(cx, o, m0, m1, cg_i64(cx, 0), o->N);
}

/* dst[p, m] = dy[m, p] for m < M (a multiple of L), p < P: blocks of L x L
   transposed in registers (the last block of pixels masked). */
static void transpose_rows(Cg *cx, LLVMTypeRef et, int L, LLVMValueRef dy, LLVMValueRef dst,
                           LLVMValueRef M, LLVMValueRef P) {
  unsigned esz = LLVMGetTypeKind(et) == LLVMDoubleTypeKind ? 8 : 4;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  CgFor mb, pb;
  cg_for_begin(cx, &mb, cg_i64(cx, 0), M, cg_i64(cx, L));
  cg_for_begin(cx, &pb, cg_i64(cx, 0), P, cg_i64(cx, L));
  LLVMValueRef cnt = cg_min(cx, cg_i64(cx, L), LLVMBuildNSWSub(cx->b, P, pb.iv, ""));
  LLVMValueRef mask = cg_lane_mask(cx, L, cg_i64(cx, 0), cnt), v[64];
  for (int l = 0; l < L; l++) {
    LLVMValueRef m = LLVMBuildNSWAdd(cx->b, mb.iv, cg_i64(cx, l), "");
    LLVMValueRef row = LLVMBuildNSWMul(cx->b, m, P, "");
    v[l] = cg_masked_load(cx, vt, dy, LLVMBuildNSWAdd(cx->b, row, pb.iv, ""), mask, esz);
  }
  transpose_square(cx, v, L); /* v[l]: pixel pb + l's L channels */
  for (int l = 0; l < L; l++) {
    CgIf in;
    cg_if_begin(cx, &in, LLVMBuildICmp(cx->b, LLVMIntSLT, cg_i64(cx, l), cnt, ""));
    LLVMValueRef at = LLVMBuildNSWAdd(
        cx->b, LLVMBuildNSWMul(cx->b, LLVMBuildNSWAdd(cx->b, pb.iv, cg_i64(cx, l), ""), M, ""),
        mb.iv, "");
    store_aligned(cx, v[l], et, dst, at, esz * L);
    cg_if_end(cx, &in);
  }
  cg_for_end(cx, &pb);
  cg_for_end(cx, &mb);
}

/* A tile of window rows n0:n1 (all of M) of a filter gradient by channel
   vectors: the part's tile of sums [N, M] zeroed, then per image dY
   transposed and every kernel call of cvs_rows window rows (a shorter
   last one where N ends), then the tile transposed into C. */
static void emit_cv_sum_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                              LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                              LLVMValueRef n1) {
  LLVMTypeRef et = cg_type(cx, dt);
  int esz = cg_dtype_size(dt), L = q->lanes, RT = q->cvs_rows, tail = (int)(q->N % RT);
  int64_t G = q->wgeo[W_KH] * q->wgeo[W_KW], HW = q->wgeo[W_H] * q->wgeo[W_W];
  LLVMValueRef M = LLVMBuildNSWSub(cx->b, m1, m0, ""), P = o->K;
  LLVMValueRef dyt = o->ap;
  LLVMValueRef tbytes =
      LLVMBuildNSWMul(cx->b, LLVMBuildNSWMul(cx->b, P, M, ""), cg_i64(cx, esz), "");
  tbytes = LLVMBuildAnd(cx->b, LLVMBuildNSWAdd(cx->b, tbytes, cg_i64(cx, CG_ALIGN - 1), ""),
                        cg_i64(cx, -(int64_t)CG_ALIGN), "");
  LLVMValueRef sums = cg_gep(cx, cx->t_i8, o->ap, tbytes);
  CgFor zn, zm, im, nt, cn, cm;
  cg_for_begin(cx, &zn, n0, n1, cg_i64(cx, 1));
  cg_for_begin(cx, &zm, cg_i64(cx, 0), M, cg_i64(cx, 1));
  cg_store(cx, LLVMConstNull(et), sums, element_at(cx, false, zn.iv, zm.iv, M));
  cg_for_end(cx, &zm);
  cg_for_end(cx, &zn);
  LLVMValueRef rows = LLVMBuildNSWSub(cx->b, n1, n0, "");
  LLVMValueRef whole = LLVMBuildNSWAdd(
      cx->b, n0,
      LLVMBuildNSWMul(cx->b, LLVMBuildSDiv(cx->b, rows, cg_i64(cx, RT), ""), cg_i64(cx, RT), ""),
      "");
  cg_for_begin(cx, &im, cg_i64(cx, 0), o->nbatch, cg_i64(cx, 1));
  LLVMValueRef a = cg_gep(cx, et, o->a, LLVMBuildNSWMul(cx->b, im.iv, o->sa, ""));
  LLVMValueRef x = cg_gep(cx, et, o->b, LLVMBuildNSWMul(cx->b, im.iv, o->sb, ""));
  transpose_rows(cx, et, L, cg_gep(cx, et, a, LLVMBuildNSWMul(cx->b, m0, P, "")), dyt, M, P);
  for (int last = 0; last < 2; last++) { /* the whole calls, then the shorter last */
    if (last && tail == 0) break;
    LLVMValueRef kernel = cv_sum_fn(cx, q, dt, last ? tail : RT);
    LLVMValueRef from = last ? whole : n0, to = last ? n1 : whole;
    cg_for_begin(cx, &nt, from, to, cg_i64(cx, RT));
    /* row nt = (c, ky, 0): calls start at a channel or at a row of its windows */
    LLVMValueRef ci = LLVMBuildSDiv(cx->b, nt.iv, cg_i64(cx, G), "");
    LLVMValueRef ky = LLVMBuildSDiv(cx->b, LLVMBuildSRem(cx->b, nt.iv, cg_i64(cx, G), ""),
                                    cg_i64(cx, q->wgeo[W_KW]), "");
    LLVMValueRef xoff = LLVMBuildNSWAdd(
        cx->b, LLVMBuildNSWMul(cx->b, ci, cg_i64(cx, HW), ""),
        LLVMBuildNSWMul(cx->b, ky, cg_i64(cx, q->wgeo[W_DY] * q->wgeo[W_W]), ""), "");
    LLVMValueRef xc = cg_gep(cx, et, x, xoff);
    LLVMValueRef acc = cg_gep(cx, et, sums, LLVMBuildNSWMul(cx->b, nt.iv, M, ""));
    cg_call(cx, kernel, (LLVMValueRef[]){dyt, xc, acc, M}, 4);
    cg_for_end(cx, &nt);
  }
  cg_for_end(cx, &im);
  cg_for_begin(cx, &cm, m0, m1, cg_i64(cx, 1));
  cg_for_begin(cx, &cn, n0, n1, cg_i64(cx, 1));
  LLVMValueRef v = cg_load(cx, et, sums,
                           element_at(cx, false, cn.iv, LLVMBuildNSWSub(cx->b, cm.iv, m0, ""), M));
  cg_store(cx, v, o->c, element_at(cx, false, cm.iv, cn.iv, o->N));
  cg_for_end(cx, &cn);
  cg_for_end(cx, &cm);
  call_epilogue(cx, o, m0, m1, n0, n1);
}

/* The dot path over one tile C[m0:m1, n0:n1] of one batch, in R x D
   blocks by the kernel `which` (DOT: D x D; DOT_ROW: 1 x DOT_ROW_COLS);
   the epilogue once at the end. */
/* The dot kernel `which` over C[m0:m1, n0:n1] block by block; DOT_SUM
   adds the products of nb batches from o's a and b on. */
static void dot_blocks(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o, LLVMValueRef m0,
                       LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1, int which,
                       LLVMValueRef nb) {
  LLVMTypeRef et = cg_type(cx, dt);
  LLVMValueRef dot = which == DOT_SUM_WIN ? win_sum_fn(cx, q, dt, DOT_SUM_WIN) : gemm_fn(cx, q, dt, which);
  int R = which == DOT_ROW ? 1 : dot_block(q);
  int D = which == DOT_ROW ? DOT_ROW_COLS : which == DOT_SUM_WIN ? dot_sum_cols(q) : dot_block(q);
  CgFor i, j;
  cg_for_begin(cx, &i, m0, m1, cg_i64(cx, R));
  LLVMValueRef rows = cg_min(cx, cg_i64(cx, R), LLVMBuildNSWSub(cx->b, m1, i.iv, ""));
  LLVMValueRef arow = cg_gep(cx, et, o->a, LLVMBuildNSWMul(cx->b, i.iv, o->lda, ""));
  cg_for_begin(cx, &j, n0, n1, cg_i64(cx, D));
  LLVMValueRef cols = cg_min(cx, cg_i64(cx, D), LLVMBuildNSWSub(cx->b, n1, j.iv, ""));
  LLVMValueRef cdst = cg_gep(cx, et, o->c, element_at(cx, false, i.iv, j.iv, o->N));
  if (which == DOT_SUM_WIN) { /* the images, and the block's first window row */
    LLVMValueRef args[11] = {arow, o->lda, o->b, j.iv, cdst, o->N, rows, cols, nb, o->sa, o->sb};
    cg_call(cx, dot, args, 11);
  } else {
    LLVMValueRef brow = cg_gep(cx, et, o->b, LLVMBuildNSWMul(cx->b, j.iv, o->ldb, ""));
    LLVMValueRef args[12] = {o->K, arow, o->lda, brow, o->ldb, cdst,
                             o->N, rows, cols, nb,     o->sa,  o->sb};
    cg_call(cx, dot, args, which == DOT_SUM ? 12 : 9);
  }
  cg_for_end(cx, &j);
  cg_for_end(cx, &i);
  call_epilogue(cx, o, m0, m1, n0, n1);
}

static void emit_dot_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o, LLVMValueRef m0,
                           LLVMValueRef m1, LLVMValueRef n0, LLVMValueRef n1) {
  dot_blocks(cx, q, dt, o, m0, m1, n0, n1, DOT, NULL);
}

/* A tile of a product summed over the batch: C zeroed, then each chunk of
   batches adds its dot products, block by block (a block's rows of A and
   Bt are read for every batch of the chunk while in cache). */
static void emit_dot_sum_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                               LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                               LLVMValueRef n1) {
  CgFor i, j, ch;
  cg_for_begin(cx, &i, m0, m1, cg_i64(cx, 1));
  cg_for_begin(cx, &j, n0, n1, cg_i64(cx, 1));
  cg_store(cx, LLVMConstNull(cg_type(cx, dt)), o->c, element_at(cx, false, i.iv, j.iv, o->N));
  cg_for_end(cx, &j);
  cg_for_end(cx, &i);
  cg_for_begin(cx, &ch, cg_i64(cx, 0), o->nbatch, o->chunk);
  Operands part = *o;
  LLVMTypeRef et = cg_type(cx, dt);
  part.a = cg_gep(cx, et, o->a, LLVMBuildNSWMul(cx->b, ch.iv, o->sa, ""));
  part.b = cg_gep(cx, et, o->b, LLVMBuildNSWMul(cx->b, ch.iv, o->sb, ""));
  LLVMValueRef nb = cg_min(cx, o->chunk, LLVMBuildNSWSub(cx->b, o->nbatch, ch.iv, ""));
  dot_blocks(cx, q, dt, &part, m0, m1, n0, n1, q->win ? DOT_SUM_WIN : DOT_SUM, nb);
  cg_for_end(cx, &ch);
}

/* A tile of a convolution's weight gradient by the packed microkernel
   (sum_packed): per block of whole images, their windows packed as B
   panels (pack_b_win) and dY's rows as A panels (pack_a, image after
   image along k), then the microkernel, storing C for the first block and
   adding for the others. Per element of C: fma in k order from zero per
   block, then added in block order, whatever the tiles or threads. */
static void emit_sum_packed_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                                  LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                                  LLVMValueRef n1) {
  LLVMTypeRef et = cg_type(cx, dt);
  LLVMValueRef pack_a = gemm_fn(cx, q, dt, PACK_A), pack_b = win_sum_fn(cx, q, dt, PACK_B_WIN);
  int64_t P = q->K, per_block = sum_packed_images(q);
  LLVMValueRef N = o->N;
  CgIf none; /* no images: C = 0 */
  cg_if_begin(cx, &none, LLVMBuildICmp(cx->b, LLVMIntSLE, o->nbatch, cg_i64(cx, 0), ""));
  CgFor zi, zj;
  cg_for_begin(cx, &zi, m0, m1, cg_i64(cx, 1));
  cg_for_begin(cx, &zj, n0, n1, cg_i64(cx, 1));
  cg_store(cx, LLVMConstNull(et), o->c, element_at(cx, false, zi.iv, zj.iv, N));
  cg_for_end(cx, &zj);
  cg_for_end(cx, &zi);
  cg_if_end(cx, &none);
  CgFor jc, ib, im, ic, pa, ia;
  cg_for_begin(cx, &jc, n0, n1, cg_i64(cx, q->nc));
  LLVMValueRef nc = cg_min(cx, cg_i64(cx, q->nc), LLVMBuildNSWSub(cx->b, n1, jc.iv, ""));
  cg_for_begin(cx, &ib, cg_i64(cx, 0), o->nbatch, cg_i64(cx, per_block));
  LLVMValueRef ni = cg_min(cx, cg_i64(cx, per_block), LLVMBuildNSWSub(cx->b, o->nbatch, ib.iv, ""));
  LLVMValueRef kc = LLVMBuildNSWMul(cx->b, ni, cg_i64(cx, P), "");
  cg_for_begin_nonempty(cx, &im, cg_i64(cx, 0), ni, cg_i64(cx, 1));
  LLVMValueRef img = LLVMBuildNSWAdd(cx->b, ib.iv, im.iv, "");
  LLVMValueRef x = cg_gep(cx, et, o->b, LLVMBuildNSWMul(cx->b, img, o->sb, ""));
  LLVMValueRef bdst = cg_gep(cx, et, o->bp, LLVMBuildNSWMul(cx->b, im.iv, cg_i64(cx, P * q->nr), ""));
  cg_call(cx, pack_b, (LLVMValueRef[]){x, jc.iv, kc, nc, bdst}, 5);
  cg_for_end(cx, &im);
  LLVMValueRef accumulate = LLVMBuildICmp(cx->b, LLVMIntNE, ib.iv, cg_i64(cx, 0), "");
  cg_for_begin(cx, &ic, m0, m1, cg_i64(cx, q->mc));
  LLVMValueRef mc = cg_min(cx, cg_i64(cx, q->mc), LLVMBuildNSWSub(cx->b, m1, ic.iv, ""));
  cg_for_begin_nonempty(cx, &pa, cg_i64(cx, 0), mc, cg_i64(cx, q->mr)); /* A, panel by panel */
  LLVMValueRef rows = cg_min(cx, cg_i64(cx, q->mr), LLVMBuildNSWSub(cx->b, mc, pa.iv, ""));
  LLVMValueRef arow = LLVMBuildNSWMul(cx->b, LLVMBuildNSWAdd(cx->b, ic.iv, pa.iv, ""), o->lda, "");
  LLVMValueRef apanel = LLVMBuildNSWMul(cx->b, pa.iv, kc, "");
  cg_for_begin_nonempty(cx, &ia, cg_i64(cx, 0), ni, cg_i64(cx, 1));
  LLVMValueRef at = LLVMBuildNSWAdd(
      cx->b, arow, LLVMBuildNSWMul(cx->b, LLVMBuildNSWAdd(cx->b, ib.iv, ia.iv, ""), o->sa, ""), "");
  LLVMValueRef adst = LLVMBuildNSWAdd(cx->b, apanel,
                                      LLVMBuildNSWMul(cx->b, ia.iv, cg_i64(cx, P * q->mr), ""), "");
  cg_call(cx, pack_a,
          (LLVMValueRef[]){cg_gep(cx, et, o->a, at), o->lda, rows, cg_i64(cx, P),
                           cg_gep(cx, et, o->ap, adst)},
          5);
  cg_for_end(cx, &ia);
  cg_for_end(cx, &pa);
  ukernel_panels(cx, q, dt, o, ic.iv, mc, jc.iv, nc, kc, accumulate);
  cg_for_end(cx, &ic);
  cg_for_end(cx, &ib);
  cg_for_end(cx, &jc);
  call_epilogue(cx, o, m0, m1, n0, n1);
}

/* A skinny tile by dot products (skinny_dots): a single row by the row
   kernel, more rows by D x D blocks. The same sums either way. */
static void emit_skinny_dots_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                                   LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                                   LLVMValueRef n1) {
  CgIf one;
  LLVMValueRef rows = LLVMBuildNSWSub(cx->b, m1, m0, "");
  cg_if_begin(cx, &one, LLVMBuildICmp(cx->b, LLVMIntEQ, rows, cg_i64(cx, 1), ""));
  dot_blocks(cx, q, dt, o, m0, m1, n0, n1, DOT_ROW, NULL);
  cg_if_else(cx, &one);
  dot_blocks(cx, q, dt, o, m0, m1, n0, n1, DOT, NULL);
  cg_if_end(cx, &one);
}

/* ---- few columns of a B stored transposed ---------------------------------------------
   x @ transpose(W) with W of few rows (a linear layer of 10 or 20 outputs):
   the packed path would pack all of A to use each panel once or twice, pad
   B's panel to NR columns and run every tile through the microkernel's
   stack tile. Here each KC block of the tile's columns of W is transposed
   into the part's B buffer ([kc, cols], scalar copies: W is small), and
   the narrow microkernels read A in place: panels of MR rows, then of
   SMALL_BT_ROWS, then single rows (M may be a library's batch, bound per
   call). They sum as the packed microkernel does: the same bits. */
#define SMALL_BT_ROWS 4

/* bp[k * cols + j] = B[n0 + j, pc + k] for j < cols, k < kc (B stored
   transposed, row length ldb). */
static void transpose_into(Cg *cx, LLVMTypeRef et, LLVMValueRef b, LLVMValueRef ldb,
                           LLVMValueRef n0, LLVMValueRef pc, LLVMValueRef cols, LLVMValueRef kc,
                           LLVMValueRef bp) {
  CgFor j, k;
  cg_for_begin_nonempty(cx, &j, cg_i64(cx, 0), cols, cg_i64(cx, 1));
  LLVMValueRef row = element_at(cx, false, LLVMBuildNSWAdd(cx->b, n0, j.iv, ""), pc, ldb);
  cg_for_begin_nonempty(cx, &k, cg_i64(cx, 0), kc, cg_i64(cx, 1));
  LLVMValueRef v = cg_load(cx, et, b, LLVMBuildNSWAdd(cx->b, row, k.iv, ""));
  cg_store(cx, v, bp, element_at(cx, false, k.iv, j.iv, cols));
  cg_for_end_unvectorized(cx, &k); /* vectors would be scatters */
  cg_for_end(cx, &j);
}

/* Rows [from, m1) in panels of R rows while R fit, from A's column acol
   into C's column ccol; returns where it stopped (a value after the loop).
   args are the narrow microkernel's, a and c set here per panel. */
static LLVMValueRef small_bt_panels(Cg *cx, LLVMTypeRef et, const Operands *o, LLVMValueRef fn,
                                    int R, LLVMValueRef from, LLVMValueRef m1, LLVMValueRef acol,
                                    LLVMValueRef ccol, LLVMValueRef *args) {
  LLVMValueRef rows = LLVMBuildNSWSub(cx->b, m1, from, "");
  LLVMValueRef whole = LLVMBuildNSWMul(cx->b, LLVMBuildSDiv(cx->b, rows, cg_i64(cx, R), ""),
                                       cg_i64(cx, R), "");
  LLVMValueRef end = LLVMBuildNSWAdd(cx->b, from, whole, "");
  CgFor ir;
  cg_for_begin(cx, &ir, from, end, cg_i64(cx, R));
  args[1] = cg_gep(cx, et, o->a, element_at(cx, false, ir.iv, acol, o->lda));
  args[6] = cg_gep(cx, et, o->c, element_at(cx, false, ir.iv, ccol, o->N));
  cg_call(cx, fn, args, 10);
  cg_for_end(cx, &ir);
  return end;
}

static void emit_small_bt_block(Cg *cx, const Gemm *q, IrDtype dt, const Operands *o,
                                LLVMValueRef m0, LLVMValueRef m1, LLVMValueRef n0,
                                LLVMValueRef n1) {
  LLVMTypeRef et = cg_type(cx, dt);
  LLVMValueRef fn[3] = {narrow_fn(cx, q, dt, q->mr), narrow_fn(cx, q, dt, SMALL_BT_ROWS),
                        narrow_fn(cx, q, dt, 1)};
  int R[3] = {q->mr, SMALL_BT_ROWS, 1};
  CgFor pc, jr;
  cg_for_begin_nonempty(cx, &pc, cg_i64(cx, 0), o->K, cg_i64(cx, q->kc));
  LLVMValueRef kc = cg_min(cx, cg_i64(cx, q->kc), LLVMBuildNSWSub(cx->b, o->K, pc.iv, ""));
  LLVMValueRef accumulate = LLVMBuildICmp(cx->b, LLVMIntNE, pc.iv, cg_i64(cx, 0), "");
  LLVMValueRef cols = LLVMBuildNSWSub(cx->b, n1, n0, "");
  transpose_into(cx, et, o->b, o->ldb, n0, pc.iv, cols, kc, o->bp);
  int64_t NR = narrow_nv(q) * q->lanes;
  cg_for_begin(cx, &jr, cg_i64(cx, 0), cols, cg_i64(cx, NR));
  LLVMValueRef nr = cg_min(cx, cg_i64(cx, NR), LLVMBuildNSWSub(cx->b, cols, jr.iv, ""));
  LLVMValueRef bsrc = cg_gep(cx, et, o->bp, jr.iv);
  /* kc, a, sra, ska, b, ldb, c, ldc, nr, accumulate */
  LLVMValueRef args[10] = {kc, NULL, o->lda, cg_i64(cx, 1), bsrc, cols, NULL, o->N, nr, accumulate};
  LLVMValueRef from = m0, ccol = LLVMBuildNSWAdd(cx->b, n0, jr.iv, "");
  for (int i = 0; i < 3; i++)
    if (i == 0 || R[i] < R[i - 1])
      from = small_bt_panels(cx, et, o, fn[i], R[i], from, m1, pc.iv, ccol, args);
  cg_for_end(cx, &jr);
  cg_for_end(cx, &pc);
  call_epilogue(cx, o, m0, m1, n0, n1);
}

/* Element offset of batch `bi` in operand `which` (0 a, 1 b, 2 c). */
static LLVMValueRef batch_offset(Cg *cx, int nb, LLVMValueRef params, LLVMValueRef bi, int which) {
  LLVMValueRef off = cg_i64(cx, 0), rest = bi;
  for (int ax = nb - 1; ax >= 0; ax--) {
    LLVMValueRef d = get(cx, params, P_BATCH + ax);
    LLVMValueRef k = LLVMBuildSRem(cx->b, rest, d, "");
    rest = LLVMBuildSDiv(cx->b, rest, d, "");
    LLVMValueRef st = get(cx, params, P_BATCH + nb * (1 + which) + ax);
    off = LLVMBuildNSWAdd(cx->b, off, LLVMBuildNSWMul(cx->b, k, st, ""), "");
  }
  return off;
}

/* task(ctx, begin, end): parts [begin, end) of the tiles; ctx = {a, b, c,
   scratch, extents, epilogue function, B packed ahead, epilogue pointers...}.
   Every slot sits at the same index whatever the task's epilogue: one task
   serves every epilogue of its key, whose pointer counts differ. */
enum { CTX_EPI_FN = 5, CTX_PACKED = 6, CTX_EPI_PTRS = 7 };
static LLVMValueRef make_task(Cg *cx, const void *arg) {
  const Spec *s = arg;
  char name[160];
  char narrow[48] = "";
  if (s->rows >= 0) snprintf(narrow, sizeof narrow, "_n%d", s->rows);
  if (s->rows == PATH_DOT) snprintf(narrow, sizeof narrow, "_dot");
  if (s->rows == PATH_SMALL_BT) snprintf(narrow, sizeof narrow, "_sbt");
  if (s->rows == PATH_DOT_SUM) snprintf(narrow, sizeof narrow, "_dsum");
  if (s->rows == PATH_SUM_PACKED) snprintf(narrow, sizeof narrow, "_psum");
  if (s->rows == PATH_CV_SUM) snprintf(narrow, sizeof narrow, "_cvsum%d", s->q->cvs_rows);
  if (s->q->cv) {
    narrow[0] = '_';
    cv_key(s->q, narrow + 1, sizeof narrow - 1);
  }
  char geo[160] = "", geo_hash[16] = "";
  if (s->q->bsum && s->q->win) { /* its kernel is fixed to the geometry */
    win_sum_key(s->q, geo, sizeof geo);
    snprintf(geo_hash, sizeof geo_hash, "_%08x", (unsigned)mc_hash_str(geo));
  }
  snprintf(name, sizeof name, "gemm_task_%s_b%d_t%d%s%s%s_r%d_m%d%s%s%s%s",
           s->dt == IR_F64 ? "f64" : "f32", s->nbaxes, s->q->trans, narrow,
           win_suffix(s->q),
           narrow_nv(s->q) == 1 ? "_v1" : "", narrow_panel(s->q),
           s->q->mr, skinny_dots(s->q) ? "_sd" : "", s->epi ? "_epi" : "",
           s->q->prepack ? "_pp" : "", geo_hash);
  LLVMTypeRef p[3] = {cx->t_ptr, cx->t_i64, cx->t_i64};
  LLVMValueRef fn = begin_function(cx, name, p, 3);
  LLVMTypeRef et = cg_type(cx, s->dt);
  LLVMValueRef ctx = cg_param(cx, 0), v[6];
  for (int i = 0; i < (s->epi ? CTX_EPI_FN + 1 : CTX_EPI_FN); i++)
    v[i] = cg_load(cx, cx->t_ptr, ctx, cg_i64(cx, i));
  LLVMValueRef P = v[4];
  Operands o = {.N = get(cx, P, P_N), .K = get(cx, P, P_K)};
  if (s->epi) {
    o.epi = v[CTX_EPI_FN];
    o.epi_ptrs = cg_gep(cx, cx->t_ptr, ctx, cg_i64(cx, CTX_EPI_PTRS));
  }
  if (s->q->prepack)
    o.packed = cg_load(cx, cx->t_ptr, ctx, cg_i64(cx, CTX_PACKED));
  for (int i = 0; s->q->win && i < W_COUNT; i++)
    o.wgeo[i] = get(cx, P, P_BATCH + 4 * s->nbaxes + i);
  if (s->q->bsum) { /* one batch axis */
    o.nbatch = get(cx, P, P_BATCH);
    o.sa = get(cx, P, P_BATCH + 1);
    o.sb = get(cx, P, P_BATCH + 2);
    o.chunk = get(cx, P, P_CHUNK);
  }
  o.lda = s->q->trans & TRANS_A ? get(cx, P, P_M) : o.K;
  o.ldb = s->q->trans & TRANS_B ? o.K : o.N;
  LLVMValueRef part_bytes = get(cx, P, P_PART_BYTES), ap_bytes = get(cx, P, P_AP_BYTES);
  LLVMValueRef ntiles = get(cx, P, P_NTILES), parts = get(cx, P, P_PARTS);
  LLVMValueRef per_batch = get(cx, P, P_PER_BATCH), TN = get(cx, P, P_TN);
  LLVMValueRef M = get(cx, P, P_M), MT = get(cx, P, P_MT), NT = get(cx, P, P_NT);
  CgFor part, tile;
  cg_for_begin(cx, &part, cg_param(cx, 1), cg_param(cx, 2), cg_i64(cx, 1));
  o.ap = cg_gep(cx, cx->t_i8, v[3], LLVMBuildNSWMul(cx->b, part.iv, part_bytes, ""));
  o.bp = cg_gep(cx, cx->t_i8, o.ap, ap_bytes);
  if (s->q->cv) /* the filters (no batch axis), once per part */
    pack_cv_filters(cx, et, v[0], o.lda, s->q->trans & TRANS_A, get(cx, P, P_M), o.K, o.ap);
  LLVMValueRef t0 = LLVMBuildSDiv(cx->b, LLVMBuildNSWMul(cx->b, part.iv, ntiles, ""), parts, "");
  LLVMValueRef t1 = LLVMBuildSDiv(
      cx->b, LLVMBuildNSWMul(cx->b, LLVMBuildNSWAdd(cx->b, part.iv, cg_i64(cx, 1), ""), ntiles, ""),
      parts, "");
  cg_for_begin(cx, &tile, t0, t1, cg_i64(cx, 1));
  LLVMValueRef bi = LLVMBuildSDiv(cx->b, tile.iv, per_batch, "");
  LLVMValueRef r = LLVMBuildSRem(cx->b, tile.iv, per_batch, "");
  LLVMValueRef mi = LLVMBuildSDiv(cx->b, r, TN, ""), ni = LLVMBuildSRem(cx->b, r, TN, "");
  o.a = cg_gep(cx, et, v[0], batch_offset(cx, s->nbaxes, P, bi, 0));
  o.b = cg_gep(cx, et, v[1], batch_offset(cx, s->nbaxes, P, bi, 1));
  o.coff = batch_offset(cx, s->nbaxes, P, bi, 2);
  o.c = cg_gep(cx, et, v[2], o.coff);
  LLVMValueRef m0 = LLVMBuildNSWMul(cx->b, mi, MT, "");
  LLVMValueRef n0 = LLVMBuildNSWMul(cx->b, ni, NT, "");
  LLVMValueRef m1 = cg_min(cx, M, LLVMBuildNSWAdd(cx->b, m0, MT, ""));
  LLVMValueRef n1 = cg_min(cx, o.N, LLVMBuildNSWAdd(cx->b, n0, NT, ""));
  if (s->rows == PATH_CV_SUM) {
    emit_cv_sum_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
  } else if (s->q->cv) {
    emit_cv_win_block(cx, s->q, s->dt, &o, M, m0, m1);
  } else if (s->rows >= 0 && s->q->win) {
    emit_narrow_win_block(cx, s->q, s->dt, &o, m0, m1, s->rows);
  } else if (s->rows >= 0) {
    emit_narrow_block(cx, s->q, s->dt, &o, m0, m1, n0, n1, s->rows);
  } else if (s->rows == PATH_DOT) {
    emit_dot_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
  } else if (s->rows == PATH_DOT_SUM) {
    emit_dot_sum_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
  } else if (s->rows == PATH_SUM_PACKED) {
    emit_sum_packed_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
  } else if (s->rows == PATH_SMALL_BT) {
    emit_small_bt_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
  } else if ((s->q->trans & TRANS_B) && !(s->q->trans & TRANS_A)) {
    /* by the whole product's rows, so that the JIT and a library take the
       same path at the same batch (their tiles along M may differ) */
    CgIf skinny;
    cg_if_begin(cx, &skinny, LLVMBuildICmp(cx->b, LLVMIntSLE, M, cg_i64(cx, SKINNY_ROWS), ""));
    if (skinny_dots(s->q))
      emit_skinny_dots_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
    else
      emit_skinny_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
    cg_if_else(cx, &skinny);
    emit_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
    cg_if_end(cx, &skinny);
  } else {
    emit_block(cx, s->q, s->dt, &o, m0, m1, n0, n1);
  }
  cg_for_end(cx, &tile);
  cg_for_end(cx, &part);
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* The operands of node id's product, and whether each is stored
   transposed. A transpose computing (A B)^T = B^T A^T reads B as its A
   and A as its B, each transposed unless already stored so. */
static int product_operands(Cg *cx, IrRef id, IrRef src[2]) {
  const IrNode *n = ir_node(cx->g, id);
  if (n->op == IR_OP_SUM)
    n = ir_node(cx->g, id = n->src[0]);
  if (n->op != IR_OP_PERMUTE) {
    src[0] = n->src[0];
    src[1] = n->src[1];
    return (cg_matmul_operand_folded(cx->plan, cx->g, id, 0) ? TRANS_A : 0) |
           (cg_matmul_operand_folded(cx->plan, cx->g, id, 1) ? TRANS_B : 0);
  }
  IrRef m = n->src[0];
  src[0] = ir_node(cx->g, m)->src[1];
  src[1] = ir_node(cx->g, m)->src[0];
  return (cg_matmul_operand_folded(cx->plan, cx->g, m, 1) ? 0 : TRANS_A) |
         (cg_matmul_operand_folded(cx->plan, cx->g, m, 0) ? 0 : TRANS_B);
}

static int operand_trans(Cg *cx, IrRef id) {
  IrRef src[2];
  return product_operands(cx, id, src);
}

/* The epilogue of matmul id's group (e->n == 0 without one); ext[] gets
   its outside operands, then its extra outputs. */
static void epi_of(Cg *cx, IrRef id, Epi *e, IrRef *ext) {
  memset(e, 0, sizeof *e);
  if (!cg_group_multi(cx->plan, id))
    return;
  CgGroup G;
  bool ok = cg_group_describe(cx->plan, cx->g, cx->plan->lead[id], &G);
  MC_ASSERT(ok && G.nm - 1 <= EPI_MAX);
  const IrNode *mm = ir_node(cx->g, id);
  e->n = G.nm - 1;
  size_t used = (size_t)snprintf(e->sig, sizeof e->sig, "epi");
  for (int i = 0; i < e->n; i++) {
    const IrNode *n = ir_node(cx->g, G.m[i + 1]);
    e->op[i] = (IrOp)n->op;
    e->nsrc[i] = n->nsrc;
    used += (size_t)snprintf(e->sig + used, sizeof e->sig - used, " %s(", ir_ops[n->op].name);
    for (int k = 0; k < n->nsrc && used < sizeof e->sig; k++) {
      IrRef x = n->src[k];
      int s = -1;
      if (x != G.m[i]) {
        for (s = 0; s < e->next && ext[s] != x; s++) {}
        if (s == e->next) {
          ext[e->next] = x;
          e->kind[e->next] = ir_epilogue_operand(&ir_node(cx->g, x)->shape, &mm->shape);
          MC_ASSERT(e->kind[e->next] != IR_EPI_NONE);
          e->next++;
        }
      }
      e->src[i][k] = s;
      used += (size_t)snprintf(e->sig + used, sizeof e->sig - used, "%s%c%d", k ? "," : "",
                               s < 0 ? 'c' : "-srmf"[e->kind[s]], s);
    }
    if (used < sizeof e->sig)
      used += (size_t)snprintf(e->sig + used, sizeof e->sig - used, ")");
  }
  /* stored members: the first lives in C, the others are extra outputs */
  for (int i = 0; i < e->n; i++) {
    e->store[i] = -1;
    for (int a = 0; a < G.nstore; a++)
      if (G.buf[a] == G.m[i + 1])
        e->store[i] = a == 0 ? -2 : e->nout++;
    if (used < sizeof e->sig)
      used += (size_t)snprintf(e->sig + used, sizeof e->sig - used, " s%d", e->store[i]);
  }
  for (int a = 1, k = 0; a < G.nstore; a++)
    ext[e->next + k++] = G.buf[a];
  bool by_row = false;
  for (int k = 0; k < e->next; k++)
    by_row |= e->kind[k] == IR_EPI_COL;
  if (by_row && rows_merge(mm, ir_node(cx->g, mm->src[0]), ir_node(cx->g, mm->src[1]), false)) {
    e->rows_per_col = mm->shape.d[mm->shape.rank - 2].n;
    if (used < sizeof e->sig)
      snprintf(e->sig + used, sizeof e->sig - used, " %%%lld", (long long)e->rows_per_col);
  }
}

/* The epilogue function of a group (the argument of cg_shared_function). */
static LLVMValueRef make_epilogue(Cg *cx, const void *arg) {
  const Spec *s = arg;
  char name[48];
  snprintf(name, sizeof name, "gemm_epi_%s_%08x", s->dt == IR_F64 ? "f64" : "f32",
           (unsigned)mc_hash_str(s->epi->sig));
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, epi_fn_type(cx));
  cg_set_local(cx, fn);
  cg_set_fn_attr(cx, fn, "nounwind");
  cg_set_noalias(cx, fn, 1); /* C: no operand or other output overlaps it */
  cx->fn = fn;
  LLVMPositionBuilderAtEnd(cx->b, cg_block(cx, "entry"));
  LLVMValueRef ptrs[CG_GROUP_MAX_BUFS + EPI_MAX];
  for (int k = 0; k < s->epi->next + s->epi->nout; k++)
    ptrs[k] = cg_load(cx, cx->t_ptr, cg_param(cx, 0), cg_i64(cx, k));
  for (int i = 0; i < s->epi->n; i++) {
    int k = cg_op_interleave(s->epi->op[i]);
    if (k > cx->interleave) cx->interleave = k;
  }
  emit_epilogue(cx, s->epi, cg_type(cx, s->dt), cg_param(cx, 1), cg_param(cx, 2), cg_param(cx, 3),
                ptrs, cg_param(cx, 4), cg_param(cx, 5), cg_param(cx, 6), cg_param(cx, 7));
  cx->interleave = 0;
  LLVMBuildRetVoid(cx->b);
  return fn;
}

/* The kernel body: the task over every part, through the pool when there
   is more than one part and a pool. With an epilogue the task calls the
   group's epilogue function, whose address and pointers follow in ctx. */
static void emit_matmul(Cg *cx, const CgCall *c) {
  const IrNode *n = ir_node(cx->g, c->node);
  IrDtype dt = (IrDtype)n->dtype;
  Gemm q;
  gemm_geometry(cx->tgt, cx->g, c->node, &q);
  q.trans = operand_trans(cx, c->node);
  q.prepack = cx->plan->loc[c->node].packed != 0;
  Epi epi;
  IrRef ext[CG_GROUP_MAX_BUFS + EPI_MAX];
  epi_of(cx, c->node, &epi, ext);
  char key[400];
  int rows = narrow_rows(&q);
  char geo[160] = "";
  if (q.bsum && q.win)
    win_sum_key(&q, geo, sizeof geo);
  snprintf(key, sizeof key, "gemm_task %s b%d t%d n%d v%d r%d m%d%s%s%s%s %s", ir_dtype_name(dt),
           c->nbaxes, q.trans, rows, narrow_nv(&q), narrow_panel(&q), q.mr,
           skinny_dots(&q) ? " sd" : "", epi.n ? " epi" : "", q.prepack ? " pp" : "",
           q.win ? win_mode(&q) : "", geo);
  if (q.cv) {
    char cv[48];
    cv_key(&q, cv, sizeof cv);
    snprintf(key + strlen(key), sizeof key - strlen(key), " %s", cv);
  }
  if (q.cvsum) /* its calls' window rows (the filters' vectors set them) */
    snprintf(key + strlen(key), sizeof key - strlen(key), " cvs%d", q.cvs_rows);
  Spec s = {.q = &q, .dt = dt, .nbaxes = c->nbaxes, .epi = epi.n ? &epi : NULL, .rows = rows};
  LLVMValueRef task = cg_shared_function(cx, key, make_task, &s);
  int nptrs = epi.n ? epi.next + epi.nout : 0;
  LLVMTypeRef ctx_t = LLVMArrayType(cx->t_ptr, (unsigned)(CTX_EPI_PTRS + nptrs));
  LLVMValueRef ctx = LLVMBuildAlloca(cx->b, ctx_t, "ctx");
  LLVMValueRef vals[5] = {cg_karg(cx, 1), cg_karg(cx, 2), cg_karg(cx, 0), cg_karg(cx, 2 + c->nin),
                          cg_kernel_extents(cx)};
  for (int i = 0; i < 5; i++)
    cg_store(cx, vals[i], ctx, cg_i64(cx, i));
  if (epi.n) {
    snprintf(key, sizeof key, "gemm_epi %s %s", ir_dtype_name(dt), epi.sig);
    cg_store(cx, cg_shared_function(cx, key, make_epilogue, &s), ctx, cg_i64(cx, CTX_EPI_FN));
  }
  for (int i = 0; i < nptrs; i++)
    cg_store(cx, cg_karg(cx, 3 + i), ctx, cg_i64(cx, CTX_EPI_PTRS + i));
  if (q.prepack) { /* packed here, before the tiles run */
    LLVMValueRef ws = cg_karg(cx, 1 + c->nin), E = cg_kernel_extents(cx);
    LLVMValueRef hdr = cg_gep(cx, cx->t_i8, ws, get(cx, E, P_PACKED));
    emit_prepack(cx, &q, dt, cg_karg(cx, 2), ws, hdr, get(cx, E, P_N), get(cx, E, P_K));
    cg_store(cx, cg_gep(cx, cx->t_i8, hdr, cg_i64(cx, CG_ALIGN)), ctx, cg_i64(cx, CTX_PACKED));
  }
  LLVMValueRef parts = cg_karg(cx, 3 + c->nin + P_PARTS);
  LLVMValueRef pool = LLVMBuildLoad2(cx->b, cx->t_ptr, cg_karg(cx, 1 + c->nin), "pool");
  LLVMTypeRef pf[4] = {cx->t_ptr, cx->t_i64, cx->t_ptr, cx->t_ptr};
  LLVMValueRef pfor = cg_function(cx, "rt_parallel_for", cx->t_void, pf, 4);
  /* A library's batch is bound per call: a product planned in parts for
     the nominal batch may be small at the call's (batch 1), and then waking
     threads would cost more than it saves. */
  LLVMValueRef P = cg_kernel_extents(cx);
  LLVMValueRef nb = q.bsum ? get(cx, P, P_BATCH)
                           : LLVMBuildSDiv(cx->b, get(cx, P, P_NTILES), get(cx, P, P_PER_BATCH), "");
  LLVMValueRef flops = LLVMBuildFMul(cx->b, LLVMConstReal(cx->t_f64, 2.0), LLVMBuildSIToFP(cx->b, nb, cx->t_f64, ""), "");
  LLVMValueRef dims[3] = {get(cx, P, P_M), get(cx, P, P_N), get(cx, P, P_K)};
  for (int i = 0; i < 3; i++)
    flops = LLVMBuildFMul(cx->b, flops, LLVMBuildSIToFP(cx->b, dims[i], cx->t_f64, ""), "");
  LLVMValueRef big = LLVMBuildFCmp(cx->b, LLVMRealOGE, flops,
                                   LLVMConstReal(cx->t_f64, PARALLEL_MIN_FLOPS), "");
  LLVMValueRef nk = LLVMBuildNSWMul(cx->b, dims[1], dims[2], "");
  big = LLVMBuildOr(cx->b, big, LLVMBuildICmp(cx->b, LLVMIntSGE, nk,
                                              cg_i64(cx, PARALLEL_MIN_B_ELEMS), ""), "");
  LLVMValueRef many = LLVMBuildAnd(cx->b, LLVMBuildIsNotNull(cx->b, pool, ""),
                                   LLVMBuildICmp(cx->b, LLVMIntSGT, parts, cg_i64(cx, 1), ""), "");
  many = LLVMBuildAnd(cx->b, many, big, "");
  CgIf par;
  cg_if_begin(cx, &par, many);
  cg_call(cx, pfor, (LLVMValueRef[]){pool, parts, task, ctx}, 4);
  cg_if_else(cx, &par);
  cg_call(cx, task, (LLVMValueRef[]){ctx, cg_i64(cx, 0), parts}, 3);
  cg_if_end(cx, &par);
}

/* ---- small products ---------------------------------------------------------------
   Row by row: C[i,:] = sum over k of A[i,k] B[k,:], the inner loop along a
   row of B and C (vectorized). The same extents as the GEMM's. */
static void emit_matmul_small(Cg *cx, const CgCall *c) {
  const IrNode *n = ir_node(cx->g, c->node);
  IrDtype dt = (IrDtype)n->dtype;
  LLVMTypeRef et = cg_type(cx, dt);
  LLVMValueRef P = cg_kernel_extents(cx);
  LLVMValueRef M = get(cx, P, P_M), N = get(cx, P, P_N), K = get(cx, P, P_K);
  LLVMValueRef nbatch = get(cx, P, P_NTILES);
  LLVMValueRef A = cg_karg(cx, 1), B = cg_karg(cx, 2), C = cg_karg(cx, 0);
  Epi epi;
  IrRef ext[CG_GROUP_MAX_BUFS + EPI_MAX];
  epi_of(cx, c->node, &epi, ext);
  CgFor b, i, k, j, z;
  cg_for_begin_nonempty(cx, &b, cg_i64(cx, 0), nbatch, cg_i64(cx, 1));
  LLVMValueRef oa = batch_offset(cx, c->nbaxes, P, b.iv, 0),
               ob = batch_offset(cx, c->nbaxes, P, b.iv, 1);
  LLVMValueRef oc = batch_offset(cx, c->nbaxes, P, b.iv, 2);
  cg_for_begin_nonempty(cx, &i, cg_i64(cx, 0), M, cg_i64(cx, 1));
  LLVMValueRef crow = LLVMBuildNSWAdd(cx->b, oc, LLVMBuildNSWMul(cx->b, i.iv, N, ""), "");
  LLVMValueRef arow = LLVMBuildNSWAdd(cx->b, oa, LLVMBuildNSWMul(cx->b, i.iv, K, ""), "");
  cg_for_begin_nonempty(cx, &z, cg_i64(cx, 0), N, cg_i64(cx, 1));
  cg_store(cx, LLVMConstNull(et), C, LLVMBuildNSWAdd(cx->b, crow, z.iv, ""));
  cg_for_end(cx, &z);
  cg_for_begin_nonempty(cx, &k, cg_i64(cx, 0), K, cg_i64(cx, 1));
  LLVMValueRef a = cg_load(cx, et, A, LLVMBuildNSWAdd(cx->b, arow, k.iv, ""));
  LLVMValueRef brow = LLVMBuildNSWAdd(cx->b, ob, LLVMBuildNSWMul(cx->b, k.iv, N, ""), "");
  cg_for_begin_nonempty(cx, &j, cg_i64(cx, 0), N, cg_i64(cx, 1));
  LLVMValueRef at = LLVMBuildNSWAdd(cx->b, crow, j.iv, "");
  LLVMValueRef bv = cg_load(cx, et, B, LLVMBuildNSWAdd(cx->b, brow, j.iv, ""));
  LLVMValueRef args[3] = {a, bv, cg_load(cx, et, C, at)};
  cg_store(cx, cg_intrinsic(cx, "llvm.fmuladd", &et, 1, args, 3), C, at);
  cg_for_end(cx, &j);
  cg_for_end(cx, &k);
  if (epi.n > 0) {
    LLVMValueRef ev[CG_GROUP_MAX_BUFS + EPI_MAX];
    for (int e = 0; e < epi.next + epi.nout; e++)
      ev[e] = cg_karg(cx, 3 + e);
    emit_epilogue(cx, &epi, et, cg_gep(cx, et, C, oc), oc, N, ev, i.iv,
                  LLVMBuildNSWAdd(cx->b, i.iv, cg_i64(cx, 1), ""), cg_i64(cx, 0), N);
  }
  cg_for_end(cx, &i);
  cg_for_end(cx, &b);
}

static void matmul_call(Cg *cx, IrRef id, IrRef out, CgAddCall add);

void cg_matmul_lower(Cg *cx, IrRef id, CgAddCall add) { matmul_call(cx, id, id, add); }

void cg_matmul_lower_group(Cg *cx, const CgGroup *G, CgAddCall add) {
  matmul_call(cx, G->matmul, G->buf[0], add);
}

/* The call of matmul id (with its group's epilogue) storing into out's
   storage. */
static void matmul_call(Cg *cx, IrRef id, IrRef out, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id);
  Gemm q;
  gemm_geometry(cx->tgt, cx->g, id, &q);
  if (q.K == 0) {
    cg_zero_call(cx, id, add);
    return;
  }
  CgCall c;
  memset(&c, 0, sizeof c);
  c.node = id;
  c.kind = "matmul";
  c.out = cg_plan_entry(cx->plan, cx->g, out);
  IrRef src[2];
  int trans = product_operands(cx, id, src);
  c.in[0] = cg_plan_entry(cx->plan, cx->g, src[0]);
  c.in[1] = cg_plan_entry(cx->plan, cx->g, src[1]);
  c.nin = 2;
  Epi epi;
  IrRef ext[CG_GROUP_MAX_BUFS + EPI_MAX];
  epi_of(cx, id, &epi, ext);
  for (int i = 0; i < epi.next + epi.nout; i++)
    c.in[c.nin++] = cg_plan_entry(cx->plan, cx->g, ext[i]);
  c.nbaxes = q.nbaxes;
  bool small = is_small(&q);
  c.scratch = !small;
  c.emit = small ? emit_matmul_small : emit_matmul;
  q.trans = trans;
  q.prepack = cx->plan->loc[id].packed != 0;
  char geo[160] = "";
  if (q.bsum && q.win) /* the kernel calls a task fixed to the geometry */
    win_sum_key(&q, geo, sizeof geo);
  snprintf(c.key, sizeof c.key, "matmul%s %s b%d t%d n%d v%d r%d m%d%s%s%s %s%s",
           small ? "_small" : "", ir_dtype_name((IrDtype)n->dtype), q.nbaxes, trans,
           small ? -1 : narrow_rows(&q), small ? 0 : narrow_nv(&q), small ? 0 : narrow_panel(&q),
           small ? 0 : q.mr, !small && skinny_dots(&q) ? " sd" : "", q.prepack ? " pp" : "",
           q.win ? win_mode(&q) : "", epi.n ? epi.sig : "", geo);
  if (!small && q.cv) {
    char cv[48];
    cv_key(&q, cv, sizeof cv);
    snprintf(c.key + strlen(c.key), sizeof c.key - strlen(c.key), " %s", cv);
  }
  if (!small && q.cvsum)
    snprintf(c.key + strlen(c.key), sizeof c.key - strlen(c.key), " cvs%d", q.cvs_rows);
  /* small: P_NTILES is the number of batches */
  int64_t fixed[P_BATCH] = {q.M,
                            q.N,
                            q.K,
                            q.MT,
                            q.NT,
                            q.TN,
                            q.TM * q.TN,
                            small ? q.nbatch : q.ntiles,
                            q.parts,
                            q.ap_bytes,
                            q.ap_bytes + q.bp_bytes,
                            q.chunk,
                            q.prepack ? cx->plan->loc[id].packed : 0};
  for (int i = 0; i < P_BATCH; i++)
    c.ext[c.n++] = fixed[i];
  for (int i = 0; i < q.nbaxes; i++)
    c.ext[c.n++] = q.bdims[i];
  const int64_t *st[3] = {q.sa, q.sb, q.sc};
  for (int w = 0; w < 3; w++)
    for (int i = 0; i < q.nbaxes; i++)
      c.ext[c.n++] = st[w][i];
  for (int i = 0; q.win && i < W_COUNT; i++)
    c.ext[c.n++] = q.wgeo[i];
  add(cx, &c);
}
