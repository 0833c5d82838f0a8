//! Reading untrusted files within limits: a path must name a regular file (not
//! a directory, `/dev/zero` or a pipe), it is read only up to the memory
//! budget, and strings taken from files are shortened before they go into an
//! error message.

use std::io::{Read, Seek};
use std::path::Path;

use tensorweave_core::{Error, MemoryBudget, Result};

/// The most characters of a user-supplied string (a member name, a tensor
/// name) that an error message repeats.
pub(crate) const SHOWN_CHARS: usize = 80;

/// `text` cut to [`SHOWN_CHARS`] characters with an ellipsis, control
/// characters shown as escapes, so a message stays one short line.
pub(crate) fn shown(text: &str) -> String {
    shown_at_most(text, SHOWN_CHARS)
}

/// `text` cut to `max` characters with an ellipsis, control characters shown
/// as escapes.
pub(crate) fn shown_at_most(text: &str, max: usize) -> String {
    tensorweave_core::registry::truncate(text, max.saturating_add(1))
}

/// Opens a zip archive and lists its members; `what` says what the file
/// should be (`a valid .keras archive (a zip file)`), `when_empty` what an
/// empty archive means for it.
pub(crate) fn open_zip<R: std::io::Read + std::io::Seek>(
    reader: R,
    source: &str,
    what: &str,
    when_empty: &str,
) -> Result<(zip::ZipArchive<R>, Vec<String>)> {
    let zip = zip::ZipArchive::new(reader).map_err(|e| {
        invalid_data(format!(
            "{source} is not {what}; it may be truncated or corrupt: {e}"
        ))
    })?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    if names.is_empty() {
        return Err(invalid_data(format!(
            "{source} {when_empty}: the archive is empty"
        )));
    }
    Ok((zip, names))
}

/// An [`Error::Io`] of kind `InvalidData` with `message`.
pub(crate) fn invalid_data(message: impl Into<String>) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        message.into(),
    ))
}

/// Reads the whole file at `path`, which `what` names in errors ("model file",
/// "weights file"), after checking that it is a regular file whose size fits
/// `budget`. A file that grows while it is read is cut off at the budget.
pub(crate) fn read_file(path: &Path, what: &str, budget: &MemoryBudget) -> Result<Vec<u8>> {
    let file = open_file(path, what)?;
    let len = file
        .metadata()
        .map(|m| m.len())
        .map_err(|e| io_error(path, what, e))?;
    budget.check(&format!("{what} {}", path.display()), len)?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|_| invalid_data(format!("{what} {}: out of memory", path.display())))?;
    file.take(budget.limit().saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, what, e))?;
    budget.check(&format!("{what} {}", path.display()), bytes.len() as u64)?;
    Ok(bytes)
}

/// Opens `path` for reading after checking that it is a regular file.
pub(crate) fn open_file(path: &Path, what: &str) -> Result<std::fs::File> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, what, e))?;
    if meta.is_dir() {
        return Err(invalid_data(format!(
            "{what} {} is a directory, not a file",
            path.display()
        )));
    }
    if !meta.is_file() {
        return Err(invalid_data(format!(
            "{what} {} is not a regular file (a device, pipe or socket); give a file saved on disk",
            path.display()
        )));
    }
    std::fs::File::open(path).map_err(|e| io_error(path, what, e))
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("cannot be read: {e}"),
    };
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{what} {} {reason}", path.display()),
    ))
}

/// Reads the member `name` of `zip`, or `None` when there is none. The
/// declared uncompressed size is checked against what is left of `budget`
/// before anything is reserved, and the data must decompress to exactly that
/// size (more is a zip bomb or a corrupt header, less a truncated member).
pub(crate) fn read_zip_member<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    source: &str,
    budget: &MemoryBudget,
    used: &mut u64,
) -> Result<Option<Vec<u8>>> {
    let mut file = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(invalid_data(format!(
                "cannot read {name} in {source} (the archive is corrupt): {e}"
            )))
        }
    };
    let declared = file.size();
    let total = used.saturating_add(declared);
    budget.check(
        &format!("{name} in {source} (uncompressed size declared in the archive)"),
        total,
    )?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(declared).unwrap_or(usize::MAX))
        .map_err(|_| invalid_data(format!("{name} in {source}: out of memory")))?;
    (&mut file)
        .take(declared.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| {
            invalid_data(format!(
                "cannot read {name} in {source} (the archive is truncated or corrupt): {e}"
            ))
        })?;
    let actual = bytes.len() as u64;
    if actual != declared {
        let what = if actual > declared {
            "more than"
        } else {
            "only"
        };
        return Err(invalid_data(format!(
            "{name} in {source} decompresses to {what} {} bytes, but the archive declares {declared} \
             (a corrupt or hostile archive)",
            if actual > declared { declared } else { actual }
        )));
    }
    *used = total;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_control_strings_are_shortened() {
        assert_eq!(shown("dense"), "dense");
        assert_eq!(shown("a\u{0}b\n"), "a\\u{0}b\\n");
        let long = "x".repeat(10_000_000);
        let s = shown(&long);
        assert_eq!(s.chars().count(), SHOWN_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn directories_devices_and_missing_files_are_named() {
        let budget = MemoryBudget::default();
        let dir = std::env::temp_dir();
        let err = read_file(&dir, "model file", &budget)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory"), "{err}");
        let err = read_file(Path::new("/dev/zero"), "model file", &budget)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let err = read_file(Path::new("/nonexistent/x.keras"), "model file", &budget)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn files_over_the_budget_are_refused_before_reading() {
        let path = std::env::temp_dir().join(format!("tw-limits-{}", std::process::id()));
        std::fs::write(&path, [0u8; 2000]).unwrap();
        let err = read_file(&path, "weights file", &MemoryBudget::new(1000))
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the memory budget of 1000 B"), "{err}");
        assert_eq!(
            read_file(&path, "weights file", &MemoryBudget::new(2000))
                .unwrap()
                .len(),
            2000
        );
        std::fs::remove_file(&path).ok();
    }
}
