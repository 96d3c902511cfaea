package pipeline

import "github.com/kaudit/kaudit/detect/incident"

// Prune bounds the correlation state of a long-running pipeline (kaudit
// serve): see incident.Limits.
func (p *Pipeline) Prune(l incident.Limits) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.correlator.Prune(l)
}

// CorrelatorSize reports the findings, requests and links the correlator
// holds, for metrics.
func (p *Pipeline) CorrelatorSize() (findings, touches, links int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.correlator.Size()
}
