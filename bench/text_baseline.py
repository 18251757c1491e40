#!/usr/bin/env python3
"""scikit-learn reference for bench/text.ts, on the very same CSV files that bench wrote.

TF-IDF of word 1-2-grams + char_wb 2-5-grams (two TfidfVectorizers in a FeatureUnion, scikit-learn
defaults otherwise) and LogisticRegression (lbfgs, multinomial, L2). C is chosen by stratified
5-fold CV (accuracy) over --cs (LogisticRegressionCV), then refitted on all training rows; with one
value in --cs it is simply that C (the quick mode of the benchmark).

Tasks (files in --dir, columns text,label):
  banking77_full:  banking77_train.csv -> banking77_test.csv
  banking77_10:    banking77_train10.csv -> banking77_test.csv
  clinc150:        clinc150_train.csv -> clinc150_test.csv (in-scope), plus out-of-domain: the
                   "1 - max probability" score thresholded at <= 5% false alarms on the in-scope test
                   queries, recall on clinc150_oos_test.csv.

Threads: BLAS/OpenMP limited to --threads (set before numpy loads).
Output: JSON on --out. Exit code 3 when numpy or scikit-learn is missing.

Usage: python3 bench/text_baseline.py --dir .bench/text --out .bench/text/sklearn.json [--cs 1,3,10,30,100] [--threads 1]
"""
import argparse
import csv
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cs", default="1,3.16,10,31.6,100")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tasks", default="banking77_full,banking77_10,clinc150")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    try:
        import numpy as np
        import sklearn
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_union
    except ImportError as error:  # pragma: no cover - depends on the machine
        print(f"text_baseline: {error}. Install with: pip install scikit-learn numpy", file=sys.stderr)
        return 3

    cs = [float(c) for c in args.cs.split(",")]

    def load(name):
        with open(os.path.join(args.dir, name), newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [r["text"] for r in rows], [r["label"] for r in rows]

    def fit(train_file):
        texts, labels = load(train_file)
        started = time.perf_counter()
        union = make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2)),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)),
        )
        x = union.fit_transform(texts)
        featurized = time.perf_counter()
        if len(cs) == 1:
            model = LogisticRegression(C=cs[0], max_iter=1000).fit(x, labels)
            chosen = cs[0]
        else:
            cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
            model = LogisticRegressionCV(Cs=cs, cv=cv, max_iter=1000, scoring="accuracy").fit(x, labels)
            chosen = float(model.C_[0])
        done = time.perf_counter()
        info = {"features": int(x.shape[1]), "rows": int(x.shape[0]), "C": chosen, "featurizeSeconds": featurized - started, "fitSeconds": done - featurized}
        return union, model, info

    def accuracy(union, model, test_file):
        texts, labels = load(test_file)
        predicted = model.predict(union.transform(texts))
        return float(np.mean(np.array(predicted) == np.array(labels))), len(labels)

    results = {"sklearn": sklearn.__version__, "threads": args.threads, "cs": cs, "tasks": {}}
    for task in args.tasks.split(","):
        if task == "banking77_full" or task == "banking77_10":
            union, model, info = fit("banking77_train.csv" if task == "banking77_full" else "banking77_train10.csv")
            acc, n = accuracy(union, model, "banking77_test.csv")
            results["tasks"][task] = {"accuracy": acc, "test": n, **info}
        elif task == "clinc150":
            union, model, info = fit("clinc150_train.csv")
            acc, n = accuracy(union, model, "clinc150_test.csv")
            in_texts, _ = load("clinc150_test.csv")
            oos_texts, _ = load("clinc150_oos_test.csv")
            in_scores = 1 - model.predict_proba(union.transform(in_texts)).max(axis=1)
            oos_scores = 1 - model.predict_proba(union.transform(oos_texts)).max(axis=1)
            # The highest threshold that flags at most 5% of in-scope queries: flag when score > t.
            t = float(np.quantile(in_scores, 0.95, method="higher"))
            false_alarms = float(np.mean(in_scores > t))
            recall = float(np.mean(oos_scores > t))
            results["tasks"][task] = {"accuracy": acc, "test": n, **info, "ood": {"threshold": t, "falseAlarms": false_alarms, "recall": recall, "oosTest": len(oos_texts)}}
        else:
            print(f"text_baseline: unknown task {task}", file=sys.stderr)
            return 2
        print(f"sklearn {task}: {json.dumps(results['tasks'][task])}", file=sys.stderr, flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
