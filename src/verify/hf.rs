//! Reading a Hugging Face `config.json` for the models, in the current layout
//! (`rope_parameters`, `head_dim`) and the older one (`rope_theta` and
//! `rope_scaling` at the top level, no `head_dim`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{ConfigProblem, Error, Result};

/// A config file's top-level object, with typed getters that name the file
/// and key in their errors.
#[derive(Debug, Clone)]
pub struct HfConfig {
    pub path: PathBuf,
    pub root: Map<String, Value>,
}

impl HfConfig {
    pub fn load(path: &Path) -> Result<HfConfig> {
        Ok(HfConfig {
            path: path.to_path_buf(),
            root: crate::checkpoint::Config::load(path)?.root,
        })
    }

    /// `bad_config` for this file.
    pub(crate) fn bad(&self, problem: ConfigProblem) -> Error {
        Error::BadConfig {
            path: self.path.clone(),
            problem,
        }
    }

    /// `bad_config`: `key` holds `found` where it should hold `expected`.
    fn wrong(&self, key: &str, found: &Value, expected: &'static str) -> Error {
        self.bad(ConfigProblem::WrongKind {
            key: key.to_string(),
            found: found.to_string(),
            expected,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.root.get(key).filter(|v| !v.is_null())
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| {
            self.bad(ConfigProblem::MissingKey {
                key: key.to_string(),
            })
        })
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.wrong(key, v, "a non-negative integer")),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, v, "a number")),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.wrong(key, v, "true or false")),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.wrong(key, v, "a string")),
        }
    }

    /// RoPE settings: `rope_parameters` (current layout) or `rope_theta` plus
    /// `rope_scaling` at the top level (older layout).
    pub fn rope(&self) -> Result<Rope> {
        let (params, theta) = match self.get("rope_parameters") {
            Some(Value::Object(p)) => {
                let theta = p
                    .get("rope_theta")
                    .and_then(Value::as_f64)
                    .or(self.opt_f64("rope_theta")?)
                    .unwrap_or(10_000.0);
                (Some(p.clone()), theta)
            }
            Some(v) => return Err(self.wrong("rope_parameters", v, "an object")),
            None => {
                let theta = self.opt_f64("rope_theta")?.unwrap_or(10_000.0);
                match self.get("rope_scaling") {
                    Some(Value::Object(p)) => (Some(p.clone()), theta),
                    Some(v) => return Err(self.wrong("rope_scaling", v, "an object")),
                    None => (None, theta),
                }
            }
        };
        let Some(p) = params else {
            return Ok(Rope {
                theta,
                scaling: RopeScaling::None,
            });
        };
        let kind = p
            .get("rope_type")
            .or_else(|| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let num = |key: &str| -> Result<f64> {
            p.get(key).and_then(Value::as_f64).ok_or_else(|| {
                self.bad(ConfigProblem::RopeNeeds {
                    kind: kind.to_string(),
                    key: key.to_string(),
                })
            })
        };
        let scaling = match kind {
            "default" => RopeScaling::None,
            "linear" => RopeScaling::Linear {
                factor: num("factor")?,
            },
            "llama3" => RopeScaling::Llama3 {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            },
            other => {
                return Err(self.bad(ConfigProblem::UnsupportedRope {
                    kind: other.to_string(),
                }))
            }
        };
        Ok(Rope { theta, scaling })
    }
}

/// Rotary position embedding settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Rope {
    pub theta: f64,
    pub scaling: RopeScaling,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    Linear {
        factor: f64,
    },
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

impl Rope {
    /// The inverse frequencies of a head of `head_dim`, as transformers
    /// computes them (`_compute_default_rope_parameters`,
    /// `_compute_llama3_parameters`), in f64.
    pub fn inv_freq(&self, head_dim: usize) -> Vec<f64> {
        let base: Vec<f64> = (0..head_dim / 2)
            .map(|k| 1.0 / self.theta.powf((2 * k) as f64 / head_dim as f64))
            .collect();
        match self.scaling {
            RopeScaling::None => base,
            RopeScaling::Linear { factor } => base.iter().map(|f| f / factor).collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old,
            } => {
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        }
    }
}

/// The most layers a config may give: no model has a thousand; past this a
/// config would make the spec itself unbounded work.
pub const MAX_LAYERS: usize = 100_000;

pub fn check_layers(c: &HfConfig, key: &str, layers: usize) -> Result<()> {
    if layers > MAX_LAYERS {
        return Err(c.bad(ConfigProblem::TooManyLayers {
            key: key.to_string(),
            layers,
            limit: MAX_LAYERS,
        }));
    }
    Ok(())
}

/// Attention splits `dim` into `heads` heads of equal width.
pub fn check_heads(
    c: &HfConfig,
    dim_key: &str,
    dim: usize,
    heads_key: &str,
    heads: usize,
) -> Result<()> {
    if heads == 0 || !dim.is_multiple_of(heads) {
        return Err(c.bad(ConfigProblem::NotMultiple {
            key: dim_key.to_string(),
            value: dim,
            of_key: heads_key.to_string(),
            of: heads,
        }));
    }
    Ok(())
}
