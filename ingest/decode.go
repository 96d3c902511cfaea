package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Kinds and version accepted by the decoder.
const (
	APIVersion    = "audit.k8s.io/v1"
	KindEvent     = "Event"
	KindEventList = "EventList"
)

// wireEvent decodes an audit Event with faster timestamps: metav1.MicroTime
// parses each one through encoding/json, a tenth of the decoding time. The
// outer fields shadow the embedded ones, so everything else decodes into
// the apiserver's own type. They are time.Time, whose decoding reads the
// same RFC 3339 text (up to nanoseconds, null for none) and which the
// decoder knows keeps nothing of its input: a type of our own had its
// bytes copied for it, two allocations an event.
type wireEvent struct {
	auditv1.Event
	RequestReceivedTimestamp time.Time   `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time   `json:"stageTimestamp"`
	RequestObject            *wireObject `json:"requestObject"`
	ResponseObject           *wireObject `json:"responseObject"`
}

// wireObject is a request or response body, as runtime.Unknown holds it.
// runtime.Unknown copies the bytes it is given, which the decoder has just
// copied out of the document for it: every body was copied twice.
type wireObject runtime.Unknown

// UnmarshalJSON keeps b, the decoder's own copy of the body, as what
// runtime.Unknown's would have made of it.
func (w *wireObject) UnmarshalJSON(b []byte) error {
	*w = wireObject{Raw: b, ContentType: runtime.ContentTypeJSON}
	return nil
}

// ItemError is one bad item of an EventList: its index and what is wrong.
type ItemError struct {
	Index  int
	Reason string
}

// DecodeEvent decodes one JSON document that must be a single audit Event,
// as the apiserver writes one per line with --audit-log-format=json. Items of
// an EventList carry no kind or apiVersion; both are accepted when absent.
func DecodeEvent(data []byte) (*auditv1.Event, error) {
	w := new(wireEvent)
	if err := json.Unmarshal(data, w); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", shortJSONError(err))
	}
	return w.event()
}

// event is w as the apiserver's type, checked as every stored event must
// be (Validate).
func (w *wireEvent) event() (*auditv1.Event, error) {
	ev := &w.Event
	ev.RequestReceivedTimestamp.Time = w.RequestReceivedTimestamp
	ev.StageTimestamp.Time = w.StageTimestamp
	ev.RequestObject, ev.ResponseObject = (*runtime.Unknown)(w.RequestObject), (*runtime.Unknown)(w.ResponseObject)
	if ev.Kind == KindEventList {
		return nil, errors.New("an EventList where an Event was expected")
	}
	if err := Validate(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// DecodeBatch decodes one JSON document found at loc: a single audit Event
// (a log line) or an EventList (a webhook body, a Kafka message, a saved
// list). A lone event is located at loc; the items of a list at loc#INDEX,
// their index in the list as sent. Bad items are reported twice over: as
// BadInputs of the batch, at their own loc#INDEX, and as ItemErrors, for a
// source that answers its client by index (the webhook). err is set only
// when the document as a whole cannot be read; a bad item never costs the
// good ones beside it. Every source decodes through here.
func DecodeBatch(data []byte, loc string) (b Batch, items []ItemError, err error) {
	return DecodeBatchFunc(data, loc, nil)
}

// looksLikeList is a cheap test that spares the common single-event line a
// second parse: only documents that mention EventList are parsed as lists.
func looksLikeList(data []byte) bool {
	// Log lines written by the apiserver start with their kind: skip the
	// scan of the whole line for them.
	if bytes.HasPrefix(data, []byte(`{"kind":"Event",`)) {
		return false
	}
	return bytes.Contains(data, []byte(`"EventList"`))
}

// Validate checks what every stored event must have: a known kind and
// version (when given), an audit ID, a known stage and the time the request
// was received.
func Validate(ev *auditv1.Event) error {
	if ev.Kind != "" && ev.Kind != KindEvent {
		return fmt.Errorf("kind %q, want %q", ev.Kind, KindEvent)
	}
	if ev.APIVersion != "" && ev.APIVersion != APIVersion {
		return fmt.Errorf("apiVersion %q, want %q", ev.APIVersion, APIVersion)
	}
	if ev.AuditID == "" {
		return errors.New("missing auditID")
	}
	switch ev.Stage {
	case auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete, auditv1.StagePanic:
	case "":
		return errors.New("missing stage")
	default:
		return fmt.Errorf("unknown stage %q", ev.Stage)
	}
	if ev.RequestReceivedTimestamp.IsZero() {
		return errors.New("missing requestReceivedTimestamp")
	}
	if ev.StageTimestamp.IsZero() {
		ev.StageTimestamp = ev.RequestReceivedTimestamp
	}
	return nil
}

// shortJSONError keeps decoder messages to one readable line: some decoders
// quote large parts of the input in their errors.
func shortJSONError(err error) error {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return errors.New(msg)
}
