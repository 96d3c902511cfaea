package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestVersionCommand(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.2.3", "0123456789abcdef"
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := "kaudit v1.2.3\ncommit: 0123456789abcdef\ngo: " + runtime.Version() + "\nplatform: " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if out.String() != want {
		t.Errorf("kaudit version:\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if code := run([]string{"version", "--format", "json"}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var b buildInfo
	if err := json.Unmarshal(out.Bytes(), &b); err != nil || b.Version != "v1.2.3" || b.Revision != "0123456789abcdef" || b.GoVersion != runtime.Version() {
		t.Errorf("kaudit version --format json: %s (%v)", out.String(), err)
	}
	if code := run([]string{"version", "--format", "yaml"}, strings.NewReader(""), &out, &errb); code != exitUsage {
		t.Errorf("--format yaml: exit %d, want %d", code, exitUsage)
	}
}

func TestVersionDefaults(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "", "unknown"
	b := currentBuild()
	// Unstamped: "dev", and the commit of the toolchain's VCS stamp if the
	// build had one (go test builds have none), else "unknown".
	if b.Version != "dev" || b.Revision == "" {
		t.Errorf("unstamped build: %+v", b)
	}
}

func TestBuildInfoMetric(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.2.3", "abc"
	reg := prometheus.NewRegistry()
	reg.MustRegister(newBuildInfoCollector())
	want := `# HELP kaudit_build_info A metric with a constant '1' value labeled by the version, revision and Go version kaudit was built from.
# TYPE kaudit_build_info gauge
kaudit_build_info{goversion="` + runtime.Version() + `",revision="abc",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kaudit_build_info"); err != nil {
		t.Error(err)
	}
}
