"""``scvbench leaderboard``: entries with provenance, rank-then-aggregate with bootstrap ranks.

An **entry** (``leaderboard/entries/<name>.json``) is one evaluated submission: the model's
name, configuration (recipe, fold, seed) and version of scvbench, the code reference, the data
set's identity and the checksums of the reference masks and the split file, the hardware and
training time (from the training run's ``summary.json``), the scores of ``results.json`` and the
per-case scores of ``cases.tsv`` (for the bootstrap). ``leaderboard.json`` holds the checksums
every entry must share: the first entry sets them; an entry scored on other reference data,
another split, or not on the ``test`` split is refused.

**Ranking** (rank then aggregate): for each metric of :data:`RANK_METRICS` the entries are
ranked (1 = best, ties share the mean rank) and the final order is by the mean of those ranks.
Case metrics are the mean over the test slices; ``morphometry_icc`` is the mean ICC(A,1) over
measures and hemispheres and ``reproduction`` the association reproduction score (missing
values rank last). **Rank stability**: the test cases are resampled with replacement 1,000 times
(seed 0), all entries on the same resample, and the whole ranking is redone: each entry's
probability of rank 1 and its 95 % rank interval. Neighbours in the final order are compared
with a two-sided Wilcoxon signed-rank test on the per-case Dice. The second rater, scored as a
submission against the first, is shown as the human reference (not ranked).
"""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, wilcoxon

from scvbench import __version__, io
from scvbench.errors import ScvbenchError
from scvbench.report.figures import png_bytes

__all__ = ["RANK_METRICS", "add_entry", "build", "load_entries", "rank"]

SCHEMA_VERSION = "1.0"
#: Ranked metrics: (name, higher is better, from the per-case scores).
RANK_METRICS = (
    ("dice", True, True),
    ("cldice", True, True),
    ("hd95_mm", False, True),
    ("betti0_error", False, True),
    ("morphometry_icc", True, False),
    ("reproduction", True, False),
)
CASE_COLUMNS = ["participant_id", "slice", "dice", "cldice", "hd95_mm", "betti0_error"]
BOOTSTRAP = 1000


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    if not slug:
        raise ScvbenchError(f"entry name {name!r} has no usable characters")
    return slug


def _code_reference() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0:
            return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"scvbench=={__version__}"


def _morphometry_icc(results: dict) -> float | None:
    values = [
        a["icc_a1"]
        for measures in results.get("morphometry", {}).values()
        for a in measures.values()
        if a.get("icc_a1") is not None
    ]
    return float(np.mean(values)) if values else None


def _load_results(path: Path) -> dict:
    try:
        results = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ScvbenchError(f"{path}: no such results file") from None
    except (OSError, ValueError) as err:
        raise ScvbenchError(f"{path}: not a results.json ({err})") from None
    if "segmentation" not in results or "reference" not in results:
        raise ScvbenchError(f"{path}: not a results.json of scvbench evaluate")
    return results


def make_entry(
    results_path: Path,
    name: str | None = None,
    run_dir: Path | None = None,
    association_path: Path | None = None,
) -> dict:
    """An entry from ``results.json`` (with ``cases.tsv`` beside it) and its training run.

    ``association_path``: the same submission's results on the ``association`` split (with
    the same split file), whose association reproduction score the entry then carries; the
    test split is usually too small for the study's group tests.
    """
    results_path = Path(results_path)
    results = _load_results(results_path)
    reference = results["reference"]
    if reference.get("split") != "test":
        raise ScvbenchError(
            f"{results_path}: scored on the {reference.get('split')!r} split; the leaderboard "
            "takes test-split results only (scvbench evaluate --split test)"
        )
    cases_path = results_path.with_name("cases.tsv")
    try:
        cases = pd.read_csv(cases_path, sep="\t")
    except OSError:
        raise ScvbenchError(f"{cases_path}: missing; keep cases.tsv beside results.json") from None
    configuration = results["submission"].get("configuration") or {}
    training = {}
    if run_dir is not None:
        summary = Path(run_dir) / "summary.json"
        if not summary.is_file():
            raise ScvbenchError(f"{summary}: missing; give the training run's folder")
        training = json.loads(summary.read_text())
    name = name or results["submission"].get("generated_by")
    if not name:
        raise ScvbenchError(f"{results_path}: the submission names no model; give --name")
    association = results.get("association", {})
    association_split = "test"
    if association_path is not None:
        other = _load_results(Path(association_path))
        if other["reference"].get("split") != "association":
            raise ScvbenchError(f"{association_path}: not scored on the association split")
        if other["reference"].get("splits_checksum") != reference.get("splits_checksum"):
            raise ScvbenchError(f"{association_path}: scored with another split file")
        if other["submission"].get("generated_by") != results["submission"].get("generated_by"):
            raise ScvbenchError(f"{association_path}: results of another model")
        association, association_split = other.get("association", {}), "association"
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "model": results["submission"].get("generated_by"),
        "configuration": configuration,
        "scvbench_version": __version__,
        "code": _code_reference(),
        "dataset": reference.get("dataset", {}),
        "data_checksum": reference.get("data_checksum"),
        "splits_checksum": reference.get("splits_checksum"),
        "training": training,
        "scores": {
            "segmentation": results["segmentation"]["overall"],
            "morphometry_icc": _morphometry_icc(results),
            "reproduction": association.get("reference", {}).get("reproduction_score"),
            "reproduction_split": association_split,
            "n_invalid": results["segmentation"]["n_invalid"],
        },
        "human_reference": results.get("human_reference"),
        "morphometry": results.get("morphometry"),
        "cases": cases[CASE_COLUMNS].to_dict(orient="list"),
    }


def add_entry(
    results_path: str | Path,
    board: str | Path = "leaderboard",
    name: str | None = None,
    run_dir: str | Path | None = None,
    replace: bool = False,
    association_path: str | Path | None = None,
) -> Path:
    """Check an entry against the leaderboard's checksums and write it."""
    board = Path(board)
    entry = make_entry(Path(results_path), name, run_dir, association_path)
    settings_path = board / "leaderboard.json"
    if settings_path.is_file():
        settings = json.loads(settings_path.read_text())
        for key in ("data_checksum", "splits_checksum"):
            if entry[key] != settings[key]:
                raise ScvbenchError(
                    f"{results_path}: {key} {str(entry[key])[:12]} differs from the "
                    f"leaderboard's {str(settings[key])[:12]}: scored on other reference data or "
                    "another split; evaluate on the leaderboard's data set and split file"
                )
    else:
        io.write_json(
            settings_path,
            {
                "schema_version": SCHEMA_VERSION,
                "data_checksum": entry["data_checksum"],
                "splits_checksum": entry["splits_checksum"],
                "dataset": entry["dataset"],
            },
        )
    path = board / "entries" / f"{_slug(entry['name'])}.json"
    if path.exists() and not replace:
        raise ScvbenchError(f"{path}: an entry of that name exists; --replace to update it")
    io.write_json(path, entry)
    return path


def load_entries(board: str | Path = "leaderboard") -> list[dict]:
    """Every entry of the leaderboard, by name."""
    entries = []
    for path in sorted((Path(board) / "entries").glob("*.json")):
        try:
            entries.append(json.loads(path.read_text()))
        except ValueError as err:
            raise ScvbenchError(f"{path}: not valid JSON ({err})") from None
    return entries


def _aligned_cases(entries: list[dict]) -> tuple[list[tuple], dict[str, np.ndarray]]:
    """The case keys common to all entries and each entry's per-case scores in that order."""
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


def _ranks(matrix: np.ndarray, higher: list[bool]) -> np.ndarray:
    """Mean rank per entry (rows) over metrics (columns); NaN ranks last."""
    ranks = []
    for j, better in enumerate(higher):
        column = matrix[:, j].astype(float)
        worst = -np.inf if better else np.inf
        column = np.where(np.isfinite(column), column, worst)
        ranks.append(rankdata(-column if better else column, method="average"))
    return np.mean(ranks, axis=0)


def rank(entries: list[dict], n_boot: int = BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """Final rank, metric values, probability of rank 1, 95 % rank interval, neighbour tests."""
    if not entries:
        return pd.DataFrame()
    names = [e["name"] for e in entries]
    keys, per_case = _aligned_cases(entries)
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
    mean_rank = _ranks(observed, higher)
    dice = observed[:, 0]
    order = np.lexsort((-np.nan_to_num(dice, nan=-1), mean_rank))
    final = np.empty(len(names), int)
    final[order] = np.arange(1, len(names) + 1)
    rng = np.random.default_rng(seed)
    boot = np.zeros((n_boot, len(names)), int)
    for b in range(n_boot):
        sample = rng.integers(0, len(keys), len(keys))
        m = matrix(sample)
        r = _ranks(m, higher)
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
    return table.reset_index(drop=True)


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _human_row(entries: list[dict]) -> dict | None:
    for entry in entries:
        human = entry.get("human_reference")
        if human:
            overall = human["overall"]
            return {
                "name": f"human reference ({human['rater']})",
                **{m: overall.get(m, {}).get("mean") for m, _, case in RANK_METRICS if case},
            }
    return None


def build(board: str | Path = "leaderboard") -> dict[str, Path]:
    """Render ``README.md``, ``leaderboard.csv`` and ``index.html`` from the entries."""
    board = Path(board)
    entries = load_entries(board)
    if not entries:
        raise ScvbenchError(
            f"{board / 'entries'}: no entries; add one with scvbench leaderboard add"
        )
    table = rank(entries)
    by_name = {e["name"]: e for e in entries}
    human = _human_row(entries)
    columns = [
        "rank",
        "name",
        *[m for m, _, _ in RANK_METRICS],
        "p_rank1",
        "rank_interval",
        "wilcoxon_p_next",
        "recipe",
        "train_seconds",
    ]
    rows = []
    for _, row in table.iterrows():
        entry = by_name[row["name"]]
        rows.append(
            {
                **{c: row[c] for c in ("rank", "name")},
                **{m: row[m] for m, _, _ in RANK_METRICS},
                "p_rank1": row["p_rank1"],
                "rank_interval": f"{int(row['rank_low'])}-{int(row['rank_high'])}",
                "wilcoxon_p_next": row["wilcoxon_p_next"],
                "recipe": entry.get("configuration", {}).get("recipe"),
                "train_seconds": entry.get("training", {}).get("train_seconds"),
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    io.write_text(board / "leaderboard.csv", frame.to_csv(index=False, float_format="%.6g"))
    settings = json.loads((board / "leaderboard.json").read_text())
    dataset = settings.get("dataset", {})
    header = (
        "| rank | model | Dice | clDice | HD95 (mm) | Betti-0 error | morphometry ICC | "
        "reproduction | P(rank 1) | rank 95 % | Wilcoxon P vs next |\n" + "|---" * 11 + "|\n"
    )
    body = "".join(
        f"| {r['rank']} | {r['name']} | {_fmt(r['dice'])} | {_fmt(r['cldice'])} | "
        f"{_fmt(r['hd95_mm'], 2)} | {_fmt(r['betti0_error'], 2)} | {_fmt(r['morphometry_icc'])} | "
        f"{_fmt(r['reproduction'], 2)} | {_fmt(r['p_rank1'], 2)} | {r['rank_interval']} | "
        f"{_fmt(r['wilcoxon_p_next'])} |\n"
        for r in rows
    )
    if human:
        body += (
            f"| - | {human['name']} | {_fmt(human['dice'])} | {_fmt(human['cldice'])} | "
            f"{_fmt(human['hd95_mm'], 2)} | {_fmt(human['betti0_error'], 2)} | | | | | |\n"
        )
    intro = (
        "# scvbench leaderboard\n\n"
        f"Test split of the `{dataset.get('preset') or dataset.get('name')}` data set "
        f"(seed {dataset.get('seed')}; reference data `{str(settings['data_checksum'])[:12]}`, "
        f"split `{str(settings['splits_checksum'])[:12]}`). Synthetic data where the data set "
        "is a `scvbench synth` cohort. Ranked by the mean of the per-metric ranks; P(rank 1) and "
        "the rank interval from 1,000 bootstrap resamples of the test slices (seed 0); Wilcoxon "
        "signed-rank P on the per-slice Dice against the next entry. Rebuilt with "
        "`scvbench leaderboard build`; `index.html` is the interactive page.\n\n"
    )
    io.write_text(board / "README.md", intro + header + body)
    io.write_text(board / "index.html", _page(rows, human, entries, settings))
    return {
        "readme": board / "README.md",
        "csv": board / "leaderboard.csv",
        "html": board / "index.html",
    }


def _plot(rows: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 0.5 + 0.45 * len(rows)))
    names = [r["name"] for r in rows][::-1]
    low = [r["rank_interval"].split("-") for r in rows][::-1]
    for y, ((lo, hi), row) in enumerate(zip(low, rows[::-1], strict=True)):
        axis.plot([int(lo), int(hi)], [y, y], color="#4a7", linewidth=6, solid_capstyle="round")
        axis.plot(row["rank"], y, "ko")
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("rank (dot: observed; bar: 95 % bootstrap interval)")
    axis.set_xlim(0.5, len(rows) + 0.5)
    figure.tight_layout()
    return png_bytes(figure)


def _page(rows: list[dict], human: dict | None, entries: list[dict], settings: dict) -> str:

    dataset = settings.get("dataset", {})
    metrics = [m for m, _, _ in RANK_METRICS]
    heads = ["rank", "model", *metrics, "P(rank 1)", "rank 95 %", "Wilcoxon P vs next"]
    keys = ["rank", "name", *metrics, "p_rank1", "rank_interval", "wilcoxon_p_next"]
    body = ""

    def shown(value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, np.integer)):
            return str(value)
        return _fmt(value)

    for r in rows:
        cells = "".join(
            f"<td data-value='{html.escape(str(r[k]))}'>{html.escape(shown(r[k]))}</td>"
            for k in keys
        )
        body += f"<tr class='entry'>{cells}</tr>"
    human_row = ""
    if human:
        human_row = (
            "<tfoot><tr class='human'><td>-</td><td>"
            + html.escape(human["name"])
            + "</td>"
            + "".join(f"<td>{_fmt(human.get(m))}</td>" for m in metrics)
            + "<td></td><td></td><td></td></tr></tfoot>"
        )
    details = ""
    for entry in entries:
        seg = entry["scores"]["segmentation"]
        metric_rows = "".join(
            f"<tr><td>{html.escape(m)}</td><td>{_fmt(s['mean'])}</td><td>{_fmt(s['ci_low'])} - "
            f"{_fmt(s['ci_high'])}</td></tr>"
            for m, s in seg.items()
        )
        morph = "".join(
            f"<tr><td>{side} {m}</td><td>{_fmt(a.get('icc_a1'))}</td>"
            f"<td>{_fmt(a.get('bias'))}</td></tr>"
            for side, measures in (entry.get("morphometry") or {}).items()
            for m, a in measures.items()
        )
        training = entry.get("training", {})
        details += (
            f"<details id='{html.escape(_slug(entry['name']))}'><summary>"
            f"{html.escape(entry['name'])}</summary><p>Model "
            f"{html.escape(str(entry.get('model')))}, recipe "
            f"{html.escape(str(entry.get('configuration', {}).get('recipe')))}, fold "
            f"{html.escape(str(entry.get('configuration', {}).get('fold')))}, training "
            f"{html.escape(str(training.get('train_seconds')))} s on "
            f"{html.escape(str(training.get('torch_threads')))} CPU threads; code "
            f"{html.escape(entry.get('code', ''))}; scvbench "
            f"{html.escape(entry['scvbench_version'])}."
            f"</p><table><tr><th>metric</th><th>mean</th><th>95 % CI</th></tr>{metric_rows}"
            f"</table><table><tr><th>morphometry</th><th>ICC(A,1)</th><th>bias</th></tr>{morph}"
            f"</table><p>Association reproduction score: "
            f"{_fmt(entry['scores'].get('reproduction'), 2)}</p></details>"
        )
    plot = base64.b64encode(_plot(rows)).decode()
    ascending = ("rank", "name", "hd95_mm", "betti0_error", "rank_interval")
    head_cells = "".join(
        f"<th data-key='{i}' data-name='{k}' data-dir='{'asc' if k in ascending else 'desc'}'>"
        f"{html.escape(h)}</th>"
        for i, (h, k) in enumerate(zip(heads, keys, strict=True))
    )
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>scvbench leaderboard</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}}
td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}}
th{{cursor:pointer;background:#f3f5f7}}th.sorted{{background:#dde8f0}}
tr.human td{{color:#555;font-style:italic}}.note{{color:#555}}img{{max-width:100%}}
details{{margin:.4em 0}}</style></head><body>
<h1>scvbench leaderboard</h1>
<p class="note">Test split of the {html.escape(str(dataset.get("preset") or dataset.get("name")))}
data set (seed {html.escape(str(dataset.get("seed")))}; synthetic when it is a scvbench synth
cohort); reference data {html.escape(str(settings["data_checksum"])[:12])},
split {html.escape(str(settings["splits_checksum"])[:12])}. Ranked by the mean of the
per-metric ranks (Dice, clDice, HD95, Betti-0 error, morphometry ICC, association
reproduction). Click a column to sort. The human reference row is the second rater scored
against the first.</p>
<table id="board"><thead><tr>{head_cells}</tr></thead><tbody>{body}</tbody>{human_row}</table>
<h2>Rank stability</h2><img alt="rank intervals" src="data:image/png;base64,{plot}">
<h2>Entries</h2>{details}
<script>
document.querySelectorAll('#board th').forEach(function (th) {{
  th.addEventListener('click', function () {{
    var index = Number(th.dataset.key), tbody = document.querySelector('#board tbody');
    var rows = Array.from(tbody.querySelectorAll('tr'));
    var ascending = th.classList.contains('sorted') ? th.dataset.now !== 'asc'
                                                    : th.dataset.dir === 'asc';
    rows.sort(function (a, b) {{
      var x = a.children[index].dataset.value, y = b.children[index].dataset.value;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return ascending ? c : -c;
    }});
    rows.forEach(function (r) {{ tbody.appendChild(r); }});
    document.querySelectorAll('#board th').forEach(function (h) {{
      h.classList.remove('sorted');
    }});
    th.classList.add('sorted'); th.dataset.now = ascending ? 'asc' : 'desc';
  }});
}});
// index.html#sort=<column> opens the page sorted by that column (a link to share)
var wanted = location.hash.match(/sort=([A-Za-z0-9_]+)/);
if (wanted) {{
  var header = document.querySelector("#board th[data-name='" + wanted[1] + "']");
  if (header) header.click();
}}
</script></body></html>
"""
