#!/usr/bin/env bash
# bench/gpu.py on a GPU machine that has python3 with torch and transformers but no network and
# no diffusers: the wheels carried in bench/wheels/ (fetched beforehand by bench/gpu_wheels.sh)
# are unpacked into /tmp/site, which goes first on PYTHONPATH. Results: $OUT/gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."
site=/tmp/site
mkdir -p "$site"
for wheel in bench/wheels/*.whl; do
    [ -e "$wheel" ] || continue
    python3 -m zipfile -e "$wheel" "$site"
done
export PYTHONPATH="$site:."
exec timeout 270 python3 bench/gpu.py "$@"
