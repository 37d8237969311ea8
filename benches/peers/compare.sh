#!/usr/bin/env bash
# Peer comparison: flowcore + mlpipeline (Rust) against the course's Python stack
# (pandas + scikit-learn for the trip-duration pipeline, Prefect for per-task overhead).
#
# For people, not CI: it installs Python packages, builds release binaries, writes ~45 MB of
# synthetic data and takes several minutes. See benches/peers/README.md.
#
# Usage: bash benches/peers/compare.sh
# Environment (all optional):
#   VENV        Python venv to create or reuse        (default: benches/peers/.venv)
#   PYTHON      interpreter that creates the venv     (default: python3; needs >= 3.11)
#   ROWS        rows per synthetic month              (default: 1369769, the real 2021-01)
#   DATA_DIR    where the synthetic months go         (default: target/peers-data; reused if present)
#   OUT_DIR     JSON outputs, /usr/bin/time logs      (default: target/peers-results)
#   N_PREFECT   no-op tasks for Prefect               (default: 1000)
#   N_FLOWCORE  no-op tasks for flowcore              (default: 10000)
#   RUNS        flowcore runs per mode and record setting for the recording table (default: 5)
#   PEER_MONTHS training months for pandas in the many-months case (default: 6; as many as fit in RAM)
#   SECTIONS    which cases to run, space-separated  (default: "train overhead months")
#   SKIP_INSTALL=1  reuse the venv as it is, no pip
#   SKIP_BUILD=1    reuse target/release binaries, no cargo
set -euo pipefail

# Versions that install on Python 3.11 (checked with pip on 2026-11-27).
PIP_PINS=(
  "pandas==3.1.1"
  "pyarrow==26.0.1"
  "scikit-learn==1.9.1"
  "numpy==2.4.6"
  "scipy==1.17.1"
  "prefect==3.9.1"
)

die() { echo "compare.sh: error: $*" >&2; exit 1; }
info() { echo "==> $*" >&2; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-$HERE/.venv}"
PYTHON="${PYTHON:-python3}"
ROWS="${ROWS:-1369769}"
DATA_DIR="${DATA_DIR:-$ROOT/target/peers-data}"
OUT_DIR="${OUT_DIR:-$ROOT/target/peers-results}"
N_PREFECT="${N_PREFECT:-1000}"
N_FLOWCORE="${N_FLOWCORE:-10000}"
RUNS="${RUNS:-5}"
PEER_MONTHS="${PEER_MONTHS:-6}"
SECTIONS=" ${SECTIONS:-train overhead months} "
TIME=/usr/bin/time

for v in ROWS N_PREFECT N_FLOWCORE PEER_MONTHS RUNS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

# ---------------------------------------------------------------- tools
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH. $2"
}

need awk "Install awk (Debian: apt-get install gawk)."
need nproc "Install coreutils."
need "$PYTHON" "Install Python >= 3.11, or set PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null \
  || die "$PYTHON is not Python >= 3.11 with the venv module (Debian: apt-get install python3-venv)."
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  need cargo "Install Rust (https://rustup.rs) or set SKIP_BUILD=1 to reuse target/release."
fi

# GNU time gives peak RSS ("Maximum resident set size"); the shell keyword `time` does not.
if [[ ! -x "$TIME" ]] || ! "$TIME" -v true >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    info "$TIME (GNU time) is missing: installing the Debian package 'time' with apt-get"
    apt-get update -qq || die "apt-get update failed; install GNU time yourself (package 'time')."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time \
      || die "apt-get install time failed; install GNU time yourself (package 'time')."
  else
    die "$TIME (GNU time, for peak RSS) is missing. Install it: sudo apt-get install time (Debian/Ubuntu), dnf install time (Fedora)."
  fi
  "$TIME" -v true >/dev/null 2>&1 || die "$TIME -v does not work after installing 'time'."
fi

# ---------------------------------------------------------------- python venv
if [[ -x "$VENV/bin/python" ]]; then
  info "reusing venv $VENV"
else
  info "creating venv $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv at $VENV"
fi
VPY="$VENV/bin/python"
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
  info "pip install ${PIP_PINS[*]}"
  "$VPY" -m pip install --quiet "${PIP_PINS[@]}" || die "pip install failed (see above)"
fi
"$VPY" -c 'import pandas, pyarrow, sklearn, prefect' 2>/dev/null \
  || die "the venv $VENV lacks pandas/pyarrow/scikit-learn/prefect; rerun without SKIP_INSTALL=1"

if [[ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ]]; then
  info "note: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set; numpy's BLAS may run a slower kernel than it would by default"
fi

# ---------------------------------------------------------------- rust binaries
cd "$ROOT"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  info "cargo build --release (train_flow, overhead, synth)"
  cargo build --release --example train_flow --example overhead
  cargo build --release -p mlpipeline --bin synth
fi
TRAIN_FLOW="$ROOT/target/release/examples/train_flow"
OVERHEAD="$ROOT/target/release/examples/overhead"
SYNTH="$ROOT/target/release/synth"
for b in "$TRAIN_FLOW" "$OVERHEAD" "$SYNTH"; do
  [[ -x "$b" ]] || die "$b is missing: build it (drop SKIP_BUILD=1)"
done

# ---------------------------------------------------------------- synthetic data
# synth --out DIR writes one parquet file; each month gets its own folder so its name doesn't matter.
month_file() { # month -> path of the month's parquet file (generates it when missing)
  local month="$1" dir="$DATA_DIR/$ROWS/$1" f
  f="$(find "$dir" -maxdepth 1 -name '*.parquet' -print -quit 2>/dev/null || true)"
  if [[ -z "$f" ]]; then
    mkdir -p "$dir"
    info "synth --rows $ROWS --month $month -> $dir"
    "$SYNTH" --rows "$ROWS" --month "$month" --out "$dir" --format parquet >&2 \
      || die "synth failed for $month"
    f="$(find "$dir" -maxdepth 1 -name '*.parquet' -print -quit)"
    [[ -n "$f" ]] || die "synth wrote no .parquet file into $dir"
  fi
  echo "$f"
}
TRAIN_DATA="$(month_file 2021-01)"
TEST_DATA="$(month_file 2021-02)"

# ---------------------------------------------------------------- measuring
mkdir -p "$OUT_DIR"
# measure NAME CMD...: runs CMD under GNU time; stdout/stderr/time report go to OUT_DIR/NAME.*
# Sets WALL (seconds, process wall clock) and PEAK_MB (max RSS of the process or of any one child).
measure() {
  local name="$1"; shift
  local t0="${EPOCHREALTIME:-}" t1
  info "running $name: $*"
  if ! "$TIME" -v -o "$OUT_DIR/$name.time" "$@" >"$OUT_DIR/$name.stdout" 2>"$OUT_DIR/$name.stderr"; then
    tail -n 20 "$OUT_DIR/$name.stderr" >&2 || true
    die "$name failed (logs: $OUT_DIR/$name.stderr, $OUT_DIR/$name.time)"
  fi
  t1="${EPOCHREALTIME:-}"
  if [[ -n "$t0" && -n "$t1" ]]; then
    # bash >= 5: microsecond wall clock (GNU time prints only hundredths)
    WALL="$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.3f", b - a }')"
  else
    WALL="$(awk -F': ' '/Elapsed \(wall clock\) time/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.3f", s }' "$OUT_DIR/$name.time")"
  fi
  PEAK_MB="$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$OUT_DIR/$name.time")"
  [[ -n "$WALL" && -n "$PEAK_MB" ]] || die "could not read wall time / peak RSS from $OUT_DIR/$name.time"
}

# jget FILE KEY: one field of a JSON file
jget() { "$VPY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else if (a / b >= 100) printf "%.0fx", a / b; else printf "%.2fx", a / b }'; }

ROWS_MD=()
NOTES=()
REC_MD=()

for enc in notebook onehot; do
  [[ "$SECTIONS" == *" train "* ]] || continue
  measure "pandas-$enc" "$VPY" "$HERE/notebook_pipeline.py" \
    --train "$TRAIN_DATA" --test "$TEST_DATA" --encoding "$enc" --json "$OUT_DIR/pandas-$enc.json"
  p_wall="$WALL"; p_mb="$PEAK_MB"
  measure "flowcore-$enc" "$TRAIN_FLOW" --train "$TRAIN_DATA" --test "$TEST_DATA" --encoding "$enc" \
    --out "$OUT_DIR/model-$enc" --json "$OUT_DIR/flowcore-$enc.json"
  f_wall="$WALL"; f_mb="$PEAK_MB"
  ROWS_MD+=("| train $enc ($ROWS rows/month, process wall) | $p_wall | $p_mb | $f_wall | $f_mb | $(ratio "$p_wall" "$f_wall") | $(ratio "$p_mb" "$f_mb") |")
  NOTES+=("$("$VPY" - "$OUT_DIR/pandas-$enc.json" "$OUT_DIR/flowcore-$enc.json" "$enc" <<'PY'
import json, sys
p, f = (json.load(open(x)) for x in sys.argv[1:3])
enc = sys.argv[3]
same = all(p[k] == f[k] for k in ("n_train", "n_test", "n_features"))
d = max(abs(p[k] - f[k]) for k in ("rmse_train", "rmse_test"))
print(f"- train {enc}: n_train {p['n_train']}/{f['n_train']}, n_test {p['n_test']}/{f['n_test']}, "
      f"n_features {p['n_features']}/{f['n_features']} (pandas/flowcore) {'same' if same else 'DIFFERENT'}; "
      f"rmse_test {p['rmse_test']:.12g} vs {f['rmse_test']:.12g}, max |RMSE diff| {d:.2e}; "
      f"in-process wall {p['wall_s']:.3f} s vs {f['wall_s']:.3f} s; flowcore state {f.get('state')}")
PY
)")
done

# ---------------------------------------------------------------- many months (streaming)
# pandas + scikit-learn on PEER_MONTHS concatenated months vs train_flow on the same files (several
# training months run the streaming flow), then flowcore alone on 6 and 12 months. rows/s counts
# the rows read (training months + the test month).
if [[ "$SECTIONS" == *" months "* ]]; then
  months_of() { # N -> comma-separated paths of 2021-01 .. 2021-N
    local n="$1" i out=""
    for ((i = 1; i <= n; i++)); do out+="${out:+,}$(month_file "$(printf '2021-%02d' "$i")")"; done
    echo "$out"
  }
  rate() { awk -v r="$1" -v w="$2" 'BEGIN { printf "%.2f M", r / w / 1e6 }'; }
  MONTH_TEST="$(month_file 2022-01)"
  for enc in notebook onehot; do
    files="$(months_of "$PEER_MONTHS")"
    rows=$(( (PEER_MONTHS + 1) * ROWS ))
    measure "pandas-months-$enc" "$VPY" "$HERE/notebook_pipeline.py" \
      --train "$files" --test "$MONTH_TEST" --encoding "$enc" --json "$OUT_DIR/pandas-months-$enc.json"
    p_wall="$WALL"; p_mb="$PEAK_MB"
    measure "flowcore-months-$enc" "$TRAIN_FLOW" --train "$files" --test "$MONTH_TEST" --encoding "$enc" \
      --out "$OUT_DIR/model-months-$enc" --json "$OUT_DIR/flowcore-months-$enc.json"
    f_wall="$WALL"; f_mb="$PEAK_MB"
    ROWS_MD+=("| train $enc, $PEER_MONTHS months + 1 test month ($rows rows; rows/s $(rate "$rows" "$p_wall") vs $(rate "$rows" "$f_wall")) | $p_wall | $p_mb | $f_wall | $f_mb | $(ratio "$p_wall" "$f_wall") | $(ratio "$p_mb" "$f_mb") |")
    NOTES+=("$("$VPY" - "$OUT_DIR/pandas-months-$enc.json" "$OUT_DIR/flowcore-months-$enc.json" "$enc" <<'PY'
import json, sys
p, f = (json.load(open(x)) for x in sys.argv[1:3])
d = max(abs(p[k] - f[k]) for k in ("rmse_train", "rmse_test"))
print(f"- train {sys.argv[3]}, many months: n_train {p['n_train']}/{f['n_train']}, n_features "
      f"{p['n_features']}/{f['n_features']} (pandas/flowcore); max |RMSE diff| {d:.2e}; flowcore state {f.get('state')}")
PY
)")
    for n in 6 12; do
      files="$(months_of "$n")"
      rows=$(( (n + 1) * ROWS ))
      measure "flowcore-$n-months-$enc" "$TRAIN_FLOW" --train "$files" --test "$MONTH_TEST" \
        --encoding "$enc" --out "$OUT_DIR/model-$n-$enc" --json "$OUT_DIR/flowcore-$n-months-$enc.json"
      ROWS_MD+=("| train $enc, flowcore alone, $n months + 1 test month ($rows rows; $(rate "$rows" "$WALL") rows/s) | – | – | $WALL | $PEAK_MB | – | – |")
    done
  done
fi

for mode in seq submit; do
  [[ "$SECTIONS" == *" overhead "* ]] || continue
  measure "prefect-$mode" "$VPY" "$HERE/prefect_noop.py" --tasks "$N_PREFECT" --mode "$mode" --quiet \
    --json "$OUT_DIR/prefect-$mode.json"
  p_wall="$WALL"; p_mb="$PEAK_MB"
  measure "flowcore-overhead-$mode" "$OVERHEAD" --tasks "$N_FLOWCORE" --mode "$mode" \
    --json "$OUT_DIR/flowcore-overhead-$mode.json"
  f_wall="$WALL"; f_mb="$PEAK_MB"
  p_us="$(jget "$OUT_DIR/prefect-$mode.json" us_per_task)"
  f_us="$(jget "$OUT_DIR/flowcore-overhead-$mode.json" us_per_task)"
  ROWS_MD+=("| overhead $mode (process wall; speed-up is per task: $(printf '%.1f' "$p_us") vs $(printf '%.2f' "$f_us") µs) | $p_wall | $p_mb | $f_wall | $f_mb | $(ratio "$p_us" "$f_us") | $(ratio "$p_mb" "$f_mb") |")
  # What recording costs: flowcore with the record on (the default: every run in SQLite) and off,
  # RUNS runs each, medians of µs per task, beside Prefect's.
  for rec in on off; do
    for i in $(seq "$RUNS"); do
      FLOWCORE_HOME="$OUT_DIR/home-$mode-$rec-$i" FLOWCORE_RECORD="$rec" "$OVERHEAD" --tasks "$N_FLOWCORE" \
        --mode "$mode" --json "$OUT_DIR/flowcore-$mode-$rec-$i.json" >/dev/null 2>&1 \
        || die "overhead --mode $mode (record $rec) failed"
      rm -rf "$OUT_DIR/home-$mode-$rec-$i"
    done
  done
  REC_MD+=("$("$VPY" - "$OUT_DIR" "$mode" "$RUNS" "$p_us" <<'PY'
import json, statistics, sys
out, mode, runs, prefect = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
med = {rec: statistics.median(json.load(open(f"{out}/flowcore-{mode}-{rec}-{i}.json"))["us_per_task"]
                              for i in range(1, runs + 1)) for rec in ("on", "off")}
print(f"| {mode} | {med['on']:.2f} µs | {med['off']:.2f} µs | {med['on'] / med['off']:.2f}× | "
      f"{prefect / 1000:.2f} ms | {prefect / med['on']:,.0f}× |")
PY
)")
  NOTES+=("- overhead $mode: Prefect $N_PREFECT tasks in $(printf '%.3f' "$(jget "$OUT_DIR/prefect-$mode.json" wall_s)") s (after a warm-up flow that started its ephemeral API in $(printf '%.1f' "$(jget "$OUT_DIR/prefect-$mode.json" warmup_s)") s); flowcore $N_FLOWCORE tasks in $(printf '%.3f' "$(jget "$OUT_DIR/flowcore-overhead-$mode.json" wall_s)") s, state $(jget "$OUT_DIR/flowcore-overhead-$mode.json" state)")
done

# ---------------------------------------------------------------- report
cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
[[ -n "$cpu" ]] || cpu="$(uname -m)"
ram_gib="$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo '?')"
versions="$("$VPY" -c 'import sys, pandas, sklearn, prefect, numpy; print(f"Python {sys.version.split()[0]}, pandas {pandas.__version__}, scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, prefect {prefect.__version__}")')"

echo
echo "## flowcore vs peers"
echo
echo "Machine: $(nproc) CPUs, $cpu, ${ram_gib} GiB RAM. $versions. $(date -u +%Y-%m-%dT%H:%MZ)."
echo
echo "| workload | peer wall s | peer peak MB | flowcore wall s | flowcore peak MB | speed-up | memory ratio |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${ROWS_MD[@]}"
echo
echo "Peers: pandas + scikit-learn (notebook_pipeline.py) for the train rows, Prefect (prefect_noop.py, ephemeral API, --quiet) for the overhead rows."
echo "Wall and peak RSS are GNU time's for the whole process (interpreter start-up and imports included);"
echo "peak RSS is that of the largest single process (Prefect's ephemeral API server runs as a child)."
echo "Speed-up = peer / flowcore (wall, or µs per task for overhead); memory ratio = peer / flowcore peak RSS."
echo
printf '%s\n' "${NOTES[@]}"
echo
if [[ ${#REC_MD[@]} -gt 0 ]]; then
  echo "### Recording: flowcore record on vs off, and Prefect (medians of $RUNS runs, $N_FLOWCORE no-op tasks; Prefect $N_PREFECT)"
  echo
  echo "| mode | flowcore, record on | flowcore, record off | on / off | Prefect per task | Prefect / flowcore (record on) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${REC_MD[@]}"
  echo
fi
echo "Raw outputs: $OUT_DIR"
