#!/usr/bin/env python3
"""Out-of-domain scores for the TF-IDF text classifier, compared on clinc150 with scikit-learn.

Which score should a TF-IDF model flag out-of-scope queries with? This script measures the
candidates on clinc150 (150 intents; 1,000 out-of-scope test queries), with the features of
bench/text_baseline.py (TF-IDF word 1-2 + char_wb 2-5) and the head of headstart's sparse trainer
(multinomial logistic regression, class_weight balanced), at the C of each of headstart's lambdas
(C = 1 / (2 lambda n), see SPARSE_LAMBDAS in src/text/sparseHead.ts) and scikit-learn's default C=1:

- msp@C:      1 - max probability;
- energy@C:   -logsumexp(logits);
- maxlogit@C: -max logit;
- margin@C:   -(largest logit - second largest);
- knnK:       1 - mean cosine similarity of the K most similar training texts (K = 1, 5, 10);
- centroid:   1 - max cosine similarity to the (normalised) class means;
- combinations: the mean of two scores, each first turned into its rank among the out-of-fold
  in-scope training scores (so the scales agree and no test data is used).

Each is reported two ways: recall on the out-of-scope test queries at <= 5% false alarms on the
in-scope test queries (the issue's measure: the threshold is the test set's 95% quantile), and at
the threshold calibrated without test data, the 95% quantile of out-of-fold in-scope training
scores (3 stratified folds, headstart's fold rule for 15,000 rows): each training text scored by
the head fitted without its fold, and by k-NN against the other folds' texts only.

Measured (scikit-learn 1.9.1, 2 threads): the table in src/text/tfidfModel.ts's comment. In short,
1 - max probability at the chosen C is the best score once calibrated out-of-fold; logit scores gain
at most 1.5 points at the test rate and lose more when calibrated; k-NN and centroid are far behind.
A run takes about 25 minutes on 2 idle cores (each C is 3 fold fits and a refit).

Usage: nice -n 19 python3 bench/text_ood_candidates.py [--cs 11.111,33.333] [--threads 1] [--out .bench/text/ood_candidates.json]
Reads ../shared/datasets/clinc150/data_full.json (HEADSTART_SHARED overrides ../shared).
"""
import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--lambdas", default="1e-4,3e-5,1e-5,3e-6")
    parser.add_argument("--cs", default=None, help="Cs to fit instead of those of --lambdas (and 1)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    from scipy.special import logsumexp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_union
    from sklearn.preprocessing import normalize

    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("HEADSTART_SHARED", os.path.join(here, "..", "..", "shared"))
    with open(os.path.join(shared, "datasets", "clinc150", "data_full.json"), encoding="utf-8") as f:
        data = json.load(f)
    train_texts = [t for t, _ in data["train"]]
    train_labels = np.array([l for _, l in data["train"]])
    in_texts = [t for t, _ in data["test"]]
    in_labels = np.array([l for _, l in data["test"]])
    oos_texts = [t for t, _ in data["oos_test"]]
    n = len(train_texts)

    union = make_union(TfidfVectorizer(analyzer="word", ngram_range=(1, 2)), TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)))
    x_train = union.fit_transform(train_texts).tocsr()
    x_in = union.transform(in_texts).tocsr()
    x_oos = union.transform(oos_texts).tocsr()
    # headstart's rows are unit-norm (the two blocks scaled by 1/sqrt 2): cosine = dot of normalised rows.
    u_train, u_in, u_oos = normalize(x_train), normalize(x_in), normalize(x_oos)
    folds = np.zeros(n, dtype=int)
    for f, (_, held) in enumerate(StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0).split(x_train, train_labels)):
        folds[held] = f
    print(f"clinc150: {n} train, {len(in_texts)} in-scope test, {len(oos_texts)} out-of-scope test, {x_train.shape[1]} features, {args.folds} folds", file=sys.stderr, flush=True)

    # Scores: name -> (out-of-fold training scores, in-scope test scores, out-of-scope test scores); higher = more out-of-domain.
    scores = {}
    accuracy = {}

    def top_k_similarity(queries, reference, ks, exclude_fold=None):
        """Mean of the k largest cosine similarities of each query row to the reference rows, for each k."""
        out = {k: np.zeros(queries.shape[0]) for k in ks}
        kmax = max(ks)
        for start in range(0, queries.shape[0], 500):
            sims = (queries[start:start + 500] @ reference.T).toarray()
            if exclude_fold is not None:
                # Out-of-fold: a training text is compared with the other folds' texts only.
                sims[folds[start:start + 500][:, None] == folds[None, :]] = -1.0
            top = -np.sort(-np.partition(sims, -kmax, axis=1)[:, -kmax:], axis=1)
            for k in ks:
                out[k][start:start + 500] = top[:, :k].mean(axis=1)
        return out

    started = time.perf_counter()
    ks = (1, 5, 10)
    knn_oof = top_k_similarity(u_train, u_train, ks, exclude_fold=True)
    knn_in = top_k_similarity(u_in, u_train, ks)
    knn_oos = top_k_similarity(u_oos, u_train, ks)
    for k in ks:
        scores[f"knn{k}"] = (1 - knn_oof[k], 1 - knn_in[k], 1 - knn_oos[k])
    classes = np.unique(train_labels)

    def centroids(rows, labels):
        return normalize(np.vstack([np.asarray(rows[labels == c].mean(axis=0)) for c in classes]))

    oof_centroid = np.zeros(n)
    for f in range(args.folds):
        c = centroids(u_train[folds != f], train_labels[folds != f])
        oof_centroid[folds == f] = 1 - (u_train[folds == f] @ c.T).max(axis=1)
    c = centroids(u_train, train_labels)
    scores["centroid"] = (oof_centroid, 1 - (u_in @ c.T).max(axis=1), 1 - (u_oos @ c.T).max(axis=1))
    print(f"k-NN and centroid scores: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    lambdas = [float(v) for v in args.lambdas.split(",")]
    cs = [float(c) for c in args.cs.split(",")] if args.cs else sorted({round(1 / (2 * lam * n), 3) for lam in lambdas} | {1.0})
    for C in cs:
        started = time.perf_counter()
        oof_logits = np.zeros((n, len(classes)))
        for f in range(args.folds):
            model = LogisticRegression(C=C, class_weight="balanced", max_iter=500).fit(x_train[folds != f], train_labels[folds != f])
            oof_logits[folds == f] = model.decision_function(x_train[folds == f])
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=500).fit(x_train, train_labels)
        z_in, z_oos = model.decision_function(x_in), model.decision_function(x_oos)
        accuracy[C] = float(np.mean(model.classes_[z_in.argmax(axis=1)] == in_labels))

        def msp(z):
            return 1 - np.exp(z.max(axis=1) - logsumexp(z, axis=1))

        scores[f"msp@C={C}"] = (msp(oof_logits), msp(z_in), msp(z_oos))
        scores[f"energy@C={C}"] = (-logsumexp(oof_logits, axis=1), -logsumexp(z_in, axis=1), -logsumexp(z_oos, axis=1))
        scores[f"maxlogit@C={C}"] = (-oof_logits.max(axis=1), -z_in.max(axis=1), -z_oos.max(axis=1))

        def margin(z):
            top = np.sort(z, axis=1)[:, -2:]
            return -(top[:, 1] - top[:, 0])

        scores[f"margin@C={C}"] = (margin(oof_logits), margin(z_in), margin(z_oos))
        print(f"C={C}: in-scope accuracy {100 * accuracy[C]:.1f}%, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    def ranks(reference, values):
        """Share of out-of-fold in-scope training scores below each value: every score on one scale."""
        ordered = np.sort(reference)
        return np.searchsorted(ordered, values, side="right") / len(ordered)

    base = list(scores)
    for a_i, a in enumerate(base):
        for b in base[a_i + 1:]:
            if a.split("@")[0] == b.split("@")[0] or (a.startswith("knn") and b.startswith("knn")):
                continue
            ra, rb = scores[a], scores[b]
            scores[f"{a}+{b}"] = tuple((ranks(ra[0], ra[i]) + ranks(rb[0], rb[i])) / 2 for i in range(3))

    results = {}
    for name, (oof, inscope, oos) in scores.items():
        at_test = float(np.quantile(inscope, 0.95, method="higher"))
        calibrated = float(np.quantile(oof, 0.95, method="higher"))
        auroc = float(roc_auc_score(np.r_[np.zeros(len(inscope)), np.ones(len(oos))], np.r_[inscope, oos]))
        results[name] = {
            "recallAtTest5": float(np.mean(oos > at_test)),
            "falseAlarmsAtTest5": float(np.mean(inscope > at_test)),
            "calibratedRecall": float(np.mean(oos > calibrated)),
            "calibratedFalseAlarms": float(np.mean(inscope > calibrated)),
            "auroc": auroc,
        }
    ranked = sorted(results.items(), key=lambda kv: -kv[1]["recallAtTest5"])
    print("| score | recall at <=5% test FA | test FA | recall, OOF-calibrated | test FA, OOF-calibrated | AUROC |")
    print("|---|---|---|---|---|---|")
    for name, r in ranked:
        print(f"| {name} | {100 * r['recallAtTest5']:.1f}% | {100 * r['falseAlarmsAtTest5']:.1f}% | {100 * r['calibratedRecall']:.1f}% | {100 * r['calibratedFalseAlarms']:.1f}% | {r['auroc']:.3f} |")
    print(f"in-scope test accuracy by C: {json.dumps({str(k): round(100 * v, 1) for k, v in accuracy.items()})}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"features": int(x_train.shape[1]), "folds": args.folds, "accuracy": accuracy, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
