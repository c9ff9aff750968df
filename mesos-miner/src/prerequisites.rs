//! The machine's prerequisites beyond the Rust toolchain, from the one list in the workspace's
//! `prerequisites.txt` (also read by `.ci/run` and quoted in the README): which are missing for
//! a purpose (`bitcoin-core`, `images`, `dashboard`, `partitions`: the test hosts in network
//! namespaces), and an error that names them and the `apt-get` line.

use std::path::Path;
use std::process::{Command, Stdio};

/// The list, as the workspace holds it.
const LIST: &str = include_str!("../../prerequisites.txt");

/// One apt package and how to tell it is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    /// The Debian/Ubuntu package.
    pub package: &'static str,
    /// Files (absolute paths) or commands, any of which shows the package is there.
    pub probes: Vec<&'static str>,
    /// What needs it: `bitcoin-core`, `images` or `dashboard` (the browser test).
    pub needed_for: &'static str,
}

impl Prerequisite {
    /// Whether one of its probes is found on this machine.
    pub fn is_present(&self) -> bool {
        self.probes.iter().any(|probe| {
            if probe.starts_with('/') {
                Path::new(probe).exists()
            } else {
                on_path(probe)
            }
        })
    }
}

/// Whether `command` is an executable on `PATH`.
fn on_path(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every prerequisite in the list, in its order.
pub fn all() -> Vec<Prerequisite> {
    LIST.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let mut next = || {
                fields
                    .next()
                    .expect("prerequisites.txt: three fields per line")
            };
            let (package, probes, needed_for) = (next(), next(), next());
            Prerequisite {
                package,
                probes: probes.split('|').collect(),
                needed_for,
            }
        })
        .collect()
}

/// Some prerequisites for `purpose` are not installed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{purpose} needs packages this machine lacks: {names} (install them with \
     `apt-get install {packages}`; the list is prerequisites.txt, and the README's quick start \
     names it)",
    names = self.missing.iter().map(|p| format!("{} (no {})", p.package, p.probes.join(" or "))).collect::<Vec<_>>().join(", "),
    packages = self.missing.iter().map(|p| p.package).collect::<Vec<_>>().join(" ")
)]
pub struct Missing {
    /// What they are needed for.
    pub purpose: String,
    /// The missing packages.
    pub missing: Vec<Prerequisite>,
}

/// `Ok` when everything `purpose` needs is installed.
pub fn require(purpose: &str) -> Result<(), Missing> {
    let missing: Vec<_> = all()
        .into_iter()
        .filter(|p| p.needed_for == purpose && !p.is_present())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Missing {
            purpose: purpose.to_owned(),
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_names_its_purposes() {
        let all = all();
        assert!(all
            .iter()
            .any(|p| p.package == "cmake" && p.needed_for == "bitcoin-core"));
        assert!(all
            .iter()
            .any(|p| p.package == "musl-tools" && p.probes == ["musl-gcc"]));
        assert!(
            all.iter()
                .all(|p| ["bitcoin-core", "images", "dashboard", "partitions"]
                    .contains(&p.needed_for))
        );
        assert!(all
            .iter()
            .any(|p| p.package == "iproute2" && p.needed_for == "partitions"));
    }

    #[test]
    fn the_readme_names_exactly_the_listed_packages() {
        let readme = include_str!("../../README.md");
        let line = readme
            .lines()
            .find(|l| l.contains("apt-get install"))
            .expect("the README's quick start has an apt-get line");
        let named: Vec<&str> = line
            .split("apt-get install")
            .nth(1)
            .unwrap()
            .split(['`', ')'])
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        let listed: Vec<&str> = all().iter().map(|p| p.package).collect();
        assert_eq!(named, listed, "README: {line}");
    }

    #[test]
    fn a_missing_package_is_named_with_its_install_line() {
        let e = Missing {
            purpose: "images".into(),
            missing: vec![Prerequisite {
                package: "musl-tools",
                probes: vec!["musl-gcc"],
                needed_for: "images",
            }],
        };
        let text = e.to_string();
        assert!(text.contains("musl-tools (no musl-gcc)"), "{text}");
        assert!(text.contains("apt-get install musl-tools"), "{text}");
        let absent = Prerequisite {
            package: "x",
            probes: vec!["/nonexistent/file", "no-such-command-here"],
            needed_for: "images",
        };
        assert!(!absent.is_present());
        let present = Prerequisite {
            package: "sh",
            probes: vec!["no-such-command-here", "sh"],
            needed_for: "images",
        };
        assert!(present.is_present());
    }
}
