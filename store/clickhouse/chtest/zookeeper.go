package chtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// zookeeperJar is where Debian's zookeeper package (3.8) puts the server;
// its manifest names the jars it needs.
const zookeeperJar = "/usr/share/java/zookeeper.jar"

// slf4jSimple is the logging binding given to ZooKeeper (libslf4j-java,
// which the zookeeper package depends on): warnings to its log file.
const slf4jSimple = "/usr/share/java/slf4j-simple.jar"

// ZooKeeper is a standalone ZooKeeper server owned by a test: the
// coordination service of a ClickHouse 18.16.1 cluster (Replicated tables,
// ON CLUSTER DDL). Current ClickHouse releases can use ClickHouse Keeper
// instead, which speaks the same protocol.
type ZooKeeper struct {
	// Dir holds the configuration, the data and zookeeper.log.
	Dir string
	// Port is the client port.
	Port int

	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// NewZooKeeper starts ZooKeeper in a new temporary directory on a free
// loopback port; the caller must Close it.
func NewZooKeeper() (*ZooKeeper, error) {
	java, err := exec.LookPath("java")
	if err == nil {
		_, err = os.Stat(zookeeperJar)
	}
	if err != nil {
		return nil, errors.New("zookeeper is not installed: run `make deps` (apt-get install zookeeper)")
	}
	dir, err := os.MkdirTemp("", "kaudit-zookeeper-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	z := &ZooKeeper{Dir: dir, Port: ports[0]}
	// tickTime 500 ms: sessions of 1 to 10 s, so that a killed
	// clickhouse-server's session (and its replica's "active" mark) expires
	// within seconds, as tests need, rather than after 40 s.
	cfg := fmt.Sprintf(`tickTime=500
initLimit=10
syncLimit=5
dataDir=%s/data
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr
autopurge.purgeInterval=0
`, dir, z.Port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("write zoo.cfg: %w", err)
	}
	if err := z.start(java); err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

// Addr is host:port of the client port.
func (z *ZooKeeper) Addr() string { return fmt.Sprintf("127.0.0.1:%d", z.Port) }

func (z *ZooKeeper) start(java string) error {
	log, err := os.OpenFile(filepath.Join(z.Dir, "zookeeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("zookeeper log: %w", err)
	}
	cp := zookeeperJar
	if _, err := os.Stat(slf4jSimple); err == nil {
		cp += ":" + slf4jSimple
	}
	// A small heap, the serial collector and the C1 compiler only: the
	// server holds a few hundred znodes here, and starts in under a second.
	cmd := exec.Command(java, "-Xms16m", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dzookeeper.jmx.log4j.disable=true",
		"-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(z.Dir, "zoo.cfg"))
	cmd.Dir = z.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start zookeeper: %w", err)
	}
	z.cmd, z.log = cmd, log
	z.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(z.exited) }()
	return z.waitReady(60 * time.Second)
}

// waitReady asks "srvr" until the server says it serves: "ruok" answers
// "imok" before the server takes sessions, and a clickhouse-server 18.16.1
// whose first ZooKeeper connection failed crashes at its first ON CLUSTER
// statement (a NULL session in its DDL worker).
func (z *ZooKeeper) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-z.exited:
			return fmt.Errorf("zookeeper exited at start:\n%s", z.logTail())
		default:
		}
		if z.serving() {
			return nil
		}
		if time.Now().After(deadline) {
			z.Kill()
			return fmt.Errorf("zookeeper did not answer on %s within %s:\n%s", z.Addr(), limit, z.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (z *ZooKeeper) serving() bool {
	c, err := net.DialTimeout("tcp", z.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return bytes.HasPrefix(b, []byte("Zookeeper version:")) && bytes.Contains(b, []byte("Mode: standalone"))
}

func (z *ZooKeeper) logTail() string {
	b, _ := os.ReadFile(filepath.Join(z.Dir, "zookeeper.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// Kill stops ZooKeeper at once (SIGKILL) and keeps its data for Restart.
func (z *ZooKeeper) Kill() {
	if z.cmd == nil {
		return
	}
	_ = z.cmd.Process.Kill()
	<-z.exited
	z.cmd = nil
	z.log.Close()
}

// Restart starts a killed ZooKeeper again on the same data and port.
func (z *ZooKeeper) Restart() error {
	if z.cmd != nil {
		return errors.New("chtest: restart of a running zookeeper")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return fmt.Errorf("chtest: %w", err)
	}
	return z.start(java)
}

// Close stops ZooKeeper and removes its directory.
func (z *ZooKeeper) Close() error {
	z.Kill()
	if err := os.RemoveAll(z.Dir); err != nil {
		return fmt.Errorf("remove %s: %w", z.Dir, err)
	}
	return nil
}
