package archtest

import (
	"fmt"
	"go/ast"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The JWT parsing rule. golang-jwt/jwt/v5 verifies only what it is told
// to: without WithValidMethods the token's own alg picks the algorithm
// (RFC 8725 §3.1), without WithExpirationRequired a token without exp never
// expires, and without WithAudience and WithIssuer a token minted for
// another service or API is accepted (RFC 8725 §3.8, §3.9). So every place
// that makes a parser or parses must say all four.

const jwtImport = "github.com/golang-jwt/jwt/v5"

var requiredParserOptions = []string{"WithValidMethods", "WithExpirationRequired", "WithAudience", "WithIssuer"}

// parseFuncs are the package functions that parse, with the index of their
// first option argument.
var parseFuncs = map[string]int{"Parse": 2, "ParseWithClaims": 3, "NewParser": 0}

// forbiddenJWT are names of the package that undo the checks whatever the
// options: not to be used outside tests.
var forbiddenJWT = map[string]string{
	"WithoutClaimsValidation":      "turns off exp, nbf, iat, aud and iss checks",
	"UnsafeAllowNoneSignatureType": `lets alg "none" tokens verify`,
	"SigningMethodNone":            `is alg "none"`,
}

// maxDepth bounds how far option expressions are followed through
// variables and helper functions.
const maxDepth = 8

type optionSet map[string]bool

type jwtChecker struct {
	fset     *token.FileSet
	findings []finding
	calls    int // parse calls whose options were checked

	// Per package.
	funcs map[string]*ast.FuncDecl // package-level functions by name
	vars  map[string]*ast.ValueSpec
	// Per file being checked.
	file    *ast.File
	jwtName string
	blocks  map[ast.Node]*ast.BlockStmt // statement -> innermost enclosing block
	assigns map[*ast.Object][]*ast.AssignStmt
	byName  map[string][]*ast.AssignStmt // to package-level names (unresolved in the file)
	indexed map[*ast.Object]bool         // elements assigned by index: x[i] = ...
	topVars map[*ast.ValueSpec]bool
	// Variables being followed, against cycles such as x = append(x, ...).
	visiting map[any]bool
}

func (c *jwtChecker) report(n ast.Node, format string, args ...any) {
	c.findings = append(c.findings, finding{c.fset.Position(n.Pos()), fmt.Sprintf(format, args...)})
}

// checkJWTPackage applies the rule to one package.
func checkJWTPackage(c *jwtChecker, pkg *srcPackage) {
	c.funcs, c.vars, c.topVars = map[string]*ast.FuncDecl{}, map[string]*ast.ValueSpec{}, map[*ast.ValueSpec]bool{}
	c.byName = map[string][]*ast.AssignStmt{}
	for _, f := range pkg.files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					c.funcs[d.Name.Name] = d
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok && d.Tok == token.VAR {
						c.topVars[vs] = true
						for _, n := range vs.Names {
							c.vars[n.Name] = vs
						}
					}
				}
			}
		}
	}
	// Assignments to package-level variables, from any file: unresolved
	// names (declared in another file) and names resolved to a
	// package-level var of this file.
	for _, f := range pkg.files {
		ast.Inspect(f, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok {
				for _, l := range as.Lhs {
					id, ok := l.(*ast.Ident)
					if !ok {
						continue
					}
					if vs, _ := objDecl(id).(*ast.ValueSpec); id.Obj == nil || c.topVars[vs] {
						c.byName[id.Name] = append(c.byName[id.Name], as)
					}
				}
			}
			return true
		})
	}
	for _, f := range pkg.files {
		c.checkFile(f)
	}
}

func (c *jwtChecker) checkFile(f *ast.File) {
	c.file = f
	// ParseUnverified is a method: it is refused on whatever it is called,
	// in any file, as golang-jwt is the only JWT library allowed.
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "ParseUnverified" {
			c.report(sel, "ParseUnverified skips the signature check")
		}
		return true
	})
	c.jwtName = importName(f, jwtImport)
	switch c.jwtName {
	case "", "_":
		return
	case ".":
		c.report(f.Name, "dot import of %s: its calls cannot be checked; import it by name", jwtImport)
		return
	}
	c.prepare(f)
	called := map[ast.Expr]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			called[call.Fun] = true
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if name, ok := c.jwtSel(n.Fun); ok {
				if first, ok := parseFuncs[name]; ok {
					c.checkCall(n, name, first)
				}
			}
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && id.Obj == nil && len(n.Args) == 1 {
				if name, ok := c.jwtSel(n.Args[0]); ok && name == "Parser" {
					c.report(n, "new(%s.Parser) is a parser without options; use %[1]s.NewParser", c.jwtName)
				}
			}
		case *ast.CompositeLit:
			if name, ok := c.jwtSel(n.Type); ok && name == "Parser" {
				c.report(n, "a %s.Parser literal is a parser without options; use %[1]s.NewParser", c.jwtName)
			}
		case *ast.ValueSpec:
			if name, ok := c.jwtSel(n.Type); ok && name == "Parser" {
				c.report(n, "a %s.Parser variable is a parser without options; use %[1]s.NewParser", c.jwtName)
			}
		case *ast.SelectorExpr:
			name, ok := c.jwtSel(n)
			if !ok {
				break
			}
			if why, bad := forbiddenJWT[name]; bad {
				c.report(n, "%s.%s %s", c.jwtName, name, why)
			}
			if _, parses := parseFuncs[name]; parses && !called[n] {
				c.report(n, "%s.%s used as a value: the options of its calls cannot be checked", c.jwtName, name)
			}
		}
		return true
	})
}

// prepare indexes the file's assignments by the variable they assign and
// each statement's enclosing block.
func (c *jwtChecker) prepare(f *ast.File) {
	c.blocks = map[ast.Node]*ast.BlockStmt{}
	c.assigns = map[*ast.Object][]*ast.AssignStmt{}
	c.indexed = map[*ast.Object]bool{}
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if b, ok := stack[i].(*ast.BlockStmt); ok {
				c.blocks[n] = b
				break
			}
		}
		stack = append(stack, n)
		if as, ok := n.(*ast.AssignStmt); ok {
			for _, l := range as.Lhs {
				switch l := l.(type) {
				case *ast.Ident:
					if l.Obj != nil {
						c.assigns[l.Obj] = append(c.assigns[l.Obj], as)
					}
				case *ast.IndexExpr:
					if id, ok := l.X.(*ast.Ident); ok && id.Obj != nil {
						c.indexed[id.Obj] = true
					}
				}
			}
		}
		return true
	})
}

func objDecl(id *ast.Ident) any {
	if id.Obj == nil {
		return nil
	}
	return id.Obj.Decl
}

// jwtSel reports whether e is jwt.Name for the file's import of golang-jwt
// (and not a local variable that shadows the package name).
func (c *jwtChecker) jwtSel(e ast.Expr) (string, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok || id.Name != c.jwtName || id.Obj != nil {
		return "", false
	}
	return sel.Sel.Name, true
}

func (c *jwtChecker) checkCall(call *ast.CallExpr, name string, first int) {
	c.calls++
	fn := c.jwtName + "." + name
	if call.Ellipsis.IsValid() && len(call.Args)-1 < first {
		c.report(call, "%s called with a spread argument list: its options cannot be checked", fn)
		return
	}
	got := optionSet{}
	for i := first; i < len(call.Args); i++ {
		spread := call.Ellipsis.IsValid() && i == len(call.Args)-1
		c.visiting = map[any]bool{}
		s, why := c.options(call.Args[i], spread, 0)
		if why != "" {
			c.report(call.Args[i], "cannot tell the options of %s: %s", fn, why)
			return
		}
		for o := range s {
			got[o] = true
		}
	}
	var missing []string
	for _, o := range requiredParserOptions {
		if !got[o] {
			missing = append(missing, c.jwtName+"."+o)
		}
	}
	if len(missing) > 0 {
		c.report(call, "%s without %s", fn, strings.Join(missing, ", "))
	}
}

// options is the set of golang-jwt options e certainly holds: e is one
// option, or a slice of them if slice. why says what could not be followed.
func (c *jwtChecker) options(e ast.Expr, slice bool, depth int) (optionSet, string) {
	if depth > maxDepth {
		return nil, "followed too many variables and functions"
	}
	switch e := ast.Unparen(e).(type) {
	case *ast.CallExpr:
		if name, ok := c.jwtSel(e.Fun); ok && !slice {
			return optionSet{name: true}, ""
		}
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "append" && id.Obj == nil && slice && len(e.Args) > 0 {
			out, why := c.options(e.Args[0], true, depth+1)
			if why != "" {
				return nil, why
			}
			for i, a := range e.Args[1:] {
				s, why := c.options(a, e.Ellipsis.IsValid() && i == len(e.Args)-2, depth+1)
				if why != "" {
					return nil, why
				}
				for o := range s {
					out[o] = true
				}
			}
			return out, ""
		}
		if id, ok := e.Fun.(*ast.Ident); ok {
			if fd := c.funcs[id.Name]; fd != nil && (id.Obj == nil || id.Obj.Decl == fd) {
				return c.returned(fd, slice, depth)
			}
		}
		return nil, "options come from " + c.text(e.Fun) + "(...)"
	case *ast.CompositeLit:
		if !slice {
			return nil, "a composite literal where an option is expected"
		}
		out := optionSet{}
		for _, el := range e.Elts {
			if _, ok := el.(*ast.KeyValueExpr); ok {
				return nil, "an indexed slice literal"
			}
			s, why := c.options(el, false, depth+1)
			if why != "" {
				return nil, why
			}
			for o := range s {
				out[o] = true
			}
		}
		return out, ""
	case *ast.SliceExpr:
		// x[i:j] holds some of x's options: none certainly.
		if slice {
			return optionSet{}, ""
		}
	case *ast.Ident:
		return c.variable(e, slice, depth)
	}
	return nil, "options come from " + c.text(e)
}

// variable follows a variable to its declaration and every assignment.
// Only unconditional assignments are followed: an option added in an if
// branch is not certainly there.
func (c *jwtChecker) variable(id *ast.Ident, slice bool, depth int) (optionSet, string) {
	var (
		spec    *ast.ValueSpec
		define  *ast.AssignStmt
		assigns []*ast.AssignStmt
		key     any
	)
	if id.Obj != nil {
		key = id.Obj
		switch d := id.Obj.Decl.(type) {
		case *ast.ValueSpec:
			spec = d
		case *ast.AssignStmt:
			define = d
		case *ast.Field:
			return nil, "they are the parameter " + id.Name + "; pass the options where the parser is made"
		default:
			return nil, id.Name + " is not a variable"
		}
		if c.indexed[id.Obj] {
			return nil, "elements of " + id.Name + " are assigned by index"
		}
		if !c.topVars[spec] {
			assigns = c.assigns[id.Obj]
		}
	} else {
		spec = c.vars[id.Name]
		if spec == nil {
			return nil, "cannot find the declaration of " + id.Name
		}
		key = spec
	}
	if spec != nil && c.topVars[spec] {
		assigns = append(assigns, c.byName[id.Name]...)
	}
	if c.visiting[key] {
		return optionSet{}, "" // x = append(x, ...): x itself is counted once
	}
	c.visiting[key] = true
	defer delete(c.visiting, key)

	out := optionSet{}
	add := func(e ast.Expr) string {
		s, why := c.options(e, slice, depth+1)
		for o := range s {
			out[o] = true
		}
		return why
	}
	var declBlock *ast.BlockStmt
	switch {
	case spec != nil:
		for i, n := range spec.Names {
			if n.Name == id.Name && i < len(spec.Values) {
				if why := add(spec.Values[i]); why != "" {
					return nil, why
				}
			}
		}
		if len(spec.Values) > 0 && len(spec.Values) != len(spec.Names) {
			return nil, id.Name + " is declared from a multi-value expression"
		}
		declBlock = c.blocks[c.declStmt(spec)]
	case define != nil:
		if len(define.Lhs) != len(define.Rhs) {
			return nil, id.Name + " is declared from a multi-value expression"
		}
		for i, l := range define.Lhs {
			if l.(*ast.Ident).Name == id.Name {
				if why := add(define.Rhs[i]); why != "" {
					return nil, why
				}
			}
		}
		declBlock = c.blocks[define]
	}
	for _, as := range assigns {
		if as == define {
			continue
		}
		if spec != nil && c.topVars[spec] {
			return nil, "the package-level variable " + id.Name + " is assigned in a function"
		}
		grows := selfAppend(as, id.Name)
		if c.blocks[as] != declBlock {
			// x = append(x, ...) in a branch or loop may add options, and
			// cannot take any away: it adds nothing certain.
			if grows {
				continue
			}
			return nil, fmt.Sprintf("%s is changed conditionally or in another function (%s)", id.Name, c.fset.Position(as.Pos()))
		}
		if as.Pos() > id.Pos() {
			continue // after the use
		}
		if !grows {
			return nil, fmt.Sprintf("%s is reassigned (%s); build it once, then append", id.Name, c.fset.Position(as.Pos()))
		}
		if why := add(as.Rhs[0]); why != "" {
			return nil, why
		}
	}
	return out, ""
}

// selfAppend reports whether as is name = append(name, ...).
func selfAppend(as *ast.AssignStmt, name string) bool {
	if as.Tok != token.ASSIGN || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
		return false
	}
	if l, ok := as.Lhs[0].(*ast.Ident); !ok || l.Name != name {
		return false
	}
	call, ok := as.Rhs[0].(*ast.CallExpr)
	if !ok || len(call.Args) == 0 {
		return false
	}
	fn, ok := call.Fun.(*ast.Ident)
	x, ok2 := call.Args[0].(*ast.Ident)
	return ok && ok2 && fn.Name == "append" && fn.Obj == nil && x.Name == name
}

// declStmt is the statement that declares spec (for its block).
func (c *jwtChecker) declStmt(spec *ast.ValueSpec) ast.Node {
	var stmt ast.Node
	ast.Inspect(c.file, func(n ast.Node) bool {
		if ds, ok := n.(*ast.DeclStmt); ok {
			if gd, ok := ds.Decl.(*ast.GenDecl); ok {
				for _, s := range gd.Specs {
					if s == spec {
						stmt = ds
					}
				}
			}
		}
		return stmt == nil
	})
	return stmt
}

// returned is what a helper function certainly returns: the options common
// to all its return statements.
func (c *jwtChecker) returned(fd *ast.FuncDecl, slice bool, depth int) (optionSet, string) {
	if fd.Body == nil || fd.Type.Results == nil || len(fd.Type.Results.List) != 1 || len(fd.Type.Results.List[0].Names) > 1 {
		return nil, fd.Name.Name + " does not return exactly one value"
	}
	if c.visiting[fd] {
		return nil, fd.Name.Name + " is recursive"
	}
	c.visiting[fd] = true
	defer delete(c.visiting, fd)
	var (
		out  optionSet
		why  string
		seen bool
	)
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt:
			if why != "" {
				return false
			}
			if len(n.Results) != 1 {
				why = fd.Name.Name + " has a bare return"
				return false
			}
			s, w := c.options(n.Results[0], slice, depth+1)
			if w != "" {
				why = w
				return false
			}
			if !seen {
				out, seen = s, true
				return false
			}
			for o := range out {
				if !s[o] {
					delete(out, o)
				}
			}
		}
		return true
	})
	if why != "" {
		return nil, why
	}
	if !seen {
		return nil, fd.Name.Name + " has no return statement"
	}
	return out, ""
}

func (c *jwtChecker) text(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return c.text(e.X) + "." + e.Sel.Name
	}
	p := c.fset.Position(e.Pos())
	return fmt.Sprintf("an expression at %s:%d", filepath.Base(p.Filename), p.Line)
}

// TestJWTParsingHasRequiredOptions applies the rule to the module.
func TestJWTParsingHasRequiredOptions(t *testing.T) {
	m := loadModule(t, moduleRoot(t))
	c := &jwtChecker{fset: m.fset}
	for _, p := range m.pkgs {
		checkJWTPackage(c, p)
	}
	for _, f := range c.findings {
		t.Errorf("%s", f)
	}
	// The token package makes its parsers with jwt.NewParser: a scan that
	// found no call at all looked in the wrong place.
	if c.calls == 0 {
		t.Fatalf("no golang-jwt parse call found in %d packages under %s", len(m.pkgs), m.root)
	}
	t.Logf("%d golang-jwt parse calls checked in %d packages", c.calls, len(m.pkgs))
}

// TestJWTRuleCases proves the rule on its own cases: every finding in
// testdata/jwtparse/bad is announced by a `// want "..."` comment on its
// line, and testdata/jwtparse/good has none.
func TestJWTRuleCases(t *testing.T) {
	for _, dir := range []string{"bad", "good"} {
		t.Run(dir, func(t *testing.T) {
			fset := token.NewFileSet()
			pkg := loadDir(t, fset, filepath.Join("testdata", "jwtparse", dir))
			c := &jwtChecker{fset: fset}
			checkJWTPackage(c, pkg)
			matchWants(t, fset, pkg.files, c.findings)
			if dir == "bad" && len(c.findings) < 10 {
				t.Errorf("only %d findings in the bad cases", len(c.findings))
			}
			if dir == "good" && c.calls < 8 {
				t.Errorf("only %d calls checked in the good cases", c.calls)
			}
		})
	}
}

// TestJWTRuleCatchesMutants removes each required option in turn from the
// real calls of internal/token (in memory) and checks the rule notices.
func TestJWTRuleCatchesMutants(t *testing.T) {
	root := moduleRoot(t)
	for _, opt := range requiredParserOptions {
		t.Run(opt, func(t *testing.T) {
			fset := token.NewFileSet()
			pkg := loadDir(t, fset, filepath.Join(root, "internal", "token"))
			var src []*ast.File
			for _, f := range pkg.files {
				if !strings.HasSuffix(fset.Position(f.Pos()).Filename, "_test.go") {
					src = append(src, f)
				}
			}
			pkg.files = src
			removed := 0
			for _, f := range pkg.files {
				name := importName(f, jwtImport)
				ast.Inspect(f, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					args := call.Args[:0:0]
					for _, a := range call.Args {
						if c, ok := a.(*ast.CallExpr); ok {
							if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == opt {
								if id, ok := sel.X.(*ast.Ident); ok && id.Name == name {
									removed++
									continue
								}
							}
						}
						args = append(args, a)
					}
					call.Args = args
					return true
				})
			}
			if removed == 0 {
				t.Fatalf("internal/token does not pass %s anywhere", opt)
			}
			c := &jwtChecker{fset: fset}
			checkJWTPackage(c, pkg)
			if len(c.findings) == 0 {
				t.Fatalf("removing %d use(s) of %s went unnoticed", removed, opt)
			}
			for _, f := range c.findings {
				if !strings.Contains(f.msg, "without") || !strings.Contains(f.msg, "."+opt) {
					t.Errorf("unexpected finding %s", f)
				}
			}
		})
	}
}
