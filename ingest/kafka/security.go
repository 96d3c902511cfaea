package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// tlsConfig builds the client TLS configuration, or nil when TLS is off.
func (c *Config) tlsConfig() (*tls.Config, error) {
	t := c.TLS
	if !t.on() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca: %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert/kafka.tls.key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if t.InsecureSkipVerify {
		c.Log().Warn("kafka: kafka.tls.insecure_skip_verify is set; the brokers' certificates are not checked")
	}
	return tc, nil
}

// mechanism builds the SASL mechanism, or nil when SASL is off.
func (c *Config) mechanism() (sasl.Mechanism, error) {
	s := c.SASL
	switch strings.ToLower(s.Mechanism) {
	case "":
		return nil, nil
	case SASLPlain:
		if !c.TLS.on() {
			c.Log().Warn("kafka: SASL/PLAIN without TLS sends the password in clear")
		}
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256:
		m, err := scram.Mechanism(scram.SHA256, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		return m, nil
	case SASLScramSHA512:
		m, err := scram.Mechanism(scram.SHA512, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: %q, want plain, scram-sha-256 or scram-sha-512", s.Mechanism)
}

// dialer is how a Reader reaches the brokers.
func (c *Config) dialer() (*kafkago.Dialer, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	m, err := c.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafkago.Dialer{
		ClientID:      c.clientID(),
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           tc,
		SASLMechanism: m,
	}, nil
}

// transport is how a Writer (the forwarder, the dead-letter writer) reaches
// the brokers.
func (c *Config) transport() (*kafkago.Transport, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	m, err := c.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafkago.Transport{
		Dial:     (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ClientID: c.clientID(),
		TLS:      tc,
		SASL:     m,
	}, nil
}

func (c *Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return "kaudit"
}
