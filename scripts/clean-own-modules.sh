#!/usr/bin/env bash
# make test's first build step: removes the compiled objects of this package's own modules
# (Sources/* and Tests/*), debug and release, and keeps every dependency's and the files the build
# plan generates (DerivedSources, source lists). The next build recompiles our modules whole (about
# a minute or two per configuration here) on top of the kept packages.
#
# Why: an incremental build after a stored property was added to a struct of one module
# (ModelSources.Settings, embedded in InferenceAPI's Configuration) left an object with the old
# layout, and the test process crashed in Configuration.init() (swift_retain on garbage). CI keeps
# its build folder between runs, so a change like that must never meet a stale object there.
set -euo pipefail
cd "$(dirname "$0")/.."
for configuration in .build/debug .build/release; do
  [ -d "$configuration" ] || continue
  for target in Sources/* Tests/*; do
    [ -d "$target" ] || continue
    folder="$configuration/$(basename "$target" | tr '-' '_').build"
    if [ -d "$folder" ]; then find "$folder" -name '*.o' -delete; fi
  done
done
