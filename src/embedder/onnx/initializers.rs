//! The model's big constant tensors, read once from the ONNX file and handed to every
//! session (ONNX Runtime's `AddInitializer`: the session uses the tensor in place instead
//! of deserialising its own copy). For multilingual-e5-small that is the 250k-row word
//! embedding table, 92 MiB in int8: without this, each session keeps one.

use std::sync::Arc;

use ort::value::{DynValue, Tensor};
use prost::Message;
use prost::bytes::Bytes;

/// Tensors below this size stay inside each session: the sharing pays for the big ones.
const SHARED_FROM_BYTES: usize = 1 << 20;

// The few fields of onnx.proto read here (prost skips the others); tags and types as in
// https://github.com/onnx/onnx/blob/main/onnx/onnx.proto.
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "bytes", tag = "9")]
    raw_data: Bytes,
    /// 0: in `raw_data` (or a typed field); 1: in an external file.
    #[prost(int32, tag = "14")]
    data_location: i32,
}

/// `TensorProto.DataType` values handled here.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;

/// A big initializer of the model, as stored in the file.
pub struct Raw {
    pub name: String,
    dims: Vec<i64>,
    data_type: i32,
    bytes: Bytes,
}

/// The initializers of `onnx` worth sharing: stored in `raw_data`, of at least
/// [`SHARED_FROM_BYTES`], of a type handled here, their size matching their shape.
/// Anything else stays with the sessions as usual, and a file that does not parse shares
/// nothing (ONNX Runtime then reports what is wrong with it, better than this would).
pub fn big_ones(onnx: &Bytes) -> Result<Vec<Raw>, String> {
    let Ok(model) = ModelProto::decode(onnx.clone()) else {
        return Ok(Vec::new());
    };
    let initializers = model.graph.map(|g| g.initializer).unwrap_or_default();
    let mut big = Vec::new();
    for t in initializers {
        let width = match t.data_type {
            INT8 | UINT8 => 1,
            FLOAT => 4,
            _ => continue,
        };
        if t.data_location != 0 || t.raw_data.len() < SHARED_FROM_BYTES {
            continue;
        }
        let elements = t.dims.iter().try_fold(1usize, |n, &d| {
            usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
        });
        if elements.and_then(|n| n.checked_mul(width)) != Some(t.raw_data.len()) {
            return Err(format!(
                "initializer {}: shape {:?} does not match its {} bytes",
                t.name,
                t.dims,
                t.raw_data.len()
            ));
        }
        big.push(Raw {
            name: t.name,
            dims: t.dims,
            data_type: t.data_type,
            bytes: t.raw_data,
        });
    }
    Ok(big)
}

impl Raw {
    /// The tensor ONNX Runtime is given (a copy the sessions then share).
    pub fn value(&self) -> Result<Arc<DynValue>, String> {
        let fail = |e: ort::Error| format!("initializer {}: {e}", self.name);
        let shape = self.dims.clone();
        let raw = &self.bytes;
        // Little-endian, as ONNX stores every raw tensor.
        let value = match self.data_type {
            INT8 => Tensor::from_array((shape, raw.iter().map(|&b| b as i8).collect::<Vec<_>>()))
                .map_err(fail)?
                .into_dyn(),
            UINT8 => Tensor::from_array((shape, raw.to_vec()))
                .map_err(fail)?
                .into_dyn(),
            _ => Tensor::from_array((
                shape,
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect::<Vec<_>>(),
            ))
            .map_err(fail)?
            .into_dyn(),
        };
        Ok(Arc::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_with(initializers: Vec<TensorProto>) -> Bytes {
        Bytes::from(
            ModelProto {
                graph: Some(GraphProto {
                    initializer: initializers,
                }),
            }
            .encode_to_vec(),
        )
    }

    fn int8(name: &str, dims: Vec<i64>, fill: u8) -> TensorProto {
        let n = dims.iter().product::<i64>() as usize;
        TensorProto {
            dims,
            data_type: INT8,
            name: name.into(),
            raw_data: Bytes::from(vec![fill; n]),
            data_location: 0,
        }
    }

    #[test]
    fn only_the_big_raw_tensors_of_known_types_are_shared_with_their_shape() {
        let big = int8("table", vec![4096, 384], 0xFF);
        let small = int8("bias", vec![384], 1);
        let external = TensorProto {
            data_location: 1,
            ..int8("elsewhere", vec![4096, 384], 2)
        };
        let other_type = TensorProto {
            data_type: 7,
            ..int8("int64s", vec![512, 384], 3)
        };
        let shared = big_ones(&model_with(vec![big, small, external, other_type])).unwrap();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].name, "table");
        assert_eq!(shared[0].dims, vec![4096, 384]);
        assert_eq!(shared[0].bytes.len(), 4096 * 384);
        assert!(shared[0].bytes.iter().all(|&x| x == 0xFF));
    }

    #[test]
    fn a_shape_that_does_not_match_the_data_is_an_error_naming_the_tensor() {
        let mut wrong = int8("table", vec![4096, 384], 0);
        wrong.dims = vec![4096, 385];
        let err = big_ones(&model_with(vec![wrong])).err().unwrap();
        assert!(err.contains("table"), "{err}");
        let mut negative = int8("table", vec![4096, 384], 0);
        negative.dims = vec![-4096, -384];
        assert!(big_ones(&model_with(vec![negative])).is_err());
    }

    #[test]
    fn bytes_that_are_not_a_model_share_nothing() {
        assert!(
            big_ones(&Bytes::from_static(b"not a model"))
                .unwrap()
                .is_empty()
        );
    }
}
