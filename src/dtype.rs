//! Element types: their names in `.wmap` files and safetensors headers, sizes,
//! and which conversions lose information.

use std::fmt;

/// An element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// `bool`: one byte per element, any nonzero byte is true.
    Bool,
    /// `u8`: unsigned 8-bit integer.
    U8,
    /// `i8`: signed 8-bit integer.
    I8,
    /// `i16`: signed 16-bit integer.
    I16,
    /// `u16`: unsigned 16-bit integer.
    U16,
    /// `i32`: signed 32-bit integer.
    I32,
    /// `u32`: unsigned 32-bit integer.
    U32,
    /// `i64`: signed 64-bit integer.
    I64,
    /// `u64`: unsigned 64-bit integer.
    U64,
    /// `f8_e4m3`: 8-bit float, 4 exponent and 3 mantissa bits, no infinities.
    F8E4M3,
    /// `f8_e5m2`: 8-bit float, 5 exponent and 2 mantissa bits, with infinities.
    F8E5M2,
    /// `f16`: IEEE half precision.
    F16,
    /// `bf16`: bfloat16, 8 exponent and 7 mantissa bits.
    BF16,
    /// `f32`: IEEE single precision.
    F32,
    /// `f64`: IEEE double precision.
    F64,
    /// `f4`: FP4 E2M1 (OCP microscaling), two values per byte, the first in
    /// the low nibble. Read and cast from; wmap writes it only as copied.
    F4,
    /// `f6_e2m3`: FP6 E2M3 (OCP microscaling), four values in three bytes.
    F6E2M3,
    /// `f6_e3m2`: FP6 E3M2 (OCP microscaling), four values in three bytes.
    F6E3M2,
    /// `f8_e8m0`: an 8-bit power of two, 2^(byte - 127), 0xFF NaN: the
    /// scales of MX formats and of `ue8m0` FP8 checkpoints.
    F8E8M0,
    /// `f8_e4m3fnuz`: E4M3 with bias 8, no infinities, one NaN (0x80), no -0.
    F8E4M3FNUZ,
    /// `f8_e5m2fnuz`: E5M2 with bias 16, no infinities, one NaN (0x80), no -0.
    F8E5M2FNUZ,
    /// `c64`: complex, two f32 (real, imaginary); copied and moved, no values.
    C64,
}

use half::{bf16, f16};
use DType::*;

/// Every dtype, in the order used for listings.
pub const ALL: [DType; 22] = [
    Bool, U8, I8, I16, U16, I32, U32, I64, U64, F4, F6E2M3, F6E3M2, F8E4M3, F8E5M2, F8E8M0,
    F8E4M3FNUZ, F8E5M2FNUZ, F16, BF16, F32, F64, C64,
];

impl DType {
    /// The name used in `.wmap` files and in `wmap plan` output.
    pub fn name(self) -> &'static str {
        match self {
            Bool => "bool",
            U8 => "u8",
            I8 => "i8",
            I16 => "i16",
            U16 => "u16",
            I32 => "i32",
            U32 => "u32",
            I64 => "i64",
            U64 => "u64",
            F8E4M3 => "f8_e4m3",
            F8E5M2 => "f8_e5m2",
            F16 => "f16",
            BF16 => "bf16",
            F32 => "f32",
            F64 => "f64",
            F4 => "f4",
            F6E2M3 => "f6_e2m3",
            F6E3M2 => "f6_e3m2",
            F8E8M0 => "f8_e8m0",
            F8E4M3FNUZ => "f8_e4m3fnuz",
            F8E5M2FNUZ => "f8_e5m2fnuz",
            C64 => "c64",
        }
    }

    /// The name in a safetensors header.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            Bool => "BOOL",
            U8 => "U8",
            I8 => "I8",
            I16 => "I16",
            U16 => "U16",
            I32 => "I32",
            U32 => "U32",
            I64 => "I64",
            U64 => "U64",
            F8E4M3 => "F8_E4M3",
            F8E5M2 => "F8_E5M2",
            F16 => "F16",
            BF16 => "BF16",
            F32 => "F32",
            F64 => "F64",
            F4 => "F4",
            F6E2M3 => "F6_E2M3",
            F6E3M2 => "F6_E3M2",
            F8E8M0 => "F8_E8M0",
            F8E4M3FNUZ => "F8_E4M3FNUZ",
            F8E5M2FNUZ => "F8_E5M2FNUZ",
            C64 => "C64",
        }
    }

    /// The dtype of a `.wmap` name (`bf16`); `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.name() == name)
    }

    /// The dtype of a safetensors header name (`BF16`); `None` for an unknown name.
    pub fn from_safetensors(name: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.safetensors_name() == name)
    }

    /// Bits per element.
    pub fn bits(self) -> u32 {
        match self {
            F4 => 4,
            F6E2M3 | F6E3M2 => 6,
            Bool | U8 | I8 | F8E4M3 | F8E5M2 | F8E8M0 | F8E4M3FNUZ | F8E5M2FNUZ => 8,
            I16 | U16 | F16 | BF16 => 16,
            I32 | U32 | F32 => 32,
            I64 | U64 | F64 | C64 => 64,
        }
    }

    /// Bytes per element, for the dtypes of a byte or more; a packed dtype
    /// ([`Self::is_packed`]) has no whole bytes per element, and every
    /// per-element step refuses it before this is asked (1 then).
    pub fn size(self) -> usize {
        (self.bits() / 8).max(1) as usize
    }

    /// Bytes of `numel` elements (packed dtypes fill their last byte), or
    /// `None` past `u64`.
    pub fn nbytes(self, numel: u64) -> Option<u64> {
        let bits = numel.checked_mul(self.bits() as u64)?;
        Some(bits.div_ceil(8))
    }

    /// Whether several elements share a byte (`f4`, `f6_*`): such a tensor
    /// is copied, reshaped and cast from, but no op moves its elements.
    pub fn is_packed(self) -> bool {
        self.bits() < 8
    }

    /// Whether wmap computes values of this dtype (casts into it, `add`,
    /// `neg`, fills). The others are read, copied, moved and cast from:
    /// the microscaling formats, FNUZ and complex.
    pub fn is_encodable(self) -> bool {
        !matches!(
            self,
            F4 | F6E2M3 | F6E3M2 | F8E8M0 | F8E4M3FNUZ | F8E5M2FNUZ | C64
        )
    }

    /// Whether this is a floating-point dtype (complex is not).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            F8E4M3
                | F8E5M2
                | F16
                | BF16
                | F32
                | F64
                | F4
                | F6E2M3
                | F6E3M2
                | F8E8M0
                | F8E4M3FNUZ
                | F8E5M2FNUZ
        )
    }

    /// (exponent bits, mantissa bits) of a float dtype, for deciding which
    /// conversions are exact. The formats with another bias count as having
    /// one exponent bit more (their range reaches further down), `f8_e8m0`
    /// as 8 exponent bits and no mantissa.
    fn float_format(self) -> Option<(u32, u32)> {
        Some(match self {
            F4 => (2, 1),
            F6E2M3 => (2, 3),
            F6E3M2 => (3, 2),
            F8E4M3 => (4, 3),
            F8E5M2 => (5, 2),
            F8E8M0 => (8, 0),
            F8E4M3FNUZ => (5, 3),
            F8E5M2FNUZ => (6, 2),
            F16 => (5, 10),
            BF16 => (8, 7),
            F32 => (8, 23),
            F64 => (11, 52),
            _ => return None,
        })
    }

    /// (signed, value bits) of an integer dtype; bool counts as 1 unsigned bit.
    fn int_format(self) -> Option<(bool, u32)> {
        Some(match self {
            Bool => (false, 1),
            U8 => (false, 8),
            I8 => (true, 7),
            I16 => (true, 15),
            U16 => (false, 16),
            I32 => (true, 31),
            U32 => (false, 32),
            I64 => (true, 63),
            U64 => (false, 64),
            _ => return None,
        })
    }

    /// Whether every value of `self` is exactly representable in `to`.
    pub fn converts_losslessly_to(self, to: DType) -> bool {
        if self == to {
            return true;
        }
        // Complex has no real counterpart; nothing is written in a dtype
        // wmap does not encode.
        if self == C64 || !to.is_encodable() {
            return false;
        }
        match (self.float_format(), to.float_format()) {
            (Some((e1, m1)), Some((e2, m2))) => e1 <= e2 && m1 <= m2,
            (Some(_), None) => false,
            (None, Some((_, m))) => {
                let (_, bits) = self.int_format().expect("not a float");
                bits <= m + 1
            }
            (None, None) => {
                let (s1, b1) = self.int_format().expect("int");
                let (s2, b2) = to.int_format().expect("int");
                // A signed source needs a signed destination (bool/unsigned fit either).
                (!s1 || s2 || self == Bool) && b1 <= b2
            }
        }
    }

    /// The dtype that `concat`/`stack` of mixed inputs produce, following
    /// torch's promotion: the smallest float that holds both floats, a float
    /// over any integer, the wider integer otherwise.
    pub fn promote(self, other: DType) -> DType {
        if self == other {
            return self;
        }
        match (self.is_float(), other.is_float()) {
            (true, false) => self,
            (false, true) => other,
            (true, true) => {
                if other.converts_losslessly_to(self) {
                    self
                } else if self.converts_losslessly_to(other) {
                    other
                } else {
                    // Neither holds the other (f16 and bf16, e4m3 and e5m2).
                    [F16, BF16, F32, F64]
                        .into_iter()
                        .find(|d| {
                            self.converts_losslessly_to(*d) && other.converts_losslessly_to(*d)
                        })
                        .unwrap_or(F64)
                }
            }
            (false, false) => {
                if other.converts_losslessly_to(self) {
                    self
                } else if self.converts_losslessly_to(other) {
                    other
                } else {
                    [I16, I32, I64]
                        .into_iter()
                        .find(|d| {
                            self.converts_losslessly_to(*d) && other.converts_losslessly_to(*d)
                        })
                        .unwrap_or(I64)
                }
            }
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded element: floats as f64 (exact for every float dtype), integers as i128.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// An element of a float dtype.
    F(f64),
    /// An element of an integer dtype or `bool` (0 or 1).
    I(i128),
}

impl Value {
    /// As f64 (integers beyond 2^53 round).
    pub fn to_f64(self) -> f64 {
        match self {
            Value::F(f) => f,
            Value::I(i) => i as f64,
        }
    }
}

/// One element of `dtype` from its little-endian bytes, exactly.
pub fn decode(dtype: DType, b: &[u8]) -> Value {
    match dtype {
        Bool => Value::I((b[0] != 0) as i128),
        U8 => Value::I(b[0] as i128),
        I8 => Value::I(b[0] as i8 as i128),
        I16 => Value::I(i16::from_le_bytes([b[0], b[1]]) as i128),
        U16 => Value::I(u16::from_le_bytes([b[0], b[1]]) as i128),
        I32 => Value::I(i32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as i128),
        U32 => Value::I(u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as i128),
        I64 => Value::I(i64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as i128),
        U64 => Value::I(u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as i128),
        F8E4M3 => Value::F(f32::from_bits(E4M3[b[0] as usize]) as f64),
        F8E5M2 => Value::F(f32::from_bits(E5M2[b[0] as usize]) as f64),
        F16 => Value::F(f16::from_le_bytes([b[0], b[1]]).to_f64()),
        BF16 => Value::F(bf16::from_le_bytes([b[0], b[1]]).to_f64()),
        F32 => Value::F(f32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as f64),
        F64 => Value::F(f64::from_le_bytes(b[..8].try_into().expect("8 bytes"))),
        F8E8M0 => Value::F(e8m0_to_f32(b[0]) as f64),
        F8E4M3FNUZ => Value::F(f32::from_bits(E4M3FNUZ[b[0] as usize]) as f64),
        F8E5M2FNUZ => Value::F(f32::from_bits(E5M2FNUZ[b[0] as usize]) as f64),
        // Packed and complex elements are unpacked by `unpack_f32` first.
        F4 | F6E2M3 | F6E3M2 | C64 => Value::F(f64::NAN),
    }
}

/// `f8_e8m0`: 2^(byte - 127), 0xFF NaN (exact in f32: 2^-127 is subnormal).
pub(crate) fn e8m0_to_f32(b: u8) -> f32 {
    match b {
        0xFF => f32::NAN,
        0 => f32::from_bits(0x0040_0000),
        _ => f32::from_bits((b as u32) << 23),
    }
}

/// The f32 bits of every `f8_e4m3fnuz` value.
const E4M3FNUZ: [u32; 256] = fnuz_table(3, 8);
/// The f32 bits of every `f8_e5m2fnuz` value.
const E5M2FNUZ: [u32; 256] = fnuz_table(2, 16);

/// FNUZ: the IEEE-like layout without infinities and negative zero; 0x80,
/// the pattern of -0, is the one NaN.
const fn fnuz_table(man: u32, bias: i32) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = if b == 0x80 {
            0x7FC0_0000
        } else {
            // As an IEEE-like format whose top exponent is an ordinary one.
            f8_to_f32_bits(b as u8, man, bias, false)
        };
        b += 1;
    }
    // f8_to_f32_bits(ieee = false) makes S.1111.111 a NaN: in FNUZ it is a number.
    let top = ((1u32 << (7 - man)) - 1) << man | ((1 << man) - 1);
    let mut sign = 0;
    while sign < 2 {
        let byte = (sign << 7) as u32 | top;
        let e = ((1i32 << (7 - man)) - 1) - bias + 127;
        let m = ((1u32 << man) - 1) << (23 - man);
        table[byte as usize] = ((sign as u32) << 31) | ((e as u32) << 23) | m;
        sign += 1;
    }
    table
}

/// The values of a packed (`f4`, `f6_*`) buffer of `numel` elements as f32,
/// exactly: f4 two per byte, low nibble first; f6 four per three bytes,
/// the first in the lowest bits (the OCP bit order safetensors uses).
pub(crate) fn unpack_f32(dtype: DType, bytes: &[u8], numel: usize) -> Vec<f32> {
    let bits = dtype.bits() as usize;
    let (exp, man, bias) = match dtype {
        F4 => (2u32, 1u32, 1i32),
        F6E2M3 => (2, 3, 1),
        F6E3M2 => (3, 2, 3),
        _ => return Vec::new(),
    };
    (0..numel)
        .map(|i| {
            let bit = i * bits;
            let mut raw = 0u32;
            for k in 0..bits {
                let at = bit + k;
                let byte = bytes.get(at / 8).copied().unwrap_or(0);
                raw |= (((byte >> (at % 8)) & 1) as u32) << k;
            }
            small_float(raw, exp, man, bias)
        })
        .collect()
}

/// A sign-exponent-mantissa value without infinities or NaN (the MX
/// element formats), exactly as f32.
fn small_float(raw: u32, exp: u32, man: u32, bias: i32) -> f32 {
    let sign = if raw >> (exp + man) & 1 == 1 {
        -1.0
    } else {
        1.0
    };
    let e = ((raw >> man) & ((1 << exp) - 1)) as i32;
    let m = (raw & ((1 << man) - 1)) as f32;
    let scale = (1u32 << man) as f32;
    let magnitude = if e == 0 {
        m / scale * 2f32.powi(1 - bias)
    } else {
        (1.0 + m / scale) * 2f32.powi(e - bias)
    };
    sign * magnitude
}

/// The f32 bits of every `f8_e4m3` value, indexed by its byte.
const E4M3: [u32; 256] = f8_table(3, 7, false);
/// The f32 bits of every `f8_e5m2` value.
const E5M2: [u32; 256] = f8_table(2, 15, true);

const fn f8_table(man: u32, bias: i32, ieee: bool) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = f8_to_f32_bits(b as u8, man, bias, ieee);
        b += 1;
    }
    table
}

/// An 8-bit float with `man` mantissa bits and exponent bias `bias`, as f32
/// bits; `ieee` formats have infinities (e5m2), the others only one NaN per
/// sign (e4m3: S.1111.111).
const fn f8_to_f32_bits(byte: u8, man: u32, bias: i32, ieee: bool) -> u32 {
    let sign = ((byte & 0x80) as u32) << 24;
    let e = ((byte & 0x7F) >> man) as i32;
    let m = byte as u32 & ((1 << man) - 1);
    let e_all = (1 << (7 - man)) - 1;
    if ieee && e == e_all {
        return sign | if m == 0 { 0x7F80_0000 } else { 0x7FC0_0000 };
    }
    if !ieee && e == e_all && m == (1 << man) - 1 {
        return sign | 0x7FC0_0000;
    }
    if e == 0 {
        if m == 0 {
            return sign;
        }
        // Subnormal: m * 2^(1 - bias - man); normalise it for f32.
        let (mut m, mut e) = (m, 1 - bias);
        while m & (1 << man) == 0 {
            m <<= 1;
            e -= 1;
        }
        let m = m & ((1 << man) - 1);
        return sign | (((e + 127) as u32) << 23) | (m << (23 - man));
    }
    sign | (((e - bias + 127) as u32) << 23) | (m << (23 - man))
}

/// An `f8_e4m3` (`ieee` false) or `f8_e5m2` (`ieee` true) byte as f32.
pub(crate) fn f8_to_f32(b: u8, ieee: bool) -> f32 {
    f32::from_bits(if ieee { E5M2 } else { E4M3 }[b as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
            assert_eq!(DType::from_safetensors(d.safetensors_name()), Some(d));
        }
    }

    #[test]
    fn widening_and_narrowing() {
        assert!(BF16.converts_losslessly_to(F32));
        assert!(F16.converts_losslessly_to(F32));
        assert!(!F32.converts_losslessly_to(BF16));
        assert!(!F16.converts_losslessly_to(BF16));
        assert!(!BF16.converts_losslessly_to(F16));
        assert!(U8.converts_losslessly_to(F16));
        assert!(I16.converts_losslessly_to(F32));
        assert!(!I32.converts_losslessly_to(F32));
        assert!(!I64.converts_losslessly_to(F64));
        assert!(!F32.converts_losslessly_to(I64));
        assert!(!I8.converts_losslessly_to(U16));
        assert!(U8.converts_losslessly_to(I16));
        assert!(Bool.converts_losslessly_to(I8));
    }

    #[test]
    fn promotion_matches_torch() {
        assert_eq!(F16.promote(BF16), F32);
        assert_eq!(F16.promote(F32), F32);
        assert_eq!(I64.promote(F32), F32);
        assert_eq!(U8.promote(I8), I16);
        assert_eq!(F8E4M3.promote(F8E5M2), F16);
    }
}
