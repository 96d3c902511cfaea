package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/live/notify"
	"github.com/kaudit/kaudit/pipeline"
	"github.com/kaudit/kaudit/store"
)

// notifyConfig is the checked notify.* configuration.
type notifyConfig struct {
	receivers    []notify.Receiver
	minSeverity  string
	resolveAfter time.Duration
	giveUpAfter  time.Duration
	resendEvery  time.Duration
	externalURL  string
}

// notifyConfig reads notify.*; nil when no receiver is configured. A bad
// setting is a usage error naming its key.
func (a *app) notifyConfig() (*notifyConfig, error) {
	v := a.v
	cfgs, err := notify.DecodeReceivers(v.Get(keyNotifyReceivers))
	if err != nil {
		return nil, usageError("notify.%v", err)
	}
	if len(cfgs) == 0 {
		return nil, nil
	}
	c := &notifyConfig{minSeverity: notify.DefaultMinSeverity, externalURL: strings.TrimSpace(v.GetString(keyNotifyExternalURL))}
	if s := v.GetString(keyNotifyMinSeverity); s != "" {
		if c.minSeverity, err = rulefile.ParseSeverity(s); err != nil {
			return nil, usageError("%s: %v", keyNotifyMinSeverity, err)
		}
	}
	for key, dst := range map[string]*time.Duration{keyNotifyResolveAfter: &c.resolveAfter, keyNotifyGiveUpAfter: &c.giveUpAfter, keyNotifyResendEvery: &c.resendEvery} {
		if !v.IsSet(key) {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(v.GetString(key)))
		if err != nil || d <= 0 {
			return nil, usageError("%s %q: want a positive duration such as 30m", key, v.GetString(key))
		}
		*dst = d
	}
	if c.externalURL != "" {
		u, err := url.Parse(c.externalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError("%s %q: want the http(s) address of kaudit's web view", keyNotifyExternalURL, c.externalURL)
		}
	}
	if c.receivers, err = notify.NewReceivers(cfgs, c.minSeverity); err != nil {
		return nil, usageError("notify.%v", err)
	}
	return c, nil
}

// newNotifier builds the notifier over an outbox. findings gives an
// incident's findings for its top findings.
func (c *notifyConfig) newNotifier(ob store.Outbox, findings func(context.Context, *incident.Incident) []detect.Finding, reg prometheus.Registerer, log *slog.Logger) (*notify.Notifier, error) {
	return notify.New(notify.Config{
		Receivers: c.receivers, Outbox: ob, MinSeverity: c.minSeverity, ResolveAfter: c.resolveAfter, ExternalURL: c.externalURL,
		GiveUpAfter: c.giveUpAfter, ResendEvery: c.resendEvery, Findings: findings, Holder: holderID(), Registerer: reg, Logger: log,
	})
}

// holderID names this process for the outbox lease.
func holderID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// findingsFrom returns an incident's findings: from this process's
// pipeline, else (another consumer judged them) from the store.
func findingsFrom(p *pipeline.Pipeline, r store.Reader) func(context.Context, *incident.Incident) []detect.Finding {
	return func(ctx context.Context, inc *incident.Incident) []detect.Finding {
		ids := make(map[string]bool, len(inc.Findings))
		for _, id := range inc.Findings {
			ids[id] = true
		}
		var mine []detect.Finding
		if p != nil {
			for _, f := range p.Findings() {
				if ids[f.AuditID] {
					mine = append(mine, f)
				}
			}
		}
		if len(mine) > 0 || r == nil {
			return mine
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if d, err := r.Incident(rctx, inc.ID); err == nil {
			return d.Findings
		}
		return nil
	}
}

// replayNotifyTimeout bounds how long `replay --notify` tries to deliver.
const replayNotifyTimeout = 5 * time.Minute

// replayNotify is `replay --notify`: the notifications of the incidents a
// replay found, delivered before replay exits. The outbox is the store's
// (--store: what an earlier run notified is not notified again) or memory.
func (a *app) replayNotify(ctx context.Context, j *judged, ob store.Outbox) error {
	nc, err := a.notifyConfig()
	if err != nil {
		return err
	}
	if nc == nil {
		return usageError("--notify needs receivers: set %s in the --config file", keyNotifyReceivers)
	}
	log := a.logger()
	n, err := nc.newNotifier(ob, findingsFrom(j.pipeline, nil), nil, log)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replayNotifyTimeout)
	defer cancel()
	if err := n.Flush(fctx, j.incidents); err != nil {
		return inputError(fmt.Errorf("notify: %w", err))
	}
	return nil
}

func newNotifyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Check the notification receivers of notify.receivers",
		Args:  cobra.NoArgs,
	}
	test := &cobra.Command{
		Use:   "test --config FILE",
		Short: "Send a synthetic incident to every receiver of notify.receivers and report each answer",
		Long: `test sends one synthetic incident (severity info, kind test) to every receiver in
notify.receivers of the --config file, whatever their min_severity and match, and prints each
receiver's answer. Exit status 0 when every receiver acknowledged it, 1 otherwise, 2 for a
configuration error (naming its key).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.configure(cmd); err != nil {
				return err
			}
			return a.notifyTest(cmd.Context())
		},
	}
	cmd.AddCommand(test)
	return cmd
}

func (a *app) notifyTest(ctx context.Context) error {
	nc, err := a.notifyConfig()
	if err != nil {
		return err
	}
	if nc == nil {
		return usageError("%s is empty: nothing to test", keyNotifyReceivers)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	results := notify.Probe(ctx, nc.receivers, notify.TestNotification(time.Now(), nc.externalURL))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVER\tTYPE\tRESULT\tTIME")
	failed := 0
	for _, r := range results {
		res := "ok"
		if r.Err != nil {
			res = "FAILED: " + r.Err.Error()
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Receiver, r.Type, res, r.Took.Round(time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return inputError(err)
	}
	if failed > 0 {
		return inputError(fmt.Errorf("%d of %d receivers did not acknowledge the test notification", failed, len(results)))
	}
	return nil
}
