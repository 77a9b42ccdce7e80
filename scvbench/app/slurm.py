"""``scvbench slurm``: sbatch scripts that run the BIDS-App on a SLURM cluster.

The pattern of MRIQC's and fMRIPrep's cluster guides: a job array with one participant per task,
each in its own work folder on node-local scratch, running the container image, and a group job
that starts only when every task has succeeded (``--dependency=afterok``). Written into
``SCRIPT_DIR`` (default ``OUTPUT_DIR/slurm``):

- ``participants.txt``: one label per line; array task *i* takes line *i*;
- ``participant.sbatch``: the array; each task appends ``participant, task, exit code`` to
  ``participant_status.tsv`` and removes its work folder;
- ``group.sbatch``: the group level;
- ``submit.sh``: submits both, the group job depending on the array.

The dataset is validated once here (unless ``skip_validation``), so the tasks skip it. Paths
inside the container are fixed: the BIDS dataset at ``/data`` (read-only), the output at
``/out``, the work folder at ``/work`` and a checkpoint's folder at ``/model`` (read-only).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from scvbench import io
from scvbench.app.shell import Live, check_value, expandable_path, sbatch_value, word
from scvbench.bids import layout
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError
from scvbench.models import check_name
from scvbench.models.checkpoint import load_checkpoint
from scvbench.steps.convert.validate import require_valid
from scvbench.steps.train import untrained_state

__all__ = ["RUNTIMES", "SlurmOptions", "submit", "write_scripts"]

RUNTIMES = ("apptainer", "singularity", "docker", "native")


@dataclass(frozen=True)
class SlurmOptions:
    """What ``scvbench slurm`` writes (see ``scvbench slurm --help``)."""

    bids_dir: Path
    output_dir: Path
    image: str | None = None
    runtime: str = "apptainer"
    participant_labels: list[str] | None = None
    partition: str | None = None
    account: str | None = None
    time: str = "02:00:00"
    group_time: str = "01:00:00"
    cpus: int = 4
    mem_gb: float = 16.0
    max_parallel: int | None = None
    work_dir: str = "${TMPDIR:-/tmp}"
    script_dir: Path | None = None
    checkpoint: Path | None = None
    model: str | None = None
    slab_mm: float = DEFAULTS.slab_mm
    step_mm: float = DEFAULTS.step_mm
    threshold: float = DEFAULTS.threshold
    skip_validation: bool = False


def _settings_args(options: SlurmOptions) -> list[str]:
    """``scvbench run`` options for the settings that differ from the defaults."""
    words = []
    for flag, value, default in (
        ("--slab-mm", options.slab_mm, DEFAULTS.slab_mm),
        ("--step-mm", options.step_mm, DEFAULTS.step_mm),
        ("--threshold", options.threshold, DEFAULTS.threshold),
    ):
        if value != default:
            words += [flag, f"{value:g}"]
    return words


def _check(options: SlurmOptions) -> None:
    if options.runtime not in RUNTIMES:
        raise ScvbenchError(f"--runtime must be one of {', '.join(RUNTIMES)}")
    if options.runtime != "native" and not options.image:
        raise ScvbenchError(
            f"--image is needed with --runtime {options.runtime} (a .sif file or a docker "
            "image name); --runtime native runs the scvbench installed here instead"
        )
    if options.runtime in ("apptainer", "singularity") and not Path(options.image).is_file():
        if "://" not in options.image:
            raise ScvbenchError(
                f"{options.image}: no such image file; build it with apptainer build "
                "scvbench.sif scvbench.def (or give a docker:// or oras:// reference)"
            )
    if options.checkpoint is None and options.model is None:
        raise ScvbenchError("give the model: --checkpoint FILE or --model frangi")
    if options.checkpoint is not None:
        load_checkpoint(options.checkpoint)  # one error naming the file when it does not load
    elif options.model is not None:
        check_name(options.model)  # "did you mean ...?"
        untrained_state(options.model)  # --model only for models that need no training
    if not 0.0 < options.threshold < 1.0:
        raise ScvbenchError(f"--threshold must be between 0 and 1, got {options.threshold:g}")
    for name, value in (("--partition", options.partition), ("--account", options.account)):
        if value is not None:
            sbatch_value(value, name)
    named = [("--image", options.image), ("--work-dir", options.work_dir)]
    named += [("BIDS_DIR", str(options.bids_dir)), ("OUTPUT_DIR", str(options.output_dir))]
    named += [("--script-dir", None if options.script_dir is None else str(options.script_dir))]
    for name, value in named:
        if value is not None:
            check_value(value, name)
    script_dir = str(options.script_dir or options.output_dir)
    if '"' in script_dir:
        raise ScvbenchError(f"{script_dir}: the script folder's path may not hold a double quote")
    expandable_path(options.work_dir, "--work-dir")
    for name, value in (("--time", options.time), ("--group-time", options.group_time)):
        parts = value.replace("-", ":").split(":")
        if not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 4:
            raise ScvbenchError(f"{name} {value!r}: use SLURM's form, e.g. 02:00:00 or 1-00:00:00")


def _header(options: SlurmOptions, name: str, time: str, cpus: int, log: str) -> list[str]:
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --cpus-per-task={cpus}",
        f"#SBATCH --mem={round(options.mem_gb * 1024)}M",
        f"#SBATCH --time={time}",
        f'#SBATCH --output="{log}"',  # sbatch reads quotes here, and no shell does
    ]
    if options.partition:
        lines.append(f"#SBATCH --partition={options.partition}")
    if options.account:
        lines.append(f"#SBATCH --account={options.account}")
    return lines


def _command(
    options: SlurmOptions, bids: Path, out: Path, work: str, level: str, extra: list[str]
) -> str:
    """The shell command of one level: the container runtime's, or scvbench's own."""
    model = []
    if options.checkpoint is not None:
        checkpoint = Path(options.checkpoint).resolve()
        inside = f"/model/{checkpoint.name}" if options.runtime != "native" else str(checkpoint)
        model = ["--checkpoint", inside]
    elif options.model is not None:
        model = ["--model", options.model]
    app = [level, *extra, *model, *_settings_args(options)]
    if options.runtime == "native":
        prefix = [sys.executable, "-m", "scvbench", "run", str(bids), str(out)]
        workdir = ["-w", Live(f'"{work}"')]
    else:
        binds = [(bids, "/data", True), (out, "/out", False)]
        if options.checkpoint is not None:
            binds.append((Path(options.checkpoint).resolve().parent, "/model", True))
        if options.runtime == "docker":
            prefix = ["docker", "run", "--rm", "--user", Live('"$(id -u):$(id -g)"')]
            for source, target, ro in binds:
                prefix += ["-v", f"{source}:{target}" + (":ro" if ro else "")]
            prefix += ["-v", Live(f'"{work}:/work"'), options.image, "/data", "/out"]
        else:
            prefix = [options.runtime, "run", "--cleanenv"]
            for source, target, ro in binds:
                prefix += ["-B", f"{source}:{target}" + (":ro" if ro else "")]
            prefix += ["-B", Live(f'"{work}:/work"'), options.image, "/data", "/out"]
        workdir = ["-w", "/work"]
    words = [*prefix, *app, *workdir, "--nprocs", Live('"${SLURM_CPUS_PER_TASK:-1}"')]
    words += ["--mem", f"{options.mem_gb:g}"]
    lines: list[str] = []
    for item in words:  # one option (with its value) per line, the image on its own
        if not lines or item.startswith("-") or item == options.image:
            lines.append(word(item))
        else:
            lines[-1] += " " + word(item)
    return " \\\n    ".join(lines)


def write_scripts(options: SlurmOptions) -> dict[str, Path]:
    """Write the scripts (see the module's description); returns their paths by name."""
    _check(options)
    bids, out = Path(options.bids_dir).resolve(), Path(options.output_dir).resolve()
    labels = layout.find_participants(bids, options.participant_labels)
    if not options.skip_validation:
        require_valid(bids)
    scripts = Path(options.script_dir or out / "slurm").resolve()
    out.mkdir(parents=True, exist_ok=True)
    (scripts / "logs").mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    listing = scripts / "participants.txt"
    status = scripts / "participant_status.tsv"
    io.write_text(listing, "".join(f"{label}\n" for label in labels))
    array = f"1-{len(labels)}" + (f"%{options.max_parallel}" if options.max_parallel else "")
    scratch = expandable_path(options.work_dir, "--work-dir")
    work = scratch + '"/scvbench-${SLURM_ARRAY_JOB_ID}-${SLURM_ARRAY_TASK_ID}"'
    run = _command(
        options,
        bids,
        out,
        "$work",
        "participant",
        ["--participant-label", Live('"$label"'), "--skip-bids-validation"],
    )
    participant = _header(
        options,
        "scvbench-participant",
        options.time,
        options.cpus,
        str(scripts / "logs" / "participant-%A_%a.out"),
    )
    participant += [
        f"#SBATCH --array={array}",
        "# One participant per array task: line SLURM_ARRAY_TASK_ID of participants.txt.",
        "set -uo pipefail",
        f'label=$(sed -n "${{SLURM_ARRAY_TASK_ID}}p" {q(str(listing))})',
        'if [ -z "$label" ]; then',
        '    echo "no participant on line $SLURM_ARRAY_TASK_ID" >&2',
        "    exit 2",
        "fi",
        f"work={work}",
        'mkdir -p "$work"',
        run,
        "code=$?",
        'rm -rf "$work"',
        'printf "sub-%s\\t%s\\t%s\\n" "$label" "$SLURM_ARRAY_TASK_ID" "$code" \\',
        f"    >> {q(str(status))}",
        'exit "$code"',
        "",
    ]
    group_work = scratch + '"/scvbench-${SLURM_JOB_ID}-group"'
    group = _header(
        options,
        "scvbench-group",
        options.group_time,
        min(options.cpus, 2),
        str(scripts / "logs" / "group-%j.out"),
    )
    group += [
        "# Runs after every participant task succeeded (submit.sh: --dependency=afterok).",
        "set -uo pipefail",
        f"work={group_work}",
        'mkdir -p "$work"',
        _command(options, bids, out, "$work", "group", ["--skip-bids-validation"]),
        "code=$?",
        'rm -rf "$work"',
        'exit "$code"',
        "",
    ]
    submit_lines = [
        "#!/bin/bash",
        "# Submit the participant array, then the group job that waits for all of it.",
        "set -euo pipefail",
        f"array=$(sbatch --parsable {q(str(scripts / 'participant.sbatch'))})",
        'array="${array%%;*}"',
        "group=$(sbatch --parsable --dependency=afterok:${array} "
        f"{q(str(scripts / 'group.sbatch'))})",
        'group="${group%%;*}"',
        'echo "participant array ${array} (' + str(len(labels)) + ' tasks), group job ${group}"',
        "",
    ]
    paths = {
        "participants": listing,
        "participant": scripts / "participant.sbatch",
        "group": scripts / "group.sbatch",
        "submit": scripts / "submit.sh",
    }
    io.write_text(paths["participant"], "\n".join(participant))
    io.write_text(paths["group"], "\n".join(group))
    io.write_text(paths["submit"], "\n".join(submit_lines))
    for name in ("participant", "group", "submit"):
        paths[name].chmod(0o755)
    return paths


def submit(paths: dict[str, Path]) -> tuple[str, str]:
    """Run ``submit.sh``; returns the array's and the group job's ids."""
    try:
        done = subprocess.run(
            ["bash", str(paths["submit"])], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise ScvbenchError("bash is not available to run submit.sh") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ScvbenchError(f"{paths['submit']}: sbatch failed ({tail[0]}); is SLURM reachable?")
    words = done.stdout.split()
    return words[2], words[-1]
