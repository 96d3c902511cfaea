package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// version and commit are stamped at build time (Makefile, Dockerfile):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/kaudit
//
// Unstamped builds say "dev", and take the commit from the Go toolchain's
// VCS stamp (runtime/debug.ReadBuildInfo's vcs.revision) when it has one.
var (
	version = "dev"
	commit  = "unknown"
)

// buildInfo is what `kaudit version` prints and kaudit_build_info exports.
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	GoVersion string `json:"goversion"`
	Platform  string `json:"platform"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Revision: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if b.Revision == "unknown" && rev != "" {
			b.Revision = rev
			if modified == "true" {
				b.Revision += "-dirty"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

func newVersionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print kaudit's version, the commit it was built from and its Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := currentBuild()
			format, _ := cmd.Flags().GetString("format")
			switch format {
			case "text", "":
				fmt.Fprintf(a.stdout, "kaudit %s\ncommit: %s\ngo: %s\nplatform: %s\n", b.Version, b.Revision, b.GoVersion, b.Platform)
			case "json":
				return json.NewEncoder(a.stdout).Encode(b)
			default:
				return usageError("--format %q: want text or json", format)
			}
			return nil
		},
	}
	cmd.Flags().String("format", "text", "output format: text or json")
	return cmd
}

// newBuildInfoCollector is the kaudit_build_info gauge, always 1, whose
// labels say which build is running (the convention of Prometheus'
// own *_build_info metrics).
func newBuildInfoCollector() prometheus.Collector {
	b := currentBuild()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "kaudit_build_info",
		Help:        "A metric with a constant '1' value labeled by the version, revision and Go version kaudit was built from.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
