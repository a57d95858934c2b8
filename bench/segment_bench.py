"""Benchmark: frontline's segment step against StarDist's own calls, same image and model.

Every method runs in a fresh process, so its peak RSS (``ru_maxrss``) is its own: Python,
TensorFlow, the model, the image data it holds, and its outputs. Throughput counts image
megapixels per second of the method's work (model loading excluded for all):

- ``frontline``: the `segment` rule's work: normalisation from sampled windows, tiled
  prediction, NMS, rendering, streaming the labels into a compressed OME-TIFF; the image is
  read lazily from the multi-channel OME-TIFF (reading and writing are counted).
- ``predict_instances``: the nuclear channel read into memory, csbdeep ``normalize`` on the
  whole image, ``predict_instances`` with ``n_tiles`` giving ~2048 px tiles (the image does not
  fit the network in one piece); label writing not counted.
- ``predict_instances_big``: same, then ``predict_instances_big(block_size=2048,
  min_overlap=64, context=64)``; label writing not counted.

Images come from ``frontline.simulate.write_large_slide`` (8 channels, tiled, compressed,
pyramidal OME-TIFF), made once in ``--workdir``.

Usage::

    python bench/segment_bench.py --model resources/models/frontline_nuclei \
        --sizes 8192 --slide 16384 --out bench/out/segment.json
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import machine  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))


def make_image(workdir, size, seed=7):
    """A simulated size x size slide (8 channels); cached."""
    from frontline.simulate import write_large_slide

    path = Path(workdir) / f"slide_{size}.ome.tif"
    if not path.exists():
        t = time.perf_counter()
        write_large_slide(path, shape_px=(size, size), seed=seed, preset="inflamed")
        print(f"wrote {path} in {time.perf_counter() - t:.0f} s", flush=True)
    return path


# ----------------------------------------------------------------------------- one method


def run_method(method, image, model_dir, out, tile_px, overlap_px, background_max, precision):
    """Run one method in this process; return its measurements."""
    import numpy as np

    from frontline import io
    from frontline import segment as sg

    # StarDist's own calls always compute in float32
    model = sg.load_model(
        str(model_dir), precision=precision if method == "frontline" else "float32"
    )
    with io.open_image(image) as img:
        shape = img.shape
        t0 = time.perf_counter()
        if method == "frontline":

            def read(window):
                return img.read("DAPI", window)

            norm = sg.normalisation_range(read, shape)
            plan = sg.plan(model, img.pixel_size_um, tile_px, overlap_px)
            stats = {}
            strips = sg.segment_labels(
                model, read, shape, norm, plan, background_max=background_max, stats=stats
            )
            io.write_label_strips(out, strips, shape, img.pixel_size_um)
            n = stats["nuclei"]
            seconds = time.perf_counter() - t0
        else:
            from csbdeep.utils import normalize

            x = normalize(img.read("DAPI"), 1, 99.8, dtype=np.float32)
            if method == "predict_instances":
                n_tiles = tuple(max(1, round(s / 2048)) for s in shape)
                labels, details = model.stardist.predict_instances(
                    x,
                    prob_thresh=model.prob_thresh,
                    nms_thresh=model.nms_thresh,
                    n_tiles=n_tiles,
                    show_tile_progress=False,
                )
            else:
                labels, details = model.stardist.predict_instances_big(
                    x,
                    axes="YX",
                    block_size=2048,
                    min_overlap=64,
                    context=64,
                    prob_thresh=model.prob_thresh,
                    nms_thresh=model.nms_thresh,
                    show_progress=False,
                )
            n = len(details["prob"])
            seconds = time.perf_counter() - t0
            np.save(out, labels[:2048, :2048])  # a corner, for the agreement check
    mp = shape[0] * shape[1] / 1e6
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "method": method,
        "shape": list(shape),
        "megapixels": mp,
        "seconds": seconds,
        "mp_per_s": mp / seconds,
        "nuclei": int(n),
        "precision": model.precision,
        # CPU seconds of the whole process (incl. start-up), less sensitive to other load
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_gb": usage.ru_maxrss / 1e6,
        "load_avg_end": os.getloadavg()[0],
    }


def in_subprocess(method, image, args, out):
    cmd = [
        sys.executable,
        __file__,
        "--one",
        method,
        "--image",
        str(image),
        "--model",
        str(args.model),
        "--result",
        str(out),
        "--tile-px",
        str(args.tile_px),
        "--overlap-px",
        str(args.overlap_px),
        "--background-max",
        str(args.background_max),
        "--precision",
        args.precision,
    ]
    load = os.getloadavg()[0]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"{method} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = json.loads(line[-1][len("RESULT ") :])
    result["load_avg_start"] = load
    print(json.dumps(result), flush=True)
    return result


def corner(path):
    """The top-left 2048 px of a method's labels (OME-TIFF or .npy)."""
    import numpy as np

    from frontline import io

    if str(path).endswith(".npy"):
        return np.load(path)
    with io.open_labels(path) as lab:
        return lab.read((0, min(2048, lab.shape[0]), 0, min(2048, lab.shape[1])))


def agreement(path_a, path_b):
    """F1 (IoU 0.5) of two methods' labels on the 2048 px corner (edge objects cut in both)."""
    from stardist.matching import matching

    return float(matching(corner(path_a), corner(path_b), thresh=0.5).f1)


def environment():
    import keras
    import numpy
    import stardist
    import tensorflow
    import tifffile

    return {
        **machine.describe(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "stardist": stardist.__version__,
        "numpy": numpy.__version__,
        "tifffile": tifffile.__version__,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "resources/models/frontline_nuclei"))
    parser.add_argument("--workdir", default=str(ROOT / "bench/out/segment"))
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[8192],
        help="square images on which all three methods run",
    )
    parser.add_argument(
        "--slide",
        type=int,
        default=16384,
        help="square slide on which frontline runs alone (0: skip)",
    )
    parser.add_argument(
        "--methods", nargs="*", default=["frontline", "predict_instances", "predict_instances_big"]
    )
    parser.add_argument("--tile-px", type=int, default=1024)
    parser.add_argument("--overlap-px", type=int, default=64)
    parser.add_argument("--background-max", type=float, default=0.1)
    parser.add_argument("--precision", default="auto", help="frontline's network arithmetic")
    parser.add_argument("--out", default=None, help="JSON file for all results")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:  # child process: one method
        result = run_method(
            args.one,
            args.image,
            args.model,
            args.result,
            args.tile_px,
            args.overlap_px,
            args.background_max,
            args.precision,
        )
        print("RESULT " + json.dumps(result), flush=True)
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = {
        "environment": environment(),
        "settings": {
            "tile_px": args.tile_px,
            "overlap_px": args.overlap_px,
            "background_max": args.background_max,
            "precision": args.precision,
            "model": str(args.model),
        },
        "runs": [],
    }
    print(json.dumps(report["environment"]), flush=True)
    for size in args.sizes:
        image = make_image(workdir, size)
        outputs = {}
        for method in args.methods:
            suffix = ".ome.tif" if method == "frontline" else ".npy"
            outputs[method] = workdir / f"labels_{size}_{method}{suffix}"
            report["runs"].append(in_subprocess(method, image, args, outputs[method]))
        pairs = [
            ("frontline", "predict_instances"),
            ("frontline", "predict_instances_big"),
            ("predict_instances", "predict_instances_big"),
        ]
        for a, b in pairs:
            if a in outputs and b in outputs:
                f1 = agreement(outputs[a], outputs[b])
                report["runs"].append(
                    {"agreement": f"{a} vs {b}", "size": size, "f1_iou05_corner_2048": f1}
                )
                print(f"F1 {a} vs {b} ({size}², 2048² corner): {f1:.4f}")
    if args.slide:
        image = make_image(workdir, args.slide)
        report["runs"].append(
            in_subprocess(
                "frontline", image, args, workdir / f"labels_{args.slide}_frontline.ome.tif"
            )
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
    for r in report["runs"]:
        if "method" in r:
            print(
                f"{r['method']:22s} {r['precision']:8s} {r['shape'][0]}x{r['shape'][1]}: "
                f"{r['mp_per_s']:.3f} MP/s, "
                f"peak RSS {r['peak_rss_gb']:.2f} GB, {r['nuclei']} nuclei, load "
                f"{r['load_avg_start']:.1f} -> {r['load_avg_end']:.1f}"
            )


if __name__ == "__main__":
    main()
