//! Verifying a conversion: the target model, built in burn from the converted
//! weights, runs the inputs of a reference file made by transformers and its
//! outputs are compared with the reference outputs.

pub(crate) mod bert;
pub(crate) mod gpt2;
pub(crate) mod hf;
pub(crate) mod layers;
pub(crate) mod llama;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{FloatCastAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::DType as BurnDType;

use crate::checkpoint::header::read_header;
use crate::checkpoint::Checkpoint;
use crate::dtype::DType;
use crate::error::{BadEntry, Error, Malformed, Result};
use hf::HfConfig;
use layers::Batch;

/// The models `wmap verify` can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// GPT-2 (`GPT2LMHeadModel`).
    Gpt2,
    /// BERT (`BertModel`).
    Bert,
    /// Llama (`LlamaForCausalLM`).
    Llama,
}

impl ModelKind {
    /// The kind a mapping's `target` names, if wmap builds it.
    pub fn from_name(name: &str) -> Option<ModelKind> {
        match name {
            "gpt2" => Some(ModelKind::Gpt2),
            "bert" => Some(ModelKind::Bert),
            "llama" => Some(ModelKind::Llama),
            _ => None,
        }
    }

    /// The `model_type`s of HF configs this model reads.
    pub fn model_types(self) -> &'static [&'static str] {
        match self {
            ModelKind::Gpt2 => &["gpt2"],
            ModelKind::Bert => &["bert"],
            ModelKind::Llama => &["llama", "mistral", "qwen2"],
        }
    }

    /// The name a mapping's `target` uses.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gpt2 => "gpt2",
            ModelKind::Bert => "bert",
            ModelKind::Llama => "llama",
        }
    }
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The CPU backend (ndarray), always built.
    Ndarray,
    /// The GPU backend (wgpu), with the `wgpu` feature.
    Wgpu,
}

impl Backend {
    /// The device to build models on.
    pub fn device(self) -> Result<Device> {
        match self {
            #[allow(deprecated)] // burn 0.22 marks ndarray deprecated in favour of flex
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            Backend::Wgpu => Err(Error::Usage(crate::error::Usage::NoWgpu)),
        }
    }
}

/// The converted weights: safetensors files and the config they go with.
#[derive(Debug, Clone)]
pub struct Weights {
    /// The safetensors files.
    pub files: Vec<PathBuf>,
    /// Its config.json.
    pub config: PathBuf,
}

impl Weights {
    /// `path` is a folder written by `wmap run` (weights plus the copied
    /// config.json) or a `.safetensors` file, which needs `config`.
    pub fn resolve(path: &Path, config: Option<&Path>) -> Result<Weights> {
        let checkpoint = Checkpoint::open(path)?;
        let config = match config {
            Some(c) => c.to_path_buf(),
            None => {
                let beside = checkpoint.dir.join("config.json");
                if !beside.is_file() {
                    return Err(Error::Usage(crate::error::Usage::NoConfig {
                        path: path.display().to_string(),
                    }));
                }
                beside
            }
        };
        Ok(Weights {
            files: checkpoint.shards.iter().map(|s| s.path.clone()).collect(),
            config,
        })
    }
}

/// A model built from converted weights.
#[allow(clippy::large_enum_variant)] // one per process; never moved in bulk
pub enum Model {
    /// A GPT-2.
    Gpt2(gpt2::Gpt2),
    /// A BERT.
    Bert(bert::Bert),
    /// A Llama.
    Llama(llama::Llama),
}

/// What a model produced for a batch.
pub struct Outputs {
    /// `logits` or `last_hidden_state`, flattened, with its name and shape.
    pub name: &'static str,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
    /// BERT's `pooler_output`.
    pub pooler: Option<Vec<f32>>,
}

impl Model {
    /// Builds the model from `config` and loads `weights` into it with no
    /// renaming; missing, unexpected and mis-shaped tensors are an error
    /// naming them. Floating weights of any dtype are computed in f32.
    pub fn load(kind: ModelKind, weights: &Weights, device: &Device) -> Result<Model> {
        let config = HfConfig::load(&weights.config)?;
        fits_weights(kind, &config, weights)?;
        match kind {
            ModelKind::Gpt2 => {
                let m = gpt2::Gpt2Config::from_hf(&config)?.init(device);
                Ok(Model::Gpt2(load_into(m, &weights.files)?))
            }
            ModelKind::Bert => {
                let m = bert::BertConfig::from_hf(&config)?.init(device);
                Ok(Model::Bert(load_into(m, &weights.files)?))
            }
            ModelKind::Llama => {
                let m = llama::LlamaConfig::from_hf(&config)?.init(device);
                Ok(Model::Llama(load_into(m, &weights.files)?))
            }
        }
    }

    /// Its number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Model::Gpt2(m) => m.num_params(),
            Model::Bert(m) => m.num_params(),
            Model::Llama(m) => m.num_params(),
        }
    }

    /// Runs the model on a batch.
    pub fn forward(&self, batch: &Batch) -> Result<Outputs> {
        let (name, main, pooler) = match self {
            Model::Gpt2(m) => ("logits", m.forward(batch), None),
            Model::Llama(m) => ("logits", m.forward(batch), None),
            Model::Bert(m) => {
                let (hidden, pooled) = m.forward(batch);
                ("last_hidden_state", hidden, Some(floats(pooled)?))
            }
        };
        Ok(Outputs {
            name,
            shape: main.dims().to_vec(),
            values: floats(main)?,
            pooler,
        })
    }
}

/// A model output's values as f32.
fn floats<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Failed(crate::error::Failure::ModelOutput(format!("{e:?}"))))
}

/// Loads safetensors files into `module` through burn-store, with no key
/// remapping, and insists that every parameter is found exactly once, with
/// its shape, and that no file holds a tensor the module lacks.
fn load_into<M: ModuleSnapshot + Module>(mut module: M, files: &[PathBuf]) -> Result<M> {
    let mut missing_everywhere: Option<BTreeSet<String>> = None;
    let mut unexpected: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut applied: BTreeMap<String, usize> = BTreeMap::new();
    for file in files {
        // Float weights of any dtype (bf16, f16, ...) are widened to f32 as they
        // are read: verification computes in f32, and ndarray has no bf16.
        let mut store = SafetensorsStore::from_file(file)
            .validate(false)
            .allow_partial(true)
            .with_from_adapter(FloatCastAdapter::to(BurnDType::F32));
        let result = module
            .load_from(&mut store)
            .map_err(|e| Error::checkpoint(file, Malformed::NotReadableByBurn(e.to_string())))?;
        for a in &result.applied {
            *applied.entry(a.clone()).or_default() += 1;
        }
        unexpected.extend(result.unused.iter().cloned());
        problems.extend(result.errors.iter().map(|e| e.to_string()));
        let missing: BTreeSet<String> = result.missing.iter().map(|(p, _)| p.clone()).collect();
        missing_everywhere = Some(match missing_everywhere {
            None => missing,
            Some(prev) => prev.intersection(&missing).cloned().collect(),
        });
    }
    for (name, n) in &applied {
        if *n > 1 {
            problems.push(format!("`{name}` is in {n} files"));
        }
    }
    let missing: Vec<String> = missing_everywhere.unwrap_or_default().into_iter().collect();
    if !missing.is_empty() || !unexpected.is_empty() || !problems.is_empty() {
        let mut lines = Vec::new();
        let list = |names: &[String]| {
            let shown: Vec<String> = names.iter().take(20).map(|n| format!("`{n}`")).collect();
            let more = names.len().saturating_sub(20);
            format!(
                "{}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        };
        if !missing.is_empty() {
            lines.push(format!("missing: {}", list(&missing)));
        }
        if !unexpected.is_empty() {
            unexpected.sort();
            lines.push(format!("unexpected: {}", list(&unexpected)));
        }
        for p in problems {
            lines.push(p);
        }
        return Err(Error::Failed(crate::error::Failure::WeightsDoNotFit(lines)));
    }
    Ok(module)
}

/// One tensor a model expects: its path in the module, shape and dtype name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    /// Its path in the module, dot-separated.
    pub name: String,
    /// Its shape.
    pub shape: Vec<u64>,
    /// Its dtype's name in the `.wmap` language.
    pub dtype: String,
}

/// The parameter names and shapes of burn's modules, written out from a
/// model's config instead of read off a built model, so that nothing of
/// the model's size is allocated. (A unit test below compares every model's
/// list with what burn builds.)
#[derive(Default)]
pub(crate) struct SpecWriter {
    out: Vec<Expected>,
}

impl SpecWriter {
    fn push(&mut self, name: String, shape: &[usize]) {
        self.out.push(Expected {
            name,
            shape: shape.iter().map(|&d| d as u64).collect(),
            dtype: "f32".into(),
        });
    }

    /// burn's `Linear`: `weight` `[in, out]`, `bias` `[out]`.
    pub(crate) fn linear(&mut self, path: &str, input: usize, output: usize, bias: bool) {
        self.push(format!("{path}.weight"), &[input, output]);
        if bias {
            self.push(format!("{path}.bias"), &[output]);
        }
    }

    /// burn's `Embedding`: `weight` `[n, dim]`.
    pub(crate) fn embedding(&mut self, path: &str, n: usize, dim: usize) {
        self.push(format!("{path}.weight"), &[n, dim]);
    }

    /// burn's `LayerNorm`: `gamma`, `beta` `[dim]`.
    pub(crate) fn layer_norm(&mut self, path: &str, dim: usize) {
        self.push(format!("{path}.gamma"), &[dim]);
        self.push(format!("{path}.beta"), &[dim]);
    }

    /// burn's `RmsNorm`: `gamma` `[dim]`.
    pub(crate) fn rms_norm(&mut self, path: &str, dim: usize) {
        self.push(format!("{path}.gamma"), &[dim]);
    }

    pub(crate) fn finish(mut self) -> Vec<Expected> {
        self.out.sort();
        self.out
    }
}

/// The most parameters a config may describe (2^40, about 1.1 trillion):
/// past it a config is a mistake or an attack, not a model.
pub const MAX_PARAMS: u128 = 1 << 40;

/// The number of parameters of `tensors`, refused past [`MAX_PARAMS`].
fn count_params(tensors: &[Expected], config: &Path) -> Result<u128> {
    let mut total: u128 = 0;
    for t in tensors {
        let n = t
            .shape
            .iter()
            .try_fold(1u128, |a, &d| a.checked_mul(d as u128))
            .unwrap_or(u128::MAX);
        total = total.saturating_add(n);
    }
    if total > MAX_PARAMS {
        return Err(Error::BadConfig {
            path: config.to_path_buf(),
            problem: crate::error::ConfigProblem::TooManyParams {
                total,
                limit: MAX_PARAMS,
            },
        });
    }
    Ok(total)
}

/// The tensors the model of `kind` built from `config` expects, sorted by
/// name. Nothing of the model's size is allocated: the list is written out
/// from the config (see [`SpecWriter`]).
pub fn spec(kind: ModelKind, config: &Path) -> Result<Vec<Expected>> {
    let hf = HfConfig::load(config)?;
    let tensors = expected(kind, &hf)?;
    count_params(&tensors, config)?;
    Ok(tensors)
}

/// The tensors the model of `kind` expects for the config `root` (the
/// output's config.json, as a run would write it), sorted by name.
pub fn expected_for(
    kind: ModelKind,
    root: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<Expected>> {
    let hf = HfConfig {
        path: PathBuf::from("config.json"),
        root: root.clone(),
    };
    let mut tensors = expected(kind, &hf)?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

fn expected(kind: ModelKind, config: &HfConfig) -> Result<Vec<Expected>> {
    Ok(match kind {
        ModelKind::Gpt2 => gpt2::Gpt2Config::from_hf(config)?.expected(),
        ModelKind::Bert => bert::BertConfig::from_hf(config)?.expected(),
        ModelKind::Llama => llama::LlamaConfig::from_hf(config)?.expected(),
    })
}

/// Before a model is built: the parameters its config describes must be no
/// more than the weights hold (with room for a tied head), so that a config
/// with absurd sizes is an error, not an allocation of all memory.
fn fits_weights(kind: ModelKind, config: &HfConfig, weights: &Weights) -> Result<()> {
    let tensors = expected(kind, config)?;
    let params = count_params(&tensors, &weights.config)?;
    let mut held: u128 = 0;
    for file in &weights.files {
        let (_, infos) = read_header(file, 0)?;
        held += infos.iter().map(|(t, _)| t.numel() as u128).sum::<u128>();
    }
    // Every parameter must come from the weights; the slack covers nothing
    // real and only keeps tiny models from being refused over rounding.
    if params > held + (1 << 20) {
        return Err(Error::BadConfig {
            path: weights.config.clone(),
            problem: crate::error::ConfigProblem::MoreThanWeights {
                params: params as u128,
                model: kind.name(),
                held,
            },
        });
    }
    Ok(())
}

/// A reference file made by transformers: inputs and expected outputs.
pub struct Reference {
    /// The inputs.
    pub batch: Batch,
    /// `logits` or `last_hidden_state`.
    pub output_name: String,
    /// The shape of the output.
    pub output_shape: Vec<usize>,
    /// The output, row-major.
    pub output: Vec<f32>,
    /// BERT's `pooler_output`, if the reference holds it.
    pub pooler: Option<Vec<f32>>,
}

impl Reference {
    /// Reads a reference file made by `scripts/fixtures/`.
    pub fn load(path: &Path) -> Result<Reference> {
        let (_, infos) = read_header(path, 0)?;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let find = |name: &str| infos.iter().find(|(t, _)| t.name == name);
        let ints = |name: &str| -> Result<Option<(Vec<usize>, Vec<i64>)>> {
            let Some((t, place)) = find(name) else {
                return Ok(None);
            };
            let data = place.data(t, &bytes);
            let values: Vec<i64> = match t.dtype {
                DType::I64 => data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                DType::I32 => data
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                    .collect(),
                other => {
                    return Err(Error::tensor(
                        path,
                        name,
                        BadEntry::NotIntegers { dtype: other },
                    ))
                }
            };
            Ok(Some((
                t.shape.iter().map(|&d| d as usize).collect(),
                values,
            )))
        };
        let floats = |name: &str| -> Result<Option<(Vec<usize>, Vec<f32>)>> {
            let Some((t, place)) = find(name) else {
                return Ok(None);
            };
            let data = place.data(t, &bytes);
            let mut out = vec![0u8; t.numel() as usize * 4];
            crate::exec::convert::cast(t.dtype, DType::F32, data, &mut out);
            let values = out
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            Ok(Some((
                t.shape.iter().map(|&d| d as usize).collect(),
                values,
            )))
        };
        let (shape, input_ids) = ints("input_ids")?.ok_or_else(|| {
            Error::checkpoint(path, Malformed::MissingTensor { name: "input_ids" })
        })?;
        let [batch, seq] = shape[..] else {
            return Err(Error::tensor(
                path,
                "input_ids",
                BadEntry::NotBatchBySequence {
                    shape: shape.clone(),
                },
            ));
        };
        let same_shape =
            |name: &str, t: Option<(Vec<usize>, Vec<i64>)>, default: i64| -> Result<Vec<i64>> {
                match t {
                    None => Ok(vec![default; batch * seq]),
                    Some((s, v)) if s == shape => Ok(v),
                    Some((s, _)) => Err(Error::tensor(
                        path,
                        name,
                        BadEntry::ShapeNotInputIds {
                            shape: s,
                            input_ids: shape.clone(),
                        },
                    )),
                }
            };
        let attention_mask = same_shape("attention_mask", ints("attention_mask")?, 1)?;
        let token_type_ids = same_shape("token_type_ids", ints("token_type_ids")?, 0)?;
        let (output_name, (output_shape, output)) = match floats("logits")? {
            Some(o) => ("logits".to_string(), o),
            None => match floats("last_hidden_state")? {
                Some(o) => ("last_hidden_state".to_string(), o),
                None => return Err(Error::checkpoint(path, Malformed::NoOutput)),
            },
        };
        Ok(Reference {
            batch: Batch {
                batch,
                seq,
                input_ids,
                attention_mask,
                token_type_ids,
            },
            output_name,
            output_shape,
            output,
            pooler: floats("pooler_output")?.map(|(_, v)| v),
        })
    }
}

/// How far a model's outputs are from the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The output compared (`logits`, `pooler_output`...).
    pub output: String,
    /// Its number of elements.
    pub elements: usize,
    /// The largest absolute difference.
    pub max_abs_diff: f64,
    /// The mean absolute difference.
    pub mean_abs_diff: f64,
    /// The cosine similarity of the two, flattened.
    pub cosine: f64,
    /// Share of positions whose arg-max over the last axis agrees.
    pub top1: f64,
    /// The number of positions (elements over the last axis).
    pub positions: usize,
}

impl Comparison {
    /// Compares `got` with `want`, whose last axis has `last_dim` elements.
    pub fn of(name: &str, got: &[f32], want: &[f32], last_dim: usize) -> Comparison {
        let mut max = 0f64;
        let mut sum = 0f64;
        let (mut dot, mut ng, mut nw) = (0f64, 0f64, 0f64);
        for (&g, &w) in got.iter().zip(want) {
            let (g, w) = (g as f64, w as f64);
            let d = (g - w).abs();
            // NaN must not hide: it compares false with everything.
            if d > max || d.is_nan() {
                max = if d.is_nan() { f64::NAN } else { d.max(max) };
            }
            sum += d;
            dot += g * w;
            ng += g * g;
            nw += w * w;
        }
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
                    if x > bv {
                        (i, x)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        };
        let positions = got.len() / last_dim.max(1);
        let agree = got
            .chunks(last_dim)
            .zip(want.chunks(last_dim))
            .filter(|(g, w)| argmax(g) == argmax(w))
            .count();
        Comparison {
            output: name.to_string(),
            elements: got.len(),
            max_abs_diff: max,
            mean_abs_diff: sum / got.len().max(1) as f64,
            cosine: dot / (ng.sqrt() * nw.sqrt()),
            top1: agree as f64 / positions.max(1) as f64,
            positions,
        }
    }

    /// Whether every element is within `tolerance` of the reference.
    pub fn within(&self, tolerance: f64) -> bool {
        // Written so that NaN fails.
        self.max_abs_diff <= tolerance
    }
}

/// Runs `model` on the reference inputs and compares; the main output first,
/// then BERT's pooler output when both have it.
pub fn compare(model: &Model, reference: &Reference) -> Result<Vec<Comparison>> {
    let out = model.forward(&reference.batch)?;
    if out.name != reference.output_name || out.shape != reference.output_shape {
        return Err(Error::Failed(crate::error::Failure::OutputMismatch {
            name: out.name.to_string(),
            shape: out.shape.clone(),
            reference: reference.output_name.clone(),
            reference_shape: reference.output_shape.clone(),
        }));
    }
    let last = *out.shape.last().unwrap_or(&1);
    let mut all = vec![Comparison::of(
        out.name,
        &out.values,
        &reference.output,
        last,
    )];
    if let (Some(got), Some(want)) = (&out.pooler, &reference.pooler) {
        if got.len() == want.len() {
            let last = got.len() / reference.batch.batch.max(1);
            all.push(Comparison::of("pooler_output", got, want, last));
        }
    }
    Ok(all)
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    /// What burn itself builds from `config`: the list [`spec`] must equal.
    fn built(kind: ModelKind, config: &HfConfig) -> Vec<Expected> {
        #[allow(deprecated)] // ndarray: see Backend::device
        let device = Device::ndarray();
        let tensors = match kind {
            ModelKind::Gpt2 => gpt2::Gpt2Config::from_hf(config)
                .unwrap()
                .init(&device)
                .collect(None, None, false),
            ModelKind::Bert => bert::BertConfig::from_hf(config)
                .unwrap()
                .init(&device)
                .collect(None, None, false),
            ModelKind::Llama => llama::LlamaConfig::from_hf(config)
                .unwrap()
                .init(&device)
                .collect(None, None, false),
        };
        let mut out: Vec<Expected> = tensors
            .into_iter()
            .map(|t| Expected {
                name: t.name.clone(),
                shape: t.shape.iter().map(|&d| d as u64).collect(),
                dtype: match t.dtype {
                    BurnDType::F32 => "f32".to_string(),
                    other => format!("{other:?}"),
                },
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_spec_written_from_a_config_is_what_burn_builds() {
        let cases = [
            (ModelKind::Gpt2, "gpt2"),
            (ModelKind::Bert, "bert"),
            (ModelKind::Llama, "llama_gqa"),
            (ModelKind::Llama, "llama_tied"),
            (ModelKind::Llama, "llama3_rope"),
            (ModelKind::Llama, "mistral"),
            (ModelKind::Llama, "qwen2"),
        ];
        for (kind, fixture) in cases {
            let path = std::path::PathBuf::from(format!(
                "{}/tests/fixtures/models/{fixture}/config.json",
                env!("CARGO_MANIFEST_DIR")
            ));
            let config = HfConfig::load(&path).unwrap();
            let from_burn = built(kind, &config);
            assert!(!from_burn.is_empty());
            assert_eq!(spec(kind, &path).unwrap(), from_burn, "{fixture}");
        }
    }
}
