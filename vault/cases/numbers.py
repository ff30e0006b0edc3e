"""Case numbers (案号): one canonical spelling, so every bracket, width and spacing variant names one case."""

from __future__ import annotations

import re

# The year of a case number sits in 〔〕 (U+3014/U+3015) in the regulations; people type [], （）, (), 【】, ［］.
_YEAR_IN_BRACKETS = re.compile(r"[〔\[［（(【〖｛{]([0-9]{4})[〕\]］）)】〗｝}]")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def canonical_case_number(value: str) -> str:
    """Return the canonical spelling: ASCII digits, no whitespace, the year in 〔〕 (e.g. 阜应急罚字〔2026〕7号)."""
    text = "".join(value.translate(_FULL_WIDTH_DIGITS).split())
    return _YEAR_IN_BRACKETS.sub(lambda m: f"〔{m.group(1)}〕", text)


# The agency's own numbers: the issuing organ's code word, the year in 〔〕, the serial, 号 (阜应急罚字〔2023〕40号).
_AGENCY_FORMAT = re.compile(r"[^〔〕]*[\u4e00-\u9fff][^〔〕]*〔(19|20)[0-9]{2}〕第?[0-9]+号")


def is_agency_format(canonical: str) -> bool:
    """Return whether a canonical case number has the agency's shape: code word, 〔year〕, serial, 号."""
    return _AGENCY_FORMAT.fullmatch(canonical) is not None
