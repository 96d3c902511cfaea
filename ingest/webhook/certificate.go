package webhook

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// certificate returns the identity of a verified client certificate and
// whether it may authenticate: with webhook.tls.client_subjects set, only
// when its subject common name or one of its subject alternative names is
// listed. A client CA often signs more than the apiserver's certificate
// (kubelets', other components'); any of them would otherwise post events.
func (h *Handler) certificate(leaf *x509.Certificate) (string, bool) {
	id := "cert:" + leaf.Subject.CommonName
	if leaf.Subject.CommonName == "" {
		sum := sha256.Sum256(leaf.Raw)
		id = "cert:sha256:" + hex.EncodeToString(sum[:8])
	}
	if h.subjects == nil {
		return id, true
	}
	names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
	names = append(names, leaf.EmailAddresses...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	for _, u := range leaf.URIs {
		names = append(names, u.String())
	}
	for _, n := range names {
		if n != "" && h.subjects[n] {
			return id, true
		}
	}
	return "", false
}
