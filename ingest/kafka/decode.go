package kafka

import (
	"bytes"
	"errors"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/kaudit/kaudit/ingest"
)

// Location is where a message sits, in the form ingest.Record.Location
// uses: "kafka:TOPIC/PARTITION/OFFSET".
func Location(m *kafkago.Message) string {
	return fmt.Sprintf("kafka:%s/%d/%d", m.Topic, m.Partition, m.Offset)
}

// decoded is what one message yielded: its events, and the reason it (or
// some of its items) could not be read. A message with a reason goes to the
// dead-letter topic even when some of its items were good.
type decoded struct {
	records []ingest.Record
	bad     []ingest.BadInput
	reason  string
}

// decodeMessage reads one message: one Event as JSON (one audit log line,
// what log shippers send) or one EventList (what the webhook sends). Items
// of a list are located as "kafka:TOPIC/PARTITION/OFFSET#N".
func decodeMessage(m *kafkago.Message) decoded {
	loc := Location(m)
	value := bytes.TrimSpace(m.Value)
	if len(value) == 0 {
		return badMessage(loc, errors.New("empty message"))
	}
	b, items, err := ingest.DecodeBatch(value, loc)
	if err != nil {
		return badMessage(loc, err)
	}
	d := decoded{records: b.Records, bad: b.Bad}
	if len(items) > 0 {
		d.reason = fmt.Sprintf("%d bad item(s) in an EventList, first: item %d: %s", len(items), items[0].Index, items[0].Reason)
	}
	return d
}

func badMessage(loc string, err error) decoded {
	return decoded{bad: []ingest.BadInput{{Location: loc, Reason: err.Error()}}, reason: err.Error()}
}
