"""Tasks: what a family's models learn and how they are measured, the one interface every training loop takes."""

from .base import Task

__all__ = ["Task"]
