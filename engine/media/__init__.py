"""Media I/O: audio in, photos and faces in, MP4 out."""

from engine.media.audio import decode_audio, load_voice, normalize_loudness, resample, save_wav
from engine.media.image import find_face, load_photo, load_portrait
from engine.media.video import MediaInfo, RatePlan, VideoQuality, VideoWriter, plan_rate, probe

__all__ = [
    "decode_audio",
    "load_voice",
    "normalize_loudness",
    "resample",
    "save_wav",
    "find_face",
    "load_photo",
    "load_portrait",
    "MediaInfo",
    "RatePlan",
    "VideoQuality",
    "VideoWriter",
    "plan_rate",
    "probe",
]
