//! Trace files for `emm-check replay FILE`: the JSON document of `emm-check check --format json`
//! (one trace per violated property or reached goal) or of `emm-check replay --format json`
//! (one trace).
//!
//! A file is untrusted input. Reading it never panics; every way it can be wrong is an error of
//! one line: not JSON or cut short, not a trace document, an unknown variant, a configuration
//! the model refuses, a step naming an actor the configuration does not have, a step the model
//! cannot take there, or a step that the model takes but describes differently from the file
//! (the file was written for another configuration, or edited).

use emm_model::config::{Config, Memory, Variant, MAX_UNREGISTRATIONS};
use emm_model::state::State;
use emm_model::trace::Trace;
use emm_model::{EmmModel, Step};
use serde_json::Value;

/// The most bytes of a trace file that are read: far more than any trace of the bounded
/// configurations (a few hundred steps), and little enough that a wrong file (a device, a
/// disk image) is refused quickly.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// One step as the file records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStep {
    /// The actor that stepped (`vm0`, `reg0`, ...).
    pub actor: String,
    /// The kernel step it took, as the model describes it.
    pub action: String,
    /// The shared state it changed, as the model describes it.
    pub state: String,
    /// Under `--memory lkmm`, which store its lock-free load read, counted back from the last
    /// (`"read"`, absent for 0).
    pub read: u8,
}

/// A trace read from a file: the variant and configuration it was made on, and its steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFile {
    /// The variant.
    pub variant: Variant,
    /// The configuration (valid: [`Config::validate`] accepted it).
    pub config: Config,
    /// The property whose trace this is (for a check document).
    pub property: Option<String>,
    /// The steps.
    pub steps: Vec<FileStep>,
}

fn count(config: &Value, key: &str) -> Result<usize, String> {
    let v = config
        .get(key)
        .ok_or_else(|| format!("config has no '{key}'"))?;
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("config.{key} is {v}, not a count"))
}

fn flag(config: &Value, key: &str) -> Result<bool, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("config.{key} is {v}, not true or false")),
    }
}

fn text<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} has no '{key}' string"))
}

/// A short, one-line rendering of a JSON value for error messages.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn parse_config(doc: &Value) -> Result<Config, String> {
    let c = doc.get("config").ok_or("the document has no 'config'")?;
    if !c.is_object() {
        return Err(format!("'config' is {}, not an object", short(c)));
    }
    let unregistrations = count(c, "unregistrations")?;
    let targets = match c.get("targets") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => {
            if names.len() != unregistrations || names.len() > MAX_UNREGISTRATIONS {
                return Err(format!(
                    "config.targets names {} notifiers but there are {unregistrations} \
                     unregistrations",
                    names.len()
                ));
            }
            let mut t = [u8::MAX; MAX_UNREGISTRATIONS];
            for (slot, name) in t.iter_mut().zip(names) {
                *slot = name
                    .as_str()
                    .and_then(|n| n.strip_prefix('n'))
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|&n| n != u8::MAX)
                    .ok_or_else(|| {
                        format!(
                            "config.targets: {} is not a notifier (n0, n1, ...)",
                            short(name)
                        )
                    })?;
            }
            Some(t)
        }
        Some(v) => return Err(format!("config.targets is {}, not a list", short(v))),
    };
    let config = Config {
        invalidators: count(c, "invalidators")?,
        notifiers: count(c, "notifiers")?,
        registrations: count(c, "registrations")?,
        unregistrations,
        targets,
        nested: flag(c, "nested")?,
        teardown: flag(c, "teardown")?,
        aging: flag(c, "aging")?,
        vma_faults: match c.get("vma_faults") {
            None => 0,
            Some(_) => count(c, "vma_faults")?,
        },
        oom_reaper: match c.get("oom_reaper") {
            None => false,
            Some(_) => flag(c, "oom_reaper")?,
        },
        memory: match c.get("memory") {
            None | Some(Value::Null) => Memory::Sc,
            Some(v) => v
                .as_str()
                .and_then(Memory::from_name)
                .ok_or_else(|| format!("config.memory is {}, not \"sc\" or \"lkmm\"", short(v)))?,
        },
    };
    config
        .validate()
        .map_err(|e| format!("its configuration is refused: {e}"))?;
    Ok(config)
}

fn parse_steps(trace: &Value) -> Result<Vec<FileStep>, String> {
    let steps = trace
        .as_array()
        .ok_or_else(|| format!("'trace' is {}, not a list", short(trace)))?;
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let what = format!("step {}", i + 1);
        if !step.is_object() {
            return Err(format!("{what} is {}, not an object", short(step)));
        }
        // Steps are numbered from 1 in order: a gap means steps were lost or reordered.
        match step.get("step").and_then(Value::as_u64) {
            Some(n) if n == i as u64 + 1 => {}
            _ => {
                return Err(format!(
                    "{what} is numbered {}: steps must be numbered 1, 2, 3, ...",
                    step.get("step").map_or("nothing".into(), short)
                ))
            }
        }
        let read = match step.get("read") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| format!("{what}'s read is {}, not a count", short(v)))?,
        };
        out.push(FileStep {
            actor: text(step, "actor", &what)?.to_string(),
            action: text(step, "action", &what)?.to_string(),
            state: text(step, "state", &what)?.to_string(),
            read,
        });
    }
    Ok(out)
}

/// Reads a trace document. `property` picks the trace of a check document (default: the first
/// violated property, else the first reached goal).
pub fn parse(bytes: &[u8], property: Option<&str>) -> Result<TraceFile, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            format!("cut short: {e}")
        } else {
            format!("not JSON: {e}")
        }
    })?;
    if !doc.is_object() {
        return Err(format!(
            "the document is {}, not a trace document",
            short(&doc)
        ));
    }
    let name = doc
        .get("variant")
        .and_then(Value::as_str)
        .ok_or("the document has no 'variant' string")?;
    let variant: Variant = name.parse().map_err(|e| format!("{e}"))?;
    let config = parse_config(&doc)?;
    emm_model::program::Programs::supports(variant, &config)
        .map_err(|e| format!("its configuration is refused: {}", e.0))?;
    let (trace, property) = match (doc.get("trace"), doc.get("properties")) {
        (Some(trace), _) => (trace, property.map(str::to_string)),
        (None, Some(Value::Array(props))) => {
            let has_trace = |p: &&Value| p.get("trace").is_some_and(Value::is_array);
            let status = |p: &Value| p.get("status").and_then(Value::as_str).map(str::to_string);
            let chosen = match property {
                Some(want) => props
                    .iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(want))
                    .ok_or_else(|| format!("the document has no property '{want}'"))
                    .and_then(|p| {
                        if has_trace(&p) {
                            Ok(p)
                        } else {
                            Err(format!(
                                "property {want} has no trace (its status is {})",
                                status(p).unwrap_or_else(|| "missing".into())
                            ))
                        }
                    })?,
                None => props
                    .iter()
                    .filter(has_trace)
                    .find(|p| status(p).as_deref() == Some("violated"))
                    .or_else(|| props.iter().find(has_trace))
                    .ok_or("the document has no trace: no property was violated or reached")?,
            };
            let name = chosen
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a property has no 'name' string")?;
            (&chosen["trace"], Some(name.to_string()))
        }
        _ => return Err("the document has neither 'trace' nor 'properties'".into()),
    };
    Ok(TraceFile {
        variant,
        config,
        property,
        steps: parse_steps(trace)?,
    })
}

/// Replays the file's steps on `model` (of the file's variant and configuration, possibly with
/// the unregistrations' targets left open): from the fixed initial state, or else from the
/// first initial state from which every step replays and reads as the file says.
pub fn replay(model: &EmmModel, file: &TraceFile) -> Result<Trace, String> {
    let mut threads = Vec::with_capacity(file.steps.len());
    for (i, s) in file.steps.iter().enumerate() {
        let t = model.actor_by_name(&s.actor).ok_or_else(|| {
            let names: Vec<String> = model.actors().iter().map(|a| a.id.to_string()).collect();
            format!(
                "step {}: no actor '{}' in this configuration (actors: {})",
                i + 1,
                s.actor,
                names.join(", ")
            )
        })?;
        threads.push(Step {
            thread: t as u8,
            read: s.read,
        });
    }
    let mut first_error = None;
    for init in model.initial_states() {
        match replay_from(model, init, &threads, file) {
            Ok(trace) => return Ok(trace),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| "the model has no initial state".into()))
}

/// Replays the file's steps (as `steps`) from `init`, stopping at the first step that the
/// model cannot take or that it describes differently from the file.
fn replay_from(
    model: &EmmModel,
    init: State,
    steps: &[Step],
    file: &TraceFile,
) -> Result<Trace, String> {
    // Step by step, so that the first step the model describes differently is reported
    // before any later step that the model cannot take. (Each prefix is replayed anew: a
    // trace is a few hundred steps at most.)
    let mut trace = Trace::from_steps(model, init.clone(), &[])
        .map_err(|e| format!("the path leaves the model: {e}"))?;
    for (i, f) in file.steps.iter().enumerate().take(steps.len()) {
        trace = Trace::from_steps(model, init.clone(), &steps[..=i])
            .map_err(|e| format!("the path leaves the model: {e}"))?;
        let ours = &trace.steps[i];
        if ours.action != f.action {
            return Err(format!(
                "step {}: the file says {} did '{}', but here it does '{}' (a trace of \
                 another configuration, or edited)",
                i + 1,
                f.actor,
                f.action,
                ours.action
            ));
        }
        if ours.state != f.state {
            return Err(format!(
                "step {}: the file says {}'s step changed '{}', but here it changes \
                 '{}' (a trace of another configuration, or edited)",
                i + 1,
                f.actor,
                f.state,
                ours.state
            ));
        }
    }
    Ok(trace)
}
