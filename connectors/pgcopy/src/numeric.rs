//! `numeric` in both directions. The binary layout (`numeric_send`):
//! ndigits, weight, sign, dscale, then ndigits base-10000 digits, most
//! significant first, weight being the power of 10000 of the first; no
//! leading or trailing zero digits; zero is no digits, weight 0, positive.
//!
//! Decoding checks that layout ([`Numeric::parse`]) and reads it as a
//! `Decimal128` or as the text `numeric_out` prints; encoding writes it
//! from a `Decimal128` ([`write_decimal`]) or from the text `numeric_in`
//! reads ([`write_numeric_text`]).

use crate::decode::{read_i16, read_u16};
use crate::types::{
    DECIMAL_INFINITY, DECIMAL_NAN, DECIMAL_NEG_INFINITY, NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF,
    NUMERIC_PINF, NUMERIC_POS,
};

/// Largest display scale `numeric_recv` accepts.
const MAX_DSCALE: u16 = 0x3FFF;
/// `numeric_in`'s limit on the exponent of `1.5e3` notation.
const NUMERIC_MAX_EXPONENT: i64 = 1000;
const NBASE: i32 = 10_000;

/// 10^0 ..= 10^38, every power of ten below `i128::MAX`.
const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// The powers of ten within one base-10000 digit.
const POW10_U16: [u16; 4] = [1, 10, 100, 1000];

// ---------------------------------------------------------------------------
// Decoding

/// A validated view of `numeric_send`'s output.
pub(crate) struct Numeric<'a> {
    weight: i32,
    sign: u16,
    dscale: u16,
    /// `ndigits` big-endian base-10000 digits, each checked to be 0..=9999.
    digits: &'a [u8],
}

impl<'a> Numeric<'a> {
    pub(crate) fn parse(value: &'a [u8]) -> Result<Self, String> {
        if value.len() < 8 {
            return Err(format!(
                "numeric header is {} bytes, expected 8",
                value.len()
            ));
        }
        // ndigits is unsigned: numeric at PostgreSQL's maximum precision
        // has more than i16::MAX base-10000 digits.
        let ndigits = read_u16(value) as usize;
        let weight = read_i16(&value[2..]) as i32;
        let sign = read_u16(&value[4..]);
        let dscale = read_u16(&value[6..]);
        if value.len() != 8 + 2 * ndigits {
            return Err(format!(
                "numeric with {ndigits} digits must be {} bytes, got {}",
                8 + 2 * ndigits,
                value.len()
            ));
        }
        if !matches!(
            sign,
            NUMERIC_POS | NUMERIC_NEG | NUMERIC_NAN | NUMERIC_PINF | NUMERIC_NINF
        ) {
            return Err(format!("invalid numeric sign {sign:#06x}"));
        }
        if dscale > MAX_DSCALE {
            return Err(format!("invalid numeric display scale {dscale}"));
        }
        let digits = &value[8..];
        for d in digits.chunks_exact(2) {
            let d = i16::from_be_bytes([d[0], d[1]]);
            if !(0..NBASE as i16).contains(&d) {
                return Err(format!("invalid numeric digit {d}"));
            }
        }
        Ok(Numeric {
            weight,
            sign,
            dscale,
            digits,
        })
    }

    fn ndigits(&self) -> i32 {
        (self.digits.len() / 2) as i32
    }

    /// Digit `i` (0-based from the most significant); zero outside the stored range.
    fn digit(&self, i: i32) -> i32 {
        if i < 0 || i >= self.ndigits() {
            0
        } else {
            let i = i as usize * 2;
            i16::from_be_bytes([self.digits[i], self.digits[i + 1]]) as i32
        }
    }

    /// The value scaled by 10^scale, exactly, if it fits `Decimal128(precision, scale)`.
    pub(crate) fn to_i128(&self, precision: u8, scale: i8) -> Result<i128, String> {
        // Special values: sentinels outside every precision (types.rs).
        match self.sign {
            NUMERIC_NAN => return Ok(DECIMAL_NAN),
            NUMERIC_PINF => return Ok(DECIMAL_INFINITY),
            NUMERIC_NINF => return Ok(DECIMAL_NEG_INFINITY),
            _ => {}
        }
        let overflow = || {
            let mut text = Vec::new();
            self.write_text(&mut text);
            format!(
                "numeric {} does not fit Decimal128({precision},{scale})",
                String::from_utf8_lossy(&text)
            )
        };
        let mut acc: i128 = 0;
        for i in 0..self.ndigits() {
            let dig = self.digit(i) as i128;
            if dig == 0 {
                continue;
            }
            // This digit is worth dig * 10000^(weight - i); scaled by 10^scale.
            let exp = 4 * (self.weight - i) + scale as i32;
            if exp >= 0 {
                let pow = *POW10.get(exp as usize).ok_or_else(overflow)? as i128;
                let add = dig.checked_mul(pow).ok_or_else(overflow)?;
                acc = acc.checked_add(add).ok_or_else(overflow)?;
            } else {
                // Fractional digits beyond the column's scale must be zero:
                // dropping them would change the value.
                let div = -exp;
                if div >= 4 || dig % POW10[div as usize] as i128 != 0 {
                    return Err(format!(
                        "{} (more fractional digits than scale {scale})",
                        overflow()
                    ));
                }
                acc += dig / POW10[div as usize] as i128;
            }
        }
        if acc >= POW10[precision as usize] as i128 {
            return Err(overflow());
        }
        Ok(if self.sign == NUMERIC_NEG { -acc } else { acc })
    }

    /// Writes exactly what PostgreSQL's `numeric_out` prints
    /// (`get_str_from_var`): sign, integer digits without leading zeros (at
    /// least one), and `dscale` fractional digits, zero-padded.
    pub(crate) fn write_text(&self, out: &mut Vec<u8>) {
        match self.sign {
            NUMERIC_NAN => return out.extend_from_slice(b"NaN"),
            NUMERIC_PINF => return out.extend_from_slice(b"Infinity"),
            NUMERIC_NINF => return out.extend_from_slice(b"-Infinity"),
            NUMERIC_NEG => out.push(b'-'),
            _ => {}
        }
        let mut d;
        if self.weight < 0 {
            d = self.weight + 1;
            out.push(b'0');
        } else {
            d = 0;
            while d <= self.weight {
                let dig = self.digit(d);
                if d == 0 {
                    push_decimal(out, dig as u32);
                } else {
                    push_4_digits(out, dig);
                }
                d += 1;
            }
        }
        if self.dscale > 0 {
            out.push(b'.');
            let mut remaining = self.dscale as usize;
            while remaining > 0 {
                let mut four = [0u8; 4];
                let dig = self.digit(d);
                four[0] = b'0' + (dig / 1000) as u8;
                four[1] = b'0' + (dig / 100 % 10) as u8;
                four[2] = b'0' + (dig / 10 % 10) as u8;
                four[3] = b'0' + (dig % 10) as u8;
                let n = remaining.min(4);
                out.extend_from_slice(&four[..n]);
                remaining -= n;
                d += 1;
            }
        }
    }
}

fn push_4_digits(out: &mut Vec<u8>, dig: i32) {
    out.extend_from_slice(&[
        b'0' + (dig / 1000) as u8,
        b'0' + (dig / 100 % 10) as u8,
        b'0' + (dig / 10 % 10) as u8,
        b'0' + (dig % 10) as u8,
    ]);
}

/// `%u`.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

// ---------------------------------------------------------------------------
// Encoding

fn put_numeric_header(out: &mut Vec<u8>, ndigits: usize, weight: i64, sign: u16, dscale: i64) {
    out.extend_from_slice(&((8 + 2 * ndigits) as i32).to_be_bytes());
    out.extend_from_slice(&(ndigits as u16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(dscale as u16).to_be_bytes());
}

/// `Decimal128(_, scale)` value `v` as numeric, dscale `max(scale, 0)`
/// (capped at the column's scale, which PostgreSQL would impose anyway).
pub(crate) fn write_decimal(
    out: &mut Vec<u8>,
    v: i128,
    scale: i8,
    column_scale: Option<i32>,
) -> Result<(), String> {
    let scale = scale as i32;
    // Special values: the sentinels of types.rs.
    let special = match v {
        DECIMAL_NAN => Some(NUMERIC_NAN),
        DECIMAL_INFINITY => Some(NUMERIC_PINF),
        DECIMAL_NEG_INFINITY => Some(NUMERIC_NINF),
        _ => None,
    };
    if let Some(sign) = special {
        put_numeric_header(out, 0, 0, sign, 0);
        return Ok(());
    }
    let mut m = v.unsigned_abs();
    if let Some(cs) = column_scale {
        // scale > cs: the last scale - cs digits must be zero.
        let exact = match POW10.get((scale - cs) as usize) {
            Some(p) => m.is_multiple_of(*p),
            None => m == 0,
        };
        if !exact {
            return Err(format!(
                "numeric {} has non-zero digits beyond the column's scale {cs}; \
                 PostgreSQL would round it",
                decimal_text(v, scale)
            ));
        }
    }
    // What PostgreSQL's typmod coercion would leave.
    let dscale = match column_scale {
        Some(cs) => cs.max(0) as i64,
        None => scale.max(0) as i64,
    };
    if m == 0 {
        put_numeric_header(out, 0, 0, NUMERIC_POS, dscale);
        return Ok(());
    }
    // The least significant decimal digit is worth 10^-scale; it falls in
    // base-10000 digit `low` (power of 10000), at position `shift` in it.
    let low = (-scale).div_euclid(4);
    let shift = (-scale).rem_euclid(4) as usize;
    let mut groups = [0u16; 12]; // least significant first
    let first = POW10[4 - shift];
    groups[0] = (m % first) as u16 * POW10_U16[shift];
    m /= first;
    let mut n = 1;
    while m > u64::MAX as u128 {
        groups[n] = (m % 10_000) as u16;
        m /= 10_000;
        n += 1;
    }
    let mut m = m as u64;
    while m > 0 {
        groups[n] = (m % 10_000) as u16;
        m /= 10_000;
        n += 1;
    }
    // The most significant group is non-zero; drop trailing zero groups.
    let lo = groups.iter().position(|g| *g != 0).unwrap_or(0);
    let weight = low as i64 + n as i64 - 1;
    let sign = if v < 0 { NUMERIC_NEG } else { NUMERIC_POS };
    put_numeric_header(out, n - lo, weight, sign, dscale);
    for g in groups[lo..n].iter().rev() {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

/// `v / 10^scale` as text, for error messages.
fn decimal_text(v: i128, scale: i32) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale <= 0 {
        return format!("{sign}{digits}{}", "0".repeat((-scale) as usize));
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// numeric text (what `numeric_in` reads: optional sign, digits with an
/// optional point, optional exponent; `NaN`, `Infinity`, `inf`, with
/// surrounding whitespace) as binary numeric, dscale = the digits after
/// the point (less the exponent), as `numeric_in` computes it.
pub(crate) fn write_numeric_text(
    out: &mut Vec<u8>,
    text: &[u8],
    column_scale: Option<i32>,
) -> Result<(), String> {
    let invalid = || format!("invalid numeric value {:?}", String::from_utf8_lossy(text));
    let t = text.trim_ascii();
    let special = if t.eq_ignore_ascii_case(b"nan") {
        Some(NUMERIC_NAN)
    } else if [&b"infinity"[..], b"+infinity", b"inf", b"+inf"]
        .iter()
        .any(|s| t.eq_ignore_ascii_case(s))
    {
        Some(NUMERIC_PINF)
    } else if t.eq_ignore_ascii_case(b"-infinity") || t.eq_ignore_ascii_case(b"-inf") {
        Some(NUMERIC_NINF)
    } else {
        None
    };
    if let Some(sign) = special {
        put_numeric_header(out, 0, 0, sign, 0);
        return Ok(());
    }
    let (negative, body) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, t),
    };
    let digits_end = |from: usize| {
        from + body[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int_end = digits_end(0);
    let int = &body[..int_end];
    let mut i = int_end;
    let mut frac: &[u8] = &[];
    if body.get(i) == Some(&b'.') {
        let end = digits_end(i + 1);
        frac = &body[i + 1..end];
        i = end;
    }
    if int.is_empty() && frac.is_empty() {
        return Err(invalid());
    }
    let mut exponent: i64 = 0;
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        let negative_exp = match body.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let end = digits_end(i);
        if end == i {
            return Err(invalid());
        }
        for d in &body[i..end] {
            exponent = exponent * 10 + i64::from(d - b'0');
            if exponent > NUMERIC_MAX_EXPONENT {
                return Err(format!("{}: exponent out of range", invalid()));
            }
        }
        if negative_exp {
            exponent = -exponent;
        }
        i = end;
    }
    if i != body.len() {
        return Err(invalid());
    }
    let mut dscale = (frac.len() as i64 - exponent).max(0);
    if let Some(cs) = column_scale {
        // What PostgreSQL's typmod coercion would leave (digits beyond it
        // are checked to be zero below).
        dscale = dscale.min(i64::from(cs.max(0)));
    }
    if dscale > i64::from(MAX_DSCALE) {
        return Err(format!("{}: display scale out of range", invalid()));
    }
    // Digit k of int ++ frac is worth 10^(point - 1 - k).
    let point = int.len() as i64 + exponent;
    let digit = |k: usize| {
        if k < int.len() {
            int[k] - b'0'
        } else {
            frac[k - int.len()] - b'0'
        }
    };
    let total = int.len() + frac.len();
    let Some(first) = (0..total).find(|&k| digit(k) != 0) else {
        put_numeric_header(out, 0, 0, NUMERIC_POS, dscale);
        return Ok(());
    };
    let last = (first..total)
        .rev()
        .find(|&k| digit(k) != 0)
        .unwrap_or(first);
    let exp_of = |k: usize| point - 1 - k as i64;
    if let Some(cs) = column_scale
        && exp_of(last) < -i64::from(cs)
    {
        return Err(format!(
            "numeric {:?} has non-zero digits beyond the column's scale {cs}; \
             PostgreSQL would round it",
            String::from_utf8_lossy(text)
        ));
    }
    let weight = exp_of(first).div_euclid(4);
    let last_group = exp_of(last).div_euclid(4);
    let ndigits = (weight - last_group + 1) as usize;
    if weight > i64::from(i16::MAX)
        || last_group < i64::from(i16::MIN)
        || ndigits > u16::MAX as usize
    {
        return Err(format!("{}: out of numeric's range", invalid()));
    }
    let sign = if negative { NUMERIC_NEG } else { NUMERIC_POS };
    put_numeric_header(out, ndigits, weight, sign, dscale);
    let mut group = weight;
    let mut acc: u16 = 0;
    for k in first..=last {
        let e = exp_of(k);
        let g = e.div_euclid(4);
        if g != group {
            out.extend_from_slice(&acc.to_be_bytes());
            group = g;
            acc = 0;
        }
        acc += u16::from(digit(k)) * POW10_U16[(e - 4 * g) as usize];
    }
    out.extend_from_slice(&acc.to_be_bytes());
    Ok(())
}

/// `numeric_send` bytes built independently of both directions, for the
/// decoder's and the encoder's tests.
#[cfg(test)]
pub(crate) mod reference {
    /// `numeric_send` output from its parts.
    pub(crate) fn numeric_raw(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        // ndigits is unsigned (numeric at maximum precision has more than i16::MAX).
        out.extend_from_slice(&u16::try_from(digits.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    /// `numeric_send` output for a decimal literal, the way PostgreSQL stores it:
    /// base-10000 digits aligned on the decimal point, leading and trailing zero
    /// digits stripped, dscale = the literal's fractional digits, zero positive.
    pub(crate) fn numeric_bytes(text: &str) -> Vec<u8> {
        match text {
            "NaN" => return numeric_raw(0, 0xC000, 0, &[]),
            "Infinity" => return numeric_raw(0, 0xD000, 0, &[]),
            "-Infinity" => return numeric_raw(0, 0xF000, 0, &[]),
            _ => {}
        }
        let (neg, t) = match text.strip_prefix('-') {
            Some(t) => (true, t),
            None => (false, text),
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let dscale = frac.len() as u16;
        let int = int.trim_start_matches('0');
        let int = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
        let frac = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
        let mut weight = (int.len() / 4) as i32 - 1;
        let mut groups: Vec<i16> = int
            .as_bytes()
            .chunks(4)
            .chain(frac.as_bytes().chunks(4))
            .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
            .collect();
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            return numeric_raw(0, 0, dscale, &[]);
        }
        let weight = i16::try_from(weight).unwrap();
        numeric_raw(weight, if neg { 0x4000 } else { 0 }, dscale, &groups)
    }
}
