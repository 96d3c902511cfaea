package rules

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kaudit/kaudit/detect/rulefile"
)

// Load returns the built-in library merged with the rule files of userDir
// (none when userDir is empty): the user's rules add to or replace built-in
// ones by id, their exceptions add to the named rules, and disable
// switches rules off.
func Load(userDir string) (*rulefile.RuleSet, error) {
	builtin, err := rulefile.LoadFS(FS)
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	var user []rulefile.RuleFile
	if userDir != "" {
		st, err := os.Stat(userDir)
		if err != nil {
			return nil, fmt.Errorf("rules directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("rules directory %s is not a directory", userDir)
		}
		user, err = rulefile.LoadFS(os.DirFS(userDir))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", userDir, err)
		}
		for i := range user {
			for j := range user[i].Rules {
				user[i].Rules[j].Source = filepath.Join(userDir, user[i].Rules[j].Source)
			}
		}
	}
	return rulefile.Merge(builtin, user)
}
