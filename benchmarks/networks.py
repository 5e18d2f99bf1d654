"""The three example programs (examples/) against the same math in plain numpy and in the
runtimes a user would pick instead, per forward pass, medians in milliseconds.

    env -u OPENBLAS_CORETYPE python benchmarks/networks.py [--quick] [--budget 2]

Programs: a swarm of 1000 per-agent MLPs (32-64-64-8, batches of 16 and of 1), an LSTM swarm
(1000 agents with their own weights, 20 steps), a transformer encoder block (sequence 64,
width 128, 4 heads; batches of 16 and of 1). Each runs:

- numpy: the same math in float32 (examples/*.forward_numpy);
- accel on each backend, numpy in and numpy out with the weights placed once
  (examples/*.forward);
- accel per op (gpu, simd): every op called with numpy arrays in and out, what a program
  without Arrays does; the goal for gpu on a software adapter is resident >= 2x this;
- where installed (the `bench` extra): PyTorch eager on the CPU, ONNX Runtime (the PyTorch
  module exported to ONNX), JAX with jit.

Every runner's output is first checked against the float64 numpy result. Each library is
timed in its own block of repeats (their thread pools spin between calls: interleaving would
time one library's spinning threads against another's), after a warm-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

import accel

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MLP, LSTM, BLOCK = _example("swarm_mlp"), _example("lstm_swarm"), _example("transformer_block")


def _optional(name: str):
    try:
        return __import__(name)
    except ImportError:
        return None


torch = _optional("torch")
ort = _optional("onnxruntime")
jax = _optional("jax")


# -- the programs in accel, op by op with numpy in and out -------------------------------------


def mlp_per_op(params, x, backend):
    h = x
    for i, (w, b) in enumerate(params):
        h = accel.linear(h, w, b, activation="tanh" if i < len(params) - 1 else None,
                         backend=backend)  # fmt: skip
    return h


def lstm_per_op(params, xs, h0, c0, backend):
    n, batch = LSTM.HIDDEN, h0.shape[1]
    g_x = accel.linear(xs, params["w_x"], params["b"], backend=backend)
    h, c = h0, c0
    for t in range(xs.shape[1] // batch):
        g = accel.add(g_x[:, t * batch : (t + 1) * batch],
                      accel.matmul(h, params["w_h"], backend=backend), backend=backend)  # fmt: skip
        i = accel.sigmoid(g[..., :n], backend=backend)
        f = accel.sigmoid(g[..., n : 2 * n], backend=backend)
        gg = accel.tanh(g[..., 2 * n : 3 * n], backend=backend)
        o = accel.sigmoid(g[..., 3 * n :], backend=backend)
        c = accel.add(accel.multiply(f, c, backend=backend),
                      accel.multiply(i, gg, backend=backend), backend=backend)  # fmt: skip
        h = accel.multiply(o, accel.tanh(c, backend=backend), backend=backend)
    return h


def block_per_op(params, x, backend):
    batch, seq, dim = x.shape
    hd = dim // BLOCK.HEADS
    scale = np.float32(1 / np.sqrt(hd))

    def heads(t):
        return np.ascontiguousarray(t.reshape(batch, seq, BLOCK.HEADS, hd).transpose(0, 2, 1, 3))

    p = params
    h = accel.layer_norm(x, p["ln1_w"], p["ln1_b"], backend=backend)
    q, k, v = (heads(accel.linear(h, p[f"w{n}"], p[f"b{n}"], backend=backend)) for n in "qkv")
    s = accel.multiply(accel.matmul(q, k.transpose(0, 1, 3, 2), backend=backend), scale,
                       backend=backend)  # fmt: skip
    o = accel.matmul(accel.softmax(s, backend=backend), v, backend=backend)
    o = np.ascontiguousarray(o.transpose(0, 2, 1, 3)).reshape(batch, seq, dim)
    x = accel.add(x, accel.linear(o, p["wo"], p["bo"], backend=backend), backend=backend)
    h = accel.layer_norm(x, p["ln2_w"], p["ln2_b"], backend=backend)
    f = accel.linear(h, p["w1"], p["b1"], activation="gelu_tanh", backend=backend)
    return accel.add(x, accel.linear(f, p["w2"], p["b2"], backend=backend), backend=backend)


# -- the programs in PyTorch (eager, and exported to ONNX) and JAX -----------------------------


def _torch_modules():
    nn, F = torch.nn, torch.nn.functional

    class Mlp(nn.Module):
        def __init__(self, params):
            super().__init__()
            self.layers = [(torch.from_numpy(w), torch.from_numpy(b)[:, None, :])
                           for w, b in params]  # fmt: skip

        def forward(self, x):
            for i, (w, b) in enumerate(self.layers):
                x = x @ w + b
                if i < len(self.layers) - 1:
                    x = torch.tanh(x)
            return x

    class Lstm(nn.Module):
        def __init__(self, params):
            super().__init__()
            self.p = {k: torch.from_numpy(v) for k, v in params.items()}

        def forward(self, xs, h, c):
            n, batch = LSTM.HIDDEN, h.shape[1]
            g_x = xs @ self.p["w_x"] + self.p["b"][:, None, :]
            for t in range(xs.shape[1] // batch):
                g = g_x[:, t * batch : (t + 1) * batch] + h @ self.p["w_h"]
                i, f = torch.sigmoid(g[..., :n]), torch.sigmoid(g[..., n : 2 * n])
                gg, o = torch.tanh(g[..., 2 * n : 3 * n]), torch.sigmoid(g[..., 3 * n :])
                c = f * c + i * gg
                h = o * torch.tanh(c)
            return h

    class Block(nn.Module):
        def __init__(self, params):
            super().__init__()
            self.p = {k: torch.from_numpy(v) for k, v in params.items()}

        def forward(self, x):
            p = self.p
            batch, seq, dim = x.shape
            hd = dim // BLOCK.HEADS

            def heads(t):
                return t.reshape(batch, seq, BLOCK.HEADS, hd).transpose(1, 2)

            h = F.layer_norm(x, (dim,), p["ln1_w"], p["ln1_b"])
            q, k, v = (heads(F.linear(h, p[f"w{n}"].T, p[f"b{n}"])) for n in "qkv")
            att = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5, dim=-1)
            o = (att @ v).transpose(1, 2).reshape(batch, seq, dim)
            x = x + F.linear(o, p["wo"].T, p["bo"])
            h = F.layer_norm(x, (dim,), p["ln2_w"], p["ln2_b"])
            f = F.gelu(F.linear(h, p["w1"].T, p["b1"]), approximate="tanh")
            return x + F.linear(f, p["w2"].T, p["b2"])

    return Mlp, Lstm, Block


def _jax_functions():
    jnp = jax.numpy

    def mlp(layers, x):
        for i, (w, b) in enumerate(layers):
            x = x @ w + b[:, None, :]
            if i < len(layers) - 1:
                x = jnp.tanh(x)
        return x

    def lstm(p, xs, h, c):
        n, batch = LSTM.HIDDEN, h.shape[1]
        g_x = xs @ p["w_x"] + p["b"][:, None, :]
        for t in range(xs.shape[1] // batch):
            g = g_x[:, t * batch : (t + 1) * batch] + h @ p["w_h"]
            i, f = jax.nn.sigmoid(g[..., :n]), jax.nn.sigmoid(g[..., n : 2 * n])
            gg, o = jnp.tanh(g[..., 2 * n : 3 * n]), jax.nn.sigmoid(g[..., 3 * n :])
            c = f * c + i * gg
            h = o * jnp.tanh(c)
        return h

    def block(p, x):
        batch, seq, dim = x.shape
        hd = dim // BLOCK.HEADS

        def ln(t, w, b):
            mean = t.mean(-1, keepdims=True)
            return (t - mean) / jnp.sqrt(((t - mean) ** 2).mean(-1, keepdims=True) + 1e-5) * w + b

        def heads(t):
            return t.reshape(batch, seq, BLOCK.HEADS, hd).transpose(0, 2, 1, 3)

        h = ln(x, p["ln1_w"], p["ln1_b"])
        q, k, v = (heads(h @ p[f"w{n}"] + p[f"b{n}"]) for n in "qkv")
        att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / hd**0.5, axis=-1)
        o = (att @ v).transpose(0, 2, 1, 3).reshape(batch, seq, dim)
        x = x + o @ p["wo"] + p["bo"]
        h = ln(x, p["ln2_w"], p["ln2_b"])
        return x + jax.nn.gelu(h @ p["w1"] + p["b1"], approximate=True) @ p["w2"] + p["b2"]

    return jax.jit(mlp), jax.jit(lstm), jax.jit(block)


def _onnx_session(module, inputs: tuple):
    args = tuple(torch.from_numpy(a) for a in inputs)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=17,
                          input_names=[f"in{i}" for i in range(len(args))])  # fmt: skip
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    feed = {f"in{i}": a for i, a in enumerate(inputs)}
    return lambda: session.run(None, feed)[0]


# -- the runs ------------------------------------------------------------------------------------


def programs(quick: bool) -> list[dict]:
    """Each program: its name, the numpy float32 and float64 forms, the accel runs."""
    agents = 200 if quick else 1000
    out = []
    for batch in (16, 1):
        params, x = MLP.make_params(agents), MLP.make_inputs(agents, batch)
        out.append({"name": f"MLP swarm, {agents} agents, batch {batch}", "kind": "mlp",
                    "params": params, "inputs": (x,)})  # fmt: skip
    params = LSTM.make_params(agents)
    out.append({"name": f"LSTM swarm, {agents} agents, 20 steps", "kind": "lstm",
                "params": params, "inputs": LSTM.make_inputs(agents, 20)})  # fmt: skip
    for batch in (16, 1):
        params = BLOCK.make_params(128)
        out.append({"name": f"transformer block, batch {batch}, seq 64, d 128", "kind": "block",
                    "params": params, "inputs": (BLOCK.make_inputs(batch, 64, 128),)})  # fmt: skip
    return out


def runners(prog: dict, backends: list[str]) -> dict[str, Callable[[], object]]:
    kind, params, inputs = prog["kind"], prog["params"], prog["inputs"]
    module = {"mlp": MLP, "lstm": LSTM, "block": BLOCK}[kind]
    per_op = {"mlp": mlp_per_op, "lstm": lstm_per_op, "block": block_per_op}[kind]
    run: dict[str, Callable[[], object]] = {
        "numpy": lambda: module.forward_numpy(params, *inputs, dtype=np.float32)
    }
    for b in backends:
        placed = module.place(params, b)
        run[f"accel {b}"] = lambda placed=placed, b=b: module.forward(placed, *inputs, b)
        if b != "cpu":
            run[f"accel {b} per op"] = lambda b=b: per_op(params, *inputs, b)
    if torch is not None:
        mlp_cls, lstm_cls, block_cls = _torch_modules()
        cls = {"mlp": mlp_cls, "lstm": lstm_cls, "block": block_cls}[kind]
        mod = cls(params).eval()
        targs = tuple(torch.from_numpy(a) for a in inputs)

        def eager(mod=mod, targs=targs):
            with torch.no_grad():
                return mod(*targs).numpy()

        run["torch eager"] = eager
        if ort is not None:
            run["onnxruntime"] = _onnx_session(mod, inputs)
    if jax is not None:
        fns = dict(zip(("mlp", "lstm", "block"), _jax_functions(), strict=True))
        jparams = jax.tree_util.tree_map(jax.numpy.asarray, params)
        jinputs = tuple(jax.numpy.asarray(a) for a in inputs)

        def jitted(fn=fns[kind], jparams=jparams, jinputs=jinputs):
            return np.asarray(fn(jparams, *jinputs).block_until_ready())

        run["jax jit"] = jitted
    return run


def _first(result) -> np.ndarray:
    return np.asarray(result[0] if isinstance(result, tuple) else result)


def time_block(fn: Callable[[], object], budget: float) -> float:
    """Median seconds per call: a warm-up, then calls until `budget` seconds (at least 5)."""
    for _ in range(3):
        fn()
    samples: list[float] = []
    end = time.perf_counter() + budget
    while len(samples) < 5 or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 agents, shorter timing")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per runner")
    parser.add_argument("--backends", default=",".join(accel.available_backends()))
    parser.add_argument("--only", default="mlp,lstm,block", help="programs: mlp, lstm, block")
    parser.add_argument("--runners", default="", help="only runners whose name has one of these")
    args = parser.parse_args()
    if os.environ.get("OPENBLAS_CORETYPE"):
        print("warning: OPENBLAS_CORETYPE is set: numpy's kernels are pinned (unset it)",
              file=sys.stderr)  # fmt: skip
    backends = [b for b in args.backends.split(",") if b]
    budget = 0.5 if args.quick else args.budget
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; numpy "
          f"{np.__version__}, accel {accel.__version__}"
          + (f", torch {torch.__version__}" if torch else "")
          + (f", onnxruntime {ort.__version__}" if ort else "")
          + (f", jax {jax.__version__}" if jax else ""))  # fmt: skip
    wanted = [w for w in args.runners.split(",") if w]
    for prog in programs(args.quick):
        if prog["kind"] not in args.only.split(","):
            continue
        module = {"mlp": MLP, "lstm": LSTM, "block": BLOCK}[prog["kind"]]
        expected = _first(module.forward_numpy(prog["params"], *prog["inputs"]))
        scale = float(np.max(np.abs(expected)))
        times = {}
        # the gpu last: a software adapter's worker threads keep spinning a while after its
        # calls, and would slow whatever is timed next
        order = sorted(runners(prog, backends).items(), key=lambda kv: "accel gpu" in kv[0])
        for name, fn in order:
            if wanted and name != "numpy" and not any(w in name for w in wanted):
                continue
            time.sleep(0.5)  # the last library's threads at rest
            got = _first(fn())
            err = float(np.max(np.abs(got - expected))) / scale
            if not err < 1e-3:
                print(f"  {name}: WRONG (max relative error {err:.1e})")
                continue
            times[name] = time_block(fn, budget)
        base = times["numpy"]
        print(f"\n{prog['name']}")
        for name, t in times.items():
            extra = ""
            if name.endswith("per op"):
                resident = times.get(name[: -len(" per op")])
                if resident:
                    extra = f"  (resident is {t / resident:.2f}x faster)"
            elif name.startswith("accel") and f"{name} per op" in times:
                extra = f"  (per op / resident: {times[name + ' per op'] / t:.2f})"
            ratio = f"{base / t:5.2f}x numpy"
            if "torch eager" in times and name.startswith("accel"):
                ratio += f", {times['torch eager'] / t:5.2f}x torch"
            print(f"  {name:22} {t * 1e3:9.3f} ms  {ratio}{extra}")


if __name__ == "__main__":
    main()
