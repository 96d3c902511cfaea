package store

import (
	"fmt"
	"strings"
)

// Search fields a Term can name. FieldAny matches any of them.
const (
	FieldAny    = ""
	FieldActor  = "actor"  // the user or the impersonated user
	FieldObject = "object" // ObjectText: "configmaps kube-system/coredns"
	FieldClient = "client" // the user agent
	FieldURI    = "uri"    // the request URI
)

// searchFields are the fields a word may name before a colon.
var searchFields = []string{FieldActor, FieldObject, FieldClient, FieldURI}

// Limits of a search, so that one query cannot grow without bound.
const (
	maxTerms         = 16
	maxPatternLength = 256
)

// Term is one word of a timeline search, as an analyst types it in the
// timeline's search box or in `kaudit timeline --search`:
//
//	coredns          any field contains "coredns" (case-insensitive)
//	actor:*backup*   the actor matches the glob (* any run, ? one character)
//	-system:*        leave out requests whose actor, object, client or URI matches
//	client:curl      the user agent contains "curl"
//	uri:/exec        the request URI contains "/exec"
//
// A pattern with * or ? is a glob matched against the whole value, else a
// substring. Both stores match terms alike (ClickHouse in SQL).
type Term struct {
	// Field is one of the Field constants.
	Field string `json:"field,omitempty"`
	// Pattern is lower-case: matching ignores case.
	Pattern string `json:"pattern"`
	// Exclude leaves out what the pattern matches.
	Exclude bool `json:"exclude,omitempty"`
}

// ParseTerms reads a search: words separated by spaces, each
// [-][field:]pattern. A word whose prefix before the colon names no field
// ("system:*") is a pattern over every field.
func ParseTerms(s string) ([]Term, error) {
	words := strings.Fields(s)
	if len(words) > maxTerms {
		return nil, fmt.Errorf("search %q: %d words, at most %d", s, len(words), maxTerms)
	}
	var out []Term
	for _, w := range words {
		t := Term{}
		if strings.HasPrefix(w, "-") {
			t.Exclude, w = true, w[1:]
		}
		if field, rest, ok := strings.Cut(w, ":"); ok && isSearchField(field) {
			t.Field, w = field, rest
		}
		if w == "" {
			return nil, fmt.Errorf("search %q: a word has no pattern (write -system:* or actor:name)", s)
		}
		if len(w) > maxPatternLength {
			return nil, fmt.Errorf("search: a pattern longer than %d characters", maxPatternLength)
		}
		t.Pattern = strings.ToLower(w)
		out = append(out, t)
	}
	return out, nil
}

func isSearchField(f string) bool {
	for _, k := range searchFields {
		if f == k {
			return true
		}
	}
	return false
}

// IsGlob reports whether the pattern is a glob (holds * or ?), matched
// against a whole value, rather than a substring.
func (t Term) IsGlob() bool { return strings.ContainsAny(t.Pattern, "*?") }

// String writes the term back as it is typed.
func (t Term) String() string {
	s := t.Pattern
	if t.Field != FieldAny {
		s = t.Field + ":" + s
	}
	if t.Exclude {
		s = "-" + s
	}
	return s
}

// Values lists the entry's values the term's field covers.
func (t Term) Values(e *Entry) []string {
	switch t.Field {
	case FieldActor:
		return []string{e.User, e.ImpersonatedUser}
	case FieldObject:
		return []string{ObjectText(e)}
	case FieldClient:
		return []string{e.UserAgent}
	case FieldURI:
		return []string{e.RequestURI}
	}
	return []string{e.User, e.ImpersonatedUser, ObjectText(e), e.UserAgent, e.RequestURI}
}

// Matches reports whether the entry passes the term (an excluding term
// passes what its pattern does not match).
func (t Term) Matches(e *Entry) bool {
	hit := false
	for _, v := range t.Values(e) {
		if v != "" && t.MatchString(v) {
			hit = true
			break
		}
	}
	return hit != t.Exclude
}

// MatchString matches the pattern against one value, ignoring case.
func (t Term) MatchString(v string) bool {
	v = strings.ToLower(v)
	if t.IsGlob() {
		return globMatch(t.Pattern, v)
	}
	return strings.Contains(v, t.Pattern)
}

// globMatch matches a whole string against a glob of * (any run, / too)
// and ? (one character).
func globMatch(pattern, s string) bool {
	p, v := []rune(pattern), []rune(s)
	pi, vi, star, mark := 0, 0, -1, 0
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, vi
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			vi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// ObjectText is the object of a request as a search sees it:
// "resource[/subresource] [namespace/]name", "pods team-a/" for a
// collection in a namespace, "secrets" across the cluster, and "" for a
// request on no resource (/version, /healthz).
func ObjectText(e *Entry) string {
	if e.Resource == "" {
		return ""
	}
	s := e.Resource
	if e.Subresource != "" {
		s += "/" + e.Subresource
	}
	switch {
	case e.Namespace != "":
		s += " " + e.Namespace + "/" + e.Name
	case e.Name != "":
		s += " " + e.Name
	}
	return s
}

// FilterActor sets the actor filter as an analyst types it: a plain name
// matches the user or the impersonated user exactly (the stores' fast
// path); a glob (* or ?), or a pattern after - (leave out the actors it
// matches), becomes a term on the actor.
func (q *Query) FilterActor(v string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	exclude := strings.HasPrefix(v, "-")
	if exclude && strings.TrimSpace(v[1:]) == "" {
		return
	}
	if !exclude && !strings.ContainsAny(v, "*?") {
		q.Actor = v
		return
	}
	q.Terms = append(q.Terms, Term{Field: FieldActor, Pattern: strings.ToLower(strings.TrimPrefix(v, "-")), Exclude: exclude})
}
