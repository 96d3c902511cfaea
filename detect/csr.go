package detect

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"

	"github.com/expr-lang/expr"
)

// What a CertificateSigningRequest asks for: the subject of the PEM
// request in spec.request, which is who the certificate will say its
// holder is (CN the user, O the groups).

// CSRSubject returns the CN and Os of a CSR object's spec.request, or
// nothing when it cannot be read (a body not recorded, a request that is
// not a PEM certificate request).
func CSRSubject(obj any) (cn string, orgs []string, ok bool) {
	raw, _ := getPath(obj, "spec.request").(string)
	if raw == "" {
		return "", nil, false
	}
	der, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "", nil, false
	}
	block, _ := pem.Decode(der)
	if block == nil || !strings.Contains(block.Type, "CERTIFICATE REQUEST") {
		return "", nil, false
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return "", nil, false
	}
	return req.Subject.CommonName, req.Subject.Organization, true
}

// csrFunctions are the expr functions over CertificateSigningRequests.
func csrFunctions() []expr.Option {
	return []expr.Option{
		// csr_user(object): the user (CN) the certificate would name; ""
		// when the request cannot be read.
		expr.Function("csr_user", func(p ...any) (any, error) {
			cn, _, _ := CSRSubject(p[0])
			return cn, nil
		}, new(func(any) string)),
		// csr_groups(object): the groups (O) it would name.
		expr.Function("csr_groups", func(p ...any) (any, error) {
			_, orgs, _ := CSRSubject(p[0])
			out := make([]any, len(orgs))
			for i, o := range orgs {
				out[i] = o
			}
			return out, nil
		}, new(func(any) []any)),
	}
}
