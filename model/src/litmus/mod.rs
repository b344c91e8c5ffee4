//! C litmus tests under the model's memory semantics ([`crate::lkmm`]): the kernel's format
//! in, herd7's verdict out.
//!
//! A test names shared locations, runs threads `P0..Pn` over the kernel's primitives and
//! asks whether a final state can satisfy its condition. [`run`] parses it ([`parse`]),
//! explores every execution under [`crate::lkmm`] and reports as herd7 does: the final states
//! (over the registers and locations the condition names, and those of `locations`), whether
//! the condition holds (`Ok`/`No`), and the observation (`Never`, `Sometimes`, `Always`) with
//! the final states that satisfy the proposition and those that do not. herd7 counts candidate
//! executions there; this counts distinct final states, so only the observation is comparable.
//! A `Result:` in the test's comment is compared with the observation.

pub mod ast;
mod exec;
mod parse;

pub use ast::{Litmus, Observation, Quantifier, Stated, Value};
pub use exec::{explore, Explored, RunError};
pub use parse::{parse, ParseError};

use ast::{Atom, Prop};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The default state limit of one test.
pub const MAX_STATES: usize = 5_000_000;

/// The outcome of one test.
#[derive(Debug)]
pub struct Report {
    /// The test.
    pub test: Litmus,
    /// What the exploration found.
    pub explored: Explored,
    /// Final states satisfying the condition's proposition.
    pub positive: usize,
    /// Final states that do not.
    pub negative: usize,
    /// The verdict on the proposition.
    pub observation: Observation,
    /// How long the exploration took.
    pub time: Duration,
}

impl Report {
    /// Whether the test states a `Result:` and the observation differs from it.
    pub fn disagrees(&self) -> bool {
        self.test.result.is_some_and(|r| !self.agrees_with(r))
    }

    /// Whether the observation is what `stated` says.
    fn agrees_with(&self, stated: Stated) -> bool {
        match stated {
            Stated::Observation(o) => o == self.observation,
            Stated::Deadlock => self.explored.finals.is_empty(),
        }
    }

    /// Whether the condition holds: `exists` and some final state satisfies the
    /// proposition, `~exists` and none does, `forall` and all do.
    pub fn ok(&self) -> bool {
        match self.test.quantifier {
            Quantifier::Exists => self.positive > 0,
            Quantifier::NotExists => self.positive == 0,
            Quantifier::Forall => self.negative == 0,
        }
    }

    /// The report in herd7's layout.
    pub fn herd(&self) -> String {
        let t = &self.test;
        let mut out = String::new();
        let kind = match t.quantifier {
            Quantifier::Exists => "Allowed",
            _ => "Required",
        };
        let _ = writeln!(out, "Test {} {kind}", t.name);
        // The observed variables: the condition's registers and locations, then `locations`.
        let mut registers = BTreeSet::new();
        let mut locations: Vec<u8> = Vec::new();
        collect(&t.condition, &mut registers, &mut locations);
        if let Some(f) = &t.filter {
            collect(f, &mut registers, &mut locations);
        }
        for &l in &t.shown {
            if !locations.contains(&l) {
                locations.push(l);
            }
        }
        locations.sort_unstable();
        let show = |v: Value| match v {
            Value::Int(n) => n.to_string(),
            Value::Loc(l) => t.locations[l as usize].clone(),
        };
        let states: BTreeSet<String> = self
            .explored
            .finals
            .iter()
            .map(|(regs, mem)| {
                let mut line = String::new();
                for &(th, r) in &registers {
                    let _ = write!(
                        line,
                        "{th}:{}={}; ",
                        t.threads[th].registers[r],
                        show(regs[th][r])
                    );
                }
                for &l in &locations {
                    let _ = write!(
                        line,
                        "{}={}; ",
                        t.locations[l as usize],
                        show(mem[l as usize])
                    );
                }
                line.trim_end().to_owned()
            })
            .collect();
        let _ = writeln!(out, "States {}", states.len());
        for s in &states {
            let _ = writeln!(out, "{s}");
        }
        let _ = writeln!(out, "{}", if self.ok() { "Ok" } else { "No" });
        let _ = writeln!(out, "Witnesses");
        let _ = writeln!(
            out,
            "Positive: {} Negative: {}",
            self.positive, self.negative
        );
        let quantifier = match t.quantifier {
            Quantifier::Exists => "exists",
            Quantifier::NotExists => "~exists",
            Quantifier::Forall => "forall",
        };
        let _ = writeln!(
            out,
            "Condition {quantifier} ({})",
            prop_text(t, &t.condition)
        );
        let _ = writeln!(
            out,
            "Observation {} {} {} {}",
            t.name,
            self.observation.name(),
            self.positive,
            self.negative
        );
        let stuck = match self.explored.stuck {
            0 => String::new(),
            n => format!(", {n} where no thread could go on"),
        };
        let _ = writeln!(
            out,
            "Time {} {:.2} ({} states{stuck})",
            t.name,
            self.time.as_secs_f64(),
            self.explored.states
        );
        match t.result {
            Some(r) if self.agrees_with(r) => {
                let _ = writeln!(out, "Result: {} (as the test states)", r.name());
            }
            Some(r) => {
                let _ = writeln!(
                    out,
                    "Result: {} DISAGREES: the test states {}",
                    self.observation.name(),
                    r.name()
                );
            }
            None => {}
        }
        out
    }
}

/// The registers (thread, register) and locations `p` names.
fn collect(p: &Prop, registers: &mut BTreeSet<(usize, usize)>, locations: &mut Vec<u8>) {
    match p {
        Prop::Const(_) => {}
        Prop::Not(p) => collect(p, registers, locations),
        Prop::And(a, b) | Prop::Or(a, b) => {
            collect(a, registers, locations);
            collect(b, registers, locations);
        }
        Prop::Atom(Atom::Register {
            thread, register, ..
        }) => {
            registers.insert((*thread, *register));
        }
        Prop::Atom(Atom::Location { location, .. }) => {
            if !locations.contains(location) {
                locations.push(*location);
            }
        }
    }
}

/// `p` as herd7 prints it.
fn prop_text(t: &Litmus, p: &Prop) -> String {
    let value = |v: &Value| match v {
        Value::Int(n) => n.to_string(),
        Value::Loc(l) => t.locations[*l as usize].clone(),
    };
    match p {
        Prop::Const(b) => b.to_string(),
        Prop::Not(p) => format!("~{}", prop_text(t, p)),
        Prop::And(a, b) => format!("{} /\\ {}", prop_text(t, a), prop_text(t, b)),
        Prop::Or(a, b) => format!("({} \\/ {})", prop_text(t, a), prop_text(t, b)),
        Prop::Atom(Atom::Register {
            thread,
            register,
            value: v,
        }) => format!(
            "{thread}:{}={}",
            t.threads[*thread].registers[*register],
            value(v)
        ),
        Prop::Atom(Atom::Location { location, value: v }) => {
            format!("{}={}", t.locations[*location as usize], value(v))
        }
    }
}

/// Why [`run`] gave no report.
#[derive(Debug)]
pub enum Error {
    /// The test does not parse.
    Parse(ParseError),
    /// The test parses but cannot run.
    Run(RunError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Parse(e) => write!(f, "{e}"),
            Error::Run(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses `text` and explores every execution, up to `max_states` states.
pub fn run(text: &str, max_states: usize) -> Result<Report, Error> {
    let test = parse(text).map_err(Error::Parse)?;
    let start = Instant::now();
    let explored = explore(&test, max_states).map_err(Error::Run)?;
    let time = start.elapsed();
    let positive = explored
        .finals
        .iter()
        .filter(|f| exec::holds(&test.condition, f))
        .count();
    let negative = explored.finals.len() - positive;
    let observation = if positive == 0 {
        Observation::Never
    } else if negative == 0 {
        Observation::Always
    } else {
        Observation::Sometimes
    };
    Ok(Report {
        test,
        explored,
        positive,
        negative,
        observation,
        time,
    })
}
