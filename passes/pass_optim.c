/* pass_optim.c -- the optimizer update as IR. Turns the gradient program (a
   GRAD output per param, from autodiff) into the training-step program: the
   same nodes, then, per param P, its optimizer state as zero-initialized
   PARAM nodes ("P.momentum_buffer" for SGD, "P.exp_avg" and "P.exp_avg_sq"
   for Adam and AdamW: torch.optim's state names) and UPDATE outputs giving
   the new value of P and of each state tensor. The GRAD outputs are dropped
   (gradients become temporaries the update consumes); the other outputs and
   the loss stay, so the step returns the loss.

   Hyperparameters are rank-0 f32 INPUT nodes, so changing them never
   rebuilds the graph: SGD reads opt.lr, opt.momentum, opt.weight_decay;
   Adam reads opt.weight_decay, opt.beta1, opt.beta2, opt.eps and values the
   host computes in double as PyTorch does (pass_optim_input_value):
   opt.step_size = lr / (1 - beta1^t), opt.bias_correction2_sqrt =
   sqrt(1 - beta2^t), opt.one_minus_beta1 and opt.one_minus_beta2 (1 - beta2
   computed in f32 from a rounded 0.999 would be off by 1e-5 relative).
   AdamW also reads opt.lr; clipping adds opt.max_norm. The kind, Nesterov
   and clipping are structural (PassOptim). Weight decay and momentum are
   always built: with 0 they change nothing. Scalars are cast to a param's
   dtype when it is not f32.

   The formulas are torch.optim's single-tensor ones (foreach=False, torch
   1.13), in the same operation order, so f32 results track PyTorch's:
     SGD:   g += wd*p; buf = buf*momentum + g (PyTorch's first step sets
            buf = g, the same when buf starts at 0); g = nesterov ? g +
            momentum*buf : buf; p -= lr*g
     Adam:  g += wd*p; m = m*beta1 + g*(1-beta1);
            v = v*beta2 + ((1-beta2)*g)*g                    (addcmul_)
            denom = sqrt(v) / bias_correction2_sqrt + eps;
            p -= (step_size*m) / denom                      (addcdiv_)
     AdamW: p *= 1 - lr*wd first, then Adam without the wd term.
   Clipping (torch.nn.utils.clip_grad_norm_) runs first: total_norm is the
   2-norm of the per-grad 2-norms, coef = (1 / (total_norm + 1e-6)) *
   max_norm (Python's max_norm / tensor is reciprocal-then-multiply), clamped
   to at most 1, and every grad is multiplied by it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"
#include "rt.h"

/* Scalars of the update: first the run-time inputs (in the order they are
   created), then AdamW's decay factor 1 - lr*wd, derived in the graph. */
typedef enum {
  S_LR, S_MOMENTUM, S_WEIGHT_DECAY, S_BETA1, S_BETA2, S_EPS, S_STEP_SIZE, S_BC2_SQRT,
  S_ONE_MINUS_BETA1, S_ONE_MINUS_BETA2, S_MAX_NORM,   /* the last input */
  S_DECAY, S_COUNT
} Scalar;
#define NINPUTS (S_MAX_NORM + 1)

/* The inputs' names are the runtime's, which binds them (rt_optim.c). */
static const char *input_name(Scalar s) {
  _Static_assert(S_LR == (int)RT_OPTIM_IN_LR && S_STEP_SIZE == (int)RT_OPTIM_IN_STEP_SIZE &&
                     S_MAX_NORM == (int)RT_OPTIM_IN_MAX_NORM && NINPUTS == (int)RT_OPTIM_IN_COUNT,
                 "pass_optim's inputs are rt_optim's");
  return rt_optim_input_name((int)s);
}

typedef struct Opt {
  IrGraph *g;
  PassOptim cfg;
  IrRef f32[S_COUNT];                   /* the scalars (IR_NONE = unused) */
  IrRef cast[S_COUNT][IR_DTYPE_COUNT];  /* the same cast to another float dtype */
} Opt;

static const McLoc noloc = {0};

static bool is_adam(PassOptimKind k) { return k == PASS_OPTIM_ADAM || k == PASS_OPTIM_ADAMW; }

/* Does the step graph of cfg read input s? */
static bool reads_input(const PassOptim *cfg, Scalar s) {
  switch (s) {
  case S_LR: return cfg->kind != PASS_OPTIM_ADAM;
  case S_MOMENTUM: return cfg->kind == PASS_OPTIM_SGD;
  case S_WEIGHT_DECAY: return true;
  case S_BETA1:
  case S_BETA2:
  case S_EPS:
  case S_STEP_SIZE:
  case S_BC2_SQRT:
  case S_ONE_MINUS_BETA1:
  case S_ONE_MINUS_BETA2: return is_adam(cfg->kind);
  case S_MAX_NORM: return cfg->clip_grad_norm;
  case S_DECAY:
  case S_COUNT: return false;
  }
  return false;
}

/* ---- names and host-side values ------------------------------------------ */

const char *pass_optim_kind_name(PassOptimKind k) { return rt_optim_kind_name((int)k); }

bool pass_optim_kind_from_name(const char *s, PassOptimKind *k) {
  for (int i = 0; i < PASS_OPTIM_COUNT; i++)
    if (strcmp(s, rt_optim_kind_name(i)) == 0) {
      *k = (PassOptimKind)i;
      return true;
    }
  return false;
}

PassOptimHyper pass_optim_defaults(PassOptimKind k) {
  _Static_assert(PASS_OPTIM_SGD == (int)RT_OPTIM_SGD && PASS_OPTIM_ADAM == (int)RT_OPTIM_ADAM &&
                     PASS_OPTIM_ADAMW == (int)RT_OPTIM_ADAMW &&
                     PASS_OPTIM_COUNT == (int)RT_OPTIM_COUNT,
                 "PassOptimKind and RtOptimKind list the optimizers in the same order");
  RtOptimHyper r = rt_optim_defaults((int)k);
  return (PassOptimHyper){.lr = r.lr, .momentum = r.momentum, .weight_decay = r.weight_decay,
                          .beta1 = r.beta1, .beta2 = r.beta2, .eps = r.eps,
                          .max_norm = r.max_norm};
}

bool pass_optim_input_value(const PassOptimHyper *h, int64_t step, const char *name,
                            double *out) {
  RtOptimHyper r = {.lr = h->lr, .momentum = h->momentum, .weight_decay = h->weight_decay,
                    .beta1 = h->beta1, .beta2 = h->beta2, .eps = h->eps,
                    .max_norm = h->max_norm};
  return rt_optim_input_value(&r, step, name, out);
}

/* ---- building the update -------------------------------------------------- */

static IrRef add(Opt *o, IrRef a, IrRef b) { return ir_binary(o->g, IR_OP_ADD, a, b, noloc); }
static IrRef sub(Opt *o, IrRef a, IrRef b) { return ir_binary(o->g, IR_OP_SUB, a, b, noloc); }
static IrRef mul(Opt *o, IrRef a, IrRef b) { return ir_binary(o->g, IR_OP_MUL, a, b, noloc); }
static IrRef divide(Opt *o, IrRef a, IrRef b) { return ir_binary(o->g, IR_OP_DIV, a, b, noloc); }
static IrRef f32_const(Opt *o, double v) { return ir_const(o->g, v, IR_F32, noloc); }

/* Scalar s in dtype t (a float dtype): the f32 node, or a cast made once. */
static IrRef scalar(Opt *o, Scalar s, IrDtype t) {
  if (t == IR_F32 || o->f32[s] == IR_NONE) return o->f32[s];
  if (o->cast[s][t] == IR_NONE) o->cast[s][t] = ir_cast(o->g, o->f32[s], t, noloc);
  return o->cast[s][t];
}

/* The inputs cfg reads, then AdamW's 1 - lr*wd. */
static void build_scalars(Opt *o) {
  IrShape rank0 = {0};
  for (int s = 0; s < S_COUNT; s++) {
    o->f32[s] = IR_NONE;
    for (int t = 0; t < IR_DTYPE_COUNT; t++) o->cast[s][t] = IR_NONE;
  }
  for (int s = 0; s < NINPUTS; s++)
    if (reads_input(&o->cfg, (Scalar)s))
      o->f32[s] = ir_input(o->g, input_name((Scalar)s), IR_F32, &rank0, noloc);
  if (o->cfg.kind == PASS_OPTIM_ADAMW)
    o->f32[S_DECAY] = sub(o, f32_const(o, 1.0), mul(o, o->f32[S_LR], o->f32[S_WEIGHT_DECAY]));
}

/* sqrt(sum(g*g)) as f32[1], ready to be stacked. */
static IrRef grad_norm(Opt *o, IrRef g) {
  IrNode n = *ir_node(o->g, g);
  IrRef sq = mul(o, g, g);
  uint32_t all_axes = (1u << n.shape.rank) - 1;
  if (n.shape.rank > 0) sq = ir_reduce(o->g, IR_OP_SUM, sq, all_axes, false, noloc);
  IrRef norm = ir_unary(o->g, IR_OP_SQRT, sq, noloc);
  if (n.dtype != IR_F32) norm = ir_cast(o->g, norm, IR_F32, noloc);
  IrShape one = {.rank = 1, .d = {ir_dim_const(1)}};
  return ir_reshape(o->g, norm, &one, noloc);
}

/* clip_grad_norm_: scales every grads[i] by min(max_norm / (total + 1e-6), 1). */
static void clip_grads(Opt *o, IrRef *grads, uint32_t n) {
  if (n == 0) return;
  IrRef *norms = mc_xmalloc(n * sizeof *norms);
  for (uint32_t i = 0; i < n; i++) norms[i] = grad_norm(o, grads[i]);
  IrRef stacked = ir_concat(o->g, norms, (int)n, 0, noloc);
  free(norms);
  IrRef squares = ir_reduce(o->g, IR_OP_SUM, mul(o, stacked, stacked), 1u, false, noloc);
  IrRef total = ir_unary(o->g, IR_OP_SQRT, squares, noloc);
  IrRef inv = divide(o, f32_const(o, 1.0), add(o, total, f32_const(o, 1e-6)));
  IrRef coef = ir_binary(o->g, IR_OP_MINIMUM, mul(o, inv, o->f32[S_MAX_NORM]), f32_const(o, 1.0),
                         noloc);
  for (uint32_t i = 0; i < n; i++) {
    IrDtype t = (IrDtype)ir_node(o->g, grads[i])->dtype;
    IrRef c = t == IR_F32 ? coef : ir_cast(o->g, coef, t, noloc);
    grads[i] = mul(o, grads[i], c);
  }
}

/* A zero-initialized state tensor shaped like `param`, named "P.suffix". */
static IrRef state(Opt *o, IrRef param, const char *suffix) {
  IrNode p = *ir_node(o->g, param);
  const char *name = mc_arena_printf(&o->g->arena, "%s.%s", p.name, suffix);
  return ir_param(o->g, name, (IrDtype)p.dtype, &p.shape, (IrInit){.kind = IR_INIT_ZEROS}, p.loc);
}

static void update(Opt *o, IrRef target, IrRef value) {
  ir_add_output(o->g, IR_OUT_UPDATE, ir_node(o->g, target)->name, value);
}

static void sgd_step(Opt *o, IrRef p, IrRef g) {
  IrDtype t = (IrDtype)ir_node(o->g, p)->dtype;
  IrRef momentum = scalar(o, S_MOMENTUM, t);
  g = add(o, g, mul(o, p, scalar(o, S_WEIGHT_DECAY, t)));
  IrRef buf = state(o, p, "momentum_buffer");
  IrRef new_buf = add(o, mul(o, buf, momentum), g);
  IrRef dir = o->cfg.nesterov ? add(o, g, mul(o, new_buf, momentum)) : new_buf;
  update(o, p, sub(o, p, mul(o, dir, scalar(o, S_LR, t))));
  update(o, buf, new_buf);
}

static void adam_step(Opt *o, IrRef p, IrRef g) {
  IrDtype t = (IrDtype)ir_node(o->g, p)->dtype;
  IrRef decayed = p;
  if (o->cfg.kind == PASS_OPTIM_ADAMW) decayed = mul(o, p, scalar(o, S_DECAY, t));
  else g = add(o, g, mul(o, p, scalar(o, S_WEIGHT_DECAY, t)));
  IrRef m = state(o, p, "exp_avg"), v = state(o, p, "exp_avg_sq");
  /* exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1) */
  IrRef m_decayed = mul(o, m, scalar(o, S_BETA1, t));
  IrRef new_m = add(o, m_decayed, mul(o, g, scalar(o, S_ONE_MINUS_BETA1, t)));
  /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2) */
  IrRef g_scaled = mul(o, scalar(o, S_ONE_MINUS_BETA2, t), g);
  IrRef new_v = add(o, mul(o, v, scalar(o, S_BETA2, t)), mul(o, g_scaled, g));
  /* denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps) */
  IrRef root = divide(o, ir_unary(o->g, IR_OP_SQRT, new_v, noloc), scalar(o, S_BC2_SQRT, t));
  IrRef denom = add(o, root, scalar(o, S_EPS, t));
  /* param.addcdiv_(exp_avg, denom, value=-step_size) */
  IrRef step = divide(o, mul(o, scalar(o, S_STEP_SIZE, t), new_m), denom);
  update(o, p, sub(o, decayed, step));
  update(o, m, new_m);
  update(o, v, new_v);
}

/* ---- checks and the pass ------------------------------------------------------ */

static bool name_taken(const IrGraph *g, const char *name) {
  return ir_find_param(g, name) != IR_NONE || ir_find_input(g, name) != IR_NONE;
}

static bool check_name_free(const IrGraph *g, const char *name, McDiag *d) {
  if (!name_taken(g, name)) return true;
  mc_error(d, (McLoc){0}, "optim: the name \"%s\" is already used by the model", name);
  return false;
}

/* The gradient program has a grad per param, no updates, and none of the
   names the pass adds. Fills grads[] (one per param, in id order). */
static bool check_input(const IrGraph *g, const PassOptim *cfg, IrRef *grads, McDiag *d) {
  for (uint32_t i = 0; i < g->nouts; i++) {
    IrRef p = g->outs[i].kind == IR_OUT_UPDATE ? ir_find_param(g, g->outs[i].name) : IR_NONE;
    if (g->outs[i].kind == IR_OUT_UPDATE && (p == IR_NONE || !ir_node(g, p)->attr.frozen)) {
      mc_error(d, (McLoc){0}, "optim: the graph already updates trained param \"%s\"",
               g->outs[i].name);
      return false;
    }
  }
  bool ok = true;
  for (int s = 0; s < NINPUTS; s++)
    if (reads_input(cfg, (Scalar)s)) ok = check_name_free(g, input_name((Scalar)s), d) && ok;
  static const char *const suffixes[2][2] = {{"momentum_buffer", NULL}, {"exp_avg", "exp_avg_sq"}};
  uint32_t n = 0;
  McStr name;
  mc_str_init(&name);
  for (IrRef id = 0; id < g->nnodes; id++) {
    const IrNode *p = ir_node(g, id);
    if (p->op != IR_OP_PARAM || p->attr.frozen) continue;
    const IrOutput *grad = ir_find_output(g, IR_OUT_GRAD, p->name);
    if (!grad || grad->ref >= g->nnodes) {
      mc_error(d, p->loc, "optim: param \"%s\" has no gradient (run autodiff first)", p->name);
      ok = false;
      continue;
    }
    const IrNode *dp = ir_node(g, grad->ref);
    if (dp->dtype != p->dtype || !ir_shape_equal(&dp->shape, &p->shape)) {
      mc_error(d, p->loc, "optim: grad \"%s\" does not have its param's type", p->name);
      ok = false;
      continue;
    }
    grads[n++] = grad->ref;
    for (int k = 0; k < 2; k++) {
      const char *suffix = suffixes[is_adam(cfg->kind)][k];
      if (!suffix) continue;
      name.len = 0;
      mc_str_printf(&name, "%s.%s", p->name, suffix);
      ok = check_name_free(g, name.s, d) && ok;
    }
  }
  mc_str_free(&name);
  return ok;
}

static bool is_trained(const IrNode *n) { return n->op == IR_OP_PARAM && !n->attr.frozen; }

/* Drops every GRAD output, keeping the others in order. */
static void drop_grad_outputs(IrGraph *g) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind != IR_OUT_GRAD) g->outs[kept++] = g->outs[i];
  g->nouts = kept;
}

static bool all_built(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].ref == IR_NONE) return false;
  return true;
}

bool pass_optim(IrGraph **pg, PassCtx *cx) {
  const IrGraph *in = *pg;
  Opt o = {.cfg = cx->optim ? *cx->optim : (PassOptim){.kind = PASS_OPTIM_SGD}};
  if ((unsigned)o.cfg.kind >= PASS_OPTIM_COUNT) {
    mc_error(cx->diag, (McLoc){0}, "optim: unknown optimizer kind %d", (int)o.cfg.kind);
    return false;
  }
  IrRef *grads = mc_xmalloc((in->nnodes ? in->nnodes : 1) * sizeof *grads);
  if (!check_input(in, &o.cfg, grads, cx->diag)) {
    free(grads);
    return false;
  }
  o.g = ir_graph_clone(in);
  McDiag *graph_diag = o.g->diag;
  o.g->diag = cx->diag;
  uint32_t nforward = o.g->nnodes, nparams = 0;
  int errors_before = cx->diag->nerrors;
  build_scalars(&o);
  for (IrRef id = 0; id < nforward; id++) nparams += is_trained(ir_node(o.g, id));
  if (o.cfg.clip_grad_norm) clip_grads(&o, grads, nparams);
  drop_grad_outputs(o.g);
  for (IrRef id = 0, i = 0; id < nforward; id++) {
    if (!is_trained(ir_node(o.g, id))) continue;
    if (is_adam(o.cfg.kind)) adam_step(&o, id, grads[i++]);
    else sgd_step(&o, id, grads[i++]);
  }
  free(grads);
  o.g->diag = graph_diag;
  bool ok = all_built(o.g) && cx->diag->nerrors == errors_before;
  if (!ok) {
    if (cx->diag->nerrors == errors_before)
      mc_error(cx->diag, (McLoc){0}, "optim: cannot build the update");
    ir_graph_free(o.g);
    return false;
  }
  ir_graph_free(*pg);
  *pg = o.g;
  return true;
}
