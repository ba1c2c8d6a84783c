"""A small ctypes binding of libespeak-ng: synchronous synthesis with word/phoneme events.

Only what the espeak backend needs: initialise once, pick a voice, synthesise a sentence
into 16-bit samples and collect WORD / PHONEME / SENTENCE events with their audio
positions. The library keeps global state, so every call holds one process-wide lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EspeakLib", "Event", "library_path"]

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_EV_WORD, _EV_SENTENCE, _EV_END, _EV_MSG_TERMINATED, _EV_PHONEME = 1, 2, 5, 6, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Event:
    kind: str  # "word" | "phoneme" | "sentence"
    seconds: float
    text_position: int  # 1-based character index into the synthesised text (words)
    length: int
    phoneme: str = ""


_LIB_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
)


def library_path() -> tuple[str, str | None] | None:
    """(library, data dir or None) of the system's espeak-ng library, or None.

    An absolute path whenever one is found: ``dlopen`` of a bare name returns any library of
    that soname already in the process, such as the NeuTTS build phonemizer loads
    (:mod:`engine.tts.neutts_espeak`), whose compiled-in data path does not exist here.
    """
    found = ctypes.util.find_library("espeak-ng")  # on Linux a file name, not a path
    for name in dict.fromkeys(n for n in (found, "libespeak-ng.so.1") if n):
        for folder in _LIB_DIRS:
            if (Path(folder) / name).exists():
                return str(Path(folder) / name), None
    if found:
        return found, None
    try:
        import espeakng_loader

        return str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
    except ImportError:
        return None


class EspeakLib:
    """The process-wide espeak-ng library. Use :meth:`get`."""

    _instance: EspeakLib | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        where = library_path()
        if where is None:
            raise OSError("libespeak-ng not found (apt-get install espeak-ng)")
        lib_path, data = where
        self._lib = ctypes.CDLL(lib_path)
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS,
            200,
            data.encode() if data else None,
            _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT,
        )
        if rate <= 0:
            raise OSError(f"espeak_Initialize failed ({rate})")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[Event] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: ctypes does not
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> EspeakLib:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _on_synth(self, wav: Any, n: int, events: Any) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            ev = events[i]
            seconds = ev.audio_position / 1000.0
            if ev.type == _EV_WORD:
                self._events.append(Event("word", seconds, ev.text_position, ev.length))
            elif ev.type == _EV_PHONEME:
                raw = bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append(Event("phoneme", seconds, ev.text_position, 0, raw))
            elif ev.type == _EV_SENTENCE:
                self._events.append(Event("sentence", seconds, ev.text_position, 0))
            i += 1
        return 0

    def synthesize(
        self, text: str, *, voice: str, rate_wpm: int = 160, pitch: int = 50, pitch_range: int = 50
    ) -> tuple[np.ndarray, list[Event]]:
        """Speak ``text`` (UTF-8) with ``voice``; return int16 samples and events."""
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_RATE, int(rate_wpm), 0)
            self._lib.espeak_SetParameter(_PITCH, int(np.clip(pitch, 0, 99)), 0)
            self._lib.espeak_SetParameter(_RANGE, int(np.clip(pitch_range, 0, 99)), 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data)
            err = self._lib.espeak_Synth(
                buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if err != 0:
                raise OSError(f"espeak_Synth failed ({err})")
            samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            return samples, list(self._events)
