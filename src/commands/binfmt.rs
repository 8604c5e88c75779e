//! `hoist binfmt [--install]`: shows which QEMU user-emulation interpreters
//! binfmt_misc has registered (and whether hoist can use them inside its
//! sandbox: enabled, with the `F` flag), and with `--install` registers
//! those of Debian's `qemu-user-static` (see `hoist_builder::exec::binfmt`).

use hoist_builder::exec::binfmt::{self, BINFMT_DIR, CONF_DIR};

use crate::failure::Failure;

#[derive(clap::Args, Debug)]
pub struct BinfmtArgs {
    /// Mount binfmt_misc if needed and register the qemu interpreters of
    /// /usr/lib/binfmt.d/qemu-*.conf with the F flag (needs root)
    #[arg(long)]
    pub install: bool,
}

pub fn run(args: &BinfmtArgs) -> Result<(), Failure> {
    let mut text = String::new();
    if args.install {
        let done = binfmt::install().map_err(Failure::other)?;
        if done.is_empty() {
            text.push_str("every qemu interpreter was already registered\n");
        } else {
            text.push_str(&format!("registered: {}\n", done.join(" ")));
        }
    }
    let binfmt::Status { mounted, rules } = binfmt::status().map_err(Failure::other)?;
    if !mounted {
        text.push_str(&format!(
            "binfmt_misc is not mounted on {BINFMT_DIR}: run `hoist binfmt --install`\n"
        ));
    }
    if rules.is_empty() {
        text.push_str(&format!(
            "no qemu interpreters in {CONF_DIR}: run `apt-get install qemu-user-static`\n"
        ));
    }
    for (rule, reg) in rules {
        let state = match reg {
            None => "not registered".to_string(),
            Some(r) if r.usable() => format!("ok ({}, flags {})", r.interpreter, r.flags),
            Some(r) if !r.enabled => "disabled".to_string(),
            Some(r) => format!("registered without the F flag (flags {:?})", r.flags),
        };
        text.push_str(&format!("{:<20} {state}\n", rule.name));
    }
    crate::commands::print_stdout(&text)
}
