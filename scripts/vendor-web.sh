#!/usr/bin/env bash
# Re-vendors the page's third-party files into Sources/InferenceAPI/Resources/web/vendor/ from
# registry packages (no CDN, no Node toolchain): Swagger UI from PyPI's swagger-ui-bundle-v2
# (pinned), dygraphs from Debian's libjs-dygraphs. Each comes with its license. The .gz copies are
# what browsers get (Content-Encoding: gzip), so /docs stays under the 500 KB page budget.
# Run by hand when a pin changes; the result is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER_PIN=5.31.0
out=Sources/InferenceAPI/Resources/web/vendor
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

pip download -q --no-deps "swagger-ui-bundle-v2==$SWAGGER_PIN" -d "$tmp"
(cd "$tmp" && python3 -m zipfile -e swagger_ui_bundle_v2-*.whl x)
src="$tmp/x/swagger_ui_bundle/vendor/swagger-ui-$SWAGGER_PIN"
mkdir -p "$out/swagger-ui"
cp "$src/swagger-ui-bundle.js" "$src/swagger-ui.css" "$out/swagger-ui/"
cp "$tmp"/x/swagger_ui_bundle_v2-*.dist-info/licenses/LICENSE "$out/swagger-ui/LICENSE"
echo "Swagger UI $SWAGGER_PIN, from PyPI swagger-ui-bundle-v2==$SWAGGER_PIN" > "$out/swagger-ui/VERSION"

./scripts/install-deps.sh libjs-dygraphs
mkdir -p "$out/dygraphs"
cp /usr/share/javascript/dygraphs/dygraph.min.js /usr/share/javascript/dygraphs/dygraph.min.css "$out/dygraphs/"
cp /usr/share/doc/libjs-dygraphs/copyright "$out/dygraphs/LICENSE"
echo "dygraphs $(dpkg-query -W -f='${Version}' libjs-dygraphs), from Debian libjs-dygraphs" > "$out/dygraphs/VERSION"
# Source maps are not shipped: strip the reference so browsers do not ask for them.
sed -i '/^\/\/# sourceMappingURL=/d; s#/\*\# sourceMappingURL=[^*]*\*/##' "$out/dygraphs/dygraph.min.js" "$out/dygraphs/dygraph.min.css" "$out/swagger-ui/swagger-ui-bundle.js" "$out/swagger-ui/swagger-ui.css"

for f in "$out"/swagger-ui/*.js "$out"/swagger-ui/*.css "$out"/dygraphs/*.js "$out"/dygraphs/*.css; do
  gzip -9nkf "$f"
done
ls -l "$out"/*/
