package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
	"github.com/kaudit/kaudit/ingest/webhook/webhooktest"
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
	// Secrets were redacted before they left the receiver.
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
