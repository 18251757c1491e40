#!/usr/bin/env python3
"""scikit-learn's side of bench/train.ts: the same synthetic matrix (.npy), the same L2 row
normalisation, class-balanced loss, lambda grid (C = 1 / (lambda * training rows)), stratified fold
count, balanced-accuracy selection and iteration cap, then a refit and the held-out accuracy.
Threads: set OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS before starting it.

Usage: python3 bench/train_sklearn.py <dir> '{"lambdas": [...], "folds": 3, "tol": 1e-5, "max_iter": 1000}'
Prints one JSON line: {"ms", "peakRssMb", "accuracy", "lambda"}.
"""
import json
import resource
import sys
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

warnings.simplefilter("ignore")


def main():
    folder, options = sys.argv[1], json.loads(sys.argv[2])
    x = np.load(f"{folder}/x_train.npy")
    y = np.load(f"{folder}/y_train.npy")
    xt = np.load(f"{folder}/x_test.npy")
    yt = np.load(f"{folder}/y_test.npy")
    started = time.perf_counter()
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    lambdas = options["lambdas"]
    folds = options["folds"]
    n_fit = len(y) * (folds - 1) / folds
    model = LogisticRegressionCV(
        Cs=[1.0 / (lam * n_fit) for lam in lambdas],
        cv=StratifiedKFold(folds, shuffle=True, random_state=0),
        scoring="balanced_accuracy",
        class_weight="balanced",
        solver="lbfgs",
        tol=options.get("tol", 1e-5),
        max_iter=options.get("max_iter", 1000),
        n_jobs=1,
    ).fit(x, y)
    ms = (time.perf_counter() - started) * 1000
    xt = xt / np.maximum(np.linalg.norm(xt, axis=1, keepdims=True), 1e-12)
    accuracy = float((model.predict(xt) == yt).mean())
    chosen_c = float(np.atleast_1d(model.C_)[0])
    print(json.dumps({
        "ms": ms,
        "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "accuracy": accuracy,
        "lambda": 1.0 / (chosen_c * n_fit),
    }))


if __name__ == "__main__":
    main()
