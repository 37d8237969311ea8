//! A stored result as JSON, without knowing its Rust type: CBOR is self-describing, so the value
//! is read as a generic CBOR value and mapped to JSON (byte strings become arrays of numbers, typed
//! arrays (RFC 8746: a tagged byte string of integers or floats) arrays of their numbers, map keys
//! that are not text become their JSON text, other tags are dropped, non-finite floats are
//! `null`).

use ciborium::Value as Cbor;
use serde_json::Value as Json;

use super::record::{ResultMetadata, ResultRecord};
use super::typed_array::TypedValue;

/// The record in `bytes` with its value as JSON.
pub fn to_json(bytes: &[u8]) -> Result<(ResultMetadata, Json), String> {
    let record: ResultRecord<Cbor> =
        ciborium::from_reader(bytes).map_err(|e| format!("cannot read the stored result: {e}"))?;
    Ok((record.metadata, cbor_to_json(record.result)))
}

/// Maps a CBOR value to JSON.
pub fn cbor_to_json(value: Cbor) -> Json {
    match value {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            if let Ok(v) = i64::try_from(i) {
                Json::from(v)
            } else if let Ok(v) = u64::try_from(i) {
                Json::from(v)
            } else {
                Json::String(i.to_string())
            }
        }
        Cbor::Float(f) => serde_json::Number::from_f64(f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Cbor::Text(s) => Json::String(s),
        Cbor::Bytes(b) => Json::Array(b.into_iter().map(Json::from).collect()),
        Cbor::Array(items) => Json::Array(items.into_iter().map(cbor_to_json).collect()),
        Cbor::Map(entries) => Json::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(s) => s,
                        other => cbor_to_json(other).to_string(),
                    };
                    (key, cbor_to_json(v))
                })
                .collect(),
        ),
        Cbor::Tag(tag, inner) => match *inner {
            Cbor::Bytes(bytes) => typed_array(tag, &bytes)
                .unwrap_or_else(|| Json::Array(bytes.into_iter().map(Json::from).collect())),
            inner => cbor_to_json(inner),
        },
        _ => Json::Null,
    }
}

/// The numbers of a typed array as JSON, `None` when the bytes are not one (see
/// [`typed_array::values`](super::typed_array::values)).
fn typed_array(tag: u64, bytes: &[u8]) -> Option<Json> {
    let values = super::typed_array::values(tag, bytes).ok()?;
    Some(Json::Array(
        values
            .map(|v| match v {
                TypedValue::Int(i) => Json::from(i),
                TypedValue::UInt(u) => Json::from(u),
                TypedValue::Float(f) => {
                    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
                }
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn structs_maps_and_numbers() {
        #[derive(serde::Serialize)]
        struct Model {
            name: String,
            coef: Vec<f64>,
            counts: BTreeMap<u32, u64>,
            big: u64,
            nothing: Option<u8>,
        }
        let m = Model {
            name: "lr".into(),
            coef: vec![1.5, -2.0],
            counts: [(7, 3)].into(),
            big: u64::MAX,
            nothing: None,
        };
        let meta = crate::results::record::ResultMetadata {
            storage_key: "k".into(),
            cache_key: None,
            task_name: "t".into(),
            task_run_id: uuid::Uuid::nil(),
            task_run_name: "t-0".into(),
            flow_run_id: None,
            created: chrono::Utc::now(),
            expiration: None,
            type_name: "Model".into(),
            serializer: "cbor".into(),
        };
        let bytes = crate::results::record::encode(&meta, &m).unwrap();
        let (_, json) = to_json(&bytes).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "lr", "coef": [1.5, -2.0], "counts": {"7": 3},
                "big": u64::MAX, "nothing": null})
        );
    }

    #[test]
    fn typed_arrays_read_as_their_numbers() {
        let tagged = |tag: u64, bytes: Vec<u8>| Cbor::Tag(tag, Box::new(Cbor::Bytes(bytes)));
        let le = |values: &[f64]| values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let cases = [
            (
                tagged(86, le(&[1.5, -2.0, f64::NAN])),
                serde_json::json!([1.5, -2.0, null]),
            ),
            (
                tagged(82, 0.25f64.to_be_bytes().to_vec()),
                serde_json::json!([0.25]),
            ),
            (
                tagged(85, 3.5f32.to_le_bytes().to_vec()),
                serde_json::json!([3.5]),
            ),
            (
                tagged(
                    70,
                    [7u32, u32::MAX]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                ),
                serde_json::json!([7, u32::MAX]),
            ),
            (
                tagged(78, (-5i32).to_le_bytes().to_vec()),
                serde_json::json!([-5]),
            ),
            (
                tagged(73, (-300i16).to_be_bytes().to_vec()),
                serde_json::json!([-300]),
            ),
            (tagged(72, vec![0xff]), serde_json::json!([-1])),
            (tagged(64, vec![1, 255]), serde_json::json!([1, 255])),
            (
                tagged(79, i64::MIN.to_le_bytes().to_vec()),
                serde_json::json!([i64::MIN]),
            ),
            // Not typed arrays: the bytes, as any byte string.
            (tagged(86, vec![1, 2, 3]), serde_json::json!([1, 2, 3])),
            (tagged(84, vec![0, 60]), serde_json::json!([0, 60])),
            (tagged(24, vec![9]), serde_json::json!([9])),
            // Another tag's content is read as is.
            (
                Cbor::Tag(1, Box::new(Cbor::Integer(5.into()))),
                serde_json::json!(5),
            ),
        ];
        for (cbor, json) in cases {
            assert_eq!(cbor_to_json(cbor.clone()), json, "{cbor:?}");
        }
    }
}
