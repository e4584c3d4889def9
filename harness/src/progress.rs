//! Progress while a run goes: one line per cell with its phase and elapsed time.
//!
//! On a terminal the lines of running cells are redrawn in place every second; a cell that
//! ends leaves one permanent line above them. When stderr is not a terminal, or under CI
//! (`CI` set), every phase change is a plain line of its own, so logs stay readable. Colour
//! only on a terminal, never when `NO_COLOR` is set (<https://no-color.org>).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a cell is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Preparing,
    Starting,
    /// Up; waiting for the stack to answer (readiness).
    Ready,
    Checking,
    TearingDown,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Preparing => "preparing",
            Phase::Starting => "starting",
            Phase::Ready => "readiness",
            Phase::Checking => "checking",
            Phase::TearingDown => "tearing down",
        }
    }
}

/// How a cell ended, as progress shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Passed,
    Failed,
    Error,
    NotRun,
}

/// What the runner tells as it goes. Any `Fn(&str)` is one too: it gets plain lines.
pub trait Progress: Sync {
    fn phase(&self, cell: &str, phase: Phase);
    /// Something worth a line of its own (a failed check, a warning).
    fn note(&self, cell: &str, text: &str);
    fn done(&self, cell: &str, ending: Ending, text: &str);
}

impl<F: Fn(&str) + Sync> Progress for F {
    fn phase(&self, cell: &str, phase: Phase) {
        self(&format!("[{cell}] {}", phase.label()));
    }
    fn note(&self, cell: &str, text: &str) {
        self(&format!("[{cell}] {text}"));
    }
    fn done(&self, cell: &str, _: Ending, text: &str) {
        self(&format!("[{cell}] {text}"));
    }
}

/// Progress on stderr, live on a terminal and plain otherwise; every secret the process has
/// learnt is masked (see [`crate::redact::redact_known`]).
pub fn stderr() -> Box<dyn Progress + Send> {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    if std::io::stderr().is_terminal() && !ci {
        Box::new(Redacted(Live::start(colour_allowed(std::env::var_os(
            "NO_COLOR",
        )))))
    } else {
        Box::new(Redacted(Plain::new(|line: &str| eprintln!("{line}"))))
    }
}

/// A progress whose texts pass through [`crate::redact::redact_known`] first.
pub struct Redacted<P: Progress>(pub P);

impl<P: Progress> Progress for Redacted<P> {
    fn phase(&self, cell: &str, phase: Phase) {
        self.0.phase(cell, phase);
    }
    fn note(&self, cell: &str, text: &str) {
        self.0.note(cell, &crate::redact::redact_known(text));
    }
    fn done(&self, cell: &str, ending: Ending, text: &str) {
        self.0
            .done(cell, ending, &crate::redact::redact_known(text));
    }
}

/// `NO_COLOR` set to anything non-empty turns colour off.
pub fn colour_allowed(no_color: Option<std::ffi::OsString>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// One line per event, with the time the cell has taken so far.
pub struct Plain<W: Fn(&str) + Sync> {
    write: W,
    started: Mutex<Vec<(String, Instant)>>,
}

impl<W: Fn(&str) + Sync> Plain<W> {
    pub fn new(write: W) -> Self {
        Self {
            write,
            started: Mutex::new(Vec::new()),
        }
    }

    fn elapsed(&self, cell: &str) -> Duration {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        match started.iter().find(|(c, _)| c == cell) {
            Some((_, t)) => t.elapsed(),
            None => {
                started.push((cell.to_string(), Instant::now()));
                Duration::ZERO
            }
        }
    }
}

impl<W: Fn(&str) + Sync> Progress for Plain<W> {
    fn phase(&self, cell: &str, phase: Phase) {
        let t = self.elapsed(cell);
        (self.write)(&format!(
            "[{cell}] {} ({:.1} s)",
            phase.label(),
            t.as_secs_f64()
        ));
    }
    fn note(&self, cell: &str, text: &str) {
        (self.write)(&format!("[{cell}] {text}"));
    }
    fn done(&self, cell: &str, _: Ending, text: &str) {
        (self.write)(&format!("[{cell}] {text}"));
    }
}

/// Running cells redrawn in place; a ticker thread keeps their elapsed times moving.
pub struct Live {
    state: Arc<Mutex<LiveState>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

struct LiveState {
    colour: bool,
    active: Vec<Running>,
    /// How many lines the last redraw left below the permanent ones.
    drawn: usize,
}

struct Running {
    cell: String,
    phase: Phase,
    since: Instant,
}

const TICK: Duration = Duration::from_secs(1);

impl Live {
    pub fn start(colour: bool) -> Self {
        let state = Arc::new(Mutex::new(LiveState {
            colour,
            active: Vec::new(),
            drawn: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(TICK);
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    if !s.active.is_empty() {
                        s.redraw(&[]);
                    }
                }
            })
        };
        Self {
            state,
            stop,
            ticker: Some(ticker),
        }
    }

    fn with(&self, f: impl FnOnce(&mut LiveState)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        self.with(|s| {
            s.active.clear();
            s.redraw(&[]);
        });
    }
}

impl LiveState {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Clears what the last redraw drew, prints `lines` for good, then the running cells.
    fn redraw(&mut self, lines: &[String]) {
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        out.push_str("\r\x1b[J");
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        let width = self.active.iter().map(|r| r.cell.len()).max().unwrap_or(0);
        for r in &self.active {
            let phase = self.paint("36", &format!("{:<13}", r.phase.label()));
            out.push_str(&format!(
                "{:<width$}  {phase} {:>6.1} s\n",
                r.cell,
                r.since.elapsed().as_secs_f64()
            ));
        }
        self.drawn = self.active.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

impl Progress for Live {
    fn phase(&self, cell: &str, phase: Phase) {
        self.with(|s| {
            match s.active.iter_mut().find(|r| r.cell == cell) {
                Some(r) => r.phase = phase,
                None => s.active.push(Running {
                    cell: cell.to_string(),
                    phase,
                    since: Instant::now(),
                }),
            }
            s.redraw(&[]);
        });
    }

    fn note(&self, cell: &str, text: &str) {
        self.with(|s| s.redraw(&[format!("[{cell}] {text}")]));
    }

    fn done(&self, cell: &str, ending: Ending, text: &str) {
        self.with(|s| {
            s.active.retain(|r| r.cell != cell);
            let (code, mark) = match ending {
                Ending::Passed => ("32", "✓"),
                Ending::Failed => ("31", "✗"),
                Ending::Error => ("31;1", "!"),
                Ending::NotRun => ("90", "-"),
            };
            let line = s.paint(code, &format!("{mark} [{cell}] {text}"));
            s.redraw(&[line]);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_carry_the_cell_phase_and_elapsed_time() {
        let lines = Mutex::new(Vec::new());
        let p = Plain::new(|l: &str| lines.lock().unwrap().push(l.to_string()));
        p.phase("pgvector.opendal", Phase::Preparing);
        p.phase("pgvector.opendal", Phase::Checking);
        p.done("pgvector.opendal", Ending::Passed, "passed in 1.0 s");
        let lines = lines.into_inner().unwrap();
        assert_eq!(lines[0], "[pgvector.opendal] preparing (0.0 s)");
        assert!(
            lines[1].starts_with("[pgvector.opendal] checking (") && lines[1].ends_with(" s)"),
            "{lines:?}"
        );
        assert_eq!(lines[2], "[pgvector.opendal] passed in 1.0 s");
        assert!(lines.iter().all(|l| !l.contains('\x1b')), "{lines:?}");
    }

    #[test]
    fn no_color_turns_colour_off_only_when_set_and_non_empty() {
        assert!(colour_allowed(None));
        assert!(colour_allowed(Some("".into())));
        assert!(!colour_allowed(Some("1".into())));
    }
}
