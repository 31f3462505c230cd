#!/usr/bin/env bash
# The browser check's pinned virtualenv (Tests/Browser/.venv): made when missing, remade when
# Tests/Browser/requirements.txt changes, else reused as it is (no network).
set -euo pipefail
cd "$(dirname "$0")/../Tests/Browser"
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
rm -rf .venv
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
echo "$want" > "$stamp"
