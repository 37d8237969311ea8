//! Integer fields that accept any JSON number with an integral value (`5` and `5.0`), as JSON
//! Schema's `integer` does: `#[serde(deserialize_with = "integers::i64")]`.

use serde::{Deserialize, Deserializer};

/// A JSON number that must be an integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Big(u64),
    Float(f64),
}

fn integral<'de, D: Deserializer<'de>>(n: Number) -> Result<i64, D::Error> {
    use serde::de::Error;
    match n {
        Number::Int(v) => Ok(v),
        Number::Big(v) => {
            i64::try_from(v).map_err(|_| D::Error::custom(format!("{v} is too large")))
        }
        Number::Float(v) if v.fract() == 0.0 && v.abs() < 9.2e18 => Ok(v as i64),
        Number::Float(v) => Err(D::Error::custom(format!("{v} is not an integer"))),
    }
}

/// An `i64` from an integral JSON number.
pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    integral::<D>(Number::deserialize(d)?)
}

/// An optional `i64` from an integral JSON number (or `null`).
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => integral::<D>(n).map(Some),
    }
}

/// A `usize` from an integral, non-negative JSON number.
pub(crate) fn usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    use serde::de::Error;
    let v = integral::<D>(Number::deserialize(d)?)?;
    usize::try_from(v).map_err(|_| D::Error::custom(format!("{v} is negative")))
}

/// A `u64` from an integral, non-negative JSON number.
pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match Number::deserialize(d)? {
        Number::Big(v) => Ok(v),
        n => {
            let v = integral::<D>(n)?;
            u64::try_from(v).map_err(|_| D::Error::custom(format!("{v} is negative")))
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::i64")]
        a: i64,
        #[serde(default, deserialize_with = "super::opt_i64")]
        b: Option<i64>,
        #[serde(deserialize_with = "super::usize")]
        c: usize,
        #[serde(default, deserialize_with = "super::u64")]
        d: u64,
    }

    #[test]
    fn integral_floats_are_integers() {
        let t: T = serde_json::from_str(r#"{"a": 5.0, "b": -3.0, "c": 7}"#).unwrap();
        assert_eq!((t.a, t.b, t.c), (5, Some(-3), 7));
        let t: T = serde_json::from_str(r#"{"a": 5, "c": 0.0}"#).unwrap();
        assert_eq!((t.a, t.b, t.c), (5, None, 0));
        assert!(serde_json::from_str::<T>(r#"{"a": 5.5, "c": 1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": 5, "c": -1}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": "5", "c": 1}"#).is_err());
        let t: T = serde_json::from_str(r#"{"a": 1, "c": 1, "d": 60.0}"#).unwrap();
        assert_eq!(t.d, 60);
        assert!(serde_json::from_str::<T>(r#"{"a": 1, "c": 1, "d": -60}"#).is_err());
    }
}
