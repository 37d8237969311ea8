//! Numeric columns of a persisted result as CBOR typed arrays (RFC 8746): one tagged byte string
//! of little-endian values, written and read in one piece instead of value by value (a processed
//! 1.37M-row month is ~4M numbers: 164 ms to encode one by one, a few ms as bytes). A
//! human-readable format (JSON) gets an array of numbers, and an array of numbers (a result
//! written before) is read too. flowcore's result view turns the typed arrays back into numbers.
//!
//! The binary form is written for CBOR (ciborium, what flowcore persists results with): another
//! binary format gets ciborium's tag wrapper, readable back by the same code but not by data it
//! wrote before as plain sequences.
//!
//! Used through `#[serde(with = "crate::typed_array")]` (a `Vec<f64>` or `Vec<u32>` field) and
//! `#[serde(with = "crate::typed_array::option")]` (an `Option` of one).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde::Deserialize;

use flowcore::results::typed_array::{self, TypedArrayError, TypedValue};

use crate::sparse::exact_i32;

/// A value a typed array can hold.
pub(crate) trait Element: Copy + Serialize + DeserializeOwned {
    /// What the values are, for errors.
    const NAME: &'static str;
    /// The narrowest typed array holding every value exactly: its tag and bytes.
    fn encode(values: &[Self]) -> (u64, Cow<'_, [u8]>);
    /// A value read from a typed array of integers, if it is one of these exactly.
    fn from_int(v: i128) -> Option<Self>;
    /// A value read from a typed array of floats, if it is one of these exactly.
    fn from_float(v: f64) -> Option<Self>;
}

/// Signed integer typed arrays, little-endian: 8, 16, 32 bits.
const SINT8: u64 = 72;
const SINT16_LE: u64 = 77;
const SINT32_LE: u64 = 78;
/// Unsigned integer typed arrays, little-endian: 8, 16, 32 bits.
const UINT8: u64 = 64;
const UINT16_LE: u64 = 69;
const UINT32_LE: u64 = 70;
/// 64-bit floats, little-endian.
const FLOAT64_LE: u64 = 86;

impl Element for f64 {
    const NAME: &'static str = "numbers";
    /// Integers (the notebook encoding's zones and passenger counts) as the narrowest signed
    /// integers that hold them, other columns as 64-bit floats.
    fn encode(values: &[f64]) -> (u64, Cow<'_, [u8]>) {
        let (mut lo, mut hi) = (0i32, 0i32);
        let integral = values.iter().all(|&v| {
            exact_i32(v)
                .map(|i| (lo, hi) = (lo.min(i), hi.max(i)))
                .is_some()
        });
        if !integral {
            return (FLOAT64_LE, le_bytes(values));
        }
        let fits = |bits: u32| lo >= -(1 << (bits - 1)) && hi < 1 << (bits - 1);
        if fits(8) {
            (SINT8, narrowed(values, |v| [v as i8 as u8]))
        } else if fits(16) {
            (SINT16_LE, narrowed(values, |v| (v as i16).to_le_bytes()))
        } else {
            (SINT32_LE, narrowed(values, |v| (v as i32).to_le_bytes()))
        }
    }
    fn from_int(v: i128) -> Option<f64> {
        let f = v as f64;
        (f as i128 == v).then_some(f)
    }
    fn from_float(v: f64) -> Option<f64> {
        Some(v)
    }
}

impl Element for u32 {
    const NAME: &'static str = "32-bit unsigned integers";
    /// The narrowest unsigned integers that hold every value.
    fn encode(values: &[u32]) -> (u64, Cow<'_, [u8]>) {
        let hi = values.iter().copied().max().unwrap_or(0);
        if hi <= u32::from(u8::MAX) {
            (UINT8, narrowed(values, |v| [v as u8]))
        } else if hi <= u32::from(u16::MAX) {
            (UINT16_LE, narrowed(values, |v| (v as u16).to_le_bytes()))
        } else {
            (UINT32_LE, le_bytes(values))
        }
    }
    fn from_int(v: i128) -> Option<u32> {
        u32::try_from(v).ok()
    }
    fn from_float(_: f64) -> Option<u32> {
        None
    }
}

/// Each value, narrowed to a smaller type that holds it, as that type's little-endian bytes.
fn narrowed<'a, T: Copy, const N: usize>(
    values: &[T],
    narrow: impl Fn(T) -> [u8; N],
) -> Cow<'a, [u8]> {
    Cow::Owned(values.iter().flat_map(|&v| narrow(v)).collect())
}

/// The values' little-endian bytes: the values themselves on a little-endian machine.
fn le_bytes<T: bytemuck::Pod + ToLe>(values: &[T]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(bytemuck::cast_slice(values))
    } else {
        let mut out = Vec::with_capacity(std::mem::size_of_val(values));
        for &v in values {
            v.push_le(&mut out);
        }
        Cow::Owned(out)
    }
}

/// Appends a value's little-endian bytes.
trait ToLe {
    fn push_le(self, out: &mut Vec<u8>);
}
impl ToLe for f64 {
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
impl ToLe for u32 {
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// The values of a typed array, each converted exactly, or what is wrong with it.
fn decode<T: Element>(tag: u64, bytes: &[u8]) -> Result<Vec<T>, String> {
    let values = typed_array::values(tag, bytes).map_err(|e| match e {
        TypedArrayError::NotTyped(tag) => format!("tag {tag} is not a typed array of {}", T::NAME),
        ragged => ragged.to_string(),
    })?;
    values
        .enumerate()
        .map(|(i, v)| {
            let value = match v {
                TypedValue::Int(v) => T::from_int(i128::from(v)),
                TypedValue::UInt(v) => T::from_int(i128::from(v)),
                TypedValue::Float(v) => T::from_float(v),
            };
            value.ok_or_else(|| {
                format!(
                    "value {i} of a typed array (tag {tag}) is not one of {}",
                    T::NAME
                )
            })
        })
        .collect()
}

/// A byte string.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Writes `values` as a tagged typed array (a sequence for a human-readable format).
pub(crate) fn serialize<T: Element, S: Serializer>(
    values: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        return serializer.collect_seq(values);
    }
    let (tag, bytes) = T::encode(values);
    ciborium::tag::Captured(Some(tag), Bytes(&bytes)).serialize(serializer)
}

/// Reads what [`serialize`] writes, or a sequence of numbers.
pub(crate) fn deserialize<'de, T: Element, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    if deserializer.is_human_readable() {
        return Vec::<T>::deserialize(deserializer);
    }
    let ciborium::tag::Captured(tag, content) = Deserialize::deserialize(deserializer)?;
    match (tag, content) {
        (_, Content::Values(values)) => Ok(values),
        (Some(tag), Content::Bytes(bytes)) => decode(tag, &bytes).map_err(de::Error::custom),
        (None, Content::Bytes(_)) => Err(de::Error::custom(format!(
            "expected a typed array of {}, found a byte string without a tag",
            T::NAME
        ))),
    }
}

/// A typed array's bytes, or the values of a sequence.
enum Content<T> {
    Bytes(Vec<u8>),
    Values(Vec<T>),
}

impl<'de, T: Element> Deserialize<'de> for Content<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor<T>(PhantomData<T>);

        impl<'de, T: Element> Visitor<'de> for ContentVisitor<T> {
            type Value = Content<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a typed array of {} or a sequence of them", T::NAME)
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                Ok(Content::Bytes(bytes.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Self::Value, E> {
                Ok(Content::Bytes(bytes))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(v) = seq.next_element()? {
                    values.push(v);
                }
                Ok(Content::Values(values))
            }
        }

        deserializer.deserialize_byte_buf(ContentVisitor(PhantomData))
    }
}

/// [`serialize`](super::typed_array::serialize) and [`deserialize`](super::typed_array::deserialize)
/// for an optional column.
pub(crate) mod option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Element;

    struct Column<'a, T>(&'a [T]);

    impl<T: Element> Serialize for Column<'_, T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, serializer)
        }
    }

    struct Owned<T>(Vec<T>);

    impl<'de, T: Element> Deserialize<'de> for Owned<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            super::deserialize(deserializer).map(Owned)
        }
    }

    /// Writes `Some(values)` as a typed array, `None` as null.
    pub(crate) fn serialize<T: Element, S: Serializer>(
        values: &Option<Vec<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        values.as_deref().map(Column).serialize(serializer)
    }

    /// Reads what [`serialize`] writes.
    pub(crate) fn deserialize<'de, T: Element, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<T>>, D::Error> {
        Ok(Option::<Owned<T>>::deserialize(deserializer)?.map(|o| o.0))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Columns {
        #[serde(with = "crate::typed_array")]
        floats: Vec<f64>,
        #[serde(with = "crate::typed_array")]
        codes: Vec<u32>,
        #[serde(with = "crate::typed_array::option")]
        target: Option<Vec<f64>>,
        #[serde(with = "crate::typed_array::option")]
        none: Option<Vec<f64>>,
    }

    /// The same fields written value by value (how results were written before).
    #[derive(Serialize)]
    struct Plain {
        floats: Vec<f64>,
        codes: Vec<u32>,
        target: Option<Vec<f64>>,
        none: Option<Vec<f64>>,
    }

    fn cbor<T: Serialize>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    fn sample() -> Columns {
        Columns {
            floats: vec![1.5, -0.0, f64::NAN, f64::INFINITY, 1e300],
            codes: vec![0, 7, u32::MAX],
            target: Some(vec![2.25; 3]),
            none: None,
        }
    }

    fn same(a: &Columns, b: &Columns) {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.floats), bits(&b.floats));
        assert_eq!(a.codes, b.codes);
        assert_eq!(a.target, b.target);
        assert_eq!(a.none, b.none);
    }

    #[test]
    fn columns_round_trip_as_tagged_little_endian_bytes() {
        let value = sample();
        let bytes = cbor(&value);
        let generic: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
        let fields = generic.as_map().unwrap();
        let floats = &fields[0].1;
        assert_eq!(floats.as_tag().map(|(tag, _)| tag), Some(86));
        let payload = floats.as_tag().unwrap().1.as_bytes().unwrap();
        assert_eq!(payload.len(), 5 * 8);
        assert_eq!(&payload[..8], &1.5f64.to_le_bytes());
        assert_eq!(fields[1].1.as_tag().map(|(tag, _)| tag), Some(70));
        let back: Columns = ciborium::from_reader(&bytes[..]).unwrap();
        same(&back, &value);
    }

    #[test]
    fn results_written_value_by_value_and_json_still_read() {
        let value = sample();
        let plain = Plain {
            floats: value.floats.clone(),
            codes: value.codes.clone(),
            target: value.target.clone(),
            none: None,
        };
        let back: Columns = ciborium::from_reader(&cbor(&plain)[..]).unwrap();
        same(&back, &value);

        let json = Columns {
            floats: vec![1.5, 2.0],
            ..sample()
        };
        let text = serde_json::to_string(&json).unwrap();
        assert!(
            text.starts_with(r#"{"floats":[1.5,2.0],"codes":[0,7,4294967295]"#),
            "{text}"
        );
        let back: Columns = serde_json::from_str(&text).unwrap();
        same(&back, &json);
    }

    #[test]
    fn integers_are_kept_in_the_narrowest_array_that_holds_them() {
        let tag = |v: &Columns| -> Vec<u64> {
            let generic: ciborium::Value = ciborium::from_reader(&cbor(v)[..]).unwrap();
            generic.as_map().unwrap()[..2]
                .iter()
                .map(|(_, v)| v.as_tag().unwrap().0)
                .collect()
        };
        let cases: [(Vec<f64>, Vec<u32>, [u64; 2]); 5] = [
            (vec![-1.0, 0.0, 127.0], vec![0, 255], [72, 64]),
            (vec![-129.0, 265.0], vec![256, 65535], [77, 69]),
            (vec![40000.0, -2147483648.0], vec![65536], [78, 70]),
            (vec![2147483648.0], vec![], [86, 64]),
            (vec![1.0, -0.0], vec![1], [86, 64]),
        ];
        for (floats, codes, tags) in cases {
            let value = Columns {
                floats,
                codes,
                target: None,
                none: None,
            };
            assert_eq!(tag(&value), tags, "{value:?}");
            let back: Columns = ciborium::from_reader(&cbor(&value)[..]).unwrap();
            same(&back, &value);
        }
    }

    #[test]
    fn a_wrong_array_or_a_ragged_byte_string_is_refused() {
        let tagged = |tag: u64, bytes: Vec<u8>| {
            ciborium::Value::Tag(tag, Box::new(ciborium::Value::Bytes(bytes)))
        };
        let with = |field: &str, value: ciborium::Value| {
            let mut fields = vec![
                ("floats".into(), tagged(86, vec![])),
                ("codes".into(), tagged(64, vec![])),
                ("target".into(), ciborium::Value::Null),
                ("none".into(), ciborium::Value::Null),
            ];
            for f in fields.iter_mut() {
                if f.0 == ciborium::Value::Text(field.into()) {
                    f.1 = value.clone();
                }
            }
            ciborium::from_reader::<Columns, _>(&cbor(&ciborium::Value::Map(fields))[..])
                .unwrap_err()
                .to_string()
        };
        let err = with("codes", tagged(86, 1.0f64.to_le_bytes().to_vec()));
        assert!(
            err.contains("value 0 of a typed array (tag 86) is not one of 32-bit"),
            "{err}"
        );
        let err = with("codes", tagged(72, vec![0xff]));
        assert!(err.contains("is not one of 32-bit"), "{err}");
        let err = with("floats", tagged(86, vec![0; 12]));
        assert!(err.contains("holds 12 bytes, not a multiple of 8"), "{err}");
        let err = with("floats", tagged(84, vec![0; 2]));
        assert!(
            err.contains("tag 84 is not a typed array of numbers"),
            "{err}"
        );
        let err = with("floats", ciborium::Value::Bytes(vec![0; 8]));
        assert!(err.contains("without a tag"), "{err}");
    }
}
