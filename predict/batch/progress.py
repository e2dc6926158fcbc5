"""The progress bar while tagging, and the summary at the end.

    >>> print(summary_text({"photos": 10, "tagged": 9, "failed": 1, "skipped": 5,
    ...     "seconds": 2.0, "photos_per_second": 5.0, "db": "tags.sqlite", "crashes": 0,
    ...     "isolated": 0, "interrupted": False, "peak_rss_mb": 80.0}))
    tagged 9 photos, 1 failed, 5 already done (skipped), in 2.0 s: 5.0 photos/s
    results in tags.sqlite (predict export tags.sqlite --format jsonl|csv|parquet)
    driver peak memory 80 MB
"""

import sys

__all__ = ["Progress", "peak_rss_mb", "summary_text"]


class Progress:
    """A tqdm bar counting photos (total unknown: the source is streamed).

    Disabled when ``enabled`` is false.
    """

    def __init__(self, enabled=True):
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(unit="photo", desc="tagging", file=sys.stderr, dynamic_ncols=True,
                             smoothing=0.1)
        self.failed = 0

    def update(self, photos, failed, skipped):
        if self._bar is not None:
            self.failed += failed
            self._bar.set_postfix(failed=self.failed, skipped=skipped, refresh=False)
            self._bar.update(photos)

    def close(self):
        if self._bar is not None:
            self._bar.close()


def peak_rss_mb():
    """This process's peak resident memory in MB (Linux VmHWM), or None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def summary_text(s):
    """The closing lines a person reads after ``predict tag``."""
    head = "interrupted after" if s["interrupted"] else "tagged"
    lines = [f"{head} {s['tagged']} photos, {s['failed']} failed, {s['skipped']} already done "
             f"(skipped), in {s['seconds']:.1f} s: {s['photos_per_second']:.1f} photos/s"]
    if s["crashes"]:
        lines.append(f"{s['crashes']} shards lost to dead workers were retried; "
                     f"{s['isolated']} photos isolated as worker killers")
    lines.append(f"results in {s['db']} (predict export {s['db']} --format jsonl|csv|parquet)")
    if s["interrupted"]:
        lines.append("run the same command again to resume where it stopped")
    if s.get("peak_rss_mb"):
        lines.append(f"driver peak memory {s['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)
