package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testMax = 1 << 10

// write writes data to path in place (same inode), failing the test on error.
func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace writes data to path by rename (a new inode).
func replace(t *testing.T, path, data string) {
	t.Helper()
	if err := WriteAtomic(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func setModTime(t *testing.T, path string, mt time.Time) {
	t.Helper()
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// changed calls w.Changed and returns the contents as strings (nil for no
// change), failing the test on error.
func changed(t *testing.T, w *Watched, force bool) (*Change, []string) {
	t.Helper()
	ch, err := w.Changed(force)
	if err != nil {
		t.Fatalf("Changed(%v): %v", force, err)
	}
	if ch == nil {
		return nil, nil
	}
	var s []string
	for _, b := range ch.Content {
		s = append(s, string(b))
	}
	return ch, s
}

// is reports whether got (from changed) is want: "" for nil, else the
// contents joined by commas.
func is(got []string, want string) bool {
	if want == "" {
		return got == nil
	}
	return strings.Join(got, ",") == want
}

// loaded returns a Watched of a new file holding content, with that content
// committed.
func loaded(t *testing.T, content string) (string, *Watched) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, content)
	w := Watch(testMax, path)
	ch, got := changed(t, w, false)
	if !is(got, content) {
		t.Fatalf("first Changed = %q, want %q", got, content)
	}
	w.Commit(ch)
	return path, w
}

func TestWatched(t *testing.T) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	tests := []struct {
		name  string
		edit  func(t *testing.T, path string) // after "v1" is loaded and committed
		force bool
		want  string // "" means no change (nil)
	}{
		{name: "unchanged", edit: func(*testing.T, string) {}},
		{name: "unchanged, forced", edit: func(*testing.T, string) {}, force: true},
		{name: "same bytes rewritten in place", edit: func(t *testing.T, p string) {
			write(t, p, "v1")
			setModTime(t, p, past)
		}},
		{name: "same bytes replaced by rename", edit: func(t *testing.T, p string) { replace(t, p, "v1") }},
		{name: "changed in place", edit: func(t *testing.T, p string) {
			write(t, p, "v2")
			setModTime(t, p, past) // the modification time moves even on a coarse clock
		}, want: "v2"},
		{name: "changed in place, size moved", edit: func(t *testing.T, p string) {
			mt := modTime(t, p)
			write(t, p, "version 2")
			setModTime(t, p, mt)
		}, want: "version 2"},
		{name: "replaced by rename, same size and time", edit: func(t *testing.T, p string) {
			mt := modTime(t, p)
			replace(t, p, "v2")
			setModTime(t, p, mt)
		}, want: "v2"},
		{name: "rewritten in place keeping the stamp", edit: func(t *testing.T, p string) {
			mt := modTime(t, p)
			write(t, p, "v2")
			setModTime(t, p, mt)
		}},
		{name: "rewritten in place keeping the stamp, forced", edit: func(t *testing.T, p string) {
			mt := modTime(t, p)
			write(t, p, "v2")
			setModTime(t, p, mt)
		}, force: true, want: "v2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, w := loaded(t, "v1")
			tc.edit(t, path)
			_, got := changed(t, w, tc.force)
			if !is(got, tc.want) {
				t.Errorf("Changed(%v) = %q, want %q", tc.force, got, tc.want)
			}
		})
	}
}

// An identical rewrite renews the stamp: a later in-place edit that keeps the
// renewed stamp is not seen without force. (Were the stamp not renewed, the
// old stamp would differ and the edit would be read.)
func TestWatchedRenewsStamp(t *testing.T) {
	path, w := loaded(t, "v1")
	replace(t, path, "v1")
	if _, got := changed(t, w, false); !is(got, "") {
		t.Fatalf("identical rewrite: Changed = %q, want nil", got)
	}
	mt := modTime(t, path)
	write(t, path, "v2")
	setModTime(t, path, mt)
	if _, got := changed(t, w, false); !is(got, "") {
		t.Errorf("edit keeping the renewed stamp: Changed = %q, want nil", got)
	}
	if _, got := changed(t, w, true); !is(got, "v2") {
		t.Errorf("forced: Changed = %q, want v2", got)
	}
}

// A change the caller does not commit (it failed to load) is returned again,
// even though its stamp has not moved since.
func TestWatchedUncommitted(t *testing.T) {
	steps := []struct {
		name   string
		edit   func(t *testing.T, path string)
		want   string // "" means nil
		commit bool
	}{
		{name: "bad content", edit: func(t *testing.T, p string) { replace(t, p, "bad") }, want: "bad"},
		{name: "not committed: again", edit: func(*testing.T, string) {}, want: "bad"},
		{name: "and again", edit: func(*testing.T, string) {}, want: "bad"},
		{name: "restored to the committed content", edit: func(t *testing.T, p string) { replace(t, p, "v1") }},
		{name: "fixed", edit: func(t *testing.T, p string) { replace(t, p, "v3") }, want: "v3", commit: true},
		{name: "committed: unchanged", edit: func(*testing.T, string) {}},
	}
	path, w := loaded(t, "v1")
	for _, s := range steps {
		s.edit(t, path)
		ch, got := changed(t, w, false)
		if !is(got, s.want) {
			t.Fatalf("%s: Changed = %q, want %q", s.name, got, s.want)
		}
		if s.commit {
			w.Commit(ch)
		}
	}
}

// Before the first commit every check returns the content.
func TestWatchedFirstLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, "v1")
	w := Watch(testMax, path)
	for i := range 2 {
		if _, got := changed(t, w, false); !is(got, "v1") {
			t.Fatalf("check %d: Changed = %q, want v1", i, got)
		}
	}
}

// Files watched together: a change to one returns all their contents.
func TestWatchedSet(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "a1")
	write(t, b, "b1")
	w := Watch(testMax, a, b)
	ch, got := changed(t, w, false)
	if !is(got, "a1,b1") {
		t.Fatalf("first Changed = %q", got)
	}
	w.Commit(ch)

	replace(t, a, "a1")
	if _, got := changed(t, w, false); !is(got, "") {
		t.Errorf("identical rewrite of one: Changed = %q, want nil", got)
	}
	replace(t, b, "b2")
	if _, got := changed(t, w, false); !is(got, "a1,b2") {
		t.Errorf("one changed: Changed = %q, want [a1 b2]", got)
	}
}

func TestWatchedErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, path string)
		want string
		is   error
	}{
		{name: "removed", edit: func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, want: "no such file", is: fs.ErrNotExist},
		{name: "too large", edit: func(t *testing.T, p string) {
			replace(t, p, strings.Repeat("x", testMax+1))
		}, want: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, w := loaded(t, "v1")
			tc.edit(t, path)
			_, err := w.Changed(false)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s and containing %q", err, path, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			// The committed version still stands: restoring it is no change.
			replace(t, path, "v1")
			if _, got := changed(t, w, false); !is(got, "") {
				t.Errorf("after restoring: Changed = %q, want nil", got)
			}
		})
	}
}
