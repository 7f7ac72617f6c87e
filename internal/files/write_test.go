package files

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// dirNames lists dir's entries.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteAtomic(t *testing.T) {
	tests := []struct {
		name  string
		old   []byte // nil: no file before
		data  []byte
		perm  os.FileMode
		chdir bool // write a bare file name in the working directory
	}{
		{name: "new file", data: []byte("hello\n"), perm: 0o644},
		{name: "replaces content", old: []byte("a much longer old content\n"), data: []byte("new\n"), perm: 0o644},
		{name: "empty", old: []byte("old"), data: []byte{}, perm: 0o644},
		{name: "private perm", data: []byte("key"), perm: 0o600},
		{name: "perm narrowed on replace", old: []byte("x"), data: []byte("key"), perm: 0o600},
		{name: "perm beyond umask", data: []byte("x"), perm: 0o666},
		{name: "bare name", data: []byte("x"), perm: 0o640, chdir: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.conf")
			target := path
			if tc.chdir {
				t.Chdir(dir)
				target = "f.conf"
			}
			if tc.old != nil {
				if err := os.WriteFile(path, tc.old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteAtomic(target, tc.data, tc.perm); err != nil {
				t.Fatalf("WriteAtomic: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Errorf("content = %q, want %q", got, tc.data)
			}
			if names := dirNames(t, dir); len(names) != 1 || names[0] != "f.conf" {
				t.Errorf("directory holds %q, want only f.conf (no temporary files)", names)
			}
			if runtime.GOOS == "windows" {
				return
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.perm {
				t.Errorf("perm = %v, want %v", fi.Mode().Perm(), tc.perm)
			}
		})
	}
}

func TestWriteAtomicErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to write
		keep  []string                              // the directory's entries afterwards
	}{
		{
			name:  "no such directory",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "missing", "f") },
		},
		{
			// The temporary file is written, and the rename fails: it is removed.
			name: "rename fails",
			setup: func(t *testing.T, dir string) string {
				target := filepath.Join(dir, "target")
				if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				return target
			},
			keep: []string{"target"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			err := WriteAtomic(path, []byte("x"), 0o644)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want an error naming %s", err, path)
			}
			if names := dirNames(t, dir); strings.Join(names, ",") != strings.Join(tc.keep, ",") {
				t.Errorf("directory holds %q, want %q (temporary file left behind?)", names, tc.keep)
			}
		})
	}
}

// TestWriteAtomicReaders checks that concurrent readers see only whole
// versions while a writer replaces the file.
func TestWriteAtomicReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	versions := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 1000)}
	if err := WriteAtomic(path, versions[0], 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if !bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1]) {
					t.Errorf("read %d bytes that are neither version", len(b))
					return
				}
			}
		})
	}
	for i := range 200 {
		if err := WriteAtomic(path, versions[i%2], 0o644); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
}
