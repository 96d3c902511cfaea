package baseline

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// snapshotVersion is written in every snapshot, so that a later kaudit
// reads (or knowingly refuses) an earlier one's.
const snapshotVersion = 1

type snapshot struct {
	Kind     string    `json:"kind"` // always "KauditBaseline"
	Version  int       `json:"version"`
	Baseline *Baseline `json:"baseline"`
}

// Write writes the baseline as gzipped JSON. The same baseline always gives
// the same bytes (map keys are written in order), so snapshots of the same
// history compare equal.
func (b *Baseline) Write(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(zw)
	if err := enc.Encode(snapshot{Kind: "KauditBaseline", Version: snapshotVersion, Baseline: b}); err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	return zw.Close()
}

// WriteFile writes the baseline snapshot to path.
func (b *Baseline) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := b.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// Read reads a snapshot written by Write.
func Read(r io.Reader) (*Baseline, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("baseline snapshot: %w", err)
	}
	var s snapshot
	if err := json.NewDecoder(zr).Decode(&s); err != nil {
		return nil, fmt.Errorf("baseline snapshot: %w", err)
	}
	if s.Kind != "KauditBaseline" || s.Baseline == nil {
		return nil, fmt.Errorf("baseline snapshot: not a kaudit baseline (kind %q)", s.Kind)
	}
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("baseline snapshot version %d, this kaudit reads %d", s.Version, snapshotVersion)
	}
	b := s.Baseline
	if b.Identities == nil {
		b.Identities = map[string]*Identity{}
	}
	if b.Credentials == nil {
		b.Credentials = map[string]map[string]*Seen{}
	}
	return b, nil
}

// IsSnapshot reports whether the start of a file is a snapshot (gzip whose
// JSON opens with the snapshot's kind) rather than an audit log, so that
// --baseline takes either.
func IsSnapshot(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	const prefix = `{"kind":"KauditBaseline"`
	head := make([]byte, len(prefix))
	n, _ := io.ReadFull(zr, head)
	return string(head[:n]) == prefix
}
