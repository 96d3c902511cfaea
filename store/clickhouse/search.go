package clickhouse

import (
	"strings"

	"github.com/kaudit/kaudit/store"
)

// objectTextSQL is store.ObjectText in SQL: "resource[/subresource]
// [namespace/]name", "" for a request on no resource.
const objectTextSQL = `if(resource = '', '', concat(resource, if(subresource = '', '', concat('/', subresource)),
	if(namespace != '', concat(' ', namespace, '/', name), if(name != '', concat(' ', name), ''))))`

// termColumns are the SQL expressions a term's field covers, as
// store.Term.Values lists them.
func termColumns(field string) []string {
	switch field {
	case store.FieldActor:
		return []string{"user", "impersonated_user"}
	case store.FieldObject:
		return []string{objectTextSQL}
	case store.FieldClient:
		return []string{"user_agent"}
	case store.FieldURI:
		return []string{"request_uri"}
	}
	return []string{"user", "impersonated_user", objectTextSQL, "user_agent", "request_uri"}
}

// addTerm adds a search term as a condition: LIKE on the lower-cased
// values, a glob's * and ? becoming % and _, a substring wrapped in %;
// empty values never match, as in store.Term.Matches.
func (w *where) addTerm(t store.Term) {
	like := likePattern(t)
	var ors []string
	var args []any
	for _, col := range termColumns(t.Field) {
		ors = append(ors, "("+col+" != '' AND lowerUTF8("+col+") LIKE ?)")
		args = append(args, like)
	}
	cond := "(" + strings.Join(ors, " OR ") + ")"
	if t.Exclude {
		cond = "NOT " + cond
	}
	w.add(cond, args...)
}

// likePattern turns a term's pattern into a LIKE pattern, escaping LIKE's
// own metacharacters.
func likePattern(t store.Term) string {
	var b strings.Builder
	if !t.IsGlob() {
		b.WriteByte('%')
	}
	for _, r := range t.Pattern {
		switch {
		case r == '*' && t.IsGlob():
			b.WriteByte('%')
		case r == '?' && t.IsGlob():
			b.WriteByte('_')
		case r == '%' || r == '_' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	if !t.IsGlob() {
		b.WriteByte('%')
	}
	return b.String()
}
