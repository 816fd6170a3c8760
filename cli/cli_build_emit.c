/* cli_build_emit.c -- the text `modelc build` writes: what the library's
   user sees (the inputs, outputs and params of the model, and the slot
   roles of each program), the C header, the C file with the model's image
   (runtime/rt_aot.h's tables) and the exported functions, the JSON
   manifest, and the assembly that embeds --weights. */
#include "cli.h"

#include <math.h>
#include <string.h>

#include "rt.h"
#include "rt_aot.h"

const char *const cli_build_program_names[CLI_PROG_COUNT] = {"forward", "train", "grad", "apply"};

/* ---- describing the model ------------------------------------------------------------ */

static int rt_dtype_of(IrDtype t) {
  switch (t) {
  case IR_F32: return RT_F32;
  case IR_F64: return RT_F64;
  case IR_I32: return RT_I32;
  default: return RT_U8;
  }
}

static const char *c_type(IrDtype t) {
  switch (t) {
  case IR_F32: return "float";
  case IR_F64: return "double";
  case IR_I32: return "int32_t";
  default: return "uint8_t";
  }
}

static void tensor_of(CliBuildTensor *t, const IrGraph *g, const IrNode *n, const char *name) {
  int bsym = ir_graph_batch_sym(g);
  int64_t b = bsym >= 0 ? g->syms[bsym].value : 1;
  memset(t, 0, sizeof *t);
  t->name = name;
  t->dtype = (IrDtype)n->dtype;
  t->rt_dtype = rt_dtype_of(t->dtype);
  t->rank = n->shape.rank;
  t->bytes = (int64_t)rt_dtype_size(t->rt_dtype);
  for (int i = 0; i < t->rank; i++) {
    bool batched = bsym >= 0 && ((n->shape.d[i].syms >> bsym) & 1u);
    t->dims[i] = batched ? n->shape.d[i].n / b : n->shape.d[i].n;
    t->batch_mask |= batched ? 1u << i : 0;
    t->bytes *= t->dims[i];
  }
  if (n->op == IR_OP_PARAM) t->init = n->attr.init;
}

static int find_tensor(const CliBuildTensor *ts, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(ts[i].name, name)) return i;
  return -1;
}

static bool describe_io(CliSession *s, CliBuild *b) {
  const IrGraph *g = b->model[0];
  for (IrRef r = 0; r < g->nnodes; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op != IR_OP_INPUT) continue;
    if (b->ninputs == CLI_BUILD_MAX_IO) {
      mc_error(&s->diag, (McLoc){0}, "build: more than %d inputs", CLI_BUILD_MAX_IO);
      return false;
    }
    CliBuildTensor *t = &b->inputs[b->ninputs++];
    tensor_of(t, g, n, n->name);
    t->bound = n->dtype == IR_I32 ? ir_int_input_bound(g, r) : 0;
  }
  for (uint32_t k = 0; k < g->nouts; k++) {
    if (g->outs[k].kind != IR_OUT_OUTPUT) continue;
    if (b->noutputs == CLI_BUILD_MAX_IO) {
      mc_error(&s->diag, (McLoc){0}, "build: more than %d outputs", CLI_BUILD_MAX_IO);
      return false;
    }
    tensor_of(&b->outputs[b->noutputs++], g, ir_node(g, g->outs[k].ref), g->outs[k].name);
  }
  return true;
}

/* The model's params in its order, then the optimizer state the training
   step adds. */
static void describe_params(CliBuild *b) {
  const IrGraph *m = b->model[0], *t = b->programs[CLI_PROG_TRAIN].g;
  b->params = mc_xcalloc(m->nnodes + (t ? t->nnodes : 0) + 1, sizeof *b->params);
  for (IrRef r = 0; r < m->nnodes; r++)
    if (ir_node(m, r)->op == IR_OP_PARAM)
      tensor_of(&b->params[b->nparams++], m, ir_node(m, r), ir_node(m, r)->name);
  for (IrRef r = 0; t && r < t->nnodes; r++) {
    const IrNode *n = ir_node(t, r);
    if (n->op != IR_OP_PARAM || find_tensor(b->params, b->nparams, n->name) >= 0) continue;
    tensor_of(&b->params[b->nparams], t, n, n->name);
    b->params[b->nparams++].state = true;
  }
}

/* The model params the gradient program differentiates, in model order. */
static void describe_grads(CliBuild *b) {
  const IrGraph *g = b->programs[CLI_PROG_GRAD].g;
  b->grads = mc_xcalloc((size_t)b->nparams + 1, sizeof *b->grads);
  for (int i = 0; g && i < b->nparams; i++)
    if (!b->params[i].state && ir_find_output(g, IR_OUT_GRAD, b->params[i].name))
      b->grads[b->ngrads++] = i;
}

/* The gradient of param `name`: its index in b->grads, or -1. */
static int grad_index(const CliBuild *b, const char *name) {
  for (int k = 0; k < b->ngrads; k++)
    if (!strcmp(b->params[b->grads[k]].name, name)) return k;
  return -1;
}

static int hyper_index(CliBuild *b, const char *name) {
  for (int i = 0; i < b->nhyper; i++)
    if (!strcmp(b->hyper[i], name)) return i;
  if (b->nhyper == CLI_BUILD_MAX_HYPER) return -1;
  b->hyper[b->nhyper] = name;
  return b->nhyper++;
}

/* Role and index of every slot of program k. */
static bool describe_slots(CliSession *s, CliBuild *b, int k) {
  CliBuildProgram *p = &b->programs[k];
  const IrGraph *g = p->g;
  int n = p->prog.nslots;
  p->slot_role = mc_xcalloc((size_t)n + 1, sizeof *p->slot_role);
  p->slot_index = mc_xcalloc((size_t)n + 1, sizeof *p->slot_index);
  for (int i = 0; i < n; i++) {
    const IrNode *node = ir_node(g, p->prog.slot_node[i]);
    int role, index;
    if (i < p->prog.ninputs && node->op == IR_OP_PARAM) {
      role = RT_AOT_SLOT_PARAM;
      index = find_tensor(b->params, b->nparams, node->name);
    } else if (i < p->prog.ninputs && !strncmp(node->name, "opt.", 4)) {
      role = RT_AOT_SLOT_HYPER;
      index = hyper_index(b, node->name);
    } else if (i < p->prog.ninputs && k == CLI_PROG_APPLY && !strncmp(node->name, "grad.", 5)) {
      role = RT_AOT_SLOT_GRAD; /* apply_graph's "grad.P" */
      index = grad_index(b, node->name + 5);
    } else if (i < p->prog.ninputs) {
      role = RT_AOT_SLOT_INPUT;
      index = find_tensor(b->inputs, b->ninputs, node->name);
      if (index >= 0) (k == CLI_PROG_FORWARD ? b->fwd_uses : b->train_uses)[index] = true;
    } else if (p->prog.result_slot[i - p->prog.ninputs] != i) {
      role = RT_AOT_SLOT_UNUSED; /* an update computed in its param's buffer */
      index = 0;
    } else {
      const IrOutput *o = &g->outs[i - p->prog.ninputs];
      role = o->kind == IR_OUT_LOSS     ? RT_AOT_SLOT_LOSS
             : o->kind == IR_OUT_UPDATE ? RT_AOT_SLOT_UPDATE
             : o->kind == IR_OUT_GRAD   ? RT_AOT_SLOT_GRAD
                                        : RT_AOT_SLOT_OUTPUT;
      index = role == RT_AOT_SLOT_LOSS     ? 0
              : role == RT_AOT_SLOT_UPDATE ? find_tensor(b->params, b->nparams, o->name)
              : role == RT_AOT_SLOT_GRAD   ? grad_index(b, o->name)
                                           : find_tensor(b->outputs, b->noutputs, o->name);
    }
    if (index < 0) {
      mc_error(&s->diag, (McLoc){0}, "build: internal error: slot %d (%s) has no place", i,
               node->name ? node->name : ir_ops[node->op].name);
      return false;
    }
    p->slot_role[i] = role;
    p->slot_index[i] = index;
  }
  return true;
}

bool cli_build_describe(CliSession *s, CliBuild *b) {
  if (!describe_io(s, b)) return false;
  describe_params(b);
  describe_grads(b);
  for (int k = 0; k < CLI_PROG_COUNT; k++)
    if (b->programs[k].g && !describe_slots(s, b, k)) return false;
  return true;
}

/* ---- names ------------------------------------------------------------------------------ */

/* An argument name for a tensor: its name, or with a trailing '_' where it
   would clash with a C keyword or another argument. */
static void arg_name(McStr *out, const char *name) {
  static const char *const taken[] = {
      "ctx",  "batch",  "h",     "loss",   "int",    "float", "double", "char",   "void",
      "if",   "else",   "for",   "while",  "do",     "return", "struct", "union", "enum",
      "case", "switch", "break", "continue", "static", "const", "long",   "short",  "signed",
      "unsigned", "default", "goto", "sizeof", "typedef", "volatile", "extern", "register",
      "auto", "inline", "restrict", "bool"};
  mc_str_puts(out, name);
  for (size_t i = 0; i < MC_COUNTOF(taken); i++)
    if (!strcmp(name, taken[i])) mc_str_putc(out, '_');
}

static void upper(McStr *out, const char *s) {
  for (; *s; s++)
    mc_str_putc(out, (*s >= 'a' && *s <= 'z') ? (char)(*s - 'a' + 'A')
                     : (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ? *s
                                                                           : '_');
}

/* "f32[batch*4, 784]" */
static void shape_text(McStr *out, const CliBuildTensor *t) {
  mc_str_printf(out, "%s[", ir_dtype_name(t->dtype));
  for (int i = 0; i < t->rank; i++) {
    if (i) mc_str_puts(out, ", ");
    if (!((t->batch_mask >> i) & 1u)) mc_str_printf(out, "%lld", (long long)t->dims[i]);
    else if (t->dims[i] == 1) mc_str_puts(out, "batch");
    else mc_str_printf(out, "batch*%lld", (long long)t->dims[i]);
  }
  mc_str_putc(out, ']');
}

static int64_t per_batch(const CliBuildTensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i];
  return n;
}

/* ---- the header ---------------------------------------------------------------------------- */

static void header_io_doc(McStr *o, const char *what, const CliBuildTensor *t) {
  mc_str_printf(o, "     %s %s: ", what, t->name);
  shape_text(o, t);
  mc_str_printf(o, " (%s, %lld per sample%s", c_type(t->dtype), (long long)per_batch(t),
                t->batch_mask ? "" : ", no batch dim");
  if (t->bound > 0) mc_str_printf(o, ", values in [0, %lld)", (long long)t->bound);
  mc_str_puts(o, ")\n");
}

/* ", const float *x, size_t x_count" for each tensor used (uses NULL: all). */
static void io_args(McStr *o, const CliBuildTensor *ts, int n, const bool *uses, bool in) {
  for (int i = 0; i < n; i++) {
    if (uses && !uses[i]) continue;
    mc_str_printf(o, ", %s%s *", in ? "const " : "", c_type(ts[i].dtype));
    arg_name(o, ts[i].name);
    mc_str_puts(o, ", size_t ");
    arg_name(o, ts[i].name);
    mc_str_puts(o, "_count");
  }
}

static void forward_args(McStr *o, const CliBuild *b) {
  io_args(o, b->inputs, b->ninputs, b->fwd_uses, true);
  io_args(o, b->outputs, b->noutputs, NULL, false);
}

static void train_args(McStr *o, const CliBuild *b) {
  io_args(o, b->inputs, b->ninputs, b->train_uses, true);
}

/* name with '_' for each character a C name cannot hold, then "_grad". */
static void grad_base(McStr *o, const char *name) {
  for (; *name; name++)
    mc_str_putc(o, (*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') ||
                           (*name >= '0' && *name <= '9')
                       ? *name
                       : '_');
  mc_str_puts(o, "_grad");
}

/* The C argument of gradient k: "fc1_weight_grad" for param fc1.weight,
   with "_K" added when that is an input's name or an earlier gradient's. */
static void grad_arg_name(McStr *o, const CliBuild *b, int k) {
  McStr mine, other;
  mc_str_init(&mine);
  mc_str_init(&other);
  grad_base(&mine, b->params[b->grads[k]].name);
  bool clash = false;
  for (int i = 0; i < b->ninputs; i++) clash |= !strcmp(b->inputs[i].name, mine.s);
  for (int j = 0; j < k && !clash; j++) {
    other.len = 0;
    grad_base(&other, b->params[b->grads[j]].name);
    clash = !strcmp(other.s, mine.s);
  }
  mc_str_puts(o, mine.s);
  if (clash) mc_str_printf(o, "_%d", k);
  mc_str_free(&mine);
  mc_str_free(&other);
}

/* ", float *fc1_weight_grad, size_t fc1_weight_grad_count" per gradient
   (const for apply's). */
static void grad_args(McStr *o, const CliBuild *b, bool in) {
  for (int k = 0; k < b->ngrads; k++) {
    mc_str_printf(o, ", %s%s *", in ? "const " : "", c_type(b->params[b->grads[k]].dtype));
    grad_arg_name(o, b, k);
    mc_str_puts(o, ", size_t ");
    grad_arg_name(o, b, k);
    mc_str_puts(o, "_count");
  }
}

static const char *const error_names[] = {"OK",    "ERR_ARG",    "ERR_BATCH", "ERR_SIZE",
                                          "ERR_IO", "ERR_FORMAT", "ERR_NAME",  "ERR_SHAPE",
                                          "ERR_NOMEM", "ERR_INDEX", "ERR_NOTRAIN", "ERR_THREADS"};
static const char *const error_docs[] = {
    "success",
    "a NULL pointer, or an index or name out of range",
    "batch < 1, or too large for memory",
    "a buffer's element count does not fit its shape at this batch",
    "a file cannot be opened, read or written",
    "a weights file is truncated or not safetensors",
    "a weights file lacks a param of the model",
    "a weights tensor's shape or dtype differs from the param's",
    "out of memory",
    "an integer input (a label, a token) is out of range",
    "the library was built without --train",
    "the worker threads cannot be started"};

void cli_build_emit_header(McStr *o, const CliBuild *b) {
  const char *p = b->prefix;
  McStr up;
  mc_str_init(&up);
  upper(&up, p);
  const char *P = up.s;
  mc_str_printf(o, "/* %s -- the C API of model '%s', made by modelc %s (`modelc build`).\n",
                b->header_name, b->model[0]->name, MODELC_VERSION);
  mc_str_puts(o, "   Do not edit: rebuild the library instead. The library needs only libc,\n"
                 "   libm and pthreads at run time.\n\n");
  mc_str_puts(o, "   Buffers are the caller's, dense and row-major. ");
  if (b->batch_name)
    mc_str_printf(o, "The batch is bound per call:\n   dims marked `batch` below scale with it "
                     "(the model's dim '%s').\n", b->batch_name);
  else
    mc_str_puts(o, "The model has no batch dim:\n   every call takes batch 1.\n");
  mc_str_printf(o, "   Every function returning int returns 0 on success or an error code below;\n"
                   "   the message of the last failure is %s_last_error(ctx). Errors never\n"
                   "   abort or print.\n\n", p);
  mc_str_puts(o, "   Thread safety: each context has a lock. Calls on one context from several\n"
                 "   threads are serialized; separate contexts run in parallel.\n\n");
  mc_str_puts(o, "   forward:\n");
  for (int i = 0; i < b->ninputs; i++)
    if (b->fwd_uses[i]) header_io_doc(o, "input ", &b->inputs[i]);
  for (int i = 0; i < b->noutputs; i++) header_io_doc(o, "output", &b->outputs[i]);
  if (b->programs[CLI_PROG_TRAIN].g) {
    mc_str_printf(o, "   train_step (optimizer %s):\n", pass_optim_kind_name(b->args->optim.kind));
    for (int i = 0; i < b->ninputs; i++)
      if (b->train_uses[i]) header_io_doc(o, "input ", &b->inputs[i]);
  }
  mc_str_puts(o, "   params (index: name, shape):\n");
  for (int i = 0; i < b->nparams; i++) {
    mc_str_printf(o, "     %d: %s ", i, b->params[i].name);
    shape_text(o, &b->params[i]);
    mc_str_puts(o, b->params[i].state ? " (optimizer state)\n" : "\n");
  }
  if (b->programs[CLI_PROG_GRAD].g) {
    mc_str_puts(o, "   gradients of grad and apply (index: param):\n");
    for (int k = 0; k < b->ngrads; k++)
      mc_str_printf(o, "     %d: %s\n", k, b->params[b->grads[k]].name);
  }
  mc_str_puts(o, "*/\n");
  mc_str_printf(o, "#ifndef %s_H_\n#define %s_H_\n\n#include <stddef.h>\n#include <stdint.h>\n\n",
                P, P);
  mc_str_puts(o, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  for (size_t i = 0; i < MC_COUNTOF(error_names); i++)
    mc_str_printf(o, "#define %s_%s %zu /* %s */\n", P, error_names[i], i, error_docs[i]);
  mc_str_printf(o, "\n#define %s_NUM_PARAMS %d\n", P, b->nparams);
  for (int i = 0; i < b->nparams; i++) {
    mc_str_printf(o, "#define %s_PARAM_", P);
    upper(o, b->params[i].name);
    mc_str_printf(o, " %d\n", i);
  }
  if (b->programs[CLI_PROG_GRAD].g) mc_str_printf(o, "#define %s_NUM_GRADS %d\n", P, b->ngrads);
  mc_str_printf(o, "\ntypedef struct %s_ctx %s_ctx;\n\n", p, p);
  mc_str_printf(o, "typedef struct %s_config {\n  uint64_t seed; /* initializers of params not embedded */\n"
                   "  int threads;    /* <= 0: all online cores */\n} %s_config;\n\n", p, p);
  mc_str_printf(o, "/* seed 0, all cores */\nvoid %s_config_default(%s_config *cfg);\n", p, p);
  mc_str_printf(o, "/* On failure *out is NULL and %s_last_error(NULL) says why. */\n", p);
  mc_str_printf(o, "int %s_create(const %s_config *cfg, %s_ctx **out);\n", p, p, p);
  mc_str_printf(o, "void %s_destroy(%s_ctx *ctx);\n", p, p);
  mc_str_printf(o, "/* \"\" after a success; ctx NULL: the last failed create of this thread. */\n");
  mc_str_printf(o, "const char *%s_last_error(const %s_ctx *ctx);\n\n", p, p);
  mc_str_printf(o, "/* The outputs for `batch` samples; *_count are element counts. */\n");
  mc_str_printf(o, "int %s_forward(%s_ctx *ctx, int64_t batch", p, p);
  forward_args(o, b);
  mc_str_puts(o, ");\n");
  mc_str_printf(o, "/* The same with every model input (in model order; unused ones may be NULL)\n"
                   "   and output as arrays: for bindings. */\n");
  mc_str_printf(o, "int %s_forward_v(%s_ctx *ctx, int64_t batch, const void *const *inputs,\n"
                   "    const size_t *input_counts, void *const *outputs, const size_t *output_counts);\n\n",
                p, p);
  mc_str_printf(o, "/* torch.optim's names; unused ones are ignored by the optimizer. */\n");
  mc_str_printf(o, "typedef struct %s_hyper {\n  double lr, momentum, weight_decay, beta1, beta2, eps, max_norm;\n} %s_hyper;\n", p, p);
  mc_str_printf(o, "/* torch.optim's defaults for the library's optimizer */\nvoid %s_hyper_default(%s_hyper *h);\n", p, p);
  if (b->programs[CLI_PROG_TRAIN].g) {
    mc_str_printf(o, "/* One optimizer step on `batch` samples: params and optimizer state are\n"
                     "   updated in place; *loss (may be NULL) gets the batch's loss. h NULL:\n"
                     "   the defaults. */\n");
    mc_str_printf(o, "int %s_train_step(%s_ctx *ctx, int64_t batch", p, p);
    train_args(o, b);
    mc_str_puts(o, ",\n    const ");
    mc_str_printf(o, "%s_hyper *h, float *loss);\n", p);
    mc_str_printf(o, "int %s_train_step_v(%s_ctx *ctx, int64_t batch, const void *const *inputs,\n"
                     "    const size_t *input_counts, const %s_hyper *h, float *loss);\n", p, p, p);
  }
  if (b->programs[CLI_PROG_GRAD].g) {
    mc_str_printf(o, "/* The training step in two halves, for data-parallel training with your own\n"
                     "   allreduce: grad writes the gradient of the batch's loss for every param\n"
                     "   of the list of gradients above (buffers of its params' shapes) and *loss\n"
                     "   (may be NULL); it updates the buffers (running statistics) as\n"
                     "   train_step does, but no trained param, no optimizer state and not the\n"
                     "   step count. apply takes train_step's optimizer step on the gradients\n"
                     "   given (e.g. grad's averaged over the ranks; h NULL: the defaults); the\n"
                     "   step count goes up. grad then apply on one batch is train_step. */\n");
    mc_str_printf(o, "int %s_grad(%s_ctx *ctx, int64_t batch", p, p);
    train_args(o, b);
    grad_args(o, b, false);
    mc_str_puts(o, ",\n    float *loss);\n");
    mc_str_printf(o, "int %s_grad_v(%s_ctx *ctx, int64_t batch, const void *const *inputs,\n"
                     "    const size_t *input_counts, void *const *grads, const size_t *grad_counts,\n"
                     "    float *loss);\n", p, p);
    mc_str_printf(o, "int %s_apply(%s_ctx *ctx", p, p);
    grad_args(o, b, true);
    mc_str_printf(o, ",\n    const %s_hyper *h);\n", p);
    mc_str_printf(o, "int %s_apply_v(%s_ctx *ctx, const void *const *grads, const size_t *grad_counts,\n"
                     "    const %s_hyper *h);\n", p, p, p);
    mc_str_printf(o, "/* The param of gradient k (%s_PARAM_*); -1: no such gradient. */\n", P);
    mc_str_printf(o, "int %s_grad_param(int k);\n", p);
  }
  mc_str_printf(o, "/* Optimizer steps taken (saved and loaded with the weights). */\n");
  mc_str_printf(o, "int64_t %s_steps(const %s_ctx *ctx);\n\n", p, p);
  mc_str_printf(o, "/* Params by index (see the list above) or name. */\n");
  mc_str_printf(o, "int %s_param_count(void);\n", p);
  mc_str_printf(o, "const char *%s_param_name(int i); /* NULL: no such param */\n", p);
  mc_str_printf(o, "/* The rank (dims[] gets the shape when not NULL); -1: no such param. */\n");
  mc_str_printf(o, "int %s_param_shape(int i, int64_t *dims);\n", p);
  mc_str_printf(o, "int %s_param_find(const char *name); /* -1: no such param */\n", p);
  mc_str_printf(o, "/* The param's values (float, or double for f64 params); NULL: bad index. */\n");
  mc_str_printf(o, "void *%s_param_data(%s_ctx *ctx, int i);\n", p, p);
  mc_str_printf(o, "/* safetensors, with the params' names (`modelc train --save` writes these);\n"
                   "   save is atomic: a failed save leaves the previous file. */\n");
  mc_str_printf(o, "int %s_load(%s_ctx *ctx, const char *path);\n", p, p);
  mc_str_printf(o, "int %s_save(%s_ctx *ctx, const char *path);\n\n", p, p);
  mc_str_printf(o, "#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s_H_ */\n", P);
  mc_str_free(&up);
}

/* ---- the C file: tables ----------------------------------------------------------------------- */

static void put_double(McStr *o, double v) {
  if (isnan(v)) mc_str_puts(o, "NAN");
  else if (isinf(v)) mc_str_puts(o, v < 0 ? "-INFINITY" : "INFINITY");
  else mc_str_printf(o, "%a", v);
}

static void put_lins(McStr *o, const char *name, const CgLin *v, int n) {
  if (n == 0) return;
  mc_str_printf(o, "static const RtAotLin %s[%d] = {", name, n);
  for (int i = 0; i < n; i++)
    mc_str_printf(o, "%s{%lld, %lld}", !i ? "\n    " : i % 6 ? ", " : ",\n    ", (long long)v[i].c0,
                  (long long)v[i].c1);
  mc_str_puts(o, "};\n");
}

static void put_tensor(McStr *o, const CliBuildTensor *t) {
  mc_str_printf(o, "{\"%s\", %d, %d, {", t->name, t->rt_dtype, t->rank);
  for (int i = 0; i < t->rank; i++) mc_str_printf(o, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
  mc_str_printf(o, "}, 0x%xu, %lld}", t->batch_mask, (long long)t->bound);
}

static void put_tensors(McStr *o, const char *name, const CliBuildTensor *ts, int n) {
  if (n == 0) return;
  mc_str_printf(o, "\nstatic const RtAotTensor %s[%d] = {", name, n);
  for (int i = 0; i < n; i++) {
    mc_str_puts(o, "\n    ");
    put_tensor(o, &ts[i]);
    mc_str_putc(o, ',');
  }
  mc_str_puts(o, "};\n");
}

static void put_program(McStr *o, const CliBuild *b, int k) {
  const CliBuildProgram *p = &b->programs[k];
  const CgAotProgram *q = &p->prog;
  const char *n = cli_build_program_names[k];
  mc_str_printf(o, "\n/* the %s program: %d slots, %d kernels */\n", n, q->nslots, q->nkernels);
  mc_str_printf(o, "__attribute__((visibility(\"hidden\"))) void %s(void *const *, void *, const int64_t *);\n",
                p->run_name);
  if (q->nslots) {
    mc_str_printf(o, "static const RtAotSlot %s_slots[%d] = {", n, q->nslots);
    for (int i = 0; i < q->nslots; i++)
      mc_str_printf(o, "%s{%d, %d}", !i ? "\n    " : i % 8 ? ", " : ",\n    ", p->slot_role[i],
                    p->slot_index[i]);
    mc_str_puts(o, "};\n");
  }
  char name[64];
  snprintf(name, sizeof name, "%s_desc", n);
  put_lins(o, name, q->desc, q->ndesc);
  snprintf(name, sizeof name, "%s_table", n);
  put_lins(o, name, q->table, q->ntable);
  if (q->nconst) {
    mc_str_printf(o, "static const RtAotConst %s_consts[%d] = {", n, q->nconst);
    for (int i = 0; i < q->nconst; i++) {
      const CgAotConst *c = &q->consts[i];
      mc_str_printf(o, "\n    {{%lld, %lld}, %d, %d, ", (long long)c->offset.c0,
                    (long long)c->offset.c1, rt_dtype_of(c->dtype), c->power);
      put_double(o, c->value);
      mc_str_puts(o, "},");
    }
    mc_str_puts(o, "};\n");
  }
  if (q->nindex) {
    mc_str_printf(o, "static const RtAotIndexNode %s_index[%d] = {", n, q->nindex);
    for (int i = 0; i < q->nindex; i++) {
      const CgAotIndex *x = &q->index[i];
      mc_str_printf(o, "\n    {%u, \"%s\", \"%u:%u\", {%lld, %lld}},", x->node, ir_ops[x->op].name,
                    x->loc.line, x->loc.col, (long long)x->rows.c0, (long long)x->rows.c1);
    }
    mc_str_puts(o, "};\n");
  }
  mc_str_printf(o, "static const RtAotProgram %s_program = {\n", n);
  mc_str_printf(o, "    .run = %s,\n    .nslots = %d,\n    .slots = %s%s,\n", p->run_name, q->nslots,
                q->nslots ? n : "NULL", q->nslots ? "_slots" : "");
  mc_str_printf(o, "    .ndesc = %d,\n    .desc = %s%s,\n", q->ndesc, q->ndesc ? n : "NULL",
                q->ndesc ? "_desc" : "");
  mc_str_printf(o, "    .ntable = %d,\n    .table = %s%s,\n", q->ntable, q->ntable ? n : "NULL",
                q->ntable ? "_table" : "");
  mc_str_printf(o, "    .nconst = %d,\n    .consts = %s%s,\n", q->nconst, q->nconst ? n : "NULL",
                q->nconst ? "_consts" : "");
  mc_str_printf(o, "    .ws_bytes = {%lld, %lld},\n    .heap_base = {%lld, %lld},\n",
                (long long)q->ws_bytes.c0, (long long)q->ws_bytes.c1, (long long)q->heap_base.c0,
                (long long)q->heap_base.c1);
  mc_str_printf(o, "    .uses_pool = %d,\n    .nindex = %d,\n    .index_nodes = %s%s,\n",
                q->uses_pool ? 1 : 0, q->nindex, q->nindex ? n : "NULL", q->nindex ? "_index" : "");
  mc_str_printf(o, "    .split_min_batch = %lld};\n", (long long)q->split_min_batch);
}

static void put_model(McStr *o, const CliBuild *b) {
  const char *p = b->prefix;
  if (b->weights_path)
    mc_str_printf(o, "\n__attribute__((visibility(\"hidden\"))) extern const unsigned char %s__weights[];\n", p);
  put_tensors(o, "inputs", b->inputs, b->ninputs);
  put_tensors(o, "outputs", b->outputs, b->noutputs);
  if (b->nparams) {
    mc_str_printf(o, "static const RtAotParam params[%d] = {", b->nparams);
    for (int i = 0; i < b->nparams; i++) {
      const CliBuildParam *t = &b->params[i];
      mc_str_puts(o, "\n    {");
      put_tensor(o, t);
      mc_str_printf(o, ", %d, {%d, ", t->state ? 1 : 0, (int)t->init.kind);
      put_double(o, t->init.a);
      mc_str_puts(o, ", ");
      put_double(o, t->init.b);
      mc_str_printf(o, ", %d}, ", t->init.fan_out ? 1 : 0);
      if (b->weights_path && !t->state)
        mc_str_printf(o, "%s__weights + %lld},", p, (long long)t->weights_offset);
      else
        mc_str_puts(o, "NULL},");
    }
    mc_str_puts(o, "};\n");
  }
  if (b->nhyper) {
    mc_str_printf(o, "static const char *const hyper_names[%d] = {", b->nhyper);
    for (int i = 0; i < b->nhyper; i++) mc_str_printf(o, "%s\"%s\"", i ? ", " : "", b->hyper[i]);
    mc_str_puts(o, "};\n");
  }
  if (b->ngrads) {
    mc_str_printf(o, "static const int32_t grad_params[%d] = {", b->ngrads);
    for (int k = 0; k < b->ngrads; k++) mc_str_printf(o, "%s%d", k ? ", " : "", b->grads[k]);
    mc_str_puts(o, "};\n");
  }
  bool train = b->programs[CLI_PROG_TRAIN].g != NULL, dp = b->programs[CLI_PROG_GRAD].g != NULL;
  mc_str_puts(o, "\nstatic const RtAotModel model = {\n    .abi = RT_AOT_ABI,\n");
  mc_str_printf(o, "    .name = \"%s\",\n", b->model[0]->name);
  mc_str_printf(o, "    .ninputs = %d,\n    .inputs = %s,\n", b->ninputs, b->ninputs ? "inputs" : "NULL");
  mc_str_printf(o, "    .noutputs = %d,\n    .outputs = %s,\n", b->noutputs,
                b->noutputs ? "outputs" : "NULL");
  mc_str_printf(o, "    .nparams = %d,\n    .params = %s,\n", b->nparams, b->nparams ? "params" : "NULL");
  mc_str_printf(o, "    .nhyper = %d,\n    .hyper_names = %s,\n", b->nhyper,
                b->nhyper ? "hyper_names" : "NULL");
  mc_str_printf(o, "    .optimizer = %d,\n    .nesterov = %d,\n    .clip_grad_norm = %d,\n",
                train ? (int)b->args->optim.kind : -1, train && b->args->optim.nesterov,
                train && b->args->optim.clip_grad_norm);
  mc_str_printf(o, "    .forward = &forward_program,\n    .train = %s,\n",
                train ? "&train_program" : "NULL");
  mc_str_printf(o, "    .grad = %s,\n    .apply = %s,\n", dp ? "&grad_program" : "NULL",
                dp ? "&apply_program" : "NULL");
  mc_str_printf(o, "    .ngrads = %d,\n    .grad_params = %s};\n", b->ngrads,
                b->ngrads ? "grad_params" : "NULL");
}

/* ---- the C file: the exported functions -------------------------------------------------------- */

/* The arrays of input pointers and counts a typed entry point hands over. */
static void put_input_arrays(McStr *o, const CliBuild *b, const bool *uses) {
  int n = b->ninputs ? b->ninputs : 1;
  mc_str_printf(o, "  const void *mc__in[%d] = {0};\n  size_t mc__in_n[%d] = {0};\n", n, n);
  for (int i = 0; i < b->ninputs; i++) {
    if (!uses[i]) continue;
    mc_str_printf(o, "  mc__in[%d] = ", i);
    arg_name(o, b->inputs[i].name);
    mc_str_printf(o, ";\n  mc__in_n[%d] = ", i);
    arg_name(o, b->inputs[i].name);
    mc_str_puts(o, "_count;\n");
  }
}

static void put_hyper_copy(McStr *o, const char *from, const char *to) {
  static const char *const f[] = {"lr", "momentum", "weight_decay", "beta1", "beta2", "eps",
                                  "max_norm"};
  for (size_t i = 0; i < MC_COUNTOF(f); i++)
    mc_str_printf(o, "  %s%s = %s%s;\n", to, f[i], from, f[i]);
}

/* The arrays of gradient pointers and counts a typed entry point hands over. */
static void put_grad_arrays(McStr *o, const CliBuild *b, bool in) {
  int n = b->ngrads ? b->ngrads : 1;
  mc_str_printf(o, "  %svoid *mc__g[%d] = {0};\n  size_t mc__g_n[%d] = {0};\n", in ? "const " : "",
                n, n);
  for (int k = 0; k < b->ngrads; k++) {
    mc_str_printf(o, "  mc__g[%d] = ", k);
    grad_arg_name(o, b, k);
    mc_str_printf(o, ";\n  mc__g_n[%d] = ", k);
    grad_arg_name(o, b, k);
    mc_str_puts(o, "_count;\n");
  }
}

/* grad, apply (typed and _v) and grad_param. */
static void put_grad_api(McStr *o, const CliBuild *b) {
  const char *p = b->prefix;
  mc_str_printf(o, "API int %s_grad_v(%s_ctx *ctx, int64_t batch, const void *const *inputs,\n"
                   "    const size_t *input_counts, void *const *grads, const size_t *grad_counts,\n"
                   "    float *loss) {\n"
                   "  return rt_aot_grad((RtAotCtx *)ctx, batch, inputs, input_counts, grads, grad_counts, loss);\n"
                   "}\n\n", p, p);
  mc_str_printf(o, "API int %s_grad(%s_ctx *ctx, int64_t batch", p, p);
  train_args(o, b);
  grad_args(o, b, false);
  mc_str_puts(o, ", float *loss) {\n");
  put_input_arrays(o, b, b->train_uses);
  put_grad_arrays(o, b, false);
  mc_str_printf(o, "  return %s_grad_v(ctx, batch, mc__in, mc__in_n, mc__g, mc__g_n, loss);\n}\n\n", p);
  mc_str_printf(o, "API int %s_apply_v(%s_ctx *ctx, const void *const *grads, const size_t *grad_counts,\n"
                   "    const %s_hyper *h) {\n  RtAotHyper r = {0};\n  if (h) {\n", p, p, p);
  put_hyper_copy(o, "h->", "  r.");
  mc_str_puts(o, "  }\n  return rt_aot_apply((RtAotCtx *)ctx, grads, grad_counts, h ? &r : NULL);\n}\n\n");
  mc_str_printf(o, "API int %s_apply(%s_ctx *ctx", p, p);
  grad_args(o, b, true);
  mc_str_printf(o, ", const %s_hyper *h) {\n", p);
  put_grad_arrays(o, b, true);
  mc_str_printf(o, "  return %s_apply_v(ctx, mc__g, mc__g_n, h);\n}\n\n", p);
  mc_str_printf(o, "API int %s_grad_param(int k) {\n"
                   "  return k >= 0 && k < model.ngrads ? model.grad_params[k] : -1;\n}\n\n", p);
}

static void put_api(McStr *o, const CliBuild *b) {
  const char *p = b->prefix;
  mc_str_puts(o, "\n#define API __attribute__((visibility(\"default\")))\n\n");
  mc_str_printf(o, "API void %s_config_default(%s_config *cfg) {\n  if (!cfg) return;\n"
                   "  cfg->seed = 0;\n  cfg->threads = 0;\n}\n\n", p, p);
  mc_str_printf(o, "API int %s_create(const %s_config *cfg, %s_ctx **out) {\n"
                   "  RtAotConfig c = {cfg ? cfg->seed : 0, cfg ? cfg->threads : 0};\n"
                   "  return rt_aot_create(&model, &c, (RtAotCtx **)out);\n}\n\n", p, p, p);
  mc_str_printf(o, "API void %s_destroy(%s_ctx *ctx) { rt_aot_destroy((RtAotCtx *)ctx); }\n\n", p, p);
  mc_str_printf(o, "API const char *%s_last_error(const %s_ctx *ctx) {\n"
                   "  return rt_aot_last_error((const RtAotCtx *)ctx);\n}\n\n", p, p);
  mc_str_printf(o, "API int %s_forward(%s_ctx *ctx, int64_t batch", p, p);
  forward_args(o, b);
  mc_str_puts(o, ") {\n");
  put_input_arrays(o, b, b->fwd_uses);
  mc_str_printf(o, "  void *mc__out[%d];\n  size_t mc__out_n[%d];\n", b->noutputs, b->noutputs);
  for (int i = 0; i < b->noutputs; i++) {
    mc_str_printf(o, "  mc__out[%d] = ", i);
    arg_name(o, b->outputs[i].name);
    mc_str_printf(o, ";\n  mc__out_n[%d] = ", i);
    arg_name(o, b->outputs[i].name);
    mc_str_puts(o, "_count;\n");
  }
  mc_str_puts(o, "  return rt_aot_forward((RtAotCtx *)ctx, batch, mc__in, mc__in_n, mc__out, mc__out_n);\n}\n\n");
  mc_str_printf(o, "API int %s_forward_v(%s_ctx *ctx, int64_t batch, const void *const *inputs,\n"
                   "    const size_t *input_counts, void *const *outputs, const size_t *output_counts) {\n"
                   "  return rt_aot_forward((RtAotCtx *)ctx, batch, inputs, input_counts, outputs,\n"
                   "                        output_counts);\n}\n\n", p, p);
  mc_str_printf(o, "API void %s_hyper_default(%s_hyper *h) {\n  if (!h) return;\n  RtAotHyper r;\n"
                   "  rt_aot_hyper_default(&model, &r);\n", p, p);
  put_hyper_copy(o, "r.", "h->");
  mc_str_puts(o, "}\n\n");
  if (b->programs[CLI_PROG_TRAIN].g) {
    mc_str_printf(o, "API int %s_train_step_v(%s_ctx *ctx, int64_t batch, const void *const *inputs,\n"
                     "    const size_t *input_counts, const %s_hyper *h, float *loss) {\n"
                     "  RtAotHyper r = {0};\n  if (h) {\n", p, p, p);
    put_hyper_copy(o, "h->", "  r.");
    mc_str_puts(o, "  }\n  return rt_aot_train_step((RtAotCtx *)ctx, batch, inputs, input_counts, h ? &r : NULL, loss);\n}\n\n");
    mc_str_printf(o, "API int %s_train_step(%s_ctx *ctx, int64_t batch", p, p);
    train_args(o, b);
    mc_str_printf(o, ", const %s_hyper *h, float *loss) {\n", p);
    put_input_arrays(o, b, b->train_uses);
    mc_str_printf(o, "  return %s_train_step_v(ctx, batch, mc__in, mc__in_n, h, loss);\n}\n\n", p);
  }
  if (b->programs[CLI_PROG_GRAD].g) put_grad_api(o, b);
  mc_str_printf(o, "API int64_t %s_steps(const %s_ctx *ctx) { return rt_aot_steps((const RtAotCtx *)ctx); }\n\n", p, p);
  mc_str_printf(o, "API int %s_param_count(void) { return %d; }\n\n", p, b->nparams);
  mc_str_printf(o, "API const char *%s_param_name(int i) {\n"
                   "  return i >= 0 && i < %d ? model.params[i].t.name : NULL;\n}\n\n", p, b->nparams);
  mc_str_printf(o, "API int %s_param_shape(int i, int64_t *dims) {\n"
                   "  if (i < 0 || i >= %d) return -1;\n"
                   "  for (int k = 0; dims && k < model.params[i].t.rank; k++) dims[k] = model.params[i].t.dims[k];\n"
                   "  return model.params[i].t.rank;\n}\n\n", p, b->nparams);
  mc_str_printf(o, "API int %s_param_find(const char *name) { return rt_aot_param_find(&model, name); }\n\n", p);
  mc_str_printf(o, "API void *%s_param_data(%s_ctx *ctx, int i) { return rt_aot_param_data((RtAotCtx *)ctx, i); }\n\n", p, p);
  mc_str_printf(o, "API int %s_load(%s_ctx *ctx, const char *path) { return rt_aot_load((RtAotCtx *)ctx, path); }\n\n", p, p);
  mc_str_printf(o, "API int %s_save(%s_ctx *ctx, const char *path) { return rt_aot_save((RtAotCtx *)ctx, path); }\n", p, p);
}

void cli_build_emit_c(McStr *o, const CliBuild *b) {
  mc_str_printf(o, "/* The image and API of model '%s', generated by modelc %s. */\n",
                b->model[0]->name, MODELC_VERSION);
  mc_str_puts(o, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n\n"
                 "#include \"model.h\"\n#include \"rt_aot.h\"\n");
  for (int k = 0; k < CLI_PROG_COUNT; k++)
    if (b->programs[k].g) put_program(o, b, k);
  put_model(o, b);
  put_api(o, b);
}

/* ---- the manifest ------------------------------------------------------------------------------ */

static void json_tensor(McStr *o, const CliBuildTensor *t, const char *indent) {
  mc_str_printf(o, "%s{\"name\": \"%s\", \"dtype\": \"%s\", \"shape\": [", indent, t->name,
                ir_dtype_name(t->dtype));
  for (int i = 0; i < t->rank; i++) {
    if (i) mc_str_puts(o, ", ");
    if (!((t->batch_mask >> i) & 1u)) mc_str_printf(o, "%lld", (long long)t->dims[i]);
    else if (t->dims[i] == 1) mc_str_puts(o, "\"batch\"");
    else mc_str_printf(o, "\"batch*%lld\"", (long long)t->dims[i]);
  }
  if (t->batch_mask)
    mc_str_printf(o, "], \"per_sample\": %lld, \"batched\": true", (long long)per_batch(t));
  else
    mc_str_printf(o, "], \"numel\": %lld, \"batched\": false", (long long)per_batch(t));
  if (t->bound > 0) mc_str_printf(o, ", \"bound\": %lld", (long long)t->bound);
}

static void json_list(McStr *o, const char *key, const CliBuildTensor *ts, int n, const bool *uses,
                      bool params) {
  mc_str_printf(o, "  \"%s\": [", key);
  bool first = true;
  for (int i = 0; i < n; i++) {
    if (uses && !uses[i]) continue;
    mc_str_puts(o, first ? "\n" : ",\n");
    first = false;
    json_tensor(o, &ts[i], "    ");
    if (params) mc_str_printf(o, ", \"index\": %d, \"state\": %s", i, ts[i].state ? "true" : "false");
    else if (uses) mc_str_printf(o, ", \"index\": %d", i);
    mc_str_putc(o, '}');
  }
  mc_str_puts(o, first ? "],\n" : "\n  ],\n");
}

/* An entry point: its symbol and its C arguments (name, type), so that a
   binding can declare it without parsing C. */
static void json_entry(McStr *o, const CliBuild *b, const char *what, const char *ret,
                       const char *args, bool last) {
  mc_str_printf(o, "    \"%s\": {\"symbol\": \"%s_%s\", \"returns\": \"%s\", \"args\": [%s]}%s\n",
                what, b->prefix, what, ret, args, last ? "" : ",");
}

static void json_io_args(McStr *a, const CliBuildTensor *ts, int n, const bool *uses, bool out) {
  for (int i = 0; i < n; i++) {
    if (uses && !uses[i]) continue;
    mc_str_printf(a, ", [\"%s\", \"%s%s*\"], [\"%s_count\", \"size_t\"]", ts[i].name,
                  out ? "" : "const ", c_type(ts[i].dtype), ts[i].name);
  }
}

/* ", [\"fc1_weight_grad\", \"float*\"], [\"fc1_weight_grad_count\", \"size_t\"]" per gradient. */
static void json_grad_args(McStr *a, const CliBuild *b, bool in) {
  for (int k = 0; k < b->ngrads; k++) {
    mc_str_puts(a, ", [\"");
    grad_arg_name(a, b, k);
    mc_str_printf(a, "\", \"%s%s*\"], [\"", in ? "const " : "", c_type(b->params[b->grads[k]].dtype));
    grad_arg_name(a, b, k);
    mc_str_puts(a, "_count\", \"size_t\"]");
  }
}

/* "grads": the gradients of grad and apply in order, each with its param. */
static void json_grads(McStr *o, const CliBuild *b) {
  mc_str_puts(o, "  \"grads\": [");
  for (int k = 0; k < b->ngrads; k++) {
    mc_str_puts(o, k ? ",\n" : "\n");
    json_tensor(o, &b->params[b->grads[k]], "    ");
    mc_str_printf(o, ", \"index\": %d, \"param\": %d}", k, b->grads[k]);
  }
  mc_str_puts(o, b->ngrads ? "\n  ],\n" : "],\n");
}

void cli_build_emit_manifest(McStr *o, const CliBuild *b) {
  bool train = b->programs[CLI_PROG_TRAIN].g != NULL, dp = b->programs[CLI_PROG_GRAD].g != NULL;
  mc_str_puts(o, "{\n  \"format\": \"modelc-library\",\n  \"format_version\": 1,\n");
  mc_str_printf(o, "  \"modelc\": \"%s\",\n  \"model\": \"%s\",\n  \"prefix\": \"%s\",\n",
                MODELC_VERSION, b->model[0]->name, b->prefix);
  mc_str_printf(o, "  \"library\": \"%s\",\n  \"header\": \"%s\",\n", b->library_name,
                b->header_name);
  if (b->batch_name) mc_str_printf(o, "  \"batch_dim\": \"%s\",\n", b->batch_name);
  else mc_str_puts(o, "  \"batch_dim\": null,\n");
  mc_str_printf(o, "  \"forward_split_min_batch\": %lld,\n",
                (long long)b->programs[CLI_PROG_FORWARD].prog.split_min_batch);
  json_list(o, "inputs", b->inputs, b->ninputs, NULL, false);
  json_list(o, "forward_inputs", b->inputs, b->ninputs, b->fwd_uses, false);
  if (train) json_list(o, "train_inputs", b->inputs, b->ninputs, b->train_uses, false);
  json_list(o, "outputs", b->outputs, b->noutputs, NULL, false);
  json_list(o, "params", b->params, b->nparams, NULL, true);
  if (dp) json_grads(o, b);
  if (train)
    mc_str_printf(o, "  \"optimizer\": {\"kind\": \"%s\", \"nesterov\": %s, \"clip_grad_norm\": %s},\n",
                  pass_optim_kind_name(b->args->optim.kind), b->args->optim.nesterov ? "true" : "false",
                  b->args->optim.clip_grad_norm ? "true" : "false");
  else
    mc_str_puts(o, "  \"optimizer\": null,\n");
  mc_str_puts(o, "  \"errors\": {");
  for (size_t i = 0; i < MC_COUNTOF(error_names); i++)
    mc_str_printf(o, "%s\"%s\": %zu", i ? ", " : "", error_names[i], i);
  mc_str_puts(o, "},\n  \"config\": [[\"seed\", \"uint64_t\"], [\"threads\", \"int\"]],\n");
  mc_str_puts(o, "  \"hyper\": [[\"lr\", \"double\"], [\"momentum\", \"double\"], [\"weight_decay\", \"double\"], "
                 "[\"beta1\", \"double\"], [\"beta2\", \"double\"], [\"eps\", \"double\"], [\"max_norm\", \"double\"]],\n");
  mc_str_puts(o, "  \"entry_points\": {\n");
  json_entry(o, b, "config_default", "void", "[\"cfg\", \"config*\"]", false);
  json_entry(o, b, "create", "int", "[\"cfg\", \"const config*\"], [\"out\", \"ctx**\"]", false);
  json_entry(o, b, "destroy", "void", "[\"ctx\", \"ctx*\"]", false);
  json_entry(o, b, "last_error", "const char*", "[\"ctx\", \"const ctx*\"]", false);
  McStr a;
  mc_str_init(&a);
  mc_str_puts(&a, "[\"ctx\", \"ctx*\"], [\"batch\", \"int64_t\"]");
  json_io_args(&a, b->inputs, b->ninputs, b->fwd_uses, false);
  json_io_args(&a, b->outputs, b->noutputs, NULL, true);
  json_entry(o, b, "forward", "int", a.s, false);
  json_entry(o, b, "forward_v", "int",
             "[\"ctx\", \"ctx*\"], [\"batch\", \"int64_t\"], [\"inputs\", \"const void*const*\"], "
             "[\"input_counts\", \"const size_t*\"], [\"outputs\", \"void*const*\"], "
             "[\"output_counts\", \"const size_t*\"]",
             false);
  json_entry(o, b, "hyper_default", "void", "[\"h\", \"hyper*\"]", false);
  if (train) {
    a.len = 0;
    mc_str_puts(&a, "[\"ctx\", \"ctx*\"], [\"batch\", \"int64_t\"]");
    json_io_args(&a, b->inputs, b->ninputs, b->train_uses, false);
    mc_str_puts(&a, ", [\"h\", \"const hyper*\"], [\"loss\", \"float*\"]");
    json_entry(o, b, "train_step", "int", a.s, false);
    json_entry(o, b, "train_step_v", "int",
               "[\"ctx\", \"ctx*\"], [\"batch\", \"int64_t\"], [\"inputs\", \"const void*const*\"], "
               "[\"input_counts\", \"const size_t*\"], [\"h\", \"const hyper*\"], [\"loss\", \"float*\"]",
               false);
  }
  if (dp) {
    a.len = 0;
    mc_str_puts(&a, "[\"ctx\", \"ctx*\"], [\"batch\", \"int64_t\"]");
    json_io_args(&a, b->inputs, b->ninputs, b->train_uses, false);
    json_grad_args(&a, b, false);
    mc_str_puts(&a, ", [\"loss\", \"float*\"]");
    json_entry(o, b, "grad", "int", a.s, false);
    json_entry(o, b, "grad_v", "int",
               "[\"ctx\", \"ctx*\"], [\"batch\", \"int64_t\"], [\"inputs\", \"const void*const*\"], "
               "[\"input_counts\", \"const size_t*\"], [\"grads\", \"void*const*\"], "
               "[\"grad_counts\", \"const size_t*\"], [\"loss\", \"float*\"]",
               false);
    a.len = 0;
    mc_str_puts(&a, "[\"ctx\", \"ctx*\"]");
    json_grad_args(&a, b, true);
    mc_str_puts(&a, ", [\"h\", \"const hyper*\"]");
    json_entry(o, b, "apply", "int", a.s, false);
    json_entry(o, b, "apply_v", "int",
               "[\"ctx\", \"ctx*\"], [\"grads\", \"const void*const*\"], "
               "[\"grad_counts\", \"const size_t*\"], [\"h\", \"const hyper*\"]",
               false);
    json_entry(o, b, "grad_param", "int", "[\"k\", \"int\"]", false);
  }
  json_entry(o, b, "steps", "int64_t", "[\"ctx\", \"const ctx*\"]", false);
  json_entry(o, b, "param_count", "int", "", false);
  json_entry(o, b, "param_name", "const char*", "[\"i\", \"int\"]", false);
  json_entry(o, b, "param_shape", "int", "[\"i\", \"int\"], [\"dims\", \"int64_t*\"]", false);
  json_entry(o, b, "param_find", "int", "[\"name\", \"const char*\"]", false);
  json_entry(o, b, "param_data", "void*", "[\"ctx\", \"ctx*\"], [\"i\", \"int\"]", false);
  json_entry(o, b, "load", "int", "[\"ctx\", \"ctx*\"], [\"path\", \"const char*\"]", false);
  json_entry(o, b, "save", "int", "[\"ctx\", \"ctx*\"], [\"path\", \"const char*\"]", true);
  mc_str_puts(o, "  }\n}\n");
  mc_str_free(&a);
}

/* ---- embedded weights ---------------------------------------------------------------------------- */

void cli_build_emit_weights_asm(McStr *o, const CliBuild *b) {
  const char *p = b->prefix;
  mc_str_printf(o, "# the params of --weights, each at a 64-byte boundary (generated by modelc)\n"
                   "\t.section .rodata.%s_weights,\"a\"\n\t.balign 64\n\t.globl %s__weights\n"
                   "\t.hidden %s__weights\n\t.type %s__weights, @object\n%s__weights:\n"
                   "\t.incbin \"%s\"\n\t.size %s__weights, %lld\n"
                   "\t.section .note.GNU-stack,\"\",@progbits\n",
                p, p, p, p, p, b->weights_path, p, (long long)b->weights_bytes);
}
