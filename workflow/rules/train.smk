# Train the nuclei model (not part of `all`): snakemake train --cores all
# The result goes to results/training/{model}/; copy the model folder to resources/models/ to ship it.


rule train_model:
    output:
        model=directory("results/training/{model}/{model}"),
        metrics="results/training/{model}/metrics.json",
        loss_plot=report(
            "results/training/{model}/loss.png",
            caption="../report/training_loss.rst",
            category="4. Nuclei model",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "training loss"},
        ),
        examples_plot=report(
            "results/training/{model}/validation_examples.png",
            caption="../report/training_examples.rst",
            category="4. Nuclei model",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "validation examples"},
        ),
    log:
        "logs/train/{model}.log",
    conda:
        "../../envs/frontline.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=24 * 60,
    params:
        training=config["training"],
    script:
        "../scripts/train.py"


rule train:
    input:
        f"results/training/{config['training']['name']}/metrics.json",
