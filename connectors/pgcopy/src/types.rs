//! The PostgreSQL type model and its exact mapping to Arrow.
//!
//! A column's type is resolved once per stream, from the catalog facts the
//! connector reads ([`CatalogType`]), into a [`PgType`]. The `PgType` then
//! decides three things that must stay in step:
//!
//! * the Arrow type a batch carries ([`PgType::arrow_type`]),
//! * the SQL type that recreates the column exactly ([`PgType::sql_name`],
//!   carried in the Arrow field metadata under [`PG_TYPE_KEY`]),
//! * how a binary COPY value is decoded (see [`crate::decode`]).
//!
//! The mapping (one line per type; each arm of [`PgType::arrow_type`] repeats it):
//!
//! | PostgreSQL | Arrow | Notes |
//! |---|---|---|
//! | `int2` / `int4` / `int8` | `Int16` / `Int32` / `Int64` | |
//! | `float4` / `float8` | `Float32` / `Float64` | NaN and ±Infinity kept bit for bit |
//! | `numeric(p,s)`, `1 <= p <= 38`, `0 <= s <= p` | `Decimal128(p,s)` | NaN/±Infinity are value errors |
//! | other `numeric` (unconstrained, `p > 38`, negative scale, `s > p`) | `Utf8` | PostgreSQL's exact `numeric_out` text |
//! | `text`, `varchar(n)`, `bpchar(n)` | `Utf8` | `bpchar` keeps its blank padding |
//! | `bool` | `Boolean` | |
//! | `bytea` | `Binary` | |
//! | `date` | `Date32` | days since 1970-01-01; `±infinity` kept as `i32::MAX` / `i32::MIN` |
//! | `time` | `Time64(Microsecond)` | `24:00:00` is `86_400_000_000` |
//! | `timestamp` | `Timestamp(Microsecond, None)` | `±infinity` kept as `i64::MAX` / `i64::MIN` |
//! | `timestamptz` | `Timestamp(Microsecond, "UTC")` | same sentinels |
//! | `interval` | `Interval(MonthDayNano)` | `±infinity` kept as all-`MAX` / all-`MIN` fields |
//! | `uuid` | `FixedSizeBinary(16)` | |
//! | `json`, `jsonb` | `Utf8` | the JSON text as PostgreSQL prints it |
//! | `inet`, `cidr` | `Utf8` | PostgreSQL's text form |
//! | enum | `Utf8` | the label |
//! | one-dimensional array of any of the above | `List<item: T, nullable>` | |

use std::fmt;

use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};

/// Arrow field metadata key that carries [`PgType::sql_name`], so a
/// destination can recreate the exact PostgreSQL type.
pub const PG_TYPE_KEY: &str = "rapidbyte.pg_type";

/// Sign words of PostgreSQL's binary numeric (`numeric_send`), shared by the
/// decoder and the encoder.
pub(crate) const NUMERIC_POS: u16 = 0x0000;
pub(crate) const NUMERIC_NEG: u16 = 0x4000;
pub(crate) const NUMERIC_NAN: u16 = 0xC000;
pub(crate) const NUMERIC_PINF: u16 = 0xD000;
pub(crate) const NUMERIC_NINF: u16 = 0xF000;

/// Arrow field metadata key: an enum column's labels, as a JSON array in
/// sort order, so a destination can create the type where it is missing.
pub const ENUM_LABELS_KEY: &str = "rapidbyte.pg_enum_labels";

/// The time zone stamped on `timestamptz` columns: PostgreSQL sends the
/// instant in UTC, and the Arrow value is that instant.
pub const TIMESTAMPTZ_ZONE: &str = "UTC";

/// Microseconds from 1970-01-01 (Unix epoch) to 2000-01-01 (PostgreSQL epoch).
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Days from 1970-01-01 (Unix epoch) to 2000-01-01 (PostgreSQL epoch).
pub const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

/// Largest numeric precision that fits `Decimal128`.
pub const DECIMAL128_MAX_PRECISION: u32 = 38;

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
}

/// Catalog facts about one column's type, as the connector reads them from
/// `pg_catalog`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogType {
    /// `pg_type.oid`.
    pub oid: u32,
    /// `pg_type.typname`, e.g. `"int4"`, `"numeric"`, `"_int4"`, `"mood"`.
    pub name: String,
    /// `pg_type.typtype`: `'b'` base, `'e'` enum, `'d'` domain, `'c'` composite, ...
    pub category: char,
    /// `pg_attribute.atttypmod` (`-1` when none).
    pub typmod: i32,
    /// `format_type(atttypid, atttypmod)`, e.g. `"numeric(12,2)"`,
    /// `"character varying(20)"`, `"integer[]"`, `"mood"`.
    pub formatted: String,
    /// For arrays: the element type (its `typmod` is the column's).
    pub element: Option<Box<CatalogType>>,
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
    /// `time` (without time zone).
    Time,
    /// `timestamp` (without time zone).
    Timestamp,
    /// `timestamptz`.
    Timestamptz,
    /// `interval`.
    Interval,
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
    /// A user-defined enum; holds the type's name as `format_type` prints it
    /// (quoted and schema-qualified when PostgreSQL needs that).
    Enum(String),
    /// A one-dimensional array of a scalar type.
    Array(Box<PgType>),
}

/// A column type this crate cannot move exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedType {
    /// The type as PostgreSQL names it (`format_type`, else `typname`).
    pub type_name: String,
}

impl fmt::Display for UnsupportedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PostgreSQL type `{}` is not supported by the binary COPY decoder",
            self.type_name
        )
    }
}

impl std::error::Error for UnsupportedType {}

/// `atttypmod` as a length for `varchar(n)` / `char(n)`: the typmod includes
/// the 4-byte varlena header.
fn length_from_typmod(typmod: i32) -> Option<u32> {
    (typmod >= 4).then(|| (typmod - 4) as u32)
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

impl PgType {
    /// Resolves a column's catalog facts into a `PgType`.
    ///
    /// Built-in types are matched by OID, enums by `category == 'e'`, arrays
    /// by their `element` (one-dimensional arrays of the scalar types above;
    /// arrays of arrays, domains, composites and other types are
    /// [`UnsupportedType`]).
    pub fn from_catalog(t: &CatalogType) -> Result<PgType, UnsupportedType> {
        let unsupported = || UnsupportedType {
            type_name: if t.formatted.is_empty() {
                t.name.clone()
            } else {
                t.formatted.clone()
            },
        };
        if let Some(element) = &t.element {
            if element.element.is_some() {
                return Err(unsupported());
            }
            return match PgType::from_catalog(element) {
                Ok(inner) => Ok(PgType::Array(Box::new(inner))),
                Err(_) => Err(unsupported()),
            };
        }
        if t.category == 'e' {
            let name = if t.formatted.is_empty() {
                t.name.clone()
            } else {
                t.formatted.clone()
            };
            return Ok(PgType::Enum(name));
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
            oid::TIME => PgType::Time,
            oid::TIMESTAMP => PgType::Timestamp,
            oid::TIMESTAMPTZ => PgType::Timestamptz,
            oid::INTERVAL => PgType::Interval,
            oid::UUID => PgType::Uuid,
            oid::JSON => PgType::Json,
            oid::JSONB => PgType::Jsonb,
            oid::INET => PgType::Inet,
            oid::CIDR => PgType::Cidr,
            _ => return Err(unsupported()),
        })
    }

    /// The built-in type OID, as binary COPY writes it in array headers.
    /// `None` for enums (their OID is per database) and for arrays (whose
    /// element OID is what binary COPY carries; ask the element).
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
            PgType::Time => oid::TIME,
            PgType::Timestamp => oid::TIMESTAMP,
            PgType::Timestamptz => oid::TIMESTAMPTZ,
            PgType::Interval => oid::INTERVAL,
            PgType::Uuid => oid::UUID,
            PgType::Json => oid::JSON,
            PgType::Jsonb => oid::JSONB,
            PgType::Inet => oid::INET,
            PgType::Cidr => oid::CIDR,
            PgType::Enum(_) | PgType::Array(_) => return None,
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

    /// The Arrow type a batch carries for this PostgreSQL type.
    pub fn arrow_type(&self) -> DataType {
        match self {
            // int2 -> Int16
            PgType::Int2 => DataType::Int16,
            // int4 -> Int32
            PgType::Int4 => DataType::Int32,
            // int8 -> Int64
            PgType::Int8 => DataType::Int64,
            // float4 -> Float32 (NaN, +/-Infinity kept bit for bit)
            PgType::Float4 => DataType::Float32,
            // float8 -> Float64 (NaN, +/-Infinity kept bit for bit)
            PgType::Float8 => DataType::Float64,
            // numeric(p,s), 1 <= p <= 38, 0 <= s <= p -> Decimal128(p,s) (exact;
            // NaN/Infinity are value errors). Any other numeric -> Utf8 holding
            // exactly what PostgreSQL's numeric_out prints ("123.4500", "NaN",
            // "Infinity", "-Infinity"; trailing zeros per display scale).
            PgType::Numeric { .. } => match self.decimal128() {
                Some((p, s)) => DataType::Decimal128(p, s),
                None => DataType::Utf8,
            },
            // text / varchar / bpchar -> Utf8 (bpchar keeps its blank padding)
            PgType::Text | PgType::Varchar(_) | PgType::Bpchar(_) => DataType::Utf8,
            // bool -> Boolean
            PgType::Bool => DataType::Boolean,
            // bytea -> Binary
            PgType::Bytea => DataType::Binary,
            // date -> Date32, days since 1970-01-01. 'infinity' and '-infinity'
            // are PostgreSQL's i32::MAX / i32::MIN and are kept unchanged as
            // sentinels (not shifted by the epoch difference).
            PgType::Date => DataType::Date32,
            // time -> Time64(µs) since midnight (24:00:00 allowed, as in PostgreSQL)
            PgType::Time => DataType::Time64(TimeUnit::Microsecond),
            // timestamp -> Timestamp(µs, None), µs since 1970-01-01 00:00:00;
            // 'infinity' / '-infinity' kept as i64::MAX / i64::MIN sentinels.
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            // timestamptz -> Timestamp(µs, "UTC"), the instant in µs since the
            // Unix epoch; same infinity sentinels.
            PgType::Timestamptz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMPTZ_ZONE.into()))
            }
            // interval -> Interval(MonthDayNano): months, days, µs * 1000.
            // 'infinity' / '-infinity' (PostgreSQL 17) kept as all-MAX / all-MIN.
            PgType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            // uuid -> FixedSizeBinary(16), the 16 bytes in network order
            PgType::Uuid => DataType::FixedSizeBinary(16),
            // json -> Utf8, the text as stored
            PgType::Json => DataType::Utf8,
            // jsonb -> Utf8, jsonb's canonical text (binary version byte dropped)
            PgType::Jsonb => DataType::Utf8,
            // inet / cidr -> Utf8 in PostgreSQL's text form ("10.0.0.1", "10.0.0.0/8")
            PgType::Inet | PgType::Cidr => DataType::Utf8,
            // enum -> Utf8, the label
            PgType::Enum(_) => DataType::Utf8,
            // one-dimensional array -> List of nullable "item" of the element's type
            PgType::Array(element) => {
                DataType::List(Field::new_list_field(element.arrow_type(), true).into())
            }
        }
    }

    /// The SQL type that recreates this column exactly, e.g. `numeric(12,2)`,
    /// `numeric`, `varchar(20)`, `char(3)`, `timestamptz`, `integer[]`; for an
    /// enum, its type name.
    pub fn sql_name(&self) -> String {
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
            PgType::Time => "time".into(),
            PgType::Timestamp => "timestamp".into(),
            PgType::Timestamptz => "timestamptz".into(),
            PgType::Interval => "interval".into(),
            PgType::Uuid => "uuid".into(),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Inet => "inet".into(),
            PgType::Cidr => "cidr".into(),
            PgType::Enum(name) => name.clone(),
            PgType::Array(element) => format!("{}[]", element.sql_name()),
        }
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(oid: u32, name: &str, typmod: i32, formatted: &str) -> CatalogType {
        CatalogType {
            oid,
            name: name.into(),
            category: 'b',
            typmod,
            formatted: formatted.into(),
            element: None,
        }
    }

    fn array_of(element: CatalogType, oid: u32, formatted: &str) -> CatalogType {
        CatalogType {
            oid,
            name: format!("_{}", element.name),
            category: 'b',
            typmod: element.typmod,
            formatted: formatted.into(),
            element: Some(Box::new(element)),
        }
    }

    fn numeric_typmod(p: i32, s: i32) -> i32 {
        ((p << 16) | (s & 0x7ff)) + 4
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
                PgType::Time,
                DataType::Time64(TimeUnit::Microsecond),
                "time",
            ),
            (
                1114,
                "timestamp",
                PgType::Timestamp,
                DataType::Timestamp(TimeUnit::Microsecond, None),
                "timestamp",
            ),
            (
                1184,
                "timestamptz",
                PgType::Timestamptz,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                "timestamptz",
            ),
            (
                1186,
                "interval",
                PgType::Interval,
                DataType::Interval(IntervalUnit::MonthDayNano),
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
        }
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
    fn enums_resolve_by_category() {
        let mut c = cat(16_385, "mood", -1, "mood");
        c.category = 'e';
        let t = PgType::from_catalog(&c).unwrap();
        assert_eq!(t, PgType::Enum("mood".into()));
        assert_eq!(t.sql_name(), "mood");
        assert_eq!(t.arrow_type(), DataType::Utf8);
        assert_eq!(t.oid(), None);

        // format_type quotes and qualifies when needed; that is what recreates it.
        let mut c = cat(16_400, "Mood", -1, "other.\"Mood\"");
        c.category = 'e';
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
        assert_eq!(
            t.arrow_type(),
            DataType::List(Field::new("item", DataType::Int32, true).into())
        );

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
        assert_eq!(
            t.arrow_type(),
            DataType::List(Field::new("item", DataType::Decimal128(12, 2), true).into())
        );
        assert_eq!(t.sql_name(), "numeric(12,2)[]");

        let mut mood = cat(16_385, "mood", -1, "mood");
        mood.category = 'e';
        let t = PgType::from_catalog(&array_of(mood, 16_384, "mood[]")).unwrap();
        assert_eq!(t.sql_name(), "mood[]");
    }

    #[test]
    fn unsupported_types_are_named() {
        let err = PgType::from_catalog(&cat(600, "point", -1, "point")).unwrap_err();
        assert_eq!(err.type_name, "point");
        let msg = err.to_string();
        assert!(
            msg.contains("`point`") && msg.contains("not supported"),
            "{msg}"
        );

        let mut dom = cat(16_500, "posint", -1, "posint");
        dom.category = 'd';
        assert_eq!(PgType::from_catalog(&dom).unwrap_err().type_name, "posint");

        // An array of an unsupported element names the array type.
        let err = PgType::from_catalog(&array_of(cat(600, "point", -1, "point"), 1017, "point[]"))
            .unwrap_err();
        assert_eq!(err.type_name, "point[]");

        // Nested arrays are not a thing PostgreSQL's catalog produces, and are refused.
        let inner = array_of(cat(23, "int4", -1, "integer"), 1007, "integer[]");
        let err = PgType::from_catalog(&array_of(inner, 0, "integer[][]")).unwrap_err();
        assert_eq!(err.type_name, "integer[][]");

        // Falls back to typname when format_type was not read.
        assert_eq!(
            PgType::from_catalog(&cat(142, "xml", -1, ""))
                .unwrap_err()
                .type_name,
            "xml"
        );
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
                1114,
                "timestamp",
                -1,
                "timestamp without time zone",
                "timestamp",
            ),
            (1083, "time", -1, "time without time zone", "time"),
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
}
