"""Benchmark: the arithmetic limit of this CPU for the nuclei network, float32 and bfloat16.

- the network's work: multiply-adds of every convolution of the model (``--model``) for a
  1024 x 1024 input at its grid, counted from the layers' kernels and output sizes, as
  GFLOP (2 per multiply-add) per megapixel of input;
- the peak: GFLOP/s of square matrix products (``--matmul`` edge) in numpy (float32) and in
  TensorFlow (float32 and bfloat16), and of a 3 x 3 convolution with 32 -> 32 channels on a
  1024 x 1024 image in TensorFlow (float32 and bfloat16), on 1 thread and on all cores;
  best of ``--repeats`` after a warm-up;
- the limit: megapixels per second at the best measured peak of each precision (peak GFLOP/s
  over GFLOP per megapixel), the bound for a network that only computes;
- beside it, frontline's own segmentation on a simulated ``--size``² slide in each precision
  (``bench/segment_bench.py``'s ``frontline`` method, in a fresh process: normalisation,
  tiled prediction, NMS, labels written), its MP/s and its share of the limit of its
  precision (``--size 0``: skipped). Where the CPU lacks bfloat16 instructions the bfloat16
  numbers are what TensorFlow's emulation gives.

Megapixels are the slide's: the simulated slides are at the model's pixel size, so they are
also the network's input megapixels.

Usage::

    nice -n 5 python bench/cpu_limits.py --model resources/models/frontline_nuclei \
        --size 4096 --out bench/out/cpu_limits.json

prints the table for bench/README.md at the end (about 10 minutes on 2 cores).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import machine  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))


def network_gflop_per_megapixel(model_dir, size=1024):
    """GFLOP (2 per multiply-add) of the model's convolutions per megapixel of input."""
    import keras

    from frontline import segment

    keras_model = segment.load_model(str(model_dir), precision="float32").stardist.keras_model
    fixed = keras.models.clone_model(keras_model, input_tensors=[keras.Input((size, size, 1))])
    macs = 0
    layers = []
    for layer in fixed.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            n = int(h) * int(w) * int(cout) * int(kh) * int(kw) * int(cin)
            macs += n
            layers.append({"layer": layer.name, "out": [int(h), int(w), int(cout)], "macs": n})
    megapixels = size * size / 1e6
    return 2 * macs / 1e9 / megapixels, layers


def best_seconds(fn, repeats):
    fn()  # warm-up (and tracing)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peaks(threads, edge, repeats):
    """GFLOP/s of matmul and convolution in float32 and bfloat16 on ``threads`` threads."""
    import numpy as np
    import tensorflow as tf
    from threadpoolctl import threadpool_limits

    out = {}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((edge, edge), dtype=np.float32)
    b = rng.standard_normal((edge, edge), dtype=np.float32)
    with threadpool_limits(limits=threads):
        s = best_seconds(lambda: a @ b, repeats)
    out["numpy_matmul_float32"] = 2 * edge**3 / s / 1e9
    image = rng.standard_normal((1, 1024, 1024, 32), dtype=np.float32)
    kernel = rng.standard_normal((3, 3, 32, 32), dtype=np.float32) * 0.1
    conv_flop = 2 * 1024 * 1024 * 32 * 32 * 9
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
    conv = tf.function(
        lambda x, k: tf.reduce_sum(
            tf.cast(tf.nn.conv2d(x, k, 1, "SAME")[:, :1, :1, :1], tf.float32)
        )
    )
    for dtype in (tf.float32, tf.bfloat16):
        ta, tb = tf.constant(a, dtype), tf.constant(b, dtype)
        ti, tk = tf.constant(image, dtype), tf.constant(kernel, dtype)
        s = best_seconds(lambda x=ta, y=tb: matmul(x, y).numpy(), repeats)
        out[f"tf_matmul_{dtype.name}"] = 2 * edge**3 / s / 1e9
        s = best_seconds(lambda x=ti, k=tk: conv(x, k).numpy(), repeats)
        out[f"tf_conv3x3_32_{dtype.name}"] = conv_flop / s / 1e9
    return out


def one_threads(threads, args):
    """Peaks on ``threads`` threads, in a fresh process (TensorFlow fixes its pools at start)."""
    import subprocess

    cmd = [sys.executable, __file__, "--threads-run", str(threads)]
    cmd += ["--matmul", str(args.matmul), "--repeats", str(args.repeats)]
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit("peak measurement failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def frontline_rates(args, cores):
    """frontline's segmentation of a simulated slide in each precision (segment_bench)."""
    import segment_bench  # bench/segment_bench.py

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    image = segment_bench.make_image(workdir, args.size)
    out = {}
    for precision in ("float32", "bfloat16"):
        child = argparse.Namespace(
            model=args.model, tile_px=1024, overlap_px=64, background_max=0.1, precision=precision
        )
        labels = workdir / f"labels_{args.size}_{precision}.ome.tif"
        out[precision] = segment_bench.in_subprocess("frontline", image, child, labels)
    return out


def markdown(result):
    """The table for bench/README.md: peaks, limits, frontline beside them."""
    cores = result["machine"]["cores"]
    lines = [
        f"{result['machine']['date']}, {result['machine']['cpu']}, {cores} cores, load "
        f"{result['machine']['load_average_1min']:.2f} -> {result['load_average_1min_end']:.2f}; "
        f"network {result['network_gflop_per_megapixel']:.1f} GFLOP per megapixel "
        f"({result['conv_layers']} convolutions)",
        "",
        "| precision | matmul GFLOP/s (1 / all threads) | conv 3x3 GFLOP/s (1 / all) | "
        "limit MP/s | frontline MP/s | share of the limit |",
        "|---|---|---|---|---|---|",
    ]
    one, every = result["peaks_gflop_s"]["1_threads"], result["peaks_gflop_s"][f"{cores}_threads"]
    for p in ("float32", "bfloat16"):
        seg = result.get("frontline", {}).get(p)
        rate = f"{seg['mp_per_s']:.2f}" if seg else "—"
        share = f"{100 * seg['mp_per_s'] / result[f'limit_mp_s_{p}']:.0f} %" if seg else "—"
        lines.append(
            f"| {p} | {one[f'tf_matmul_{p}']:.0f} / {every[f'tf_matmul_{p}']:.0f} | "
            f"{one[f'tf_conv3x3_32_{p}']:.0f} / {every[f'tf_conv3x3_32_{p}']:.0f} | "
            f"{result[f'limit_mp_s_{p}']:.2f} | {rate} | {share} |"
        )
    lines.append(
        f"\nnumpy float32 matmul: {one['numpy_matmul_float32']:.0f} / "
        f"{every['numpy_matmul_float32']:.0f} GFLOP/s"
    )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(ROOT / "resources" / "models" / "frontline_nuclei"))
    parser.add_argument("--matmul", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=4096, help="slide edge, px (0: no slide)")
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "segment"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "cpu_limits.json"))
    parser.add_argument("--threads-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads_run:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads_run)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        print(json.dumps(peaks(args.threads_run, args.matmul, args.repeats)))
        return
    gflop_per_mp, layers = network_gflop_per_megapixel(args.model)
    cores = os.cpu_count()
    result = {
        "machine": machine.describe(),
        "network_gflop_per_megapixel": gflop_per_mp,
        "conv_layers": len(layers),
        "peaks_gflop_s": {f"{t}_threads": one_threads(t, args) for t in sorted({1, cores})},
    }
    best = result["peaks_gflop_s"][f"{cores}_threads"]
    for precision in ("float32", "bfloat16"):
        peak = max(v for k, v in best.items() if k.endswith(precision))
        result[f"limit_mp_s_{precision}"] = peak / gflop_per_mp
        result[f"peak_gflop_s_{precision}"] = peak
    if args.size:
        result["frontline"] = frontline_rates(args, cores)
        for precision, seg in result["frontline"].items():
            seg["share_of_limit"] = seg["mp_per_s"] / result[f"limit_mp_s_{precision}"]
    result["load_average_1min_end"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(markdown(result))


if __name__ == "__main__":
    main()
