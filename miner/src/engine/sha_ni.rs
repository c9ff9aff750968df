//! The SHA-extensions engine (placeholder while being written).
use super::job::Job;
pub(crate) const LANES: usize = 1;
pub(crate) fn available() -> bool {
    false
}
pub(crate) fn scan(_job: &Job, _range: std::ops::Range<u64>, _candidates: &mut Vec<u32>) {
    unreachable!()
}
