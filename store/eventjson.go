package store

import (
	"time"
	"unsafe"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// eventJSON is auditv1.Event as it marshals, field for field and in the
// same order, but for its timestamps: metav1.MicroTime marshals each one
// through encoding/json, which was a third of marshaling an event, and a
// MarshalJSON of our own still cost a quarter of rendering one (a layout
// parsed for each time, and the encoder checking what it returned). They
// are written as MicroTime writes them, as strings formatted beforehand
// (microTimes), or null when zero. TestEventJSONMirrorsEvent keeps the
// fields in step with the apiserver's type.
type eventJSON struct {
	metav1.TypeMeta          `json:",inline"`
	Level                    auditv1.Level                   `json:"level"`
	AuditID                  types.UID                       `json:"auditID"`
	Stage                    auditv1.Stage                   `json:"stage"`
	RequestURI               string                          `json:"requestURI"`
	Verb                     string                          `json:"verb"`
	User                     authnv1.UserInfo                `json:"user"`
	ImpersonatedUser         *authnv1.UserInfo               `json:"impersonatedUser,omitempty"`
	AuthenticationMetadata   *auditv1.AuthenticationMetadata `json:"authenticationMetadata,omitempty"`
	SourceIPs                []string                        `json:"sourceIPs,omitempty"`
	UserAgent                string                          `json:"userAgent,omitempty"`
	ObjectRef                *auditv1.ObjectReference        `json:"objectRef,omitempty"`
	ResponseStatus           *metav1.Status                  `json:"responseStatus,omitempty"`
	RequestObject            *runtime.Unknown                `json:"requestObject,omitempty"`
	ResponseObject           *runtime.Unknown                `json:"responseObject,omitempty"`
	RequestReceivedTimestamp *string                         `json:"requestReceivedTimestamp"`
	StageTimestamp           *string                         `json:"stageTimestamp"`
	Annotations              map[string]string               `json:"annotations,omitempty"`
}

// set makes e the marshaling of ev; it shares ev's slices, maps and bodies,
// and its times are text in times, which must outlive e's use.
func (e *eventJSON) set(ev *auditv1.Event, times *microTimes) {
	*e = eventJSON{
		TypeMeta: ev.TypeMeta, Level: ev.Level, AuditID: ev.AuditID, Stage: ev.Stage, RequestURI: ev.RequestURI,
		Verb: ev.Verb, User: ev.User, ImpersonatedUser: ev.ImpersonatedUser, AuthenticationMetadata: ev.AuthenticationMetadata,
		SourceIPs: ev.SourceIPs, UserAgent: ev.UserAgent, ObjectRef: ev.ObjectRef, ResponseStatus: ev.ResponseStatus,
		RequestObject: ev.RequestObject, ResponseObject: ev.ResponseObject,
		RequestReceivedTimestamp: times.text(0, ev.RequestReceivedTimestamp.Time), StageTimestamp: times.text(1, ev.StageTimestamp.Time),
		Annotations: ev.Annotations,
	}
}

// microTimes holds an event's two times as text, reused from event to event.
// The events of a batch fall in few seconds, and both times of one event
// mostly in the same: the text up to the second is kept with its second
// (unix, valid when known) and reused, so that only the microseconds are
// written again.
type microTimes struct {
	buf    [2][40]byte
	str    [2]string
	unix   int64
	known  bool
	prefix [len("2006-01-02T15:04:05.")]byte // of unix
}

// text is t as metav1.MicroTime marshals it, unquoted (nil: null, for the
// zero time), in slot i; valid until the slot is used again.
func (m *microTimes) text(i int, t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	var b []byte
	if sec := t.Unix(); m.known && sec == m.unix {
		b = appendDigits(append(m.buf[i][:0], m.prefix[:]...), t.Nanosecond()/1000, 6)
		b = append(b, 'Z')
	} else {
		b = appendMicroTime(m.buf[i][:0], t)
		// Only a four-digit year's text has the prefix's length.
		m.known = len(b) == len(m.prefix)+len("000000Z")
		if m.known {
			m.unix = sec
			copy(m.prefix[:], b)
		}
	}
	m.str[i] = unsafe.String(unsafe.SliceData(b), len(b))
	return &m.str[i]
}

// appendMicroTime appends t.UTC().Format(metav1.RFC3339Micro), with the
// digits written directly for the years that have four.
func appendMicroTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, metav1.RFC3339Micro)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends v (not negative) in n decimal digits, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	start := len(b)
	for range n {
		b = append(b, '0')
	}
	for i := len(b) - 1; i >= start; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}
