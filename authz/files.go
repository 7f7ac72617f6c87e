package authz

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxFileBytes bounds every file this package reads (JWKS, policy, keys):
// they are small, and a huge one is a mistake, not something to buffer.
const maxFileBytes = 1 << 20

// readFileLimited reads at most max bytes of path, and fails if there are more.
func readFileLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, nil
}

// watchedFile is what a reloader knows about the file its current material
// came from. Its owner serialises access.
type watchedFile struct {
	path   string
	info   os.FileInfo // stat taken before the current content was read; nil before the first load
	sum    [sha256.Size]byte
	loaded bool
}

// changed returns the file's content if it may differ from what was loaded:
// a stamp (identity, size, modification time) that moved, or force. It
// returns nil content when the file is unchanged; a file whose stamp moved
// but whose content hash did not just has its stamp renewed. The caller
// commits content it has loaded; content that failed to load is not
// committed, so it is read again on the next check.
func (w *watchedFile) changed(force bool) ([]byte, os.FileInfo, error) {
	// Stat before reading: the stamp kept is never newer than the content,
	// so a file replaced in between is read again next time.
	info, err := os.Stat(w.path)
	if err != nil {
		return nil, nil, err
	}
	if !force && w.info != nil && sameStamp(info, w.info) {
		return nil, nil, nil
	}
	b, err := readFileLimited(w.path, maxFileBytes)
	if err != nil {
		return nil, nil, err
	}
	if w.loaded && sha256.Sum256(b) == w.sum {
		w.info = info
		return nil, nil, nil
	}
	return b, info, nil
}

func (w *watchedFile) commit(info os.FileInfo, content []byte) {
	w.info, w.sum, w.loaded = info, sha256.Sum256(content), true
}

func sameStamp(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// writeFileAtomic writes data to path with permissions perm so that readers
// (a reloading gateway) see either the old file or the new one, never a
// half-written one: a temporary file in the same directory, synced, then
// renamed over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("authz: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("authz: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Best effort: make the rename durable; the new file is in place either way.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
