#!/usr/bin/env bash
# The engine on a CUDA machine, in under 5 minutes: runs per second at 35, 1,000 and 10,000
# seed-task runs trained together (float32), peak GPU memory at each size, and the engine
# against the plain loop (bench/plain.py, on the same GPU) at 35 runs; first, resnet-mini's
# 20 runs through torch.func against a loop of modules (bench/models.py, 200 steps, its JSON
# line). The last line of output is bench/engine.py's JSON object.
#
#   bench/gpu.sh                 # on the GPU machine, from a checkout with .venv installed
#   DEVICE=cpu SIZES=35,140 bench/gpu.sh   # the same script on CPU, to check that it runs
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
"$PYTHON" -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
timeout 60 "$PYTHON" bench/models.py --device "$DEVICE" --steps 200 --repeats 1 --chunk 50 || echo "bench/models.py failed or ran past 60 s" >&2
exec timeout 230 "$PYTHON" bench/engine.py --device "$DEVICE" --steps 500 --reps 1 --long-steps 0 \
    --sizes "${SIZES:-35,1000,10000}" --budget 3000000 --png "${PNG:-/tmp/engine-scaling-$DEVICE.png}"
