//! Which protocol to check, and on how many threads and notifiers.

pub use emm_proofs::Variant;
use std::fmt;

/// The most VM threads (invalidators) a configuration may have.
pub const MAX_INVALIDATORS: usize = 3;
/// The most notifiers (registered at the start plus registered concurrently).
pub const MAX_NOTIFIERS: usize = 5;
/// The most concurrent registrations.
pub const MAX_REGISTRATIONS: usize = 2;
/// The most concurrent unregistrations.
pub const MAX_UNREGISTRATIONS: usize = 2;
/// The most copy-on-write page faults under the VMA lock.
pub const MAX_VMA_FAULTS: usize = 2;

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
    /// Copy-on-write page faults, each invalidating the page under the VMA read lock (or
    /// `mmap_sem` when the VMA lock cannot be had): versions with per-VMA locks only.
    pub vma_faults: usize,
    /// The OOM reaper: one non-blocking invalidation under `mmap_read_trylock()`, against which
    /// notifier `n0` cannot start without sleeping (`-EAGAIN`): versions with non-blocking
    /// starts only.
    pub oom_reaper: bool,
    /// The memory model the steps run under.
    pub memory: Memory,
}

/// The memory model a check runs under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Memory {
    /// Sequential consistency: every load reads the last store, barriers order nothing more.
    #[default]
    Sc,
    /// The kernel's memory model, operationally ([`crate::lkmm`]): the locations that some
    /// step accesses without the lock their writers hold carry message histories, each
    /// thread a view of them, and a lock-free load may read any store its view allows.
    Lkmm,
}

impl Memory {
    /// Both, in the order the verdict tables show them.
    pub const ALL: [Memory; 2] = [Memory::Sc, Memory::Lkmm];

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Memory::Sc => "sc",
            Memory::Lkmm => "lkmm",
        }
    }

    /// The memory model called `name`.
    pub fn from_name(name: &str) -> Option<Memory> {
        Memory::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
            vma_faults: 0,
            oom_reaper: false,
            memory: Memory::Sc,
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

impl From<emm_proofs::UnknownVariant> for ConfigError {
    fn from(e: emm_proofs::UnknownVariant) -> Self {
        ConfigError(e.to_string())
    }
}

impl Config {
    /// The configuration with these counts of VM threads, initial notifiers, registrations and
    /// unregistrations, and nothing else.
    pub fn counts(
        invalidators: usize,
        notifiers: usize,
        registrations: usize,
        unregistrations: usize,
    ) -> Config {
        Config {
            invalidators,
            notifiers,
            registrations,
            unregistrations,
            ..Config::default()
        }
    }

    /// The built-in default configuration as `variant` can run it: without the
    /// unregistration where the version has no unregister.
    pub fn default_for(variant: Variant) -> Config {
        let mut c = Config::default();
        if !crate::program::Traits::of(variant).unregister {
            c.unregistrations = 0;
        }
        c
    }

    /// Checks that the configuration is worth a check (something invalidates, something is
    /// registered) and within the bounds ([`validate_bounds`](Self::validate_bounds)).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.invalidators == 0 && self.vma_faults == 0 && !self.oom_reaper && !self.teardown {
            return err(
                "nothing to check: --invalidators 0 means no VM thread ever \
                        invalidates, and every property is about invalidations (add one, or \
                        --vma-faults, --oom-reaper or --teardown)"
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
        if self.vma_faults > MAX_VMA_FAULTS {
            return err(format!(
                "--vma-faults {}: at most {MAX_VMA_FAULTS}",
                self.vma_faults
            ));
        }
        if self.oom_reaper && self.notifiers == 0 {
            return err(
                "--oom-reaper needs --notifiers 1 or more: its failing notifier is n0".into(),
            );
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
        if self.vma_faults > 0 {
            s.push_str(&format!(" --vma-faults {}", self.vma_faults));
        }
        for (on, flag) in [
            (self.nested, " --nested"),
            (self.teardown, " --teardown"),
            (self.aging, " --aging"),
            (self.oom_reaper, " --oom-reaper"),
        ] {
            if on {
                s.push_str(flag);
            }
        }
        if self.memory != Memory::Sc {
            s.push_str(&format!(" --memory {}", self.memory));
        }
        s
    }
}
