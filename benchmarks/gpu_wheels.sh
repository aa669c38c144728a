#!/usr/bin/env bash
# Download the wheels benchmarks/gpu_check.py needs on a GPU machine that has torch (CUDA build),
# numpy, pandas and nvidia-ml-py / pynvml but not the rest, so they can be installed there offline.
#
#   bash benchmarks/gpu_wheels.sh                  # wheels for CPython 3.12, manylinux x86_64, into .whl/
#   PYVERS="3.11 3.12" bash benchmarks/gpu_wheels.sh   # for several Python versions (each adds ~25 MB)
#   WITH_TORCHAO=1 bash benchmarks/gpu_wheels.sh   # also torchao (its build must match the machine's torch)
#
# On the GPU machine, from the repository root (pip picks each package's wheel for its Python):
#
#   pip install --no-index --no-deps --find-links .whl --target /tmp/site -r .whl/requirements.txt
#   PYTHONPATH=/tmp/site python benchmarks/gpu_check.py
#
# The list is what gpu_check's steps import (vlmperf's CLI, API and local backend, harness_overhead.py,
# pytest) less what such a machine has anyway (torch and its own dependencies: filelock, fsspec, jinja2,
# networkx, sympy, triton; numpy; pandas). Versions are those of constraints.txt where it pins them,
# else those vlmperf is tested with. torchao is left out by default: transformers imports it when it is
# there, and a torchao built for another torch breaks every model load; without it the torchao-int8
# cell fails with what to install, as bitsandbytes and flash-attn cells do.
set -euo pipefail

cd "$(dirname "$0")/.."
DEST=.whl
PYVERS=${PYVERS:-3.12}
mkdir -p "$DEST"

cat > "$DEST/requirements.txt" <<'EOF'
transformers==5.23.0
tokenizers==0.23.3
huggingface-hub==2.4.0
httpx2==2.16.2
httpcore2==2.16.2
h11==0.16.0
anyio==4.16.0
sniffio==1.3.1
idna==3.20
truststore==0.10.5
safetensors==0.8.0
regex==2026.11.19
tqdm==4.70.1
accelerate==1.15.0
psutil==7.2.2
PyYAML==6.0.4
packaging==26.4
filelock==4.3.2
pydantic==2.14.4
pydantic-core==2.50.5
annotated-types==0.8.0
typing-inspection==0.4.5
typing-extensions==4.16.0
typer==0.29.2
annotated-doc==0.0.7
shellingham==1.5.4
rich==15.0.0
pygments==2.21.0
markdown-it-py==4.3.0
mdurl==0.1.2
orjson==3.13.0
pillow==13.0.0
nvidia-ml-py==13.615.71
pytest==9.2.0
pluggy==1.7.0
iniconfig==2.3.1
EOF
if [ "${WITH_TORCHAO:-0}" = 1 ]; then
  echo "torchao==0.18.0" >> "$DEST/requirements.txt"
fi

for pyver in $PYVERS; do
  pip download --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$DEST" -r "$DEST/requirements.txt"
done
du -sh "$DEST"
