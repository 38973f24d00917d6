//! The disk reserve: a fully allocated file beside the database that the writer gives back
//! when the disk is full, so the checkpoint that truncates the WAL has room to grow the
//! database file, and makes again before it lets writes through.
//!
//! The rule: the reserve is `--disk-reserve-mb` (default 64 MiB), but at most a sixteenth of
//! the filesystem's size (512 KiB on an 8 MiB disk), rounded down to 4 KiB. It is made again
//! only when the filesystem has room for it and as much again beside it, so writes resume
//! with at least the reserve's size free; anything an operator frees beyond the reserve is
//! therefore enough to recover.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The largest share of the filesystem the reserve may take: 1/16.
const FS_SHARE: u64 = 16;

/// The reserve's file and the size it is kept at.
#[derive(Debug)]
pub(super) struct Reserve {
    path: PathBuf,
    /// The directory it lives in, as statvfs needs it: `.` for a bare file name, whose
    /// `parent()` is the empty path.
    dir: PathBuf,
    /// Bytes the reserve holds when made; 0 = no reserve.
    size: u64,
    /// Whether the file is made (fully allocated) now.
    held: bool,
}

/// Why the reserve could not be made.
#[derive(Debug)]
pub(super) enum Shortage {
    /// The filesystem has less free space than the reserve and as much again.
    NoRoom { free: u64 },
    /// The file could not be made for another reason (permissions, an I/O error): the store
    /// runs without a reserve rather than refusing writes for good.
    Failed(io::Error),
}

impl Reserve {
    /// The reserve beside `db` (`<db>-reserve`), sized by `wanted` bytes and the rule above.
    /// A reserve left by a previous life on a full disk is given back at once, so SQLite has
    /// room to open its -wal and -shm files; the writer makes it again (`make`).
    pub(super) fn open(db: &Path, wanted: u64) -> Reserve {
        let mut name = db.as_os_str().to_owned();
        name.push("-reserve");
        let path = PathBuf::from(name);
        let dir = match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let size = match space(&dir) {
            Ok(s) => capped(wanted, s.total),
            // Without the filesystem's size the cap cannot be applied; the setting stands.
            Err(_) => wanted,
        };
        let mut reserve = Reserve {
            path,
            dir,
            size,
            held: false,
        };
        // Without a reserve (the CLI, which may run beside a live server) the file is left
        // alone. A whole reserve with as much again free is kept as it is: a restart on a
        // disk with room must not refuse writes until it has room for the reserve twice over,
        // nor allocate it again. Otherwise it is given back now.
        if size > 0 {
            if reserve.is_whole() && !reserve.is_low() {
                reserve.held = true;
            } else {
                reserve.truncate();
            }
        }
        reserve
    }

    /// Whether the file holds the reserve's full size.
    fn is_whole(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() == self.size)
    }

    /// Bytes the reserve holds when made (0 = none).
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    pub(super) fn is_held(&self) -> bool {
        self.held || self.size == 0
    }

    /// Whether the filesystem has less room left than the reserve holds.
    pub(super) fn is_low(&self) -> bool {
        space(&self.dir).is_ok_and(|s| s.free < self.size)
    }

    /// Runs without a reserve from now on (it cannot be made at all).
    pub(super) fn disable(&mut self) {
        self.release();
        self.size = 0;
    }

    /// Gives the reserve's space back to the filesystem. Returns whether it freed anything.
    pub(super) fn release(&mut self) -> bool {
        let had = self.held;
        self.held = false;
        self.truncate() && had
    }

    /// Empties the reserve's file. Truncating (rather than removing) keeps the name, so the
    /// reserve can be made again even when the filesystem has no inode to spare.
    fn truncate(&self) -> bool {
        match OpenOptions::new().write(true).open(&self.path) {
            Ok(f) => f.set_len(0).is_ok(),
            Err(_) => false,
        }
    }

    /// Makes the reserve if the filesystem has room for it and as much again.
    pub(super) fn make(&mut self) -> Result<(), Shortage> {
        if self.is_held() {
            return Ok(());
        }
        let free = space(&self.dir).map_err(Shortage::Failed)?.free;
        if free < self.size.saturating_mul(2) {
            return Err(Shortage::NoRoom { free });
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .map_err(|e| no_room_or(e, free))?;
        match allocate(&file, self.size) {
            Ok(()) => {
                self.held = true;
                Ok(())
            }
            Err(e) => {
                // A part-made reserve would hold space without promising it: give it back.
                let _ = file.set_len(0);
                Err(no_room_or(e, free))
            }
        }
    }
}

/// The rule: `wanted`, at most a sixteenth of the filesystem, in whole 4 KiB pages.
fn capped(wanted: u64, total: u64) -> u64 {
    let size = wanted.min(total / FS_SHARE);
    size - size % 4096
}

fn no_room_or(e: io::Error, free: u64) -> Shortage {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => Shortage::NoRoom { free },
        _ => Shortage::Failed(e),
    }
}

/// A filesystem's size and the space this process may still use, in bytes.
struct Space {
    total: u64,
    free: u64,
}

fn space(dir: &Path) -> io::Result<Space> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `statvfs` is plain old data, so all zeroes is a valid value; the call only
    // writes into it and reads the NUL-terminated path, which outlives the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // Root may use the blocks a filesystem keeps back for it (ext4's 5 %); others may not.
    // SAFETY: geteuid has no preconditions and cannot fail.
    let blocks = if unsafe { libc::geteuid() } == 0 {
        st.f_bfree
    } else {
        st.f_bavail
    };
    let unit = st.f_frsize as u64;
    Ok(Space {
        total: (st.f_blocks as u64).saturating_mul(unit),
        free: (blocks as u64).saturating_mul(unit),
    })
}

/// Allocates `len` bytes of `file` for real: a sparse file would reserve nothing. On tmpfs,
/// ext4 and XFS `posix_fallocate` takes the blocks without writing them; where the filesystem
/// cannot, glibc writes them.
#[cfg(target_os = "linux")]
fn allocate(file: &File, len: u64) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: the descriptor is open for writing and stays open for the call.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Allocates `len` bytes of `file` by writing them (no `posix_fallocate` on this system).
#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, len: u64) -> io::Result<()> {
    use std::io::Write;
    let block = vec![0u8; 1024 * 1024];
    let mut left = len;
    let mut out = file;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_measures_the_current_directory() {
        // `Path::new("confab.db").parent()` is the empty path, which statvfs refuses: the
        // default `--db` once ran without a reserve because of it.
        let r = Reserve::open(Path::new("confab-test-never-made.db"), 0);
        assert_eq!(r.dir, PathBuf::from("."));
        assert!(space(&r.dir).is_ok());
    }

    #[test]
    fn a_whole_reserve_on_a_disk_with_room_is_kept_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("c.db");
        let mut first = Reserve::open(&db, 64 * 1024);
        assert!(!first.is_held(), "a new reserve is made by the writer");
        first.make().expect("made");
        let again = Reserve::open(&db, 64 * 1024);
        assert!(
            again.is_held(),
            "a restart keeps it instead of refusing writes until remade"
        );
    }

    #[test]
    fn the_reserve_is_capped_to_a_sixteenth_of_the_disk() {
        let mib = 1024 * 1024;
        assert_eq!(capped(64 * mib, 8 * mib), 512 * 1024);
        assert_eq!(capped(64 * mib, 100 * 1024 * mib), 64 * mib);
        assert_eq!(capped(0, 8 * mib), 0);
        assert_eq!(capped(64 * mib, 8 * mib + 100) % 4096, 0);
    }

    #[test]
    fn the_reserve_is_allocated_given_back_and_made_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("confab.db");
        let mut r = Reserve::open(&db, 1024 * 1024);
        assert!(!r.is_held(), "given back at open");
        r.make().expect("room for a small reserve");
        let reserve = dir.path().join("confab.db-reserve");
        let meta = std::fs::metadata(&reserve).expect("the reserve exists");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.len(), r.size());
        assert!(meta.blocks() * 512 >= r.size(), "allocated, not sparse");
        assert!(r.release());
        assert_eq!(std::fs::metadata(&reserve).map(|m| m.len()).ok(), Some(0));
        assert!(!r.release(), "nothing more to give back");
    }
}
