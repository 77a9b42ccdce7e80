"""``scvbench power``: participants a study needs when a model measures the veins.

The effect is the study's (``paper``: the group distributions the synthetic cohort draws from,
fitted to the medians and quartiles of Tables 2 and 3) or a user's JSON file of two groups'
medians and quartiles. The measurement error is the model's, from ``scvbench evaluate``'s
Bland-Altman pairs (``morphometry.tsv`` beside ``results.json``; without it the bias and limits
of agreement give a constant error). Power is simulated (:mod:`scvbench.core.power`) for
error-free measurement, for the model and, with ``human``, for another evaluation (e.g. the
second rater's masks scored as a submission), over a grid of cohort sizes split by ``ratio``,
beside the normal-theory cross-check.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from scvbench import io
from scvbench.core.agreement import ErrorModel, fit_error_model
from scvbench.core.power import (
    analytic_power,
    n_for_power,
    simulate_power,
)
from scvbench.errors import ScvbenchError
from scvbench.report.power import power_figure
from scvbench.steps.power.effect import (
    error_from_limits,
    load_effect,
    measurement_error,
    sampler,
)
from scvbench.steps.synth.cohort import SplitNormal

__all__ = ["evaluation_power", "participants_for_power", "power", "tortuosity_pairs"]


def _sizes(n_range: tuple[int, int], points: int, ratio: tuple[int, int]) -> list[tuple]:
    low, high = n_range
    if low < 6 or high <= low:
        raise ScvbenchError(f"--n-range {low}:{high} is empty; give LOW:HIGH with 6 <= LOW < HIGH")
    if min(ratio) < 1:
        raise ScvbenchError(f"--ratio {ratio[0]}:{ratio[1]}: both groups need a share above 0")
    out = []
    for total in np.unique(np.rint(np.linspace(low, high, points)).astype(int)):
        n1 = round(int(total) * ratio[0] / sum(ratio))
        n1 = min(max(n1, 3), total - 3)
        out.append((int(total), n1, int(total) - n1))
    return out


def _moments(dist: SplitNormal, bounds) -> tuple[float, float, float]:
    u = (np.arange(200_000) + 0.5) / 200_000
    values = np.clip(dist.ppf(u), *bounds)
    centred = values - values.mean()
    sd = float(values.std())
    return float(values.mean()), sd, float((centred**3).mean() / sd**3)


def power(
    evaluation: str | Path,
    out: str | Path,
    effect: str = "paper",
    measure: str = "tortuosity",
    hemisphere: str = "right",
    test: str = "mannwhitney",
    alpha: float = 0.05,
    powers: tuple[float, ...] = (0.8, 0.9),
    n_range: tuple[int, int] = (40, 600),
    points: int = 15,
    ratio: tuple[int, int] | None = None,
    simulations: int = 2000,
    seed: int = 0,
    human: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Simulate power against cohort size; write ``power.json``, ``power.tsv``, ``power.png``.

    Parameters
    ----------
    evaluation : path
        The model's ``results.json`` (``scvbench evaluate``).
    out : path
        The output folder.
    effect : str
        ``paper`` or an effect JSON file (:func:`load_effect`).
    measure, hemisphere : str
        What is compared (default: right tortuosity, the study's finding).
    test : str
        ``mannwhitney`` or ``logistic``.
    alpha : float
        Two-sided significance level.
    powers : tuple of float
        Powers whose cohort size is reported.
    n_range : tuple of int
        Smallest and largest total cohort size.
    points : int
        Sizes in the range.
    ratio : tuple of int, optional
        Group 1 : group 0 (default: the study's, 53:111 by DWML and 84:80 by sex).
    simulations : int
        Simulated cohorts per size and condition.
    seed : int
        Seed of the simulation.
    human : path, optional
        Another evaluation whose error is shown as the human reference.
    progress : bool
        A progress bar.

    Returns
    -------
    dict
        What ``power.json`` holds.
    """
    if not 0 < alpha < 1:
        raise ScvbenchError(f"--alpha must lie between 0 and 1, got {alpha}")
    bad = [p for p in powers if not alpha < p < 1]
    if bad:
        raise ScvbenchError(
            f"--power {bad[0]} is impossible: a power lies between alpha ({alpha}) and 1"
        )
    if test not in ("mannwhitney", "logistic"):
        raise ScvbenchError(f"--test must be mannwhitney or logistic, got {test!r}")
    if simulations < 100:
        raise ScvbenchError(f"--simulations {simulations}: give at least 100")
    chosen = load_effect(effect, measure, hemisphere)
    ratio = ratio or chosen["ratio"] or (1, 1)
    sizes = _sizes(n_range, points, ratio)
    conditions = {
        "error-free": ErrorModel(),
        "model": measurement_error(evaluation, measure, hemisphere),
    }
    if human is not None:
        conditions["human"] = measurement_error(human, measure, hemisphere)
    settings = {"test": test, "alpha": alpha, "powers": powers, "simulations": simulations}
    document, table = _curves(conditions, chosen, sizes, settings, seed, progress)
    document.update(
        evaluation=str(evaluation), human=None if human is None else str(human), ratio=list(ratio)
    )
    document["effect"].update(measure=measure, hemisphere=hemisphere)
    out = Path(out)
    io.write_text(out / "power.tsv", table.to_csv(sep="\t", index=False, float_format="%.6g"))
    io.write_bytes(out / "power.png", power_figure(table, powers, document))
    io.write_json(out / "power.json", document)
    return document


def _right_tortuosity(pairs: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference and measured right tortuosity of Bland-Altman pairs; None under 3 usable."""
    if pairs is None or not len(pairs):
        return None
    part = pairs[pairs["hemisphere"] == "right"]
    reference = part["tortuosity_reference"].to_numpy(float)
    measured = part["tortuosity_submission"].to_numpy(float)
    if np.count_nonzero(np.isfinite(reference) & np.isfinite(measured)) < 3:
        return None
    return reference, measured


def evaluation_power(
    pairs: pd.DataFrame,
    simulations: int = 1000,
    seed: int = 0,
    human: pd.DataFrame | None = None,
) -> dict | None:
    """The evaluation report's power section: the study's right-tortuosity effect.

    Curves for error-free measurement, for the submission's error and, with ``human``, for the
    second rater's (the human reference, measured on the same slices).

    Parameters
    ----------
    pairs : DataFrame
        The evaluation's Bland-Altman pairs (``morphometry.tsv``).
    simulations : int
        Cohorts per size.
    seed : int
        Seed.
    human : DataFrame, optional
        The second rater's pairs against the same reference.

    Returns
    -------
    dict or None
        ``power.json``'s content with ``figure`` (PNG bytes); None with fewer than 3 pairs.
    """
    model = _right_tortuosity(pairs)
    if model is None:
        return None
    conditions = {"error-free": ErrorModel(), "model": fit_error_model(*model)}
    second = _right_tortuosity(human)
    if second is not None:
        conditions["human"] = fit_error_model(*second)
    chosen = load_effect("paper", "tortuosity", "right")
    settings = {
        "test": "mannwhitney",
        "alpha": 0.05,
        "powers": (0.8, 0.9),
        "simulations": simulations,
    }
    document, table = _curves(
        conditions, chosen, _sizes((40, 600), 15, chosen["ratio"]), settings, seed, False
    )
    document["ratio"] = list(chosen["ratio"])
    document["effect"].update(measure="tortuosity", hemisphere="right")
    document["figure"] = power_figure(table, (0.8, 0.9), document)
    return document


def _curves(conditions, chosen, sizes, settings, seed, progress) -> tuple[dict, pd.DataFrame]:
    """Simulated and analytic power of every condition at every size; the document and table."""
    test, alpha = settings["test"], settings["alpha"]
    powers, simulations = settings["powers"], settings["simulations"]
    dists, bounds = chosen["dist"], chosen["range"]
    direction = 1 if dists[0].median >= dists[1].median else -1
    draw = sampler(chosen)

    moments = [_moments(d, bounds) for d in dists]
    rows = []
    bar = tqdm(total=len(conditions) * len(sizes), disable=not progress, desc="power")
    for c, (name, error) in enumerate(conditions.items()):
        scale = 1.0 + error.slope
        for i, (total, n1, n0) in enumerate(sizes):
            rng = np.random.default_rng([seed, c, i])
            simulated = simulate_power(
                draw, (n1, n0), error, test, alpha, simulations, rng, chosen["discrete"], direction
            )
            analytic = analytic_power(
                (moments[0][0] * scale, moments[1][0] * scale),
                (moments[0][1] * scale, moments[1][1] * scale),
                (n1, n0),
                error.sd,
                alpha,
                test,
            )
            rows.append(
                {
                    "condition": name,
                    "n": total,
                    "n_group1": n1,
                    "n_group0": n0,
                    **{k: simulated[k] for k in ("power", "ci_low", "ci_high")},
                    "analytic": analytic["power"],
                }
            )
            bar.update(1)
    bar.close()
    table = pd.DataFrame(rows)
    needed = {
        name: {f"{p:g}": n_for_power(part["n"], part["power"], p) for p in powers}
        for name, part in table.groupby("condition", sort=False)
    }
    disagreement = table[
        (table["power"] - table["analytic"]).abs()
        > np.maximum(0.05, (table["ci_high"] - table["ci_low"]))
    ]
    reasons = []
    if len(disagreement):
        skews = [m[2] for m in moments]
        if max(abs(s) for s in skews) > 0.3:
            reasons.append(
                f"the group distributions are skewed (skewness {skews[0]:.2f} and "
                f"{skews[1]:.2f}); the normal approximation takes only their means and SDs"
            )
        if chosen["discrete"]:
            reasons.append("the values are whole numbers with many ties")
        if any(e.kind == "proportional" for e in conditions.values()):
            reasons.append("the error is proportional to the value")
        if any(e.noise == "empirical" for e in conditions.values()):
            reasons.append(
                "the error is not normal (Shapiro-Wilk): the simulation resamples the measured "
                "scatter, the approximation takes only its SD"
            )
        if test == "logistic":
            reasons.append("the logistic model's Wald test is approximated by the t test")
        if not reasons:
            reasons.append("the approximation is asymptotic; small groups fall short of it")
    document = {
        "effect": {
            "source": chosen["source"],
            "groups": list(chosen["names"]),
            "group1": vars(dists[0]),
            "group0": vars(dists[1]),
            "direction": direction,
            "standardised_difference": analytic_power(
                (moments[0][0], moments[1][0]), (moments[0][1], moments[1][1]), (10, 10)
            )["d"],
        },
        "test": test,
        "alpha": alpha,
        "simulations": simulations,
        "seed": seed,
        "errors": {name: e.to_json() for name, e in conditions.items()},
        "n_for_power": needed,
        "analytic_check": {
            "max_difference": float((table["power"] - table["analytic"]).abs().max()),
            "disagrees_at": disagreement[["condition", "n"]].to_dict(orient="records"),
            "why": reasons,
        },
        "curve": rows,
    }
    return document, table


def tortuosity_pairs(folder: str | Path) -> dict[str, list[list[float]]]:
    """The right-tortuosity Bland-Altman pairs an evaluation folder holds, for the leaderboard.

    Parameters
    ----------
    folder : path
        An evaluation's folder: ``morphometry.tsv`` (the submission's pairs) and
        ``morphometry_human.tsv`` (the second rater's), each used when present.

    Returns
    -------
    dict
        ``model`` and ``human``: ``[reference, measured]`` pairs (both finite) of each file found.
    """
    out = {}
    for name, file in (("model", "morphometry.tsv"), ("human", "morphometry_human.tsv")):
        path = Path(folder) / file
        if path.is_file():
            pair = _right_tortuosity(pd.read_csv(path, sep="\t"))
            if pair is not None:
                keep = np.isfinite(pair[0]) & np.isfinite(pair[1])
                out[name] = np.column_stack([pair[0][keep], pair[1][keep]]).tolist()
    return out


def participants_for_power(
    agreement: dict | None,
    pairs: list | None = None,
    target: float = 0.8,
    simulations: int = 1000,
    seed: int = 0,
    stream: int | None = None,
) -> float | None:
    """Participants for ``target`` power on the study's right-tortuosity effect (Mann-Whitney).

    The leaderboard's column: the error is fitted to the entry's right-tortuosity pairs
    (:func:`scvbench.core.agreement.fit_error_model`) or, without them, constant from the
    Bland-Altman bias and limits; the groups are 53 : 111 as the study's, sizes 40 to 600 in
    steps of 40, ``simulations`` cohorts each, drawn as :func:`evaluation_power` draws its
    condition number ``stream`` (0 error-free, 1 the model, 2 the second rater), so that both
    give the same size for the same pairs.

    Parameters
    ----------
    agreement : dict or None
        ``bias``, ``loa_low`` and ``loa_high`` of right tortuosity; None for error-free.
    pairs : list, optional
        ``[reference, measured]`` pairs (:func:`tortuosity_pairs`), used before ``agreement``.
    target : float
        The power.
    simulations : int
        Cohorts per size.
    seed : int
        Seed.
    stream : int, optional
        The random stream (default: 0 without error, else 1).

    Returns
    -------
    float or None
        The size rounded up to whole participants; infinity when 600 participants fall short;
        None without agreement data.
    """
    if pairs is not None and len(pairs) >= 3:
        error = fit_error_model(*np.asarray(pairs, float).T)
    elif agreement is None:
        error = ErrorModel()
    elif agreement.get("bias") is None or agreement.get("loa_low") is None:
        return None
    else:
        error = error_from_limits(agreement)
    if stream is None:
        stream = 0 if pairs is None and agreement is None else 1
    chosen = load_effect("paper", "tortuosity", "right")
    draw = sampler(chosen)
    dists = chosen["dist"]
    direction = 1 if dists[0].median >= dists[1].median else -1
    sizes = _sizes((40, 600), 15, chosen["ratio"])
    curve = []
    for i, (_, n1, n0) in enumerate(sizes):
        rng = np.random.default_rng([seed, stream, i])
        args = (error, "mannwhitney", 0.05, simulations, rng, chosen["discrete"], direction)
        curve.append(simulate_power(draw, (n1, n0), *args)["power"])
    needed = n_for_power([n for n, _, _ in sizes], curve, target)
    return float("inf") if needed is None else math.ceil(needed)
