/* ir_ops.c -- the op table, expanded from ir_ops.def, and the name tables of
   dtypes and initializers. Every per-op fact lives in the .def row; nothing
   here is kept in sync by hand. */
#include <string.h>

#include "ir.h"

const IrOpInfo ir_ops[IR_OP_COUNT] = {
#define X(E, txt, ar, cls, fl) \
  [IR_OP_##E] = {txt, ar, IR_CLASS_##cls, fl, ir_shape_##E, ir_grad_##E},
#include "ir_ops.def"
#undef X
};

bool ir_op_from_name(const char *s, IrOp *op) {
  for (int i = 0; i < IR_OP_COUNT; i++) {
    if (strcmp(ir_ops[i].name, s) == 0) {
      *op = (IrOp)i;
      return true;
    }
  }
  return false;
}

static const char *const dtype_names[IR_DTYPE_COUNT] = {
    [IR_F32] = "f32", [IR_F64] = "f64", [IR_I32] = "i32", [IR_BOOL] = "bool"};

const char *ir_dtype_name(IrDtype t) {
  return (unsigned)t < IR_DTYPE_COUNT ? dtype_names[t] : "?";
}

bool ir_dtype_from_name(const char *s, IrDtype *t) {
  for (int i = 0; i < IR_DTYPE_COUNT; i++) {
    if (strcmp(dtype_names[i], s) == 0) {
      *t = (IrDtype)i;
      return true;
    }
  }
  return false;
}

bool ir_dtype_is_float(IrDtype t) { return t == IR_F32 || t == IR_F64; }

static const char *const init_names[IR_INIT_COUNT] = {
    [IR_INIT_NONE] = "none",
    [IR_INIT_ZEROS] = "zeros",
    [IR_INIT_ONES] = "ones",
    [IR_INIT_CONSTANT] = "constant",
    [IR_INIT_NORMAL] = "normal",
    [IR_INIT_UNIFORM] = "uniform",
    [IR_INIT_XAVIER_UNIFORM] = "xavier_uniform",
    [IR_INIT_XAVIER_NORMAL] = "xavier_normal",
    [IR_INIT_KAIMING_UNIFORM] = "kaiming_uniform",
    [IR_INIT_KAIMING_NORMAL] = "kaiming_normal",
};

const char *ir_init_name(IrInitKind k) {
  return (unsigned)k < IR_INIT_COUNT ? init_names[k] : "?";
}

bool ir_init_from_name(const char *s, IrInitKind *k) {
  for (int i = 0; i < IR_INIT_COUNT; i++) {
    if (strcmp(init_names[i], s) == 0) {
      *k = (IrInitKind)i;
      return true;
    }
  }
  return false;
}
