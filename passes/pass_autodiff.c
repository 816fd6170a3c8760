/* pass_autodiff.c -- reverse-mode differentiation of the graph's LOSS output.
   It first finds the nodes on a path from a param (or, with grad_inputs, a
   float input) to the loss, then walks them in reverse id order calling each
   op's grad rule (ir_grad.c), summing every contribution back to its
   operand's shape (ir_sum_to) and accumulating fan-out with add. The result
   is the gradient program: the forward graph, its outputs and loss, and one
   GRAD output per float param (param order; zeros when the loss does not
   depend on it), then per float input when grad_inputs is set. */
#include <stdlib.h>

#include "pass.h"

typedef struct Ad {
  IrGraph *g;
  McDiag *diag;
  bool *wants;   /* [forward nodes] on a path from a differentiated source to the loss */
  IrRef *adj;    /* [forward nodes] accumulated gradient (IR_NONE = none yet) */
} Ad;

static bool is_float(const IrNode *n) { return ir_dtype_is_float((IrDtype)n->dtype); }

/* Frozen params (buffers, params held fixed) are constants to autodiff. */
static bool is_diff_source(const IrNode *n, bool grad_inputs) {
  if (!is_float(n) || (n->op == IR_OP_PARAM && n->attr.frozen)) return false;
  return n->op == IR_OP_PARAM || (grad_inputs && n->op == IR_OP_INPUT);
}

/* wants[i]: node i depends on a differentiated source through float,
   differentiable nodes, and the loss depends on node i. */
static bool *needs_gradient(const IrGraph *g, IrRef loss, bool grad_inputs) {
  uint32_t n = loss + 1;
  bool *from_src = mc_xcalloc(n, sizeof *from_src);
  bool *to_loss = mc_xcalloc(n, sizeof *to_loss);
  for (uint32_t id = 0; id < n; id++) {
    const IrNode *x = ir_node(g, id);
    if (is_diff_source(x, grad_inputs)) from_src[id] = true;
    if (!is_float(x) || (ir_ops[x->op].flags & IR_F_NOGRAD)) continue;
    for (int k = 0; k < x->nsrc; k++) from_src[id] |= from_src[x->src[k]];
  }
  to_loss[loss] = true;
  for (uint32_t id = n; id-- > 0;) {
    if (!to_loss[id]) continue;
    const IrNode *x = ir_node(g, id);
    for (int k = 0; k < x->nsrc; k++) to_loss[x->src[k]] = true;
  }
  for (uint32_t id = 0; id < n; id++) from_src[id] = from_src[id] && to_loss[id];
  free(to_loss);
  return from_src;
}

/* Adds gradient contribution d (already in x's shape) into adj[x]. */
static bool accumulate(Ad *ad, IrRef x, IrRef d, McLoc loc) {
  if (d == IR_NONE) return false;
  ad->adj[x] = ad->adj[x] == IR_NONE ? d : ir_binary(ad->g, IR_OP_ADD, ad->adj[x], d, loc);
  return ad->adj[x] != IR_NONE;
}

/* Runs the grad rule of node id and routes each result to its operand. */
static bool backprop_node(Ad *ad, IrRef id) {
  IrNode n = *ir_node(ad->g, id);
  IrRef buf[8];
  IrRef *dx = n.nsrc <= 8 ? buf : mc_xmalloc(n.nsrc * sizeof *dx);
  for (int k = 0; k < n.nsrc; k++) dx[k] = ad->wants[n.src[k]] ? IR_GRAD_WANTED : IR_NONE;
  int errors_before = ad->diag->nerrors;
  ir_ops[n.op].grad(ad->g, id, ad->adj[id], dx);
  bool ok = true;
  for (int k = 0; ok && k < n.nsrc; k++) {
    if (!ad->wants[n.src[k]]) continue;
    if (dx[k] == IR_GRAD_WANTED || dx[k] == IR_NONE) {
      if (ad->diag->nerrors == errors_before)
        mc_error(ad->diag, n.loc, "autodiff: no gradient for operand %d of %s", k,
                 ir_ops[n.op].name);
      ok = false;
      break;
    }
    const IrShape to = ir_node(ad->g, n.src[k])->shape;
    ok = accumulate(ad, n.src[k], ir_sum_to(ad->g, dx[k], &to, n.loc), n.loc);
  }
  if (dx != buf) free(dx);
  return ok;
}

/* A const c of x's dtype expanded to x's shape. */
static IrRef filled_like(IrGraph *g, IrRef x, double c) {
  IrNode n = *ir_node(g, x);
  IrRef k = ir_const(g, c, (IrDtype)n.dtype, n.loc);
  return ir_expand(g, k, &n.shape, n.loc);
}

/* The reverse sweep from the loss down to the first node. */
static bool backprop(Ad *ad, IrRef loss) {
  if (!ad->wants[loss]) return true;
  ad->adj[loss] = filled_like(ad->g, loss, 1.0);
  if (ad->adj[loss] == IR_NONE) return false;
  for (IrRef id = loss + 1; id-- > 0;) {
    const IrNode *n = ir_node(ad->g, id);
    if (!ad->wants[id] || ad->adj[id] == IR_NONE || n->nsrc == 0) continue;
    if (!backprop_node(ad, id)) return false;
  }
  return true;
}

/* One GRAD output per float node of kind op (PARAM or INPUT), in id order;
   zeros for one the loss does not depend on. */
static bool add_grad_outputs(Ad *ad, uint32_t nforward, IrOp op) {
  for (IrRef id = 0; id < nforward; id++) {
    const IrNode *n = ir_node(ad->g, id);
    if (n->op != op || !is_diff_source(n, true)) continue;
    const char *name = n->name;
    IrRef d = ad->adj[id] != IR_NONE ? ad->adj[id] : filled_like(ad->g, id, 0.0);
    if (d == IR_NONE) return false;
    ir_add_output(ad->g, IR_OUT_GRAD, name, d);
  }
  return true;
}

static const IrOutput *find_loss(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind == IR_OUT_LOSS) return &g->outs[i];
  return NULL;
}

static bool has_grads(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind == IR_OUT_GRAD) return true;
  return false;
}

bool pass_autodiff(IrGraph **pg, PassCtx *cx) {
  const IrOutput *loss = find_loss(*pg);
  if (!loss) {
    mc_error(cx->diag, (McLoc){0}, "autodiff: the model has no loss (add `minimize EXPR`)");
    return false;
  }
  if (has_grads(*pg)) {
    mc_error(cx->diag, (McLoc){0}, "autodiff: the graph already has gradient outputs");
    return false;
  }
  IrRef loss_ref = loss->ref;
  uint32_t nforward = (*pg)->nnodes;
  if (loss_ref >= nforward) {
    mc_error(cx->diag, (McLoc){0}, "autodiff: loss \"%s\" refers to a missing node", loss->name);
    return false;
  }
  Ad ad = {.g = ir_graph_clone(*pg), .diag = cx->diag};
  McDiag *graph_diag = ad.g->diag;
  ad.g->diag = cx->diag;
  ad.wants = needs_gradient(ad.g, loss_ref, cx->grad_inputs);
  ad.adj = mc_xmalloc(nforward * sizeof *ad.adj);
  for (uint32_t i = 0; i < nforward; i++) ad.adj[i] = IR_NONE;
  bool ok = backprop(&ad, loss_ref) && add_grad_outputs(&ad, nforward, IR_OP_PARAM) &&
            (!cx->grad_inputs || add_grad_outputs(&ad, nforward, IR_OP_INPUT));
  ad.g->diag = graph_diag;
  free(ad.wants);
  free(ad.adj);
  if (!ok) {
    ir_graph_free(ad.g);
    return false;
  }
  ir_graph_free(*pg);
  *pg = ad.g;
  return true;
}
