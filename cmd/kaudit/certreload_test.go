package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeServerCert(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	// Replace both files the way a Secret volume does: new files, renamed
	// into place.
	for f, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(f+".new", b, 0600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".new", f); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func servedCN(t *testing.T, r *certReloader) string {
	t.Helper()
	c, err := r.getCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

// A renewed certificate (cert-manager writing the mounted Secret) is
// served without a restart; a broken pair keeps the current one.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeServerCert(t, dir, "first")
	tc, err := serverTLS(certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := tls.LoadX509KeyPair(certFile, keyFile)
	r := newCertReloader(certFile, keyFile, cert)
	r.checkEvery = 0
	if cn := servedCN(t, r); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	if tc.GetCertificate == nil {
		t.Fatal("serverTLS does not reload its certificate")
	}

	writeServerCert(t, dir, "renewed")
	if cn := servedCN(t, r); cn != "renewed" {
		t.Errorf("after renewal: served %q", cn)
	}

	if err := os.WriteFile(keyFile, []byte("half written"), 0600); err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, r); cn != "renewed" {
		t.Errorf("with a broken key file: served %q, want the last good certificate", cn)
	}

	// At most one look every checkEvery.
	r.checkEvery = time.Hour
	writeServerCert(t, dir, "third")
	if cn := servedCN(t, r); cn != "renewed" {
		t.Errorf("looked again within checkEvery: served %q", cn)
	}
}
