"""OpenCV (``opencv-python-headless``, a declared dependency), or ``None`` where it is missing.

Import ``cv2`` from here: every user checks ``cv2 is None`` and falls back to numpy / torch, so
an install without OpenCV still works, only slower.
"""

from __future__ import annotations

try:
    import cv2
except ImportError:  # pragma: no cover - exercised only on an install without opencv
    cv2 = None

__all__ = ["cv2"]
