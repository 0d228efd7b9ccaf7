//! The PostgreSQL type model and its exact mapping to Arrow.
//!
//! A column's type is resolved once per stream, from the catalog facts the
//! connector reads ([`CatalogType`]), into a [`PgType`]. The `PgType` then
//! decides three things that must stay in step:
//!
//! * the Arrow field a batch carries ([`PgType::field`], [`PgType::arrow_type`]),
//! * the SQL type that recreates the column exactly ([`PgType::sql_name`],
//!   carried in the Arrow field metadata under [`PG_TYPE_KEY`], at every
//!   nesting level),
//! * how a binary COPY value is decoded and encoded ([`crate::decode`],
//!   [`crate::encode`]).
//!
//! The representation is chosen per column from the type, never per value,
//! so a stream's schema is fixed. Ordinary values are Arrow-native; what
//! Arrow cannot hold natively follows a documented convention or travels in
//! a lossless fallback column (docs/TYPES.md has the same table):
//!
//! | PostgreSQL | Arrow | Notes |
//! |---|---|---|
//! | `int2` / `int4` / `int8` | `Int16` / `Int32` / `Int64` | |
//! | `float4` / `float8` | `Float32` / `Float64` | NaN, ±Infinity, -0, subnormals kept bit for bit |
//! | `numeric(p,s)`, `1 <= p <= 38`, `0 <= s <= p` | `Decimal128(p,s)` | `NaN` = `i128::MIN`, `Infinity` = `i128::MAX`, `-Infinity` = `i128::MIN + 1` (outside every precision) |
//! | other `numeric` (unconstrained, `p > 38`, negative scale, `s > p`) | `Utf8` | PostgreSQL's exact `numeric_out` text, up to its maximum precision |
//! | `text`, `varchar(n)`, `bpchar(n)`, `json`, `jsonb`, enum | `Utf8` | `bpchar` keeps its padding; `json` byte for byte; `jsonb` its canonical text; enum its label |
//! | `bool` | `Boolean` | |
//! | `bytea` | `Binary` | |
//! | `date` | `Date32` | days since 1970-01-01; `±infinity` = `i32::MAX` / `i32::MIN` |
//! | `time(p)` | `Time64(Microsecond)` | `24:00:00` is `86_400_000_000` |
//! | `timestamp(p)` / `timestamptz(p)` | `Timestamp(Microsecond, None / "UTC")` | `±infinity` = `i64::MAX` / `i64::MIN`; the last 29 years of PostgreSQL's range (294247–294276 AD), past `i64::MAX` µs since 1970, wrap to just above `i64::MIN` (see [`timestamp_from_pg`]) |
//! | `interval` (any fields/precision) | `Struct<months: Int32, days: Int32, microseconds: Int64>` | PostgreSQL's own three fields, unnormalised, full range (Arrow's `MonthDayNano` overflows past 292 years of µs) |
//! | `uuid` | `FixedSizeBinary(16)` | |
//! | `inet`, `cidr` | `Utf8` | PostgreSQL's text form |
//! | array of `T` (any dimensions and lower bounds) | `Struct<items: List<T>, shape: List<Int32>>` | elements in row-major order; `shape` is NULL for a one-dimensional array with lower bound 1 (and the empty array), else `[len1, lower1, len2, lower2, …]` outermost first |
//! | composite type | `Struct` of its attributes | each attribute mapped by this table |
//! | domain | its base type's Arrow type | the domain's name, base type and constraints in metadata |
//! | any other type with binary I/O (`timetz`, `money`, `macaddr`, `macaddr8`, `bit`, `varbit`, `xml`, `tsvector`, `tsquery`, geometric types, ranges, multiranges, `pg_lsn`, `oid`, extension types such as `citext` or `hstore`, …) | `Binary` | lossless fallback: the type's binary send format, marked [`PG_ENCODING_KEY`] = `binary` |

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};

/// Arrow field metadata key that carries [`PgType::sql_name`], so a
/// destination can recreate the exact PostgreSQL type.
pub const PG_TYPE_KEY: &str = "rapidbyte.pg_type";

/// Arrow field metadata key: how a `Binary` fallback column encodes its
/// values. The only value is [`PG_ENCODING_BINARY`].
pub const PG_ENCODING_KEY: &str = "rapidbyte.pg_encoding";

/// [`PG_ENCODING_KEY`]'s value: each value is the bytes of the type's binary
/// send function (what `COPY … (FORMAT binary)` carries).
pub const PG_ENCODING_BINARY: &str = "binary";

/// Arrow field metadata key: the PostgreSQL extension that provides the
/// field's type, so a destination can name what is missing.
pub const PG_EXTENSION_KEY: &str = "rapidbyte.pg_extension";

/// Arrow field metadata key: a domain's definition as JSON
/// (`{"base": "<sql type>", "not_null": bool, "checks": [{"name", "def"}], "default"?: "<expr>"}`).
pub const PG_DOMAIN_KEY: &str = "rapidbyte.pg_domain";

/// Arrow field metadata key: what kind of user type the field's
/// [`PG_TYPE_KEY`] names, so a destination knows what to create:
/// `enum`, `composite` or `domain`.
pub const PG_KIND_KEY: &str = "rapidbyte.pg_kind";

/// Arrow field metadata key: an enum column's labels, as a JSON array in
/// sort order, so a destination can create the type where it is missing.
pub const ENUM_LABELS_KEY: &str = "rapidbyte.pg_enum_labels";

/// Names of the children of an array's `Struct`.
pub const ARRAY_ITEMS: &str = "items";
/// See [`ARRAY_ITEMS`].
pub const ARRAY_SHAPE: &str = "shape";

/// Names of the children of an interval's `Struct`.
pub const INTERVAL_FIELDS: [&str; 3] = ["months", "days", "microseconds"];

/// Sign words of PostgreSQL's binary numeric (`numeric_send`), shared by the
/// decoder and the encoder.
pub(crate) const NUMERIC_POS: u16 = 0x0000;
pub(crate) const NUMERIC_NEG: u16 = 0x4000;
pub(crate) const NUMERIC_NAN: u16 = 0xC000;
pub(crate) const NUMERIC_PINF: u16 = 0xD000;
pub(crate) const NUMERIC_NINF: u16 = 0xF000;

/// `Decimal128` sentinels for numeric's special values. Every precision
/// holds less than 10^38 in magnitude, so these never collide with a value.
pub const DECIMAL_NAN: i128 = i128::MIN;
/// See [`DECIMAL_NAN`].
pub const DECIMAL_INFINITY: i128 = i128::MAX;
/// See [`DECIMAL_NAN`].
pub const DECIMAL_NEG_INFINITY: i128 = i128::MIN + 1;

/// The time zone stamped on `timestamptz` columns: PostgreSQL sends the
/// instant in UTC, and the Arrow value is that instant.
pub const TIMESTAMPTZ_ZONE: &str = "UTC";

/// Microseconds from 1970-01-01 (Unix epoch) to 2000-01-01 (PostgreSQL epoch).
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Days from 1970-01-01 (Unix epoch) to 2000-01-01 (PostgreSQL epoch).
pub const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

/// Largest numeric precision that fits `Decimal128`.
pub const DECIMAL128_MAX_PRECISION: u32 = 38;

/// Wrapped timestamps (see [`timestamp_from_pg`]) are below this.
const TIMESTAMP_WRAP_LIMIT: i64 = i64::MIN + 2 + PG_EPOCH_OFFSET_MICROS;

/// A PostgreSQL timestamp (µs since 2000-01-01) as µs since 1970-01-01.
///
/// `i64::MAX` / `i64::MIN` (`±infinity`) stay as they are. PostgreSQL's
/// range ends about 29 years after `i64::MAX` µs since 1970; those last
/// values are stored as `unix - 2^64 + 2`, just above `i64::MIN`, where no
/// PostgreSQL timestamp lies (its range starts in 4714 BC, near -2.1e17).
pub fn timestamp_from_pg(pg: i64) -> i64 {
    // The common case, in plain i64 arithmetic (the hot path of every batch).
    if pg != i64::MIN
        && let Some(unix) = pg.checked_add(PG_EPOCH_OFFSET_MICROS)
        && unix != i64::MAX
    {
        return unix;
    }
    match pg {
        i64::MAX | i64::MIN => pg,
        _ => {
            let unix = pg as i128 + PG_EPOCH_OFFSET_MICROS as i128;
            if unix >= i64::MAX as i128 {
                (unix - (1i128 << 64) + 2) as i64
            } else {
                unix as i64
            }
        }
    }
}

/// The inverse of [`timestamp_from_pg`]; `None` for a value no PostgreSQL
/// timestamp maps to.
pub fn timestamp_to_pg(unix: i64) -> Option<i64> {
    // The common case: no sentinel, not wrapped; cannot overflow.
    if unix != i64::MAX && unix >= TIMESTAMP_WRAP_LIMIT {
        return Some(unix - PG_EPOCH_OFFSET_MICROS);
    }
    let pg = match unix {
        i64::MAX | i64::MIN => return Some(unix),
        _ if unix < TIMESTAMP_WRAP_LIMIT => unix as i128 + (1i128 << 64) - 2 - PG_EPOCH_OFFSET_MICROS as i128,
        _ => unix as i128 - PG_EPOCH_OFFSET_MICROS as i128,
    };
    i64::try_from(pg).ok().filter(|p| *p != i64::MAX && *p != i64::MIN)
}

/// Built-in type OIDs (from `pg_type.dat`); stable across PostgreSQL versions.
pub mod oid {
    /// `bool`
    pub const BOOL: u32 = 16;
    /// `bytea`
    pub const BYTEA: u32 = 17;
    /// `int8`
    pub const INT8: u32 = 20;
    /// `int2`
    pub const INT2: u32 = 21;
    /// `int4`
    pub const INT4: u32 = 23;
    /// `text`
    pub const TEXT: u32 = 25;
    /// `json`
    pub const JSON: u32 = 114;
    /// `cidr`
    pub const CIDR: u32 = 650;
    /// `float4`
    pub const FLOAT4: u32 = 700;
    /// `float8`
    pub const FLOAT8: u32 = 701;
    /// `inet`
    pub const INET: u32 = 869;
    /// `bpchar` (`character(n)`)
    pub const BPCHAR: u32 = 1042;
    /// `varchar` (`character varying(n)`)
    pub const VARCHAR: u32 = 1043;
    /// `date`
    pub const DATE: u32 = 1082;
    /// `time` (without time zone)
    pub const TIME: u32 = 1083;
    /// `timestamp` (without time zone)
    pub const TIMESTAMP: u32 = 1114;
    /// `timestamptz`
    pub const TIMESTAMPTZ: u32 = 1184;
    /// `interval`
    pub const INTERVAL: u32 = 1186;
    /// `numeric`
    pub const NUMERIC: u32 = 1700;
    /// `uuid`
    pub const UUID: u32 = 2950;
    /// `jsonb`
    pub const JSONB: u32 = 3802;
    /// OIDs below this are built into PostgreSQL (`FirstNormalObjectId`).
    pub const FIRST_NORMAL: u32 = 16_384;
}

/// A domain's constraints, as the source catalog states them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DomainDef {
    /// `pg_type.typnotnull`.
    pub not_null: bool,
    /// CHECK constraints: name and `pg_get_constraintdef` text.
    pub checks: Vec<(String, String)>,
    /// The DEFAULT expression (`pg_get_expr` of `typdefaultbin`), if any.
    pub default: Option<String>,
}

/// Catalog facts about one column's type, as the connector reads them from
/// `pg_catalog`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogType {
    /// `pg_type.oid`.
    pub oid: u32,
    /// `pg_type.typname`, e.g. `"int4"`, `"numeric"`, `"_int4"`, `"mood"`.
    pub name: String,
    /// `pg_type.typtype`: `'b'` base, `'e'` enum, `'d'` domain, `'c'` composite,
    /// `'r'` range, `'m'` multirange, `'p'` pseudo.
    pub category: char,
    /// `pg_attribute.atttypmod` (`-1` when none).
    pub typmod: i32,
    /// `format_type(atttypid, atttypmod)`, e.g. `"numeric(12,2)"`,
    /// `"character varying(20)"`, `"integer[]"`, `"mood"`.
    pub formatted: String,
    /// For arrays: the element type (its `typmod` is the column's).
    pub element: Option<Box<CatalogType>>,
    /// The type has no binary send or receive function (binary COPY cannot
    /// carry it).
    pub lacks_binary_io: bool,
    /// The extension that provides the type, if any.
    pub extension: Option<String>,
    /// For domains: the base type (with the domain's `typtypmod`).
    pub base: Option<Box<CatalogType>>,
    /// For domains: NOT NULL and CHECK constraints.
    pub domain: Option<DomainDef>,
    /// For composites: the attributes (name, type), in order, dropped ones left out.
    pub attributes: Vec<(String, CatalogType)>,
    /// For enums: the labels in sort order.
    pub enum_labels: Vec<String>,
}

/// A user-defined type: its name as `format_type` prints it (quoted and
/// schema-qualified when PostgreSQL needs that) and its OID in the database
/// it was read from (0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UserType {
    /// `format_type` of the type.
    pub name: String,
    /// `pg_type.oid`; per database.
    pub oid: u32,
    /// For enums: the labels in sort order, when they were read (they
    /// travel in [`ENUM_LABELS_KEY`] so a destination can create the type).
    pub labels: Vec<String>,
}

impl From<&str> for UserType {
    fn from(name: &str) -> Self {
        UserType {
            name: name.to_string(),
            ..UserType::default()
        }
    }
}

/// One attribute of a composite type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Its type.
    pub ty: PgType,
    /// The attribute's type OID (`atttypid`), which binary record values
    /// announce per field and `record_recv` checks; 0 when unknown.
    pub oid: u32,
}

/// A PostgreSQL column type the connectors can move exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PgType {
    /// `int2` / `smallint`.
    Int2,
    /// `int4` / `integer`.
    Int4,
    /// `int8` / `bigint`.
    Int8,
    /// `float4` / `real`.
    Float4,
    /// `float8` / `double precision`.
    Float8,
    /// `numeric`, `numeric(p)` or `numeric(p,s)`. `scale` is signed because
    /// PostgreSQL 15+ accepts negative scales (`numeric(5,-2)`) and scales
    /// larger than the precision.
    Numeric {
        /// Declared precision, `None` when unconstrained.
        precision: Option<u32>,
        /// Declared scale, `None` when unconstrained.
        scale: Option<i32>,
    },
    /// `text`.
    Text,
    /// `varchar(n)`; `None` when no length is declared.
    Varchar(Option<u32>),
    /// `char(n)` / `bpchar`; `None` when no length is declared.
    Bpchar(Option<u32>),
    /// `bool` / `boolean`.
    Bool,
    /// `bytea`.
    Bytea,
    /// `date`.
    Date,
    /// `time(p)` (without time zone); `None` when no precision is declared.
    Time(Option<u32>),
    /// `timestamp(p)` (without time zone).
    Timestamp(Option<u32>),
    /// `timestamptz(p)`.
    Timestamptz(Option<u32>),
    /// `interval`, with its raw typmod (fields and precision) when declared.
    Interval(Option<i32>),
    /// `uuid`.
    Uuid,
    /// `json`.
    Json,
    /// `jsonb`.
    Jsonb,
    /// `inet`.
    Inet,
    /// `cidr`.
    Cidr,
    /// A user-defined enum.
    Enum(UserType),
    /// An array (any number of dimensions) of a non-array type.
    Array(Box<PgType>),
    /// A composite type.
    Composite {
        /// Its name and OID.
        ty: UserType,
        /// Its attributes.
        attributes: Vec<Attribute>,
    },
    /// A domain over `base`.
    Domain {
        /// Its name and OID.
        ty: UserType,
        /// The base type (the domain's own typmod applied).
        base: Box<PgType>,
        /// Its constraints.
        def: DomainDef,
    },
    /// Any other type with binary I/O, carried as its binary send bytes.
    Opaque {
        /// Its name (`format_type`, typmod included) and OID.
        ty: UserType,
        /// The extension providing it, if any.
        extension: Option<String>,
    },
}

/// A column type this crate cannot move exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedType {
    /// The type as PostgreSQL names it (`format_type`, else `typname`).
    pub type_name: String,
    /// Why it cannot be moved.
    pub reason: String,
}

impl fmt::Display for UnsupportedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PostgreSQL type `{}` cannot be copied exactly: {}",
            self.type_name, self.reason
        )
    }
}

impl std::error::Error for UnsupportedType {}

/// `atttypmod` as a length for `varchar(n)` / `char(n)` / `bit(n)`: the
/// typmod includes the 4-byte varlena header.
fn length_from_typmod(typmod: i32) -> Option<u32> {
    (typmod >= 4).then(|| (typmod - 4) as u32)
}

/// `atttypmod` as a fractional-seconds precision (`time(p)`, `timestamp(p)`).
fn precision_from_typmod(typmod: i32) -> Option<u32> {
    (typmod >= 0).then_some(typmod as u32)
}

/// `atttypmod` as `(precision, scale)` for `numeric`. Precision is the high
/// 16 bits; scale is the low 11 bits read as a signed number (PostgreSQL 15+;
/// identical to the older unsigned 16-bit reading for scales 0..=1000).
fn numeric_from_typmod(typmod: i32) -> (Option<u32>, Option<i32>) {
    if typmod < 4 {
        return (None, None);
    }
    let t = typmod - 4;
    let precision = ((t >> 16) & 0xffff) as u32;
    let scale = ((t & 0x7ff) ^ 1024) - 1024;
    (Some(precision), Some(scale))
}

/// The SQL text of an interval typmod, as `intervaltypmodout` prints it
/// (`" day to second(3)"`, `"(2)"`, `" year to month"`).
fn interval_typmod_sql(typmod: i32) -> String {
    const MONTH: i32 = 1 << 1;
    const YEAR: i32 = 1 << 2;
    const DAY: i32 = 1 << 3;
    const HOUR: i32 = 1 << 10;
    const MINUTE: i32 = 1 << 11;
    const SECOND: i32 = 1 << 12;
    const FULL_RANGE: i32 = 0x7FFF;
    const FULL_PRECISION: i32 = 0xFFFF;
    let range = (typmod >> 16) & 0x7FFF;
    let precision = typmod & 0xFFFF;
    let fields = match range {
        r if r == YEAR => " year",
        r if r == MONTH => " month",
        r if r == DAY => " day",
        r if r == HOUR => " hour",
        r if r == MINUTE => " minute",
        r if r == SECOND => " second",
        r if r == YEAR | MONTH => " year to month",
        r if r == DAY | HOUR => " day to hour",
        r if r == DAY | HOUR | MINUTE => " day to minute",
        r if r == DAY | HOUR | MINUTE | SECOND => " day to second",
        r if r == HOUR | MINUTE => " hour to minute",
        r if r == HOUR | MINUTE | SECOND => " hour to second",
        r if r == MINUTE | SECOND => " minute to second",
        FULL_RANGE => "",
        _ => "",
    };
    if precision == FULL_PRECISION {
        fields.to_string()
    } else {
        format!("{fields}({precision})")
    }
}

impl CatalogType {
    fn display_name(&self) -> String {
        if self.formatted.is_empty() {
            self.name.clone()
        } else {
            self.formatted.clone()
        }
    }

    fn user_type(&self) -> UserType {
        UserType {
            name: self.display_name(),
            oid: self.oid,
            labels: self.enum_labels.clone(),
        }
    }
}

impl PgType {
    /// Resolves a column's catalog facts into a `PgType`.
    ///
    /// Built-in types with an Arrow-native mapping are matched by OID; enums,
    /// domains and composites by `category`; arrays by their `element`; any
    /// other type with binary I/O becomes [`PgType::Opaque`]. Pseudo-types
    /// and types without binary I/O are [`UnsupportedType`].
    pub fn from_catalog(t: &CatalogType) -> Result<PgType, UnsupportedType> {
        let unsupported = |reason: &str| UnsupportedType {
            type_name: t.display_name(),
            reason: reason.to_string(),
        };
        if let Some(element) = &t.element {
            if element.element.is_some() {
                return Err(unsupported("an array of arrays is not a PostgreSQL type"));
            }
            return match PgType::from_catalog(element) {
                Ok(inner) => Ok(PgType::Array(Box::new(inner))),
                Err(e) => Err(UnsupportedType {
                    type_name: t.display_name(),
                    reason: e.reason,
                }),
            };
        }
        match t.category {
            'e' => return Ok(PgType::Enum(t.user_type())),
            'd' => {
                let base = t
                    .base
                    .as_deref()
                    .ok_or_else(|| unsupported("the domain's base type was not read"))?;
                return Ok(PgType::Domain {
                    ty: t.user_type(),
                    base: Box::new(PgType::from_catalog(base).map_err(|e| UnsupportedType {
                        type_name: t.display_name(),
                        reason: format!("its base type `{}`: {}", e.type_name, e.reason),
                    })?),
                    def: t.domain.clone().unwrap_or_default(),
                });
            }
            'c' => {
                let mut attributes = Vec::with_capacity(t.attributes.len());
                for (name, a) in &t.attributes {
                    let ty = PgType::from_catalog(a).map_err(|e| UnsupportedType {
                        type_name: t.display_name(),
                        reason: format!("attribute `{name}` of type `{}`: {}", e.type_name, e.reason),
                    })?;
                    attributes.push(Attribute {
                        name: name.clone(),
                        ty,
                        oid: a.oid,
                    });
                }
                return Ok(PgType::Composite {
                    ty: t.user_type(),
                    attributes,
                });
            }
            'p' => return Err(unsupported("it is a pseudo-type")),
            _ => {}
        }
        Ok(match t.oid {
            oid::INT2 => PgType::Int2,
            oid::INT4 => PgType::Int4,
            oid::INT8 => PgType::Int8,
            oid::FLOAT4 => PgType::Float4,
            oid::FLOAT8 => PgType::Float8,
            oid::NUMERIC => {
                let (precision, scale) = numeric_from_typmod(t.typmod);
                PgType::Numeric { precision, scale }
            }
            oid::TEXT => PgType::Text,
            oid::VARCHAR => PgType::Varchar(length_from_typmod(t.typmod)),
            oid::BPCHAR => PgType::Bpchar(length_from_typmod(t.typmod)),
            oid::BOOL => PgType::Bool,
            oid::BYTEA => PgType::Bytea,
            oid::DATE => PgType::Date,
            oid::TIME => PgType::Time(precision_from_typmod(t.typmod)),
            oid::TIMESTAMP => PgType::Timestamp(precision_from_typmod(t.typmod)),
            oid::TIMESTAMPTZ => PgType::Timestamptz(precision_from_typmod(t.typmod)),
            oid::INTERVAL => PgType::Interval((t.typmod >= 0).then_some(t.typmod)),
            oid::UUID => PgType::Uuid,
            oid::JSON => PgType::Json,
            oid::JSONB => PgType::Jsonb,
            oid::INET => PgType::Inet,
            oid::CIDR => PgType::Cidr,
            _ if t.lacks_binary_io => {
                return Err(unsupported(
                    "it has no binary send/receive functions, so binary COPY cannot carry it; leave the column out with `columns:`",
                ));
            }
            _ => PgType::Opaque {
                ty: t.user_type(),
                extension: t.extension.clone(),
            },
        })
    }

    /// The type OID binary COPY writes in array headers: built-in OIDs for
    /// the native types, the catalog's OID for the others (`None` when it
    /// was not read, and for arrays, whose headers carry the element's).
    pub fn oid(&self) -> Option<u32> {
        Some(match self {
            PgType::Int2 => oid::INT2,
            PgType::Int4 => oid::INT4,
            PgType::Int8 => oid::INT8,
            PgType::Float4 => oid::FLOAT4,
            PgType::Float8 => oid::FLOAT8,
            PgType::Numeric { .. } => oid::NUMERIC,
            PgType::Text => oid::TEXT,
            PgType::Varchar(_) => oid::VARCHAR,
            PgType::Bpchar(_) => oid::BPCHAR,
            PgType::Bool => oid::BOOL,
            PgType::Bytea => oid::BYTEA,
            PgType::Date => oid::DATE,
            PgType::Time(_) => oid::TIME,
            PgType::Timestamp(_) => oid::TIMESTAMP,
            PgType::Timestamptz(_) => oid::TIMESTAMPTZ,
            PgType::Interval(_) => oid::INTERVAL,
            PgType::Uuid => oid::UUID,
            PgType::Json => oid::JSON,
            PgType::Jsonb => oid::JSONB,
            PgType::Inet => oid::INET,
            PgType::Cidr => oid::CIDR,
            PgType::Enum(t)
            | PgType::Composite { ty: t, .. }
            | PgType::Domain { ty: t, .. }
            | PgType::Opaque { ty: t, .. } => return (t.oid != 0).then_some(t.oid),
            PgType::Array(_) => return None,
        })
    }

    /// `Some((precision, scale))` when this is a `numeric` carried as
    /// `Decimal128(precision, scale)`: declared precision 1..=38 and scale
    /// 0..=precision (Arrow's `Decimal128` cannot hold a scale larger than
    /// its precision; negative scales are carried as text so every consumer
    /// reads them without special cases).
    pub fn decimal128(&self) -> Option<(u8, i8)> {
        match self {
            PgType::Numeric {
                precision: Some(p),
                scale,
            } if (1..=DECIMAL128_MAX_PRECISION).contains(p) => {
                let s = scale.unwrap_or(0);
                (0..=*p as i32).contains(&s).then_some((*p as u8, s as i8))
            }
            _ => None,
        }
    }

    /// The type that decides how values are decoded and encoded: a domain's
    /// base type (through nested domains), else the type itself.
    pub fn storage(&self) -> &PgType {
        match self {
            PgType::Domain { base, .. } => base.storage(),
            t => t,
        }
    }

    /// The Arrow field for a column (or nested element) of this type, with
    /// the metadata a destination needs to recreate it: [`PG_TYPE_KEY`] at
    /// every level, enum labels, domain definitions, the extension and the
    /// encoding of fallback columns.
    pub fn field(&self, name: &str, nullable: bool) -> Field {
        let mut md = HashMap::from([(PG_TYPE_KEY.to_string(), self.sql_name())]);
        match self {
            PgType::Enum(t) => {
                md.insert(PG_KIND_KEY.to_string(), "enum".to_string());
                if !t.labels.is_empty() {
                    let list: Vec<String> = t.labels.iter().map(|s| json_string(s)).collect();
                    md.insert(ENUM_LABELS_KEY.to_string(), format!("[{}]", list.join(",")));
                }
            }
            PgType::Composite { .. } => {
                md.insert(PG_KIND_KEY.to_string(), "composite".to_string());
            }
            PgType::Domain { base, def, .. } => {
                md.insert(PG_KIND_KEY.to_string(), "domain".to_string());
                let checks: Vec<_> = def
                    .checks
                    .iter()
                    .map(|(name, def)| json_object(&[("name", name), ("def", def)]))
                    .collect();
                let default = match &def.default {
                    Some(d) => format!(",\"default\":{}", json_string(d)),
                    None => String::new(),
                };
                md.insert(
                    PG_DOMAIN_KEY.to_string(),
                    format!(
                        "{{\"base\":{},\"not_null\":{},\"checks\":[{}]{default}}}",
                        json_string(&base.sql_name()),
                        def.not_null,
                        checks.join(",")
                    ),
                );
                // The base's own metadata (labels of an enum base, encoding…).
                let inner = base.field(name, nullable);
                for (k, v) in inner.metadata() {
                    if k != PG_TYPE_KEY && k != PG_KIND_KEY {
                        md.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            PgType::Opaque { extension, .. } => {
                md.insert(PG_ENCODING_KEY.to_string(), PG_ENCODING_BINARY.to_string());
                if let Some(ext) = extension {
                    md.insert(PG_EXTENSION_KEY.to_string(), ext.clone());
                }
            }
            _ => {}
        }
        Field::new(name, self.arrow_type(), nullable).with_metadata(md)
    }

    /// The Arrow type a batch carries for this PostgreSQL type (see the
    /// module table).
    pub fn arrow_type(&self) -> DataType {
        match self {
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Float4 => DataType::Float32,
            PgType::Float8 => DataType::Float64,
            // numeric(p,s), 1 <= p <= 38, 0 <= s <= p -> Decimal128(p,s), with
            // sentinels for NaN/±Infinity; any other numeric -> numeric_out text.
            PgType::Numeric { .. } => match self.decimal128() {
                Some((p, s)) => DataType::Decimal128(p, s),
                None => DataType::Utf8,
            },
            PgType::Text | PgType::Varchar(_) | PgType::Bpchar(_) => DataType::Utf8,
            PgType::Bool => DataType::Boolean,
            PgType::Bytea => DataType::Binary,
            PgType::Date => DataType::Date32,
            PgType::Time(_) => DataType::Time64(TimeUnit::Microsecond),
            PgType::Timestamp(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgType::Timestamptz(_) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMPTZ_ZONE.into()))
            }
            PgType::Interval(_) => DataType::Struct(interval_fields()),
            PgType::Uuid => DataType::FixedSizeBinary(16),
            PgType::Json | PgType::Jsonb => DataType::Utf8,
            PgType::Inet | PgType::Cidr => DataType::Utf8,
            PgType::Enum(_) => DataType::Utf8,
            PgType::Array(element) => DataType::Struct(array_fields(element.field("item", true))),
            PgType::Composite { attributes, .. } => DataType::Struct(Fields::from(
                attributes
                    .iter()
                    .map(|a| a.ty.field(&a.name, true))
                    .collect::<Vec<_>>(),
            )),
            PgType::Domain { base, .. } => base.arrow_type(),
            PgType::Opaque { .. } => DataType::Binary,
        }
    }

    /// The natural PostgreSQL type of an Arrow type, for a column that
    /// carries no `rapidbyte.pg_type` (a non-PostgreSQL source). `None`
    /// where no type holds the Arrow values exactly.
    pub fn for_arrow(t: &DataType) -> Option<PgType> {
        Some(match t {
            DataType::Int16 => PgType::Int2,
            DataType::Int32 => PgType::Int4,
            DataType::Int64 => PgType::Int8,
            DataType::Float32 => PgType::Float4,
            DataType::Float64 => PgType::Float8,
            DataType::Decimal128(p, s) if *s >= 0 => PgType::Numeric { precision: Some(u32::from(*p)), scale: Some(i32::from(*s)) },
            DataType::Utf8 => PgType::Text,
            DataType::Boolean => PgType::Bool,
            DataType::Binary => PgType::Bytea,
            DataType::Date32 => PgType::Date,
            DataType::Time64(TimeUnit::Microsecond) => PgType::Time(None),
            DataType::Timestamp(TimeUnit::Microsecond, None) => PgType::Timestamp(None),
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => PgType::Timestamptz(None),
            DataType::Interval(arrow_schema::IntervalUnit::MonthDayNano) => PgType::Interval(None),
            DataType::FixedSizeBinary(16) => PgType::Uuid,
            DataType::List(item) => PgType::Array(Box::new(PgType::for_arrow(item.data_type())?)),
            _ => return None,
        })
    }

    /// The SQL type that recreates this column exactly, e.g. `numeric(12,2)`,
    /// `numeric`, `varchar(20)`, `char(3)`, `timestamptz(3)`, `integer[]`,
    /// `interval day to second(3)`; for a user type or a fallback type, its
    /// `format_type` name.
    pub fn sql_name(&self) -> String {
        let with_precision = |name: &str, p: &Option<u32>| match p {
            Some(p) => format!("{name}({p})"),
            None => name.to_string(),
        };
        match self {
            PgType::Int2 => "smallint".into(),
            PgType::Int4 => "integer".into(),
            PgType::Int8 => "bigint".into(),
            PgType::Float4 => "real".into(),
            PgType::Float8 => "double precision".into(),
            PgType::Numeric {
                precision: Some(p),
                scale: Some(s),
            } => format!("numeric({p},{s})"),
            PgType::Numeric {
                precision: Some(p),
                scale: None,
            } => format!("numeric({p})"),
            PgType::Numeric {
                precision: None, ..
            } => "numeric".into(),
            PgType::Text => "text".into(),
            PgType::Varchar(Some(n)) => format!("varchar({n})"),
            PgType::Varchar(None) => "varchar".into(),
            PgType::Bpchar(Some(n)) => format!("char({n})"),
            // Bare `char` would mean char(1); `bpchar` is the unbounded form.
            PgType::Bpchar(None) => "bpchar".into(),
            PgType::Bool => "boolean".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Date => "date".into(),
            PgType::Time(p) => with_precision("time", p),
            PgType::Timestamp(p) => with_precision("timestamp", p),
            PgType::Timestamptz(p) => with_precision("timestamptz", p),
            PgType::Interval(None) => "interval".into(),
            PgType::Interval(Some(typmod)) => format!("interval{}", interval_typmod_sql(*typmod)),
            PgType::Uuid => "uuid".into(),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Inet => "inet".into(),
            PgType::Cidr => "cidr".into(),
            PgType::Enum(t)
            | PgType::Composite { ty: t, .. }
            | PgType::Domain { ty: t, .. }
            | PgType::Opaque { ty: t, .. } => t.name.clone(),
            PgType::Array(element) => format!("{}[]", element.sql_name()),
        }
    }
}

/// The children of an interval's `Struct`.
pub fn interval_fields() -> Fields {
    Fields::from(vec![
        Field::new(INTERVAL_FIELDS[0], DataType::Int32, false),
        Field::new(INTERVAL_FIELDS[1], DataType::Int32, false),
        Field::new(INTERVAL_FIELDS[2], DataType::Int64, false),
    ])
}

/// The children of an array's `Struct` whose element field is `item`.
pub fn array_fields(item: Field) -> Fields {
    Fields::from(vec![
        Field::new(ARRAY_ITEMS, DataType::List(Arc::new(item)), false),
        Field::new(
            ARRAY_SHAPE,
            DataType::List(Arc::new(Field::new_list_field(DataType::Int32, false))),
            true,
        ),
    ])
}

/// A JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

/// Appends `s` to `out` as a JSON string literal (quotes, backslashes and
/// control characters escaped).
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_object(pairs: &[(&str, &String)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_types_without_a_recorded_type_have_their_natural_name() {
        let name = |t: DataType| PgType::for_arrow(&t).map(|t| t.sql_name());
        assert_eq!(name(DataType::Int64).as_deref(), Some("bigint"));
        assert_eq!(name(DataType::Decimal128(12, 2)).as_deref(), Some("numeric(12,2)"));
        assert_eq!(name(DataType::Decimal128(12, -2)), None, "a negative Arrow scale has no exact type");
        assert_eq!(name(DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))).as_deref(), Some("timestamptz"));
        assert_eq!(name(DataType::Timestamp(TimeUnit::Nanosecond, None)), None, "nanoseconds would be rounded");
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        assert_eq!(name(list).as_deref(), Some("integer[]"));
        assert_eq!(name(DataType::FixedSizeBinary(16)).as_deref(), Some("uuid"));
    }

    fn cat(oid: u32, name: &str, typmod: i32, formatted: &str) -> CatalogType {
        CatalogType {
            oid,
            name: name.into(),
            category: 'b',
            typmod,
            formatted: formatted.into(),
            ..Default::default()
        }
    }

    fn with_category(mut t: CatalogType, category: char) -> CatalogType {
        t.category = category;
        t
    }

    fn array_of(element: CatalogType, oid: u32, formatted: &str) -> CatalogType {
        CatalogType {
            oid,
            name: format!("_{}", element.name),
            category: 'b',
            typmod: element.typmod,
            formatted: formatted.into(),
            element: Some(Box::new(element)),
            ..Default::default()
        }
    }

    fn numeric_typmod(p: i32, s: i32) -> i32 {
        ((p << 16) | (s & 0x7ff)) + 4
    }

    /// `INTERVAL_TYPMOD(precision, range)`.
    fn interval_typmod(precision: i32, range: i32) -> i32 {
        ((range & 0x7FFF) << 16) | (precision & 0xFFFF)
    }

    const MONTH: i32 = 1 << 1;
    const YEAR: i32 = 1 << 2;
    const DAY: i32 = 1 << 3;
    const HOUR: i32 = 1 << 10;
    const MINUTE: i32 = 1 << 11;
    const SECOND: i32 = 1 << 12;
    const FULL_RANGE: i32 = 0x7FFF;
    const FULL_PRECISION: i32 = 0xFFFF;

    fn md(field: &Field, key: &str) -> Option<String> {
        field.metadata().get(key).cloned()
    }

    #[test]
    fn builtin_oids_resolve() {
        let cases = [
            (21, "int2", PgType::Int2, DataType::Int16, "smallint"),
            (23, "int4", PgType::Int4, DataType::Int32, "integer"),
            (20, "int8", PgType::Int8, DataType::Int64, "bigint"),
            (700, "float4", PgType::Float4, DataType::Float32, "real"),
            (
                701,
                "float8",
                PgType::Float8,
                DataType::Float64,
                "double precision",
            ),
            (25, "text", PgType::Text, DataType::Utf8, "text"),
            (16, "bool", PgType::Bool, DataType::Boolean, "boolean"),
            (17, "bytea", PgType::Bytea, DataType::Binary, "bytea"),
            (1082, "date", PgType::Date, DataType::Date32, "date"),
            (
                1083,
                "time",
                PgType::Time(None),
                DataType::Time64(TimeUnit::Microsecond),
                "time",
            ),
            (
                1114,
                "timestamp",
                PgType::Timestamp(None),
                DataType::Timestamp(TimeUnit::Microsecond, None),
                "timestamp",
            ),
            (
                1184,
                "timestamptz",
                PgType::Timestamptz(None),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                "timestamptz",
            ),
            (
                1186,
                "interval",
                PgType::Interval(None),
                DataType::Struct(interval_fields()),
                "interval",
            ),
            (
                2950,
                "uuid",
                PgType::Uuid,
                DataType::FixedSizeBinary(16),
                "uuid",
            ),
            (114, "json", PgType::Json, DataType::Utf8, "json"),
            (3802, "jsonb", PgType::Jsonb, DataType::Utf8, "jsonb"),
            (869, "inet", PgType::Inet, DataType::Utf8, "inet"),
            (650, "cidr", PgType::Cidr, DataType::Utf8, "cidr"),
        ];
        for (oid, name, ty, arrow, sql) in cases {
            let got = PgType::from_catalog(&cat(oid, name, -1, name)).unwrap();
            assert_eq!(got, ty, "{name}");
            assert_eq!(got.arrow_type(), arrow, "{name}");
            assert_eq!(got.sql_name(), sql, "{name}");
            assert_eq!(got.oid(), Some(oid), "{name}");
            let field = got.field("c", true);
            assert_eq!(md(&field, PG_TYPE_KEY).as_deref(), Some(sql), "{name}");
            assert_eq!(md(&field, PG_ENCODING_KEY), None, "{name}");
            assert_eq!(md(&field, PG_KIND_KEY), None, "{name}");
        }
    }

    #[test]
    fn interval_is_a_struct_of_postgres_fields() {
        let fields = interval_fields();
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, INTERVAL_FIELDS);
        assert_eq!(names, ["months", "days", "microseconds"]);
        let types: Vec<&DataType> = fields.iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            [&DataType::Int32, &DataType::Int32, &DataType::Int64]
        );
        assert!(fields.iter().all(|f| !f.is_nullable()));
    }

    #[test]
    fn numeric_typmods() {
        let t = PgType::from_catalog(&cat(
            1700,
            "numeric",
            numeric_typmod(12, 2),
            "numeric(12,2)",
        ))
        .unwrap();
        assert_eq!(
            t,
            PgType::Numeric {
                precision: Some(12),
                scale: Some(2)
            }
        );
        assert_eq!(t.arrow_type(), DataType::Decimal128(12, 2));
        assert_eq!(t.sql_name(), "numeric(12,2)");

        let t = PgType::from_catalog(&cat(1700, "numeric", -1, "numeric")).unwrap();
        assert_eq!(
            t,
            PgType::Numeric {
                precision: None,
                scale: None
            }
        );
        assert_eq!(t.arrow_type(), DataType::Utf8);
        assert_eq!(t.sql_name(), "numeric");

        // numeric(38,10) is the widest Decimal128; numeric(39,0) is text.
        let t = PgType::from_catalog(&cat(1700, "numeric", numeric_typmod(38, 10), "")).unwrap();
        assert_eq!(t.arrow_type(), DataType::Decimal128(38, 10));
        let t = PgType::from_catalog(&cat(1700, "numeric", numeric_typmod(39, 0), "")).unwrap();
        assert_eq!(t.arrow_type(), DataType::Utf8);
        assert_eq!(t.sql_name(), "numeric(39,0)");

        // numeric(10) is numeric(10,0).
        let t = PgType::from_catalog(&cat(
            1700,
            "numeric",
            numeric_typmod(10, 0),
            "numeric(10,0)",
        ))
        .unwrap();
        assert_eq!(t.arrow_type(), DataType::Decimal128(10, 0));
        assert_eq!(t.sql_name(), "numeric(10,0)");

        // PostgreSQL 15+: negative scale and scale > precision, carried as text.
        let t = PgType::from_catalog(&cat(
            1700,
            "numeric",
            numeric_typmod(5, -2),
            "numeric(5,-2)",
        ))
        .unwrap();
        assert_eq!(
            t,
            PgType::Numeric {
                precision: Some(5),
                scale: Some(-2)
            }
        );
        assert_eq!(t.arrow_type(), DataType::Utf8);
        assert_eq!(t.sql_name(), "numeric(5,-2)");
        let t = PgType::from_catalog(&cat(1700, "numeric", numeric_typmod(3, 5), "numeric(3,5)"))
            .unwrap();
        assert_eq!(t.arrow_type(), DataType::Utf8);
        assert_eq!(t.sql_name(), "numeric(3,5)");

        // Largest legal scale (1000) reads the same under the old and new layouts.
        let t =
            PgType::from_catalog(&cat(1700, "numeric", numeric_typmod(1000, 1000), "")).unwrap();
        assert_eq!(
            t,
            PgType::Numeric {
                precision: Some(1000),
                scale: Some(1000)
            }
        );
    }

    #[test]
    fn decimal_sentinels_lie_outside_every_precision() {
        let max38 = 10i128.pow(38) - 1;
        for s in [DECIMAL_NAN, DECIMAL_INFINITY, DECIMAL_NEG_INFINITY] {
            assert!(s > max38 || s < -max38, "{s}");
        }
        assert_eq!(DECIMAL_NAN, i128::MIN);
        assert_eq!(DECIMAL_INFINITY, i128::MAX);
        assert_eq!(DECIMAL_NEG_INFINITY, i128::MIN + 1);
        // Three distinct values.
        assert_ne!(DECIMAL_NAN, DECIMAL_NEG_INFINITY);
    }

    #[test]
    fn character_typmods() {
        let t = PgType::from_catalog(&cat(1043, "varchar", 24, "character varying(20)")).unwrap();
        assert_eq!(t, PgType::Varchar(Some(20)));
        assert_eq!(t.sql_name(), "varchar(20)");
        let t = PgType::from_catalog(&cat(1043, "varchar", -1, "character varying")).unwrap();
        assert_eq!(t, PgType::Varchar(None));
        assert_eq!(t.sql_name(), "varchar");
        let t = PgType::from_catalog(&cat(1042, "bpchar", 7, "character(3)")).unwrap();
        assert_eq!(t, PgType::Bpchar(Some(3)));
        assert_eq!(t.sql_name(), "char(3)");
        assert_eq!(t.arrow_type(), DataType::Utf8);
        let t = PgType::from_catalog(&cat(1042, "bpchar", -1, "bpchar")).unwrap();
        assert_eq!(t, PgType::Bpchar(None));
        assert_eq!(t.sql_name(), "bpchar");
    }

    #[test]
    fn time_typmods_are_precisions() {
        let cases = [
            (
                1083,
                "time",
                2,
                "time(2) without time zone",
                PgType::Time(Some(2)),
                "time(2)",
            ),
            (
                1083,
                "time",
                0,
                "time(0) without time zone",
                PgType::Time(Some(0)),
                "time(0)",
            ),
            (
                1114,
                "timestamp",
                3,
                "timestamp(3) without time zone",
                PgType::Timestamp(Some(3)),
                "timestamp(3)",
            ),
            (
                1184,
                "timestamptz",
                3,
                "timestamp(3) with time zone",
                PgType::Timestamptz(Some(3)),
                "timestamptz(3)",
            ),
            (
                1184,
                "timestamptz",
                0,
                "timestamp(0) with time zone",
                PgType::Timestamptz(Some(0)),
                "timestamptz(0)",
            ),
            (
                1184,
                "timestamptz",
                6,
                "timestamp(6) with time zone",
                PgType::Timestamptz(Some(6)),
                "timestamptz(6)",
            ),
        ];
        for (oid, name, typmod, formatted, want, sql) in cases {
            let t = PgType::from_catalog(&cat(oid, name, typmod, formatted)).unwrap();
            assert_eq!(t, want, "{formatted}");
            assert_eq!(t.sql_name(), sql, "{formatted}");
            assert_eq!(t.oid(), Some(oid));
        }
        // The precision does not change the Arrow type.
        assert_eq!(
            PgType::Timestamptz(Some(0)).arrow_type(),
            PgType::Timestamptz(None).arrow_type()
        );
        assert_eq!(
            PgType::Time(Some(2)).arrow_type(),
            PgType::Time(None).arrow_type()
        );
    }

    #[test]
    fn interval_typmods_print_like_intervaltypmodout() {
        let cases = [
            (
                interval_typmod(3, DAY | HOUR | MINUTE | SECOND),
                "interval day to second(3)",
            ),
            (
                interval_typmod(FULL_PRECISION, YEAR | MONTH),
                "interval year to month",
            ),
            (interval_typmod(FULL_PRECISION, YEAR), "interval year"),
            (interval_typmod(FULL_PRECISION, MONTH), "interval month"),
            (interval_typmod(FULL_PRECISION, DAY), "interval day"),
            (interval_typmod(FULL_PRECISION, HOUR), "interval hour"),
            (interval_typmod(FULL_PRECISION, MINUTE), "interval minute"),
            (interval_typmod(0, SECOND), "interval second(0)"),
            (
                interval_typmod(FULL_PRECISION, DAY | HOUR),
                "interval day to hour",
            ),
            (
                interval_typmod(FULL_PRECISION, DAY | HOUR | MINUTE),
                "interval day to minute",
            ),
            (
                interval_typmod(FULL_PRECISION, DAY | HOUR | MINUTE | SECOND),
                "interval day to second",
            ),
            (
                interval_typmod(FULL_PRECISION, HOUR | MINUTE),
                "interval hour to minute",
            ),
            (
                interval_typmod(6, HOUR | MINUTE | SECOND),
                "interval hour to second(6)",
            ),
            (
                interval_typmod(1, MINUTE | SECOND),
                "interval minute to second(1)",
            ),
            (interval_typmod(2, FULL_RANGE), "interval(2)"),
        ];
        for (typmod, sql) in cases {
            let t = PgType::from_catalog(&cat(1186, "interval", typmod, sql)).unwrap();
            assert_eq!(t, PgType::Interval(Some(typmod)), "{sql}");
            assert_eq!(t.sql_name(), sql);
            assert_eq!(t.arrow_type(), DataType::Struct(interval_fields()), "{sql}");
        }
        assert_eq!(
            PgType::from_catalog(&cat(1186, "interval", -1, "interval")).unwrap(),
            PgType::Interval(None)
        );
    }

    #[test]
    fn enums_resolve_by_category() {
        let mut c = with_category(cat(16_385, "mood", -1, "mood"), 'e');
        c.enum_labels = vec!["sad".into(), "ok".into(), "with \"quote\"".into()];
        let t = PgType::from_catalog(&c).unwrap();
        assert_eq!(
            t,
            PgType::Enum(UserType {
                name: "mood".into(),
                oid: 16_385,
                labels: vec!["sad".into(), "ok".into(), "with \"quote\"".into()],
            })
        );
        assert_eq!(t.sql_name(), "mood");
        assert_eq!(t.arrow_type(), DataType::Utf8);
        assert_eq!(t.oid(), Some(16_385));
        let field = t.field("m", true);
        assert_eq!(md(&field, PG_TYPE_KEY).as_deref(), Some("mood"));
        assert_eq!(md(&field, PG_KIND_KEY).as_deref(), Some("enum"));
        assert_eq!(
            md(&field, ENUM_LABELS_KEY).as_deref(),
            Some(r#"["sad","ok","with \"quote\""]"#)
        );

        // Without labels (or an OID): no labels key, no OID.
        let t = PgType::Enum("mood".into());
        assert_eq!(t.oid(), None);
        assert_eq!(md(&t.field("m", true), ENUM_LABELS_KEY), None);
        assert_eq!(
            UserType::from("mood"),
            UserType {
                name: "mood".into(),
                oid: 0,
                labels: vec![]
            }
        );

        // format_type quotes and qualifies when needed; that is what recreates it.
        let c = with_category(cat(16_400, "Mood", -1, "other.\"Mood\""), 'e');
        assert_eq!(
            PgType::from_catalog(&c).unwrap().sql_name(),
            "other.\"Mood\""
        );
    }

    #[test]
    fn arrays_resolve_by_element() {
        let t = PgType::from_catalog(&array_of(cat(23, "int4", -1, "integer"), 1007, "integer[]"))
            .unwrap();
        assert_eq!(t, PgType::Array(Box::new(PgType::Int4)));
        assert_eq!(t.sql_name(), "integer[]");
        assert_eq!(t.oid(), None);
        assert_eq!(
            t.arrow_type(),
            DataType::Struct(array_fields(PgType::Int4.field("item", true)))
        );
        // Struct<items: List<item>, shape: List<Int32>>, the item field typed
        // and named by the element.
        let DataType::Struct(fields) = t.arrow_type() else {
            panic!("arrays are structs")
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].name(), ARRAY_ITEMS);
        assert!(!fields[0].is_nullable());
        assert_eq!(fields[1].name(), ARRAY_SHAPE);
        assert!(fields[1].is_nullable());
        let DataType::List(item) = fields[0].data_type() else {
            panic!("items is a list")
        };
        assert_eq!(item.data_type(), &DataType::Int32);
        assert!(item.is_nullable());
        assert_eq!(md(item, PG_TYPE_KEY).as_deref(), Some("integer"));
        let DataType::List(dim) = fields[1].data_type() else {
            panic!("shape is a list")
        };
        assert_eq!(dim.data_type(), &DataType::Int32);

        let t = PgType::from_catalog(&array_of(
            cat(1043, "varchar", 24, "character varying"),
            1015,
            "character varying(20)[]",
        ))
        .unwrap();
        assert_eq!(t, PgType::Array(Box::new(PgType::Varchar(Some(20)))));
        assert_eq!(t.sql_name(), "varchar(20)[]");

        let t = PgType::from_catalog(&array_of(
            cat(1700, "numeric", numeric_typmod(12, 2), "numeric(12,2)"),
            1231,
            "numeric(12,2)[]",
        ))
        .unwrap();
        let num = PgType::Numeric {
            precision: Some(12),
            scale: Some(2),
        };
        assert_eq!(
            t.arrow_type(),
            DataType::Struct(array_fields(num.field("item", true)))
        );
        assert_eq!(t.sql_name(), "numeric(12,2)[]");
        let field = t.field("n", true);
        assert_eq!(md(&field, PG_TYPE_KEY).as_deref(), Some("numeric(12,2)[]"));
        let DataType::Struct(fields) = field.data_type() else {
            panic!()
        };
        let DataType::List(item) = fields[0].data_type() else {
            panic!()
        };
        assert_eq!(item.data_type(), &DataType::Decimal128(12, 2));
        assert_eq!(md(item, PG_TYPE_KEY).as_deref(), Some("numeric(12,2)"));

        let mood = with_category(cat(16_385, "mood", -1, "mood"), 'e');
        let t = PgType::from_catalog(&array_of(mood, 16_384, "mood[]")).unwrap();
        assert_eq!(t.sql_name(), "mood[]");

        // Arrays of fallback types are arrays of Binary.
        let t = PgType::from_catalog(&array_of(cat(600, "point", -1, "point"), 1017, "point[]"))
            .unwrap();
        assert_eq!(t.sql_name(), "point[]");
        let DataType::Struct(fields) = t.arrow_type() else {
            panic!()
        };
        let DataType::List(item) = fields[0].data_type() else {
            panic!()
        };
        assert_eq!(item.data_type(), &DataType::Binary);
        assert_eq!(
            md(item, PG_ENCODING_KEY).as_deref(),
            Some(PG_ENCODING_BINARY)
        );
        assert_eq!(md(item, PG_TYPE_KEY).as_deref(), Some("point"));
    }

    #[test]
    fn other_types_with_binary_io_are_opaque() {
        let t = PgType::from_catalog(&cat(600, "point", -1, "point")).unwrap();
        assert_eq!(
            t,
            PgType::Opaque {
                ty: UserType {
                    name: "point".into(),
                    oid: 600,
                    labels: vec![]
                },
                extension: None
            }
        );
        assert_eq!(t.arrow_type(), DataType::Binary);
        assert_eq!(t.sql_name(), "point");
        assert_eq!(t.oid(), Some(600));
        let field = t.field("p", true);
        assert_eq!(field.data_type(), &DataType::Binary);
        assert_eq!(md(&field, PG_TYPE_KEY).as_deref(), Some("point"));
        assert_eq!(md(&field, PG_ENCODING_KEY).as_deref(), Some("binary"));
        assert_eq!(md(&field, PG_EXTENSION_KEY), None);

        // The name is format_type's, typmod included; else typname.
        let t = PgType::from_catalog(&cat(1560, "bit", 8, "bit(8)")).unwrap();
        assert_eq!(t.sql_name(), "bit(8)");
        let t = PgType::from_catalog(&cat(142, "xml", -1, "")).unwrap();
        assert_eq!(t.sql_name(), "xml");
        assert_eq!(t.arrow_type(), DataType::Binary);
        for (oid, name) in [
            (1266, "time with time zone"),
            (790, "money"),
            (829, "macaddr"),
        ] {
            let t = PgType::from_catalog(&cat(oid, "x", -1, name)).unwrap();
            assert!(matches!(t, PgType::Opaque { .. }), "{name}");
            assert_eq!(t.sql_name(), name);
        }

        // Ranges and multiranges by category.
        for category in ['r', 'm'] {
            let t = PgType::from_catalog(&with_category(
                cat(3904, "int4range", -1, "int4range"),
                category,
            ))
            .unwrap();
            assert!(matches!(t, PgType::Opaque { .. }));
            assert_eq!(t.arrow_type(), DataType::Binary);
        }

        // An extension type names its extension.
        let mut citext = cat(17_001, "citext", -1, "citext");
        citext.extension = Some("citext".into());
        let t = PgType::from_catalog(&citext).unwrap();
        assert_eq!(
            t,
            PgType::Opaque {
                ty: UserType {
                    name: "citext".into(),
                    oid: 17_001,
                    labels: vec![]
                },
                extension: Some("citext".into())
            }
        );
        let field = t.field("c", false);
        assert!(!field.is_nullable());
        assert_eq!(md(&field, PG_EXTENSION_KEY).as_deref(), Some("citext"));
        assert_eq!(md(&field, PG_ENCODING_KEY).as_deref(), Some("binary"));
    }

    #[test]
    fn domains_take_their_base_type() {
        let mut amount = with_category(cat(16_500, "amount", -1, "amount"), 'd');
        amount.base = Some(Box::new(cat(
            1700,
            "numeric",
            numeric_typmod(10, 2),
            "numeric(10,2)",
        )));
        let t = PgType::from_catalog(&amount).unwrap();
        let base = PgType::Numeric {
            precision: Some(10),
            scale: Some(2),
        };
        assert_eq!(
            t,
            PgType::Domain {
                ty: UserType {
                    name: "amount".into(),
                    oid: 16_500,
                    labels: vec![]
                },
                base: Box::new(base.clone()),
                def: DomainDef::default(),
            }
        );
        assert_eq!(t.arrow_type(), DataType::Decimal128(10, 2));
        assert_eq!(t.sql_name(), "amount");
        assert_eq!(t.oid(), Some(16_500));
        assert_eq!(t.storage(), &base);
        // A domain is not itself a numeric for Decimal128 purposes; its storage is.
        assert_eq!(t.storage().decimal128(), Some((10, 2)));
        let field = t.field("a", true);
        assert_eq!(md(&field, PG_TYPE_KEY).as_deref(), Some("amount"));
        assert_eq!(md(&field, PG_KIND_KEY).as_deref(), Some("domain"));
        assert_eq!(
            md(&field, PG_DOMAIN_KEY).as_deref(),
            Some(r#"{"base":"numeric(10,2)","not_null":false,"checks":[]}"#)
        );

        // Constraints travel in the metadata.
        let mut code = with_category(cat(16_510, "short_code", -1, "short_code"), 'd');
        code.base = Some(Box::new(cat(25, "text", -1, "text")));
        code.domain = Some(DomainDef {
            not_null: true,
            checks: vec![
                (
                    "short_code_format".into(),
                    r"CHECK ((VALUE ~ '^[A-Z]{2,8}$'::text))".into(),
                ),
                (
                    "short_code_not_xx".into(),
                    "CHECK ((VALUE <> 'XX'::text))".into(),
                ),
            ],
            default: Some("'AA'::text".into()),
        });
        let t = PgType::from_catalog(&code).unwrap();
        assert_eq!(t.arrow_type(), DataType::Utf8);
        assert_eq!(t.storage(), &PgType::Text);
        assert_eq!(
            md(&t.field("c", false), PG_DOMAIN_KEY).as_deref(),
            Some(
                r#"{"base":"text","not_null":true,"checks":[{"name":"short_code_format","def":"CHECK ((VALUE ~ '^[A-Z]{2,8}$'::text))"},{"name":"short_code_not_xx","def":"CHECK ((VALUE <> 'XX'::text))"}],"default":"'AA'::text"}"#
            )
        );

        // A domain over a fallback type keeps the base's encoding; over an
        // enum, its labels; a domain over a domain resolves to the innermost.
        let mut pt = with_category(cat(16_520, "pt", -1, "pt"), 'd');
        pt.base = Some(Box::new(cat(600, "point", -1, "point")));
        let t = PgType::from_catalog(&pt).unwrap();
        assert_eq!(t.arrow_type(), DataType::Binary);
        assert_eq!(
            md(&t.field("p", true), PG_ENCODING_KEY).as_deref(),
            Some("binary")
        );

        let mut mood = with_category(cat(16_385, "mood", -1, "mood"), 'e');
        mood.enum_labels = vec!["sad".into(), "ok".into()];
        let mut dmood = with_category(cat(16_530, "dmood", -1, "dmood"), 'd');
        dmood.base = Some(Box::new(mood));
        let mut ddmood = with_category(cat(16_531, "ddmood", -1, "ddmood"), 'd');
        ddmood.base = Some(Box::new(dmood));
        let t = PgType::from_catalog(&ddmood).unwrap();
        assert!(matches!(t.storage(), PgType::Enum(_)));
        assert_eq!(t.arrow_type(), DataType::Utf8);
        let field = t.field("m", true);
        assert_eq!(md(&field, PG_TYPE_KEY).as_deref(), Some("ddmood"));
        assert_eq!(md(&field, PG_KIND_KEY).as_deref(), Some("domain"));
        assert_eq!(
            md(&field, ENUM_LABELS_KEY).as_deref(),
            Some(r#"["sad","ok"]"#)
        );

        // Arrays of domains.
        let t = PgType::from_catalog(&array_of(amount, 16_501, "amount[]")).unwrap();
        assert_eq!(t.sql_name(), "amount[]");
        let DataType::Struct(fields) = t.arrow_type() else {
            panic!()
        };
        let DataType::List(item) = fields[0].data_type() else {
            panic!()
        };
        assert_eq!(item.data_type(), &DataType::Decimal128(10, 2));
        assert_eq!(md(item, PG_TYPE_KEY).as_deref(), Some("amount"));
    }

    #[test]
    fn composites_are_structs_of_their_attributes() {
        let mut inner = with_category(cat(16_600, "inner_t", -1, "inner_t"), 'c');
        inner.attributes = vec![
            ("x".into(), cat(23, "int4", -1, "integer")),
            ("label".into(), cat(25, "text", -1, "text")),
        ];
        let mut outer = with_category(cat(16_610, "outer_t", -1, "outer_t"), 'c');
        outer.attributes = vec![
            ("name".into(), cat(25, "text", -1, "text")),
            ("inner_v".into(), inner.clone()),
            (
                "tags".into(),
                array_of(cat(25, "text", -1, "text"), 1009, "text[]"),
            ),
            (
                "at".into(),
                cat(1184, "timestamptz", -1, "timestamp with time zone"),
            ),
        ];
        let t = PgType::from_catalog(&outer).unwrap();
        let inner_ty = PgType::Composite {
            ty: UserType {
                name: "inner_t".into(),
                oid: 16_600,
                labels: vec![],
            },
            attributes: vec![
                Attribute {
                    name: "x".into(),
                    ty: PgType::Int4,
                    oid: 23,
                },
                Attribute {
                    name: "label".into(),
                    ty: PgType::Text,
                    oid: 25,
                },
            ],
        };
        assert_eq!(
            t,
            PgType::Composite {
                ty: UserType {
                    name: "outer_t".into(),
                    oid: 16_610,
                    labels: vec![]
                },
                attributes: vec![
                    Attribute {
                        name: "name".into(),
                        ty: PgType::Text,
                        oid: 25
                    },
                    Attribute {
                        name: "inner_v".into(),
                        ty: inner_ty.clone(),
                        oid: 16_600
                    },
                    Attribute {
                        name: "tags".into(),
                        ty: PgType::Array(Box::new(PgType::Text)),
                        oid: 1009
                    },
                    Attribute {
                        name: "at".into(),
                        ty: PgType::Timestamptz(None),
                        oid: 1184
                    },
                ],
            }
        );
        assert_eq!(t.sql_name(), "outer_t");
        assert_eq!(t.oid(), Some(16_610));
        let field = t.field("o", true);
        assert_eq!(md(&field, PG_TYPE_KEY).as_deref(), Some("outer_t"));
        assert_eq!(md(&field, PG_KIND_KEY).as_deref(), Some("composite"));
        let DataType::Struct(fields) = field.data_type() else {
            panic!("composites are structs")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["name", "inner_v", "tags", "at"]);
        // Every level carries its SQL type, and every attribute is nullable.
        let sql: Vec<Option<String>> = fields.iter().map(|f| md(f, PG_TYPE_KEY)).collect();
        assert_eq!(
            sql,
            [
                Some("text".to_string()),
                Some("inner_t".to_string()),
                Some("text[]".to_string()),
                Some("timestamptz".to_string())
            ]
        );
        assert!(fields.iter().all(|f| f.is_nullable()));
        assert_eq!(fields[1].data_type(), &inner_ty.arrow_type());
        let DataType::Struct(inner_fields) = fields[1].data_type() else {
            panic!()
        };
        assert_eq!(
            md(&inner_fields[0], PG_TYPE_KEY).as_deref(),
            Some("integer")
        );
        assert_eq!(inner_fields[0].data_type(), &DataType::Int32);
        assert_eq!(
            fields[2].data_type(),
            &DataType::Struct(array_fields(PgType::Text.field("item", true)))
        );

        // An empty composite (all attributes dropped) is an empty struct.
        let empty = with_category(cat(16_620, "empty_t", -1, "empty_t"), 'c');
        let t = PgType::from_catalog(&empty).unwrap();
        assert_eq!(t.arrow_type(), DataType::Struct(Fields::empty()));
    }

    #[test]
    fn unsupported_types_are_named() {
        // Pseudo-types.
        for name in ["record", "anyelement", "cstring"] {
            let err =
                PgType::from_catalog(&with_category(cat(2249, name, -1, name), 'p')).unwrap_err();
            assert_eq!(err.type_name, name);
            assert!(err.reason.contains("pseudo"), "{err}");
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!(
                    "PostgreSQL type `{name}` cannot be copied exactly: "
                )),
                "{msg}"
            );
        }

        // No binary send/receive.
        let mut aclitem = cat(1033, "aclitem", -1, "aclitem");
        aclitem.lacks_binary_io = true;
        let err = PgType::from_catalog(&aclitem).unwrap_err();
        assert_eq!(err.type_name, "aclitem");
        assert!(err.reason.contains("binary"), "{err}");
        // Types with a native mapping are never refused for it.
        let mut int4 = cat(23, "int4", -1, "integer");
        int4.lacks_binary_io = true;
        assert_eq!(PgType::from_catalog(&int4).unwrap(), PgType::Int4);

        // An array of an unsupported element names the array type, with the element's reason.
        let err = PgType::from_catalog(&array_of(aclitem.clone(), 1034, "aclitem[]")).unwrap_err();
        assert_eq!(err.type_name, "aclitem[]");
        assert!(err.reason.contains("binary"), "{err}");

        // A domain whose base was not read, or is unsupported.
        let dom = with_category(cat(16_500, "posint", -1, "posint"), 'd');
        let err = PgType::from_catalog(&dom).unwrap_err();
        assert_eq!(err.type_name, "posint");
        assert!(err.reason.contains("base"), "{err}");
        let mut dom = dom;
        dom.base = Some(Box::new(aclitem.clone()));
        let err = PgType::from_catalog(&dom).unwrap_err();
        assert_eq!(err.type_name, "posint");
        assert!(err.reason.contains("aclitem"), "{err}");

        // A composite with an unsupported attribute names the composite and the attribute.
        let mut comp = with_category(cat(16_700, "c_t", -1, "c_t"), 'c');
        comp.attributes = vec![
            ("ok".into(), cat(23, "int4", -1, "integer")),
            ("acl".into(), aclitem),
        ];
        let err = PgType::from_catalog(&comp).unwrap_err();
        assert_eq!(err.type_name, "c_t");
        assert!(
            err.reason.contains("`acl`") && err.reason.contains("aclitem"),
            "{err}"
        );

        // Nested arrays are not a thing PostgreSQL's catalog produces, and are refused.
        let inner = array_of(cat(23, "int4", -1, "integer"), 1007, "integer[]");
        let err = PgType::from_catalog(&array_of(inner, 0, "integer[][]")).unwrap_err();
        assert_eq!(err.type_name, "integer[][]");

        // Falls back to typname when format_type was not read.
        let mut t = cat(1033, "aclitem", -1, "");
        t.lacks_binary_io = true;
        assert_eq!(PgType::from_catalog(&t).unwrap_err().type_name, "aclitem");
    }

    #[test]
    fn sql_name_round_trips_format_type() {
        // (format_type output, typmod, oid) -> what sql_name must print; each
        // printed name is accepted by PostgreSQL and formats back to the input.
        let cases = [
            (
                1700,
                "numeric",
                numeric_typmod(12, 2),
                "numeric(12,2)",
                "numeric(12,2)",
            ),
            (1700, "numeric", -1, "numeric", "numeric"),
            (1043, "varchar", 24, "character varying(20)", "varchar(20)"),
            (1042, "bpchar", 7, "character(3)", "char(3)"),
            (
                1184,
                "timestamptz",
                -1,
                "timestamp with time zone",
                "timestamptz",
            ),
            (
                1184,
                "timestamptz",
                0,
                "timestamp(0) with time zone",
                "timestamptz(0)",
            ),
            (
                1114,
                "timestamp",
                -1,
                "timestamp without time zone",
                "timestamp",
            ),
            (
                1114,
                "timestamp",
                3,
                "timestamp(3) without time zone",
                "timestamp(3)",
            ),
            (1083, "time", -1, "time without time zone", "time"),
            (1083, "time", 2, "time(2) without time zone", "time(2)"),
            (
                1186,
                "interval",
                interval_typmod(3, DAY | HOUR | MINUTE | SECOND),
                "interval day to second(3)",
                "interval day to second(3)",
            ),
            (701, "float8", -1, "double precision", "double precision"),
        ];
        for (oid, name, typmod, formatted, want) in cases {
            let t = PgType::from_catalog(&cat(oid, name, typmod, formatted)).unwrap();
            assert_eq!(t.sql_name(), want, "{formatted}");
            assert_eq!(t.to_string(), want);
        }
    }

    #[test]
    fn decimal128_bounds() {
        let n = |p, s| PgType::Numeric {
            precision: Some(p),
            scale: Some(s),
        };
        assert_eq!(n(1, 0).decimal128(), Some((1, 0)));
        assert_eq!(n(38, 38).decimal128(), Some((38, 38)));
        assert_eq!(n(39, 2).decimal128(), None);
        assert_eq!(n(5, -2).decimal128(), None);
        assert_eq!(n(3, 4).decimal128(), None);
        assert_eq!(PgType::Int4.decimal128(), None);
    }

    // -----------------------------------------------------------------------
    // Timestamps.

    /// 294276-12-31 23:59:59.999999, PostgreSQL's last timestamp, in µs since 2000-01-01.
    const PG_LAST: i64 = 9_223_371_331_199_999_999;
    /// 4714-11-24 00:00:00 BC, PostgreSQL's first timestamp.
    const PG_FIRST: i64 = -211_813_488_000_000_000;

    #[test]
    fn timestamps_shift_by_the_epoch() {
        assert_eq!(timestamp_from_pg(0), PG_EPOCH_OFFSET_MICROS);
        assert_eq!(timestamp_from_pg(-PG_EPOCH_OFFSET_MICROS), 0);
        assert_eq!(timestamp_to_pg(0), Some(-PG_EPOCH_OFFSET_MICROS));
        assert_eq!(timestamp_to_pg(PG_EPOCH_OFFSET_MICROS), Some(0));
        // ±infinity stay as they are, both ways.
        assert_eq!(timestamp_from_pg(i64::MAX), i64::MAX);
        assert_eq!(timestamp_from_pg(i64::MIN), i64::MIN);
        assert_eq!(timestamp_to_pg(i64::MAX), Some(i64::MAX));
        assert_eq!(timestamp_to_pg(i64::MIN), Some(i64::MIN));
        // The first timestamp is far from the wrapped region.
        assert_eq!(
            timestamp_from_pg(PG_FIRST),
            PG_FIRST + PG_EPOCH_OFFSET_MICROS
        );
        assert_eq!(
            timestamp_to_pg(PG_FIRST + PG_EPOCH_OFFSET_MICROS),
            Some(PG_FIRST)
        );
        // The last instant before i64::MAX µs since 1970 is not wrapped.
        let last_plain = i64::MAX - 1 - PG_EPOCH_OFFSET_MICROS;
        assert_eq!(timestamp_from_pg(last_plain), i64::MAX - 1);
        assert_eq!(timestamp_to_pg(i64::MAX - 1), Some(last_plain));
    }

    #[test]
    fn the_end_of_postgres_range_wraps_above_i64_min() {
        let wrapped = timestamp_from_pg(PG_LAST);
        assert!(wrapped < -9_000_000_000_000_000_000, "{wrapped}");
        assert!(wrapped > i64::MIN);
        // Below PostgreSQL's first timestamp, so it cannot be mistaken for one.
        assert!(wrapped < PG_FIRST + PG_EPOCH_OFFSET_MICROS);
        assert_eq!(wrapped, -9_222_426_057_709_551_615);
        assert_eq!(timestamp_to_pg(wrapped), Some(PG_LAST));

        // The first wrapped value: PostgreSQL's i64::MAX - offset is unix i64::MAX.
        let first_wrapped = i64::MAX - PG_EPOCH_OFFSET_MICROS;
        assert_eq!(timestamp_from_pg(first_wrapped), i64::MIN + 1);
        assert_eq!(timestamp_to_pg(i64::MIN + 1), Some(first_wrapped));

        // pg -> unix -> pg is exact over the whole range and the wrap edges.
        let mut values = vec![
            PG_FIRST,
            PG_FIRST + 1,
            -1,
            0,
            1,
            first_wrapped - 1,
            first_wrapped,
            first_wrapped + 1,
            PG_LAST - 1,
            PG_LAST,
            i64::MAX,
            i64::MIN,
        ];
        let step = (PG_LAST as i128 - PG_FIRST as i128) / 997;
        values.extend((0..997i128).map(|k| (PG_FIRST as i128 + k * step + k) as i64));
        values.sort_unstable();
        values.dedup();
        let mut seen = std::collections::HashSet::new();
        for pg in values {
            let unix = timestamp_from_pg(pg);
            assert_eq!(timestamp_to_pg(unix), Some(pg), "{pg}");
            assert!(seen.insert(unix), "two timestamps map to {unix}");
        }

        // A value that would come back as +infinity is refused.
        assert_eq!(timestamp_to_pg(i64::MIN + 1 + PG_EPOCH_OFFSET_MICROS), None);
    }
}
