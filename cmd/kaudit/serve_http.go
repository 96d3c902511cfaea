package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kaudit/kaudit/auth"
	"github.com/kaudit/kaudit/ingest/webhook"
	"github.com/kaudit/kaudit/investigate"
)

// servers are serve's two listeners: the webhook, and the query API with
// the operational endpoints.
type servers struct {
	webhook, api *http.Server
	pprof        *http.Server // nil without debug.pprof_listen
	failed       chan error
}

// startServers listens on both addresses (so that a taken port stops the
// start) and serves them. The bound addresses are logged: with port 0,
// that is where to find them.
//
// Long because it wires the two listeners and their handlers in one visible
// place.
func (a *app) startServers(cfg *serveConfig, sv *server) (*servers, error) {
	logger, reg := sv.log, sv.reg
	wh, err := webhook.NewHandler(webhook.Config{
		Acceptor:               sv.acceptor,
		Tokens:                 cfg.webhookTokens,
		ClientCerts:            cfg.clientCA,
		ClientSubjects:         cfg.subjects,
		Unauthenticated:        cfg.insecure && cfg.webhookTokens == nil,
		MaxBodyBytes:           cfg.maxBody,
		MaxInFlightBytes:       cfg.maxInFlight,
		MaxClientInFlightBytes: cfg.maxClient,
		MinBodyRate:            cfg.minBodyRate,
		Metrics:                webhook.NewMetrics(reg),
		Logger:                 logger,
	})
	if err != nil {
		return nil, err
	}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	whMux := http.NewServeMux()
	whMux.Handle(webhook.Path, wh)
	s := &servers{failed: make(chan error, 3)}
	s.webhook = newHTTPServer(whMux, cfg.tls, errLog)

	apiMux := http.NewServeMux()
	apiMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writePlain(w, http.StatusOK, "ok") })
	apiMux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := sv.ready(); err != nil {
			writePlain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		if sv.live != nil {
			if spooling, n, b := sv.live.Spooling(); spooling {
				writePlain(w, http.StatusOK, fmt.Sprintf("ok: the store does not take batches; they are spooled (%d batches, %d bytes pending)", n, b))
				return
			}
		}
		writePlain(w, http.StatusOK, "ok")
	})
	// Failed analyst tokens are throttled alike on the query API, the login
	// form and /metrics.
	throttle := auth.NewThrottle(0, 0, nil)
	apiMux.Handle("GET /metrics", metricsHandler(reg, sv.detect, throttle, errLog, cfg.apiTokens, cfg.metricsTokens))
	if sv.store != nil {
		apiMux.Handle("/", investigate.NewHandler(sv.store, cfg.apiTokens, investigate.Options{
			Logger: logger, Rules: rulesForView(a), MaxQueriesPerAnalyst: cfg.maxQueries, Throttle: throttle, Registerer: reg,
		}))
	}
	var apiTLS *tls.Config
	if cfg.tls != nil {
		// The query API carries evidence and tokens: same certificate as
		// the webhook, no client certificates.
		apiTLS = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cfg.tls.GetCertificate}
	}
	s.api = newHTTPServer(apiMux, apiTLS, errLog)

	whLn, err := listen(cfg.webhookListen, cfg.tls, keyWebhookListen)
	if err != nil {
		return nil, err
	}
	apiLn, err := listen(cfg.apiListen, apiTLS, keyAPIListen)
	if err != nil {
		whLn.Close()
		return nil, err
	}
	scheme := "https"
	if cfg.tls == nil {
		scheme = "http"
	}
	logger.Info("webhook listening", "addr", whLn.Addr().String(), "url", scheme+"://"+whLn.Addr().String()+webhook.Path)
	logger.Info("query API listening", "addr", apiLn.Addr().String(), "url", scheme+"://"+apiLn.Addr().String()+"/api/v1/")
	go s.serve(s.webhook, whLn, "webhook")
	go s.serve(s.api, apiLn, "query API")
	if err := startPprof(cfg.pprofListen, logger, errLog, s); err != nil {
		_ = s.shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

func listen(addr string, tc *tls.Config, key string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, inputError(fmt.Errorf("%s %s: %w", key, addr, err))
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}

func (s *servers) serve(srv *http.Server, ln net.Listener, name string) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.failed <- fmt.Errorf("%s: %w", name, err)
	}
}

// shutdown stops both listeners and waits for their requests: a webhook
// request in flight returns once its batch is durable.
func (s *servers) shutdown(ctx context.Context) error {
	err := errors.Join(s.webhook.Shutdown(ctx), s.api.Shutdown(ctx))
	if s.pprof != nil {
		err = errors.Join(err, s.pprof.Close())
	}
	return err
}

// newHTTPServer sets the timeouts a server facing a network needs. The
// write timeout leaves room for a batch to be stored or spooled.
func newHTTPServer(h http.Handler, tc *tls.Config, errLog *log.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
	return srv
}

func writePlain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
