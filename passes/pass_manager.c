/* pass_manager.c -- the pass table (expanded from passes.def) and the
   pipeline runner: parses "a,b,c", rejects unknown names before anything
   runs, then runs each pass, verifying and printing after it on request. */
#include <string.h>

#include "pass.h"

const PassInfo pass_table[] = {
#define P(name, fn, summary) {name, fn, summary},
#include "passes.def"
#undef P
};
const int pass_count = (int)MC_COUNTOF(pass_table);

const PassInfo *pass_find(const char *name) {
  for (int i = 0; i < pass_count; i++)
    if (strcmp(pass_table[i].name, name) == 0) return &pass_table[i];
  return NULL;
}

/* ---- rebuild helpers shared by the passes --------------------------------- */

IrGraph *pass_graph_like(const IrGraph *g) {
  IrGraph *out = ir_graph_new(g->name, g->diag);
  ir_graph_copy_syms(out, g);
  return out;
}

void pass_copy_outputs(IrGraph *to, const IrGraph *from, const IrRef *map) {
  for (uint32_t i = 0; i < from->nouts; i++) {
    IrRef r = from->outs[i].ref;
    ir_add_output(to, from->outs[i].kind, from->outs[i].name, r < from->nnodes ? map[r] : IR_NONE);
  }
}

bool pass_replace_graph(IrGraph **pg, IrGraph *out, const IrRef *map, bool ok) {
  if (!ok) {
    ir_graph_free(out);
    return false;
  }
  pass_copy_outputs(out, *pg, map);
  ir_graph_free(*pg);
  *pg = out;
  return true;
}

/* ---- pipeline strings ----------------------------------------------------- */

#define MAX_NAME 64

/* Copies the next comma-separated item of *p (spaces trimmed) into name and
   advances *p past its comma. False at the end of the string. */
static bool next_item(const char **p, char name[MAX_NAME], bool *too_long) {
  const char *s = *p;
  if (!*s) return false;
  const char *end = strchr(s, ',');
  if (!end) end = s + strlen(s);
  *p = *end ? end + 1 : end;
  while (s < end && (*s == ' ' || *s == '\t')) s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t')) end--;
  size_t n = (size_t)(end - s);
  *too_long = n >= MAX_NAME;
  if (*too_long) n = MAX_NAME - 1;
  memcpy(name, s, n);
  name[n] = '\0';
  return true;
}

/* The pass name closest to `name`, if it is close enough to be a typo. */
static const char *suggest(const char *name) {
  const char *best = NULL;
  int best_d = 1 + (int)strlen(name) / 3;
  if (best_d > 3) best_d = 3;
  for (int i = 0; i < pass_count; i++) {
    int d = mc_edit_distance(name, pass_table[i].name);
    if (d <= best_d) best = pass_table[i].name, best_d = d;
  }
  return best;
}

static void report_unknown(McDiag *d, const char *what, const char *name) {
  McLoc none = {0};
  if (!*name) {
    mc_error(d, none, "empty pass name in %s", what);
    return;
  }
  const char *s = suggest(name);
  if (s) {
    mc_error(d, none, "unknown pass '%s' in %s (did you mean '%s'?)", name, what, s);
    return;
  }
  McStr all;
  mc_str_init(&all);
  for (int i = 0; i < pass_count; i++)
    mc_str_printf(&all, "%s%s", i ? ", " : "", pass_table[i].name);
  mc_error(d, none, "unknown pass '%s' in %s (passes: %s)", name, what, all.s);
  mc_str_free(&all);
}

/* Resolves every name of the pipeline into steps (heap, caller frees).
   Reports every unknown name; false if there was one. */
static bool parse_pipeline(const char *pipeline, McVec *steps, McDiag *d) {
  char name[MAX_NAME];
  bool too_long, ok = true;
  const char *p = pipeline ? pipeline : "";
  while (next_item(&p, name, &too_long)) {
    const PassInfo *info = too_long ? NULL : pass_find(name);
    if (!info) {
      report_unknown(d, "pipeline", name);
      ok = false;
      continue;
    }
    *(const PassInfo **)mc_vec_push(steps) = info;
  }
  return ok;
}

/* Checks the --print-after list: "all" or known pass names. */
static bool check_print_after(const char *list, McDiag *d) {
  if (!list || strcmp(list, "all") == 0) return true;
  char name[MAX_NAME];
  bool too_long, ok = true;
  const char *p = list;
  while (next_item(&p, name, &too_long)) {
    if (too_long || !pass_find(name)) {
      report_unknown(d, "--print-after", name);
      ok = false;
    }
  }
  return ok;
}

static bool prints_after(const char *list, const char *pass) {
  if (!list) return false;
  if (strcmp(list, "all") == 0) return true;
  char name[MAX_NAME];
  bool too_long;
  const char *p = list;
  while (next_item(&p, name, &too_long))
    if (!too_long && strcmp(name, pass) == 0) return true;
  return false;
}

static bool is_dot(const PassCtx *cx) {
  return cx->print_format && strcmp(cx->print_format, "dot") == 0;
}

static bool check_format(const PassCtx *cx) {
  const char *f = cx->print_format;
  if (!f || strcmp(f, "text") == 0 || strcmp(f, "dot") == 0) return true;
  mc_error(cx->diag, (McLoc){0}, "unknown print format '%s' (expected 'text' or 'dot')", f);
  return false;
}

/* Writes "# --- TITLE ---" and the graph to the print stream. */
static void dump(const IrGraph *g, const char *title, const PassCtx *cx) {
  McStr b;
  mc_str_init(&b);
  mc_str_printf(&b, "# --- %s ---\n", title);
  if (is_dot(cx)) ir_print_dot(&b, g);
  else ir_print(&b, g);
  FILE *out = cx->print_out ? cx->print_out : stdout;
  fputs(b.s, out);
  fflush(out);
  mc_str_free(&b);
}

static bool run_step(IrGraph **g, const PassInfo *pass, PassCtx *cx) {
  if (!pass->fn(g, cx)) return false;
  if (cx->verify_each && !ir_verify(*g, cx->diag)) {
    mc_error(cx->diag, (McLoc){0}, "IR invalid after pass '%s'", pass->name);
    return false;
  }
  if (prints_after(cx->print_after, pass->name)) {
    char title[MAX_NAME + 8];
    snprintf(title, sizeof title, "after %s", pass->name);
    dump(*g, title, cx);
  }
  return true;
}

bool pass_run_pipeline(IrGraph **g, const char *pipeline, PassCtx *cx) {
  McVec steps;
  mc_vec_init(&steps, sizeof(const PassInfo *));
  bool ok = parse_pipeline(pipeline, &steps, cx->diag);
  ok = check_print_after(cx->print_after, cx->diag) && ok;
  ok = check_format(cx) && ok;
  if (ok && cx->print_before_first) dump(*g, "input", cx);
  for (size_t i = 0; ok && i < steps.len; i++)
    ok = run_step(g, MC_VEC_AT(&steps, const PassInfo *, i), cx);
  mc_vec_free(&steps);
  return ok;
}
