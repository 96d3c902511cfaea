package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no path and no store", []string{"ui"}, exitUsage, "PATH"},
		{"missing tokens file", []string{"ui", "--tokens-file", filepath.Join(dir, "none"), sample}, exitUsage, "api.tokens_file"},
		{"missing input", []string{"ui", filepath.Join(dir, "missing.log")}, exitInput, "missing.log"},
		{"invalid listen address", []string{"ui", "--listen", "127.0.0.1:99999", sample}, exitInput, "listen"},
	}
	for _, c := range cases {
		code, _, stderr := kaudit(t, "", c.args...)
		if code != c.code || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: exit %d (want %d), stderr %q lacks %q", c.name, code, c.code, stderr, c.stderr)
		}
	}
}

// TestUIServesWithTokensFile runs `kaudit ui` in-process with an analyst
// token file: no token is printed, the file's token opens the API, and an
// interrupt stops it cleanly.
func TestUIServesWithTokensFile(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "analysts")
	if err := os.WriteFile(tokFile, []byte("# analysts\nfile-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- run([]string{"ui", "--tokens-file", tokFile, sample}, strings.NewReader(""), pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	url := ""
	var banner []string
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if m := regexp.MustCompile(`open (http://\S+/)`).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if strings.Contains(sc.Text(), "Ctrl-C") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if url == "" {
		t.Fatalf("no URL printed: %q, stderr %s", banner, stderr.String())
	}
	if strings.Contains(strings.Join(banner, "\n"), "analyst token (valid") {
		t.Fatalf("a one-time token was printed although api.tokens_file is set: %q", banner)
	}
	req, _ := http.NewRequest("GET", url+"api/v1/incidents", nil)
	req.Header.Set("Authorization", "Bearer file-token-0123456789abcdef")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "mallory") {
		t.Fatalf("API with the file's token: %d %s", res.StatusCode, body)
	}
	// ui listens for interrupts while it serves, so this stops only ui.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after interrupt: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("ui did not stop on interrupt")
	}
}
