//! SIGINT (Ctrl-C). A command that can stop cleanly calls [`cooperate`] and
//! polls [`interrupted`]; then the first Ctrl-C only sets the flag and a
//! second one exits at once. Otherwise Ctrl-C exits at once with 130.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static COOPERATIVE: AtomicBool = AtomicBool::new(false);

/// The exit code of a process stopped by SIGINT (128 + 2).
pub const EXIT_CODE: i32 = 130;

/// Installs the handler. Failing to install it (another handler is set) is
/// not fatal: Ctrl-C then keeps its default effect.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if COOPERATIVE.load(Ordering::SeqCst) && !INTERRUPTED.swap(true, Ordering::SeqCst) {
            return;
        }
        std::process::exit(EXIT_CODE);
    });
}

/// The running command checks [`interrupted`] and stops by itself.
pub fn cooperate() {
    COOPERATIVE.store(true, Ordering::SeqCst);
}

/// True once Ctrl-C was pressed while cooperating.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
