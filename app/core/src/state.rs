//! The task state machine: which transitions are allowed, and a parent task's state derived
//! from its subtasks'.

use kiln_proto::TaskState::{self, *};

/// May a subtask go from `from` to `to`?
pub fn can_transition(from: TaskState, to: TaskState) -> bool {
    matches!(
        (from, to),
        // An agent claims it; it is canceled before it runs; its arch is excluded.
        (Pending, Running) | (Pending, Canceled) | (Pending, Skipped)
        // The build ends; or its agent is lost or hands it back and it is queued again.
        | (Running, Succeeded) | (Running, Failed) | (Running, Canceled) | (Running, Pending)
    )
}

/// A parent's state from its subtasks: running while any runs or waits, failed if any
/// failed, canceled if any was canceled (and none failed), succeeded when all succeeded or
/// were skipped (with at least one build); a submission whose every subtask was skipped
/// failed, since nothing could be built.
pub fn parent_state(subtasks: &[TaskState]) -> TaskState {
    if subtasks.is_empty() {
        return Failed;
    }
    if subtasks.iter().all(|s| *s == Pending) {
        return Pending;
    }
    if subtasks.iter().any(|s| matches!(s, Pending | Running)) {
        return Running;
    }
    if subtasks.contains(&Failed) {
        return Failed;
    }
    if subtasks.contains(&Canceled) {
        return Canceled;
    }
    if subtasks.contains(&Succeeded) {
        Succeeded
    } else {
        Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_transitions() {
        let allowed = [
            (Pending, Running),
            (Pending, Canceled),
            (Pending, Skipped),
            (Running, Succeeded),
            (Running, Failed),
            (Running, Canceled),
            (Running, Pending),
        ];
        for from in TaskState::ALL {
            for to in TaskState::ALL {
                assert_eq!(
                    can_transition(from, to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        // Final states stay final.
        for from in [Succeeded, Failed, Canceled, Skipped] {
            assert!(from.is_final());
            assert!(TaskState::ALL.iter().all(|to| !can_transition(from, *to)));
        }
    }

    #[test]
    fn parent_from_subtasks() {
        assert_eq!(parent_state(&[Pending, Pending]), Pending);
        assert_eq!(parent_state(&[Pending, Running]), Running);
        assert_eq!(parent_state(&[Succeeded, Pending]), Running);
        assert_eq!(parent_state(&[Succeeded, Skipped]), Succeeded);
        assert_eq!(parent_state(&[Succeeded, Failed]), Failed);
        assert_eq!(parent_state(&[Canceled, Succeeded]), Canceled);
        assert_eq!(parent_state(&[Canceled, Failed]), Failed);
        assert_eq!(parent_state(&[Skipped, Skipped]), Failed);
        assert_eq!(parent_state(&[]), Failed);
    }
}
