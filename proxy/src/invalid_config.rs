//! The error a library setting that cannot work is reported with ([`crate::downstream::ServerConfig::validate`],
//! [`crate::vardiff::VardiffConfig::validate`]): the field's name and why, so nothing has to be
//! clamped silently later.

/// A setting that cannot work, named by its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("setting `{field}`: {why}")]
pub struct InvalidConfig {
    /// The setting's field name, e.g. `max_line_len`.
    pub field: &'static str,
    /// Why the value cannot work.
    pub why: String,
}

impl InvalidConfig {
    /// `field` is wrong because of `why`.
    pub fn new(field: &'static str, why: impl Into<String>) -> Self {
        Self {
            field,
            why: why.into(),
        }
    }
}

/// `Err` naming `field` unless `ok`.
pub(crate) fn require(ok: bool, field: &'static str, why: &str) -> Result<(), InvalidConfig> {
    if ok {
        Ok(())
    } else {
        Err(InvalidConfig::new(field, why))
    }
}
