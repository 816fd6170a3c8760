/* ir.h -- the tensor IR: a typed, statically shaped SSA graph over the
   primitive ops of ir_ops.def. Nodes are dense ids in topological order
   (every operand id is smaller than its user's id). Params, inputs and
   outputs keep their hierarchical names; every node keeps its source
   location. Dims may be symbolic (named model dims such as B): a dim is
   k * (product of named dims) and always also carries its value under the
   current binding. */
#ifndef IR_H
#define IR_H

#include "mc.h"

#define IR_MAX_RANK 8
#define IR_MAX_WIN 3     /* window axes of unfold/fold (conv1d/2d/3d) */
#define IR_MAX_SYMS 32   /* named dims per graph (bit mask in IrDim) */
#define IR_NONE UINT32_MAX
#define IR_GRAD_WANTED (UINT32_MAX - 1)  /* grad rules: dx[i] on entry, see IrOpInfo */

typedef uint32_t IrRef;

/* ---- ops ----------------------------------------------------------------- */
enum { IR_F_COMMUT = 1, IR_F_CMP = 2, IR_F_NOGRAD = 4 };

typedef enum {
#define X(E, txt, ar, cls, fl) IR_OP_##E,
#include "ir_ops.def"
#undef X
  IR_OP_COUNT
} IrOp;
_Static_assert(IR_OP_COUNT <= 255, "op is stored in a uint8_t");

typedef enum {
  IR_CLASS_SOURCE, IR_CLASS_ELEM, IR_CLASS_REDUCE, IR_CLASS_CONTRACT,
  IR_CLASS_MOVE, IR_CLASS_INDEX, IR_CLASS_SYNC
} IrOpClass;

typedef enum { IR_F32, IR_F64, IR_I32, IR_BOOL, IR_DTYPE_COUNT } IrDtype;

const char *ir_dtype_name(IrDtype t);            /* "f32" ... */
bool ir_dtype_from_name(const char *s, IrDtype *t);
bool ir_dtype_is_float(IrDtype t);

/* ---- shapes --------------------------------------------------------------- */
typedef struct IrDim {
  int64_t n;        /* value under the graph's current dim binding (>= 0) */
  int64_t k;        /* constant factor: n == k * prod(value of syms) */
  uint32_t syms;    /* bit i set: named dim i of the graph is a factor */
} IrDim;

typedef struct IrShape {
  uint8_t rank;
  IrDim d[IR_MAX_RANK];
} IrShape;

typedef struct IrSym {
  const char *name;  /* e.g. "B" (graph arena) */
  int64_t value;     /* current binding */
  bool batch;        /* the batch: AOT libraries bind it per call (at most one) */
} IrSym;

/* ---- initializers (PyTorch's torch.nn.init definitions) ------------------- */
typedef enum {
  IR_INIT_NONE,            /* value must be provided (e.g. loaded weights) */
  IR_INIT_ZEROS, IR_INIT_ONES,
  IR_INIT_CONSTANT,        /* a = value */
  IR_INIT_NORMAL,          /* a = mean, b = std */
  IR_INIT_UNIFORM,         /* a = low, b = high */
  IR_INIT_XAVIER_UNIFORM,  /* a = gain */
  IR_INIT_XAVIER_NORMAL,   /* a = gain */
  IR_INIT_KAIMING_UNIFORM, /* a = negative slope (leaky_relu gain), fan_out = mode */
  IR_INIT_KAIMING_NORMAL,  /* as above */
  IR_INIT_COUNT
} IrInitKind;

typedef struct IrInit {
  IrInitKind kind;
  double a, b;
  bool fan_out;      /* kaiming: mode='fan_out' instead of 'fan_in' */
} IrInit;

const char *ir_init_name(IrInitKind k);   /* "zeros", "kaiming_uniform", ... */
bool ir_init_from_name(const char *s, IrInitKind *k);

/* ---- nodes ---------------------------------------------------------------- */
typedef struct IrAttr {
  double value;                 /* CONST: the scalar */
  int axis;                     /* IOTA: counting axis; CONCAT: joined axis */
  uint32_t axes;                /* SUM/MAX: bit i = reduce operand axis i */
  bool keepdims;                /* SUM/MAX: reduced axes kept with size 1 */
  uint8_t perm[IR_MAX_RANK];    /* PERMUTE: result axis i is operand axis perm[i] */
  int64_t start[IR_MAX_RANK];   /* SLICE: first index; PAD: zeros before */
  int64_t step[IR_MAX_RANK];    /* SLICE: stride (nonzero; < 0 reads backwards) */
  IrInit init;                  /* PARAM: initializer */
  bool frozen;                  /* PARAM: not trained: no gradient, no optimizer state
                                   (a buffer, or a param frozen by the user) */
  bool buffer;                  /* PARAM: state such as batch norm's running mean
                                   (frozen too), which an UPDATE output may set */
  uint8_t nwin;                 /* UNFOLD/FOLD: window axes, the operand's (fold: the
                                   result's) last nwin axes */
  int64_t wstride[IR_MAX_WIN];  /* UNFOLD/FOLD: window stride per window axis */
  int64_t wdilation[IR_MAX_WIN];/* UNFOLD/FOLD: spacing of a window's taps */
} IrAttr;

typedef struct IrNode {
  uint8_t op;          /* IrOp */
  uint8_t dtype;       /* IrDtype of the result */
  uint16_t nsrc;       /* number of operands */
  IrRef *src;          /* operand ids (graph arena), all < this node's id */
  IrShape shape;       /* result shape */
  IrAttr attr;         /* op-specific attributes; unused fields are zero */
  const char *name;    /* INPUT/PARAM: hierarchical name, e.g. "fc1.weight" */
  McLoc loc;           /* where the user wrote it (file 0 = none) */
  uint32_t kernel;     /* fuse pass: the node's kernel group (0 = none); nodes with the
                          same group run as one kernel call (codegen) */
} IrNode;

/* What a graph returns. Forward graphs have OUTPUT and at most one LOSS;
   autodiff adds one GRAD per param (name = param name) and, on request, per
   float input. The optim pass adds UPDATE outputs: the new value of the
   param or optimizer-state tensor NAME (a PARAM node of the same type),
   which the caller stores back into it after the step. */
typedef enum { IR_OUT_OUTPUT, IR_OUT_LOSS, IR_OUT_GRAD, IR_OUT_UPDATE } IrOutKind;

typedef struct IrOutput {
  IrOutKind kind;
  const char *name;    /* graph arena */
  IrRef ref;
} IrOutput;

typedef struct IrGraph {
  McArena arena;       /* names, operand arrays: live as long as the graph */
  const char *name;    /* model name */
  IrNode *nodes;       /* heap, grows; ids index it */
  uint32_t nnodes, capnodes;
  IrSym syms[IR_MAX_SYMS];
  uint32_t nsyms;
  IrOutput *outs;      /* heap, grows */
  uint32_t nouts, capouts;
  McDiag *diag;        /* where builder errors go (may be NULL: silent) */
} IrGraph;

typedef struct IrOpInfo {
  const char *name;
  int arity;           /* -1 = variadic */
  IrOpClass cls;
  unsigned flags;
  /* Checks operands and attributes and sets n->shape and n->dtype (for
     SOURCE, RESHAPE, EXPAND, PAD, SCATTER_ADD and CAST the caller presets
     shape/dtype and the rule validates them). Reports into g->diag at
     n->loc and returns false on error. */
  bool (*shape)(IrGraph *g, IrNode *n);
  /* Appends the gradient of node `ref` to g. dy has the node's shape.
     Sets dx[i] for each operand i (IR_NONE = no gradient). A dx[i] may have
     the node's broadcast shape: autodiff sums it back to the operand's.
     On entry dx[i] is IR_NONE for an operand that needs no gradient (the
     rule builds nothing for it) and IR_GRAD_WANTED for one that does. */
  void (*grad)(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx);
} IrOpInfo;

#define X(E, txt, ar, cls, fl)                          \
  bool ir_shape_##E(IrGraph *g, IrNode *n);             \
  void ir_grad_##E(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx);
#include "ir_ops.def"
#undef X

extern const IrOpInfo ir_ops[IR_OP_COUNT];
bool ir_op_from_name(const char *s, IrOp *op);

/* ---- ir_graph.c: graphs, dims, the builder --------------------------------- */
IrGraph *ir_graph_new(const char *name, McDiag *diag);
void ir_graph_free(IrGraph *g);
static inline IrNode *ir_node(const IrGraph *g, IrRef r) { return &g->nodes[r]; }

/* Named dims. ir_graph_add_sym returns the sym index or -1 when full. */
int ir_graph_add_sym(IrGraph *g, const char *name, int64_t value);
int ir_graph_find_sym(const IrGraph *g, const char *name);
/* The batch sym's index, or -1. */
int ir_graph_batch_sym(const IrGraph *g);
/* Adds from's named dims that `to` lacks (values and batch marks). */
void ir_graph_copy_syms(IrGraph *to, const IrGraph *from);
/* Rebinds a named dim and recomputes every shape's values. False (with a
   diagnostic) if some node's shape becomes invalid. */
bool ir_graph_bind_sym(IrGraph *g, int sym, int64_t value);

IrDim ir_dim_const(int64_t n);
IrDim ir_dim_sym(const IrGraph *g, int sym);
IrDim ir_dim_mul(const IrGraph *g, IrDim a, IrDim b);
/* a / b when exact (symbolic part kept when b's syms divide a's); false if
   not divisible. */
bool ir_dim_div(const IrGraph *g, IrDim a, IrDim b, IrDim *out);
bool ir_shape_equal(const IrShape *a, const IrShape *b);   /* by values */
/* Dims equal including their symbolic form (the same at any binding). */
bool ir_dim_same(IrDim a, IrDim b);
int64_t ir_shape_numel(const IrShape *s);
/* How an elementwise op that follows a product of shape mm ([..., M, N])
   reads operand x when the op runs in the product's epilogue: one value
   (SCALAR), a row vector, one value per column along N (ROW: a bias), a
   column vector, one value per row along M (COL: a channel's scale after
   a convolution; M fixed), or one value per element (FULL: x of mm's
   shape). NONE: any other shape, never read in an epilogue. Fusion
   (pass_fuse) and codegen decide alike through this one rule. */
typedef enum { IR_EPI_NONE, IR_EPI_SCALAR, IR_EPI_ROW, IR_EPI_COL, IR_EPI_FULL } IrEpiOperand;
IrEpiOperand ir_epilogue_operand(const IrShape *x, const IrShape *mm);
/* No named dim in axes from .. rank-1: those sizes are fixed at compile time. */
bool ir_shape_fixed_from(const IrShape *s, int from);
/* Appends "f32[B,784]" (dims printed symbolically, e.g. "B*T", "2*B" with
   the constant factor first; non-symbolic dims print as numbers). */
void ir_shape_print(McStr *out, const IrGraph *g, IrDtype t, const IrShape *s);
const char *ir_type_str(const IrGraph *g, IrDtype t, const IrShape *s); /* arena */

/* The generic builder: checks arity, runs the op's shape rule, appends the
   node and returns its id. For ops whose result shape is an attribute
   (SOURCE, RESHAPE, EXPAND, PAD, SCATTER_ADD) pass `shape`; pass `dtype`
   for SOURCE and CAST (otherwise ignored). Returns IR_NONE after reporting
   an error; an IR_NONE operand yields IR_NONE without a new report. */
IrRef ir_build(IrGraph *g, IrOp op, const IrRef *src, int nsrc, const IrAttr *attr,
               const IrShape *shape, IrDtype dtype, McLoc loc);

/* Convenience builders (thin wrappers over ir_build). */
IrRef ir_input(IrGraph *g, const char *name, IrDtype t, const IrShape *s, McLoc loc);
IrRef ir_param(IrGraph *g, const char *name, IrDtype t, const IrShape *s, IrInit init, McLoc loc);
IrRef ir_const(IrGraph *g, double value, IrDtype t, McLoc loc);           /* rank 0 */
IrRef ir_iota(IrGraph *g, const IrShape *s, int axis, IrDtype t, McLoc loc);
IrRef ir_unary(IrGraph *g, IrOp op, IrRef x, McLoc loc);
IrRef ir_binary(IrGraph *g, IrOp op, IrRef a, IrRef b, McLoc loc);
IrRef ir_where(IrGraph *g, IrRef cond, IrRef a, IrRef b, McLoc loc);
IrRef ir_cast(IrGraph *g, IrRef x, IrDtype t, McLoc loc);
IrRef ir_reduce(IrGraph *g, IrOp op, IrRef x, uint32_t axes, bool keepdims, McLoc loc);
IrRef ir_matmul(IrGraph *g, IrRef a, IrRef b, McLoc loc);
IrRef ir_reshape(IrGraph *g, IrRef x, const IrShape *s, McLoc loc);
IrRef ir_permute(IrGraph *g, IrRef x, const uint8_t *perm, McLoc loc);
IrRef ir_expand(IrGraph *g, IrRef x, const IrShape *s, McLoc loc);
/* start/step per axis; count[i] = number of elements kept on axis i. */
IrRef ir_slice(IrGraph *g, IrRef x, const int64_t *start, const int64_t *step,
               const int64_t *count, McLoc loc);
IrRef ir_pad(IrGraph *g, IrRef x, const int64_t *before, const int64_t *after, McLoc loc);
IrRef ir_concat(IrGraph *g, const IrRef *xs, int n, int axis, McLoc loc);
/* unfold(x[lead..., S1..Sk]) -> [lead..., K1..Kk, O1..Ok]: window (o, kk) of
   axis i reads x at o*stride[i] + kk*dilation[i]; O = (S - dil*(K-1) - 1) /
   stride + 1 (floor; a window that does not fit is an error). k = nwin. */
IrRef ir_unfold(IrGraph *g, IrRef x, int nwin, const int64_t *kernel, const int64_t *stride,
                const int64_t *dilation, McLoc loc);
/* fold(y[lead..., K1..Kk, O1..Ok]) -> [lead..., size1..sizek]: unfold's
   adjoint; every window element is added back where unfold read it. */
IrRef ir_fold(IrGraph *g, IrRef y, int nwin, const IrDim *size, const int64_t *stride,
              const int64_t *dilation, McLoc loc);
/* For unfold/fold node n: given the strides `is` of its image [lead..., S...]
   (rank img_rank), the strides into the image of the index space of the
   windows [lead..., K..., O...]: tap k of a window axis moves by dilation,
   window o by stride. What the evaluator and codegen walk. */
void ir_window_strides(const IrNode *n, int img_rank, const int64_t *is, int64_t *st);
/* gather(table[V, r...], idx i32[s...]) -> [s..., r...] */
IrRef ir_gather(IrGraph *g, IrRef table, IrRef idx, McLoc loc);
/* scatter_add(src[s..., r...], idx i32[s...]) -> [rows, r...] */
IrRef ir_scatter_add(IrGraph *g, IrRef src, IrRef idx, IrDim rows, McLoc loc);
/* Sums x (whose shape broadcasts to nothing larger than `to`) ... the
   reverse of broadcasting: sums the axes x has beyond `to`'s rank and the
   axes where `to` has size 1, so the result has shape `to`. */
IrRef ir_sum_to(IrGraph *g, IrRef x, const IrShape *to, McLoc loc);

void ir_add_output(IrGraph *g, IrOutKind kind, const char *name, IrRef ref);
const IrOutput *ir_find_output(const IrGraph *g, IrOutKind kind, const char *name);
IrRef ir_find_param(const IrGraph *g, const char *name);   /* IR_NONE if absent */
/* Glob match of a whole name: '*' matches any run of characters (dots
   included), '?' any one character. */
bool ir_glob_match(const char *glob, const char *name);
/* Freezes every trainable (non-buffer) param whose name matches glob: no
   gradient or optimizer state is made for it. Returns how many matched. */
int ir_freeze_params(IrGraph *g, const char *glob);
IrRef ir_find_input(const IrGraph *g, const char *name);

/* Copies graph `src` into a fresh graph: same syms, nodes and outputs. */
IrGraph *ir_graph_clone(const IrGraph *src);
/* Appends a copy of node `n` of `from` to `to`, with operands remapped
   through map (map[old id] = new id). Returns the new id. */
IrRef ir_copy_node(IrGraph *to, const IrGraph *from, IrRef n, const IrRef *map);

/* ---- ir_verify.c ---------------------------------------------------------- */
/* Checks every invariant (topological operands, arity, shapes and dtypes
   recomputed by the shape rules, names, outputs in range, one LOSS of rank
   0). Reports the first problems into d; true when valid. */
bool ir_verify(const IrGraph *g, McDiag *d);

/* ---- ir_print.c / ir_parse.c / ir_dot.c ----------------------------------- */
void ir_print(McStr *out, const IrGraph *g);
void ir_print_file(FILE *f, const IrGraph *g);
/* Parses the text form back. `file` is the source id for diagnostics. */
IrGraph *ir_parse(const char *text, uint32_t file, McDiag *d);
void ir_print_dot(McStr *out, const IrGraph *g);

/* ---- ir_init.c ------------------------------------------------------------ */
/* Fills out[numel] with the param's initial values from seed, as
   torch.nn.init would (fan_in = shape[1] * receptive field, fan_out =
   shape[0] * receptive field). Deterministic per (seed, name). */
void ir_init_fill(const IrGraph *g, const IrNode *param, uint64_t seed, double *out);

/* ---- ir_eval.c: the reference evaluator -------------------------------------- */
/* A plain interpreter. Values are held as double; with `f64` false, every
   float result is rounded to f32 after each op (f32 semantics), with `f64`
   true every float tensor is computed in f64 whatever its declared dtype. */
typedef struct IrTensor {
  IrDtype dtype;
  int rank;
  int64_t dims[IR_MAX_RANK];
  int64_t numel;
  double *data;
} IrTensor;

typedef struct IrEval IrEval;
IrEval *ir_eval_new(const IrGraph *g, bool f64);
/* The bytes an evaluator of g holds (8 per element of every node; saturates). */
int64_t ir_eval_bytes(const IrGraph *g);
/* The scalar semantics of ir_scalar.def, in double: an ELEM op or a REDUCE
   combiner (SUM, MAX) on a, b, c (unused operands ignored). */
double ir_scalar(IrOp op, double a, double b, double c);
void ir_eval_free(IrEval *e);
/* The hash op: a and b as integers (truncated; 0 outside +-2^31), mixed
   (murmur3's finalizer over 32-bit words), the top 24 bits as a double.
   Codegen computes the same bits. */
double ir_hash24(double a, double b);
/* The max reduction's combiner: IEEE 754-2019 maximum (nan wins, +0 above
   -0), so the fold's order never shows in the result. */
double ir_fmaximum(double a, double b);
/* gelu'(a) = Phi(a) + a phi(a), the standard normal's cdf and density
   (0 at -inf, 1 at +inf). */
double ir_gelu_grad(double a);
/* Binds an input or param by name; n must equal its element count. */
bool ir_eval_bind(IrEval *e, const char *name, const double *data, int64_t n, McDiag *d);
/* Initializes every param not yet bound from its initializer. */
void ir_eval_init_params(IrEval *e, uint64_t seed);
/* Evaluates every node. False (with a diagnostic) on a missing binding or
   an index out of range. */
bool ir_eval_run(IrEval *e, McDiag *d);
const IrTensor *ir_eval_value(const IrEval *e, IrRef r);
const IrTensor *ir_eval_output(const IrEval *e, IrOutKind kind, const char *name);
/* The bound value of an input or param (for perturbing it in gradcheck). */
IrTensor *ir_eval_binding(IrEval *e, const char *name);

/* The largest valid value + 1 for an integer input, found from its uses
   (gather table rows, comparison against an iota); 0 if unknown. */
int64_t ir_int_input_bound(const IrGraph *g, IrRef input);

#endif
