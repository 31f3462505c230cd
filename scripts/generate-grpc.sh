#!/usr/bin/env bash
# Regenerates Sources/InferenceAPI/GRPC/Generated from Sources/InferenceAPI/GRPC/Protos: run it
# by hand after changing a .proto, and commit what it writes. The build never runs protoc.
#
# protoc comes from grpcio-tools (pinned) in a throwaway virtualenv; the two plugins,
# protoc-gen-swift (swift-protobuf) and protoc-gen-grpc-swift-2 (grpc-swift-protobuf), are built
# from the same package versions Package.swift resolves, in a scratch package under
# $GRPC_GEN_DIR (default /tmp/grpc-gen; kept, so a second run does not rebuild them: the first
# build takes about ten minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${GRPC_GEN_DIR:-/tmp/grpc-gen}
mkdir -p "$work/Sources/Dummy"
cat > "$work/Package.swift" <<'SWIFT'
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "grpcgen",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    ],
    targets: [.target(name: "Dummy")]
)
SWIFT
echo "public let dummy = 0" > "$work/Sources/Dummy/Dummy.swift"
(cd "$work" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
bin=$(cd "$work" && swift build -c release --show-bin-path)
[ -x "$work/.venv/bin/python" ] || python3 -m venv "$work/.venv"
"$work/.venv/bin/pip" install -q --disable-pip-version-check grpcio-tools==1.76.0
protos="$root/Sources/InferenceAPI/GRPC/Protos"
out="$root/Sources/InferenceAPI/GRPC/Generated"
rm -rf "$out" && mkdir -p "$out"
"$work/.venv/bin/python" -m grpc_tools.protoc -I "$protos" \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --swift_out="$out" --swift_opt=Visibility=Internal \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" --grpc-swift-2_out="$out" \
  --grpc-swift-2_opt=Visibility=Internal,Client=true,Server=true \
  grpc_predict_v2.proto health.proto
ls -l "$out"
