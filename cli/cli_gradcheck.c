/* cli_gradcheck.c -- `modelc gradcheck`: compares the gradient program that
   autodiff builds with finite differences of the forward graph's loss, one
   seeded random unit direction per param tensor, everything in f64.

   The differences are taken on the forward graph with every non-smooth op
   held on the branch it takes at the checked point p: relu(x) ->
   where(x0 > 0, x, 0), abs(x) -> x * sign(x0), maximum/minimum ->
   where(a0 >= b0, a, b) (resp. <=), max -> the sum of x weighted by 1/k on
   the k maxima of x0, and every integer/bool or sign result -> its value at
   p (x0, a0, b0: the operands at p). Near p this is the same function wherever the forward graph is
   differentiable, and its derivative at p is what the gradient rules define
   at the kinks (relu'(0) = 0, ties to the first operand of maximum). So a
   step can be large enough that rounding does not matter, even though a
   relu net has kinks close to any point along a random direction. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The step along u is H_SCALE * max(1, |p|) (|p| the Euclidean norm). */
#define H_SCALE 1e-2
#define ERR_FLOOR 1e-12

typedef struct Target {
  const char *name;
  bool is_input;
  const IrNode *node; /* in the forward graph */
  double ad, fd, err;
  double typical; /* |gradient| / sqrt(n): the size of <gradient, u> for a random unit u */
} Target;

/* The value at p of a non-smooth node, bound as an input of the held graph. */
typedef struct Held {
  const char *name; /* held graph arena */
  double *data;     /* heap */
  int64_t n;
} Held;

typedef struct Gc {
  CliSession *s;
  const CliOpts *o;
  IrGraph *fwd;    /* what the front end built */
  IrGraph *grad;   /* the gradient program */
  IrGraph *held;   /* fwd with its branches held at p */
  IrRef held_loss; /* the loss in held */
  IrEval *eb;      /* fwd at p */
  IrEval *eg;      /* gradient program at p */
  IrEval *ep, *em; /* held at p + t u and at p - t u */
  McVec helds;     /* of Held */
  Target *targets;
  int ntargets;
  int nevals;    /* forward evaluations */
  bool progress; /* stderr is a terminal */
} Gc;

static uint64_t stream_of(const char *prefix, const char *name) {
  McStr b;
  mc_str_init(&b);
  mc_str_printf(&b, "%s:%s", prefix, name);
  uint64_t h = mc_hash_str(b.s);
  mc_str_free(&b);
  return h;
}

static const IrOutput *find_loss(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind == IR_OUT_LOSS) return &g->outs[i];
  return NULL;
}

static bool internal_error(Gc *gc, const char *what) {
  mc_error(&gc->s->diag, (McLoc){0}, "gradcheck: internal error: %s", what);
  return false;
}

/* Compiles the model and builds the gradient program from a clone. */
static bool build_graphs(Gc *gc) {
  gc->fwd = cli_compile_model(gc->s, gc->o);
  if (!gc->fwd || !ir_verify(gc->fwd, &gc->s->diag)) return false;
  if (!find_loss(gc->fwd)) {
    mc_error(&gc->s->diag, (McLoc){0},
             "gradcheck: model '%s' has no loss to differentiate (add `minimize EXPR`)",
             gc->fwd->name);
    return false;
  }
  gc->grad = ir_graph_clone(gc->fwd);
  const char *pipeline = gc->o->passes ? gc->o->passes : PASS_PIPELINE_GRAD;
  return cli_run_pipeline(gc->s, gc->o, &gc->grad, pipeline);
}

/* ---- the point p: inputs and params ----------------------------------------- */

/* Seeded values for an input: floats ~ N(0,1), i32 uniform in [0, bound),
   bool fair coins. False (reported) when an integer input has no known bound. */
static bool draw_input(Gc *gc, IrRef r, double *out, int64_t n) {
  const IrNode *node = ir_node(gc->fwd, r);
  uint64_t seed = gc->o->seed, stream = stream_of("input", node->name);
  if (ir_dtype_is_float((IrDtype)node->dtype)) {
    for (int64_t i = 0; i < n; i++) out[i] = mc_rng_normal(seed, stream, (uint64_t)i);
    return true;
  }
  if (node->dtype == IR_BOOL) {
    for (int64_t i = 0; i < n; i++) out[i] = mc_rng_uniform(seed, stream, (uint64_t)i) < 0.5;
    return true;
  }
  int64_t bound = ir_int_input_bound(gc->fwd, r);
  if (bound <= 0) {
    mc_error(&gc->s->diag, node->loc,
             "gradcheck: cannot draw values for integer input '%s': no bound found from its "
             "uses (a gather table or a comparison with an iota)",
             node->name);
    return false;
  }
  for (int64_t i = 0; i < n; i++)
    out[i] = floor(mc_rng_uniform(seed, stream, (uint64_t)i) * (double)bound);
  return true;
}

/* Binds name in the base evaluator and, when its graph has it, the gradient
   program's. */
static bool bind_base(Gc *gc, const char *name, bool in_grad, const double *v, int64_t n) {
  McDiag *d = &gc->s->diag;
  return ir_eval_bind(gc->eb, name, v, n, d) && (!in_grad || ir_eval_bind(gc->eg, name, v, n, d));
}

static bool bind_inputs(Gc *gc) {
  for (IrRef r = 0; r < gc->fwd->nnodes; r++) {
    const IrNode *node = ir_node(gc->fwd, r);
    if (node->op != IR_OP_INPUT) continue;
    int64_t n = ir_shape_numel(&node->shape);
    double *v = mc_xcalloc(n > 0 ? (size_t)n : 1, sizeof *v);
    bool ok = draw_input(gc, r, v, n) &&
              bind_base(gc, node->name, ir_find_input(gc->grad, node->name) != IR_NONE, v, n);
    free(v);
    if (!ok) return false;
  }
  return true;
}

/* Params come from their initializers in the base evaluator and are copied
   into the gradient program's, so both evaluate at the same point. */
static bool bind_params(Gc *gc) {
  ir_eval_init_params(gc->eb, gc->o->seed);
  for (IrRef r = 0; r < gc->fwd->nnodes; r++) {
    const IrNode *node = ir_node(gc->fwd, r);
    if (node->op != IR_OP_PARAM || ir_find_param(gc->grad, node->name) == IR_NONE) continue;
    const IrTensor *t = ir_eval_binding(gc->eb, node->name);
    if (!t) return internal_error(gc, "a param has no initial value");
    if (!ir_eval_bind(gc->eg, node->name, t->data, t->numel, &gc->s->diag)) return false;
  }
  return true;
}

/* ---- holding the branches ------------------------------------------------------ */

/* Flat index into `a` of the element broadcasting maps to element i of `out`
   (axes aligned to the right, size-1 axes of `a` repeated). */
static int64_t broadcast_index(const IrTensor *out, const IrTensor *a, int64_t i) {
  int64_t rem = i, idx = 0, stride = 1;
  for (int ko = out->rank - 1; ko >= 0; ko--) {
    int64_t c = rem % out->dims[ko];
    rem /= out->dims[ko];
    int k = ko - (out->rank - a->rank);
    if (k < 0) continue;
    if (a->dims[k] != 1) idx += c * stride;
    stride *= a->dims[k];
  }
  return idx;
}

/* Flat index into the result of reducing x over `axes` of element i of x. */
static int64_t reduced_index(const IrTensor *x, uint32_t axes, int64_t i) {
  int64_t rem = i, idx = 0, stride = 1;
  for (int k = x->rank - 1; k >= 0; k--) {
    int64_t c = rem % x->dims[k];
    rem /= x->dims[k];
    if (axes & (1u << k)) continue;
    idx += c * stride;
    stride *= x->dims[k];
  }
  return idx;
}

static const IrTensor *base_value(const Gc *gc, IrRef r) { return ir_eval_value(gc->eb, r); }

/* relu: x > 0; abs: sign(x) -- the derivative the rules use. */
static void slope_values(const Gc *gc, const IrNode *n, double *v) {
  const IrTensor *x = base_value(gc, n->src[0]);
  for (int64_t i = 0; i < x->numel; i++) {
    double a = x->data[i];
    v[i] = n->op == IR_OP_RELU ? (a > 0) : (double)((a > 0) - (a < 0));
  }
}

/* maximum/minimum: true where the result is the first operand. */
static void first_operand_values(const Gc *gc, IrRef r, double *v) {
  const IrTensor *out = base_value(gc, r), *a = base_value(gc, ir_node(gc->fwd, r)->src[0]);
  for (int64_t i = 0; i < out->numel; i++)
    v[i] = out->data[i] == a->data[broadcast_index(out, a, i)];
}

/* max reduce: 1/k on each of the k elements equal to the maximum. */
static void argmax_weights(const Gc *gc, IrRef r, double *v) {
  const IrNode *n = ir_node(gc->fwd, r);
  const IrTensor *out = base_value(gc, r), *x = base_value(gc, n->src[0]);
  double *ties = mc_xcalloc(out->numel > 0 ? (size_t)out->numel : 1, sizeof *ties);
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t o = reduced_index(x, n->attr.axes, i);
    v[i] = x->data[i] == out->data[o];
    ties[o] += v[i];
  }
  for (int64_t i = 0; i < x->numel; i++)
    if (v[i] != 0) v[i] /= ties[reduced_index(x, n->attr.axes, i)];
  free(ties);
}

/* A new input of the held graph, of the size of `like`, holding what node r
   did at p: its slope, branch or max weights, or (discrete ops) its value. */
static IrRef hold(Gc *gc, IrRef r, IrDtype dtype, const IrShape *shape, const IrTensor *like) {
  const IrNode *n = ir_node(gc->fwd, r);
  Held *h = mc_vec_push(&gc->helds);
  h->name = mc_arena_printf(&gc->held->arena, "%%held.%u", (unsigned)r);
  h->n = like->numel;
  h->data = mc_xcalloc(h->n > 0 ? (size_t)h->n : 1, sizeof *h->data);
  switch ((IrOp)n->op) {
  case IR_OP_RELU:
  case IR_OP_ABS: slope_values(gc, n, h->data); break;
  case IR_OP_MAXIMUM:
  case IR_OP_MINIMUM: first_operand_values(gc, r, h->data); break;
  case IR_OP_MAX: argmax_weights(gc, r, h->data); break;
  default: memcpy(h->data, like->data, (size_t)h->n * sizeof *h->data); break;
  }
  return ir_input(gc->held, h->name, dtype, shape, n->loc);
}

/* Node r of fwd in the held graph: a branch-free replacement or a copy. */
static IrRef held_node(Gc *gc, IrRef r, const IrRef *map) {
  const IrNode *n = ir_node(gc->fwd, r);
  IrGraph *g = gc->held;
  const IrNode *x = n->nsrc ? ir_node(gc->fwd, n->src[0]) : NULL;
  switch ((IrOp)n->op) {
  case IR_OP_RELU:
    return ir_where(g, hold(gc, r, IR_BOOL, &n->shape, base_value(gc, r)), map[n->src[0]],
                    ir_const(g, 0, (IrDtype)n->dtype, n->loc), n->loc);
  case IR_OP_ABS:
    return ir_binary(g, IR_OP_MUL, map[n->src[0]],
                     hold(gc, r, (IrDtype)n->dtype, &n->shape, base_value(gc, r)), n->loc);
  case IR_OP_MAXIMUM:
  case IR_OP_MINIMUM:
    return ir_where(g, hold(gc, r, IR_BOOL, &n->shape, base_value(gc, r)), map[n->src[0]],
                    map[n->src[1]], n->loc);
  case IR_OP_MAX: {
    /* where() keeps -inf elements (masked scores) out of the products */
    IrRef w = hold(gc, r, (IrDtype)x->dtype, &x->shape, base_value(gc, n->src[0]));
    IrRef zero = ir_const(g, 0, (IrDtype)x->dtype, n->loc);
    IrRef is_max = ir_binary(g, IR_OP_GT, w, zero, n->loc);
    IrRef weighted = ir_binary(g, IR_OP_MUL, map[n->src[0]], w, n->loc);
    IrRef kept = ir_where(g, is_max, weighted, zero, n->loc);
    return ir_reduce(g, IR_OP_SUM, kept, n->attr.axes, n->attr.keepdims, n->loc);
  }
  default: break;
  }
  bool discrete = !ir_dtype_is_float((IrDtype)n->dtype) || n->op == IR_OP_SIGN;
  if (discrete && ir_ops[n->op].cls != IR_CLASS_SOURCE)
    return hold(gc, r, (IrDtype)n->dtype, &n->shape, base_value(gc, r));
  return ir_copy_node(g, gc->fwd, r, map);
}

/* The evaluator kept the values of node r and its operands at p. */
static bool has_base_values(const Gc *gc, IrRef r) {
  const IrNode *n = ir_node(gc->fwd, r);
  for (int k = 0; k < n->nsrc; k++)
    if (!base_value(gc, n->src[k])) return false;
  return base_value(gc, r) != NULL;
}

/* Builds gc->held from fwd and the base evaluation. */
static bool build_held_graph(Gc *gc) {
  const IrGraph *f = gc->fwd;
  gc->held = ir_graph_new(f->name, &gc->s->diag);
  for (uint32_t i = 0; i < f->nsyms; i++)
    if (ir_graph_add_sym(gc->held, f->syms[i].name, f->syms[i].value) != (int)i)
      return internal_error(gc, "cannot copy the model dims");
  IrRef *map = mc_xcalloc(f->nnodes + 1, sizeof *map);
  bool ok = true;
  for (IrRef r = 0; r < f->nnodes && ok; r++) {
    map[r] = has_base_values(gc, r) ? held_node(gc, r, map) : IR_NONE;
    ok = map[r] != IR_NONE;
  }
  if (ok) {
    const IrOutput *loss = find_loss(f);
    gc->held_loss = map[loss->ref];
    ir_add_output(gc->held, IR_OUT_LOSS, loss->name, gc->held_loss);
  }
  free(map);
  if (!ok || !ir_verify(gc->held, &gc->s->diag))
    return internal_error(gc, "cannot build the forward graph with its branches held");
  return true;
}

/* Binds inputs, params (copied from the base point) and held values into
   the two evaluators of the held graph. */
static bool bind_held(Gc *gc) {
  McDiag *d = &gc->s->diag;
  for (IrRef r = 0; r < gc->fwd->nnodes; r++) {
    const IrNode *node = ir_node(gc->fwd, r);
    if (node->op != IR_OP_INPUT && node->op != IR_OP_PARAM) continue;
    const IrTensor *t = ir_eval_binding(gc->eb, node->name);
    if (!t) return internal_error(gc, "an input or param has no value");
    if (!ir_eval_bind(gc->ep, node->name, t->data, t->numel, d) ||
        !ir_eval_bind(gc->em, node->name, t->data, t->numel, d))
      return false;
  }
  for (size_t i = 0; i < gc->helds.len; i++) {
    const Held *h = &MC_VEC_AT(&gc->helds, Held, i);
    if (!ir_eval_bind(gc->ep, h->name, h->data, h->n, d) ||
        !ir_eval_bind(gc->em, h->name, h->data, h->n, d))
      return false;
  }
  return true;
}

/* ---- finite differences ----------------------------------------------------------- */

/* Params in graph order, then float inputs when --inputs. */
static void collect_targets(Gc *gc) {
  gc->targets = mc_xcalloc(gc->fwd->nnodes + 1, sizeof *gc->targets);
  for (int pass = 0; pass < 2; pass++)
    for (IrRef r = 0; r < gc->fwd->nnodes; r++) {
      const IrNode *node = ir_node(gc->fwd, r);
      bool is_param = node->op == IR_OP_PARAM && !node->attr.frozen;
      bool is_input = node->op == IR_OP_INPUT && ir_dtype_is_float((IrDtype)node->dtype);
      if (pass == 0 ? !is_param : !(is_input && gc->o->grad_inputs)) continue;
      gc->targets[gc->ntargets++] =
          (Target){.name = node->name, .is_input = is_input, .node = node};
    }
}

static void move_to(IrTensor *t, const double *p0, const double *u, double step) {
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = p0[i] + step * u[i];
}

static bool loss_at(Gc *gc, IrEval *e, double *loss) {
  if (!ir_eval_run(e, &gc->s->diag)) return false;
  gc->nevals++;
  const IrTensor *t = ir_eval_value(e, gc->held_loss);
  if (!t || t->numel != 1) return internal_error(gc, "the loss has no scalar value");
  *loss = t->data[0];
  return true;
}

/* D(h) = (L(p + h u) - L(p - h u)) / 2h on the held graph. */
static bool central_difference(Gc *gc, const Target *t, const double *p0, const double *u, double h,
                               double *d) {
  IrTensor *pp = ir_eval_binding(gc->ep, t->name), *pm = ir_eval_binding(gc->em, t->name);
  double lp, lm;
  move_to(pp, p0, u, h);
  move_to(pm, p0, u, -h);
  if (!loss_at(gc, gc->ep, &lp) || !loss_at(gc, gc->em, &lm)) return false;
  *d = (lp - lm) / (2 * h);
  return true;
}

static double norm_of(const double *v, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

/* A seeded random direction of length 1 (all zeros for an empty tensor). */
static void draw_direction(const Gc *gc, const Target *t, double *u, int64_t n) {
  uint64_t stream = stream_of("direction", t->name);
  for (int64_t i = 0; i < n; i++) u[i] = mc_rng_normal(gc->o->seed, stream, (uint64_t)i);
  double len = norm_of(u, n);
  for (int64_t i = 0; i < n && len > 0; i++) u[i] /= len;
}

static bool directional_gradient(Gc *gc, Target *t, const double *u, int64_t n) {
  const IrTensor *g = ir_eval_output(gc->eg, IR_OUT_GRAD, t->name);
  if (!g || g->numel != n) {
    mc_error(&gc->s->diag, (McLoc){0},
             "gradcheck: the gradient program has no gradient for '%s' (does the pipeline run "
             "autodiff?)",
             t->name);
    return false;
  }
  t->ad = 0;
  for (int64_t i = 0; i < n; i++) t->ad += g->data[i] * u[i];
  t->typical = n > 0 ? norm_of(g->data, n) / sqrt((double)n) : 0;
  return true;
}

/* Richardson extrapolation (4 D(h/2) - D(h)) / 3 cancels the h^2 term of
   the central difference; four evaluations per tensor. */
static bool check_target(Gc *gc, Target *t) {
  IrTensor *pp = ir_eval_binding(gc->ep, t->name), *pm = ir_eval_binding(gc->em, t->name);
  if (!pp || !pm) return internal_error(gc, "a checked tensor is not bound");
  int64_t n = pp->numel;
  double *p0 = mc_xcalloc(n > 0 ? (size_t)n : 1, sizeof *p0);
  double *u = mc_xcalloc(n > 0 ? (size_t)n : 1, sizeof *u);
  memcpy(p0, pp->data, (size_t)n * sizeof *p0);
  draw_direction(gc, t, u, n);
  double h = H_SCALE * fmax(1.0, norm_of(p0, n)), d1, d2;
  bool ok = directional_gradient(gc, t, u, n) && central_difference(gc, t, p0, u, h, &d1) &&
            central_difference(gc, t, p0, u, h / 2, &d2);
  move_to(pp, p0, u, 0);
  move_to(pm, p0, u, 0);
  if (ok) {
    t->fd = (4 * d2 - d1) / 3;
    /* relative to the larger of the two, or to what a random direction
       typically gives when u happens to be nearly orthogonal to the
       gradient (both then tiny, and the differences' own error dominates) */
    double scale = fmax(fmax(fabs(t->fd), fabs(t->ad)), t->typical);
    t->err = fabs(t->fd - t->ad) / fmax(scale, ERR_FLOOR);
    if (isnan(t->err)) t->err = INFINITY; /* a NaN or inf anywhere fails */
  }
  free(p0);
  free(u);
  return ok;
}

/* ---- driver ------------------------------------------------------------------------- */

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void show_progress(const Gc *gc, int i) {
  if (!gc->progress) return;
  if (i < gc->ntargets)
    fprintf(stderr, "\rgradcheck: [%d/%d] %-50.50s", i + 1, gc->ntargets, gc->targets[i].name);
  else
    fprintf(stderr, "\r%78s\r", "");
  fflush(stderr);
}

static bool check_all(Gc *gc) {
  bool ok = true;
  for (int i = 0; i < gc->ntargets && ok; i++) {
    show_progress(gc, i);
    ok = check_target(gc, &gc->targets[i]);
  }
  show_progress(gc, gc->ntargets);
  return ok;
}

static const char *shape_of(const Gc *gc, const Target *t) {
  return ir_type_str(gc->fwd, (IrDtype)t->node->dtype, &t->node->shape);
}

/* The table, the worst error and the verdict; true when it passes. */
static bool report(const Gc *gc) {
  int wname = 5, wshape = 5;
  for (int i = 0; i < gc->ntargets; i++) {
    int a = (int)strlen(gc->targets[i].name), b = (int)strlen(shape_of(gc, &gc->targets[i]));
    if (a > wname) wname = a;
    if (b > wshape) wshape = b;
  }
  printf("gradcheck %s: %d tensors, seed %llu, f64, tol %g\n", gc->fwd->name, gc->ntargets,
         (unsigned long long)gc->o->seed, gc->o->tol);
  printf("%-*s  %-*s  %16s  %16s  %9s\n", wname, "param", wshape, "shape", "<grad,u>",
         "finite diff", "rel error");
  const Target *worst = NULL;
  for (int i = 0; i < gc->ntargets; i++) {
    const Target *t = &gc->targets[i];
    printf("%-*s  %-*s  %16.9e  %16.9e  %9.2e%s\n", wname, t->name, wshape, shape_of(gc, t), t->ad,
           t->fd, t->err, t->is_input ? "  (input)" : "");
    if (!worst || t->err > worst->err) worst = t;
  }
  if (worst)
    printf("worst relative error: %.2e (%s %s)\n", worst->err, worst->is_input ? "input" : "param",
           worst->name);
  else
    printf("worst relative error: 0 (no params)\n");
  bool pass = !worst || worst->err < gc->o->tol;
  printf("gradcheck: %s\n", pass ? "PASS" : "FAIL");
  return pass;
}

/* Evaluates fwd and the gradient program at p, then builds and binds the
   held graph. */
static bool prepare(Gc *gc) {
  /* the forward and gradient evaluators, and two of the held graph (about the forward) */
  int64_t fwd = ir_eval_bytes(gc->fwd), grad = ir_eval_bytes(gc->grad), need;
  if (fwd == INT64_MAX || grad == INT64_MAX ||
      __builtin_add_overflow(3 * fwd, grad, &need))
    need = INT64_MAX;
  if (need > mc_memory_limit()) {
    char n[32], l[32];
    mc_format_bytes(n, sizeof n, need);
    mc_format_bytes(l, sizeof l, mc_memory_limit());
    mc_error(&gc->s->diag, (McLoc){0}, "gradcheck: evaluating the model in f64 needs %s%s; "
             "this process may use %s: use smaller dims (-D)",
             need == INT64_MAX ? "more than " : "about ", need == INT64_MAX ? "32 GiB a tensor" : n,
             l);
    return false;
  }
  gc->eb = ir_eval_new(gc->fwd, true);
  gc->eg = ir_eval_new(gc->grad, true);
  if (!gc->eb || !gc->eg) return internal_error(gc, "cannot create an evaluator");
  if (!bind_inputs(gc) || !bind_params(gc) || !ir_eval_run(gc->eb, &gc->s->diag) ||
      !ir_eval_run(gc->eg, &gc->s->diag) || !build_held_graph(gc))
    return false;
  gc->nevals++;
  gc->ep = ir_eval_new(gc->held, true);
  gc->em = ir_eval_new(gc->held, true);
  if (!gc->ep || !gc->em) return internal_error(gc, "cannot create an evaluator");
  return bind_held(gc);
}

static void free_gc(Gc *gc) {
  IrEval *evals[] = {gc->eb, gc->eg, gc->ep, gc->em};
  for (size_t i = 0; i < MC_COUNTOF(evals); i++)
    if (evals[i]) ir_eval_free(evals[i]);
  IrGraph *graphs[] = {gc->held, gc->grad, gc->fwd};
  for (size_t i = 0; i < MC_COUNTOF(graphs); i++)
    if (graphs[i]) ir_graph_free(graphs[i]);
  for (size_t i = 0; i < gc->helds.len; i++) free(MC_VEC_AT(&gc->helds, Held, i).data);
  mc_vec_free(&gc->helds);
  free(gc->targets);
}

int cli_gradcheck(CliOpts *o) {
  CliSession s;
  cli_session_init(&s);
  Gc gc = {.s = &s, .o = o, .progress = isatty(fileno(stderr))};
  mc_vec_init(&gc.helds, sizeof(Held));
  double start = seconds_now();
  int rc = CLI_FAIL;
  if (build_graphs(&gc) && prepare(&gc)) {
    collect_targets(&gc);
    if (check_all(&gc)) {
      rc = report(&gc) ? CLI_OK : CLI_FAIL;
      if (gc.progress)
        fprintf(stderr, "gradcheck: %d forward evaluations in %.1f s\n", gc.nevals,
                seconds_now() - start);
    }
  }
  free_gc(&gc);
  cli_session_fini(&s);
  return rc;
}
