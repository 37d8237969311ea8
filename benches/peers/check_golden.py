#!/usr/bin/env python3
"""Check that notebook_pipeline.py reproduces shared/fixtures/notebook_golden.json.

Runs the pandas + scikit-learn pipeline on the fixtures (train = 2021-01 sample, test = 2021-02,
predict = 2021-03) for both encodings, from parquet and from CSV, and compares with the golden file:
row counts and feature names exactly; RMSE, test/predict predictions and (notebook encoding only:
one-hot coefficients are not unique) coefficients and intercept to a tolerance.

Usage: python check_golden.py [--fixtures DIR] [--formats parquet,csv] [--rtol 1e-12]
Exits 0 when everything matches, 1 on any mismatch, 2 when the fixtures are missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_pipeline as nb  # noqa: E402


def default_fixtures() -> Path:
    env = os.environ.get("FIXTURES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    # benches/peers -> repo root -> the shared/ folder laid beside the clone
    for cand in (here.parents[2] / "shared" / "fixtures", here.parents[1] / "shared" / "fixtures",
                 Path("/work/shared/fixtures")):
        if cand.is_dir():
            return cand
    return here.parents[2] / "shared" / "fixtures"


class Checker:
    def __init__(self, rtol: float, atol: float):
        self.rtol, self.atol = rtol, atol
        self.failures: list[str] = []
        self.checks = 0

    def exact(self, label: str, got, want) -> None:
        self.checks += 1
        if got != want:
            self.failures.append(f"{label}: got {got!r}, want {want!r}")

    def close(self, label: str, got, want) -> float:
        self.checks += 1
        got = np.asarray(got, dtype=float)
        want = np.asarray(want, dtype=float)
        if got.shape != want.shape:
            self.failures.append(f"{label}: shape {got.shape} != {want.shape}")
            return math.inf
        diff = float(np.max(np.abs(got - want))) if got.size else 0.0
        if not np.allclose(got, want, rtol=self.rtol, atol=self.atol):
            self.failures.append(f"{label}: max |diff| {diff:.3e} over rtol={self.rtol:g} atol={self.atol:g}")
        return diff


def check_one(ck: Checker, fixtures: Path, fmt: str, encoding: str, golden: dict) -> str:
    f = lambda month: fixtures / f"yellow_tripdata_sample_2021-{month}.{fmt}"  # noqa: E731
    result, extras = nb.run(f("01"), f("02"), encoding)
    dv, model = extras["dv"], extras["model"]
    tag = f"[{fmt}/{encoding}]"

    ck.exact(f"{tag} n_train", result["n_train"], golden["n_train"])
    ck.exact(f"{tag} n_test", result["n_test"], golden["n_test"])
    ck.exact(f"{tag} n_features", result["n_features"], len(golden["feature_names"]))
    ck.exact(f"{tag} feature_names", list(dv.feature_names_), golden["feature_names"])
    d_train = ck.close(f"{tag} rmse_train", result["rmse_train"], golden["rmse_train"])
    d_test = ck.close(f"{tag} rmse_test", result["rmse_test"], golden["rmse_test"])
    ck.close(f"{tag} test_predictions_first10", extras["pred_test"][:10], golden["test_predictions_first10"])
    if encoding == "notebook":
        # One-hot + intercept is rank-deficient: coefficients are not unique, predictions are.
        ck.close(f"{tag} coef", model.coef_, golden["coef"])
        ck.close(f"{tag} intercept", model.intercept_, golden["intercept"])

    # Batch prediction on data "without target", with the vectorizer fitted on train.
    x_pred, _, _ = nb.processing(f("03"), encoding, dv=dv, with_target=False)
    pred = model.predict(x_pred)
    ck.exact(f"{tag} n_predict", int(x_pred.shape[0]), golden["n_predict"])
    ck.close(f"{tag} predict_predictions_first10", pred[:10], golden["predict_predictions_first10"])
    ck.close(f"{tag} predict_predictions_mean", float(np.mean(pred)), golden["predict_predictions_mean"])

    return (f"{tag:20s} n_train={result['n_train']} n_test={result['n_test']} "
            f"n_features={result['n_features']} rmse_train={result['rmse_train']!r} (|d|={d_train:.1e}) "
            f"rmse_test={result['rmse_test']!r} (|d|={d_test:.1e}) wall_s={result['wall_s']:.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", type=Path, default=default_fixtures(),
                    help="folder with the samples and notebook_golden.json (default: shared/fixtures; env FIXTURES)")
    ap.add_argument("--formats", default="parquet,csv", help="comma-separated: parquet,csv")
    ap.add_argument("--encodings", default="notebook,onehot", help="comma-separated: notebook,onehot")
    ap.add_argument("--rtol", type=float, default=1e-12)
    ap.add_argument("--atol", type=float, default=1e-12)
    args = ap.parse_args(argv)

    golden_path = args.fixtures / "notebook_golden.json"
    if not golden_path.is_file():
        print(f"check_golden: {golden_path} not found (pass --fixtures DIR or set FIXTURES)", file=sys.stderr)
        return 2
    golden = json.loads(golden_path.read_text())

    ck = Checker(args.rtol, args.atol)
    for fmt in [s for s in args.formats.split(",") if s]:
        for encoding in [s for s in args.encodings.split(",") if s]:
            if encoding not in golden:
                ck.failures.append(f"golden file has no {encoding!r} section")
                continue
            print(check_one(ck, args.fixtures, fmt, encoding, golden[encoding]))

    import pandas, sklearn  # noqa: E401
    print(f"pandas {pandas.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    if ck.failures:
        print(f"check_golden: FAIL ({len(ck.failures)} of {ck.checks} checks)", file=sys.stderr)
        for msg in ck.failures:
            print("  " + msg, file=sys.stderr)
        return 1
    print(f"check_golden: OK ({ck.checks} checks, rtol={args.rtol:g} atol={args.atol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
