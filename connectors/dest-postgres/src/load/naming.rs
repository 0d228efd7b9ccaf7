//! Names the destination makes up for a target table (the replace staging
//! table, its primary key index) within PostgreSQL's 63 bytes.

/// Longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`), in bytes.
pub(super) const MAX_IDENT: usize = 63;

const STAGING_SUFFIX: &str = "__rapidbyte_staging";

/// The replace staging table of `table`: `<table>__rapidbyte_staging`, or,
/// when that would pass PostgreSQL's 63 bytes (and be truncated, possibly
/// to the target's own name), a shortened prefix plus a hash of the whole
/// name, so it is distinct from the target and from other tables' staging.
pub(super) fn staging_name(table: &str) -> String {
    if table.len() + STAGING_SUFFIX.len() <= MAX_IDENT {
        return format!("{table}{STAGING_SUFFIX}");
    }
    format!("{}_{:08x}{STAGING_SUFFIX}", prefix(table, MAX_IDENT - STAGING_SUFFIX.len() - 9), fnv1a(table))
}

/// The name PostgreSQL gives an index `<table><suffix>` (truncating the
/// table part so the whole fits 63 bytes, as `ChooseRelationName` does).
pub(super) fn index_name(table: &str, suffix: &str) -> String {
    format!("{}{suffix}", prefix(table, MAX_IDENT - suffix.len()))
}

/// The longest prefix of `s` of at most `max` bytes ending on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_never_truncate_into_the_target() {
        assert_eq!(staging_name("orders"), "orders__rapidbyte_staging");
        let long = "t".repeat(63);
        let s = staging_name(&long);
        assert!(s.len() <= MAX_IDENT && s != long && s.ends_with(STAGING_SUFFIX), "{s}");
        // Two long names sharing a prefix get distinct staging tables.
        let other = format!("{}u", "t".repeat(62));
        assert_ne!(staging_name(&other), s);
        // Multi-byte characters are not split.
        let wide = "é".repeat(31);
        assert!(staging_name(&wide).len() <= MAX_IDENT);
        assert_eq!(index_name(&long, "_pkey").len(), MAX_IDENT);
    }
}
