#!/usr/bin/env bash
# A Spark standalone cluster on this machine (one master, two 1-core workers, all on 127.0.0.1) from the pyspark
# installation in .venv. State, logs and scratch space live in data/spark-cluster/.
#   scripts/spark_cluster.sh start     # prints SPARK_MASTER=spark://127.0.0.1:7077
#   scripts/spark_cluster.sh status
#   scripts/spark_cluster.sh stop
# Extra options go to `lakehouse cluster`, e.g. `start --workers 3 --memory 2g --port 7078`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "error: no .venv yet: run ./dev once to create it" >&2; exit 1; }
exec .venv/bin/python -m lakehouse cluster "$@"
