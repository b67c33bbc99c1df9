#!/usr/bin/env bash
# Rebuild every report end to end: papermill runs notebooks/NN_*.ipynb in order into reports/, then
# `mammo report` writes the final report, model card and slides from what the runs recorded.
#
#   bash run_all.sh                    # install (if needed) + run all notebooks, small profile, embedded data
#   bash run_all.sh --profile full     # GPU recipe on the real RSNA folder (Kaggle/Colab or MAMMO_DATA)
#   bash run_all.sh --only 01          # one notebook
#   bash run_all.sh --strict           # fail at the report if a cited benchmark/screenshot is of another build
#   bash run_all.sh --tests            # install (if needed) + run the test suite instead (15 slowest listed)
#   bash run_all.sh --setup            # only create/refresh the virtual environment
set -euo pipefail
cd "$(dirname "$0")"

PROFILE="${PROFILE:-small}"
ONLY=""
MODE="notebooks"
STRICT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --tests) MODE="tests"; shift ;;
    --strict) STRICT="--strict"; shift ;;
    --setup) MODE="setup"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

VENV="${MAMMO_VENV:-.venv}"
PY="$VENV/bin/python"
# --- install into a local virtual environment when missing or when the pins changed -------------
stamp="$VENV/.mammo-requirements.sha"
want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$PY" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  echo "== Setup: installing into $VENV with $("$PYTHON" --version)"
  [[ -x "$PY" ]] || "$PYTHON" -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q -r requirements.txt -e .
  echo "$want" > "$stamp"
fi
# --- system packages the tests drive (Debian): headless browser for the web-app test, promtool for alert rules,
#     amtool for the Alertmanager configuration, PostgreSQL for the prediction store's tests (the test fixture
#     starts its own server on a free local port; the binaries live in /usr/lib/postgresql/<major>/bin)
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || need+=(postgresql)
if [[ "$MODE" != "notebooks" && ${#need[@]} -gt 0 ]]; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "== Setup: apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "== Setup: ${need[*]} missing and not installable here (needs root + apt-get); the tests that use them skip, saying so"
  fi
fi
if git rev-parse --git-dir >/dev/null 2>&1; then
  # notebook sources are committed without outputs; nbdime gives readable notebook diffs. Only the filter
  # itself is configured here: `.gitattributes` applies it to notebooks/*.ipynb alone, so the rendered copies in
  # reports/ keep their outputs (`nbstripout --install` would add `*.ipynb filter=nbstripout` for every notebook).
  git config filter.nbstripout.clean "'$(cd "$VENV" && pwd)/bin/python' -m nbstripout"
  git config filter.nbstripout.smudge cat
  git config filter.nbstripout.required true
  if [[ -f .git/info/attributes ]]; then  # an earlier set-up's catch-all line would strip reports/ too
    sed -i '/^\*\.ipynb filter=nbstripout$/d' .git/info/attributes
  fi
  "$VENV/bin/nbdime" config-git --enable >/dev/null 2>&1 || true
fi
[[ "$MODE" == "setup" ]] && { echo "== Setup done: $VENV"; exit 0; }

if [[ "$MODE" == "tests" ]]; then
  echo "== Tests"
  # PYTEST_ARGS (optional, space-separated) adds pytest options, e.g. PYTEST_ARGS="-m 'not slow'" for the fast set.
  # --durations=15 lists the slowest tests at the end; pyproject.toml gives every test a 600 s timeout.
  extra=()
  [[ -n "${PYTEST_ARGS:-}" ]] && eval "extra=(${PYTEST_ARGS})"
  exec "$PY" -m pytest -q --durations=15 tests "${extra[@]}"
fi

# --- notebooks -------------------------------------------------------------------------------------
mkdir -p reports data/work
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONWARNINGS=ignore
# repeatable rebuilds on one machine: a fixed hash seed here; ordered tf.data streams and TensorFlow's op
# determinism come from the configuration (`deterministic`, on for the small profile)
export PYTHONHASHSEED=0
# The reports get a tracking store of their own, fresh for a full rebuild, so registry versions and the champion
# printed in them depend only on this rebuild (not on earlier runs in data/work/mlflow.db).
export MLFLOW_TRACKING_URI="${MAMMO_REPORTS_TRACKING_URI:-sqlite:///$PWD/data/work/reports-mlflow.db}"
if [[ -z "$ONLY" && -z "${MAMMO_REPORTS_TRACKING_URI:-}" ]]; then
  # a full rebuild starts from a fresh store and fresh searches, so its reports do not depend on earlier runs
  # (the arms' run folders were tracked in the store removed here: they are trained again, not half-resumed);
  # build.json goes too, so every result and the export of this rebuild name one new build id
  rm -rf data/work/reports-mlflow.db data/work/tuning data/work/runs/tune data/work/runs/arm_* data/work/detector \
    data/work/build.json
fi
mapfile -t notebooks < <(ls notebooks/[0-9][0-9]_*.ipynb | sort)
[[ -n "$ONLY" ]] && mapfile -t notebooks < <(printf '%s\n' "${notebooks[@]}" | grep "/${ONLY}")
[[ ${#notebooks[@]} -gt 0 ]] || { echo "run_all.sh: no notebook matches '${ONLY}'" >&2; exit 2; }
total=${#notebooks[@]}; i=0; start_all=$SECONDS
for nb in "${notebooks[@]}"; do
  i=$((i + 1)); name="$(basename "$nb" .ipynb)"; start=$SECONDS
  echo "== [$i/$total] $name (profile=$PROFILE)"
  if ! "$PY" -m papermill "$nb" "reports/$name.ipynb" -p profile "$PROFILE" --cwd notebooks \
        --kernel python3 --progress-bar --log-level WARNING; then
    echo "!! FAILED: $name — the executed notebook with the error is reports/$name.ipynb" >&2
    exit 1
  fi
  "$PY" -m jupyter nbconvert --to html --log-level WARN "reports/$name.ipynb" --output-dir reports >/dev/null
  echo "   done in $((SECONDS - start)) s -> reports/$name.html"
done
echo "== All $total notebook(s) rendered into reports/ in $((SECONDS - start_all)) s"
if [[ -z "$ONLY" ]]; then
  # page images of the services this rebuild exported (API + web app + Prometheus in headless Chromium), each
  # with a sidecar naming the export's digest
  echo "== Screenshots of the running services (mammo screens)"
  "$PY" -m mammo_utils screens --profile "$PROFILE" \
    || echo "!! screenshots not taken (needs chromium, chromedriver, prometheus): the report marks the old ones" >&2
  # the API under load on this rebuild's export (one client with the reduced- and the full-resolution decode
  # side by side, then 8 clients with 10% bad uploads), recorded with the export's digest beside the numbers
  echo "== API load test (benchmarks/bench_api.py)"
  start=$SECONDS
  "$PY" benchmarks/bench_api.py --compare --single 30 --requests 240 --out reports/benchmarks/api_load.json \
    >/dev/null || echo "!! API load test failed: the report marks the old record" >&2
  echo "   done in $((SECONDS - start)) s -> reports/benchmarks/api_load.json"
  # the last step: final report, model card, slides, diagrams and API docs, every number read from the runs;
  # a cited benchmark or screenshot of another build is marked in the report ("from another build"); with
  # --strict it stops the rebuild instead
  echo "== Final report (mammo report ${STRICT})"
  "$PY" -m mammo_utils report --profile "$PROFILE" ${STRICT}
  echo "== Whole rebuild in $((SECONDS - start_all)) s"
fi
