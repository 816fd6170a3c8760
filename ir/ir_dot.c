/* ir_dot.c -- a graph as Graphviz DOT, for `--format dot` and
   `--print-after`: one box per node labelled "%id op\ntype" (plus the name of
   inputs and params), edges from operands to users, and one extra node per
   graph output. Inputs, params, constants and outputs are styled apart. */
#include "ir.h"

/* Text inside a DOT "..." label: quotes and backslashes escaped, newlines
   written as the \n escape DOT understands. */
static void put_label_text(McStr *out, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') mc_str_putc(out, '\\');
    if (*s == '\n') {
      mc_str_puts(out, "\\n");
      continue;
    }
    mc_str_putc(out, *s);
  }
}

static const char *node_style(IrOp op) {
  switch (op) {
  case IR_OP_INPUT: return "shape=ellipse, style=filled, fillcolor=\"#cfe8ff\"";
  case IR_OP_PARAM: return "shape=box, style=\"rounded,filled\", fillcolor=\"#fff2b3\"";
  case IR_OP_CONST:
  case IR_OP_IOTA: return "shape=box, style=dashed";
  default: return "shape=box";
  }
}

static const char *output_style(IrOutKind k) {
  switch (k) {
  case IR_OUT_OUTPUT: return "shape=house, style=filled, fillcolor=\"#c8f0c8\"";
  case IR_OUT_LOSS: return "shape=doubleoctagon, style=filled, fillcolor=\"#ffc8c8\"";
  case IR_OUT_GRAD: return "shape=house, style=filled, fillcolor=\"#e0e0e0\"";
  case IR_OUT_UPDATE: return "shape=house, style=filled, fillcolor=\"#fff2b3\"";
  }
  return "shape=house";
}

static const char *output_kind(IrOutKind k) {
  if (k == IR_OUT_UPDATE) return "update";
  return k == IR_OUT_LOSS ? "loss" : k == IR_OUT_GRAD ? "grad" : "output";
}

static void put_node(McStr *out, const IrGraph *g, IrRef id) {
  const IrNode *n = &g->nodes[id];
  McStr label;
  mc_str_init(&label);
  mc_str_printf(&label, "%%%u %s\n", id, n->op < IR_OP_COUNT ? ir_ops[n->op].name : "?");
  ir_shape_print(&label, g, (IrDtype)n->dtype, &n->shape);
  if (n->name) mc_str_printf(&label, "\n\"%s\"", n->name);
  else if (n->op == IR_OP_CONST) mc_str_printf(&label, "\n%g", n->attr.value);
  mc_str_printf(out, "  n%u [label=\"", id);
  put_label_text(out, label.s);
  mc_str_printf(out, "\", %s];\n", node_style((IrOp)n->op));
  mc_str_free(&label);
  for (uint32_t i = 0; i < n->nsrc; i++) {
    mc_str_printf(out, "  n%u -> n%u", n->src[i], id);
    if (n->nsrc > 1) mc_str_printf(out, " [label=\"%u\"]", i);
    mc_str_puts(out, ";\n");
  }
}

void ir_print_dot(McStr *out, const IrGraph *g) {
  mc_str_puts(out, "digraph \"");
  put_label_text(out, g->name);
  mc_str_puts(out, "\" {\n  node [fontname=\"monospace\", fontsize=10];\n");
  mc_str_puts(out, "  edge [fontsize=8];\n");
  for (uint32_t i = 0; i < g->nnodes; i++) put_node(out, g, i);
  for (uint32_t i = 0; i < g->nouts; i++) {
    const IrOutput *o = &g->outs[i];
    McStr label;
    mc_str_init(&label);
    mc_str_printf(&label, "%s \"%s\"", output_kind(o->kind), o->name);
    mc_str_printf(out, "  out%u [label=\"", i);
    put_label_text(out, label.s);
    mc_str_printf(out, "\", %s];\n", output_style(o->kind));
    if (o->ref < g->nnodes) mc_str_printf(out, "  n%u -> out%u;\n", o->ref, i);
    mc_str_free(&label);
  }
  mc_str_puts(out, "}\n");
}
