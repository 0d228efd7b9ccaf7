//! PostgreSQL binary COPY ⇄ Arrow, with an exact type mapping.
//!
//! The PostgreSQL source reads `COPY (SELECT cols FROM t) TO STDOUT (FORMAT
//! binary)` and hands the byte stream to a [`CopyDecoder`], which appends each
//! value straight into Arrow buffers: no text round-trip, no per-value heap
//! allocation. Column types are resolved once per stream from catalog facts
//! ([`CatalogType`] → [`PgType`]); [`PgType::arrow_type`] and
//! [`PgType::sql_name`] give the Arrow type and the SQL type that recreates
//! the column, and the latter travels in each field's metadata under
//! [`PG_TYPE_KEY`] so a destination can rebuild the table exactly.
//!
//! The PostgreSQL destination goes the other way: a [`CopyEncoder`] writes
//! each batch as the tuples of `COPY t FROM STDIN (FORMAT binary)`, the exact
//! inverse of the decoder, with one writer per column chosen once per stream
//! from the Arrow type and the target column's [`PgType`]
//! ([`EncodeColumn`]).
//!
//! Pure logic with std and arrow only, so it runs inside a wasm guest and is
//! tested natively.
//!
//! ```
//! use rapidbyte_pgcopy::{CatalogType, Column, CopyDecoder, PgType, PG_TYPE_KEY};
//!
//! // numeric(12,2): atttypmod = ((12 << 16) | 2) + 4
//! let catalog = CatalogType {
//!     oid: 1700,
//!     name: "numeric".into(),
//!     category: 'b',
//!     typmod: ((12 << 16) | 2) + 4,
//!     formatted: "numeric(12,2)".into(),
//!     ..Default::default()
//! };
//! let ty = PgType::from_catalog(&catalog).unwrap();
//! assert_eq!(ty.sql_name(), "numeric(12,2)");
//!
//! let mut decoder = CopyDecoder::new(vec![Column { name: "price".into(), ty, nullable: true }]);
//! let mut stream = b"PGCOPY\n\xff\r\n\0".to_vec();
//! stream.extend_from_slice(&[0; 8]); // flags, header extension length
//! // One row holding 1234.50: ndigits 2, weight 0, sign +, dscale 2, digits [1234, 5000].
//! stream.extend_from_slice(&[0, 1, 0, 0, 0, 12]);
//! stream.extend_from_slice(&[0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xd2, 0x13, 0x88]);
//! stream.extend_from_slice(&[0xff, 0xff]); // trailer
//! decoder.feed(&stream).unwrap();
//! decoder.finish().unwrap();
//!
//! let batch = decoder.take_batch().unwrap().unwrap();
//! let field = batch.schema().field(0).clone();
//! assert_eq!(field.metadata()[PG_TYPE_KEY], "numeric(12,2)");
//! let prices = batch
//!     .column(0)
//!     .as_any()
//!     .downcast_ref::<arrow_array::Decimal128Array>()
//!     .unwrap();
//! assert_eq!(prices.value(0), 123_450);
//! ```
#![deny(missing_docs)]

pub mod decode;
pub mod encode;
mod inet;
pub mod json;
mod numeric;
pub mod types;

pub use decode::{COPY_SIGNATURE, Column, CopyDecoder, DecodeError, DecodeErrorKind, Rejected, schema};
pub use encode::{CopyEncoder, EncodeColumn, EncodeError};
pub use types::{
    CatalogType, ENUM_LABELS_KEY, PG_DOMAIN_KEY, PG_ENCODING_KEY, PG_EXTENSION_KEY, PG_KIND_KEY,
    PG_TYPE_KEY, PgType, UnsupportedType,
};
