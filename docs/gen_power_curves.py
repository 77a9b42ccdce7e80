"""Write the README's power curves of the official baselines (synthetic data).

    python docs/gen_power_curves.py [BENCHMARK_DIR]

``BENCHMARK_DIR`` is a ``scvbench benchmark`` run or its state (default: the official run's,
``leaderboard/run``). For each of its models whose association cohort is scored, the
association cohort's evaluation holds ``power.json`` (``scvbench evaluate --power``): the power
of the study's right-tortuosity test (Mann-Whitney by DWML, 53 : 111, alpha 0.05, the synthetic
cohort's group distributions) when the tortuosity is measured with the model's error, with the
second rater's error on the same slices (the human reference) and with none. This draws every
model's curve with the human reference and perfect measurement in one figure
(``docs/power_curves.png``) and writes the participants needed for 80 % and 90 % power between
the README's markers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIGURE = ROOT / "docs" / "power_curves.png"
BEGIN, END = "<!-- power-curves:begin -->", "<!-- power-curves:end -->"
COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def load(run: Path) -> dict[str, dict]:
    """``power.json`` of each scored model's association evaluation, in the run's model order."""
    record = json.loads((run / "benchmark.json").read_text())
    documents = {}
    for model in record["settings"]["models"]:
        path = run / "runs" / model / "evaluation-association" / "power.json"
        if path.is_file():
            documents[model] = json.loads(path.read_text())
        else:
            print(f"{model}: not scored yet in {run} ({path} is missing), left out")
    if not documents:
        raise SystemExit(f"{run}: no model's association cohort is scored yet")
    return documents


def _curve(document: dict, condition: str) -> tuple[list, list, list, list]:
    rows = [r for r in document["curve"] if r["condition"] == condition]
    return (
        [r["n"] for r in rows],
        [r["power"] for r in rows],
        [r["ci_low"] for r in rows],
        [r["ci_high"] for r in rows],
    )


def figure(documents: dict[str, dict]) -> bytes:
    """PNG: every model's curve, the human reference's and perfect measurement's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scvbench.report.figures import png_bytes

    first = next(iter(documents.values()))
    lines = [
        (name, doc, "model", colour, "-")
        for (name, doc), colour in zip(documents.items(), COLOURS, strict=False)
    ]
    if "human" in first["n_for_power"]:
        lines.append(("human reference (second rater)", first, "human", "#d62728", "--"))
    lines.append(("perfect measurement", first, "error-free", "#222222", ":"))
    plot, axis = plt.subplots(figsize=(7, 4.2))
    for label, document, condition, colour, style in lines:
        n, power, low, high = _curve(document, condition)
        axis.plot(n, power, color=colour, linestyle=style, marker=".", label=label)
        axis.fill_between(n, low, high, color=colour, alpha=0.12)
    for target in (0.8, 0.9):
        axis.axhline(target, color="#888888", linewidth=0.8, linestyle="--")
    axis.set(
        xlabel="participants (DWML : no DWML = 53 : 111)",
        ylabel="power (Mann-Whitney, alpha 0.05)",
        ylim=(0, 1.02),
        title="Right tortuosity by DWML: power with each model's error (synthetic)",
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    plot.tight_layout()
    return png_bytes(plot, tight=False)


def _scores(run: Path, model: str) -> tuple[str, str]:
    """A model's test Dice (95 % CI) and right-tortuosity Z on the association cohort."""
    from scvbench.core.association import association_summary

    folder = run / "runs" / model
    dice = json.loads((folder / "evaluation-test" / "results.json").read_text())
    dice = dice["segmentation"]["overall"]["dice"]
    association = json.loads((folder / "evaluation-association" / "results.json").read_text())
    z = association_summary(association["association"])["tortuosity_right_z"]
    return f"{dice['mean']:.3f} ({dice['ci_low']:.3f}-{dice['ci_high']:.3f})", f"{z:.2f}"


def section(documents: dict[str, dict], run: Path) -> str:
    """The README section between the markers."""
    from scvbench.core.association import association_summary
    from scvbench.report.pages import participants

    first = next(iter(documents.values()))
    rows = [(f"`{m}`", *_scores(run, m), d["n_for_power"]["model"]) for m, d in documents.items()]
    model = next(iter(documents))
    test = json.loads((run / "runs" / model / "evaluation-test" / "results.json").read_text())
    association = json.loads(
        (run / "runs" / model / "evaluation-association" / "results.json").read_text()
    )
    human = test["human_reference"]["overall"]["dice"]
    if "human" in first["n_for_power"]:
        rows.append(
            (
                "second rater (human reference)",
                f"{human['mean']:.3f}",
                "-",
                first["n_for_power"]["human"],
            )
        )
    z = association_summary(association["association"])["tortuosity_right_z_reference"]
    rows.append(("reference masks, no error", "1", f"{z:.2f}", first["n_for_power"]["error-free"]))
    table = "".join(
        f"| {name} | {dice} | {z} | {participants(n['0.8'])} | {participants(n['0.9'])} |\n"
        for name, dice, z, n in rows
    )
    settings = json.loads((run / "benchmark.json").read_text())["settings"]
    return (
        f"{BEGIN}\n![Power of the study's right-tortuosity test against cohort size with each "
        "baseline's measurement error](docs/power_curves.png)\n\n"
        "| measured with | test Dice (95 % CI) | right tortuosity Z (study -3.511) | participants "
        "for 80 % power | for 90 % |\n|---|---|---|---|---|\n"
        f"{table}\nSynthetic: the official benchmark (`{settings['preset']}`, seed "
        f"{settings['seed']}, fold 0; {test['segmentation']['n_cases']} test slices, "
        f"{association['association']['n_participants']} association participants); "
        f"{first['simulations']} simulated cohorts per size; "
        f"`python docs/gen_power_curves.py`.\n{END}"
    )


def main(argv: list[str] | None = None) -> int:
    """Draw the figure and rewrite the README section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run",
        type=Path,
        nargs="?",
        default=ROOT / "leaderboard" / "run",
        help="a scvbench benchmark folder or its state (default: leaderboard/run)",
    )
    args = parser.parse_args(argv)
    documents = load(args.run)
    FIGURE.write_bytes(figure(documents))
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README}: no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    README.write_text(head + section(documents, args.run) + rest.split(END, 1)[1])
    print(f"wrote {FIGURE} and {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
