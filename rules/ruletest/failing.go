package ruletest

import (
	"io/fs"
	"testing/fstest"

	"github.com/kaudit/kaudit/detect/rulefile"
)

// failingRule is a site's rule that fails at run time on a binding whose
// subject name is not a string (lower() of a number): the rule-error
// tests of the engine and of the live path judge with it.
const failingRule = `rules:
- id: subject-name-prefix
  title: subject names of a site's convention
  technique_id: MS-TA9019
  technique: Cluster-admin binding
  tactic: Privilege Escalation
  attack: [T1078.003]
  severity: low
  level: RequestResponse
  match: {verbs: [create], resources: [clusterrolebindings]}
  condition: 'any(get(object, "subjects") ?? [], {lower(get(#, "name")) startsWith "svc-"})'
`

// WithFailingRule returns the rules of library (rules.FS) plus
// subject-name-prefix, a site rule that fails at run time on a binding with
// a numeric subject name: for tests that a rule's runtime error costs no
// other rule and no event.
func WithFailingRule(library fs.FS) (*rulefile.RuleSet, error) {
	builtin, err := rulefile.LoadFS(library)
	if err != nil {
		return nil, err
	}
	user, err := rulefile.LoadFS(fstest.MapFS{"site.yaml": {Data: []byte(failingRule)}})
	if err != nil {
		return nil, err
	}
	return rulefile.Merge(builtin, user)
}
