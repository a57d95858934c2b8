"""Train the nuclei model (rule `train`): data -> StarDist2D -> thresholds -> report."""

import json
import time
from pathlib import Path

from frontline import train
from frontline.step import run


def main(smk):
    p = smk.params.training
    out_model = Path(smk.output.model)
    name, basedir = out_model.name, out_model.parent
    train.set_seeds(p["seed"])

    trn_x, trn_y, val_x, val_y, val_sets, split = [], [], [], [], {}, {}
    for ds in p["datasets"]:
        ids, images, masks = train.load_pairs(ds["images"], ds["masks"])
        is_val = train.validation_split(ids, p["validation_fraction"], p["seed"])
        images = [train.normalize(x, *p["norm_percentiles"]) for x in images]
        split[ds["name"]] = sorted(i for i, v in zip(ids, is_val) if v)
        val_sets[ds["name"]] = (
            [x for x, v in zip(images, is_val) if v],
            [y for y, v in zip(masks, is_val) if v],
        )
        trn_x += [x for x, v in zip(images, is_val) if not v]
        trn_y += [y for y, v in zip(masks, is_val) if not v]
    sim = p.get("simulated") or {}
    if sim.get("n_samples", 0) > 0:
        images, masks = train.simulated_tiles(
            sim["n_samples"], sim["shape_px"], sim["pixel_size_um"], sim["seed"], sim["tile_px"]
        )
        images = [train.normalize(x, *p["norm_percentiles"]) for x in images]
        is_val = train.validation_split(
            [f"sim{i:04d}" for i in range(len(images))], p["validation_fraction"], p["seed"]
        )
        val_sets["simulated"] = (
            [x for x, v in zip(images, is_val) if v],
            [y for y, v in zip(masks, is_val) if v],
        )
        trn_x += [x for x, v in zip(images, is_val) if not v]
        trn_y += [y for y, v in zip(masks, is_val) if not v]
    for xs, ys in val_sets.values():
        val_x += xs
        val_y += ys

    from stardist.models import StarDist2D

    config = train.build_config(
        patch_px=p["patch_px"],
        batch_size=p["batch_size"],
        n_rays=p["n_rays"],
        grid=p["grid"],
        epochs=p["epochs"],
        steps_per_epoch=p["steps_per_epoch"],
        learning_rate=p["learning_rate"],
    )
    model = StarDist2D(config, name=name, basedir=str(basedir))
    start = time.time()
    history = model.train(
        trn_x,
        trn_y,
        validation_data=(val_x, val_y),
        augmenter=train.make_augmenter(p["seed"]),
        seed=p["seed"],
    )
    train_s = time.time() - start
    model.optimize_thresholds(val_x, val_y)

    scores = {}
    for ds_name, (xs, ys) in val_sets.items():
        scores[ds_name] = train.matching_scores(ys, train.predict_all(model, xs))
    from stardist.data import test_image_nuclei_2d

    x, y = test_image_nuclei_2d(return_mask=True)
    scores["stardist_test_image"] = train.matching_scores(
        [y], train.predict_all(model, [train.normalize(x)])
    )

    train.write_model_metadata(
        out_model,
        p["pixel_size_um"],
        {
            "trained_with": "frontline train target",
            "steps": p["epochs"] * p["steps_per_epoch"],
            "validation_f1_iou0.5": {k: v["f1"] for k, v in scores.items()},
        },
    )
    (out_model / "validation_split.json").write_text(json.dumps(split, indent=1) + "\n")
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    Path(smk.output.metrics).write_text(
        json.dumps(
            {
                "n_train": len(trn_x),
                "n_val": len(val_x),
                "train_seconds": round(train_s, 1),
                "thresholds": {
                    "prob": float(model.thresholds.prob),
                    "nms": float(model.thresholds.nms),
                },
                "scores_iou0.5": scores,
                "history": hist,
            },
            indent=1,
        )
        + "\n"
    )
    examples = [
        (ds_name, xs[i], ys[i])
        for ds_name, (xs, ys) in val_sets.items()
        for i in range(min(3, len(xs)))
    ]
    preds = train.predict_all(model, [e[1] for e in examples])
    train.report_figures(hist, examples, preds, smk.output.loss_plot, smk.output.examples_plot)


run(snakemake, main)
