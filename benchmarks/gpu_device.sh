#!/usr/bin/env bash
# The gpu backend on a real GPU: one run, prepared here, carried to a machine that has a GPU,
# Python and no package registry, and finished there within 8 minutes.
#
#   bash benchmarks/gpu_device.sh prepare [PYTHON_VERSION]   # here, with pip and a compiler
#   bash benchmarks/gpu_device.sh run OUT_DIR                 # there, from the project's root
#
# `prepare` fills two git-ignored folders of the checkout: .whl/ (accel-chain built here, and
# wgpu, wasmtime, cffi, pycparser and rendercanvas for that Python, 3.12 unless named) and, where
# apt-get can download, .gl/ (Debian's Vulkan and EGL loaders, for a machine that lacks them).
#
# `run` installs the wheels into a folder of its own (nothing of the machine's Python changes),
# then, each step under its own time limit and writing into OUT_DIR:
#   machine.txt        the GPU (nvidia-smi), Python, the Vulkan adapters wgpu sees
#   tests.txt, .xml    the gpu tests, slow ones included, with the gpu required and, unless the
#                      adapter is a software one (a dry run), required to be real hardware
#   calibrate.txt      `accel calibrate`
#   probe.json         `accel probe --json`
#   gpu_speed.txt      benchmarks/gpu_speed.py: every gpu matmul variant at n = 1024..8192
#                      (GPU_SIZES), resident float32, against torch.matmul with TF32 off
#   summary.txt        each step's exit status and seconds
# It exits non-zero if a step failed. On a machine with no GPU it is its own dry run: the software
# adapter, the sizes 128..512, the same steps.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

prepare() {
  local pyver=${1:-3.12}
  for d in /.whl/ /.gl/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
  rm -rf .whl && mkdir -p .whl
  python3 -m pip wheel -q --no-deps -w .whl . || return 1
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    "wgpu==${WGPU_VERSION:-0.32.0}" "wasmtime==${WASMTIME_VERSION:-50.0.1}" cffi pycparser \
    rendercanvas || return 1
  if command -v apt-get >/dev/null; then
    local lists; lists=$(mktemp -d); mkdir -p "$lists/partial" .gl
    local o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
    # shellcheck disable=SC2086
    if apt-get $o update -qq 2>/dev/null; then
      (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
        libgles2 >/dev/null) || echo "could not download the loaders into .gl/"
    else
      echo "apt-get could not update: .gl/ is left empty (fine where the GPU machine has libvulkan)"
    fi
  fi
  ls .whl .gl 2>/dev/null
  echo "carry .whl and .gl, and run there: bash benchmarks/gpu_device.sh run \$OUT"
}

# step NAME SECONDS COMMAND...: runs a step under a time limit, books its status and time
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS rc
  echo "== $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@"
  rc=$?
  printf '%-12s rc=%-4s %4ss\n' "$name" "$rc" "$((SECONDS - t0))" >> "$out/summary.txt"
  [ "$rc" -eq 0 ] || failed=1
  return 0
}

run() {
  out=$(mkdir -p "$1" && cd "$1" && pwd)
  : > "$out/summary.txt"
  failed=0
  # Vulkan's loader, where the machine has none (the GPU machine's image may not)
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  local site; site=$(mktemp -d)
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl \
    || { echo "installing .whl/ failed: run prepare here first, for this Python"; exit 1; }
  export PYTHONPATH=$site PATH=$site/bin:$PATH XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
  export PYTHONUNBUFFERED=1
  # every command runs outside the checkout, so that `import accel` is the installed build
  local work; work=$(mktemp -d)
  cd "$work" || exit 1
  python3 - > "$out/adapters.txt" 2>&1 <<'PY'
import wgpu
for a in wgpu.gpu.enumerate_adapters_sync():
    print(a.info["adapter_type"], "|", a.info["device"], "|", a.info["backend_type"])
PY
  # wgpu finds the NVIDIA driver through its ICD file where the loader's search misses it
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if ! grep -qiE 'DiscreteGPU|IntegratedGPU' "$out/adapters.txt" && [ -f "$icd" ]; then
    export VK_DRIVER_FILES=$icd
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  fi
  {
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi"
    python3 --version
    python3 - <<'PY'
import wgpu, accel
from accel import backends
for a in wgpu.gpu.enumerate_adapters_sync():
    print("adapter:", a.info["adapter_type"], "|", a.info["device"], "|", a.info["backend_type"])
gpu = backends.get("gpu")
print("accel", accel.__version__, "from", accel.__file__, "gpu:", gpu.unavailable_reason() or gpu.details())
PY
  } > "$out/machine.txt" 2>&1
  cat "$out/machine.txt"
  local software=0 sizes
  grep -q "'software': True" "$out/machine.txt" && software=1
  if [ "$software" = 1 ]; then
    echo "software adapter: a dry run"
    sizes=${GPU_SIZES:-128 256 512}
    export ACCEL_TEST_GPU_SOFTWARE=1
  else
    sizes=${GPU_SIZES:-1024 2048 4096 8192}
    export ACCEL_TEST_GPU_HARDWARE=1
  fi
  export ACCEL_TEST_REQUIRE=gpu
  # the gpu tests: every test with a gpu case, the slow ones too (every kernel variant)
  step tests 210 python3 -m pytest "$root/tests" -c "$root/pyproject.toml" --rootdir "$root" \
    -p no:cacheprovider -q -m "slow or not slow" -k gpu --junitxml "$out/tests.xml" \
    > "$out/tests.txt" 2>&1
  tail -3 "$out/tests.txt"
  step calibrate 60 accel calibrate > "$out/calibrate.txt" 2>&1
  step probe 30 accel probe --json > "$out/probe.json" 2> "$out/probe.err"
  # shellcheck disable=SC2086
  step gpu_speed 120 python3 "$root/benchmarks/gpu_speed.py" $sizes > "$out/gpu_speed.txt" 2>&1
  cat "$out/gpu_speed.txt"
  echo "== summary"
  cat "$out/summary.txt"
  return "$failed"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  run) [ $# -ge 2 ] || { echo "usage: $0 run OUT_DIR"; exit 2; }; run "$2" ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
