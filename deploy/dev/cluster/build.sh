#!/usr/bin/env bash
# Builds Kubernetes components from the k8s.io/kubernetes Go module (the Go
# module proxy is the only network needed) into $BIN and prints $BIN. A
# component whose binary is already there is not built again, so the test
# command pays the build once per machine.
#
#   deploy/dev/cluster/build.sh                      kube-apiserver and kubectl (what make test needs)
#   deploy/dev/cluster/build.sh kube-controller-manager kube-scheduler kube-apiserver kubectl
#
# Measured on 2 cores: kube-apiserver and kubectl cold about 5 minutes
# (deploy/README.md has the figures); skipped when present: instant.
# Environment: K8S_VERSION (default 1.36.3), BIN (default
# $KAUDIT_CACHE/k8s-v$K8S_VERSION; KAUDIT_CACHE defaults to ~/.cache/kaudit).
set -euo pipefail
V=${K8S_VERSION:-1.36.3}
CACHE=${KAUDIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kaudit}
BIN=${BIN:-$CACHE/k8s-v$V}
[ $# -gt 0 ] || set -- kube-apiserver kubectl
todo=()
for n in "$@"; do
  case $n in kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) ;;
    *) echo "build.sh: unknown component $n" >&2; exit 2;; esac
  [ -x "$BIN/$n" ] || todo+=("$n")
done
if [ ${#todo[@]} -eq 0 ]; then echo "$BIN"; exit 0; fi

W=$(mktemp -d /tmp/k8sbuild.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
echo "building ${todo[*]} v$V into $BIN (a few minutes the first time)" >&2
# A module of our own that requires k8s.io/kubernetes, with the replace
# directives of its staging repositories pointing at their published
# versions (v0.36.3 for 1.36.3), as k8s.io/kubernetes itself cannot be
# required without them.
go mod download -json "k8s.io/kubernetes@v$V" >/dev/null
MODDIR=$(go env GOMODCACHE)
M=$MODDIR/cache/download/k8s.io/kubernetes/@v/v$V.mod
{ echo "module k8sbuild"; echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/').0"; echo "require k8s.io/kubernetes v$V"; echo "replace (";
  grep -E '^\s*k8s.io/[a-z-]+ => ./staging' "$M" | awk -v v="${V#1.}" '{print "\t"$1" => "$1" v0."v}'; echo ")"; } > go.mod
for n in "${todo[@]}"; do
  mkdir -p "$n"
  case $n in
    kubectl) go mod download -json "k8s.io/kubernetes@v$V" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p' | { read -r d; cp "$d/cmd/kubectl/kubectl.go" kubectl/main.go; chmod u+w kubectl/main.go; } ;;
    *) f=$(case $n in kube-apiserver) echo NewAPIServerCommand;; kube-controller-manager) echo NewControllerManagerCommand;; kube-scheduler) echo NewSchedulerCommand;; esac)
       printf 'package main\n\nimport (\n\t"os"\n\t"k8s.io/component-base/cli"\n\t"k8s.io/kubernetes/cmd/%s/app"\n)\n\nfunc main() { os.Exit(cli.Run(app.%s())) }\n' "$n" "$f" > "$n/main.go" ;;
  esac
done
go mod tidy >&2
mkdir -p "$BIN"
for n in "${todo[@]}"; do
  # Build next to the target and rename: a build that is interrupted
  # leaves no half-written binary for the next run to trust.
  go build -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$V" -o "$BIN/.$n.tmp" "./$n"
  mv "$BIN/.$n.tmp" "$BIN/$n"
done
echo "$BIN"
