#!/usr/bin/env bash
# Prepares the device tool's bare GPU image for the project (it has torch and triton, no pydantic,
# no lark, no installed project). Wheels come from this machine, carried under out/whl:
#   python3 -m pip download --only-binary=:all: --python-version 3.12 \
#     --platform manylinux2014_x86_64 -d out/whl pydantic lark nvidia-ml-py
# then, on the device: bash benchmarks/gpu/device_setup.sh && <command>
set -euo pipefail
python3 -m pip install -q --no-deps --no-build-isolation out/whl/*.whl
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
