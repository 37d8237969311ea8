//! The stored form of a result: one CBOR record (a compact, self-describing format, so a reader
//! that does not know the value's Rust type — the server — can still show it as JSON) holding
//! the result's metadata and the value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The name of the serializer results are written with.
pub const SERIALIZER: &str = "cbor";

/// What is known of a stored result besides its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultMetadata {
    /// The key it is stored under in the result storage.
    pub storage_key: String,
    /// The cache key it answers, as the task's cache policy computed it (`None`: persisted, not
    /// cached).
    #[serde(default)]
    pub cache_key: Option<String>,
    /// The task that produced it.
    pub task_name: String,
    /// The task run that produced it.
    pub task_run_id: Uuid,
    /// That task run's name.
    pub task_run_name: String,
    /// The flow run that task run belonged to.
    #[serde(default)]
    pub flow_run_id: Option<Uuid>,
    /// When it was written.
    pub created: DateTime<Utc>,
    /// After this instant the result no longer answers its cache key (`cache_expiration`).
    #[serde(default)]
    pub expiration: Option<DateTime<Utc>>,
    /// The Rust type of the value.
    pub type_name: String,
    /// How the value is encoded ([`SERIALIZER`]).
    pub serializer: String,
}

impl ResultMetadata {
    /// Whether the result has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration.is_some_and(|e| e <= now)
    }
}

/// A stored result: metadata and value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultRecord<V> {
    /// What is known of it.
    pub metadata: ResultMetadata,
    /// The value.
    pub result: V,
}

/// Encodes a record of `value`.
pub fn encode<T: Serialize>(metadata: &ResultMetadata, value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode_into(metadata, value, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Encodes a record of `value` into `out` as it goes (a large value is never held encoded in
/// memory): what [`ResultStorage::write_with`](crate::results::ResultStorage::write_with) is given.
pub fn encode_into<T: Serialize>(
    metadata: &ResultMetadata,
    value: &T,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Borrowed<'a, T> {
        metadata: &'a ResultMetadata,
        result: &'a T,
    }
    let record = Borrowed {
        metadata,
        result: value,
    };
    ciborium::into_writer(&record, out).map_err(|e| match e {
        ciborium::ser::Error::Io(e) => e,
        ciborium::ser::Error::Value(e) => {
            std::io::Error::other(format!("cannot serialize the result: {e}"))
        }
    })
}

/// Decodes a record whose value is a `T`.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<ResultRecord<T>, String> {
    ciborium::from_reader(bytes).map_err(|e| format!("cannot read the stored result: {e}"))
}

/// Decodes only a record's metadata (the value is skipped, not built).
pub fn decode_metadata(bytes: &[u8]) -> Result<ResultMetadata, String> {
    decode::<serde::de::IgnoredAny>(bytes).map(|r| r.metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> ResultMetadata {
        ResultMetadata {
            storage_key: "k".into(),
            cache_key: Some("ck".into()),
            task_name: "t".into(),
            task_run_id: Uuid::now_v7(),
            task_run_name: "t-0".into(),
            flow_run_id: None,
            created: Utc::now(),
            expiration: None,
            type_name: "alloc::vec::Vec<u32>".into(),
            serializer: SERIALIZER.into(),
        }
    }

    #[test]
    fn round_trip() {
        let m = metadata();
        let bytes = encode(&m, &vec![1u32, 2, 3]).unwrap();
        let back: ResultRecord<Vec<u32>> = decode(&bytes).unwrap();
        assert_eq!(back.result, vec![1, 2, 3]);
        assert_eq!(back.metadata, m);
        assert_eq!(decode_metadata(&bytes).unwrap(), m);
        let mut streamed = Vec::new();
        encode_into(&m, &vec![1u32, 2, 3], &mut streamed).unwrap();
        assert_eq!(streamed, bytes);
        assert!(decode::<String>(&bytes).is_err());
    }

    #[test]
    fn expiry() {
        let mut m = metadata();
        assert!(!m.is_expired(Utc::now()));
        m.expiration = Some(Utc::now() - chrono::Duration::seconds(1));
        assert!(m.is_expired(Utc::now()));
    }
}
