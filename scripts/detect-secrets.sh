#!/usr/bin/env bash
# Scan tracked files for secrets; fail when one is not in the committed baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z | xargs -0 .venv/bin/detect-secrets-hook --baseline .secrets.baseline
