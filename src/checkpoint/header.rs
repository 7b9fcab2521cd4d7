//! Reading safetensors headers (never tensor data): single files, folders
//! holding `model.safetensors`, and sharded folders with an index. Every
//! field is validated, since checkpoints come from strangers.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::dtype::DType;
use crate::error::{BadEntry, Error, Malformed, Result};

/// The largest header wmap reads (the safetensors library's own limit).
pub const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// A tensor as far as its name, dtype and shape go: all that the checker,
/// the plan, `infer` and the comparisons need.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The name in the header.
    pub name: String,
    /// Its dtype.
    pub dtype: DType,
    /// Its shape, in elements per axis.
    pub shape: Vec<u64>,
}

impl Tensor {
    /// Its number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Its number of bytes (a header's entries are checked not to overflow).
    pub fn nbytes(&self) -> u64 {
        self.dtype.nbytes(self.numel()).unwrap_or(u64::MAX)
    }
}

/// Where a tensor's bytes are: only the reader and the executor need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Index into [`Checkpoint::shards`].
    pub shard: usize,
    /// Absolute byte offset of the data in the shard file.
    pub offset: u64,
}

impl Place {
    /// The bytes of `tensor`, placed here, in the bytes of its whole file (a
    /// file read into memory rather than mapped); the header checked the range.
    pub fn data<'a>(&self, tensor: &Tensor, file: &'a [u8]) -> &'a [u8] {
        &file[self.offset as usize..(self.offset + tensor.nbytes()) as usize]
    }
}

/// One `.safetensors` file of a checkpoint.
#[derive(Debug, Clone)]
pub struct Shard {
    /// The file.
    pub path: PathBuf,
    /// Length of the file in bytes.
    pub file_len: u64,
    /// The `__metadata__` of the header.
    pub metadata: BTreeMap<String, String>,
}

/// The headers of a whole checkpoint: what `check` and `plan` work from.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The folder holding the weights (for finding config.json and extras).
    pub dir: PathBuf,
    /// The index file, for a sharded checkpoint.
    pub index: Option<PathBuf>,
    /// Its shard files, in the order [`Place::shard`] counts them.
    pub shards: Vec<Shard>,
    /// Every tensor, sorted by name.
    pub tensors: Vec<Tensor>,
    /// Where each of [`Self::tensors`] is stored.
    pub places: Vec<Place>,
}

impl Checkpoint {
    /// Reads the headers of `path`: a `.safetensors` file, a folder with
    /// `model.safetensors`, a folder with one `*.safetensors.index.json`, or a
    /// folder holding exactly one `.safetensors` file.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_dir() {
            let dir = parent_dir(path);
            return Self::from_files(dir, None, &[path.to_path_buf()]);
        }
        let single = path.join("model.safetensors");
        if single.is_file() {
            return Self::from_files(path.to_path_buf(), None, &[single]);
        }
        let mut indexes = Vec::new();
        let mut files = Vec::new();
        let mut others = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let entry = entry.map_err(|e| Error::io(path, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".bin")
                || name.ends_with(".pt")
                || name.ends_with(".pth")
                || name.ends_with(".gguf")
                || name.ends_with(".ckpt")
            {
                others.push(name.clone());
            }
            if name.ends_with(".safetensors.index.json") {
                indexes.push(entry.path());
            } else if name.ends_with(".safetensors") {
                files.push(entry.path());
            }
        }
        indexes.sort();
        files.sort();
        match (indexes.as_slice(), files.as_slice()) {
            ([index], _) => Self::from_index(path, index),
            ([], [file]) => Self::from_files(path.to_path_buf(), None, std::slice::from_ref(file)),
            ([], []) if !others.is_empty() => {
                others.sort();
                others.truncate(3);
                Err(Error::checkpoint(
                    path,
                    Malformed::OnlyOtherFormats { names: others },
                ))
            }
            ([], []) => Err(Error::checkpoint(path, Malformed::NoWeights)),
            ([], _) => Err(Error::checkpoint(
                path,
                Malformed::SeveralFiles { count: files.len() },
            )),
            (_, _) => Err(Error::checkpoint(
                path,
                Malformed::SeveralIndexes {
                    count: indexes.len(),
                },
            )),
        }
    }

    fn from_index(dir: &Path, index_path: &Path) -> Result<Checkpoint> {
        let text = crate::fsio::read_text(index_path, crate::fsio::MAX_INDEX, "an index")?;
        let index: Value = serde_json::from_str(&text)
            .map_err(|e| Error::checkpoint(index_path, Malformed::IndexNotJson(e.to_string())))?;
        let Some(weight_map) = index.get("weight_map").and_then(Value::as_object) else {
            return Err(Error::checkpoint(index_path, Malformed::NoWeightMap));
        };
        let mut shard_names: Vec<&str> = Vec::new();
        let mut expected: HashMap<&str, &str> = HashMap::new();
        for (tensor, shard) in weight_map {
            let Some(shard) = shard.as_str() else {
                return Err(Error::tensor(index_path, tensor, BadEntry::ShardNotString));
            };
            if !is_plain_file_name(shard) {
                return Err(Error::tensor(
                    index_path,
                    tensor,
                    BadEntry::ShardOutside {
                        shard: shard.to_string(),
                    },
                ));
            }
            if !shard_names.contains(&shard) {
                shard_names.push(shard);
            }
            expected.insert(tensor, shard);
        }
        shard_names.sort_unstable();
        let paths: Vec<PathBuf> = shard_names.iter().map(|s| dir.join(s)).collect();
        for p in &paths {
            if !p.is_file() {
                return Err(Error::checkpoint(
                    index_path,
                    Malformed::ShardMissing {
                        shard: p.display().to_string(),
                    },
                ));
            }
        }
        let checkpoint =
            Self::from_files(dir.to_path_buf(), Some(index_path.to_path_buf()), &paths)?;
        for (t, place) in checkpoint.tensors.iter().zip(&checkpoint.places) {
            let shard_name = shard_names[place.shard];
            match expected.get(t.name.as_str()) {
                Some(s) if *s == shard_name => {}
                Some(s) => {
                    return Err(Error::tensor(
                        index_path,
                        &t.name,
                        BadEntry::Elsewhere {
                            index: s.to_string(),
                            found: shard_name.to_string(),
                        },
                    ))
                }
                None => {
                    return Err(Error::tensor(
                        index_path,
                        &t.name,
                        BadEntry::NotInIndex {
                            shard: shard_name.to_string(),
                        },
                    ))
                }
            }
        }
        if checkpoint.tensors.len() != expected.len() {
            let present: std::collections::HashSet<&str> =
                checkpoint.tensors.iter().map(|t| t.name.as_str()).collect();
            if let Some((name, shard)) = expected.iter().find(|(n, _)| !present.contains(**n)) {
                return Err(Error::tensor(
                    index_path,
                    name,
                    BadEntry::NotInShard {
                        shard: shard.to_string(),
                    },
                ));
            }
        }
        Ok(checkpoint)
    }

    fn from_files(dir: PathBuf, index: Option<PathBuf>, paths: &[PathBuf]) -> Result<Checkpoint> {
        let mut shards = Vec::new();
        let mut tensors = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, path) in paths.iter().enumerate() {
            let (shard, mut shard_tensors) = read_header(path, i)?;
            for (t, _) in &shard_tensors {
                if let Some(other) = seen.insert(t.name.clone(), i) {
                    return Err(Error::tensor(
                        path,
                        &t.name,
                        BadEntry::AlsoIn {
                            other: paths[other].display().to_string(),
                        },
                    ));
                }
            }
            tensors.append(&mut shard_tensors);
            shards.push(shard);
        }
        tensors.sort_by(|a: &(Tensor, Place), b| a.0.name.cmp(&b.0.name));
        let (tensors, places) = tensors.into_iter().unzip();
        Ok(Checkpoint {
            dir,
            index,
            shards,
            tensors,
            places,
        })
    }

    /// Total bytes of tensor data.
    pub fn data_bytes(&self) -> u64 {
        self.tensors.iter().map(Tensor::nbytes).sum()
    }

    /// The `__metadata__` of the first shard (all shards of a Hub checkpoint agree).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        self.shards
            .first()
            .map(|s| s.metadata.clone())
            .unwrap_or_default()
    }

    /// Every shard mapped read-only, with each tensor's bytes in them.
    pub fn map(&self) -> Result<Mapped> {
        let (files, maps) = self.map_shards()?.into_iter().unzip();
        Ok(Mapped {
            files,
            maps,
            ranges: self
                .tensors
                .iter()
                .zip(&self.places)
                .map(|(t, p)| (p.shard, p.offset, p.offset + t.nbytes()))
                .collect(),
        })
    }

    /// Opens and maps every shard read-only, in shard order. A shard whose
    /// size changed since its header was read is refused: the offsets the
    /// header gave may no longer lie inside it.
    fn map_shards(&self) -> Result<Vec<(File, memmap2::Mmap)>> {
        self.shards
            .iter()
            .map(|shard| {
                let file = crate::fsio::open_regular(&shard.path)?;
                let len = file
                    .metadata()
                    .map_err(|e| Error::io(&shard.path, e))?
                    .len();
                if len != shard.file_len {
                    return Err(Error::checkpoint(&shard.path, Malformed::ChangedSize));
                }
                // SAFETY: the file is opened read-only; a concurrent writer
                // could change the bytes we read, but not the length checked
                // above, within which every tensor's range was validated.
                let map =
                    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&shard.path, e))?;
                Ok((file, map))
            })
            .collect()
    }
}

/// A checkpoint's shards mapped read-only: the one place tensor bytes are
/// read from a mapped file.
pub struct Mapped {
    /// The open shards, in shard order (the executor copies ranges of them
    /// with `copy_file_range`).
    pub files: Vec<File>,
    maps: Vec<memmap2::Mmap>,
    /// (shard, start, end) of every tensor.
    ranges: Vec<(usize, u64, u64)>,
}

impl Mapped {
    /// The bytes of tensor `index` (an index into the checkpoint's tensors).
    pub fn bytes(&self, index: usize) -> &[u8] {
        let (shard, start, end) = self.ranges[index];
        &self.maps[shard][start as usize..end as usize]
    }

    /// The shard tensor `index` lives in, and where its bytes start there.
    pub fn place(&self, index: usize) -> (usize, u64) {
        let (shard, start, _) = self.ranges[index];
        (shard, start)
    }
}

/// The folder a file lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A name with no folder part: no separators, no `..`, not absolute.
pub fn is_plain_file_name(name: &str) -> bool {
    let mut comps = Path::new(name).components();
    matches!(comps.next(), Some(Component::Normal(_)))
        && comps.next().is_none()
        && !name.contains('\\')
}

/// The header's top-level entries in file order, keeping duplicates so they
/// can be reported (a plain map would silently keep the last one). Values are
/// kept as raw JSON text and parsed by [`parse_entry`]: the well-formed case
/// goes straight into typed fields, without building a `Value` tree.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A well-formed tensor entry, parsed without an intermediate `Value`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry<'a> {
    dtype: &'a str,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// What a file that starts with `head` is, when it is a format people pass
/// for a checkpoint by mistake; asked only of files whose first 8 bytes are
/// no possible safetensors header length.
pub fn other_format(head: &[u8; 8]) -> Option<&'static str> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some("a ZIP archive (PyTorch's `torch.save` format, as in pytorch_model.bin, or a NumPy .npz)")
    } else if head[0] == 0x80 && (2..=5).contains(&head[1]) {
        Some("a Python pickle (an older PyTorch checkpoint, as `torch.save` wrote before 1.6)")
    } else if head.starts_with(b"GGUF") {
        Some("a GGUF file (llama.cpp's format)")
    } else if head.starts_with(b"\x93NUMPY") {
        Some("a NumPy array file (.npy)")
    } else if head.starts_with(b"\x89HDF") {
        Some("an HDF5 file (Keras .h5)")
    } else {
        None
    }
}

/// Reads and validates the header of one safetensors file.
pub fn read_header(path: &Path, shard: usize) -> Result<(Shard, Vec<(Tensor, Place)>)> {
    let mut file = crate::fsio::open_regular(path)?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if file_len < 8 {
        return Err(Error::checkpoint(
            path,
            Malformed::TooShort { len: file_len },
        ));
    }
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|e| Error::io(path, e))?;
    let header_len = u64::from_le_bytes(len_bytes);
    // Only a file that cannot be safetensors is named as something else: a
    // real header length can begin with any two bytes.
    if header_len > (file_len - 8).min(MAX_HEADER_LEN) {
        if let Some(kind) = other_format(&len_bytes) {
            return Err(Error::checkpoint(path, Malformed::OtherFormat { kind }));
        }
    }
    if header_len > file_len - 8 {
        return Err(Error::checkpoint(
            path,
            Malformed::HeaderPastFile {
                claims: header_len,
                has: file_len - 8,
            },
        ));
    }
    if header_len > MAX_HEADER_LEN {
        return Err(Error::checkpoint(
            path,
            Malformed::HeaderTooLarge {
                claims: header_len,
                limit: MAX_HEADER_LEN,
            },
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| Error::io(path, e))?;
    parse_header(path, shard, file_len, &header)
}

/// Validates the JSON header of one safetensors file whose length is
/// `file_len` (the 8-byte length prefix and `header` included); `path` only
/// names the file in errors. Split from [`read_header`] so the fuzz targets
/// can reach it without a file.
pub fn parse_header(
    path: &Path,
    shard: usize,
    file_len: u64,
    header: &[u8],
) -> Result<(Shard, Vec<(Tensor, Place)>)> {
    let header_len = header.len() as u64;
    if header_len.saturating_add(8) > file_len {
        return Err(Error::checkpoint(
            path,
            Malformed::HeaderPastFile {
                claims: header_len,
                has: file_len.saturating_sub(8),
            },
        ));
    }
    let entries: Entries = serde_json::from_slice(header)
        .map_err(|e| Error::checkpoint(path, Malformed::HeaderNotJson(e.to_string())))?;
    let data_start = 8 + header_len;
    let data_len = file_len - data_start;
    let mut metadata = BTreeMap::new();
    let mut tensors: Vec<(Tensor, Place)> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
    for (name, value) in entries.0 {
        if !names.insert(name.clone()) {
            return Err(Error::tensor(path, &name, BadEntry::Twice));
        }
        if name == "__metadata__" {
            let value: Value = serde_json::from_str(value.get())
                .map_err(|e| Error::checkpoint(path, Malformed::MetadataNotJson(e.to_string())))?;
            metadata = parse_metadata(path, &value)?;
            continue;
        }
        let (dtype, shape, begin, end) = parse_entry(path, &name, value)?;
        // The product of the non-zero dimensions must fit too: a zero makes
        // the count 0, but strides are products of the dimensions after an
        // axis, and an op that reorders axes computes them.
        shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d.max(1)))
            .ok_or_else(|| Error::tensor(path, &name, BadEntry::DimensionsOverflow))?;
        let numel = shape.iter().product::<u64>();
        let bits = numel
            .checked_mul(dtype.bits() as u64)
            .ok_or_else(|| Error::tensor(path, &name, BadEntry::BytesOverflow))?;
        if bits % 8 != 0 {
            return Err(Error::tensor(
                path,
                &name,
                BadEntry::PartialByte { dtype, numel },
            ));
        }
        let nbytes = bits / 8;
        if end < begin {
            return Err(Error::tensor(
                path,
                &name,
                BadEntry::OffsetsReversed { begin, end },
            ));
        }
        if end - begin != nbytes {
            return Err(Error::tensor(
                path,
                &name,
                BadEntry::SizeMismatch {
                    shape,
                    dtype,
                    needs: nbytes,
                    begin,
                    end,
                },
            ));
        }
        if end > data_len {
            return Err(Error::tensor(
                path,
                &name,
                BadEntry::PastData {
                    begin,
                    end,
                    data_len,
                },
            ));
        }
        if end > begin {
            ranges.push((begin, end, tensors.len()));
        }
        tensors.push((
            Tensor { name, dtype, shape },
            Place {
                shard,
                offset: data_start + begin,
            },
        ));
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        let (b0, e0, i0) = w[0];
        let (b1, _, i1) = w[1];
        if b1 < e0 {
            return Err(Error::tensor(
                path,
                &tensors[i1].0.name,
                BadEntry::Overlaps {
                    other: tensors[i0].0.name.clone(),
                    begin: b0,
                    end: e0,
                },
            ));
        }
    }
    Ok((
        Shard {
            path: path.to_path_buf(),
            file_len,
            metadata,
        },
        tensors,
    ))
}

fn parse_metadata(path: &Path, value: &Value) -> Result<BTreeMap<String, String>> {
    let Some(obj) = value.as_object() else {
        return Err(Error::checkpoint(path, Malformed::MetadataNotObject));
    };
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(Error::checkpoint(
                path,
                Malformed::MetadataNotString { key: k.clone() },
            )),
        })
        .collect()
}

fn parse_entry(path: &Path, name: &str, raw: &RawValue) -> Result<(DType, Vec<u64>, u64, u64)> {
    let bad = |problem: BadEntry| Error::tensor(path, name, problem);
    if let Ok(e) = serde_json::from_str::<RawEntry>(raw.get()) {
        let dtype = DType::from_safetensors(e.dtype).ok_or_else(|| {
            bad(BadEntry::UnknownDtype {
                name: e.dtype.to_string(),
            })
        })?;
        return Ok((dtype, e.shape, e.data_offsets[0], e.data_offsets[1]));
    }
    // Not the usual form: parse it loosely to say what is wrong with it.
    let value: Value =
        serde_json::from_str(raw.get()).map_err(|e| bad(BadEntry::NotJson(e.to_string())))?;
    let value = &value;
    let obj = value.as_object().ok_or_else(|| bad(BadEntry::NotObject))?;
    let dtype_name = obj
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(BadEntry::NoDtype))?;
    let dtype = DType::from_safetensors(dtype_name).ok_or_else(|| {
        bad(BadEntry::UnknownDtype {
            name: dtype_name.to_string(),
        })
    })?;
    let shape = obj
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(BadEntry::NoShape))?
        .iter()
        .map(|d| {
            d.as_u64()
                .ok_or_else(|| bad(BadEntry::BadDimension(d.to_string())))
        })
        .collect::<Result<Vec<u64>>>()?;
    let offsets = obj
        .get("data_offsets")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(BadEntry::NoOffsets))?;
    let [begin, end] = offsets.as_slice() else {
        return Err(bad(BadEntry::OffsetsNotTwo));
    };
    let offset = |v: &Value| {
        v.as_u64()
            .ok_or_else(|| bad(BadEntry::BadOffset(v.to_string())))
    };
    Ok((dtype, shape, offset(begin)?, offset(end)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names() {
        assert!(is_plain_file_name("model-00001-of-00002.safetensors"));
        assert!(!is_plain_file_name("../x.safetensors"));
        assert!(!is_plain_file_name("/etc/passwd"));
        assert!(!is_plain_file_name("a/b.safetensors"));
        assert!(!is_plain_file_name(".."));
        assert!(!is_plain_file_name(""));
    }

    /// Writes a file with the given header text and `data` bytes of data, and
    /// returns the error message of reading it (or "ok").
    fn read(header: &str, data: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read.safetensors");
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.resize(bytes.len() + data, 0);
        std::fs::write(&path, bytes).unwrap();
        let result = read_header(&path, 0);
        match result {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn well_formed_and_malformed_entries() {
        let ok = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert_eq!(read(ok, 8), "ok");
        let cases = [
            (
                r#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#,
                "no `dtype` string",
            ),
            (
                r#"{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#,
                "unknown dtype `F99`",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                "shape dimension -2",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#,
                "two entries",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                "needs 8 bytes",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                "run past the end",
            ),
            (r#"{"a":[1,2]}"#, "not an object"),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                "appears twice",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                "overlaps",
            ),
            (r#"{"__metadata__":{"format":3}}"#, "metadata"),
            ("[1,2]", "not a JSON object"),
        ];
        for (header, expected) in cases {
            let message = read(header, 8);
            assert!(
                message.contains(expected),
                "{header}: expected `{expected}` in `{message}`"
            );
        }
    }
}
