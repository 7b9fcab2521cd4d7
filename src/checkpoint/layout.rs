//! Writing the safetensors format: which output file each target goes to,
//! at which offset, the header bytes and the shard index, all known from the
//! plan before any data is read.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::plan::Plan;

/// A target placed in an output file.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Index into `plan.targets`.
    pub target: usize,
    pub name: String,
    /// Offset within the file's data area.
    pub offset: u64,
    pub nbytes: u64,
    pub dtype: &'static str,
    pub shape: Vec<u64>,
}

/// One output safetensors file.
#[derive(Debug, Clone)]
pub struct OutFile {
    pub name: String,
    pub tensors: Vec<Placed>,
    pub data_len: u64,
    pub metadata: BTreeMap<String, String>,
}

/// All output files.
#[derive(Debug, Clone)]
pub struct Layout {
    pub files: Vec<OutFile>,
}

/// The length of `text` written as a JSON string, quotes included (as
/// serde_json writes it), without writing it.
pub fn json_string_len(text: &str) -> u64 {
    2 + text
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\t' | '\r' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8() as u64,
        })
        .sum::<u64>()
}

impl Layout {
    /// Lays out the plan's targets; with `max_shard`, into HF-style shards.
    pub fn new(plan: &Plan, metadata: &BTreeMap<String, String>, max_shard: Option<u64>) -> Layout {
        // Group targets into shards in name order.
        let mut shards: Vec<Vec<usize>> = vec![Vec::new()];
        let mut size = 0u64;
        for (i, t) in plan.targets.iter().enumerate() {
            let n = t.node.nbytes();
            if let Some(max) = max_shard {
                if size > 0 && size + n > max {
                    shards.push(Vec::new());
                    size = 0;
                }
            }
            shards.last_mut().expect("one shard").push(i);
            size += n;
        }
        let count = shards.len();
        let files = shards
            .into_iter()
            .enumerate()
            .map(|(k, members)| {
                let name = if count == 1 {
                    "model.safetensors".to_string()
                } else {
                    format!("model-{:05}-of-{:05}.safetensors", k + 1, count)
                };
                place(plan, name, members, metadata)
            })
            .collect();
        Layout { files }
    }

    /// `model.safetensors.index.json` for a sharded layout.
    pub fn index_json(&self) -> Option<String> {
        if self.files.len() < 2 {
            return None;
        }
        let mut weight_map = Map::new();
        let mut names: Vec<(&str, &str)> = self
            .files
            .iter()
            .flat_map(|f| {
                f.tensors
                    .iter()
                    .map(move |t| (t.name.as_str(), f.name.as_str()))
            })
            .collect();
        names.sort();
        for (t, f) in names {
            weight_map.insert(t.to_string(), Value::String(f.to_string()));
        }
        let total: u64 = self.files.iter().map(|f| f.data_len).sum();
        let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        Some(serde_json::to_string_pretty(&index).expect("JSON of plain values") + "\n")
    }
}

/// Orders tensors as the safetensors library does (larger dtypes first,
/// then by name) so every tensor is aligned to its element size.
fn place(
    plan: &Plan,
    name: String,
    mut members: Vec<usize>,
    metadata: &BTreeMap<String, String>,
) -> OutFile {
    members.sort_by(|&a, &b| {
        let (ta, tb) = (&plan.targets[a], &plan.targets[b]);
        tb.node
            .dtype
            .bits()
            .cmp(&ta.node.dtype.bits())
            .then_with(|| ta.name.cmp(&tb.name))
    });
    let mut offset = 0;
    let tensors = members
        .into_iter()
        .map(|i| {
            let t = &plan.targets[i];
            let nbytes = t.node.nbytes();
            let placed = Placed {
                target: i,
                name: t.name.clone(),
                offset,
                nbytes,
                dtype: t.node.dtype.safetensors_name(),
                shape: t.node.shape.clone(),
            };
            offset += nbytes;
            placed
        })
        .collect();
    OutFile {
        name,
        tensors,
        data_len: offset,
        metadata: metadata.clone(),
    }
}

impl OutFile {
    /// The 8-byte length and the JSON header, padded with spaces to a
    /// multiple of 8 bytes so the data area is aligned.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut header = Map::new();
        if !self.metadata.is_empty() {
            let meta: Map<String, Value> = self
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            header.insert("__metadata__".into(), Value::Object(meta));
        }
        for t in &self.tensors {
            header.insert(
                t.name.clone(),
                json!({
                    "dtype": t.dtype,
                    "shape": t.shape,
                    "data_offsets": [t.offset, t.offset + t.nbytes],
                }),
            );
        }
        let mut text = serde_json::to_string(&Value::Object(header)).expect("JSON of plain values");
        while !(8 + text.len()).is_multiple_of(8) {
            text.push(' ');
        }
        let mut out = Vec::with_capacity(8 + text.len());
        out.extend((text.len() as u64).to_le_bytes());
        out.extend(text.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_string_len_is_what_serde_json_writes() {
        for text in [
            "",
            "a.b",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "\u{1}\u{1f}\u{7f}",
            "größe",
            "\u{8}\u{c}",
        ] {
            assert_eq!(
                super::json_string_len(text),
                serde_json::to_string(text).unwrap().len() as u64,
                "{text:?}"
            );
        }
    }
}
