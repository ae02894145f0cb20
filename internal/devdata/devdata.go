// Package devdata finds the development data sets the tests score Mosaic on: the folder
// ../shared/data beside the repository (every developer's and CI's checkout has it), or the
// folder named by MOSAIC_DEV_DATA.
package devdata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the data set folder sub (e.g. "identity") and checks that file exists in it.
// Without it the test is skipped, or fails under CI=true, where the data must be there.
func Dir(tb testing.TB, sub, file string) string {
	tb.Helper()
	var tried []string
	for _, root := range roots() {
		dir := filepath.Join(root, sub)
		if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
			return dir
		}
		tried = append(tried, dir)
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("development data %s/%s not found (looked in %v; set MOSAIC_DEV_DATA to the shared data folder)", sub, file, tried)
	}
	tb.Skipf("development data %s/%s not found (looked in %v; set MOSAIC_DEV_DATA to the shared data folder); skipping", sub, file, tried)
	return ""
}

// roots are the candidate data folders: MOSAIC_DEV_DATA, then shared/data beside the
// repository root (the directory holding go.mod, found upwards from the working directory).
func roots() []string {
	var out []string
	if d := os.Getenv("MOSAIC_DEV_DATA"); d != "" {
		out = append(out, d)
	}
	dir, err := os.Getwd()
	for err == nil {
		if _, serr := os.Stat(filepath.Join(dir, "go.mod")); serr == nil {
			out = append(out, filepath.Join(filepath.Dir(dir), "shared", "data"))
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return out
}
