package clickhouse

import (
	"context"
	"fmt"
	"time"

	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/detect/baseline"
)

// judgedStage selects the stages detection judges (detect.Judgeable).
const judgedStage = `(stage IN ('ResponseComplete', 'Panic') OR stage = 'ResponseStarted' AND (verb = 'watch' OR subresource IN ('exec', 'attach', 'portforward', 'proxy')))`

// credentialWindow is how far back the routes of tokens are learned: a
// kubelet-minted token lives an hour, so a day covers every token in use
// without reading the event JSON of the whole baseline window.
const credentialWindow = 24 * time.Hour

// LearnBaseline learns, from the events of [since, until], what each actor
// did (store.BaselineReader). ClickHouse groups the requests by actor,
// action, source chain and user agent, so the baseline is read from a few
// rows per routine however many requests made it; the routes of tokens
// come from the last day's service-account requests only.
func (s *Store) LearnBaseline(ctx context.Context, b *baseline.Baseline, since, until time.Time) error {
	var w where
	w.window(since, until)
	// The stage detection judges: a request once (uniqExact(audit_id)
	// counts a long-running request's start and completion as one).
	w.add(judgedStage + " AND decision != 'forbid' AND code NOT IN (401, 403)")
	q := `SELECT if(impersonated_user != '', impersonated_user, user) AS actor, verb, api_group, resource, subresource, namespace,
	if(resource = '', splitByChar('?', request_uri)[1], '') AS path, source_ips, user_agent, uniqExact(audit_id), min(time_us), max(time_us)
FROM events` + w.sql() + `
GROUP BY actor, verb, api_group, resource, subresource, namespace, path, source_ips, user_agent`
	rows, err := s.conn.Query(ctx, q, w.args...)
	if err != nil {
		return fmt.Errorf("baseline query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var actor, verb, group, res, sub, ns, path, ua string
		var ips []string
		var n uint64
		var first, last int64
		if err := rows.Scan(&actor, &verb, &group, &res, &sub, &ns, &path, &ips, &ua, &n, &first, &last); err != nil {
			return fmt.Errorf("baseline query: %w", err)
		}
		r := baseline.Request{Actor: actor, Action: baseline.Action(verb, group, res, sub, ns, path), Networks: baseline.NetworksOf(ips),
			Route: detect.SourceNetworks(ips), Client: detect.Client(ua)}
		b.AddCount(r, int(n), time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC())
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("baseline query: %w", err)
	}
	from := until.Add(-credentialWindow)
	if since.After(from) {
		from = since
	}
	return s.learnRoutes(ctx, b, from, until)
}

// learnRoutes learns the routes each token was used from.
func (s *Store) learnRoutes(ctx context.Context, b *baseline.Baseline, since, until time.Time) error {
	var w where
	w.window(since, until)
	w.add("user LIKE 'system:serviceaccount:%' AND "+judgedStage+" AND position(event, ?) > 0", baseline.ClaimCredentialID)
	q := `SELECT visitParamExtractRaw(event, ?) AS cred, visitParamHas(event, ?) AS pod, source_ips, uniqExact(audit_id), min(time_us), max(time_us)
FROM events` + w.sql() + `
GROUP BY cred, pod, source_ips`
	rows, err := s.conn.Query(ctx, q, append([]any{baseline.ClaimCredentialID, baseline.ClaimPodName}, w.args...)...)
	if err != nil {
		return fmt.Errorf("baseline credentials query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var raw string
		var pod uint8
		var ips []string
		var n uint64
		var first, last int64
		if err := rows.Scan(&raw, &pod, &ips, &n, &first, &last); err != nil {
			return fmt.Errorf("baseline credentials query: %w", err)
		}
		var creds []string
		if json.Unmarshal([]byte(raw), &creds) != nil || len(creds) == 0 {
			continue
		}
		b.AddRoute(creds[0], detect.Route(ips, pod == 1), int(n), time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC())
	}
	return rows.Err()
}
