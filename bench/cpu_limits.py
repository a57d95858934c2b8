"""Benchmark: the arithmetic limit of this CPU for the nuclei network, float32 and bfloat16.

- the network's work: multiply-adds of every convolution of the model (``--model``) for a
  1024 x 1024 input at its grid, counted from the layers' kernels and output sizes, as
  GFLOP (2 per multiply-add) per megapixel of input;
- the peak: GFLOP/s of square matrix products (``--matmul`` edge) in numpy (float32) and in
  TensorFlow (float32 and bfloat16), and of a 3 x 3 convolution with 32 -> 32 channels on a
  1024 x 1024 image in TensorFlow (float32 and bfloat16), on 1 thread and on all cores;
  best of ``--repeats`` after a warm-up;
- the limit: megapixels per second at the best measured peak of each precision (peak GFLOP/s
  over GFLOP per megapixel), the bound for a network that only computes.

Usage::

    python bench/cpu_limits.py --model resources/models/frontline_nuclei \
        --out bench/out/cpu_limits.json
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


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(ROOT / "resources" / "models" / "frontline_nuclei"))
    parser.add_argument("--matmul", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
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
    result["load_average_1min_end"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
