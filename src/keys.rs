//! The writer's key file: one line holding the 32-byte Ed25519 secret seed
//! in hex, readable by its owner only (mode 0600).

use ed25519_dalek::SigningKey;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a key file could not be used.
#[derive(Debug)]
pub enum KeyError {
    /// No file there.
    Missing(PathBuf),
    /// A key is already there (keygen does not overwrite).
    Exists(PathBuf),
    /// The file is not a key file.
    Format(PathBuf),
    /// Others may read it.
    Permissions(PathBuf, u32),
    /// No place for the default key: neither XDG_CONFIG_HOME nor HOME is set.
    NoHome,
    /// Reading or writing failed.
    Io(PathBuf, io::Error),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Missing(p) => write!(
                f,
                "no key file at {}: make one with `daved keygen` (or pass -k FILE)",
                p.display()
            ),
            KeyError::Exists(p) => write!(
                f,
                "a key file already exists at {}; keeping it (pass --force to replace it, which loses that key's names for good)",
                p.display()
            ),
            KeyError::Format(p) => write!(
                f,
                "{} is not a dave key file (expected one line of 64 hex digits)",
                p.display()
            ),
            KeyError::Permissions(p, mode) => write!(
                f,
                "{} is readable by others (mode {mode:o}); fix with `chmod 600 {}`",
                p.display(),
                p.display()
            ),
            KeyError::NoHome => write!(f, "neither XDG_CONFIG_HOME nor HOME is set: pass -k FILE"),
            KeyError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for KeyError {}

/// `$XDG_CONFIG_HOME/dave/key`, else `~/.config/dave/key`.
pub fn default_path() -> Result<PathBuf, KeyError> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("dave").join("key"));
    }
    match std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".config").join("dave").join("key")),
        None => Err(KeyError::NoHome),
    }
}

/// Makes a new key and writes it to `path` (mode 0600, parent directories
/// 0700). Refuses to replace an existing file unless `force`.
pub fn generate(path: &Path, force: bool) -> Result<SigningKey, KeyError> {
    let io = |e| KeyError::Io(path.to_path_buf(), e);
    if !force && path.exists() {
        return Err(KeyError::Exists(path.to_path_buf()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io(io::Error::other(e.to_string())))?;
    let key = SigningKey::from_bytes(&seed);
    // Write to a temporary name, then rename: a crash never leaves half a key.
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    writeln!(f, "{}", dave_core::wire::Hex(&seed)).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(key)
}

/// Reads the key at `path`.
pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(path.to_path_buf()))
        }
        Err(e) => return Err(KeyError::Io(path.to_path_buf(), e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions(path.to_path_buf(), mode));
    }
    if meta.len() > 256 {
        return Err(KeyError::Format(path.to_path_buf()));
    }
    let text = fs::read_to_string(path).map_err(|_| KeyError::Format(path.to_path_buf()))?;
    let mut seed = [0u8; 32];
    if !dave_core::wire::parse_hex(text.trim(), &mut seed) {
        return Err(KeyError::Format(path.to_path_buf()));
    }
    Ok(SigningKey::from_bytes(&seed))
}
