"""The leaderboard's pages: the Markdown table and the static, sortable HTML page."""

from __future__ import annotations

import base64
import html
import re

import numpy as np

from scvbench.core.ranking import RANK_METRICS
from scvbench.errors import ScvbenchError
from scvbench.report.figures import png_bytes

__all__ = ["fmt", "human_row", "rank_plot", "render_page", "slug"]


def slug(name: str) -> str:
    """A file and anchor name for an entry: letters, digits, ``.``, ``_`` and ``-``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    if not slug:
        raise ScvbenchError(f"entry name {name!r} has no usable characters")
    return slug


def fmt(value, digits: int = 3) -> str:
    """A number with ``digits`` decimals; ``n/a`` when missing or not finite."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def human_row(entries: list[dict]) -> dict | None:
    """The second rater's scores (the human reference row), when an entry has them."""
    for entry in entries:
        human = entry.get("human_reference")
        if human:
            overall = human["overall"]
            return {
                "name": f"human reference ({human['rater']})",
                **{m: overall.get(m, {}).get("mean") for m, _, case in RANK_METRICS if case},
            }
    return None


def rank_plot(rows: list[dict]) -> bytes:
    """PNG of each entry's observed rank and 95 % bootstrap rank interval."""
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


def render_page(rows: list[dict], human: dict | None, entries: list[dict], settings: dict) -> str:
    """The static leaderboard page: sortable table, rank intervals, one section per entry."""
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
        return fmt(value)

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
            + "".join(f"<td>{fmt(human.get(m))}</td>" for m in metrics)
            + "<td></td><td></td><td></td></tr></tfoot>"
        )
    details = ""
    for entry in entries:
        seg = entry["scores"]["segmentation"]
        metric_rows = "".join(
            f"<tr><td>{html.escape(m)}</td><td>{fmt(s['mean'])}</td><td>{fmt(s['ci_low'])} - "
            f"{fmt(s['ci_high'])}</td></tr>"
            for m, s in seg.items()
        )
        morph = "".join(
            f"<tr><td>{side} {m}</td><td>{fmt(a.get('icc_a1'))}</td>"
            f"<td>{fmt(a.get('bias'))}</td></tr>"
            for side, measures in (entry.get("morphometry") or {}).items()
            for m, a in measures.items()
        )
        training = entry.get("training", {})
        details += (
            f"<details id='{html.escape(slug(entry['name']))}'><summary>"
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
            f"{fmt(entry['scores'].get('reproduction'), 2)}</p></details>"
        )
    plot = base64.b64encode(rank_plot(rows)).decode()
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
