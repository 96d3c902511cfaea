// Package deploy holds no code: its tests check what operators install.
//
//   - the container image that `make image` assembles (cmd/kaudit-image): its
//     size, its contents (no shell, no package manager), its non-root user,
//     and its entrypoint serving with the configuration the Helm chart
//     renders, on a read-only root filesystem, against a test ClickHouse;
//   - the Helm chart (helm/kaudit): helm lint, render time, values.schema.json
//     refusing bad values, configuration keys kaudit knows, defaults equal
//     to kaudit's, every file kaudit.yaml names mounted, the NetworkPolicy
//     letting the control plane's webhook calls in, and
//     kubernetes/kaudit.yaml being the chart's current rendering;
//   - the manifests against a real kube-apiserver (dev/cluster):
//     `kubectl apply --dry-run=server` of every rendering.
//
// The tools come from the Go module proxy and Debian, built once per
// machine into ~/.cache/kaudit (deploy/dev/helm.sh, deploy/dev/cluster/build.sh);
// `make test` builds them before `go test`.
package deploy
