/* cg_math.c -- exp, log, erf, erfc and tanh for float, as straight-line
   arithmetic (polynomials, selects, bit tricks) that the loop vectorizer
   turns into vector code, where libm calls would stay one element at a
   time. Accuracy is a few ulp (exp, log: Cephes expf/logf; tanh: Cephes
   tanhf; erfc: Numerical Recipes' erfcc form with our own fit, fractional
   error 2.3e-8 plus float rounding, and about z^2 2^-24 more where its
   exponent is large; erf: its Taylor series below 0.5; gelu_grad: erfc's
   exp shared with the density). NaN, infinities, zeros and denormals
   behave as in libm. Double keeps the intrinsics and libm (cg_scalar.c). */
#include "cg_int.h"

static LLVMValueRef fc(Cg *cx, double v) { return LLVMConstReal(cx->t_f32, v); }
static LLVMValueRef ic(Cg *cx, int v) {
  return LLVMConstInt(cx->t_i32, (unsigned long long)(int64_t)v, 1);
}

static LLVMValueRef fadd(Cg *cx, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(cx->b, a, b, "");
}
static LLVMValueRef fsub(Cg *cx, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFSub(cx->b, a, b, "");
}
static LLVMValueRef fmul(Cg *cx, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFMul(cx->b, a, b, "");
}

static LLVMValueRef call1(Cg *cx, const char *name, LLVMValueRef a) {
  LLVMTypeRef t = cx->t_f32;
  return cg_intrinsic(cx, name, &t, 1, &a, 1);
}

/* a * b + c, fused where the target has FMA */
static LLVMValueRef muladd(Cg *cx, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMTypeRef t = cx->t_f32;
  LLVMValueRef args[3] = {a, b, c};
  return cg_intrinsic(cx, "llvm.fmuladd", &t, 1, args, 3);
}

/* c[0] x^(n-1) + ... + c[n-1], by Horner */
static LLVMValueRef poly(Cg *cx, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef p = fc(cx, c[0]);
  for (int i = 1; i < n; i++)
    p = muladd(cx, p, x, fc(cx, c[i]));
  return p;
}

static LLVMValueRef sel(Cg *cx, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cx->b, c, a, b, "");
}

static LLVMValueRef cmp(Cg *cx, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(cx->b, p, a, b, "");
}

static LLVMValueRef is_nan(Cg *cx, LLVMValueRef x) { return cmp(cx, LLVMRealUNO, x, x); }

/* 2^e for e in [-126, 127], from its exponent bits */
static LLVMValueRef pow2(Cg *cx, LLVMValueRef e) {
  LLVMValueRef bits = LLVMBuildShl(cx->b, LLVMBuildAdd(cx->b, e, ic(cx, 127), ""), ic(cx, 23), "");
  return LLVMBuildBitCast(cx->b, bits, cx->t_f32, "");
}

/* e^x = 2^n e^r with n = rint(x log2 e), r = x - n ln 2 in two parts;
   2^n applied as two factors so denormal results stay exact. */
LLVMValueRef cg_math_exp(Cg *cx, LLVMValueRef x) {
  static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                             4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMValueRef xs = sel(cx, is_nan(cx, x), fc(cx, 0), x);
  xs = sel(cx, cmp(cx, LLVMRealOGT, xs, fc(cx, 89)), fc(cx, 89), xs);
  xs = sel(cx, cmp(cx, LLVMRealOLT, xs, fc(cx, -104)), fc(cx, -104), xs);
  LLVMValueRef n = call1(cx, "llvm.rint", fmul(cx, xs, fc(cx, 1.44269504088896341)));
  LLVMValueRef r = muladd(cx, n, fc(cx, -0.693359375), xs);
  r = muladd(cx, n, fc(cx, 2.12194440e-4), r);
  LLVMValueRef y = fmul(cx, fmul(cx, poly(cx, r, p, 6), r), r);
  y = fadd(cx, fadd(cx, y, r), fc(cx, 1));
  LLVMValueRef e = LLVMBuildFPToSI(cx->b, n, cx->t_i32, "");
  LLVMValueRef e1 = LLVMBuildAShr(cx->b, e, ic(cx, 1), ""), e2 = LLVMBuildSub(cx->b, e, e1, "");
  LLVMValueRef res = fmul(cx, fmul(cx, y, pow2(cx, e1)), pow2(cx, e2));
  res = sel(cx, cmp(cx, LLVMRealOGT, x, fc(cx, 88.72283935546875)), fc(cx, __builtin_inf()), res);
  res = sel(cx, cmp(cx, LLVMRealOLT, x, fc(cx, -103.972084045410)), fc(cx, 0), res);
  return sel(cx, is_nan(cx, x), x, res);
}

/* log x = e ln 2 + log m, m in [sqrt(1/2), sqrt 2) */
LLVMValueRef cg_math_log(Cg *cx, LLVMValueRef x) {
  static const double p[] = {7.0376836292E-2,  -1.1514610310E-1, 1.1676998740E-1,
                             -1.2420140846E-1, 1.4249322787E-1,  -1.6668057665E-1,
                             2.0000714765E-1,  -2.4999993993E-1, 3.3333331174E-1};
  LLVMValueRef denorm = cmp(cx, LLVMRealOLT, x, fc(cx, 1.17549435e-38));
  LLVMValueRef xs = sel(cx, denorm, fmul(cx, x, fc(cx, 8388608.0)), x);
  LLVMValueRef bits = LLVMBuildBitCast(cx->b, xs, cx->t_i32, "");
  LLVMValueRef e =
      LLVMBuildAnd(cx->b, LLVMBuildLShr(cx->b, bits, ic(cx, 23), ""), ic(cx, 0xff), "");
  e = LLVMBuildSub(cx->b, e, sel(cx, denorm, ic(cx, 126 + 23), ic(cx, 126)), "");
  LLVMValueRef mbits =
      LLVMBuildOr(cx->b, LLVMBuildAnd(cx->b, bits, ic(cx, 0x007fffff), ""), ic(cx, 0x3f000000), "");
  LLVMValueRef m = LLVMBuildBitCast(cx->b, mbits, cx->t_f32, "");
  LLVMValueRef low = cmp(cx, LLVMRealOLT, m, fc(cx, 0.707106781186547524));
  e = LLVMBuildSub(cx->b, e, LLVMBuildZExt(cx->b, low, cx->t_i32, ""), "");
  m = fsub(cx, sel(cx, low, fadd(cx, m, m), m), fc(cx, 1));
  LLVMValueRef z = fmul(cx, m, m);
  LLVMValueRef y = fmul(cx, fmul(cx, poly(cx, m, p, 9), m), z);
  LLVMValueRef ef = LLVMBuildSIToFP(cx->b, e, cx->t_f32, "");
  y = muladd(cx, ef, fc(cx, -2.12194440e-4), y);
  y = muladd(cx, z, fc(cx, -0.5), y);
  LLVMValueRef res = muladd(cx, ef, fc(cx, 0.693359375), fadd(cx, m, y));
  res = sel(cx, cmp(cx, LLVMRealOEQ, x, fc(cx, __builtin_inf())), x, res);
  res = sel(cx, cmp(cx, LLVMRealOEQ, x, fc(cx, 0)), fc(cx, -__builtin_inf()), res);
  res = sel(cx, cmp(cx, LLVMRealOLT, x, fc(cx, 0)), fc(cx, __builtin_nan("")), res);
  return sel(cx, is_nan(cx, x), x, res);
}

/* erfc |z| = t e^(-z^2) R(t), t = 1 / (1 + |z|/2), where R (the form of
   Numerical Recipes' erfcc, e^P(t) there) is our least-squares fit of
   erfc(z) e^(z^2) / t over z in [0, 10.5], relative error 2.3e-8 in double;
   erfc(-z) = 2 - erfc z. e^(-z^2) in float: where z^2 is large its rounding
   adds a relative error of about z^2 2^-24 to values that are tiny by then
   (erfc 3 = 2e-5); gelu through it stays within 2e-6 of double over
   [-5, 12]. *e gets e^(-z^2) for the density (gelu_grad). */
static LLVMValueRef erfc_abs(Cg *cx, LLVMValueRef ax, LLVMValueRef *e) {
  static const double r[] = {0.0105913403, -0.114336637, 0.408671007, -0.644059381,
                             0.400645109,  -0.0878126364, 0.222124105, 0.239327863,
                             0.282781143,  0.282068065};
  LLVMValueRef t = LLVMBuildFDiv(cx->b, fc(cx, 1), muladd(cx, ax, fc(cx, 0.5), fc(cx, 1)), "");
  LLVMValueRef ez = cg_math_exp(cx, LLVMBuildFNeg(cx->b, fmul(cx, ax, ax), ""));
  if (e) *e = ez;
  LLVMValueRef ans = fmul(cx, fmul(cx, t, ez), poly(cx, t, r, 10));
  /* erfc |z| rounds to 0 beyond 10.5 */
  return sel(cx, cmp(cx, LLVMRealOGT, ax, fc(cx, 10.5)), fc(cx, 0), ans);
}

LLVMValueRef cg_math_erfc(Cg *cx, LLVMValueRef x) {
  LLVMValueRef ans = erfc_abs(cx, call1(cx, "llvm.fabs", x), NULL);
  return sel(cx, cmp(cx, LLVMRealOLT, x, fc(cx, 0)), fsub(cx, fc(cx, 2), ans), ans);
}

/* |x| < 1/2: the Taylor series of erf; else sign(x) (1 - erfc |x|), where
   erfc |x| <= 0.48 is subtracted from 1: its relative error moves erf by
   less than erf's own rounding. */
LLVMValueRef cg_math_erf(Cg *cx, LLVMValueRef x) {
  const double c0 = 1.1283791670955126; /* 2 / sqrt(pi) */
  const double p[] = {-c0 / 1320, c0 / 216, -c0 / 42, c0 / 10, -c0 / 3, c0};
  LLVMValueRef ax = call1(cx, "llvm.fabs", x);
  LLVMValueRef series = fmul(cx, x, poly(cx, fmul(cx, x, x), p, 6));
  LLVMValueRef big = fsub(cx, fc(cx, 1), erfc_abs(cx, ax, NULL));
  LLVMTypeRef t = cx->t_f32;
  LLVMValueRef args[2] = {big, x};
  big = cg_intrinsic(cx, "llvm.copysign", &t, 1, args, 2);
  return sel(cx, cmp(cx, LLVMRealOLT, ax, fc(cx, 0.5)), series, big);
}

/* gelu'(x) = Phi(x) + x phi(x): Phi from erfc(|x| / sqrt 2) and phi from
   the e^(-x^2 / 2) inside it (one exp where erf and exp took two and a
   series); x phi(x) is 0 at +-inf. */
LLVMValueRef cg_math_gelu_grad(Cg *cx, LLVMValueRef x) {
  LLVMValueRef ax = call1(cx, "llvm.fabs", x), e;
  LLVMValueRef tail = fmul(cx, erfc_abs(cx, fmul(cx, ax, fc(cx, 0.70710678118654752440)), &e),
                           fc(cx, 0.5)); /* Phi(-|x|) */
  LLVMValueRef cdf = sel(cx, cmp(cx, LLVMRealOLT, x, fc(cx, 0)), tail, fsub(cx, fc(cx, 1), tail));
  LLVMValueRef xpdf = fmul(cx, x, fmul(cx, e, fc(cx, 0.39894228040143267794)));
  xpdf = sel(cx, cmp(cx, LLVMRealOEQ, ax, fc(cx, __builtin_inf())), fc(cx, 0), xpdf);
  return fadd(cx, cdf, xpdf);
}

/* |x| < 0.625: x + x^3 P(x^2); else sign(x) (1 - 2 / (e^(2|x|) + 1)) */
LLVMValueRef cg_math_tanh(Cg *cx, LLVMValueRef x) {
  static const double p[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                             1.33314422036E-1, -3.33332819422E-1};
  LLVMValueRef ax = call1(cx, "llvm.fabs", x);
  LLVMValueRef x2 = fmul(cx, x, x);
  LLVMValueRef series = muladd(cx, fmul(cx, x, x2), poly(cx, x2, p, 5), x);
  LLVMValueRef e = cg_math_exp(cx, fadd(cx, ax, ax));
  LLVMValueRef big =
      fsub(cx, fc(cx, 1), LLVMBuildFDiv(cx->b, fc(cx, 2), fadd(cx, e, fc(cx, 1)), ""));
  LLVMTypeRef t = cx->t_f32;
  LLVMValueRef args[2] = {big, x};
  big = cg_intrinsic(cx, "llvm.copysign", &t, 1, args, 2);
  return sel(cx, cmp(cx, LLVMRealOLT, ax, fc(cx, 0.625)), series, big);
}
