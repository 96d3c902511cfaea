package main

import (
	"path/filepath"
	"strings"
)

// locator writes where a finding or a request was read (FILE:LINE),
// relative to the argument it was read through: the path inside a
// directory argument, the file's name for a file argument, and the line
// alone when one file was read (the report names the file once).
type locator struct {
	args   []string
	single string // the one input file, when exactly one was read
}

// newLocator knows the arguments as given and the files they expanded to.
func newLocator(args, files []string) *locator {
	l := &locator{}
	for _, a := range args {
		if a != "-" {
			l.args = append(l.args, filepath.Clean(a))
		}
	}
	if len(files) == 1 && files[0] != "-" {
		l.single = files[0]
	}
	return l
}

// split cuts a location into its file and its line ("12" or "12#3" for an
// item of an EventList).
func split(loc string) (file, line string) {
	i := strings.LastIndexByte(loc, ':')
	if i < 0 {
		return loc, ""
	}
	return loc[:i], loc[i+1:]
}

// rel writes a location relative to the argument it was read through.
func (l *locator) rel(loc string) string {
	if l == nil || loc == "" {
		return loc
	}
	file, line := split(loc)
	clean := filepath.Clean(file)
	for _, a := range l.args {
		if clean == a {
			return filepath.Base(clean) + ":" + line
		}
		if r, err := filepath.Rel(a, clean); err == nil && !strings.HasPrefix(r, "..") && strings.HasPrefix(clean, a+string(filepath.Separator)) {
			return r + ":" + line
		}
	}
	return loc
}

// column is the location column of a table: LINE when one file was read,
// else WHERE.
func (l *locator) column() column {
	if l.oneFile() {
		return column{name: "LINE", right: true}
	}
	return column{name: "WHERE", min: 12}
}

// cell writes a location for the location column.
func (l *locator) cell(loc string) string {
	if l.oneFile() {
		if file, line := split(loc); filepath.Clean(file) == filepath.Clean(l.single) {
			return line
		}
	}
	return fieldText(l.rel(loc))
}

// source names the one file read, for a header ("in x.log"); "" otherwise.
func (l *locator) source() string {
	if !l.oneFile() {
		return ""
	}
	return fieldText(l.single)
}

func (l *locator) oneFile() bool { return l != nil && l.single != "" }
