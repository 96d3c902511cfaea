package live

import (
	"fmt"

	json "github.com/goccy/go-json"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest"
)

// entryVersion is written in every spool entry, so that a later kaudit can
// still read (or knowingly set aside) what an earlier one spooled.
const entryVersion = 1

// entry is one spooled batch: its redacted events with their provenance
// and the findings detection made of them. JSON, because it is what the
// events are anyway and a person can read a set-aside entry.
type entry struct {
	Version  int              `json:"v"`
	Events   []spooledEvent   `json:"events"`
	Findings []detect.Finding `json:"findings"`
}

type spooledEvent struct {
	Location string         `json:"loc"`
	Event    *auditv1.Event `json:"event"`
}

func encodeEntry(recs []ingest.Record, findings []detect.Finding) ([]byte, error) {
	e := entry{Version: entryVersion, Events: make([]spooledEvent, len(recs)), Findings: findings}
	for i := range recs {
		e.Events[i] = spooledEvent{Location: recs[i].Location, Event: recs[i].Event}
	}
	return json.Marshal(&e)
}

func decodeEntry(data []byte) ([]ingest.Record, []detect.Finding, error) {
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, nil, fmt.Errorf("decode spool entry: %w", err)
	}
	if e.Version != entryVersion {
		return nil, nil, fmt.Errorf("spool entry version %d, this kaudit reads %d", e.Version, entryVersion)
	}
	recs := make([]ingest.Record, len(e.Events))
	for i, se := range e.Events {
		if se.Event == nil {
			return nil, nil, fmt.Errorf("spool entry: event %d missing", i)
		}
		// Redacted before it was spooled: never redact twice.
		recs[i] = ingest.Record{Event: se.Event, Location: se.Location, Redacted: true}
	}
	return recs, e.Findings, nil
}
