#!/usr/bin/env python3
"""LogME reference: Algorithm 1 of You et al. (ICML 2021) written directly from the paper with
numpy's full SVD, for checking src/transfer/logme.ts. Not used by the product.

No shortcuts: sigma holds all D eigenvalues of F^T F (the squared singular values, padded with
zeros up to D), m is computed as beta * V diag(1/(alpha + beta sigma)) V^T F^T y with the full V
(the paper's "optimized" line; V^T F^T y taken from the SVD factors as S^T U^T y),
the residual as |F m - y|^2 directly, and log|A| as the sum of log(alpha + beta sigma_i) over all D.
The fixed point runs until alpha and beta change by less than 1e-10 relative (the paper says
"until convergence"), or until the evidence (Eq. 2) changes by less than 1e-14 relative: when the
maximum lies on the boundary (alpha or beta -> infinity) the parameters never settle but the
evidence converges to its supremum. The evidence is reported at the final alpha, beta.

Usage: python3 bench/logme_reference.py FEATURES.f32 LABELS.i32 N D
  FEATURES.f32: N*D little-endian float32, row-major; LABELS.i32: N little-endian int32 (0..K-1).
Prints JSON: {"score": ..., "perClass": [...], "alphas": [...], "betas": [...], "iterations": [...]}.
"""
import json
import sys

import numpy as np


def logme_reference(F, labels, tolerance=1e-10, max_iterations=10000):
    F = F.astype(np.float64)
    n, D = F.shape
    # Full SVD: U is n x n, Vt is D x D.
    U, S, Vt = np.linalg.svd(F, full_matrices=True)
    V = Vt.T
    sigma = np.zeros(D)
    sigma[: S.shape[0]] = S ** 2
    classes = int(labels.max()) + 1
    per_class, alphas, betas, iterations = [], [], [], []
    for k in range(classes):
        y = (labels == k).astype(np.float64)
        # V^T F^T y, from the factors: S^T U^T y. Exactly zero along the D - rank null directions of
        # F, where V^T (F^T y) computed as a product would hold round-off that beta / alpha (up to
        # 1e10 when the maximum is at beta -> infinity) blows up into m.
        VtFty = np.zeros(D)
        VtFty[: S.shape[0]] = S * (U[:, : S.shape[0]].T @ y)

        def posterior(alpha, beta):
            m = beta * (V @ (VtFty / (alpha + beta * sigma)))
            residual = float(np.sum((F @ m - y) ** 2))
            return m, residual

        def evidence_at(alpha, beta):
            m, residual = posterior(alpha, beta)
            return (
                n / 2 * np.log(beta)
                + D / 2 * np.log(alpha)
                - n / 2 * np.log(2 * np.pi)
                - beta / 2 * residual
                - alpha / 2 * float(m @ m)
                - 0.5 * float(np.sum(np.log(alpha + beta * sigma)))
            )

        alpha, beta = 1.0, 1.0
        if not np.any(VtFty):
            # F^T y = 0: m = 0 for every alpha, alpha -> infinity, and the evidence is that of noise
            # alone with beta = n / |y|^2.
            beta = n / float(y @ y)
            per_class.append(float(n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi) - n / 2) / n)
            alphas.append(float("inf"))
            betas.append(beta)
            iterations.append(0)
            continue
        evidence = evidence_at(alpha, beta)
        it = 0
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            while it < max_iterations:
                gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
                m, residual = posterior(alpha, beta)
                new_alpha = gamma / float(m @ m)
                new_beta = (n - gamma) / residual
                it += 1
                if not (np.isfinite(new_alpha) and np.isfinite(new_beta) and new_alpha > 0 and new_beta > 0):
                    break
                new_evidence = evidence_at(new_alpha, new_beta)
                if not np.isfinite(new_evidence):
                    break
                settled = abs(new_alpha - alpha) <= tolerance * alpha and abs(new_beta - beta) <= tolerance * beta
                # The maximum may lie at alpha or beta -> infinity, where they never settle but the
                # evidence reaches its supremum.
                flat = abs(new_evidence - evidence) <= 1e-14 * max(1.0, abs(evidence))
                alpha, beta, evidence = new_alpha, new_beta, new_evidence
                if settled or flat:
                    break
        per_class.append(float(evidence) / n)
        alphas.append(alpha)
        betas.append(beta)
        iterations.append(it)
    return {"score": float(np.mean(per_class)), "perClass": per_class, "alphas": alphas, "betas": betas, "iterations": iterations}


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    features_path, labels_path, n, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    F = np.fromfile(features_path, dtype="<f4").reshape(n, d)
    labels = np.fromfile(labels_path, dtype="<i4")
    if labels.shape[0] != n:
        sys.exit(f"{labels.shape[0]} labels for {n} rows")
    print(json.dumps(logme_reference(F, labels)))


if __name__ == "__main__":
    main()
