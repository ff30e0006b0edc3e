"""The edit a person asks for, as data: the clip's range, the regions to hide over time, the audio to silence."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vault.text import Line

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0, le=24 * 3600)]
SPEC_VERSION = 1


class Reason(StrEnum):
    """Why something is withheld: the grounds the regulations name, or another one typed in."""

    OTHERS_PRIVACY = "others_privacy"  # 他人隐私
    TRADE_SECRET = "trade_secret"  # 商业秘密
    STATE_SECRET = "state_secret"  # 国家秘密
    OTHER = "other"


class Method(StrEnum):
    """How a region is hidden."""

    BLUR = "blur"
    PIXELATE = "pixelate"
    BLACK = "black"


class AudioMethod(StrEnum):
    """How an audio range is silenced."""

    MUTE = "mute"
    BLEEP = "bleep"


class _Withheld(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason
    reason_text: Line = ""

    @model_validator(mode="after")
    def _other_is_explained(self) -> _Withheld:
        if self.reason is Reason.OTHER and not self.reason_text.strip():
            raise ValueError("a region withheld for another reason needs the reason typed in (reason_text)")
        return self


class Box(BaseModel):
    """Where a region is at one moment, as fractions of the frame (so one spec fits every rendition)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: Seconds
    x: Fraction
    y: Fraction
    w: Annotated[float, Field(gt=0.0, le=1.0)]
    h: Annotated[float, Field(gt=0.0, le=1.0)]


class Region(_Withheld):
    """A box to hide, following its keyframes with linear interpolation, from the first keyframe to the last."""

    method: Method = Method.BLUR
    keyframes: Annotated[list[Box], Field(min_length=1, max_length=2000)]
    hold_until: Seconds | None = None  # a single-keyframe region stays put until then

    @model_validator(mode="after")
    def _in_time_order(self) -> Region:
        times = [k.t for k in self.keyframes]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("a region's keyframes must be in strictly increasing time order")
        if self.hold_until is not None and self.hold_until < times[-1]:
            raise ValueError("hold_until must not be before the region's last keyframe")
        if len(times) == 1 and self.hold_until is None:
            raise ValueError("a region with one keyframe needs hold_until: how long it stays hidden")
        return self

    @property
    def start(self) -> float:
        """Return when the region starts being hidden."""
        return self.keyframes[0].t

    @property
    def end(self) -> float:
        """Return when the region stops being hidden."""
        return self.hold_until if self.hold_until is not None else self.keyframes[-1].t


class AudioRange(_Withheld):
    """A stretch of sound to mute or bleep."""

    start: Seconds
    end: Seconds
    method: AudioMethod = AudioMethod.MUTE

    @model_validator(mode="after")
    def _ordered(self) -> AudioRange:
        if self.end <= self.start:
            raise ValueError("an audio range must end after it starts")
        return self


class Clip(BaseModel):
    """The part of the original to keep, in seconds from its start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Seconds
    end: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> Clip:
        if self.end <= self.start:
            raise ValueError("a clip must end after it starts")
        return self


class EditSpec(BaseModel):
    """Everything a derivative is made from: one original, an optional clip, regions and audio ranges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clip: Clip | None = None
    regions: Annotated[list[Region], Field(max_length=200)] = []
    audio: Annotated[list[AudioRange], Field(max_length=200)] = []

    @property
    def redacts(self) -> bool:
        """Return True when anything is hidden, not only cut."""
        return bool(self.regions or self.audio)
