//! `wmap inspect`: a checkpoint's tensors collapsed into patterns, the first
//! thing an author reads when writing a mapping.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::checkpoint::Checkpoint;
use crate::collapse;
use crate::dtype::DType;

/// Tensors that share a name pattern, a shape and a dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Display form: `transformer.h.{0..11}.attn.bias`.
    pub pattern: String,
    /// The same as a `.wmap` source pattern: `transformer.h.{i}.attn.bias`.
    pub capture_pattern: String,
    /// The shape every member has, in elements per axis.
    pub shape: Vec<u64>,
    /// The dtype every member has.
    pub dtype: DType,
    /// The number of tensors in the group.
    pub count: usize,
    /// Parameters of all members together.
    pub parameters: u64,
    /// Bytes of all members together.
    pub bytes: u64,
}

/// What `wmap inspect` reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The paths of the checkpoint's shard files, in shard order.
    pub files: Vec<String>,
    /// The number of tensors.
    pub tensors: usize,
    /// Elements of all tensors together.
    pub parameters: u64,
    /// Bytes of tensor data of all tensors together.
    pub bytes: u64,
    /// Tensor count and bytes per dtype.
    pub dtypes: BTreeMap<DType, (usize, u64)>,
    /// The `__metadata__` of the first shard's header.
    pub metadata: BTreeMap<String, String>,
    /// Ordered by the name of each group's first member.
    pub groups: Vec<Group>,
}

impl Summary {
    /// Summarizes the tensors of `checkpoint`, read from its headers.
    pub fn of(checkpoint: &Checkpoint) -> Summary {
        // Names collapse only within one (shape, dtype), so a pattern never
        // hides a layer whose shape differs from its neighbours'.
        let mut buckets: BTreeMap<(Vec<u64>, DType), Vec<usize>> = BTreeMap::new();
        for (i, t) in checkpoint.tensors.iter().enumerate() {
            buckets
                .entry((t.shape.clone(), t.dtype))
                .or_default()
                .push(i);
        }
        let mut groups: Vec<(usize, Group)> = Vec::new();
        for ((shape, dtype), members) in buckets {
            let names: Vec<&str> = members
                .iter()
                .map(|&i| checkpoint.tensors[i].name.as_str())
                .collect();
            for g in collapse::collapse(&names) {
                let first = g.members.iter().map(|&m| members[m]).min().unwrap_or(0);
                let numel: u64 = shape.iter().product();
                let count = g.members.len();
                groups.push((
                    first,
                    Group {
                        pattern: g.pattern,
                        capture_pattern: g.capture_pattern,
                        shape: shape.clone(),
                        dtype,
                        count,
                        parameters: numel * count as u64,
                        bytes: dtype.nbytes(numel).unwrap_or(u64::MAX) * count as u64,
                    },
                ));
            }
        }
        groups.sort_by_key(|(first, _)| *first);
        let mut dtypes: BTreeMap<DType, (usize, u64)> = BTreeMap::new();
        for t in &checkpoint.tensors {
            let e = dtypes.entry(t.dtype).or_default();
            e.0 += 1;
            e.1 += t.nbytes();
        }
        Summary {
            files: checkpoint
                .shards
                .iter()
                .map(|s| s.path.display().to_string())
                .collect(),
            tensors: checkpoint.tensors.len(),
            parameters: checkpoint.tensors.iter().map(|t| t.numel()).sum(),
            bytes: checkpoint.tensors.iter().map(|t| t.nbytes()).sum(),
            dtypes,
            metadata: checkpoint.metadata(),
            groups: groups.into_iter().map(|(_, g)| g).collect(),
        }
    }

    /// The JSON form (documented in docs/inspect-json.md).
    pub fn to_json(&self) -> Value {
        json!({
            "files": self.files,
            "tensors": self.tensors,
            "parameters": self.parameters,
            "bytes": self.bytes,
            "dtypes": self.dtypes.iter().map(|(d, (n, b))| {
                (d.name().to_string(), json!({"tensors": n, "bytes": b}))
            }).collect::<serde_json::Map<_, _>>(),
            "metadata": self.metadata,
            "groups": self.groups.iter().map(|g| json!({
                "pattern": g.pattern,
                "capture_pattern": g.capture_pattern,
                "shape": g.shape,
                "dtype": g.dtype.name(),
                "count": g.count,
                "parameters": g.parameters,
                "bytes": g.bytes,
            })).collect::<Vec<_>>(),
        })
    }
}

/// `124.44M`, `1.50B`, `7.2K`: a parameter count for people.
pub fn human_count(n: u64) -> String {
    let f = n as f64;
    if n >= 1_000_000_000 {
        format!("{:.2}B", f / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.2}M", f / 1e6)
    } else if n >= 1_000 {
        format!("{:.1}K", f / 1e3)
    } else {
        n.to_string()
    }
}
