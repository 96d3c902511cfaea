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

// matrix is the shape of matrix.yaml.
type matrix struct {
	// Tactics are the matrix's tactics in kill-chain order.
	Tactics    []string         `json:"tactics"`
	Techniques []Technique      `json:"techniques"`
	Escalation []EscalationPath `json:"escalation"`
}

// EscalationPath is one way to become cluster-admin from a little access
// (Kubernetes' RBAC Good Practices), with the rules that cover it.
type EscalationPath struct {
	Path  string   `json:"path"`
	Rules []string `json:"rules"`
}

// Escalation returns the escalation paths of matrix.yaml.
func Escalation() ([]EscalationPath, error) {
	m, err := readMatrix()
	if err != nil {
		return nil, err
	}
	return m.Escalation, nil
}

func readMatrix() (*matrix, error) {
	data, err := FS.ReadFile("matrix.yaml")
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	var m matrix
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, fmt.Errorf("matrix.yaml: %w", err)
	}
	return &m, nil
}

// Matrix returns the technique table of the built-in library.
func Matrix() ([]Technique, error) {
	m, err := readMatrix()
	if err != nil {
		return nil, err
	}
	return m.Techniques, nil
}

// Tactics returns the matrix's tactics in kill-chain order, the one order
// every output lists them in (incidents, the web view's chips).
func Tactics() []string {
	m, err := readMatrix()
	if err != nil {
		// The file is embedded and checked by the package's tests: it
		// cannot fail to read in a built binary.
		panic("rules: " + err.Error())
	}
	return m.Tactics
}
