"""Arithmetic on boxes (x0, y0, x1, y1) in photo pixels, shared by detect and pose."""

from __future__ import annotations

from shared.domain.records import Box


def area(box: Box) -> int:
    x0, y0, x1, y1 = box
    return max(0, x1 - x0) * max(0, y1 - y0)


def intersection(a: Box, b: Box) -> int:
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def iou(a: Box, b: Box) -> float:
    union = area(a) + area(b) - intersection(a, b)
    return intersection(a, b) / union if union > 0 else 0.0


def holds(box: Box, x: float, y: float, margin: float = 0.0) -> bool:
    """The point lies in the box grown on every side by `margin` of its width and height."""
    x0, y0, x1, y1 = box
    gx, gy = margin * (x1 - x0), margin * (y1 - y0)
    return x0 - gx <= x <= x1 + gx and y0 - gy <= y <= y1 + gy
