#!/usr/bin/env bash
# tools/tsan/run.sh: ThreadSanitizer check of accel's C code (c_ext/).
#
# What it proves: while many Python threads call accel's ops on the cpu, simd and gpu backends
# (and switch selections and simd module builds underneath them, tools/tsan/stress.py), no data
# race, lock-order inversion or thread leak that TSan can see involves a frame of the project's
# own C sources: c_ext/*.c (the cpu backend's driver, thread pool, kernels and wasm bands,
# through accel._cpu_native) and c_ext/fastpath/*.c (accel._fastpath). stress.py also checks
# every result against numpy and must not crash.
#
# How: the working tree (tracked and untracked-but-not-ignored files, uncommitted edits
# included; no .git, .venv or built files) is copied to a throwaway folder, both extensions are
# built there in place with -fsanitize=thread -g -O1 (the project's other flags kept: a compiler
# wrapper appends these last, so they override the -O3 of setup.py/build_cpu.py), and stress.py
# runs from there with /work/main/.venv's Python (read only: PYTHONPATH points at the copy, whose
# `accel` wins over the editable install) and libtsan preloaded. Python, numpy, OpenBLAS,
# wasmtime, wgpu and Mesa are not instrumented: TSan sees their synchronisation through the
# pthread/semaphore interceptors, and their memory accesses only through interceptors (memcpy,
# free, ...). Reports with no frame in the project's code are suppressed by
# tools/tsan/suppressions.txt (which says why, line by line).
#
# Run:   tools/tsan/run.sh [stress.py options]      e.g. tools/tsan/run.sh --seconds 20
#        PYTHON=/path/to/python (default: the repo's .venv, else python3; needs numpy, cffi,
#        setuptools, wasmtime, wgpu importable), TSAN_WORKDIR=/dir (build there and keep it:
#        a second run rebuilds only what changed; default: a mktemp folder, removed at exit).
# Time:  on 2 cores, about 10 s to build and 45 s to run (the stress's 40 s by default, its
#        start-up and the final joins): under a minute in all. The first run of a machine also
#        compiles the simd module into accel's user cache (a few seconds more).
# Exit:  0 when no report names a project frame and the stress passed; 1 when a report names
#        a project frame (those reports are printed in full; every log is kept under
#        $TSAN_WORKDIR/logs when it is set); 2 when the build fails, or the stress fails (a
#        wrong result, an unexpected error, a crash) with no such report.
#        A project frame may be only the caller of the racing access: wasm code's memory.copy
#        reaches TSan as a memmove under c_ext/wasm_bands.c's run_band or the fast path's entry.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
CC_REAL="${CC:-gcc}"
LIBTSAN="$("$CC_REAL" -print-file-name=libtsan.so)"
[[ -e "$LIBTSAN" ]] || { echo "tsan: no libtsan.so for $CC_REAL (install libtsan)"; exit 2; }
LIBTSAN="$(readlink -f "$LIBTSAN")"

if [[ -n "${TSAN_WORKDIR:-}" ]]; then
    WORK="$TSAN_WORKDIR"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/accel-tsan.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
fi
TREE="$WORK/tree"
LOGS="$WORK/logs"
mkdir -p "$TREE" "$LOGS"
rm -f "$LOGS"/tsan.*

# -- 1. the copy: what git would commit now, uncommitted edits included ------------------------
echo "tsan: copying $ROOT to $TREE"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$TREE" -xpf -

# -- 2. the build: both extensions, instrumented ---------------------------------------------
cat >"$WORK/cc" <<EOF
#!/bin/sh
# appended last: overrides -O3 (last -O wins); links libtsan into the shared objects too
exec $CC_REAL "\$@" -fsanitize=thread -g -O1 -fno-omit-frame-pointer
EOF
chmod +x "$WORK/cc"
echo "tsan: building both extensions with -fsanitize=thread -g -O1 (about 10 s)"
t0=$SECONDS
(cd "$TREE" && CC="$WORK/cc" "$PYTHON" setup.py -q build_ext --inplace >"$WORK/build.log" 2>&1) || {
    tail -40 "$WORK/build.log"; echo "tsan: the build failed"; exit 2; }
# setup.py carries on when a C build fails (the library works without them): not here
for so in _cpu_native _fastpath; do
    lib=$(ls "$TREE"/accel/$so*.so 2>/dev/null | head -1)
    if [[ -z "$lib" ]] || ! nm -D "$lib" | grep -c __tsan_func_entry >/dev/null; then
        tail -40 "$WORK/build.log"; echo "tsan: accel.$so was not built with TSan"; exit 2
    fi
done
echo "tsan: built in $((SECONDS - t0)) s"

# -- 3. the stress, under TSan ----------------------------------------------------------------
export PYTHONPATH="$TREE"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
export TSAN_OPTIONS="suppressions=$HERE/suppressions.txt log_path=$LOGS/tsan halt_on_error=0 \
history_size=7 second_deadlock_stack=1 report_signal_unsafe=0 exitcode=0 ${TSAN_EXTRA:-}"
echo "tsan: running tools/tsan/stress.py $* (TSAN_OPTIONS=$TSAN_OPTIONS)"
t0=$SECONDS
set +e
(cd "$TREE" && LD_PRELOAD="$LIBTSAN" "$PYTHON" tools/tsan/stress.py "$@")
rc=$?
set -e
echo "tsan: stress ran $((SECONDS - t0)) s, exit status $rc"

# -- 4. the verdict ---------------------------------------------------------------------------
shopt -s nullglob
logs=("$LOGS"/tsan.*)
reports=0 project=0
for log in "${logs[@]}"; do
    reports=$((reports + $(grep -c '^WARNING: ThreadSanitizer' "$log" || true)))
done
# one report per block between the ===== lines; a project frame is a file of c_ext/ (both
# extensions) or cffi's generated wrapper of the cpu library
PROJECT_RE='(^|[ /])c_ext/|accel[._]_cpu_native\.c'
if ((${#logs[@]})); then
    project=$(awk -v re="$PROJECT_RE" '
        /^==================$/ { if (inrep) { if (hit) n++; inrep = 0 } else { inrep = 1; hit = 0 } next }
        inrep && $0 ~ re { hit = 1 }
        END { print n + 0 }' "${logs[@]}")
fi
echo "tsan: $reports report(s) left after suppressions, $project with a frame in the project's code"
if ((project > 0)); then
    awk -v re="$PROJECT_RE" '
        /^==================$/ { if (inrep) { if (hit) printf "%s==================\n", buf; inrep = 0 }
                                else { inrep = 1; hit = 0; buf = $0 "\n" } next }
        inrep { buf = buf $0 "\n"; if ($0 ~ re) hit = 1 }' "${logs[@]}"
elif ((reports > 0)); then
    echo "tsan: the reports outside the project's code (candidates for suppressions.txt):"
    grep -h -A3 -E '^(WARNING: ThreadSanitizer|  (Read|Write|Previous|Atomic|Mutex))' "${logs[@]}" | head -200
fi
[[ -n "${TSAN_WORKDIR:-}" ]] && echo "tsan: logs kept in $LOGS"
((rc == 0)) || echo "tsan: FAIL: the stress failed (exit status $rc: a wrong result or a crash)"
((project == 0)) || echo "tsan: FAIL: $project report(s) involve the project's C code"
if ((project > 0)); then exit 1; fi
if ((rc != 0)); then exit 2; fi
echo "tsan: OK"
