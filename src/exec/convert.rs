//! Element conversions for `cast`, `add` and `mul`, bit-identical with
//! torch 2.15's `tensor.to(dtype)`, `tensor * x` and `tensor + x` on the CPU
//! (tests/adversarial/values.rs compares them with torch's own results, every
//! value of the 8- and 16-bit floats and the edge cases of the wider types):
//!
//! - floats round to nearest, ties to even. Into f16, bf16 and the 8-bit
//!   floats a value goes through f32 first, as torch's conversions do, so from
//!   f64, or from an integer past 2^24, it rounds twice (a tie in the narrow
//!   dtype can come out one unit lower than one rounding would give); into f32
//!   and f64 every value, integers included, rounds once;
//! - `f8_e4m3` (torch's `float8_e4m3fn`) has no infinity: overflow and ±inf
//!   saturate to ±448. `f8_e5m2` overflows to ±inf;
//! - NaN stays NaN and keeps its sign in f8; in wider floats its sign and
//!   payload are whatever the conversion gives (torch's own NaN bits differ
//!   from one of its code paths to another);
//! - float to integer truncates toward zero; a value out of the integer's
//!   range saturates to its limit, and NaN gives 0 (torch leaves both
//!   undefined);
//! - integer to integer wraps (two's complement), as torch does;
//! - anything to bool is `x != 0` (NaN is true); bool is 0 or 1.
//!
//! [`cast`] and [`scale`] count the elements that did not fit: a finite value
//! that became ±inf or NaN, a value saturated (f8_e4m3, float to integer, NaN
//! to integer), an integer that wrapped. `wmap run` reports them.

use half::{bf16, f16};

use crate::dtype::DType;
use crate::plan::Unary;

use crate::dtype::{decode, e8m0_to_f32, f8_to_f32, unpack_f32};

/// `v / 2^s` rounded to nearest, ties to even, for `v < 2^24` and `s >= 1`.
#[inline]
fn shift_round(v: u32, s: u32) -> u32 {
    if s >= 25 {
        return 0;
    }
    let q = v >> s;
    let r = v & ((1 << s) - 1);
    let half = 1 << (s - 1);
    q + (r > half || (r == half && q & 1 == 1)) as u32
}

/// Rounds `x` to nearest-even into `f8_e4m3` (`ieee` false: no infinity,
/// overflow and ±inf saturate to ±448) or `f8_e5m2` (`ieee` true: overflow
/// gives ±inf); returns the byte and whether the value saturated (e4m3 only).
#[inline]
pub(crate) fn f32_to_f8(x: f32, ieee: bool) -> (u8, bool) {
    let (man, bias, max) = if ieee { (2, 15, 0x7B) } else { (3, 7, 0x7E) };
    let bits = x.to_bits();
    let sign = ((bits >> 24) & 0x80) as u8;
    let a = bits & 0x7FFF_FFFF;
    if a > 0x7F80_0000 {
        return (sign | 0x7F, false);
    }
    let over = if ieee { 0x7C } else { 0x7E };
    if a == 0x7F80_0000 {
        return (sign | over, !ieee);
    }
    let drop = 23 - man;
    let exp = (a >> 23) as i32;
    let code = if exp >= 128 - bias {
        // A normal of the target: round the mantissa, then rebias (a carry
        // moves into the exponent, as it should).
        let r = a + ((1 << (drop - 1)) - 1) + ((a >> drop) & 1);
        (r >> drop) - (((127 - bias) as u32) << man)
    } else {
        // Below the target's normals: count its subnormal quanta, 2^(1 - bias - man).
        let m = if exp == 0 {
            a & 0x7F_FFFF
        } else {
            (a & 0x7F_FFFF) | 0x80_0000
        };
        let shift = (1 - bias - man) - (exp.max(1) - 150);
        shift_round(m, shift as u32)
    };
    if code > max {
        (sign | over, !ieee)
    } else {
        (sign | code as u8, false)
    }
}

/// Applies `f` to every element of `input` (N bytes each) into `out` (M bytes
/// each); returns how many elements `f` said did not fit.
#[inline(always)]
fn each<const N: usize, const M: usize>(
    input: &[u8],
    out: &mut [u8],
    f: impl Fn([u8; N]) -> ([u8; M], bool),
) -> u64 {
    let mut misfits = 0u64;
    for (i, o) in input.chunks_exact(N).zip(out.chunks_exact_mut(M)) {
        let (b, misfit) = f(i.try_into().expect("N bytes"));
        o.copy_from_slice(&b);
        misfits += misfit as u64;
    }
    misfits
}

/// A float source element: f32 for every float dtype but f64.
trait Float: Copy {
    fn f32(self) -> f32;
    fn f64(self) -> f64;
    fn finite(self) -> bool;
}

impl Float for f32 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Float for f64 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

/// An integer source element: i64 for every integer dtype but u64.
trait Int: Copy {
    fn f32(self) -> f32;
    fn f64(self) -> f64;
    fn wide(self) -> i128;
}

impl Int for i64 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn wide(self) -> i128 {
        self as i128
    }
}

impl Int for u64 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn wide(self) -> i128 {
        self as i128
    }
}

/// Float to integer: truncates toward zero; out of range saturates and NaN
/// gives 0 (Rust's `as`), both reported as not fitting. `lo` and `end` are
/// the integer's minimum and 2^bits of its maximum + 1, exact in f64.
#[inline(always)]
fn fits(x: f64, lo: f64, end: f64) -> bool {
    let t = x.trunc();
    t >= lo && t < end
}

macro_rules! float_to_int {
    ($x:expr, $t:ty) => {{
        let x: f64 = $x;
        let fit = fits(x, <$t>::MIN as f64, (<$t>::MAX as f64) + 1.0);
        ((x as $t).to_le_bytes(), !fit)
    }};
}

macro_rules! int_to_int {
    ($v:expr, $t:ty) => {{
        let w: i128 = $v;
        let t = w as $t;
        (t.to_le_bytes(), t as i128 != w)
    }};
}

fn from_float<const N: usize, S: Float>(
    to: DType,
    input: &[u8],
    out: &mut [u8],
    read: impl Fn([u8; N]) -> S,
) -> u64 {
    use DType::*;
    match to {
        Bool => each(input, out, |b| ([(read(b).f64() != 0.0) as u8], false)),
        U8 => each(input, out, |b| float_to_int!(read(b).f64(), u8)),
        I8 => each(input, out, |b| float_to_int!(read(b).f64(), i8)),
        I16 => each(input, out, |b| float_to_int!(read(b).f64(), i16)),
        U16 => each(input, out, |b| float_to_int!(read(b).f64(), u16)),
        I32 => each(input, out, |b| float_to_int!(read(b).f64(), i32)),
        U32 => each(input, out, |b| float_to_int!(read(b).f64(), u32)),
        I64 => each(input, out, |b| float_to_int!(read(b).f64(), i64)),
        U64 => each(input, out, |b| float_to_int!(read(b).f64(), u64)),
        F8E4M3 => each(input, out, |b| {
            let (y, saturated) = f32_to_f8(read(b).f32(), false);
            ([y], saturated)
        }),
        F8E5M2 => each(input, out, |b| {
            let x = read(b);
            let (y, _) = f32_to_f8(x.f32(), true);
            ([y], x.finite() && y & 0x7F == 0x7C)
        }),
        F16 => each(input, out, |b| {
            let x = read(b);
            let y = f16::from_f32(x.f32());
            (y.to_le_bytes(), x.finite() && y.is_infinite())
        }),
        BF16 => each(input, out, |b| {
            let x = read(b);
            let y = bf16::from_f32(x.f32());
            (y.to_le_bytes(), x.finite() && y.is_infinite())
        }),
        F32 => each(input, out, |b| {
            let x = read(b);
            let y = x.f32();
            (y.to_le_bytes(), x.finite() && y.is_infinite())
        }),
        F64 => each(input, out, |b| (read(b).f64().to_le_bytes(), false)),
        F4 | F6E2M3 | F6E3M2 | F8E8M0 | F8E4M3FNUZ | F8E5M2FNUZ | C64 => not_encoded(out),
    }
}

/// A cast into a dtype wmap does not encode, which the checker refuses
/// (`unsupported_dtype`): zeros, every element counted as not fitting.
fn not_encoded(out: &mut [u8]) -> u64 {
    out.fill(0);
    out.len() as u64
}

fn from_int<const N: usize, S: Int>(
    to: DType,
    input: &[u8],
    out: &mut [u8],
    read: impl Fn([u8; N]) -> S,
) -> u64 {
    use DType::*;
    match to {
        Bool => each(input, out, |b| ([(read(b).wide() != 0) as u8], false)),
        U8 => each(input, out, |b| int_to_int!(read(b).wide(), u8)),
        I8 => each(input, out, |b| int_to_int!(read(b).wide(), i8)),
        I16 => each(input, out, |b| int_to_int!(read(b).wide(), i16)),
        U16 => each(input, out, |b| int_to_int!(read(b).wide(), u16)),
        I32 => each(input, out, |b| int_to_int!(read(b).wide(), i32)),
        U32 => each(input, out, |b| int_to_int!(read(b).wide(), u32)),
        I64 => each(input, out, |b| int_to_int!(read(b).wide(), i64)),
        U64 => each(input, out, |b| int_to_int!(read(b).wide(), u64)),
        F8E4M3 => each(input, out, |b| {
            let (y, saturated) = f32_to_f8(read(b).f32(), false);
            ([y], saturated)
        }),
        F8E5M2 => each(input, out, |b| {
            let (y, _) = f32_to_f8(read(b).f32(), true);
            ([y], y & 0x7F == 0x7C)
        }),
        F16 => each(input, out, |b| {
            let y = f16::from_f32(read(b).f32());
            (y.to_le_bytes(), y.is_infinite())
        }),
        BF16 => each(input, out, |b| {
            let y = bf16::from_f32(read(b).f32());
            (y.to_le_bytes(), y.is_infinite())
        }),
        // One rounding, straight from the integer (never through f64).
        F32 => each(input, out, |b| (read(b).f32().to_le_bytes(), false)),
        F64 => each(input, out, |b| (read(b).f64().to_le_bytes(), false)),
        F4 | F6E2M3 | F6E3M2 | F8E8M0 | F8E4M3FNUZ | F8E5M2FNUZ | C64 => not_encoded(out),
    }
}

/// Converts a buffer of `from` elements into `to`; returns the number of
/// elements that did not fit (see the module's documentation).
pub fn cast(from: DType, to: DType, input: &[u8], out: &mut [u8]) -> u64 {
    use DType::*;
    if from == to {
        out.copy_from_slice(input);
        return 0;
    }
    if from == F32 && to == BF16 {
        // The most common cast, written out: the generic loop is slower here.
        let mut misfits = 0;
        for (i, o) in input.chunks_exact(4).zip(out.chunks_exact_mut(2)) {
            let x = f32::from_le_bytes(i.try_into().expect("4 bytes"));
            let y = bf16::from_f32(x);
            misfits += (x.is_finite() && y.is_infinite()) as u64;
            o.copy_from_slice(&y.to_le_bytes());
        }
        return misfits;
    }
    match from {
        Bool => from_int(to, input, out, |b: [u8; 1]| (b[0] != 0) as i64),
        U8 => from_int(to, input, out, |b: [u8; 1]| b[0] as i64),
        I8 => from_int(to, input, out, |b: [u8; 1]| b[0] as i8 as i64),
        I16 => from_int(to, input, out, |b| i16::from_le_bytes(b) as i64),
        U16 => from_int(to, input, out, |b| u16::from_le_bytes(b) as i64),
        I32 => from_int(to, input, out, |b| i32::from_le_bytes(b) as i64),
        U32 => from_int(to, input, out, |b| u32::from_le_bytes(b) as i64),
        I64 => from_int(to, input, out, i64::from_le_bytes),
        U64 => from_int(to, input, out, u64::from_le_bytes),
        F8E4M3 => from_float(to, input, out, |b: [u8; 1]| f8_to_f32(b[0], false)),
        F8E5M2 => from_float(to, input, out, |b: [u8; 1]| f8_to_f32(b[0], true)),
        F16 => from_float(to, input, out, |b| f16::from_le_bytes(b).to_f32()),
        BF16 => from_float(to, input, out, |b| bf16::from_le_bytes(b).to_f32()),
        F32 => from_float(to, input, out, f32::from_le_bytes),
        F64 => from_float(to, input, out, f64::from_le_bytes),
        F8E8M0 => from_float(to, input, out, |b: [u8; 1]| e8m0_to_f32(b[0])),
        F8E4M3FNUZ | F8E5M2FNUZ => from_float(to, input, out, |b: [u8; 1]| {
            decode(from, &b).to_f64() as f32
        }),
        // Unpacked exactly into f32, then cast as f32 is.
        F4 | F6E2M3 | F6E3M2 => {
            let numel = out.len() / to.size().max(1);
            let values = unpack_f32(from, input, numel);
            cast(F32, to, bytemuck::cast_slice(&values), out)
        }
        C64 => not_encoded(out),
    }
}

/// The one operation of an `add` or `mul` node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arith {
    Add(f64),
    Mul(f64),
}

/// The number `c` of `op` as the computation on a `dtype` tensor uses it (see
/// [`scale`]): the dtype it is held in and its value there.
pub fn scalar(dtype: DType, op: Arith) -> (DType, f64) {
    use DType::*;
    let (c, rounds_to_dtype) = match op {
        Arith::Add(c) => (c, true),
        Arith::Mul(c) => (c, false),
    };
    match dtype {
        F64 => (F64, c),
        F16 if rounds_to_dtype => (F16, f16::from_f32(c as f32).to_f64()),
        BF16 if rounds_to_dtype => (BF16, bf16::from_f32(c as f32).to_f64()),
        F8E4M3 | F8E5M2 if rounds_to_dtype => {
            let ieee = dtype == F8E5M2;
            (dtype, f8_to_f32(f32_to_f8(c as f32, ieee).0, ieee) as f64)
        }
        _ => (F32, c as f32 as f64),
    }
}

/// Where the number of `op` cannot be held as the computation on a `dtype`
/// tensor uses it: the dtype it is held in and what it becomes there
/// (infinite, 0, or saturated at f8_e4m3's ±448).
pub fn scalar_misfit(dtype: DType, op: Arith) -> Option<(DType, String)> {
    let c = match op {
        Arith::Add(c) | Arith::Mul(c) => c,
    };
    if !c.is_finite() {
        return None; // reported where it is written
    }
    let (held, used) = scalar(dtype, op);
    let saturated = held == DType::F8E4M3 && f32_to_f8(c as f32, false).1;
    if used.is_infinite() || saturated || (used == 0.0 && c != 0.0) {
        Some((held, format!("{used}")))
    } else {
        None
    }
}

/// A number as a diagnostic shows it: `1e39`, `70000`, `0.5`.
pub fn number_text(c: f64) -> String {
    if c != 0.0 && (c.abs() >= 1e6 || c.abs() < 1e-4) {
        format!("{c:e}")
    } else {
        format!("{c}")
    }
}

/// `x + c` or `x * c` on a floating buffer, as torch computes it: in f64 for
/// f64, otherwise in f32 (torch's arithmetic type for f16, bf16 and f32),
/// rounded once to the dtype. torch's `add` first converts the number to the
/// tensor's dtype; its `mul` converts it to f32. (torch has no arithmetic on
/// the 8-bit floats; wmap computes them like f16.) Returns the number of
/// finite elements that became ±inf or NaN (or, in f8_e4m3, saturated).
pub fn scale(dtype: DType, input: &[u8], out: &mut [u8], op: Arith) -> u64 {
    use DType::*;
    match dtype {
        F64 => each::<8, 8>(input, out, |b| {
            let x = f64::from_le_bytes(b);
            let y = match op {
                Arith::Add(c) => x + c,
                Arith::Mul(c) => x * c,
            };
            (y.to_le_bytes(), x.is_finite() && !y.is_finite())
        }),
        F32 => in_f32(dtype, input, out, op, f32::from_le_bytes, |y| {
            (y.to_le_bytes(), !y.is_finite())
        }),
        BF16 => in_f32(
            dtype,
            input,
            out,
            op,
            |b| bf16::from_le_bytes(b).to_f32(),
            |y| {
                let h = bf16::from_f32(y);
                (h.to_le_bytes(), !h.is_finite())
            },
        ),
        F16 => in_f32(
            dtype,
            input,
            out,
            op,
            |b| f16::from_le_bytes(b).to_f32(),
            |y| {
                let h = f16::from_f32(y);
                (h.to_le_bytes(), !h.is_finite())
            },
        ),
        F8E4M3 | F8E5M2 => {
            let ieee = dtype == F8E5M2;
            in_f32(
                dtype,
                input,
                out,
                op,
                |b: [u8; 1]| f8_to_f32(b[0], ieee),
                |y| {
                    let (h, saturated) = f32_to_f8(y, ieee);
                    // e5m2: inf or NaN; e4m3: saturated at ±448, or NaN.
                    let misfit = if ieee {
                        h & 0x7F >= 0x7C
                    } else {
                        saturated || h & 0x7F == 0x7F
                    };
                    ([h], misfit)
                },
            )
        }
        // The checker allows `add` and `mul` on floats only.
        _ => {
            out.copy_from_slice(input);
            0
        }
    }
}

/// An elementwise function on a floating buffer, as torch's CPU kernels
/// compute it: in f64 for f64; otherwise the element is widened to f32, the
/// function computed, and the result rounded once to the dtype (bit for bit
/// torch's results for every f16 and bf16 value). In f32, `sqrt` is IEEE's
/// correctly rounded one and `exp` and `log` are computed in f64 and rounded;
/// torch's vectorised kernels (Sleef, within 1 ulp) can differ from them in
/// the last bit. Returns the number of finite elements that became
/// ±inf or NaN (`exp` overflowing, `log` of 0 or a negative, `sqrt` of a
/// negative).
pub fn unary(dtype: DType, input: &[u8], out: &mut [u8], op: Unary) -> u64 {
    use DType::*;
    let f32_of = move |x: f32| -> f32 {
        match op {
            Unary::Neg => -x,
            Unary::Abs => x.abs(),
            Unary::Sqrt => x.sqrt(),
            Unary::Exp => (x as f64).exp() as f32,
            Unary::Log => (x as f64).ln() as f32,
        }
    };
    match dtype {
        F64 => each::<8, 8>(input, out, |b| {
            let x = f64::from_le_bytes(b);
            let y = match op {
                Unary::Neg => -x,
                Unary::Abs => x.abs(),
                Unary::Sqrt => x.sqrt(),
                Unary::Exp => x.exp(),
                Unary::Log => x.ln(),
            };
            (y.to_le_bytes(), x.is_finite() && !y.is_finite())
        }),
        F32 => each::<4, 4>(input, out, |b| {
            let x = f32::from_le_bytes(b);
            let y = f32_of(x);
            (y.to_le_bytes(), x.is_finite() && !y.is_finite())
        }),
        BF16 => each::<2, 2>(input, out, |b| {
            let x = bf16::from_le_bytes(b).to_f32();
            let y = bf16::from_f32(f32_of(x));
            (y.to_le_bytes(), x.is_finite() && !y.is_finite())
        }),
        F16 => each::<2, 2>(input, out, |b| {
            let x = f16::from_le_bytes(b).to_f32();
            let y = f16::from_f32(f32_of(x));
            (y.to_le_bytes(), x.is_finite() && !y.is_finite())
        }),
        F8E4M3 | F8E5M2 => {
            let ieee = dtype == F8E5M2;
            each::<1, 1>(input, out, |b| {
                let x = f8_to_f32(b[0], ieee);
                let (h, saturated) = f32_to_f8(f32_of(x), ieee);
                let misfit = if ieee {
                    h & 0x7F >= 0x7C
                } else {
                    saturated || h & 0x7F == 0x7F
                };
                ([h], x.is_finite() && misfit)
            })
        }
        // The checker allows elementwise functions on floats only.
        _ => {
            out.copy_from_slice(input);
            0
        }
    }
}

/// One number as `dtype` bytes, rounded once as a cast from f64 rounds it.
pub fn encode(dtype: DType, x: f64) -> Vec<u8> {
    let mut out = vec![0u8; dtype.size()];
    cast(DType::F64, dtype, &x.to_le_bytes(), &mut out);
    out
}

/// `add` or `mul` computed in f32 on `dtype`, read by `read` and written by
/// `write` (which says whether the result is not finite), with the number as
/// [`scalar`] gives it.
#[inline(always)]
fn in_f32<const N: usize>(
    dtype: DType,
    input: &[u8],
    out: &mut [u8],
    op: Arith,
    read: impl Fn([u8; N]) -> f32,
    write: impl Fn(f32) -> ([u8; N], bool),
) -> u64 {
    // Exact: the number is held in f32 or a narrower float.
    let c = scalar(dtype, op).1 as f32;
    let add = matches!(op, Arith::Add(_));
    each(input, out, |b| {
        let x = read(b);
        let (y, misfit) = write(if add { x + c } else { x * c });
        (y, x.is_finite() && misfit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f8_e4m3_round_trips_every_value() {
        for b in 0..=255u8 {
            let v = f8_to_f32(b, false);
            let (back, saturated) = f32_to_f8(v, false);
            assert!(!saturated);
            assert_eq!(back, b, "value {v}");
        }
        assert_eq!(f8_to_f32(0x7E, false), 448.0);
        assert_eq!(f32_to_f8(1000.0, false), (0x7E, true));
        assert_eq!(f32_to_f8(-1000.0, false), (0xFE, true));
    }

    #[test]
    fn f8_e5m2_round_trips_every_value() {
        for b in 0..=255u8 {
            let v = f8_to_f32(b, true);
            let (back, _) = f32_to_f8(v, true);
            if v.is_nan() {
                assert_eq!(back & 0x7F, 0x7F);
            } else {
                assert_eq!(back, b, "value {v}");
            }
        }
        assert_eq!(f8_to_f32(0x7B, true), 57344.0);
        assert_eq!(f32_to_f8(1e6, true).0, 0x7C);
    }

    #[test]
    fn f32_to_bf16_rounds_to_nearest_even() {
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
        let x = 1.0f32 + 2f32.powi(-8);
        let mut out = [0u8; 2];
        cast(DType::F32, DType::BF16, &x.to_le_bytes(), &mut out);
        assert_eq!(bf16::from_le_bytes(out).to_f32(), 1.0);
    }

    #[test]
    fn i64_to_f32_rounds_once() {
        // 2^60 + 2^36 + 1 is just above halfway between 2^60 and 2^60 + 2^37:
        // one rounding goes up; rounding through f64 first gives the tie and 2^60.
        let x: i64 = (1 << 60) + (1 << 36) + 1;
        let mut out = [0u8; 4];
        cast(DType::I64, DType::F32, &x.to_le_bytes(), &mut out);
        assert_eq!(f32::from_le_bytes(out), ((1u64 << 60) + (1 << 37)) as f32);
    }

    #[test]
    fn misfits_are_counted() {
        let x = [300.0f32, -1.0, f32::NAN, 2.5];
        let mut out = [0u8; 4];
        let n = cast(DType::F32, DType::U8, bytemuck::cast_slice(&x), &mut out);
        assert_eq!((out, n), ([255, 0, 0, 2], 3));
        let y = [70000.0f32, f32::INFINITY, 1.0];
        let mut out = [0u8; 6];
        assert_eq!(
            cast(DType::F32, DType::F16, bytemuck::cast_slice(&y), &mut out),
            1
        );
    }
}
