/* cli_dump.c -- `modelc dump` (model -> forward or gradient IR) and
   `modelc opt` (IR text -> passes -> IR text), printing text or DOT. */
#include "cli.h"

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
  return strcmp(o->stage, "grad") == 0 ? PASS_PIPELINE_GRAD : PASS_PIPELINE_FORWARD;
}

int cli_dump(CliOpts *o) {
  CliSession s;
  cli_session_init(&s);
  const char *pipeline = dump_pipeline(o);
  IrGraph *g = cli_compile_model(&s, o);
  int rc = CLI_FAIL;
  if (g && ir_verify(g, &s.diag) && cli_run_pipeline(&s, o, &g, pipeline)) {
    McStr out;
    mc_str_init(&out);
    put_header(&out, o, &s.src, pipeline);
    put_graph(&out, o, g);
    if (cli_write_output(&s, o, &out)) rc = CLI_OK;
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
