//! The one progress bar of the command line (`encrypt`, `decrypt`, `scan` of an image,
//! `backup`, `restore`): bytes, rate and ETA on standard error, drawn only when standard error
//! is a terminal, never with `--quiet` nor when the command prints JSON. Commands hand a
//! [`Bar`] to the libraries as their `zoll_stdx::progress::Progress`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zoll_stdx::progress::Progress;

/// The global `--quiet`, set once by `main`.
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// A byte progress bar, or nothing where none is drawn. It is cleared when dropped, so the
/// command's summary or error line that follows stands alone.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar titled `label`; none with `--quiet`, when `json` output is printed, or when
    /// standard error is not a terminal.
    pub fn new(label: &str, json: bool) -> Bar {
        if json || QUIET.load(Ordering::Relaxed) || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(style);
        bar.set_message(label.to_owned());
        // Drawn from the start, even for work that turns out to have no bytes.
        bar.tick();
        Bar(Some(bar))
    }
}

impl Progress for Bar {
    fn grow(&self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.inc_length(bytes);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.inc(bytes);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
