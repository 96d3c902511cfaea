#!/usr/bin/env bash
# Runs Helm, built from its Go module (helm.sh/helm/v3) through the Go module
# proxy: Debian does not package Helm. The first run builds it once into the
# cache (a few minutes on 2 cores); later runs start it at once.
#
#   deploy/dev/helm.sh template kaudit deploy/helm/kaudit
#   deploy/dev/helm.sh --path          # build if needed, print the binary's path
#
# Environment: HELM_VERSION (default v3.22.0), HELM_K8S_MINOR (the Kubernetes
# minor version helm template and lint assume without a cluster: 37 for
# v3.22.0, whose client-go is v0.37, as Helm's own release build stamps it),
# KAUDIT_CACHE (default ~/.cache/kaudit).
set -euo pipefail
V=${HELM_VERSION:-v3.22.0}
K8S_MINOR=${HELM_K8S_MINOR:-37}
CACHE=${KAUDIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaudit}
BIN=$CACHE/helm-$V
if [ ! -x "$BIN/helm" ]; then
  echo "building helm $V from the Go module proxy into $BIN (once per machine)" >&2
  mkdir -p "$BIN"
  # Install into a temporary directory and rename: an interrupted build
  # leaves no half-written binary behind.
  tmp=$(mktemp -d "$BIN/.build.XXXXXX")
  # The stamps of Helm's Makefile: its version, and the Kubernetes version
  # of its client-go (without them, helm template assumes Kubernetes 1.20).
  GOBIN=$tmp GOFLAGS=-buildvcs=false go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$V \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$K8S_MINOR \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$K8S_MINOR" \
    "helm.sh/helm/v3/cmd/helm@$V"
  mv "$tmp/helm" "$BIN/helm"; rmdir "$tmp"
fi
if [ "${1:-}" = --path ]; then echo "$BIN/helm"; exit 0; fi
# Keep Helm's own state (repositories, plugins, cache) out of the user's.
export HELM_CACHE_HOME=${HELM_CACHE_HOME:-$CACHE/helm-home/cache}
export HELM_CONFIG_HOME=${HELM_CONFIG_HOME:-$CACHE/helm-home/config}
export HELM_DATA_HOME=${HELM_DATA_HOME:-$CACHE/helm-home/data}
exec "$BIN/helm" "$@"
