//! Which protocol to check, and on how many threads and notifiers.

use std::fmt;
use std::str::FromStr;

/// The most VM threads (invalidators) a configuration may have.
pub const MAX_INVALIDATORS: usize = 3;
/// The most notifiers (registered at the start plus registered concurrently).
pub const MAX_NOTIFIERS: usize = 5;
/// The most concurrent registrations.
pub const MAX_REGISTRATIONS: usize = 2;
/// The most concurrent unregistrations.
pub const MAX_UNREGISTRATIONS: usize = 2;

/// A protocol of the family: how register and unregister exclude in-flight walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// EMM as first posted: `e->next = head; rcu_assign_pointer(head, e)`; walks take no lock;
    /// unregister unlinks with plain stores and returns.
    RcuPublish,
    /// The seed patch: `emm_stop` over the chain, link, `emm_start` over the chain, under
    /// `mmap_sem`; unregister unlinks, sets `e->next = head`, restarts, then calls `release`.
    EmmStopStart,
    /// The seed with one addition: an mm-wide drain. Every walk window (an invalidation from
    /// its start walk to its end walk, an aging walk, the teardown release walk) counts itself
    /// in `emm_active` and waits at its entry while `emm_stopping` is set; register and
    /// unregister set `emm_stopping`, wait for `emm_active == 0`, then run the seed's code
    /// (which also stops the new notifier before linking it), then clear `emm_stopping`.
    EmmStopDrainStart,
    /// `mmu_notifier` as merged in 2.6.27 with the later SRCU: invalidations hold a
    /// reverse-map lock from start to end, register takes them all (`mm_take_all_locks`),
    /// walks run under SRCU, unregister calls `release`, `hlist_del_init_rcu`, then
    /// `synchronize_srcu`.
    TakeAllLocks,
    /// Today's `mmu_interval_notifier`: `invalidate_seq` (odd while invalidating) and a count
    /// of active invalidations; inserts and removes during an invalidation are deferred to
    /// its end; the driver's `read_begin`/`read_retry` collision-retry.
    IntervalSeq,
}

impl Variant {
    /// Every variant, in the order the CLI lists them.
    pub const ALL: [Variant; 5] = [
        Variant::RcuPublish,
        Variant::EmmStopStart,
        Variant::EmmStopDrainStart,
        Variant::TakeAllLocks,
        Variant::IntervalSeq,
    ];

    /// The variant's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::RcuPublish => "rcu-publish",
            Variant::EmmStopStart => "emm-stop-start",
            Variant::EmmStopDrainStart => "emm-stop-drain-start",
            Variant::TakeAllLocks => "take-all-locks",
            Variant::IntervalSeq => "interval-seq",
        }
    }

    /// One line on what the variant is.
    pub fn summary(self) -> &'static str {
        match self {
            Variant::RcuPublish => "EMM as first posted: rcu_assign_pointer publish, plain-store unlink, no grace period",
            Variant::EmmStopStart => "the seed patch: emm_stop/emm_start over the chain around register and unregister",
            Variant::EmmStopDrainStart => "the seed plus a drain: register/unregister wait until no walk window is open",
            Variant::TakeAllLocks => "mmu_notifier (2.6.27 + SRCU): mm_take_all_locks in register, synchronize_srcu in unregister",
            Variant::IntervalSeq => "mmu_interval_notifier: invalidate_seq collision-retry, deferred insert/remove",
        }
    }

    /// Whether the variant sends `emm_stop`/`emm_start`.
    pub fn has_stop_start(self) -> bool {
        matches!(self, Variant::EmmStopStart | Variant::EmmStopDrainStart)
    }

    /// Whether the variant's notifiers have a `clear_young` callback (interval notifiers only
    /// have `invalidate`).
    pub fn has_aging(self) -> bool {
        !matches!(self, Variant::IntervalSeq)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
                ConfigError(format!(
                    "unknown variant '{s}' (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

/// The actors of one bounded run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// VM threads; each runs one invalidation of the page.
    pub invalidators: usize,
    /// Each VM thread nests a second invalidation inside its first.
    pub nested: bool,
    /// Notifiers registered at the start, each with its driver's mirror mapping the page.
    pub notifiers: usize,
    /// Notifiers registered concurrently; each driver faults the page once register returns.
    pub registrations: usize,
    /// Unregistrations of notifiers registered at the start. Which notifiers they take is
    /// explored: every choice is an initial state, unless `targets` fixes one.
    pub unregistrations: usize,
    /// The notifiers that the unregistrations take, in order (`unreg0` takes the first); `None`
    /// explores every choice.
    pub targets: Option<[u8; MAX_UNREGISTRATIONS]>,
    /// An `exit_mmap`: `release` over the chain, then the frames are freed.
    pub teardown: bool,
    /// An aging walk (`clear_young`) over the chain.
    pub aging: bool,
}

impl Default for Config {
    /// The built-in default: 1 invalidator, 1 notifier, 1 registration, 1 unregistration.
    fn default() -> Self {
        Config {
            invalidators: 1,
            nested: false,
            notifiers: 1,
            registrations: 1,
            unregistrations: 1,
            targets: None,
            teardown: false,
            aging: false,
        }
    }
}

/// A configuration that cannot be checked, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks that the configuration is worth a check (something invalidates, something is
    /// registered) and within the bounds ([`validate_bounds`](Self::validate_bounds)).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.invalidators == 0 {
            return err(
                "nothing to check: --invalidators 0 means no VM thread ever \
                        invalidates, and every property is about invalidations"
                    .into(),
            );
        }
        self.validate_bounds()?;
        if self.notifiers + self.registrations == 0 {
            return err(
                "nothing to check: no notifier is registered at the start and none \
                        registers (--notifiers 0 needs --registrations 1 or more)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Checks the bounds; the model relies on them (its state has fixed-size arrays). A
    /// configuration within them can be modelled even if a check of it would show nothing (the
    /// trace validation of an implementation run without a VM thread uses one).
    pub fn validate_bounds(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.invalidators > MAX_INVALIDATORS {
            return err(format!(
                "--invalidators {}: at most {MAX_INVALIDATORS} (each one multiplies the state \
                 space by 20 to 25)",
                self.invalidators
            ));
        }
        if self.registrations > MAX_REGISTRATIONS {
            return err(format!(
                "--registrations {}: at most {MAX_REGISTRATIONS}",
                self.registrations
            ));
        }
        if self.unregistrations > MAX_UNREGISTRATIONS {
            return err(format!(
                "--unregistrations {}: at most {MAX_UNREGISTRATIONS}",
                self.unregistrations
            ));
        }
        if self.unregistrations > self.notifiers {
            return err(format!(
                "--unregistrations {} is more than --notifiers {}: only notifiers registered \
                 at the start can be unregistered",
                self.unregistrations, self.notifiers
            ));
        }
        if self.notifiers + self.registrations > MAX_NOTIFIERS {
            return err(format!(
                "--notifiers {} plus --registrations {} is {}: at most {MAX_NOTIFIERS} \
                 notifiers in all",
                self.notifiers,
                self.registrations,
                self.notifiers + self.registrations
            ));
        }
        if let Some(targets) = self.targets {
            let chosen = &targets[..self.unregistrations];
            for (j, &n) in chosen.iter().enumerate() {
                if n as usize >= self.notifiers {
                    return err(format!(
                        "--targets: n{n} is not one of the {} notifiers registered at the start",
                        self.notifiers
                    ));
                }
                if chosen[..j].contains(&n) {
                    return err(format!("--targets: n{n} is unregistered twice"));
                }
            }
        }
        Ok(())
    }

    /// Every choice of the notifiers that the unregistrations take: `targets` if set, else each
    /// set of distinct initial notifiers, in increasing order (the unregistrars run the same
    /// program, so the order within a set adds nothing).
    pub fn target_choices(&self) -> Vec<[u8; MAX_UNREGISTRATIONS]> {
        if let Some(t) = self.targets {
            return vec![t];
        }
        let mut out = Vec::new();
        let mut pick = [u8::MAX; MAX_UNREGISTRATIONS];
        fn choose(
            from: usize,
            depth: usize,
            c: &Config,
            pick: &mut [u8; MAX_UNREGISTRATIONS],
            out: &mut Vec<[u8; MAX_UNREGISTRATIONS]>,
        ) {
            if depth == c.unregistrations {
                out.push(*pick);
                return;
            }
            for n in from..c.notifiers {
                pick[depth] = n as u8;
                choose(n + 1, depth + 1, c, pick, out);
            }
            pick[depth] = u8::MAX;
        }
        choose(0, 0, self, &mut pick, &mut out);
        out
    }

    /// Total notifiers: those registered at the start, then one per registration.
    pub fn total_notifiers(&self) -> usize {
        self.notifiers + self.registrations
    }

    /// The flags that give this configuration on the command line.
    pub fn to_flags(&self) -> String {
        let mut s = format!(
            "--invalidators {} --notifiers {} --registrations {} --unregistrations {}",
            self.invalidators, self.notifiers, self.registrations, self.unregistrations
        );
        if let Some(targets) = self.targets {
            let names: Vec<String> = targets[..self.unregistrations]
                .iter()
                .map(|n| format!("n{n}"))
                .collect();
            if !names.is_empty() {
                s.push_str(&format!(" --targets {}", names.join(",")));
            }
        }
        for (on, flag) in [
            (self.nested, " --nested"),
            (self.teardown, " --teardown"),
            (self.aging, " --aging"),
        ] {
            if on {
                s.push_str(flag);
            }
        }
        s
    }
}
