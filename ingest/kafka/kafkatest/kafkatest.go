// Package kafkatest runs an in-process Kafka-protocol cluster (franz-go's
// kfake) on 127.0.0.1 for tests: kaudit's side talks to it over real TCP
// with the real kafka-go client, so the tests exercise the wire protocol,
// consumer groups, commits and rebalances, not a stand-in.
package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Cluster is a running kfake cluster.
type Cluster struct {
	*kfake.Cluster
	// Brokers are the addresses to give kafka-go.
	Brokers []string
}

// Start runs a one-broker cluster holding topics of the given partition
// count, closed when the test ends. Session timeouts down to 100 ms are
// allowed so that tests need not wait kfake's 6 s minimum; extra options
// (SASL, more topics) are appended.
func Start(t testing.TB, partitions int32, topics []string, opts ...kfake.Opt) *Cluster {
	t.Helper()
	all := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	if len(topics) > 0 {
		all = append(all, kfake.SeedTopics(partitions, topics...))
	}
	all = append(all, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("kfake: start cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Brokers: c.ListenAddrs()}
}

// Writer returns a writer to topic that sends at once (no 1 s linger) and
// stays under kfake's message.max.bytes.
func (c *Cluster) Writer(topic string) *kafkago.Writer {
	return &kafkago.Writer{
		Addr:         kafkago.TCP(c.Brokers...),
		Topic:        topic,
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchSize:    1000,
		BatchBytes:   1_000_000,
	}
}

// Produce writes msgs to topic and fails the test if the cluster does not
// acknowledge them all.
func (c *Cluster) Produce(t testing.TB, topic string, msgs []kafkago.Message) {
	t.Helper()
	w := c.Writer(topic)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 2000)
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			t.Fatalf("kfake: produce to %s: %v", topic, err)
		}
		msgs = msgs[n:]
	}
}

// Count returns how many messages a topic holds (the sum of its
// partitions' end offsets).
func (c *Cluster) Count(t testing.TB, topic string) int64 {
	t.Helper()
	conn, err := kafkago.Dial("tcp", c.Brokers[0])
	if err != nil {
		t.Fatalf("kfake: dial: %v", err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("kfake: partitions of %s: %v", topic, err)
	}
	var n int64
	for _, p := range parts {
		pc, err := kafkago.DialLeader(context.Background(), "tcp", c.Brokers[0], topic, p.ID)
		if err != nil {
			t.Fatalf("kfake: dial leader of %s/%d: %v", topic, p.ID, err)
		}
		first, last, err := pc.ReadOffsets()
		pc.Close()
		if err != nil {
			t.Fatalf("kfake: offsets of %s/%d: %v", topic, p.ID, err)
		}
		n += last - first
	}
	return n
}

// Lines returns the non-empty lines of a file: one audit event each for
// the apiserver's logs.
func Lines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			out = append(out, append([]byte(nil), l...))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return out
}

// Copies returns n events made of the given lines repeated, each copy with
// its audit ids rewritten (suffix -cN on every id of copy N > 0) so that
// every event is distinct for the store. Copy 0 is the lines unchanged.
func Copies(lines [][]byte, n int) [][]byte {
	out := make([][]byte, 0, n)
	for k := 0; len(out) < n; k++ {
		for _, l := range lines {
			if len(out) == n {
				break
			}
			if k == 0 {
				out = append(out, l)
				continue
			}
			out = append(out, rewriteAuditID(l, k))
		}
	}
	return out
}

// rewriteAuditID appends -cK to the value of "auditID" in one event line.
func rewriteAuditID(line []byte, k int) []byte {
	key := []byte(`"auditID":"`)
	i := bytes.Index(line, key)
	if i < 0 {
		return line
	}
	j := bytes.IndexByte(line[i+len(key):], '"')
	if j < 0 {
		return line
	}
	end := i + len(key) + j
	out := make([]byte, 0, len(line)+8)
	out = append(out, line[:end]...)
	out = append(out, fmt.Sprintf("-c%d", k)...)
	return append(out, line[end:]...)
}

// CreateTopic creates topics of the given partition count.
func (c *Cluster) CreateTopic(t testing.TB, partitions int, topics ...string) {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...)}
	req := &kafkago.CreateTopicsRequest{}
	for _, tp := range topics {
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: tp, NumPartitions: partitions, ReplicationFactor: 1})
	}
	res, err := cl.CreateTopics(context.Background(), req)
	if err != nil {
		t.Fatalf("kfake: create topics %v: %v", topics, err)
	}
	for tp, err := range res.Errors {
		if err != nil {
			t.Fatalf("kfake: create topic %s: %v", tp, err)
		}
	}
}

// SplitPartitions returns a partition count for which murmur2 (the key
// partitioner of the forwarder and of Java shippers) puts the two keys in
// different halves of the partitions, so that the range assignor gives them
// to different members of a two-member group: scale-out tests need two
// actors on two consumers.
func SplitPartitions(t testing.TB, a, b string) int {
	t.Helper()
	for n := 2; n <= 16; n += 2 {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		bal := &kafkago.Murmur2Balancer{}
		pa := bal.Balance(kafkago.Message{Key: []byte(a)}, parts...)
		pb := bal.Balance(kafkago.Message{Key: []byte(b)}, parts...)
		if (pa < n/2) != (pb < n/2) {
			return n
		}
	}
	t.Fatalf("no partition count up to 16 separates %s from %s", a, b)
	return 0
}

// WaitStableGroup waits (up to two minutes) until the group has n members
// that all hold partitions, and returns each member's partitions of topic
// by member id.
func (c *Cluster) WaitStableGroup(t testing.TB, group, topic string, n int) map[string][]int {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...)}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if got := c.assignments(cl, group, topic); len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: no stable group of %d members holding %s partitions", group, n, topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assignments returns the members' partitions of topic when the group is
// stable and every member holds some, else nil.
func (c *Cluster) assignments(cl *kafkago.Client, group, topic string) map[string][]int {
	res, err := cl.DescribeGroups(context.Background(), &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(res.Groups) != 1 || res.Groups[0].GroupState != "Stable" {
		return nil
	}
	out := map[string][]int{}
	for _, m := range res.Groups[0].Members {
		for _, tp := range m.MemberAssignments.Topics {
			if tp.Topic == topic {
				out[m.MemberID] = append(out[m.MemberID], tp.Partitions...)
			}
		}
		if len(out[m.MemberID]) == 0 {
			return nil
		}
	}
	return out
}
