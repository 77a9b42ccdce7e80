"""Training time-to-accuracy on the ``demo`` cohort's fold 0 (synthetic data), 2 CPU cores.

The target is 0.95 of the validation Dice the ``cpu`` recipe reaches at its end (300 iterations)
on this fold, as ``make baselines`` measured it (docs/baselines.md): U-Net 0.634 -> 0.602,
DeepLabV3+ 0.603 -> 0.573. Each recipe trains from the same seed, validates every 10 steps and
stops at the first validation at or above the target (``train(stop_at=...)``, MLPerf's
time-to-accuracy); the benchmark times that whole run, validation included. ``cpu`` trains on
whole 256 x 256 slices (AdamW 0.002, halved every 100 steps); ``cpu-patch`` on 128 x 128 patches,
a third centred on a vein pixel, with a poly schedule from a higher rate (DeepLabV3+: eight
patches, one-cycle to 0.003); ``cpu-patch+bfloat16``
the same with ``--precision bfloat16`` (forward passes in bfloat16 autocast, channels-last, the
validations too, and the kept model's float32 validation Dice recorded beside; run only on a
CPU with bfloat16 units). Ratio = ``cpu-patch`` (or ``cpu-patch+bfloat16``) time /
``cpu`` time (below 1 is faster). The data: ``demo_output/bids`` from ``make demo`` when
present, else the same cohort generated (``synth --preset demo --seed 0``, convert, derive,
annotations, splits). Run with ``make bench``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from scvbench.cli import main
from scvbench.steps.train import resolve_config, train
from scvbench.steps.train.config import cpu_has_bfloat16

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"unet": 0.95 * 0.634, "deeplabv3plus": 0.95 * 0.603}


@pytest.fixture(scope="module")
def demo_bids(tmp_path_factory):
    made = ROOT / "demo_output" / "bids"
    if (made / "code" / "scvbench" / "splits.json").is_file():
        return made
    work = tmp_path_factory.mktemp("demo")
    source, bids, key = work / "sourcedata", work / "bids", work / "key.csv"
    steps = [
        ["synth", str(source), "--preset", "demo", "--seed", "0", "--nprocs", "2"],
        [
            "convert",
            str(source / "dicom"),
            str(bids),
            *("--key-file", str(key), "--nprocs", "2"),
            *("--demographics", str(source / "demographics.csv")),
            *("--fazekas", str(source / "fazekas.csv")),
        ],
        ["derive", str(bids), "--nprocs", "2"],
        ["annotations", "import", str(source / "annotations"), str(bids), "--key-file", str(key)],
        ["splits", str(bids)],
    ]
    for args in steps:
        assert main(args) == 0, args
    return bids


@pytest.mark.parametrize("recipe", ["cpu", "cpu-patch", "cpu-patch+bfloat16"])
@pytest.mark.parametrize("model", ["unet", "deeplabv3plus"])
def test_time_to_accuracy(benchmark, demo_bids, tmp_path, model, recipe):
    recipe, _, precision = recipe.partition("+")
    if precision and not cpu_has_bfloat16():
        pytest.skip("this CPU has no bfloat16 units (avx512_bf16, amx_bf16)")
    config = resolve_config(model, recipe, 0, val_every=10, precision=precision or None)
    target = TARGETS[model]

    def run():
        out = tmp_path / f"{model}-{recipe}-{len(list(tmp_path.iterdir()))}"
        return out, train(demo_bids, out, config, progress=False, stop_at=target)

    benchmark.group = f"time-to-accuracy-{model}-dice-{target:.3f}"
    out, summary = benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    log = list(csv.DictReader((out / "log.csv").read_text().splitlines()))
    benchmark.extra_info.update(
        target=round(target, 4),
        reached=summary["best_val_dice"] >= target,
        # bfloat16 runs validate in bfloat16: the kept model's float32 Dice, as predict runs it
        val_dice_float32=summary.get("best_val_dice_float32", summary["best_val_dice"]),
        steps=summary["steps"],
        train_seconds=summary["train_seconds"],
        curve=[(int(r["step"]), float(r["val_dice"])) for r in log],
    )
    assert summary["steps"] <= config.iterations
