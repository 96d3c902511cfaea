package incident

import (
	json "github.com/goccy/go-json"

	"github.com/kaudit/kaudit/detect"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// LinksOf returns the identity links an event creates: a role binding that
// grants its subjects rights, a token minted for a service account, or a
// CertificateSigningRequest for a certificate that will name a user. Only
// requests the cluster carried out link anything.
func LinksOf(ev *auditv1.Event) []Link {
	ref := ev.ObjectRef
	if ref == nil || detect.IsDenied(ev) || (ev.ResponseStatus != nil && ev.ResponseStatus.Code >= 300) {
		return nil
	}
	binding := ref.APIGroup == "rbac.authorization.k8s.io" && (ref.Resource == "rolebindings" || ref.Resource == "clusterrolebindings") &&
		(ev.Verb == "create" || ev.Verb == "update" || ev.Verb == "patch")
	token := ref.Resource == "serviceaccounts" && ref.Subresource == "token" && ev.Verb == "create"
	csr := ref.Resource == "certificatesigningrequests" && ref.Subresource == "" && ev.Verb == "create"
	if !binding && !token && !csr {
		return nil // most events: no actor or time worked out (formatting the time was 2% of a replay)
	}
	from := detect.ActorOf(ev)
	at := detect.EventTime(ev)
	base := Link{From: from, AuditID: string(ev.AuditID), Time: at.Format(detect.TimeFormat), at: at}
	switch {
	case binding:
		return bindingLinks(ev, base)
	case token:
		l := base
		l.Kind = "token"
		l.To = "system:serviceaccount:" + ref.Namespace + ":" + ref.Name
		l.Object = "serviceaccounts/" + ref.Namespace + "/" + ref.Name
		return []Link{l}
	case csr:
		// Whoever later acts as the certificate's user may be the
		// requester holding it: the request's subject is in the body.
		var obj map[string]any
		if !decodeObject(ev, &obj) {
			return nil
		}
		cn, _, ok := detect.CSRSubject(obj)
		if !ok || cn == "" || cn == from {
			return nil
		}
		l := base
		l.Kind, l.To, l.Object = "certificate", cn, "certificatesigningrequests/"+ref.Name
		return []Link{l}
	}
	return nil
}

// bindingLinks links a binding's writer to each user and service account
// the binding grants rights.
func bindingLinks(ev *auditv1.Event, base Link) []Link {
	ref := ev.ObjectRef
	var b struct {
		RoleRef  struct{ Name string } `json:"roleRef"`
		Subjects []struct {
			Kind, Name, Namespace string
		} `json:"subjects"`
	}
	if !decodeObject(ev, &b) {
		return nil
	}
	obj := ref.Resource + "/" + ref.Name
	if ref.Namespace != "" {
		obj = ref.Resource + "/" + ref.Namespace + "/" + ref.Name
	}
	var out []Link
	for _, s := range b.Subjects {
		to := ""
		switch s.Kind {
		case "User":
			to = s.Name
		case "ServiceAccount":
			to = "system:serviceaccount:" + s.Namespace + ":" + s.Name
		default:
			continue // groups are not actors
		}
		l := base
		l.Kind, l.To, l.Object, l.Role = "binding", to, obj, b.RoleRef.Name
		out = append(out, l)
	}
	return out
}

// decodeObject decodes the response object, or the request object when the
// response holds none, into v.
func decodeObject(ev *auditv1.Event, v any) bool {
	for _, u := range []*runtime.Unknown{ev.ResponseObject, ev.RequestObject} {
		if u == nil || len(u.Raw) == 0 {
			continue
		}
		if json.Unmarshal(u.Raw, v) == nil {
			return true
		}
	}
	return false
}
