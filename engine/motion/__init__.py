"""Living faces: blinks and slight head motion after lip sync, for every backend.

``plan_motion`` reads the speech once per render (energy, pauses, word timings) and says, per
frame, how closed the eyes are and how the head is posed; ``MotionStage`` applies that plan to
the backend's frames as they stream to the encoder: eyelids slid down over the eyes, the head
(with the lip-synced mouth) moved rigidly, easing to a still background.
"""

from engine.motion.plan import BLINKS_PER_MINUTE, MAX_LEVEL, POSE_FIELDS, MotionPlan, plan_motion
from engine.motion.stage import MotionGeometry, MotionStage

__all__ = [
    "MotionPlan",
    "MotionStage",
    "MotionGeometry",
    "plan_motion",
    "BLINKS_PER_MINUTE",
    "MAX_LEVEL",
    "POSE_FIELDS",
]
