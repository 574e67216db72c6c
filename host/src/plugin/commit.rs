//! Contract 0.2's `commit`: within a call that carries several events, a plugin runs
//! the answer to the events it has handled before it reads what the host holds, so
//! that the read sees what those commands changed, as it would if every event had
//! its own call. The app's side of the host is lent to the store for such a call.

use std::any::Any;

use crate::directory::Directory;
use crate::model::Command;

/// The app's side of the host, lent to a plugin's store for one call that carries
/// several events: the reads answer from its directory, and `commit` runs commands
/// with it.
pub(crate) trait Committer: Any + Send {
    /// The directory the reads answer from during the call.
    fn directory(&self) -> &Directory;
    /// Runs `commands` now, in order, as the answer of events the call handled.
    fn run(&mut self, commands: &mut dyn Iterator<Item = Command>);
}

/// A call that carries several events, while it runs.
pub(crate) struct Batch {
    pub(crate) host: Box<dyn Committer>,
    /// Events the call carries.
    events: u32,
    /// Events the commits so far answered.
    handled: u32,
    /// `max_commands`: per event a commit answers.
    max_commands: usize,
}

impl Batch {
    /// A call of `events` events, with `host` lent to it.
    pub(crate) fn new(host: Box<dyn Committer>, events: u32, max_commands: usize) -> Self {
        Self {
            host,
            events,
            handled: 0,
            max_commands,
        }
    }

    /// Events the call's commits answered.
    pub(crate) fn handled(&self) -> u32 {
        self.handled
    }

    /// Checks a `commit` of `count` commands as the answer to the first `handled`
    /// events, and takes it: the caller then runs the commands. `Err`: why the call
    /// must trap.
    pub(crate) fn take(&mut self, handled: u32, count: usize) -> Result<(), String> {
        if handled <= self.handled || handled >= self.events {
            return Err(format!(
                "commit({handled}, …) in a call of {} events whose commits answered {}: \
                 `handled` must be more than the last commit's and less than the events",
                self.events, self.handled
            ));
        }
        let answered = usize::try_from(handled - self.handled).unwrap_or(usize::MAX);
        if count > self.max_commands.saturating_mul(answered) {
            return Err(format!(
                "commit of {count} commands for {answered} events: more than max_commands \
                 ({}) per event",
                self.max_commands
            ));
        }
        self.handled = handled;
        Ok(())
    }
}

/// Why a `commit` outside a call of several events traps.
pub(crate) const NOT_IN_A_BATCH: &str =
    "commit outside a `handle` call of several events (a call of one has nothing to commit)";

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing(Directory);

    impl Committer for Nothing {
        fn directory(&self) -> &Directory {
            &self.0
        }
        fn run(&mut self, _: &mut dyn Iterator<Item = Command>) {}
    }

    fn batch(events: u32) -> Batch {
        Batch::new(Box::new(Nothing(Directory::default())), events, 2)
    }

    #[test]
    fn commits_move_forward_within_the_call() {
        let mut b = batch(4);
        assert_eq!(b.take(1, 2), Ok(()));
        assert_eq!(b.handled(), 1);
        assert_eq!(b.take(3, 4), Ok(()), "two events, two commands each");
        assert_eq!(b.handled(), 3);
    }

    #[test]
    fn a_commit_that_goes_back_repeats_or_answers_every_event_is_refused() {
        let mut b = batch(4);
        assert!(b.take(0, 0).is_err(), "nothing handled yet");
        assert_eq!(b.take(2, 0), Ok(()));
        assert!(b.take(2, 0).is_err(), "the same again");
        assert!(b.take(1, 0).is_err(), "backwards");
        assert!(
            b.take(4, 0).is_err(),
            "the last event's answer is the call's own"
        );
        assert_eq!(b.handled(), 2, "a refused commit takes nothing");
    }

    #[test]
    fn a_commit_of_more_than_max_commands_per_event_is_refused() {
        let mut b = batch(8);
        assert!(b.take(2, 5).is_err(), "2 events may answer 4 commands");
        assert_eq!(b.take(2, 4), Ok(()));
    }
}
