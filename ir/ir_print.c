/* ir_print.c -- the text form of a graph (docs/ir.md, "Text format"). The
   parser in ir_parse.c reads exactly this back: print(parse(print(g))) is
   print(g). Only the attributes an op uses are printed. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define LOC_COLUMN 63   /* loc(...) starts after this column when the line is short */

static void print_quoted(McStr *out, const char *s) {
  mc_str_putc(out, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      mc_str_putc(out, '\\');
      mc_str_putc(out, (char)*p);
    } else if (*p == '\n') {
      mc_str_puts(out, "\\n");
    } else if (*p == '\t') {
      mc_str_puts(out, "\\t");
    } else if (*p < 0x20 || *p == 0x7f) {
      mc_str_printf(out, "\\x%02x", *p);
    } else {
      mc_str_putc(out, (char)*p);
    }
  }
  mc_str_putc(out, '"');
}

/* %.17g reads back to the same double; nan is printed without a sign. */
static void print_double(McStr *out, double v) {
  if (isnan(v))
    mc_str_puts(out, "nan");
  else if (isinf(v))
    mc_str_puts(out, v < 0 ? "-inf" : "inf");
  else
    mc_str_printf(out, "%.17g", v);
}

static bool is_plain_name(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-') return false;
  return true;
}

static void print_list(McStr *out, const char *key, const int64_t *v, int n) {
  mc_str_printf(out, " %s=[", key);
  for (int i = 0; i < n; i++) mc_str_printf(out, "%s%lld", i ? "," : "", (long long)v[i]);
  mc_str_putc(out, ']');
}

static void print_axes(McStr *out, uint32_t axes) {
  mc_str_puts(out, " axes=[");
  bool first = true;
  for (int i = 0; i < 32; i++) {
    if (!(axes & (1u << i))) continue;
    mc_str_printf(out, "%s%d", first ? "" : ",", i);
    first = false;
  }
  mc_str_putc(out, ']');
}

/* param initializers: zeros, constant(a=V), kaiming_uniform(a=S, fan_out=true) */
static void print_init(McStr *out, IrInit in) {
  mc_str_printf(out, " %s", ir_init_name(in.kind));
  switch (in.kind) {
  case IR_INIT_NONE:
  case IR_INIT_ZEROS:
  case IR_INIT_ONES:
  case IR_INIT_COUNT:
    return;
  case IR_INIT_NORMAL:
  case IR_INIT_UNIFORM:
    mc_str_puts(out, "(a=");
    print_double(out, in.a);
    mc_str_puts(out, ", b=");
    print_double(out, in.b);
    mc_str_putc(out, ')');
    return;
  case IR_INIT_CONSTANT:
  case IR_INIT_XAVIER_UNIFORM:
  case IR_INIT_XAVIER_NORMAL:
  case IR_INIT_KAIMING_UNIFORM:
  case IR_INIT_KAIMING_NORMAL:
    mc_str_puts(out, "(a=");
    print_double(out, in.a);
    bool kaiming = in.kind == IR_INIT_KAIMING_UNIFORM || in.kind == IR_INIT_KAIMING_NORMAL;
    if (kaiming && in.fan_out) mc_str_puts(out, ", fan_out=true");
    mc_str_putc(out, ')');
    return;
  }
}

static void print_attrs(McStr *out, const IrGraph *g, const IrNode *n) {
  bool has_src = n->nsrc && n->src[0] < g->nnodes;
  int rank = has_src ? g->nodes[n->src[0]].shape.rank : n->shape.rank;
  if (rank > IR_MAX_RANK) rank = IR_MAX_RANK;
  switch ((IrOp)n->op) {
  case IR_OP_SUM:
  case IR_OP_MAX:
    print_axes(out, n->attr.axes);
    mc_str_printf(out, " keepdims=%s", n->attr.keepdims ? "true" : "false");
    break;
  case IR_OP_PERMUTE: {
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) perm[i] = n->attr.perm[i];
    print_list(out, "perm", perm, rank);
    break;
  }
  case IR_OP_SLICE:
    print_list(out, "start", n->attr.start, rank);
    print_list(out, "step", n->attr.step, rank);
    break;
  case IR_OP_PAD:
    print_list(out, "start", n->attr.start, rank);
    break;
  case IR_OP_CONCAT:
  case IR_OP_IOTA:
    mc_str_printf(out, " axis=%d", n->attr.axis);
    break;
  case IR_OP_UNFOLD:
  case IR_OP_FOLD: {
    int k = n->attr.nwin <= IR_MAX_WIN ? n->attr.nwin : IR_MAX_WIN;
    print_list(out, "stride", n->attr.wstride, k);
    print_list(out, "dilation", n->attr.wdilation, k);
    break;
  }
  default:
    break;
  }
}

static void print_node(McStr *out, const IrGraph *g, IrRef id) {
  const IrNode *n = &g->nodes[id];
  size_t line_start = out->len;
  mc_str_printf(out, "  %%%u = %s", id, n->op < IR_OP_COUNT ? ir_ops[n->op].name : "?");
  for (uint32_t i = 0; i < n->nsrc; i++) mc_str_printf(out, "%s %%%u", i ? "," : "", n->src[i]);
  if (n->op == IR_OP_INPUT || n->op == IR_OP_PARAM) {
    mc_str_putc(out, ' ');
    print_quoted(out, n->name ? n->name : "");
    if (n->op == IR_OP_PARAM) print_init(out, n->attr.init);
    if (n->op == IR_OP_PARAM && n->attr.frozen)
      mc_str_puts(out, n->attr.buffer ? " buffer" : " frozen");
  } else if (n->op == IR_OP_CONST) {
    mc_str_putc(out, ' ');
    print_double(out, n->attr.value);
  }
  print_attrs(out, g, n);
  mc_str_puts(out, " : ");
  ir_shape_print(out, g, (IrDtype)n->dtype, &n->shape);
  if (n->loc.line != 0) {
    size_t len = out->len - line_start;
    size_t pad = len + 3 < LOC_COLUMN ? LOC_COLUMN - len : 3;
    for (size_t i = 0; i < pad; i++) mc_str_putc(out, ' ');
    mc_str_printf(out, "loc(%u:%u:%u)", n->loc.file, n->loc.line, n->loc.col);
  }
  if (n->kernel) mc_str_printf(out, " kernel=%u", n->kernel);
  mc_str_putc(out, '\n');
}

static const char *out_kind_name(IrOutKind k) {
  switch (k) {
  case IR_OUT_OUTPUT: return "output";
  case IR_OUT_LOSS: return "loss";
  case IR_OUT_GRAD: return "grad";
  case IR_OUT_UPDATE: return "update";
  }
  return "output";
}

void ir_print(McStr *out, const IrGraph *g) {
  mc_str_puts(out, "graph @");
  if (is_plain_name(g->name))
    mc_str_puts(out, g->name);
  else
    print_quoted(out, g->name);
  mc_str_puts(out, " {\n");
  for (uint32_t i = 0; i < g->nsyms; i++)
    mc_str_printf(out, "  dim %s = %lld%s\n", g->syms[i].name, (long long)g->syms[i].value,
                  g->syms[i].batch ? " batch" : "");
  for (uint32_t i = 0; i < g->nnodes; i++) print_node(out, g, i);
  for (uint32_t i = 0; i < g->nouts; i++) {
    mc_str_printf(out, "  %s ", out_kind_name(g->outs[i].kind));
    print_quoted(out, g->outs[i].name);
    mc_str_printf(out, " = %%%u\n", g->outs[i].ref);
  }
  mc_str_puts(out, "}\n");
}

void ir_print_file(FILE *f, const IrGraph *g) {
  McStr s;
  mc_str_init(&s);
  ir_print(&s, g);
  fputs(s.s, f);
  mc_str_free(&s);
}
