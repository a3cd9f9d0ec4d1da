"""The newest records each log rule matched, per group key: what a log rule's evidence quotes.

A span rule's evidence comes from the spans behind its exemplars (exemplar_spans.py);
a log rule has no span, and its records may be outside any trace, so without this its
notification said nothing of what was logged unless a span rule happened to see the
same trace. Bounded twice: ``MAX_KEYS`` (rule, group key) pairs, the least recently
matched going first, and ``PER_KEY`` records each, every text already cut to
trace_logs.MAX_TEXT. Written by log_fold.py and read at notification time, both on
the engine thread; nothing here is exported, and evidence.py scrubs what it quotes.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

from otelbundle.alerting.log_intake import LogRecordItem
from otelbundle.alerting.trace_logs import LogLine, record_line

MAX_KEYS = 256
PER_KEY = 3  # evidence.MAX_EVIDENCE: no more are ever quoted

RuleIdent = tuple[str, str]
Record = tuple[int, LogLine]  # (trace id or 0, the record as a line)


class ExemplarRecords:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max(1, max_keys)
        self._records: OrderedDict[tuple[RuleIdent, tuple[str, ...]], deque[Record]] = OrderedDict()

    def offer(self, rule: RuleIdent, key: tuple[str, ...], items: Iterable[LogRecordItem]) -> None:
        """The newest matching records of one batch (oldest first; at most PER_KEY are read)."""
        entry = (rule, key)
        records = self._records.get(entry)
        if records is None:
            if len(self._records) >= self.max_keys:
                self._records.popitem(last=False)
            records = self._records[entry] = deque(maxlen=PER_KEY)
        else:
            self._records.move_to_end(entry)
        for item in items:
            records.append((item.log_record.trace_id or 0, record_line(item)))

    def get(self, rule: RuleIdent, key: tuple[str, ...]) -> list[Record]:
        """The records kept for ``key`` of ``rule``, oldest first."""
        return list(self._records.get((rule, key), ()))

    def forget(self, rule: RuleIdent) -> None:
        """A removed or restarted rule's records are not its successor's evidence."""
        for entry in [entry for entry in self._records if entry[0] == rule]:
            del self._records[entry]

    def rename(self, old: RuleIdent, new: RuleIdent) -> None:
        """A rule moved to another group by a reload: its records are still its evidence."""
        for entry in [entry for entry in self._records if entry[0] == old]:
            self._records[(new, entry[1])] = self._records.pop(entry)

    def __len__(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        self._records.clear()
