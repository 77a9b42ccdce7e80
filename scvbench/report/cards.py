"""Model cards of the benchmark's baselines: the Markdown card and its learning-curve figure."""

from __future__ import annotations

import numpy as np

from scvbench.core.association import PUBLISHED
from scvbench.report.figures import png_bytes
from scvbench.report.pages import number, participants

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["learning_curve", "render_card"]

#: Scores in the card's table, the study's pixel accuracy first.
CARD_SCORES = (
    ("accuracy", "pixel accuracy (the study's metric)"),
    ("dice", "Dice"),
    ("iou", "IoU"),
    ("cldice", "clDice"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("hd95_mm", "HD95 (mm)"),
    ("assd_mm", "ASSD (mm)"),
    ("betti0_error", "Betti-0 error"),
    ("count_error", "vessel-count error"),
)


def learning_curve(logs: dict[int, list[dict]], title: str) -> bytes:
    """PNG of validation Dice (and training loss) against the step, one line per fold.

    Parameters
    ----------
    logs : dict
        Fold to the rows of its ``log.csv`` (``step``, ``loss``, ``val_dice``).
    title : str
        The figure's title.

    Returns
    -------
    bytes
        The PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (dice_axis, loss_axis) = plt.subplots(1, 2, figsize=(9, 3.4))
    for fold, rows in sorted(logs.items()):
        steps = [r["step"] for r in rows]
        dice_axis.plot(steps, [r["val_dice"] for r in rows], marker=".", label=f"fold {fold}")
        loss_axis.plot(steps, [r["loss"] for r in rows], marker=".", label=f"fold {fold}")
    dice_axis.set(xlabel="iteration", ylabel="validation Dice", title=title)
    loss_axis.set(xlabel="iteration", ylabel="training loss (last batch)")
    dice_axis.grid(alpha=0.3)
    loss_axis.grid(alpha=0.3)
    dice_axis.legend(fontsize=8)
    figure.tight_layout()
    return png_bytes(figure, tight=False)


def _stopping(config: dict, training: dict) -> str:
    if training.get("stopped") == "tuned":
        return "no gradient training: the threshold is tuned once on the fold's training slices."
    rule = (
        f"stop when validation Dice (every {config['val_every']} iterations) has not improved "
        f"by {config['min_delta']} for {config['patience']} validations, at most "
        f"{config['iterations']} iterations"
        if config.get("patience")
        else f"a fixed {config['iterations']} iterations"
    )
    return (
        f"{rule}; this run stopped after {training['steps']} iterations ({training['stopped']}), "
        f"best validation Dice {number(training['best_val_dice'])} at iteration "
        f"{training['best_step']} (the checkpoint kept)."
    )


def _scores_table(result: dict) -> list[str]:
    overall = result["segmentation"]["overall"]
    human = (result.get("human_reference") or {}).get("overall", {})
    lines = [
        "| score | mean | 95 % CI | median | human reference (second rater) |",
        "|---|---|---|---|---|",
    ]
    for key, label in CARD_SCORES:
        s = overall.get(key)
        if s is None:
            continue
        lines.append(
            f"| {label} | {number(s['mean'])} | {number(s['ci_low'])}-{number(s['ci_high'])} | "
            f"{number(s['median'])} | {number(human.get(key, {}).get('mean'))} |"
        )
    return lines


def _agreement_table(result: dict) -> list[str]:
    lines = [
        "| hemisphere | measure | n | ICC(A,1) | ICC(C,1) | bias | 95 % limits | MAE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for side, measures in result.get("morphometry", {}).items():
        for measure, a in measures.items():
            lines.append(
                f"| {side} | {measure} | {a['n']} | {number(a.get('icc_a1'))} | "
                f"{number(a.get('icc_c1'))} | {number(a.get('bias'))} | "
                f"{number(a.get('loa_low'))} to {number(a.get('loa_high'))} | "
                f"{number(a.get('mae'))} |"
            )
    return lines


def _association(association: dict) -> list[str]:
    tests = {
        (t["comparison"], t["measure"], t["hemisphere"]): t
        for t in association.get("reference", {}).get("tests", [])
    }
    truth = {
        (t["comparison"], t["measure"], t["hemisphere"]): t
        for t in association.get("truth", {}).get("tests", [])
    }
    lines = [
        "| test | Z (this model) | Z (reference masks) | Z (truth) | Z (study) | reproduced |",
        "|---|---|---|---|---|---|",
    ]
    for study in PUBLISHED["paper"]["mann_whitney"]:
        key = (study["comparison"], study["measure"], study["hemisphere"])
        mine, theirs = tests.get(key, {}), truth.get(key, {})
        lines.append(
            f"| {key[1]} {key[2]} by {key[0]} | {number(mine.get('Z'), 2)} | "
            f"{number(mine.get('Z_comparison'), 2)} | {number(theirs.get('Z_comparison'), 2)} | "
            f"{number(study['Z'], 2)} | {'yes' if mine.get('reproduced') else 'no'} |"
        )
    logistic = association.get("published", {}).get("logistic", {}).get("tortuosity_right", {})
    scores = {
        source: association.get(source, {}).get("reproduction_score")
        for source in ("reference", "published", "truth")
    }
    lines += [
        "",
        f"Logistic odds ratio of right tortuosity for DWML: {number(logistic.get('odds_ratio'), 2)}"
        f" (reference masks {number(logistic.get('odds_ratio_reference'), 2)}, study "
        f"{number(logistic.get('odds_ratio_published'), 3)}; per unit of tortuosity, so a "
        "model that narrows the spread of tortuosity inflates it). Reproduction score "
        f"(share of tests with the same significance and direction): "
        f"{number(scores['reference'], 2)} against the reference masks, "
        f"{number(scores['published'], 2)} against the published study, "
        f"{number(scores['truth'], 2)} against the generator's truth "
        f"({association.get('n_participants')} participants of the association cohort).",
    ]
    return lines


def _power(power: dict) -> list[str]:
    names = {
        "model": "this model's error",
        "human": "the second rater's error (human reference)",
        "error-free": "perfect measurement",
    }
    lines = [
        "| measured with | participants for 80 % power | for 90 % power |",
        "|---|---|---|",
    ]
    for condition, label in names.items():
        sizes = power["n_for_power"].get(condition)
        if sizes is not None:
            lines.append(
                f"| {label} | {participants(sizes.get('0.8'))} | {participants(sizes.get('0.9'))} |"
            )
    error = power["errors"]["model"]
    return [
        "The study's right-tortuosity effect (Mann-Whitney by DWML, groups "
        f"{power['ratio'][0]} : {power['ratio'][1]}, alpha 0.05; the synthetic cohort's group "
        "distributions), simulated with the measurement error of the association cohort's "
        f"slices ({error['kind']}: bias {number(error['bias'])}, slope "
        f"{number(error['slope'])}, {error.get('noise', 'normal')} scatter of SD "
        f"{number(error['sd'])}, {error['n']} pairs); `scvbench power` gives the full analysis.",
        "",
        *lines,
        "",
        "![power curves](power.png)",
    ]


def _cross_validation(folds: list[dict]) -> list[str]:
    lines = [
        "| fold | iterations | stopped | best validation Dice | test Dice | training (s) |",
        "|---|---|---|---|---|---|",
    ]
    for f in folds:
        lines.append(
            f"| {f['fold']} | {f['steps']} | {f['stopped']} | {number(f['best_val_dice'])} | "
            f"{number(f['test_dice'])} | {number(f['train_seconds'], 0)} |"
        )
    test = np.array([f["test_dice"] for f in folds], float)
    val = np.array([f["best_val_dice"] for f in folds], float)
    lines.append(
        f"| mean (SD) | | | {number(val.mean())} ({number(val.std(ddof=1), 4)}) | "
        f"{number(test.mean())} ({number(test.std(ddof=1), 4)}) | |"
    )
    return lines


def render_card(record: dict) -> str:
    """The model card (``README.md``) of one baseline of the benchmark.

    Parameters
    ----------
    record : dict
        ``model``, ``notes`` (architecture), ``config`` and ``training`` (fold 0's
        ``config.json`` and ``summary.json``), ``dataset`` (preset, seed, checksums),
        ``test`` and ``association`` (``results.json`` of each split), ``folds`` (per fold:
        ``fold``, ``steps``, ``stopped``, ``best_val_dice``, ``test_dice``,
        ``train_seconds``), ``command`` (how to reproduce) and ``power`` (the association
        evaluation's ``power.json``, or None).

    Returns
    -------
    str
        Markdown.
    """
    config, training, dataset = record["config"], record["training"], record["dataset"]
    test = record["test"]
    hardware = training.get("hardware") or {}
    dice = test["segmentation"]["overall"]["dice"]["mean"]
    accuracy = test["segmentation"]["overall"]["accuracy"]["mean"]
    recipe = (
        f"`{config['recipe']}`: batch {config['batch_size']}"
        + (
            f" of {config['patch']} px patches ({config['foreground']:.0%} centred on veins)"
            if config.get("patch")
            else f" of {config['size']} px slices"
        )
        + f", {config['optimizer']} at {config['lr']} ({config['schedule']} schedule), loss "
        f"`{config['loss']}`, seed {config['seed']}, reference rater `{config['rater']}`."
    )
    lines = [
        f"# Baseline: `{record['model']}`",
        "",
        f"Official benchmark run on the synthetic `{dataset['preset']}` cohort (seed "
        f"{dataset['seed']}, cohort `{dataset['cohort_checksum'][:12]}`, split "
        f"`{dataset['splits_checksum'][:12]}`, test reference data "
        f"`{dataset['data_checksum'][:12]}`). Synthetic data, not patients.",
        "",
        "## Architecture",
        "",
        record["notes"],
        "",
        f"Network settings: `{config['model_config']}`.",
        "",
        "## Recipe and stopping rule",
        "",
        recipe,
        "",
        f"Stopping rule: {_stopping(config, training)}",
        "",
        "## Hardware and wall time",
        "",
        f"{hardware.get('cpus')} CPU(s) ({hardware.get('processor')}), "
        f"{hardware.get('torch_threads')} torch threads, torch {hardware.get('torch')}, GPU: "
        f"{hardware.get('gpu') or 'none'}; fold {config['fold']} trained in "
        f"{number(training['train_seconds'], 0)} s.",
        "",
        "## Learning curve",
        "",
        "![learning curve](learning_curve.png)",
        "",
        f"## Test scores (synthetic; {test['segmentation']['n_cases']} slices)",
        "",
        *_scores_table(test),
        "",
        f"Pixel accuracy {number(accuracy)} beside Dice {number(dice)}: accuracy counts every "
        "brain pixel, and veins are a few per cent of them, so it stays high for a model that "
        "misses most veins; Dice is the vein overlap the benchmark ranks on.",
        "",
        "## Morphometry agreement with the reference masks (test split, per slice)",
        "",
        *_agreement_table(test),
        "",
        "## Association reproduction (association cohort)",
        "",
        *_association(record["association"].get("association", {})),
        "",
    ]
    if record.get("power"):
        heading = "## Participants a study needs (association cohort)"
        lines += [heading, "", *_power(record["power"]), ""]
    if len(record["folds"]) > 1:
        lines += ["## Cross-validation", "", *_cross_validation(record["folds"]), ""]
    lines += [
        "## Reproduce",
        "",
        f"`{record['command']}`",
        "",
        "The evaluation report of the test split: [evaluation-test.html](evaluation-test.html).",
        "",
    ]
    return "\n".join(lines)
