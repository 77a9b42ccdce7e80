"""The baselines' records: train a model on a fold, predict, score the test split, write the card.

``scvbench baselines BIDS_DIR RUNS_DIR MODEL [...] [--fold K] [--recipe cpu]`` trains each model
on the fold (``scvbench train``), segments the test and association participants (``scvbench
predict``) and writes ``baselines/<model>/``: ``config.json`` (the resolved training
configuration), ``results.json`` (validation and test Dice, training time, hardware, data set and
split checksums) and ``README.md`` (the model card). Test Dice is the vein Dice inside the brain
mask per labelled slice against the split's reference rater (mean, median and range over slices),
from ``scvbench evaluate`` on the test split (its full output in
``RUNS_DIR/<model>/evaluation-test``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scvbench import io
from scvbench.steps.evaluate import evaluate
from scvbench.steps.predict import predict
from scvbench.steps.splits import SPLITS_FILE, load_splits
from scvbench.steps.train import hardware, resolve_config, train

__all__ = ["MODEL_NOTES", "record_baseline", "split_dice"]

#: What each card says about the architecture.
MODEL_NOTES = {
    "deeplabv3plus": (
        "DeepLabV3+ (Chen et al. 2018), as the study: MONAI `ResNetFeatures` encoder at output "
        "stride 16 (last stage dilated), ASPP with a 1x1 branch, atrous rates 6/12/18 and image "
        "pooling (256 channels), decoder projecting the stride-4 features to 48 channels, "
        "bilinear upsampling. ImageNet weights cannot be downloaded here (the study used "
        "pretrained weights): the encoder starts from random weights."
    ),
    "unet": "MONAI `UNet` (2-D, residual units x2, strided convolutions), two-class output.",
    "attention_unet": "MONAI `AttentionUnet` (2-D, attention gates on the skip connections).",
    "frangi": (
        "skimage `frangi` vesselness for dark ridges at scales 1, 1.5, 2 and 3 pixels; the "
        "threshold maximising the mean Dice of the fold's training slices (no gradient training)."
    ),
}


def split_dice(
    submission: Path, bids_dir: Path, rater: str, out: Path, splits_path: Path | None = None
) -> dict:
    """Vein Dice inside the brain per test slice, by ``scvbench evaluate`` (output in ``out``).

    Parameters
    ----------
    submission : Path
        The model's submission folder.
    bids_dir : Path
        The derived dataset.
    rater : str
        The reference rater.
    out : Path
        Where ``scvbench evaluate`` writes.
    splits_path : Path, optional
        The split file (default: the dataset's).

    Returns
    -------
    dict
        ``slices``, ``mean``, ``median``, ``min`` and ``max`` of the per-slice Dice.
    """
    evaluate(submission, bids_dir, out, split="test", splits_path=splits_path, rater=rater)
    dice = pd.read_csv(out / "cases.tsv", sep="\t")["dice"].to_numpy(float)
    return {
        "slices": int(dice.size),
        "mean": float(dice.mean()),
        "median": float(np.median(dice)),
        "min": float(dice.min()),
        "max": float(dice.max()),
    }


def _card(name: str, config: dict, results: dict) -> str:
    summary, test = results["training"], results["test_dice"]
    lines = [
        f"# Baseline: `{name}`",
        "",
        f"Results from a real run on the synthetic `{results['dataset']['preset']}` cohort "
        f"(seed {results['dataset']['seed']}); synthetic data, not patients.",
        "",
        "## Architecture",
        "",
        MODEL_NOTES.get(name, name),
        "",
        f"Configuration: `{json.dumps(config['model_config'], sort_keys=True)}`.",
        "",
        "## Recipe",
        "",
        f"`{config['recipe']}`: {config['iterations']} iterations, batch {config['batch_size']}, "
        f"{config['size']} x {config['size']} inputs, SGD momentum {config['momentum']}, learning "
        f"rate {config['lr']} x{config['gamma']} every {config['step_every']} iterations, loss "
        f"`{config['loss']}`, seed {config['seed']}, fold {config['fold']} of the split "
        f"`{config['splits_checksum'][:12]}`."
        if name != "frangi"
        else f"`{config['recipe']}` recipe size {config['size']}: threshold tuned on fold "
        f"{config['fold']}'s training slices (split `{config['splits_checksum'][:12]}`).",
        "",
        "## Hardware and time",
        "",
        f"{results['hardware']['cpus']} CPU(s) ({results['hardware']['processor']}), "
        f"{results['hardware']['torch_threads']} torch threads, torch "
        f"{results['hardware']['torch']}, GPU: {results['hardware']['gpu'] or 'none'}; training "
        f"took {summary['train_seconds']} s ({summary['steps']} steps).",
        "",
        "## Results (synthetic)",
        "",
        "| set | slices | Dice mean | median | min | max |",
        "|---|---|---|---|---|---|",
        f"| validation (best step {summary['best_step']}) | {summary['val_slices']} | "
        f"{summary['best_val_dice']:.3f} | | | |",
        f"| test | {test['slices']} | {test['mean']:.3f} | {test['median']:.3f} | "
        f"{test['min']:.3f} | {test['max']:.3f} |",
        "",
        "Dice of the vein class inside the brain mask per labelled slice against the reference "
        f"rater `{config['rater']}`. Reproduce: `scvbench baselines BIDS_DIR RUNS_DIR "
        f"{name} --fold {config['fold']} --recipe {config['recipe']}`.",
        "",
    ]
    return "\n".join(lines)


def record_baseline(
    bids_dir: Path,
    runs_dir: Path,
    name: str,
    fold: int,
    recipe: str,
    out_root: Path,
    splits_path: Path | None = None,
    **overrides,
) -> dict:
    """Train, predict and score ``name``; write ``out_root/<name>/``.

    ``overrides`` go to the recipe (e.g. ``size``, ``iterations``).

    Parameters
    ----------
    bids_dir : Path
        The derived dataset with its split.
    runs_dir : Path
        Where the training run, submission and evaluation go (``runs_dir/<name>``).
    name : str
        A registered model.
    fold : int
        The fold to train on.
    recipe : str
        A training recipe.
    out_root : Path
        Where the card goes (``out_root/<name>/``).
    splits_path : Path, optional
        The split file.
    **overrides
        Training settings over the recipe's.

    Returns
    -------
    dict
        ``results.json`` of the card: training summary, test Dice, hardware, data set and checksums.
    """
    splits_path = Path(splits_path) if splits_path else bids_dir / SPLITS_FILE
    splits = load_splits(splits_path)
    run = runs_dir / name / f"fold-{fold}"
    config = resolve_config(name, recipe, fold, **overrides)
    summary = train(bids_dir, run, config, splits_path, progress=False)
    config = json.loads((run / "config.json").read_text())
    submission = runs_dir / name / "submission"
    predict(
        bids_dir,
        run / "model_best.pt",
        submission,
        splits["test"] + splits["association"],
        progress=False,
    )
    manifest = bids_dir.parent / "sourcedata" / "truth" / "manifest.json"
    dataset = {"preset": "unknown", "seed": None}
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        dataset = {"preset": info.get("preset"), "seed": info.get("seed")}
    results = {
        "model": name,
        "dataset": {**dataset, "splits_checksum": splits["checksum"]},
        "training": summary,
        "test_dice": split_dice(
            submission, bids_dir, config["rater"], runs_dir / name / "evaluation-test", splits_path
        ),
        "hardware": summary.get("hardware") or hardware(),
    }
    folder = out_root / name
    io.write_json(folder / "config.json", config)
    io.write_json(folder / "results.json", results)
    io.write_text(folder / "README.md", _card(name, config, results))
    return results
