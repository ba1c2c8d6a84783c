#!/usr/bin/env bash
# Fetch (on a machine with network access) the wheels bench/gpu.sh unpacks on a GPU machine
# that has torch and transformers 5 for Python 3.12 but not diffusers and the libraries
# diffusers imports (requests, Pillow). About 14 MB in bench/wheels/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --dest bench/wheels \
    diffusers==0.42.1 requests==2.34.2 certifi==2026.10.19.post1 idna==3.20 urllib3==2.8.0 \
    charset-normalizer==3.5.3 pillow==13.0.0
ls -l bench/wheels
