package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/incident"
	"github.com/kaudit/kaudit/detect/rulefile"
	"github.com/kaudit/kaudit/store"
)

// Defaults of Config's zero values.
const (
	DefaultMinSeverity  = rulefile.SeverityMedium
	DefaultResolveAfter = 30 * time.Minute
	DefaultLeaseTTL     = 15 * time.Second
	DefaultTick         = time.Second
	DefaultResendEvery  = time.Minute
	DefaultGiveUpAfter  = 24 * time.Hour
	// LeaseName is the outbox lease the delivering process holds.
	LeaseName = "notify"
)

// Config configures a Notifier.
type Config struct {
	Receivers []Receiver
	// Outbox is where notifications are durable before they are sent.
	Outbox store.Outbox
	// MinSeverity is the least severity of an incident that opens with a
	// notification (notify.min_severity).
	MinSeverity string
	// ResolveAfter is the quiet time (since the incident's last finding)
	// after which an incident is notified as resolved (notify.resolve_after).
	ResolveAfter time.Duration
	// ExternalURL is the web view's address, for links (notify.external_url).
	ExternalURL string
	// Findings returns the findings of an incident, for its top findings
	// (nil: notifications carry none).
	Findings func(ctx context.Context, inc *incident.Incident) []detect.Finding
	// Holder names this process for the outbox lease (unique per process).
	Holder string
	// LeaseTTL is how long the lease lasts without renewal; it is renewed
	// every LeaseTTL/3.
	LeaseTTL time.Duration
	// Tick is how often Run decides and delivers (and at once when
	// Observe brings new incidents).
	Tick time.Duration
	// ResendEvery is how often an open incident's alert is re-sent to
	// Alertmanager; its endsAt lies 4 ResendEvery ahead.
	ResendEvery time.Duration
	// GiveUpAfter drops a notification not delivered that long after it
	// was decided (notify.give_up_after).
	GiveUpAfter time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed attempts to
	// one receiver (defaults 1 s and 5 min); Retry-After raises it.
	MinBackoff, MaxBackoff time.Duration
	Registerer             prometheus.Registerer
	Logger                 *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.Outbox == nil {
		return errors.New("notify: an outbox is required")
	}
	if c.MinSeverity == "" {
		c.MinSeverity = DefaultMinSeverity
	}
	if rulefile.SeverityRank(c.MinSeverity) == 0 {
		return fmt.Errorf("notify: min severity %q", c.MinSeverity)
	}
	if c.ResolveAfter <= 0 {
		c.ResolveAfter = DefaultResolveAfter
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.ResendEvery <= 0 {
		c.ResendEvery = DefaultResendEvery
	}
	if c.GiveUpAfter <= 0 {
		c.GiveUpAfter = DefaultGiveUpAfter
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Holder == "" {
		c.Holder = fmt.Sprintf("kaudit-%d", time.Now().UnixNano())
	}
	return nil
}

// Notifier decides notifications and delivers them. Observe may be called
// from any goroutine; Run and Flush are not to run at once.
type Notifier struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	mu     sync.Mutex
	latest []incident.Incident
	have   bool
	kick   chan struct{}

	holding    bool
	leaseUntil time.Time
	renewAt    time.Time

	states map[string]*incState
	rcv    map[string]*rstate
}

// incState is what was notified of one incident.
type incState struct {
	seq       int
	last      *Notification // the latest decided
	resolved  bool
	receivers map[string]bool // receivers that have a delivery of it
}

// rstate is one receiver's delivery state.
type rstate struct {
	r        Receiver
	queue    []*store.Delivery // pending, in the order decided
	bo       *backoff.ExponentialBackOff
	nextTry  time.Time
	lastSent map[string]*Notification // per incident, the last acknowledged
	resentAt time.Time
}

// New returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), m: newMetrics(cfg.Registerer, cfg.Receivers)}
	for _, r := range cfg.Receivers {
		if am, ok := r.(*Alertmanager); ok {
			am.openFor, am.now = 4*cfg.ResendEvery, cfg.Now
		}
		if wh, ok := r.(*Webhook); ok {
			wh.now = cfg.Now
		}
	}
	n.reset()
	return n, nil
}

func (n *Notifier) reset() {
	n.states = map[string]*incState{}
	n.rcv = map[string]*rstate{}
	for _, r := range n.cfg.Receivers {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval, b.Multiplier = n.cfg.MinBackoff, n.cfg.MaxBackoff, 2
		n.rcv[r.Name()] = &rstate{r: r, bo: b, lastSent: map[string]*Notification{}}
	}
}

// Observe takes the current incidents (live.Publisher calls it after every
// rebuild it stored) and wakes Run.
func (n *Notifier) Observe(incs []incident.Incident) {
	n.mu.Lock()
	n.latest, n.have = slices.Clone(incs), true
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// stopTimeout bounds the last round Run makes when it stops.
const stopTimeout = 5 * time.Second

// Run decides and delivers until ctx ends, while this process holds the
// outbox lease; without it, it stands by. When ctx ends it makes one last
// round (bounded by stopTimeout), so that the incidents of the last batches
// are decided: what is not delivered then stays in the outbox.
func (n *Notifier) Run(ctx context.Context) {
	t := time.NewTicker(n.cfg.Tick)
	defer t.Stop()
	for {
		n.step(ctx)
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			n.step(fctx)
			cancel()
			n.m.leader.Set(0)
			return
		case <-t.C:
		case <-n.kick:
		}
	}
}

// step is one round: the lease, then deciding and delivering.
func (n *Notifier) step(ctx context.Context) {
	now := n.cfg.Now()
	if !now.Before(n.renewAt) {
		n.renewLease(ctx, now)
	}
	if !n.holding {
		return
	}
	n.mu.Lock()
	incs, have := n.latest, n.have
	n.mu.Unlock()
	if err := n.decide(ctx, incs, have, now, false); err != nil {
		n.log.Warn("notifications not decided; retrying", "err", err)
	}
	n.deliverAll(ctx, true)
}

func (n *Notifier) renewLease(ctx context.Context, now time.Time) {
	lctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL/3)
	ok, err := n.cfg.Outbox.Lease(lctx, LeaseName, n.cfg.Holder, n.cfg.LeaseTTL)
	cancel()
	switch {
	case err != nil:
		n.renewAt = now.Add(n.cfg.Tick)
		if n.holding && !now.Before(n.leaseUntil) {
			n.holding = false
			n.log.Warn("notify: outbox lease lapsed (store unreachable); delivery stops until it is back", "err", err)
		}
	case ok:
		n.renewAt, n.leaseUntil = now.Add(n.cfg.LeaseTTL/3), now.Add(n.cfg.LeaseTTL)
		if !n.holding {
			if err := n.load(ctx, now); err != nil {
				n.log.Warn("notify: outbox not read; retrying", "err", err)
				n.renewAt = now.Add(n.cfg.Tick)
				return
			}
			n.holding = true
			n.log.Info("notify: this process delivers notifications (outbox lease taken)", "holder", n.cfg.Holder)
		}
	default:
		n.renewAt = now.Add(n.cfg.LeaseTTL / 3)
		if n.holding {
			n.log.Info("notify: another process holds the outbox lease; standing by")
		}
		n.holding = false
	}
	if n.holding {
		n.m.leader.Set(1)
	} else {
		n.m.leader.Set(0)
	}
}

// load rebuilds the state from the outbox: what was decided, sent and is
// pending. A process that takes over (restart, another replica) goes on
// from there.
func (n *Notifier) load(ctx context.Context, now time.Time) error {
	ds, err := n.cfg.Outbox.Deliveries(ctx, now.Add(-n.cfg.GiveUpAfter-n.cfg.ResolveAfter))
	if err != nil {
		return err
	}
	n.reset()
	sort.SliceStable(ds, func(i, j int) bool {
		if !ds[i].Created.Equal(ds[j].Created) {
			return ds[i].Created.Before(ds[j].Created)
		}
		if ds[i].IncidentID != ds[j].IncidentID {
			return ds[i].IncidentID < ds[j].IncidentID
		}
		return ds[i].Seq < ds[j].Seq
	})
	for i := range ds {
		d := &ds[i]
		var nt Notification
		if err := json.Unmarshal(d.Notification, &nt); err != nil {
			n.log.Warn("notify: unreadable notification in the outbox; skipped", "id", d.ID, "err", err)
			continue
		}
		st := n.states[d.IncidentID]
		if st == nil {
			st = &incState{receivers: map[string]bool{}}
			n.states[d.IncidentID] = st
		}
		if d.Seq >= st.seq {
			st.seq, st.last, st.resolved = d.Seq, &nt, nt.Kind == KindResolved
		}
		st.receivers[d.Receiver] = true
		rs := n.rcv[d.Receiver]
		if rs == nil {
			continue // a receiver no longer configured
		}
		switch d.State {
		case store.DeliveryPending:
			rs.queue = append(rs.queue, d)
		case store.DeliverySent:
			if prev := rs.lastSent[d.IncidentID]; prev == nil || prev.Seq < nt.Seq {
				rs.lastSent[d.IncidentID] = &nt
			}
		}
	}
	n.setPending()
	return nil
}

func (n *Notifier) setPending() {
	for name, rs := range n.rcv {
		n.m.pending.WithLabelValues(name).Set(float64(len(rs.queue)))
	}
}

// change is a decided notification, before it is written.
type change struct {
	st      *incState
	id      string
	kind    string
	reasons []string
	inc     *incident.Incident // nil when the incident is no longer held
}

// decide compares the incidents with what was notified and writes the
// notifications that follow to the outbox. have says whether incs is the
// publisher's (before its first rebuild only quiet incidents resolve).
// replay judges a finished log: incidents open, none resolves.
//
// Long because the lifecycle (open, escalate, update, resolve, reopen) is one
// decision per incident, and reads best as one switch.
func (n *Notifier) decide(ctx context.Context, incs []incident.Incident, have bool, now time.Time, replay bool) error {
	var changes []change
	present := map[string]bool{}
	for i := range incs {
		inc := &incs[i]
		present[inc.ID] = true
		st := n.states[inc.ID]
		quiet := !replay && now.Sub(inc.EndTime) >= n.cfg.ResolveAfter
		c := change{st: st, id: inc.ID, inc: inc}
		switch {
		case st == nil:
			if quiet || rulefile.SeverityRank(inc.Severity) < rulefile.SeverityRank(n.cfg.MinSeverity) {
				continue
			}
			c.kind, c.reasons = KindOpened, []string{"opened at severity " + inc.Severity}
		case st.resolved:
			if replay || quiet || !inc.EndTime.After(endOf(st.last)) {
				continue
			}
			c.kind, c.reasons = KindReopened, []string{"new findings since it resolved, last at " + inc.End}
		default:
			prev := &st.last.Incident
			if rulefile.SeverityRank(inc.Severity) > rulefile.SeverityRank(prev.Severity) {
				c.kind = KindEscalated
				c.reasons = append(c.reasons, "severity "+prev.Severity+" -> "+inc.Severity)
			}
			for _, t := range inc.Tactics {
				if !slices.Contains(prev.Tactics, t) {
					c.reasons = append(c.reasons, "new tactic "+t)
				}
			}
			for _, a := range inc.Actors {
				if !slices.Contains(prev.Actors, a) {
					c.reasons = append(c.reasons, "new identity "+a)
				}
			}
			switch {
			case c.kind == "" && len(c.reasons) > 0:
				c.kind = KindUpdated
			case c.kind == "" && quiet:
				c.kind, c.reasons = KindResolved, []string{"no new finding for " + n.cfg.ResolveAfter.String()}
			case c.kind == "":
				continue
			}
		}
		changes = append(changes, c)
	}
	if !replay {
		ids := make([]string, 0, len(n.states))
		for id := range n.states {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			st := n.states[id]
			if present[id] || st.resolved || now.Sub(endOf(st.last)) < n.cfg.ResolveAfter {
				continue
			}
			reason := "no new finding for " + n.cfg.ResolveAfter.String()
			if have {
				reason += " (no longer among the live incidents)"
			}
			changes = append(changes, change{st: st, id: id, kind: KindResolved, reasons: []string{reason}})
		}
	}
	var errs []error
	for _, c := range changes {
		if err := n.enqueue(ctx, c, now); err != nil {
			errs = append(errs, err)
		}
	}
	n.prune(now)
	n.setPending()
	return errors.Join(errs...)
}

func endOf(nt *Notification) time.Time {
	t, _ := detect.ParseTime(nt.Incident.End)
	return t
}

// enqueue writes one notification for every receiver it is for, then
// counts it as decided. When the outbox cannot take it, nothing changes:
// the next round decides it again.
func (n *Notifier) enqueue(ctx context.Context, c change, now time.Time) error {
	st := c.st
	if st == nil {
		st = &incState{receivers: map[string]bool{}}
	}
	var sum Summary
	if c.inc != nil {
		var fs []detect.Finding
		if n.cfg.Findings != nil {
			fs = n.cfg.Findings(ctx, c.inc)
		}
		sum = summarize(c.inc, fs, n.cfg.ExternalURL)
		if len(sum.TopFindings) == 0 && st.last != nil {
			sum.TopFindings = st.last.Incident.TopFindings
		}
	} else {
		sum = st.last.Incident
	}
	if c.kind == KindResolved {
		sum.Status = "resolved"
	}
	nt := &Notification{SchemaVersion: SchemaVersion, ID: fmt.Sprintf("%s-%d", c.id, st.seq+1), Kind: c.kind, Seq: st.seq + 1,
		Reasons: c.reasons, DecidedAt: now.UTC().Format(time.RFC3339Nano), Incident: sum}
	body, err := json.Marshal(nt)
	if err != nil {
		return err
	}
	var ds []store.Delivery
	var to []string
	for _, r := range n.cfg.Receivers {
		want := r.Wants(&sum)
		if c.kind == KindResolved {
			want = st.receivers[r.Name()]
		}
		if !want {
			continue
		}
		to = append(to, r.Name())
		ds = append(ds, store.Delivery{Receiver: r.Name(), ID: nt.ID, IncidentID: c.id, Seq: nt.Seq, State: store.DeliveryPending,
			NextAttempt: now, Created: now, Updated: now, Notification: body})
	}
	if len(ds) > 0 {
		if err := n.cfg.Outbox.PutDeliveries(ctx, ds); err != nil {
			return fmt.Errorf("notification %s: %w", nt.ID, err)
		}
	}
	st.seq, st.last, st.resolved = nt.Seq, nt, c.kind == KindResolved
	n.states[c.id] = st
	for i := range ds {
		st.receivers[ds[i].Receiver] = true
		rs := n.rcv[ds[i].Receiver]
		rs.queue = append(rs.queue, &ds[i])
	}
	n.log.Info("notify: incident notification decided", "id", nt.ID, "kind", nt.Kind, "severity", sum.Severity, "reasons", nt.Reasons, "receivers", to)
	return nil
}

// prune forgets incidents resolved long ago.
func (n *Notifier) prune(now time.Time) {
	for id, st := range n.states {
		if st.resolved && now.Sub(endOf(st.last)) > n.cfg.GiveUpAfter+n.cfg.ResolveAfter {
			delete(n.states, id)
			for _, rs := range n.rcv {
				delete(rs.lastSent, id)
			}
		}
	}
}

// deliverAll delivers every receiver's queue, receivers in parallel;
// resend re-sends open incidents' alerts to Alertmanager when due.
func (n *Notifier) deliverAll(ctx context.Context, resend bool) {
	var wg sync.WaitGroup
	for _, r := range n.cfg.Receivers {
		rs := n.rcv[r.Name()]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.deliver(ctx, rs)
			if resend {
				n.resend(ctx, rs)
			}
		}()
	}
	wg.Wait()
	n.setPending()
}

// deliver sends one receiver's pending notifications in order until one
// fails; the receiver is then tried again after a backoff (or its
// Retry-After).
func (n *Notifier) deliver(ctx context.Context, rs *rstate) {
	name := rs.r.Name()
	for len(rs.queue) > 0 && ctx.Err() == nil {
		now := n.cfg.Now()
		if now.Before(rs.nextTry) {
			return
		}
		d := rs.queue[0]
		var nt Notification
		err := json.Unmarshal(d.Notification, &nt)
		if err == nil && now.Sub(d.Created) > n.cfg.GiveUpAfter {
			err = fmt.Errorf("not delivered within %s (last error: %s)", n.cfg.GiveUpAfter, d.LastError)
		}
		if err != nil {
			d.State, d.LastError, d.Updated = store.DeliveryDropped, err.Error(), now
			n.put(ctx, d)
			n.m.dropped.WithLabelValues(name).Inc()
			n.log.Error("notify: notification dropped", "receiver", name, "id", d.ID, "err", err)
			rs.queue = rs.queue[1:]
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = rs.r.Send(sctx, &nt, rs.lastSent[d.IncidentID])
		cancel()
		d.Attempts++
		d.Updated = n.cfg.Now()
		if err == nil {
			d.State, d.LastError = store.DeliverySent, ""
			n.put(ctx, d)
			rs.lastSent[d.IncidentID] = &nt
			rs.bo.Reset()
			rs.nextTry = time.Time{}
			rs.queue = rs.queue[1:]
			n.m.sent.WithLabelValues(name).Inc()
			n.m.delay.WithLabelValues(name).Observe(d.Updated.Sub(d.Created).Seconds())
			n.log.Info("notify: notification delivered", "receiver", name, "id", d.ID, "attempts", d.Attempts)
			continue
		}
		n.m.failed.WithLabelValues(name).Inc()
		wait := rs.bo.NextBackOff()
		if ra := retryAfterOf(err); ra > wait {
			wait = ra
		}
		rs.nextTry = d.Updated.Add(wait)
		d.NextAttempt, d.LastError = rs.nextTry, err.Error()
		n.put(ctx, d)
		n.log.Warn("notify: delivery failed; retrying", "receiver", name, "id", d.ID, "attempt", d.Attempts, "retry_in", wait.Round(time.Millisecond).String(), "err", err)
		return
	}
}

// put records a delivery's progress. A failure is logged: the delivery
// stays as it was in the outbox, so at worst it is sent again.
func (n *Notifier) put(ctx context.Context, d *store.Delivery) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := n.cfg.Outbox.PutDeliveries(pctx, []store.Delivery{*d}); err != nil {
		n.log.Warn("notify: delivery state not recorded (it may be sent again)", "receiver", d.Receiver, "id", d.ID, "state", d.State, "err", err)
	}
}

// resend keeps open incidents' alerts firing in Alertmanager.
func (n *Notifier) resend(ctx context.Context, rs *rstate) {
	am, ok := rs.r.(*Alertmanager)
	now := n.cfg.Now()
	if !ok || len(rs.queue) > 0 || now.Sub(rs.resentAt) < n.cfg.ResendEvery {
		return
	}
	rs.resentAt = now
	for id, nt := range rs.lastSent {
		if st := n.states[id]; st == nil || st.resolved || nt.Kind == KindResolved {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := am.Resend(sctx, nt)
		cancel()
		if err != nil {
			n.log.Warn("notify: alert re-send failed; trying again at the next", "receiver", am.Name(), "incident", id, "err", err)
			return
		}
	}
}

// Flush is replay's notifier: it decides the notifications of a finished
// log's incidents (opened, nothing resolves; what the outbox already holds
// is not decided again) and delivers them, returning when every receiver
// acknowledged everything or ctx ends. Open alerts last ResolveAfter in
// Alertmanager.
func (n *Notifier) Flush(ctx context.Context, incs []incident.Incident) error {
	for _, r := range n.cfg.Receivers {
		if am, ok := r.(*Alertmanager); ok {
			am.openFor = n.cfg.ResolveAfter
		}
	}
	now := n.cfg.Now()
	if err := n.load(ctx, now); err != nil {
		return err
	}
	if err := n.decide(ctx, incs, true, now, true); err != nil {
		return err
	}
	for {
		n.deliverAll(ctx, false)
		var next time.Time
		pending := 0
		for _, rs := range n.rcv {
			pending += len(rs.queue)
			if len(rs.queue) > 0 && (next.IsZero() || rs.nextTry.Before(next)) {
				next = rs.nextTry
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d notifications not delivered: %w", pending, ctx.Err())
		case <-time.After(max(time.Until(next), 10*time.Millisecond)):
		}
	}
}
