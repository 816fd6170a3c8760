/* pass_dce.c -- dead code elimination: keeps the nodes some output depends
   on, plus every INPUT and PARAM (so the program's signature does not change
   with what the outputs happen to use; PassCtx.drop_unused_inputs drops the
   INPUTs nothing reads, as a library's forward pass that needs no labels
   wants), and rebuilds the graph with dense ids in the original order. */
#include <stdlib.h>

#include "pass.h"

/* live[i]: node i is kept. Operands precede users, so one backward sweep
   propagates liveness. */
static bool *mark_live(const IrGraph *g, bool drop_inputs) {
  bool *live = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *live);
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].ref < g->nnodes) live[g->outs[i].ref] = true;
  for (uint32_t id = g->nnodes; id-- > 0;) {
    const IrNode *n = ir_node(g, id);
    if ((n->op == IR_OP_INPUT && !drop_inputs) || n->op == IR_OP_PARAM) live[id] = true;
    if (!live[id]) continue;
    for (int k = 0; k < n->nsrc; k++) live[n->src[k]] = true;
  }
  return live;
}

bool pass_dce(IrGraph **pg, PassCtx *cx) {
  IrGraph *g = *pg;
  bool *live = mark_live(g, cx->drop_unused_inputs);
  IrRef *map = mc_xmalloc((g->nnodes ? g->nnodes : 1) * sizeof *map);
  IrGraph *out = pass_graph_like(g);
  bool ok = true;
  for (uint32_t id = 0; ok && id < g->nnodes; id++) {
    map[id] = live[id] ? ir_copy_node(out, g, id, map) : IR_NONE;
    if (live[id] && map[id] == IR_NONE) {
      mc_error(cx->diag, ir_node(g, id)->loc, "dce: cannot rebuild node %%%u", id);
      ok = false;
    }
  }
  ok = pass_replace_graph(pg, out, map, ok);
  free(live);
  free(map);
  return ok;
}
