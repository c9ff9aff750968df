//! Bitcoin Core's `bitcoind` and `bitcoin-cli`, built once from source and cached.
//!
//! No Core binary is installable from the registries this project reaches, but the crates.io
//! package `libbitcoinkernel-sys` vendors Core's whole source tree (daemon, RPC, mining,
//! validation; no wallet). [`core_binaries`] builds the two programs from it with cmake (wallet,
//! tests, IPC and the kernel library off) the first time it is asked, into a cache keyed by the
//! package version, and every later call (any test, any process, any checkout) reuses it:
//!
//! 1. `REGTEST_NODE_BIN_DIR`, when set, names a directory holding a Core the user already has;
//!    it is used as is.
//! 2. Otherwise the cache is `$MESOS_MINER_CACHE_DIR` (default `$XDG_CACHE_HOME/mesos-miner`,
//!    then `~/.cache/mesos-miner`) `/bitcoin-core/libbitcoinkernel-sys-<version>/bin/`, marked
//!    complete by a `.complete` file written last.
//! 3. A missing cache is built under a lock file, so concurrent test processes wait for one
//!    build: `cargo fetch` of a one-line manifest brings the source into cargo's registry,
//!    `cargo metadata` says where, and cmake builds `bitcoind` and `bitcoin-cli` (about 15
//!    minutes on two cores; the message says so, and the time taken is printed at the end).
//!
//! The build needs cmake, a C++ compiler, `pkg-config`, Boost headers and libevent (the
//! `bitcoin-core` lines of the workspace's `prerequisites.txt`); what is missing is reported
//! before the build starts, by package, with its `apt-get` line.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The crates.io package whose vendored source tree is built.
pub const CORE_SOURCE_PACKAGE: &str = "libbitcoinkernel-sys";
/// Its version, pinned: the cache key.
pub const CORE_SOURCE_VERSION: &str = "0.4.1";
/// Environment variable naming a directory with `bitcoind` and `bitcoin-cli` to use as is.
pub const BIN_DIR_ENV: &str = "REGTEST_NODE_BIN_DIR";
/// Environment variable overriding the cache root.
pub const CACHE_DIR_ENV: &str = "MESOS_MINER_CACHE_DIR";
/// What can go wrong finding or building Core.
#[derive(Debug, thiserror::Error)]
pub enum CoreBuildError {
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Packages the build needs are missing.
    #[error(transparent)]
    Missing(#[from] crate::prerequisites::Missing),
    /// A build step failed.
    #[error("{step} failed ({status}); its output is in {log}")]
    Step {
        /// The step.
        step: String,
        /// Its exit status.
        status: String,
        /// The log file.
        log: PathBuf,
    },
    /// `REGTEST_NODE_BIN_DIR` does not hold the programs.
    #[error("{BIN_DIR_ENV}={dir} does not contain an executable {program}")]
    NotInBinDir {
        /// The directory.
        dir: PathBuf,
        /// The missing program.
        program: &'static str,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CoreBuildError {
    let context = context.into();
    move |source| CoreBuildError::Io { context, source }
}

/// Paths of the node programs.
#[derive(Debug, Clone)]
pub struct CoreBinaries {
    /// The node.
    pub bitcoind: PathBuf,
    /// Its RPC command-line client.
    pub bitcoin_cli: PathBuf,
}

impl CoreBinaries {
    fn in_dir(dir: &Path) -> Self {
        Self {
            bitcoind: dir.join("bitcoind"),
            bitcoin_cli: dir.join("bitcoin-cli"),
        }
    }
}

/// The cache root (see the module docs).
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mesos-miner")
}

/// Where this version's build lives.
pub fn core_cache_dir() -> PathBuf {
    cache_root()
        .join("bitcoin-core")
        .join(format!("{CORE_SOURCE_PACKAGE}-{CORE_SOURCE_VERSION}"))
}

/// The node programs: the user's (`REGTEST_NODE_BIN_DIR`), the cached build, or a new build
/// (see the module docs). Blocking; the first build takes about 15 minutes.
pub fn core_binaries() -> Result<CoreBinaries, CoreBuildError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        let bins = CoreBinaries::in_dir(&dir);
        for (program, path) in [
            ("bitcoind", &bins.bitcoind),
            ("bitcoin-cli", &bins.bitcoin_cli),
        ] {
            if !path.is_file() {
                return Err(CoreBuildError::NotInBinDir { dir, program });
            }
        }
        return Ok(bins);
    }
    let root = core_cache_dir();
    let bin = root.join("bin");
    let complete = bin.join(".complete");
    let bins = CoreBinaries::in_dir(&bin);
    if complete.is_file() {
        return Ok(bins);
    }
    fs::create_dir_all(&root).map_err(io_err(format!("creating {}", root.display())))?;
    let lock_path = root.join(".lock");
    let lock =
        File::create(&lock_path).map_err(io_err(format!("creating {}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        eprintln!(
            "waiting for another process building Bitcoin Core into {}",
            root.display()
        );
        lock.lock()
            .map_err(io_err(format!("locking {}", lock_path.display())))?;
    }
    if complete.is_file() {
        return Ok(bins);
    }
    let started = Instant::now();
    eprintln!(
        "building Bitcoin Core (bitcoind, bitcoin-cli) from {CORE_SOURCE_PACKAGE} \
         {CORE_SOURCE_VERSION} into {}: about 15 minutes on two cores, once per machine",
        root.display()
    );
    build_into(&root)?;
    File::create(&complete).map_err(io_err("marking the Core cache complete"))?;
    eprintln!(
        "Bitcoin Core built in {:.0} s; cached in {}",
        started.elapsed().as_secs_f64(),
        bin.display()
    );
    Ok(bins)
}

/// Runs `cmd`, its output appended to `log`; an error names `step`.
fn run_step(step: &str, cmd: &mut Command, log: &Path) -> Result<(), CoreBuildError> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err(format!("opening {}", log.display())))?;
    let err = out.try_clone().map_err(io_err("cloning the log handle"))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(io_err(format!("running {step}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CoreBuildError::Step {
            step: step.to_owned(),
            status: status.to_string(),
            log: log.to_owned(),
        })
    }
}

/// The vendored source tree: fetched by cargo into its registry, located with `cargo metadata`.
fn fetch_source(root: &Path, log: &Path) -> Result<PathBuf, CoreBuildError> {
    let manifest_dir = root.join("source-manifest");
    fs::create_dir_all(manifest_dir.join("src")).map_err(io_err("creating the source manifest"))?;
    fs::write(manifest_dir.join("src").join("lib.rs"), "")
        .map_err(io_err("writing the source manifest"))?;
    let manifest = manifest_dir.join("Cargo.toml");
    fs::write(
        &manifest,
        format!(
            "[package]\nname = \"bitcoin-core-source\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\n\
             {CORE_SOURCE_PACKAGE} = \"={CORE_SOURCE_VERSION}\"\n"
        ),
    )
    .map_err(io_err("writing the source manifest"))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_step(
        "cargo fetch (Core's source)",
        Command::new(&cargo)
            .arg("fetch")
            .arg("--manifest-path")
            .arg(&manifest),
        log,
    )?;
    let meta = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(io_err("running cargo metadata"))?;
    let fail = |detail: &str| CoreBuildError::Step {
        step: format!("cargo metadata ({detail})"),
        status: meta.status.to_string(),
        log: log.to_owned(),
    };
    let json: serde_json::Value =
        serde_json::from_slice(&meta.stdout).map_err(|_| fail("output is not JSON"))?;
    let package_manifest = json["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == CORE_SOURCE_PACKAGE)
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or_else(|| fail("no package entry"))?;
    let source = Path::new(package_manifest)
        .parent()
        .map(|d| d.join("bitcoin"))
        .ok_or_else(|| fail("manifest path has no parent"))?;
    if !source.join("CMakeLists.txt").is_file() {
        return Err(fail("the package has no bitcoin/CMakeLists.txt"));
    }
    Ok(source)
}

fn build_into(root: &Path) -> Result<(), CoreBuildError> {
    crate::prerequisites::require("bitcoin-core")?;
    let log = root.join("build.log");
    let _ = fs::remove_file(&log);
    let source = fetch_source(root, &log)?;
    let build = root.join("build");
    let mut configure = Command::new("cmake");
    configure
        .arg("-S")
        .arg(&source)
        .arg("-B")
        .arg(&build)
        .args([
            "-DCMAKE_BUILD_TYPE=Release",
            "-DBUILD_DAEMON=ON",
            "-DBUILD_CLI=ON",
            "-DBUILD_BITCOIN_BIN=OFF",
            "-DENABLE_WALLET=OFF",
            "-DBUILD_TESTS=OFF",
            "-DBUILD_TX=OFF",
            "-DBUILD_UTIL=OFF",
            "-DENABLE_IPC=OFF",
            "-DBUILD_KERNEL_LIB=OFF",
            "-DENABLE_EXTERNAL_SIGNER=OFF",
            "-DWITH_EMBEDDED_ASMAP=OFF",
        ]);
    run_step("cmake configure (Bitcoin Core)", &mut configure, &log)?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    run_step(
        "cmake --build (Bitcoin Core)",
        Command::new("cmake").arg("--build").arg(&build).args([
            "-j",
            &jobs.to_string(),
            "--target",
            "bitcoind",
            "bitcoin-cli",
        ]),
        &log,
    )?;
    let bin = root.join("bin");
    fs::create_dir_all(&bin).map_err(io_err(format!("creating {}", bin.display())))?;
    for program in ["bitcoind", "bitcoin-cli"] {
        let from = build.join("bin").join(program);
        fs::copy(&from, bin.join(program))
            .map_err(io_err(format!("copying {} into the cache", from.display())))?;
    }
    // The objects are not needed once the two programs are out (about 1 GiB).
    let _ = fs::remove_dir_all(&build);
    Ok(())
}
