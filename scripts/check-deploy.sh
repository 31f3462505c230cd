#!/usr/bin/env bash
# Validates the deployment files offline (no cluster, no container engine):
#  - deploy/kubernetes renders with `kubectl kustomize` (kubectl from Debian's kubernetes-client
#    package when none is installed: its kustomize is old, so the base sticks to plain fields);
#  - every rendered object validates, strictly (unknown fields refused), against the Kubernetes
#    1.30 schemas bundled in kubernetes-validate (PyPI, pinned in deploy/requirements.txt, in the
#    reused virtualenv .venv-deploy);
#  - deploy/compose.yaml parses and names PostgreSQL, three replicas and nginx; the Deployment
#    keeps terminationGracePeriodSeconds above the preStop pause plus SHUTDOWN_GRACE_SECONDS.
# The Dockerfile is not built here: README "Scale out" says so.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl >/dev/null 2>&1; then
  ./scripts/install-deps.sh kubernetes-client
fi

stamp=.venv-deploy/.requirements.sha256
want=$(sha256sum deploy/requirements.txt | cut -d' ' -f1)
if ! [ -x .venv-deploy/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf .venv-deploy
  python3 -m venv .venv-deploy
  .venv-deploy/bin/pip install -q --disable-pip-version-check -r deploy/requirements.txt
  echo "$want" > "$stamp"
fi

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
kubectl kustomize deploy/kubernetes > "$rendered"
.venv-deploy/bin/kubernetes-validate --strict --quiet -k 1.30.0 "$rendered"
.venv-deploy/bin/python - "$rendered" <<'PY'
import sys, yaml
objects = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
kinds = sorted(o["kind"] for o in objects)
want = sorted(["ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "PodDisruptionBudget",
               "HorizontalPodAutoscaler", "NetworkPolicy"])
assert kinds == want, f"kustomize rendered {kinds}, want {want}"
config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
container = pod["containers"][0]
pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
grace = int(config["SHUTDOWN_GRACE_SECONDS"])
assert pod["terminationGracePeriodSeconds"] > pause + grace, "terminationGracePeriodSeconds must exceed preStop + SHUTDOWN_GRACE_SECONDS"
assert container["readinessProbe"]["httpGet"]["path"] == "/ready" and container["livenessProbe"]["httpGet"]["path"] == "/health"
assert container["securityContext"]["readOnlyRootFilesystem"] is True
assert any(m["mountPath"] == config["MLRUNS_DIR"] and m.get("readOnly") for m in container["volumeMounts"])
compose = yaml.safe_load(open("deploy/compose.yaml"))
services = set(compose["services"])
assert {"postgres", "replica-1", "replica-2", "replica-3", "nginx"} <= services, services
print(f"check-deploy: {len(objects)} Kubernetes objects rendered and valid against 1.30 (strict); compose names {sorted(services)}")
PY
