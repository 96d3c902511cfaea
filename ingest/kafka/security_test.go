package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kaudit/kaudit/detect"
	"github.com/kaudit/kaudit/ingest/kafka"
	"github.com/kaudit/kaudit/ingest/kafka/kafkatest"
)

// selfSigned writes a CA file for 127.0.0.1 and returns it with the
// server's TLS configuration.
func selfSigned(t *testing.T) (caFile string, server *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// Brokers that need TLS and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512):
// forwarding and consuming both authenticate; a wrong password is refused.
func TestTLSAndSASL(t *testing.T) {
	caFile, serverTLS := selfSigned(t)
	c := kafkatest.Start(t, 2, []string{"audit"},
		kfake.TLS(serverTLS), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256-user", "scram256-pass"),
		kfake.Superuser("SCRAM-SHA-512", "scram512-user", "scram512-pass"))
	lines := kafkatest.Lines(t, samplePath)[:60]
	batches := webhookBatches(t, lines)

	total := 0
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			user := map[string]string{kafka.SASLPlain: "plain", kafka.SASLScramSHA256: "scram256", kafka.SASLScramSHA512: "scram512"}[mech]
			cfg := testConfig(c, "audit", "group-"+mech)
			cfg.TLS = kafka.TLSConfig{CAFile: caFile}
			cfg.SASL = kafka.SASLConfig{Mechanism: mech, Username: user + "-user", Password: user + "-pass"}
			fwd, err := kafka.NewForwarder(cfg, detect.ActorOf)
			if err != nil {
				t.Fatal(err)
			}
			defer fwd.Close()
			forward(t, fwd, batches)
			total += len(lines)

			counter := newCounter()
			r := start(t, cfg, newPipeline(t, counter))
			waitFor(t, "every event over TLS and SASL", func() bool { _, n := counter.counts(); return n == total })
			r.stop(t)

			bad := cfg
			bad.SASL.Password = "wrong"
			fwdBad, err := kafka.NewForwarder(bad, detect.ActorOf)
			if err != nil {
				t.Fatal(err)
			}
			defer fwdBad.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := fwdBad.Accept(ctx, batches[0]); err == nil {
				t.Error("a wrong password was accepted")
			}
		})
	}
}

// Settings that cannot work stop the start with the key to fix.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  kafka.Config
		want string
	}{
		{kafka.Config{Topic: "a", Group: "g"}, "kafka.brokers"},
		{kafka.Config{Brokers: []string{"b:9092"}, Group: "g"}, "kafka.topic"},
		{kafka.Config{Brokers: []string{"b:9092"}, Topic: "a"}, "kafka.group"},
		{kafka.Config{Brokers: []string{"b:9092"}, Topic: "a", Group: "g", SASL: kafka.SASLConfig{Mechanism: "gssapi", Username: "u"}}, "kafka.sasl.mechanism"},
		{kafka.Config{Brokers: []string{"b:9092"}, Topic: "a", Group: "g", SASL: kafka.SASLConfig{Mechanism: "plain"}}, "kafka.sasl.username"},
		{kafka.Config{Brokers: []string{"b:9092"}, Topic: "a", Group: "g", TLS: kafka.TLSConfig{CertFile: "c"}}, "kafka.tls.cert"},
		{kafka.Config{Brokers: []string{"b:9092"}, Topic: "a", Group: "g", TLS: kafka.TLSConfig{CAFile: "/nonexistent"}}, "kafka.tls.ca"},
		{kafka.Config{Brokers: []string{"b:9092"}, Topic: "a", Group: "g", DeadLetterTopic: "a"}, "kafka.dead_letter_topic"},
	} {
		_, err := kafka.NewConsumer(tc.cfg, acceptorFunc(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to name %s", tc.cfg, err, tc.want)
		}
	}
}
