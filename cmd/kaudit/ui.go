package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/investigate"
	"github.com/kaudit/kaudit/store"
)

func newUICmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ui [flags] PATH...",
		Short: "Open the analyst's view (incidents, timelines) in a browser, over log files or a store",
		Long: `ui loads audit log files through the rules into an in-memory store (or reads the
ClickHouse store of --store when no PATH is given) and serves the analyst's view on a
local port: incidents, their time axis and chain of identities, timeline search, and the
redacted JSON of every event. It prints the URL and, unless api.tokens_file is set, a
one-time analyst token to log in with; the token is valid until ui exits.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.configure(cmd); err != nil {
				return err
			}
			return a.ui(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.String("listen", defaultUIListen, "address to serve on (port 0: any free port); keep it on loopback, the page is served over plain HTTP")
	f.String("tokens-file", "", "analyst token file (api.tokens_file); without it a one-time token is generated and printed")
	f.String("store", "", "read this ClickHouse store instead of files; the password belongs in KAUDIT_STORE_DSN or the config file")
	addPipelineFlags(cmd)
	return cmd
}

func (a *app) ui(ctx context.Context, paths []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	tokens, oneTime, err := a.analystTokens()
	if err != nil {
		return err
	}
	st, _, err := a.queryStore(ctx, paths)
	if err != nil {
		return err
	}
	defer st.Close()

	addr := a.v.GetString(keyUIListen)
	if addr == "" {
		addr = defaultUIListen
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return inputError(fmt.Errorf("ui: listen on %s: %w", addr, err))
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		fmt.Fprintf(a.stderr, "kaudit: warning: ui listens on %s, beyond this machine, over plain HTTP: tokens and evidence cross the network in clear\n", ln.Addr())
	}

	logger := slog.New(slog.NewTextHandler(a.stderr, nil))
	srv := &http.Server{
		Handler:           investigate.NewHandler(st, tokens, investigate.Options{Logger: logger, Rules: rulesForView(a)}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	a.printUIBanner(ctx, st, ln.Addr(), oneTime)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return inputError(fmt.Errorf("ui: serve: %w", err))
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return inputError(fmt.Errorf("ui: shutdown: %w", err))
	}
	return nil
}

// rulesForView is the rule set findings came from (built-in and rules.dir),
// for the view's highlighting of the fields a rule looked at; nil (the
// built-in library) when it cannot be loaded.
func rulesForView(a *app) *rulefile.RuleSet {
	set, err := a.loadRules()
	if err != nil {
		return nil
	}
	return set
}

// analystTokens loads api.tokens_file, or makes a one-time token (returned
// in clear, to be printed once) when none is configured.
func (a *app) analystTokens() (*auth.Tokens, string, error) {
	if path := a.v.GetString(keyAPITokensFile); path != "" {
		t, err := auth.LoadTokens(path)
		if err != nil {
			return nil, "", usageError("api.tokens_file: %v", err)
		}
		return t, "", nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	t, err := auth.NewTokens(tok)
	if err != nil {
		return nil, "", err
	}
	return t, tok, nil
}

// printUIBanner says where the page is and how to log in. The token goes
// to the terminal only, never into the URL.
func (a *app) printUIBanner(ctx context.Context, st store.Reader, addr net.Addr, oneTime string) {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
	}
	if incs, err := st.Incidents(ctx, store.IncidentQuery{}); err == nil {
		fmt.Fprintf(a.stdout, "kaudit ui: %d incidents\n", len(incs))
	}
	fmt.Fprintf(a.stdout, "kaudit ui: open http://%s/\n", host)
	if oneTime != "" {
		fmt.Fprintf(a.stdout, "kaudit ui: analyst token (valid until this process exits): %s\n", oneTime)
	} else {
		fmt.Fprintln(a.stdout, "kaudit ui: log in with an analyst token of api.tokens_file")
	}
	fmt.Fprintln(a.stdout, "kaudit ui: press Ctrl-C to stop")
}
