package deploy

import (
	"fmt"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A connection from a source outside the cluster's pods (kube-apiserver on
// the control-plane hosts' network) to a container port of a pod.
type ingressConn struct {
	namespace string
	podLabels map[string]string
	port      corev1.ContainerPort
	src       net.IP
}

// admits evaluates NetworkPolicy ingress semantics for conn: a pod no
// policy selects (for Ingress) takes everything; a selected pod takes what
// one of its policies' rules allows. A source outside the pods matches only
// ipBlock peers: pod and namespace selectors select pods, and the
// apiserver is not one. It returns why, for the test's message.
func admits(pols []networkingv1.NetworkPolicy, c ingressConn) (bool, string) {
	isolated := false
	for _, p := range pols {
		if p.Namespace != "" && p.Namespace != c.namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(c.podLabels)) || !hasIngressType(p) {
			continue
		}
		isolated = true
		for i, r := range p.Spec.Ingress {
			if portMatches(r.Ports, c.port) && peerMatches(r.From, c.src) {
				return true, fmt.Sprintf("NetworkPolicy %s, ingress rule %d", p.Name, i)
			}
		}
	}
	if !isolated {
		return true, "no NetworkPolicy selects the pod"
	}
	return false, "no ingress rule of the policies selecting the pod admits it"
}

func hasIngressType(p networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return true // Ingress is implied
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

func portMatches(ports []networkingv1.NetworkPolicyPort, cp corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	proto := cp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		switch p.Port.Type {
		case intstr.String:
			if p.Port.StrVal == cp.Name {
				return true
			}
		case intstr.Int:
			lo, hi := p.Port.IntVal, p.Port.IntVal
			if p.EndPort != nil {
				hi = *p.EndPort
			}
			if cp.ContainerPort >= lo && cp.ContainerPort <= hi {
				return true
			}
		}
	}
	return false
}

func peerMatches(peers []networkingv1.NetworkPolicyPeer, src net.IP) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock == nil {
			continue
		}
		_, block, err := net.ParseCIDR(p.IPBlock.CIDR)
		if err != nil || !block.Contains(src) {
			continue
		}
		excluded := false
		for _, e := range p.IPBlock.Except {
			if _, ex, err := net.ParseCIDR(e); err == nil && ex.Contains(src) {
				excluded = true
			}
		}
		if !excluded {
			return true
		}
	}
	return false
}

// webhookReachable follows the apiserver's call through a rendering: the
// webhook Service's target port, the StatefulSet's container port it
// names, the pods' labels, and the NetworkPolicies, for a call from src.
func webhookReachable(t testing.TB, objs objects, src net.IP) (bool, string) {
	t.Helper()
	svc := objs.service(t, releaseName+"-webhook")
	sts := objs.statefulSet(t)
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service %s: want one port, got %d", svc.Name, len(svc.Spec.Ports))
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Fatalf("Service %s selects %v, which the StatefulSet's pods (%v) do not carry", svc.Name, svc.Spec.Selector, sts.Spec.Template.Labels)
	}
	target := svc.Spec.Ports[0].TargetPort
	var port *corev1.ContainerPort
	for _, c := range sts.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if target.Type == intstr.String && p.Name == target.StrVal || target.Type == intstr.Int && p.ContainerPort == target.IntVal {
				port = &p
			}
		}
	}
	if port == nil {
		t.Fatalf("Service %s targets port %s, which no container of the StatefulSet has", svc.Name, target.String())
	}
	return admits(objs.networkPolicies(t), ingressConn{namespace: releaseNS, podLabels: sts.Spec.Template.Labels, port: *port, src: src})
}

// TestNetworkPolicySemantics checks the evaluator itself on policies that
// block and admit, so that the chart checks that use it mean something.
func TestNetworkPolicySemantics(t *testing.T) {
	tcp := corev1.ProtocolTCP
	udp := corev1.ProtocolUDP
	named := intstr.FromString("webhook")
	num := intstr.FromInt32(8443)
	other := intstr.FromInt32(9443)
	pod := map[string]string{"app": "kaudit"}
	conn := ingressConn{namespace: "kaudit", podLabels: pod, port: corev1.ContainerPort{Name: "webhook", ContainerPort: 8443}, src: net.ParseIP("10.0.0.10")}
	pol := func(rules ...networkingv1.NetworkPolicyIngressRule) networkingv1.NetworkPolicy {
		return networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "kaudit"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: pod},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     rules,
			},
		}
	}
	from := func(cidr string, except ...string) []networkingv1.NetworkPolicyPeer {
		return []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}}
	}
	for _, c := range []struct {
		name string
		pols []networkingv1.NetworkPolicy
		want bool
	}{
		{"no policy", nil, true},
		{"deny all ingress", []networkingv1.NetworkPolicy{pol()}, false},
		{"named port from the control plane", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Port: &named, Protocol: &tcp}}, From: from("10.0.0.0/24")})}, true},
		{"numbered port", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Port: &num}}, From: from("10.0.0.0/8")})}, true},
		{"other port only", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Port: &other}}})}, false},
		{"UDP only", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Port: &num, Protocol: &udp}}})}, false},
		{"wrong CIDR", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Port: &named}}, From: from("192.168.0.0/16")})}, false},
		{"excepted", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{From: from("10.0.0.0/8", "10.0.0.0/24")})}, false},
		{"pod selector peers only", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}})}, false},
		{"any source on the port", []networkingv1.NetworkPolicy{pol(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Port: &named}}})}, true},
		{"second policy admits", []networkingv1.NetworkPolicy{pol(), pol(networkingv1.NetworkPolicyIngressRule{From: from("10.0.0.10/32")})}, true},
	} {
		got, why := admits(c.pols, conn)
		if got != c.want {
			t.Errorf("%s: admits = %v (%s), want %v", c.name, got, why, c.want)
		}
	}
}
