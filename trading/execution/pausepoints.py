"""Named points of a cycle where the fault tests stop a process to kill it at a known moment.

``pause_point(name)`` blocks while ``DESK_TEST_PAUSE_FILE`` exists, when ``DESK_TEST_PAUSE_AT`` names
this point, after appending the process id to ``<file>.reached``; it does nothing unless both
variables are set (they never are outside the tests). The points, in a cycle's order:

* ``before_write_ahead``: an entry order is about to be written, then sent (the fault suite stops the
  database here: an entry whose row cannot be written is never sent);
* ``order_created``: the order row is written (NEW), nothing sent yet;
* ``broker_answered``: the broker has the order and answered, the answer is not stored yet;
* ``after_broker``: the answer is stored, the cycle's positions and trades are not;
* ``in_persist``: inside the cycle's transaction (positions, trades), before its commit.
"""

from __future__ import annotations

import os
import time

POINTS = ("order_created", "broker_answered", "after_broker", "in_persist")


def pause_point(name: str) -> None:
    """Block here while the pause file exists, when the environment names this point."""
    if os.environ.get("DESK_TEST_PAUSE_AT") != name:
        return
    flag = os.environ.get("DESK_TEST_PAUSE_FILE", "")
    if not flag or not os.path.exists(flag):
        return
    with open(flag + ".reached", "a") as reached:
        reached.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + 120
    while os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.05)
