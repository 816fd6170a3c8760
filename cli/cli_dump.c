/* cli_dump.c -- `modelc dump` (model -> forward or gradient IR) and
   `modelc opt` (IR text -> passes -> IR text), printing text or DOT. */
#include "cli.h"

#include "cg.h"

#include <stdlib.h>
#include <string.h>

static bool is_dot(const CliOpts *o) { return strcmp(o->format, "dot") == 0; }

/* The header comment: which program this is and the source file of each id
   used in loc(FILE:LINE:COL). DOT takes // comments. */
static void put_header(McStr *out, const CliOpts *o, const McSources *src, const char *pipeline) {
  const char *c = is_dot(o) ? "//" : "#";
  mc_str_printf(out, "%s modelc dump --stage %s: passes '%s'\n", c, o->stage, pipeline);
  for (size_t i = 0; i < src->files.len; i++)
    mc_str_printf(out, "%s file %zu: %s\n", c, i + 1, MC_VEC_AT(&src->files, McSourceFile, i).name);
}

static void put_graph(McStr *out, const CliOpts *o, const IrGraph *g) {
  if (is_dot(o))
    ir_print_dot(out, g);
  else
    ir_print(out, g);
}

static const char *dump_pipeline(const CliOpts *o) {
  if (o->passes) return o->passes;
  if (strcmp(o->stage, "step") == 0) return PASS_PIPELINE_TRAIN;
  return strcmp(o->stage, "grad") == 0 ? PASS_PIPELINE_GRAD : PASS_PIPELINE_FORWARD;
}

/* --emit llvm|asm: what the code generator makes of the program. */
static bool put_code(McStr *out, CliSession *s, const CliOpts *o, const IrGraph *g) {
  CgOptions co = cg_options_default();
  return cg_emit(g, &co, o->emit, out, &s->diag);
}

static void put_stats_line(McStr *out, const char *what, const CgStats *st) {
  mc_str_printf(out,
                "%-10s %5d nodes %4d kernels  compile %.3f s  workspace %.2f MiB planned, "
                "%.2f MiB naive (%.1fx less)  %d calls per run\n",
                what, st->nnodes, st->nkernels, st->compile_seconds,
                (double)st->workspace_bytes / 1048576.0, (double)st->naive_bytes / 1048576.0,
                st->workspace_bytes ? (double)st->naive_bytes / (double)st->workspace_bytes : 1.0,
                st->ncalls);
}

/* Compiles a copy of fwd through `pipeline` and reports its statistics. */
static bool put_program_stats(McStr *out, CliSession *s, const IrGraph *fwd, const char *what,
                              const char *pipeline) {
  IrGraph *g = ir_graph_clone(fwd);
  PassCtx cx = {.diag = &s->diag};
  CgOptions co = cg_options_default();
  CgProgram *p = NULL;
  bool ok = pass_run_pipeline(&g, pipeline, &cx) && (p = cg_jit_compile(g, &co, &s->diag));
  if (ok) {
    CgStats st;
    cg_program_stats(p, &st);
    put_stats_line(out, what, &st);
    cg_program_free(p);
  }
  ir_graph_free(g);
  return ok;
}

/* --stats: the forward program (outputs and loss) and, when the model has a
   loss, the training step (SGD), each JIT-compiled for this machine. */
static bool put_stats(McStr *out, CliSession *s, const IrGraph *fwd) {
  mc_str_printf(out, "# %s: compiled programs (memory planned by liveness vs one buffer each)\n",
                fwd->name);
  if (!put_program_stats(out, s, fwd, "forward", PASS_PIPELINE_FORWARD)) return false;
  if (!ir_find_output(fwd, IR_OUT_LOSS, NULL)) return true;
  return put_program_stats(out, s, fwd, "train step", PASS_PIPELINE_TRAIN);
}

int cli_dump(CliOpts *o) {
  CliSession s;
  cli_session_init(&s);
  const char *pipeline = dump_pipeline(o);
  IrGraph *g = cli_compile_model(&s, o);
  int rc = CLI_FAIL;
  if (o->stats && g && ir_verify(g, &s.diag)) {
    McStr out;
    mc_str_init(&out);
    if (put_stats(&out, &s, g) && cli_write_output(&s, o, &out)) rc = CLI_OK;
    mc_str_free(&out);
  } else if (g && ir_verify(g, &s.diag) && cli_run_pipeline(&s, o, &g, pipeline)) {
    McStr out;
    mc_str_init(&out);
    bool ok = true;
    if (strcmp(o->emit, "ir") == 0) {
      put_header(&out, o, &s.src, pipeline);
      put_graph(&out, o, g);
    } else {
      ok = put_code(&out, &s, o, g);
    }
    if (ok && cli_write_output(&s, o, &out)) rc = CLI_OK;
    mc_str_free(&out);
  }
  if (g) ir_graph_free(g);
  cli_session_fini(&s);
  return rc;
}

/* Parses and verifies the IR text of o->file; NULL after reporting. */
static IrGraph *load_ir(CliSession *s, const CliOpts *o) {
  size_t len;
  char *text = cli_read_input(s, o->file, &len);
  if (!text) return NULL;
  const char *name = strcmp(o->file, "-") == 0 ? "<stdin>" : o->file;
  uint32_t file = mc_sources_add(&s->src, name, text, len);
  IrGraph *g = ir_parse(text, file, &s->diag);
  free(text);
  if (!g) {
    if (!mc_diag_has_errors(&s->diag)) mc_diag_file_error(&s->diag, name, "invalid IR");
    return NULL;
  }
  if (!ir_verify(g, &s->diag)) {
    ir_graph_free(g);
    return NULL;
  }
  return g;
}

/* The locs of a parsed graph name the files of the compilation that printed
   it, which this run does not have: pass errors are reported without the
   source line (a diagnostics sink with no sources). */
int cli_opt(CliOpts *o) {
  CliSession s;
  cli_session_init(&s);
  IrGraph *g = load_ir(&s, o);
  int rc = CLI_FAIL;
  if (g) {
    CliSession pass_session;
    cli_session_init(&pass_session);
    pass_session.diag.src = NULL;
    g->diag = &pass_session.diag;
    if (cli_run_pipeline(&pass_session, o, &g, o->passes)) {
      McStr out;
      mc_str_init(&out);
      put_graph(&out, o, g);
      if (cli_write_output(&pass_session, o, &out)) rc = CLI_OK;
      mc_str_free(&out);
    }
    cli_session_fini(&pass_session);
    ir_graph_free(g);
  }
  cli_session_fini(&s);
  return rc;
}
