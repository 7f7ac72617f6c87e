// Package files holds the file helpers shared by the packages that write
// configuration and key material and reload it while running (authz,
// internal/certs): an atomic replace for writers, a bounded read, and a
// change detector for reloaders that poll.
//
// # Guarantees
//
//   - WriteAtomic replaces a file by renaming a complete, fsynced temporary
//     file from the same directory over it. On POSIX systems rename is atomic,
//     so a concurrent reader opens either the old file or the new one, never
//     a partial one. The new file has exactly the permissions asked for (the
//     umask does not apply). On failure the temporary file is removed and the
//     old file is untouched.
//   - ReadLimited never buffers more than max+1 bytes; a larger file is an
//     error naming the file.
//   - A Watched reports a change when a file's stamp (identity by
//     os.SameFile, size, modification time) moved since the last commit and
//     its content (by SHA-256) differs; an identical rewrite is not a change.
//     Stamps are taken before content is read, so the stamp kept is never
//     newer than the content it describes, and a file replaced in between is
//     read again on the next check. Content the caller fails to load is not
//     committed, so it is reported again on every check until the caller
//     commits a change or the files return to the committed content.
//
// # Non-guarantees
//
//   - Durability across power loss or an OS crash: the file's data is fsynced
//     before the rename, so a directory entry naming the new file never
//     names missing data; but the directory itself is fsynced after the
//     rename only as a best effort, and errors doing so are ignored (not every
//     platform or file system can sync a directory; the new file is in place
//     either way). So after a crash the entry may still name the old file:
//     WriteAtomic returning nil means "replaced", not "durably replaced".
//   - Not atomic where rename is not (some network file systems), and the
//     directory must exist and be writable, since the temporary file lives
//     next to the target.
//   - A Watched polls: a change is seen at the next check, and a file
//     rewritten in place with the same size and modification time on the same
//     inode is seen only by a forced check. Several files watched together
//     are each replaced atomically but not together; the caller validates that
//     they fit (as certs does for a certificate and its key).
//   - A Watched is not safe for concurrent use; its owner serialises calls.
package files
