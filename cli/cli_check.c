/* cli_check.c -- `modelc check FILE`: compiles a model, verifies the graph
   and prints a short summary: the counts on one line, then one line per
   input, output, the loss and the model dims. */
#include "cli.h"

#include <string.h>

static const char *plural(int64_t n, const char *one, const char *many) {
  return n == 1 ? one : many;
}

typedef struct Counts {
  int64_t inputs, params, weights, buffers, frozen;
} Counts;

static void count_nodes(const IrGraph *g, Counts *c) {
  memset(c, 0, sizeof *c);
  for (IrRef r = 0; r < g->nnodes; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op == IR_OP_INPUT) c->inputs++;
    if (n->op == IR_OP_PARAM && n->attr.buffer) c->buffers++;
    else if (n->op == IR_OP_PARAM && n->attr.frozen) c->frozen++;
    else if (n->op == IR_OP_PARAM) {
      c->params++;
      c->weights += ir_shape_numel(&n->shape);
    }
  }
}

static const IrOutput *find_loss(const IrGraph *g) {
  for (uint32_t i = 0; i < g->nouts; i++)
    if (g->outs[i].kind == IR_OUT_LOSS) return &g->outs[i];
  return NULL;
}

static const char *type_of(const IrGraph *g, IrRef r) {
  const IrNode *n = ir_node(g, r);
  return ir_type_str(g, (IrDtype)n->dtype, &n->shape);
}

static void print_summary_line(const IrGraph *g) {
  Counts c;
  count_nodes(g, &c);
  int64_t noutputs = 0;
  for (uint32_t i = 0; i < g->nouts; i++) noutputs += g->outs[i].kind == IR_OUT_OUTPUT;
  const IrOutput *loss = find_loss(g);
  printf("%s: ok: %lld %s, %lld %s (%lld %s), %lld %s, ", g->name, (long long)c.inputs,
         plural(c.inputs, "input", "inputs"), (long long)c.params,
         plural(c.params, "param", "params"), (long long)c.weights,
         plural(c.weights, "weight", "weights"), (long long)noutputs,
         plural(noutputs, "output", "outputs"));
  if (c.frozen) printf("%lld frozen, ", (long long)c.frozen);
  if (c.buffers) printf("%lld %s, ", (long long)c.buffers, plural(c.buffers, "buffer", "buffers"));
  if (loss)
    printf("loss %s\n", type_of(g, loss->ref));
  else
    printf("no loss\n");
}

static void print_details(const IrGraph *g) {
  for (IrRef r = 0; r < g->nnodes; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op == IR_OP_INPUT) printf("  input  %s: %s\n", n->name, type_of(g, r));
  }
  for (uint32_t i = 0; i < g->nouts; i++) {
    const IrOutput *out = &g->outs[i];
    const char *kind = out->kind == IR_OUT_OUTPUT   ? "output"
                       : out->kind == IR_OUT_LOSS   ? "loss  "
                       : out->kind == IR_OUT_UPDATE ? "update"
                                                    : "grad  ";
    printf("  %s %s: %s\n", kind, out->name, type_of(g, out->ref));
  }
  if (g->nsyms) {
    printf("  dims  ");
    for (uint32_t i = 0; i < g->nsyms; i++)
      printf("%s%s=%lld", i ? ", " : "", g->syms[i].name, (long long)g->syms[i].value);
    printf("\n");
  }
}

int cli_check(CliOpts *o) {
  CliSession s;
  cli_session_init(&s);
  IrGraph *g = cli_compile_model(&s, o);
  int rc = CLI_FAIL;
  if (g && ir_verify(g, &s.diag)) {
    print_summary_line(g);
    print_details(g);
    rc = CLI_OK;
  }
  if (g) ir_graph_free(g);
  cli_session_fini(&s);
  return rc;
}
