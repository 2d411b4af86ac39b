package composetest

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction: its keyword, upper-cased, and
// the rest of it, continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

// parseDockerfile reads the instructions of a Dockerfile: comments and
// blank lines dropped, lines ending in a backslash joined with the next.
// It is a reading for these checks, not a full parser (no parser
// directives besides the escape default, no heredocs): buildkit's would
// bring a large module into go.mod for a few assertions.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends in a continuation line", path)
	}
	return out
}

var knownInstructions = []string{
	"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
	"ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from, name string
	ins        []instruction
}

func stages(t *testing.T, ins []instruction) []stage {
	t.Helper()
	var out []stage
	for _, in := range ins {
		if !slices.Contains(knownInstructions, in.cmd) {
			t.Errorf("line %d: unknown instruction %s", in.line, in.cmd)
		}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				t.Errorf("line %d: FROM %s", in.line, in.args)
			}
			out = append(out, st)
			continue
		}
		if len(out) == 0 {
			if in.cmd != "ARG" {
				t.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		out[len(out)-1].ins = append(out[len(out)-1].ins, in)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	st := stages(t, parseDockerfile(t, filepath.Join(root, "Dockerfile")))
	if len(st) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(st))
	}
	build, final := st[0], st[len(st)-1]

	// The build stage compiles the server statically.
	var static, builds bool
	for _, in := range build.ins {
		if in.cmd == "ENV" || in.cmd == "RUN" || in.cmd == "ARG" {
			static = static || strings.Contains(in.args, "CGO_ENABLED=0")
		}
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "./server") {
			builds = true
		}
	}
	if !static || !builds {
		t.Errorf("build stage: CGO_ENABLED=0 %v, go build ./server %v", static, builds)
	}
	if !strings.HasPrefix(build.from, "golang:") || build.name == "" {
		t.Errorf("build stage FROM %s AS %q, want a named golang stage", build.from, build.name)
	}

	// The final stage: a small base, only the binary from the build, and
	// a non-root user.
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", final.from)
	}
	var user string
	var fromBuild bool
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "RUN":
			t.Errorf("line %d: RUN in the final stage (it has no shell)", in.line)
		case "COPY", "ADD":
			if !strings.Contains(in.args, "--from="+build.name) {
				t.Errorf("line %d: %s into the final stage not from the build stage", in.line, in.cmd)
			}
			fromBuild = fromBuild || strings.Contains(in.args, "/reportit")
		}
	}
	if !fromBuild {
		t.Error("the final stage does not copy the binary from the build stage")
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "0" || name == "root" {
		t.Errorf("final stage runs as %q, want a non-root user", user)
	}
	if strings.HasSuffix(final.from, ":nonroot") && name != "65532" && name != "nonroot" {
		t.Errorf("final stage user %q, want distroless's nonroot (65532)", user)
	}
	var hc bool
	for _, in := range final.ins {
		hc = hc || (in.cmd == "HEALTHCHECK" && strings.Contains(in.args, "healthcheck"))
	}
	if !hc {
		t.Error("no HEALTHCHECK running reportit healthcheck")
	}
}

// TestParseDockerfile checks the reader on the forms it must get right.
func TestParseDockerfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Dockerfile")
	src := "# c\nARG V=1\nFROM a AS b\nRUN x \\\n  y\n\n# between\nUSER 1:1\nFROM scratch\nCOPY --from=b /x /x\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := parseDockerfile(t, path)
	want := []instruction{{"ARG", "V=1", 2}, {"FROM", "a AS b", 3}, {"RUN", "x  y", 4}, {"USER", "1:1", 8}, {"FROM", "scratch", 9}, {"COPY", "--from=b /x /x", 10}}
	if !slices.Equal(got, want) {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
	st := stages(t, got)
	if len(st) != 2 || st[0].name != "b" || len(st[0].ins) != 2 || st[1].from != "scratch" {
		t.Errorf("stages %+v", st)
	}
}
