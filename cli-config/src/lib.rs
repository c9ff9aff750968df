//! One config-file mechanism for every binary of the workspace, on top of its clap flags.
//!
//! A program describes itself with a [`Program`] (name, environment prefix, extra sections its
//! file may hold) and calls [`load`] instead of `Parser::parse`. Then:
//! - `--config PATH` (or `<PREFIX>CONFIG`) names an optional TOML file (a `.json` file is read
//!   as JSON, same keys). Its top-level keys are the long flags in snake case (`--node-url` is
//!   `node_url`); a subcommand's flags sit in a table named after it (`[run]`).
//! - Precedence is flags > environment > file > defaults: a file value becomes the flag's
//!   default, so clap's own value parser validates it (an error names the file and the flag).
//! - Every flag without an explicit `env` gets `<PREFIX><FLAG>` (`PROXY_NODE_URL`), so flags
//!   added later have file and environment support with no extra code.
//! - Unknown keys are errors naming the key and the file.
//! - `--print-config` asks for the effective configuration: [`Loaded::effective`] renders it
//!   as TOML with secrets (flags marked `hide_env_values`) redacted.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

pub use toml;

/// What redacted values print as.
pub const REDACTED: &str = "<redacted>";

/// Ids of the flags this crate adds.
const CONFIG_ID: &str = "config";
const PRINT_ID: &str = "print_config";

/// How one program names its environment variables and what else its file may hold.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// Environment variable prefix, with its trailing underscore: `PROXY_`.
    pub env_prefix: &'static str,
    /// Top-level tables of the file that are not flags but the program's own structured
    /// configuration (the scheduler's `[framework]`, `[proxy]`, ...), handed back untouched.
    pub sections: &'static [&'static str],
    /// Flags that override a key of a section, as `(flag key, section key)`: the file sets
    /// the section key only (`[proxy] cpus`, not `proxy_cpus` too), so one file cannot say
    /// one thing twice, and [`Loaded::effective`] leaves them out (the program prints its
    /// sections, where their values are).
    pub section_flags: &'static [(&'static str, &'static str)],
}

/// Errors reading the file or parsing the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A usage error, `--help` or `--version`: print it with [`clap::Error::exit`].
    #[error(transparent)]
    Clap(#[from] clap::Error),
    /// The config file cannot be read.
    #[error("reading the config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML (or JSON, for a `.json` file).
    #[error("parsing the config file {path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's error.
        message: String,
    },
    /// A key of the file is no flag, subcommand or section of the program.
    #[error("config file {path}: unknown key `{key}` (known keys: {known})")]
    UnknownKey {
        /// The config file.
        path: PathBuf,
        /// The unknown key.
        key: String,
        /// The keys the file may hold, comma-separated (`[name]` for tables).
        known: String,
    },
    /// A key's value has the wrong shape (not a scalar or list of them, not a table for a
    /// subcommand), or the key is a section flag that belongs in its section.
    #[error("config file {path}: `{key}` {message}")]
    BadValue {
        /// The config file.
        path: PathBuf,
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A value from the file fails its flag's own parser.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The first line of clap's error, without its `error: ` prefix.
        message: String,
    },
    /// A variable of a renamed flag's old name is set: it would be ignored.
    #[error("{old} is no longer read: the flag is {flag} now, its variable {new}")]
    RetiredEnv {
        /// The old variable's name, which is set.
        old: String,
        /// The variable read now.
        new: String,
        /// The flag, as `--long-name`.
        flag: String,
    },
}

/// The parsed arguments, with what the file held beyond them.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The program's arguments, file values applied.
    pub args: T,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// The file's [`Program::sections`] tables.
    pub sections: toml::Table,
    /// `--print-config` was given.
    pub print_config: bool,
    effective: toml::Table,
}

impl<T> Loaded<T> {
    /// The effective flags as a TOML table (the active subcommand's in its own table), secrets
    /// redacted. Programs with [`Program::sections`] add theirs before printing.
    pub fn effective(&self) -> toml::Table {
        self.effective.clone()
    }
}

/// Renders a table as TOML text.
pub fn render(table: &toml::Table) -> String {
    toml::to_string(table).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// [`load_from`] on the process's arguments. On a usage error, `--help` or `--version` it
/// prints and exits as clap does; other errors are returned.
pub fn load<T: CommandFactory + FromArgMatches>(program: &Program) -> Result<Loaded<T>, Error> {
    match load_from(program, std::env::args_os()) {
        Err(Error::Clap(e)) => e.exit(),
        other => other,
    }
}

/// The program's clap command with the environment names filled in and `--config`,
/// `--print-config` added (what [`load_from`] parses with; for tests of the vocabulary).
pub fn command<T: CommandFactory>(program: &Program) -> Command {
    let cmd = with_env(T::command(), program.env_prefix);
    cmd.arg(
        clap::Arg::new(CONFIG_ID)
            .long("config")
            .value_name("PATH")
            .env(format!("{}CONFIG", program.env_prefix))
            .global(true)
            .value_parser(clap::value_parser!(PathBuf))
            .help("TOML config file (flags > environment > file > defaults)"),
    )
    .arg(
        clap::Arg::new(PRINT_ID)
            .long("print-config")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("Print the effective configuration (TOML, secrets redacted) and exit"),
    )
}

/// Parses `argv` (program name first), reading the config file it names.
pub fn load_from<T, I, A>(program: &Program, argv: I) -> Result<Loaded<T>, Error>
where
    T: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = A>,
    A: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut cmd = command::<T>(program);
    if let Some((old, new, flag)) = retired_env(&cmd)
        .into_iter()
        .find(|(old, _, _)| std::env::var_os(old).is_some())
    {
        return Err(Error::RetiredEnv { old, new, flag });
    }
    let file = config_path(&argv, program.env_prefix);
    let mut sections = toml::Table::new();
    if let Some(path) = &file {
        let table = read_table(path)?;
        cmd = apply_file(cmd, table, path, program, &mut sections, true)?;
    }
    let matches = match cmd.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        // A value that fails its flag's parser came from the file when the same argv and
        // environment without the file do not fail that way.
        Err(e) if file.is_some() && e.kind() == clap::error::ErrorKind::ValueValidation => {
            let without = command::<T>(program).try_get_matches_from(&argv);
            return Err(match without {
                Err(base) if base.kind() == e.kind() => Error::Clap(e),
                _ => Error::Invalid {
                    path: file.clone().expect("a file"),
                    message: first_line(&e),
                },
            });
        }
        Err(e) => return Err(Error::Clap(e)),
    };
    let args = T::from_arg_matches(&matches)?;
    let print_config = matches.get_flag(PRINT_ID);
    let mut effective = effective(&cmd, &matches);
    // A section flag's value is the program's to show, in its section (see
    // [`Program::section_flags`]): printed at the top too, the text would not read back.
    for (flag, _) in program.section_flags {
        effective.remove(*flag);
    }
    Ok(Loaded {
        args,
        file,
        sections,
        print_config,
        effective,
    })
}

/// A clap error's first line, without its `error: ` prefix.
fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// `--config PATH`, `--config=PATH` or the environment variable.
fn config_path(argv: &[OsString], prefix: &str) -> Option<PathBuf> {
    let mut found = None;
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "--config" {
            found = it.next().map(PathBuf::from);
        } else if let Some(p) = s.strip_prefix("--config=") {
            found = Some(PathBuf::from(p));
        }
    }
    found.or_else(|| std::env::var_os(format!("{prefix}CONFIG")).map(PathBuf::from))
}

/// The file as a table: TOML, or JSON for a `.json` file.
pub fn read_table(path: &Path) -> Result<toml::Table, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str::<toml::Table>(&text).map_err(|e| e.to_string())
    } else {
        text.parse::<toml::Table>().map_err(|e| e.to_string())
    };
    parsed.map_err(|message| Error::Parse {
        path: path.to_owned(),
        message,
    })
}

/// Every argument's id, except help and version.
fn flag_args(cmd: &Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
}

/// Fills in `<PREFIX><FLAG>` for every flag (here and in subcommands) that names no variable.
fn with_env(mut cmd: Command, prefix: &str) -> Command {
    let ids: Vec<(String, String)> = flag_args(&cmd)
        .filter(|a| a.get_env().is_none() && a.get_long().is_some())
        .map(|a| {
            let long = a.get_long().unwrap_or_default();
            (
                a.get_id().to_string(),
                format!("{prefix}{}", long.replace('-', "_").to_uppercase()),
            )
        })
        .collect();
    for (id, env) in ids {
        cmd = cmd.mut_arg(id, |a| a.env(env));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        let prefix = prefix.to_owned();
        cmd = cmd.mut_subcommand(name, |s| with_env(s, &prefix));
    }
    cmd
}

/// The variables of renamed flags' old names, with the new variable and flag: a flag's
/// variable with its long name replaced by each alias (`PROXY_SHARE_SECS` of `--share-secs`,
/// alias `share-seconds`, retires `PROXY_SHARE_SECONDS`), here and in subcommands.
fn retired_env(cmd: &Command) -> Vec<(String, String, String)> {
    let mut retired = Vec::new();
    for arg in flag_args(cmd) {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        let env = env.to_string_lossy();
        let Some(stem) = env.strip_suffix(&long.replace('-', "_").to_uppercase()) else {
            continue;
        };
        for alias in arg.get_all_aliases().into_iter().flatten() {
            let old = format!("{stem}{}", alias.replace('-', "_").to_uppercase());
            if old != env {
                retired.push((old, env.to_string(), format!("--{long}")));
            }
        }
    }
    for sub in cmd.get_subcommands() {
        retired.extend(retired_env(sub));
    }
    retired
}

/// The file key of a flag: its long name in snake case.
fn key_of(arg: &clap::Arg) -> Option<String> {
    arg.get_long().map(|l| l.replace('-', "_"))
}

/// Makes the file's values the defaults of their flags; subcommand tables recurse.
fn apply_file(
    mut cmd: Command,
    table: toml::Table,
    path: &Path,
    program: &Program,
    sections: &mut toml::Table,
    top: bool,
) -> Result<Command, Error> {
    // Every file key (a long name or an alias) to its flag's id, and the section key that
    // stands in the file for a section flag (by id: its aliases are covered too).
    let mut by_key = std::collections::BTreeMap::new();
    let mut in_section = std::collections::BTreeMap::new();
    for arg in flag_args(&cmd) {
        if matches!(arg.get_id().as_str(), CONFIG_ID | PRINT_ID) {
            continue;
        }
        if let Some(key) = key_of(arg) {
            let id = arg.get_id().to_string();
            if let Some((_, instead)) = program.section_flags.iter().find(|(f, _)| *f == key) {
                in_section.insert(id.clone(), *instead);
            }
            for alias in arg.get_all_aliases().into_iter().flatten() {
                by_key.insert(alias.replace('-', "_"), id.clone());
            }
            by_key.insert(key, id);
        }
    }
    let subs: BTreeSet<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for (key, value) in table {
        // A table under a section's name is the section, even where a flag shares the name
        // (the scheduler's `--executor` command and its `[executor]` table).
        if top && value.is_table() && program.sections.contains(&key.as_str()) {
            sections.insert(key, value);
        } else if let Some(instead) = by_key
            .get(&key)
            .and_then(|id| in_section.get(id))
            .filter(|_| top)
        {
            return Err(Error::BadValue {
                path: path.to_owned(),
                key,
                message: format!("is a command-line flag; in the file it is `{instead}`"),
            });
        } else if let Some(id) = by_key.get(&key) {
            let values = scalars(&value).map_err(|message| Error::BadValue {
                path: path.to_owned(),
                key: key.clone(),
                message,
            })?;
            cmd = cmd.mut_arg(id, |a| {
                let a = a.required(false);
                if values.is_empty() {
                    a
                } else {
                    a.default_values(values)
                }
            });
        } else if subs.contains(&key) {
            let toml::Value::Table(sub) = value else {
                return Err(Error::BadValue {
                    path: path.to_owned(),
                    key,
                    message: "is a subcommand: expected a table".into(),
                });
            };
            let mut result = Ok(());
            cmd = cmd.mut_subcommand(&key, |s| {
                match apply_file(
                    s.clone(),
                    sub,
                    path,
                    program,
                    &mut toml::Table::new(),
                    false,
                ) {
                    Ok(s) => s,
                    Err(e) => {
                        result = Err(e);
                        s
                    }
                }
            });
            result?;
        } else if top && program.sections.contains(&key.as_str()) {
            sections.insert(key, value);
        } else {
            let mut known: Vec<String> = by_key.keys().cloned().collect();
            known.extend(subs.iter().map(|s| format!("[{s}]")));
            if top {
                known.extend(program.sections.iter().map(|s| format!("[{s}]")));
            }
            return Err(Error::UnknownKey {
                path: path.to_owned(),
                key,
                known: known.join(", "),
            });
        }
    }
    Ok(cmd)
}

/// A file value as the strings clap parses: one for a scalar, each element of an array.
fn scalars(value: &toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    Err("must be a value or an array of values".to_string())
                }
                v => Ok(scalar(v)),
            })
            .collect(),
        toml::Value::Table(_) => Err("must be a value, not a table".into()),
        v => Ok(vec![scalar(v)]),
    }
}

fn scalar(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// The effective value of every flag that has one, as TOML.
fn effective(cmd: &Command, matches: &ArgMatches) -> toml::Table {
    let mut table = toml::Table::new();
    for arg in flag_args(cmd) {
        let id = arg.get_id().as_str();
        if matches!(id, CONFIG_ID | PRINT_ID) {
            continue;
        }
        let (Some(key), Ok(Some(raw))) = (key_of(arg), matches.try_get_raw(id)) else {
            continue;
        };
        let Some(source) = matches.value_source(id) else {
            continue;
        };
        // A hidden flag (a fault switch, a former spelling) shows only when set.
        if arg.is_hide_set() && source == clap::parser::ValueSource::DefaultValue {
            continue;
        }
        let secret = arg.is_hide_env_values_set();
        let values: Vec<toml::Value> = raw
            .map(|v| {
                if secret {
                    toml::Value::String(REDACTED.into())
                } else {
                    typed(&v.to_string_lossy(), arg)
                }
            })
            .collect();
        let many = matches!(arg.get_action(), ArgAction::Append)
            || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
            || arg.get_value_delimiter().is_some();
        let value = match (many, values.len()) {
            (false, 1) => values.into_iter().next().expect("one value"),
            _ => toml::Value::Array(values),
        };
        table.insert(key, value);
    }
    if let Some((name, sub)) = matches.subcommand() {
        if let Some(sub_cmd) = cmd.find_subcommand(name) {
            table.insert(name.to_owned(), toml::Value::Table(effective(sub_cmd, sub)));
        }
    }
    table
}

/// A raw value as the TOML type it reads as: booleans of flags, integers, finite floats, else
/// a string (every one of which reads back as the same flag value).
fn typed(raw: &str, arg: &clap::Arg) -> toml::Value {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        if let Ok(b) = raw.parse::<bool>() {
            return toml::Value::Boolean(b);
        }
    }
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw.parse::<f64>() {
        Ok(f) if f.is_finite() && raw.chars().all(|c| "0123456789.eE+-".contains(c)) => {
            toml::Value::Float(f)
        }
        _ => toml::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests;
