// Package chtest starts a private ClickHouse server for tests: its own
// temporary data directory and free ports, so that parallel test runs and a
// developer's own server never collide. It runs the clickhouse-server binary
// that `make deps` installs from Debian (18.16.1 here); a missing binary or a
// server that does not come up fails the test loudly.
package chtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running (or stopped, between Stop and Restart) ClickHouse
// server owned by a test.
type Server struct {
	// Dir holds the configuration, data and logs; removed by Close.
	Dir string
	// TCPPort is the native protocol port (what DSN uses).
	TCPPort int
	// HTTPPort is the HTTP interface's port.
	HTTPPort int
	// InterserverPort is the replication port (unused, but must be free).
	InterserverPort int

	cmd    *exec.Cmd
	exited chan struct{}
	output *bytes.Buffer
}

// Start starts a server for tb and stops it (and removes its directory)
// when the test ends. It fails tb if the server cannot be started.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return startFor(tb, New)
}

// startFor starts what start starts for tb, and closes it when the test
// ends; it fails tb if it cannot start.
func startFor[T interface{ Close() error }](tb testing.TB, start func() (T, error)) T {
	tb.Helper()
	v, err := start()
	if err != nil {
		tb.Fatalf("chtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := v.Close(); err != nil {
			tb.Errorf("chtest: %v", err)
		}
	})
	return v
}

// serverBinary finds clickhouse-server, or says how to install it.
func serverBinary() (string, error) {
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		return "", errors.New("clickhouse-server is not installed: run `make deps` (apt-get install clickhouse-server clickhouse-client)")
	}
	return bin, nil
}

// New starts a server in a new temporary directory; the caller must Close
// it. Use it from TestMain, where there is no testing.TB.
func New() (*Server, error) {
	bin, err := serverBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kaudit-clickhouse-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Dir: dir, TCPPort: ports[0], HTTPPort: ports[1], InterserverPort: ports[2]}
	if err := s.writeConfig(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.start(bin); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Addr is the native protocol address, host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.TCPPort) }

// DSN is a clickhouse-go DSN for database db on this server (user default,
// no password).
func (s *Server) DSN(db string) string { return fmt.Sprintf("clickhouse://%s/%s", s.Addr(), db) }

// ClientArgs are the clickhouse-client arguments that reach this server.
func (s *Server) ClientArgs() []string {
	return []string{"--host", "127.0.0.1", "--port", fmt.Sprint(s.TCPPort)}
}

// PeakRSS is the server process's peak resident memory so far (VmHWM), in
// bytes; an error when it is not running.
func (s *Server) PeakRSS() (int64, error) {
	if s.cmd == nil {
		return 0, errors.New("chtest: server not running")
	}
	select {
	case <-s.exited:
		return 0, errors.New("chtest: server exited")
	default:
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("chtest: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("chtest: VmHWM %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("chtest: no VmHWM in /proc status")
}

// Pid is the server process's id, 0 when it is not running: benchmarks
// read its CPU time (/proc/PID/stat).
func (s *Server) Pid() int {
	if !s.Running() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 20 s) and keeps its
// data, so that Restart brings it back on the same data and ports.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	return nil
}

// Kill stops the server at once (SIGKILL), as a crash or a lost machine
// would, and keeps its data for Restart.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts a stopped server again on the same directory and ports.
func (s *Server) Restart() error {
	if s.cmd != nil {
		return errors.New("chtest: restart of a running server")
	}
	bin, err := serverBinary()
	if err != nil {
		return fmt.Errorf("chtest: %w", err)
	}
	return s.start(bin)
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	if rmErr := os.RemoveAll(s.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", s.Dir, rmErr)
	}
	return err
}

// mallocConf is the jemalloc configuration the server runs with, unless
// CLICKHOUSE_MALLOC_CONF says otherwise (empty: jemalloc's defaults): the
// one deploy/README.md recommends and deploy/dev/clickhouse.sh starts with.
// jemalloc's default hands freed pages back to the kernel after 10 s, so
// each large insert faults its buffers in again; on the virtual machines
// kaudit is measured on, that was a third of the server's CPU per event.
const mallocConf = "dirty_decay_ms:-1,muzzy_decay_ms:-1"

func (s *Server) start(bin string) error {
	cmd := exec.Command(bin, "--config-file="+filepath.Join(s.Dir, "config.xml"))
	cmd.Dir = s.Dir
	conf, set := os.LookupEnv("CLICKHOUSE_MALLOC_CONF")
	if !set {
		conf = mallocConf
	}
	cmd.Env = append(os.Environ(), "MALLOC_CONF="+conf)
	s.output = new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = s.output, s.output
	// The server dies with the test binary, even when a test times out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start clickhouse-server: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	return s.waitReady(60 * time.Second)
}

// waitReady polls the HTTP /ping endpoint and the native port until both
// answer: the server is ready for queries only after it opened its tables.
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", s.HTTPPort)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("clickhouse-server exited at start: %s\n%s", s.output.String(), s.logTail())
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
					c.Close()
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return fmt.Errorf("clickhouse-server did not answer on %s within %s\n%s", url, limit, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "server.err.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeConfig writes the smallest configuration 18.16.1 (and current
// ClickHouse) start with: every path inside Dir, loopback only, UTC, small
// caches (the default mark cache is 5 GiB), one user "default" without a
// password.
func (s *Server) writeConfig() error {
	d := s.Dir
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <interserver_http_port>%[4]d</interserver_http_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/data/tmp/</tmp_path>
  <user_files_path>%[1]s/data/user_files/</user_files_path>
  <format_schema_path>%[1]s/data/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <timezone>UTC</timezone>
</yandex>
`, d, s.TCPPort, s.HTTPPort, s.InterserverPort)
	users := `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`
	if err := os.WriteFile(filepath.Join(d, "config.xml"), []byte(config), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d, "users.xml"), []byte(users), 0o600); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	return nil
}
