"""Check one rendered overlay (the output of `kubectl kustomize`) for what schemas cannot see.

- The Rollout and its AnalysisTemplate match the release policy schemas in k8s/schemas/
  ("5% then pause 30m", background analysis that aborts on failure).
- The Rollout's workloadRef names a Deployment of the render that stays at 0 replicas and whose
  pod labels the Rollout selects; the web HPA scales the Rollout; the analysis template exists.
- Every workload (Deployments, the migration Job) runs non-root with a read-only root FS, drops
  all capabilities and sets resource requests and limits; Deployments have startup, liveness and
  readiness probes; the web's probes are /healthz and /readyz.
- No Secret is inlined; secrets come from ExternalSecrets; the portrait key-encryption key is an
  ExternalSecret mounted as files, never put in the environment.
- The migration Job is an Argo CD PreSync hook; the ServiceMonitor selects the web Service; the
  PodMonitor selects the worker pods and scrapes a port they declare.
- `--dockerfile FILE`: the image the manifests run agrees with them (`check_image`): its user is
  every pod's runAsUser/runAsGroup, it exposes exactly the containers' ports, its default
  command is the web container's program, static files are collected at build time, and every
  path a container writes to (TMPDIR, PROMETHEUS_MULTIPROC_DIR, HEARTBEAT_DIR, ...) is on a
  mounted volume (the root file system is read-only). `container_commands` lists every program
  the manifests run, for tests/unit/ops/test_image.py to check against the image's contents.
- `--promql FILE` writes the AnalysisTemplate's queries (arguments filled in) as a rule file,
  for `promtool check rules` to parse.

Usage: python scripts/check_k8s.py RENDERED.yaml [--dockerfile FILE] [--promql FILE]
Runs in the k8s tools venv of scripts/check-k8s.sh; exits 1 listing every problem found.
"""

import argparse
import json
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "k8s" / "schemas"
Resource = dict[str, Any]


def _schema_errors(resource: Resource, schema_file: str) -> Iterator[str]:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for error in validator.iter_errors(resource):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        yield f"{resource['kind']} {resource['metadata']['name']}: {where}: {error.message}"


def _one(resources: list[Resource], kind: str, name: str) -> Resource | None:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found[0] if len(found) == 1 else None


def _pod_spec(resource: Resource) -> Resource:
    spec: Resource = resource["spec"]["template"]["spec"]
    return spec


def check_rollout(resources: list[Resource]) -> Iterator[str]:
    """The canary policy and the wiring between Rollout, Deployment, HPA and analysis."""
    rollout = _one(resources, "Rollout", "regsvc-web")
    if rollout is None:
        yield "no Rollout regsvc-web"
        return
    yield from _schema_errors(rollout, "rollout.schema.json")
    template = _one(resources, "AnalysisTemplate", "regsvc-slo")
    if template is None:
        yield "the Rollout's AnalysisTemplate regsvc-slo is missing"
    else:
        yield from _schema_errors(template, "analysistemplate.schema.json")
    ref = rollout["spec"].get("workloadRef", {})
    deployment = _one(resources, "Deployment", ref.get("name", ""))
    if deployment is None:
        yield "the Rollout's workloadRef names no Deployment of the render"
    else:
        if deployment["spec"].get("replicas") != 0:
            yield "the web Deployment must stay at 0 replicas: the Rollout runs its pods"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        wanted = rollout["spec"]["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in wanted.items()):
            yield "the Rollout's selector does not select the web Deployment's pods"
    hpa = _one(resources, "HorizontalPodAutoscaler", "regsvc-web")
    target = (hpa or {}).get("spec", {}).get("scaleTargetRef", {})
    if (target.get("kind"), target.get("name")) != ("Rollout", "regsvc-web"):
        yield "the web HPA must scale the Rollout regsvc-web (it owns the replica count)"


def _hardening_problems(cname: str, csec: Resource) -> Iterator[str]:
    if csec.get("readOnlyRootFilesystem") is not True:
        yield f"{cname}: readOnlyRootFilesystem must be true"
    if csec.get("allowPrivilegeEscalation") is not False:
        yield f"{cname}: allowPrivilegeEscalation must be false"
    if csec.get("capabilities", {}).get("drop") != ["ALL"]:
        yield f"{cname}: capabilities must drop ALL"


def _container_problems(name: str, pod: Resource, *, probes: bool) -> Iterator[str]:
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        yield f"{name}: pod securityContext.runAsNonRoot must be true"
    if pod.get("automountServiceAccountToken") is not False:
        yield f"{name}: automountServiceAccountToken must be false"
    for container in pod["containers"]:
        cname = f"{name}/{container['name']}"
        yield from _hardening_problems(cname, container.get("securityContext", {}))
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(part, {})):
                yield f"{cname}: resources.{part} needs cpu and memory"
        if probes:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in container:
                    yield f"{cname}: {probe} is missing"
        for env in container.get("env", []):
            if "value" in env and any(w in env["name"] for w in ("SECRET", "PASSWORD", "TOKEN")):
                yield f"{cname}: {env['name']} is inlined; reference a secret instead"


def check_workloads(resources: list[Resource]) -> Iterator[str]:
    """Hardening and probes of every workload; the web's HTTP probes."""
    for resource in resources:
        if resource["kind"] not in {"Deployment", "Job"}:
            continue
        name = f"{resource['kind']} {resource['metadata']['name']}"
        yield from _container_problems(
            name, _pod_spec(resource), probes=resource["kind"] == "Deployment"
        )
    web = _one(resources, "Deployment", "regsvc-web")
    if web is not None:
        container = _pod_spec(web)["containers"][0]
        paths = {
            probe: container.get(probe, {}).get("httpGet", {}).get("path")
            for probe in ("livenessProbe", "readinessProbe")
        }
        if paths != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
            yield f"web probes must be liveness /healthz and readiness /readyz, not {paths}"


def _secret_refs_problems(resource: Resource, external: set[str]) -> Iterator[str]:
    name = resource["metadata"]["name"]
    for container in _pod_spec(resource)["containers"]:
        for source in container.get("envFrom", []):
            ref = source.get("secretRef", {}).get("name")
            if ref == "regsvc-portrait-kek":
                yield f"{name}: the portrait KEK must not be env"
            if ref and ref not in external:
                yield f"{name}: secret {ref} has no ExternalSecret"
    for volume in _pod_spec(resource).get("volumes", []):
        ref = volume.get("secret", {}).get("secretName")
        if ref and ref not in external:
            yield f"{name}: mounts secret {ref}, which no ExternalSecret provides"


def check_secrets(resources: list[Resource]) -> Iterator[str]:
    """Secrets come from the secret manager; the portrait KEK is mounted as files only."""
    for resource in resources:
        if resource["kind"] == "Secret":
            yield f"Secret {resource['metadata']['name']} is inlined; use an ExternalSecret"
    external = {r["metadata"]["name"] for r in resources if r["kind"] == "ExternalSecret"}
    if "regsvc-portrait-kek" not in external:
        yield "the portrait key-encryption key must come from an ExternalSecret"
    for resource in resources:
        if resource["kind"] in {"Deployment", "Job"}:
            yield from _secret_refs_problems(resource, external)
    for name in ("regsvc-web", "regsvc-worker"):
        deployment = _one(resources, "Deployment", name)
        if deployment is None:
            yield f"Deployment {name} is missing"
            continue
        secrets = {v.get("secret", {}).get("secretName") for v in _pod_spec(deployment)["volumes"]}
        if "regsvc-portrait-kek" not in secrets:
            yield f"{name}: the portrait KEK is not mounted"


def check_wiring(resources: list[Resource]) -> Iterator[str]:
    """Migration hook, monitoring selectors, network default deny, one of each workload."""
    for name in ("regsvc-web", "regsvc-worker", "regsvc-beat", "regsvc-relay"):
        if _one(resources, "Deployment", name) is None:
            yield f"Deployment {name} is missing"
    job = _one(resources, "Job", "regsvc-migrate")
    hooks = (job or {}).get("metadata", {}).get("annotations", {})
    if hooks.get("argocd.argoproj.io/hook") != "PreSync":
        yield "the migration Job must run before the rollout (Argo CD PreSync hook)"
    service = _one(resources, "Service", "regsvc-web")
    monitor = _one(resources, "ServiceMonitor", "regsvc-web")
    if service is None or monitor is None:
        yield "the web Service and its ServiceMonitor are needed"
    else:
        wanted = monitor["spec"]["selector"]["matchLabels"]
        if any(service["metadata"]["labels"].get(k) != v for k, v in wanted.items()):
            yield "the ServiceMonitor does not select the web Service"
        ports = {p["name"] for p in service["spec"]["ports"]}
        if any(e["port"] not in ports for e in monitor["spec"]["endpoints"]):
            yield "the ServiceMonitor scrapes a port the Service does not have"
    deny = [
        r
        for r in resources
        if r["kind"] == "NetworkPolicy"
        and r["spec"].get("podSelector") == {}
        and set(r["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not r["spec"].get("ingress")
        and not r["spec"].get("egress")
    ]
    if not deny:
        yield "no default-deny NetworkPolicy (all pods, ingress and egress)"
    if _one(resources, "PrometheusRule", "regsvc") is None:
        yield "the PrometheusRule regsvc is missing"
    yield from _worker_monitor_problems(resources)


def _worker_monitor_problems(resources: list[Resource]) -> Iterator[str]:
    """The workers' task metrics are scraped: the PodMonitor selects the worker pods, on a port
    their container declares, which CELERY_METRICS_PORT serves."""
    worker = _one(resources, "Deployment", "regsvc-worker")
    monitor = _one(resources, "PodMonitor", "regsvc-worker")
    if worker is None or monitor is None:
        yield "the worker Deployment and its PodMonitor are needed"
        return
    labels = worker["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in monitor["spec"]["selector"]["matchLabels"].items()):
        yield "the PodMonitor does not select the worker pods"
    container = _pod_spec(worker)["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        if endpoint["port"] not in ports:
            yield "the PodMonitor scrapes a port the worker does not declare"
        elif str(ports[endpoint["port"]]) != env.get("CELERY_METRICS_PORT"):
            yield "the worker's metrics port is not its CELERY_METRICS_PORT"


# --- the image -------------------------------------------------------------------------------

# Workloads and the pod template they run (the Rollout runs the web Deployment's: workloadRef).
_WORKLOAD_KINDS = {"Deployment", "Job"}
# Environment variables naming a directory the process writes to at run time.
_WRITTEN_DIRS = ("TMPDIR", "PROMETHEUS_MULTIPROC_DIR", "HEARTBEAT_DIR")


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined, comments gone."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(rest.split())))
        pending = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that runs)."""
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :] if starts else instructions


def image_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stage:
        if keyword == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return [str(v) for v in value] if isinstance(value, list) else None


def _workloads(resources: list[Resource]) -> Iterator[tuple[str, Resource]]:
    for resource in resources:
        if resource["kind"] in _WORKLOAD_KINDS:
            yield f"{resource['kind']} {resource['metadata']['name']}", _pod_spec(resource)


def container_env(resources: list[Resource], container: Resource) -> dict[str, str]:
    """The literal environment of a container: its ConfigMaps' data, then its own `env`."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source.get("configMapRef", {}).get("name")
        config = _one(resources, "ConfigMap", name) if name else None
        env.update((config or {}).get("data", {}))
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def _writes_problems(
    cname: str, env: dict[str, str], container: Resource, pod: Resource
) -> Iterator[str]:
    mounts = [m["mountPath"].rstrip("/") for m in container.get("volumeMounts", [])]
    writable = [*mounts, "/dev/shm"]  # noqa: S108 - the container runtime's tmpfs
    for name in _WRITTEN_DIRS:
        if name in env:
            path = env[name].rstrip("/")
            if not any(path == m or path.startswith(m + "/") for m in writable):
                yield f"{cname}: {name}={path} is not on a mounted volume"
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in volumes:
            yield f"{cname}: mounts {mount['name']}, which the pod does not define"


def check_image(resources: list[Resource], dockerfile: str) -> Iterator[str]:
    """The image (Dockerfile) and the workloads that run it agree."""
    stage = final_stage(dockerfile_instructions(dockerfile))
    users = [args for keyword, args in stage if keyword == "USER"]
    user = users[-1] if users else "root"
    if not re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user):
        yield f"the image's USER must be a numeric non-root uid:gid, not {user!r}"
    exposed = {
        int(port.split("/")[0])
        for keyword, args in stage
        if keyword == "EXPOSE"
        for port in args.split()
    }
    declared: set[int] = set()
    for name, pod in _workloads(resources):
        security = pod.get("securityContext", {})
        wanted = f"{security.get('runAsUser')}:{security.get('runAsGroup')}"
        if wanted != user:
            yield f"{name}: runs as {wanted}, the image's user is {user}"
        for container in pod["containers"]:
            cname = f"{name}/{container['name']}"
            if container.get("workingDir"):
                yield f"{cname}: sets workingDir; the image's WORKDIR holds manage.py"
            declared |= {p["containerPort"] for p in container.get("ports", [])}
            env = container_env(resources, container)
            yield from _writes_problems(cname, env, container, pod)
    if exposed != declared:
        yield f"the image exposes {sorted(exposed)}, the containers declare {sorted(declared)}"
    yield from _image_build_problems(stage, resources)


def _image_build_problems(stage: list[tuple[str, str]], resources: list[Resource]) -> Iterator[str]:
    """Entry point, default command, settings profile, static files of the final stage."""
    keywords = [keyword for keyword, _ in stage]
    if "ENTRYPOINT" in keywords:
        yield "the image must not set an ENTRYPOINT: the manifests' args are the whole command"
    cmds = [exec_form(args) for keyword, args in stage if keyword == "CMD"]
    web = _one(resources, "Deployment", "regsvc-web")
    if not cmds or cmds[-1] is None:
        yield "the image's CMD must be in exec (JSON) form"
    elif web is not None:
        web_args = _pod_spec(web)["containers"][0].get("args", [])
        positional = [a for a in cmds[-1] if not a.startswith("-")]
        if positional != [a for a in web_args if not a.startswith("-")]:
            yield f"the image's CMD {positional} is not the web container's program {web_args}"
    env = image_env(stage)
    if env.get("REGSVC_ENV") != "production":
        yield "the image must default to the production settings (REGSVC_ENV=production)"
    collected = [
        i
        for i, (keyword, args) in enumerate(stage)
        if keyword == "RUN" and "manage.py collectstatic" in args
    ]
    copies = [i for i, keyword in enumerate(keywords) if keyword == "COPY"]
    if not env.get("STATIC_ROOT") or not collected or collected[0] < max(copies, default=0):
        yield "static files must be collected at build time, after the code, into STATIC_ROOT"
    elif "USER" in keywords and collected[0] > keywords.index("USER"):
        yield "collectstatic must run before USER (the code stays owned by root)"


def _shell_commands(script: str) -> Iterator[list[str]]:
    """The simple commands of a `sh -c` script: split on ; & | and drop `exec` and VAR=value."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    command: list[str] = []
    for token in [*lexer, ";"]:
        if token and set(token) <= set(";&|"):
            while command and (command[0] == "exec" or re.match(r"^[A-Z_]+=", command[0])):
                command.pop(0)
            if command:
                yield command
            command = []
        else:
            command.append(token)


def _argvs(argv: list[str]) -> Iterator[list[str]]:
    if len(argv) >= 3 and argv[0] == "sh" and argv[1] == "-c":
        yield ["sh"]
        yield from _shell_commands(argv[2])
    else:
        yield argv


def container_commands(resources: list[Resource]) -> Iterator[tuple[str, list[str]]]:
    """(where, argv) of every program the manifests run: containers and exec probes (a
    `sh -c` script counts as `sh` and each command in it)."""
    for name, pod in _workloads(resources):
        for container in pod["containers"]:
            cname = f"{name}/{container['name']}"
            argv = [*container.get("command", []), *container.get("args", [])]
            for each in _argvs(argv):
                yield cname, each
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                command = container.get(probe, {}).get("exec", {}).get("command")
                if command:
                    for each in _argvs(command):
                        yield f"{cname} {probe}", each


def analysis_rule_file(resources: list[Resource]) -> Resource:
    """The AnalysisTemplate's queries as recording rules, arguments filled in, for promtool."""
    template = _one(resources, "AnalysisTemplate", "regsvc-slo")
    rules = []
    for metric in (template or {}).get("spec", {}).get("metrics", []):
        query = metric["provider"]["prometheus"]["query"]
        for arg, value in (("namespace", "ns"), ("canary-hash", "abc123")):
            query = query.replace("{{args.%s}}" % arg, value)  # noqa: UP031 - braces in text
        rules.append({"record": f"analysis:{metric['name'].replace('-', '_')}", "expr": query})
    return {"groups": [{"name": "analysis", "rules": rules}]}


def main() -> int:
    """Run every check on one rendered overlay."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered", type=Path)
    parser.add_argument("--dockerfile", type=Path, help="check the image against the workloads")
    parser.add_argument("--promql", type=Path, help="write the analysis queries here")
    args = parser.parse_args()
    resources = [r for r in yaml.safe_load_all(args.rendered.read_text()) if r]
    problems = [
        *check_rollout(resources),
        *check_workloads(resources),
        *check_secrets(resources),
        *check_wiring(resources),
    ]
    if args.dockerfile:
        problems += check_image(resources, args.dockerfile.read_text())
    if args.promql:
        args.promql.write_text(yaml.safe_dump(analysis_rule_file(resources), sort_keys=False))
    for problem in problems:
        print(f"{args.rendered.name}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
