"""Rule simulate: one synthetic mIF sample and its truth files."""

from frontline import simulate
from frontline.step import run


def main(smk):
    sim = simulate.simulate_tissue(
        preset=smk.params.preset,
        shape_px=smk.params.shape_px,
        pixel_size_um=smk.params.pixel_size_um,
        seed=smk.params.seed,
    )
    simulate.write_simulation(sim, dict(smk.output))


run(snakemake, main)  # noqa: F821 (given by Snakemake)
