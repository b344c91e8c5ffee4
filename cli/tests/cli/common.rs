//! What the CLI suites share: the CLI run in-process, temporary files, an XML checker for the
//! SVG pictures, and subjects picked from what the checker finds.

use emm_cli::progress::Style;
use emm_model::check::{every_variant, CheckOptions, CheckReport};
use emm_model::{Config, Variant, Verdict};
use emm_proofs::Prop;

/// Runs the CLI in-process and returns (exit status, stdout, stderr).
pub(crate) fn cli(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("emm-check").chain(args.iter().copied());
    let code = emm_cli::run(argv, &mut out, &mut err, Style::Silent);
    (
        code,
        String::from_utf8(out).expect("utf-8 stdout"),
        String::from_utf8(err).expect("utf-8 stderr"),
    )
}

/// Runs the CLI in-process with arguments that need not be UTF-8 strings; returns (exit
/// status, stdout, stderr), the streams decoded lossily.
pub(crate) fn cli_os(args: &[std::ffi::OsString]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once(std::ffi::OsString::from("emm-check")).chain(args.iter().cloned());
    let code = emm_cli::run(argv, &mut out, &mut err, Style::Silent);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Asserts that `emm-check ARGS` is refused as bad usage: exit 2, nothing on stdout, and one
/// line on stderr that starts with `emm-check: error: ` and contains `needle`.
pub(crate) fn assert_usage_error(args: &[&str], needle: &str) {
    let (code, out, err) = cli(args);
    assert_eq!(code, 2, "{args:?}: {out}{err}");
    assert!(out.is_empty(), "{args:?}: nothing on stdout, got {out}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err}");
    assert!(err.starts_with("emm-check: error: "), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in {err}"
    );
}

/// A fresh path for a test file in the system's temporary directory (one folder per test
/// process).
pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("emm-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Writes `bytes` to a fresh temporary file and returns its path as a string.
pub(crate) fn temp_file(name: &str, bytes: &[u8]) -> String {
    let path = temp_path(name);
    std::fs::write(&path, bytes).expect("a temporary file");
    path.to_string_lossy().into_owned()
}

/// Checks that `doc` is well-formed XML in the subset an SVG needs (elements, attributes in
/// quotes, character data with the five predefined entities and numeric references, comments
/// and declarations), and returns the element names in document order.
pub(crate) fn xml_elements(doc: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = doc;
    let check_text = |text: &str| -> Result<(), String> {
        let mut chunks = text.split('&');
        chunks.next();
        for chunk in chunks {
            let entity = chunk
                .split_once(';')
                .map(|(e, _)| e)
                .ok_or_else(|| format!("an unterminated entity in {text:?}"))?;
            let numeric = entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16).is_ok())
                .or_else(|| entity.strip_prefix('#').map(|d| d.parse::<u32>().is_ok()))
                .unwrap_or(false);
            if !numeric && !["amp", "lt", "gt", "quot", "apos"].contains(&entity) {
                return Err(format!("an unknown entity &{entity};"));
            }
        }
        if text.contains('<') {
            return Err(format!("a raw '<' in {text:?}"));
        }
        Ok(())
    };
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if open.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root element: {text:?}"));
        }
        check_text(text)?;
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("an unterminated comment")?;
            rest = &after[end + 3..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("<?") {
            let end = after.find("?>").ok_or("an unterminated declaration")?;
            rest = &after[end + 2..];
            continue;
        }
        // A tag ends at the first '>' outside quotes.
        let mut quote = None;
        let mut end = None;
        for (i, c) in rest.char_indices().skip(1) {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => {
                    end = Some(i);
                    break;
                }
                (None, '<') => return Err(format!("a '<' inside a tag: {:?}", &rest[..i])),
                _ => {}
            }
        }
        let end =
            end.ok_or_else(|| format!("an unterminated tag: {:?}", &rest[..rest.len().min(40)]))?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            match open.pop() {
                Some(o) if o == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            if open.is_empty() && !rest.trim().is_empty() {
                return Err(format!(
                    "content after the root element: {:?}",
                    &rest[..rest.len().min(40)]
                ));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_:.".contains(c))
        {
            return Err(format!("a bad element name in <{tag}>"));
        }
        // Attributes: name="value" pairs, each value checked as character data.
        let mut attrs = body[name_end..].trim();
        let mut seen = Vec::new();
        while !attrs.is_empty() {
            let (attr, after) = attrs
                .split_once('=')
                .ok_or_else(|| format!("an attribute without a value in <{tag}>"))?;
            let attr = attr.trim();
            if seen.contains(&attr) {
                return Err(format!("attribute {attr} twice in <{tag}>"));
            }
            seen.push(attr);
            let after = after.trim_start();
            let q = after
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| format!("an unquoted attribute in <{tag}>"))?;
            let close = after[1..]
                .find(q)
                .ok_or_else(|| format!("an unterminated attribute in <{tag}>"))?;
            check_text(&after[1..1 + close])?;
            attrs = after[close + 2..].trim_start();
        }
        if open.is_empty() && !names.is_empty() {
            return Err("a second root element".into());
        }
        names.push(name.to_string());
        if !self_closing {
            open.push(name.to_string());
        } else if open.is_empty() && !rest.trim().is_empty() {
            return Err("content after the root element".into());
        }
    }
    if !open.is_empty() {
        return Err(format!("unclosed elements: {open:?}"));
    }
    if names.is_empty() {
        return Err("no element".into());
    }
    check_text(rest)?;
    Ok(names)
}

/// Each variant's check on the default configuration, in the order of [`Variant::ALL`]: the
/// tests pick their subjects from what the checker finds, not from names.
pub(crate) fn default_reports() -> Vec<(Variant, CheckReport)> {
    let opts = CheckOptions::deterministic(true, false);
    Variant::ALL
        .into_iter()
        .zip(every_variant(Config::default(), &opts))
        .collect()
}

/// The first variant whose default configuration holds.
pub(crate) fn sound_variant() -> Variant {
    default_reports()
        .into_iter()
        .find(|(_, r)| r.verdict == Verdict::Holds)
        .map(|(v, _)| v)
        .expect("a variant that holds")
}

/// The variant with the most violated properties on the default configuration (the first
/// such, in the order of [`Variant::ALL`]).
pub(crate) fn most_broken_variant() -> Variant {
    let reports = default_reports();
    let most = reports
        .iter()
        .map(|(_, r)| r.violated().len())
        .max()
        .unwrap_or(0);
    assert!(most > 0, "some variant is broken");
    reports
        .into_iter()
        .find(|(_, r)| r.violated().len() == most)
        .map(|(v, _)| v)
        .expect("a broken variant")
}

/// The variants that violate `property` on the default configuration.
pub(crate) fn variants_violating(property: Prop) -> Vec<Variant> {
    default_reports()
        .into_iter()
        .filter(|(_, r)| r.violated().contains(&property))
        .map(|(v, _)| v)
        .collect()
}
