//! CBOR typed arrays (RFC 8746): a byte string of fixed-size numbers behind a tag (64–87). A result
//! may hold its large numeric columns this way; [`values`] reads one back, for the result view
//! ([`json`](super::json)) and for a type's own deserializer.

use std::fmt;

/// One number of a typed array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TypedValue {
    /// From a signed integer array.
    Int(i64),
    /// From an unsigned integer array.
    UInt(u64),
    /// From a 32- or 64-bit float array.
    Float(f64),
}

/// Why bytes are not a typed array this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedArrayError {
    /// The tag is not one of RFC 8746's typed arrays, or is one of 16- or 128-bit floats, or the
    /// reserved 76.
    NotTyped(u64),
    /// The byte string is not a whole number of `size`-byte values.
    Ragged {
        /// Bytes per value.
        size: usize,
        /// Bytes in the string.
        len: usize,
    },
}

impl fmt::Display for TypedArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedArrayError::NotTyped(tag) => write!(f, "tag {tag} is not a typed array"),
            TypedArrayError::Ragged { size, len } => write!(
                f,
                "a typed array of {size}-byte values holds {len} bytes, not a multiple of {size}"
            ),
        }
    }
}

impl std::error::Error for TypedArrayError {}

/// The values of the typed array `bytes` tagged `tag` (`0b010_f_s_e_ll`: float, signed,
/// little-endian, length), in order.
///
/// ```
/// use flowcore::results::typed_array::{values, TypedValue};
/// let bytes: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
/// let read: Vec<TypedValue> = values(86, &bytes)?.collect();
/// assert_eq!(read, [TypedValue::Float(1.5), TypedValue::Float(-2.0)]);
/// assert_eq!(values(72, &[0xff])?.next(), Some(TypedValue::Int(-1)));
/// # Ok::<(), flowcore::results::typed_array::TypedArrayError>(())
/// ```
pub fn values(
    tag: u64,
    bytes: &[u8],
) -> Result<impl ExactSizeIterator<Item = TypedValue> + '_, TypedArrayError> {
    let (float, signed, little) = (tag & 0x10 != 0, tag & 0x08 != 0, tag & 0x04 != 0);
    let ll = (tag & 0x03) as u32;
    let size = match (float, ll) {
        (false, _) => 1usize << ll,
        (true, 1) => 4,
        (true, 2) => 8,
        _ => 0,
    };
    let reserved = !float && signed && little && size == 1; // tag 76
    if !(64..=87).contains(&tag) || size == 0 || reserved {
        return Err(TypedArrayError::NotTyped(tag));
    }
    if !bytes.len().is_multiple_of(size) {
        return Err(TypedArrayError::Ragged {
            size,
            len: bytes.len(),
        });
    }
    Ok(bytes.chunks_exact(size).map(move |chunk| {
        let mut raw = [0u8; 8];
        let bits = if little {
            raw[..size].copy_from_slice(chunk);
            u64::from_le_bytes(raw)
        } else {
            raw[8 - size..].copy_from_slice(chunk);
            u64::from_be_bytes(raw)
        };
        match (float, size) {
            (true, 4) => TypedValue::Float(f64::from(f32::from_bits(bits as u32))),
            (true, _) => TypedValue::Float(f64::from_bits(bits)),
            (false, _) if signed => {
                // Sign-extend the `size`-byte value.
                let shift = 64 - 8 * size as u32;
                TypedValue::Int(((bits << shift) as i64) >> shift)
            }
            (false, _) => TypedValue::UInt(bits),
        }
    }))
}
