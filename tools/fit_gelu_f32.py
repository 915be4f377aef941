#!/usr/bin/env python3
"""Fits the float GELU (erf form) polynomial of src/ManagedEmbed.Kernels/SimdMath512.cs (GeluErf, float lanes).

erfc(z) = t * exp(-z^2) * g(z), t = 1/(1 + A z), z = |x|/sqrt(2); g = erfcx(z)/t is fitted as a degree-DEG
polynomial in t on z in [0, ZMAX] (beyond ZMAX = 9.4, exp(-x^2/2) is below float.MinNormal and the result flushes),
by weighted least squares with Lawson reweighting toward minimax relative error. The reference is Python's
math.erfc (double). Prints the fit's relative error, a float32 simulation of the kernel's evaluation (FMA Horner),
and the coefficients highest degree first, as pasted into the template. Usage: /usr/bin/python3 tools/fit_gelu_f32.py
"""
import math
import numpy as np

A, DEG, ZMAX = 0.5, 9, 9.4

zs = np.linspace(0, ZMAX, 100001).astype(np.float32)
zd = zs.astype(np.float64)
erfcx = np.array([math.exp(z * z) * math.erfc(z) for z in zd])
t = 1 / (1 + A * zd)
g = erfcx / t
V = np.vander(t, DEG + 1, increasing=True)
w = 1 / g
for _ in range(20):
    c, *_ = np.linalg.lstsq(V * w[:, None], g * w, rcond=None)
    err = (V @ c - g) / g
    w = w * (np.abs(err) / np.abs(err).max() + 1e-3) ** 0.5
c, *_ = np.linalg.lstsq(V * w[:, None], g * w, rcond=None)
c32 = c.astype(np.float32)

# float32 simulation: t from the float z, Horner with one rounding per step (FMA), times t.
tf = (np.float32(1) / (np.float32(1) + np.float32(A) * zs)).astype(np.float32)
p = np.float32(c32[-1])
for ci in c32[-2::-1]:
    p = (p.astype(np.float64) * tf.astype(np.float64) + np.float64(ci)).astype(np.float32)
r = (p.astype(np.float64) * tf).astype(np.float32)
print(f"fit max relative error {np.abs(V @ c / g - 1).max():.3e}; float32 evaluation {np.abs(r / erfcx - 1).max():.3e}")
print("coefficients, highest degree first:")
print(", ".join(repr(float(ci)) + "f" for ci in c32[::-1]))
