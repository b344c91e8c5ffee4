//! `emm-check help TOPIC`: the parts of the manual that do not fit a flag's one line. Each
//! topic is a file of `cli/help/`, printed by `emm-check help TOPIC` and included in this
//! crate's documentation.

/// A topic of the manual.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topic {
    /// Its name: `emm-check help NAME`.
    pub name: &'static str,
    /// One line on what it covers.
    pub summary: &'static str,
    /// Its text (Markdown, readable as plain text).
    pub text: &'static str,
}

macro_rules! topics {
    ($($name:literal: $summary:literal),* $(,)?) => {
        /// Every topic, in the order `emm-check help` lists them.
        pub const TOPICS: &[Topic] = &[$(Topic {
            name: $name,
            summary: $summary,
            text: include_str!(concat!("../help/", $name, ".md")),
        }),*];
    };
}

topics! {
    "traces": "reading a trace: rows, columns, the closing sentence, the replay line",
    "pictures": "--format svg and mermaid: sequence diagrams of counterexamples",
    "replay": "replay --path, replay FILE, and --on-impl on the real implementation",
    "explorer": "explore: stateright's Explorer with readable states",
    "json": "the JSON documents of check and replay",
    "limits": "exit statuses, --max-states/--timeout/--max-memory, the up-front estimate",
    "input": "bad input: what is refused, and how",
    "memory": "the LKMM semantics of emm-check litmus: what it models, stronger and weaker",
}

/// The topic called `name`.
pub fn topic(name: &str) -> Option<&'static Topic> {
    TOPICS.iter().find(|t| t.name == name)
}

/// The list `emm-check help` prints without a topic.
pub fn index() -> String {
    let mut out = String::from("emm-check help TOPIC, where TOPIC is one of:\n\n");
    for t in TOPICS {
        out.push_str(&format!("  {:<10} {}\n", t.name, t.summary));
    }
    out.push_str("\nSubcommands and flags: emm-check --help, emm-check SUBCOMMAND --help.\n");
    out
}
