#!/usr/bin/env bash
# Rebuild the Workbench assets (crates/fused-server/assets/workbench/) from web/src with the
# packages pinned in package-lock.json. Usage: web/build.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs "$@"
