package chtest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClusterName is the name the test cluster has in remote_servers (what
// store.cluster names).
const ClusterName = "kaudit"

// Cluster is a ClickHouse cluster owned by a test: ZooKeeper and four
// clickhouse-server processes, two shards of two replicas, on loopback
// ports, each in its own temporary directory. Every node knows the cluster
// (remote_servers), its {shard} and {replica} macros, ZooKeeper and the
// distributed DDL queue, as a production node would.
type Cluster struct {
	// Name is the cluster's name in remote_servers.
	Name      string
	ZooKeeper *ZooKeeper
	// Nodes are the servers, shard by shard: Nodes[0] and Nodes[1] are the
	// replicas of shard 1, Nodes[2] and Nodes[3] those of shard 2. Kill,
	// Stop and Restart them to take a replica or a shard away.
	Nodes []*Server
	// Replicas is the number of replicas of each shard.
	Replicas int
}

// Shape of the test cluster.
const (
	clusterShards   = 2
	clusterReplicas = 2
)

// StartCluster starts a cluster for tb and stops it (removing every
// directory) when the test ends. It fails tb if the cluster cannot start.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	return startFor(tb, NewCluster)
}

// NewCluster starts ZooKeeper, then the four servers at once, and returns
// once every server answers queries and reaches ZooKeeper. The caller must
// Close it.
func NewCluster() (*Cluster, error) {
	bin, err := serverBinary()
	if err != nil {
		return nil, err
	}
	zk, err := NewZooKeeper()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Name: ClusterName, ZooKeeper: zk, Replicas: clusterReplicas}
	n := clusterShards * clusterReplicas
	ports, err := freePorts(3 * n)
	if err != nil {
		c.Close()
		return nil, err
	}
	for i := 0; i < n; i++ {
		dir, err := os.MkdirTemp("", fmt.Sprintf("kaudit-clickhouse-node%d-", i+1))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("temporary directory: %w", err)
		}
		c.Nodes = append(c.Nodes, &Server{Dir: dir, TCPPort: ports[3*i], HTTPPort: ports[3*i+1], InterserverPort: ports[3*i+2]})
	}
	for i, s := range c.Nodes {
		if err := s.writeConfig(); err == nil {
			err = c.writeClusterConfig(s, i)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = s.start(bin); errs[i] == nil {
				errs[i] = s.waitZooKeeper(30 * time.Second)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// writeClusterConfig adds to node i's configuration (config.d, which
// clickhouse-server merges into config.xml) what makes it a member of the
// cluster.
func (c *Cluster) writeClusterConfig(s *Server, i int) error {
	var shards strings.Builder
	for sh := 0; sh < clusterShards; sh++ {
		shards.WriteString("      <shard>\n        <internal_replication>true</internal_replication>\n")
		for r := 0; r < clusterReplicas; r++ {
			fmt.Fprintf(&shards, "        <replica><host>127.0.0.1</host><port>%d</port></replica>\n", c.Nodes[sh*clusterReplicas+r].TCPPort)
		}
		shards.WriteString("      </shard>\n")
	}
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <zookeeper>
    <node><host>127.0.0.1</host><port>%[1]d</port></node>
    <session_timeout_ms>6000</session_timeout_ms>
  </zookeeper>
  <macros>
    <shard>%[2]d</shard>
    <replica>node%[3]d</replica>
  </macros>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
  <!-- A replica killed between writing a part and recording it in ZooKeeper
       finds it "unexpected" at restart, and refuses to start when such parts
       hold more than half of its rows: with the few rows of a test, one part
       is all of them. Production tables hold many parts; there, see
       deploy/scale-out.md (flags/force_restore_data). -->
  <merge_tree><replicated_max_ratio_of_wrong_parts>1</replicated_max_ratio_of_wrong_parts></merge_tree>
  <remote_servers>
    <%[4]s>
%[5]s    </%[4]s>
  </remote_servers>
</yandex>
`, c.ZooKeeper.Port, i/clusterReplicas+1, i+1, c.Name, shards.String())
	// The default profile (kaudit's user here) reads and writes the first
	// live replica of each shard, whichever node a query enters through:
	// see store/clickhouse's cluster.go.
	profile := `<?xml version="1.0"?>
<yandex>
  <profiles><default>
    <load_balancing>in_order</load_balancing>
    <prefer_localhost_replica>0</prefer_localhost_replica>
  </default></profiles>
</yandex>
`
	for _, f := range []struct{ dir, text string }{{"config.d", cfg}, {"users.d", profile}} {
		d := filepath.Join(s.Dir, f.dir)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("%s: %w", f.dir, err)
		}
		if err := os.WriteFile(filepath.Join(d, "cluster.xml"), []byte(f.text), 0o600); err != nil {
			return fmt.Errorf("write cluster config: %w", err)
		}
	}
	return nil
}

// waitZooKeeper waits until the server's ZooKeeper session works: only then
// do ON CLUSTER statements and Replicated tables work on it.
func (s *Server) waitZooKeeper(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := s.Query("SELECT count() FROM system.zookeeper WHERE path = '/'")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clickhouse-server on %s does not reach ZooKeeper within %s: %v", s.Addr(), limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Query runs one statement through the server's HTTP interface, with
// settings given as "name=value", and returns its output (TabSeparated, as
// clickhouse-client prints it).
func (s *Server) Query(q string, settings ...string) (string, error) {
	client := &http.Client{Timeout: 2 * time.Minute}
	params := url.Values{"query": {q}}
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		params.Set(k, v)
	}
	resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/?%s", s.HTTPPort, params.Encode()), "text/plain", nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Addr(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Addr(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", s.Addr(), strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// up reports whether the server process is running (not stopped, killed
// or exited).
func (s *Server) up() bool {
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

// Shard returns the replicas of shard i (1-based).
func (c *Cluster) Shard(i int) []*Server {
	return c.Nodes[(i-1)*c.Replicas : i*c.Replicas]
}

// DSN is a clickhouse-go DSN for database db naming every node, shard 1's
// first replica first: the client connects to the first that answers.
func (c *Cluster) DSN(db string) string { return c.DSNFrom(0, db) }

// DSNFrom is DSN with the nodes listed from Nodes[first] on (wrapping
// around), so that several kaudits enter the cluster through different
// nodes.
func (c *Cluster) DSNFrom(first int, db string) string {
	addrs := make([]string, len(c.Nodes))
	for i := range c.Nodes {
		addrs[i] = c.Nodes[(first+i)%len(c.Nodes)].Addr()
	}
	return fmt.Sprintf("clickhouse://%s/%s", strings.Join(addrs, ","), db)
}

// Any returns a running node (nil when every node is down).
func (c *Cluster) Any() *Server {
	for _, s := range c.Nodes {
		if s.up() {
			return s
		}
	}
	return nil
}

// SyncReplicas waits until every running replica of each of db's
// Replicated tables has fetched what the log holds (SYSTEM SYNC REPLICA),
// so that replicas can be compared.
func (c *Cluster) SyncReplicas(db string) error {
	for _, s := range c.Nodes {
		if !s.up() {
			continue
		}
		out, err := s.Query(fmt.Sprintf("SELECT name FROM system.tables WHERE database = '%s' AND engine LIKE 'Replicated%%'", db))
		if err != nil {
			return err
		}
		for _, t := range strings.Fields(out) {
			if _, err := s.Query(fmt.Sprintf("SYSTEM SYNC REPLICA `%s`.`%s`", db, t)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close kills every server and ZooKeeper and removes their directories.
// It kills rather than stops: the data goes anyway, and a replicated
// server takes up to 10 s to stop cleanly.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.Nodes {
		s.Kill()
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ZooKeeper != nil {
		if err := c.ZooKeeper.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
