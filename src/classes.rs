//! Sets of class indices: the classes a model was trained on (`--classes 0-4,7`), kept in its
//! file's metadata, and what partial distillation masks by.

use std::fmt;

use crate::error::{Error, Result};

/// Metadata key a model file keeps its known classes under (absent: it knows all).
pub const CLASSES_KEY: &str = "distill_wgpu.classes";

/// A non-empty set of class indices below a class count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSet {
    known: Vec<bool>,
}

impl ClassSet {
    /// Every class of `classes`.
    pub fn all(classes: usize) -> Self {
        Self {
            known: vec![true; classes],
        }
    }

    /// The classes below `classes` for which `keep` holds; errors if none does.
    pub fn matching(classes: usize, keep: impl Fn(usize) -> bool) -> Result<Self> {
        let known: Vec<bool> = (0..classes).map(keep).collect();
        if !known.contains(&true) {
            return Err(Error::InvalidConfig(format!(
                "no class of {classes} is in the set"
            )));
        }
        Ok(Self { known })
    }

    /// Parses a list like `0-4,7` (ranges inclusive, any order, repeats allowed) against
    /// `classes` classes.
    pub fn parse(list: &str, classes: usize) -> Result<Self> {
        let bad = |m: String| Error::InvalidConfig(format!("class list {list:?}: {m}"));
        let index = |s: &str| -> Result<usize> {
            let c: usize = s
                .trim()
                .parse()
                .map_err(|_| bad(format!("{s:?} is not a class index")))?;
            if c >= classes {
                return Err(bad(format!(
                    "class {c} is out of range for {classes} classes"
                )));
            }
            Ok(c)
        };
        let mut known = vec![false; classes];
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (index(a)?, index(b)?),
                None => {
                    let c = index(part)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(bad(format!("range {part:?} runs backwards")));
            }
            known[lo..=hi].iter_mut().for_each(|k| *k = true);
        }
        if !known.contains(&true) {
            return Err(bad("no classes".into()));
        }
        Ok(Self { known })
    }

    /// The classes a model file records in its metadata, or all when it records none.
    pub fn from_metadata(
        metadata: &std::collections::HashMap<String, String>,
        classes: usize,
    ) -> Result<Self> {
        metadata
            .get(CLASSES_KEY)
            .map_or_else(|| Ok(Self::all(classes)), |list| Self::parse(list, classes))
    }

    /// Classes in the universe the set is drawn from.
    pub fn universe(&self) -> usize {
        self.known.len()
    }

    /// Whether class `c` is in the set.
    pub fn contains(&self, c: usize) -> bool {
        self.known.get(c).copied().unwrap_or(false)
    }

    /// Whether every class is in the set.
    pub fn is_all(&self) -> bool {
        self.known.iter().all(|&k| k)
    }

    /// The classes in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.known
            .iter()
            .enumerate()
            .filter_map(|(c, &k)| k.then_some(c))
    }

    /// Number of classes in the set.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Never true: a set holds at least one class.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One u32 per class, 1 when known (the layout kernels read).
    pub fn mask(&self) -> Vec<u32> {
        self.known.iter().map(|&k| k as u32).collect()
    }
}

impl fmt::Display for ClassSet {
    /// The canonical list: ascending, runs as ranges, e.g. `0-4,7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let classes: Vec<usize> = self.iter().collect();
        let mut parts = Vec::new();
        let mut i = 0;
        while i < classes.len() {
            let mut j = i;
            while j + 1 < classes.len() && classes[j + 1] == classes[j] + 1 {
                j += 1;
            }
            parts.push(if i == j {
                classes[i].to_string()
            } else {
                format!("{}-{}", classes[i], classes[j])
            });
            i = j + 1;
        }
        write!(f, "{}", parts.join(","))
    }
}
