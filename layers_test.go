// The layers of kaudit, bottom up, and the test that keeps imports running
// only downward: a package may import packages of its own layer or of the
// layers below it, never above. README.md's layout table says the same in
// words.
package kaudit_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/kaudit/kaudit/"

// layers lists every package of the module, lowest layer first. A new
// package must be placed here.
var layers = [][]string{
	{"auth"},
	{"ingest", "ingest/ingesttest", "ingest/webhook", "ingest/webhook/webhooktest", "ingest/kafka", "ingest/kafka/kafkatest"},
	{"redact", "redact/redacttest"},
	{"detect/rulefile", "detect", "detect/baseline", "detect/incident"},
	{"rules", "rules/ruletest"},
	{"pipeline"},
	{"store", "store/memory", "store/clickhouse", "store/clickhouse/chtest", "store/storetest"},
	{"live", "live/spool", "live/facts", "live/notify", "live/notify/amtest"},
	{"investigate"},
	{"cmd/kaudit", "cmd/kaudit-load", "cmd/kaudit-image", "deploy"},
}

// never lists imports that the layers would allow but the design does not:
// the analyst's side only reads the store, and never reaches into what
// writes it.
var never = [][2]string{
	{"investigate", "live"},
}

func TestImportsRunDownward(t *testing.T) {
	layerOf := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			layerOf[p] = i
		}
	}
	pkgs := packages(t)
	for pkg, imports := range pkgs {
		li, ok := layerOf[pkg]
		if !ok {
			t.Errorf("package %s is in no layer: add it to layers in layers_test.go (and to README.md's layout)", pkg)
			continue
		}
		for _, imp := range imports {
			lj, ok := layerOf[imp]
			if !ok {
				continue // reported as a package of its own
			}
			if lj > li {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must run downward", pkg, li, imp, lj)
			}
			for _, n := range never {
				if pkg == n[0] && (imp == n[1] || strings.HasPrefix(imp, n[1]+"/")) {
					t.Errorf("%s imports %s, which it must never do", pkg, imp)
				}
			}
		}
	}
	for p := range layerOf {
		if _, ok := pkgs[p]; !ok {
			t.Errorf("layers lists %s, which is not a package of the module", p)
		}
	}
}

// packages reads, for every package directory of the module, the module's
// packages its non-test files import.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, is := range f.Imports {
			imp := strings.Trim(is.Path.Value, `"`)
			if rel, ok := strings.CutPrefix(imp, module); ok && !slices.Contains(out[pkg], rel) {
				out[pkg] = append(out[pkg], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		wd, _ := os.Getwd()
		t.Fatalf("no Go package found under %s", wd)
	}
	return out
}
