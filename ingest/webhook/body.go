package webhook

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

var (
	errTooLarge = errors.New("too large")
	errSlowBody = errors.New("body arrived too slowly")
)

// readChunk is how much is charged and read at a time.
const readChunk = 64 << 10

// bodies keeps the buffers of bodies read whole for the next ones: a new
// buffer is zeroed before a body is read into it, half a megabyte for each
// batch of 400 events, and then collected. The decoder copies what it
// keeps, so a body's buffer is free again once its batch is decoded.
var bodies sync.Pool // *[]byte

// maxPooledBody bounds the buffers kept (webhook.max_body_bytes' default).
const maxPooledBody = 32 << 20

// getBody returns a buffer of n bytes, reused when one is free.
func getBody(n int64) []byte {
	if p, ok := bodies.Get().(*[]byte); ok && int64(cap(*p)) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

// putBody gives a body's buffer back once nothing refers to it.
func putBody(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooledBody {
		bodies.Put(&b)
	}
}

// readCharged reads all of rd, failing with errTooLarge past limit bytes,
// and charges c for the memory before it is allocated: a body whose length
// is known is charged whole and read into a buffer of that size; one sent
// in chunks (or inflated from gzip) a chunk at a time, so that a slow
// client holds only what it sent.
func readCharged(rd io.Reader, c *charge, limit, length int64) ([]byte, error) {
	if length > 0 && length <= limit {
		if err := c.add(length); err != nil {
			return nil, err
		}
		b := getBody(length)
		// The server ends the body at its Content-Length.
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	var buf bytes.Buffer
	var charged int64
	lr := io.LimitReader(rd, limit+1)
	for {
		if buf.Cap()-buf.Len() < readChunk {
			// The buffer is about to double: charge for it first.
			if next := int64(2*buf.Cap() + readChunk); next > charged {
				if err := c.add(next - charged); err != nil {
					return nil, err
				}
				charged = next
			}
			buf.Grow(readChunk)
		}
		n, err := io.CopyN(&buf, lr, readChunk)
		if int64(buf.Len()) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF || err == nil && n < readChunk {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// rateReader cuts a body that arrives slower than min bytes a second once
// grace has passed since the first read (time spent waiting for room in the
// budget, before reading, is not the client's): before each read it moves
// the connection's read deadline to when the next byte is due at that
// rate (bytes sent ahead of it are slack for later).
type rateReader struct {
	r     io.Reader
	rc    *http.ResponseController
	min   int64
	grace time.Duration
	start time.Time
	n     int64
}

func newRateReader(r io.Reader, rc *http.ResponseController, min int64, grace time.Duration) *rateReader {
	return &rateReader{r: r, rc: rc, min: min, grace: grace}
}

func (b *rateReader) Read(p []byte) (int, error) {
	if b.start.IsZero() {
		b.start = time.Now()
	}
	due := b.start.Add(b.grace + time.Duration(float64(b.n+1)/float64(b.min)*float64(time.Second)))
	// A server that cannot set deadlines keeps its own ReadTimeout.
	_ = b.rc.SetReadDeadline(due)
	n, err := b.r.Read(p)
	b.n += int64(n)
	var ne net.Error
	if err != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		return n, errSlowBody
	}
	return n, err
}

// remoteHost is the request's peer address without its port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
