//! A byte budget on the tar metadata read before each member.
//!
//! The tar crate reads PAX records, GNU long names and sparse maps fully into
//! memory with no size limit. [`BudgetReader`] sits under the archive: while
//! armed (during `Entries::next`) it lets through at most the budget, then
//! fails the read and records that the limit, not the stream, was the cause.
//! Member data is read disarmed, without limit.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Shared state between the apply loop and its reader.
#[derive(Clone)]
pub struct Budget(Rc<BudgetState>);

pub struct BudgetState {
    limit: u64,
    /// `Some(left)` while armed.
    left: Cell<Option<u64>>,
    exceeded: Cell<bool>,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget(Rc::new(BudgetState {
            limit,
            left: Cell::new(None),
            exceeded: Cell::new(false),
        }))
    }

    /// Starts counting: at most `limit` more bytes may be read.
    pub fn arm(&self) {
        self.0.left.set(Some(self.0.limit));
    }

    /// Stops counting.
    pub fn disarm(&self) {
        self.0.left.set(None);
    }

    /// Whether a read failed because the budget ran out.
    pub fn exceeded(&self) -> bool {
        self.0.exceeded.get()
    }
}

/// A reader that enforces a [`Budget`].
pub struct BudgetReader<R> {
    inner: R,
    budget: Budget,
}

impl<R> BudgetReader<R> {
    pub fn new(inner: R, budget: Budget) -> Self {
        BudgetReader { inner, budget }
    }
}

impl<R: Read> Read for BudgetReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let state = &self.budget.0;
        match state.left.get() {
            None => self.inner.read(buf),
            Some(0) if !buf.is_empty() => {
                state.exceeded.set(true);
                Err(io::Error::other("tar metadata size limit exceeded"))
            }
            Some(left) => {
                let max = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                let n = self.inner.read(&mut buf[..max])?;
                state.left.set(Some(left - n as u64));
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armed_budget_stops_reads_and_disarmed_reads_freely() {
        let data = [7u8; 100];
        let budget = Budget::new(10);
        let mut r = BudgetReader::new(&data[..], budget.clone());
        let mut buf = [0u8; 64];
        budget.arm();
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        assert!(r.read(&mut buf).is_err());
        assert!(budget.exceeded());
        budget.disarm();
        assert_eq!(r.read(&mut buf).unwrap(), 64);
    }
}
