//! The checks cases name (`check:` in case.yaml). Each returns a verdict and
//! a reason a connector author can act on.

use std::sync::Arc;

use arrow_array::Array;
use rapidbyte_protocol::{metric_names as m, ErrorCategory, Feature, Role};

use super::cases::Case;
use super::harness::{Harness, Read};
use super::verdict::{fail, na, pass, Verdict};
use crate::sandbox::host_api::{InstanceLabels, RunServices, StreamIo};
use crate::sandbox::runtime::InstanceError;
use crate::state::MemoryState;

/// Runs the check a case names (the delivery checks are `delivery`'s).
pub async fn run(h: &Harness, case: &Case) -> Verdict {
    let is_source = h.component.manifest.role == Role::Source;
    match case.check.as_str() {
        "open_info" => open_info(h, case).await,
        "lifecycle" if is_source => source_lifecycle(h, case).await,
        "lifecycle" => destination_lifecycle(h, case).await,
        "close_idempotent" => close_idempotent(h, case).await,
        "bad_config" => bad_config(h, case).await,
        "validate" => validate(h, case).await,
        "validate_unreachable" => validate_unreachable(h, case).await,
        "frames" => frames(h, case).await,
        "host_calls" if is_source => source_host_calls(h, case).await,
        "host_calls" => destination_host_calls(h, case).await,
        "round_trip" => source_round_trip(h, case).await,
        "empty" if is_source => source_empty(h, case).await,
        "empty" => destination_empty(h, case).await,
        "huge_row" => huge_row(h, case).await,
        "incremental" => incremental(h, case).await,
        "write_round_trip" => destination_round_trip(h, case).await,
        "metrics" if is_source => source_metrics(h, case).await,
        "metrics" => destination_metrics(h, case).await,
        "logs" => logs(h, case).await,
        other => fail(format!("unknown check `{other}` in {}", case.dir.display())),
    }
}

fn error_text(e: &InstanceError) -> String {
    e.to_string()
}

// ---------------------------------------------------------------- protocol

async fn open_info(h: &Harness, case: &Case) -> Verdict {
    let spec = h.spec(&h.subject.config_for(&case.name), None);
    let services = RunServices::new(Arc::new(MemoryState::default()));
    match crate::engine::stream::probe(&h.runtime, &spec, "conformance", services).await {
        Ok(p) if crate::Contract::parse(&p.open_info.protocol_version).is_some() => pass(format!(
            "contract {}, features [{}] as in the manifest",
            p.open_info.protocol_version,
            p.open_info.features.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
        )),
        Ok(p) => fail(format!("open-info declares contract {}, which this host does not know", p.open_info.protocol_version)),
        Err(e) => fail(error_text(&e)),
    }
}

async fn source_lifecycle(h: &Harness, case: &Case) -> Verdict {
    let input = match source_input(h, case, true).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let ok = h.read(&input.config, h.context("conformance", &input.stream)).await;
    if let Some(e) = &ok.side.error {
        return fail(format!("a plain read failed: {}", error_text(e)));
    }
    if ok.side.calls != ["open", "run", "close"] {
        return fail(format!("calls were {:?}, expected open, run, close", ok.side.calls));
    }
    // A run that fails (no row fits 16 bytes, not even alone) is still closed, and close succeeds.
    let mut tiny = h.context("conformance", &input.stream);
    tiny.limits.max_batch_bytes = 16;
    let failed = h.read_with_record_limit(&input.config, tiny, 16).await;
    if failed.side.error.is_none() {
        return fail(format!("a read with max_batch_bytes and max_record_bytes 16 succeeded ({} rows)", failed.rows));
    }
    if failed.side.calls.last() != Some(&"close") {
        return fail(format!("after a failed run the calls were {:?}", failed.side.calls));
    }
    if let Some(e) = &failed.side.close_error {
        return fail(format!("close after a failed run failed: {e}"));
    }
    pass("open → run → close; after a failed run close is called and succeeds")
}

async fn destination_lifecycle(h: &Harness, case: &Case) -> Verdict {
    let _ = h.reset_target().await;
    let ok = h.write(&h.plan(&format!("conf-{}", case.name), 1000, &case.name)).await;
    if let Some(e) = ok.report.error() {
        return fail(format!("a plain write failed: {e}"));
    }
    let calls = &ok.report.destination.calls;
    if calls != &["open", "committed", "run", "close"] && calls != &["open", "run", "close"] {
        return fail(format!("calls were {:?}, expected open, [committed,] run, close", ok.report.destination.calls));
    }
    let mut failing = h.plan(&format!("conf-{}-fail", case.name), 1000, &case.name);
    failing.peer_config = serde_json::json!({"fail_times": 1, "fail_after_rows": 200});
    let bad = h.write(&failing).await;
    if bad.report.destination.calls.last() != Some(&"close") {
        return fail(format!("after the upstream failed the calls were {:?}", bad.report.destination.calls));
    }
    if let Some(e) = &bad.report.destination.close_error {
        return fail(format!("close after a failed run failed: {e}"));
    }
    pass(format!("{}; after a failed run close is called and succeeds", ok.report.destination.calls.join(" → ")))
}

async fn close_idempotent(h: &Harness, case: &Case) -> Verdict {
    let config = h.subject.config_for(&case.name).to_string();
    let labels = InstanceLabels {
        pipeline: "conformance".into(),
        stream: String::new(),
        connector: h.component.manifest.name.clone(),
        role: h.component.manifest.role,
        run_id: String::new(),
    };
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let mut instance = match h
        .runtime
        .instantiate(&h.component, &config, &Default::default(), labels, services, StreamIo::None, None, crate::sandbox::host_api::FrameLimits::NONE)
        .await
    {
        Ok(i) => i,
        Err(e) => return fail(error_text(&e)),
    };
    if let Err(e) = instance.open(&config).await {
        return fail(format!("open failed: {e}"));
    }
    if let Err(e) = instance.close().await {
        return fail(format!("first close failed: {e}"));
    }
    match instance.close().await {
        Ok(()) => pass("a second close returns ok"),
        Err(e) => fail(format!("a second close failed: {e}")),
    }
}

async fn bad_config(h: &Harness, case: &Case) -> Verdict {
    let mut config = h.subject.config_for(&case.name);
    super::subject::merge(&mut config, &case.params["patch"]);
    let spec = h.spec(&config, None);
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let error = match crate::engine::stream::probe(&h.runtime, &spec, "conformance", services).await {
        Err(e) => e,
        Ok(p) => match p.validation {
            Err(e) => e,
            Ok(()) => return fail(format!("config {config} was accepted by open and validate")),
        },
    };
    match error.connector_error() {
        Some(e) if e.category == ErrorCategory::Config && !e.message.trim().is_empty() => {
            pass(format!("config error {}: {}", e.code, e.message))
        }
        Some(e) => fail(format!("expected category config, got {} ({}: {})", e.category, e.code, e.message)),
        None => fail(format!("expected a config error record, got {error}")),
    }
}

async fn validate(h: &Harness, case: &Case) -> Verdict {
    let spec = h.spec(&h.subject.config_for(&case.name), None);
    let services = RunServices::new(Arc::new(MemoryState::default()));
    match crate::engine::stream::probe(&h.runtime, &spec, "conformance", services).await {
        Ok(p) => match p.validation {
            Ok(()) => pass("validate ok with the subject's config"),
            Err(e) => fail(format!("validate failed: {e}")),
        },
        Err(e) => fail(error_text(&e)),
    }
}

async fn validate_unreachable(h: &Harness, case: &Case) -> Verdict {
    if !h.subject.case_config.contains_key(&case.name) {
        return na(format!("give `case_config.{}.config` a patch pointing the connector at a system that is not there", case.name));
    }
    let spec = h.spec(&h.subject.config_for(&case.name), None);
    let services = RunServices::new(Arc::new(MemoryState::default()));
    let error = match crate::engine::stream::probe(&h.runtime, &spec, "conformance", services).await {
        Err(e) => e,
        Ok(p) => match p.validation {
            Err(e) => e,
            Ok(()) => return fail("validate returned ok for an unreachable system: it does not reach the real system"),
        },
    };
    match error.connector_error() {
        Some(e) if e.category != ErrorCategory::Internal => pass(format!("{} {}: {}", e.category, e.code, e.message)),
        Some(e) => fail(format!("an unreachable system is not an internal error: {} {}", e.code, e.message)),
        None => fail(format!("expected an error record, got {error}")),
    }
}

/// Where a source case reads from: a seeded table, or the subject's stream
/// with a per-case config.
pub(super) struct SourceInput {
    pub config: serde_json::Value,
    pub stream: String,
    pub expect_rows: Option<u64>,
    pub seeded: bool,
}

/// Where a source case reads from: the seeded table when the case has a
/// seed and the subject a server; else the subject's stream with the case's
/// `case_config` entry; else, when `plain_ok`, the subject's own config.
pub(super) async fn source_input(h: &Harness, case: &Case, plain_ok: bool) -> Result<SourceInput, Verdict> {
    if let (Some(table), Some(seed)) = (&case.table, case.postgres_seed(&h.subject.schema()))
        && h.pg().is_some()
    {
        h.sql(&seed).await.map_err(|e| fail(format!("seeding failed: {e}")))?;
        return Ok(SourceInput { config: h.subject.config_for(&case.name), stream: table.clone(), expect_rows: None, seeded: true });
    }
    let stream = h.subject.stream.clone();
    match h.subject.case_config.get(&case.name) {
        Some(c) => Ok(SourceInput { config: h.subject.config_for(&case.name), stream, expect_rows: c.expect_rows, seeded: false }),
        None if plain_ok => Ok(SourceInput { config: h.subject.config.clone(), stream, expect_rows: None, seeded: false }),
        None => Err(na(format!(
            "needs `postgres:` in the subject file (to seed `{}`) or `case_config.{}`",
            case.table.as_deref().unwrap_or("?"),
            case.name
        ))),
    }
}

async fn frames(h: &Harness, case: &Case) -> Verdict {
    let input = match source_input(h, case, true).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let limit = case.param("max_batch_bytes", 64 << 10);
    let mut ctx = h.context("conformance", &input.stream);
    ctx.limits.max_batch_bytes = limit;
    let read = h.read(&input.config, ctx).await;
    if let Some(e) = &read.side.error {
        return fail(error_text(e));
    }
    // The host already refused anything else; check again, independently of it.
    let rule = crate::sandbox::host_api::FrameLimits { max_batch_bytes: limit, ..crate::sandbox::host_api::FrameLimits::NONE };
    let mut schema = None;
    for (i, frame) in read.frames.iter().enumerate() {
        if let Err(e) = crate::sandbox::host_api::validate_frame(frame, rule, &mut schema) {
            return fail(format!("frame {i}: {e}"));
        }
    }
    if read.frames.len() < case.param("min_frames", 2) as usize {
        return fail(format!("{} rows came in {} frame(s): expected the source to split them under a {limit}-byte limit", read.rows, read.frames.len()));
    }
    pass(format!("{} frames, all valid IPC of one schema, each ≤ {limit} bytes or a single row", read.frames.len()))
}

async fn source_host_calls(h: &Harness, case: &Case) -> Verdict {
    let input = match source_input(h, case, true).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let read = h.read(&input.config, h.context("conformance", &input.stream)).await;
    if let Some(e) = &read.side.error {
        return fail(error_text(e));
    }
    per_batch_calls(read.side.host_calls, read.frames.len() as u64, read.rows, case)
}

fn per_batch_calls(calls: u64, batches: u64, rows: u64, case: &Case) -> Verdict {
    let per_batch = case.param("max_per_batch", 12);
    let allowance = case.param("allowance", 40);
    let budget = per_batch * batches + allowance;
    if rows < 2 * batches.max(1) {
        return na(format!("{rows} rows in {batches} batches are too few to tell per-row calls from per-batch calls"));
    }
    if calls > budget {
        return fail(format!("{calls} host calls for {batches} batches of {rows} rows: more than {per_batch} per batch (+{allowance})"));
    }
    pass(format!("{calls} host calls for {batches} batches of {rows} rows"))
}

async fn destination_host_calls(h: &Harness, case: &Case) -> Verdict {
    let _ = h.reset_target().await;
    let w = h.write(&h.plan(&format!("conf-{}", case.name), 4000, &case.name)).await;
    if let Some(e) = w.report.error() {
        return fail(e.to_string());
    }
    let batches = w.services.metrics.counter(&h.subject.stream, Role::Source, m::BATCHES_EMITTED);
    per_batch_calls(w.report.destination.host_calls, batches, w.report.destination.rows_seen, case)
}

// ---------------------------------------------------------------- data

/// Null counts per column and the sum of `id`, from frames.
fn profile(read: &Read) -> Result<(Vec<(String, i64)>, i128), String> {
    let mut nulls: Vec<(String, i64)> = Vec::new();
    let mut id_sum: i128 = 0;
    for frame in &read.frames {
        let reader = arrow_ipc::reader::StreamReader::try_new(frame.as_slice(), None).map_err(|e| e.to_string())?;
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            if nulls.is_empty() {
                nulls = batch.schema().fields().iter().map(|f| (f.name().clone(), 0)).collect();
            }
            for (i, col) in batch.columns().iter().enumerate() {
                nulls[i].1 += col.null_count() as i64;
            }
            if let Some(ids) = batch.column_by_name("id") {
                let ids = arrow_array::cast::AsArray::as_primitive_opt::<arrow_array::types::Int64Type>(ids.as_ref())
                    .map(|a| a.iter().flatten().map(i128::from).sum::<i128>())
                    .or_else(|| {
                        arrow_array::cast::AsArray::as_primitive_opt::<arrow_array::types::Int32Type>(ids.as_ref())
                            .map(|a| a.iter().flatten().map(i128::from).sum::<i128>())
                    })
                    .unwrap_or(0);
                id_sum += ids;
            }
        }
    }
    Ok((nulls, id_sum))
}

async fn source_round_trip(h: &Harness, case: &Case) -> Verdict {
    let input = match source_input(h, case, false).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let read = h.read(&input.config, h.context("conformance", &input.stream)).await;
    if let Some(e) = &read.side.error {
        return fail(error_text(e));
    }
    if !input.seeded {
        return match input.expect_rows {
            Some(n) if n == read.rows => pass(format!("{n} rows")),
            Some(n) => fail(format!("expected {n} rows, read {}", read.rows)),
            None => na(format!("give `case_config.{}.expect_rows`", case.name)),
        };
    }
    let (nulls, id_sum) = match profile(&read) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let pg = h.pg().expect("seeded");
    let table = format!("\"{}\".\"{}\"", h.subject.schema(), input.stream);
    let mut exprs = vec!["count(*)".to_string(), "coalesce(sum(id), 0)::text".to_string()];
    exprs.extend(nulls.iter().map(|(c, _)| format!("count(*) - count(\"{c}\")")));
    let row = match pg.query_one(&format!("SELECT {} FROM {table}", exprs.join(", ")), &[]).await {
        Ok(r) => r,
        Err(e) => return fail(format!("reading the seeded table back: {e}")),
    };
    let (count, sum): (i64, String) = (row.get(0), row.get(1));
    if count as u64 != read.rows {
        return fail(format!("the table holds {count} rows, the source read {}", read.rows));
    }
    if sum != id_sum.to_string() {
        return fail(format!("sum(id) is {sum} in the table, {id_sum} in what was read"));
    }
    for (i, (column, got)) in nulls.iter().enumerate() {
        let want: i64 = row.get(i + 2);
        if want != *got {
            return fail(format!("column `{column}`: {want} NULLs in the table, {got} read"));
        }
    }
    pass(format!("{count} rows, ids and NULLs in all {} columns as in the table", nulls.len()))
}

async fn source_empty(h: &Harness, case: &Case) -> Verdict {
    let input = match source_input(h, case, false).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let read = h.read(&input.config, h.context("conformance", &input.stream)).await;
    match &read.side.error {
        Some(e) => fail(format!("an empty input failed: {}", error_text(e))),
        None if read.rows == 0 => pass(format!("0 rows, {} frames, {} checkpoint(s)", read.frames.len(), read.checkpoints.len())),
        None => fail(format!("an empty input produced {} rows", read.rows)),
    }
}

/// § Batches: a row larger than `max_batch_bytes` travels alone, in a frame
/// of its own; a row larger than the host's `max_record_bytes` is a data
/// error `RECORD_TOO_LARGE` (the host refuses its frame), not a crash.
async fn huge_row(h: &Harness, case: &Case) -> Verdict {
    let input = match source_input(h, case, false).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let limit = case.param("max_batch_bytes", 1 << 20);
    let ceiling = case.param("max_record_bytes", 2 << 20);
    let mut ctx = h.context("conformance", &input.stream);
    ctx.limits.max_batch_bytes = limit;
    // At the default ceiling the big row is copied.
    let read = h.read(&input.config, ctx.clone()).await;
    if let Some(e) = &read.side.error {
        return fail(format!("a row above max_batch_bytes {limit} must travel alone, but the read failed: {}", error_text(e)));
    }
    let expected = match (input.seeded, input.expect_rows) {
        (true, _) => case.param("rows", 0),
        (false, Some(n)) => n,
        (false, None) => return na(format!("give `case_config.{}.expect_rows`", case.name)),
    };
    if read.rows != expected {
        return fail(format!("expected {expected} rows, read {}", read.rows));
    }
    let mut schema = None;
    let mut big = Vec::new();
    for (i, frame) in read.frames.iter().enumerate() {
        match crate::sandbox::host_api::validate_frame(frame, crate::sandbox::host_api::FrameLimits { max_batch_bytes: limit, ..crate::sandbox::host_api::FrameLimits::NONE }, &mut schema) {
            Ok(_) if frame.len() as u64 > limit => big.push(frame.len()),
            Ok(_) => {}
            Err(e) => return fail(format!("frame {i}: {e}")),
        }
    }
    let Some(&largest) = big.iter().max() else {
        return fail(format!("no frame was above max_batch_bytes {limit}: the input has no row that large"));
    };
    if largest as u64 <= ceiling {
        return fail(format!("the big row's frame ({largest} bytes) is not above max_record_bytes {ceiling}: the second half of the case tests nothing"));
    }
    // Under a lower ceiling the same row is refused as data.
    let refused = h.read_with_record_limit(&input.config, ctx, ceiling).await;
    let copied = format!("{} rows, the big one alone in a frame of {largest} bytes", read.rows);
    match refused.side.error.as_ref().and_then(|e| e.connector_error()) {
        Some(e) if e.category == ErrorCategory::Data && e.code == "RECORD_TOO_LARGE" => {
            pass(format!("{copied}; above max_record_bytes {ceiling} it is data RECORD_TOO_LARGE"))
        }
        Some(e) => fail(format!("{copied}; above max_record_bytes {ceiling} expected data RECORD_TOO_LARGE, got {} {}: {}", e.category, e.code, e.message)),
        None => match &refused.side.error {
            Some(e) => fail(format!("{copied}; above max_record_bytes {ceiling} expected data RECORD_TOO_LARGE, got {e}")),
            None => fail(format!("a row above max_record_bytes {ceiling} was read without error ({} frames)", refused.frames.len())),
        },
    }
}

async fn incremental(h: &Harness, case: &Case) -> Verdict {
    if !h.declares(Feature::Incremental) {
        return na("the source does not declare `incremental`");
    }
    let input = match source_input(h, case, false).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let first = h.read(&input.config, h.incremental(&input.stream, None)).await;
    if let Some(e) = &first.side.error {
        return fail(format!("first read: {}", error_text(e)));
    }
    let Some(cursor) = first.checkpoints.last().and_then(|c| c.cursor.clone()) else {
        return fail(format!("the first incremental read ({} rows) ended without a checkpoint carrying a cursor", first.rows));
    };
    let (second_config, expect_new) = if input.seeded {
        let Some(more) = std::fs::read_to_string(case.dir.join("then.postgres.sql")).ok() else {
            return fail("the case has no then.postgres.sql");
        };
        let more = more.replace("{schema}", &format!("\"{}\"", h.subject.schema()));
        if let Err(e) = h.sql(&more).await {
            return fail(e);
        }
        (input.config.clone(), case.param("new_rows", 0))
    } else {
        let c = &h.subject.case_config[&case.name];
        let mut config = input.config.clone();
        if let Some(then) = &c.then_config {
            super::subject::merge(&mut config, then);
        }
        (config, c.then_expect_rows.unwrap_or(0))
    };
    let second = h.read(&second_config, h.incremental(&input.stream, Some(cursor.clone()))).await;
    if let Some(e) = &second.side.error {
        return fail(format!("continuation read: {}", error_text(e)));
    }
    if second.rows != expect_new {
        return fail(format!("after cursor {:?} the continuation read {} rows, expected exactly the {expect_new} new ones", cursor.last_value, second.rows));
    }
    pass(format!("{} rows, then exactly the {} new rows after cursor {:?}", first.rows, second.rows, cursor.last_value.unwrap_or_default()))
}

async fn destination_round_trip(h: &Harness, case: &Case) -> Verdict {
    let rows = case.param("rows", 5000);
    if let Err(e) = h.reset_target().await
        && h.pg().is_some()
    {
        return fail(e);
    }
    let w = h.write(&h.plan(&format!("conf-{}", case.name), rows, &case.name)).await;
    if let Some(e) = w.report.error() {
        return fail(e.to_string());
    }
    match h.read_back().await {
        Some(Ok((n, d))) if n == rows as i64 && d == rows as i64 => pass(format!("{rows} rows written, {rows} distinct ids read back")),
        Some(Ok((n, d))) => fail(format!("{rows} rows sent; the table holds {n} rows, {d} distinct ids")),
        Some(Err(e)) => fail(format!("read-back failed: {e}")),
        None => {
            let written = w.services.metrics.counter(&h.subject.stream, Role::Destination, m::RECORDS_WRITTEN);
            if written == rows {
                pass(format!("{rows} rows sent, records_written {written} (no read-back: give `postgres:`)"))
            } else {
                fail(format!("{rows} rows sent, records_written {written}"))
            }
        }
    }
}

async fn destination_empty(h: &Harness, case: &Case) -> Verdict {
    let _ = h.reset_target().await;
    let w = h.write(&h.plan(&format!("conf-{}", case.name), 0, &case.name)).await;
    match w.report.error() {
        Some(e) => fail(format!("an empty stream failed: {e}")),
        None => match h.read_back().await {
            Some(Ok((0, _))) | None => pass("an empty stream finishes cleanly"),
            Some(Ok((n, _))) => fail(format!("an empty stream left {n} rows")),
            Some(Err(e)) => fail(e),
        },
    }
}

// ---------------------------------------------------------------- telemetry

async fn source_metrics(h: &Harness, case: &Case) -> Verdict {
    let input = match source_input(h, case, true).await {
        Ok(i) => i,
        Err(v) => return v,
    };
    let read = h.read(&input.config, h.context("conformance", &input.stream)).await;
    if let Some(e) = &read.side.error {
        return fail(error_text(e));
    }
    standard_metrics(&read.services.metrics, &input.stream, Role::Source, read.rows, read.frames.len() as u64)
}

async fn destination_metrics(h: &Harness, case: &Case) -> Verdict {
    let _ = h.reset_target().await;
    let w = h.write(&h.plan(&format!("conf-{}", case.name), 4000, &case.name)).await;
    if let Some(e) = w.report.error() {
        return fail(e.to_string());
    }
    let s = h.subject.stream.as_str();
    let batches = w.services.metrics.counter(s, Role::Source, m::BATCHES_EMITTED);
    standard_metrics(&w.services.metrics, s, Role::Destination, w.report.destination.rows_seen, batches)
}

/// § Metrics: the role's records, batches and bytes counters total what the
/// host saw (`rows` in `batches`) and arrive once per batch or more.
fn standard_metrics(hub: &crate::telemetry::metrics::MetricsHub, stream: &str, role: Role, rows: u64, batches: u64) -> Verdict {
    let [records_name, batches_name, bytes_name] = match role {
        Role::Source => [m::RECORDS_READ, m::BATCHES_EMITTED, m::BYTES_READ],
        _ => [m::RECORDS_WRITTEN, m::BATCHES_WRITTEN, m::BYTES_WRITTEN],
    };
    let mut problems = Vec::new();
    let records = hub.counter(stream, role, records_name);
    if records != rows {
        problems.push(format!("{records_name} totals {records}, the host saw {rows} rows"));
    }
    let counted = hub.counter(stream, role, batches_name);
    if counted != batches {
        problems.push(format!("{batches_name} totals {counted}, the host saw {batches} batches"));
    }
    if batches > 0 && hub.counter(stream, role, bytes_name) == 0 {
        problems.push(format!("{bytes_name} is never reported"));
    }
    for name in [records_name, batches_name, bytes_name] {
        let events = hub.events(stream, role, name);
        if events < batches {
            problems.push(format!("{name} reported {events} times for {batches} batches (expected per batch)"));
        }
    }
    if problems.is_empty() {
        pass(format!("{records_name} {records}, {batches_name} {counted}, reported per batch"))
    } else {
        fail(problems.join("; "))
    }
}

async fn logs(h: &Harness, case: &Case) -> Verdict {
    let (services, stream) = if h.component.manifest.role == Role::Source {
        let input = match source_input(h, case, true).await {
            Ok(i) => i,
            Err(v) => return v,
        };
        let read = h.read(&input.config, h.context("conformance", &input.stream)).await;
        (read.services, input.stream)
    } else {
        let _ = h.reset_target().await;
        let w = h.write(&h.plan(&format!("conf-{}", case.name), 1000, &case.name)).await;
        (w.services, h.subject.stream.clone())
    };
    let logs: Vec<_> = services.guest_logs().into_iter().filter(|l| l.connector == h.component.manifest.name).collect();
    if let Some(bad) = logs.iter().find(|l| l.stream != stream) {
        return fail(format!("log `{}` carries stream `{}`, expected `{stream}`", bad.message, bad.stream));
    }
    pass(format!("{} log events, each labelled with stream `{stream}` and connector `{}`", logs.len(), h.component.manifest.name))
}
