"""tools/tsan/stress.py: a threaded stress of accel's native code, run by tools/tsan/run.sh
under ThreadSanitizer (it runs without TSan too: `python tools/tsan/stress.py --seconds 10`).

Threads call the ops (relu, tanh, softmax, matmul of 8x8, 300x300 and 512x512, linear with
activation="tanh", dot) with numpy operands and with `accel.asarray(..., backend=...)` Arrays, on
"cpu" and "simd" (and small calls on "gpu"), while others enter `use_backend("simd")`, call
`set_backend("auto")` / `set_backend(None)` and switch the simd module build
(`use_variant(v)` for v in `.variants()`), and one cycles the cpu backend's instruction sets
(avx512, avx2, baseline: whichever the CPU has). Every result is checked against numpy (float32 with
rtol 1e-4, float64 with rtol 1e-9, the reference computed in float64). The cpu pool is given
more threads than the machine has cores (--pool-threads), so its workers interleave more.

Before that, the issue's two reproductions:
(a) one thread loops `matmul(a512, a512, backend="simd")` while another loops
    `set_backend("auto"); relu(x, backend="simd")`;
(b) the cpu library's C entry points, called through cffi with degenerate sizes
    (linear with m=1, n=0, K=5 and with m=0, n=1; softmax of 3 rows of 0 columns), must return.
And one this check found: (c) cpu calls that the compiled fast path runs with the GIL released,
while another thread switches the simd build and makes a small cpu call (the fast path's cpu
entry points are written again: configure_cpu in c_ext/fastpath/module.c).

Exit status: 0, or 1 on a wrong result or an unexpected exception (each is printed). The only
error tolerated is the documented one of an Array made under the other simd module build
(a use_variant switch came between making it and using it).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
import traceback

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import numpy as np

import accel

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
RTOL = {F32: 1e-4, F64: 1e-9}
ATOL = {F32: 1e-6, F64: 1e-12}
OTHER_BUILD = "other simd module build"  # the one error a variant switch may cause


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.failures: list[str] = []
        self.tolerated = 0

    def count(self, what: str) -> None:
        with self.lock:
            self.calls[what] = self.calls.get(what, 0) + 1

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)
        print(f"stress: FAILURE: {what}", file=sys.stderr, flush=True)


STATS = Stats()


def host(x) -> np.ndarray:
    return x.numpy() if isinstance(x, accel.Array) else np.asarray(x)


def check(what: str, got, ref: np.ndarray, dtype: np.dtype) -> None:
    got = host(got)
    if got.shape != ref.shape:
        STATS.fail(f"{what}: shape {got.shape}, expected {ref.shape}")
    elif got.dtype != dtype:
        STATS.fail(f"{what}: dtype {got.dtype}, expected {dtype}")
    elif not np.allclose(got, ref, rtol=RTOL[dtype], atol=ATOL[dtype]):
        with np.errstate(all="ignore"):
            err = np.max(np.abs(got.astype(np.float64) - ref) / (np.abs(ref) + ATOL[dtype]))
        STATS.fail(f"{what}: differs from numpy (max relative error {err:.3g})")
    else:
        on = next((b for b in ("simd", "gpu", "cpu") if b in what), "")
        STATS.count(f"{what.split(' ')[0]} {on}".strip())


def guarded(what: str, fn) -> None:
    """fn(), any exception but the tolerated one a failure."""
    try:
        fn()
    except accel.AccelError as e:
        if OTHER_BUILD in str(e):
            with STATS.lock:
                STATS.tolerated += 1
        else:
            STATS.fail(f"{what}: {type(e).__name__}: {e}\n{traceback.format_exc()}")
    except Exception as e:  # every other error is a finding
        STATS.fail(f"{what}: {type(e).__name__}: {e}\n{traceback.format_exc()}")


# -- data: made once, read by every thread ------------------------------------------------------
def make_data(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    d = {}
    for dt in (F32, F64):
        for n in (8, 300, 512):
            # positive products (no cancellation: rtol is meaningful), w scaled so that tanh
            # of the linear layer is not saturated
            d["a", dt, n] = rng.random((n, n)).astype(dt)
            d["w", dt, n] = (rng.random((n, n)) / n).astype(dt)
            d["bias", dt, n] = (rng.random(n) - 0.5).astype(dt)
        for n in (64, 4096, 200_000):
            d["x", dt, n] = (rng.random(n) * 8 - 4).astype(dt)
            d["v", dt, n] = rng.random(n).astype(dt)
        d["rows", dt] = (rng.random((37, 129)) * 8 - 4).astype(dt)
    return d


def ref_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64)


# -- the ops, each with its reference ------------------------------------------------------------
def op_case(rng: random.Random, d: dict, backend: str, big: bool):
    """One random call: (name, thunk returning the result, reference, dtype, inputs)."""
    dt = F32 if backend == "gpu" or rng.random() < 0.8 else F64
    kind = rng.choice(("relu", "tanh", "softmax", "matmul", "linear", "dot", "matmul-views"))
    if kind in ("relu", "tanh"):
        n = rng.choice((64, 4096, 200_000) if big else (64, 4096))
        x = d["x", dt, n]
        ref = np.maximum(f64(x), 0) if kind == "relu" else np.tanh(f64(x))
        return f"{kind} n={n}", getattr(accel, kind), (x,), {}, ref, dt
    if kind == "softmax":
        x = d["rows", dt]
        return "softmax 37x129", accel.softmax, (x,), {}, ref_softmax(x), dt
    if kind == "dot":
        n = rng.choice((64, 4096, 200_000) if big else (64, 4096))
        a, b = d["v", dt, n], d["x", dt, n]
        return f"dot n={n}", accel.dot, (a, b), {}, np.array(np.dot(f64(a), f64(b))), dt
    n = rng.choice((8, 300, 512) if big else (8, 300)) if backend != "gpu" else 8
    a = d["a", dt, n]
    if kind == "matmul":
        return f"matmul {n}x{n}", accel.matmul, (a, a), {}, f64(a) @ f64(a), dt
    if kind == "matmul-views":  # on Arrays: A a view (copied), B a .mT (read in place)
        return (f"matmul-views {n}x{n}", _product_of_transposes, (a, a), {},
                f64(a).T @ f64(a).T, dt)  # fmt: skip
    w, bias = d["w", dt, n], d["bias", dt, n]
    ref = np.tanh(f64(a) @ f64(w) + f64(bias))
    return (f"linear-tanh {n}x{n}", accel.linear, (a, w, bias), {"activation": "tanh"}, ref, dt)


def _product_of_transposes(x, y, **kwargs):
    """x.T @ y.T: on Arrays both operands are views (.mT), on numpy transposed views."""
    xt = x.mT if isinstance(x, accel.Array) else x.T
    yt = y.mT if isinstance(y, accel.Array) else y.T
    return accel.matmul(xt, yt, **kwargs)


def call_once(rng: random.Random, d: dict, backend: str, big: bool) -> None:
    name, fn, args, kwargs, ref, dt = op_case(rng, d, backend, big)
    style = rng.random()
    if style < 0.4:  # numpy operands, backend= named
        what = f"{name} {dt} numpy backend={backend}"
        guarded(what, lambda: check(what, fn(*args, **kwargs, backend=backend), ref, dt))
    elif style < 0.55 and backend != "gpu":  # numpy operands, the selection of a block
        what = f"{name} {dt} numpy use_backend({backend})"

        def run() -> None:
            with accel.use_backend(backend):
                check(what, fn(*args, **kwargs), ref, dt)

        guarded(what, run)
    else:  # Arrays of the backend: the op runs there and returns an Array
        what = f"{name} {dt} Array({backend})"

        def run() -> None:
            arrays = [accel.asarray(x, backend=backend) for x in args]
            out = fn(*arrays, **kwargs)
            if name.startswith("dot"):  # a scalar
                check(what, np.asarray(host(out)), ref, dt)
            else:
                if not isinstance(out, accel.Array) or out.backend != backend:
                    STATS.fail(f"{what}: returned {out!r}, not an Array on {backend}")
                check(what, out, ref, dt)

        guarded(what, run)


# -- the threads ----------------------------------------------------------------------------------
def op_worker(seed: int, d: dict, stop: threading.Event, backends: tuple[str, ...],
              big_every: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    i = 0
    while not stop.is_set():
        i += 1
        call_once(rng, d, rng.choice(backends), big=i % big_every == 0)


def gpu_worker(seed: int, d: dict, stop: threading.Event) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        call_once(rng, d, "gpu", big=False)
        stop.wait(0.05)


def selection_worker(seed: int, d: dict, stop: threading.Event) -> None:
    rng = random.Random(seed)
    x = d["x", F32, 64]
    ref = np.maximum(f64(x), 0)
    block = accel.use_backend("simd")  # one object entered again and again, as documented
    while not stop.is_set():
        r = rng.random()
        if r < 0.4:

            def run() -> None:
                with block:
                    check("relu use_backend(simd) switcher", accel.relu(x), ref, F32)

            guarded("use_backend(simd)", run)
        elif r < 0.7:
            guarded("set_backend(auto)", lambda: accel.set_backend("auto"))
        else:
            guarded("set_backend(None)", lambda: accel.set_backend(None))
        STATS.count("selection-switch")
        stop.wait(0.002)


def variant_worker(stop: threading.Event, pause: float) -> None:
    simd = accel.backends.get("simd")
    while not stop.is_set():
        for v in simd.variants():
            guarded(f"use_variant({v})", lambda v=v: simd.use_variant(v))
            STATS.count("variant-switch")
            if stop.wait(pause):
                return


def isa_worker(stop: threading.Event, pause: float) -> None:
    """The cpu backend's instruction sets in turn (its kernels for each are checked then)."""
    cpu = accel.backends.get("cpu")
    isas = cpu.supported_isas()
    while not stop.is_set():
        for isa in isas:
            guarded(f"cpu use_variant({isa})", lambda isa=isa: cpu.use_variant(isa))
            STATS.count("cpu-isa-switch")
            if stop.wait(pause):
                break
    cpu.use_variant(isas[0])


def cffi_worker(seed: int, stop: threading.Event) -> None:
    """The cpu library's entry points called directly, degenerate sizes among small real ones."""
    rng = random.Random(seed)
    while not stop.is_set():
        if rng.random() < 0.5:
            degenerate_calls()
        else:
            direct_linear(rng.choice((1, 2, 3, 17, 64)), rng.choice((1, 5, 64)),
                          rng.choice((1, 7, 64)))  # fmt: skip
        stop.wait(0.001)


# -- reproduction (b): degenerate sizes straight through cffi ------------------------------------
def degenerate_calls() -> None:
    cpu = accel.backends.get("cpu")
    lib, ffi = cpu._lib, cpu._ffi
    a, b, c = ffi.new("float[]", 16), ffi.new("float[]", 16), ffi.new("float[]", 16)
    for i in range(16):
        a[i], b[i], c[i] = 1.0, 2.0, -7.0
    # (batch, m, n, k): m=1, n=0, K=5 (the call) and m=0, n=1
    for batch, m, n, k in ((1, 1, 0, 5), (1, 0, 1, 5), (1, 0, 0, 5), (0, 1, 1, 5)):
        rc = lib.accel_linear_f32(a, b, c, ffi.NULL, -1, batch, m, n, k, 0, 0, 0, 0)
        if rc != 0:
            STATS.fail(f"accel_linear_f32(batch={batch}, m={m}, n={n}, K={k}) returned {rc}")
    lib.accel_softmax_f32(a, c, 3, 0)  # 3 rows of 0 columns
    lib.accel_softmax_f32(a, c, 0, 3)
    if any(c[i] != -7.0 for i in range(16)):
        STATS.fail("an empty linear/softmax wrote into its output")
    STATS.count("cffi-degenerate")


def direct_linear(m: int, n: int, k: int) -> None:
    cpu = accel.backends.get("cpu")
    lib, ffi = cpu._lib, cpu._ffi
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a = rng.random((m, k)).astype(np.float32)
    b = rng.random((k, n)).astype(np.float32)
    bias = rng.random(n).astype(np.float32)
    c = np.full((m, n), np.nan, dtype=np.float32)
    rc = lib.accel_linear_f32(
        ffi.from_buffer("float[]", a),
        ffi.from_buffer("float[]", b),
        ffi.from_buffer("float[]", c, require_writable=True),
        ffi.from_buffer("float[]", bias),
        2,
        1,
        m,
        n,
        k,
        0,
        0,
        0,
        0,
    )  # 2: tanh; no batch strides, one bias, B not transposed
    if rc != 0:
        STATS.fail(f"accel_linear_f32 {m}x{n}x{k} returned {rc}")
    check(f"cffi-linear {m}x{n}x{k}", c, np.tanh(f64(a) @ f64(b) + f64(bias)), F32)


# -- reproduction (a): a simd matmul against set_backend("auto") + relu --------------------------
def reproduction_a(d: dict, seconds: float) -> None:
    a = d["a", F32, 512]
    ref = f64(a) @ f64(a)
    x = d["x", F32, 4096]
    relu_ref = np.maximum(f64(x), 0)
    stop = threading.Event()

    def matmuls() -> None:
        while not stop.is_set():
            guarded(
                "repro-a matmul",
                lambda: check(
                    "repro-a-matmul 512 simd", accel.matmul(a, a, backend="simd"), ref, F32
                ),
            )

    def switches() -> None:
        while not stop.is_set():

            def run() -> None:
                accel.set_backend("auto")
                check("repro-a-relu simd", accel.relu(x, backend="simd"), relu_ref, F32)

            guarded("repro-a set_backend+relu", run)

    threads = [threading.Thread(target=f, name=f.__name__) for f in (matmuls, switches)]
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()


# -- reproduction (c): the fast path's cpu entry points rewritten while a kernel runs -------------
def reproduction_c(d: dict, seconds: float) -> None:
    """One thread makes cpu calls the compiled fast path runs with the GIL released (work of
    2^20 and more: linear, elementwise, dot, softmax); another switches the simd build (a
    "variant" notice: accel._fast forgets the cpu entries) and makes a small cpu call, which
    configures them again (c_ext/fastpath/module.c's configure_cpu writes fp_linear[] etc.)."""
    simd = accel.backends.get("simd")
    a = d["a", F32, 300]
    big = np.tile(d["x", F32, 4096], 256)  # 2^20 elements
    rows = big.reshape(1024, 1024)
    cases = [
        ("repro-c-matmul 300 cpu", lambda: accel.matmul(a, a, backend="cpu"), f64(a) @ f64(a)),
        ("repro-c-relu 2^20 cpu", lambda: accel.relu(big, backend="cpu"), np.maximum(f64(big), 0)),
        ("repro-c-dot 2^20 cpu", lambda: accel.dot(big, big, backend="cpu"),
         np.array(np.dot(f64(big), f64(big)))),
        ("repro-c-softmax 1024x1024 cpu", lambda: accel.softmax(rows, backend="cpu"),
         ref_softmax(rows)),
    ]  # fmt: skip
    small = d["x", F32, 64]
    stop = threading.Event()

    def kernels() -> None:
        i = 0
        while not stop.is_set():
            what, fn, ref = cases[i % len(cases)]
            guarded(what, lambda what=what, fn=fn, ref=ref: check(what, fn(), ref, F32))
            i += 1

    def switches() -> None:
        while not stop.is_set():
            for v in simd.variants():
                guarded(f"use_variant({v})", lambda v=v: simd.use_variant(v))
                guarded("repro-c relu 64 cpu", lambda: check(
                    "repro-c-relu 64 cpu", accel.relu(small, backend="cpu"),
                    np.maximum(f64(small), 0), F32))  # fmt: skip

    threads = [threading.Thread(target=f, name=f.__name__) for f in (kernels, switches)]
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=40.0, help="total run time (default 40)")
    p.add_argument("--workers", type=int, default=3, help="op threads (default 3)")
    p.add_argument(
        "--pool-threads",
        type=int,
        default=4,
        help="threads of the cpu backend's native pool (default 4)",
    )
    p.add_argument(
        "--big-every",
        type=int,
        default=6,
        help="every n-th call of an op thread may be large (512x512, 200k elements)",
    )
    p.add_argument("--no-gpu", action="store_true", help="leave the gpu backend out")
    p.add_argument(
        "--no-variants",
        action="store_true",
        help="no thread of the main stress switches the simd module build",
    )
    p.add_argument(
        "--no-repro-c",
        action="store_true",
        help="leave out reproduction (c) (fast-path entries rewritten mid-kernel)",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t_start = time.monotonic()

    cpu, simd = accel.backends.get("cpu"), accel.backends.get("simd")
    for b in (cpu, simd):
        if b.unavailable_reason() is not None:
            print(f"stress: backend {b.name} unavailable: {b.unavailable_reason()}")
            return 1
    cpu._lib.accel_set_num_threads(args.pool_threads)
    gpu_ok = not args.no_gpu and accel.backends.get("gpu").unavailable_reason() is None
    print(f"stress: accel from {os.path.dirname(accel.__file__)}; cpu isa {cpu.isa()}, "
          f"pool {cpu._lib.accel_get_num_threads()} threads; simd variants {simd.variants()}; "
          f"gpu {'on' if gpu_ok else 'off'}", flush=True)  # fmt: skip
    d = make_data(args.seed)

    # (b) first: a crash here is the finding, before anything else runs
    degenerate_calls()
    print("stress: (b) degenerate cffi calls returned", flush=True)
    # (a): its own share of the time
    t_a = max(3.0, args.seconds * 0.2)
    reproduction_a(d, t_a)
    print(f"stress: (a) simd matmul vs set_backend(auto)+relu ran {t_a:.0f} s", flush=True)
    if not args.no_repro_c:
        t_c = max(3.0, args.seconds * 0.1)
        reproduction_c(d, t_c)
        print(f"stress: (c) GIL-free cpu kernels vs configure_cpu ran {t_c:.0f} s", flush=True)

    stop = threading.Event()
    threads = [threading.Thread(target=op_worker, name=f"ops-{i}",
                                args=(args.seed + i, d, stop, ("cpu", "simd"), args.big_every))
               for i in range(args.workers)]  # fmt: skip
    threads += [
        threading.Thread(target=selection_worker, name="selection", args=(101, d, stop)),
        threading.Thread(target=cffi_worker, name="cffi", args=(202, stop)),
        threading.Thread(target=isa_worker, name="isas", args=(stop, 0.2)),
    ]
    if not args.no_variants:
        threads.append(threading.Thread(target=variant_worker, name="variants", args=(stop, 0.05)))
    if gpu_ok:
        threads.append(threading.Thread(target=gpu_worker, name="gpu", args=(303, d, stop)))
    for t in threads:
        t.start()
    remaining = args.seconds - (time.monotonic() - t_start)
    stop.wait(max(remaining, 3.0))
    stop.set()
    for t in threads:
        t.join(timeout=120)
        if t.is_alive():
            STATS.fail(f"thread {t.name} did not finish within 120 s of the stop")
    # a last check that the process is still sound after the switching
    accel.set_backend(None)
    check("final-matmul 300 cpu", accel.matmul(d["a", F32, 300], d["a", F32, 300],
                                               backend="cpu"),
          f64(d["a", F32, 300]) @ f64(d["a", F32, 300]), F32)  # fmt: skip

    took = time.monotonic() - t_start
    total = sum(STATS.calls.values())
    print(
        f"stress: {total} checked calls and switches in {took:.0f} s "
        f"({STATS.tolerated} tolerated other-build errors):",
        flush=True,
    )
    for what, n in sorted(STATS.calls.items()):
        print(f"  {what:24s} {n}")
    if STATS.failures:
        print(f"stress: {len(STATS.failures)} FAILURES", flush=True)
        return 1
    print("stress: OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
