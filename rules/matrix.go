package rules

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Technique is one row of the technique table in matrix.yaml.
type Technique struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Tactics []string `json:"tactics"`
	Attack  []string `json:"attack,omitempty"`
	// Seen is whether the audit log can show the technique: yes, partly, no.
	Seen string `json:"seen"`
	// Level is the audit level the evidence needs.
	Level    string `json:"level,omitempty"`
	Evidence string `json:"evidence,omitempty"`
	// Limits says what of a partly visible technique stays unseen.
	Limits string `json:"limits,omitempty"`
	// Why says why the audit log cannot see it at all.
	Why string `json:"why,omitempty"`
	// BeyondMatrix marks kaudit's own techniques outside the matrix.
	BeyondMatrix bool `json:"beyond_matrix,omitempty"`
}

// Visible reports whether rules must cover the technique.
func (t Technique) Visible() bool { return t.Seen == "yes" || t.Seen == "partly" }

// Matrix returns the technique table of the built-in library.
func Matrix() ([]Technique, error) {
	data, err := FS.ReadFile("matrix.yaml")
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	var m struct {
		Techniques []Technique `json:"techniques"`
	}
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, fmt.Errorf("matrix.yaml: %w", err)
	}
	return m.Techniques, nil
}
