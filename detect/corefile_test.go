package detect

import (
	"slices"
	"testing"
)

const kubeadmCorefile = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`

func TestCorefileRedirects(t *testing.T) {
	if r := corefileRedirects(kubeadmCorefile); len(r) != 0 {
		t.Errorf("kubeadm's Corefile redirects %v", r)
	}
	for _, c := range []struct{ name, corefile string }{
		{"rewrite", ".:53 {\n rewrite name regex (.*)\\.svc\\.cluster\\.local evil.example.com\n kubernetes cluster.local\n}"},
		{"hosts", ".:53 {\n hosts {\n 203.0.113.9 api.example.com\n fallthrough\n }\n}"},
		{"forward to an address", ".:53 {\n forward . 203.0.113.53\n}"},
		{"one line", ".:53 { errors health forward . 8.8.8.8 cache 30 }"},
		{"template", ".:53 {\n template IN A cluster.local {\n answer \"{{ .Name }} 60 IN A 203.0.113.9\"\n }\n}"},
	} {
		if r := corefileRedirects(c.corefile); len(r) == 0 {
			t.Errorf("%s: no redirect found in %q", c.name, c.corefile)
		}
	}
}

// An upgrade's edit of standard plugins adds no redirect; an edit that
// adds a forward to an address does, and keeping one that was there is no
// addition.
func TestCorefileEdit(t *testing.T) {
	upgraded := kubeadmCorefile[:len(kubeadmCorefile)-2] + "    cache 60\n}\n"
	edit, added := corefileEdit(kubeadmCorefile, upgraded)
	if len(added) != 0 {
		t.Errorf("an upgrade's edit adds redirects %v", added)
	}
	if !slices.Contains(edit, any("+ cache 60")) {
		t.Errorf("edit %v lacks + cache 60", edit)
	}
	poisoned := ".:53 {\n errors\n forward . 203.0.113.53\n}"
	if _, added := corefileEdit(kubeadmCorefile, poisoned); len(added) != 1 {
		t.Errorf("forward to an address added: %v", added)
	}
	if _, added := corefileEdit(poisoned, poisoned+"\n"); len(added) != 0 {
		t.Errorf("an unchanged forward counted as added: %v", added)
	}
	if _, added := corefileEdit("", poisoned); len(added) != 1 {
		t.Errorf("with no earlier version, the forward is not counted: %v", added)
	}
}
