# cohort: patient-level features pooled over each patient's images (the sheet's `patient`
# column) and, with a clinical table (config `cohort.clinical`), group tests, Cox models and
# Kaplan-Meier curves. frontline.cohort documents the methods, config/README.md the keys.


rule cohort_features:
    input:
        summaries=expand("results/{sample}/summary.json", sample=SAMPLES.index),
        region_densities=expand("results/{sample}/region_densities.tsv", sample=SAMPLES.index),
        densities=expand("results/{sample}/densities.tsv", sample=SAMPLES.index),
        enrichment=expand("results/{sample}/enrichment.tsv", sample=SAMPLES.index),
        cells=expand("results/{sample}/cells_spatial.parquet", sample=SAMPLES.index),
    output:
        features=report(
            "results/cohort/features.tsv",
            caption="../report/cohort_features.rst",
            category="0. Cohort",
            labels={"figure": "table: features per patient (features.tsv)"},
        ),
        descriptions=report(
            "results/cohort/feature_descriptions.tsv",
            caption="../report/cohort_feature_descriptions.rst",
            category="0. Cohort",
            labels={"figure": "table: what each feature is (feature_descriptions.tsv)"},
        ),
        images="results/cohort/image_features.tsv",
        not_computable="results/cohort/features_not_computable.tsv",
        bands="results/cohort/band_densities.tsv",
    log:
        "logs/cohort_features/cohort_features.log",
    benchmark:
        "benchmarks/cohort_features/cohort_features.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        # one sample's cell table at a time; per sample its counts and immune-cell distances
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        samples=list(SAMPLES.index),
        patients=PATIENTS,
        spatial=config["spatial"],
        tumor_phenotype=config["front"]["tumor_phenotype"],
        phenotypes=config["phenotyping"]["phenotypes"],
        code=library_version("cohort"),
    script:
        "../scripts/cohort_features.py"


if COHORT["clinical"]:  # the outcome statistics need a clinical table

    rule cohort_statistics:
        input:
            features="results/cohort/features.tsv",
            images="results/cohort/image_features.tsv",
            clinical=COHORT["clinical"],
        output:
            group_tests=report(
                "results/cohort/group_tests.tsv",
                caption="../report/cohort_group_tests.rst",
                category="0. Cohort",
                labels={"figure": "table: group tests (group_tests.tsv)"},
            ),
            survival=report(
                "results/cohort/survival.tsv",
                caption="../report/cohort_survival.rst",
                category="0. Cohort",
                labels={"figure": "table: survival models (survival.tsv)"},
            ),
            km_curves="results/cohort/km_curves.tsv",
            km_tests="results/cohort/km_tests.tsv",
            notes=report(
                "results/cohort/notes.tsv",
                caption="../report/cohort_notes.rst",
                category="0. Cohort",
                labels={"figure": "table: what was left out, and why (notes.tsv)"},
            ),
            group_effects_png=report(
                "results/cohort/group_effects.png",
                caption="../report/cohort_group_effects.rst",
                category="0. Cohort",
                labels={"figure": "group effect sizes"},
            ),
            hazard_ratios_png=report(
                "results/cohort/hazard_ratios.png",
                caption="../report/cohort_hazard_ratios.rst",
                category="0. Cohort",
                labels={"figure": "hazard ratios"},
            ),
            km_png=report(
                "results/cohort/km.png",
                caption="../report/cohort_km.rst",
                category="0. Cohort",
                labels={"figure": "Kaplan-Meier curves"},
            ),
        log:
            "logs/cohort_statistics/cohort_statistics.log",
        benchmark:
            "benchmarks/cohort_statistics/cohort_statistics.tsv"
        conda:
            "../../envs/frontline.yaml"
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 30 * attempt,
        params:
            cohort=COHORT,
            patients=list(dict.fromkeys(PATIENTS.values())),
            dpi=config["report"]["dpi"],
            code=library_version("cohort"),
        script:
            "../scripts/cohort_statistics.py"
