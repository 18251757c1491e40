#!/usr/bin/env python3
"""scikit-learn reference for bench/text.ts, on the very same CSV files that bench wrote.

TF-IDF of word 1-2-grams + char_wb 2-5-grams (two TfidfVectorizers in a FeatureUnion, scikit-learn
defaults otherwise) and LogisticRegression (lbfgs, multinomial, L2). C is chosen by stratified k-fold
CV over the grid (LogisticRegressionCV), then refitted on all training rows; with one value in the
grid it is simply that C (the quick mode of the benchmark).

Equal terms with headstart's sparse head (the defaults): the grid is headstart's lambdas (--lambdas)
as C = 1 / (2 lambda n) for each task's n training rows (headstart's rows have norm 1, these sqrt 2:
see SPARSE_LAMBDAS in src/text/sparseHead.ts), class_weight balanced, balanced-accuracy scoring,
lbfgs at tol 1e-4 (headstart's cross-validation tolerance; its refit goes to 1e-5) and max_iter 500,
and headstart's very folds when --plan gives them ({task: {folds: k, foldOf: [fold of each row]}}),
else StratifiedKFold(--folds). One difference is left: LogisticRegressionCV fits every fold at the
refit's C, i.e. at lambda n / n_fold (1.5 times the refit's with 3 folds), where headstart keeps lambda.
--cs overrides the grid with fixed Cs; --sklearn-defaults uses scikit-learn's own defaults
(no class weights, accuracy scoring) to reproduce the issue's reference figures.

Tasks (files in --dir, columns text,label):
  banking77_full:  banking77_train.csv -> banking77_test.csv
  banking77_10:    banking77_train10.csv -> banking77_test.csv
  clinc150:        clinc150_train.csv -> clinc150_test.csv (in-scope), plus out-of-domain: the
                   "1 - max probability" score thresholded at <= 5% false alarms on the in-scope test
                   queries, recall on clinc150_oos_test.csv; the same at scikit-learn's default C=1
                   (LogisticRegression(max_iter=1000), otherwise as is), fitted apart and not counted
                   in the fit time; each also at <= 10% false alarms, the rate at which this
                   configuration gives the issue's 87.7% (87.8% measured; 75.3% at 5%).

Threads: BLAS/OpenMP limited to --threads (set before numpy loads).
Output: JSON on --out. Exit code 3 when numpy or scikit-learn is missing.

Usage: python3 bench/text_baseline.py --dir .bench/text --out .bench/text/sklearn.json [--lambdas 1e-4,3e-5,1e-5,3e-6]
         [--plan plan.json | --folds 5] [--cs 10] [--sklearn-defaults] [--threads 1]
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
    parser.add_argument("--lambdas", default="1e-4,3e-5,1e-5,3e-6")
    parser.add_argument("--cs", default=None)
    parser.add_argument("--plan", default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--sklearn-defaults", action="store_true")
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
        import inspect
        from sklearn.pipeline import make_union
    except ImportError as error:  # pragma: no cover - depends on the machine
        print(f"text_baseline: {error}. Install with: pip install scikit-learn numpy", file=sys.stderr)
        return 3

    fixed_cs = [float(c) for c in args.cs.split(",")] if args.cs else None
    lambdas = [float(v) for v in args.lambdas.split(",")]
    plan = {}
    if args.plan:
        with open(args.plan, encoding="utf-8") as f:
            plan = json.load(f)
    class_weight = None if args.sklearn_defaults else "balanced"
    scoring = "accuracy" if args.sklearn_defaults else "balanced_accuracy"
    # scikit-learn 1.8 deprecates l1_ratios=None and the legacy attributes; older versions lack both.
    cv_extra = {}
    cv_params = inspect.signature(LogisticRegressionCV).parameters
    if "use_legacy_attributes" in cv_params:
        cv_extra = {"l1_ratios": (0.0,), "use_legacy_attributes": False}

    def load(name):
        with open(os.path.join(args.dir, name), newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [r["text"] for r in rows], [r["label"] for r in rows]

    def fit(task, train_file):
        texts, labels = load(train_file)
        # Strong to weak, as headstart's path (LogisticRegressionCV warm-starts along the grid in order).
        cs = fixed_cs or sorted(1 / (2 * lam * len(texts)) for lam in lambdas)
        started = time.perf_counter()
        union = make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2)),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)),
        )
        x = union.fit_transform(texts)
        featurized = time.perf_counter()
        task_plan = plan.get(task, {})
        fold_of = task_plan.get("foldOf")
        folds = int(task_plan.get("folds", args.folds))
        if fold_of is not None:
            fold_of = np.asarray(fold_of)
            cv = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(folds)]
        else:
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        terms = {"class_weight": class_weight, "tol": args.tol, "max_iter": args.max_iter}
        if len(cs) == 1:
            model = LogisticRegression(C=cs[0], **terms).fit(x, labels)
            chosen = cs[0]
            fits = 1
        else:
            model = LogisticRegressionCV(Cs=cs, cv=cv, scoring=scoring, **terms, **cv_extra).fit(x, labels)
            chosen = float(np.ravel(model.C_)[0])
            fits = len(cs) * folds + 1
        done = time.perf_counter()
        info = {
            "features": int(x.shape[1]),
            "rows": int(x.shape[0]),
            "C": chosen,
            "cs": cs,
            "folds": folds if len(cs) > 1 else 0,
            "sameFolds": fold_of is not None,
            "fits": fits,
            "classWeight": class_weight,
            "scoring": scoring,
            "tol": args.tol,
            "featurizeSeconds": featurized - started,
            "fitSeconds": done - featurized,
        }
        return union, model, x, labels, info

    def accuracy(union, model, test_file):
        texts, labels = load(test_file)
        predicted = model.predict(union.transform(texts))
        return float(np.mean(np.array(predicted) == np.array(labels))), len(labels)

    results = {"sklearn": sklearn.__version__, "threads": args.threads, "lambdas": lambdas, "cs": fixed_cs, "tasks": {}}
    for task in args.tasks.split(","):
        if task == "banking77_full" or task == "banking77_10":
            union, model, _, _, info = fit(task, "banking77_train.csv" if task == "banking77_full" else "banking77_train10.csv")
            acc, n = accuracy(union, model, "banking77_test.csv")
            results["tasks"][task] = {"accuracy": acc, "test": n, **info}
        elif task == "clinc150":
            union, model, x, labels, info = fit(task, "clinc150_train.csv")
            acc, n = accuracy(union, model, "clinc150_test.csv")
            in_texts, _ = load("clinc150_test.csv")
            oos_texts, _ = load("clinc150_oos_test.csv")
            x_in, x_oos = union.transform(in_texts), union.transform(oos_texts)

            def at_test_rate(m):
                """1 - max probability, flagged above the in-scope test queries' 95% quantile (flag when score > t)."""
                in_scores = 1 - m.predict_proba(x_in).max(axis=1)
                oos_scores = 1 - m.predict_proba(x_oos).max(axis=1)
                t = float(np.quantile(in_scores, 0.95, method="higher"))
                # And at <= 10%: the rate of the 87.7% reference (scikit-learn at C = 1 gives 87.8% there).
                t10 = float(np.quantile(in_scores, 0.90, method="higher"))
                return {"threshold": t, "falseAlarms": float(np.mean(in_scores > t)), "recall": float(np.mean(oos_scores > t)), "recallAt10": float(np.mean(oos_scores > t10)), "falseAlarmsAt10": float(np.mean(in_scores > t10)), "oosTest": len(oos_texts)}

            default_c = at_test_rate(LogisticRegression(max_iter=1000).fit(x, labels))
            results["tasks"][task] = {"accuracy": acc, "test": n, **info, "ood": at_test_rate(model), "oodDefaultC": default_c}
        else:
            print(f"text_baseline: unknown task {task}", file=sys.stderr)
            return 2
        print(f"sklearn {task}: {json.dumps(results['tasks'][task])}", file=sys.stderr, flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
