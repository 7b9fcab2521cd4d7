//! Errors that are not problems of a mapping: files that cannot be read,
//! checkpoints that lie about themselves, destinations that cannot be
//! written. They end a command with exit status 2.

use std::path::{Path, PathBuf};

/// An I/O or input-format error, with the file (and tensor) it concerns.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A file that cannot be read or written.
    #[error("{}: {error}", path.display())]
    #[diagnostic(code(wmap::io))]
    Io {
        /// The file.
        path: PathBuf,
        // Not a `source`: the message already says it, and miette would
        // print it a second time as the cause.
        /// What the operating system said.
        error: std::io::Error,
    },

    /// A checkpoint (or index, or reference file) that is not what it
    /// claims to be.
    #[error("{}: {problem}", path.display())]
    #[diagnostic(code(wmap::bad_checkpoint))]
    BadCheckpoint {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        problem: Malformed,
    },

    /// One tensor's entry in a header or an index that is wrong.
    #[error("{}: tensor `{tensor}`: {problem}", path.display())]
    #[diagnostic(code(wmap::bad_tensor))]
    BadTensor {
        /// The file whose header (or index) holds the entry.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// What is wrong with the entry.
        problem: BadEntry,
    },

    /// A config file that cannot be read as one.
    #[error("{}: {problem}", path.display())]
    #[diagnostic(code(wmap::bad_config))]
    BadConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        problem: ConfigProblem,
    },

    /// Arguments that do not make a command.
    #[error("{0}")]
    #[diagnostic(code(wmap::usage))]
    Usage(Usage),

    /// A destination that wmap will not write or replace, and why.
    #[error("{}: {problem}", path.display())]
    #[diagnostic(code(wmap::destination))]
    Destination {
        /// The destination as given.
        path: PathBuf,
        /// Why it is refused.
        problem: Refusal,
    },

    /// A command that could not finish.
    #[error("{0}")]
    #[diagnostic(code(wmap::failed))]
    Failed(Failure),

    /// Stopped by Ctrl-C or SIGTERM, after cleaning up.
    #[error("interrupted")]
    #[diagnostic(code(wmap::interrupted))]
    Interrupted,
}

/// What is wrong with a config file, for reading it or for building its model.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigProblem {
    /// Not JSON (the parser's message).
    NotJson(String),
    /// JSON, but not an object.
    NotObject,
    /// A key the model needs is absent.
    MissingKey {
        /// The key.
        key: String,
    },
    /// A key holding another kind of value (`expected`: "a non-negative integer").
    WrongKind {
        /// The key.
        key: String,
        /// What it holds, as JSON.
        found: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// A rope type that needs a number it lacks.
    RopeNeeds {
        /// The rope type.
        kind: String,
        /// The key it needs.
        key: String,
    },
    /// A rope type wmap does not build.
    UnsupportedRope {
        /// The rope type.
        kind: String,
    },
    /// An activation the model does not build (`supported` is the one it does).
    UnsupportedActivation {
        /// The activation named.
        act: String,
        /// The one the model builds.
        supported: &'static str,
    },
    /// More layers than wmap builds.
    TooManyLayers {
        /// The key.
        key: String,
        /// Its value.
        layers: usize,
        /// The most wmap builds.
        limit: usize,
    },
    /// A size that is not a multiple of a head count.
    NotMultiple {
        /// The size's key.
        key: String,
        /// Its value.
        value: usize,
        /// The count's key.
        of_key: String,
        /// Its value.
        of: usize,
    },
    /// A head dimension rotary embeddings cannot use.
    OddHeadDim {
        /// The head dimension.
        head_dim: usize,
    },
    /// A model past the parameter count wmap builds.
    TooManyParams {
        /// The parameters it describes.
        total: u128,
        /// The most wmap builds.
        limit: u128,
    },
    /// A model of more parameters than the weights hold.
    MoreThanWeights {
        /// The parameters it describes.
        params: u128,
        /// The model kind.
        model: &'static str,
        /// The parameters the weights hold.
        held: u128,
    },
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ConfigProblem::*;
        match self {
            NotJson(e) => write!(f, "not valid JSON: {e}"),
            NotObject => f.write_str("not a JSON object"),
            MissingKey { key } => write!(f, "the key `{key}` is missing"),
            WrongKind {
                key,
                found,
                expected,
            } => write!(f, "`{key}` is {found}, not {expected}"),
            RopeNeeds { kind, key } => write!(f, "rope type `{kind}` needs the number `{key}`"),
            UnsupportedRope { kind } => write!(
                f,
                "rope type `{kind}` is not supported (default, linear and llama3 are)"
            ),
            UnsupportedActivation { act, supported } => write!(
                f,
                "hidden_act `{act}` is not supported ({supported} is)"
            ),
            TooManyLayers { key, layers, limit } => write!(
                f,
                "`{key}` is {layers}; wmap builds models of at most {limit} layers"
            ),
            NotMultiple {
                key,
                value,
                of_key,
                of,
            } => write!(f, "{key} {value} is not a multiple of {of_key} {of}"),
            OddHeadDim { head_dim } => write!(
                f,
                "head_dim {head_dim} must be even, from 2 to 65536 (rotary embeddings pair its halves)"
            ),
            TooManyParams { total, limit } => write!(
                f,
                "it describes a model of {total} parameters, more than the {limit} wmap builds; check its sizes"
            ),
            MoreThanWeights {
                params,
                model,
                held,
            } => write!(
                f,
                "it describes {params} parameters for `{model}`, but the weights hold only {held}; check the config's sizes"
            ),
        }
    }
}

/// Arguments that do not make a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Usage {
    /// A `--tolerance` that is negative or NaN.
    Tolerance(f64),
    /// A spec file `wmap spec` did not write (the parser's message).
    NotASpec {
        /// The file.
        path: String,
        /// What the parser said.
        why: String,
    },
    /// A spec naming a dtype the language does not have.
    SpecDtype {
        /// The file.
        path: String,
        /// The tensor.
        tensor: String,
        /// The dtype named.
        dtype: String,
    },
    /// A `--hint` without `=`.
    Hint(String),
    /// A `--set` without `=`.
    Set(String),
    /// A `--set` key that is empty or has an empty part.
    SetKey(String),
    /// A mapping that `write`s files, run into a single-file destination.
    FilesNeedFolder {
        /// The files the mapping writes.
        files: Vec<String>,
    },
    /// A source config.json of another model type than the mapping's
    /// `target`, which a run would copy into the output as it is.
    ForeignConfig {
        /// The source config's `model_type`.
        found: String,
        /// The mapping's `target`.
        target: String,
    },
    /// `--verify` with a mapping that declares no `target`.
    VerifyNeedsTarget {
        /// The mapping.
        mapping: String,
    },
    /// `--verify` with a `target` wmap does not build.
    VerifyUnknownTarget {
        /// The target named.
        name: String,
    },
    /// `watch --verify` without a DST.
    WatchVerifyNeedsDst,
    /// `--backend wgpu` in a build without it.
    NoWgpu,
    /// No config beside the weights, and none given.
    NoConfig {
        /// The weights.
        path: String,
    },
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Usage::*;
        match self {
            Tolerance(t) => write!(f, "--tolerance {t} must be a non-negative number"),
            NotASpec { path, why } => write!(f, "{path}: not a spec from `wmap spec` ({why})"),
            SpecDtype {
                path,
                tensor,
                dtype,
            } => write!(f, "{path}: `{tensor}` has unknown dtype `{dtype}`"),
            Hint(h) => write!(f, "--hint expects FROM=TO, got `{h}`"),
            Set(a) => write!(f, "--set expects NAME=VALUE, got `{a}`"),
            SetKey(k) => write!(f, "--set: bad key `{k}`"),
            FilesNeedFolder { files } => write!(
                f,
                "the mapping writes {}, which a single .safetensors destination has no place for: give a folder",
                files.join(", ")
            ),
            ForeignConfig { found, target } => write!(
                f,
                "the source's config.json is for `model_type: {found}`, and this mapping's target is `{target}`: \
                 copied as it is, it would describe the wrong model; write the output's config with \
                 `write \"config.json\" from config {{ model_type = \"..\" }}`, or pass --no-extras"
            ),
            VerifyNeedsTarget { mapping } => write!(
                f,
                "--verify needs a `target gpt2|bert|llama` declaration in {mapping}"
            ),
            VerifyUnknownTarget { name } => write!(
                f,
                "--verify: the mapping's target `{name}` is not a model wmap can build (gpt2, bert, llama)"
            ),
            WatchVerifyNeedsDst => f.write_str("--verify needs a DST to convert into before verifying"),
            NoWgpu => f.write_str(
                "this wmap was built without the wgpu backend (cargo build --features wgpu)",
            ),
            NoConfig { path } => write!(
                f,
                "{path}: no config.json beside the weights; give one with --config"
            ),
        }
    }
}

/// Why a command could not finish. Those that name a file have said so
/// before this (the run stopped, nothing was written).
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A fault injected by `WMAP_FAULT` (tests only).
    Injected {
        /// Tensors written before it.
        after: u64,
    },
    /// An output header past what readers accept, with the source's metadata.
    HeaderTooLarge {
        /// The destination.
        dst: String,
        /// The output file.
        file: String,
        /// Its header length in bytes.
        len: u64,
        /// The most readers accept.
        limit: u64,
    },
    /// Sources truncated while read (their names).
    Truncated(Vec<String>),
    /// Sources replaced, rewritten or resized while read (their names).
    Changed(Vec<String>),
    /// JSON that could not be written (serde's message).
    Json(String),
    /// A signal handler that could not be installed (the system's message).
    Signals(String),
    /// No temporary folder could be made in `base`.
    TempDir {
        /// Where it was tried.
        base: String,
    },
    /// The thread pool could not start (its message).
    Threads(String),
    /// The file watcher could not start (its message).
    Watch(String),
    /// The file watcher stopped.
    WatcherStopped,
    /// `invert`'s reverse does not check against what it reads.
    ReverseDoesNotCheck {
        /// The forward mapping.
        mapping: String,
    },
    /// `invert`'s reverse does not give back the sources (the first differences).
    ReverseDiffers {
        /// The forward mapping.
        mapping: String,
        /// The first five differences, each `` `name` [shape] dtype is not ... ``.
        differences: Vec<String>,
    },
    /// A model's output could not be read (burn's message).
    ModelOutput(String),
    /// Weights that do not fit the model (one line each).
    WeightsDoNotFit(Vec<String>),
    /// A model output of another name or shape than the reference's.
    OutputMismatch {
        /// The output the model gave.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// The output the reference holds.
        reference: String,
        /// Its shape.
        reference_shape: Vec<usize>,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Failure::*;
        match self {
            Injected { after } => write!(f, "injected fault after {after} tensors"),
            HeaderTooLarge {
                dst,
                file,
                len,
                limit,
            } => write!(
                f,
                "{dst}: the header of `{file}` would take {len} bytes, more than the {limit} that safetensors readers accept (the source's metadata is copied into it); nothing was written"
            ),
            Truncated(files) => write!(
                f,
                "a source file was truncated while wmap read it ({}); the run stopped and nothing was written",
                files.join(", ")
            ),
            Changed(files) => write!(
                f,
                "a source file changed while wmap read it ({}: replaced, rewritten or resized); the output may mix old and new data, so nothing was written",
                files.join(", ")
            ),
            Json(e) => write!(f, "cannot write JSON: {e}"),
            Signals(e) => write!(f, "cannot install signal handler: {e}"),
            TempDir { base } => write!(f, "cannot create a temporary folder in {base}"),
            Threads(e) => write!(f, "cannot start threads: {e}"),
            Watch(e) => write!(f, "cannot watch files: {e}"),
            WatcherStopped => f.write_str("the file watcher stopped"),
            ReverseDoesNotCheck { mapping } => write!(
                f,
                "the reverse derived from {mapping} does not check against the tensors it writes (a bug in wmap invert); nothing written"
            ),
            ReverseDiffers {
                mapping,
                differences,
            } => write!(
                f,
                "the reverse derived from {mapping} does not give back the source tensors (a bug in wmap invert); nothing written: {}",
                differences.join("; ")
            ),
            ModelOutput(e) => write!(f, "cannot read the model's output: {e}"),
            WeightsDoNotFit(lines) => {
                write!(f, "the weights do not fit the model:\n  {}", lines.join("\n  "))
            }
            OutputMismatch {
                name,
                shape,
                reference,
                reference_shape,
            } => write!(
                f,
                "the model gives `{name}` {shape:?}, the reference holds `{reference}` {reference_shape:?}"
            ),
        }
    }
}

/// What is wrong with a checkpoint, an index or a reference file.
#[derive(Debug, Clone, PartialEq)]
pub enum Malformed {
    /// A folder with PyTorch or GGUF weights only (the first three names).
    OnlyOtherFormats {
        /// The names, as found.
        names: Vec<String>,
    },
    /// A folder with no weights wmap reads.
    NoWeights,
    /// A folder with several `.safetensors` files and no index.
    SeveralFiles {
        /// How many there are.
        count: usize,
    },
    /// A folder with several index files.
    SeveralIndexes {
        /// How many there are.
        count: usize,
    },
    /// An index that is not JSON (the parser's message).
    IndexNotJson(String),
    /// An index without its `weight_map`.
    NoWeightMap,
    /// An index naming a shard that is not there.
    ShardMissing {
        /// The shard as the index names it.
        shard: String,
    },
    /// A shard whose size changed after its header was read.
    ChangedSize,
    /// A file too short to hold a header length.
    TooShort {
        /// The file's length in bytes.
        len: u64,
    },
    /// A file of another format (`kind` names it).
    OtherFormat {
        /// What it is instead.
        kind: &'static str,
    },
    /// A header length past the end of the file.
    HeaderPastFile {
        /// The header length the file gives.
        claims: u64,
        /// The bytes the file has after the length.
        has: u64,
    },
    /// A header length past what readers accept.
    HeaderTooLarge {
        /// The header length the file gives.
        claims: u64,
        /// The largest header readers accept.
        limit: u64,
    },
    /// A header that is not a JSON object (the parser's message).
    HeaderNotJson(String),
    /// A `__metadata__` that is not valid JSON (the parser's message).
    MetadataNotJson(String),
    /// A `__metadata__` that is not an object.
    MetadataNotObject,
    /// A `__metadata__` value that is not a string.
    MetadataNotString {
        /// The metadata key.
        key: String,
    },
    /// A reference file burn-store cannot read (its message).
    NotReadableByBurn(String),
    /// A reference file without the tensor it must hold.
    MissingTensor {
        /// The name, as found.
        name: &'static str,
    },
    /// A reference file without the model's output.
    NoOutput,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Malformed::*;
        match self {
            OnlyOtherFormats { names } => {
                let names: Vec<String> = names
                    .iter()
                    .map(|n| format!("`{}`", crate::text::printable(n)))
                    .collect();
                write!(
                    f,
                    "no safetensors file in this folder, only {} (PyTorch or GGUF weights); wmap reads safetensors checkpoints",
                    names.join(", ")
                )
            }
            NoWeights => f.write_str(
                "no model.safetensors, *.safetensors.index.json or .safetensors file in this folder",
            ),
            SeveralFiles { count } => write!(
                f,
                "{count} .safetensors files and no index; name one file, or add model.safetensors.index.json"
            ),
            SeveralIndexes { count } => write!(f, "{count} index files; name the one to use"),
            IndexNotJson(e) => write!(f, "not valid JSON: {e}"),
            NoWeightMap => f.write_str("no `weight_map` object"),
            ShardMissing { shard } => write!(f, "shard `{shard}` is missing"),
            ChangedSize => f.write_str("the file changed size since its header was read"),
            TooShort { len } => write!(
                f,
                "{len} bytes is too short for a safetensors file (at least 8 bytes of header length)"
            ),
            OtherFormat { kind } => write!(
                f,
                "is {kind}, not a safetensors file; wmap reads safetensors checkpoints"
            ),
            HeaderPastFile { claims, has } => write!(
                f,
                "the header claims {claims} bytes, but the file has only {has} after the length"
            ),
            HeaderTooLarge { claims, limit } => write!(
                f,
                "the header claims {claims} bytes, more than the {limit} allowed"
            ),
            HeaderNotJson(e) => write!(f, "the header is not a JSON object: {e}"),
            MetadataNotJson(e) => write!(f, "the header's __metadata__ is not valid JSON: {e}"),
            MetadataNotObject => f.write_str("`__metadata__` is not an object"),
            MetadataNotString { key } => {
                write!(f, "`__metadata__` value for `{key}` is not a string")
            }
            NotReadableByBurn(e) => write!(f, "burn-store cannot read it: {e}"),
            MissingTensor { name } => write!(f, "no `{name}` tensor"),
            NoOutput => f.write_str("neither `logits` nor `last_hidden_state` is in it"),
        }
    }
}

/// What is wrong with one tensor's entry in a header or an index.
#[derive(Debug, Clone, PartialEq)]
pub enum BadEntry {
    /// An index whose shard name for it is not a string.
    ShardNotString,
    /// An index putting it in a shard outside the folder.
    ShardOutside {
        /// The shard as the index names it.
        shard: String,
    },
    /// An index putting it in another shard than the one holding it.
    Elsewhere {
        /// The shard the index names.
        index: String,
        /// The shard that holds it.
        found: String,
    },
    /// In a shard, but not in the index.
    NotInIndex {
        /// The shard as the index names it.
        shard: String,
    },
    /// In the index, but not in its shard.
    NotInShard {
        /// The shard as the index names it.
        shard: String,
    },
    /// In two shards (the other one's path).
    AlsoIn {
        /// The other one.
        other: String,
    },
    /// Twice in one header.
    Twice,
    /// Dimensions whose product passes 2^64.
    DimensionsOverflow,
    /// A byte size past 2^64.
    BytesOverflow,
    /// A packed dtype whose elements end inside a byte (the format stores
    /// whole bytes; the safetensors crate refuses such a tensor too).
    PartialByte {
        /// The dtype.
        dtype: crate::dtype::DType,
        /// Its element count.
        numel: u64,
    },
    /// `data_offsets` that end before they begin.
    OffsetsReversed {
        /// Where the data begins, in the data area.
        begin: u64,
        /// Where it ends.
        end: u64,
    },
    /// `data_offsets` holding another number of bytes than the shape needs.
    SizeMismatch {
        /// Its shape.
        shape: Vec<u64>,
        /// Its dtype.
        dtype: crate::dtype::DType,
        /// The bytes its shape and dtype need.
        needs: u64,
        /// Where the data begins, in the data area.
        begin: u64,
        /// Where it ends.
        end: u64,
    },
    /// `data_offsets` past the end of the data.
    PastData {
        /// Where the data begins, in the data area.
        begin: u64,
        /// Where it ends.
        end: u64,
        /// The data area's length in bytes.
        data_len: u64,
    },
    /// Data that overlaps another tensor's.
    Overlaps {
        /// The other one.
        other: String,
        /// Where the data begins, in the data area.
        begin: u64,
        /// Where it ends.
        end: u64,
    },
    /// A dtype name safetensors does not have.
    UnknownDtype {
        /// The name, as found.
        name: String,
    },
    /// An entry that is not JSON (the parser's message).
    NotJson(String),
    /// An entry that is not an object.
    NotObject,
    /// No `dtype` string.
    NoDtype,
    /// No `shape` list.
    NoShape,
    /// A dimension that is not a non-negative integer (as written).
    BadDimension(String),
    /// No `data_offsets` list.
    NoOffsets,
    /// `data_offsets` without exactly two entries.
    OffsetsNotTwo,
    /// An offset that is not a non-negative integer (as written).
    BadOffset(String),
    /// A reference tensor of a dtype the verifier does not read.
    NotIntegers {
        /// Its dtype.
        dtype: crate::dtype::DType,
    },
    /// A reference's `input_ids` that is not 2-D.
    NotBatchBySequence {
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A reference tensor whose shape is not `input_ids`'.
    ShapeNotInputIds {
        /// Its shape.
        shape: Vec<usize>,
        /// The shape of `input_ids`.
        input_ids: Vec<usize>,
    },
}

impl std::fmt::Display for BadEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use BadEntry::*;
        match self {
            ShardNotString => f.write_str("shard name is not a string"),
            ShardOutside { shard } => write!(f, "shard `{shard}` is outside the checkpoint folder"),
            Elsewhere { index, found } => write!(
                f,
                "the index puts it in `{index}`, but it is in `{found}`"
            ),
            NotInIndex { shard } => write!(f, "in shard `{shard}` but not in the index"),
            NotInShard { shard } => write!(f, "listed in the index but not in shard `{shard}`"),
            AlsoIn { other } => write!(f, "also in `{other}`"),
            Twice => f.write_str("appears twice in the header"),
            DimensionsOverflow => f.write_str("its dimensions multiply past 2^64"),
            BytesOverflow => f.write_str("its byte size overflows"),
            PartialByte { dtype, numel } => write!(
                f,
                "{numel} elements of {dtype} ({} bits each) end inside a byte",
                dtype.bits()
            ),
            OffsetsReversed { begin, end } => {
                write!(f, "data_offsets [{begin}, {end}] end before they begin")
            }
            SizeMismatch {
                shape,
                dtype,
                needs,
                begin,
                end,
            } => write!(
                f,
                "shape {shape:?} of {dtype} needs {needs} bytes, but data_offsets [{begin}, {end}] hold {}",
                end - begin
            ),
            PastData {
                begin,
                end,
                data_len,
            } => write!(
                f,
                "data_offsets [{begin}, {end}] run past the end of the data ({data_len} bytes)"
            ),
            Overlaps { other, begin, end } => {
                write!(f, "its data overlaps `{other}` (bytes {begin}..{end})")
            }
            UnknownDtype { name } => write!(f, "unknown dtype `{name}`"),
            NotJson(e) => write!(f, "its header entry is not valid JSON: {e}"),
            NotObject => f.write_str("its header entry is not an object"),
            NoDtype => f.write_str("no `dtype` string"),
            NoShape => f.write_str("no `shape` list"),
            BadDimension(d) => write!(f, "shape dimension {d} is not a non-negative integer"),
            NoOffsets => f.write_str("no `data_offsets` list"),
            OffsetsNotTwo => f.write_str("`data_offsets` must have two entries"),
            BadOffset(v) => write!(f, "data offset {v} is not a non-negative integer"),
            NotIntegers { dtype } => write!(f, "is {dtype}, not i64 or i32"),
            NotBatchBySequence { shape } => write!(f, "has shape {shape:?}, not [batch, seq]"),
            ShapeNotInputIds { shape, input_ids } => {
                write!(f, "has shape {shape:?}, but input_ids has {input_ids:?}")
            }
        }
    }
}

/// Why a destination (of `run`, `watch`, or an `-o` output) is refused.
/// `what` names an input of the command ("the source", "a source shard")
/// and `shown` the path it was given as.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A path that names no file or folder (`.`, `/`).
    NoName,
    /// The folder it would go in is missing, or no folder.
    NoParent,
    /// It is one of the inputs.
    IsInput {
        /// The input it is, as the command names it ("the source").
        what: String,
        /// That input's path, as given.
        shown: String,
    },
    /// It holds one of the inputs.
    HoldsInput {
        /// The input it is, as the command names it ("the source").
        what: String,
        /// That input's path, as given.
        shown: String,
    },
    /// It lies inside an input folder.
    InsideInput {
        /// The input it is, as the command names it ("the source").
        what: String,
        /// That input's path, as given.
        shown: String,
    },
    /// It is one of the inputs under another name (a hard link).
    InputByAnotherName {
        /// The input it is, as the command names it ("the source").
        what: String,
        /// That input's path, as given.
        shown: String,
    },
    /// A folder holding an input under another name.
    HoldsInputByAnotherName {
        /// The name, as found.
        name: String,
        /// The input it is, as the command names it ("the source").
        what: String,
        /// That input's path, as given.
        shown: String,
    },
    /// A symbolic link.
    Link,
    /// A device, FIFO or socket (`kind` says which).
    Special {
        /// What it is instead.
        kind: String,
    },
    /// It exists, and `--force` was not given.
    Exists,
    /// A file without wmap's marker in its header.
    NotWmapOutput,
    /// A folder holding files wmap did not write (the first five, and how many more).
    HoldsForeign {
        /// The names, as found.
        names: Vec<String>,
        /// How many more there are.
        more: usize,
    },
    /// A folder holding no wmap output at all.
    HoldsNoOutput,
    /// An `-o` output that is one of the inputs.
    OutputIsInput {
        /// The input it is, as the command names it ("the source").
        what: String,
        /// That input's path, as given.
        shown: String,
    },
    /// An `-o` output that is no regular file (`kind` says what it is).
    OutputNotAFile {
        /// What it is instead.
        kind: String,
    },
    /// An `-o` output that exists, without `--force`.
    OutputExists,
    /// A DST that `watch` did not write itself.
    NotThisWatchs,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Refusal::*;
        const FORCE: &str = "--force replaces only a previous wmap output or an empty folder";
        match self {
            NoName => f.write_str(
                "names no file or folder to write (give a new name, such as out/ or model.safetensors)",
            ),
            NoParent => {
                f.write_str("the destination's parent folder does not exist or is not a folder")
            }
            IsInput { what, shown } => write!(f, "is {what} ({shown})"),
            HoldsInput { what, shown } => {
                write!(f, "holds {what} ({shown}); writing here would replace it")
            }
            InsideInput { what, shown } => write!(f, "is inside {what} ({shown})"),
            InputByAnotherName { what, shown } => {
                write!(f, "is {what} ({shown}) under another name")
            }
            HoldsInputByAnotherName { name, what, shown } => {
                write!(f, "holds `{name}`, which is {what} ({shown}) under another name")
            }
            Link => f.write_str(
                "is a symbolic link; wmap replaces neither a link nor what it points to",
            ),
            Special { kind } => write!(f, "is {kind}, not a file wmap wrote"),
            Exists => f.write_str(
                "already exists (--force replaces a previous wmap output or an empty folder)",
            ),
            NotWmapOutput => write!(
                f,
                "was not written by wmap (its header has no `{}`); --force replaces only a previous wmap output",
                crate::exec::dest::MARKER
            ),
            HoldsForeign { names, more } => {
                let shown: Vec<String> = names
                    .iter()
                    .map(|n| format!("`{}`", crate::text::printable(n)))
                    .collect();
                let more = if *more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                write!(
                    f,
                    "holds {}{more}, which wmap did not write; {FORCE}",
                    shown.join(", ")
                )
            }
            HoldsNoOutput => write!(
                f,
                "holds no wmap output (no safetensors file with `{}`); {FORCE}",
                crate::exec::dest::MARKER
            ),
            OutputIsInput { what, shown } => write!(f, "is {what} ({shown}); choose another output"),
            OutputNotAFile { kind } => write!(f, "is {kind}, not a file"),
            OutputExists => f.write_str("already exists (--force replaces it)"),
            NotThisWatchs => f.write_str(
                "exists, and this watch did not write it; watch replaces only its own output (remove it or choose another DST)",
            ),
        }
    }
}

impl Error {
    /// `io` for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            error: source,
        }
    }

    /// `bad_checkpoint` for `path`.
    pub fn checkpoint(path: impl AsRef<Path>, problem: Malformed) -> Self {
        Error::BadCheckpoint {
            path: path.as_ref().to_path_buf(),
            problem,
        }
    }

    /// `bad_tensor`: the entry of `tensor` in `path`.
    pub fn tensor(path: impl AsRef<Path>, tensor: &str, problem: BadEntry) -> Self {
        Error::BadTensor {
            path: path.as_ref().to_path_buf(),
            tensor: tensor.to_string(),
            problem,
        }
    }
}

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
