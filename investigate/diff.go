package investigate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Change is one difference between two versions of an object: a field
// added, removed or changed. A changed string of several lines (a
// Corefile, a script) also carries its line diff.
type Change struct {
	Path   []string        `json:"path"`
	Op     string          `json:"op"` // "added", "removed" or "changed"
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	Lines  []LineChange    `json:"lines,omitempty"`
	// Noise marks bookkeeping the apiserver changes on every write
	// (resourceVersion, managedFields, generation): shown folded.
	Noise bool `json:"noise,omitempty"`
}

// LineChange is one line of a line diff: kept (" "), removed ("-") or
// added ("+").
type LineChange struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

// maxLineDiffCells bounds the line diff's table (lines before × lines
// after); larger strings are shown whole, before and after.
const maxLineDiffCells = 250_000

// DiffObjects lists the differences between two JSON objects, in path
// order. Lists of the same length are compared item by item; of different
// lengths, item by item up to the shorter, then the rest added or removed.
func DiffObjects(before, after []byte) ([]Change, error) {
	var a, b any
	if err := decodeNumbers(before, &a); err != nil {
		return nil, err
	}
	if err := decodeNumbers(after, &b); err != nil {
		return nil, err
	}
	var out []Change
	diffValue(nil, a, b, &out)
	return out, nil
}

func decodeNumbers(raw []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

func diffValue(path []string, a, b any, out *[]Change) {
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			keys := make([]string, 0, len(x)+len(y))
			for k := range x {
				keys = append(keys, k)
			}
			for k := range y {
				if _, ok := x[k]; !ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := append(slices.Clone(path), k)
				av, aok := x[k]
				bv, bok := y[k]
				switch {
				case !aok:
					*out = append(*out, change(p, "added", nil, bv))
				case !bok:
					*out = append(*out, change(p, "removed", av, nil))
				default:
					diffValue(p, av, bv, out)
				}
			}
			return
		}
	case []any:
		if y, ok := b.([]any); ok {
			for i := 0; i < max(len(x), len(y)); i++ {
				p := append(slices.Clone(path), strconv.Itoa(i))
				switch {
				case i >= len(x):
					*out = append(*out, change(p, "added", nil, y[i]))
				case i >= len(y):
					*out = append(*out, change(p, "removed", x[i], nil))
				default:
					diffValue(p, x[i], y[i], out)
				}
			}
			return
		}
	}
	if reflect.DeepEqual(a, b) {
		return
	}
	c := change(path, "changed", a, b)
	as, aok := a.(string)
	bs, bok := b.(string)
	switch {
	case aok && bok && (strings.Contains(as, "\n") || strings.Contains(bs, "\n")):
		c.Lines = seqDiff(strings.Split(as, "\n"), strings.Split(bs, "\n"))
	case aok && bok && len(as)+len(bs) > wordDiffMin:
		c.Lines = groupRuns(seqDiff(strings.Fields(as), strings.Fields(bs)))
	}
	*out = append(*out, c)
}

func change(path []string, op string, before, after any) Change {
	c := Change{Path: path, Op: op, Noise: isNoise(path)}
	if before != nil || op == "changed" {
		c.Before, _ = json.Marshal(before)
	}
	if after != nil || op == "changed" {
		c.After, _ = json.Marshal(after)
	}
	return c
}

// isNoise reports whether a path is bookkeeping of the apiserver's or
// its controllers' (status), not what the request asked for.
func isNoise(path []string) bool {
	if len(path) > 0 && path[0] == "status" {
		return true
	}
	if len(path) < 2 || path[0] != "metadata" {
		return false
	}
	switch path[1] {
	case "resourceVersion", "managedFields", "generation":
		return true
	}
	return false
}

// wordDiffMin is the length of two one-line strings above which their
// change is shown word by word (a Corefile written on one line).
const wordDiffMin = 80

// groupRuns joins consecutive words of the same kind into one line.
func groupRuns(words []LineChange) []LineChange {
	var out []LineChange
	for _, w := range words {
		if n := len(out); n > 0 && out[n-1].Op == w.Op {
			out[n-1].Text += " " + w.Text
			continue
		}
		out = append(out, w)
	}
	return out
}

// seqDiff is a longest-common-subsequence diff of two sequences (lines or
// words); nil when they are too long to compare.
func seqDiff(x, y []string) []LineChange {
	if len(x)*len(y) > maxLineDiffCells {
		return nil
	}
	// lcs[i][j]: the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []LineChange
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out = append(out, LineChange{" ", x[i]})
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] > lcs[i+1][j]):
			out = append(out, LineChange{"+", y[j]})
			j++
		default:
			out = append(out, LineChange{"-", x[i]})
			i++
		}
	}
	return out
}
