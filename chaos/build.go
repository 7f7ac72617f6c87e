package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaryPackage is the import path of the one cpgw binary.
const binaryPackage = "github.com/cpgw/cpgw/cmd/cpgw"

// BuildBinary builds cmd/cpgw into dir/cpgw and returns its path. It builds
// from the module root (found with go env GOMOD) so that it works from any
// working directory, and without -race: the processes are the system under
// fault, not under the race detector, and an unraced build is much faster.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("chaos: build: %w", err)
	}
	out, err := filepath.Abs(filepath.Join(dir, "cpgw"))
	if err != nil {
		return "", fmt.Errorf("chaos: build: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, binaryPackage)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("chaos: go build %s: %w: %s", binaryPackage, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// moduleRoot is the directory of the go.mod of the current module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("chaos: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("chaos: not inside a Go module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}
