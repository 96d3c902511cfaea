// Package webhooktest helps tests talk to kaudit's webhook the way
// kube-apiserver does: a private CA with a server certificate for
// 127.0.0.1 and a client certificate, and the webhook kubeconfig the
// apiserver's audit webhook client reads.
package webhooktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway CA with one server and one client certificate, as
// PEM files in a test's temporary directory.
type PKI struct {
	Dir                   string
	CAFile                string // the CA certificate (server and client CA alike)
	ServerCert, ServerKey string // for 127.0.0.1 and localhost
	ClientCert, ClientKey string // CN=kube-apiserver
	OtherCert, OtherKey   string // signed by an unrelated CA
}

// NewPKI writes the files into a new temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{Dir: dir}
	ca, caKey := selfSigned(t, "kaudit-test-ca")
	p.CAFile = writePEM(t, dir, "ca.crt", "CERTIFICATE", ca.Raw)
	p.ServerCert, p.ServerKey = issue(t, dir, "server", ca, caKey, x509.ExtKeyUsageServerAuth)
	p.ClientCert, p.ClientKey = issue(t, dir, "client", ca, caKey, x509.ExtKeyUsageClientAuth)
	other, otherKey := selfSigned(t, "unrelated-ca")
	p.OtherCert, p.OtherKey = issue(t, dir, "other", other, otherKey, x509.ExtKeyUsageClientAuth)
	return p
}

func selfSigned(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func issue(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	cn := name
	if name == "client" {
		cn = "kube-apiserver"
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".crt", "CERTIFICATE", der), writePEM(t, dir, name+".key", "EC PRIVATE KEY", kder)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Kubeconfig writes the webhook kubeconfig kube-apiserver reads from
// --audit-webhook-config-file: the server URL and CA, and the apiserver's
// credentials (a bearer token, a client certificate, or both, or neither
// when token is "" and withCert is false).
func (p *PKI) Kubeconfig(t testing.TB, url, token string, withCert bool) string {
	t.Helper()
	user := ""
	if token != "" {
		user += fmt.Sprintf("    token: %q\n", token)
	}
	if withCert {
		user += fmt.Sprintf("    client-certificate: %s\n    client-key: %s\n", p.ClientCert, p.ClientKey)
	}
	if user == "" {
		user = "    {}\n"
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kaudit
  cluster:
    server: %q
    certificate-authority: %s
users:
- name: kube-apiserver
  user:
%scontexts:
- name: webhook
  context: {cluster: kaudit, user: kube-apiserver}
current-context: webhook
`, url, p.CAFile, user)
	f, err := os.CreateTemp(p.Dir, "webhook-*.kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(cfg); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
