//! `inet` and `cidr` in both directions. The binary layout (`inet_send`):
//! family, bits, is_cidr, address length, address bytes. Decoding prints
//! it as `inet_out` / `cidr_out` do ([`write_inet`]); encoding parses their
//! text ([`parse_inet`]).

use crate::numeric::push_decimal;

/// `PGSQL_AF_INET` / `PGSQL_AF_INET6` as `inet_send` writes them.
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

// ---------------------------------------------------------------------------
// Decoding

/// Writes an `inet_send` value as PostgreSQL's `inet_out` / `cidr_out`
/// print it (a port of `pg_inet_net_ntop`): all four IPv4 octets; IPv6 with
/// the longest (first) run of two or more zero groups as `::`, and embedded
/// IPv4 for `::a.b.c.d` and `::ffff:a.b.c.d`; `/bits` when `bits` is not the
/// full width, and always for cidr.
pub(crate) fn write_inet(value: &[u8], cidr: bool, out: &mut Vec<u8>) -> Result<(), String> {
    if value.len() < 4 {
        return Err(format!("inet header is {} bytes, expected 4", value.len()));
    }
    let (family, bits, nb) = (value[0], value[1], value[3] as usize);
    let addr = &value[4..];
    if addr.len() != nb {
        return Err(format!(
            "inet announces {nb} address bytes but carries {}",
            addr.len()
        ));
    }
    let max_bits = match (family, nb) {
        (PGSQL_AF_INET, 4) => 32,
        (PGSQL_AF_INET6, 16) => 128,
        _ => {
            return Err(format!(
                "invalid inet family {family} with {nb} address bytes"
            ));
        }
    };
    if bits > max_bits {
        return Err(format!(
            "invalid inet prefix length {bits} (max {max_bits})"
        ));
    }
    if max_bits == 32 {
        write_ipv4(addr, out);
    } else {
        write_ipv6(addr, out);
    }
    if bits != max_bits || cidr {
        out.push(b'/');
        push_decimal(out, bits as u32);
    }
    Ok(())
}

fn write_ipv4(addr: &[u8], out: &mut Vec<u8>) {
    for (i, octet) in addr.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_decimal(out, *octet as u32);
    }
}

fn write_ipv6(addr: &[u8], out: &mut Vec<u8>) {
    let mut words = [0u16; 8];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u16::from_be_bytes([addr[2 * i], addr[2 * i + 1]]);
    }
    // The first longest run of zero words, if at least two long.
    let (mut best_base, mut best_len) = (None::<usize>, 0usize);
    let mut cur: Option<(usize, usize)> = None;
    for (i, w) in words.iter().enumerate() {
        if *w == 0 {
            cur = Some(match cur {
                Some((base, len)) => (base, len + 1),
                None => (i, 1),
            });
        } else if let Some((base, len)) = cur.take()
            && (best_base.is_none() || len > best_len)
        {
            (best_base, best_len) = (Some(base), len);
        }
    }
    if let Some((base, len)) = cur
        && (best_base.is_none() || len > best_len)
    {
        (best_base, best_len) = (Some(base), len);
    }
    if best_len < 2 {
        best_base = None;
    }
    let in_best = |i: usize| best_base.is_some_and(|b| i >= b && i < b + best_len);
    for i in 0..8 {
        if in_best(i) {
            if best_base == Some(i) {
                out.push(b':');
            }
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        // Encapsulated IPv4 (::a.b.c.d, ::ffff:a.b.c.d), as inet_net_ntop_ipv6 does.
        if i == 6
            && best_base == Some(0)
            && (best_len == 6
                || (best_len == 7 && words[7] != 0x0001)
                || (best_len == 5 && words[5] == 0xffff))
        {
            write_ipv4(&addr[12..], out);
            return;
        }
        push_hex(out, words[i]);
    }
    if best_base.is_some_and(|b| b + best_len == 8) {
        out.push(b':');
    }
}

/// `%x`.
fn push_hex(out: &mut Vec<u8>, n: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12, 8, 4, 0] {
        let nibble = (n >> shift) & 0xf;
        if nibble != 0 || started || shift == 0 {
            out.push(HEX[nibble as usize]);
            started = true;
        }
    }
}

// ---------------------------------------------------------------------------
// Encoding

/// Parses PostgreSQL's text form of an address (`10.0.0.1`, `10.0.0.0/8`,
/// `2001:db8::1/64`, `::1.2.3.4`) into `inet_send` bytes; `None` when it is
/// not one, or (cidr) when bits are set right of the prefix.
pub(crate) fn parse_inet(text: &[u8], cidr: bool) -> Option<([u8; 20], usize)> {
    let (addr_text, bits_text) = match text.iter().position(|b| *b == b'/') {
        Some(slash) => (&text[..slash], Some(&text[slash + 1..])),
        None => (text, None),
    };
    let mut buf = [0u8; 20];
    let (family, max_bits, nb) = if addr_text.contains(&b':') {
        buf[4..20].copy_from_slice(&parse_ipv6(addr_text)?);
        (PGSQL_AF_INET6, 128u32, 16usize)
    } else {
        buf[4..8].copy_from_slice(&parse_ipv4(addr_text)?);
        (PGSQL_AF_INET, 32, 4)
    };
    let bits = match bits_text {
        Some(b) => parse_small_decimal(b, 3).filter(|n| *n <= max_bits)?,
        None => max_bits,
    };
    if cidr {
        let addr = &buf[4..4 + nb];
        for (k, byte) in addr.iter().enumerate() {
            let bit0 = 8 * k as u32;
            let host_mask: u8 = if bits >= bit0 + 8 {
                0
            } else if bits <= bit0 {
                0xff
            } else {
                0xff >> (bits - bit0)
            };
            if byte & host_mask != 0 {
                return None;
            }
        }
    }
    buf[0] = family;
    buf[1] = bits as u8;
    buf[2] = cidr as u8;
    buf[3] = nb as u8;
    Some((buf, 4 + nb))
}

/// 1 to `max_len` decimal digits.
fn parse_small_decimal(text: &[u8], max_len: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_len || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// Dotted quad, four decimal octets.
fn parse_ipv4(text: &[u8]) -> Option<[u8; 4]> {
    let mut addr = [0u8; 4];
    let mut parts = text.split(|b| *b == b'.');
    for octet in &mut addr {
        *octet = u8::try_from(parse_small_decimal(parts.next()?, 3)?).ok()?;
    }
    parts.next().is_none().then_some(addr)
}

/// RFC 4291 text: up to eight hex groups, one `::` for a run of zero
/// groups, and optionally a dotted quad for the last 32 bits.
fn parse_ipv6(text: &[u8]) -> Option<[u8; 16]> {
    let mut words = [0u16; 8];
    let mut n = 0usize;
    let mut gap: Option<usize> = None;
    let mut i = 0;
    if text.starts_with(b"::") {
        gap = Some(0);
        i = 2;
    } else if text.first() == Some(&b':') {
        return None;
    }
    while i < text.len() {
        let len = text[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if text.get(i + len) == Some(&b'.') {
            // Embedded IPv4: the rest of the text.
            if n > 6 {
                return None;
            }
            let v4 = parse_ipv4(&text[i..])?;
            words[n] = u16::from_be_bytes([v4[0], v4[1]]);
            words[n + 1] = u16::from_be_bytes([v4[2], v4[3]]);
            n += 2;
            i = text.len();
            break;
        }
        if len == 0 || len > 4 || n == 8 {
            return None;
        }
        words[n] = text[i..i + len].iter().fold(0u16, |w, d| {
            (w << 4) | (*d as char).to_digit(16).unwrap_or(0) as u16
        });
        n += 1;
        i += len;
        if i == text.len() {
            break;
        }
        if text[i] != b':' {
            return None;
        }
        i += 1;
        if text.get(i) == Some(&b':') {
            if gap.is_some() {
                return None;
            }
            gap = Some(n);
            i += 1;
        } else if i == text.len() {
            return None; // a single trailing colon
        }
    }
    debug_assert_eq!(i, text.len());
    match gap {
        Some(at) => {
            if n > 7 {
                return None;
            }
            let tail = n - at;
            words.copy_within(at..n, 8 - tail);
            words[at..8 - tail].fill(0);
        }
        None if n != 8 => return None,
        None => {}
    }
    let mut addr = [0u8; 16];
    for (k, w) in words.iter().enumerate() {
        addr[2 * k..2 * k + 2].copy_from_slice(&w.to_be_bytes());
    }
    Some(addr)
}
