package mosaic_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRootImportsOnlyStdlib keeps the domain free of I/O adapters: the root package may import
// the standard library only, and none of database/sql, net/http or os/exec.
func TestRootImportsOnlyStdlib(t *testing.T) {
	forbidden := map[string]bool{"database/sql": true, "net/http": true, "os/exec": true}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pf.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") || forbidden[path] {
				t.Errorf("%s imports %s: the root package holds the domain only", f, path)
			}
		}
	}
}

// TestEveryPackageHasDoc checks that every package says what it is for.
func TestEveryPackageHasDoc(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			return nil
		}
		entries, _ := os.ReadDir(path)
		var goFiles int
		var documented bool
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			goFiles++
			pf, err := parser.ParseFile(token.NewFileSet(), filepath.Join(path, n), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			if pf.Doc != nil && strings.TrimSpace(pf.Doc.Text()) != "" {
				documented = true
			}
		}
		if goFiles > 0 && !documented {
			t.Errorf("package %s has no doc comment", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
