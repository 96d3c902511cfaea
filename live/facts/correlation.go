package facts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/ingest/kafka"
)

// Correlation reads the whole facts topic (every partition, no consumer
// group: each reader sees everything) into one incident.Correlator. The
// correlator's result depends only on the set of facts, not on their order,
// so every consumer's Correlation that has read the same facts builds the
// same incidents, whichever consumer published them: the incidents of one
// process, computed on each of M.
type Correlation struct {
	topic   string
	client  *kafkago.Client
	log     *slog.Logger
	readers map[int]*kafkago.Reader
	pos     map[int]int64

	mu       sync.Mutex
	corr     *incident.Correlator
	requests map[string]time.Time    // audit ids observed, with their time
	findings map[[3]string]time.Time // (audit id, stage, rule) added
	newest   time.Time
	bad      int64
	// added and observed count the findings and requests taken, past
	// deduplication: they only grow (Prune does not lower them).
	added, observed int
}

// NewCorrelation prepares a reader of the facts topic on cfg's brokers,
// correlating into corr (a new, empty correlator).
func NewCorrelation(ctx context.Context, cfg kafka.Config, topic string, corr *incident.Correlator) (*Correlation, error) {
	cfg.Topic = topic
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := cfg.NewClient()
	if err != nil {
		return nil, err
	}
	c := &Correlation{
		topic:    topic,
		client:   client,
		log:      cfg.Log(),
		readers:  map[int]*kafkago.Reader{},
		pos:      map[int]int64{},
		corr:     corr,
		requests: map[string]time.Time{},
		findings: map[[3]string]time.Time{},
	}
	md, err := c.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("facts topic %s: metadata: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		return nil, fmt.Errorf("kafka.facts_topic %s: no such topic (create it first): %v", topic, terr)
	}
	for _, p := range md.Topics[0].Partitions {
		if c.readers[p.ID], err = cfg.NewPartitionReader(topic, p.ID); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Sync reads every partition up to the end it has now, so that the facts
// published before the call are all in the correlator when it returns.
func (c *Correlation) Sync(ctx context.Context) error {
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	ids := make([]int, 0, len(c.readers))
	for p := range c.readers {
		ids = append(ids, p)
		req.Topics[c.topic] = append(req.Topics[c.topic], kafkago.LastOffsetOf(p))
	}
	sort.Ints(ids)
	res, err := c.client.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("facts topic %s: list offsets: %w", c.topic, err)
	}
	end := map[int]int64{}
	for _, po := range res.Topics[c.topic] {
		if po.Error != nil {
			return fmt.Errorf("facts topic %s/%d: list offsets: %w", c.topic, po.Partition, po.Error)
		}
		end[po.Partition] = po.LastOffset
	}
	for _, p := range ids {
		r := c.readers[p]
		for c.pos[p] < end[p] {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return fmt.Errorf("facts topic %s/%d: %w", c.topic, p, err)
			}
			c.apply(&m)
			c.pos[p] = m.Offset + 1
		}
	}
	return nil
}

// apply adds one facts message, skipping what was seen before (a batch
// published twice after a retry or a redelivery).
func (c *Correlation) apply(m *kafkago.Message) {
	var f facts
	if err := json.Unmarshal(m.Value, &f); err != nil {
		c.mu.Lock()
		c.bad++
		c.mu.Unlock()
		c.log.Warn("facts: unreadable message skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "error", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range f.Findings {
		fd := &f.Findings[i]
		k := [3]string{fd.AuditID, fd.Stage, fd.Rule}
		if _, ok := c.findings[k]; ok {
			continue
		}
		c.findings[k] = fd.At
		c.corr.Add(*fd)
		c.added++
	}
	for i := range f.Requests {
		r := &f.Requests[i]
		if _, ok := c.requests[r.AuditID]; ok {
			continue
		}
		c.requests[r.AuditID] = r.Time
		if r.Time.After(c.newest) {
			c.newest = r.Time
		}
		c.corr.Observe(r.event())
		c.observed++
	}
}

// Incidents builds the incidents from every fact read so far.
func (c *Correlation) Incidents() []incident.Incident {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.corr.Incidents()
}

// Prune bounds the correlation state of a long-running consumer as
// incident.Limits says (serve prunes its own pipeline the same way), and
// forgets the identities of facts older than the window: a fact that old
// arriving again would be outside every incident's reach anyway. The
// newest time is bounded by now plus l.MaxSkew, as in the correlator: a
// fact dated ahead of that never moves the window.
func (c *Correlation) Prune(l incident.Limits, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corr.Prune(l, now)
	newest := c.newest
	if bound := now.Add(l.MaxSkew); !now.IsZero() && newest.After(bound) {
		newest = time.Time{}
		for _, at := range c.requests {
			if at.After(newest) && !at.After(bound) {
				newest = at
			}
		}
	}
	if l.Window <= 0 || newest.IsZero() {
		return
	}
	cut := newest.Add(-l.Window)
	for k, at := range c.requests {
		if at.Before(cut) {
			delete(c.requests, k)
		}
	}
	for k, at := range c.findings {
		if at.Before(cut) {
			delete(c.findings, k)
		}
	}
}

// Seen counts the findings and requests taken so far, duplicates left
// out: serve's incident publisher rebuilds when they moved.
func (c *Correlation) Seen() (findings, requests int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.added, c.observed
}

// Bad returns how many facts could not be read.
func (c *Correlation) Bad() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad
}

// Close stops the readers.
func (c *Correlation) Close() error {
	var errs []error
	for _, r := range c.readers {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}
