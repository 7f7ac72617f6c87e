package files

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadLimited(t *testing.T) {
	tests := []struct {
		name    string
		size    int // -1: no file
		max     int64
		wantErr string // substring; "" for success
	}{
		{name: "empty", size: 0, max: 10},
		{name: "under", size: 9, max: 10},
		{name: "at the limit", size: 10, max: 10},
		{name: "one over", size: 11, max: 10, wantErr: "larger than 10 bytes"},
		{name: "far over", size: 1 << 20, max: 10, wantErr: "larger than 10 bytes"},
		{name: "zero limit", size: 1, max: 0, wantErr: "larger than 0 bytes"},
		{name: "missing", size: -1, max: 10, wantErr: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			want := bytes.Repeat([]byte("x"), max(tc.size, 0))
			if tc.size >= 0 {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadLimited(path, tc.max)
			if tc.wantErr == "" {
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("ReadLimited = %d bytes, %v; want %d bytes", len(got), err, len(want))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want one naming %s and containing %q", err, path, tc.wantErr)
			}
			if tc.size < 0 && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("err = %v, want fs.ErrNotExist", err)
			}
			if got != nil {
				t.Errorf("content = %d bytes on error, want nil", len(got))
			}
		})
	}
}
