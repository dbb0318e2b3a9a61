"""A job's speed cap: rows and megabytes per second, summed over every collection it copies.

The collections of one job run as separate Celery tasks, possibly on several machines, so the
cap is kept in Redis: a log of the batches the job's runs booked, one sorted set per job. A
batch is booked at the earliest moment from which no one-second window (WINDOW) holds more than
one second of the cap; it waits until then (the engine's `Observer.pace`). Then no 10-second
window can hold more than ten seconds of it either (ten one-second windows), and the source
sees an even load instead of ten seconds' worth in a burst. The booking is one Lua script, so
two runs booking at once cannot both take the same room, and it reads Redis' own clock, so
workers on machines whose clocks differ share one time line.

Batches are counted when they are sent, and each is at most one second's worth of the cap
(`SpeedCap.batch_limits` sizes them). A single batch larger than that (the cap was lowered
while a run held a larger one) is booked when the window is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

WINDOW = 1.0  # seconds: no window this long holds more than this long's worth of the cap
MEGABYTE = 1_000_000
# What the API, the wizard and the CLI accept: anything above is a typo, not a cap.
MAX_ROWS_PER_SECOND = 10_000_000
MAX_MB_PER_SECOND = 100_000


@dataclass(frozen=True)
class SpeedCap:
    """At most `rows_per_second` rows and `mb_per_second` megabytes (10^6 bytes) per second;
    None: no cap of that kind."""

    rows_per_second: int | None = None
    mb_per_second: float | None = None

    def __bool__(self) -> bool:
        return self.rows_per_second is not None or self.mb_per_second is not None

    def describe(self) -> str:
        """ "2,000 rows/s and 5 MB/s", or "no cap"."""
        parts = []
        if self.rows_per_second is not None:
            parts.append(f"{self.rows_per_second:,} rows/s")
        if self.mb_per_second is not None:
            parts.append(f"{self.mb_per_second:g} MB/s")
        return " and ".join(parts) or "no cap"

    def batch_limits(self) -> tuple[int | None, int | None]:
        """(rows, bytes) of one second at this cap: the largest batch the copy may send."""
        rows = self.rows_per_second
        size = int(self.mb_per_second * MEGABYTE) if self.mb_per_second is not None else None
        return rows, (max(1, size) if size is not None else None)


def check(rows_per_second, mb_per_second) -> SpeedCap:
    """A SpeedCap from what a user typed; ValueError with the reason for a bad value."""
    rows = _positive("maxRowsPerSecond", rows_per_second, MAX_ROWS_PER_SECOND, whole=True)
    mb = _positive("maxMegabytesPerSecond", mb_per_second, MAX_MB_PER_SECOND, whole=False)
    return SpeedCap(rows, mb)


def _positive(name: str, value, most: float, *, whole: bool):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if whole and int(value) != value:
        raise ValueError(f"{name} must be a whole number of rows")
    if not value > 0:
        raise ValueError(f"{name} must be greater than 0 (leave it out for no cap)")
    if value > most:
        raise ValueError(f"{name} must be at most {most:,}")
    return int(value) if whole else float(value)


# KEYS[1]: the job's log (sorted set, score = booked time, member "time:rows:bytes:token").
# ARGV: window, rows cap (-1 none), bytes cap (-1 none), rows, bytes, token. Returns the booked
# time minus now, in seconds, as a string (Lua numbers would be truncated to integers).
_BOOK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1e6
local window = tonumber(ARGV[1])
local cap_rows = tonumber(ARGV[2])
local cap_bytes = tonumber(ARGV[3])
local rows = tonumber(ARGV[4])
local size = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - window))
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local times, rows_of, bytes_of = {}, {}, {}
for i = 1, #entries, 2 do
  local r, b = string.match(entries[i], '^[^:]+:(%d+):(%d+):')
  table.insert(times, tonumber(entries[i + 1]))
  table.insert(rows_of, tonumber(r))
  table.insert(bytes_of, tonumber(b))
end
local at = now
if #times > 0 and times[#times] > at then at = times[#times] end
local first = 1
while true do
  while first <= #times and times[first] <= at - window do first = first + 1 end
  if first > #times then break end
  local sum_rows, sum_bytes = 0, 0
  for i = first, #times do
    sum_rows = sum_rows + rows_of[i]
    sum_bytes = sum_bytes + bytes_of[i]
  end
  local fits = (cap_rows < 0 or sum_rows + rows <= cap_rows * window)
    and (cap_bytes < 0 or sum_bytes + size <= cap_bytes * window)
  if fits then break end
  at = times[first] + window
end
redis.call('ZADD', KEYS[1], at, string.format('%.6f:%d:%d:%s', at, rows, size, ARGV[6]))
redis.call('EXPIRE', KEYS[1], math.ceil(at - now + window) + 60)
return tostring(at - now)
"""


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@cache
def _script():
    return _client().register_script(_BOOK)


def book(job_id: str, cap: SpeedCap, rows: int, size: int, token: str) -> float:
    """Book a batch of `rows` rows and `size` bytes for `job_id` under `cap`: the seconds to
    wait before sending it (0 when it may go now). `token` makes the entry unique (the run's
    id and a counter)."""
    if not cap:
        return 0.0
    cap_rows = cap.rows_per_second if cap.rows_per_second is not None else -1
    cap_bytes = cap.mb_per_second * MEGABYTE if cap.mb_per_second is not None else -1
    answer = _script()(
        keys=[f"pace:{job_id}"], args=[WINDOW, cap_rows, cap_bytes, rows, size, token]
    )
    return max(0.0, float(answer))
