package rules

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kaudit/kaudit/detect"
)

// Load returns the built-in library merged with the rule files of userDir
// (none when userDir is empty): the user's rules add to or replace built-in
// ones by id, their exceptions add to the named rules, and disable
// switches rules off.
func Load(userDir string) (*detect.RuleSet, error) {
	builtin, err := detect.LoadFS(FS)
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	var user []detect.RuleFile
	if userDir != "" {
		st, err := os.Stat(userDir)
		if err != nil {
			return nil, fmt.Errorf("rules directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("rules directory %s is not a directory", userDir)
		}
		user, err = detect.LoadFS(os.DirFS(userDir))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", userDir, err)
		}
		for i := range user {
			for j := range user[i].Rules {
				user[i].Rules[j].Source = filepath.Join(userDir, user[i].Rules[j].Source)
			}
		}
	}
	return detect.Merge(builtin, user)
}
