"""``scvbench slurm``: the scripts' content, and a real run on a one-node SLURM on localhost.

The cluster is Debian's slurmctld and slurmd (``make test`` installs them when it can), started
here with a configuration of their own (no munge: auth/none, free ports, state in a temporary
folder). Apptainer is not installed, so the ``apptainer`` the tasks call is a stand-in on PATH:
it checks the command line (``run --cleanenv``, ``-B`` binds, the image), maps the container
paths back through the binds, records the call and runs ``scvbench run`` with the result.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import copy_raw

from scvbench.cli import main
from scvbench.models.checkpoint import save_checkpoint
from scvbench.steps.train import untrained_state

SHIM = '''#!{python}
"""A stand-in for apptainer: run --cleanenv -B SRC:DST[:ro]... IMAGE ARGS."""
import json, os, sys, time
args = sys.argv[1:]
assert args.pop(0) == "run", sys.argv
cleanenv, binds = False, []
while args[0].startswith("-"):
    flag = args.pop(0)
    if flag == "--cleanenv":
        cleanenv = True
    elif flag == "-B":
        binds.append(args.pop(0).split(":"))
    else:
        sys.exit(f"apptainer stand-in: unexpected option {{flag}}")
image = args.pop(0)
assert os.path.isfile(image), image
def host(word):
    for bind in binds:
        source, target = bind[0], bind[1]
        if word == target or word.startswith(target + "/"):
            return source + word[len(target):]
    return word
mapped = [host(w) for w in args]
record = {{"image": image, "cleanenv": cleanenv, "binds": binds, "args": args,
          "start": time.time()}}
code = os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "-m", "scvbench", "run", *mapped])
record.update(end=time.time(), code=code)
with open(os.environ["SHIM_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
sys.exit(code)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node SLURM cluster; yields the environment its clients need."""
    search = f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin{os.pathsep}/usr/bin"
    slurmctld, slurmd = (shutil.which(n, path=search) for n in ("slurmctld", "slurmd"))
    if not all([slurmctld, slurmd, shutil.which("sbatch"), shutil.which("squeue")]):
        pytest.skip("SLURM (Debian's slurmctld, slurmd, slurm-client) is not installed")
    if os.geteuid() != 0:
        pytest.skip("slurmd must start as root")
    root = tmp_path_factory.mktemp("slurm")
    for name in ("state", "spool", "log"):
        (root / name).mkdir()
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 2
    conf = root / "slurm.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            ClusterName=scvbench-test
            SlurmctldHost=localhost
            SlurmctldPort={free_port()}
            SlurmdPort={free_port()}
            AuthType=auth/none
            CredType=cred/none
            SlurmUser=root
            SlurmdUser=root
            StateSaveLocation={root}/state
            SlurmdSpoolDir={root}/spool
            SlurmctldPidFile={root}/slurmctld.pid
            SlurmdPidFile={root}/slurmd.pid
            SlurmctldLogFile={root}/log/slurmctld.log
            SlurmdLogFile={root}/log/slurmd.log
            ProctrackType=proctrack/pgid
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core_Memory
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            MpiDefault=none
            ReturnToService=2
            NodeName=localhost CPUs={os.cpu_count()} RealMemory={memory} State=UNKNOWN
            PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
            """
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run([slurmctld, "-f", str(conf)], env=env, check=True)
    subprocess.run([slurmd, "-f", str(conf)], env=env, check=True)
    try:
        for _ in range(60):
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True
            ).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.skip(f"the SLURM node did not come up (state {state!r})")
        yield env
    finally:
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            try:
                os.kill(int((root / pid_file).read_text()), 15)
            except (OSError, ValueError):
                pass


def wait(env: dict, jobs: list[str], until, timeout: float = 400) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queue = subprocess.run(
            ["squeue", "-h", "-j", ",".join(jobs), "-o", "%i %t %r"],
            env=env,
            capture_output=True,
            text=True,
        ).stdout
        if until(queue):
            return
        time.sleep(1)
    raise AssertionError(f"SLURM jobs {jobs} still queued: {queue}")


@pytest.fixture
def shim(tmp_path, monkeypatch, slurm):
    folder = tmp_path / "bin"
    folder.mkdir()
    apptainer = folder / "apptainer"
    apptainer.write_text(SHIM.format(python=sys.executable))
    apptainer.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SHIM_LOG", str(log))
    image = tmp_path / "scvbench.sif"
    image.write_bytes(b"not a real image")
    return image, log


def submitted(capsys) -> tuple[str, str]:
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("submitted"))
    words = line.replace(",", "").split()
    return words[3], words[6]


def test_array_runs_each_participant_then_the_group_job(derived, tmp_path, shim, capsys):
    bids, _, labels = derived
    image, log = shim
    raw = copy_raw(bids, tmp_path / "bids")
    out = tmp_path / "out"
    args = ["slurm", str(raw), str(out), "--image", str(image), "--model", "frangi"]
    args += ["--cpus", "1", "--mem", "2G", "--work-dir", str(tmp_path / "scratch"), "--submit"]
    assert main(args) == 0
    array, group = submitted(capsys)
    wait(os.environ, [array, group], lambda queue: not queue.strip())
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    tasks = [c for c in calls if c["args"][2] == "participant"]
    finals = [c for c in calls if c["args"][2] == "group"]
    assert sorted(c["args"][4] for c in tasks) == sorted(labels.values())
    assert len(finals) == 1 and all(c["code"] == 0 for c in calls)
    assert finals[0]["start"] >= max(c["end"] for c in tasks)
    for call in calls:
        assert call["cleanenv"] and call["image"] == str(image)
        assert [str(raw.resolve()), "/data", "ro"] in call["binds"]
        assert call["args"][:2] == ["/data", "/out"]
    status = (out / "slurm" / "participant_status.tsv").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in status) == sorted(
        f"sub-{label}" for label in labels.values()
    )
    assert all(line.split("\t")[2] == "0" for line in status)
    assert (out / "group_report.html").is_file()
    assert not any((tmp_path / "scratch").iterdir())  # each task removed its work folder


def test_group_job_waits_for_a_failed_task(derived, tmp_path, shim, capsys):
    bids, _, labels = derived
    image, log = shim
    raw = copy_raw(bids, tmp_path / "bids", raters=())
    bad = sorted(labels.values())[0]
    (raw / f"sub-{bad}" / "anat" / f"sub-{bad}_acq-swi_rec-swi_T2starw.nii.gz").write_bytes(b"x")
    args = ["slurm", str(raw), str(tmp_path / "out"), "--image", str(image), "--model", "frangi"]
    args += ["--participant-label", bad, "--cpus", "1", "--mem", "1G", "--submit"]
    assert main([*args, "--skip-bids-validation"]) == 0
    array, group = submitted(capsys)
    wait(os.environ, [array, group], lambda queue: "DependencyNeverSatisfied" in queue)
    subprocess.run(["scancel", group], check=True)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["args"][2] for c in calls] == ["participant"] and calls[0]["code"] == 1
    status = (tmp_path / "out" / "slurm" / "participant_status.tsv").read_text()
    assert status == f"sub-{bad}\t1\t1\n"


def test_scripts_for_docker_and_native_runtimes(derived, tmp_path):
    bids, _, labels = derived
    checkpoint = tmp_path / "models" / "unet.pt"
    checkpoint.parent.mkdir()
    save_checkpoint(checkpoint, untrained_state("frangi"))  # the scripts load it first
    out = tmp_path / "out"
    args = ["slurm", str(bids), str(out), "--checkpoint", str(checkpoint), "--partition", "gpu"]
    args += ["--account", "lab", "--max-parallel", "2", "--time", "1-00:00:00"]
    assert main([*args, "--runtime", "docker", "--image", "scvbench:0.1.0"]) == 0
    script = (out / "slurm" / "participant.sbatch").read_text()
    assert f"#SBATCH --array=1-{len(labels)}%2" in script
    for line in ("--partition=gpu", "--account=lab", "--time=1-00:00:00", "--mem=16384M"):
        assert f"#SBATCH {line}" in script
    assert f"-v {checkpoint.parent.resolve()}:/model:ro" in script
    assert "--checkpoint /model/unet.pt" in script and "scvbench:0.1.0 /data /out" in script
    assert main([*args, "--runtime", "native"]) == 0
    script = (out / "slurm" / "participant.sbatch").read_text()
    assert f"-m scvbench run {bids.resolve()} {out.resolve()} participant" in script
    assert f"--checkpoint {checkpoint.resolve()}" in script
    for name in ("participant.sbatch", "group.sbatch", "submit.sh"):
        check = subprocess.run(["bash", "-n", str(out / "slurm" / name)], capture_output=True)
        assert check.returncode == 0, check.stderr
    assert "--dependency=afterok:${array}" in (out / "slurm" / "submit.sh").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "frangi"], "--image is needed"),
        (["--model", "frangi", "--image", "missing.sif"], "no such image file"),
        (["--model", "frangi", "--runtime", "native", "--time", "2h"], "SLURM's form"),
        (["--checkpoint", "none.pt", "--runtime", "native"], "no such checkpoint"),
        (["--model", "franji", "--runtime", "native"], "did you mean frangi?"),
        (["--model", "unet", "--runtime", "native"], "has trainable weights"),
        (["--model", "frangi", "--runtime", "native", "--partition", "gpu\ntouch X"], "new line"),
        (["--model", "frangi", "--runtime", "native", "--account", "lab;touch X"], "SLURM names"),
        (["--model", "frangi", "--runtime", "native", "--work-dir", "$(touch X)"], "environment"),
        (["--model", "frangi", "--runtime", "native", "--work-dir", "/s\n/x"], "new line"),
    ],
)
def test_bad_slurm_arguments(derived, tmp_path, capsys, extra, message):
    bids, *_ = derived
    assert main(["slurm", str(bids), str(tmp_path / "out"), *extra]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_that_does_not_load_is_refused(derived, tmp_path, capsys):
    bids, *_ = derived
    broken = tmp_path / "model_best.pt"
    broken.write_bytes(b"not a checkpoint")
    args = ["slurm", str(bids), str(tmp_path / "out"), "--checkpoint", str(broken)]
    assert main([*args, "--runtime", "native"]) == 1
    assert "not a loadable checkpoint" in capsys.readouterr().err
    assert main([*args, "--runtime", "native", "--threshold", "1.5"]) == 2
    assert not (tmp_path / "out").exists()


def test_hostile_paths_stay_inert_under_slurm(derived, tmp_path, shim, capsys, monkeypatch):
    """A dataset path and a work folder built to run commands run none when the jobs run."""
    bids, _, labels = derived
    image, log = shim
    monkeypatch.chdir(tmp_path)  # where the jobs start: a command that ran would touch here
    raw = copy_raw(bids, tmp_path / "bids $(touch PWNED) `touch PWNED2`", raters=())
    scratch = tmp_path / 'scratch "q" `touch PWNED3` ;touch PWNED4'
    out = tmp_path / "out $(touch PWNED5)"
    label = sorted(labels.values())[0]
    args = ["slurm", str(raw), str(out), "--image", str(image), "--model", "frangi"]
    args += ["--participant-label", label, "--cpus", "1", "--mem", "1G", "--submit"]
    args += ["--work-dir", str(scratch), "--skip-bids-validation"]
    assert main(args) == 0
    array, group = submitted(capsys)
    wait(os.environ, [array, group], lambda queue: not queue.strip())
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["args"][2] for c in calls] == ["participant", "group"]
    assert all(c["code"] == 0 for c in calls)
    assert [str(raw.resolve()), "/data", "ro"] in calls[0]["binds"]
    assert (out / "group_report.html").is_file()
    assert scratch.is_dir() and not any(scratch.iterdir())  # the quoted work folder was used
    assert sorted(p.name for p in tmp_path.rglob("PWNED*")) == []
