// Package detect runs kaudit's rules on audit events. An Engine compiles a
// rule set (read by detect/rulefile) once, indexes it by resource, verb and
// API group, and evaluates each event against the rules it could match,
// with expr (github.com/expr-lang/expr) over the typed environment Env. A
// rule that fires makes a Finding. Sequence rules keep state across events
// (state.go), always in the events' own time, so that replaying a log gives
// the findings the live run gave.
//
// The facts of an event every stage reads alike (its actor, whether it was
// denied, its time, whether detection judges this stage) are in event.go.
// Correlation of findings into incidents is detect/incident.
//
// The package may import ingest and detect/rulefile; it knows nothing of
// redaction, storage or sources.
package detect
