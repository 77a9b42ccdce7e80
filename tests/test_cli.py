"""The command line, called the way the tests of nibabel call theirs: ``main([...])``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scvbench import __version__
from scvbench.cli import _get_parser, main
from scvbench.cli.options import COMMANDS


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"scvbench {__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["synth", "--help"]])
def test_help_on_every_command(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "usage: scvbench" in out


def _loaded_after(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after ``main(argv)``."""
    code = (
        "import sys; from scvbench.cli import main; main(sys.argv[1:]); "
        "print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    return set(done.stdout.split("\n")[-2].split())


def test_a_command_loads_only_its_own_module():
    listing = _loaded_after(["--help"])
    assert not {f"scvbench.cli.{c.module}" for c in COMMANDS.values()} & listing
    assert not {"torch", "numpy", "scvbench.steps"} & listing
    splits = _loaded_after(["splits", "--help"])
    assert "scvbench.cli.splits" in splits and "scvbench.cli.train" not in splits
    assert not {"torch", "scvbench.steps.evaluate", "scvbench.steps.train"} & splits


def test_every_command_module_parses_the_command_it_is_listed_as():
    every = _get_parser()
    listed = next(a for a in every._actions if a.dest == "command").choices
    assert list(listed) == list(COMMANDS)
    for name in COMMANDS:  # one command's parser reads its arguments as the full parser does
        alone = _get_parser([name])
        assert alone.format_usage() == every.format_usage()
        one = next(a for a in alone._actions if a.dest == "command").choices[name]
        assert one.format_help() == listed[name].format_help(), name


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["synthesize"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'synthesize'" in err


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "the following arguments are required" in capsys.readouterr().err


def test_unknown_argument_is_rejected(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "x"), "--colour", "red"]) == 2
    assert "unrecognized arguments: --colour red" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--preset", "huge"], "invalid choice: 'huge'"),
        (["--subjects", "0"], "--subjects: must be at least 1, got 0"),
        (["--subjects", "three"], "--subjects: expected a whole number, got 'three'"),
        (["--seed", "-4"], "--seed: must be 0 or more, got -4"),
        (["--nprocs", "0"], "--nprocs: must be at least 1, got 0"),
        (["--effect", "strong"], "invalid choice: 'strong'"),
    ],
)
def test_bad_synth_arguments_give_one_clear_line(tmp_path, capsys, args, message):
    out = tmp_path / "cohort"
    assert main(["synth", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert not out.exists()


def test_non_empty_unrelated_folder_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious")
    assert main(["synth", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("scvbench: error: ") and str(out) in err and "empty" in err
    assert [p.name for p in out.iterdir()] == ["chapter1.tex"]
    assert (out / "chapter1.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "file.txt"
    out.write_text("x")
    assert main(["synth", str(out)]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_synth_end_to_end_rerun_and_force(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert main(["synth", str(out), "--preset", "tiny", "--subjects", "1", "--seed", "3"]) == 0
    manifest = json.loads((out / "truth" / "manifest.json").read_text())
    assert manifest["n_subjects"] == 1 and manifest["seed"] == 3 and manifest["preset"] == "tiny"
    stamp = (out / "truth" / "manifest.json").stat().st_mtime_ns
    # the same request again: nothing to do, nothing rewritten
    assert main(["synth", str(out), "--preset", "tiny", "--subjects", "1", "--seed", "3"]) == 0
    assert (out / "truth" / "manifest.json").stat().st_mtime_ns == stamp
    # a cohort made by another version of the generator is not taken for this one
    from scvbench.steps.synth.cohort_writer import generator_digest

    assert manifest["generator_digest"] == generator_digest()
    stale = {**manifest, "generator_digest": "0" * 12}
    (out / "truth" / "manifest.json").write_text(json.dumps(stale))
    args = ["synth", str(out), "--preset", "tiny", "--subjects", "1", "--seed", "3"]
    assert main(args) == 1
    assert "made by another version of the generator" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    # a different request needs --force
    capsys.readouterr()
    assert main(["synth", str(out), "--subjects", "1", "--seed", "4"]) == 1
    assert "pass --force to replace it" in capsys.readouterr().err
    assert main(["synth", str(out), "--subjects", "1", "--seed", "4", "--force"]) == 0
    assert json.loads((out / "truth" / "manifest.json").read_text())["seed"] == 4


def test_a_failure_leaves_no_partial_output(tmp_path, monkeypatch):
    from scvbench.steps.synth import cohort_writer

    calls = {"n": 0}
    real = cohort_writer.synthesize_subject

    def flaky(row, settings, out):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(row, settings, out)

    monkeypatch.setattr(cohort_writer, "synthesize_subject", flaky)
    out = tmp_path / "cohort"
    with pytest.raises(RuntimeError, match="disk full"):
        main(["synth", str(out), "--subjects", "2"])
    assert os.listdir(tmp_path) == []


def test_a_corrupt_previous_cohort_needs_force(tmp_path, capsys):
    out = tmp_path / "cohort"
    (out / "truth").mkdir(parents=True)
    (out / "truth" / "manifest.json").write_text("{not json")
    assert main(["synth", str(out), "--subjects", "1"]) == 1
    assert "unreadable" in capsys.readouterr().err
    assert main(["synth", str(out), "--subjects", "1", "--force"]) == 0
    assert json.loads((out / "truth" / "manifest.json").read_text())["n_subjects"] == 1
