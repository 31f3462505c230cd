# syntax=docker/dockerfile:1
# The service's image: built with the Swift toolchain, run on plain Debian with libxgboost and the
# binary only. The build steps are the Makefile's (`make release`, scripts/install-deps.sh), so
# the image builds what `make run` builds. Not built here (no container engine on the development
# machines): README "Scale out" says what was checked.

# Debian 12 (bookworm) on both sides: libxgboost 1.7.4 is the version the tests ran against.
ARG SWIFT_IMAGE=swift:6.2-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
WORKDIR /src
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null
COPY Makefile Package.swift ./
COPY scripts ./scripts
# `make deps`: the Debian packages building needs (RUN_PACKAGES).
RUN make deps
COPY Sources ./Sources
# `make release`, with the Swift runtime linked in, so the runtime stage needs no toolchain.
RUN make release SWIFT_BUILD_FLAGS=--static-swift-stdlib \
 && mkdir -p /out \
 && cp .build/release/inference-api /out/ \
 && cp -R .build/release/*.resources /out/

FROM ${RUNTIME_IMAGE}
COPY scripts/install-deps.sh /usr/local/sbin/install-deps.sh
# What the binary loads (SERVE_PACKAGES in the Makefile) and curl for HEALTHCHECK.
RUN /usr/local/sbin/install-deps.sh libxgboost0 zlib1g curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app
COPY --from=build /out/ /app/
# The embedded default store; Kubernetes and compose mount the real one over it, read-only.
COPY mlruns /models
ENV HOST=0.0.0.0 PORT=8080 MLRUNS_DIR=/models LOG_FORMAT=json
USER 10001:10001
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health >/dev/null || exit 1
ENTRYPOINT ["/app/inference-api"]
CMD ["serve"]
