/* tr_util.c -- small helpers of the training layer (tr_int.h). */
#include "tr_int.h"

#include <time.h>

#include "rt.h"

double tr_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t tr_dtype_bytes(IrDtype t) {
  switch (t) {
  case IR_F32: return 4;
  case IR_F64: return 8;
  case IR_I32: return 4;
  case IR_BOOL: return 1;
  case IR_DTYPE_COUNT: break;
  }
  MC_UNREACHABLE();
}

int tr_rt_dtype(IrDtype t) {
  switch (t) {
  case IR_F32: return RT_F32;
  case IR_F64: return RT_F64;
  case IR_I32: return RT_I32;
  case IR_BOOL: return RT_U8;
  case IR_DTYPE_COUNT: break;
  }
  MC_UNREACHABLE();
}
