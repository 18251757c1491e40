#!/usr/bin/env python3
"""scikit-learn reference for bench/accuracy.ts, on the very same cached embeddings.

For each dataset: LogisticRegressionCV (lbfgs, multinomial for K > 2, L2), C chosen by stratified
5-fold CV (accuracy) over np.logspace(-2, 2, 9) = 0.01 .. 100, refit on all training rows,
max_iter 10000, default (unweighted) classes. It runs twice per dataset, on
  - l2:           rows divided by their L2 norm (what headstart's head does), and
  - standardized: StandardScaler fitted on the training rows (the usual scikit-learn recipe).

Input: a JSON manifest [{"name", "train": {"data", "meta"}, "test": {"data", "meta"}}] where data
is raw little-endian float32 [n, d] and meta a JSON file with "dims" and "labels".
Output: JSON results on --out. Exit code 3 when numpy or scikit-learn is missing.

Usage: python3 bench/sklearn_baseline.py --manifest .bench/run/manifest.json --out .bench/run/sklearn.json
"""
import argparse
import json
import sys
import time
import warnings

try:
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler
except ImportError as error:  # pragma: no cover - depends on the machine
    print(f"sklearn_baseline: {error}. Install with: pip install scikit-learn numpy", file=sys.stderr)
    sys.exit(3)

CS = np.logspace(-2, 2, 9)
# scikit-learn 1.9 announces default changes (scoring, l1_ratios, fitted attributes) that do not
# affect this L2 + accuracy setup; scoring is passed explicitly below.
warnings.simplefilter("ignore", FutureWarning)


def load(split):
    with open(split["meta"], encoding="utf-8") as f:
        meta = json.load(f)
    n, d = meta["dims"]
    x = np.fromfile(split["data"], dtype="<f4").reshape(n, d).astype(np.float64)
    return x, np.asarray(meta["labels"], dtype=np.int64)


def prepare(variant, x_train, x_test):
    if variant == "l2":
        norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return norm(x_train), norm(x_test)
    if variant == "standardized":
        scaler = StandardScaler().fit(x_train)
        return scaler.transform(x_train), scaler.transform(x_test)
    raise ValueError(variant)


def run(dataset, variant):
    x_train, y_train = load(dataset["train"])
    x_test, y_test = load(dataset["test"])
    started = time.perf_counter()
    a_train, a_test = prepare(variant, x_train, x_test)
    model = LogisticRegressionCV(
        Cs=CS,
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
        solver="lbfgs",
        scoring="accuracy",
        max_iter=10000,
        n_jobs=1,
    )
    model.fit(a_train, y_train)
    fit_seconds = time.perf_counter() - started
    predicted = model.predict(a_test)
    return {
        "dataset": dataset["name"],
        "variant": variant,
        "C": float(np.atleast_1d(model.C_)[0]),
        "accuracy": float(accuracy_score(y_test, predicted)),
        "macroF1": float(f1_score(y_test, predicted, average="macro")),
        "fitSeconds": fit_seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--variants", default="l2,standardized")
    args = parser.parse_args()
    with open(args.manifest, encoding="utf-8") as f:
        datasets = json.load(f)
    results = []
    for dataset in datasets:
        for variant in args.variants.split(","):
            result = run(dataset, variant)
            print(f"sklearn {result['dataset']} [{variant}]: acc {result['accuracy']:.4f} C={result['C']:g} "
                  f"fit {result['fitSeconds']:.1f} s", file=sys.stderr)
            results.append(result)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"sklearn": sklearn.__version__, "numpy": np.__version__, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
