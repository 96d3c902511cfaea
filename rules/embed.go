// Package rules holds kaudit's built-in rule library as YAML data, one file
// per tactic of the Threat Matrix for Kubernetes, embedded into the binary.
// Files ending in _test.yaml hold the rules' tests (see `kaudit rules test`),
// run against the real apiserver logs of testdata/ (gzip copies of the
// repository's testdata/ logs, recorded by testdata/scenarios/record.sh);
// matrix.yaml is the technique table `kaudit rules coverage` shows.
package rules

import "embed"

// FS holds the built-in rule files, their tests and the logs the tests use.
//
//go:embed *.yaml testdata/*.log.gz
var FS embed.FS
