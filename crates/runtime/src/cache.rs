//! The on-disk compile cache: native code for a component, keyed by the component's content
//! hash and the engine's compatibility hash, so a restart with unchanged components compiles
//! nothing.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Read from the cache; nothing was compiled.
    Hit,
    /// Compiled now, and written to the cache.
    Compiled,
    /// Compiled now; there is no cache, or writing to it failed (logged).
    CompiledUncached,
}

/// A directory of precompiled components (`<sha256>-<engine>.cwasm`).
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// A cache in `dir`, created on first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
        }
    }

    /// No cache: every load compiles.
    pub fn disabled() -> Self {
        Self { dir: None }
    }

    /// The default location: `$TESSERA_CACHE_DIR`, else `$XDG_CACHE_HOME/tessera`, else
    /// `~/.cache/tessera`, else none.
    pub fn default_dir() -> Option<PathBuf> {
        let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        env("TESSERA_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| env("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("tessera")))
            .or_else(|| env("HOME").map(|d| PathBuf::from(d).join(".cache").join("tessera")))
    }

    /// The cache directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Returns the compiled component for `wasm`, from the cache when it holds an entry built
    /// by a compatible engine, compiling (and caching) it otherwise.
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        self.load_hashed(engine, wasm, &Sha256::digest(wasm))
    }

    /// Whether the cache holds an entry for the component whose SHA-256 is `content`, built
    /// by an engine compatible with `engine` (whether [`CompileCache::load`] would read it
    /// rather than compile).
    pub(crate) fn holds(&self, engine: &Engine, content: &[u8]) -> bool {
        self.dir
            .as_ref()
            .is_some_and(|dir| dir.join(entry_name(engine, content)).is_file())
    }

    /// [`CompileCache::load`] for a caller that already has the SHA-256 of `wasm`
    /// (`content`), so large components are not hashed twice.
    pub(crate) fn load_hashed(
        &self,
        engine: &Engine,
        wasm: &[u8],
        content: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.dir else {
            return Ok((
                Component::new(engine, wasm)?,
                CacheOutcome::CompiledUncached,
            ));
        };
        let entry = dir.join(entry_name(engine, content));
        if entry.is_file() {
            match deserialize(engine, &entry) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => tracing::warn!(
                    entry = %entry.display(),
                    "ignoring an unreadable compile cache entry: {e:#}"
                ),
            }
        }
        let component = Component::new(engine, wasm)?;
        match write_entry(&component, dir, &entry) {
            Ok(()) => Ok((component, CacheOutcome::Compiled)),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot write to the compile cache: {e:#}");
                Ok((component, CacheOutcome::CompiledUncached))
            }
        }
    }
}

/// `<sha256 of the component>-<engine compatibility hash>.cwasm`.
fn entry_name(engine: &Engine, content: &[u8]) -> String {
    let mut compat = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut compat);
    let compat = compat.0.finalize();
    format!("{}-{}.cwasm", hex(content), hex(&compat[..8]))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A [`Hasher`] that feeds SHA-256, so the engine's compatibility hash gives the same file
/// name in every process (std's hashers make no such promise across releases).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("a SHA-256 digest has 32 bytes"),
        )
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn write_entry(component: &Component, dir: &Path, entry: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    // Write beside the entry and rename, so a crash or a concurrent host never leaves a
    // half-written entry under the final name.
    // The name is unique per write, not only per process: two components with the same
    // bytes compile in parallel and write the same entry at once.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = entry.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, entry)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, entry: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be machine code that Wasmtime itself
    // produced. Entries in this directory are only ever written by `write_entry` above (from
    // `Component::serialize`) and are renamed into place whole; Wasmtime still checks the
    // header and the engine's compatibility before using one. The cache directory must be as
    // trusted as the tessera binary itself, which the docs say.
    unsafe { Component::deserialize_file(engine, entry) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(component (core module (func (export "f"))))"#;

    fn engine() -> Engine {
        Engine::new(wasmtime::Config::new().wasm_component_model(true)).unwrap()
    }

    fn component_bytes() -> Vec<u8> {
        wat::parse_str(WAT).unwrap()
    }

    /// A cache in a fresh directory, an engine and a component.
    fn fixture() -> (tempfile::TempDir, CompileCache, Engine, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path());
        (dir, cache, engine(), component_bytes())
    }

    #[test]
    fn second_load_is_a_hit() {
        let (dir, cache, engine, wasm) = fixture();
        let (_, first) = cache.load(&engine, &wasm).unwrap();
        assert_eq!(first, CacheOutcome::Compiled);
        let (_, second) = cache.load(&engine, &wasm).unwrap();
        assert_eq!(second, CacheOutcome::Hit);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_corrupt_entry_is_recompiled() {
        let (dir, cache, engine, wasm) = fixture();
        cache.load(&engine, &wasm).unwrap();
        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        std::fs::write(entry.path(), b"garbage").unwrap();
        let (_, outcome) = cache.load(&engine, &wasm).unwrap();
        assert_eq!(outcome, CacheOutcome::Compiled);
        let (_, outcome) = cache.load(&engine, &wasm).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
    }

    #[test]
    fn different_engines_do_not_share_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path());
        let wasm = component_bytes();
        cache.load(&engine(), &wasm).unwrap();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        let other = Engine::new(&config).unwrap();
        let (_, outcome) = cache.load(&other, &wasm).unwrap();
        assert_eq!(outcome, CacheOutcome::Compiled);
    }

    #[test]
    fn disabled_cache_always_compiles() {
        let (_, outcome) = CompileCache::disabled()
            .load(&engine(), &component_bytes())
            .unwrap();
        assert_eq!(outcome, CacheOutcome::CompiledUncached);
    }
}
