"""Run `distillnas` as a child that stops still at a chosen moment, for kill-and-resume tests.

The parent sets PAUSE_AT (stored-trial counts, comma-separated) and PAUSE_MARKER (a path):
right after an insert leaves the store holding one of those counts, the child writes the
marker and sleeps until it is killed. The parent waits for the marker, not for a window of
row counts it might poll past on a busy machine. Run as `python tests/pausing_child.py ARGS`."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from distillnas.cli import main
from distillnas.store import TrialStore

AT = {int(n) for n in os.environ["PAUSE_AT"].split(",")}
MARKER = Path(os.environ["PAUSE_MARKER"])


def _pausing(insert):  # noqa: ANN001, ANN202
    def wrapped(self, *args, **kwargs):  # noqa: ANN001, ANN202
        insert(self, *args, **kwargs)
        if self.count() in AT and not MARKER.exists():
            staged = MARKER.with_name(MARKER.name + ".tmp")
            staged.write_text(str(self.count()))
            staged.replace(MARKER)  # atomic: the parent never reads a marker created but not yet written
            while True:
                time.sleep(60)  # the trial is stored (autocommit): SIGKILL lands here
    return wrapped


TrialStore.add_trial = _pausing(TrialStore.add_trial)
TrialStore.add_trials = _pausing(TrialStore.add_trials)

if __name__ == "__main__":
    main(sys.argv[1:])
