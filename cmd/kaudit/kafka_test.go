package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/spf13/viper"

	"github.com/kaudit/kaudit/ingest"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
	"github.com/kaudit/kaudit/redact"
)

// hasIncidentOf reports whether the query API lists an incident with the
// actor.
func hasIncidentOf(t *testing.T, p *kauditProc, actor string) bool {
	t.Helper()
	code, body := p.get("/api/v1/incidents", testAnalystToken)
	if code != http.StatusOK {
		t.Fatalf("/api/v1/incidents: %d %s", code, body)
	}
	var r struct {
		Incidents []struct {
			Actors []string `json:"actors"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("incidents JSON: %v", err)
	}
	for _, inc := range r.Incidents {
		for _, a := range inc.Actors {
			if a == actor {
				return true
			}
		}
	}
	return false
}

// Forwarding mode with real processes: the apiserver's own webhook client
// posts the intrusion log to a receiver (webhook.forward: kafka), which
// answers once Kafka has every event; a second kaudit consumes the topic
// into ClickHouse, where every event is once and mallory's incident shows.
func TestServeKafkaForwardingEndToEnd(t *testing.T) {
	c := kafkatest.Start(t, 4, []string{"kaudit-audit"})
	t.Setenv("KAUDIT_KAFKA_BROKERS", strings.Join(c.Brokers, ","))
	e := newServeEnv(t, "serve_kafka_forward")
	evs := webhooktest.Sample(t, sample)

	t.Setenv("KAUDIT_WEBHOOK_FORWARD", "kafka")
	receiver := e.start()
	send(t, e.pki.Kubeconfig(t, receiver.webhook, testWebhookToken, false), evs)
	if n := c.Count(t, "kaudit-audit"); n != int64(len(evs)) {
		t.Fatalf("Kafka holds %d events after the receiver acknowledged %d", n, len(evs))
	}
	receiver.stop()
	if !strings.Contains(receiver.logs.String(), "does not consume") {
		t.Errorf("the receiver should say it does not consume:\n%s", tail(receiver.logs.String(), 20))
	}
	if rows, _ := e.stored(); rows != 0 {
		t.Fatalf("the receiver stored %d events itself; it should only forward", rows)
	}

	t.Setenv("KAUDIT_WEBHOOK_FORWARD", "store")
	consumer := e.start()
	eventually(t, 90*time.Second, "every event consumed into ClickHouse", func() bool {
		_, ids := e.stored()
		return ids == len(evs)
	})
	assertStoredOnce(t, e, len(evs))
	eventually(t, 60*time.Second, "mallory's incident on /api/v1/incidents", func() bool { return hasIncidentOf(t, consumer, "mallory") })
	// Entries are located at their partition and offset.
	code, body := consumer.get("/api/v1/timeline?actor=mallory", testAnalystToken)
	if code != http.StatusOK || !bytes.Contains(body, []byte("kafka:kaudit-audit/")) {
		t.Fatalf("timeline of mallory: %d, want entries located in Kafka: %s", code, body)
	}
	consumer.stop()
	if !strings.Contains(consumer.logs.String(), `"msg":"kafka: consumer stopped"`) {
		t.Errorf("the consumer's stop is not logged:\n%s", tail(consumer.logs.String(), 20))
	}
}

// Kafka settings that cannot work stop serve with the key to fix.
func TestServeKafkaBadSettings(t *testing.T) {
	c := kafkatest.Start(t, 1, []string{"kaudit-audit"})
	e := newServeEnv(t, "serve_kafka_bad")
	path := e.config()
	for key, want := range map[string]string{
		"KAUDIT_KAFKA_SASL_MECHANISM": "kafka.sasl.mechanism",
		"KAUDIT_KAFKA_TLS_CERT":       "kafka.tls.cert",
	} {
		t.Run(want, func(t *testing.T) {
			t.Setenv("KAUDIT_KAFKA_BROKERS", c.Brokers[0])
			t.Setenv(key, "bogus")
			var out, errOut bytes.Buffer
			code := run([]string{"serve", "--config", path}, strings.NewReader(""), &out, &errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), want) {
				t.Fatalf("exit %d, stderr %q; want %d naming %s", code, errOut.String(), exitUsage, want)
			}
		})
	}
}

// A consuming kaudit killed with SIGKILL mid-stream and started again on the
// same group: every event is in ClickHouse exactly once. A fifth of the
// stream is produced before the kill and the rest after it, so that the
// kill lands mid-stream however fast the consumer is.
func TestServeKafkaSIGKILLMidStream(t *testing.T) {
	lines := kafkatest.Copies(kafkatest.Lines(t, sample), 20000)
	msgs := actorMessages(t, lines)
	c := kafkatest.Start(t, 4, []string{"kaudit-audit"})
	c.Produce(t, "kaudit-audit", msgs[:len(msgs)/5])
	t.Setenv("KAUDIT_KAFKA_BROKERS", strings.Join(c.Brokers, ","))
	t.Setenv("KAUDIT_KAFKA_BATCH_MESSAGES", "1000")
	// The killed member holds its partitions until its session times out.
	t.Setenv("KAUDIT_KAFKA_SESSION_TIMEOUT", "2s")
	t.Setenv("KAUDIT_KAFKA_HEARTBEAT_INTERVAL", "200ms")
	e := newServeEnv(t, "serve_kafka_kill")

	first := e.start()
	eventually(t, 90*time.Second, "some events stored", func() bool { _, ids := e.stored(); return ids > 0 })
	first.kill()
	_, before := e.stored()
	if before >= len(lines) {
		t.Fatalf("all %d events were stored before the kill; the kill should come mid-stream", before)
	}
	c.Produce(t, "kaudit-audit", msgs[len(msgs)/5:])

	second := e.start()
	eventually(t, 120*time.Second, "every event after the restart", func() bool { _, ids := e.stored(); return ids == len(lines) })
	assertStoredOnce(t, e, len(lines))
	second.stop()
	t.Logf("%d of %d events stored when the first kaudit was killed", before, len(lines))
}

// Secrets never reach Kafka: the forwarder redacts what the webhook took
// before writing it, whatever the store side does later.
func TestKafkaForwarderRedactsBeforeKafka(t *testing.T) {
	c := kafkatest.Start(t, 1, []string{"kaudit-audit"})
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, v: viper.New()}
	a.v.Set(keyKafkaBrokers, c.Brokers)
	a.v.Set("redact.key", "forwarder-test-key")
	acc, err := a.kafkaForwarder()
	if err != nil {
		t.Fatal(err)
	}
	var b ingest.Batch
	for _, l := range kafkatest.Lines(t, "../../testdata/secrets-requestresponse.log") {
		ev, err := ingest.DecodeEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Records = append(b.Records, ingest.Record{Event: ev, Location: "webhook:test"})
	}
	if err := acc.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := acc.Close(); err != nil {
		t.Fatal(err)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.Brokers, Topic: "kaudit-audit", Partition: 0, MaxWait: time.Second})
	defer r.Close()
	var all []byte
	for range b.Records {
		m, err := r.ReadMessage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, m.Value...)
	}
	for _, secret := range []string{"hunter2", "REFUQS1odW50ZXIy", "TElTVFVTRVItYXBw"} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("Kafka holds the secret %q", secret)
		}
	}
	if !bytes.Contains(all, []byte(redact.MarkerPrefix)) {
		t.Error("no redaction marker in what was forwarded")
	}
}
