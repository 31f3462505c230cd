#!/usr/bin/env bash
# pinned-venv.sh <dir> <requirements.txt>: prints <dir>/bin/python after making the virtualenv
# the first time and pip-syncing it whenever the requirements file changed (a copy of the file
# last installed is kept in <dir>); reuses it untouched otherwise.
set -euo pipefail
dir=$1 requirements=$2
if [ ! -x "$dir/bin/python" ]; then
  echo "creating $dir from $(basename "$requirements")" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
fi
if ! cmp -s "$requirements" "$dir/requirements.txt"; then
  echo "installing $(basename "$requirements") into $dir" >&2
  rm -f "$dir/requirements.txt"
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$dir/requirements.txt"
fi
echo "$dir/bin/python"
