//! One statistic's value per partition and their sum.
//!
//! Guarantees: the sum is always the sum of the parts; setting a part to
//! the value it has changes nothing; a key most often held by one
//! partition stores that value once, as its own sum.

use super::super::cell::Measures;

/// One key's value per partition, and their sum. Most keys are held by one
/// partition only: then the value is stored once, as its own sum.
#[derive(Debug, Clone)]
pub(super) enum Summed {
    /// One partition's value, which is the sum.
    One(i32, Measures),
    /// Several partitions' values and their sum.
    Many {
        total: Measures,
        parts: Vec<(i32, Measures)>,
    },
}

impl Summed {
    /// A key held by `partition` alone, or `None` for an empty value.
    pub(super) fn new(partition: i32, value: Option<&Measures>) -> Option<Summed> {
        let value = value.filter(|value| !value.is_empty())?;
        Some(Summed::One(partition, value.clone()))
    }

    /// The sum over partitions.
    pub(super) fn total(&self) -> &Measures {
        match self {
            Summed::One(_, value) => value,
            Summed::Many { total, .. } => total,
        }
    }

    /// Sets `partition`'s value; returns whether anything changed and
    /// whether any partition still holds the key.
    pub(super) fn set(&mut self, partition: i32, value: Option<&Measures>) -> (bool, bool) {
        let value = value.filter(|value| !value.is_empty());
        match self {
            Summed::One(held, old) if *held == partition => match value {
                None => (true, false),
                Some(value) if value == old => (false, true),
                Some(value) => {
                    *old = value.clone();
                    (true, true)
                }
            },
            Summed::One(held, old) => {
                let Some(value) = value else {
                    return (false, true);
                };
                let mut total = old.clone();
                total.add(value, 1);
                *self = Summed::Many {
                    total,
                    parts: vec![(*held, old.clone()), (partition, value.clone())],
                };
                (true, true)
            }
            Summed::Many { total, parts } => {
                let at = parts.iter().position(|(p, _)| *p == partition);
                let changed = match (at, value) {
                    (None, None) => false,
                    (Some(at), None) => {
                        let (_, old) = parts.swap_remove(at);
                        total.add(&old, -1);
                        true
                    }
                    (Some(at), Some(value)) => {
                        let old = &mut parts[at].1;
                        if old == value {
                            return (false, true);
                        }
                        total.add(old, -1);
                        total.add(value, 1);
                        *old = value.clone();
                        true
                    }
                    (None, Some(value)) => {
                        total.add(value, 1);
                        parts.push((partition, value.clone()));
                        true
                    }
                };
                if let [(only, value)] = parts.as_slice() {
                    *self = Summed::One(*only, value.clone());
                }
                let held = !matches!(self, Summed::Many { parts, .. } if parts.is_empty());
                (changed, held)
            }
        }
    }

    pub(super) fn part(&self, partition: i32) -> Option<&Measures> {
        match self {
            Summed::One(held, value) => (*held == partition).then_some(value),
            Summed::Many { parts, .. } => parts
                .iter()
                .find(|(p, _)| *p == partition)
                .map(|(_, value)| value),
        }
    }
}
