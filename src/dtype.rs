//! Element types: their names in `.wmap` files and safetensors headers, sizes,
//! and which conversions lose information.

use std::fmt;

/// An element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F8E4M3,
    F8E5M2,
    F16,
    BF16,
    F32,
    F64,
}

use DType::*;

/// Every dtype, in the order used for listings.
pub const ALL: [DType; 15] = [
    Bool, U8, I8, I16, U16, I32, U32, I64, U64, F8E4M3, F8E5M2, F16, BF16, F32, F64,
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
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.name() == name)
    }

    pub fn from_safetensors(name: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.safetensors_name() == name)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Bool | U8 | I8 | F8E4M3 | F8E5M2 => 1,
            I16 | U16 | F16 | BF16 => 2,
            I32 | U32 | F32 => 4,
            I64 | U64 | F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, F8E4M3 | F8E5M2 | F16 | BF16 | F32 | F64)
    }

    /// (exponent bits, mantissa bits) of a float dtype.
    fn float_format(self) -> Option<(u32, u32)> {
        Some(match self {
            F8E4M3 => (4, 3),
            F8E5M2 => (5, 2),
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
