/* cli_model.c -- what the commands share: a session (sources + diagnostics
   on stderr), compiling the model named on the command line, running a pass
   pipeline with the printing options, and writing results. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_session_init(CliSession *s) {
  memset(s, 0, sizeof *s);
  mc_sources_init(&s->src);
  mc_diag_init(&s->diag, &s->src, stderr);
}

void cli_session_fini(CliSession *s) {
  free(s->stdin_text);
  mc_diag_fini(&s->diag);
  mc_sources_free(&s->src);
}

/* Standard input, read on the first call and kept: each call gets a copy. */
static char *read_stdin(CliSession *s, size_t *len) {
  if (!s->stdin_text) {
    McStr b;
    mc_str_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
      for (size_t i = 0; i < n; i++) mc_str_putc(&b, chunk[i]);
    if (!b.s) mc_str_puts(&b, "");
    s->stdin_text = b.s;
    s->stdin_len = b.len;
  }
  char *copy = mc_xmalloc(s->stdin_len + 1);
  memcpy(copy, s->stdin_text, s->stdin_len + 1);
  *len = s->stdin_len;
  return copy;
}

char *cli_read_input(CliSession *s, const char *path, size_t *len) {
  if (strcmp(path, "-") == 0) return read_stdin(s, len);
  const char *err = NULL;
  char *text = mc_read_file(path, len, &err);
  if (!text)
    mc_error(&s->diag, (McLoc){0}, "cannot read '%s': %s", path, err ? err : "unknown error");
  return text;
}

IrGraph *cli_compile_model(CliSession *s, const CliOpts *o) {
  FeOptions fo = {.defines = o->defines.data, .ndefines = (int)o->defines.len, .mode = o->mode,
                  .freeze = o->freeze.data, .nfreeze = (int)o->freeze.len};
  IrGraph *g;
  if (strcmp(o->file, "-") == 0) {
    size_t len;
    char *text = read_stdin(s, &len);
    g = fe_compile_string("<stdin>", text, &fo, &s->src, &s->diag);
    free(text);
  } else {
    g = fe_compile_file(o->file, &fo, &s->src, &s->diag);
  }
  if (!g && !mc_diag_has_errors(&s->diag))
    mc_error(&s->diag, (McLoc){0}, "cannot compile '%s'", o->file);
  return g;
}

bool cli_run_pipeline(CliSession *s, const CliOpts *o, IrGraph **g, const char *pipeline) {
  if (!pipeline || !*pipeline) return true;
  PassCtx cx = {
      .diag = &s->diag,
      .verify_each = true,
      .print_after = o->print_after_all ? "all" : o->print_after,
      .print_before_first = o->print_after_all,
      .print_out = stdout,
      .print_format = o->format,
      .grad_inputs = o->grad_inputs,
  };
  bool ok = pass_run_pipeline(g, pipeline, &cx);
  fflush(stdout);
  if (!ok && !mc_diag_has_errors(&s->diag))
    mc_error(&s->diag, (McLoc){0}, "the pipeline '%s' failed", pipeline);
  return ok;
}

static const char *closest_pass(const char *name) {
  const char *best = NULL;
  int best_d = 3;
  for (int i = 0; i < pass_count; i++) {
    int d = mc_edit_distance(name, pass_table[i].name);
    if (d < best_d) best_d = d, best = pass_table[i].name;
  }
  return best;
}

bool cli_check_pass_list(const CliCommand *cmd, const char *option, const char *list,
                         bool allow_all) {
  if (!*list) return true;
  for (const char *p = list;; p++) {
    size_t n = strcspn(p, ",");
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
    if (!(allow_all && strcmp(name, "all") == 0) && (n >= 63 || !pass_find(name))) {
      const char *s = closest_pass(name);
      if (s)
        cli_usage_error(cmd, "--%s: unknown pass '%s' (did you mean '%s'?)", option, name, s);
      else
        cli_usage_error(cmd, "--%s: unknown pass '%s'", option, name);
      return false;
    }
    p += n;
    if (!*p) return true;
  }
}

bool cli_write_output(CliSession *s, const CliOpts *o, const McStr *text) {
  const char *data = text->s ? text->s : "";
  if (!o->output || strcmp(o->output, "-") == 0) {
    fputs(data, stdout);
    return fflush(stdout) == 0;
  }
  FILE *f = fopen(o->output, "w");
  if (!f) {
    mc_error(&s->diag, (McLoc){0}, "cannot write '%s': %s", o->output, strerror(errno));
    return false;
  }
  fputs(data, f);
  if (fclose(f) != 0) {
    mc_error(&s->diag, (McLoc){0}, "cannot write '%s': %s", o->output, strerror(errno));
    return false;
  }
  return true;
}
