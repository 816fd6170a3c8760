/* mc_diag.c -- source files and the diagnostics sink (file:line:col: error:
   message, the source line, a caret under the range). */
#include "mc.h"

#include <stdlib.h>
#include <string.h>

void mc_sources_init(McSources *s) { mc_vec_init(&s->files, sizeof(McSourceFile)); }

void mc_sources_free(McSources *s) {
  for (size_t i = 0; i < s->files.len; i++) {
    McSourceFile *f = &MC_VEC_AT(&s->files, McSourceFile, i);
    free(f->name);
    free(f->text);
  }
  mc_vec_free(&s->files);
}

uint32_t mc_sources_add(McSources *s, const char *name, const char *text, size_t len) {
  return mc_sources_add_at(s, name, text, len, 1);
}

uint32_t mc_sources_add_at(McSources *s, const char *name, const char *text, size_t len,
                           uint32_t first_line) {
  McSourceFile *f = mc_vec_push(&s->files);
  f->first_line = first_line ? first_line : 1;
  f->name = mc_xstrdup(name);
  if (text) {
    f->text = mc_xmalloc(len + 1);
    memcpy(f->text, text, len);
    f->text[len] = 0;
    f->len = len;
  }
  return (uint32_t)s->files.len;
}

const McSourceFile *mc_sources_get(const McSources *s, uint32_t file) {
  if (!s || file == 0 || file > s->files.len) return NULL;
  return &MC_VEC_AT(&s->files, McSourceFile, file - 1);
}

void mc_diag_init(McDiag *d, const McSources *src, FILE *out) {
  memset(d, 0, sizeof *d);
  d->src = src;
  d->out = out;
  d->max_errors = 20;
  mc_str_init(&d->buf);
}

void mc_diag_fini(McDiag *d) { mc_str_free(&d->buf); }

bool mc_diag_has_errors(const McDiag *d) { return d->nerrors > 0; }

static const char *kind_name(McDiagKind k) {
  return k == MC_DIAG_ERROR ? "error" : k == MC_DIAG_WARNING ? "warning" : "note";
}

#define SHOWN_COLS 120 /* a longer line is shown as a window of this many columns */

/* Appends the source line of loc and a caret line under its range; of a
   line longer than SHOWN_COLS only the window around the range, with
   "..." where it is cut. */
static void put_source_line(McStr *b, const McSourceFile *f, McLoc loc) {
  const char *p = f->text, *end = f->text + f->len;
  for (uint32_t line = 1; line < loc.line && p < end; p++)
    if (*p == '\n') line++;
  if (p >= end && loc.line > 1) return;
  const char *eol = memchr(p, '\n', (size_t)(end - p));
  if (!eol) eol = end;
  size_t width = (size_t)(eol - p), col = loc.col > 0 ? loc.col - 1 : 0, from = 0, to = width;
  if (width > SHOWN_COLS) {
    from = col > SHOWN_COLS / 2 ? col - SHOWN_COLS / 2 : 0;
    if (from > width - SHOWN_COLS) from = width - SHOWN_COLS;
    to = from + SHOWN_COLS;
  }
  const char *pre = from ? "..." : "", *post = to < width ? "..." : "";
  mc_str_printf(b, "  %s", pre);
  for (size_t i = from; i < to; i++) mc_str_putc(b, p[i] == '\t' ? ' ' : p[i]);
  mc_str_printf(b, "%s\n  ", post);
  for (size_t i = 0; i < strlen(pre) + col - from; i++) mc_str_putc(b, ' ');
  mc_str_putc(b, '^');
  size_t len = loc.len;
  if (col + len > to) len = to > col ? to - col : 1;
  for (size_t i = 1; i < len; i++) mc_str_putc(b, '~');
  mc_str_putc(b, '\n');
}

void mc_diag_vreport(McDiag *d, McDiagKind kind, McLoc loc, const char *fmt, va_list ap) {
  if (kind == MC_DIAG_ERROR) {
    d->nerrors++;
    if (d->max_errors && d->nerrors > d->max_errors) {
      if (d->nerrors == d->max_errors + 1) {
        const char *m = "modelc: error: too many errors, stopping\n";
        mc_str_puts(&d->buf, m);
        if (d->out) fputs(m, d->out);
      }
      return;
    }
  } else if (kind == MC_DIAG_WARNING) {
    d->nwarnings++;
  } else if (d->max_errors && d->nerrors > d->max_errors) {
    return;
  }
  McStr b;
  mc_str_init(&b);
  const McSourceFile *f = mc_sources_get(d->src, loc.file);
  if (f && loc.line)
    mc_str_printf(&b, "%s:%u:%u: ", f->name, f->first_line + loc.line - 1, loc.col);
  else if (f) mc_str_printf(&b, "%s: ", f->name);
  else mc_str_puts(&b, "modelc: ");
  mc_str_printf(&b, "%s: ", kind_name(kind));
  mc_str_vprintf(&b, fmt, ap);
  mc_str_putc(&b, '\n');
  if (f && f->text && loc.line) put_source_line(&b, f, loc);
  mc_str_puts(&d->buf, b.s);
  if (d->out) {
    fputs(b.s, d->out);
    fflush(d->out);
  }
  mc_str_free(&b);
}

void mc_diag_report(McDiag *d, McDiagKind kind, McLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mc_diag_vreport(d, kind, loc, fmt, ap);
  va_end(ap);
}

void mc_diag_file_error(McDiag *d, const char *path, const char *fmt, ...) {
  d->nerrors++;
  McStr b;
  mc_str_init(&b);
  mc_str_printf(&b, "%s: error: ", path);
  va_list ap;
  va_start(ap, fmt);
  mc_str_vprintf(&b, fmt, ap);
  va_end(ap);
  mc_str_putc(&b, '\n');
  mc_str_puts(&d->buf, b.s);
  if (d->out) fputs(b.s, d->out);
  mc_str_free(&b);
}
