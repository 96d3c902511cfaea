package detect

import "testing"

func TestPathTouches(t *testing.T) {
	places := []string{"/etc", "/var/lib/kubelet", "/var/run/docker.sock"}
	for p, want := range map[string]bool{
		"/":                          true, // the whole host
		"/etc":                       true,
		"/etc/":                      true,
		"/etc/kubernetes/azure.json": true,
		"/var":                       true, // holds /var/lib/kubelet
		"/var/lib/kubelet/pki":       true,
		"/var/run":                   true,
		"/etc/../var/lib":            true,
		"/etcetera":                  false,
		"/data/cache":                false,
		"/var/log":                   false,
		"":                           false,
	} {
		if got := pathTouches(p, places); got != want {
			t.Errorf("pathTouches(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestSplitImage(t *testing.T) {
	for ref, want := range map[string][3]string{
		"nginx":                         {"docker.io", "nginx", "latest"},
		"nginx:1.25":                    {"docker.io", "nginx", "1.25"},
		"xmrig/xmrig:6.21.0":            {"docker.io", "xmrig/xmrig", "6.21.0"},
		"203.0.113.9:5000/tools:latest": {"203.0.113.9:5000", "tools", "latest"},
		"localhost/tools":               {"localhost", "tools", "latest"},
		"registry.k8s.io/coredns/coredns:v1.11.1": {"registry.k8s.io", "coredns/coredns", "v1.11.1"},
		"quay.io/x/y@sha256:abcd":                 {"quay.io", "x/y", "@sha256:abcd"},
	} {
		r, repo, tag := splitImage(ref)
		if [3]string{r, repo, tag} != want {
			t.Errorf("splitImage(%q) = %q %q %q, want %v", ref, r, repo, tag, want)
		}
	}
}

func TestClientAndIdentities(t *testing.T) {
	for ua, want := range map[string]string{
		"kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07": "kubectl",
		"python-requests/2.31.0":                           "python-requests",
		"Boto3/1.34.0":                                     "boto3",
		"":                                                 "",
	} {
		if got := Client(ua); got != want {
			t.Errorf("Client(%q) = %q, want %q", ua, got, want)
		}
	}
	for u, want := range map[string]bool{
		"arn:aws:iam::123456789012:role/eks-ops": true,
		"ci@project.iam.gserviceaccount.com":     true,
		"6f1c2e3a-1b2c-4d5e-8f90-123456789abc":   true,
		"alice":                                  false,
		"system:serviceaccount:team-a:backup":    false,
	} {
		if got := IsCloudIdentity(u); got != want {
			t.Errorf("IsCloudIdentity(%q) = %v, want %v", u, got, want)
		}
	}
}
