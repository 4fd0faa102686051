"""The image (Dockerfile) and the manifests that run it agree — proved without building it.

No image is built here (no container runtime, no base image to pull): scripts/check-k8s.sh
lints the Dockerfile (hadolint, checkov) and runs `check_image` on every rendered overlay;
these tests pin the same checks to the base manifests, show that each broken rule is caught,
and check what needs the application itself: every program a container or exec probe runs is
one the image provides, and production settings start with exactly the environment each
workload is given.
"""

import copy
import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from django.core.management import get_commands
from packaging.requirements import Requirement

from tests.unit.ops.test_k8s_policy import ROOT, _base, _find, check_k8s

DOCKERFILE = (ROOT / "Dockerfile").read_text()
BASE = _base()  # parsed once: each test takes a deep copy
STAGE = check_k8s.final_stage(check_k8s.dockerfile_instructions(DOCKERFILE))
# Programs of the Debian base image's essential packages (and builtins of its shell) that the
# manifests' shell scripts use.
BASE_IMAGE_PROGRAMS = {"sh", "find", "grep", "unset"}


def _pod(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = _find(resources, kind, name)["spec"]["template"]["spec"]
    return pod


def test_the_image_agrees_with_the_base_manifests():
    assert list(check_k8s.check_image(copy.deepcopy(BASE), DOCKERFILE)) == []


def _image_with(old: str, new: str) -> Callable[[list[dict[str, Any]]], str]:
    def change(resources: list[dict[str, Any]]) -> str:
        assert old in DOCKERFILE
        return DOCKERFILE.replace(old, new)

    return change


def _pod_runs_as_1000(resources):
    _pod(resources, "Deployment", "regsvc-relay")["securityContext"]["runAsUser"] = 1000
    return DOCKERFILE


def _undeclared_port(resources):
    _pod(resources, "Deployment", "regsvc-web")["containers"][0]["ports"][0]["containerPort"] = 8080
    return DOCKERFILE


def _metrics_dir_on_root_fs(resources):
    env = _pod(resources, "Deployment", "regsvc-worker")["containers"][0]["env"]
    next(e for e in env if e["name"] == "PROMETHEUS_MULTIPROC_DIR")["value"] = "/app/prometheus"
    return DOCKERFILE


def _beat_schedule_unmounted(resources):
    pod = _pod(resources, "Deployment", "regsvc-beat")
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "schedule"]
    return DOCKERFILE


def _working_dir(resources):
    _pod(resources, "Deployment", "regsvc-relay")["containers"][0]["workingDir"] = "/srv"
    return DOCKERFILE


BROKEN_IMAGES = {
    "root user": _image_with("USER 10001:10001", "USER root"),
    "named user": _image_with("USER 10001:10001", "USER regsvc"),
    "another uid": _image_with("USER 10001:10001", "USER 10002:10001"),
    "a pod runs as another uid": _pod_runs_as_1000,
    "an undeclared port": _undeclared_port,
    "a port nobody serves": _image_with("EXPOSE 8000 9808", "EXPOSE 8000 9808 9000"),
    "an entrypoint": _image_with("USER 10001", 'ENTRYPOINT ["/bin/sh", "-c"]\nUSER 10001'),
    "shell-form CMD": _image_with('CMD ["gunicorn",', 'CMD gunicorn ["gunicorn",'),
    "another program": _image_with('"config.wsgi"', '"config.asgi"'),
    "not production": _image_with("REGSVC_ENV=production", "REGSVC_ENV=development"),
    "no static files": _image_with(
        "collectstatic --no-input -v0 \\\n    && python", "--version \\\n    && python"
    ),
    "static files collected as the user": lambda resources: DOCKERFILE.replace(
        "USER 10001:10001\n", ""
    ).replace("# Static files are", "USER 10001:10001\n# Static files are"),
    "no STATIC_ROOT": _image_with("    STATIC_ROOT=/app/static \\\n", ""),
    "metrics on the read-only root": _metrics_dir_on_root_fs,
    "a volume the pod lacks": _beat_schedule_unmounted,
    "another working dir": _working_dir,
}


@pytest.mark.parametrize("break_it", BROKEN_IMAGES.values(), ids=BROKEN_IMAGES.keys())
def test_each_disagreement_is_caught(break_it):
    resources = copy.deepcopy(BASE)
    dockerfile = break_it(resources)
    assert dockerfile != DOCKERFILE or resources != BASE
    assert list(check_k8s.check_image(resources, dockerfile)) != []


def _runtime_distributions() -> set[str]:
    """The distributions the image installs: requirements/base.in and all they require."""
    wanted = [
        Requirement(line.split("#")[0].strip())
        for line in (ROOT / "requirements" / "base.in").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    found: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in found:
            continue
        found.add(name)
        for extra in requirement.extras or {""}:
            for dependency in metadata.requires(name) or []:
                each = Requirement(dependency)
                if each.marker is None or each.marker.evaluate({"extra": extra}):
                    wanted.append(each)
    return found


def _console_scripts(distributions: set[str]) -> set[str]:
    return {
        entry.name
        for name in distributions
        for entry in metadata.distribution(name).entry_points
        if entry.group == "console_scripts"
    }


def test_the_image_installs_the_runtime_requirements_at_the_locked_versions():
    [install] = [
        args
        for keyword, args in check_k8s.dockerfile_instructions(DOCKERFILE)
        if keyword == "RUN" and "pip install" in args
    ]
    assert "-r requirements/base.in -c requirements/lock.txt" in install
    locked = {
        name.lower().replace("_", "-"): version
        for name, _, version in (
            line.partition("==")
            for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines()
            if "==" in line
        )
    }
    for name in _runtime_distributions():
        assert name in locked, f"{name} is installed in the image but not locked"
        assert metadata.version(name) == locked[name], name  # what the tests ran with


def _module_exists(dotted: str) -> bool:
    return importlib.util.find_spec(dotted) is not None


def _python_problems(argv: list[str]) -> list[str]:
    if argv[1] == "manage.py":
        return [] if argv[2] in get_commands() else [f"no management command {argv[2]}"]
    assert argv[1] == "-c", argv
    compile(argv[2], "<probe>", "exec")
    modules = re.findall(r"^import ([\w., ]+)", argv[2])
    missing = [m for ms in modules for m in ms.split(", ") if not _module_exists(m)]
    return [f"python -c imports {missing}"] if missing else []


def _celery_problems(argv: list[str]) -> list[str]:
    assert argv[1:3] == ["-A", "config"], argv
    app = importlib.import_module("config.celery").app
    return [] if argv[3] in {"worker", "beat", "inspect"} and app else [f"celery {argv[3]}?"]


def _gunicorn_problems(argv: list[str]) -> list[str]:
    configs = [a.split("python:", 1)[1] for a in argv if a.startswith("--config=python:")]
    apps = [a for a in argv[1:] if not a.startswith("-")]
    return [f"no module {m}" for m in [*configs, *apps] if not _module_exists(m)]


CHECKERS = {"python": _python_problems, "celery": _celery_problems, "gunicorn": _gunicorn_problems}


def _program_problems(argv: list[str], scripts: set[str]) -> list[str]:
    """What is wrong with running `argv` in the image (the empty list when nothing is)."""
    program = argv[0]
    if program in BASE_IMAGE_PROGRAMS:
        return []
    if program not in scripts | {"python"}:
        return [f"{program} is not in the image"]
    return CHECKERS[program](argv)


def test_every_program_the_manifests_run_is_in_the_image():
    scripts = _console_scripts(_runtime_distributions())
    assert {"gunicorn", "celery"} <= scripts
    commands = list(check_k8s.container_commands(BASE))
    assert len({where.split("/")[0] for where, _ in commands}) == 5  # web, worker, beat, relay, job
    problems = [
        f"{where}: {p}" for where, argv in commands for p in _program_problems(argv, scripts)
    ]
    assert problems == []
    assert _program_problems(["python", "manage.py", "no_such_command"], scripts)
    assert _program_problems(["uwsgi", "config.wsgi"], scripts)
    assert _program_problems(["gunicorn", "config.nowhere"], scripts)


def test_the_default_command_is_the_web_container_exactly():
    [cmd] = [args for keyword, args in STAGE if keyword == "CMD"]
    web = _pod(BASE, "Deployment", "regsvc-web")["containers"][0]["args"]
    assert check_k8s.exec_form(cmd) == web


def test_the_build_context_leaves_out_local_state_and_keeps_the_code():
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (".git", ".venv", ".local", "tests", "docs", "benchmarks", "**/__pycache__"):
        assert path in ignored, path
    copied = [
        source
        for keyword, args in STAGE
        if keyword == "COPY" and not args.startswith("--from")
        for source in shlex.split(args)[:-1]
    ]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") not in ignored, source


# A value of the right shape for every secret the ExternalSecrets provide.
SECRET_PLACEHOLDERS = {
    "SECRET_KEY": "x" * 50,
    "DATABASE_URL": "postgres://app@db.invalid:5432/regsvc",
    "DATABASE_RELAY_URL": "postgres://relay@db.invalid:5432/regsvc",
    "DATABASE_OWNER_URL": "postgres://owner@db.invalid:5432/regsvc",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "INBOX_WEBHOOK_SECRETS": "licensing=" + "s" * 32,  # pragma: allowlist secret (a placeholder)
}


def _workload_environment(resources, name: str, pod: dict[str, Any], tmp: Path) -> dict[str, str]:
    """The environment a workload's container starts with: the image's ENV, its ConfigMaps,
    its secrets (placeholders), its own `env`; mounted secret volumes become directories of
    `tmp` holding a generated key."""
    env = {k: v for k, v in check_k8s.image_env(STAGE).items() if k not in {"PATH", "HOME"}}
    container = pod["containers"][0]
    env.update(check_k8s.container_env(resources, container))
    for source in container.get("envFrom", []):
        secret = source.get("secretRef", {}).get("name")
        if secret:
            external = _find(resources, "ExternalSecret", secret)
            env.update(
                {
                    d["secretKey"]: SECRET_PLACEHOLDERS[d["secretKey"]]
                    for d in external["spec"]["data"]
                }
            )
    secret_volumes = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
    for mount in container.get("volumeMounts", []):
        directory = tmp / name / mount["name"]
        directory.mkdir(parents=True)
        if mount["name"] in secret_volumes:
            (directory / "kek-2026-11").write_text("A" * 43 + "=\n")  # 32 bytes, base64
            (directory / "..data").mkdir()  # what a Kubernetes secret volume also holds
        env = {k: v.replace(mount["mountPath"], str(directory)) for k, v in env.items()}
    if "PROMETHEUS_MULTIPROC_DIR" in env:  # made by gunicorn's on_starting / Celery's worker_init
        Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir()
    return env


WORKLOADS = [
    ("Deployment", "regsvc-web"),
    ("Deployment", "regsvc-worker"),
    ("Deployment", "regsvc-beat"),
    ("Deployment", "regsvc-relay"),
    ("Job", "regsvc-migrate"),
]


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_production_settings_start_with_what_each_workload_is_given(kind, name, tmp_path):
    resources = copy.deepcopy(BASE)
    env = _workload_environment(resources, name, _pod(resources, kind, name), tmp_path)
    assert env["REGSVC_ENV"] == "production"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        env={**env, "PATH": os.environ["PATH"], "STATIC_ROOT": str(tmp_path / "static")},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "started"


def test_every_secret_has_a_placeholder_here():
    keys = {
        d["secretKey"]
        for r in BASE
        if r["kind"] == "ExternalSecret"
        for d in r["spec"].get("data", [])
    }
    assert keys == set(SECRET_PLACEHOLDERS)
