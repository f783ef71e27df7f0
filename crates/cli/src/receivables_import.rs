//! `rentops receivables import`: a vendor's file of violation records (CSV with a header row, or
//! JSON lines) read into `ViolationRecord`s, through a column mapping: a built-in preset
//! (`canonical`, `jtgl`, `vendor-b`) or a TOML file (format in `crates/cli/README.md`).
//!
//! Everything here is pure: bytes in, records and rejections out, so every rule is tested on
//! small inline data. What the CLI cannot read (a row that does not line up with the header, a
//! fine that is not an amount in yuan, a time it cannot place) is rejected here with its line,
//! the record's field and the reason, and never sent; what the service finds wrong comes back
//! in its summary the same way.
//!
//! Fines are parsed digit by digit (`rentops_kernel::Fen::parse_yuan`), never through a float:
//! `"0.1"` is exactly 10 fen. A JSON number with decimals has already been through a float when
//! it is read, so it is refused: the file must give such a fine as a string.

use std::collections::BTreeMap;

use prost::Message as _;
use rentops_kernel::Fen;
use rentops_proto::common::Money;
use rentops_proto::receivables as pb;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use time::format_description::well_known::Rfc3339;
use time::format_description::{BorrowedFormatItem, OwnedFormatItem};
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The built-in mappings, by the name `--vendor` takes.
pub const PRESETS: &[&str] = &["canonical", "jtgl", "vendor-b"];

/// The most records one message may carry (the service's limit).
pub const MAX_BATCH: usize = 1000;

/// The longest `source` the service keeps.
pub const MAX_SOURCE_CHARS: usize = 64;

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values with a header row (the header is line 1).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a file's name suggests: `.jsonl`, `.ndjson` and `.json` are JSON lines,
    /// anything else CSV.
    pub fn from_path(path: &std::path::Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => Self::Jsonl,
            _ => Self::Csv,
        }
    }
}

/// A field of a violation record, as the mapping names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Plate,
    PlateType,
    OffenceAt,
    Place,
    OffenceCode,
    OffenceText,
    FineYuan,
    Points,
    Handled,
    AuthorityRef,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Plate,
        Field::PlateType,
        Field::OffenceAt,
        Field::Place,
        Field::OffenceCode,
        Field::OffenceText,
        Field::FineYuan,
        Field::Points,
        Field::Handled,
        Field::AuthorityRef,
    ];

    /// The name in a mapping file's `[columns]` (and the canonical column's name).
    pub fn key(self) -> &'static str {
        match self {
            Field::Plate => "plate",
            Field::PlateType => "plate_type",
            Field::OffenceAt => "offence_at",
            Field::Place => "place",
            Field::OffenceCode => "offence_code",
            Field::OffenceText => "offence_text",
            Field::FineYuan => "fine_yuan",
            Field::Points => "points",
            Field::Handled => "handled",
            Field::AuthorityRef => "authority_ref",
        }
    }

    /// The record's field as rejections name it (the proto field, as the service names it).
    pub fn record_field(self) -> &'static str {
        match self {
            Field::FineYuan => "fine",
            other => other.key(),
        }
    }

    /// A file without a column for this field cannot be imported at all: every record would be
    /// refused.
    fn required(self) -> bool {
        matches!(
            self,
            Field::Plate | Field::OffenceAt | Field::Place | Field::OffenceCode | Field::FineYuan
        )
    }
}

/// How times without an offset are read.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFormat {
    /// RFC 3339 (with its offset), else `YYYY-MM-DD HH:MM:SS` (also with `T` or `/`, or
    /// without seconds) in the mapping's time zone.
    Auto,
    /// RFC 3339 only.
    Rfc3339,
    /// A `time` format description (`[year]-[month]-[day] [hour]:[minute]:[second]`); with an
    /// offset in it, the offset written wins over the time zone.
    Custom(String, OwnedFormatItem),
}

/// A column mapping: which column holds each field, how times are written and which values
/// mean "handled".
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The preset's name, or the mapping file's path.
    pub name: String,
    /// Per field, the column names to look for, first found wins (`xh` or `archive`).
    pub columns: BTreeMap<Field, Vec<String>>,
    pub time_format: TimeFormat,
    /// The offset of times written without one (China time, +08:00, by default).
    pub timezone: UtcOffset,
    /// Values of the handled column that mean handled / not handled (compared ignoring case
    /// and surrounding spaces). An empty cell is not handled.
    pub handled_true: Vec<String>,
    pub handled_false: Vec<String>,
    /// The CSV delimiter.
    pub delimiter: u8,
    /// The format the mapping file names, if any (`--format` wins).
    pub format: Option<Format>,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Mapping {
    /// A built-in mapping by name (see [`PRESETS`]).
    pub fn preset(name: &str) -> Result<Self, String> {
        let columns: &[(Field, &[&str])] = match name {
            "canonical" => &[
                (Field::Plate, &["plate"]),
                (Field::PlateType, &["plate_type"]),
                (Field::OffenceAt, &["offence_at"]),
                (Field::Place, &["place"]),
                (Field::OffenceCode, &["offence_code"]),
                (Field::OffenceText, &["offence_text"]),
                (Field::FineYuan, &["fine_yuan"]),
                (Field::Points, &["points"]),
                (Field::Handled, &["handled"]),
                (Field::AuthorityRef, &["authority_ref"]),
            ],
            // A 交管12123-style export (vendor A). `fen` is the points (记分), not money.
            "jtgl" => &[
                (Field::Plate, &["hphm"]),
                (Field::PlateType, &["hpzl"]),
                (Field::OffenceAt, &["date"]),
                (Field::Place, &["address"]),
                (Field::OffenceCode, &["code"]),
                (Field::OffenceText, &["act"]),
                (Field::FineYuan, &["money"]),
                (Field::Points, &["fen"]),
                (Field::Handled, &["handled"]),
                (Field::AuthorityRef, &["xh", "archive"]),
            ],
            "vendor-b" => &[
                (Field::Plate, &["plateNumber"]),
                (Field::PlateType, &["plateType"]),
                (Field::OffenceAt, &["violationTime"]),
                (Field::Place, &["location"]),
                (Field::OffenceCode, &["violationCode"]),
                (Field::OffenceText, &["reason"]),
                (Field::FineYuan, &["fineAmount"]),
                (Field::Points, &["penaltyPoint"]),
                (Field::Handled, &["status"]),
                (Field::AuthorityRef, &["recordId"]),
            ],
            other => {
                return Err(format!(
                    "no built-in mapping named '{other}' (there are: {})",
                    PRESETS.join(", ")
                ));
            }
        };
        let (handled_true, handled_false) = match name {
            "jtgl" => (names(&["1", "已处理"]), names(&["0", "未处理"])),
            "vendor-b" => (names(&["handled"]), names(&["unhandled"])),
            _ => (names(&["true", "1"]), names(&["false", "0"])),
        };
        Ok(Self {
            name: name.to_owned(),
            columns: columns.iter().map(|(f, c)| (*f, names(c))).collect(),
            time_format: TimeFormat::Auto,
            timezone: offset!(+8),
            handled_true,
            handled_false,
            delimiter: b',',
            format: None,
        })
    }

    /// A mapping file (TOML): a preset to start from (`extends`, default `canonical`), then
    /// what the file changes. `name` names it in messages.
    pub fn from_toml(text: &str, name: &str) -> Result<Self, String> {
        let file: MappingFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        let mut m = Self::preset(file.extends.as_deref().unwrap_or("canonical")).map_err(|e| format!("{name}: {e}"))?;
        m.name = name.to_owned();
        m.format = file.format;
        if let Some(d) = &file.delimiter {
            m.delimiter = match d.as_bytes() {
                [b] if b.is_ascii() && !b.is_ascii_alphanumeric() && *b != b'"' && *b != b'\n' => *b,
                _ => {
                    return Err(format!(
                        "{name}: delimiter must be one ASCII character such as \",\", \";\" or \"\\t\""
                    ));
                }
            };
        }
        if let Some(t) = &file.time_format {
            m.time_format = parse_time_format(t).map_err(|e| format!("{name}: time_format: {e}"))?;
        }
        if let Some(z) = &file.timezone {
            m.timezone = parse_timezone(z).map_err(|e| format!("{name}: timezone: {e}"))?;
        }
        let columns = file.columns.unwrap_or_default();
        for (field, given) in [
            (Field::Plate, columns.plate),
            (Field::PlateType, columns.plate_type),
            (Field::OffenceAt, columns.offence_at),
            (Field::Place, columns.place),
            (Field::OffenceCode, columns.offence_code),
            (Field::OffenceText, columns.offence_text),
            (Field::FineYuan, columns.fine_yuan),
            (Field::Points, columns.points),
            (Field::Handled, columns.handled),
            (Field::AuthorityRef, columns.authority_ref),
        ] {
            if let Some(given) = given {
                let list = given.into_vec();
                if list.iter().any(|c| c.trim().is_empty()) {
                    return Err(format!("{name}: columns.{} names an empty column", field.key()));
                }
                m.columns.insert(field, list);
            }
        }
        if let Some(h) = file.handled_values {
            if let Some(t) = h.handled {
                m.handled_true = t;
            }
            if let Some(f) = h.unhandled {
                m.handled_false = f;
            }
            let overlap: Vec<&String> = m
                .handled_true
                .iter()
                .filter(|t| m.handled_false.iter().any(|f| same(f, t)))
                .collect();
            if !overlap.is_empty() {
                return Err(format!("{name}: {overlap:?} mean both handled and not handled"));
            }
        }
        Ok(m)
    }

    /// The column names to look for `field` under (none: the file has no such column).
    fn columns_of(&self, field: Field) -> &[String] {
        self.columns.get(&field).map(Vec::as_slice).unwrap_or_default()
    }

    /// A value of the handled column: `Some(true)`, `Some(false)`, or `None` when it means
    /// neither. Empty is not handled.
    fn handled(&self, value: &str) -> Option<bool> {
        let v = value.trim();
        if v.is_empty() || self.handled_false.iter().any(|f| same(f, v)) {
            Some(false)
        } else if self.handled_true.iter().any(|t| same(t, v)) {
            Some(true)
        } else {
            None
        }
    }

    fn handled_hint(&self) -> String {
        format!(
            "handled is one of {:?}, not handled one of {:?} (or empty)",
            self.handled_true, self.handled_false
        )
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// The mapping file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    extends: Option<String>,
    format: Option<Format>,
    delimiter: Option<String>,
    time_format: Option<String>,
    timezone: Option<String>,
    columns: Option<ColumnsFile>,
    handled_values: Option<HandledValuesFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnsFile {
    plate: Option<Names>,
    plate_type: Option<Names>,
    offence_at: Option<Names>,
    place: Option<Names>,
    offence_code: Option<Names>,
    offence_text: Option<Names>,
    fine_yuan: Option<Names>,
    points: Option<Names>,
    handled: Option<Names>,
    authority_ref: Option<Names>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandledValuesFile {
    handled: Option<Vec<String>>,
    unhandled: Option<Vec<String>>,
}

/// One column name, or several to try in turn.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    fn into_vec(self) -> Vec<String> {
        match self {
            Names::One(s) => vec![s],
            Names::Many(v) => v,
        }
    }
}

fn parse_time_format(text: &str) -> Result<TimeFormat, String> {
    match text.trim() {
        "auto" => Ok(TimeFormat::Auto),
        "rfc3339" => Ok(TimeFormat::Rfc3339),
        custom => time::format_description::parse_owned::<2>(custom)
            .map(|f| TimeFormat::Custom(custom.to_owned(), f))
            .map_err(|e| {
                format!("{custom:?} is neither auto, rfc3339 nor a format such as \"[year]-[month]-[day] [hour]:[minute]:[second]\" ({e})")
            }),
    }
}

/// A fixed offset: `+08:00`, `-05:30`, `UTC`/`Z`, or `Asia/Shanghai` (China has kept +08:00
/// all year since 1991, so its zone is that offset).
pub fn parse_timezone(text: &str) -> Result<UtcOffset, String> {
    let t = text.trim();
    match t {
        "UTC" | "utc" | "Z" => return Ok(UtcOffset::UTC),
        "Asia/Shanghai" | "Asia/Chongqing" | "PRC" | "CST" => return Ok(offset!(+8)),
        _ => {}
    }
    UtcOffset::parse(t, format_description!("[offset_hour sign:mandatory]:[offset_minute]"))
        .map_err(|_| format!("{t:?} is not an offset such as \"+08:00\", nor UTC or Asia/Shanghai"))
}

/// The local formats `auto` reads, in the mapping's time zone.
const LOCAL_FORMATS: &[&[BorrowedFormatItem<'static>]] = &[
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    format_description!("[year]/[month]/[day] [hour]:[minute]:[second]"),
    format_description!("[year]-[month]-[day] [hour]:[minute]"),
    format_description!("[year]/[month]/[day] [hour]:[minute]"),
];

/// The time of an offence as written, read by `mapping`'s time format and zone.
pub fn parse_offence_at(text: &str, mapping: &Mapping) -> Result<OffsetDateTime, String> {
    let t = text.trim();
    let zone = mapping.timezone;
    let local = |p: PrimitiveDateTime| p.assume_offset(zone);
    match &mapping.time_format {
        TimeFormat::Rfc3339 => OffsetDateTime::parse(t, &Rfc3339).map_err(|_| format!("{t:?} is not an RFC 3339 time")),
        TimeFormat::Auto => OffsetDateTime::parse(t, &Rfc3339)
            .ok()
            .or_else(|| {
                LOCAL_FORMATS
                    .iter()
                    .find_map(|f| PrimitiveDateTime::parse(t, f).ok())
                    .map(local)
            })
            .ok_or_else(|| {
                format!(
                    "{t:?} is not a time: YYYY-MM-DD HH:MM:SS (in {}) or RFC 3339",
                    offset_text(zone)
                )
            }),
        TimeFormat::Custom(text_format, f) => OffsetDateTime::parse(t, f)
            .ok()
            .or_else(|| PrimitiveDateTime::parse(t, f).ok().map(local))
            .ok_or_else(|| format!("{t:?} does not match the time format {text_format:?}")),
    }
}

fn offset_text(o: UtcOffset) -> String {
    let (h, m, _) = o.as_hms();
    let sign = if o.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// A fine in yuan, exactly, as fen. Refused: no digits, a third decimal, a currency sign or
/// unit, a negative amount, and thousands separators (`"1,000.00"`): some exports write a comma
/// for the decimal point, so a comma is never guessed at.
pub fn parse_fine(text: &str) -> Result<Fen, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("required: the fine in yuan, e.g. 200 or 200.50".into());
    }
    if t.contains([',', '，']) {
        return Err(format!(
            "{t:?} has a comma: write the fine without thousands separators, with a point for decimals (1000.00)"
        ));
    }
    match Fen::parse_yuan(t) {
        Ok(f) if f.is_negative() => Err(format!("{t:?} is negative; a fine is not")),
        Ok(f) => Ok(f),
        Err(e) => Err(e.to_string()),
    }
}

/// What one record is rejected for.
fn rejection(line: u32, field: &str, reason: impl Into<String>) -> pb::Rejection {
    pb::Rejection {
        line,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A cell as read: text (CSV, or a JSON string), or a JSON value of another kind.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(String),
    Bool(bool),
    /// A JSON number without a fraction or exponent: its digits, exactly.
    Integer(String),
    /// A JSON number with a fraction or an exponent, as serde_json printed the float it read.
    Float(String),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Integer(s) | Cell::Float(s) => s.clone(),
            Cell::Bool(b) => b.to_string(),
        }
    }
}

/// One record's cells by field, each with the column it came from.
type Row = BTreeMap<Field, (String, Cell)>;

/// A row read into a record, or every reason it cannot be.
fn record(row: &Row, line: u32, source: &str, mapping: &Mapping) -> Result<pb::ViolationRecord, Vec<pb::Rejection>> {
    let mut rejected = Vec::new();
    let mut reject = |field: Field, column: &str, reason: String| {
        rejected.push(rejection(
            line,
            field.record_field(),
            format!("column {column}: {reason}"),
        ));
    };
    let text = |f: Field| row.get(&f).map(|(_, c)| c.text().trim().to_owned()).unwrap_or_default();

    let offence_at = match row.get(&Field::OffenceAt) {
        Some((column, c)) if !c.text().trim().is_empty() => match parse_offence_at(&c.text(), mapping) {
            Ok(t) => Some(t),
            Err(e) => {
                reject(Field::OffenceAt, column, e);
                None
            }
        },
        Some((column, _)) => {
            reject(Field::OffenceAt, column, "required: the time of the offence".into());
            None
        }
        None => None,
    };
    let fine = match row.get(&Field::FineYuan) {
        Some((column, Cell::Float(f))) => {
            reject(
                Field::FineYuan,
                column,
                format!(
                    "the JSON number {f} has decimals, so it was read through a binary float: write the fine as a string (\"{f}\")"
                ),
            );
            None
        }
        Some((column, Cell::Bool(_))) => {
            reject(Field::FineYuan, column, "a fine in yuan, not true or false".into());
            None
        }
        Some((column, c)) => match parse_fine(&c.text()) {
            Ok(f) => Some(f),
            Err(e) => {
                reject(Field::FineYuan, column, e);
                None
            }
        },
        None => None,
    };
    let points = match row.get(&Field::Points) {
        None => 0,
        Some((column, c)) => {
            let t = c.text();
            let t = t.trim();
            match (c, t.parse::<u32>()) {
                (_, _) if t.is_empty() => 0,
                (Cell::Text(_) | Cell::Integer(_), Ok(p)) => p,
                _ => {
                    reject(Field::Points, column, format!("{t:?} is not a whole number of points"));
                    0
                }
            }
        }
    };
    let handled = match row.get(&Field::Handled) {
        None => false,
        Some((_, Cell::Bool(b))) => *b,
        Some((column, c)) => match mapping.handled(&c.text()) {
            Some(h) => h,
            None => {
                reject(
                    Field::Handled,
                    column,
                    format!("{:?} is not a handled flag: {}", c.text(), mapping.handled_hint()),
                );
                false
            }
        },
    };
    if !rejected.is_empty() {
        return Err(rejected);
    }
    Ok(pb::ViolationRecord {
        plate: text(Field::Plate),
        plate_type: text(Field::PlateType),
        offence_at: offence_at.map(rentops_proto::timestamp::to_timestamp),
        place: text(Field::Place),
        offence_code: text(Field::OffenceCode),
        offence_text: text(Field::OffenceText),
        fine: fine.map(|f| Money {
            amount_fen: f.fen(),
            currency: "CNY".to_owned(),
        }),
        points,
        handled,
        authority_ref: text(Field::AuthorityRef),
        line,
        source: source.to_owned(),
    })
}

/// A file read: the records to send, and the lines rejected before sending.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    pub records: Vec<pb::ViolationRecord>,
    pub rejected: Vec<pb::Rejection>,
    /// Records (data rows or JSON lines) found, read or not.
    pub rows: u32,
}

impl Parsed {
    fn push(&mut self, r: Result<pb::ViolationRecord, Vec<pb::Rejection>>) {
        self.rows += 1;
        match r {
            Ok(r) => self.records.push(r),
            Err(mut e) => self.rejected.append(&mut e),
        }
    }
}

/// Reads `bytes` as `format` through `mapping`; every record's `source` is `source`. An error
/// is a file that cannot be imported at all (a header without a required column, a header that
/// is not UTF-8); a bad row is a rejection and the rest is read.
pub fn parse(bytes: &[u8], format: Format, mapping: &Mapping, source: &str) -> Result<Parsed, String> {
    // Spreadsheet programs start UTF-8 files with a byte order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match format {
        Format::Csv => parse_csv(bytes, mapping, source),
        Format::Jsonl => Ok(parse_jsonl(bytes, mapping, source)),
    }
}

const NOT_UTF8: &str = "not UTF-8: save the file as UTF-8 (a GBK export converts with iconv -f GBK -t UTF-8)";

fn parse_csv(bytes: &[u8], mapping: &Mapping, source: &str) -> Result<Parsed, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = match reader.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|c| std::str::from_utf8(c).map(str::to_owned))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("the header row is {NOT_UTF8}"))?,
        Err(e) => return Err(format!("cannot read the header row: {e}")),
    };
    let mut out = Parsed::default();
    if header.iter().all(String::is_empty) {
        return Ok(out);
    }
    // Each field's column: the first of its names the header has (exactly, else ignoring case).
    let mut index: BTreeMap<Field, (usize, String)> = BTreeMap::new();
    let mut missing = Vec::new();
    for field in Field::ALL {
        let wanted = mapping.columns_of(field);
        let found = wanted
            .iter()
            .find_map(|w| header.iter().position(|h| h == w))
            .or_else(|| wanted.iter().find_map(|w| header.iter().position(|h| same(h, w))));
        match found {
            Some(i) => {
                index.insert(field, (i, header[i].clone()));
            }
            None if field.required() => missing.push(format!("{} ({})", field.key(), wanted.join(" or "))),
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "the header has no column for {} (mapping {}); its columns are: {}",
            missing.join(", "),
            mapping.name,
            header.join(", ")
        ));
    }
    let mut lines = Lines::new(bytes);
    let mut row = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.at(row.position());
                if row.len() != header.len() {
                    out.push(Err(vec![rejection(
                        line,
                        "record",
                        format!(
                            "has {} fields where the header has {}: a value with the delimiter in it needs quotes",
                            row.len(),
                            header.len()
                        ),
                    )]));
                    continue;
                }
                let mut cells = Row::new();
                let mut bad = Vec::new();
                for (field, (i, column)) in &index {
                    match std::str::from_utf8(&row[*i]) {
                        Ok(s) => {
                            cells.insert(*field, (column.clone(), Cell::Text(s.to_owned())));
                        }
                        Err(_) => bad.push(rejection(
                            line,
                            field.record_field(),
                            format!("column {column}: {NOT_UTF8}"),
                        )),
                    }
                }
                if bad.is_empty() {
                    out.push(record(&cells, line, source, mapping));
                } else {
                    out.push(Err(bad));
                }
            }
            Err(e) => {
                let line = lines.at(e.position());
                if matches!(e.kind(), csv::ErrorKind::Io(_)) || line == 0 {
                    return Err(format!("cannot read the file: {e}"));
                }
                out.push(Err(vec![rejection(line, "record", e.to_string())]));
            }
        }
    }
    Ok(out)
}

/// The line a CSV record starts on, counted from the bytes: the reader's own line count leaves
/// out the blank lines it skips, and its byte offset points before them.
struct Lines<'a> {
    bytes: &'a [u8],
    /// A byte offset, and the line it is on.
    at: usize,
    line: u32,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0, line: 1 }
    }

    /// The line of the record the reader placed at `p` (offsets only grow); 0 when unknown.
    fn at(&mut self, p: Option<&csv::Position>) -> u32 {
        let Some(byte) = p.and_then(|p| usize::try_from(p.byte()).ok()) else {
            return 0;
        };
        let byte = byte.min(self.bytes.len());
        if byte >= self.at {
            let newlines = self.bytes[self.at..byte].iter().filter(|b| **b == b'\n').count();
            self.line = self.line.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
            self.at = byte;
        }
        // The blank lines the reader skipped before the record.
        loop {
            let rest = &self.bytes[self.at..];
            let skip = if rest.starts_with(b"\r\n") {
                2
            } else if rest.starts_with(b"\n") {
                1
            } else {
                break;
            };
            self.at += skip;
            self.line = self.line.saturating_add(1);
        }
        self.line
    }
}

fn parse_jsonl(bytes: &[u8], mapping: &Mapping, source: &str) -> Parsed {
    let mut out = Parsed::default();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let Ok(text) = std::str::from_utf8(raw) else {
            out.push(Err(vec![rejection(line, "record", format!("the line is {NOT_UTF8}"))]));
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                out.push(Err(vec![rejection(line, "record", "not a JSON object")]));
                continue;
            }
            Err(e) => {
                out.push(Err(vec![rejection(line, "record", format!("not JSON: {e}"))]));
                continue;
            }
        };
        let mut cells = Row::new();
        let mut bad = Vec::new();
        for field in Field::ALL {
            let wanted = mapping.columns_of(field);
            let found = wanted
                .iter()
                .find_map(|w| object.get_key_value(w.as_str()))
                .or_else(|| wanted.iter().find_map(|w| object.iter().find(|(k, _)| same(k, w))));
            let Some((key, value)) = found else { continue };
            let cell = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => Cell::Text(s.clone()),
                serde_json::Value::Bool(b) => Cell::Bool(*b),
                serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Cell::Integer(n.to_string()),
                serde_json::Value::Number(n) => Cell::Float(n.to_string()),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    bad.push(rejection(
                        line,
                        field.record_field(),
                        format!("key {key}: a JSON list or object, not a value"),
                    ));
                    continue;
                }
            };
            cells.insert(field, (key.clone(), cell));
        }
        if bad.is_empty() {
            out.push(record(&cells, line, source, mapping));
        } else {
            out.push(Err(bad));
        }
    }
    out
}

/// The first 16 bytes of the file's SHA-256, in hex.
pub fn file_digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes)[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The batches to send, each with its request id. Derived from the file's content and the
/// batch's place in it, so running the same import again is a retry the service answers as
/// before, recording nothing twice: `imp-<file digest>-<index>-<digest of the batch's records>`
/// (the last part keeps two runs that read the same file differently, with another mapping or
/// batch size, from reusing one id for other records). With `prefix` (`--request-id`), the ids
/// are `<prefix>-<index>`.
pub fn batches(
    records: &[pb::ViolationRecord],
    size: usize,
    file_digest: &str,
    prefix: Option<&str>,
) -> Result<Vec<(String, Vec<pb::ViolationRecord>)>, String> {
    let size = size.clamp(1, MAX_BATCH);
    records
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let id = match prefix {
                Some(p) => format!("{p}-{i}"),
                None => {
                    let mut h = Sha256::new();
                    for r in chunk {
                        h.update(r.encode_to_vec());
                    }
                    format!("imp-{file_digest}-{i}-{}", hex(&h.finalize()[..4]))
                }
            };
            if id.len() > 128 {
                return Err(format!(
                    "request id {id} is longer than 128 characters: use a shorter --request-id"
                ));
            }
            Ok((id, chunk.to_vec()))
        })
        .collect()
}

/// The source to record: `--source`, else the file's name, cut to what the service keeps.
pub fn source_name(explicit: Option<&str>, path: &std::path::Path) -> String {
    let name = explicit.map(str::to_owned).unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    name.chars().take(MAX_SOURCE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> Mapping {
        Mapping::preset(name).unwrap()
    }

    fn csv(text: &str, mapping: &Mapping) -> Parsed {
        parse(text.as_bytes(), Format::Csv, mapping, "test.csv").unwrap()
    }

    fn jsonl(text: &str, mapping: &Mapping) -> Parsed {
        parse(text.as_bytes(), Format::Jsonl, mapping, "test.jsonl").unwrap()
    }

    fn fen(r: &pb::ViolationRecord) -> i64 {
        r.fine.as_ref().map(|m| m.amount_fen).unwrap()
    }

    fn at(r: &pb::ViolationRecord) -> OffsetDateTime {
        rentops_proto::timestamp::from_timestamp(r.offence_at.as_ref().unwrap()).unwrap()
    }

    fn utc(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap()
    }

    /// (line, field) of each rejection.
    fn where_(p: &Parsed) -> Vec<(u32, &str)> {
        p.rejected.iter().map(|r| (r.line, r.field.as_str())).collect()
    }

    #[test]
    fn yuan_become_fen_exactly() {
        assert_eq!(parse_fine("200"), Ok(Fen(20_000)));
        assert_eq!(parse_fine("200.50"), Ok(Fen(20_050)));
        assert_eq!(parse_fine("200.5"), Ok(Fen(20_050)));
        // No binary float holds 0.1; digit by digit it is exactly 10 fen.
        assert_eq!(parse_fine("0.1"), Ok(Fen(10)));
        assert_eq!(parse_fine("0.01"), Ok(Fen(1)));
        assert_eq!(parse_fine(" 50 "), Ok(Fen(5_000)));
        assert_eq!(parse_fine("0"), Ok(Fen(0)));
        assert_eq!(parse_fine("999999.99"), Ok(Fen(99_999_999)));
    }

    #[test]
    fn what_is_not_an_amount_in_yuan_is_refused_with_why() {
        // Thousands separators are refused on purpose: a comma is a decimal point in some exports.
        let e = parse_fine("1,000.00").unwrap_err();
        assert!(e.contains("comma") && e.contains("1000.00"), "{e}");
        assert!(parse_fine("1，000").unwrap_err().contains("comma"));
        assert!(parse_fine("200.505").unwrap_err().contains("decimals"));
        assert!(parse_fine("-200").unwrap_err().contains("negative"));
        assert!(parse_fine("¥200").unwrap_err().contains("not an amount"));
        assert!(parse_fine("200元").unwrap_err().contains("not an amount"));
        assert!(parse_fine("2e2").is_err());
        assert!(parse_fine(".5").is_err());
        assert!(parse_fine("").unwrap_err().contains("required"));
    }

    #[test]
    fn a_jtgl_export_maps_its_columns_and_fen_is_points_not_money() {
        let file = "\
xh,hphm,hpzl,date,address,act,code,money,fen,handled
3101150001234567,沪AD12345,52,2026-11-03 08:15:00,延安高架路外滩入口,机动车违反禁令标志指示的,1344,200,3,0
3101150001234568,沪A·D12345,52,2026-11-04 18:00:00,世纪大道,违反规定停放,1039,150.50,0,1
";
        let p = csv(file, &preset("jtgl"));
        assert_eq!((p.rows, p.rejected.len()), (2, 0), "{:?}", p.rejected);
        let a = &p.records[0];
        assert_eq!(
            (a.plate.as_str(), a.plate_type.as_str(), a.place.as_str()),
            ("沪AD12345", "52", "延安高架路外滩入口")
        );
        assert_eq!(
            (a.offence_code.as_str(), a.authority_ref.as_str()),
            ("1344", "3101150001234567")
        );
        assert_eq!(a.offence_text, "机动车违反禁令标志指示的");
        // money is yuan; fen is the points.
        assert_eq!((fen(a), a.points, a.handled), (20_000, 3, false));
        assert_eq!(a.fine.as_ref().unwrap().currency, "CNY");
        // China time: 08:15 +08:00 is 00:15 UTC.
        assert_eq!(at(a), utc("2026-11-03T00:15:00Z"));
        // The header is line 1.
        assert_eq!((a.line, a.source.as_str()), (2, "test.csv"));
        let b = &p.records[1];
        assert_eq!((fen(b), b.points, b.handled, b.line), (15_050, 0, true, 3));
    }

    #[test]
    fn jtgl_reads_chinese_handled_flags_and_the_archive_column() {
        let file = "archive,hphm,date,address,code,money,handled\n\
                    A1,沪AD1,2026-11-03 08:15:00,x,1344,200,已处理\n\
                    A2,沪AD2,2026-11-03 08:15:00,x,1344,200,未处理\n\
                    A3,沪AD3,2026-11-03 08:15:00,x,1344,200,\n\
                    A4,沪AD4,2026-11-03 08:15:00,x,1344,200,maybe\n";
        let p = csv(file, &preset("jtgl"));
        let flags: Vec<(&str, bool)> = p
            .records
            .iter()
            .map(|r| (r.authority_ref.as_str(), r.handled))
            .collect();
        assert_eq!(flags, [("A1", true), ("A2", false), ("A3", false)]);
        assert_eq!(where_(&p), [(5, "handled")]);
        assert!(p.rejected[0].reason.contains("maybe") && p.rejected[0].reason.contains("已处理"));
    }

    #[test]
    fn vendor_b_reads_rfc3339_or_local_times_and_its_status_words() {
        let file = "plateNumber,plateType,violationTime,location,reason,violationCode,fineAmount,penaltyPoint,status,recordId\n\
                    沪AD1,02,2026-11-03T08:15:00+08:00,a,闯红灯,1625,200,6,handled,B-1\n\
                    沪AD2,02,2026-11-03T00:15:00Z,a,闯红灯,1625,200,6,UNHANDLED,B-2\n\
                    沪AD3,02,2026-11-03 08:15:00,a,闯红灯,1625,200,6,unhandled,B-3\n";
        let p = csv(file, &preset("vendor-b"));
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        let same_moment = utc("2026-11-03T00:15:00Z");
        assert!(p.records.iter().all(|r| at(r) == same_moment));
        let handled: Vec<bool> = p.records.iter().map(|r| r.handled).collect();
        assert_eq!(handled, [true, false, false]);
        assert_eq!((p.records[0].offence_text.as_str(), p.records[0].points), ("闯红灯", 6));
    }

    #[test]
    fn canonical_columns_are_the_record_fields() {
        let file = "plate,plate_type,offence_at,place,offence_code,offence_text,fine_yuan,points,handled,authority_ref\n\
                    沪AD00001,52,2026-11-03T08:15:00+08:00,世纪大道,1039,违停,0.1,0,false,\n";
        let p = csv(file, &preset("canonical"));
        assert_eq!((fen(&p.records[0]), p.records[0].authority_ref.as_str()), (10, ""));
    }

    #[test]
    fn bad_lines_are_reported_by_line_and_field_and_the_rest_is_read() {
        let file = "\
hphm,date,address,code,money,fen
沪AD1,2026-11-03 08:15:00,a,1344,1,000.00,3
沪AD2,2026-11-03 08:15:00,a,1344,\"1,000.00\",3
沪AD3,yesterday,a,1344,200.123,x
沪AD4,2026-11-03 08:15:00,a,1344,200,3

沪AD5,,a,1344,,
";
        let p = csv(file, &preset("jtgl"));
        assert_eq!(p.records.iter().map(|r| r.line).collect::<Vec<_>>(), [5]);
        assert_eq!(
            where_(&p),
            [
                // one field too many: the unquoted comma
                (2, "record"),
                (3, "fine"),
                (4, "offence_at"),
                (4, "fine"),
                (4, "points"),
                // the blank line 6 is skipped; line numbers still count it
                (7, "offence_at"),
                (7, "fine"),
            ]
        );
        assert!(p.rejected[0].reason.contains("has 7 fields where the header has 6"));
        assert!(p.rejected[1].reason.starts_with("column money: "));
        assert!(p.rejected[3].reason.contains("decimals"));
        assert_eq!(p.rows, 5);
        // Quoted values may span lines: a record's line is the one it starts on.
        let p = csv(
            "hphm,date,address,code,money\r\n沪AD1,2026-11-03 08:15:00,\"世纪大道\r\n近2号门\",1039,200\r\n\r\n\r\n沪AD2,x,a,1039,200\r\n",
            &preset("jtgl"),
        );
        assert_eq!(
            (p.records[0].line, p.records[0].place.as_str()),
            (2, "世纪大道\r\n近2号门")
        );
        assert_eq!(where_(&p), [(6, "offence_at")]);
    }

    #[test]
    fn a_header_without_a_required_column_stops_the_import_naming_it() {
        let e = parse(b"hphm,date,address,money\nx,y,z,1\n", Format::Csv, &preset("jtgl"), "f").unwrap_err();
        assert!(
            e.contains("offence_code (code)") && e.contains("hphm, date, address, money"),
            "{e}"
        );
        // Optional columns may be missing; an empty file has nothing to import.
        let p = csv(
            "hphm,date,address,code,money\n沪AD1,2026-11-03 08:15:00,a,1344,200\n",
            &preset("jtgl"),
        );
        assert_eq!(
            (p.records.len(), p.records[0].points, p.records[0].handled),
            (1, 0, false)
        );
        assert_eq!(csv("", &preset("jtgl")), Parsed::default());
    }

    #[test]
    fn headers_match_ignoring_case_and_a_byte_order_mark() {
        let file = "\u{feff}PLATENUMBER,ViolationTime,location,violationCode,fineamount\n沪AD1,2026-11-03 08:15:00,a,1625,200\n";
        let p = csv(file, &preset("vendor-b"));
        assert_eq!(p.records.len(), 1, "{:?}", p.rejected);
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_a_hint() {
        let mut file = b"hphm,date,address,code,money\n".to_vec();
        file.extend_from_slice(b"\xbb\xa6AD1,2026-11-03 08:15:00,a,1344,200\n"); // GBK
        let p = parse(&file, Format::Csv, &preset("jtgl"), "f").unwrap();
        assert_eq!(where_(&p), [(2, "plate")]);
        assert!(p.rejected[0].reason.contains("iconv"));
        let header = parse(b"\xbb\xa6,date\n", Format::Csv, &preset("jtgl"), "f").unwrap_err();
        assert!(header.contains("not UTF-8"), "{header}");
    }

    #[test]
    fn time_zones_place_local_times_and_written_offsets_win() {
        let m = preset("jtgl");
        assert_eq!(
            parse_offence_at("2026-11-03 08:15:00", &m),
            Ok(utc("2026-11-03T00:15:00Z"))
        );
        assert_eq!(
            parse_offence_at("2026/11/03 08:15", &m),
            Ok(utc("2026-11-03T00:15:00Z"))
        );
        // Crossing midnight: 07:00 in China is the day before in UTC.
        assert_eq!(
            parse_offence_at("2026-11-03 07:00:00", &m),
            Ok(utc("2026-11-02T23:00:00Z"))
        );
        assert_eq!(
            parse_offence_at("2026-11-03T08:15:00Z", &m),
            Ok(utc("2026-11-03T08:15:00Z"))
        );
        let utc_file = Mapping::from_toml("extends = \"jtgl\"\ntimezone = \"UTC\"\n", "m.toml").unwrap();
        assert_eq!(
            parse_offence_at("2026-11-03 08:15:00", &utc_file),
            Ok(utc("2026-11-03T08:15:00Z"))
        );
        assert!(parse_offence_at("2026-11-31 08:00:00", &m).is_err());
        assert!(parse_offence_at("03/11/2026 08:00", &m).unwrap_err().contains("+08:00"));
        assert_eq!(parse_timezone("Asia/Shanghai"), Ok(offset!(+8)));
        assert_eq!(parse_timezone("-05:30"), Ok(offset!(-5:30)));
        assert!(parse_timezone("8").is_err());
    }

    #[test]
    fn a_mapping_file_renames_columns_and_sets_formats() {
        let toml = r#"
            extends = "jtgl"
            format = "csv"
            delimiter = ";"
            time_format = "[day].[month].[year] [hour]:[minute]"
            timezone = "+08:00"

            [columns]
            plate = "车牌号"
            fine_yuan = ["罚款金额", "罚款"]
            authority_ref = "决定书编号"

            [handled_values]
            handled = ["是"]
            unhandled = ["否"]
        "#;
        let m = Mapping::from_toml(toml, "vendor-c.toml").unwrap();
        assert_eq!((m.format, m.delimiter), (Some(Format::Csv), b';'));
        let file = "车牌号;date;address;code;罚款;fen;handled;决定书编号\n\
                    沪AD1;03.11.2026 08:15;a;1344;200.00;3;是;J-1\n\
                    沪AD2;03.11.2026 08:15;a;1344;200.00;3;1;J-2\n";
        let p = csv(file, &m);
        let r = &p.records[0];
        assert_eq!(
            (r.plate.as_str(), fen(r), r.handled, r.authority_ref.as_str()),
            ("沪AD1", 20_000, true, "J-1")
        );
        assert_eq!(at(r), utc("2026-11-03T00:15:00Z"));
        // "1" is no longer a handled flag here.
        assert_eq!(where_(&p), [(3, "handled")]);
    }

    #[test]
    fn the_example_mapping_and_the_sample_file_read_as_documented() {
        let m = Mapping::from_toml(
            include_str!("../../../deploy/local/samples/mapping-example.toml"),
            "mapping-example.toml",
        )
        .unwrap();
        let file = "决定书编号;车牌号码;违法时间;违法地点;违法代码;罚款金额;记分;处理状态\n\
                    J-1;沪AD1;2026-11-03 08:15:00;世纪大道;1039;200.50;3;已缴款\n";
        let p = csv(file, &m);
        let r = &p.records[0];
        assert_eq!(
            (r.authority_ref.as_str(), fen(r), r.points, r.handled),
            ("J-1", 20_050, 3, true)
        );
        // The README's sample: three records read, the fine "200元" refused on line 5.
        let sample = include_bytes!("../../../deploy/local/samples/violations-jtgl.csv");
        let p = parse(sample, Format::Csv, &preset("jtgl"), "violations-jtgl.csv").unwrap();
        assert_eq!((p.rows, p.records.len()), (4, 3));
        assert_eq!(where_(&p), [(5, "fine")]);
        let handled: Vec<bool> = p.records.iter().map(|r| r.handled).collect();
        assert_eq!(handled, [false, false, true]);
    }

    #[test]
    fn a_bad_mapping_file_says_what_is_wrong() {
        for (toml, says) in [
            ("[columns]\nplates = \"x\"\n", "plates"),
            ("extends = \"vendor-z\"\n", "vendor-z"),
            ("timezone = \"Mars\"\n", "timezone"),
            ("time_format = \"[yeer]\"\n", "time_format"),
            ("delimiter = \";;\"\n", "delimiter"),
            ("[handled_values]\nhandled = [\"1\"]\nunhandled = [\"1\"]\n", "both"),
            ("[columns]\nplate = \"\"\n", "empty"),
        ] {
            let e = Mapping::from_toml(toml, "m.toml").unwrap_err();
            assert!(e.starts_with("m.toml: ") && e.contains(says), "{toml:?}: {e}");
        }
        assert!(
            Mapping::preset("vendor-z")
                .unwrap_err()
                .contains("canonical, jtgl, vendor-b")
        );
    }

    #[test]
    fn json_lines_take_strings_integers_and_booleans_but_no_float_fines() {
        let file = r#"{"plateNumber":"沪AD1","violationTime":"2026-11-03T08:15:00+08:00","location":"a","violationCode":1625,"fineAmount":"0.1","penaltyPoint":6,"status":"handled","recordId":7}
{"plateNumber":"沪AD2","violationTime":"2026-11-03 08:15:00","location":"a","violationCode":"1625","fineAmount":200,"status":"unhandled"}

{"plateNumber":"沪AD3","violationTime":"2026-11-03 08:15:00","location":"a","violationCode":"1625","fineAmount":200.5}
not json
[1,2]
{"plateNumber":"沪AD4","violationTime":"2026-11-03 08:15:00","location":"a","violationCode":"1625","fineAmount":"200","penaltyPoint":1.5}
{"plateNumber":"沪AD5","violationTime":"2026-11-03 08:15:00","location":"a","violationCode":"1625","fineAmount":"200","penaltyPoint":null,"status":true}
"#;
        let p = jsonl(file, &preset("vendor-b"));
        let r = &p.records;
        assert_eq!(r.len(), 3, "{:?}", p.rejected);
        assert_eq!((fen(&r[0]), r[0].points, r[0].handled, r[0].line), (10, 6, true, 1));
        assert_eq!((r[0].offence_code.as_str(), r[0].authority_ref.as_str()), ("1625", "7"));
        assert_eq!((fen(&r[1]), r[1].handled, r[1].line), (20_000, false, 2));
        assert_eq!(at(&r[1]), utc("2026-11-03T00:15:00Z"));
        assert_eq!(where_(&p), [(4, "fine"), (5, "record"), (6, "record"), (7, "points")]);
        assert!(p.rejected[0].reason.contains("\"200.5\""), "{}", p.rejected[0].reason);
        // A JSON true is handled whatever the mapping's words are; null is no value.
        assert_eq!((r[2].line, r[2].handled, r[2].points), (8, true, 0));
        assert_eq!(p.rows, 7);
    }

    #[test]
    fn the_format_follows_the_file_name() {
        assert_eq!(Format::from_path("a/b.JSONL".as_ref()), Format::Jsonl);
        assert_eq!(Format::from_path("b.ndjson".as_ref()), Format::Jsonl);
        assert_eq!(Format::from_path("b.csv".as_ref()), Format::Csv);
        assert_eq!(Format::from_path("b".as_ref()), Format::Csv);
    }

    #[test]
    fn request_ids_come_from_the_file_and_the_batch_so_a_rerun_is_a_retry() {
        let file = "hphm,date,address,code,money\n\
                    沪AD1,2026-11-03 08:15:00,a,1344,200\n\
                    沪AD2,2026-11-03 08:15:00,a,1344,200\n\
                    沪AD3,2026-11-03 08:15:00,a,1344,200\n";
        let digest = file_digest(file.as_bytes());
        assert_eq!(digest.len(), 32);
        let p = csv(file, &preset("jtgl"));
        let first = batches(&p.records, 2, &digest, None).unwrap();
        let again = batches(&csv(file, &preset("jtgl")).records, 2, &digest, None).unwrap();
        assert_eq!(first, again, "the same file gives the same batches and ids");
        assert_eq!(first.iter().map(|(_, b)| b.len()).collect::<Vec<_>>(), [2, 1]);
        assert!(first[0].0.starts_with(&format!("imp-{digest}-0-")), "{}", first[0].0);
        assert!(first[1].0.starts_with(&format!("imp-{digest}-1-")));
        // Other batches of the same file (another batch size) never reuse an id for other records.
        let one = batches(&p.records, 1, &digest, None).unwrap();
        assert_ne!(one[0].0, first[0].0);
        let other = file_digest(b"another file");
        assert_ne!(other, digest);
        let named = batches(&p.records, 2, &digest, Some("nightly-20261103")).unwrap();
        assert_eq!(
            named.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["nightly-20261103-0", "nightly-20261103-1"]
        );
        assert!(batches(&p.records, 2, &digest, Some(&"x".repeat(127))).is_err());
        assert_eq!(batches(&[], 2, &digest, None).unwrap(), []);
    }

    #[test]
    fn the_source_is_the_file_name_unless_given() {
        assert_eq!(
            source_name(None, "exports/2026-11/jtgl-1103.csv".as_ref()),
            "jtgl-1103.csv"
        );
        assert_eq!(source_name(Some("vendor-b feed"), "x.csv".as_ref()), "vendor-b feed");
        assert_eq!(
            source_name(None, format!("{}.csv", "a".repeat(80)).as_ref())
                .chars()
                .count(),
            64
        );
    }
}
