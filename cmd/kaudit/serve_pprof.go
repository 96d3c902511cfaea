package main

import (
	"log"
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// startPprof serves net/http/pprof on debug.pprof_listen (a loopback
// address, checked by serveConfig) when it is set: profiling serve under
// the load benchmark (cmd/kaudit-load/bench.sh --profile) is how the
// webhook path's costs are found. Plain HTTP: the address is loopback.
func startPprof(addr string, logger *slog.Logger, errLog *log.Logger, s *servers) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := listen(addr, nil, keyDebugPprofListen)
	if err != nil {
		return err
	}
	s.pprof = newHTTPServer(mux, nil, errLog)
	// A CPU profile takes its seconds to answer.
	s.pprof.WriteTimeout = 0
	logger.Info("pprof listening", "addr", ln.Addr().String())
	go s.serve(s.pprof, ln, "pprof")
	return nil
}
