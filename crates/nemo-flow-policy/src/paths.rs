//! POSIX path semantics exactly as NemoIR's Python sees them: `os.path.normpath`, and
//! `Path.resolve(strict=False)` (= `os.path.realpath`, which resolves the symlinks of the
//! components that exist, applies `..` *after* resolving a link and appends the rest
//! lexically) plus the symlink-loop check `resolve` adds. `std::fs::canonicalize` is strict
//! (every component must exist), so it cannot be used.

use std::collections::HashMap;
use std::path::Path;

/// Why a path could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path contains a NUL byte (Python: `ValueError`).
    Nul,
    /// A symlink loop (Python 3.11: `RuntimeError`).
    Loop,
    /// `symlinks: reject` and a component is a symlink.
    Symlink,
    /// The working directory is unavailable or another OS error.
    Os(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nul => f.write_str("embedded null byte in path"),
            Self::Loop => f.write_str("symlink loop in path"),
            Self::Symlink => f.write_str("path goes through a symlink (symlinks: reject)"),
            Self::Os(e) => write!(f, "OS error: {e}"),
        }
    }
}

/// How symlinks are treated while resolving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Symlinks {
    /// Followed, as `resolve()` does.
    #[default]
    Follow,
    /// Any symlink on the way is an error.
    Reject,
}

/// `posixpath.normpath`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for c in path.split('/') {
        if c.is_empty() || c == "." {
            continue;
        }
        if c != ".." || (initial == 0 && comps.is_empty()) || comps.last() == Some(&"..") {
            comps.push(c);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let mut out = "/".repeat(initial);
    out.push_str(&comps.join("/"));
    if out.is_empty() { ".".into() } else { out }
}

fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

fn split(p: &str) -> (String, String) {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let (head, tail) = p.split_at(i);
    let trimmed = head.trim_end_matches('/');
    let head = if trimmed.is_empty() { head } else { trimmed };
    (head.to_string(), tail.to_string())
}

enum Kind {
    Link,
    Missing,
    Other,
}

fn lstat(p: &str) -> Kind {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => Kind::Link,
        Ok(_) => Kind::Other,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kind::Missing,
        // Another error (permissions, ENOTDIR…): realpath treats it as "not a link".
        Err(_) => Kind::Other,
    }
}

struct Walk {
    seen: HashMap<String, Option<String>>,
    symlinks: Symlinks,
    /// Whether a symlink was met (only then can the result hold a loop).
    followed: bool,
    /// Components appended below the first one that does not exist: nothing under a missing
    /// directory exists either, so those need no `lstat` (only `..` climbs back out).
    missing_depth: usize,
    /// Paths this walk already found to exist and not be links (a link target that starts
    /// with the same directories, or a candidate continuing the root, is not looked up twice).
    plain: Vec<String>,
}

impl Walk {
    /// `posixpath._joinrealpath(path, rest, strict=False, seen)`.
    fn join_real(&mut self, mut path: String, rest: &str) -> Result<(String, bool), PathError> {
        let mut rest = rest;
        if rest.starts_with('/') {
            rest = &rest[1..];
            path = "/".into();
        }
        while !rest.is_empty() {
            let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
            rest = tail;
            if name.is_empty() || name == "." {
                continue;
            }
            if name == ".." {
                self.missing_depth = self.missing_depth.saturating_sub(1);
                if path.is_empty() {
                    path = "..".into();
                } else {
                    let (head, last) = split(&path);
                    path = if last == ".." {
                        join(&join(&head, ".."), "..")
                    } else {
                        head
                    };
                }
                continue;
            }
            let newpath = join(&path, name);
            if self.missing_depth > 0 {
                self.missing_depth += 1;
                path = newpath;
                continue;
            }
            if self.plain.contains(&newpath) {
                path = newpath;
                continue;
            }
            match lstat(&newpath) {
                Kind::Link => self.followed = true,
                Kind::Missing => {
                    self.missing_depth = 1;
                    path = newpath;
                    continue;
                }
                Kind::Other => {
                    self.plain.push(newpath.clone());
                    path = newpath;
                    continue;
                }
            }
            if self.symlinks == Symlinks::Reject {
                return Err(PathError::Symlink);
            }
            if let Some(known) = self.seen.get(&newpath) {
                match known {
                    Some(p) => {
                        path = p.clone();
                        continue;
                    }
                    None => return Ok((join(&newpath, rest), false)),
                }
            }
            self.seen.insert(newpath.clone(), None);
            let target = std::fs::read_link(&newpath)
                .map_err(|e| PathError::Os(e.to_string()))?
                .into_os_string()
                .into_string()
                .map_err(|_| PathError::Os("symlink target is not UTF-8".into()))?;
            let (p, ok) = self.join_real(path, &target)?;
            if !ok {
                return Ok((join(&p, rest), false));
            }
            self.seen.insert(newpath, Some(p.clone()));
            path = p;
        }
        Ok((path, true))
    }
}

/// `os.path.abspath`: joins the process working directory (as `os.getcwd()` does on every
/// call) and normalises lexically.
pub fn abspath(path: &str) -> Result<String, PathError> {
    if path.starts_with('/') {
        return Ok(normpath(path));
    }
    let cwd = std::env::current_dir().map_err(|e| PathError::Os(e.to_string()))?;
    let cwd = cwd
        .to_str()
        .ok_or_else(|| PathError::Os("working directory is not UTF-8".into()))?;
    Ok(normpath(&join(cwd, path)))
}

/// `Path(path).resolve(strict=False)` as text. A relative path is resolved against the
/// process working directory, as Python does.
pub fn resolve(path: &str, symlinks: Symlinks) -> Result<String, PathError> {
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    let mut walk = Walk::new(symlinks);
    let (p, _) = walk.join_real(String::new(), path)?;
    walk.finish(&p)
}

impl Walk {
    fn new(symlinks: Symlinks) -> Self {
        Self {
            seen: HashMap::new(),
            symlinks,
            followed: false,
            missing_depth: 0,
            plain: Vec::new(),
        }
    }

    /// `abspath` of a walked path, plus the loop check `resolve()` adds: it stats the result
    /// to turn a loop that `realpath` left in place into an error (without a symlink on the
    /// way there can be no loop).
    fn finish(&self, walked: &str) -> Result<String, PathError> {
        let resolved = abspath(walked)?;
        if self.followed {
            if let Err(e) = std::fs::metadata(Path::new(&resolved)) {
                if e.raw_os_error() == Some(ELOOP) {
                    return Err(PathError::Loop);
                }
            }
        }
        Ok(resolved)
    }
}

#[cfg(target_os = "linux")]
const ELOOP: i32 = 40;
#[cfg(not(target_os = "linux"))]
const ELOOP: i32 = 62;

/// `PurePosixPath(path).is_absolute()`.
pub fn is_absolute(path: &str) -> bool {
    path.starts_with('/')
}

/// Whether `candidate`, once resolved, is `root` or lies under it, compared per component
/// (`/ws_evil/x` is not under `/ws`). A relative candidate is joined onto `base` (NemoIR:
/// onto the root itself). Both sides are already resolved.
pub fn within(resolved_root: &str, resolved_candidate: &str) -> bool {
    if resolved_candidate == resolved_root {
        return true;
    }
    if resolved_root == "/" {
        return resolved_candidate.starts_with('/');
    }
    resolved_candidate
        .strip_prefix(resolved_root)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// NemoIR's `Path.contains`: `root.contains(candidate)` with the candidate joined onto `base`
/// when relative. Resolution errors make it false, except those `resolve` raises
/// (a loop) and the opt-in `symlinks: reject`, which are errors.
pub fn contains(
    root: &str,
    candidate: &str,
    base: Option<&str>,
    symlinks: Symlinks,
) -> Result<bool, PathError> {
    if root.contains('\0') || candidate.contains('\0') || base.is_some_and(|b| b.contains('\0')) {
        return Ok(false);
    }
    let outcome = (|| {
        let mut walk = Walk::new(symlinks);
        let (walked_root, _) = walk.join_real(String::new(), root)?;
        let r = walk.finish(&walked_root)?;
        let t = if is_absolute(candidate) || base.is_some() {
            let target = if is_absolute(candidate) {
                candidate.to_string()
            } else {
                join(base.unwrap_or(root), candidate)
            };
            resolve(&target, symlinks)?
        } else {
            // realpath walks left to right, so `root/candidate` continues the root's walk
            // (same links met, same `seen` map): its components are not looked up twice.
            let (p, _) = walk.join_real(walked_root, candidate)?;
            walk.finish(&p)?
        };
        Ok(within(&r, &t))
    })();
    match outcome {
        Ok(b) => Ok(b),
        Err(e @ (PathError::Loop | PathError::Symlink)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// NemoIR's path-aware `eq`: absolute on either side → compare resolved paths; both
/// relative → compare lexically normalised paths.
pub fn eq(a: &str, b: &str, symlinks: Symlinks) -> Result<bool, PathError> {
    if is_absolute(a) || is_absolute(b) {
        Ok(resolve(a, symlinks)? == resolve(b, symlinks)?)
    } else {
        if a.contains('\0') || b.contains('\0') {
            return Err(PathError::Nul);
        }
        Ok(normpath(a) == normpath(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_posixpath() {
        for (i, o) in [
            ("", "."),
            ("a/../../b", "../b"),
            ("//a//b/", "//a/b"),
            ("///a/./b/..", "/a"),
            ("/../x", "/x"),
            ("a/./b/", "a/b"),
            ("..", ".."),
        ] {
            assert_eq!(normpath(i), o, "{i}");
        }
    }

    #[test]
    fn within_compares_components() {
        assert!(within("/ws", "/ws/a"));
        assert!(within("/ws", "/ws"));
        assert!(!within("/ws", "/ws_evil/x"));
        assert!(within("/", "/etc"));
    }
}
