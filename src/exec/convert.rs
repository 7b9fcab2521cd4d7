//! Element conversions for `cast`, `add` and `mul`, bit-exact with torch:
//! floats round to nearest-even (through the `half` crate for f16/bf16),
//! 8-bit floats follow the OCP FP8 formats as torch implements them
//! (`f8_e4m3` has no infinity: overflow saturates to ±448; `f8_e5m2`
//! overflows to infinity), float to integer truncates toward zero and saturates (NaN
//! gives 0), anything to bool is `x != 0`.

use half::{bf16, f16};

use crate::dtype::DType;

/// A decoded element: floats as f64 (exact for every float dtype), integers as i128.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    F(f64),
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
    use DType::*;
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
        F8E4M3 => Value::F(decode_f8(b[0], 4, 3, false)),
        F8E5M2 => Value::F(decode_f8(b[0], 5, 2, true)),
        F16 => Value::F(f16::from_le_bytes([b[0], b[1]]).to_f64()),
        BF16 => Value::F(bf16::from_le_bytes([b[0], b[1]]).to_f64()),
        F32 => Value::F(f32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as f64),
        F64 => Value::F(f64::from_le_bytes(b[..8].try_into().expect("8 bytes"))),
    }
}

/// Writes `v` as `dtype` into `out`; returns true when a finite value
/// became infinite or NaN (overflow).
fn encode(dtype: DType, v: Value, out: &mut [u8]) -> bool {
    use DType::*;
    let int = |v: Value| -> i128 {
        match v {
            Value::I(i) => i,
            Value::F(f) if f.is_nan() => 0,
            Value::F(f) => f.trunc().clamp(i128::MIN as f64, i128::MAX as f64) as i128,
        }
    };
    let wrap = |v: Value| -> i128 { int(v) };
    let float = |v: Value| -> f64 {
        match v {
            Value::F(f) => f,
            Value::I(i) => i as f64,
        }
    };
    let finite_in = match v {
        Value::F(f) => f.is_finite(),
        Value::I(_) => true,
    };
    match dtype {
        Bool => {
            out[0] = match v {
                Value::I(i) => (i != 0) as u8,
                Value::F(f) => (f != 0.0) as u8,
            }
        }
        U8 => out[0] = wrap(v) as u8,
        // Integers wrap (two's complement), as torch and numpy do.
        I8 => out[0] = wrap(v) as i8 as u8,
        I16 => out.copy_from_slice(&(wrap(v) as i16).to_le_bytes()),
        U16 => out.copy_from_slice(&(wrap(v) as u16).to_le_bytes()),
        I32 => out.copy_from_slice(&(wrap(v) as i32).to_le_bytes()),
        U32 => out.copy_from_slice(&(wrap(v) as u32).to_le_bytes()),
        I64 => out.copy_from_slice(&(wrap(v) as i64).to_le_bytes()),
        U64 => out.copy_from_slice(&(wrap(v) as u64).to_le_bytes()),
        F8E4M3 => {
            let (b, overflow) = encode_f8(float(v), 4, 3, false);
            out[0] = b;
            return overflow && finite_in;
        }
        F8E5M2 => {
            let (b, overflow) = encode_f8(float(v), 5, 2, true);
            out[0] = b;
            return overflow && finite_in;
        }
        F16 => {
            let h = f16::from_f64(float(v));
            out.copy_from_slice(&h.to_le_bytes());
            return finite_in && !h.is_finite();
        }
        BF16 => {
            let h = bf16::from_f64(float(v));
            out.copy_from_slice(&h.to_le_bytes());
            return finite_in && !h.is_finite();
        }
        F32 => {
            let f = float(v) as f32;
            out.copy_from_slice(&f.to_le_bytes());
            return finite_in && !f.is_finite();
        }
        F64 => out.copy_from_slice(&float(v).to_le_bytes()),
    }
    false
}

fn decode_f8(byte: u8, exp_bits: u32, man_bits: u32, ieee: bool) -> f64 {
    let sign = if byte & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp_mask = (1u8 << exp_bits) - 1;
    let e = (byte >> man_bits) & exp_mask;
    let m = byte & ((1u8 << man_bits) - 1);
    let bias = (1i32 << (exp_bits - 1)) - 1;
    if ieee && e == exp_mask {
        return if m == 0 {
            sign * f64::INFINITY
        } else {
            f64::NAN
        };
    }
    if !ieee && e == exp_mask && m == (1u8 << man_bits) - 1 {
        return f64::NAN;
    }
    let frac = m as f64 / (1u32 << man_bits) as f64;
    if e == 0 {
        sign * frac * 2f64.powi(1 - bias)
    } else {
        sign * (1.0 + frac) * 2f64.powi(e as i32 - bias)
    }
}

/// Rounds to nearest-even into an 8-bit float; returns (bits, overflowed).
fn encode_f8(x: f64, exp_bits: u32, man_bits: u32, ieee: bool) -> (u8, bool) {
    let sign: u8 = if x.is_sign_negative() { 0x80 } else { 0 };
    // Both formats encode NaN as S.1111.111 (e4m3) / S.11111.11 (e5m2).
    let nan = 0x7F;
    if x.is_nan() {
        return (nan, false);
    }
    let bias = (1i32 << (exp_bits - 1)) - 1;
    let exp_max_field = (1i32 << exp_bits) - 1;
    // Largest finite value's field values.
    let (max_e, max_m) = if ieee {
        (exp_max_field - 1, (1i32 << man_bits) - 1)
    } else {
        (exp_max_field, (1i32 << man_bits) - 2)
    };
    // e5m2 overflows to infinity; e4m3 (no infinity) saturates to ±448, as torch does.
    let overflow_bits = if ieee {
        sign | ((exp_max_field as u8) << man_bits)
    } else {
        sign | 0x7E
    };
    let a = x.abs();
    if a.is_infinite() {
        return (overflow_bits, false);
    }
    // Quantum at the smallest exponent (subnormal spacing).
    let min_exp = 1 - bias;
    let mut e = if a == 0.0 {
        min_exp
    } else {
        a.log2().floor() as i32
    };
    if e < min_exp {
        e = min_exp;
    }
    // Correct log2 rounding errors.
    while e > min_exp && a < 2f64.powi(e) {
        e -= 1;
    }
    while a >= 2f64.powi(e + 1) {
        e += 1;
    }
    let quantum = 2f64.powi(e - man_bits as i32);
    let q = a / quantum; // exact: powers of two
    let mut n = q.round_ties_even() as i64;
    // n counts quanta at exponent e; normalise if rounding carried over.
    let mut e_field;
    let m;
    if n >= (2i64 << man_bits) {
        n /= 2;
        e += 1;
    }
    if n < (1i64 << man_bits) {
        // Subnormal (only possible at min_exp).
        e_field = 0;
        m = n as i32;
    } else {
        e_field = e + bias;
        m = (n - (1i64 << man_bits)) as i32;
    }
    if e_field > max_e || (e_field == max_e && m > max_m) {
        return (overflow_bits, true);
    }
    if e_field < 0 {
        e_field = 0;
    }
    (sign | ((e_field as u8) << man_bits) | m as u8, false)
}

/// Converts a buffer of `from` elements into `to`; returns the number of
/// elements that overflowed to infinity (or NaN where there is no infinity).
pub fn cast(from: DType, to: DType, input: &[u8], out: &mut [u8]) -> u64 {
    let (fs, ts) = (from.size(), to.size());
    let mut overflow = 0;
    if from == DType::F32 && to == DType::BF16 {
        for (i, o) in input.chunks_exact(4).zip(out.chunks_exact_mut(2)) {
            let f = f32::from_le_bytes(i.try_into().expect("4 bytes"));
            let h = bf16::from_f32(f);
            overflow += (f.is_finite() && !h.is_finite()) as u64;
            o.copy_from_slice(&h.to_le_bytes());
        }
        return overflow;
    }
    if from == DType::BF16 && to == DType::F32 {
        for (i, o) in input.chunks_exact(2).zip(out.chunks_exact_mut(4)) {
            let f = bf16::from_le_bytes([i[0], i[1]]).to_f32();
            o.copy_from_slice(&f.to_le_bytes());
        }
        return 0;
    }
    for (i, o) in input.chunks_exact(fs).zip(out.chunks_exact_mut(ts)) {
        overflow += encode(to, decode(from, i), o) as u64;
    }
    overflow
}

/// `x + c` or `x * c` on a floating buffer, computed as torch does: in f32
/// for 16- and 8-bit floats and f32, in f64 for f64, rounded back.
pub fn scale(dtype: DType, input: &[u8], out: &mut [u8], add: f64, mul: f64) -> u64 {
    let size = dtype.size();
    let mut overflow = 0;
    if dtype == DType::F64 {
        for (i, o) in input.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
            let x = f64::from_le_bytes(i.try_into().expect("8 bytes"));
            let y = if mul != 1.0 { x * mul } else { x + add };
            o.copy_from_slice(&y.to_le_bytes());
        }
        return 0;
    }
    // torch's add converts the scalar to the tensor's dtype first; its mul
    // keeps the scalar's original value (both then compute in f32).
    let to_dtype = |c: f64| -> f32 {
        let mut buf = [0u8; 8];
        encode(dtype, Value::F(c), &mut buf[..size]);
        match decode(dtype, &buf[..size]) {
            Value::F(f) => f as f32,
            Value::I(i) => i as f32,
        }
    };
    let (add, mul) = (to_dtype(add), mul as f32);
    for (i, o) in input.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
        let x = match decode(dtype, i) {
            Value::F(f) => f as f32,
            Value::I(v) => v as f32,
        };
        // One op per node: either mul is 1 or add is 0, so this is one rounding.
        let y = if mul != 1.0 { x * mul } else { x + add };
        overflow += encode(dtype, Value::F(y as f64), o) as u64;
    }
    overflow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f8_e4m3_round_trips_every_value() {
        for b in 0..=255u8 {
            let v = decode_f8(b, 4, 3, false);
            if v.is_nan() {
                continue;
            }
            let (back, overflow) = encode_f8(v, 4, 3, false);
            assert!(!overflow);
            if v == 0.0 {
                assert_eq!(back & 0x7F, 0);
            } else {
                assert_eq!(back, b, "value {v}");
            }
        }
        assert_eq!(decode_f8(0x7E, 4, 3, false), 448.0);
        assert_eq!(encode_f8(1000.0, 4, 3, false), (0x7E, true));
        assert_eq!(encode_f8(-1000.0, 4, 3, false), (0xFE, true));
    }

    #[test]
    fn f8_e5m2_round_trips_every_value() {
        for b in 0..=255u8 {
            let v = decode_f8(b, 5, 2, true);
            if v.is_nan() || v.is_infinite() {
                continue;
            }
            let (back, _) = encode_f8(v, 5, 2, true);
            if v != 0.0 {
                assert_eq!(back, b, "value {v}");
            }
        }
        assert_eq!(decode_f8(0x7B, 5, 2, true), 57344.0);
        assert_eq!(encode_f8(1e6, 5, 2, true), (0x7C, true));
    }

    #[test]
    fn f32_to_bf16_rounds_to_nearest_even() {
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
        let x = 1.0f32 + 2f32.powi(-8);
        let mut out = [0u8; 2];
        cast(DType::F32, DType::BF16, &x.to_le_bytes(), &mut out);
        assert_eq!(bf16::from_le_bytes(out).to_f32(), 1.0);
    }
}
