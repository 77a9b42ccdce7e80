"""Rank then aggregate, with bootstrap rank stability and Wilcoxon tests between neighbours.

For each metric of :data:`RANK_METRICS` the entries are ranked (1 = best, ties share the mean
rank) and the final order is by the mean of those ranks (Dice breaks ties). Missing values rank
last. The test cases are resampled with replacement, all entries on the same resample, and the
whole ranking redone: each entry's probability of rank 1 and its 95 % rank interval.
**Tiers** (:func:`tiers`): walking down the final order, an entry opens a new tier when its
whole rank interval lies below that of the current tier's first entry; entries of one tier are
not separated by the bootstrap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata, wilcoxon

from scvbench.defaults import DEFAULTS

__all__ = ["RANK_METRICS", "aligned_cases", "mean_ranks", "rank", "tiers"]


#: Ranked metrics: (name, higher is better, from the per-case scores).
RANK_METRICS = (
    ("dice", True, True),
    ("cldice", True, True),
    ("hd95_mm", False, True),
    ("betti0_error", False, True),
    ("morphometry_icc", True, False),
    ("reproduction", True, False),
)


def aligned_cases(entries: list[dict]) -> tuple[list[tuple], dict[str, np.ndarray]]:
    """The case keys common to all entries and each entry's per-case scores in that order.

    Parameters
    ----------
    entries : list of dict
        Leaderboard entries with their per-case scores (``cases``).

    Returns
    -------
    keys : list of tuple
        ``(participant_id, slice)`` of the common cases, sorted.
    values : dict
        Per entry, an array (cases x ranked case metrics).
    """
    keys = None
    tables = {}
    for entry in entries:
        table = pd.DataFrame(entry["cases"])
        table["key"] = list(zip(table["participant_id"], table["slice"], strict=True))
        tables[entry["name"]] = table.set_index("key")
        keys = set(table["key"]) if keys is None else keys & set(table["key"])
    ordered = sorted(keys or [])
    values = {
        name: table.loc[ordered, [m for m, _, case in RANK_METRICS if case]].to_numpy(float)
        for name, table in tables.items()
    }
    return ordered, values


def mean_ranks(matrix: np.ndarray, higher: list[bool]) -> np.ndarray:
    """Mean rank per entry (rows) over metrics (columns); NaN ranks last.

    Parameters
    ----------
    matrix : ndarray
        Entries x metrics.
    higher : list of bool
        Per metric, whether higher is better.

    Returns
    -------
    ndarray
        Mean rank of each entry (1 = best; ties share the mean rank).
    """
    ranks = []
    for j, better in enumerate(higher):
        column = matrix[:, j].astype(float)
        worst = -np.inf if better else np.inf
        column = np.where(np.isfinite(column), column, worst)
        ranks.append(rankdata(-column if better else column, method="average"))
    return np.mean(ranks, axis=0)


def tiers(rank_low, rank_high) -> list[int]:
    """Tier of each entry, given in final rank order, from its 95 % bootstrap rank interval.

    The first entry leads tier 1; the next entry whose interval starts after the leader's
    ends (``rank_low > leader's rank_high``) leads the next tier, and so on.

    Parameters
    ----------
    rank_low, rank_high : sequence of int
        The rank intervals, in final rank order.

    Returns
    -------
    list of int
        The tier of each entry (1 = top).
    """
    out, tier, leader_high = [], 0, None
    for low, high in zip(rank_low, rank_high, strict=True):
        if leader_high is None or low > leader_high:
            tier, leader_high = tier + 1, high
        out.append(tier)
    return out


def rank(
    entries: list[dict], n_boot: int = DEFAULTS.bootstrap, seed: int = DEFAULTS.seed
) -> pd.DataFrame:
    """Final rank, metric values, probability of rank 1, 95 % rank interval, neighbour tests.

    Parameters
    ----------
    entries : list of dict
        Leaderboard entries.
    n_boot : int
        Bootstrap resamples of the test cases.
    seed : int
        Seed of the resampling.

    Returns
    -------
    DataFrame
        One row per entry in rank order: ``rank``, ``name``, the metrics, ``p_rank1``,
        ``rank_low``, ``rank_high``, ``wilcoxon_p_next`` and ``tier``.
    """
    if not entries:
        return pd.DataFrame()
    names = [e["name"] for e in entries]
    keys, per_case = aligned_cases(entries)
    case_metrics = [m for m, _, case in RANK_METRICS if case]
    higher = [better for _, better, _ in RANK_METRICS]

    def matrix(sample: np.ndarray | None) -> np.ndarray:
        rows = []
        for entry in entries:
            values = per_case[entry["name"]]
            chosen = values if sample is None else values[sample]
            means = chosen.mean(axis=0) if len(chosen) else np.full(len(case_metrics), np.nan)
            rows.append(
                [*means, entry["scores"]["morphometry_icc"], entry["scores"]["reproduction"]]
            )
        return np.array(rows, dtype=float)

    observed = matrix(None)
    mean_rank = mean_ranks(observed, higher)
    dice = observed[:, 0]
    order = np.lexsort((-np.nan_to_num(dice, nan=-1), mean_rank))
    final = np.empty(len(names), int)
    final[order] = np.arange(1, len(names) + 1)
    rng = np.random.default_rng(seed)
    boot = np.zeros((n_boot, len(names)), int)
    for b in range(n_boot):
        sample = rng.integers(0, len(keys), len(keys))
        m = matrix(sample)
        r = mean_ranks(m, higher)
        o = np.lexsort((-np.nan_to_num(m[:, 0], nan=-1), r))
        boot[b, o] = np.arange(1, len(names) + 1)
    table = pd.DataFrame(
        {
            "rank": final,
            "name": names,
            "mean_metric_rank": mean_rank,
            **{m: observed[:, j] for j, (m, _, _) in enumerate(RANK_METRICS)},
            "p_rank1": (boot == 1).mean(axis=0),
            "rank_low": np.percentile(boot, 2.5, axis=0, method="lower"),
            "rank_high": np.percentile(boot, 97.5, axis=0, method="higher"),
        }
    ).sort_values("rank")
    p_next = []
    ordered = table["name"].tolist()
    for i, name in enumerate(ordered):
        if i + 1 == len(ordered):
            p_next.append(None)
            continue
        a, b = per_case[name][:, 0], per_case[ordered[i + 1]][:, 0]
        if len(a) < 2 or np.allclose(a, b):
            p_next.append(1.0)
        else:
            p_next.append(float(wilcoxon(a, b).pvalue))
    table["wilcoxon_p_next"] = p_next
    table["tier"] = tiers(table["rank_low"], table["rank_high"])
    return table.reset_index(drop=True)
