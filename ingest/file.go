package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"

	json "github.com/goccy/go-json"
)

// DefaultMaxLine is the longest line the file reader decodes. The apiserver
// writes request and response objects inline, so lines of 16 MiB and more
// are real; anything longer than this is reported as a bad line.
const DefaultMaxLine = 64 << 20

// FileReader reads audit logs from files, directories of rotated files and
// standard input, decoding lines on several cores while keeping input order.
type FileReader struct {
	// MaxLine is the longest line accepted (DefaultMaxLine when zero).
	MaxLine int
	// Workers is the number of decoding goroutines (GOMAXPROCS when zero).
	Workers int
	// Prepare, when set, runs on every decoded record inside the decoding
	// workers; the pipeline uses it for redaction so that it runs in parallel.
	Prepare func(*Record)
	// Progress, when set, is called with the bytes read so far per input.
	Progress func(name string, read int64)
	// Stdin replaces os.Stdin for the path "-" (tests use it).
	Stdin io.Reader
}

// Expand turns the command line's paths into the inputs to read: a directory
// means its regular files in name order; "-" is standard input.
func Expand(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == "-" {
			out = append(out, p)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("read directory %s: %w", p, err)
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}

// ReadPath reads one input (a file or "-") and hands its events downstream
// in batches, in input order. It returns an error only when the input cannot
// be opened or read; bad lines travel in the batches.
func (r *FileReader) ReadPath(ctx context.Context, path string, emit func(Batch) error) error {
	name := path
	var in io.Reader
	if path == "-" {
		name = "stdin"
		in = r.Stdin
		if in == nil {
			in = os.Stdin
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer f.Close()
		in = f
	}
	counted := &countingReader{r: in, name: name, progress: r.Progress}
	br := bufio.NewReaderSize(counted, 1<<20)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("read %s: gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	if isDocument(br) {
		return r.readDocuments(name, br, emit)
	}
	return r.readLines(ctx, name, br, emit)
}

// isDocument tells a pretty-printed JSON document (an EventList saved from a
// webhook body, say) from JSON lines: in JSON lines the first line is a
// whole JSON value by itself.
func isDocument(br *bufio.Reader) bool {
	for size := 4096; ; size *= 4 {
		buf, err := br.Peek(size)
		trimmed := bytes.TrimLeft(buf, " \t\r\n")
		if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
			return !json.Valid(bytes.TrimSpace(trimmed[:i]))
		}
		if err != nil || size >= br.Size() {
			// No newline within the buffer: a lone line or a huge one.
			return len(trimmed) > 0 && !json.Valid(bytes.TrimSpace(trimmed)) && err == nil
		}
	}
}

// readDocuments reads an input holding one or more whole JSON documents
// (Event or EventList), which may span many lines.
func (r *FileReader) readDocuments(name string, br *bufio.Reader, emit func(Batch) error) error {
	data, err := io.ReadAll(br)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var b Batch
	for {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			line := 1 + bytes.Count(data[:start], []byte{'\n'})
			b.Bad = append(b.Bad, BadInput{Location: fmt.Sprintf("%s:%d", name, line), Reason: "malformed JSON: " + shortJSONError(err).Error()})
			break
		}
		// The offset before Decode may point at whitespace before the value.
		off := int(start) + len(data[start:]) - len(bytes.TrimLeft(data[start:], " \t\r\n"))
		line := 1 + bytes.Count(data[:off], []byte{'\n'})
		r.decodeInto(&b, raw, name, line)
	}
	return emit(b)
}

// chunk is a run of consecutive lines decoded by one worker.
type chunk struct {
	seq   int
	first int      // line number of lines[0]
	lines [][]byte // nil entries are lines too long to keep
	buf   *[]byte  // the pooled buffer lines point into
	out   Batch
}

// chunkBuffers recycles the buffers lines are copied into. Decoding copies
// what it keeps (strings, raw objects), so a buffer is free again once its
// chunk is decoded; reusing it spares zeroing and faulting in a fresh
// megabyte per chunk, a fifth of replay's time on a virtual machine.
var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, chunkBytes); return &b }}

const (
	chunkLines = 512
	chunkBytes = 1 << 20
)

// readLines reads JSON lines, decoding chunks of lines on Workers goroutines
// and emitting their batches in input order.
func (r *FileReader) readLines(ctx context.Context, name string, br *bufio.Reader, emit func(Batch) error) error {
	workers := r.Workers
	if workers <= 0 {
		workers = defaultWorkers()
	}
	maxLine := r.MaxLine
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	todo := make(chan *chunk, workers*2)
	done := make(chan *chunk, workers*2)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.decodeChunks(ctx, name, maxLine, todo, done)
		}()
	}
	go func() { wg.Wait(); close(done) }()

	// The reader goroutine fills chunks; this goroutine reorders and emits.
	readErr := make(chan error, 1)
	go func() {
		defer close(todo)
		readErr <- splitLines(ctx, br, maxLine, todo)
	}()
	if err := emitInOrder(done, emit, cancel); err != nil {
		return err
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// decodeChunks is a decoding worker: it decodes the lines of each chunk
// from todo into the chunk's batch and hands the chunk to done.
func (r *FileReader) decodeChunks(ctx context.Context, name string, maxLine int, todo <-chan *chunk, done chan<- *chunk) {
	for c := range todo {
		for i, line := range c.lines {
			n := c.first + i
			if line == nil {
				c.out.Bad = append(c.out.Bad, BadInput{Location: fmt.Sprintf("%s:%d", name, n), Reason: fmt.Sprintf("line longer than %d bytes", maxLine)})
				continue
			}
			r.decodeInto(&c.out, line, name, n)
		}
		c.lines = nil
		if c.buf != nil {
			*c.buf = (*c.buf)[:0]
			chunkBuffers.Put(c.buf)
			c.buf = nil
		}
		select {
		case done <- c:
		case <-ctx.Done():
			return
		}
	}
}

// emitInOrder emits the decoded chunks in input order (workers finish them
// out of order). After emit fails it cancels the read and drains done.
func emitInOrder(done <-chan *chunk, emit func(Batch) error, cancel context.CancelFunc) error {
	pending := map[int]*chunk{}
	next := 0
	var emitErr error
	for c := range done {
		pending[c.seq] = c
		for {
			c, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if emitErr == nil {
				if err := emit(c.out); err != nil {
					emitErr = err
					cancel()
				}
			}
		}
	}
	return emitErr
}

// chunker fills chunks of lines for the decoding workers, copying lines
// into pooled buffers.
type chunker struct {
	ctx    context.Context
	todo   chan<- *chunk
	c      *chunk
	buf    []byte
	seq    int
	lineNo int
}

func (k *chunker) start() {
	k.c = &chunk{seq: k.seq, first: k.lineNo + 1}
	k.c.buf = chunkBuffers.Get().(*[]byte)
	k.buf = (*k.c.buf)[:0]
}

// flush hands the chunk to the workers and starts the next; false when the
// read was cancelled.
func (k *chunker) flush() bool {
	if len(k.c.lines) == 0 {
		return true
	}
	select {
	case k.todo <- k.c:
	case <-k.ctx.Done():
		return false
	}
	k.seq++
	k.start()
	return true
}

// add appends one line (nil when too long, empty when blank, so that line
// numbers stay right); false when the read was cancelled.
func (k *chunker) add(line []byte, tooLong bool) bool {
	k.lineNo++
	if len(k.c.lines) == 0 {
		k.c.first = k.lineNo
	}
	switch {
	case tooLong:
		k.c.lines = append(k.c.lines, nil)
	case len(bytes.TrimSpace(line)) == 0:
		// Blank lines are not events and not errors; keep numbering.
		k.c.lines = append(k.c.lines, []byte{})
	default:
		if len(k.buf)+len(line) > cap(k.buf) && len(k.c.lines) > 0 {
			if !k.flush() {
				return false
			}
			k.c.first = k.lineNo
		}
		if len(line) > cap(k.buf)-len(k.buf) {
			// A line bigger than a chunk buffer gets a buffer of its own.
			k.c.lines = append(k.c.lines, append([]byte(nil), line...))
		} else {
			start := len(k.buf)
			k.buf = append(k.buf, line...)
			k.c.lines = append(k.c.lines, k.buf[start:len(k.buf):len(k.buf)])
		}
	}
	return len(k.c.lines) < chunkLines || k.flush()
}

// splitLines cuts the input into chunks of lines. Lines longer than maxLine
// are skipped up to their newline and passed on as nil so that the worker
// reports them with their line number.
func splitLines(ctx context.Context, br *bufio.Reader, maxLine int, todo chan<- *chunk) error {
	k := &chunker{ctx: ctx, todo: todo}
	k.start()
	for {
		line, tooLong, err := readLine(br, maxLine)
		if err != nil && !errors.Is(err, io.EOF) {
			k.flush()
			return err
		}
		// A line ends in a newline (err == nil) or is the unterminated last one.
		if err == nil || len(line) > 0 || tooLong {
			if !k.add(line, tooLong) {
				return ctx.Err()
			}
		}
		if errors.Is(err, io.EOF) {
			if !k.flush() {
				return ctx.Err()
			}
			return nil
		}
	}
}

// readLine returns the next line without its newline. A line longer than
// max is consumed and reported with tooLong set; its bytes are not kept.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	var acc []byte
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(acc)+len(frag) > max+1 {
				tooLong, acc = true, nil
			} else if acc == nil && err == nil {
				// Fast path: the whole line is in the reader's buffer.
				return bytes.TrimRight(frag, "\r\n"), false, nil
			} else {
				acc = append(acc, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		return bytes.TrimRight(acc, "\r\n"), false, err
	}
}

// decodeInto decodes one line or document and appends its events, or the
// reason it is bad, to b. Items of an EventList are located as LINE#INDEX.
func (r *FileReader) decodeInto(b *Batch, data []byte, name string, line int) {
	if len(bytes.TrimSpace(data)) == 0 {
		return
	}
	loc := name + ":" + strconv.Itoa(line)
	got, _, err := DecodeBatch(data, loc)
	if err != nil {
		b.Bad = append(b.Bad, BadInput{Location: loc, Reason: err.Error()})
		return
	}
	for i := range got.Records {
		if r.Prepare != nil {
			r.Prepare(&got.Records[i])
		}
	}
	b.Records = append(b.Records, got.Records...)
	b.Bad = append(b.Bad, got.Bad...)
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

type countingReader struct {
	r        io.Reader
	name     string
	n        int64
	progress func(string, int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.name, c.n)
	}
	return n, err
}
