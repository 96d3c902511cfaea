package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

// takeProfile fetches a CPU profile of up to 30 s from the middle of the
// run and writes it to out: the profile of serve under load that issue 17
// asks to keep as a documented command (bench.sh --profile).
func takeProfile(url, out string, duration time.Duration) {
	secs := min(30*time.Second, duration/2)
	time.Sleep(max(duration/2-secs/2, 0))
	resp, err := http.Get(fmt.Sprintf("%s?seconds=%d", url, int(secs.Seconds())))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kaudit-load: profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kaudit-load: profile:", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, "kaudit-load: profile:", err)
	}
}

// takeHeap fetches the heap profile at the end of the run (what kaudit
// holds under load: its RSS in the RESULT line).
func takeHeap(url, out string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kaudit-load: heap profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kaudit-load: heap profile:", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// loadAvg is the machine's load average (1, 5, 15 minutes), printed beside
// every figure: the machine is shared, and throughput follows its load.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], ",")
}

// resultField finds NAME=VALUE in a RESULT line, with a following
// "(...)" when there is one (CPU per event).
var resultField = regexp.MustCompile(`(\w+)=(\S+(?: \([^)]*\))?)`)

// compareResults prints the RESULT lines of two runs (before, after) side
// by side.
func compareResults(files []string) error {
	if len(files) != 2 {
		return fmt.Errorf("--compare wants two files (before, after), got %d", len(files))
	}
	var cols [2]map[string]string
	var order []string
	for i, name := range files {
		line, err := resultLine(name)
		if err != nil {
			return err
		}
		cols[i] = map[string]string{}
		for _, m := range resultField.FindAllStringSubmatch(line, -1) {
			if i == 0 || cols[0][m[1]] == "" && cols[1][m[1]] == "" {
				order = appendNew(order, m[1])
			}
			cols[i][m[1]] = m[2]
		}
	}
	w := len("figure")
	for _, k := range order {
		w = max(w, len(k))
	}
	fmt.Printf("| %-*s | %-32s | %-32s |\n", w, "figure", "before", "after")
	fmt.Printf("|%s|%s|%s|\n", strings.Repeat("-", w+2), strings.Repeat("-", 34), strings.Repeat("-", 34))
	for _, k := range order {
		fmt.Printf("| %-*s | %-32s | %-32s |\n", w, k, cols[0][k], cols[1][k])
	}
	return nil
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// resultLine is the last RESULT line of a run's output.
func resultLine(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "RESULT ") {
			line = sc.Text()
		}
	}
	if line == "" {
		return "", fmt.Errorf("%s: no RESULT line", name)
	}
	return line, sc.Err()
}
