package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries are what a run executes, built from the tree it runs in.
type binaries struct {
	reportit, baseline, loadgen string
}

// moduleRoot is the directory of the go.mod the benchmark belongs to.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the reportit module; run from the repository")
	}
	return filepath.Dir(mod), nil
}

// build compiles the three programs into dir. reportit is built as
// "make build" builds it (no cgo, trimmed paths), from serverRoot: the
// working tree, or a snapshot of a revision (see snapshotRev). With profiling,
// the server gets one more file through -overlay
// (bench/internal/serverpprof), which serves pprof when
// REPORTIT_BENCH_PPROF_ADDR is set; no tree is touched.
func build(ctx context.Context, root, serverRoot, dir string, profiling bool) (binaries, error) {
	b := binaries{
		reportit: filepath.Join(dir, "reportit"),
		baseline: filepath.Join(dir, "baseline"),
		loadgen:  filepath.Join(dir, "loadgen"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return b, err
	}
	serverArgs := []string{"build", "-trimpath", "-o", b.reportit}
	if profiling {
		overlay := filepath.Join(dir, "overlay.json")
		o := map[string]map[string]string{"Replace": {
			filepath.Join(serverRoot, "server", "zz_reportit_bench_pprof.go"): filepath.Join(root, "bench", "internal", "serverpprof", "pprof.go"),
		}}
		j, _ := json.Marshal(o)
		if err := os.WriteFile(overlay, j, 0o600); err != nil {
			return b, err
		}
		serverArgs = append(serverArgs, "-tags", "reportitbenchpprof", "-overlay", overlay)
	}
	for _, c := range []struct {
		dir  string
		args []string
		hint string
	}{
		{serverRoot, append(serverArgs, "./server"), "\n(if the working tree is mid-change, -rev HEAD builds the server from the last commit)"},
		{root, []string{"build", "-trimpath", "-o", b.baseline, "./bench/cmd/baseline"}, ""},
		{root, []string{"build", "-trimpath", "-o", b.loadgen, "./bench/cmd/loadgen"}, ""},
	} {
		args := c.args
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = c.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), c.hint)
		}
	}
	return b, nil
}

// snapshotRev extracts revision rev of the repository at root into dir (git
// archive: committed files only), so that a server can be built from a
// commit while the working tree is being changed. It returns the full
// commit hash.
func snapshotRev(ctx context.Context, root, rev, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", rev+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse %s: %w", rev, err)
	}
	commit := strings.TrimSpace(string(out))
	cmd := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", commit)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	xerr := untar(pipe, dir)
	io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("git archive %s: %w", rev, err)
	}
	return commit, xerr
}

// untar extracts the regular files and directories of a tar stream below
// dir, refusing any path that would leave it.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("git archive: unsafe path %q", h.Name)
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
