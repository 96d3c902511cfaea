package notify

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kaudit/kaudit/detect/rulefile"
)

// Receiver types.
const (
	TypeAlertmanager = "alertmanager"
	TypeWebhook      = "webhook"
	TypeSlack        = "slack"
)

// ReceiverConfig is one entry of notify.receivers.
type ReceiverConfig struct {
	// Name labels the receiver's metrics and its outbox rows: keep it
	// stable ("<type>-<index>" when not given).
	Name string
	Type string
	// URL is the receiver's address: Alertmanager's base URL, the webhook's
	// URL. A Slack webhook URL is a secret: it comes from URLFile.
	URL     string
	URLFile string
	// TLSCA is a PEM file of the CA that signs the receiver's certificate
	// (default: the system's roots).
	TLSCA string
	// SecretFile holds the webhook's HMAC-SHA256 key.
	SecretFile string
	// TokenFile holds a bearer token sent as Authorization (Alertmanager
	// behind an authenticating proxy, a webhook).
	TokenFile string
	// MinSeverity is the least severe incident this receiver hears of
	// (default: notify.min_severity).
	MinSeverity string
	// Match narrows the incidents: each list given must match (any of its
	// glob patterns, path.Match syntax).
	Match Match
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
}

// Match selects incidents by tactic, namespace and actor.
type Match struct {
	Tactics    []string
	Namespaces []string
	Actors     []string
}

// keys a receiver entry may hold; anything else is an error (a typo
// silently ignored would send nothing, or send to the wrong place).
var receiverKeys = []string{"name", "type", "url", "url_file", "tls_ca", "secret_file", "token_file", "min_severity", "match", "timeout"}

var matchKeys = []string{"tactics", "namespaces", "actors"}

// secretKeys are keys people try for secrets; secrets come from files.
var secretKeys = map[string]string{"secret": "secret_file", "token": "token_file", "password": "token_file", "bearer_token": "token_file"}

// DecodeReceivers reads notify.receivers as YAML gives it (a list of maps).
// Errors name the entry and key ("receivers[1].url: ..."); the caller
// prefixes "notify.".
func DecodeReceivers(raw any) ([]ReceiverConfig, error) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("receivers: want a list of receivers, got %T", raw)
	}
	var out []ReceiverConfig
	names := map[string]bool{}
	for i, item := range list {
		at := fmt.Sprintf("receivers[%d]", i)
		m, ok := toStringMap(item)
		if !ok {
			return nil, fmt.Errorf("%s: want a map (type, url, ...), got %T", at, item)
		}
		var rc ReceiverConfig
		if err := decodeReceiver(at, m, &rc); err != nil {
			return nil, err
		}
		if rc.Name == "" {
			rc.Name = fmt.Sprintf("%s-%d", rc.Type, i)
		}
		if names[rc.Name] {
			return nil, fmt.Errorf("%s.name: %q is the name of an earlier receiver", at, rc.Name)
		}
		names[rc.Name] = true
		out = append(out, rc)
	}
	return out, nil
}

func toStringMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			out[fmt.Sprint(k)] = val
		}
		return out, true
	}
	return nil, false
}

// decodeReceiver reads one receiver of notify.receivers (at names it in
// errors). Long because it checks every key of a receiver in one place, each refusal
// naming the key: one place to read what a receiver may say.
func decodeReceiver(at string, m map[string]any, rc *ReceiverConfig) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if f, ok := secretKeys[lk]; ok {
			return fmt.Errorf("%s.%s: secrets are read from files, never from the configuration: put it in a file and name it in %s.%s", at, k, at, f)
		}
		if !slices.Contains(receiverKeys, lk) {
			return fmt.Errorf("%s.%s: unknown key (want %s)", at, k, strings.Join(receiverKeys, ", "))
		}
	}
	str := func(k string) (string, error) {
		v, ok := m[k]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s.%s: want a string, got %v", at, k, v)
		}
		return strings.TrimSpace(s), nil
	}
	var err error
	for k, dst := range map[string]*string{"name": &rc.Name, "type": &rc.Type, "url": &rc.URL, "url_file": &rc.URLFile, "tls_ca": &rc.TLSCA,
		"secret_file": &rc.SecretFile, "token_file": &rc.TokenFile, "min_severity": &rc.MinSeverity} {
		if *dst, err = str(k); err != nil {
			return err
		}
	}
	if t, err := str("timeout"); err != nil {
		return err
	} else if t != "" {
		if rc.Timeout, err = time.ParseDuration(t); err != nil || rc.Timeout <= 0 {
			return fmt.Errorf("%s.timeout %q: want a positive duration such as 10s", at, t)
		}
	}
	if mv, ok := m["match"]; ok && mv != nil {
		mm, ok := toStringMap(mv)
		if !ok {
			return fmt.Errorf("%s.match: want a map (tactics, namespaces, actors), got %T", at, mv)
		}
		for k, v := range mm {
			if !slices.Contains(matchKeys, k) {
				return fmt.Errorf("%s.match.%s: unknown key (want %s)", at, k, strings.Join(matchKeys, ", "))
			}
			list, err := stringList(v)
			if err != nil {
				return fmt.Errorf("%s.match.%s: %v", at, k, err)
			}
			for _, p := range list {
				if _, err := path.Match(p, ""); err != nil {
					return fmt.Errorf("%s.match.%s: pattern %q: %v", at, k, p, err)
				}
			}
			switch k {
			case "tactics":
				rc.Match.Tactics = list
			case "namespaces":
				rc.Match.Namespaces = list
			case "actors":
				rc.Match.Actors = list
			}
		}
	}
	return checkReceiver(at, rc)
}

func stringList(v any) ([]string, error) {
	switch l := v.(type) {
	case string:
		return []string{l}, nil
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("want strings, got %v", x)
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return l, nil
	}
	return nil, fmt.Errorf("want a list of strings, got %T", v)
}

// checkReceiver checks what can be checked without reading files.
func checkReceiver(at string, rc *ReceiverConfig) error {
	switch rc.Type {
	case TypeAlertmanager, TypeWebhook, TypeSlack:
	case "":
		return fmt.Errorf("%s.type is required (%s, %s or %s)", at, TypeAlertmanager, TypeWebhook, TypeSlack)
	default:
		return fmt.Errorf("%s.type %q: want %s, %s or %s", at, rc.Type, TypeAlertmanager, TypeWebhook, TypeSlack)
	}
	switch {
	case rc.Type == TypeSlack && rc.URL != "":
		return fmt.Errorf("%s.url: a Slack webhook URL is a secret: put it in a file and name it in %s.url_file", at, at)
	case rc.Type == TypeSlack && rc.URLFile == "":
		return fmt.Errorf("%s.url_file is required for a slack receiver (the incoming webhook's URL, which is a secret)", at)
	case rc.Type != TypeSlack && rc.URLFile != "":
		return fmt.Errorf("%s.url_file is only for slack receivers; give %s.url", at, at)
	case rc.Type != TypeSlack && rc.URL == "":
		return fmt.Errorf("%s.url is required", at)
	}
	if rc.URL != "" {
		if err := checkURL(rc.URL); err != nil {
			return fmt.Errorf("%s.url: %v", at, err)
		}
	}
	if rc.Type == TypeWebhook && rc.SecretFile == "" {
		return fmt.Errorf("%s.secret_file is required for a webhook receiver: its notifications are signed with HMAC-SHA256", at)
	}
	if rc.Type != TypeWebhook && rc.SecretFile != "" {
		return fmt.Errorf("%s.secret_file is only for webhook receivers", at)
	}
	if rc.MinSeverity != "" {
		sev, err := rulefile.ParseSeverity(rc.MinSeverity)
		if err != nil {
			return fmt.Errorf("%s.min_severity: %v", at, err)
		}
		rc.MinSeverity = sev
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	return nil
}

// readSecret reads a secret file: its content without surrounding space.
// An empty file is an error.
func readSecret(at, key, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s.%s: %v", at, key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s.%s: %s is empty", at, key, file)
	}
	return s, nil
}

// httpClient is a receiver's client: its CA when given, a timeout per
// attempt.
func httpClient(at string, rc *ReceiverConfig) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if rc.TLSCA != "" {
		pem, err := os.ReadFile(rc.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("%s.tls_ca: %v", at, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.tls_ca: no PEM certificate in %s", at, rc.TLSCA)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	timeout := rc.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
