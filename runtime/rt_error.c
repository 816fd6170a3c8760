/* rt_error.c -- formats the "PATH: problem" messages of failing runtime
   calls into the caller's RtError. */
#include "rt.h"

#include <stdarg.h>
#include <stdio.h>

void rt_error_set(RtError *e, const char *fmt, ...) {
  if (!e) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}
