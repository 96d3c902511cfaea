// Package rules holds kaudit's built-in rule library as YAML data, one file
// per tactic of the Threat Matrix for Kubernetes, embedded into the binary.
// Files ending in _test.yaml hold the rules' tests (see `kaudit rules test`).
package rules

import "embed"

// FS holds the built-in rule files and their tests.
//
//go:embed *.yaml
var FS embed.FS
