"""The one error the leaderboard raises: a short message naming the file or input at fault."""

from __future__ import annotations


class LeaderboardError(Exception):
    """A result file or option the leaderboard cannot use; the message is one line the user can act on."""
