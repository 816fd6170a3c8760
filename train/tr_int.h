/* tr_int.h -- helpers shared by the training layer's own files (the
   trainer, generation); never included from outside train/. */
#ifndef TR_INT_H
#define TR_INT_H

#include <stddef.h>

#include "ir.h"

double tr_now_seconds(void);          /* a monotonic clock */
size_t tr_dtype_bytes(IrDtype t);     /* bytes of one element */
int tr_rt_dtype(IrDtype t);           /* the runtime's RT_* code of an IR dtype */

#endif
