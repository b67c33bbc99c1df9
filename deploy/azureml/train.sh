#!/usr/bin/env bash
# Entry of the Azure ML command job (train-job.yml), run on every node of its `tensorflow` distribution:
#   bash deploy/azureml/train.sh DATA WORK RUN_NAME
# Azure ML sets TF_CONFIG on each node; the trainer builds tf.distribute.MultiWorkerMirroredStrategy from it (one
# worker per node, using all of that node's GPUs). The chief (worker 0, or a task of type chief) trains into WORK,
# logs to the workspace's MLflow and exports; every other worker takes part in the same steps with a work folder of
# its own on the node and no tracking, so nothing but the chief writes to the shared output.
set -euo pipefail
data="$1" work="$2" run="$3"

role="$(python - <<'PY'
import json, os
config = json.loads(os.environ.get("TF_CONFIG") or "{}")
task = config.get("task", {})
kind, index = task.get("type", "worker"), int(task.get("index", 0))
chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config.get("cluster", {}))
print("chief" if chief else f"{kind}-{index}")
PY
)"
echo "train.sh: this node is the ${role} (TF_CONFIG: ${TF_CONFIG:-unset, one worker})" >&2

if [[ "$role" == chief ]]; then
  mammo train --profile full --data "$data" --work "$work" --run-name "$run" --json
  mammo export --profile full --data "$data" --work "$work" --model "$work/runs/$run" \
    --out "$work/export/champion" --json
else
  mammo train --profile full --data "$data" --work "${TMPDIR:-/tmp}/mammo-${role}" --run-name "$run" --no-track --json
fi
