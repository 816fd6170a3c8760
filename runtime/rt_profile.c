/* rt_profile.c -- timing of kernel calls for benchmarks: a program
   compiled with CgOptions.profile marks its start and the end of every
   call, and each call's time since the previous mark adds to its total.
   One table for the process: profile one program at a time. */
#include <time.h>

#include "rt.h"

static double totals[RT_PROFILE_MAX_CALLS];
static double last;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void rt_profile_mark(int64_t call) {
  double t = now();
  if (call >= 0 && call < RT_PROFILE_MAX_CALLS) totals[call] += t - last;
  last = now();   /* the mark's own cost goes to nobody */
}

void rt_profile_take(double *seconds, int64_t n) {
  for (int64_t i = 0; i < n && i < RT_PROFILE_MAX_CALLS; i++) {
    seconds[i] = totals[i];
    totals[i] = 0;
  }
}
