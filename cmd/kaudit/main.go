// Command kaudit is the Kubernetes audit-log forensic pipeline: replay log
// files through the detection rules, serve the apiserver's audit webhook,
// and query timelines and incidents. This package only parses flags and
// configuration and wires the libraries together: every command is listed
// in newRootCmd, every configuration key in config.go.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// Exit codes, an interface scripts depend on.
const (
	exitOK       = 0
	exitInput    = 1 // an input could not be opened or read, or a run failed
	exitUsage    = 2
	exitSeverity = 3 // --fail-on found a finding at or above the severity
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// inputError is a failed run: an input or a store that could not be read.
func inputError(err error) error { return &exitError{code: exitInput, err: err} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status; tests call it
// directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			printError(stderr, ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown flag, wrong arguments) are usage errors.
	printError(stderr, err)
	return exitUsage
}

// printError writes an error on stderr, each of its lines (errors joined
// from several inputs) after "kaudit: ".
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "kaudit:", line)
	}
}

// app is what every subcommand shares: its streams and its configuration.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	v              *viper.Viper
	// screen is what stdout is (a terminal or not), pal its colours.
	screen screen
	pal    palette
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, v: viper.New(), screen: screenOf(stdout, os.LookupEnv)}
	a.pal = palette{on: a.screen.color}
	root := &cobra.Command{
		Use:           "kaudit",
		Short:         "Kubernetes audit-log forensics: what happened, who did it, what else did they touch",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().String("config", "", "configuration file (YAML); KAUDIT_* environment variables and flags override it")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	root.AddCommand(
		newReplayCmd(a),
		newTimelineCmd(a),
		newIncidentsCmd(a),
		newRulesCmd(a),
		newBaselineCmd(a),
		newServeCmd(a),
		newUICmd(a),
		newNotifyCmd(a),
		newVersionCmd(a),
	)
	return root
}
