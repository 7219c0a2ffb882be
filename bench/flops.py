"""FLOPs per image of each model, counted from its graph, and how near this CPU's peak
each model runs.

    .venv/bin/python bench/flops.py [--runs N] [--fma-units U] [--photo FILE] [--out FILE]

Counting (a multiply-add is 2 FLOPs; biases and other element-wise work are counted
apart, as "element ops", one per output element, k*k per max-pool output):
  ISNet (ONNX)        onnx shape inference (data propagation on, for the Resize sizes) at
                      the model's fixed 1x3x1024x1024 input; Conv: 2*Cout*Cin/group*kh*kw*Hout*Wout
  EfficientNet-Lite2  torch.utils.flop_counter.FlopCounterMode on a 1x3x260x260 forward
  BlazePose landmark  modules/pose_landmark/pose_landmark_full.tflite in the mediapipe wheel,
  BlazePose detector  modules/pose_detection/pose_detection.tflite, parsed with the `tflite`
                      flatbuffer bindings: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED MACs
                      from the output and filter tensor shapes

Timing the model call alone, median of --runs after 2 warm-ups, on one real photo
prepared as the pipeline prepares it: ISNet through our onnxruntime session
(services.segment.models.isnet_session, 2 threads); EfficientNet through shared.domain.classifier.efficientnet
(torch, 2 threads); the two .tflite models through the LiteRT interpreter
(ai-edge-litert, XNNPACK, 2 threads), because mediapipe's Pose runs both models plus its
own pre- and post-processing in one graph call and cannot time one model alone.

Peak: theoretical = cores x clock x FLOPs/cycle/core (FLOPs/cycle from the CPU flags and
the number of FMA units, see `theoretical_peak`), and measured = the best of a 4096^3
fp32 matmul in numpy (OpenBLAS) and in torch, best of 3 each (the "% meas" column).
Where gcc is at hand, a small C microbenchmark reads the clock the cores really run at (a
chain of dependent adds; /proc/cpuinfo shows only the nominal clock under the hypervisor),
used for the theoretical peak, and the 512-bit FMA throughput, which checks the
FLOPs/cycle assumption.
All of these run on the same shared cores as everything else: with other load on the
machine every figure, the peaks included, comes out low.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

DEFAULT_PHOTO = _common.PHOTOS / "person_fullbody_plain_03.jpg"
TFLITE_MODELS = {
    "blazepose-landmark-full": "modules/pose_landmark/pose_landmark_full.tflite",
    "blazepose-detector": "modules/pose_detection/pose_detection.tflite",
}


# --- the peak -----------------------------------------------------------------------------


def theoretical_peak(fma_units: int | None, measured_clock_ghz: float | None = None) -> dict:
    """cores x clock x fp32 FLOPs/cycle/core. One 512-bit FMA unit does 16 fp32 lanes x 2
    FLOPs = 32 FLOPs/cycle; 256-bit (AVX2) FMA does 16. AMD Zen 4 (family 25 with
    AVX-512) runs AVX-512 on two 256-bit FMA pipes, i.e. the equivalent of one 512-bit
    unit; Intel server parts with AVX-512 mostly have two 512-bit units. The clock is the
    one the cores were measured to run at where the FMA microbenchmark ran (the hypervisor
    shows only the nominal clock in /proc/cpuinfo, which is reported too)."""
    cpu = _common.cpu_info()
    flags = set(cpu["flags"])
    amd = "AMD" in cpu["model"]
    if "avx512f" in flags:
        width, per_unit = 512, 32
        units = fma_units or (1 if amd else 2)
        why = (
            "AMD with AVX-512 (Zen 4): 2 x 256-bit FMA pipes = 1 x 512-bit equivalent"
            if amd
            else "Intel with AVX-512: 2 x 512-bit FMA units assumed"
        )
    elif "fma" in flags:
        width, per_unit, units, why = 256, 16, fma_units or 2, "AVX2 FMA: 2 x 256-bit FMA units assumed"
    else:
        width, per_unit, units, why = 128, 8, fma_units or 1, "no FMA: SSE mul+add assumed"
    if fma_units:
        why += f" (overridden: {fma_units} units)"
    nominal = (cpu["mhz"] or 0) / 1000
    clock = measured_clock_ghz or nominal
    per_cycle = per_unit * units
    return {
        "cpu": cpu["model"],
        "cores": cpu["cores"],
        "clock_ghz": round(clock, 3),
        "clock_source": (
            "measured by the FMA microbenchmark's dependent-add chain"
            if measured_clock_ghz
            else "cpu MHz in /proc/cpuinfo (nominal; boost not visible under the hypervisor)"
        ),
        "nominal_clock_ghz": round(nominal, 3),
        "fma_width_bits": width,
        "fma_units_per_core": units,
        "flops_per_cycle_per_core": per_cycle,
        "assumption": why,
        "gflops": round(cpu["cores"] * clock * per_cycle, 1),
        "gflops_at_nominal_clock": round(cpu["cores"] * nominal * per_cycle, 1),
    }


def measured_peak(n: int = 4096, repeats: int = 3) -> dict:
    import torch

    flops = 2 * n**3
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    products: dict[str, Callable[[], object]] = {
        "numpy": lambda: np.matmul(a, b),
        "torch": lambda: torch.matmul(ta, tb),
    }
    out: dict[str, Any] = {}
    for name, product in products.items():
        product()  # warm-up
        best = min(_seconds(product) for _ in range(repeats))
        out[f"{name}_gflops"] = round(flops / best / 1e9, 1)
    out["gflops"] = max(out["numpy_gflops"], out["torch_gflops"])
    out["how"] = f"{n}x{n} @ {n}x{n} fp32 matmul, best of {repeats}, torch threads {torch.get_num_threads()}"
    return out


# A chain of dependent integer adds runs at one add per cycle, so it reads the clock the
# cores really run at (the hypervisor hides boost); 12 independent 512-bit FMA chains per
# thread fill the FMA pipes, so FLOPs/cycle = FMA GFLOP/s of one thread / that clock.
FMA_C = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#define FMA(a) a = _mm512_fmadd_ps(a, b, c)
int main(void) {
    const long n = 100000000, m = 50000000;
    long x = 0;
    double t = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    double ghz = 4.0 * n / (now() - t) / 1e9;
    float sink = 0;
    t = now();
#pragma omp parallel reduction(+ : sink)
    {
        __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
        __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
               a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
               a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
        for (long i = 0; i < m; i++) {
            FMA(a0); FMA(a1); FMA(a2); FMA(a3); FMA(a4); FMA(a5);
            FMA(a6); FMA(a7); FMA(a8); FMA(a9); FMA(a10); FMA(a11);
        }
        a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(a4, a5));
        a6 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a6, a7), _mm512_add_ps(a8, a9)), _mm512_add_ps(a10, a11));
        sink += _mm512_reduce_add_ps(_mm512_add_ps(a0, a6));
    }
    double gflops = (double)omp_get_max_threads() * m * 12 * 32 / (now() - t) / 1e9;
    printf("%.4f %.2f %g\n", ghz, gflops, sink);
    return 0;
}
"""


def fma_microbench(repeats: int = 3) -> dict | None:
    """Best of `repeats` runs with 1 thread and with all cores: the clock and 512-bit FMA
    throughput. None where there is no gcc or no AVX-512."""
    import os
    import shutil
    import subprocess
    import tempfile

    if not shutil.which("gcc") or "avx512f" not in _common.cpu_info()["flags"]:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "fma.c", Path(tmp) / "fma"
        src.write_text(FMA_C)
        subprocess.run(["gcc", "-O2", "-mavx512f", "-mfma", "-fopenmp", str(src), "-o", str(exe)], check=True)
        runs = {}
        for threads in (1, os.cpu_count()):
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            out = [
                subprocess.run([str(exe)], env=env, capture_output=True, text=True, check=True).stdout.split()
                for _ in range(repeats)
            ]
            runs[threads] = (max(float(o[0]) for o in out), max(float(o[1]) for o in out))
    clock = max(c for c, _ in runs.values())
    one, all_cores = runs[1][1], runs[os.cpu_count()][1]
    return {
        "how": "gcc -O2 -mavx512f -fopenmp: 4 dependent adds per loop for the clock; 12 independent "
        f"_mm512_fmadd_ps chains per thread for FMA throughput; best of {repeats}",
        "clock_ghz": round(clock, 3),
        "fma_gflops_1_thread": round(one, 1),
        f"fma_gflops_{os.cpu_count()}_threads": round(all_cores, 1),
        "flops_per_cycle_per_core": round(one / clock, 1),
        "gflops": round(all_cores, 1),
    }


def _seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median_ms(fn, runs: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    return round(statistics.median(_seconds(fn) for _ in range(runs)) * 1000, 2)


# --- counting -----------------------------------------------------------------------------


def isnet_flops(path: Path) -> dict:
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)), data_prop=True)
    g = model.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*g.value_info, *g.input, *g.output]}
    weights = {w.name: list(numpy_helper.to_array(w).shape) for w in g.initializer}
    conv = 0
    element: Counter[str] = Counter()
    per_op: Counter[str] = Counter()
    for node in g.node:
        out = shapes.get(node.output[0])
        if node.op_type == "Conv":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            cout, cin_g, kh, kw = weights.get(node.input[1]) or shapes[node.input[1]]
            assert out and all(out), f"{node.name}: output shape not inferred"
            n, c, h, w = out
            flops = 2 * cout * cin_g * kh * kw * h * w * n
            conv += flops
            per_op["Conv"] += 1
            if len(node.input) > 2:
                element["Conv bias"] += n * c * h * w
            cin = shapes.get(node.input[0], [0, 0])[1]  # 0 where inference lost it after a Concat
            assert not cin or attrs.get("group", 1) * cin_g == cin, node.name
        elif node.op_type in ("Relu", "Add", "Sigmoid", "Resize", "MaxPool"):
            assert out and all(out), f"{node.name}: output shape not inferred"
            count = int(np.prod(out))
            if node.op_type == "MaxPool":
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                count *= int(np.prod(attrs["kernel_shape"]))
            element[node.op_type] += count
            per_op[node.op_type] += 1
    return {
        "input": "1x3x1024x1024",
        "conv_flops": conv,
        "element_ops": dict(element),
        "element_ops_total": sum(element.values()),
        "ops": dict(per_op),
    }


def efficientnet_flops() -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from shared.domain.classifier import efficientnet

    model = efficientnet()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, 3, 260, 260))
    by_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    return {
        "input": "1x3x260x260",
        "conv_flops": counter.get_total_flops(),
        "by_aten_op": by_op,
        "element_ops": "not counted by FlopCounterMode (BN, swish/relu6, adds): small next to the convs",
    }


def tflite_flops(path: Path) -> dict:
    """Dense MACs from the shapes; where a filter is stored sparse (it reaches the conv
    through DENSIFY), also the MACs on its nonzero weights alone, which XNNPACK's sparse
    kernels can limit themselves to."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = model.Subgraphs(0)

    def shape(tensor: int) -> list[int]:
        return [int(d) for d in sg.Tensors(tensor).ShapeAsNumpy()]

    def op_name(op: Any) -> str:
        code = model.OperatorCodes(op.OpcodeIndex())
        return names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")

    operators = [sg.Operators(i) for i in range(sg.OperatorsLength())]
    producer = {op.Outputs(j): op for op in operators for j in range(op.OutputsLength())}

    def density(tensor: int) -> float:
        """Share of nonzero weights of a filter: 1 unless it is stored sparse."""
        while tensor in producer and op_name(producer[tensor]) in ("DEQUANTIZE", "DENSIFY"):
            tensor = producer[tensor].Inputs(0)
        t = sg.Tensors(tensor)
        if t.Sparsity() is None:
            return 1.0
        item = {tflite.TensorType.FLOAT16: 2, tflite.TensorType.FLOAT32: 4, tflite.TensorType.INT8: 1}[t.Type()]
        return model.Buffers(t.Buffer()).DataLength() / item / int(np.prod(shape(tensor)))

    macs: Counter[str] = Counter()
    nonzero: defaultdict[str, float] = defaultdict(float)  # MACs times the filter's density
    element: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    for op in operators:
        name = op_name(op)
        ops[name] += 1
        out = shape(op.Outputs(0))
        if name == "CONV_2D":  # filter [Cout, kh, kw, Cin], output [N, H, W, Cout]
            _, kh, kw, cin = shape(op.Inputs(1))
            n = int(np.prod(out)) * kh * kw * cin
        elif name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, Cout]
            _, kh, kw, _ = shape(op.Inputs(1))
            n = int(np.prod(out)) * kh * kw
        elif name == "FULLY_CONNECTED":  # weights [out, in]
            n = int(np.prod(out)) * shape(op.Inputs(1))[1]
        else:
            if name in ("ADD", "RESIZE_BILINEAR", "MAX_POOL_2D", "LOGISTIC"):
                element[name] += int(np.prod(out))
            continue
        macs[name] += n
        nonzero[name] += n * density(op.Inputs(1))
    inp = shape(sg.Inputs(0))
    return {
        "input": "x".join(map(str, inp)),
        "conv_flops": 2 * sum(macs.values()),
        "conv_flops_nonzero_weights": int(2 * sum(nonzero.values())),
        "macs_by_op": dict(macs),
        "element_ops": dict(element),
        "element_ops_total": sum(element.values()),
        "ops": dict(ops),
    }


# --- timing -------------------------------------------------------------------------------


def time_isnet(rgb: np.ndarray, runs: int) -> float:
    import cv2

    from services.segment.models import isnet_session

    x = cv2.resize(rgb, (1024, 1024), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = np.ascontiguousarray(((x - 128.0) / 256.0).transpose(2, 0, 1)[None])  # as matte() does
    session = isnet_session()
    return median_ms(lambda: session.run(["output"], {"input": x}), runs)


def time_efficientnet(rgb: np.ndarray, runs: int) -> float:
    import cv2
    import torch

    from shared.domain.classifier import efficientnet

    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.full((side, side, 3), 255, np.uint8)
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = rgb
    x = (cv2.resize(square, (260, 260), interpolation=cv2.INTER_AREA).astype(np.float32) - 127.0) / 128.0
    batch = torch.from_numpy(x).permute(2, 0, 1)[None].contiguous()
    model = efficientnet()

    def call():
        with torch.inference_mode():
            model(batch)

    return median_ms(call, runs)


def time_tflite(path: Path, rgb: np.ndarray, runs: int) -> float:
    import cv2
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    _, h, w, _ = detail["shape"]
    x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)[None] / 255.0
    if "detection" in path.name:
        x = x * 2 - 1  # the detector takes [-1, 1], the landmark model [0, 1]

    def call():
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()

    return median_ms(call, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=10, help="timed runs per model (ISNet: a third of them, at least 3)"
    )
    parser.add_argument("--fma-units", type=int, default=None, help="override the assumed FMA units per core")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import mediapipe
    import torch

    from shared.infra.imageio import read_image
    from shared.infra.model_registry import ISNET, check_file

    record = _common.header("flops")
    record["versions"] = _common.versions(
        "onnxruntime", "onnx", "torch", "mediapipe", "ai-edge-litert", "tflite", "numpy"
    )
    record["threads"] = {"torch": torch.get_num_threads(), "onnxruntime": "intra_op = os.cpu_count()", "litert": 2}
    rgb = read_image(args.photo)
    mp_root = Path(mediapipe.__file__).parent

    models: dict[str, tuple[dict, Callable[[], float]]] = {
        "isnet-medium": (isnet_flops(check_file(ISNET)), lambda: time_isnet(rgb, max(3, args.runs // 3))),
        "efficientnet-lite2": (efficientnet_flops(), lambda: time_efficientnet(rgb, args.runs)),
    }
    for name, rel in TFLITE_MODELS.items():
        models[name] = (tflite_flops(mp_root / rel), functools.partial(time_tflite, mp_root / rel, rgb, args.runs * 3))

    fma = fma_microbench()
    theoretical = theoretical_peak(args.fma_units, fma["clock_ghz"] if fma else None)
    measured = measured_peak()
    measured["fma_microbench"] = fma
    rows = {}
    for name, (count, timer) in models.items():
        ms = timer()
        achieved = count["conv_flops"] / (ms / 1000) / 1e9
        rows[name] = {
            **count,
            "ms": ms,
            "achieved_gflops": round(achieved, 2),
            "share_of_theoretical_peak": round(achieved / theoretical["gflops"], 3),
            "share_of_measured_peak": round(achieved / measured["gflops"], 3),
        }
        if count.get("conv_flops_nonzero_weights", count["conv_flops"]) != count["conv_flops"]:
            rows[name]["achieved_gflops_nonzero_weights"] = round(
                count["conv_flops_nonzero_weights"] / (ms / 1000) / 1e9, 2
            )
        print(f"  {name}: {count['conv_flops'] / 1e9:.2f} GFLOPs, {ms:.1f} ms", flush=True)

    record.update(
        {"photo": args.photo.name, "peak": {"theoretical": theoretical, "measured": measured}, "models": rows}
    )
    print(
        f"\npeak, theoretical: {theoretical['cores']} cores x {theoretical['clock_ghz']} GHz x "
        f"{theoretical['flops_per_cycle_per_core']} FLOPs/cycle = {theoretical['gflops']} GFLOP/s "
        f"({theoretical['assumption']}; clock: {theoretical['clock_source']}; at the nominal "
        f"{theoretical['nominal_clock_ghz']} GHz: {theoretical['gflops_at_nominal_clock']} GFLOP/s)"
    )
    print(
        f"peak, measured ({measured['how']}): numpy {measured['numpy_gflops']}, "
        f"torch {measured['torch_gflops']} GFLOP/s"
    )
    if fma := measured["fma_microbench"]:
        print(
            f"FMA microbench: clock {fma['clock_ghz']} GHz, {fma['flops_per_cycle_per_core']} FLOPs/cycle/core, "
            f"{fma['fma_gflops_1_thread']} GFLOP/s on 1 thread, {fma['gflops']} on all cores"
        )
    print(f"\n{'model':26}{'input':>14}{'GFLOPs':>9}{'elem Mops':>11}{'ms':>9}{'GFLOP/s':>9}{'% theo':>8}{'% meas':>8}")
    for name, r in rows.items():
        elem = r["element_ops_total"] / 1e6 if isinstance(r.get("element_ops_total"), int) else float("nan")
        print(
            f"{name:26}{r['input']:>14}{r['conv_flops'] / 1e9:>9.2f}{elem:>11.1f}{r['ms']:>9.1f}"
            f"{r['achieved_gflops']:>9.1f}{r['share_of_theoretical_peak']:>8.1%}{r['share_of_measured_peak']:>8.1%}"
        )
    for name, r in rows.items():
        if "achieved_gflops_nonzero_weights" in r:
            print(
                f"{name}: sparse filters; on nonzero weights only {r['conv_flops_nonzero_weights'] / 1e9:.2f} GFLOPs, "
                f"{r['achieved_gflops_nonzero_weights']:.1f} GFLOP/s"
            )
    print("(GFLOPs: conv/matmul multiply-adds x 2; elem Mops: bias, activations, adds, resizes, pools, counted apart)")
    _common.write("flops", record, args.out)


if __name__ == "__main__":
    main()
