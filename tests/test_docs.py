"""The documentation: the site builds with --strict (no broken link), the reference is current."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "docs" / "gen_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_reference_is_current():
    """docs/reference.md is every command's --help as the code prints it (make docs)."""
    columns = os.environ.get("COLUMNS")
    try:
        text = _generator().reference()
    finally:
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns
    assert text == (ROOT / "docs" / "reference.md").read_text(), "run make docs"
    for command in ("synth", "convert", "derive", "evaluate", "baselines", "run", "slurm"):
        assert f"## scvbench {command}\n" in text


def test_site_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    run = subprocess.run(
        [mkdocs, "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    pages = {
        p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*.html")
    }
    assert {"index.html", "reference/index.html", "architecture/index.html"} <= pages


def test_strict_build_fails_on_a_broken_link(tmp_path):
    """The check is real: a page linking to a missing page fails the build."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the missing page](missing.md).\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: t\nstrict: true\n")
    run = subprocess.run(
        [
            mkdocs,
            "build",
            "--strict",
            "-f",
            str(tmp_path / "mkdocs.yml"),
            "-d",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert run.returncode != 0 and "missing.md" in run.stderr


def test_readme_is_concise_and_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 10_000
    import re

    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_readme_paper_match_table_is_current():
    """The README's table against the study is what docs/gen_paper_match.py writes now."""
    spec = importlib.util.spec_from_file_location(
        "gen_paper_match", ROOT / "docs" / "gen_paper_match.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    section = module.section()
    assert section in (ROOT / "README.md").read_text(), "run python docs/gen_paper_match.py"
    assert "-3.511" in section and "(outside)" not in section


def test_readme_realism_card_is_current():
    """The README's realism card is what docs/gen_realism.py writes from docs/realism.json."""
    spec = importlib.util.spec_from_file_location("gen_realism", ROOT / "docs" / "gen_realism.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    section = module.section()
    assert section in (ROOT / "README.md").read_text(), "run python docs/gen_realism.py"
    assert "medullary veins per hemisphere" in section and "CNR" in section


def test_paper_match_reads_a_generated_cohorts_truth(tiny_cohort):
    """`gen_paper_match.py --cohort` turns a cohort's truth into the per-participant table."""
    spec = importlib.util.spec_from_file_location(
        "gen_paper_match", ROOT / "docs" / "gen_paper_match.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import pandas as pd

    wide = module.cohort_table(tiny_cohort)
    cohort = pd.read_csv(tiny_cohort / "truth" / "cohort.tsv", sep="\t")
    assert len(wide) == (cohort["role"] == "association").sum() >= 1
    for column in ("sex", "dwml", "count_left", "count_right", "diameter_left", "tortuosity_right"):
        assert column in wide
    assert wide["count_left"].notna().all() and (wide["count_left"] >= 0).all()
