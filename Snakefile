# frontline: where are the immune cells relative to the tumor's invasive front?
# Read top to bottom, this file is the pipeline: one included .smk per stage.

from snakemake.utils import min_version

min_version("9.0")


# The demo's config is the default run; a user's --configfile is the whole config instead (every
# key it leaves out takes the schema's default, never the demo's). --config works on top of either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    sample=exactly(SAMPLES.index),


include: "workflow/rules/download.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/phenotype.smk"
include: "workflow/rules/front.smk"
include: "workflow/rules/spatial.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cohort.smk"


rule all:
    default_target: True
    input:
        all_outputs(),


onsuccess:
    print_where_results_are()
