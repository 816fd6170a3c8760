/* cg_scalar.c -- the scalar semantics of ir_scalar.def re-expressed as LLVM
   instructions, intrinsics (llvm.sqrt, llvm.fabs, llvm.pow, ...) and, for
   double, llvm.exp/llvm.log and libm calls (erf, erfc, tanh); float uses
   the vectorizable exp, log, erf, erfc and tanh of cg_math.c. The table
   below is expanded from the .def: a scalar added there without an
   sc_<ENUM> emitter here does not build. Values are of a float "compute
   type"; NaN handling follows the evaluator's C expressions. */
#include "cg_int.h"

typedef LLVMValueRef (*ScalarFn)(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                                 LLVMValueRef c);

#define S(E, expr)                                                                                 \
  static LLVMValueRef sc_##E(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
#include "ir_scalar.def"
#undef S

static const ScalarFn scalar_fns[IR_OP_COUNT] = {
#define S(E, expr) [IR_OP_##E] = sc_##E,
#include "ir_scalar.def"
#undef S
};

LLVMValueRef cg_scalar(Cg *cx, IrOp op, LLVMTypeRef ct, LLVMValueRef a, LLVMValueRef b,
                       LLVMValueRef c) {
  MC_ASSERT(op < IR_OP_COUNT && scalar_fns[op]);
  return scalar_fns[op](cx, ct, a, b, c);
}

/* ---- helpers ---------------------------------------------------------------- */

static LLVMValueRef fconst(LLVMTypeRef t, double v) { return LLVMConstReal(t, v); }

static LLVMValueRef unary_intrinsic(Cg *cx, const char *name, LLVMTypeRef t, LLVMValueRef a) {
  return cg_intrinsic(cx, name, &t, 1, &a, 1);
}

static bool is_float(Cg *cx, LLVMTypeRef t) { return t == cx->t_f32; }

static LLVMValueRef exp_of(Cg *cx, LLVMTypeRef t, LLVMValueRef a) {
  return is_float(cx, t) ? cg_math_exp(cx, a) : unary_intrinsic(cx, "llvm.exp", t, a);
}

/* 1.0 or 0.0 from an i1. */
static LLVMValueRef as_float(Cg *cx, LLVMTypeRef t, LLVMValueRef bit) {
  return LLVMBuildUIToFP(cx->b, bit, t, "");
}

static LLVMValueRef fcmp(Cg *cx, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(cx->b, p, a, b, "");
}

/* (a `p` b || isnan(a)) ? a : b -- maximum/minimum keep the first operand on
   ties and propagate NaN from either side. */
static LLVMValueRef pick_first_or_nan(Cg *cx, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef keep = LLVMBuildOr(cx->b, fcmp(cx, p, a, b), fcmp(cx, LLVMRealUNO, a, a), "");
  return LLVMBuildSelect(cx->b, keep, a, b, "");
}

/* ---- the scalars, in ir_scalar.def order ------------------------------------------- */

#define UNUSED_BC (void)b, (void)c
#define UNUSED_C (void)c

static LLVMValueRef sc_NEG(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)t, UNUSED_BC;
  return LLVMBuildFNeg(cx->b, a, "");
}

static LLVMValueRef sc_EXP(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  return exp_of(cx, t, a);
}

static LLVMValueRef sc_LOG(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  return is_float(cx, t) ? cg_math_log(cx, a) : unary_intrinsic(cx, "llvm.log", t, a);
}

static LLVMValueRef sc_SQRT(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  return unary_intrinsic(cx, "llvm.sqrt", t, a);
}

static LLVMValueRef sc_RSQRT(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                             LLVMValueRef c) {
  UNUSED_BC;
  return LLVMBuildFDiv(cx->b, fconst(t, 1.0), unary_intrinsic(cx, "llvm.sqrt", t, a), "");
}

static LLVMValueRef sc_TANH(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  return is_float(cx, t) ? cg_math_tanh(cx, a) : cg_libm(cx, "tanh", a, NULL);
}

static LLVMValueRef sc_SIGMOID(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                               LLVMValueRef c) {
  UNUSED_BC;
  LLVMValueRef e = exp_of(cx, t, LLVMBuildFNeg(cx->b, a, ""));
  return LLVMBuildFDiv(cx->b, fconst(t, 1.0), LLVMBuildFAdd(cx->b, fconst(t, 1.0), e, ""), "");
}

static LLVMValueRef sc_RELU(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  return LLVMBuildSelect(cx->b, fcmp(cx, LLVMRealOGT, a, fconst(t, 0.0)), a, fconst(t, 0.0), "");
}

/* 0.5 a (1 + erf(a / sqrt 2)), with 1 + erf(x) as erfc(-x): no cancellation
   for negative a, so float stays close to the evaluator's double. */
static LLVMValueRef sc_GELU(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  LLVMValueRef x = LLVMBuildFMul(cx->b, a, fconst(t, -0.70710678118654752440), "");
  LLVMValueRef half_a = LLVMBuildFMul(cx->b, a, fconst(t, 0.5), "");
  LLVMValueRef phi2 = is_float(cx, t) ? cg_math_erfc(cx, x) : cg_libm(cx, "erfc", x, NULL);
  return LLVMBuildFMul(cx->b, half_a, phi2, "");
}

static LLVMValueRef sc_ERF(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  return is_float(cx, t) ? cg_math_erf(cx, a) : cg_libm(cx, "erf", a, NULL);
}

/* b (Phi(a) + a phi(a)); double: libm's erfc and exp (a phi(a) is 0 at
   +-inf) */
static LLVMValueRef gelu_slope(Cg *cx, LLVMTypeRef t, LLVMValueRef a) {
  if (is_float(cx, t)) return cg_math_gelu_grad(cx, a);
  LLVMBuilderRef bld = cx->b;
  LLVMValueRef z = LLVMBuildFMul(bld, a, fconst(t, -0.70710678118654752440), "");
  LLVMValueRef cdf = LLVMBuildFMul(bld, cg_libm(cx, "erfc", z, NULL), fconst(t, 0.5), "");
  LLVMValueRef x2 = LLVMBuildFMul(bld, a, a, "");
  LLVMValueRef e = exp_of(cx, t, LLVMBuildFMul(bld, x2, fconst(t, -0.5), ""));
  LLVMValueRef pdf = LLVMBuildFMul(bld, e, fconst(t, 0.39894228040143267794), "");
  LLVMValueRef inf = fcmp(cx, LLVMRealOEQ, unary_intrinsic(cx, "llvm.fabs", t, a),
                          fconst(t, __builtin_inf()));
  LLVMValueRef xpdf = LLVMBuildSelect(bld, inf, fconst(t, 0.0), LLVMBuildFMul(bld, a, pdf, ""), "");
  return LLVMBuildFAdd(bld, cdf, xpdf, "");
}

static LLVMValueRef sc_GELU_GRAD(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                                 LLVMValueRef c) {
  UNUSED_C;
  return LLVMBuildFMul(cx->b, b, gelu_slope(cx, t, a), "");
}

static LLVMValueRef sc_ABS(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  return unary_intrinsic(cx, "llvm.fabs", t, a);
}

static LLVMValueRef sc_SIGN(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_BC;
  LLVMValueRef pos = as_float(cx, t, fcmp(cx, LLVMRealOGT, a, fconst(t, 0.0)));
  LLVMValueRef neg = as_float(cx, t, fcmp(cx, LLVMRealOLT, a, fconst(t, 0.0)));
  return LLVMBuildFSub(cx->b, pos, neg, "");
}

static LLVMValueRef sc_CAST(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)cx, (void)t, UNUSED_BC;
  return a;
}

static LLVMValueRef sc_ADD(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)t, UNUSED_C;
  return LLVMBuildFAdd(cx->b, a, b, "");
}

static LLVMValueRef sc_SUB(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)t, UNUSED_C;
  return LLVMBuildFSub(cx->b, a, b, "");
}

static LLVMValueRef sc_MUL(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)t, UNUSED_C;
  return LLVMBuildFMul(cx->b, a, b, "");
}

static LLVMValueRef sc_DIV(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)t, UNUSED_C;
  return LLVMBuildFDiv(cx->b, a, b, "");
}

static LLVMValueRef sc_POW(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_C;
  LLVMValueRef args[2] = {a, b};
  return cg_intrinsic(cx, "llvm.pow", &t, 1, args, 2);
}

static LLVMValueRef sc_MAXIMUM(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                               LLVMValueRef c) {
  (void)t, UNUSED_C;
  return pick_first_or_nan(cx, LLVMRealOGE, a, b);
}

static LLVMValueRef sc_MINIMUM(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                               LLVMValueRef c) {
  (void)t, UNUSED_C;
  return pick_first_or_nan(cx, LLVMRealOLE, a, b);
}

static LLVMValueRef sc_LT(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_C;
  return as_float(cx, t, fcmp(cx, LLVMRealOLT, a, b));
}

static LLVMValueRef sc_LE(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_C;
  return as_float(cx, t, fcmp(cx, LLVMRealOLE, a, b));
}

static LLVMValueRef sc_GT(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_C;
  return as_float(cx, t, fcmp(cx, LLVMRealOGT, a, b));
}

static LLVMValueRef sc_GE(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_C;
  return as_float(cx, t, fcmp(cx, LLVMRealOGE, a, b));
}

static LLVMValueRef sc_EQ(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_C;
  return as_float(cx, t, fcmp(cx, LLVMRealOEQ, a, b));
}

static LLVMValueRef sc_NE(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  UNUSED_C;
  return as_float(cx, t, fcmp(cx, LLVMRealUNE, a, b));
}

/* ir_hash24's bits: operands to 32-bit words (0 outside +-2^31), mixed. */
static LLVMValueRef hash_word(Cg *cx, LLVMTypeRef t, LLVMValueRef v) {
  LLVMTypeRef i64 = LLVMInt64TypeInContext(cx->ctx), i32 = LLVMInt32TypeInContext(cx->ctx);
  LLVMValueRef fits = fcmp(cx, LLVMRealOLT, unary_intrinsic(cx, "llvm.fabs", t, v),
                           fconst(t, 2147483648.0));
  LLVMValueRef w = LLVMBuildTrunc(cx->b, LLVMBuildFPToSI(cx->b, v, i64, ""), i32, "");
  return LLVMBuildSelect(cx->b, fits, w, LLVMConstInt(i32, 0, 0), "");
}

static LLVMValueRef sc_HASH(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                            LLVMValueRef c) {
  UNUSED_C;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(cx->ctx);
  LLVMBuilderRef B = cx->b;
#define K(v) LLVMConstInt(i32, (v), 0)
  LLVMValueRef h = LLVMBuildMul(B, hash_word(cx, t, a), K(0x9E3779B1u), "");
  LLVMValueRef m = LLVMBuildAdd(B, hash_word(cx, t, b), K(0x7F4A7C15u), "");
  m = LLVMBuildAdd(B, m, LLVMBuildShl(B, h, K(6), ""), "");
  m = LLVMBuildAdd(B, m, LLVMBuildLShr(B, h, K(2), ""), "");
  h = LLVMBuildXor(B, h, m, "");
  h = LLVMBuildXor(B, h, LLVMBuildLShr(B, h, K(16), ""), "");
  h = LLVMBuildMul(B, h, K(0x85EBCA6Bu), "");
  h = LLVMBuildXor(B, h, LLVMBuildLShr(B, h, K(13), ""), "");
  h = LLVMBuildMul(B, h, K(0xC2B2AE35u), "");
  h = LLVMBuildXor(B, h, LLVMBuildLShr(B, h, K(16), ""), "");
  return LLVMBuildUIToFP(B, LLVMBuildLShr(B, h, K(8), ""), t, "");
#undef K
}

static LLVMValueRef sc_WHERE(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b,
                             LLVMValueRef c) {
  return LLVMBuildSelect(cx->b, fcmp(cx, LLVMRealUNE, a, fconst(t, 0.0)), b, c, "");
}

static LLVMValueRef sc_SUM(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)t, UNUSED_C;
  return LLVMBuildFAdd(cx->b, a, b, "");
}

/* The max reduction's combiner is IEEE 754-2019 maximum (nan wins, +0 above
   -0): no tie to break, so it folds in any order, and LLVM vectorizes a row
   of it (pick_first_or_nan's select, which maximum and minimum keep, left
   softmax's row max a scalar loop). */
static LLVMValueRef sc_MAX(Cg *cx, LLVMTypeRef t, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  (void)t, UNUSED_C;
  LLVMTypeRef vt = LLVMTypeOf(a); /* a vector where a kernel folds several results at once */
  LLVMValueRef args[2] = {a, b};
  return cg_intrinsic(cx, "llvm.maximum", &vt, 1, args, 2);
}
