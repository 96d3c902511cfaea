package rulefile

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// LoadFS reads every *.yaml and *.yml file of fsys (not those ending in
// _test.yaml, which hold rule tests, nor matrix.yaml, the technique table)
// as rule files, in name order.
func LoadFS(fsys fs.FS) ([]RuleFile, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || IsTestFile(p) || p == MatrixFile {
			return nil
		}
		if ext := path.Ext(p); ext == ".yaml" || ext == ".yml" {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	sort.Strings(names)
	var files []RuleFile
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read rules %s: %w", n, err)
		}
		var rf RuleFile
		if err := yaml.UnmarshalStrict(data, &rf); err != nil {
			return nil, fmt.Errorf("rules %s: %w", n, err)
		}
		for i := range rf.Rules {
			rf.Rules[i].Source = n
		}
		files = append(files, rf)
	}
	return files, nil
}

// MatrixFile is the name, at the root of a rules directory, of the
// technique table (see rules/matrix.yaml); it holds no rules.
const MatrixFile = "matrix.yaml"

// IsTestFile reports whether a file in a rules directory holds rule tests.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}
