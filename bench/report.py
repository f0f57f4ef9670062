"""Turns JMH's JSON results into bench/reports/bridge.md: each figure beside the reference
measured in the same run, as a ratio or a difference, against the goals of the bridge.

Usage: python bench/report.py target/jmh.json bench/reports/bridge.md
"""

import json
import os
import platform
import sys
from datetime import datetime, timezone


def load(path):
    results = {}
    for entry in json.load(open(path)):
        name = entry["benchmark"].rsplit(".", 2)
        key = (name[-2], name[-1], tuple(sorted(entry.get("params", {}).items())))
        metric = entry["primaryMetric"]
        results[key] = (metric["score"], metric["scoreError"], metric["scoreUnit"],
                        metric.get("scorePercentiles", {}).get("50.0"))
    return results


def fmt(value, error):
    error = float(error)  # JMH writes "NaN" when there are too few iterations
    return f"{value:,.2f} ± {error:,.2f}" if error == error else f"{value:,.2f}"


def median(result):
    return "–" if result[3] is None else f"{result[3]:,.2f}"


def flatness(r, sizes):
    """The largest handoff mean over the smallest, either way, across sizes."""
    ratios = []
    for bench in ("javaToJax", "jaxToJava"):
        means = [r[("HandoffBenchmark", bench, (("bytes", s),))][0] for s in sizes]
        ratios.append(max(means) / min(means))
    return max(ratios)


def size_label(n):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n // scale} {unit}"
    return f"{n} B"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(src, dst):
    r = load(src)
    lines = ["# Bridge and tensor benchmarks", "",
             f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
             f"({cpu_model()}), CPU backend, with `./latentlab bench` (JMH, 1 fork; the ± is JMH's "
             "99.9% interval). Every figure stands beside a reference measured in the same run.", ""]

    raw = r.get(("BridgeCallBenchmark", "rawInvoke_interpreterThread", ()))
    dispatch = r.get(("BridgeCallBenchmark", "bridgeDispatch_interpreterThread", ()))
    other = r.get(("BridgeCallBenchmark", "bridgeCall_otherThread", ()))
    if raw and other:
        diff = other[0] - raw[0]
        lines += ["## Bridge call round trip (µs per call)", "",
                  "| call | µs | minus raw Jep |", "|---|---|---|",
                  f"| raw Jep `invoke` of a no-op, interpreter thread (reference) | {fmt(*raw[:2])} | 0 |"]
        if dispatch:
            lines.append(f"| bridge dispatch (`latentlab.bridge.call`), interpreter thread | "
                         f"{fmt(*dispatch[:2])} | {dispatch[0] - raw[0]:+.2f} |")
        lines += [f"| `PythonBridge.call` from another thread | {fmt(*other[:2])} | {diff:+.2f} |", "",
                  f"Goal: within raw + 10 µs from another thread: **{'met' if diff <= 10 else 'not met'}** "
                  f"({diff:+.1f} µs).", ""]

    sizes = sorted({dict(k[2]).get("bytes") for k in r if k[0] == "HandoffBenchmark"},
                   key=lambda s: int(s))
    if sizes:
        lines += ["## Tensor handoff (µs per handoff, one bridge call each)", "",
                  "Each handoff includes its release: Python drops the jax.Array (Java's export is "
                  "released) and Java closes the received tensor (Python's export is released). "
                  "Mean ± interval, and the median of every timed handoff.", "",
                  "| size | Java → jax.Array | median | jax.Array → Java | median | "
                  "memcpy (reference) | Java → JAX ÷ memcpy | JAX → Java ÷ memcpy |",
                  "|---|---|---|---|---|---|---|---|"]
        worst, worst_median, beats = 0.0, 0.0, []
        for s in sizes:
            p = (("bytes", s),)
            to_jax, to_java, copy = (r[("HandoffBenchmark", b, p)] for b in ("javaToJax", "jaxToJava", "memcpy"))
            worst = max(worst, to_jax[0], to_java[0])
            if int(s) >= 4 << 20:
                beats.append(max(to_jax[0], to_java[0]) < copy[0])
            worst_median = max(worst_median, to_jax[3] or 0, to_java[3] or 0)
            lines.append(f"| {size_label(int(s))} | {fmt(*to_jax[:2])} | {median(to_jax)} | "
                         f"{fmt(*to_java[:2])} | {median(to_java)} | "
                         f"{fmt(*copy[:2])} | {to_jax[0] / copy[0]:.3g} | {to_java[0] / copy[0]:.3g} |")
        lines += ["", f"Goals: ≤ 60 µs each way at every size, on the mean: "
                  f"**{'met' if worst <= 60 else 'not met'}** (slowest mean {worst:.1f} µs, "
                  f"slowest median {worst_median:.1f} µs); faster than memcpy from 4 MiB up: "
                  f"**{'met' if beats and all(beats) else 'not met'}**; flat in size: the largest "
                  f"mean is {flatness(r, sizes):.2f}× the smallest.", ""]

    fused = r.get(("SamplingBenchmark", "fused", ()))
    stepwise = r.get(("SamplingBenchmark", "stepwise", ()))
    if fused and stepwise:
        overhead = stepwise[0] / fused[0] - 1
        lines += ["## Step-by-step sampling from Java against fused sampling (ms per 20-step run)", "",
                  "Quickstart-shaped model (random weights), batch 64, DDIM, 20 steps, guidance 3.", "",
                  "| mode | ms | ratio |", "|---|---|---|",
                  f"| fused: one jitted `lax.scan` (reference) | {fmt(*fused[:2])} | 1 |",
                  f"| stepwise: `SamplerSession.step()` ×20, x_t and x̂0 to Java each step | "
                  f"{fmt(*stepwise[:2])} | {stepwise[0] / fused[0]:.3f} |", "",
                  f"Goal: ≤ 5% overhead: **{'met' if overhead <= 0.05 else 'not met'}** "
                  f"({overhead * 100:+.1f}%).", ""]

    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = dst + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, dst)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
