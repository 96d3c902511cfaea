package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"
)

// screen is where text for a person goes: a terminal gets colour (unless
// NO_COLOR is set or TERM is dumb) and, when the text is longer than the
// terminal, a pager ($KAUDIT_PAGER, else $PAGER, else less -FRX; set it
// to "" or cat for none). Anything else (a file, a pipe, a test's buffer)
// gets the plain text.
type screen struct {
	tty    bool
	color  bool
	height int
	pager  string
}

// screenOf looks at w and the environment (os.LookupEnv, or a test's).
func screenOf(w io.Writer, env func(string) (string, bool)) screen {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return screen{}
	}
	s := terminalScreen(env)
	if _, h, err := term.GetSize(int(f.Fd())); err == nil && h > 0 {
		s.height = h
	}
	return s
}

// terminalScreen is a terminal's screen as the environment sets it up:
// colour unless NO_COLOR is set to anything (https://no-color.org) or TERM
// is dumb; the pager of pagerCommand.
func terminalScreen(env func(string) (string, bool)) screen {
	s := screen{tty: true, height: 24}
	noColor, _ := env("NO_COLOR")
	termName, _ := env("TERM")
	s.color = noColor == "" && termName != "dumb"
	s.pager = pagerCommand(env)
	return s
}

// pagerCommand is the pager to run: KAUDIT_PAGER, else PAGER, else less.
// Set to "" (KAUDIT_PAGER=) or cat, there is none.
func pagerCommand(env func(string) (string, bool)) string {
	p, set := env("KAUDIT_PAGER")
	if !set {
		p, set = env("PAGER")
	}
	if !set {
		p = "less -FRX"
	}
	if p = strings.TrimSpace(p); p == "cat" {
		return ""
	}
	return p
}

// palette paints text with ANSI colours, or leaves it alone.
type palette struct{ on bool }

// Styles of the palette.
const (
	styleHead     = "1"    // bold
	styleCritical = "1;41" // bold on red
	styleHigh     = "1;31" // bold red
	styleMedium   = "33"   // yellow
	styleLow      = "36"   // cyan
	styleInfo     = "2"    // dim
	styleDenied   = "33"
	styleFinding  = "1"
)

func (p palette) paint(style, s string) string {
	if !p.on || style == "" || s == "" {
		return s
	}
	return "\x1b[" + style + "m" + s + "\x1b[0m"
}

// severityStyle is the style of a severity's name.
func severityStyle(sev string) string {
	switch sev {
	case "critical":
		return styleCritical
	case "high":
		return styleHigh
	case "medium":
		return styleMedium
	case "low":
		return styleLow
	}
	return styleInfo
}

// show writes text to the screen: through the pager on a terminal when it
// is longer than the terminal, else as it is.
func (a *app) show(text []byte) error {
	s := a.screen
	if !s.tty || s.pager == "" || bytes.Count(text, []byte{'\n'}) < s.height {
		_, err := a.stdout.Write(text)
		return err
	}
	args := strings.Fields(s.pager)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = bytes.NewReader(text)
	cmd.Stdout, cmd.Stderr = a.stdout, a.stderr
	if cmd.Env = os.Environ(); os.Getenv("LESS") == "" {
		cmd.Env = append(cmd.Env, "LESS=FRX")
	}
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); ok {
			return nil // the reader quit the pager
		}
		_, err := a.stdout.Write(text) // no pager to run: the text as it is
		return err
	}
	return nil
}
