package investigate

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/kaudit/kaudit/store"
)

// Cursors page the timeline by position instead of by count: a page's
// next_cursor names its last entry (time and audit id), and the next
// request starts after it, which costs the store what the first page did,
// however deep. They are opaque to clients: base64url of "TIME_US.AUDIT_ID".

// encodeCursor writes c for the API.
func encodeCursor(c store.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.TimeUs, 10) + "." + c.AuditID))
}

// decodeCursor reads a cursor the API wrote.
func decodeCursor(s string) (*store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, &paramError{"cursor", "not a cursor this API wrote (use next_cursor of a page)"}
	}
	t, id, ok := strings.Cut(string(b), ".")
	us, err := strconv.ParseInt(t, 10, 64)
	if !ok || err != nil || id == "" {
		return nil, &paramError{"cursor", "not a cursor this API wrote (use next_cursor of a page)"}
	}
	return &store.Cursor{TimeUs: us, AuditID: id}, nil
}
