package incident

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"strings"
	"time"
)

// touch is a request as the correlator keeps it: a Touch less its actor
// (the key it is kept under), with its time in two numbers and its names
// as numbers of the correlator's name table. Replay keeps every request
// of a log for the incidents' "what else did they touch": a Touch and
// the strings it kept of its event (each its own allocation) made about
// 320 bytes a request, a touch 64, and it holds no pointer: the
// collector does not read the correlator's requests at all, where it
// followed nine pointers in each. Replay of the sample x 200 peaked at
// 0.6x the memory, for 1.01x the instructions.
type touch struct {
	sec  int64 // At: Unix seconds and nanoseconds (exact for any time)
	nsec int32
	code int32
	// The audit id: the 16 bytes of a UUID as kube-apiserver writes one
	// (isUUID), else a name of the table (a client may set its own).
	uuid                                       [16]byte
	idName                                     nameID
	user, verb, resource, sub, namespace, name nameID
	isUUID, denied                             bool
}

// nameID is a string of the correlator's name table (0: "").
type nameID uint32

// names is the correlator's table of the strings its requests repeat
// (users, verbs, resources, namespaces, object names), each kept once,
// and of the audit ids that are not UUIDs.
type names struct {
	ids     map[string]nameID
	strings []string // by id; strings[0] is ""
}

// newNames returns an empty table.
func newNames() names { return names{ids: map[string]nameID{}, strings: []string{""}} }

// id returns s's number, adding s to the table if it is new.
func (n *names) id(s string) nameID {
	if s == "" {
		return 0
	}
	if id, ok := n.ids[s]; ok {
		return id
	}
	id := nameID(len(n.strings))
	// A copy: s is a string of the event, whose other strings the table
	// would keep alive otherwise where they share an allocation.
	s = strings.Clone(s)
	n.ids[s] = id
	n.strings = append(n.strings, s)
	return id
}

// keep returns t as the correlator keeps it.
func (c *Correlator) keep(t Touch) touch {
	n := &c.names
	k := touch{sec: t.At.Unix(), nsec: int32(t.At.Nanosecond()), code: int32(t.Code),
		user: n.id(t.User), verb: n.id(t.Verb), resource: n.id(t.Resource), sub: n.id(t.Sub),
		namespace: n.id(t.Namespace), name: n.id(t.Name), denied: t.Denied}
	if k.uuid, k.isUUID = parseUUID(t.AuditID); !k.isUUID {
		k.idName = n.id(t.AuditID)
	}
	return k
}

// touchOf returns the request t of actor as a Touch.
func (c *Correlator) touchOf(actor string, t *touch) Touch {
	s := c.names.strings
	return Touch{Actor: actor, User: s[t.user], At: t.at(), AuditID: c.auditID(t), Verb: s[t.verb],
		Resource: s[t.resource], Sub: s[t.sub], Namespace: s[t.namespace], Name: s[t.name],
		Denied: t.denied, Code: int(t.code)}
}

// auditID returns t's audit id.
func (c *Correlator) auditID(t *touch) string {
	if t.isUUID {
		return formatUUID(t.uuid)
	}
	return c.names.strings[t.idName]
}

// sameRequest reports whether a and b have the same audit id.
func sameRequest(a, b *touch) bool {
	return a.isUUID == b.isUUID && a.uuid == b.uuid && a.idName == b.idName
}

// compareIDs orders a and b by their audit ids as strings.
func (c *Correlator) compareIDs(a, b *touch) int {
	if a.isUUID && b.isUUID {
		// Lower-case hex keeps the bytes' order.
		return bytes.Compare(a.uuid[:], b.uuid[:])
	}
	return strings.Compare(c.auditID(a), c.auditID(b))
}

// parseUUID reads s as a UUID written the way kube-apiserver writes one
// (8-4-4-4-12 lower-case hex digits), so that formatUUID gives s back.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var digits [32]byte
	copy(digits[0:8], s[0:8])
	copy(digits[8:12], s[9:13])
	copy(digits[12:16], s[14:18])
	copy(digits[16:20], s[19:23])
	copy(digits[20:32], s[24:36])
	for _, c := range digits {
		// hex.Decode takes upper case too, which formatUUID would not
		// give back.
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return u, false
		}
	}
	_, err := hex.Decode(u[:], digits[:])
	return u, err == nil
}

// formatUUID writes u as parseUUID reads it.
func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// at is the request's time, in UTC as detect.EventTime gives it.
func (t *touch) at() time.Time { return time.Unix(t.sec, int64(t.nsec)).UTC() }

// before reports whether t is dated before u.
func (t *touch) before(u time.Time) bool {
	s := u.Unix()
	return t.sec < s || t.sec == s && int(t.nsec) < u.Nanosecond()
}

// reindexNames rebuilds the name table from the requests kept, once it
// holds more than twice the names it held after the last rebuild (and
// more than minNames): a long run meets new object names all the time,
// and a pruned request's names would stay in the table forever.
func (c *Correlator) reindexNames() {
	if len(c.names.strings) <= max(minNames, 2*c.namesKept) {
		return
	}
	old := c.names.strings
	c.names = newNames()
	for _, ts := range c.touches {
		for i := range ts {
			t := &ts[i]
			t.user, t.verb, t.resource = c.names.id(old[t.user]), c.names.id(old[t.verb]), c.names.id(old[t.resource])
			t.sub, t.namespace, t.name = c.names.id(old[t.sub]), c.names.id(old[t.namespace]), c.names.id(old[t.name])
			t.idName = c.names.id(old[t.idName])
		}
	}
	c.namesKept = len(c.names.strings)
}

// minNames is the size below which the name table is never rebuilt.
const minNames = 4096

// cmpTime orders a and b by time.
func cmpTime(a, b *touch) int {
	if c := cmp.Compare(a.sec, b.sec); c != 0 {
		return c
	}
	return cmp.Compare(a.nsec, b.nsec)
}
