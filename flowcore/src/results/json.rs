//! A stored result as JSON, without knowing its Rust type: CBOR is self-describing, so the value
//! is read as a generic CBOR value and mapped to JSON (byte strings become arrays of numbers, map
//! keys that are not text become their JSON text, tags are dropped, non-finite floats are `null`).

use ciborium::Value as Cbor;
use serde_json::Value as Json;

use super::record::{ResultMetadata, ResultRecord};

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
        Cbor::Tag(_, inner) => cbor_to_json(*inner),
        _ => Json::Null,
    }
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
}
