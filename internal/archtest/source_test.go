package archtest

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// srcPackage is the non-test Go files of one directory, parsed.
type srcPackage struct {
	dir        string // relative to the module root, slash-separated
	importPath string
	files      []*ast.File
}

// module is every package of the module that the rules look at.
type module struct {
	root, path string
	fset       *token.FileSet
	pkgs       []*srcPackage
}

// moduleRoot is the directory of the main module's go.mod: `go env GOMOD`,
// or the nearest go.mod above the working directory if the go command is
// not at hand.
func moduleRoot(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod)
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

func modulePath(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			if p, err := strconv.Unquote(f[1]); err == nil {
				return p
			}
			return f[1]
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// skipDir is what the go command leaves out of ./... (testdata, vendor,
// names starting with . or _, nested modules), plus node_modules and the
// extension, which hold JavaScript (and the extension is its own module).
func skipDir(root, dir string, d fs.DirEntry) bool {
	if dir == root {
		return false
	}
	name := d.Name()
	switch {
	case name == "testdata", name == "vendor", name == "node_modules",
		strings.HasPrefix(name, "."), strings.HasPrefix(name, "_"):
		return true
	case filepath.Dir(dir) == root && name == "extension":
		return true
	}
	_, err := os.Stat(filepath.Join(dir, "go.mod"))
	return err == nil
}

// loadModule parses every non-test .go file under root. Files are parsed
// whatever their build constraints: a rule that holds for all of them holds
// on every platform.
func loadModule(t *testing.T, root string) *module {
	t.Helper()
	m := &module{root: root, path: modulePath(t, root), fset: token.NewFileSet()}
	byDir := map[string]*srcPackage{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir(root, p, d) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(m.fset, p, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		pkg := byDir[rel]
		if pkg == nil {
			ip := m.path
			if rel != "." {
				ip = path.Join(m.path, rel)
			}
			pkg = &srcPackage{dir: rel, importPath: ip}
			byDir[rel] = pkg
			m.pkgs = append(m.pkgs, pkg)
		}
		pkg.files = append(pkg.files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(m.pkgs, func(i, j int) bool { return m.pkgs[i].dir < m.pkgs[j].dir })
	return m
}

// loadDir parses the .go files of one directory as a package (for the
// rules' own test cases under testdata).
func loadDir(t *testing.T, fset *token.FileSet, dir string) *srcPackage {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pkg := &srcPackage{dir: dir, importPath: "example.com/" + filepath.Base(dir)}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") {
			f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			pkg.files = append(pkg.files, f)
		}
	}
	if len(pkg.files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	return pkg
}

// finding is a rule broken at a place.
type finding struct {
	pos token.Position
	msg string
}

func (f finding) String() string { return f.pos.String() + ": " + f.msg }

// importName is the name under which file f imports path: "" if it does
// not, "_" or "." for those imports.
func importName(f *ast.File, importPath string) string {
	for _, s := range f.Imports {
		if p, err := strconv.Unquote(s.Path.Value); err != nil || p != importPath {
			continue
		}
		p := importPath
		if s.Name != nil {
			return s.Name.Name
		}
		// The package name of golang-jwt/jwt/v5 is jwt; for the paths this
		// is used with, it is the last element that is not a major version.
		elems := strings.Split(p, "/")
		last := elems[len(elems)-1]
		if len(elems) > 1 && len(last) > 1 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
			last = elems[len(elems)-2]
		}
		return last
	}
	return ""
}

// wantComments reads `// want "text"` comments of a test case: line to
// expected substrings of the findings on that line.
func wantComments(fset *token.FileSet, files []*ast.File) map[string][]string {
	want := map[string][]string{}
	for _, f := range files {
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				text, ok := strings.CutPrefix(c.Text, "// want ")
				if !ok {
					continue
				}
				s, err := strconv.Unquote(strings.TrimSpace(text))
				if err != nil {
					continue
				}
				p := fset.Position(c.Pos())
				key := p.Filename + ":" + strconv.Itoa(p.Line)
				want[key] = append(want[key], s)
			}
		}
	}
	return want
}

// matchWants checks that findings are exactly those the want comments ask
// for: each finding on a line with a want whose text it contains, and each
// want met.
func matchWants(t *testing.T, fset *token.FileSet, files []*ast.File, got []finding) {
	t.Helper()
	want := wantComments(fset, files)
	met := map[string]bool{}
	for _, f := range got {
		key := f.pos.Filename + ":" + strconv.Itoa(f.pos.Line)
		ok := false
		for _, w := range want[key] {
			if strings.Contains(f.msg, w) {
				ok, met[key+"\x00"+w] = true, true
			}
		}
		if !ok {
			t.Errorf("unexpected finding %s", f)
		}
	}
	var missed bytes.Buffer
	for key, ws := range want {
		for _, w := range ws {
			if !met[key+"\x00"+w] {
				missed.WriteString("\n\t" + key + ": " + w)
			}
		}
	}
	if missed.Len() > 0 {
		t.Errorf("expected findings not reported:%s", missed.String())
	}
}
