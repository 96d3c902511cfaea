package kafka

import (
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

const goodItem = `{"auditID":"a%s","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z"}`

// Items of a list keep their index in their location, bad ones included,
// so an analyst can find each in the dead-letter copy of the message.
func TestDecodeMessageLocations(t *testing.T) {
	item := func(id string) string { return strings.Replace(goodItem, "%s", id, 1) }
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + item("0") + `,{"auditID":"x"},` + item("2") + `]}`
	d := decodeMessage(&kafkago.Message{Topic: "t", Partition: 3, Offset: 42, Value: []byte(list)})
	if len(d.records) != 2 || d.records[0].Location != "kafka:t/3/42#0" || d.records[1].Location != "kafka:t/3/42#2" {
		t.Fatalf("records %+v", d.records)
	}
	if len(d.bad) != 1 || d.bad[0].Location != "kafka:t/3/42#1" || !strings.Contains(d.reason, "item 1") {
		t.Fatalf("bad %+v reason %q", d.bad, d.reason)
	}

	d = decodeMessage(&kafkago.Message{Topic: "t", Partition: 0, Offset: 7, Value: []byte(item("9") + "\n")})
	if len(d.records) != 1 || d.records[0].Location != "kafka:t/0/7" || d.reason != "" {
		t.Fatalf("single event: %+v", d)
	}
	for _, v := range []string{"", "  ", "[1,2]", `{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[]}`} {
		d = decodeMessage(&kafkago.Message{Topic: "t", Value: []byte(v)})
		if len(d.records) != 0 || d.reason == "" || len(d.bad) != 1 {
			t.Errorf("%q: %+v, want one bad input with a reason", v, d)
		}
	}
}
