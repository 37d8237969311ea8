#!/usr/bin/env python3
"""The MLOps-course trip-duration notebook, in pandas + scikit-learn, as a peer baseline.

This is the reference the Rust `train_flow` example is compared against (see compare.sh). It does
what the course notebook does, step by step (see shared/notebook.md):

  load parquet/CSV -> duration in minutes -> keep 1 <= duration <= 60 ->
  PULocationID / DOLocationID / passenger_count: fillna(-1).astype(int) ->
  encoding "notebook": .astype("category") (DictVectorizer sees numbers: 3 numeric features)
  encoding "onehot":   .astype(str)        (DictVectorizer one-hot encodes: column=value)
  -> DictVectorizer fitted on train only -> LinearRegression() -> RMSE on train and test.

Usage:
  python notebook_pipeline.py --train A.parquet[,A2.parquet...] --test B.parquet --encoding notebook|onehot [--json OUT]

Prints one JSON object {"n_train","n_test","n_features","rmse_train","rmse_test","wall_s"} on stdout
and writes the same object to OUT when --json is given. wall_s covers load -> evaluate (not the
interpreter start-up and imports; /usr/bin/time in compare.sh measures the whole process).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression

CATEGORICAL = ["PULocationID", "DOLocationID", "passenger_count"]
ENCODINGS = ("notebook", "onehot")


def _datetime_columns(columns) -> tuple[str, str]:
    """Pick the pickup/drop-off columns: yellow uses tpep_, green uses lpep_."""
    for prefix in ("tpep", "lpep"):
        pickup, dropoff = f"{prefix}_pickup_datetime", f"{prefix}_dropoff_datetime"
        if pickup in columns and dropoff in columns:
            return pickup, dropoff
    raise ValueError(
        "no tpep_/lpep_ pickup and dropoff datetime columns in the file; got: " + ", ".join(map(str, columns))
    )


def load_data(path: str | Path) -> pd.DataFrame:
    """Read one month of TLC trip records; parquet or CSV, chosen by the file extension."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".csv.gz"):
        header = pd.read_csv(path, nrows=0).columns
        pickup, dropoff = _datetime_columns(header)
        return pd.read_csv(path, parse_dates=[pickup, dropoff], low_memory=False)
    raise ValueError(f"{path}: unsupported extension {suffix!r} (expected .parquet or .csv)")


def compute_target(df: pd.DataFrame) -> pd.DataFrame:
    pickup, dropoff = _datetime_columns(df.columns)
    df["duration"] = (df[dropoff] - df[pickup]).dt.total_seconds() / 60
    return df


def filter_outliers(df: pd.DataFrame, min_duration: float = 1, max_duration: float = 60) -> pd.DataFrame:
    return df[df["duration"].between(min_duration, max_duration)]


def encode_categorical_columns(df: pd.DataFrame, encoding: str) -> pd.DataFrame:
    df[CATEGORICAL] = df[CATEGORICAL].fillna(-1).astype("int")
    if encoding == "notebook":
        # What the notebook literally does: integer categories -> to_dict yields numbers ->
        # DictVectorizer keeps each column as ONE numeric feature.
        df[CATEGORICAL] = df[CATEGORICAL].astype("category")
    elif encoding == "onehot":
        # The course's later fix: strings -> DictVectorizer one-hot encodes column=value.
        df[CATEGORICAL] = df[CATEGORICAL].astype(str)
    else:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")
    return df


def extract_x_y(df: pd.DataFrame, dv: DictVectorizer | None = None, with_target: bool = True):
    dicts = df[CATEGORICAL].to_dict(orient="records")
    if dv is None:
        dv = DictVectorizer()
        dv.fit(dicts)
    x = dv.transform(dicts)
    y = df["duration"].values if with_target else None
    return x, y, dv


def processing(path, encoding: str, dv: DictVectorizer | None = None, with_target: bool = True):
    # Several months (comma-separated): concatenated in memory, as a pandas user would.
    paths = str(path).split(",")
    df = load_data(paths[0]) if len(paths) == 1 else pd.concat(
        [load_data(p) for p in paths], ignore_index=True
    )
    if with_target:
        df = compute_target(df)
        df = filter_outliers(df)
    df = encode_categorical_columns(df, encoding)
    return extract_x_y(df, dv=dv, with_target=with_target)


def train_model(x, y) -> LinearRegression:
    lr = LinearRegression()
    lr.fit(x, y)
    return lr


def rmse(y, y_pred) -> float:
    return float(math.sqrt(np.mean((np.asarray(y) - np.asarray(y_pred)) ** 2)))


def run(train: str | Path, test: str | Path, encoding: str) -> tuple[dict, dict]:
    """Run train -> evaluate. Returns (the JSON result, extras for check_golden.py)."""
    t0 = time.perf_counter()
    x_train, y_train, dv = processing(train, encoding)
    x_test, y_test, _ = processing(test, encoding, dv=dv)
    lr = train_model(x_train, y_train)
    pred_train = lr.predict(x_train)
    pred_test = lr.predict(x_test)
    result = {
        "n_train": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        "n_features": int(len(dv.feature_names_)),
        "rmse_train": rmse(y_train, pred_train),
        "rmse_test": rmse(y_test, pred_test),
        "wall_s": time.perf_counter() - t0,
    }
    extras = {"dv": dv, "model": lr, "pred_test": pred_test}
    return result, extras


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True,
                    help="training month (.parquet or .csv), or several, comma-separated (concatenated)")
    ap.add_argument("--test", required=True, help="evaluation month (.parquet or .csv)")
    ap.add_argument("--encoding", choices=ENCODINGS, default="notebook")
    ap.add_argument("--json", metavar="OUT", help="also write the JSON result to this file")
    args = ap.parse_args(argv)
    for p in [*args.train.split(","), args.test]:
        if not Path(p).is_file():
            ap.error(f"no such file: {p}")

    result, _ = run(args.train, args.test, args.encoding)
    text = json.dumps(result)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
