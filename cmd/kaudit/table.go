package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// textWidth is how wide text output is in the text format, whatever the
// terminal: columns are cut (with …) to fit. The wide format cuts nothing.
const textWidth = 120

// column is one column of a table: its header, the narrowest it may be
// cut to (0: never cut) and whether it is right-aligned (numbers).
type column struct {
	name  string
	min   int
	right bool
	// mid cuts in the middle, keeping the end, where names say the most
	// (system:s…:replicaset-controller).
	mid bool
}

// cell is a table cell: its text (already through fieldText where it
// comes from the log) and an optional style applied after padding, so
// that colour never counts toward a width.
type cell struct {
	text  string
	style string
}

// table writes aligned columns like kubectl get: two spaces between
// columns, the last one unpadded.
type table struct {
	cols []column
	rows [][]cell
}

func newTable(cols ...column) *table { return &table{cols: cols} }

// row adds a row of plain cells.
func (t *table) row(texts ...string) {
	cells := make([]cell, len(texts))
	for i, s := range texts {
		cells[i] = cell{text: s}
	}
	t.rows = append(t.rows, cells)
}

// styled adds a row of cells.
func (t *table) styled(cells ...cell) { t.rows = append(t.rows, cells) }

// write writes the table fitted into width (0: as wide as it needs), with
// colour when pal is on, each line after indent.
func (t *table) write(w io.Writer, width int, pal palette, indent string) {
	n := len(t.cols)
	widths := make([]int, n)
	for i, c := range t.cols {
		widths[i] = runeLen(c.name)
	}
	for _, r := range t.rows {
		for i := 0; i < n && i < len(r); i++ {
			widths[i] = max(widths[i], runeLen(r[i].text))
		}
	}
	if width > 0 {
		fit(widths, t.cols, width-len(indent))
	}
	var b strings.Builder
	line := func(cells []cell, head bool) {
		b.WriteString(indent)
		for i := 0; i < n; i++ {
			var c cell
			if i < len(cells) {
				c = cells[i]
			}
			text := cut(c.text, widths[i], t.cols[i].mid)
			pad := strings.Repeat(" ", widths[i]-runeLen(text))
			if head {
				text = pal.paint(styleHead, text)
			} else if c.style != "" {
				text = pal.paint(c.style, text)
			}
			switch {
			case t.cols[i].right:
				b.WriteString(pad + text)
			case i < n-1:
				b.WriteString(text + pad)
			default:
				b.WriteString(text)
			}
			if i < n-1 {
				b.WriteString("  ")
			}
		}
		out := strings.TrimRight(b.String(), " ")
		b.Reset()
		_, _ = io.WriteString(w, out+"\n")
	}
	heads := make([]cell, n)
	for i, c := range t.cols {
		heads[i] = cell{text: c.name}
	}
	line(heads, true)
	for _, r := range t.rows {
		line(r, false)
	}
}

// fit narrows the cuttable columns, the one furthest above its minimum
// first, until the table fits in width; when every one is at its minimum
// and the table is still too wide, it cuts them further, to 4 runes.
func fit(widths []int, cols []column, width int) {
	total := 2 * (len(widths) - 1)
	for _, w := range widths {
		total += w
	}
	for _, floor := range []func(column) int{func(c column) int { return c.min }, func(column) int { return 4 }} {
		for ; total > width; total-- {
			best := -1
			for i, c := range cols {
				if c.min > 0 && widths[i] > floor(c) && (best < 0 || widths[i]-floor(c) > widths[best]-floor(cols[best])) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			widths[best]--
		}
	}
}

// cut shortens s to w runes, with … where it cut: at the end, or in the
// middle (keeping half of the width for the start, half for the end).
func cut(s string, w int, mid bool) string {
	if runeLen(s) <= w {
		return s
	}
	if w <= 1 {
		return strings.Repeat("…", max(w, 0))
	}
	r := []rune(s)
	if mid && w >= 8 {
		head := (w - 1) / 2
		return string(r[:head]) + "…" + string(r[len(r)-(w-1-head):])
	}
	return string(r[:w-1]) + "…"
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// wrap breaks text into lines of at most width runes at spaces; a word
// longer than a line stays whole.
func wrap(text string, width int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(text) {
		switch {
		case cur == "":
			cur = word
		case runeLen(cur)+1+runeLen(word) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
