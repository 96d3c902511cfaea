package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate of webhook.tls.cert/key and picks up
// a new one when the files change, without a restart: cert-manager renews
// the Secret the pods mount, the kubelet swaps the files, and kaudit must
// not go on serving the old certificate until it expires. The files are
// looked at, at most once every checkEvery, during a TLS handshake; a pair
// that does not load (caught between two writes) leaves the current
// certificate in place until the next look.
type certReloader struct {
	certFile, keyFile string
	checkEvery        time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string // what the files looked like when cert was loaded
	lastCheck time.Time
}

func newCertReloader(certFile, keyFile string, cert tls.Certificate) *certReloader {
	return &certReloader{certFile: certFile, keyFile: keyFile, checkEvery: 10 * time.Second,
		cert: &cert, stamp: fileStamp(certFile, keyFile), lastCheck: time.Now()}
}

// getCertificate is tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastCheck) >= r.checkEvery {
		r.lastCheck = now
		if s := fileStamp(r.certFile, r.keyFile); s != r.stamp {
			if c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile); err == nil {
				r.cert, r.stamp = &c, s
			}
		}
	}
	return r.cert, nil
}

// fileStamp changes when either file is replaced or rewritten (a Secret
// volume replaces them through a symbolic link; os.Stat follows it).
func fileStamp(files ...string) string {
	var s string
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return ""
		}
		s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return s
}
