"""Write docs/power.md's empirical check: predicted power against rejections in drawn cohorts.

    python docs/gen_power_check.py [--cohorts 1000]

For cohort sizes of 364, 240 and 160 subjects (the association participants ``scvbench synth
--preset paper --subjects N`` draws: 164, 108 and 72), ``--cohorts`` cohort tables are drawn
with ``draw_cohort(N, seed)`` (seeds 1000 on; table level, exact: the generator's target
values), the association participants' right-hemisphere tortuosity is measured with a baseline's
error (the committed leaderboard entry of ``unet``: fitted to its right-tortuosity pairs on the
association cohort, or a constant error from its Bland-Altman bias and 95 % limits when it keeps
none) and with none, and the study's Mann-Whitney test is run on each; the share significant in the
study's direction is compared with ``scvbench power``'s prediction (4,000 simulated cohorts at
the same group sizes) and its Wilson interval.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "power.md"
BEGIN, END = "<!-- power-check:begin -->", "<!-- power-check:end -->"
SIZES = (364, 240, 160)


def error_of(entry: Path):
    """The error of an entry's right tortuosity: fitted to its pairs, else from its limits."""
    from scvbench.core.agreement import fit_error_model
    from scvbench.steps.power import error_from_limits

    document = json.loads(entry.read_text())
    pairs = (document.get("power_pairs") or {}).get("model")
    if pairs:
        return fit_error_model(*np.asarray(pairs, float).T)
    return error_from_limits(document["morphometry"]["right"]["tortuosity"])


def check(cohorts: int, entry: Path) -> list[dict]:
    """Observed and predicted power per size and error."""
    from scvbench.core.agreement import ErrorModel
    from scvbench.core.power import mann_whitney_z, simulate_power, wilson_interval
    from scvbench.steps.power import load_effect, sampler
    from scvbench.steps.synth.cohort import draw_cohort

    draw = sampler(load_effect("paper", "tortuosity", "right"))

    rows = []
    for size in SIZES:
        tables = [
            draw_cohort(size, seed=1000 + k).query("role == 'association'") for k in range(cohorts)
        ]
        n1 = int(tables[0]["dwml"].sum())
        n0 = len(tables[0]) - n1
        for name, error in (("none", ErrorModel()), ("unet", error_of(entry))):
            rng = np.random.default_rng(size)
            hits = 0
            for table in tables:
                values = error.apply(table["tortuosity_right"].to_numpy(float), rng)
                dwml = table["dwml"].to_numpy(bool)
                z = mann_whitney_z(values[dwml][None], values[~dwml][None])[0]
                hits += int(z > 1.959963984540054)
            predicted = simulate_power(
                draw, (n1, n0), error, simulations=4000, rng=np.random.default_rng(7)
            )
            low, high = wilson_interval(hits, cohorts)
            rows.append(
                {
                    "subjects": size,
                    "groups": f"{n1} : {n0}",
                    "error": name,
                    "observed": hits / cohorts,
                    "observed_ci": (low, high),
                    "predicted": predicted["power"],
                    "predicted_ci": (predicted["ci_low"], predicted["ci_high"]),
                }
            )
    return rows


def markdown(rows: list[dict], cohorts: int) -> str:
    """The table between the page's markers."""
    lines = [
        BEGIN,
        "| subjects (`--subjects`) | DWML : no DWML | error | rejected in drawn cohorts (95 % CI) "
        "| `scvbench power` (95 % CI) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['subjects']} | {r['groups']} | {r['error']} | {r['observed']:.3f} "
            f"({r['observed_ci'][0]:.3f}-{r['observed_ci'][1]:.3f}) | {r['predicted']:.3f} "
            f"({r['predicted_ci'][0]:.3f}-{r['predicted_ci'][1]:.3f}) |"
        )
    lines += [
        "",
        f"Synthetic: {cohorts} cohort tables per size (`draw_cohort(N, seed)`, seeds 1000 on), "
        "right tortuosity measured error-free and with the `unet` leaderboard entry's error; "
        "regenerate with `python docs/gen_power_check.py`.",
        END,
    ]
    return "\n".join(lines)


def main() -> int:
    """Write the table into docs/power.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=1000)
    parser.add_argument(
        "--entry", type=Path, default=ROOT / "leaderboard" / "entries" / "unet.json"
    )
    args = parser.parse_args()
    rows = check(args.cohorts, args.entry)
    text = PAGE.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    PAGE.write_text(text[:start] + markdown(rows, args.cohorts) + text[end:])
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
