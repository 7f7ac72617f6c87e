package files

import (
	"crypto/sha256"
	"os"
)

// Watched is what a reloader knows about the files its current material came
// from: their stamps as seen before that content was read, and its hashes.
// Files watched together change together: if any of them moved, all are read,
// and the change holds all their contents. Its owner serialises calls.
type Watched struct {
	paths  []string
	max    int64
	infos  []os.FileInfo // nil before the first commit
	sums   [][sha256.Size]byte
	loaded bool
}

// Change is a new version of a Watched's files, read but not yet committed.
type Change struct {
	// Content holds the files' contents, in the order of the paths given to
	// Watch.
	Content [][]byte
	infos   []os.FileInfo
	sums    [][sha256.Size]byte
}

// Watch watches paths, each read with ReadLimited(path, max). Nothing is
// loaded yet: the first Changed reports the files' contents.
func Watch(max int64, paths ...string) *Watched {
	return &Watched{paths: append([]string(nil), paths...), max: max}
}

// Changed returns the files' contents if they may differ from what was last
// committed: a stamp (identity, size, modification time) that moved, or
// force. It returns nil when the files are unchanged; files whose stamps
// moved but whose contents did not just have their stamps renewed. The caller
// commits a change once it has loaded it; a change that fails to load is not
// committed, so it is reported again on the next call. Errors come from
// os.Stat or ReadLimited and name the file.
func (w *Watched) Changed(force bool) (*Change, error) {
	// Stat before reading: the stamps kept are never newer than the
	// contents, so a file replaced in between is read again next time.
	ch := &Change{
		Content: make([][]byte, len(w.paths)),
		infos:   make([]os.FileInfo, len(w.paths)),
		sums:    make([][sha256.Size]byte, len(w.paths)),
	}
	same := w.infos != nil
	for i, p := range w.paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		ch.infos[i] = info
		same = same && sameStamp(info, w.infos[i])
	}
	if same && !force {
		return nil, nil
	}
	unchanged := w.loaded
	for i, p := range w.paths {
		b, err := ReadLimited(p, w.max)
		if err != nil {
			return nil, err
		}
		ch.Content[i], ch.sums[i] = b, sha256.Sum256(b)
		unchanged = unchanged && ch.sums[i] == w.sums[i]
	}
	if unchanged {
		w.infos = ch.infos
		return nil, nil
	}
	return ch, nil
}

// Commit records ch, returned by this Watched's Changed, as loaded: later
// calls compare against it.
func (w *Watched) Commit(ch *Change) {
	w.infos, w.sums, w.loaded = ch.infos, ch.sums, true
}

func sameStamp(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
