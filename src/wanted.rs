//! The wanted output layout of a mapping, from a file: a checkpoint (its
//! header's names, shapes and dtypes) or a spec written by `wmap spec`
//! (names and shapes). Read for `--target PATH`, `target "PATH"` and
//! `wmap infer`.

use std::path::Path;

use serde::Deserialize;

use crate::check::Wanted;
use crate::checkpoint::{Checkpoint, Tensor};
use crate::dtype::DType;
use crate::error::Error;

#[derive(Deserialize)]
struct Spec {
    tensors: Vec<SpecTensor>,
}

#[derive(Deserialize)]
struct SpecTensor {
    name: String,
    shape: Vec<u64>,
    dtype: String,
}

/// The tensors of a target checkpoint, or of a spec file.
pub fn tensors(path: &Path) -> Result<Vec<Tensor>, Error> {
    if is_spec(path) {
        let text = crate::fsio::read_text(path, crate::fsio::MAX_INDEX, "a spec")?;
        let spec: Spec = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(crate::error::Usage::NotASpec {
                path: path.display().to_string(),
                why: e.to_string(),
            })
        })?;
        return spec
            .tensors
            .into_iter()
            .map(|t| {
                let dtype = DType::from_name(&t.dtype).ok_or_else(|| {
                    Error::Usage(crate::error::Usage::SpecDtype {
                        path: path.display().to_string(),
                        tensor: t.name.clone(),
                        dtype: t.dtype.clone(),
                    })
                })?;
                Ok(Tensor {
                    name: t.name,
                    shape: t.shape,
                    dtype,
                })
            })
            .collect();
    }
    Ok(Checkpoint::open(path)?.tensors)
}

/// The tensors wanted: with their dtypes from a checkpoint, without from a
/// spec (whose dtypes are the model's defaults, converted on load).
pub fn load(path: &Path) -> Result<Vec<Wanted>, Error> {
    let spec = is_spec(path);
    Ok(tensors(path)?
        .into_iter()
        .map(|t| (t.name, t.shape, (!spec).then_some(t.dtype)))
        .collect())
}

fn is_spec(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "json")
}
