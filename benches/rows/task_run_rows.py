#!/usr/bin/env python3
"""What SQLite alone costs per task-run row, as the record spells rows today and as a compact
encoding would (issue 19: the decision on the row format).

Inserts N completed task runs into a fresh WAL database with the store's settings, in
transactions of BATCH rows as the store writer does. The rows' values are generated beforehand
into an in-memory table; what is timed is only `INSERT INTO task_runs SELECT * FROM src` per
batch with its commit (no Python runs per row): the table, its primary key and flow-run index,
and writing the log. Shapes, one column choice at a time:

  today    ids as 36-character text, times as RFC 3339 text, history as JSON lines (~160 bytes)
  H        history as 27 bytes of binary (state code + integer microseconds per state)
  T        times as integer microseconds since the epoch
  I        ids as 16-byte blobs
  HT, HTI  the combinations
  N        today's rows without the flow-run index (what one b-tree of the three costs)

Usage: python3 benches/rows/task_run_rows.py [--rows 200000] [--batch 4000] [--runs 5]
Prints user+system CPU per row (median of the runs) for the insert alone, and the file size.
"""

import argparse
import os
import resource
import sqlite3
import statistics
import tempfile

PRAGMAS = (
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768; "
    "PRAGMA wal_autocheckpoint=8192;"
)
STATES = (("PENDING", "Pending", 0), ("RUNNING", "Running", 1), ("COMPLETED", "Completed", 3))


def select(shape: str, batch_no: int) -> str:
    """The SELECT of one batch's row values (over `s(x)`) for `shape`."""
    if "I" in shape:
        ids = "CAST(printf('%016d', x) AS BLOB), CAST('0193a0000000700080000001' AS BLOB)"
    else:
        ids = (
            f"printf('0193a%03x-%04x-7%03x-8000-%012x', {batch_no}, x/4096, x%4096, x), "
            "'0193a000-0000-7000-8000-000000000001'"
        )

    def time(k: int) -> str:
        if "T" in shape:
            return f"1765118408123456+x+{k}"
        return (
            f"printf('2026-12-07T14:%02d:%02d.%06dZ', x/60000000%60, x/1000000%60, "
            f"(x+{k})%1000000)"
        )

    if "H" in shape:
        history = "CAST(printf('0%08d1%08d3%08d', x, x+1, x+3) AS BLOB)"
    else:
        history = "||char(10)||".join(
            f"""'{{"t":"{t}","n":"{n}","at":'||(1765118408123456+x+{k})||'}}'"""
            for t, n, k in STATES
        ) + "||char(10)"
    return (
        f"SELECT {ids}, 'noop', 'noop-'||x, '[]', '[]', {time(3)}, 'COMPLETED', 'Completed', "
        f"NULL, {time(6)}, {time(4)}, {time(6)}, 1, {history}"
    )


def schema(shape: str) -> str:
    """The store's settings and the task_runs table with its flow-run index, for `shape`."""
    idt = "BLOB" if "I" in shape else "TEXT"
    tt = "INTEGER" if "T" in shape else "TEXT"
    ht = "BLOB" if "H" in shape else "TEXT"
    return (
        f"{PRAGMAS} PRAGMA temp_store=MEMORY;"
        f"CREATE TABLE task_runs (id {idt} PRIMARY KEY, flow_run_id {idt}, "
        f"task_name TEXT NOT NULL, name TEXT NOT NULL, tags TEXT NOT NULL, "
        f"inputs TEXT NOT NULL DEFAULT '[]', "
        f"created {tt} NOT NULL, state_type TEXT, state_name TEXT, state_message TEXT, "
        f"state_time {tt}, start_time {tt}, end_time {tt}, attempts INTEGER, history {ht});"
        + ("" if "N" in shape else "CREATE INDEX task_runs_flow_run ON task_runs (flow_run_id);")
    )


def values(shape: str, rows: int, batch: int) -> str:
    """Fills the in-memory table `src` with the rows' values (not timed)."""
    out = ["CREATE TEMP TABLE src AS SELECT * FROM task_runs WHERE 0;"]
    for b in range(rows // batch):
        lo = b * batch
        series = f"s(x) AS (SELECT {lo} UNION ALL SELECT x+1 FROM s WHERE x < {lo + batch - 1})"
        out.append(f"INSERT INTO temp.src WITH RECURSIVE {series} {select(shape, b)} FROM s;")
    return "\n".join(out)


def inserts(rows: int, batch: int) -> str:
    """The timed part: each batch of `src` into task_runs in a transaction of its own."""
    return "\n".join(
        f"BEGIN; INSERT INTO task_runs SELECT * FROM temp.src "
        f"WHERE rowid BETWEEN {lo + 1} AND {lo + batch}; COMMIT;"
        for lo in range(0, rows // batch * batch, batch)
    )


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(shape: str, rows: int, batch: int) -> tuple[float, int]:
    """CPU seconds to insert the rows of `shape` into a fresh database file, and its size after."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.db")
        conn = sqlite3.connect(path, isolation_level=None)
        conn.executescript(schema(shape))
        conn.executescript(values(shape, rows, batch))
        timed = inserts(rows, batch)
        start = cpu()
        conn.executescript(timed)
        spent = cpu() - start
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return spent, os.path.getsize(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=4_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.rows < args.batch or args.batch < 1 or args.runs < 1:
        parser.error("--rows must be at least --batch, and --batch and --runs positive")
    shapes = ["today", "H", "T", "I", "HT", "HTI", "N"]
    spent: dict[str, list[float]] = {s: [] for s in shapes}
    size: dict[str, int] = {}
    for _ in range(args.runs):  # interleaved, so drift hits every shape alike
        for s in shapes:
            seconds, size[s] = run(s, args.rows, args.batch)
            spent[s].append(seconds)
    rows = args.rows // args.batch * args.batch
    print(
        f"{rows} rows, {args.batch} per transaction, SQLite {sqlite3.sqlite_version}, "
        f"median of {args.runs}"
    )
    print("| shape | insert CPU per row | database size |")
    print("| --- | ---: | ---: |")
    for s in shapes:
        per_row = statistics.median(spent[s]) / rows * 1e6
        print(f"| {s} | {per_row:.2f} µs | {size[s] / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
